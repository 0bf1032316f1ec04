//! The shared runtime: two engines in one process draw on one memory pool and one scratch
//! directory; a crashed process's scratch files are removed by the next one.

use std::sync::Arc;
use std::time::{Duration, Instant};
use strata::runtime::{Runtime, RuntimeConfig, disk::SCRATCH};
use strata_sql::Engine;
use strata_sql::exec::ExecOptions;

const BUDGET: u64 = 8 << 20;

fn rows(batches: &[arrow::record_batch::RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| arrow::util::display::array_value_to_string(c, r).unwrap())
                .collect();
            out.push(cells.join("|"));
        }
    }
    out
}

fn sql_engine(tables: &std::path::Path, exec: ExecOptions) -> Engine {
    let mut e = Engine::new();
    e.exec = exec;
    e.register("lineitem", tables.join("lineitem").to_str().unwrap())
        .unwrap();
    e
}

const QUERY: &str = "SELECT l_orderkey, l_partkey, sum(l_quantity) AS q, count(*) \
    FROM lineitem GROUP BY l_orderkey, l_partkey ORDER BY q DESC, l_orderkey, l_partkey";

fn dataflow_job(ctx: &strata::Context) -> Vec<(u64, u64)> {
    let data: Vec<(u64, u64)> = (0..2_000_000u64)
        .map(|i| (i * 7919 % 1_500_000, i))
        .collect();
    let mut out = ctx
        .parallelize_with(data, 8)
        .reduce_by_key(|a, b| a.wrapping_add(b))
        .collect()
        .unwrap();
    out.sort();
    out
}

#[test]
fn two_engines_share_one_budget_spill_and_leave_no_scratch() {
    let tables = tempfile::tempdir().unwrap();
    strata_sql::tpch::generate_all(0.05, strata_sql::tpch::Format::Parquet, tables.path()).unwrap();
    // Answers with room to spare, each engine on its own.
    let want_sql = rows(
        &sql_engine(tables.path(), ExecOptions::default())
            .sql(QUERY)
            .unwrap(),
    );
    let want_df = dataflow_job(&strata::Context::local().unwrap());

    let scratch = tempfile::tempdir().unwrap();
    let rt = Runtime::new(&RuntimeConfig {
        memory: BUDGET,
        threads: 2,
        scratch_base: scratch.path().to_path_buf(),
    })
    .unwrap();
    let ctx = strata::Context::with_runtime(Default::default(), rt.clone()).unwrap();
    let engine = sql_engine(
        tables.path(),
        ExecOptions {
            threads: 2,
            runtime: rt.clone(),
            cancel: Default::default(),
        },
    );
    // Both at once, twice over, on the one pool.
    let (sql_out, df_out) = std::thread::scope(|s| {
        let sql = s.spawn(|| {
            (0..2)
                .map(|_| engine.sql_with_metrics(QUERY).unwrap())
                .collect::<Vec<_>>()
        });
        let df = s.spawn(|| (0..2).map(|_| dataflow_job(&ctx)).collect::<Vec<_>>());
        (sql.join().unwrap(), df.join().unwrap())
    });
    for (got, m) in &sql_out {
        assert!(
            rows(got) == want_sql,
            "SQL answer changed under the shared budget"
        );
        assert!(
            m.total_spilled() > BUDGET,
            "SQL spilled only {}",
            m.total_spilled()
        );
    }
    for got in &df_out {
        assert!(
            *got == want_df,
            "dataflow answer changed under the shared budget"
        );
    }
    assert!(
        ctx.metrics().spilled_bytes > 0,
        "the dataflow job did not spill"
    );
    let m = rt.memory().stats();
    assert!(
        m.peak <= BUDGET,
        "pool peaked at {} > {BUDGET}: {m:?}",
        m.peak
    );
    assert!(m.denied > 0, "{m:?}");
    assert_eq!(m.used, 0, "reservations not returned: {m:?}");
    assert_eq!(rt.disk().usage(), (0, 0), "scratch files left behind");
    drop((engine, ctx));
    drop(rt);
    let left: Vec<_> = std::fs::read_dir(scratch.path().join(SCRATCH))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "scratch directories left: {left:?}");
}

#[test]
fn a_killed_process_scratch_is_removed_at_the_next_start() {
    let tables = tempfile::tempdir().unwrap();
    strata_sql::tpch::generate_all(0.1, strata_sql::tpch::Format::Parquet, tables.path()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    // A `strata sql` that spills heavily, killed once its spill files exist.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["sql", "--memory", "1m", "--threads", "1", "--local-dir"])
        .arg(scratch.path())
        .arg("--table")
        .arg(format!(
            "lineitem={}",
            tables.path().join("lineitem").display()
        ))
        .arg("SELECT * FROM lineitem ORDER BY l_comment")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let root = scratch.path().join(SCRATCH);
    let spilled = |dir: &std::path::Path| -> usize {
        walk(dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "arrow"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while spilled(&root) == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "strata sql ended before it spilled"
        );
        assert!(Instant::now() < deadline, "no spill file after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(spilled(&root) > 0);
    let rt = Runtime::new(&RuntimeConfig {
        memory: BUDGET,
        threads: 1,
        scratch_base: scratch.path().to_path_buf(),
    })
    .unwrap();
    assert_eq!(rt.disk().swept(), before);
    assert!(!before[0].exists());
    assert_eq!(spilled(&root), 0);
    let _: Arc<Runtime> = rt;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

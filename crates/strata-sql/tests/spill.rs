//! Spilling: aggregation, join and sort whose state is several times the memory budget
//! finish with exactly the answer of an unlimited run, and really wrote spill files.

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use std::sync::Arc;
use strata_sql::Engine;

const ROWS: i64 = 400_000;
const BUDGET: usize = 2 << 20;

/// `t(k, g, v, s)`: k unique, g in 0..100k, v small, s a 12-byte string; 4 Parquet files.
fn table(dir: &std::path::Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("g", DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
        Field::new("s", DataType::Utf8, false),
    ]));
    std::fs::create_dir_all(dir.join("t")).unwrap();
    let per = ROWS / 4;
    for f in 0..4 {
        let file = std::fs::File::create(dir.join(format!("t/part-{f}.parquet"))).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).unwrap();
        let ks: Vec<i64> = (f * per..(f + 1) * per).collect();
        // A scrambled order, so sorting has work to do.
        let ks: Vec<i64> = ks.iter().map(|k| (k * 7919) % ROWS).collect();
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ks.clone())),
                Arc::new(Int64Array::from(
                    ks.iter().map(|k| (k * 31) % 100_000).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    ks.iter()
                        .map(|k| (k % 13 != 0).then_some(k % 1000))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(
                    ks.iter()
                        .map(|k| format!("s{:011}", (k * 104_729) % ROWS))
                        .collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }
}

mod common;
use common::rows;

fn engines(dir: &std::path::Path, spill: &std::path::Path) -> (Engine, Engine) {
    let mut free = Engine::new();
    free.register("t", dir.join("t").to_str().unwrap()).unwrap();
    let mut tight = Engine::new();
    tight
        .register("t", dir.join("t").to_str().unwrap())
        .unwrap();
    tight.exec =
        strata_sql::exec::ExecOptions::sized(Some(BUDGET as u64), None, Some(spill.to_path_buf()))
            .unwrap();
    (free, tight)
}

/// Runs `q` both ways: same rows (in order when `ordered`), and at least 5x the budget
/// went through spill files under the tight budget.
fn check(free: &Engine, tight: &Engine, q: &str, ordered: bool) {
    let want = free.sql(q).unwrap();
    let (got, m) = tight.sql_with_metrics(q).unwrap();
    let (mut want, mut got) = (rows(&want), rows(&got));
    assert!(!want.is_empty(), "{q}: no rows");
    if !ordered {
        want.sort();
        got.sort();
    }
    assert_eq!(want.len(), got.len(), "{q}: row count with spilling");
    assert!(want == got, "{q}: different rows with spilling");
    let spilled = m.total_spilled() as usize;
    assert!(
        spilled >= 5 * BUDGET,
        "{q}: spilled {spilled} bytes, expected at least 5x the {BUDGET}-byte budget"
    );
}

#[test]
fn aggregation_join_and_sort_spill_past_five_times_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    table(dir.path());
    let spill = tempfile::tempdir().unwrap();
    let (free, tight) = engines(dir.path(), spill.path());
    // 400k groups of string keys: the hash table is far over 10 MiB.
    check(
        &free,
        &tight,
        "SELECT s, count(*), sum(v), min(k), avg(v) FROM t GROUP BY s",
        false,
    );
    // COUNT(DISTINCT) buckets raw rows by group key.
    check(
        &free,
        &tight,
        "SELECT g, count(DISTINCT s), count(DISTINCT v), count(*) FROM t GROUP BY g",
        false,
    );
    // So do the holistic aggregates (each group's values are collected).
    check(
        &free,
        &tight,
        "SELECT g, median(v), percentile_disc(0.9) WITHIN GROUP (ORDER BY s DESC), \
         mode(v), string_agg(s, ',' ORDER BY s), array_agg(k ORDER BY k) FROM t GROUP BY g",
        false,
    );
    // A self-join: both sides are all 400k rows, so the build side is, whichever the
    // join order picks.
    check(
        &free,
        &tight,
        "SELECT a.k, a.s, b.v FROM t a JOIN t b ON a.k = b.g",
        false,
    );
    check(
        &free,
        &tight,
        "SELECT a.s, b.k FROM t a LEFT JOIN t b ON a.s = b.s AND b.v > 500",
        false,
    );
    check(
        &free,
        &tight,
        "SELECT a.k, b.k FROM t a FULL JOIN t b ON a.k = b.g + 300000",
        false,
    );
    // An external merge sort, then the order itself is compared.
    check(
        &free,
        &tight,
        "SELECT s, k, v FROM t ORDER BY s DESC, k",
        true,
    );
    check(
        &free,
        &tight,
        "SELECT s, k, g FROM t UNION SELECT s, k, g FROM t WHERE k < 1000",
        false,
    );
    // Spill files are removed when each query ends.
    let rt = &tight.exec.runtime;
    assert_eq!(rt.disk().usage(), (0, 0), "spill files left behind");
    assert!(rt.scratch().starts_with(spill.path()));
    // The pool never handed out more than the budget, and every reservation was returned.
    let m = rt.memory().stats();
    assert!(m.peak <= BUDGET as u64, "{m:?}");
    assert_eq!(m.used, 0, "{m:?}");
}

#[test]
fn explain_analyze_reports_rows_time_and_spill_per_operator() {
    let dir = tempfile::tempdir().unwrap();
    table(dir.path());
    let spill = tempfile::tempdir().unwrap();
    let (_, tight) = engines(dir.path(), spill.path());
    let out = match tight
        .execute("EXPLAIN ANALYZE SELECT s, count(*) FROM t WHERE v > 10 GROUP BY s")
        .unwrap()
    {
        strata_sql::Output::Text(t) => t,
        _ => panic!("EXPLAIN ANALYZE gave no text"),
    };
    let agg = out.lines().find(|l| l.contains("Aggregate")).unwrap();
    assert!(agg.contains("spilled="), "{out}");
    let scan = out.lines().find(|l| l.contains("Scan t")).unwrap();
    let n: u64 = scan
        .split("rows=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    // v > 10: NULL for k % 13 == 0, else k % 1000 > 10.
    let want = (0..ROWS).filter(|k| k % 13 != 0 && k % 1000 > 10).count() as u64;
    assert_eq!(n, want, "{out}");
    assert!(out.contains("self=") && out.contains("total="), "{out}");
}

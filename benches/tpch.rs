//! TPC-H hot runs: each query Strata supports, run `--runs` times over Parquet tables in
//! DIR (from `strata gen tpch`); prints the fastest run per query in seconds.
//!
//! `cargo bench --bench tpch -- DIR [--runs 3]` (or run the built binary directly).

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let dir = args
        .first()
        .cloned()
        .unwrap_or_else(|| "/tmp/tpch-sf1".into());
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let mut engine = strata_sql::Engine::new();
    for t in strata_sql::tpch::TABLES {
        engine
            .register(t, &format!("{dir}/{t}"))
            .expect("register table");
    }
    let queries = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/strata-sql/tests/tpch/queries"
    );
    for q in 1..=22 {
        let sql = std::fs::read_to_string(format!("{queries}/q{q}.sql")).unwrap();
        let mut best = f64::INFINITY;
        let mut rows = 0;
        for _ in 0..runs {
            let start = Instant::now();
            match engine.sql(&sql) {
                Ok(b) => rows = b.iter().map(|b| b.num_rows()).sum(),
                Err(e) => {
                    println!("q{q}\tunsupported\t{e}");
                    best = f64::NAN;
                    break;
                }
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        if !best.is_nan() {
            println!("q{q}\t{best:.4}\t{rows} rows");
        }
    }
}

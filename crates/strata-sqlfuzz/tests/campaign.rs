//! The conformance campaign CI runs: a fixed seed and budget against the PostgreSQL every
//! test machine runs, plus the metamorphic oracles. Any wrong answer fails the test with the
//! shrunk query and its tables. Longer runs: `strata sql-fuzz --queries 20000 --seed N`.

use std::time::Duration;

#[test]
fn no_wrong_answers_against_postgres_and_metamorphic_oracles() {
    let campaign = strata_sqlfuzz::Campaign {
        seed: 20261130,
        queries: 600,
        time_limit: Duration::from_secs(240),
        queries_per_dataset: 50,
        postgres: Some(strata_sqlfuzz::pg::Pg::default_for(1)),
    };
    let report = strata_sqlfuzz::run(&campaign).unwrap();
    println!("{report}");
    assert!(report.queries >= 100, "too few queries ran: {report}");
    assert!(
        report.agreed * 2 > report.queries,
        "fewer than half the queries agreed with PostgreSQL: {report}"
    );
    assert!(report.findings.is_empty(), "{report}");
}

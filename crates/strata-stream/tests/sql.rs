//! Streaming SQL against the DataStream versions of the same Nexmark queries (which
//! `tests/nexmark.rs` checks against batch answers): Nexmark's Flink SQL text for q5 (HOP,
//! subqueries, a join), q8 (two TUMBLE tables joined) and q11 (SESSION, in the window-TVF
//! form), and q2 (no window: micro-batches), at parallelism 1 and 2.

use std::path::Path;
use std::time::Duration;

use strata_stream::nexmark::{self, Event, Output};
use strata_stream::sql::{TableSpec, build};
use strata_stream::{LinesSource, StreamConfig, StreamEnv, WatermarkStrategy};

fn rows(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with('_') {
            continue;
        }
        out.extend(
            std::fs::read_to_string(&p)
                .unwrap()
                .lines()
                .skip(1)
                .map(str::to_string),
        );
    }
    out.sort();
    out
}

fn env(p: usize) -> StreamEnv {
    StreamEnv::new(StreamConfig {
        parallelism: p,
        ..Default::default()
    })
}

#[test]
fn nexmark_flink_sql_gives_the_datastream_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let input_s = input.to_string_lossy().to_string();
    nexmark::write_events(&input_s, &Default::default(), 60_000, 2, 0).unwrap();
    let tables: Vec<TableSpec> = ["bid", "person", "auction"]
        .iter()
        .map(|t| TableSpec::parse(&format!("{t}={input_s}#type={t}")).unwrap())
        .collect();
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql");
    let queries = [
        (
            "q2",
            "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0".to_string(),
        ),
        ("q5", std::fs::read_to_string(here.join("q5.sql")).unwrap()),
        ("q8", std::fs::read_to_string(here.join("q8.sql")).unwrap()),
        (
            "q11",
            std::fs::read_to_string(here.join("q11.sql")).unwrap(),
        ),
    ];
    for (q, sql) in queries {
        let want_dir = tmp.path().join(format!("ds-{q}"));
        let e = env(2);
        let events = e.source(
            LinesSource::new(input_s.clone(), Default::default(), |l| {
                Event::parse(l)
                    .map(Some)
                    .map_err(strata_stream::StreamError::Invalid)
            }),
            WatermarkStrategy::bounded(Duration::from_secs(4), |e: &Event| e.ts()),
        );
        nexmark::build_query(
            q,
            &events,
            &Output::Files(want_dir.to_string_lossy().to_string()),
        )
        .unwrap();
        e.execute().unwrap();
        let want = rows(&want_dir);
        assert!(!want.is_empty(), "{q}");
        for p in [1, 2] {
            let out = tmp.path().join(format!("sql-{q}-{p}"));
            let e = env(p);
            let header = build(
                &e,
                sql.trim().trim_end_matches(';'),
                &tables,
                Duration::from_secs(4),
                &Output::Files(out.to_string_lossy().to_string()),
            )
            .unwrap();
            let want_header = match q {
                "q2" => "auction,price",
                "q5" => "auction,num",
                "q8" => "id,name,starttime",
                _ => "bidder,bid_count,starttime,endtime",
            };
            assert_eq!(header, want_header, "{q}");
            e.execute().unwrap();
            assert_eq!(rows(&out), want, "{q} at parallelism {p}");
        }
    }
}

#[test]
fn streaming_sql_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let input_s = input.to_string_lossy().to_string();
    nexmark::write_events(&input_s, &Default::default(), 2_000, 1, 0).unwrap();
    let bid = vec![TableSpec::parse(&format!("bid={input_s}#type=bid")).unwrap()];
    let out = Output::Files(tmp.path().join("o").to_string_lossy().to_string());
    let err = |sql: &str, t: &[TableSpec]| {
        build(&env(1), sql, t, Duration::from_secs(1), &out)
            .unwrap_err()
            .to_string()
    };
    assert!(err("SELECT nope FROM bid", &bid).contains("nope"));
    assert!(err(
        "SELECT count(*) FROM TABLE(TUMBLE(TABLE ask, DESCRIPTOR(dateTime), INTERVAL '1' SECOND))",
        &bid
    )
    .contains("--table ask"));
    assert!(err(
        "SELECT count(*) FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(whenever), INTERVAL '1' SECOND))",
        &bid
    )
    .contains("no time column whenever"));
    let missing = vec![TableSpec::parse(&format!("bid={input_s}#type=nothing")).unwrap()];
    assert!(err("SELECT * FROM bid", &missing).contains("no JSON rows"));
}

//! Parquet pruning: row groups and data pages whose min/max rule out a filter are not
//! read (EXPLAIN ANALYZE's `read=` counts decoded rows), and answers do not change.

use arrow::array::Int64Array;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;
use strata_sql::{Engine, Output};

/// 100k rows, k = 0..100k sorted, in row groups of 20k rows and pages of 1k rows.
fn sorted_table(dir: &std::path::Path) -> std::path::PathBuf {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let path = dir.join("sorted.parquet");
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(20_000))
        .set_data_page_row_count_limit(1_000)
        .set_write_batch_size(1_000)
        .build();
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
    for start in (0..100_000i64).step_by(10_000) {
        let k: Vec<i64> = (start..start + 10_000).collect();
        let v: Vec<i64> = k.iter().map(|k| k % 7).collect();
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(k)), Arc::new(Int64Array::from(v))],
        )
        .unwrap();
        w.write(&b).unwrap();
    }
    w.close().unwrap();
    path
}

fn analyze(e: &Engine, q: &str) -> String {
    match e.execute(&format!("EXPLAIN ANALYZE {q}")).unwrap() {
        Output::Text(t) => t,
        _ => panic!("EXPLAIN ANALYZE gave no text"),
    }
}

fn read(plan: &str) -> u64 {
    plan.split("read=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn row_groups_and_pages_outside_a_range_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = sorted_table(dir.path());
    let mut e = Engine::new();
    e.register("t", path.to_str().unwrap()).unwrap();
    let q = "SELECT count(*), sum(v) FROM t WHERE k >= 51000 AND k < 52500";
    let got = e.sql(q).unwrap();
    let want: i64 = (51_000..52_500i64).map(|k| k % 7).sum();
    let text = arrow::util::pretty::pretty_format_batches(&got)
        .unwrap()
        .to_string();
    assert!(
        text.contains("1500") && text.contains(&want.to_string()),
        "{text}"
    );
    // One row group of five survives, and within it two or three pages of twenty.
    let plan = analyze(&e, q);
    let n = read(&plan);
    assert!((1_500..=3_000).contains(&n), "read {n} rows:\n{plan}");
    // An equality picks one page; a filter on an unsorted column reads everything.
    let n = read(&analyze(&e, "SELECT v FROM t WHERE k = 77777"));
    assert!(n <= 1_000, "read {n} rows for one key");
    let n = read(&analyze(&e, "SELECT k FROM t WHERE v = 3"));
    assert_eq!(n, 100_000);
}

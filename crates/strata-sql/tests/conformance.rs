//! Regressions that need files of their own (the `.slt` files hold the rest): `SELECT *`
//! on every format, CSV typing past the inference sample, empty files, deep expressions,
//! and predicates pushed below `JOIN ... ON`.

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use std::path::Path;
use std::sync::Arc;
use strata_sql::{Engine, Output, SqlError};

mod common;
use common::rows;

fn write_all_formats(dir: &Path) {
    std::fs::write(dir.join("t.csv"), "a,b,c\n1,1,x\n2,2,y\n3,2,z\n").unwrap();
    std::fs::write(
        dir.join("t.jsonl"),
        "{\"a\":1,\"b\":1,\"c\":\"x\"}\n{\"a\":2,\"b\":2,\"c\":\"y\"}\n{\"a\":3,\"b\":2,\"c\":\"z\"}\n",
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Int64, true),
        Field::new("c", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(Int64Array::from(vec![1, 2, 2])),
            Arc::new(StringArray::from(vec!["x", "y", "z"])),
        ],
    )
    .unwrap();
    let f = std::fs::File::create(dir.join("t.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn select_star_returns_every_column_on_every_format() {
    let d = tempfile::tempdir().unwrap();
    write_all_formats(d.path());
    let e = Engine::new();
    for ext in ["csv", "jsonl", "parquet"] {
        let t = d.path().join(format!("t.{ext}"));
        let t = t.display();
        let all = e.sql(&format!("SELECT * FROM '{t}' ORDER BY a")).unwrap();
        assert_eq!(all[0].num_columns(), 3, "{ext}");
        assert_eq!(rows(&all), ["1|1|x", "2|2|y", "3|2|z"], "{ext}");
        let some = e
            .sql(&format!("SELECT * FROM '{t}' WHERE b = 2 ORDER BY a"))
            .unwrap();
        assert_eq!(rows(&some), ["2|2|y", "3|2|z"], "{ext}");
        let twice = e
            .sql(&format!("SELECT *, b FROM '{t}' WHERE a = 1"))
            .unwrap();
        assert_eq!(rows(&twice), ["1|1|x|1"], "{ext}");
        let named = e
            .sql(&format!("SELECT t.* FROM '{t}' AS t WHERE c = 'z'"))
            .unwrap();
        assert_eq!(rows(&named), ["3|2|z"], "{ext}");
    }
}

#[test]
fn a_csv_column_empty_at_first_keeps_its_later_values() {
    let d = tempfile::tempdir().unwrap();
    let mut text = String::from("id,late\n");
    for i in 0..30_000 {
        text.push_str(&format!("{i},\n"));
    }
    text.push_str("30000,found\n");
    std::fs::write(d.path().join("late.csv"), text).unwrap();
    let e = Engine::new();
    let p = d.path().join("late.csv");
    let b = e
        .sql(&format!(
            "SELECT count(late), max(late), count(*) FROM '{}'",
            p.display()
        ))
        .unwrap();
    assert_eq!(rows(&b), ["1|found|30001"]);
}

#[test]
fn empty_files_are_clear_errors_and_header_only_files_are_empty_tables() {
    let d = tempfile::tempdir().unwrap();
    let e = Engine::new();
    for name in ["empty.csv", "empty.jsonl"] {
        let p = d.path().join(name);
        std::fs::write(&p, "").unwrap();
        let err = e
            .sql(&format!("SELECT * FROM '{}'", p.display()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no columns"), "{name}: {err}");
    }
    let p = d.path().join("header.csv");
    std::fs::write(&p, "a,b\n").unwrap();
    let b = e
        .sql(&format!("SELECT count(*), count(a) FROM '{}'", p.display()))
        .unwrap();
    assert_eq!(rows(&b), ["0|0"]);
}

#[test]
fn deep_expressions_run_or_fail_with_an_error_never_abort() {
    let d = tempfile::tempdir().unwrap();
    write_all_formats(d.path());
    let t = d.path().join("t.csv");
    let t = t.display();
    let e = Engine::new();
    // 8,000 ORs (about 100 KB of SQL) answer like the IN list they spell.
    let ors: Vec<String> = (0..8_000).map(|i| format!("a = {}", i * 2 + 1)).collect();
    let b = e
        .sql(&format!(
            "SELECT count(*) FROM '{t}' WHERE {}",
            ors.join(" OR ")
        ))
        .unwrap();
    assert_eq!(rows(&b), ["2"]);
    // A chain that cannot be balanced, just inside the documented depth, evaluates on the
    // query threads (their stacks grow as needed).
    let mut e2 = Engine::new();
    e2.exec.threads = 2;
    let plus = vec!["a"; strata_sql::bind::MAX_EXPR_DEPTH - 10].join(" + ");
    let b = e2
        .sql(&format!("SELECT {plus} FROM '{t}' ORDER BY 1"))
        .unwrap();
    let n = (strata_sql::bind::MAX_EXPR_DEPTH - 10) as i64;
    assert_eq!(
        rows(&b),
        [n.to_string(), (2 * n).to_string(), (3 * n).to_string()]
    );
    // A chain that cannot be balanced, past the documented depth: an error.
    let plus = vec!["a"; strata_sql::bind::MAX_EXPR_DEPTH + 10].join(" + ");
    let err = e.sql(&format!("SELECT {plus} FROM '{t}'")).unwrap_err();
    assert!(err.to_string().contains("nested more than"), "{err}");
    // Parentheses past the parser's limit: a syntax error.
    let parens = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
    assert!(matches!(e.sql(&parens), Err(SqlError::Syntax(_))));
    // Past the statement size limit: an error naming it.
    let huge = format!(
        "SELECT count(*) FROM '{t}' WHERE {}",
        vec!["a = 1"; 200_000].join(" OR ")
    );
    let err = e.sql(&huge).unwrap_err();
    assert!(err.to_string().contains("the limit is"), "{err}");
}

#[test]
fn where_conditions_are_pushed_below_join_on() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.csv"), "id,x\n1,10\n2,20\n3,30\n").unwrap();
    std::fs::write(d.path().join("b.csv"), "id,y\n1,100\n2,200\n").unwrap();
    let (a, b) = (d.path().join("a.csv"), d.path().join("b.csv"));
    let (a, b) = (a.display(), b.display());
    let e = Engine::new();
    let q = format!(
        "SELECT a.x, b.y FROM '{a}' a JOIN '{b}' b ON a.id = b.id WHERE b.y = 200 AND a.x > 1"
    );
    let Output::Text(plan) = e.execute(&format!("EXPLAIN {q}")).unwrap() else {
        panic!("EXPLAIN gives text");
    };
    let logical = plan.split("Physical").next().unwrap();
    assert!(!logical.contains("Filter"), "{logical}");
    assert!(logical.contains("filters: (#1 = 200)"), "{logical}");
    assert!(logical.contains("filters: (#1 > 1)"), "{logical}");
    assert_eq!(rows(&e.sql(&q).unwrap()), ["20|200"]);
    // Not below the NULL-supplying side of an outer join: the answer keeps its NULL rows.
    let left =
        format!("SELECT a.id, b.y FROM '{a}' a LEFT JOIN '{b}' b ON a.id = b.id WHERE b.y IS NULL");
    assert_eq!(rows(&e.sql(&left).unwrap()), ["3|"]);
    // Past a condition across both sides (which stays above the join), a single-table
    // condition written after it still reaches its scan (TPC-DS q72's filters stayed above
    // ten joins).
    let q = format!(
        "SELECT a.x FROM '{a}' a JOIN '{b}' b ON a.id = b.id \
         WHERE a.x < b.y AND b.y = 200 AND a.x > 1"
    );
    let Output::Text(plan) = e.execute(&format!("EXPLAIN {q}")).unwrap() else {
        panic!("EXPLAIN gives text");
    };
    let logical = plan.split("Physical").next().unwrap();
    assert!(logical.contains("filters: (#1 = 200)"), "{logical}");
    assert!(logical.contains("filters: (#1 > 1)"), "{logical}");
    assert_eq!(rows(&e.sql(&q).unwrap()), ["20"]);
}

#[test]
fn copy_to_writes_each_format_and_reads_back_the_same_rows() {
    let d = tempfile::tempdir().unwrap();
    write_all_formats(d.path());
    let mut e = Engine::new();
    e.register("t", d.path().join("t.parquet").to_str().unwrap())
        .unwrap();
    for (name, opts) in [
        ("o.parquet", ""),
        ("o.csv", ""),
        ("o.json", ""),
        ("o-data", "(FORMAT parquet)"),
        ("o.txt", "(FORMAT csv, DELIMITER '|', HEADER true)"),
    ] {
        let out = d.path().join(name);
        let out = out.display();
        match e.execute(&format!(
            "COPY (SELECT a, c FROM t WHERE b = 2) TO '{out}' {opts}"
        )) {
            Ok(Output::Text(said)) => assert!(said.starts_with("2 rows"), "{said}"),
            Ok(_) => panic!("COPY returned rows"),
            Err(err) => panic!("{name}: {err}"),
        }
        match name {
            "o.txt" => {
                let text = std::fs::read_to_string(d.path().join(name)).unwrap();
                assert_eq!(text, "a|c\n2|y\n3|z\n");
            }
            // No extension to read it back by: the FORMAT option made it Parquet.
            "o-data" => assert!(
                std::fs::read(d.path().join(name))
                    .unwrap()
                    .starts_with(b"PAR1")
            ),
            _ => {
                let back = e.sql(&format!("SELECT * FROM '{out}' ORDER BY a")).unwrap();
                assert_eq!(rows(&back), ["2|y", "3|z"], "{name}");
            }
        }
    }
    // A whole table, some of its columns; no rows still writes the header.
    let out = d.path().join("cols.csv");
    e.execute(&format!("COPY t (c, a) TO '{}'", out.display()))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "c,a\nx,1\ny,2\nz,3\n"
    );
    let out = d.path().join("none.csv");
    e.execute(&format!(
        "COPY (SELECT * FROM t WHERE a > 9) TO '{}'",
        out.display()
    ))
    .unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "a,b,c\n");
    // Unknown formats and options are clear errors; nothing is written.
    let bad = d.path().join("x");
    let err = match e.execute(&format!("COPY t TO '{}'", bad.display())) {
        Err(err) => err.to_string(),
        Ok(_) => panic!("no format"),
    };
    assert!(err.contains("FORMAT parquet"), "{err}");
    let err = match e.execute(&format!("COPY t TO '{}' (FORMAT xml)", bad.display())) {
        Err(err) => err.to_string(),
        Ok(_) => panic!("xml"),
    };
    assert!(err.contains("xml"), "{err}");
    assert!(!bad.exists());
}

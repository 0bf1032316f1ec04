//! Every error a user can cause says what was wrong and where.

use strata_sql::{Engine, SqlError};

fn engine(dir: &std::path::Path) -> Engine {
    std::fs::write(
        dir.join("people.csv"),
        "id,name,age,city\n1,ann,31,Oslo\n2,bob,45,Rome\n3,cy,,Oslo\n",
    )
    .unwrap();
    let mut e = Engine::new();
    e.register("people", dir.join("people.csv").to_str().unwrap())
        .unwrap();
    e
}

fn err(e: &Engine, q: &str) -> String {
    match e.sql(q) {
        Ok(_) => panic!("{q} should fail"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn syntax_errors_show_line_and_column() {
    let d = tempfile::tempdir().unwrap();
    let e = engine(d.path());
    let m = err(&e, "SELECT name\nFROM people\nWHERE age > > 3");
    assert!(m.contains("syntax error") && m.contains("Line: 3"), "{m}");
    let m = err(&e, "SELECT name FROM people WHERE");
    assert!(m.contains("at the end of the statement"), "{m}");
}

#[test]
fn unknown_columns_and_tables_name_the_closest() {
    let d = tempfile::tempdir().unwrap();
    let e = engine(d.path());
    let m = err(&e, "SELECT nmae FROM people");
    assert!(
        m.contains("unknown column nmae") && m.contains("people.name"),
        "{m}"
    );
    let m = err(&e, "SELECT * FROM peple");
    assert!(
        m.contains("unknown table peple") && m.contains("people"),
        "{m}"
    );
}

#[test]
fn type_errors_name_the_expression() {
    let d = tempfile::tempdir().unwrap();
    let e = engine(d.path());
    let m = err(&e, "SELECT name + 1 FROM people");
    assert!(m.contains("type error in name + 1"), "{m}");
    let m = err(&e, "SELECT sum(name) FROM people");
    assert!(m.contains("type error in sum(name)"), "{m}");
}

#[test]
fn malformed_csv_names_the_file() {
    let d = tempfile::tempdir().unwrap();
    let e = engine(d.path());
    std::fs::write(
        d.path().join("people.csv"),
        "id,name,age,city\n1,ann,31,Oslo\nx,bob,oops,Rome,extra\n",
    )
    .unwrap();
    let m = err(&e, "SELECT sum(age) FROM people");
    assert!(
        m.contains("people.csv") && m.contains("malformed CSV"),
        "{m}"
    );
}

#[test]
fn queries_over_csv_with_nulls_group_and_order() {
    let d = tempfile::tempdir().unwrap();
    let e = engine(d.path());
    let b = e
        .sql("SELECT city, count(*) AS n, count(age) AS aged, avg(age) AS a FROM people GROUP BY city ORDER BY city")
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&b)
        .unwrap()
        .to_string();
    assert!(text.contains("| Oslo | 2 | 1    | 31.0 |"), "{text}");
    assert!(text.contains("| Rome | 1 | 1    | 45.0 |"), "{text}");
    // Unsupported SQL says so instead of answering wrongly.
    assert!(matches!(
        e.sql("SELECT x, count(*) FROM (VALUES (1)) v(x) GROUP BY x WITH ROLLUP"),
        Err(SqlError::NotSupported(_))
    ));
    let one = e
        .sql("WITH x AS (SELECT 1 AS one) SELECT * FROM x")
        .unwrap();
    assert_eq!(one[0].num_rows(), 1);
}

#[test]
fn a_cancelled_query_stops_with_cancelled() {
    let d = tempfile::tempdir().unwrap();
    let e = engine(d.path());
    // A clone shares the tables; its own flag cancels only its own queries.
    let mut cancelled = e.clone();
    cancelled.exec.cancel = strata_sql::exec::Cancel::default();
    cancelled.exec.cancel.cancel();
    for q in [
        "SELECT count(*) FROM people",
        "SELECT a.name FROM people a, people b WHERE a.age + b.age > 60",
    ] {
        match cancelled.sql(q) {
            Err(SqlError::Cancelled) => {}
            other => panic!("{q}: expected Cancelled, got {:?}", other.map(|_| ())),
        }
    }
    assert_eq!(
        e.sql("SELECT count(*) FROM people").unwrap()[0].num_rows(),
        1
    );
}

#[test]
fn string_literals_meet_numbers_as_numbers() {
    let d = tempfile::tempdir().unwrap();
    let e = engine(d.path());
    let b = e.sql("SELECT name FROM people WHERE id = '2'").unwrap();
    assert_eq!(b[0].num_rows(), 1);
    let b = e.sql("SELECT name FROM people WHERE '40' < age").unwrap();
    assert_eq!(b[0].num_rows(), 1);
    let m = err(&e, "SELECT name FROM people WHERE id = 'two'");
    assert!(m.contains("'two' is not a valid BIGINT"), "{m}");
}

#[test]
fn a_recursion_that_never_ends_fails_on_the_memory_budget() {
    let mut e = Engine::new();
    e.exec = strata_sql::exec::ExecOptions::sized(Some(16 << 20), Some(2), None).unwrap();
    // Each round doubles the rows and nothing stops it: UNION ALL never reaches a fixpoint.
    let q = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + x FROM t, (VALUES (1), (2)) v(x)) \
             SELECT count(*) FROM t";
    let m = err(&e, q);
    assert!(m.contains("recursive CTE outgrew the memory budget"), "{m}");
    // The same shape with a condition that ends it runs.
    let q = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + x FROM t, (VALUES (1), (2)) v(x) \
             WHERE n < 10) SELECT count(*) FROM t";
    let b = e.sql(q).unwrap();
    let c = b[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap();
    // The same rounds by hand: each row below 10 begets n + 1 and n + 2.
    let (mut all, mut last) = (1i64, vec![1i64]);
    while !last.is_empty() {
        last = last
            .iter()
            .filter(|n| **n < 10)
            .flat_map(|n| [n + 1, n + 2])
            .collect();
        all += last.len() as i64;
    }
    assert_eq!(c.value(0), all);
}

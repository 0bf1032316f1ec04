//! Federation: a table in PostgreSQL (the server every machine runs at 127.0.0.1:5432,
//! database `test`) queried from Strata beside a CSV table. Answers are compared with
//! PostgreSQL computing the same query itself; filters with an exact equivalent are pushed
//! into the remote query (fewer rows read), the others run in Strata.

use arrow::util::display::array_value_to_string;
use strata_sql::Engine;

const PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema of our own in `test`, dropped at the end.
struct Schema {
    client: postgres::Client,
    name: String,
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = self
            .client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

fn setup() -> Schema {
    let mut client = postgres::Client::connect(PG, postgres::NoTls).expect(
        "PostgreSQL at 127.0.0.1:5432 (database test, user postgres, trust auth) runs on \
         every machine; is it up?",
    );
    let name = format!(
        "strata_fed_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {name};
             CREATE TABLE {name}.orders (
               id bigint PRIMARY KEY, customer text, amount numeric(10,2), price double precision,
               qty integer, placed date, at timestamp, paid boolean, \"Note\" varchar(20),
               loose numeric, small smallint);
             INSERT INTO {name}.orders
             SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE 'c' || (i % 13) END,
                    (i * 1.25)::numeric(10,2), i / 8.0, i % 10,
                    DATE '2024-01-01' + (i % 60), TIMESTAMP '2024-01-01 00:00:00' + i * INTERVAL '1 hour',
                    i % 2 = 0, CASE WHEN i % 5 = 0 THEN 'it''s' ELSE 'n' || i END,
                    i / 3.0, (i % 100)::smallint
             FROM generate_series(1, 2000) AS i;
             ANALYZE {name}.orders;"
        ))
        .expect("create the test table");
    Schema { client, name }
}

/// The rows of a Strata result as text lines (NULL as "NULL").
fn strata(e: &Engine, q: &str) -> Vec<String> {
    let batches = e.sql(q).unwrap_or_else(|err| panic!("{q}: {err}"));
    let mut out = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(r) {
                        "NULL".into()
                    } else {
                        array_value_to_string(c, r).unwrap()
                    }
                })
                .collect();
            out.push(cells.join("|"));
        }
    }
    out
}

/// The rows PostgreSQL gives for `q` (every column cast to text by the query).
fn postgres(s: &mut Schema, q: &str) -> Vec<String> {
    s.client
        .query(q, &[])
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    row.get::<_, Option<String>>(i)
                        .unwrap_or_else(|| "NULL".into())
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

#[test]
fn postgres_tables_join_local_ones_with_filters_pushed() {
    let mut s = setup();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("customers.csv");
    let mut text = String::from("code,region\n");
    for i in 0..13 {
        text.push_str(&format!("c{i},{}\n", ["north", "south", "east"][i % 3]));
    }
    std::fs::write(&csv, text).unwrap();
    let mut e = Engine::new();
    e.register("orders", &format!("{PG}/{}.orders", s.name))
        .unwrap();
    e.register("customers", csv.to_str().unwrap()).unwrap();

    // Types: each column read as the Arrow type its PostgreSQL type maps to.
    let t = e
        .tables()
        .into_iter()
        .find(|(n, _)| n == "orders")
        .unwrap()
        .1;
    let types: Vec<String> = t
        .fields()
        .iter()
        .map(|f| strata_sql::sql_type_name(f.data_type()))
        .collect();
    assert_eq!(types[0], "BIGINT");
    assert_eq!(types[2], "DECIMAL(10,2)");
    assert_eq!(types[5], "DATE");
    assert_eq!(
        t.field(8).name(),
        "note",
        "names are lower-cased as Strata's are"
    );

    let o = &s.name;
    for (strata_q, pg_q) in [
        (
            "SELECT id, customer, amount, qty, placed, paid, note FROM orders WHERE id <= 3 OR id = 1995 ORDER BY id".to_string(),
            format!("SELECT id::text, customer, amount::text, qty::text, placed::text, paid::text, \"Note\" FROM {o}.orders WHERE id <= 3 OR id = 1995 ORDER BY orders.id"),
        ),
        (
            "SELECT count(*), count(customer), sum(amount), sum(qty), min(placed), max(at) FROM orders".to_string(),
            format!("SELECT count(*)::text, count(customer)::text, sum(amount)::text, sum(qty)::text, min(placed)::text, to_char(max(at), 'YYYY-MM-DD\"T\"HH24:MI:SS') FROM {o}.orders"),
        ),
        (
            "SELECT customer, count(*) AS n FROM orders WHERE paid AND placed >= DATE '2024-02-01' AND customer IS NOT NULL GROUP BY customer ORDER BY customer".to_string(),
            format!("SELECT customer, count(*)::text FROM {o}.orders WHERE paid AND placed >= DATE '2024-02-01' AND customer IS NOT NULL GROUP BY customer ORDER BY customer COLLATE \"C\""),
        ),
        (
            "SELECT c.region, count(*), sum(o.qty) FROM orders o JOIN customers c ON o.customer = c.code WHERE o.small < 50 GROUP BY c.region ORDER BY 1".to_string(),
            format!("SELECT c.region, count(*)::text, sum(o.qty)::text FROM {o}.orders o JOIN (VALUES {}) AS c(code, region) ON o.customer = c.code WHERE o.small < 50 GROUP BY c.region ORDER BY 1",
                (0..13).map(|i| format!("('c{i}', '{}')", ["north", "south", "east"][i % 3])).collect::<Vec<_>>().join(", ")),
        ),
        (
            // Text ranges compare bytewise in Strata and in the pushed query.
            "SELECT count(*) FROM orders WHERE note > 'n5' AND note <> 'it''s'".to_string(),
            format!("SELECT count(*)::text FROM {o}.orders WHERE \"Note\" COLLATE \"C\" > 'n5' AND \"Note\" <> 'it''s'"),
        ),
        (
            // Arithmetic is not pushed; it runs in Strata.
            "SELECT count(*) FROM orders WHERE qty * 2 + small > 150 AND id IN (10, 20, 30, 1500)".to_string(),
            format!("SELECT count(*)::text FROM {o}.orders WHERE qty * 2 + small > 150 AND id IN (10, 20, 30, 1500)"),
        ),
    ] {
        assert_eq!(strata(&e, &strata_q), postgres(&mut s, &pg_q), "{strata_q}");
    }

    // Pushed: PostgreSQL sends only the rows that pass.
    let plan = match e
        .execute("EXPLAIN ANALYZE SELECT id FROM orders WHERE id < 3 AND customer = 'c1'")
        .unwrap()
    {
        strata_sql::Output::Text(t) => t,
        _ => panic!("EXPLAIN gives text"),
    };
    let read: Vec<&str> = plan
        .split("read=")
        .skip(1)
        .map(|r| r.split(|c: char| !c.is_ascii_digit()).next().unwrap())
        .collect();
    assert_eq!(read, ["1"], "one row read, not 2000:\n{plan}");
    let plan = match e
        .execute("EXPLAIN SELECT id FROM orders WHERE id < 3 AND qty + 1 > 2")
        .unwrap()
    {
        strata_sql::Output::Text(t) => t,
        _ => panic!("EXPLAIN gives text"),
    };
    assert!(
        plan.contains("remote: SELECT \"id\", \"qty\" FROM")
            && plan.contains("WHERE (\"id\" < (3))"),
        "{plan}"
    );

    // Errors say what is wrong.
    let err = e
        .register("nope", &format!("{PG}/{}.no_such_table", s.name))
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no table"), "{err}");
    let err = e
        .register("bad", "postgres://postgres@127.0.0.1:1/test/t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
}

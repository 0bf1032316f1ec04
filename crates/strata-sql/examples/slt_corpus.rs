//! Runs sqllogictest files of SQLite's corpus style (`hash-threshold`, `query III rowsort`,
//! results rendered by the query's declared column types) through the engine, every
//! record to the end, and counts: queries right, wrong, refused; the commonest errors.
//!
//! ```sh
//! cargo run --release -p strata-sql --example slt_corpus -- FILE.test ...
//! ```
//!
//! A measuring tool for conformance work (BENCHMARKS.md, issue 11): the corpus itself is
//! not in the repository. Values render as SQLite's harness renders them: `I` columns as
//! integers (reals truncated), `R` as `%.3f`, `T` as text with `(empty)` for ''.

use arrow::array::Array;
use arrow::datatypes::DataType;
use sqllogictest::{DBOutput, DefaultColumnType, QueryExpect, Record};
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    static EXPECTED: RefCell<Vec<DefaultColumnType>> = const { RefCell::new(Vec::new()) };
}

struct Db(strata_sql::Engine);

fn render(c: &dyn Array, r: usize, t: Option<&DefaultColumnType>) -> String {
    if c.is_null(r) {
        return "NULL".into();
    }
    let s = arrow::util::display::array_value_to_string(&c.slice(r, 1), 0).unwrap_or_default();
    let num = || -> f64 {
        match c.data_type() {
            DataType::Boolean => f64::from(u8::from(s == "true")),
            _ => {
                // A text's leading number, as SQLite converts it (0 when there is none).
                let t = s.trim_start();
                let end = t
                    .char_indices()
                    .take_while(|(i, ch)| {
                        ch.is_ascii_digit() || *ch == '.' || (*i == 0 && (*ch == '-' || *ch == '+'))
                    })
                    .map(|(i, ch)| i + ch.len_utf8())
                    .last()
                    .unwrap_or(0);
                t[..end].parse().unwrap_or(0.0)
            }
        }
    };
    match t {
        Some(DefaultColumnType::Integer) => {
            if c.data_type().is_integer() {
                s
            } else {
                format!("{}", num().trunc() as i64)
            }
        }
        Some(DefaultColumnType::FloatingPoint) => format!("{:.3}", num()),
        _ => {
            if s.is_empty() {
                "(empty)".into()
            } else {
                s.chars()
                    .map(|ch| if (' '..='~').contains(&ch) { ch } else { '@' })
                    .collect()
            }
        }
    }
}

impl sqllogictest::DB for Db {
    type Error = strata_sql::SqlError;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Self::Error> {
        let batches = match self.0.execute(sql)? {
            strata_sql::Output::Rows(b) => b,
            _ => return Ok(DBOutput::StatementComplete(0)),
        };
        let expected = EXPECTED.with(|e| e.borrow().clone());
        let width = batches.first().map_or(0, |b| b.num_columns());
        let mut rows = Vec::new();
        for b in &batches {
            for r in 0..b.num_rows() {
                rows.push(
                    (0..width)
                        .map(|i| render(b.column(i).as_ref(), r, expected.get(i)))
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; width],
            rows,
        })
    }
}

fn shape(msg: &str) -> String {
    // Errors grouped by their words: numbers, quoted names and SQL text removed.
    let first = msg.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut out = String::new();
    let mut quoted = false;
    for ch in first.chars() {
        match ch {
            '\'' | '"' => {
                quoted = !quoted;
                out.push('_');
            }
            _ if quoted => {}
            c if c.is_ascii_digit() => {
                if !out.ends_with('#') {
                    out.push('#')
                }
            }
            c => out.push(c),
        }
    }
    out.chars().take(110).collect()
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let (mut right, mut wrong, mut refused, mut stmt_fail) = (0usize, 0usize, 0usize, 0usize);
    let mut errors: HashMap<String, (usize, String)> = HashMap::new();
    let mut wrongs: Vec<String> = Vec::new();
    for f in &files {
        // Conditions may carry a trailing comment (`onlyif mysql # DIV ...`).
        let text: String = match std::fs::read_to_string(f) {
            Ok(t) => t
                .lines()
                .map(|l| {
                    if l.starts_with("onlyif") || l.starts_with("skipif") {
                        l.split('#').next().unwrap_or(l).trim_end()
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => {
                eprintln!("{f}: {e}");
                continue;
            }
        };
        let records = match sqllogictest::parse_with_name::<DefaultColumnType>(&text, f.as_str()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{f}: cannot parse: {e}");
                continue;
            }
        };
        let mut runner = sqllogictest::Runner::new(|| async { Ok(Db(strata_sql::Engine::new())) });
        runner.with_column_validator(|_, _| true);
        // SQLite's files list one value per line; others one row per line.
        runner.with_validator(|norm, actual, expected| {
            let expected: Vec<String> = expected.iter().map(norm).collect();
            let values: Vec<String> = actual.iter().flatten().map(norm).collect();
            let rows: Vec<String> = actual.iter().map(|r| norm(&r.join(" "))).collect();
            values == expected || rows == expected
        });
        // SQLite's corpus was written with results of more than 8 values hashed.
        runner.with_hash_threshold(8);
        let (mut fr, mut fw, mut fe) = (0, 0, 0);
        for rec in records {
            let is_query = matches!(rec, Record::Query { .. });
            let sql = match &rec {
                Record::Query { sql, .. } | Record::Statement { sql, .. } => sql.clone(),
                _ => String::new(),
            };
            if let Record::Query {
                expected: QueryExpect::Results { types, .. },
                ..
            } = &rec
            {
                EXPECTED.with(|e| *e.borrow_mut() = types.clone());
            }
            if matches!(rec, Record::Halt { .. }) {
                break;
            }
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(rec)));
            match r {
                Ok(Ok(_)) => {
                    if is_query {
                        fr += 1
                    }
                }
                Ok(Err(e)) => {
                    let text = e.to_string();
                    let mismatch = text.contains("query result mismatch")
                        || text.contains("expected to fail")
                        || text.contains("mismatch");
                    if !is_query {
                        stmt_fail += 1;
                    } else if mismatch {
                        fw += 1;
                        if wrongs.len() < 40 {
                            wrongs.push(format!(
                                "{f}: {}",
                                text.lines().take(12).collect::<Vec<_>>().join(" | ")
                            ));
                        }
                    } else {
                        fe += 1;
                    }
                    if !mismatch || !is_query {
                        let e = errors.entry(shape(&text)).or_insert((0, sql.clone()));
                        e.0 += 1;
                    }
                }
                Err(_) => {
                    fe += 1;
                    let e = errors.entry("PANIC".into()).or_insert((0, sql.clone()));
                    e.0 += 1;
                }
            }
        }
        println!("{f}: {fr} right, {fw} wrong, {fe} refused");
        right += fr;
        wrong += fw;
        refused += fe;
    }
    let total = right + wrong + refused;
    println!(
        "\nqueries: {total}; right {right} ({:.1}%), wrong {wrong} ({:.1}%), refused {refused} ({:.1}%); failed statements {stmt_fail}",
        100.0 * right as f64 / total.max(1) as f64,
        100.0 * wrong as f64 / total.max(1) as f64,
        100.0 * refused as f64 / total.max(1) as f64
    );
    let mut errs: Vec<_> = errors.into_iter().collect();
    errs.sort_by_key(|e| std::cmp::Reverse(e.1.0));
    println!("\ncommonest errors:");
    for (k, (n, sql)) in errs.iter().take(40) {
        println!(
            "{n:7}  {k}\n         e.g. {}",
            sql.replace('\n', " ").chars().take(700).collect::<String>()
        );
    }
    println!("\nsome wrong answers:");
    for w in &wrongs {
        println!("  {}", w.chars().take(600).collect::<String>());
    }
}

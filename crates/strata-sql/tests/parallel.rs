//! Parallel breakers: hash-join builds indexed by many threads (partitioned maps) and
//! aggregations whose merge is split by key give the answers of a one-thread run, and
//! the join and group counts equal ones computed here in plain Rust.
//!
//! The tables are big enough to take the parallel paths (a build side of more than two
//! 64K-row chunks, more than 32K partial groups) and hold duplicate and NULL keys.

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use std::collections::HashMap;
use std::sync::Arc;
use strata_sql::Engine;
use strata_sql::exec::ExecOptions;

const B_ROWS: i64 = 300_000;
const A_ROWS: i64 = 200_000;
const KEYS: i64 = 90_000;

/// b's key of row i: NULL for every 17th row, else a key held by ~3 rows.
fn b_key(i: i64) -> Option<i64> {
    (i % 17 != 0).then_some((i * 7919) % KEYS)
}

/// a's key of row i: NULL for every 23rd row; some keys no b row has.
fn a_key(i: i64) -> Option<i64> {
    (i % 23 != 0).then_some((i * 104_729) % (KEYS + 20_000))
}

fn table(
    rows: i64,
    key: fn(i64) -> Option<i64>,
    val: fn(i64) -> i64,
) -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("k2", DataType::Int64, true),
        Field::new("v", DataType::Int64, false),
    ]));
    let per = 8192;
    let batches = (0..rows)
        .step_by(per)
        .map(|start| {
            let ids: Vec<i64> = (start..(start + per as i64).min(rows)).collect();
            let ks: Vec<Option<i64>> = ids.iter().map(|i| key(*i)).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(ks.clone())),
                    Arc::new(StringArray::from(
                        ks.iter()
                            .map(|k| k.map(|k| format!("key-{k}")))
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        ks.iter().map(|k| k.map(|k| k % 3)).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from(
                        ids.iter().map(|i| val(*i)).collect::<Vec<_>>(),
                    )),
                ],
            )
            .unwrap()
        })
        .collect();
    (schema, batches)
}

fn engine(threads: usize) -> Engine {
    let mut e = Engine::with_exec(ExecOptions::sized(None, Some(threads), None).unwrap());
    let (schema, batches) = table(B_ROWS, b_key, |i| i % 1000);
    e.register_batches("b", schema, batches).unwrap();
    let (schema, batches) = table(A_ROWS, a_key, |i| i % 7);
    e.register_batches("a", schema, batches).unwrap();
    e
}

mod common;

fn sorted_rows(e: &Engine, q: &str) -> Vec<String> {
    let mut out = common::rows(&e.sql(q).unwrap_or_else(|err| panic!("{q}: {err}")));
    out.sort();
    out
}

/// Each query's rows (sorted) on both engines are equal and not empty.
fn same_rows(a: &Engine, b: &Engine, queries: &[&str]) {
    for q in queries {
        let (x, y) = (sorted_rows(a, q), sorted_rows(b, q));
        assert!(!x.is_empty(), "{q}");
        assert_eq!(x, y, "{q}");
    }
}

fn one(e: &Engine, q: &str) -> i64 {
    let rows = sorted_rows(e, q);
    assert_eq!(rows.len(), 1, "{q}");
    rows[0].parse().unwrap_or_else(|_| panic!("{q}: {rows:?}"))
}

/// Multiplicity of each non-NULL key of b.
fn b_counts() -> HashMap<i64, i64> {
    let mut m = HashMap::new();
    for i in 0..B_ROWS {
        if let Some(k) = b_key(i) {
            *m.entry(k).or_insert(0) += 1;
        }
    }
    m
}

#[test]
fn parallel_join_builds_match_one_thread_and_plain_counts() {
    let (one_t, many) = (engine(1), engine(8));
    let counts = b_counts();
    let a_keys: Vec<Option<i64>> = (0..A_ROWS).map(a_key).collect();
    let inner: i64 = a_keys
        .iter()
        .flatten()
        .map(|k| counts.get(k).copied().unwrap_or(0))
        .sum();
    let unmatched_a = a_keys
        .iter()
        .filter(|k| k.is_none_or(|k| !counts.contains_key(&k)))
        .count() as i64;
    let a_set: std::collections::HashSet<i64> = a_keys.iter().flatten().copied().collect();
    let unmatched_b: i64 = (0..B_ROWS)
        .filter(|i| b_key(*i).is_none_or(|k| !a_set.contains(&k)))
        .count() as i64;
    let semi = a_keys
        .iter()
        .flatten()
        .filter(|k| counts.contains_key(k))
        .count() as i64;

    // Integer keys, row-format keys (strings; two columns), outer joins, semi/anti.
    let checks: Vec<(&str, i64)> = vec![
        ("SELECT count(*) FROM a JOIN b ON a.k = b.k", inner),
        ("SELECT count(*) FROM a JOIN b ON a.s = b.s", inner),
        (
            "SELECT count(*) FROM a JOIN b ON a.s = b.s AND a.k2 = b.k2",
            inner,
        ),
        (
            "SELECT count(*) FROM a LEFT JOIN b ON a.k = b.k",
            inner + unmatched_a,
        ),
        (
            "SELECT count(*) FROM a RIGHT JOIN b ON a.s = b.s",
            inner + unmatched_b,
        ),
        (
            "SELECT count(*) FROM a FULL JOIN b ON a.k = b.k",
            inner + unmatched_a + unmatched_b,
        ),
        ("SELECT count(*) FROM a WHERE k IN (SELECT k FROM b)", semi),
        (
            "SELECT count(*) FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.s = a.s)",
            A_ROWS - semi,
        ),
    ];
    for (q, want) in checks {
        assert_eq!(one(&many, q), want, "8 threads: {q}");
        assert_eq!(one(&one_t, q), want, "1 thread: {q}");
    }
    // Whole rows: every pair, with a residual condition, equal to the one-thread run.
    same_rows(
        &one_t,
        &many,
        &[
            "SELECT a.k, a.v, b.v FROM a JOIN b ON a.k = b.k WHERE a.v + b.v > 990",
            "SELECT a.s, b.v FROM a LEFT JOIN b ON a.s = b.s AND b.v < a.v * 100 WHERE a.k < 5000",
            "SELECT b.k, b.v, a.v FROM a RIGHT JOIN b ON a.k = b.k AND a.k2 = b.k2 WHERE b.v < 3",
        ],
    );
}

#[test]
fn split_aggregation_merges_match_one_thread_and_plain_counts() {
    let (one_t, many) = (engine(1), engine(8));
    let counts = b_counts();
    // Groups: every distinct key plus the NULL group.
    let groups = counts.len() as i64 + 1;
    assert_eq!(
        one(&many, "SELECT count(*) FROM (SELECT k FROM b GROUP BY k) t"),
        groups
    );
    assert_eq!(
        one(
            &many,
            "SELECT count(*) FROM (SELECT s, k2, count(*) FROM b GROUP BY s, k2) t"
        ),
        groups
    );
    let biggest = *counts.values().max().unwrap();
    assert_eq!(
        one(
            &many,
            "SELECT max(c) FROM (SELECT k, count(*) AS c FROM b WHERE k IS NOT NULL GROUP BY k) t"
        ),
        biggest
    );
    same_rows(
        &one_t,
        &many,
        &[
            "SELECT k, count(*), sum(v), avg(v), min(s), max(v), round(var_samp(v), 6) FROM b GROUP BY k",
            "SELECT s, k2, count(v), sum(v) FROM b GROUP BY s, k2 HAVING sum(v) > 900",
            "SELECT a.k, count(*), sum(b.v) FROM a JOIN b ON a.k = b.k GROUP BY a.k ORDER BY 3 DESC, 1 LIMIT 50",
        ],
    );
}

//! In-database training (Bismarck): `train_logistic` as an aggregate and
//! `predict_logistic` as a scalar function, on scikit-learn's copy of the UCI digits
//! (`data/digits`): "is the digit below 5?" from the 64 pixels.
//!
//! Checked: the one-thread SQL model is exactly the model `ml::train` makes from the same
//! rows; models averaged over partitions (threads) classify as well; per-group models;
//! determinism; NULL rows skipped; FILTER; and clear errors for bad calls.

use arrow::array::{Array, AsArray};
use std::io::Read;
use strata_sql::Engine;
use strata_sql::exec::ExecOptions;

/// The digits as CSV with a header (`id`, `p0`..`p63`, `digit`) in `dir`; the rows.
fn digits_csv(dir: &std::path::Path) -> Vec<Vec<f64>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/digits/digits.csv.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!((rows.len(), rows[0].len()), (1797, 65));
    let mut csv = String::from("id");
    for j in 0..64 {
        csv.push_str(&format!(",p{j}"));
    }
    csv.push_str(",digit\n");
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r.iter().map(|v| format!("{}", *v as i64)).collect();
        csv.push_str(&format!("{i},{}\n", cells.join(",")));
    }
    // Four files, so that several threads train on their own partitions.
    std::fs::create_dir_all(dir.join("digits")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    for (k, part) in lines[1..].chunks(450).enumerate() {
        let text = format!("{}\n{}\n", lines[0], part.join("\n"));
        std::fs::write(dir.join(format!("digits/part-{k}.csv")), text).unwrap();
    }
    rows
}

fn pixels() -> String {
    (0..64)
        .map(|j| format!("p{j}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn engine(dir: &std::path::Path, threads: usize) -> Engine {
    let mut e = Engine::with_exec(ExecOptions::sized(None, Some(threads), None).unwrap());
    e.register("digits", dir.join("digits").to_str().unwrap())
        .unwrap();
    e
}

fn text(e: &Engine, q: &str) -> String {
    let b = e.sql(q).unwrap_or_else(|err| panic!("{q}: {err}"));
    let b = b.iter().find(|b| b.num_rows() > 0).expect("a row");
    let c = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
    c.as_string::<i32>().value(0).to_string()
}

fn train_query(filter: &str) -> String {
    format!(
        "SELECT train_logistic(digit < 5, {}, 'epochs=15 seed=7') FROM digits WHERE {filter}",
        pixels()
    )
}

fn accuracy(e: &Engine, train_filter: &str) -> f64 {
    let q = format!(
        "SELECT avg(CASE WHEN (predict_logistic(({}), {}) > 0.5) = (digit < 5) THEN 1.0 \
         ELSE 0.0 END) FROM digits WHERE id % 5 = 0",
        train_query(train_filter),
        pixels()
    );
    text(e, &q).parse().unwrap()
}

#[test]
fn sql_model_equals_direct_training_and_classifies_held_out_digits() {
    let dir = tempfile::tempdir().unwrap();
    let rows = digits_csv(dir.path());
    let one = engine(dir.path(), 1);
    let model: serde_json::Value =
        serde_json::from_str(&text(&one, &train_query("id % 5 <> 0"))).unwrap();
    // The same rows, in file order, straight into the trainer.
    let mut flat = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if i % 5 != 0 {
            flat.push(if r[64] < 5.0 { 1.0 } else { 0.0 });
            flat.extend_from_slice(&r[..64]);
        }
    }
    let sgd = strata_sql::ml::Sgd::parse("epochs=15 seed=7").unwrap();
    let direct = strata_sql::ml::train(&flat, 64, &sgd).unwrap();
    assert_eq!(model["model"], "logistic_regression");
    assert_eq!(model["features"], 64);
    assert_eq!(model["rows"].as_u64(), Some(direct[0] as u64));
    // Equal up to JSON's float text (serde_json parses to within an ulp).
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1.0);
    assert!(close(model["intercept"].as_f64().unwrap(), direct[1]));
    let coef: Vec<f64> = model["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_f64().unwrap())
        .collect();
    assert_eq!(coef.len(), 64);
    for (c, d) in coef.iter().zip(&direct[2..]) {
        assert!(close(*c, *d), "{c} vs {d}");
    }

    // Held-out accuracy, one partition and models averaged over four threads' partitions.
    let four = engine(dir.path(), 4);
    let averaged: serde_json::Value =
        serde_json::from_str(&text(&four, &train_query("id % 5 <> 0"))).unwrap();
    assert_eq!(averaged["rows"], model["rows"]);
    assert_ne!(
        averaged["coefficients"], model["coefficients"],
        "four partitions' models are averaged, not one model trained"
    );
    let acc1 = accuracy(&one, "id % 5 <> 0");
    let acc4 = accuracy(&four, "id % 5 <> 0");
    assert!(acc1 > 0.85, "one thread: held-out accuracy {acc1}");
    assert!(acc4 > 0.85, "four threads: held-out accuracy {acc4}");
    // A model that saw nothing useful does worse: the check can fail.
    let blind = accuracy(&one, "id % 5 <> 0 AND digit IN (0, 9)");
    assert!(
        blind < acc1,
        "a model trained on 0s and 9s only: {blind} vs {acc1}"
    );
    // Deterministic.
    assert_eq!(
        text(&one, &train_query("id % 5 <> 0")),
        text(&one, &train_query("id % 5 <> 0"))
    );
}

#[test]
fn models_per_group_filters_and_nulls() {
    let dir = tempfile::tempdir().unwrap();
    digits_csv(dir.path());
    let e = engine(dir.path(), 2);
    let q = format!(
        "SELECT id % 2 AS half, train_logistic(digit < 5, {}) AS m FROM digits GROUP BY 1 \
         ORDER BY 1",
        pixels()
    );
    let b = e.sql(&q).unwrap();
    let rows: usize = b.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 2);
    let seen: u64 = b
        .iter()
        .flat_map(|b| {
            let m = b.column(1).as_string::<i32>().clone();
            (0..m.len())
                .map(|i| {
                    let v: serde_json::Value = serde_json::from_str(m.value(i)).unwrap();
                    v["rows"].as_u64().unwrap()
                })
                .collect::<Vec<_>>()
        })
        .sum();
    assert_eq!(seen, 1797);
    // FILTER and NULLs: rows outside the filter or with a NULL feature are not seen.
    let q = "SELECT train_logistic(digit < 5, CASE WHEN id < 100 THEN NULL ELSE p0 END, p1) \
             FILTER (WHERE id % 3 = 0) FROM digits";
    let m: serde_json::Value = serde_json::from_str(&text(&e, q)).unwrap();
    let want = (100..1797).filter(|i| i % 3 == 0).count() as u64;
    assert_eq!(m["rows"].as_u64(), Some(want));
    assert_eq!(m["features"], 2);
    // No rows: NULL, and predicting with a NULL model gives NULL.
    let q = "SELECT predict_logistic((SELECT train_logistic(digit < 5, p0) FROM digits \
             WHERE id < 0), p0) IS NULL FROM digits LIMIT 1";
    assert_eq!(text(&e, q), "true");
}

#[test]
fn bad_calls_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    digits_csv(dir.path());
    let e = engine(dir.path(), 2);
    let err = |q: &str| match e.sql(q) {
        Ok(_) => panic!("{q}: expected an error"),
        Err(e) => e.to_string(),
    };
    let m = "(SELECT train_logistic(digit < 5, p0, p1) FROM digits)";
    for (q, want) in [
        (
            "SELECT train_logistic(digit, p0) FROM digits",
            "must be 0 or 1",
        ),
        (
            "SELECT train_logistic(digit < 5) FROM digits",
            "a label and at least one feature",
        ),
        (
            "SELECT train_logistic(digit < 5, p0, 'epochs=0') FROM digits",
            "epochs=0",
        ),
        (
            "SELECT train_logistic(digit < 5, p0, 'speed=3') FROM digits",
            "unknown setting 'speed'",
        ),
        (
            "SELECT train_logistic(DISTINCT digit < 5, p0) FROM digits",
            "DISTINCT",
        ),
        (
            "SELECT train_logistic(digit < 5, 'x', p0) FROM digits",
            "argument 2 (x) must be a number or boolean, got Utf8",
        ),
        (
            &format!("SELECT predict_logistic({m}, p0) FROM digits"),
            "the model has 2 features, the call passes 1",
        ),
        (
            "SELECT predict_logistic('not a model', p0) FROM digits",
            "must be a model made by train_logistic",
        ),
    ] {
        let got = err(q);
        assert!(got.contains(want), "{q}: {got}");
    }
}

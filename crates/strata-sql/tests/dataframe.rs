//! The DataFrame API builds the same plans as SQL: the same answers, the same errors.

use arrow::array::{Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use std::sync::Arc;
use strata_sql::Engine;
use strata_sql::dataframe::{avg, col, count_star, expr, lit, sum};
use strata_sql::plan::JoinKind;

fn text(batches: &[RecordBatch]) -> String {
    arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string()
}

fn engine() -> Engine {
    let mut e = Engine::new();
    let sales = Arc::new(Schema::new(vec![
        Field::new("region", DataType::Utf8, true),
        Field::new("item", DataType::Int64, false),
        Field::new("amount", DataType::Float64, true),
    ]));
    let batch = |r: Vec<Option<&str>>, i: Vec<i64>, a: Vec<Option<f64>>| {
        RecordBatch::try_new(
            sales.clone(),
            vec![
                Arc::new(StringArray::from(r)),
                Arc::new(Int64Array::from(i)),
                Arc::new(Float64Array::from(a)),
            ],
        )
        .unwrap()
    };
    e.register_batches(
        "sales",
        sales.clone(),
        vec![
            batch(
                vec![Some("east"), Some("west"), Some("east")],
                vec![1, 2, 3],
                vec![Some(10.0), Some(20.0), None],
            ),
            batch(
                vec![Some("north"), None, Some("west")],
                vec![1, 3, 3],
                vec![Some(5.5), Some(7.0), Some(1.0)],
            ),
        ],
    )
    .unwrap();
    let items = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("label", DataType::Utf8, false),
    ]));
    e.register_batches(
        "items",
        items.clone(),
        vec![
            RecordBatch::try_new(
                items,
                vec![
                    Arc::new(Int64Array::from(vec![1, 2, 4])),
                    Arc::new(StringArray::from(vec!["apple", "pear", "fig"])),
                ],
            )
            .unwrap(),
        ],
    )
    .unwrap();
    e
}

#[test]
fn dataframes_answer_like_sql() {
    let e = engine();
    let df = e
        .table("sales")
        .unwrap()
        .filter(col("amount").gt(lit(2)))
        .unwrap()
        .group_by(&[col("region")])
        .unwrap()
        .agg(&[
            sum(col("amount")).alias("total"),
            count_star().alias("n"),
            avg(expr("amount * 2").unwrap()).alias("twice"),
        ])
        .unwrap()
        .sort(&[col("total").desc()])
        .unwrap();
    let sql = e
        .sql(
            "SELECT region, sum(amount) AS total, count(*) AS n, avg(amount * 2) AS twice \
             FROM sales WHERE amount > 2 GROUP BY region ORDER BY total DESC",
        )
        .unwrap();
    assert_eq!(text(&df.collect().unwrap()), text(&sql));
    assert!(df.explain().contains("Aggregate"), "{}", df.explain());

    let joined = e
        .table("sales")
        .unwrap()
        .join(
            &e.table("items").unwrap(),
            JoinKind::Left,
            &[(col("item"), col("id"))],
        )
        .unwrap()
        .select(&[col("region"), col("label"), col("amount")])
        .unwrap()
        .sort(&[col("amount")])
        .unwrap()
        .limit(4)
        .unwrap();
    let sql = e
        .sql(
            "SELECT region, label, amount FROM sales s LEFT JOIN items i ON s.item = i.id \
             ORDER BY amount LIMIT 4",
        )
        .unwrap();
    assert_eq!(text(&joined.collect().unwrap()), text(&sql));
}

#[test]
fn dataframe_errors_name_the_problem() {
    let e = engine();
    let t = e.table("sales").unwrap();
    let err = t.filter(col("amout").gt(lit(1))).err().unwrap().to_string();
    assert!(
        err.contains("unknown column amout") && err.contains("amount"),
        "{err}"
    );
    let err = t.filter(col("amount") + lit(1)).err().unwrap().to_string();
    assert!(err.contains("must be boolean"), "{err}");
    let err = t
        .group_by(&[col("region")])
        .unwrap()
        .agg(&[col("amount")])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not an aggregate"), "{err}");
    let err = e.table("nope").err().unwrap().to_string();
    assert!(
        err.contains("unknown table nope") && err.contains("items, sales"),
        "{err}"
    );
    assert!(expr("amount >").is_err());
}

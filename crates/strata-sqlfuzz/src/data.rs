//! Random tables: a few columns of each common type, with NULLs, duplicates and extreme
//! values, written as Parquet for Strata and as SQL for PostgreSQL.

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use rand::Rng;
use rand::rngs::SmallRng;
use std::path::Path;
use std::sync::Arc;

/// The column types the generator uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// BIGINT
    Int,
    /// DOUBLE PRECISION (values exact in binary, so sums do not depend on order)
    Float,
    /// TEXT
    Text,
    /// BOOLEAN
    Bool,
}

/// One value of a table.
#[derive(Clone, Debug)]
pub enum Val {
    /// NULL
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
}

impl Val {
    /// As a SQL literal.
    pub fn sql(&self) -> String {
        match self {
            Val::Null => "NULL".into(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => format!("{f:?}"),
            Val::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Val::Bool(b) => b.to_string(),
        }
    }
}

/// A table: name, columns and rows.
#[derive(Clone, Debug)]
pub struct Table {
    /// `t0`, `t1`, ...
    pub name: String,
    /// Column names and types.
    pub cols: Vec<(String, Ty)>,
    /// Rows, one value per column.
    pub rows: Vec<Vec<Val>>,
}

/// Text values: duplicates, case, an empty string, a space.
pub const WORDS: [&str; 7] = ["a", "b", "ab", "B", "", "a b", "zz"];

/// A random value of type `ty` (NULL one time in six).
pub fn value(rng: &mut SmallRng, ty: Ty) -> Val {
    if rng.gen_ratio(1, 6) {
        return Val::Null;
    }
    match ty {
        Ty::Int => Val::Int(match rng.gen_range(0..10) {
            0 => [-1_000_000, 1_000_000, 0][rng.gen_range(0..3)],
            1..=4 => rng.gen_range(0..5),
            _ => rng.gen_range(-50..50),
        }),
        Ty::Float => Val::Float(rng.gen_range(-40..40) as f64 * 0.25),
        Ty::Text => Val::Text(WORDS[rng.gen_range(0..WORDS.len())].to_string()),
        Ty::Bool => Val::Bool(rng.gen_bool(0.5)),
    }
}

/// A random table named `name`: columns `k` (a small key), `v`, `f`, `s`, `b`.
pub fn table(rng: &mut SmallRng, name: &str) -> Table {
    let cols = vec![
        ("k".to_string(), Ty::Int),
        ("v".to_string(), Ty::Int),
        ("f".to_string(), Ty::Float),
        ("s".to_string(), Ty::Text),
        ("b".to_string(), Ty::Bool),
    ];
    let n = [0, 1, 3, 8, 20, 40][rng.gen_range(0..6)];
    let rows = (0..n)
        .map(|_| {
            cols.iter()
                .map(|(c, t)| {
                    // The key has few values, so that joins and groups meet.
                    if c == "k" && !rng.gen_ratio(1, 8) {
                        Val::Int(rng.gen_range(0..4))
                    } else {
                        value(rng, *t)
                    }
                })
                .collect()
        })
        .collect();
    Table {
        name: name.to_string(),
        cols,
        rows,
    }
}

impl Table {
    /// The rows as one Arrow batch.
    pub fn batch(&self) -> RecordBatch {
        let fields: Vec<Field> = self
            .cols
            .iter()
            .map(|(n, t)| {
                let dt = match t {
                    Ty::Int => DataType::Int64,
                    Ty::Float => DataType::Float64,
                    Ty::Text => DataType::Utf8,
                    Ty::Bool => DataType::Boolean,
                };
                Field::new(n, dt, true)
            })
            .collect();
        let cols: Vec<ArrayRef> = self
            .cols
            .iter()
            .enumerate()
            .map(|(i, (_, t))| {
                let vals = self.rows.iter().map(|r| &r[i]);
                let a: ArrayRef = match t {
                    Ty::Int => Arc::new(
                        vals.map(|v| match v {
                            Val::Int(x) => Some(*x),
                            _ => None,
                        })
                        .collect::<Int64Array>(),
                    ),
                    Ty::Float => Arc::new(
                        vals.map(|v| match v {
                            Val::Float(x) => Some(*x),
                            _ => None,
                        })
                        .collect::<Float64Array>(),
                    ),
                    Ty::Text => Arc::new(
                        vals.map(|v| match v {
                            Val::Text(x) => Some(x.as_str()),
                            _ => None,
                        })
                        .collect::<StringArray>(),
                    ),
                    Ty::Bool => Arc::new(
                        vals.map(|v| match v {
                            Val::Bool(x) => Some(*x),
                            _ => None,
                        })
                        .collect::<BooleanArray>(),
                    ),
                };
                a
            })
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("columns match")
    }

    /// Writes the table as `dir/NAME.parquet`.
    pub fn write_parquet(&self, dir: &Path) -> std::io::Result<std::path::PathBuf> {
        let path = dir.join(format!("{}.parquet", self.name));
        let b = self.batch();
        let f = std::fs::File::create(&path)?;
        let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), None)
            .map_err(std::io::Error::other)?;
        w.write(&b).map_err(std::io::Error::other)?;
        w.close().map_err(std::io::Error::other)?;
        Ok(path)
    }

    /// `CREATE TABLE` and `INSERT` statements for PostgreSQL.
    pub fn pg_sql(&self) -> String {
        let cols: Vec<String> = self
            .cols
            .iter()
            .map(|(n, t)| {
                let t = match t {
                    Ty::Int => "BIGINT",
                    Ty::Float => "DOUBLE PRECISION",
                    Ty::Text => "TEXT",
                    Ty::Bool => "BOOLEAN",
                };
                format!("{n} {t}")
            })
            .collect();
        let mut s = format!("CREATE TABLE {} ({});\n", self.name, cols.join(", "));
        for r in &self.rows {
            let vals: Vec<String> = r.iter().map(Val::sql).collect();
            s.push_str(&format!(
                "INSERT INTO {} VALUES ({});\n",
                self.name,
                vals.join(", ")
            ));
        }
        s
    }
}

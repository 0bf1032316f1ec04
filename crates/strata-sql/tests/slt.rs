//! SQL semantics as data: every `.slt` file under `tests/slt` (sqllogictest format) runs
//! against the engine. Tables are CSV files named by path in FROM.

use arrow::datatypes::DataType;
use sqllogictest::{DBOutput, DefaultColumnType};

/// An engine, and the database directory it keeps tables in (removed when dropped).
struct Db(
    strata_sql::Engine,
    #[allow(dead_code)] Option<tempfile::TempDir>,
);

impl sqllogictest::DB for Db {
    type Error = strata_sql::SqlError;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Self::Error> {
        let batches = match self.0.execute(sql)? {
            strata_sql::Output::Rows(b) => b,
            strata_sql::Output::Tag(t) | strata_sql::Output::Text(t) => {
                let n = t
                    .rsplit(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                return Ok(DBOutput::StatementComplete(n));
            }
        };
        let schema = batches[0].schema();
        let types = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                t if t.is_integer() => DefaultColumnType::Integer,
                DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
                    DefaultColumnType::FloatingPoint
                }
                _ => DefaultColumnType::Text,
            })
            .collect();
        let mut rows = Vec::new();
        for b in &batches {
            for r in 0..b.num_rows() {
                rows.push(
                    b.columns()
                        .iter()
                        .map(|c| {
                            if c.logical_nulls().is_some_and(|n| n.is_null(r)) {
                                "NULL".to_string()
                            } else {
                                // NULLs inside lists show as NULL too: [NULL, 1, 3].
                                let opts = arrow::util::display::FormatOptions::default()
                                    .with_null("NULL");
                                let s = arrow::util::display::ArrayFormatter::try_new(c, &opts)
                                    .unwrap()
                                    .value(r)
                                    .to_string();
                                match c.data_type() {
                                    // Decimals print without trailing zeros, like floats.
                                    DataType::Decimal128(..) | DataType::Float64 => {
                                        s.parse::<f64>().map(|f| format!("{f:?}")).unwrap_or(s)
                                    }
                                    _ => s,
                                }
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }
}

use arrow::array::Array;

#[test]
fn sqllogictest_files() {
    run_files(|| Db(strata_sql::Engine::new(), None));
}

/// The same files with created tables kept in a database directory (Parquet files and
/// versioned manifests) instead of in memory.
#[test]
fn sqllogictest_files_persistent() {
    run_files(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut e = strata_sql::Engine::new();
        e.open_db(dir.path().to_str().unwrap()).unwrap();
        Db(e, Some(dir))
    });
}

/// The same files with every query run as a distributed query (stages as dataflow tasks,
/// tables split three ways, hash exchanges and partial aggregation) on an embedded context:
/// with joins broadcast, and with every join that can be partitioned partitioned.
#[test]
fn sqllogictest_files_distributed() {
    run_files(|| Db(distributed(u64::MAX), None));
    run_files(|| Db(distributed(0), None));
}

fn distributed(broadcast_limit: u64) -> strata_sql::Engine {
    let mut e = strata_sql::Engine::new();
    let ctx = strata_dataflow::Context::local().unwrap();
    e.on_cluster(
        strata_sql::distributed::Distributed::new(ctx, Some(3))
            .with_broadcast_limit(broadcast_limit),
    );
    e
}

fn run_files(engine: impl Fn() -> Db + Copy + 'static) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for f in files {
        let mut runner = sqllogictest::Runner::new(move || async move { Ok(engine()) });
        runner
            .run_file(&f)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

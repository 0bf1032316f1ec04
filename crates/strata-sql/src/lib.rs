//! # strata-sql: a vectorized SQL engine over Arrow
//!
//! Query CSV and Parquet files with SQL. The path of a query:
//!
//! ```text
//!  SQL text ──sqlparser──▶ AST ──planner (bind.rs, planner.rs)──▶ logical plan (plan.rs)
//!        ──optimizer.rs──▶ plan with filters in scans ──exec/──▶ Arrow record batches
//! ```
//!
//! - **Catalog** ([`catalog`]): tables registered by name from a file, directory or glob of
//!   `.parquet` / `.csv` files (CSV schemas inferred, with header/delimiter options); a
//!   quoted path in FROM (`FROM 'data/t.parquet'`) opens a table on the fly.
//! - **Binder** ([`bind`]): names resolve to column indices (an unknown column names the
//!   closest existing ones), literals get Arrow types (`0.05` is `DECIMAL(3,2)`, `DATE
//!   '1998-12-01'` a `Date32`), operands are coerced, constants folded.
//! - **Planner** ([`planner`]): WHERE conjuncts become per-relation filters, hash-join keys
//!   or residual predicates; joins are ordered greedily by estimated size; aggregates and
//!   group keys become an `Aggregate` node that later expressions refer to.
//! - **Executor** ([`exec`]): partitions of record batches processed in parallel with arrow
//!   compute kernels; two-phase hash aggregation; hash joins (inner, left, semi, anti);
//!   sort with top-k.
//!
//! `strata gen tpch` ([`tpch`]) writes the TPC-H tables; `strata sql` runs queries.
//!
//! ```no_run
//! let mut engine = strata_sql::Engine::new();
//! engine.register("lineitem", "tpch/lineitem")?;
//! let batches = engine.sql("SELECT l_returnflag, count(*) FROM lineitem GROUP BY 1")?;
//! # Ok::<(), strata_sql::SqlError>(())
//! ```

#![deny(missing_docs)]

pub mod bind;
pub mod catalog;
pub mod error;
pub mod exec;
pub mod expr;
pub mod optimizer;
pub mod plan;
pub mod planner;
pub mod tpch;

pub use catalog::CsvOptions;
pub use error::{Result, SqlError};

use arrow::record_batch::RecordBatch;
use catalog::Table;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use std::collections::HashMap;
use std::sync::Arc;

/// A SQL session: a catalog of tables and the options to read them.
#[derive(Default)]
pub struct Engine {
    tables: HashMap<String, Arc<Table>>,
    /// How CSV files are read.
    pub csv: CsvOptions,
}

/// What a statement produced.
pub enum Output {
    /// Rows.
    Rows(Vec<RecordBatch>),
    /// Text (EXPLAIN).
    Text(String),
}

impl planner::Tables for Engine {
    fn table(&self, name: &str) -> Result<Arc<Table>> {
        if let Some(t) = self.tables.get(&name.to_lowercase()) {
            return Ok(t.clone());
        }
        if name.contains(['/', '.', '*']) {
            return Ok(Arc::new(catalog::open(name, name, &self.csv)?));
        }
        let mut known: Vec<&str> = self.tables.keys().map(String::as_str).collect();
        known.sort();
        Err(SqlError::Plan(format!(
            "unknown table {name}; registered tables: {}",
            if known.is_empty() {
                "none (use --table NAME=PATH)".to_string()
            } else {
                known.join(", ")
            }
        )))
    }
}

impl Engine {
    /// An engine with no tables.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Registers `path` (a file, directory or glob) as table `name`.
    pub fn register(&mut self, name: &str, path: &str) -> Result<()> {
        let t = catalog::open(name, path, &self.csv)?;
        self.tables.insert(name.to_lowercase(), Arc::new(t));
        Ok(())
    }

    /// The optimized plan of a query.
    pub fn plan(&self, query: &str) -> Result<plan::Plan> {
        let stmt = parse_one(query)?;
        match stmt {
            sqlparser::ast::Statement::Query(q) => {
                let (p, _) = planner::plan_query(&q, self)?;
                Ok(optimizer::optimize(p))
            }
            other => Err(SqlError::NotSupported(format!("statement {other}"))),
        }
    }

    /// Runs one statement: a query, or `EXPLAIN query`.
    pub fn execute(&self, text: &str) -> Result<Output> {
        match parse_one(text)? {
            sqlparser::ast::Statement::Query(q) => {
                let (p, _) = planner::plan_query(&q, self)?;
                let p = optimizer::optimize(p);
                Ok(Output::Rows(run(&p)?))
            }
            sqlparser::ast::Statement::Explain {
                statement, analyze, ..
            } => {
                let sqlparser::ast::Statement::Query(q) = *statement else {
                    return Err(SqlError::NotSupported("EXPLAIN of a non-query".into()));
                };
                let (p, _) = planner::plan_query(&q, self)?;
                let p = optimizer::optimize(p);
                let mut text = p.explain();
                if analyze {
                    let start = std::time::Instant::now();
                    let rows: usize = run(&p)?.iter().map(|b| b.num_rows()).sum();
                    text.push_str(&format!(
                        "-- {rows} rows in {:.3} s (per-operator timing is not recorded yet)\n",
                        start.elapsed().as_secs_f64()
                    ));
                }
                Ok(Output::Text(text))
            }
            other => Err(SqlError::NotSupported(format!("statement {other}"))),
        }
    }

    /// Runs a query and returns its rows.
    pub fn sql(&self, query: &str) -> Result<Vec<RecordBatch>> {
        match self.execute(query)? {
            Output::Rows(r) => Ok(r),
            Output::Text(t) => Err(SqlError::Plan(format!("not a query: {t}"))),
        }
    }
}

fn parse_one(text: &str) -> Result<sqlparser::ast::Statement> {
    let mut stmts =
        Parser::parse_sql(&GenericDialect {}, text).map_err(|e| SqlError::Syntax(e.to_string()))?;
    match stmts.len() {
        1 => Ok(stmts.remove(0)),
        0 => Err(SqlError::Syntax("empty statement".into())),
        n => Err(SqlError::Plan(format!("expected one statement, got {n}"))),
    }
}

/// Splits a script into statements (for `strata sql -f FILE`).
pub fn split_statements(text: &str) -> Result<Vec<String>> {
    let stmts =
        Parser::parse_sql(&GenericDialect {}, text).map_err(|e| SqlError::Syntax(e.to_string()))?;
    Ok(stmts.into_iter().map(|s| s.to_string()).collect())
}

fn run(p: &plan::Plan) -> Result<Vec<RecordBatch>> {
    let parts = exec::execute(p)?;
    let schema = p.schema();
    let mut out: Vec<RecordBatch> = parts.into_iter().flatten().collect();
    if out.is_empty() {
        out.push(RecordBatch::new_empty(schema));
    }
    Ok(out)
}

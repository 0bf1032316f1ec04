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
pub mod dataframe;
pub mod datetime;
pub mod db;
pub mod distributed;
pub mod error;
pub mod exec;
pub mod expr;
pub mod federation;
mod functions;
pub mod library;
mod like;
pub mod ml;
pub mod optimizer;
pub mod plan;
pub mod planner;
mod regexp;
pub mod serial;
pub mod sink;
pub mod source;
pub mod stages;
mod statements;
pub mod tpch;

pub use catalog::CsvOptions;
pub use error::{Result, SqlError};

use arrow::record_batch::RecordBatch;
use catalog::Table;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use std::collections::HashMap;
use std::sync::Arc;

/// A SQL session: a catalog of tables and the options to read them. Clones share the
/// database (what statements create) and the registered tables; a clone may take other
/// options (e.g. its own [`exec::Cancel`] flag per query, as the wire server does).
#[derive(Clone, Default)]
pub struct Engine {
    /// Tables registered from files (`--table`), read-only.
    tables: HashMap<String, Arc<Table>>,
    /// Tables and views created by statements: in memory, or in a database directory.
    db: Arc<db::Database>,
    /// How CSV files are read.
    pub csv: CsvOptions,
    /// Memory budget, threads, spill directory.
    pub exec: exec::ExecOptions,
    /// Where queries run when not in this process: a cluster application's executors.
    distributed: Option<Arc<distributed::Distributed>>,
}

/// What a statement produced.
pub enum Output {
    /// Rows: at least one batch, so that an empty result still carries its schema.
    Rows(Vec<RecordBatch>),
    /// Text (EXPLAIN).
    Text(String),
    /// What a statement that changes tables did, as PostgreSQL's command tag says it
    /// (`CREATE TABLE`, `INSERT 0 3`, `UPDATE 2`, `DELETE 1`, `DROP VIEW`).
    Tag(String),
}

impl planner::Tables for Engine {
    fn table(&self, name: &str) -> Result<Arc<Table>> {
        lookup(&self.tables, &self.db, &self.csv, name)
    }
    fn view(&self, name: &str) -> Result<Option<(sqlparser::ast::Query, Vec<String>)>> {
        view(&self.db, name)
    }
}

/// View `name` of the database: its parsed query and column names.
fn view(db: &db::Database, name: &str) -> Result<Option<(sqlparser::ast::Query, Vec<String>)>> {
    let Some(v) = db.view(&name.to_lowercase()) else {
        return Ok(None);
    };
    match parse_one(&v.sql)? {
        sqlparser::ast::Statement::Query(q) => Ok(Some((*q, v.columns))),
        _ => Err(SqlError::Internal(format!("view {name} holds no query"))),
    }
}

/// Table `name`: a registered one, one of the database, or a path opened on the fly.
fn lookup(
    tables: &HashMap<String, Arc<Table>>,
    db: &db::Database,
    csv: &CsvOptions,
    name: &str,
) -> Result<Arc<Table>> {
    let key = name.to_lowercase();
    if let Some(t) = tables.get(&key) {
        return Ok(t.clone());
    }
    if let Some(t) = db.table(&key) {
        return Ok(Arc::new(db_table(db, &t)));
    }
    if name.contains(['/', '.', '*']) {
        return Ok(Arc::new(catalog::open(name, name, csv)?));
    }
    let st = db.state();
    let mut known: Vec<&str> = tables
        .keys()
        .chain(st.tables.keys())
        .chain(st.views.keys())
        .map(String::as_str)
        .collect();
    known.sort();
    Err(SqlError::Plan(format!(
        "unknown table {name}; registered tables: {}",
        if known.is_empty() {
            "none (use --table NAME=PATH, or CREATE TABLE)".to_string()
        } else {
            known.join(", ")
        }
    )))
}

/// A table of the database as the planner reads it: Parquet files, or batches in memory.
fn db_table(db: &db::Database, t: &db::TableEntry) -> Table {
    let (files, format) = if db.is_persistent() && !t.files.is_empty() {
        (
            t.files
                .iter()
                .map(|f| std::path::PathBuf::from(db.file_url(f)))
                .collect(),
            catalog::FileFormat::Parquet,
        )
    } else {
        (Vec::new(), catalog::FileFormat::Memory(t.batches.clone()))
    };
    Table {
        name: t.name.clone(),
        schema: t.schema.clone(),
        files,
        format,
        rows: Some(t.rows),
    }
}

/// The tables of an engine, for planning subqueries while the engine is borrowed.
#[derive(Clone)]
struct Snapshot(HashMap<String, Arc<Table>>, Arc<db::Database>, CsvOptions);

impl planner::Tables for Snapshot {
    fn table(&self, name: &str) -> Result<Arc<Table>> {
        lookup(&self.0, &self.1, &self.2, name)
    }
    fn view(&self, name: &str) -> Result<Option<(sqlparser::ast::Query, Vec<String>)>> {
        view(&self.1, name)
    }
}

/// Plans `q` with uncorrelated scalar subqueries evaluated to literals.
fn plan_with_subqueries(
    q: &sqlparser::ast::Query,
    snap: Snapshot,
    opts: &exec::ExecOptions,
) -> Result<plan::Plan> {
    let opts = opts.clone();
    let s2 = snap.clone();
    let eval: bind::SubqueryEval = std::rc::Rc::new(move |sub: &sqlparser::ast::Query| {
        let (p, _) = planner::plan_query(sub, &s2).map_err(|e| match e {
            SqlError::Plan(m) if m.starts_with("unknown column") => {
                SqlError::NotSupported(format!("correlated subqueries in this position ({m})"))
            }
            other => other,
        })?;
        let p = optimizer::optimize(p);
        Ok((run(&p, &opts)?.0, p.schema()))
    });
    bind::with_subqueries(eval, || {
        let (p, _) = planner::plan_query(q, &snap)?;
        Ok(optimizer::optimize(p))
    })
}

impl Engine {
    fn snapshot(&self) -> Snapshot {
        Snapshot(self.tables.clone(), self.db.clone(), self.csv.clone())
    }

    /// An engine with no tables.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// An engine with no tables that runs queries as `exec` says (without making the
    /// process's default runtime first).
    pub fn with_exec(exec: exec::ExecOptions) -> Engine {
        Engine {
            tables: HashMap::new(),
            db: Arc::default(),
            csv: CsvOptions::default(),
            exec,
            distributed: None,
        }
    }

    /// Keeps created tables and views in the database at `url` (a directory, local or in
    /// a store: `dfs://`, `s3://`) from now on, instead of in memory; created when new.
    pub fn open_db(&mut self, url: &str) -> Result<()> {
        self.db = Arc::new(db::Database::open(url)?);
        Ok(())
    }

    /// The database of created tables and views.
    pub fn database(&self) -> &db::Database {
        &self.db
    }

    /// Registers `path` (a file, directory or glob) as table `name`.
    pub fn register(&mut self, name: &str, path: &str) -> Result<()> {
        let t = catalog::open(name, path, &self.csv)?;
        self.tables.insert(name.to_lowercase(), Arc::new(t));
        Ok(())
    }

    /// Registers record batches held in memory as table `name`.
    pub fn register_batches(
        &mut self,
        name: &str,
        schema: arrow::datatypes::SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<()> {
        let t = catalog::from_batches(name, schema, batches)?;
        self.tables.insert(name.to_lowercase(), Arc::new(t));
        Ok(())
    }

    /// Runs queries on a cluster from now on: planned by the driver, their stages run as
    /// tasks on the executors of `d`'s application (see [`distributed`]). Every process of
    /// the application must run the same statements in the same order.
    pub fn on_cluster(&mut self, d: distributed::Distributed) {
        self.distributed = Some(Arc::new(d));
    }

    /// The optimized plan of a query.
    pub fn plan(&self, query: &str) -> Result<plan::Plan> {
        on_plan_stack(|| self.plan_here(query))
    }

    fn plan_here(&self, query: &str) -> Result<plan::Plan> {
        let stmt = parse_one(query)?;
        match stmt {
            sqlparser::ast::Statement::Query(q) => {
                plan_with_subqueries(&q, self.snapshot(), &self.exec)
            }
            other => Err(SqlError::NotSupported(format!("statement {other}"))),
        }
    }

    /// Runs one statement: a query, or `EXPLAIN query`.
    pub fn execute(&self, text: &str) -> Result<Output> {
        on_plan_stack(|| self.execute_here(text))
    }

    fn execute_here(&self, text: &str) -> Result<Output> {
        self.execute_parsed(parse_one(text)?)
    }

    /// Runs every statement of a script in order, each straight from its parse; `each`
    /// gets each statement's result and says whether to go on.
    pub fn execute_script(
        &self,
        text: &str,
        mut each: impl FnMut(Result<Output>) -> bool + Send,
    ) -> Result<()> {
        on_plan_stack(|| {
            if text.len() > MAX_SCRIPT_BYTES {
                return Err(SqlError::Plan(format!(
                    "the script is {} bytes; the limit is {MAX_SCRIPT_BYTES} (16 MiB)",
                    text.len()
                )));
            }
            let stmts = parse_statements(text)?;
            for stmt in stmts {
                if !each(self.execute_parsed(stmt)) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// Parses `text` into its statements (as [`Engine::execute_script`] does), for callers
    /// that look at each statement before running it (the wire server).
    pub fn parse(text: &str) -> Result<Vec<sqlparser::ast::Statement>> {
        on_plan_stack(|| {
            if text.len() > MAX_SCRIPT_BYTES {
                return Err(SqlError::Plan(format!(
                    "the text is {} bytes; the limit is {MAX_SCRIPT_BYTES} (16 MiB)",
                    text.len()
                )));
            }
            parse_statements(text)
        })
    }

    /// Runs one parsed statement.
    pub fn execute_statement(&self, stmt: sqlparser::ast::Statement) -> Result<Output> {
        on_plan_stack(|| self.execute_parsed(stmt))
    }

    /// The optimized plan of a parsed query.
    pub fn plan_query(&self, q: &sqlparser::ast::Query) -> Result<plan::Plan> {
        on_plan_stack(|| plan_with_subqueries(q, self.snapshot(), &self.exec))
    }

    fn execute_parsed(&self, stmt: sqlparser::ast::Statement) -> Result<Output> {
        if let Some(out) = self.change(&stmt)? {
            return Ok(out);
        }
        self.db.refresh()?;
        match stmt {
            sqlparser::ast::Statement::Query(q) => {
                let (mut rows, schema) = self.query_rows(&q)?;
                if rows.is_empty() {
                    rows.push(RecordBatch::new_empty(schema));
                }
                Ok(Output::Rows(rows))
            }
            sqlparser::ast::Statement::Copy {
                source,
                to: true,
                target: sqlparser::ast::CopyTarget::File { filename },
                options,
                ..
            } => self.copy_to(source, &filename, &options),
            sqlparser::ast::Statement::Explain {
                statement, analyze, ..
            } => {
                let sqlparser::ast::Statement::Query(q) = *statement else {
                    return Err(SqlError::NotSupported("EXPLAIN of a non-query".into()));
                };
                let p = plan_with_subqueries(&q, self.snapshot(), &self.exec)?;
                if !analyze {
                    return Ok(Output::Text(format!(
                        "Logical plan:\n{}\nPhysical plan (stages, cut at exchanges):\n{}",
                        p.explain(),
                        stages::explain(&p)
                    )));
                }
                let start = std::time::Instant::now();
                let (batches, metrics) = run(&p, &self.exec)?;
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                let mut text = p.explain_analyze(&metrics);
                text.push_str(&format!(
                    "-- {rows} rows in {:.3} s; self = an operator's own time, total = with its \
                     inputs, both summed over threads\n",
                    start.elapsed().as_secs_f64()
                ));
                Ok(Output::Text(text))
            }
            sqlparser::ast::Statement::ShowTables { .. } => {
                Ok(Output::Rows(vec![self.show_tables()?]))
            }
            sqlparser::ast::Statement::ExplainTable { table_name, .. } => {
                let name = statements::object_name(&table_name);
                if let Some(schema) = self.view_schema(&name)? {
                    return Ok(Output::Rows(vec![describe(&schema)?]));
                }
                let t = planner::Tables::table(self, &name)?;
                Ok(Output::Rows(vec![describe(&t.schema)?]))
            }
            other => Err(SqlError::NotSupported(format!("statement {other}"))),
        }
    }

    /// A query's rows (on the cluster when there is one) and their schema.
    fn query_rows(
        &self,
        q: &sqlparser::ast::Query,
    ) -> Result<(Vec<RecordBatch>, arrow::datatypes::SchemaRef)> {
        if let Some(d) = &self.distributed {
            let rows = d.run(&q.to_string(), || {
                plan_with_subqueries(q, self.snapshot(), &self.exec)
            })?;
            let schema = rows
                .first()
                .map(|b| b.schema())
                .unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
            return Ok((rows, schema));
        }
        let p = plan_with_subqueries(q, self.snapshot(), &self.exec)?;
        Ok((run(&p, &self.exec)?.0, p.schema()))
    }

    /// `COPY (query) TO 'target' (FORMAT f)` or `COPY table [(columns)] TO ...`: the rows
    /// written as one file through the storage layer (by the driver only, on a cluster).
    fn copy_to(
        &self,
        source: sqlparser::ast::CopySource,
        target: &str,
        options: &[sqlparser::ast::CopyOption],
    ) -> Result<Output> {
        use sqlparser::ast::CopyOption;
        let format = options.iter().find_map(|o| match o {
            CopyOption::Format(f) => Some(f.value.clone()),
            _ => None,
        });
        let mut format = sink::Format::choose(format.as_deref(), target)?;
        for o in options {
            match (o, &mut format) {
                (CopyOption::Format(_), _) => {}
                (CopyOption::Header(h), sink::Format::Csv { header, .. }) => *header = *h,
                (CopyOption::Delimiter(d), sink::Format::Csv { delimiter, .. }) if d.is_ascii() => {
                    *delimiter = *d as u8
                }
                (other, _) => {
                    return Err(SqlError::NotSupported(format!(
                        "COPY option {other} here (FORMAT parquet|csv|json; HEADER and an \
                         ASCII DELIMITER for csv)"
                    )));
                }
            }
        }
        let query = match source {
            sqlparser::ast::CopySource::Query(q) => *q,
            sqlparser::ast::CopySource::Table {
                table_name,
                columns,
            } => {
                let cols = if columns.is_empty() {
                    "*".to_string()
                } else {
                    columns
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                match parse_one(&format!("SELECT {cols} FROM {table_name}"))? {
                    sqlparser::ast::Statement::Query(q) => *q,
                    _ => unreachable!("a SELECT parses as a query"),
                }
            }
        };
        let (rows, schema) = self.query_rows(&query)?;
        let n: usize = rows.iter().map(|b| b.num_rows()).sum();
        if self.distributed.as_ref().is_none_or(|d| d.is_driver()) {
            let bytes = sink::copy_to(target, format, schema, &rows)?;
            return Ok(Output::Text(format!(
                "{n} rows ({bytes} bytes) written to {target}"
            )));
        }
        Ok(Output::Text(String::new()))
    }

    /// The tables (registered from files, and of the database) and views, sorted by name.
    pub fn tables(&self) -> Vec<(String, arrow::datatypes::SchemaRef)> {
        let _ = self.db.refresh();
        let st = self.db.state();
        let mut v: Vec<_> = self
            .tables
            .iter()
            .map(|(n, t)| (n.clone(), t.schema.clone()))
            .chain(st.tables.iter().map(|(n, t)| (n.clone(), t.schema.clone())))
            .collect();
        for n in st.views.keys() {
            if let Ok(Some(schema)) = self.view_schema(n) {
                v.push((n.clone(), schema));
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The columns of view `name` (planned to find their types), named as the view says.
    fn view_schema(&self, name: &str) -> Result<Option<arrow::datatypes::SchemaRef>> {
        let Some((q, columns)) = view(&self.db, name)? else {
            return Ok(None);
        };
        let p = plan_with_subqueries(&q, self.snapshot(), &self.exec)?;
        let fields: Vec<arrow::datatypes::Field> = p
            .schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match columns.get(i) {
                Some(n) => f.as_ref().clone().with_name(n),
                None => f.as_ref().clone(),
            })
            .collect();
        Ok(Some(Arc::new(arrow::datatypes::Schema::new(fields))))
    }

    /// `SHOW TABLES`: one row per registered table.
    fn show_tables(&self) -> Result<RecordBatch> {
        // Names only: no view is planned to list it.
        let _ = self.db.refresh();
        let st = self.db.state();
        let mut names: Vec<String> = self
            .tables
            .keys()
            .chain(st.tables.keys())
            .chain(st.views.keys())
            .cloned()
            .collect();
        names.sort();
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, false),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![Arc::new(arrow::array::StringArray::from(names))],
        )?)
    }

    /// Runs a query: its rows and each operator's metrics (rows, time, bytes spilled).
    pub fn sql_with_metrics(&self, query: &str) -> Result<(Vec<RecordBatch>, exec::Metrics)> {
        on_plan_stack(|| self.sql_with_metrics_here(query))
    }

    fn sql_with_metrics_here(&self, query: &str) -> Result<(Vec<RecordBatch>, exec::Metrics)> {
        match parse_one(query)? {
            sqlparser::ast::Statement::Query(q) => {
                let p = plan_with_subqueries(&q, self.snapshot(), &self.exec)?;
                run(&p, &self.exec)
            }
            other => Err(SqlError::NotSupported(format!("statement {other}"))),
        }
    }

    /// Runs a query and returns its rows.
    pub fn sql(&self, query: &str) -> Result<Vec<RecordBatch>> {
        match self.execute(query)? {
            Output::Rows(r) => Ok(r),
            Output::Text(t) | Output::Tag(t) => Err(SqlError::Plan(format!("not a query: {t}"))),
        }
    }
}

/// The longest statement accepted. It bounds how deeply the syntax tree can nest, so that
/// parsing and planning fit [`PLAN_STACK`]; larger value lists belong in a table.
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;

/// The longest script [`Engine::execute_script`] accepts.
pub const MAX_SCRIPT_BYTES: usize = 16 << 20;

/// Stack of the thread that parses, plans and drives one statement: syntax trees thousands
/// of levels deep (an `OR` of 8,000 terms) are walked recursively.
const PLAN_STACK: usize = 256 << 20;

/// Runs `f` on a thread with [`PLAN_STACK`] of stack (reserved, touched only as used).
fn on_plan_stack<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        let t = std::thread::Builder::new()
            .name("strata-sql".into())
            .stack_size(PLAN_STACK)
            .spawn_scoped(s, f)
            .map_err(|e| SqlError::Internal(format!("starting the planning thread: {e}")))?;
        t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn parse_one(text: &str) -> Result<sqlparser::ast::Statement> {
    if text.len() > MAX_STATEMENT_BYTES {
        return Err(SqlError::Plan(format!(
            "the statement is {} bytes; the limit is {MAX_STATEMENT_BYTES} (1 MiB): put long \
             value lists in a table and join or IN (SELECT ...) it",
            text.len()
        )));
    }
    let mut stmts = parse_statements(text)?;
    match stmts.len() {
        1 => Ok(stmts.remove(0)),
        0 => Err(SqlError::Syntax("empty statement".into())),
        n => Err(SqlError::Plan(format!("expected one statement, got {n}"))),
    }
}

/// How deeply the parser may recurse: sqlparser's default (50) refuses ordinary machine-
/// written SQL (`((((a OR b) AND c) ...)` 60 levels deep); the statement thread's stack
/// ([`PLAN_STACK`]) holds far more, and binding has its own limit
/// ([`bind::MAX_EXPR_DEPTH`]).
const PARSE_DEPTH: usize = 2000;

fn parse_statements(text: &str) -> Result<Vec<sqlparser::ast::Statement>> {
    Parser::new(&GenericDialect {})
        .with_recursion_limit(PARSE_DEPTH)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_statements())
        .map_err(syntax)
}

/// `DESCRIBE t`: a row per column with its name, SQL type and whether it may be NULL.
pub fn describe(schema: &arrow::datatypes::Schema) -> Result<RecordBatch> {
    use arrow::datatypes::{DataType, Field, Schema};
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| sql_type_name(f.data_type()))
        .collect();
    let nulls: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| if f.is_nullable() { "YES" } else { "NO" })
        .collect();
    let out = Arc::new(Schema::new(vec![
        Field::new("column_name", DataType::Utf8, false),
        Field::new("column_type", DataType::Utf8, false),
        Field::new("null", DataType::Utf8, false),
    ]));
    Ok(RecordBatch::try_new(
        out,
        vec![
            Arc::new(arrow::array::StringArray::from(names)),
            Arc::new(arrow::array::StringArray::from(types)),
            Arc::new(arrow::array::StringArray::from(nulls)),
        ],
    )?)
}

/// The SQL name of an Arrow type (as `DESCRIBE` shows it).
pub fn sql_type_name(t: &arrow::datatypes::DataType) -> String {
    use arrow::datatypes::DataType as D;
    match t {
        D::Int8 => "TINYINT".into(),
        D::Int16 => "SMALLINT".into(),
        D::Int32 => "INTEGER".into(),
        D::Int64 => "BIGINT".into(),
        D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => format!("{t} (unsigned)").to_uppercase(),
        D::Float32 => "REAL".into(),
        D::Float64 => "DOUBLE".into(),
        D::Decimal128(p, s) => format!("DECIMAL({p},{s})"),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "VARCHAR".into(),
        D::Boolean => "BOOLEAN".into(),
        D::Date32 | D::Date64 => "DATE".into(),
        D::Timestamp(_, None) => "TIMESTAMP".into(),
        D::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        D::Time32(_) | D::Time64(_) => "TIME".into(),
        D::Interval(_) => "INTERVAL".into(),
        D::Null => "NULL".into(),
        other => other.to_string().to_uppercase(),
    }
}

/// Rows as JSON objects, one per line (numbers stay numbers, NULL is null).
pub fn json_lines(batch: &RecordBatch) -> Result<Vec<String>> {
    use arrow::array::Array;
    use arrow::datatypes::DataType;
    let schema = batch.schema();
    let mut out = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let mut obj = serde_json::Map::new();
        for (f, c) in schema.fields().iter().zip(batch.columns()) {
            let v = if c.logical_nulls().is_some_and(|n| n.is_null(r)) {
                serde_json::Value::Null
            } else {
                let s = arrow::util::display::array_value_to_string(c, r)?;
                match c.data_type() {
                    t if t.is_integer() => s.parse::<i64>().map(Into::into).unwrap_or(s.into()),
                    DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
                        // Decimals keep their digits: numbers as written, not rounded floats.
                        serde_json::from_str::<serde_json::Number>(&s)
                            .map(serde_json::Value::Number)
                            .unwrap_or(s.into())
                    }
                    DataType::Boolean => serde_json::Value::Bool(s == "true"),
                    _ => s.into(),
                }
            };
            obj.insert(f.name().clone(), v);
        }
        out.push(serde_json::Value::Object(obj).to_string());
    }
    Ok(out)
}

/// The parser's message, with the position where it has none (an unexpected end).
fn syntax(e: sqlparser::parser::ParserError) -> SqlError {
    let m = e.to_string();
    let m = m
        .strip_prefix("sql parser error: ")
        .unwrap_or(&m)
        .to_string();
    if m.contains("Line:") {
        SqlError::Syntax(m)
    } else {
        SqlError::Syntax(format!("{m} (at the end of the statement)"))
    }
}

/// Runs a plan to completion: its rows and the operators' metrics.
fn run(p: &plan::Plan, opts: &exec::ExecOptions) -> Result<(Vec<RecordBatch>, exec::Metrics)> {
    let ctx = exec::Ctx::new(p, opts.clone());
    let parts = exec::execute(p, &ctx)?;
    let mut out: Vec<RecordBatch> = exec::collect(&ctx, parts)?.into_iter().flatten().collect();
    if out.is_empty() {
        out.push(RecordBatch::new_empty(p.schema()));
    }
    let exec::Ctx { metrics, .. } = ctx;
    Ok((out, metrics))
}

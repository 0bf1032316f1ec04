//! Federation (F1 Query's idea): tables that live in PostgreSQL, queried beside Parquet,
//! CSV and `dfs://` tables. `--table t=postgres://user@host:port/db/[schema.]table`.
//!
//! Registration reads the remote table's columns from `information_schema` (types mapped
//! to Arrow: integers, floats, `numeric(p,s)` as DECIMAL, text, boolean, date, timestamp
//! [with time zone]; other types read as text) and its row estimate from `pg_class`, for
//! join ordering. A scan sends PostgreSQL one `SELECT` of only the projected columns with
//! the scan's filters that have an exact PostgreSQL equivalent in its `WHERE`
//! ([`pushdown`]); joins, aggregates and the rest run in Strata. Every filter is applied
//! again locally, so a filter that could not be pushed, or one PostgreSQL would judge
//! differently, never changes the answer. Rows stream in on a reader thread, batch by
//! batch, through a bounded channel: a scan that stops early (a LIMIT, a cancel) closes
//! the connection and PostgreSQL stops sending.
//!
//! On a cluster the one split that owns the table reads it (tasks on other executors get
//! nothing), so PostgreSQL sees one query per scan.

pub mod pushdown;

use crate::error::{Result, SqlError};
use crate::expr::Expr;
use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// Rows per batch read from PostgreSQL.
const BATCH_ROWS: usize = 8192;

/// A table in PostgreSQL.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PgTable {
    /// The connection URL (`postgres://user[:password]@host:port/db`).
    pub url: String,
    /// The schema and table, quoted for SQL (`"public"."orders"`).
    pub relation: String,
    /// The remote column names, in the table's order.
    pub columns: Vec<String>,
}

/// Whether `path` names a PostgreSQL table.
pub fn is_postgres(path: &str) -> bool {
    path.starts_with("postgres://") || path.starts_with("postgresql://")
}

/// A double-quoted SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn connect(url: &str) -> Result<postgres::Client> {
    let mut cfg: postgres::Config = url
        .parse()
        .map_err(|e| SqlError::Plan(format!("bad PostgreSQL URL {}: {e}", redact(url))))?;
    if cfg.get_password().is_none()
        && let Ok(p) = std::env::var("PGPASSWORD")
    {
        cfg.password(p);
    }
    cfg.connect_timeout(std::time::Duration::from_secs(10));
    cfg.connect(postgres::NoTls).map_err(|e| {
        SqlError::Execution(format!(
            "cannot connect to PostgreSQL at {}: {e} (is it running, and are user, database \
             and password right? PGPASSWORD is used when the URL has no password)",
            redact(url)
        ))
    })
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let auth = &url[s + 3..at];
            match auth.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Splits `postgres://.../db/[schema.]table` into the connection URL, schema and table.
fn split_url(path: &str) -> Result<(String, String, String)> {
    let bad = || {
        SqlError::Plan(format!(
            "{}: expected postgres://user@host:port/database/[schema.]table",
            redact(path)
        ))
    };
    let (base, last) = path.rsplit_once('/').ok_or_else(bad)?;
    if last.is_empty()
        || base.ends_with("//")
        || !base[base.find("://").ok_or_else(bad)? + 3..].contains('/')
    {
        return Err(bad());
    }
    let (schema, table) = last.split_once('.').unwrap_or(("public", last));
    Ok((base.to_string(), schema.to_string(), table.to_string()))
}

/// The Arrow type a PostgreSQL column is read as (`information_schema` names).
fn arrow_type(data_type: &str, precision: Option<i32>, scale: Option<i32>) -> DataType {
    match data_type {
        "smallint" => DataType::Int16,
        "integer" => DataType::Int32,
        "bigint" => DataType::Int64,
        "real" => DataType::Float32,
        "double precision" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp without time zone" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamp with time zone" => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        }
        "numeric" => match (precision, scale) {
            (Some(p), Some(s)) if (1..=38).contains(&p) && (0..=p).contains(&s) => {
                DataType::Decimal128(p as u8, s as i8)
            }
            // Unconstrained numeric: as DOUBLE, as DuckDB's PostgreSQL scanner reads it.
            _ => DataType::Float64,
        },
        _ => DataType::Utf8,
    }
}

/// Opens the PostgreSQL table `path` as table `name`.
pub fn open(name: &str, path: &str) -> Result<crate::catalog::Table> {
    let (url, schema, table) = split_url(path)?;
    let mut client = connect(&url)?;
    let rows = client
        .query(
            "SELECT column_name::text, data_type::text, numeric_precision::int4, \
             numeric_scale::int4 FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&schema, &table],
        )
        .map_err(|e| {
            SqlError::Execution(format!("reading the columns of {schema}.{table}: {e}"))
        })?;
    if rows.is_empty() {
        return Err(SqlError::Plan(format!(
            "table {name}: PostgreSQL at {} has no table {schema}.{table} (or no column of it \
             is visible to this user)",
            redact(&url)
        )));
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for r in &rows {
        let col: String = r.get(0);
        let t = arrow_type(r.get::<_, String>(1).as_str(), r.get(2), r.get(3));
        fields.push(Field::new(col.to_lowercase(), t, true));
        columns.push(col);
    }
    let relation = format!("{}.{}", quote_ident(&schema), quote_ident(&table));
    // The planner's estimate (-1 or 0 before the first ANALYZE: then unknown).
    let estimate = client
        .query_opt(
            "SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass($1)",
            &[&relation],
        )
        .ok()
        .flatten()
        .map(|r| r.get::<_, f64>(0))
        .filter(|n| *n > 0.0)
        .map(|n| n as u64);
    Ok(crate::catalog::Table {
        name: name.to_string(),
        schema: Arc::new(Schema::new(fields)),
        files: vec![std::path::PathBuf::from(path)],
        format: crate::catalog::FileFormat::Postgres(PgTable {
            url,
            relation,
            columns,
        }),
        rows: estimate,
    })
}

/// The query a scan sends: the projected columns, the pushable filters.
pub fn remote_query(
    pg: &PgTable,
    schema: &Schema,
    projection: &[usize],
    filters: &[Expr],
) -> String {
    let cols: Vec<(String, DataType)> = projection
        .iter()
        .map(|&i| (pg.columns[i].clone(), schema.field(i).data_type().clone()))
        .collect();
    let select: Vec<String> = cols
        .iter()
        .map(|(c, t)| match t {
            // Read as text, cast by Arrow (no precision lost on the way).
            DataType::Decimal128(..) | DataType::Utf8 => format!("{}::text", quote_ident(c)),
            // Unconstrained numeric read as double.
            DataType::Float64 => format!("{}::float8", quote_ident(c)),
            _ => quote_ident(c),
        })
        .collect();
    let select = if select.is_empty() {
        // No column needed (count(*)): one constant per row.
        "1".to_string()
    } else {
        select.join(", ")
    };
    let pushed: Vec<String> = filters
        .iter()
        .filter_map(|f| pushdown::to_sql(f, &cols))
        .collect();
    let mut q = format!("SELECT {select} FROM {}", pg.relation);
    if !pushed.is_empty() {
        q.push_str(" WHERE ");
        q.push_str(&pushed.join(" AND "));
    }
    q
}

/// The rows of `query`, as batches of `schema`, read on a thread of their own.
pub fn scan(
    pg: &PgTable,
    query: String,
    schema: SchemaRef,
) -> Box<dyn Iterator<Item = Result<RecordBatch>> + Send> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RecordBatch>>(2);
    let url = pg.url.clone();
    let spawned = std::thread::Builder::new()
        .name("strata-pg-scan".into())
        .spawn(move || {
            if let Err(e) = read(&url, &query, &schema, &tx) {
                let _ = tx.send(Err(e));
            }
        });
    if let Err(e) = spawned {
        return Box::new(std::iter::once(Err(SqlError::Internal(format!(
            "starting a PostgreSQL reader: {e}"
        )))));
    }
    Box::new(rx.into_iter())
}

/// Runs `query`, sending batches until the rows end or the receiver goes away.
fn read(
    url: &str,
    query: &str,
    schema: &SchemaRef,
    tx: &std::sync::mpsc::SyncSender<Result<RecordBatch>>,
) -> Result<()> {
    use postgres::fallible_iterator::FallibleIterator;
    let mut client = connect(url)?;
    let failed = |e: postgres::Error| SqlError::Execution(format!("PostgreSQL: {query}: {e}"));
    let mut rows = client
        .query_raw(query, std::iter::empty::<i32>())
        .map_err(failed)?;
    let mut cols = Columns::new(schema);
    while let Some(row) = rows.next().map_err(failed)? {
        cols.push(&row)?;
        if cols.len == BATCH_ROWS && tx.send(cols.finish(schema)).is_err() {
            // The scan stopped early: dropping the client closes the connection.
            return Ok(());
        }
    }
    if cols.len > 0 || schema.fields().is_empty() {
        let _ = tx.send(cols.finish(schema));
    }
    Ok(())
}

/// Column builders for one batch.
struct Columns {
    builders: Vec<Builder>,
    len: usize,
}

enum Builder {
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    TsTz(TimestampMicrosecondBuilder),
    /// Text, and decimals read as text (cast when the batch is finished).
    Text(StringBuilder),
}

impl Columns {
    fn new(schema: &Schema) -> Columns {
        let builders = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int16 => Builder::I16(Default::default()),
                DataType::Int32 => Builder::I32(Default::default()),
                DataType::Int64 => Builder::I64(Default::default()),
                DataType::Float32 => Builder::F32(Default::default()),
                DataType::Float64 => Builder::F64(Default::default()),
                DataType::Boolean => Builder::Bool(Default::default()),
                DataType::Date32 => Builder::Date(Default::default()),
                DataType::Timestamp(_, None) => Builder::Ts(Default::default()),
                DataType::Timestamp(_, Some(_)) => Builder::TsTz(Default::default()),
                _ => Builder::Text(Default::default()),
            })
            .collect();
        Columns { builders, len: 0 }
    }

    fn push(&mut self, row: &postgres::Row) -> Result<()> {
        let bad = |e: postgres::Error| SqlError::Execution(format!("PostgreSQL value: {e}"));
        for (i, b) in self.builders.iter_mut().enumerate() {
            match b {
                Builder::I16(b) => b.append_option(row.try_get::<_, Option<i16>>(i).map_err(bad)?),
                Builder::I32(b) => b.append_option(row.try_get::<_, Option<i32>>(i).map_err(bad)?),
                Builder::I64(b) => b.append_option(row.try_get::<_, Option<i64>>(i).map_err(bad)?),
                Builder::F32(b) => b.append_option(row.try_get::<_, Option<f32>>(i).map_err(bad)?),
                Builder::F64(b) => b.append_option(row.try_get::<_, Option<f64>>(i).map_err(bad)?),
                Builder::Bool(b) => {
                    b.append_option(row.try_get::<_, Option<bool>>(i).map_err(bad)?)
                }
                Builder::Date(b) => {
                    let d = row
                        .try_get::<_, Option<chrono::NaiveDate>>(i)
                        .map_err(bad)?;
                    b.append_option(d.map(|d| {
                        (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days()
                            as i32
                    }))
                }
                Builder::Ts(b) => {
                    let t = row
                        .try_get::<_, Option<chrono::NaiveDateTime>>(i)
                        .map_err(bad)?;
                    b.append_option(t.map(|t| t.and_utc().timestamp_micros()))
                }
                Builder::TsTz(b) => {
                    let t = row
                        .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(i)
                        .map_err(bad)?;
                    b.append_option(t.map(|t| t.timestamp_micros()))
                }
                Builder::Text(b) => {
                    b.append_option(row.try_get::<_, Option<&str>>(i).map_err(bad)?)
                }
            }
        }
        self.len += 1;
        Ok(())
    }

    /// The rows so far as a batch of `schema`; the builders start again empty.
    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.builders.len());
        for (b, f) in self.builders.iter_mut().zip(schema.fields()) {
            let a: ArrayRef = match b {
                Builder::I16(b) => Arc::new(b.finish()),
                Builder::I32(b) => Arc::new(b.finish()),
                Builder::I64(b) => Arc::new(b.finish()),
                Builder::F32(b) => Arc::new(b.finish()),
                Builder::F64(b) => Arc::new(b.finish()),
                Builder::Bool(b) => Arc::new(b.finish()),
                Builder::Date(b) => Arc::new(b.finish()),
                Builder::Ts(b) => Arc::new(b.finish()),
                Builder::TsTz(b) => Arc::new(b.finish().with_timezone("+00:00")),
                Builder::Text(b) => {
                    let a: ArrayRef = Arc::new(b.finish());
                    if a.data_type() == f.data_type() {
                        a
                    } else {
                        arrow::compute::cast(&a, f.data_type())?
                    }
                }
            };
            arrays.push(a);
        }
        let n = self.len;
        self.len = 0;
        Ok(RecordBatch::try_new_with_options(
            schema.clone(),
            arrays,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(n)),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_connection_and_table() {
        let (u, s, t) = split_url("postgres://me@127.0.0.1:5432/test/sales.orders").unwrap();
        assert_eq!(
            (u.as_str(), s.as_str(), t.as_str()),
            ("postgres://me@127.0.0.1:5432/test", "sales", "orders")
        );
        let (_, s, t) = split_url("postgresql://me@h/db/orders").unwrap();
        assert_eq!((s.as_str(), t.as_str()), ("public", "orders"));
        assert!(split_url("postgres://me@h/orders").is_err(), "no database");
        assert_eq!(redact("postgres://me:pw@h/db"), "postgres://me:***@h/db");
    }
}

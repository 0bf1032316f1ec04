//! Streaming SQL for the common subset, on the DataStream runtime and Strata SQL's engine.
//!
//! A query reads JSON-lines tables (files or NATS JetStream streams) and may window them with
//! Flink's windowing table functions over an event-time column:
//! `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))`,
//! `TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND))` (slide,
//! size) and `TABLE(SESSION(TABLE t PARTITION BY k, DESCRIPTOR(ts), INTERVAL '10' SECOND))`,
//! each adding `window_start` and `window_end` columns. Watermarks trail each partition's
//! event time by a bound.
//!
//! How it runs: each table function becomes a window of the stream engine (rows keyed by
//! window, or by the session's partition key with merging windows); when the watermark passes
//! a window's end, the rows of that window are decoded into Arrow batches, registered as the
//! table function's table, and the whole query runs over them in Strata SQL (its parser,
//! binder, optimizer and vectorized executor) — projections, filters, joins and `GROUP BY`
//! within the window, as Flink's window TVF semantics define them. A query without table
//! functions (projections and filters) runs on micro-batches of rows as they arrive. State,
//! watermarks and exactly-once output are the stream engine's.
//!
//! Not here: joins between windowed and unwindowed tables, regular (unbounded) joins and
//! aggregations, the legacy `GROUP BY TUMBLE(...)` syntax.

use std::sync::Arc;

use arrow::array::{ArrayRef, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use strata_storage::StorageOptions;

use crate::api::DataStream;
use crate::error::{Result, StreamError};
use crate::nexmark::Output;
use crate::operator::{Control, Operator, Record, Snapshot};
use crate::process::{KeyedProcessFunction, ProcessContext};
use crate::time::{Ts, format_ts, parse_ts};
use crate::window::{Aggregate, Assigner, Window};
use crate::{StreamEnv, WatermarkStrategy};

fn invalid(msg: impl Into<String>) -> StreamError {
    StreamError::Invalid(msg.into())
}

fn sql_err(e: strata_sql::SqlError) -> StreamError {
    StreamError::Invalid(format!("SQL: {e}"))
}

/// A table: JSON lines under a URL, optionally only the rows whose `field` equals `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// The name queries use.
    pub name: String,
    /// Directory, file or `nats://host:port/STREAM`.
    pub url: String,
    /// `(field, value)`: keep rows with this string value (e.g. Nexmark's `type=bid`).
    pub filter: Option<(String, String)>,
}

impl TableSpec {
    /// Parses `NAME=URL[#FIELD=VALUE]`.
    pub fn parse(s: &str) -> Result<Self> {
        let (name, rest) = s
            .split_once('=')
            .ok_or_else(|| invalid(format!("--table {s}: write NAME=URL[#FIELD=VALUE]")))?;
        let (url, filter) = match rest.split_once('#') {
            Some((u, f)) => {
                let (k, v) = f.split_once('=').ok_or_else(|| {
                    invalid(format!("--table {s}: the filter after # is FIELD=VALUE"))
                })?;
                (u, Some((k.to_string(), v.to_string())))
            }
            None => (rest, None),
        };
        if name.is_empty() || url.is_empty() {
            return Err(invalid(format!(
                "--table {s}: write NAME=URL[#FIELD=VALUE]"
            )));
        }
        Ok(TableSpec {
            name: name.to_lowercase(),
            url: url.to_string(),
            filter,
        })
    }
}

/// A windowing table function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WindowKind {
    /// `TUMBLE(.., size)`.
    Tumble {
        /// ms.
        size: i64,
    },
    /// `HOP(.., slide, size)`.
    Hop {
        /// ms.
        slide: i64,
        /// ms.
        size: i64,
    },
    /// `SESSION(TABLE t PARTITION BY cols, .., gap)`.
    Session {
        /// ms.
        gap: i64,
        /// Partition columns.
        partition: Vec<String>,
    },
}

/// One table function occurrence: it becomes table `__wN` in the rewritten query.
#[derive(Debug, Clone, PartialEq)]
pub struct Tvf {
    /// The table it windows.
    pub table: String,
    /// The event-time column.
    pub time_column: String,
    /// The windows.
    pub kind: WindowKind,
}

/// A parsed streaming query.
#[derive(Debug, Clone)]
pub struct StreamingQuery {
    /// The query with each table function replaced by `__w0`, `__w1`, ...
    pub text: String,
    /// The table functions, by index.
    pub tvfs: Vec<Tvf>,
}

fn interval_ms(n: i64, unit: &str) -> Result<i64> {
    Ok(match unit.to_ascii_uppercase().trim_end_matches('S') {
        "MILLISECOND" => n,
        "SECOND" => n * 1000,
        "MINUTE" => n * 60_000,
        "HOUR" => n * 3_600_000,
        "DAY" => n * 86_400_000,
        u => return Err(invalid(format!("unsupported interval unit {u}"))),
    })
}

/// Finds the windowing table functions of `sql` and rewrites them to plain tables.
pub fn parse_query(sql: &str) -> Result<StreamingQuery> {
    let tvf = regex::Regex::new(
        r"(?i)TABLE\s*\(\s*(TUMBLE|HOP|SESSION)\s*\(\s*TABLE\s+(\w+)(?:\s+PARTITION\s+BY\s+([\w\s,`]+?))?\s*,\s*DESCRIPTOR\s*\(\s*`?(\w+)`?\s*\)((?:\s*,\s*INTERVAL\s*'\d+'\s*\w+)+)\s*\)\s*\)",
    )
    .expect("valid regex");
    let interval = regex::Regex::new(r"(?i)INTERVAL\s*'(\d+)'\s*(\w+)").expect("valid regex");
    let mut tvfs = Vec::new();
    let mut text = String::new();
    let mut last = 0;
    for c in tvf.captures_iter(sql) {
        let m = c.get(0).expect("whole match");
        let kind_name = c[1].to_ascii_uppercase();
        let table = c[2].to_lowercase();
        let time_column = c[4].to_string();
        let mut ivs = Vec::new();
        for i in interval.captures_iter(&c[5]) {
            let n: i64 = i[1]
                .parse()
                .map_err(|_| invalid(format!("bad interval {}", &i[0])))?;
            ivs.push(interval_ms(n, &i[2])?);
        }
        let kind = match (kind_name.as_str(), ivs.as_slice()) {
            ("TUMBLE", [size]) if *size > 0 => WindowKind::Tumble { size: *size },
            ("HOP", [slide, size]) if *slide > 0 && *size > 0 => WindowKind::Hop {
                slide: *slide,
                size: *size,
            },
            ("SESSION", [gap]) if *gap > 0 => WindowKind::Session {
                gap: *gap,
                partition: c
                    .get(3)
                    .map(|p| {
                        p.as_str()
                            .split(',')
                            .map(|s| s.trim().trim_matches('`').to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            _ => {
                return Err(invalid(format!(
                    "{}: TUMBLE takes one positive INTERVAL (size), HOP two (slide, size), \
                     SESSION one (gap)",
                    m.as_str()
                )));
            }
        };
        text.push_str(&sql[last..m.start()]);
        text.push_str(&format!("__w{}", tvfs.len()));
        last = m.end();
        tvfs.push(Tvf {
            table,
            time_column,
            kind,
        });
    }
    text.push_str(&sql[last..]);
    if let Some(first) = tvfs.first() {
        if tvfs
            .iter()
            .any(|t| t.kind != first.kind || t.time_column != first.time_column)
        {
            return Err(invalid(
                "every window table function of a query must have the same windows over the \
                 same time column (rows meet only within one window)",
            ));
        }
        if matches!(first.kind, WindowKind::Session { .. })
            && tvfs.iter().any(|t| t.table != first.table)
        {
            return Err(invalid(
                "session windows of different tables cannot be joined",
            ));
        }
    }
    if regex::Regex::new(r"(?i)\bGROUP\s+BY\b[^;]*\b(TUMBLE|HOP|SESSION)\s*\(")
        .expect("valid regex")
        .is_match(&text)
    {
        return Err(invalid(
            "GROUP BY TUMBLE(...)/HOP(...)/SESSION(...) is the legacy syntax; use the window \
             table functions: FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
             ... GROUP BY window_start, window_end",
        ));
    }
    Ok(StreamingQuery {
        text: text.replace('`', "\""),
        tvfs,
    })
}

/// A row of some table: its index among the job's tables, event time, and JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    table: u16,
    ts: Ts,
    json: String,
}

struct Tables {
    specs: Vec<TableSpec>,
    schemas: Vec<SchemaRef>,
}

fn infer_schema(spec: &TableSpec, storage: &StorageOptions) -> Result<SchemaRef> {
    let mut sample: Vec<serde_json::Value> = Vec::new();
    let mut consider = |line: &[u8]| -> bool {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line)
            && keep(&v, &spec.filter)
        {
            sample.push(v);
        }
        sample.len() >= 2000
    };
    if spec.url.starts_with("nats://") {
        let src =
            crate::jetstream::JetStreamSource::bounded(&spec.url, |b: &[u8]| Ok(Some(b.to_vec())))?;
        let mut r = crate::source::Source::open(&src, "", 0)?;
        let mut buf = Vec::new();
        for _ in 0..50 {
            buf.clear();
            if r.poll(1000, &mut buf)? == crate::source::Poll::End {
                break;
            }
            if buf.iter().any(|l| consider(l)) {
                break;
            }
        }
    } else {
        use std::io::BufRead;
        let (store, path) = strata_storage::resolve(&spec.url, storage)?;
        'files: for f in store.list(&path)?.files {
            let (s, p) = strata_storage::resolve(&f.url, storage)?;
            for line in std::io::BufReader::new(s.open(&p)?).split(b'\n') {
                let line = line.map_err(|e| invalid(format!("{}: {e}", f.url)))?;
                if consider(&line) {
                    break 'files;
                }
            }
        }
    }
    if sample.is_empty() {
        return Err(invalid(format!(
            "table {}: no JSON rows found at {} to infer its columns from",
            spec.name, spec.url
        )));
    }
    let schema = arrow::json::reader::infer_json_schema_from_iterator(sample.iter().map(Ok))
        .map_err(|e| invalid(format!("table {}: {e}", spec.name)))?;
    Ok(Arc::new(schema))
}

fn keep(v: &serde_json::Value, filter: &Option<(String, String)>) -> bool {
    match filter {
        None => true,
        Some((k, want)) => match v.get(k) {
            Some(serde_json::Value::String(s)) => s == want,
            Some(other) => other.to_string().as_str() == want.as_str(),
            None => false,
        },
    }
}

fn with_window_columns(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for n in ["window_start", "window_end"] {
        fields.push(Field::new(
            n,
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ));
    }
    Arc::new(Schema::new(fields))
}

/// Decodes JSON rows into one batch of `schema` (plus the window columns when given).
fn decode(schema: &SchemaRef, rows: &[&str], window: Option<Window>) -> Result<RecordBatch> {
    let mut dec = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()
        .map_err(|e| invalid(format!("JSON: {e}")))?;
    let text = rows.join("\n");
    dec.decode(text.as_bytes())
        .map_err(|e| invalid(format!("JSON: {e}")))?;
    let batch = match dec.flush().map_err(|e| invalid(format!("JSON: {e}")))? {
        Some(b) => b,
        None => RecordBatch::new_empty(schema.clone()),
    };
    let Some(w) = window else { return Ok(batch) };
    let n = batch.num_rows();
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    cols.push(Arc::new(TimestampMillisecondArray::from_value(w.start, n)));
    cols.push(Arc::new(TimestampMillisecondArray::from_value(w.end, n)));
    RecordBatch::try_new(with_window_columns(schema), cols)
        .map_err(|e| invalid(format!("batch: {e}")))
}

/// Renders result batches as CSV rows (timestamps as `YYYY-MM-DD HH:MM:SS.mmm`).
fn render(batches: &[RecordBatch]) -> Result<Vec<String>> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let mut out = Vec::new();
    let opts = FormatOptions::default().with_null("");
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("format: {e}")))?;
        for i in 0..b.num_rows() {
            let mut line = String::new();
            for (j, f) in fmts.iter().enumerate() {
                if j > 0 {
                    line.push(',');
                }
                let col = b.column(j);
                let v = match col.data_type() {
                    DataType::Timestamp(TimeUnit::Millisecond, _) if col.is_valid(i) => {
                        let a = col
                            .as_any()
                            .downcast_ref::<TimestampMillisecondArray>()
                            .expect("timestamp(ms) array");
                        format_ts(a.value(i))
                    }
                    _ => f.value(i).to_string(),
                };
                crate::sink::csv_field(&mut line, &v);
            }
            out.push(line);
        }
    }
    Ok(out)
}

/// The query plus what it runs over, shared by every task.
struct Runner {
    query: StreamingQuery,
    tables: Tables,
}

impl Runner {
    /// Runs the query over `rows` (of any table) in window `window` (None: unwindowed).
    fn run(&self, rows: &[Row], window: Option<Window>) -> Result<Vec<String>> {
        let mut engine = strata_sql::Engine::new();
        if window.is_some() {
            for (i, t) in self.query.tvfs.iter().enumerate() {
                let ti = self.table_index(&t.table)?;
                let lines: Vec<&str> = rows
                    .iter()
                    .filter(|r| r.table as usize == ti)
                    .map(|r| r.json.as_str())
                    .collect();
                let batch = decode(&self.tables.schemas[ti], &lines, window)?;
                engine
                    .register_batches(&format!("__w{i}"), batch.schema(), vec![batch])
                    .map_err(sql_err)?;
            }
        } else {
            for (ti, spec) in self.tables.specs.iter().enumerate() {
                let lines: Vec<&str> = rows
                    .iter()
                    .filter(|r| r.table as usize == ti)
                    .map(|r| r.json.as_str())
                    .collect();
                let batch = decode(&self.tables.schemas[ti], &lines, None)?;
                engine
                    .register_batches(&spec.name, batch.schema(), vec![batch])
                    .map_err(sql_err)?;
            }
        }
        let batches = engine.sql(&self.query.text).map_err(sql_err)?;
        render(&batches)
    }

    fn table_index(&self, name: &str) -> Result<usize> {
        self.tables
            .specs
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| {
                invalid(format!(
                    "table {name} is not declared; add --table {name}=URL"
                ))
            })
    }

    /// The result's column names (planned over empty tables).
    fn header(&self) -> Result<String> {
        let mut engine = strata_sql::Engine::new();
        if self.query.tvfs.is_empty() {
            for (ti, s) in self.tables.specs.iter().enumerate() {
                let b = RecordBatch::new_empty(self.tables.schemas[ti].clone());
                engine
                    .register_batches(&s.name, b.schema(), vec![])
                    .map_err(sql_err)?;
            }
        } else {
            for (i, t) in self.query.tvfs.iter().enumerate() {
                let ti = self.table_index(&t.table)?;
                engine
                    .register_batches(
                        &format!("__w{i}"),
                        with_window_columns(&self.tables.schemas[ti]),
                        vec![],
                    )
                    .map_err(sql_err)?;
            }
        }
        let plan = engine.plan(&self.query.text).map_err(sql_err)?;
        Ok(plan
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
            .join(","))
    }
}

/// Tumbling and hopping windows: a window's rows, run through the query when it closes.
struct WindowQuery(Arc<Runner>);

/// Keyed by window; each record is a row paired with its window.
impl KeyedProcessFunction<(Ts, Ts), ((Ts, Ts), Row), String> for WindowQuery {
    type State = Vec<Row>;
    fn process(
        &self,
        k: &(Ts, Ts),
        st: &mut Vec<Row>,
        rec: Record<((Ts, Ts), Row)>,
        ctx: &mut ProcessContext<String>,
    ) {
        if st.is_empty() {
            ctx.register_timer(k.1 - 1);
        }
        st.push(rec.value.1);
    }
    fn on_timer(&self, k: &(Ts, Ts), st: &mut Vec<Row>, ts: Ts, ctx: &mut ProcessContext<String>) {
        let w = Window {
            start: k.0,
            end: k.1,
        };
        match self.0.run(st, Some(w)) {
            Ok(rows) => rows.into_iter().for_each(|r| ctx.emit(ts, r)),
            Err(e) => tracing::error!("window {w:?}: {e}"),
        }
        ctx.clear_state();
    }
}

/// Unwindowed queries: rows gathered between watermarks, ticks and barriers, run as one
/// micro-batch.
struct MicroBatch {
    runner: Arc<Runner>,
    rows: Vec<Row>,
    next: Box<dyn Operator<String>>,
}

impl MicroBatch {
    fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let ts = self.rows.iter().map(|r| r.ts).max().unwrap_or(0);
        let out = self.runner.run(&self.rows, None)?;
        self.rows.clear();
        for value in out {
            self.next.process(Record { ts, value })?;
        }
        Ok(())
    }
}

impl Control for MicroBatch {
    fn watermark(&mut self, wm: Ts) -> Result<()> {
        self.flush()?;
        self.next.watermark(wm)
    }
    fn idle(&mut self) -> Result<()> {
        self.next.idle()
    }
    fn tick(&mut self, now: Ts) -> Result<()> {
        self.flush()?;
        self.next.tick(now)
    }
    fn snapshot(&mut self, cp: u64, snap: &mut Snapshot) -> Result<()> {
        self.flush()?;
        self.next.snapshot(cp, snap)
    }
    fn finish(&mut self) -> Result<()> {
        self.flush()?;
        self.next.finish()
    }
}

impl Operator<Row> for MicroBatch {
    fn process(&mut self, rec: Record<Row>) -> Result<()> {
        self.rows.push(rec.value);
        if self.rows.len() >= 8192 {
            self.flush()?;
        }
        Ok(())
    }
}

/// Adds streaming query `sql` over `tables` to `env`, writing result rows to `out`;
/// watermarks trail event time by `bound`. Returns the output's CSV header.
pub fn build(
    env: &StreamEnv,
    sql: &str,
    tables: &[TableSpec],
    bound: std::time::Duration,
    out: &Output,
) -> Result<String> {
    let query = parse_query(sql)?;
    let storage = env.config().storage;
    let mut schemas = Vec::new();
    for t in tables {
        schemas.push(infer_schema(t, &storage)?);
    }
    let runner = Arc::new(Runner {
        query,
        tables: Tables {
            specs: tables.to_vec(),
            schemas,
        },
    });
    let header = runner.header()?;
    let time_column = runner.query.tvfs.first().map(|t| t.time_column.clone());
    if let Some(tc) = &time_column {
        for t in &runner.query.tvfs {
            let ti = runner.table_index(&t.table)?;
            if runner.tables.schemas[ti].field_with_name(tc).is_err() {
                return Err(invalid(format!("table {}: no time column {tc}", t.table)));
            }
        }
    }
    // One source per table, unioned.
    let mut rows: Option<DataStream<Row>> = None;
    for (ti, spec) in tables.iter().enumerate() {
        let filter = spec.filter.clone();
        let tc = time_column.clone();
        let name = spec.name.clone();
        let parse = move |b: &[u8]| -> Result<Option<Row>> {
            let v: serde_json::Value = serde_json::from_slice(b)
                .map_err(|e| invalid(format!("table {name}: not a JSON object: {e}")))?;
            if !keep(&v, &filter) {
                return Ok(None);
            }
            let ts = match &tc {
                Some(c) => match v.get(c) {
                    Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
                    Some(serde_json::Value::String(s)) => parse_ts(s).ok_or_else(|| {
                        invalid(format!("table {name}: {c} = {s:?} is not a timestamp"))
                    })?,
                    _ => return Err(invalid(format!("table {name}: a row has no {c}"))),
                },
                None => 0,
            };
            let json = String::from_utf8_lossy(b).trim_end().to_string();
            Ok(Some(Row {
                table: ti as u16,
                ts,
                json,
            }))
        };
        let wm = WatermarkStrategy::bounded(bound, |r: &Row| r.ts)
            .with_idleness(std::time::Duration::from_secs(5));
        let s = if spec.url.starts_with("nats://") {
            env.source(
                crate::jetstream::JetStreamSource::bounded(&spec.url, parse)?,
                wm,
            )
        } else {
            env.source(
                crate::source::LinesSource::new(
                    spec.url.clone(),
                    storage.clone(),
                    move |l: &str| parse(l.as_bytes()),
                ),
                wm,
            )
        };
        rows = Some(match rows {
            None => s,
            Some(prev) => prev.union(&s),
        });
    }
    let rows = rows.ok_or_else(|| invalid("declare at least one --table"))?;
    let results: DataStream<String> = match runner.query.tvfs.first().map(|t| t.kind.clone()) {
        None => {
            let r = runner.clone();
            rows.chain(move |_, _, next| {
                Ok(Box::new(MicroBatch {
                    runner: r.clone(),
                    rows: Vec::new(),
                    next,
                }))
            })
        }
        Some(WindowKind::Tumble { size }) | Some(WindowKind::Hop { size, slide: _ }) => {
            let slide = match runner.query.tvfs[0].kind {
                WindowKind::Hop { slide, .. } => slide,
                _ => size,
            };
            let assigner = Assigner::Sliding { size, slide };
            rows.flat_map(move |r: Row| {
                let mut ws = Vec::new();
                assigner.assign(r.ts, &mut ws);
                ws.into_iter()
                    .map(|w| ((w.start, w.end), r.clone()))
                    .collect()
            })
            .key_by(|(w, _): &((Ts, Ts), Row)| *w)
            .process(WindowQuery(runner.clone()))
        }
        Some(WindowKind::Session { gap, partition }) => {
            let r = runner.clone();
            rows.key_by(move |row: &Row| {
                let v: serde_json::Value = serde_json::from_str(&row.json).unwrap_or_default();
                partition
                    .iter()
                    .map(|c| v.get(c).map(|x| x.to_string()).unwrap_or_default())
                    .collect::<Vec<_>>()
            })
            .window(Assigner::Session { gap })
            .aggregate(Aggregate::new(
                Vec::new,
                |a: &mut Vec<Row>, r: &Row| a.push(r.clone()),
                |a: &mut Vec<Row>, mut b: Vec<Row>| a.append(&mut b),
                |a: &Vec<Row>| a.clone(),
            ))
            .flat_map(move |f| match r.run(&f.value, Some(f.window)) {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!("session {:?}: {e}", f.window);
                    Vec::new()
                }
            })
        }
    };
    results.sink_files(out.sink(&header, |r: &String, o: &mut String| o.push_str(r)));
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_table_functions_are_found_and_rewritten() {
        let q = parse_query(
            "SELECT auction, count(*) AS n, window_start FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), \
             INTERVAL '2' SECOND, INTERVAL '10' SECOND)) GROUP BY auction, window_start, window_end",
        )
        .unwrap();
        assert_eq!(q.tvfs.len(), 1);
        assert_eq!(
            q.tvfs[0].kind,
            WindowKind::Hop {
                slide: 2000,
                size: 10_000
            }
        );
        assert_eq!(q.tvfs[0].time_column, "dateTime");
        assert!(q.text.contains("FROM __w0 GROUP BY"), "{}", q.text);
        let s = parse_query(
            "SELECT * FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))",
        )
        .unwrap();
        assert_eq!(
            s.tvfs[0].kind,
            WindowKind::Session {
                gap: 10_000,
                partition: vec!["bidder".into()]
            }
        );
        assert!(
            parse_query(
                "SELECT 1 FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '0' SECOND))"
            )
            .is_err()
        );
        let legacy =
            parse_query("SELECT count(*) FROM bid GROUP BY TUMBLE(dateTime, INTERVAL '10' SECOND)");
        assert!(
            legacy
                .unwrap_err()
                .to_string()
                .contains("window table functions")
        );
        assert_eq!(
            TableSpec::parse("bid=/tmp/x#type=bid").unwrap().filter,
            Some(("type".into(), "bid".into()))
        );
    }
}

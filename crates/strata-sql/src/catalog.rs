//! Tables: files (Parquet, CSV, JSON lines) on local disk or in a store (`dfs://`),
//! registered by name, with their schemas.

use crate::error::{Result, SqlError};
use arrow::datatypes::SchemaRef;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a table's files are encoded.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FileFormat {
    /// Apache Parquet.
    Parquet,
    /// CSV.
    Csv(CsvOptions),
    /// JSON lines: one object per line.
    Json,
    /// Record batches held in memory (registered from Arrow data).
    Memory(#[serde(with = "crate::serial::batches")] Vec<arrow::record_batch::RecordBatch>),
    /// A table in PostgreSQL (federation): read by a query per scan.
    Postgres(crate::federation::PgTable),
}

/// CSV reading options.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CsvOptions {
    /// The first line names the columns.
    pub header: bool,
    /// Field separator.
    pub delimiter: u8,
    /// The string that means NULL (besides an empty field).
    pub null: Option<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: b',',
            null: None,
        }
    }
}

/// A registered table.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Table {
    /// Its name in queries.
    pub name: String,
    /// Column names and types.
    pub schema: SchemaRef,
    /// Its files, in order.
    pub files: Vec<PathBuf>,
    /// Their encoding.
    pub format: FileFormat,
    /// Rows, when the files say (Parquet metadata); used to order joins.
    pub rows: Option<u64>,
}

/// The NULL-string pattern for the CSV reader, if one is set.
pub fn null_regex(o: &CsvOptions) -> Result<Option<regex::Regex>> {
    match &o.null {
        None => Ok(None),
        // An empty field stays NULL beside the chosen string.
        Some(n) => regex::Regex::new(&format!("^(|{})$", regex::escape(n)))
            .map(Some)
            .map_err(|e| SqlError::Plan(format!("bad --csv-null {n:?}: {e}"))),
    }
}

/// The files `path` names: a file, a directory (recursively; names starting with `_` or
/// `.` skipped, as Hadoop does), a glob, or a store URL (`dfs://host:port/dir`).
pub fn expand(path: &str) -> Result<Vec<PathBuf>> {
    let p = Path::new(path);
    let mut out = Vec::new();
    if strata_storage::is_url(path) || p.exists() {
        let l = crate::source::list(path)?;
        if l.files.is_empty() && l.hidden_files() > 0 {
            return Err(SqlError::Plan(format!(
                "{path}: {}",
                strata_storage::hidden_report(0, &l.hidden)
            )));
        }
        out = crate::source::paths(&l);
    } else if path.contains(['*', '?', '[']) {
        let g = glob::glob(path).map_err(|e| SqlError::Plan(format!("bad glob {path}: {e}")))?;
        out.extend(g.flatten().filter(|p| p.is_file()));
    }
    out.sort();
    if out.is_empty() {
        return Err(SqlError::Plan(format!(
            "no such file, directory or glob match: {path}"
        )));
    }
    Ok(out)
}

fn format_of(path: &Path, csv: &CsvOptions) -> Result<FileFormat> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => Ok(FileFormat::Parquet),
        Some("csv") | Some("tsv") | Some("txt") => Ok(FileFormat::Csv(csv.clone())),
        Some("jsonl") | Some("ndjson") | Some("json") => Ok(FileFormat::Json),
        _ => Err(SqlError::Plan(format!(
            "{}: unknown format; files must end in .parquet, .csv or .jsonl",
            path.display()
        ))),
    }
}

/// A table over record batches in memory; every batch must have `schema`'s columns.
pub fn from_batches(
    name: &str,
    schema: SchemaRef,
    batches: Vec<arrow::record_batch::RecordBatch>,
) -> Result<Table> {
    for (i, b) in batches.iter().enumerate() {
        if b.schema().fields() != schema.fields() {
            return Err(SqlError::Plan(format!(
                "table {name}: batch {i} has columns {:?}, expected {:?}",
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>(),
                schema.fields().iter().map(|f| f.name()).collect::<Vec<_>>()
            )));
        }
    }
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    Ok(Table {
        name: name.to_string(),
        schema,
        files: Vec::new(),
        format: FileFormat::Memory(batches),
        rows: Some(rows),
    })
}

/// Opens a table over `path` (file, directory or glob) with its schema.
pub fn open(name: &str, path: &str, csv: &CsvOptions) -> Result<Table> {
    open_as(name, path, csv, None)
}

/// [`open`], with the format named (`parquet`, `csv`, `json`) instead of taken from the
/// files' extensions.
pub fn open_as(name: &str, path: &str, csv: &CsvOptions, format: Option<&str>) -> Result<Table> {
    if crate::federation::is_postgres(path) {
        return crate::federation::open(name, path);
    }
    let files = expand(path)?;
    let named = match format {
        None => None,
        Some("parquet") => Some(FileFormat::Parquet),
        Some("csv") => Some(FileFormat::Csv(csv.clone())),
        Some("json") | Some("jsonl") | Some("ndjson") => Some(FileFormat::Json),
        Some(other) => {
            return Err(SqlError::Plan(format!(
                "unknown FORMAT {other}: parquet, csv or json"
            )));
        }
    };
    let format = match named {
        Some(f) => f,
        None => format_of(&files[0], csv)?,
    };
    for f in &files[1..] {
        if format_of(f, csv).unwrap_or(format.clone()) != format {
            return Err(SqlError::Plan(format!(
                "table {name}: {} and {} have different formats",
                files[0].display(),
                f.display()
            )));
        }
    }
    let (schema, rows) = match &format {
        FileFormat::Memory(_) | FileFormat::Postgres(_) => {
            return Err(SqlError::Internal(
                "files opened as a memory or PostgreSQL table".into(),
            ));
        }
        FileFormat::Parquet => {
            let mut rows = 0u64;
            let mut schema = None;
            for f in &files {
                let file = crate::source::TableFile::open(f)?;
                let b =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .map_err(|e| SqlError::io_other(f, e))?;
                rows += b.metadata().file_metadata().num_rows() as u64;
                schema.get_or_insert_with(|| b.schema().clone());
            }
            (schema.expect("at least one file"), Some(rows))
        }
        FileFormat::Json => {
            let f = &files[0];
            let file = crate::source::TableFile::stream(f)?;
            let (s, _) = arrow::json::reader::infer_json_schema(
                std::io::BufReader::new(file),
                Some(INFER_ROWS),
            )
            .map_err(|e| SqlError::io_other(f, e))?;
            (Arc::new(s), None)
        }
        FileFormat::Csv(o) => {
            let f = &files[0];
            let file = crate::source::TableFile::stream(f)?;
            let mut fmt = arrow::csv::reader::Format::default()
                .with_header(o.header)
                .with_delimiter(o.delimiter);
            if let Some(r) = null_regex(o)? {
                fmt = fmt.with_null_regex(r);
            }
            let (s, _) = fmt
                .infer_schema(std::io::BufReader::new(file), Some(INFER_ROWS))
                .map_err(|e| SqlError::io_other(f, e))?;
            (Arc::new(s), None)
        }
    };
    if schema.fields().is_empty() {
        return Err(SqlError::Plan(format!(
            "table {name}: {} has no columns (an empty file{}); write a header line or pick another file",
            files[0].display(),
            if matches!(format, FileFormat::Csv(_)) {
                ", or no header line"
            } else {
                ""
            }
        )));
    }
    Ok(Table {
        name: name.to_string(),
        schema: match format {
            // CSV columns are read by position, so a header without a name (R's row-name
            // column) can be given one a query can say, as DuckDB does: `column0`, ...
            FileFormat::Csv(_) => name_unnamed(text_for_unknown(schema)),
            _ => text_for_unknown(schema),
        },
        files,
        format,
        rows,
    })
}

/// Rows read to infer a CSV or JSON schema (DuckDB samples about as many).
pub const INFER_ROWS: usize = 20_000;

/// Columns with an empty (or blank) name renamed `column{i}` (i = position from 0, with `_`
/// appended while that name is taken).
fn name_unnamed(schema: SchemaRef) -> SchemaRef {
    use arrow::datatypes::{Field, Schema};
    if !schema.fields().iter().any(|f| f.name().trim().is_empty()) {
        return schema;
    }
    let mut names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    for i in 0..names.len() {
        if names[i].trim().is_empty() {
            let mut n = format!("column{i}");
            while names.iter().any(|m| m.eq_ignore_ascii_case(&n)) {
                n.push('_');
            }
            names[i] = n;
        }
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(f, n)| f.as_ref().clone().with_name(n))
        .collect();
    Arc::new(Schema::new(fields))
}

/// Columns whose type inference could not tell (NULL in every sampled row) read as text,
/// so values after the sample are kept rather than turned into NULLs.
fn text_for_unknown(schema: SchemaRef) -> SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    if !schema.fields().iter().any(|f| f.data_type().is_null()) {
        return schema;
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_null() {
                Field::new(f.name(), DataType::Utf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

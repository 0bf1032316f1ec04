//! `COPY (query) TO 'url' (FORMAT ...)`: a query's rows written as one file through the
//! storage layer (a local path, `dfs://...` or `s3://...`).
//!
//! The rows are encoded in memory and stored with one atomic put: readers see the old file
//! or the whole new one, never part of it (a local temp file renamed, a DFS file visible
//! at close, one S3 PUT). The query has read all of its input before the put, so copying a
//! table over one of its own files is safe.

use crate::error::{Result, SqlError};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use std::path::Path;

/// How the rows are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet (Snappy).
    Parquet,
    /// CSV: with a header row or not, and the field separator.
    Csv {
        /// A header row first.
        header: bool,
        /// The field separator.
        delimiter: u8,
    },
    /// One JSON object per line.
    Json,
}

impl Format {
    /// A `FORMAT` option's value, or the target's extension when there is none.
    pub fn choose(option: Option<&str>, target: &str) -> Result<Format> {
        let name = match option {
            Some(o) => o.to_ascii_lowercase(),
            None => Path::new(target)
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase(),
        };
        match name.as_str() {
            "parquet" => Ok(Format::Parquet),
            "csv" => Ok(Format::Csv {
                header: true,
                delimiter: b',',
            }),
            "json" | "jsonl" | "ndjson" => Ok(Format::Json),
            "" => Err(SqlError::Plan(format!(
                "COPY TO '{target}': say the format, e.g. (FORMAT parquet), or end the name \
                 with .parquet, .csv or .json"
            ))),
            other => Err(SqlError::NotSupported(format!(
                "COPY TO format {other:?} (use parquet, csv or json)"
            ))),
        }
    }
}

/// Encodes `rows` as `format` and stores them at `target`; returns the bytes written.
pub fn copy_to(
    target: &str,
    format: Format,
    schema: SchemaRef,
    rows: &[RecordBatch],
) -> Result<u64> {
    let bytes = encode(format, schema, rows)?;
    let (store, path) = strata_storage::resolve(target, crate::source::storage_options())
        .map_err(|e| SqlError::io_other(Path::new(target), e))?;
    store
        .put(&path, &bytes)
        .map_err(|e| SqlError::io_other(Path::new(target), e))?;
    Ok(bytes.len() as u64)
}

fn encode(format: Format, schema: SchemaRef, rows: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match format {
        Format::Parquet => {
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .build();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, Some(props))
                .map_err(|e| SqlError::Execution(format!("writing Parquet: {e}")))?;
            for b in rows {
                w.write(b)
                    .map_err(|e| SqlError::Execution(format!("writing Parquet: {e}")))?;
            }
            w.close()
                .map_err(|e| SqlError::Execution(format!("writing Parquet: {e}")))?;
        }
        Format::Csv { header, delimiter } => {
            {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(header)
                    .with_delimiter(delimiter)
                    .build(&mut buf);
                if rows.iter().all(|b| b.num_rows() == 0) {
                    // A header even without rows.
                    w.write(&RecordBatch::new_empty(schema))?;
                }
                for b in rows {
                    w.write(b)?;
                }
            }
            if !buf.is_empty() && !buf.ends_with(b"\n") {
                buf.push(b'\n');
            }
        }
        Format::Json => {
            for b in rows {
                for line in crate::json_lines(b)? {
                    buf.extend_from_slice(line.as_bytes());
                    buf.push(b'\n');
                }
            }
        }
    }
    Ok(buf)
}

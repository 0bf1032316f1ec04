//! Reading a table: one partition per file, only the projected columns, filters applied
//! batch by batch as rows arrive.

use super::{Partitions, filter_batch, par_map};
use crate::catalog::{FileFormat, Table};
use crate::error::{Result, SqlError};
use crate::expr::Expr;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::PathBuf;

pub fn scan(table: &Table, projection: &[usize], filters: &[Expr]) -> Result<Partitions> {
    let files: Vec<PathBuf> = table.files.clone();
    par_map(files, |path| {
        let file = std::fs::File::open(&path).map_err(|e| SqlError::io(&path, e))?;
        let batches: Box<dyn Iterator<Item = Result<RecordBatch>>> = match &table.format {
            FileFormat::Parquet => {
                let b = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| SqlError::io_other(&path, e))?;
                let mask = ProjectionMask::roots(b.parquet_schema(), projection.iter().copied());
                let r = b
                    .with_projection(mask)
                    .with_batch_size(8192)
                    .build()
                    .map_err(|e| SqlError::io_other(&path, e))?;
                let p = path.clone();
                Box::new(r.map(move |b| b.map_err(|e| SqlError::io_other(&p, e))))
            }
            FileFormat::Json => {
                let r = arrow::json::ReaderBuilder::new(table.schema.clone())
                    .with_batch_size(8192)
                    .build(std::io::BufReader::with_capacity(1 << 20, file))
                    .map_err(|e| SqlError::io_other(&path, e))?;
                let p = path.clone();
                let cols = projection.to_vec();
                Box::new(r.map(move |b| {
                    b.and_then(|b| b.project(&cols)).map_err(|e| SqlError::Io {
                        path: p.clone(),
                        reason: format!("malformed JSON line: {e}"),
                    })
                }))
            }
            FileFormat::Csv(o) => {
                let mut b = arrow::csv::ReaderBuilder::new(table.schema.clone())
                    .with_header(o.header)
                    .with_delimiter(o.delimiter)
                    .with_projection(projection.to_vec())
                    .with_batch_size(8192);
                if let Some(r) = crate::catalog::null_regex(o)? {
                    b = b.with_null_regex(r);
                }
                let r = b
                    .build(std::io::BufReader::with_capacity(1 << 20, file))
                    .map_err(|e| SqlError::io_other(&path, e))?;
                let p = path.clone();
                Box::new(r.map(move |b| {
                    b.map_err(|e| SqlError::Io {
                        path: p.clone(),
                        reason: format!("malformed CSV: {e}"),
                    })
                }))
            }
        };
        let mut out = Vec::new();
        for b in batches {
            let mut b = b?;
            for f in filters {
                let m = f.eval(&b)?.into_array(b.num_rows())?;
                b = filter_batch(&b, &m)?;
            }
            if b.num_rows() > 0 {
                out.push(b);
            }
        }
        Ok(out)
    })
}

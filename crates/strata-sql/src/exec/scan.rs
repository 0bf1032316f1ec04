//! Reading a table: a lazy stream per file (or per group of files when running on fewer
//! partitions), only the projected columns, filters applied batch by batch as rows arrive.

use super::{Ctx, OpMetrics, Stream, filter_batch};
use crate::catalog::{FileFormat, Table};
use crate::error::{Result, SqlError};
use crate::expr::Expr;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::PageIndexPolicy;
use std::path::PathBuf;

pub fn scan<'a>(
    ctx: &Ctx,
    m: &'a OpMetrics,
    table: &'a Table,
    projection: &'a [usize],
    filters: &'a [Expr],
) -> Result<Vec<Stream<'a>>> {
    if let FileFormat::Memory(batches) = &table.format {
        // Batches dealt round-robin to one partition per thread.
        let n = ctx.opts.threads.max(1).min(batches.len().max(1));
        if let Some((k, of)) = ctx.split {
            let mine = batches.iter().skip(k).step_by(of.max(1));
            return Ok(vec![filtered(
                m,
                filters,
                mine.map(|b| Ok(b.project(projection)?)),
            )]);
        }
        return Ok((0..n)
            .map(|p| -> Stream<'a> {
                let mine = batches.iter().skip(p).step_by(n);
                filtered(m, filters, mine.map(|b| Ok(b.project(projection)?)))
            })
            .collect());
    }
    if let Some((k, n)) = ctx.split {
        return split(m, table, projection, filters, k, n);
    }
    let files: Vec<PathBuf> = table.files.clone();
    if ctx.opts.threads <= 1 {
        // One partition: the files one after another.
        let it = files.into_iter().flat_map(move |p| {
            match open(m, table, projection, filters, p, None) {
                Ok(s) => s,
                Err(e) => Box::new(std::iter::once(Err(e))),
            }
        });
        return Ok(vec![Box::new(it)]);
    }
    Ok(files
        .into_iter()
        .map(|p| -> Stream<'a> {
            // Opened when first pulled, so only the files being read hold buffers.
            Box::new(std::iter::once(p).flat_map(move |p| {
                match open(m, table, projection, filters, p, None) {
                    Ok(s) => s,
                    Err(e) => Box::new(std::iter::once(Err(e))),
                }
            }))
        })
        .collect())
}

/// Split `k` of `n` of a table, as one partition: the units of work (row groups of
/// Parquet files, whole files of other formats) numbered across the table's files, and
/// every `n`th from the `k`th read. Tasks on different machines read disjoint parts of a
/// table this way (distributed SQL); each reads the footers of every file to number them.
fn split<'a>(
    m: &'a OpMetrics,
    table: &'a Table,
    projection: &'a [usize],
    filters: &'a [Expr],
    k: usize,
    n: usize,
) -> Result<Vec<Stream<'a>>> {
    let n = n.max(1);
    let mut mine: Vec<(PathBuf, Option<Vec<usize>>)> = Vec::new();
    if matches!(table.format, FileFormat::Parquet) {
        let mut unit = 0;
        for path in &table.files {
            let file = crate::source::TableFile::open(path)?;
            let meta = parquet::file::metadata::ParquetMetaDataReader::new()
                .parse_and_finish(&file)
                .map_err(|e| SqlError::io_other(path, e))?;
            let groups: Vec<usize> = (0..meta.num_row_groups())
                .filter(|g| (unit + g) % n == k)
                .collect();
            unit += meta.num_row_groups();
            if !groups.is_empty() {
                mine.push((path.clone(), Some(groups)));
            }
        }
    } else {
        mine = table
            .files
            .iter()
            .enumerate()
            .filter(|(i, _)| i % n == k)
            .map(|(_, p)| (p.clone(), None))
            .collect();
    }
    let it = mine.into_iter().flat_map(move |(p, groups)| {
        match open(m, table, projection, filters, p, groups) {
            Ok(s) => s,
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    });
    Ok(vec![Box::new(it)])
}

/// The batches of one file (of `only` its row groups, when given), filtered.
fn open<'a>(
    m: &'a OpMetrics,
    table: &'a Table,
    projection: &'a [usize],
    filters: &'a [Expr],
    path: PathBuf,
    only: Option<Vec<usize>>,
) -> Result<Stream<'a>> {
    let batches: Stream<'a> = match &table.format {
        FileFormat::Parquet => {
            let file = crate::source::TableFile::open(&path)?;
            // The page index is read only when there are filters to prune pages with.
            let policy = if filters.is_empty() {
                PageIndexPolicy::Skip
            } else {
                PageIndexPolicy::Optional
            };
            let options = ArrowReaderOptions::new().with_page_index_policy(policy);
            let b = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
                .map_err(|e| SqlError::io_other(&path, e))?;
            let mut groups =
                super::prune::row_groups(b.metadata(), &table.schema, projection, filters);
            if let Some(only) = &only {
                groups.retain(|g| only.contains(g));
            }
            let pages =
                super::prune::pages(b.metadata(), &table.schema, projection, filters, &groups);
            let mask = ProjectionMask::roots(b.parquet_schema(), projection.iter().copied());
            let mut b = b
                .with_projection(mask)
                .with_row_groups(groups)
                .with_batch_size(8192);
            if let Some(sel) = pages {
                b = b.with_row_selection(sel);
            }
            let r = b.build().map_err(|e| SqlError::io_other(&path, e))?;
            let p = path.clone();
            Box::new(r.map(move |b| b.map_err(|e| SqlError::io_other(&p, e))))
        }
        FileFormat::Json => {
            let r = arrow::json::ReaderBuilder::new(table.schema.clone())
                .with_batch_size(8192)
                .build(std::io::BufReader::with_capacity(
                    1 << 20,
                    crate::source::TableFile::stream(&path)?,
                ))
                .map_err(|e| SqlError::io_other(&path, e))?;
            let p = path.clone();
            Box::new(r.map(move |b| {
                b.and_then(|b| b.project(projection))
                    .map_err(|e| SqlError::Io {
                        path: p.clone(),
                        reason: format!("malformed JSON line: {e}"),
                    })
            }))
        }
        FileFormat::Memory(_) => {
            return Err(SqlError::Internal("a memory table has no files".into()));
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
                .build(std::io::BufReader::with_capacity(
                    1 << 20,
                    crate::source::TableFile::stream(&path)?,
                ))
                .map_err(|e| SqlError::io_other(&path, e))?;
            let p = path.clone();
            Box::new(r.map(move |b| {
                b.map_err(|e| SqlError::Io {
                    path: p.clone(),
                    reason: format!(
                        "malformed CSV: {e} (column types are inferred from the first \
                         {} rows of the first file; a value of another type after them \
                         fails here)",
                        crate::catalog::INFER_ROWS
                    ),
                })
            }))
        }
    };
    Ok(filtered(m, filters, batches))
}

/// `batches` counted as read, with `filters` applied and emptied batches dropped.
fn filtered<'a>(
    m: &'a OpMetrics,
    filters: &'a [Expr],
    batches: impl Iterator<Item = Result<RecordBatch>> + Send + 'a,
) -> Stream<'a> {
    Box::new(
        batches
            .map(move |b| {
                let mut b = b?;
                m.add_read(b.num_rows() as u64);
                for f in filters {
                    let m = f.eval(&b)?.into_array(b.num_rows())?;
                    b = filter_batch(&b, &m)?;
                }
                Ok(b)
            })
            .filter(|b| !matches!(b, Ok(b) if b.num_rows() == 0)),
    )
}

/// The first batch of a table (its first file), projected: a sample for estimates.
pub fn sample(table: &Table, projection: &[usize]) -> Result<Option<RecordBatch>> {
    if let FileFormat::Memory(batches) = &table.format {
        return batches
            .first()
            .map(|b| Ok(b.project(projection)?))
            .transpose();
    }
    let Some(first) = table.files.first() else {
        return Ok(None);
    };
    let m = OpMetrics::default();
    open(&m, table, projection, &[], first.clone(), None)?
        .next()
        .transpose()
}

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
use std::sync::Arc;

pub fn scan<'a>(
    ctx: &Ctx,
    m: &'a OpMetrics,
    table: &'a Table,
    projection: &'a [usize],
    filters: &'a [Expr],
) -> Result<Vec<Stream<'a>>> {
    ctx.opts.cancel.check()?;
    let streams = partitions(ctx, m, table, projection, filters)?;
    // Each batch pulled first checks the query's cancel flag: every operator above a scan
    // stops soon after a cancel.
    Ok(streams
        .into_iter()
        .map(|s| -> Stream<'a> {
            let cancel = ctx.opts.cancel.clone();
            Box::new(s.map(move |b| {
                cancel.check()?;
                b
            }))
        })
        .collect())
}

/// The partitions of a scan: one stream each.
fn partitions<'a>(
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
        let it = files
            .into_iter()
            .flat_map(move |p| opened(m, table, projection, filters, p, None));
        return Ok(vec![Box::new(it)]);
    }
    Ok(files
        .into_iter()
        .map(|p| -> Stream<'a> {
            // Opened when first pulled, so only the files being read hold buffers.
            Box::new(
                std::iter::once(p)
                    .flat_map(move |p| opened(m, table, projection, filters, p, None)),
            )
        })
        .collect())
}

/// Split `k` of `n` of a table, as one partition: the units of work (row groups of
/// Parquet files, whole files of other formats) numbered across the table's files, and the
/// `k`th of `n` contiguous runs of them read (contiguous, so a split's bytes sit together:
/// in the same DFS chunks, near the same replicas). Tasks on different machines read
/// disjoint parts of a table this way (distributed SQL); each reads every file's footer to
/// number the units.
fn split<'a>(
    m: &'a OpMetrics,
    table: &'a Table,
    projection: &'a [usize],
    filters: &'a [Expr],
    k: usize,
    n: usize,
) -> Result<Vec<Stream<'a>>> {
    let all = units(table)?;
    let mut mine: Vec<(PathBuf, Option<Vec<usize>>)> = Vec::new();
    for u in &all[run(all.len(), k, n)] {
        let path = &table.files[u.file];
        match (mine.last_mut(), u.group) {
            (Some((p, Some(groups))), Some(g)) if p == path => groups.push(g),
            _ => mine.push((path.clone(), u.group.map(|g| vec![g]))),
        }
    }
    let it = mine
        .into_iter()
        .flat_map(move |(p, groups)| opened(m, table, projection, filters, p, groups));
    Ok(vec![Box::new(it)])
}

/// For each of `n` splits of `table` (see `split`), the machines that hold most of its
/// bytes (DFS replicas), for placing its task there; empty for data without a place.
pub fn split_hosts(table: &Table, n: usize) -> Result<Vec<Vec<String>>> {
    let n = n.max(1);
    if !matches!(table.format, FileFormat::Parquet)
        || !table.files.iter().any(|f| crate::source::is_remote(f))
    {
        return Ok(vec![Vec::new(); n]);
    }
    let all = units(table)?;
    let mut hosts: Vec<Vec<String>> = vec![Vec::new(); all.len()];
    for (f, path) in table.files.iter().enumerate() {
        let idx: Vec<usize> = (0..all.len()).filter(|&i| all[i].file == f).collect();
        let ranges: Vec<_> = idx.iter().map(|&i| all[i].bytes.clone()).collect();
        for (i, h) in idx.into_iter().zip(crate::source::hosts(path, &ranges)?) {
            hosts[i] = h;
        }
    }
    Ok((0..n)
        .map(|k| {
            // The hosts holding the most of the split's bytes.
            let mut weight: std::collections::BTreeMap<&str, u64> = Default::default();
            for i in run(all.len(), k, n) {
                for h in &hosts[i] {
                    *weight.entry(h.as_str()).or_default() += all[i].bytes.end - all[i].bytes.start;
                }
            }
            let top = weight.values().copied().max().unwrap_or(0);
            weight
                .into_iter()
                .filter(|(_, w)| *w == top && top > 0)
                .map(|(h, _)| h.to_string())
                .collect()
        })
        .collect())
}

/// A unit of a scan's work: a row group of a Parquet file, or a whole file.
struct Unit {
    file: usize,
    group: Option<usize>,
    bytes: std::ops::Range<u64>,
}

/// The units of `table`, file by file (Parquet footers read).
fn units(table: &Table) -> Result<Vec<Unit>> {
    let mut out = Vec::new();
    for (f, path) in table.files.iter().enumerate() {
        if !matches!(table.format, FileFormat::Parquet) {
            out.push(Unit {
                file: f,
                group: None,
                bytes: 0..0,
            });
            continue;
        }
        let file = crate::source::TableFile::open(path)?;
        let meta = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .map_err(|e| SqlError::io_other(path, e))?;
        for (g, rg) in meta.row_groups().iter().enumerate() {
            let (mut lo, mut hi) = (u64::MAX, 0);
            for c in rg.columns() {
                let (start, len) = c.byte_range();
                lo = lo.min(start);
                hi = hi.max(start + len);
            }
            out.push(Unit {
                file: f,
                group: Some(g),
                bytes: lo.min(hi)..hi,
            });
        }
    }
    Ok(out)
}

/// The `k`th of `n` contiguous runs of `len` units.
fn run(len: usize, k: usize, n: usize) -> std::ops::Range<usize> {
    let n = n.max(1);
    k * len / n..(k + 1) * len / n
}

/// [`open`], with a failure to open as the stream's one item.
fn opened<'a>(
    m: &'a OpMetrics,
    table: &'a Table,
    projection: &'a [usize],
    filters: &'a [Expr],
    path: PathBuf,
    only: Option<Vec<usize>>,
) -> Stream<'a> {
    open(m, table, projection, filters, path, only)
        .unwrap_or_else(|e| Box::new(std::iter::once(Err(e))))
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
        FileFormat::Postgres(pg) => {
            let query = crate::federation::remote_query(pg, &table.schema, projection, filters);
            let schema = Arc::new(table.schema.project(projection)?);
            crate::federation::scan(pg, query, schema)
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

//! Sort: in memory when the input fits the budget, else an external merge sort.
//!
//! Each thread drains one partition at a time, buffering batches; when its buffer passes
//! its share of the budget it sorts the buffer and writes it out as a run. If nothing was
//! written the buffers are sorted together in memory; otherwise every buffer becomes a run
//! too, and the runs are merged (keys compared as arrow row-format bytes), producing
//! batches lazily. `ORDER BY ... LIMIT k` (top-k) keeps only k rows per thread and never
//! spills.

use super::{Ctx, Stream, spill};
use crate::error::Result;
use crate::plan::SortKey;
use arrow::compute::{SortColumn, SortOptions, concat_batches};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use std::path::PathBuf;
use std::sync::Mutex;

const OUT_ROWS: usize = 8192;

/// Sorts `batches` by `keys`, keeping the first `fetch` rows if given.
pub fn sort_batch(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    keys: &[SortKey],
    fetch: Option<usize>,
) -> Result<RecordBatch> {
    let all = concat_batches(schema, batches)?;
    if all.num_rows() == 0 {
        return Ok(all);
    }
    let cols = keys
        .iter()
        .map(|k| {
            Ok(SortColumn {
                values: k.expr.eval(&all)?.into_array(all.num_rows())?,
                options: Some(options(k)),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let idx = arrow::compute::lexsort_to_indices(&cols, fetch)?;
    Ok(arrow::compute::take_record_batch(&all, &idx)?)
}

fn options(k: &SortKey) -> SortOptions {
    SortOptions {
        descending: !k.asc,
        nulls_first: k.nulls_first,
    }
}

/// Runs a sort over input partitions; one output partition.
pub fn sort<'a>(
    ctx: &'a Ctx,
    id: usize,
    schema: SchemaRef,
    parts: Vec<Stream<'a>>,
    keys: &'a [SortKey],
    fetch: Option<usize>,
) -> Result<Vec<Stream<'a>>> {
    let m = ctx.metrics.op(id);
    if let Some(k) = fetch {
        // Top-k: each partition keeps its best k rows as they arrive.
        let tops = ctx.par_map(parts, |s| {
            let mut best: Option<RecordBatch> = None;
            for b in s {
                let b = b?;
                let both: Vec<RecordBatch> = best.take().into_iter().chain([b]).collect();
                best = Some(sort_batch(&schema, &both, keys, Some(k))?);
            }
            Ok(best)
        })?;
        let tops: Vec<RecordBatch> = tops.into_iter().flatten().collect();
        return Ok(vec![super::once(vec![sort_batch(
            &schema,
            &tops,
            keys,
            Some(k),
        )?])]);
    }
    let runs: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let (buffers, _held): (Vec<Vec<RecordBatch>>, Vec<_>) = ctx
        .par_map(parts, |s| {
            let mut buf: Vec<RecordBatch> = Vec::new();
            let mut res = ctx.reserve("sort");
            for b in s {
                let b = b?;
                let grown = res.try_grow(b.get_array_memory_size() as u64);
                buf.push(b);
                if grown.is_err() {
                    let sorted = sort_batch(&schema, &buf, keys, None)?;
                    runs.lock()
                        .unwrap()
                        .push(spill::write_run(ctx, m, &sorted)?);
                    buf.clear();
                    res.free();
                }
            }
            Ok((buf, res))
        })?
        .into_iter()
        .unzip();
    let mut runs = runs.into_inner().unwrap();
    if runs.is_empty() {
        let all: Vec<RecordBatch> = buffers.into_iter().flatten().collect();
        return Ok(vec![super::once(vec![sort_batch(
            &schema, &all, keys, None,
        )?])]);
    }
    for buf in buffers.into_iter().filter(|b| !b.is_empty()) {
        runs.push(spill::write_run(
            ctx,
            m,
            &sort_batch(&schema, &buf, keys, None)?,
        )?);
    }
    let conv = RowConverter::new(
        keys.iter()
            .map(|k| {
                let t = k.expr.data_type(&schema)?;
                Ok(SortField::new_with_options(t, options(k)))
            })
            .collect::<Result<Vec<_>>>()?,
    )?;
    let cursors = runs
        .into_iter()
        .map(|p| Cursor::open(spill::read(p)?, keys, &conv))
        .collect::<Result<Vec<_>>>()?;
    Ok(vec![Box::new(Merge {
        cursors: cursors.into_iter().flatten().collect(),
        keys,
        conv,
        done: false,
    })])
}

/// A position in one sorted run.
struct Cursor<'a> {
    rest: Stream<'a>,
    batch: RecordBatch,
    rows: Rows,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The run's first row, or None if the run is empty.
    fn open(mut rest: Stream<'a>, keys: &[SortKey], conv: &RowConverter) -> Result<Option<Self>> {
        loop {
            match rest.next() {
                None => return Ok(None),
                Some(b) => {
                    let b = b?;
                    if b.num_rows() > 0 {
                        let rows = key_rows(&b, keys, conv)?;
                        return Ok(Some(Cursor {
                            rest,
                            batch: b,
                            rows,
                            pos: 0,
                        }));
                    }
                }
            }
        }
    }
}

fn key_rows(b: &RecordBatch, keys: &[SortKey], conv: &RowConverter) -> Result<Rows> {
    let cols = keys
        .iter()
        .map(|k| k.expr.eval(b)?.into_array(b.num_rows()))
        .collect::<Result<Vec<_>>>()?;
    Ok(conv.convert_columns(&cols)?)
}

/// A k-way merge of sorted runs (few runs: the smallest head is found by a scan).
struct Merge<'a> {
    cursors: Vec<Cursor<'a>>,
    keys: &'a [SortKey],
    conv: RowConverter,
    done: bool,
}

impl Merge<'_> {
    fn chunk(&mut self) -> Result<Option<RecordBatch>> {
        if self.cursors.is_empty() {
            return Ok(None);
        }
        // The batches this chunk takes rows from, and (batch, row) per output row.
        let mut batches: Vec<RecordBatch> = Vec::new();
        let mut slot: Vec<usize> = Vec::new();
        for c in &self.cursors {
            slot.push(batches.len());
            batches.push(c.batch.clone());
        }
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(OUT_ROWS);
        while picks.len() < OUT_ROWS && !self.cursors.is_empty() {
            let mut best = 0;
            for i in 1..self.cursors.len() {
                let (a, b) = (&self.cursors[i], &self.cursors[best]);
                if a.rows.row(a.pos) < b.rows.row(b.pos) {
                    best = i;
                }
            }
            let c = &mut self.cursors[best];
            picks.push((slot[best], c.pos));
            c.pos += 1;
            if c.pos == c.batch.num_rows() {
                let rest = std::mem::replace(&mut c.rest, Box::new(std::iter::empty()));
                match Cursor::open(rest, self.keys, &self.conv)? {
                    Some(next) => {
                        *c = next;
                        slot[best] = batches.len();
                        batches.push(c.batch.clone());
                    }
                    None => {
                        self.cursors.swap_remove(best);
                        slot.swap_remove(best);
                    }
                }
            }
        }
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        Ok(Some(arrow::compute::interleave_record_batch(
            &refs, &picks,
        )?))
    }
}

impl Iterator for Merge<'_> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.chunk() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

//! Vectorized, pipelined execution on Arrow record batches.
//!
//! [`execute`] turns a plan into *partitions*: one lazy [`Stream`] of batches each. Scans,
//! filters, projections and the probe side of a hash join are pipelined: a batch read from
//! a file flows through them without being stored. Pipeline breakers (aggregation, the
//! build side of a join, sort) drain their input partitions in parallel on all cores
//! ([`par_map`]), each thread pulling one partition through its whole pipeline.
//!
//! Breakers hold data within the [`Ctx`]'s memory budget: past it, aggregation and join
//! partition their rows by key hash into spill files and finish one bucket at a time, and
//! sort writes sorted runs and merges them ([`spill`]). Every operator counts its rows,
//! time and spilled bytes ([`Metrics`]) for `EXPLAIN ANALYZE`.

mod aggregate;
mod join;
mod join_index;
mod metrics;
mod prune;
mod recursive;
mod scan;
mod sort;
pub mod spill;
mod union;
mod window;
mod window_range;

pub use metrics::{Metrics, OpMetrics};
pub use scan::{sample, split_hosts};

use crate::error::{Result, SqlError};
use crate::plan::Plan;
use arrow::array::{ArrayRef, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use strata_runtime::{Reservation, Runtime, RuntimeConfig, ScratchDir};

/// A lazily produced sequence of batches: one partition of an operator's output.
pub type Stream<'a> = Box<dyn Iterator<Item = Result<RecordBatch>> + Send + 'a>;

/// How a query runs.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// Threads of the runtime's CPU pool a query's parallel steps may use (and, at most,
    /// partitions per scan). 1 runs everything on one partition.
    pub threads: usize,
    /// The memory pool, scratch disk and CPU threads the query draws from.
    pub runtime: Arc<Runtime>,
    /// Set from another thread to stop the query: scans check it before each batch and
    /// the query fails with [`SqlError::Cancelled`] (a wire-protocol cancel request, a
    /// client that went away).
    pub cancel: Cancel,
}

/// A flag that stops a running query (see [`ExecOptions::cancel`]); clones share it.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// Asks the queries that hold this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// An error if the flag is set.
    pub fn check(&self) -> Result<()> {
        if self.0.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(SqlError::Cancelled);
        }
        Ok(())
    }
}

impl Default for ExecOptions {
    /// The process's default runtime, all of its threads.
    fn default() -> Self {
        let runtime = Runtime::global();
        ExecOptions {
            threads: runtime.cpu().threads(),
            runtime,
            cancel: Cancel::default(),
        }
    }
}

impl ExecOptions {
    /// Options over a runtime of its own: `memory` bytes, `threads` threads, scratch files
    /// below `spill_dir` (the defaults where None).
    pub fn sized(
        memory: Option<u64>,
        threads: Option<usize>,
        spill_dir: Option<PathBuf>,
    ) -> Result<ExecOptions> {
        let d = RuntimeConfig::default();
        let cfg = RuntimeConfig {
            memory: memory.unwrap_or(d.memory),
            threads: threads.unwrap_or(d.threads),
            scratch_base: spill_dir.unwrap_or(d.scratch_base),
        };
        let runtime =
            Runtime::new(&cfg).map_err(|e| SqlError::io_other(&cfg.scratch_base, e.to_string()))?;
        Ok(ExecOptions {
            threads: cfg.threads,
            runtime,
            cancel: Cancel::default(),
        })
    }
}

/// One query's execution state: options, spill directory and per-operator metrics.
pub struct Ctx {
    /// The options.
    pub opts: ExecOptions,
    spill: Mutex<Option<ScratchDir>>,
    spill_files: AtomicUsize,
    /// Per operator, by pre-order position in the plan.
    pub metrics: Metrics,
    /// The outputs of earlier stages that `Exchange` leaves read.
    pub inputs: std::collections::HashMap<usize, Vec<RecordBatch>>,
    /// Read only split `k` of `n` of each scanned table, as one partition (a task of a
    /// distributed query; see `scan::split`).
    pub split: Option<(usize, usize)>,
    /// The rows of each recursive CTE's last round, by work-table id (see `recursive`).
    work: Mutex<std::collections::HashMap<usize, Vec<RecordBatch>>>,
}

impl Ctx {
    /// A context for running `plan`.
    pub fn new(plan: &Plan, opts: ExecOptions) -> Ctx {
        Ctx {
            opts,
            spill: Mutex::new(None),
            spill_files: AtomicUsize::new(0),
            metrics: Metrics::new(plan.size()),
            inputs: Default::default(),
            split: None,
            work: Default::default(),
        }
    }

    /// A new spill file path (the query's scratch directory is made on first use, removed
    /// with the context).
    pub fn spill_path(&self) -> Result<PathBuf> {
        let mut dir = self.spill.lock().unwrap();
        if dir.is_none() {
            let d = self.opts.runtime.disk().scratch_dir("sql").map_err(|e| {
                SqlError::io_other(&e.path, format!("cannot make a spill directory: {e}"))
            })?;
            *dir = Some(d);
        }
        let n = self.spill_files.fetch_add(1, Ordering::Relaxed);
        Ok(dir
            .as_ref()
            .expect("made above")
            .path()
            .join(format!("{n}.arrow")))
    }

    /// A reservation of the runtime's memory for one operator's buffers, which spill when
    /// it cannot grow.
    pub fn reserve(&self, what: &str) -> Reservation {
        self.opts.runtime.memory().spillable(format!("sql {what}"))
    }

    /// Runs `f` on every item on the query's threads of the runtime's CPU pool, keeping the
    /// order; the first error wins.
    pub fn par_map<T: Send, R: Send>(
        &self,
        items: Vec<T>,
        f: impl Fn(T) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        self.opts
            .runtime
            .cpu()
            .map(self.opts.threads, items, f)
            .into_iter()
            .collect()
    }
}

/// Drains every partition (in parallel), keeping the batches.
pub fn collect<'a>(ctx: &Ctx, parts: Vec<Stream<'a>>) -> Result<Vec<Vec<RecordBatch>>> {
    ctx.par_map(parts, |s| s.collect())
}

/// A converter of whole rows of `schema` into arrow's row format (equal rows, equal bytes):
/// for operators that compare or hash entire rows (UNION's dedup in recursive CTEs,
/// DELETE's multiset difference).
pub fn row_converter(schema: &arrow::datatypes::Schema) -> Result<arrow::row::RowConverter> {
    Ok(arrow::row::RowConverter::new(
        schema
            .fields()
            .iter()
            .map(|f| arrow::row::SortField::new(f.data_type().clone()))
            .collect(),
    )?)
}

/// Batches already in memory dealt round-robin to one partition per thread.
fn deal<'a>(ctx: &Ctx, rows: &[RecordBatch]) -> Vec<Stream<'a>> {
    let n = ctx.opts.threads.max(1);
    (0..n)
        .map(|p| once(rows.iter().skip(p).step_by(n).cloned().collect()))
        .collect()
}

/// A stream over batches already in memory.
pub fn once<'a>(batches: Vec<RecordBatch>) -> Stream<'a> {
    Box::new(batches.into_iter().map(Ok))
}

/// Keeps the rows where `mask` is true (NULL counts as false).
pub fn filter_batch(batch: &RecordBatch, mask: &ArrayRef) -> Result<RecordBatch> {
    let m = mask
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| SqlError::Plan("a WHERE/HAVING/ON condition must be boolean".into()))?;
    Ok(filter_record_batch(batch, m)?)
}

/// Runs a plan: its output partitions, to be drained by the caller.
pub fn execute<'a>(plan: &'a Plan, ctx: &'a Ctx) -> Result<Vec<Stream<'a>>> {
    run(plan, ctx, 0)
}

/// Runs the node at pre-order position `id`, counting its output.
fn run<'a>(plan: &'a Plan, ctx: &'a Ctx, id: usize) -> Result<Vec<Stream<'a>>> {
    let m = ctx.metrics.op(id);
    let started = std::time::Instant::now();
    let parts = run_node(plan, ctx, id)?;
    m.add_time(started.elapsed());
    Ok(parts.into_iter().map(|s| m.count(s)).collect())
}

fn run_node<'a>(plan: &'a Plan, ctx: &'a Ctx, id: usize) -> Result<Vec<Stream<'a>>> {
    let child = id + 1;
    match plan {
        Plan::Scan {
            table,
            projection,
            filters,
        } => scan::scan(ctx, ctx.metrics.op(id), table, projection, filters),
        Plan::Values { batches, .. } => Ok(vec![once(batches.clone())]),
        Plan::Exchange { stage, .. } => {
            let rows = ctx.inputs.get(stage).ok_or_else(|| {
                SqlError::Internal(format!("stage {stage}'s output was not supplied"))
            })?;
            Ok(deal(ctx, rows))
        }
        Plan::Filter { input, predicate } => Ok(run(input, ctx, child)?
            .into_iter()
            .map(|s| -> Stream<'a> {
                Box::new(
                    s.map(move |b| {
                        let b = b?;
                        let m = predicate.eval(&b)?.into_array(b.num_rows())?;
                        filter_batch(&b, &m)
                    })
                    .filter(|b| !matches!(b, Ok(b) if b.num_rows() == 0)),
                )
            })
            .collect()),
        Plan::Project { input, exprs } => {
            let schema = plan.schema();
            Ok(run(input, ctx, child)?
                .into_iter()
                .map(|s| -> Stream<'a> {
                    let schema = schema.clone();
                    Box::new(s.map(move |b| {
                        let b = b?;
                        let cols = exprs
                            .iter()
                            .map(|(e, _)| e.eval(&b)?.into_array(b.num_rows()))
                            .collect::<Result<Vec<_>>>()?;
                        Ok(RecordBatch::try_new_with_options(
                            schema.clone(),
                            cols,
                            &arrow::record_batch::RecordBatchOptions::new()
                                .with_row_count(Some(b.num_rows())),
                        )?)
                    }))
                })
                .collect())
        }
        Plan::Aggregate { input, group, aggs } => {
            let parts = run(input, ctx, child)?;
            aggregate::aggregate(
                ctx,
                id,
                input.schema(),
                parts,
                group.clone(),
                aggs.clone(),
                plan.schema(),
            )
        }
        Plan::Join {
            left,
            right,
            kind,
            on,
            filter,
        } => {
            let l = run(left, ctx, child)?;
            let r = run(right, ctx, child + left.size())?;
            join::hash_join(
                ctx,
                id,
                join::Sides {
                    left: l,
                    left_schema: left.schema(),
                    right: r,
                    right_schema: right.schema(),
                },
                *kind,
                on,
                filter.as_ref(),
                plan.schema(),
            )
        }
        Plan::Sort { input, keys, fetch } => {
            let parts = run(input, ctx, child)?;
            sort::sort(ctx, id, input.schema(), parts, keys, *fetch)
        }
        Plan::Limit { input, n, offset } => {
            let parts = run(input, ctx, child)?;
            let (mut left, mut skip) = (*n, *offset);
            let it = parts
                .into_iter()
                .flatten()
                .map_while(move |b| {
                    if left == 0 {
                        return None;
                    }
                    Some(b.map(|b| {
                        let from = skip.min(b.num_rows());
                        skip -= from;
                        let take = left.min(b.num_rows() - from);
                        left -= take;
                        b.slice(from, take)
                    }))
                })
                .filter(|b| !matches!(b, Ok(b) if b.num_rows() == 0));
            Ok(vec![Box::new(it)])
        }
        Plan::Union { inputs, distinct } => {
            let mut parts = Vec::new();
            let mut next = child;
            for i in inputs {
                parts.extend(union::aligned(run(i, ctx, next)?, plan.schema()));
                next += i.size();
            }
            if *distinct {
                union::distinct(ctx, id, plan.schema(), parts)
            } else {
                Ok(parts)
            }
        }
        Plan::Window { input, funcs } => {
            let parts = run(input, ctx, child)?;
            window::window(ctx, id, input.schema(), parts, funcs, plan.schema())
        }
        Plan::Recursive {
            anchor,
            step,
            distinct,
            work,
            schema,
        } => recursive::recursive(ctx, id, anchor, step, *distinct, *work, schema.clone()),
        Plan::WorkTable { work, .. } => recursive::work_table(ctx, *work),
    }
}

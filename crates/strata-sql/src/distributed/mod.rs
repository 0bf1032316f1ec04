//! Distributed SQL: a query's stages run as tasks on a cluster's executors, through the
//! dataflow engine's task backend and network shuffle.
//!
//! The program is SPMD like every cluster application (`strata_dataflow::cluster`): the
//! driver and each executor run the same `strata sql --master ...` command. Only the driver
//! plans; the plan reaches the executors through [`strata_dataflow::Context::on_driver`],
//! so every process then builds the same datasets in the same order:
//!
//! 1. The plan is cut into stages at its exchanges ([`crate::stages`]).
//! 2. A stage whose driving leaf is a scan runs `splits` tasks, task `k` reading split `k`
//!    of the table (row groups dealt round-robin across its files, so tasks on different
//!    machines read disjoint parts); a stage driven by a hash exchange runs one task per
//!    bucket; a stage that must see all its rows (a `LIMIT`, a right/full join, a sort,
//!    window, union or global aggregate over a gathered input) runs one task.
//! 3. Each task runs its fragment with the engine's ordinary operators on one thread
//!    ([`crate::exec`]), over its split or bucket and the gathered inputs it reads.
//! 4. Its output crosses to the next stage as Arrow IPC blocks: hash-partitioned by the
//!    group keys over the dataflow shuffle into a grouped aggregation ([`shape::Mode::Hash`]);
//!    gathered to the driver (and so handed to every process) for a join's build side
//!    (broadcast) and for inputs read whole ([`shape::Mode::Collect`]); the last stage's
//!    output is the result, gathered to the driver.
//!
//! A worker that dies mid-query costs what the dataflow scheduler re-runs: its running
//! tasks, and the map tasks whose shuffle output it held (found lost when a reducer's fetch
//! fails). Gathered outputs live in the driver and are never lost.
//!
//! Aggregations are split ([`partial`]): the producing stage aggregates its own rows and
//! only partial states cross the exchange.
//!
//! Not yet: partitioned (shuffled) joins, adaptive
//! coalescing of small buckets, skew splitting, placement of scan splits near their DFS
//! replicas; scalar subqueries run on the driver while it plans.

pub mod exchange;
pub mod partial;
pub mod shape;

use crate::error::{Result, SqlError};
use crate::exec::{self, ExecOptions};
use crate::plan::Plan;
use arrow::record_batch::RecordBatch;
use exchange::Record;
use serde_bytes::ByteBuf;
use shape::{Driving, Mode};
use std::collections::HashMap;
use std::sync::Arc;
use strata_dataflow::{Context, Dataset, DirectPartitioner};

/// Runs queries on a cluster application's executors.
pub struct Distributed {
    ctx: Context,
    splits: Option<usize>,
}

impl Distributed {
    /// Runs on `ctx`'s executors; scans split into `splits` tasks and hash exchanges into
    /// as many buckets (default: the driver's `dataflow.default_partitions`). The driver's
    /// number is the one every process uses.
    pub fn new(ctx: Context, splits: Option<usize>) -> Distributed {
        Distributed { ctx, splits }
    }

    /// Whether this process is the driver (it prints results; executors do not).
    pub fn is_driver(&self) -> bool {
        self.ctx.is_driver()
    }

    /// The dataflow context the queries run on.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Plans (on the driver only, with `plan`) and runs one query; every process of the
    /// application returns the same result or error.
    pub fn run(&self, plan: impl FnOnce() -> Result<Plan>) -> Result<Vec<RecordBatch>> {
        let mut failed: Option<SqlError> = None;
        let splits = self
            .splits
            .unwrap_or(self.ctx.config().default_partitions)
            .max(1);
        let planned = self.ctx.on_driver("plan a SQL query", || {
            plan()
                .and_then(|p| crate::serial::to_bytes(&p))
                .map(|b| (ByteBuf::from(b), splits))
                .map_err(|e| {
                    let msg = e.to_string();
                    failed = Some(e);
                    strata_dataflow::Error::Input(msg)
                })
        });
        let (bytes, splits) = match planned {
            Ok(b) => b,
            Err(e) => return Err(failed.unwrap_or_else(|| from_dataflow(e))),
        };
        let plan = crate::serial::from_bytes(&bytes)?;
        self.run_plan(&plan, splits)
    }

    fn run_plan(&self, plan: &Plan, splits: usize) -> Result<Vec<RecordBatch>> {
        let mut stages = crate::stages::stages(plan);
        partial::split_aggregates(&mut stages);
        let modes = shape::modes(&stages);
        let last = stages.len() - 1;
        let runtime = self.ctx.runtime();
        let mut collected: HashMap<usize, Vec<RecordBatch>> = HashMap::new();
        let mut shuffled: HashMap<usize, Dataset<Record>> = HashMap::new();
        for st in &stages {
            let fragment = Arc::new(st.fragment.clone());
            let mut reads = Vec::new();
            shape::inputs(&fragment, &mut reads);
            let inputs: Arc<HashMap<usize, Vec<RecordBatch>>> = Arc::new(
                reads
                    .iter()
                    .filter_map(|s| collected.get(s).map(|b| (*s, b.clone())))
                    .collect(),
            );
            let out = if st.id == last {
                Mode::Collect
            } else {
                modes.get(&st.id).cloned().unwrap_or(Mode::Collect)
            };
            let task = Task {
                fragment,
                inputs,
                out: out.clone(),
                buckets: splits,
                runtime: runtime.clone(),
            };
            let records: Dataset<Record> = match shape::driving(&st.fragment, &modes, splits) {
                Driving::Shuffle(from) => {
                    let source = shuffled.remove(&from).ok_or_else(|| {
                        SqlError::Internal(format!("stage {from}'s shuffle is read twice"))
                    })?;
                    source
                        .map_partitions(|_, it| {
                            Box::new(std::iter::once(it.map(|(_, b)| b).collect::<Vec<_>>()))
                        })
                        .try_flat_map(move |blobs: Vec<ByteBuf>| {
                            task.run(Some((from, blobs)), None).map_err(to_dataflow)
                        })
                }
                Driving::Splits(n) => self
                    .ctx
                    .parallelize_with((0..n).collect::<Vec<usize>>(), n)
                    .try_flat_map(move |k| {
                        let split = (n > 1).then_some((k, n));
                        task.run(None, split).map_err(to_dataflow)
                    }),
            };
            match out {
                Mode::Hash(_) => {
                    let p = Arc::new(DirectPartitioner::new(splits));
                    shuffled.insert(st.id, records.partition_by(p));
                }
                Mode::Collect => {
                    let blobs: Vec<ByteBuf> = records
                        .collect()
                        .map_err(from_dataflow)?
                        .into_iter()
                        .map(|(_, b)| b)
                        .collect();
                    collected.insert(st.id, exchange::decode(&blobs)?);
                }
            }
        }
        let mut rows = collected
            .remove(&last)
            .ok_or_else(|| SqlError::Internal("the result stage produced nothing".into()))?;
        if rows.is_empty() {
            // No rows still has columns (a CSV header, a table's heading).
            rows.push(RecordBatch::new_empty(plan.schema()));
        }
        Ok(rows)
    }
}

/// One stage's task: its fragment and what it reads.
struct Task {
    fragment: Arc<Plan>,
    inputs: Arc<HashMap<usize, Vec<RecordBatch>>>,
    out: Mode,
    buckets: usize,
    runtime: Arc<strata_runtime::Runtime>,
}

impl Task {
    /// Runs the fragment over bucket blocks of the driving shuffle, or over split `k` of
    /// `n` of its scan; returns its output as exchange records.
    fn run(
        &self,
        bucket: Option<(usize, Vec<ByteBuf>)>,
        split: Option<(usize, usize)>,
    ) -> Result<Vec<Record>> {
        let opts = ExecOptions {
            threads: 1,
            runtime: self.runtime.clone(),
        };
        let mut ctx = exec::Ctx::new(&self.fragment, opts);
        ctx.inputs = (*self.inputs).clone();
        if let Some((from, blobs)) = bucket {
            ctx.inputs.insert(from, exchange::decode(&blobs)?);
        }
        ctx.split = split;
        let parts = exec::execute(&self.fragment, &ctx)?;
        let batches: Vec<RecordBatch> = exec::collect(&ctx, parts)?.into_iter().flatten().collect();
        exchange::encode(batches, &self.out, self.buckets)
    }
}

/// A SQL error as a task failure: I/O errors (a replica went away) are retried, errors in
/// the query or its data fail the query at once.
fn to_dataflow(e: SqlError) -> strata_dataflow::Error {
    match e {
        SqlError::Io { path, reason } => {
            strata_dataflow::Error::io(path, std::io::Error::other(reason))
        }
        SqlError::Internal(m) => strata_dataflow::Error::Internal(m),
        other => strata_dataflow::Error::Input(other.to_string()),
    }
}

fn from_dataflow(e: strata_dataflow::Error) -> SqlError {
    match e {
        strata_dataflow::Error::Input(m) => SqlError::Execution(m),
        other => SqlError::Execution(format!("the distributed query failed: {other}")),
    }
}

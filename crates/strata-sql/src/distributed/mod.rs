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
//!    of the table (the `k`th contiguous run of its row groups, so tasks on different
//!    machines read disjoint parts); a stage driven by a hash exchange runs one task per
//!    bucket; a stage that must see all its rows (a `LIMIT`, a right/full join, a sort,
//!    window, union or global aggregate over a gathered input) runs one task.
//! 3. Each task runs its fragment with the engine's ordinary operators on one thread
//!    ([`crate::exec`]), over its split or bucket and the gathered inputs it reads.
//! 4. Its output crosses to the next stage as Arrow IPC blocks: hash-partitioned over the
//!    dataflow shuffle ([`shape::Mode::Hash`]) into a grouped aggregation (by the group
//!    keys) and into a join's build side (by the join keys); gathered to the driver (and so
//!    handed to every process) for inputs read whole ([`shape::Mode::Collect`]); the last
//!    stage's output is the result, gathered to the driver.
//! 5. At a join, the build side's real size decides (`run.rs`, adaptive execution): up to
//!    the broadcast limit it is gathered and broadcast, else the probe side is cut into a
//!    stage hash-partitioned by the left keys and the join runs bucket by bucket.
//!
//! A worker that dies mid-query costs what the dataflow scheduler re-runs: its running
//! tasks, and the map tasks whose shuffle output it held (found lost when a reducer's fetch
//! fails). Gathered outputs live in the driver and are never lost.
//!
//! Aggregations are split ([`partial`]): the producing stage aggregates its own rows and
//! only partial states cross the exchange.
//!
//! Scan splits are placed near the DFS replicas of their row groups (`run.rs::placed`).
//!
//! An aggregation's small buckets are merged into fewer tasks (`run.rs`, adaptive
//! coalescing).
//!
//! Not yet: skew splitting; scalar subqueries run on the driver while it plans.

pub mod exchange;
pub mod partial;
mod run;
pub mod shape;

use crate::error::{Result, SqlError};
use crate::plan::Plan;
use arrow::record_batch::RecordBatch;
use serde_bytes::ByteBuf;
use strata_dataflow::Context;

/// Runs queries on a cluster application's executors.
pub struct Distributed {
    ctx: Context,
    splits: Option<usize>,
    broadcast_limit: u64,
}

/// The largest join build side broadcast by default (bytes of its Arrow IPC blocks); a
/// larger one makes a partitioned join.
pub const BROADCAST_LIMIT: u64 = 16 << 20;

impl Distributed {
    /// Runs on `ctx`'s executors; scans split into `splits` tasks and hash exchanges into
    /// as many buckets (default: the driver's `dataflow.default_partitions`). The driver's
    /// number is the one every process uses.
    pub fn new(ctx: Context, splits: Option<usize>) -> Distributed {
        Distributed {
            ctx,
            splits,
            broadcast_limit: BROADCAST_LIMIT,
        }
    }

    /// Broadcasts join build sides up to `bytes` (0: partition every join that can be).
    /// Every process must be given the same number.
    pub fn with_broadcast_limit(mut self, bytes: u64) -> Distributed {
        self.broadcast_limit = bytes;
        self
    }

    /// Whether this process is the driver (it prints results; executors do not).
    pub fn is_driver(&self) -> bool {
        self.ctx.is_driver()
    }

    /// Whether the whole application is this one process (an embedded context): then
    /// statements that change tables can run, since no other process must see them.
    pub fn is_single_process(&self) -> bool {
        self.ctx.app_id().is_none()
    }

    /// Plans (on the driver only, with `plan`) and runs one query; every process of the
    /// application returns the same result or error.
    /// `label` names the query's jobs in the web UI.
    pub fn run(
        &self,
        label: &str,
        plan: impl FnOnce() -> Result<Plan>,
    ) -> Result<Vec<RecordBatch>> {
        let label = short(label);
        let splits = self
            .splits
            .unwrap_or(self.ctx.config().default_partitions)
            .max(1);
        let (bytes, splits) = on_driver(&self.ctx, &format!("SQL {label}: plan"), || {
            let plan = crate::serial::to_bytes(&plan()?)?;
            Ok((ByteBuf::from(plan), splits))
        })?;
        let plan = crate::serial::from_bytes(&bytes)?;
        self.run_plan(&plan, splits, &label)
    }

    fn run_plan(&self, plan: &Plan, splits: usize, label: &str) -> Result<Vec<RecordBatch>> {
        let mut stages = crate::stages::stages(plan);
        partial::split_aggregates(&mut stages);
        let mut rows =
            run::Run::new(&self.ctx, splits, label, self.broadcast_limit, stages).result()?;
        if rows.is_empty() {
            // No rows still has columns (a CSV header, a table's heading).
            rows.push(RecordBatch::new_empty(plan.schema()));
        }
        Ok(rows)
    }
}

/// A query's text on one line, cut to 60 characters, for job names.
fn short(text: &str) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &one[..i]),
        None => one,
    }
}

/// `f`'s value computed on the driver and handed to every process
/// ([`Context::on_driver`]); the driver keeps its own `SqlError`, executors get its text.
pub(crate) fn on_driver<R: strata_dataflow::Data>(
    ctx: &Context,
    what: &str,
    f: impl FnOnce() -> Result<R>,
) -> Result<R> {
    let mut failed: Option<SqlError> = None;
    let r = ctx.on_driver(what, || {
        f().map_err(|e| {
            let msg = e.to_string();
            failed = Some(e);
            strata_dataflow::Error::Input(msg)
        })
    });
    r.map_err(|e| failed.unwrap_or_else(|| from_dataflow(e)))
}

/// A SQL error as a task failure: I/O errors (a replica went away) are retried, errors in
/// the query or its data fail the query at once.
pub(crate) fn to_dataflow(e: SqlError) -> strata_dataflow::Error {
    match e {
        SqlError::Io { path, reason } => {
            strata_dataflow::Error::io(path, std::io::Error::other(reason))
        }
        SqlError::Internal(m) => strata_dataflow::Error::Internal(m),
        other => strata_dataflow::Error::Input(other.to_string()),
    }
}

pub(crate) fn from_dataflow(e: strata_dataflow::Error) -> SqlError {
    match e {
        strata_dataflow::Error::Input(m) => SqlError::Execution(m),
        other => SqlError::Execution(format!("the distributed query failed: {other}")),
    }
}

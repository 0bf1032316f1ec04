//! Running one query's stages, inputs first, as dataflow jobs; and the adaptive choice at
//! each join: broadcast the build side or partition both sides.
//!
//! A join's build side is written hash-partitioned by its keys (when the join can be
//! partitioned: equality keys of one type on both sides, not `NOT IN`). Before the join's
//! stage runs, the build side's real size is read from its shuffle's map outputs
//! (`Dataset::shuffle_output_bytes`): up to `broadcast_limit` bytes it is collected and
//! handed whole to every task (a broadcast join; the probe side stays pipelined from its
//! scan); past it, the probe side becomes a stage of its own, hash-partitioned by the
//! join's left keys, and task `i` joins bucket `i` of both sides (a partitioned join).
//!
//! A stage reading one hash exchange (an aggregation's) merges adjacent small buckets into
//! tasks of about [`COALESCE_BYTES`] (`Dataset::coalesce_shuffle`).

use super::exchange::{self, Record};
use super::shape::{self, Driving, Mode};
use super::{from_dataflow, to_dataflow};
use crate::error::{Result, SqlError};
use crate::exec::{self, ExecOptions};
use crate::plan::Plan;
use crate::stages::Stage;
use arrow::record_batch::RecordBatch;
use serde_bytes::ByteBuf;
use std::collections::HashMap;
use std::sync::Arc;
use strata_dataflow::{Context, Dataset, DirectPartitioner};
use strata_runtime::Runtime;

/// The bytes of exchange blocks a task reading a hash exchange gets at least: adjacent
/// buckets smaller than this are merged into one task (adaptive coalescing). Both sides of
/// a partitioned join keep their buckets (they must stay aligned).
pub const COALESCE_BYTES: u64 = 32 << 20;

/// One query's run.
pub(super) struct Run<'a> {
    pub ctx: &'a Context,
    /// Tasks per scan, buckets per hash exchange.
    pub splits: usize,
    /// Names the query's jobs.
    pub label: &'a str,
    /// The largest build side broadcast, in bytes.
    pub broadcast_limit: u64,
    stages: Vec<Stage>,
    modes: HashMap<usize, Mode>,
    collected: HashMap<usize, Vec<RecordBatch>>,
    shuffled: HashMap<usize, Dataset<Record>>,
    runtime: Arc<Runtime>,
}

impl<'a> Run<'a> {
    /// A run of `stages` (cut and rewritten already).
    pub fn new(
        ctx: &'a Context,
        splits: usize,
        label: &'a str,
        broadcast_limit: u64,
        stages: Vec<Stage>,
    ) -> Run<'a> {
        let modes = shape::modes(&stages);
        Run {
            ctx,
            splits,
            label,
            broadcast_limit,
            stages,
            modes,
            collected: HashMap::new(),
            shuffled: HashMap::new(),
            runtime: ctx.runtime(),
        }
    }

    /// Runs every stage; returns the last one's output (the result).
    pub fn result(mut self) -> Result<Vec<RecordBatch>> {
        let last = self.stages.len() - 1;
        for id in 0..=last {
            self.stage(id, id == last)?;
        }
        self.collected
            .remove(&last)
            .ok_or_else(|| SqlError::Internal("the result stage produced nothing".into()))
    }

    fn stage(&mut self, id: usize, last: bool) -> Result<()> {
        let fragment = std::mem::replace(&mut self.stages[id].fragment, empty());
        let fragment = self.joins(fragment)?;
        self.stages[id].fragment = fragment.clone();
        let out = if last {
            Mode::Collect
        } else {
            self.modes.get(&id).cloned().unwrap_or(Mode::Collect)
        };
        let mut reads = Vec::new();
        shape::inputs(&fragment, &mut reads);
        let inputs: HashMap<usize, Vec<RecordBatch>> = reads
            .iter()
            .filter_map(|s| self.collected.get(s).map(|b| (*s, b.clone())))
            .collect();
        let hashed: Vec<usize> = reads
            .iter()
            .copied()
            .filter(|s| self.shuffled.contains_key(s))
            .collect();
        let driving = shape::driving(&fragment, &self.modes, self.splits);
        let task = Task {
            fragment: Arc::new(fragment),
            inputs: Arc::new(inputs),
            out: out.clone(),
            buckets: self.splits,
            // A stage of one task (a sort, a global aggregate, a union) uses every thread
            // of its executor; tasks of wider stages one each (the executor runs several).
            threads: match driving {
                Driving::Splits(1) => self.runtime.cpu().threads(),
                _ => 1,
            },
            runtime: self.runtime.clone(),
        };
        let records: Dataset<Record> = match driving {
            Driving::Shuffle(from) => {
                let source = self.take(from)?;
                match hashed.iter().copied().find(|s| *s != from) {
                    // Small buckets merged into tasks of about COALESCE_BYTES.
                    None => {
                        let what = format!("SQL {}: sizes of stage {}", self.label, from + 1);
                        blocks(
                            source
                                .coalesce_shuffle(&what, COALESCE_BYTES)
                                .map_err(from_dataflow)?,
                        )
                        .try_flat_map(move |b: Vec<ByteBuf>| {
                            task.run(vec![(from, b)], None).map_err(to_dataflow)
                        })
                    }
                    // A partitioned join: bucket i of both sides.
                    Some(other) => {
                        let other_blocks = blocks(self.take(other)?);
                        blocks(source)
                            .zip_partitions(&other_blocks, |a, b| Box::new(a.zip(b)))
                            .map_err(from_dataflow)?
                            .try_flat_map(move |(a, b): (Vec<ByteBuf>, Vec<ByteBuf>)| {
                                task.run(vec![(from, a), (other, b)], None)
                                    .map_err(to_dataflow)
                            })
                    }
                }
            }
            Driving::Splits(n) => self
                .placed(shape::scanned(&task.fragment), n)?
                .try_flat_map(move |k| {
                    let split = (n > 1).then_some((k, n));
                    task.run(Vec::new(), split).map_err(to_dataflow)
                }),
        };
        match out {
            Mode::Hash(_) => {
                let p = Arc::new(DirectPartitioner::new(self.splits));
                self.shuffled.insert(id, records.partition_by(p));
            }
            Mode::Collect => {
                let rows = self.collect(records, &format!("stage {}", id + 1))?;
                self.collected.insert(id, rows);
            }
        }
        Ok(())
    }

    /// `p` with each join whose build side arrives hash-partitioned made a broadcast or a
    /// partitioned join, by the build side's size.
    fn joins(&mut self, p: Plan) -> Result<Plan> {
        match p {
            Plan::Join {
                left,
                right,
                kind,
                on,
                filter,
            } if matches!(&*right, Plan::Exchange { stage, .. } if self.shuffled.contains_key(stage)) =>
            {
                let Plan::Exchange { stage: r, schema } = *right else {
                    unreachable!("matched above")
                };
                let what = format!("SQL {}: join build side (stage {})", self.label, r + 1);
                let bytes: u64 = self.shuffled[&r]
                    .shuffle_output_bytes(&what)
                    .map_err(from_dataflow)?
                    .unwrap_or_default()
                    .iter()
                    .sum();
                let right = Box::new(Plan::Exchange { stage: r, schema });
                if bytes <= self.broadcast_limit {
                    let build = self.take(r)?;
                    let rows = self.collect(build, &format!("broadcast of stage {}", r + 1))?;
                    self.collected.insert(r, rows);
                    let left = Box::new(self.joins(*left)?);
                    return Ok(Plan::Join {
                        left,
                        right,
                        kind,
                        on,
                        filter,
                    });
                }
                let l = self.stages.len();
                let schema = left.schema();
                self.stages.push(Stage {
                    id: l,
                    fragment: *left,
                    exchange: "hash-partitioned by the join keys".into(),
                });
                let keys = on.iter().map(|(k, _)| k.clone()).collect();
                self.modes.insert(l, Mode::Hash(keys));
                self.stage(l, false)?;
                Ok(Plan::Join {
                    left: Box::new(Plan::Exchange { stage: l, schema }),
                    right,
                    kind,
                    on,
                    filter,
                })
            }
            Plan::Exchange { .. } => Ok(p),
            other => {
                let mut failed = None;
                let out = other.map_children(&mut |c| match self.joins(c) {
                    Ok(c) => c,
                    Err(e) => {
                        failed.get_or_insert(e);
                        empty()
                    }
                });
                failed.map_or(Ok(out), Err)
            }
        }
    }

    /// Split numbers `0..n`, one partition each, each preferring the machines that hold
    /// most of its part of `table` (worked out on the driver, handed to every process).
    fn placed(
        &self,
        table: Option<Arc<crate::catalog::Table>>,
        n: usize,
    ) -> Result<Dataset<usize>> {
        let splits: Vec<usize> = (0..n).collect();
        let Some(table) = table.filter(|_| n > 1) else {
            return Ok(self.ctx.parallelize_with(splits, n));
        };
        let what = format!("SQL {}: placement of {}", self.label, table.name);
        let hosts = super::on_driver(self.ctx, &what, || exec::split_hosts(&table, n))?;
        Ok(self.ctx.parallelize_placed(splits, hosts))
    }

    fn take(&mut self, stage: usize) -> Result<Dataset<Record>> {
        self.shuffled
            .remove(&stage)
            .ok_or_else(|| SqlError::Internal(format!("stage {stage}'s shuffle is read twice")))
    }

    /// Runs `records` as a job and decodes what every task returned, in partition order.
    fn collect(&self, records: Dataset<Record>, what: &str) -> Result<Vec<RecordBatch>> {
        let what = format!("SQL {}: {what} of {}", self.label, self.stages.len());
        let blobs: Vec<ByteBuf> = records
            .run(&what, |_, it| Ok(it.map(|(_, b)| b).collect::<Vec<_>>()))
            .map_err(from_dataflow)?
            .into_iter()
            .flatten()
            .collect();
        exchange::decode(&blobs)
    }
}

/// A shuffle's partitions as one element each: the blocks of that bucket.
fn blocks(d: Dataset<Record>) -> Dataset<Vec<ByteBuf>> {
    d.map_partitions(|_, it| Box::new(std::iter::once(it.map(|(_, b)| b).collect::<Vec<_>>())))
}

fn empty() -> Plan {
    Plan::Values {
        batches: Vec::new(),
        schema: Arc::new(arrow::datatypes::Schema::empty()),
    }
}

/// One stage's task: its fragment and what it reads.
struct Task {
    fragment: Arc<Plan>,
    threads: usize,
    inputs: Arc<HashMap<usize, Vec<RecordBatch>>>,
    out: Mode,
    buckets: usize,
    runtime: Arc<Runtime>,
}

impl Task {
    /// Runs the fragment over its buckets of hash exchanges (`buckets`: stage and blocks),
    /// or over split `k` of `n` of its scan; returns its output as exchange records.
    fn run(
        &self,
        buckets: Vec<(usize, Vec<ByteBuf>)>,
        split: Option<(usize, usize)>,
    ) -> Result<Vec<Record>> {
        let opts = ExecOptions {
            threads: self.threads,
            runtime: self.runtime.clone(),
            cancel: Default::default(),
        };
        let mut ctx = exec::Ctx::new(&self.fragment, opts);
        ctx.inputs = (*self.inputs).clone();
        for (from, blobs) in buckets {
            ctx.inputs.insert(from, exchange::decode(&blobs)?);
        }
        ctx.split = split;
        let parts = exec::execute(&self.fragment, &ctx)?;
        let batches: Vec<RecordBatch> = exec::collect(&ctx, parts)?.into_iter().flatten().collect();
        exchange::encode(batches, &self.out, self.buckets)
    }
}

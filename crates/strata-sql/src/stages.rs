//! The physical plan as stages: the logical plan cut at its exchanges, the points where
//! rows change partitions, each stage a self-contained plan *fragment* that serializes
//! ([`crate::serial`]) so that another process can run it.
//!
//! Within a stage, operators are pipelined on each partition (a batch flows scan → filter →
//! project → join probe without being stored). A stage ends below each pipeline breaker:
//! the input of an aggregation, a sort, a window or a UNION, and the build side of a hash
//! join (the probe side stays in the join's stage). The breaker's stage reads that output
//! through an [`Plan::Exchange`] leaf. How rows cross an exchange:
//!
//! - into an aggregation: the parent aggregates each partition partially and merges
//!   (hash-repartitioned into 64 buckets past the memory budget);
//! - into a join's build side: broadcast to every probe partition when it fits the budget,
//!   else both sides are hash-partitioned by key and joined bucket by bucket (a partitioned
//!   join), decided at run time from the build side's actual size;
//! - into a sort, window or UNION: gathered.
//!
//! `EXPLAIN` prints the stages; [`run_staged`] runs them one after another, each from its
//! serialized bytes, which is how a distributed runtime would hand them to executors.

use crate::error::Result;
use crate::exec::{self, ExecOptions};
use crate::plan::Plan;
use arrow::record_batch::RecordBatch;
use std::fmt::Write;

/// One stage: a fragment whose `Exchange` leaves read earlier stages.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Stage {
    /// Its id (inputs have smaller ids; the last stage produces the result).
    pub id: usize,
    /// What it computes.
    pub fragment: Plan,
    /// How its output reaches the stage that reads it.
    pub exchange: String,
}

/// Cuts `plan` into stages, inputs first.
pub fn stages(plan: &Plan) -> Vec<Stage> {
    let mut out = Vec::new();
    let root = cut(plan.clone(), &mut out);
    out.push(Stage {
        id: out.len(),
        fragment: root,
        exchange: "result".into(),
    });
    out
}

/// Makes `input` a stage of its own; returns the leaf that reads it.
fn split(input: Plan, exchange: &str, out: &mut Vec<Stage>) -> Plan {
    let fragment = cut(input, out);
    let schema = fragment.schema();
    let id = out.len();
    out.push(Stage {
        id,
        fragment,
        exchange: exchange.into(),
    });
    Plan::Exchange { stage: id, schema }
}

/// `p` with the inputs of its breakers cut off into stages.
fn cut(p: Plan, out: &mut Vec<Stage>) -> Plan {
    match p {
        Plan::Aggregate { input, group, aggs } => Plan::Aggregate {
            input: Box::new(split(*input, "to the aggregation", out)),
            group,
            aggs,
        },
        Plan::Sort { input, keys, fetch } => Plan::Sort {
            input: Box::new(split(*input, "gather", out)),
            keys,
            fetch,
        },
        Plan::Window { input, funcs } => Plan::Window {
            input: Box::new(split(*input, "gather", out)),
            funcs,
        },
        Plan::Union { inputs, distinct } => Plan::Union {
            inputs: inputs.into_iter().map(|i| split(i, "union", out)).collect(),
            distinct,
        },
        Plan::Join {
            left,
            right,
            kind,
            on,
            filter,
        } => {
            let right = split(
                *right,
                "build side: broadcast, or hash-partitioned by key past the budget",
                out,
            );
            Plan::Join {
                left: Box::new(cut(*left, out)),
                right: Box::new(right),
                kind,
                on,
                filter,
            }
        }
        // The recursive term runs round after round over the work table, inside one
        // fragment.
        p @ Plan::Recursive { .. } => p,
        other => other.map_children(&mut |c| cut(c, out)),
    }
}

/// The stages as text, the result's stage first.
pub fn explain(plan: &Plan) -> String {
    let mut s = String::new();
    for st in stages(plan).iter().rev() {
        let _ = writeln!(s, "Stage {} -> {}", st.id, st.exchange);
        for line in st.fragment.explain().lines() {
            let _ = writeln!(s, "  {line}");
        }
    }
    s
}

/// Runs `plan` stage by stage: each fragment goes through its serialized form, runs with
/// its inputs' outputs, and its output feeds the stages that read it.
pub fn run_staged(plan: &Plan, opts: &ExecOptions) -> Result<Vec<RecordBatch>> {
    let mut outputs: std::collections::HashMap<usize, Vec<RecordBatch>> = Default::default();
    let all = stages(plan);
    let last = all.len() - 1;
    for st in all {
        let fragment = crate::serial::from_bytes(&crate::serial::to_bytes(&st.fragment)?)?;
        let mut ctx = exec::Ctx::new(&fragment, opts.clone());
        // Each input is read by exactly one Exchange leaf.
        let mut wanted = Vec::new();
        leaves(&fragment, &mut wanted);
        for w in wanted {
            if let Some(rows) = outputs.remove(&w) {
                ctx.inputs.insert(w, rows);
            }
        }
        let parts = exec::execute(&fragment, &ctx)?;
        let rows: Vec<RecordBatch> = exec::collect(&ctx, parts)?.into_iter().flatten().collect();
        if st.id == last {
            return Ok(rows);
        }
        outputs.insert(st.id, rows);
    }
    Ok(Vec::new())
}

fn leaves(p: &Plan, out: &mut Vec<usize>) {
    if let Plan::Exchange { stage, .. } = p {
        out.push(*stage);
    }
    for c in p.children() {
        leaves(c, out);
    }
}

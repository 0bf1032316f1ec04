//! The physical plan as stages: the logical plan cut at its exchanges, the points where
//! rows change partitions. Within a stage, operators are pipelined on each partition
//! (a batch flows scan → filter → project → join probe without being stored); a stage
//! ends where the executor gathers, broadcasts or repartitions rows:
//!
//! - **Aggregate**: each partition aggregates partially inside its stage; partial states
//!   are gathered (hash-repartitioned into 64 buckets when they pass the memory budget) and
//!   merged in the next stage.
//! - **Hash join**: the build side's stage ends in a broadcast to every probe partition
//!   when it fits the budget; otherwise both sides are hash-partitioned by key into 64
//!   buckets and joined bucket by bucket (a partitioned join). The choice is made at run
//!   time from the build side's actual size.
//! - **Sort, window, union distinct**: gather.
//!
//! `EXPLAIN` prints these stages after the logical plan. They are the boundary at which
//! the dataflow runtime would run a query's stages as tasks; the SQL engine runs them
//! in-process today.

use crate::plan::Plan;
use std::fmt::Write;

/// One stage: its pipelined operators (top first), its partitions, what ends it, and the
/// stages it reads.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Its id (inputs have smaller ids).
    pub id: usize,
    /// Operator descriptions, top of the pipeline first.
    pub ops: Vec<String>,
    /// How many partitions it runs on ("per file", "1", ...).
    pub partitions: String,
    /// The exchange its output goes through.
    pub output: String,
    /// Stages whose output it reads, with how.
    pub inputs: Vec<(usize, String)>,
}

/// Cuts `plan` into stages (inputs first; the last stage produces the result).
pub fn stages(plan: &Plan) -> Vec<Stage> {
    let mut out = Vec::new();
    let last = cut(plan, &mut out);
    out[last].output = "result".into();
    out
}

fn name(p: &Plan) -> String {
    let line = p.explain();
    line.lines().next().unwrap_or_default().trim().to_string()
}

/// Adds the stages of `p`; returns the id of the stage whose pipeline ends with `p`.
fn cut(p: &Plan, out: &mut Vec<Stage>) -> usize {
    let new = |out: &mut Vec<Stage>, ops: Vec<String>, partitions: &str| {
        out.push(Stage {
            id: out.len(),
            ops,
            partitions: partitions.into(),
            output: String::new(),
            inputs: Vec::new(),
        });
        out.len() - 1
    };
    match p {
        Plan::Scan { .. } => new(out, vec![name(p)], "one per file"),
        Plan::Values { .. } => new(out, vec![name(p)], "one per thread"),
        Plan::Filter { input, .. } | Plan::Project { input, .. } | Plan::Limit { input, .. } => {
            let s = cut(input, out);
            out[s].ops.insert(0, name(p));
            s
        }
        Plan::Aggregate { input, .. } => {
            let s = cut(input, out);
            out[s].ops.insert(0, format!("Partial{}", name(p)));
            out[s].output = "gather partial states (hash-repartitioned past the budget)".into();
            let f = new(
                out,
                vec![format!("Final{}", name(p))],
                "1 (or one per bucket)",
            );
            out[f].inputs.push((s, "partial states".into()));
            f
        }
        Plan::Join { left, right, .. } => {
            let b = cut(right, out);
            out[b].output =
                "broadcast to every probe partition, or hash-partition by key past the budget"
                    .into();
            let s = cut(left, out);
            out[s].ops.insert(0, format!("{} (probe)", name(p)));
            out[s].inputs.push((b, "build side".into()));
            s
        }
        Plan::Sort { input, .. } | Plan::Window { input, .. } => {
            let s = cut(input, out);
            out[s].output = "gather".into();
            let f = new(out, vec![name(p)], "1");
            out[f].inputs.push((s, "all rows".into()));
            f
        }
        Plan::Union { inputs, distinct } => {
            let ids: Vec<usize> = inputs.iter().map(|i| cut(i, out)).collect();
            for &i in &ids {
                out[i].output = "union".into();
            }
            let f = new(
                out,
                vec![name(p)],
                if *distinct {
                    "1 (or one per bucket)"
                } else {
                    "the inputs' partitions"
                },
            );
            for i in ids {
                out[f].inputs.push((i, "rows".into()));
            }
            f
        }
    }
}

/// The stages as text, the result's stage first.
pub fn explain(plan: &Plan) -> String {
    let mut s = String::new();
    for st in stages(plan).iter().rev() {
        let _ = writeln!(
            s,
            "Stage {} [partitions: {}] -> {}",
            st.id, st.partitions, st.output
        );
        for op in &st.ops {
            let _ = writeln!(s, "  {op}");
        }
        for (i, how) in &st.inputs {
            let _ = writeln!(s, "  <- stage {i} ({how})");
        }
    }
    s
}

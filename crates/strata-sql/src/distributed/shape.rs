//! How a stage's rows cross to the stage that reads them, and how many tasks a stage runs:
//! read off the fragments that [`crate::stages`] cut.

use crate::catalog::Table;
use crate::expr::Expr;
use crate::plan::{JoinKind, Plan};
use crate::stages::Stage;
use std::collections::HashMap;
use std::sync::Arc;

/// How a stage's output reaches its reader.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Hash-partitioned by these expressions over the network shuffle: the reading stage's
    /// task `i` gets bucket `i` (the input of a grouped aggregation; a join's build side,
    /// until its size decides between broadcast and a partitioned join).
    Hash(Vec<Expr>),
    /// Gathered to the driver and handed whole to every task that reads it (a join's build
    /// side: broadcast; a sort, window, union or global aggregate: one task reads it).
    Collect,
}

/// Rows a scan task reads at least, when a table's row count is known: a tiny dimension
/// table is one task, not one per split.
pub const ROWS_PER_SPLIT: u64 = 100_000;

/// What drives a stage's tasks: the leftmost leaf of its fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driving {
    /// The hash-partitioned output of this stage: one task per bucket.
    Shuffle(usize),
    /// Splits of the fragment's scan: `n` tasks (1 where the fragment must see all rows).
    Splits(usize),
}

/// Whether a fragment must see all of its driving input in one task: a `LIMIT` counts rows
/// across partitions, and a right or full join emits the build side's unmatched rows,
/// which only a task that probed everything knows.
pub fn serial(p: &Plan) -> bool {
    let here = match p {
        // A recursive CTE iterates over all of its rows at once, in one task.
        Plan::Limit { .. } | Plan::Recursive { .. } => true,
        Plan::Join { kind, .. } => matches!(kind, JoinKind::Right | JoinKind::Full),
        _ => false,
    };
    here || p.children().into_iter().any(serial)
}

/// How each stage's output is read, by stage id (the last stage, the result, is absent:
/// it is gathered to the driver).
pub fn modes(stages: &[Stage]) -> HashMap<usize, Mode> {
    let mut out = HashMap::new();
    for st in stages {
        let one = serial(&st.fragment);
        visit(&st.fragment, one, &mut out);
    }
    out
}

fn visit(p: &Plan, one_task: bool, out: &mut HashMap<usize, Mode>) {
    for (i, c) in p.children().into_iter().enumerate() {
        if let Plan::Exchange { stage, .. } = c {
            let mode = match p {
                Plan::Aggregate { group, .. } if !group.is_empty() && !one_task => {
                    Mode::Hash(group.iter().map(|(e, _)| e.clone()).collect())
                }
                // A join's build side, hash-partitioned by its keys: broadcast or joined
                // bucket by bucket, decided by its size when it is read (`run.rs`).
                Plan::Join {
                    left,
                    right,
                    kind,
                    on,
                    ..
                } if i == 1 && !one_task && partitionable(left, right, *kind, on) => {
                    Mode::Hash(on.iter().map(|(_, r)| r.clone()).collect())
                }
                _ => Mode::Collect,
            };
            out.insert(*stage, mode);
        } else {
            visit(c, one_task, out);
        }
    }
}

/// Whether a join can run bucket by bucket: equality keys of one type on both sides, or
/// integers of any width (so that equal values hash alike), and not `NOT IN` (whose answer
/// depends on every build row: one NULL key anywhere empties it).
fn partitionable(left: &Plan, right: &Plan, kind: JoinKind, on: &[(Expr, Expr)]) -> bool {
    let (ls, rs) = (left.schema(), right.schema());
    !on.is_empty()
        && kind != JoinKind::NullAwareAnti
        && on
            .iter()
            .all(|(l, r)| match (l.data_type(&ls), r.data_type(&rs)) {
                (Ok(a), Ok(b)) => a == b || (a.is_integer() && b.is_integer()),
                _ => false,
            })
}

/// What drives `fragment`'s tasks, given how its inputs arrive and the split count for scans.
pub fn driving(fragment: &Plan, modes: &HashMap<usize, Mode>, splits: usize) -> Driving {
    let mut p = fragment;
    while let Some(c) = p.children().into_iter().next() {
        p = c;
    }
    match p {
        Plan::Exchange { stage, .. } => match modes.get(stage) {
            Some(Mode::Hash(_)) => Driving::Shuffle(*stage),
            _ => Driving::Splits(1),
        },
        Plan::Scan { table, .. } if !serial(fragment) => {
            // Small tables in fewer tasks: about ROWS_PER_SPLIT rows each when the files
            // say how many they hold (Parquet), at most `splits`.
            let n = table
                .rows
                .map_or(splits, |r| r.div_ceil(ROWS_PER_SPLIT) as usize);
            Driving::Splits(n.clamp(1, splits.max(1)))
        }
        _ => Driving::Splits(1),
    }
}

/// The table a fragment's tasks split, when its driving leaf is a scan.
pub fn scanned(fragment: &Plan) -> Option<Arc<Table>> {
    let mut p = fragment;
    while let Some(c) = p.children().into_iter().next() {
        p = c;
    }
    match p {
        Plan::Scan { table, .. } => Some(table.clone()),
        _ => None,
    }
}

/// The stages whose output `p` reads.
pub fn inputs(p: &Plan, out: &mut Vec<usize>) {
    if let Plan::Exchange { stage, .. } = p {
        out.push(*stage);
    }
    for c in p.children() {
        inputs(c, out);
    }
}

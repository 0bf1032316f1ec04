//! Rewrite rules on the logical plan.
//!
//! - **Predicate pushdown**: a filter's conjuncts move down through joins to the side whose
//!   columns they read, when the join keeps that side's rows as they are (either side of an
//!   inner join, the left of a left/semi/anti join, the right of a right join; never
//!   through a full join), so `a JOIN b ON ... WHERE a.x = 1` filters `a` before the join
//!   as the comma form does. A filter that reaches a scan becomes one of the scan's
//!   filters, applied to each batch as it is read (no intermediate copy). A filter that
//!   stays (a condition across a join's sides) lets later ones pass it on their way down.
//! - **Constant folding** happens while binding ([`crate::expr::Expr::fold`]).
//! - **Projection pushdown**: scans read only the columns the query mentions (planner).
//! - **Join order**: greedy, largest relation probes, smallest connected relation builds
//!   (planner).

use crate::expr::{BinOp, Expr};
use crate::plan::{JoinKind, Plan};

/// Applies every rule.
pub fn optimize(plan: Plan) -> Plan {
    push_filters(plan)
}

fn push_filters(plan: Plan) -> Plan {
    match plan {
        Plan::Filter { input, predicate } => push_into(push_filters(*input), predicate),
        other => other.map_children(&mut push_filters),
    }
}

/// `predicate` applied to `input` (already optimized), as far down as it may go.
fn push_into(input: Plan, predicate: Expr) -> Plan {
    match input {
        Plan::Scan {
            table,
            projection,
            mut filters,
        } => {
            filters.push(predicate);
            Plan::Scan {
                table,
                projection,
                filters,
            }
        }
        Plan::Join {
            left,
            right,
            kind,
            on,
            filter,
        } if kind != JoinKind::Full => {
            let width = left.schema().fields().len();
            let mut parts = Vec::new();
            split_and(predicate, &mut parts);
            let (mut to_left, mut to_right, mut keep) = (Vec::new(), Vec::new(), Vec::new());
            for p in parts {
                let mut cols = Vec::new();
                p.columns(&mut cols);
                let left_only = !cols.is_empty() && cols.iter().all(|&c| c < width);
                let right_only = !cols.is_empty() && cols.iter().all(|&c| c >= width);
                let keeps_left = !matches!(kind, JoinKind::Right);
                let keeps_right = matches!(kind, JoinKind::Inner | JoinKind::Right);
                if left_only && keeps_left {
                    to_left.push(p);
                } else if right_only && keeps_right {
                    to_right.push(p.remap(&|c| c - width));
                } else {
                    keep.push(p);
                }
            }
            let left = Box::new(to_left.into_iter().fold(*left, push_into));
            let right = Box::new(to_right.into_iter().fold(*right, push_into));
            let join = Plan::Join {
                left,
                right,
                kind,
                on,
                filter,
            };
            match and_all(keep) {
                Some(p) => Plan::Filter {
                    input: Box::new(join),
                    predicate: p,
                },
                None => join,
            }
        }
        // Past a filter that could go no further (a condition across a join's sides) when
        // there is a scan or join below to reach: the two commute. Over anything else the
        // order stays, so a guard written first (`x <> 0` before `10 / x > 1`) runs first.
        Plan::Filter {
            input,
            predicate: below,
        } if sinks(&input) => Plan::Filter {
            input: Box::new(push_into(*input, predicate)),
            predicate: below,
        },
        other => Plan::Filter {
            input: Box::new(other),
            predicate,
        },
    }
}

/// Whether a filter pushed into `p` gets past it (to a scan or into a join).
fn sinks(p: &Plan) -> bool {
    match p {
        Plan::Scan { .. } => true,
        Plan::Join { kind, .. } => *kind != JoinKind::Full,
        Plan::Filter { input, .. } => sinks(input),
        _ => false,
    }
}

fn split_and(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::Binary(l, BinOp::And, r) => {
            split_and(*l, out);
            split_and(*r, out);
        }
        other => out.push(other),
    }
}

fn and_all(v: Vec<Expr>) -> Option<Expr> {
    v.into_iter()
        .reduce(|a, b| Expr::Binary(Box::new(a), BinOp::And, Box::new(b)))
}

//! Rewrite rules on the logical plan.
//!
//! - **Predicate pushdown into scans**: a filter directly above a scan becomes one of the
//!   scan's filters, applied to each batch as it is read (no intermediate copy).
//! - **Constant folding** happens while binding ([`crate::expr::Expr::fold`]).
//! - **Projection pushdown**: scans read only the columns the query mentions (planner).
//! - **Join order**: greedy, largest relation probes, smallest connected relation builds
//!   (planner).

use crate::plan::Plan;

/// Applies every rule.
pub fn optimize(plan: Plan) -> Plan {
    push_filters(plan)
}

fn push_filters(plan: Plan) -> Plan {
    match plan {
        Plan::Filter { input, predicate } => match push_filters(*input) {
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
            other => Plan::Filter {
                input: Box::new(other),
                predicate,
            },
        },
        Plan::Project { input, exprs } => Plan::Project {
            input: Box::new(push_filters(*input)),
            exprs,
        },
        Plan::Aggregate { input, group, aggs } => Plan::Aggregate {
            input: Box::new(push_filters(*input)),
            group,
            aggs,
        },
        Plan::Join {
            left,
            right,
            kind,
            on,
            filter,
        } => Plan::Join {
            left: Box::new(push_filters(*left)),
            right: Box::new(push_filters(*right)),
            kind,
            on,
            filter,
        },
        Plan::Sort { input, keys, fetch } => Plan::Sort {
            input: Box::new(push_filters(*input)),
            keys,
            fetch,
        },
        Plan::Limit { input, n } => Plan::Limit {
            input: Box::new(push_filters(*input)),
            n,
        },
        scan @ Plan::Scan { .. } => scan,
    }
}

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
        other => other.map_children(&mut push_filters),
    }
}

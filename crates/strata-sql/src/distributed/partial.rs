//! Partial aggregation before an exchange: the stage below a grouped or global aggregation
//! aggregates its own rows first, so that one row per group per task crosses the network
//! instead of every input row; the reading stage merges the partial states.
//!
//! `SUM` and `MIN`/`MAX` merge with themselves, `COUNT` by summing counts, and `AVG` travels
//! as a sum and a count that a projection divides at the end. Aggregates with `DISTINCT`
//! or of the variance family are left whole (their rows cross the exchange as they are).

use crate::expr::{BinOp, Expr, Func};
use crate::plan::{AggCall, AggFunc, Plan};
use crate::stages::Stage;
use arrow::array::Float64Array;
use arrow::datatypes::DataType;
use std::sync::Arc;

/// Rewrites every aggregation that reads an exchange into a partial aggregation at the end
/// of the producing stage and a final one (and a projection) in the reading stage.
pub fn split_aggregates(stages: &mut [Stage]) {
    for c in 0..stages.len() {
        let (producers, rest) = stages.split_at_mut(c);
        let consumer = &mut rest[0];
        let fragment = std::mem::replace(&mut consumer.fragment, placeholder());
        consumer.fragment = rewrite(fragment, producers);
    }
}

fn placeholder() -> Plan {
    Plan::Values {
        batches: Vec::new(),
        schema: Arc::new(arrow::datatypes::Schema::empty()),
    }
}

fn rewrite(p: Plan, producers: &mut [Stage]) -> Plan {
    match p {
        Plan::Aggregate { input, group, aggs }
            if matches!(*input, Plan::Exchange { stage, .. } if stage < producers.len())
                && aggs.iter().all(|(a, _)| {
                    !a.distinct
                        && !a.func.is_moments()
                        && !a.func.is_model()
                        && !a.func.is_holistic()
                }) =>
        {
            let Plan::Exchange { stage, .. } = *input else {
                unreachable!("matched above")
            };
            split(stage, group, aggs, producers)
        }
        other => other.map_children(&mut |c| rewrite(c, producers)),
    }
}

fn split(
    stage: usize,
    group: Vec<(Expr, String)>,
    aggs: Vec<(AggCall, String)>,
    producers: &mut [Stage],
) -> Plan {
    let nk = group.len();
    let call = |func, arg| AggCall::plain(func, Some(arg));
    let mut partial = Vec::new();
    let mut merge = Vec::new();
    let mut outputs = Vec::new();
    for (a, name) in aggs {
        let col = Expr::Column(nk + partial.len());
        match a.func {
            AggFunc::Sum | AggFunc::Min | AggFunc::Max => {
                merge.push((call(a.func, col.clone()), name.clone()));
                partial.push((a, name.clone()));
                outputs.push((Expr::Column(nk + merge.len() - 1), name));
            }
            AggFunc::Count | AggFunc::CountStar => {
                merge.push((call(AggFunc::Sum, col.clone()), name.clone()));
                partial.push((a, name.clone()));
                outputs.push((Expr::Column(nk + merge.len() - 1), name));
            }
            AggFunc::Avg => {
                let count = Expr::Column(nk + partial.len() + 1);
                partial.push((
                    AggCall {
                        func: AggFunc::Sum,
                        ..a.clone()
                    },
                    format!("{name}#sum"),
                ));
                partial.push((
                    AggCall {
                        func: AggFunc::Count,
                        ..a
                    },
                    format!("{name}#count"),
                ));
                merge.push((call(AggFunc::Sum, col), format!("{name}#sum")));
                merge.push((call(AggFunc::Sum, count), format!("{name}#count")));
                let (s, n) = (nk + merge.len() - 2, nk + merge.len() - 1);
                outputs.push((average(s, n), name));
            }
            AggFunc::VarSamp
            | AggFunc::VarPop
            | AggFunc::StddevSamp
            | AggFunc::StddevPop
            | AggFunc::TrainLogistic(_)
            | AggFunc::Median
            | AggFunc::PercentileCont
            | AggFunc::PercentileDisc
            | AggFunc::Mode
            | AggFunc::StringAgg
            | AggFunc::ArrayAgg
            | AggFunc::ArgMax
            | AggFunc::ArgMin => {
                unreachable!(
                    "the variance family, models and holistic aggregates are never split \
                     (see rewrite)"
                )
            }
        }
    }
    let producer = &mut producers[stage];
    let below = std::mem::replace(&mut producer.fragment, placeholder());
    producer.fragment = Plan::Aggregate {
        input: Box::new(below),
        group: group.clone(),
        aggs: partial,
    };
    let schema = producer.fragment.schema();
    let keys: Vec<(Expr, String)> = group
        .into_iter()
        .enumerate()
        .map(|(i, (_, name))| (Expr::Column(i), name))
        .collect();
    let mut exprs = keys.clone();
    exprs.extend(outputs);
    Plan::Project {
        input: Box::new(Plan::Aggregate {
            input: Box::new(Plan::Exchange { stage, schema }),
            group: keys,
            aggs: merge,
        }),
        exprs,
    }
}

/// `sum / count` as a double; NULL (the sum is NULL) when nothing was counted.
fn average(sum: usize, count: usize) -> Expr {
    let f64 = |c| Expr::Cast(Box::new(Expr::Column(c)), DataType::Float64);
    let one = Expr::Literal(Arc::new(Float64Array::from(vec![1.0])));
    Expr::Binary(
        Box::new(f64(sum)),
        BinOp::Div,
        // Never 0: a group with no values has a NULL sum, and NULL / 1 is NULL.
        Box::new(Expr::Call(Func::Greatest, vec![f64(count), one])),
    )
}

//! Join order.
//!
//! The largest relation is the probe side of every join. Each step joins one relation
//! connected to what is joined so far, together with its *dimension chain*: the relations
//! reachable from it only through it (TPC-H Q2's `supplier ⋈ nation ⋈ region`), joined
//! into one build side first. Among the candidates, the one whose chain keeps the fewest
//! rows (the product of its members' filter selectivities) goes first, so selective
//! filters shrink the probe side early.
//!
//! Selectivities come from the data: a scan's filters are evaluated on a sample (the first
//! batch of the table's first file); without a sample, each filter is assumed to keep 30%.

use super::{Rel, collect_idents, is_equi, join_rels};
use crate::error::Result;
use crate::expr::Expr;
use crate::plan::{JoinKind, Plan};
use sqlparser::ast as sql;

/// The fraction of `plan`'s rows that pass every predicate, estimated on a sample.
pub(super) fn selectivity(plan: &Plan, preds: &[Expr]) -> f64 {
    let guess = 0.3f64.powi(preds.len() as i32);
    let Plan::Scan {
        table, projection, ..
    } = plan
    else {
        return guess;
    };
    let Ok(Some(mut b)) = crate::exec::sample(table, projection) else {
        return guess;
    };
    let n = b.num_rows();
    if n == 0 {
        return guess;
    }
    for p in preds {
        let m = p.eval(&b).and_then(|v| v.into_array(b.num_rows()));
        match m.and_then(|m| crate::exec::filter_batch(&b, &m)) {
            Ok(f) => b = f,
            Err(_) => return guess,
        }
    }
    // Half a row when none passed: rare, not impossible.
    (b.num_rows() as f64).max(0.5) / n as f64
}

/// Whether equi-join condition `c` reads columns of both `a` and `b`.
fn links(c: &sql::Expr, a: &Rel, b: &Rel) -> bool {
    if !is_equi(c) {
        return false;
    }
    let mut idents = Vec::new();
    collect_idents(c, &mut idents);
    let reads = |r: &Rel| idents.iter().any(|(q, n)| r.scope.has(q.as_deref(), n));
    reads(a) && reads(b)
}

fn linked(pending: &[sql::Expr], a: &Rel, b: &Rel) -> bool {
    pending.iter().any(|c| links(c, a, b))
}

/// Joins `right` into `left` with the pending conditions both sides can evaluate.
fn join_step(left: Rel, right: Rel, pending: &mut Vec<sql::Expr>) -> Result<Rel> {
    let both = left.scope.join(&right.scope);
    let (now, later): (Vec<sql::Expr>, Vec<sql::Expr>) =
        std::mem::take(pending).into_iter().partition(|c| {
            let mut idents = Vec::new();
            collect_idents(c, &mut idents);
            idents.iter().all(|(q, n)| both.has(q.as_deref(), n))
        });
    *pending = later;
    join_rels(left, right, JoinKind::Inner, &now)
}

/// Joins every relation; returns the result and the conditions still to apply.
pub(super) fn join_all(
    mut rels: Vec<Rel>,
    mut pending: Vec<sql::Expr>,
) -> Result<(Rel, Vec<sql::Expr>)> {
    let start = (0..rels.len())
        .max_by(|a, b| rels[*a].rows.total_cmp(&rels[*b].rows))
        .expect("non-empty");
    let mut acc = rels.remove(start);
    while !rels.is_empty() {
        let cands: Vec<usize> = (0..rels.len())
            .filter(|i| linked(&pending, &acc, &rels[*i]))
            .collect();
        if cands.is_empty() {
            // Nothing links the rest to what is joined so far: a cross join with the
            // smallest of them (its conditions, if any, filter the pairs).
            let i = (0..rels.len())
                .min_by(|a, b| rels[*a].rows.total_cmp(&rels[*b].rows))
                .expect("non-empty");
            let r = rels.remove(i);
            acc = join_step(acc, r, &mut pending)?;
            continue;
        }
        // A candidate's chain: reachable from it through relations not linked to `acc`.
        let chain = |c: usize| -> Vec<usize> {
            let mut members = vec![c];
            let mut i = 0;
            while i < members.len() {
                let m = members[i];
                for j in 0..rels.len() {
                    if !members.contains(&j)
                        && !cands.contains(&j)
                        && !linked(&pending, &acc, &rels[j])
                        && linked(&pending, &rels[m], &rels[j])
                    {
                        members.push(j);
                    }
                }
                i += 1;
            }
            members
        };
        let score = |members: &[usize]| -> (f64, f64) {
            let sel: f64 = members
                .iter()
                .map(|m| (rels[*m].rows / rels[*m].base.max(1.0)).min(1.0))
                .product();
            (sel, rels[members[0]].rows)
        };
        let best = cands
            .iter()
            .map(|c| chain(*c))
            .min_by(|a, b| {
                let (x, y) = (score(a), score(b));
                x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1))
            })
            .expect("a candidate");
        // Take the chain's relations out (highest index first keeps the others in place).
        let mut taken: Vec<(usize, Option<Rel>)> = Vec::new();
        let mut idx = best.clone();
        idx.sort_unstable_by(|a, b| b.cmp(a));
        for i in idx {
            taken.push((i, Some(rels.remove(i))));
        }
        let mut take = |i: usize| {
            taken
                .iter_mut()
                .find(|(j, _)| *j == i)
                .and_then(|(_, r)| r.take())
                .expect("taken once")
        };
        let mut sub = take(best[0]);
        for m in &best[1..] {
            sub = join_step(sub, take(*m), &mut pending)?;
        }
        acc = join_step(acc, sub, &mut pending)?;
    }
    Ok((acc, pending))
}

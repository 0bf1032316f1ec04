//! Subqueries in WHERE, decorrelated into joins: `[NOT] EXISTS` and `[NOT] IN (SELECT ...)`
//! become semi/anti joins; a correlated scalar subquery becomes the subquery grouped by its
//! correlation keys, joined to the outer rows and compared.

use super::conditions::{and_all, collect_idents, conjuncts};
use super::{Rel, Tables, from_item, key_pair, plan_query_with, plan_select};
use crate::bind::{Scope, bind};
use crate::error::{Result, SqlError};
use crate::expr::{BinOp, Expr};
use crate::plan::{JoinKind, Plan};
use sqlparser::ast as sql;
use std::collections::HashSet;

/// `x OP (SELECT agg ... WHERE inner.k = outer.k ...)`: the comparison's outer side, the
/// operator as if the subquery were on the right, and the subquery — when the subquery
/// refers to columns of the outer query.
pub(super) fn correlated_scalar<'a>(
    c: &'a sql::Expr,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Option<(&'a sql::Expr, sql::BinaryOperator, &'a sql::Query)> {
    let sql::Expr::BinaryOp { left, op, right } = c else {
        return None;
    };
    use sql::BinaryOperator as O;
    let flip = |op: &O| match op {
        O::Lt => O::Gt,
        O::Gt => O::Lt,
        O::LtEq => O::GtEq,
        O::GtEq => O::LtEq,
        other => other.clone(),
    };
    if !matches!(op, O::Eq | O::NotEq | O::Lt | O::LtEq | O::Gt | O::GtEq) {
        return None;
    }
    let (x, op, q) = match (left.as_ref(), right.as_ref()) {
        (x, sql::Expr::Subquery(q)) => (x, op.clone(), q.as_ref()),
        (sql::Expr::Subquery(q), x) => (x, flip(op), q.as_ref()),
        _ => return None,
    };
    is_correlated(q, tables, words).then_some((x, op, q))
}

/// Whether a subquery's WHERE refers to columns of an enclosing query.
pub(super) fn is_correlated(q: &sql::Query, tables: &dyn Tables, words: &HashSet<String>) -> bool {
    let sql::SetExpr::Select(s) = q.body.as_ref() else {
        return false;
    };
    let Ok(inner) = inner_scope(s, tables, words) else {
        return false;
    };
    let mut idents = Vec::new();
    if let Some(w) = &s.selection {
        collect_idents(w, &mut idents);
    }
    idents
        .iter()
        .any(|(q, n)| inner.resolve(q.as_deref(), n).is_err())
}

/// A correlated scalar subquery in the select list: the outer rows LEFT JOINed with the
/// subquery grouped by its correlation keys, and the expression that reads its value per
/// outer row (`count` of no rows is 0, not the NULL an unmatched row gets).
pub(super) fn scalar_column(
    outer: Rel,
    q: &sql::Query,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<(Rel, Expr)> {
    let (_, item) = scalar_select(q)?;
    let mut aggs = Vec::new();
    super::select::collect_aggs(item, &mut aggs);
    let is_count = |e: &sql::Expr| super::select::agg_name(e).as_deref() == Some("count");
    let bare_count = is_count(item);
    if !bare_count && aggs.iter().any(is_count) {
        return Err(SqlError::NotSupported(format!(
            "a correlated subquery selecting {item} (count inside an expression)"
        )));
    }
    let g = grouped(&outer, q, tables, words)?;
    let n_outer = outer.scope.names.len();
    let scope = outer.scope.join(&g.scope);
    let col = Expr::Column(n_outer + g.nkeys);
    let value = if bare_count {
        let zero = Expr::Literal(std::sync::Arc::new(arrow::array::Int64Array::from(vec![
            0i64,
        ])));
        Expr::Call(crate::expr::Func::Coalesce, vec![col, zero])
    } else {
        col
    };
    let plan = Plan::Join {
        left: Box::new(outer.plan),
        right: Box::new(g.plan),
        kind: JoinKind::Left,
        on: g.on,
        filter: None,
    };
    Ok((
        Rel {
            plan,
            scope,
            rows: outer.rows,
            base: outer.base,
        },
        value,
    ))
}

/// A scalar subquery's SELECT block and its one item.
fn scalar_select(q: &sql::Query) -> Result<(&sql::Select, &sql::Expr)> {
    let sql::SetExpr::Select(s) = q.body.as_ref() else {
        return Err(SqlError::NotSupported(
            "a correlated subquery over a set operation".into(),
        ));
    };
    let [sql::SelectItem::UnnamedExpr(item) | sql::SelectItem::ExprWithAlias { expr: item, .. }] =
        s.projection.as_slice()
    else {
        return Err(SqlError::Plan(
            "a scalar subquery must select one value".into(),
        ));
    };
    Ok((s, item))
}

/// The scope of a subquery's FROM items, joined.
fn inner_scope(s: &sql::Select, tables: &dyn Tables, words: &HashSet<String>) -> Result<Scope> {
    let mut scope: Option<Scope> = None;
    for t in &s.from {
        let r = from_item(t, tables, words)?;
        scope = Some(match scope {
            None => r.scope,
            Some(acc) => acc.join(&r.scope),
        });
    }
    scope.ok_or_else(|| SqlError::NotSupported("a subquery without FROM".into()))
}

fn resolves(e: &sql::Expr, scope: &Scope) -> bool {
    let mut idents = Vec::new();
    collect_idents(e, &mut idents);
    idents
        .iter()
        .all(|(q, n)| scope.resolve(q.as_deref(), n).is_ok())
}

/// Decorrelates a correlated scalar subquery: the subquery grouped by its correlation keys
/// becomes the build side of a join with the outer rows, and the comparison a filter on
/// the joined rows (Q17: `l_quantity < (SELECT 0.2 * avg(l_quantity) ... WHERE l_partkey =
/// p_partkey)` → join with `SELECT l_partkey, 0.2 * avg(l_quantity) GROUP BY l_partkey`).
/// An outer row with no group is dropped, which is what comparing with NULL does.
pub(super) fn scalar_join(
    outer: Rel,
    c: &sql::Expr,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<Rel> {
    let (x, op, q) = correlated_scalar(c, tables, words)
        .ok_or_else(|| SqlError::Internal("not a correlated scalar subquery".into()))?;
    let g = grouped(&outer, q, tables, words)?;
    let (plan, scope, on, nkeys) = (g.plan, g.scope, g.on, g.nkeys);
    let n_outer = outer.scope.names.len();
    let joined = outer.scope.join(&scope);
    let l = bind(x, &outer.scope, None)?;
    let r = Expr::Column(n_outer + nkeys);
    let bop = match op {
        sql::BinaryOperator::Eq => BinOp::Eq,
        sql::BinaryOperator::NotEq => BinOp::NotEq,
        sql::BinaryOperator::Lt => BinOp::Lt,
        sql::BinaryOperator::LtEq => BinOp::LtEq,
        sql::BinaryOperator::Gt => BinOp::Gt,
        _ => BinOp::GtEq,
    };
    let (lt, rt) = (l.data_type(&joined.schema)?, r.data_type(&joined.schema)?);
    let (l, r) = super::from::coerced(bop, l, &lt, r, &rt);
    let plan = Plan::Project {
        input: Box::new(Plan::Filter {
            input: Box::new(Plan::Join {
                left: Box::new(outer.plan),
                right: Box::new(plan),
                kind: JoinKind::Inner,
                on,
                filter: None,
            }),
            predicate: Expr::Binary(Box::new(l), bop, Box::new(r)),
        }),
        exprs: (0..n_outer)
            .map(|i| (Expr::Column(i), outer.scope.names[i].1.clone()))
            .collect(),
    };
    Ok(Rel {
        plan,
        scope: outer.scope,
        rows: outer.rows,
        base: outer.base,
    })
}

/// A correlated scalar subquery, grouped by its correlation keys: the plan (inner keys, then
/// the value as `__scalar`), its scope, the join keys with the outer rows, and how many keys.
struct Grouped {
    plan: Plan,
    scope: Scope,
    on: Vec<(Expr, Expr)>,
    nkeys: usize,
}

fn grouped(
    outer: &Rel,
    q: &sql::Query,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<Grouped> {
    let (s, item) = scalar_select(q)?;
    let inner = inner_scope(s, tables, words)?;
    let mut cs = Vec::new();
    if let Some(w) = &s.selection {
        conjuncts(w, &mut cs);
    }
    let (mut local, mut keys) = (Vec::new(), Vec::new());
    for c in cs {
        if resolves(&c, &inner) {
            local.push(c);
            continue;
        }
        let pair = match &c {
            sql::Expr::BinaryOp {
                left: a,
                op: sql::BinaryOperator::Eq,
                right: b,
            } => {
                if resolves(a, &inner) && resolves(b, &outer.scope) {
                    Some(((**b).clone(), (**a).clone()))
                } else if resolves(b, &inner) && resolves(a, &outer.scope) {
                    Some(((**a).clone(), (**b).clone()))
                } else {
                    None
                }
            }
            _ => None,
        };
        match pair {
            Some(p) => keys.push(p),
            None => {
                return Err(SqlError::NotSupported(format!(
                    "correlated condition {c} (only equalities with the outer query are decorrelated)"
                )));
            }
        }
    }
    if keys.is_empty() {
        return Err(SqlError::NotSupported(
            "correlated subquery without an equality".into(),
        ));
    }
    // SELECT inner keys..., item AS __scalar FROM ... WHERE local GROUP BY inner keys
    let mut grouped = s.clone();
    grouped.selection = and_all(local);
    grouped.group_by =
        sql::GroupByExpr::Expressions(keys.iter().map(|(_, i)| i.clone()).collect(), vec![]);
    let mut projection: Vec<sql::SelectItem> = keys
        .iter()
        .map(|(_, i)| sql::SelectItem::UnnamedExpr(i.clone()))
        .collect();
    projection.push(sql::SelectItem::ExprWithAlias {
        expr: item.clone(),
        alias: sql::Ident::new("__scalar"),
    });
    grouped.projection = projection;
    let (plan, scope, _) = plan_select(&grouped, tables, words)?;
    // Aggregate only the inner rows whose keys the outer query has (a semi join with the
    // outer rows before grouping), instead of every group of the inner relation.
    let plan = match plan {
        Plan::Project { input, exprs } => match *input {
            Plan::Aggregate {
                input: inner_rows,
                group,
                aggs,
            } => {
                let inner_scope = Scope::new(inner_rows.schema(), None);
                let semi_on = group
                    .iter()
                    .zip(&keys)
                    .map(|((g, _), (o, _))| {
                        key_pair(
                            g.clone(),
                            &inner_scope,
                            bind(o, &outer.scope, None)?,
                            &outer.scope,
                        )
                    })
                    .collect::<Result<Vec<_>>>()?;
                Plan::Project {
                    input: Box::new(Plan::Aggregate {
                        input: Box::new(Plan::Join {
                            left: inner_rows,
                            right: Box::new(outer.plan.clone()),
                            kind: JoinKind::Semi,
                            on: semi_on,
                            filter: None,
                        }),
                        group,
                        aggs,
                    }),
                    exprs,
                }
            }
            other => Plan::Project {
                input: Box::new(other),
                exprs,
            },
        },
        other => other,
    };
    let on = keys
        .iter()
        .enumerate()
        .map(|(i, (o, _))| {
            key_pair(
                bind(o, &outer.scope, None)?,
                &outer.scope,
                Expr::Column(i),
                &scope,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Grouped {
        plan,
        scope,
        on,
        nkeys: keys.len(),
    })
}

/// `[NOT] EXISTS (...)` or `x [NOT] IN (SELECT ...)`.
pub(super) fn is_semi(c: &sql::Expr) -> bool {
    match c {
        sql::Expr::Exists { .. } => true,
        sql::Expr::In {
            target: sql::InTarget::Subquery(_),
            ..
        } => true,
        sql::Expr::UnaryOp {
            op: sql::UnaryOperator::Not,
            expr,
        } => is_semi(expr),
        sql::Expr::Nested(x) => is_semi(x),
        _ => false,
    }
}

/// Decorrelates an EXISTS / IN subquery into a semi (or anti) join with `outer`.
pub(super) fn semi_join(
    outer: Rel,
    c: &sql::Expr,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<Rel> {
    let (c, flip) = match c {
        sql::Expr::UnaryOp {
            op: sql::UnaryOperator::Not,
            expr,
        } => (expr.as_ref(), true),
        other => (other, false),
    };
    let c = match c {
        sql::Expr::Nested(x) => x.as_ref(),
        other => other,
    };
    match c {
        sql::Expr::In {
            expr,
            target: sql::InTarget::Subquery(q),
            negated,
            ..
        } => {
            // Uncorrelated: plan the subquery on its own; join on its single column.
            let (plan, scope) = plan_query_with(q, tables, words)?;
            if scope.names.len() != 1 {
                return Err(SqlError::Plan(format!(
                    "IN (subquery) needs a subquery of one column, got {}",
                    scope.names.len()
                )));
            }
            let l = bind(expr, &outer.scope, None)?;
            let key = key_pair(l, &outer.scope, Expr::Column(0), &scope)?;
            let kind = if *negated != flip {
                JoinKind::NullAwareAnti
            } else {
                JoinKind::Semi
            };
            Ok(Rel {
                plan: Plan::Join {
                    left: Box::new(outer.plan),
                    right: Box::new(plan),
                    kind,
                    on: vec![key],
                    filter: None,
                },
                scope: outer.scope,
                rows: outer.rows,
                base: outer.base,
            })
        }
        sql::Expr::Exists { subquery, negated } => {
            let sql::SetExpr::Select(s) = subquery.body.as_ref() else {
                return Err(SqlError::NotSupported("EXISTS over a set operation".into()));
            };
            if !matches!(&s.group_by, sql::GroupByExpr::Expressions(v, _) if v.is_empty())
                || s.having.is_some()
            {
                return Err(SqlError::NotSupported("EXISTS over an aggregate".into()));
            }
            let mut inner = {
                let mut rels = s
                    .from
                    .iter()
                    .map(|t| from_item(t, tables, words))
                    .collect::<Result<Vec<_>>>()?;
                if rels.len() != 1 {
                    return Err(SqlError::NotSupported("EXISTS over several tables".into()));
                }
                rels.remove(0)
            };
            let mut cs = Vec::new();
            if let Some(w) = &s.selection {
                conjuncts(w, &mut cs);
            }
            let pair = outer.scope.join(&inner.scope);
            let mut on = Vec::new();
            let mut residual = Vec::new();
            for c in &cs {
                if let Ok(p) = bind(c, &inner.scope, None) {
                    inner.plan = Plan::Filter {
                        input: Box::new(inner.plan),
                        predicate: p,
                    };
                    continue;
                }
                if let sql::Expr::BinaryOp {
                    left: a,
                    op: sql::BinaryOperator::Eq,
                    right: b,
                } = c
                {
                    let straight = (bind(a, &outer.scope, None), bind(b, &inner.scope, None));
                    let swapped = (bind(b, &outer.scope, None), bind(a, &inner.scope, None));
                    if let ((Ok(l), Ok(r)), _) | (_, (Ok(l), Ok(r))) = (straight, swapped) {
                        on.push(key_pair(l, &outer.scope, r, &inner.scope)?);
                        continue;
                    }
                }
                residual.push(bind(c, &pair, None)?);
            }
            if on.is_empty() {
                return Err(SqlError::NotSupported(
                    "EXISTS without an equality to the outer query".into(),
                ));
            }
            let kind = if *negated != flip {
                JoinKind::Anti
            } else {
                JoinKind::Semi
            };
            let filter = residual
                .into_iter()
                .reduce(|a, b| Expr::Binary(Box::new(a), BinOp::And, Box::new(b)));
            Ok(Rel {
                plan: Plan::Join {
                    left: Box::new(outer.plan),
                    right: Box::new(inner.plan),
                    kind,
                    on,
                    filter,
                },
                scope: outer.scope,
                rows: outer.rows,
                base: outer.base,
            })
        }
        other => Err(SqlError::NotSupported(format!("condition {other}"))),
    }
}

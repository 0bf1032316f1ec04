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
    idents.iter().any(|(q, n)| !inner.has(q.as_deref(), n))
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
    if !bare_count && !empty_is_null(item) {
        return Err(SqlError::NotSupported(format!(
            "a correlated subquery selecting {item} (a bare count, or aggregates combined \
             by arithmetic)"
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

/// Whether a subquery item is NULL over no rows: aggregates other than count (sum, avg,
/// min, max, ...) combined by arithmetic with columns and constants. Then an outer row
/// without a group may get NULL; `count`, `coalesce(sum(x), 0)` or CASE would need the
/// item's value over no rows instead.
fn empty_is_null(e: &sql::Expr) -> bool {
    match e {
        sql::Expr::Function(_) => super::select::agg_name(e)
            .is_some_and(|n| matches!(n.as_str(), "sum" | "avg" | "min" | "max")),
        sql::Expr::Nested(x) | sql::Expr::UnaryOp { expr: x, .. } => empty_is_null(x),
        sql::Expr::BinaryOp { left, op, right } => {
            use sql::BinaryOperator as O;
            matches!(op, O::Plus | O::Minus | O::Multiply | O::Divide | O::Modulo)
                && (empty_is_null(left) || empty_is_null(right))
                && is_plain(left)
                && is_plain(right)
        }
        _ => false,
    }
}

/// Columns, constants, non-count aggregates and arithmetic (NULL in, NULL out).
fn is_plain(e: &sql::Expr) -> bool {
    match e {
        sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_) | sql::Expr::Value(_) => true,
        other => empty_is_null(other),
    }
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
    idents.iter().all(|(q, n)| scope.has(q.as_deref(), n))
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
    // An outer row whose group is empty gets the subquery's value over no rows: NULL for
    // these items (the row is then dropped, as comparing with NULL does), 0 for a bare
    // count (the row must meet 0: a LEFT join and coalesce).
    let (_, item) = scalar_select(q)?;
    let bare_count = super::select::agg_name(item).as_deref() == Some("count");
    if !bare_count && !empty_is_null(item) {
        return Err(SqlError::NotSupported(format!(
            "a correlated subquery selecting {item} in a comparison (a bare count, or \
             aggregates combined by arithmetic)"
        )));
    }
    let g = grouped(&outer, q, tables, words)?;
    let (plan, scope, on, nkeys) = (g.plan, g.scope, g.on, g.nkeys);
    let n_outer = outer.scope.names.len();
    let joined = outer.scope.join(&scope);
    let l = bind(x, &outer.scope, None)?;
    let r = if bare_count {
        let zero = Expr::Literal(std::sync::Arc::new(arrow::array::Int64Array::from(vec![
            0i64,
        ])));
        Expr::Call(
            crate::expr::Func::Coalesce,
            vec![Expr::Column(n_outer + nkeys), zero],
        )
    } else {
        Expr::Column(n_outer + nkeys)
    };
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
                kind: if bare_count {
                    JoinKind::Left
                } else {
                    JoinKind::Inner
                },
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
                // `x.b < t1.b`: rewritten over the outer query's domain, then decorrelated
                // by equalities with it.
                let q2 = with_domain(q, s, &inner, &outer.scope)?;
                return grouped(outer, &q2, tables, words);
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

thread_local! {
    /// The FROM items of the SELECTs being planned, innermost last.
    pub(super) static OUTER_FROM: std::cell::RefCell<Vec<Vec<sql::TableWithJoins>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A correlated scalar subquery whose conditions with the outer query are not all
/// equalities (`(SELECT count(*) FROM t1 AS x WHERE x.b < t1.b)`), rewritten so that they
/// are: the distinct values of the outer columns it reads become a relation of the
/// subquery (`__d`, drawn from the outer query's FROM items: a superset of the outer
/// rows' values is enough), the conditions read `__d` instead of the outer query, and one
/// equality per outer column ties `__d` to the outer row. Grouping by `__d` then gives
/// each outer row its value (Neumann and Kemper's "magic set" decorrelation).
///
/// Only comparisons whose outer operands are columns and arithmetic are rewritten: they
/// are unknown when an outer value is NULL, as the equality tie is, so no row changes
/// its answer. Other shapes stay "not supported".
fn with_domain(
    q: &sql::Query,
    s: &sql::Select,
    inner: &Scope,
    outer: &Scope,
) -> Result<sql::Query> {
    let refused = |c: &dyn std::fmt::Display| {
        SqlError::NotSupported(format!(
            "correlated condition {c} (comparisons of columns and arithmetic with the outer \
             query are decorrelated)"
        ))
    };
    let outer_from = OUTER_FROM
        .with(|o| {
            let o = o.borrow();
            // The SELECT being planned is the one whose FROM or WHERE holds the subquery.
            o.last().cloned()
        })
        .ok_or_else(|| refused(&"(no outer FROM)"))?;
    if s.from.iter().any(|t| t.to_string().contains("__d")) {
        return Err(refused(&"(nested domains)"));
    }
    let mut cs = Vec::new();
    if let Some(w) = &s.selection {
        conjuncts(w, &mut cs);
    }
    let mut refs: Vec<sql::Expr> = Vec::new();
    let mut rewritten = Vec::new();
    for c in cs {
        if resolves(&c, inner) {
            rewritten.push(c);
            continue;
        }
        if !strict_comparison(&c) {
            return Err(refused(&c));
        }
        let mut c2 = c.clone();
        replace_outer(&mut c2, inner, outer, &mut refs).map_err(|_| refused(&c))?;
        rewritten.push(c2);
    }
    let d_col = |i: usize| {
        sql::Expr::CompoundIdentifier(vec![
            sql::Ident::new("__d"),
            sql::Ident::new(format!("__o{i}")),
        ])
    };
    for (i, r) in refs.iter().enumerate() {
        rewritten.push(sql::Expr::BinaryOp {
            left: Box::new(d_col(i)),
            op: sql::BinaryOperator::Eq,
            right: Box::new(r.clone()),
        });
    }
    let domain = format!(
        "SELECT DISTINCT {} FROM {}",
        refs.iter()
            .enumerate()
            .map(|(i, r)| format!("{r} AS __o{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        outer_from
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let domain =
        match sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, &domain)
            .map_err(|e| SqlError::Internal(format!("domain query {domain}: {e}")))?
            .pop()
        {
            Some(sql::Statement::Query(d)) => d,
            _ => return Err(SqlError::Internal("domain query".into())),
        };
    let mut s2 = s.clone();
    s2.from.push(sql::TableWithJoins {
        relation: sql::TableFactor::Derived {
            lateral: false,
            subquery: domain,
            alias: Some(sql::TableAlias {
                explicit: true,
                name: sql::Ident::new("__d"),
                columns: vec![],
                at: None,
            }),
            sample: None,
        },
        joins: vec![],
    });
    s2.selection = and_all(rewritten);
    let mut q2 = q.clone();
    *q2.body = sql::SetExpr::Select(Box::new(s2));
    Ok(q2)
}

/// A comparison (or BETWEEN) whose operands are columns, constants and arithmetic: NULL
/// whenever an operand is.
fn strict_comparison(c: &sql::Expr) -> bool {
    fn operand(e: &sql::Expr) -> bool {
        match e {
            sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_) | sql::Expr::Value(_) => {
                true
            }
            sql::Expr::Nested(x) => operand(x),
            sql::Expr::UnaryOp {
                op: sql::UnaryOperator::Minus | sql::UnaryOperator::Plus,
                expr,
            } => operand(expr),
            sql::Expr::BinaryOp { left, op, right } => {
                use sql::BinaryOperator as O;
                matches!(op, O::Plus | O::Minus | O::Multiply | O::Divide | O::Modulo)
                    && operand(left)
                    && operand(right)
            }
            _ => false,
        }
    }
    use sql::BinaryOperator as O;
    match c {
        sql::Expr::Nested(x) => strict_comparison(x),
        sql::Expr::BinaryOp { left, op, right } => {
            matches!(op, O::Eq | O::NotEq | O::Lt | O::LtEq | O::Gt | O::GtEq)
                && operand(left)
                && operand(right)
        }
        sql::Expr::Between {
            expr, low, high, ..
        } => operand(expr) && operand(low) && operand(high),
        _ => false,
    }
}

/// Replaces each column of the outer query in `e` by `__d.__oN`, collecting the distinct
/// outer columns in `refs`.
fn replace_outer(
    e: &mut sql::Expr,
    inner: &Scope,
    outer: &Scope,
    refs: &mut Vec<sql::Expr>,
) -> std::result::Result<(), ()> {
    let is_col = matches!(
        e,
        sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_)
    );
    if is_col {
        if resolves(e, inner) {
            return Ok(());
        }
        if !resolves(e, outer) {
            return Err(());
        }
        let i = match refs.iter().position(|r| r == e) {
            Some(i) => i,
            None => {
                refs.push(e.clone());
                refs.len() - 1
            }
        };
        *e = sql::Expr::CompoundIdentifier(vec![
            sql::Ident::new("__d"),
            sql::Ident::new(format!("__o{i}")),
        ]);
        return Ok(());
    }
    match e {
        sql::Expr::Nested(x) | sql::Expr::UnaryOp { expr: x, .. } => {
            replace_outer(x, inner, outer, refs)
        }
        sql::Expr::BinaryOp { left, right, .. } => {
            replace_outer(left, inner, outer, refs)?;
            replace_outer(right, inner, outer, refs)
        }
        sql::Expr::Between {
            expr, low, high, ..
        } => {
            replace_outer(expr, inner, outer, refs)?;
            replace_outer(low, inner, outer, refs)?;
            replace_outer(high, inner, outer, refs)
        }
        _ => Ok(()),
    }
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
            let mut cs = Vec::new();
            if let Some(w) = &s.selection {
                conjuncts(w, &mut cs);
            }
            let mut inner = {
                let mut rels = s
                    .from
                    .iter()
                    .map(|t| from_item(t, tables, words))
                    .collect::<Result<Vec<_>>>()?;
                if rels.len() == 1 {
                    rels.remove(0)
                } else {
                    // Several tables: the conditions among them (those that bind without
                    // the outer query; inner names shadow outer ones) are planned with
                    // them as one relation; the rest correlate it with the outer query.
                    let Some(first) = rels.first() else {
                        return Err(SqlError::Plan("EXISTS over no table".into()));
                    };
                    let all = rels[1..]
                        .iter()
                        .fold(first.scope.clone(), |a, r| a.join(&r.scope));
                    let (local, rest): (Vec<sql::Expr>, Vec<sql::Expr>) =
                        cs.into_iter().partition(|c| bind(c, &all, None).is_ok());
                    cs = rest;
                    let mut body = (**s).clone();
                    body.selection = local.into_iter().reduce(|a, b| sql::Expr::BinaryOp {
                        left: Box::new(a),
                        op: sql::BinaryOperator::And,
                        right: Box::new(b),
                    });
                    super::from::plan_from_where(&body, tables, words)?
                }
            };
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
                // No equality with the outer query (`x.b < t.b`): every outer row meets
                // every inner row under one constant key and the conditions decide (a
                // nested-loop semi/anti join).
                let one = || {
                    Expr::Literal(std::sync::Arc::new(arrow::array::Int64Array::from(vec![
                        1i64,
                    ])))
                };
                on.push((one(), one()));
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

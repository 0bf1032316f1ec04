//! Window functions over ROLLUP / CUBE / GROUPING SETS (TPC-DS q70, q86): `rank() OVER
//! (PARTITION BY grouping(a) + grouping(b) ORDER BY sum(x))` ranks rows of every grouping
//! set together, so the windows cannot run inside the per-set branches of the UNION ALL
//! that plans the grouping sets. The query becomes two levels:
//!
//! ```text
//! SELECT <items, with keys, aggregates and GROUPING(..) read from __gs>
//! FROM (<one branch per grouping set: keys (NULL where absent) AS __k<i>,
//!        aggregates AS __a<j>, GROUPING(..) values AS __g<m>>) AS __gs
//! ORDER BY <the same substitution> LIMIT ...
//! ```
//!
//! The inner query is an ordinary grouping-sets query (see `grouping_sets`); the outer one
//! computes the windows over all its rows. Keys, aggregates and GROUPING calls are matched
//! by their SQL text, as the planner matches them elsewhere.

use super::select;
use crate::error::{Result, SqlError};
use sqlparser::ast as sql;

/// Whether `q` (body `s`) groups by ROLLUP / CUBE / GROUPING SETS and has window
/// functions, or orders by an expression of GROUPING(..) (which the union of the sets
/// alone cannot evaluate).
pub(super) fn applies(q: &sql::Query, s: &sql::Select) -> bool {
    let sql::GroupByExpr::Expressions(keys, _) = &s.group_by else {
        return false;
    };
    let sets = keys.iter().any(|k| {
        matches!(
            k,
            sql::Expr::Rollup(_) | sql::Expr::Cube(_) | sql::Expr::GroupingSets(_)
        )
    });
    let windows = s.projection.iter().any(|it| match it {
        sql::SelectItem::UnnamedExpr(e) | sql::SelectItem::ExprWithAlias { expr: e, .. } => {
            let mut w = Vec::new();
            super::window::collect(e, &mut w);
            !w.is_empty()
        }
        _ => false,
    });
    let ordered_by_grouping = match &q.order_by {
        Some(sql::OrderBy {
            kind: sql::OrderByKind::Expressions(v),
            ..
        }) => v.iter().any(|o| {
            let mut g = Vec::new();
            collect_groupings(&o.expr, &mut g);
            !g.is_empty()
        }),
        _ => false,
    };
    sets && (windows || ordered_by_grouping)
}

/// `q` (whose body is `s`) as windows over a derived table of the grouping sets.
pub(super) fn rewrite(q: &sql::Query, s: &sql::Select) -> Result<sql::Query> {
    let sql::GroupByExpr::Expressions(groups, _) = &s.group_by else {
        return Err(SqlError::Internal("grouping sets without keys".into()));
    };
    // Every key of every set, once.
    let mut keys: Vec<sql::Expr> = Vec::new();
    let mut add_key = |e: &sql::Expr| {
        if !keys.iter().any(|k| k.to_string() == e.to_string()) {
            keys.push(e.clone());
        }
    };
    for g in groups {
        match g {
            sql::Expr::Rollup(sets) | sql::Expr::Cube(sets) | sql::Expr::GroupingSets(sets) => {
                sets.iter().flatten().for_each(&mut add_key)
            }
            plain => add_key(plain),
        }
    }
    let mut items: Vec<(sql::Expr, sql::Ident)> = Vec::new();
    for it in &s.projection {
        match it {
            sql::SelectItem::UnnamedExpr(e) => {
                items.push((e.clone(), sql::Ident::new(select::item_name(e))))
            }
            sql::SelectItem::ExprWithAlias { expr, alias } => {
                items.push((expr.clone(), alias.clone()))
            }
            other => {
                return Err(SqlError::NotSupported(format!(
                    "{other} beside window functions over ROLLUP / CUBE / GROUPING SETS"
                )));
            }
        }
    }
    let order: Vec<sql::Expr> = match &q.order_by {
        Some(sql::OrderBy {
            kind: sql::OrderByKind::Expressions(v),
            ..
        }) => v.iter().map(|o| o.expr.clone()).collect(),
        _ => Vec::new(),
    };
    // What the inner level computes: aggregates and GROUPING calls of items and ORDER BY.
    let mut aggs = Vec::new();
    let mut groupings = Vec::new();
    for e in items.iter().map(|(e, _)| e).chain(order.iter()) {
        select::collect_aggs(e, &mut aggs);
        collect_groupings(e, &mut groupings);
    }
    let mut inner_items = Vec::new();
    let mut map: Vec<(String, String)> = Vec::new();
    for (prefix, list) in [("__a", &aggs), ("__g", &groupings), ("__k", &keys)] {
        for (i, e) in list.iter().enumerate() {
            let name = format!("{prefix}{i}");
            map.push((e.to_string(), name.clone()));
            inner_items.push(sql::SelectItem::ExprWithAlias {
                expr: e.clone(),
                alias: sql::Ident::new(name),
            });
        }
    }
    let mut inner = s.clone();
    inner.projection = inner_items;
    let Some(union) = super::grouping_sets(&inner)? else {
        return Err(SqlError::Internal("grouping sets vanished".into()));
    };
    // The outer level: a template's derived table takes the union as its body.
    let mut outer = super::parse_query("SELECT 1 FROM (SELECT 1) AS __gs")?;
    let sql::SetExpr::Select(o) = outer.body.as_mut() else {
        return Err(SqlError::Internal("template is a SELECT".into()));
    };
    let Some(sql::TableFactor::Derived { subquery, .. }) =
        o.from.first_mut().map(|f| &mut f.relation)
    else {
        return Err(SqlError::Internal("template reads a derived table".into()));
    };
    *subquery.body = union;
    o.projection = items
        .into_iter()
        .map(|(mut e, alias)| {
            substitute(&mut e, &map);
            sql::SelectItem::ExprWithAlias { expr: e, alias }
        })
        .collect();
    let mut q2 = q.clone();
    q2.body = outer.body;
    if let Some(sql::OrderBy {
        kind: sql::OrderByKind::Expressions(v),
        ..
    }) = &mut q2.order_by
    {
        for o in v {
            substitute(&mut o.expr, &map);
        }
    }
    Ok(q2)
}

/// Whether `e` is a `GROUPING(..)` call.
fn is_grouping(e: &sql::Expr) -> bool {
    matches!(e, sql::Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("grouping"))
}

/// `GROUPING(..)` calls in `e`, window specifications included, by their text.
fn collect_groupings(e: &sql::Expr, out: &mut Vec<sql::Expr>) {
    if is_grouping(e) {
        if !out.iter().any(|x| x.to_string() == e.to_string()) {
            out.push(e.clone());
        }
        return;
    }
    let mut e = e.clone();
    each_child(&mut e, &mut |c| collect_groupings(c, out));
}

/// Replaces every subexpression of `e` whose text `map` holds by that column of `__gs`
/// (outermost first: `sum(x)` before its `x`).
fn substitute(e: &mut sql::Expr, map: &[(String, String)]) {
    let text = e.to_string();
    if let Some((_, name)) = map.iter().find(|(t, _)| *t == text) {
        *e = sql::Expr::CompoundIdentifier(vec![sql::Ident::new("__gs"), sql::Ident::new(name)]);
        return;
    }
    each_child(e, &mut |c| substitute(c, map));
}

/// Calls `f` on each direct subexpression of `e`, window specifications included.
fn each_child(e: &mut sql::Expr, f: &mut dyn FnMut(&mut sql::Expr)) {
    match e {
        sql::Expr::BinaryOp { left, right, .. } => {
            f(left);
            f(right);
        }
        sql::Expr::UnaryOp { expr, .. }
        | sql::Expr::Nested(expr)
        | sql::Expr::Cast { expr, .. }
        | sql::Expr::IsNull(expr)
        | sql::Expr::IsNotNull(expr) => f(expr),
        sql::Expr::Between {
            expr, low, high, ..
        } => {
            f(expr);
            f(low);
            f(high);
        }
        sql::Expr::In {
            expr,
            target: sql::InTarget::List(list),
            ..
        } => {
            f(expr);
            list.iter_mut().for_each(&mut *f);
        }
        sql::Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            if let Some(o) = operand {
                f(o);
            }
            for w in conditions {
                f(&mut w.condition);
                f(&mut w.result);
            }
            if let Some(x) = else_result {
                f(x);
            }
        }
        sql::Expr::Function(func) => {
            if let sql::FunctionArguments::List(list) = &mut func.args {
                for a in &mut list.args {
                    if let sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) = a {
                        f(x);
                    }
                }
            }
            if let Some(sql::WindowType::WindowSpec(spec)) = &mut func.over {
                spec.partition_by.iter_mut().for_each(&mut *f);
                for o in &mut spec.order_by {
                    f(&mut o.expr);
                }
            }
        }
        _ => {}
    }
}

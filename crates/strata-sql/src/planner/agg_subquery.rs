//! Correlated subqueries over a grouped query, in its SELECT list, HAVING or ORDER BY
//! (`SELECT k, (SELECT count(*) FROM w WHERE w.y = t.k) FROM t GROUP BY k HAVING sum(x) >
//! (SELECT ...)`): the grouping moves into a derived table and the subqueries run over its
//! rows, where correlation is the ordinary kind the planner decorrelates.
//!
//! ```text
//! SELECT items' FROM (SELECT key0 AS __k0, ..., agg0 AS __a0, ... FROM .. WHERE ..
//!                     GROUP BY key0, ...) AS __g
//! WHERE having' ORDER BY order'
//! ```
//!
//! In `items'`, `having'` and `order'`, each group key and aggregate call (outside
//! subqueries) becomes its `__g` column, and inside the subqueries each reference to an
//! outer relation's column that is a group key (`t.k`) becomes `__g.__kN`. Output names
//! stay those of the original items. Applied only when the planner refused the query as
//! it stood, so every query it planned before plans as before; a reference it cannot map
//! (a column that is neither grouped nor aggregated) stays and fails to resolve, an error
//! rather than an answer.

use super::*;
use sqlparser::ast::{VisitMut, VisitorMut};
use std::ops::ControlFlow;

/// Whether `s` is a grouped query this rewrite handles: plain GROUP BY expressions (or
/// aggregates without GROUP BY), no `*`, no window functions.
pub(super) fn applies(s: &sql::Select) -> bool {
    let plain_group = match &s.group_by {
        sql::GroupByExpr::Expressions(keys, modifiers) => {
            modifiers.is_empty()
                && !keys.iter().any(|k| {
                    matches!(
                        k,
                        sql::Expr::Rollup(_) | sql::Expr::Cube(_) | sql::Expr::GroupingSets(_)
                    )
                })
        }
        sql::GroupByExpr::All(_) => false,
    };
    let grouped = !matches!(&s.group_by, sql::GroupByExpr::Expressions(k, _) if k.is_empty())
        || s.having.is_some()
        || s.projection.iter().any(|i| {
            let mut aggs = Vec::new();
            if let sql::SelectItem::UnnamedExpr(e)
            | sql::SelectItem::ExprWithAlias { expr: e, .. } = i
            {
                select::collect_aggs(e, &mut aggs);
            }
            !aggs.is_empty()
        });
    let mut windows = Vec::new();
    let plain_items = s.projection.iter().all(|i| match i {
        sql::SelectItem::UnnamedExpr(e) | sql::SelectItem::ExprWithAlias { expr: e, .. } => {
            window::collect(e, &mut windows);
            true
        }
        _ => false,
    });
    plain_group && grouped && plain_items && windows.is_empty() && s.qualify.is_none()
}

/// An error from planning the rewritten query, in the terms of the user's query: a column
/// the rewrite could not map is one neither grouped nor aggregated (the derived table's
/// names stay out of the message).
pub(super) fn user_error(e: SqlError) -> SqlError {
    match e {
        SqlError::Plan(m) if m.contains("__g.") => {
            let what = m.split(';').next().unwrap_or(&m);
            SqlError::Plan(format!(
                "{what}: a subquery of a grouped query may use the outer query's grouped \
                 columns and aggregates only"
            ))
        }
        other => other,
    }
}

/// Whether an ORDER BY holds a subquery.
pub(super) fn has_subquery(ob: &sql::OrderBy) -> bool {
    struct Finder;
    impl sqlparser::ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &sql::Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
    }
    sqlparser::ast::Visit::visit(ob, &mut Finder).is_break()
}

/// The rewritten query (see the module docs).
pub(super) fn rewrite(q: &sql::Query, s: &sql::Select) -> Result<sql::Query> {
    let refuse = || SqlError::NotSupported("correlated subqueries in this grouped query".into());
    let items: Vec<(sql::Expr, Option<sql::Ident>)> = s
        .projection
        .iter()
        .map(|i| match i {
            sql::SelectItem::UnnamedExpr(e) => Ok((e.clone(), None)),
            sql::SelectItem::ExprWithAlias { expr, alias } => {
                Ok((expr.clone(), Some(alias.clone())))
            }
            _ => Err(refuse()),
        })
        .collect::<Result<_>>()?;
    let sql::GroupByExpr::Expressions(group, _) = &s.group_by else {
        return Err(refuse());
    };
    // GROUP BY 2 / GROUP BY alias name the item's expression.
    let keys: Vec<sql::Expr> = group
        .iter()
        .map(|k| match k {
            sql::Expr::Value(v) => match &v.value {
                sql::Value::Number(n, _) => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| items.get(n.wrapping_sub(1)))
                    .map(|(e, _)| e.clone())
                    .ok_or_else(refuse),
                _ => Ok(k.clone()),
            },
            sql::Expr::Identifier(id) => Ok(items
                .iter()
                .find(|(_, a)| {
                    a.as_ref()
                        .is_some_and(|a| a.value.eq_ignore_ascii_case(&id.value))
                })
                .map_or_else(|| k.clone(), |(e, _)| e.clone())),
            _ => Ok(k.clone()),
        })
        .collect::<Result<_>>()?;
    let mut outer: HashSet<String> = HashSet::new();
    for t in &s.from {
        for r in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            outer.extend(relation_names(r));
        }
    }
    let mut m = Mapper {
        keys: keys.clone(),
        aggs: Vec::new(),
        outer,
        inner: Vec::new(),
        depth: 0,
    };
    let mut new_items = Vec::new();
    for (e, alias) in items {
        let name = alias.unwrap_or_else(|| sql::Ident::with_quote('"', select::item_name(&e)));
        let mut e = e;
        let _ = e.visit(&mut m);
        new_items.push(sql::SelectItem::ExprWithAlias {
            expr: e,
            alias: name,
        });
    }
    let mut having = s.having.clone();
    if let Some(h) = having.as_mut() {
        let _ = h.visit(&mut m);
    }
    let mut order_by = q.order_by.clone();
    if let Some(ob) = order_by.as_mut() {
        let _ = ob.visit(&mut m);
    }
    let col = |prefix: &str, i: usize| sql::Ident::new(format!("{prefix}{i}"));
    let mut inner = s.clone();
    inner.projection = keys
        .iter()
        .enumerate()
        .map(|(i, k)| sql::SelectItem::ExprWithAlias {
            expr: k.clone(),
            alias: col("__k", i),
        })
        .chain(
            m.aggs
                .iter()
                .enumerate()
                .map(|(i, a)| sql::SelectItem::ExprWithAlias {
                    expr: a.clone(),
                    alias: col("__a", i),
                }),
        )
        .collect();
    if inner.projection.is_empty() {
        // Neither keys nor aggregates: nothing to group (cannot be reached via `applies`).
        return Err(refuse());
    }
    inner.having = None;
    inner.group_by = sql::GroupByExpr::Expressions(keys, vec![]);
    inner.distinct = None;
    let mut inner_q = q.clone();
    inner_q.with = None;
    inner_q.order_by = None;
    inner_q.limit_clause = None;
    *inner_q.body = sql::SetExpr::Select(Box::new(inner));
    let mut outer_s = s.clone();
    outer_s.projection = new_items;
    outer_s.from = vec![sql::TableWithJoins {
        relation: sql::TableFactor::Derived {
            lateral: false,
            subquery: Box::new(inner_q),
            alias: Some(sql::TableAlias {
                explicit: true,
                name: sql::Ident::new("__g"),
                columns: vec![],
                at: None,
            }),
            sample: None,
        },
        joins: vec![],
    }];
    outer_s.selection = having;
    outer_s.group_by = sql::GroupByExpr::Expressions(vec![], vec![]);
    outer_s.having = None;
    let mut out = q.clone();
    *out.body = sql::SetExpr::Select(Box::new(outer_s));
    out.order_by = order_by;
    Ok(out)
}

/// The names a FROM item answers to (its alias, or its table name's last part).
fn relation_names(r: &sql::TableFactor) -> Vec<String> {
    match r {
        sql::TableFactor::Table { name, alias, .. } => vec![match alias {
            Some(a) => a.name.value.to_lowercase(),
            None => name
                .0
                .last()
                .map(|p| p.to_string().trim_matches('"').to_lowercase())
                .unwrap_or_default(),
        }],
        sql::TableFactor::Derived { alias: Some(a), .. } => vec![a.name.value.to_lowercase()],
        sql::TableFactor::NestedJoin {
            table_with_joins, ..
        } => std::iter::once(&table_with_joins.relation)
            .chain(table_with_joins.joins.iter().map(|j| &j.relation))
            .flat_map(relation_names)
            .collect(),
        _ => vec![],
    }
}

/// Replaces group keys and aggregates (outside subqueries) and outer group-key references
/// (inside them) by the derived table's columns.
struct Mapper {
    keys: Vec<sql::Expr>,
    aggs: Vec<sql::Expr>,
    /// Names of the grouped query's FROM items.
    outer: HashSet<String>,
    /// Per subquery level entered, the names its own FROM items take (they shadow outer
    /// ones).
    inner: Vec<HashSet<String>>,
    depth: usize,
}

/// `(qualifier, column)` of a column reference.
fn column_ref(e: &sql::Expr) -> Option<(Option<String>, String)> {
    match e {
        sql::Expr::Identifier(i) => Some((None, i.value.to_lowercase())),
        sql::Expr::CompoundIdentifier(ids) if ids.len() == 2 => Some((
            Some(ids[0].value.to_lowercase()),
            ids[1].value.to_lowercase(),
        )),
        _ => None,
    }
}

impl Mapper {
    /// The group key `e` is, by text or as the same column.
    fn key_of(&self, e: &sql::Expr) -> Option<usize> {
        let text = e.to_string().to_lowercase();
        if let Some(i) = self
            .keys
            .iter()
            .position(|k| k.to_string().to_lowercase() == text)
        {
            return Some(i);
        }
        let (q, c) = column_ref(e)?;
        let hits: Vec<usize> = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| {
                column_ref(k)
                    .is_some_and(|(kq, kc)| kc == c && (kq.is_none() || q.is_none() || kq == q))
            })
            .map(|(i, _)| i)
            .collect();
        (hits.len() == 1).then(|| hits[0])
    }
}

fn g_col(prefix: &str, i: usize) -> sql::Expr {
    sql::Expr::CompoundIdentifier(vec![
        sql::Ident::new("__g"),
        sql::Ident::new(format!("{prefix}{i}")),
    ])
}

impl VisitorMut for Mapper {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut sql::Query) -> ControlFlow<()> {
        self.depth += 1;
        let mut names = HashSet::new();
        if let sql::SetExpr::Select(s) = q.body.as_ref() {
            for t in &s.from {
                for r in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
                    names.extend(relation_names(r));
                }
            }
        }
        self.inner.push(names);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &mut sql::Query) -> ControlFlow<()> {
        self.depth -= 1;
        self.inner.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut sql::Expr) -> ControlFlow<()> {
        if self.depth == 0 {
            if let Some(i) = self.key_of(e) {
                *e = g_col("__k", i);
            } else if select::agg_name(e).is_some() {
                let text = e.to_string();
                let i = match self.aggs.iter().position(|a| a.to_string() == text) {
                    Some(i) => i,
                    None => {
                        self.aggs.push(e.clone());
                        self.aggs.len() - 1
                    }
                };
                *e = g_col("__a", i);
            }
        } else if let Some((Some(q), _)) = column_ref(e)
            && self.outer.contains(&q)
            && !self.inner.iter().any(|n| n.contains(&q))
            && let Some(i) = self.key_of(e)
        {
            *e = g_col("__k", i);
        }
        ControlFlow::Continue(())
    }
}

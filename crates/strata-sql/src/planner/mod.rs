//! From a parsed query to a logical plan.
//!
//! FROM items become scans (reading only the columns the query mentions) or planned
//! subqueries. WHERE is split into conjuncts: those over one relation filter it; equalities
//! between two relations become hash-join keys; the rest are applied once their relations
//! are joined. Joins are ordered greedily: start from the largest relation (the probe side)
//! and repeatedly join the smallest relation connected to what is joined so far (it becomes
//! the build side). Aggregates and group keys are collected from SELECT, HAVING and ORDER BY;
//! expressions above the aggregate refer to its outputs.

use crate::bind::{Scope, bind};
use crate::catalog::Table;
use crate::error::{Result, SqlError};
use crate::expr::{BinOp, Expr, coerce};
use crate::plan::{AggCall, AggFunc, JoinKind, Plan, SortKey};
use sqlparser::ast as sql;
use std::collections::HashSet;
use std::sync::Arc;

mod conditions;
mod order;
mod subquery;
mod window;

use conditions::{and_all, collect_idents, conjuncts, disjuncts};
use subquery::{correlated_scalar, is_semi, scalar_join, semi_join};

/// Finds tables by name (the catalog, or files named in FROM).
pub trait Tables {
    /// The table `name`.
    fn table(&self, name: &str) -> Result<Arc<Table>>;
}

struct Rel {
    plan: Plan,
    scope: Scope,
    /// Estimated rows after its filters.
    rows: f64,
    /// Estimated rows before them (`rows / base` is the filters' selectivity).
    base: f64,
}

/// Every identifier the query mentions (lower-cased last part), for column pruning.
fn mentioned(q: &sql::Query) -> HashSet<String> {
    let text = q.to_string().to_lowercase();
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Plans a query; returns the plan and its output scope.
pub fn plan_query(q: &sql::Query, tables: &dyn Tables) -> Result<(Plan, Scope)> {
    let words = mentioned(q);
    plan_query_with(q, tables, &words)
}

thread_local! {
    /// Common table expressions in scope while a query is planned (innermost last).
    static CTES: std::cell::RefCell<Vec<(String, sql::Query)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn cte(name: &str) -> Option<sql::Query> {
    CTES.with(|c| {
        c.borrow()
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, q)| q.clone())
    })
}

fn plan_query_with(
    q: &sql::Query,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<(Plan, Scope)> {
    if let Some(with) = &q.with {
        if with.recursive {
            return Err(SqlError::NotSupported("WITH RECURSIVE".into()));
        }
        let n = with.cte_tables.len();
        CTES.with(|c| {
            let mut c = c.borrow_mut();
            for t in &with.cte_tables {
                c.push((t.alias.name.value.clone(), (*t.query).clone()));
            }
        });
        let mut bare = q.clone();
        bare.with = None;
        let r = plan_query_with(&bare, tables, words);
        CTES.with(|c| {
            let mut c = c.borrow_mut();
            let len = c.len();
            c.truncate(len - n);
        });
        return r;
    }
    let (mut plan, mut scope, mut hook_ctx, select) = match q.body.as_ref() {
        sql::SetExpr::Select(s) => {
            let (p, sc, tx) = plan_select(s, tables, words)?;
            (p, sc, tx, Some(s))
        }
        sql::SetExpr::Query(inner) => return plan_query_with(inner, tables, words),
        sql::SetExpr::SetOperation {
            op: sql::SetOperator::Union,
            set_quantifier,
            left,
            right,
        } => {
            let (p, sc) = union(q, left, right, set_quantifier, tables, words)?;
            let tx = sc.names.iter().map(|n| n.1.clone()).collect();
            (p, sc, tx, None)
        }
        other => return Err(SqlError::NotSupported(format!("query body {other}"))),
    };
    let visible = scope.names.len();
    // ORDER BY: output columns by alias/name or position, or expressions over them.
    if let Some(ob) = &q.order_by {
        let sql::OrderByKind::Expressions(items) = &ob.kind else {
            return Err(SqlError::NotSupported("ORDER BY ALL".into()));
        };
        // Keys over columns the SELECT list drops: select them too, hidden, and drop them
        // after sorting (plain SELECTs only; after GROUP BY keys must be outputs).
        let hidden: Vec<sql::Expr> = items
            .iter()
            .map(|it| it.expr.clone())
            .filter(|e| {
                !matches!(e, sql::Expr::Value(_))
                    && !hook_ctx.contains(&e.to_string())
                    && bind(e, &scope, None).is_err()
            })
            .collect();
        if let Some(select) = select
            && !hidden.is_empty()
        {
            let mut wider = select.as_ref().clone();
            for (i, e) in hidden.iter().enumerate() {
                wider.projection.push(sql::SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: sql::Ident::new(format!("__order_{i}")),
                });
            }
            if let Ok((p, sc, tx)) = plan_select(&wider, tables, words) {
                plan = p;
                scope = sc;
                hook_ctx = tx;
            }
        }
        let mut keys = Vec::new();
        for it in items {
            let expr = match &it.expr {
                sql::Expr::Value(v) if matches!(v.value, sql::Value::Number(..)) => {
                    let n: usize = it.expr.to_string().parse().unwrap_or(0);
                    if n == 0 || n > scope.names.len() {
                        return Err(SqlError::Plan(format!(
                            "ORDER BY position {n} is out of range"
                        )));
                    }
                    Expr::Column(n - 1)
                }
                other => {
                    let by_text = hook_ctx.iter().position(|t| *t == other.to_string());
                    match by_text {
                        Some(i) => Expr::Column(i),
                        None => bind(other, &scope, None)?,
                    }
                }
            };
            let asc = !matches!(it.options.sort, Some(sql::OrderBySort::Desc));
            keys.push(SortKey {
                expr,
                asc,
                nulls_first: it.options.nulls_first.unwrap_or(!asc),
            });
        }
        let fetch = limit(q)?;
        plan = Plan::Sort {
            input: Box::new(plan),
            keys,
            fetch,
        };
        if scope.names.len() > visible {
            plan = Plan::Project {
                input: Box::new(plan),
                exprs: (0..visible)
                    .map(|i| (Expr::Column(i), scope.names[i].1.clone()))
                    .collect(),
            };
            scope = Scope::new(plan.schema(), None);
        }
    } else if let Some(n) = limit(q)? {
        plan = Plan::Limit {
            input: Box::new(plan),
            n,
        };
    }
    Ok((plan, scope))
}

/// `left UNION [ALL] right`: both sides planned as queries, their columns cast to common
/// types and named after the left side's.
fn union(
    q: &sql::Query,
    left: &sql::SetExpr,
    right: &sql::SetExpr,
    quantifier: &sql::SetQuantifier,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<(Plan, Scope)> {
    let side = |body: &sql::SetExpr| -> Result<Plan> {
        let mut s = q.clone();
        *s.body = body.clone();
        s.order_by = None;
        s.limit_clause = None;
        s.with = None;
        Ok(plan_query_with(&s, tables, words)?.0)
    };
    let (lp, rp) = (side(left)?, side(right)?);
    let (ls, rs) = (lp.schema(), rp.schema());
    if ls.fields().len() != rs.fields().len() {
        return Err(SqlError::Plan(format!(
            "UNION: the left query has {} columns and the right one {}; they must match",
            ls.fields().len(),
            rs.fields().len()
        )));
    }
    let mut types = Vec::new();
    for (i, (a, b)) in ls.fields().iter().zip(rs.fields()).enumerate() {
        let (a, b) = (a.data_type(), b.data_type());
        let t = if a == b || b.is_null() {
            a.clone()
        } else if a.is_null() {
            b.clone()
        } else {
            match coerce(BinOp::Eq, a, b) {
                Some((x, y)) if x == y => x,
                _ => {
                    return Err(SqlError::Plan(format!(
                        "UNION column {}: {a} and {b} have no common type",
                        i + 1
                    )));
                }
            }
        };
        types.push(t);
    }
    let cast = |p: Plan| -> Plan {
        let s = p.schema();
        if s.fields()
            .iter()
            .zip(&types)
            .all(|(f, t)| f.data_type() == t)
        {
            return p;
        }
        let exprs = types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let c = Expr::Column(i);
                let e = if s.field(i).data_type() == t {
                    c
                } else {
                    Expr::Cast(Box::new(c), t.clone())
                };
                (e, ls.field(i).name().clone())
            })
            .collect();
        Plan::Project {
            input: Box::new(p),
            exprs,
        }
    };
    let distinct = !matches!(quantifier, sql::SetQuantifier::All);
    let mut inputs = Vec::new();
    for p in [cast(lp), cast(rp)] {
        match p {
            // A chain of UNION ALLs becomes one node.
            Plan::Union {
                inputs: more,
                distinct: false,
            } if !distinct => inputs.extend(more),
            other => inputs.push(other),
        }
    }
    let plan = Plan::Union { inputs, distinct };
    let scope = Scope::new(plan.schema(), None);
    Ok((plan, scope))
}

fn limit(q: &sql::Query) -> Result<Option<usize>> {
    match &q.limit_clause {
        None => Ok(None),
        Some(sql::LimitClause::LimitOffset { limit: None, .. }) => Ok(None),
        Some(sql::LimitClause::LimitOffset {
            limit: Some(l),
            offset,
            ..
        }) => {
            if offset.is_some() {
                return Err(SqlError::NotSupported("OFFSET".into()));
            }
            l.to_string()
                .parse()
                .map(Some)
                .map_err(|_| SqlError::Plan(format!("LIMIT {l}: expected a number")))
        }
        Some(other) => Err(SqlError::NotSupported(format!("{other}"))),
    }
}

fn relation(f: &sql::TableFactor, tables: &dyn Tables, words: &HashSet<String>) -> Result<Rel> {
    match f {
        sql::TableFactor::Table { name, alias, .. } => {
            let raw = name.to_string();
            let tname = raw
                .trim_matches(|c| c == '"' || c == '\'' || c == '`')
                .to_string();
            if let Some(q) = cte(&tname) {
                let mut w = words.clone();
                w.extend(mentioned(&q));
                let (plan, scope) = plan_query_with(&q, tables, &w)?;
                let qual = alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or(tname);
                return Ok(Rel {
                    scope: Scope::new(scope.schema.clone(), Some(&qual)),
                    plan,
                    rows: 100_000.0,
                    base: 100_000.0,
                });
            }
            let table = tables.table(&tname)?;
            let projection: Vec<usize> = (0..table.schema.fields().len())
                .filter(|i| words.contains(&table.schema.field(*i).name().to_lowercase()))
                .collect();
            let projection = if projection.is_empty() {
                vec![0]
            } else {
                projection
            };
            let q = alias
                .as_ref()
                .map(|a| a.name.value.clone())
                .unwrap_or_else(|| tname.rsplit('/').next().unwrap_or(&tname).to_string());
            let plan = Plan::Scan {
                table: table.clone(),
                projection,
                filters: vec![],
            };
            let mut scope = Scope::new(plan.schema(), Some(&q));
            scope.hints = table
                .schema
                .fields()
                .iter()
                .map(|f| format!("{}.{}", q.to_lowercase(), f.name().to_lowercase()))
                .collect();
            let rows = table.rows.unwrap_or(1_000_000) as f64;
            Ok(Rel {
                plan,
                scope,
                rows,
                base: rows,
            })
        }
        sql::TableFactor::Derived {
            subquery, alias, ..
        } => {
            let (plan, scope) = plan_query_with(subquery, tables, words)?;
            let q = alias.as_ref().map(|a| a.name.value.clone());
            let mut scope = Scope::new(scope.schema.clone(), q.as_deref());
            if let Some(a) = alias
                && !a.columns.is_empty()
            {
                for (i, c) in a.columns.iter().enumerate() {
                    if let Some(n) = scope.names.get_mut(i) {
                        n.1 = c.name.value.to_lowercase();
                    }
                }
            }
            Ok(Rel {
                plan,
                scope,
                rows: 100_000.0,
                base: 100_000.0,
            })
        }
        sql::TableFactor::NestedJoin {
            table_with_joins, ..
        } => from_item(table_with_joins, tables, words),
        other => Err(SqlError::NotSupported(format!("FROM {other}"))),
    }
}

/// An explicit `a JOIN b ON ...` chain.
fn from_item(t: &sql::TableWithJoins, tables: &dyn Tables, words: &HashSet<String>) -> Result<Rel> {
    let mut acc = relation(&t.relation, tables, words)?;
    for j in &t.joins {
        let right = relation(&j.relation, tables, words)?;
        let (kind, constraint) = match &j.join_operator {
            sql::JoinOperator::Join(c) | sql::JoinOperator::Inner(c) => (JoinKind::Inner, c),
            sql::JoinOperator::Left(c) | sql::JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
            sql::JoinOperator::Right(c) | sql::JoinOperator::RightOuter(c) => (JoinKind::Right, c),
            sql::JoinOperator::FullOuter(c) => (JoinKind::Full, c),
            other => return Err(SqlError::NotSupported(format!("join {other:?}"))),
        };
        let sql::JoinConstraint::On(on) = constraint else {
            return Err(SqlError::NotSupported("joins need ON conditions".into()));
        };
        let mut cs = Vec::new();
        conjuncts(on, &mut cs);
        acc = join_rels(acc, right, kind, &cs)?;
    }
    Ok(acc)
}

/// Joins two relations on the given conjuncts (equalities across the two become keys).
fn join_rels(mut left: Rel, mut right: Rel, kind: JoinKind, cs: &[sql::Expr]) -> Result<Rel> {
    let scope = left.scope.join(&right.scope);
    let mut on = Vec::new();
    let mut rest: Vec<Expr> = Vec::new();
    for c in cs {
        if let sql::Expr::BinaryOp {
            left: a,
            op: sql::BinaryOperator::Eq,
            right: b,
        } = c
        {
            let sides = (bind(a, &left.scope, None), bind(b, &right.scope, None));
            let swapped = (bind(b, &left.scope, None), bind(a, &right.scope, None));
            let pair = match (sides, swapped) {
                ((Ok(l), Ok(r)), _) | (_, (Ok(l), Ok(r))) => Some((l, r)),
                _ => None,
            };
            if let Some((l, r)) = pair {
                on.push(key_pair(l, &left.scope, r, &right.scope)?);
                continue;
            }
        }
        // A condition on one side only filters that side's input when the join does not
        // preserve that side's unmatched rows (`LEFT JOIN orders ON ... AND o_comment NOT
        // LIKE ...` filters orders first; TPC-H Q13).
        let mut idents = Vec::new();
        collect_idents(c, &mut idents);
        let only = |side: &Scope, other: &Scope| {
            !idents.is_empty()
                && idents.iter().all(|(q, n)| {
                    side.resolve(q.as_deref(), n).is_ok() && other.resolve(q.as_deref(), n).is_err()
                })
        };
        if matches!(kind, JoinKind::Inner | JoinKind::Left) && only(&right.scope, &left.scope) {
            right.plan = Plan::Filter {
                input: Box::new(right.plan),
                predicate: bind(c, &right.scope, None)?,
            };
            continue;
        }
        if matches!(kind, JoinKind::Inner | JoinKind::Right) && only(&left.scope, &right.scope) {
            left.plan = Plan::Filter {
                input: Box::new(left.plan),
                predicate: bind(c, &left.scope, None)?,
            };
            continue;
        }
        rest.push(bind(c, &scope, None)?);
    }
    if on.is_empty() {
        return Err(SqlError::NotSupported(
            "joins without an equality between the two sides (cross joins)".into(),
        ));
    }
    let filter = rest
        .into_iter()
        .reduce(|a, b| Expr::Binary(Box::new(a), BinOp::And, Box::new(b)));
    // A key join: each side's rows, thinned by the other side's filters.
    let sel = |r: &Rel| (r.rows / r.base.max(1.0)).min(1.0);
    let rows = (left.rows * sel(&right)).max(right.rows * sel(&left));
    let base = left.base.max(right.base);
    let plan = Plan::Join {
        left: Box::new(left.plan),
        right: Box::new(right.plan),
        kind,
        on,
        filter,
    };
    Ok(Rel {
        plan,
        scope,
        rows,
        base,
    })
}

/// Casts join keys to one type.
pub(crate) fn key_pair(l: Expr, ls: &Scope, r: Expr, rs: &Scope) -> Result<(Expr, Expr)> {
    let (lt, rt) = (l.data_type(&ls.schema)?, r.data_type(&rs.schema)?);
    Ok(match coerce(BinOp::Eq, &lt, &rt) {
        Some((a, b)) => (
            if a != lt {
                Expr::Cast(Box::new(l), a)
            } else {
                l
            },
            if b != rt {
                Expr::Cast(Box::new(r), b)
            } else {
                r
            },
        ),
        None => (l, r),
    })
}

/// Which relations a conjunct reads (by trying to bind it against each).
fn rels_of(c: &sql::Expr, rels: &[Rel]) -> Vec<usize> {
    let mut idents = Vec::new();
    collect_idents(c, &mut idents);
    let mut out = Vec::new();
    for (q, n) in idents {
        for (i, r) in rels.iter().enumerate() {
            if r.scope.resolve(q.as_deref(), &n).is_ok() && !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

/// From an OR over several relations, a filter each relation can apply on its own: TPC-H
/// Q7's `(n1.n_name = 'FRANCE' AND n2.n_name = 'GERMANY') OR (n1.n_name = 'GERMANY' AND
/// n2.n_name = 'FRANCE')` implies `n1.n_name = 'FRANCE' OR n1.n_name = 'GERMANY'`, and the
/// same of n2. The OR itself still applies once the relations are joined.
fn implied_filters(c: &sql::Expr, rels: &[Rel]) -> Vec<(usize, sql::Expr)> {
    let mut ds = Vec::new();
    disjuncts(c, &mut ds);
    if ds.len() < 2 {
        return Vec::new();
    }
    let branches: Vec<Vec<sql::Expr>> = ds
        .iter()
        .map(|d| {
            let mut v = Vec::new();
            conjuncts(d, &mut v);
            v
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..rels.len() {
        let mut ors = Vec::new();
        for b in &branches {
            let mine: Vec<sql::Expr> = b
                .iter()
                .filter(|x| !is_semi(x) && rels_of(x, rels) == [i])
                .cloned()
                .collect();
            match and_all(mine) {
                Some(e) => ors.push(sql::Expr::Nested(Box::new(e))),
                None => break,
            }
        }
        if ors.len() == branches.len() {
            let first = ors.remove(0);
            let any = ors.into_iter().fold(first, |a, b| sql::Expr::BinaryOp {
                left: Box::new(a),
                op: sql::BinaryOperator::Or,
                right: Box::new(b),
            });
            out.push((i, any));
        }
    }
    out
}

fn is_equi(c: &sql::Expr) -> bool {
    matches!(
        c,
        sql::Expr::BinaryOp {
            op: sql::BinaryOperator::Eq,
            ..
        }
    )
}

/// FROM + WHERE: the joined, filtered relation.
fn plan_from_where(s: &sql::Select, tables: &dyn Tables, words: &HashSet<String>) -> Result<Rel> {
    let rels = s
        .from
        .iter()
        .map(|t| from_item(t, tables, words))
        .collect::<Result<Vec<_>>>()?;
    if rels.is_empty() {
        return Err(SqlError::NotSupported("SELECT without FROM".into()));
    }
    let mut cs = Vec::new();
    if let Some(w) = &s.selection {
        conjuncts(w, &mut cs);
    }
    // Single-relation conjuncts filter their relation; EXISTS / IN (subquery) become semi
    // or anti joins once the relations are joined.
    let mut pending = Vec::new();
    let mut semi = Vec::new();
    let mut local: Vec<Vec<Expr>> = rels.iter().map(|_| Vec::new()).collect();
    let mut scalar = Vec::new();
    for c in cs {
        if is_semi(&c) {
            semi.push(c);
            continue;
        }
        if correlated_scalar(&c, tables, words).is_some() {
            scalar.push(c);
            continue;
        }
        let used = rels_of(&c, &rels);
        match used.as_slice() {
            [one] => local[*one].push(bind(&c, &rels[*one].scope, None)?),
            [] => local[0].push(bind(&c, &rels[0].scope, None)?),
            _ => {
                for (i, d) in implied_filters(&c, &rels) {
                    local[i].push(bind(&d, &rels[i].scope, None)?);
                }
                pending.push(c)
            }
        }
    }
    let mut rels: Vec<Rel> = rels
        .into_iter()
        .zip(local)
        .map(|(mut r, preds)| {
            if !preds.is_empty() {
                r.rows = r.base * order::selectivity(&r.plan, &preds);
            }
            for p in preds {
                r.plan = Plan::Filter {
                    input: Box::new(r.plan),
                    predicate: p,
                };
            }
            r
        })
        .collect();
    // `x [NOT] IN (subquery)` with x from one relation filters that relation before any
    // join: TPC-H Q18 keeps 57 of 1.5M orders, so the joins above see 57 rows, not 6M.
    let mut later = Vec::new();
    for c in semi {
        let target = match &c {
            sql::Expr::In {
                expr,
                target: sql::InTarget::Subquery(_),
                ..
            } => Some(expr.as_ref()),
            _ => None,
        };
        match target.map(|x| rels_of(x, &rels)).as_deref() {
            Some([one]) => {
                let r = rels.remove(*one);
                let mut r = semi_join(r, &c, tables, words)?;
                r.rows *= 0.1;
                rels.insert(*one, r);
            }
            _ => later.push(c),
        }
    }
    let semi = later;
    let (mut acc, pending) = order::join_all(rels, pending)?;
    for c in pending {
        let p = bind(&c, &acc.scope, None)?;
        acc.plan = Plan::Filter {
            input: Box::new(acc.plan),
            predicate: p,
        };
    }
    for c in semi {
        acc = semi_join(acc, &c, tables, words)?;
    }
    for c in scalar {
        acc = scalar_join(acc, &c, tables, words)?;
    }
    Ok(acc)
}

fn agg_name(e: &sql::Expr) -> Option<String> {
    // `sum(x) OVER (...)` is a window function, not an aggregate.
    if let sql::Expr::Function(f) = e
        && f.over.is_none()
    {
        let n = f.name.to_string().to_lowercase();
        if matches!(n.as_str(), "sum" | "count" | "avg" | "min" | "max") {
            return Some(n);
        }
    }
    None
}

/// Aggregate calls in `e` (not inside other aggregates), by their SQL text.
fn collect_aggs(e: &sql::Expr, out: &mut Vec<sql::Expr>) {
    if agg_name(e).is_some() {
        if !out.iter().any(|x| x.to_string() == e.to_string()) {
            out.push(e.clone());
        }
        return;
    }
    match e {
        sql::Expr::BinaryOp { left, right, .. } => {
            collect_aggs(left, out);
            collect_aggs(right, out);
        }
        sql::Expr::UnaryOp { expr, .. }
        | sql::Expr::Nested(expr)
        | sql::Expr::Cast { expr, .. } => collect_aggs(expr, out),
        // Aggregates inside a window call (`rank() OVER (ORDER BY sum(x))`).
        sql::Expr::Function(f) if f.over.is_some() => {
            if let sql::FunctionArguments::List(l) = &f.args {
                for a in &l.args {
                    if let sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) = a {
                        collect_aggs(x, out);
                    }
                }
            }
            if let Some(sql::WindowType::WindowSpec(w)) = &f.over {
                w.partition_by.iter().for_each(|p| collect_aggs(p, out));
                w.order_by.iter().for_each(|o| collect_aggs(&o.expr, out));
            }
        }
        sql::Expr::Case {
            conditions,
            else_result,
            ..
        } => {
            for w in conditions {
                collect_aggs(&w.condition, out);
                collect_aggs(&w.result, out);
            }
            if let Some(x) = else_result {
                collect_aggs(x, out);
            }
        }
        _ => {}
    }
}

pub(crate) fn agg_call(e: &sql::Expr, scope: &Scope) -> Result<AggCall> {
    let (sql::Expr::Function(f), Some(name)) = (e, agg_name(e)) else {
        return Err(SqlError::Plan(format!(
            "{e} is not an aggregate (use sum, count, avg, min or max)"
        )));
    };
    let sql::FunctionArguments::List(list) = &f.args else {
        return Err(SqlError::Plan(format!("{e}: missing arguments")));
    };
    let distinct = matches!(
        list.duplicate_treatment,
        Some(sql::DuplicateTreatment::Distinct)
    );
    let arg = match list.args.as_slice() {
        [sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard)] if name == "count" => None,
        [sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x))] => Some(bind(x, scope, None)?),
        _ => return Err(SqlError::Plan(format!("{e}: expected one argument"))),
    };
    let func = match (name.as_str(), &arg) {
        ("count", None) => AggFunc::CountStar,
        ("count", _) => AggFunc::Count,
        ("sum", _) => AggFunc::Sum,
        ("avg", _) => AggFunc::Avg,
        ("min", _) => AggFunc::Min,
        _ => AggFunc::Max,
    };
    if let Some(a) = &arg
        && matches!(func, AggFunc::Sum | AggFunc::Avg)
    {
        let t = a.data_type(&scope.schema)?;
        if !(t.is_numeric() || t.is_null()) {
            return Err(SqlError::Plan(format!(
                "type error in {e}: {name} needs a number, got {t}"
            )));
        }
    }
    Ok(AggCall {
        func,
        arg,
        distinct,
    })
}

pub(crate) fn item_name(e: &sql::Expr) -> String {
    match e {
        sql::Expr::Identifier(i) => i.value.to_lowercase(),
        sql::Expr::CompoundIdentifier(ids) => ids
            .last()
            .map(|i| i.value.to_lowercase())
            .unwrap_or_default(),
        other => other.to_string(),
    }
}

/// SELECT ... FROM ... WHERE ... GROUP BY ... HAVING: the plan, its output scope, and the
/// SQL text of each output expression (for ORDER BY to refer to).
fn plan_select(
    s: &sql::Select,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<(Plan, Scope, Vec<String>)> {
    let rel = plan_from_where(s, tables, words)?;
    let mut items: Vec<(sql::Expr, Option<String>)> = Vec::new();
    let mut wildcard = false;
    for it in &s.projection {
        match it {
            sql::SelectItem::UnnamedExpr(e) => items.push((e.clone(), None)),
            sql::SelectItem::ExprWithAlias { expr, alias } => {
                items.push((expr.clone(), Some(alias.value.to_lowercase())))
            }
            sql::SelectItem::Wildcard(_) => wildcard = true,
            other => return Err(SqlError::NotSupported(format!("select item {other}"))),
        }
    }
    let mut aggs = Vec::new();
    for (e, _) in &items {
        collect_aggs(e, &mut aggs);
    }
    if let Some(h) = &s.having {
        collect_aggs(h, &mut aggs);
    }
    let mut wcalls = Vec::new();
    for (e, _) in &items {
        window::collect(e, &mut wcalls);
    }
    let wtexts: Vec<String> = wcalls.iter().map(|c| c.to_string()).collect();
    let group_exprs: Vec<sql::Expr> = match &s.group_by {
        sql::GroupByExpr::Expressions(v, _) => v.clone(),
        sql::GroupByExpr::All(_) => return Err(SqlError::NotSupported("GROUP BY ALL".into())),
    };
    let (mut plan, scope, texts): (Plan, Scope, Vec<String>);
    if aggs.is_empty() && group_exprs.is_empty() {
        if s.having.is_some() {
            return Err(SqlError::Plan(
                "HAVING without GROUP BY or aggregates".into(),
            ));
        }
        let mut exprs = Vec::new();
        let mut tx = Vec::new();
        if wildcard {
            for (i, (_, n)) in rel.scope.names.iter().enumerate() {
                exprs.push((Expr::Column(i), n.clone()));
                tx.push(n.clone());
            }
        }
        let base = rel.scope.names.len();
        let (input, wscope) = if wcalls.is_empty() {
            (rel.plan, rel.scope)
        } else {
            window::add(rel.plan, &rel.scope, None, &wcalls)?
        };
        let whook = |e: &sql::Expr| {
            let t = e.to_string();
            wtexts
                .iter()
                .position(|w| *w == t)
                .map(|i| Expr::Column(base + i))
        };
        for (e, alias) in &items {
            exprs.push((
                bind(e, &wscope, Some(&whook))?,
                alias.clone().unwrap_or_else(|| item_name(e)),
            ));
            tx.push(e.to_string());
        }
        plan = Plan::Project {
            input: Box::new(input),
            exprs,
        };
        texts = tx;
    } else {
        if wildcard {
            return Err(SqlError::Plan(
                "SELECT * with GROUP BY or aggregates".into(),
            ));
        }
        // Group keys may name a select alias.
        let mut group = Vec::new();
        let mut group_names: Vec<(Option<String>, String)> = Vec::new();
        for g in &group_exprs {
            let bound = match bind(g, &rel.scope, None) {
                Ok(b) => b,
                Err(e) => {
                    let alias = items
                        .iter()
                        .find(|(_, a)| a.as_deref() == Some(&item_name(g)));
                    match alias {
                        Some((x, _)) => bind(x, &rel.scope, None)?,
                        None => return Err(e),
                    }
                }
            };
            group.push((bound, g.to_string()));
            group_names.push(match g {
                sql::Expr::CompoundIdentifier(ids) if ids.len() >= 2 => (
                    Some(ids[ids.len() - 2].value.to_lowercase()),
                    ids[ids.len() - 1].value.to_lowercase(),
                ),
                other => (None, item_name(other)),
            });
        }
        let calls = aggs
            .iter()
            .map(|a| Ok((agg_call(a, &rel.scope)?, a.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let agg_plan = Plan::Aggregate {
            input: Box::new(rel.plan),
            group: group.clone(),
            aggs: calls,
        };
        let mut names = group_names.clone();
        names.extend(aggs.iter().map(|a| (None, a.to_string())));
        let post = Scope {
            names,
            schema: agg_plan.schema(),
            hints: Vec::new(),
        };
        let group_texts: Vec<String> = group_exprs.iter().map(|g| g.to_string()).collect();
        let agg_texts: Vec<String> = aggs.iter().map(|a| a.to_string()).collect();
        let alias_of: Vec<(String, sql::Expr)> = items
            .iter()
            .filter_map(|(e, a)| a.clone().map(|a| (a, e.clone())))
            .collect();
        let hook = |e: &sql::Expr| -> Option<Expr> {
            let t = e.to_string();
            if let Some(i) = group_texts.iter().position(|g| *g == t) {
                return Some(Expr::Column(i));
            }
            if let Some(i) = agg_texts.iter().position(|g| *g == t) {
                return Some(Expr::Column(group_texts.len() + i));
            }
            // A group key given as a select alias.
            if let Some((_, x)) = alias_of
                .iter()
                .find(|(a, _)| group_texts.contains(a) && *a == t)
            {
                let _ = x;
                return group_texts.iter().position(|g| *g == t).map(Expr::Column);
            }
            None
        };
        plan = agg_plan;
        if let Some(h) = &s.having {
            let p = bind(h, &post, Some(&hook))?;
            plan = Plan::Filter {
                input: Box::new(plan),
                predicate: p,
            };
        }
        let base = post.names.len();
        let post = if wcalls.is_empty() {
            post
        } else {
            let (p, sc) = window::add(plan, &post, Some(&hook), &wcalls)?;
            plan = p;
            sc
        };
        let hook = |e: &sql::Expr| {
            let t = e.to_string();
            match wtexts.iter().position(|w| *w == t) {
                Some(i) => Some(Expr::Column(base + i)),
                None => hook(e),
            }
        };
        let mut exprs = Vec::new();
        let mut tx = Vec::new();
        for (e, alias) in &items {
            let bound = bind(e, &post, Some(&hook)).map_err(|err| match err {
                SqlError::Plan(m) if m.starts_with("unknown column") => SqlError::Plan(format!(
                    "{m} (in {e}: after GROUP BY, use grouped columns or aggregates)"
                )),
                other => other,
            })?;
            exprs.push((bound, alias.clone().unwrap_or_else(|| item_name(e))));
            tx.push(e.to_string());
        }
        plan = Plan::Project {
            input: Box::new(plan),
            exprs,
        };
        texts = tx;
    }
    let out_schema = plan.schema();
    scope = Scope::new(out_schema, None);
    if s.distinct.is_some() {
        let group = (0..scope.names.len())
            .map(|i| (Expr::Column(i), scope.names[i].1.clone()))
            .collect();
        plan = Plan::Aggregate {
            input: Box::new(plan),
            group,
            aggs: vec![],
        };
    }
    Ok((plan, scope, texts))
}

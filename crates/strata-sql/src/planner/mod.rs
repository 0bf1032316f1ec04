//! From a parsed query to a logical plan.
//!
//! FROM items become scans (reading only the columns the query mentions) or planned
//! subqueries (`from.rs`). WHERE is split into conjuncts (`conditions.rs`): those over one
//! relation filter it; equalities between two relations become hash-join keys; the rest are
//! applied once their relations are joined; subqueries become semi/anti joins or grouped
//! joins (`subquery.rs`). Joins are ordered by estimated selectivity (`order.rs`).
//! Aggregates and group keys are collected from SELECT, HAVING and ORDER BY, window calls
//! run after them (`select.rs`, `window.rs`); expressions above the aggregate refer to its
//! outputs. This file: queries, WITH, UNION, ORDER BY and LIMIT.

use crate::bind::{Scope, bind};
use crate::catalog::Table;
use crate::error::{Result, SqlError};
use crate::expr::{BinOp, Expr, coerce};
use crate::plan::{AggCall, AggFunc, JoinKind, Plan, SortKey};
use sqlparser::ast as sql;
use std::collections::HashSet;
use std::sync::Arc;

mod agg_subquery;
mod conditions;
mod distinct_on;
mod from;
mod holistic;
mod join_chain;
mod macros;
mod named_windows;
mod order;
mod qualify;
mod recursive;
mod rollup_windows;
mod select;
mod series;
mod subquery;
mod window;

pub(crate) use from::key_pair;
use from::{from_item, is_equi, join_rels, plan_from_where};
use select::plan_select;
pub(crate) use select::{agg_call, item_name};

use conditions::{and_all, collect_idents, conjuncts, disjuncts};
use subquery::{correlated_scalar, is_correlated, is_semi, scalar_column, scalar_join, semi_join};

/// Finds tables by name (the catalog, or files named in FROM).
pub trait Tables {
    /// The table `name`.
    fn table(&self, name: &str) -> Result<Arc<Table>>;
    /// The view `name`, if there is one: its query and the column names it gives.
    fn view(&self, name: &str) -> Result<Option<(sql::Query, Vec<String>)>> {
        let _ = name;
        Ok(None)
    }
}

struct Rel {
    plan: Plan,
    scope: Scope,
    /// Estimated rows after its filters.
    rows: f64,
    /// Estimated rows before them (`rows / base` is the filters' selectivity).
    base: f64,
}

/// Every identifier the query mentions (lower-cased last part), for column pruning. A
/// SELECT with a wildcard (`*`, `t.*`) adds [`ALL_COLUMNS`] for its own FROM items only
/// (`select.rs`), so `EXISTS (SELECT * ...)` reads no more than it needs.
fn mentioned(q: &sql::Query) -> HashSet<String> {
    let text = q.to_string().to_lowercase();
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The word in a pruning set that makes scans read every column.
pub(crate) const ALL_COLUMNS: &str = "*";

/// Plans a query; returns the plan and its output scope.
pub fn plan_query(q: &sql::Query, tables: &dyn Tables) -> Result<(Plan, Scope)> {
    let q = macros::expand(q);
    let words = mentioned(&q);
    plan_query_with(&q, tables, &words)
}

/// One common table expression of a `WITH`.
#[derive(Clone)]
struct Cte {
    name: String,
    query: sql::Query,
    /// `WITH t(a, b) AS ...`: the names its columns take (empty: the query's own).
    columns: Vec<String>,
    /// Declared in `WITH RECURSIVE` (it may name itself; see `recursive.rs`).
    recursive: bool,
}

thread_local! {
    /// Common table expressions in scope while a query is planned (innermost last).
    static CTES: std::cell::RefCell<Vec<Cte>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The CTE `name` names, innermost first, and its position in [`CTES`].
fn cte(name: &str) -> Option<(usize, Cte)> {
    CTES.with(|c| {
        c.borrow()
            .iter()
            .enumerate()
            .rev()
            .find(|(_, d)| d.name.eq_ignore_ascii_case(name))
            .map(|(i, d)| (i, d.clone()))
    })
}

/// Runs `f` with only the CTEs before position `at` in scope: a CTE's own query sees the
/// ones declared before it, not itself (so `WITH t AS (SELECT * FROM t)` reads the table
/// `t`, and cannot recurse forever).
fn with_ctes_before<T>(at: usize, f: impl FnOnce() -> T) -> T {
    let hidden = CTES.with(|c| c.borrow_mut().split_off(at));
    let r = f();
    CTES.with(|c| c.borrow_mut().extend(hidden));
    r
}

fn plan_query_with(
    q: &sql::Query,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<(Plan, Scope)> {
    if let Some(with) = &q.with {
        let n = with.cte_tables.len();
        CTES.with(|c| {
            let mut c = c.borrow_mut();
            for t in &with.cte_tables {
                c.push(Cte {
                    name: t.alias.name.value.clone(),
                    query: (*t.query).clone(),
                    columns: t
                        .alias
                        .columns
                        .iter()
                        .map(|c| c.name.value.clone())
                        .collect(),
                    recursive: with.recursive,
                });
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
    if let sql::SetExpr::Select(s) = q.body.as_ref()
        && let Some(q2) = named_windows::inline(q, s)?
    {
        return plan_query_with(&q2, tables, words);
    }
    if let sql::SetExpr::Select(s) = q.body.as_ref()
        && distinct_on::applies(s)
    {
        // DISTINCT ON: the first row per key, as a QUALIFY on row_number().
        return plan_query_with(&distinct_on::rewrite(q, s)?, tables, words);
    }
    if let sql::SetExpr::Select(s) = q.body.as_ref()
        && rollup_windows::applies(q, s)
    {
        // Windows over ROLLUP / CUBE / GROUPING SETS: over a derived table of the sets.
        return plan_query_with(&rollup_windows::rewrite(q, s)?, tables, words);
    }
    if let sql::SetExpr::Select(s) = q.body.as_ref()
        && let Some(body) = grouping_sets(s)?
    {
        // ROLLUP / CUBE / GROUPING SETS: a UNION ALL of one GROUP BY per set.
        let mut q2 = q.clone();
        *q2.body = body;
        return plan_query_with(&q2, tables, words);
    }
    if let sql::SetExpr::Select(s) = q.body.as_ref()
        && q.order_by.as_ref().is_some_and(agg_subquery::has_subquery)
        && agg_subquery::applies(s)
    {
        // A subquery in the ORDER BY of a grouped query: order the groups' derived table.
        return plan_query_with(&agg_subquery::rewrite(q, s)?, tables, words)
            .map_err(agg_subquery::user_error);
    }
    let (mut plan, mut scope, mut hook_ctx, select) = match q.body.as_ref() {
        sql::SetExpr::Select(s) => match plan_select(s, tables, words) {
            Ok((p, sc, tx)) => (p, sc, tx, Some(s)),
            // Correlated subqueries over a grouped query: group in a derived table first.
            Err(SqlError::NotSupported(m))
                if m.starts_with("correlated subqueries in this position")
                    && agg_subquery::applies(s) =>
            {
                let q2 = agg_subquery::rewrite(q, s)?;
                return plan_query_with(&q2, tables, words).map_err(|e| match e {
                    // The rewrite did not help: report what the original query hit.
                    SqlError::NotSupported(_) => SqlError::NotSupported(m),
                    other => agg_subquery::user_error(other),
                });
            }
            Err(e) => return Err(e),
        },
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
        sql::SetExpr::SetOperation {
            op: op @ (sql::SetOperator::Intersect | sql::SetOperator::Except),
            set_quantifier,
            left,
            right,
        } => {
            let all = match set_quantifier {
                sql::SetQuantifier::All => true,
                sql::SetQuantifier::Distinct | sql::SetQuantifier::None => false,
                other => return Err(SqlError::NotSupported(format!("{op} {other}"))),
            };
            let (p, sc) = intersect_except(q, left, right, *op, all, tables, words)?;
            let tx = sc.names.iter().map(|n| n.1.clone()).collect();
            (p, sc, tx, None)
        }
        sql::SetExpr::Values(v) => {
            let (p, sc) = values(v)?;
            let tx = sc.names.iter().map(|n| n.1.clone()).collect();
            (p, sc, tx, None)
        }
        other => return Err(SqlError::NotSupported(format!("query body {other}"))),
    };
    let visible = scope.names.len();
    // ORDER BY: output columns by alias/name or position, or expressions over them.
    if let Some(ob) = &q.order_by {
        let all_items;
        let items = match &ob.kind {
            // DuckDB's ORDER BY ALL: every output column, left to right (a column named
            // "all" is ordered by as named).
            sql::OrderByKind::Expressions(items)
                if matches!(items.as_slice(), [it] if matches!(&it.expr,
                    sql::Expr::Identifier(i) if i.quote_style.is_none()
                        && i.value.eq_ignore_ascii_case("all")))
                    && !scope.names.iter().any(|n| n.1.eq_ignore_ascii_case("all")) =>
            {
                all_items = (1..=visible)
                    .map(|i| sql::OrderByExpr {
                        expr: sql::Expr::value(sql::Value::Number(i.to_string(), false)),
                        options: items[0].options.clone(),
                        with_fill: None,
                    })
                    .collect::<Vec<_>>();
                &all_items
            }
            sql::OrderByKind::Expressions(items) => items,
            sql::OrderByKind::All(_) => {
                return Err(SqlError::NotSupported("ORDER BY ALL".into()));
            }
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
        let (n, offset) = limit(q)?;
        plan = Plan::Sort {
            input: Box::new(plan),
            keys,
            fetch: n.map(|n| n.saturating_add(offset)),
        };
        if offset > 0 {
            plan = Plan::Limit {
                input: Box::new(plan),
                n: n.unwrap_or(usize::MAX),
                offset,
            };
        }
        if scope.names.len() > visible {
            plan = Plan::Project {
                input: Box::new(plan),
                exprs: (0..visible)
                    .map(|i| (Expr::Column(i), scope.names[i].1.clone()))
                    .collect(),
            };
            scope = Scope::new(plan.schema(), None);
        }
    } else if let (n, offset) = limit(q)?
        && (n.is_some() || offset > 0)
    {
        plan = Plan::Limit {
            input: Box::new(plan),
            n: n.unwrap_or(usize::MAX),
            offset,
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
    let side = |body: &sql::SetExpr| set_side(q, body, tables, words);
    let (lp, rp) = (side(left)?, side(right)?);
    let (lp, rp) = aligned(lp, rp, "UNION")?;
    let distinct = !matches!(quantifier, sql::SetQuantifier::All);
    let mut inputs = Vec::new();
    for p in [lp, rp] {
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

/// `left INTERSECT right` / `left EXCEPT right` (set semantics; NULLs are equal): both
/// sides tagged 1 and 2, grouped by every column; a group is kept when it has both tags
/// (INTERSECT) or only the left's (EXCEPT).
fn intersect_except(
    q: &sql::Query,
    left: &sql::SetExpr,
    right: &sql::SetExpr,
    op: sql::SetOperator,
    all: bool,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<(Plan, Scope)> {
    let side = |body: &sql::SetExpr| set_side(q, body, tables, words);
    let (lp, rp) = aligned(side(left)?, side(right)?, &op.to_string())?;
    let out_width = lp.schema().fields().len();
    // INTERSECT ALL / EXCEPT ALL: number the copies of each row on each side; (row, k) is
    // on a side iff it holds k copies or more, so the distinct operation over the numbered
    // rows keeps min(l, r) copies (INTERSECT) or max(l - r, 0) (EXCEPT).
    let numbered = |p: Plan| -> Plan {
        let call = crate::plan::WindowCall {
            func: crate::plan::WindowFunc::RowNumber,
            args: vec![],
            partition_by: (0..out_width).map(Expr::Column).collect(),
            order_by: vec![],
            frame: crate::plan::Frame::Partition,
        };
        Plan::Window {
            input: Box::new(p),
            funcs: vec![(call, "__copy".into())],
        }
    };
    let (lp, rp) = if all {
        (numbered(lp), numbered(rp))
    } else {
        (lp, rp)
    };
    let schema = lp.schema();
    let width = schema.fields().len();
    let tagged = |p: Plan, tag: i64| -> Plan {
        let mut exprs: Vec<(Expr, String)> = (0..width)
            .map(|i| (Expr::Column(i), schema.field(i).name().clone()))
            .collect();
        exprs.push((
            Expr::Literal(Arc::new(arrow::array::Int64Array::from(vec![tag]))),
            "__side".into(),
        ));
        Plan::Project {
            input: Box::new(p),
            exprs,
        }
    };
    let both = Plan::Union {
        inputs: vec![tagged(lp, 1), tagged(rp, 2)],
        distinct: false,
    };
    let tag = |func| AggCall::plain(func, Some(Expr::Column(width)));
    let grouped = Plan::Aggregate {
        input: Box::new(both),
        group: (0..width)
            .map(|i| (Expr::Column(i), schema.field(i).name().clone()))
            .collect(),
        aggs: vec![
            (tag(AggFunc::Min), "__min".into()),
            (tag(AggFunc::Max), "__max".into()),
        ],
    };
    let one = || Expr::Literal(Arc::new(arrow::array::Int64Array::from(vec![1i64])));
    let two = || Expr::Literal(Arc::new(arrow::array::Int64Array::from(vec![2i64])));
    let keep = if op == sql::SetOperator::Intersect {
        Expr::Binary(
            Box::new(Expr::Binary(
                Box::new(Expr::Column(width)),
                BinOp::Eq,
                Box::new(one()),
            )),
            BinOp::And,
            Box::new(Expr::Binary(
                Box::new(Expr::Column(width + 1)),
                BinOp::Eq,
                Box::new(two()),
            )),
        )
    } else {
        Expr::Binary(
            Box::new(Expr::Column(width + 1)),
            BinOp::Eq,
            Box::new(one()),
        )
    };
    let plan = Plan::Project {
        input: Box::new(Plan::Filter {
            input: Box::new(grouped),
            predicate: keep,
        }),
        exprs: (0..out_width)
            .map(|i| (Expr::Column(i), schema.field(i).name().clone()))
            .collect(),
    };
    let scope = Scope::new(plan.schema(), None);
    Ok((plan, scope))
}

/// One side of a set operation, planned as a query of its own (the ORDER BY and LIMIT of
/// `q` apply to the combination, not to the side).
fn set_side(
    q: &sql::Query,
    body: &sql::SetExpr,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<Plan> {
    let mut s = q.clone();
    *s.body = body.clone();
    s.order_by = None;
    s.limit_clause = None;
    s.with = None;
    Ok(plan_query_with(&s, tables, words)?.0)
}

/// Two sides of a set operation with their columns cast to common types.
fn aligned(lp: Plan, rp: Plan, what: &str) -> Result<(Plan, Plan)> {
    let (ls, rs) = (lp.schema(), rp.schema());
    if ls.fields().len() != rs.fields().len() {
        return Err(SqlError::Plan(format!(
            "{what}: the left query has {} columns and the right one {}; they must match",
            ls.fields().len(),
            rs.fields().len()
        )));
    }
    let mut types = Vec::new();
    for (i, (a, b)) in ls.fields().iter().zip(rs.fields()).enumerate() {
        let (a, b) = (a.data_type(), b.data_type());
        let t = crate::expr::common_type(a, b).ok_or_else(|| {
            SqlError::Plan(format!(
                "{what} column {}: {a} and {b} have no common type",
                i + 1
            ))
        })?;
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
    Ok((cast(lp), cast(rp)))
}

/// `LIMIT n OFFSET m`: the limit, if any, and the rows to skip.
fn limit(q: &sql::Query) -> Result<(Option<usize>, usize)> {
    let count = |what: &str, e: &sql::Expr| -> Result<usize> {
        e.to_string().parse().map_err(|_| {
            SqlError::Plan(format!("{what} {e}: expected a non-negative whole number"))
        })
    };
    if q.for_clause.is_some()
        || q.settings.is_some()
        || q.format_clause.is_some()
        || !q.pipe_operators.is_empty()
    {
        return Err(SqlError::NotSupported(
            "FOR XML/JSON, SETTINGS, FORMAT and pipe operators on a query".into(),
        ));
    }
    // `OFFSET n ROWS FETCH FIRST m ROWS ONLY` is the standard's LIMIT.
    let fetch = match &q.fetch {
        None => None,
        Some(f) if f.with_ties || f.percent => {
            return Err(SqlError::NotSupported(format!(
                "FETCH ... {} (ROWS ONLY is supported)",
                if f.with_ties { "WITH TIES" } else { "PERCENT" }
            )));
        }
        Some(f) => Some(match &f.quantity {
            None => 1,
            Some(e) => count("FETCH FIRST", e)?,
        }),
    };
    if fetch.is_some()
        && matches!(
            &q.limit_clause,
            Some(sql::LimitClause::LimitOffset { limit: Some(_), .. })
        )
    {
        return Err(SqlError::Plan(
            "both LIMIT and FETCH FIRST: give one".into(),
        ));
    }
    match &q.limit_clause {
        None => Ok((fetch, 0)),
        Some(sql::LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if !limit_by.is_empty() {
                return Err(SqlError::NotSupported("LIMIT ... BY".into()));
            }
            let n = match limit {
                None => fetch,
                Some(sql::Expr::Value(v)) if matches!(v.value, sql::Value::Null) => None,
                Some(l) => Some(count("LIMIT", l)?),
            };
            let skip = match offset {
                None => 0,
                Some(o) => count("OFFSET", &o.value)?,
            };
            Ok((n, skip))
        }
        Some(other) => Err(SqlError::NotSupported(format!("{other}"))),
    }
}

/// `VALUES (a, b), (c, d)`: constant rows, columns named `column1`, `column2`, ... and typed
/// by their first non-NULL value (the others cast to it).
fn values(v: &sql::Values) -> Result<(Plan, Scope)> {
    let empty = Scope::new(Arc::new(arrow::datatypes::Schema::empty()), None);
    let width = v.rows.first().map(|r| r.len()).unwrap_or(0);
    let mut cells: Vec<Vec<arrow::array::ArrayRef>> = vec![Vec::new(); width];
    for (i, row) in v.rows.iter().enumerate() {
        if row.len() != width {
            return Err(SqlError::Plan(format!(
                "VALUES row {} has {} values; the first has {width}",
                i + 1,
                row.len()
            )));
        }
        for (c, e) in row.iter().enumerate() {
            match bind(e, &empty, None)? {
                Expr::Literal(a) => cells[c].push(a),
                _ => {
                    return Err(SqlError::Plan(format!(
                        "VALUES holds constants only, not {e}"
                    )));
                }
            }
        }
    }
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (c, col) in cells.into_iter().enumerate() {
        // The type every value of the column meets at (`(1), (2.5)` is DECIMAL).
        let mut t = arrow::datatypes::DataType::Null;
        for a in &col {
            let at = a.data_type();
            t = crate::expr::common_type(&t, at).ok_or_else(|| {
                SqlError::Plan(format!(
                    "VALUES column {}: {t} and {at} have no common type",
                    c + 1
                ))
            })?;
        }
        let cast = col
            .iter()
            .map(|a| crate::expr::strict_cast(a, &t))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&dyn arrow::array::Array> = cast.iter().map(|a| a.as_ref()).collect();
        columns.push(arrow::compute::concat(&refs)?);
        fields.push(arrow::datatypes::Field::new(
            format!("column{}", c + 1),
            t,
            true,
        ));
    }
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    let batch = arrow::record_batch::RecordBatch::try_new(schema.clone(), columns)?;
    let plan = Plan::Values {
        schema: schema.clone(),
        batches: vec![batch],
    };
    Ok((plan, Scope::new(schema, None)))
}

/// `text` as one query (for rewrites that start from a template).
fn parse_query(text: &str) -> Result<sql::Query> {
    let mut stmts =
        sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, text)
            .map_err(|e| SqlError::Internal(format!("parsing {text}: {e}")))?;
    match stmts.pop() {
        Some(sql::Statement::Query(q)) if stmts.is_empty() => Ok(*q),
        _ => Err(SqlError::Internal(format!("{text} is not one query"))),
    }
}

/// `GROUP BY ROLLUP (a, b)`, `CUBE (..)` or `GROUPING SETS (..)` (beside plain keys) as a
/// UNION ALL of one SELECT per grouping set, in which a select item that is a key absent
/// from the set becomes NULL. `None` when the GROUP BY has no such element.
fn grouping_sets(s: &sql::Select) -> Result<Option<sql::SetExpr>> {
    let sql::GroupByExpr::Expressions(keys, modifiers) = &s.group_by else {
        return Ok(None);
    };
    let special = |e: &sql::Expr| {
        matches!(
            e,
            sql::Expr::Rollup(_) | sql::Expr::Cube(_) | sql::Expr::GroupingSets(_)
        )
    };
    if !modifiers.is_empty() {
        return Err(SqlError::NotSupported(
            "GROUP BY ... WITH ROLLUP/CUBE (write GROUP BY ROLLUP (...))".into(),
        ));
    }
    if !keys.iter().any(special) {
        // GROUPING(x) of a plain GROUP BY is 0: every key is grouped.
        let mut b = s.clone();
        let mut changed = false;
        for item in b.projection.iter_mut() {
            if let sql::SelectItem::UnnamedExpr(e)
            | sql::SelectItem::ExprWithAlias { expr: e, .. } = item
            {
                changed |= replace_grouping(e, &[])?;
            }
        }
        if let Some(h) = b.having.as_mut() {
            changed |= replace_grouping(h, &[])?;
        }
        return Ok(changed.then(|| sql::SetExpr::Select(Box::new(b))));
    }
    // Every combination: the product of each element's choices.
    let mut sets: Vec<Vec<sql::Expr>> = vec![vec![]];
    let mut all: Vec<sql::Expr> = Vec::new();
    for k in keys {
        let choices: Vec<Vec<sql::Expr>> = match k {
            sql::Expr::Rollup(groups) => (0..=groups.len())
                .rev()
                .map(|n| groups[..n].concat())
                .collect(),
            sql::Expr::Cube(groups) => {
                if groups.len() > 10 {
                    return Err(SqlError::Plan("CUBE of more than 10 groups".into()));
                }
                (0..1u32 << groups.len())
                    .rev()
                    .map(|mask| {
                        (0..groups.len())
                            .filter(|i| mask & (1 << (groups.len() - 1 - i)) != 0)
                            .flat_map(|i| groups[i].clone())
                            .collect()
                    })
                    .collect()
            }
            sql::Expr::GroupingSets(sets) => sets.clone(),
            plain => vec![vec![plain.clone()]],
        };
        for c in &choices {
            for e in c {
                if !all.iter().any(|a| a.to_string() == e.to_string()) {
                    all.push(e.clone());
                }
            }
        }
        sets = sets
            .iter()
            .flat_map(|s| {
                choices.iter().map(move |c| {
                    let mut v = s.clone();
                    v.extend(c.iter().cloned());
                    v
                })
            })
            .collect();
    }
    let mut branches = Vec::new();
    for set in &sets {
        let texts: Vec<String> = set.iter().map(|e| e.to_string()).collect();
        let absent: Vec<&sql::Expr> = all
            .iter()
            .filter(|a| !texts.contains(&a.to_string()))
            .collect();
        let mut b = s.clone();
        b.group_by = sql::GroupByExpr::Expressions(set.clone(), vec![]);
        let absent_texts: Vec<String> = absent.iter().map(|a| a.to_string()).collect();
        for item in b.projection.iter_mut() {
            if let sql::SelectItem::UnnamedExpr(e)
            | sql::SelectItem::ExprWithAlias { expr: e, .. } = item
            {
                replace_grouping(e, &absent_texts)?;
            }
        }
        if let Some(h) = b.having.as_mut() {
            replace_grouping(h, &absent_texts)?;
        }
        for item in b.projection.iter_mut() {
            let (e, alias) = match item {
                sql::SelectItem::UnnamedExpr(e) => (e.clone(), None),
                sql::SelectItem::ExprWithAlias { expr, alias } => {
                    (expr.clone(), Some(alias.clone()))
                }
                other => {
                    return Err(SqlError::NotSupported(format!(
                        "{other} with ROLLUP / CUBE / GROUPING SETS"
                    )));
                }
            };
            // A key named by the item's expression or by its alias (`GROUP BY CUBE (odd)`).
            let named = |a: &&sql::Expr| {
                a.to_string() == e.to_string()
                    || alias
                        .as_ref()
                        .is_some_and(|al| a.to_string().eq_ignore_ascii_case(&al.value))
            };
            if absent.iter().any(named) {
                let name = alias.unwrap_or_else(|| sql::Ident::new(select::item_name(&e)));
                *item = sql::SelectItem::ExprWithAlias {
                    expr: sql::Expr::Value(sql::Value::Null.into()),
                    alias: name,
                };
                continue;
            }
            let mut aggs = Vec::new();
            select::collect_aggs(&e, &mut aggs);
            let mut idents = Vec::new();
            collect_idents(&e, &mut idents);
            let uses_absent = absent.iter().any(|a| {
                let mut ai = Vec::new();
                collect_idents(a, &mut ai);
                !ai.is_empty() && ai.iter().all(|x| idents.contains(x))
            });
            if aggs.is_empty() && uses_absent {
                return Err(SqlError::NotSupported(format!(
                    "{e} with ROLLUP / CUBE / GROUPING SETS: select the grouped expression itself"
                )));
            }
        }
        branches.push(sql::SetExpr::Select(Box::new(b)));
    }
    let first = branches.remove(0);
    Ok(Some(branches.into_iter().fold(first, |acc, b| {
        sql::SetExpr::SetOperation {
            op: sql::SetOperator::Union,
            set_quantifier: sql::SetQuantifier::All,
            left: Box::new(acc),
            right: Box::new(b),
        }
    })))
}

/// Replaces each `GROUPING(a, b, ...)` in `e` by its value in one grouping set: a bit per
/// argument, the first the most significant, 1 where the argument is aggregated away
/// (`absent`). Returns whether it replaced any.
fn replace_grouping(e: &mut sql::Expr, absent: &[String]) -> Result<bool> {
    if let sql::Expr::Function(f) = e
        && f.name.to_string().eq_ignore_ascii_case("grouping")
    {
        let sql::FunctionArguments::List(list) = &f.args else {
            return Err(SqlError::Plan(
                "GROUPING needs the grouped expressions".into(),
            ));
        };
        let mut mask: u64 = 0;
        for a in &list.args {
            let sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) = a else {
                return Err(SqlError::Plan(format!("GROUPING: bad argument {a}")));
            };
            mask = (mask << 1) | u64::from(absent.contains(&x.to_string()));
        }
        *e = sql::Expr::Value(sql::Value::Number(mask.to_string(), false).into());
        return Ok(true);
    }
    let mut any = false;
    match e {
        sql::Expr::BinaryOp { left, right, .. } => {
            any |= replace_grouping(left, absent)?;
            any |= replace_grouping(right, absent)?;
        }
        sql::Expr::UnaryOp { expr, .. }
        | sql::Expr::Nested(expr)
        | sql::Expr::Cast { expr, .. }
        | sql::Expr::IsNull(expr)
        | sql::Expr::IsNotNull(expr) => any |= replace_grouping(expr, absent)?,
        sql::Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            if let Some(o) = operand {
                any |= replace_grouping(o, absent)?;
            }
            for w in conditions {
                any |= replace_grouping(&mut w.condition, absent)?;
                any |= replace_grouping(&mut w.result, absent)?;
            }
            if let Some(x) = else_result {
                any |= replace_grouping(x, absent)?;
            }
        }
        sql::Expr::Function(f) => {
            if let sql::FunctionArguments::List(list) = &mut f.args {
                for a in &mut list.args {
                    if let sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) = a {
                        any |= replace_grouping(x, absent)?;
                    }
                }
            }
        }
        _ => {}
    }
    Ok(any)
}

//! `QUALIFY` (DuckDB, Snowflake, BigQuery): a filter on a SELECT's rows after its window
//! functions are computed, before DISTINCT, ORDER BY and LIMIT — "the top row per group"
//! without an outer query.
//!
//! Planned as the same SELECT with the condition as one more output column, a filter on
//! that column, and a projection that drops it, so the condition may use anything a select
//! item may: window calls (computed once when an item has the same text), aggregates after
//! GROUP BY, columns. A select-list alias in the condition (`QUALIFY rn = 1`) stands for
//! its item's expression.

use super::*;
use arrow::datatypes::DataType;

/// Plans `s`, which has a QUALIFY clause.
pub(super) fn plan(
    s: &sql::Select,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<(Plan, Scope, Vec<String>)> {
    let Some(cond) = &s.qualify else {
        return Err(SqlError::Internal(
            "QUALIFY planned without a condition".into(),
        ));
    };
    if s.distinct.is_some() {
        return Err(SqlError::NotSupported(
            "QUALIFY with DISTINCT (select DISTINCT from the qualified query in an outer \
             SELECT)"
                .into(),
        ));
    }
    let aliases: Vec<(String, sql::Expr)> = s
        .projection
        .iter()
        .filter_map(|it| match it {
            sql::SelectItem::ExprWithAlias { expr, alias } => {
                Some((alias.value.to_lowercase(), expr.clone()))
            }
            _ => None,
        })
        .collect();
    let mut wider = s.clone();
    wider.qualify = None;
    if let sql::GroupByExpr::All(_) = &s.group_by {
        // GROUP BY ALL groups by the items without aggregates: the hidden condition
        // column must not become one of the keys.
        let keys = s
            .projection
            .iter()
            .filter_map(|it| match it {
                sql::SelectItem::UnnamedExpr(e)
                | sql::SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
                _ => None,
            })
            .filter(|e| {
                let mut inner = Vec::new();
                select::collect_aggs(e, &mut inner);
                inner.is_empty() && !matches!(e, sql::Expr::Value(_))
            })
            .cloned()
            .collect();
        wider.group_by = sql::GroupByExpr::Expressions(keys, vec![]);
    }
    wider.projection.push(sql::SelectItem::ExprWithAlias {
        expr: substitute(cond, &aliases),
        alias: sql::Ident::new("__qualify"),
    });
    let (plan, _, mut texts) = select::plan_select(&wider, tables, words)?;
    let schema = plan.schema();
    let n = schema.fields().len() - 1;
    let t = schema.field(n).data_type();
    if !matches!(t, DataType::Boolean | DataType::Null) {
        return Err(SqlError::Plan(format!(
            "QUALIFY {cond}: the condition must be boolean, got {t}"
        )));
    }
    let filtered = Plan::Filter {
        input: Box::new(plan),
        predicate: Expr::Column(n),
    };
    let plan = Plan::Project {
        input: Box::new(filtered),
        exprs: (0..n)
            .map(|i| (Expr::Column(i), schema.field(i).name().clone()))
            .collect(),
    };
    texts.truncate(n);
    let scope = Scope::new(plan.schema(), None);
    Ok((plan, scope, texts))
}

/// `e` with identifiers naming select-list aliases replaced by the aliased expressions
/// (through the operators a QUALIFY condition is made of).
fn substitute(e: &sql::Expr, aliases: &[(String, sql::Expr)]) -> sql::Expr {
    use sql::Expr as E;
    let sub = |x: &E| Box::new(substitute(x, aliases));
    match e {
        E::Identifier(i) => aliases
            .iter()
            .find(|(a, _)| *a == i.value.to_lowercase())
            .map(|(_, x)| E::Nested(Box::new(x.clone())))
            .unwrap_or_else(|| e.clone()),
        E::BinaryOp { left, op, right } => E::BinaryOp {
            left: sub(left),
            op: op.clone(),
            right: sub(right),
        },
        E::UnaryOp { op, expr } => E::UnaryOp {
            op: *op,
            expr: sub(expr),
        },
        E::Nested(x) => E::Nested(sub(x)),
        E::IsNull(x) => E::IsNull(sub(x)),
        E::IsNotNull(x) => E::IsNotNull(sub(x)),
        E::Between {
            expr,
            negated,
            low,
            high,
        } => E::Between {
            expr: sub(expr),
            negated: *negated,
            low: sub(low),
            high: sub(high),
        },
        E::Function(f) => {
            // `max(c) OVER ()` with `c` an alias: into the arguments (not the window spec).
            let mut f = f.clone();
            if let sql::FunctionArguments::List(l) = &mut f.args {
                for a in &mut l.args {
                    if let sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) = a {
                        *x = substitute(x, aliases);
                    }
                }
            }
            E::Function(f)
        }
        other => other.clone(),
    }
}

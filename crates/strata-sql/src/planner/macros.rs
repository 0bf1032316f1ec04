//! Aggregates that are others in disguise, expanded in the query text before planning (so
//! they work wherever an aggregate does: GROUP BY, HAVING, FILTER, OVER, distributed
//! partial aggregation):
//!
//! - `bool_and(p)` / `every(p)`: `min(CASE WHEN p THEN 1 WHEN NOT p THEN 0 END) = 1`
//! - `bool_or(p)`: `max(CASE WHEN p THEN 1 WHEN NOT p THEN 0 END) = 1`
//! - `any_value(x)`: `min(x)` (one of the values; the least is as good as any)
//! - `count_if(p)`: `count(CASE WHEN p THEN 1 END)`; `approx_count_distinct(x)`:
//!   `count(DISTINCT x)` (exact)
//! - the two-variable statistics of SQL:2003 over the pairs where both `y` and `x` are
//!   non-NULL (`X`, `Y` below: `x`, `y` as DOUBLE, NULL unless both are there):
//!   `covar_pop(y, x)` = (var_pop(X + Y) - var_pop(X) - var_pop(Y)) / 2 (Welford's
//!   moments, so large means do not cancel away the spread), `covar_samp` likewise,
//!   `corr`, `regr_slope`, `regr_intercept`, `regr_r2`, `regr_count`, `regr_avgx`,
//!   `regr_avgy`, `regr_sxx`, `regr_syy`, `regr_sxy`.
//!
//! NULL inputs are skipped and an all-NULL group gives NULL, as PostgreSQL's do.

use super::*;
use sqlparser::ast::{VisitMut, VisitorMut};
use std::ops::ControlFlow;

/// `q` with the aggregates above expanded (every level, subqueries included).
pub(super) fn expand(q: &sql::Query) -> sql::Query {
    let mut q = q.clone();
    let _ = q.visit(&mut Expander);
    q
}

struct Expander;

fn number(n: &str) -> sql::Expr {
    sql::Expr::value(sql::Value::Number(n.into(), false))
}

impl VisitorMut for Expander {
    type Break = ();

    /// An unnamed select item keeps the name its text gives it (`bool_and(x > 0)`), not
    /// its expansion's.
    fn pre_visit_query(&mut self, q: &mut sql::Query) -> ControlFlow<()> {
        if let sql::SetExpr::Select(s) = q.body.as_mut() {
            for item in s.projection.iter_mut() {
                if let sql::SelectItem::UnnamedExpr(e) = item {
                    let text = e.to_string().to_lowercase();
                    if ["any_value", "bool_and", "bool_or", "every"]
                        .iter()
                        .chain(TEMPLATES.iter().map(|(n, _)| n))
                        .any(|m| text.contains(&format!("{m}(")))
                    {
                        *item = sql::SelectItem::ExprWithAlias {
                            alias: sql::Ident::with_quote('"', select::item_name(e)),
                            expr: e.clone(),
                        };
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut sql::Expr) -> ControlFlow<()> {
        let sql::Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let name = f.name.to_string().to_lowercase();
        if let Some(expanded) = from_template(&name, f) {
            *e = expanded;
            return ControlFlow::Continue(());
        }
        let sql::FunctionArguments::List(list) = &mut f.args else {
            return ControlFlow::Continue(());
        };
        if list.args.len() != 1 {
            return ControlFlow::Continue(());
        }
        match name.as_str() {
            "any_value" => f.name = sql::ObjectName::from(vec![sql::Ident::new("min")]),
            "bool_and" | "every" | "bool_or" => {
                let sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(p)) = &list.args[0] else {
                    return ControlFlow::Continue(());
                };
                let p = sql::Expr::Nested(Box::new(p.clone()));
                let as_int = sql::Expr::Case {
                    case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                    end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                    operand: None,
                    conditions: vec![
                        sql::CaseWhen {
                            condition: p.clone(),
                            result: number("1"),
                        },
                        sql::CaseWhen {
                            condition: sql::Expr::UnaryOp {
                                op: sql::UnaryOperator::Not,
                                expr: Box::new(p),
                            },
                            result: number("0"),
                        },
                    ],
                    else_result: None,
                };
                list.args[0] = sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(as_int));
                let agg = if name == "bool_or" { "max" } else { "min" };
                f.name = sql::ObjectName::from(vec![sql::Ident::new(agg)]);
                *e = sql::Expr::Nested(Box::new(sql::Expr::BinaryOp {
                    left: Box::new(e.clone()),
                    op: sql::BinaryOperator::Eq,
                    right: Box::new(number("1")),
                }));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Aggregates written as others: `$A` stands for the one argument; `$X`, `$Y` for the
/// second and first as DOUBLE where both are non-NULL (`f(y, x)`).
const TEMPLATES: &[(&str, &str)] = &[
    ("count_if", "count(CASE WHEN $A THEN 1 END)"),
    ("approx_count_distinct", "count(DISTINCT $A)"),
    (
        "covar_pop",
        "((var_pop($X + $Y) - var_pop($X) - var_pop($Y)) / 2)",
    ),
    (
        "covar_samp",
        "((var_samp($X + $Y) - var_samp($X) - var_samp($Y)) / 2)",
    ),
    (
        "corr",
        "((var_pop($X + $Y) - var_pop($X) - var_pop($Y)) / 2 \
         / NULLIF(sqrt(var_pop($X)) * sqrt(var_pop($Y)), 0))",
    ),
    (
        "regr_slope",
        "((var_pop($X + $Y) - var_pop($X) - var_pop($Y)) / 2 / NULLIF(var_pop($X), 0))",
    ),
    (
        "regr_intercept",
        "(avg($Y) - avg($X) * ((var_pop($X + $Y) - var_pop($X) - var_pop($Y)) / 2 \
         / NULLIF(var_pop($X), 0)))",
    ),
    (
        "regr_r2",
        "(CASE WHEN var_pop($X) = 0 THEN NULL WHEN var_pop($Y) = 0 THEN 1.0 ELSE \
         power((var_pop($X + $Y) - var_pop($X) - var_pop($Y)) / 2, 2) \
         / (var_pop($X) * var_pop($Y)) END)",
    ),
    ("regr_count", "count($X + $Y)"),
    ("regr_avgx", "avg($X)"),
    ("regr_avgy", "avg($Y)"),
    ("regr_sxx", "(var_pop($X) * count($X))"),
    ("regr_syy", "(var_pop($Y) * count($Y))"),
    (
        "regr_sxy",
        "((var_pop($X + $Y) - var_pop($X) - var_pop($Y)) / 2 * count($X + $Y))",
    ),
];

/// `f` expanded from its template, if it has one and is a plain aggregate call (no OVER,
/// no DISTINCT; a FILTER becomes a condition on the arguments).
fn from_template(name: &str, f: &sql::Function) -> Option<sql::Expr> {
    let (_, text) = TEMPLATES.iter().find(|(n, _)| *n == name)?;
    let sql::FunctionArguments::List(list) = &f.args else {
        return None;
    };
    if f.over.is_some() || list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    let args: Vec<String> = list
        .args
        .iter()
        .map(|a| match a {
            sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) => Some(format!("({x})")),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let two = text.contains("$X");
    if args.len() != if two { 2 } else { 1 } {
        return None;
    }
    // FILTER (WHERE c): every argument is NULL where c is not true.
    let filter = f.filter.as_ref().map(|c| format!("({c})"));
    let guard = |cond: Vec<String>, v: &str| -> String {
        let mut c = cond;
        c.extend(filter.clone());
        if c.is_empty() {
            v.to_string()
        } else {
            format!("(CASE WHEN {} THEN {v} END)", c.join(" AND "))
        }
    };
    let mut out = text.to_string();
    if two {
        let (y, x) = (&args[0], &args[1]);
        let both = |v: &str| {
            let c = vec![format!("{x} IS NOT NULL"), format!("{y} IS NOT NULL")];
            format!("CAST({} AS DOUBLE)", guard(c, v))
        };
        out = out.replace("$X", &both(x)).replace("$Y", &both(y));
    } else {
        out = out.replace("$A", &guard(vec![], &args[0]));
    }
    sqlparser::parser::Parser::new(&sqlparser::dialect::GenericDialect {})
        .try_with_sql(&out)
        .ok()?
        .parse_expr()
        .ok()
}

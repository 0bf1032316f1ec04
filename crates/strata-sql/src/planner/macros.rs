//! Aggregates that are others in disguise, expanded in the query text before planning (so
//! they work wherever an aggregate does: GROUP BY, HAVING, FILTER, OVER, distributed
//! partial aggregation):
//!
//! - `bool_and(p)` / `every(p)`: `min(CASE WHEN p THEN 1 WHEN NOT p THEN 0 END) = 1`
//! - `bool_or(p)`: `max(CASE WHEN p THEN 1 WHEN NOT p THEN 0 END) = 1`
//! - `any_value(x)`: `min(x)` (one of the values; the least is as good as any)
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
                    if ["any_value(", "bool_and(", "bool_or(", "every("]
                        .iter()
                        .any(|m| text.contains(m))
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

//! PostgreSQL's `SELECT DISTINCT ON (k1, k2) ... ORDER BY k1, k2, x`: the first row of each
//! key in the query's order. Rewritten as the same SELECT with
//! `QUALIFY row_number() OVER (PARTITION BY k1, k2 ORDER BY <the query's ORDER BY>) = 1`
//! (see `qualify.rs`); ORDER BY positions become the select items they name. Without an
//! ORDER BY the row kept for a key is any one of them, as in PostgreSQL.

use super::*;

/// Whether `s` has DISTINCT ON.
pub(super) fn applies(s: &sql::Select) -> bool {
    matches!(s.distinct, Some(sql::Distinct::On(_)))
}

pub(super) fn rewrite(q: &sql::Query, s: &sql::Select) -> Result<sql::Query> {
    let Some(sql::Distinct::On(keys)) = &s.distinct else {
        return Err(SqlError::Internal(
            "DISTINCT ON rewrite without keys".into(),
        ));
    };
    let mut order = Vec::new();
    if let Some(ob) = &q.order_by {
        let sql::OrderByKind::Expressions(items) = &ob.kind else {
            return Err(SqlError::NotSupported(
                "DISTINCT ON with ORDER BY ALL".into(),
            ));
        };
        for it in items {
            let expr = match &it.expr {
                sql::Expr::Value(v) if matches!(v.value, sql::Value::Number(..)) => {
                    let n: usize = it.expr.to_string().parse().unwrap_or(0);
                    match n.checked_sub(1).and_then(|i| s.projection.get(i)) {
                        Some(sql::SelectItem::UnnamedExpr(e))
                        | Some(sql::SelectItem::ExprWithAlias { expr: e, .. }) => e.clone(),
                        _ => {
                            return Err(SqlError::Plan(format!(
                                "ORDER BY position {n} does not name a select item \
                                 DISTINCT ON can order by"
                            )));
                        }
                    }
                }
                e => e.clone(),
            };
            order.push(format!("{expr} {}", it.options));
        }
    }
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    let mut text = format!("row_number() OVER (PARTITION BY {}", keys.join(", "));
    if !order.is_empty() {
        text.push_str(&format!(" ORDER BY {}", order.join(", ")));
    }
    text.push_str(") = 1");
    let first = sqlparser::parser::Parser::new(&sqlparser::dialect::GenericDialect {})
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::Internal(format!("DISTINCT ON rewrite {text}: {e}")))?;
    let mut s2 = s.clone();
    s2.distinct = None;
    s2.qualify = Some(match s2.qualify.take() {
        Some(c) => sql::Expr::BinaryOp {
            left: Box::new(sql::Expr::Nested(Box::new(c))),
            op: sql::BinaryOperator::And,
            right: Box::new(first),
        },
        None => first,
    });
    let mut q2 = q.clone();
    *q2.body = sql::SetExpr::Select(Box::new(s2));
    Ok(q2)
}

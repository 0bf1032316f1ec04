//! Conditions as lists: splitting WHERE/ON into conjuncts (and OR into disjuncts),
//! factoring common conditions out of ORs, and the identifiers a condition reads.

use sqlparser::ast as sql;

/// Appends the operands of a chain of `op` (AND or OR), looking through parentheses.
fn split(e: &sql::Expr, op: sql::BinaryOperator, out: &mut Vec<sql::Expr>) {
    match e {
        sql::Expr::BinaryOp { left, op: o, right } if *o == op => {
            split(left, op.clone(), out);
            split(right, op, out);
        }
        sql::Expr::Nested(x) if matches!(x.as_ref(), sql::Expr::BinaryOp { op: o, .. } if *o == op) => {
            split(x, op, out)
        }
        other => out.push(unparen(other).clone()),
    }
}

/// `e` without the parentheses around it: `((a.k = b.k))` is the join key `a.k = b.k`.
pub(super) fn unparen(mut e: &sql::Expr) -> &sql::Expr {
    while let sql::Expr::Nested(x) = e {
        e = x;
    }
    e
}

pub(super) fn disjuncts(e: &sql::Expr, out: &mut Vec<sql::Expr>) {
    split(e, sql::BinaryOperator::Or, out);
}

pub(super) fn and_all(mut v: Vec<sql::Expr>) -> Option<sql::Expr> {
    let first = if v.is_empty() {
        return None;
    } else {
        v.remove(0)
    };
    Some(v.into_iter().fold(first, |a, b| sql::Expr::BinaryOp {
        left: Box::new(a),
        op: sql::BinaryOperator::And,
        right: Box::new(b),
    }))
}

/// `(A AND B) OR (A AND C)` → `A`, `(B OR C)`: pulls conditions common to every branch of
/// an OR out of it, so a join key repeated in each branch (TPC-H Q19) becomes a join key.
fn factor_or(e: &sql::Expr, out: &mut Vec<sql::Expr>) -> bool {
    let mut ds = Vec::new();
    disjuncts(e, &mut ds);
    if ds.len() < 2 {
        return false;
    }
    let branches: Vec<Vec<sql::Expr>> = ds
        .iter()
        .map(|d| {
            let mut c = Vec::new();
            conjuncts(d, &mut c);
            c
        })
        .collect();
    let common: Vec<sql::Expr> = branches[0]
        .iter()
        .filter(|c| {
            let t = c.to_string();
            branches[1..]
                .iter()
                .all(|b| b.iter().any(|x| x.to_string() == t))
        })
        .cloned()
        .collect();
    if common.is_empty() {
        return false;
    }
    let texts: Vec<String> = common.iter().map(|c| c.to_string()).collect();
    let mut rests = Vec::new();
    for b in branches {
        let rest: Vec<sql::Expr> = b
            .into_iter()
            .filter(|c| !texts.contains(&c.to_string()))
            .collect();
        match and_all(rest) {
            Some(r) => rests.push(sql::Expr::Nested(Box::new(r))),
            // One branch is just the common part: the OR is implied by it.
            None => {
                out.extend(common);
                return true;
            }
        }
    }
    out.extend(common);
    let first = rests.remove(0);
    out.push(sql::Expr::Nested(Box::new(rests.into_iter().fold(
        first,
        |a, b| sql::Expr::BinaryOp {
            left: Box::new(a),
            op: sql::BinaryOperator::Or,
            right: Box::new(b),
        },
    ))));
    true
}

/// The conjuncts of a condition (AND-split), with conditions common to every branch of an
/// OR pulled out.
pub(super) fn conjuncts(e: &sql::Expr, out: &mut Vec<sql::Expr>) {
    let is_or = |x: &sql::Expr| {
        matches!(
            x,
            sql::Expr::BinaryOp {
                op: sql::BinaryOperator::Or,
                ..
            }
        )
    };
    let mut parts = Vec::new();
    split(e, sql::BinaryOperator::And, &mut parts);
    for p in parts {
        let or = is_or(&p) || matches!(&p, sql::Expr::Nested(x) if is_or(x));
        if !(or && factor_or(&p, out)) {
            out.push(p);
        }
    }
}

/// The `(qualifier, name)` of every column a condition reads.
pub(super) fn collect_idents(e: &sql::Expr, out: &mut Vec<(Option<String>, String)>) {
    match e {
        sql::Expr::Identifier(i) => out.push((None, i.value.clone())),
        sql::Expr::CompoundIdentifier(ids) if ids.len() >= 2 => out.push((
            Some(ids[ids.len() - 2].value.clone()),
            ids[ids.len() - 1].value.clone(),
        )),
        other => children(other)
            .into_iter()
            .for_each(|c| collect_idents(c, out)),
    }
}

/// The sub-expressions of `e` evaluated in the same row context: operands, function and
/// window arguments; not the bodies of subqueries.
pub(super) fn children(e: &sql::Expr) -> Vec<&sql::Expr> {
    let mut v: Vec<&sql::Expr> = Vec::new();
    match e {
        sql::Expr::BinaryOp { left, right, .. }
        | sql::Expr::IsDistinctFrom(left, right)
        | sql::Expr::IsNotDistinctFrom(left, right) => v.extend([left.as_ref(), right.as_ref()]),
        sql::Expr::UnaryOp { expr, .. }
        | sql::Expr::Nested(expr)
        | sql::Expr::IsNull(expr)
        | sql::Expr::IsNotNull(expr)
        | sql::Expr::IsTrue(expr)
        | sql::Expr::IsNotTrue(expr)
        | sql::Expr::IsFalse(expr)
        | sql::Expr::IsNotFalse(expr)
        | sql::Expr::IsUnknown(expr)
        | sql::Expr::IsNotUnknown(expr)
        | sql::Expr::Cast { expr, .. }
        | sql::Expr::Extract { expr, .. }
        | sql::Expr::Collate { expr, .. } => v.push(expr),
        sql::Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            v.push(expr);
            v.extend(substring_from.as_deref());
            v.extend(substring_for.as_deref());
        }
        sql::Expr::Trim {
            expr,
            trim_what,
            trim_characters,
            ..
        } => {
            v.push(expr);
            v.extend(trim_what.as_deref());
            if let Some(cs) = trim_characters {
                v.extend(cs.iter());
            }
        }
        sql::Expr::Position { expr, r#in } => v.extend([expr.as_ref(), r#in.as_ref()]),
        sql::Expr::Between {
            expr, low, high, ..
        } => v.extend([expr.as_ref(), low.as_ref(), high.as_ref()]),
        sql::Expr::In {
            expr,
            target: sql::InTarget::List(list),
            ..
        } => {
            v.push(expr);
            v.extend(list.iter());
        }
        sql::Expr::In { expr, .. } => v.push(expr),
        sql::Expr::Like { expr, pattern, .. }
        | sql::Expr::ILike { expr, pattern, .. }
        | sql::Expr::SimilarTo { expr, pattern, .. }
        | sql::Expr::RLike { expr, pattern, .. } => v.extend([expr.as_ref(), pattern.as_ref()]),
        sql::Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            v.extend(operand.as_deref());
            for w in conditions {
                v.extend([&w.condition, &w.result]);
            }
            v.extend(else_result.as_deref());
        }
        sql::Expr::Function(f) => {
            if let sql::FunctionArguments::List(l) = &f.args {
                for a in &l.args {
                    match a {
                        sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x))
                        | sql::FunctionArg::Named {
                            arg: sql::FunctionArgExpr::Expr(x),
                            ..
                        } => v.push(x),
                        _ => {}
                    }
                }
            }
            v.extend(f.filter.as_deref());
            if let Some(sql::WindowType::WindowSpec(w)) = &f.over {
                v.extend(w.partition_by.iter());
                v.extend(w.order_by.iter().map(|o| &o.expr));
            }
        }
        sql::Expr::Tuple(xs) => v.extend(xs.iter()),
        _ => {}
    }
    v
}

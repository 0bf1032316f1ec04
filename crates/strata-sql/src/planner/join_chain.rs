//! Explicit `JOIN ... ON` chains planned like comma joins, so that the cost-based join
//! order applies to what most people write. An inner join's ON condition means the same
//! as a WHERE condition, so a chain of inner joins becomes a list of FROM items with its
//! ON conditions added to the WHERE clause. When LEFT joins follow the inner ones (`a JOIN
//! b ON .. JOIN c ON .. LEFT JOIN d ON ..`, TPC-DS q72), the inner part is planned that
//! way with the WHERE conditions that bind to it, then the left joins are applied in
//! their written order, then the remaining conditions. Anything else (right/full joins,
//! USING, NATURAL, parenthesised joins, subqueries in WHERE) keeps the written order.

use super::from::relation;
use super::*;

/// Inner joins: ON conditions as WHERE conditions. `None` when nothing changes.
fn inner_part(t: &sql::TableWithJoins, on: &mut Vec<sql::Expr>) -> Option<Vec<sql::TableFactor>> {
    if matches!(t.relation, sql::TableFactor::NestedJoin { .. }) {
        return None;
    }
    let mut items = vec![t.relation.clone()];
    for j in &t.joins {
        if matches!(j.relation, sql::TableFactor::NestedJoin { .. }) {
            return None;
        }
        match &j.join_operator {
            sql::JoinOperator::Join(sql::JoinConstraint::On(c))
            | sql::JoinOperator::Inner(sql::JoinConstraint::On(c)) => on.push(c.clone()),
            sql::JoinOperator::CrossJoin(sql::JoinConstraint::None) => {}
            _ => return None,
        }
        items.push(j.relation.clone());
    }
    Some(items)
}

fn and(cs: impl IntoIterator<Item = sql::Expr>) -> Option<sql::Expr> {
    cs.into_iter().reduce(|a, b| sql::Expr::BinaryOp {
        left: Box::new(a),
        op: sql::BinaryOperator::And,
        right: Box::new(b),
    })
}

fn item(relation: sql::TableFactor) -> sql::TableWithJoins {
    sql::TableWithJoins {
        relation,
        joins: Vec::new(),
    }
}

/// `s` planned with its join chains reordered, or `None` to plan it as written.
pub(super) fn plan(
    s: &sql::Select,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<Option<Rel>> {
    if !s.from.iter().any(|t| !t.joins.is_empty()) {
        return Ok(None);
    }
    // Subqueries in WHERE have their own planning paths (semi joins, domains): leave them.
    if s.selection
        .as_ref()
        .is_some_and(|w| w.to_string().to_ascii_uppercase().contains("SELECT"))
    {
        return Ok(None);
    }
    let mut on = Vec::new();
    // Every FROM item a pure inner chain: one list of items.
    let flat: Option<Vec<sql::TableFactor>> = s
        .from
        .iter()
        .map(|t| inner_part(t, &mut on))
        .collect::<Option<Vec<_>>>()
        .map(|v| v.into_iter().flatten().collect());
    if let Some(items) = flat {
        let mut flat = s.clone();
        flat.from = items.into_iter().map(item).collect();
        flat.selection = and(on.into_iter().chain(s.selection.clone()));
        return plan_from_where(&flat, tables, words).map(Some);
    }
    // One FROM item: inner joins, then LEFT joins with ON.
    let [t] = s.from.as_slice() else {
        return Ok(None);
    };
    let split = t
        .joins
        .iter()
        .position(|j| {
            !matches!(
                j.join_operator,
                sql::JoinOperator::Join(sql::JoinConstraint::On(_))
                    | sql::JoinOperator::Inner(sql::JoinConstraint::On(_))
                    | sql::JoinOperator::CrossJoin(sql::JoinConstraint::None)
            )
        })
        .unwrap_or(t.joins.len());
    let lefts = &t.joins[split..];
    let left_on: Option<Vec<&sql::Expr>> = lefts
        .iter()
        .map(|j| match &j.join_operator {
            sql::JoinOperator::Left(sql::JoinConstraint::On(c))
            | sql::JoinOperator::LeftOuter(sql::JoinConstraint::On(c)) => Some(c),
            _ => None,
        })
        .collect();
    let (Some(left_on), true) = (left_on, split > 0) else {
        return Ok(None);
    };
    let prefix = sql::TableWithJoins {
        relation: t.relation.clone(),
        joins: t.joins[..split].to_vec(),
    };
    let mut on = Vec::new();
    let Some(items) = inner_part(&prefix, &mut on) else {
        return Ok(None);
    };
    // WHERE conditions over the inner tables alone go with them.
    let rels = items
        .iter()
        .map(|r| relation(r, tables, words))
        .collect::<Result<Vec<_>>>()?;
    let scope = rels[1..]
        .iter()
        .fold(rels[0].scope.clone(), |a, r| a.join(&r.scope));
    let mut cs = Vec::new();
    if let Some(w) = &s.selection {
        conjuncts(w, &mut cs);
    }
    let (inner_cs, rest): (Vec<sql::Expr>, Vec<sql::Expr>) =
        cs.into_iter().partition(|c| bind(c, &scope, None).is_ok());
    let mut inner = s.clone();
    inner.from = items.into_iter().map(item).collect();
    inner.selection = and(on.into_iter().chain(inner_cs));
    let mut acc = plan_from_where(&inner, tables, words)?;
    for (j, c) in lefts.iter().zip(left_on) {
        let right = relation(&j.relation, tables, words)?;
        let mut cs = Vec::new();
        conjuncts(c, &mut cs);
        acc = join_rels(acc, right, JoinKind::Left, &cs)?;
    }
    for c in rest {
        let p = bind(&c, &acc.scope, None)?;
        acc.plan = Plan::Filter {
            input: Box::new(acc.plan),
            predicate: p,
        };
    }
    Ok(Some(acc))
}

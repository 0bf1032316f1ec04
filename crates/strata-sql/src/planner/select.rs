//! SELECT: aggregates and group keys, HAVING, window functions, the output projection and
//! DISTINCT.

use super::*;

pub(super) fn agg_name(e: &sql::Expr) -> Option<String> {
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
pub(super) fn collect_aggs(e: &sql::Expr, out: &mut Vec<sql::Expr>) {
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
pub(super) fn plan_select(
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

//! SELECT: aggregates and group keys, HAVING, window functions, the output projection and
//! DISTINCT.

use super::*;

pub(super) fn agg_name(e: &sql::Expr) -> Option<String> {
    // `sum(x) OVER (...)` is a window function, not an aggregate.
    if let sql::Expr::Function(f) = e
        && f.over.is_none()
    {
        let n = f.name.to_string().to_lowercase();
        if matches!(
            n.as_str(),
            "sum"
                | "count"
                | "avg"
                | "min"
                | "max"
                | "var_samp"
                | "variance"
                | "var_pop"
                | "stddev_samp"
                | "stddev"
                | "stddev_pop"
                | "train_logistic"
                | "median"
                | "percentile_cont"
                | "percentile_disc"
                | "quantile_cont"
                | "quantile_disc"
                | "quantile"
                | "mode"
                | "string_agg"
                | "group_concat"
                | "listagg"
                | "array_agg"
                | "arg_max"
                | "arg_min"
                | "max_by"
                | "min_by"
        ) {
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
    // Also inside window calls (`rank() OVER (ORDER BY sum(x))`), functions
    // (`round(avg(x), 2)`) and predicates (`sum(x) IS NULL`, `count(*) BETWEEN 2 AND 5`).
    for c in conditions::children(e) {
        collect_aggs(c, out);
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
    if super::holistic::is_holistic(&name) {
        return super::holistic::agg_call(e, f, &name, list, distinct, scope);
    }
    if !list.clauses.is_empty()
        || !f.within_group.is_empty()
        || f.null_treatment.is_some()
        || !matches!(f.parameters, sql::FunctionArguments::None)
    {
        return Err(SqlError::NotSupported(format!(
            "{e}: clauses inside an aggregate call other than DISTINCT and FILTER"
        )));
    }
    let mut model = None;
    let arg = match list.args.as_slice() {
        _ if name == "train_logistic" => {
            if distinct {
                return Err(SqlError::Plan(format!(
                    "{e}: DISTINCT does not apply to train_logistic"
                )));
            }
            let (call, sgd) = model_args(e, &list.args, scope)?;
            model = Some(sgd);
            Some(call)
        }
        [sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard)] if name == "count" => None,
        [sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x))] => Some(bind(x, scope, None)?),
        _ => return Err(SqlError::Plan(format!("{e}: expected one argument"))),
    };
    // `agg(x) FILTER (WHERE c)` aggregates `CASE WHEN c THEN x END` (NULLs are skipped);
    // `count(*) FILTER (WHERE c)` counts `CASE WHEN c THEN 1 END`.
    let arg = filtered(f, arg, scope)?;
    let func = match (name.as_str(), &arg, model) {
        (_, _, Some(sgd)) => AggFunc::TrainLogistic(sgd),
        ("count", None, _) => AggFunc::CountStar,
        ("count", _, _) => AggFunc::Count,
        ("sum", _, _) => AggFunc::Sum,
        ("avg", _, _) => AggFunc::Avg,
        ("min", _, _) => AggFunc::Min,
        ("var_samp" | "variance", _, _) => AggFunc::VarSamp,
        ("var_pop", _, _) => AggFunc::VarPop,
        ("stddev_samp" | "stddev", _, _) => AggFunc::StddevSamp,
        ("stddev_pop", _, _) => AggFunc::StddevPop,
        _ => AggFunc::Max,
    };
    if let Some(a) = &arg
        && (matches!(func, AggFunc::Sum | AggFunc::Avg) || func.is_moments())
    {
        let t = a.data_type(&scope.schema)?;
        if !(t.is_numeric() || t.is_null()) {
            return Err(SqlError::Plan(format!(
                "type error in {e}: {name} needs a number, got {t}"
            )));
        }
    }
    Ok(AggCall {
        distinct,
        ..AggCall::plain(func, arg)
    })
}

/// `agg(x) FILTER (WHERE c)` aggregates `CASE WHEN c THEN x END` (NULLs are skipped);
/// `count(*) FILTER (WHERE c)` counts `CASE WHEN c THEN 1 END`.
pub(super) fn filtered(
    f: &sql::Function,
    arg: Option<crate::expr::Expr>,
    scope: &Scope,
) -> Result<Option<crate::expr::Expr>> {
    Ok(match &f.filter {
        None => arg,
        Some(c) => {
            let c = bind(c, scope, None)?;
            let one = || {
                crate::expr::Expr::Literal(std::sync::Arc::new(arrow::array::Int64Array::from(
                    vec![1i64],
                )))
            };
            Some(crate::expr::Expr::Case(
                vec![(c, arg.unwrap_or_else(one))],
                None,
            ))
        }
    })
}

/// `train_logistic(label, x1, ..., xd [, 'options'])`: the packed row it aggregates, and
/// its SGD settings (from a trailing string constant).
fn model_args(
    e: &sql::Expr,
    args: &[sql::FunctionArg],
    scope: &Scope,
) -> Result<(crate::expr::Expr, crate::ml::Sgd)> {
    let mut exprs = Vec::new();
    for a in args {
        match a {
            sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) => exprs.push(x),
            other => {
                return Err(SqlError::Plan(format!("{e}: unexpected argument {other}")));
            }
        }
    }
    let sgd = match exprs.last() {
        Some(sql::Expr::Value(v)) if exprs.len() > 1 => match &v.value {
            sql::Value::SingleQuotedString(s) => {
                exprs.pop();
                crate::ml::Sgd::parse(s)?
            }
            _ => crate::ml::Sgd::default(),
        },
        _ => crate::ml::Sgd::default(),
    };
    if exprs.len() < 2 {
        return Err(SqlError::Plan(format!(
            "{e}: train_logistic takes a label and at least one feature \
             (train_logistic(label, x1, ..., xd [, 'epochs=20 step=0.02 l2=0.0001 seed=42']))"
        )));
    }
    let bound = exprs
        .into_iter()
        .map(|x| bind(x, scope, None))
        .collect::<Result<Vec<_>>>()?;
    crate::ml::check_numbers("train_logistic", &bound, 0, scope)?;
    Ok((
        crate::expr::Expr::Call(crate::expr::Func::PackRow, bound),
        sgd,
    ))
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
    if s.qualify.is_some() {
        return super::qualify::plan(s, tables, words);
    }
    // Its FROM items are the outer query of the subqueries planned meanwhile (a correlated
    // subquery whose conditions are not equalities draws its domain from them).
    super::subquery::OUTER_FROM.with(|o| o.borrow_mut().push(s.from.clone()));
    let r = plan_select_here(s, tables, words);
    super::subquery::OUTER_FROM.with(|o| o.borrow_mut().pop());
    r
}

fn plan_select_here(
    s: &sql::Select,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<(Plan, Scope, Vec<String>)> {
    refuse_unknown_clauses(s)?;
    let star = s.projection.iter().any(|it| {
        matches!(
            it,
            sql::SelectItem::Wildcard(_) | sql::SelectItem::QualifiedWildcard(..)
        )
    });
    let rel = if star {
        let mut all = words.clone();
        all.insert(ALL_COLUMNS.to_string());
        plan_from_where(s, tables, &all)?
    } else {
        plan_from_where(s, tables, words)?
    };
    // The select list, wildcards expanded in place into the columns they stand for.
    let mut items: Vec<(sql::Expr, Option<String>)> = Vec::new();
    let mut wildcard = false;
    for it in &s.projection {
        match it {
            sql::SelectItem::UnnamedExpr(e) => items.push((e.clone(), None)),
            sql::SelectItem::ExprWithAlias { expr, alias } => {
                items.push((expr.clone(), Some(alias.value.to_lowercase())))
            }
            sql::SelectItem::Wildcard(opts) => {
                wildcard = true;
                // In FROM order, whatever order the joins were planned in.
                let order = from_qualifiers(s);
                let mut ordered = rel.scope.clone();
                // Columns without a qualifier (merged by USING) first.
                let rank = |q: &Option<String>| match q {
                    None => 0,
                    Some(q) => order
                        .iter()
                        .position(|o| o == q.trim_end_matches(crate::bind::HIDDEN))
                        .map_or(order.len() + 1, |i| i + 1),
                };
                ordered.names.sort_by_key(|(q, _)| rank(q));
                items.extend(expand_wildcard(&ordered, None, opts)?);
            }
            sql::SelectItem::QualifiedWildcard(
                sql::SelectItemQualifiedWildcardKind::ObjectName(name),
                opts,
            ) => {
                wildcard = true;
                let q = name
                    .0
                    .last()
                    .map(|p| p.to_string().trim_matches('"').to_lowercase())
                    .unwrap_or_default();
                items.extend(expand_wildcard(&rel.scope, Some(&q), opts)?);
            }
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
        // GROUP BY ALL: every select item without an aggregate.
        sql::GroupByExpr::All(_) => items
            .iter()
            .filter(|(e, _)| {
                let mut inner = Vec::new();
                collect_aggs(e, &mut inner);
                inner.is_empty() && !matches!(e, sql::Expr::Value(_))
            })
            .map(|(e, _)| e.clone())
            .collect(),
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
        // Correlated scalar subqueries in the select list: each a LEFT JOIN with the
        // subquery grouped by its correlation keys; the item reads the joined value.
        let mut rel = rel;
        let mut subs: Vec<(String, Expr)> = Vec::new();
        for (e, _) in &items {
            let mut found = Vec::new();
            scalar_subqueries(e, &mut found);
            for q in found {
                let text = sql::Expr::Subquery(Box::new(q.clone())).to_string();
                if subs.iter().any(|(t, _)| *t == text) || !is_correlated(q, tables, words) {
                    continue;
                }
                let (r, value) = scalar_column(rel, q, tables, words)?;
                rel = r;
                subs.push((text, value));
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
            if let Some((_, v)) = subs.iter().find(|(s, _)| *s == t) {
                return Some(v.clone());
            }
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
        if wildcard && !aggs.is_empty() {
            return Err(SqlError::Plan(
                "SELECT * with aggregates: list the grouped columns instead of *".into(),
            ));
        }
        // Group keys: an input expression, a select alias, or a select-list position.
        // Each key keeps the SQL texts it may be referred to by above the aggregate.
        let mut group = Vec::new();
        let mut group_names: Vec<(Option<String>, String)> = Vec::new();
        let mut key_texts: Vec<Vec<String>> = Vec::new();
        for g in &group_exprs {
            // A position names its item only: `GROUP BY 1` does not make a literal 1
            // elsewhere in the query a group key.
            let mut texts = Vec::new();
            let positional = match g {
                sql::Expr::Value(v) => match &v.value {
                    sql::Value::Number(n, _) => Some(n.parse::<usize>().unwrap_or(0)),
                    _ => None,
                },
                _ => None,
            };
            let (bound, named) = if let Some(n) = positional {
                let (x, alias) = items.get(n.wrapping_sub(1)).ok_or_else(|| {
                    SqlError::Plan(format!(
                        "GROUP BY position {n} is out of range: the select list has {} items",
                        items.len()
                    ))
                })?;
                let mut inner = Vec::new();
                collect_aggs(x, &mut inner);
                if !inner.is_empty() {
                    return Err(SqlError::Plan(format!(
                        "GROUP BY {n} refers to {x}, an aggregate; group by columns instead"
                    )));
                }
                texts.push(x.to_string());
                (
                    bind(x, &rel.scope, None)?,
                    alias
                        .clone()
                        .map(|a| (None, a))
                        .unwrap_or_else(|| name_of(x)),
                )
            } else {
                texts.push(g.to_string());
                match bind(g, &rel.scope, None) {
                    Ok(b) => (b, name_of(g)),
                    Err(e) => {
                        let alias = items
                            .iter()
                            .find(|(_, a)| a.as_deref() == Some(&item_name(g)));
                        match alias {
                            Some((x, _)) => {
                                texts.push(x.to_string());
                                (bind(x, &rel.scope, None)?, name_of(g))
                            }
                            None => return Err(e),
                        }
                    }
                }
            };
            group.push((bound, g.to_string()));
            group_names.push(named);
            key_texts.push(texts);
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
        let agg_texts: Vec<String> = aggs.iter().map(|a| a.to_string()).collect();
        let n_keys = group.len();
        let group_cols: Vec<Option<usize>> = group
            .iter()
            .map(|(g, _)| match g {
                Expr::Column(c) => Some(*c),
                _ => None,
            })
            .collect();
        let hook = |e: &sql::Expr| -> Option<Expr> {
            let t = e.to_string();
            if let Some(i) = key_texts.iter().position(|ts| ts.contains(&t)) {
                return Some(Expr::Column(i));
            }
            if let Some(i) = agg_texts.iter().position(|g| *g == t) {
                return Some(Expr::Column(n_keys + i));
            }
            // A column named another way than in GROUP BY (`t.a` for `a`).
            if matches!(
                e,
                sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_)
            ) && let Ok(Expr::Column(c)) = bind(e, &rel.scope, None)
            {
                return group_cols
                    .iter()
                    .position(|g| *g == Some(c))
                    .map(Expr::Column);
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
    if let Some(sql::Distinct::On(_)) = &s.distinct {
        return Err(SqlError::NotSupported(
            "DISTINCT ON (use GROUP BY, or a window with row_number())".into(),
        ));
    }
    if matches!(s.distinct, Some(sql::Distinct::Distinct)) {
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

/// The qualifiers of a SELECT's FROM items (aliases, else table names), in FROM order.
fn from_qualifiers(s: &sql::Select) -> Vec<String> {
    fn walk(f: &sql::TableFactor, out: &mut Vec<String>) {
        match f {
            sql::TableFactor::Table { name, alias, .. } => out.push(match alias {
                Some(a) => a.name.value.to_lowercase(),
                None => {
                    let raw = name.to_string();
                    let t = raw.trim_matches(|c| c == '"' || c == '\'' || c == '`');
                    t.rsplit('/').next().unwrap_or(t).to_lowercase()
                }
            }),
            sql::TableFactor::Derived { alias: Some(a), .. } => {
                out.push(a.name.value.to_lowercase())
            }
            sql::TableFactor::NestedJoin {
                table_with_joins, ..
            } => {
                walk(&table_with_joins.relation, out);
                for j in &table_with_joins.joins {
                    walk(&j.relation, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for t in &s.from {
        walk(&t.relation, &mut out);
        for j in &t.joins {
            walk(&j.relation, &mut out);
        }
    }
    out
}

/// The columns `*` (or `q.*`) stands for in `scope`, as select items qualified by their
/// relation, less those named in `EXCLUDE (...)` (or BigQuery's `EXCEPT (...)`), with those
/// named in `REPLACE (expr AS col)` computed instead (DuckDB, BigQuery).
fn expand_wildcard(
    scope: &Scope,
    qualifier: Option<&str>,
    opts: &sql::WildcardAdditionalOptions,
) -> Result<Vec<(sql::Expr, Option<String>)>> {
    if opts.opt_rename.is_some() || opts.opt_ilike.is_some() {
        return Err(SqlError::NotSupported(format!(
            "wildcard options other than EXCLUDE and REPLACE in {}",
            opts.to_string().trim()
        )));
    }
    let mut excluded: Vec<String> = match &opts.opt_exclude {
        None => vec![],
        Some(sql::ExcludeSelectItem::Single(n)) => vec![n.to_string().to_lowercase()],
        Some(sql::ExcludeSelectItem::Multiple(ns)) => {
            ns.iter().map(|n| n.to_string().to_lowercase()).collect()
        }
    };
    if let Some(x) = &opts.opt_except {
        excluded.push(x.first_element.value.to_lowercase());
        excluded.extend(x.additional_elements.iter().map(|i| i.value.to_lowercase()));
    }
    let replace: Vec<(String, &sql::Expr)> = opts
        .opt_replace
        .iter()
        .flat_map(|r| &r.items)
        .map(|r| (r.column_name.value.to_lowercase(), &r.expr))
        .collect();
    let mut replaced = vec![false; replace.len()];
    let mut out = Vec::new();
    let mut seen = vec![false; excluded.len()];
    for (q, n) in &scope.names {
        let hidden = q.as_ref().is_some_and(|q| q.ends_with(crate::bind::HIDDEN));
        let q = &q
            .as_ref()
            .map(|q| q.trim_end_matches(crate::bind::HIDDEN).to_string());
        if (qualifier.is_some() && q.as_deref() != qualifier) || (qualifier.is_none() && hidden) {
            continue;
        }
        let full = q.as_ref().map(|q| format!("{q}.{n}"));
        if let Some(i) = excluded
            .iter()
            .position(|x| x == n || Some(x) == full.as_ref())
        {
            seen[i] = true;
            continue;
        }
        let ident = sql::Ident::with_quote('"', n.clone());
        let e = match q {
            Some(q) => {
                sql::Expr::CompoundIdentifier(vec![sql::Ident::with_quote('"', q.clone()), ident])
            }
            None => sql::Expr::Identifier(ident),
        };
        match replace.iter().position(|(c, _)| c == n) {
            Some(i) => {
                replaced[i] = true;
                out.push((replace[i].1.clone(), Some(n.clone())));
            }
            None => out.push((e, Some(n.clone()))),
        }
    }
    if let Some(i) = replaced.iter().position(|r| !r) {
        return Err(SqlError::Plan(format!(
            "REPLACE names column {}, which * does not have",
            replace[i].0
        )));
    }
    if let Some(q) = qualifier
        && out.is_empty()
        && excluded.is_empty()
    {
        return Err(SqlError::Plan(format!(
            "{q}.*: no table or alias named {q} in FROM"
        )));
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        return Err(SqlError::Plan(format!(
            "EXCLUDE names column {}, which * does not have",
            excluded[i]
        )));
    }
    Ok(out)
}

/// The (qualifier, name) of an output column for `e`.
fn name_of(e: &sql::Expr) -> (Option<String>, String) {
    match e {
        sql::Expr::CompoundIdentifier(ids) if ids.len() >= 2 => (
            Some(ids[ids.len() - 2].value.to_lowercase()),
            ids[ids.len() - 1].value.to_lowercase(),
        ),
        other => (None, item_name(other)),
    }
}

/// The scalar subqueries in `e` (not inside other subqueries).
pub(super) fn scalar_subqueries<'a>(e: &'a sql::Expr, out: &mut Vec<&'a sql::Query>) {
    match e {
        sql::Expr::Subquery(q) => out.push(q),
        other => conditions::children(other)
            .into_iter()
            .for_each(|c| scalar_subqueries(c, out)),
    }
}

/// Clauses of other dialects that sqlparser accepts and that would change the answer if
/// they were ignored: each is an error naming what to write instead.
fn refuse_unknown_clauses(s: &sql::Select) -> Result<()> {
    let what = if s.top.is_some() {
        Some("TOP n (write LIMIT n)")
    } else if s.into.is_some() {
        Some("SELECT ... INTO (write CREATE TABLE t AS SELECT ...)")
    } else if !s.lateral_views.is_empty() {
        Some("LATERAL VIEW")
    } else if s.prewhere.is_some() {
        Some("PREWHERE (write WHERE)")
    } else if !s.connect_by.is_empty() {
        Some("CONNECT BY")
    } else if !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty() {
        Some("CLUSTER/DISTRIBUTE/SORT BY (write ORDER BY)")
    } else if s.value_table_mode.is_some() {
        Some("SELECT AS STRUCT/VALUE")
    } else if s.exclude.is_some() {
        Some("SELECT ... EXCLUDE after the list (write * EXCLUDE (..))")
    } else {
        None
    };
    if let Some(w) = what {
        return Err(SqlError::NotSupported(w.into()));
    }
    for t in &s.from {
        for f in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            match f {
                sql::TableFactor::Table {
                    sample: Some(_), ..
                }
                | sql::TableFactor::Derived {
                    sample: Some(_), ..
                } => {
                    return Err(SqlError::NotSupported("TABLESAMPLE".into()));
                }
                sql::TableFactor::Table {
                    name,
                    args: Some(_),
                    version: None,
                    partitions,
                    json_path: None,
                    with_ordinality: false,
                    ..
                } if partitions.is_empty()
                    && super::series::is_series(&name.to_string().to_lowercase()) => {}
                sql::TableFactor::Table {
                    args,
                    version,
                    partitions,
                    json_path,
                    with_ordinality,
                    ..
                } if args.is_some()
                    || version.is_some()
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || *with_ordinality =>
                {
                    return Err(SqlError::NotSupported(format!(
                        "FROM {f} (table functions, time travel, partitions, JSON paths; \
                         name a table or a quoted path)"
                    )));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

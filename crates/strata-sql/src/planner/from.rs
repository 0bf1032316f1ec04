//! FROM and WHERE: relations (tables, subqueries, CTEs, explicit JOIN chains), their
//! filters, and joining them (keys, residual conditions, implied filters, semi joins).

use super::*;

pub(super) fn relation(
    f: &sql::TableFactor,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<Rel> {
    match f {
        sql::TableFactor::Table {
            name,
            alias,
            args: Some(args),
            ..
        } if super::series::is_series(&name.to_string().to_lowercase()) => {
            super::series::relation(&name.to_string().to_lowercase(), args, alias.as_ref())
        }
        sql::TableFactor::Table { name, alias, .. } => {
            let raw = name.to_string();
            let tname = raw
                .trim_matches(|c| c == '"' || c == '\'' || c == '`')
                .to_string();
            let qual = alias
                .as_ref()
                .map(|a| a.name.value.clone())
                .unwrap_or_else(|| tname.clone());
            if let Some((plan, schema)) = recursive::work_table(&tname) {
                let mut scope = Scope::new(schema, Some(&qual));
                if let Some(a) = alias {
                    rename(&mut scope, a.columns.iter().map(|c| c.name.value.as_str()));
                }
                return Ok(Rel {
                    scope,
                    plan,
                    rows: 1_000.0,
                    base: 1_000.0,
                });
            }
            if let Some((at, def)) = cte(&tname) {
                let mut w = words.clone();
                w.extend(mentioned(&def.query));
                let (plan, scope) = with_ctes_before(at, || {
                    if def.recursive {
                        recursive::plan(&def, tables, &w)
                    } else {
                        plan_query_with(&def.query, tables, &w)
                    }
                })?;
                let mut scope = Scope::new(scope.schema.clone(), Some(&qual));
                if def.columns.len() > scope.names.len() {
                    return Err(SqlError::Plan(format!(
                        "WITH {}({}) names {} columns but its query gives {}",
                        def.name,
                        def.columns.join(", "),
                        def.columns.len(),
                        scope.names.len()
                    )));
                }
                rename(&mut scope, def.columns.iter().map(String::as_str));
                if let Some(a) = alias {
                    rename(&mut scope, a.columns.iter().map(|c| c.name.value.as_str()));
                }
                return Ok(Rel {
                    scope,
                    plan,
                    rows: 100_000.0,
                    base: 100_000.0,
                });
            }
            if let Some((q, columns)) = tables.view(&tname)? {
                return view_rel(&q, &columns, &tname, alias.as_ref(), tables, words);
            }
            let table = tables.table(&tname)?;
            let all = words.contains(ALL_COLUMNS);
            let projection: Vec<usize> = (0..table.schema.fields().len())
                .filter(|i| all || words.contains(&table.schema.field(*i).name().to_lowercase()))
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
            if let Some(a) = alias {
                rename(&mut scope, a.columns.iter().map(|c| c.name.value.as_str()));
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

/// How deeply views may refer to views (a view that reads itself is refused at this depth).
const MAX_VIEW_DEPTH: usize = 32;

thread_local! {
    static VIEW_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A view in FROM: its query planned in place, named by the alias or the view's name.
fn view_rel(
    q: &sql::Query,
    columns: &[String],
    name: &str,
    alias: Option<&sql::TableAlias>,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<Rel> {
    let depth = VIEW_DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let r = if depth > MAX_VIEW_DEPTH {
        Err(SqlError::Plan(format!(
            "view {name} refers to views {MAX_VIEW_DEPTH} levels deep (does it read itself?)"
        )))
    } else {
        // Its scans read the columns its own text names (as a CTE's do).
        let q = super::macros::expand(q);
        let mut w = words.clone();
        w.extend(mentioned(&q));
        plan_query_with(&q, tables, &w)
    };
    VIEW_DEPTH.with(|d| d.set(d.get() - 1));
    let (plan, scope) = r?;
    let qual = alias
        .map(|a| a.name.value.clone())
        .unwrap_or(name.to_string());
    let mut scope = Scope::new(scope.schema.clone(), Some(&qual));
    rename(&mut scope, columns.iter().map(String::as_str));
    if let Some(a) = alias {
        rename(&mut scope, a.columns.iter().map(|c| c.name.value.as_str()));
    }
    Ok(Rel {
        plan,
        scope,
        rows: 100_000.0,
        base: 100_000.0,
    })
}

/// Names the first columns of `scope` as listed (`AS t(a, b)`, `CREATE VIEW v (a, b)`).
pub(super) fn rename<'a>(scope: &mut Scope, names: impl Iterator<Item = &'a str>) {
    for (slot, n) in scope.names.iter_mut().zip(names) {
        slot.1 = n.to_lowercase();
    }
}

/// An explicit `a JOIN b ON ...` chain.
pub(super) fn from_item(
    t: &sql::TableWithJoins,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<Rel> {
    let mut acc = relation(&t.relation, tables, words)?;
    for j in &t.joins {
        let right = relation(&j.relation, tables, words)?;
        let (kind, constraint) = match &j.join_operator {
            sql::JoinOperator::Join(c) | sql::JoinOperator::Inner(c) => (JoinKind::Inner, c),
            sql::JoinOperator::Left(c) | sql::JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
            sql::JoinOperator::Right(c) | sql::JoinOperator::RightOuter(c) => (JoinKind::Right, c),
            sql::JoinOperator::FullOuter(c) => (JoinKind::Full, c),
            sql::JoinOperator::CrossJoin(c) => (JoinKind::Inner, c),
            other => return Err(SqlError::NotSupported(format!("join {other:?}"))),
        };
        let mut cs = Vec::new();
        match constraint {
            sql::JoinConstraint::On(on) => conjuncts(on, &mut cs),
            sql::JoinConstraint::None => {}
            sql::JoinConstraint::Using(names) => {
                let names: Vec<String> = names
                    .iter()
                    .map(|n| crate::statements::object_name(n).to_lowercase())
                    .collect();
                acc = join_using(acc, right, kind, &names)?;
                continue;
            }
            sql::JoinConstraint::Natural => {
                let visible = |s: &Scope| -> Vec<String> {
                    s.names
                        .iter()
                        .filter(|(q, _)| {
                            !q.as_ref().is_some_and(|q| q.ends_with(crate::bind::HIDDEN))
                        })
                        .map(|(_, n)| n.clone())
                        .collect()
                };
                let r = visible(&right.scope);
                let mut names: Vec<String> = Vec::new();
                for n in visible(&acc.scope) {
                    if r.contains(&n) && !names.contains(&n) {
                        names.push(n);
                    }
                }
                acc = if names.is_empty() {
                    join_rels(acc, right, kind, &[])?
                } else {
                    join_using(acc, right, kind, &names)?
                };
                continue;
            }
            sql::JoinConstraint::UsingAlias(..) => {
                return Err(SqlError::NotSupported(
                    "JOIN ... USING (...) AS alias (write ON a.x = b.x)".into(),
                ));
            }
        }
        acc = join_rels(acc, right, kind, &cs)?;
    }
    Ok(acc)
}

/// `left JOIN right USING (k, ...)`: equal keys; the output has each `k` once, merged
/// (the left's for inner and left joins, the right's for right joins, COALESCE of both for
/// full joins), then the left's columns and the right's, whose `k`s only their qualifier
/// reaches (`a.k`), so that a bare `k` and `*` mean the merged column, as the standard says.
fn join_using(left: Rel, right: Rel, kind: JoinKind, names: &[String]) -> Result<Rel> {
    let find = |s: &Scope, n: &str, side: &str| -> Result<usize> {
        s.resolve(None, n).map_err(|_| {
            SqlError::Plan(format!(
                "USING ({n}): the {side} side has no column {n}, or more than one"
            ))
        })
    };
    let mut pairs = Vec::new();
    for n in names {
        pairs.push((
            find(&left.scope, n, "left")?,
            find(&right.scope, n, "right")?,
        ));
    }
    let on = pairs
        .iter()
        .map(|(l, r)| {
            key_pair(
                Expr::Column(*l),
                &left.scope,
                Expr::Column(*r),
                &right.scope,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let joined = left.scope.join(&right.scope);
    let nl = left.scope.names.len();
    let rows = left.rows.max(right.rows);
    let base = left.base.max(right.base);
    let plan = Plan::Join {
        left: Box::new(left.plan),
        right: Box::new(right.plan),
        kind,
        on,
        filter: None,
    };
    let mut exprs = Vec::new();
    let mut names_out: Vec<(Option<String>, String)> = Vec::new();
    for (n, (l, r)) in names.iter().zip(&pairs) {
        let (l, r) = (Expr::Column(*l), Expr::Column(nl + r));
        let merged = match kind {
            JoinKind::Right => r,
            JoinKind::Full => {
                let (lt, rt) = (l.data_type(&joined.schema)?, r.data_type(&joined.schema)?);
                let t = crate::expr::common_type(&lt, &rt).ok_or_else(|| {
                    SqlError::Plan(format!("USING ({n}): {lt} and {rt} have no common type"))
                })?;
                let cast = |x: Expr, xt: &arrow::datatypes::DataType| {
                    if *xt == t {
                        x
                    } else {
                        Expr::Cast(Box::new(x), t.clone())
                    }
                };
                Expr::Call(
                    crate::expr::Func::Coalesce,
                    vec![cast(l, &lt), cast(r, &rt)],
                )
            }
            _ => l,
        };
        exprs.push((merged, n.clone()));
        names_out.push((None, n.clone()));
    }
    let merged_cols: Vec<usize> = pairs.iter().flat_map(|(l, r)| [*l, nl + r]).collect();
    for (i, (q, n)) in joined.names.iter().enumerate() {
        exprs.push((Expr::Column(i), n.clone()));
        let q = if merged_cols.contains(&i) {
            Some(format!(
                "{}{}",
                q.clone().unwrap_or_default(),
                crate::bind::HIDDEN
            ))
        } else {
            q.clone()
        };
        names_out.push((q, n.clone()));
    }
    let plan = Plan::Project {
        input: Box::new(plan),
        exprs,
    };
    let mut scope = Scope::new(plan.schema(), None);
    scope.names = names_out;
    scope.hints = joined.hints.clone();
    Ok(Rel {
        plan,
        scope,
        rows,
        base,
    })
}

/// Joins two relations on the given conjuncts (equalities across the two become keys).
pub(super) fn join_rels(
    mut left: Rel,
    mut right: Rel,
    kind: JoinKind,
    cs: &[sql::Expr],
) -> Result<Rel> {
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
                && idents
                    .iter()
                    .all(|(q, n)| side.has(q.as_deref(), n) && !other.has(q.as_deref(), n))
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
        // A cross join, or a join on conditions with no equality (`a.x < b.y`): every
        // pair meets under one constant key and the conditions filter the pairs (a nested
        // loop join, as the answer is up to |left| x |right| rows anyway).
        let one = || {
            Expr::Literal(std::sync::Arc::new(arrow::array::Int64Array::from(vec![
                1i64,
            ])))
        };
        on.push((one(), one()));
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
    Ok(coerced(BinOp::Eq, l, &lt, r, &rt))
}

/// The operands of `l op r` (of types `lt`, `rt`) cast to the types `op` compares them at.
pub(super) fn coerced(
    op: BinOp,
    l: Expr,
    lt: &arrow::datatypes::DataType,
    r: Expr,
    rt: &arrow::datatypes::DataType,
) -> (Expr, Expr) {
    match coerce(op, lt, rt) {
        Some((a, b)) => (
            if a != *lt {
                Expr::Cast(Box::new(l), a)
            } else {
                l
            },
            if b != *rt {
                Expr::Cast(Box::new(r), b)
            } else {
                r
            },
        ),
        None => (l, r),
    }
}

/// Which relations a conjunct reads (by trying to bind it against each).
pub(super) fn rels_of(c: &sql::Expr, rels: &[Rel]) -> Vec<usize> {
    let mut idents = Vec::new();
    collect_idents(c, &mut idents);
    let mut out = Vec::new();
    for (q, n) in idents {
        for (i, r) in rels.iter().enumerate() {
            if r.scope.has(q.as_deref(), &n) && !out.contains(&i) {
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
pub(super) fn implied_filters(c: &sql::Expr, rels: &[Rel]) -> Vec<(usize, sql::Expr)> {
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

pub(super) fn is_equi(c: &sql::Expr) -> bool {
    matches!(
        c,
        sql::Expr::BinaryOp {
            op: sql::BinaryOperator::Eq,
            ..
        }
    )
}

/// FROM + WHERE: the joined, filtered relation.
pub(super) fn plan_from_where(
    s: &sql::Select,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<Rel> {
    if let Some(r) = super::join_chain::plan(s, tables, words)? {
        return Ok(r);
    }
    let rels = s
        .from
        .iter()
        .map(|t| from_item(t, tables, words))
        .collect::<Result<Vec<_>>>()?;
    let rels = if rels.is_empty() {
        // SELECT without FROM: one row of no columns.
        let schema = Arc::new(arrow::datatypes::Schema::empty());
        let row = arrow::record_batch::RecordBatch::try_new_with_options(
            schema.clone(),
            vec![],
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        let plan = Plan::Values {
            schema: schema.clone(),
            batches: vec![row],
        };
        vec![Rel {
            plan,
            scope: Scope::new(schema, None),
            rows: 1.0,
            base: 1.0,
        }]
    } else {
        rels
    };
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
    // Conditions with correlated subqueries elsewhere than at their top (`EXISTS (...) OR
    // b > c`): filters on the joined rows, with the subqueries joined in.
    let mut late = Vec::new();
    for c in cs {
        if is_semi(&c) {
            semi.push(c);
            continue;
        }
        if correlated_scalar(&c, tables, words).is_some() {
            scalar.push(c);
            continue;
        }
        if has_correlated_subquery(&c, tables, words) {
            late.push(c);
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
    for c in late {
        acc = filter_with_subqueries(acc, &c, tables, words)?;
    }
    Ok(acc)
}

/// Filters `acc` by a condition that may hold correlated subqueries anywhere (`EXISTS
/// (...) OR b > c`, `CASE WHEN (SELECT ...) > 1 ...`): each correlated `[NOT] EXISTS`
/// becomes a count compared with 0, each correlated scalar subquery a LEFT JOIN with the
/// subquery grouped by its correlation (`subquery::scalar_column`); the condition reads the
/// joined values, and the added columns are dropped again.
fn filter_with_subqueries(
    acc: Rel,
    c: &sql::Expr,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<Rel> {
    let mut c = c.clone();
    exists_as_count(&mut c, tables, words);
    let mut found = Vec::new();
    super::select::scalar_subqueries(&c, &mut found);
    let found: Vec<sql::Query> = found
        .into_iter()
        .filter(|q| is_correlated(q, tables, words))
        .cloned()
        .collect();
    let mut acc = acc;
    if found.is_empty() {
        let p = bind(&c, &acc.scope, None)?;
        acc.plan = Plan::Filter {
            input: Box::new(acc.plan),
            predicate: p,
        };
        return Ok(acc);
    }
    let outer_scope = acc.scope.clone();
    let n = outer_scope.names.len();
    let mut subs: Vec<(String, Expr)> = Vec::new();
    for q in &found {
        let text = sql::Expr::Subquery(Box::new(q.clone())).to_string();
        if subs.iter().any(|(t, _)| *t == text) {
            continue;
        }
        let (r, value) = super::subquery::scalar_column(acc, q, tables, words)?;
        acc = r;
        subs.push((text, value));
    }
    let hook = |e: &sql::Expr| {
        let t = e.to_string();
        subs.iter().find(|(s, _)| *s == t).map(|(_, v)| v.clone())
    };
    let p = bind(&c, &acc.scope, Some(&hook))?;
    let plan = Plan::Project {
        input: Box::new(Plan::Filter {
            input: Box::new(acc.plan),
            predicate: p,
        }),
        exprs: (0..n)
            .map(|i| (Expr::Column(i), outer_scope.names[i].1.clone()))
            .collect(),
    };
    Ok(Rel {
        plan,
        scope: outer_scope,
        rows: acc.rows,
        base: acc.base,
    })
}

/// Whether `c` holds a correlated subquery (scalar or EXISTS) below its top.
fn has_correlated_subquery(c: &sql::Expr, tables: &dyn Tables, words: &HashSet<String>) -> bool {
    let mut c = c.clone();
    exists_as_count(&mut c, tables, words);
    let mut found = Vec::new();
    super::select::scalar_subqueries(&c, &mut found);
    found.iter().any(|q| is_correlated(q, tables, words))
}

/// Rewrites each correlated `[NOT] EXISTS (SELECT ... FROM f WHERE w)` in `e` into
/// `(SELECT count(*) FROM f WHERE w) > 0` (`= 0`), which the scalar-subquery path
/// decorrelates anywhere in an expression.
fn exists_as_count(e: &mut sql::Expr, tables: &dyn Tables, words: &HashSet<String>) {
    if let sql::Expr::Exists { subquery, negated } = e
        && let sql::SetExpr::Select(s) = subquery.body.as_ref()
        && matches!(&s.group_by, sql::GroupByExpr::Expressions(v, _) if v.is_empty())
        && s.having.is_none()
        && subquery.limit_clause.is_none()
        && subquery.with.is_none()
        && is_correlated(subquery, tables, words)
    {
        let mut s2 = (**s).clone();
        s2.projection = vec![sql::SelectItem::UnnamedExpr(sql::Expr::Function(
            sql::Function {
                name: sql::ObjectName::from(vec![sql::Ident::new("count")]),
                uses_odbc_syntax: false,
                parameters: sql::FunctionArguments::None,
                args: sql::FunctionArguments::List(sql::FunctionArgumentList {
                    duplicate_treatment: None,
                    args: vec![sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard)],
                    clauses: vec![],
                }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: vec![],
            },
        ))];
        s2.distinct = None;
        let mut q2 = (**subquery).clone();
        *q2.body = sql::SetExpr::Select(Box::new(s2));
        q2.order_by = None;
        *e = sql::Expr::BinaryOp {
            left: Box::new(sql::Expr::Subquery(Box::new(q2))),
            op: if *negated {
                sql::BinaryOperator::Eq
            } else {
                sql::BinaryOperator::Gt
            },
            right: Box::new(sql::Expr::Value(
                sql::Value::Number("0".into(), false).into(),
            )),
        };
        return;
    }
    match e {
        sql::Expr::BinaryOp { left, right, .. } => {
            exists_as_count(left, tables, words);
            exists_as_count(right, tables, words);
        }
        sql::Expr::UnaryOp { expr, .. } | sql::Expr::Nested(expr) => {
            exists_as_count(expr, tables, words)
        }
        sql::Expr::Case {
            conditions,
            else_result,
            ..
        } => {
            for w in conditions {
                exists_as_count(&mut w.condition, tables, words);
                exists_as_count(&mut w.result, tables, words);
            }
            if let Some(x) = else_result {
                exists_as_count(x, tables, words);
            }
        }
        _ => {}
    }
}

//! Binding the holistic aggregates: ordered-set aggregates (`percentile_cont`,
//! `percentile_disc`, `mode` with `WITHIN GROUP (ORDER BY x)`, as in PostgreSQL and the SQL
//! standard), their DuckDB spellings (`median(x)`, `quantile_cont(x, f)`, `mode(x)`), and the
//! collecting aggregates `string_agg` / `array_agg` with an optional `ORDER BY` inside the
//! call. Their constant argument (a fraction, a separator) is folded at planning time.

use super::*;
use crate::plan::AggParam;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema};

/// Whether `name` (lower case) is bound here.
pub(super) fn is_holistic(name: &str) -> bool {
    matches!(
        name,
        "median"
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
    )
}

pub(super) fn agg_call(
    e: &sql::Expr,
    f: &sql::Function,
    name: &str,
    list: &sql::FunctionArgumentList,
    distinct: bool,
    scope: &Scope,
) -> Result<AggCall> {
    if f.null_treatment.is_some() || !matches!(f.parameters, sql::FunctionArguments::None) {
        return Err(SqlError::NotSupported(format!(
            "{e}: IGNORE/RESPECT NULLS or parameters in {name}"
        )));
    }
    let mut inner_order: &[sql::OrderByExpr] = &[];
    for c in &list.clauses {
        match c {
            sql::FunctionArgumentClause::OrderBy(o) => inner_order = o,
            other => {
                return Err(SqlError::NotSupported(format!(
                    "{e}: {other} inside {name} (ORDER BY is supported)"
                )));
            }
        }
    }
    let args = list
        .args
        .iter()
        .map(|a| match a {
            sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) => Ok(x),
            other => Err(SqlError::Plan(format!("{e}: unexpected argument {other}"))),
        })
        .collect::<Result<Vec<_>>>()?;
    let within = &f.within_group;
    let ordered_set = matches!(name, "percentile_cont" | "percentile_disc")
        || (name == "mode" && args.is_empty());
    let (func, arg, param, order) = if ordered_set {
        // `percentile_cont(f) WITHIN GROUP (ORDER BY x)`: the one sort key is the argument.
        let [key] = within.as_slice() else {
            return Err(SqlError::Plan(format!(
                "{e}: {name} needs WITHIN GROUP (ORDER BY x) with one sort key, e.g. \
                 percentile_cont(0.5) WITHIN GROUP (ORDER BY x)"
            )));
        };
        if !inner_order.is_empty() {
            return Err(SqlError::Plan(format!(
                "{e}: {name} takes its order from WITHIN GROUP, not from ORDER BY in the call"
            )));
        }
        let key = sort_key(key, scope)?;
        let (func, param) = match (name, args.as_slice()) {
            ("mode", []) => (AggFunc::Mode, None),
            ("percentile_cont", [x]) => (AggFunc::PercentileCont, Some(fraction(e, x, scope)?)),
            ("percentile_disc", [x]) => (AggFunc::PercentileDisc, Some(fraction(e, x, scope)?)),
            _ => {
                return Err(SqlError::Plan(format!(
                    "{e}: {name} takes one fraction argument, e.g. {name}(0.9)"
                )));
            }
        };
        (func, Some(key.expr.clone()), param, vec![key])
    } else {
        if !within.is_empty() && !matches!(name, "listagg" | "string_agg" | "array_agg") {
            return Err(SqlError::Plan(format!(
                "{e}: WITHIN GROUP applies to percentile_cont, percentile_disc, mode and listagg"
            )));
        }
        let order = within
            .iter()
            .chain(inner_order)
            .map(|o| sort_key(o, scope))
            .collect::<Result<Vec<_>>>()?;
        let x = |i: usize| -> Result<crate::expr::Expr> { bind(args[i], scope, None) };
        match (name, args.len()) {
            ("median", 1) => (AggFunc::Median, Some(x(0)?), None, order),
            ("quantile_cont", 2) => (
                AggFunc::PercentileCont,
                Some(x(0)?),
                Some(fraction(e, args[1], scope)?),
                order,
            ),
            ("quantile_disc" | "quantile", 2) => (
                AggFunc::PercentileDisc,
                Some(x(0)?),
                Some(fraction(e, args[1], scope)?),
                order,
            ),
            ("mode", 1) => (AggFunc::Mode, Some(x(0)?), None, order),
            ("string_agg" | "group_concat" | "listagg", 1 | 2) => {
                // DuckDB's and SQLite's default separator is a comma.
                let sep = match args.get(1) {
                    Some(s) => separator(e, s, scope)?,
                    None => ",".to_string(),
                };
                let a = x(0)?;
                (
                    AggFunc::StringAgg,
                    Some(a),
                    Some(AggParam::Separator(sep)),
                    order,
                )
            }
            ("array_agg", 1) => (AggFunc::ArrayAgg, Some(x(0)?), None, order),
            ("arg_max" | "max_by" | "arg_min" | "min_by", 2) if order.is_empty() => {
                // The row whose y is first in the order; then the least x among ties.
                let max = matches!(name, "arg_max" | "max_by");
                let (a, y) = (x(0)?, x(1)?);
                let order = vec![
                    SortKey {
                        expr: y,
                        asc: !max,
                        nulls_first: false,
                    },
                    SortKey {
                        expr: a.clone(),
                        asc: true,
                        nulls_first: false,
                    },
                ];
                let func = if max {
                    AggFunc::ArgMax
                } else {
                    AggFunc::ArgMin
                };
                (func, Some(a), None, order)
            }
            _ => {
                return Err(SqlError::Plan(format!(
                    "{e}: wrong number of arguments for {name}"
                )));
            }
        }
    };
    if let Some(a) = &arg {
        let t = a.data_type(&scope.schema)?;
        if matches!(func, AggFunc::Median | AggFunc::PercentileCont)
            && !(t.is_numeric() || t.is_null())
        {
            return Err(SqlError::Plan(format!(
                "type error in {e}: {name} interpolates numbers, got {t} \
                 (percentile_disc / quantile_disc picks a value of any type)"
            )));
        }
    }
    if distinct && matches!(func, AggFunc::StringAgg | AggFunc::ArrayAgg) {
        // PostgreSQL: with DISTINCT the order can only be by the argument itself.
        let same = order
            .iter()
            .all(|k| Some(k.expr.to_string()) == arg.as_ref().map(|a| a.to_string()));
        if !same {
            return Err(SqlError::Plan(format!(
                "{e}: with DISTINCT, ORDER BY in {name} must order by the argument itself"
            )));
        }
    } else if distinct {
        return Err(SqlError::NotSupported(format!("{e}: DISTINCT in {name}")));
    }
    let mut filter = f
        .filter
        .as_ref()
        .map(|c| bind(c, scope, None))
        .transpose()?;
    if matches!(func, AggFunc::ArgMax | AggFunc::ArgMin) {
        // Rows without a y are skipped.
        let has_y = crate::expr::Expr::IsNull(Box::new(order[0].expr.clone()), true);
        filter = Some(match filter {
            Some(c) => {
                crate::expr::Expr::Binary(Box::new(c), crate::expr::BinOp::And, Box::new(has_y))
            }
            None => has_y,
        });
    }
    Ok(AggCall {
        func,
        arg,
        distinct,
        order,
        param,
        filter,
    })
}

fn sort_key(o: &sql::OrderByExpr, scope: &Scope) -> Result<SortKey> {
    let asc = !matches!(o.options.sort, Some(sql::OrderBySort::Desc));
    Ok(SortKey {
        expr: bind(&o.expr, scope, None)?,
        asc,
        nulls_first: o.options.nulls_first.unwrap_or(!asc),
    })
}

/// A constant argument's value as one row (an error naming `what` if it reads a column).
fn constant(e: &sql::Expr, x: &sql::Expr, scope: &Scope, what: &str) -> Result<ArrayRef> {
    let empty = Schema::empty();
    let bound = bind(x, scope, None)?;
    let mut cols = Vec::new();
    bound.columns(&mut cols);
    if !cols.is_empty() {
        return Err(SqlError::Plan(format!(
            "{e}: the {what} must be a constant, got {x}"
        )));
    }
    let batch = RecordBatch::try_new_with_options(
        Arc::new(empty),
        vec![],
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    bound.eval(&batch)?.into_array(1)
}

fn fraction(e: &sql::Expr, x: &sql::Expr, scope: &Scope) -> Result<AggParam> {
    let v = constant(e, x, scope, "fraction")?;
    let v = arrow::compute::cast(&v, &DataType::Float64)
        .map_err(|_| SqlError::Plan(format!("{e}: the fraction must be a number, got {x}")))?;
    let v = v.as_primitive::<arrow::datatypes::Float64Type>();
    if v.is_null(0) || !(0.0..=1.0).contains(&v.value(0)) {
        return Err(SqlError::Plan(format!(
            "{e}: the fraction must be between 0 and 1, got {x}"
        )));
    }
    Ok(AggParam::Fraction(v.value(0)))
}

fn separator(e: &sql::Expr, x: &sql::Expr, scope: &Scope) -> Result<String> {
    let v = constant(e, x, scope, "separator")?;
    let v = arrow::compute::cast(&v, &DataType::Utf8)?;
    let v = v.as_string::<i32>();
    // A NULL separator joins with nothing (PostgreSQL).
    Ok(if v.is_null(0) {
        String::new()
    } else {
        v.value(0).to_string()
    })
}

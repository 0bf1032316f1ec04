//! Window functions in the SELECT list (`rank() OVER (PARTITION BY a ORDER BY b)`).
//!
//! They run after WHERE, GROUP BY and HAVING: the calls are bound against the scope at that
//! point (aggregates included, through the hook), a [`Plan::Window`] appends one column per
//! call, and the projection then refers to those columns by the call's SQL text.

use crate::bind::{Hook, Scope, bind};
use crate::error::{Result, SqlError};
use crate::expr::Expr;
use crate::plan::{AggFunc, Frame, Plan, SortKey, WindowCall, WindowFunc};
use sqlparser::ast as sql;

/// Window calls in `e`, by SQL text, not repeating one already in `out`.
pub fn collect(e: &sql::Expr, out: &mut Vec<sql::Expr>) {
    if let sql::Expr::Function(f) = e
        && f.over.is_some()
    {
        if !out.iter().any(|x| x.to_string() == e.to_string()) {
            out.push(e.clone());
        }
        return;
    }
    // Anywhere in the expression (`lag(x) OVER (..) IS NULL`, `round(avg(x) OVER (), 2)`),
    // not inside subqueries.
    for c in super::conditions::children(e) {
        collect(c, out);
    }
}

/// Binds one window call.
pub fn call(e: &sql::Expr, scope: &Scope, hook: Option<Hook>) -> Result<WindowCall> {
    let sql::Expr::Function(f) = e else {
        return Err(SqlError::Internal("not a window call".into()));
    };
    let Some(sql::WindowType::WindowSpec(spec)) = &f.over else {
        return Err(SqlError::NotSupported(format!("{e}: named windows")));
    };
    let frame = frame(e, spec, scope, hook)?;
    let name = f.name.to_string().to_lowercase();
    let mut args = Vec::new();
    let mut star = false;
    if let sql::FunctionArguments::List(list) = &f.args {
        if list.duplicate_treatment.is_some() {
            return Err(SqlError::NotSupported(format!("{e}: DISTINCT in a window")));
        }
        for a in &list.args {
            match a {
                sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) => {
                    args.push(bind(x, scope, hook)?)
                }
                sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard) => star = true,
                other => return Err(SqlError::Plan(format!("{e}: bad argument {other}"))),
            }
        }
    }
    if !f.within_group.is_empty() || f.null_treatment.is_some() {
        return Err(SqlError::NotSupported(format!(
            "{e}: WITHIN GROUP / IGNORE NULLS in a window"
        )));
    }
    // `agg(x) FILTER (WHERE c) OVER (...)`: the aggregate of `CASE WHEN c THEN x END`.
    if let Some(c) = &f.filter {
        if !matches!(name.as_str(), "sum" | "count" | "avg" | "min" | "max") {
            return Err(SqlError::Plan(format!(
                "{e}: FILTER applies to aggregates only"
            )));
        }
        let c = bind(c, scope, hook)?;
        let x = if star {
            star = false;
            crate::expr::Expr::Literal(std::sync::Arc::new(arrow::array::Int64Array::from(vec![
                1i64,
            ])))
        } else {
            args.pop()
                .ok_or_else(|| SqlError::Plan(format!("{e}: expected one argument")))?
        };
        args.push(crate::expr::Expr::Case(vec![(c, x)], None));
    }
    let func = match (name.as_str(), args.len(), star) {
        ("row_number", 0, false) => WindowFunc::RowNumber,
        ("rank", 0, false) => WindowFunc::Rank,
        ("dense_rank", 0, false) => WindowFunc::DenseRank,
        ("lag", 1..=3, false) => WindowFunc::Lag,
        ("lead", 1..=3, false) => WindowFunc::Lead,
        ("ntile", 1, false) => WindowFunc::Ntile,
        ("percent_rank", 0, false) => WindowFunc::PercentRank,
        ("cume_dist", 0, false) => WindowFunc::CumeDist,
        ("first_value", 1, false) => WindowFunc::FirstValue,
        ("last_value", 1, false) => WindowFunc::LastValue,
        ("nth_value", 2, false) => WindowFunc::NthValue,
        ("count", 0, true) => WindowFunc::Agg(AggFunc::CountStar),
        ("count", 1, false) => WindowFunc::Agg(AggFunc::Count),
        ("sum", 1, false) => WindowFunc::Agg(AggFunc::Sum),
        ("avg", 1, false) => WindowFunc::Agg(AggFunc::Avg),
        ("min", 1, false) => WindowFunc::Agg(AggFunc::Min),
        ("max", 1, false) => WindowFunc::Agg(AggFunc::Max),
        (
            "row_number" | "rank" | "dense_rank" | "lag" | "lead" | "count" | "sum" | "avg" | "min"
            | "max" | "ntile" | "percent_rank" | "cume_dist" | "first_value" | "last_value"
            | "nth_value",
            ..,
        ) => {
            return Err(SqlError::Plan(format!(
                "{e}: wrong number of arguments for {name}"
            )));
        }
        _ => {
            return Err(SqlError::NotSupported(format!(
                "window function {name} (supported: row_number, rank, dense_rank, ntile, \
                 percent_rank, cume_dist, lag, lead, first_value, last_value, nth_value, \
                 count, sum, avg, min, max)"
            )));
        }
    };
    if matches!(func, WindowFunc::Lag | WindowFunc::Lead)
        && args[1..].iter().any(|a| !matches!(a, Expr::Literal(_)))
    {
        return Err(SqlError::Plan(format!(
            "{e}: the offset and default of {name} must be constants"
        )));
    }
    // ntile's bucket count and nth_value's position: positive integer constants.
    let count_arg = match func {
        WindowFunc::Ntile => args.first(),
        WindowFunc::NthValue => args.get(1),
        _ => None,
    };
    if let Some(a) = count_arg {
        let ok = match a {
            Expr::Literal(v) if v.data_type().is_integer() => {
                let v = arrow::compute::cast(v, &arrow::datatypes::DataType::Int64)?;
                use arrow::array::{Array, AsArray};
                let v = v.as_primitive::<arrow::datatypes::Int64Type>();
                !v.is_null(0) && v.value(0) > 0
            }
            _ => false,
        };
        if !ok {
            return Err(SqlError::Plan(format!(
                "{e}: the argument of {name} that counts must be a positive integer constant"
            )));
        }
    }
    let partition_by = spec
        .partition_by
        .iter()
        .map(|p| bind(p, scope, hook))
        .collect::<Result<Vec<_>>>()?;
    let order_by = spec
        .order_by
        .iter()
        .map(|o| {
            let asc = !matches!(o.options.sort, Some(sql::OrderBySort::Desc));
            Ok(SortKey {
                expr: bind(&o.expr, scope, hook)?,
                asc,
                nulls_first: o.options.nulls_first.unwrap_or(!asc),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(WindowCall {
        func,
        args,
        partition_by,
        order_by,
        frame,
    })
}

/// The frame a window spec asks for: `ROWS` with any bounds, `RANGE` with any bounds over
/// one ORDER BY key (offsets become bound expressions over the key, see [`range`]).
fn frame(
    e: &sql::Expr,
    spec: &sql::WindowSpec,
    scope: &Scope,
    hook: Option<Hook>,
) -> Result<Frame> {
    let Some(f) = &spec.window_frame else {
        return Ok(if spec.order_by.is_empty() {
            Frame::Partition
        } else {
            Frame::Peers
        });
    };
    use sql::WindowFrameBound as B;
    let end = f.end_bound.as_ref().unwrap_or(&B::CurrentRow);
    match (&f.start_bound, end, &f.units) {
        (B::Preceding(None), B::Following(None), _) => Ok(Frame::Partition),
        (B::Preceding(None), B::CurrentRow, sql::WindowFrameUnits::Rows) => Ok(Frame::Rows),
        (B::Preceding(None), B::CurrentRow, sql::WindowFrameUnits::Range) => Ok(Frame::Peers),
        (start, end, units @ (sql::WindowFrameUnits::Rows | sql::WindowFrameUnits::Groups)) => {
            let offset = |b: &B| -> Result<Option<i64>> {
                let n = |x: &Option<Box<sql::Expr>>| -> Result<i64> {
                    let text = x.as_ref().map(|x| x.to_string()).unwrap_or_default();
                    text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                        SqlError::Plan(format!(
                            "{e}: a ROWS or GROUPS frame offset must be a non-negative \
                             integer, got {text}"
                        ))
                    })
                };
                Ok(match b {
                    B::CurrentRow => Some(0),
                    B::Preceding(None) | B::Following(None) => None,
                    B::Preceding(x) => Some(-n(x)?),
                    B::Following(x) => Some(n(x)?),
                })
            };
            if matches!(start, B::Following(None)) || matches!(end, B::Preceding(None)) {
                return Err(SqlError::Plan(format!(
                    "{e}: a frame cannot start at UNBOUNDED FOLLOWING or end at UNBOUNDED \
                     PRECEDING"
                )));
            }
            let (start, end) = (offset(start)?, offset(end)?);
            if *units == sql::WindowFrameUnits::Rows {
                return Ok(Frame::Between { start, end });
            }
            if spec.order_by.is_empty() {
                return Err(SqlError::Plan(format!(
                    "{e}: a GROUPS frame needs ORDER BY"
                )));
            }
            Ok(Frame::Groups { start, end })
        }
        (start, end, sql::WindowFrameUnits::Range) => range(e, spec, start, end, scope, hook),
    }
}

/// `RANGE BETWEEN a AND b` with an offset or CURRENT ROW on either side: each bound is
/// an expression over the single ORDER BY key, the key value at the frame's edge for the
/// current row (`key - n` for `n PRECEDING` ascending, `key + n` descending; the key
/// itself for CURRENT ROW, which takes in its peers). The executor finds the edges by
/// binary search in the sorted partition. Offsets are non-negative constants: numbers over
/// a numeric key, intervals over a date or timestamp key.
fn range(
    e: &sql::Expr,
    spec: &sql::WindowSpec,
    start: &sql::WindowFrameBound,
    end: &sql::WindowFrameBound,
    scope: &Scope,
    hook: Option<Hook>,
) -> Result<Frame> {
    use sql::WindowFrameBound as B;
    if matches!(start, B::Following(None)) || matches!(end, B::Preceding(None)) {
        return Err(SqlError::Plan(format!(
            "{e}: a frame cannot start at UNBOUNDED FOLLOWING or end at UNBOUNDED PRECEDING"
        )));
    }
    let offset = |b: &B| matches!(b, B::Preceding(Some(_)) | B::Following(Some(_)));
    if spec.order_by.is_empty() && !offset(start) && !offset(end) {
        // Without ORDER BY every row is the current row's peer.
        return Ok(Frame::Partition);
    }
    let [key] = spec.order_by.as_slice() else {
        return Err(SqlError::Plan(format!(
            "{e}: a RANGE frame with an offset needs exactly one ORDER BY key, got {} \
             (use ROWS, or order by one column)",
            spec.order_by.len()
        )));
    };
    let desc = matches!(key.options.sort, Some(sql::OrderBySort::Desc));
    let bound = |b: &B, preceding: bool| -> Result<Option<Expr>> {
        let x = match b {
            B::Preceding(None) | B::Following(None) => return Ok(None),
            B::CurrentRow => return Ok(Some(bind(&key.expr, scope, hook)?)),
            B::Preceding(Some(x)) | B::Following(Some(x)) => x,
        };
        let offset = bind(x, scope, hook)?;
        let Expr::Literal(v) = &offset else {
            return Err(SqlError::Plan(format!(
                "{e}: a RANGE offset must be a constant, got {x}"
            )));
        };
        let negative = match v.data_type() {
            t if t.is_numeric() => {
                let f = arrow::compute::cast(v, &arrow::datatypes::DataType::Float64)?;
                use arrow::array::{Array, AsArray};
                let f = f.as_primitive::<arrow::datatypes::Float64Type>();
                Array::is_null(f, 0) || f.value(0) < 0.0
            }
            arrow::datatypes::DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano) => {
                use arrow::array::AsArray;
                let i = v
                    .as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>()
                    .value(0);
                i.months < 0 || i.days < 0 || i.nanoseconds < 0
            }
            _ => false,
        };
        if negative {
            return Err(SqlError::Plan(format!(
                "{e}: a RANGE offset must be a non-negative constant, got {x}"
            )));
        }
        // Preceding an ascending key is below it; preceding a descending key, above.
        let op = if preceding != desc {
            sql::BinaryOperator::Minus
        } else {
            sql::BinaryOperator::Plus
        };
        let edge = sql::Expr::BinaryOp {
            left: Box::new(sql::Expr::Nested(Box::new(key.expr.clone()))),
            op,
            right: Box::new(sql::Expr::Nested(x.clone())),
        };
        bind(&edge, scope, hook).map(Some).map_err(|err| {
            SqlError::Plan(format!(
                "{e}: a RANGE offset must fit the ORDER BY key's type (a number for a \
                 numeric key, an INTERVAL for a date or timestamp): {err}"
            ))
        })
    };
    let start = bound(start, matches!(start, B::Preceding(_)))?;
    let end = bound(end, matches!(end, B::Preceding(_)))?;
    Ok(Frame::Range {
        start: start.map(Box::new),
        end: end.map(Box::new),
    })
}

/// Adds a [`Plan::Window`] for `calls` over `plan`: the new plan, its scope, and the SQL
/// text of each call (its column is `scope.names.len()` + position before the call).
pub fn add(
    plan: Plan,
    scope: &Scope,
    hook: Option<Hook>,
    calls: &[sql::Expr],
) -> Result<(Plan, Scope)> {
    let funcs = calls
        .iter()
        .map(|c| Ok((call(c, scope, hook)?, c.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let plan = Plan::Window {
        input: Box::new(plan),
        funcs,
    };
    let mut names = scope.names.clone();
    names.extend(calls.iter().map(|c| (None, c.to_string())));
    let scope = Scope {
        names,
        schema: plan.schema(),
        hints: scope.hints.clone(),
    };
    Ok((plan, scope))
}

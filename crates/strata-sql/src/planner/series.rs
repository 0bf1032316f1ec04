//! Series table functions in FROM: PostgreSQL's `generate_series(start, stop [, step])`
//! (the stop included) and DuckDB's `range(stop)` / `range(start, stop [, step])` (the stop
//! excluded), over integers, or over dates and timestamps with an INTERVAL step (a date
//! spine: `generate_series(DATE '2024-01-01', DATE '2024-12-31', INTERVAL 1 DAY)`, which
//! gives timestamps, as both PostgreSQL and DuckDB do). Arguments are constants; the rows
//! are made at planning time, in batches, up to [`MAX_ROWS`].

use super::*;
use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{
    DataType, Field, Int64Type, IntervalMonthDayNanoType, Schema, TimeUnit,
    TimestampMicrosecondType,
};
use chrono::Months;

/// The most rows a series may have.
pub const MAX_ROWS: u64 = 100_000_000;

const BATCH: usize = 65_536;

/// Whether `name` (lower case) is a series function.
pub(super) fn is_series(name: &str) -> bool {
    matches!(name, "generate_series" | "range")
}

pub(super) fn relation(
    name: &str,
    args: &sql::TableFunctionArgs,
    alias: Option<&sql::TableAlias>,
) -> Result<Rel> {
    let call = || {
        let a: Vec<String> = args.args.iter().map(|a| a.to_string()).collect();
        format!("{name}({})", a.join(", "))
    };
    let empty = Scope::new(Arc::new(Schema::empty()), None);
    let vals = args
        .args
        .iter()
        .map(|a| match a {
            sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) => {
                match bind(x, &empty, None).and_then(Expr::fold) {
                    Ok(Expr::Literal(v)) => Ok(v),
                    _ => Err(SqlError::Plan(format!(
                        "{}: the arguments must be constants, got {x}",
                        call()
                    ))),
                }
            }
            other => Err(SqlError::Plan(format!("{}: bad argument {other}", call()))),
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    let inclusive = name == "generate_series";
    let (values, ty) = match vals.as_slice() {
        [stop] if !inclusive => (ints(&call(), 0, int(stop)?, 1, false)?, DataType::Int64),
        [a, b] if is_int(a) && is_int(b) => (
            ints(&call(), int(a)?, int(b)?, 1, inclusive)?,
            DataType::Int64,
        ),
        [a, b, c] if is_int(a) && is_int(b) && is_int(c) => (
            ints(&call(), int(a)?, int(b)?, int(c)?, inclusive)?,
            DataType::Int64,
        ),
        [a, b, c] if matches!(c.data_type(), DataType::Interval(_)) => (
            times(&call(), a, b, c, inclusive)?,
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ),
        _ => {
            return Err(SqlError::Plan(format!(
                "{}: expected ({}start, stop [, step]) over integers, or (start, stop, \
                 INTERVAL step) over dates or timestamps",
                call(),
                if inclusive { "" } else { "[start,] " }
            )));
        }
    };
    let schema = Arc::new(Schema::new(vec![Field::new(name, ty, false)]));
    let batches = values
        .into_iter()
        .map(|c| Ok(RecordBatch::try_new(schema.clone(), vec![c])?))
        .collect::<Result<Vec<_>>>()?;
    let rows = batches.iter().map(RecordBatch::num_rows).sum::<usize>() as f64;
    let plan = Plan::Values {
        schema: schema.clone(),
        batches,
    };
    let q = alias
        .map(|a| a.name.value.clone())
        .unwrap_or(name.to_string());
    let mut scope = Scope::new(schema, Some(&q));
    if let Some(a) = alias {
        from::rename(&mut scope, a.columns.iter().map(|c| c.name.value.as_str()));
    }
    Ok(Rel {
        plan,
        scope,
        rows,
        base: rows,
    })
}

fn is_int(a: &ArrayRef) -> bool {
    a.data_type().is_integer()
}

fn int(a: &ArrayRef) -> Result<i64> {
    let c = arrow::compute::cast(a, &DataType::Int64)?;
    let c = c.as_primitive::<Int64Type>();
    if c.is_null(0) {
        return Err(SqlError::Plan("a series bound or step is NULL".into()));
    }
    Ok(c.value(0))
}

fn too_many(call: &str, n: u64) -> SqlError {
    SqlError::Plan(format!(
        "{call} would make {n} rows; a series holds at most {MAX_ROWS}"
    ))
}

fn ints(call: &str, start: i64, stop: i64, step: i64, inclusive: bool) -> Result<Vec<ArrayRef>> {
    if step == 0 {
        return Err(SqlError::Plan(format!("{call}: the step must not be zero")));
    }
    // Rows: how many start + k * step lie before (or at) stop.
    let span = i128::from(stop) - i128::from(start);
    let n = if span == 0 {
        u64::from(inclusive)
    } else if (span > 0) != (step > 0) {
        0
    } else {
        let (span, step) = (span.unsigned_abs(), i128::from(step).unsigned_abs());
        let full = span / step;
        let exact = span % step == 0;
        (full + u128::from(!exact || inclusive)) as u64
    };
    if n > MAX_ROWS {
        return Err(too_many(call, n));
    }
    let mut out = Vec::new();
    let mut k = 0u64;
    while k < n {
        let m = (n - k).min(BATCH as u64);
        let v: Int64Array = (k..k + m)
            .map(|i| start + i as i64 * step)
            .collect::<Vec<_>>()
            .into();
        out.push(Arc::new(v) as ArrayRef);
        k += m;
    }
    Ok(out)
}

fn times(
    call: &str,
    a: &ArrayRef,
    b: &ArrayRef,
    step: &ArrayRef,
    inclusive: bool,
) -> Result<Vec<ArrayRef>> {
    let ts = |x: &ArrayRef| -> Result<i64> {
        let c = arrow::compute::cast(x, &DataType::Timestamp(TimeUnit::Microsecond, None))
            .map_err(|_| {
                SqlError::Plan(format!(
                    "{call}: {} is not a date or timestamp",
                    x.data_type()
                ))
            })?;
        let c = c.as_primitive::<TimestampMicrosecondType>();
        if c.is_null(0) {
            return Err(SqlError::Plan(format!("{call}: a bound is NULL")));
        }
        Ok(c.value(0))
    };
    let (start, stop) = (ts(a)?, ts(b)?);
    let iv = arrow::compute::cast(
        step,
        &DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano),
    )?;
    let iv = iv.as_primitive::<IntervalMonthDayNanoType>().value(0);
    let micros = i64::from(iv.days) * 86_400_000_000 + iv.nanoseconds / 1_000;
    let forward = iv.months > 0 || (iv.months == 0 && micros > 0);
    let opposite = iv.months != 0 && micros != 0 && (iv.months > 0) != (micros > 0);
    if (iv.months == 0 && micros == 0) || opposite {
        return Err(SqlError::Plan(format!(
            "{call}: the step must move one way and not be zero"
        )));
    }
    // Each value is the one before plus the step (PostgreSQL: Jan 30, Feb 29, Mar 29).
    let next = |t: i64| -> Option<i64> {
        let base = chrono::DateTime::from_timestamp_micros(t)?.naive_utc();
        let moved = if iv.months >= 0 {
            base.checked_add_months(Months::new(iv.months.unsigned_abs()))?
        } else {
            base.checked_sub_months(Months::new(iv.months.unsigned_abs()))?
        };
        moved.and_utc().timestamp_micros().checked_add(micros)
    };
    let mut out = Vec::new();
    let mut cur = Vec::with_capacity(BATCH);
    let mut k = 0u32;
    let mut at = Some(start);
    while let Some(t) = at {
        let before = if forward {
            t < stop || (inclusive && t == stop)
        } else {
            t > stop || (inclusive && t == stop)
        };
        if !before {
            break;
        }
        cur.push(t);
        at = next(t);
        k = k.checked_add(1).ok_or_else(|| too_many(call, u64::MAX))?;
        if u64::from(k) > MAX_ROWS {
            return Err(too_many(call, u64::from(k)));
        }
        if cur.len() == BATCH {
            out.push(
                Arc::new(TimestampMicrosecondArray::from(std::mem::take(&mut cur))) as ArrayRef,
            );
        }
    }
    if !cur.is_empty() {
        out.push(Arc::new(TimestampMicrosecondArray::from(cur)) as ArrayRef);
    }
    Ok(out)
}

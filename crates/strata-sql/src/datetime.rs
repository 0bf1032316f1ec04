//! Date and time functions: `EXTRACT(field FROM x)` / `date_part('field', x)` and
//! `date_trunc('unit', x)`, over DATE and TIMESTAMP columns.
//!
//! Fields follow PostgreSQL: `dow` counts from Sunday = 0, `week` is the ISO week, `second`
//! is whole seconds. `date_trunc` keeps its input's type (a DATE stays a DATE).

use crate::error::{Result, SqlError};
use arrow::array::{Array, ArrayRef, Date32Array, Int64Array};
use arrow::compute::kernels::temporal::DatePart;
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use sqlparser::ast as sql;
use std::sync::Arc;

/// A field of a date or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TimePart {
    /// year
    Year,
    /// quarter (1-4)
    Quarter,
    /// month (1-12)
    Month,
    /// ISO week (1-53)
    Week,
    /// day of the month
    Day,
    /// hour
    Hour,
    /// minute
    Minute,
    /// whole seconds
    Second,
    /// day of the week, Sunday = 0
    DayOfWeek,
    /// day of the year (1-366)
    DayOfYear,
}

const NAMES: &str = "year, quarter, month, week, day, hour, minute, second, dow, doy";

impl TimePart {
    /// From a name as `date_part` and `date_trunc` take it (`'month'`, `'days'`, `'dow'`).
    pub fn parse(name: &str) -> Result<TimePart> {
        let n = name.trim().to_lowercase();
        Ok(match n.trim_end_matches('s') {
            "year" | "yy" | "yyyy" => TimePart::Year,
            "quarter" => TimePart::Quarter,
            "month" | "mon" => TimePart::Month,
            "week" => TimePart::Week,
            "day" | "d" => TimePart::Day,
            "hour" | "h" => TimePart::Hour,
            "minute" | "min" => TimePart::Minute,
            "second" | "sec" => TimePart::Second,
            "dow" | "dayofweek" => TimePart::DayOfWeek,
            "doy" | "dayofyear" => TimePart::DayOfYear,
            _ => {
                return Err(SqlError::Plan(format!(
                    "unknown date part '{name}'; use one of {NAMES}"
                )));
            }
        })
    }

    /// From an `EXTRACT` field.
    pub fn from_field(f: &sql::DateTimeField) -> Result<TimePart> {
        TimePart::parse(&f.to_string())
    }
}

/// `EXTRACT(part FROM a)`: a BIGINT per row.
pub fn date_part(a: &ArrayRef, part: TimePart) -> Result<ArrayRef> {
    let p = match part {
        TimePart::Year => DatePart::Year,
        TimePart::Quarter => DatePart::Quarter,
        TimePart::Month => DatePart::Month,
        TimePart::Week => DatePart::WeekISO,
        TimePart::Day => DatePart::Day,
        TimePart::Hour => DatePart::Hour,
        TimePart::Minute => DatePart::Minute,
        TimePart::Second => DatePart::Second,
        TimePart::DayOfWeek => DatePart::DayOfWeekSunday0,
        TimePart::DayOfYear => DatePart::DayOfYear,
    };
    let v = arrow::compute::kernels::temporal::date_part(a, p).map_err(|e| {
        SqlError::Plan(format!(
            "EXTRACT({part:?}) of a {} value: {e}",
            a.data_type()
        ))
    })?;
    Ok(arrow::compute::cast(&v, &DataType::Int64)?)
}

/// 1970-01-01 as days from 0001-01-01 (chrono's `num_days_from_ce`).
const EPOCH_CE_DAYS: i32 = 719_163;

fn trunc_date(d: NaiveDate, part: TimePart) -> Result<NaiveDate> {
    let first = |y, m| NaiveDate::from_ymd_opt(y, m, 1).expect("a valid first day");
    Ok(match part {
        TimePart::Year => first(d.year(), 1),
        TimePart::Quarter => first(d.year(), (d.month0() / 3) * 3 + 1),
        TimePart::Month => first(d.year(), d.month()),
        TimePart::Week => d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64),
        TimePart::Day | TimePart::Hour | TimePart::Minute | TimePart::Second => d,
        TimePart::DayOfWeek | TimePart::DayOfYear => {
            return Err(SqlError::Plan(format!(
                "date_trunc cannot truncate to {part:?}; use year, quarter, month, week, day, hour, minute or second"
            )));
        }
    })
}

fn trunc_datetime(t: NaiveDateTime, part: TimePart) -> Result<NaiveDateTime> {
    let day = trunc_date(t.date(), part)?;
    let (h, m, s) = (t.hour(), t.minute(), t.second());
    let time = match part {
        TimePart::Hour => (h, 0, 0),
        TimePart::Minute => (h, m, 0),
        TimePart::Second => (h, m, s),
        _ => (0, 0, 0),
    };
    Ok(day
        .and_hms_opt(time.0, time.1, time.2)
        .expect("a valid time of day"))
}

/// `date_trunc(part, a)`: each value moved back to the start of its `part`.
pub fn date_trunc(a: &ArrayRef, part: TimePart) -> Result<ArrayRef> {
    match a.data_type() {
        DataType::Date32 => {
            let d = a
                .as_any()
                .downcast_ref::<Date32Array>()
                .ok_or_else(|| SqlError::Internal("a DATE array".into()))?;
            let mut out = Vec::with_capacity(d.len());
            for v in d.iter() {
                out.push(match v {
                    None => None,
                    Some(days) => {
                        let date = NaiveDate::from_num_days_from_ce_opt(days + EPOCH_CE_DAYS)
                            .ok_or_else(|| {
                                SqlError::Execution(format!("date out of range: {days}"))
                            })?;
                        Some(trunc_date(date, part)?.num_days_from_ce() - EPOCH_CE_DAYS)
                    }
                });
            }
            Ok(Arc::new(Date32Array::from(out)))
        }
        DataType::Timestamp(unit, tz) => {
            let micros =
                arrow::compute::cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let micros = arrow::compute::cast(&micros, &DataType::Int64)?;
            let m = micros
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| SqlError::Internal("an integer array".into()))?;
            let mut out = Vec::with_capacity(m.len());
            for v in m.iter() {
                out.push(match v {
                    None => None,
                    Some(us) => {
                        let t = chrono::DateTime::from_timestamp_micros(us)
                            .ok_or_else(|| {
                                SqlError::Execution(format!("timestamp out of range: {us}"))
                            })?
                            .naive_utc();
                        Some(trunc_datetime(t, part)?.and_utc().timestamp_micros())
                    }
                });
            }
            let back: ArrayRef = Arc::new(
                arrow::array::TimestampMicrosecondArray::from(out).with_timezone_opt(tz.clone()),
            );
            Ok(arrow::compute::cast(
                &back,
                &DataType::Timestamp(*unit, tz.clone()),
            )?)
        }
        other => Err(SqlError::Plan(format!(
            "date_trunc needs a DATE or TIMESTAMP, got {other}"
        ))),
    }
}

/// A date part named by a constant string argument (`date_part('month', d)`).
pub fn part_arg(e: &crate::expr::Expr, func: &str) -> Result<TimePart> {
    match e {
        crate::expr::Expr::Literal(a) if a.data_type() == &DataType::Utf8 && !a.is_null(0) => {
            TimePart::parse(&arrow::util::display::array_value_to_string(a, 0)?)
        }
        _ => Err(SqlError::Plan(format!(
            "{func}: the first argument must be a constant such as 'month' ({NAMES})"
        ))),
    }
}

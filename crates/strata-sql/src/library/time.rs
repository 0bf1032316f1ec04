//! Date and time functions: the current time, differences in calendar units (DuckDB's
//! `date_diff`: the number of unit boundaries crossed), construction, month ends, names,
//! epochs, and PostgreSQL's `to_char` patterns.

use super::LibFn::{self, *};
use crate::datetime::TimePart;
use crate::error::{Result, SqlError};
use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use std::sync::Arc;

const DAY_US: i64 = 86_400_000_000;

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")
}

/// A DATE or TIMESTAMP column as date-times (a date at midnight).
fn times(a: &ArrayRef) -> Result<Vec<Option<NaiveDateTime>>> {
    let us = arrow::compute::cast(a, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    let us = us.as_primitive::<TimestampMicrosecondType>();
    Ok(us
        .iter()
        .map(|v| {
            v.and_then(chrono::DateTime::from_timestamp_micros)
                .map(|t| t.naive_utc())
        })
        .collect())
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn date32(d: NaiveDate) -> i32 {
    (d - epoch()).num_days() as i32
}

pub(super) fn eval(f: LibFn, args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let int = |i: usize| args[i].as_primitive::<Int64Type>();
    Ok(match f {
        Now | CurrentDate => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| SqlError::Execution(format!("the clock is before 1970: {e}")))?
                .as_micros() as i64;
            if f == Now {
                Arc::new(TimestampMicrosecondArray::from(vec![now; rows]))
            } else {
                Arc::new(Date32Array::from(vec![now.div_euclid(DAY_US) as i32; rows]))
            }
        }
        DateDiff => {
            let part = args[0].as_string::<i32>();
            let (a, b) = (times(&args[1])?, times(&args[2])?);
            let mut last: Option<(String, TimePart)> = None;
            let mut out = Vec::with_capacity(a.len());
            for i in 0..a.len() {
                let (Some(x), Some(y), true) = (a[i], b[i], part.is_valid(i)) else {
                    out.push(None);
                    continue;
                };
                let p = match &last {
                    Some((name, p)) if name == part.value(i) => *p,
                    _ => {
                        let p = TimePart::parse(part.value(i))?;
                        last = Some((part.value(i).to_string(), p));
                        p
                    }
                };
                out.push(Some(diff(p, x, y)?));
            }
            Arc::new(Int64Array::from(out))
        }
        MakeDate => {
            let (y, m, d) = (int(0), int(1), int(2));
            let v = (0..y.len())
                .map(|i| {
                    if y.is_null(i) || m.is_null(i) || d.is_null(i) {
                        return Ok(None);
                    }
                    ymd(y.value(i), m.value(i), d.value(i)).map(|d| Some(date32(d)))
                })
                .collect::<Result<Date32Array>>()?;
            Arc::new(v)
        }
        MakeTimestamp => {
            let ints: Vec<_> = (0..5).map(int).collect();
            let sec = args[5].as_primitive::<Float64Type>();
            let v = (0..sec.len())
                .map(|i| {
                    if ints.iter().any(|a| a.is_null(i)) || sec.is_null(i) {
                        return Ok(None);
                    }
                    let d = ymd(ints[0].value(i), ints[1].value(i), ints[2].value(i))?;
                    let (h, mi, s) = (ints[3].value(i), ints[4].value(i), sec.value(i));
                    if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0.0..60.0).contains(&s)
                    {
                        return Err(SqlError::Execution(format!(
                            "make_timestamp: {h}:{mi}:{s} is not a valid time of day"
                        )));
                    }
                    let t = micros(d.and_hms_opt(0, 0, 0).expect("midnight"));
                    Ok(Some(
                        t + h * 3_600_000_000 + mi * 60_000_000 + (s * 1e6).round() as i64,
                    ))
                })
                .collect::<Result<TimestampMicrosecondArray>>()?;
            Arc::new(v)
        }
        LastDay => {
            let v: Date32Array = times(&args[0])?
                .into_iter()
                .map(|t| {
                    t.map(|t| {
                        let (y, m) = (t.year(), t.month());
                        let next = if m == 12 {
                            NaiveDate::from_ymd_opt(y + 1, 1, 1)
                        } else {
                            NaiveDate::from_ymd_opt(y, m + 1, 1)
                        };
                        date32(next.expect("a valid date")) - 1
                    })
                })
                .collect();
            Arc::new(v)
        }
        DayName | MonthName => {
            let v: StringArray = times(&args[0])?
                .into_iter()
                .map(|t| {
                    t.map(|t| {
                        if f == DayName {
                            DAYS[t.weekday().num_days_from_monday() as usize]
                        } else {
                            MONTHS[t.month0() as usize]
                        }
                    })
                })
                .collect();
            Arc::new(v)
        }
        Epoch => Arc::new(
            times(&args[0])?
                .into_iter()
                .map(|t| t.map(|t| micros(t) as f64 / 1e6))
                .collect::<Float64Array>(),
        ),
        EpochMs => Arc::new(
            times(&args[0])?
                .into_iter()
                .map(|t| t.map(|t| micros(t).div_euclid(1000)))
                .collect::<Int64Array>(),
        ),
        ToTimestamp => {
            let s = args[0].as_primitive::<Float64Type>();
            let v = s
                .iter()
                .map(|s| {
                    s.map(|s| {
                        let us = s * 1e6;
                        if us.is_finite() && us.abs() < 9.2e18 {
                            Ok(us.round() as i64)
                        } else {
                            Err(SqlError::Execution(format!(
                                "to_timestamp: {s} seconds is out of the timestamp range"
                            )))
                        }
                    })
                    .transpose()
                })
                .collect::<Result<TimestampMicrosecondArray>>()?;
            Arc::new(v)
        }
        ToChar => {
            let t = times(&args[0])?;
            let fmt = args[1].as_string::<i32>();
            let v: StringArray = (0..t.len())
                .map(|i| match (t[i], fmt.is_valid(i)) {
                    (Some(t), true) => Some(to_char(t, fmt.value(i))),
                    _ => None,
                })
                .collect();
            Arc::new(v)
        }
        other => {
            return Err(SqlError::Internal(format!(
                "{other:?} is not a time function"
            )));
        }
    })
}

fn ymd(y: i64, m: i64, d: i64) -> Result<NaiveDate> {
    i32::try_from(y)
        .ok()
        .zip(u32::try_from(m).ok())
        .zip(u32::try_from(d).ok())
        .and_then(|((y, m), d)| NaiveDate::from_ymd_opt(y, m, d))
        .ok_or_else(|| SqlError::Execution(format!("make_date: {y}-{m}-{d} is not a valid date")))
}

/// Unit boundaries crossed from `a` to `b` (negative when `b` is earlier).
fn diff(p: TimePart, a: NaiveDateTime, b: NaiveDateTime) -> Result<i64> {
    let months = |t: NaiveDateTime| i64::from(t.year()) * 12 + i64::from(t.month0());
    let days = |t: NaiveDateTime| (t.date() - epoch()).num_days();
    let per = |unit: i64| micros(b).div_euclid(unit) - micros(a).div_euclid(unit);
    Ok(match p {
        TimePart::Year => i64::from(b.year() - a.year()),
        TimePart::Quarter => months(b).div_euclid(3) - months(a).div_euclid(3),
        TimePart::Month => months(b) - months(a),
        // Whole weeks of days between the dates (DuckDB), not ISO week boundaries.
        TimePart::Week => (days(b) - days(a)) / 7,
        TimePart::Day => days(b) - days(a),
        TimePart::Hour => per(3_600_000_000),
        TimePart::Minute => per(60_000_000),
        TimePart::Second => per(1_000_000),
        TimePart::DayOfWeek | TimePart::DayOfYear => {
            return Err(SqlError::Plan(
                "date_diff counts years, quarters, months, weeks, days, hours, minutes or \
                 seconds"
                    .into(),
            ));
        }
    })
}

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// PostgreSQL's `to_char` template patterns (the common ones): YYYY YY Q MM Mon Month DD
/// DDD D Day Dy HH24 HH12 HH MI SS MS US AM PM, an `FM` prefix to drop padding, text in
/// double quotes copied as it is; other characters are copied.
fn to_char(t: NaiveDateTime, fmt: &str) -> String {
    let mut out = String::new();
    let mut rest = fmt;
    let mut fill = true;
    let pad = |s: &str, fill: bool| {
        if fill {
            format!("{s:<9}")
        } else {
            s.to_string()
        }
    };
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("FM") {
            fill = false;
            rest = r;
            continue;
        }
        if c == '"' {
            let end = rest[1..].find('"').map_or(rest.len(), |e| e + 2);
            out.push_str(rest[1..end].trim_end_matches('"'));
            rest = &rest[end.min(rest.len())..];
            continue;
        }
        let h12 = match t.hour() % 12 {
            0 => 12,
            h => h,
        };
        let num = |v: u32, w: usize, fill: bool| {
            if fill {
                format!("{v:0w$}")
            } else {
                v.to_string()
            }
        };
        let tokens: [(&str, String); 21] = [
            ("YYYY", format!("{:04}", t.year())),
            ("HH24", num(t.hour(), 2, fill)),
            ("HH12", num(h12, 2, fill)),
            ("Month", pad(MONTHS[t.month0() as usize], fill)),
            (
                "MONTH",
                pad(&MONTHS[t.month0() as usize].to_uppercase(), fill),
            ),
            ("DDD", num(t.ordinal(), 3, fill)),
            (
                "Day",
                pad(DAYS[t.weekday().num_days_from_monday() as usize], fill),
            ),
            (
                "DAY",
                pad(
                    &DAYS[t.weekday().num_days_from_monday() as usize].to_uppercase(),
                    fill,
                ),
            ),
            ("Mon", MONTHS[t.month0() as usize][..3].to_string()),
            ("MON", MONTHS[t.month0() as usize][..3].to_uppercase()),
            (
                "Dy",
                DAYS[t.weekday().num_days_from_monday() as usize][..3].to_string(),
            ),
            ("YY", format!("{:02}", t.year().rem_euclid(100))),
            ("MM", num(t.month(), 2, fill)),
            ("DD", num(t.day(), 2, fill)),
            ("HH", num(h12, 2, fill)),
            ("MI", num(t.minute(), 2, fill)),
            ("SS", num(t.second(), 2, fill)),
            ("MS", format!("{:03}", t.nanosecond() / 1_000_000)),
            ("US", format!("{:06}", t.nanosecond() / 1_000)),
            ("AM", if t.hour() < 12 { "AM" } else { "PM" }.to_string()),
            ("PM", if t.hour() < 12 { "AM" } else { "PM" }.to_string()),
        ];
        if let Some((tok, v)) = tokens.iter().find(|(tok, _)| rest.starts_with(tok)) {
            out.push_str(v);
            rest = &rest[tok.len()..];
            // FM applies to the one pattern after it.
            fill = true;
            continue;
        }
        match c {
            'Q' => out.push_str(&(t.month0() / 3 + 1).to_string()),
            // Day of the week, Sunday = 1.
            'D' => out.push_str(&(t.weekday().num_days_from_sunday() + 1).to_string()),
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

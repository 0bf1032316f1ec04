//! Regular expressions and time formats: `s ~ p` / `~*` / `!~` / `!~*`, `regexp_like`,
//! `regexp_matches` (a boolean, as in DuckDB: PostgreSQL's is set-returning),
//! `regexp_replace(s, p, r [, flags])` (first match; flag `g` every match, `i` case-
//! insensitive; `\1` in `r` a group, as in PostgreSQL), `regexp_extract(s, p [, group])` /
//! `regexp_substr(s, p)` (the first match or group, NULL without one), and `strftime(t,
//! fmt)` / `strptime(s, fmt)` with `%` formats (DuckDB's, through chrono).
//!
//! Patterns are Rust's `regex` syntax, which agrees with PostgreSQL's for the common forms
//! (classes, anchors, groups, alternation, `{n,m}`); a pattern it cannot compile is an error
//! naming the pattern. Patterns are usually constants: one compiled pattern is kept and
//! reused while the pattern stays the same from row to row.

use crate::error::{Result, SqlError};
use crate::expr::Func;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use regex::Regex;
use std::sync::Arc;

fn strings(a: &ArrayRef) -> Result<StringArray> {
    Ok(arrow::compute::cast(a, &DataType::Utf8)?
        .as_string::<i32>()
        .clone())
}

/// The compiled pattern for each row, recompiled only when it changes.
struct Patterns {
    last: Option<(String, bool, Regex)>,
}

impl Patterns {
    fn get(&mut self, p: &str, insensitive: bool) -> Result<&Regex> {
        let fresh = !matches!(&self.last, Some((q, i, _)) if q == p && *i == insensitive);
        if fresh {
            let r = regex::RegexBuilder::new(p)
                .case_insensitive(insensitive)
                .size_limit(1 << 24)
                .build()
                .map_err(|e| {
                    SqlError::Execution(format!("invalid regular expression {p:?}: {e}"))
                })?;
            self.last = Some((p.to_string(), insensitive, r));
        }
        Ok(&self.last.as_ref().expect("just set").2)
    }
}

/// PostgreSQL's replacement syntax (`\1`, `\&`) in Rust's (`${1}`, `${0}`); `$` literal.
fn replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(d @ '0'..='9') => out.push_str(&format!("${{{d}}}")),
                Some('&') => out.push_str("${0}"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

/// Evaluates a regular-expression or time-format function on equal-length columns.
pub fn eval(f: Func, args: &[ArrayRef]) -> Result<ArrayRef> {
    let need = |lo: usize, hi: usize| -> Result<()> {
        if args.len() < lo || args.len() > hi {
            return Err(SqlError::Plan(format!(
                "{f:?} takes {lo}{} argument(s), got {}",
                if hi > lo {
                    format!(" to {hi}")
                } else {
                    String::new()
                },
                args.len()
            )));
        }
        Ok(())
    };
    let mut pats = Patterns { last: None };
    Ok(match f {
        Func::RegexpLike(insensitive) => {
            need(2, 2)?;
            let (s, p) = (strings(&args[0])?, strings(&args[1])?);
            let mut out = Vec::with_capacity(s.len());
            for i in 0..s.len() {
                out.push(if s.is_valid(i) && p.is_valid(i) {
                    Some(pats.get(p.value(i), insensitive)?.is_match(s.value(i)))
                } else {
                    None
                });
            }
            Arc::new(BooleanArray::from(out))
        }
        Func::RegexpReplace => {
            need(3, 4)?;
            let (s, p, r) = (strings(&args[0])?, strings(&args[1])?, strings(&args[2])?);
            let flags = args.get(3).map(strings).transpose()?;
            let mut out = Vec::with_capacity(s.len());
            for i in 0..s.len() {
                let fl = flags.as_ref().map(|f| f.is_valid(i).then(|| f.value(i)));
                if !(s.is_valid(i) && p.is_valid(i) && r.is_valid(i)) || fl == Some(None) {
                    out.push(None);
                    continue;
                }
                let fl = fl.flatten().unwrap_or("");
                if let Some(bad) = fl.chars().find(|c| !matches!(c, 'g' | 'i')) {
                    return Err(SqlError::Execution(format!(
                        "regexp_replace: unknown flag {bad:?} (g: every match, i: ignore case)"
                    )));
                }
                let re = pats.get(p.value(i), fl.contains('i'))?;
                let rep = replacement(r.value(i));
                let v = if fl.contains('g') {
                    re.replace_all(s.value(i), rep.as_str())
                } else {
                    re.replace(s.value(i), rep.as_str())
                };
                out.push(Some(v.into_owned()));
            }
            Arc::new(StringArray::from(out))
        }
        Func::RegexpExtract => {
            need(2, 3)?;
            let (s, p) = (strings(&args[0])?, strings(&args[1])?);
            let g = args
                .get(2)
                .map(|a| arrow::compute::cast(a, &DataType::Int64))
                .transpose()?;
            let mut out = Vec::with_capacity(s.len());
            for i in 0..s.len() {
                let group = match &g {
                    None => Some(0),
                    Some(g) => {
                        let g = g.as_primitive::<arrow::datatypes::Int64Type>();
                        g.is_valid(i).then(|| g.value(i))
                    }
                };
                let (true, true, Some(group)) = (s.is_valid(i), p.is_valid(i), group) else {
                    out.push(None);
                    continue;
                };
                let re = pats.get(p.value(i), false)?;
                if group < 0 || group as usize >= re.captures_len() {
                    return Err(SqlError::Execution(format!(
                        "regexp_extract: the pattern {:?} has no group {group}",
                        p.value(i)
                    )));
                }
                out.push(
                    re.captures(s.value(i))
                        .and_then(|c| c.get(group as usize))
                        .map(|m| m.as_str().to_string()),
                );
            }
            Arc::new(StringArray::from(out))
        }
        Func::Strftime => {
            need(2, 2)?;
            let t =
                arrow::compute::cast(&args[0], &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let t = t.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            let fmt = strings(&args[1])?;
            let mut out = Vec::with_capacity(t.len());
            for i in 0..t.len() {
                if !(t.is_valid(i) && fmt.is_valid(i)) {
                    out.push(None);
                    continue;
                }
                let Some(v) = t.value_as_datetime(i) else {
                    return Err(SqlError::Execution(
                        "strftime: timestamp out of range".into(),
                    ));
                };
                let items = chrono::format::StrftimeItems::new(fmt.value(i))
                    .parse()
                    .map_err(|_| {
                        SqlError::Execution(format!(
                            "strftime: bad format {:?} (use %Y, %m, %d, %H, %M, %S, ...)",
                            fmt.value(i)
                        ))
                    })?;
                out.push(Some(v.format_with_items(items.iter()).to_string()));
            }
            Arc::new(StringArray::from(out))
        }
        Func::Strptime => {
            need(2, 2)?;
            let (s, fmt) = (strings(&args[0])?, strings(&args[1])?);
            let mut out = Vec::with_capacity(s.len());
            for i in 0..s.len() {
                if !(s.is_valid(i) && fmt.is_valid(i)) {
                    out.push(None);
                    continue;
                }
                let (v, f) = (s.value(i), fmt.value(i));
                let t = chrono::NaiveDateTime::parse_from_str(v, f)
                    .or_else(|_| {
                        chrono::NaiveDate::parse_from_str(v, f)
                            .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
                    })
                    .map_err(|e| {
                        SqlError::Execution(format!(
                            "strptime: {v:?} does not match the format {f:?} ({e})"
                        ))
                    })?;
                out.push(Some(t.and_utc().timestamp_micros()));
            }
            Arc::new(TimestampMicrosecondArray::from(out))
        }
        other => {
            return Err(SqlError::Internal(format!(
                "{other:?} is not a regexp function"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    #[test]
    fn replace_follows_postgres() {
        let out = eval(
            Func::RegexpReplace,
            &[
                s(&["a1b22c", "a1b22c"]),
                s(&["([0-9]+)", "([0-9]+)"]),
                s(&["<\\1>", "$"]),
                s(&["g", ""]),
            ],
        )
        .unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "a<1>b<22>c");
        assert_eq!(out.value(1), "a$b22c");
    }

    #[test]
    fn bad_patterns_name_themselves() {
        let e = eval(Func::RegexpLike(false), &[s(&["x"]), s(&["(unclosed"])]).unwrap_err();
        assert!(e.to_string().contains("(unclosed"), "{e}");
    }
}

//! String functions, over characters (not bytes) as PostgreSQL counts them.

use super::LibFn::{self, *};
use crate::error::{Result, SqlError};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray, StringBuilder,
};
use arrow::datatypes::Int64Type;
use md5::Digest;
use std::sync::Arc;

pub(super) fn eval(f: LibFn, args: &[ArrayRef]) -> Result<ArrayRef> {
    let s = |i: usize| args[i].as_string::<i32>();
    let int = |i: usize| args[i].as_primitive::<Int64Type>();
    let n = args.first().map_or(0, |a| a.len());
    Ok(match f {
        SplitPart => {
            let (a, d, k) = (s(0), s(1), int(2));
            strs3(n, |i| {
                if a.is_null(i) || d.is_null(i) || k.is_null(i) {
                    return Ok(None);
                }
                let k = k.value(i);
                if k == 0 {
                    return Err(SqlError::Execution(
                        "split_part: the field position must not be zero".into(),
                    ));
                }
                let parts: Vec<&str> = if d.value(i).is_empty() {
                    vec![a.value(i)]
                } else {
                    a.value(i).split(d.value(i)).collect()
                };
                // Negative positions count from the end (PostgreSQL 14).
                let at = if k > 0 {
                    (k - 1) as usize
                } else {
                    match parts.len().checked_sub(k.unsigned_abs() as usize) {
                        Some(j) => j,
                        None => return Ok(Some(String::new())),
                    }
                };
                Ok(Some(parts.get(at).copied().unwrap_or("").to_string()))
            })?
        }
        Left | Right => {
            let (a, k) = (s(0), int(1));
            strs(n, |i| {
                (a.is_valid(i) && k.is_valid(i)).then(|| {
                    let c: Vec<char> = a.value(i).chars().collect();
                    let k = k.value(i);
                    // A negative count: all but that many from the other end.
                    let take = if k >= 0 {
                        (k as usize).min(c.len())
                    } else {
                        c.len().saturating_sub(k.unsigned_abs() as usize)
                    };
                    if f == Left {
                        c[..take].iter().collect()
                    } else {
                        c[c.len() - take..].iter().collect()
                    }
                })
            })
        }
        Lpad | Rpad => {
            let (a, len) = (s(0), int(1));
            let fill = args.get(2).map(|x| x.as_string::<i32>());
            strs(n, |i| {
                let fill = match fill {
                    Some(p) if p.is_null(i) => return None,
                    Some(p) => p.value(i),
                    None => " ",
                };
                (a.is_valid(i) && len.is_valid(i)).then(|| {
                    let c: Vec<char> = a.value(i).chars().collect();
                    let len = len.value(i).max(0) as usize;
                    if c.len() >= len || fill.is_empty() {
                        return c[..len.min(c.len())].iter().collect();
                    }
                    let pad: String = fill.chars().cycle().take(len - c.len()).collect();
                    let a: String = c.into_iter().collect();
                    if f == Lpad { pad + &a } else { a + &pad }
                })
            })
        }
        Ltrim | Rtrim | Btrim => {
            let a = s(0);
            let chars = args.get(1).map(|x| x.as_string::<i32>());
            strs(n, |i| {
                let set: Vec<char> = match chars {
                    Some(c) if c.is_null(i) => return None,
                    Some(c) => c.value(i).chars().collect(),
                    None => vec![' '],
                };
                a.is_valid(i).then(|| {
                    let v = a.value(i);
                    let p = |c: char| set.contains(&c);
                    match f {
                        Ltrim => v.trim_start_matches(p),
                        Rtrim => v.trim_end_matches(p),
                        _ => v.trim_matches(p),
                    }
                    .to_string()
                })
            })
        }
        Initcap => {
            let a = s(0);
            strs(n, |i| {
                a.is_valid(i).then(|| {
                    // A word starts after any character that is not a letter or digit.
                    let mut out = String::new();
                    let mut start = true;
                    for c in a.value(i).chars() {
                        if start {
                            out.extend(c.to_uppercase());
                        } else {
                            out.extend(c.to_lowercase());
                        }
                        start = !c.is_alphanumeric();
                    }
                    out
                })
            })
        }
        Reverse => {
            let a = s(0);
            strs(n, |i| {
                a.is_valid(i).then(|| a.value(i).chars().rev().collect())
            })
        }
        Repeat => {
            let (a, k) = (s(0), int(1));
            let mut out = StringBuilder::new();
            for i in 0..n {
                if a.is_null(i) || k.is_null(i) {
                    out.append_null();
                    continue;
                }
                let times = k.value(i).max(0) as usize;
                if a.value(i).len().saturating_mul(times) > 1 << 30 {
                    return Err(SqlError::Execution(
                        "repeat: the result would pass 1 GiB".into(),
                    ));
                }
                out.append_value(a.value(i).repeat(times));
            }
            Arc::new(out.finish())
        }
        Strpos => {
            let (a, b) = (s(0), s(1));
            let v: Int64Array = (0..n)
                .map(|i| {
                    (a.is_valid(i) && b.is_valid(i)).then(|| {
                        let (h, x) = (a.value(i), b.value(i));
                        h.find(x).map_or(0, |at| h[..at].chars().count() as i64 + 1)
                    })
                })
                .collect();
            Arc::new(v)
        }
        ConcatWs => {
            let sep = s(0);
            strs(n, |i| {
                sep.is_valid(i).then(|| {
                    let parts: Vec<&str> = args[1..]
                        .iter()
                        .map(|a| a.as_string::<i32>())
                        .filter(|a| a.is_valid(i))
                        .map(|a| a.value(i))
                        .collect();
                    parts.join(sep.value(i))
                })
            })
        }
        Md5 => {
            let a = s(0);
            strs(n, |i| {
                a.is_valid(i).then(|| {
                    md5::Md5::digest(a.value(i).as_bytes())
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect()
                })
            })
        }
        StartsWith | EndsWith | Contains => {
            let (a, b) = (s(0), s(1));
            let v: BooleanArray = (0..n)
                .map(|i| {
                    (a.is_valid(i) && b.is_valid(i)).then(|| {
                        let (h, x) = (a.value(i), b.value(i));
                        match f {
                            StartsWith => h.starts_with(x),
                            EndsWith => h.ends_with(x),
                            _ => h.contains(x),
                        }
                    })
                })
                .collect();
            Arc::new(v)
        }
        Ascii => {
            let a = s(0);
            let v: Int64Array = (0..n)
                .map(|i| {
                    a.is_valid(i)
                        .then(|| a.value(i).chars().next().map_or(0, |c| c as i64))
                })
                .collect();
            Arc::new(v)
        }
        Chr => {
            let k = int(0);
            strs3(n, |i| {
                if k.is_null(i) {
                    return Ok(None);
                }
                let c = u32::try_from(k.value(i))
                    .ok()
                    .filter(|&c| c != 0)
                    .and_then(char::from_u32)
                    .ok_or_else(|| {
                        SqlError::Execution(format!(
                            "chr: {} is not a valid character code",
                            k.value(i)
                        ))
                    })?;
                Ok(Some(c.to_string()))
            })?
        }
        Translate => {
            let (a, from, to) = (s(0), s(1), s(2));
            strs(n, |i| {
                (a.is_valid(i) && from.is_valid(i) && to.is_valid(i)).then(|| {
                    let from: Vec<char> = from.value(i).chars().collect();
                    let to: Vec<char> = to.value(i).chars().collect();
                    // A character of `from` without a partner in `to` is deleted.
                    a.value(i)
                        .chars()
                        .filter_map(|c| match from.iter().position(|&x| x == c) {
                            Some(p) => to.get(p).copied(),
                            None => Some(c),
                        })
                        .collect()
                })
            })
        }
        OctetLength => {
            let a = s(0);
            let v: Int64Array = (0..n)
                .map(|i| a.is_valid(i).then(|| a.value(i).len() as i64))
                .collect();
            Arc::new(v)
        }
        other => return Err(SqlError::Internal(format!("{other:?} is not text"))),
    })
}

/// A text column from a per-row function.
fn strs(n: usize, f: impl Fn(usize) -> Option<String>) -> ArrayRef {
    Arc::new((0..n).map(f).collect::<StringArray>())
}

/// A text column from a per-row function that may fail.
fn strs3(n: usize, f: impl Fn(usize) -> Result<Option<String>>) -> Result<ArrayRef> {
    Ok(Arc::new((0..n).map(f).collect::<Result<StringArray>>()?))
}

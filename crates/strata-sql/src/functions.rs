//! Scalar functions beyond the arithmetic and comparison kernels: COALESCE, string
//! concatenation, TRIM, REPLACE, ABS and ROUND (half away from zero; a decimal rounded to
//! `d` places has scale `d`, as in DuckDB and PostgreSQL).

use crate::error::{Result, SqlError};
use crate::expr::{Expr, Func};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float64Array, StringArray,
};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type};
use std::sync::Arc;

/// ROUND's digits: its second argument, a constant integer (0 without one).
pub fn digits(args: &[Expr]) -> Result<i8> {
    match args.get(1) {
        None => Ok(0),
        Some(Expr::Literal(a)) => {
            let c = arrow::compute::cast(a, &DataType::Int64)?;
            let c = c.as_primitive::<arrow::datatypes::Int64Type>();
            if c.is_null(0) || !(-38..=38).contains(&c.value(0)) {
                return Err(SqlError::Plan(
                    "ROUND's digits must be an integer from -38 to 38".into(),
                ));
            }
            Ok(c.value(0) as i8)
        }
        Some(e) => Err(SqlError::Plan(format!(
            "ROUND's digits must be a constant, got {e}"
        ))),
    }
}

/// The type ROUND returns for `t` rounded to `d` places.
pub fn round_type(t: &DataType, d: i8) -> DataType {
    match t {
        DataType::Decimal128(p, s) if d < *s => DataType::Decimal128(*p, d.max(0)),
        t if t.is_integer() || matches!(t, DataType::Decimal128(..)) => t.clone(),
        _ => DataType::Float64,
    }
}

fn strings(a: &ArrayRef) -> Result<StringArray> {
    Ok(arrow::compute::cast(a, &DataType::Utf8)?
        .as_string::<i32>()
        .clone())
}

/// Evaluates `f` on argument columns of equal length.
pub fn eval(f: Func, args: &[ArrayRef]) -> Result<ArrayRef> {
    let need = |n: usize| -> Result<()> {
        if args.len() < n {
            return Err(SqlError::Plan(format!(
                "{f:?} needs {n} argument(s), got {}",
                args.len()
            )));
        }
        Ok(())
    };
    Ok(match f {
        Func::Coalesce => {
            need(1)?;
            let t = args
                .iter()
                .map(|a| a.data_type())
                .find(|t| !t.is_null())
                .unwrap_or(args[0].data_type())
                .clone();
            let mut out = arrow::compute::cast(&args[0], &t)?;
            for a in &args[1..] {
                let a = arrow::compute::cast(a, &t).map_err(|_| {
                    SqlError::Plan(format!(
                        "COALESCE arguments must share a type: {t} and {}",
                        a.data_type()
                    ))
                })?;
                let have: BooleanArray = arrow::compute::is_not_null(&out)?;
                out = arrow::compute::kernels::zip::zip(&have, &out, &a)?;
            }
            out
        }
        Func::ConcatOp | Func::Concat => {
            need(1)?;
            let parts = args.iter().map(strings).collect::<Result<Vec<_>>>()?;
            let n = parts[0].len();
            let out: StringArray = (0..n)
                .map(|i| {
                    if f == Func::ConcatOp && parts.iter().any(|p| p.is_null(i)) {
                        return None;
                    }
                    let mut s = String::new();
                    for p in &parts {
                        if p.is_valid(i) {
                            s.push_str(p.value(i));
                        }
                    }
                    Some(s)
                })
                .collect();
            Arc::new(out)
        }
        Func::Trim => {
            need(1)?;
            let s = strings(&args[0])?;
            Arc::new(
                s.iter()
                    .map(|x| x.map(|x| x.trim_matches(' ')).map(str::to_string))
                    .collect::<StringArray>(),
            )
        }
        Func::Replace => {
            need(3)?;
            let (s, from, to) = (strings(&args[0])?, strings(&args[1])?, strings(&args[2])?);
            let out: StringArray = (0..s.len())
                .map(|i| {
                    (s.is_valid(i) && from.is_valid(i) && to.is_valid(i))
                        .then(|| s.value(i).replace(from.value(i), to.value(i)))
                })
                .collect();
            Arc::new(out)
        }
        Func::Abs => {
            need(1)?;
            let a = &args[0];
            match a.data_type() {
                DataType::Decimal128(p, s) => Arc::new(
                    a.as_primitive::<Decimal128Type>()
                        .unary::<_, Decimal128Type>(|v| v.abs())
                        .with_precision_and_scale(*p, *s)?,
                ),
                t if t.is_integer() => {
                    let c = arrow::compute::cast(a, &DataType::Int64)?;
                    let v = c
                        .as_primitive::<arrow::datatypes::Int64Type>()
                        .unary::<_, arrow::datatypes::Int64Type>(|v| v.wrapping_abs());
                    arrow::compute::cast(&(Arc::new(v) as ArrayRef), t)?
                }
                t if t.is_floating() => {
                    let c = arrow::compute::cast(a, &DataType::Float64)?;
                    let v: Float64Array = c.as_primitive::<Float64Type>().unary(|v| v.abs());
                    arrow::compute::cast(&(Arc::new(v) as ArrayRef), t)?
                }
                t => return Err(SqlError::Plan(format!("ABS of a {t} value"))),
            }
        }
        Func::Round => {
            need(1)?;
            let d = match args.get(1) {
                None => 0,
                Some(a) => {
                    let c = arrow::compute::cast(a, &DataType::Int64)?;
                    c.as_primitive::<arrow::datatypes::Int64Type>().value(0) as i8
                }
            };
            round(&args[0], d)?
        }
        other => {
            return Err(SqlError::Internal(format!(
                "{other:?} is not in functions.rs"
            )));
        }
    })
}

/// `x` rounded half away from zero to `d` decimal places.
fn round(x: &ArrayRef, d: i8) -> Result<ArrayRef> {
    match x.data_type() {
        DataType::Decimal128(p, s) => {
            if d >= *s {
                return Ok(x.clone());
            }
            let drop = (*s as i32 - d as i32) as u32;
            let div = 10i128.pow(drop);
            let v: Decimal128Array = x.as_primitive::<Decimal128Type>().unary(|v| {
                let q = v / div;
                let r = v % div;
                let q = if r.abs() * 2 >= div {
                    q + v.signum()
                } else {
                    q
                };
                // Back to `d` places (negative d: tens, hundreds... as zeros).
                if d >= 0 {
                    q
                } else {
                    q * 10i128.pow((-d) as u32)
                }
            });
            Ok(Arc::new(v.with_precision_and_scale(*p, d.max(0))?))
        }
        t if t.is_integer() => Ok(x.clone()),
        t if t.is_floating() || t.is_null() => {
            let c = arrow::compute::cast(x, &DataType::Float64)?;
            let m = 10f64.powi(d as i32);
            let v: Float64Array = c
                .as_primitive::<Float64Type>()
                .unary(|v| (v * m).round() / m);
            Ok(Arc::new(v))
        }
        t => Err(SqlError::Plan(format!("ROUND of a {t} value"))),
    }
}

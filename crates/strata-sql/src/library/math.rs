//! Math functions. Logarithms and roots of numbers outside their domain are errors, as in
//! PostgreSQL (not NaN); `ceil`, `floor` and `trunc` keep integers and decimals exact.

use super::LibFn::{self, *};
use crate::error::{Result, SqlError};
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float64Array};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// The type of `ceil`/`floor`/`trunc` of a `t` (`digits`: `trunc(x, d)`, whose scale
/// depends on `d` and is taken as the input's).
pub(super) fn rounded_type(t: &DataType, digits: bool) -> DataType {
    match t {
        t if t.is_integer() => DataType::Int64,
        DataType::Decimal128(p, _) if !digits => DataType::Decimal128(*p, 0),
        DataType::Decimal128(..) => t.clone(),
        _ => DataType::Float64,
    }
}

pub(super) fn eval(f: LibFn, args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let x = |i: usize| args[i].as_primitive::<Float64Type>();
    Ok(match f {
        Pi => Arc::new(Float64Array::from(vec![std::f64::consts::PI; rows])),
        Random => {
            // Seeded from the clock and a counter: each call draws anew.
            static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut r = rand::rngs::SmallRng::seed_from_u64(nanos ^ call.rotate_left(32));
            Arc::new(
                (0..rows)
                    .map(|_| r.r#gen::<f64>())
                    .collect::<Float64Array>(),
            )
        }
        Sign => match args[0].data_type() {
            t if t.is_integer() => {
                let c = arrow::compute::cast(&args[0], &DataType::Int64)?;
                Arc::new(
                    c.as_primitive::<Int64Type>()
                        .unary::<_, Int64Type>(i64::signum),
                )
            }
            _ => {
                let c = arrow::compute::cast(&args[0], &DataType::Float64)?;
                Arc::new(
                    c.as_primitive::<Float64Type>()
                        .unary::<_, Float64Type>(|v| {
                            if v == 0.0 || v.is_nan() {
                                v
                            } else {
                                v.signum()
                            }
                        }),
                )
            }
        },
        Ceil | Floor | Trunc => rounded(f, args)?,
        IsNan => Arc::new(
            x(0).iter()
                .map(|v| v.map(f64::is_nan))
                .collect::<BooleanArray>(),
        ),
        Power | Atan2 => {
            let (a, b) = (x(0), x(1));
            let v = (0..a.len())
                .map(|i| {
                    if a.is_null(i) || b.is_null(i) {
                        return Ok(None);
                    }
                    let (a, b) = (a.value(i), b.value(i));
                    if f == Atan2 {
                        return Ok(Some(a.atan2(b)));
                    }
                    if a == 0.0 && b < 0.0 {
                        return Err(SqlError::Execution(
                            "power: zero raised to a negative power is undefined".into(),
                        ));
                    }
                    if a < 0.0 && b.fract() != 0.0 {
                        return Err(SqlError::Execution(
                            "power: a negative number raised to a non-integer power gives a \
                             complex result"
                                .into(),
                        ));
                    }
                    Ok(Some(a.powf(b)))
                })
                .collect::<Result<Float64Array>>()?;
            Arc::new(v)
        }
        Log if args.len() == 2 => {
            // log(b, x): the logarithm of x to base b.
            let (b, a) = (x(0), x(1));
            let v = (0..a.len())
                .map(|i| {
                    if a.is_null(i) || b.is_null(i) {
                        return Ok(None);
                    }
                    let (b, a) = (positive("log", b.value(i))?, positive("log", a.value(i))?);
                    if b == 1.0 {
                        return Err(SqlError::Execution("log: base 1 divides by zero".into()));
                    }
                    Ok(Some(a.ln() / b.ln()))
                })
                .collect::<Result<Float64Array>>()?;
            Arc::new(v)
        }
        _ => {
            let a = x(0);
            let v = a
                .iter()
                .map(|v| v.map(|v| unary(f, v)).transpose())
                .collect::<Result<Float64Array>>()?;
            Arc::new(v)
        }
    })
}

fn positive(f: &str, v: f64) -> Result<f64> {
    if v == 0.0 {
        return Err(SqlError::Execution(format!(
            "{f}: cannot take the logarithm of zero"
        )));
    }
    if v < 0.0 {
        return Err(SqlError::Execution(format!(
            "{f}: cannot take the logarithm of a negative number"
        )));
    }
    Ok(v)
}

fn unary(f: LibFn, v: f64) -> Result<f64> {
    let domain = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(SqlError::Execution(format!("{f:?}: {what}").to_lowercase()))
        }
    };
    Ok(match f {
        Cbrt => v.cbrt(),
        Ln => positive("ln", v)?.ln(),
        Log10 | Log => positive("log", v)?.log10(),
        Log2 => positive("log2", v)?.log2(),
        Exp => v.exp(),
        Sqrt => {
            domain(v >= 0.0, "cannot take the square root of a negative number")?;
            v.sqrt()
        }
        Sin => v.sin(),
        Cos => v.cos(),
        Tan => v.tan(),
        Asin | Acos => {
            domain((-1.0..=1.0).contains(&v), "input is out of range [-1, 1]")?;
            if f == Asin { v.asin() } else { v.acos() }
        }
        Atan => v.atan(),
        Degrees => v.to_degrees(),
        Radians => v.to_radians(),
        other => return Err(SqlError::Internal(format!("{other:?} is not unary math"))),
    })
}

/// `ceil`, `floor`, `trunc [, digits]`.
fn rounded(f: LibFn, args: &[ArrayRef]) -> Result<ArrayRef> {
    let a = &args[0];
    let digits = match args.get(1) {
        Some(d) => {
            let d = d.as_primitive::<Int64Type>();
            if d.is_null(0) || !(-38..=38).contains(&d.value(0)) {
                return Err(SqlError::Plan(
                    "trunc's digits must be an integer from -38 to 38".into(),
                ));
            }
            Some(d.value(0) as i32)
        }
        None => None,
    };
    Ok(match a.data_type() {
        t if t.is_integer() => match digits {
            Some(d) if d < 0 => {
                let m = 10i64.pow(d.unsigned_abs().min(18));
                let c = arrow::compute::cast(a, &DataType::Int64)?;
                Arc::new(
                    c.as_primitive::<Int64Type>()
                        .unary::<_, Int64Type>(|v| v / m * m),
                )
            }
            _ => arrow::compute::cast(a, &DataType::Int64)?,
        },
        DataType::Decimal128(p, s) => {
            let (p, s) = (*p, *s as i32);
            // Drop `s - keep` digits; trunc(x, d) keeps the scale and zeroes the rest.
            let keep = digits.unwrap_or(0).min(s);
            let div = 10i128.pow((s - keep).max(0) as u32);
            let v: Decimal128Array = a.as_primitive::<Decimal128Type>().unary(|v| {
                let q = v / div;
                let r = v % div;
                let q = match f {
                    Ceil if r > 0 => q + 1,
                    Floor if r < 0 => q - 1,
                    _ => q,
                };
                if digits.is_some() { q * div } else { q }
            });
            let scale = if digits.is_some() { s } else { 0 };
            Arc::new(v.with_precision_and_scale(p, scale as i8)?)
        }
        _ => {
            let c = arrow::compute::cast(a, &DataType::Float64)?;
            let m = 10f64.powi(digits.unwrap_or(0));
            Arc::new(
                c.as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(|v| match f {
                        Ceil => v.ceil(),
                        Floor => v.floor(),
                        _ => (v * m).trunc() / m,
                    }),
            )
        }
    })
}

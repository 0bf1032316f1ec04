//! Bound scalar expressions and their vectorized evaluation on Arrow record batches.
//!
//! An [`Expr`] refers to input columns by index (the binder resolved names). Evaluation
//! produces a [`Value`]: a whole column, or a one-row scalar that kernels broadcast
//! (arrow's `Datum`), so `l_quantity < 24` never materializes a column of 24s. Types are
//! coerced by the binder ([`coerce`]) before kernels see them: integers widen to decimals or
//! floats, decimals of different scale meet at a common one.

use crate::error::{Result, SqlError};
use arrow::array::{Array, ArrayRef, BooleanArray, Datum, Scalar, new_null_array};
use arrow::compute::kernels::{boolean, cmp, numeric, zip::zip};
use arrow::datatypes::{DataType, Field, IntervalUnit, Schema};
use arrow::record_batch::RecordBatch;
use std::fmt;
use std::sync::Arc;

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `=`
    Eq,
    /// `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND`
    And,
    /// `OR`
    Or,
}

impl BinOp {
    /// Whether the result is boolean from comparable inputs.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq
        )
    }
    /// The operator as SQL writes it.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Eq => "=",
            BinOp::NotEq => "<>",
            BinOp::Lt => "<",
            BinOp::LtEq => "<=",
            BinOp::Gt => ">",
            BinOp::GtEq => ">=",
            BinOp::And => "AND",
            BinOp::Or => "OR",
        }
    }
}

/// Scalar functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Func {
    /// `SUBSTRING(s FROM start FOR len)` (1-based)
    Substring,
    /// `UPPER(s)`
    Upper,
    /// `LOWER(s)`
    Lower,
    /// `LENGTH(s)`
    Length,
    /// `COALESCE(a, b, ...)`: the first non-NULL argument.
    Coalesce,
    /// `a || b`: NULL if either is.
    ConcatOp,
    /// `CONCAT(a, b, ...)`: NULL arguments count as empty.
    Concat,
    /// `TRIM(s)`: without leading and trailing spaces.
    Trim,
    /// `REPLACE(s, from, to)`
    Replace,
    /// `ABS(x)`
    Abs,
    /// `EXTRACT(part FROM x)`, `date_part('part', x)`
    DatePart(crate::datetime::TimePart),
    /// `date_trunc('part', x)`
    DateTrunc(crate::datetime::TimePart),
    /// `greatest(a, b, ...)`: the largest non-NULL argument.
    Greatest,
    /// `least(a, b, ...)`: the smallest non-NULL argument.
    Least,
    /// `ROUND(x [, digits])`: half away from zero; a decimal keeps `digits` places.
    Round,
    /// `s ~ p`, `regexp_like(s, p)`: whether the pattern matches (`true`: ignoring case).
    RegexpLike(bool),
    /// `regexp_replace(s, p, r [, flags])`
    RegexpReplace,
    /// `regexp_extract(s, p [, group])`, `regexp_substr(s, p)`
    RegexpExtract,
    /// `strftime(t, format)`
    Strftime,
    /// `strptime(s, format)`: a TIMESTAMP.
    Strptime,
    /// `[label, x1..xd]` packed as little-endian floats (NULL if any is NULL): the
    /// argument of `train_logistic`.
    PackRow,
    /// `predict_logistic(model, x1..xd)`: the probability of label 1.
    PredictLogistic,
    /// A function of the library (string, math, date/time; see [`crate::library`]).
    Lib(crate::library::LibFn),
}

/// A bound expression.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Expr {
    /// Input column `i`.
    Column(usize),
    /// A constant: a one-row array.
    Literal(#[serde(with = "crate::serial::array")] ArrayRef),
    /// `l op r`.
    Binary(Box<Expr>, BinOp, Box<Expr>),
    /// `NOT e`.
    Not(Box<Expr>),
    /// `-e`.
    Neg(Box<Expr>),
    /// `e IS [NOT] NULL`.
    IsNull(Box<Expr>, bool),
    /// `e [NOT] LIKE 'pattern'`.
    Like(Box<Expr>, Box<Expr>, bool),
    /// `e [NOT] IN (list)`.
    InList(Box<Expr>, Vec<Expr>, bool),
    /// `CASE WHEN c THEN v ... ELSE e END` (operand forms are rewritten to this).
    Case(Vec<(Expr, Expr)>, Option<Box<Expr>>),
    /// `CAST(e AS t)`: a value that does not fit or parse is an error.
    Cast(Box<Expr>, DataType),
    /// `TRY_CAST(e AS t)`: a value that does not fit or parse becomes NULL.
    TryCast(Box<Expr>, DataType),
    /// A scalar function.
    Call(Func, Vec<Expr>),
}

/// The result of evaluating an expression on a batch.
#[derive(Clone, Debug)]
pub enum Value {
    /// One value per row.
    Array(ArrayRef),
    /// One value for every row (a one-row array).
    Scalar(ArrayRef),
}

impl Value {
    /// As an array of `rows` rows.
    pub fn into_array(self, rows: usize) -> Result<ArrayRef> {
        match self {
            Value::Array(a) => Ok(a),
            Value::Scalar(s) => {
                if s.is_null(0) {
                    return Ok(new_null_array(s.data_type(), rows));
                }
                let idx = arrow::array::UInt32Array::from(vec![0u32; rows]);
                Ok(arrow::compute::take(&s, &idx, None)?)
            }
        }
    }
    fn datum(&self) -> Box<dyn Datum + '_> {
        match self {
            Value::Array(a) => Box::new(a.clone()),
            Value::Scalar(s) => Box::new(Scalar::new(s.clone())),
        }
    }
    fn array(&self) -> &ArrayRef {
        match self {
            Value::Array(a) | Value::Scalar(a) => a,
        }
    }
    fn is_scalar(&self) -> bool {
        matches!(self, Value::Scalar(_))
    }
    fn map(&self, f: impl FnOnce(&ArrayRef) -> Result<ArrayRef>) -> Result<Value> {
        Ok(match self {
            Value::Array(a) => Value::Array(f(a)?),
            Value::Scalar(a) => Value::Scalar(f(a)?),
        })
    }
}

/// A mask with NULLs turned into false.
pub fn null_as_false(b: &BooleanArray) -> BooleanArray {
    if b.null_count() > 0 {
        arrow::compute::prep_null_mask_filter(b)
    } else {
        b.clone()
    }
}

fn as_bool(a: &ArrayRef) -> Result<&BooleanArray> {
    a.as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| SqlError::Internal(format!("expected a boolean, got {}", a.data_type())))
}

impl Expr {
    /// A literal from a one-row array.
    pub fn lit(a: ArrayRef) -> Expr {
        Expr::Literal(a)
    }

    /// The expression's type over `schema`.
    pub fn data_type(&self, schema: &Schema) -> Result<DataType> {
        Ok(match self {
            Expr::Column(i) => schema.field(*i).data_type().clone(),
            Expr::Literal(a) => a.data_type().clone(),
            Expr::Binary(l, op, r) => {
                if op.is_comparison() || matches!(op, BinOp::And | BinOp::Or) {
                    DataType::Boolean
                } else {
                    // Ask the kernel: evaluate on empty inputs of the operand types.
                    let (lt, rt) = (l.data_type(schema)?, r.data_type(schema)?);
                    let (la, ra) = (new_null_array(&lt, 1), new_null_array(&rt, 1));
                    arith(&Value::Scalar(la), *op, &Value::Scalar(ra))?
                        .array()
                        .data_type()
                        .clone()
                }
            }
            Expr::Not(_) | Expr::IsNull(..) | Expr::Like(..) | Expr::InList(..) => {
                DataType::Boolean
            }
            Expr::Neg(e) => e.data_type(schema)?,
            Expr::Case(branches, other) => match branches.first() {
                Some((_, v)) => v.data_type(schema)?,
                None => other
                    .as_ref()
                    .map(|e| e.data_type(schema))
                    .transpose()?
                    .unwrap_or(DataType::Null),
            },
            Expr::Cast(_, t) | Expr::TryCast(_, t) => t.clone(),
            Expr::Call(f, args) => match f {
                Func::DatePart(_) => DataType::Int64,
                Func::DateTrunc(_) => args[0].data_type(schema)?,
                Func::Greatest | Func::Least => args[0].data_type(schema)?,
                Func::Length => DataType::Int64,
                Func::Substring => DataType::Utf8,
                Func::Coalesce => {
                    let mut t = DataType::Null;
                    for a in args {
                        t = a.data_type(schema)?;
                        if !t.is_null() {
                            break;
                        }
                    }
                    t
                }
                Func::Abs => args[0].data_type(schema)?,
                Func::RegexpLike(_) => DataType::Boolean,
                Func::Strptime => {
                    DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None)
                }
                Func::PackRow => DataType::FixedSizeBinary(8 * args.len() as i32),
                Func::PredictLogistic => DataType::Float64,
                Func::Lib(l) => l.return_type(
                    &args
                        .iter()
                        .map(|a| a.data_type(schema))
                        .collect::<Result<Vec<_>>>()?,
                ),
                Func::Round => crate::functions::round_type(
                    &args[0].data_type(schema)?,
                    crate::functions::digits(args)?,
                ),
                _ => DataType::Utf8,
            },
        })
    }

    /// Evaluates on `batch`. Deep expressions (up to the binder's `MAX_EXPR_DEPTH`) get
    /// more stack as they need it, on any thread.
    pub fn eval(&self, batch: &RecordBatch) -> Result<Value> {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.eval_here(batch))
    }

    fn eval_here(&self, batch: &RecordBatch) -> Result<Value> {
        match self {
            Expr::Column(i) => Ok(Value::Array(batch.column(*i).clone())),
            Expr::Literal(a) => Ok(Value::Scalar(a.clone())),
            Expr::Binary(l, op, r) => {
                let lv = l.eval(batch)?;
                match (r.eval(batch), op) {
                    (Ok(rv), _) => binary(&lv, *op, &rv),
                    // `x <> 0 AND 10 / x > 1`: the right side failed somewhere; it only
                    // matters where the left side has not decided already, so it is
                    // evaluated again on those rows alone (as a row-at-a-time engine would).
                    (Err(_), BinOp::And | BinOp::Or) => {
                        let rows = batch.num_rows();
                        let la = lv.clone().into_array(rows)?;
                        let la = as_bool(&la)?;
                        // Undecided: not false for AND, not true for OR.
                        let open = if *op == BinOp::And {
                            boolean::not(&null_as_false(&boolean::not(la)?))?
                        } else {
                            boolean::not(&null_as_false(la))?
                        };
                        let rv = Value::Array(eval_where(r, batch, &open)?);
                        binary(&lv, *op, &rv)
                    }
                    (Err(e), _) => Err(e),
                }
            }
            Expr::Not(e) => e
                .eval(batch)?
                .map(|a| Ok(Arc::new(boolean::not(as_bool(a)?)?))),
            Expr::Neg(e) => e.eval(batch)?.map(|a| Ok(numeric::neg(a)?)),
            Expr::IsNull(e, negated) => e.eval(batch)?.map(|a| {
                let r = if *negated {
                    boolean::is_not_null(a)?
                } else {
                    boolean::is_null(a)?
                };
                Ok(Arc::new(r) as ArrayRef)
            }),
            Expr::Like(e, p, negated) => {
                let (v, p) = (e.eval(batch)?, p.eval(batch)?);
                if let (Value::Array(a), Value::Scalar(pat)) = (&v, &p)
                    && let Some(r) = crate::like::like_parts(a, pat, *negated)
                {
                    return Ok(Value::Array(Arc::new(r)));
                }
                let r = if *negated {
                    arrow::compute::kernels::comparison::nlike(
                        v.datum().as_ref(),
                        p.datum().as_ref(),
                    )?
                } else {
                    arrow::compute::kernels::comparison::like(
                        v.datum().as_ref(),
                        p.datum().as_ref(),
                    )?
                };
                let r: ArrayRef = Arc::new(r);
                Ok(if v.is_scalar() {
                    Value::Scalar(r)
                } else {
                    Value::Array(r)
                })
            }
            Expr::InList(e, list, negated) => {
                let v = e.eval(batch)?;
                let mut acc: Option<Value> = None;
                for item in list {
                    let hit = binary(&v, BinOp::Eq, &item.eval(batch)?)?;
                    acc = Some(match acc {
                        None => hit,
                        Some(a) => binary(&a, BinOp::Or, &hit)?,
                    });
                }
                let acc =
                    acc.unwrap_or_else(|| Value::Scalar(Arc::new(BooleanArray::from(vec![false]))));
                if *negated {
                    acc.map(|a| Ok(Arc::new(boolean::not(as_bool(a)?)?)))
                } else {
                    Ok(acc)
                }
            }
            Expr::Case(branches, other) => {
                let rows = batch.num_rows();
                let ty = self.data_type(batch.schema().as_ref())?;
                // Every branch on every row (vectorized); if one fails, branch by branch
                // on only the rows that reach it, as SQL defines CASE (`CASE WHEN x > 0
                // THEN 1 / x END` never divides by zero).
                let eager = || -> Result<ArrayRef> {
                    let mut out = match other {
                        Some(e) => e.eval(batch)?.into_array(rows)?,
                        None => new_null_array(&ty, rows),
                    };
                    for (cond, val) in branches.iter().rev() {
                        let c = cond.eval(batch)?.into_array(rows)?;
                        let c = as_bool(&c)?;
                        // NULL conditions count as false.
                        let c = null_as_false(c);
                        let v = val.eval(batch)?.into_array(rows)?;
                        out = zip(&c, &v, &out)?;
                    }
                    Ok(out)
                };
                if let Ok(out) = eager() {
                    return Ok(Value::Array(out));
                }
                let mut out = new_null_array(&ty, rows);
                let mut open = BooleanArray::from(vec![true; rows]);
                for (cond, val) in branches {
                    let c = eval_where(cond, batch, &open)?;
                    let taken = boolean::and(&open, &null_as_false(as_bool(&c)?))?;
                    let v = eval_where(val, batch, &taken)?;
                    out = zip(&taken, &v, &out)?;
                    open = boolean::and(&open, &boolean::not(&taken)?)?;
                }
                if let Some(e) = other {
                    let v = eval_where(e, batch, &open)?;
                    out = zip(&open, &v, &out)?;
                }
                Ok(Value::Array(out))
            }
            Expr::Cast(e, t) => e.eval(batch)?.map(|a| strict_cast(a, t)),
            Expr::TryCast(e, t) => e
                .eval(batch)?
                .map(|a| Ok(arrow::compute::cast(&round_for_integer(a, t)?, t)?)),
            Expr::Call(f, args) => {
                let vals = args
                    .iter()
                    .map(|a| a.eval(batch))
                    .collect::<Result<Vec<_>>>()?;
                call(*f, &vals, batch.num_rows())
            }
        }
    }

    /// Column indices this expression reads.
    pub fn columns(&self, out: &mut Vec<usize>) {
        match self {
            Expr::Column(i) => {
                if !out.contains(i) {
                    out.push(*i)
                }
            }
            Expr::Literal(_) => {}
            Expr::Binary(l, _, r) | Expr::Like(l, r, _) => {
                l.columns(out);
                r.columns(out);
            }
            Expr::Not(e)
            | Expr::Neg(e)
            | Expr::IsNull(e, _)
            | Expr::Cast(e, _)
            | Expr::TryCast(e, _) => e.columns(out),
            Expr::InList(e, l, _) => {
                e.columns(out);
                l.iter().for_each(|x| x.columns(out));
            }
            Expr::Case(b, o) => {
                for (c, v) in b {
                    c.columns(out);
                    v.columns(out);
                }
                if let Some(o) = o {
                    o.columns(out);
                }
            }
            Expr::Call(_, a) => a.iter().for_each(|x| x.columns(out)),
        }
    }

    /// The same expression with column `i` renamed to `map(i)`.
    pub fn remap(&self, map: &impl Fn(usize) -> usize) -> Expr {
        let b = |e: &Expr| Box::new(e.remap(map));
        match self {
            Expr::Column(i) => Expr::Column(map(*i)),
            Expr::Literal(a) => Expr::Literal(a.clone()),
            Expr::Binary(l, op, r) => Expr::Binary(b(l), *op, b(r)),
            Expr::Not(e) => Expr::Not(b(e)),
            Expr::Neg(e) => Expr::Neg(b(e)),
            Expr::IsNull(e, n) => Expr::IsNull(b(e), *n),
            Expr::Like(e, p, n) => Expr::Like(b(e), b(p), *n),
            Expr::InList(e, l, n) => {
                Expr::InList(b(e), l.iter().map(|x| x.remap(map)).collect(), *n)
            }
            Expr::Case(br, o) => Expr::Case(
                br.iter()
                    .map(|(c, v)| (c.remap(map), v.remap(map)))
                    .collect(),
                o.as_ref().map(|o| b(o)),
            ),
            Expr::Cast(e, t) => Expr::Cast(b(e), t.clone()),
            Expr::TryCast(e, t) => Expr::TryCast(b(e), t.clone()),
            Expr::Call(f, a) => Expr::Call(*f, a.iter().map(|x| x.remap(map)).collect()),
        }
    }

    /// Folds constant sub-expressions (no column references) into literals.
    pub fn fold(self) -> Result<Expr> {
        let mut cols = Vec::new();
        self.columns(&mut cols);
        if cols.is_empty() && !matches!(self, Expr::Literal(_)) {
            let empty = RecordBatch::try_new_with_options(
                Arc::new(Schema::empty()),
                vec![],
                &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(1)),
            )?;
            let v = self.eval(&empty)?.into_array(1)?;
            return Ok(Expr::Literal(v));
        }
        Ok(self)
    }
}

fn binary(l: &Value, op: BinOp, r: &Value) -> Result<Value> {
    let scalar = l.is_scalar() && r.is_scalar();
    let wrap = |a: ArrayRef| {
        if scalar {
            Value::Scalar(a)
        } else {
            Value::Array(a)
        }
    };
    let (ld, rd) = (l.datum(), r.datum());
    let (ld, rd) = (ld.as_ref(), rd.as_ref());
    Ok(match op {
        BinOp::Eq => wrap(Arc::new(cmp::eq(ld, rd)?)),
        BinOp::NotEq => wrap(Arc::new(cmp::neq(ld, rd)?)),
        BinOp::Lt => wrap(Arc::new(cmp::lt(ld, rd)?)),
        BinOp::LtEq => wrap(Arc::new(cmp::lt_eq(ld, rd)?)),
        BinOp::Gt => wrap(Arc::new(cmp::gt(ld, rd)?)),
        BinOp::GtEq => wrap(Arc::new(cmp::gt_eq(ld, rd)?)),
        BinOp::And | BinOp::Or => {
            // A scalar takes the other side's length (which may be 0 rows).
            let rows = match (l.is_scalar(), r.is_scalar()) {
                (true, false) => r.array().len(),
                (false, _) => l.array().len(),
                (true, true) => 1,
            };
            let (la, ra) = (l.clone().into_array(rows)?, r.clone().into_array(rows)?);
            let (lb, rb) = (as_bool(&la)?, as_bool(&ra)?);
            let out = if op == BinOp::And {
                boolean::and_kleene(lb, rb)?
            } else {
                boolean::or_kleene(lb, rb)?
            };
            wrap(Arc::new(out))
        }
        _ => arith(l, op, r)?,
    })
}

fn arith(l: &Value, op: BinOp, r: &Value) -> Result<Value> {
    let scalar = l.is_scalar() && r.is_scalar();
    let (ld, rd) = (l.datum(), r.datum());
    let (ld, rd) = (ld.as_ref(), rd.as_ref());
    let a = match op {
        BinOp::Add => numeric::add(ld, rd)?,
        BinOp::Sub => numeric::sub(ld, rd)?,
        BinOp::Mul => numeric::mul(ld, rd)?,
        BinOp::Div | BinOp::Mod if r.array().data_type().is_floating() && has_zero(r.array())? => {
            // Integers and decimals fail on a zero divisor; floats do too (as in
            // PostgreSQL), rather than yield inf or NaN.
            return Err(SqlError::Execution("division by zero".into()));
        }
        BinOp::Div => numeric::div(ld, rd)?,
        BinOp::Mod => numeric::rem(ld, rd)?,
        other => {
            return Err(SqlError::Internal(format!(
                "{} is not arithmetic",
                other.symbol()
            )));
        }
    };
    Ok(if scalar {
        Value::Scalar(a)
    } else {
        Value::Array(a)
    })
}

/// `CAST`: like arrow's cast, but a value that does not parse or fit is an error naming
/// it (`TRY_CAST` is the lenient form).
pub fn strict_cast(a: &ArrayRef, t: &DataType) -> Result<ArrayRef> {
    let opts = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    let rounded = round_for_integer(a, t)?;
    arrow::compute::cast_with_options(&rounded, t, &opts).map_err(|e| {
        SqlError::Execution(format!(
            "CAST to {t} failed: {e} (TRY_CAST gives NULL instead of failing)"
        ))
    })
}

/// A float or decimal headed for an integer type, rounded first: to the nearest integer,
/// halves to even for floats and away from zero for decimals, as PostgreSQL does
/// (Arrow's cast would truncate: `CAST(8.75 AS BIGINT)` is 9, not 8).
pub fn round_for_integer(a: &ArrayRef, t: &DataType) -> Result<ArrayRef> {
    if !t.is_integer() {
        return Ok(a.clone());
    }
    match a.data_type() {
        DataType::Float64 | DataType::Float32 => {
            let f = arrow::compute::cast(a, &DataType::Float64)?;
            let f = f
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .ok_or_else(|| SqlError::Internal("cast to DOUBLE".into()))?;
            let r: arrow::array::Float64Array = f.unary(f64::round_ties_even);
            Ok(Arc::new(r))
        }
        DataType::Decimal128(p, s) if *s > 0 => {
            let d = a
                .as_any()
                .downcast_ref::<arrow::array::Decimal128Array>()
                .ok_or_else(|| SqlError::Internal("decimal array".into()))?;
            let unit = 10i128.pow(*s as u32);
            let r: arrow::array::Decimal128Array = d.unary(|v| {
                let (q, rem) = (v / unit, v % unit);
                let q = if rem.abs() * 2 >= unit {
                    q + v.signum()
                } else {
                    q
                };
                q * unit
            });
            Ok(Arc::new(r.with_precision_and_scale(*p, *s)?))
        }
        _ => Ok(a.clone()),
    }
}

/// `e` evaluated on the rows of `batch` where `mask` (no NULLs) is true; NULL elsewhere.
fn eval_where(e: &Expr, batch: &RecordBatch, mask: &BooleanArray) -> Result<ArrayRef> {
    let sub = arrow::compute::filter_record_batch(batch, mask)?;
    let v = e.eval(&sub)?.into_array(sub.num_rows())?;
    let mut next = 0u32;
    let at: arrow::array::UInt32Array = mask
        .values()
        .iter()
        .map(|m| {
            m.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    Ok(arrow::compute::take(&v, &at, None)?)
}

/// Whether a float array holds a zero (NULLs aside).
fn has_zero(a: &ArrayRef) -> Result<bool> {
    let z = arrow::compute::cast(a, &DataType::Float64)?;
    let z = z
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .ok_or_else(|| SqlError::Internal("cast to DOUBLE".into()))?;
    Ok(z.iter().any(|v| v == Some(0.0)))
}

fn call(f: Func, args: &[Value], rows: usize) -> Result<Value> {
    // A volatile function (random()) is a new value on every row.
    let scalar = args.iter().all(Value::is_scalar) && !matches!(f, Func::Lib(l) if l.volatile());
    let n = if scalar { 1 } else { rows };
    if f == Func::PredictLogistic {
        // The model is usually one value for all rows: not copied per row.
        let xs = args[1..]
            .iter()
            .map(|a| a.clone().into_array(n))
            .collect::<Result<Vec<_>>>()?;
        let out = crate::ml::predict(args[0].array(), args[0].is_scalar(), &xs, n)?;
        return Ok(if scalar {
            Value::Scalar(out)
        } else {
            Value::Array(out)
        });
    }
    let arrays = args
        .iter()
        .map(|a| a.clone().into_array(n))
        .collect::<Result<Vec<_>>>()?;
    let out: ArrayRef = match f {
        Func::DatePart(p) => crate::datetime::date_part(&arrays[0], p)?,
        Func::DateTrunc(p) => crate::datetime::date_trunc(&arrays[0], p)?,
        Func::Greatest | Func::Least => {
            // NULLs are skipped; the result is NULL only when every argument is.
            let mut acc = arrays[0].clone();
            for next in &arrays[1..] {
                let better = if f == Func::Greatest {
                    cmp::gt(next, &acc)?
                } else {
                    cmp::lt(next, &acc)?
                };
                let take_next = boolean::or_kleene(
                    &null_as_false(&better),
                    &arrow::compute::kernels::boolean::is_null(&acc)?,
                )?;
                acc = zip(&null_as_false(&take_next), next, &acc)?;
            }
            acc
        }
        Func::Substring => {
            // SQL's rule, by characters: the characters at positions [start, start + len)
            // that exist (positions count from 1), so `substring(s, 0, 2)` is the first
            // character only. Start and length may differ by row; NULL in any is NULL.
            let ints = |a: &ArrayRef| -> Result<arrow::array::Int64Array> {
                let c = arrow::compute::cast(a, &DataType::Int64)?;
                Ok(c.as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .ok_or_else(|| SqlError::Internal("cast to BIGINT".into()))?
                    .clone())
            };
            let starts = ints(&arrays[1])?;
            let lens = arrays.get(2).map(ints).transpose()?;
            let a = arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let strs = a
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .ok_or_else(|| SqlError::Plan("SUBSTRING needs a string".into()))?;
            // Constant start >= 1 and length: Arrow's kernel agrees with SQL and is faster.
            let constant = args[1..].iter().all(Value::is_scalar)
                && !starts.is_empty()
                && !starts.is_null(0)
                && starts.value(0) >= 1
                && lens
                    .as_ref()
                    .is_none_or(|l| !l.is_null(0) && l.value(0) >= 0);
            if constant {
                let out = arrow::compute::kernels::substring::substring_by_char(
                    strs,
                    starts.value(0) - 1,
                    lens.as_ref().map(|l| l.value(0) as u64),
                )?;
                return Ok(if scalar {
                    Value::Scalar(Arc::new(out))
                } else {
                    Value::Array(Arc::new(out))
                });
            }
            let mut out = arrow::array::StringBuilder::new();
            for r in 0..strs.len() {
                let len = match &lens {
                    Some(l) if l.is_null(r) => None,
                    Some(l) => Some(Some(l.value(r))),
                    None => Some(None),
                };
                let (Some(len), false, false) = (len, strs.is_null(r), starts.is_null(r)) else {
                    out.append_null();
                    continue;
                };
                if len.is_some_and(|l| l < 0) {
                    return Err(SqlError::Execution(
                        "negative substring length not allowed".into(),
                    ));
                }
                let start = starts.value(r);
                let from = start.max(1);
                let x = strs.value(r);
                let piece: String = match len.map(|l| start.saturating_add(l)) {
                    Some(e) if e <= from => String::new(),
                    Some(e) => x
                        .chars()
                        .skip((from - 1) as usize)
                        .take((e - from) as usize)
                        .collect(),
                    None => x.chars().skip((from - 1) as usize).collect(),
                };
                out.append_value(piece);
            }
            Arc::new(out.finish())
        }
        Func::Upper | Func::Lower => {
            let a = arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let s = a
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .ok_or_else(|| SqlError::Plan("UPPER/LOWER need a string".into()))?;
            let v: arrow::array::StringArray = s
                .iter()
                .map(|x| {
                    x.map(|x| {
                        if f == Func::Upper {
                            x.to_uppercase()
                        } else {
                            x.to_lowercase()
                        }
                    })
                })
                .collect();
            Arc::new(v)
        }
        Func::Length => {
            // Characters, not bytes.
            let a = arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let l: arrow::array::Int64Array = a
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .ok_or_else(|| SqlError::Plan("LENGTH needs a string".into()))?
                .iter()
                .map(|x| x.map(|x| x.chars().count() as i64))
                .collect();
            Arc::new(l)
        }
        Func::RegexpLike(_)
        | Func::RegexpReplace
        | Func::RegexpExtract
        | Func::Strftime
        | Func::Strptime => crate::regexp::eval(f, &arrays)?,
        Func::PackRow => crate::ml::pack_row_args(&arrays, n)?,
        Func::Lib(l) => l.eval(&arrays, n)?,
        other => crate::functions::eval(other, &arrays)?,
    };
    Ok(if scalar {
        Value::Scalar(out)
    } else {
        Value::Array(out)
    })
}

/// The type two operands of `op` meet at, if they need casting; `None` if they are fine.
pub fn coerce(op: BinOp, l: &DataType, r: &DataType) -> Option<(DataType, DataType)> {
    use DataType::*;
    if matches!(op, BinOp::And | BinOp::Or) {
        // A NULL literal in a logical operator is an unknown boolean.
        return match (l, r) {
            (Null, Null) => Some((Boolean, Boolean)),
            (Null, _) => Some((Boolean, r.clone())),
            (_, Null) => Some((l.clone(), Boolean)),
            _ => None,
        };
    }
    // A NULL operand takes the other operand's type (`n = NULL`, `x + NULL`).
    match (l, r) {
        (Null, Null) => return Some((Int64, Int64)),
        (Null, t) | (t, Null) => return Some((t.clone(), t.clone())),
        _ => {}
    }
    if l == r && !(op == BinOp::Div && matches!(l, Decimal128(..))) {
        return None;
    }
    let int = |t: &DataType| t.is_integer();
    // Division of decimals yields a double, as in DuckDB (a decimal quotient's scale would
    // have to be chosen arbitrarily).
    if op == BinOp::Div && (matches!(l, Decimal128(..)) || matches!(r, Decimal128(..))) {
        return Some((Float64, Float64));
    }
    // An integer meeting a decimal acts as DECIMAL(20, 0); comparisons then need one type.
    if op.is_comparison() {
        let as_dec = |t: &DataType| if int(t) { Decimal128(20, 0) } else { t.clone() };
        // One side a decimal, the other an integer (two integers of different widths meet
        // at BIGINT below: as decimals, `35 / COALESCE(47, CAST(NULL AS INTEGER))`
        // divided as floats).
        if let (Decimal128(..), Decimal128(..)) = (as_dec(l), as_dec(r))
            && (int(l) || int(r))
            && !(int(l) && int(r))
        {
            return coerce(op, &as_dec(l), &as_dec(r)).or(Some((as_dec(l), as_dec(r))));
        }
    }
    match (l, r) {
        (Decimal128(p1, s1), Decimal128(p2, s2)) if op.is_comparison() => {
            let s = *s1.max(s2);
            let whole = (*p1 as i8 - *s1).max(*p2 as i8 - *s2);
            let t = Decimal128(((whole + s) as u8).min(38), s);
            Some((t.clone(), t))
        }
        (Decimal128(..), Decimal128(..)) => None,
        (Decimal128(..), t) if int(t) => Some((l.clone(), Decimal128(20, 0))),
        (t, Decimal128(..)) if int(t) => Some((Decimal128(20, 0), r.clone())),
        (Decimal128(..), Float64 | Float32) | (Float64 | Float32, Decimal128(..)) => {
            Some((Float64, Float64))
        }
        (a, b) if int(a) && int(b) => Some((Int64, Int64)),
        (a, b) if (int(a) || a.is_floating()) && (int(b) || b.is_floating()) => {
            Some((Float64, Float64))
        }
        (Date32, Utf8) if op.is_comparison() => Some((Date32, Date32)),
        (Utf8, Date32) if op.is_comparison() => Some((Date32, Date32)),
        (Date32, Interval(_)) | (Interval(_), Date32) => None,
        (Timestamp(..), Utf8 | Utf8View | Date32) if op.is_comparison() => {
            Some((l.clone(), l.clone()))
        }
        (Utf8 | Utf8View | Date32, Timestamp(..)) if op.is_comparison() => {
            Some((r.clone(), r.clone()))
        }
        (Utf8View, Utf8) | (Utf8, Utf8View) => Some((Utf8View, Utf8View)),
        (Utf8, LargeUtf8) | (LargeUtf8, Utf8) => Some((Utf8, Utf8)),
        _ => None,
    }
}

/// The one type two values meet at when compared or listed together (an IN list, VALUES,
/// greatest/least): a NULL takes the other's type; `None` when there is none.
pub fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    if a.is_null() || a == b {
        return Some(b.clone());
    }
    if b.is_null() {
        return Some(a.clone());
    }
    match coerce(BinOp::Eq, a, b) {
        Some((x, y)) if x == y => Some(x),
        _ => None,
    }
}

/// A field for an expression's output.
pub fn field(name: &str, e: &Expr, schema: &Schema) -> Result<Field> {
    Ok(Field::new(name, e.data_type(schema)?, true))
}

/// An interval literal of months, days and nanoseconds.
pub fn interval(months: i32, days: i32, nanos: i64) -> ArrayRef {
    let _ = IntervalUnit::MonthDayNano;
    Arc::new(arrow::array::IntervalMonthDayNanoArray::from(vec![
        arrow::datatypes::IntervalMonthDayNano::new(months, days, nanos),
    ]))
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column(i) => write!(f, "#{i}"),
            Expr::Literal(a) => {
                let s = arrow::util::display::array_value_to_string(a, 0).unwrap_or_default();
                write!(f, "{s}")
            }
            Expr::Binary(l, op, r) => write!(f, "({l} {} {r})", op.symbol()),
            Expr::Not(e) => write!(f, "NOT {e}"),
            Expr::Neg(e) => write!(f, "-{e}"),
            Expr::IsNull(e, n) => write!(f, "{e} IS {}NULL", if *n { "NOT " } else { "" }),
            Expr::Like(e, p, n) => write!(f, "{e} {}LIKE {p}", if *n { "NOT " } else { "" }),
            Expr::InList(e, l, n) => {
                write!(f, "{e} {}IN (", if *n { "NOT " } else { "" })?;
                for (i, x) in l.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{x}")?;
                }
                write!(f, ")")
            }
            Expr::Case(b, o) => {
                write!(f, "CASE")?;
                for (c, v) in b {
                    write!(f, " WHEN {c} THEN {v}")?;
                }
                if let Some(o) = o {
                    write!(f, " ELSE {o}")?;
                }
                write!(f, " END")
            }
            Expr::Cast(e, t) => write!(f, "CAST({e} AS {t})"),
            Expr::TryCast(e, t) => write!(f, "TRY_CAST({e} AS {t})"),
            Expr::Call(func, a) => {
                write!(f, "{func:?}(")?;
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{x}")?;
                }
                write!(f, ")")
            }
        }
    }
}

//! The scalar function library: string (`split_part`, `lpad`, `initcap`, ...), math (`ln`,
//! `power`, `ceil`, `trunc`, ...) and date/time functions (`now`, `date_diff`, `make_date`,
//! `last_day`, `to_char`, ...), with PostgreSQL's semantics where PostgreSQL has the function
//! and DuckDB's where only DuckDB does.
//!
//! Each function declares its arguments' kinds ([`Arg`]); the binder casts arguments to
//! them (a NULL literal takes the kind's type), so the evaluators downcast without checks.
//! A function is one [`LibFn`] value in the plan; `text.rs`, `math.rs` and `time.rs`
//! evaluate them over whole columns.

mod math;
mod text;
mod time;

use crate::bind::Scope;
use crate::error::{Result, SqlError};
use crate::expr::{Expr, Func};
use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, TimeUnit};
use sqlparser::ast as sql;

/// Binds `name(args)` to a library function: arguments counted and cast to their kinds,
/// constant calls folded (except volatile ones); an error naming the call otherwise.
pub fn bind_call(name: &str, args: Vec<Expr>, scope: &Scope, e: &sql::Expr) -> Result<Expr> {
    let Some(f) = LibFn::lookup(name) else {
        return Err(SqlError::NotSupported(format!("function {name}()")));
    };
    let (kinds, required, variadic) = f.signature();
    if args.len() < required || (!variadic && args.len() > kinds.len()) {
        let want = match (required, kinds.len(), variadic) {
            (r, _, true) => format!("at least {r}"),
            (r, k, _) if r == k => r.to_string(),
            (r, k, _) => format!("{r} to {k}"),
        };
        return Err(SqlError::Plan(format!(
            "{e}: {name}() takes {want} argument(s), got {}",
            args.len()
        )));
    }
    let args = args
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let k = f.arg(i).expect("counted above");
            let t = arg_type(name, k, &a.data_type(&scope.schema)?)?;
            crate::bind::cast_to(a, &t, scope)
        })
        .collect::<Result<Vec<_>>>()?;
    let call = Expr::Call(Func::Lib(f), args);
    if f.volatile() { Ok(call) } else { call.fold() }
}

/// What an argument is cast to before the call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg {
    /// Text.
    Str,
    /// BIGINT.
    Int,
    /// DOUBLE.
    Float,
    /// Any number, kept as it is (integers, decimals and floats each have their rules).
    Num,
    /// A DATE or TIMESTAMP, kept as it is.
    Time,
}

/// A library function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)]
pub enum LibFn {
    SplitPart,
    Left,
    Right,
    Lpad,
    Rpad,
    Ltrim,
    Rtrim,
    Btrim,
    Initcap,
    Reverse,
    Repeat,
    Strpos,
    ConcatWs,
    Md5,
    StartsWith,
    EndsWith,
    Contains,
    Ascii,
    Chr,
    Translate,
    OctetLength,
    Sign,
    Cbrt,
    Ln,
    Log10,
    Log2,
    Log,
    Exp,
    Sqrt,
    Power,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Degrees,
    Radians,
    Pi,
    Ceil,
    Floor,
    Trunc,
    Random,
    IsNan,
    Now,
    CurrentDate,
    DateDiff,
    MakeDate,
    MakeTimestamp,
    LastDay,
    DayName,
    MonthName,
    Epoch,
    EpochMs,
    ToTimestamp,
    ToChar,
}

use Arg::*;
use LibFn::*;

const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

impl LibFn {
    /// The function a SQL name (lower case) calls, if the library has it.
    pub fn lookup(name: &str) -> Option<LibFn> {
        Some(match name {
            "split_part" => SplitPart,
            "left" => Left,
            "right" => Right,
            "lpad" => Lpad,
            "rpad" => Rpad,
            "ltrim" => Ltrim,
            "rtrim" => Rtrim,
            "btrim" => Btrim,
            "initcap" => Initcap,
            "reverse" => Reverse,
            "repeat" => Repeat,
            "strpos" | "instr" => Strpos,
            "concat_ws" => ConcatWs,
            "md5" => Md5,
            "starts_with" | "prefix" => StartsWith,
            "ends_with" | "suffix" => EndsWith,
            "contains" => Contains,
            "ascii" => Ascii,
            "chr" => Chr,
            "translate" => Translate,
            "octet_length" => OctetLength,
            "sign" => Sign,
            "cbrt" => Cbrt,
            "ln" => Ln,
            "log10" => Log10,
            "log2" => Log2,
            "log" => Log,
            "exp" => Exp,
            "sqrt" => Sqrt,
            "power" | "pow" => Power,
            "sin" => Sin,
            "cos" => Cos,
            "tan" => Tan,
            "asin" => Asin,
            "acos" => Acos,
            "atan" => Atan,
            "atan2" => Atan2,
            "degrees" => Degrees,
            "radians" => Radians,
            "pi" => Pi,
            "ceil" | "ceiling" => Ceil,
            "floor" => Floor,
            "trunc" => Trunc,
            "random" => Random,
            "isnan" => IsNan,
            "now" | "current_timestamp" | "transaction_timestamp" | "localtimestamp" => Now,
            "current_date" | "today" => CurrentDate,
            "date_diff" | "datediff" => DateDiff,
            "make_date" => MakeDate,
            "make_timestamp" => MakeTimestamp,
            "last_day" => LastDay,
            "dayname" => DayName,
            "monthname" => MonthName,
            "epoch" => Epoch,
            "epoch_ms" => EpochMs,
            "to_timestamp" => ToTimestamp,
            "to_char" => ToChar,
            _ => return None,
        })
    }

    /// Argument kinds, and how many are required (the rest are optional; a variadic
    /// function repeats its last kind).
    pub fn signature(self) -> (&'static [Arg], usize, bool) {
        match self {
            SplitPart => (&[Str, Str, Int], 3, false),
            Left | Right | Repeat => (&[Str, Int], 2, false),
            Lpad | Rpad => (&[Str, Int, Str], 2, false),
            Ltrim | Rtrim | Btrim => (&[Str, Str], 1, false),
            Initcap | Reverse | Md5 | Ascii | OctetLength => (&[Str], 1, false),
            Strpos | StartsWith | EndsWith | Contains => (&[Str, Str], 2, false),
            ConcatWs => (&[Str, Str], 2, true),
            Chr => (&[Int], 1, false),
            Translate => (&[Str, Str, Str], 3, false),
            Sign | Ceil | Floor => (&[Num], 1, false),
            Trunc => (&[Num, Int], 1, false),
            Cbrt | Ln | Log10 | Log2 | Exp | Sqrt | Sin | Cos | Tan | Asin | Acos | Atan
            | Degrees | Radians | IsNan => (&[Float], 1, false),
            Log => (&[Float, Float], 1, false),
            Power | Atan2 => (&[Float, Float], 2, false),
            Pi | Random | Now | CurrentDate => (&[], 0, false),
            DateDiff => (&[Str, Time, Time], 3, false),
            MakeDate => (&[Int, Int, Int], 3, false),
            MakeTimestamp => (&[Int, Int, Int, Int, Int, Float], 6, false),
            LastDay | DayName | MonthName | Epoch | EpochMs => (&[Time], 1, false),
            ToTimestamp => (&[Float], 1, false),
            ToChar => (&[Time, Str], 2, false),
        }
    }

    /// The kind of argument `i`, or `None` past the last one allowed.
    pub fn arg(self, i: usize) -> Option<Arg> {
        let (kinds, _, variadic) = self.signature();
        kinds
            .get(i)
            .copied()
            .or_else(|| variadic.then(|| *kinds.last().expect("variadic has kinds")))
    }

    /// Whether the function gives a new value each row (never folded into a constant).
    pub fn volatile(self) -> bool {
        self == Random
    }

    /// The result type over arguments of types `args` (already cast to their kinds).
    pub fn return_type(self, args: &[DataType]) -> DataType {
        match self {
            SplitPart | Left | Right | Lpad | Rpad | Ltrim | Rtrim | Btrim | Initcap | Reverse
            | Repeat | ConcatWs | Md5 | Chr | Translate | DayName | MonthName | ToChar => {
                DataType::Utf8
            }
            Strpos | Ascii | OctetLength | DateDiff | EpochMs => DataType::Int64,
            StartsWith | EndsWith | Contains | IsNan => DataType::Boolean,
            Sign => match &args[0] {
                t if t.is_integer() => DataType::Int64,
                _ => DataType::Float64,
            },
            Ceil | Floor | Trunc => math::rounded_type(&args[0], self == Trunc && args.len() > 1),
            MakeDate | LastDay | CurrentDate => DataType::Date32,
            MakeTimestamp | Now | ToTimestamp => TIMESTAMP,
            _ => DataType::Float64,
        }
    }

    /// Evaluates over argument columns of `rows` rows, each cast to its kind.
    pub fn eval(self, args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
        match self {
            SplitPart | Left | Right | Lpad | Rpad | Ltrim | Rtrim | Btrim | Initcap | Reverse
            | Repeat | Strpos | ConcatWs | Md5 | StartsWith | EndsWith | Contains | Ascii | Chr
            | Translate | OctetLength => text::eval(self, args),
            Sign | Cbrt | Ln | Log10 | Log2 | Log | Exp | Sqrt | Power | Sin | Cos | Tan | Asin
            | Acos | Atan | Atan2 | Degrees | Radians | Pi | Ceil | Floor | Trunc | Random
            | IsNan => math::eval(self, args, rows),
            Now | CurrentDate | DateDiff | MakeDate | MakeTimestamp | LastDay | DayName
            | MonthName | Epoch | EpochMs | ToTimestamp | ToChar => time::eval(self, args, rows),
        }
    }
}

/// The type an argument of kind `k` is cast to, from its type `t`; an error if it cannot be.
pub fn arg_type(f: &str, k: Arg, t: &DataType) -> Result<DataType> {
    let bad = || {
        SqlError::Plan(format!(
            "type error in {f}(): expected {}, got {t}",
            match k {
                Num | Int | Float => "a number",
                Time => "a DATE or TIMESTAMP",
                Str => "text",
            }
        ))
    };
    Ok(match (k, t) {
        (Str, _) => DataType::Utf8,
        (Int | Float | Num, t) if !(t.is_numeric() || t.is_null()) => return Err(bad()),
        (Int, _) => DataType::Int64,
        (Float, _) => DataType::Float64,
        (Num, DataType::Null) => DataType::Float64,
        (Num, t) => t.clone(),
        (Time, DataType::Date32 | DataType::Timestamp(..)) => t.clone(),
        (Time, DataType::Null | DataType::Utf8) => TIMESTAMP,
        (Time, _) => return Err(bad()),
    })
}

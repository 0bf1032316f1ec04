//! Binding SQL expressions (the `sqlparser` AST) to [`Expr`]s over a [`Scope`]: names
//! resolve to column indices, literals get Arrow types, operands are coerced to a common
//! type, and constant sub-expressions are folded.

use crate::error::{Result, SqlError};
use crate::expr::{BinOp, Expr, Func, coerce, common_type, interval};
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, NullArray,
    StringArray,
};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use sqlparser::ast as sql;
use std::sync::Arc;

/// The names of a relation's columns: `(qualifier, name)` per column, and their types.
#[derive(Clone, Debug)]
pub struct Scope {
    /// Qualifier (table alias) and name of each column, lower-cased.
    pub names: Vec<(Option<String>, String)>,
    /// Types.
    pub schema: SchemaRef,
    /// Every column of the underlying tables (`qualifier.name`), read or not: what an
    /// "unknown column" error suggests from.
    pub hints: Vec<String>,
}

/// Ends the qualifier of a column that only its qualifier reaches (`a.k` of `a JOIN b
/// USING (k)`, where a bare `k` and `*` mean the merged column).
pub const HIDDEN: char = '\u{1}';

impl Scope {
    /// A scope for `schema` whose columns all carry `qualifier`.
    pub fn new(schema: SchemaRef, qualifier: Option<&str>) -> Scope {
        Scope {
            names: schema
                .fields()
                .iter()
                .map(|f| (qualifier.map(str::to_lowercase), f.name().to_lowercase()))
                .collect(),
            schema,
            hints: Vec::new(),
        }
    }

    /// `self` followed by `other` (a join's output).
    pub fn join(&self, other: &Scope) -> Scope {
        let mut names = self.names.clone();
        names.extend(other.names.iter().cloned());
        let fields: Vec<_> = self
            .schema
            .fields()
            .iter()
            .chain(other.schema.fields().iter())
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let mut hints = self.hints.clone();
        hints.extend(other.hints.iter().cloned());
        Scope {
            names,
            schema: Arc::new(Schema::new(fields)),
            hints,
        }
    }

    /// Whether `qualifier.name` names exactly one column (as [`Scope::resolve`] would
    /// succeed), without building the error's suggestions: planners ask this of every
    /// condition against every relation, so it must stay cheap.
    pub fn has(&self, qualifier: Option<&str>, name: &str) -> bool {
        self.hits(qualifier, name).len() == 1
    }

    fn hits(&self, qualifier: Option<&str>, name: &str) -> Vec<usize> {
        let name = name.to_lowercase();
        let q = qualifier.map(str::to_lowercase);
        self.names
            .iter()
            .enumerate()
            .filter(|(_, (cq, cn))| {
                *cn == name
                    && match (&q, cq) {
                        // A column a USING join merged: reachable only by its qualifier.
                        (None, Some(c)) => !c.ends_with(HIDDEN),
                        (None, None) => true,
                        (Some(q), Some(c)) => c.trim_end_matches(HIDDEN) == q,
                        (Some(_), None) => false,
                    }
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Finds a column; the error names the closest existing ones.
    pub fn resolve(&self, qualifier: Option<&str>, name: &str) -> Result<usize> {
        let name = name.to_lowercase();
        let q = qualifier.map(str::to_lowercase);
        let hits = self.hits(qualifier, &name);
        match hits.as_slice() {
            [i] => Ok(*i),
            [] => {
                let full = match &q {
                    Some(q) => format!("{q}.{name}"),
                    None => name.clone(),
                };
                let mut shown: Vec<String> = self
                    .names
                    .iter()
                    .map(|(cq, cn)| match cq {
                        Some(cq) => format!("{cq}.{cn}"),
                        None => cn.clone(),
                    })
                    .collect();
                for h in &self.hints {
                    if !shown.contains(h) {
                        shown.push(h.clone());
                    }
                }
                let mut near: Vec<(usize, String)> = shown
                    .into_iter()
                    .map(|s| {
                        let last = s.rsplit('.').next().unwrap_or(&s).to_string();
                        (distance(&name, &last), s)
                    })
                    .collect();
                near.sort();
                let near: Vec<String> = near.into_iter().take(3).map(|(_, n)| n).collect();
                Err(SqlError::Plan(format!(
                    "unknown column {full}; did you mean {}?",
                    near.join(", ")
                )))
            }
            _ => Err(SqlError::Plan(format!(
                "column {name} is ambiguous: qualify it with a table name or alias"
            ))),
        }
    }
}

/// Edit distance (for "did you mean").
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Runs an uncorrelated subquery at planning time: its rows and schema.
pub type SubqueryEval = std::rc::Rc<
    dyn Fn(
        &sql::Query,
    ) -> Result<(
        Vec<arrow::record_batch::RecordBatch>,
        arrow::datatypes::SchemaRef,
    )>,
>;

/// Values an uncorrelated `IN (SELECT ...)` inside an expression may bring into the plan as
/// a list (larger ones belong in a join: write the IN as a WHERE conjunct).
pub const MAX_IN_SUBQUERY_VALUES: usize = 100_000;

fn run_subquery(
    q: &sql::Query,
) -> Result<(
    Vec<arrow::record_batch::RecordBatch>,
    arrow::datatypes::SchemaRef,
)> {
    let eval = SUBQUERY.with(|s| s.borrow().clone());
    match eval {
        Some(eval) => eval(q),
        None => Err(SqlError::NotSupported("subqueries here".into())),
    }
}

/// A literal of each value of a one-column result.
fn values_of(
    batches: &[arrow::record_batch::RecordBatch],
    schema: &arrow::datatypes::Schema,
    what: &str,
) -> Result<Vec<Expr>> {
    if schema.fields().len() != 1 {
        return Err(SqlError::Plan(format!(
            "{what} returns {} columns; it must return one",
            schema.fields().len()
        )));
    }
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(Expr::Literal(b.column(0).slice(r, 1)));
        }
    }
    Ok(out)
}

thread_local! {
    static SUBQUERY: std::cell::RefCell<Option<SubqueryEval>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with `eval` answering uncorrelated scalar subqueries (it runs them once, at
/// planning time, and the result becomes a literal).
pub fn with_subqueries<R>(eval: SubqueryEval, f: impl FnOnce() -> R) -> R {
    let old = SUBQUERY.with(|s| s.borrow_mut().replace(eval));
    let r = f();
    SUBQUERY.with(|s| *s.borrow_mut() = old);
    r
}

/// Replaces whole sub-expressions before binding (aggregates and group keys after a
/// GROUP BY become columns of the aggregate's output).
pub type Hook<'a> = &'a dyn Fn(&sql::Expr) -> Option<Expr>;

fn lit(a: ArrayRef) -> Expr {
    Expr::Literal(a)
}

fn parse_number(s: &str) -> Result<Expr> {
    if let Ok(i) = s.parse::<i64>() {
        return Ok(lit(Arc::new(Int64Array::from(vec![i]))));
    }
    if let Some((whole, frac)) = s.split_once('.')
        && !s.contains(['e', 'E'])
    {
        let digits = format!("{whole}{frac}");
        if let Ok(v) = digits.parse::<i128>() {
            let scale = frac.len() as i8;
            let precision = (digits
                .trim_start_matches(['-', '0'])
                .len()
                .max(scale as usize + 1))
            .min(38) as u8;
            let a = Decimal128Array::from(vec![v]).with_precision_and_scale(precision, scale)?;
            return Ok(lit(Arc::new(a)));
        }
    }
    s.parse::<f64>()
        .map(|f| lit(Arc::new(Float64Array::from(vec![f]))))
        .map_err(|_| SqlError::Plan(format!("bad number {s}")))
}

fn parse_date(s: &str) -> Result<Expr> {
    let a = arrow::compute::cast(
        &(Arc::new(StringArray::from(vec![s])) as ArrayRef),
        &DataType::Date32,
    )
    .map_err(|_| SqlError::Plan(format!("bad date literal '{s}': expected YYYY-MM-DD")))?;
    if a.is_null(0) {
        return Err(SqlError::Plan(format!(
            "bad date literal '{s}': expected YYYY-MM-DD"
        )));
    }
    let _ = Date32Array::from(vec![0]);
    Ok(lit(a))
}

use arrow::array::Array;

/// The Arrow type of a SQL type name.
pub fn sql_type(t: &sql::DataType) -> Result<DataType> {
    use sql::DataType as T;
    Ok(match t {
        T::TinyInt(_) => DataType::Int8,
        T::SmallInt(_) | T::Int16 | T::Int2(_) => DataType::Int16,
        T::Int(_) | T::Integer(_) | T::Int32 | T::Int4(_) => DataType::Int32,
        // INT8 is PostgreSQL's and DuckDB's name for BIGINT (8 bytes).
        T::BigInt(_) | T::Int64 | T::Int8(_) => DataType::Int64,
        T::Timestamp(_, sql::TimezoneInfo::WithTimeZone | sql::TimezoneInfo::Tz) => {
            DataType::Timestamp(
                arrow::datatypes::TimeUnit::Microsecond,
                Some("+00:00".into()),
            )
        }
        T::Timestamp(..) | T::TimestampNtz(_) | T::Datetime(_) => {
            DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None)
        }
        T::Time(..) => DataType::Time64(arrow::datatypes::TimeUnit::Microsecond),
        T::Double(_) | T::Float(_) | T::Real | T::DoublePrecision | T::Float64 => DataType::Float64,
        T::Decimal(info) | T::Numeric(info) => match info {
            sql::ExactNumberInfo::PrecisionAndScale(p, s) => {
                DataType::Decimal128(*p as u8, *s as i8)
            }
            sql::ExactNumberInfo::Precision(p) => DataType::Decimal128(*p as u8, 0),
            sql::ExactNumberInfo::None => DataType::Decimal128(38, 10),
        },
        T::Varchar(_)
        | T::Text
        | T::String(_)
        | T::Char(_)
        | T::CharVarying(_)
        | T::Character(_) => DataType::Utf8,
        T::Date => DataType::Date32,
        T::Boolean | T::Bool => DataType::Boolean,
        other => return Err(SqlError::NotSupported(format!("type {other}"))),
    })
}

fn value_string(v: &sql::Expr) -> Option<String> {
    match v {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::SingleQuotedString(s) | sql::Value::Number(s, _) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// How deep a bound expression may nest (after `AND`/`OR` chains are balanced, so a chain
/// of thousands of `OR`s counts as a few levels). Deeper ones are refused with an error.
pub const MAX_EXPR_DEPTH: usize = 1000;

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Binds `e` in `scope`; `hook` may replace sub-expressions first.
pub fn bind(e: &sql::Expr, scope: &Scope, hook: Option<Hook>) -> Result<Expr> {
    let depth = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let r = if depth > MAX_EXPR_DEPTH {
        Err(SqlError::Plan(format!(
            "expression nested more than {MAX_EXPR_DEPTH} levels deep; split it up (long \
             AND/OR chains are fine, as are IN lists)"
        )))
    } else {
        bind_inner(e, scope, hook)
    };
    DEPTH.with(|d| d.set(d.get() - 1));
    r
}

/// `a OR b OR c ...` (or AND): the operands of a chain of one logical operator, found
/// without recursion, so that thousands of terms bind into a balanced tree.
fn chain(e: &sql::Expr) -> Option<(BinOp, Vec<&sql::Expr>)> {
    let op = match e {
        sql::Expr::BinaryOp {
            op: sql::BinaryOperator::Or,
            ..
        } => sql::BinaryOperator::Or,
        sql::Expr::BinaryOp {
            op: sql::BinaryOperator::And,
            ..
        } => sql::BinaryOperator::And,
        _ => return None,
    };
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(x) = stack.pop() {
        match x {
            sql::Expr::BinaryOp { left, op: o, right } if *o == op => {
                stack.push(right);
                stack.push(left);
            }
            sql::Expr::Nested(inner) if matches!(inner.as_ref(), sql::Expr::BinaryOp { op: o, .. } if *o == op) => {
                stack.push(inner)
            }
            other => out.push(other),
        }
    }
    let op = if op == sql::BinaryOperator::Or {
        BinOp::Or
    } else {
        BinOp::And
    };
    Some((op, out))
}

/// `x` as type `t` (a cast only when it has another type).
pub(crate) fn cast_to(x: Expr, t: &DataType, scope: &Scope) -> Result<Expr> {
    if x.data_type(&scope.schema)? == *t {
        Ok(x)
    } else {
        Expr::Cast(Box::new(x), t.clone()).fold()
    }
}

/// The one type `values` meet at (NULLs take the others'); an error naming `e` when two
/// do not combine.
fn result_type<'v>(
    values: impl Iterator<Item = &'v Expr>,
    scope: &Scope,
    e: &sql::Expr,
) -> Result<DataType> {
    let mut t = DataType::Null;
    for v in values {
        let vt = v.data_type(&scope.schema)?;
        t = common_type(&t, &vt).ok_or_else(|| {
            SqlError::Plan(format!(
                "type error in {e}: results of types {t} and {vt} do not combine"
            ))
        })?;
    }
    Ok(t)
}

/// A string literal read as type `t` (for [`binary`]); the error names the expression.
fn cast_literal(x: Expr, t: &DataType, sql_e: &sql::Expr) -> Result<Expr> {
    let shown = match &x {
        Expr::Literal(a) => arrow::util::display::array_value_to_string(a, 0).unwrap_or_default(),
        _ => String::new(),
    };
    Expr::Cast(Box::new(x), t.clone()).fold().map_err(|e| {
        SqlError::Plan(format!(
            "in {sql_e}: '{shown}' is not a valid {} ({e})",
            crate::sql_type_name(t)
        ))
    })
}

/// `x`, or, when it is an untyped NULL (`NULL`, `abs(NULL)`), a NULL of type `t`.
fn null_as(x: Expr, t: DataType, scope: &Scope) -> Result<Expr> {
    if x.data_type(&scope.schema)?.is_null() {
        Expr::Cast(Box::new(x), t).fold()
    } else {
        Ok(x)
    }
}

/// `parts[0] op parts[1] op ...` as a balanced tree (AND and OR are associative, in
/// three-valued logic too).
fn balanced(mut parts: Vec<Expr>, op: BinOp) -> Expr {
    while parts.len() > 1 {
        let mut next = Vec::with_capacity(parts.len().div_ceil(2));
        let mut it = parts.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => Expr::Binary(Box::new(a), op, Box::new(b)),
                None => a,
            });
        }
        parts = next;
    }
    parts.pop().expect("a chain has operands")
}

fn bind_inner(e: &sql::Expr, scope: &Scope, hook: Option<Hook>) -> Result<Expr> {
    if let Some(h) = hook
        && let Some(x) = h(e)
    {
        return Ok(x);
    }
    let b = |x: &sql::Expr| bind(x, scope, hook);
    if let Some((op, parts)) = chain(e) {
        let mut bound = Vec::with_capacity(parts.len());
        for p in parts {
            let x = null_as(b(p)?, DataType::Boolean, scope)?;
            bound.push(match x.data_type(&scope.schema)? {
                DataType::Boolean => x,
                other => {
                    return Err(SqlError::Plan(format!(
                        "type error in {p}: {} needs booleans, got {other}",
                        if op == BinOp::Or { "OR" } else { "AND" }
                    )));
                }
            });
        }
        return balanced(bound, op).fold();
    }
    let out = match e {
        sql::Expr::Identifier(id) => Expr::Column(scope.resolve(None, &id.value)?),
        sql::Expr::CompoundIdentifier(ids) => {
            let n = ids.len();
            if n < 2 {
                return Err(SqlError::Plan(format!("bad name {e}")));
            }
            Expr::Column(scope.resolve(Some(&ids[n - 2].value), &ids[n - 1].value)?)
        }
        sql::Expr::Nested(x) => b(x)?,
        sql::Expr::Value(v) => match &v.value {
            sql::Value::Number(s, _) => parse_number(s)?,
            sql::Value::SingleQuotedString(s) => lit(Arc::new(StringArray::from(vec![s.as_str()]))),
            sql::Value::Boolean(x) => lit(Arc::new(BooleanArray::from(vec![*x]))),
            sql::Value::Null => lit(Arc::new(NullArray::new(1))),
            other => return Err(SqlError::NotSupported(format!("literal {other}"))),
        },
        sql::Expr::TypedString(t) => {
            let s = match &t.value.value {
                sql::Value::SingleQuotedString(s) => s.clone(),
                other => other.to_string(),
            };
            match sql_type(&t.data_type)? {
                DataType::Date32 => parse_date(&s)?,
                other => {
                    Expr::Cast(Box::new(lit(Arc::new(StringArray::from(vec![s])))), other).fold()?
                }
            }
        }
        sql::Expr::Interval(iv) => {
            let text = value_string(&iv.value)
                .ok_or_else(|| SqlError::NotSupported(format!("interval {e}")))?;
            let mut parts = text.split_whitespace();
            let n: i32 = parts
                .next()
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| SqlError::Plan(format!("bad interval {e}")))?;
            let unit = match (&iv.leading_field, parts.next()) {
                (Some(f), _) => f.to_string().to_lowercase(),
                (None, Some(u)) => u.to_lowercase(),
                (None, None) => "day".into(),
            };
            let a = match unit.trim_end_matches('s') {
                "year" => interval(12 * n, 0, 0),
                "month" => interval(n, 0, 0),
                "week" => interval(0, 7 * n, 0),
                "day" => interval(0, n, 0),
                "hour" => interval(0, 0, i64::from(n) * 3_600_000_000_000),
                "minute" => interval(0, 0, i64::from(n) * 60_000_000_000),
                "second" => interval(0, 0, i64::from(n) * 1_000_000_000),
                other => return Err(SqlError::NotSupported(format!("interval unit {other}"))),
            };
            lit(a)
        }
        sql::Expr::BinaryOp {
            left,
            op: sql::BinaryOperator::StringConcat,
            right,
        } => Expr::Call(Func::ConcatOp, vec![b(left)?, b(right)?]),
        sql::Expr::Trim {
            expr,
            trim_where: None,
            trim_what: None,
            trim_characters: None,
        } => Expr::Call(Func::Trim, vec![b(expr)?]),
        sql::Expr::Trim {
            expr,
            trim_where,
            trim_what,
            trim_characters: None,
        } => {
            // TRIM([LEADING | TRAILING | BOTH] [chars] FROM s): ltrim / rtrim / btrim.
            let name = match trim_where {
                Some(sql::TrimWhereField::Leading) => "ltrim",
                Some(sql::TrimWhereField::Trailing) => "rtrim",
                _ => "btrim",
            };
            let mut args = vec![b(expr)?];
            if let Some(w) = trim_what {
                args.push(b(w)?);
            }
            crate::library::bind_call(name, args, scope, e)?
        }
        sql::Expr::BinaryOp { left, op, right } => {
            let op = match op {
                sql::BinaryOperator::Plus => BinOp::Add,
                sql::BinaryOperator::Minus => BinOp::Sub,
                sql::BinaryOperator::Multiply => BinOp::Mul,
                sql::BinaryOperator::Divide => BinOp::Div,
                sql::BinaryOperator::Modulo => BinOp::Mod,
                sql::BinaryOperator::Eq => BinOp::Eq,
                sql::BinaryOperator::NotEq => BinOp::NotEq,
                sql::BinaryOperator::Lt => BinOp::Lt,
                sql::BinaryOperator::LtEq => BinOp::LtEq,
                sql::BinaryOperator::Gt => BinOp::Gt,
                sql::BinaryOperator::GtEq => BinOp::GtEq,
                sql::BinaryOperator::And => BinOp::And,
                sql::BinaryOperator::Or => BinOp::Or,
                // PostgreSQL's regular-expression match operators.
                sql::BinaryOperator::PGRegexMatch
                | sql::BinaryOperator::PGRegexIMatch
                | sql::BinaryOperator::PGRegexNotMatch
                | sql::BinaryOperator::PGRegexNotIMatch => {
                    let insensitive = matches!(
                        op,
                        sql::BinaryOperator::PGRegexIMatch | sql::BinaryOperator::PGRegexNotIMatch
                    );
                    let args = vec![
                        null_as(b(left)?, DataType::Utf8, scope)?,
                        null_as(b(right)?, DataType::Utf8, scope)?,
                    ];
                    let m = Expr::Call(Func::RegexpLike(insensitive), args);
                    return if matches!(
                        op,
                        sql::BinaryOperator::PGRegexNotMatch
                            | sql::BinaryOperator::PGRegexNotIMatch
                    ) {
                        Expr::Not(Box::new(m)).fold()
                    } else {
                        m.fold()
                    };
                }
                other => return Err(SqlError::NotSupported(format!("operator {other}"))),
            };
            binary(b(left)?, op, b(right)?, scope, e)?
        }
        sql::Expr::UnaryOp { op, expr } => match op {
            sql::UnaryOperator::Not => Expr::Not(Box::new(b(expr)?)),
            sql::UnaryOperator::Minus => {
                // `- NULL` is a NULL number.
                Expr::Neg(Box::new(null_as(b(expr)?, DataType::Int64, scope)?))
            }
            sql::UnaryOperator::Plus => b(expr)?,
            other => return Err(SqlError::NotSupported(format!("operator {other}"))),
        },
        sql::Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let x = b(expr)?;
            let both = binary(
                binary(x.clone(), BinOp::GtEq, b(low)?, scope, e)?,
                BinOp::And,
                binary(x, BinOp::LtEq, b(high)?, scope, e)?,
                scope,
                e,
            )?;
            if *negated {
                Expr::Not(Box::new(both))
            } else {
                both
            }
        }
        sql::Expr::In {
            expr,
            target: sql::InTarget::List(list),
            negated,
            ..
        } => {
            let x = b(expr)?;
            let items = list.iter().map(b).collect::<Result<Vec<_>>>()?;
            in_list(x, items, *negated, scope, e)?
        }
        sql::Expr::Like {
            negated,
            expr,
            pattern,
            escape_char,
            any,
        }
        | sql::Expr::ILike {
            negated,
            expr,
            pattern,
            escape_char,
            any,
        } => {
            if escape_char.is_some() || *any {
                return Err(SqlError::NotSupported(format!(
                    "{e}: LIKE with ESCAPE or ANY (the escape character is a backslash)"
                )));
            }
            // `NULL LIKE p` and `x LIKE NULL` are unknown: a NULL side is NULL text.
            let x = null_as(b(expr)?, DataType::Utf8, scope)?;
            let p = null_as(b(pattern)?, DataType::Utf8, scope)?;
            // ILIKE: both sides in lower case.
            let (x, p) = if matches!(e, sql::Expr::ILike { .. }) {
                let lower = |v: Expr| cast_to(v, &DataType::Utf8, scope);
                (
                    Expr::Call(Func::Lower, vec![lower(x)?]),
                    Expr::Call(Func::Lower, vec![lower(p)?]).fold()?,
                )
            } else {
                (x, p)
            };
            let (xt, pt) = (x.data_type(&scope.schema)?, p.data_type(&scope.schema)?);
            let p = if xt != pt {
                Expr::Cast(Box::new(p), xt).fold()?
            } else {
                p
            };
            Expr::Like(Box::new(x), Box::new(p), *negated)
        }
        sql::Expr::Position { expr, r#in } => {
            crate::library::bind_call("strpos", vec![b(r#in)?, b(expr)?], scope, e)?
        }
        sql::Expr::Ceil { expr, field } | sql::Expr::Floor { expr, field } => {
            if !matches!(
                field,
                sql::CeilFloorKind::DateTimeField(sql::DateTimeField::NoDateTime)
            ) {
                return Err(SqlError::NotSupported(format!(
                    "{e}: CEIL/FLOOR with a scale or TO a date part"
                )));
            }
            let name = if matches!(e, sql::Expr::Ceil { .. }) {
                "ceil"
            } else {
                "floor"
            };
            crate::library::bind_call(name, vec![b(expr)?], scope, e)?
        }
        sql::Expr::IsDistinctFrom(l, r) | sql::Expr::IsNotDistinctFrom(l, r) => {
            // NULL-safe comparison: two NULLs are not distinct, one NULL is.
            let (x, y) = (b(l)?, b(r)?);
            let bool_lit = |v: bool| lit(Arc::new(BooleanArray::from(vec![v])));
            let null_x = Expr::IsNull(Box::new(x.clone()), false);
            let null_y = Expr::IsNull(Box::new(y.clone()), false);
            let distinct = Expr::Case(
                vec![
                    (
                        Expr::Binary(
                            Box::new(null_x.clone()),
                            BinOp::And,
                            Box::new(null_y.clone()),
                        ),
                        bool_lit(false),
                    ),
                    (
                        Expr::Binary(Box::new(null_x), BinOp::Or, Box::new(null_y)),
                        bool_lit(true),
                    ),
                ],
                Some(Box::new(binary(x, BinOp::NotEq, y, scope, e)?)),
            );
            if matches!(e, sql::Expr::IsDistinctFrom(..)) {
                distinct
            } else {
                Expr::Not(Box::new(distinct))
            }
        }
        sql::Expr::IsTrue(x) => Expr::Call(
            Func::Coalesce,
            vec![b(x)?, lit(Arc::new(BooleanArray::from(vec![false])))],
        ),
        sql::Expr::IsNull(x) => Expr::IsNull(Box::new(b(x)?), false),
        sql::Expr::IsNotNull(x) => Expr::IsNull(Box::new(b(x)?), true),
        sql::Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let op = operand.as_ref().map(|o| b(o)).transpose()?;
            let mut branches = Vec::new();
            for w in conditions {
                let c = match &op {
                    Some(o) => binary(o.clone(), BinOp::Eq, b(&w.condition)?, scope, e)?,
                    None => b(&w.condition)?,
                };
                branches.push((c, b(&w.result)?));
            }
            let other = else_result.as_ref().map(|x| b(x)).transpose()?;
            // Every branch takes the type all results meet at (an integer and a double
            // make a double), never the first one's: that would truncate the others.
            let target = result_type(
                branches.iter().map(|(_, v)| v).chain(other.iter()),
                scope,
                e,
            )?;
            let fix = |v: Expr| -> Result<Expr> {
                let t = v.data_type(&scope.schema)?;
                if t == target {
                    Ok(v)
                } else {
                    Expr::Cast(Box::new(v), target.clone()).fold()
                }
            };
            let branches = branches
                .into_iter()
                .map(|(c, v)| Ok((c, fix(v)?)))
                .collect::<Result<Vec<_>>>()?;
            Expr::Case(branches, other.map(fix).transpose()?.map(Box::new))
        }
        sql::Expr::Cast {
            kind,
            expr,
            data_type,
            ..
        } => {
            let (x, t) = (b(expr)?, sql_type(data_type)?);
            match kind {
                sql::CastKind::TryCast | sql::CastKind::SafeCast => Expr::TryCast(Box::new(x), t),
                _ => Expr::Cast(Box::new(x), t),
            }
        }
        sql::Expr::Extract {
            field: sql::DateTimeField::Epoch,
            expr,
            ..
        } => crate::library::bind_call("epoch", vec![b(expr)?], scope, e)?,
        sql::Expr::Extract { field, expr, .. } => Expr::Call(
            Func::DatePart(crate::datetime::TimePart::from_field(field)?),
            vec![b(expr)?],
        ),
        sql::Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let mut args = vec![null_as(b(expr)?, DataType::Utf8, scope)?];
            args.push(match substring_from {
                Some(f) => b(f)?,
                None => lit(Arc::new(Int64Array::from(vec![1]))),
            });
            if let Some(f) = substring_for {
                args.push(b(f)?);
            }
            Expr::Call(Func::Substring, args)
        }
        sql::Expr::Function(f) => {
            let name = f.name.to_string().to_lowercase();
            // Scalar functions take none of these; ignoring one would change the answer.
            if f.filter.is_some()
                || f.over.is_some()
                || !f.within_group.is_empty()
                || f.null_treatment.is_some()
                || matches!(&f.args, sql::FunctionArguments::List(l)
                    if l.duplicate_treatment.is_some() || !l.clauses.is_empty())
            {
                return Err(SqlError::Plan(format!(
                    "{e}: FILTER, OVER, DISTINCT and ORDER BY apply to aggregate and window \
                     calls only (is {name} an aggregate Strata lacks?)"
                )));
            }
            let args = match &f.args {
                sql::FunctionArguments::List(l) => l
                    .args
                    .iter()
                    .map(|a| match a {
                        sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(x)) => b(x),
                        other => Err(SqlError::NotSupported(format!("argument {other}"))),
                    })
                    .collect::<Result<Vec<_>>>()?,
                sql::FunctionArguments::None => vec![],
                sql::FunctionArguments::Subquery(_) => {
                    return Err(SqlError::NotSupported("subquery arguments".into()));
                }
            };
            let func = match name.as_str() {
                "upper" => Func::Upper,
                "lower" => Func::Lower,
                "length" | "char_length" => Func::Length,
                "substring" | "substr" => Func::Substring,
                "coalesce" | "ifnull" => Func::Coalesce,
                "concat" => Func::Concat,
                "trim" => Func::Trim,
                "replace" => Func::Replace,
                "abs" => Func::Abs,
                "date_part" | "datepart" | "date_trunc" | "datetrunc" => {
                    let [part, x] = <[Expr; 2]>::try_from(args).map_err(|_| {
                        SqlError::Plan(format!("{e}: expected {name}('part', value)"))
                    })?;
                    let p = crate::datetime::part_arg(&part, &name)?;
                    let f = if name.contains("trunc") {
                        Func::DateTrunc(p)
                    } else {
                        Func::DatePart(p)
                    };
                    return Expr::Call(f, vec![x]).fold();
                }
                "year" | "quarter" | "month" | "week" | "day" | "hour" | "minute" | "second"
                | "dayofweek" | "dayofyear" => {
                    let p = crate::datetime::TimePart::parse(&name)?;
                    if args.len() != 1 {
                        return Err(SqlError::Plan(format!("{e}: {name}() takes one argument")));
                    }
                    return Expr::Call(Func::DatePart(p), args).fold();
                }
                "greatest" | "least" => {
                    if args.is_empty() {
                        return Err(SqlError::Plan(format!("{e}: needs arguments")));
                    }
                    // Every argument at one type.
                    let mut t = DataType::Null;
                    for a in &args {
                        let at = a.data_type(&scope.schema)?;
                        t = common_type(&t, &at).ok_or_else(|| {
                            SqlError::Plan(format!(
                                "type error in {e}: {t} and {at} cannot be compared"
                            ))
                        })?;
                    }
                    let args = args
                        .into_iter()
                        .map(|a| cast_to(a, &t, scope))
                        .collect::<Result<Vec<_>>>()?;
                    let f = if name == "greatest" {
                        Func::Greatest
                    } else {
                        Func::Least
                    };
                    return Expr::Call(f, args).fold();
                }
                "nullif" => {
                    // NULLIF(a, b): NULL where a = b, else a.
                    let [a, b2] = <[Expr; 2]>::try_from(args)
                        .map_err(|_| SqlError::Plan(format!("{e}: NULLIF takes two arguments")))?;
                    let t = a.data_type(&scope.schema)?;
                    let eq = binary(a.clone(), BinOp::Eq, b2, scope, e)?;
                    let null = Expr::Cast(Box::new(lit(Arc::new(NullArray::new(1)))), t).fold()?;
                    return Expr::Case(vec![(eq, null)], Some(Box::new(a))).fold();
                }
                "round" => Func::Round,
                "predict_logistic" => {
                    if args.len() < 2 {
                        return Err(SqlError::Plan(format!(
                            "{e}: predict_logistic takes the model and its features"
                        )));
                    }
                    crate::ml::check_numbers("predict_logistic", &args, 1, scope)?;
                    Func::PredictLogistic
                }
                "regexp_like" | "regexp_matches" => Func::RegexpLike(false),
                "regexp_replace" => Func::RegexpReplace,
                "regexp_extract" | "regexp_substr" => Func::RegexpExtract,
                "strftime" => Func::Strftime,
                "strptime" => Func::Strptime,
                "mod" => {
                    // MOD(a, b) is a % b (Flink, MySQL, PostgreSQL).
                    let [a, b2] = <[Expr; 2]>::try_from(args)
                        .map_err(|_| SqlError::Plan(format!("{e}: MOD takes two arguments")))?;
                    return binary(a, BinOp::Mod, b2, scope, e);
                }
                "sum" | "count" | "avg" | "min" | "max" | "train_logistic" => {
                    return Err(SqlError::Plan(format!(
                        "aggregate {e} is not allowed here (WHERE, GROUP BY or a join condition)"
                    )));
                }
                "lcase" => Func::Lower,
                "ucase" => Func::Upper,
                other => return crate::library::bind_call(other, args, scope, e),
            };
            // A NULL literal argument takes the type the function expects (`abs(NULL)`).
            let want = match func {
                Func::Abs => Some(DataType::Int64),
                Func::Round => Some(DataType::Float64),
                Func::Upper
                | Func::Lower
                | Func::Length
                | Func::Trim
                | Func::Replace
                | Func::RegexpLike(_)
                | Func::RegexpReplace
                | Func::RegexpExtract
                | Func::Strptime
                | Func::Substring => Some(DataType::Utf8),
                _ => None,
            };
            let mut args = args;
            if func == Func::Coalesce {
                // Like CASE: every argument at the type they all meet at.
                let t = result_type(args.iter(), scope, e)?;
                args = args
                    .into_iter()
                    .map(|a| cast_to(a, &t, scope))
                    .collect::<Result<Vec<_>>>()?;
            }
            if let (Some(t), false) = (want, args.is_empty()) {
                let first = args.remove(0);
                args.insert(0, null_as(first, t, scope)?);
            }
            if func == Func::Round {
                crate::functions::digits(&args)?;
            }
            Expr::Call(func, args)
        }
        sql::Expr::Subquery(q) => {
            let (batches, schema) = run_subquery(q)?;
            let vals = values_of(&batches, &schema, "a scalar subquery")?;
            match vals.len() {
                0 => Expr::Literal(arrow::array::new_null_array(schema.field(0).data_type(), 1)),
                1 => vals.into_iter().next().expect("one"),
                n => {
                    return Err(SqlError::Plan(format!(
                        "a scalar subquery returned {n} rows; it must return at most one value"
                    )));
                }
            }
        }
        // Uncorrelated EXISTS and IN (SELECT ...) inside expressions run once, here (in
        // WHERE conjuncts they are semi/anti joins, planned before binding).
        sql::Expr::Exists { subquery, negated } => {
            let (batches, _) = run_subquery(subquery)?;
            let any = batches.iter().any(|b| b.num_rows() > 0);
            Expr::Literal(Arc::new(arrow::array::BooleanArray::from(vec![
                any != *negated,
            ])))
        }
        sql::Expr::In {
            expr,
            target: sql::InTarget::Subquery(q),
            negated,
            ..
        } => {
            let (batches, schema) = run_subquery(q)?;
            let items = values_of(&batches, &schema, "the subquery of IN")?;
            if items.is_empty() {
                // Nothing to be in: false even for a NULL value (true for NOT IN).
                return Ok(Expr::Literal(Arc::new(arrow::array::BooleanArray::from(
                    vec![*negated],
                ))));
            }
            if items.len() > MAX_IN_SUBQUERY_VALUES {
                return Err(SqlError::NotSupported(format!(
                    "IN (SELECT ...) of {} values inside an expression (at most \
                     {MAX_IN_SUBQUERY_VALUES}; as a WHERE conjunct it is a join of any size)",
                    items.len()
                )));
            }
            in_list(b(expr)?, items, *negated, scope, e)?
        }
        sql::Expr::In { .. } => {
            return Err(SqlError::NotSupported(format!("expression {e}")));
        }
        other => return Err(SqlError::NotSupported(format!("expression {other}"))),
    };
    out.fold()
}

/// `x [NOT] IN (items)`: the value and every item meet at one type (`int_col IN (1.5)`
/// compares as decimals, `NULL IN (1)` as integers).
fn in_list(x: Expr, items: Vec<Expr>, negated: bool, scope: &Scope, e: &sql::Expr) -> Result<Expr> {
    let mut t = x.data_type(&scope.schema)?;
    for i in &items {
        let it = i.data_type(&scope.schema)?;
        t = common_type(&t, &it).ok_or_else(|| {
            SqlError::Plan(format!(
                "type error in {e}: {t} and {it} cannot be compared"
            ))
        })?;
    }
    // Constants that fit the value's own type meet it there, so the column is not
    // cast row by row (`p_size IN (49, 14)` on an INT column compares as INT).
    let xt = x.data_type(&scope.schema)?;
    let fits = |v: &Expr| -> bool {
        let Ok(vt) = v.data_type(&scope.schema) else {
            return false;
        };
        let same_kind = (vt.is_integer() && xt.is_integer())
            || (matches!(vt, DataType::Utf8) && matches!(xt, DataType::Utf8View))
            || (matches!(vt, DataType::Utf8) && matches!(xt, DataType::Date32));
        matches!(v, Expr::Literal(_))
            && same_kind
            && Expr::Cast(Box::new(v.clone()), xt.clone()).fold().is_ok()
    };
    if !xt.is_null()
        && items
            .iter()
            .all(|i| fits(i) || i.data_type(&scope.schema).is_ok_and(|t| t == xt))
    {
        t = xt;
    }
    let items = items
        .into_iter()
        .map(|v| cast_to(v, &t, scope))
        .collect::<Result<Vec<_>>>()?;
    Ok(Expr::InList(
        Box::new(cast_to(x, &t, scope)?),
        items,
        negated,
    ))
}

/// `l op r` with operands coerced to a common type; a clear error when none exists.
fn binary(l: Expr, op: BinOp, r: Expr, scope: &Scope, sql_e: &sql::Expr) -> Result<Expr> {
    let (lt, rt) = (l.data_type(&scope.schema)?, r.data_type(&scope.schema)?);
    // A string literal meeting a number or a boolean is read as that type, as PostgreSQL
    // reads an untyped literal (`id = '2'`, and every text-format driver parameter); a
    // literal that does not parse is an error, never a silent NULL.
    let untyped = |e: &Expr, t: &DataType| {
        matches!(e, Expr::Literal(_)) && matches!(t, DataType::Utf8 | DataType::Utf8View)
    };
    let typed = |t: &DataType| t.is_numeric() || matches!(t, DataType::Boolean);
    if untyped(&r, &rt) && typed(&lt) {
        let r = cast_literal(r, &lt, sql_e)?;
        return binary(l, op, r, scope, sql_e);
    }
    if untyped(&l, &lt) && typed(&rt) {
        let l = cast_literal(l, &rt, sql_e)?;
        return binary(l, op, r, scope, sql_e);
    }
    // Date arithmetic in days, as PostgreSQL does it: DATE ± integer is a DATE, DATE - DATE
    // the integer number of days between.
    let days = |e: Expr| Expr::Cast(Box::new(e), DataType::Int64);
    let to_date = |e: Expr| {
        Expr::Cast(
            Box::new(Expr::Cast(Box::new(e), DataType::Int32)),
            DataType::Date32,
        )
    };
    match (&lt, op, &rt) {
        (DataType::Date32, BinOp::Add | BinOp::Sub, t) if t.is_integer() => {
            let n = binary(days(l), op, r, scope, sql_e)?;
            return Ok(to_date(n));
        }
        (t, BinOp::Add, DataType::Date32) if t.is_integer() => {
            let n = binary(l, op, days(r), scope, sql_e)?;
            return Ok(to_date(n));
        }
        (DataType::Date32, BinOp::Sub, DataType::Date32) => {
            return binary(days(l), op, days(r), scope, sql_e);
        }
        _ => {}
    }
    let (l, r) = match coerce(op, &lt, &rt) {
        Some((a, b)) => (
            if a != lt {
                Expr::Cast(Box::new(l), a).fold()?
            } else {
                l
            },
            if b != rt {
                Expr::Cast(Box::new(r), b).fold()?
            } else {
                r
            },
        ),
        None => (l, r),
    };
    let e = Expr::Binary(Box::new(l), op, Box::new(r));
    // Type-check now, so a mismatch names the expression rather than failing mid-query.
    e.data_type(&scope.schema).map_err(|err| {
        SqlError::Plan(format!(
            "type error in {sql_e}: {lt} and {rt} do not combine ({err})"
        ))
    })?;
    Ok(e)
}

//! Filters translated to PostgreSQL SQL, where the translation means exactly the same.
//!
//! Pushed: comparisons, AND / OR / NOT, IS [NOT] NULL, IN lists, over columns and literals
//! of integer, float, decimal, boolean, text, date and timestamp type. Text is compared
//! under `COLLATE "C"` (bytewise, as Strata compares) so a database's locale cannot change
//! which rows pass. Not pushed (`None`): arithmetic (overflow and division rules differ),
//! casts, functions, LIKE, and anything else; those run in Strata, as every filter does
//! again after the rows arrive.

use crate::expr::{BinOp, Expr};
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type, Float64Type, TimestampMicrosecondType};

/// `e` as a PostgreSQL boolean expression over `cols` (remote name and Arrow type of each
/// input column), or `None` when it has no exact equivalent.
pub fn to_sql(e: &Expr, cols: &[(String, DataType)]) -> Option<String> {
    match e {
        Expr::Binary(l, op, r) => {
            if matches!(
                op,
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod
            ) {
                return None;
            }
            let sym = op.symbol();
            let (l, r) = if op.is_comparison() {
                (operand(l, cols)?, operand(r, cols)?)
            } else {
                (to_sql(l, cols)?, to_sql(r, cols)?)
            };
            Some(format!("({l} {sym} {r})"))
        }
        Expr::Not(x) => Some(format!("(NOT {})", to_sql(x, cols)?)),
        Expr::IsNull(x, negated) => Some(format!(
            "({} IS {}NULL)",
            operand(x, cols)?,
            if *negated { "NOT " } else { "" }
        )),
        Expr::InList(x, list, negated) => {
            let items = list
                .iter()
                .map(|i| operand(i, cols))
                .collect::<Option<Vec<_>>>()?;
            Some(format!(
                "({} {}IN ({}))",
                operand(x, cols)?,
                if *negated { "NOT " } else { "" },
                items.join(", ")
            ))
        }
        _ => None,
    }
}

/// A column or literal operand of a comparison.
fn operand(e: &Expr, cols: &[(String, DataType)]) -> Option<String> {
    match e {
        Expr::Column(i) => {
            let (name, t) = cols.get(*i)?;
            let q = super::quote_ident(name);
            match t {
                DataType::Utf8 => Some(format!("({q} COLLATE \"C\")")),
                DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Float32
                | DataType::Boolean
                | DataType::Date32
                | DataType::Decimal128(..)
                | DataType::Timestamp(_, None) => Some(q),
                // Unconstrained numeric is read as DOUBLE: compare it as one.
                DataType::Float64 => Some(format!("{q}::float8")),
                _ => None,
            }
        }
        Expr::Literal(a) => literal(a.as_ref()),
        _ => None,
    }
}

/// A one-value array as a PostgreSQL literal.
fn literal(a: &dyn Array) -> Option<String> {
    if a.len() != 1 {
        return None;
    }
    if a.is_null(0) {
        return Some("NULL".into());
    }
    let shown = || arrow::util::display::array_value_to_string(a, 0).ok();
    Some(match a.data_type() {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            format!("({})", shown()?)
        }
        DataType::Float64 => {
            let v = a.as_primitive::<Float64Type>().value(0);
            if !v.is_finite() {
                return None;
            }
            format!("'{v:?}'::float8")
        }
        DataType::Decimal128(..) => format!("'{}'::numeric", shown()?),
        DataType::Boolean => {
            if a.as_boolean().value(0) {
                "TRUE".into()
            } else {
                "FALSE".into()
            }
        }
        DataType::Utf8 => format!(
            "('{}' COLLATE \"C\")",
            a.as_string::<i32>().value(0).replace('\'', "''")
        ),
        DataType::Date32 => {
            let d = a.as_primitive::<Date32Type>().value_as_date(0)?;
            format!("DATE '{d}'")
        }
        DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None) => {
            let t = a
                .as_primitive::<TimestampMicrosecondType>()
                .value_as_datetime(0)?;
            format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn lit(a: impl Array + 'static) -> Expr {
        Expr::Literal(Arc::new(a))
    }

    #[test]
    fn exact_filters_are_pushed_others_are_not() {
        let cols = vec![
            ("id".to_string(), DataType::Int64),
            ("Name".to_string(), DataType::Utf8),
        ];
        let id = || Box::new(Expr::Column(0));
        let f = Expr::Binary(
            Box::new(Expr::Binary(
                id(),
                BinOp::Lt,
                Box::new(lit(arrow::array::Int64Array::from(vec![-3]))),
            )),
            BinOp::Or,
            Box::new(Expr::IsNull(Box::new(Expr::Column(1)), true)),
        );
        assert_eq!(
            to_sql(&f, &cols).unwrap(),
            "((\"id\" < (-3)) OR ((\"Name\" COLLATE \"C\") IS NOT NULL))"
        );
        let s = Expr::Binary(
            Box::new(Expr::Column(1)),
            BinOp::Eq,
            Box::new(lit(arrow::array::StringArray::from(vec!["o'k"]))),
        );
        assert_eq!(
            to_sql(&s, &cols).unwrap(),
            "((\"Name\" COLLATE \"C\") = ('o''k' COLLATE \"C\"))"
        );
        let arith = Expr::Binary(
            Box::new(Expr::Binary(id(), BinOp::Add, id())),
            BinOp::Gt,
            Box::new(lit(arrow::array::Int64Array::from(vec![1]))),
        );
        assert_eq!(to_sql(&arith, &cols), None, "arithmetic stays in Strata");
    }
}

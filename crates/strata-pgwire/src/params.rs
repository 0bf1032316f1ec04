//! `$n` parameters of the extended query protocol, bound into a statement's text.
//!
//! The placeholders are found by the SQL tokenizer (so a `$1` inside a string literal or a
//! comment is left alone) and each is replaced, at its own position, by a literal of the
//! parameter's type: numbers as numbers (negative ones in parentheses, so `x-$1` stays a
//! subtraction), strings quoted with `'` doubled (the dialect has no backslash escapes),
//! dates and timestamps as typed literals. A value therefore cannot change the shape of
//! the statement, whatever its bytes.

use crate::errors::user_error;
use bytes::Bytes;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::error::PgWireResult;
use sqlparser::dialect::GenericDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// A statement as the client sent it, with its placeholders located.
#[derive(Clone, Debug)]
pub struct Template {
    /// The text.
    pub sql: String,
    /// Each placeholder: byte offset, byte length, and its parameter number (1-based).
    holes: Vec<(usize, usize, usize)>,
    /// The number of parameters (the largest `$n`).
    pub params: usize,
}

impl Template {
    /// Finds the placeholders of `sql`.
    pub fn new(sql: &str) -> PgWireResult<Template> {
        let dialect = GenericDialect {};
        let tokens = Tokenizer::new(&dialect, sql)
            .tokenize_with_location()
            .map_err(|e| user_error("42601", format!("syntax error: {e}")))?;
        let lines = line_starts(sql);
        let mut holes = Vec::new();
        for t in tokens {
            let Token::Placeholder(p) = &t.token else {
                continue;
            };
            let Some(n) = p.strip_prefix('$').and_then(|d| d.parse::<usize>().ok()) else {
                return Err(user_error(
                    "42601",
                    format!("placeholder {p}: parameters are written $1, $2, ..."),
                ));
            };
            if n == 0 {
                return Err(user_error("42P02", "there is no parameter $0"));
            }
            let loc = t.span.start;
            let at = offset(sql, &lines, loc.line as usize, loc.column as usize);
            holes.push((at, p.len(), n));
        }
        let params = holes.iter().map(|h| h.2).max().unwrap_or(0);
        Ok(Template {
            sql: sql.to_string(),
            holes,
            params,
        })
    }

    /// The text with each placeholder replaced by `literal(n)`.
    pub fn fill(
        &self,
        mut literal: impl FnMut(usize) -> PgWireResult<String>,
    ) -> PgWireResult<String> {
        let mut out = String::with_capacity(self.sql.len());
        let mut last = 0;
        for &(at, len, n) in &self.holes {
            out.push_str(&self.sql[last..at]);
            out.push_str(&literal(n)?);
            last = at + len;
        }
        out.push_str(&self.sql[last..]);
        Ok(out)
    }

    /// The text with every parameter NULL (to check syntax, or plan for a row shape).
    pub fn with_nulls(&self) -> String {
        self.fill(|_| Ok("NULL".into())).unwrap_or_default()
    }
}

/// Byte offsets where each line of `s` starts.
fn line_starts(s: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(s.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The byte offset of (1-based) `line`, `column` (in characters).
fn offset(s: &str, lines: &[usize], line: usize, column: usize) -> usize {
    let start = lines.get(line.saturating_sub(1)).copied().unwrap_or(0);
    s[start..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(s.len(), |(i, _)| start + i)
}

/// Parameter `n` (1-based) as a SQL literal: `value` in `format` (text or binary), of
/// `ty` (None when the client left the type to the server: then it is a string literal,
/// which comparisons and inserts cast to the column's type).
pub fn literal(
    n: usize,
    ty: Option<&Type>,
    format: &Format,
    value: Option<&Bytes>,
) -> PgWireResult<String> {
    let Some(bytes) = value else {
        return Ok("NULL".into());
    };
    let binary = format.is_binary(n - 1);
    let ty = ty.cloned().unwrap_or(Type::UNKNOWN);
    let bad = |e: Box<dyn std::error::Error + Sync + Send>| {
        user_error(
            "22P02",
            format!("parameter ${n} is not a valid {}: {e}", ty.name()),
        )
    };
    macro_rules! decode {
        ($t:ty) => {{
            if binary {
                <$t as postgres_types::FromSql>::from_sql(&ty, bytes).map_err(bad)?
            } else {
                <$t as pgwire::types::FromSqlText>::from_sql_text(&ty, bytes, &Default::default())
                    .map_err(bad)?
            }
        }};
    }
    let number = |s: String| {
        if s.starts_with('-') {
            format!("({s})")
        } else {
            s
        }
    };
    Ok(match ty {
        Type::BOOL => {
            if decode!(bool) {
                "TRUE".into()
            } else {
                "FALSE".into()
            }
        }
        Type::INT2 => number(decode!(i16).to_string()),
        Type::INT4 => number(decode!(i32).to_string()),
        Type::INT8 => number(decode!(i64).to_string()),
        Type::FLOAT4 => format!("CAST({} AS REAL)", quote(&decode!(f32).to_string())),
        Type::FLOAT8 => format!("CAST({} AS DOUBLE)", quote(&decode!(f64).to_string())),
        Type::NUMERIC => number(decode!(rust_decimal::Decimal).to_string()),
        Type::DATE => format!("DATE {}", quote(&decode!(chrono::NaiveDate).to_string())),
        Type::TIMESTAMP => format!(
            "TIMESTAMP {}",
            quote(
                &decode!(chrono::NaiveDateTime)
                    .format("%Y-%m-%d %H:%M:%S%.f")
                    .to_string()
            )
        ),
        Type::TIMESTAMPTZ => {
            let t = decode!(chrono::DateTime<chrono::FixedOffset>);
            // Stored as the UTC instant.
            format!(
                "TIMESTAMP {}",
                quote(&t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string())
            )
        }
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
            if binary && ty == Type::UNKNOWN {
                return Err(user_error(
                    "0A000",
                    format!(
                        "parameter ${n} is binary without a type; send it as text or give its type"
                    ),
                ));
            }
            let s = std::str::from_utf8(bytes)
                .map_err(|e| user_error("22021", format!("parameter ${n} is not UTF-8: {e}")))?;
            quote(s)
        }
        other => {
            if binary {
                return Err(user_error(
                    "0A000",
                    format!(
                        "parameter ${n} of type {} in binary format is not supported; send it as text",
                        other.name()
                    ),
                ));
            }
            let s = std::str::from_utf8(bytes)
                .map_err(|e| user_error("22021", format!("parameter ${n} is not UTF-8: {e}")))?;
            quote(s)
        }
    })
}

/// `s` as a string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(sql: &str, values: &[(Option<Type>, &str)]) -> String {
        let t = Template::new(sql).unwrap();
        t.fill(|n| {
            let (ty, v) = &values[n - 1];
            literal(
                n,
                ty.as_ref(),
                &Format::UnifiedText,
                Some(&Bytes::from(v.to_string())),
            )
        })
        .unwrap()
    }

    #[test]
    fn placeholders_become_literals_at_their_positions() {
        assert_eq!(
            bind(
                "SELECT '$1', x-$1 FROM t -- $2\nWHERE s = $2",
                &[(Some(Type::INT8), "-5"), (None, "it's")]
            ),
            "SELECT '$1', x-(-5) FROM t -- $2\nWHERE s = 'it''s'"
        );
    }

    #[test]
    fn a_value_cannot_escape_its_literal() {
        let s = bind("SELECT * FROM t WHERE a = $1", &[(None, "x' OR '1'='1")]);
        assert_eq!(s, "SELECT * FROM t WHERE a = 'x'' OR ''1''=''1'");
        let bad = Template::new("SELECT $1").unwrap().fill(|n| {
            literal(
                n,
                Some(&Type::INT8),
                &Format::UnifiedText,
                Some(&Bytes::from("1; DROP TABLE t")),
            )
        });
        assert!(bad.is_err());
    }

    #[test]
    fn multibyte_text_before_a_placeholder() {
        assert_eq!(
            bind("SELECT 'héllo', $1", &[(Some(Type::INT4), "3")]),
            "SELECT 'héllo', 3"
        );
    }
}

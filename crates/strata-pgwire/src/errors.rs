//! Strata's errors as PostgreSQL error responses, with the SQLSTATE code a client (or an
//! ORM's retry logic) would expect from PostgreSQL for the same mistake.

use pgwire::error::{ErrorInfo, PgWireError};
use strata_sql::SqlError;

/// The SQLSTATE of a Strata error.
pub fn sqlstate(e: &SqlError) -> &'static str {
    match e {
        SqlError::Syntax(_) => "42601",
        SqlError::Plan(m) => {
            let m = m.to_ascii_lowercase();
            if m.contains("which is not null") {
                "23502"
            } else if m.starts_with("unknown table") || m.contains("does not exist") {
                "42P01"
            } else if m.starts_with("unknown column") {
                "42703"
            } else if m.contains("ambiguous") {
                "42702"
            } else if m.contains("already exists") {
                "42P07"
            } else if m.contains("changed by another session") {
                // serialization_failure: the usual "run it again" code.
                "40001"
            } else {
                "42000"
            }
        }
        SqlError::NotSupported(_) => "0A000",
        SqlError::Io { .. } => "58030",
        SqlError::Execution(m) => {
            let m = m.to_ascii_lowercase();
            if m.contains("division by zero") || m.contains("divide by zero") {
                "22012"
            } else if m.contains("overflow") || m.contains("out of range") {
                "22003"
            } else if m.contains("cannot cast") || m.contains("cast") {
                "22P02"
            } else if m.contains("which is not null") {
                "23502"
            } else {
                "22000"
            }
        }
        SqlError::Cancelled => "57014",
        SqlError::Internal(_) => "XX000",
    }
}

/// An error response for `e`.
pub fn to_pg(e: &SqlError) -> PgWireError {
    user_error(sqlstate(e), e.to_string())
}

/// An `ERROR` with `code` and `message`.
pub fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_owned(),
        code.to_owned(),
        message.into(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_postgres() {
        assert_eq!(sqlstate(&SqlError::Syntax("x".into())), "42601");
        assert_eq!(
            sqlstate(&SqlError::Plan("unknown table nope".into())),
            "42P01"
        );
        assert_eq!(
            sqlstate(&SqlError::Execution("division by zero".into())),
            "22012"
        );
        assert_eq!(sqlstate(&SqlError::Cancelled), "57014");
    }
}

//! SQL errors, sorted by who is at fault.

use std::path::{Path, PathBuf};

/// A `Result` with [`SqlError`].
pub type Result<T, E = SqlError> = std::result::Result<T, E>;

/// What went wrong with a query.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text is not valid SQL (the message has the line and column).
    #[error("syntax error: {0}")]
    Syntax(String),
    /// The query is valid SQL but refers to something that does not exist or mixes types.
    #[error("{0}")]
    Plan(String),
    /// SQL this engine does not support (yet).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Evaluating the query failed (overflow, a malformed input row, ...).
    #[error("{0}")]
    Execution(String),
    /// The query was cancelled (a client's cancel request, or the client went away).
    #[error("canceling statement due to user request")]
    Cancelled,
    /// A broken invariant: likely a bug in Strata.
    #[error("internal error (likely a bug in Strata): {0}")]
    Internal(String),
}

impl SqlError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, e: std::io::Error) -> Self {
        SqlError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }

    /// Another error while reading or writing `path`.
    pub fn io_other(path: &Path, e: impl std::fmt::Display) -> Self {
        SqlError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

impl From<arrow::error::ArrowError> for SqlError {
    fn from(e: arrow::error::ArrowError) -> Self {
        match e {
            arrow::error::ArrowError::DivideByZero => {
                SqlError::Execution("division by zero".into())
            }
            arrow::error::ArrowError::ArithmeticOverflow(m) => SqlError::Execution(format!(
                "integer overflow: {m} (cast an operand to a wider type, e.g. BIGINT or DOUBLE)"
            )),
            other => SqlError::Execution(other.to_string()),
        }
    }
}

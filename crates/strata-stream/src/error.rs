//! Errors of a streaming job.

/// What stopped a job, naming the part that failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading or writing through the storage layer failed.
    #[error("storage: {0}")]
    Storage(#[from] strata_storage::StorageError),
    /// A record or a state blob could not be decoded.
    #[error("decode: {0}")]
    Decode(String),
    /// A task of the job failed.
    #[error("task {task} failed: {msg}")]
    Task {
        /// The task, as `stage/index`.
        task: String,
        /// Why.
        msg: String,
    },
    /// A bad job definition or option.
    #[error("{0}")]
    Invalid(String),
    /// A checkpoint could not be restored.
    #[error("restore: {0}")]
    Restore(String),
    /// A downstream task went away (it failed; its error is reported separately).
    #[error("a downstream task stopped")]
    Disconnected,
}

/// Results of streaming code.
pub type Result<T> = std::result::Result<T, StreamError>;

pub(crate) fn decode_err(e: impl std::fmt::Display) -> StreamError {
    StreamError::Decode(e.to_string())
}

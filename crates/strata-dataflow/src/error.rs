//! The engine's error type, sorted by who is at fault.

use std::path::PathBuf;

/// A `Result` with the dataflow [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a dataflow job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The job's input is missing or malformed: the user's to fix.
    #[error("{0}")]
    Input(String),
    /// An output location cannot be written.
    #[error("cannot write output {path}: {reason}")]
    Output {
        /// Where the output was going.
        path: PathBuf,
        /// Why it failed and what to do.
        reason: String,
    },
    /// An I/O error while reading or writing a file the engine owns.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A task failed (user code panicked or returned an error) more times than allowed.
    #[error(
        "job {job} failed: task {partition} of stage {stage} ({stage_name}) failed {attempts} times; last error: {cause}"
    )]
    TaskFailed {
        /// The job.
        job: u64,
        /// The stage.
        stage: u64,
        /// A human-readable description of the stage.
        stage_name: String,
        /// The partition the task computed.
        partition: usize,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        cause: String,
    },
    /// User code in a task panicked.
    #[error("task code panicked: {0}")]
    Panicked(String),
    /// A failure injected by a [`crate::FailurePolicy`] (tests of recovery).
    #[error("injected failure (FailurePolicy) in partition {0}")]
    Injected(usize),
    /// A shuffle map output could not be read; the scheduler re-runs the map task.
    #[error("shuffle {shuffle} output of map task {map} is unavailable: {reason}")]
    FetchFailed {
        /// The shuffle.
        shuffle: u64,
        /// The map partition whose output is lost.
        map: usize,
        /// Why.
        reason: String,
    },
    /// A task failed in another process (its error, with the host it ran on).
    #[error("{0}")]
    Remote(String),
    /// The cluster cannot run the job (no executors, driver lost): what to check is in the
    /// message.
    #[error("{0}")]
    Cluster(String),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] strata_common::ConfigError),
    /// A broken invariant inside Strata: likely a bug, please report it.
    #[error("internal error (likely a bug in Strata): {0}")]
    Internal(String),
}

impl Error {
    /// Whether retrying the task could help. Bad input or an unwritable output fails the job
    /// at once with the error itself.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Error::Input(_) | Error::Output { .. } | Error::Config(_) | Error::Cluster(_)
        )
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

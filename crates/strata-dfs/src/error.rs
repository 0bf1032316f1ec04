//! DFS errors, sorted by who is at fault, and their mapping to and from gRPC statuses.

use tonic::{Code, Status};

/// A `Result` with [`DfsError`].
pub type Result<T, E = DfsError> = std::result::Result<T, E>;

/// What went wrong in a DFS operation.
#[derive(Debug, thiserror::Error)]
pub enum DfsError {
    /// The path does not exist.
    #[error("no such file or directory: {0}")]
    NotFound(String),
    /// The path already exists.
    #[error("already exists: {0} (remove it first, or use --overwrite where offered)")]
    AlreadyExists(String),
    /// A file was given where a directory is needed, or the reverse.
    #[error("{0}")]
    WrongKind(String),
    /// The directory is not empty.
    #[error("directory not empty: {0} (use -r to remove it and everything below)")]
    NotEmpty(String),
    /// The path is malformed.
    #[error("invalid path {0:?}: {1}")]
    InvalidPath(String, &'static str),
    /// Too few live chunkservers to place the replicas.
    #[error(
        "not enough live chunkservers: replication {needed} needs {needed}, {live} live; start more workers or lower the replication factor"
    )]
    NotEnoughNodes {
        /// Replicas asked for.
        needed: u32,
        /// Live chunkservers.
        live: u32,
    },
    /// The master cannot be reached.
    #[error(
        "master unreachable at {0}: {1} (is `strata master` running there? check --master or STRATA_MASTER)"
    )]
    MasterUnreachable(String, String),
    /// A chunkserver's disk is full.
    #[error("disk full on chunkserver {0}")]
    DiskFull(String),
    /// The request did not carry the cluster secret.
    #[error("refused: {0}")]
    Unauthenticated(String),
    /// Stored data failed its checksum.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A chunkserver failed or could not be reached mid-operation.
    #[error("chunkserver {0}: {1}")]
    Node(String, String),
    /// Another client is writing the file (it holds the lease on the path).
    #[error(
        "{0} is being written by another client; try again when it has finished (its lease lapses if that client died)"
    )]
    Busy(String),
    /// This writer's lease on a file it was writing is gone (it expired, or the file or a
    /// directory above it was removed); the unfinished file was discarded.
    #[error(
        "lost the write lease on {0}: the unfinished file was discarded (it was deleted, or this writer was silent too long)"
    )]
    LeaseLost(String),
    /// A daemon's directory is locked by another process.
    #[error("{0}")]
    Locked(String),
    /// The master refused or failed a request for a reason not listed above.
    #[error("master {0}: {1}")]
    Master(String, String),
    /// Local I/O failed.
    #[error("I/O error on {0}: {1}")]
    Io(String, std::io::Error),
    /// The peer violated the protocol or a broken invariant (likely a bug).
    #[error("internal error (likely a bug in Strata): {0}")]
    Internal(String),
}

impl From<DfsError> for Status {
    fn from(e: DfsError) -> Status {
        let code = match &e {
            DfsError::NotFound(_) => Code::NotFound,
            DfsError::AlreadyExists(_) => Code::AlreadyExists,
            DfsError::WrongKind(_) | DfsError::NotEmpty(_) => Code::FailedPrecondition,
            DfsError::InvalidPath(..) => Code::InvalidArgument,
            DfsError::NotEnoughNodes { .. } | DfsError::DiskFull(_) => Code::ResourceExhausted,
            DfsError::MasterUnreachable(..) | DfsError::Node(..) => Code::Unavailable,
            DfsError::Master(..) => Code::Internal,
            DfsError::Unauthenticated(_) => Code::Unauthenticated,
            DfsError::Corrupt(_) => Code::DataLoss,
            DfsError::Locked(_) => Code::FailedPrecondition,
            DfsError::Busy(_) => Code::Aborted,
            DfsError::LeaseLost(_) => Code::Cancelled,
            DfsError::Io(..) | DfsError::Internal(_) => Code::Internal,
        };
        Status::new(code, e.to_string())
    }
}

impl DfsError {
    /// Turns a status from the master back into an error with the master's message.
    pub fn from_status(master: &str, s: Status) -> DfsError {
        let msg = s.message().to_string();
        match s.code() {
            Code::NotFound => DfsError::NotFound(strip(&msg, "no such file or directory: ")),
            Code::AlreadyExists => DfsError::AlreadyExists(strip(&msg, "already exists: ")),
            Code::Unauthenticated => DfsError::Unauthenticated(msg),
            Code::Unavailable if msg.contains("transport") || msg.contains("connect") => {
                DfsError::MasterUnreachable(master.to_string(), msg)
            }
            Code::Unknown if msg.contains("transport") => {
                DfsError::MasterUnreachable(master.to_string(), msg)
            }
            Code::ResourceExhausted if msg.starts_with("disk full") => DfsError::DiskFull(msg),
            Code::DataLoss => DfsError::Corrupt(msg),
            Code::FailedPrecondition if msg.starts_with("directory not empty") => {
                DfsError::NotEmpty(strip(&msg, "directory not empty: "))
            }
            Code::FailedPrecondition | Code::InvalidArgument => DfsError::WrongKind(msg),
            Code::Aborted => DfsError::Busy(
                msg.split(" is being written")
                    .next()
                    .unwrap_or(&msg)
                    .to_string(),
            ),
            Code::Cancelled => DfsError::LeaseLost(
                strip(&msg, "lost the write lease on ")
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_string(),
            ),
            _ => DfsError::Master(master.to_string(), msg),
        }
    }
}

fn strip(msg: &str, prefix: &str) -> String {
    msg.strip_prefix(prefix)
        .unwrap_or(msg)
        .split(" (")
        .next()
        .unwrap_or(msg)
        .to_string()
}

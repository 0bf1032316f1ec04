//! What a collective reports instead of hanging.

use std::time::Duration;

/// Why a collective operation failed. Every variant names the peer and the operation, so a
/// user of a 64-rank job can tell which process to look at.
#[derive(Debug, thiserror::Error)]
pub enum CollectiveError {
    /// A peer's connection closed or stopped sending heartbeats: the process died, its host
    /// went away, or the network between us is cut.
    #[error("rank {rank} is dead ({why}); this rank was in {op}")]
    PeerDead {
        /// The dead rank.
        rank: usize,
        /// What was observed.
        why: String,
        /// The operation this rank was in.
        op: &'static str,
    },
    /// A peer is alive but sent nothing for the operation within the timeout.
    #[error(
        "rank {rank} sent nothing for {op} within {timeout:?}; a rank may be stuck or have \
         skipped the call (raise --collective-timeout if steps are this slow)"
    )]
    Timeout {
        /// The silent peer.
        rank: usize,
        /// The operation.
        op: &'static str,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// Ranks called different collectives, or the same one with different sizes: the
    /// classic silent hang of MPI and PyTorch, reported instead.
    #[error("collective mismatch with rank {rank}: {detail}")]
    Mismatch {
        /// The peer whose message did not match.
        rank: usize,
        /// What differed.
        detail: String,
    },
    /// The communicator could not be formed (rendezvous, bad arguments).
    #[error("{0}")]
    Setup(String),
    /// Invalid arguments to an operation (rank out of range, wrong lengths).
    #[error("{0}")]
    Usage(String),
}

/// Collective results.
pub type Result<T> = std::result::Result<T, CollectiveError>;

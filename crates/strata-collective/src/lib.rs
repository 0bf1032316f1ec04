//! # strata-collective: MPI-style communicators for Strata's training layer
//!
//! A [`Communicator`] joins `size` ranks (processes, on one host or many) into a group and
//! runs MPI's collectives over it: [`Communicator::broadcast`], [`Communicator::reduce`],
//! [`Communicator::all_reduce`] (binomial tree for small buffers, ring for large),
//! [`Communicator::reduce_scatter`], [`Communicator::all_gather`],
//! [`Communicator::gather`], [`Communicator::scatter`], [`Communicator::barrier`] and
//! point-to-point [`Communicator::send`] / [`Communicator::recv`].
//!
//! How it works:
//! - **Rendezvous** (`rendezvous`): rank 0 listens on the master address; the others say
//!   hello with a job token, their rank and the world size (a mismatch is refused with a
//!   reason), learn each other's addresses, and form a full mesh of TCP connections.
//! - **Transport** (`transport`): per link a writer thread (bounded queue) and a reader
//!   thread (unbounded inbox), so sends never deadlock against each other; messages travel
//!   in chunks ([`Config::chunk_bytes`]), so the algorithms pipeline: a tree forwards and a
//!   ring reduces one chunk while the next is on the wire.
//! - **Failures are reported, never hung on**: every link sends heartbeats; a closed
//!   connection (a killed process) or silence longer than [`Config::dead_after`] marks the
//!   peer dead, which wakes every pending receive on every survivor with
//!   [`CollectiveError::PeerDead`]; a live peer that sends nothing within [`Config::timeout`]
//!   gives [`CollectiveError::Timeout`]. Frames carry the operation and a call sequence
//!   number, so ranks calling different collectives (or different sizes) get a
//!   [`CollectiveError::Mismatch`] naming both calls.
//! - **Determinism**: every reduction happens in an order fixed by the world size, so a run
//!   gives the same bits every time and on every rank.
//!
//! Not here yet: shared-memory transport between ranks on one host (they use loopback TCP).

#![deny(missing_docs)]

mod comm;
mod elem;
mod error;
mod ops;
mod rendezvous;
mod transport;

pub use comm::{Communicator, Config};
pub use elem::{Elem, ReduceOp, reduce_into};
pub use error::{CollectiveError, Result};
pub use ops::segments;

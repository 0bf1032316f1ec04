//! # strata-dfs: a GFS-style distributed file system
//!
//! Three roles, as in the GFS paper:
//!
//! - The **master** ([`master`]) holds the namespace (directories, files, per-file
//!   replication and chunk lists) in memory. Every mutation is an op appended to an
//!   operation log and fsync'd (group commit) before it is acknowledged; checkpoints bound
//!   recovery time. Chunk locations are not persisted: chunkservers report them. The master
//!   grants leases (a primary per chunk, with a version number that exposes stale replicas),
//!   detects dead chunkservers by missed heartbeats, re-replicates under-replicated chunks
//!   (fewest replicas first, throttled), garbage-collects orphaned chunks lazily, and takes
//!   copy-on-write snapshots.
//! - **Chunkservers** ([`chunkserver`], the storage side of `strata worker`) keep chunks
//!   (64 MiB by default) as local files with a CRC32C per 64 KiB block, verified on every
//!   read; a corrupt replica is reported and never served.
//! - The **client** ([`client::DfsClient`]) asks the master where chunks are and moves bytes
//!   directly to and from chunkservers. Data flows along a pipeline of replicas (primary
//!   first, each forwarding while it writes); the primary orders mutations, which makes
//!   record append atomic and safe from many concurrent writers.
//!
//! Control traffic is gRPC (`proto/dfs.proto`, compiled by protox); chunk bytes use the
//! framed streaming protocol of [`data`]. Authentication is mutual and never sends the cluster
//! secret itself ([`auth`], `strata_net::auth`).
//!
//! Departures from GFS, on purpose: files are written sequentially or appended to (no
//! random overwrite, as in HDFS); the master tells chunkservers about a new version
//! directly when it grants a lease.

#![deny(missing_docs)]

pub mod auth;
pub mod chunkserver;
pub mod client;
pub mod data;
pub mod dirlock;
pub mod error;
pub mod master;
pub mod path;

/// gRPC messages and services generated from `proto/dfs.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("strata.dfs");
}

pub use client::{DfsClient, FileReader, FileWriter};
pub use error::{DfsError, Result};

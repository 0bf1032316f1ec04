//! # strata-cluster: the resource manager
//!
//! One master, one node agent per machine (the `strata worker` process, which is also a DFS
//! chunkserver). The master keeps soft state ([`master::State`]): workers with their cores
//! and memory, and applications with their executors. Its control plane is gRPC
//! (`proto/cluster.proto`, served beside the DFS master on the same port):
//!
//! - workers `RegisterWorker`, then `Heartbeat` every `cluster.heartbeat_ms`; a worker silent
//!   for `cluster.node_timeout_ms` is lost, and so are its executors;
//! - workers hold a `Commands` server stream on which the master pushes launch and kill
//!   commands, so an executor starts as soon as a driver asks;
//! - a driver calls `SubmitApp` (how many executors, the program and its arguments), then
//!   `AppHeartbeat` with a snapshot of its jobs ([`model::AppUi`]) for the web UI, and
//!   `FinishApp` at the end. A silent driver fails its application and its executors are
//!   killed.
//!
//! The scheduling of *tasks* is not here: executors connect straight to their driver, which
//! runs the DAG scheduler (`strata-dataflow`). This split is Spark standalone's and Borg's:
//! the resource manager places processes; the application places work.
//!
//! [`agent`] is the worker side (launching executor processes, cleaning up after them);
//! [`client`] the driver side; [`ui`] the master's server-rendered web pages.

#![deny(missing_docs)]

pub mod agent;
pub mod client;
pub mod jobs;
mod jobstore;
pub mod master;
pub mod model;
pub mod spec;
pub mod tasks;
pub mod ui;
pub mod ui_auth;
pub mod usage;

/// gRPC messages and services generated from `proto/cluster.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("strata.cluster");
}

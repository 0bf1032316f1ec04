//! # strata-net: how Strata processes talk
//!
//! Two planes, as DESIGN.md §3 decides:
//! - **Control plane: gRPC** (tonic + prost; each service's `.proto` lives in its crate and
//!   is compiled by protox, no `protoc`). [`auth`] provides the interceptor that refuses a
//!   request without the cluster's shared secret.
//! - **Bulk data: a framed streaming protocol over TCP** ([`frame`]): a small bincode header
//!   per request or response, followed by raw payload bytes that are streamed, never
//!   buffered whole, so a chunk write can be forwarded hop by hop along a replica pipeline
//!   while it is still arriving.
//! - **Admin HTTP** ([`admin`]): every daemon serves Prometheus `/metrics` and `/health`.

#![deny(missing_docs)]

pub mod admin;
pub mod auth;
pub mod frame;

//! Strata's scheduling layer: the resource model, the policy toolkit and the trace simulator
//! that the resource manager is built from.
//!
//! - [`resources`]: resource vectors (GPU, CPU, memory) with DRF's dominant share.
//! - [`nodes`]: a node set with free resources indexed for best/worst fit at 10,000 nodes.
//! - [`job`]: a job as a gang of identical tasks, with arrival, tenant and duration.
//! - [`policy`]: admission ([`policy::Admission`]), ordering ([`policy::Policy`]: FIFO, SJF,
//!   SRTF, LAS, Tiresias, DRF, Themis, Gandiva-fair) and placement ([`policy::Placement`]:
//!   consolidated or scattered), separate traits composed per run (Blox's toolkit).
//! - [`trace`]: Philly, Alibaba and generic CSV traces, and a synthetic generator shaped
//!   like Philly.
//! - [`sim`]: the event-driven simulator; job records, the papers' metrics, a JCT CDF plot.
//!
//! The simulator and (next) the master call the same trait objects, so a policy measured on
//! a trace is the policy that runs.

pub mod job;
pub mod nodes;
pub mod policy;
pub mod resources;
pub mod sim;
pub mod trace;

pub use job::{Job, Trace};
pub use nodes::{NodeId, Nodes};
pub use resources::Resources;

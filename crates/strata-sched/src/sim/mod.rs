//! The trace-driven cluster simulator (Blox's idea): a year of jobs through the very policy
//! objects the master uses, in seconds.
//!
//! Event-driven time: the clock jumps to the next arrival, the next finish, or the next round
//! of a time-sharing policy (only while jobs wait). At each event finished jobs free their
//! nodes, arrivals pass admission, and the policy orders the active jobs; the round then
//! starts, keeps or preempts jobs as described in [`crate::policy`]. A job runs at full speed
//! while it holds its gang (no slowdown model), so the GPU-seconds served equal the
//! GPU-seconds the trace asks for — a conservation law the tests check.

mod engine;
mod metrics;
mod plot;

pub use engine::{JobRecord, Outcome, SimConfig, simulate};
pub use metrics::{SUMMARY_HEADER, Summary, jobs_csv, summary_table};
pub use plot::jct_cdf_svg;

//! Memory-bounded operators that run inside tasks: hash aggregation (map-side partial
//! combine and reduce-side external aggregation) and external sort. Each takes the task's
//! [`crate::TaskContext`] to learn its memory budget and where to spill.

pub(crate) mod aggregate;
pub(crate) mod sort;

pub use aggregate::Aggregator;

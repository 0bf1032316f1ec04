//! # strata-dataflow: the batch dataflow engine
//!
//! Spark-style resilient distributed datasets for Rust. A [`Dataset<T>`] is a partitioned
//! collection described by its *lineage*: the source it came from and the transformations
//! applied since. Nothing runs until an *action* (`collect`, `count`, `save_as_text_file`,
//! ...) hands the final dataset to the scheduler.
//!
//! ```text
//!  Dataset API (dataset.rs, pair.rs, mapreduce.rs)
//!        │ builds
//!        ▼
//!  lineage graph: Rdd nodes (rdd/), Narrow and Shuffle dependencies
//!        │ action → scheduler::dag::run_job
//!        ▼
//!  stages cut at shuffles ── map stages write shuffle files (shuffle/)
//!        │                   result stage runs the action's function
//!        ▼
//!  tasks on the runtime's CPU pool (strata-runtime), each a pipeline of iterators,
//!  memory-bounded operators (ops/) spilling when the runtime's memory pool refuses them room (memory.rs),
//!  cached partitions in the block manager (cache.rs)
//!        │ or, on a cluster (cluster/): the driver places tasks on executor
//!        ▼ processes running the same program; reducers fetch remote map outputs
//! ```
//!
//! ## Design decisions
//! - **Same program everywhere (SPMD).** Closures are ordinary Rust closures and are never
//!   serialized: in cluster mode every process builds the same lineage graph and executors
//!   run tasks by (job, stage, partition); see [`cluster`]. Elements are serializable ([`Data`]) because they
//!   cross processes in shuffles and results. Keys hash with a fixed function so every
//!   process agrees on partitions.
//! - **Pull-based pipelines inside a task.** A stage's narrow transformations compose as
//!   iterators, so a record flows through the whole stage without being materialized; the
//!   sinks are the shuffle writer and the action's function.
//! - **Everything that holds data has a budget.** Map-side combine, shuffle buffers, the
//!   reduce-side hash aggregation and the sort each hold a reservation of the runtime's
//!   memory pool (shared with the other engines of the process) and spill to disk when it
//!   cannot grow, so a job whose shuffle is many times the budget still completes with the
//!   same answer.
//! - **Failures are ordinary.** A failed task attempt is retried; a panic is caught and
//!   counts as a failure; a lost shuffle output re-runs only the map tasks that produced it;
//!   a lost cached partition is recomputed from lineage; accumulator updates of failed
//!   attempts are discarded.
//!
//! ## Example
//! ```
//! use strata_dataflow::Context;
//! let ctx = Context::local().unwrap();
//! let lines = ctx.parallelize(vec!["a b".to_string(), "b c b".to_string()]);
//! let mut counts = lines
//!     .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
//!     .map(|w| (w, 1u64))
//!     .reduce_by_key(|a, b| a + b)
//!     .collect()
//!     .unwrap();
//! counts.sort();
//! assert_eq!(counts, vec![("a".into(), 1), ("b".into(), 3), ("c".into(), 1)]);
//! ```

#![deny(missing_docs)]

pub mod accumulator;
mod backend;
pub mod cache;
pub mod cluster;
mod context;
mod data;
mod dataset;
pub mod error;
pub mod io;
pub mod mapreduce;
pub mod memory;
pub mod metrics;
pub mod ops;
mod pair;
pub mod rdd;
pub mod scheduler;
pub mod shuffle;
mod task;

pub use accumulator::{Accumulator, Broadcast};
pub use cache::StorageLevel;
pub use cluster::{ClusterLaunch, Launch};
pub use context::Context;
pub use data::{Data, Key};
pub use dataset::Dataset;
pub use error::{Error, Result};
pub use metrics::MetricsSnapshot;
pub use pair::Side;
pub use rdd::text::{Line, invalid_utf8_lines};
pub use scheduler::listener::JobListener;
pub use shuffle::{DirectPartitioner, HashPartitioner, Partitioner, RangePartitioner};
pub use strata_common::{DataflowConfig, StrataConfig};
pub use task::{FailurePolicy, TaskContext};

//! # Strata
//!
//! A big-data systems stack in Rust, as one product: storage, batch and streaming dataflow,
//! SQL, scheduling, training and serving. This facade crate re-exports the layers so that a
//! user's program depends on one crate:
//!
//! - [`dataflow`] (also re-exported at the root): typed datasets with lineage, the DAG
//!   scheduler, shuffle, caching, the MapReduce API.
//! - [`jobs`]: the built-in jobs (word count, PageRank, TeraSort) the `strata` binary runs.
//! - [`dfs`]: the GFS-style distributed file system (master, chunkservers, client).
//! - [`runtime`]: the memory pool, scratch disk and CPU pool every engine of a process shares.
//! - [`common`]: configuration, logging and metrics shared by every layer.
//!
//! ```
//! let ctx = strata::Context::from_env()?;
//! let n = ctx.parallelize((1..=100u64).collect()).filter(|x| x % 7 == 0).count()?;
//! assert_eq!(n, 14);
//! # Ok::<(), strata::Error>(())
//! ```

#![deny(missing_docs)]

pub use strata_cluster as cluster;
pub use strata_collective as collective;
pub use strata_common as common;
pub use strata_dataflow as dataflow;
pub use strata_dataflow::*;
pub use strata_dfs as dfs;
pub use strata_jobs as jobs;
pub use strata_net as net;
pub use strata_runtime as runtime;
pub use strata_storage as storage;
pub use strata_stream as stream;
pub use strata_train as train;

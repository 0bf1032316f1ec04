//! Cluster mode: the same program as driver and as executors (SPMD, DESIGN.md §3.1).
//!
//! A program linked against Strata runs embedded unless it is launched on a cluster. There,
//! the **driver** is the process the user started: it asks the master
//! (`strata-cluster`) for executors, and each worker starts the *same program with the same
//! arguments* as an **executor** (`STRATA_DRIVER` in its environment tells it so). Every
//! process builds the same lineage graph (ids come from counters in program order), so
//! closures never need serializing: the driver's DAG scheduler sends `(job, stage,
//! partition)` and the executor runs that partition of its own copy of the graph.
//!
//! Control flow stays identical in every process because an executor's action does not
//! compute anything itself: it tells the driver it is `Ready` for that job, runs the tasks it
//! is given, and returns the job's results as the driver sends them at the end. An executor
//! that starts late (a replacement for a lost one) replays the program and receives earlier
//! jobs' results at once instead of recomputing them. Effects outside Strata's API (printing,
//! writing local files) run in every process unless guarded by [`crate::Context::is_driver`];
//! actions must never be guarded that way, or the processes' job counters diverge.
//!
//! Shuffle across hosts: a map task's output stays in the executor that wrote it; its
//! [`crate::shuffle::MapStatus`] carries the executor's [`wire::Location`], and reducers
//! elsewhere fetch their segment from that executor's shuffle server ([`fetch`]). When an
//! executor is lost the driver forgets its outputs, and only the map tasks that produced them
//! run again.
//!
//! Scheduling ([`driver`]): tasks whose input is a DFS chunk prefer an executor on a host
//! holding a replica and wait up to `dataflow.locality_wait_ms` for one (delay scheduling);
//! once `speculation_quantile` of a stage is done, a task running longer than
//! `speculation_multiplier` × the median gets a backup copy on another executor, and the
//! first copy to finish wins (MapReduce §3.6). Failed attempts are retried up to
//! `task_max_attempts`; a lost executor's running tasks are resubmitted.

pub(crate) mod driver;
pub(crate) mod executor;
pub(crate) mod fetch;
mod stage;
pub mod wire;

use crate::error::{Error, Result};

/// How a program's context runs.
#[derive(Clone, Debug, Default)]
pub enum Launch {
    /// In this process (the default).
    #[default]
    Embedded,
    /// As the driver of an application on a cluster.
    Cluster(ClusterLaunch),
}

/// What a driver asks the master for.
#[derive(Clone, Debug)]
pub struct ClusterLaunch {
    /// The master's address.
    pub master: String,
    /// Executors to start (0: one per live worker).
    pub executors: u32,
    /// Task slots per executor (0: all of the worker's cores).
    pub cores: u32,
    /// The application's name, shown in the web UI.
    pub name: String,
    /// The program executors run: `None` for the workers' own `strata` binary (built-in
    /// jobs), or a DFS path of the user's binary (`strata submit`).
    pub program: Option<String>,
    /// The arguments executors are started with (the driver's own).
    pub args: Vec<String>,
}

impl Launch {
    /// The launch `strata submit` asked for through the environment (`STRATA_SUBMIT_MASTER`,
    /// `STRATA_SUBMIT_PROGRAM`, `STRATA_SUBMIT_EXECUTORS`), or embedded.
    pub fn from_env() -> Result<Launch> {
        let Ok(master) = std::env::var("STRATA_SUBMIT_MASTER") else {
            return Ok(Launch::Embedded);
        };
        let executors = match std::env::var("STRATA_SUBMIT_EXECUTORS") {
            Ok(v) => v.parse().map_err(|_| {
                Error::Input(format!(
                    "STRATA_SUBMIT_EXECUTORS={v} is not a number of executors"
                ))
            })?,
            Err(_) => 0,
        };
        let name = std::env::args()
            .next()
            .and_then(|a| {
                std::path::Path::new(&a)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "program".into());
        Ok(Launch::Cluster(ClusterLaunch {
            master,
            executors,
            cores: 0,
            name,
            program: std::env::var("STRATA_SUBMIT_PROGRAM").ok(),
            args: std::env::args().skip(1).collect(),
        }))
    }
}

/// Whether this process was started by a worker as an executor.
pub fn is_executor_process() -> bool {
    std::env::var_os("STRATA_DRIVER").is_some()
}

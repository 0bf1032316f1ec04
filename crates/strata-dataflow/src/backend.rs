//! Where a stage's tasks run: the [`TaskBackend`] the DAG scheduler hands stages to.
//!
//! The scheduler (`scheduler/dag.rs`) decides *what* runs: stages cut at shuffles, missing
//! map outputs first, retries after fetch failures. A backend decides *where*: the
//! [`LocalBackend`] runs tasks on the runtime's CPU pool in this process; the cluster
//! driver's backend (`cluster/driver.rs`) places them on executors; an executor process's
//! backend schedules nothing and asks its driver for each job's results. The scheduler
//! never asks which one it has.
//!
//! Results cross the trait type-erased ([`AnyResult`]): a local task's value is moved as
//! is (no serialization), a remote one is decoded with the stage's [`Stage::decode`].

use crate::context::Inner;
use crate::error::{Error, Result};
use crate::shuffle::ShuffleId;
use crate::task::TaskContext;
use std::any::Any;
use std::sync::Arc;

/// What a task runs.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub(crate) enum TaskKind {
    /// The map side of this shuffle.
    Map(ShuffleId),
    /// The job's result function.
    Result,
}

/// What a process that does not schedule needs to run one job's tasks when they arrive:
/// the job's result function (its output encoded) and the shuffles in its lineage, by id.
pub(crate) struct JobRunner {
    pub result: Arc<dyn Fn(&TaskContext) -> Result<Vec<u8>> + Send + Sync>,
    pub shuffles: rustc_hash::FxHashMap<ShuffleId, Arc<dyn crate::shuffle::ShuffleDependencyBase>>,
}

/// A task's result with its type erased.
pub(crate) type AnyResult = Box<dyn Any + Send>;

/// A task: computes one partition.
pub(crate) type ErasedTask = Arc<dyn Fn(&TaskContext) -> Result<AnyResult> + Send + Sync>;

/// Decodes a task result that crossed the network.
pub(crate) type Decode = fn(&[u8]) -> std::result::Result<AnyResult, String>;

/// One stage, as the scheduler hands it to a backend.
pub(crate) struct Stage<'a> {
    /// The job.
    pub job: u64,
    /// The stage id (the scheduling process's own).
    pub stage: u64,
    /// What the stage computes, for logs and the UI.
    pub desc: &'a str,
    /// The partitions to run.
    pub parts: &'a [usize],
    /// A map stage (writes a shuffle) or the result stage.
    pub kind: TaskKind,
    /// Per partition, the hosts it prefers (its input's replicas, its cached block).
    pub prefs: Vec<Vec<String>>,
    /// The shuffles the stage reads.
    pub inputs: Vec<ShuffleId>,
    /// The task.
    pub task: ErasedTask,
    /// How a remote result is decoded (bincode of the task's output type).
    pub decode: Decode,
}

/// A way to run stages.
pub(crate) trait TaskBackend: Send + Sync {
    /// Runs the stage's tasks; returns each finished partition's result and, if the stage
    /// failed, why.
    fn run_stage(
        &self,
        inner: &Arc<Inner>,
        stage: Stage<'_>,
    ) -> (Vec<(usize, AnyResult)>, Option<Error>);

    /// Whether placement uses [`Stage::prefs`] (else the scheduler skips computing them).
    fn wants_locality(&self) -> bool {
        false
    }

    /// The host holding a cached partition, if the backend tracks blocks by host.
    fn cached_host(&self, _rdd: u64, _partition: usize) -> Option<String> {
        None
    }

    /// A map output was found lost (a fetch failed), for the backend's counts.
    fn output_lost(&self) {}

    /// A job began.
    fn job_started(&self, _job: u64, _name: &str) {}

    /// A job ended; `results` encodes its results for other processes, asked only by a
    /// backend that needs them (the driver sends them to every executor).
    fn job_finished(
        &self,
        _job: u64,
        _results: &dyn Fn() -> std::result::Result<Arc<Vec<u8>>, String>,
    ) {
    }

    /// For a process that does not schedule (an executor): the job's encoded results,
    /// from whoever does. None: this process schedules the job itself.
    fn remote_job(&self, _job: u64, _runner: JobRunner) -> Option<Result<Arc<Vec<u8>>>> {
        None
    }

    /// Whether this process schedules jobs (false in an executor).
    fn schedules(&self) -> bool {
        true
    }

    /// The application id, when running on a cluster.
    fn app_id(&self) -> Option<String> {
        None
    }

    /// The application's status for the UI, when a driver.
    fn report(&self) -> Option<strata_cluster::model::AppUi> {
        None
    }
}

/// Runs every task in this process, on the runtime's CPU pool.
pub(crate) struct LocalBackend;

impl TaskBackend for LocalBackend {
    fn run_stage(
        &self,
        inner: &Arc<Inner>,
        s: Stage<'_>,
    ) -> (Vec<(usize, AnyResult)>, Option<Error>) {
        crate::scheduler::dag::run_local(inner, s.job, s.stage, s.parts, s.task, s.desc)
    }
}

/// Decodes a bincode-encoded `R` as an [`AnyResult`].
pub(crate) fn decode<R: serde::de::DeserializeOwned + Send + 'static>(
    bytes: &[u8],
) -> std::result::Result<AnyResult, String> {
    bincode::deserialize::<R>(bytes)
        .map(|r| Box::new(r) as AnyResult)
        .map_err(|e| e.to_string())
}

/// Erases a typed task.
pub(crate) fn erase<R: Send + 'static>(
    task: Arc<dyn Fn(&TaskContext) -> Result<R> + Send + Sync>,
) -> ErasedTask {
    Arc::new(move |tc: &TaskContext| task(tc).map(|r| Box::new(r) as AnyResult))
}

/// Takes a typed result back out (the scheduler made the task, so the type is known).
pub(crate) fn unerase<R: 'static>(r: AnyResult) -> R {
    *r.downcast::<R>()
        .expect("a backend returned a result of another type than its task's")
}

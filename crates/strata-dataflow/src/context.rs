//! The entry point: a [`Context`] owns the executor (thread pool, memory, scratch space,
//! cache) and creates datasets.

use crate::accumulator::{Accumulator, Broadcast};
use crate::backend::{LocalBackend, TaskBackend};
use crate::cache::BlockManager;
use crate::cluster::Launch;
use crate::cluster::driver::Driver;
use crate::cluster::executor::Executor;
use crate::data::Data;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::io;
use crate::memory::MemoryManager;
use crate::metrics::{EngineMetrics, MetricsSnapshot};
use crate::rdd::Rdd;
use crate::rdd::records::FixedRecords;
use crate::rdd::source::ParallelCollection;
use crate::rdd::text::{Line, TextFile, TextFileLines, TextFileWithOffsets};
use crate::scheduler::listener::JobListener;
use crate::shuffle::ShuffleManager;
use crate::task::FailurePolicy;
use parking_lot::RwLock;
use std::ops::AddAssign;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_common::{ClusterConfig, DataflowConfig, StrataConfig};
use strata_runtime::{Runtime, RuntimeConfig};

pub(crate) struct Inner {
    pub config: DataflowConfig,
    pub cluster: ClusterConfig,
    pub shuffle: Arc<ShuffleManager>,
    pub memory: Arc<MemoryManager>,
    pub blocks: Arc<BlockManager>,
    pub metrics: Arc<EngineMetrics>,
    pub failures: RwLock<FailurePolicy>,
    pub listeners: RwLock<Vec<Arc<dyn JobListener>>>,
    /// Where tasks run: this process's pool, the cluster's executors, or (in an executor)
    /// nowhere but through the driver.
    pub backend: Arc<dyn TaskBackend>,
    /// Lineage ids (datasets, shuffles): program order, identical in every process.
    next_id: AtomicU64,
    /// Job ids: one per action, identical in every process.
    next_job: AtomicU64,
    /// Stage ids: the scheduling process's own.
    next_stage: AtomicU64,
}

impl Inner {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
    pub fn next_job(&self) -> u64 {
        self.next_job.fetch_add(1, Ordering::Relaxed)
    }
    pub fn next_stage(&self) -> u64 {
        self.next_stage.fetch_add(1, Ordering::Relaxed)
    }
}

/// A handle on the dataflow engine. Cheap to clone; all clones share one executor.
///
/// Embedded mode (the default) runs every task in this process on a pool of
/// `dataflow.threads` threads, with the same scheduler, shuffle and cache code that a cluster
/// uses.
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<Inner>,
}

impl Context {
    /// An embedded context with the default configuration plus `STRATA_*` environment
    /// overrides.
    pub fn local() -> Result<Self> {
        Self::with_config(StrataConfig::load(None)?)
    }

    /// The context a program should use: embedded, unless launched by `strata submit`
    /// (then the driver of a cluster application) or by a worker (then an executor).
    /// Reads the TOML file named by `STRATA_CONFIG`, if set.
    pub fn from_env() -> Result<Self> {
        let path = std::env::var_os("STRATA_CONFIG").map(std::path::PathBuf::from);
        Self::launch(StrataConfig::load(path.as_deref())?, &Launch::from_env()?)
    }

    /// An embedded context with this engine configuration (and default cluster settings).
    pub fn new(config: DataflowConfig) -> Result<Self> {
        Self::with_config(StrataConfig {
            dataflow: config,
            ..StrataConfig::default()
        })
    }

    /// An embedded context with a whole configuration (the cluster section gives the DFS
    /// master and secret for `dfs://` paths). In a process a worker started as an executor,
    /// the executor's context.
    pub fn with_config(full: StrataConfig) -> Result<Self> {
        Self::launch(full, &Launch::Embedded)
    }

    /// A context that runs as `launch` says: embedded, or as the driver of a cluster
    /// application. A process started by a worker is always an executor, whatever `launch`.
    pub fn launch(full: StrataConfig, launch: &Launch) -> Result<Self> {
        full.validate()?;
        let config = &full.dataflow;
        let runtime = Runtime::new(&RuntimeConfig {
            memory: config.memory.bytes(),
            threads: config.threads,
            scratch_base: config.local_dir.clone().unwrap_or_else(std::env::temp_dir),
        })
        .map_err(|e| Error::io(&e.path, e.source))?;
        Self::launch_on(full, launch, runtime)
    }

    /// An embedded context that draws memory, scratch space and threads from `runtime`,
    /// shared with the process's other engines (SQL, streaming); `dataflow.memory` and
    /// `dataflow.threads` are then the runtime's, not the configuration's.
    pub fn with_runtime(full: StrataConfig, runtime: Arc<Runtime>) -> Result<Self> {
        full.validate()?;
        Self::launch_on(full, &Launch::Embedded, runtime)
    }

    fn launch_on(full: StrataConfig, launch: &Launch, runtime: Arc<Runtime>) -> Result<Self> {
        let mut config = full.dataflow.clone();
        config.threads = runtime.cpu().threads();
        let memory = Arc::new(MemoryManager::new(runtime, config.storage_fraction));
        let shuffle = Arc::new(ShuffleManager::new(config.local_dir.as_deref())?);
        let backend: Arc<dyn TaskBackend> = if crate::cluster::is_executor_process() {
            Arc::new(Executor::start(&full, shuffle.clone(), memory.clone())?)
        } else {
            match launch {
                Launch::Embedded => Arc::new(LocalBackend),
                Launch::Cluster(c) => Arc::new(Driver::start(&full, c, shuffle.clone())?),
            }
        };
        Ok(Context {
            inner: Arc::new(Inner {
                blocks: Arc::new(BlockManager::new(memory.clone())),
                memory,
                shuffle,
                metrics: Arc::new(EngineMetrics::default()),
                failures: RwLock::new(FailurePolicy::None),
                listeners: RwLock::new(Vec::new()),
                next_id: AtomicU64::new(0),
                next_job: AtomicU64::new(0),
                next_stage: AtomicU64::new(0),
                backend,
                cluster: full.cluster,
                config,
            }),
        })
    }

    /// Whether this process is the driver (always true embedded). In cluster mode every
    /// process runs the program; effects outside Strata's API (printing, writing local
    /// files) should be guarded by this.
    pub fn is_driver(&self) -> bool {
        self.inner.backend.schedules()
    }

    /// The cluster application id, when this context drives or serves one.
    pub fn app_id(&self) -> Option<String> {
        self.inner.backend.app_id()
    }

    /// The driver's progress report (jobs, stages, tasks, locality, recovery counts), when
    /// this context drives a cluster application.
    pub fn cluster_report(&self) -> Option<strata_cluster::model::AppUi> {
        self.inner.backend.report()
    }

    /// The configuration in force.
    pub fn config(&self) -> &DataflowConfig {
        &self.inner.config
    }

    /// Counters of what this context has done.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// Registers a listener for scheduler events.
    pub fn add_listener(&self, l: Arc<dyn JobListener>) {
        self.inner.listeners.write().push(l);
    }

    /// Injects task failures (for testing recovery).
    pub fn set_failure_policy(&self, policy: FailurePolicy) {
        *self.inner.failures.write() = policy;
    }

    /// The cluster settings (DFS master, secret).
    pub fn cluster(&self) -> &ClusterConfig {
        &self.inner.cluster
    }

    /// The scratch directory of shuffle, spill and cache files.
    pub fn scratch_dir(&self) -> &std::path::Path {
        self.inner.shuffle.root()
    }

    pub(crate) fn new_id(&self) -> u64 {
        self.inner.next_id()
    }

    pub(crate) fn wrap<T: Data>(&self, rdd: Arc<dyn Rdd<T>>) -> Dataset<T> {
        Dataset::from_rdd(self.clone(), rdd)
    }

    /// A dataset of an in-memory collection, in `default_partitions` partitions.
    pub fn parallelize<T: Data>(&self, data: Vec<T>) -> Dataset<T> {
        self.parallelize_with(data, self.inner.config.default_partitions)
    }

    /// A dataset of an in-memory collection, in `partitions` partitions.
    pub fn parallelize_with<T: Data>(&self, data: Vec<T>, partitions: usize) -> Dataset<T> {
        self.wrap(Arc::new(ParallelCollection::new(
            self.new_id(),
            data,
            partitions,
        )))
    }

    /// One partition per element, partition `i` preferring to run on `hosts[i]` (addresses
    /// `host[:port]`, e.g. the DFS replicas of the data element `i` names).
    pub fn parallelize_placed<T: Data>(&self, data: Vec<T>, hosts: Vec<Vec<String>>) -> Dataset<T> {
        let n = data.len();
        let mut c = ParallelCollection::new(self.new_id(), data, n);
        c.hosts = hosts;
        self.wrap(Arc::new(c))
    }

    /// Lines of text files. Each input is a file, a directory (read recursively) or a glob;
    /// large files are split into ranges of `split_size` bytes, and inputs are cut into at
    /// least `default_partitions` partitions. Lines are UTF-8 with invalid bytes replaced by
    /// U+FFFD, without their line terminator.
    pub fn text_file<P: AsRef<str>>(&self, inputs: &[P]) -> Result<Dataset<String>> {
        Ok(self.wrap(Arc::new(self.text_source(inputs, None)?)))
    }

    /// Like [`Context::text_file`] with at least `min_partitions` partitions.
    pub fn text_file_with<P: AsRef<str>>(
        &self,
        inputs: &[P],
        min_partitions: usize,
    ) -> Result<Dataset<String>> {
        Ok(self.wrap(Arc::new(self.text_source(inputs, Some(min_partitions))?)))
    }

    /// Lines with the byte offset at which each starts in its file (Hadoop's
    /// `TextInputFormat`).
    pub fn text_file_with_offsets<P: AsRef<str>>(
        &self,
        inputs: &[P],
    ) -> Result<Dataset<(u64, String)>> {
        Ok(self.wrap(Arc::new(TextFileWithOffsets(
            self.text_source(inputs, None)?,
        ))))
    }

    /// Lines with their file and byte offset, for jobs whose errors must name the file and
    /// line ([`Line::line_number`]).
    pub fn text_file_lines<P: AsRef<str>>(&self, inputs: &[P]) -> Result<Dataset<Line>> {
        Ok(self.wrap(Arc::new(TextFileLines(self.text_source(inputs, None)?))))
    }

    fn text_source<P: AsRef<str>>(&self, inputs: &[P], min: Option<usize>) -> Result<TextFile> {
        let files = io::expand_inputs_with(inputs, &self.inner.cluster)?;
        let min = min.unwrap_or(self.inner.config.default_partitions);
        let splits = io::plan_splits(&files, self.inner.config.split_size.bytes(), min, 1);
        Ok(TextFile {
            id: self.new_id(),
            files,
            splits,
        })
    }

    /// Fixed-length binary records (e.g. 100-byte TeraSort records). Every file's length must
    /// be a multiple of `record_len`.
    pub fn binary_records<P: AsRef<str>>(
        &self,
        inputs: &[P],
        record_len: usize,
    ) -> Result<Dataset<Vec<u8>>> {
        if record_len == 0 {
            return Err(Error::Input("record length must be at least 1 byte".into()));
        }
        let files = io::expand_inputs_with(inputs, &self.inner.cluster)?;
        for f in &files {
            if f.len % record_len as u64 != 0 {
                return Err(Error::Input(format!(
                    "{}: length {} is not a multiple of the {record_len}-byte record size; \
                     is this the right input?",
                    f.path.display(),
                    f.len
                )));
            }
        }
        let splits = io::plan_splits(
            &files,
            self.inner.config.split_size.bytes(),
            self.inner.config.default_partitions,
            record_len as u64,
        );
        Ok(self.wrap(Arc::new(FixedRecords {
            id: self.new_id(),
            record_len,
            files,
            splits,
        })))
    }

    /// `f`'s value, computed in the driver only; every executor gets the driver's value
    /// (or its error) instead of running `f`. For what only the driver may compute (a
    /// query's plan, a decision from the driver's state) in an SPMD program. Embedded, it
    /// simply runs `f`.
    pub fn on_driver<R: Data>(
        &self,
        description: &str,
        f: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        crate::scheduler::dag::run_on_driver(&self.inner, description, f)
    }

    /// The runtime (memory pool, scratch disk, CPU pool) the context draws from, for other
    /// engines running in its tasks.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.inner.memory.runtime().clone()
    }

    /// A value every task can read.
    pub fn broadcast<T: Send + Sync + 'static>(&self, value: T) -> Broadcast<T> {
        Broadcast::new(value)
    }

    /// An accumulator starting at `initial`. Only successful task attempts' updates count.
    pub fn accumulator<
        T: AddAssign
            + Default
            + Clone
            + Send
            + serde::Serialize
            + serde::de::DeserializeOwned
            + 'static,
    >(
        &self,
        initial: T,
    ) -> Accumulator<T> {
        Accumulator::new(initial)
    }
}

//! Strata's shared runtime: what every engine in a process draws from.
//!
//! One [`Runtime`] per process (embedded: the CLI's; cluster: each executor's) holds
//! - a [`MemoryPool`] that hands out [`Reservation`]s: dataflow tasks, cached blocks and SQL
//!   operators all grow reservations as they buffer, and spill to scratch disk when the pool
//!   says no, so the engines together never hold more than the budget ([`memory`]);
//! - a [`DiskManager`]: the process's scratch directory, removed on drop, and swept at the
//!   next start after a crash ([`disk`]);
//! - a [`CpuPool`]: one set of work-stealing threads for every engine ([`cpu`]);
//! - the metrics registry (Prometheus, re-exported from `strata-common`), with the
//!   runtime's own gauges registered by [`Runtime::register_metrics`].
//!
//! Engines receive an `Arc<Runtime>`; the resource manager will size it later.

pub mod cpu;
pub mod disk;
pub mod memory;

pub use cpu::CpuPool;
pub use disk::{DiskError, DiskManager, ScratchDir};
pub use memory::{MemoryExhausted, MemoryPool, MemoryStats, Reservation, SizeEstimator};
pub use strata_common::metrics;

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How big a runtime is.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Bytes of memory the engines may hold together.
    pub memory: u64,
    /// CPU threads.
    pub threads: usize,
    /// Where scratch files go (`strata-scratch/` is made below it).
    pub scratch_base: PathBuf,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            memory: default_memory(),
            threads: std::thread::available_parallelism().map_or(2, |t| t.get()),
            scratch_base: std::env::temp_dir(),
        }
    }
}

/// Half of the machine's memory (DuckDB takes 80%; the rest of the process needs room too).
pub fn default_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(8 << 30, |kb| kb * 1024)
        / 2
}

/// Memory, scratch disk and CPU threads shared by the engines of a process.
#[derive(Debug)]
pub struct Runtime {
    memory: Arc<MemoryPool>,
    disk: DiskManager,
    cpu: CpuPool,
}

impl Runtime {
    /// A runtime of this size.
    pub fn new(cfg: &RuntimeConfig) -> Result<Arc<Runtime>, DiskError> {
        Ok(Arc::new(Runtime {
            memory: MemoryPool::new(cfg.memory),
            disk: DiskManager::new(&cfg.scratch_base)?,
            cpu: CpuPool::new(cfg.threads),
        }))
    }

    /// The process's default runtime (default size), made on first use.
    pub fn global() -> Arc<Runtime> {
        static GLOBAL: std::sync::OnceLock<Arc<Runtime>> = std::sync::OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let rt = Runtime::new(&RuntimeConfig::default()).expect("scratch space in TMPDIR");
                rt.register_metrics();
                rt
            })
            .clone()
    }

    /// The memory pool.
    pub fn memory(&self) -> &Arc<MemoryPool> {
        &self.memory
    }

    /// The scratch disk.
    pub fn disk(&self) -> &DiskManager {
        &self.disk
    }

    /// The CPU threads.
    pub fn cpu(&self) -> &CpuPool {
        &self.cpu
    }

    /// The scratch directory.
    pub fn scratch(&self) -> &Path {
        self.disk.dir()
    }

    /// Registers this runtime's gauges (memory in use and peak, scratch files) in the
    /// process's metrics registry. Call once, for the process's main runtime.
    pub fn register_metrics(self: &Arc<Self>) {
        use prometheus_client::metrics::gauge::ConstGauge;
        use prometheus_client::registry::Registry;
        #[derive(Debug)]
        struct Collector(std::sync::Weak<Runtime>);
        impl prometheus_client::collector::Collector for Collector {
            fn encode(
                &self,
                mut enc: prometheus_client::encoding::DescriptorEncoder,
            ) -> std::fmt::Result {
                use prometheus_client::encoding::EncodeMetric;
                let Some(rt) = self.0.upgrade() else {
                    return Ok(());
                };
                let m = rt.memory.stats();
                let (files, bytes) = rt.disk.usage();
                for (name, help, v) in [
                    ("memory_limit_bytes", "Memory pool budget", m.limit),
                    ("memory_used_bytes", "Memory reserved now", m.used),
                    ("memory_peak_bytes", "Most memory reserved at once", m.peak),
                    ("memory_denied", "Reservations refused (spills)", m.denied),
                    ("scratch_files", "Files in the scratch directory", files),
                    ("scratch_bytes", "Bytes in the scratch directory", bytes),
                ] {
                    let g = ConstGauge::new(v as i64);
                    let e = enc.encode_descriptor(name, help, None, g.metric_type())?;
                    g.encode(e)?;
                }
                Ok(())
            }
        }
        metrics::registry(|r: &mut Registry| {
            r.sub_registry_with_prefix("runtime")
                .register_collector(Box::new(Collector(Arc::downgrade(self))))
        });
    }
}

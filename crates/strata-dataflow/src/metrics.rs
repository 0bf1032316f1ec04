//! Counters of what tasks and jobs did: records, shuffle bytes, spills, recomputation.
//!
//! Each task accumulates into its own [`TaskMetrics`]; the scheduler folds them into the
//! context's [`EngineMetrics`] when an attempt succeeds, and into the process-wide Prometheus
//! registry of `strata-common`.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use strata_common::metrics::Counter;

/// Per-attempt counters (single-threaded; a task runs on one thread).
#[derive(Default, Debug)]
pub struct TaskMetrics {
    pub(crate) shuffle_bytes_written: Cell<u64>,
    pub(crate) shuffle_bytes_read: Cell<u64>,
    pub(crate) spilled_bytes: Cell<u64>,
    pub(crate) spills: Cell<u64>,
}

impl TaskMetrics {
    pub(crate) fn add(cell: &Cell<u64>, n: u64) {
        cell.set(cell.get() + n);
    }
}

/// Totals over a context's lifetime.
#[derive(Default, Debug)]
pub struct EngineMetrics {
    /// Task attempts that succeeded.
    pub tasks_succeeded: AtomicU64,
    /// Task attempts that failed (and were retried or failed their job).
    pub tasks_failed: AtomicU64,
    /// Shuffle map tasks run (including re-runs after lost output).
    pub map_tasks_run: AtomicU64,
    /// Bytes written to shuffle files.
    pub shuffle_bytes_written: AtomicU64,
    /// Bytes read from shuffle files.
    pub shuffle_bytes_read: AtomicU64,
    /// Bytes written to spill files by operators over their memory budget.
    pub spilled_bytes: AtomicU64,
    /// Number of spills.
    pub spills: AtomicU64,
    /// Cached partitions found in the cache.
    pub cache_hits: AtomicU64,
    /// Cached partitions that had to be computed (first use, or lost and recomputed).
    pub cache_misses: AtomicU64,
}

/// A plain-number copy of [`EngineMetrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// See [`EngineMetrics::tasks_succeeded`].
    pub tasks_succeeded: u64,
    /// See [`EngineMetrics::tasks_failed`].
    pub tasks_failed: u64,
    /// See [`EngineMetrics::map_tasks_run`].
    pub map_tasks_run: u64,
    /// See [`EngineMetrics::shuffle_bytes_written`].
    pub shuffle_bytes_written: u64,
    /// See [`EngineMetrics::shuffle_bytes_read`].
    pub shuffle_bytes_read: u64,
    /// See [`EngineMetrics::spilled_bytes`].
    pub spilled_bytes: u64,
    /// See [`EngineMetrics::spills`].
    pub spills: u64,
    /// See [`EngineMetrics::cache_hits`].
    pub cache_hits: u64,
    /// See [`EngineMetrics::cache_misses`].
    pub cache_misses: u64,
}

struct Global {
    tasks: Counter,
    failed: Counter,
    shuffle_written: Counter,
    spilled: Counter,
}

fn global() -> &'static Global {
    static G: OnceLock<Global> = OnceLock::new();
    G.get_or_init(|| Global {
        tasks: strata_common::metrics::counter("dataflow_tasks", "Task attempts that succeeded"),
        failed: strata_common::metrics::counter(
            "dataflow_task_failures",
            "Task attempts that failed",
        ),
        shuffle_written: strata_common::metrics::counter(
            "dataflow_shuffle_written_bytes",
            "Bytes written to shuffle files",
        ),
        spilled: strata_common::metrics::counter(
            "dataflow_spilled_bytes",
            "Bytes spilled to disk by operators over their memory budget",
        ),
    })
}

impl EngineMetrics {
    pub(crate) fn task_succeeded(&self, t: &TaskMetrics) {
        let g = global();
        self.tasks_succeeded.fetch_add(1, Ordering::Relaxed);
        g.tasks.inc();
        let w = t.shuffle_bytes_written.get();
        self.shuffle_bytes_written.fetch_add(w, Ordering::Relaxed);
        g.shuffle_written.inc_by(w);
        self.shuffle_bytes_read
            .fetch_add(t.shuffle_bytes_read.get(), Ordering::Relaxed);
        let s = t.spilled_bytes.get();
        self.spilled_bytes.fetch_add(s, Ordering::Relaxed);
        g.spilled.inc_by(s);
        self.spills.fetch_add(t.spills.get(), Ordering::Relaxed);
    }

    pub(crate) fn task_failed(&self) {
        self.tasks_failed.fetch_add(1, Ordering::Relaxed);
        global().failed.inc();
    }

    /// A copy of the current values.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            tasks_succeeded: l(&self.tasks_succeeded),
            tasks_failed: l(&self.tasks_failed),
            map_tasks_run: l(&self.map_tasks_run),
            shuffle_bytes_written: l(&self.shuffle_bytes_written),
            shuffle_bytes_read: l(&self.shuffle_bytes_read),
            spilled_bytes: l(&self.spilled_bytes),
            spills: l(&self.spills),
            cache_hits: l(&self.cache_hits),
            cache_misses: l(&self.cache_misses),
        }
    }
}

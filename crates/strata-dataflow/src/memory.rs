//! The dataflow engine's view of the runtime's memory pool.
//!
//! Memory comes from the process's [`strata_runtime::Runtime`], shared with every other
//! engine in it (`dataflow.memory` sizes it when the context makes its own). Operators that
//! buffer (shuffle writers, map-side combine, sort) take a spillable reservation each
//! ([`crate::TaskContext::reserve`]) and spill when it cannot grow; cached blocks take from
//! the pool as an unspillable consumer, up to `storage_fraction` of it, and what does not fit
//! goes to disk or is recomputed. Sizes of generic elements are estimated the way Spark's
//! `SizeEstimator` does it, by sampling ([`SizeEstimator`]).

use parking_lot::Mutex;
use std::sync::Arc;
use strata_runtime::{Reservation, Runtime};

pub use strata_runtime::SizeEstimator;

/// The engine's share of the runtime's memory: cached blocks and task reservations.
#[derive(Debug)]
pub struct MemoryManager {
    runtime: Arc<Runtime>,
    storage_cap: u64,
    storage: Mutex<Reservation>,
}

impl MemoryManager {
    /// Draws on `runtime`'s pool; cached blocks may hold `storage_fraction` of it.
    pub fn new(runtime: Arc<Runtime>, storage_fraction: f64) -> Self {
        let storage_cap = (runtime.memory().limit() as f64 * storage_fraction) as u64;
        let storage = Mutex::new(runtime.memory().unspillable("dataflow cache"));
        MemoryManager {
            runtime,
            storage_cap,
            storage,
        }
    }

    /// The runtime it draws on.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// A spillable reservation for one operator of a task.
    pub fn reserve(&self, what: &str) -> Reservation {
        self.runtime.memory().spillable(format!("dataflow {what}"))
    }

    /// Reserves `bytes` of storage memory for a cached block; false if the pool is full.
    pub fn try_reserve_storage(&self, bytes: u64) -> bool {
        let mut r = self.storage.lock();
        r.size() + bytes <= self.storage_cap && r.try_grow(bytes).is_ok()
    }

    /// Returns storage memory of a dropped block.
    pub fn release_storage(&self, bytes: u64) {
        self.storage.lock().shrink(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_runtime::RuntimeConfig;

    #[test]
    fn storage_pool_is_bounded() {
        let base = tempfile::tempdir().unwrap();
        let rt = Runtime::new(&RuntimeConfig {
            memory: 1000,
            threads: 1,
            scratch_base: base.path().into(),
        })
        .unwrap();
        let m = MemoryManager::new(rt.clone(), 0.5);
        assert!(m.try_reserve_storage(400));
        assert!(!m.try_reserve_storage(200));
        m.release_storage(400);
        assert!(m.try_reserve_storage(500));
        // A task's operators get what the cache leaves.
        let mut op = m.reserve("sort");
        assert!(op.try_grow(501).is_err());
        op.try_grow(500).unwrap();
        assert_eq!(rt.memory().stats().used, 1000);
    }
}

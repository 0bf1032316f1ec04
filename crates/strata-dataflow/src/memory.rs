//! Memory budgets and size estimation.
//!
//! The executor's memory (`dataflow.memory`) is split in two pools: storage (cached
//! partitions, `storage_fraction` of it) and execution (shuffle buffers, hash tables, sort
//! buffers). Each running task may use an equal share of the execution pool; an operator that
//! would exceed its share spills to disk instead. Sizes of generic elements are estimated the
//! way Spark's `SizeEstimator` does it, by sampling: every so often the serialized size of an
//! element is measured and a running average kept.

use parking_lot::Mutex;
use serde::Serialize;

/// The executor's memory pools.
#[derive(Debug)]
pub struct MemoryManager {
    execution: u64,
    storage: u64,
    threads: usize,
    storage_used: Mutex<u64>,
}

impl MemoryManager {
    /// Pools for `total` bytes shared by `threads` concurrent tasks.
    pub fn new(total: u64, storage_fraction: f64, threads: usize) -> Self {
        let storage = (total as f64 * storage_fraction) as u64;
        MemoryManager {
            execution: total - storage,
            storage,
            threads: threads.max(1),
            storage_used: Mutex::new(0),
        }
    }

    /// Execution bytes one task may hold.
    pub fn task_budget(&self) -> u64 {
        (self.execution / self.threads as u64).max(64 << 10)
    }

    /// Reserves `bytes` of storage memory for a cached block; false if the pool is full.
    pub fn try_reserve_storage(&self, bytes: u64) -> bool {
        let mut used = self.storage_used.lock();
        if *used + bytes <= self.storage {
            *used += bytes;
            true
        } else {
            false
        }
    }

    /// Returns storage memory of a dropped block.
    pub fn release_storage(&self, bytes: u64) {
        let mut used = self.storage_used.lock();
        *used = used.saturating_sub(bytes);
    }
}

/// Running estimate of the in-memory size of a collection of elements.
#[derive(Debug)]
pub struct SizeEstimator {
    per_item_overhead: u64,
    samples: u64,
    sampled_bytes: u64,
    count: u64,
    next_sample: u64,
}

impl SizeEstimator {
    /// `per_item_overhead`: bytes a slot costs besides its serialized payload (the inline
    /// struct size, hash-table control bytes).
    pub fn new(per_item_overhead: usize) -> Self {
        SizeEstimator {
            per_item_overhead: per_item_overhead as u64,
            samples: 0,
            sampled_bytes: 0,
            count: 0,
            next_sample: 0,
        }
    }

    /// Accounts for one more element, sampling its size now and then.
    #[inline]
    pub fn add<T: Serialize>(&mut self, item: &T) {
        if self.count == self.next_sample {
            self.sampled_bytes += bincode::serialized_size(item).unwrap_or(16);
            self.samples += 1;
            // Sample the first 64 elements, then about every 64th.
            self.next_sample = self.count + if self.samples < 64 { 1 } else { 64 };
        }
        self.count += 1;
    }

    /// Forgets every element (after a spill or drain).
    pub fn reset(&mut self) {
        self.count = 0;
        self.next_sample = 0;
        // Keep the average; it still describes the data.
        if self.samples > 64 {
            self.sampled_bytes = self.sampled_bytes * 64 / self.samples;
            self.samples = 64;
        }
    }

    /// Elements accounted for.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Estimated bytes held.
    pub fn bytes(&self) -> u64 {
        if self.samples == 0 {
            return 0;
        }
        self.count * (self.per_item_overhead + self.sampled_bytes / self.samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_payload() {
        let mut small = SizeEstimator::new(24);
        let mut big = SizeEstimator::new(24);
        for i in 0..10_000u64 {
            small.add(&i);
            big.add(&vec![i; 100]);
        }
        assert!(small.bytes() >= 10_000 * 24);
        assert!(big.bytes() > 10 * small.bytes() / 2);
        small.reset();
        assert_eq!(small.bytes(), 0);
    }

    #[test]
    fn storage_pool_is_bounded() {
        let m = MemoryManager::new(1000, 0.5, 2);
        assert!(m.try_reserve_storage(400));
        assert!(!m.try_reserve_storage(200));
        m.release_storage(400);
        assert!(m.try_reserve_storage(500));
        assert_eq!(m.task_budget(), 64 << 10);
    }
}

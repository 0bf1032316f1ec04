//! Which reduce partition a key goes to.
//!
//! Hashing uses `FxHasher` with no random seed, so every process of a cluster computes the
//! same partition for the same key (std's `RandomState` would not).

use crate::data::Data;
use std::hash::{Hash, Hasher};

/// Maps keys to partitions `0..num_partitions()`.
pub trait Partitioner<K>: Send + Sync {
    /// Number of output partitions.
    fn num_partitions(&self) -> usize;
    /// The partition of `key`; always below `num_partitions()`.
    fn partition(&self, key: &K) -> usize;
}

/// A deterministic 64-bit hash of a key, `seed` picking an independent hash function.
#[inline]
pub fn stable_hash<K: Hash + ?Sized>(key: &K, seed: u64) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    seed.hash(&mut h);
    key.hash(&mut h);
    // Fx's low bits are weak: mix (splitmix64 finalizer) before taking a modulus.
    let mut z = h.finish();
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// Partitions by a hash of the key.
#[derive(Clone, Debug)]
pub struct HashPartitioner {
    partitions: usize,
}

impl HashPartitioner {
    /// `partitions` partitions (at least one).
    pub fn new(partitions: usize) -> Self {
        HashPartitioner {
            partitions: partitions.max(1),
        }
    }
}

impl<K: Hash> Partitioner<K> for HashPartitioner {
    fn num_partitions(&self) -> usize {
        self.partitions
    }
    #[inline]
    fn partition(&self, key: &K) -> usize {
        (stable_hash(key, 0) % self.partitions as u64) as usize
    }
}

/// The key is the partition number (Spark's `PartitionIdPassthrough`): for data already
/// keyed by its destination partition.
#[derive(Clone, Debug)]
pub struct DirectPartitioner {
    partitions: usize,
}

impl DirectPartitioner {
    /// Keys must be below `partitions`; larger keys wrap around.
    pub fn new(partitions: usize) -> Self {
        DirectPartitioner {
            partitions: partitions.max(1),
        }
    }
}

impl Partitioner<u32> for DirectPartitioner {
    fn num_partitions(&self) -> usize {
        self.partitions
    }
    fn partition(&self, key: &u32) -> usize {
        *key as usize % self.partitions
    }
}

/// Partitions an ordered key space into ranges, from sorted split points (`bounds`):
/// partition `i` holds keys in `(bounds[i-1], bounds[i]]`. Built by `sort_by_key` from a
/// sample of the data so that partitions come out about equal in size.
#[derive(Clone, Debug)]
pub struct RangePartitioner<K> {
    bounds: Vec<K>,
    ascending: bool,
}

impl<K: Data + Ord> RangePartitioner<K> {
    /// From sorted, distinct split points.
    pub fn from_bounds(bounds: Vec<K>, ascending: bool) -> Self {
        RangePartitioner { bounds, ascending }
    }

    /// Chooses `partitions - 1` split points from a sample of keys.
    pub fn from_sample(mut sample: Vec<K>, partitions: usize, ascending: bool) -> Self {
        sample.sort();
        let mut bounds = Vec::new();
        if !sample.is_empty() {
            for i in 1..partitions.max(1) {
                let idx = i * sample.len() / partitions;
                let candidate = &sample[idx.min(sample.len() - 1)];
                if bounds.last() != Some(candidate) {
                    bounds.push(candidate.clone());
                }
            }
        }
        RangePartitioner { bounds, ascending }
    }
}

impl<K: Data + Ord> Partitioner<K> for RangePartitioner<K> {
    fn num_partitions(&self) -> usize {
        self.bounds.len() + 1
    }
    fn partition(&self, key: &K) -> usize {
        let i = self.bounds.partition_point(|b| b < key);
        if self.ascending {
            i
        } else {
            self.bounds.len() - i
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_partitions_are_ordered() {
        let p = RangePartitioner::from_sample((0..1000u32).collect(), 4, true);
        assert_eq!(Partitioner::<u32>::num_partitions(&p), 4);
        let mut last = 0;
        for k in 0..1000u32 {
            let part = p.partition(&k);
            assert!(part >= last);
            last = part;
        }
        assert_eq!(last, 3);
        let d = RangePartitioner::from_sample((0..1000u32).collect(), 4, false);
        assert_eq!(d.partition(&0), 3);
        assert_eq!(d.partition(&999), 0);
    }

    #[test]
    fn hash_is_stable_and_in_range() {
        let p = HashPartitioner::new(7);
        for k in 0..1000u64 {
            assert!(Partitioner::<u64>::partition(&p, &k) < 7);
        }
        assert_eq!(stable_hash("strata", 0), stable_hash("strata", 0));
        assert_ne!(stable_hash("strata", 0), stable_hash("strata", 1));
    }
}

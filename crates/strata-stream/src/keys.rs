//! Key groups: the unit keyed state is partitioned, snapshotted and redistributed by.
//!
//! A key hashes to one of `max_parallelism` key groups (default 128), and key group `g`
//! belongs to operator instance `g * parallelism / max_parallelism`, so every instance owns
//! a contiguous range. A job restored at another parallelism reads, in each instance, the
//! key groups of its new range out of every old instance's snapshot (Flink's scheme).

use std::hash::{Hash, Hasher};

/// Keys of keyed streams.
pub trait Key:
    Hash + Eq + Ord + Clone + Send + Sync + 'static + serde::Serialize + serde::de::DeserializeOwned
{
}
impl<K> Key for K where
    K: Hash
        + Eq
        + Ord
        + Clone
        + Send
        + Sync
        + 'static
        + serde::Serialize
        + serde::de::DeserializeOwned
{
}

/// The key group of `key` (stable across processes and runs of the same build).
pub fn key_group<K: Hash + ?Sized>(key: &K, max_parallelism: usize) -> usize {
    let mut h = rustc_hash::FxHasher::default();
    key.hash(&mut h);
    // Murmur3's finaliser: FxHash's low bits are weak on small integers.
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    (x % max_parallelism as u64) as usize
}

/// The operator instance that owns key group `group`.
pub fn instance_of(group: usize, max_parallelism: usize, parallelism: usize) -> usize {
    group * parallelism / max_parallelism
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_one_owner_and_ranges_are_contiguous() {
        for p in 1..=7 {
            let owners: Vec<usize> = (0..128).map(|g| instance_of(g, 128, p)).collect();
            assert!(owners.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(*owners.last().unwrap(), p - 1);
        }
        let spread: std::collections::BTreeSet<usize> =
            (0u64..1000).map(|k| key_group(&k, 128)).collect();
        assert!(spread.len() > 120, "{}", spread.len());
    }
}

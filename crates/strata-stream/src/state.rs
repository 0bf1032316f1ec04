//! Keyed state backends and incremental snapshots.
//!
//! An operator's keyed state (`K → S`) lives on the heap (a `HashMap`) or in an on-disk LSM
//! tree (`fjall`: a maintained, pure-Rust LSM with a bounded block cache, so state larger
//! than memory spills to disk; RocksDB would need a C++ build on every machine). Both track
//! which keys changed since the last checkpoint, so a checkpoint writes only those (a
//! delta); a full snapshot is written first, after a restore, and every
//! [`MAX_CHAIN`] deltas. The files are shared between checkpoints: an operator's manifest
//! lists its chain (full + deltas), and the coordinator deletes a file once no retained
//! checkpoint references it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Result, StreamError, decode_err};
use crate::keys::Key;

/// Deltas after a full snapshot before the next full one.
pub const MAX_CHAIN: usize = 8;

/// Where keyed state lives.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum StateBackend {
    /// In memory.
    #[default]
    Heap,
    /// On disk in an LSM tree under `dir` (one per task, removed when the task ends), with
    /// a block cache of `cache_bytes` and memtables of at most `write_buffer_bytes`.
    Lsm {
        /// Parent directory for the task databases.
        dir: PathBuf,
        /// Block cache.
        cache_bytes: u64,
        /// Memtable budget.
        write_buffer_bytes: u64,
    },
}

impl StateBackend {
    /// The LSM backend under `dir` with a memory budget of `budget` bytes (split between
    /// cache and memtables).
    pub fn lsm(dir: impl Into<PathBuf>, budget: u64) -> Self {
        StateBackend::Lsm {
            dir: dir.into(),
            cache_bytes: (budget / 2).max(1 << 20),
            write_buffer_bytes: (budget / 2).max(1 << 20),
        }
    }
}

/// A delta (or, when full, every entry): upserts then deletes.
type Delta<K, S> = (Vec<(K, S)>, Vec<K>);

enum Store<K, S> {
    Heap(HashMap<K, S>),
    Lsm {
        keyspace: fjall::Keyspace,
        // Dropped last: removes the directory.
        _db: fjall::Database,
    },
}

/// One operator instance's keyed state.
pub(crate) struct KeyedState<K, S> {
    store: Store<K, S>,
    dirty: HashSet<K>,
    removed: HashSet<K>,
    /// The next snapshot must be full (first one, after restore, chain too long).
    need_full: bool,
}

fn lsm_err(e: impl std::fmt::Display) -> StreamError {
    StreamError::Invalid(format!("state backend: {e}"))
}

impl<K: Key, S: Default + Serialize + DeserializeOwned + Send + 'static> KeyedState<K, S> {
    pub(crate) fn new(backend: &StateBackend, name: &str) -> Result<Self> {
        let store = match backend {
            StateBackend::Heap => Store::Heap(HashMap::new()),
            StateBackend::Lsm {
                dir,
                cache_bytes,
                write_buffer_bytes,
            } => {
                let path = dir.join(format!("strata-state-{}-{name}", std::process::id()));
                // A directory left by a crashed run of the same pid is stale.
                let _ = std::fs::remove_dir_all(&path);
                let db = fjall::Database::builder(&path)
                    .temporary(true)
                    .cache_size(*cache_bytes)
                    .manual_journal_persist(true)
                    .worker_threads(1)
                    .open()
                    .map_err(|e| lsm_err(format!("{}: {e}", path.display())))?;
                let keyspace = db
                    .keyspace("state", || {
                        fjall::KeyspaceCreateOptions::default()
                            .max_memtable_size(*write_buffer_bytes)
                    })
                    .map_err(lsm_err)?;
                Store::Lsm { keyspace, _db: db }
            }
        };
        Ok(KeyedState {
            store,
            dirty: HashSet::new(),
            removed: HashSet::new(),
            need_full: true,
        })
    }

    /// Takes `k`'s state out (default when absent); give it back with [`Self::put`].
    pub(crate) fn take(&mut self, k: &K) -> Result<S> {
        match &mut self.store {
            Store::Heap(m) => Ok(m.remove(k).unwrap_or_default()),
            Store::Lsm { keyspace, .. } => {
                let key = bincode::serialize(k).map_err(decode_err)?;
                match keyspace.get(&key).map_err(lsm_err)? {
                    Some(v) => bincode::deserialize(&v).map_err(decode_err),
                    None => Ok(S::default()),
                }
            }
        }
    }

    /// Stores `k`'s state.
    pub(crate) fn put(&mut self, k: K, s: S) -> Result<()> {
        self.removed.remove(&k);
        match &mut self.store {
            Store::Heap(m) => {
                m.insert(k.clone(), s);
            }
            Store::Lsm { keyspace, .. } => {
                let key = bincode::serialize(&k).map_err(decode_err)?;
                let val = bincode::serialize(&s).map_err(decode_err)?;
                keyspace.insert(key, val).map_err(lsm_err)?;
            }
        }
        self.dirty.insert(k);
        Ok(())
    }

    /// Drops `k`'s state.
    pub(crate) fn remove(&mut self, k: &K) -> Result<()> {
        match &mut self.store {
            Store::Heap(m) => {
                m.remove(k);
            }
            Store::Lsm { keyspace, .. } => {
                let key = bincode::serialize(k).map_err(decode_err)?;
                keyspace.remove(key).map_err(lsm_err)?;
            }
        }
        self.dirty.remove(k);
        self.removed.insert(k.clone());
        Ok(())
    }

    /// Keys held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match &self.store {
            Store::Heap(m) => m.len(),
            Store::Lsm { keyspace, .. } => keyspace.len().expect("count keys"),
        }
    }

    /// Whether the next snapshot will be full.
    pub(crate) fn next_is_full(&self, chain: usize) -> bool {
        self.need_full || chain == 0 || chain > MAX_CHAIN
    }

    /// The snapshot bytes: every entry when `full`, else what changed since the last one.
    pub(crate) fn snapshot(&mut self, full: bool) -> Result<Vec<u8>> {
        let mut upserts: Vec<(&K, S)> = Vec::new();
        let bytes = match &self.store {
            Store::Heap(m) => {
                let refs: Vec<(&K, &S)> = if full {
                    m.iter().collect()
                } else {
                    self.dirty
                        .iter()
                        .filter_map(|k| m.get_key_value(k))
                        .collect()
                };
                let deletes: Vec<&K> = if full {
                    Vec::new()
                } else {
                    self.removed.iter().collect()
                };
                bincode::serialize(&(refs, deletes)).map_err(decode_err)?
            }
            Store::Lsm { keyspace, .. } => {
                if full {
                    let mut all: Vec<(K, S)> = Vec::new();
                    for g in keyspace.iter() {
                        let (k, v) = g.into_inner().map_err(lsm_err)?;
                        all.push((
                            bincode::deserialize(&k).map_err(decode_err)?,
                            bincode::deserialize(&v).map_err(decode_err)?,
                        ));
                    }
                    let deletes: Vec<K> = Vec::new();
                    bincode::serialize(&(all, deletes)).map_err(decode_err)?
                } else {
                    for k in &self.dirty {
                        let key = bincode::serialize(k).map_err(decode_err)?;
                        if let Some(v) = keyspace.get(&key).map_err(lsm_err)? {
                            upserts.push((k, bincode::deserialize(&v).map_err(decode_err)?));
                        }
                    }
                    let deletes: Vec<&K> = self.removed.iter().collect();
                    bincode::serialize(&(upserts, deletes)).map_err(decode_err)?
                }
            }
        };
        self.dirty.clear();
        self.removed.clear();
        self.need_full = false;
        Ok(bytes)
    }

    /// Loads the entries of snapshot files (applied in order) that `keep` accepts.
    pub(crate) fn restore<'a>(
        &mut self,
        files: impl Iterator<Item = &'a [u8]>,
        keep: impl Fn(&K) -> bool,
    ) -> Result<()> {
        let mut m: HashMap<K, S> = HashMap::new();
        for f in files {
            let (ups, dels): Delta<K, S> = bincode::deserialize(f).map_err(decode_err)?;
            for (k, s) in ups.into_iter().filter(|(k, _)| keep(k)) {
                m.insert(k, s);
            }
            for k in dels {
                m.remove(&k);
            }
        }
        for (k, s) in m {
            self.put(k, s)?;
        }
        self.dirty.clear();
        self.need_full = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(backend: StateBackend) {
        let mut st: KeyedState<u64, Vec<u64>> = KeyedState::new(&backend, "t").unwrap();
        for k in 0..100u64 {
            let mut s = st.take(&k).unwrap();
            s.push(k);
            st.put(k, s).unwrap();
        }
        assert!(st.next_is_full(0));
        let full = st.snapshot(true).unwrap();
        // Change 3 keys, drop 1: the delta holds just that.
        for k in [1u64, 2, 3] {
            let mut s = st.take(&k).unwrap();
            s.push(1000);
            st.put(k, s).unwrap();
        }
        st.remove(&50).unwrap();
        assert_eq!(st.len(), 99);
        assert!(!st.next_is_full(1));
        let delta = st.snapshot(false).unwrap();
        assert!(
            delta.len() * 10 < full.len(),
            "{} vs {}",
            delta.len(),
            full.len()
        );
        let mut back: KeyedState<u64, Vec<u64>> = KeyedState::new(&backend, "u").unwrap();
        back.restore([full.as_slice(), delta.as_slice()].into_iter(), |k| {
            k % 2 == 1
        })
        .unwrap();
        assert_eq!(back.len(), 50);
        assert_eq!(back.take(&3).unwrap(), vec![3, 1000]);
        assert_eq!(back.take(&51).unwrap(), vec![51]);
        assert_eq!(back.take(&4).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn heap_and_lsm_snapshot_deltas_and_restore_a_key_range() {
        roundtrip(StateBackend::Heap);
        let dir = tempfile::tempdir().unwrap();
        roundtrip(StateBackend::lsm(dir.path(), 4 << 20));
    }
}

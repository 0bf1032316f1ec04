//! Cached partitions (`persist`): the block manager.
//!
//! A persisted dataset's partition is computed once and kept as a *block*, in memory (the
//! elements themselves, no serialization) or on disk (a scratch file of encoded records),
//! according to its [`StorageLevel`]. Memory blocks draw on the storage pool of
//! [`crate::memory::MemoryManager`]; a block that does not fit is written to disk
//! (`MemoryAndDisk`) or simply not kept (`MemoryOnly`), and recomputed when next needed.
//! A block that is lost (evicted, or its file gone or corrupt) is recomputed from lineage.

use crate::memory::MemoryManager;
use crate::rdd::RddId;
use crate::shuffle::ScratchFile;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use std::any::Any;
use std::sync::Arc;

/// Where persisted partitions are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageLevel {
    /// Deserialized in memory; partitions that do not fit are recomputed when needed.
    MemoryOnly,
    /// In memory when they fit, otherwise serialized to local disk.
    MemoryAndDisk,
    /// Serialized to local disk.
    DiskOnly,
}

pub(crate) enum Block {
    Memory {
        data: Arc<dyn Any + Send + Sync>,
        bytes: u64,
    },
    Disk {
        file: ScratchFile,
        count: u64,
        bytes: u64,
    },
}

/// Holds the cached blocks of every persisted dataset of a context.
pub struct BlockManager {
    blocks: Mutex<FxHashMap<(RddId, usize), Arc<Block>>>,
    memory: Arc<MemoryManager>,
}

impl BlockManager {
    pub(crate) fn new(memory: Arc<MemoryManager>) -> Self {
        BlockManager {
            blocks: Mutex::new(FxHashMap::default()),
            memory,
        }
    }

    pub(crate) fn get(&self, rdd: RddId, p: usize) -> Option<Arc<Block>> {
        self.blocks.lock().get(&(rdd, p)).cloned()
    }

    pub(crate) fn memory(&self) -> &MemoryManager {
        &self.memory
    }

    pub(crate) fn put(&self, rdd: RddId, p: usize, block: Block) {
        if let Some(old) = self.blocks.lock().insert((rdd, p), Arc::new(block)) {
            self.release(&old);
        }
    }

    fn release(&self, b: &Block) {
        if let Block::Memory { bytes, .. } = b {
            self.memory.release_storage(*bytes);
        }
    }

    /// Drops one cached block; returns whether there was one.
    pub fn remove(&self, rdd: RddId, p: usize) -> bool {
        match self.blocks.lock().remove(&(rdd, p)) {
            Some(b) => {
                self.release(&b);
                true
            }
            None => false,
        }
    }

    /// Drops every block of a dataset.
    pub fn remove_rdd(&self, rdd: RddId) {
        let removed: Vec<Arc<Block>> = {
            let mut blocks = self.blocks.lock();
            let keys: Vec<_> = blocks.keys().filter(|k| k.0 == rdd).copied().collect();
            keys.iter().filter_map(|k| blocks.remove(k)).collect()
        };
        for b in removed {
            self.release(&b);
        }
    }

    /// Number of cached blocks of a dataset.
    pub fn cached_partitions(&self, rdd: RddId) -> usize {
        self.blocks.lock().keys().filter(|k| k.0 == rdd).count()
    }
}

//! Shuffle: moving every record to the reduce partition its key belongs to.
//!
//! Sort-based layout, as in Spark: each map task writes **one data file** holding its output
//! grouped by reduce partition, and a [`MapStatus`] with each partition's segment
//! `(offset, length, records)`. Reducer `r` reads segment `r` of every map output. A map
//! task buffers records per partition in memory; when the buffer exceeds the task's share of
//! execution memory it is written to a spill file, and at the end spills and buffer are
//! concatenated partition by partition into the data file (segments are copied as bytes, not
//! re-encoded). Map-side combining happens before the writer, as a narrow operator
//! (`ops::aggregate`), so the writer itself is type-agnostic about aggregation.
//!
//! Lifecycle: map outputs live as long as the [`ShuffleDependency`] that produced them; when
//! the last dataset referring to it is dropped its files are deleted. A reducer that finds a
//! map output missing or corrupt reports [`crate::Error::FetchFailed`]; the scheduler then
//! re-runs exactly that map task.

pub(crate) mod codec;
pub mod location;
pub(crate) mod partitioner;
mod writer;

use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::rdd::{Rdd, RddBase};
use crate::task::TaskContext;
pub use location::Location;
use parking_lot::Mutex;
pub use partitioner::{DirectPartitioner, HashPartitioner, Partitioner, RangePartitioner};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Identifies a shuffle within a context.
pub type ShuffleId = u64;

/// One reduce partition's bytes inside a map output file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Number of records.
    pub count: u64,
}

/// Where a finished map task's output lives.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapStatus {
    /// The data file.
    pub path: PathBuf,
    /// Segment per reduce partition. Shared: every reduce task looks up its own segment of
    /// every map output, and copying the whole list each time made a job quadratic in its
    /// partitions (data-safety issue, row 11: 100k partitions ran for minutes).
    pub segments: Arc<[Segment]>,
    /// In a cluster, the executor holding the file; `None` embedded (this process owns it
    /// and deletes it when the shuffle goes away).
    pub location: Option<Arc<Location>>,
}

impl MapStatus {
    fn owned_here(&self) -> bool {
        self.location.is_none()
    }
}

/// Who this process is in a cluster (set once on executors): its id and the cluster secret
/// used to fetch remote segments.
pub(crate) struct Identity {
    pub executor: u64,
    pub secret: String,
}

/// Owns an executor's local scratch space (shuffle outputs, spills, cached blocks) and the
/// table of map outputs.
pub struct ShuffleManager {
    root: tempfile::TempDir,
    outputs: Mutex<FxHashMap<ShuffleId, Vec<Option<MapStatus>>>>,
    /// Map output files this executor wrote for the driver (cluster mode), deleted with
    /// their shuffle.
    owned: Mutex<FxHashMap<ShuffleId, Vec<PathBuf>>>,
    pub(crate) identity: OnceLock<Identity>,
    next_file: AtomicU64,
}

/// A scratch file deleted when dropped.
pub(crate) struct ScratchFile {
    pub path: PathBuf,
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ShuffleManager {
    /// Creates the scratch directory under `local_dir` (or the system temp dir).
    pub fn new(local_dir: Option<&Path>) -> Result<Self> {
        let mut b = tempfile::Builder::new();
        b.prefix("strata-");
        let root = match local_dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
                b.tempdir_in(d).map_err(|e| Error::io(d, e))?
            }
            None => b
                .tempdir()
                .map_err(|e| Error::io(std::env::temp_dir(), e))?,
        };
        Ok(ShuffleManager {
            root,
            outputs: Mutex::new(FxHashMap::default()),
            owned: Mutex::new(FxHashMap::default()),
            identity: OnceLock::new(),
            next_file: AtomicU64::new(0),
        })
    }

    /// The scratch directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A fresh path for a file of the given kind (`spill`, `cache`, ...).
    pub(crate) fn scratch_path(&self, kind: &str) -> PathBuf {
        let n = self.next_file.fetch_add(1, Ordering::Relaxed);
        self.root.path().join(format!("{kind}-{n}"))
    }

    pub(crate) fn scratch_file(&self, kind: &str) -> ScratchFile {
        ScratchFile {
            path: self.scratch_path(kind),
        }
    }

    pub(crate) fn map_output_path(&self, shuffle: ShuffleId, map: usize, attempt: u64) -> PathBuf {
        self.root
            .path()
            .join(format!("shuffle-{shuffle}-{map}-{attempt}.data"))
    }

    fn register_shuffle(&self, shuffle: ShuffleId, maps: usize) {
        self.outputs
            .lock()
            .entry(shuffle)
            .or_insert_with(|| vec![None; maps]);
    }

    /// Map partitions of `shuffle` with no registered output.
    pub fn missing_maps(&self, shuffle: ShuffleId) -> Vec<usize> {
        let outs = self.outputs.lock();
        match outs.get(&shuffle) {
            Some(v) => (0..v.len()).filter(|&i| v[i].is_none()).collect(),
            None => Vec::new(),
        }
    }

    pub(crate) fn register_map_output(&self, shuffle: ShuffleId, map: usize, status: MapStatus) {
        let mut outs = self.outputs.lock();
        match outs.get_mut(&shuffle) {
            // A concurrent job already produced this output: keep the one readers may use.
            Some(v) if v[map].is_some() => {
                if status.owned_here() {
                    let _ = std::fs::remove_file(status.path);
                }
            }
            Some(v) => v[map] = Some(status),
            None => {
                if status.owned_here() {
                    let _ = std::fs::remove_file(status.path);
                }
            }
        }
    }

    /// Forgets (and deletes, if this process owns it) one map output, e.g. after a reducer
    /// could not read it. Returns whether it was registered.
    pub fn unregister_map_output(&self, shuffle: ShuffleId, map: usize) -> bool {
        let old = self
            .outputs
            .lock()
            .get_mut(&shuffle)
            .and_then(|v| v.get_mut(map).and_then(Option::take));
        match old {
            Some(old) => {
                if old.owned_here() {
                    let _ = std::fs::remove_file(old.path);
                }
                true
            }
            None => false,
        }
    }

    /// Forgets every map output held by `executor` (it was lost); returns how many.
    pub(crate) fn forget_executor(&self, executor: u64) -> u64 {
        let mut n = 0;
        for v in self.outputs.lock().values_mut() {
            for s in v.iter_mut() {
                if s.as_ref()
                    .and_then(|s| s.location.as_ref())
                    .is_some_and(|l| l.executor == executor)
                {
                    *s = None;
                    n += 1;
                }
            }
        }
        n
    }

    /// Installs the driver's view of a shuffle's outputs (executors, before a reduce task).
    pub(crate) fn install_outputs(&self, shuffle: ShuffleId, statuses: Vec<Option<MapStatus>>) {
        self.outputs.lock().insert(shuffle, statuses);
    }

    /// Remembers a map output file this executor wrote, to delete with its shuffle.
    pub(crate) fn own_file(&self, shuffle: ShuffleId, path: PathBuf) {
        self.owned.lock().entry(shuffle).or_default().push(path);
    }

    /// The output of one map task, or `FetchFailed`.
    pub fn map_status(&self, shuffle: ShuffleId, map: usize) -> Result<MapStatus> {
        self.outputs
            .lock()
            .get(&shuffle)
            .and_then(|v| v.get(map).cloned().flatten())
            .ok_or_else(|| Error::FetchFailed {
                shuffle,
                map,
                reason: "no output registered".into(),
            })
    }

    /// Every registered output of a shuffle (for tests and tools).
    pub fn map_outputs(&self, shuffle: ShuffleId) -> Vec<Option<MapStatus>> {
        self.outputs
            .lock()
            .get(&shuffle)
            .cloned()
            .unwrap_or_default()
    }

    fn remove_shuffle(&self, shuffle: ShuffleId) {
        if let Some(v) = self.outputs.lock().remove(&shuffle) {
            for s in v.into_iter().flatten().filter(MapStatus::owned_here) {
                let _ = std::fs::remove_file(s.path);
            }
        }
        for p in self.owned.lock().remove(&shuffle).unwrap_or_default() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The type-erased view of a shuffle the scheduler needs.
pub trait ShuffleDependencyBase: Send + Sync {
    /// The shuffle's id.
    fn shuffle_id(&self) -> ShuffleId;
    /// The map side.
    fn parent(&self) -> Arc<dyn RddBase>;
    /// Runs map task `tc.partition` and returns where its output went.
    fn run_map_task(&self, tc: &TaskContext) -> Result<MapStatus>;
}

/// A shuffle of `(K, V)` records by a partitioner.
pub struct ShuffleDependency<K, V> {
    pub(crate) id: ShuffleId,
    pub(crate) parent: Arc<dyn Rdd<(K, V)>>,
    pub(crate) partitioner: Arc<dyn Partitioner<K>>,
    pub(crate) manager: Arc<ShuffleManager>,
    attempts: AtomicU64,
}

impl<K: Key, V: Data> ShuffleDependency<K, V> {
    pub(crate) fn new(
        id: ShuffleId,
        parent: Arc<dyn Rdd<(K, V)>>,
        partitioner: Arc<dyn Partitioner<K>>,
        manager: Arc<ShuffleManager>,
    ) -> Self {
        manager.register_shuffle(id, parent.num_partitions());
        ShuffleDependency {
            id,
            parent,
            partitioner,
            manager,
            attempts: AtomicU64::new(0),
        }
    }
}

impl<K, V> Drop for ShuffleDependency<K, V> {
    fn drop(&mut self) {
        self.manager.remove_shuffle(self.id);
    }
}

impl<K: Key, V: Data> ShuffleDependencyBase for ShuffleDependency<K, V> {
    fn shuffle_id(&self) -> ShuffleId {
        self.id
    }
    fn parent(&self) -> Arc<dyn RddBase> {
        self.parent.clone().as_base()
    }
    fn run_map_task(&self, tc: &TaskContext) -> Result<MapStatus> {
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed);
        let path = self.manager.map_output_path(self.id, tc.partition, attempt);
        let input = self.parent.compute(tc.partition, tc);
        writer::write_map_output(tc, input, self.partitioner.as_ref(), path)
    }
}

//! What a task knows about itself when its operators are built: its place in the job and
//! the state restored for it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Result, decode_err};
use crate::keys::{Key, instance_of, key_group};

/// State read back from a checkpoint: for each operator id, the blobs every instance of
/// the old job wrote (the old parallelism may differ from the new one).
#[derive(Debug, Default)]
pub struct Restored {
    /// The checkpoint's id.
    pub checkpoint: u64,
    /// Blobs by operator id.
    pub states: HashMap<String, Vec<Vec<u8>>>,
    /// Shared state files by name.
    pub files: HashMap<String, Vec<u8>>,
}

/// One parallel instance of one stage.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The stage (a chain of operators between exchanges).
    pub stage: usize,
    /// This instance, `0..parallelism`.
    pub index: usize,
    /// The stage's parallelism.
    pub parallelism: usize,
    /// Key groups.
    pub max_parallelism: usize,
    /// What to restore from, if the job resumes.
    pub restored: Option<Arc<Restored>>,
    /// Where storage URLs go.
    pub storage: strata_storage::StorageOptions,
    /// Where keyed state lives.
    pub state_backend: crate::state::StateBackend,
}

impl TaskInfo {
    /// `stage/index`, for messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.stage, self.index)
    }

    /// The blobs every old instance wrote for operator `uid`.
    pub fn restored_blobs(&self, uid: &str) -> &[Vec<u8>] {
        self.restored
            .as_ref()
            .and_then(|r| r.states.get(uid))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// A shared state file of the restored checkpoint.
    pub fn restored_file(&self, name: &str) -> crate::error::Result<&[u8]> {
        self.restored
            .as_ref()
            .and_then(|r| r.files.get(name))
            .map(|v| v.as_slice())
            .ok_or_else(|| {
                crate::error::StreamError::Restore(format!("state file {name} is missing"))
            })
    }

    /// Whether this instance owns `key`.
    pub fn owns<K: Key>(&self, key: &K) -> bool {
        instance_of(
            key_group(key, self.max_parallelism),
            self.max_parallelism,
            self.parallelism,
        ) == self.index
    }

    /// Keyed entries restored for operator `uid` that this instance owns, decoding each
    /// old instance's blob as `Vec<E>` and keeping the entries whose key `key` picks.
    pub fn restore_keyed<E, K: Key>(&self, uid: &str, key: impl Fn(&E) -> &K) -> Result<Vec<E>>
    where
        E: serde::de::DeserializeOwned,
    {
        let mut out = Vec::new();
        for blob in self.restored_blobs(uid) {
            let entries: Vec<E> = bincode::deserialize(blob).map_err(decode_err)?;
            out.extend(entries.into_iter().filter(|e| self.owns(key(e))));
        }
        Ok(out)
    }
}

//! Checkpoint storage and the commit of two-phase-commit sink files.
//!
//! Layout under the checkpoint directory (any storage URL):
//! `chk-000007/task-<stage>-<index>.bin` holds each task's operator state (bincode of
//! `(operator id, blob)` pairs); `chk-000007/metadata.json` is written last, atomically,
//! and only its presence makes checkpoint 7 complete. The metadata lists the sink files
//! the checkpoint commits; committing copies each staged file to its target and removes
//! the staged one, idempotently, so a job that dies between the metadata and the commit
//! redoes the commit when it restores. The newest `retain` complete checkpoints are kept.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_storage::{StorageOptions, Store};

use crate::context::Restored;
use crate::error::{Result, StreamError, decode_err};
use crate::operator::PendingFile;

/// Where and how often to checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// Directory or URL (local, `dfs://`, `s3://`).
    pub dir: String,
    /// Time between checkpoints.
    pub interval: Duration,
    /// Complete checkpoints kept.
    pub retain: usize,
}

/// What `metadata.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metadata {
    /// Checkpoint id.
    pub id: u64,
    /// Task state files, relative to the checkpoint directory.
    pub tasks: Vec<String>,
    /// Sink files this checkpoint commits.
    pub pending: Vec<PendingFile>,
    /// Shared state files (under `shared/`) the checkpoint's state needs.
    #[serde(default)]
    pub shared: Vec<String>,
    /// Bytes of state.
    pub state_bytes: u64,
    /// The job's parallelism when it was taken.
    pub parallelism: usize,
    /// Whether it was the final checkpoint of a finished input.
    pub last: bool,
}

/// The checkpoint directory.
pub(crate) struct CheckpointStore {
    store: Arc<dyn Store>,
    root: String,
}

fn chk_dir(id: u64) -> String {
    format!("chk-{id:06}")
}

impl CheckpointStore {
    pub(crate) fn open(url: &str, opts: &StorageOptions) -> Result<Self> {
        let (store, root) = strata_storage::resolve(url, opts)?;
        Ok(CheckpointStore {
            store,
            root: root.trim_end_matches('/').to_string(),
        })
    }

    fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root)
    }

    /// Ids of complete checkpoints, ascending.
    pub(crate) fn complete(&self) -> Result<Vec<u64>> {
        let listing = match self.store.list(&self.root) {
            Ok(l) => l,
            Err(strata_storage::StorageError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut ids: Vec<u64> = listing
            .files
            .iter()
            .filter_map(|f| {
                let rest = f.url.strip_suffix("/metadata.json")?;
                let name = rest.rsplit('/').next()?;
                name.strip_prefix("chk-")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The whole file at `rel` under the checkpoint directory.
    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let p = self.path(rel);
        let len = self.store.size(&p)?;
        Ok(self.store.read_range(&p, 0..len)?)
    }

    pub(crate) fn metadata(&self, id: u64) -> Result<Metadata> {
        let bytes = self.read(&format!("{}/metadata.json", chk_dir(id)))?;
        serde_json::from_slice(&bytes).map_err(decode_err)
    }

    /// Reads checkpoint `id`'s state back.
    pub(crate) fn restore(&self, id: u64) -> Result<(Metadata, Restored)> {
        let meta = self.metadata(id)?;
        let mut restored = Restored {
            checkpoint: id,
            states: HashMap::new(),
            files: HashMap::new(),
        };
        for name in &meta.shared {
            let bytes = self.read(&format!("shared/{name}"))?;
            restored.files.insert(name.clone(), bytes);
        }
        for t in &meta.tasks {
            let rel = format!("{}/{t}", chk_dir(id));
            let states: Vec<(String, Vec<u8>)> = bincode::deserialize(&self.read(&rel)?)
                .map_err(|e| StreamError::Restore(format!("{}: {e}", self.path(&rel))))?;
            for (uid, blob) in states {
                restored.states.entry(uid).or_default().push(blob);
            }
        }
        Ok((meta, restored))
    }

    /// Writes one task's state; returns the file's name and size.
    pub(crate) fn write_task(
        &self,
        id: u64,
        task: &str,
        states: &[(String, Vec<u8>)],
    ) -> Result<(String, u64)> {
        let name = format!("task-{}.bin", task.replace('/', "-"));
        let bytes = bincode::serialize(states).map_err(decode_err)?;
        self.store
            .put(&self.path(&format!("{}/{name}", chk_dir(id))), &bytes)?;
        Ok((name, bytes.len() as u64))
    }

    /// Writes a shared state file.
    pub(crate) fn write_shared(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.store
            .put(&self.path(&format!("shared/{name}")), bytes)?;
        Ok(())
    }

    /// Makes checkpoint `meta.id` complete.
    pub(crate) fn write_metadata(&self, meta: &Metadata) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(meta).map_err(decode_err)?;
        self.store.put(
            &self.path(&format!("{}/metadata.json", chk_dir(meta.id))),
            &bytes,
        )?;
        Ok(())
    }

    /// Deletes all but the newest `retain` complete checkpoints, and any incomplete one
    /// older than the newest complete.
    pub(crate) fn prune(&self, retain: usize) -> Result<()> {
        let ids = self.complete()?;
        let Some(&newest) = ids.last() else {
            return Ok(());
        };
        let keep: Vec<u64> = ids.iter().rev().take(retain.max(1)).copied().collect();
        let dirs = self.chk_dirs()?;
        for d in dirs {
            if !keep.contains(&d) && d < newest {
                self.store.delete(&self.path(&chk_dir(d)))?;
            }
        }
        // Reference counting: a shared file lives while a retained checkpoint needs it.
        let mut live = std::collections::HashSet::new();
        for id in &keep {
            live.extend(self.metadata(*id)?.shared);
        }
        let shared = match self.store.list(&self.path("shared")) {
            Ok(l) => l.files,
            Err(strata_storage::StorageError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for f in shared {
            let name = f.url.rsplit('/').next().unwrap_or_default().to_string();
            if !live.contains(&name) {
                self.store.delete(&self.path(&format!("shared/{name}")))?;
            }
        }
        Ok(())
    }

    /// Removes checkpoint directories newer than `id` (attempts that never completed).
    pub(crate) fn drop_after(&self, id: u64) -> Result<()> {
        for d in self.chk_dirs()?.into_iter().filter(|&d| d > id) {
            self.store.delete(&self.path(&chk_dir(d)))?;
        }
        Ok(())
    }

    /// Ids of every `chk-N` directory, complete or not, ascending.
    fn chk_dirs(&self) -> Result<Vec<u64>> {
        let listing = match self.store.list(&self.root) {
            Ok(l) => l,
            Err(strata_storage::StorageError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut dirs: Vec<u64> = listing
            .files
            .iter()
            .filter_map(|f| {
                let rel = f.url.rsplit_once('/')?.0;
                rel.rsplit('/').next()?.strip_prefix("chk-")?.parse().ok()
            })
            .collect();
        dirs.sort_unstable();
        dirs.dedup();
        Ok(dirs)
    }
}

/// The file under a checkpoint directory that asks the running job for a savepoint; it
/// holds the savepoint's target URL.
const SAVEPOINT_REQUEST: &str = "_savepoint-request";

impl CheckpointStore {
    /// Asks the job checkpointing into this directory for a savepoint written to `target`
    /// (and to stop once it is written, when `stop`).
    pub(crate) fn request_savepoint(&self, target: &str, stop: bool) -> Result<()> {
        let text = format!("{target}\n{}\n", if stop { "stop" } else { "run" });
        self.store
            .put(&self.path(SAVEPOINT_REQUEST), text.as_bytes())?;
        Ok(())
    }

    /// A pending savepoint request (its target, and whether to stop after it), removing
    /// the request.
    pub(crate) fn take_savepoint_request(&self) -> Result<Option<(String, bool)>> {
        let p = self.path(SAVEPOINT_REQUEST);
        let len = match self.store.size(&p) {
            Ok(n) => n,
            Err(strata_storage::StorageError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let text = String::from_utf8_lossy(&self.store.read_range(&p, 0..len)?).to_string();
        self.store.delete(&p)?;
        let mut lines = text.lines();
        let target = lines.next().unwrap_or_default().trim().to_string();
        let stop = lines.next().is_some_and(|l| l.trim() == "stop");
        Ok(Some((target, stop)))
    }

    /// Copies complete checkpoint `id` to `target` as a self-contained savepoint: the same
    /// layout (`chk-N/` and the `shared/` files it needs), metadata last, so `target` is a
    /// checkpoint directory a job can restore from, outside this directory's retention.
    pub(crate) fn copy_to(&self, id: u64, target: &CheckpointStore) -> Result<u64> {
        let meta = self.metadata(id)?;
        let mut bytes = 0;
        for name in &meta.shared {
            let data = self.read(&format!("shared/{name}"))?;
            bytes += data.len() as u64;
            target.write_shared(name, &data)?;
        }
        for t in &meta.tasks {
            let rel = format!("{}/{t}", chk_dir(id));
            let data = self.read(&rel)?;
            bytes += data.len() as u64;
            target.store.put(&target.path(&rel), &data)?;
        }
        target.write_metadata(&meta)?;
        Ok(bytes)
    }
}

/// Asks the job that checkpoints into `dir` for a savepoint at `target` (then to stop,
/// committing nothing after it, when `stop`: Flink's stop-with-savepoint), and waits up to
/// `timeout` for it to complete; returns the savepoint's checkpoint id.
pub fn trigger_savepoint(
    dir: &str,
    target: &str,
    stop: bool,
    opts: &StorageOptions,
    timeout: Duration,
) -> Result<u64> {
    let chk = CheckpointStore::open(dir, opts)?;
    let to = CheckpointStore::open(target, opts)?;
    if let Some(id) = to.complete()?.last() {
        return Err(StreamError::Invalid(format!(
            "{target} already holds savepoint {id}; choose an empty target"
        )));
    }
    chk.request_savepoint(target, stop)?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(&id) = to.complete()?.last() {
            return Ok(id);
        }
        if std::time::Instant::now() > deadline {
            // Withdraw the request so a job started later does not act on it.
            let _ = chk.take_savepoint_request();
            return Err(StreamError::Invalid(format!(
                "no savepoint within {timeout:?}: is a job running with --checkpoint-dir {dir}?                  (it looks for requests between checkpoints)"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Makes sink files visible: copies each staged file to its target and removes it. A
/// staged file already gone means an earlier commit of the same checkpoint got there.
pub(crate) fn commit(pending: &[PendingFile], opts: &StorageOptions) -> Result<()> {
    for p in pending {
        let (store, staged) = strata_storage::resolve(&p.staged, opts)?;
        let len = match store.size(&staged) {
            Ok(n) => n,
            Err(strata_storage::StorageError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let data = store.read_range(&staged, 0..len)?;
        if let Some((subject, name)) = p
            .target
            .split_once('#')
            .filter(|_| p.target.starts_with("nats://"))
        {
            crate::jetstream::publish_lines(subject, name, &data)?;
        } else {
            let (tstore, target) = strata_storage::resolve(&p.target, opts)?;
            tstore.put(&target, &data)?;
        }
        store.delete(&staged)?;
    }
    Ok(())
}

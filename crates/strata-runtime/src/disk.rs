//! Scratch disk: where operators spill and shuffles write, and how it is cleaned up.
//!
//! A process's scratch space is one directory, `BASE/strata-scratch/proc-PID-N`, holding a
//! `LOCK` file the process keeps `flock`ed for its lifetime. Spilling operators take
//! [`ScratchDir`]s inside it, removed when dropped; the whole directory goes when the
//! [`DiskManager`] is dropped. A process that crashes (SIGKILL, OOM kill, power loss) cannot
//! remove anything, so every new manager sweeps its base: a `proc-*` directory whose lock it
//! can take belongs to a dead process (the kernel dropped the lock with it) and is removed.

use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Directory under each base that holds the processes' scratch directories.
pub const SCRATCH: &str = "strata-scratch";

/// A scratch-space failure, naming the path.
#[derive(Debug, thiserror::Error)]
#[error("scratch space {path}: {source} (set dataflow.local_dir / --spill-dir to a writable disk)")]
pub struct DiskError {
    /// The path.
    pub path: PathBuf,
    /// What went wrong.
    pub source: std::io::Error,
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> DiskError + '_ {
    move |source| DiskError {
        path: path.to_path_buf(),
        source,
    }
}

/// A process's scratch space.
#[derive(Debug)]
pub struct DiskManager {
    dir: PathBuf,
    _lock: File,
    next: AtomicU64,
    swept: Mutex<Vec<PathBuf>>,
}

impl DiskManager {
    /// Scratch space below `base` (made if missing), after removing what crashed processes
    /// left there.
    pub fn new(base: &Path) -> Result<DiskManager, DiskError> {
        let root = base.join(SCRATCH);
        std::fs::create_dir_all(&root).map_err(err(&root))?;
        let swept = sweep(&root);
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = root.join(format!(
            "proc-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(err(&dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&lock_path)
            .map_err(err(&lock_path))?;
        lock.try_lock().map_err(|e| DiskError {
            path: lock_path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        if !swept.is_empty() {
            tracing::info!(count = swept.len(), root = %root.display(), "removed scratch left by crashed processes");
        }
        Ok(DiskManager {
            dir,
            _lock: lock,
            next: AtomicU64::new(0),
            swept: Mutex::new(swept),
        })
    }

    /// The process's scratch directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Directories of dead processes this manager removed when it started.
    pub fn swept(&self) -> Vec<PathBuf> {
        self.swept.lock().clone()
    }

    /// A fresh directory for one consumer (a query, a task), removed when dropped.
    pub fn scratch_dir(&self, prefix: &str) -> Result<ScratchDir, DiskError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{prefix}-{n}"));
        std::fs::create_dir_all(&path).map_err(err(&path))?;
        Ok(ScratchDir { path })
    }

    /// Files and bytes now in the scratch directory (the lock file not counted).
    pub fn usage(&self) -> (u64, u64) {
        fn walk(p: &Path, acc: &mut (u64, u64)) {
            let Ok(rd) = std::fs::read_dir(p) else { return };
            for e in rd.flatten() {
                let Ok(m) = e.metadata() else { continue };
                if m.is_dir() {
                    walk(&e.path(), acc);
                } else if e.file_name() != "LOCK" {
                    acc.0 += 1;
                    acc.1 += m.len();
                }
            }
        }
        let mut acc = (0, 0);
        walk(&self.dir, &mut acc);
        acc
    }
}

impl Drop for DiskManager {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes every `proc-*` directory under `root` whose lock nobody holds.
fn sweep(root: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else {
        return removed;
    };
    for e in rd.flatten() {
        let path = e.path();
        if !e.file_name().to_string_lossy().starts_with("proc-") {
            continue;
        }
        let dead = match File::open(path.join("LOCK")) {
            // Lockable: its owner is gone. (An flock on a fresh descriptor conflicts with the
            // owner's even inside one process, so a live manager here is never swept.)
            Ok(f) => f.try_lock().is_ok(),
            // No lock file: the owner died between making the directory and locking it, or
            // is in that moment now; leave young ones alone.
            Err(_) => e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 60),
        };
        if dead && std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// A directory of scratch files, removed with everything in it when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_is_removed_on_drop_and_live_managers_are_not_swept() {
        let base = tempfile::tempdir().unwrap();
        let a = DiskManager::new(base.path()).unwrap();
        let d = a.scratch_dir("sort").unwrap();
        std::fs::write(d.path().join("run0"), b"xx").unwrap();
        assert_eq!(a.usage(), (1, 2));
        // A second manager in the same base must not take the first one's files.
        let b = DiskManager::new(base.path()).unwrap();
        assert!(b.swept().is_empty());
        assert!(d.path().join("run0").exists());
        drop(d);
        assert_eq!(a.usage(), (0, 0));
        let dir = a.dir().to_path_buf();
        drop(a);
        assert!(!dir.exists());
        drop(b);
        let left: Vec<_> = std::fs::read_dir(base.path().join(SCRATCH))
            .unwrap()
            .collect();
        assert!(left.is_empty());
    }

    #[test]
    fn an_unlocked_directory_is_swept() {
        let base = tempfile::tempdir().unwrap();
        let dead = base.path().join(SCRATCH).join("proc-999999-0");
        std::fs::create_dir_all(dead.join("q-0")).unwrap();
        std::fs::write(dead.join("LOCK"), b"").unwrap();
        std::fs::write(dead.join("q-0/0.arrow"), b"spilled").unwrap();
        let m = DiskManager::new(base.path()).unwrap();
        assert_eq!(m.swept(), vec![dead.clone()]);
        assert!(!dead.exists());
    }
}

//! An exclusive lock on a daemon's data directory.
//!
//! Two masters on one directory would both append to the op log and each would lose the
//! other's acknowledged mutations at the next recovery; two chunkservers on one directory
//! would share a node id. Every daemon therefore takes an advisory exclusive lock on
//! `DIR/LOCK` (`flock`) before it reads anything there, and holds it for its lifetime. The
//! kernel drops the lock when the process dies, however it dies, so a crash never leaves a
//! stale lock behind. The file also records the holder's pid, for the error message.

use crate::error::{DfsError, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Holds the lock until dropped (or the process exits).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `dir` (creating it if needed) for `role` ("master", "worker"), or explains who
    /// holds it.
    pub fn acquire(dir: &Path, role: &str) -> Result<DirLock> {
        std::fs::create_dir_all(dir).map_err(|e| DfsError::Io(dir.display().to_string(), e))?;
        let p = dir.join("LOCK");
        let io = |e| DfsError::Io(p.display().to_string(), e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&p)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "process".to_string()
                } else {
                    format!("process ({holder})")
                };
                return Err(DfsError::Locked(format!(
                    "{} is in use by another {who}: run one {role} per directory, or stop the other one first",
                    dir.display(),
                )));
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{role} pid {}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let d = tempfile::tempdir().unwrap();
        let a = DirLock::acquire(d.path(), "master").unwrap();
        let e = DirLock::acquire(d.path(), "master")
            .unwrap_err()
            .to_string();
        assert!(e.contains("in use by another process (master pid"), "{e}");
        drop(a);
        DirLock::acquire(d.path(), "master").unwrap();
    }
}

//! The master's durable state: the namespace and the chunk table, changed only by [`Op`]s.
//!
//! Every mutation is an `Op`, applied by [`Namespace::apply`], which validates and mutates
//! atomically (an op that fails changes nothing). The master logs each op it applied
//! successfully, in order; recovery replays the log over the last checkpoint and must
//! reach the same state, so `apply` is deterministic (timestamps travel inside ops).
//! Chunk *locations* are not here: the master learns them from chunkservers.

use crate::error::{DfsError, Result};
use crate::path::{is_within, parent};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A namespace entry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Entry {
    /// A directory.
    Dir {
        /// Modification time (ms since the epoch).
        mtime: u64,
    },
    /// A file: its chunks in order.
    File {
        /// Replicas per chunk.
        replication: u32,
        /// Chunk handles.
        chunks: Vec<u64>,
        /// Modification time (ms since the epoch).
        mtime: u64,
    },
}

/// What the master records about a chunk.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ChunkInfo {
    /// Current version (raised with each new lease).
    pub version: u64,
    /// Bytes of file data committed to it.
    pub length: u64,
    /// Files (including snapshots) that refer to it.
    pub refs: u32,
    /// Target number of replicas.
    pub replication: u32,
}

/// A logged mutation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Op {
    /// Create a directory (and, with `parents`, missing ancestors).
    Mkdir {
        /// Path.
        path: String,
        /// Create ancestors.
        parents: bool,
        /// Time.
        mtime: u64,
    },
    /// Create an empty file (replacing an existing one with `overwrite`).
    Create {
        /// Path.
        path: String,
        /// Replicas per chunk.
        replication: u32,
        /// Replace an existing file.
        overwrite: bool,
        /// Time.
        mtime: u64,
    },
    /// Delete a file or directory.
    Delete {
        /// Path.
        path: String,
        /// Delete a non-empty directory with everything below.
        recursive: bool,
    },
    /// Rename a file or directory.
    Rename {
        /// From.
        from: String,
        /// To.
        to: String,
    },
    /// Append a new chunk to a file.
    AddChunk {
        /// File.
        path: String,
        /// The new chunk.
        handle: u64,
        /// A last chunk to drop first: a write to it failed and it holds no committed bytes.
        abandon: Option<u64>,
    },
    /// Raise a chunk's version (a new lease).
    SetVersion {
        /// Chunk.
        handle: u64,
        /// Version.
        version: u64,
    },
    /// Record bytes durably written to a chunk.
    Commit {
        /// Chunk.
        handle: u64,
        /// Committed length (the max of what was reported).
        length: u64,
    },
    /// Copy-on-write snapshot of a file or directory tree.
    Snapshot {
        /// Source.
        from: String,
        /// Destination (must not exist).
        to: String,
        /// Time.
        mtime: u64,
    },
    /// Replace a shared chunk of a file with its private copy (copy-on-write).
    ReplaceChunk {
        /// File.
        path: String,
        /// Shared chunk.
        old: u64,
        /// Private copy.
        new: u64,
    },
}

/// The namespace and chunk table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Namespace {
    /// Entries by normalized path; `/` always exists.
    pub entries: BTreeMap<String, Entry>,
    /// Chunks by handle.
    pub chunks: HashMap<u64, ChunkInfo>,
    /// Next chunk handle to hand out.
    pub next_handle: u64,
}

impl Default for Namespace {
    fn default() -> Self {
        let mut entries = BTreeMap::new();
        entries.insert("/".to_string(), Entry::Dir { mtime: 0 });
        Namespace {
            entries,
            chunks: HashMap::new(),
            next_handle: 1,
        }
    }
}

fn not_found(p: &str) -> DfsError {
    DfsError::NotFound(p.to_string())
}

impl Namespace {
    /// The entry at `path`.
    pub fn get(&self, path: &str) -> Result<&Entry> {
        self.entries.get(path).ok_or_else(|| not_found(path))
    }

    /// Paths strictly below `dir`.
    pub fn below<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(move |(k, _)| k.as_str() != dir)
    }

    /// Length of a file: the committed lengths of its chunks.
    pub fn file_length(&self, chunks: &[u64]) -> u64 {
        chunks
            .iter()
            .map(|h| self.chunks.get(h).map(|c| c.length).unwrap_or(0))
            .sum()
    }

    fn require_dir(&self, path: &str) -> Result<()> {
        match self.entries.get(path) {
            Some(Entry::Dir { .. }) => Ok(()),
            Some(Entry::File { .. }) => {
                Err(DfsError::WrongKind(format!("not a directory: {path}")))
            }
            None => Err(not_found(path)),
        }
    }

    fn release_chunks(&mut self, chunks: &[u64]) {
        for h in chunks {
            if let Some(c) = self.chunks.get_mut(h) {
                c.refs -= 1;
                if c.refs == 0 {
                    // Orphaned: chunkservers learn in their next heartbeat (lazy GC).
                    self.chunks.remove(h);
                }
            }
        }
    }

    /// Validates and applies an op; on error nothing changed.
    pub fn apply(&mut self, op: &Op) -> Result<()> {
        match op {
            Op::Mkdir {
                path,
                parents,
                mtime,
            } => {
                match self.entries.get(path) {
                    Some(Entry::Dir { .. }) if *parents => return Ok(()),
                    Some(_) => return Err(DfsError::AlreadyExists(path.clone())),
                    None => {}
                }
                let mut missing = vec![path.clone()];
                let mut p = parent(path);
                while let Some(q) = p {
                    match self.entries.get(q) {
                        Some(Entry::Dir { .. }) => break,
                        Some(Entry::File { .. }) => {
                            return Err(DfsError::WrongKind(format!("not a directory: {q}")));
                        }
                        None if *parents => missing.push(q.to_string()),
                        None => return Err(not_found(q)),
                    }
                    p = parent(q);
                }
                for m in missing {
                    self.entries.insert(m, Entry::Dir { mtime: *mtime });
                }
                Ok(())
            }
            Op::Create {
                path,
                replication,
                overwrite,
                mtime,
            } => {
                let dir =
                    parent(path).ok_or_else(|| DfsError::WrongKind("/ is a directory".into()))?;
                self.require_dir(dir)?;
                match self.entries.get(path) {
                    Some(Entry::Dir { .. }) => {
                        return Err(DfsError::WrongKind(format!("is a directory: {path}")));
                    }
                    Some(Entry::File { chunks, .. }) if *overwrite => {
                        let chunks = chunks.clone();
                        self.release_chunks(&chunks);
                    }
                    Some(_) => return Err(DfsError::AlreadyExists(path.clone())),
                    None => {}
                }
                self.entries.insert(
                    path.clone(),
                    Entry::File {
                        replication: *replication,
                        chunks: Vec::new(),
                        mtime: *mtime,
                    },
                );
                Ok(())
            }
            Op::Delete { path, recursive } => {
                if path == "/" {
                    return Err(DfsError::WrongKind("cannot delete /".into()));
                }
                let entry = self.get(path)?.clone();
                let victims: Vec<String> = match entry {
                    Entry::File { .. } => vec![path.clone()],
                    Entry::Dir { .. } => {
                        let below: Vec<String> = self.below(path).map(|(k, _)| k.clone()).collect();
                        if !below.is_empty() && !recursive {
                            return Err(DfsError::NotEmpty(path.clone()));
                        }
                        below.into_iter().chain([path.clone()]).collect()
                    }
                };
                for v in victims {
                    if let Some(Entry::File { chunks, .. }) = self.entries.remove(&v) {
                        self.release_chunks(&chunks);
                    }
                }
                Ok(())
            }
            Op::Rename { from, to } => {
                if from == "/" || is_within(to, from) {
                    return Err(DfsError::WrongKind(format!(
                        "cannot move {from} into itself"
                    )));
                }
                self.get(from)?;
                if self.entries.contains_key(to) {
                    return Err(DfsError::AlreadyExists(to.clone()));
                }
                self.require_dir(parent(to).unwrap_or("/"))?;
                let moved: Vec<String> = self
                    .below(from)
                    .map(|(k, _)| k.clone())
                    .chain([from.clone()])
                    .collect();
                for k in moved {
                    let e = self.entries.remove(&k).expect("listed");
                    self.entries.insert(format!("{to}{}", &k[from.len()..]), e);
                }
                Ok(())
            }
            Op::AddChunk {
                path,
                handle,
                abandon,
            } => {
                let Some(Entry::File {
                    replication,
                    chunks,
                    ..
                }) = self.entries.get_mut(path)
                else {
                    return Err(not_found(path));
                };
                let mut dropped = None;
                if let Some(a) = abandon
                    && chunks.last() == Some(a)
                    && self.chunks.get(a).is_some_and(|c| c.length == 0)
                {
                    dropped = chunks.pop();
                }
                chunks.push(*handle);
                let replication = *replication;
                self.chunks.insert(
                    *handle,
                    ChunkInfo {
                        version: 1,
                        length: 0,
                        refs: 1,
                        replication,
                    },
                );
                self.next_handle = self.next_handle.max(handle + 1);
                if let Some(d) = dropped {
                    self.release_chunks(&[d]);
                }
                Ok(())
            }
            Op::SetVersion { handle, version } => {
                let c = self
                    .chunks
                    .get_mut(handle)
                    .ok_or_else(|| not_found(&format!("chunk {handle}")))?;
                c.version = c.version.max(*version);
                Ok(())
            }
            Op::Commit { handle, length } => {
                let c = self
                    .chunks
                    .get_mut(handle)
                    .ok_or_else(|| not_found(&format!("chunk {handle}")))?;
                c.length = c.length.max(*length);
                Ok(())
            }
            Op::Snapshot { from, to, mtime } => {
                let src = self.get(from)?.clone();
                if self.entries.contains_key(to) {
                    return Err(DfsError::AlreadyExists(to.clone()));
                }
                self.require_dir(parent(to).unwrap_or("/"))?;
                let mut copies: Vec<(String, Entry)> = vec![(to.clone(), src)];
                if matches!(copies[0].1, Entry::Dir { .. }) {
                    for (k, e) in self.below(from) {
                        copies.push((format!("{to}{}", &k[from.len()..]), e.clone()));
                    }
                }
                for (k, mut e) in copies {
                    match &mut e {
                        Entry::File {
                            chunks, mtime: m, ..
                        } => {
                            for h in chunks.iter() {
                                if let Some(c) = self.chunks.get_mut(h) {
                                    c.refs += 1;
                                }
                            }
                            *m = *mtime;
                        }
                        Entry::Dir { mtime: m } => *m = *mtime,
                    }
                    self.entries.insert(k, e);
                }
                Ok(())
            }
            Op::ReplaceChunk { path, old, new } => {
                let Some(Entry::File { chunks, .. }) = self.entries.get_mut(path) else {
                    return Err(not_found(path));
                };
                let Some(slot) = chunks.iter_mut().find(|h| **h == *old) else {
                    return Err(not_found(&format!("chunk {old} of {path}")));
                };
                *slot = *new;
                let info = self
                    .chunks
                    .get(old)
                    .cloned()
                    .ok_or_else(|| not_found(&format!("chunk {old}")))?;
                self.release_chunks(&[*old]);
                self.chunks.insert(*new, ChunkInfo { refs: 1, ..info });
                self.next_handle = self.next_handle.max(new + 1);
                Ok(())
            }
        }
    }

    /// Number of files.
    pub fn files(&self) -> u64 {
        self.entries
            .values()
            .filter(|e| matches!(e, Entry::File { .. }))
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ns: &mut Namespace, op: Op) {
        ns.apply(&op).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    }

    #[test]
    fn namespace_operations_and_refcounts() {
        let mut ns = Namespace::default();
        ok(
            &mut ns,
            Op::Mkdir {
                path: "/a/b".into(),
                parents: true,
                mtime: 1,
            },
        );
        ok(
            &mut ns,
            Op::Create {
                path: "/a/b/f".into(),
                replication: 3,
                overwrite: false,
                mtime: 2,
            },
        );
        assert!(
            ns.apply(&Op::Create {
                path: "/a/b/f".into(),
                replication: 3,
                overwrite: false,
                mtime: 2
            })
            .is_err()
        );
        assert!(
            ns.apply(&Op::Create {
                path: "/nope/f".into(),
                replication: 3,
                overwrite: false,
                mtime: 2
            })
            .is_err()
        );
        ok(
            &mut ns,
            Op::AddChunk {
                path: "/a/b/f".into(),
                handle: 5,
                abandon: None,
            },
        );
        ok(
            &mut ns,
            Op::Commit {
                handle: 5,
                length: 100,
            },
        );
        ok(
            &mut ns,
            Op::Snapshot {
                from: "/a".into(),
                to: "/snap".into(),
                mtime: 3,
            },
        );
        assert_eq!(ns.chunks[&5].refs, 2);
        ok(
            &mut ns,
            Op::Rename {
                from: "/a".into(),
                to: "/c".into(),
            },
        );
        assert!(ns.get("/c/b/f").is_ok() && ns.get("/a/b/f").is_err());
        assert!(matches!(
            ns.apply(&Op::Delete {
                path: "/c".into(),
                recursive: false
            }),
            Err(DfsError::NotEmpty(_))
        ));
        ok(
            &mut ns,
            Op::Delete {
                path: "/c".into(),
                recursive: true,
            },
        );
        assert_eq!(ns.chunks[&5].refs, 1, "the snapshot still holds the chunk");
        ok(
            &mut ns,
            Op::Delete {
                path: "/snap/b/f".into(),
                recursive: false,
            },
        );
        assert!(ns.chunks.is_empty(), "orphaned chunk is dropped");
        assert!(
            ns.apply(&Op::Rename {
                from: "/snap".into(),
                to: "/snap/x".into()
            })
            .is_err()
        );
    }
}

//! The master's durable state: the namespace and the chunk table, changed only by [`Op`]s.
//!
//! Every mutation is an `Op`, applied by [`Namespace::apply`], which validates and mutates
//! atomically (an op that fails changes nothing). The master logs each op it applied
//! successfully, in order; recovery replays the log over the last checkpoint and must
//! reach the same state, so `apply` is deterministic (timestamps travel inside ops).
//! Chunk *locations* are not here: the master learns them from chunkservers.

use crate::error::{DfsError, Result};
use crate::path::{is_within, parent, rebase};
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
        /// Written by record append: its bytes are framed records, which readers unframe.
        records: bool,
    },
}

/// A file being written: invisible to readers and listings until its writer closes it, and
/// the path is leased to that writer meanwhile (GFS/HDFS). On close it replaces whatever
/// was at the path if `overwrite` was asked, else it must still be free.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Pending {
    /// The writer's id (random, chosen by the client for this one file).
    pub writer: u64,
    /// Replicas per chunk.
    pub replication: u32,
    /// Chunks written so far.
    pub chunks: Vec<u64>,
    /// Replace an existing file at close.
    pub overwrite: bool,
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
    /// Start writing a file: a [`Pending`] entry leased to `writer`, visible at [`Op::Close`].
    Create {
        /// Path.
        path: String,
        /// Replicas per chunk.
        replication: u32,
        /// Replace an existing file (at close).
        overwrite: bool,
        /// The writer.
        writer: u64,
    },
    /// Create an empty, closed file in one step (`touch`; one log record).
    Touch {
        /// Path.
        path: String,
        /// Replicas per chunk.
        replication: u32,
        /// Replace an existing file.
        overwrite: bool,
        /// Time.
        mtime: u64,
    },
    /// Make a pending file visible under its path.
    Close {
        /// Path.
        path: String,
        /// The writer holding the lease.
        writer: u64,
        /// Time.
        mtime: u64,
    },
    /// Discard a pending file (its writer gave up, or its lease expired).
    Abort {
        /// Path.
        path: String,
        /// The writer holding the lease.
        writer: u64,
    },
    /// A master started (a new incarnation).
    Epoch {
        /// The new epoch.
        epoch: u64,
    },
    /// Mark a file as written by record append.
    MarkRecords {
        /// Path.
        path: String,
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
        /// The pending file of this writer, or 0 for the visible file (record append).
        writer: u64,
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
    /// Files being written, by path (not visible in `entries` until closed).
    pub pending: BTreeMap<String, Pending>,
    /// Master incarnations so far (each start logs one more); chunk versions granted by
    /// incarnation `e` are at least `e << 32`.
    pub epoch: u64,
}

impl Default for Namespace {
    fn default() -> Self {
        let mut entries = BTreeMap::new();
        entries.insert("/".to_string(), Entry::Dir { mtime: 0 });
        Namespace {
            entries,
            chunks: HashMap::new(),
            next_handle: 1,
            pending: BTreeMap::new(),
            epoch: 0,
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

    /// The chunks of the file `writer` may add to: its pending file, or (writer 0) the
    /// visible file at `path`. Returns (replication, chunks).
    pub fn writable(&self, path: &str, writer: u64) -> Result<(u32, &Vec<u64>)> {
        if writer == 0 {
            return match self.get(path)? {
                Entry::File {
                    replication,
                    chunks,
                    ..
                } => Ok((*replication, chunks)),
                Entry::Dir { .. } => Err(DfsError::WrongKind(format!("is a directory: {path}"))),
            };
        }
        let p = self.pending_of(path, writer)?;
        Ok((p.replication, &p.chunks))
    }

    fn pending_of(&self, path: &str, writer: u64) -> Result<&Pending> {
        match self.pending.get(path) {
            Some(p) if p.writer == writer => Ok(p),
            _ => Err(DfsError::LeaseLost(path.to_string())),
        }
    }

    /// Pending files at or below `dir`.
    fn pending_within(&self, dir: &str) -> Vec<String> {
        self.pending
            .keys()
            .filter(|k| is_within(k, dir))
            .cloned()
            .collect()
    }

    /// Whether a file may be (re)placed at `path`: its parent is a directory, and `path`
    /// is free, or a file and `overwrite` is set.
    fn may_write(&self, path: &str, overwrite: bool) -> Result<()> {
        let dir = parent(path).ok_or_else(|| DfsError::WrongKind("/ is a directory".into()))?;
        self.require_dir(dir)?;
        match self.entries.get(path) {
            Some(Entry::Dir { .. }) => Err(DfsError::WrongKind(format!("is a directory: {path}"))),
            Some(Entry::File { .. }) if !overwrite => Err(DfsError::AlreadyExists(path.into())),
            _ => Ok(()),
        }
    }

    /// Releases the chunks of the file at `path`, if there is one (it is being replaced).
    fn release_file(&mut self, path: &str) {
        if let Some(Entry::File { chunks, .. }) = self.entries.get(path) {
            let old = chunks.clone();
            self.release_chunks(&old);
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
                writer,
            } => {
                self.may_write(path, *overwrite)?;
                match self.pending.get(path) {
                    Some(p) if p.writer == *writer => return Ok(()), // a retried create
                    Some(_) => return Err(DfsError::Busy(path.clone())),
                    None => {}
                }
                if *writer == 0 {
                    return Err(DfsError::Internal("a writer id must not be 0".into()));
                }
                self.pending.insert(
                    path.clone(),
                    Pending {
                        writer: *writer,
                        replication: *replication,
                        chunks: Vec::new(),
                        overwrite: *overwrite,
                    },
                );
                Ok(())
            }
            Op::Touch {
                path,
                replication,
                overwrite,
                mtime,
            } => {
                self.may_write(path, *overwrite)?;
                if self.pending.contains_key(path) {
                    return Err(DfsError::Busy(path.clone()));
                }
                self.release_file(path);
                self.entries.insert(
                    path.clone(),
                    Entry::File {
                        replication: *replication,
                        chunks: Vec::new(),
                        mtime: *mtime,
                        records: false,
                    },
                );
                Ok(())
            }
            Op::Close {
                path,
                writer,
                mtime,
            } => {
                let overwrite = self.pending_of(path, *writer)?.overwrite;
                self.may_write(path, overwrite)?;
                let p = self.pending.remove(path).expect("checked");
                self.release_file(path);
                self.entries.insert(
                    path.clone(),
                    Entry::File {
                        replication: p.replication,
                        chunks: p.chunks,
                        mtime: *mtime,
                        records: false,
                    },
                );
                Ok(())
            }
            Op::Abort { path, writer } => {
                self.pending_of(path, *writer)?;
                let p = self.pending.remove(path).expect("checked");
                self.release_chunks(&p.chunks);
                Ok(())
            }
            Op::Epoch { epoch } => {
                self.epoch = self.epoch.max(*epoch);
                Ok(())
            }
            Op::MarkRecords { path } => match self.entries.get_mut(path) {
                Some(Entry::File { records, .. }) => {
                    *records = true;
                    Ok(())
                }
                Some(Entry::Dir { .. }) => {
                    Err(DfsError::WrongKind(format!("is a directory: {path}")))
                }
                None => Err(not_found(path)),
            },
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
                // Files being written below a deleted directory go with it (their writers'
                // next call says the lease is lost).
                if matches!(entry, Entry::Dir { .. }) {
                    for p in self.pending_within(path) {
                        let p = self.pending.remove(&p).expect("listed");
                        self.release_chunks(&p.chunks);
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
                    self.entries.insert(rebase(&k, from, to), e);
                }
                if matches!(self.entries.get(to), Some(Entry::Dir { .. })) {
                    for k in self.pending_within(from) {
                        let p = self.pending.remove(&k).expect("listed");
                        self.pending.insert(rebase(&k, from, to), p);
                    }
                }
                Ok(())
            }
            Op::AddChunk {
                path,
                writer,
                handle,
                abandon,
            } => {
                self.writable(path, *writer)?;
                let (replication, chunks) = if *writer == 0 {
                    let Some(Entry::File {
                        replication,
                        chunks,
                        ..
                    }) = self.entries.get_mut(path)
                    else {
                        unreachable!("checked by writable")
                    };
                    (replication, chunks)
                } else {
                    let p = self.pending.get_mut(path).expect("checked by writable");
                    (&mut p.replication, &mut p.chunks)
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
                // Every copy lands under `to`, which does not exist yet, so none can replace an
                // entry; the copies are taken from the state before the snapshot, so a
                // snapshot of a directory into itself (`/` into `/snaps/monday`) copies what
                // was there, not its own copies.
                let mut copies: Vec<(String, Entry)> = vec![(to.clone(), src)];
                if matches!(copies[0].1, Entry::Dir { .. }) {
                    for (k, e) in self.below(from) {
                        copies.push((rebase(k, from, to), e.clone()));
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
                let chunks = match self.entries.get_mut(path) {
                    Some(Entry::File { chunks, .. }) => chunks,
                    _ => return Err(not_found(path)),
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

    fn create(path: &str, writer: u64, overwrite: bool) -> Op {
        Op::Create {
            path: path.into(),
            replication: 3,
            overwrite,
            writer,
        }
    }

    fn close(path: &str, writer: u64) -> Op {
        Op::Close {
            path: path.into(),
            writer,
            mtime: 9,
        }
    }

    fn add(ns: &mut Namespace, path: &str, writer: u64, handle: u64, len: u64) {
        ok(
            ns,
            Op::AddChunk {
                path: path.into(),
                writer,
                handle,
                abandon: None,
            },
        );
        ok(
            ns,
            Op::Commit {
                handle,
                length: len,
            },
        );
    }

    /// Regression (data-safety issue, row 2): two writers of one path. The second is refused
    /// while the first holds the lease, the file is invisible until closed, and an overwrite
    /// replaces the old file only at close, releasing exactly the old chunks.
    #[test]
    fn one_writer_per_path_and_files_appear_at_close() {
        let mut ns = Namespace::default();
        ok(&mut ns, create("/f", 1, false));
        add(&mut ns, "/f", 1, 10, 100);
        assert!(ns.get("/f").is_err(), "invisible while being written");
        assert!(matches!(
            ns.apply(&create("/f", 2, true)),
            Err(DfsError::Busy(_))
        ));
        assert!(matches!(
            ns.apply(&Op::AddChunk {
                path: "/f".into(),
                writer: 2,
                handle: 11,
                abandon: None
            }),
            Err(DfsError::LeaseLost(_))
        ));
        ok(&mut ns, create("/f", 1, false)); // a retried create of the same writer
        ok(&mut ns, close("/f", 1));
        assert_eq!(ns.file_length(&[10]), 100);
        assert!(matches!(
            ns.apply(&close("/f", 1)),
            Err(DfsError::LeaseLost(_))
        ));
        // Overwrite: the old file stays readable until the new one closes.
        ok(&mut ns, create("/f", 3, true));
        add(&mut ns, "/f", 3, 12, 5);
        assert!(matches!(ns.get("/f"), Ok(Entry::File { chunks, .. }) if chunks == &vec![10]));
        ok(&mut ns, close("/f", 3));
        assert!(matches!(ns.get("/f"), Ok(Entry::File { chunks, .. }) if chunks == &vec![12]));
        assert!(
            !ns.chunks.contains_key(&10),
            "the replaced file's chunk is released"
        );
        // Abort releases the writer's chunks and frees the path.
        ok(&mut ns, create("/g", 4, false));
        add(&mut ns, "/g", 4, 13, 5);
        ok(
            &mut ns,
            Op::Abort {
                path: "/g".into(),
                writer: 4,
            },
        );
        assert!(!ns.chunks.contains_key(&13) && ns.pending.is_empty());
        // Deleting a directory drops what is being written below it.
        ok(
            &mut ns,
            Op::Mkdir {
                path: "/d".into(),
                parents: false,
                mtime: 1,
            },
        );
        ok(&mut ns, create("/d/x", 5, false));
        add(&mut ns, "/d/x", 5, 14, 5);
        ok(
            &mut ns,
            Op::Delete {
                path: "/d".into(),
                recursive: true,
            },
        );
        assert!(ns.pending.is_empty() && !ns.chunks.contains_key(&14));
    }

    /// Regression (data-safety issue, row 3): `snapshot / /v/s` built `/v/sdata` by string
    /// slicing and replaced an existing `/v/sx.txt`.
    #[test]
    fn snapshots_of_the_root_work_on_components() {
        let mut ns = Namespace::default();
        ok(
            &mut ns,
            Op::Mkdir {
                path: "/data".into(),
                parents: false,
                mtime: 1,
            },
        );
        ok(
            &mut ns,
            Op::Mkdir {
                path: "/v".into(),
                parents: false,
                mtime: 1,
            },
        );
        for (p, w, h) in [("/data/a", 1, 1), ("/x.txt", 2, 2), ("/v/sx.txt", 3, 3)] {
            ok(&mut ns, create(p, w, false));
            add(&mut ns, p, w, h, 10);
            ok(&mut ns, close(p, w));
        }
        ok(
            &mut ns,
            Op::Snapshot {
                from: "/".into(),
                to: "/v/s".into(),
                mtime: 2,
            },
        );
        for p in [
            "/v/s",
            "/v/s/data/a",
            "/v/s/x.txt",
            "/v/s/v/sx.txt",
            "/v/sx.txt",
        ] {
            assert!(ns.get(p).is_ok(), "{p} missing");
        }
        assert!(ns.get("/v/sdata").is_err() && ns.get("/v/s/v/s").is_err());
        assert!(
            matches!(ns.get("/v/sx.txt"), Ok(Entry::File { chunks, .. }) if chunks == &vec![3])
        );
        assert_eq!(ns.chunks[&2].refs, 2);
        assert_eq!(ns.chunks[&3].refs, 2);
        assert!(
            ns.apply(&Op::Snapshot {
                from: "/data".into(),
                to: "/v/s".into(),
                mtime: 3
            })
            .is_err()
        );
        // Deleting everything releases every chunk: nothing leaks.
        for p in ["/data", "/v", "/x.txt"] {
            ok(
                &mut ns,
                Op::Delete {
                    path: p.into(),
                    recursive: true,
                },
            );
        }
        assert!(ns.chunks.is_empty(), "{:?}", ns.chunks);
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
        ok(&mut ns, create("/a/b/f", 7, false));
        ok(
            &mut ns,
            Op::AddChunk {
                path: "/a/b/f".into(),
                writer: 7,
                handle: 5,
                abandon: None,
            },
        );
        ok(&mut ns, close("/a/b/f", 7));
        assert!(ns.apply(&create("/a/b/f", 8, false)).is_err());
        assert!(ns.apply(&create("/nope/f", 8, false)).is_err());
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

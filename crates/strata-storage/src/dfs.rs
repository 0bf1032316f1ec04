//! Strata's DFS as a [`Store`]: one shared client per master per process.
//!
//! Metadata calls go to the master over the client's gRPC channel (one connection, one
//! small I/O runtime, reused by every caller); data is read straight from the chunkservers,
//! any live replica, without holding the client exclusively. A `put` is a DFS create with
//! overwrite: the file stays invisible until it is closed, so readers see the old file or
//! the whole new one.

use crate::{FileMeta, Listing, Ranged, Result, SUCCESS, StorageError, Store, hidden_name};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;
use std::sync::Arc;
use strata_dfs::{DfsClient, DfsError, FileReader, FileWriter};

/// A DFS cluster, by its master's address.
pub struct DfsStore {
    master: String,
    secret: String,
    client: Arc<DfsClient>,
}

impl std::fmt::Debug for DfsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfsStore")
            .field("master", &self.master)
            .finish()
    }
}

fn remote(e: DfsError) -> StorageError {
    match e {
        DfsError::NotFound(p) => StorageError::NotFound(p),
        e => StorageError::Remote(e.to_string()),
    }
}

impl DfsStore {
    /// The process's client for `master`, connected on first use.
    pub fn shared(master: &str, secret: &str) -> Result<Arc<DfsStore>> {
        static STORES: std::sync::OnceLock<Mutex<HashMap<(String, String), Arc<DfsStore>>>> =
            std::sync::OnceLock::new();
        let stores = STORES.get_or_init(Default::default);
        let key = (master.to_string(), secret.to_string());
        if let Some(s) = stores.lock().get(&key) {
            return Ok(s.clone());
        }
        let client = DfsClient::connect(master, secret).map_err(remote)?;
        let store = Arc::new(DfsStore {
            master: master.to_string(),
            secret: secret.to_string(),
            client: Arc::new(client),
        });
        Ok(stores.lock().entry(key).or_insert(store).clone())
    }

    /// The shared client.
    pub fn client(&self) -> &Arc<DfsClient> {
        &self.client
    }
}

impl Store for DfsStore {
    fn scheme(&self) -> &'static str {
        "dfs"
    }

    fn list(&self, path: &str) -> Result<Listing> {
        let info = self.client.stat(path).map_err(remote)?;
        let mut out = Listing::default();
        if !info.is_dir {
            out.files.push(FileMeta {
                url: self.url(path),
                size: info.length,
            });
            return Ok(out);
        }
        let base = path.trim_end_matches('/');
        let mut hidden: HashMap<String, u64> = HashMap::new();
        for e in self.client.list(path, true).map_err(remote)? {
            if e.is_dir {
                continue;
            }
            let rel = e.path.strip_prefix(base).unwrap_or(&e.path);
            let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
            match parts.iter().position(|c| hidden_name(c)) {
                Some(_) if rel.ends_with(SUCCESS) => {}
                Some(i) => {
                    *hidden
                        .entry(self.url(&format!("{base}/{}", parts[..=i].join("/"))))
                        .or_default() += 1
                }
                None => out.files.push(FileMeta {
                    url: self.url(&e.path),
                    size: e.length,
                }),
            }
        }
        out.files.sort_by(|a, b| a.url.cmp(&b.url));
        out.hidden = hidden.into_iter().collect();
        out.hidden.sort();
        Ok(out)
    }

    fn size(&self, path: &str) -> Result<u64> {
        let info = self.client.stat(path).map_err(remote)?;
        if info.is_dir {
            return Err(StorageError::Remote(format!(
                "{}: is a directory",
                self.url(path)
            )));
        }
        Ok(info.length)
    }

    fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let list = self.client.chunks(path).map_err(remote)?;
        self.client
            .read_range(&list.chunks, range.start, range.end - range.start)
            .map_err(remote)
    }

    /// The live replicas of the chunk that overlaps each range most.
    fn hosts(&self, path: &str, ranges: &[Range<u64>]) -> Result<Vec<Vec<String>>> {
        let list = self.client.chunks(path).map_err(remote)?;
        Ok(ranges
            .iter()
            .map(|r| {
                list.chunks
                    .iter()
                    .map(|c| {
                        let end = (c.offset + c.length).min(r.end);
                        (end.saturating_sub(c.offset.max(r.start)), c)
                    })
                    .filter(|(overlap, _)| *overlap > 0)
                    .max_by_key(|(overlap, _)| *overlap)
                    .map(|(_, c)| c.replicas.clone())
                    .unwrap_or_default()
            })
            .collect())
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(
            FileReader::open(self.client.clone(), path).map_err(remote)?,
        ))
    }

    fn put(&self, path: &str, data: &[u8]) -> Result<()> {
        // A writer holds its client exclusively; puts are rare beside reads.
        let client = DfsClient::connect(&self.master, &self.secret).map_err(remote)?;
        if let Some(i) = path.rfind('/').filter(|i| *i > 0) {
            client.mkdir(&path[..i], true).map_err(remote)?;
        }
        let mut w = FileWriter::create(client, path, 0, true).map_err(remote)?;
        w.append(data).map_err(remote)?;
        w.close().map_err(remote)?;
        Ok(())
    }

    fn put_new(&self, path: &str, data: &[u8]) -> Result<bool> {
        // Written whole under a temporary name, then renamed: the master refuses a rename
        // onto an existing name, so exactly one of two racing writers wins.
        let (dir, name) = match path.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => ("", path),
        };
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = format!(
            "{dir}/.{name}.{}.{}.{seq}.tmp",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        self.put(&tmp, data)?;
        match self.client.rename(&tmp, path) {
            Ok(()) => Ok(true),
            Err(DfsError::AlreadyExists(_)) => {
                let _ = self.client.delete(&tmp, false);
                Ok(false)
            }
            Err(e) => {
                let _ = self.client.delete(&tmp, false);
                Err(remote(e))
            }
        }
    }

    fn delete(&self, path: &str) -> Result<()> {
        match self.client.delete(path, true) {
            Ok(()) | Err(DfsError::NotFound(_)) => Ok(()),
            Err(e) => Err(remote(e)),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("dfs://{}{path}", self.master)
    }

    fn open_ranged(&self, path: &str) -> Result<Arc<dyn Ranged>> {
        let list = self.client.chunks(path).map_err(remote)?;
        Ok(Arc::new(DfsFile {
            client: self.client.clone(),
            len: list.chunks.iter().map(|c| c.length).sum(),
            chunks: list.chunks,
        }))
    }
}

/// A DFS file open for ranged reads: its chunk list as of opening, read from any replica
/// over the client's pooled connections.
struct DfsFile {
    client: Arc<DfsClient>,
    chunks: Vec<strata_dfs::proto::ChunkLocation>,
    len: u64,
}

impl std::fmt::Debug for DfsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfsFile").field("len", &self.len).finish()
    }
}

impl Ranged for DfsFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<u8>> {
        self.client
            .read_range(&self.chunks, range.start, range.end - range.start)
            .map_err(remote)
    }
}

//! Strata's storage layer: one file-system trait for every engine, chosen by URL scheme.
//!
//! An engine never names a concrete store (DESIGN.md §2): it resolves a path or URL with
//! [`resolve`] and gets a [`Store`] and the path inside it.
//! - a plain path (`/data/t`, `data/t`, `file:///data/t`): the local file system ([`local`]);
//! - `dfs://host:port/path`, or `dfs:///path` for the configured master: Strata's DFS
//!   ([`dfs`]). One client per master per process, shared by every reader and connection-
//!   reusing; reads need no exclusive access to it.
//! - `s3://bucket/key`: S3 or an S3-compatible server through the `object_store` crate
//!   ([`s3`]), credentials and endpoint from the `AWS_*` environment.
//!
//! Every store offers listing (recursive, Hadoop's hidden-file rule applied and what it
//! skipped counted), sizes, ranged reads (what Parquet readers need: the footer, then only
//! the projected column chunks), sequential reads, and an atomic `put`: a reader sees the
//! old object or the whole new one, never part of it (write to a temporary name, rename).
//!
//! Not here yet: writers streaming large outputs, and a job-output commit protocol for S3
//! (no rename there: a manifest); dataflow jobs still read and commit through
//! `strata_dataflow::io`.

pub mod conformance;
pub mod dfs;
pub mod local;
pub mod s3;

use std::io::Read;
use std::ops::Range;
use std::sync::Arc;

/// What went wrong, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No such file or directory.
    #[error("{0}: no such file or directory")]
    NotFound(String),
    /// A local I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A remote store said no (DFS master or node, object store).
    #[error("{0}")]
    Remote(String),
    /// A URL this layer cannot read.
    #[error("{0}")]
    BadUrl(String),
}

/// Storage results.
pub type Result<T> = std::result::Result<T, StorageError>;

/// A file found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Its full URL (or local path), as [`resolve`] accepts it back.
    pub url: String,
    /// Its length in bytes.
    pub size: u64,
}

/// The files under a path, and what the hidden-file rule left out.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Files, sorted by URL.
    pub files: Vec<FileMeta>,
    /// Per hidden file or directory (a name starting with `_` or `.`), the files under it
    /// that were skipped. Job markers (`_SUCCESS`) are not counted.
    pub hidden: Vec<(String, u64)>,
}

impl Listing {
    /// Files skipped in all.
    pub fn hidden_files(&self) -> u64 {
        self.hidden.iter().map(|h| h.1).sum()
    }
}

/// A file system or object store.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The URL scheme it serves ("file", "dfs").
    fn scheme(&self) -> &'static str;
    /// The files under `path` (recursively; the file itself when it is one).
    fn list(&self, path: &str) -> Result<Listing>;
    /// The length of the file at `path`.
    fn size(&self, path: &str) -> Result<u64>;
    /// `range` of the file's bytes.
    fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>>;
    /// The file from its start, as a stream.
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>>;
    /// Writes the whole file atomically, replacing any file there.
    fn put(&self, path: &str, data: &[u8]) -> Result<()>;
    /// Writes the whole file atomically only if no file is at `path`: `Ok(false)` (and
    /// nothing written) when one is. Two writers racing for one path: exactly one wins.
    /// Commit protocols (the SQL catalog's versioned manifests) are built on it.
    fn put_new(&self, path: &str, data: &[u8]) -> Result<bool>;
    /// Removes a file or a directory tree (no error when absent).
    fn delete(&self, path: &str) -> Result<()>;
    /// The URL of `path` in this store.
    fn url(&self, path: &str) -> String;
    /// Opens `path` for many ranged reads of the version there now (a DFS file's chunk
    /// list, a local file's descriptor are looked up once, not per read).
    fn open_ranged(&self, path: &str) -> Result<Arc<dyn Ranged>>;
    /// For each byte range of the file, the addresses (`host:port`) of the machines that
    /// hold most of it, for placing work near its data; empty where the store has no
    /// notion of place (local disks shared by path, object stores).
    fn hosts(&self, path: &str, ranges: &[Range<u64>]) -> Result<Vec<Vec<String>>> {
        let _ = path;
        Ok(vec![Vec::new(); ranges.len()])
    }
}

/// A file opened for ranged reads.
pub trait Ranged: Send + Sync + std::fmt::Debug {
    /// Its length.
    fn len(&self) -> u64;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `range` of its bytes (within the length).
    fn read(&self, range: Range<u64>) -> Result<Vec<u8>>;
}

/// The storage layer's I/O runtime (two threads; object-store and broker calls are
/// network-bound), shared by every client in the process that needs async I/O from
/// blocking code.
pub fn io_runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("strata-storage-io")
            .enable_all()
            .build()
            .expect("starting the storage I/O runtime")
    })
}

/// Where `dfs:///` URLs without a host go, and the secret to present.
#[derive(Debug, Clone, Default)]
pub struct StorageOptions {
    /// The DFS master for `dfs:///path` (`host:port`).
    pub dfs_master: String,
    /// The cluster secret.
    pub secret: String,
    /// `object_store` S3 settings applied over the `AWS_*` environment, e.g.
    /// `("aws_endpoint", "http://127.0.0.1:9000")`, `("aws_access_key_id", ..)`.
    pub s3: Vec<(String, String)>,
}

impl StorageOptions {
    /// From the configuration (`cluster.master`, `cluster.secret`, and their `STRATA_*`
    /// environment overrides).
    pub fn from_config(c: &strata_common::ClusterConfig) -> Self {
        StorageOptions {
            dfs_master: c.master.clone(),
            secret: c.secret.clone(),
            s3: Vec::new(),
        }
    }
}

/// Whether `s` names a remote store rather than a local path.
pub fn is_url(s: &str) -> bool {
    s.contains("://") && !s.starts_with("file://")
}

/// The store that serves `url` and the path inside it.
pub fn resolve(url: &str, opts: &StorageOptions) -> Result<(Arc<dyn Store>, String)> {
    if let Some(rest) = url.strip_prefix("dfs://") {
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let master = if host.is_empty() {
            opts.dfs_master.as_str()
        } else {
            host
        };
        let store: Arc<dyn Store> = dfs::DfsStore::shared(master, &opts.secret)?;
        return Ok((store, path.to_string()));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::BadUrl(format!(
                "{url}: no bucket; write s3://bucket/key"
            )));
        }
        let store: Arc<dyn Store> = s3::S3Store::shared(bucket, &opts.s3)?;
        return Ok((store, key.to_string()));
    }
    if let Some(path) = url.strip_prefix("file://") {
        return Ok((local::LocalStore::shared(), path.to_string()));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(StorageError::BadUrl(format!(
            "{url}: unknown scheme {scheme}://; use a local path or dfs://host:port/path \
             or s3://bucket/key"
        )));
    }
    Ok((local::LocalStore::shared(), url.to_string()))
}

/// Whether a path component is hidden by Hadoop's rule.
pub fn hidden_name(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// The marker a finished job leaves in its output directory.
pub const SUCCESS: &str = "_SUCCESS";

/// What an input's reader says about the files the hidden rule skipped: "3 files read; 3183
/// skipped under hidden path html/_sources (...)"; the biggest few paths are named.
pub fn hidden_report(read: usize, hidden: &[(String, u64)]) -> String {
    let mut v: Vec<&(String, u64)> = hidden.iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let names: Vec<&str> = v.iter().take(3).map(|h| h.0.as_str()).collect();
    let more = if v.len() > 3 {
        format!(" and {} more", v.len() - 3)
    } else {
        String::new()
    };
    format!(
        "{read} files read; {} skipped under hidden {} {}{more} (names starting with _ or . are \
         skipped, as Hadoop does; name a hidden directory itself to read it)",
        hidden.iter().map(|h| h.1).sum::<u64>(),
        if v.len() == 1 { "path" } else { "paths" },
        names.join(", ")
    )
}

/// A file read through a [`Store`] by ranges: what columnar readers need.
///
/// Reads of up to 4 blocks (a Parquet page header, a page, a stream's next piece) go through
/// a cache of the last few aligned 1 MiB blocks, so a reader walking pages one by one costs
/// one request per block, not one per page; larger reads go to the store as they are.
#[derive(Debug, Clone)]
pub struct RangeFile {
    file: Arc<dyn Ranged>,
    len: u64,
    blocks: Arc<parking_lot::Mutex<std::collections::VecDeque<(u64, Arc<Vec<u8>>)>>>,
}

impl RangeFile {
    /// Size of a cached block.
    pub const BLOCK: u64 = 1 << 20;
    /// Blocks kept (enough for the pages of a few dozen columns read side by side).
    const CACHED: usize = 32;

    /// Opens `url` for ranged reads.
    pub fn open(url: &str, opts: &StorageOptions) -> Result<RangeFile> {
        let (store, path) = resolve(url, opts)?;
        let file = store.open_ranged(&path)?;
        Ok(RangeFile {
            len: file.len(),
            file,
            blocks: Default::default(),
        })
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A stream from `start`, read on demand through the block cache.
    pub fn reader_at(&self, start: u64) -> RangeReader {
        let mut r = RangeReader::new(Arc::new(self.clone()));
        r.piece = Self::BLOCK;
        r.pos = start.min(self.len);
        r
    }

    /// `len` bytes at `start` (fewer at the end of the file).
    pub fn read(&self, start: u64, len: u64) -> Result<Vec<u8>> {
        let end = (start + len).min(self.len);
        if start >= end {
            return Ok(Vec::new());
        }
        if end - start > 4 * Self::BLOCK {
            return self.file.read(start..end);
        }
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut pos = start;
        while pos < end {
            let b = pos / Self::BLOCK;
            let block = self.block(b)?;
            let from = (pos - b * Self::BLOCK) as usize;
            let to = ((end - b * Self::BLOCK) as usize).min(block.len());
            out.extend_from_slice(&block[from..to]);
            pos = b * Self::BLOCK + to as u64;
        }
        Ok(out)
    }

    fn block(&self, b: u64) -> Result<Arc<Vec<u8>>> {
        if let Some((_, d)) = self.blocks.lock().iter().find(|(i, _)| *i == b) {
            return Ok(d.clone());
        }
        let start = b * Self::BLOCK;
        let data = Arc::new(self.file.read(start..(start + Self::BLOCK).min(self.len))?);
        let mut blocks = self.blocks.lock();
        if blocks.len() >= Self::CACHED {
            blocks.pop_front();
        }
        blocks.push_back((b, data.clone()));
        Ok(data)
    }
}

impl Ranged for RangeFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<u8>> {
        RangeFile::read(self, range.start, range.end - range.start)
    }
}

/// A sequential reader over any store, a few MiB per ranged read.
pub struct RangeReader {
    file: Arc<dyn Ranged>,
    len: u64,
    piece: u64,
    pos: u64,
    buf: Vec<u8>,
    off: usize,
}

impl RangeReader {
    /// Bytes read per request.
    pub const PIECE: u64 = 8 << 20;

    /// Reads an opened file from its start.
    pub fn new(file: Arc<dyn Ranged>) -> RangeReader {
        RangeReader {
            len: file.len(),
            piece: Self::PIECE,
            file,
            pos: 0,
            buf: Vec::new(),
            off: 0,
        }
    }
}

impl std::io::Seek for RangeReader {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        // Where the reader stands: the end of the buffer less what is still unread in it.
        let here = self.pos - (self.buf.len() - self.off) as u64;
        let new = match to {
            std::io::SeekFrom::Start(p) => p as i128,
            std::io::SeekFrom::End(d) => self.len as i128 + d as i128,
            std::io::SeekFrom::Current(d) => here as i128 + d as i128,
        };
        if new < 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        }
        let new = new as u64;
        let start = self.pos - self.buf.len() as u64;
        if new >= start && new <= self.pos {
            self.off = (new - start) as usize;
        } else {
            self.buf.clear();
            self.off = 0;
            self.pos = new;
        }
        Ok(new)
    }
}

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.off == self.buf.len() {
            if self.pos >= self.len {
                return Ok(0);
            }
            let end = (self.pos + self.piece).min(self.len);
            self.buf = self
                .file
                .read(self.pos..end)
                .map_err(std::io::Error::other)?;
            self.off = 0;
            self.pos = end;
        }
        let n = out.len().min(self.buf.len() - self.off);
        out[..n].copy_from_slice(&self.buf[self.off..self.off + n]);
        self.off += n;
        Ok(n)
    }
}

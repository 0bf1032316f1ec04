//! Strata's storage layer: one file-system trait for every engine, chosen by URL scheme.
//!
//! An engine never names a concrete store (DESIGN.md §2): it resolves a path or URL with
//! [`resolve`] and gets a [`Store`] and the path inside it.
//! - a plain path (`/data/t`, `data/t`, `file:///data/t`): the local file system ([`local`]);
//! - `dfs://host:port/path`, or `dfs:///path` for the configured master: Strata's DFS
//!   ([`dfs`]). One client per master per process, shared by every reader and connection-
//!   reusing; reads need no exclusive access to it.
//!
//! Every store offers listing (recursive, Hadoop's hidden-file rule applied and what it
//! skipped counted), sizes, ranged reads (what Parquet readers need: the footer, then only
//! the projected column chunks), sequential reads, and an atomic `put`: a reader sees the
//! old object or the whole new one, never part of it (write to a temporary name, rename).
//!
//! Not here yet: `s3://` (through the `object_store` crate; S3 has no rename, so its commit
//! goes through a manifest), and writers streaming large outputs (dataflow jobs still
//! commit through `strata_dataflow::io`).

pub mod conformance;
pub mod dfs;
pub mod local;

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
    /// Removes a file or a directory tree (no error when absent).
    fn delete(&self, path: &str) -> Result<()>;
    /// The URL of `path` in this store.
    fn url(&self, path: &str) -> String;
}

/// Where `dfs:///` URLs without a host go, and the secret to present.
#[derive(Debug, Clone, Default)]
pub struct StorageOptions {
    /// The DFS master for `dfs:///path` (`host:port`).
    pub dfs_master: String,
    /// The cluster secret.
    pub secret: String,
}

impl StorageOptions {
    /// From the configuration (`cluster.master`, `cluster.secret`, and their `STRATA_*`
    /// environment overrides).
    pub fn from_config(c: &strata_common::ClusterConfig) -> Self {
        StorageOptions {
            dfs_master: c.master.clone(),
            secret: c.secret.clone(),
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
    if let Some(path) = url.strip_prefix("file://") {
        return Ok((local::LocalStore::shared(), path.to_string()));
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(StorageError::BadUrl(format!(
            "{url}: unknown scheme {scheme}://; use a local path or dfs://host:port/path \
             (s3:// is not supported yet)"
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

/// A file read through a [`Store`] by ranges: what columnar readers need.
#[derive(Debug, Clone)]
pub struct RangeFile {
    store: Arc<dyn Store>,
    path: String,
    len: u64,
}

impl RangeFile {
    /// Opens `url` for ranged reads.
    pub fn open(url: &str, opts: &StorageOptions) -> Result<RangeFile> {
        let (store, path) = resolve(url, opts)?;
        let len = store.size(&path)?;
        Ok(RangeFile { store, path, len })
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `len` bytes at `start` (fewer at the end of the file).
    pub fn read(&self, start: u64, len: u64) -> Result<Vec<u8>> {
        let end = (start + len).min(self.len);
        if start >= end {
            return Ok(Vec::new());
        }
        self.store.read_range(&self.path, start..end)
    }
}

//! Table files through the storage layer: local files directly, `dfs://` (and any other
//! store) by ranged reads.
//!
//! Parquet needs random access (the footer first, then only the projected column chunks of
//! the row groups that survive pruning): [`TableFile`] serves those ranges from whichever
//! store holds the file. CSV and JSON lines are read as streams.

use crate::error::{Result, SqlError};
use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
pub use strata_storage::StorageOptions;
use strata_storage::{Listing, RangeFile};

static OPTS: OnceLock<StorageOptions> = OnceLock::new();

/// Sets where `dfs:///` goes and the secret to present (the CLI passes its `--config`);
/// once per process, before the first table is opened. Returns false if it was too late.
pub fn configure(opts: StorageOptions) -> bool {
    OPTS.set(opts).is_ok()
}

/// Where `dfs:///` goes and the secret: as [`configure`]d, else the default configuration
/// with its `STRATA_*` environment overrides.
pub fn storage_options() -> &'static StorageOptions {
    OPTS.get_or_init(|| {
        let cfg = strata_common::StrataConfig::load(None).unwrap_or_default();
        StorageOptions::from_config(&cfg.cluster)
    })
}

fn err(path: &Path, e: impl std::fmt::Display) -> SqlError {
    SqlError::io_other(path, e)
}

/// Whether a table path is a URL of a remote store.
pub fn is_remote(path: &Path) -> bool {
    path.to_str().is_some_and(strata_storage::is_url)
}

/// The files under a URL or local directory, with what the hidden-file rule skipped.
pub fn list(path: &str) -> Result<Listing> {
    let (store, inner) = strata_storage::resolve(path, storage_options())
        .map_err(|e| SqlError::Plan(e.to_string()))?;
    store
        .list(&inner)
        .map_err(|e| SqlError::Plan(e.to_string()))
}

/// For each byte range of a table file, the machines holding most of it (`host:port`):
/// DFS replicas; nothing for local files and object stores.
pub fn hosts(path: &Path, ranges: &[std::ops::Range<u64>]) -> Result<Vec<Vec<String>>> {
    if !is_remote(path) {
        return Ok(vec![Vec::new(); ranges.len()]);
    }
    let url = path.to_str().expect("checked by is_remote");
    let (store, inner) =
        strata_storage::resolve(url, storage_options()).map_err(|e| err(path, e))?;
    store.hosts(&inner, ranges).map_err(|e| err(path, e))
}

/// A table file opened for reading.
#[derive(Debug)]
pub enum TableFile {
    /// On this machine.
    Local(std::fs::File),
    /// In a store, read by ranges.
    Remote(RangeFile),
}

impl TableFile {
    /// Opens `path`, a local path or a store URL.
    pub fn open(path: &Path) -> Result<TableFile> {
        if is_remote(path) {
            let url = path.to_str().expect("checked by is_remote");
            let f = RangeFile::open(url, storage_options()).map_err(|e| err(path, e))?;
            return Ok(TableFile::Remote(f));
        }
        Ok(TableFile::Local(
            std::fs::File::open(path).map_err(|e| SqlError::io(path, e))?,
        ))
    }

    /// The file from its start, as a stream (for CSV and JSON).
    pub fn stream(path: &Path) -> Result<Box<dyn Read + Send>> {
        if is_remote(path) {
            let url = path.to_str().expect("checked by is_remote");
            let (store, inner) =
                strata_storage::resolve(url, storage_options()).map_err(|e| err(path, e))?;
            return store.open(&inner).map_err(|e| err(path, e));
        }
        Ok(Box::new(
            std::fs::File::open(path).map_err(|e| SqlError::io(path, e))?,
        ))
    }
}

impl Length for TableFile {
    fn len(&self) -> u64 {
        match self {
            TableFile::Local(f) => f.len(),
            TableFile::Remote(f) => f.len(),
        }
    }
}

impl ChunkReader for TableFile {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        match self {
            TableFile::Local(f) => {
                let mut f = f.try_clone()?;
                f.seek(SeekFrom::Start(start))?;
                Ok(Box::new(std::io::BufReader::new(f)))
            }
            // Read on demand: a reader may stop long before the end of the file.
            TableFile::Remote(f) => Ok(Box::new(f.reader_at(start))),
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            TableFile::Local(f) => f.get_bytes(start, length),
            TableFile::Remote(f) => f
                .read(start, length as u64)
                .map(Bytes::from)
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e))),
        }
    }
}

/// The URLs of a listing as table file paths.
pub fn paths(l: &Listing) -> Vec<PathBuf> {
    l.files.iter().map(|f| PathBuf::from(&f.url)).collect()
}

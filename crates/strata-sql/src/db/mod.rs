//! The catalog of tables and views that SQL statements create (`CREATE TABLE`, `INSERT`,
//! `CREATE VIEW`, ...), held in memory or persisted in a directory (`--db DIR`, local or
//! `dfs://` / `s3://`), so that a later session finds its tables.
//!
//! ## Layout of a database directory
//!
//! ```text
//!  DIR/_catalog/v00000000000000000007.json   one manifest per committed version
//!  DIR/<table>/<version>-<n>-<nonce>.parquet a table's data files
//! ```
//!
//! A manifest is the whole catalog at one version: each table's schema, data files and
//! row count, and each view's query text. A statement writes its data files first (fresh
//! names, invisible until referenced), then commits by creating the next version's
//! manifest with an exclusive create ([`strata_storage::Store::put_new`]): of two sessions
//! racing for a version exactly one wins; the other reloads and applies its change again
//! to the newer state, or fails when the change no longer applies (the table it read was
//! rewritten meanwhile). This is optimistic concurrency over an atomic log, as Delta Lake
//! and Iceberg do it; a reader sees one committed version whole, never half a statement.
//!
//! Files a version stops referencing (DROP, DELETE, UPDATE, replaced tables, merged small
//! files) are removed when the version [`GRACE_VERSIONS`] later commits, so a query that
//! started on an older version can still read them while others commit. The last
//! [`KEEP_VERSIONS`] manifests are kept.
//!
//! Without a directory the same catalog lives in memory: tables are record batches.

mod manifest;

pub use manifest::{State, TableEntry, ViewEntry};

use crate::error::{Result, SqlError};
use parking_lot::RwLock;
use std::sync::Arc;
use strata_storage::Store;

/// Manifests kept behind the newest.
pub const KEEP_VERSIONS: u64 = 10;

/// Versions a dropped data file outlives: files a version stopped referencing are deleted
/// when the version this many later commits, so a query planned on an older version (or
/// a writer merging into a table's last file) still finds them while others commit.
pub const GRACE_VERSIONS: u64 = 8;

/// Attempts at committing one statement against concurrent writers.
const COMMIT_ATTEMPTS: usize = 64;

/// A catalog of tables and views: in memory, or in a directory.
#[derive(Debug, Default)]
pub struct Database {
    /// Where it persists: the store and the directory inside it, and the URL as given.
    place: Option<Place>,
    current: RwLock<Loaded>,
}

#[derive(Debug)]
struct Place {
    store: Arc<dyn Store>,
    dir: String,
    url: String,
}

#[derive(Debug, Default, Clone)]
struct Loaded {
    version: u64,
    state: State,
}

fn storage_err(what: &str, e: impl std::fmt::Display) -> SqlError {
    SqlError::Execution(format!("database {what}: {e}"))
}

impl Database {
    /// An empty catalog in memory.
    pub fn in_memory() -> Database {
        Database::default()
    }

    /// The catalog persisted under `url` (a local directory, `dfs://...` or `s3://...`),
    /// created empty when there is none yet.
    pub fn open(url: &str) -> Result<Database> {
        let (store, dir) = strata_storage::resolve(url, crate::source::storage_options())
            .map_err(|e| storage_err(url, e))?;
        let db = Database {
            place: Some(Place {
                store,
                dir: dir.trim_end_matches('/').to_string(),
                url: url.trim_end_matches('/').to_string(),
            }),
            current: RwLock::new(Loaded::default()),
        };
        db.refresh()?;
        Ok(db)
    }

    /// Where the catalog persists, if it does.
    pub fn url(&self) -> Option<&str> {
        self.place.as_ref().map(|p| p.url.as_str())
    }

    /// The committed version seen now (0: nothing committed yet).
    pub fn version(&self) -> u64 {
        self.current.read().version
    }

    /// The catalog as of the last refresh or commit.
    pub fn state(&self) -> State {
        self.current.read().state.clone()
    }

    /// Table `key` (lower-cased) as of the last refresh or commit.
    pub fn table(&self, key: &str) -> Option<TableEntry> {
        self.current.read().state.tables.get(key).cloned()
    }

    /// View `key` (lower-cased) as of the last refresh or commit.
    pub fn view(&self, key: &str) -> Option<ViewEntry> {
        self.current.read().state.views.get(key).cloned()
    }

    /// Reads the newest committed version, if another session committed one since.
    pub fn refresh(&self) -> Result<()> {
        let Some(p) = &self.place else {
            return Ok(());
        };
        let newest = p.newest_version()?;
        if newest > self.current.read().version {
            let state = p.read_version(newest)?;
            *self.current.write() = Loaded {
                version: newest,
                state,
            };
        }
        Ok(())
    }

    /// Where the data files of table `table` go, as a URL or local path.
    pub fn table_dir(&self, table: &str) -> Option<String> {
        self.place
            .as_ref()
            .map(|p| format!("{}/{}", p.url, file_safe(table)))
    }

    /// The full URL or path of a data file named in the manifest.
    pub fn file_url(&self, rel: &str) -> String {
        match &self.place {
            Some(p) => format!("{}/{rel}", p.url),
            None => rel.to_string(),
        }
    }

    /// Whether the catalog persists (tables are files) or lives in memory (tables are
    /// record batches).
    pub fn is_persistent(&self) -> bool {
        self.place.is_some()
    }

    /// Commits `change`, applied to the newest state: it may be applied again (to a newer
    /// state) when another session commits first, so it must only read the state it is
    /// given. Returns what `change` returned on the attempt that committed.
    pub fn commit<T>(&self, mut change: impl FnMut(&mut State) -> Result<T>) -> Result<T> {
        let Some(p) = &self.place else {
            let mut cur = self.current.write();
            let mut next = cur.state.clone();
            let out = change(&mut next)?;
            cur.version += 1;
            cur.state = next;
            return Ok(out);
        };
        for _ in 0..COMMIT_ATTEMPTS {
            self.refresh()?;
            let base = self.current.read().clone();
            let mut next = base.state.clone();
            next.removed.clear();
            let out = change(&mut next)?;
            let version = base.version + 1;
            let bytes = serde_json::to_vec_pretty(&next)
                .map_err(|e| SqlError::Internal(format!("encoding the catalog: {e}")))?;
            let won = p
                .store
                .put_new(&p.manifest(version), &bytes)
                .map_err(|e| storage_err(&p.url, e))?;
            if !won {
                continue;
            }
            // Files unreferenced for GRACE_VERSIONS versions, and manifests past keeping.
            if version > GRACE_VERSIONS
                && let Ok(old) = p.read_version(version - GRACE_VERSIONS)
            {
                for f in &old.removed {
                    let _ = p.store.delete(&format!("{}/{f}", p.dir));
                }
            }
            if version > KEEP_VERSIONS {
                let _ = p.store.delete(&p.manifest(version - KEEP_VERSIONS));
            }
            *self.current.write() = Loaded {
                version,
                state: next,
            };
            return Ok(out);
        }
        Err(SqlError::Execution(format!(
            "database {}: {COMMIT_ATTEMPTS} attempts to commit lost to other sessions; run the \
             statement again",
            p.url
        )))
    }
}

impl Place {
    fn catalog_dir(&self) -> String {
        format!("{}/_catalog", self.dir)
    }

    fn manifest(&self, version: u64) -> String {
        format!("{}/v{version:020}.json", self.catalog_dir())
    }

    fn newest_version(&self) -> Result<u64> {
        let listing = match self.store.list(&self.catalog_dir()) {
            Ok(l) => l,
            Err(strata_storage::StorageError::NotFound(_)) => return Ok(0),
            Err(e) => return Err(storage_err(&self.url, e)),
        };
        Ok(listing
            .files
            .iter()
            .filter_map(|f| {
                let name = f.url.rsplit('/').next()?;
                name.strip_prefix('v')?.strip_suffix(".json")?.parse().ok()
            })
            .max()
            .unwrap_or(0))
    }

    fn read_version(&self, version: u64) -> Result<State> {
        let path = self.manifest(version);
        let mut bytes = Vec::new();
        self.store
            .open(&path)
            .and_then(|mut r| {
                std::io::Read::read_to_end(&mut r, &mut bytes).map_err(|e| {
                    strata_storage::StorageError::Io {
                        path: path.clone(),
                        source: e,
                    }
                })
            })
            .map_err(|e| storage_err(&self.url, e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            SqlError::Execution(format!(
                "database {}: manifest version {version} is unreadable ({e}); the directory \
                 was changed by something other than Strata",
                self.url
            ))
        })
    }
}

/// A table name as a directory name: ASCII letters, digits, `_` and `-` kept, others
/// (and a leading `_`, which would hide the directory) escaped as `%xx`.
fn file_safe(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if c.is_ascii_alphanumeric() || c == '-' || (c == '_' && i > 0) {
                c.to_string()
            } else {
                format!("%{:02x}", c as u32)
            }
        })
        .collect()
}

/// A fresh name for a data file of `table`: unique across processes and calls.
pub fn data_file_name(table: &str) -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}/{nanos:x}-{:x}-{seq}.parquet",
        file_safe(table),
        std::process::id()
    )
}

//! The local file system as a [`Store`].

use crate::{FileMeta, Listing, Ranged, Result, SUCCESS, StorageError, Store, hidden_name};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Local paths.
#[derive(Debug, Default)]
pub struct LocalStore;

impl LocalStore {
    /// The process's local store.
    pub fn shared() -> Arc<LocalStore> {
        static ONE: std::sync::OnceLock<Arc<LocalStore>> = std::sync::OnceLock::new();
        ONE.get_or_init(|| Arc::new(LocalStore)).clone()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            StorageError::NotFound(path.display().to_string())
        } else {
            StorageError::Io {
                path: path.display().to_string(),
                source,
            }
        }
    }
}

/// Regular files under `p` (itself, when it is one), job markers not counted.
pub fn count_files(p: &Path) -> u64 {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| count_files(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) if m.is_file() && !p.ends_with(SUCCESS) => 1,
        _ => 0,
    }
}

impl Store for LocalStore {
    fn scheme(&self) -> &'static str {
        "file"
    }

    fn list(&self, path: &str) -> Result<Listing> {
        let root = Path::new(path);
        let meta = std::fs::metadata(root).map_err(io(root))?;
        let mut out = Listing::default();
        if !meta.is_dir() {
            out.files.push(FileMeta {
                url: path.to_string(),
                size: meta.len(),
            });
            return Ok(out);
        }
        let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).map_err(io(&d))? {
                let e = e.map_err(io(&d))?;
                let p = e.path();
                let name = e.file_name();
                if hidden_name(&name.to_string_lossy()) {
                    let n = count_files(&p);
                    if n > 0 {
                        out.hidden.push((p.display().to_string(), n));
                    }
                    continue;
                }
                let m = std::fs::metadata(&p).map_err(io(&p))?;
                if m.is_dir() {
                    stack.push(p);
                } else {
                    out.files.push(FileMeta {
                        url: p.display().to_string(),
                        size: m.len(),
                    });
                }
            }
        }
        out.files.sort_by(|a, b| a.url.cmp(&b.url));
        out.hidden.sort();
        Ok(out)
    }

    fn size(&self, path: &str) -> Result<u64> {
        let p = Path::new(path);
        Ok(std::fs::metadata(p).map_err(io(p))?.len())
    }

    fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>> {
        let p = Path::new(path);
        let mut f = std::fs::File::open(p).map_err(io(p))?;
        f.seek(SeekFrom::Start(range.start)).map_err(io(p))?;
        let mut buf = vec![0; (range.end - range.start) as usize];
        f.read_exact(&mut buf).map_err(io(p))?;
        Ok(buf)
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>> {
        let p = Path::new(path);
        Ok(Box::new(std::fs::File::open(p).map_err(io(p))?))
    }

    fn put(&self, path: &str, data: &[u8]) -> Result<()> {
        let p = Path::new(path);
        // The last rename wins whole.
        let tmp = synced_temp(p, data)?;
        std::fs::rename(&tmp, p).map_err(io(p))
    }

    fn put_new(&self, path: &str, data: &[u8]) -> Result<bool> {
        let p = Path::new(path);
        let tmp = synced_temp(p, data)?;
        // A hard link fails when the name exists: the complete file appears, or nothing.
        let linked = std::fs::hard_link(&tmp, p);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io(p)(e)),
        }
    }

    fn delete(&self, path: &str) -> Result<()> {
        let p = Path::new(path);
        let r = match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
            Ok(_) => std::fs::remove_file(p),
            Err(_) => return Ok(()),
        };
        r.map_err(io(p))
    }

    fn url(&self, path: &str) -> String {
        path.to_string()
    }

    fn open_ranged(&self, path: &str) -> Result<Arc<dyn Ranged>> {
        let p = Path::new(path);
        let file = std::fs::File::open(p).map_err(io(p))?;
        let len = file.metadata().map_err(io(p))?.len();
        Ok(Arc::new(LocalFile {
            file,
            len,
            path: p.to_path_buf(),
        }))
    }
}

/// A local file open for positional reads.
#[derive(Debug)]
struct LocalFile {
    file: std::fs::File,
    len: u64,
    path: PathBuf,
}

impl Ranged for LocalFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, range: Range<u64>) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0; (range.end - range.start) as usize];
        self.file
            .read_exact_at(&mut buf, range.start)
            .map_err(io(&self.path))?;
        Ok(buf)
    }
}

/// `data` written and synced under a temporary name beside `p` (its directory made).
fn synced_temp(p: &Path, data: &[u8]) -> Result<std::path::PathBuf> {
    if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = temp_beside(p);
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    Ok(tmp)
}

/// A temporary name beside `p`, unique per process and call: two writers of one path
/// (threads, or processes) never share a temporary file.
fn temp_beside(p: &Path) -> std::path::PathBuf {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.{}.{seq}.tmp", std::process::id()))
}

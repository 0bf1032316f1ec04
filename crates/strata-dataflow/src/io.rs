//! Finding input files and committing output files.
//!
//! Inputs: each argument is a file, a directory (read recursively, skipping hidden files and
//! files whose name starts with `_` such as `_SUCCESS`), or a glob; or the same on the DFS as
//! `dfs://HOST:PORT/path` or `dfs:///path` (the cluster's master), or an object prefix
//! `s3://bucket/prefix` (through `strata-storage`, read by ranges). Files are listed in
//! sorted order so that partition numbering is deterministic on every process. A DFS file is
//! split at its chunk boundaries, and each split records the chunkservers holding its chunk,
//! for locality-aware scheduling. DFS reads go through the process's one shared client per
//! master (`strata_storage::dfs::DfsStore`), not a connection per split.
//!
//! Outputs: each task writes `DIR/_temporary/part-NNNNN.attempt-A-TOKEN` (TOKEN unique to the
//! attempt, so a zombie attempt of an earlier stage run, say on a host cut off by a network
//! partition, never writes into the file a later attempt commits) and the driver renames it
//! to `DIR/part-NNNNN` when the attempt succeeds (a rename is atomic, locally and on the DFS
//! master), so a failed or retried attempt never leaves a partial part file. The job writes
//! `DIR/_SUCCESS` at the end. DFS outputs work the same way through the DFS client.

use crate::error::{Error, Result};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use strata_common::ClusterConfig;
use strata_dfs::DfsClient;
use strata_dfs::client::{FileReader, FileWriter};

/// One input file and its length.
#[derive(Clone, Debug)]
pub struct InputFile {
    /// Path (for a DFS file, its `dfs://master/path` URL).
    pub path: PathBuf,
    /// Length in bytes.
    pub len: u64,
    /// Where the file lives on the DFS, if it does.
    pub dfs: Option<DfsInput>,
    /// How its bytes become text.
    pub encoding: Encoding,
}

/// How an input file's bytes are read (Hadoop picks a codec by the file's extension too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    /// The bytes as they are.
    #[default]
    Plain,
    /// gzip (`.gz`), decompressed on the fly; one split per file (gzip is not splittable).
    Gzip,
    /// Zstandard (`.zst`), decompressed on the fly; one split per file.
    Zstd,
    /// A DFS file written by record append: framed records, unframed by the reader
    /// (records never straddle chunks, so each chunk is a split of its own).
    Records,
}

impl Encoding {
    /// The encoding a file's name implies.
    pub fn of(path: &Path) -> Encoding {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Encoding::Gzip,
            Some("zst") => Encoding::Zstd,
            _ => Encoding::Plain,
        }
    }

    /// Whether a byte range of the file can be read on its own.
    pub fn splittable(self) -> bool {
        matches!(self, Encoding::Plain | Encoding::Records)
    }
}

/// A DFS input file.
#[derive(Clone, Debug)]
pub struct DfsInput {
    /// Master address.
    pub master: String,
    /// Cluster secret.
    pub secret: String,
    /// Path in the DFS namespace.
    pub path: String,
    /// `(offset, length, replica addresses)` of each chunk.
    pub chunks: Vec<(u64, u64, Vec<String>)>,
}

/// `(master, path)` of a `dfs://` URL, or `None` for a local path.
pub fn parse_dfs_url(url: &str, default_master: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("dfs://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let master = if host.is_empty() {
        default_master
    } else {
        host
    };
    Some((master.to_string(), path.to_string()))
}

fn dfs_client(master: &str, secret: &str) -> Result<DfsClient> {
    DfsClient::connect(master, secret).map_err(|e| Error::Input(e.to_string()))
}

/// The process's shared client for `master` (reads and metadata need no exclusive use).
fn shared_dfs(master: &str, secret: &str) -> Result<std::sync::Arc<DfsClient>> {
    strata_storage::dfs::DfsStore::shared(master, secret)
        .map(|s| s.client().clone())
        .map_err(|e| Error::Input(e.to_string()))
}

/// Lists an input in an object store (`s3://`) through the storage layer.
fn expand_store(url: &str, out: &mut Vec<InputFile>, skipped: &mut Skipped) -> Result<()> {
    let opts = strata_storage::StorageOptions::default();
    let (store, path) =
        strata_storage::resolve(url, &opts).map_err(|e| Error::Input(e.to_string()))?;
    let l = store.list(&path).map_err(|e| Error::Input(e.to_string()))?;
    for (h, n) in l.hidden {
        skipped.add(PathBuf::from(h), n);
    }
    for f in l.files {
        out.push(InputFile {
            encoding: Encoding::of(Path::new(&f.url)),
            path: PathBuf::from(f.url),
            len: f.size,
            dfs: None,
        });
    }
    Ok(())
}

fn dfs_err(e: strata_dfs::DfsError) -> Error {
    Error::Input(e.to_string())
}

fn expand_dfs(
    url: &str,
    cluster: &ClusterConfig,
    out: &mut Vec<InputFile>,
    skipped: &mut Skipped,
) -> Result<()> {
    let (master, path) = parse_dfs_url(url, &cluster.master).expect("a dfs url");
    if path.contains(['*', '?', '[']) {
        return Err(Error::Input(format!(
            "{url}: globs are not supported on the DFS yet; name a file or a directory"
        )));
    }
    let client = shared_dfs(&master, &cluster.secret)?;
    let mut files: Vec<String> = Vec::new();
    for e in client.list(&path, true).map_err(dfs_err)? {
        if e.is_dir {
            continue;
        }
        let rel = e.path.strip_prefix(&path).unwrap_or(&e.path);
        let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        match parts
            .iter()
            .position(|c| c.starts_with('.') || c.starts_with('_'))
        {
            Some(_) if rel.ends_with(strata_storage::SUCCESS) => {}
            Some(i) => skipped.add(Path::new(&path).join(parts[..=i].join("/")), 1),
            None => files.push(e.path),
        }
    }
    files.sort();
    for f in files {
        let list = client.chunks(&f).map_err(dfs_err)?;
        let chunks: Vec<(u64, u64, Vec<String>)> = list
            .chunks
            .iter()
            .map(|c| (c.offset, c.length, c.replicas.clone()))
            .collect();
        let encoding = if list.file.as_ref().is_some_and(|i| i.records) {
            Encoding::Records
        } else {
            Encoding::of(Path::new(&f))
        };
        out.push(InputFile {
            encoding,
            path: PathBuf::from(format!("dfs://{master}{f}")),
            len: chunks.iter().map(|c| c.1).sum(),
            dfs: Some(DfsInput {
                master: master.clone(),
                secret: cluster.secret.clone(),
                path: f,
                chunks,
            }),
        });
    }
    Ok(())
}

/// A readable, seekable input stream.
pub trait InputStream: Read + Seek + Send {}
impl<T: Read + Seek + Send> InputStream for T {}

/// Opens an input file: local, on the DFS (through the shared client), or in an object
/// store (by ranges).
pub fn open_input(file: &InputFile) -> std::io::Result<Box<dyn InputStream>> {
    match &file.dfs {
        None => match file.path.to_str().filter(|p| strata_storage::is_url(p)) {
            None => Ok(Box::new(std::fs::File::open(&file.path)?)),
            Some(url) => {
                let opts = strata_storage::StorageOptions::default();
                let (store, path) =
                    strata_storage::resolve(url, &opts).map_err(std::io::Error::other)?;
                let f = store.open_ranged(&path).map_err(std::io::Error::other)?;
                Ok(Box::new(strata_storage::RangeReader::new(f)))
            }
        },
        Some(d) => {
            let client = shared_dfs(&d.master, &d.secret).map_err(std::io::Error::other)?;
            Ok(Box::new(
                FileReader::open(client, &d.path).map_err(std::io::Error::other)?,
            ))
        }
    }
}

/// Expands inputs to the sorted list of files they name.
pub fn expand_inputs<P: AsRef<str>>(inputs: &[P]) -> Result<Vec<InputFile>> {
    expand_inputs_with(inputs, &ClusterConfig::default())
}

/// Expands inputs, resolving `dfs:///` URLs against `cluster`.
pub fn expand_inputs_with<P: AsRef<str>>(
    inputs: &[P],
    cluster: &ClusterConfig,
) -> Result<Vec<InputFile>> {
    if inputs.is_empty() {
        return Err(Error::Input("no input paths given".into()));
    }
    let mut files = Vec::new();
    let mut skipped = Skipped::default();
    for input in inputs {
        let input = input.as_ref();
        let path = Path::new(input);
        if input.starts_with("dfs://") {
            expand_dfs(input, cluster, &mut files, &mut skipped)?;
        } else if strata_storage::is_url(input) {
            expand_store(input, &mut files, &mut skipped)?;
        } else if path.exists() {
            collect(path, &mut files, &mut skipped)?;
        } else if input.contains(['*', '?', '[']) {
            let matches = glob::glob(input)
                .map_err(|e| Error::Input(format!("invalid glob pattern {input:?}: {e}")))?;
            let before = files.len();
            for m in matches {
                let m = m.map_err(|e| Error::io(e.path().to_path_buf(), e.into()))?;
                collect(&m, &mut files, &mut skipped)?;
            }
            if files.len() == before {
                return Err(Error::Input(format!(
                    "input glob {input:?} matches no files; check the pattern"
                )));
            }
        } else {
            return Err(Error::Input(format!(
                "input path {input:?} does not exist; give an existing file, directory or glob"
            )));
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    if skipped.files() > 0 {
        let msg = strata_storage::hidden_report(files.len(), &skipped.0);
        if files.is_empty() {
            return Err(Error::Input(msg));
        }
        if skipped.files() >= files.len() as u64 {
            tracing::warn!("{msg}");
            eprintln!("warning: {msg}");
        }
    }
    Ok(files)
}

/// Files left out of an input because a component of their path is hidden: per hidden
/// file or directory, the files under it.
#[derive(Default)]
struct Skipped(Vec<(String, u64)>);

impl Skipped {
    fn add(&mut self, hidden: PathBuf, files: u64) {
        if files > 0 {
            self.0.push((hidden.display().to_string(), files));
        }
    }

    fn files(&self) -> u64 {
        self.0.iter().map(|h| h.1).sum()
    }
}

fn hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(strata_storage::hidden_name)
}

fn collect(path: &Path, out: &mut Vec<InputFile>, skipped: &mut Skipped) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_dir() && !meta.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        let kind = if t.is_fifo() {
            "a named pipe (FIFO)"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Err(Error::Input(format!(
            "input {} is {kind}: inputs are read by byte ranges, possibly more than once; copy it to a regular file first",
            path.display()
        )));
    }
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(path, err)))
            .collect::<Result<_>>()?;
        entries.sort();
        for e in entries {
            if hidden(&e) {
                skipped.add(e.clone(), strata_storage::local::count_files(&e));
            } else {
                collect(&e, out, skipped)?;
            }
        }
    } else {
        out.push(InputFile {
            path: path.to_path_buf(),
            len: meta.len(),
            dfs: None,
            encoding: Encoding::of(path),
        });
    }
    Ok(())
}

/// A byte range `(file index, start, end)` of an input file.
pub type Chunk = (usize, u64, u64);

/// Input splits: each is a list of chunks read one after the other. Large files are cut
/// into pieces of `split_size` (smaller if needed to make at least `min_splits` splits, and
/// a multiple of `align`); consecutive small files are packed together into one split, as
/// Hadoop's `CombineFileInputFormat` does, so that many small files do not mean many tiny
/// tasks. File order is preserved.
pub fn plan_splits(
    files: &[InputFile],
    split_size: u64,
    min_splits: usize,
    align: u64,
) -> Vec<Vec<Chunk>> {
    let pieces = plan_pieces(files, split_size, min_splits, align);
    let size = pieces.iter().map(|p| p.2 - p.1).max().unwrap_or(0);
    let mut splits = Vec::new();
    let mut pack: Vec<Chunk> = Vec::new();
    let mut pack_bytes = 0;
    for piece in pieces {
        let len = piece.2 - piece.1;
        if len * 2 >= size {
            if !pack.is_empty() {
                splits.push(std::mem::take(&mut pack));
                pack_bytes = 0;
            }
            splits.push(vec![piece]);
        } else {
            pack.push(piece);
            pack_bytes += len;
            if pack_bytes >= size {
                splits.push(std::mem::take(&mut pack));
                pack_bytes = 0;
            }
        }
    }
    if !pack.is_empty() {
        splits.push(pack);
    }
    splits
}

fn plan_pieces(files: &[InputFile], split_size: u64, min_splits: usize, align: u64) -> Vec<Chunk> {
    let total: u64 = files.iter().map(|f| f.len).sum();
    let goal = if min_splits > 0 {
        total.div_ceil(min_splits as u64)
    } else {
        total
    };
    let mut size = split_size.min(goal.max(1)).max(align);
    size -= size % align;
    let mut splits = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if f.len == 0 {
            continue;
        }
        if !f.encoding.splittable() {
            splits.push((i, 0, f.len));
            continue;
        }
        if let Some(d) = &f.dfs {
            // One split per chunk: it is what one chunkserver holds.
            for &(off, len, _) in &d.chunks {
                if len > 0 {
                    splits.push((i, off, off + len));
                }
            }
            continue;
        }
        let mut start = 0;
        while start < f.len {
            // Avoid a tiny last split: absorb anything under 10% of a split.
            let mut end = (start + size).min(f.len);
            if f.len - end < size / 10 {
                end = f.len;
            }
            splits.push((i, start, end));
            start = end;
        }
    }
    splits
}

/// Where a job's output goes: a local directory or a DFS directory.
#[derive(Clone, Debug)]
pub enum OutputDir {
    /// A local directory.
    Local(PathBuf),
    /// A DFS directory.
    Dfs {
        /// Master address.
        master: String,
        /// Cluster secret.
        secret: String,
        /// Directory path in the DFS.
        path: String,
    },
}

impl OutputDir {
    /// Resolves `dir` (a local path or a `dfs://` URL).
    pub fn new(dir: &Path, cluster: &ClusterConfig) -> OutputDir {
        match dir.to_str().and_then(|s| parse_dfs_url(s, &cluster.master)) {
            Some((master, path)) => OutputDir::Dfs {
                master,
                secret: cluster.secret.clone(),
                path,
            },
            None => OutputDir::Local(dir.to_path_buf()),
        }
    }

    fn name(&self) -> PathBuf {
        match self {
            OutputDir::Local(p) => p.clone(),
            OutputDir::Dfs { master, path, .. } => PathBuf::from(format!("dfs://{master}{path}")),
        }
    }

    fn dfs_error(&self, e: strata_dfs::DfsError) -> Error {
        Error::Output {
            path: self.name(),
            reason: e.to_string(),
        }
    }

    /// Creates the directory; it must not hold a previous result.
    pub fn prepare(&self) -> Result<()> {
        match self {
            OutputDir::Local(dir) if dir.to_str().is_some_and(strata_storage::is_url) => {
                Err(Error::Output {
                    path: dir.clone(),
                    reason: "jobs cannot write to object stores yet (no commit protocol for \
                             stores without rename); write to a local path or dfs://"
                        .into(),
                })
            }
            OutputDir::Local(dir) => prepare_output(dir),
            OutputDir::Dfs {
                master,
                secret,
                path,
            } => {
                let c = dfs_client(master, secret)?;
                if let Ok(entries) = c.list(path, false)
                    && !entries.is_empty()
                {
                    return Err(Error::Output {
                        path: self.name(),
                        reason: "the directory already exists and is not empty; remove it or choose another output".into(),
                    });
                }
                c.mkdir(&format!("{path}/_temporary"), true)
                    .map_err(|e| self.dfs_error(e))
            }
        }
    }

    /// A writer for one task attempt's output, and the name to commit later.
    pub fn create_attempt(
        &self,
        partition: usize,
        attempt: u32,
    ) -> Result<(Box<dyn Write>, String)> {
        match self {
            OutputDir::Local(dir) => {
                let path = attempt_path(dir, partition, &attempt_token(attempt));
                let f = std::fs::File::create(&path).map_err(|e| output_err(&path, e))?;
                Ok((
                    Box::new(std::io::BufWriter::with_capacity(1 << 20, f)),
                    path.display().to_string(),
                ))
            }
            OutputDir::Dfs {
                master,
                secret,
                path,
            } => {
                let token = attempt_token(attempt);
                let name = format!("{path}/_temporary/part-{partition:05}.attempt-{token}");
                let c = dfs_client(master, secret)?;
                let w = FileWriter::create(c, &name, 0, true).map_err(|e| self.dfs_error(e))?;
                Ok((Box::new(DfsOut(Some(w))), name))
            }
        }
    }

    /// Renames a successful attempt's output to its part name.
    pub fn commit(&self, attempt_name: &str, partition: usize) -> Result<()> {
        match self {
            OutputDir::Local(dir) => {
                let part = part_path(dir, partition);
                std::fs::rename(attempt_name, &part).map_err(|e| output_err(&part, e))
            }
            OutputDir::Dfs {
                master,
                secret,
                path,
            } => dfs_client(master, secret)?
                .rename(attempt_name, &format!("{path}/part-{partition:05}"))
                .map_err(|e| self.dfs_error(e)),
        }
    }

    /// After a failed job: removes the scratch directory and any part files committed
    /// (the directory held no result before the job, so everything in it is the job's).
    pub fn abort(&self) {
        match self {
            OutputDir::Local(dir) => {
                let _ = std::fs::remove_dir_all(dir.join("_temporary"));
                if let Ok(entries) = std::fs::read_dir(dir) {
                    for e in entries.flatten() {
                        let name = e.file_name();
                        if name.to_string_lossy().starts_with("part-") {
                            let _ = std::fs::remove_file(e.path());
                        }
                    }
                }
            }
            OutputDir::Dfs {
                master,
                secret,
                path,
            } => {
                if let Ok(c) = dfs_client(master, secret) {
                    let _ = c.delete(&format!("{path}/_temporary"), true);
                    for e in c.list(path, false).unwrap_or_default() {
                        if strata_dfs::path::name(&e.path).starts_with("part-") {
                            let _ = c.delete(&e.path, false);
                        }
                    }
                }
            }
        }
    }

    /// Marks the output complete and removes the scratch directory.
    pub fn finish(&self) -> Result<()> {
        match self {
            OutputDir::Local(dir) => finish_output(dir),
            OutputDir::Dfs {
                master,
                secret,
                path,
            } => {
                let mut c = dfs_client(master, secret)?;
                let _ = c.delete(&format!("{path}/_temporary"), true);
                c.put(
                    &mut &b""[..],
                    &format!("{path}/_SUCCESS"),
                    0,
                    true,
                    &mut |_| {},
                )
                .map(|_| ())
                .map_err(|e| self.dfs_error(e))
            }
        }
    }
}

/// A DFS file writer whose last chunk is written on `flush` (a task flushes once, at the
/// end).
struct DfsOut(Option<FileWriter<DfsClient>>);

impl Write for DfsOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(w) => w.write(buf),
            None => Err(std::io::Error::other("DFS output already closed")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.take() {
            Some(w) => w.close().map(|_| ()).map_err(std::io::Error::other),
            None => Ok(()),
        }
    }
}

/// Prepares an output directory: it must not hold a previous result.
pub fn prepare_output(dir: &Path) -> Result<()> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| output_err(dir, e))?
            .next()
            .is_some();
        if non_empty {
            return Err(Error::Output {
                path: dir.to_path_buf(),
                reason: "the directory already exists and is not empty; remove it or choose another output".into(),
            });
        }
    }
    std::fs::create_dir_all(dir.join("_temporary")).map_err(|e| output_err(dir, e))
}

pub(crate) fn output_err(dir: &Path, e: std::io::Error) -> Error {
    let reason = match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            format!("{e}; choose a directory you can write to")
        }
        _ => e.to_string(),
    };
    Error::Output {
        path: dir.to_path_buf(),
        reason,
    }
}

/// Where task `partition`'s attempt writes before commit.
pub fn attempt_path(dir: &Path, partition: usize, token: &str) -> PathBuf {
    dir.join("_temporary")
        .join(format!("part-{partition:05}.attempt-{token}"))
}

/// A name for one attempt's scratch output that no other attempt uses: attempt numbers
/// restart when a stage is resubmitted, so they are not enough alone.
fn attempt_token(attempt: u32) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{attempt}-{}-{n}-{nanos}", std::process::id())
}

/// The committed name of a part file.
pub fn part_path(dir: &Path, partition: usize) -> PathBuf {
    dir.join(format!("part-{partition:05}"))
}

/// Marks the output complete and removes the scratch directory.
pub fn finish_output(dir: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir.join("_temporary"));
    std::fs::write(dir.join(strata_storage::SUCCESS), b"").map_err(|e| output_err(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_files_are_skipped_and_reported() {
        let d = tempfile::tempdir().unwrap();
        let docs = d.path().join("html");
        std::fs::create_dir_all(docs.join("_sources/sub")).unwrap();
        for f in [
            "_sources/a.txt",
            "_sources/b.txt",
            "_sources/sub/c.txt",
            ".hidden",
        ] {
            std::fs::write(docs.join(f), "x").unwrap();
        }
        let e = expand_inputs(&[docs.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("0 files read; 4 skipped under hidden paths"),
            "{e}"
        );
        assert!(e.contains("html/_sources"), "{e}");
        // Named itself, a hidden directory is read.
        let sources = docs.join("_sources");
        assert_eq!(
            expand_inputs(&[sources.to_str().unwrap()]).unwrap().len(),
            3
        );
        // A job's output directory: its marker is no reason to complain.
        std::fs::write(docs.join("page.html"), "y").unwrap();
        std::fs::remove_dir_all(docs.join("_sources")).unwrap();
        std::fs::remove_file(docs.join(".hidden")).unwrap();
        std::fs::write(docs.join(strata_storage::SUCCESS), "").unwrap();
        assert_eq!(expand_inputs(&[docs.to_str().unwrap()]).unwrap().len(), 1);
    }

    #[test]
    fn splits_cover_files_exactly() {
        let files = vec![
            InputFile {
                path: "a".into(),
                len: 1000,
                dfs: None,
                encoding: Encoding::Plain,
            },
            InputFile {
                path: "b".into(),
                len: 0,
                dfs: None,
                encoding: Encoding::Plain,
            },
            InputFile {
                path: "c".into(),
                len: 250,
                dfs: None,
                encoding: Encoding::Plain,
            },
        ];
        let splits = plan_splits(&files, 300, 1, 1);
        let chunks: Vec<Chunk> = splits.iter().flatten().copied().collect();
        let covered: u64 = chunks.iter().map(|s| s.2 - s.1).sum();
        assert_eq!(covered, 1250);
        assert!(chunks.iter().all(|s| s.0 != 1));
        let aligned = plan_splits(&files[..1], 330, 4, 100);
        assert!(aligned.iter().flatten().all(|s| s.1 % 100 == 0));
    }

    #[test]
    fn small_files_are_packed_in_order() {
        let mut files: Vec<InputFile> = (0..100)
            .map(|i| InputFile {
                path: format!("small{i:03}").into(),
                len: 10,
                dfs: None,
                encoding: Encoding::Plain,
            })
            .collect();
        files.push(InputFile {
            path: "big".into(),
            len: 10_000,
            dfs: None,
            encoding: Encoding::Plain,
        });
        let splits = plan_splits(&files, 1000, 1, 1);
        // 1,000 bytes of small files fill about one split; the big file is cut in ten.
        assert!(splits.len() <= 13, "{}", splits.len());
        let order: Vec<usize> = splits.iter().flatten().map(|c| c.0).collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(
            splits.iter().flatten().map(|c| c.2 - c.1).sum::<u64>(),
            11_000
        );
    }

    #[test]
    fn missing_input_is_named() {
        let err = expand_inputs(&["/no/such/file"]).unwrap_err().to_string();
        assert!(
            err.contains("/no/such/file") && err.contains("does not exist"),
            "{err}"
        );
        let err = expand_inputs(&["/no/such/*.txt"]).unwrap_err().to_string();
        assert!(err.contains("matches no files"), "{err}");
    }
}

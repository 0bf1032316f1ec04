//! Chunks on a chunkserver's disk.
//!
//! A chunk is two files in `DIR/chunks/`: `<handle>.chunk` (the bytes) and `<handle>.meta`
//! (bincode: version, committed length, one CRC32C per 64 KiB block). Every read verifies
//! the checksums of the blocks it touches, so a corrupt replica is detected, reported and
//! never served. A mutation writes the bytes first and replaces the meta file (write to a
//! temporary file, rename) only once the payload is complete and its end-to-end checksum
//! matches; a process killed mid-write leaves the previous length, so unacknowledged bytes
//! are simply invisible. Chunk files are named by numeric handle only: no client-supplied
//! string ever becomes a path.

use crate::error::{DfsError, Result};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes covered by one checksum.
pub const BLOCK: u64 = 64 << 10;

/// What the chunkserver knows about a chunk.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ChunkMeta {
    /// Version, as set by the master when it grants a lease.
    pub version: u64,
    /// Bytes of valid data.
    pub length: u64,
    /// CRC32C of each 64 KiB block of `[0, length)`.
    pub crcs: Vec<u32>,
}

/// One chunk: its meta, and a lock that orders mutations.
pub struct Chunk {
    /// Held for the whole of a mutation (the primary orders appends with it).
    pub write_lock: Mutex<()>,
    meta: Mutex<ChunkMeta>,
}

impl Chunk {
    /// A copy of the meta.
    pub fn meta(&self) -> ChunkMeta {
        self.meta.lock().clone()
    }
}

/// The chunks of one data directory.
pub struct ChunkStore {
    dir: PathBuf,
    chunks: Mutex<HashMap<u64, Arc<Chunk>>>,
    fsync: bool,
    direct: bool,
}

fn io_err(p: &Path, e: std::io::Error) -> DfsError {
    if e.raw_os_error() == Some(28) {
        return DfsError::DiskFull(p.display().to_string());
    }
    DfsError::Io(p.display().to_string(), e)
}

impl ChunkStore {
    /// Opens (or creates) `dir/chunks` and loads every chunk's meta.
    pub fn open(dir: &Path, fsync: bool) -> Result<Self> {
        let dir = dir.join("chunks");
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let mut chunks = HashMap::new();
        for e in std::fs::read_dir(&dir).map_err(|e| io_err(&dir, e))? {
            let p = e.map_err(|e| io_err(&dir, e))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(h) = name
                .strip_suffix(".meta")
                .and_then(|h| h.parse::<u64>().ok())
            {
                let bytes = std::fs::read(&p).map_err(|e| io_err(&p, e))?;
                let data_len = std::fs::metadata(dir.join(format!("{h}.chunk")))
                    .map(|m| m.len())
                    .unwrap_or(0);
                match bincode::deserialize::<ChunkMeta>(&bytes) {
                    // A meta that does not describe its data file (damaged on disk) is not
                    // trusted: the chunk is left out of the report and re-replicated.
                    Ok(meta)
                        if meta.crcs.len() as u64 != meta.length.div_ceil(BLOCK)
                            || data_len < meta.length =>
                    {
                        tracing::warn!(
                            handle = h,
                            length = meta.length,
                            data_len,
                            "chunk meta does not match its data; ignoring the chunk"
                        )
                    }
                    Ok(meta) => {
                        chunks.insert(
                            h,
                            Arc::new(Chunk {
                                write_lock: Mutex::new(()),
                                meta: Mutex::new(meta),
                            }),
                        );
                    }
                    Err(e) => {
                        tracing::warn!(handle = h, error = %e, "unreadable chunk meta; ignoring the chunk")
                    }
                }
            } else if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(&p);
            }
        }
        Ok(ChunkStore {
            dir,
            chunks: Mutex::new(chunks),
            fsync,
            direct: std::env::var_os("STRATA_DFS_BUFFERED").is_none(),
        })
    }

    fn data_path(&self, h: u64) -> PathBuf {
        self.dir.join(format!("{h}.chunk"))
    }
    fn meta_path(&self, h: u64) -> PathBuf {
        self.dir.join(format!("{h}.meta"))
    }

    /// The chunk, if stored here.
    pub fn get(&self, h: u64) -> Option<Arc<Chunk>> {
        self.chunks.lock().get(&h).cloned()
    }

    /// The chunk, created empty at `version` if missing.
    pub fn get_or_create(&self, h: u64, version: u64) -> Result<Arc<Chunk>> {
        if let Some(c) = self.get(h) {
            return Ok(c);
        }
        let p = self.data_path(h);
        File::create(&p).map_err(|e| io_err(&p, e))?;
        let chunk = Arc::new(Chunk {
            write_lock: Mutex::new(()),
            meta: Mutex::new(ChunkMeta {
                version,
                ..ChunkMeta::default()
            }),
        });
        self.persist_meta(h, &chunk.meta())?;
        Ok(self.chunks.lock().entry(h).or_insert(chunk).clone())
    }

    fn persist_meta(&self, h: u64, meta: &ChunkMeta) -> Result<()> {
        let tmp = self.dir.join(format!("{h}.meta.tmp"));
        let bytes = bincode::serialize(meta).map_err(|e| DfsError::Internal(e.to_string()))?;
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| io_err(&tmp, e))?;
        if self.fsync {
            f.sync_all().map_err(|e| io_err(&tmp, e))?;
        }
        std::fs::rename(&tmp, self.meta_path(h)).map_err(|e| io_err(&tmp, e))
    }

    /// Raises the version (a new lease); refuses to go backwards. Returns the chunk's length
    /// (the master leases only replicas holding every committed byte).
    pub fn set_version(&self, h: u64, version: u64) -> Result<u64> {
        let c = self
            .get(h)
            .ok_or_else(|| DfsError::NotFound(format!("chunk {h}")))?;
        let _g = c.write_lock.lock();
        let mut meta = c.meta();
        if version > meta.version {
            meta.version = version;
            self.persist_meta(h, &meta)?;
            *c.meta.lock() = meta.clone();
        }
        Ok(meta.length)
    }

    /// A writer for `[offset, offset + len)` of chunk `h`; call with the chunk's write lock
    /// held. Bytes between the current length and `offset` are zero-filled (an append that
    /// failed on this replica earlier).
    pub fn begin_write(&self, h: u64, version: u64, offset: u64) -> Result<ChunkWriter<'_>> {
        let chunk = self.get_or_create(h, version)?;
        let meta = chunk.meta();
        if version < meta.version {
            return Err(DfsError::Node(
                "stale".into(),
                format!(
                    "chunk {h}: write with version {version} < stored {}",
                    meta.version
                ),
            ));
        }
        let path = self.data_path(h);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        if offset > meta.length {
            file.set_len(offset).map_err(|e| io_err(&path, e))?;
        }
        Ok(ChunkWriter {
            store: self,
            chunk,
            handle: h,
            version,
            file,
            path,
            start: offset,
            pos: offset,
            hasher: 0,
            // Block checksums can be computed as the bytes stream in when the write starts
            // on a block boundary at (or before) the end of the data: the usual case.
            streaming: (offset.is_multiple_of(BLOCK) && offset <= meta.length).then(Vec::new),
            block_crc: 0,
            block_len: 0,
            direct: None,
        })
    }

    /// Extends the chunk with zeros to `to` bytes (record-append padding).
    pub fn pad(&self, h: u64, version: u64, to: u64) -> Result<()> {
        let chunk = self.get_or_create(h, version)?;
        let _g = chunk.write_lock.lock();
        let len = chunk.meta().length;
        if len >= to {
            return Ok(());
        }
        let mut w = self.begin_write(h, version, len)?;
        let zeros = vec![0u8; (to - len).min(1 << 20) as usize];
        let mut left = to - len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            w.write(&zeros[..n])?;
            left -= n as u64;
        }
        let crc = w.crc();
        w.finish(crc)?;
        Ok(())
    }

    /// Reads `[offset, offset + len)` (clipped to the length), verifying checksums.
    pub fn read(&self, h: u64, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.read_with(h, offset, len, |data| data.to_vec())
    }

    /// Like [`ChunkStore::read`], but hands the verified bytes to `f` from a reusable
    /// per-thread buffer (no allocation per request on the serving path).
    pub fn read_with<R>(
        &self,
        h: u64,
        offset: u64,
        len: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        self.read_verified(h, offset, len, true, f)
    }

    /// Like [`ChunkStore::read_with`], checking checksums only if `verify` (an operator
    /// reading what is left of a chunk whose every replica is corrupt).
    pub fn read_verified<R>(
        &self,
        h: u64,
        offset: u64,
        len: u64,
        verify: bool,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let c = self
            .get(h)
            .ok_or_else(|| DfsError::NotFound(format!("chunk {h}")))?;
        let meta = c.meta();
        if offset >= meta.length {
            return Ok(f(&[]));
        }
        let end = (offset + len).min(meta.length);
        let first = offset / BLOCK;
        let last = (end - 1) / BLOCK;
        let from = first * BLOCK;
        let to = ((last + 1) * BLOCK).min(meta.length);
        let path = self.data_path(h);
        SCRATCH.with(|scratch| {
            let mut raw = scratch.borrow_mut();
            let span = ((to - from) as usize).div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN;
            if raw.len() < span + DIRECT_ALIGN {
                raw.resize(span + DIRECT_ALIGN, 0);
            }
            let off = raw.as_ptr().align_offset(DIRECT_ALIGN);
            let want = (to - from) as usize;
            let direct = self.direct && read_direct(&path, from, &mut raw[off..off + span], want);
            if !direct {
                let f = File::open(&path).map_err(|e| io_err(&path, e))?;
                f.read_exact_at(&mut raw[off..off + want], from)
                    .map_err(|e| {
                        if e.kind() == std::io::ErrorKind::UnexpectedEof {
                            DfsError::Corrupt(format!(
                                "chunk {h} is shorter than its recorded length"
                            ))
                        } else {
                            io_err(&path, e)
                        }
                    })?;
            }
            let buf = &raw[off..off + want];
            for b in (first..=last).filter(|_| verify) {
                let s = ((b - first) * BLOCK) as usize;
                let e = (s + BLOCK as usize).min(buf.len());
                if crc32c::crc32c(&buf[s..e]) != meta.crcs.get(b as usize).copied().unwrap_or(!0) {
                    return Err(DfsError::Corrupt(format!(
                        "chunk {h} block {b} fails its checksum"
                    )));
                }
            }
            let s = (offset - from) as usize;
            Ok(f(&buf[s..(end - from) as usize]))
        })
    }

    /// Streams `[offset, offset + len)` (clipped to the length) to `sink` in verified
    /// windows of 1 MiB, reading the next window from disk on another thread while the
    /// current one is being sent. `start` is called once, with the number of bytes the
    /// stream will carry, after the first window has been read and verified.
    pub fn read_stream(
        &self,
        h: u64,
        offset: u64,
        len: u64,
        verify: bool,
        start: impl FnOnce(u64) -> std::io::Result<()>,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<()> {
        const WINDOW: u64 = 16 * BLOCK;
        let c = self
            .get(h)
            .ok_or_else(|| DfsError::NotFound(format!("chunk {h}")))?;
        let length = c.meta().length;
        let end = (offset + len).min(length).max(offset);
        let start_err = |e: std::io::Error| DfsError::Node("client".into(), e.to_string());
        if end <= offset {
            return start(0).map_err(start_err);
        }
        // Windows aligned to blocks so that each can be verified on its own.
        let windows: Vec<(u64, u64)> = {
            let mut v = Vec::new();
            let mut p = offset;
            while p < end {
                let next = ((p / WINDOW) + 1) * WINDOW;
                v.push((p, next.min(end)));
                p = next.min(end);
            }
            v
        };
        std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<u8>>>(2);
            s.spawn(move || {
                for (a, b) in windows {
                    let r = self.read_verified(h, a, b - a, verify, |d| d.to_vec());
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        return;
                    }
                }
            });
            // The first window is verified before anything is sent, so a corrupt replica
            // (or a missing chunk) is refused with a proper error response.
            let mut start = Some(start);
            for piece in rx {
                let piece = piece?;
                if let Some(start) = start.take() {
                    start(end - offset).map_err(start_err)?;
                }
                sink(&piece).map_err(|e| DfsError::Node("client".into(), e.to_string()))?;
            }
            Ok(())
        })
    }

    /// Verifies every block of a chunk.
    pub fn verify(&self, h: u64) -> Result<()> {
        let len = self.get(h).map(|c| c.meta().length).unwrap_or(0);
        self.read(h, 0, len).map(|_| ())
    }

    /// Copies chunk `from` to a new chunk `to` (copy-on-write of a snapshot).
    pub fn clone_chunk(&self, from: u64, to: u64, version: u64) -> Result<()> {
        let src = self
            .get(from)
            .ok_or_else(|| DfsError::NotFound(format!("chunk {from}")))?;
        let data = self.read(from, 0, src.meta().length)?;
        let chunk = self.get_or_create(to, version)?;
        let _g = chunk.write_lock.lock();
        let mut w = self.begin_write(to, version, 0)?;
        w.write(&data)?;
        let crc = w.crc();
        w.finish(crc)?;
        Ok(())
    }

    /// Deletes a chunk (garbage collection). Waits for a write in progress on it, so that a
    /// write never re-creates the meta of a chunk whose data file is gone.
    pub fn delete(&self, h: u64) {
        let removed = self.chunks.lock().remove(&h);
        if let Some(c) = removed {
            let _g = c.write_lock.lock();
            let _ = std::fs::remove_file(self.meta_path(h));
            let _ = std::fs::remove_file(self.data_path(h));
        }
    }

    /// Whether `chunk` is still the stored chunk `h` (not deleted meanwhile).
    fn is_current(&self, h: u64, chunk: &Arc<Chunk>) -> bool {
        self.chunks
            .lock()
            .get(&h)
            .is_some_and(|c| Arc::ptr_eq(c, chunk))
    }

    /// `(handle, version, length)` of every chunk.
    pub fn report(&self) -> Vec<(u64, u64, u64)> {
        let chunks = self.chunks.lock();
        let mut v: Vec<_> = chunks
            .iter()
            .map(|(h, c)| {
                let m = c.meta.lock();
                (*h, m.version, m.length)
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// The data file of a chunk (for tests that corrupt it).
    pub fn chunk_file(&self, h: u64) -> PathBuf {
        self.data_path(h)
    }
}

/// Reads `want` bytes at `from` into `buf` (page-aligned, a whole number of pages) with
/// `O_DIRECT`: chunk data is written without the page cache, so reading it through the page
/// cache would only add a copy. False if direct I/O is not possible here or the file is
/// short; the caller then reads normally.
fn read_direct(path: &Path, from: u64, buf: &mut [u8], want: usize) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    if !from.is_multiple_of(DIRECT_ALIGN as u64) {
        return false;
    }
    let Ok(f) = OpenOptions::new()
        .read(true)
        .custom_flags(O_DIRECT)
        .open(path)
    else {
        return false;
    };
    let mut got = 0;
    while got < want {
        match f.read_at(&mut buf[got..], from + got as u64) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got += n,
        }
        // Reads stay aligned: only the last one (at the end of the file) may be short.
        if got < want && !got.is_multiple_of(DIRECT_ALIGN) {
            return false;
        }
    }
    true
}

/// An in-progress write to one chunk.
pub struct ChunkWriter<'a> {
    store: &'a ChunkStore,
    chunk: Arc<Chunk>,
    handle: u64,
    version: u64,
    file: File,
    path: PathBuf,
    start: u64,
    pos: u64,
    hasher: u32,
    streaming: Option<Vec<u32>>,
    block_crc: u32,
    block_len: u64,
    direct: Option<(File, Vec<u8>)>,
}

/// `O_DIRECT` on Linux x86-64 and aarch64.
const O_DIRECT: i32 = if cfg!(target_arch = "aarch64") {
    0o200000
} else {
    0o40000
};
const DIRECT_ALIGN: usize = 4096;

impl ChunkWriter<'_> {
    /// Writes aligned pieces with `O_DIRECT` when the file system supports it: chunk data
    /// then goes from our buffer to the disk without being copied into the page cache,
    /// which is where a replicated write spends most of its CPU. Unaligned pieces, and file
    /// systems without direct I/O (tmpfs), use ordinary buffered writes.
    fn write_direct(&mut self, data: &[u8]) -> bool {
        if !self.pos.is_multiple_of(DIRECT_ALIGN as u64)
            || !data.len().is_multiple_of(DIRECT_ALIGN)
            || data.is_empty()
        {
            return false;
        }
        if self.direct.is_none() {
            use std::os::unix::fs::OpenOptionsExt;
            match OpenOptions::new()
                .write(true)
                .custom_flags(O_DIRECT)
                .open(&self.path)
            {
                Ok(f) => self.direct = Some((f, Vec::new())),
                Err(_) => return false,
            }
        }
        let Some((file, buf)) = self.direct.as_mut() else {
            return false;
        };
        if buf.len() < data.len() + DIRECT_ALIGN {
            buf.resize(data.len() + DIRECT_ALIGN, 0);
        }
        let off = buf.as_ptr().align_offset(DIRECT_ALIGN);
        let aligned = &mut buf[off..off + data.len()];
        aligned.copy_from_slice(data);
        if file.write_all_at(aligned, self.pos).is_ok() {
            return true;
        }
        self.direct = None;
        false
    }

    /// Writes the next piece of the payload.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if !self.store.fsync && self.store.direct && self.write_direct(data) {
            // done
        } else {
            self.file
                .write_all_at(data, self.pos)
                .map_err(|e| io_err(&self.path, e))?;
        }
        self.hasher = crc32c::crc32c_append(self.hasher, data);
        self.pos += data.len() as u64;
        if let Some(crcs) = &mut self.streaming {
            let mut rest = data;
            while !rest.is_empty() {
                let n = ((BLOCK - self.block_len) as usize).min(rest.len());
                self.block_crc = crc32c::crc32c_append(self.block_crc, &rest[..n]);
                self.block_len += n as u64;
                rest = &rest[n..];
                if self.block_len == BLOCK {
                    crcs.push(self.block_crc);
                    self.block_crc = 0;
                    self.block_len = 0;
                }
            }
        }
        Ok(())
    }

    /// CRC32C of the payload written so far.
    pub fn crc(&self) -> u32 {
        self.hasher
    }

    /// Commits the write if the payload's checksum is `expected_crc`; returns the new
    /// length.
    pub fn finish(mut self, expected_crc: u32) -> Result<u64> {
        if self.hasher != expected_crc {
            return Err(DfsError::Corrupt(format!(
                "chunk {}: payload checksum mismatch in transit",
                self.handle
            )));
        }
        if !self.store.is_current(self.handle, &self.chunk) {
            return Err(DfsError::Node(
                "deleted".into(),
                format!("chunk {} was deleted during the write", self.handle),
            ));
        }
        if self.store.fsync {
            self.file.sync_data().map_err(|e| io_err(&self.path, e))?;
        }
        let mut meta = self.chunk.meta();
        let new_len = meta.length.max(self.pos);
        if let Some(mut crcs) = self.streaming.take()
            && self.pos >= meta.length
        {
            // Checksums computed on the fly cover [start, pos): splice them in.
            if self.block_len > 0 {
                crcs.push(self.block_crc);
            }
            meta.crcs.truncate((self.start / BLOCK) as usize);
            meta.crcs.extend(crcs);
            meta.length = new_len;
            meta.version = meta.version.max(self.version);
            self.store.persist_meta(self.handle, &meta)?;
            *self.chunk.meta.lock() = meta;
            return Ok(new_len);
        }
        // Recompute the checksums of every block the write touched (and of the zero-filled
        // gap before it, if any), reading them back from the file.
        let first = meta.length.min(self.start) / BLOCK;
        let last = new_len.div_ceil(BLOCK);
        meta.crcs.resize(last as usize, 0);
        let mut buf = vec![0u8; BLOCK as usize];
        self.file
            .seek(SeekFrom::Start(first * BLOCK))
            .map_err(|e| io_err(&self.path, e))?;
        for b in first..last {
            let n = (new_len - b * BLOCK).min(BLOCK) as usize;
            self.file
                .read_exact(&mut buf[..n])
                .map_err(|e| io_err(&self.path, e))?;
            meta.crcs[b as usize] = crc32c::crc32c(&buf[..n]);
        }
        meta.length = new_len;
        meta.version = meta.version.max(self.version);
        self.store.persist_meta(self.handle, &meta)?;
        *self.chunk.meta.lock() = meta;
        Ok(new_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(store: &ChunkStore, h: u64, off: u64, data: &[u8]) -> u64 {
        let c = store.get_or_create(h, 1).unwrap();
        let _g = c.write_lock.lock();
        let mut w = store.begin_write(h, 1, off).unwrap();
        w.write(data).unwrap();
        w.finish(crc32c::crc32c(data)).unwrap()
    }

    #[test]
    fn writes_read_back_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), false).unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(write(&store, 7, 0, &data[..100_000]), 100_000);
        assert_eq!(write(&store, 7, 100_000, &data[100_000..]), 200_000);
        assert_eq!(store.read(7, 0, 1 << 30).unwrap(), data);
        assert_eq!(store.read(7, 65_000, 10).unwrap(), &data[65_000..65_010]);
        drop(store);
        let store = ChunkStore::open(dir.path(), false).unwrap();
        assert_eq!(store.read(7, 150_000, 50_000).unwrap(), &data[150_000..]);
        assert_eq!(store.report(), vec![(7, 1, 200_000)]);
    }

    #[test]
    fn corruption_is_detected_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), false).unwrap();
        write(&store, 3, 0, &vec![7u8; 150_000]);
        let f = OpenOptions::new()
            .write(true)
            .open(store.chunk_file(3))
            .unwrap();
        f.write_all_at(b"X", 70_000).unwrap();
        assert!(store.read(3, 0, 10).is_ok(), "block 0 is intact");
        assert!(matches!(
            store.read(3, 69_000, 10),
            Err(DfsError::Corrupt(_))
        ));
        assert!(store.verify(3).is_err());
    }

    #[test]
    fn gaps_are_zero_filled_and_bad_payloads_are_not_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), false).unwrap();
        write(&store, 1, 10, b"abc");
        assert_eq!(store.read(1, 0, 100).unwrap(), b"\0\0\0\0\0\0\0\0\0\0abc");
        let c = store.get(1).unwrap();
        let _g = c.write_lock.lock();
        let mut w = store.begin_write(1, 1, 13).unwrap();
        w.write(b"more").unwrap();
        assert!(w.finish(12345).is_err());
        assert_eq!(store.get(1).unwrap().meta().length, 13);
        drop(_g);
        store.pad(1, 1, 4096).unwrap();
        assert_eq!(store.read(1, 0, 1 << 20).unwrap().len(), 4096);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Fuzz (data-safety issue): a chunk meta file of arbitrary bytes is ignored with a
        /// warning or loaded; reads of what loaded give data or an error, never a panic.
        #[test]
        fn arbitrary_meta_files_never_panic(
            meta in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..4096),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let chunks = dir.path().join("chunks");
            std::fs::create_dir_all(&chunks).unwrap();
            std::fs::write(chunks.join("5.meta"), &meta).unwrap();
            std::fs::write(chunks.join("5.chunk"), &data).unwrap();
            let store = ChunkStore::open(dir.path(), false).unwrap();
            let _ = store.read(5, 0, 1 << 20);
            let _ = store.verify(5);
        }
    }
}

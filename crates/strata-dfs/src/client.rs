//! The DFS client library: namespace calls to the master, bytes to and from chunkservers.
//!
//! Writes (`put`) go chunk by chunk: ask the master for a new chunk and its replicas, stream
//! the chunk through the replica pipeline (primary first), and commit its length to the
//! master once every replica has acknowledged it. If a replica fails mid-chunk, the chunk is
//! abandoned and written again to a fresh set of replicas, excluding the failed one; what was
//! committed before is never touched. Reads pick a replica per chunk and fall back to the
//! others on any error, including a checksum failure (which the chunkserver reports to the
//! master so the bad replica is replaced).
//!
//! Record append (`append_record`) frames each record (`magic, length, crc32c, bytes`) and
//! asks the chunk's primary to place it; at-least-once: after a failure the record is
//! retried and may appear twice, or partially in a region readers skip
//! ([`DfsClient::read_records`] returns only whole, checksummed records).

use crate::data::{Conn, PIECE, Request, Response, response_error};
use crate::error::{DfsError, Result};
use crate::proto::{self, master_client::MasterClient};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use strata_net::auth::Attach;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Largest record `append_record` accepts, as a fraction of the chunk size (GFS: 1/4).
pub const MAX_RECORD_FRACTION: u64 = 4;
const RECORD_MAGIC: u32 = 0x5354_5241; // "STRA"
const READ_PIECE: u64 = 8 << 20;

/// A connection to a DFS cluster.
pub struct DfsClient {
    master_addr: String,
    /// The data-protocol token (never the secret itself).
    secret: String,
    rt: tokio::runtime::Runtime,
    master: MasterClient<InterceptedService<Channel, Attach>>,
    skip_checksums: bool,
    /// Idle data connections to chunkservers, by address, reused by later reads (a
    /// chunkserver serves any number of requests on one connection).
    idle: std::sync::Mutex<std::collections::HashMap<String, Vec<Conn>>>,
}

/// Idle connections kept per chunkserver.
const IDLE_CONNS: usize = 8;

impl DfsClient {
    /// Connects to the master at `host:port`.
    pub fn connect(master: &str, secret: &str) -> Result<DfsClient> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DfsError::Io("tokio runtime".into(), e))?;
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{master}"))
            .map_err(|e| DfsError::MasterUnreachable(master.into(), e.to_string()))?
            .connect_timeout(Duration::from_secs(3));
        let channel = rt
            .block_on(endpoint.connect())
            .map_err(|e| DfsError::MasterUnreachable(master.into(), e.to_string()))?;
        // The master proves it knows the secret before it sees our token.
        rt.block_on(crate::auth::verify_server(channel.clone(), master, secret))
            .map_err(DfsError::Unauthenticated)?;
        let attach =
            Attach::new(secret).map_err(|s| DfsError::Unauthenticated(s.message().into()))?;
        Ok(DfsClient {
            master_addr: master.to_string(),
            secret: strata_net::auth::token(secret, strata_net::auth::purpose::DATA),
            skip_checksums: false,
            idle: Default::default(),
            rt,
            master: MasterClient::with_interceptor(channel, attach)
                .max_decoding_message_size(64 << 20),
        })
    }

    fn call<T, F>(
        &self,
        f: impl FnOnce(MasterClient<InterceptedService<Channel, Attach>>) -> F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let m = self.master.clone();
        self.rt
            .block_on(f(m))
            .map(|r| r.into_inner())
            .map_err(|s| DfsError::from_status(&self.master_addr, s))
    }

    /// Creates a directory (with `parents`, missing ancestors too, and no error if it exists).
    pub fn mkdir(&self, path: &str, parents: bool) -> Result<()> {
        let req = proto::MkdirRequest {
            path: path.into(),
            parents,
        };
        self.call(|mut m| async move { m.mkdir(req).await })
            .map(|_| ())
    }

    /// Reads chunks whose every replica fails its checksums anyway, as stored (to salvage
    /// what is left of them); off by default.
    pub fn set_skip_checksums(&mut self, skip: bool) {
        self.skip_checksums = skip;
    }

    /// Starts writing a file leased to `writer` (`replication` 0: the cluster default); it
    /// is visible only after [`DfsClient::close_file`]. Prefer [`FileWriter`].
    pub fn create(
        &self,
        path: &str,
        replication: u32,
        overwrite: bool,
        writer: u64,
    ) -> Result<proto::FileInfo> {
        let req = proto::CreateRequest {
            path: path.into(),
            replication,
            overwrite,
            writer,
            close: false,
        };
        self.call(|mut m| async move { m.create(req).await })
    }

    /// Creates an empty, closed file in one step (like `touch`, but an existing file is an
    /// error unless `overwrite`).
    pub fn touch(&self, path: &str, replication: u32, overwrite: bool) -> Result<proto::FileInfo> {
        let req = proto::CreateRequest {
            path: path.into(),
            replication,
            overwrite,
            writer: new_writer_id(),
            close: true,
        };
        self.call(|mut m| async move { m.create(req).await })
    }

    /// Makes the file `writer` was writing visible.
    pub fn close_file(&self, path: &str, writer: u64) -> Result<proto::FileInfo> {
        let req = proto::CloseRequest {
            path: path.into(),
            writer,
        };
        self.call(|mut m| async move { m.close(req).await })
    }

    /// Discards the file `writer` was writing.
    pub fn abort_file(&self, path: &str, writer: u64) -> Result<()> {
        let req = proto::CloseRequest {
            path: path.into(),
            writer,
        };
        self.call(|mut m| async move { m.abort(req).await })
            .map(|_| ())
    }

    /// Deletes a file, or a directory (non-empty only with `recursive`).
    pub fn delete(&self, path: &str, recursive: bool) -> Result<()> {
        let req = proto::DeleteRequest {
            path: path.into(),
            recursive,
        };
        self.call(|mut m| async move { m.delete(req).await })
            .map(|_| ())
    }

    /// Renames (into `to` if it is a directory).
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let req = proto::RenameRequest {
            from: from.into(),
            to: to.into(),
        };
        self.call(|mut m| async move { m.rename(req).await })
            .map(|_| ())
    }

    /// Entries of a directory (or the file itself).
    pub fn list(&self, path: &str, recursive: bool) -> Result<Vec<proto::FileInfo>> {
        let req = proto::ListRequest {
            path: path.into(),
            recursive,
        };
        self.call(|mut m| async move { m.list(req).await })
            .map(|r| r.entries)
    }

    /// A file's or directory's metadata.
    pub fn stat(&self, path: &str) -> Result<proto::FileInfo> {
        let req = proto::StatRequest { path: path.into() };
        self.call(|mut m| async move { m.stat(req).await })
    }

    /// Copy-on-write snapshot of a file or directory.
    pub fn snapshot(&self, from: &str, to: &str) -> Result<()> {
        let req = proto::SnapshotRequest {
            from: from.into(),
            to: to.into(),
        };
        self.call(|mut m| async move { m.snapshot(req).await })
            .map(|_| ())
    }

    /// Nodes, capacity and chunk health.
    pub fn report(&self) -> Result<proto::ClusterReport> {
        self.call(|mut m| async move { m.report(proto::Empty {}).await })
    }

    /// Chunk locations of a file.
    pub fn chunks(&self, path: &str) -> Result<proto::ChunkList> {
        let req = proto::GetChunksRequest { path: path.into() };
        self.call(|mut m| async move { m.get_chunks(req).await })
    }

    fn add_chunk(
        &self,
        path: &str,
        previous: u64,
        exclude: Vec<String>,
        writer: u64,
    ) -> Result<proto::ChunkLease> {
        let req = proto::AddChunkRequest {
            path: path.into(),
            previous_handle: previous,
            exclude,
            writer,
        };
        self.call(|mut m| async move { m.add_chunk(req).await })
    }

    fn lease(&mut self, path: &str, append: bool, fresh: bool) -> Result<proto::ChunkLease> {
        let req = proto::LeaseRequest {
            path: path.into(),
            append,
            fresh,
        };
        self.call(|mut m| async move { m.get_lease(req).await })
    }

    fn commit(
        &mut self,
        path: &str,
        handle: u64,
        length: u64,
        release: bool,
        writer: u64,
    ) -> Result<()> {
        let req = proto::CommitRequest {
            path: path.into(),
            handle,
            length,
            release,
            writer,
        };
        self.call(|mut m| async move { m.commit(req).await })
            .map(|_| ())
    }

    /// Streams `data` to the lease's pipeline at `offset`; Ok once every replica has it.
    fn write_pipeline(&self, lease: &proto::ChunkLease, offset: u64, data: &[u8]) -> Result<u64> {
        Conn::open(&lease.primary, Duration::from_secs(60))?.write(
            &self.secret,
            lease.handle,
            lease.version,
            offset,
            data,
            lease.secondaries.clone(),
        )
    }

    /// Writes a new file from `reader` (replication 0: the cluster default). `progress` is
    /// called with the bytes written so far. Returns the file's length.
    pub fn put(
        &mut self,
        reader: &mut dyn Read,
        path: &str,
        replication: u32,
        overwrite: bool,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let mut w = FileWriter::create(&mut *self, path, replication, overwrite)?;
        let mut buf = vec![0u8; PIECE];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(DfsError::Io("input".into(), e)),
            };
            w.append(&buf[..n])?;
            progress(w.written);
        }
        w.close()
    }

    /// Reads a whole file into `out`; `progress` gets the bytes read so far.
    pub fn get(
        &mut self,
        path: &str,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let list = self.chunks(path)?;
        let mut total = 0;
        let mut buf = Vec::new();
        for c in &list.chunks {
            let mut pos = 0;
            while pos < c.length {
                let want = (c.length - pos).min(READ_PIECE);
                self.read_chunk_into(c, pos, want, &mut buf)?;
                out.write_all(&buf)
                    .map_err(|e| DfsError::Io("output".into(), e))?;
                pos += want;
                total += want;
                progress(total);
            }
        }
        Ok(total)
    }

    /// A whole file in memory.
    pub fn read_all(&mut self, path: &str) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.get(path, &mut v, &mut |_| {})?;
        Ok(v)
    }

    /// Reads `[pos, pos+len)` of a chunk from the first replica that can serve it whole.
    pub fn read_chunk(&self, c: &proto::ChunkLocation, pos: u64, len: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_chunk_into(c, pos, len, &mut buf)?;
        Ok(buf)
    }

    /// [`DfsClient::read_chunk`] into a reusable buffer.
    pub fn read_chunk_into(
        &self,
        c: &proto::ChunkLocation,
        pos: u64,
        len: u64,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let mut last_err = DfsError::Node(
            "-".into(),
            format!(
                "chunk {} has no live replica (all its chunkservers are down)",
                c.handle
            ),
        );
        if c.replicas.is_empty() && !c.corrupt_replicas.is_empty() {
            if !self.skip_checksums {
                return Err(DfsError::Corrupt(format!(
                    "every replica of chunk {} fails its checksums (kept on {}); to salvage the bytes as stored, read with --skip-checksums",
                    c.handle,
                    c.corrupt_replicas.join(", ")
                )));
            }
            last_err = DfsError::Corrupt(format!(
                "chunk {}: no corrupt replica could be read",
                c.handle
            ));
        }
        let (addrs, verify) = if self.skip_checksums && c.replicas.is_empty() {
            (&c.corrupt_replicas, false)
        } else {
            (&c.replicas, true)
        };
        for addr in addrs {
            let r = self.read_on(addr, c.handle, pos, len, verify, buf);
            match r {
                Ok(()) if buf.len() as u64 == len => return Ok(()),
                Ok(()) => {
                    last_err = DfsError::Node(
                        addr.clone(),
                        format!(
                            "chunk {} replica is short: {} of {len} bytes",
                            c.handle,
                            buf.len()
                        ),
                    )
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Reads `len` bytes of a file at `pos`, given its chunk list (from [`DfsClient::chunks`]).
    pub fn read_range(
        &self,
        chunks: &[proto::ChunkLocation],
        pos: u64,
        len: u64,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len as usize);
        let end = pos + len;
        let mut buf = Vec::new();
        for c in chunks {
            let (s, e) = (pos.max(c.offset), end.min(c.offset + c.length));
            if s >= e {
                continue;
            }
            self.read_chunk_into(c, s - c.offset, e - s, &mut buf)?;
            out.extend_from_slice(&buf);
        }
        if (out.len() as u64) < len {
            return Err(DfsError::Node(
                "-".into(),
                format!("read past the end: {len} bytes at {pos}, got {}", out.len()),
            ));
        }
        Ok(out)
    }

    /// One read from `addr`, on an idle pooled connection when there is one (retried once
    /// on a fresh connection if that one had gone stale), returned to the pool after.
    fn read_on(
        &self,
        addr: &str,
        handle: u64,
        pos: u64,
        len: u64,
        verify: bool,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(addr)
            .and_then(Vec::pop);
        let (mut conn, reused) = match pooled {
            Some(c) => (c, true),
            None => (Conn::open(addr, Duration::from_secs(60))?, false),
        };
        let mut r = conn.read_into(&self.secret, handle, pos, len, verify, buf);
        if reused && matches!(r, Err(DfsError::Node(..))) {
            // The chunkserver may have closed an idle connection: one fresh try.
            conn = Conn::open(addr, Duration::from_secs(60))?;
            r = conn.read_into(&self.secret, handle, pos, len, verify, buf);
        }
        if r.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let v = idle.entry(addr.to_string()).or_default();
            if v.len() < IDLE_CONNS {
                v.push(conn);
            }
        }
        r
    }

    /// Appends one record atomically (at least once); returns its offset in the file.
    pub fn append_record(&mut self, path: &str, record: &[u8]) -> Result<u64> {
        let framed = frame_record(record);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut backoff = Duration::from_millis(50);
        let mut fresh = false;
        loop {
            match self.try_append(path, &framed, fresh) {
                Ok(offset) => return Ok(offset),
                Err(
                    e @ (DfsError::NotFound(_)
                    | DfsError::WrongKind(_)
                    | DfsError::Unauthenticated(_)
                    | DfsError::InvalidPath(..)
                    | DfsError::NotEnoughNodes { .. }),
                ) => return Err(e),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, "append failed; retrying with a fresh lease");
                    fresh = true;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    fn try_append(&mut self, path: &str, framed: &[u8], fresh: bool) -> Result<u64> {
        let mut lease = self.lease(path, true, fresh)?;
        if framed.len() as u64 > lease.chunk_size / MAX_RECORD_FRACTION {
            return Err(DfsError::WrongKind(format!(
                "record of {} bytes is larger than 1/{MAX_RECORD_FRACTION} of the chunk size",
                framed.len()
            )));
        }
        for _ in 0..3 {
            let mut c = Conn::open(&lease.primary, Duration::from_secs(30))?;
            c.send(
                &Request::Append {
                    secret: self.secret.clone(),
                    handle: lease.handle,
                    version: lease.version,
                    len: framed.len() as u64,
                    crc: crc32c::crc32c(framed),
                    chain: lease.secondaries.clone(),
                    chunk_size: lease.chunk_size,
                    committed: lease.committed,
                },
                true,
            )?;
            c.send_payload(framed)?;
            c.flush()?;
            match c.recv()? {
                Response::Ok { offset, length } => {
                    self.commit(path, lease.handle, length, false, 0)?;
                    return Ok(lease.offset + offset);
                }
                Response::ChunkFull => {
                    self.commit(path, lease.handle, lease.chunk_size, true, 0)?;
                    lease = self.add_chunk(path, lease.handle, Vec::new(), 0)?;
                }
                Response::Err { kind, message } => {
                    return Err(response_error(&lease.primary, kind, message));
                }
                Response::Data { .. } => return Err(DfsError::Internal("unexpected data".into())),
            }
        }
        Err(DfsError::Internal(
            "append: too many full chunks in a row".into(),
        ))
    }

    /// Every whole record of a file written by `append_record`, skipping padding and the
    /// debris of failed attempts.
    pub fn read_records(&mut self, path: &str) -> Result<Vec<Vec<u8>>> {
        let bytes = self.read_all(path)?;
        Ok(parse_records(&bytes))
    }
}

/// A random, non-zero writer id.
fn new_writer_id() -> u64 {
    loop {
        let w = rand::RngCore::next_u64(&mut rand::rngs::OsRng);
        if w != 0 {
            return w;
        }
    }
}

/// Whole, checksummed records in `bytes`.
pub fn parse_records(bytes: &[u8]) -> Vec<Vec<u8>> {
    parse_records_prefix(bytes, true)
        .0
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

/// A record as `append_record` stores it: magic, length, CRC-32C, body.
pub fn frame_record(record: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(record.len() + 12);
    framed.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    framed.extend_from_slice(&(record.len() as u32).to_le_bytes());
    framed.extend_from_slice(&crc32c::crc32c(record).to_le_bytes());
    framed.extend_from_slice(record);
    framed
}

/// Whole records at the front of `bytes` (a window of a record file), each with the offset
/// just past it, and how many bytes they and any padding or debris between them take. A record that starts in the window but
/// ends past it stops the scan (read further and call again), unless `at_end` says the window
/// reaches the end of the file, where it can only be debris.
pub fn parse_records_prefix(bytes: &[u8], at_end: bool) -> (Vec<(usize, Vec<u8>)>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 12 <= bytes.len() {
        let magic = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4"));
        if magic == RECORD_MAGIC {
            let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4")) as usize;
            let crc = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().expect("4"));
            match bytes.get(pos + 12..pos + 12 + len) {
                Some(body) if crc32c::crc32c(body) == crc => {
                    pos += 12 + len;
                    out.push((pos, body.to_vec()));
                    continue;
                }
                None if !at_end => return (out, pos),
                _ => {}
            }
        }
        pos += 1;
    }
    let consumed = if at_end { bytes.len() } else { pos };
    (out, consumed)
}

/// A new DFS file being written, chunk by chunk (see the module docs for failure handling).
/// Bytes are committed a chunk at a time; `close` commits the last, partial chunk and makes
/// the file visible under its name. Until then nobody sees it, and nobody else may create
/// the path (the master leases it to this writer). Dropped without `close` (an error, a
/// panic), the unfinished file is discarded.
pub struct FileWriter<C: std::borrow::BorrowMut<DfsClient>> {
    client: C,
    path: String,
    writer: u64,
    closed: bool,
    chunk_size: usize,
    buf: Vec<u8>,
    previous: u64,
    /// Replicas found unreachable during this write; the master learns of dead nodes only
    /// when their heartbeats time out.
    exclude: Vec<String>,
    /// Bytes committed so far.
    pub written: u64,
}

impl<C: std::borrow::BorrowMut<DfsClient>> FileWriter<C> {
    /// Creates the file (replication 0: the cluster default).
    pub fn create(mut client: C, path: &str, replication: u32, overwrite: bool) -> Result<Self> {
        let writer = new_writer_id();
        let info = client
            .borrow_mut()
            .create(path, replication, overwrite, writer)?;
        Ok(FileWriter {
            client,
            writer,
            closed: false,
            path: info.path,
            chunk_size: info.chunk_size as usize,
            buf: Vec::new(),
            previous: 0,
            exclude: Vec::new(),
            written: 0,
        })
    }

    /// Adds bytes, writing each chunk as it fills.
    pub fn append(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let room = self.chunk_size - self.buf.len();
            let n = room.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == self.chunk_size {
                self.write_chunk()?;
            }
        }
        Ok(())
    }

    fn write_chunk(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let client = self.client.borrow_mut();
        let mut attempt = 0;
        loop {
            let lease =
                client.add_chunk(&self.path, self.previous, self.exclude.clone(), self.writer)?;
            self.previous = lease.handle;
            match client.write_pipeline(&lease, 0, &self.buf) {
                Ok(_) => {
                    client.commit(
                        &self.path,
                        lease.handle,
                        self.buf.len() as u64,
                        true,
                        self.writer,
                    )?;
                    break;
                }
                Err(e) => {
                    attempt += 1;
                    tracing::warn!(chunk = lease.handle, error = %e, attempt, "chunk write failed; rewriting it elsewhere");
                    if attempt >= 4
                        || !matches!(
                            e,
                            DfsError::Node(..) | DfsError::DiskFull(_) | DfsError::Corrupt(_)
                        )
                    {
                        return Err(e);
                    }
                    for addr in std::iter::once(&lease.primary).chain(&lease.secondaries) {
                        if Conn::open(addr, Duration::from_secs(2)).is_err()
                            && !self.exclude.contains(addr)
                        {
                            self.exclude.push(addr.clone());
                        }
                    }
                    if let DfsError::DiskFull(node) = &e {
                        self.exclude.push(node.clone());
                    }
                }
            }
        }
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is buffered, makes the file visible and returns its length.
    pub fn close(mut self) -> Result<u64> {
        self.write_chunk()?;
        let (path, writer) = (self.path.clone(), self.writer);
        self.client.borrow_mut().close_file(&path, writer)?;
        self.closed = true;
        Ok(self.written)
    }

    /// The path being written.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl<C: std::borrow::BorrowMut<DfsClient>> Drop for FileWriter<C> {
    fn drop(&mut self) {
        if !self.closed {
            let (path, writer) = (self.path.clone(), self.writer);
            // Best effort: if the master cannot be told, the write lease lapses instead.
            if let Err(e) = self.client.borrow_mut().abort_file(&path, writer) {
                tracing::debug!(path = %path, error = %e, "could not discard an unfinished file");
            }
        }
    }
}

impl<C: std::borrow::BorrowMut<DfsClient>> Write for FileWriter<C> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.append(data).map_err(std::io::Error::other)?;
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads a DFS file as a seekable byte stream, a few MiB at a time, from any live replica.
pub struct FileReader {
    client: std::sync::Arc<DfsClient>,
    chunks: Vec<proto::ChunkLocation>,
    len: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl FileReader {
    /// Opens `path` (the client may be shared: reads need no exclusive access).
    pub fn open(client: impl Into<std::sync::Arc<DfsClient>>, path: &str) -> Result<FileReader> {
        let client = client.into();
        let list = client.chunks(path)?;
        let len = list.chunks.iter().map(|c| c.length).sum();
        Ok(FileReader {
            client,
            chunks: list.chunks,
            len,
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
        })
    }

    /// Length of the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn fill(&mut self) -> Result<()> {
        let Some(c) = self
            .chunks
            .iter()
            .find(|c| c.offset <= self.pos && self.pos < c.offset + c.length)
        else {
            self.buf.clear();
            return Ok(());
        };
        let within = self.pos - c.offset;
        let want = (c.length - within).min(4 << 20);
        self.client
            .read_chunk_into(c, within, want, &mut self.buf)?;
        self.buf_start = self.pos;
        Ok(())
    }
}

impl Read for FileReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len {
            return Ok(0);
        }
        let in_buf =
            self.pos >= self.buf_start && self.pos < self.buf_start + self.buf.len() as u64;
        if !in_buf {
            self.fill().map_err(std::io::Error::other)?;
        }
        let off = (self.pos - self.buf_start) as usize;
        let n = out.len().min(self.buf.len() - off);
        out[..n].copy_from_slice(&self.buf[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for FileReader {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let new = match to {
            std::io::SeekFrom::Start(p) => p as i64,
            std::io::SeekFrom::End(d) => self.len as i64 + d,
            std::io::SeekFrom::Current(d) => self.pos as i64 + d,
        };
        if new < 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        }
        self.pos = new as u64;
        Ok(self.pos)
    }
}

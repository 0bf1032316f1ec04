//! The chunk data protocol: frames over TCP between clients, chunkservers and the master.
//!
//! Each request is a bincode header ([`Request`]) followed, for writes, by `len` raw payload
//! bytes; each response is a header ([`Response`]) followed, for reads, by the data. Writes
//! flow along a pipeline: the receiver streams the payload to the next replica in `chain`
//! while writing it locally, then waits for the downstream acknowledgement before
//! acknowledging upstream, so an `Ok` means every replica in the chain has the bytes. The
//! payload carries an end-to-end CRC32C that each hop checks before committing.

use crate::error::{DfsError, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use strata_net::frame::{read_header, write_header};

/// Payload pieces are moved in buffers of this size.
pub const PIECE: usize = 1 << 20;

/// A request to a chunkserver.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Write `len` bytes (which follow) at `offset`, then forward along `chain`.
    Write {
        /// The data-protocol token (`strata_net::auth::token(secret, "data")`).
        secret: String,
        /// Chunk.
        handle: u64,
        /// Lease version.
        version: u64,
        /// Where in the chunk.
        offset: u64,
        /// Payload bytes that follow.
        len: u64,
        /// CRC32C of the payload.
        crc: u32,
        /// Replicas after this one.
        chain: Vec<String>,
        /// Bytes of the chunk the master has recorded as acknowledged: a replica holding
        /// fewer refuses (zero-filling up to `offset` would fake acknowledged data).
        committed: u64,
    },
    /// Record append (to the primary): the primary picks the offset.
    Append {
        /// The data-protocol token (`strata_net::auth::token(secret, "data")`).
        secret: String,
        /// Chunk.
        handle: u64,
        /// Lease version.
        version: u64,
        /// Payload bytes that follow.
        len: u64,
        /// CRC32C of the payload.
        crc: u32,
        /// The secondaries.
        chain: Vec<String>,
        /// Chunk size: a record that does not fit pads the chunk instead.
        chunk_size: u64,
        /// Bytes of the chunk the master has recorded as acknowledged (see `Write`).
        committed: u64,
    },
    /// Zero-fill the chunk up to `to` bytes, then forward along `chain`.
    Pad {
        /// The data-protocol token (`strata_net::auth::token(secret, "data")`).
        secret: String,
        /// Chunk.
        handle: u64,
        /// Lease version.
        version: u64,
        /// New length.
        to: u64,
        /// Replicas after this one.
        chain: Vec<String>,
        /// Bytes acknowledged so far (see `Write`): padding never covers missing data.
        committed: u64,
    },
    /// Read up to `len` bytes at `offset`.
    Read {
        /// The data-protocol token (`strata_net::auth::token(secret, "data")`).
        secret: String,
        /// Chunk.
        handle: u64,
        /// Where.
        offset: u64,
        /// How much.
        len: u64,
        /// Check block checksums (false only to salvage a chunk whose every copy is corrupt).
        verify: bool,
    },
    /// Raise a chunk's version (the master, granting a lease).
    SetVersion {
        /// The data-protocol token (`strata_net::auth::token(secret, "data")`).
        secret: String,
        /// Chunk.
        handle: u64,
        /// New version.
        version: u64,
    },
    /// Copy chunk `from` to a new chunk `to` locally (copy-on-write after a snapshot).
    Clone {
        /// The data-protocol token (`strata_net::auth::token(secret, "data")`).
        secret: String,
        /// Source chunk.
        from: u64,
        /// New chunk.
        to: u64,
        /// Version of the new chunk.
        version: u64,
    },
}

impl Request {
    /// The token the request carries.
    pub fn token(&self) -> &str {
        match self {
            Request::Write { secret, .. }
            | Request::Append { secret, .. }
            | Request::Pad { secret, .. }
            | Request::Read { secret, .. }
            | Request::SetVersion { secret, .. }
            | Request::Clone { secret, .. } => secret,
        }
    }
}

/// A chunkserver's answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// Done; `offset` is where an append landed, `length` the chunk's new length.
    Ok {
        /// Where the data went.
        offset: u64,
        /// Chunk length after the operation.
        length: u64,
    },
    /// `len` bytes of data follow.
    Data {
        /// Bytes that follow.
        len: u64,
    },
    /// The record does not fit: the chunk was padded; append to a new chunk.
    ChunkFull,
    /// Failed.
    Err {
        /// Which kind of failure.
        kind: ErrKind,
        /// What happened, and where.
        message: String,
    },
}

/// Kinds of data-protocol failure.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ErrKind {
    /// Wrong or missing secret.
    Unauthenticated,
    /// No such chunk.
    NotFound,
    /// Checksum failure.
    Corrupt,
    /// Disk full.
    DiskFull,
    /// Anything else (I/O, a downstream replica failed).
    Failed,
}

impl Response {
    /// The response for an error.
    pub fn from_error(e: &DfsError) -> Response {
        let kind = match e {
            DfsError::Unauthenticated(_) => ErrKind::Unauthenticated,
            DfsError::NotFound(_) => ErrKind::NotFound,
            DfsError::Corrupt(_) => ErrKind::Corrupt,
            DfsError::DiskFull(_) => ErrKind::DiskFull,
            _ => ErrKind::Failed,
        };
        Response::Err {
            kind,
            message: e.to_string(),
        }
    }
}

/// Turns an error response from `node` into an error.
pub fn response_error(node: &str, kind: ErrKind, message: String) -> DfsError {
    match kind {
        ErrKind::Unauthenticated => DfsError::Unauthenticated(format!("{node}: {message}")),
        ErrKind::NotFound => DfsError::NotFound(format!("{node}: {message}")),
        ErrKind::Corrupt => DfsError::Corrupt(format!("{node}: {message}")),
        ErrKind::DiskFull => DfsError::DiskFull(node.to_string()),
        ErrKind::Failed => DfsError::Node(node.to_string(), message),
    }
}

/// A connection to a chunkserver.
pub struct Conn {
    /// The address.
    pub addr: String,
    r: BufReader<TcpStream>,
    w: BufWriter<TcpStream>,
}

impl Conn {
    /// Connects with a timeout; I/O on the connection times out after `io_timeout`.
    pub fn open(addr: &str, io_timeout: Duration) -> Result<Conn> {
        let fail =
            |e: std::io::Error| DfsError::Node(addr.to_string(), format!("cannot connect: {e}"));
        let sa = addr
            .to_socket_addrs()
            .map_err(fail)?
            .next()
            .ok_or_else(|| DfsError::Node(addr.into(), "address resolves to nothing".into()))?;
        let s = TcpStream::connect_timeout(&sa, Duration::from_secs(5)).map_err(fail)?;
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(io_timeout)).ok();
        s.set_write_timeout(Some(io_timeout)).ok();
        let r = BufReader::with_capacity(PIECE, s.try_clone().map_err(fail)?);
        Ok(Conn {
            addr: addr.to_string(),
            r,
            w: BufWriter::with_capacity(PIECE, s),
        })
    }

    fn io(&self, e: std::io::Error) -> DfsError {
        DfsError::Node(self.addr.clone(), e.to_string())
    }

    /// Sends a request header (flushing it unless payload follows).
    pub fn send(&mut self, req: &Request, payload_follows: bool) -> Result<()> {
        write_header(&mut self.w, req).map_err(|e| self.io(e))?;
        if !payload_follows {
            self.w.flush().map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// Sends payload bytes.
    pub fn send_payload(&mut self, data: &[u8]) -> Result<()> {
        self.w.write_all(data).map_err(|e| self.io(e))
    }

    /// Flushes what was sent.
    pub fn flush(&mut self) -> Result<()> {
        self.w.flush().map_err(|e| self.io(e))
    }

    /// Reads a response header.
    pub fn recv(&mut self) -> Result<Response> {
        read_header(&mut self.r)
            .map_err(|e| self.io(e))?
            .ok_or_else(|| DfsError::Node(self.addr.clone(), "connection closed".into()))
    }

    /// Reads `len` data bytes after a `Data` response.
    pub fn recv_data(&mut self, len: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        self.r.read_exact(&mut buf).map_err(|e| self.io(e))?;
        Ok(buf)
    }

    /// Sends a request without payload and returns an `Ok` response's `(offset, length)`.
    pub fn call(&mut self, req: &Request) -> Result<(u64, u64)> {
        self.send(req, false)?;
        match self.recv()? {
            Response::Ok { offset, length } => Ok((offset, length)),
            Response::Err { kind, message } => Err(response_error(&self.addr, kind, message)),
            other => Err(DfsError::Internal(format!("unexpected response {other:?}"))),
        }
    }

    /// Writes `data` at `offset` of a chunk through the pipeline `chain` (the replicas after
    /// this one); returns the chunk's new length once every replica has acknowledged.
    #[allow(clippy::too_many_arguments)]
    pub fn write(
        &mut self,
        secret: &str,
        handle: u64,
        version: u64,
        offset: u64,
        data: &[u8],
        chain: Vec<String>,
    ) -> Result<u64> {
        self.send(
            &Request::Write {
                secret: secret.to_string(),
                handle,
                version,
                offset,
                len: data.len() as u64,
                crc: crc32c::crc32c(data),
                chain,
                committed: 0,
            },
            true,
        )?;
        for piece in data.chunks(PIECE) {
            self.send_payload(piece)?;
        }
        self.flush()?;
        match self.recv()? {
            Response::Ok { length, .. } => Ok(length),
            Response::Err { kind, message } => Err(response_error(&self.addr, kind, message)),
            other => Err(DfsError::Internal(format!("unexpected response {other:?}"))),
        }
    }

    /// Reads `[offset, offset+len)` of a chunk.
    pub fn read(&mut self, secret: &str, handle: u64, offset: u64, len: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_into(secret, handle, offset, len, true, &mut buf)?;
        Ok(buf)
    }

    /// Reads `[offset, offset+len)` of a chunk into `buf` (replacing its contents, reusing
    /// its allocation).
    pub fn read_into(
        &mut self,
        secret: &str,
        handle: u64,
        offset: u64,
        len: u64,
        verify: bool,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.send(
            &Request::Read {
                secret: secret.to_string(),
                handle,
                offset,
                len,
                verify,
            },
            false,
        )?;
        match self.recv()? {
            Response::Data { len } => {
                buf.resize(len as usize, 0);
                self.r.read_exact(buf).map_err(|e| self.io(e))
            }
            Response::Err { kind, message } => Err(response_error(&self.addr, kind, message)),
            other => Err(DfsError::Internal(format!("unexpected response {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_net::frame::read_header;

    proptest::proptest! {
        /// Fuzz (data-safety issue): any bytes a peer sends decode to a request or response
        /// or to an error; never a panic or a huge allocation.
        #[test]
        fn arbitrary_headers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let mut r = &bytes[..];
            let _ = read_header::<_, Request>(&mut r);
            let mut r = &bytes[..];
            let _ = read_header::<_, Response>(&mut r);
        }

        /// A real write header with one byte changed.
        #[test]
        fn corrupted_requests_never_panic(at in 0usize..200, flip in 1u8..=255) {
            let mut buf = Vec::new();
            strata_net::frame::write_header(&mut buf, &Request::Write {
                secret: "t".repeat(64), handle: 7, version: 2, offset: 0, len: 10, crc: 1,
                chain: vec!["127.0.0.1:1".into(), "127.0.0.2:1".into()], committed: 3,
            }).unwrap();
            let i = at % buf.len();
            buf[i] ^= flip;
            let mut r = &buf[..];
            let _ = read_header::<_, Request>(&mut r);
        }
    }
}

//! The chunkserver's data-protocol server: a thread per connection, blocking I/O.

use super::store::ChunkStore;
use crate::data::{Conn, PIECE, Request, Response};
use crate::error::{DfsError, Result};
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;
use strata_net::auth::secrets_match;
use strata_net::frame::{read_header, write_header};

/// What request handlers share.
pub struct ServerCtx {
    /// The chunks.
    pub store: Arc<ChunkStore>,
    /// The data-protocol token expected from clients (derived from the secret).
    pub token: String,
    /// Handles of replicas found corrupt, for the heartbeat loop to report.
    pub corrupt: Sender<u64>,
}

/// Connections served at once; the acceptor waits (the kernel queues new ones) beyond it.
pub const MAX_CONNECTIONS: usize = 1024;
/// Connections accepted but not yet authenticated, at once.
pub const MAX_HANDSHAKES: usize = 64;
/// A new connection must send an authenticated request within this time.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// An authenticated connection silent this long between (or inside) requests is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A counting semaphore whose permits are returned on drop.
struct Slots {
    free: parking_lot::Mutex<usize>,
    cv: parking_lot::Condvar,
}

struct Slot(Arc<Slots>);

impl Slots {
    fn new(n: usize) -> Arc<Slots> {
        Arc::new(Slots {
            free: parking_lot::Mutex::new(n),
            cv: parking_lot::Condvar::new(),
        })
    }
    fn take(self: &Arc<Self>) -> Slot {
        let mut f = self.free.lock();
        while *f == 0 {
            self.cv.wait(&mut f);
        }
        *f -= 1;
        Slot(self.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.cv.notify_one();
    }
}

/// Accepts connections until the listener fails. Resources are bounded before a peer has
/// proved anything: at most [`MAX_HANDSHAKES`] unauthenticated connections exist at once,
/// each with [`HANDSHAKE_TIMEOUT`] to send a request carrying the cluster token, and at most
/// [`MAX_CONNECTIONS`] in all; beyond either bound the acceptor stops accepting (the kernel's
/// backlog holds the rest) rather than spawning more threads.
pub fn serve(listener: TcpListener, ctx: Arc<ServerCtx>) {
    let conns = Slots::new(MAX_CONNECTIONS);
    let handshakes = Slots::new(MAX_HANDSHAKES);
    loop {
        let conn = conns.take();
        let hs = handshakes.take();
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                continue;
            }
        };
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("data-conn".into())
            .spawn(move || {
                let _conn = conn;
                if let Err(e) = handle(stream, &ctx, hs) {
                    tracing::debug!(error = %e, "data connection ended");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a connection thread");
        }
    }
}

fn handle(stream: TcpStream, ctx: &ServerCtx, handshake: Slot) -> std::io::Result<()> {
    stream.set_nodelay(true).ok();
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut r = BufReader::with_capacity(PIECE, stream.try_clone()?);
    let mut w = BufWriter::with_capacity(64 << 10, stream);
    let mut handshake = Some(handshake);
    while let Some(req) = read_header::<_, Request>(&mut r)? {
        if handshake.is_some() {
            // The first request must carry the token; only then does the peer get time.
            if let Err(e) = auth(ctx, req.token()) {
                write_header(&mut w, &Response::from_error(&e))?;
                w.flush()?;
                return Ok(());
            }
            handshake = None;
            w.get_ref().set_read_timeout(Some(IDLE_TIMEOUT))?;
        }
        let resp = dispatch(req, &mut r, &mut w, ctx);
        match resp {
            Ok(None) => {}
            Ok(Some(resp)) => write_header(&mut w, &resp)?,
            Err(e) => {
                if let DfsError::Corrupt(_) = e {
                    tracing::warn!(error = %e, "corrupt replica");
                }
                write_header(&mut w, &Response::from_error(&e))?
            }
        }
        w.flush()?;
    }
    Ok(())
}

fn auth(ctx: &ServerCtx, token: &str) -> Result<()> {
    if ctx.token.is_empty() || secrets_match(&ctx.token, token) {
        Ok(())
    } else {
        Err(DfsError::Unauthenticated(
            "missing or wrong cluster secret on a data request".into(),
        ))
    }
}

/// Checks the secret of a request that carries `len` payload bytes; on refusal the payload
/// is drained first, so the connection stays in step for the error response.
fn auth_payload(ctx: &ServerCtx, secret: &str, r: &mut impl Read, len: u64) -> Result<()> {
    auth(ctx, secret).inspect_err(|_| {
        let _ = drain(r, len);
    })
}

/// Reads and discards `len` payload bytes (keeps the stream in step after an error).
fn drain(r: &mut impl Read, len: u64) -> std::io::Result<()> {
    std::io::copy(&mut r.take(len), &mut std::io::sink()).map(|_| ())
}

fn dispatch(
    req: Request,
    r: &mut BufReader<TcpStream>,
    w: &mut BufWriter<TcpStream>,
    ctx: &ServerCtx,
) -> Result<Option<Response>> {
    let io = |e: std::io::Error| DfsError::Node("upstream".into(), e.to_string());
    match req {
        Request::Write {
            secret,
            handle,
            version,
            offset,
            len,
            crc,
            chain,
            committed,
        } => {
            auth_payload(ctx, &secret, r, len)?;
            let chunk = ctx.store.get_or_create(handle, version)?;
            let _g = chunk.write_lock.lock();
            let length = pipelined_write(
                ctx, r, handle, version, offset, len, crc, &secret, &chain, committed,
            )?;
            Ok(Some(Response::Ok { offset, length }))
        }
        Request::Append {
            secret,
            handle,
            version,
            len,
            crc,
            chain,
            chunk_size,
            committed,
        } => {
            auth_payload(ctx, &secret, r, len)?;
            let chunk = ctx.store.get_or_create(handle, version)?;
            let guard = chunk.write_lock.lock();
            let offset = chunk.meta().length;
            if offset < committed {
                // This primary lacks acknowledged records (it lost or never had them):
                // appending here would place the record over others on the secondaries.
                drop(guard);
                drain(r, len).map_err(io)?;
                return Err(behind(handle, offset, committed));
            }
            if offset + len > chunk_size {
                drop(guard);
                drain(r, len).map_err(io)?;
                ctx.store.pad(handle, version, chunk_size)?;
                forward_pad(&secret, handle, version, chunk_size, &chain, committed)?;
                return Ok(Some(Response::ChunkFull));
            }
            let length = pipelined_write(
                ctx, r, handle, version, offset, len, crc, &secret, &chain, committed,
            )?;
            Ok(Some(Response::Ok { offset, length }))
        }
        Request::Pad {
            secret,
            handle,
            version,
            to,
            chain,
            committed,
        } => {
            auth(ctx, &secret)?;
            let have = ctx.store.get(handle).map_or(0, |c| c.meta().length);
            if have < committed {
                return Err(behind(handle, have, committed));
            }
            ctx.store.pad(handle, version, to)?;
            forward_pad(&secret, handle, version, to, &chain, committed)?;
            Ok(Some(Response::Ok {
                offset: 0,
                length: to,
            }))
        }
        Request::Read {
            secret,
            handle,
            offset,
            len,
            verify,
        } => {
            auth(ctx, &secret)?;
            let started = std::cell::Cell::new(false);
            let out = std::cell::RefCell::new(&mut *w);
            let streamed = ctx.store.read_stream(
                handle,
                offset,
                len,
                verify,
                |n| {
                    started.set(true);
                    write_header(&mut **out.borrow_mut(), &Response::Data { len: n })
                },
                |data| out.borrow_mut().write_all(data),
            );
            if let (Err(DfsError::Corrupt(_)), true) = (&streamed, verify) {
                let _ = ctx.corrupt.send(handle);
            }
            match streamed {
                Ok(()) => Ok(None),
                // The data header is out: the only way to tell the client is to hang up.
                Err(e) if started.get() => {
                    tracing::warn!(chunk = handle, error = %e, "read failed mid-stream; closing the connection");
                    let _ = w.get_ref().shutdown(std::net::Shutdown::Both);
                    Err(e)
                }
                Err(e) => Err(e),
            }
        }
        Request::SetVersion {
            secret,
            handle,
            version,
        } => {
            auth(ctx, &secret)?;
            let length = ctx.store.set_version(handle, version)?;
            Ok(Some(Response::Ok { offset: 0, length }))
        }
        Request::Clone {
            secret,
            from,
            to,
            version,
        } => {
            auth(ctx, &secret)?;
            ctx.store.clone_chunk(from, to, version)?;
            Ok(Some(Response::Ok {
                offset: 0,
                length: 0,
            }))
        }
    }
}

fn behind(handle: u64, have: u64, committed: u64) -> DfsError {
    DfsError::Node(
        "behind".into(),
        format!("chunk {handle}: this replica has {have} bytes of the {committed} acknowledged"),
    )
}

fn forward_pad(
    secret: &str,
    handle: u64,
    version: u64,
    to: u64,
    chain: &[String],
    committed: u64,
) -> Result<()> {
    if let Some((next, rest)) = chain.split_first() {
        let mut c = Conn::open(next, Duration::from_secs(60))?;
        c.call(&Request::Pad {
            secret: secret.to_string(),
            handle,
            version,
            to,
            chain: rest.to_vec(),
            committed,
        })?;
    }
    Ok(())
}

/// Writes the payload locally while streaming it to the next replica; returns the new
/// length once every replica downstream has acknowledged.
#[allow(clippy::too_many_arguments)]
fn pipelined_write(
    ctx: &ServerCtx,
    r: &mut BufReader<TcpStream>,
    handle: u64,
    version: u64,
    offset: u64,
    len: u64,
    crc: u32,
    secret: &str,
    chain: &[String],
    committed: u64,
) -> Result<u64> {
    let have = ctx.store.get(handle).map_or(0, |c| c.meta().length);
    if have < committed {
        drain(r, len).map_err(|e| DfsError::Node("upstream".into(), e.to_string()))?;
        return Err(behind(handle, have, committed));
    }
    let mut writer = match ctx.store.begin_write(handle, version, offset) {
        Ok(w) => Some(w),
        Err(e) => {
            drain(r, len).map_err(|e| DfsError::Node("upstream".into(), e.to_string()))?;
            return Err(e);
        }
    };
    let mut down: Option<Conn> = None;
    let mut down_err: Option<DfsError> = None;
    if let Some((next, rest)) = chain.split_first() {
        match Conn::open(next, Duration::from_secs(60)).and_then(|mut c| {
            c.send(
                &Request::Write {
                    secret: secret.to_string(),
                    handle,
                    version,
                    offset,
                    len,
                    crc,
                    chain: rest.to_vec(),
                    committed,
                },
                true,
            )?;
            Ok(c)
        }) {
            Ok(c) => down = Some(c),
            Err(e) => down_err = Some(e),
        }
    }
    let mut local_err: Option<DfsError> = None;
    let mut buf = vec![0u8; PIECE];
    let mut left = len;
    while left > 0 {
        let n = left.min(PIECE as u64) as usize;
        r.read_exact(&mut buf[..n])
            .map_err(|e| DfsError::Node("upstream".into(), format!("payload cut short: {e}")))?;
        left -= n as u64;
        if let Some(w) = writer.as_mut()
            && let Err(e) = w.write(&buf[..n])
        {
            local_err = Some(e);
            writer = None;
        }
        if let Some(c) = down.as_mut()
            && let Err(e) = c.send_payload(&buf[..n])
        {
            down_err = Some(e);
            down = None;
        }
    }
    let length = match (writer, local_err) {
        (_, Some(e)) => return Err(e),
        (Some(w), None) => w.finish(crc)?,
        (None, None) => unreachable!("writer present without error"),
    };
    if let Some(mut c) = down {
        match c.flush().and_then(|_| c.recv()) {
            Ok(Response::Ok { .. }) => {}
            Ok(Response::Err { kind, message }) => {
                down_err = Some(crate::data::response_error(&c.addr, kind, message))
            }
            Ok(other) => down_err = Some(DfsError::Internal(format!("unexpected {other:?}"))),
            Err(e) => down_err = Some(e),
        }
    }
    match down_err {
        Some(e) => Err(DfsError::Node(
            chain.first().cloned().unwrap_or_default(),
            format!("replica failed: {e}"),
        )),
        None => Ok(length),
    }
}

//! The shuffle service: each executor serves the map outputs it wrote, and reducers on other
//! hosts fetch their segments from it.
//!
//! One request per connection: `(secret, path, offset, len)`, answered with `Ok(len)` and the
//! bytes (the kernel copies file to socket), or `Err(why)`. Only files inside the executor's
//! scratch directory are served. The reducer decodes records straight off the socket, so a
//! segment is never held in memory whole.

use super::wire::{recv, send};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Serialize, Deserialize)]
struct FetchRequest {
    secret: String,
    path: PathBuf,
    offset: u64,
    len: u64,
}

/// Serves `root`'s files on `listener` until the process exits.
pub(crate) fn serve(listener: TcpListener, root: PathBuf, secret: String) {
    std::thread::Builder::new()
        .name("strata-shuffle-server".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let (root, secret) = (root.clone(), secret.clone());
                std::thread::spawn(move || {
                    if let Err(e) = serve_one(conn, &root, &secret) {
                        tracing::debug!(error = %e, "shuffle fetch ended with an error");
                    }
                });
            }
        })
        .expect("spawn shuffle server");
}

fn serve_one(conn: TcpStream, root: &Path, secret: &str) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut r = BufReader::new(conn.try_clone()?);
    let Some(req): Option<FetchRequest> = recv(&mut r)? else {
        return Ok(());
    };
    let mut w = BufWriter::new(conn);
    if !strata_net::auth::secrets_match(secret, &req.secret) {
        return send(&mut w, &Err::<u64, String>("wrong cluster secret".into()));
    }
    let inside = req.path.starts_with(root)
        && !req
            .path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    if !inside {
        return send(&mut w, &Err::<u64, String>("not a shuffle file".into()));
    }
    let mut f = match std::fs::File::open(&req.path) {
        Ok(f) => f,
        Err(e) => return send(&mut w, &Err::<u64, String>(e.to_string())),
    };
    f.seek(SeekFrom::Start(req.offset))?;
    send(&mut w, &Ok::<u64, String>(req.len))?;
    let mut w = w.into_inner().map_err(|e| e.into_error())?;
    let copied = std::io::copy(&mut f.take(req.len), &mut w)?;
    if copied != req.len {
        return Err(std::io::Error::other("map output shorter than its segment"));
    }
    Ok(())
}

/// Opens a remote segment: the returned reader yields exactly its bytes.
pub(crate) fn open_remote(
    addr: &str,
    secret: &str,
    path: &Path,
    offset: u64,
    len: u64,
) -> Result<Box<dyn Read>> {
    let fail = |e: String| Error::Remote(format!("fetch from {addr}: {e}"));
    let sock: std::net::SocketAddr = addr.parse().map_err(|_| fail("bad address".into()))?;
    let conn = TcpStream::connect_timeout(&sock, Duration::from_secs(5))
        .map_err(|e| fail(e.to_string()))?;
    conn.set_nodelay(true).ok();
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut w = BufWriter::new(conn.try_clone().map_err(|e| fail(e.to_string()))?);
    send(
        &mut w,
        &FetchRequest {
            secret: secret.to_string(),
            path: path.to_path_buf(),
            offset,
            len,
        },
    )
    .map_err(|e| fail(e.to_string()))?;
    let mut r = BufReader::with_capacity(1 << 16, conn);
    match recv::<_, Result<u64, String>>(&mut r).map_err(|e| fail(e.to_string()))? {
        Some(Ok(_)) => Ok(Box::new(r.take(len))),
        Some(Err(e)) => Err(fail(e)),
        None => Err(fail("connection closed".into())),
    }
}

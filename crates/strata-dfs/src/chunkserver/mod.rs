//! The chunkserver: the storage side of `strata worker`.
//!
//! It stores chunks ([`store`]), serves the data protocol on its own thread pool
//! ([`server`]), and talks to the master over gRPC: it registers with a full chunk report,
//! then heartbeats every `dfs.heartbeat_interval_ms` with a full report, receiving in reply
//! chunks to delete (garbage) and chunks to copy to other nodes (re-replication), and
//! reports corrupt replicas as reads find them.

pub mod server;
pub mod store;

use crate::data::Conn;
use crate::error::{DfsError, Result};
use crate::proto::{self, master_client::MasterClient};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;
use store::ChunkStore;
use strata_common::StrataConfig;

/// How to run a chunkserver.
pub struct Options {
    /// Master gRPC address (`host:port`).
    pub master: String,
    /// Data directory.
    pub dir: PathBuf,
    /// Data-protocol listen address (`host:port`, port 0 picks one).
    pub listen: String,
    /// Configuration.
    pub cfg: StrataConfig,
}

fn node_id(dir: &Path) -> Result<String> {
    let p = dir.join("node-id");
    if let Ok(id) = std::fs::read_to_string(&p) {
        return Ok(id.trim().to_string());
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ ((std::process::id() as u64) << 32);
    let id = format!("cs-{:016x}", {
        use rand::{Rng, SeedableRng};
        rand::rngs::SmallRng::seed_from_u64(seed).r#gen::<u64>()
    });
    std::fs::write(&p, &id).map_err(|e| DfsError::Io(p.display().to_string(), e))?;
    Ok(id)
}

/// What this node can hold: the chunks it stores plus the free space of its disk, so that
/// `used / capacity` is how full the node is for placement.
fn capacity(dir: &Path, used: u64) -> u64 {
    used + fs4::available_space(dir).unwrap_or(0)
}

/// A started chunkserver.
pub struct Chunkserver {
    /// The address it serves data on.
    pub addr: String,
    /// Its stable id.
    pub id: String,
    /// Its chunks.
    pub store: Arc<ChunkStore>,
    corrupt: Receiver<u64>,
    opts: Options,
    _lock: crate::dirlock::DirLock,
}

impl Chunkserver {
    /// Opens the store and starts the data server.
    pub fn start(opts: Options) -> Result<Chunkserver> {
        let lock = crate::dirlock::DirLock::acquire(&opts.dir, "worker")?;
        let id = node_id(&opts.dir)?;
        let store = Arc::new(ChunkStore::open(&opts.dir, opts.cfg.dfs.fsync_data)?);
        let listener = TcpListener::bind(&opts.listen)
            .map_err(|e| DfsError::Io(format!("listen {}", opts.listen), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| DfsError::Io("listen".into(), e))?
            .to_string();
        let (tx, corrupt) = std::sync::mpsc::channel();
        let ctx = Arc::new(server::ServerCtx {
            store: store.clone(),
            token: strata_net::auth::token(
                &opts.cfg.cluster.secret,
                strata_net::auth::purpose::DATA,
            ),
            corrupt: tx,
        });
        std::thread::Builder::new()
            .name("data-accept".into())
            .spawn(move || server::serve(listener, ctx))
            .map_err(|e| DfsError::Io("spawn".into(), e))?;
        Ok(Chunkserver {
            addr,
            id,
            store,
            corrupt,
            opts,
            _lock: lock,
        })
    }

    /// Talks to the master until the process ends (reconnecting as needed).
    pub async fn run(self) -> Result<()> {
        let every = Duration::from_millis(self.opts.cfg.dfs.heartbeat_interval_ms);
        let secret = self.opts.cfg.cluster.secret.clone();
        let endpoint = format!("http://{}", self.opts.master);
        loop {
            let channel = match tonic::transport::Endpoint::from_shared(endpoint.clone())
                .map_err(|e| DfsError::Internal(e.to_string()))?
                .connect_timeout(Duration::from_secs(3))
                .connect()
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(master = %self.opts.master, error = %e, "master unreachable; retrying");
                    tokio::time::sleep(every).await;
                    continue;
                }
            };
            if let Err(e) =
                crate::auth::verify_server(channel.clone(), &self.opts.master, &secret).await
            {
                tracing::error!(master = %self.opts.master, error = %e, "master failed authentication; retrying");
                tokio::time::sleep(every).await;
                continue;
            }
            let attach = strata_net::auth::Attach::new(&secret)
                .map_err(|s| DfsError::Unauthenticated(s.message().to_string()))?;
            let mut master = MasterClient::with_interceptor(channel, attach);
            if let Err(e) = self.session(&mut master, every).await {
                tracing::warn!(error = %e, "lost the master; reconnecting");
                tokio::time::sleep(every).await;
            }
        }
    }

    /// The full chunk report, with the bytes stored (one pass over the store).
    fn report(&self) -> (Vec<proto::ChunkReport>, u64) {
        let chunks: Vec<proto::ChunkReport> = self
            .store
            .report()
            .into_iter()
            .map(|(handle, version, length)| proto::ChunkReport {
                handle,
                version,
                length,
            })
            .collect();
        let used = chunks.iter().map(|c| c.length).sum();
        (chunks, used)
    }

    async fn session<S>(
        &self,
        master: &mut MasterClient<S>,
        every: Duration,
    ) -> std::result::Result<(), tonic::Status>
    where
        S: tonic::client::GrpcService<tonic::body::Body> + Send,
        S::Error: Into<tonic::codegen::StdError>,
        S::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
        <S::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
    {
        let (chunks, used) = self.report();
        master
            .register(proto::RegisterRequest {
                id: self.id.clone(),
                address: self.addr.clone(),
                capacity: capacity(&self.opts.dir, used),
                used,
                chunks,
            })
            .await?;
        tracing::info!(id = %self.id, addr = %self.addr, "registered with the master");
        let (chunks_g, bytes_g) = gauges();
        loop {
            let (chunks, used) = self.report();
            chunks_g.set(chunks.len() as i64);
            bytes_g.set(used as i64);
            while let Ok(handle) = self.corrupt.try_recv() {
                master
                    .report_corrupt(proto::CorruptRequest {
                        id: self.id.clone(),
                        handle,
                    })
                    .await?;
            }
            let resp = master
                .heartbeat(proto::HeartbeatRequest {
                    id: self.id.clone(),
                    capacity: capacity(&self.opts.dir, used),
                    used,
                    chunks,
                })
                .await?
                .into_inner();
            if resp.reregister {
                return Err(tonic::Status::unavailable("master asked to re-register"));
            }
            for h in resp.delete_chunks {
                tracing::debug!(chunk = h, "deleting garbage chunk");
                self.store.delete(h);
            }
            for cmd in resp.replicate {
                let store = self.store.clone();
                let secret = strata_net::auth::token(
                    &self.opts.cfg.cluster.secret,
                    strata_net::auth::purpose::DATA,
                );
                std::thread::spawn(move || {
                    if let Err(e) =
                        push_chunk(&store, &secret, cmd.handle, cmd.version, &cmd.target)
                    {
                        tracing::warn!(chunk = cmd.handle, target = %cmd.target, error = %e, "re-replication failed");
                    }
                });
            }
            tokio::time::sleep(every).await;
        }
    }
}

fn gauges() -> &'static (strata_common::metrics::Gauge, strata_common::metrics::Gauge) {
    static G: std::sync::OnceLock<(strata_common::metrics::Gauge, strata_common::metrics::Gauge)> =
        std::sync::OnceLock::new();
    G.get_or_init(|| {
        (
            strata_common::metrics::gauge("chunkserver_chunks", "Chunks stored"),
            strata_common::metrics::gauge("chunkserver_bytes", "Bytes of chunk data stored"),
        )
    })
}

/// Copies a whole chunk (verified) to `target`.
fn push_chunk(
    store: &ChunkStore,
    secret: &str,
    handle: u64,
    version: u64,
    target: &str,
) -> Result<()> {
    let len = store.get(handle).map(|c| c.meta().length).unwrap_or(0);
    let data = store.read(handle, 0, len)?;
    Conn::open(target, Duration::from_secs(60))?
        .write(secret, handle, version, 0, &data, Vec::new())
        .map(|_| ())
}

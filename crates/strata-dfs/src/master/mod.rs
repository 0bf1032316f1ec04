//! The DFS master: namespace, op log, chunk placement, leases, re-replication, GC.
//!
//! One process holds the whole namespace in memory ([`namespace::Namespace`]), made durable
//! by the op log and checkpoints ([`oplog`]). Chunk locations are soft state
//! ([`cluster::Cluster`]) rebuilt from chunkserver reports. A background task checks
//! heartbeats, declares silent chunkservers dead, and schedules re-replication of chunks
//! with too few replicas (fewest first, throttled per source). Deleted files' chunks are
//! garbage-collected lazily: a chunkserver reporting a chunk the namespace no longer has
//! is told to delete it in the heartbeat response.

pub mod cluster;
pub mod namespace;
pub mod oplog;
mod service;

use crate::error::{DfsError, Result};
use crate::proto::master_server::MasterServer;
use cluster::Cluster;
use namespace::{Namespace, Op};
use oplog::OpLog;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use strata_common::StrataConfig;

/// State shared by the gRPC handlers and background tasks.
pub struct MasterState {
    pub(crate) inner: Mutex<Inner>,
    pub(crate) log: OpLog,
    pub(crate) cfg: StrataConfig,
    /// When this master started: leases granted by a previous incarnation may still be held
    /// by clients until one lease period has passed.
    pub(crate) started: std::time::Instant,
}

pub(crate) struct Inner {
    pub ns: Namespace,
    pub seq: u64,
    pub ops_since_checkpoint: u64,
    pub cluster: Cluster,
    /// Write leases on paths: when each pending file's writer was last heard from. Soft
    /// state: after a restart every recovered pending file gets a fresh lease.
    pub writers: std::collections::HashMap<String, std::time::Instant>,
}

impl Inner {
    /// A version for a new lease on `handle` that no replica has ever been sent: above the
    /// logged version, above any version sent by this master incarnation (a bump that
    /// failed part-way), and at least this incarnation's floor (`epoch << 32`), so a bump a
    /// previous incarnation sent but never logged is never reused.
    pub(crate) fn next_version(&mut self, handle: u64) -> u64 {
        let logged = self.ns.chunks.get(&handle).map_or(0, |c| c.version);
        let sent = self.cluster.max_sent.get(&handle).copied().unwrap_or(0);
        let v = (logged.max(sent) + 1).max(self.ns.epoch << 32);
        self.cluster.max_sent.insert(handle, v);
        v
    }
}

impl MasterState {
    /// Applies `op` and waits until it is durable in the log.
    pub(crate) async fn mutate(&self, op: Op) -> Result<()> {
        let done = {
            let mut g = self.inner.lock();
            self.apply_locked(&mut g, op)?
        };
        self.wait_durable(done).await
    }

    pub(crate) fn apply_locked(
        &self,
        g: &mut Inner,
        op: Op,
    ) -> Result<tokio::sync::oneshot::Receiver<std::io::Result<()>>> {
        g.ns.apply(&op)?;
        g.seq += 1;
        let done = self.log.append(oplog::encode(g.seq, &op));
        g.ops_since_checkpoint += 1;
        if g.ops_since_checkpoint >= self.cfg.dfs.checkpoint_ops {
            g.ops_since_checkpoint = 0;
            self.log.checkpoint(g.ns.clone(), g.seq);
        }
        Ok(done)
    }

    pub(crate) async fn wait_durable(
        &self,
        done: tokio::sync::oneshot::Receiver<std::io::Result<()>>,
    ) -> Result<()> {
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(DfsError::Io("op log".into(), e)),
            Err(_) => Err(DfsError::Internal("op log writer stopped".into())),
        }
    }
}

/// Discards files whose writers have been silent longer than the write lease (a client
/// that died mid-write): their chunks are released and the path is free again.
async fn expire_writers(state: &MasterState, lease: Duration) {
    let done = {
        let mut g = state.inner.lock();
        let expired: Vec<(String, u64)> =
            g.ns.pending
                .iter()
                .filter(|(p, _)| g.writers.get(*p).is_none_or(|t| t.elapsed() > lease))
                .map(|(p, w)| (p.clone(), w.writer))
                .collect();
        let mut done = Vec::new();
        for (path, writer) in expired {
            tracing::warn!(path = %path, writer, "write lease expired; discarding the unfinished file");
            g.writers.remove(&path);
            if let Ok(d) = state.apply_locked(&mut g, Op::Abort { path, writer }) {
                done.push(d);
            }
        }
        done
    };
    for d in done {
        let _ = state.wait_durable(d).await;
    }
}

/// A running master.
pub struct Master {
    /// The gRPC address it listens on.
    pub addr: SocketAddr,
    /// Its state (for tests and tools).
    pub state: Arc<MasterState>,
}

/// Recovers the namespace from `dir` and serves gRPC on `listener` until `shutdown`
/// resolves, together with `extra` services (the cluster manager shares the port).
pub async fn serve(
    dir: &Path,
    listener: tokio::net::TcpListener,
    cfg: StrataConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    extra: tonic::service::Routes,
) -> Result<()> {
    let _lock = crate::dirlock::DirLock::acquire(dir, "master")?;
    let r = oplog::recover(dir)?;
    tracing::info!(
        files = r.namespace.files(),
        chunks = r.namespace.chunks.len(),
        replayed = r.replayed,
        "namespace recovered"
    );
    let log = OpLog::start(dir, r.next_seq)?;
    let mut namespace = r.namespace;
    // A new incarnation: versions it grants start above anything a previous one may have
    // sent to replicas without logging.
    let epoch_op = Op::Epoch {
        epoch: namespace.epoch + 1,
    };
    namespace.apply(&epoch_op)?;
    let epoch_done = log.append(oplog::encode(r.next_seq, &epoch_op));
    let r = oplog::Recovered {
        namespace,
        next_seq: r.next_seq + 1,
        replayed: r.replayed,
    };
    let writers = r
        .namespace
        .pending
        .keys()
        .map(|p| (p.clone(), std::time::Instant::now()))
        .collect();
    let state = Arc::new(MasterState {
        inner: Mutex::new(Inner {
            ns: r.namespace,
            seq: r.next_seq - 1,
            ops_since_checkpoint: 0,
            cluster: Cluster {
                min_free: cfg.dfs.chunk_size.bytes(),
                ..Cluster::default()
            },
            writers,
        }),
        log,
        cfg: cfg.clone(),
        started: std::time::Instant::now(),
    });
    state.wait_durable(epoch_done).await?;
    let bg = state.clone();
    tokio::spawn(async move {
        use strata_common::metrics::gauge;
        let every = Duration::from_millis(bg.cfg.dfs.heartbeat_interval_ms);
        let timeout = Duration::from_millis(bg.cfg.dfs.node_timeout_ms);
        let files = gauge("dfs_files", "Files in the namespace");
        let chunks = gauge("dfs_chunks", "Chunks in the namespace");
        let under = gauge(
            "dfs_under_replicated_chunks",
            "Chunks below their replication target",
        );
        let live = gauge(
            "dfs_live_chunkservers",
            "Chunkservers heart-beating in time",
        );
        let dead = gauge("dfs_dead_chunkservers", "Chunkservers declared dead");
        let corrupt = gauge("dfs_corrupt_replicas", "Replicas known to be corrupt");
        let writer_lease = Duration::from_millis(bg.cfg.dfs.writer_lease_ms);
        loop {
            tokio::time::sleep(every).await;
            expire_writers(&bg, writer_lease).await;
            let mut g = bg.inner.lock();
            let Inner { ns, cluster, .. } = &mut *g;
            cluster.check_liveness(timeout);
            cluster.plan_replication(ns, bg.cfg.dfs.replication_streams, every);
            files.set(ns.files() as i64);
            chunks.set(ns.chunks.len() as i64);
            under.set(cluster.under_replicated(ns).len() as i64);
            live.set(cluster.live() as i64);
            dead.set((cluster.nodes.len() - cluster.live()) as i64);
            corrupt.set(cluster.corrupt.len() as i64);
        }
    });
    let server = MasterServer::new(service::MasterService { state })
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    let svc = tonic::service::interceptor::InterceptedService::new(
        server,
        strata_net::auth::check(cfg.cluster.secret.clone()),
    );
    // Small RPCs: send each frame at once (no Nagle delay behind a pending ACK).
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |s| {
            s.inspect(|s| {
                let _ = s.set_nodelay(true);
            })
        },
    );
    tonic::transport::Server::builder()
        .add_routes(extra)
        .add_service(crate::auth::server(&cfg.cluster.secret))
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| DfsError::Internal(format!("gRPC server failed: {e}")))
}

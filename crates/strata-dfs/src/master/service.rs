//! The master's gRPC service.

use super::MasterState;
use super::cluster::Lease;
use super::namespace::{Entry, Op};
use crate::data::{Conn, Request};
use crate::error::{DfsError, Result};
use crate::path::normalize;
use crate::proto::{self, master_server::Master as MasterRpc};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tonic::{Request as Req, Response, Status};

/// How long a primary keeps its lease without asking again.
pub const LEASE: Duration = Duration::from_secs(60);

pub(crate) struct MasterService {
    pub state: Arc<MasterState>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

type R<T> = std::result::Result<Response<T>, Status>;

fn ok<T>(t: T) -> R<T> {
    Ok(Response::new(t))
}

impl MasterService {
    fn info(&self, path: &str) -> Result<proto::FileInfo> {
        let g = self.state.inner.lock();
        let entry = g.ns.get(path)?;
        Ok(file_info(
            &g.ns,
            path,
            entry,
            self.state.cfg.dfs.chunk_size.bytes(),
        ))
    }

    /// Renews `writer`'s lease on `path` (nothing for writer 0, a record appender).
    fn renew(&self, g: &mut super::Inner, path: &str, writer: u64) {
        if writer != 0 && g.ns.pending.get(path).is_some_and(|p| p.writer == writer) {
            g.writers.insert(path.to_string(), Instant::now());
        }
    }

    /// Calls chunkservers without holding the lock: `(node id, addr)` each, in parallel.
    async fn call_nodes(
        &self,
        nodes: Vec<(String, String)>,
        req: impl Fn() -> Request + Send + Clone + 'static,
    ) -> Vec<(String, Result<u64>)> {
        let mut tasks = Vec::new();
        for (id, addr) in nodes {
            let req = req.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                let r = Conn::open(&addr, Duration::from_secs(10))
                    .and_then(|mut c| c.call(&req()).map(|(_, length)| length));
                (id, r)
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            if let Ok(r) = t.await {
                out.push(r);
            }
        }
        out
    }

    fn lease_reply(
        &self,
        handle: u64,
        version: u64,
        offset: u64,
        primary: &str,
        replicas: &[String],
    ) -> Result<proto::ChunkLease> {
        let g = self.state.inner.lock();
        let addr = |id: &str| {
            g.cluster
                .addr(id)
                .ok_or_else(|| DfsError::Internal(format!("unknown node {id}")))
        };
        Ok(proto::ChunkLease {
            committed: g.ns.chunks.get(&handle).map_or(0, |c| c.length),
            handle,
            version,
            offset,
            primary: addr(primary)?,
            secondaries: replicas
                .iter()
                .filter(|r| r.as_str() != primary)
                .map(|r| addr(r))
                .collect::<Result<_>>()?,
            chunk_size: self.state.cfg.dfs.chunk_size.bytes(),
        })
    }

    /// Allocates a new last chunk for `path` (unless another client already did).
    async fn add_chunk(
        &self,
        path: &str,
        previous: u64,
        exclude: &[String],
        writer: u64,
    ) -> Result<proto::ChunkLease> {
        let someone_else_added = {
            let mut g = self.state.inner.lock();
            let (_, chunks) = g.ns.writable(path, writer)?;
            let added = chunks.last().is_some_and(|&last| last != previous);
            self.renew(&mut g, path, writer);
            added
        };
        if someone_else_added && writer == 0 {
            return Box::pin(self.lease(path, false, false)).await;
        }
        let (done, handle, offset, replicas) = {
            let mut g = self.state.inner.lock();
            let (replication, chunks) = g.ns.writable(path, writer)?;
            let chunks = chunks.clone();
            let excluded: Vec<String> = g
                .cluster
                .nodes
                .iter()
                .filter(|(_, n)| exclude.contains(&n.addr))
                .map(|(id, _)| id.clone())
                .collect();
            // Write to as many replicas as are live, down to dfs.min_replication (HDFS keeps
            // writing with fewer nodes too); the master copies the missing ones later.
            let replicas = g.cluster.place(replication as usize, &excluded);
            let needed = self.state.cfg.dfs.min_replication.min(replication);
            if (replicas.len() as u32) < needed {
                let live = g.cluster.live() as u32 - excluded.len().min(g.cluster.live()) as u32;
                return Err(DfsError::NotEnoughNodes { needed, live });
            }
            let handle = g.ns.next_handle;
            let offset = g.ns.file_length(&chunks);
            let done = self.state.apply_locked(
                &mut g,
                Op::AddChunk {
                    path: path.to_string(),
                    writer,
                    handle,
                    abandon: (previous != 0).then_some(previous),
                },
            )?;
            g.cluster
                .locations
                .insert(handle, replicas.iter().cloned().collect());
            for r in &replicas {
                g.cluster.versions.insert((handle, r.clone()), 1);
            }
            g.cluster.leases.insert(
                handle,
                Lease {
                    primary: replicas[0].clone(),
                    version: 1,
                    expires: Instant::now() + LEASE,
                },
            );
            if previous != 0 {
                g.cluster.leases.remove(&previous);
            }
            (done, handle, offset, replicas)
        };
        self.state.wait_durable(done).await?;
        self.lease_reply(handle, 1, offset, &replicas[0], &replicas)
    }

    /// The lease on the last chunk of `path`, granting a new one (and a new version) if
    /// needed, after copying a chunk shared with a snapshot.
    async fn lease(&self, path: &str, append: bool, fresh: bool) -> Result<proto::ChunkLease> {
        if append {
            let done = {
                let mut g = self.state.inner.lock();
                match g.ns.get(path)? {
                    Entry::File { records: false, .. } => Some(self.state.apply_locked(
                        &mut g,
                        Op::MarkRecords {
                            path: path.to_string(),
                        },
                    )?),
                    _ => None,
                }
            };
            if let Some(d) = done {
                self.state.wait_durable(d).await?;
            }
        }
        let (last, refs) = {
            let g = self.state.inner.lock();
            let Entry::File { chunks, .. } = g.ns.get(path)? else {
                return Err(DfsError::WrongKind(format!("is a directory: {path}")));
            };
            match chunks.last() {
                None => (None, 0),
                Some(h) => (Some(*h), g.ns.chunks.get(h).map(|c| c.refs).unwrap_or(1)),
            }
        };
        let Some(mut handle) = last else {
            return Box::pin(self.add_chunk(path, 0, &[], 0)).await;
        };
        if refs > 1 {
            handle = self.copy_on_write(path, handle).await?;
        }
        let (replicas, offset, existing) = {
            let g = self.state.inner.lock();
            let info =
                g.ns.chunks
                    .get(&handle)
                    .cloned()
                    .ok_or_else(|| DfsError::NotFound(format!("chunk {handle}")))?;
            let Entry::File { chunks, .. } = g.ns.get(path)? else {
                unreachable!("checked")
            };
            let offset = g.ns.file_length(&chunks[..chunks.len() - 1]);
            let existing = g
                .cluster
                .leases
                .get(&handle)
                .filter(|l| l.expires > Instant::now() && l.version == info.version)
                .cloned();
            (g.cluster.live_replicas(handle), offset, existing)
        };
        if let Some(l) = existing {
            if !fresh {
                return self.lease_reply(handle, l.version, offset, &l.primary, &replicas);
            }
            self.state.inner.lock().cluster.leases.remove(&handle);
        }
        if replicas.is_empty() {
            return Err(DfsError::Node(
                "-".into(),
                format!("chunk {handle} of {path} has no live replica"),
            ));
        }
        // New lease: raise the version on the replicas first, and log it only once at least
        // one has it. Then a logged version always lives on some replica, and a replica that
        // missed the bump is stale (it will miss the writes of this lease). Logging first
        // could make *every* replica stale if the master died before telling them.
        let new_version = {
            let mut g = self.state.inner.lock();
            g.next_version(handle)
        };
        let good = self.bump_replicas(handle, new_version, &replicas).await;
        if good.is_empty() {
            return Err(DfsError::Node(
                "-".into(),
                format!("no replica of chunk {handle} accepted the new lease"),
            ));
        }
        let done = {
            let mut g = self.state.inner.lock();
            self.state.apply_locked(
                &mut g,
                Op::SetVersion {
                    handle,
                    version: new_version,
                },
            )?
        };
        self.state.wait_durable(done).await?;
        {
            let mut g = self.state.inner.lock();
            if let Some(locs) = g.cluster.locations.get_mut(&handle) {
                locs.retain(|id| good.contains(id));
            }
            for id in &good {
                g.cluster.versions.insert((handle, id.clone()), new_version);
            }
            g.cluster.leases.insert(
                handle,
                Lease {
                    primary: good[0].clone(),
                    version: new_version,
                    expires: Instant::now() + LEASE,
                },
            );
        }
        self.lease_reply(handle, new_version, offset, &good[0], &good)
    }

    /// Tells `replicas` (node ids) that chunk `handle` is now at `version`; returns those that
    /// accepted.
    async fn bump_replicas(&self, handle: u64, version: u64, replicas: &[String]) -> Vec<String> {
        let (nodes, committed): (Vec<(String, String)>, u64) = {
            let g = self.state.inner.lock();
            (
                replicas
                    .iter()
                    .filter_map(|id| g.cluster.addr(id).map(|a| (id.clone(), a)))
                    .collect(),
                g.ns.chunks.get(&handle).map_or(0, |c| c.length),
            )
        };
        let secret = strata_net::auth::token(
            &self.state.cfg.cluster.secret,
            strata_net::auth::purpose::DATA,
        );
        self.call_nodes(nodes, move || Request::SetVersion {
            secret: secret.clone(),
            handle,
            version,
        })
        .await
        .into_iter()
        // A replica lacking acknowledged bytes (it lost them) takes no part in the lease.
        .filter(|r| r.1.as_ref().is_ok_and(|&len| len >= committed))
        .map(|r| r.0)
        .collect()
    }

    /// Gives `path` a private copy of its shared last chunk (made on the same chunkservers).
    async fn copy_on_write(&self, path: &str, old: u64) -> Result<u64> {
        let (new, version, nodes) = {
            let mut g = self.state.inner.lock();
            let new = g.ns.next_handle;
            g.ns.next_handle += 1;
            let version = g.ns.chunks.get(&old).map(|c| c.version).unwrap_or(1);
            let nodes: Vec<(String, String)> = g
                .cluster
                .live_replicas(old)
                .iter()
                .filter_map(|id| g.cluster.addr(id).map(|a| (id.clone(), a)))
                .collect();
            (new, version, nodes)
        };
        let secret = strata_net::auth::token(
            &self.state.cfg.cluster.secret,
            strata_net::auth::purpose::DATA,
        );
        let results = self
            .call_nodes(nodes, move || Request::Clone {
                secret: secret.clone(),
                from: old,
                to: new,
                version,
            })
            .await;
        let good: Vec<String> = results
            .into_iter()
            .filter(|r| r.1.is_ok())
            .map(|r| r.0)
            .collect();
        if good.is_empty() {
            return Err(DfsError::Node(
                "-".into(),
                format!("could not copy chunk {old} for a write after a snapshot"),
            ));
        }
        let done = {
            let mut g = self.state.inner.lock();
            let done = self.state.apply_locked(
                &mut g,
                Op::ReplaceChunk {
                    path: path.to_string(),
                    old,
                    new,
                },
            )?;
            for id in &good {
                g.cluster.versions.insert((new, id.clone()), version);
            }
            g.cluster.locations.insert(new, good.into_iter().collect());
            done
        };
        self.state.wait_durable(done).await?;
        Ok(new)
    }
}

fn file_info(
    ns: &super::namespace::Namespace,
    path: &str,
    e: &Entry,
    chunk_size: u64,
) -> proto::FileInfo {
    match e {
        Entry::Dir { mtime } => proto::FileInfo {
            path: path.into(),
            is_dir: true,
            mtime_ms: *mtime,
            ..Default::default()
        },
        Entry::File {
            replication,
            chunks,
            mtime,
            records,
        } => proto::FileInfo {
            path: path.into(),
            is_dir: false,
            length: ns.file_length(chunks),
            replication: *replication,
            chunk_size,
            chunks: chunks.len() as u32,
            mtime_ms: *mtime,
            records: *records,
        },
    }
}

#[tonic::async_trait]
impl MasterRpc for MasterService {
    async fn mkdir(&self, r: Req<proto::MkdirRequest>) -> R<proto::Empty> {
        let r = r.into_inner();
        let path = normalize(&r.path)?;
        self.state
            .mutate(Op::Mkdir {
                path,
                parents: r.parents,
                mtime: now_ms(),
            })
            .await?;
        ok(proto::Empty {})
    }

    async fn create(&self, r: Req<proto::CreateRequest>) -> R<proto::FileInfo> {
        let r = r.into_inner();
        let path = normalize(&r.path)?;
        let replication = if r.replication == 0 {
            self.state.cfg.dfs.replication
        } else {
            r.replication
        };
        if replication > 16 {
            return Err(Status::invalid_argument(format!(
                "replication {replication} is above the maximum of 16"
            )));
        }
        if r.close {
            // An empty file, closed at once: one op, one log record.
            self.state
                .mutate(Op::Touch {
                    path: path.clone(),
                    replication,
                    overwrite: r.overwrite,
                    mtime: now_ms(),
                })
                .await?;
            return ok(self.info(&path)?);
        }
        if r.writer == 0 {
            return Err(Status::invalid_argument(
                "create needs a writer id: this client is older than the master; upgrade it",
            ));
        }
        let lease = Duration::from_millis(self.state.cfg.dfs.writer_lease_ms);
        let done = {
            let mut g = self.state.inner.lock();
            // A writer silent past its lease loses the path to the next creator.
            let stale = g.ns.pending.get(&path).and_then(|p| {
                let silent = g.writers.get(&path).is_none_or(|t| t.elapsed() > lease);
                (p.writer != r.writer && silent).then_some(p.writer)
            });
            if let Some(old) = stale {
                tracing::warn!(path = %path, writer = old, "write lease expired; a new writer takes the path");
                self.state.apply_locked(
                    &mut g,
                    Op::Abort {
                        path: path.clone(),
                        writer: old,
                    },
                )?;
            }
            let done = self.state.apply_locked(
                &mut g,
                Op::Create {
                    path: path.clone(),
                    replication,
                    overwrite: r.overwrite,
                    writer: r.writer,
                },
            )?;
            g.writers.insert(path.clone(), Instant::now());
            done
        };
        self.state.wait_durable(done).await?;
        ok(proto::FileInfo {
            path,
            replication,
            chunk_size: self.state.cfg.dfs.chunk_size.bytes(),
            ..Default::default()
        })
    }

    async fn close(&self, r: Req<proto::CloseRequest>) -> R<proto::FileInfo> {
        let r = r.into_inner();
        let path = normalize(&r.path)?;
        self.state
            .mutate(Op::Close {
                path: path.clone(),
                writer: r.writer,
                mtime: now_ms(),
            })
            .await?;
        self.state.inner.lock().writers.remove(&path);
        ok(self.info(&path)?)
    }

    async fn abort(&self, r: Req<proto::CloseRequest>) -> R<proto::Empty> {
        let r = r.into_inner();
        let path = normalize(&r.path)?;
        self.state
            .mutate(Op::Abort {
                path: path.clone(),
                writer: r.writer,
            })
            .await?;
        self.state.inner.lock().writers.remove(&path);
        ok(proto::Empty {})
    }

    async fn delete(&self, r: Req<proto::DeleteRequest>) -> R<proto::Empty> {
        let r = r.into_inner();
        let path = normalize(&r.path)?;
        self.state
            .mutate(Op::Delete {
                path,
                recursive: r.recursive,
            })
            .await?;
        ok(proto::Empty {})
    }

    async fn rename(&self, r: Req<proto::RenameRequest>) -> R<proto::Empty> {
        let r = r.into_inner();
        let (from, mut to) = (normalize(&r.from)?, normalize(&r.to)?);
        {
            // Moving into an existing directory keeps the name, as `mv` does.
            let g = self.state.inner.lock();
            if let Ok(Entry::Dir { .. }) = g.ns.get(&to) {
                to = if to == "/" {
                    format!("/{}", crate::path::name(&from))
                } else {
                    format!("{to}/{}", crate::path::name(&from))
                };
            }
        }
        self.state.mutate(Op::Rename { from, to }).await?;
        ok(proto::Empty {})
    }

    async fn list(&self, r: Req<proto::ListRequest>) -> R<proto::ListResponse> {
        let r = r.into_inner();
        let path = normalize(&r.path)?;
        let g = self.state.inner.lock();
        let cs = self.state.cfg.dfs.chunk_size.bytes();
        let entry = g.ns.get(&path).map_err(Status::from)?;
        let entries = match entry {
            Entry::File { .. } => vec![file_info(&g.ns, &path, entry, cs)],
            Entry::Dir { .. } => {
                g.ns.below(&path)
                    .filter(|(k, _)| r.recursive || crate::path::parent(k) == Some(path.as_str()))
                    .map(|(k, e)| file_info(&g.ns, k, e, cs))
                    .collect()
            }
        };
        ok(proto::ListResponse { entries })
    }

    async fn stat(&self, r: Req<proto::StatRequest>) -> R<proto::FileInfo> {
        let path = normalize(&r.into_inner().path)?;
        ok(self.info(&path)?)
    }

    async fn snapshot(&self, r: Req<proto::SnapshotRequest>) -> R<proto::Empty> {
        let r = r.into_inner();
        let (from, to) = (normalize(&r.from)?, normalize(&r.to)?);
        // Revoke writes to the (only mutable) last chunk of every file being snapshotted:
        // raise its version on the replicas, so a writer holding the old lease is refused
        // and must come back for a new lease, which copies the chunk first. As for leases,
        // replicas first, then the log.
        let unsure = self.state.started.elapsed() < LEASE;
        for _attempt in 0..3 {
            let to_bump: Vec<(u64, u64, Vec<String>)> = {
                let mut g = self.state.inner.lock();
                let mut lasts: Vec<u64> = Vec::new();
                match g.ns.get(&from)? {
                    Entry::File { chunks, .. } => lasts.extend(chunks.last()),
                    Entry::Dir { .. } => {
                        for (_, e) in g.ns.below(&from) {
                            if let Entry::File { chunks, .. } = e {
                                lasts.extend(chunks.last());
                            }
                        }
                    }
                }
                // Only a chunk someone may be writing needs its lease revoked: one with a
                // live lease, or any while leases of a previous master incarnation may be
                // live. A bump a replica misses makes it stale, so none is made needlessly.
                let now = Instant::now();
                let mut v = Vec::new();
                for last in lasts {
                    if unsure || g.cluster.leases.get(&last).is_some_and(|l| l.expires > now) {
                        g.cluster.leases.remove(&last);
                        let version = g.next_version(last);
                        v.push((last, version, g.cluster.live_replicas(last)));
                    }
                }
                v
            };
            let mut bumped = Vec::with_capacity(to_bump.len());
            for (handle, version, replicas) in &to_bump {
                let good = self.bump_replicas(*handle, *version, replicas).await;
                if good.is_empty() && (!replicas.is_empty() || unsure) {
                    return Err(DfsError::Node(
                        "-".into(),
                        format!(
                            "cannot revoke writes to chunk {handle} of the snapshot source: none of its replicas answered; retry when its chunkservers are back"
                        ),
                    )
                    .into());
                }
                bumped.push((*handle, *version, good));
            }
            let done = {
                let mut g = self.state.inner.lock();
                // A lease granted meanwhile would let a writer into a chunk the snapshot is
                // about to share: start over.
                if bumped
                    .iter()
                    .any(|(h, _, _)| g.cluster.leases.contains_key(h))
                {
                    continue;
                }
                for (h, v, good) in &bumped {
                    self.state.apply_locked(
                        &mut g,
                        Op::SetVersion {
                            handle: *h,
                            version: *v,
                        },
                    )?;
                    if let Some(locs) = g.cluster.locations.get_mut(h) {
                        locs.retain(|id| good.contains(id));
                    }
                    for id in good {
                        g.cluster.versions.insert((*h, id.clone()), *v);
                    }
                }
                self.state.apply_locked(
                    &mut g,
                    Op::Snapshot {
                        from: from.clone(),
                        to: to.clone(),
                        mtime: now_ms(),
                    },
                )?
            };
            self.state.wait_durable(done).await?;
            return ok(proto::Empty {});
        }
        Err(Status::unavailable(format!(
            "snapshot of {from}: writers kept taking new leases; retry"
        )))
    }

    async fn get_chunks(&self, r: Req<proto::GetChunksRequest>) -> R<proto::ChunkList> {
        let path = normalize(&r.into_inner().path)?;
        let g = self.state.inner.lock();
        let entry = g.ns.get(&path).map_err(Status::from)?;
        let Entry::File { chunks, .. } = entry else {
            return Err(DfsError::WrongKind(format!("is a directory: {path}")).into());
        };
        let mut offset = 0;
        let mut out = Vec::with_capacity(chunks.len());
        for h in chunks {
            let info = g.ns.chunks.get(h).cloned().ok_or_else(|| {
                Status::internal(format!("chunk {h} missing from the chunk table"))
            })?;
            let mut replicas: Vec<String> = g
                .cluster
                .live_replicas(*h)
                .iter()
                .filter_map(|id| g.cluster.addr(id))
                .collect();
            replicas.sort();
            let mut corrupt_replicas: Vec<String> = g
                .cluster
                .corrupt
                .iter()
                .filter(|(c, n)| *c == *h && g.cluster.nodes.get(n).is_some_and(|n| n.alive))
                .filter_map(|(_, n)| g.cluster.addr(n))
                .collect();
            corrupt_replicas.sort();
            out.push(proto::ChunkLocation {
                handle: *h,
                version: info.version,
                offset,
                length: info.length,
                replicas,
                corrupt_replicas,
            });
            offset += info.length;
        }
        let file = file_info(&g.ns, &path, entry, self.state.cfg.dfs.chunk_size.bytes());
        ok(proto::ChunkList {
            file: Some(file),
            chunks: out,
        })
    }

    async fn add_chunk(&self, r: Req<proto::AddChunkRequest>) -> R<proto::ChunkLease> {
        let r = r.into_inner();
        let path = normalize(&r.path)?;
        ok(self
            .add_chunk(&path, r.previous_handle, &r.exclude, r.writer)
            .await?)
    }

    async fn get_lease(&self, r: Req<proto::LeaseRequest>) -> R<proto::ChunkLease> {
        let r = r.into_inner();
        let path = normalize(&r.path)?;
        ok(self.lease(&path, r.append, r.fresh).await?)
    }

    async fn commit(&self, r: Req<proto::CommitRequest>) -> R<proto::Empty> {
        let r = r.into_inner();
        if r.writer != 0 {
            // A writer whose lease lapsed must not commit into a file it no longer owns.
            let path = normalize(&r.path)?;
            let mut g = self.state.inner.lock();
            g.ns.writable(&path, r.writer)?;
            self.renew(&mut g, &path, r.writer);
        }
        self.state
            .mutate(Op::Commit {
                handle: r.handle,
                length: r.length,
            })
            .await?;
        if r.release {
            self.state.inner.lock().cluster.leases.remove(&r.handle);
        }
        ok(proto::Empty {})
    }

    async fn report(&self, _r: Req<proto::Empty>) -> R<proto::ClusterReport> {
        let g = self.state.inner.lock();
        let now = Instant::now();
        let mut nodes: Vec<proto::NodeReport> = g
            .cluster
            .nodes
            .iter()
            .map(|(id, n)| proto::NodeReport {
                id: id.clone(),
                address: n.addr.clone(),
                alive: n.alive,
                capacity: n.capacity,
                used: n.used,
                chunks: g
                    .cluster
                    .locations
                    .values()
                    .filter(|l| l.contains(id))
                    .count() as u32,
                last_heartbeat_ms_ago: now.duration_since(n.last_heartbeat).as_millis() as u64,
            })
            .collect();
        nodes.sort_by(|a, b| a.address.cmp(&b.address));
        ok(proto::ClusterReport {
            nodes,
            files: g.ns.files(),
            chunks: g.ns.chunks.len() as u64,
            under_replicated: g.cluster.under_replicated(&g.ns).len() as u64,
            corrupt: g.cluster.corrupt.len() as u64,
            unreadable: g
                .ns
                .chunks
                .keys()
                .filter(|h| g.cluster.live_replicas(**h).is_empty())
                .count() as u64,
            under_replicated_files: g.cluster.under_replicated_files(&g.ns),
            being_written: g.ns.pending.len() as u64,
            pending_deletion: g
                .cluster
                .nodes
                .values()
                .map(|n| n.pending_delete.len() as u64)
                .sum(),
        })
    }

    async fn register(&self, r: Req<proto::RegisterRequest>) -> R<proto::Empty> {
        let r = r.into_inner();
        let mut g = self.state.inner.lock();
        let super::Inner { ns, cluster, .. } = &mut *g;
        cluster.register(&r.id, &r.address, r.capacity, r.used);
        // A node (re)starting may have lost chunks it led leases for: those leases end.
        cluster.leases.retain(|_, l| l.primary != r.id);
        cluster.apply_report(&r.id, &r.chunks, ns);
        tracing::info!(node = %r.id, address = %r.address, chunks = r.chunks.len(), "chunkserver registered");
        ok(proto::Empty {})
    }

    async fn heartbeat(&self, r: Req<proto::HeartbeatRequest>) -> R<proto::HeartbeatResponse> {
        let r = r.into_inner();
        let mut g = self.state.inner.lock();
        let super::Inner { ns, cluster, .. } = &mut *g;
        let Some(node) = cluster.nodes.get_mut(&r.id) else {
            return ok(proto::HeartbeatResponse {
                reregister: true,
                ..Default::default()
            });
        };
        if !node.alive {
            // Back from the dead: its replicas are re-learned from the full report.
            tracing::info!(node = %r.id, "chunkserver is back");
        }
        node.alive = true;
        node.last_heartbeat = Instant::now();
        node.capacity = r.capacity;
        node.used = r.used;
        let addr = node.addr.clone();
        cluster.register(&r.id, &addr, r.capacity, r.used);
        cluster.apply_report(&r.id, &r.chunks, ns);
        let node = cluster.nodes.get_mut(&r.id).expect("registered");
        let mut delete = std::mem::take(&mut node.pending_delete);
        delete.sort_unstable();
        delete.dedup();
        ok(proto::HeartbeatResponse {
            reregister: false,
            delete_chunks: delete,
            replicate: std::mem::take(&mut node.pending_replicate),
        })
    }

    async fn report_corrupt(&self, r: Req<proto::CorruptRequest>) -> R<proto::Empty> {
        let r = r.into_inner();
        let mut g = self.state.inner.lock();
        tracing::warn!(node = %r.id, chunk = r.handle, "corrupt replica reported");
        g.cluster.corrupt.insert((r.handle, r.id.clone()));
        if let Some(l) = g.cluster.locations.get_mut(&r.handle) {
            l.remove(&r.id);
        }
        g.cluster.leases.remove(&r.handle);
        // The last copy is never deleted, corrupt or not: it is kept (and reported) so an
        // operator can still read what is left of it with checksums off.
        if g.cluster.live_replicas(r.handle).is_empty() {
            tracing::error!(chunk = r.handle, node = %r.id, "every replica of the chunk is corrupt; keeping the last one");
        } else if let Some(n) = g.cluster.nodes.get_mut(&r.id) {
            n.pending_delete.push(r.handle);
        }
        ok(proto::Empty {})
    }
}

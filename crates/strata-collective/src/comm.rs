//! The communicator: ranks, links, and the send/receive primitives the algorithms use.

use std::borrow::Cow;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{TryRecvError, select};

use crate::elem::{Elem, ReduceOp, reduce_into};
use crate::transport::{self, Frame, Health, Peer};
use crate::{CollectiveError, Result, rendezvous};

/// Operation codes carried in every frame, checked on receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Op {
    P2p = 1,
    Broadcast = 2,
    Reduce = 3,
    AllReduce = 4,
    ReduceScatter = 5,
    AllGather = 6,
    Gather = 7,
    Scatter = 8,
    Barrier = 9,
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::P2p => "send/recv",
            Op::Broadcast => "broadcast",
            Op::Reduce => "reduce",
            Op::AllReduce => "all_reduce",
            Op::ReduceScatter => "reduce_scatter",
            Op::AllGather => "all_gather",
            Op::Gather => "gather",
            Op::Scatter => "scatter",
            Op::Barrier => "barrier",
        }
    }

    fn from_code(c: u8) -> &'static str {
        [
            Op::P2p,
            Op::Broadcast,
            Op::Reduce,
            Op::AllReduce,
            Op::ReduceScatter,
            Op::AllGather,
            Op::Gather,
            Op::Scatter,
            Op::Barrier,
        ]
        .into_iter()
        .find(|o| *o as u8 == c)
        .map(Op::name)
        .unwrap_or("an unknown operation")
    }
}

/// Tuning and failure-detection settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long one receive may wait for a live peer before reporting [`CollectiveError::Timeout`]
    /// (and how long forming the communicator may take).
    pub timeout: Duration,
    /// How often an idle link sends a heartbeat.
    pub heartbeat: Duration,
    /// Silence after which a peer is declared dead (its process is gone, or the network).
    pub dead_after: Duration,
    /// Messages travel in chunks of this many bytes, so a large tensor streams: the next
    /// hop forwards or reduces one chunk while the following one is on the wire.
    pub chunk_bytes: usize,
    /// All-reduce uses a binomial tree below this many bytes (latency-bound), the ring at
    /// or above it (bandwidth-bound: each rank sends 2(n-1)/n of the data).
    pub ring_threshold_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            timeout: Duration::from_secs(300),
            heartbeat: Duration::from_secs(1),
            dead_after: Duration::from_secs(10),
            chunk_bytes: 256 << 10,
            ring_threshold_bytes: 64 << 10,
        }
    }
}

impl Drop for Communicator {
    fn drop(&mut self) {
        self.shut();
    }
}

/// One rank's handle on a group of `size` ranks (MPI's communicator).
///
/// Every rank must call the same collectives in the same order with matching sizes; a
/// rank that does not is reported as a [`CollectiveError::Mismatch`] instead of a hang.
/// A dead peer fails every pending and later operation on every survivor with
/// [`CollectiveError::PeerDead`].
#[derive(Debug)]
pub struct Communicator {
    rank: usize,
    size: usize,
    peers: Vec<Option<Peer>>,
    health: Arc<Health>,
    /// The links' sockets, for [`Communicator::abort`].
    sockets: Vec<std::net::TcpStream>,
    pub(crate) cfg: Config,
    /// Collective calls so far; frames carry it, and a mismatch is an error.
    seq: u64,
}

impl Communicator {
    /// Joins the group: rank 0 listens on `master` (`host:port`), the others connect to it.
    /// `job` is a token every rank of one group shares; a rank of another job is refused.
    pub fn init(rank: usize, size: usize, master: &str, job: &str, cfg: Config) -> Result<Self> {
        Self::form(rank, size, rendezvous::Master::Addr(master), job, cfg)
    }

    /// Rank 0 of a group, waiting on a listener it bound already (e.g. on port 0, telling
    /// the other ranks the port it got).
    pub fn init_root(listener: TcpListener, size: usize, job: &str, cfg: Config) -> Result<Self> {
        Self::form(0, size, rendezvous::Master::Listener(listener), job, cfg)
    }

    fn form(
        rank: usize,
        size: usize,
        master: rendezvous::Master<'_>,
        job: &str,
        cfg: Config,
    ) -> Result<Self> {
        if size == 0 || rank >= size {
            return Err(CollectiveError::Usage(format!(
                "rank {rank} is outside a world of {size} ranks"
            )));
        }
        let links = rendezvous::connect_mesh(rank, size, master, job, cfg.timeout)?;
        let health = Health::new();
        let mut peers = Vec::with_capacity(size);
        let mut sockets = Vec::new();
        for (r, link) in links.into_iter().enumerate() {
            if let Some(s) = &link {
                sockets.push(
                    s.try_clone()
                        .map_err(|e| CollectiveError::Setup(format!("link to rank {r}: {e}")))?,
                );
            }
            peers.push(match link {
                None => Some(transport::to_self()),
                Some(s) => Some(
                    transport::start(r, s, health.clone(), cfg.heartbeat, cfg.dead_after)
                        .map_err(|e| CollectiveError::Setup(format!("link to rank {r}: {e}")))?,
                ),
            });
        }
        tracing::debug!(rank, size, "communicator formed");
        Ok(Communicator {
            rank,
            size,
            peers,
            health,
            sockets,
            cfg,
            seq: 0,
        })
    }

    /// Closes the communicator gracefully: every queued message is written and a goodbye
    /// sent, so peers still receiving see this rank's last messages, not a crash. Also what
    /// dropping it does; call it to make the point explicit before a process exits.
    pub fn close(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        for peer in self.peers.drain(..).flatten() {
            let transport::Peer { tx, rx, writer } = peer;
            drop(tx); // the writer drains its queue, says goodbye, and ends
            drop(rx);
            if let Some(w) = writer {
                let _ = w.join();
            }
        }
    }

    /// Closes every link at once without a goodbye (MPI's abort): the peers see this rank
    /// as dead and fail their pending and later operations.
    pub fn abort(&self) {
        for s in &self.sockets {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The first peer seen dead, if any (rank and what was observed).
    pub fn dead_peer(&self) -> Option<(usize, String)> {
        self.health.first_dead()
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn peer(&self, r: usize, op: Op) -> Result<&Peer> {
        match self.peers.get(r) {
            Some(Some(p)) => Ok(p),
            _ => Err(CollectiveError::Usage(format!(
                "{}: rank {r} is not a peer of rank {} in a world of {}",
                op.name(),
                self.rank,
                self.size
            ))),
        }
    }

    /// The error for `r`'s closed link: a crashed rank, if any is known, is the root cause
    /// (a peer that closed cleanly after seeing it die is only its echo).
    fn dead(&self, r: usize, op: Op) -> CollectiveError {
        if let Some((rank, why)) = self.health.first_dead() {
            return CollectiveError::PeerDead {
                rank,
                why,
                op: op.name(),
            };
        }
        CollectiveError::PeerDead {
            rank: r,
            why: self.health.why_closed(r),
            op: op.name(),
        }
    }

    /// Element count per chunk for `T`.
    pub(crate) fn chunk_elems<T: Elem>(&self) -> usize {
        (self.cfg.chunk_bytes / std::mem::size_of::<T>()).max(1)
    }

    /// Queues `data` for `dst` in chunks (copied: the caller may overwrite it at once).
    /// `total` is the byte length of the whole buffer of the call this message is part of:
    /// the receiver checks it against its own, so ranks with different lengths are told.
    pub(crate) fn send_slice<T: Elem>(
        &self,
        dst: usize,
        op: Op,
        seq: u64,
        data: &[T],
        total: u64,
    ) -> Result<()> {
        let peer = self.peer(dst, op)?;
        if let Some((r, why)) = self.health.first_dead() {
            return Err(CollectiveError::PeerDead {
                rank: r,
                why,
                op: op.name(),
            });
        }
        for chunk in data.chunks(self.chunk_elems::<T>()) {
            let frame = Frame {
                op: op as u8,
                seq,
                total,
                data: bytemuck::cast_slice::<T, u8>(chunk).to_vec(),
            };
            peer.tx.send(frame).map_err(|_| self.dead(dst, op))?;
        }
        Ok(())
    }

    /// The next frame from `src` for (`op`, `seq`).
    fn recv_frame(&self, src: usize, op: Op, seq: u64, deadline: Instant) -> Result<Frame> {
        let peer = self.peer(src, op)?;
        let check = |f: Frame| {
            if f.op != op as u8 || (op != Op::P2p && f.seq != seq) {
                return Err(CollectiveError::Mismatch {
                    rank: src,
                    detail: format!(
                        "it is in {} (call #{}) while rank {} is in {} (call #{seq}): ranks \
                         must call the same collectives in the same order",
                        Op::from_code(f.op),
                        f.seq,
                        self.rank,
                        op.name()
                    ),
                });
            }
            Ok(f)
        };
        loop {
            match peer.rx.try_recv() {
                Ok(f) => return check(f),
                Err(TryRecvError::Disconnected) => return Err(self.dead(src, op)),
                Err(TryRecvError::Empty) => {}
            }
            if let Some((r, why)) = self.health.first_dead() {
                return Err(CollectiveError::PeerDead {
                    rank: r,
                    why,
                    op: op.name(),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            select! {
                recv(peer.rx) -> f => match f {
                    Ok(f) => return check(f),
                    Err(_) => return Err(self.dead(src, op)),
                },
                // Fires once any peer is dead: loop to drain what already arrived, then
                // report the death.
                recv(self.health.abort_rx) -> _ => continue,
                default(left) => return Err(CollectiveError::Timeout {
                    rank: src,
                    op: op.name(),
                    timeout: self.cfg.timeout,
                }),
            }
        }
    }

    /// Receives exactly `dest.len()` elements from `src`, copying them in, or reducing them
    /// into `dest` with `reduce`, chunk by chunk as they arrive.
    pub(crate) fn recv_slice<T: Elem>(
        &self,
        src: usize,
        op: Op,
        seq: u64,
        dest: &mut [T],
        reduce: Option<ReduceOp>,
        total: u64,
    ) -> Result<()> {
        let deadline = Instant::now() + self.cfg.timeout;
        let esize = std::mem::size_of::<T>();
        let mut at = 0;
        while at < dest.len() {
            let f = self.recv_frame(src, op, seq, deadline)?;
            let n = f.data.len() / esize;
            let want = total;
            if f.total != want || f.data.len() % esize != 0 || at + n > dest.len() {
                return Err(CollectiveError::Mismatch {
                    rank: src,
                    detail: format!(
                        "{}: its buffer is {} bytes where this rank's is {want} ({}); \
                         buffers must have the same length on every rank",
                        op.name(),
                        f.total,
                        T::NAME
                    ),
                });
            }
            let part = &mut dest[at..at + n];
            match reduce {
                None => bytemuck::cast_slice_mut::<T, u8>(part).copy_from_slice(&f.data),
                Some(rop) => {
                    let other: Cow<[T]> = match bytemuck::try_cast_slice::<u8, T>(&f.data) {
                        Ok(s) => Cow::Borrowed(s),
                        Err(_) => Cow::Owned(bytemuck::pod_collect_to_vec(&f.data)),
                    };
                    reduce_into(rop, part, &other);
                }
            }
            at += n;
        }
        Ok(())
    }

    /// Sends `data` to rank `dst` (returns once queued; ordered per pair of ranks).
    pub fn send<T: Elem>(&mut self, dst: usize, data: &[T]) -> Result<()> {
        let bytes = std::mem::size_of_val(data) as u64;
        self.send_slice(dst, Op::P2p, 0, &[data.len() as u64], 8)?;
        self.send_slice(dst, Op::P2p, 0, data, bytes)
    }

    /// Receives a message from rank `src` (of any length).
    pub fn recv<T: Elem>(&mut self, src: usize) -> Result<Vec<T>> {
        let mut len = [0u64];
        self.recv_slice(src, Op::P2p, 0, &mut len, None, 8)?;
        let mut out = vec![T::zeroed(); len[0] as usize];
        let bytes = std::mem::size_of_val(&out[..]) as u64;
        self.recv_slice(src, Op::P2p, 0, &mut out, None, bytes)?;
        Ok(out)
    }
}

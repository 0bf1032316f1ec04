//! One connection per pair of ranks: a writer thread draining a bounded queue (so a sender
//! never blocks on the network for more than the queue), a reader thread pushing frames into
//! an unbounded channel (so two ranks sending to each other never deadlock), heartbeats both
//! ways, and a shared [`Health`] that every pending receive watches: the first dead peer
//! wakes every rank's waits at once.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

/// Frame header: kind (u8), op (u8), two spare bytes, payload length (u32), sequence (u64),
/// the whole message's length in bytes (u64, so a receiver expecting another length can
/// say so instead of misreading the next message).
pub(crate) const HEADER: usize = 24;

const KIND_DATA: u8 = 1;
const KIND_HEARTBEAT: u8 = 2;
const KIND_BYE: u8 = 3;

/// A data frame: one chunk of one message.
#[derive(Debug)]
pub(crate) struct Frame {
    pub op: u8,
    pub seq: u64,
    pub total: u64,
    pub data: Vec<u8>,
}

/// Which peers died or left, and a signal that fires on the first death.
#[derive(Debug)]
pub(crate) struct Health {
    dead: Mutex<Vec<(usize, String)>>,
    left: Mutex<Vec<usize>>,
    abort_tx: Mutex<Option<Sender<()>>>,
    pub abort_rx: Receiver<()>,
}

impl Health {
    pub fn new() -> Arc<Health> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        Arc::new(Health {
            dead: Mutex::new(Vec::new()),
            left: Mutex::new(Vec::new()),
            abort_tx: Mutex::new(Some(tx)),
            abort_rx: rx,
        })
    }

    fn mark_dead(&self, rank: usize, why: String) {
        tracing::warn!(rank, %why, "collective peer dead");
        self.dead.lock().unwrap().push((rank, why));
        // Dropping the only sender wakes every receiver of `abort_rx`, now and later.
        self.abort_tx.lock().unwrap().take();
    }

    fn mark_left(&self, rank: usize) {
        self.left.lock().unwrap().push(rank);
    }

    /// The first peer seen dead, if any.
    pub fn first_dead(&self) -> Option<(usize, String)> {
        self.dead.lock().unwrap().first().cloned()
    }

    /// Why `rank`'s channel closed.
    pub fn why_closed(&self, rank: usize) -> String {
        if let Some((_, why)) = self.dead.lock().unwrap().iter().find(|(r, _)| *r == rank) {
            return why.clone();
        }
        if self.left.lock().unwrap().contains(&rank) {
            return "it closed its communicator".into();
        }
        "its connection closed".into()
    }
}

/// The local end of a link to one peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub tx: Sender<Frame>,
    pub rx: Receiver<Frame>,
    /// The writer thread, joined on close so queued frames reach the peer before the
    /// process exits.
    pub writer: Option<std::thread::JoinHandle<()>>,
}

/// A rank's link to itself (MPI allows sending to oneself): one in-process queue.
pub(crate) fn to_self() -> Peer {
    let (tx, rx) = crossbeam_channel::unbounded();
    Peer {
        tx,
        rx,
        writer: None,
    }
}

/// Starts the reader and writer threads of the link to `rank`.
pub(crate) fn start(
    rank: usize,
    stream: TcpStream,
    health: Arc<Health>,
    heartbeat: Duration,
    dead_after: Duration,
) -> std::io::Result<Peer> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(dead_after))?;
    stream.set_write_timeout(Some(dead_after))?;
    let reader = stream.try_clone()?;
    let (out_tx, out_rx) = crossbeam_channel::bounded::<Frame>(16);
    let (in_tx, in_rx) = crossbeam_channel::unbounded::<Frame>();
    let h = health.clone();
    let writer = std::thread::Builder::new()
        .name(format!("coll-w{rank}"))
        .spawn(move || write_loop(rank, stream, out_rx, h, heartbeat))?;
    std::thread::Builder::new()
        .name(format!("coll-r{rank}"))
        .spawn(move || read_loop(rank, reader, in_tx, health, dead_after))?;
    Ok(Peer {
        tx: out_tx,
        rx: in_rx,
        writer: Some(writer),
    })
}

fn header(kind: u8, op: u8, len: usize, seq: u64, total: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0] = kind;
    h[1] = op;
    h[4..8].copy_from_slice(&(len as u32).to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&total.to_le_bytes());
    h
}

fn write_loop(
    rank: usize,
    mut s: TcpStream,
    rx: Receiver<Frame>,
    health: Arc<Health>,
    heartbeat: Duration,
) {
    loop {
        let res = match rx.recv_timeout(heartbeat) {
            Ok(f) => s
                .write_all(&header(KIND_DATA, f.op, f.data.len(), f.seq, f.total))
                .and_then(|_| s.write_all(&f.data)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                s.write_all(&header(KIND_HEARTBEAT, 0, 0, 0, 0))
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                // The communicator was dropped: say goodbye so the peer does not take
                // this rank's exit for a crash.
                // The goodbye names the dead rank that made this one give up, if any, so
                // peers report the cause rather than this echo of it.
                let cause = health.first_dead().map_or(0, |(r, _)| r as u64 + 1);
                let _ = s.write_all(&header(KIND_BYE, 0, 0, cause, 0));
                let _ = s.shutdown(Shutdown::Write);
                return;
            }
        };
        if let Err(e) = res {
            health.mark_dead(rank, format!("writing to it failed: {e}"));
            let _ = s.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn read_loop(
    rank: usize,
    mut s: TcpStream,
    tx: Sender<Frame>,
    health: Arc<Health>,
    dead_after: Duration,
) {
    let mut h = [0u8; HEADER];
    loop {
        if let Err(e) = s.read_exact(&mut h) {
            let why = match e.kind() {
                std::io::ErrorKind::UnexpectedEof => "its connection closed".to_string(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    format!("no heartbeat for {dead_after:?}")
                }
                _ => format!("reading from it failed: {e}"),
            };
            health.mark_dead(rank, why);
            return;
        }
        let len = u32::from_le_bytes(h[4..8].try_into().unwrap()) as usize;
        match h[0] {
            KIND_HEARTBEAT => continue,
            KIND_BYE => {
                let cause = u64::from_le_bytes(h[8..16].try_into().unwrap());
                if cause > 0 && health.first_dead().is_none() {
                    let dead = (cause - 1) as usize;
                    health.mark_dead(dead, format!("rank {rank} saw it die"));
                }
                health.mark_left(rank);
                return;
            }
            KIND_DATA => {}
            k => {
                health.mark_dead(rank, format!("it sent an unknown frame kind {k}"));
                return;
            }
        }
        let mut data = vec![0u8; len];
        if let Err(e) = s.read_exact(&mut data) {
            health.mark_dead(rank, format!("it closed mid-frame: {e}"));
            return;
        }
        let frame = Frame {
            op: h[1],
            seq: u64::from_le_bytes(h[8..16].try_into().unwrap()),
            total: u64::from_le_bytes(h[16..24].try_into().unwrap()),
            data,
        };
        if tx.send(frame).is_err() {
            return; // the communicator is gone
        }
    }
}

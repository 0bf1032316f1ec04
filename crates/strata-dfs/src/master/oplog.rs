//! The master's operation log and checkpoints.
//!
//! Files in the master's directory:
//! - `checkpoint`: bincode `(last_seq, Namespace)`, replaced atomically (write a temporary
//!   file, fsync, rename, fsync the directory).
//! - `oplog.<first_seq>`: records `[u32 len][u32 crc32c][u64 seq][bincode Op]`.
//!
//! **Group commit.** Mutations are applied in memory and their records handed, in order, to
//! one writer thread, which writes everything that is waiting, calls `fdatasync` once, and
//! then acknowledges all of those records together. A client's mutation is answered only
//! after its record is durable, so a crash loses no acknowledged mutation, while one fsync
//! covers many concurrent mutations (this is what makes tens of thousands of creates per
//! second possible on one disk).
//!
//! **Checkpoints** rotate the log: the namespace is cloned and a rotation marker queued
//! under the same lock, so the checkpoint holds exactly the ops up to `last_seq` and the new
//! log starts after it. Recovery loads the checkpoint and replays every log record with a
//! larger sequence number; a torn record at the end of the last log (a crash mid-write,
//! never acknowledged) ends the replay and is cut off.

use super::namespace::{Namespace, Op};
use crate::error::{DfsError, Result};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use tokio::sync::oneshot;

enum Msg {
    Record(Vec<u8>, oneshot::Sender<io::Result<()>>),
    Rotate(u64),
}

/// Handle to the log writer thread.
pub struct OpLog {
    tx: Sender<Msg>,
    dir: PathBuf,
}

fn io_err(p: &Path, e: io::Error) -> DfsError {
    DfsError::Io(p.display().to_string(), e)
}

fn log_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("oplog.{first_seq:020}"))
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Encodes one record.
pub fn encode(seq: u64, op: &Op) -> Vec<u8> {
    let body = bincode::serialize(&(seq, op)).expect("ops serialize");
    let mut rec = Vec::with_capacity(body.len() + 8);
    rec.extend_from_slice(&(body.len() as u32).to_le_bytes());
    rec.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    rec.extend_from_slice(&body);
    rec
}

/// The state recovered from disk, and the next sequence number.
pub struct Recovered {
    /// The namespace after replay.
    pub namespace: Namespace,
    /// Sequence number for the next op.
    pub next_seq: u64,
    /// Ops replayed from the logs.
    pub replayed: u64,
}

/// Loads the checkpoint and replays the logs of `dir`.
pub fn recover(dir: &Path) -> Result<Recovered> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let cp = dir.join("checkpoint");
    let (last_seq, mut namespace) = if cp.exists() {
        let bytes = std::fs::read(&cp).map_err(|e| io_err(&cp, e))?;
        bincode::deserialize::<(u64, Namespace)>(&bytes).map_err(|e| {
            DfsError::Corrupt(format!("{}: unreadable checkpoint: {e}", cp.display()))
        })?
    } else {
        (0, Namespace::default())
    };
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("oplog."))
        })
        .collect();
    logs.sort();
    let mut seq = last_seq;
    let mut replayed = 0;
    for (i, log) in logs.iter().enumerate() {
        let mut bytes = Vec::new();
        File::open(log)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| io_err(log, e))?;
        let mut pos = 0usize;
        let mut good = 0usize;
        while pos + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4")) as usize;
            let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4"));
            let Some(body) = bytes.get(pos + 8..pos + 8 + len) else {
                break;
            };
            if crc32c::crc32c(body) != crc {
                break;
            }
            let Ok((s, op)) = bincode::deserialize::<(u64, Op)>(body) else {
                break;
            };
            if s > seq {
                namespace.apply(&op).map_err(|e| {
                    DfsError::Internal(format!("replaying op {s} ({op:?}) failed: {e}"))
                })?;
                seq = s;
                replayed += 1;
            }
            pos += 8 + len;
            good = pos;
        }
        if good < bytes.len() {
            if i + 1 != logs.len() {
                return Err(DfsError::Corrupt(format!(
                    "{} is damaged at byte {good} but is not the last log",
                    log.display()
                )));
            }
            tracing::warn!(log = %log.display(), at = good, "cutting off a torn record at the end of the op log");
            OpenOptions::new()
                .write(true)
                .open(log)
                .and_then(|f| f.set_len(good as u64))
                .map_err(|e| io_err(log, e))?;
        }
    }
    Ok(Recovered {
        namespace,
        next_seq: seq + 1,
        replayed,
    })
}

impl OpLog {
    /// Starts the writer thread; new records go to a log starting at `next_seq`.
    pub fn start(dir: &Path, next_seq: u64) -> Result<OpLog> {
        let path = log_path(dir, next_seq);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        fsync_dir(dir).map_err(|e| io_err(dir, e))?;
        let (tx, rx) = channel();
        let d = dir.to_path_buf();
        std::thread::Builder::new()
            .name("oplog".into())
            .spawn(move || writer(d, file, rx))
            .map_err(|e| io_err(dir, e))?;
        Ok(OpLog {
            tx,
            dir: dir.to_path_buf(),
        })
    }

    /// Queues a record; the receiver fires once it is durable.
    pub fn append(&self, record: Vec<u8>) -> oneshot::Receiver<io::Result<()>> {
        let (done, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::Record(record, done));
        rx
    }

    /// Writes a checkpoint of `ns` (which holds every op up to `last_seq`) and rotates the
    /// log. Call with the namespace lock held so no op slips between the clone and the
    /// rotation; the checkpoint file itself is written on another thread.
    pub fn checkpoint(&self, ns: Namespace, last_seq: u64) {
        let _ = self.tx.send(Msg::Rotate(last_seq + 1));
        let dir = self.dir.clone();
        std::thread::spawn(move || {
            if let Err(e) = write_checkpoint(&dir, &ns, last_seq) {
                tracing::error!(error = %e, "checkpoint failed; the op log keeps everything");
            }
        });
    }
}

fn write_checkpoint(dir: &Path, ns: &Namespace, last_seq: u64) -> io::Result<()> {
    let tmp = dir.join("checkpoint.tmp");
    let mut f = BufWriter::new(File::create(&tmp)?);
    bincode::serialize_into(&mut f, &(last_seq, ns))
        .map_err(|e| io::Error::other(e.to_string()))?;
    f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, dir.join("checkpoint"))?;
    fsync_dir(dir)?;
    // Logs that end at or before last_seq are covered by the checkpoint.
    let keep = log_path(dir, last_seq + 1);
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let is_log = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("oplog."));
        if is_log && p < keep {
            std::fs::remove_file(&p)?;
        }
    }
    tracing::info!(last_seq, "checkpoint written");
    Ok(())
}

fn writer(dir: PathBuf, mut file: File, rx: Receiver<Msg>) {
    let mut batch: Vec<oneshot::Sender<io::Result<()>>> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    while let Ok(first) = rx.recv() {
        let mut rotate: Option<u64> = None;
        let mut next = Some(first);
        // Take everything already waiting: one write and one fsync for all of it.
        while let Some(msg) = next {
            match msg {
                Msg::Record(rec, done) => {
                    buf.extend_from_slice(&rec);
                    batch.push(done);
                }
                Msg::Rotate(seq) => {
                    rotate = Some(seq);
                    break;
                }
            }
            next = rx.try_recv().ok();
        }
        let result = file.write_all(&buf).and_then(|_| file.sync_data());
        buf.clear();
        for done in batch.drain(..) {
            let _ = done.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            });
        }
        if let Err(e) = result {
            tracing::error!(error = %e, "op log write failed: the master stops to keep its state consistent");
            std::process::exit(70);
        }
        if let Some(seq) = rotate {
            let path = log_path(&dir, seq);
            match OpenOptions::new().create(true).append(true).open(&path) {
                Ok(f) => file = f,
                Err(e) => {
                    tracing::error!(error = %e, "cannot open a new op log: the master stops");
                    std::process::exit(70);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(i: u64) -> Op {
        Op::Mkdir {
            path: format!("/d{i}"),
            parents: false,
            mtime: i,
        }
    }

    #[test]
    fn recovery_replays_checkpoint_and_logs_and_cuts_torn_tails() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut ns = Namespace::default();
        {
            let log = OpLog::start(dir.path(), 1).unwrap();
            for i in 1..=50 {
                ns.apply(&op(i)).unwrap();
                let done = log.append(encode(i, &op(i)));
                if i == 30 {
                    log.checkpoint(ns.clone(), 30);
                }
                rt.block_on(done).unwrap().unwrap();
            }
            // Let the checkpoint thread finish.
            for _ in 0..200 {
                if dir.path().join("checkpoint").exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        // A torn record at the end.
        let mut logs: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("oplog."))
            .collect();
        logs.sort();
        let last = logs.last().unwrap().clone();
        let mut f = OpenOptions::new().append(true).open(&last).unwrap();
        f.write_all(&encode(51, &op(51))[..9]).unwrap();
        let r = recover(dir.path()).unwrap();
        assert_eq!(r.namespace, ns);
        assert_eq!(r.next_seq, 51);
        assert!(r.replayed >= 20);
        assert!(dir.path().join("checkpoint").exists());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Fuzz (data-safety issue): recovery over an arbitrary op log or checkpoint (a
        /// damaged disk) returns a namespace or an error naming the file; never a panic or a
        /// huge allocation.
        #[test]
        fn recovery_of_arbitrary_files_never_panics(
            log in proptest::collection::vec(proptest::num::u8::ANY, 0..1024),
            checkpoint in proptest::option::of(proptest::collection::vec(proptest::num::u8::ANY, 0..512)),
        ) {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("oplog.1"), &log).unwrap();
            if let Some(c) = &checkpoint {
                std::fs::write(dir.path().join("checkpoint"), c).unwrap();
            }
            let _ = recover(dir.path());
        }

        /// Valid records with one byte flipped: the damaged record and what follows are cut
        /// off or refused; never a panic.
        #[test]
        fn flipped_bytes_in_a_log_never_panic(at in 0usize..4096, flip in 1u8..=255) {
            let dir = tempfile::tempdir().unwrap();
            let mut bytes = Vec::new();
            for i in 1..=20 {
                bytes.extend(encode(i, &op(i)));
            }
            let i = at % bytes.len();
            bytes[i] ^= flip;
            std::fs::write(dir.path().join("oplog.1"), &bytes).unwrap();
            let _ = recover(dir.path());
        }
    }
}

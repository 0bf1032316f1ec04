//! Running a job: restore, wiring, one thread per task, and the checkpoint coordinator.
//!
//! The coordinator (the calling thread) asks every source task to take checkpoint n; a
//! source records its split offsets, snapshots its chain and sends barrier n downstream;
//! each channel task aligns the barrier over its inputs, snapshots and passes it on. Tasks
//! hand their snapshots to the coordinator and go on processing; the coordinator writes
//! them, then the metadata that makes the checkpoint complete, then commits the sink files
//! staged for it. When every source has ended, one final checkpoint commits the rest and
//! the tasks are stopped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::api::{AnyBox, Graph, StreamEnv, Wiring};
use crate::checkpoint::{CheckpointStore, Metadata, commit};
use crate::context::{Restored, TaskInfo};
use crate::error::{Result, StreamError};
use crate::operator::Snapshot;
use crate::task::{Command, Report, Shared, Task};

/// One completed checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointStat {
    /// Its id.
    pub id: u64,
    /// From trigger to commit.
    pub duration: Duration,
    /// Bytes of operator state written.
    pub state_bytes: u64,
    /// Whether it was the final one.
    pub last: bool,
}

/// What a finished job reports.
#[derive(Debug, Clone, Default)]
pub struct JobStats {
    /// The checkpoint it resumed from.
    pub restored_from: Option<u64>,
    /// Checkpoints completed by this run.
    pub checkpoints: Vec<CheckpointStat>,
    /// Records read by the sources.
    pub records_in: u64,
    /// Wall time.
    pub elapsed: Duration,
}

struct InFlight {
    id: u64,
    started: Instant,
    acks: Vec<(String, Snapshot)>,
    last: bool,
    /// A savepoint's target (the checkpoint is copied there once complete), and whether
    /// the job stops after it.
    savepoint: Option<(String, bool)>,
}

impl StreamEnv {
    /// Runs the job to the end of its input (or until a task fails).
    pub fn execute(self) -> Result<JobStats> {
        let started = Instant::now();
        let g = self.g.borrow();
        validate(&g)?;
        let cfg = g.config.clone();
        let store = match &cfg.checkpoint {
            Some(c) => Some(CheckpointStore::open(&c.dir, &cfg.storage)?),
            None => None,
        };
        if cfg.restore && store.is_none() {
            return Err(StreamError::Invalid(
                "restore needs a checkpoint directory (--checkpoint-dir)".into(),
            ));
        }
        let mut restored: Option<Arc<Restored>> = None;
        let mut next_id = 1;
        if let Some(from) = &cfg.restore_from {
            // A savepoint: restore it, then checkpoint into a directory of this run's own.
            let Some(s) = &store else {
                return Err(StreamError::Invalid(
                    "restoring a savepoint needs a checkpoint directory for the new run \
                     (--checkpoint-dir)"
                        .into(),
                ));
            };
            if let Some(id) = s.complete()?.last() {
                return Err(StreamError::Invalid(format!(
                    "checkpoint directory {} already holds checkpoint {id}; a job started \
                     from a savepoint needs an empty one",
                    cfg.checkpoint
                        .as_ref()
                        .map(|c| c.dir.as_str())
                        .unwrap_or("")
                )));
            }
            let sp = CheckpointStore::open(from, &cfg.storage)?;
            let Some(&id) = sp.complete()?.last() else {
                return Err(StreamError::Invalid(format!(
                    "{from} holds no savepoint (no chk-N/metadata.json)"
                )));
            };
            let (meta, r) = sp.restore(id)?;
            commit(&meta.pending, &cfg.storage)?;
            s.drop_after(0)?;
            tracing::info!(savepoint = %from, checkpoint = id, "restored from a savepoint");
            restored = Some(Arc::new(r));
            next_id = id + 1;
        } else if let Some(s) = &store {
            let ids = s.complete()?;
            match (ids.last(), cfg.restore) {
                (Some(&id), true) => {
                    let (meta, r) = s.restore(id)?;
                    // The job may have died between the metadata and the commit.
                    commit(&meta.pending, &cfg.storage)?;
                    s.drop_after(id)?;
                    tracing::info!(checkpoint = id, "restored");
                    restored = Some(Arc::new(r));
                    next_id = id + 1;
                }
                (Some(&id), false) => {
                    return Err(StreamError::Invalid(format!(
                        "checkpoint directory {} already holds checkpoint {id} of an earlier \
                         run; pass --restore to resume it, or use an empty directory",
                        cfg.checkpoint
                            .as_ref()
                            .map(|c| c.dir.as_str())
                            .unwrap_or("")
                    )));
                }
                (None, _) => s.drop_after(0)?,
            }
        }
        let (reports_tx, reports) = crossbeam_channel::unbounded();
        let shared = Shared {
            reports: reports_tx,
            abort: Arc::new(AtomicBool::new(false)),
            records_in: Arc::new(AtomicU64::new(0)),
        };
        let mut wiring = Wiring {
            senders: HashMap::new(),
            receivers: HashMap::new(),
            commands: HashMap::new(),
            command_senders: Vec::new(),
            shared: shared.clone(),
            batch: cfg.batch_size,
        };
        for (s, st) in g.stages.iter().enumerate() {
            if let Some(make) = &st.channels {
                let ups: Vec<usize> = st.inputs.iter().map(|&u| g.stages[u].parallelism).collect();
                let (senders, receivers) = make(&ups, st.parallelism, cfg.channel_capacity);
                for (e, per_up) in senders.into_iter().enumerate() {
                    wiring
                        .senders
                        .insert((s, e), per_up.into_iter().map(Some).collect());
                }
                wiring
                    .receivers
                    .insert(s, receivers.into_iter().map(Some).collect());
            }
            if st.source {
                for i in 0..st.parallelism {
                    let (tx, rx) = crossbeam_channel::unbounded();
                    wiring.commands.insert((s, i), rx);
                    wiring.command_senders.push(tx);
                }
            }
        }
        let mut children: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
        for (i, n) in g.nodes.iter().enumerate() {
            if let Some((p, port)) = n.parent {
                children.entry(p).or_default().push((port, i));
            }
        }
        let mut tasks: Vec<Box<dyn Task>> = Vec::new();
        for (s, st) in g.stages.iter().enumerate() {
            for index in 0..st.parallelism {
                let info = TaskInfo {
                    stage: s,
                    index,
                    parallelism: st.parallelism,
                    max_parallelism: cfg.max_parallelism,
                    restored: restored.clone(),
                    storage: cfg.storage.clone(),
                    state_backend: cfg.state_backend.clone(),
                };
                let t = build_node(&g, &children, st.root, &info, &mut wiring)?;
                tasks.push(
                    *t.downcast::<Box<dyn Task>>()
                        .expect("stage root builds a task"),
                );
            }
        }
        let n_sources = wiring.command_senders.len();
        let command_senders = std::mem::take(&mut wiring.command_senders);
        drop(wiring);
        drop(g);
        let n_tasks = tasks.len();
        let mut threads = Vec::new();
        for t in tasks {
            let sh = shared.clone();
            let name = t.name();
            let h = std::thread::Builder::new()
                .name(format!("stream-{name}"))
                .spawn(move || {
                    let r = t.run();
                    let _ = sh.reports.send(match r {
                        Ok(()) => Report::Done,
                        Err(error) => Report::Failed { task: name, error },
                    });
                })
                .map_err(|e| StreamError::Invalid(format!("cannot start a task thread: {e}")))?;
            threads.push(h);
        }
        let restored_from = restored.as_ref().map(|r| r.checkpoint);
        drop(restored);

        let interval = cfg.checkpoint.as_ref().map(|c| c.interval);
        let retain = cfg.checkpoint.as_ref().map(|c| c.retain).unwrap_or(1);
        let mut stats = JobStats {
            restored_from,
            ..Default::default()
        };
        let mut done = 0;
        let mut ended = 0;
        let mut inflight: Option<InFlight> = None;
        let mut last_cp = Instant::now();
        let mut last_request_poll = Instant::now();
        let mut finished = false;
        let outcome: Result<()> = loop {
            if done == n_tasks {
                break Ok(());
            }
            if inflight.is_none() && !finished {
                let all_ended = ended == n_sources;
                // A user's savepoint request (`strata stream savepoint`), looked for twice
                // a second between checkpoints.
                let mut savepoint = None;
                if let Some(s) = &store
                    && last_request_poll.elapsed() >= Duration::from_millis(500)
                {
                    last_request_poll = Instant::now();
                    match s.take_savepoint_request() {
                        Ok(t) => savepoint = t,
                        Err(e) => break Err(e),
                    }
                }
                if all_ended
                    || savepoint.is_some()
                    || interval.is_some_and(|i| last_cp.elapsed() >= i)
                {
                    for c in &command_senders {
                        let _ = c.send(Command::Checkpoint(next_id));
                    }
                    inflight = Some(InFlight {
                        id: next_id,
                        started: Instant::now(),
                        acks: Vec::new(),
                        last: all_ended,
                        savepoint,
                    });
                    next_id += 1;
                }
            }
            match reports.recv_timeout(Duration::from_millis(10)) {
                Ok(Report::Ack { cp, task, snap }) => {
                    let Some(f) = inflight.as_mut() else { continue };
                    if f.id != cp {
                        continue;
                    }
                    f.acks.push((task, snap));
                    if f.acks.len() == n_tasks {
                        let f = inflight.take().expect("in flight");
                        let savepoint = f.savepoint.clone();
                        let done = complete(store.as_ref(), f, &cfg, retain).and_then(|stat| {
                            if let (Some((to, _)), Some(s)) = (&savepoint, &store) {
                                let target = CheckpointStore::open(to, &cfg.storage)?;
                                let bytes = s.copy_to(stat.id, &target)?;
                                tracing::info!(checkpoint = stat.id, target = %to, bytes, "savepoint written");
                            }
                            Ok(stat)
                        });
                        match done {
                            Ok(stat) => {
                                if stat.last || savepoint.as_ref().is_some_and(|s| s.1) {
                                    finished = true;
                                    for c in &command_senders {
                                        let _ = c.send(Command::Stop);
                                    }
                                }
                                stats.checkpoints.push(stat);
                            }
                            Err(e) => break Err(e),
                        }
                        last_cp = Instant::now();
                    }
                }
                Ok(Report::SourceEnded) => ended += 1,
                Ok(Report::Done) => done += 1,
                Ok(Report::Failed { task, error }) => {
                    break Err(match error {
                        StreamError::Disconnected => StreamError::Task {
                            task,
                            msg: "a downstream task stopped".into(),
                        },
                        e => StreamError::Task {
                            task,
                            msg: e.to_string(),
                        },
                    });
                }
                Err(_) => {}
            }
        };
        if outcome.is_err() {
            shared.abort.store(true, Ordering::Relaxed);
        }
        drop(command_senders);
        for t in threads {
            let _ = t.join();
        }
        outcome?;
        stats.records_in = shared.records_in.load(Ordering::Relaxed);
        stats.elapsed = started.elapsed();
        Ok(stats)
    }
}

fn validate(g: &Graph) -> Result<()> {
    let c = &g.config;
    if c.parallelism == 0 || c.parallelism > c.max_parallelism {
        return Err(StreamError::Invalid(format!(
            "parallelism {} must be between 1 and the max parallelism {}",
            c.parallelism, c.max_parallelism
        )));
    }
    if g.stages.is_empty() {
        return Err(StreamError::Invalid("the job has no source".into()));
    }
    if let Some(e) = g.errors.first() {
        return Err(StreamError::Invalid(e.clone()));
    }
    Ok(())
}

fn build_node(
    g: &Graph,
    children: &HashMap<usize, Vec<(usize, usize)>>,
    n: usize,
    info: &TaskInfo,
    w: &mut Wiring,
) -> Result<AnyBox> {
    let node = &g.nodes[n];
    let mut ports: Vec<Vec<AnyBox>> = (0..node.ports).map(|_| Vec::new()).collect();
    for &(port, c) in children.get(&n).map(|v| v.as_slice()).unwrap_or(&[]) {
        if g.nodes[c].stage == node.stage {
            ports[port].push(build_node(g, children, c, info, w)?);
        }
    }
    (node.build)(info, &format!("op{n}"), ports, w)
}

fn complete(
    store: Option<&CheckpointStore>,
    f: InFlight,
    cfg: &crate::api::StreamConfig,
    retain: usize,
) -> Result<CheckpointStat> {
    let mut pending = Vec::new();
    let mut tasks = Vec::new();
    let mut shared = std::collections::BTreeSet::new();
    let mut bytes = 0;
    for (task, snap) in &f.acks {
        pending.extend(snap.pending.iter().cloned());
        shared.extend(snap.refs.iter().cloned());
        if let Some(s) = store {
            for (name, data) in &snap.files {
                s.write_shared(name, data)?;
                bytes += data.len() as u64;
            }
            let (name, n) = s.write_task(f.id, task, &snap.states)?;
            tasks.push(name);
            bytes += n;
        }
    }
    if let Some(s) = store {
        s.write_metadata(&Metadata {
            id: f.id,
            tasks,
            pending: pending.clone(),
            shared: shared.into_iter().collect(),
            state_bytes: bytes,
            parallelism: cfg.parallelism,
            last: f.last,
        })?;
    }
    commit(&pending, &cfg.storage)?;
    if let Some(s) = store {
        s.prune(retain)?;
    }
    tracing::debug!(checkpoint = f.id, bytes, "checkpoint complete");
    let m = crate::metrics::get();
    m.checkpoints.inc();
    m.checkpoint_ms.set(f.started.elapsed().as_millis() as i64);
    m.checkpoint_bytes.set(bytes as i64);
    Ok(CheckpointStat {
        id: f.id,
        duration: f.started.elapsed(),
        state_bytes: bytes,
        last: f.last,
    })
}

//! The two kinds of task loop: a source task reads its splits and drives its operator
//! chain; a channel task reads its input channels, combines their watermarks and aligns
//! checkpoint barriers (a channel that delivered barrier n is not read again until every
//! input delivered it, so the snapshot holds exactly the records before the barrier).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Select, Sender};

use crate::channel::Msg;
use crate::context::TaskInfo;
use crate::error::{Result, StreamError, decode_err};
use crate::operator::{Data, Operator, Record, Snapshot};
use crate::source::{Poll, Source, SplitReader};
use crate::time::{PartitionClock, WatermarkCombiner, WatermarkStrategy, now_ms};

/// How often processing-time ticks reach the operators.
pub(crate) const TICK: Duration = Duration::from_millis(50);

/// From the coordinator to a source task.
pub(crate) enum Command {
    Checkpoint(u64),
    Stop,
}

/// From a task to the coordinator.
pub(crate) enum Report {
    Ack {
        cp: u64,
        task: String,
        snap: Snapshot,
    },
    SourceEnded,
    Done,
    Failed {
        task: String,
        error: StreamError,
    },
}

/// A task body, ready to run on its own thread.
pub(crate) trait Task: Send {
    fn run(self: Box<Self>) -> Result<()>;
    fn name(&self) -> String;
}

/// What every task shares with the job.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) reports: Sender<Report>,
    pub(crate) abort: Arc<AtomicBool>,
    pub(crate) records_in: Arc<AtomicU64>,
}

pub(crate) struct SourceTask<T> {
    pub(crate) info: TaskInfo,
    pub(crate) uid: String,
    pub(crate) source: Arc<dyn Source<T>>,
    pub(crate) strategy: WatermarkStrategy<T>,
    pub(crate) chain: Box<dyn Operator<T>>,
    pub(crate) commands: Receiver<Command>,
    pub(crate) shared: Shared,
    pub(crate) batch: usize,
}

struct Split<T> {
    name: String,
    reader: Box<dyn SplitReader<T>>,
    clock: PartitionClock,
    input: usize,
    ended: bool,
}

fn owner(split: &str, parallelism: usize) -> usize {
    let mut h: u64 = 1469598103934665603;
    for b in split.bytes() {
        h = (h ^ b as u64).wrapping_mul(1099511628211);
    }
    (h % parallelism as u64) as usize
}

impl<T: Data> SourceTask<T> {
    fn restored_offsets(&self) -> Result<HashMap<String, u64>> {
        let mut m = HashMap::new();
        for blob in self.info.restored_blobs(&self.uid) {
            let v: Vec<(String, u64)> = bincode::deserialize(blob).map_err(decode_err)?;
            m.extend(v);
        }
        Ok(m)
    }

    fn open_new(
        &self,
        splits: &mut Vec<Split<T>>,
        combiner: &mut WatermarkCombiner,
        offsets: &HashMap<String, u64>,
    ) -> Result<()> {
        for name in self.source.splits()? {
            if owner(&name, self.info.parallelism) != self.info.index
                || splits.iter().any(|s| s.name == name)
            {
                continue;
            }
            let offset = offsets.get(&name).copied().unwrap_or(0);
            let reader = self.source.open(&name, offset)?;
            let input = combiner.add_input();
            splits.push(Split {
                name,
                reader,
                clock: PartitionClock::new(),
                input,
                ended: false,
            });
        }
        Ok(())
    }

    fn checkpoint(&mut self, cp: u64, splits: &[Split<T>]) -> Result<()> {
        let offsets: Vec<(String, u64)> = splits
            .iter()
            .map(|s| (s.name.clone(), s.reader.offset()))
            .collect();
        let mut snap = Snapshot::default();
        snap.states.push((
            self.uid.clone(),
            bincode::serialize(&offsets).map_err(decode_err)?,
        ));
        self.chain.snapshot(cp, &mut snap)?;
        let _ = self.shared.reports.send(Report::Ack {
            cp,
            task: self.info.name(),
            snap,
        });
        Ok(())
    }
}

impl<T: Data> Task for SourceTask<T> {
    fn name(&self) -> String {
        self.info.name()
    }

    fn run(mut self: Box<Self>) -> Result<()> {
        let offsets = self.restored_offsets()?;
        let mut combiner = WatermarkCombiner::new(0);
        let mut splits: Vec<Split<T>> = Vec::new();
        self.open_new(&mut splits, &mut combiner, &offsets)?;
        let bound = self.strategy.out_of_orderness;
        let records = crate::metrics::get()
            .records
            .get_or_create(&crate::metrics::stage(self.info.stage))
            .clone();
        let idle_after = self.strategy.idle_timeout;
        let mut buf = Vec::with_capacity(self.batch);
        let mut last_tick = Instant::now();
        let mut last_list = Instant::now();
        let mut ended_reported = false;
        let mut idle_sent = false;
        loop {
            if self.shared.abort.load(Ordering::Relaxed) {
                return Ok(());
            }
            while let Ok(cmd) = self.commands.try_recv() {
                match cmd {
                    Command::Checkpoint(cp) => self.checkpoint(cp, &splits)?,
                    Command::Stop => return self.chain.finish(),
                }
            }
            let all_ended = splits.iter().all(|s| s.ended) && !self.source.discovers_splits();
            if all_ended {
                if !ended_reported {
                    ended_reported = true;
                    if splits.is_empty() {
                        // No split here: this task's share of the input is complete.
                        self.chain.watermark(crate::time::END_OF_TIME)?;
                    }
                    self.chain.tick(now_ms())?;
                    let _ = self.shared.reports.send(Report::SourceEnded);
                }
                match self.commands.recv_timeout(TICK) {
                    Ok(Command::Checkpoint(cp)) => self.checkpoint(cp, &splits)?,
                    Ok(Command::Stop) => return self.chain.finish(),
                    Err(RecvTimeoutError::Timeout) => self.chain.tick(now_ms())?,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
                continue;
            }
            let mut progressed = false;
            for s in splits.iter_mut().filter(|s| !s.ended) {
                buf.clear();
                match s.reader.poll(self.batch, &mut buf)? {
                    Poll::Ready => {
                        progressed = true;
                        idle_sent = false;
                        s.clock.last_active = Instant::now();
                        combiner.activate(s.input);
                        self.shared
                            .records_in
                            .fetch_add(buf.len() as u64, Ordering::Relaxed);
                        records.inc_by(buf.len() as u64);
                        for v in buf.drain(..) {
                            let ts = (self.strategy.timestamp)(&v);
                            s.clock.max_ts = s.clock.max_ts.max(ts);
                            self.chain.process(Record { ts, value: v })?;
                        }
                        if let Some(wm) = combiner.update(s.input, s.clock.watermark(bound)) {
                            crate::metrics::watermark(self.info.stage, wm);
                            self.chain.watermark(wm)?;
                        }
                    }
                    Poll::Idle => {
                        if idle_after.is_some_and(|d| s.clock.last_active.elapsed() >= d)
                            && let Some(wm) = combiner.set_idle(s.input)
                        {
                            crate::metrics::watermark(self.info.stage, wm);
                            self.chain.watermark(wm)?;
                        }
                    }
                    Poll::End => {
                        s.ended = true;
                        if let Some(wm) = combiner.end(s.input) {
                            crate::metrics::watermark(self.info.stage, wm);
                            self.chain.watermark(wm)?;
                        }
                    }
                }
            }
            if combiner.all_idle() && !idle_sent {
                idle_sent = true;
                self.chain.idle()?;
            }
            if last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                self.chain.tick(now_ms())?;
            }
            if self.source.discovers_splits() && last_list.elapsed() >= Duration::from_secs(1) {
                last_list = Instant::now();
                self.open_new(&mut splits, &mut combiner, &offsets)?;
            }
            if !progressed {
                // Nothing to read: wait for a command rather than spin.
                match self.commands.recv_timeout(Duration::from_millis(5)) {
                    Ok(Command::Checkpoint(cp)) => self.checkpoint(cp, &splits)?,
                    Ok(Command::Stop) => return self.chain.finish(),
                    Err(_) => {}
                }
            }
        }
    }
}

pub(crate) struct ChannelTask<T> {
    pub(crate) info: TaskInfo,
    pub(crate) inputs: Vec<Receiver<Msg<T>>>,
    pub(crate) chain: Box<dyn Operator<T>>,
    pub(crate) shared: Shared,
}

impl<T: Data> Task for ChannelTask<T> {
    fn name(&self) -> String {
        self.info.name()
    }

    fn run(mut self: Box<Self>) -> Result<()> {
        let n = self.inputs.len();
        let mut combiner = WatermarkCombiner::new(n);
        let records = crate::metrics::get()
            .records
            .get_or_create(&crate::metrics::stage(self.info.stage))
            .clone();
        let mut blocked = vec![false; n];
        let mut ended = vec![false; n];
        let mut barrier: Option<u64> = None;
        let mut last_tick = Instant::now();
        let mut idle_sent = false;
        loop {
            if self.shared.abort.load(Ordering::Relaxed) {
                return Ok(());
            }
            if ended.iter().all(|e| *e) {
                self.chain.finish()?;
                return Ok(());
            }
            let open: Vec<usize> = (0..n).filter(|&i| !blocked[i] && !ended[i]).collect();
            let mut sel = Select::new();
            for &i in &open {
                sel.recv(&self.inputs[i]);
            }
            let got = if open.is_empty() {
                None
            } else {
                match sel.select_timeout(TICK) {
                    Ok(op) => {
                        let i = open[op.index()];
                        Some((i, op.recv(&self.inputs[i]).unwrap_or(Msg::End)))
                    }
                    Err(_) => None,
                }
            };
            if let Some((i, msg)) = got {
                match msg {
                    Msg::Batch(b) => {
                        idle_sent = false;
                        combiner.activate(i);
                        records.inc_by(b.len() as u64);
                        for r in b {
                            self.chain.process(r)?;
                        }
                    }
                    Msg::Watermark(wm) => {
                        if let Some(w) = combiner.update(i, wm) {
                            crate::metrics::watermark(self.info.stage, w);
                            self.chain.watermark(w)?;
                        }
                    }
                    Msg::Idle => {
                        if let Some(w) = combiner.set_idle(i) {
                            crate::metrics::watermark(self.info.stage, w);
                            self.chain.watermark(w)?;
                        }
                        if combiner.all_idle() && !idle_sent {
                            idle_sent = true;
                            self.chain.idle()?;
                        }
                    }
                    Msg::Barrier(cp) => {
                        blocked[i] = true;
                        barrier = Some(cp);
                    }
                    Msg::End => {
                        ended[i] = true;
                        if let Some(w) = combiner.end(i) {
                            crate::metrics::watermark(self.info.stage, w);
                            self.chain.watermark(w)?;
                        }
                    }
                }
                if let Some(cp) = barrier
                    && (0..n).all(|j| blocked[j] || ended[j])
                {
                    let mut snap = Snapshot::default();
                    self.chain.snapshot(cp, &mut snap)?;
                    let _ = self.shared.reports.send(Report::Ack {
                        cp,
                        task: self.info.name(),
                        snap,
                    });
                    barrier = None;
                    blocked.iter_mut().for_each(|b| *b = false);
                }
            }
            if last_tick.elapsed() >= TICK {
                last_tick = Instant::now();
                self.chain.tick(now_ms())?;
            }
        }
    }
}

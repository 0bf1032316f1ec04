//! One stage on the cluster: placing its tasks on executor slots (delay scheduling on
//! preferred hosts), collecting their reports, retrying failures, resubmitting what a lost
//! executor held, and launching speculative copies of stragglers.

use super::driver::{Event, Exec, Shared};
use super::wire::{TaskDesc, TaskKind, TaskReport, ToExecutor, metrics_from_wire};
use crate::backend::{AnyResult, Decode};
use crate::context::Inner;
use crate::error::Error;
use crate::shuffle::ShuffleId;
use crossbeam_channel::RecvTimeoutError;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use strata_cluster::model::{StageUi, TaskUi, now_ms};

/// How long, from the start of the application, a stage waits for every granted executor to
/// connect and be ready before it starts with those that are (so that early tasks are not
/// placed without locality).
const REGISTRATION_WAIT: Duration = Duration::from_secs(10);

/// How long a stage waits with no executor at all before the job fails.
const NO_EXECUTOR_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) struct Pending {
    pub(super) idx: usize,
    pub(super) attempt: u32,
    pub(super) since: Instant,
    pub(super) speculative: bool,
    pub(super) avoid: Option<u64>,
}

pub(super) struct Running {
    pub(super) idx: usize,
    pub(super) attempt: u32,
    pub(super) exec: u64,
    pub(super) host: String,
    pub(super) start: Instant,
    pub(super) speculative: bool,
    pub(super) ui: usize,
}

pub(super) struct StageRun<'a> {
    /// Decodes a task's result as it arrives from an executor.
    pub(super) decode: Decode,
    pub(super) d: &'a Shared,
    pub(super) inner: &'a Inner,
    pub(super) job: u64,
    pub(super) stage: u64,
    pub(super) desc: &'a str,
    pub(super) parts: &'a [usize],
    pub(super) kind: TaskKind,
    pub(super) prefs: Vec<Vec<String>>,
    pub(super) statuses: Arc<Vec<(ShuffleId, Vec<Option<crate::shuffle::MapStatus>>)>>,
    pub(super) pending: VecDeque<Pending>,
    pub(super) next_attempt: Vec<u32>,
    pub(super) running: FxHashMap<u64, Running>,
    pub(super) done: Vec<Option<(u64, AnyResult)>>,
    pub(super) n_done: usize,
    pub(super) durations: Vec<Duration>,
    pub(super) speculated: FxHashSet<usize>,
    pub(super) no_exec_since: Option<Instant>,
}

impl StageRun<'_> {
    pub(super) fn ui_stage(&self, f: impl FnOnce(&mut StageUi)) {
        let mut ui = self.d.ui.lock();
        if let Some(s) = ui
            .jobs
            .iter_mut()
            .rev()
            .find(|j| j.id == self.job)
            .and_then(|j| j.stages.iter_mut().rev().find(|s| s.id == self.stage))
        {
            f(s);
        }
    }

    fn ui_task(&self, ui_index: usize, f: impl FnOnce(&mut TaskUi)) {
        self.ui_stage(|s| {
            if let Some(t) = s.tasks.get_mut(ui_index) {
                f(t)
            }
        });
    }

    pub(super) fn run(&mut self, rx: &crossbeam_channel::Receiver<Event>) -> Option<Error> {
        let n = self.parts.len();
        loop {
            if self.n_done == n {
                return None;
            }
            self.dispatch();
            if let Some(e) = self.check_executors() {
                return Some(e);
            }
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(Event::Done { task, exec, report }) => {
                    if let Some(e) = self.on_done(task, exec, report) {
                        return Some(e);
                    }
                }
                Ok(Event::Lost { exec }) => {
                    if let Some(e) = self.on_lost(exec) {
                        return Some(e);
                    }
                }
                Ok(Event::Wake) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Some(Error::Internal("stage event channel closed".into()));
                }
            }
            self.speculate();
        }
    }

    fn check_executors(&mut self) -> Option<Error> {
        let any = self.d.state.lock().executors.values().any(|e| e.alive);
        if any {
            self.no_exec_since = None;
            return None;
        }
        let since = *self.no_exec_since.get_or_insert_with(Instant::now);
        (since.elapsed() > NO_EXECUTOR_TIMEOUT).then(|| {
            Error::Cluster(format!(
                "no executor has been connected for {} s (application {}): check that workers are running and look at their logs (WORKER_DIR/logs/{}-N.log)",
                NO_EXECUTOR_TIMEOUT.as_secs(),
                self.d.app_id,
                self.d.app_id
            ))
        })
    }

    fn dispatch(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.d.started.elapsed() < REGISTRATION_WAIT {
            // Wait for executors still connecting, and for connected ones still replaying
            // the program up to this job; a lost one is not waited for.
            let st = self.d.state.lock();
            let behind = st
                .executors
                .values()
                .any(|e| e.alive && e.ready_job != Some(self.job));
            if st.executors.len() < self.d.granted || behind {
                return;
            }
        }
        let wait = Duration::from_millis(self.inner.config.locality_wait_ms);
        let mut launched: Vec<(usize, TaskUi)> = Vec::new();
        let mut local_count = 0u64;
        let mut pref_count = 0u64;
        {
            let mut st = self.d.state.lock();
            let job = self.job;
            let mut i = 0;
            while i < self.pending.len() {
                let free = |e: &Exec| e.alive && e.ready_job == Some(job) && e.busy < e.cores;
                if !st.executors.values().any(free) {
                    break;
                }
                let p = &self.pending[i];
                let want = &self.prefs[p.idx];
                let mut best: Option<(bool, usize, u64)> = None;
                for (id, e) in &st.executors {
                    if !free(e) || p.avoid == Some(*id) {
                        continue;
                    }
                    let cand = (want.contains(&e.host), e.cores - e.busy, *id);
                    if best.is_none_or(|b| (cand.0, cand.1) > (b.0, b.1)) {
                        best = Some(cand);
                    }
                }
                let Some((local, _, exec)) = best else {
                    i += 1;
                    continue;
                };
                if !want.is_empty() && !local && p.since.elapsed() < wait {
                    // An executor there that is still catching up with the program (not yet
                    // ready for this job) is worth waiting for too.
                    let local_exists = st
                        .executors
                        .values()
                        .any(|e| e.alive && want.contains(&e.host));
                    if local_exists {
                        i += 1;
                        continue;
                    }
                }
                let p = self.pending.remove(i).expect("index in range");
                let task = self.d.next_task.fetch_add(1, Ordering::Relaxed);
                let partition = self.parts[p.idx];
                st.tasks.insert(task, self.stage);
                let e = st.executors.get_mut(&exec).expect("chosen executor exists");
                e.busy += 1;
                let inject = self.inner.failures.read().should_fail(partition, p.attempt);
                let _ = e.tx.send(ToExecutor::Task(Box::new(TaskDesc {
                    task,
                    job: self.job,
                    stage: self.stage,
                    partition,
                    attempt: p.attempt,
                    kind: self.kind,
                    inputs: self.statuses.clone(),
                    inject_failure: inject,
                })));
                let locality = if want.is_empty() {
                    "-"
                } else {
                    pref_count += 1;
                    if local {
                        local_count += 1;
                        "node-local"
                    } else {
                        "any"
                    }
                };
                let host = e.host.clone();
                launched.push((
                    p.idx,
                    TaskUi {
                        partition,
                        attempt: p.attempt,
                        executor: exec,
                        host: host.clone(),
                        locality: locality.into(),
                        speculative: p.speculative,
                        status: "running".into(),
                        duration_ms: 0,
                        started_ms: now_ms(),
                        error: None,
                    },
                ));
                self.running.insert(
                    task,
                    Running {
                        idx: p.idx,
                        attempt: p.attempt,
                        exec,
                        host,
                        start: Instant::now(),
                        speculative: p.speculative,
                        ui: usize::MAX,
                    },
                );
                tracing::debug!(task, partition, exec, locality, "task launched");
            }
        }
        if launched.is_empty() {
            return;
        }
        let mut ui = self.d.ui.lock();
        ui.local_tasks += local_count;
        ui.tasks_with_preference += pref_count;
        let stage = ui
            .jobs
            .iter_mut()
            .rev()
            .find(|j| j.id == self.job)
            .and_then(|j| j.stages.iter_mut().rev().find(|s| s.id == self.stage));
        if let Some(s) = stage {
            for (idx, t) in launched {
                let ui_index = s.tasks.len();
                let attempt = t.attempt;
                s.tasks.push(t);
                if let Some(r) = self
                    .running
                    .values_mut()
                    .find(|r| r.idx == idx && r.attempt == attempt)
                {
                    r.ui = ui_index;
                }
            }
        }
    }

    fn on_done(&mut self, task: u64, exec: u64, report: TaskReport) -> Option<Error> {
        let run = self.running.remove(&task)?;
        let idx = run.idx;
        let partition = self.parts[idx];
        let elapsed = run.start.elapsed();
        let finish = |status: &'static str, error: Option<String>| {
            move |t: &mut TaskUi| {
                t.status = status.into();
                t.duration_ms = elapsed.as_millis() as u64;
                t.error = error;
            }
        };
        let listeners = self.inner.listeners.read().clone();
        match report.result {
            Ok(_) if self.done[idx].is_some() => {
                self.ui_task(run.ui, finish("superseded", None));
                None
            }
            Ok(bytes) => match (self.decode)(&bytes) {
                Ok(r) => {
                    if !report.cached.is_empty() {
                        let mut st = self.d.state.lock();
                        for b in &report.cached {
                            st.blocks.insert(*b, exec);
                        }
                    }
                    for (id, b) in &report.accumulators {
                        crate::accumulator::merge_remote(*id, b);
                    }
                    self.inner
                        .metrics
                        .task_succeeded(&metrics_from_wire(report.metrics));
                    self.done[idx] = Some((exec, r));
                    self.n_done += 1;
                    self.durations.push(elapsed);
                    if let TaskKind::Map(s) = self.kind {
                        let again = !self.d.state.lock().completed_maps.insert((s, partition));
                        if again {
                            self.d.ui.lock().map_tasks_rerun += 1;
                        }
                    }
                    self.ui_task(run.ui, finish("succeeded", None));
                    for l in &listeners {
                        l.on_task_end(self.stage, partition, run.attempt, true);
                    }
                    None
                }
                Err(e) => self.failed(
                    run,
                    Error::Internal(format!("undecodable task result: {e}")),
                ),
            },
            Err(we) => {
                let e = we.into_error(&run.host);
                self.failed(run, e)
            }
        }
    }

    fn failed(&mut self, run: Running, e: Error) -> Option<Error> {
        let idx = run.idx;
        let partition = self.parts[idx];
        let elapsed = run.start.elapsed();
        let msg = e.to_string();
        self.ui_task(run.ui, |t| {
            t.status = "failed".into();
            t.duration_ms = elapsed.as_millis() as u64;
            t.error = Some(msg);
        });
        self.inner.metrics.task_failed();
        for l in self.inner.listeners.read().iter() {
            l.on_task_end(self.stage, partition, run.attempt, false);
        }
        tracing::warn!(job = self.job, stage = self.stage, partition, attempt = run.attempt, host = %run.host, error = %e, "task failed");
        if self.done[idx].is_some() || self.running.values().any(|r| r.idx == idx) {
            return None;
        }
        if matches!(e, Error::FetchFailed { .. }) || !e.is_retryable() {
            return Some(e);
        }
        let attempts = self.next_attempt[idx];
        if attempts < self.inner.config.task_max_attempts {
            self.next_attempt[idx] += 1;
            self.pending.push_back(Pending {
                idx,
                attempt: attempts,
                since: Instant::now(),
                speculative: false,
                avoid: None,
            });
            return None;
        }
        Some(Error::TaskFailed {
            job: self.job,
            stage: self.stage,
            stage_name: self.desc.to_string(),
            partition,
            attempts,
            cause: format!("{e} (last attempt on {})", run.host),
        })
    }

    fn on_lost(&mut self, exec: u64) -> Option<Error> {
        let lost: Vec<u64> = self
            .running
            .iter()
            .filter(|(_, r)| r.exec == exec)
            .map(|(t, _)| *t)
            .collect();
        for t in lost {
            let run = self.running.remove(&t).expect("listed above");
            let e = Error::Remote(format!("executor {exec} on {} was lost", run.host));
            if let Some(e) = self.failed(run, e) {
                return Some(e);
            }
        }
        // Outputs this stage reads that lived there are gone: re-run their map tasks now
        // rather than wait for reducers to fail fetching them.
        for (shuffle, statuses) in self.statuses.iter() {
            let lost = statuses.iter().position(|s| {
                s.as_ref()
                    .and_then(|s| s.location.as_ref())
                    .is_some_and(|l| l.executor == exec)
            });
            if let Some(map) = lost {
                return Some(Error::FetchFailed {
                    shuffle: *shuffle,
                    map,
                    reason: format!("executor {exec} holding it was lost"),
                });
            }
        }
        // A map stage's finished outputs on that executor are gone with it.
        if let TaskKind::Map(_) = self.kind {
            for idx in 0..self.done.len() {
                if self.done[idx].as_ref().is_some_and(|(e, _)| *e == exec) {
                    self.done[idx] = None;
                    self.n_done -= 1;
                    self.d.ui.lock().map_outputs_lost += 1;
                    let attempt = self.next_attempt[idx];
                    self.next_attempt[idx] += 1;
                    self.pending.push_back(Pending {
                        idx,
                        attempt,
                        since: Instant::now(),
                        speculative: false,
                        avoid: None,
                    });
                }
            }
        }
        None
    }

    fn speculate(&mut self) {
        let cfg = &self.inner.config;
        let n = self.parts.len();
        if !cfg.speculation
            || self.durations.is_empty()
            || (self.n_done as f64) < cfg.speculation_quantile * n as f64
        {
            return;
        }
        let mut d = self.durations.clone();
        d.sort();
        let median = d[d.len() / 2];
        let threshold = median
            .mul_f64(cfg.speculation_multiplier)
            .max(Duration::from_millis(100));
        let stragglers: Vec<(usize, u64)> = self
            .running
            .values()
            .filter(|r| {
                !r.speculative
                    && !self.speculated.contains(&r.idx)
                    && self.done[r.idx].is_none()
                    && r.start.elapsed() > threshold
            })
            .map(|r| (r.idx, r.exec))
            .collect();
        for (idx, exec) in stragglers {
            self.speculated.insert(idx);
            let attempt = self.next_attempt[idx];
            self.next_attempt[idx] += 1;
            tracing::info!(
                stage = self.stage,
                partition = self.parts[idx],
                "speculative copy of a straggler"
            );
            self.d.ui.lock().speculative_tasks += 1;
            self.pending.push_back(Pending {
                idx,
                attempt,
                since: Instant::now() - Duration::from_secs(3600),
                speculative: true,
                avoid: Some(exec),
            });
        }
    }
}

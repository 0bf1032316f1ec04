//! The driver's side of cluster mode: executor connections, task placement, failure
//! handling, and the progress report the master's web UI shows.

use super::ClusterLaunch;
use super::wire::{
    TaskDesc, TaskKind, TaskReport, ToDriver, ToExecutor, metrics_from_wire, recv, send,
};
use crate::context::Inner;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::shuffle::{ShuffleId, ShuffleManager};
use crossbeam_channel::{RecvTimeoutError, Sender, unbounded};
use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufReader, BufWriter};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use strata_cluster::client::AppClient;
use strata_cluster::model::{AppUi, ExecutorUi, JobUi, StageUi, TaskUi, now_ms};
use strata_cluster::proto::AppRequest;
use strata_common::StrataConfig;

/// How long a stage waits with no executor at all before the job fails.
const NO_EXECUTOR_TIMEOUT: Duration = Duration::from_secs(60);
/// Jobs kept in the progress report.
const UI_JOBS: usize = 100;
/// How long the first stage waits for every granted executor to connect before it starts
/// with those that have (so that early tasks are not placed without locality).
const REGISTRATION_WAIT: Duration = Duration::from_secs(10);

struct Exec {
    host: String,
    cores: usize,
    busy: usize,
    ready_job: Option<u64>,
    alive: bool,
    tx: Sender<ToExecutor>,
    conn: TcpStream,
    last_seen: Instant,
    tasks_done: u64,
    said_bye: bool,
}

pub(crate) enum Event {
    Done {
        task: u64,
        exec: u64,
        report: TaskReport,
    },
    Lost {
        exec: u64,
    },
    Wake,
}

#[derive(Default)]
struct State {
    executors: BTreeMap<u64, Exec>,
    stages: FxHashMap<u64, Sender<Event>>,
    tasks: FxHashMap<u64, u64>,
    job_results: FxHashMap<u64, Result<Arc<Vec<u8>>, String>>,
    shuffle_stage: FxHashMap<ShuffleId, u64>,
    completed_maps: FxHashSet<(ShuffleId, usize)>,
    /// Where cached partitions live: `(dataset, partition)` → executor.
    blocks: FxHashMap<(u64, usize), u64>,
}

struct Shared {
    cfg: StrataConfig,
    app_id: String,
    state: Mutex<State>,
    ui: Mutex<AppUi>,
    shuffle: Arc<ShuffleManager>,
    shutdown: AtomicBool,
    next_task: AtomicU64,
    last_error: Mutex<Option<String>>,
    granted: usize,
    started: Instant,
}

/// A running driver: owned by the context; dropping it ends the application.
pub(crate) struct Driver {
    shared: Arc<Shared>,
    heartbeat: Option<JoinHandle<()>>,
}

/// The local address this host uses to reach `master`: the one executors can reach us on.
fn advertised_host(master: &str) -> String {
    let probe = || -> std::io::Result<String> {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
        s.connect(master)?;
        Ok(s.local_addr()?.ip().to_string())
    };
    probe().unwrap_or_else(|_| "127.0.0.1".into())
}

impl Driver {
    pub fn start(
        cfg: &StrataConfig,
        launch: &ClusterLaunch,
        shuffle: Arc<ShuffleManager>,
    ) -> Result<Driver> {
        let cluster_err = |m: String| Error::Cluster(m);
        let host = advertised_host(&launch.master);
        let listener = TcpListener::bind((host.as_str(), 0))
            .or_else(|_| TcpListener::bind("0.0.0.0:0"))
            .map_err(|e| cluster_err(format!("driver cannot listen for executors: {e}")))?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let addr = format!("{host}:{port}");
        let mut client = AppClient::connect(&launch.master, &cfg.cluster.secret)
            .map_err(|e| cluster_err(e.to_string()))?;
        let grant = client
            .submit(AppRequest {
                name: launch.name.clone(),
                driver: addr.clone(),
                executors: launch.executors,
                cores: launch.cores,
                memory: 0,
                program: launch.program.clone().unwrap_or_default(),
                args: launch.args.clone(),
                env: Vec::new(),
            })
            .map_err(|e| cluster_err(e.to_string()))?;
        tracing::info!(app = %grant.app_id, executors = grant.executors.len(), driver = %addr, "application started");
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            app_id: grant.app_id,
            state: Mutex::new(State::default()),
            ui: Mutex::new(AppUi::default()),
            shuffle,
            shutdown: AtomicBool::new(false),
            next_task: AtomicU64::new(0),
            last_error: Mutex::new(None),
            granted: grant.executors.len(),
            started: Instant::now(),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("strata-driver-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.shutdown.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        let s = s.clone();
                        std::thread::spawn(move || handle_executor(s, conn));
                    }
                }
            })
            .map_err(|e| cluster_err(e.to_string()))?;
        let s = shared.clone();
        let heartbeat = std::thread::Builder::new()
            .name("strata-driver-heartbeat".into())
            .spawn(move || heartbeat_loop(s, client))
            .map_err(|e| cluster_err(e.to_string()))?;
        Ok(Driver {
            shared,
            heartbeat: Some(heartbeat),
        })
    }

    /// The application id the master gave.
    pub fn app_id(&self) -> &str {
        &self.shared.app_id
    }

    /// A copy of the progress report.
    pub fn report(&self) -> AppUi {
        snapshot(&self.shared)
    }

    /// The host of the executor holding cached partition `p` of dataset `rdd`, if any.
    pub fn cached_host(&self, rdd: u64, p: usize) -> Option<String> {
        let st = self.shared.state.lock();
        let e = st.blocks.get(&(rdd, p))?;
        st.executors
            .get(e)
            .filter(|e| e.alive)
            .map(|e| e.host.clone())
    }

    /// Counts a map output a reducer could not fetch (it will be recomputed).
    pub fn output_lost(&self) {
        self.shared.ui.lock().map_outputs_lost += 1;
    }

    pub fn job_started(&self, job: u64, name: &str) {
        let mut ui = self.shared.ui.lock();
        ui.jobs.push(JobUi {
            id: job,
            name: name.to_string(),
            status: "running".into(),
            started_ms: now_ms(),
            ..JobUi::default()
        });
        if ui.jobs.len() > UI_JOBS {
            ui.jobs.remove(0);
        }
    }

    /// Records a job's outcome and sends it to every executor waiting for it.
    pub fn job_finished(&self, job: u64, result: Result<Arc<Vec<u8>>, String>) {
        {
            let mut ui = self.shared.ui.lock();
            if let Some(j) = ui.jobs.iter_mut().rev().find(|j| j.id == job) {
                j.duration_ms = now_ms().saturating_sub(j.started_ms);
                j.status = if result.is_ok() {
                    "succeeded"
                } else {
                    "failed"
                }
                .into();
                j.error = result.as_ref().err().cloned();
            }
        }
        if let Err(e) = &result {
            *self.shared.last_error.lock() = Some(e.clone());
        }
        let mut st = self.shared.state.lock();
        for e in st.executors.values_mut() {
            if e.alive && e.ready_job == Some(job) {
                let _ = e.tx.send(ToExecutor::JobEnd {
                    job,
                    result: result.clone(),
                });
                e.ready_job = None;
            }
        }
        st.job_results.insert(job, result);
    }

    /// Runs one stage's tasks on the executors.
    #[allow(clippy::too_many_arguments)]
    pub fn run_stage<R: Data>(
        &self,
        inner: &Inner,
        job: u64,
        stage: u64,
        desc: &str,
        parts: &[usize],
        kind: TaskKind,
        prefs: Vec<Vec<String>>,
        inputs: Vec<ShuffleId>,
    ) -> (Vec<(usize, R)>, Option<Error>) {
        let (tx, rx) = unbounded::<Event>();
        let statuses: Arc<Vec<_>> = Arc::new(
            inputs
                .iter()
                .map(|s| (*s, inner.shuffle.map_outputs(*s)))
                .collect(),
        );
        {
            let mut st = self.shared.state.lock();
            st.stages.insert(stage, tx);
            let parents: Vec<u64> = inputs
                .iter()
                .filter_map(|s| st.shuffle_stage.get(s).copied())
                .collect();
            if let TaskKind::Map(s) = kind {
                st.shuffle_stage.insert(s, stage);
            }
            let mut ui = self.shared.ui.lock();
            if let Some(j) = ui.jobs.iter_mut().rev().find(|j| j.id == job) {
                j.stages.push(StageUi {
                    id: stage,
                    name: desc.to_string(),
                    shuffle: match kind {
                        TaskKind::Map(s) => Some(s),
                        TaskKind::Result => None,
                    },
                    parents,
                    status: "running".into(),
                    num_tasks: parts.len(),
                    tasks: Vec::new(),
                });
            }
        }
        let mut run = StageRun::<R> {
            d: &self.shared,
            inner,
            job,
            stage,
            desc,
            parts,
            kind,
            prefs,
            statuses,
            pending: parts
                .iter()
                .enumerate()
                .map(|(i, _)| Pending {
                    idx: i,
                    attempt: 0,
                    since: Instant::now(),
                    speculative: false,
                    avoid: None,
                })
                .collect(),
            next_attempt: vec![1; parts.len()],
            running: FxHashMap::default(),
            done: (0..parts.len()).map(|_| None).collect(),
            n_done: 0,
            durations: Vec::new(),
            speculated: FxHashSet::default(),
            no_exec_since: None,
        };
        let failure = run.run(&rx);
        let done = std::mem::take(&mut run.done);
        let leftover: Vec<u64> = run.running.keys().copied().collect();
        {
            let mut st = self.shared.state.lock();
            st.stages.remove(&stage);
            for t in &leftover {
                st.tasks.remove(t);
            }
        }
        run.ui_stage(|s| {
            s.status = if failure.is_none() {
                "succeeded"
            } else {
                "failed"
            }
            .into();
            for t in &mut s.tasks {
                if t.status == "running" {
                    t.status = "superseded".into();
                }
            }
        });
        let out = done
            .into_iter()
            .enumerate()
            .filter_map(|(i, d)| d.map(|(_, r)| (parts[i], r)))
            .collect();
        (out, failure)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        {
            let st = self.shared.state.lock();
            for e in st.executors.values().filter(|e| e.alive) {
                let _ = e.tx.send(ToExecutor::Shutdown);
            }
        }
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
    }
}

struct Pending {
    idx: usize,
    attempt: u32,
    since: Instant,
    speculative: bool,
    avoid: Option<u64>,
}

struct Running {
    idx: usize,
    attempt: u32,
    exec: u64,
    host: String,
    start: Instant,
    speculative: bool,
    ui: usize,
}

struct StageRun<'a, R> {
    d: &'a Shared,
    inner: &'a Inner,
    job: u64,
    stage: u64,
    desc: &'a str,
    parts: &'a [usize],
    kind: TaskKind,
    prefs: Vec<Vec<String>>,
    statuses: Arc<Vec<(ShuffleId, Vec<Option<crate::shuffle::MapStatus>>)>>,
    pending: VecDeque<Pending>,
    next_attempt: Vec<u32>,
    running: FxHashMap<u64, Running>,
    done: Vec<Option<(u64, R)>>,
    n_done: usize,
    durations: Vec<Duration>,
    speculated: FxHashSet<usize>,
    no_exec_since: Option<Instant>,
}

impl<R: Data> StageRun<'_, R> {
    fn ui_stage(&self, f: impl FnOnce(&mut StageUi)) {
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

    fn run(&mut self, rx: &crossbeam_channel::Receiver<Event>) -> Option<Error> {
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
            let st = self.d.state.lock();
            let ready = st
                .executors
                .values()
                .filter(|e| e.alive && e.ready_job == Some(self.job))
                .count();
            if ready < self.d.granted && st.executors.len() < self.d.granted {
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
                    let local_exists = st
                        .executors
                        .values()
                        .any(|e| e.alive && e.ready_job == Some(job) && want.contains(&e.host));
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
            Ok(bytes) => match bincode::deserialize::<R>(&bytes) {
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

fn handle_executor(s: Arc<Shared>, conn: TcpStream) {
    let _ = conn.set_nodelay(true);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::with_capacity(1 << 16, read_half);
    let Ok(Some(ToDriver::Hello {
        secret,
        app,
        executor,
        host,
        shuffle_addr,
        cores,
    })) = recv::<_, ToDriver>(&mut r)
    else {
        return;
    };
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut w = BufWriter::with_capacity(1 << 16, write_half);
    if !strata_net::auth::secrets_match(&s.cfg.cluster.secret, &secret) || app != s.app_id {
        let _ = send(
            &mut w,
            &ToExecutor::Refused("wrong cluster secret or application id".into()),
        );
        return;
    }
    let (tx, rx) = unbounded::<ToExecutor>();
    std::thread::spawn(move || {
        for msg in rx {
            if send(&mut w, &msg).is_err() {
                break;
            }
        }
    });
    let _ = tx.send(ToExecutor::Welcome);
    tracing::info!(executor, host = %host, shuffle = %shuffle_addr, cores, "executor connected");
    {
        let mut st = s.state.lock();
        st.executors.insert(
            executor,
            Exec {
                host: host.clone(),
                cores: cores.max(1),
                busy: 0,
                ready_job: None,
                alive: true,
                tx,
                conn: conn.try_clone().expect("socket clone"),
                last_seen: Instant::now(),
                tasks_done: 0,
                said_bye: false,
            },
        );
    }
    let timeout = Duration::from_millis(s.cfg.cluster.node_timeout_ms);
    let _ = conn.set_read_timeout(Some(timeout));
    loop {
        let msg = match recv::<_, ToDriver>(&mut r) {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                tracing::info!(executor, error = %e, "executor connection closed");
                break;
            }
        };
        let mut st = s.state.lock();
        if let Some(e) = st.executors.get_mut(&executor) {
            e.last_seen = Instant::now();
        }
        match msg {
            ToDriver::Ready { job } => {
                if let Some(result) = st.job_results.get(&job).cloned() {
                    if let Some(e) = st.executors.get(&executor) {
                        let _ = e.tx.send(ToExecutor::JobEnd { job, result });
                    }
                } else if let Some(e) = st.executors.get_mut(&executor) {
                    e.ready_job = Some(job);
                    for tx in st.stages.values() {
                        let _ = tx.send(Event::Wake);
                    }
                }
            }
            ToDriver::TaskDone(report) => {
                if let Some(e) = st.executors.get_mut(&executor) {
                    e.busy = e.busy.saturating_sub(1);
                    e.tasks_done += 1;
                }
                let task = report.task;
                if let Some(stage) = st.tasks.remove(&task)
                    && let Some(tx) = st.stages.get(&stage)
                {
                    let _ = tx.send(Event::Done {
                        task,
                        exec: executor,
                        report,
                    });
                } else {
                    for tx in st.stages.values() {
                        let _ = tx.send(Event::Wake);
                    }
                }
            }
            ToDriver::Bye => {
                if let Some(e) = st.executors.get_mut(&executor) {
                    e.said_bye = true;
                }
            }
            ToDriver::Heartbeat | ToDriver::Hello { .. } => {}
        }
    }
    executor_lost(&s, executor);
}

fn executor_lost(s: &Shared, executor: u64) {
    let mut st = s.state.lock();
    let Some(e) = st.executors.get_mut(&executor) else {
        return;
    };
    if !e.alive {
        return;
    }
    e.alive = false;
    let _ = e.conn.shutdown(std::net::Shutdown::Both);
    let host = e.host.clone();
    let bye = e.said_bye;
    if s.shutdown.load(Ordering::Relaxed) {
        return;
    }
    st.blocks.retain(|_, e| *e != executor);
    let forgotten = s.shuffle.forget_executor(executor);
    if bye {
        // Its program ended with the last job: nothing of value is lost.
        tracing::info!(executor, host = %host, "executor finished");
    } else {
        s.ui.lock().map_outputs_lost += forgotten;
        tracing::warn!(executor, host = %host, map_outputs_lost = forgotten, "executor lost");
    }
    for tx in st.stages.values() {
        let _ = tx.send(Event::Lost { exec: executor });
    }
}

fn heartbeat_loop(s: Arc<Shared>, mut client: AppClient) {
    let every = Duration::from_millis(s.cfg.cluster.heartbeat_ms);
    let timeout = Duration::from_millis(s.cfg.cluster.node_timeout_ms);
    let mut warned = false;
    while !s.shutdown.load(Ordering::Relaxed) {
        let mut silent = Vec::new();
        {
            let st = s.state.lock();
            for (id, e) in st.executors.iter().filter(|(_, e)| e.alive) {
                let _ = e.tx.send(ToExecutor::Ping);
                if e.last_seen.elapsed() > timeout {
                    silent.push(*id);
                }
            }
        }
        for id in silent {
            tracing::warn!(executor = id, "executor silent too long");
            executor_lost(&s, id);
        }
        let ui = snapshot(&s);
        match client.heartbeat(&s.app_id, &ui) {
            Ok(true) => warned = false,
            Ok(false) if !warned => {
                warned = true;
                tracing::warn!(app = %s.app_id, "the master no longer lists this application as running");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "application heartbeat failed"),
        }
        // Sleep in small steps so that shutdown is prompt.
        let start = Instant::now();
        while start.elapsed() < every && !s.shutdown.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let ui = snapshot(&s);
    client.finish(&s.app_id, s.last_error.lock().clone(), &ui);
}

fn snapshot(s: &Shared) -> AppUi {
    let mut ui = s.ui.lock().clone();
    let now = now_ms();
    for j in &mut ui.jobs {
        if j.status == "running" {
            j.duration_ms = now.saturating_sub(j.started_ms);
        }
        for st in &mut j.stages {
            for t in &mut st.tasks {
                if t.status == "running" {
                    t.duration_ms = now.saturating_sub(t.started_ms);
                }
            }
        }
    }
    let st = s.state.lock();
    ui.executors = st
        .executors
        .iter()
        .map(|(id, e)| ExecutorUi {
            id: *id,
            host: e.host.clone(),
            cores: e.cores,
            alive: e.alive,
            state: match (e.alive, e.said_bye) {
                (true, _) => "alive",
                (false, true) => "exited",
                (false, false) => "lost",
            }
            .into(),
            tasks_done: e.tasks_done,
        })
        .collect();
    ui
}

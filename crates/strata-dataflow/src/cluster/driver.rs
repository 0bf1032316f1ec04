//! The driver's side of cluster mode: executor connections, task placement, failure
//! handling, and the progress report the master's web UI shows.

use super::ClusterLaunch;
use super::stage::{Pending, StageRun};
use super::wire::{TaskKind, TaskReport, ToDriver, ToExecutor, recv, send};
use crate::backend::{AnyResult, Decode, Stage, TaskBackend};
use crate::context::Inner;
use crate::error::{Error, Result};
use crate::shuffle::{ShuffleId, ShuffleManager};
use crossbeam_channel::{Sender, unbounded};
use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use strata_cluster::client::AppClient;
use strata_cluster::model::{AppUi, ExecutorUi, JobUi, StageUi, now_ms};
use strata_cluster::proto::AppRequest;
use strata_common::StrataConfig;

/// Jobs kept in the progress report.
const UI_JOBS: usize = 100;

pub(super) struct Exec {
    pub(super) host: String,
    pub(super) cores: usize,
    pub(super) busy: usize,
    pub(super) ready_job: Option<u64>,
    pub(super) alive: bool,
    pub(super) tx: Sender<ToExecutor>,
    pub(super) conn: TcpStream,
    pub(super) last_seen: Instant,
    pub(super) tasks_done: u64,
    pub(super) said_bye: bool,
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
pub(super) struct State {
    pub(super) executors: BTreeMap<u64, Exec>,
    pub(super) stages: FxHashMap<u64, Sender<Event>>,
    pub(super) tasks: FxHashMap<u64, u64>,
    pub(super) job_results: FxHashMap<u64, Result<Arc<Vec<u8>>, String>>,
    pub(super) shuffle_stage: FxHashMap<ShuffleId, u64>,
    pub(super) completed_maps: FxHashSet<(ShuffleId, usize)>,
    /// Where cached partitions live: `(dataset, partition)` → executor.
    pub(super) blocks: FxHashMap<(u64, usize), u64>,
}

pub(super) struct Shared {
    pub(super) cfg: StrataConfig,
    pub(super) app_id: String,
    pub(super) state: Mutex<State>,
    pub(super) ui: Mutex<AppUi>,
    pub(super) shuffle: Arc<ShuffleManager>,
    pub(super) shutdown: AtomicBool,
    pub(super) next_task: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
    pub(super) granted: usize,
    pub(super) started: Instant,
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

    /// Runs one stage's tasks on the executors (results decoded with `decode`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_stage(
        &self,
        inner: &Inner,
        job: u64,
        stage: u64,
        desc: &str,
        parts: &[usize],
        kind: TaskKind,
        prefs: Vec<Vec<String>>,
        inputs: Vec<ShuffleId>,
        decode: Decode,
    ) -> (Vec<(usize, AnyResult)>, Option<Error>) {
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
        let mut run = StageRun {
            decode,
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

impl TaskBackend for Driver {
    fn run_stage(
        &self,
        inner: &Arc<Inner>,
        s: Stage<'_>,
    ) -> (Vec<(usize, AnyResult)>, Option<Error>) {
        Driver::run_stage(
            self, inner, s.job, s.stage, s.desc, s.parts, s.kind, s.prefs, s.inputs, s.decode,
        )
    }

    fn wants_locality(&self) -> bool {
        true
    }

    fn cached_host(&self, rdd: u64, partition: usize) -> Option<String> {
        Driver::cached_host(self, rdd, partition)
    }

    fn output_lost(&self) {
        Driver::output_lost(self)
    }

    fn job_started(&self, job: u64, name: &str) {
        Driver::job_started(self, job, name)
    }

    fn job_finished(&self, job: u64, results: &dyn Fn() -> Result<Arc<Vec<u8>>, String>) {
        Driver::job_finished(self, job, results())
    }

    fn app_id(&self) -> Option<String> {
        Some(Driver::app_id(self).to_string())
    }

    fn report(&self) -> Option<AppUi> {
        Some(Driver::report(self))
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
    if !strata_net::auth::token_ok(
        &s.cfg.cluster.secret,
        strata_net::auth::purpose::DATAFLOW,
        &secret,
    ) || app != s.app_id
    {
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

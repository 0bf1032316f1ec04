//! The resource manager's master: who is in the cluster, which applications run where.
//!
//! All state is soft (rebuilt from registrations): workers register and heartbeat every
//! `cluster.heartbeat_ms`; one silent for `cluster.node_timeout_ms` is declared lost, and its
//! executors with it. Drivers ask for executors ([`SubmitApp`](crate::proto::AppRequest)); the
//! master places them one per worker in turn (fewest executors first) and pushes launch
//! commands down each worker's command stream at once. A running application whose driver
//! stops heart-beating is failed ("driver lost") and its executors are killed everywhere.
//! While an application has fewer live executors than it asked for (a worker died), the
//! master launches replacements on live workers, including one that rejoins.
//!
//! Beside applications, the master runs declarative jobs ([`crate::jobs`]): `strata job
//! submit` specs placed by band, DRF and gang, preempting lower bands, restarted per policy.

use crate::jobs::{self, Jobs, WorkerView};
use crate::model::{AppUi, now_ms};
use crate::proto::{
    self, AppFinish, AppGrant, AppHeartbeatReply, AppHeartbeatRequest, AppRequest, Empty,
    ExecutorGrant, JobQuery, JobSubmit, JobSubmitted, JobTable, LaunchExecutor, Quota,
    WorkerCommand, WorkerHeartbeat, WorkerHeartbeatReply, WorkerId, WorkerInfo,
    cluster_master_server::ClusterMaster,
};
use crate::spec::JobSpec;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_common::ClusterConfig;
use strata_sched::Resources;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

type CommandTx = mpsc::Sender<Result<WorkerCommand, Status>>;

/// A worker as the master knows it.
pub struct WorkerEntry {
    /// What it registered with.
    pub info: WorkerInfo,
    /// Heart-beating in time.
    pub alive: bool,
    /// When it (last) registered.
    pub registered_ms: u64,
    /// Executors it reported running ("app/executor").
    pub executors: Vec<String>,
    last_seen: Instant,
    commands: Option<CommandTx>,
}

/// Where an application stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppState {
    /// Its driver is running.
    Running,
    /// Finished successfully.
    Finished,
    /// Failed, with why.
    Failed(String),
}

/// One executor of an application.
#[derive(Clone, Debug)]
pub struct ExecutorEntry {
    /// Id within the application.
    pub id: u64,
    /// The worker it was launched on.
    pub worker: String,
    /// That worker's host.
    pub host: String,
    /// Whether it runs: its worker is alive and it was not preempted.
    pub alive: bool,
    /// Cores it was given.
    pub cores: u32,
    /// Memory it was given, bytes.
    pub memory: u64,
    seq: u64,
}

/// An application (one driver and its executors).
pub struct AppEntry {
    /// `app-NNNN`.
    pub id: String,
    /// The name the driver gave.
    pub name: String,
    /// The driver's task endpoint.
    pub driver: String,
    /// Where it stands.
    pub state: AppState,
    /// Executors it asked for.
    pub requested: u32,
    /// Executors launched for it.
    pub executors: Vec<ExecutorEntry>,
    /// The driver's latest report.
    pub ui: AppUi,
    /// Start and end times.
    pub started_ms: u64,
    /// When it ended (0 while running).
    pub ended_ms: u64,
    launch: LaunchExecutor,
    last_seen: Instant,
}

/// The master's tables.
#[derive(Default)]
pub struct State {
    /// Workers by id.
    pub workers: BTreeMap<String, WorkerEntry>,
    /// Applications by id (ids sort by submission order).
    pub apps: BTreeMap<String, AppEntry>,
    /// Declarative jobs.
    pub jobs: Jobs,
    next_app: u64,
    next_executor_seq: u64,
}

/// What a worker offers to jobs.
pub fn capacity(info: &WorkerInfo) -> Resources {
    Resources::new(
        f64::from(info.gpus),
        f64::from(info.cores),
        info.memory >> 20,
    )
    .with_disk(info.disk >> 20)
}

impl State {
    /// What running applications' executors hold on a worker (cores and memory they asked
    /// for; all of the worker's when they asked for none), so job tasks and executors share
    /// one account.
    /// Live executors of running applications, as the job scheduler accounts for them.
    fn executor_views(&self) -> Vec<jobs::ExecutorView> {
        self.apps
            .values()
            .filter(|a| a.state == AppState::Running)
            .flat_map(|a| {
                a.executors
                    .iter()
                    .filter(|e| e.alive)
                    .map(move |e| jobs::ExecutorView {
                        name: format!("{}/{}", a.id, e.id),
                        worker: e.worker.clone(),
                        held: Resources::new(0.0, f64::from(e.cores), e.memory >> 20),
                        seq: e.seq,
                    })
            })
            .collect()
    }

    /// Running applications as rows of the job table (kind `app`): every process the cluster
    /// runs is listed in one place.
    pub fn apps_as_jobs(&self) -> Vec<proto::JobStatus> {
        self.apps
            .values()
            .filter(|a| a.state == AppState::Running)
            .map(|a| proto::JobStatus {
                name: format!("{} ({})", a.id, a.name),
                tenant: "default".into(),
                priority: "batch".into(),
                kind: "app".into(),
                state: "running".into(),
                tasks: a.requested,
                running: a.executors.iter().filter(|e| e.alive).count() as u32,
                message: format!("driver {}", a.driver),
                ..Default::default()
            })
            .collect()
    }

    /// Sends `cmds`, then places pending jobs on the live workers and sends those commands.
    pub fn run_jobs(&mut self, mut cmds: Vec<jobs::Command>) {
        let views: Vec<WorkerView> = self
            .workers
            .iter()
            .filter(|(_, w)| w.alive && w.commands.is_some())
            .map(|(id, w)| WorkerView {
                id,
                capacity: capacity(&w.info),
                labels: &w.info.labels,
            })
            .collect();
        let executors = self.executor_views();
        cmds.extend(self.jobs.schedule(&views, &executors));
        self.jobs.save();
        for name in std::mem::take(&mut self.jobs.preempted_executors) {
            let (app, id) = name.split_once('/').unwrap_or_default();
            if let Some(e) = self
                .apps
                .get_mut(app)
                .and_then(|a| a.executors.iter_mut().find(|e| e.id.to_string() == id))
            {
                e.alive = false;
            }
        }
        for (worker, cmd) in cmds {
            match self.workers.get(&worker).and_then(|w| w.commands.as_ref()) {
                Some(tx) => {
                    let _ = tx.try_send(Ok(cmd));
                }
                None => {
                    tracing::warn!(worker = %worker, "no command stream to send a task command on")
                }
            }
        }
    }

    /// What a new executor may take on a worker: its capacity minus what job tasks hold
    /// there. Executors of applications share a worker's cores among themselves as before
    /// (Spark standalone's oversubscription); job tasks never share theirs.
    fn free_on(&self, worker_id: &str) -> Option<Resources> {
        let w = self.workers.get(worker_id)?;
        Some(capacity(&w.info).saturating_minus(&self.jobs.held_on(worker_id)))
    }

    fn launch_on(&mut self, app_id: &str, worker_id: &str) -> Option<ExecutorGrant> {
        let free = self.free_on(worker_id)?;
        let w = self.workers.get(worker_id)?;
        let host = w.info.host.clone();
        let tx = w.commands.clone();
        let app = self.apps.get(app_id)?;
        // An executor asks for what the application asked for, or else for whatever is free
        // on the worker (all of it on an idle cluster); none if that is not a whole core.
        let cores = if app.launch.cores == 0 {
            (free.cpu_milli / 1000) as u32
        } else {
            app.launch.cores
        };
        let memory = if app.launch.memory == 0 {
            free.mem_mib << 20
        } else {
            app.launch.memory
        };
        if cores == 0 || u64::from(cores) * 1000 > free.cpu_milli || memory >> 20 > free.mem_mib {
            return None;
        }
        self.next_executor_seq += 1;
        let seq = self.next_executor_seq;
        let app = self.apps.get_mut(app_id)?;
        let id = app.executors.len() as u64;
        app.executors.push(ExecutorEntry {
            id,
            worker: worker_id.to_string(),
            host: host.clone(),
            alive: true,
            cores,
            memory,
            seq,
        });
        let mut cmd = app.launch.clone();
        cmd.executor_id = id;
        cmd.cores = cores;
        cmd.memory = memory;
        tracing::info!(
            app = app_id,
            executor = id,
            worker = worker_id,
            "launching executor"
        );
        if let Some(tx) = tx {
            let _ = tx.try_send(Ok(WorkerCommand {
                cmd: Some(proto::worker_command::Cmd::Launch(cmd)),
            }));
        }
        Some(ExecutorGrant {
            executor_id: id,
            worker_id: worker_id.to_string(),
            host,
        })
    }

    /// Live workers, those running fewest executors of `app` first.
    fn placement_order(&self, app: Option<&str>) -> Vec<String> {
        let mut live: Vec<(usize, usize, String)> = self
            .workers
            .iter()
            .filter(|(_, w)| w.alive && w.commands.is_some())
            .map(|(id, w)| {
                let mine = app
                    .and_then(|a| self.apps.get(a))
                    .map(|a| {
                        a.executors
                            .iter()
                            .filter(|e| e.alive && &e.worker == id)
                            .count()
                    })
                    .unwrap_or(0);
                (mine, w.executors.len(), id.clone())
            })
            .collect();
        live.sort();
        live.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Launches replacements for applications short of executors.
    fn top_up(&mut self) {
        let short: Vec<String> = self
            .apps
            .values()
            .filter(|a| {
                a.state == AppState::Running
                    && (a.executors.iter().filter(|e| e.alive).count() as u32) < a.requested
            })
            .map(|a| a.id.clone())
            .collect();
        for app in short {
            if let Some(w) = self.placement_order(Some(&app)).first().cloned() {
                self.launch_on(&app, &w);
            }
        }
    }

    fn kill_app_everywhere(&self, app: &str) {
        for w in self.workers.values() {
            if let Some(tx) = &w.commands {
                let _ = tx.try_send(Ok(WorkerCommand {
                    cmd: Some(proto::worker_command::Cmd::KillApp(app.to_string())),
                }));
            }
        }
    }

    /// Declares silent workers and drivers lost.
    pub fn check_liveness(&mut self, timeout: Duration) {
        let mut lost = Vec::new();
        for (id, w) in &mut self.workers {
            if w.alive && w.last_seen.elapsed() > timeout {
                tracing::warn!(worker = %id, "worker lost: no heartbeat");
                w.alive = false;
                w.commands = None;
                lost.push(id.clone());
            }
        }
        let mut cmds = Vec::new();
        for w in &lost {
            cmds.extend(self.jobs.worker_lost(w));
        }
        for app in self.apps.values_mut() {
            for e in &mut app.executors {
                if lost.contains(&e.worker) {
                    e.alive = false;
                }
            }
        }
        let dead: Vec<String> = self
            .apps
            .values()
            .filter(|a| a.state == AppState::Running && a.last_seen.elapsed() > timeout)
            .map(|a| a.id.clone())
            .collect();
        for id in dead {
            tracing::warn!(app = %id, "driver lost: no heartbeat; killing its executors");
            if let Some(a) = self.apps.get_mut(&id) {
                a.state = AppState::Failed(format!(
                    "driver lost: no heartbeat for {} ms",
                    timeout.as_millis()
                ));
                a.ended_ms = now_ms();
                for j in &mut a.ui.jobs {
                    if j.status == "running" {
                        j.status = "failed".into();
                        j.error = Some("driver lost".into());
                    }
                }
            }
            self.kill_app_everywhere(&id);
        }
        self.top_up();
        self.run_jobs(cmds);
    }
}

/// The gRPC service, sharing [`State`] with the web UI.
#[derive(Clone)]
pub struct ClusterService {
    /// The tables.
    pub state: Arc<Mutex<State>>,
    cfg: ClusterConfig,
}

impl ClusterService {
    /// A master with no workers yet; call [`ClusterService::spawn_liveness`] inside a tokio
    /// runtime to start failure detection.
    pub fn new(cfg: ClusterConfig) -> Self {
        ClusterService {
            state: Arc::new(Mutex::new(State::default())),
            cfg,
        }
    }

    /// Keeps the job table at `path` across restarts, loading what an earlier master left
    /// there (placement waits one node timeout so workers can report running tasks).
    pub fn keep_jobs_at(&self, path: &std::path::Path) -> Result<(), String> {
        let mut jobs = Jobs::open(path, Duration::from_millis(self.cfg.node_timeout_ms))?;
        jobs.set_policy(&self.cfg.job_policy)
            .map_err(|e| format!("cluster.job_policy: {e}"))?;
        self.state.lock().jobs = jobs;
        Ok(())
    }

    /// Starts the background check of worker and driver heartbeats.
    pub fn spawn_liveness(&self) {
        let state = self.state.clone();
        let every = Duration::from_millis(self.cfg.heartbeat_ms);
        let timeout = Duration::from_millis(self.cfg.node_timeout_ms);
        tokio::spawn(async move {
            use strata_common::metrics::gauge;
            let workers = gauge("cluster_live_workers", "Workers heart-beating in time");
            let apps = gauge(
                "cluster_running_apps",
                "Applications whose driver is running",
            );
            let execs = gauge("cluster_live_executors", "Executors on live workers");
            loop {
                tokio::time::sleep(every).await;
                let mut s = state.lock();
                s.check_liveness(timeout);
                workers.set(s.workers.values().filter(|w| w.alive).count() as i64);
                let running = s.apps.values().filter(|a| a.state == AppState::Running);
                apps.set(running.clone().count() as i64);
                execs.set(
                    running
                        .flat_map(|a| a.executors.iter())
                        .filter(|e| e.alive)
                        .count() as i64,
                );
            }
        });
    }

    /// The gRPC server, with the shared-secret check.
    pub fn server(
        &self,
    ) -> tonic::service::interceptor::InterceptedService<
        proto::cluster_master_server::ClusterMasterServer<ClusterService>,
        impl tonic::service::Interceptor + Clone + use<>,
    > {
        tonic::service::interceptor::InterceptedService::new(
            proto::cluster_master_server::ClusterMasterServer::new(self.clone())
                .max_decoding_message_size(64 << 20),
            strata_net::auth::check(self.cfg.secret.clone()),
        )
    }
}

fn decode_ui(bytes: &[u8]) -> Option<AppUi> {
    if bytes.is_empty() {
        return None;
    }
    bincode::deserialize(bytes).ok()
}

#[tonic::async_trait]
impl ClusterMaster for ClusterService {
    async fn submit_job(&self, req: Request<JobSubmit>) -> Result<Response<JobSubmitted>, Status> {
        let toml = req.into_inner().toml;
        let spec = JobSpec::parse(&toml).map_err(Status::invalid_argument)?;
        let name = spec.name.clone();
        let mut s = self.state.lock();
        let largest = s
            .workers
            .values()
            .filter(|w| w.alive)
            .map(|w| capacity(&w.info))
            .reduce(|a, c| a.max_each(&c));
        s.jobs
            .submit(spec, &toml, largest)
            .map_err(Status::failed_precondition)?;
        s.run_jobs(Vec::new());
        Ok(Response::new(JobSubmitted { name }))
    }

    async fn jobs(&self, req: Request<JobQuery>) -> Result<Response<JobTable>, Status> {
        let name = req.into_inner().name;
        let s = self.state.lock();
        let mut jobs = s
            .jobs
            .status((!name.is_empty()).then_some(name.as_str()))
            .map_err(Status::not_found)?;
        if name.is_empty() {
            jobs.extend(s.apps_as_jobs());
        }
        Ok(Response::new(JobTable { jobs }))
    }

    async fn update_job(&self, req: Request<JobSubmit>) -> Result<Response<JobSubmitted>, Status> {
        let toml = req.into_inner().toml;
        let spec = JobSpec::parse(&toml).map_err(Status::invalid_argument)?;
        let name = spec.name.clone();
        let mut s = self.state.lock();
        let cmds = s
            .jobs
            .update(spec, &toml)
            .map_err(Status::failed_precondition)?;
        s.run_jobs(cmds);
        Ok(Response::new(JobSubmitted { name }))
    }

    async fn kill_job(&self, req: Request<JobQuery>) -> Result<Response<Empty>, Status> {
        let name = req.into_inner().name;
        let mut s = self.state.lock();
        let cmds = s.jobs.kill(&name).map_err(Status::not_found)?;
        s.run_jobs(cmds);
        Ok(Response::new(Empty {}))
    }

    async fn set_quota(&self, req: Request<Quota>) -> Result<Response<Empty>, Status> {
        let q = req.into_inner();
        if q.tenant.is_empty() {
            return Err(Status::invalid_argument("a quota needs a tenant"));
        }
        if !(q.weight.is_finite() && q.weight >= 0.0) {
            return Err(Status::invalid_argument(
                "a weight must be a positive number",
            ));
        }
        let mut s = self.state.lock();
        if q.has_limits {
            let limits = Resources {
                gpu_milli: q.gpu_milli,
                cpu_milli: q.cpu_milli,
                mem_mib: q.mem_mib,
                disk_mib: q.disk_mib,
            };
            if q.pool.is_empty() {
                s.jobs.set_quota(&q.tenant, limits);
            } else {
                s.jobs.set_entitlement(&q.tenant, &q.pool, limits);
            }
        }
        if q.weight > 0.0 {
            s.jobs.set_weight(&q.tenant, q.weight);
        }
        s.run_jobs(Vec::new());
        tracing::info!(tenant = %q.tenant, "quota set");
        Ok(Response::new(Empty {}))
    }

    async fn register_worker(&self, req: Request<WorkerInfo>) -> Result<Response<Empty>, Status> {
        let info = req.into_inner();
        if info.id.is_empty() || info.host.is_empty() {
            return Err(Status::invalid_argument("a worker needs an id and a host"));
        }
        let mut s = self.state.lock();
        let id = info.id.clone();
        let rejoined = s.workers.get(&id).is_some_and(|w| !w.alive);
        tracing::info!(worker = %id, host = %info.host, cores = info.cores, rejoined, "worker registered");
        let old_tx = s.workers.get(&id).and_then(|w| w.commands.clone());
        s.workers.insert(
            id,
            WorkerEntry {
                info,
                alive: true,
                registered_ms: now_ms(),
                executors: Vec::new(),
                last_seen: Instant::now(),
                commands: old_tx,
            },
        );
        Ok(Response::new(Empty {}))
    }

    async fn heartbeat(
        &self,
        req: Request<WorkerHeartbeat>,
    ) -> Result<Response<WorkerHeartbeatReply>, Status> {
        let hb = req.into_inner();
        let mut s = self.state.lock();
        let Some(w) = s.workers.get_mut(&hb.id) else {
            return Ok(Response::new(WorkerHeartbeatReply { reregister: true }));
        };
        if !w.alive {
            return Ok(Response::new(WorkerHeartbeatReply { reregister: true }));
        }
        w.last_seen = Instant::now();
        w.executors = hb.executors;
        let mut cmds = Vec::new();
        for e in &hb.exits {
            cmds.extend(s.jobs.task_exited(&hb.id, &e.task, e.code));
        }
        cmds.extend(s.jobs.reconcile(&hb.id, &hb.tasks));
        s.jobs.usage_reported(&hb.id, &hb.usage);
        if !hb.exits.is_empty() || !cmds.is_empty() {
            s.run_jobs(cmds);
        }
        Ok(Response::new(WorkerHeartbeatReply { reregister: false }))
    }

    type CommandsStream =
        Pin<Box<dyn tokio_stream::Stream<Item = Result<WorkerCommand, Status>> + Send>>;

    async fn commands(
        &self,
        req: Request<WorkerId>,
    ) -> Result<Response<Self::CommandsStream>, Status> {
        let id = req.into_inner().id;
        let (tx, rx) = mpsc::channel(256);
        {
            let mut s = self.state.lock();
            let Some(w) = s.workers.get_mut(&id) else {
                return Err(Status::not_found(format!(
                    "worker {id} is not registered; register first"
                )));
            };
            w.commands = Some(tx);
            // A worker that (re)joins may take over executors a lost one was running.
            s.top_up();
        }
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn submit_app(&self, req: Request<AppRequest>) -> Result<Response<AppGrant>, Status> {
        let r = req.into_inner();
        if r.driver.is_empty() {
            return Err(Status::invalid_argument("the driver's address is missing"));
        }
        let mut s = self.state.lock();
        let order = s.placement_order(None);
        if order.is_empty() {
            return Err(Status::unavailable(
                "no live workers: start some with `strata worker --master HOST:PORT` or `strata local-cluster`",
            ));
        }
        let n = if r.executors == 0 {
            order.len() as u32
        } else {
            r.executors
        };
        s.next_app += 1;
        let id = format!("app-{:04}", s.next_app);
        tracing::info!(app = %id, name = %r.name, executors = n, driver = %r.driver, "application submitted");
        s.apps.insert(
            id.clone(),
            AppEntry {
                id: id.clone(),
                name: r.name.clone(),
                driver: r.driver.clone(),
                state: AppState::Running,
                requested: n,
                executors: Vec::new(),
                ui: AppUi::default(),
                started_ms: now_ms(),
                ended_ms: 0,
                launch: LaunchExecutor {
                    app_id: id.clone(),
                    executor_id: 0,
                    driver: r.driver,
                    program: r.program,
                    args: r.args,
                    cores: r.cores,
                    memory: r.memory,
                    env: r.env,
                },
                last_seen: Instant::now(),
            },
        );
        let mut grants = Vec::new();
        for i in 0..n as usize {
            let w = &order[i % order.len()];
            if let Some(g) = s.launch_on(&id, w) {
                grants.push(g);
            }
        }
        if grants.is_empty() {
            s.apps.remove(&id);
            return Err(Status::resource_exhausted(
                "no room for executors: job tasks hold every live worker's cores or memory \
                 (see `strata job ls`); ask for fewer cores or wait",
            ));
        }
        Ok(Response::new(AppGrant {
            app_id: id,
            executors: grants,
        }))
    }

    async fn app_heartbeat(
        &self,
        req: Request<AppHeartbeatRequest>,
    ) -> Result<Response<AppHeartbeatReply>, Status> {
        let r = req.into_inner();
        let mut s = self.state.lock();
        match s.apps.get_mut(&r.app_id) {
            Some(a) if a.state == AppState::Running => {
                a.last_seen = Instant::now();
                if let Some(ui) = decode_ui(&r.ui) {
                    a.ui = ui;
                }
                Ok(Response::new(AppHeartbeatReply { unknown: false }))
            }
            _ => Ok(Response::new(AppHeartbeatReply { unknown: true })),
        }
    }

    async fn finish_app(&self, req: Request<AppFinish>) -> Result<Response<Empty>, Status> {
        let r = req.into_inner();
        let mut s = self.state.lock();
        if let Some(a) = s.apps.get_mut(&r.app_id) {
            if let Some(ui) = decode_ui(&r.ui) {
                a.ui = ui;
            }
            if a.state == AppState::Running {
                a.state = if r.ok {
                    AppState::Finished
                } else {
                    AppState::Failed(r.error)
                };
                a.ended_ms = now_ms();
            }
        }
        let id = r.app_id;
        // Executors exit when their driver says so; make sure of it.
        s.kill_app_everywhere(&id);
        Ok(Response::new(Empty {}))
    }
}

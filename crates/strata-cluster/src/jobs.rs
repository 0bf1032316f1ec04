//! Declarative jobs on the master: admission, priority bands, DRF among tenants, gang
//! placement, preemption with a grace period, and restarts (Borg's job model on the
//! `strata-sched` toolkit).
//!
//! The table is soft state beside the applications. After every change (a submission, a task
//! exit reported in a heartbeat, a lost worker, a kill, or the periodic liveness tick)
//! [`Jobs::schedule`] rebuilds a [`Nodes`] from the live workers minus what running tasks
//! hold, and places pending work in order: higher bands first, then the [`Drf`] policy (the
//! very object the simulator runs) across tenants. A unit of placement is one task, or a whole
//! gang. A production unit that does not fit preempts running tasks of lower bands (best
//! effort first, newest first) — only as many as make it fit, and none while earlier victims
//! are still inside their grace period. Preempted tasks go back to pending.

use crate::proto::{
    JobStatus, LaunchTask, StopTask, TaskStatus, WorkerCommand, worker_command::Cmd,
};
use crate::spec::{Band, JobSpec, Kind, Restart};
use std::collections::{BTreeMap, HashMap};
use strata_sched::policy::{Consolidated, Drf, JobView, Placement, Policy, Scattered, TenantQuota};
use strata_sched::{Job, NodeId, Nodes, Resources};

/// Where a task stands.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskState {
    /// Waiting for room.
    Pending,
    /// Running on `Task::worker`.
    Running,
    /// Told to stop; back to pending when it exits if `requeue` (preemption, gang restart).
    Stopping {
        /// Run it again after it exits.
        requeue: bool,
    },
    /// Exited 0 (batch).
    Succeeded,
    /// Exited non-zero, or killed.
    Failed(i32),
}

/// One task of a job.
#[derive(Debug, Clone)]
pub struct Task {
    /// Its index in the job.
    pub index: u32,
    /// Starts so far (the id of the current one).
    pub attempt: u64,
    /// Where it stands.
    pub state: TaskState,
    /// The worker it runs (or ran) on.
    pub worker: String,
    /// Its last exit code.
    pub exit: i32,
    started: u64,
    /// The spec version it was started with.
    version: u64,
    /// Time it has run in earlier attempts, and since when it runs now.
    ran: std::time::Duration,
    since: Option<std::time::Instant>,
}

impl Task {
    fn holds(&self) -> bool {
        matches!(self.state, TaskState::Running | TaskState::Stopping { .. })
    }

    /// Adds the current attempt's run time to `ran` (it stopped, or its node was lost).
    fn settle(&mut self) {
        if let Some(s) = self.since.take() {
            self.ran += s.elapsed();
        }
    }

    /// Seconds run so far, all attempts.
    fn executed(&self) -> f64 {
        (self.ran + self.since.map(|s| s.elapsed()).unwrap_or_default()).as_secs_f64()
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// No task running yet.
    Pending,
    /// Some task running.
    Running,
    /// Every task exited 0.
    Succeeded,
    /// Gave up, with why.
    Failed(String),
    /// Killed by a user.
    Killed,
}

impl JobState {
    fn ended(&self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed(_) | JobState::Killed
        )
    }

    fn name(&self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed(_) => "failed",
            JobState::Killed => "killed",
        }
    }
}

/// One job.
#[derive(Debug, Clone)]
pub struct JobEntry {
    /// What was submitted.
    pub spec: JobSpec,
    /// Where it stands.
    pub state: JobState,
    /// Its tasks.
    pub tasks: Vec<Task>,
    /// Restarts after exits.
    pub restarts: u32,
    /// Tasks of it preempted.
    pub preemptions: u32,
    /// The latest event worth telling the user.
    pub message: String,
    seq: u64,
    /// Bumped by every update; tasks started with an older one are rolled.
    version: u64,
    /// The spec as submitted (TOML), what the job store keeps.
    pub(crate) source: String,
    /// When it was submitted (Unix seconds).
    submitted: f64,
}

impl JobEntry {
    /// Tasks that should run but do not (pending or stopping).
    fn unavailable(&self) -> u32 {
        self.tasks
            .iter()
            .filter(|t| matches!(t.state, TaskState::Pending | TaskState::Stopping { .. }))
            .count() as u32
    }

    /// How many more tasks a voluntary disruption (update, preemption) may take down now.
    fn disruptable(&self) -> u32 {
        match self.spec.max_unavailable {
            Some(budget) => budget.saturating_sub(self.unavailable()),
            None => u32::MAX,
        }
    }

    /// Stops running tasks of an older spec version, as many as the disruption budget allows.
    fn roll(&mut self, name: &str) -> Vec<Command> {
        let mut cmds = Vec::new();
        if self.state.ended() {
            return cmds;
        }
        let mut allowed = self.disruptable();
        for t in &mut self.tasks {
            if allowed == 0 {
                break;
            }
            if t.state == TaskState::Running && t.version < self.version {
                t.state = TaskState::Stopping { requeue: true };
                cmds.push(stop(&t.worker, task_id(name, t), self.spec.grace_period_ms));
                allowed -= 1;
            }
        }
        cmds
    }
}

/// A live worker as the scheduler sees it.
pub struct WorkerView<'a> {
    /// Its id.
    pub id: &'a str,
    /// What it offers.
    pub capacity: Resources,
    /// Its labels.
    pub labels: &'a HashMap<String, String>,
}

/// A command for a worker.
pub type Command = (String, WorkerCommand);

/// A running application's executor, as the job scheduler accounts for it: it holds
/// resources on its worker and counts as batch work that production jobs may preempt.
pub struct ExecutorView {
    /// `app/executor`.
    pub name: String,
    /// Its worker.
    pub worker: String,
    /// What it holds there.
    pub held: Resources,
    /// Launch order (newest are preempted first).
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Victim {
    Task(String, usize),
    Executor(usize),
}

/// The master's job table.
#[derive(Default)]
pub struct Jobs {
    /// Jobs by name.
    pub jobs: BTreeMap<String, JobEntry>,
    quota: TenantQuota,
    /// Fair-share weights by tenant (1 when unset); `org/team` tenants share hierarchically.
    weights: HashMap<String, f64>,
    drf: Drf,
    seq: u64,
    /// Where the table is kept across master restarts (`jobstore`), and whether it changed.
    pub(crate) store: Option<std::path::PathBuf>,
    pub(crate) dirty: bool,
    /// After a restart: nothing is placed before this, so workers can report the tasks they
    /// still run and have them adopted instead of started twice.
    pub(crate) adopt_until: Option<std::time::Instant>,
    /// Executors preempted by the last round (`app/executor`), for the master to mark lost.
    pub preempted_executors: Vec<String>,
    /// The queue order within a band when not DRF (`cluster.job_policy`).
    policy: Option<Box<dyn Policy>>,
}

fn task_id(job: &str, t: &Task) -> String {
    format!("{job}/{}/{}", t.index, t.attempt)
}

fn stop(worker: &str, task: String, grace_ms: u64) -> Command {
    (
        worker.to_string(),
        WorkerCommand {
            cmd: Some(Cmd::StopTask(StopTask { task, grace_ms })),
        },
    )
}

impl Jobs {
    /// Orders the queue within a band by the named policy (`drf`, the default, or any of
    /// [`strata_sched::policy::POLICIES`]: SJF, SRTF and Themis use the jobs'
    /// `duration_s`). The master never preempts within a band, so every policy orders only
    /// what waits.
    pub fn set_policy(&mut self, name: &str) -> Result<(), String> {
        self.policy = match name {
            "drf" => None,
            other => Some(strata_sched::policy::by_name(other, 300.0)?),
        };
        Ok(())
    }

    /// What job tasks hold on a worker (running or stopping there).
    pub fn held_on(&self, worker: &str) -> Resources {
        self.jobs
            .values()
            .flat_map(|j| {
                j.tasks
                    .iter()
                    .filter(move |t| t.holds() && t.worker == worker)
                    .map(move |_| j.spec.per_task())
            })
            .fold(Resources::ZERO, |a, r| a.plus(&r))
    }

    /// Sets a tenant's quota (replacing any earlier one).
    pub fn set_quota(&mut self, tenant: &str, quota: Resources) {
        self.quota.quotas.insert(tenant.to_string(), quota);
        self.dirty = true;
    }

    /// Quota and entitlement checks for `spec` beside the tenant's other unfinished jobs
    /// (all but `except`): its quota over all pools, and its entitlement in the pool the job
    /// is constrained to (`labels.pool`), if either is set.
    fn admit(&self, spec: &JobSpec, except: Option<&str>) -> Result<(), String> {
        let pool = spec.constraints.labels.get("pool");
        let mine = |j: &&JobEntry| {
            j.spec.tenant == spec.tenant && !j.state.ended() && Some(j.spec.name.as_str()) != except
        };
        let demand = |j: &JobEntry| j.spec.per_task().times(j.spec.tasks);
        let as_job = |tenant: String| Job {
            id: spec.name.clone(),
            tenant,
            submit: 0.0,
            duration: 0.0,
            tasks: spec.tasks,
            per_task: spec.per_task(),
        };
        let held = self
            .jobs
            .values()
            .filter(mine)
            .fold(Resources::ZERO, |a, j| a.plus(&demand(j)));
        self.quota.check(&as_job(spec.tenant.clone()), &held)?;
        if let Some(pool) = pool {
            let in_pool = self
                .jobs
                .values()
                .filter(mine)
                .filter(|j| j.spec.constraints.labels.get("pool") == Some(pool))
                .fold(Resources::ZERO, |a, j| a.plus(&demand(j)));
            self.quota
                .check(&as_job(entitlement_key(&spec.tenant, pool)), &in_pool)
                .map_err(|e| format!("{e} (its entitlement in pool {pool})"))?;
        }
        Ok(())
    }

    /// Sets a tenant's entitlement in one pool (Twine): what its jobs constrained to
    /// `labels.pool = POOL` may hold together.
    pub fn set_entitlement(&mut self, tenant: &str, pool: &str, quota: Resources) {
        self.quota
            .quotas
            .insert(entitlement_key(tenant, pool), quota);
        self.dirty = true;
    }

    pub(crate) fn restore_quota(&mut self, key: String, quota: Resources) {
        self.quota.quotas.insert(key, quota);
    }

    pub(crate) fn quotas(&self) -> &HashMap<String, Resources> {
        &self.quota.quotas
    }

    pub(crate) fn weights(&self) -> &HashMap<String, f64> {
        &self.weights
    }

    /// Sets a tenant's (or a queue's, for `org` in `org/team`) fair-share weight.
    pub fn set_weight(&mut self, tenant: &str, weight: f64) {
        self.weights.insert(tenant.to_string(), weight);
        self.dirty = true;
    }

    /// Admits a job: its name must be free, every task must fit the largest live worker, and
    /// its tenant's quota (if set) must cover it beside the tenant's other unfinished jobs.
    pub fn submit(
        &mut self,
        spec: JobSpec,
        source: &str,
        largest: Option<Resources>,
    ) -> Result<(), String> {
        if self.jobs.get(&spec.name).is_some_and(|j| !j.state.ended()) {
            return Err(format!(
                "job {} already exists and has not ended: kill it first (`strata job kill {}`) or pick another name",
                spec.name, spec.name
            ));
        }
        let per_task = spec.per_task();
        if let Some(largest) = largest
            && !per_task.fits_in(&largest)
        {
            return Err(format!(
                "job {}: a task needs {per_task} but the largest worker offers {largest}",
                spec.name
            ));
        }
        self.admit(&spec, None)?;
        self.insert(spec, source);
        Ok(())
    }

    /// Adds an admitted (or restored) job with every task pending.
    pub(crate) fn insert(&mut self, spec: JobSpec, source: &str) {
        self.seq += 1;
        let tasks = (0..spec.tasks)
            .map(|index| Task {
                index,
                attempt: 0,
                state: TaskState::Pending,
                worker: String::new(),
                exit: 0,
                started: 0,
                version: 0,
                ran: Default::default(),
                since: None,
            })
            .collect();
        tracing::info!(job = %spec.name, tenant = %spec.tenant, band = spec.priority.as_str(), tasks = spec.tasks, "job submitted");
        self.jobs.insert(
            spec.name.clone(),
            JobEntry {
                spec,
                state: JobState::Pending,
                tasks,
                restarts: 0,
                preemptions: 0,
                message: "waiting for room".into(),
                seq: self.seq,
                version: 0,
                source: source.to_string(),
                submitted: unix_now(),
            },
        );
        self.dirty = true;
    }

    /// Replaces a running job's spec: running tasks restart with the new one (after their grace
    /// period), at most `max_unavailable` down at a time when the job sets it (a rolling
    /// update), and tasks added by a larger `tasks` start as room allows. Shrinking is
    /// refused (kill and resubmit), as is a change of tenant.
    pub fn update(&mut self, spec: JobSpec, source: &str) -> Result<Vec<Command>, String> {
        let name = spec.name.clone();
        let job = self
            .jobs
            .get(&name)
            .filter(|j| !j.state.ended())
            .ok_or_else(|| format!("no running job named {name} to update (submit it instead)"))?;
        if spec.tasks < job.spec.tasks {
            return Err(format!(
                "job {name}: an update cannot remove tasks ({} → {}); kill it and submit again",
                job.spec.tasks, spec.tasks
            ));
        }
        if spec.tenant != job.spec.tenant {
            return Err(format!("job {name}: an update cannot change its tenant"));
        }
        self.admit(&spec, Some(&name))?;
        let job = self.jobs.get_mut(&name).expect("checked above");
        for index in job.spec.tasks..spec.tasks {
            job.tasks.push(Task {
                index,
                attempt: 0,
                state: TaskState::Pending,
                worker: String::new(),
                exit: 0,
                started: 0,
                version: 0,
                ran: Default::default(),
                since: None,
            });
        }
        job.spec = spec;
        job.version += 1;
        job.source = source.to_string();
        self.dirty = true;
        job.message = "updating: tasks restart with the new spec".into();
        tracing::info!(job = %name, version = job.version, "job updated");
        Ok(job.roll(&name))
    }

    /// Kills a job: running tasks get SIGTERM, then SIGKILL after the grace period.
    pub fn kill(&mut self, name: &str) -> Result<Vec<Command>, String> {
        let job = self
            .jobs
            .get_mut(name)
            .ok_or_else(|| format!("no job named {name} (see `strata job ls`)"))?;
        let mut cmds = Vec::new();
        if job.state.ended() {
            return Ok(cmds);
        }
        job.state = JobState::Killed;
        job.message = "killed by a user".into();
        self.dirty = true;
        for t in &mut job.tasks {
            match t.state {
                TaskState::Running | TaskState::Stopping { .. } => {
                    t.state = TaskState::Stopping { requeue: false };
                    cmds.push(stop(&t.worker, task_id(name, t), job.spec.grace_period_ms));
                }
                TaskState::Pending => t.state = TaskState::Failed(-1),
                _ => {}
            }
        }
        Ok(cmds)
    }

    /// A task's exit, reported by its worker. Stale attempts, and exits of a copy on another
    /// worker than the one the table has (a stray), are ignored.
    pub fn task_exited(&mut self, worker: &str, task: &str, code: i32) -> Vec<Command> {
        let mut cmds = Vec::new();
        let mut parts = task.rsplitn(3, '/');
        let (Some(attempt), Some(index), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return cmds;
        };
        let (Ok(attempt), Ok(index)) = (attempt.parse::<u64>(), index.parse::<usize>()) else {
            return cmds;
        };
        let Some(job) = self.jobs.get_mut(name) else {
            return cmds;
        };
        let Some(t) = job.tasks.get_mut(index) else {
            return cmds;
        };
        if t.attempt != attempt || !t.holds() || t.worker != worker {
            return cmds;
        }
        t.settle();
        t.exit = code;
        let mut restart_gang = false;
        match t.state {
            TaskState::Stopping { requeue: true } => t.state = TaskState::Pending,
            TaskState::Stopping { requeue: false } => t.state = TaskState::Failed(code),
            _ => {
                let restart = match job.spec.restart() {
                    Restart::Always => true,
                    Restart::OnFailure => code != 0,
                    Restart::Never => false,
                };
                if restart && job.restarts < job.spec.max_restarts {
                    job.restarts += 1;
                    job.message = format!("task {index} exited with code {code}; restarted");
                    t.state = TaskState::Pending;
                    restart_gang = job.spec.gang;
                } else if code != 0 || restart {
                    t.state = TaskState::Failed(code);
                    job.state = JobState::Failed(if restart {
                        format!(
                            "task {index} exited with code {code} after {} restarts (max_restarts)",
                            job.restarts
                        )
                    } else {
                        format!("task {index} exited with code {code}")
                    });
                    job.message = match &job.state {
                        JobState::Failed(m) => m.clone(),
                        _ => unreachable!(),
                    };
                } else {
                    t.state = TaskState::Succeeded;
                }
            }
        }
        let failed = matches!(job.state, JobState::Failed(_));
        if restart_gang || failed {
            // A gang runs whole: its other tasks restart with it. A failed job stops.
            for o in &mut job.tasks {
                if o.state == TaskState::Running {
                    o.state = TaskState::Stopping { requeue: !failed };
                    cmds.push(stop(&o.worker, task_id(name, o), job.spec.grace_period_ms));
                }
            }
        }
        refresh(job);
        if job.state.ended() {
            self.dirty = true;
        }
        cmds
    }

    /// A worker was declared lost: its tasks run again elsewhere.
    pub fn worker_lost(&mut self, worker: &str) -> Vec<Command> {
        let mut cmds = Vec::new();
        for (name, job) in &mut self.jobs {
            let mut lost_any = false;
            for t in &mut job.tasks {
                if t.holds() && t.worker == worker {
                    t.settle();
                    t.state = match t.state {
                        TaskState::Stopping { requeue: false } => TaskState::Failed(-1),
                        _ => TaskState::Pending,
                    };
                    lost_any = true;
                }
            }
            if lost_any && !job.state.ended() {
                job.message = format!("worker {worker} lost; rescheduling its tasks");
                if job.spec.gang {
                    for o in &mut job.tasks {
                        if o.state == TaskState::Running {
                            o.state = TaskState::Stopping { requeue: true };
                            cmds.push(stop(&o.worker, task_id(name, o), job.spec.grace_period_ms));
                        }
                    }
                }
            }
            refresh(job);
        }
        cmds
    }

    /// Reconciles what a worker says it runs with the table: a task the table has pending
    /// (after a master restart) is adopted where it runs; one the master does not count as
    /// running there (it was declared lost and came back, or the job ended) is stopped at once.
    pub fn reconcile(&mut self, worker: &str, running: &[String]) -> Vec<Command> {
        let mut cmds = Vec::new();
        for id in running {
            let mut p = id.rsplitn(3, '/');
            let (a, i, n) = (p.next(), p.next(), p.next());
            let parsed = (|| Some((n?, i?.parse::<usize>().ok()?, a?.parse::<u64>().ok()?)))();
            let known = parsed.and_then(|(n, i, a)| {
                let job = self.jobs.get_mut(n)?;
                let ended = job.state.ended();
                let version = job.version;
                let t = job.tasks.get_mut(i)?;
                if t.holds() && t.worker == worker && t.attempt == a {
                    return Some(true);
                }
                if !ended && t.state == TaskState::Pending && t.attempt <= a {
                    t.state = TaskState::Running;
                    t.worker = worker.to_string();
                    t.attempt = a;
                    t.version = version;
                    tracing::info!(task = %id, worker, "adopted a running task");
                    refresh(job);
                    return Some(true);
                }
                None
            });
            if known != Some(true) {
                cmds.push(stop(worker, id.clone(), 0));
            }
        }
        cmds
    }

    /// Places pending work on the live workers; returns the launch and stop commands.
    pub fn schedule(&mut self, workers: &[WorkerView], executors: &[ExecutorView]) -> Vec<Command> {
        let mut cmds = Vec::new();
        if let Some(until) = self.adopt_until {
            if std::time::Instant::now() < until {
                return cmds;
            }
            self.adopt_until = None;
        }
        for (name, job) in &mut self.jobs {
            cmds.extend(job.roll(name));
        }
        let index: HashMap<&str, NodeId> = workers
            .iter()
            .enumerate()
            .map(|(i, w)| (w.id, i as NodeId))
            .collect();
        let mut nodes = Nodes::new(workers.iter().map(|w| w.capacity).collect());
        for e in executors {
            if let Some(&n) = index.get(e.worker.as_str()) {
                let held = e.held.min_each(&nodes.free(n));
                nodes.allocate(n, &held);
            }
        }
        for job in self.jobs.values() {
            for t in job.tasks.iter().filter(|t| t.holds()) {
                if let Some(&n) = index.get(t.worker.as_str()) {
                    nodes.allocate(n, &job.spec.per_task());
                }
            }
        }
        // Units of placement: a task, or a whole gang once none of it runs.
        let mut units: Vec<(String, Vec<u32>)> = Vec::new();
        for (name, job) in &self.jobs {
            if job.state.ended() {
                continue;
            }
            let pending: Vec<u32> = job
                .tasks
                .iter()
                .filter(|t| t.state == TaskState::Pending)
                .map(|t| t.index)
                .collect();
            if pending.is_empty() {
                continue;
            }
            if job.spec.gang {
                if !job.tasks.iter().any(Task::holds) {
                    units.push((name.clone(), pending));
                }
            } else {
                units.extend(pending.into_iter().map(|i| (name.clone(), vec![i])));
            }
        }
        if units.is_empty() {
            return cmds;
        }
        let order = self.order(&units, nodes.capacity());
        for u in order {
            let (name, tasks) = &units[u];
            let spec = &self.jobs[name].spec;
            let per_task = spec.per_task();
            let n = tasks.len() as u32;
            let mut placement = place(&nodes, workers, spec, n);
            if placement.is_none() && spec.priority == Band::Production {
                // Preempted executors die at once (SIGKILL) and free their room now; tasks
                // are given their grace period and the unit waits for them.
                let (stops, freed_now) =
                    self.preempt(u, &units, &mut nodes, workers, executors, &index);
                cmds.extend(stops);
                if freed_now {
                    placement = place(&nodes, workers, &self.jobs[name].spec, n);
                }
            }
            if let Some(placed) = placement {
                let job = self.jobs.get_mut(name).expect("units name live jobs");
                let mut next = tasks.iter();
                for (node, count) in placed {
                    for _ in 0..count {
                        let i = *next.next().expect("placement covers the unit") as usize;
                        nodes.allocate(node, &per_task);
                        self.seq += 1;
                        let t = &mut job.tasks[i];
                        t.attempt += 1;
                        t.state = TaskState::Running;
                        t.worker = workers[node as usize].id.to_string();
                        t.started = self.seq;
                        t.since = Some(std::time::Instant::now());
                        t.version = job.version;
                        cmds.push((t.worker.clone(), launch(name, &job.spec, t)));
                    }
                }
                if job.message == "waiting for room" {
                    job.message = "running".into();
                }
                refresh(job);
            }
        }
        cmds
    }

    /// Units in placement order: bands high to low; within a band the policy's order.
    fn order(&mut self, units: &[(String, Vec<u32>)], capacity: Resources) -> Vec<usize> {
        let mut tenants: BTreeMap<&str, u32> = BTreeMap::new();
        for j in self.jobs.values() {
            let n = tenants.len() as u32;
            tenants.entry(j.spec.tenant.as_str()).or_insert(n);
        }
        let view = |key: usize, job: &JobEntry, tasks: u32, running: bool| {
            let executed = job.tasks.iter().map(Task::executed).sum::<f64>()
                / f64::from(job.spec.tasks.max(1));
            let duration = job.spec.duration_s.unwrap_or(1e12);
            let demand = job.spec.per_task().times(tasks);
            JobView {
                key,
                tenant: tenants[job.spec.tenant.as_str()],
                // Ties in the policy fall back to submission order.
                submit: job.submitted + job.seq as f64 * 1e-6,
                demand,
                running,
                executed,
                attained: executed * strata_sched::policy::service_width(&demand),
                remaining: (duration - executed).max(0.0),
                duration,
                waiting_since: job.submitted,
            }
        };
        let mut views: Vec<JobView> = units
            .iter()
            .enumerate()
            .map(|(k, (name, t))| view(k, &self.jobs[name], t.len() as u32, false))
            .collect();
        for job in self.jobs.values() {
            for _ in job.tasks.iter().filter(|t| t.holds()) {
                views.push(view(units.len() + views.len(), job, 1, true));
            }
        }
        let active: Vec<&str> = tenants.keys().copied().collect();
        self.drf.weights = tenants
            .iter()
            .map(|(t, &id)| (id, effective_weight(&self.weights, t, &active)))
            .collect();
        let policy: &mut dyn Policy = match &mut self.policy {
            Some(p) => p.as_mut(),
            None => &mut self.drf,
        };
        let mut order: Vec<usize> = policy
            .order(unix_now(), &capacity, &views)
            .into_iter()
            .map(|p| views[p].key)
            .filter(|&k| k < units.len())
            .collect();
        order.sort_by_key(|&k| std::cmp::Reverse(self.jobs[&units[k].0].spec.priority));
        order
    }

    /// Frees room for a production unit by stopping lower-band tasks.
    fn preempt(
        &mut self,
        unit: usize,
        units: &[(String, Vec<u32>)],
        nodes: &mut Nodes,
        workers: &[WorkerView],
        executors: &[ExecutorView],
        index: &HashMap<&str, NodeId>,
    ) -> (Vec<Command>, bool) {
        let (name, tasks) = &units[unit];
        let spec = self.jobs[name].spec.clone();
        let n = tasks.len() as u32;
        let mut trial = nodes.clone();
        // Victims already stopping may be enough: then wait for them.
        for job in self.jobs.values() {
            for t in &job.tasks {
                if matches!(t.state, TaskState::Stopping { .. })
                    && let Some(&node) = index.get(t.worker.as_str())
                {
                    trial.release(node, &job.spec.per_task());
                }
            }
        }
        if place(&trial, workers, &spec, n).is_some() {
            return (Vec::new(), false);
        }
        let mut candidates: Vec<(Band, std::cmp::Reverse<u64>, Victim)> = Vec::new();
        for (jn, job) in &self.jobs {
            if job.spec.priority >= spec.priority {
                continue;
            }
            for (i, t) in job.tasks.iter().enumerate() {
                if t.state == TaskState::Running {
                    candidates.push((
                        job.spec.priority,
                        std::cmp::Reverse(t.started),
                        Victim::Task(jn.clone(), i),
                    ));
                }
            }
        }
        if Band::Batch < spec.priority {
            for (k, e) in executors.iter().enumerate() {
                candidates.push((Band::Batch, std::cmp::Reverse(e.seq), Victim::Executor(k)));
            }
        }
        candidates.sort();
        let mut chosen: Vec<Victim> = Vec::new();
        let mut freed: Vec<(NodeId, Resources)> = Vec::new();
        for (_, _, victim) in candidates {
            let (node, held) = match &victim {
                Victim::Task(jn, i) => {
                    let job = &self.jobs[jn];
                    let Some(&node) = index.get(job.tasks[*i].worker.as_str()) else {
                        continue;
                    };
                    // A job's disruption budget (its task-control veto) is never overdrawn.
                    let taken = chosen
                        .iter()
                        .filter(|v| matches!(v, Victim::Task(j, _) if j == jn))
                        .count() as u32;
                    if taken >= job.disruptable() {
                        continue;
                    }
                    (node, job.spec.per_task())
                }
                Victim::Executor(k) => {
                    let e = &executors[*k];
                    let Some(&node) = index.get(e.worker.as_str()) else {
                        continue;
                    };
                    let held = e.held.min_each(
                        &nodes
                            .node_capacity(node)
                            .saturating_minus(&trial.free(node)),
                    );
                    (node, held)
                }
            };
            trial.release(node, &held);
            if matches!(victim, Victim::Executor(_)) {
                freed.push((node, held));
            }
            chosen.push(victim);
            if place(&trial, workers, &spec, n).is_some() {
                let mut cmds = Vec::new();
                let only_executors = chosen.iter().all(|v| matches!(v, Victim::Executor(_)));
                if only_executors {
                    for (node, held) in &freed {
                        nodes.release(*node, held);
                    }
                }
                for victim in chosen {
                    let (jn, i) = match victim {
                        Victim::Task(jn, i) => (jn, i),
                        Victim::Executor(k) => {
                            let e = &executors[k];
                            tracing::info!(executor = %e.name, by = %name, "preempting an executor");
                            cmds.push((
                                e.worker.clone(),
                                WorkerCommand {
                                    cmd: Some(Cmd::KillExecutor(e.name.clone())),
                                },
                            ));
                            self.preempted_executors.push(e.name.clone());
                            continue;
                        }
                    };
                    let job = self.jobs.get_mut(&jn).expect("chosen from the table");
                    let t = &mut job.tasks[i];
                    t.state = TaskState::Stopping { requeue: true };
                    job.preemptions += 1;
                    job.message = format!("task {i} preempted by production job {name}");
                    tracing::info!(job = %jn, task = i, by = %name, "preempting");
                    cmds.push(stop(
                        &t.worker.clone(),
                        task_id(&jn, t),
                        job.spec.grace_period_ms,
                    ));
                    refresh(job);
                }
                return (cmds, only_executors);
            }
        }
        (Vec::new(), false)
    }

    /// The jobs' status (one job's with `name`).
    pub fn status(&self, name: Option<&str>) -> Result<Vec<JobStatus>, String> {
        if let Some(n) = name
            && !self.jobs.contains_key(n)
        {
            return Err(format!("no job named {n} (see `strata job ls`)"));
        }
        Ok(self
            .jobs
            .iter()
            .filter(|(n, _)| name.is_none_or(|x| x == *n))
            .map(|(n, j)| JobStatus {
                name: n.clone(),
                tenant: j.spec.tenant.clone(),
                priority: j.spec.priority.as_str().into(),
                kind: match j.spec.kind {
                    Kind::Service => "service".into(),
                    Kind::Batch => "batch".into(),
                },
                state: j.state.name().into(),
                tasks: j.spec.tasks,
                running: j
                    .tasks
                    .iter()
                    .filter(|t| t.state == TaskState::Running)
                    .count() as u32,
                restarts: j.restarts,
                preemptions: j.preemptions,
                message: j.message.clone(),
                task: j
                    .tasks
                    .iter()
                    .map(|t| TaskStatus {
                        index: t.index,
                        state: match t.state {
                            TaskState::Pending => "pending",
                            TaskState::Running => "running",
                            TaskState::Stopping { .. } => "stopping",
                            TaskState::Succeeded => "succeeded",
                            TaskState::Failed(_) => "failed",
                        }
                        .into(),
                        worker: t.worker.clone(),
                        attempt: t.attempt,
                        exit: t.exit,
                    })
                    .collect(),
            })
            .collect())
    }
}

fn entitlement_key(tenant: &str, pool: &str) -> String {
    format!("{tenant}@pool:{pool}")
}

/// A tenant's share of the cluster in a hierarchy of queues: `org/team` gets `org`'s weight
/// among its sibling queues times `org/team`'s among `org`'s children (each weight 1 unless
/// set), so queues split first and their tenants share what their queue gets.
pub fn effective_weight(weights: &HashMap<String, f64>, tenant: &str, active: &[&str]) -> f64 {
    let w = |name: &str| weights.get(name).copied().unwrap_or(1.0).max(1e-9);
    let parts: Vec<&str> = tenant.split('/').collect();
    let mut eff = 1.0;
    for depth in 1..=parts.len() {
        let parent = &parts[..depth - 1];
        let siblings: std::collections::BTreeSet<String> = active
            .iter()
            .map(|t| t.split('/').collect::<Vec<_>>())
            .filter(|p| p.len() >= depth && &p[..depth - 1] == parent)
            .map(|p| p[..depth].join("/"))
            .collect();
        let total: f64 = siblings.iter().map(|s| w(s)).sum();
        eff *= w(&parts[..depth].join("/")) / total.max(1e-9);
    }
    eff
}

/// Where a unit of `n` tasks of `spec` fits now, honouring its labels and spread.
fn place(
    nodes: &Nodes,
    workers: &[WorkerView],
    spec: &JobSpec,
    n: u32,
) -> Option<Vec<(NodeId, u32)>> {
    let labels = &spec.constraints.labels;
    let filtered;
    let nodes = if labels.is_empty() {
        nodes
    } else {
        let mut copy = nodes.clone();
        for (i, w) in workers.iter().enumerate() {
            let ok = labels.iter().all(|(k, v)| w.labels.get(k) == Some(v));
            if !ok {
                let free = copy.free(i as NodeId);
                copy.allocate(i as NodeId, &free);
            }
        }
        filtered = copy;
        &filtered
    };
    let per_task = spec.per_task();
    if spec.constraints.spread {
        Scattered.place(nodes, n, &per_task)
    } else {
        Consolidated.place(nodes, n, &per_task)
    }
}

fn launch(name: &str, spec: &JobSpec, t: &Task) -> WorkerCommand {
    let per_task = spec.per_task();
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.push(format!("STRATA_JOB={name}"));
    env.push(format!("STRATA_TASK_INDEX={}", t.index));
    env.push(format!("STRATA_TASK_COUNT={}", spec.tasks));
    env.push(format!("STRATA_TASK_ATTEMPT={}", t.attempt));
    WorkerCommand {
        cmd: Some(Cmd::LaunchTask(LaunchTask {
            task: task_id(name, t),
            command: spec.command.clone(),
            env,
            cpu_milli: per_task.cpu_milli,
            mem_mib: per_task.mem_mib,
            gpu_milli: per_task.gpu_milli,
            health: spec
                .health
                .as_ref()
                .map(|h| h.command.clone())
                .unwrap_or_default(),
            health_interval_ms: spec.health.as_ref().map_or(0, |h| h.interval_ms),
            health_failures: spec.health.as_ref().map_or(0, |h| h.failures),
            disk_mib: per_task.disk_mib,
        })),
    }
}

fn refresh(job: &mut JobEntry) {
    if job.state.ended() {
        return;
    }
    job.state = if job.tasks.iter().all(|t| t.state == TaskState::Succeeded) {
        job.message = "every task succeeded".into();
        JobState::Succeeded
    } else if job.tasks.iter().any(|t| t.state == TaskState::Running) {
        JobState::Running
    } else {
        JobState::Pending
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchical_weights_split_queues_then_tenants() {
        let mut w = HashMap::new();
        w.insert("ads".to_string(), 3.0);
        let active = ["ads/a", "ads/b", "search"];
        let e = |t| effective_weight(&w, t, &active);
        assert!((e("ads/a") - 0.375).abs() < 1e-12);
        assert!((e("search") - 0.25).abs() < 1e-12);
        assert!((e("ads/a") + e("ads/b") + e("search") - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_queue_order_follows_the_configured_policy() {
        let labels = HashMap::new();
        let workers = [WorkerView {
            id: "w",
            capacity: Resources::new(0.0, 1.0, 1024),
            labels: &labels,
        }];
        let spec = |name: &str, d: f64| {
            let text = format!("name = \"{name}\"\nduration_s = {d}\ncommand = [\"x\"]\n");
            JobSpec::parse(&text).unwrap()
        };
        for (policy, first) in [
            ("drf", "long"),
            ("fifo", "long"),
            ("sjf", "short"),
            ("srtf", "short"),
            ("themis", "long"),
        ] {
            let mut jobs = Jobs::default();
            jobs.set_policy(policy).unwrap();
            jobs.submit(spec("long", 1000.0), "", None).unwrap();
            jobs.submit(spec("short", 10.0), "", None).unwrap();
            assert_eq!(jobs.schedule(&workers, &[]).len(), 1);
            let running: Vec<&str> = jobs
                .jobs
                .iter()
                .filter(|(_, j)| j.state == JobState::Running)
                .map(|(n, _)| n.as_str())
                .collect();
            assert_eq!(running, [first], "{policy}");
        }
        let err = Jobs::default().set_policy("lottery").unwrap_err();
        assert!(err.contains("unknown policy"), "{err}");
    }
}

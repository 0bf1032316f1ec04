//! Declarative jobs on the master: admission, priority bands, DRF among tenants, gang
//! placement, preemption with a grace period, and restarts (Borg's job model on the
//! `strata-sched` toolkit).
//!
//! This module holds the table and what users do to it (submit, update, kill, quotas,
//! weights, status); [`events`] what workers report (exits, lost nodes, what they run);
//! `schedule` the rounds. After every change (a submission, a task exit reported in a
//! heartbeat, a lost worker, a kill, or the periodic liveness tick) [`Jobs::schedule`]
//! rebuilds a `Nodes` from the live workers minus what executors and running tasks hold, and
//! places pending work in order: higher bands first, then the `Drf` policy (the very object
//! the simulator runs) across tenants. A unit of placement is one task, or a whole gang. A
//! production unit that does not fit preempts running tasks of lower bands and applications'
//! executors (best effort first, newest first) — only as many as make it fit, within every
//! job's disruption budget, and none while earlier victims are still inside their grace
//! period. Preempted tasks go back to pending. The table outlives a master restart
//! (`jobstore`).

use crate::proto::{JobStatus, StopTask, TaskStatus, WorkerCommand, worker_command::Cmd};
use crate::spec::{JobSpec, Kind};
use std::collections::{BTreeMap, HashMap};
use strata_sched::policy::{Drf, Policy, TenantQuota};
use strata_sched::{Job, Resources};

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
    /// What it is expected to use (Borg's reservation): its limit at first, then following
    /// measured use plus a margin — up at once, down by a tenth a report.
    reservation: Option<Resources>,
}

impl Task {
    /// A task that has not started yet.
    fn pending(index: u32) -> Task {
        Task {
            index,
            attempt: 0,
            state: TaskState::Pending,
            worker: String::new(),
            exit: 0,
            started: 0,
            version: 0,
            ran: Default::default(),
            since: None,
            reservation: None,
        }
    }

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

/// The parts of a task id `job/index/attempt` (job names hold no `/`).
fn parse_task_id(id: &str) -> Option<(&str, usize, u64)> {
    let mut p = id.rsplitn(3, '/');
    let attempt = p.next()?.parse().ok()?;
    let index = p.next()?.parse().ok()?;
    Some((p.next()?, index, attempt))
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
        let tasks = (0..spec.tasks).map(Task::pending).collect();
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
        job.tasks
            .extend((job.spec.tasks..spec.tasks).map(Task::pending));
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

pub mod events;
mod schedule;

pub use schedule::effective_weight;

//! Declarative job specs (Borg's BCL, in TOML): what `strata job submit FILE.toml` sends.
//!
//! ```toml
//! name = "web"
//! tenant = "ads"
//! priority = "production"        # production | batch | best-effort
//! kind = "service"               # service (kept running) | batch (runs to completion)
//! tasks = 3
//! gang = false                   # true: all tasks start together or none does
//! restart = "always"             # never | on-failure | always [service: always, batch: on-failure]
//! max_restarts = 10
//! grace_period_ms = 5000         # SIGTERM, then SIGKILL this much later
//! duration_s = 3600             # expected run time (queue orders sjf, srtf, themis)
//! max_unavailable = 1            # disruption budget: updates roll and preemption stops
//!                                # at this many tasks down (keeps a quorum up)
//! command = ["python3", "-m", "http.server"]
//! env = { MODE = "prod" }
//! [resources]                    # per task
//! cpu = 1.0
//! mem = "512MiB"
//! gpu = 0
//! disk = "10GiB"                 # local disk (workers offer --disk, default their free space)
//! [constraints]
//! labels = { zone = "a" }        # only nodes with these labels
//! spread = true                  # spread tasks over nodes (default: pack them)
//! [health]                       # services: a failing check restarts the task
//! command = ["curl", "-sf", "http://127.0.0.1:8000/"]
//! interval_ms = 1000
//! failures = 3                   # consecutive failures that kill the task
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use strata_common::ByteSize;
use strata_sched::Resources;

/// Priority bands, highest last so they compare in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Band {
    /// Runs only in what nobody else wants; preempted first.
    BestEffort,
    /// Throughput work.
    Batch,
    /// Latency-sensitive serving; preempts the bands below it.
    Production,
}

impl Band {
    /// Its name in specs.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::BestEffort => "best-effort",
            Band::Batch => "batch",
            Band::Production => "production",
        }
    }
}

/// Services are kept running; batch jobs run to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Restarted when it exits or its node dies.
    Service,
    /// Done when every task has exited 0.
    Batch,
}

/// When an exited task is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Never (a node's death still reschedules it).
    Never,
    /// After a non-zero exit.
    OnFailure,
    /// After any exit.
    Always,
}

/// What each task needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskResources {
    /// CPU cores (fractions allowed).
    #[serde(default = "one")]
    pub cpu: f64,
    /// Memory.
    #[serde(default = "default_mem")]
    pub mem: ByteSize,
    /// Whole GPUs.
    #[serde(default)]
    pub gpu: u32,
    /// Local disk.
    #[serde(default)]
    pub disk: ByteSize,
}

fn one() -> f64 {
    1.0
}

fn default_mem() -> ByteSize {
    ByteSize::mib(256)
}

impl Default for TaskResources {
    fn default() -> Self {
        TaskResources {
            cpu: 1.0,
            mem: default_mem(),
            gpu: 0,
            disk: ByteSize::default(),
        }
    }
}

/// Where tasks may go.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    /// Labels a node must carry (`strata worker --label k=v`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Spread tasks over nodes (worst fit) instead of packing them (best fit).
    #[serde(default)]
    pub spread: bool,
}

/// A health check the node agent runs beside each task.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Program and arguments; exit 0 is healthy.
    pub command: Vec<String>,
    /// Milliseconds between checks.
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Consecutive failures that kill the task (its restart policy then applies).
    #[serde(default = "default_failures")]
    pub failures: u32,
}

fn default_interval() -> u64 {
    1000
}
fn default_failures() -> u32 {
    3
}

/// A job spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Unique among the master's jobs.
    pub name: String,
    /// Whose quota it draws on and whose fair share it counts against.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Priority band.
    #[serde(default = "default_band")]
    pub priority: Band,
    /// Service or batch.
    #[serde(default = "default_kind")]
    pub kind: Kind,
    /// Number of tasks.
    #[serde(default = "one_task")]
    pub tasks: u32,
    /// All tasks placed together or none.
    #[serde(default)]
    pub gang: bool,
    /// Restart policy [service: always; batch: on-failure].
    pub restart: Option<Restart>,
    /// Restarts allowed before the job fails.
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// Disruption budget: at most this many tasks down for an update or a preemption (Twine's
    /// task control, Kubernetes' PodDisruptionBudget); none = no limit.
    pub max_unavailable: Option<u32>,
    /// SIGTERM-to-SIGKILL grace on preemption and kill.
    #[serde(default = "default_grace")]
    pub grace_period_ms: u64,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Extra environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Per-task resources.
    #[serde(default)]
    pub resources: TaskResources,
    /// Placement constraints.
    #[serde(default)]
    pub constraints: Constraints,
    /// Health check.
    pub health: Option<Health>,
    /// Expected run time in seconds (for the SJF, SRTF and Themis queue orders).
    pub duration_s: Option<f64>,
}

fn default_tenant() -> String {
    "default".into()
}
fn default_band() -> Band {
    Band::Batch
}
fn default_kind() -> Kind {
    Kind::Batch
}
fn one_task() -> u32 {
    1
}
fn default_max_restarts() -> u32 {
    10
}
fn default_grace() -> u64 {
    5000
}

impl JobSpec {
    /// Parses and checks a spec; the error says which field is wrong and how.
    pub fn parse(text: &str) -> Result<JobSpec, String> {
        let spec: JobSpec =
            toml::from_str(text).map_err(|e| format!("invalid job spec: {}", e.message()))?;
        let name_ok = !spec.name.is_empty()
            && spec
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(format!(
                "invalid job name `{}`: use letters, digits, - and _",
                spec.name
            ));
        }
        if spec.command.is_empty() || spec.command[0].is_empty() {
            return Err(format!("job {}: `command` must name a program", spec.name));
        }
        if spec.tasks == 0 || spec.tasks > 10_000 {
            return Err(format!("job {}: `tasks` must be 1 to 10000", spec.name));
        }
        if let Some(h) = &spec.health
            && (h.command.is_empty() || h.interval_ms == 0 || h.failures == 0)
        {
            return Err(format!(
                "job {}: [health] needs a command, interval_ms > 0 and failures > 0",
                spec.name
            ));
        }
        if !(spec.resources.cpu.is_finite() && spec.resources.cpu >= 0.0) {
            return Err(format!("job {}: `resources.cpu` must be ≥ 0", spec.name));
        }
        Ok(spec)
    }

    /// The restart policy, defaulted by kind.
    pub fn restart(&self) -> Restart {
        self.restart.unwrap_or(match self.kind {
            Kind::Service => Restart::Always,
            Kind::Batch => Restart::OnFailure,
        })
    }

    /// One task's resource vector.
    pub fn per_task(&self) -> Resources {
        Resources::new(
            f64::from(self.resources.gpu),
            self.resources.cpu,
            self.resources.mem.bytes() >> 20,
        )
        .with_disk(self.resources.disk.bytes() >> 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_refuses_bad_fields() {
        let s = JobSpec::parse("name = \"a\"\ncommand = [\"sleep\", \"9\"]\n").unwrap();
        assert_eq!(
            (s.tenant.as_str(), s.priority, s.kind, s.tasks),
            ("default", Band::Batch, Kind::Batch, 1)
        );
        assert_eq!(s.restart(), Restart::OnFailure);
        assert_eq!(s.per_task(), Resources::new(0.0, 1.0, 256));
        let s = JobSpec::parse(
            "name = \"w\"\nkind = \"service\"\npriority = \"production\"\ntasks = 3\ncommand = [\"x\"]\n\
             [resources]\ncpu = 0.5\nmem = \"1GiB\"\ngpu = 2\n[constraints]\nlabels = { zone = \"a\" }\n",
        )
        .unwrap();
        assert_eq!(s.restart(), Restart::Always);
        assert_eq!(s.per_task(), Resources::new(2.0, 0.5, 1024));
        assert!(Band::Production > Band::Batch && Band::Batch > Band::BestEffort);
        for (bad, want) in [
            ("name = \"a\"\ncommand = []\n", "must name a program"),
            ("name = \"a b\"\ncommand = [\"x\"]\n", "invalid job name"),
            (
                "name = \"a\"\ncommand = [\"x\"]\npriority = \"urgent\"\n",
                "unknown variant",
            ),
            (
                "name = \"a\"\ncommand = [\"x\"]\ncpus = 2\n",
                "unknown field",
            ),
        ] {
            let e = JobSpec::parse(bad).unwrap_err();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}

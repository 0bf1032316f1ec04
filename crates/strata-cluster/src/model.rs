//! What a driver reports about its application, for the master's web UI.
//!
//! The driver owns the truth about jobs, stages and tasks; it sends a snapshot of this model
//! with every application heartbeat (bincode in `AppHeartbeatRequest.ui`), and the master
//! renders the latest one. Durations are milliseconds; times are milliseconds since the Unix
//! epoch.

use serde::{Deserialize, Serialize};

/// One application's jobs and executors.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AppUi {
    /// Jobs, oldest first.
    pub jobs: Vec<JobUi>,
    /// Executors the driver has seen.
    pub executors: Vec<ExecutorUi>,
    /// Tasks that asked for particular hosts and ran on one of them.
    pub local_tasks: u64,
    /// Tasks that asked for particular hosts.
    pub tasks_with_preference: u64,
    /// Backup copies launched for stragglers.
    pub speculative_tasks: u64,
    /// Map outputs lost with their executor, or found unreadable by a reducer.
    pub map_outputs_lost: u64,
    /// Map tasks run again to replace lost outputs.
    pub map_tasks_rerun: u64,
}

/// An executor as the driver sees it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExecutorUi {
    /// Executor id within the application.
    pub id: u64,
    /// Host it runs on.
    pub host: String,
    /// Task slots.
    pub cores: usize,
    /// Whether it is connected.
    pub alive: bool,
    /// `alive`, `lost` (connection failed or went silent) or `exited` (said goodbye).
    pub state: String,
    /// Tasks it finished.
    pub tasks_done: u64,
}

/// A job: one action.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct JobUi {
    /// Job id.
    pub id: u64,
    /// What the action was ("save", "collect", ...), with the dataset's name.
    pub name: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// Start time.
    pub started_ms: u64,
    /// Run time so far.
    pub duration_ms: u64,
    /// The error, if it failed.
    pub error: Option<String>,
    /// Stages in the order they ran.
    pub stages: Vec<StageUi>,
}

/// A stage: a set of tasks that pipeline narrow dependencies.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StageUi {
    /// Stage id.
    pub id: u64,
    /// Description.
    pub name: String,
    /// The shuffle this stage writes (a map stage), if any.
    pub shuffle: Option<u64>,
    /// Stages whose shuffle output this one reads.
    pub parents: Vec<u64>,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// Tasks the stage needs.
    pub num_tasks: usize,
    /// Every attempt so far.
    pub tasks: Vec<TaskUi>,
}

/// One attempt of one task.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TaskUi {
    /// The partition.
    pub partition: usize,
    /// The attempt number.
    pub attempt: u32,
    /// The executor running it.
    pub executor: u64,
    /// That executor's host.
    pub host: String,
    /// `node-local` (ran where its input is), `any` (ran elsewhere) or `-` (no preference).
    pub locality: String,
    /// Whether this is a speculative backup copy.
    pub speculative: bool,
    /// `running`, `succeeded`, `failed` or `superseded` (another copy won).
    pub status: String,
    /// Run time (so far, if running).
    pub duration_ms: u64,
    /// Start time.
    pub started_ms: u64,
    /// The error, if it failed.
    pub error: Option<String>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

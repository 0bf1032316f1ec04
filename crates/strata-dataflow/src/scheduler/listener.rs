//! Scheduler events, for progress bars, the web UI and tests (Spark's `SparkListener`).

/// Receives scheduler events. Every method has an empty default.
pub trait JobListener: Send + Sync {
    /// A job (one action) started.
    fn on_job_start(&self, _job: u64, _description: &str) {}
    /// A stage was submitted with `tasks` tasks to run.
    fn on_stage_start(&self, _job: u64, _stage: u64, _description: &str, _tasks: usize) {}
    /// A task attempt ended.
    fn on_task_end(&self, _stage: u64, _partition: usize, _attempt: u32, _ok: bool) {}
    /// A stage finished (successfully or not).
    fn on_stage_end(&self, _stage: u64, _ok: bool) {}
    /// A job finished.
    fn on_job_end(&self, _job: u64, _ok: bool) {}
}

//! The DAG scheduler and task execution.
//!
//! An action calls [`run_job`] with a final dataset and a function of a partition. The
//! scheduler walks the lineage back from the final dataset: narrow dependencies stay in the
//! same stage (their computation is pipelined in one task, iterator into iterator), and each
//! shuffle dependency is a stage boundary. Map stages whose output is missing run first,
//! parents before children (skipping any upstream of a fully cached dataset), then the result
//! stage. Each stage's tasks go to the runtime's CPU pool (`strata_runtime::CpuPool`).
//!
//! Failures: a task attempt that fails is retried up to `task_max_attempts` times (a panic
//! in user code is caught and counts as a failure); then the job fails with the task, stage
//! and last cause. Bad input and unwritable output are not retried: the job fails at once
//! with that error. A reducer that cannot read a map output reports `FetchFailed`; the
//! scheduler forgets that output, re-runs only the map tasks whose output is missing, and
//! resumes the stage that failed (at most `MAX_STAGE_RESUBMITS` times).

pub(crate) mod dag;
pub use dag::MAX_STAGE_RESUBMITS;
pub mod listener;

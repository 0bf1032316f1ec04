//! The context a running task sees, and the per-task bookkeeping around it.
//!
//! Iterators cannot return errors, so an operator that hits one mid-stream (an unreadable
//! file, a lost shuffle block) records it with [`TaskContext::fail`] and ends its iterator;
//! the task runner checks [`TaskContext::take_error`] once the pipeline has drained and fails
//! the attempt. Only the first error is kept.

use crate::error::Error;
use crate::memory::MemoryManager;
use crate::metrics::TaskMetrics;
use crate::shuffle::ShuffleManager;
use std::cell::RefCell;
use std::sync::Arc;

/// Identity and resources of one task attempt.
pub struct TaskContext {
    /// The job this task belongs to.
    pub job_id: u64,
    /// The stage.
    pub stage_id: u64,
    /// The partition computed.
    pub partition: usize,
    /// 0 for the first attempt, then 1, 2, ...
    pub attempt: u32,
    pub(crate) shuffle: Arc<ShuffleManager>,
    pub(crate) memory: Arc<MemoryManager>,
    pub(crate) metrics: TaskMetrics,
    pub(crate) inject_failure: bool,
    /// Partitions this attempt stored in the cache (`(dataset id, partition)`), which a
    /// cluster driver remembers to send later tasks on them to this executor.
    pub(crate) cached: RefCell<Vec<(u64, usize)>>,
    error: RefCell<Option<Error>>,
}

impl TaskContext {
    pub(crate) fn new(
        job_id: u64,
        stage_id: u64,
        partition: usize,
        attempt: u32,
        shuffle: Arc<ShuffleManager>,
        memory: Arc<MemoryManager>,
    ) -> Self {
        TaskContext {
            job_id,
            stage_id,
            partition,
            attempt,
            shuffle,
            memory,
            metrics: TaskMetrics::default(),
            inject_failure: false,
            cached: RefCell::new(Vec::new()),
            error: RefCell::new(None),
        }
    }

    /// Records an error; the attempt fails once its iterators have stopped.
    pub fn fail(&self, err: Error) {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(err);
        }
    }

    /// Whether an error has been recorded (operators stop early when it has).
    pub fn failed(&self) -> bool {
        self.error.borrow().is_some()
    }

    /// Takes the recorded error, if any.
    pub fn take_error(&self) -> Option<Error> {
        self.error.borrow_mut().take()
    }

    /// A reservation of the runtime's memory for one operator's buffers (`what` names it
    /// in errors); the operator spills when it cannot grow.
    pub fn reserve(&self, what: &str) -> strata_runtime::Reservation {
        self.memory.reserve(what)
    }
}

/// Failures injected on purpose, to test recovery: a context-scoped failpoint.
///
/// Unlike a process-global failpoint registry, the policy belongs to one
/// [`crate::Context`], so tests that run in parallel in one process cannot disturb each other.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FailurePolicy {
    /// No injected failures (the default).
    #[default]
    None,
    /// The first attempt of every task computing one of these partitions fails after it
    /// has run its whole pipeline (so partial side effects must be discarded).
    FailFirstAttempt(Vec<usize>),
    /// Every attempt of tasks computing these partitions fails (to test retry exhaustion).
    AlwaysFail(Vec<usize>),
}

impl FailurePolicy {
    pub(crate) fn should_fail(&self, partition: usize, attempt: u32) -> bool {
        match self {
            FailurePolicy::None => false,
            FailurePolicy::FailFirstAttempt(p) => attempt == 0 && p.contains(&partition),
            FailurePolicy::AlwaysFail(p) => p.contains(&partition),
        }
    }
}

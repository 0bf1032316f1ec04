//! A job as the scheduler sees it: when it arrived, whose it is, how long it runs, and a gang
//! of identical tasks with a resource vector each.

use crate::resources::Resources;

/// One job of a trace (or of the real master's queue).
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The trace's name for it.
    pub id: String,
    /// Who submitted it (fair-share policies share among tenants).
    pub tenant: String,
    /// Arrival time, seconds.
    pub submit: f64,
    /// Running time, seconds, when it holds all its tasks' resources.
    pub duration: f64,
    /// Tasks in the gang: all are placed together or none is.
    pub tasks: u32,
    /// What each task needs.
    pub per_task: Resources,
}

impl Job {
    /// A job asking for `gpus` GPUs, `cpus` cores and `mem_mib` in total. A job of several
    /// whole GPUs is a gang of one-GPU tasks (so it may span nodes), each with an equal part of
    /// the CPUs and memory; anything else is a single task.
    pub fn from_totals(
        id: String,
        tenant: String,
        submit: f64,
        duration: f64,
        gpus: f64,
        cpus: f64,
        mem_mib: u64,
    ) -> Job {
        let whole = gpus >= 2.0 && gpus.fract() == 0.0;
        let (tasks, per_task) = if whole {
            let n = gpus as u32;
            (
                n,
                Resources::new(1.0, cpus / f64::from(n), mem_mib / u64::from(n)),
            )
        } else {
            (1, Resources::new(gpus, cpus, mem_mib))
        };
        Job {
            id,
            tenant,
            submit,
            duration,
            tasks,
            per_task,
        }
    }

    /// Everything the gang holds while it runs.
    pub fn demand(&self) -> Resources {
        self.per_task.times(self.tasks)
    }

    /// GPUs held while running.
    pub fn gpus(&self) -> f64 {
        self.demand().gpus()
    }
}

/// The jobs read from a trace, and what was left out of it.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// The jobs, in the trace's order.
    pub jobs: Vec<Job>,
    /// Records skipped (no start or end, zero length), with the first reason seen.
    pub skipped: usize,
    /// Why the first skipped record was skipped.
    pub skip_reason: Option<String>,
}

impl Trace {
    pub(crate) fn skip(&mut self, why: impl FnOnce() -> String) {
        self.skipped += 1;
        if self.skip_reason.is_none() {
            self.skip_reason = Some(why());
        }
    }

    /// Shifts submit times so the first job arrives at 0.
    pub fn rebase(&mut self) {
        let first = self
            .jobs
            .iter()
            .map(|j| j.submit)
            .fold(f64::INFINITY, f64::min);
        if first.is_finite() {
            for j in &mut self.jobs {
                j.submit -= first;
            }
        }
    }
}

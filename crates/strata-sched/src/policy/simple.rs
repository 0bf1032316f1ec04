//! The single-queue orders: FIFO and SJF (non-preemptive), SRTF and LAS (preemptive).

use super::{JobView, Policy, sorted_by};
use crate::resources::Resources;

/// First in, first out; a job that does not fit is skipped, not waited for.
pub struct Fifo;

impl Policy for Fifo {
    fn name(&self) -> &'static str {
        "fifo"
    }
    fn preemptive(&self) -> bool {
        false
    }
    fn order(&mut self, _: f64, _: &Resources, jobs: &[JobView]) -> Vec<usize> {
        sorted_by(jobs, |_| 0u8)
    }
}

/// Shortest job first, by the job's full duration (an oracle, as in the papers' baselines).
pub struct Sjf;

impl Policy for Sjf {
    fn name(&self) -> &'static str {
        "sjf"
    }
    fn preemptive(&self) -> bool {
        false
    }
    fn order(&mut self, _: f64, _: &Resources, jobs: &[JobView]) -> Vec<usize> {
        sorted_by(jobs, |j| j.duration)
    }
}

/// Shortest remaining time first: preempts on every arrival that is shorter.
pub struct Srtf;

impl Policy for Srtf {
    fn name(&self) -> &'static str {
        "srtf"
    }
    fn preemptive(&self) -> bool {
        true
    }
    fn order(&mut self, _: f64, _: &Resources, jobs: &[JobView]) -> Vec<usize> {
        sorted_by(jobs, |j| j.remaining)
    }
}

/// Least attained service (GPU-seconds, Tiresias' 2D form): needs no knowledge of durations;
/// new jobs run first, and long ones sink.
pub struct Las {
    /// Seconds between rounds.
    pub round: f64,
}

impl Policy for Las {
    fn name(&self) -> &'static str {
        "las"
    }
    fn preemptive(&self) -> bool {
        true
    }
    fn round(&self) -> Option<f64> {
        Some(self.round)
    }
    fn order(&mut self, _: f64, _: &Resources, jobs: &[JobView]) -> Vec<usize> {
        sorted_by(jobs, |j| j.attained)
    }
}

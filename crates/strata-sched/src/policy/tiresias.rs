//! Tiresias' discretized two-dimensional LAS (NSDI '19): jobs sit in priority queues by
//! attained GPU-seconds (GPUs × time), FIFO within a queue; a job waiting longer than
//! `promote` times its run time is promoted back to the top queue (its counted service reset),
//! so long jobs do not starve.

use super::{JobView, Policy, sorted_by};
use crate::resources::Resources;
use std::collections::HashMap;

/// Discretized 2D-LAS.
pub struct Tiresias {
    /// Seconds between rounds.
    pub round: f64,
    /// Queue boundaries in GPU-seconds, ascending.
    pub thresholds: Vec<f64>,
    /// Starvation knob: promote a waiting job once waited ≥ `promote` × executed.
    pub promote: f64,
    /// Service each job had when it was last promoted (subtracted from what it attained).
    reset: HashMap<usize, f64>,
}

impl Tiresias {
    /// Two boundaries, one GPU-hour and ten GPU-hours, and promotion after waiting twice as
    /// long as it ran.
    pub fn new(round: f64) -> Tiresias {
        Tiresias {
            round,
            thresholds: vec![3600.0, 36000.0],
            promote: 2.0,
            reset: HashMap::new(),
        }
    }
}

impl Policy for Tiresias {
    fn name(&self) -> &'static str {
        "tiresias"
    }
    fn preemptive(&self) -> bool {
        true
    }
    fn round(&self) -> Option<f64> {
        Some(self.round)
    }
    fn order(&mut self, now: f64, _: &Resources, jobs: &[JobView]) -> Vec<usize> {
        let live: std::collections::HashSet<usize> = jobs.iter().map(|j| j.key).collect();
        self.reset.retain(|k, _| live.contains(k));
        for j in jobs {
            let starving = !j.running
                && j.executed > 0.0
                && now - j.waiting_since >= self.promote * j.executed;
            if starving {
                self.reset.insert(j.key, j.attained);
            }
        }
        let reset = &self.reset;
        let thresholds = &self.thresholds;
        sorted_by(jobs, |j| {
            let counted = j.attained - reset.get(&j.key).copied().unwrap_or(0.0);
            thresholds.iter().filter(|&&t| counted >= t).count()
        })
    }
}

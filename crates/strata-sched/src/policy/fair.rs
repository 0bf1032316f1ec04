//! Fairness among tenants and jobs: Dominant Resource Fairness (NSDI '11), Gandiva-fair's
//! stride scheduling of GPU time among tenants (EuroSys '20), and Themis' finish-time
//! fairness (NSDI '20).

use super::{JobView, Policy, sorted_by};
use crate::resources::Resources;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// A tenant's weight (1 unless set).
fn weight(weights: &HashMap<u32, f64>, tenant: u32) -> f64 {
    weights.get(&tenant).copied().unwrap_or(1.0).max(1e-9)
}

/// Each tenant's waiting jobs, oldest first, keyed by tenant in ascending order.
fn queues(jobs: &[JobView], waiting: impl Fn(&JobView) -> bool) -> BTreeMap<u32, VecDeque<usize>> {
    let mut queues: BTreeMap<u32, VecDeque<usize>> = BTreeMap::new();
    for i in sorted_by(jobs, |_| 0u8) {
        if waiting(&jobs[i]) {
            queues.entry(jobs[i].tenant).or_default().push_back(i);
        }
    }
    queues
}

/// Dominant Resource Fairness by progressive filling: running jobs keep what they hold; the
/// next waiting job is always the oldest of the tenant whose dominant share (its allocation's
/// largest fraction of any one resource, over its weight) is smallest. Non-preemptive, as in
/// Mesos: shares converge as tasks finish.
#[derive(Default)]
pub struct Drf {
    /// Tenant weights (1 when absent).
    pub weights: HashMap<u32, f64>,
}

impl Policy for Drf {
    fn name(&self) -> &'static str {
        "drf"
    }
    fn preemptive(&self) -> bool {
        false
    }
    fn order(&mut self, _: f64, capacity: &Resources, jobs: &[JobView]) -> Vec<usize> {
        let mut held: BTreeMap<u32, Resources> = BTreeMap::new();
        let mut order = Vec::with_capacity(jobs.len());
        for (i, j) in jobs.iter().enumerate() {
            if j.running {
                let h = held.entry(j.tenant).or_default();
                *h = h.plus(&j.demand);
                order.push(i);
            }
        }
        let mut queues = queues(jobs, |j| !j.running);
        while let Some((&tenant, _)) = queues.iter().min_by(|a, b| {
            let share = |t: u32| {
                held.get(&t)
                    .copied()
                    .unwrap_or_default()
                    .dominant_share(capacity)
                    / weight(&self.weights, t)
            };
            share(*a.0).total_cmp(&share(*b.0))
        }) {
            let queue = queues.get_mut(&tenant).expect("picked from the map");
            let next = queue.pop_front().expect("queues are never left empty");
            if queue.is_empty() {
                queues.remove(&tenant);
            }
            let h = held.entry(tenant).or_default();
            *h = h.plus(&jobs[next].demand);
            order.push(next);
        }
        order
    }
}

/// Gandiva-fair's stride scheduling: each tenant's pass is the GPU-time it has received over
/// its tickets; every round the tenant with the lowest pass gets its next job and its pass
/// advances by that job's share of the round. Tenants share GPU time in proportion to their
/// tickets, whatever their jobs' sizes; within a tenant, the job with the least attained
/// service goes first.
pub struct GandivaFair {
    /// Seconds between rounds.
    pub round: f64,
    /// Tickets per tenant (1 when absent).
    pub tickets: HashMap<u32, f64>,
    served: HashMap<u32, f64>,
    seen: HashMap<usize, f64>,
}

impl GandivaFair {
    /// Equal tickets.
    pub fn new(round: f64) -> GandivaFair {
        GandivaFair {
            round,
            tickets: HashMap::new(),
            served: HashMap::new(),
            seen: HashMap::new(),
        }
    }
}

impl Policy for GandivaFair {
    fn name(&self) -> &'static str {
        "gandiva-fair"
    }
    fn preemptive(&self) -> bool {
        true
    }
    fn round(&self) -> Option<f64> {
        Some(self.round)
    }
    fn order(&mut self, _: f64, _: &Resources, jobs: &[JobView]) -> Vec<usize> {
        // Service received since the last round, per tenant (finished jobs' last slice was
        // counted the round before they finished).
        let mut seen = HashMap::with_capacity(jobs.len());
        for j in jobs {
            let before = self.seen.get(&j.key).copied().unwrap_or(0.0);
            *self.served.entry(j.tenant).or_default() += j.attained - before;
            seen.insert(j.key, j.attained);
        }
        self.seen = seen;
        // Within a tenant, jobs time-share by least attained service (Gandiva's time-slicing
        // inside a tenant's share).
        let mut queues: BTreeMap<u32, VecDeque<usize>> = BTreeMap::new();
        for i in sorted_by(jobs, |j| j.attained) {
            queues.entry(jobs[i].tenant).or_default().push_back(i);
        }
        let mut pass: BTreeMap<u32, f64> = queues
            .keys()
            .map(|&t| {
                (
                    t,
                    self.served.get(&t).copied().unwrap_or(0.0) / weight(&self.tickets, t),
                )
            })
            .collect();
        let mut order = Vec::with_capacity(jobs.len());
        while let Some((&tenant, _)) = pass
            .iter()
            .filter(|(t, _)| queues.contains_key(t))
            .min_by(|a, b| a.1.total_cmp(b.1))
        {
            let queue = queues.get_mut(&tenant).expect("filtered on presence");
            let next = queue.pop_front().expect("queues are never left empty");
            if queue.is_empty() {
                queues.remove(&tenant);
            }
            *pass
                .get_mut(&tenant)
                .expect("every queued tenant has a pass") +=
                jobs[next].width() * self.round / weight(&self.tickets, tenant);
            order.push(next);
        }
        order
    }
}

/// Themis' finish-time fairness: a job's ρ is its time in the shared cluster over its time
/// alone on a 1/N share of it (N the active jobs). Every round the jobs with the worst
/// estimated ρ — waited plus still to run, over that ideal — are served first.
pub struct Themis {
    /// Seconds between rounds.
    pub round: f64,
}

/// The time a job would take on its own 1/`active` share of a cluster of `capacity` (never
/// less than its duration): Themis' T_id.
pub fn ideal_time(duration: f64, width: f64, active: f64, capacity: f64) -> f64 {
    let share = if capacity > 0.0 {
        (width * active / capacity).max(1.0)
    } else {
        1.0
    };
    duration * share
}

impl Policy for Themis {
    fn name(&self) -> &'static str {
        "themis"
    }
    fn preemptive(&self) -> bool {
        true
    }
    fn round(&self) -> Option<f64> {
        Some(self.round)
    }
    fn order(&mut self, now: f64, capacity: &Resources, jobs: &[JobView]) -> Vec<usize> {
        let n = jobs.len() as f64;
        let cap = super::service_width(capacity);
        sorted_by(jobs, |j| {
            let rho = (now - j.submit + j.remaining) / ideal_time(j.duration, j.width(), n, cap);
            -rho
        })
    }
}

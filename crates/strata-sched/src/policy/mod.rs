//! The policy toolkit (after Blox): admission, scheduling order and placement are separate
//! traits, composed freely, and the same trait objects drive the simulator and the master.
//!
//! A scheduling round: the [`Policy`] sorts the active jobs (running and waiting) into the
//! order they should hold resources. A non-preemptive policy only starts waiting jobs, in that
//! order, where they fit (skipping those that do not). A preemptive policy picks the prefix of
//! the order that fits the cluster's capacity, preempts running jobs outside it, and places
//! the rest of it. The [`Placement`] chooses nodes for every task of a gang at once, or none.

mod admission;
mod fair;
mod placement;
mod simple;
mod tiresias;

pub use admission::{Admission, FitsCluster, TenantQuota};
pub use fair::{Drf, GandivaFair, Themis, ideal_time};
pub use placement::{Consolidated, Placement, Scattered};
pub use simple::{Fifo, Las, Sjf, Srtf};
pub use tiresias::Tiresias;

use crate::resources::Resources;

/// What a policy sees of one active job.
#[derive(Debug, Clone)]
pub struct JobView {
    /// The caller's handle for the job (unique for the job's life).
    pub key: usize,
    /// The tenant, as a small integer.
    pub tenant: u32,
    /// Arrival time.
    pub submit: f64,
    /// Everything the gang holds while it runs.
    pub demand: Resources,
    /// Whether it holds its resources now.
    pub running: bool,
    /// Seconds it has run so far.
    pub executed: f64,
    /// Service received: GPU-seconds (core-seconds for a CPU-only job).
    pub attained: f64,
    /// Seconds of running still needed (the simulator knows; SJF and SRTF use it as an oracle).
    pub remaining: f64,
    /// Its full running time.
    pub duration: f64,
    /// When it last started waiting (arrival or preemption).
    pub waiting_since: f64,
}

impl JobView {
    /// The units service is counted in: GPUs, or cores for a job without GPUs.
    pub fn width(&self) -> f64 {
        service_width(&self.demand)
    }
}

/// GPUs held, or cores for a job without GPUs.
pub fn service_width(demand: &Resources) -> f64 {
    if demand.gpu_milli > 0 {
        demand.gpus()
    } else {
        demand.cpus()
    }
}

/// A scheduling policy: the order in which active jobs should get resources.
pub trait Policy: Send {
    /// Its name on the command line.
    fn name(&self) -> &'static str;
    /// Whether running jobs are preempted to follow the order.
    fn preemptive(&self) -> bool;
    /// Seconds between rounds when nothing arrives or finishes (time-sharing policies whose
    /// order drifts as jobs run); `None` to decide only on arrivals and finishes.
    fn round(&self) -> Option<f64> {
        None
    }
    /// The active jobs' positions in `jobs`, most deserving first. Positions left out are
    /// neither started nor kept.
    fn order(&mut self, now: f64, capacity: &Resources, jobs: &[JobView]) -> Vec<usize>;
}

/// Sorts positions by a key, ties broken by arrival and then by key (so orders are total and
/// runs deterministic).
pub(crate) fn sorted_by<K: PartialOrd>(
    jobs: &[JobView],
    key: impl Fn(&JobView) -> K,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&jobs[a], &jobs[b]);
        key(x)
            .partial_cmp(&key(y))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(x.submit.total_cmp(&y.submit))
            .then(x.key.cmp(&y.key))
    });
    order
}

/// The scheduling policies by name: `fifo`, `sjf`, `srtf`, `las`, `tiresias`, `drf`,
/// `themis`, `gandiva-fair`; `round` is the quantum of the time-sharing ones.
pub fn by_name(name: &str, round: f64) -> Result<Box<dyn Policy>, String> {
    Ok(match name {
        "fifo" => Box::new(Fifo),
        "sjf" => Box::new(Sjf),
        "srtf" => Box::new(Srtf),
        "las" => Box::new(Las { round }),
        "tiresias" => Box::new(Tiresias::new(round)),
        "drf" => Box::new(Drf::default()),
        "themis" => Box::new(Themis { round }),
        "gandiva-fair" => Box::new(GandivaFair::new(round)),
        other => {
            return Err(format!(
                "unknown policy `{other}`: choose from {}",
                POLICIES.join(", ")
            ));
        }
    })
}

/// Every policy name [`by_name`] knows.
pub const POLICIES: [&str; 8] = [
    "fifo",
    "sjf",
    "srtf",
    "las",
    "tiresias",
    "drf",
    "themis",
    "gandiva-fair",
];

/// The placements by name: `consolidated` (alias `pack`, bin-packing) and `scattered`
/// (alias `spread`).
pub fn placement_by_name(name: &str) -> Result<Box<dyn Placement>, String> {
    match name {
        "consolidated" | "pack" => Ok(Box::new(Consolidated)),
        "scattered" | "spread" => Ok(Box::new(Scattered)),
        other => Err(format!(
            "unknown placement `{other}`: use consolidated (pack) or scattered (spread)"
        )),
    }
}

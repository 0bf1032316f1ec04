//! Resource vectors: what a task asks for and what a node offers.
//!
//! Integers in thousandths (GPU and CPU) and MiB (memory, local disk), so that allocating and freeing the
//! same amounts always returns a node to exactly where it was; fractional GPUs (GPU sharing,
//! as in Alibaba's traces) are `gpu_milli < 1000`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A vector of resources: GPUs and CPUs in thousandths, memory in MiB.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Resources {
    /// GPUs in thousandths (1000 = one whole GPU).
    pub gpu_milli: u64,
    /// CPU cores in thousandths.
    pub cpu_milli: u64,
    /// Memory in MiB.
    pub mem_mib: u64,
    /// Local disk in MiB.
    #[serde(default)]
    pub disk_mib: u64,
}

impl Resources {
    /// Nothing.
    pub const ZERO: Resources = Resources {
        gpu_milli: 0,
        cpu_milli: 0,
        mem_mib: 0,
        disk_mib: 0,
    };

    /// From whole units: GPUs, CPU cores and MiB (fractions rounded to thousandths), no disk.
    pub fn new(gpus: f64, cpus: f64, mem_mib: u64) -> Resources {
        Resources {
            gpu_milli: (gpus * 1000.0).round().max(0.0) as u64,
            cpu_milli: (cpus * 1000.0).round().max(0.0) as u64,
            mem_mib,
            disk_mib: 0,
        }
    }

    /// The same with `disk_mib` of local disk.
    pub fn with_disk(self, disk_mib: u64) -> Resources {
        Resources { disk_mib, ..self }
    }

    fn zip(&self, o: &Resources, f: impl Fn(u64, u64) -> u64) -> Resources {
        Resources {
            gpu_milli: f(self.gpu_milli, o.gpu_milli),
            cpu_milli: f(self.cpu_milli, o.cpu_milli),
            mem_mib: f(self.mem_mib, o.mem_mib),
            disk_mib: f(self.disk_mib, o.disk_mib),
        }
    }

    /// The component-wise maximum.
    pub fn max_each(&self, other: &Resources) -> Resources {
        self.zip(other, u64::max)
    }

    /// The component-wise minimum.
    pub fn min_each(&self, other: &Resources) -> Resources {
        self.zip(other, u64::min)
    }

    /// The component-wise difference, floored at zero.
    pub fn saturating_minus(&self, other: &Resources) -> Resources {
        self.zip(other, u64::saturating_sub)
    }

    /// GPUs as a float.
    pub fn gpus(&self) -> f64 {
        self.gpu_milli as f64 / 1000.0
    }

    /// CPU cores as a float.
    pub fn cpus(&self) -> f64 {
        self.cpu_milli as f64 / 1000.0
    }

    /// Whether every component is at most `other`'s.
    pub fn fits_in(&self, other: &Resources) -> bool {
        self.gpu_milli <= other.gpu_milli
            && self.cpu_milli <= other.cpu_milli
            && self.mem_mib <= other.mem_mib
            && self.disk_mib <= other.disk_mib
    }

    /// Whether every component is zero.
    pub fn is_zero(&self) -> bool {
        *self == Resources::ZERO
    }

    /// The component-wise sum.
    pub fn plus(&self, other: &Resources) -> Resources {
        self.zip(other, |a, b| a + b)
    }

    /// The component-wise difference; `other` must fit in `self`.
    pub fn minus(&self, other: &Resources) -> Resources {
        debug_assert!(other.fits_in(self), "{other} does not fit in {self}");
        self.zip(other, |a, b| a - b)
    }

    /// `n` copies.
    pub fn times(&self, n: u32) -> Resources {
        let n = u64::from(n);
        self.zip(self, |a, _| a * n)
    }

    /// How many copies of `task` fit in `self` (`u32::MAX` for an empty task).
    pub fn copies_of(&self, task: &Resources) -> u32 {
        let per = |have: u64, need: u64| have.checked_div(need).unwrap_or(u64::MAX);
        per(self.gpu_milli, task.gpu_milli)
            .min(per(self.cpu_milli, task.cpu_milli))
            .min(per(self.mem_mib, task.mem_mib))
            .min(per(self.disk_mib, task.disk_mib))
            .min(u64::from(u32::MAX)) as u32
    }

    /// The dominant share (DRF): the largest fraction of `capacity` this vector takes in
    /// any one resource. Resources the cluster lacks count as zero.
    pub fn dominant_share(&self, capacity: &Resources) -> f64 {
        let share = |used: u64, cap: u64| {
            if cap == 0 {
                0.0
            } else {
                used as f64 / cap as f64
            }
        };
        share(self.gpu_milli, capacity.gpu_milli)
            .max(share(self.cpu_milli, capacity.cpu_milli))
            .max(share(self.mem_mib, capacity.mem_mib))
            .max(share(self.disk_mib, capacity.disk_mib))
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<gpu {}, cpu {}, mem {} MiB",
            self.gpus(),
            self.cpus(),
            self.mem_mib
        )?;
        if self.disk_mib > 0 {
            write!(f, ", disk {} MiB", self.disk_mib)?;
        }
        write!(f, ">")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_round_trips_and_copies() {
        let node = Resources::new(8.0, 64.0, 262_144);
        let task = Resources::new(1.0, 6.0, 12_288);
        assert_eq!(node.copies_of(&task), 8);
        assert_eq!(node.minus(&task.times(3)).plus(&task.times(3)), node);
        assert!(task.fits_in(&node));
        assert!(!node.fits_in(&task));
        assert!((task.dominant_share(&node) - 0.125).abs() < 1e-12);
        assert_eq!(Resources::new(0.46, 0.0, 0).gpu_milli, 460);
    }
}

//! The numbers the papers report, from a simulation's job records.

use super::engine::{JobRecord, Outcome};
use std::fmt::Write;

/// The header of `strata sim`'s stdout.
pub const SUMMARY_HEADER: &str = "policy,jobs,avg_jct,p99_jct,makespan,utilization";

/// One policy's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Policy name.
    pub policy: String,
    /// Jobs that finished.
    pub jobs: usize,
    /// Mean job completion time, seconds.
    pub avg_jct: f64,
    /// 99th percentile JCT (nearest rank), seconds.
    pub p99_jct: f64,
    /// Last finish minus first arrival, seconds.
    pub makespan: f64,
    /// GPU-seconds held over GPU-seconds offered during the makespan (cores for a cluster
    /// without GPUs).
    pub utilization: f64,
    /// Mean time spent waiting, seconds.
    pub avg_queue: f64,
    /// Mean finish-time fairness ρ.
    pub avg_rho: f64,
    /// Worst ρ.
    pub max_rho: f64,
    /// Preemptions, all jobs together.
    pub preemptions: u64,
    /// Jobs refused at admission.
    pub rejected: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

impl Summary {
    /// Summarizes an outcome.
    pub fn of(outcome: &Outcome) -> Summary {
        let jobs = &outcome.jobs;
        let n = jobs.len().max(1) as f64;
        let mut jct: Vec<f64> = jobs.iter().map(JobRecord::jct).collect();
        jct.sort_by(f64::total_cmp);
        let first = jobs.iter().map(|j| j.submit).fold(f64::INFINITY, f64::min);
        let last = jobs
            .iter()
            .map(|j| j.finish)
            .fold(f64::NEG_INFINITY, f64::max);
        let makespan = if jobs.is_empty() { 0.0 } else { last - first };
        let (held, offered) = if outcome.capacity.gpu_milli > 0 {
            (outcome.gpu_seconds, outcome.capacity.gpus())
        } else {
            (outcome.service_served, outcome.capacity.cpus())
        };
        Summary {
            policy: outcome.policy.clone(),
            jobs: jobs.len(),
            avg_jct: jct.iter().sum::<f64>() / n,
            p99_jct: percentile(&jct, 99.0),
            makespan,
            utilization: if makespan > 0.0 && offered > 0.0 {
                held / (offered * makespan)
            } else {
                0.0
            },
            avg_queue: jobs.iter().map(|j| j.queued).sum::<f64>() / n,
            avg_rho: jobs.iter().map(|j| j.rho).sum::<f64>() / n,
            max_rho: jobs.iter().map(|j| j.rho).fold(0.0, f64::max),
            preemptions: jobs.iter().map(|j| u64::from(j.preemptions)).sum(),
            rejected: outcome.rejected.len(),
        }
    }

    /// The stdout row, matching [`SUMMARY_HEADER`].
    pub fn csv_row(&self) -> String {
        format!(
            "{},{},{:.1},{:.1},{:.1},{:.4}",
            self.policy, self.jobs, self.avg_jct, self.p99_jct, self.makespan, self.utilization
        )
    }
}

/// Every summary with all its columns, as CSV (`summary.csv`).
pub fn summary_table(rows: &[Summary]) -> String {
    let mut out = String::from(
        "policy,jobs,avg_jct,p99_jct,makespan,utilization,avg_queue,avg_rho,max_rho,preemptions,rejected\n",
    );
    for s in rows {
        let _ = writeln!(
            out,
            "{},{:.1},{:.3},{:.3},{},{}",
            s.csv_row(),
            s.avg_queue,
            s.avg_rho,
            s.max_rho,
            s.preemptions,
            s.rejected
        );
    }
    out
}

/// One row per finished job (`jobs-POLICY.csv`).
pub fn jobs_csv(outcome: &Outcome) -> String {
    let mut out = String::from(
        "job_id,tenant,submit,start,finish,jct,queued,width,duration,preemptions,rho\n",
    );
    for j in &outcome.jobs {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{:.4}",
            j.id,
            j.tenant,
            j.submit,
            j.start,
            j.finish,
            j.jct(),
            j.queued,
            j.width,
            j.duration,
            j.preemptions,
            j.rho
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentile() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[5.0], 99.0), 5.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }
}

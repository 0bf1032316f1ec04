//! Synthetic deep-learning traces shaped like the public ones.
//!
//! Durations are drawn from the empirical distribution of the Philly trace's job run times
//! (quantiles of the 83,154 run times in Alibaba clusterdata's
//! `cluster-trace-gpu-v2020/analysis/philly_runtime.csv`, CC BY 4.0): median 20 minutes,
//! p90 3.6 hours, p99 80 hours — the heavy tail that makes FIFO's head-of-line blocking
//! costly. GPU demands follow the shape Philly reports (mostly one GPU, a tail of 8-32-GPU
//! gangs); arrivals are Poisson; tenants are Zipf-weighted.

use crate::job::{Job, Trace};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// (quantile, run time in seconds) of Philly's job run times.
const PHILLY_RUNTIME: [(f64, f64); 25] = [
    (0.00, 10.0),
    (0.05, 48.0),
    (0.10, 61.0),
    (0.15, 68.0),
    (0.20, 76.0),
    (0.25, 131.0),
    (0.30, 229.0),
    (0.35, 428.0),
    (0.40, 630.0),
    (0.45, 889.0),
    (0.50, 1186.0),
    (0.55, 1500.0),
    (0.60, 1871.0),
    (0.65, 2242.0),
    (0.70, 2590.0),
    (0.75, 3340.0),
    (0.80, 4699.0),
    (0.85, 6300.0),
    (0.90, 12858.0),
    (0.95, 49936.0),
    (0.96, 69279.0),
    (0.97, 101849.0),
    (0.98, 167762.0),
    (0.99, 287239.0),
    (1.00, 4628239.0),
];

/// (GPUs, probability) of a job's demand.
const GPU_DEMAND: [(u32, f64); 6] = [
    (1, 0.70),
    (2, 0.10),
    (4, 0.09),
    (8, 0.08),
    (16, 0.02),
    (32, 0.01),
];

/// How to generate a trace.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Jobs to generate.
    pub jobs: usize,
    /// Mean arrivals per hour (Poisson).
    pub jobs_per_hour: f64,
    /// Tenants, Zipf-weighted (tenant 0 submits most).
    pub tenants: u32,
    /// Largest GPU demand to draw (larger draws are capped), e.g. the cluster's size.
    pub max_gpus: u32,
    /// Random seed: the same seed gives the same trace.
    pub seed: u64,
}

/// Draws a run time from Philly's distribution (log-linear between quantiles).
fn runtime(u: f64) -> f64 {
    let i = PHILLY_RUNTIME
        .iter()
        .position(|&(q, _)| q > u)
        .unwrap_or(PHILLY_RUNTIME.len() - 1)
        .max(1);
    let (q0, t0) = PHILLY_RUNTIME[i - 1];
    let (q1, t1) = PHILLY_RUNTIME[i];
    let f = ((u - q0) / (q1 - q0)).clamp(0.0, 1.0);
    (t0.ln() + f * (t1.ln() - t0.ln())).exp().round().max(1.0)
}

/// A synthetic trace.
pub fn generate(config: &SynthConfig) -> Trace {
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let weights: Vec<f64> = (0..config.tenants.max(1))
        .map(|t| 1.0 / f64::from(t + 1))
        .collect();
    let total_weight: f64 = weights.iter().sum();
    let mut now = 0.0;
    let mut jobs = Vec::with_capacity(config.jobs);
    for n in 0..config.jobs {
        let u: f64 = rng.r#gen();
        now += -(1.0 - u).ln() * 3600.0 / config.jobs_per_hour.max(1e-9);
        let duration = runtime(rng.r#gen());
        let mut pick: f64 = rng.r#gen();
        let gpus = GPU_DEMAND
            .iter()
            .find(|&&(_, p)| {
                pick -= p;
                pick < 0.0
            })
            .map_or(1, |&(g, _)| g)
            .min(config.max_gpus.max(1));
        let mut w: f64 = rng.r#gen::<f64>() * total_weight;
        let tenant = weights
            .iter()
            .position(|&x| {
                w -= x;
                w < 0.0
            })
            .unwrap_or(0);
        jobs.push(Job::from_totals(
            format!("job{n}"),
            format!("tenant{tenant}"),
            now.round(),
            duration,
            f64::from(gpus),
            0.0,
            0,
        ));
    }
    Trace {
        jobs,
        ..Trace::default()
    }
}

/// Writes a trace as the generic CSV (`job_id,submit_time,gpus,duration,cpus,tenant,mem_mib`).
pub fn to_csv(trace: &Trace) -> String {
    let mut out = String::from("job_id,submit_time,gpus,duration,cpus,tenant,mem_mib\n");
    for j in &trace.jobs {
        let d = j.demand();
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            j.id,
            j.submit,
            d.gpus(),
            j.duration,
            d.cpus(),
            j.tenant,
            d.mem_mib
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_philly_quantiles_and_is_seeded() {
        assert_eq!(runtime(0.5), 1186.0);
        assert_eq!(runtime(0.0), 10.0);
        assert!(runtime(0.999) > 287239.0);
        let config = SynthConfig {
            jobs: 4000,
            jobs_per_hour: 30.0,
            tenants: 3,
            max_gpus: 16,
            seed: 7,
        };
        let a = generate(&config);
        assert_eq!(to_csv(&a), to_csv(&generate(&config)));
        let mut d: Vec<f64> = a.jobs.iter().map(|j| j.duration).collect();
        d.sort_by(f64::total_cmp);
        let median = d[d.len() / 2];
        assert!((800.0..1700.0).contains(&median), "median {median}");
        let single = a.jobs.iter().filter(|j| j.gpus() == 1.0).count();
        assert!((2600..3000).contains(&single), "{single} one-GPU jobs");
        assert!(a.jobs.iter().all(|j| j.gpus() <= 16.0));
        let span = a.jobs.last().unwrap().submit / 3600.0;
        assert!((120.0..150.0).contains(&span), "{span} hours");
    }
}

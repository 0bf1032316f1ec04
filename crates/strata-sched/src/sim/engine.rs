//! The simulator's event loop.

use crate::job::{Job, Trace};
use crate::nodes::{NodeId, Nodes};
use crate::policy::{Admission, JobView, Placement, Policy, service_width};
use crate::resources::Resources;
use std::collections::HashMap;

/// The simulated cluster.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Identical nodes.
    pub nodes: u32,
    /// What each node offers.
    pub per_node: Resources,
}

/// What happened to one job.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// The trace's id.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// Arrival.
    pub submit: f64,
    /// First start.
    pub start: f64,
    /// Finish.
    pub finish: f64,
    /// GPUs (or cores for CPU-only jobs) it held.
    pub width: f64,
    /// Its running time.
    pub duration: f64,
    /// Seconds spent waiting (first wait plus every wait after a preemption).
    pub queued: f64,
    /// Times it was preempted.
    pub preemptions: u32,
    /// Themis' finish-time fairness: JCT over the time on a 1/N share, N the average number
    /// of active jobs over its life.
    pub rho: f64,
}

impl JobRecord {
    /// Job completion time: finish minus submit.
    pub fn jct(&self) -> f64 {
        self.finish - self.submit
    }
}

/// A simulation's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The policy's name.
    pub policy: String,
    /// The placement's name.
    pub placement: String,
    /// Finished jobs, in the order they finished.
    pub jobs: Vec<JobRecord>,
    /// Jobs refused at admission, with the reason.
    pub rejected: Vec<(String, String)>,
    /// GPU-seconds (core-seconds for CPU-only jobs) the admitted jobs asked for.
    pub service_demanded: f64,
    /// GPU-seconds served.
    pub service_served: f64,
    /// GPU-seconds held by running jobs, GPU jobs only.
    pub gpu_seconds: f64,
    /// Cluster capacity.
    pub capacity: Resources,
    /// Scheduling rounds run.
    pub rounds: u64,
}

struct Active {
    job: usize,
    tenant: u32,
    running: Option<Vec<(NodeId, u32)>>,
    remaining: f64,
    executed: f64,
    attained: f64,
    waiting_since: f64,
    first_start: Option<f64>,
    queued: f64,
    preemptions: u32,
    contention: f64,
}

/// Runs `trace` on the simulated cluster through the given policies.
pub fn simulate(
    trace: &Trace,
    config: &SimConfig,
    policy: &mut dyn Policy,
    placement: &mut dyn Placement,
    admission: &mut dyn Admission,
) -> Outcome {
    let mut nodes = Nodes::uniform(config.nodes, config.per_node);
    let capacity = nodes.capacity();
    let jobs: &[Job] = &trace.jobs;
    let mut arrivals: Vec<usize> = (0..jobs.len()).collect();
    arrivals.sort_by(|&a, &b| jobs[a].submit.total_cmp(&jobs[b].submit).then(a.cmp(&b)));
    let mut tenants: HashMap<&str, u32> = HashMap::new();
    let mut held: HashMap<u32, Resources> = HashMap::new();
    let mut out = Outcome {
        policy: policy.name().to_string(),
        placement: placement.name().to_string(),
        jobs: Vec::with_capacity(jobs.len()),
        rejected: Vec::new(),
        service_demanded: 0.0,
        service_served: 0.0,
        gpu_seconds: 0.0,
        capacity,
        rounds: 0,
    };
    let mut active: Vec<Active> = Vec::new();
    let mut next = 0;
    let mut now = arrivals.first().map_or(0.0, |&j| jobs[j].submit);
    loop {
        // Arrivals due now pass admission.
        while next < arrivals.len() && jobs[arrivals[next]].submit <= now {
            let j = arrivals[next];
            next += 1;
            let job = &jobs[j];
            let n = tenants.len() as u32;
            let tenant = *tenants.entry(job.tenant.as_str()).or_insert(n);
            let h = held.entry(tenant).or_default();
            match admission.admit(job, h, &nodes) {
                Ok(()) => {
                    *h = h.plus(&job.demand());
                    out.service_demanded += service_width(&job.demand()) * job.duration;
                    active.push(Active {
                        job: j,
                        tenant,
                        running: None,
                        remaining: job.duration,
                        executed: 0.0,
                        attained: 0.0,
                        waiting_since: now,
                        first_start: None,
                        queued: 0.0,
                        preemptions: 0,
                        contention: 0.0,
                    });
                }
                Err(why) => out.rejected.push((job.id.clone(), why)),
            }
        }
        if active.is_empty() && next == arrivals.len() {
            break;
        }
        schedule(now, jobs, &mut active, &mut nodes, policy, placement);
        out.rounds += 1;

        // The next event.
        let waiting = active.iter().any(|a| a.running.is_none());
        let mut t = f64::INFINITY;
        if next < arrivals.len() {
            t = t.min(jobs[arrivals[next]].submit);
        }
        for a in active.iter().filter(|a| a.running.is_some()) {
            t = t.min(now + a.remaining);
        }
        if waiting && let Some(round) = policy.round() {
            t = t.min(now + round);
        }
        if !t.is_finite() {
            // Jobs wait but nothing runs and nothing arrives: they can never be placed.
            for a in active.drain(..) {
                let job = &jobs[a.job];
                out.rejected.push((
                    job.id.clone(),
                    format!(
                        "job {}: never placed ({} tasks of {})",
                        job.id, job.tasks, job.per_task
                    ),
                ));
            }
            break;
        }

        // Time passes.
        let dt = t - now;
        let n_active = active.len() as f64;
        for a in &mut active {
            a.contention += n_active * dt;
            if a.running.is_some() {
                let width = service_width(&jobs[a.job].demand());
                a.remaining -= dt;
                a.executed += dt;
                a.attained += width * dt;
                out.service_served += width * dt;
                out.gpu_seconds += jobs[a.job].demand().gpus() * dt;
            }
        }
        now = t;

        // Finishes.
        let mut i = 0;
        while i < active.len() {
            let a = &active[i];
            let done = a.running.is_some() && a.remaining <= 1e-9 * jobs[a.job].duration.max(1.0);
            if !done {
                i += 1;
                continue;
            }
            let a = active.swap_remove(i);
            let job = &jobs[a.job];
            for &(node, n) in a.running.as_deref().unwrap_or(&[]) {
                nodes.release(node, &job.per_task.times(n));
            }
            let h = held
                .get_mut(&a.tenant)
                .expect("admitted jobs have a tenant entry");
            *h = h.minus(&job.demand());
            let jct = now - job.submit;
            let life = jct.max(1e-9);
            let ideal = crate::policy::ideal_time(
                job.duration,
                service_width(&job.demand()),
                a.contention / life,
                service_width(&capacity),
            );
            out.jobs.push(JobRecord {
                id: job.id.clone(),
                tenant: job.tenant.clone(),
                submit: job.submit,
                start: a.first_start.unwrap_or(now),
                finish: now,
                width: service_width(&job.demand()),
                duration: job.duration,
                queued: a.queued,
                preemptions: a.preemptions,
                rho: jct / ideal,
            });
        }
    }
    out
}

/// One scheduling round at `now`.
fn schedule(
    now: f64,
    jobs: &[Job],
    active: &mut [Active],
    nodes: &mut Nodes,
    policy: &mut dyn Policy,
    placement: &mut dyn Placement,
) {
    let views: Vec<JobView> = active
        .iter()
        .map(|a| JobView {
            key: a.job,
            tenant: a.tenant,
            submit: jobs[a.job].submit,
            demand: jobs[a.job].demand(),
            running: a.running.is_some(),
            executed: a.executed,
            attained: a.attained,
            remaining: a.remaining,
            duration: jobs[a.job].duration,
            waiting_since: a.waiting_since,
        })
        .collect();
    let order = policy.order(now, &nodes.capacity(), &views);
    let mut start: Vec<usize> = Vec::new();
    if policy.preemptive() {
        // The prefix of the order that fits the cluster keeps or gets resources.
        let mut room = nodes.capacity();
        let mut chosen = vec![false; active.len()];
        for &i in &order {
            let d = views[i].demand;
            if d.fits_in(&room) {
                room = room.minus(&d);
                chosen[i] = true;
            }
        }
        for (i, a) in active.iter_mut().enumerate() {
            if !chosen[i]
                && let Some(placed) = a.running.take()
            {
                let job = &jobs[a.job];
                for (node, n) in placed {
                    nodes.release(node, &job.per_task.times(n));
                }
                a.preemptions += 1;
                a.waiting_since = now;
            }
        }
        start.extend(
            order
                .iter()
                .copied()
                .filter(|&i| chosen[i] && active[i].running.is_none()),
        );
    } else {
        start.extend(
            order
                .iter()
                .copied()
                .filter(|&i| active[i].running.is_none()),
        );
    }
    for i in start {
        let a = &mut active[i];
        let job = &jobs[a.job];
        if !job.demand().fits_in(&nodes.free_total()) {
            continue;
        }
        if let Some(placed) = placement.place(nodes, job.tasks, &job.per_task) {
            for &(node, n) in &placed {
                let ok = nodes.allocate(node, &job.per_task.times(n));
                debug_assert!(ok, "placement returned a node without room");
            }
            a.running = Some(placed);
            a.queued += now - a.waiting_since;
            a.first_start.get_or_insert(now);
        }
    }
}

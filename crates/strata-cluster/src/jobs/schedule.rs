//! A scheduling round: units of pending work in policy order, placement under constraints,
//! preemption of lower bands within disruption budgets.

use super::{
    Command, ExecutorView, JobEntry, Jobs, Task, TaskState, Victim, WorkerView, refresh, stop,
    task_id, unix_now,
};
use crate::proto::{LaunchTask, WorkerCommand, worker_command::Cmd};
use crate::spec::{Band, JobSpec};
use std::collections::{BTreeMap, HashMap};
use strata_sched::policy::{Consolidated, JobView, Placement, Policy, Scattered};
use strata_sched::{NodeId, Nodes, Resources};

/// What one scheduling round knows about the nodes, for preemption.
struct Round<'a> {
    workers: &'a [WorkerView<'a>],
    executors: &'a [ExecutorView],
    executor_held: &'a [Resources],
    index: &'a HashMap<&'a str, NodeId>,
    held: &'a HashMap<(String, usize), Resources>,
}

impl Jobs {
    /// Places pending work on the live workers; returns the launch and stop commands.
    pub fn schedule(&mut self, workers: &[WorkerView], executors: &[ExecutorView]) -> Vec<Command> {
        let mut cmds = Vec::new();
        if let Some(until) = self.adopt_until {
            if std::time::Instant::now() < until {
                return cmds;
            }
            self.adopt_until = None;
        }
        for (name, job) in &mut self.jobs {
            cmds.extend(job.roll(name));
        }
        let index: HashMap<&str, NodeId> = workers
            .iter()
            .enumerate()
            .map(|(i, w)| (w.id, i as NodeId))
            .collect();
        // Two views of the same nodes. `nodes` counts what running work may use (its limits):
        // production and batch work is placed against it. `reserved` counts production and
        // batch tasks at their reservations (what they use, plus a margin; Borg's resource
        // reclamation): best-effort work is placed against it, in what the others reserve
        // but do not use. Allocations are clipped to what is free (executors share workers),
        // and `held` remembers what each task really holds in `nodes`.
        let capacities: Vec<Resources> = workers.iter().map(|w| w.capacity).collect();
        let mut nodes = Nodes::new(capacities.clone());
        let mut reserved = Nodes::new(capacities.clone());
        let mut wanted = vec![Resources::ZERO; workers.len()];
        // What each executor really holds in `nodes` (released exactly if it is preempted).
        let mut executor_held = vec![Resources::ZERO; executors.len()];
        for (e, h) in executors.iter().zip(&mut executor_held) {
            if let Some(&n) = index.get(e.worker.as_str()) {
                *h = nodes.allocate_up_to(n, &e.held);
                reserved.allocate_up_to(n, &e.held);
                wanted[n as usize] = wanted[n as usize].plus(&e.held);
            }
        }
        let mut held: HashMap<(String, usize), Resources> = HashMap::new();
        for (name, job) in &self.jobs {
            let best_effort = job.spec.priority == Band::BestEffort;
            for (i, t) in job.tasks.iter().enumerate().filter(|(_, t)| t.holds()) {
                if let Some(&n) = index.get(t.worker.as_str()) {
                    let limit = job.spec.per_task();
                    held.insert((name.clone(), i), nodes.allocate_up_to(n, &limit));
                    let r = if best_effort {
                        limit
                    } else {
                        t.reservation.unwrap_or(limit)
                    };
                    reserved.allocate_up_to(n, &r);
                    wanted[n as usize] = wanted[n as usize].plus(&r);
                }
            }
        }
        cmds.extend(self.evict_best_effort(workers, &capacities, &mut wanted, &index));
        // Units of placement: a task, or a whole gang once none of it runs.
        let mut units: Vec<(String, Vec<u32>)> = Vec::new();
        for (name, job) in &self.jobs {
            if job.state.ended() {
                continue;
            }
            let pending: Vec<u32> = job
                .tasks
                .iter()
                .filter(|t| t.state == TaskState::Pending)
                .map(|t| t.index)
                .collect();
            if pending.is_empty() {
                continue;
            }
            if job.spec.gang {
                if !job.tasks.iter().any(Task::holds) {
                    units.push((name.clone(), pending));
                }
            } else {
                units.extend(pending.into_iter().map(|i| (name.clone(), vec![i])));
            }
        }
        if units.is_empty() {
            return cmds;
        }
        let order = self.order(&units, nodes.capacity());
        for u in order {
            let (name, tasks) = &units[u];
            let spec = &self.jobs[name].spec;
            let per_task = spec.per_task();
            let n = tasks.len() as u32;
            let best_effort = spec.priority == Band::BestEffort;
            let view = if best_effort { &reserved } else { &nodes };
            let mut placement = place(view, workers, spec, n);
            if placement.is_none() && spec.priority == Band::Production {
                // Preempted executors die at once (SIGKILL) and free their room now; tasks
                // are given their grace period and the unit waits for them.
                let round = Round {
                    workers,
                    executors,
                    executor_held: &executor_held,
                    index: &index,
                    held: &held,
                };
                let (stops, freed_now) = self.preempt(u, &units, &mut nodes, &round);
                cmds.extend(stops);
                if freed_now {
                    placement = place(&nodes, workers, &self.jobs[name].spec, n);
                }
            }
            if let Some(placed) = placement {
                let job = self.jobs.get_mut(name).expect("units name live jobs");
                let mut next = tasks.iter();
                for (node, count) in placed {
                    for _ in 0..count {
                        let i = *next.next().expect("placement covers the unit") as usize;
                        held.insert((name.clone(), i), nodes.allocate_up_to(node, &per_task));
                        reserved.allocate_up_to(node, &per_task);
                        self.seq += 1;
                        let t = &mut job.tasks[i];
                        t.attempt += 1;
                        t.state = TaskState::Running;
                        t.worker = workers[node as usize].id.to_string();
                        t.started = self.seq;
                        t.since = Some(std::time::Instant::now());
                        t.version = job.version;
                        cmds.push((t.worker.clone(), launch(name, &job.spec, t)));
                    }
                }
                if job.message == "waiting for room" {
                    job.message = "running".into();
                }
                refresh(job);
            }
        }
        cmds
    }

    /// Where production and batch tasks' reservations grew (their use rose) so that the best
    /// effort running beside them no longer fits, stops best-effort tasks there, newest
    /// first, until it does; they go back to pending.
    fn evict_best_effort(
        &mut self,
        workers: &[WorkerView],
        capacities: &[Resources],
        wanted: &mut [Resources],
        index: &HashMap<&str, NodeId>,
    ) -> Vec<Command> {
        let mut cmds = Vec::new();
        for (n, w) in workers.iter().enumerate() {
            if wanted[n].fits_in(&capacities[n]) {
                continue;
            }
            let mut victims: Vec<(u64, String, usize)> = Vec::new();
            for (jn, job) in &self.jobs {
                if job.spec.priority != Band::BestEffort {
                    continue;
                }
                for (i, t) in job.tasks.iter().enumerate() {
                    if index.get(t.worker.as_str()) != Some(&(n as NodeId)) {
                        continue;
                    }
                    match t.state {
                        TaskState::Running => victims.push((t.started, jn.clone(), i)),
                        // Already leaving: what it holds is as good as free.
                        TaskState::Stopping { .. } => {
                            wanted[n] = wanted[n].saturating_minus(&job.spec.per_task());
                        }
                        _ => {}
                    }
                }
            }
            victims.sort_by_key(|v| std::cmp::Reverse(v.0));
            for (_, jn, i) in victims {
                if wanted[n].fits_in(&capacities[n]) {
                    break;
                }
                let job = self.jobs.get_mut(&jn).expect("victims name jobs");
                wanted[n] = wanted[n].saturating_minus(&job.spec.per_task());
                let t = &mut job.tasks[i];
                t.state = TaskState::Stopping { requeue: true };
                job.preemptions += 1;
                job.message = format!("task {i} evicted: the reservations on {} grew", w.id);
                tracing::info!(job = %jn, task = i, worker = w.id, "evicting best effort");
                cmds.push(stop(
                    &t.worker.clone(),
                    task_id(&jn, t),
                    job.spec.grace_period_ms,
                ));
                refresh(job);
            }
        }
        cmds
    }

    /// Units in placement order: bands high to low; within a band the policy's order.
    fn order(&mut self, units: &[(String, Vec<u32>)], capacity: Resources) -> Vec<usize> {
        let mut tenants: BTreeMap<&str, u32> = BTreeMap::new();
        for j in self.jobs.values() {
            let n = tenants.len() as u32;
            tenants.entry(j.spec.tenant.as_str()).or_insert(n);
        }
        let view = |key: usize, job: &JobEntry, tasks: u32, running: bool| {
            let executed = job.tasks.iter().map(Task::executed).sum::<f64>()
                / f64::from(job.spec.tasks.max(1));
            let duration = job.spec.duration_s.unwrap_or(1e12);
            let demand = job.spec.per_task().times(tasks);
            JobView {
                key,
                tenant: tenants[job.spec.tenant.as_str()],
                // Ties in the policy fall back to submission order.
                submit: job.submitted + job.seq as f64 * 1e-6,
                demand,
                running,
                executed,
                attained: executed * strata_sched::policy::service_width(&demand),
                remaining: (duration - executed).max(0.0),
                duration,
                waiting_since: job.submitted,
            }
        };
        let mut views: Vec<JobView> = units
            .iter()
            .enumerate()
            .map(|(k, (name, t))| view(k, &self.jobs[name], t.len() as u32, false))
            .collect();
        for job in self.jobs.values() {
            for _ in job.tasks.iter().filter(|t| t.holds()) {
                views.push(view(units.len() + views.len(), job, 1, true));
            }
        }
        let active: Vec<&str> = tenants.keys().copied().collect();
        self.drf.weights = tenants
            .iter()
            .map(|(t, &id)| (id, effective_weight(&self.weights, t, &active)))
            .collect();
        let policy: &mut dyn Policy = match &mut self.policy {
            Some(p) => p.as_mut(),
            None => &mut self.drf,
        };
        let mut order: Vec<usize> = policy
            .order(unix_now(), &capacity, &views)
            .into_iter()
            .map(|p| views[p].key)
            .filter(|&k| k < units.len())
            .collect();
        order.sort_by_key(|&k| std::cmp::Reverse(self.jobs[&units[k].0].spec.priority));
        order
    }

    /// Frees room for a production unit by stopping lower-band tasks.
    fn preempt(
        &mut self,
        unit: usize,
        units: &[(String, Vec<u32>)],
        nodes: &mut Nodes,
        round: &Round,
    ) -> (Vec<Command>, bool) {
        let Round {
            workers,
            executors,
            executor_held,
            index,
            held,
        } = *round;
        let (name, tasks) = &units[unit];
        let spec = self.jobs[name].spec.clone();
        let n = tasks.len() as u32;
        let mut trial = nodes.clone();
        // Victims already stopping may be enough: then wait for them.
        let holding = |jn: &str, i: usize| {
            held.get(&(jn.to_string(), i))
                .copied()
                .unwrap_or(Resources::ZERO)
        };
        for (jn, job) in &self.jobs {
            for (i, t) in job.tasks.iter().enumerate() {
                if matches!(t.state, TaskState::Stopping { .. })
                    && let Some(&node) = index.get(t.worker.as_str())
                {
                    trial.release(node, &holding(jn, i));
                }
            }
        }
        if place(&trial, workers, &spec, n).is_some() {
            return (Vec::new(), false);
        }
        let mut candidates: Vec<(Band, std::cmp::Reverse<u64>, Victim)> = Vec::new();
        for (jn, job) in &self.jobs {
            if job.spec.priority >= spec.priority {
                continue;
            }
            for (i, t) in job.tasks.iter().enumerate() {
                if t.state == TaskState::Running {
                    candidates.push((
                        job.spec.priority,
                        std::cmp::Reverse(t.started),
                        Victim::Task(jn.clone(), i),
                    ));
                }
            }
        }
        if Band::Batch < spec.priority {
            for (k, e) in executors.iter().enumerate() {
                candidates.push((Band::Batch, std::cmp::Reverse(e.seq), Victim::Executor(k)));
            }
        }
        candidates.sort();
        let mut chosen: Vec<Victim> = Vec::new();
        let mut freed: Vec<(NodeId, Resources)> = Vec::new();
        for (_, _, victim) in candidates {
            let (node, held) = match &victim {
                Victim::Task(jn, i) => {
                    let job = &self.jobs[jn];
                    let Some(&node) = index.get(job.tasks[*i].worker.as_str()) else {
                        continue;
                    };
                    // A job's disruption budget (its task-control veto) is never overdrawn.
                    let taken = chosen
                        .iter()
                        .filter(|v| matches!(v, Victim::Task(j, _) if j == jn))
                        .count() as u32;
                    if taken >= job.disruptable() {
                        continue;
                    }
                    (node, holding(jn, *i))
                }
                Victim::Executor(k) => {
                    let e = &executors[*k];
                    let Some(&node) = index.get(e.worker.as_str()) else {
                        continue;
                    };
                    (node, executor_held[*k])
                }
            };
            trial.release(node, &held);
            if matches!(victim, Victim::Executor(_)) {
                freed.push((node, held));
            }
            chosen.push(victim);
            if place(&trial, workers, &spec, n).is_some() {
                let mut cmds = Vec::new();
                let only_executors = chosen.iter().all(|v| matches!(v, Victim::Executor(_)));
                if only_executors {
                    for (node, held) in &freed {
                        nodes.release(*node, held);
                    }
                }
                for victim in chosen {
                    let (jn, i) = match victim {
                        Victim::Task(jn, i) => (jn, i),
                        Victim::Executor(k) => {
                            let e = &executors[k];
                            tracing::info!(executor = %e.name, by = %name, "preempting an executor");
                            cmds.push((
                                e.worker.clone(),
                                WorkerCommand {
                                    cmd: Some(Cmd::KillExecutor(e.name.clone())),
                                },
                            ));
                            self.preempted_executors.push(e.name.clone());
                            continue;
                        }
                    };
                    let job = self.jobs.get_mut(&jn).expect("chosen from the table");
                    let t = &mut job.tasks[i];
                    t.state = TaskState::Stopping { requeue: true };
                    job.preemptions += 1;
                    job.message = format!("task {i} preempted by production job {name}");
                    tracing::info!(job = %jn, task = i, by = %name, "preempting");
                    cmds.push(stop(
                        &t.worker.clone(),
                        task_id(&jn, t),
                        job.spec.grace_period_ms,
                    ));
                    refresh(job);
                }
                return (cmds, only_executors);
            }
        }
        (Vec::new(), false)
    }
}

/// A tenant's share of the cluster in a hierarchy of queues: `org/team` gets `org`'s weight
/// among its sibling queues times `org/team`'s among `org`'s children (each weight 1 unless
/// set), so queues split first and their tenants share what their queue gets.
pub fn effective_weight(weights: &HashMap<String, f64>, tenant: &str, active: &[&str]) -> f64 {
    let w = |name: &str| weights.get(name).copied().unwrap_or(1.0).max(1e-9);
    let parts: Vec<&str> = tenant.split('/').collect();
    let mut eff = 1.0;
    for depth in 1..=parts.len() {
        let parent = &parts[..depth - 1];
        let siblings: std::collections::BTreeSet<String> = active
            .iter()
            .map(|t| t.split('/').collect::<Vec<_>>())
            .filter(|p| p.len() >= depth && &p[..depth - 1] == parent)
            .map(|p| p[..depth].join("/"))
            .collect();
        let total: f64 = siblings.iter().map(|s| w(s)).sum();
        eff *= w(&parts[..depth].join("/")) / total.max(1e-9);
    }
    eff
}

/// Where a unit of `n` tasks of `spec` fits now, honouring its labels and spread.
fn place(
    nodes: &Nodes,
    workers: &[WorkerView],
    spec: &JobSpec,
    n: u32,
) -> Option<Vec<(NodeId, u32)>> {
    let labels = &spec.constraints.labels;
    let filtered;
    let nodes = if labels.is_empty() {
        nodes
    } else {
        let mut copy = nodes.clone();
        for (i, w) in workers.iter().enumerate() {
            let ok = labels.iter().all(|(k, v)| w.labels.get(k) == Some(v));
            if !ok {
                let free = copy.free(i as NodeId);
                copy.allocate(i as NodeId, &free);
            }
        }
        filtered = copy;
        &filtered
    };
    let per_task = spec.per_task();
    if spec.constraints.spread {
        Scattered.place(nodes, n, &per_task)
    } else {
        Consolidated.place(nodes, n, &per_task)
    }
}

fn launch(name: &str, spec: &JobSpec, t: &Task) -> WorkerCommand {
    let per_task = spec.per_task();
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.push(format!("STRATA_JOB={name}"));
    env.push(format!("STRATA_TASK_INDEX={}", t.index));
    env.push(format!("STRATA_TASK_COUNT={}", spec.tasks));
    env.push(format!("STRATA_TASK_ATTEMPT={}", t.attempt));
    WorkerCommand {
        cmd: Some(Cmd::LaunchTask(LaunchTask {
            task: task_id(name, t),
            command: spec.command.clone(),
            env,
            cpu_milli: per_task.cpu_milli,
            mem_mib: per_task.mem_mib,
            gpu_milli: per_task.gpu_milli,
            health: spec
                .health
                .as_ref()
                .map(|h| h.command.clone())
                .unwrap_or_default(),
            health_interval_ms: spec.health.as_ref().map_or(0, |h| h.interval_ms),
            health_failures: spec.health.as_ref().map_or(0, |h| h.failures),
            disk_mib: per_task.disk_mib,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::JobState;

    #[test]
    fn hierarchical_weights_split_queues_then_tenants() {
        let mut w = HashMap::new();
        w.insert("ads".to_string(), 3.0);
        let active = ["ads/a", "ads/b", "search"];
        let e = |t| effective_weight(&w, t, &active);
        assert!((e("ads/a") - 0.375).abs() < 1e-12);
        assert!((e("search") - 0.25).abs() < 1e-12);
        assert!((e("ads/a") + e("ads/b") + e("search") - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_queue_order_follows_the_configured_policy() {
        let labels = HashMap::new();
        let workers = [WorkerView {
            id: "w",
            capacity: Resources::new(0.0, 1.0, 1024),
            labels: &labels,
        }];
        let spec = |name: &str, d: f64| {
            let text = format!("name = \"{name}\"\nduration_s = {d}\ncommand = [\"x\"]\n");
            JobSpec::parse(&text).unwrap()
        };
        for (policy, first) in [
            ("drf", "long"),
            ("fifo", "long"),
            ("sjf", "short"),
            ("srtf", "short"),
        ] {
            // (Themis is left out: two jobs submitted microseconds apart tie or not depending
            // on the clock's resolution; the simulator's tests cover it.)
            let mut jobs = Jobs::default();
            jobs.set_policy(policy).unwrap();
            jobs.submit(spec("long", 1000.0), "", None).unwrap();
            jobs.submit(spec("short", 10.0), "", None).unwrap();
            assert_eq!(jobs.schedule(&workers, &[]).len(), 1);
            let running: Vec<&str> = jobs
                .jobs
                .iter()
                .filter(|(_, j)| j.state == JobState::Running)
                .map(|(n, _)| n.as_str())
                .collect();
            assert_eq!(running, [first], "{policy}");
        }
        let err = Jobs::default().set_policy("lottery").unwrap_err();
        assert!(err.contains("unknown policy"), "{err}");
    }
}

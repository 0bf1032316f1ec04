//! What happens to the table when workers report: task exits (restart policies, gangs),
//! lost workers, and reconciling what a worker runs with what the table says.

use super::{Command, JobState, Jobs, TaskState, parse_task_id, refresh, stop, task_id};
use crate::proto::TaskUsage;
use crate::spec::Restart;
use strata_sched::Resources;

impl Jobs {
    /// A task's exit, reported by its worker. Stale attempts, and exits of a copy on another
    /// worker than the one the table has (a stray), are ignored.
    pub fn task_exited(&mut self, worker: &str, task: &str, code: i32) -> Vec<Command> {
        let mut cmds = Vec::new();
        let Some((name, index, attempt)) = parse_task_id(task) else {
            return cmds;
        };
        let Some(job) = self.jobs.get_mut(name) else {
            return cmds;
        };
        let Some(t) = job.tasks.get_mut(index) else {
            return cmds;
        };
        if t.attempt != attempt || !t.holds() || t.worker != worker {
            return cmds;
        }
        t.settle();
        t.exit = code;
        let mut restart_gang = false;
        match t.state {
            TaskState::Stopping { requeue: true } => t.state = TaskState::Pending,
            TaskState::Stopping { requeue: false } => t.state = TaskState::Failed(code),
            _ => {
                let restart = match job.spec.restart() {
                    Restart::Always => true,
                    Restart::OnFailure => code != 0,
                    Restart::Never => false,
                };
                if restart && job.restarts < job.spec.max_restarts {
                    job.restarts += 1;
                    job.message = format!("task {index} exited with code {code}; restarted");
                    t.state = TaskState::Pending;
                    restart_gang = job.spec.gang;
                } else if code != 0 || restart {
                    t.state = TaskState::Failed(code);
                    job.state = JobState::Failed(if restart {
                        format!(
                            "task {index} exited with code {code} after {} restarts (max_restarts)",
                            job.restarts
                        )
                    } else {
                        format!("task {index} exited with code {code}")
                    });
                    job.message = match &job.state {
                        JobState::Failed(m) => m.clone(),
                        _ => unreachable!(),
                    };
                } else {
                    t.state = TaskState::Succeeded;
                }
            }
        }
        let failed = matches!(job.state, JobState::Failed(_));
        if restart_gang || failed {
            // A gang runs whole: its other tasks restart with it. A failed job stops.
            for o in &mut job.tasks {
                if o.state == TaskState::Running {
                    o.state = TaskState::Stopping { requeue: !failed };
                    cmds.push(stop(&o.worker, task_id(name, o), job.spec.grace_period_ms));
                }
            }
        }
        refresh(job);
        if job.state.ended() {
            self.dirty = true;
        }
        cmds
    }

    /// A worker was declared lost: its tasks run again elsewhere.
    pub fn worker_lost(&mut self, worker: &str) -> Vec<Command> {
        let mut cmds = Vec::new();
        for (name, job) in &mut self.jobs {
            let mut lost_any = false;
            for t in &mut job.tasks {
                if t.holds() && t.worker == worker {
                    t.settle();
                    t.state = match t.state {
                        TaskState::Stopping { requeue: false } => TaskState::Failed(-1),
                        _ => TaskState::Pending,
                    };
                    lost_any = true;
                }
            }
            if lost_any && !job.state.ended() {
                job.message = format!("worker {worker} lost; rescheduling its tasks");
                if job.spec.gang {
                    for o in &mut job.tasks {
                        if o.state == TaskState::Running {
                            o.state = TaskState::Stopping { requeue: true };
                            cmds.push(stop(&o.worker, task_id(name, o), job.spec.grace_period_ms));
                        }
                    }
                }
            }
            refresh(job);
        }
        cmds
    }

    /// Reconciles what a worker says it runs with the table: a task the table has pending
    /// (after a master restart) is adopted where it runs; one the master does not count as
    /// running there (it was declared lost and came back, or the job ended) is stopped at once.
    pub fn reconcile(&mut self, worker: &str, running: &[String]) -> Vec<Command> {
        let mut cmds = Vec::new();
        for id in running {
            let known = parse_task_id(id).and_then(|(n, i, a)| {
                let job = self.jobs.get_mut(n)?;
                let ended = job.state.ended();
                let version = job.version;
                let t = job.tasks.get_mut(i)?;
                if t.holds() && t.worker == worker && t.attempt == a {
                    return Some(true);
                }
                if !ended && t.state == TaskState::Pending && t.attempt <= a {
                    t.state = TaskState::Running;
                    t.worker = worker.to_string();
                    t.attempt = a;
                    t.version = version;
                    tracing::info!(task = %id, worker, "adopted a running task");
                    refresh(job);
                    return Some(true);
                }
                None
            });
            if known != Some(true) {
                cmds.push(stop(worker, id.clone(), 0));
            }
        }
        cmds
    }

    /// A worker's measurements of its tasks: each task's reservation moves toward what it uses
    /// plus a margin (25% and a twentieth of a core, 25% and 16 MiB), never above its limit;
    /// GPUs and disk are not reclaimed.
    pub fn usage_reported(&mut self, worker: &str, usage: &[TaskUsage]) {
        for u in usage {
            let Some((n, i, a)) = parse_task_id(&u.task) else {
                continue;
            };
            let Some(job) = self.jobs.get_mut(n) else {
                continue;
            };
            let limit = job.spec.per_task();
            let Some(t) = job.tasks.get_mut(i) else {
                continue;
            };
            if !t.holds() || t.worker != worker || a != t.attempt {
                continue;
            }
            let target = Resources {
                cpu_milli: u.cpu_milli + u.cpu_milli / 4 + 50,
                mem_mib: u.mem_mib + u.mem_mib / 4 + 16,
                ..limit
            }
            .min_each(&limit);
            let current = t.reservation.unwrap_or(limit);
            let step = |cur: u64, tgt: u64| {
                if tgt >= cur {
                    tgt
                } else {
                    cur - (cur - tgt).div_ceil(10)
                }
            };
            t.reservation = Some(Resources {
                cpu_milli: step(current.cpu_milli, target.cpu_milli),
                mem_mib: step(current.mem_mib, target.mem_mib),
                ..limit
            });
        }
    }
}

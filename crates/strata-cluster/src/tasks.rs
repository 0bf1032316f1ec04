//! The node agent's side of declarative jobs: starting, stopping and reporting job tasks.
//!
//! A task runs as `strata task-run -- COMMAND...` (the worker's own binary as a small
//! supervisor) in a process group of its own, with a pipe on its stdin that the agent holds:
//! if the agent dies, the supervisor sees end-of-file and kills the task, so tasks never
//! outlive their node agent. Stopping sends SIGTERM to the group and SIGKILL after the grace
//! period. Exits are kept until a heartbeat carrying them is acknowledged.

use crate::proto::{LaunchTask, TaskExit, TaskUsage};
use crate::usage::{CpuRate, by_group};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The tasks this agent runs and the exits not yet reported.
#[derive(Clone, Default)]
pub struct Tasks {
    running: Arc<Mutex<HashMap<String, u32>>>,
    exits: Arc<Mutex<Vec<TaskExit>>>,
    cpu: Arc<Mutex<CpuRate>>,
}

fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

impl Tasks {
    /// Ids of the running tasks.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.running.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// What each running task uses now (its process group's CPU rate and resident memory).
    pub fn usage(&self) -> Vec<TaskUsage> {
        let running: Vec<(String, u32)> = self
            .running
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        if running.is_empty() {
            // Nothing to measure: skip the walk over /proc on every heartbeat.
            return Vec::new();
        }
        let groups = by_group();
        let mut cpu = self.cpu.lock();
        cpu.retain(&running.iter().map(|r| r.0.clone()).collect::<Vec<_>>());
        running
            .into_iter()
            .filter_map(|(task, pgid)| {
                let &(ticks, rss) = groups.get(&pgid)?;
                let cpu_milli = cpu.rate(&task, ticks)?;
                Some(TaskUsage {
                    task,
                    cpu_milli,
                    mem_mib: rss >> 20,
                })
            })
            .collect()
    }

    /// Exits to report (kept until [`Tasks::reported`]).
    pub fn exits(&self) -> Vec<TaskExit> {
        self.exits.lock().clone()
    }

    /// The first `n` exits were acknowledged by the master.
    pub fn reported(&self, n: usize) {
        let mut e = self.exits.lock();
        let n = n.min(e.len());
        e.drain(..n);
    }

    /// SIGTERM now, SIGKILL after `grace`.
    pub fn stop(&self, task: &str, grace: Duration) {
        let Some(pgid) = self.running.lock().get(task).copied() else {
            return;
        };
        signal_group(pgid, "-TERM");
        let running = self.running.clone();
        let task = task.to_string();
        std::thread::spawn(move || {
            std::thread::sleep(grace);
            if running.lock().get(&task) == Some(&pgid) {
                signal_group(pgid, "-KILL");
            }
        });
    }

    /// Kills every task at once (the agent is shutting down).
    pub fn kill_all(&self) {
        for &pgid in self.running.lock().values() {
            signal_group(pgid, "-KILL");
        }
    }

    /// Starts a task on a thread of its own that waits for it and records its exit.
    pub fn launch(&self, dir: &Path, profile: &[(String, String)], l: LaunchTask) {
        let tasks = self.clone();
        let dir = dir.to_path_buf();
        let profile = profile.to_vec();
        std::thread::spawn(move || {
            let code = match tasks.run(&dir, &profile, &l) {
                Ok(code) => code,
                Err(e) => {
                    tracing::error!(task = %l.task, error = %e, "cannot start task");
                    127
                }
            };
            tracing::info!(task = %l.task, code, "task exited");
            tasks.exits.lock().push(TaskExit {
                task: l.task.clone(),
                code,
            });
        });
    }

    /// Runs the task's health check every interval; after `health_failures` failures in a
    /// row, kills the task (its restart policy then applies).
    fn watch_health(&self, l: &LaunchTask, pgid: u32) {
        let running = self.running.clone();
        let (task, check) = (l.task.clone(), l.health.clone());
        let every = Duration::from_millis(l.health_interval_ms.max(10));
        let limit = l.health_failures.max(1);
        std::thread::spawn(move || {
            let mut failed = 0;
            loop {
                std::thread::sleep(every);
                if running.lock().get(&task) != Some(&pgid) {
                    return;
                }
                let ok = Command::new(&check[0])
                    .args(&check[1..])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                failed = if ok { 0 } else { failed + 1 };
                if failed >= limit {
                    tracing::warn!(task = %task, failures = failed, "health check failing; killing the task");
                    signal_group(pgid, "-KILL");
                    return;
                }
            }
        });
    }

    fn run(&self, dir: &Path, profile: &[(String, String)], l: &LaunchTask) -> Result<i32, String> {
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let log_path = logs.join(format!("task-{}.log", l.task.replace('/', "-")));
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(me);
        cmd.arg("task-run")
            .arg("--")
            .args(&l.command)
            .env("STRATA_TASK_CPU_MILLI", l.cpu_milli.to_string())
            .env("STRATA_TASK_MEM_MIB", l.mem_mib.to_string())
            .env("STRATA_TASK_GPU_MILLI", l.gpu_milli.to_string())
            .env("STRATA_TASK_DISK_MIB", l.disk_mib.to_string())
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        for kv in &l.env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
        for (k, v) in profile {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start supervisor: {e}"))?;
        self.running.lock().insert(l.task.clone(), child.id());
        tracing::info!(task = %l.task, pid = child.id(), command = ?l.command, "task started");
        if !l.health.is_empty() {
            self.watch_health(l, child.id());
        }
        let stdin = child.stdin.take();
        let status = child.wait();
        // Whatever the task left behind in its group goes with it.
        signal_group(child.id(), "-KILL");
        drop(stdin);
        self.running.lock().remove(&l.task);
        let status = status.map_err(|e| e.to_string())?;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }
}

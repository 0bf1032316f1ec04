//! Measuring what a task uses: the resident memory and CPU time of every process in its
//! process group, read from `/proc` (Linux). The agent reports it each heartbeat; the
//! master's reservations (Borg's resource reclamation) follow it.

use std::collections::HashMap;
use std::time::Instant;

/// Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE: u64 = 4096;

/// CPU ticks and resident bytes of each process group, from one pass over `/proc`.
pub fn by_group() -> HashMap<u32, (u64, u64)> {
    let mut out: HashMap<u32, (u64, u64)> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ... utime stime ...": comm may hold spaces.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let (Some(pgrp), Some(utime), Some(stime)) = (
            f.get(2).and_then(|x| x.parse::<u32>().ok()),
            f.get(11).and_then(|x| x.parse::<u64>().ok()),
            f.get(12).and_then(|x| x.parse::<u64>().ok()),
        ) else {
            continue;
        };
        let rss = std::fs::read_to_string(format!("/proc/{pid}/statm"))
            .ok()
            .and_then(|m| m.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
            * PAGE;
        let e = out.entry(pgrp).or_default();
        e.0 += utime + stime;
        e.1 += rss;
    }
    out
}

/// Turns cumulative CPU ticks into a rate between two readings.
#[derive(Default)]
pub struct CpuRate {
    last: HashMap<String, (u64, Instant)>,
}

impl CpuRate {
    /// Thousandths of a core used by `task` since its previous reading (none the first
    /// time).
    pub fn rate(&mut self, task: &str, ticks: u64) -> Option<u64> {
        let now = Instant::now();
        let prev = self.last.insert(task.to_string(), (ticks, now));
        let (t0, at) = prev?;
        let secs = now.duration_since(at).as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        let cores = ticks.saturating_sub(t0) as f64 / TICKS_PER_SECOND / secs;
        Some((cores * 1000.0).round() as u64)
    }

    /// Forgets tasks that no longer run.
    pub fn retain(&mut self, running: &[String]) {
        self.last.retain(|k, _| running.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_group() {
        // The test process's own group is listed with some resident memory.
        let groups = by_group();
        assert!(groups.values().any(|&(_, rss)| rss > 0));
        let mut r = CpuRate::default();
        assert_eq!(r.rate("t", 100), None);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(r.rate("t", 100).unwrap() == 0);
        r.retain(&[]);
        assert_eq!(r.rate("t", 5), None);
    }
}

//! The nemesis: one fault at a time, chosen and timed by a seeded generator, each healed
//! before the next (a killed daemon restarts on its own directory; a paused one resumes).
//!
//! Faults: SIGKILL of a worker, of two workers at once, or of the master (each restarted
//! after a random delay); SIGSTOP of a worker for up to three seconds (a "gray" failure: its
//! sockets stay open); a flipped byte in a chunk file on a worker's disk (at most one replica
//! of any chunk, so a good copy always exists somewhere).

use crate::cluster::Cluster;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Sleeps up to `ms`, returning early (false) once `stop` is set.
fn pause(ms: u64, stop: &AtomicBool) -> bool {
    let mut left = ms;
    while left > 0 {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let step = left.min(50);
        std::thread::sleep(Duration::from_millis(step));
        left -= step;
    }
    true
}

/// Injects faults until `stop`; returns how many of each kind.
pub fn run(c: &Cluster, seed: u64, stop: &AtomicBool) -> BTreeMap<&'static str, u64> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x006e_656d_6573_6973);
    let mut faults: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut corrupted: BTreeSet<String> = BTreeSet::new();
    let n = c.workers();
    while pause(rng.gen_range(300..1500), stop) {
        let pick = rng.gen_range(0..100);
        let w = rng.gen_range(0..n);
        let down_ms = rng.gen_range(200..2000);
        let kind = if pick < 30 {
            if !c.kill_worker(w) {
                continue;
            }
            pause(down_ms, stop);
            restart(|| c.start_worker(w));
            "kill-worker"
        } else if pick < 40 && n >= 4 {
            let v = (w + 1 + rng.gen_range(0..n - 1)) % n;
            c.kill_worker(w);
            c.kill_worker(v);
            pause(down_ms, stop);
            restart(|| c.start_worker(w));
            restart(|| c.start_worker(v));
            "kill-two-workers"
        } else if pick < 55 {
            if !c.kill_master() {
                continue;
            }
            pause(down_ms.min(1500), stop);
            restart(|| c.start_master());
            "kill-master"
        } else if pick < 75 {
            if !c.pause_worker(w, true) {
                continue;
            }
            pause(rng.gen_range(500..3000), stop);
            c.pause_worker(w, false);
            "pause-worker"
        } else {
            let files: Vec<_> = c
                .chunk_files(w)
                .into_iter()
                .filter(|f| {
                    let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
                    name.is_some_and(|n| !corrupted.contains(&n))
                })
                .collect();
            if files.is_empty() {
                continue;
            }
            let f = &files[rng.gen_range(0..files.len())];
            let Ok(mut bytes) = std::fs::read(f) else {
                continue;
            };
            if bytes.is_empty() {
                continue;
            }
            let at = rng.gen_range(0..bytes.len());
            bytes[at] ^= 0x5a;
            if std::fs::write(f, &bytes).is_err() {
                continue;
            }
            corrupted.insert(f.file_name().expect("file").to_string_lossy().into_owned());
            "corrupt-chunk"
        };
        tracing::info!(fault = kind, "fault injected");
        *faults.entry(kind).or_default() += 1;
    }
    faults
}

fn restart(f: impl Fn() -> Result<(), String>) {
    for _ in 0..5 {
        match f() {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "restart failed; retrying");
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
}

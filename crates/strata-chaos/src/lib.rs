//! # strata-chaos: fault campaigns against real Strata clusters
//!
//! A campaign starts a real cluster (a `strata master` and several `strata worker`
//! processes on loopback), runs a workload of concurrent clients against it while a
//! *nemesis* injects faults, then heals the cluster and checks the history, Jepsen-style:
//! every acknowledged operation must be reflected in the final state, and nothing may appear
//! that no operation could have produced.
//!
//! - [`cluster`]: starting, killing (SIGKILL), pausing (SIGSTOP/SIGCONT) and restarting the
//!   daemons, and corrupting their chunk files.
//! - [`workload`]: client threads doing creates, overwrites, record appends, renames,
//!   snapshots and deletes, each in its own directory, plus every client racing to
//!   overwrite one shared file; each client keeps a [`model::Model`] of what its files may
//!   hold (an operation whose outcome is unknown, because its reply was lost, widens the set
//!   of possible states instead of being guessed).
//! - [`nemesis`]: one fault at a time at random intervals, from a seeded generator.
//! - [`check`]: after healing, reads back every file and compares it with the model; lists
//!   every directory for files the model cannot explain; checks every acknowledged record.
//!
//! - [`jobs`]: the jobs campaign: word count, sort and PageRank on the cluster while
//!   workers are killed under them; each answer must equal the embedded run's.
//!
//! The same seed gives the same schedule of operations and faults (timing still varies, as
//! it does on any real cluster). `strata chaos dfs --seconds 600 --seed N` runs one; CI runs a
//! short one with a fixed seed (`tests/chaos.rs`).

#![deny(missing_docs)]

pub mod check;
pub mod cluster;
pub mod jobs;
pub mod model;
pub mod nemesis;
pub mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How to run a DFS campaign.
#[derive(Clone, Debug)]
pub struct DfsCampaign {
    /// The `strata` executable to start daemons from.
    pub exe: PathBuf,
    /// Seed of the operation and fault schedules.
    pub seed: u64,
    /// How long the workload runs under faults.
    pub duration: Duration,
    /// Worker processes.
    pub workers: usize,
    /// Client threads.
    pub clients: usize,
    /// Keep the cluster's directory (logs, data) here instead of a temporary directory.
    pub keep: Option<PathBuf>,
}

/// What a campaign did and found.
#[derive(Debug, Default)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// Operations attempted by kind: (acknowledged, failed or of unknown outcome).
    pub ops: BTreeMap<&'static str, (u64, u64)>,
    /// Faults injected by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Files read back and compared with the model.
    pub files_checked: u64,
    /// Acknowledged records looked for.
    pub records_checked: u64,
    /// Tasks the jobs re-ran to recover from the faults (jobs campaign).
    pub recovered: u64,
    /// What the checker found wrong (must be empty).
    pub anomalies: Vec<String>,
    /// Wall time of the whole campaign.
    pub elapsed: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (ok, bad) = self
            .ops
            .values()
            .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
        writeln!(
            f,
            "chaos: seed {}, {:.0} s: {} operations ({ok} acknowledged, {bad} failed or of unknown outcome)",
            self.seed,
            self.elapsed.as_secs_f64(),
            ok + bad
        )?;
        for (k, (a, b)) in &self.ops {
            writeln!(f, "  op {k:<10} {a:>6} acknowledged {b:>6} failed/unknown")?;
        }
        let faults: u64 = self.faults.values().sum();
        writeln!(f, "  faults injected: {faults}")?;
        for (k, n) in &self.faults {
            writeln!(f, "  fault {k:<16} {n:>4}")?;
        }
        writeln!(
            f,
            "  checked: {} files or job outputs, {} acknowledged records",
            self.files_checked, self.records_checked
        )?;
        if self.recovered > 0 {
            writeln!(
                f,
                "  recovery: {} map tasks re-ran after lost outputs",
                self.recovered
            )?;
        }
        for a in &self.anomalies {
            writeln!(f, "  ANOMALY: {a}")?;
        }
        write!(f, "anomalies: {}", self.anomalies.len())
    }
}

/// Where a campaign keeps its cluster: `keep` (which must be new or empty: an old cluster
/// there would be checked against this run's history), or a temporary directory removed
/// with the returned guard.
pub fn campaign_root(
    keep: Option<&std::path::Path>,
) -> Result<(PathBuf, Option<tempfile::TempDir>), String> {
    match keep {
        Some(p) => {
            if std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_some()) {
                return Err(format!(
                    "{} is not empty: --keep needs a new or empty directory",
                    p.display()
                ));
            }
            std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok((p.to_path_buf(), None))
        }
        None => {
            let t = tempfile::tempdir().map_err(|e| e.to_string())?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// Runs a DFS campaign and returns what it found. An error means the campaign could not
/// run (a daemon would not start), not that it found anomalies.
pub fn run_dfs(c: &DfsCampaign) -> Result<Summary, String> {
    let started = Instant::now();
    let (root, _tmp) = campaign_root(c.keep.as_deref())?;
    let cluster = Arc::new(cluster::Cluster::start(&c.exe, &root, c.workers)?);
    let stop = Arc::new(AtomicBool::new(false));
    let nemesis = {
        let (cluster, stop, seed) = (cluster.clone(), stop.clone(), c.seed);
        std::thread::spawn(move || nemesis::run(&cluster, seed, &stop))
    };
    let deadline = Instant::now() + c.duration;
    let clients: Vec<_> = (0..c.clients)
        .map(|k| {
            let (master, secret) = (cluster.master_addr(), cluster.secret.clone());
            let seed = c.seed;
            std::thread::spawn(move || workload::client(k, seed, &master, &secret, deadline))
        })
        .collect();
    let mut models = Vec::new();
    for t in clients {
        models.push(
            t.join()
                .map_err(|_| "a client thread panicked".to_string())?,
        );
    }
    stop.store(true, Ordering::SeqCst);
    let faults = nemesis
        .join()
        .map_err(|_| "the nemesis thread panicked".to_string())?;
    cluster.heal()?;
    let mut summary = check::check(&cluster, &models);
    summary.seed = c.seed;
    summary.faults = faults;
    for m in &models {
        for (k, (a, b)) in &m.ops {
            let e = summary.ops.entry(k).or_default();
            e.0 += a;
            e.1 += b;
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

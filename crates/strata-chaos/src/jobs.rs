//! The jobs campaign: word count, sort and PageRank on a real cluster while workers are
//! SIGKILLed (and restarted) under them; every answer must equal the embedded run's.
//!
//! Each trial starts a driver (`strata run JOB --master ...`) as a process; a nemesis kills
//! one or two random workers at a random moment of the job and restarts them after a random
//! delay. A job that fails, or whose output differs from the answer computed embedded (no
//! cluster, no faults) on the same input, is an anomaly.

use crate::Summary;
use crate::cluster::Cluster;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How to run a jobs campaign.
#[derive(Clone, Debug)]
pub struct JobsCampaign {
    /// The `strata` executable.
    pub exe: PathBuf,
    /// Seed of the trial and fault schedules.
    pub seed: u64,
    /// How long to keep starting trials.
    pub duration: Duration,
    /// Worker processes.
    pub workers: usize,
    /// Keep data and logs here (must be new or empty).
    pub keep: Option<PathBuf>,
}

const JOBS: [&str; 3] = ["wordcount", "sort", "pagerank"];

fn run(exe: &Path, args: &[String]) -> Result<(), String> {
    let out = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        Err(tail.into_iter().rev().collect::<Vec<_>>().join(" | "))
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The inputs, made by the generators and a seeded text writer.
fn prepare(exe: &Path, data: &Path, seed: u64) -> Result<(), String> {
    std::fs::create_dir_all(data.join("text")).map_err(|e| e.to_string())?;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut text = String::new();
    for _ in 0..200_000 {
        for w in 0..8 {
            if w > 0 {
                text.push(' ');
            }
            // A skewed vocabulary: some words very common, most rare.
            let r: f64 = rng.r#gen();
            text.push_str(&format!("w{}", (r * r * r * 20_000.0) as u32));
        }
        text.push('\n');
    }
    std::fs::write(data.join("text/words.txt"), text).map_err(|e| e.to_string())?;
    run(
        exe,
        &[
            "gen",
            "terasort",
            "--records",
            "500000",
            "--files",
            "4",
            "--quiet",
            "--seed",
        ]
        .map(String::from)
        .into_iter()
        .chain([seed.to_string(), "--out".into(), s(&data.join("tera"))])
        .collect::<Vec<_>>(),
    )?;
    run(
        exe,
        &[
            "gen", "rmat", "--scale", "13", "--edges", "200000", "--files", "2", "--quiet",
        ]
        .map(String::from)
        .into_iter()
        .chain([
            "--seed".into(),
            seed.to_string(),
            "--out".into(),
            s(&data.join("rmat")),
        ])
        .collect::<Vec<_>>(),
    )
}

fn job_args(job: &str, data: &Path, out: &Path) -> Vec<String> {
    let input = match job {
        "wordcount" => data.join("text"),
        "sort" => data.join("tera"),
        _ => data.join("rmat"),
    };
    let mut a = vec!["run".into(), job.into(), s(&input), "--out".into(), s(out)];
    a.extend(["--partitions".into(), "6".into(), "--quiet".into()]);
    if job == "pagerank" {
        a.extend(["--iterations".into(), "10".into()]);
    }
    a
}

/// The lines of a job's part files, in part order.
fn parts(dir: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
        })
        .collect();
    names.sort();
    let mut lines = Vec::new();
    for n in names {
        let t = std::fs::read(&n).map_err(|e| e.to_string())?;
        lines.extend(String::from_utf8_lossy(&t).lines().map(str::to_string));
    }
    Ok(lines)
}

/// Whether `got` is the same answer as `want` for `job`.
fn same(job: &str, mut want: Vec<String>, mut got: Vec<String>) -> Result<(), String> {
    if job != "sort" {
        want.sort();
        got.sort();
    }
    if want.len() != got.len() {
        return Err(format!("{} lines, expected {}", got.len(), want.len()));
    }
    for (w, g) in want.iter().zip(&got) {
        if w == g {
            continue;
        }
        // PageRank sums floats in an order that depends on partitioning.
        let close = job == "pagerank"
            && match (w.split_once('\t'), g.split_once('\t')) {
                (Some((a, x)), Some((b, y))) => {
                    a == b
                        && match (x.parse::<f64>(), y.parse::<f64>()) {
                            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1e-12),
                            _ => false,
                        }
                }
                _ => false,
            };
        if !close {
            return Err(format!("differs at {g:?} (expected {w:?})"));
        }
    }
    Ok(())
}

/// Runs the campaign.
pub fn run_jobs(c: &JobsCampaign) -> Result<Summary, String> {
    let started = Instant::now();
    let (root, _tmp) = crate::campaign_root(c.keep.as_deref())?;
    let data = root.join("data");
    prepare(&c.exe, &data, c.seed)?;
    // The answers, embedded.
    for job in JOBS {
        run(
            &c.exe,
            &job_args(job, &data, &root.join("expect").join(job)),
        )
        .map_err(|e| format!("embedded {job} failed: {e}"))?;
    }
    let cluster = Cluster::start(&c.exe, &root.join("cluster"), c.workers)?;
    let mut rng = SmallRng::seed_from_u64(c.seed ^ 0x6a6f_6273);
    let mut summary = Summary {
        seed: c.seed,
        ..Summary::default()
    };
    let deadline = Instant::now() + c.duration;
    let mut trial = 0;
    while Instant::now() < deadline {
        trial += 1;
        let job = JOBS[trial % JOBS.len()];
        let out = root.join("out").join(format!("t{trial}-{job}"));
        let mut args = job_args(job, &data, &out);
        args.extend([
            "--master".into(),
            cluster.master_addr(),
            "--config".into(),
            s(cluster.config()),
        ]);
        let log = std::fs::File::create(root.join(format!("driver-{trial}.log")))
            .map_err(|e| e.to_string())?;
        let mut driver = Command::new(cluster.exe())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        // The fault: one or two workers killed at a random moment, back after a while.
        let victims: Vec<usize> = {
            let n = cluster.workers();
            let a = rng.gen_range(0..n);
            if rng.gen_range(0..4) == 0 && n >= 3 {
                vec![a, (a + 1) % n]
            } else {
                vec![a]
            }
        };
        let wait = Duration::from_millis(rng.gen_range(50..800));
        let down = Duration::from_millis(rng.gen_range(300..2000));
        let t0 = Instant::now();
        let mut killed = false;
        let status = loop {
            if let Some(st) = driver.try_wait().map_err(|e| e.to_string())? {
                break st;
            }
            if !killed && t0.elapsed() >= wait {
                for &v in &victims {
                    cluster.kill_worker(v);
                }
                *summary
                    .faults
                    .entry(if victims.len() == 2 {
                        "kill-two-workers"
                    } else {
                        "kill-worker"
                    })
                    .or_default() += 1;
                killed = true;
            }
            if killed && t0.elapsed() >= wait + down {
                for &v in &victims {
                    if !cluster.worker_up(v) {
                        cluster.start_worker(v)?;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for v in 0..cluster.workers() {
            if !cluster.worker_up(v) {
                cluster.start_worker(v)?;
            }
        }
        let e = summary.ops.entry(job).or_default();
        if !status.success() {
            e.1 += 1;
            let why = std::fs::read_to_string(root.join(format!("driver-{trial}.log")))
                .unwrap_or_default();
            let last = why.lines().last().unwrap_or("").to_string();
            summary.anomalies.push(format!(
                "trial {trial} ({job}): failed after {} worker kill(s): {last}",
                victims.len()
            ));
            continue;
        }
        e.0 += 1;
        summary.files_checked += 1;
        // How much the driver re-ran (its report line: "N map tasks re-run").
        let log =
            std::fs::read_to_string(root.join(format!("driver-{trial}.log"))).unwrap_or_default();
        summary.recovered += log
            .lines()
            .filter_map(|l| {
                l.split(" map tasks re-run")
                    .next()?
                    .rsplit(", ")
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum::<u64>();
        let want = parts(&root.join("expect").join(job))?;
        match parts(&out).and_then(|got| same(job, want, got)) {
            Ok(()) => {}
            Err(why) => summary
                .anomalies
                .push(format!("trial {trial} ({job}): answer {why}")),
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

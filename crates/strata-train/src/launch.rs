//! Running `K` data-parallel ranks as processes on this machine, and surviving the death
//! of one.
//!
//! The launcher starts rank 0 (which binds a free port and prints `#rendezvous ADDR`), then
//! ranks 1..K pointed at it; every rank runs the same command line with its rank in the
//! environment. Rank 0's stdout is the job's: `step<TAB>loss` lines are forwarded once each
//! (a step re-run after a recovery is not printed again), `#…` lines are status.
//!
//! When a rank dies, the survivors' collectives fail at once (the dead peer's connection
//! closes), each saves a just-in-time checkpoint of the last completed step and exits with
//! [`EXIT_PEER_FAILED`]. The launcher then starts a fresh set of `K` ranks (replacement
//! workers) with `resume`, which continue from the newest checkpoint: the work lost is at
//! most the step that was in flight. Each recovery is appended to `OUT/recovery.log`.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TrainError;

/// A rank's exit code when a peer died (after its just-in-time checkpoint).
pub const EXIT_PEER_FAILED: i32 = 75;
/// A rank's exit code for bad flags or data: restarting would not help.
pub const EXIT_USAGE: i32 = 2;

/// Environment variables a rank reads.
pub mod env {
    /// This process's rank.
    pub const RANK: &str = "STRATA_TRAIN_RANK";
    /// The number of ranks.
    pub const WORLD: &str = "STRATA_TRAIN_WORLD";
    /// Rank 0's rendezvous address (unset on rank 0: it picks a port and prints it).
    pub const MASTER: &str = "STRATA_TRAIN_MASTER";
    /// The job token (ranks of another job or attempt are refused).
    pub const JOB: &str = "STRATA_TRAIN_JOB";
    /// Set on restarts: resume from the newest checkpoint.
    pub const RESUME: &str = "STRATA_TRAIN_RESUME";
}

/// What to launch.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The program (normally this one).
    pub exe: PathBuf,
    /// Its arguments (the same for every rank).
    pub args: Vec<OsString>,
    /// Ranks.
    pub workers: usize,
    /// Recoveries allowed before giving up.
    pub max_restarts: usize,
    /// Compute threads per rank (`RAYON_NUM_THREADS`).
    pub threads_per_rank: usize,
    /// A local directory for `ranks.txt` (attempt, rank, pid) and `recovery.log`.
    pub log_dir: Option<PathBuf>,
    /// How long survivors get to save and exit after a death before they are killed.
    pub grace: Duration,
}

/// What happened.
#[derive(Debug, Default)]
pub struct LaunchReport {
    /// `(step, loss)` of every step, once each.
    pub losses: Vec<(u64, f64)>,
    /// Validation losses `(step, loss)`.
    pub evals: Vec<(u64, f64)>,
    /// Each recovery: (last step completed before the failure, step resumed from).
    pub recoveries: Vec<(u64, u64)>,
}

fn spawn(
    spec: &LaunchSpec,
    rank: usize,
    master: Option<&str>,
    job: &str,
    resume: bool,
) -> Result<Child, TrainError> {
    let mut c = Command::new(&spec.exe);
    c.args(&spec.args)
        .env(env::RANK, rank.to_string())
        .env(env::WORLD, spec.workers.to_string())
        .env(env::JOB, job)
        .env(
            "RAYON_NUM_THREADS",
            spec.threads_per_rank.max(1).to_string(),
        )
        .stdin(Stdio::null())
        .stdout(if rank == 0 {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    match master {
        Some(m) => c.env(env::MASTER, m),
        None => c.env_remove(env::MASTER),
    };
    if resume {
        c.env(env::RESUME, "1");
    } else {
        c.env_remove(env::RESUME);
    }
    c.spawn()
        .map_err(|e| TrainError::Usage(format!("starting rank {rank}: {e}")))
}

fn log(spec: &LaunchSpec, file: &str, line: &str) {
    if let Some(d) = &spec.log_dir {
        let _ = std::fs::create_dir_all(d);
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join(file))
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// What the launcher has seen of the job so far, across attempts.
struct Progress<'a> {
    report: LaunchReport,
    last_step: u64,
    failed_at: Option<u64>,
    on_step: &'a mut dyn FnMut(u64, f64),
}

impl Progress<'_> {
    /// Handles one line of rank 0's stdout (other than `#rendezvous`).
    fn line(&mut self, spec: &LaunchSpec, attempt: usize, line: &str) {
        if let Some(s) = line.strip_prefix("#resumed ") {
            let s: u64 = s.trim().parse().unwrap_or(0);
            if let Some(f) = self.failed_at.take() {
                self.report.recoveries.push((f, s));
                let msg = format!(
                    "attempt={attempt} failed_after_step={f} resumed_from={s} lost_steps={}",
                    f.saturating_sub(s)
                );
                eprintln!("strata train: recovered: {msg}");
                log(spec, "recovery.log", &msg);
            }
            return;
        }
        let (eval, rest) = match line.strip_prefix("#eval ") {
            Some(r) => (true, r),
            None => (false, line),
        };
        let Some((s, l)) = rest.split_once('\t') else {
            return;
        };
        let (Ok(s), Ok(l)) = (s.parse::<u64>(), l.parse::<f64>()) else {
            return;
        };
        if eval {
            self.report.evals.push((s, l));
        } else if s > self.last_step {
            self.last_step = s;
            self.report.losses.push((s, l));
            (self.on_step)(s, l);
        }
    }
}

/// Runs the job; `on_step` sees each new `(step, loss)` as it is first reported.
pub fn launch_local(
    spec: &LaunchSpec,
    on_step: &mut dyn FnMut(u64, f64),
) -> Result<LaunchReport, TrainError> {
    let mut p = Progress {
        report: LaunchReport::default(),
        last_step: 0,
        failed_at: None,
        on_step,
    };
    let nonce = std::process::id();
    for attempt in 0..=spec.max_restarts {
        let job = format!("train-{nonce}-{attempt}");
        let resume = attempt > 0;
        let mut children: Vec<Option<Child>> = Vec::new();
        let mut r0 = spawn(spec, 0, None, &job, resume)?;
        let out = r0.stdout.take().expect("piped");
        let (ltx, lrx) = crossbeam_channel::unbounded::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if ltx.send(line).is_err() {
                    return;
                }
            }
        });
        log(spec, "ranks.txt", &format!("{attempt} 0 {}", r0.id()));
        children.push(Some(r0));
        let mut started = false;
        let mut codes: Vec<Option<i32>> = vec![None; spec.workers];
        let mut first_failure: Option<Instant> = None;
        let mut killed = false;
        loop {
            match lrx.recv_timeout(Duration::from_millis(20)) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("#rendezvous ") {
                        for r in 1..spec.workers {
                            let c = spawn(spec, r, Some(addr), &job, resume)?;
                            log(spec, "ranks.txt", &format!("{attempt} {r} {}", c.id()));
                            children.push(Some(c));
                        }
                        started = true;
                    } else {
                        p.line(spec, attempt, &line);
                    }
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                // Rank 0's stdout closed: poll the exits below at the same pace.
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
            }
            for (r, c) in children.iter_mut().enumerate() {
                let Some(ch) = c else { continue };
                if let Ok(Some(st)) = ch.try_wait() {
                    let code = st.code().unwrap_or(-1);
                    codes[r] = Some(code);
                    *c = None;
                    if code != 0 && first_failure.is_none() {
                        eprintln!("strata train: rank {r} exited ({st}) in attempt {attempt}");
                        first_failure = Some(Instant::now());
                    }
                }
            }
            if (!started && codes[0].is_some()) || (started && children.iter().all(Option::is_none))
            {
                break;
            }
            // Survivors that neither save nor exit within the grace period are stopped.
            if !killed && first_failure.is_some_and(|t| t.elapsed() > spec.grace) {
                for c in children.iter_mut().flatten() {
                    let _ = c.kill();
                }
                killed = true;
            }
        }
        while let Ok(line) = lrx.try_recv() {
            p.line(spec, attempt, &line);
        }
        if started && codes.iter().all(|c| *c == Some(0)) {
            return Ok(p.report);
        }
        if codes.contains(&Some(EXIT_USAGE)) {
            return Err(TrainError::Usage(
                "a rank refused its arguments (see above)".into(),
            ));
        }
        if attempt == spec.max_restarts {
            break;
        }
        p.failed_at = Some(p.last_step);
        eprintln!(
            "strata train: restarting {} ranks after step {} (attempt {})",
            spec.workers,
            p.last_step,
            attempt + 1
        );
    }
    Err(TrainError::Usage(format!(
        "ranks kept failing; gave up after {} restarts",
        spec.max_restarts
    )))
}

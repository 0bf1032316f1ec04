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
//!
//! With in-memory recovery (Gemini's idea: the checkpoint is in a peer's memory, not in
//! storage), survivors do not exit: each reports `#failed STEP` and waits on its stdin. The
//! launcher starts one replacement for the dead rank and tells the others where to meet:
//! rank 0 (or the replacement, if rank 0 died) binds a new rendezvous; the group re-forms
//! and the replacement receives the state of the most advanced replica over the network.
//! No checkpoint is written or read; if recovery in memory is impossible (two ranks dead, a
//! survivor lost), the launcher falls back to restarting every rank from storage.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use crossbeam_channel::Sender;
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
    /// Set when survivors recover in memory: they read `#rejoin` commands on stdin.
    pub const IN_MEMORY: &str = "STRATA_TRAIN_IN_MEMORY";
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
    /// Recover from a single rank's death in memory (survivors keep running and hand their
    /// state to a replacement) instead of restarting every rank from storage.
    pub in_memory: bool,
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

/// One rank process.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// The processes of one attempt and the lines they print.
struct Group<'a> {
    spec: &'a LaunchSpec,
    attempt: usize,
    procs: Vec<Option<Proc>>,
    tx: Sender<(usize, String)>,
}

impl Group<'_> {
    fn spawn(
        &mut self,
        rank: usize,
        master: Option<&str>,
        job: &str,
        resume: bool,
    ) -> Result<(), TrainError> {
        let spec = self.spec;
        let mut c = Command::new(&spec.exe);
        c.args(&spec.args)
            .env(env::RANK, rank.to_string())
            .env(env::WORLD, spec.workers.to_string())
            .env(env::JOB, job)
            .env(
                "RAYON_NUM_THREADS",
                spec.threads_per_rank.max(1).to_string(),
            )
            .stdin(if spec.in_memory {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped());
        match master {
            Some(m) => c.env(env::MASTER, m),
            None => c.env_remove(env::MASTER),
        };
        if resume {
            c.env(env::RESUME, "1");
        } else {
            c.env_remove(env::RESUME);
        }
        if spec.in_memory {
            c.env(env::IN_MEMORY, "1");
        } else {
            c.env_remove(env::IN_MEMORY);
        }
        let mut child = c
            .spawn()
            .map_err(|e| TrainError::Usage(format!("starting rank {rank}: {e}")))?;
        let out = child.stdout.take().expect("piped");
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send((rank, line)).is_err() {
                    return;
                }
            }
        });
        log(
            spec,
            "ranks.txt",
            &format!("{} {rank} {}", self.attempt, child.id()),
        );
        let stdin = child.stdin.take();
        self.procs[rank] = Some(Proc { child, stdin });
        Ok(())
    }

    /// Sends a command line to a waiting survivor.
    fn tell(&mut self, rank: usize, line: &str) {
        let stdin = self
            .procs
            .get_mut(rank)
            .and_then(|p| p.as_mut()?.stdin.as_mut());
        if let Some(i) = stdin {
            let _ = writeln!(i, "{line}");
            let _ = i.flush();
        }
    }

    fn alive(&self) -> usize {
        self.procs.iter().filter(|p| p.is_some()).count()
    }
}

/// A recovery in memory waiting for its new rendezvous.
struct Rejoining {
    dead: usize,
    job: String,
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
    /// A recovery under way: the last step before the failure, when the death was seen,
    /// and how the job recovers (`memory`, `storage`).
    failed: Option<(u64, Instant, &'static str)>,
    on_step: &'a mut dyn FnMut(u64, f64),
}

impl Progress<'_> {
    /// Handles one line of rank 0's stdout (other than `#rendezvous`).
    fn line(&mut self, spec: &LaunchSpec, attempt: usize, line: &str) {
        if let Some(s) = line.strip_prefix("#resumed ") {
            let s: u64 = s.trim().parse().unwrap_or(0);
            if let Some((f, t0, kind)) = self.failed.take() {
                self.report.recoveries.push((f, s));
                let msg = format!(
                    "attempt={attempt} kind={kind} failed_after_step={f} resumed_from={s} \
                     lost_steps={} recovery_ms={}",
                    f.saturating_sub(s),
                    t0.elapsed().as_millis()
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
        failed: None,
        on_step,
    };
    let nonce = std::process::id();
    let mut rejoins = 0;
    for attempt in 0..=spec.max_restarts {
        let job = format!("train-{nonce}-{attempt}");
        let resume = attempt > 0;
        let (tx, rx) = crossbeam_channel::unbounded::<(usize, String)>();
        let mut g = Group {
            spec,
            attempt,
            procs: (0..spec.workers).map(|_| None).collect(),
            tx,
        };
        g.spawn(0, None, &job, resume)?;
        let mut started = false;
        let mut codes: Vec<Option<i32>> = vec![None; spec.workers];
        let mut rejoining: Option<Rejoining> = None;
        let mut giving_up: Option<Instant> = None;
        let mut killed = false;
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok((rank, line)) => {
                    match (rank, line.strip_prefix("#rendezvous ")) {
                        (0, Some(addr)) => match rejoining.take() {
                            Some(r) => {
                                // The new rendezvous of a recovery in memory is up: start
                                // the replacement (unless it is rank 0 itself) and point
                                // the survivors at it.
                                if r.dead != 0 {
                                    g.spawn(r.dead, Some(addr), &r.job, false)?;
                                }
                                for k in 1..spec.workers {
                                    if k != r.dead {
                                        g.tell(k, &format!("#rejoin {addr} {}", r.job));
                                    }
                                }
                            }
                            None if !started => {
                                for r in 1..spec.workers {
                                    g.spawn(r, Some(addr), &job, resume)?;
                                }
                                started = true;
                            }
                            None => {}
                        },
                        (0, None) => p.line(spec, attempt, &line),
                        _ => {} // other ranks' status lines (`#failed`)
                    }
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
            }
            #[allow(clippy::needless_range_loop)] // `g` is borrowed mutably in the body
            for r in 0..spec.workers {
                let Some(proc_) = g.procs[r].as_mut() else {
                    continue;
                };
                let Ok(Some(st)) = proc_.child.try_wait() else {
                    continue;
                };
                let code = st.code().unwrap_or(-1);
                codes[r] = Some(code);
                g.procs[r] = None;
                if code == 0 {
                    continue;
                }
                eprintln!("strata train: rank {r} exited ({st}) in attempt {attempt}");
                let in_memory = spec.in_memory
                    && started
                    && giving_up.is_none()
                    && rejoining.is_none()
                    && p.failed.is_none()
                    && code != EXIT_USAGE
                    && g.alive() == spec.workers - 1;
                if in_memory {
                    rejoins += 1;
                    let job = format!("train-{nonce}-{attempt}-r{rejoins}");
                    p.failed = Some((p.last_step, Instant::now(), "memory"));
                    codes[r] = None;
                    if r == 0 {
                        g.spawn(0, None, &job, false)?;
                    } else {
                        g.tell(0, &format!("#rejoin-root {job}"));
                    }
                    rejoining = Some(Rejoining { dead: r, job });
                } else if giving_up.is_none() {
                    // Restart every rank from storage: survivors waiting on stdin are
                    // released (their stdin closes) and exit.
                    giving_up = Some(Instant::now());
                    for q in g.procs.iter_mut().flatten() {
                        q.stdin.take();
                    }
                }
            }
            if (!started && codes[0].is_some()) || (started && g.alive() == 0) {
                break;
            }
            // Survivors that neither save nor exit within the grace period are stopped.
            if !killed && giving_up.is_some_and(|t| t.elapsed() > spec.grace) {
                for q in g.procs.iter_mut().flatten() {
                    let _ = q.child.kill();
                }
                killed = true;
            }
        }
        while let Ok((rank, line)) = rx.try_recv() {
            if rank == 0 {
                p.line(spec, attempt, &line);
            }
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
        // Recovery time counts from when the death was seen (survivors' just-in-time
        // checkpoints, their exit and the restart are all part of it).
        p.failed = Some((
            p.last_step,
            giving_up.unwrap_or_else(Instant::now),
            "storage",
        ));
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

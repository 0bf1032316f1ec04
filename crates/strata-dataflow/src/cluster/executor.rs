//! The executor's side of cluster mode: connect to the driver, run the tasks it sends on a
//! local pool, serve this executor's map outputs, and hand each action the job's results.

use super::fetch;
use super::wire::{
    Location, TaskKind, TaskReport, ToDriver, ToExecutor, WireError, metrics_to_wire, recv, send,
};
use crate::accumulator;
use crate::error::{Error, Result};
use crate::memory::MemoryManager;
use crate::shuffle::{Identity, ShuffleManager};
use crate::task::TaskContext;
use crossbeam_channel::{Sender, unbounded};
use parking_lot::{Condvar, Mutex};
use rustc_hash::FxHashMap;
use std::io::{BufReader, BufWriter, Read};
use std::net::{TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;
use strata_common::StrataConfig;

pub(crate) use crate::backend::JobRunner;

struct Shared {
    to_driver: Sender<ToDriver>,
    jobs: Mutex<FxHashMap<u64, Arc<JobRunner>>>,
    ends: Mutex<FxHashMap<u64, Result<Arc<Vec<u8>>, String>>>,
    ended: Condvar,
    shuffle: Arc<ShuffleManager>,
    memory: Arc<MemoryManager>,
    location: Arc<Location>,
}

/// A running executor, owned by the context.
pub(crate) struct Executor {
    shared: Arc<Shared>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Executor {
    fn drop(&mut self) {
        // The program has ended: say so, so that the driver does not count us as lost.
        let _ = self.shared.to_driver.send(ToDriver::Bye);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn env(key: &str) -> Result<String> {
    std::env::var(key).map_err(|_| {
        Error::Cluster(format!(
            "{key} is not set: executors are started by `strata worker`, not by hand"
        ))
    })
}

impl Executor {
    pub fn start(
        cfg: &StrataConfig,
        shuffle: Arc<ShuffleManager>,
        memory: Arc<MemoryManager>,
    ) -> Result<Executor> {
        let driver = env("STRATA_DRIVER")?;
        let app = env("STRATA_APP_ID")?;
        let id: u64 = env("STRATA_EXECUTOR_ID")?
            .parse()
            .map_err(|_| Error::Cluster("STRATA_EXECUTOR_ID is not a number".into()))?;
        let host = std::env::var("STRATA_EXECUTOR_HOST").unwrap_or_else(|_| "127.0.0.1".into());
        // Never the secret itself on the wire: the dataflow token derived from it.
        let secret =
            strata_net::auth::token(&cfg.cluster.secret, strata_net::auth::purpose::DATAFLOW);
        let cores = cfg.dataflow.threads;
        let cluster_err = |what: &str, e: std::io::Error| Error::Cluster(format!("{what}: {e}"));

        if std::env::var_os("STRATA_WATCH_STDIN").is_some() {
            // The worker holds our stdin: end-of-file means it died, and so must we.
            std::thread::spawn(|| {
                let mut sink = [0u8; 64];
                let mut stdin = std::io::stdin();
                while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
                tracing::warn!("worker gone (stdin closed); executor exiting");
                std::process::exit(3);
            });
        }

        let listener = TcpListener::bind((host.as_str(), 0))
            .map_err(|e| cluster_err("executor cannot listen for shuffle fetches", e))?;
        let shuffle_addr = format!(
            "{host}:{}",
            listener.local_addr().map(|a| a.port()).unwrap_or(0)
        );
        fetch::serve(listener, shuffle.root().to_path_buf(), secret.clone());
        let _ = shuffle.identity.set(Identity {
            executor: id,
            secret: secret.clone(),
        });

        let conn = connect(&driver)?;
        let timeout = Duration::from_millis(cfg.cluster.node_timeout_ms);
        conn.set_read_timeout(Some(timeout)).ok();
        let mut w = BufWriter::with_capacity(
            1 << 16,
            conn.try_clone().map_err(|e| cluster_err("socket", e))?,
        );
        let mut r = BufReader::with_capacity(1 << 16, conn);
        send(
            &mut w,
            &ToDriver::Hello {
                secret,
                app,
                executor: id,
                host: host.clone(),
                shuffle_addr: shuffle_addr.clone(),
                cores,
            },
        )
        .map_err(|e| cluster_err("cannot greet the driver", e))?;
        match recv::<_, ToExecutor>(&mut r) {
            Ok(Some(ToExecutor::Welcome)) => {}
            Ok(Some(ToExecutor::Refused(why))) => {
                return Err(Error::Cluster(format!(
                    "the driver refused this executor: {why}"
                )));
            }
            _ => {
                return Err(Error::Cluster(format!(
                    "no answer from the driver at {driver}"
                )));
            }
        }
        tracing::info!(executor = id, driver = %driver, shuffle = %shuffle_addr, "executor registered");

        let (tx, rx) = unbounded::<ToDriver>();
        let writer = std::thread::spawn(move || {
            for msg in rx {
                let bye = matches!(msg, ToDriver::Bye);
                if send(&mut w, &msg).is_err() || bye {
                    break;
                }
            }
        });
        let shared = Arc::new(Shared {
            to_driver: tx.clone(),
            jobs: Mutex::new(FxHashMap::default()),
            ends: Mutex::new(FxHashMap::default()),
            ended: Condvar::new(),
            shuffle,
            memory,
            location: Arc::new(Location {
                executor: id,
                host,
                addr: shuffle_addr,
            }),
        });
        let every = Duration::from_millis(cfg.cluster.heartbeat_ms);
        std::thread::spawn(move || {
            while tx.send(ToDriver::Heartbeat).is_ok() {
                std::thread::sleep(every);
            }
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("strata-executor-reader".into())
            .spawn(move || read_loop(s, r))
            .map_err(|e| cluster_err("thread", e))?;
        Ok(Executor {
            shared,
            writer: Some(writer),
        })
    }

    /// Takes part in job `job`: runs the tasks the driver sends until it says the job has
    /// ended, and returns the job's results as the driver computed them.
    pub fn run_job(&self, job: u64, runner: JobRunner) -> Result<Arc<Vec<u8>>> {
        let s = &self.shared;
        s.jobs.lock().insert(job, Arc::new(runner));
        let _ = s.to_driver.send(ToDriver::Ready { job });
        let mut ends = s.ends.lock();
        let result = loop {
            if let Some(r) = ends.remove(&job) {
                break r;
            }
            s.ended.wait(&mut ends);
        };
        drop(ends);
        s.jobs.lock().remove(&job);
        result.map_err(|e| Error::Cluster(format!("the job failed on the driver: {e}")))
    }
}

/// An executor schedules nothing: each job's results come from the driver, and the tasks
/// it runs arrive from the driver too.
impl crate::backend::TaskBackend for Executor {
    fn run_stage(
        &self,
        _inner: &Arc<crate::context::Inner>,
        s: crate::backend::Stage<'_>,
    ) -> (Vec<(usize, crate::backend::AnyResult)>, Option<Error>) {
        let e = Error::Internal(format!(
            "stage {} ({}) was submitted in an executor; only the driver schedules",
            s.stage, s.desc
        ));
        (Vec::new(), Some(e))
    }

    fn remote_job(&self, job: u64, runner: JobRunner) -> Option<Result<Arc<Vec<u8>>>> {
        Some(self.run_job(job, runner))
    }

    fn schedules(&self) -> bool {
        false
    }

    fn app_id(&self) -> Option<String> {
        std::env::var("STRATA_APP_ID").ok()
    }
}

fn connect(driver: &str) -> Result<TcpStream> {
    let mut last = None;
    for _ in 0..50 {
        match TcpStream::connect(driver) {
            Ok(c) => {
                c.set_nodelay(true).ok();
                return Ok(c);
            }
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Error::Cluster(format!(
        "cannot connect to the driver at {driver}: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

fn read_loop(s: Arc<Shared>, mut r: BufReader<TcpStream>) {
    loop {
        match recv::<_, ToExecutor>(&mut r) {
            Ok(Some(ToExecutor::Task(desc))) => {
                let s2 = s.clone();
                s.memory.runtime().cpu().spawn(move || run_task(&s2, *desc));
            }
            Ok(Some(ToExecutor::JobEnd { job, result })) => {
                s.ends.lock().insert(job, result);
                s.ended.notify_all();
            }
            Ok(Some(ToExecutor::Ping | ToExecutor::Welcome)) => {}
            Ok(Some(ToExecutor::Shutdown)) => {
                tracing::info!("driver finished; executor exiting");
                std::process::exit(0);
            }
            Ok(Some(ToExecutor::Refused(_))) | Ok(None) => {
                tracing::warn!("driver lost (connection closed); executor exiting");
                std::process::exit(2);
            }
            Err(e) => {
                tracing::warn!(error = %e, "driver lost; executor exiting");
                std::process::exit(2);
            }
        }
    }
}

fn run_task(s: &Shared, desc: super::wire::TaskDesc) {
    let runner = s.jobs.lock().get(&desc.job).cloned();
    let mut tc = TaskContext::new(
        desc.job,
        desc.stage,
        desc.partition,
        desc.attempt,
        s.shuffle.clone(),
        s.memory.clone(),
    );
    tc.inject_failure = desc.inject_failure;
    for (shuffle, statuses) in desc.inputs.iter() {
        s.shuffle.install_outputs(*shuffle, statuses.clone());
    }
    accumulator::begin_task();
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<u8>> {
        let Some(runner) = runner else {
            return Err(Error::Internal(format!(
                "executor is not running job {}; did the program take a different path here than on the driver?",
                desc.job
            )));
        };
        match desc.kind {
            TaskKind::Result => (runner.result)(&tc),
            TaskKind::Map(shuffle) => {
                let dep = runner.shuffles.get(&shuffle).ok_or_else(|| {
                    Error::Internal(format!(
                        "shuffle {shuffle} is not in this executor's lineage"
                    ))
                })?;
                let mut status = dep.run_map_task(&tc)?;
                s.shuffle.own_file(shuffle, status.path.clone());
                if tc.inject_failure {
                    let _ = std::fs::remove_file(&status.path);
                    return Err(Error::Injected(tc.partition));
                }
                status.location = Some(s.location.clone());
                bincode::serialize(&status).map_err(|e| Error::Internal(e.to_string()))
            }
        }
    }));
    let mut result = match outcome {
        Ok(r) => r,
        Err(p) => Err(Error::Panicked(crate::scheduler::dag::panic_message(p))),
    };
    if let Some(e) = tc.take_error() {
        result = Err(e);
    }
    if result.is_ok() && tc.inject_failure && desc.kind == TaskKind::Result {
        result = Err(Error::Injected(desc.partition));
    }
    let updates = accumulator::end_task();
    let accumulators = if result.is_ok() {
        updates.encode()
    } else {
        Vec::new()
    };
    let cached = if result.is_ok() {
        tc.cached.take()
    } else {
        Vec::new()
    };
    let _ = s.to_driver.send(ToDriver::TaskDone(TaskReport {
        task: desc.task,
        result: result.map_err(WireError::from),
        accumulators,
        metrics: metrics_to_wire(&tc.metrics),
        cached,
    }));
}

//! A real cluster of `strata` processes that the nemesis may kill, pause, restart and
//! corrupt.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use strata_dfs::DfsClient;

/// The daemons' processes; `None` while one is down.
#[derive(Default)]
struct Procs {
    master: Option<Child>,
    workers: Vec<Option<Child>>,
    paused: Vec<bool>,
}

/// A master and workers on loopback, with their directories and config under a root.
pub struct Cluster {
    exe: PathBuf,
    root: PathBuf,
    config: PathBuf,
    port: u16,
    /// The cluster secret the clients use.
    pub secret: String,
    procs: Mutex<Procs>,
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
}

impl Cluster {
    /// Starts a master and `workers` workers under `root`, and waits until every worker
    /// has registered.
    pub fn start(exe: &Path, root: &Path, workers: usize) -> Result<Cluster, String> {
        let config = root.join("strata.toml");
        let secret = format!("chaos-{}", std::process::id());
        std::fs::create_dir_all(root.join("logs")).map_err(|e| e.to_string())?;
        std::fs::write(
            &config,
            format!(
                "[cluster]\nsecret = \"{secret}\"\nheartbeat_ms = 200\nnode_timeout_ms = 2000\n\
                 [dfs]\nchunk_size = \"256k\"\nreplication = 3\nheartbeat_interval_ms = 200\n\
                 node_timeout_ms = 2000\nwriter_lease_ms = 3000\n\
                 [dataflow]\nthreads = 1\nmemory = \"64m\"\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let c = Cluster {
            exe: exe.to_path_buf(),
            root: root.to_path_buf(),
            config,
            port: free_port()?,
            secret,
            procs: Mutex::new(Procs {
                workers: (0..workers).map(|_| None).collect(),
                paused: vec![false; workers],
                ..Procs::default()
            }),
        };
        c.start_master()?;
        for i in 0..workers {
            c.start_worker(i)?;
        }
        c.wait_live(workers, Duration::from_secs(30))?;
        Ok(c)
    }

    /// The cluster's config file (for clients started as processes).
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// The `strata` executable.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// The master's address.
    pub fn master_addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.procs.lock().expect("procs").workers.len()
    }

    /// A client of the cluster.
    pub fn client(&self) -> Result<DfsClient, String> {
        DfsClient::connect(&self.master_addr(), &self.secret).map_err(|e| e.to_string())
    }

    fn spawn(&self, log: &str, args: &[String], ready: &str) -> Result<Child, String> {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("logs").join(log))
            .map_err(|e| e.to_string())?;
        let mut child = Command::new(&self.exe)
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.exe.display()))?;
        let out = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(out).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.contains(ready) => break,
                Some(Ok(_)) => {}
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{log}: the daemon exited before it was ready (see {})",
                        self.root.join("logs").join(log).display()
                    ));
                }
            }
        }
        // Keep draining stdout so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(child)
    }

    /// Starts (or restarts) the master.
    pub fn start_master(&self) -> Result<(), String> {
        let args: Vec<String> = vec![
            "master".into(),
            "--dir".into(),
            self.root.join("master").display().to_string(),
            "--listen".into(),
            self.master_addr(),
        ];
        // A restart right after a SIGKILL may find the port briefly taken: retry a little.
        let mut last = String::new();
        for _ in 0..20 {
            match self.spawn("master.log", &args, "master listening on") {
                Ok(child) => {
                    self.procs.lock().expect("procs").master = Some(child);
                    return Ok(());
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(last)
    }

    /// Starts (or restarts) worker `i`.
    pub fn start_worker(&self, i: usize) -> Result<(), String> {
        let args: Vec<String> = vec![
            "worker".into(),
            "--master".into(),
            self.master_addr(),
            "--dir".into(),
            self.root.join(format!("worker-{i}")).display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--cores".into(),
            "1".into(),
        ];
        let child = self.spawn(&format!("worker-{i}.log"), &args, "serving data on")?;
        let mut p = self.procs.lock().expect("procs");
        p.workers[i] = Some(child);
        p.paused[i] = false;
        Ok(())
    }

    /// SIGKILLs the master; true if it was running.
    pub fn kill_master(&self) -> bool {
        let mut p = self.procs.lock().expect("procs");
        match p.master.take() {
            Some(mut c) => {
                let _ = c.kill();
                let _ = c.wait();
                true
            }
            None => false,
        }
    }

    /// SIGKILLs worker `i`; true if it was running.
    pub fn kill_worker(&self, i: usize) -> bool {
        let mut p = self.procs.lock().expect("procs");
        p.paused[i] = false;
        match p.workers[i].take() {
            Some(mut c) => {
                let _ = c.kill();
                let _ = c.wait();
                true
            }
            None => false,
        }
    }

    /// SIGSTOPs (`pause`) or SIGCONTs worker `i`; true if that changed anything.
    pub fn pause_worker(&self, i: usize, pause: bool) -> bool {
        let mut p = self.procs.lock().expect("procs");
        let Some(c) = &p.workers[i] else { return false };
        if p.paused[i] == pause {
            return false;
        }
        signal(c, if pause { "-STOP" } else { "-CONT" });
        p.paused[i] = pause;
        true
    }

    /// Whether worker `i` is running (paused or not).
    pub fn worker_up(&self, i: usize) -> bool {
        self.procs.lock().expect("procs").workers[i].is_some()
    }

    /// Whether the master is running.
    pub fn master_up(&self) -> bool {
        self.procs.lock().expect("procs").master.is_some()
    }

    /// The chunk data files of worker `i`.
    pub fn chunk_files(&self, i: usize) -> Vec<PathBuf> {
        let dir = self.root.join(format!("worker-{i}")).join("chunks");
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "chunk"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Resumes paused workers, restarts dead daemons, and waits until every worker is live
    /// and (best effort, up to a minute) every chunk is back at its replication target.
    pub fn heal(&self) -> Result<(), String> {
        let n = self.workers();
        for i in 0..n {
            self.pause_worker(i, false);
        }
        if !self.master_up() {
            self.start_master()?;
        }
        for i in 0..n {
            if !self.worker_up(i) {
                self.start_worker(i)?;
            }
        }
        self.wait_live(n, Duration::from_secs(60))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = self
                .client()
                .and_then(|c| c.report().map_err(|e| e.to_string()))
                && r.under_replicated == 0
                && r.being_written == 0
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    fn wait_live(&self, n: usize, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let live = self
                .client()
                .and_then(|c| c.report().map_err(|e| e.to_string()))
                .map(|r| r.nodes.iter().filter(|n| n.alive).count());
            match live {
                Ok(l) if l >= n => return Ok(()),
                _ if Instant::now() > deadline => {
                    return Err(format!(
                        "only {live:?} of {n} workers live after {within:?}; logs in {}",
                        self.root.join("logs").display()
                    ));
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut p = self.procs.lock().expect("procs");
        let Procs {
            master, workers, ..
        } = &mut *p;
        for c in workers.iter_mut().flatten().chain(master.iter_mut()) {
            signal(c, "-CONT");
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

//! Cluster mode with real processes: a `strata master`, `strata worker`s that launch executor
//! processes, and drivers started with `strata run --master` or `strata submit`. Workers,
//! executors and drivers are killed with SIGKILL (or frozen with SIGSTOP) where the test
//! says so. Waits poll a condition with a deadline.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SECRET: &str = "cluster-test-secret";

/// One cluster at a time: a master, three workers, three executors and a driver already
/// crowd a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn strata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strata"))
}

fn logs() -> Stdio {
    // CLUSTER_TEST_LOG=1 shows the daemons' logs.
    if std::env::var_os("CLUSTER_TEST_LOG").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns a daemon and returns it with the first `lines` lines it printed.
fn daemon(mut cmd: Command, lines: usize) -> (Proc, Vec<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(logs())
        .spawn()
        .expect("spawn strata");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut got = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "daemon exited at start-up");
        got.push(line.trim().to_string());
    }
    std::thread::spawn(move || for _ in out.lines() {});
    (Proc(child), got)
}

struct Worker {
    proc: Option<Proc>,
    dir: PathBuf,
    listen: String,
}

struct Cluster {
    root: tempfile::TempDir,
    config: PathBuf,
    _master: Proc,
    master: String,
    ui: String,
    /// The web UI's login token (printed by the master as `...?token=`).
    ui_token: String,
    workers: Vec<Worker>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    /// A master and `n` workers on 127.0.0.1, 127.0.0.2, ... (distinct hosts for locality).
    fn start(n: usize, extra: &str) -> Cluster {
        Self::start_on(
            n,
            extra,
            "127.0.0.1",
            |i| format!("127.0.0.{}", i + 1),
            |_| None,
        )
    }

    fn start_on(
        n: usize,
        extra: &str,
        master_host: &str,
        worker_host: impl Fn(usize) -> String,
        wrap: impl Fn(usize) -> Option<Vec<String>>,
    ) -> Cluster {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let root = tempfile::tempdir().unwrap();
        let config = root.path().join("strata.toml");
        std::fs::write(
            &config,
            format!(
                "[cluster]\nsecret = \"{SECRET}\"\nheartbeat_ms = 200\nnode_timeout_ms = 2000\n\
                 [dfs]\nchunk_size = \"256k\"\nheartbeat_interval_ms = 200\nnode_timeout_ms = 3000\n\
                 [dataflow]\nthreads = 2\nmemory = \"256m\"\n{extra}"
            ),
        )
        .unwrap();
        let mut m = strata();
        m.args(["master", "--dir"])
            .arg(root.path().join("master"))
            .args(["--listen", &format!("{master_host}:0")])
            .args(["--http", &format!("{master_host}:0")])
            .arg("--config")
            .arg(&config);
        let (master_proc, lines) = daemon(m, 2);
        let master = lines[0].rsplit(' ').next().unwrap().to_string();
        let url = lines[1].rsplit(' ').next().unwrap();
        let (ui, ui_token) = url
            .trim_start_matches("http://")
            .split_once("/?token=")
            .map(|(a, t)| (a.to_string(), t.to_string()))
            .expect("the master prints the UI's URL with its login token");
        let mut c = Cluster {
            root,
            config,
            _master: master_proc,
            master,
            ui,
            ui_token,
            workers: Vec::new(),
            _serial: serial,
        };
        for i in 0..n {
            let dir = c.root.path().join(format!("worker-{i}"));
            let listen = format!("{}:0", worker_host(i));
            c.workers.push(Worker {
                proc: None,
                dir,
                listen,
            });
            c.start_worker(i, wrap(i));
        }
        c.wait_for("every worker registered", Duration::from_secs(30), |c| {
            c.live_workers() == n
        });
        c
    }

    fn start_worker(&mut self, i: usize, wrap: Option<Vec<String>>) {
        let w = &self.workers[i];
        let mut cmd = match &wrap {
            Some(prefix) => {
                let mut c = Command::new(&prefix[0]);
                c.args(&prefix[1..]).arg(env!("CARGO_BIN_EXE_strata"));
                c
            }
            None => strata(),
        };
        cmd.args(["worker", "--master", &self.master, "--cores", "2", "--dir"])
            .arg(&w.dir)
            .args(["--listen", &w.listen])
            .arg("--config")
            .arg(&self.config);
        let (p, _) = daemon(cmd, 1);
        self.workers[i].proc = Some(p);
    }

    fn kill_worker(&mut self, i: usize) {
        let mut p = self.workers[i].proc.take().unwrap();
        p.0.kill().unwrap();
        p.0.wait().unwrap();
    }

    fn worker_pid(&self, i: usize) -> u32 {
        self.workers[i].proc.as_ref().unwrap().0.id()
    }

    fn state(&self) -> Value {
        serde_json::from_str(&http_get(
            &self.ui,
            &format!("/api/state?token={}", self.ui_token),
        ))
        .unwrap_or(Value::Null)
    }

    fn live_workers(&self) -> usize {
        self.state()["workers"]
            .as_array()
            .map(|w| w.iter().filter(|w| w["alive"] == true).count())
            .unwrap_or(0)
    }

    fn app(&self, id: &str) -> Value {
        self.state()["apps"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["id"] == id).cloned())
            .unwrap_or(Value::Null)
    }

    fn last_app(&self) -> Value {
        self.state()["apps"]
            .as_array()
            .and_then(|a| a.last().cloned())
            .unwrap_or(Value::Null)
    }

    fn wait_for(&self, what: &str, limit: Duration, cond: impl Fn(&Cluster) -> bool) {
        let deadline = Instant::now() + limit;
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `strata ARGS --config CFG`, embedded or (with `master`) on this cluster.
    fn command(&self, args: &[&str], on_cluster: bool) -> Command {
        let mut c = strata();
        c.arg("-q").args(args).arg("--config").arg(&self.config);
        if on_cluster {
            c.args(["--master", &self.master]);
        }
        c
    }

    fn run(&self, args: &[&str], on_cluster: bool) -> Output {
        let out = self.command(args, on_cluster).output().unwrap();
        assert!(
            out.status.success(),
            "strata {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn path(&self, name: &str) -> String {
        self.root.path().join(name).display().to_string()
    }

    /// No executor processes or scratch directories left on any worker.
    fn executors_gone(&self) -> bool {
        let listed = self.state()["workers"]
            .as_array()
            .map(|w| {
                w.iter()
                    .all(|w| w["executors"].as_array().is_none_or(|e| e.is_empty()))
            })
            .unwrap_or(false);
        listed
            && self.workers.iter().all(|w| {
                std::fs::read_dir(w.dir.join("executors"))
                    .map(|d| d.count() == 0)
                    .unwrap_or(true)
            })
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// The lines of every part file, sorted.
fn lines_of(dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("part-")
        {
            out.extend(
                std::fs::read_to_string(&p)
                    .unwrap()
                    .lines()
                    .map(str::to_string),
            );
        }
    }
    out.sort();
    out
}

/// The part files' bytes in order (a global sort's output).
fn bytes_of(dir: &str) -> Vec<u8> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("part-")
        })
        .collect();
    parts.sort();
    parts
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// The numbers in the driver's summary line, by the words after them.
fn summary_number(stderr: &str, words: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("cluster application"))
        .unwrap_or_else(|| panic!("no cluster summary in: {stderr}"));
    for part in line.split(", ") {
        if let Some(n) = part.strip_suffix(words) {
            let n = n.trim().rsplit(' ').next().unwrap();
            return n.parse().unwrap();
        }
    }
    panic!("no `{words}` in {line}")
}

fn shakespeare() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/shakespeare")
        .display()
        .to_string()
}

#[test]
fn cluster_jobs_match_embedded_and_executors_clean_up() {
    let c = Cluster::start(3, "");
    let data = shakespeare();
    let (local, remote) = (c.path("wc-local"), c.path("wc-cluster"));
    c.run(&["run", "wordcount", &data, "--out", &local], false);
    let out = c.run(&["run", "wordcount", &data, "--out", &remote], true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3 executors"), "{stderr}");
    let words = lines_of(&local);
    assert!(words.len() > 20_000);
    assert_eq!(
        words,
        lines_of(&remote),
        "word count differs on the cluster"
    );

    let input = c.path("tera");
    c.run(
        &[
            "gen",
            "terasort",
            "--records",
            "100000",
            "--files",
            "3",
            "--out",
            &input,
        ],
        false,
    );
    let (local, remote) = (c.path("sort-local"), c.path("sort-cluster"));
    c.run(
        &["run", "sort", &input, "--out", &local, "--partitions", "5"],
        false,
    );
    c.run(
        &["run", "sort", &input, "--out", &remote, "--partitions", "5"],
        true,
    );
    let sorted = bytes_of(&local);
    assert_eq!(sorted.len(), 100_000 * 100);
    assert!(sorted == bytes_of(&remote), "sort differs on the cluster");

    // A user's program, shipped through the DFS: the same answer, accumulators included.
    let example = Path::new(env!("CARGO_BIN_EXE_strata"))
        .parent()
        .unwrap()
        .join("examples/submit_wordcount");
    assert!(
        example.exists(),
        "{} is missing: `cargo test` builds the examples",
        example.display()
    );
    let submitted = c.path("wc-submit");
    let out = strata()
        .args(["submit", "--master", &c.master, "--executors", "3"])
        .arg("--config")
        .arg(&c.config)
        .arg(&example)
        .args([&data, &submitted])
        .env("STRATA_CONFIG", &c.config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "submit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ran as cluster application"), "{stdout}");
    assert!(stdout.contains("lines: 187182"), "accumulator: {stdout}");
    assert_eq!(
        words,
        lines_of(&submitted),
        "submitted program's answer differs"
    );

    // Bad input found by an executor fails the job at once, with the file and line.
    let bad = c.path("bad-edges.txt");
    std::fs::write(&bad, "1 2\n3 x\n").unwrap();
    let out = c
        .command(&["run", "pagerank", &bad, "--out", &c.path("ranks")], true)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad-edges.txt:2: malformed edge line"),
        "error should name the file and line: {stderr}"
    );

    let apps = c.state()["apps"].as_array().unwrap().clone();
    assert_eq!(apps.len(), 4);
    assert!(
        apps[..3].iter().all(|a| a["state"] == "finished"),
        "{apps:?}"
    );
    assert_eq!(apps[3]["state"], "failed", "{apps:?}");
    c.wait_for(
        "executors gone",
        Duration::from_secs(20),
        Cluster::executors_gone,
    );
    let metrics = http_get(&c.ui, "/metrics");
    assert!(metrics.contains("cluster_live_workers 3"), "{metrics}");
}

/// Generates `records` TeraSort records, sorts them embedded (the reference), and starts the
/// same sort on the cluster; returns the driver and the two output directories.
fn start_cluster_sort(c: &Cluster, records: &str) -> (Child, String, String) {
    let input = c.path("tera");
    let gen_args = [
        "gen",
        "terasort",
        "--records",
        records,
        "--files",
        "3",
        "--out",
        &input,
    ];
    c.run(&gen_args, false);
    let (local, remote) = (c.path("sort-local"), c.path("sort-cluster"));
    c.run(
        &["run", "sort", &input, "--out", &local, "--partitions", "24"],
        false,
    );
    let driver = c
        .command(
            &[
                "run",
                "sort",
                &input,
                "--out",
                &remote,
                "--partitions",
                "24",
            ],
            true,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (driver, local, remote)
}

/// Whether the cluster's latest app has a `save` job whose stages satisfy `pred`.
fn save_job_where(c: &Cluster, pred: impl Fn(&[Value]) -> bool) -> bool {
    c.last_app()["ui"]["jobs"].as_array().is_some_and(|jobs| {
        jobs.iter().any(|j| {
            j["name"].as_str().is_some_and(|n| n.starts_with("save"))
                && j["stages"].as_array().is_some_and(|s| pred(s))
        })
    })
}

#[test]
fn a_worker_killed_mid_shuffle_costs_only_its_map_outputs() {
    let mut c = Cluster::start(3, "split_size = \"4m\"\nspeculation = false\n");
    let (driver, local, remote) = start_cluster_sort(&c, "1500000");
    // Kill a worker once the map side is done and the reduce side has begun: every map
    // output is registered, and reducers still need them.
    c.wait_for("the reduce stage to start", Duration::from_secs(60), |c| {
        save_job_where(c, |stages| {
            stages
                .iter()
                .any(|s| s["shuffle"].is_null() && s["status"] == "running")
        })
    });
    c.kill_worker(1);
    let out = driver.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the job failed: {stderr}");
    assert!(
        bytes_of(&local) == bytes_of(&remote),
        "sort differs after a worker died"
    );
    let lost = summary_number(&stderr, "map outputs lost");
    let rerun = summary_number(&stderr, "map tasks re-run");
    assert!(lost >= 1, "the killed worker held no map output? {stderr}");
    assert!(
        lost < 36,
        "more outputs lost than one worker held: {stderr}"
    );
    assert_eq!(
        rerun, lost,
        "only the lost map outputs must be recomputed: {stderr}"
    );
    // The master noticed, and launched a replacement executor on a live worker.
    c.wait_for("worker declared lost", Duration::from_secs(20), |c| {
        c.live_workers() == 2
    });
}

fn chromium() -> String {
    for b in ["chromium", "chromium-browser", "google-chrome"] {
        if Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return b.to_string();
        }
    }
    panic!("no headless Chromium: install Debian's `chromium` package (.ci/run does)");
}

/// The DOM of a page after Chromium has loaded and rendered it.
fn dom(browser: &str, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn web_ui_during_a_job_then_the_driver_dies_and_workers_clean_up() {
    let browser = chromium();
    let c = Cluster::start(3, "");
    // A long job: many PageRank iterations, so the pages are loaded while it runs.
    let edges = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/wordnet/edges.txt");
    let out = c.path("ranks");
    let mut driver = c
        .command(
            &[
                "run",
                "pagerank",
                edges.to_str().unwrap(),
                "--iterations",
                "1000",
                "--out",
                &out,
            ],
            true,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    c.wait_for(
        "a running job with 3 executors",
        Duration::from_secs(60),
        |c| {
            let app = c.last_app();
            app["state"] == "running"
                && app["ui"]["executors"]
                    .as_array()
                    .is_some_and(|e| e.iter().filter(|e| e["alive"] == true).count() == 3)
                && app["ui"]["jobs"]
                    .as_array()
                    .is_some_and(|j| j.iter().filter(|j| j["status"] == "succeeded").count() >= 2)
        },
    );
    let app = c.last_app()["id"].as_str().unwrap().to_string();

    let home = dom(&browser, &format!("http://{}/?token={}", c.ui, c.ui_token));
    assert!(home.contains("3 live of 3 workers"), "{home}");
    for host in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        assert!(home.contains(host), "worker {host} missing: {home}");
    }
    assert!(home.contains(&app) && home.contains("running"), "{home}");
    assert!(home.contains("capacity"), "DFS capacity missing: {home}");

    let page = dom(
        &browser,
        &format!("http://{}/app/{app}?token={}", c.ui, c.ui_token),
    );
    assert!(page.contains("<svg"), "no stage DAG picture: {page}");
    assert!(
        page.contains("class=\"stage\""),
        "no stages in the DAG: {page}"
    );
    assert!(
        page.contains("succeeded") && page.contains("running"),
        "{page}"
    );
    for col in ["attempt", "host", "locality", "duration"] {
        assert!(page.contains(&format!("<th>{col}</th>")), "no {col} column");
    }
    assert!(page.contains("127.0.0.2"), "task hosts missing: {page}");

    let dfs = dom(
        &browser,
        &format!("http://{}/dfs?path=/&token={}", c.ui, c.ui_token),
    );
    assert!(dfs.contains("id=\"files\""), "{dfs}");
    // Regression (data-safety issue, row 6): without the token the UI shows nothing.
    for page in ["/", "/dfs?path=/", "/api/state", &format!("/app/{app}")] {
        let body = http_get(&c.ui, page);
        assert!(
            body.contains("has a secret") && !body.contains("files"),
            "{page}: {body}"
        );
    }
    assert!(http_get(&c.ui, "/dfs?path=/&token=wrong").contains("has a secret"));

    // Lose the driver: its application fails with a clear reason, executors are killed and
    // their scratch space removed.
    driver.kill().unwrap();
    driver.wait().unwrap();
    c.wait_for("the application failed", Duration::from_secs(30), |c| {
        c.app(&app)["state"] == "failed"
    });
    let why = c.app(&app)["error"].as_str().unwrap().to_string();
    assert!(why.contains("driver lost"), "{why}");
    c.wait_for(
        "executors gone",
        Duration::from_secs(30),
        Cluster::executors_gone,
    );
    assert!(
        !Path::new(&out).join("_SUCCESS").exists(),
        "a failed job must not look complete"
    );

    // Graceful shutdown: SIGTERM stops a worker cleanly, and the master notices it is gone.
    let mut c = c;
    let mut w = c.workers[0].proc.take().unwrap();
    Command::new("kill")
        .arg(w.0.id().to_string())
        .status()
        .unwrap();
    let status = w.0.wait().unwrap();
    assert!(status.success(), "worker exited with {status} on SIGTERM");
    c.wait_for(
        "the stopped worker declared lost",
        Duration::from_secs(20),
        |c| c.live_workers() == 2,
    );
}

#[test]
fn dfs_input_runs_node_local_and_a_frozen_executor_gets_backup_tasks() {
    // A long locality wait: under load a task still waits for its host (delay scheduling).
    let c = Cluster::start(3, "split_size = \"1m\"\nlocality_wait_ms = 30000\n");
    // One replica per chunk, spread over the three workers: where a task runs matters.
    let mut dfs = strata::dfs::DfsClient::connect(&c.master, SECRET).unwrap();
    dfs.mkdir("/books", true).unwrap();
    for e in std::fs::read_dir(shakespeare()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let mut f = std::fs::File::open(&p).unwrap();
        dfs.put(&mut f, &format!("/books/{name}"), 1, false, &mut |_| {})
            .unwrap();
    }
    let local = c.path("wc-local");
    c.run(
        &["run", "wordcount", &shakespeare(), "--out", &local],
        false,
    );
    let remote = c.path("wc-dfs");
    let out = c.run(
        &["run", "wordcount", "dfs:///books", "--out", &remote],
        true,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(lines_of(&local), lines_of(&remote));
    let with_pref: u64 = {
        let line = stderr
            .lines()
            .find(|l| l.contains("cluster application"))
            .unwrap();
        let after = line.split(" executors, ").nth(1).unwrap();
        let mut it = after.split(' ');
        let local: u64 = it.next().unwrap().parse().unwrap();
        let total: u64 = it.nth(1).unwrap().parse().unwrap();
        assert!(total >= 40, "{line}");
        assert!(local * 10 >= total * 9, "under 90% node-local: {line}");
        total
    };
    assert!(with_pref > 0);

    // Freeze one executor (SIGSTOP: a machine that hangs without dying) while the map side
    // runs; its tasks become stragglers and get backup copies elsewhere. A bigger corpus
    // (eight copies) makes the map side last long enough to catch it.
    let corpus = c.path("corpus");
    std::fs::create_dir(&corpus).unwrap();
    for e in std::fs::read_dir(shakespeare()).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read(&p).unwrap();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        std::fs::write(format!("{corpus}/{name}"), text.repeat(8)).unwrap();
    }
    let local = c.path("wc-corpus-local");
    c.run(&["run", "wordcount", &corpus, "--out", &local], false);
    let remote = c.path("wc-straggler");
    let driver = c
        .command(&["run", "wordcount", &corpus, "--out", &remote], true)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.wait_for("map tasks finishing", Duration::from_secs(60), |c| {
        let s = c.state();
        let apps = s["apps"].as_array().cloned().unwrap_or_default();
        apps.len() == 2
            && apps[1]["ui"]["jobs"][0]["stages"][0]["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().filter(|t| t["status"] == "succeeded").count() >= 3)
    });
    let frozen = String::from_utf8(
        Command::new("pgrep")
            .args(["-P", &c.worker_pid(2).to_string()])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    assert!(!frozen.is_empty(), "no executor process under worker 2");
    Command::new("kill")
        .args(["-STOP", &frozen])
        .status()
        .unwrap();
    let spotted = Instant::now() + Duration::from_secs(30);
    while c.last_app()["ui"]["speculative_tasks"]
        .as_u64()
        .unwrap_or(0)
        == 0
        && c.last_app()["state"] == "running"
        && Instant::now() < spotted
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Keep it frozen until a backup copy has won (or the job is over).
    let won_by = Instant::now() + Duration::from_secs(30);
    let copy_won = |app: &Value| {
        app["ui"]["jobs"].as_array().is_some_and(|jobs| {
            jobs.iter()
                .flat_map(|j| j["stages"].as_array().into_iter().flatten())
                .flat_map(|s| s["tasks"].as_array().into_iter().flatten())
                .any(|t| t["speculative"] == true && t["status"] == "succeeded")
        })
    };
    while !copy_won(&c.last_app()) && c.last_app()["state"] == "running" && Instant::now() < won_by
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .args(["-CONT", &frozen])
        .status()
        .unwrap();
    let out = driver.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(lines_of(&local), lines_of(&remote));
    let speculative = summary_number(&stderr, "speculative copies");
    assert!(
        speculative >= 1,
        "no backup task for the frozen executor: {stderr}"
    );
    let app = c.last_app();
    let won = app["ui"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|j| j["stages"].as_array().unwrap().iter())
        .flat_map(|s| s["tasks"].as_array().unwrap().iter())
        .any(|t| t["speculative"] == true && t["status"] == "succeeded");
    assert!(won, "no speculative copy finished first");
}

/// Three network namespaces joined by a bridge: three "hosts" on one machine. Removed when
/// dropped.
struct Netns {
    bridge: String,
    names: Vec<String>,
    veths: Vec<String>,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Netns {
    const SUBNET: &'static str = "10.213.77";

    fn create(n: usize) -> Result<Netns, String> {
        let id = std::process::id() % 100_000;
        let mut net = Netns {
            bridge: format!("stbr{id}"),
            names: Vec::new(),
            veths: Vec::new(),
        };
        let probe = format!("strata-probe-{id}");
        if !ip(&["netns", "add", &probe]) {
            return Err("`ip netns add` is not permitted here (needs root and iproute2)".into());
        }
        ip(&["netns", "del", &probe]);
        let ok = ip(&["link", "add", &net.bridge, "type", "bridge"])
            && ip(&[
                "addr",
                "add",
                &format!("{}.1/24", Self::SUBNET),
                "dev",
                &net.bridge,
            ])
            && ip(&["link", "set", &net.bridge, "up"]);
        if !ok {
            return Err("cannot create a bridge".into());
        }
        for i in 0..n {
            let ns = format!("strata-{id}-{i}");
            let (veth, peer) = (format!("stv{id}{i}"), format!("stp{id}{i}"));
            let addr = format!("{}.{}/24", Self::SUBNET, 11 + i);
            let ok = ip(&["netns", "add", &ns])
                && ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer])
                && ip(&["link", "set", &peer, "netns", &ns])
                && ip(&["link", "set", &veth, "master", &net.bridge, "up"])
                && ip(&["-n", &ns, "addr", "add", &addr, "dev", &peer])
                && ip(&["-n", &ns, "link", "set", &peer, "up"])
                && ip(&["-n", &ns, "link", "set", "lo", "up"]);
            net.names.push(ns);
            net.veths.push(veth);
            if !ok {
                return Err("cannot set up a namespace and its veth pair".into());
            }
        }
        Ok(net)
    }

    fn host(i: usize) -> String {
        format!("{}.{}", Self::SUBNET, 11 + i)
    }

    fn link(&self, i: usize, up: bool) {
        assert!(ip(&[
            "link",
            "set",
            &self.veths[i],
            if up { "up" } else { "down" }
        ]));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for v in &self.veths {
            ip(&["link", "del", v]);
        }
        for n in &self.names {
            ip(&["netns", "del", n]);
        }
        ip(&["link", "del", &self.bridge]);
    }
}

#[test]
fn three_hosts_in_network_namespaces_survive_a_link_going_down() {
    let net = match Netns::create(3) {
        Ok(n) => n,
        Err(why) => {
            eprintln!("skipping the multi-host test: {why}");
            return;
        }
    };
    let names = net.names.clone();
    let c = Cluster::start_on(
        3,
        "split_size = \"4m\"\n",
        &format!("{}.1", Netns::SUBNET),
        Netns::host,
        |i| {
            Some(vec![
                "ip".into(),
                "netns".into(),
                "exec".into(),
                names[i].clone(),
            ])
        },
    );
    let (driver, local, remote) = start_cluster_sort(&c, "1500000");
    c.wait_for(
        "the sort's map side under way",
        Duration::from_secs(60),
        |c| {
            save_job_where(c, |stages| {
                stages[0]["tasks"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["status"] == "succeeded"))
            })
        },
    );
    // Partition the second host from everyone mid-job.
    net.link(1, false);
    let out = driver.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the job failed: {stderr}");
    assert!(
        bytes_of(&local) == bytes_of(&remote),
        "sort differs after a partition"
    );
    eprintln!(
        "{}",
        stderr
            .lines()
            .find(|l| l.contains("cluster application"))
            .unwrap_or("")
    );
    c.wait_for(
        "the master declares the host lost",
        Duration::from_secs(30),
        |c| c.live_workers() == 2,
    );
    // Heal the partition: the worker rejoins.
    net.link(1, true);
    c.wait_for("the worker rejoins", Duration::from_secs(30), |c| {
        c.live_workers() == 3
    });
}

/// The TPC-H tables at SF 0.1, generated locally and copied into the cluster's DFS under
/// `/tpch/TABLE/`; returns the `--table` arguments that name them.
fn tpch_in_dfs(c: &Cluster) -> Vec<String> {
    let local = c.path("tpch");
    c.run(&["gen", "tpch", "--sf", "0.1", "--out", &local], false);
    let dfs = |args: &[&str]| {
        let mut all = vec!["dfs", "--master", &c.master];
        all.extend_from_slice(args);
        c.run(&all, false)
    };
    dfs(&["mkdir", "/tpch"]);
    let mut tables = Vec::new();
    for t in strata_sql::tpch::TABLES {
        dfs(&["mkdir", &format!("/tpch/{t}")]);
        for f in std::fs::read_dir(Path::new(&local).join(t)).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_str().unwrap().to_string();
            dfs(&["put", f.to_str().unwrap(), &format!("/tpch/{t}/{name}")]);
        }
        tables.push("--table".to_string());
        tables.push(format!("{t}=dfs:///tpch/{t}"));
    }
    tables
}

/// The 22 TPC-H queries as one script, and their checked-in answers (DuckDB's, header first).
fn tpch_script(c: &Cluster) -> (String, Vec<Vec<Vec<String>>>) {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/strata-sql/tests/tpch");
    let mut script = String::new();
    let mut answers = Vec::new();
    for q in 1..=22 {
        let sql = std::fs::read_to_string(here.join(format!("queries/q{q}.sql"))).unwrap();
        script.push_str(sql.trim().trim_end_matches(';'));
        script.push_str(";\n");
        let a = std::fs::read_to_string(here.join(format!("answers/sf0.1/q{q}.csv"))).unwrap();
        answers.push(a.lines().map(csv_fields).collect());
    }
    let path = c.path("tpch.sql");
    std::fs::write(&path, script).unwrap();
    (path, answers)
}

fn csv_fields(line: &str) -> Vec<String> {
    // The answers hold no embedded newlines; quotes only around fields with commas.
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            ch => cur.push(ch),
        }
    }
    fields.push(cur);
    fields
}

/// `out` (the CSV results of the 22 queries, one after another, each with its header)
/// equals the answers: values equal, numbers to 1e-9 relative.
fn assert_tpch_answers(label: &str, out: &str, answers: &[Vec<Vec<String>>]) {
    let mut lines = out.lines();
    for (i, want) in answers.iter().enumerate() {
        for (r, row) in want.iter().enumerate() {
            let got = csv_fields(
                lines
                    .next()
                    .unwrap_or_else(|| panic!("{label}: q{} ends before row {r}", i + 1)),
            );
            assert_eq!(got.len(), row.len(), "{label}: q{} row {r}: {got:?}", i + 1);
            for (x, y) in got.iter().zip(row) {
                let close = match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
                    _ => false,
                };
                assert!(
                    x == y || close,
                    "{label}: q{} row {r}: got {x}, DuckDB says {y}",
                    i + 1
                );
            }
        }
    }
    assert_eq!(lines.next(), None, "{label}: more rows than the answers");
}

#[test]
fn distributed_sql_runs_tpch_on_three_workers_and_survives_a_killed_worker() {
    let mut c = Cluster::start(3, "speculation = false\n");
    let tables = tpch_in_dfs(&c);
    let (script, answers) = tpch_script(&c);
    let mut args: Vec<&str> = vec!["sql", "--format", "csv", "--partitions", "6"];
    args.extend(tables.iter().map(String::as_str));
    args.extend(["-f", &script]);
    // All 22 queries on the cluster, as one application.
    let out = c.run(&[args.as_slice(), &["--master", &c.master]].concat(), false);
    assert_tpch_answers("3 workers", &String::from_utf8_lossy(&out.stdout), &answers);
    let app = c.last_app();
    let jobs = last_job(&app);
    assert!(jobs > 22, "the queries ran as jobs of the app: {app}");
    let executors = app["ui"]["executors"].as_array().map(Vec::len).unwrap_or(0);
    assert!(executors >= 3, "an executor on each worker: {app}");
    // Again, with a worker SIGKILLed once a third of the jobs are done: its tasks and the
    // exchange outputs it held are recomputed elsewhere, and the answers do not change.
    // (`jobs` counts the first run's jobs; the partitioned run has more.)
    let before = c.last_app()["id"].clone();
    // This time every join that can be is partitioned (more exchanges to lose).
    let partitioned = ["--master", &c.master, "--broadcast-limit", "0"];
    let mut driver = c
        .command(&[args.as_slice(), &partitioned].concat(), false)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed once a third of the jobs are done and, if one comes in time, while a job reads
    // a hash exchange (its map side done, its reduce side running).
    c.wait_for(
        "a third of the queries' jobs",
        Duration::from_secs(120),
        |c| {
            let app = c.last_app();
            app["id"] != before && last_job(&app) * 3 >= jobs
        },
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && !reading_an_exchange(&c.last_app()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let id = c.last_app()["id"].clone();
    c.kill_worker(1);
    assert!(
        driver.try_wait().unwrap().is_none(),
        "the queries ended before the worker was killed"
    );
    let out = driver.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the queries failed: {stderr}");
    assert_tpch_answers(
        "a worker killed",
        &String::from_utf8_lossy(&out.stdout),
        &answers,
    );
    let ui = &c.app(id.as_str().unwrap())["ui"];
    eprintln!(
        "worker killed after job {}: {} exchange outputs lost, {} map tasks re-run",
        jobs / 3,
        ui["map_outputs_lost"],
        ui["map_tasks_rerun"]
    );
    // A bad query fails on the driver with the planner's message, and the executors
    // (which get the driver's error instead of a plan) end with it.
    let bad = c
        .command(
            &[
                "sql",
                "--table",
                tables.iter().find(|t| t.starts_with("customer=")).unwrap(),
                "SELECT c_nme FROM customer",
                "--master",
                &c.master,
            ],
            false,
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("c_name"), "{err}");
    // COPY on the cluster: the query runs on the executors, the driver alone writes the
    // file into the DFS, and it reads back equal to the embedded answer.
    let customer = tables.iter().find(|t| t.starts_with("customer=")).unwrap();
    let q = "SELECT c_mktsegment, count(*) AS n FROM customer GROUP BY 1 ORDER BY 1";
    let copy = format!("COPY ({q}) TO 'dfs:///out/segments.parquet'");
    let args = ["sql", "--table", customer, &copy, "--master", &c.master];
    let said = String::from_utf8_lossy(&c.run(&args, false).stdout).into_owned();
    assert!(
        said.contains("written to dfs:///out/segments.parquet"),
        "{said}"
    );
    // Embedded, `dfs://` URLs name the master.
    let dfs = format!("dfs://{}/", c.master);
    let t = format!("--table=s={dfs}out/segments.parquet");
    let back = c.run(&["sql", "--format", "csv", &t, "SELECT * FROM s"], false);
    let customer = customer.replace("dfs:///", &dfs);
    let local = c.run(&["sql", "--format", "csv", "--table", &customer, q], false);
    assert_eq!(back.stdout, local.stdout);

    // Scan tasks run where their row groups are: lineitem stored with one replica per
    // chunk, and at least 90% of the tasks that had a preference ran on it.
    let put = |args: &[&str]| c.run(&[&["dfs", "--master", &c.master], args].concat(), false);
    put(&["mkdir", "/r1"]);
    put(&["mkdir", "/r1/lineitem"]);
    for f in std::fs::read_dir(Path::new(&c.path("tpch")).join("lineitem")).unwrap() {
        let f = f.unwrap().path();
        put(&["put", "-r", "1", f.to_str().unwrap(), "/r1/lineitem/"]);
    }
    let count = [
        "sql",
        "--table",
        "lineitem=dfs:///r1/lineitem",
        "--partitions",
        "6",
        "SELECT count(*), sum(l_quantity) FROM lineitem",
        "--master",
        &c.master,
    ];
    c.run(&count, false);
    let ui = &c.last_app()["ui"];
    let (local, placed) = (
        ui["local_tasks"].as_u64().unwrap_or(0),
        ui["tasks_with_preference"].as_u64().unwrap_or(0),
    );
    assert!(
        placed >= 6 && local * 10 >= placed * 9,
        "{local} of {placed} node-local"
    );
    eprintln!("scan tasks: {local} of {placed} placed by preference ran node-local");
}

/// The highest job id an app's UI lists (it keeps the last 100 jobs).
fn last_job(app: &Value) -> u64 {
    app["ui"]["jobs"]
        .as_array()
        .and_then(|j| j.iter().filter_map(|j| j["id"].as_u64()).max())
        .unwrap_or(0)
}

/// Whether a running job of `app` has a finished shuffle map stage and a running reader.
fn reading_an_exchange(app: &Value) -> bool {
    app["ui"]["jobs"].as_array().is_some_and(|jobs| {
        jobs.iter().any(|j| {
            j["status"] == "running"
                && j["stages"].as_array().is_some_and(|st| {
                    st.iter()
                        .any(|s| !s["shuffle"].is_null() && s["status"] == "succeeded")
                        && st
                            .iter()
                            .any(|s| s["shuffle"].is_null() && s["status"] == "running")
                })
        })
    })
}

//! Declarative jobs on a real cluster (master and workers as processes): quotas, gangs, DRF,
//! preemption within a grace period, batch outcomes, and a service surviving its node's kill.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn strata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strata"))
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn daemon(cmd: Command) -> (Proc, String) {
    let (p, mut lines) = daemon_lines(cmd, 1);
    (p, lines.remove(0))
}

fn daemon_lines(mut cmd: Command, n: usize) -> (Proc, Vec<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("CLUSTER_TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("spawn strata");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..n {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "daemon exited at start-up");
        lines.push(line.trim().to_string());
    }
    std::thread::spawn(move || for _ in out.lines() {});
    (Proc(child), lines)
}

/// GET `url` (`http://host:port/path`), the body.
fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
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

struct Cluster {
    root: tempfile::TempDir,
    config: PathBuf,
    master: String,
    /// The web UI's URL with its login token.
    ui: String,
    _master: Proc,
    /// (worker id, process)
    workers: Vec<(String, Option<Proc>)>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

fn start_master(root: &std::path::Path, config: &std::path::Path, addr: &str) -> (Proc, String) {
    let mut m = strata();
    m.args(["master", "--dir"])
        .arg(root.join("master"))
        .args(["--listen", addr, "--http", "127.0.0.1:0", "--config"])
        .arg(config);
    let (proc, lines) = daemon_lines(m, 2);
    (proc, lines[1].rsplit(' ').next().unwrap().to_string())
}

impl Cluster {
    /// SIGKILLs the master and starts it again on the same address and directory.
    fn restart_master(&mut self) {
        self._master.0.kill().unwrap();
        self._master.0.wait().unwrap();
        let (proc, ui) = start_master(self.root.path(), &self.config, &self.master);
        self._master = proc;
        self.ui = ui;
    }

    fn start() -> Cluster {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let root = tempfile::tempdir().unwrap();
        let config = root.path().join("strata.toml");
        std::fs::write(
            &config,
            "[cluster]\nsecret = \"jobs-test\"\nheartbeat_ms = 100\nnode_timeout_ms = 1500\n\
             [dfs]\nheartbeat_interval_ms = 200\nnode_timeout_ms = 3000\n",
        )
        .unwrap();
        // A fixed port, so a restarted master is found at the same address.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let master = format!("127.0.0.1:{port}");
        let (proc, ui) = start_master(root.path(), &config, &master);
        Cluster {
            root,
            config,
            master,
            ui,
            _master: proc,
            workers: Vec::new(),
            _serial: serial,
        }
    }

    /// Starts a worker offering `cores` cores and `memory`; returns its index.
    fn add_worker(&mut self, cores: u32, memory: &str) -> usize {
        self.add_worker_with(cores, memory, &[])
    }

    fn add_worker_with(&mut self, cores: u32, memory: &str, extra: &[&str]) -> usize {
        let i = self.workers.len();
        let mut cmd = strata();
        cmd.args([
            "worker",
            "--master",
            &self.master,
            "--cores",
            &cores.to_string(),
        ])
        .args(extra)
        .args(["--memory", memory, "--label", &format!("n={i}"), "--dir"])
        .arg(self.root.path().join(format!("worker-{i}")))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&self.config);
        let (proc, line) = daemon(cmd);
        // "worker ID serving data on ADDR"
        let id = line.split(' ').nth(1).unwrap().to_string();
        self.workers.push((id, Some(proc)));
        i
    }

    fn kill_worker(&mut self, i: usize) {
        let mut p = self.workers[i].1.take().unwrap();
        p.0.kill().unwrap();
        p.0.wait().unwrap();
    }

    fn cli(&self, args: &[&str]) -> Output {
        strata()
            .args(args)
            .args(["--master", &self.master, "--config"])
            .arg(&self.config)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.cli(args);
        assert!(
            o.status.success(),
            "strata {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn submit(&self, name: &str, spec: &str) -> Output {
        let path = self.root.path().join(format!("{name}.toml"));
        std::fs::write(&path, format!("name = \"{name}\"\n{spec}")).unwrap();
        self.cli(&["job", "submit", path.to_str().unwrap()])
    }

    /// `strata job describe`: (state, [(task state, worker, attempt)]) and the header line.
    fn describe(&self, name: &str) -> (String, Vec<(String, String, u64)>, String) {
        let out = self.ok(&["job", "describe", name]);
        let mut lines = out.lines();
        let head = lines.next().unwrap().to_string();
        let state = head
            .split(": ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        let tasks = lines
            .skip(2)
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (
                    f[1].to_string(),
                    f.get(4).unwrap_or(&"").to_string(),
                    f[2].parse().unwrap(),
                )
            })
            .collect();
        (state, tasks, out)
    }

    fn running(&self, name: &str) -> usize {
        self.describe(name)
            .1
            .iter()
            .filter(|t| t.0 == "running")
            .count()
    }

    fn wait_for(&self, what: &str, cond: impl Fn(&Cluster) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

const SLEEP: &str = "command = [\"sleep\", \"600\"]\n";

#[test]
fn quotas_refuse_gangs_wait_whole_and_batch_jobs_end() {
    let mut c = Cluster::start();
    c.add_worker(2, "4GiB");
    c.add_worker(2, "4GiB");
    c.ok(&["quota", "set", "ads", "cpu=2", "mem=2GiB"]);
    let o = c.submit("big", &format!("tenant = \"ads\"\ntasks = 3\n{SLEEP}"));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("over its quota"), "{err}");
    // Twine's entitlements: ads may hold 1 core in pool "gpu", whatever its global quota.
    c.ok(&["quota", "set", "ads", "cpu=1", "mem=1GiB", "--pool", "gpu"]);
    let in_pool = |cpu: u32| {
        format!(
            "tenant = \"ads\"\n{SLEEP}[resources]\ncpu = {cpu}\n[constraints]\nlabels = {{ pool = \"gpu\" }}\n"
        )
    };
    let o = c.submit("pool2", &in_pool(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("entitlement in pool gpu"), "{err}");
    assert!(c.submit("pool1", &in_pool(1)).status.success());
    let o = c.submit(
        "huge",
        &format!("{SLEEP}[resources]\ndisk = \"100000000GiB\"\n"),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the largest worker offers"), "{err}");
    let o = c.submit("bad", "command = []\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("must name a program"));

    // A gang of three 1.5-core tasks cannot fit two 2-core workers: nothing of it runs.
    let gang = format!("gang = true\ntasks = 3\n[resources]\ncpu = 1.5\n{SLEEP}").replace(
        &format!("[resources]\ncpu = 1.5\n{SLEEP}"),
        &format!("{SLEEP}[resources]\ncpu = 1.5\n"),
    );
    assert!(c.submit("gang", &gang).status.success());
    // Work submitted after it does run, so the scheduler has looked at the gang.
    assert!(
        c.submit("ok", "command = [\"true\"]\n[resources]\ncpu = 0.5\n")
            .status
            .success()
    );
    c.wait_for("a later batch job to succeed", |c| {
        c.describe("ok").0 == "succeeded"
    });
    let (state, tasks, _) = c.describe("gang");
    assert_eq!(state, "pending");
    assert!(
        tasks.iter().all(|t| t.0 == "pending" && t.2 == 0),
        "{tasks:?}"
    );
    // A third worker (of host profile "big") makes room: the whole gang starts.
    c.add_worker_with(
        2,
        "4GiB",
        &["--profile", "big", "--task-env", "NODE_CLASS=big"],
    );
    c.wait_for("the gang to run whole", |c| c.running("gang") == 3);
    let workers: std::collections::HashSet<String> =
        c.describe("gang").1.into_iter().map(|t| t.1).collect();
    assert_eq!(workers.len(), 3);

    // A failing batch job with restart = never fails with its exit code.
    assert!(
        c.submit(
            "fails",
            "restart = \"never\"\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n[resources]\ncpu = 0\n"
        )
        .status
        .success()
    );
    c.wait_for("the failing job to fail", |c| {
        c.describe("fails").0 == "failed"
    });
    assert!(c.describe("fails").2.contains("exited with code 3"));
    c.ok(&["job", "kill", "gang"]);
    c.wait_for("the gang's tasks to stop", |c| c.running("gang") == 0);
    assert!(c.ok(&["job", "ls"]).contains("killed"));

    // Host profiles: a job requiring profile "big" lands there and gets the profile's
    // settings over its own; one requiring a profile no node has waits.
    let check = "restart = \"never\"\nenv = { NODE_CLASS = \"job\" }\n\
                 command = [\"sh\", \"-c\", \"test \\\"$NODE_CLASS\\\" = big\"]\n\
                 [constraints]\nlabels = { profile = \"big\" }\n";
    assert!(c.submit("on-big", check).status.success());
    c.wait_for("the profile job to end", |c| {
        c.describe("on-big").0 != "pending" && c.describe("on-big").0 != "running"
    });
    assert_eq!(
        c.describe("on-big").0,
        "succeeded",
        "{}",
        c.describe("on-big").2
    );
    let nowhere = format!("{SLEEP}[constraints]\nlabels = {{ profile = \"tiny\" }}\n");
    assert!(c.submit("nowhere", &nowhere).status.success());
    assert!(c.submit("probe", "command = [\"true\"]\n").status.success());
    c.wait_for("a later job to finish", |c| {
        c.describe("probe").0 == "succeeded"
    });
    assert_eq!(c.describe("nowhere").0, "pending");
}

#[test]
fn drf_splits_a_node_as_in_the_paper() {
    // DRF §4: 9 CPUs and 18 GB; A's tasks need <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>: A gets
    // three tasks and B two, equalizing dominant shares at 2/3.
    let mut c = Cluster::start();
    let a = format!("tenant = \"A\"\ntasks = 8\n{SLEEP}[resources]\ncpu = 1\nmem = \"4GiB\"\n");
    let b = format!("tenant = \"B\"\ntasks = 8\n{SLEEP}[resources]\ncpu = 3\nmem = \"1GiB\"\n");
    assert!(c.submit("a", &a).status.success());
    assert!(c.submit("b", &b).status.success());
    c.add_worker(9, "18GiB");
    c.wait_for("five tasks to start", |c| {
        c.running("a") + c.running("b") == 5
    });
    assert_eq!((c.running("a"), c.running("b")), (3, 2));

    // Weights: C at weight 2 and D at 1, both wanting the whole node in 1-core tasks, end
    // at 6 and 3 as A's and B's tasks make way.
    c.ok(&["quota", "set", "C", "weight=2"]);
    let task = "tasks = 9\ncommand = [\"sleep\", \"600\"]\n[resources]\ncpu = 1\nmem = \"1GiB\"\n";
    assert!(
        c.submit("c", &format!("tenant = \"C\"\n{task}"))
            .status
            .success()
    );
    assert!(
        c.submit("d", &format!("tenant = \"D\"\n{task}"))
            .status
            .success()
    );
    c.ok(&["job", "kill", "a"]);
    c.ok(&["job", "kill", "b"]);
    c.wait_for("nine tasks of C and D", |c| {
        c.running("c") + c.running("d") == 9
    });
    assert_eq!((c.running("c"), c.running("d")), (6, 3));

    // The web UI lists the jobs (page and JSON API).
    let page = http_get(&c.ui);
    assert!(
        page.contains("<table id=\"jobs\">") && page.contains(">6/9<"),
        "{page}"
    );
    let (base, token) = c.ui.split_once("/?token=").unwrap();
    let api = http_get(&format!("{base}/api/state?token={token}"));
    assert!(
        api.contains("\"name\":\"d\"") && api.contains("\"tenant\":\"D\""),
        "{api}"
    );
}

#[test]
fn production_preempts_best_effort_within_its_grace_period() {
    let mut c = Cluster::start();
    c.add_worker(2, "4GiB");
    // Best-effort tasks that ignore SIGTERM: only the grace period's SIGKILL stops them.
    let stubborn = "priority = \"best-effort\"\nkind = \"service\"\ntasks = 2\ngrace_period_ms = 500\n\
                    command = [\"sh\", \"-c\", \"trap '' TERM; while true; do sleep 1; done # stubborn\"]\n";
    assert!(c.submit("scavenger", stubborn).status.success());
    c.wait_for("best-effort work to run", |c| c.running("scavenger") == 2);
    let start = Instant::now();
    let prod =
        format!("priority = \"production\"\nkind = \"service\"\n{SLEEP}[resources]\ncpu = 2\n");
    assert!(c.submit("web", &prod).status.success());
    c.wait_for("the production job to run", |c| c.running("web") == 1);
    // Not before the victims' grace period ran out (they ignore SIGTERM), and they are gone.
    assert!(start.elapsed() >= Duration::from_millis(500));
    let o = Command::new("pgrep")
        .args(["-fc", "# stubborn"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "0");
    let (state, tasks, out) = c.describe("scavenger");
    assert_eq!(state, "pending", "{out}");
    assert!(tasks.iter().all(|t| t.0 == "pending"), "{out}");
    assert!(out.contains("2 preemptions"), "{out}");
}

#[test]
fn a_service_is_rescheduled_when_its_node_is_killed() {
    let mut c = Cluster::start();
    c.add_worker(2, "4GiB");
    c.add_worker(2, "4GiB");
    let svc = "kind = \"service\"\npriority = \"production\"\ncommand = [\"sleep\", \"613\"]\n";
    assert!(c.submit("svc", svc).status.success());
    c.wait_for("the service to run", |c| c.running("svc") == 1);
    let first = c.describe("svc").1[0].1.clone();
    let victim = c.workers.iter().position(|w| w.0 == first).unwrap();
    c.kill_worker(victim);
    c.wait_for("the service to run on the other node", |c| {
        let t = &c.describe("svc").1[0];
        t.0 == "running" && t.1 != first && t.2 == 2
    });
    // The task on the killed node did not outlive its agent.
    c.wait_for("one copy of the service process", |_| {
        let o = Command::new("pgrep")
            .args(["-fc", "^sleep 613$"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim() == "1"
    });
}

#[test]
fn health_checks_restart_a_sick_service_and_updates_roll_out() {
    let mut c = Cluster::start();
    c.add_worker(4, "4GiB");
    let flag = c.root.path().join("healthy");
    let svc = format!(
        "kind = \"service\"\n{SLEEP}[resources]\ncpu = 1\n\
         [health]\ncommand = [\"test\", \"-f\", \"{}\"]\ninterval_ms = 50\nfailures = 3\n",
        flag.display()
    );
    assert!(c.submit("svc", &svc).status.success());
    // No flag file: the check fails, the agent kills the task, the service restarts it.
    c.wait_for("a restart after failed health checks", |c| {
        c.describe("svc").1[0].2 >= 2
    });
    assert!(c.describe("svc").2.contains("exited with code 137"));
    std::fs::write(&flag, "").unwrap();
    let now = c.describe("svc").1[0].2;
    c.wait_for("the service to run healthy", |c| c.running("svc") == 1);
    // Healthy now: it stays on its attempt while checks keep passing (wait for the agent to
    // have run several checks: a batch job submitted after it has to come and go first).
    assert!(
        c.submit(
            "probe",
            "command = [\"sleep\", \"0.5\"]\n[resources]\ncpu = 0\n"
        )
        .status
        .success()
    );
    c.wait_for("a later job to finish", |c| {
        c.describe("probe").0 == "succeeded"
    });
    assert!(c.describe("svc").1[0].2 <= now + 1);

    // An update with more tasks restarts the running one with the new spec and adds one.
    let path = c.root.path().join("svc2.toml");
    std::fs::write(
        &path,
        format!("name = \"svc\"\nkind = \"service\"\ntasks = 2\n{SLEEP}[resources]\ncpu = 1\n"),
    )
    .unwrap();
    let before = c.describe("svc").1[0].2;
    c.ok(&["job", "update", path.to_str().unwrap()]);
    c.wait_for("both tasks to run the new spec", |c| {
        let t = c.describe("svc").1;
        t.len() == 2 && t.iter().all(|t| t.0 == "running") && t[0].2 > before
    });
    std::fs::write(&path, format!("name = \"svc\"\ntasks = 1\n{SLEEP}")).unwrap();
    let o = c.cli(&["job", "update", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot remove tasks"));
}

#[test]
fn a_disruption_budget_rolls_updates_and_vetoes_preemption() {
    let mut c = Cluster::start();
    c.add_worker(4, "4GiB");
    let spec = |v: u32| {
        format!(
            "kind = \"service\"\ntasks = 3\nmax_unavailable = 1\ngrace_period_ms = 200\n{SLEEP}\
             env = {{ VERSION = \"{v}\" }}\n[resources]\ncpu = 1\n"
        )
    };
    assert!(c.submit("quorum", &spec(1)).status.success());
    c.wait_for("the quorum to run", |c| c.running("quorum") == 3);
    let path = c.root.path().join("quorum2.toml");
    std::fs::write(&path, format!("name = \"quorum\"\n{}", spec(2))).unwrap();
    c.ok(&["job", "update", path.to_str().unwrap()]);
    // Rolling: one task down at a time, so every look sees at least two running.
    c.wait_for("every task on the new spec", |c| {
        let t = c.describe("quorum").1;
        let running = t.iter().filter(|t| t.0 == "running").count();
        assert!(running >= 2, "{t:?}");
        t.iter().all(|t| t.0 == "running" && t.2 == 2)
    });

    // A production job that needs two of the quorum's cores may take only one (the budget),
    // which does not make room: nothing is preempted, and it waits.
    let prod = format!("priority = \"production\"\n{SLEEP}[resources]\ncpu = 3\n");
    assert!(c.submit("urgent", &prod).status.success());
    assert!(
        c.submit("probe", "command = [\"true\"]\n[resources]\ncpu = 0\n")
            .status
            .success()
    );
    c.wait_for("a later job to finish", |c| {
        c.describe("probe").0 == "succeeded"
    });
    assert_eq!(c.describe("urgent").0, "pending");
    let (_, tasks, out) = c.describe("quorum");
    assert!(tasks.iter().all(|t| t.0 == "running"), "{out}");
    assert!(out.contains("0 preemptions"), "{out}");
}

#[test]
fn jobs_survive_a_master_restart_and_running_tasks_are_adopted() {
    let mut c = Cluster::start();
    c.add_worker(2, "4GiB");
    c.add_worker(2, "4GiB");
    c.ok(&["quota", "set", "ads", "cpu=4", "mem=4GiB"]);
    let svc = "tenant = \"ads\"\nkind = \"service\"\ntasks = 2\ncommand = [\"sleep\", \"615\"]\n\
               [constraints]\nspread = true\n";
    assert!(c.submit("svc", svc).status.success());
    c.wait_for("the service to run", |c| c.running("svc") == 2);
    let before = c.describe("svc").1;
    c.restart_master();
    // The same tasks, adopted where they run: same workers, same attempts, no second copy.
    c.wait_for("the running tasks to be adopted", |c| {
        let o = c.cli(&["job", "describe", "svc"]);
        o.status.success() && c.describe("svc").1 == before
    });
    let o = Command::new("pgrep")
        .args(["-fc", "^sleep 615$"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2");
    // The quota came back too.
    let o = c.submit("more", &format!("tenant = \"ads\"\ntasks = 3\n{SLEEP}"));
    assert!(String::from_utf8_lossy(&o.stderr).contains("over its quota"));
}

/// Live executors of the first application, from the master's JSON API.
fn executors(c: &Cluster) -> (usize, usize) {
    let (base, token) = c.ui.split_once("/?token=").unwrap();
    let api = http_get(&format!("{base}/api/state?token={token}"));
    let v: serde_json::Value = serde_json::from_str(&api).unwrap_or_default();
    let e = v["apps"][0]["executors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let alive = e.iter().filter(|e| e["alive"] == true).count();
    (alive, e.len() - alive)
}

#[test]
fn a_production_job_preempts_an_application_executor_and_the_app_still_finishes() {
    let mut c = Cluster::start();
    c.add_worker(2, "4GiB");
    c.add_worker(2, "4GiB");
    let example = std::path::Path::new(env!("CARGO_BIN_EXE_strata"))
        .parent()
        .unwrap()
        .join("examples/preemptible_sum");
    assert!(example.exists(), "`cargo test` builds the examples");
    let marker = c.root.path().join("go");
    let app = strata()
        .args([
            "submit",
            "--master",
            &c.master,
            "--executors",
            "2",
            "--config",
        ])
        .arg(&c.config)
        .arg(&example)
        .arg(&marker)
        .env("STRATA_CONFIG", &c.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.wait_for("two executors", |c| executors(c).0 == 2);
    // The executors hold both workers' cores: a production job takes one executor's place.
    let prod = format!("priority = \"production\"\n{SLEEP}[resources]\ncpu = 2\nmem = \"1GiB\"\n");
    assert!(c.submit("prod", &prod).status.success());
    c.wait_for("the production job to run", |c| c.running("prod") == 1);
    assert!(executors(&c).1 >= 1, "an executor was preempted");
    // Batch work finds no room while the executors and the production job hold every core.
    let o = c.submit("filler", &format!("{SLEEP}[resources]\ncpu = 1\n"));
    assert!(o.status.success());
    assert_eq!(c.describe("filler").0, "pending");
    std::fs::write(&marker, "").unwrap();
    let out = app.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: u64 = (1..=100_000u64).map(|x| x % 7).sum();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("second: {expected}")), "{stdout}");
    // The application's end frees its cores for the batch job.
    c.wait_for("the batch job to run", |c| c.running("filler") == 1);
}

#[test]
fn best_effort_runs_in_reclaimed_room_and_is_evicted_when_use_grows() {
    let mut c = Cluster::start();
    c.add_worker(2, "4GiB");
    // A production service that asks for both cores but idles until told to spin.
    let flag = c.root.path().join("spin");
    let prod = format!(
        "priority = \"production\"\nkind = \"service\"\n\
         command = [\"sh\", \"-c\", \"while [ ! -f {} ]; do sleep 0.05; done; while :; do :; done & while :; do :; done\"]\n\
         [resources]\ncpu = 2\nmem = \"1GiB\"\n",
        flag.display()
    );
    assert!(c.submit("prod", &prod).status.success());
    c.wait_for("the production service to run", |c| c.running("prod") == 1);
    // By limits the node is full; by reservation (what the service uses) it is nearly idle.
    let be =
        format!("priority = \"best-effort\"\nkind = \"service\"\n{SLEEP}[resources]\ncpu = 1\n");
    assert!(c.submit("scavenger", &be).status.success());
    c.wait_for("best effort in reclaimed room", |c| {
        c.running("scavenger") == 1
    });
    assert_eq!(c.running("prod"), 1);
    // The service starts using both its cores: its reservation rises and the best effort goes.
    std::fs::write(&flag, "").unwrap();
    c.wait_for("the best effort to be evicted", |c| {
        c.describe("scavenger").2.contains("evicted")
    });
    assert_eq!(c.running("prod"), 1);
}

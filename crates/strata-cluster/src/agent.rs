//! The worker's node agent: joins the cluster and runs executor processes.
//!
//! It registers with the master (id, host, cores, memory), heartbeats every
//! `cluster.heartbeat_ms` with the executors it runs, and listens on a server stream for
//! commands. A launch starts the program (the worker's own `strata` binary for built-in jobs,
//! or a user's binary fetched from the DFS) with the driver's arguments and
//! `STRATA_DRIVER`, `STRATA_EXECUTOR_ID`, `STRATA_EXECUTOR_HOST`, `STRATA_LOCAL_DIR` in its
//! environment. The executor's stdin is a pipe the agent holds: if the agent dies, the
//! executor sees end-of-file and exits, so executors never outlive their worker. When an
//! executor exits, its scratch directory (shuffle outputs, spills) is removed. A heartbeat
//! answered with "re-register" (the master declared this worker lost, e.g. across a network
//! partition) makes the agent join again.

use crate::proto::{
    self, LaunchExecutor, WorkerHeartbeat, WorkerId, WorkerInfo,
    cluster_master_client::ClusterMasterClient,
};
use crate::tasks::Tasks;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use strata_net::auth::Attach;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = ClusterMasterClient<InterceptedService<Channel, Attach>>;

/// How to run a node agent.
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// The master's gRPC address.
    pub master: String,
    /// The cluster secret.
    pub secret: String,
    /// Stable worker id.
    pub id: String,
    /// Host executors advertise (the worker's listen host).
    pub host: String,
    /// Task slots offered.
    pub cores: u32,
    /// Memory offered per executor (and to job tasks in all), in bytes.
    pub memory: u64,
    /// GPUs offered to job tasks.
    pub gpus: u32,
    /// Local disk offered to job tasks, in bytes.
    pub disk: u64,
    /// Labels job constraints match (`zone=a`); a host profile adds `profile=NAME`.
    pub labels: HashMap<String, String>,
    /// The host profile's settings: environment every job task on this node gets (over the
    /// job's own), as Twine's host profiles configure the tasks of a node class.
    pub task_env: Vec<(String, String)>,
    /// Directory for executors' scratch space, programs and logs.
    pub dir: PathBuf,
    /// Heartbeat period.
    pub heartbeat: Duration,
}

/// Running executors: "app/executor" → process id.
#[derive(Clone, Default)]
pub struct Executors(Arc<Mutex<HashMap<String, u32>>>);

impl Executors {
    /// "app/executor" of each running executor.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// Kills one executor (`app/executor`), e.g. preempted for a production job.
    pub fn kill_one(&self, name: &str) {
        let pid = self.0.lock().get(name).copied();
        if let Some(pid) = pid {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Kills the executors of `app` (all of them with `None`).
    pub fn kill(&self, app: Option<&str>) {
        let pids: Vec<u32> = self
            .0
            .lock()
            .iter()
            .filter(|(k, _)| app.is_none_or(|a| k.split('/').next() == Some(a)))
            .map(|(_, p)| *p)
            .collect();
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

async fn connect(opts: &AgentOptions) -> Result<Client, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", opts.master))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
    strata_dfs::auth::verify_server(channel.clone(), &opts.master, &opts.secret).await?;
    let attach = Attach::new(&opts.secret).map_err(|s| s.message().to_string())?;
    Ok(ClusterMasterClient::with_interceptor(channel, attach))
}

/// Joins the cluster and serves launch commands until `shutdown` resolves; then kills every
/// executor it started.
pub async fn run(
    opts: AgentOptions,
    executors: Executors,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let tasks = Tasks::default();
    tokio::select! {
        _ = membership(opts.clone(), executors.clone(), tasks.clone()) => {}
        _ = shutdown => {}
    }
    executors.kill(None);
    tasks.kill_all();
    let _ = std::fs::remove_dir_all(opts.dir.join("executors"));
}

/// Register, subscribe to commands, heartbeat; start over whenever the master forgets us.
async fn membership(opts: AgentOptions, executors: Executors, tasks: Tasks) {
    loop {
        let mut client = match connect(&opts).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(master = %opts.master, error = %e, "cannot reach the master; retrying");
                tokio::time::sleep(opts.heartbeat).await;
                continue;
            }
        };
        let info = WorkerInfo {
            id: opts.id.clone(),
            host: opts.host.clone(),
            cores: opts.cores,
            memory: opts.memory,
            gpus: opts.gpus,
            labels: opts.labels.clone(),
            disk: opts.disk,
        };
        if let Err(e) = client.register_worker(info).await {
            tracing::warn!(error = %e.message(), "registration refused; retrying");
            tokio::time::sleep(opts.heartbeat).await;
            continue;
        }
        let stream = match client
            .commands(WorkerId {
                id: opts.id.clone(),
            })
            .await
        {
            Ok(s) => s.into_inner(),
            Err(e) => {
                tracing::warn!(error = %e.message(), "cannot subscribe to commands; retrying");
                continue;
            }
        };
        tracing::info!(worker = %opts.id, host = %opts.host, "joined the cluster");
        let cmd_task = tokio::spawn(serve_commands(
            stream,
            opts.clone(),
            executors.clone(),
            tasks.clone(),
        ));
        loop {
            tokio::time::sleep(opts.heartbeat).await;
            let exits = tasks.exits();
            let sent = exits.len();
            let hb = WorkerHeartbeat {
                id: opts.id.clone(),
                executors: executors.names(),
                tasks: tasks.names(),
                exits,
                usage: tasks.usage(),
            };
            match client.heartbeat(hb).await {
                Ok(r) if r.get_ref().reregister => {
                    tracing::warn!("the master asks this worker to register again");
                    break;
                }
                Ok(_) => tasks.reported(sent),
                Err(e) => tracing::warn!(error = %e.message(), "heartbeat failed"),
            }
        }
        cmd_task.abort();
    }
}

async fn serve_commands(
    mut stream: tonic::Streaming<proto::WorkerCommand>,
    opts: AgentOptions,
    executors: Executors,
    tasks: Tasks,
) {
    while let Ok(Some(cmd)) = stream.message().await {
        match cmd.cmd {
            Some(proto::worker_command::Cmd::Launch(l)) => {
                let (opts, executors) = (opts.clone(), executors.clone());
                std::thread::spawn(move || {
                    let name = format!("{}/{}", l.app_id, l.executor_id);
                    if let Err(e) = launch(&opts, &executors, &l) {
                        tracing::error!(executor = %name, error = %e, "cannot launch executor");
                    }
                });
            }
            Some(proto::worker_command::Cmd::KillApp(app)) => executors.kill(Some(&app)),
            Some(proto::worker_command::Cmd::KillExecutor(name)) => executors.kill_one(&name),
            Some(proto::worker_command::Cmd::LaunchTask(l)) => {
                tasks.launch(&opts.dir, &opts.task_env, l);
            }
            Some(proto::worker_command::Cmd::StopTask(t)) => {
                tasks.stop(&t.task, Duration::from_millis(t.grace_ms));
            }
            None => {}
        }
    }
}

static FETCH_LOCK: Mutex<()> = Mutex::new(());

/// Copies a program from the DFS once per application.
fn fetch_program(opts: &AgentOptions, app: &str, path: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let _g = FETCH_LOCK.lock();
    let dir = opts.dir.join("apps").join(app);
    let local = dir.join("program");
    if local.exists() {
        return Ok(local);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = dir.join("program.part");
    let mut client =
        strata_dfs::DfsClient::connect(&opts.master, &opts.secret).map_err(|e| e.to_string())?;
    let mut f = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    client
        .get(path, &mut f, &mut |_| {})
        .map_err(|e| format!("cannot fetch {path} from the DFS: {e}"))?;
    drop(f);
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &local).map_err(|e| e.to_string())?;
    Ok(local)
}

fn launch(opts: &AgentOptions, executors: &Executors, l: &LaunchExecutor) -> Result<(), String> {
    let program = if l.program.is_empty() {
        std::env::current_exe().map_err(|e| e.to_string())?
    } else {
        fetch_program(opts, &l.app_id, &l.program)?
    };
    let name = format!("{}/{}", l.app_id, l.executor_id);
    let scratch = opts
        .dir
        .join("executors")
        .join(format!("{}-{}", l.app_id, l.executor_id));
    let logs = opts.dir.join("logs");
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let log_path = logs.join(format!("{}-{}.log", l.app_id, l.executor_id));
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&program);
    cmd.args(&l.args)
        .env("STRATA_DRIVER", &l.driver)
        .env("STRATA_APP_ID", &l.app_id)
        .env("STRATA_EXECUTOR_ID", l.executor_id.to_string())
        .env("STRATA_EXECUTOR_HOST", &opts.host)
        .env("STRATA_THREADS", l.cores.max(1).to_string())
        .env("STRATA_LOCAL_DIR", &scratch)
        .env("STRATA_MASTER", &opts.master)
        .env("STRATA_SECRET", &opts.secret)
        .env("STRATA_WATCH_STDIN", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
    if l.memory > 0 {
        cmd.env("STRATA_MEMORY", l.memory.to_string());
    }
    for kv in &l.env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    executors.0.lock().insert(name.clone(), child.id());
    tracing::info!(executor = %name, pid = child.id(), "executor started");
    // Holding stdin open is what keeps the executor alive: it exits on end-of-file.
    let stdin = child.stdin.take();
    let status = child.wait();
    drop(stdin);
    executors.0.lock().remove(&name);
    remove_scratch(&scratch);
    tracing::info!(executor = %name, status = ?status.ok(), "executor exited");
    Ok(())
}

fn remove_scratch(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot remove executor scratch");
    }
}

//! `strata master`, `strata worker`, `strata local-cluster`: the daemons.

use anyhow::{Context as _, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use strata::cluster::agent::{AgentOptions, Executors};
use strata::common::StrataConfig;
use strata::dfs::chunkserver::{Chunkserver, Options};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

async fn start_admin(http: &str, who: &str, extra: axum::Router) -> Result<String> {
    let listener = tokio::net::TcpListener::bind(http)
        .await
        .with_context(|| format!("cannot listen on {http} for /metrics"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = strata::net::admin::serve(listener, shutdown_signal(), extra).await {
            tracing::warn!(error = %e, "admin HTTP server stopped");
        }
    });
    eprintln!("{who}: /metrics and /health on http://{addr}");
    Ok(addr.to_string())
}

pub fn master(cfg: StrataConfig, dir: &Path, listen: &str, http: Option<&str>) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let cluster = strata::cluster::master::ClusterService::new(cfg.cluster.clone());
        cluster
            .keep_jobs_at(&dir.join("jobs.json"))
            .map_err(anyhow::Error::msg)?;
        cluster.spawn_liveness();
        let http_addr = match http {
            Some(h) => {
                let ui = strata::cluster::ui::router(strata::cluster::ui::UiContext {
                    state: cluster.state.clone(),
                    dfs_master: addr.to_string(),
                    secret: cfg.cluster.secret.clone(),
                });
                Some(start_admin(h, "master", ui).await?)
            }
            None => None,
        };
        outln!("master listening on {addr}");
        if let Some(h) = &http_addr {
            let t = strata::cluster::ui_auth::ui_token(&cfg.cluster.secret);
            if t.is_empty() {
                if !h.starts_with("127.") && !h.starts_with("[::1]") && !h.starts_with("localhost") {
                    eprintln!(
                        "master: warning: the web UI on {h} is open to anyone who can reach it: set a [cluster] secret (STRATA_SECRET) to require a login"
                    );
                }
                outln!("web UI on http://{h}/");
            } else {
                outln!("web UI on http://{h}/?token={t}");
            }
        }
        std::io::stdout().flush().ok();
        let routes = tonic::service::Routes::new(cluster.server());
        strata::dfs::master::serve(dir, listener, cfg, shutdown_signal(), routes).await?;
        eprintln!("master: shut down");
        Ok(())
    })
}

/// What a worker offers besides its data service.
pub struct Offer {
    /// Cores [default: the configured threads].
    pub cores: Option<u32>,
    /// GPUs.
    pub gpus: u32,
    /// Disk in bytes [default: the free space of the worker's directory].
    pub disk: Option<u64>,
    /// Memory in bytes [default: the configured memory].
    pub memory: Option<u64>,
    /// Labels.
    pub labels: std::collections::HashMap<String, String>,
    /// The host profile's task environment.
    pub task_env: Vec<(String, String)>,
}

pub fn worker(
    cfg: StrataConfig,
    master: &str,
    dir: &Path,
    listen: &str,
    http: Option<&str>,
    offer: Offer,
) -> Result<()> {
    let cs = Chunkserver::start(Options {
        master: master.to_string(),
        dir: dir.to_path_buf(),
        listen: listen.to_string(),
        cfg: cfg.clone(),
    })?;
    let host = cs
        .addr
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let agent = AgentOptions {
        master: master.to_string(),
        secret: cfg.cluster.secret.clone(),
        id: cs.id.clone(),
        host,
        cores: offer.cores.unwrap_or(cfg.dataflow.threads as u32).max(1),
        memory: offer.memory.unwrap_or(cfg.dataflow.memory.bytes()),
        gpus: offer.gpus,
        disk: offer
            .disk
            .unwrap_or_else(|| fs4::available_space(dir).unwrap_or(0)),
        labels: offer.labels,
        task_env: offer.task_env,
        dir: dir.to_path_buf(),
        heartbeat: std::time::Duration::from_millis(cfg.cluster.heartbeat_ms),
    };
    outln!("worker {} serving data on {}", cs.id, cs.addr);
    std::io::stdout().flush().ok();
    let rt = runtime()?;
    rt.block_on(async {
        if let Some(h) = http {
            start_admin(h, "worker", axum::Router::new()).await?;
        }
        let executors = Executors::default();
        let agent = strata::cluster::agent::run(agent, executors, shutdown_signal());
        tokio::select! {
            r = cs.run() => r.map_err(anyhow::Error::from),
            _ = agent => { eprintln!("worker: shut down"); Ok(()) }
        }
    })
}

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            // SIGTERM first, for a graceful stop; then make sure.
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

fn spawn(args: &[String]) -> Result<(Child, String)> {
    let exe = std::env::current_exe().context("cannot find the strata executable")?;
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start a child process")?;
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    out.read_line(&mut line)
        .context("child did not report its address")?;
    // Keep draining the child's stdout so that it never writes to a closed pipe.
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            outln!("{l}");
        }
    });
    if line.is_empty() {
        let _ = child.wait();
        bail!(
            "`strata {}` exited during start-up (see its error above)",
            args.join(" ")
        );
    }
    Ok((child, line.trim().to_string()))
}

pub fn local_cluster(config: Option<&Path>, n: usize, dir: &Path, port: u16) -> Result<()> {
    if n == 0 {
        bail!("-n must be at least 1");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut common: Vec<String> = Vec::new();
    if let Some(c) = config {
        common.extend(["--config".into(), c.display().to_string()]);
    }
    let mut children = Children(Vec::new());
    let mdir: PathBuf = dir.join("master");
    let mut args = vec![
        "master".to_string(),
        "--dir".into(),
        mdir.display().to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--http".into(),
        "127.0.0.1:0".into(),
    ];
    args.extend(common.clone());
    let (child, line) = spawn(&args)?;
    children.0.push(child);
    let maddr = line.rsplit(' ').next().unwrap_or_default().to_string();
    outln!("{line}");
    for i in 0..n {
        let wdir = dir.join(format!("worker-{i}"));
        let mut args = vec![
            "worker".to_string(),
            "--master".into(),
            maddr.clone(),
            "--dir".into(),
            wdir.display().to_string(),
            // Each worker on its own loopback address, so that hosts (and locality) differ.
            "--listen".into(),
            format!("127.0.0.{}:0", i + 1),
            "--http".into(),
            format!("127.0.0.{}:0", i + 1),
        ];
        args.extend(common.clone());
        let (child, line) = spawn(&args)?;
        children.0.push(child);
        outln!("{line}");
    }
    outln!("local cluster up: export STRATA_MASTER={maddr}   (Ctrl-C stops every process)");
    std::io::stdout().flush().ok();
    let rt = runtime()?;
    rt.block_on(shutdown_signal());
    eprintln!("stopping {} processes", children.0.len());
    Ok(())
}

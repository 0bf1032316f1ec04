//! `strata job ...` and `strata quota set`: declarative jobs on a cluster's master, and the
//! hidden `strata task-run` supervisor that node agents start each task under.

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use strata::cluster::client::AppClient;
use strata::cluster::proto::{JobStatus, Quota};
use strata::common::{ByteSize, StrataConfig};

/// `strata job` subcommands.
#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// Submit a job spec (TOML: name, tenant, priority, kind, tasks, gang, restart,
    /// max_unavailable, command, env, [resources] cpu/mem/gpu/disk, [constraints]
    /// labels/spread, [health]); README's "Sharing a cluster" has an example.
    Submit {
        /// The spec file.
        #[arg(value_name = "FILE.toml")]
        file: PathBuf,
    },
    /// Replace a running job's spec (same name): its tasks restart with the new one;
    /// `tasks` may grow.
    Update {
        /// The new spec file.
        #[arg(value_name = "FILE.toml")]
        file: PathBuf,
    },
    /// List jobs (and running applications, kind `app`): state, tasks running, restarts,
    /// preemptions.
    Ls,
    /// One job and each of its tasks.
    Describe {
        /// The job's name.
        name: String,
    },
    /// Kill a job (SIGTERM, then SIGKILL after its grace period).
    Kill {
        /// The job's name.
        name: String,
    },
}

/// `strata quota` subcommands.
#[derive(Subcommand, Debug)]
pub enum QuotaCmd {
    /// Set a tenant's quota and fair-share weight: `strata quota set ads cpu=8 mem=16GiB gpu=2
    /// weight=2`. Submissions that would take the tenant's unfinished jobs past the quota are
    /// refused; the weight scales its DRF share. A tenant `org/team` is in queue `org`, which
    /// can have a weight of its own.
    Set {
        /// The tenant (or queue).
        tenant: String,
        /// `cpu=N`, `mem=SIZE`, `gpu=N`, `disk=SIZE` (a resource left out is zero when any
        /// is given), `weight=W`.
        #[arg(value_name = "RESOURCE=AMOUNT", required = true)]
        limits: Vec<String>,
        /// Set the tenant's entitlement in this pool (workers labelled `pool=NAME`; jobs
        /// constrained to `labels.pool = NAME` count against it) instead of its quota.
        #[arg(long, value_name = "NAME")]
        pool: Option<String>,
    },
}

fn client(cfg: &StrataConfig, master: Option<String>) -> Result<AppClient> {
    let master = master.unwrap_or_else(|| cfg.cluster.master.clone());
    Ok(AppClient::connect(&master, &cfg.cluster.secret)?)
}

/// Runs `strata job ...`.
pub fn job(cfg: &StrataConfig, master: Option<String>, cmd: JobCmd) -> Result<()> {
    let spec = |file: &PathBuf| {
        std::fs::read_to_string(file)
            .with_context(|| format!("cannot read job spec {}", file.display()))
    };
    match cmd {
        JobCmd::Submit { file } => {
            let text = spec(&file)?;
            let name = client(cfg, master)?.submit_job(&text)?;
            println!("submitted job {name}");
        }
        JobCmd::Update { file } => {
            let text = spec(&file)?;
            let name = client(cfg, master)?.update_job(&text)?;
            println!("updating job {name}");
        }
        JobCmd::Ls => {
            let mut c = client(cfg, master)?;
            println!(
                "{:<20} {:<12} {:<12} {:<8} {:<10} {:>7} {:>8} {:>7}  message",
                "name", "tenant", "priority", "kind", "state", "running", "restarts", "preempt"
            );
            for j in c.jobs(None)? {
                println!(
                    "{:<20} {:<12} {:<12} {:<8} {:<10} {:>3}/{:<3} {:>8} {:>7}  {}",
                    j.name,
                    j.tenant,
                    j.priority,
                    j.kind,
                    j.state,
                    j.running,
                    j.tasks,
                    j.restarts,
                    j.preemptions,
                    j.message
                );
            }
        }
        JobCmd::Describe { name } => {
            for j in client(cfg, master)?.jobs(Some(&name))? {
                describe(&j);
            }
        }
        JobCmd::Kill { name } => {
            client(cfg, master)?.kill_job(&name)?;
            println!("killing job {name}");
        }
    }
    Ok(())
}

fn describe(j: &JobStatus) {
    println!(
        "job {}: {} ({} {}, tenant {}), {}/{} running, {} restarts, {} preemptions\n  {}",
        j.name,
        j.state,
        j.priority,
        j.kind,
        j.tenant,
        j.running,
        j.tasks,
        j.restarts,
        j.preemptions,
        j.message
    );
    println!(
        "  {:>5} {:<10} {:>7} {:>5}  worker",
        "task", "state", "attempt", "exit"
    );
    for t in &j.task {
        println!(
            "  {:>5} {:<10} {:>7} {:>5}  {}",
            t.index, t.state, t.attempt, t.exit, t.worker
        );
    }
}

/// Runs `strata quota set`.
pub fn quota(cfg: &StrataConfig, master: Option<String>, cmd: QuotaCmd) -> Result<()> {
    let QuotaCmd::Set {
        tenant,
        limits,
        pool,
    } = cmd;
    let mut q = Quota {
        tenant: tenant.clone(),
        pool: pool.unwrap_or_default(),
        ..Quota::default()
    };
    for item in &limits {
        let Some((k, v)) = item.split_once('=') else {
            bail!("`{item}`: write limits as cpu=N, mem=SIZE, gpu=N or weight=W");
        };
        let number = |v: &str| -> Result<f64> {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .with_context(|| format!("`{item}`: {v} is not a non-negative number"))
        };
        if k != "weight" {
            q.has_limits = true;
        }
        match k {
            "weight" => q.weight = number(v)?.max(1e-6),
            "cpu" => q.cpu_milli = (number(v)? * 1000.0).round() as u64,
            "gpu" => q.gpu_milli = (number(v)? * 1000.0).round() as u64,
            "mem" => {
                let size: ByteSize = v.parse().map_err(|e| anyhow::anyhow!("`{item}`: {e}"))?;
                q.mem_mib = size.bytes() >> 20;
            }
            other => {
                bail!("unknown resource `{other}` in `{item}`: use cpu, mem, gpu, disk or weight")
            }
        }
    }
    client(cfg, master)?.set_quota(q)?;
    println!("quota for {tenant} set");
    Ok(())
}

/// `strata task-run -- COMMAND...`: runs COMMAND and exits with its status; if stdin reaches
/// end-of-file first (the node agent died), kills its whole process group and exits. It
/// survives SIGTERM (the task, in the same group, receives it and decides), so the agent
/// keeps counting the task until it really exits or the grace period's SIGKILL comes.
pub fn task_run(command: &[String]) -> Result<()> {
    let Some(program) = command.first() else {
        bail!("task-run needs a command after --");
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _term = rt.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    })?;
    let mut child = match Command::new(program)
        .args(&command[1..])
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strata task-run: cannot start {program}: {e}");
            std::process::exit(127);
        }
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        // The agent is gone: take the task and everything it started down with us.
        let group = format!("-{}", std::process::id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        std::process::exit(137);
    });
    let status = child.wait()?;
    std::process::exit(
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
    );
}

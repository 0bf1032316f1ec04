//! `strata submit`: run a user's program on the cluster.
//!
//! The binary goes into the DFS (`/strata/apps/NAME-TIME/program`, replicated), then runs
//! here as the driver with `STRATA_SUBMIT_*` in its environment; its
//! `Context::from_env()` asks the master for executors, and each worker fetches the binary
//! from the DFS and starts it as an executor. The uploaded copy is deleted afterwards.

use anyhow::{Context as _, Result, bail};
use std::path::Path;
use std::process::Command;
use strata::common::StrataConfig;

pub fn run(
    cfg: &StrataConfig,
    master: &str,
    executors: u32,
    program: &Path,
    args: &[String],
) -> Result<()> {
    let meta = std::fs::metadata(program)
        .with_context(|| format!("cannot read the program {}", program.display()))?;
    if !meta.is_file() {
        bail!("{} is not an executable file", program.display());
    }
    let name = program
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "program".into());
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let dir = format!("/strata/apps/{name}-{stamp}");
    let dfs_path = format!("{dir}/program");
    let mut client = strata::dfs::DfsClient::connect(master, &cfg.cluster.secret)?;
    client.mkdir(&dir, true)?;
    let mut f = std::fs::File::open(program)?;
    client
        .put(&mut f, &dfs_path, 0, true, &mut |_| {})
        .with_context(|| format!("cannot copy {} into the DFS", program.display()))?;
    eprintln!(
        "submit: {} copied to dfs://{master}{dfs_path}",
        program.display()
    );
    let status = Command::new(program)
        .args(args)
        .env("STRATA_SUBMIT_MASTER", master)
        .env("STRATA_SUBMIT_PROGRAM", &dfs_path)
        .env("STRATA_SUBMIT_EXECUTORS", executors.to_string())
        .env("STRATA_MASTER", master)
        .status()
        .with_context(|| format!("cannot start {}", program.display()))?;
    if let Err(e) = client.delete(&dir, true) {
        eprintln!("submit: could not remove {dir}: {e}");
    }
    if !status.success() {
        bail!("{} failed ({status})", program.display());
    }
    Ok(())
}

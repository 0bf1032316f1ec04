//! `strata sql-server`: Strata SQL over the PostgreSQL wire protocol.

use super::sql::Sources;
use anyhow::{Context as _, Result, bail};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SqlServerArgs {
    /// Address to listen on (port 0 picks a free one; the address is printed on stderr).
    /// Without a cluster secret every client is trusted: keep it on loopback then.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5433")]
    listen: String,
    #[command(flatten)]
    sources: Sources,
}

/// Runs the server until the process is stopped.
pub fn run(
    args: SqlServerArgs,
    cfg: &strata::StrataConfig,
    threads: Option<usize>,
    memory: Option<usize>,
    spill_dir: Option<PathBuf>,
) -> Result<()> {
    if threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    strata_sql::source::configure(strata_sql::source::StorageOptions::from_config(
        &cfg.cluster,
    ));
    let mut engine = super::sql::embedded_engine(threads, memory, spill_dir)?;
    args.sources.apply(&mut engine)?;
    let password = Some(cfg.cluster.secret.clone()).filter(|s| !s.is_empty());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("strata-pgwire")
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    rt.block_on(async {
        let trusted = password.is_none();
        let server = strata_pgwire::Server::bind(
            &args.listen,
            engine,
            strata_pgwire::ServerOptions { password },
        )
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = server.local_addr()?;
        eprintln!(
            "strata sql-server: listening on {addr} (PostgreSQL protocol): psql -h {} -p {}{}",
            addr.ip(),
            addr.port(),
            if trusted {
                "; no cluster secret is set, so every client is trusted"
            } else {
                "; the password is the cluster secret"
            }
        );
        if trusted && !addr.ip().is_loopback() {
            eprintln!(
                "warning: listening beyond loopback without a password; set STRATA_SECRET \
                 (or [cluster] secret) to require one"
            );
        }
        server.run().await?;
        Ok(())
    })
}

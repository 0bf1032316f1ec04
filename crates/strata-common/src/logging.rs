//! Structured logging with `tracing`.
//!
//! Log lines carry fields (`job_id=3 stage=1`), never formatted user data. The filter comes
//! from `STRATA_LOG` (same syntax as `RUST_LOG`, e.g. `strata_dataflow=debug`), default `warn`
//! for interactive commands so that progress bars stay readable.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber writing to stderr. Safe to call more than once.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_env("STRATA_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}

//! # strata-common: the plumbing every Strata layer shares
//!
//! Strata is layered (see `ARCHITECTURE.md`): `common` sits at the bottom and holds only what
//! every layer above needs, with no heavy dependencies:
//!
//! - [`config`]: one typed configuration tree, [`config::StrataConfig`]. Each field carries its
//!   default and its documentation. Values come from defaults, then a TOML file, then
//!   `STRATA_*` environment variables, then command-line flags (the binary applies those last).
//! - [`size`]: parsing and printing byte sizes (`512m`, `2g`) the way users write them.
//! - [`logging`]: `tracing` subscriber set-up with structured fields and `STRATA_LOG` filters.
//! - [`metrics`]: a process-wide Prometheus registry that layers register counters into and
//!   daemons expose on `/metrics`.
//!
//! Errors: each library crate owns its own error enum, sorted by who is at fault (the user's
//! input, the environment, or a bug in Strata). `common` only defines [`config::ConfigError`].
//!
//! ```
//! use strata_common::config::StrataConfig;
//! let cfg = StrataConfig::from_toml_str("[dataflow]\nthreads = 3\nmemory = \"256m\"").unwrap();
//! assert_eq!(cfg.dataflow.threads, 3);
//! assert_eq!(cfg.dataflow.memory.bytes(), 256 << 20);
//! ```

pub mod config;
pub mod logging;
pub mod metrics;
pub mod size;

pub use config::{ClusterConfig, ConfigError, DataflowConfig, DfsConfig, StrataConfig};
pub use size::ByteSize;

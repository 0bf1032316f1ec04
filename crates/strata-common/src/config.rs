//! One typed configuration tree for every Strata process.
//!
//! Precedence, lowest first: the defaults written next to each field, a TOML file
//! ([`StrataConfig::load`]), `STRATA_*` environment variables ([`StrataConfig::apply_env`]),
//! then command-line flags, which the binary applies last. [`StrataConfig::validate`] checks
//! every section and says which key is wrong and what would be accepted.

use crate::size::ByteSize;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Why a configuration could not be loaded. Always the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config {origin}: {message}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// What the parser said.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid config value {key} = {value}: {hint}")]
    Invalid {
        /// The dotted key, e.g. `dataflow.threads`.
        key: &'static str,
        /// The offending value.
        value: String,
        /// What would be accepted.
        hint: &'static str,
    },
}

/// The whole configuration of a Strata process.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StrataConfig {
    /// The batch dataflow engine (`[dataflow]`).
    pub dataflow: DataflowConfig,
    /// Cluster-wide settings every node shares (`[cluster]`).
    pub cluster: ClusterConfig,
    /// The distributed file system (`[dfs]`).
    pub dfs: DfsConfig,
}

/// Settings every node of a cluster must agree on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The master's address (`host:port`), used for `dfs:///path` URLs without a host.
    /// Also `STRATA_MASTER`. Default: `127.0.0.1:7070`.
    pub master: String,
    /// Shared secret that nodes and clients present on every request; requests without it
    /// are refused. Empty (the default) disables the check: set one on any shared network.
    /// Also `STRATA_SECRET`.
    pub secret: String,
    /// How often workers report to the master and drivers and executors ping each other,
    /// in milliseconds. Default: 500.
    pub heartbeat_ms: u64,
    /// A worker, driver or executor silent this long is declared lost: its executors' tasks
    /// are rescheduled and the map outputs it held are recomputed. Default: 5000.
    pub node_timeout_ms: u64,
    /// How the master orders waiting jobs within a priority band: `drf` (Dominant Resource
    /// Fairness among tenants, the default), or `fifo`, `sjf`, `srtf`, `las`, `tiresias`,
    /// `themis`, `gandiva-fair` (the simulator's policies; SJF, SRTF and Themis read the
    /// jobs' `duration_s`).
    pub job_policy: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            master: "127.0.0.1:7070".into(),
            secret: String::new(),
            heartbeat_ms: 500,
            node_timeout_ms: 5000,
            job_policy: "drf".into(),
        }
    }
}

/// Settings of the DFS master and chunkservers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DfsConfig {
    /// Size of a chunk. Default: 64 MiB.
    pub chunk_size: ByteSize,
    /// Replicas of each chunk for files created without an explicit factor. Default: 3.
    pub replication: u32,
    /// How often chunkservers report to the master, in milliseconds. Default: 1000.
    pub heartbeat_interval_ms: u64,
    /// A chunkserver silent this long is declared dead and its chunks re-replicated.
    /// Default: 10000.
    pub node_timeout_ms: u64,
    /// Re-replications a chunkserver may be sending at once (throttle). Default: 2.
    pub replication_streams: u32,
    /// The master checkpoints its namespace after this many logged operations.
    /// Default: 100000.
    pub checkpoint_ops: u64,
    /// fsync chunk data before acknowledging a write. Off by default: an acknowledged write
    /// is on every replica (in the page cache), which survives the death of processes and of
    /// any one machine; turn it on to survive a simultaneous power loss of all replicas.
    pub fsync_data: bool,
    /// A file being written stays invisible until its writer closes it, and nobody else may
    /// create it meanwhile (a lease on the path, as in GFS and HDFS). A writer silent this
    /// long, in milliseconds, loses the lease: its unfinished file is discarded and the path
    /// is free again. Default: 60000.
    pub writer_lease_ms: u64,
    /// Fewest replicas a chunk write needs to succeed when fewer than the file's replication
    /// factor are live; the master copies the missing replicas once nodes are back. Default: 1.
    pub min_replication: u32,
}

impl Default for DfsConfig {
    fn default() -> Self {
        DfsConfig {
            chunk_size: ByteSize::mib(64),
            replication: 3,
            heartbeat_interval_ms: 1000,
            node_timeout_ms: 10_000,
            replication_streams: 2,
            checkpoint_ops: 100_000,
            fsync_data: false,
            writer_lease_ms: 60_000,
            min_replication: 1,
        }
    }
}

/// Settings of the dataflow engine's executor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DataflowConfig {
    /// Worker threads that run tasks. Default: the number of CPU cores.
    pub threads: usize,
    /// Memory budget of the executor for shuffle buffers, aggregation tables, sort buffers and
    /// cached partitions. Operators spill to disk rather than exceed it. Default: 1 GiB.
    pub memory: ByteSize,
    /// Share of `memory` that cached (persisted) partitions may hold; the rest is for
    /// execution. Default: 0.5.
    pub storage_fraction: f64,
    /// Partitions for shuffles and sources when a job does not say. Default: 2 x threads.
    pub default_partitions: usize,
    /// Bytes per input split when reading files. Default: 32 MiB.
    pub split_size: ByteSize,
    /// Times a task is tried before its job fails. Default: 4.
    pub task_max_attempts: u32,
    /// Directory for shuffle, spill and cache files. Default: the system temp directory.
    pub local_dir: Option<PathBuf>,
    /// Cluster mode, delay scheduling: how long a task that prefers some hosts (it reads a
    /// DFS chunk stored there) waits for a free slot on one of them before it runs anywhere,
    /// in milliseconds. Default: 500.
    pub locality_wait_ms: u64,
    /// Cluster mode: launch backup copies of straggling tasks (MapReduce §3.6); the first
    /// copy to finish wins. Default: true.
    pub speculation: bool,
    /// A task is a straggler when it has run this many times the median duration of the
    /// stage's finished tasks. Default: 1.5.
    pub speculation_multiplier: f64,
    /// Share of a stage's tasks that must have finished before backups are considered.
    /// Default: 0.75.
    pub speculation_quantile: f64,
}

impl Default for DataflowConfig {
    fn default() -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        DataflowConfig {
            threads,
            memory: ByteSize(1 << 30),
            storage_fraction: 0.5,
            default_partitions: 2 * threads,
            split_size: ByteSize::mib(32),
            task_max_attempts: 4,
            local_dir: None,
            locality_wait_ms: 500,
            speculation: true,
            speculation_multiplier: 1.5,
            speculation_quantile: 0.75,
        }
    }
}

impl StrataConfig {
    /// Parses TOML text; unknown keys are an error so that typos do not pass silently.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let cfg: StrataConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: "text".into(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Loads a TOML file, then applies `STRATA_*` environment variables.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    origin: p.display().to_string(),
                    message: e.to_string(),
                })?
            }
            None => StrataConfig::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Applies `STRATA_THREADS`, `STRATA_MEMORY`, `STRATA_PARTITIONS` and `STRATA_LOCAL_DIR`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let d = &mut self.dataflow;
        if let Some(v) = get("STRATA_THREADS") {
            d.threads = v.parse().map_err(|_| ConfigError::Invalid {
                key: "STRATA_THREADS",
                value: v.clone(),
                hint: "a positive integer",
            })?;
        }
        if let Some(v) = get("STRATA_MEMORY") {
            d.memory = v.parse().map_err(|_| ConfigError::Invalid {
                key: "STRATA_MEMORY",
                value: v.clone(),
                hint: "a size such as 512m or 2g",
            })?;
        }
        if let Some(v) = get("STRATA_PARTITIONS") {
            d.default_partitions = v.parse().map_err(|_| ConfigError::Invalid {
                key: "STRATA_PARTITIONS",
                value: v.clone(),
                hint: "a positive integer",
            })?;
        }
        if let Some(v) = get("STRATA_LOCAL_DIR") {
            d.local_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = get("STRATA_SECRET") {
            self.cluster.secret = v;
        }
        if let Some(v) = get("STRATA_MASTER") {
            self.cluster.master = v;
        }
        Ok(())
    }

    /// Checks every value; the error names the key and what is accepted.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let f = &self.dfs;
        if f.chunk_size.0 < 4096
            || !f.chunk_size.0.is_multiple_of(4096)
            || f.chunk_size.0 > (1 << 32)
        {
            return Err(ConfigError::Invalid {
                key: "dfs.chunk_size",
                value: f.chunk_size.to_string(),
                hint: "a multiple of 4k between 4k and 4g",
            });
        }
        if f.replication == 0 || f.replication > 16 {
            return Err(ConfigError::Invalid {
                key: "dfs.replication",
                value: f.replication.to_string(),
                hint: "between 1 and 16",
            });
        }
        if f.heartbeat_interval_ms == 0 || f.node_timeout_ms < 2 * f.heartbeat_interval_ms {
            return Err(ConfigError::Invalid {
                key: "dfs.node_timeout_ms",
                value: f.node_timeout_ms.to_string(),
                hint: "at least twice dfs.heartbeat_interval_ms (which must be positive)",
            });
        }
        if f.writer_lease_ms < 1000 {
            return Err(ConfigError::Invalid {
                key: "dfs.writer_lease_ms",
                value: f.writer_lease_ms.to_string(),
                hint: "at least 1000",
            });
        }
        if f.min_replication == 0 || f.min_replication > f.replication {
            return Err(ConfigError::Invalid {
                key: "dfs.min_replication",
                value: f.min_replication.to_string(),
                hint: "between 1 and dfs.replication",
            });
        }
        let c = &self.cluster;
        if c.heartbeat_ms == 0 || c.node_timeout_ms < 2 * c.heartbeat_ms {
            return Err(ConfigError::Invalid {
                key: "cluster.node_timeout_ms",
                value: c.node_timeout_ms.to_string(),
                hint: "at least twice cluster.heartbeat_ms (which must be positive)",
            });
        }
        let d = &self.dataflow;
        if d.speculation_multiplier.partial_cmp(&1.0) == Some(std::cmp::Ordering::Less)
            || d.speculation_multiplier.is_nan()
            || !(0.0..=1.0).contains(&d.speculation_quantile)
        {
            return Err(ConfigError::Invalid {
                key: "dataflow.speculation_multiplier",
                value: format!(
                    "{} (quantile {})",
                    d.speculation_multiplier, d.speculation_quantile
                ),
                hint: "a multiplier of at least 1 and a quantile between 0 and 1",
            });
        }
        if d.threads == 0 || d.threads > 4096 {
            return Err(ConfigError::Invalid {
                key: "dataflow.threads",
                value: d.threads.to_string(),
                hint: "between 1 and 4096",
            });
        }
        if d.memory.0 < (1 << 20) {
            return Err(ConfigError::Invalid {
                key: "dataflow.memory",
                value: d.memory.to_string(),
                hint: "at least 1m",
            });
        }
        if !(0.0..=1.0).contains(&d.storage_fraction) {
            return Err(ConfigError::Invalid {
                key: "dataflow.storage_fraction",
                value: d.storage_fraction.to_string(),
                hint: "between 0 and 1",
            });
        }
        if d.default_partitions == 0 {
            return Err(ConfigError::Invalid {
                key: "dataflow.default_partitions",
                value: "0".into(),
                hint: "at least 1",
            });
        }
        if d.split_size.0 < 1024 {
            return Err(ConfigError::Invalid {
                key: "dataflow.split_size",
                value: d.split_size.to_string(),
                hint: "at least 1k",
            });
        }
        if d.task_max_attempts == 0 {
            return Err(ConfigError::Invalid {
                key: "dataflow.task_max_attempts",
                value: "0".into(),
                hint: "at least 1",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_then_validate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(&path, "[dataflow]\nthreads = 3\nmemory = \"64m\"\n").unwrap();
        let mut cfg = StrataConfig::load(Some(&path)).unwrap();
        assert_eq!(cfg.dataflow.threads, 3);
        cfg.apply_env(|k| (k == "STRATA_MEMORY").then(|| "128m".to_string()))
            .unwrap();
        assert_eq!(cfg.dataflow.memory.bytes(), 128 << 20);
    }

    #[test]
    fn typos_and_bad_values_are_named() {
        let err = StrataConfig::from_toml_str("[dataflow]\nthread = 3").unwrap_err();
        assert!(err.to_string().contains("thread"), "{err}");
        let err = StrataConfig::from_toml_str("[dataflow]\nthreads = 0").unwrap_err();
        assert!(err.to_string().contains("dataflow.threads"), "{err}");
        let err = StrataConfig::load(Some(Path::new("/nonexistent/x.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.toml"), "{err}");
    }
}

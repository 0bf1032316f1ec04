//! Command-line definitions and dispatch.

/// `println!` for command output: a closed pipe (`strata dfs ls | head`) ends the process
/// quietly instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cli::print_line(format_args!($($t)*))
    };
}

mod cluster;
mod demo;
mod dfs;
mod job;
mod outputs;
mod progress;
mod sim;
mod sql;
mod sql_server;
mod stream;
mod submit;
mod train;

/// Writes one line to stdout; exits with status 0 if the reader has gone away.
pub fn print_line(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use strata::common::{ByteSize, StrataConfig};
use strata::jobs::{pagerank, rmat, terasort, wordcount};

/// Strata: a big-data systems stack in one binary.
///
/// Jobs run embedded by default: in this process, on a pool of threads, with no daemon.
#[derive(Parser, Debug)]
#[command(name = "strata", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    engine: EngineArgs,
    #[command(subcommand)]
    command: Command,
}

/// Engine settings shared by every command (flags override the config file and env).
#[derive(Args, Debug, Clone)]
struct EngineArgs {
    /// TOML config file (see ARCHITECTURE.md, "Configuration").
    #[arg(long, global = true, env = "STRATA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Worker threads that run tasks [default: number of cores].
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// Executor memory budget; operators spill to disk beyond it, e.g. 512m, 2g [default: 1g].
    #[arg(long, global = true, value_name = "SIZE")]
    memory: Option<ByteSize>,
    /// Directory for shuffle, spill and cache files [default: system temp dir].
    #[arg(long, global = true, value_name = "DIR")]
    local_dir: Option<PathBuf>,
    /// Hide progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run word count and PageRank on bundled real data (Shakespeare, WordNet) and print the
    /// top results.
    Demo {
        /// Directory holding shakespeare/ and wordnet/ [default: the repository's data/].
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
    /// Run a built-in batch job, embedded or (with --master) on a cluster.
    Run {
        #[command(flatten)]
        cluster: ClusterArgs,
        #[command(subcommand)]
        job: Job,
    },
    /// Run your own program (built against the `strata` crate) on a cluster: the binary is
    /// copied into the DFS, each worker starts it as an executor, and it runs here as the
    /// driver. Its `Context::from_env()` picks this up.
    Submit {
        /// The master's address [default: STRATA_MASTER, else `[cluster] master` of the
        /// config, else 127.0.0.1:7070].
        #[arg(long, value_name = "HOST:PORT")]
        master: Option<String>,
        /// Executors to start [default: one per live worker].
        #[arg(long, default_value_t = 0, value_name = "N")]
        executors: u32,
        /// The program's executable.
        #[arg(value_name = "PROGRAM")]
        program: PathBuf,
        /// Arguments for the program.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "ARGS"
        )]
        args: Vec<String>,
    },
    /// Generate input data.
    #[command(subcommand)]
    Gen(Generator),
    /// Run the DFS master: the namespace, op log and chunk placement.
    Master {
        /// Directory for the op log and checkpoints.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// gRPC address to listen on.
        #[arg(long, default_value = "127.0.0.1:7070", value_name = "HOST:PORT")]
        listen: String,
        /// Address for the admin HTTP endpoint (`/metrics`, `/health`).
        #[arg(long, value_name = "HOST:PORT")]
        http: Option<String>,
    },
    /// Run a worker (node agent): a DFS chunkserver that also launches executors for the
    /// applications the master places on it.
    Worker {
        /// Task slots offered to executors, and cores offered to job tasks [default: the
        /// configured threads].
        #[arg(long, value_name = "N")]
        cores: Option<u32>,
        /// GPUs offered to job tasks.
        #[arg(long, default_value_t = 0, value_name = "N")]
        gpus: u32,
        /// Memory offered to executors and job tasks [default: the configured memory].
        #[arg(long, value_name = "SIZE")]
        memory: Option<ByteSize>,
        /// Local disk offered to job tasks [default: the free space of --dir].
        #[arg(long, value_name = "SIZE")]
        disk: Option<ByteSize>,
        /// A label job constraints can require (`--label zone=a`, repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        /// The node's host profile (Twine): adds the label `profile=NAME` that jobs can
        /// require, with --task-env as the settings its tasks get.
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// Environment every job task on this node gets, over the job's own (repeatable).
        #[arg(long = "task-env", value_name = "KEY=VALUE")]
        task_env: Vec<String>,
        /// The master's address [default: STRATA_MASTER, else `[cluster] master` of the
        /// config, else 127.0.0.1:7070].
        #[arg(long, value_name = "HOST:PORT")]
        master: Option<String>,
        /// Directory for chunks.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Data-protocol address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:0", value_name = "HOST:PORT")]
        listen: String,
        /// Address for the admin HTTP endpoint (`/metrics`, `/health`).
        #[arg(long, value_name = "HOST:PORT")]
        http: Option<String>,
    },
    /// Declarative jobs on a cluster (Borg-style): submit a TOML spec, list, describe, kill.
    /// Jobs are placed by priority band (production preempts batch and best-effort), by DRF
    /// among tenants, whole gangs at once; services are restarted and rescheduled when their
    /// node dies.
    Job {
        /// The master's address [default: `[cluster] master` of the config].
        #[arg(long, value_name = "HOST:PORT", global = true)]
        master: Option<String>,
        #[command(subcommand)]
        cmd: job::JobCmd,
    },
    /// Tenant quotas (admission control for `strata job submit`).
    Quota {
        /// The master's address [default: `[cluster] master` of the config].
        #[arg(long, value_name = "HOST:PORT", global = true)]
        master: Option<String>,
        #[command(subcommand)]
        cmd: job::QuotaCmd,
    },
    /// (Internal) the supervisor a node agent runs each job task under.
    #[command(hide = true)]
    TaskRun {
        /// The task's program and arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    },
    /// Start a master and N workers as child processes on loopback; Ctrl-C stops them all.
    LocalCluster {
        /// Number of workers.
        #[arg(short = 'n', long, default_value_t = 3)]
        workers: usize,
        /// Directory for every process's data (master/, worker-0/, ...).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The master's port.
        #[arg(long, default_value_t = 7070)]
        port: u16,
    },
    /// Run SQL over CSV, Parquet and JSON-lines files (local, dfs://, s3://): `strata sql
    /// --table t=data/t.parquet "SELECT ..."`. With no query and no -f, an interactive shell
    /// with history. `COPY (SELECT ...) TO 'dfs:///out/x.parquet'` writes a result. Joins,
    /// aggregations and sorts spill to --local-dir past --memory (for SQL the default is half
    /// the machine's memory); --threads 1 runs every operator on one partition. With
    /// --master HOST:PORT the queries run on a cluster's executors.
    Sql(sql::SqlArgs),
    /// Serve Strata SQL over the PostgreSQL wire protocol, so psql, psycopg, JDBC and BI
    /// tools connect: `strata sql-server --listen 127.0.0.1:5433 --table t=data/t.parquet
    /// --db DIR`, then `psql -h 127.0.0.1 -p 5433`. Simple and extended (prepared,
    /// `$n` parameters) queries, cancel requests (Ctrl-C in psql), PostgreSQL error codes.
    /// Every statement commits on its own; BEGIN/COMMIT are accepted, ROLLBACK after a
    /// change is an error. With a cluster secret (STRATA_SECRET) clients must give it as
    /// their password (MD5); without one every client is trusted.
    SqlServer(sql_server::SqlServerArgs),
    /// Replay a job trace (Philly, Alibaba or CSV) on a simulated GPU cluster through
    /// scheduling policies (fifo, sjf, srtf, las, tiresias, drf, themis, gandiva-fair) and
    /// compare them: stdout is CSV `policy,jobs,avg_jct,p99_jct,makespan,utilization`;
    /// --out DIR adds per-job records, a summary and a JCT CDF plot (SVG). The policies are
    /// the same objects the resource manager uses.
    Sim(sim::SimArgs),
    /// Streaming jobs with event time, windows and exactly-once output (Strata Stream).
    #[command(subcommand)]
    Stream(stream::StreamCmd),
    /// Train models (Strata Train): a character-level GPT on one process or K data-parallel
    /// ranks that survive a rank's death; sample text from a trained model.
    #[command(subcommand)]
    Train(train::TrainCmd),
    /// Fault campaigns: start a real cluster, run concurrent clients against it while random
    /// daemons are SIGKILLed, paused and restarted and chunk files corrupted, then check
    /// every acknowledged operation against a model of what the namespace may hold. Exits
    /// with status 1 if any anomaly is found.
    #[command(subcommand)]
    Chaos(ChaosCmd),
    /// SQL conformance campaign: random tables (NULLs, duplicates, extremes) and random
    /// queries (joins of every kind, grouping, windows, subqueries, set operations) run on
    /// Strata and on PostgreSQL, plus metamorphic checks that need no peer (TLP, NoREC).
    /// A wrong answer is shrunk to a small query and printed with its tables; the exit
    /// status is 1 if any is found. PostgreSQL: 127.0.0.1:5432, user postgres, database
    /// test (override with STRATA_FUZZ_PG=host:port/user/db).
    SqlFuzz {
        /// Queries to run.
        #[arg(long, default_value_t = 2000)]
        queries: usize,
        /// Stop after this many seconds even if queries are left.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Seed of the tables and queries (the same seed repeats a campaign).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// New random tables after this many queries.
        #[arg(long, default_value_t = 50)]
        per_dataset: usize,
        /// Only the metamorphic oracles (no PostgreSQL).
        #[arg(long)]
        no_postgres: bool,
    },
    /// Print the web UI's login token for the configured cluster secret (open the UI as
    /// http://HOST:PORT/?token=TOKEN).
    UiToken,
    /// Use the distributed file system (put, get, cat, ls, rm, mv, mkdir, stat, snapshot,
    /// append, report).
    Dfs {
        /// The master's address [default: STRATA_MASTER, else `[cluster] master` of the
        /// config, else 127.0.0.1:7070]. The master must prove it knows the cluster secret
        /// before anything is sent to it.
        #[arg(long, value_name = "HOST:PORT", global = true)]
        master: Option<String>,
        #[command(subcommand)]
        cmd: dfs::DfsCmd,
    },
}

#[derive(Subcommand, Debug)]
enum ChaosCmd {
    /// The jobs campaign: word count, sort and PageRank on a real cluster while random
    /// workers are SIGKILLed under them and restarted; every answer must equal the embedded
    /// run's on the same input.
    Jobs {
        /// How long to keep starting trials.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seed of the data, trial and fault schedules.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Worker processes.
        #[arg(long, default_value_t = 3)]
        workers: usize,
        /// Keep data, outputs and logs in DIR (default: a temporary directory).
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// The DFS campaign: creates, overwrites, record appends, renames, snapshots and deletes
    /// by concurrent clients, and every client racing to overwrite one file.
    Dfs {
        /// How long the workload runs under faults (then the cluster heals and is checked).
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seed of the operation and fault schedules.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Worker processes.
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Keep the cluster's data and logs in DIR (default: a temporary directory).
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum Job {
    /// Count words: maximal runs of alphanumeric characters, lowercased. Writes lines
    /// `word<TAB>count` to part files in DIR.
    Wordcount {
        /// Input files, directories (read recursively), globs, or dfs:// and s3:// URLs.
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Rank nodes of a graph. Each input line is `src dst` (unsigned 64-bit ids); blank and
    /// `#` lines are skipped; duplicate edges count once. Writes `node<TAB>rank` lines.
    Pagerank {
        /// Edge list files, directories or globs.
        #[arg(required = true, value_name = "EDGES")]
        inputs: Vec<String>,
        /// Number of power iterations.
        #[arg(long, default_value_t = 20)]
        iterations: u32,
        /// Damping factor d.
        #[arg(long, default_value_t = 0.85)]
        damping: f64,
        #[command(flatten)]
        out: OutArgs,
    },
    /// Sort 100-byte records by their 10-byte key (TeraSort). Part files in DIR are
    /// globally ordered: part-00000 before part-00001.
    Sort {
        /// Files, directories or globs of 100-byte records (as from `strata gen terasort`).
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<String>,
        #[command(flatten)]
        out: OutArgs,
    },
}

/// Where a built-in job runs.
#[derive(Args, Debug, Clone)]
struct ClusterArgs {
    /// Run on the cluster whose master is at HOST:PORT (driver here, executors on the
    /// workers) instead of embedded.
    #[arg(long, global = true, value_name = "HOST:PORT")]
    master: Option<String>,
    /// Executors to start on the cluster [default: one per live worker].
    #[arg(long, global = true, value_name = "N")]
    executors: Option<u32>,
}

impl ClusterArgs {
    fn launch(&self, what: &str) -> strata::Launch {
        match &self.master {
            None => strata::Launch::Embedded,
            Some(m) => strata::Launch::Cluster(strata::ClusterLaunch {
                master: m.clone(),
                executors: self.executors.unwrap_or(0),
                cores: 0,
                name: format!("strata run {what}"),
                program: None,
                args: std::env::args().skip(1).collect(),
            }),
        }
    }
}

#[derive(Args, Debug)]
struct OutArgs {
    /// Output directory (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace the output directory if it exists.
    #[arg(long)]
    overwrite: bool,
    /// Number of partitions (reduce tasks) [default: 2 x threads].
    #[arg(long, value_name = "N")]
    partitions: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum Generator {
    /// A synthetic power-law graph (R-MAT, Graph500 parameters): lines `src dst` over
    /// 2^scale node ids, for `strata run pagerank`.
    Rmat {
        /// log2 of the number of node ids.
        #[arg(long, default_value_t = 20)]
        scale: u32,
        /// Number of edges.
        #[arg(long)]
        edges: u64,
        #[command(flatten)]
        out: GenOut,
    },
    /// The eight TPC-H tables at a scale factor (DIR/lineitem/part-00000.parquet, ...).
    Tpch {
        /// Scale factor (1 = about 1 GB of raw data; 0.1, 0.01 for small runs).
        #[arg(long, default_value_t = 1.0)]
        sf: f64,
        /// File format.
        #[arg(long, value_enum, default_value_t = sql::GenFormat::Parquet)]
        format: sql::GenFormat,
        /// Output directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace the output directory if it exists.
        #[arg(long)]
        overwrite: bool,
    },
    /// A synthetic deep-learning job trace (CSV for `strata sim`): Poisson arrivals, run times
    /// drawn from the Philly trace's distribution, GPU demands shaped like Philly's.
    DlTrace {
        /// Jobs to generate.
        #[arg(long, default_value_t = 1000)]
        jobs: usize,
        /// Mean arrivals per hour.
        #[arg(long, default_value_t = 20.0)]
        jobs_per_hour: f64,
        /// Tenants (Zipf-weighted).
        #[arg(long, default_value_t = 4)]
        tenants: u32,
        /// Cap on one job's GPUs.
        #[arg(long, default_value_t = 32)]
        max_gpus: u32,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output CSV file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// The Nexmark auction event stream (persons, auctions and bids in the standard 1:3:46
    /// mix with bounded disorder) as JSON lines, one object per event with a `type` field
    /// and Nexmark's field names, in --partitions files events-NN.jsonl.
    Nexmark {
        /// Events to generate.
        #[arg(long)]
        events: u64,
        /// Seed (0 = Nexmark's standard stream).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Files (partitions) to spread the events over (interleaved).
        #[arg(long, default_value_t = 4)]
        partitions: usize,
        /// Output directory or URL, or nats://host:port/STREAM to publish the events to a
        /// JetStream stream (created if absent, capturing the subject STREAM).
        #[arg(long, value_name = "DIR|URL")]
        out: PathBuf,
    },
    /// TeraSort input: 100-byte records in `gensort -a` layout (10-byte printable key).
    Terasort {
        /// Number of records.
        #[arg(long)]
        records: u64,
        #[command(flatten)]
        out: GenOut,
    },
}

/// Where and how a generator writes.
#[derive(Args, Debug)]
struct GenOut {
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of files [default: one per 1 M records or 2 M edges, at least 1].
    #[arg(long)]
    files: Option<usize>,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Replace the output directory if it exists.
    #[arg(long)]
    overwrite: bool,
}

impl GenOut {
    /// Prepares the output and returns the number of files for `items` items.
    fn prepare(&self, engine: &EngineArgs, items: u64, per_file: u64) -> Result<usize> {
        prepare_dir(engine, &self.out, self.overwrite)?;
        Ok(self
            .files
            .unwrap_or(items.div_ceil(per_file).max(1) as usize))
    }
}

fn context(args: &EngineArgs, partitions: Option<usize>) -> Result<strata::Context> {
    context_on(args, partitions, &strata::Launch::Embedded)
}

fn context_on(
    args: &EngineArgs,
    partitions: Option<usize>,
    launch: &strata::Launch,
) -> Result<strata::Context> {
    let mut cfg = StrataConfig::load(args.config.as_deref())?;
    if let strata::Launch::Cluster(c) = launch {
        cfg.cluster.master = c.master.clone();
    }
    let d = &mut cfg.dataflow;
    if let Some(t) = args.threads {
        d.threads = t;
        d.default_partitions = 2 * t;
    }
    if let Some(m) = args.memory {
        d.memory = m;
    }
    if let Some(p) = partitions {
        d.default_partitions = p;
    }
    if let Some(dir) = &args.local_dir {
        d.local_dir = Some(dir.clone());
    }
    cfg.validate()?;
    let ctx = strata::Context::launch(cfg, launch)?;
    if !args.quiet && ctx.is_driver() {
        ctx.add_listener(Arc::new(progress::Progress::new()));
    }
    Ok(ctx)
}

fn prepare_out(
    args: &EngineArgs,
    out: &OutArgs,
    inputs: &[String],
    on: &ClusterArgs,
) -> Result<()> {
    // An executor runs the same command line; only the driver touches the output.
    if strata::dataflow::cluster::is_executor_process() {
        return Ok(());
    }
    let cluster = cluster_config(args, on.master.as_deref())?;
    outputs::check_job_output(inputs, &out.out, &cluster)?;
    prepare_dir_on(&cluster, &out.out, out.overwrite)
}

/// The cluster settings: the config chain, with the `--master` of a job run on a cluster
/// (which is also the DFS master for `dfs:///` paths).
fn cluster_config(
    args: &EngineArgs,
    master: Option<&str>,
) -> Result<strata::common::ClusterConfig> {
    let mut cluster = StrataConfig::load(args.config.as_deref())?.cluster;
    if let Some(m) = master {
        cluster.master = m.to_string();
    }
    Ok(cluster)
}

/// With `--overwrite`, removes an old output (local or `dfs://`) before the job runs.
fn prepare_dir(args: &EngineArgs, dir: &Path, overwrite: bool) -> Result<()> {
    prepare_dir_on(&cluster_config(args, None)?, dir, overwrite)
}

fn prepare_dir_on(
    cluster: &strata::common::ClusterConfig,
    dir: &Path,
    overwrite: bool,
) -> Result<()> {
    outputs::check_not_cwd(dir)?;
    if let Some((master, path)) = dir
        .to_str()
        .and_then(|d| strata::dataflow::io::parse_dfs_url(d, &cluster.master))
    {
        if overwrite {
            let c = strata::dfs::DfsClient::connect(&master, &cluster.secret)?;
            match c.delete(&path, true) {
                Ok(()) | Err(strata::dfs::DfsError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(());
    }
    if overwrite && dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot remove old output {}", dir.display()))?;
    }
    Ok(())
}

fn full_config(args: &EngineArgs) -> Result<StrataConfig> {
    let cfg = StrataConfig::load(args.config.as_deref())?;
    cfg.validate()?;
    Ok(cfg)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let start = Instant::now();
    match cli.command {
        Command::Master { dir, listen, http } => {
            cluster::master(full_config(&cli.engine)?, &dir, &listen, http.as_deref())
        }
        Command::Worker {
            cores,
            gpus,
            memory,
            disk,
            labels,
            profile,
            task_env,
            master,
            dir,
            listen,
            http,
        } => {
            let cfg = full_config(&cli.engine)?;
            let master = master.unwrap_or_else(|| cfg.cluster.master.clone());
            let pairs = |items: &[String], flag: &str| -> Result<Vec<(String, String)>> {
                items
                    .iter()
                    .map(|l| {
                        l.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .with_context(|| format!("--{flag} {l}: write it as KEY=VALUE"))
                    })
                    .collect()
            };
            let mut labels: std::collections::HashMap<String, String> =
                pairs(&labels, "label")?.into_iter().collect();
            if let Some(p) = profile {
                labels.insert("profile".into(), p);
            }
            let offer = cluster::Offer {
                cores,
                gpus,
                memory: memory.map(|m| m.bytes()),
                disk: disk.map(|d| d.bytes()),
                labels,
                task_env: pairs(&task_env, "task-env")?,
            };
            cluster::worker(cfg, &master, &dir, &listen, http.as_deref(), offer)
        }
        Command::Job { master, cmd } => job::job(&full_config(&cli.engine)?, master, cmd),
        Command::Quota { master, cmd } => job::quota(&full_config(&cli.engine)?, master, cmd),
        Command::TaskRun { command } => job::task_run(&command),
        Command::Submit {
            master,
            executors,
            program,
            args,
        } => {
            let cfg = full_config(&cli.engine)?;
            let master = master.unwrap_or_else(|| cfg.cluster.master.clone());
            submit::run(&cfg, &master, executors, &program, &args)
        }
        Command::LocalCluster { workers, dir, port } => {
            cluster::local_cluster(cli.engine.config.as_deref(), workers, &dir, port)
        }
        Command::Sql(args) => {
            let cfg = full_config(&cli.engine)?;
            sql::run(
                args,
                &cfg,
                cli.engine.threads,
                cli.engine.memory.map(|m| m.0 as usize),
                cli.engine.local_dir.clone(),
            )
        }
        Command::SqlServer(args) => {
            let cfg = full_config(&cli.engine)?;
            sql_server::run(
                args,
                &cfg,
                cli.engine.threads,
                cli.engine.memory.map(|m| m.0 as usize),
                cli.engine.local_dir.clone(),
            )
        }
        Command::Sim(args) => sim::run(args),
        Command::Stream(cmd) => stream::run(&full_config(&cli.engine)?, cmd),
        Command::Train(cmd) => train::run(&full_config(&cli.engine)?, cmd),
        Command::Gen(Generator::Nexmark {
            events,
            seed,
            partitions,
            out,
        }) => stream::gen_nexmark(&full_config(&cli.engine)?, events, seed, partitions, &out),
        Command::Gen(Generator::DlTrace {
            jobs,
            jobs_per_hour,
            tenants,
            max_gpus,
            seed,
            out,
        }) => sim::gen_trace(
            &strata_sched::trace::synth::SynthConfig {
                jobs,
                jobs_per_hour,
                tenants,
                max_gpus,
                seed,
            },
            &out,
        ),
        Command::Gen(Generator::Tpch {
            sf,
            format,
            out,
            overwrite,
        }) => sql::gen_tpch(sf, format, &out, overwrite),
        Command::Dfs { master, cmd } => {
            let cfg = full_config(&cli.engine)?;
            let master = master.unwrap_or_else(|| cfg.cluster.master.clone());
            dfs::run(&master, &cfg.cluster.secret, cli.engine.quiet, cmd)
        }
        Command::Chaos(ChaosCmd::Dfs {
            seconds,
            seed,
            workers,
            clients,
            keep,
        }) => {
            if workers < 3 {
                anyhow::bail!("--workers must be at least 3 (chunks have 3 replicas)");
            }
            let summary = strata_chaos::run_dfs(&strata_chaos::DfsCampaign {
                exe: std::env::current_exe().context("cannot find the strata executable")?,
                seed,
                duration: std::time::Duration::from_secs(seconds),
                workers,
                clients: clients.max(1),
                keep,
            })
            .map_err(anyhow::Error::msg)?;
            campaign_done(&summary)
        }
        Command::Chaos(ChaosCmd::Jobs {
            seconds,
            seed,
            workers,
            keep,
        }) => {
            if workers < 2 {
                anyhow::bail!("--workers must be at least 2 (one is killed at a time)");
            }
            let summary = strata_chaos::jobs::run_jobs(&strata_chaos::jobs::JobsCampaign {
                exe: std::env::current_exe().context("cannot find the strata executable")?,
                seed,
                duration: std::time::Duration::from_secs(seconds),
                workers,
                keep,
            })
            .map_err(anyhow::Error::msg)?;
            campaign_done(&summary)
        }
        Command::SqlFuzz {
            queries,
            seconds,
            seed,
            per_dataset,
            no_postgres,
        } => {
            let report = strata_sqlfuzz::run(&strata_sqlfuzz::Campaign {
                seed,
                queries,
                time_limit: std::time::Duration::from_secs(seconds),
                queries_per_dataset: per_dataset,
                postgres: (!no_postgres).then(|| strata_sqlfuzz::pg::Pg::default_for(seed)),
            })
            .map_err(anyhow::Error::msg)?;
            outln!("{report}");
            if !report.findings.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::UiToken => {
            let cfg = full_config(&cli.engine)?;
            if cfg.cluster.secret.is_empty() {
                anyhow::bail!(
                    "no cluster secret is configured, so the web UI needs no token (set [cluster] secret or STRATA_SECRET to require one)"
                );
            }
            outln!(
                "{}",
                strata::cluster::ui_auth::ui_token(&cfg.cluster.secret)
            );
            Ok(())
        }
        Command::Demo { data } => demo::run(&context(&cli.engine, None)?, data),
        Command::Run {
            cluster,
            job: Job::Wordcount { inputs, out },
        } => {
            prepare_out(&cli.engine, &out, &inputs, &cluster)?;
            let ctx = context_on(&cli.engine, out.partitions, &cluster.launch("wordcount"))?;
            wordcount::run(&ctx, &inputs, &out.out, out.partitions)?;
            report(&ctx, "wordcount", &out.out, start);
            Ok(())
        }
        Command::Run {
            cluster,
            job:
                Job::Pagerank {
                    inputs,
                    iterations,
                    damping,
                    out,
                },
        } => {
            prepare_out(&cli.engine, &out, &inputs, &cluster)?;
            let ctx = context_on(&cli.engine, out.partitions, &cluster.launch("pagerank"))?;
            let r = pagerank::run(&ctx, &inputs, iterations, damping, &out.out, out.partitions)?;
            if ctx.is_driver() {
                eprintln!("pagerank: {} nodes, {iterations} iterations", r.nodes);
            }
            report(&ctx, "pagerank", &out.out, start);
            Ok(())
        }
        Command::Run {
            cluster,
            job: Job::Sort { inputs, out },
        } => {
            prepare_out(&cli.engine, &out, &inputs, &cluster)?;
            let ctx = context_on(&cli.engine, None, &cluster.launch("sort"))?;
            terasort::sort(&ctx, &inputs, &out.out, out.partitions)?;
            report(&ctx, "sort", &out.out, start);
            Ok(())
        }
        Command::Gen(Generator::Terasort { records, out }) => {
            let files = out.prepare(&cli.engine, records, 1_000_000)?;
            let ctx = context(&cli.engine, None)?;
            terasort::generate(&ctx, records, files, out.seed, &out.out)?;
            report(&ctx, "gen terasort", &out.out, start);
            Ok(())
        }
        Command::Gen(Generator::Rmat { scale, edges, out }) => {
            let files = out.prepare(&cli.engine, edges, 2_000_000)?;
            let ctx = context(&cli.engine, None)?;
            rmat::generate(&ctx, scale, edges, files, out.seed, &out.out)?;
            report(&ctx, "gen rmat", &out.out, start);
            Ok(())
        }
    }
}

/// Prints a campaign's summary; any anomaly makes the exit status 1.
fn campaign_done(summary: &strata_chaos::Summary) -> Result<()> {
    outln!("{summary}");
    if !summary.anomalies.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

fn report(ctx: &strata::Context, what: &str, out: &Path, start: Instant) {
    if !ctx.is_driver() {
        return;
    }
    if let (Some(app), Some(r)) = (ctx.app_id(), ctx.cluster_report()) {
        eprintln!(
            "{what}: cluster application {app}: {} executors, {} of {} tasks with a preferred host ran there, {} speculative copies, {} map outputs lost, {} map tasks re-run",
            r.executors.len(),
            r.local_tasks,
            r.tasks_with_preference,
            r.speculative_tasks,
            r.map_outputs_lost,
            r.map_tasks_rerun
        );
    }
    let bad = strata::dataflow::invalid_utf8_lines();
    if bad > 0 {
        eprintln!(
            "{what}: warning: {bad} input lines were not valid UTF-8 and were read as Latin-1 (see the log for the first of each split)"
        );
    }
    let m = ctx.metrics();
    eprintln!(
        "{what}: done in {:.2}s -> {} ({} tasks, {} shuffled, {} spilled)",
        start.elapsed().as_secs_f64(),
        out.display(),
        m.tasks_succeeded,
        ByteSize(m.shuffle_bytes_written),
        ByteSize(m.spilled_bytes),
    );
}

//! `strata stream ...` and `strata gen nexmark`: streaming jobs from the command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use strata::common::StrataConfig;
use strata::storage::StorageOptions;
use strata::stream::jetstream::JetStreamSource;
use strata::stream::nexmark::{self, Event, GeneratorSource};
use strata::stream::{
    CheckpointConfig, DfsLogSource, LinesSource, StateBackend, StreamConfig, StreamEnv,
    WatermarkStrategy,
};

/// Streaming jobs.
#[derive(Subcommand, Debug)]
pub enum StreamCmd {
    /// Run a Nexmark query (q0-q8, q11, as in Nexmark's Flink SQL versions) over generated
    /// events or event files, writing CSV part files with a header row under --out. Output
    /// becomes visible checkpoint by checkpoint (two-phase commit), so a job killed and
    /// rerun with --restore writes every row exactly once.
    Nexmark(NexmarkArgs),
    /// Run a streaming SQL query over JSON-lines tables (files, or NATS JetStream streams)
    /// with Flink's window table functions over an event-time column, e.g.
    /// `SELECT auction, count(*) AS n, window_start, window_end FROM TABLE(TUMBLE(TABLE bid,
    /// DESCRIPTOR(dateTime), INTERVAL '10' SECOND)) GROUP BY auction, window_start,
    /// window_end`. TUMBLE, HOP (slide, size) and SESSION (PARTITION BY key) are supported;
    /// within a window, the query runs on Strata SQL (joins, GROUP BY, subqueries). Queries
    /// without a window table function (projections, filters) run on micro-batches.
    Sql(SqlArgs),
    /// Take a savepoint of a running job: ask the job that checkpoints into
    /// --checkpoint-dir for a checkpoint now, copied to --to as a self-contained
    /// savepoint that retention never deletes. Start a job from it later with
    /// --from-savepoint (at any parallelism, e.g. after changing the job's resources).
    Savepoint(SavepointArgs),
}

/// `strata stream savepoint`.
#[derive(Args, Debug)]
pub struct SavepointArgs {
    /// The running job's checkpoint directory or URL.
    #[arg(long, value_name = "DIR")]
    checkpoint_dir: String,
    /// Where to write the savepoint (an empty directory or URL: local, dfs://, s3://).
    #[arg(long, value_name = "DIR")]
    to: String,
    /// Stop the job once the savepoint is written (nothing after it is committed), to
    /// restart it from the savepoint, e.g. at another parallelism.
    #[arg(long)]
    stop: bool,
    /// How long to wait for the job to take it.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
}

/// `strata stream sql`.
#[derive(Args, Debug)]
pub struct SqlArgs {
    /// A table: NAME=URL[#FIELD=VALUE], JSON lines under a directory/file or a
    /// nats://host:port/STREAM; the optional filter keeps rows whose FIELD is VALUE (e.g.
    /// --table bid=/data/nexmark#type=bid). Repeat for more tables.
    #[arg(long = "table", value_name = "NAME=URL")]
    tables: Vec<String>,
    /// Read the query from this file.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// The query (instead of -f).
    #[arg(value_name = "QUERY")]
    query: Option<String>,
    #[command(flatten)]
    job: JobArgs,
}

/// `strata stream nexmark`.
#[derive(Args, Debug)]
pub struct NexmarkArgs {
    /// The query: q0, q1, q2, q3, q4, q5, q6, q7, q8 or q11.
    #[arg(long)]
    query: String,
    /// Generate this many events while running (no input files).
    #[arg(long, conflicts_with = "input")]
    events: Option<u64>,
    /// Read Nexmark JSON-lines events from the files under this directory or URL (what
    /// `strata gen nexmark` writes; each file is a partition with its own watermark), or
    /// from a NATS JetStream stream, nats://host:port/STREAM (its sequence numbers are the
    /// checkpointed offsets; read up to the last message present at start), or from a TCP
    /// socket, tcp://host:port (one event per line until the peer closes; not replayable,
    /// so a restored job continues with what the socket sends next).
    #[arg(long, value_name = "DIR|URL")]
    input: Option<String>,
    /// Keep watching --input for new files or messages (the job runs until killed).
    #[arg(long)]
    monitor: bool,
    /// --input holds record files written by DFS record append (`strata dfs append`): one
    /// event per record, byte offsets checkpointed; with --monitor, new appends are read
    /// as they come.
    #[arg(long)]
    records: bool,
    /// Generator seed (with --events).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    job: JobArgs,
    /// Generator partitions (with --events).
    #[arg(long, default_value_t = 4)]
    partitions: usize,
}

/// What every streaming job takes: output, checkpoints, parallelism, event time, state.
#[derive(Args, Debug)]
pub struct JobArgs {
    /// Output directory or URL (local, dfs://, s3://), or nats://host:port/SUBJECT to
    /// publish each row as a message (a JetStream stream must capture the subject; rows are
    /// staged under --checkpoint-dir and published once their checkpoint completes, with
    /// deduplicating message ids).
    #[arg(long, value_name = "DIR|URL")]
    out: String,
    /// Checkpoint directory or URL. Without it, output is committed once, at the end.
    #[arg(long, value_name = "DIR")]
    checkpoint_dir: Option<String>,
    /// Time between checkpoints, e.g. 10s, 500ms.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    checkpoint_interval: Duration,
    /// Complete checkpoints to keep.
    #[arg(long, default_value_t = 3)]
    retain: usize,
    /// Resume from the latest complete checkpoint in --checkpoint-dir (from the start if
    /// there is none yet).
    #[arg(long, conflicts_with = "from_savepoint")]
    restore: bool,
    /// Start from a savepoint (`strata stream savepoint --to DIR`) instead of the input's
    /// beginning; needs an empty --checkpoint-dir for this run's checkpoints.
    #[arg(long, value_name = "DIR")]
    from_savepoint: Option<String>,
    /// Tasks per stage [default: 2].
    #[arg(long, default_value_t = 2)]
    parallelism: usize,
    /// Key groups: the most tasks keyed state can be spread over when restoring.
    #[arg(long, default_value_t = 128)]
    max_parallelism: usize,
    /// Bounded out-of-orderness of event time: the watermark trails each partition's
    /// newest event by this much.
    #[arg(long, default_value = "4s", value_parser = parse_duration)]
    out_of_orderness: Duration,
    /// Where keyed state lives: heap (memory) or lsm (an on-disk LSM tree per task, for
    /// state larger than memory). Checkpoints of keyed state are incremental either way.
    #[arg(long, value_enum, default_value_t = Backend::Heap)]
    state_backend: Backend,
    /// Directory for the LSM state [default: system temp dir].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Memory for the LSM state per task (block cache and memtables), e.g. 64m.
    #[arg(long, default_value = "64m")]
    state_memory: strata::common::ByteSize,
    /// Serve Prometheus metrics (records per stage, watermarks and their lag, backpressure,
    /// checkpoint duration and size) on http://ADDR/metrics while the job runs.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
}

/// Starts the metrics endpoint if asked; the runtime serving it lives as long as the
/// returned value.
fn serve_metrics(j: &JobArgs) -> Result<Option<tokio::runtime::Runtime>> {
    let Some(addr) = &j.metrics_addr else {
        return Ok(None);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let bound = rt.block_on(async {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for /metrics"))?;
        let a = l.local_addr()?;
        tokio::spawn(async move {
            let _ = strata::net::admin::serve(l, std::future::pending(), axum::Router::new()).await;
        });
        anyhow::Ok(a)
    })?;
    eprintln!("stream: metrics on http://{bound}/metrics");
    Ok(Some(rt))
}

/// `--state-backend`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// In memory.
    Heap,
    /// On disk (fjall LSM tree).
    Lsm,
}

/// Parses `10s`, `500ms`, `2m`, `1h`, or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; write e.g. 10s, 500ms, 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; use ms, s, m or h")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Runs a streaming command.
pub fn run(cfg: &StrataConfig, cmd: StreamCmd) -> Result<()> {
    match cmd {
        StreamCmd::Nexmark(a) => nexmark_job(cfg, a),
        StreamCmd::Sql(a) => sql_job(cfg, a),
        StreamCmd::Savepoint(a) => {
            let id = strata::stream::checkpoint::trigger_savepoint(
                &a.checkpoint_dir,
                &a.to,
                a.stop,
                &StorageOptions::from_config(&cfg.cluster),
                a.timeout,
            )?;
            println!("savepoint of checkpoint {id} written to {}", a.to);
            Ok(())
        }
    }
}

fn stream_config(cfg: &StrataConfig, j: &JobArgs) -> Result<StreamConfig> {
    if j.restore && j.checkpoint_dir.is_none() {
        bail!("--restore needs --checkpoint-dir (where the checkpoints are)");
    }
    if j.from_savepoint.is_some() && j.checkpoint_dir.is_none() {
        bail!("--from-savepoint needs --checkpoint-dir (an empty one, for this run's checkpoints)");
    }
    Ok(StreamConfig {
        parallelism: j.parallelism,
        max_parallelism: j.max_parallelism,
        checkpoint: j.checkpoint_dir.clone().map(|dir| CheckpointConfig {
            dir,
            interval: j.checkpoint_interval,
            retain: j.retain.max(1),
        }),
        restore: j.restore,
        restore_from: j.from_savepoint.clone(),
        storage: StorageOptions::from_config(&cfg.cluster),
        state_backend: match j.state_backend {
            Backend::Heap => StateBackend::Heap,
            Backend::Lsm => StateBackend::lsm(
                j.state_dir.clone().unwrap_or_else(std::env::temp_dir),
                j.state_memory.bytes(),
            ),
        },
        ..Default::default()
    })
}

fn output(j: &JobArgs) -> nexmark::Output {
    if j.out.starts_with("nats://") {
        let staging = match &j.checkpoint_dir {
            Some(c) => format!("{}/staging", c.trim_end_matches('/')),
            None => std::env::temp_dir()
                .join(format!("strata-staging-{}", std::process::id()))
                .to_string_lossy()
                .to_string(),
        };
        nexmark::Output::JetStream {
            subject: j.out.clone(),
            staging,
        }
    } else {
        nexmark::Output::Files(j.out.clone())
    }
}

fn report(what: &str, stats: &strata::stream::JobStats, out: &str) {
    let secs = stats.elapsed.as_secs_f64().max(1e-9);
    let restored = stats
        .restored_from
        .map(|c| format!(", resumed from checkpoint {c}"))
        .unwrap_or_default();
    eprintln!(
        "{what}: {} events in {:.2} s ({:.0} events/s), {} checkpoints{restored}; output in {out}",
        stats.records_in,
        secs,
        stats.records_in as f64 / secs,
        stats.checkpoints.len(),
    );
}

fn sql_job(cfg: &StrataConfig, a: SqlArgs) -> Result<()> {
    let query = match (&a.file, &a.query) {
        (Some(f), None) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the query file {}", f.display()))?,
        (None, Some(q)) => q.clone(),
        _ => bail!("give the query as an argument or with -f FILE (one of them)"),
    };
    if a.tables.is_empty() {
        bail!("declare the tables the query reads: --table NAME=URL[#FIELD=VALUE]");
    }
    let tables = a
        .tables
        .iter()
        .map(|t| strata::stream::sql::TableSpec::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let env = StreamEnv::new(stream_config(cfg, &a.job)?);
    let _metrics = serve_metrics(&a.job)?;
    strata::stream::sql::build(
        &env,
        query.trim().trim_end_matches(';'),
        &tables,
        a.job.out_of_orderness,
        &output(&a.job),
    )?;
    let stats = env.execute().context("streaming SQL job failed")?;
    report("stream sql", &stats, &a.job.out);
    Ok(())
}

fn nexmark_job(cfg: &StrataConfig, a: NexmarkArgs) -> Result<()> {
    if nexmark::header(&a.query).is_none() {
        bail!(
            "unknown query {:?}; the queries are {}",
            a.query,
            nexmark::QUERIES.join(", ")
        );
    }
    if a.events.is_none() && a.input.is_none() {
        bail!("give --events N (generate) or --input DIR (read event files)");
    }
    if a.partitions == 0 {
        bail!("--partitions must be at least 1");
    }
    let storage = StorageOptions::from_config(&cfg.cluster);
    let env = StreamEnv::new(stream_config(cfg, &a.job)?);
    let _metrics = serve_metrics(&a.job)?;
    let wm = WatermarkStrategy::bounded(a.job.out_of_orderness, |e: &Event| e.ts())
        .with_idleness(Duration::from_secs(5));
    let events = match (&a.input, a.events) {
        (Some(url), _) if url.starts_with("nats://") => {
            let mut src = JetStreamSource::bounded(url, |b: &[u8]| {
                let line = std::str::from_utf8(b).map_err(|e| {
                    strata::stream::StreamError::Invalid(format!("message is not UTF-8: {e}"))
                })?;
                Event::parse(line.trim_end())
                    .map(Some)
                    .map_err(strata::stream::StreamError::Invalid)
            })?;
            if a.monitor {
                src = src.unbounded();
            }
            env.source(src, wm)
        }
        (Some(url), _) if url.starts_with("tcp://") => env.source(
            strata::stream::socket::SocketSource::new(url, |l: &str| {
                Event::parse(l)
                    .map(Some)
                    .map_err(strata::stream::StreamError::Invalid)
            })?,
            wm,
        ),
        (Some(dir), _) if a.records => {
            let src = DfsLogSource::new(dir.clone(), storage, |b: &[u8]| {
                let line = String::from_utf8_lossy(b);
                Event::parse(line.trim_end())
                    .map(Some)
                    .map_err(strata::stream::StreamError::Invalid)
            });
            env.source(if a.monitor { src } else { src.bounded() }, wm)
        }
        (Some(dir), _) => {
            let parse = nexmark::generate::parse_line();
            let mut src = LinesSource::new(dir.clone(), storage, move |l| parse(l));
            if a.monitor {
                src = src.monitor();
            }
            env.source(src, wm)
        }
        (None, Some(n)) => env.source(
            GeneratorSource {
                total: n,
                parts: a.partitions,
                seed: a.seed,
            },
            wm,
        ),
        (None, None) => unreachable!("checked above"),
    };
    nexmark::build_query(&a.query, &events, &output(&a.job))?;
    let stats = env
        .execute()
        .with_context(|| format!("nexmark {} failed", a.query))?;
    report(&format!("nexmark {}", a.query), &stats, &a.job.out);
    Ok(())
}

/// `strata gen nexmark`.
pub fn gen_nexmark(
    cfg: &StrataConfig,
    events: u64,
    seed: u64,
    partitions: usize,
    out: &Path,
) -> Result<()> {
    let storage = StorageOptions::from_config(&cfg.cluster);
    let dir = out.to_string_lossy().to_string();
    if dir.starts_with("nats:/") {
        let url = if dir.starts_with("nats://") {
            dir.clone()
        } else {
            dir.replacen("nats:/", "nats://", 1)
        };
        // A stream is one partition: events in generation order (bounded disorder).
        let events = nexmark::events(events, 1, seed);
        let n = events.len();
        let last = strata::stream::jetstream::publish(
            &url,
            events.into_iter().map(|e| e.to_json().into_bytes()),
        )?;
        eprintln!("published {n} Nexmark events to {url} (last sequence {last})");
        return Ok(());
    }
    let bytes = nexmark::write_events(&dir, &storage, events, partitions, seed)?;
    eprintln!(
        "wrote {events} Nexmark events ({:.1} MB) as {partitions} JSON-lines files under {dir}",
        bytes as f64 / 1e6
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(
            parse_duration("ten")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("3d").unwrap_err().contains("unknown unit"));
    }
}

//! `strata sql` and `strata gen tpch`.

use anyhow::{Context as _, Result, bail};
use arrow::record_batch::RecordBatch;
use clap::{Args, ValueEnum};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use strata_sql::{Engine, Output};

/// Output formats of `strata sql`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// An aligned table.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row (JSON lines).
    Json,
}

/// File formats of `strata gen tpch`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum GenFormat {
    /// Apache Parquet (Snappy).
    Parquet,
    /// CSV with a header row.
    Csv,
}

/// Where tables come from: shared by `strata sql` and `strata sql-server`.
#[derive(Args, Debug)]
pub struct Sources {
    /// A table: NAME=PATH, where PATH is a file, directory or glob of .csv or .parquet files.
    #[arg(long = "table", value_name = "NAME=PATH")]
    tables: Vec<String>,
    /// Keep the tables and views that statements create (CREATE TABLE, INSERT, CREATE
    /// VIEW, ...) in this directory, local or dfs://host:port/dir or s3://bucket/dir: as
    /// Parquet files plus versioned manifests, so that a later `strata sql --db DIR` finds
    /// them. Created when new. Without it they live in memory for this run only.
    #[arg(long, value_name = "DIR")]
    db: Option<String>,
    /// CSV field separator (one character).
    #[arg(long, default_value = ",")]
    csv_delimiter: String,
    /// CSV files have no header row.
    #[arg(long)]
    csv_no_header: bool,
    /// The string that means NULL in CSV files (besides an empty field), e.g. NA or \N.
    #[arg(long, value_name = "STR")]
    csv_null: Option<String>,
}

impl Sources {
    /// Sets the engine's CSV options, opens the database and registers the tables.
    pub fn apply(&self, engine: &mut Engine) -> Result<()> {
        let d = self.csv_delimiter.as_bytes();
        if d.len() != 1 {
            bail!(
                "--csv-delimiter must be one character, got {:?}",
                self.csv_delimiter
            );
        }
        engine.csv.delimiter = d[0];
        engine.csv.header = !self.csv_no_header;
        engine.csv.null = self.csv_null.clone();
        if let Some(db) = &self.db {
            engine
                .open_db(db)
                .with_context(|| format!("cannot open the database at {db}"))?;
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.tables {
            let Some((name, path)) = t.split_once('=') else {
                bail!("--table {t}: expected NAME=PATH");
            };
            if !seen.insert(name.to_lowercase()) {
                bail!(
                    "--table {name}= is given twice; give each table one path (a directory or glob reads many files)"
                );
            }
            engine
                .register(name, path)
                .with_context(|| format!("cannot register table {name}"))?;
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct SqlArgs {
    #[command(flatten)]
    sources: Sources,
    /// How to print results.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Run each statement of this file.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Run the queries on the cluster whose master is at HOST:PORT: this process plans and
    /// gathers results (the driver), executors on the workers run the stages. Needs a QUERY
    /// or -f FILE; tables must be visible to every worker (dfs://, s3:// or shared paths).
    /// `--master local` runs the same distributed plan on this process's dataflow engine.
    #[arg(long, value_name = "HOST:PORT")]
    master: Option<String>,
    /// With --master: executors to start [default: one per live worker].
    #[arg(long, value_name = "N", requires = "master")]
    executors: Option<u32>,
    /// With --master: tasks per scan, and buckets per hash exchange [default:
    /// dataflow.default_partitions, twice the driver's threads].
    #[arg(long, value_name = "N", requires = "master")]
    partitions: Option<usize>,
    /// With --master: the largest join build side sent whole to every task (broadcast),
    /// e.g. 16m; a larger one is hash-partitioned with the probe side [default: 16m]. 0
    /// partitions every join that can be.
    #[arg(long, value_name = "SIZE", requires = "master")]
    broadcast_limit: Option<strata::common::ByteSize>,
    /// The query.
    #[arg(value_name = "QUERY")]
    query: Option<String>,
}

fn print(out: Output, format: Format) -> Result<()> {
    match out {
        Output::Text(t) | Output::Tag(t) => {
            outln!("{}", t.trim_end());
        }
        Output::Rows(batches) => match format {
            Format::Table => {
                let opts = arrow::util::display::FormatOptions::default().with_null("NULL");
                let s = arrow::util::pretty::pretty_format_batches_with_options(&batches, &opts)?;
                outln!("{s}");
            }
            Format::Json => {
                for b in &batches {
                    for line in strata_sql::json_lines(b)? {
                        outln!("{line}");
                    }
                }
            }
            Format::Csv => {
                let mut buf = Vec::new();
                {
                    let mut w = arrow::csv::WriterBuilder::new()
                        .with_header(true)
                        .build(&mut buf);
                    for b in &batches {
                        w.write(b)?;
                    }
                    if batches.iter().all(|b: &RecordBatch| b.num_rows() == 0)
                        && let Some(b) = batches.first()
                    {
                        let _ = b;
                    }
                }
                let text = String::from_utf8_lossy(&buf);
                for line in text.lines() {
                    outln!("{line}");
                }
            }
        },
    }
    Ok(())
}

/// Runs `strata sql`; `threads`, `memory` and `spill_dir` come from the global flags.
pub fn run(
    args: SqlArgs,
    cfg: &strata::StrataConfig,
    threads: Option<usize>,
    memory: Option<usize>,
    spill_dir: Option<PathBuf>,
) -> Result<()> {
    if threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    if args.partitions == Some(0) {
        bail!("--partitions must be at least 1");
    }
    // `dfs:///` tables live on the cluster's master when --master names one.
    let mut cluster_cfg = cfg.cluster.clone();
    if let Some(m) = args.master.as_ref().filter(|m| *m != "local") {
        cluster_cfg.master = m.clone();
    }
    strata_sql::source::configure(strata_sql::source::StorageOptions::from_config(
        &cluster_cfg,
    ));
    // Only one runtime: the cluster context's, a sized one when the flags ask, else the
    // process's default.
    let cluster = match &args.master {
        Some(m) => Some(cluster_context(
            &args,
            m,
            cfg,
            threads,
            memory,
            spill_dir.clone(),
        )?),
        None => None,
    };
    let driver = cluster.as_ref().is_none_or(|c| c.is_driver());
    let mut engine = if let Some(ctx) = &cluster {
        let runtime = ctx.runtime();
        Engine::with_exec(strata_sql::exec::ExecOptions {
            threads: runtime.cpu().threads(),
            runtime,
            cancel: Default::default(),
        })
    } else {
        embedded_engine(threads, memory, spill_dir)?
    };
    args.sources.apply(&mut engine)?;
    if let Some(ctx) = cluster {
        let mut d = strata_sql::distributed::Distributed::new(ctx, args.partitions);
        if let Some(b) = args.broadcast_limit {
            d = d.with_broadcast_limit(b.0);
        }
        engine.on_cluster(d);
    }
    // Executors run the same statements (SPMD) but only the driver prints.
    let print = |o: Output, f: Format| if driver { print(o, f) } else { Ok(()) };
    if let Some(f) = &args.file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        // Statements run in order and stop at the first error, which is the exit status.
        let mut failed: Option<anyhow::Error> = None;
        engine.execute_script(&text, |r| {
            match r
                .map_err(anyhow::Error::from)
                .and_then(|o| print(o, args.format))
            {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })?;
        return failed.map_or(Ok(()), Err);
    }
    if let Some(q) = &args.query {
        return print(engine.execute(q)?, args.format);
    }
    let mut state = Shell {
        format: args.format,
        timer: false,
        interactive: std::io::IsTerminal::is_terminal(&std::io::stdin()),
    };
    if state.interactive {
        return shell(&engine, state);
    }
    // Statements piped in: each ends with `;`; dot commands take one line.
    let stdin = std::io::stdin();
    let mut buf = String::new();
    for line in stdin.lock().lines() {
        let line = line?;
        if buf.trim().is_empty() && line.trim_start().starts_with('.') {
            buf.clear();
            match dot(line.trim(), &engine, &mut state) {
                Ok(Dot::Quit) => break,
                Ok(Dot::Continue) => {}
                Err(e) => eprintln!("error: {e}"),
            }
            continue;
        }
        buf.push_str(&line);
        buf.push('\n');
        if line.trim_end().ends_with(';') {
            state.run(&engine, buf.trim().trim_end_matches(';'))?;
            buf.clear();
        }
    }
    Ok(())
}

/// An engine for this process: over a runtime of its own when the flags size one, else
/// over the process's default runtime.
pub fn embedded_engine(
    threads: Option<usize>,
    memory: Option<usize>,
    spill_dir: Option<PathBuf>,
) -> Result<Engine> {
    if memory.is_some() || spill_dir.is_some() || threads.is_some() {
        return Ok(Engine::with_exec(strata_sql::exec::ExecOptions::sized(
            memory.map(|m| m as u64),
            threads,
            spill_dir,
        )?));
    }
    Ok(Engine::new())
}

/// The dataflow context of a `strata sql --master` application: the driver here, or
/// (started by a worker with the same arguments) an executor.
fn cluster_context(
    args: &SqlArgs,
    master: &str,
    cfg: &strata::StrataConfig,
    threads: Option<usize>,
    memory: Option<usize>,
    spill_dir: Option<PathBuf>,
) -> Result<strata::Context> {
    if args.query.is_none() && args.file.is_none() {
        bail!(
            "--master runs a QUERY or the statements of -f FILE on the cluster; the \
             interactive shell runs embedded (leave out --master)"
        );
    }
    let mut cfg = cfg.clone();
    if master != "local" {
        cfg.cluster.master = master.to_string();
    }
    if let Some(t) = threads {
        cfg.dataflow.threads = t;
        cfg.dataflow.default_partitions = 2 * t;
    }
    if let Some(m) = memory {
        cfg.dataflow.memory = strata::common::ByteSize(m as u64);
    }
    if spill_dir.is_some() {
        cfg.dataflow.local_dir = spill_dir;
    }
    cfg.validate()?;
    if master == "local" {
        // The distributed plan on this process's dataflow engine (Spark's `local`).
        return Ok(strata::Context::launch(cfg, &strata::Launch::Embedded)?);
    }
    let launch = strata::Launch::Cluster(strata::ClusterLaunch {
        master: master.to_string(),
        executors: args.executors.unwrap_or(0),
        cores: 0,
        name: "strata sql".into(),
        program: None,
        args: std::env::args().skip(1).collect(),
    });
    Ok(strata::Context::launch(cfg, &launch)?)
}

/// The interactive shell: line editing, and history kept in `~/.strata_sql_history`.
fn shell(engine: &Engine, mut state: Shell) -> Result<()> {
    use rustyline::error::ReadlineError;
    let mut rl = rustyline::DefaultEditor::new()?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".strata_sql_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    eprintln!(
        "Strata SQL. End statements with ';'. .help lists the dot commands; Ctrl-D quits; \
         arrows recall history."
    );
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() {
            "strata> "
        } else {
            "   ...> "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                if buf.trim().is_empty() && line.trim_start().starts_with('.') {
                    buf.clear();
                    let _ = rl.add_history_entry(line.trim());
                    match dot(line.trim(), engine, &mut state) {
                        Ok(Dot::Quit) => break,
                        Ok(Dot::Continue) => {}
                        Err(e) => eprintln!("error: {e}"),
                    }
                    continue;
                }
                buf.push_str(&line);
                buf.push('\n');
                if line.trim_end().ends_with(';') {
                    let stmt = buf.trim().to_string();
                    let _ = rl.add_history_entry(stmt.as_str());
                    state.run(engine, stmt.trim_end_matches(';'))?;
                    buf.clear();
                }
            }
            Err(ReadlineError::Interrupted) => buf.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(())
}

/// Settings the shell's dot commands change.
struct Shell {
    format: Format,
    timer: bool,
    /// At a terminal: row counts follow each result.
    interactive: bool,
}

impl Shell {
    /// Runs one statement, printing its result or its error (the shell goes on).
    fn run(&self, engine: &Engine, stmt: &str) -> Result<()> {
        let start = std::time::Instant::now();
        match engine.execute(stmt) {
            Ok(out) => {
                let rows = match &out {
                    Output::Rows(b) => Some(b.iter().map(|b| b.num_rows()).sum::<usize>()),
                    Output::Text(_) | Output::Tag(_) => None,
                };
                print(out, self.format)?;
                if let (Some(n), Format::Table, true) = (rows, self.format, self.interactive) {
                    eprintln!("({n} row{})", if n == 1 { "" } else { "s" });
                }
            }
            Err(e) => eprintln!("error: {e}"),
        }
        if self.timer {
            eprintln!("Run Time: {:.3} s", start.elapsed().as_secs_f64());
        }
        Ok(())
    }
}

enum Dot {
    Continue,
    Quit,
}

const DOT_HELP: &str = "\
.tables            list the tables (also: SHOW TABLES;)
.schema [NAME]     the columns and types of a table, or of all (also: DESCRIBE NAME;)
.mode table|csv|json
                   how results print
.timer on|off      print each statement's run time
.help              this list
.quit              leave (also .exit, Ctrl-D)";

/// A shell dot command (one line, no `;`).
fn dot(line: &str, engine: &Engine, state: &mut Shell) -> Result<Dot> {
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or_default();
    let arg = words.next();
    match (cmd, arg) {
        (".quit" | ".exit", _) => return Ok(Dot::Quit),
        (".help", _) => eprintln!("{DOT_HELP}"),
        (".tables", _) => {
            for (name, _) in engine.tables() {
                outln!("{name}");
            }
        }
        (".schema", name) => {
            for (t, schema) in engine.tables() {
                if name.is_some_and(|n| !n.eq_ignore_ascii_case(&t)) {
                    continue;
                }
                let cols: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| format!("{} {}", f.name(), strata_sql::sql_type_name(f.data_type())))
                    .collect();
                outln!("CREATE TABLE {t} ({});", cols.join(", "));
            }
        }
        (".mode", Some(m)) => {
            state.format = match m {
                "table" | "box" | "duckbox" => Format::Table,
                "csv" => Format::Csv,
                "json" | "jsonlines" => Format::Json,
                other => bail!(".mode {other}: expected table, csv or json"),
            }
        }
        (".timer", Some("on")) => state.timer = true,
        (".timer", Some("off")) => state.timer = false,
        _ => bail!("unknown or incomplete command {line}; .help lists the commands"),
    }
    Ok(Dot::Continue)
}

pub fn gen_tpch(sf: f64, format: GenFormat, out: &Path, overwrite: bool) -> Result<()> {
    if out.exists() {
        if overwrite {
            super::outputs::check_not_cwd(out)?;
            std::fs::remove_dir_all(out)
                .with_context(|| format!("cannot remove {}", out.display()))?;
        } else if std::fs::read_dir(out)?.next().is_some() {
            bail!("{} exists and is not empty; use --overwrite", out.display());
        }
    }
    let start = std::time::Instant::now();
    let f = match format {
        GenFormat::Parquet => strata_sql::tpch::Format::Parquet,
        GenFormat::Csv => strata_sql::tpch::Format::Csv,
    };
    let totals = strata_sql::tpch::generate_all(sf, f, out)?;
    for (t, rows) in totals {
        eprintln!("{t:>9}: {rows} rows");
    }
    eprintln!(
        "gen tpch: SF {sf} in {:.2}s -> {}",
        start.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

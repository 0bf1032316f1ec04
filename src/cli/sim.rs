//! `strata sim`: replay a job trace on a simulated cluster through scheduling policies, and
//! `strata gen dl-trace`: a synthetic trace shaped like Philly's.

use anyhow::{Context as _, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use strata::common::ByteSize;
use strata_sched::policy::{self, FitsCluster};
use strata_sched::sim::{self, Outcome, SUMMARY_HEADER, SimConfig, Summary};
use strata_sched::trace::{self, Format, synth};
use strata_sched::{Resources, Trace};

/// `strata sim` arguments.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// The trace to replay.
    #[arg(long, value_name = "FILE")]
    trace: PathBuf,
    /// Its format: philly (cluster_job_log JSON), alibaba (openb_pod_list CSV or the PAI task
    /// table) or csv (job_id,submit_time,gpus,duration[,cpus,tenant,mem_mib]) [default:
    /// philly for .json, else told from the first line].
    #[arg(long, value_name = "FORMAT")]
    trace_format: Option<Format>,
    /// Nodes in the simulated cluster (all alike).
    #[arg(long, value_name = "N")]
    nodes: u32,
    /// GPUs on each node.
    #[arg(long, default_value_t = 8, value_name = "G")]
    gpus_per_node: u32,
    /// CPU cores on each node.
    #[arg(long, default_value_t = 64, value_name = "C")]
    cpus_per_node: u32,
    /// Memory on each node.
    #[arg(long, default_value = "1TiB", value_name = "SIZE")]
    mem_per_node: ByteSize,
    /// Scheduling policies, comma-separated, each run on the same trace (in parallel):
    /// fifo, sjf, srtf, las, tiresias, drf, themis, gandiva-fair; `all` for every one.
    #[arg(long, default_value = "fifo", value_name = "NAME[,NAME...]")]
    policy: String,
    /// Placement: consolidated (pack: fewest nodes, best fit) or scattered (spread: emptiest
    /// node first).
    #[arg(long, default_value = "consolidated", value_name = "NAME")]
    placement: String,
    /// Seconds between rounds of the time-sharing policies (las, tiresias, themis,
    /// gandiva-fair).
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    round: f64,
    /// Directory for per-job CSVs (jobs-POLICY.csv), summary.csv and the JCT CDF plot
    /// (jct_cdf.svg).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Runs `strata sim`: stdout is CSV (`policy,jobs,avg_jct,p99_jct,makespan,utilization`),
/// one row per policy; the wider table and notes go to stderr.
pub fn run(args: SimArgs) -> Result<()> {
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if args.round.is_nan() || args.round <= 0.0 {
        bail!("--round must be a positive number of seconds");
    }
    let names: Vec<String> = if args.policy == "all" {
        policy::POLICIES.iter().map(|s| s.to_string()).collect()
    } else {
        args.policy
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    };
    // Check every name before simulating anything.
    for name in &names {
        policy::by_name(name, args.round).map_err(anyhow::Error::msg)?;
    }
    policy::placement_by_name(&args.placement).map_err(anyhow::Error::msg)?;
    let trace = trace::read(&args.trace, args.trace_format)?;
    if trace.jobs.is_empty() {
        bail!(
            "trace {} has no jobs to replay{}",
            args.trace.display(),
            skipped_note(&trace)
        );
    }
    if trace.skipped > 0 {
        eprintln!("note: {}", skipped_note(&trace).trim_start_matches(": "));
    }
    let config = SimConfig {
        nodes: args.nodes,
        per_node: Resources::new(
            f64::from(args.gpus_per_node),
            f64::from(args.cpus_per_node),
            args.mem_per_node.0 >> 20,
        ),
    };
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| {
                let (trace, config, placement, round) =
                    (&trace, &config, &args.placement, args.round);
                s.spawn(move || {
                    let mut p = policy::by_name(name, round).expect("checked above");
                    let mut pl = policy::placement_by_name(placement).expect("checked above");
                    sim::simulate(trace, config, p.as_mut(), pl.as_mut(), &mut FitsCluster)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a simulation panicked"))
            .collect()
    });
    let summaries: Vec<Summary> = outcomes.iter().map(Summary::of).collect();
    println!("{SUMMARY_HEADER}");
    for s in &summaries {
        println!("{}", s.csv_row());
    }
    if let Some(rejected) = outcomes
        .first()
        .map(|o| &o.rejected)
        .filter(|r| !r.is_empty())
    {
        eprintln!(
            "note: {} jobs refused, e.g. {}",
            rejected.len(),
            rejected[0].1
        );
    }
    eprint!("{}", table(&summaries, &trace, &config));
    if let Some(dir) = &args.out {
        write_outputs(dir, &outcomes, &summaries, &args)?;
        eprintln!(
            "wrote per-job records, summary.csv and jct_cdf.svg to {}",
            dir.display()
        );
    }
    Ok(())
}

fn skipped_note(trace: &Trace) -> String {
    format!(
        ": {} records skipped (first: {})",
        trace.skipped,
        trace.skip_reason.as_deref().unwrap_or("-")
    )
}

fn table(rows: &[Summary], trace: &Trace, config: &SimConfig) -> String {
    let mut out = format!(
        "{} jobs on {} nodes × {}\n{:<13} {:>6} {:>11} {:>11} {:>11} {:>6} {:>10} {:>7} {:>7} {:>8}\n",
        trace.jobs.len(),
        config.nodes,
        config.per_node,
        "policy",
        "jobs",
        "avg JCT h",
        "p99 JCT h",
        "makespan h",
        "util",
        "avg wait h",
        "avg ρ",
        "max ρ",
        "preempt"
    );
    for s in rows {
        out.push_str(&format!(
            "{:<13} {:>6} {:>11.2} {:>11.2} {:>11.1} {:>6.3} {:>10.2} {:>7.2} {:>7.1} {:>8}\n",
            s.policy,
            s.jobs,
            s.avg_jct / 3600.0,
            s.p99_jct / 3600.0,
            s.makespan / 3600.0,
            s.utilization,
            s.avg_queue / 3600.0,
            s.avg_rho,
            s.max_rho,
            s.preemptions
        ));
    }
    out
}

fn write_outputs(dir: &Path, outcomes: &[Outcome], rows: &[Summary], args: &SimArgs) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    for o in outcomes {
        write(&format!("jobs-{}.csv", o.policy), &sim::jobs_csv(o))?;
    }
    write("summary.csv", &sim::summary_table(rows))?;
    let title = format!(
        "JCT CDF: {} on {} nodes ({})",
        args.trace
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        args.nodes,
        args.placement
    );
    let svg = sim::jct_cdf_svg(outcomes, &title).map_err(anyhow::Error::msg)?;
    write("jct_cdf.svg", &svg)
}

/// `strata gen dl-trace`.
pub fn gen_trace(config: &synth::SynthConfig, out: &Path) -> Result<()> {
    if config.jobs_per_hour <= 0.0 {
        bail!("--jobs-per-hour must be positive");
    }
    let trace = synth::generate(config);
    std::fs::write(out, synth::to_csv(&trace))
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {} jobs to {}", trace.jobs.len(), out.display());
    Ok(())
}

//! `strata train ...`: training models (Strata Train).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use strata::common::StrataConfig;
use strata::storage::StorageOptions;
use strata::train::launch::{self, EXIT_PEER_FAILED, EXIT_USAGE, LaunchSpec, env};
use strata::train::pipeline::{self, Schedule};
use strata::train::trainer::{Event, TrainConfig};
use strata::train::{TrainError, sample};

/// Training.
#[derive(Subcommand, Debug)]
pub enum TrainCmd {
    /// Train a character-level GPT on a text file or directory (e.g. data/shakespeare).
    /// Prints `step<TAB>loss` per step on stdout (the global batch's mean cross-entropy)
    /// and nothing else; writes model.safetensors, config.json and loss.csv under --out.
    /// With --workers K, K data-parallel ranks (processes) split each global batch and
    /// average gradients by bucketed all-reduce overlapped with backward; if a rank dies,
    /// the others save a just-in-time checkpoint and fresh ranks resume from it.
    Gpt(Box<GptArgs>),
    /// Generate text from a model trained by `strata train gpt`.
    Sample(SampleArgs),
    /// Train a multi-layer perceptron classifier on CSV rows (features, then the class
    /// label), by default scikit-learn's handwritten digits (8x8 images) in data/digits.
    /// Prints `step<TAB>loss` per step; reports train and test accuracy on stderr and in
    /// OUT/metrics.json; writes model.safetensors and loss.csv under --out.
    Mlp(MlpArgs),
}

/// `strata train mlp`.
#[derive(Args, Debug)]
pub struct MlpArgs {
    /// CSV file (optionally .gz): numeric features, the class number last.
    #[arg(long, default_value = "data/digits/digits.csv.gz")]
    data: String,
    /// Hidden layer widths, comma-separated.
    #[arg(long, default_value = "128", value_delimiter = ',')]
    hidden: Vec<usize>,
    /// Optimizer steps (mini-batches).
    #[arg(long, default_value_t = 300)]
    steps: u64,
    /// Rows per mini-batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Peak learning rate (AdamW, warm-up and cosine decay).
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Seed for the split, the weights and the batches.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fraction of rows held out for the test accuracy.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Output directory (local path).
    #[arg(long)]
    out: PathBuf,
}

/// `strata train gpt`.
#[derive(Args, Debug, Clone)]
pub struct GptArgs {
    /// Training text: a file or a directory of files (local, dfs://, s3://).
    #[arg(long, default_value = "data/shakespeare")]
    data: String,
    /// Transformer blocks.
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// Attention heads per block (must divide --dim).
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Embedding width.
    #[arg(long, default_value_t = 64)]
    dim: usize,
    /// Context length in characters.
    #[arg(long, default_value_t = 64)]
    context: usize,
    /// Global batch: sequences per step over all ranks and micro-batches.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Optimizer steps.
    #[arg(long, default_value_t = 200)]
    steps: u64,
    /// Peak learning rate (AdamW; linear warm-up, cosine decay to a tenth).
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Warm-up steps [default: steps/10, at most 100].
    #[arg(long)]
    warmup: Option<u64>,
    /// AdamW weight decay (matrices only).
    #[arg(long, default_value_t = 0.1)]
    weight_decay: f64,
    /// Clip gradients to this global L2 norm (0 = off).
    #[arg(long, default_value_t = 1.0)]
    grad_clip: f64,
    /// Micro-batches per step (gradient accumulation; communication only on the last).
    #[arg(long, default_value_t = 1)]
    accumulate: usize,
    /// DDP gradient bucket size in MiB.
    #[arg(long, default_value_t = 1.0)]
    bucket_mb: f64,
    /// Seed for the initial weights and the batches.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (local, dfs://, s3://).
    #[arg(long)]
    out: String,
    /// Evaluate the validation loss every N steps (0 = at the end only); reported on stderr
    /// and in eval.csv.
    #[arg(long, default_value_t = 0)]
    eval_every: u64,
    /// Data-parallel ranks on this machine (processes).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Run the ranks on a Strata cluster's workers (not built yet: use --workers).
    #[arg(long, value_name = "HOST:PORT")]
    master: Option<String>,
    /// Parallelism across --workers: data (DDP: each rank a replica) or pipeline (each rank
    /// a stage of consecutive layers; --stages ranks).
    #[arg(long, default_value = "data")]
    parallel: String,
    /// Pipeline stages (ranks) with --parallel pipeline; the segments (embeddings, blocks,
    /// head) are split to balance their profiled times.
    #[arg(long)]
    stages: Option<usize>,
    /// Pipeline schedule: gpipe (all forwards, then all backwards) or 1f1b (one forward, one
    /// backward; fewer activations held). Both flush every step.
    #[arg(long, default_value = "1f1b")]
    schedule: String,
    /// Micro-batches per step with --parallel pipeline (--batch must be a multiple).
    #[arg(long, default_value_t = 4)]
    micro_batches: usize,
    /// Checkpoint directory (local, dfs://, s3://) [default with --workers > 1:
    /// OUT/checkpoints, for just-in-time checkpoints].
    #[arg(long)]
    checkpoint_dir: Option<String>,
    /// Write a checkpoint every N steps (0 = none; just-in-time ones still happen).
    #[arg(long, default_value_t = 0)]
    checkpoint_every: u64,
    /// Resume from the newest checkpoint in --checkpoint-dir.
    #[arg(long)]
    resume: bool,
    /// Recoveries after rank failures before giving up (with --workers).
    #[arg(long, default_value_t = 3)]
    max_restarts: usize,
    /// Do not save just-in-time checkpoints when a rank dies: recover from the last
    /// periodic checkpoint only (to measure what just-in-time checkpoints save).
    #[arg(long)]
    no_jit: bool,
    /// Recover from a rank's death in memory (Gemini): survivors keep their state and hand
    /// it to one replacement rank over the network; no checkpoint is written or read.
    /// Falls back to restarting every rank from --checkpoint-dir when that is impossible.
    #[arg(long)]
    in_memory_checkpoints: bool,
    /// Seconds a collective waits for a live peer before failing the step.
    #[arg(long, default_value_t = 300)]
    collective_timeout: u64,
}

/// `strata train sample`.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// The --out directory of `strata train gpt`.
    #[arg(long)]
    model: String,
    /// Text to continue.
    #[arg(long, default_value = "\n")]
    prompt: String,
    /// Characters to generate.
    #[arg(long, default_value_t = 200)]
    tokens: usize,
    /// Sampling temperature (0 = always the likeliest character).
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Seed for sampling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn run(cfg: &StrataConfig, cmd: TrainCmd) -> Result<()> {
    let opts = StorageOptions::from_config(&cfg.cluster);
    match cmd {
        TrainCmd::Sample(a) => {
            let text = sample::sample(&a.model, &a.prompt, a.tokens, a.temperature, a.seed, &opts)?;
            println!("{}{}", a.prompt, text);
            Ok(())
        }
        TrainCmd::Gpt(a) => gpt(&opts, *a),
        TrainCmd::Mlp(a) => mlp(a),
    }
}

fn mlp(a: MlpArgs) -> Result<()> {
    use strata::train::mlp::{self, Labelled, Mlp};
    if !(0.0..1.0).contains(&a.test_fraction) || a.test_fraction == 0.0 {
        bail!("--test-fraction must be between 0 and 1");
    }
    if a.hidden.contains(&0) {
        bail!("--hidden widths must be at least 1");
    }
    let device = candle_device()?;
    let data = Labelled::load_csv(&a.data)?;
    let (train, test) = data.split(a.test_fraction, a.seed);
    let model = Mlp::new(data.x[0].len(), &a.hidden, data.classes, a.seed, &device)?;
    let mut losses = Vec::new();
    let sched = mlp::Schedule {
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
    };
    mlp::train(&model, &train, &sched, &device, &mut |s, l| {
        println!("{s}\t{l:.6}");
        losses.push((s, l));
    })?;
    let (tr, te) = (
        model.accuracy(&train, &device)?,
        model.accuracy(&test, &device)?,
    );
    eprintln!(
        "strata train: {} rows ({} train, {} test), {} classes: train accuracy {tr:.4}, test accuracy {te:.4}",
        data.x.len(),
        train.x.len(),
        test.x.len(),
        data.classes
    );
    std::fs::create_dir_all(&a.out)?;
    let tensors: Vec<(&str, &strata::train::candle::Tensor)> = model
        .params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_tensor()))
        .collect();
    let bytes = strata::train::safetensors::serialize(tensors, None)?;
    std::fs::write(a.out.join("model.safetensors"), bytes)?;
    let metrics = format!(
        "{{\"train_accuracy\": {tr}, \"test_accuracy\": {te}, \"train_rows\": {}, \"test_rows\": {}}}\n",
        train.x.len(),
        test.x.len()
    );
    std::fs::write(a.out.join("metrics.json"), metrics)?;
    let mut csv = String::from("step,loss\n");
    for (s, l) in &losses {
        csv.push_str(&format!("{s},{l}\n"));
    }
    std::fs::write(a.out.join("loss.csv"), csv)?;
    Ok(())
}

fn train_config(a: &GptArgs) -> TrainConfig {
    let ck = a.checkpoint_dir.clone().or_else(|| {
        (a.workers > 1).then(|| format!("{}/checkpoints", a.out.trim_end_matches('/')))
    });
    TrainConfig {
        data: a.data.clone(),
        layers: a.layers,
        heads: a.heads,
        dim: a.dim,
        context: a.context,
        batch: a.batch,
        steps: a.steps,
        lr: a.lr,
        warmup: a.warmup.unwrap_or((a.steps / 10).clamp(1, 100)),
        weight_decay: a.weight_decay,
        grad_clip: a.grad_clip,
        accumulate: a.accumulate,
        bucket_bytes: (a.bucket_mb * 1048576.0).max(1.0) as usize,
        seed: a.seed,
        out: a.out.clone(),
        eval_every: a.eval_every,
        eval_batches: 8,
        checkpoint_dir: ck,
        checkpoint_every: a.checkpoint_every,
        retain: 2,
        resume: a.resume || std::env::var_os(env::RESUME).is_some(),
        jit: !a.no_jit,
    }
}

fn gpt(opts: &StorageOptions, a: GptArgs) -> Result<()> {
    if a.master.is_some() {
        bail!(
            "--master: running training ranks on cluster workers is not built yet; use \
             --workers K to run K ranks on this machine"
        );
    }
    let mut a = a;
    match a.parallel.as_str() {
        "data" => {}
        "pipeline" => {
            let stages = a.stages.unwrap_or(a.workers.max(2));
            if a.workers > 1 && a.workers != stages {
                bail!(
                    "--parallel pipeline runs one rank per stage: --workers {} but --stages {stages}",
                    a.workers
                );
            }
            if a.checkpoint_every > 0 || a.resume {
                bail!(
                    "checkpoints are not built for --parallel pipeline yet; drop --checkpoint-every/--resume"
                );
            }
            a.schedule.parse::<Schedule>().map_err(anyhow::Error::msg)?;
            a.workers = stages;
        }
        other => bail!("--parallel {other}: use data or pipeline"),
    }
    if a.workers == 0 {
        bail!("--workers must be at least 1");
    }
    let tc = train_config(&a);
    if let Ok(rank) = std::env::var(env::RANK) {
        return rank_main(opts, &tc, &a, rank.parse()?);
    }
    let mut losses = Vec::new();
    let mut evals = Vec::new();
    let mut clock = StepClock::default();
    if a.workers == 1 {
        let mut on_event = |e: Event| match e {
            Event::Step(s, l) => {
                println!("{s}\t{l:.6}");
                clock.tick();
                losses.push((s, l));
            }
            Event::Eval(s, l) => {
                eprintln!("strata train: step {s}: validation loss {l:.4}");
                evals.push((s, l));
            }
            Event::Resumed(s) => eprintln!("strata train: resumed after step {s}"),
            Event::Checkpoint(s, k) => eprintln!("strata train: {k} checkpoint after step {s}"),
        };
        strata::train::trainer::run_rank(&tc, 0, None, opts, &candle_device()?, &mut on_event)?;
    } else {
        let exe = std::env::current_exe()?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let log_dir = (!strata::storage::is_url(&a.out)).then(|| PathBuf::from(&a.out));
        let spec = LaunchSpec {
            exe,
            args: std::env::args_os().skip(1).collect(),
            workers: a.workers,
            max_restarts: a.max_restarts,
            threads_per_rank: (cores / a.workers).max(1),
            log_dir,
            grace: Duration::from_secs(60),
            in_memory: a.in_memory_checkpoints,
        };
        let report = launch::launch_local(&spec, &mut |s, l| {
            println!("{s}\t{l:.6}");
            clock.tick();
        })?;
        losses = report.losses;
        evals = report.evals;
        for (s, l) in &evals {
            eprintln!("strata train: step {s}: validation loss {l:.4}");
        }
    }
    clock.report();
    write_csv(opts, &a.out, "loss.csv", "step,loss", &losses)?;
    write_csv(opts, &a.out, "eval.csv", "step,val_loss", &evals)?;
    Ok(())
}

/// Wall time between reported steps; the mean after a warm-up of 10 goes to stderr (what
/// bench/train.sh compares with PyTorch).
#[derive(Default)]
struct StepClock {
    last: Option<std::time::Instant>,
    gaps: Vec<f64>,
}

impl StepClock {
    fn tick(&mut self) {
        let now = std::time::Instant::now();
        if let Some(t) = self.last {
            self.gaps.push((now - t).as_secs_f64() * 1e3);
        }
        self.last = Some(now);
    }

    fn report(&self) {
        let tail = &self.gaps[self.gaps.len().min(10)..];
        if !tail.is_empty() {
            let mean = tail.iter().sum::<f64>() / tail.len() as f64;
            eprintln!(
                "strata train: mean step {mean:.2} ms over {} steps after the first 10",
                tail.len()
            );
        }
    }
}

fn write_csv(
    opts: &StorageOptions,
    out: &str,
    name: &str,
    header: &str,
    rows: &[(u64, f64)],
) -> Result<()> {
    let mut s = format!("{header}\n");
    for (a, b) in rows {
        s.push_str(&format!("{a},{b}\n"));
    }
    let (store, path) = strata::storage::resolve(out, opts)?;
    store.put(
        &format!("{}/{name}", path.trim_end_matches('/')),
        s.as_bytes(),
    )?;
    Ok(())
}

fn candle_device() -> Result<strata::train::candle::Device> {
    Ok(strata::train::candle::Device::Cpu)
}

/// Joins a group: with no `master` this rank is the root, binds a free loopback port and
/// prints `#rendezvous ADDR` for the launcher; otherwise it connects to `master`.
fn form(
    rank: usize,
    world: usize,
    master: Option<&str>,
    job: &str,
    cfg: &strata::collective::Config,
) -> Result<strata::collective::Communicator, TrainError> {
    use std::io::Write;
    use strata::collective::Communicator;
    let res = match master {
        Some(m) => Communicator::init(rank, world, m, job, cfg.clone()),
        None => {
            let io = |e: std::io::Error| TrainError::Usage(format!("rendezvous: {e}"));
            let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io)?;
            println!("#rendezvous {}", l.local_addr().map_err(io)?);
            let _ = std::io::stdout().flush();
            Communicator::init_root(l, world, job, cfg.clone())
        }
    };
    res.map_err(TrainError::Collective)
}

/// One rank of a `--workers` job (started by the launcher with its rank in the
/// environment). Exits with 75 after a peer's death, 2 on bad arguments.
fn rank_main(opts: &StorageOptions, tc: &TrainConfig, a: &GptArgs, rank: usize) -> Result<()> {
    use std::io::Write;
    let world: usize = std::env::var(env::WORLD)?.parse()?;
    let job = std::env::var(env::JOB).unwrap_or_default();
    let ccfg = strata::collective::Config {
        timeout: Duration::from_secs(a.collective_timeout),
        ..Default::default()
    };
    let master = (rank != 0)
        .then(|| std::env::var(env::MASTER))
        .transpose()?;
    let comm = form(rank, world, master.as_deref(), &job, &ccfg)?;
    let mut on_event = |e: Event| {
        if rank != 0 {
            return;
        }
        match e {
            Event::Step(s, l) => println!("{s}\t{l:.6}"),
            Event::Eval(s, l) => println!("#eval {s}\t{l}"),
            Event::Resumed(s) => println!("#resumed {s}"),
            Event::Checkpoint(s, k) => println!("#checkpoint {s} {k}"),
        }
        let _ = std::io::stdout().flush();
    };
    if a.parallel == "pipeline" {
        let kind: Schedule = a.schedule.parse().map_err(anyhow::Error::msg)?;
        let res = pipeline::run_stage(
            tc,
            kind,
            a.micro_batches,
            rank,
            comm,
            opts,
            &candle_device()?,
            &mut on_event,
        );
        return match res {
            Ok((_, report)) => {
                if rank == 0 {
                    let ideal = (report.partition.len() - 1) as f64
                        / (a.micro_batches + report.partition.len() - 1) as f64;
                    let mean =
                        report.bubble.iter().sum::<f64>() / report.bubble.len().max(1) as f64;
                    eprintln!(
                        "strata train: pipeline {} with {} micro-batches: stages (segments) {:?}, \
                         bubble (waiting / step time) per stage {:?}, mean {mean:.3} (ideal {ideal:.3}), \
                         micro-batches held at most {:?}",
                        a.schedule,
                        a.micro_batches,
                        report.partition,
                        report
                            .bubble
                            .iter()
                            .map(|b| format!("{b:.3}"))
                            .collect::<Vec<_>>(),
                        report.peak_held
                    );
                }
                Ok(())
            }
            Err(e @ TrainError::Usage(_)) => {
                eprintln!("strata train: rank {rank}: {e}");
                std::process::exit(EXIT_USAGE)
            }
            Err(e) => Err(e.into()),
        };
    }
    // In-memory recovery: after a peer's death, say so and wait for the launcher to say
    // where the group re-forms (this rank as the new root, or a root's address).
    let in_memory = std::env::var_os(env::IN_MEMORY).is_some();
    let mut rejoin = |step: u64| -> Result<strata::collective::Communicator, TrainError> {
        use std::io::BufRead;
        println!("#failed {step}");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| TrainError::Usage(format!("reading the launcher: {e}")))?;
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["#rejoin-root", job] => form(rank, world, None, job, &ccfg),
            ["#rejoin", addr, job] => form(rank, world, Some(addr), job, &ccfg),
            _ => Err(TrainError::Usage(format!(
                "rank {rank}: the launcher ended the job instead of a rejoin ({line:?})"
            ))),
        }
    };
    let rejoin: Option<strata::train::trainer::Rejoin<'_>> =
        if in_memory { Some(&mut rejoin) } else { None };
    match strata::train::trainer::run_rank_elastic(
        tc,
        rank,
        Some(comm),
        rejoin,
        opts,
        &candle_device()?,
        &mut on_event,
    ) {
        Ok(_) => Ok(()),
        Err(e @ TrainError::PeerFailed { .. }) => {
            eprintln!("strata train: rank {rank}: {e}");
            std::process::exit(EXIT_PEER_FAILED)
        }
        Err(e @ TrainError::Usage(_)) => {
            eprintln!("strata train: rank {rank}: {e}");
            std::process::exit(EXIT_USAGE)
        }
        Err(e) => Err(e.into()),
    }
}

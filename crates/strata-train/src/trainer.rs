//! The training loop of one rank: data, segmented forward and backward, the bucketed
//! all-reduce, clipping, AdamW, checkpoints, evaluation.

use candle_core::{Device, Tensor};
use strata_collective::{Communicator, segments};
use strata_storage::StorageOptions;

use crate::TrainError;
use crate::ckpt::{self, CheckpointDir};
use crate::data::{self, Corpus};
use crate::ddp::Ddp;
use crate::model::{Gpt, GptConfig};
use crate::optim::{self, AdamW};
use crate::stage;

/// What to train and how (the `strata train gpt` flags).
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Text file or directory (any store).
    pub data: String,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Embedding width.
    pub dim: usize,
    /// Context length.
    pub context: usize,
    /// Global batch (sequences per optimizer step, over all ranks and micro-batches).
    pub batch: usize,
    /// Optimizer steps.
    pub steps: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Warm-up steps.
    pub warmup: u64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Gradient clipping (global L2 norm; 0 = none).
    pub grad_clip: f64,
    /// Micro-batches per step (gradient accumulation; all but the last under `no_sync`).
    pub accumulate: usize,
    /// DDP bucket size in bytes.
    pub bucket_bytes: usize,
    /// Seed (initial weights and batches).
    pub seed: u64,
    /// Output directory (any store): `model.safetensors`, `config.json`.
    pub out: String,
    /// Evaluate the validation loss every this many steps (0 = only at the end).
    pub eval_every: u64,
    /// Validation batches per evaluation.
    pub eval_batches: usize,
    /// Checkpoint directory (any store).
    pub checkpoint_dir: Option<String>,
    /// Periodic checkpoint every this many steps (0 = none).
    pub checkpoint_every: u64,
    /// Checkpoints kept.
    pub retain: usize,
    /// Start from the newest checkpoint in `checkpoint_dir`, if any.
    pub resume: bool,
    /// Save a just-in-time checkpoint when a peer dies (off: only periodic checkpoints,
    /// for comparison).
    pub jit: bool,
}

/// What a rank reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Resumed from a checkpoint after this many steps.
    Resumed(u64),
    /// Finished step `n` (1-based) with the global-batch loss.
    Step(u64, f64),
    /// Validation loss after step `n`.
    Eval(u64, f64),
    /// A checkpoint was written after step `n`, of this kind.
    Checkpoint(u64, &'static str),
}

/// The model's shape from the flags and the corpus.
pub fn model_config(cfg: &TrainConfig, vocab: usize) -> GptConfig {
    GptConfig {
        vocab,
        layers: cfg.layers,
        heads: cfg.heads,
        dim: cfg.dim,
        context: cfg.context,
    }
}

/// Trains as `rank` of the communicator's world (or alone), reporting through `on_event`.
/// When a peer dies mid-step, the state of the last completed step is saved at once (a
/// just-in-time checkpoint, when a checkpoint directory is set) and
/// [`TrainError::PeerFailed`] returned.
pub fn run_rank(
    cfg: &TrainConfig,
    rank: usize,
    comm: Option<Communicator>,
    opts: &StorageOptions,
    device: &Device,
    on_event: &mut dyn FnMut(Event),
) -> Result<Gpt, TrainError> {
    run_rank_elastic(cfg, rank, comm, None, opts, device, on_event)
}

/// How a rank gets a new communicator after a peer died, for recovery in memory (Gemini):
/// called with the steps this rank completed; returns the communicator formed with the
/// survivors and a replacement rank.
pub type Rejoin<'a> = &'a mut dyn FnMut(u64) -> Result<Communicator, TrainError>;

/// [`run_rank`], recovering in memory when `rejoin` is given: after a peer's death this
/// rank keeps its state, forms a new communicator through `rejoin`, and the replacement
/// receives the state of the most advanced replica (no storage read or write). Without
/// `rejoin`, a peer's death saves a just-in-time checkpoint and returns
/// [`TrainError::PeerFailed`].
#[allow(clippy::too_many_arguments)]
pub fn run_rank_elastic(
    cfg: &TrainConfig,
    rank: usize,
    comm: Option<Communicator>,
    mut rejoin: Option<Rejoin<'_>>,
    opts: &StorageOptions,
    device: &Device,
    on_event: &mut dyn FnMut(Event),
) -> Result<Gpt, TrainError> {
    let corpus = Corpus::load(&cfg.data, opts).map_err(TrainError::Usage)?;
    let mcfg = model_config(cfg, corpus.vocab.len());
    mcfg.validate().map_err(TrainError::Usage)?;
    let world = comm.as_ref().map_or(1, |c| c.size());
    if cfg.accumulate == 0 || !cfg.batch.is_multiple_of(cfg.accumulate) {
        return Err(TrainError::Usage(format!(
            "--batch {} is not a multiple of --accumulate {}",
            cfg.batch, cfg.accumulate
        )));
    }
    let micro = cfg.batch / cfg.accumulate;
    if micro < world {
        return Err(TrainError::Usage(format!(
            "a micro-batch of {micro} sequences cannot be split over {world} ranks; raise \
             --batch or lower --workers"
        )));
    }
    if corpus.train.len() <= cfg.context + 1 || corpus.val.len() <= cfg.context + 1 {
        return Err(TrainError::Usage(format!(
            "the corpus is too short for --context {}",
            cfg.context
        )));
    }
    let ckdir = match &cfg.checkpoint_dir {
        Some(u) => Some(CheckpointDir::open(u, opts)?),
        None => None,
    };
    let mut start = 0;
    let (model, mut opt) = match (&ckdir, cfg.resume) {
        (Some(d), true) if !d.steps()?.is_empty() => {
            let step = *d.steps()?.last().unwrap();
            let snap = d.load(step, device)?;
            if snap.cfg != mcfg {
                return Err(TrainError::Usage(format!(
                    "the checkpoint is of a model {:?}, the flags ask for {:?}",
                    snap.cfg, mcfg
                )));
            }
            start = snap.step;
            on_event(Event::Resumed(start));
            let opt = match snap.opt {
                Some(o) => o,
                None => AdamW::new(&snap.model.params, cfg.weight_decay)?,
            };
            (snap.model, opt)
        }
        _ => {
            let m = Gpt::new(mcfg.clone(), cfg.seed, device)?;
            let o = AdamW::new(&m.params, cfg.weight_decay)?;
            (m, o)
        }
    };
    let order: Vec<usize> = model
        .segments()
        .into_iter()
        .rev()
        .flat_map(|s| model.segment_params(s))
        .collect();
    let shapes: Vec<candle_core::Shape> = model
        .params
        .iter()
        .map(|(_, v)| v.shape().clone())
        .collect();
    let mine = segments(micro, world)[rank].clone();
    let weight = mine.len() as f64 / cfg.batch as f64;
    let mut step = start;
    let mut comm = comm;
    let mut formation = 0;
    'form: loop {
        let mut ddp = Ddp::new(
            comm.take(),
            shapes.clone(),
            &order,
            cfg.bucket_bytes,
            device,
        );
        // Every replica starts from the most advanced one's state (rank 0's at the start, as
        // DDP does at construction; a survivor's after a replacement joined).
        if world > 1 {
            let before = step;
            match sync_state(&mut ddp, &model, &mut opt, &mut step, rank, device) {
                Ok(()) => {
                    if formation > 0 || step != before {
                        on_event(Event::Resumed(step));
                    }
                }
                Err(TrainError::Collective(e)) => match rejoin.as_mut() {
                    Some(r) => {
                        drop(ddp);
                        comm = Some(r(step)?);
                        formation += 1;
                        continue 'form;
                    }
                    None => return Err(peer_failed(TrainError::Collective(e), step, false)),
                },
                Err(e) => return Err(e),
            }
        }
        while step < cfg.steps {
            let lr = optim::lr_at(step, cfg.lr, cfg.warmup, cfg.steps);
            let result = (|| -> Result<f64, TrainError> {
                let mut loss = 0.0;
                for m in 0..cfg.accumulate {
                    let offs = data::offsets(
                        cfg.seed,
                        step,
                        m as u64,
                        mine.clone(),
                        corpus.train.len(),
                        cfg.context,
                    );
                    let (x, y) = data::batch(&corpus.train, &offs, cfg.context, device)?;
                    let sync = m + 1 == cfg.accumulate;
                    loss += weight * forward_backward(&model, &x, &y, &mut ddp, weight, sync)?;
                }
                let (mut grads, loss) = ddp.finish(loss)?;
                optim::clip_grad_norm(&mut grads, cfg.grad_clip)?;
                opt.step(&model.params, &grads, lr)?;
                Ok(loss)
            })();
            let loss = match result {
                Ok(l) => l,
                Err(TrainError::Collective(e)) => {
                    if let Some(r) = rejoin.as_mut() {
                        // In-memory recovery: this replica is the checkpoint. Rejoin a new
                        // communicator with a replacement rank and hand it this state.
                        drop(ddp);
                        comm = Some(r(step)?);
                        formation += 1;
                        continue 'form;
                    }
                    // Just-in-time checkpoint: this replica holds the state after `step`.
                    let saved = match ckdir.as_ref().filter(|_| cfg.jit) {
                        Some(d) => d
                            .save(
                                step,
                                &ckpt::encode(&model, Some(&opt), step, "jit", &corpus.vocab)?,
                            )
                            .is_ok(),
                        None => false,
                    };
                    return Err(peer_failed(TrainError::Collective(e), step, saved));
                }
                Err(e) => return Err(e),
            };
            step += 1;
            on_event(Event::Step(step, loss));
            if rank == 0 {
                let due = cfg.checkpoint_every > 0
                    && step.is_multiple_of(cfg.checkpoint_every)
                    && step < cfg.steps;
                if let (Some(d), true) = (&ckdir, due) {
                    let bytes = ckpt::encode(&model, Some(&opt), step, "periodic", &corpus.vocab)?;
                    d.save(step, &bytes)?;
                    d.prune(cfg.retain)?;
                    on_event(Event::Checkpoint(step, "periodic"));
                }
                if (cfg.eval_every > 0 && step % cfg.eval_every == 0) || step == cfg.steps {
                    on_event(Event::Eval(step, evaluate(&model, &corpus, cfg, device)?));
                }
            }
        }
        break;
    }
    if rank == 0 {
        write_model(&model, &corpus.vocab, step, &cfg.out, opts)?;
    }
    Ok(model)
}

fn peer_failed(e: TrainError, step: u64, saved: bool) -> TrainError {
    match e {
        TrainError::Collective(source) => TrainError::PeerFailed {
            step,
            saved,
            source,
        },
        other => other,
    }
}

/// Makes every replica's parameters, optimizer state and step equal to those of the lowest
/// rank among the most advanced (the one that completed the most steps).
fn sync_state(
    ddp: &mut Ddp,
    model: &Gpt,
    opt: &mut AdamW,
    step: &mut u64,
    rank: usize,
    device: &Device,
) -> Result<(), TrainError> {
    use strata_collective::ReduceOp;
    let most = ddp.all_reduce_small(vec![*step as f64], ReduceOp::Max)?[0] as u64;
    let mine = if *step == most { rank as f64 } else { f64::MAX };
    let holder = ddp.all_reduce_small(vec![mine], ReduceOp::Min)?[0] as usize;
    let mut flat = Vec::new();
    for (i, (_, v)) in model.params.iter().enumerate() {
        flat.extend(v.flatten_all()?.to_vec1::<f32>()?);
        flat.extend(opt.m[i].flatten_all()?.to_vec1::<f32>()?);
        flat.extend(opt.v[i].flatten_all()?.to_vec1::<f32>()?);
    }
    let flat = ddp.broadcast(holder, flat)?;
    let mut at = 0;
    for (i, (_, v)) in model.params.iter().enumerate() {
        let n = v.elem_count();
        let t = |at: usize| Tensor::from_slice(&flat[at..at + n], v.shape().clone(), device);
        v.set(&t(at)?)?;
        opt.m[i] = t(at + n)?;
        opt.v[i] = t(at + 2 * n)?;
        at += 3 * n;
    }
    *step = most;
    opt.step = most;
    Ok(())
}

/// Forward through every segment, then backward one segment at a time from the last,
/// handing each segment's parameter gradients (times `weight`) to the reducer as soon as
/// they exist. Returns the (unweighted) loss.
pub fn forward_backward(
    model: &Gpt,
    x: &Tensor,
    y: &Tensor,
    ddp: &mut Ddp,
    weight: f64,
    sync: bool,
) -> Result<f64, TrainError> {
    let (b, t) = x.dims2()?;
    let saved = stage::forward(model, &model.segments(), x, b, t, Some(y))?;
    let loss = saved.output().to_scalar::<f32>()? as f64;
    stage::backward(model, saved, None, &mut |i, g| {
        ddp.grad_ready(i, g.affine(weight, 0.0)?, sync)
    })?;
    Ok(loss)
}

/// Mean validation loss over fixed batches.
pub fn evaluate(
    model: &Gpt,
    corpus: &Corpus,
    cfg: &TrainConfig,
    device: &Device,
) -> Result<f64, TrainError> {
    let mut total = 0.0;
    let n = cfg.eval_batches.max(1);
    let per = cfg.batch.clamp(1, 16);
    for i in 0..n {
        let offs = data::offsets(
            cfg.seed ^ 0xe7a1,
            i as u64,
            0,
            0..per,
            corpus.val.len(),
            cfg.context,
        );
        let (x, y) = data::batch(&corpus.val, &offs, cfg.context, device)?;
        total += model.forward(&x, Some(&y))?.to_scalar::<f32>()? as f64;
    }
    Ok(total / n as f64)
}

/// Writes `OUT/model.safetensors` and a readable `OUT/config.json`.
pub fn write_model(
    model: &Gpt,
    vocab: &[char],
    step: u64,
    out: &str,
    opts: &StorageOptions,
) -> Result<(), TrainError> {
    let (store, path) =
        strata_storage::resolve(out, opts).map_err(|e| TrainError::Checkpoint(e.to_string()))?;
    let base = path.trim_end_matches('/');
    let bytes = ckpt::encode(model, None, step, "final", vocab)?;
    store
        .put(&format!("{base}/model.safetensors"), &bytes)
        .map_err(|e| TrainError::Checkpoint(e.to_string()))?;
    let cfg =
        serde_json::json!({ "model": model.cfg, "steps": step, "parameters": model.num_params() });
    store
        .put(
            &format!("{base}/config.json"),
            serde_json::to_string_pretty(&cfg).unwrap().as_bytes(),
        )
        .map_err(|e| TrainError::Checkpoint(e.to_string()))
}

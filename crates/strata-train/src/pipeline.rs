//! Pipeline parallelism (GPipe; PipeDream's 1F1B with a flush per step): the model's
//! segments are cut into `P` contiguous stages, one per rank; each step's batch is split
//! into `M` micro-batches that flow forward through the stages (activations sent to the
//! next rank) and backward (input gradients sent to the previous one).
//!
//! - **Partitioner**: rank 0 times each segment's forward and backward on one micro-batch
//!   and cuts the sequence into `P` contiguous stages minimising the slowest stage
//!   (exhaustive dynamic programming over cut points); the cut is broadcast.
//! - **Schedules**: GPipe runs every forward, then every backward; 1F1B runs `P − s − 1`
//!   warm-up forwards on stage `s`, then alternates one forward and one backward, then
//!   drains, so a stage holds at most `P − s` micro-batches' activations instead of `M`.
//!   Both flush at the end of the step (one optimizer update per step), so with the same
//!   micro-batches they compute exactly what gradient accumulation without pipelining does
//!   (micro-batch gradients summed in the same order). PipeDream's asynchronous variant,
//!   which needs weight stashing, is not built.
//! - **Bubble**: each stage measures the time it waits for a neighbour against the step's
//!   schedule time; the ideal is (P−1)/(M+P−1).

use std::collections::HashMap;
use std::ops::Range;
use std::time::Instant;

use candle_core::{Device, Tensor};
use strata_collective::{Communicator, ReduceOp};
use strata_storage::StorageOptions;

use crate::TrainError;
use crate::data::{self, Corpus};
use crate::model::{Gpt, Segment};
use crate::optim::{self, AdamW};
use crate::stage;
use crate::trainer::{Event, TrainConfig, evaluate, model_config, write_model};

/// The order of micro-batch work on a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// All forwards, then all backwards.
    GPipe,
    /// One forward, one backward (after a warm-up), with a flush per step.
    OneFOneB,
}

impl std::str::FromStr for Schedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Schedule, String> {
        match s {
            "gpipe" => Ok(Schedule::GPipe),
            "1f1b" => Ok(Schedule::OneFOneB),
            _ => Err(format!("--schedule {s}: use gpipe or 1f1b")),
        }
    }
}

/// One unit of stage work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Forward of micro-batch `m`.
    F(usize),
    /// Backward of micro-batch `m`.
    B(usize),
}

/// Stage `s` of `p`'s work for `m` micro-batches.
pub fn schedule(kind: Schedule, s: usize, p: usize, m: usize) -> Vec<Work> {
    match kind {
        Schedule::GPipe => (0..m).map(Work::F).chain((0..m).map(Work::B)).collect(),
        Schedule::OneFOneB => {
            let warm = (p - s - 1).min(m);
            let mut v: Vec<Work> = (0..warm).map(Work::F).collect();
            for i in 0..m - warm {
                v.push(Work::F(warm + i));
                v.push(Work::B(i));
            }
            v.extend((m - warm..m).map(Work::B));
            v
        }
    }
}

/// Cuts `times` (per segment) into `p` contiguous non-empty ranges minimising the largest
/// sum.
pub fn partition(times: &[f64], p: usize) -> Vec<Range<usize>> {
    let n = times.len();
    let prefix: Vec<f64> = std::iter::once(0.0)
        .chain(times.iter().scan(0.0, |a, t| {
            *a += t;
            Some(*a)
        }))
        .collect();
    // best[k][i]: the smallest max-stage time cutting the first i segments into k stages.
    let mut best = vec![vec![f64::INFINITY; n + 1]; p + 1];
    let mut cut = vec![vec![0usize; n + 1]; p + 1];
    best[0][0] = 0.0;
    for k in 1..=p {
        for i in k..=n {
            for j in k - 1..i {
                let c = best[k - 1][j].max(prefix[i] - prefix[j]);
                if c < best[k][i] {
                    best[k][i] = c;
                    cut[k][i] = j;
                }
            }
        }
    }
    let mut ranges = Vec::with_capacity(p);
    let mut i = n;
    for k in (1..=p).rev() {
        let j = cut[k][i];
        ranges.push(j..i);
        i = j;
    }
    ranges.reverse();
    ranges
}

/// What a pipeline run measured.
#[derive(Debug, Clone, Default)]
pub struct PipelineReport {
    /// Each stage's segment indices.
    pub partition: Vec<Range<usize>>,
    /// Per stage: the fraction of step time spent waiting for a neighbour.
    pub bubble: Vec<f64>,
    /// Per stage: the most micro-batches whose activations it held at once.
    pub peak_held: Vec<usize>,
}

fn stage_time(
    model: &Gpt,
    seg: Segment,
    input: &Tensor,
    b: usize,
    t: usize,
    y: &Tensor,
) -> Result<(f64, Tensor), TrainError> {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..2 {
        let start = Instant::now();
        let saved = stage::forward(model, &[seg], input, b, t, Some(y))?;
        let o = saved.output().clone();
        let up = (seg != Segment::Head).then(|| o.ones_like()).transpose()?;
        stage::backward(model, saved, up, &mut |_, _| Ok(()))?;
        best = best.min(start.elapsed().as_secs_f64());
        out = Some(o);
    }
    Ok((best, out.unwrap()))
}

/// Trains as stage `rank` of a pipeline of `comm.size()` stages with `micro_batches`
/// micro-batches per step. Rank 0 ends with the whole trained model (gathered from the
/// stages) and writes it; the report is complete on rank 0.
#[allow(clippy::too_many_arguments)]
pub fn run_stage(
    cfg: &TrainConfig,
    kind: Schedule,
    micro_batches: usize,
    rank: usize,
    mut comm: Communicator,
    opts: &StorageOptions,
    device: &Device,
    on_event: &mut dyn FnMut(Event),
) -> Result<(Option<Gpt>, PipelineReport), TrainError> {
    let corpus = Corpus::load(&cfg.data, opts).map_err(TrainError::Usage)?;
    let mcfg = model_config(cfg, corpus.vocab.len());
    mcfg.validate().map_err(TrainError::Usage)?;
    let p = comm.size();
    let m = micro_batches;
    if m == 0 || !cfg.batch.is_multiple_of(m) {
        return Err(TrainError::Usage(format!(
            "--batch {} is not a multiple of --micro-batches {m}",
            cfg.batch
        )));
    }
    if mcfg.layers + 2 < p {
        return Err(TrainError::Usage(format!(
            "{p} stages need at least {} layers (a stage holds at least one of: the \
             embeddings, a block, the head)",
            p.saturating_sub(2)
        )));
    }
    let micro = cfg.batch / m;
    let (t, d) = (cfg.context, mcfg.dim);
    let model = Gpt::new(mcfg, cfg.seed, device)?;
    let segs = model.segments();
    let coll = |e| TrainError::Collective(e);

    // Partition on rank 0's timings.
    let mut cuts = vec![0u64; p + 1];
    if rank == 0 {
        let offs = data::offsets(cfg.seed, 0, 0, 0..micro, corpus.train.len(), t);
        let (x, y) = data::batch(&corpus.train, &offs, t, device)?;
        let mut times = Vec::new();
        let mut h = x;
        for &s in &segs {
            let (secs, out) = stage_time(&model, s, &h, micro, t, &y)?;
            times.push(secs);
            h = out;
        }
        let parts = partition(&times, p);
        for (k, r) in parts.iter().enumerate() {
            cuts[k] = r.start as u64;
        }
        cuts[p] = segs.len() as u64;
    }
    comm.broadcast(0, &mut cuts).map_err(coll)?;
    let parts: Vec<Range<usize>> = (0..p)
        .map(|k| cuts[k] as usize..cuts[k + 1] as usize)
        .collect();
    let mine: Vec<Segment> = segs[parts[rank].clone()].to_vec();
    let my_params: Vec<usize> = mine.iter().flat_map(|&s| model.segment_params(s)).collect();
    let (first, last) = (rank == 0, rank + 1 == p);
    let mut opt = AdamW::new(&model.params, cfg.weight_decay)?;
    let weight = micro as f64 / cfg.batch as f64;
    let mut waited = 0.0;
    let mut busy = 0.0;
    let mut peak = 0;
    for step in 0..cfg.steps {
        let lr = optim::lr_at(step, cfg.lr, cfg.warmup, cfg.steps);
        let started = Instant::now();
        let mut held: HashMap<usize, stage::Saved> = HashMap::new();
        let mut acc: HashMap<usize, Tensor> = HashMap::new();
        let mut loss = 0.0;
        for work in schedule(kind, rank, p, m) {
            match work {
                Work::F(mb) => {
                    // Only the first stage reads the tokens and only the last the targets.
                    let (x, y) = if first || last {
                        let n = corpus.train.len();
                        let offs = data::offsets(cfg.seed, step, mb as u64, 0..micro, n, t);
                        let (x, y) = data::batch(&corpus.train, &offs, t, device)?;
                        (Some(x), Some(y))
                    } else {
                        (None, None)
                    };
                    let input = if let Some(x) = x.filter(|_| first) {
                        x
                    } else {
                        let w = Instant::now();
                        let v: Vec<f32> = comm.recv(rank - 1).map_err(coll)?;
                        waited += w.elapsed().as_secs_f64();
                        Tensor::from_vec(v, (micro * t, d), device)?
                    };
                    let saved = stage::forward(
                        &model,
                        &mine,
                        &input,
                        micro,
                        t,
                        y.as_ref().filter(|_| last),
                    )?;
                    if last {
                        loss += weight * saved.output().to_scalar::<f32>()? as f64;
                    } else {
                        comm.send(rank + 1, &saved.output().flatten_all()?.to_vec1::<f32>()?)
                            .map_err(coll)?;
                    }
                    held.insert(mb, saved);
                    peak = peak.max(held.len());
                }
                Work::B(mb) => {
                    let saved = held.remove(&mb).expect("forward before backward");
                    let upstream = if last {
                        Tensor::new(weight as f32, device)?
                    } else {
                        let w = Instant::now();
                        let v: Vec<f32> = comm.recv(rank + 1).map_err(coll)?;
                        waited += w.elapsed().as_secs_f64();
                        Tensor::from_vec(v, (micro * t, d), device)?
                    };
                    let grad_in = stage::backward(&model, saved, Some(upstream), &mut |i, g| {
                        let total = match acc.remove(&i) {
                            Some(a) => (a + g)?,
                            None => g,
                        };
                        acc.insert(i, total);
                        Ok(())
                    })?;
                    if let (false, Some(g)) = (first, grad_in) {
                        comm.send(rank - 1, &g.flatten_all()?.to_vec1::<f32>()?)
                            .map_err(coll)?;
                    }
                }
            }
        }
        let mut grads: Vec<Tensor> = my_params
            .iter()
            .map(|i| acc.remove(i).expect("every parameter's gradient"))
            .collect();
        // Clip by the global norm over every stage's gradients.
        let mut sq = [0f64];
        for g in &grads {
            sq[0] += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
        comm.all_reduce(&mut sq, ReduceOp::Sum).map_err(coll)?;
        let norm = sq[0].sqrt();
        if cfg.grad_clip > 0.0 && norm > cfg.grad_clip {
            let s = cfg.grad_clip / (norm + 1e-6);
            for g in grads.iter_mut() {
                *g = g.affine(s, 0.0)?;
            }
        }
        opt.step_some(&model.params, &my_params, &grads, lr)?;
        let mut l = [loss];
        comm.all_reduce(&mut l, ReduceOp::Sum).map_err(coll)?;
        busy += started.elapsed().as_secs_f64();
        on_event(Event::Step(step + 1, l[0]));
    }
    // Rank 0 gathers every stage's parameters, and the measurements.
    let mut flat = Vec::new();
    for &i in &my_params {
        flat.extend(model.params[i].1.flatten_all()?.to_vec1::<f32>()?);
    }
    let all = comm.gather(0, &flat).map_err(coll)?;
    let stats = comm.gather(0, &[waited, busy, peak as f64]).map_err(coll)?;
    let mut report = PipelineReport {
        partition: parts.clone(),
        ..Default::default()
    };
    let Some(all) = all else {
        return Ok((None, report));
    };
    for (k, part) in all.iter().enumerate() {
        let mut at = 0;
        for s in &segs[parts[k].clone()] {
            for i in model.segment_params(*s) {
                let v = &model.params[i].1;
                let n = v.elem_count();
                v.set(&Tensor::from_slice(
                    &part[at..at + n],
                    v.shape().clone(),
                    device,
                )?)?;
                at += n;
            }
        }
    }
    for s in stats.unwrap_or_default() {
        report
            .bubble
            .push(if s[1] > 0.0 { s[0] / s[1] } else { 0.0 });
        report.peak_held.push(s[2] as usize);
    }
    on_event(Event::Eval(
        cfg.steps,
        evaluate(&model, &corpus, cfg, device)?,
    ));
    write_model(&model, &corpus.vocab, cfg.steps, &cfg.out, opts)?;
    Ok((Some(model), report))
}

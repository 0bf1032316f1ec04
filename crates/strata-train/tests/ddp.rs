//! Data-parallel training equals single-process training on the same global batch; the
//! segmented backward equals a whole-graph backward; accumulation and checkpoints keep the
//! result. Ranks are threads here, connected by real TCP communicators.

use std::net::TcpListener;

use strata_collective::{Communicator, Config};
mod common;

use common::opts;
use strata_train::candle::{Device, Tensor};
use strata_train::data::{self, Corpus};
use strata_train::ddp::Ddp;
use strata_train::model::{Gpt, GptConfig};
use strata_train::trainer::{Event, TrainConfig, forward_backward, run_rank};

fn config(out: &str) -> TrainConfig {
    TrainConfig {
        data: common::sonnets(),
        layers: 2,
        heads: 2,
        dim: 16,
        context: 16,
        batch: 6,
        steps: 6,
        lr: 3e-3,
        warmup: 2,
        weight_decay: 0.1,
        grad_clip: 1.0,
        accumulate: 1,
        // Small buckets: several all-reduces per step, overlapped with backward.
        bucket_bytes: 4096,
        seed: 7,
        out: out.to_string(),
        eval_every: 0,
        eval_batches: 1,
        checkpoint_dir: None,
        checkpoint_every: 0,
        retain: 2,
        resume: false,
        jit: true,
    }
}

/// Trains on `world` ranks (threads); returns rank 0's losses and every rank's parameters.
fn train(world: usize, cfg: &TrainConfig) -> (Vec<f64>, Vec<Vec<Vec<f32>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut listener = Some(listener);
    let mut handles = Vec::new();
    for r in 0..world {
        let (cfg, addr) = (cfg.clone(), addr.clone());
        let l = listener.take();
        handles.push(std::thread::spawn(move || {
            let comm = if world == 1 {
                None
            } else if r == 0 {
                Some(Communicator::init_root(l.unwrap(), world, "t", Config::default()).unwrap())
            } else {
                Some(Communicator::init(r, world, &addr, "t", Config::default()).unwrap())
            };
            let mut losses = Vec::new();
            let model = run_rank(&cfg, r, comm, &opts(), &Device::Cpu, &mut |e| {
                if let Event::Step(_, l) = e {
                    losses.push(l)
                }
            })
            .unwrap();
            let params: Vec<Vec<f32>> = model
                .params
                .iter()
                .map(|(_, v)| v.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect();
            (losses, params)
        }));
    }
    let mut out: Vec<(Vec<f64>, Vec<Vec<f32>>)> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let losses = out[0].0.clone();
    (losses, out.drain(..).map(|(_, p)| p).collect())
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn two_and_three_ranks_equal_one_rank_on_the_same_global_batch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path().to_str().unwrap());
    let (l1, p1) = train(1, &cfg);
    assert_eq!(l1.len(), 6);
    assert!(l1[5] < l1[0], "the loss falls: {l1:?}");
    for world in [2, 3] {
        let (lw, pw) = train(world, &cfg);
        for (a, b) in l1.iter().zip(&lw) {
            assert!(
                (a - b).abs() < 1e-4 * a.abs().max(1.0),
                "world {world}: losses {l1:?} vs {lw:?}"
            );
        }
        // Every replica holds the same bits.
        for p in &pw[1..] {
            assert_eq!(max_diff(&pw[0], p), 0.0, "world {world}: replicas differ");
        }
        let d = max_diff(&p1[0], &pw[0]);
        assert!(
            d < 1e-4,
            "world {world}: parameters differ from one rank by {d}"
        );
    }
}

#[test]
fn a_fixed_reduction_order_gives_bit_identical_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig {
        steps: 3,
        ..config(dir.path().to_str().unwrap())
    };
    let (la, pa) = train(2, &cfg);
    let (lb, pb) = train(2, &cfg);
    assert_eq!(la, lb);
    assert_eq!(max_diff(&pa[0], &pb[0]), 0.0);
}

#[test]
fn accumulated_micro_batches_equal_one_large_batch() {
    // Three micro-batches of 2 under no_sync, on 1 and on 2 ranks (each rank then has one
    // sequence per micro-batch): the same sequences, the same mean gradient.
    let dir = tempfile::tempdir().unwrap();
    let acc = TrainConfig {
        accumulate: 3,
        batch: 6,
        ..config(dir.path().to_str().unwrap())
    };
    let (la, pa) = train(1, &acc);
    let (lb, pb) = train(2, &acc);
    assert_eq!(la.len(), 6);
    for (a, b) in la.iter().zip(&lb) {
        assert!((a - b).abs() < 1e-4 * a.abs().max(1.0), "{la:?} vs {lb:?}");
    }
    assert!(max_diff(&pa[0], &pb[0]) < 1e-4);
}

#[test]
fn segmented_backward_equals_whole_graph_backward() {
    let dev = Device::Cpu;
    let cfg = GptConfig {
        vocab: 11,
        layers: 2,
        heads: 2,
        dim: 8,
        context: 6,
    };
    let model = Gpt::new(cfg, 3, &dev).unwrap();
    let tokens: Vec<u32> = (0..200u32).map(|i| (i * 7 + i / 3) % 11).collect();
    let offs = data::offsets(1, 0, 0, 0..4, tokens.len(), 6);
    let (x, y) = data::batch(&tokens, &offs, 6, &dev).unwrap();
    let whole = model.forward(&x, Some(&y)).unwrap();
    let g = whole.backward().unwrap();
    let shapes = model
        .params
        .iter()
        .map(|(_, v)| v.shape().clone())
        .collect();
    let order: Vec<usize> = (0..model.params.len()).rev().collect();
    let mut ddp = Ddp::new(None, shapes, &order, 1 << 20, &dev);
    let loss = forward_backward(&model, &x, &y, &mut ddp, 1.0, true).unwrap();
    let (grads, _) = ddp.finish(loss).unwrap();
    assert!((loss - whole.to_scalar::<f32>().unwrap() as f64).abs() < 1e-6);
    for ((name, v), seg) in model.params.iter().zip(&grads) {
        let w = g.get(v.as_tensor()).unwrap();
        let d = (w - seg)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-6, "{name}: gradients differ by {d}");
    }
}

#[test]
fn resuming_from_a_checkpoint_gives_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    let ck = format!("{base}/ck");
    let whole = TrainConfig {
        steps: 6,
        ..config(base)
    };
    let (lw, pw) = train(1, &whole);
    let first = TrainConfig {
        steps: 6,
        checkpoint_dir: Some(ck.clone()),
        checkpoint_every: 3,
        ..config(base)
    };
    // Checkpoints every 3 of 6 steps leave step 3's (none is written after the last
    // step); a run resuming from it must redo steps 4..6 exactly.
    let _ = train(1, &first);
    let dirs = strata_train::ckpt::CheckpointDir::open(&ck, &opts()).unwrap();
    assert_eq!(dirs.steps().unwrap(), vec![3]);
    let resumed = TrainConfig {
        resume: true,
        ..first
    };
    let (lr, pr) = train(1, &resumed);
    assert_eq!(lr.len(), 3, "steps 4..6 run after the resume");
    assert_eq!(
        &lw[3..],
        &lr[..],
        "the resumed losses equal the uninterrupted ones"
    );
    assert_eq!(max_diff(&pw[0], &pr[0]), 0.0);
}

#[test]
fn bad_shapes_and_batches_are_refused_with_the_flag_to_change() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    let bad = TrainConfig {
        dim: 10,
        heads: 3,
        ..config(base)
    };
    let e = run_rank(&bad, 0, None, &opts(), &Device::Cpu, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("--heads"), "{e}");
    let bad = TrainConfig {
        data: format!("{base}/missing"),
        ..config(base)
    };
    let e = run_rank(&bad, 0, None, &opts(), &Device::Cpu, &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    let bad = TrainConfig {
        accumulate: 4,
        ..config(base)
    };
    assert!(
        run_rank(&bad, 0, None, &opts(), &Device::Cpu, &mut |_| {})
            .unwrap_err()
            .to_string()
            .contains("--accumulate")
    );
    let _ = Tensor::new(&[0f32], &Device::Cpu).unwrap();
    assert!(
        Corpus::encode(&['a', 'b'], "abc")
            .unwrap_err()
            .contains("'c'")
    );
}

#[test]
fn fused_kernels_equal_the_composite_operations_in_value_and_gradient() {
    let dev = Device::Cpu;
    let cfg = GptConfig {
        vocab: 13,
        layers: 2,
        heads: 2,
        dim: 8,
        context: 7,
    };
    let tokens: Vec<u32> = (0..300u32).map(|i| (i * 5 + i / 7) % 13).collect();
    let offs = data::offsets(2, 0, 0, 0..3, tokens.len(), 7);
    let (x, y) = data::batch(&tokens, &offs, 7, &dev).unwrap();
    let mut fused = Gpt::new(cfg.clone(), 5, &dev).unwrap();
    fused.set_fused(true);
    let mut plain = Gpt::new(cfg, 5, &dev).unwrap();
    plain.set_fused(false);
    let (lf, lp) = (
        fused.forward(&x, Some(&y)).unwrap(),
        plain.forward(&x, Some(&y)).unwrap(),
    );
    let (a, b) = (
        lf.to_scalar::<f32>().unwrap(),
        lp.to_scalar::<f32>().unwrap(),
    );
    assert!((a - b).abs() < 1e-5, "loss {a} vs {b}");
    let (gf, gp) = (lf.backward().unwrap(), lp.backward().unwrap());
    for ((name, vf), (_, vp)) in fused.params.iter().zip(&plain.params) {
        let (f, p) = (
            gf.get(vf.as_tensor()).unwrap(),
            gp.get(vp.as_tensor()).unwrap(),
        );
        let d = (f - p)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scale = p
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .max(1e-3);
        assert!(
            d / scale < 1e-4,
            "{name}: fused and composite gradients differ by {d} (scale {scale})"
        );
    }
}

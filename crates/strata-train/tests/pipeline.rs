//! Pipeline parallelism: GPipe and 1F1B on 2 and 3 stages (threads with real TCP
//! communicators) give the parameters and losses of training without a pipeline on the
//! same micro-batches; the schedules and the partitioner keep their invariants.

use std::net::TcpListener;

use strata_collective::{Communicator, Config};
mod common;

use common::opts;
use strata_train::candle::Device;
use strata_train::pipeline::{Schedule, Work, partition, run_stage, schedule};
use strata_train::trainer::{Event, TrainConfig, run_rank};

fn config(out: &str) -> TrainConfig {
    TrainConfig {
        data: common::sonnets(),
        layers: 2,
        heads: 2,
        dim: 16,
        context: 16,
        batch: 8,
        steps: 4,
        lr: 3e-3,
        warmup: 2,
        weight_decay: 0.1,
        grad_clip: 1.0,
        accumulate: 4,
        bucket_bytes: 1 << 20,
        seed: 5,
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

fn flat(model: &strata_train::model::Gpt) -> Vec<f32> {
    model
        .params
        .iter()
        .flat_map(|(_, v)| v.flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

fn pipeline(stages: usize, kind: Schedule, cfg: &TrainConfig) -> (Vec<f64>, Vec<f32>, Vec<f64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut listener = Some(listener);
    let handles: Vec<_> = (0..stages)
        .map(|r| {
            let (cfg, addr, l) = (cfg.clone(), addr.clone(), listener.take());
            std::thread::spawn(move || {
                let comm = match l {
                    Some(l) => Communicator::init_root(l, stages, "p", Config::default()).unwrap(),
                    None => Communicator::init(r, stages, &addr, "p", Config::default()).unwrap(),
                };
                let mut losses = Vec::new();
                let (model, report) = run_stage(
                    &cfg,
                    kind,
                    cfg.accumulate,
                    r,
                    comm,
                    &opts(),
                    &Device::Cpu,
                    &mut |e| {
                        if let Event::Step(_, l) = e {
                            losses.push(l)
                        }
                    },
                )
                .unwrap();
                (losses, model.map(|m| flat(&m)), report)
            })
        })
        .collect();
    let mut out: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let (losses, params, report) = out.remove(0);
    assert_eq!(report.partition.len(), stages);
    assert_eq!(report.bubble.len(), stages);
    if kind == Schedule::OneFOneB {
        for (s, &held) in report.peak_held.iter().enumerate() {
            assert!(
                held <= stages - s,
                "1F1B stage {s} held {held} micro-batches"
            );
        }
    }
    (
        losses,
        params.expect("rank 0 gathers the model"),
        report.bubble,
    )
}

#[test]
fn gpipe_and_1f1b_equal_training_without_a_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path().to_str().unwrap());
    let mut base_losses = Vec::new();
    let base = run_rank(&cfg, 0, None, &opts(), &Device::Cpu, &mut |e| {
        if let Event::Step(_, l) = e {
            base_losses.push(l)
        }
    })
    .unwrap();
    let base = flat(&base);
    for stages in [2, 3] {
        for kind in [Schedule::GPipe, Schedule::OneFOneB] {
            let (losses, params, bubble) = pipeline(stages, kind, &cfg);
            for (a, b) in base_losses.iter().zip(&losses) {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{stages} {kind:?}: {base_losses:?} vs {losses:?}"
                );
            }
            let d = base
                .iter()
                .zip(&params)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(
                d < 1e-5,
                "{stages} stages {kind:?}: parameters differ by {d}"
            );
            assert!(bubble.iter().all(|b| (0.0..1.0).contains(b)), "{bubble:?}");
        }
    }
}

#[test]
fn schedules_run_every_micro_batch_forward_before_backward() {
    for kind in [Schedule::GPipe, Schedule::OneFOneB] {
        for p in 1..5 {
            for s in 0..p {
                for m in 1..7 {
                    let w = schedule(kind, s, p, m);
                    assert_eq!(w.len(), 2 * m);
                    for mb in 0..m {
                        let f = w.iter().position(|x| *x == Work::F(mb)).unwrap();
                        let b = w.iter().position(|x| *x == Work::B(mb)).unwrap();
                        assert!(f < b);
                    }
                    // Backward in micro-batch order: gradients accumulate as without a pipeline.
                    let bs: Vec<usize> = w
                        .iter()
                        .filter_map(|x| match x {
                            Work::B(i) => Some(*i),
                            _ => None,
                        })
                        .collect();
                    assert_eq!(bs, (0..m).collect::<Vec<_>>());
                }
            }
        }
    }
}

#[test]
fn the_partitioner_balances_contiguous_stages() {
    assert_eq!(partition(&[1.0, 1.0, 1.0, 1.0], 2), vec![0..2, 2..4]);
    assert_eq!(
        partition(&[5.0, 1.0, 1.0, 1.0, 1.0, 1.0], 2),
        vec![0..1, 1..6]
    );
    assert_eq!(partition(&[1.0, 2.0, 3.0], 3), vec![0..1, 1..2, 2..3]);
    let p = partition(&[3.0, 1.0, 1.0, 1.0, 3.0], 3);
    assert_eq!(p, vec![0..1, 1..4, 4..5]);
}

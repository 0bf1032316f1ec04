//! The placement path at scale, and Borg-style cell compaction.
//!
//! ```sh
//! cargo bench -p strata-sched --bench placement -- [--pods openb_pod_list_default.csv]
//! ```
//!
//! 1. Placements per second: 100,000 pending gangs (1-8 GPUs, Philly's mix) placed in order on
//!    1,000 and 10,000 nodes of 8 GPUs, until the cluster is full (every later attempt a
//!    refusal, which the path must also answer fast); then churn: half the jobs finish and the
//!    queue is placed again. Each for the consolidated and the scattered placement.
//! 2. Compaction: the fewest nodes (of one shape) on which a workload's tasks all fit, placed
//!    in order, found by binary search — bin-packing vs spreading. The workload is Alibaba's
//!    2023 GPU pod list when given (`--pods`), else a synthetic one.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use strata_sched::policy::{Placement, placement_by_name};
use strata_sched::trace;
use strata_sched::{NodeId, Nodes, Resources};

struct Gang {
    tasks: u32,
    per_task: Resources,
}

/// Gangs totalling at least `tasks` tasks.
fn pending(tasks: u32, seed: u64) -> Vec<Gang> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut total = 0;
    let mut out = Vec::new();
    while total < tasks {
        let u: f64 = rng.r#gen();
        let n = match u {
            u if u < 0.70 => 1,
            u if u < 0.80 => 2,
            u if u < 0.90 => 4,
            _ => 8,
        };
        total += n;
        out.push(Gang {
            tasks: n,
            per_task: Resources::new(
                1.0,
                rng.gen_range(2..12) as f64,
                rng.gen_range(8..64) * 1024,
            ),
        });
    }
    out
}

/// Tries every gang not yet placed, in order; returns the attempts made.
fn place_all(
    nodes: &mut Nodes,
    placement: &mut dyn Placement,
    queue: &[Gang],
    placed: &mut [Option<Vec<(NodeId, u32)>>],
) -> usize {
    let mut attempts = 0;
    for (g, slot) in queue.iter().zip(placed.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        attempts += 1;
        if let Some(p) = placement.place(nodes, g.tasks, &g.per_task) {
            for &(node, n) in &p {
                assert!(nodes.allocate(node, &g.per_task.times(n)));
            }
            *slot = Some(p);
        }
    }
    attempts
}

fn throughput(node_count: u32, name: &str) {
    let shape = Resources::new(8.0, 96.0, 768 * 1024);
    let mut nodes = Nodes::uniform(node_count, shape);
    let mut placement = placement_by_name(name).unwrap();
    let queue = pending(100_000, 7);
    let task_count: u32 = queue.iter().map(|g| g.tasks).sum();
    let mut placed: Vec<Option<Vec<(NodeId, u32)>>> = vec![None; queue.len()];
    let t = Instant::now();
    let attempts = place_all(&mut nodes, placement.as_mut(), &queue, &mut placed);
    let first = t.elapsed().as_secs_f64();
    let running = placed.iter().filter(|p| p.is_some()).count();
    let running_tasks: u32 = queue
        .iter()
        .zip(&placed)
        .filter(|(_, p)| p.is_some())
        .map(|(g, _)| g.tasks)
        .sum();
    let used = 100.0 * (1.0 - nodes.free_total().gpus() / nodes.capacity().gpus());
    // Churn: every other running gang finishes, and the rest of the queue is tried again.
    let mut k = 0;
    for (g, slot) in queue.iter().zip(placed.iter_mut()) {
        if slot.is_some() {
            k += 1;
            if k % 2 == 0 {
                for (node, n) in slot.take().unwrap() {
                    nodes.release(node, &g.per_task.times(n));
                }
            }
        }
    }
    let t = Instant::now();
    let again = place_all(&mut nodes, placement.as_mut(), &queue, &mut placed);
    let second = t.elapsed().as_secs_f64();
    println!(
        "{node_count:>6} nodes  {name:<12}  fill: {attempts} gangs ({task_count} tasks) pending, \
         {running} gangs ({running_tasks} tasks) placed in {first:.3} s = {:>8.0} gangs/s, \
         {:>8.0} tasks/s, GPUs {used:.1}% used;  churn: {again} tried, {:>9.0} attempts/s",
        running as f64 / first,
        f64::from(running_tasks) / first,
        again as f64 / second,
    );
}

fn fits_on(n: u32, shape: Resources, tasks: &[Resources], name: &str) -> bool {
    let mut nodes = Nodes::uniform(n, shape);
    let mut placement = placement_by_name(name).unwrap();
    tasks.iter().all(|t| match placement.place(&nodes, 1, t) {
        Some(p) => nodes.allocate(p[0].0, t),
        None => false,
    })
}

fn compaction(tasks: &[Resources], shape: Resources, label: &str) {
    for name in ["consolidated", "scattered"] {
        let t = Instant::now();
        let (mut lo, mut hi) = (1u32, 1u32);
        while !fits_on(hi, shape, tasks, name) {
            lo = hi + 1;
            hi *= 2;
        }
        while lo < hi {
            let mid = (lo + hi) / 2;
            if fits_on(mid, shape, tasks, name) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        println!(
            "compaction {label}: {} tasks fit on {hi} nodes of {shape} with {name} ({:.2} s)",
            tasks.len(),
            t.elapsed().as_secs_f64()
        );
    }
}

fn main() {
    let mut pods = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--pods" {
            pods = args.next();
        }
    }
    for nodes in [1_000, 10_000] {
        for name in ["consolidated", "scattered"] {
            throughput(nodes, name);
        }
    }
    let shape = Resources::new(8.0, 96.0, 768 * 1024);
    match pods {
        Some(path) => {
            let t = trace::read(std::path::Path::new(&path), Some(trace::Format::Alibaba))
                .expect("read the pod list");
            let tasks: Vec<Resources> = t
                .jobs
                .iter()
                .flat_map(|j| std::iter::repeat_n(j.per_task, j.tasks as usize))
                .collect();
            compaction(&tasks, shape, "alibaba-2023 pods");
        }
        None => {
            let mut rng = SmallRng::seed_from_u64(9);
            let tasks: Vec<Resources> = (0..20_000)
                .map(|_| {
                    let gpus = [0.25, 0.5, 1.0, 1.0, 2.0, 4.0, 8.0][rng.gen_range(0..7)];
                    Resources::new(
                        gpus,
                        rng.gen_range(1..24) as f64,
                        rng.gen_range(4..96) * 1024,
                    )
                })
                .collect();
            compaction(&tasks, shape, "synthetic");
        }
    }
}

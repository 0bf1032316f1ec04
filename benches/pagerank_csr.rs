//! The COST baseline for PageRank: one thread, compressed sparse rows, a plain loop.
//!
//! ```sh
//! cargo bench --bench pagerank_csr -- EDGE_FILES... [--iterations 20]
//! ```
//!
//! Same input format and formula as `strata run pagerank` (duplicates removed, dangling mass
//! spread evenly). Prints load and iteration times separately, and the checksum of ranks.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::time::Instant;

fn main() {
    let mut files = Vec::new();
    let mut iterations = 20u32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--iterations" => iterations = args.next().expect("value").parse().expect("number"),
            "--bench" => {}
            f => files.push(f.to_string()),
        }
    }
    let t0 = Instant::now();
    let mut edges: Vec<(u64, u64)> = Vec::new();
    for f in &files {
        let paths: Vec<std::path::PathBuf> = if std::path::Path::new(f).is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(f)
                .expect("dir")
                .map(|e| e.expect("entry").path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
                })
                .collect();
            v.sort();
            v
        } else {
            vec![f.into()]
        };
        for p in paths {
            for line in BufReader::new(std::fs::File::open(&p).expect("open")).lines() {
                let line = line.expect("read");
                let t = line.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let mut it = t.split_whitespace();
                let a: u64 = it.next().expect("src").parse().expect("u64");
                let b: u64 = it.next().expect("dst").parse().expect("u64");
                edges.push((a, b));
            }
        }
    }
    // Dense ids, dedupe, CSR.
    let mut ids: HashMap<u64, u32> = HashMap::new();
    let dense = |v: u64, ids: &mut HashMap<u64, u32>| {
        let n = ids.len() as u32;
        *ids.entry(v).or_insert(n)
    };
    let mut e: Vec<(u32, u32)> = edges
        .iter()
        .map(|&(a, b)| (dense(a, &mut ids), dense(b, &mut ids)))
        .collect();
    drop(edges);
    e.sort_unstable();
    e.dedup();
    let n = ids.len();
    let mut offsets = vec![0u32; n + 1];
    for &(a, _) in &e {
        offsets[a as usize + 1] += 1;
    }
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    let targets: Vec<u32> = e.iter().map(|&(_, b)| b).collect();
    let load = t0.elapsed();

    let t1 = Instant::now();
    let d = 0.85;
    let nf = n as f64;
    let mut rank = vec![1.0 / nf; n];
    let mut next = vec![0.0f64; n];
    for _ in 0..iterations {
        let mut dangling = 0.0;
        next.iter_mut().for_each(|x| *x = 0.0);
        for u in 0..n {
            let (s, t) = (offsets[u] as usize, offsets[u + 1] as usize);
            if s == t {
                dangling += rank[u];
                continue;
            }
            let share = rank[u] / (t - s) as f64;
            for &v in &targets[s..t] {
                next[v as usize] += share;
            }
        }
        let base = (1.0 - d) / nf + d * dangling / nf;
        for x in next.iter_mut() {
            *x = base + d * *x;
        }
        std::mem::swap(&mut rank, &mut next);
    }
    let iter_time = t1.elapsed();
    let sum: f64 = rank.iter().sum();
    println!(
        "csr: {n} nodes, {} edges, load {:.2}s, {iterations} iterations {:.2}s ({:.3}s/iter), sum {sum:.9}",
        targets.len(),
        load.as_secs_f64(),
        iter_time.as_secs_f64(),
        iter_time.as_secs_f64() / iterations as f64
    );
}

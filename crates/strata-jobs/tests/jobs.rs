//! The built-in jobs against independent single-threaded references.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use strata_common::ByteSize;
use strata_dataflow::{Context, DataflowConfig, FailurePolicy};
use strata_jobs::{pagerank, terasort, wordcount};

fn ctx(partitions: usize, memory: ByteSize) -> Context {
    Context::new(DataflowConfig {
        threads: 2,
        default_partitions: partitions,
        memory,
        ..DataflowConfig::default()
    })
    .unwrap()
}

fn repo_data(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(rel)
        .display()
        .to_string()
}

/// Word count written a different way: split on non-alphanumerics.
fn reference_word_count(dir: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for w in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            *counts.entry(w.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn word_count_on_shakespeare_matches_the_reference() {
    let dir = repo_data("shakespeare");
    let expected = reference_word_count(&dir);
    assert!(expected.len() > 20_000);
    for (partitions, memory) in [(1, ByteSize::mib(512)), (8, ByteSize::mib(1))] {
        let c = ctx(partitions, memory);
        c.set_failure_policy(FailurePolicy::FailFirstAttempt(vec![0]));
        let got: BTreeMap<String, u64> = wordcount::word_count(&c, &[&dir], Some(partitions))
            .unwrap()
            .collect()
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(got.len(), expected.len());
        assert!(
            got == expected,
            "word counts differ with {partitions} partitions"
        );
    }
}

fn reference_pagerank(edges: &[(u64, u64)], iterations: u32, d: f64) -> HashMap<u64, f64> {
    let distinct: BTreeSet<(u64, u64)> = edges.iter().copied().collect();
    let nodes: BTreeSet<u64> = distinct.iter().flat_map(|&(a, b)| [a, b]).collect();
    let n = nodes.len() as f64;
    let mut outdeg: HashMap<u64, f64> = HashMap::new();
    for &(a, _) in &distinct {
        *outdeg.entry(a).or_default() += 1.0;
    }
    let mut rank: HashMap<u64, f64> = nodes.iter().map(|&v| (v, 1.0 / n)).collect();
    for _ in 0..iterations {
        let dangling: f64 = nodes
            .iter()
            .filter(|v| !outdeg.contains_key(v))
            .map(|v| rank[v])
            .sum();
        let mut next: HashMap<u64, f64> = nodes.iter().map(|&v| (v, 0.0)).collect();
        for &(a, b) in &distinct {
            *next.get_mut(&b).unwrap() += rank[&a] / outdeg[&a];
        }
        for v in next.values_mut() {
            *v = (1.0 - d) / n + d * (*v + dangling / n);
        }
        rank = next;
    }
    rank
}

fn check_pagerank(edges: &[(u64, u64)], file: &str, partitions: usize) {
    let expected = reference_pagerank(edges, 15, 0.85);
    let c = ctx(partitions, ByteSize::mib(256));
    let r = pagerank::pagerank(&c, &[file], 15, 0.85, Some(partitions)).unwrap();
    let got = r.pairs().unwrap();
    assert_eq!(got.len(), expected.len());
    for (node, rank) in got {
        let diff = (rank - expected[&node]).abs();
        assert!(diff < 1e-9, "node {node}: {rank} vs {}", expected[&node]);
    }
}

#[test]
fn pagerank_matches_a_reference_power_iteration() {
    let dir = tempfile::tempdir().unwrap();
    let mut x: u64 = 7;
    let mut edges = Vec::new();
    let mut text = String::from("# a comment\n\n");
    for _ in 0..5000 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        let a = (x >> 35) % 800;
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        // Skewed destinations, some nodes only ever appear as targets (dangling).
        let b = ((x >> 35) % 1200) * ((x >> 20) % 3);
        edges.push((a, b));
        text.push_str(&format!("{a}\t{b}\n"));
    }
    // Duplicates and a self-loop.
    text.push_str("1 2\n1 2\n5 5\n");
    edges.extend([(1, 2), (1, 2), (5, 5)]);
    let file = dir.path().join("edges.txt");
    std::fs::write(&file, text).unwrap();
    for partitions in [1, 5] {
        check_pagerank(&edges, &file.display().to_string(), partitions);
    }
}

#[test]
fn pagerank_on_wordnet_matches_the_reference() {
    let file = repo_data("wordnet/edges.txt");
    let edges: Vec<(u64, u64)> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    check_pagerank(&edges, &file, 4);
}

#[test]
fn malformed_edges_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.txt");
    std::fs::write(&file, "1 2\n# ok\n3 4\n5 six\n7 8\n").unwrap();
    let c = ctx(2, ByteSize::mib(64));
    let err = pagerank::pagerank(&c, &[file.display().to_string()], 3, 0.85, None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("bad.txt:4"), "{err}");
    assert!(err.contains("5 six"), "{err}");
}

#[test]
fn terasort_output_is_globally_ordered_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(4, ByteSize::mib(2));
    let input = dir.path().join("in");
    terasort::generate(&c, 30_000, 3, 5, &input).unwrap();
    let out = dir.path().join("out");
    terasort::sort(&c, &[input.display().to_string()], &out, Some(4)).unwrap();
    assert!(
        c.metrics().spills > 0,
        "the 2 MiB budget forces the sort to spill"
    );
    let mut sorted = Vec::new();
    for p in 0..4 {
        sorted.extend(std::fs::read(out.join(format!("part-{p:05}"))).unwrap());
    }
    let records: Vec<&[u8]> = sorted.chunks(terasort::RECORD_LEN).collect();
    assert_eq!(records.len(), 30_000);
    assert!(records.windows(2).all(|w| w[0][..10] <= w[1][..10]));
    let mut expected: Vec<[u8; 100]> = (0..30_000).map(|i| terasort::record(i, 5)).collect();
    expected.sort();
    let mut got: Vec<&[u8]> = records.clone();
    got.sort();
    assert!(got.iter().zip(&expected).all(|(a, b)| *a == &b[..]));
}

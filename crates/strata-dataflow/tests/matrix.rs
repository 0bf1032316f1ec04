//! The same answer from every execution path: 1 and many partitions, with and without
//! spilling, with and without caching, and with task attempts that fail (failpoint).

use std::collections::BTreeMap;
use strata_common::ByteSize;
use strata_dataflow::{Context, DataflowConfig, FailurePolicy, StorageLevel};

#[derive(Clone, Copy, Debug)]
struct Mode {
    partitions: usize,
    spill: bool,
    cache: bool,
    fail: bool,
}

fn modes() -> Vec<Mode> {
    let mut v = Vec::new();
    for partitions in [1, 7] {
        for spill in [false, true] {
            for cache in [false, true] {
                for fail in [false, true] {
                    v.push(Mode {
                        partitions,
                        spill,
                        cache,
                        fail,
                    });
                }
            }
        }
    }
    v
}

fn context(m: Mode) -> Context {
    let cfg = DataflowConfig {
        threads: 2,
        default_partitions: m.partitions,
        // 1 MiB executor: each task may hold ~256 KiB, operators ~128 KiB before spilling.
        memory: if m.spill {
            ByteSize::mib(1)
        } else {
            ByteSize::mib(512)
        },
        ..DataflowConfig::default()
    };
    let ctx = Context::new(cfg).unwrap();
    if m.fail {
        ctx.set_failure_policy(FailurePolicy::FailFirstAttempt((0..7).collect()));
    }
    ctx
}

/// Deterministic pseudo-random text: 120k words over a vocabulary of 20k.
fn corpus() -> Vec<String> {
    let mut x: u64 = 42;
    (0..6000)
        .map(|_| {
            (0..20)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    format!("w{}", (x >> 33) % 20_000)
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn every_mode_gives_the_same_answers() {
    let lines = corpus();
    let mut reference: BTreeMap<String, u64> = BTreeMap::new();
    for l in &lines {
        for w in l.split_whitespace() {
            *reference.entry(w.to_string()).or_default() += 1;
        }
    }
    let ref_groups: BTreeMap<u64, Vec<u64>> =
        reference.values().fold(BTreeMap::new(), |mut m, &c| {
            m.entry(c % 17).or_insert_with(Vec::new).push(c);
            m
        });
    for m in modes() {
        let ctx = context(m);
        let mut words = ctx
            .parallelize(lines.clone())
            .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>());
        if m.cache {
            words = words.persist(StorageLevel::MemoryAndDisk);
            assert_eq!(words.count().unwrap(), 120_000, "{m:?}");
        }
        // reduce_by_key: map-side combine, shuffle, external aggregation.
        let counts = words.map(|w| (w, 1u64)).reduce_by_key(|a, b| a + b);
        let got: BTreeMap<String, u64> = counts.collect().unwrap().into_iter().collect();
        assert_eq!(got, reference, "reduce_by_key in {m:?}");

        // group_by_key: no map-side combine.
        let mut groups: BTreeMap<u64, Vec<u64>> = counts
            .map(|(_, c)| (c % 17, c))
            .group_by_key()
            .collect()
            .unwrap()
            .into_iter()
            .collect();
        for v in groups.values_mut() {
            v.sort();
        }
        let mut expected = ref_groups.clone();
        for v in expected.values_mut() {
            v.sort();
        }
        assert_eq!(groups, expected, "group_by_key in {m:?}");

        // sort_by_key: range partitioning + external sort; check global order.
        let sorted = words
            .map(|w| (w, ()))
            .sort_by_key(true, m.partitions)
            .unwrap();
        let keys: Vec<String> = sorted.keys().collect().unwrap();
        assert_eq!(keys.len(), 120_000, "{m:?}");
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "sort order in {m:?}");

        // join + distinct.
        let left = counts.filter(|(_, c)| *c > 7);
        let right = words.distinct().map(|w| {
            let n = w.len() as u64;
            (w, n)
        });
        let joined: BTreeMap<String, (u64, u64)> =
            left.join(&right).collect().unwrap().into_iter().collect();
        let expected: BTreeMap<String, (u64, u64)> = reference
            .iter()
            .filter(|(_, c)| **c > 7)
            .map(|(w, c)| (w.clone(), (*c, w.len() as u64)))
            .collect();
        assert_eq!(joined, expected, "join in {m:?}");

        if m.spill {
            assert!(
                ctx.metrics().spilled_bytes > 0,
                "the tiny budget should force spills in {m:?}"
            );
        }
        if m.fail {
            assert!(ctx.metrics().tasks_failed > 0, "{m:?}");
        }
    }
}

#[test]
fn shuffle_five_times_the_budget_completes_identically() {
    // 400k distinct keys: the reduce side alone holds ~20 MB of (String, u64) against a
    // ~128 KiB per-operator budget.
    let data: Vec<(String, u64)> = (0..400_000u64)
        .map(|i| (format!("key-{i:08}"), i))
        .collect();
    let expected: u64 = data.iter().map(|x| x.1 * 2).sum();
    let cfg = DataflowConfig {
        threads: 2,
        default_partitions: 4,
        memory: ByteSize::mib(2),
        ..DataflowConfig::default()
    };
    let ctx = Context::new(cfg).unwrap();
    let ds = ctx.parallelize(data.clone());
    let doubled = ds.union(&ds).reduce_by_key(|a, b| a + b);
    let total: u64 = doubled.values().fold(0, |a, b| a + b).unwrap();
    assert_eq!(total, expected);
    assert_eq!(doubled.count().unwrap(), 400_000);
    let m = ctx.metrics();
    assert!(
        m.shuffle_bytes_written > 5 * 2 * (1 << 20),
        "shuffle of {} bytes should be over 5x the 2 MiB budget",
        m.shuffle_bytes_written
    );
    assert!(m.spills > 0);
}

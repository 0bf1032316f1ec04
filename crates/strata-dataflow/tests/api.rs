//! The dataset API against plain-Rust references: sources, narrow and wide transformations,
//! actions, the MapReduce API, and clear errors for bad input and output.

use std::collections::BTreeMap;
use std::io::Write;
use strata_dataflow::mapreduce::MapReduceJob;
use strata_dataflow::{Context, DataflowConfig, Error};

fn ctx(partitions: usize) -> Context {
    Context::new(DataflowConfig {
        threads: 2,
        default_partitions: partitions,
        split_size: strata_common::ByteSize(1024),
        ..DataflowConfig::default()
    })
    .unwrap()
}

#[test]
fn text_splits_yield_each_line_once_whatever_the_split_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    let mut f = std::fs::File::create(dir.path().join("a.txt")).unwrap();
    for i in 0..3000 {
        let line = format!("line {i} {}", "x".repeat(i % 37));
        // Mix of \n and \r\n terminators.
        if i % 5 == 0 {
            write!(f, "{line}\r\n").unwrap();
        } else {
            writeln!(f, "{line}").unwrap();
        }
        expected.push(line);
    }
    write!(f, "no newline at the end").unwrap();
    expected.push("no newline at the end".into());
    drop(f);
    // Invalid UTF-8 and an empty file in a sub-directory; a hidden file that is skipped.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/b.txt"), b"caf\xe9 ok\n\nend\n").unwrap();
    std::fs::write(dir.path().join("sub/empty.txt"), b"").unwrap();
    std::fs::write(dir.path().join(".hidden"), b"skip me\n").unwrap();
    // Not UTF-8: the stray byte reads as Latin-1 (é), so the word is not split.
    expected.extend(["café ok".to_string(), String::new(), "end".into()]);

    for partitions in [1, 3, 50] {
        let c = ctx(partitions);
        let input = dir.path().display().to_string();
        let ds = c.text_file(&[&input]).unwrap();
        assert!(
            ds.num_partitions() >= partitions.min(40),
            "{}",
            ds.num_partitions()
        );
        assert_eq!(ds.collect().unwrap(), expected, "partitions={partitions}");
    }
    // A glob.
    let c = ctx(2);
    let pattern = format!("{}/sub/*.txt", dir.path().display());
    assert_eq!(c.text_file(&[pattern]).unwrap().count().unwrap(), 3);
}

#[test]
fn narrow_transformations_and_actions() {
    let c = ctx(4);
    let ds = c.parallelize((1..=100u64).collect());
    assert_eq!(ds.count().unwrap(), 100);
    assert_eq!(ds.reduce(|a, b| a + b).unwrap(), Some(5050));
    assert_eq!(
        c.parallelize(Vec::<u64>::new())
            .reduce(|a, b| a + b)
            .unwrap(),
        None
    );
    assert_eq!(ds.fold(0, |a, b| a + b).unwrap(), 5050);
    assert_eq!(ds.take(5).unwrap(), vec![1, 2, 3, 4, 5]);
    assert_eq!(ds.filter(|x| *x > 90).take(100).unwrap().len(), 10);
    assert_eq!(ds.first().unwrap(), Some(1));
    assert_eq!(ds.map(|x| x * 2).collect().unwrap()[99], 200);
    assert_eq!(ds.flat_map(|x| vec![x; 2]).count().unwrap(), 200);
    assert_eq!(ds.union(&ds).count().unwrap(), 200);
    assert_eq!(ds.union(&ds).distinct().count().unwrap(), 100);
    let zipped = ds.zip_with_index().unwrap().collect().unwrap();
    assert!(zipped.iter().all(|(x, i)| *x == i + 1));
    let sizes = ds
        .map_partitions(|p, it| Box::new(std::iter::once((p, it.count()))))
        .collect()
        .unwrap();
    assert_eq!(sizes, vec![(0, 25), (1, 25), (2, 25), (3, 25)]);
    // Sampling is reproducible per seed and roughly the right size.
    let s1 = ds.sample(false, 0.3, 7).collect().unwrap();
    assert_eq!(s1, ds.sample(false, 0.3, 7).collect().unwrap());
    assert!((10..=50).contains(&s1.len()), "{}", s1.len());
    let big = c.parallelize((0..20_000u64).collect());
    let n = big.sample(true, 2.0, 1).count().unwrap();
    assert!((36_000..44_000).contains(&n), "{n}");
    // Broadcast values are visible in tasks.
    let lookup = c.broadcast((0..100u64).map(|i| i * i).collect::<Vec<_>>());
    let squares = ds.map(move |x| lookup[(x - 1) as usize]).collect().unwrap();
    assert_eq!(squares[9], 81);
}

#[test]
fn key_value_operations_match_references() {
    let c = ctx(3);
    let left = c.parallelize(vec![(1, 'a'), (2, 'b'), (2, 'c'), (3, 'd')]);
    let right = c.parallelize(vec![(2, 20), (3, 30), (3, 31), (4, 40)]);
    let mut joined = left.join(&right).collect().unwrap();
    joined.sort();
    assert_eq!(
        joined,
        vec![
            (2, ('b', 20)),
            (2, ('c', 20)),
            (3, ('d', 30)),
            (3, ('d', 31))
        ]
    );
    let mut outer = left.left_outer_join(&right).collect().unwrap();
    outer.sort();
    assert_eq!(outer[0], (1, ('a', None)));
    assert_eq!(outer.len(), 5);
    let mut cg = left.cogroup(&right).collect().unwrap();
    cg.sort();
    assert_eq!(cg.len(), 4);
    assert_eq!(cg[3], (4, (vec![], vec![40])));

    let pairs = c.parallelize((0..1000u64).map(|i| (i % 10, i)).collect());
    let mut avg = pairs
        .aggregate_by_key(
            (0u64, 0u64),
            |(s, n), v| (s + v, n + 1),
            |a, b| (a.0 + b.0, a.1 + b.1),
        )
        .map_values(|(s, n)| s / n)
        .collect()
        .unwrap();
    avg.sort();
    assert_eq!(avg[0], (0, 495));
    let mut groups = pairs.group_by_key_with(4).collect().unwrap();
    groups.sort();
    assert_eq!(groups[9].1.len(), 100);
    let desc = pairs
        .sort_by_key(false, 3)
        .unwrap()
        .keys()
        .collect()
        .unwrap();
    assert!(desc.windows(2).all(|w| w[0] >= w[1]));
    let parts = pairs.repartition_by_key(5);
    assert_eq!(parts.num_partitions(), 5);
    assert_eq!(parts.count().unwrap(), 1000);
    let combined: BTreeMap<u64, usize> = pairs
        .combine_by_key(|_| 1usize, |n, _| n + 1, |a, b| a + b, 2)
        .collect()
        .unwrap()
        .into_iter()
        .collect();
    assert!(combined.values().all(|n| *n == 100));
}

#[test]
fn mapreduce_word_count_sorts_keys_within_each_reducer() {
    let dir = tempfile::tempdir().unwrap();
    let text = "the cat and the hat\nthe end\n".repeat(200);
    std::fs::write(dir.path().join("in.txt"), &text).unwrap();
    let c = ctx(3);
    let job = MapReduceJob::new(
        |_off, line: &str, emit: &mut Vec<(String, u64)>| {
            for w in line.split_whitespace() {
                emit.push((w.to_string(), 1));
            }
        },
        |w: &String, ones: Vec<u64>, out: &mut Vec<String>| {
            out.push(format!("{w}\t{}", ones.iter().sum::<u64>()))
        },
    )
    .combiner(|a, b| a + b)
    .reducers(2);
    let out = dir.path().join("out");
    let input = dir.path().join("in.txt").display().to_string();
    job.run(&c, &[input], &out).unwrap();
    assert!(out.join("_SUCCESS").exists());
    let mut all = BTreeMap::new();
    for p in 0..2 {
        let part = std::fs::read_to_string(out.join(format!("part-{p:05}"))).unwrap();
        let keys: Vec<&str> = part
            .lines()
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "reducer {p} output is sorted"
        );
        for l in part.lines() {
            let (w, n) = l.split_once('\t').unwrap();
            all.insert(w.to_string(), n.parse::<u64>().unwrap());
        }
    }
    assert_eq!(all["the"], 600);
    assert_eq!(all["cat"], 200);
    assert_eq!(all.len(), 5);
}

#[test]
fn bad_input_and_output_get_clear_errors() {
    let c = ctx(2);
    let err = c.text_file(&["/definitely/not/here.txt"]).err().unwrap();
    assert!(matches!(err, Error::Input(_)));
    assert!(err.to_string().contains("/definitely/not/here.txt"));

    let dir = tempfile::tempdir().unwrap();
    let ds = c.parallelize(vec![1, 2, 3]);
    ds.save_as_text_file(dir.path().join("out")).unwrap();
    let err = ds.save_as_text_file(dir.path().join("out")).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    // A path below a regular file cannot be created.
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let err = ds
        .save_as_text_file(dir.path().join("file/out"))
        .unwrap_err();
    assert!(matches!(err, Error::Output { .. }), "{err}");

    // A record of the wrong size.
    std::fs::write(dir.path().join("recs"), vec![0u8; 150]).unwrap();
    let err = c
        .binary_records(&[dir.path().join("recs").display().to_string()], 100)
        .err()
        .unwrap();
    assert!(err.to_string().contains("not a multiple"), "{err}");

    // A user error raised inside a task fails the job at once, with its own message.
    let err = c
        .parallelize(vec!["1".to_string(), "x".into(), "3".into()])
        .try_flat_map(|s| {
            s.parse::<u32>()
                .map(Some)
                .map_err(|_| Error::Input(format!("not a number: {s:?}")))
        })
        .count()
        .unwrap_err();
    assert_eq!(err.to_string(), "not a number: \"x\"");
    assert_eq!(c.metrics().tasks_failed, 1, "bad input is not retried");
}

#[test]
fn saved_text_round_trips_in_partition_order() {
    let c = ctx(4);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nums");
    c.parallelize((0..1000u32).collect())
        .save_as_text_file(&out)
        .unwrap();
    let back = c
        .text_file(&[out.display().to_string()])
        .unwrap()
        .map(|l| l.parse::<u32>().unwrap())
        .collect()
        .unwrap();
    assert_eq!(back, (0..1000).collect::<Vec<_>>());
    assert!(!out.join("_temporary").exists());
}

#[test]
fn a_shuffle_read_coalesces_small_partitions_and_keeps_every_record() {
    let c = ctx(4);
    let pairs: Vec<(u32, u32)> = (0..1000u32).map(|i| (i % 10, i)).collect();
    let d = c.parallelize(pairs).partition_by(std::sync::Arc::new(
        strata_dataflow::DirectPartitioner::new(10),
    ));
    let sizes = d.shuffle_output_bytes("sizes").unwrap().unwrap();
    assert_eq!(sizes.len(), 10);
    assert!(sizes.iter().all(|b| *b > 0), "{sizes:?}");
    // Everything in one task; then at most two partitions' bytes a task; then none merged.
    let all = d.coalesce_shuffle("coalesce", u64::MAX).unwrap();
    assert_eq!(all.num_partitions(), 1);
    let max = *sizes.iter().max().unwrap();
    let pairs_of_two = d.coalesce_shuffle("coalesce", 2 * max).unwrap();
    assert!(
        (2..=5).contains(&pairs_of_two.num_partitions()),
        "{sizes:?}"
    );
    assert_eq!(
        d.coalesce_shuffle("coalesce", 1).unwrap().num_partitions(),
        10
    );
    for merged in [all, pairs_of_two] {
        let mut got: Vec<u32> = merged
            .collect()
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        got.sort();
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
    }
    // Not a shuffle read: no sizes, nothing to merge.
    let plain = c.parallelize(vec![1u32, 2, 3]);
    assert!(plain.shuffle_output_bytes("sizes").unwrap().is_none());
    assert_eq!(
        plain
            .coalesce_shuffle("c", u64::MAX)
            .unwrap()
            .num_partitions(),
        plain.num_partitions()
    );
}

//! Failure handling: panics, retries, lost shuffle outputs, lost cached partitions,
//! accumulators under retries, and clean-up of scratch files.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use strata_dataflow::{Context, DataflowConfig, Error, FailurePolicy, JobListener, StorageLevel};

fn ctx(partitions: usize) -> Context {
    Context::new(DataflowConfig {
        threads: 2,
        default_partitions: partitions,
        ..DataflowConfig::default()
    })
    .unwrap()
}

fn scratch_files(ctx: &Context, prefix: &str) -> Vec<String> {
    std::fs::read_dir(ctx.scratch_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[test]
fn a_panicking_task_fails_its_job_with_the_message_and_the_context_survives() {
    let ctx = ctx(4);
    let err = ctx
        .parallelize((0..100u32).collect())
        .map(|x| {
            if x == 57 {
                panic!("bad record 57");
            }
            x
        })
        .count()
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("bad record 57"), "{msg}");
    assert!(msg.contains("failed 4 times"), "{msg}");
    // The process and the context keep working.
    assert_eq!(ctx.parallelize((0..100u32).collect()).count().unwrap(), 100);
}

#[test]
fn retries_are_bounded_and_the_error_names_the_task() {
    let ctx = ctx(3);
    ctx.set_failure_policy(FailurePolicy::AlwaysFail(vec![2]));
    let err = ctx.parallelize((0..30u32).collect()).count().unwrap_err();
    match &err {
        Error::TaskFailed {
            partition,
            attempts,
            ..
        } => {
            assert_eq!(*partition, 2);
            assert_eq!(*attempts, 4);
        }
        other => panic!("unexpected error {other}"),
    }
    ctx.set_failure_policy(FailurePolicy::FailFirstAttempt(vec![0, 1, 2]));
    assert_eq!(ctx.parallelize((0..30u32).collect()).count().unwrap(), 30);
}

#[test]
fn accumulators_count_only_successful_attempts() {
    let ctx = ctx(5);
    ctx.set_failure_policy(FailurePolicy::FailFirstAttempt(vec![0, 3]));
    let acc = ctx.accumulator(0u64);
    let a = acc.clone();
    ctx.parallelize((1..=1000u64).collect())
        .for_each(move |x| a.add(x))
        .unwrap();
    assert_eq!(acc.value(), 500_500);
    assert!(ctx.metrics().tasks_failed >= 2);
}

#[derive(Default)]
struct StageCounter {
    map_tasks: AtomicUsize,
}

impl JobListener for StageCounter {
    fn on_stage_start(&self, _job: u64, _stage: u64, description: &str, tasks: usize) {
        if description.contains("map side") {
            self.map_tasks.fetch_add(tasks, Ordering::SeqCst);
        }
    }
}

#[test]
fn a_lost_shuffle_output_reruns_only_its_map_task() {
    let ctx = ctx(6);
    let counter = Arc::new(StageCounter::default());
    ctx.add_listener(counter.clone());
    let sums = ctx
        .parallelize((0..60_000u64).collect())
        .map(|x| (x % 1000, x))
        .reduce_by_key(|a, b| a + b);
    let first: u64 = sums.values().fold(0, |a, b| a + b).unwrap();
    assert_eq!(first, (0..60_000u64).sum::<u64>());
    assert_eq!(counter.map_tasks.load(Ordering::SeqCst), 6);
    assert_eq!(ctx.metrics().map_tasks_run, 6);

    // A second action reuses the shuffle output: no map task runs.
    assert_eq!(sums.count().unwrap(), 1000);
    assert_eq!(ctx.metrics().map_tasks_run, 6);

    // Lose map output 4's file (as if its disk or worker died).
    let outputs = scratch_files(&ctx, "shuffle-");
    assert_eq!(outputs.len(), 6, "{outputs:?}");
    let victim = outputs.iter().find(|n| n.contains("-4-")).unwrap();
    std::fs::remove_file(ctx.scratch_dir().join(victim)).unwrap();

    let again: u64 = sums.values().fold(0, |a, b| a + b).unwrap();
    assert_eq!(again, first);
    assert_eq!(
        ctx.metrics().map_tasks_run,
        7,
        "exactly one map task should have re-run"
    );
    assert_eq!(counter.map_tasks.load(Ordering::SeqCst), 7);
}

#[test]
fn a_corrupt_shuffle_output_is_detected_and_recomputed() {
    let ctx = ctx(3);
    let sums = ctx
        .parallelize((0..30_000u64).collect())
        .map(|x| (x % 100, x))
        .reduce_by_key(|a, b| a + b);
    let first = sums.values().fold(0, |a, b| a + b).unwrap();
    let outputs = scratch_files(&ctx, "shuffle-");
    let victim = ctx.scratch_dir().join(&outputs[0]);
    let len = std::fs::metadata(&victim).unwrap().len();
    std::fs::write(&victim, vec![0xffu8; (len / 2) as usize]).unwrap();
    assert_eq!(sums.values().fold(0, |a, b| a + b).unwrap(), first);
    assert_eq!(ctx.metrics().map_tasks_run, 4);
}

#[test]
fn a_lost_cached_partition_is_recomputed_from_lineage() {
    let ctx = ctx(4);
    let computed = Arc::new(AtomicUsize::new(0));
    let c = computed.clone();
    let cached = ctx
        .parallelize((0..4000u64).collect())
        .map(move |x| {
            c.fetch_add(1, Ordering::SeqCst);
            x * 3
        })
        .persist(StorageLevel::MemoryOnly);
    let sum = cached.fold(0, |a, b| a + b).unwrap();
    assert_eq!(computed.load(Ordering::SeqCst), 4000);
    assert_eq!(cached.cached_partitions(), 4);
    assert_eq!(cached.fold(0, |a, b| a + b).unwrap(), sum);
    assert_eq!(computed.load(Ordering::SeqCst), 4000, "served from cache");

    assert!(cached.evict_cached_partition(2));
    assert_eq!(cached.fold(0, |a, b| a + b).unwrap(), sum);
    assert_eq!(
        computed.load(Ordering::SeqCst),
        5000,
        "only the lost partition is recomputed"
    );
    cached.unpersist();
    assert_eq!(cached.cached_partitions(), 0);
}

#[test]
fn disk_cache_survives_and_loss_of_its_file_is_recomputed() {
    let ctx = ctx(2);
    let cached = ctx
        .parallelize((0..1000u64).map(|i| format!("r{i}")).collect())
        .persist(StorageLevel::DiskOnly);
    assert_eq!(cached.count().unwrap(), 1000);
    let files = scratch_files(&ctx, "cache-");
    assert_eq!(files.len(), 2);
    std::fs::remove_file(ctx.scratch_dir().join(&files[0])).unwrap();
    let mut all = cached.collect().unwrap();
    all.sort();
    assert_eq!(all.len(), 1000);
    assert!(ctx.metrics().cache_misses >= 3);
}

#[test]
fn shuffle_and_spill_files_are_removed_when_no_longer_needed() {
    let ctx = Context::new(DataflowConfig {
        threads: 2,
        default_partitions: 4,
        memory: strata_common::ByteSize::mib(1),
        ..DataflowConfig::default()
    })
    .unwrap();
    {
        let sorted = ctx
            .parallelize(
                (0..100_000u64)
                    .rev()
                    .map(|i| (i, format!("v{i}")))
                    .collect(),
            )
            .sort_by_key(true, 4)
            .unwrap();
        let first = sorted.first().unwrap().unwrap();
        assert_eq!(first.0, 0);
        assert!(ctx.metrics().spills > 0);
        assert!(!scratch_files(&ctx, "shuffle-").is_empty());
        // Spill files live only while their task runs.
        assert!(scratch_files(&ctx, "spill").is_empty());
        assert!(scratch_files(&ctx, "sort-run").is_empty());
        assert!(scratch_files(&ctx, "agg-spill").is_empty());
    }
    // The dataset (and its lineage) is gone: so are its shuffle files. The last reference
    // may be a finished task's closure that a pool thread drops just after the job's
    // result arrived, so wait for it (a condition, bounded), as for the directory below.
    assert!(
        eventually(|| scratch_files(&ctx, "shuffle-").is_empty()),
        "shuffle files outlive their dataset"
    );
    let dir = ctx.scratch_dir().to_path_buf();
    drop(ctx);
    assert!(
        eventually(|| !dir.exists()),
        "the scratch directory goes with the context"
    );
}

/// Whether `cond` holds within 30 s (checked every 10 ms).
fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cond() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    true
}

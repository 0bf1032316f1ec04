//! Window semantics against a batch computation of the same events: tumbling, sliding and
//! session windows over out-of-order partitions, late data with and without allowed
//! lateness, accumulation modes, idle partitions, and keyed state across parallelism.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use strata_stream::window::merge_sessions_batch;
use strata_stream::{
    Accumulation, Aggregate, Assigner, Collected, Fired, StreamConfig, StreamEnv, Timing,
    VecSource, WatermarkStrategy, Window,
};

type Ev = (u32, i64); // (key, event time)

/// `parts` partitions of events whose time goes forward with jitter up to `disorder`.
fn events(seed: u64, parts: usize, per_part: usize, keys: u32, disorder: i64) -> Vec<Vec<Ev>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..parts)
        .map(|_| {
            let mut t = 1_000_000i64;
            (0..per_part)
                .map(|_| {
                    t += rng.gen_range(0..40);
                    (rng.gen_range(0..keys), t - rng.gen_range(0..=disorder))
                })
                .collect()
        })
        .collect()
}

fn run_counts(
    parts: Vec<Vec<Ev>>,
    assigner: Assigner,
    bound: Duration,
    lateness: Duration,
    mode: Accumulation,
    parallelism: usize,
) -> (Vec<Fired<u32, u64>>, Vec<Ev>) {
    run_batches(parts, assigner, bound, lateness, mode, parallelism, 512)
}

/// As `run_counts`, the source polling `batch` records between watermarks.
fn run_batches(
    parts: Vec<Vec<Ev>>,
    assigner: Assigner,
    bound: Duration,
    lateness: Duration,
    mode: Accumulation,
    parallelism: usize,
    batch: usize,
) -> (Vec<Fired<u32, u64>>, Vec<Ev>) {
    let env = StreamEnv::new(StreamConfig {
        parallelism,
        batch_size: batch,
        ..Default::default()
    });
    let s = env.source(
        VecSource::new(parts),
        WatermarkStrategy::bounded(bound, |e: &Ev| e.1),
    );
    let (fired, late) = s
        .key_by(|e: &Ev| e.0)
        .window(assigner)
        .allowed_lateness(lateness)
        .accumulation(mode)
        .aggregate_with_late(Aggregate::count());
    let out: Collected<Fired<u32, u64>> = Arc::new(Mutex::new(Vec::new()));
    let late_out: Collected<Ev> = Arc::new(Mutex::new(Vec::new()));
    fired.collect_into(out.clone());
    late.collect_into(late_out.clone());
    env.execute().unwrap();
    let f = out
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.value.clone())
        .collect();
    let l = late_out.lock().unwrap().iter().map(|r| r.value).collect();
    (f, l)
}

/// The batch answer: count per (key, window).
fn batch(evs: impl Iterator<Item = Ev>, assigner: Assigner) -> BTreeMap<(u32, Window), u64> {
    let mut m = BTreeMap::new();
    let mut by_key: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    let mut w = Vec::new();
    for (k, t) in evs {
        if let Assigner::Session { .. } = assigner {
            by_key.entry(k).or_default().push(t);
            continue;
        }
        assigner.assign(t, &mut w);
        for win in &w {
            *m.entry((k, *win)).or_insert(0) += 1;
        }
    }
    if let Assigner::Session { gap } = assigner {
        for (k, ts) in by_key {
            for (win, n) in merge_sessions_batch(ts, gap) {
                m.insert((k, win), n);
            }
        }
    }
    m
}

fn final_counts(fired: &[Fired<u32, u64>]) -> BTreeMap<(u32, Window), u64> {
    let mut m = BTreeMap::new();
    for f in fired.iter().filter(|f| !f.retraction) {
        // Accumulating: the last pane of a window holds its total.
        m.insert((f.key, f.window), f.value);
    }
    m
}

#[test]
fn tumbling_sliding_and_session_windows_equal_the_batch_answer_on_out_of_order_input() {
    let bound = Duration::from_millis(200);
    for (seed, assigner) in [
        (1, Assigner::tumbling(Duration::from_millis(500))),
        (
            2,
            Assigner::sliding(Duration::from_millis(1000), Duration::from_millis(250)),
        ),
        (3, Assigner::session(Duration::from_millis(150))),
    ] {
        for p in [1, 3] {
            // Disorder within the bound: nothing is late.
            let parts = events(seed, 4, 3000, 17, 200);
            let all: Vec<Ev> = parts.iter().flatten().copied().collect();
            let (fired, late) = run_counts(
                parts,
                assigner,
                bound,
                Duration::ZERO,
                Accumulation::Accumulating,
                p,
            );
            assert!(late.is_empty(), "{assigner:?}: {} late", late.len());
            assert!(fired.iter().all(|f| f.timing == Timing::OnTime));
            let got = final_counts(&fired);
            assert_eq!(got.len(), fired.len(), "{assigner:?}: one pane per window");
            assert_eq!(
                got,
                batch(all.into_iter(), assigner),
                "{assigner:?} at parallelism {p}"
            );
        }
    }
}

#[test]
fn records_later_than_the_allowed_lateness_go_to_the_side_output_and_the_rest_refine_panes() {
    let assigner = Assigner::tumbling(Duration::from_millis(500));
    // Disorder far beyond the 50 ms bound: many records are late.
    let parts = events(7, 1, 5000, 5, 2000);
    let all: Vec<Ev> = parts.iter().flatten().copied().collect();
    // Without lateness: results + late records = every record, and results are exactly
    // the batch answer over the records that were not late.
    let (fired, late) = run_counts(
        parts.clone(),
        assigner,
        Duration::from_millis(50),
        Duration::ZERO,
        Accumulation::Accumulating,
        1,
    );
    assert!(!late.is_empty());
    let counted: u64 = final_counts(&fired).values().sum();
    assert_eq!(counted + late.len() as u64, all.len() as u64);
    let mut on_time = all.clone();
    for l in &late {
        let i = on_time.iter().position(|e| e == l).unwrap();
        on_time.swap_remove(i);
    }
    assert_eq!(final_counts(&fired), batch(on_time.into_iter(), assigner));

    // With lateness covering the disorder: late panes refine windows to the full answer.
    let (fired, late) = run_counts(
        parts.clone(),
        assigner,
        Duration::from_millis(50),
        Duration::from_secs(3),
        Accumulation::Accumulating,
        2,
    );
    assert!(late.is_empty());
    assert!(fired.iter().any(|f| f.timing == Timing::Late));
    assert_eq!(final_counts(&fired), batch(all.iter().copied(), assigner));

    // Discarding: the panes of a window add up to its total.
    let (fired, _) = run_counts(
        parts.clone(),
        assigner,
        Duration::from_millis(50),
        Duration::from_secs(3),
        Accumulation::Discarding,
        2,
    );
    let mut sums: BTreeMap<(u32, Window), u64> = BTreeMap::new();
    for f in &fired {
        *sums.entry((f.key, f.window)).or_insert(0) += f.value;
    }
    assert_eq!(sums, batch(all.iter().copied(), assigner));

    // Retracting: each refinement withdraws the previous pane, so the signed sum is the total.
    let (fired, _) = run_counts(
        parts,
        assigner,
        Duration::from_millis(50),
        Duration::from_secs(3),
        Accumulation::Retracting,
        2,
    );
    assert!(fired.iter().any(|f| f.retraction));
    let mut signed: BTreeMap<(u32, Window), i64> = BTreeMap::new();
    for f in &fired {
        *signed.entry((f.key, f.window)).or_insert(0) += if f.retraction {
            -(f.value as i64)
        } else {
            f.value as i64
        };
    }
    let want: BTreeMap<(u32, Window), i64> = batch(all.iter().copied(), assigner)
        .into_iter()
        .map(|(k, v)| (k, v as i64))
        .collect();
    assert_eq!(signed, want);
}

#[test]
fn late_records_bridging_two_sessions_retract_both_and_fire_the_merged_one() {
    let key = 1u32;
    // Sessions [0,100) and [200,300) fire once the watermark passes 2000; then a late
    // record at 130 (within the lateness) bridges them into [0,350).
    let main = vec![
        (key, 0),
        (key, 50),
        (key, 200),
        (key, 250),
        (9, 2000),
        (key, 130),
    ];
    let (fired, late) = run_batches(
        vec![main],
        Assigner::session(Duration::from_millis(100)),
        Duration::ZERO,
        Duration::from_secs(10),
        Accumulation::Retracting,
        1,
        1,
    );
    assert!(late.is_empty());
    let mine: Vec<_> = fired.iter().filter(|f| f.key == key).collect();
    let mut retracted: Vec<_> = mine
        .iter()
        .filter(|f| f.retraction)
        .map(|f| (f.window.start, f.value))
        .collect();
    retracted.sort_unstable();
    assert_eq!(retracted, vec![(0, 2), (200, 2)], "{mine:?}");
    let last = mine.iter().rev().find(|f| !f.retraction).unwrap();
    assert_eq!(
        (last.window, last.value),
        (Window { start: 0, end: 350 }, 5)
    );
}

#[test]
fn an_idle_partition_does_not_stall_the_watermark() {
    let gate = Arc::new(AtomicBool::new(false));
    let out: Collected<Fired<u32, u64>> = Arc::new(Mutex::new(Vec::new()));
    let (g, o) = (gate.clone(), out.clone());
    let job = std::thread::spawn(move || {
        let env = StreamEnv::new(StreamConfig::default());
        let src = VecSource::new(events(11, 1, 2000, 3, 0)).with_silent_partitions(1, g);
        let s = env.source(
            src,
            WatermarkStrategy::bounded(Duration::ZERO, |e: &Ev| e.1)
                .with_idleness(Duration::from_millis(100)),
        );
        s.key_by(|e: &Ev| e.0)
            .window(Assigner::tumbling(Duration::from_millis(500)))
            .aggregate(Aggregate::count())
            .collect_into(o);
        env.execute().map(|_| ())
    });
    // Windows fire while the silent partition is still open; without idleness they could
    // not (its watermark would hold the minimum at the beginning of time).
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no window fired while a partition was idle"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    gate.store(true, Ordering::SeqCst);
    job.join().unwrap().unwrap();
}

#[test]
fn a_zero_window_is_a_clear_error() {
    let env = StreamEnv::new(StreamConfig::default());
    let s = env.source(
        VecSource::new(vec![vec![(1u32, 1i64)]]),
        WatermarkStrategy::bounded(Duration::ZERO, |e: &Ev| e.1),
    );
    s.key_by(|e: &Ev| e.0)
        .window(Assigner::tumbling(Duration::ZERO))
        .aggregate(Aggregate::count())
        .collect_into(Arc::new(Mutex::new(Vec::new())));
    let err = env.execute().unwrap_err().to_string();
    assert!(err.contains("window size must be > 0"), "{err}");
}

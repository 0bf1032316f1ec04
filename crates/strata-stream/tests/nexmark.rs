//! Nexmark queries against a batch computation of the same events (the query's meaning
//! written as plain loops over the whole input), at parallelism 1 and 3.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use strata_stream::nexmark::{self, Auction, Bid, Event, GeneratorSource, Person};
use strata_stream::time::format_ts;
use strata_stream::window::merge_sessions_batch;
use strata_stream::{StateBackend, StreamConfig, StreamEnv, WatermarkStrategy};

const EVENTS: u64 = 60_000;

fn run(q: &str, parallelism: usize, dir: &Path) -> Vec<String> {
    run_on(q, parallelism, dir, StateBackend::Heap)
}

fn run_on(q: &str, parallelism: usize, dir: &Path, state_backend: StateBackend) -> Vec<String> {
    let lsm = state_backend != StateBackend::Heap;
    let env = StreamEnv::new(StreamConfig {
        parallelism,
        state_backend,
        ..Default::default()
    });
    let events = env.source(
        GeneratorSource {
            total: EVENTS,
            parts: 4,
            seed: 0,
        },
        WatermarkStrategy::bounded(Duration::from_secs(4), |e: &Event| e.ts()),
    );
    let out = dir.join(format!("{q}-{parallelism}-{lsm}"));
    nexmark::build_query(
        q,
        &events,
        &nexmark::Output::Files(out.to_string_lossy().to_string()),
    )
    .unwrap();
    env.execute().unwrap();
    let mut rows = Vec::new();
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with('_') {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), nexmark::header(q));
        rows.extend(lines.map(str::to_string));
    }
    rows.sort();
    rows
}

struct Input {
    persons: Vec<Person>,
    auctions: Vec<Auction>,
    bids: Vec<Bid>,
}

fn input() -> Input {
    let mut i = Input {
        persons: Vec::new(),
        auctions: Vec::new(),
        bids: Vec::new(),
    };
    for e in nexmark::events(EVENTS, 4, 0) {
        match e {
            Event::Person(p) => i.persons.push(p),
            Event::Auction(a) => i.auctions.push(a),
            Event::Bid(b) => i.bids.push(b),
        }
    }
    i
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn expected(q: &str, i: &Input) -> Vec<String> {
    let w10 = |t: i64| t - t.rem_euclid(10_000);
    sorted(match q {
        "q2" => i
            .bids
            .iter()
            .filter(|b| b.auction % 123 == 0)
            .map(|b| format!("{},{}", b.auction, b.price))
            .collect(),
        "q3" => {
            let people: HashMap<i64, &Person> = i
                .persons
                .iter()
                .filter(|p| ["OR", "ID", "CA"].contains(&p.state.as_str()))
                .map(|p| (p.id, p))
                .collect();
            i.auctions
                .iter()
                .filter(|a| a.category == 10)
                .filter_map(|a| {
                    people
                        .get(&a.seller)
                        .map(|p| format!("{},{},{},{}", p.name, p.city, p.state, a.id))
                })
                .collect()
        }
        "q4" => {
            let mut best: HashMap<i64, i64> = HashMap::new();
            let by_id: HashMap<i64, &Auction> = i.auctions.iter().map(|a| (a.id, a)).collect();
            for b in &i.bids {
                if let Some(a) = by_id.get(&b.auction)
                    && b.date_time >= a.date_time
                    && b.date_time <= a.expires
                {
                    let e = best.entry(a.id).or_insert(i64::MIN);
                    *e = (*e).max(b.price);
                }
            }
            let mut cat: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
            for (id, p) in best {
                let c = cat.entry(by_id[&id].category).or_default();
                c.0 += p;
                c.1 += 1;
            }
            cat.into_iter()
                .map(|(c, (s, n))| format!("{c},{}", s / n))
                .collect()
        }
        "q5" => {
            let mut counts: BTreeMap<(i64, i64), u64> = BTreeMap::new();
            for b in &i.bids {
                let mut start = b.date_time - b.date_time.rem_euclid(2_000);
                while start > b.date_time - 10_000 {
                    *counts.entry((start, b.auction)).or_default() += 1;
                    start -= 2_000;
                }
            }
            let mut max: BTreeMap<i64, u64> = BTreeMap::new();
            for (&(w, _), &n) in &counts {
                let m = max.entry(w).or_default();
                *m = (*m).max(n);
            }
            counts
                .iter()
                .filter(|((w, _), n)| **n >= max[w])
                .map(|((_, a), n)| format!("{a},{n}"))
                .collect()
        }
        "q7" => {
            let mut max: HashMap<i64, i64> = HashMap::new();
            for b in &i.bids {
                let e = max.entry(w10(b.date_time) + 10_000).or_insert(i64::MIN);
                *e = (*e).max(b.price);
            }
            let mut rows = Vec::new();
            for b in &i.bids {
                let mut ends = vec![w10(b.date_time) + 10_000];
                if b.date_time.rem_euclid(10_000) == 0 {
                    ends.push(b.date_time);
                }
                for end in ends {
                    if max.get(&end) == Some(&b.price) {
                        rows.push(format!(
                            "{},{},{},{},{}",
                            b.auction,
                            b.price,
                            b.bidder,
                            format_ts(b.date_time),
                            b.extra
                        ));
                    }
                }
            }
            rows
        }
        "q8" => {
            let sellers: BTreeSet<(i64, i64)> = i
                .auctions
                .iter()
                .map(|a| (a.seller, w10(a.date_time)))
                .collect();
            i.persons
                .iter()
                .filter(|p| sellers.contains(&(p.id, w10(p.date_time))))
                .map(|p| format!("{},{},{}", p.id, p.name, format_ts(w10(p.date_time))))
                .collect()
        }
        "q11" => {
            let mut by: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for b in &i.bids {
                by.entry(b.bidder).or_default().push(b.date_time);
            }
            by.into_iter()
                .flat_map(|(k, ts)| {
                    merge_sessions_batch(ts, 10_000)
                        .into_iter()
                        .map(move |(w, n)| {
                            format!("{k},{n},{},{}", format_ts(w.start), format_ts(w.end))
                        })
                })
                .collect()
        }
        _ => unreachable!(),
    })
}

#[test]
fn nexmark_queries_equal_their_batch_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input();
    assert!(input.bids.len() > 50_000 && !input.persons.is_empty() && !input.auctions.is_empty());
    for q in ["q2", "q3", "q4", "q5", "q7", "q8", "q11"] {
        let want = expected(q, &input);
        assert!(
            !want.is_empty(),
            "{q}: the batch answer is empty; the test would prove nothing"
        );
        for p in [1, 3] {
            let got = run(q, p, tmp.path());
            assert_eq!(got.len(), want.len(), "{q} at parallelism {p}: row counts");
            assert_eq!(got, want, "{q} at parallelism {p}");
        }
    }
}

#[test]
fn joins_and_timers_give_the_same_answers_with_state_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input();
    for q in ["q3", "q4", "q8"] {
        let want = expected(q, &input);
        let got = run_on(q, 2, tmp.path(), StateBackend::lsm(tmp.path(), 2 << 20));
        assert_eq!(got, want, "{q} on the LSM backend");
    }
}

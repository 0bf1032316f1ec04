//! Every collective against a serial reference, for 1 to 4 ranks and odd sizes, over real
//! TCP connections (one thread per rank); failures and mismatches are reported, not hung.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng, rngs::SmallRng};
use strata_collective::{CollectiveError, Communicator, Config, ReduceOp, segments};

fn cfg() -> Config {
    Config {
        timeout: Duration::from_secs(30),
        // Small chunks so odd sizes cross chunk boundaries.
        chunk_bytes: 40,
        ring_threshold_bytes: 100,
        ..Config::default()
    }
}

/// Runs `f(comm)` on `n` ranks (threads) and returns their results in rank order.
fn world<R: Send + 'static>(
    n: usize,
    cfg: Config,
    f: impl Fn(&mut Communicator) -> R + Send + Sync + Clone + 'static,
) -> Vec<R> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut handles = Vec::new();
    let mut listener = Some(listener);
    for r in 0..n {
        let (f, cfg, addr) = (f.clone(), cfg.clone(), addr.clone());
        let l = if r == 0 { listener.take() } else { None };
        handles.push(std::thread::spawn(move || {
            let mut c = match l {
                Some(l) => Communicator::init_root(l, n, "test", cfg).unwrap(),
                None => Communicator::init(r, n, &addr, "test", cfg).unwrap(),
            };
            f(&mut c)
        }));
    }
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn data(rank: usize, len: usize, salt: u64) -> Vec<i64> {
    let mut rng = SmallRng::seed_from_u64(salt * 1000 + rank as u64);
    (0..len).map(|_| rng.gen_range(-1000..1000)).collect()
}

fn reference(n: usize, len: usize, salt: u64, op: ReduceOp) -> Vec<i64> {
    let mut acc = data(0, len, salt);
    for r in 1..n {
        strata_collective::reduce_into(op, &mut acc, &data(r, len, salt));
    }
    acc
}

const SIZES: [usize; 6] = [0, 1, 3, 7, 17, 101];
const OPS: [ReduceOp; 4] = [ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min];

#[test]
fn all_reduce_ring_and_tree_match_the_serial_reference() {
    for n in 1..=4 {
        let got = world(n, cfg(), move |c| {
            let mut out = Vec::new();
            for (i, &len) in SIZES.iter().enumerate() {
                for (j, &op) in OPS.iter().enumerate() {
                    let salt = (i * 10 + j) as u64;
                    let mut a = data(c.rank(), len, salt);
                    c.all_reduce_ring(&mut a, op).unwrap();
                    let mut b = data(c.rank(), len, salt);
                    c.all_reduce_tree(&mut b, op).unwrap();
                    let mut d = data(c.rank(), len, salt);
                    c.all_reduce(&mut d, op).unwrap();
                    out.push((len, op, salt, a, b, d));
                }
            }
            out
        });
        for rank_out in got {
            for (len, op, salt, a, b, d) in rank_out {
                let want = reference(n, len, salt, op);
                assert_eq!(a, want, "ring n={n} len={len} {op:?}");
                assert_eq!(b, want, "tree n={n} len={len} {op:?}");
                assert_eq!(d, want, "auto n={n} len={len} {op:?}");
            }
        }
    }
}

#[test]
fn float_all_reduce_is_bit_identical_across_ranks_and_runs() {
    let run = || {
        world(3, cfg(), |c| {
            let mut v: Vec<f32> = (0..1001)
                .map(|i| ((i * 7 + c.rank() * 13) as f32).sin() / 3.0)
                .collect();
            c.all_reduce(&mut v, ReduceOp::Sum).unwrap();
            v
        })
    };
    let first = run();
    assert!(first.iter().all(|v| {
        v.iter()
            .map(|x| x.to_bits())
            .eq(first[0].iter().map(|x| x.to_bits()))
    }));
    assert_eq!(run(), first);
}

#[test]
fn rooted_collectives_match_the_serial_reference() {
    for n in 1..=4 {
        for root in 0..n {
            let got = world(n, cfg(), move |c| {
                let r = c.rank();
                let mut out = Vec::new();
                for (i, &len) in SIZES.iter().enumerate() {
                    let salt = 100 + i as u64;
                    let mut b = data(r, len, salt);
                    c.broadcast(root, &mut b).unwrap();
                    let mut red = data(r, len, salt);
                    c.reduce(root, &mut red, ReduceOp::Sum).unwrap();
                    // Variable lengths: rank r contributes len + r elements.
                    let g = c.gather(root, &data(r, len + r, salt)).unwrap();
                    let parts: Vec<Vec<i64>> = (0..c.size())
                        .map(|k| data(k, len + 2 * k, salt + 7))
                        .collect();
                    let s = c.scatter(root, (r == root).then_some(&parts[..])).unwrap();
                    out.push((len, salt, b, red, g, s));
                }
                out
            });
            for (r, rank_out) in got.into_iter().enumerate() {
                for (len, salt, b, red, g, s) in rank_out {
                    assert_eq!(b, data(root, len, salt), "broadcast n={n} root={root}");
                    if r == root {
                        assert_eq!(red, reference(n, len, salt, ReduceOp::Sum), "reduce n={n}");
                        let g = g.expect("root gets the gather");
                        for (k, part) in g.iter().enumerate() {
                            assert_eq!(part, &data(k, len + k, salt), "gather n={n}");
                        }
                    } else {
                        assert_eq!(red, data(r, len, salt), "reduce leaves non-root buffers");
                        assert!(g.is_none());
                    }
                    assert_eq!(
                        s,
                        data(r, len + 2 * r, salt + 7),
                        "scatter n={n} root={root}"
                    );
                }
            }
        }
    }
}

#[test]
fn reduce_scatter_all_gather_barrier_and_send_recv() {
    for n in 1..=4 {
        let got = world(n, cfg(), move |c| {
            let r = c.rank();
            let mut out = Vec::new();
            for (i, &len) in SIZES.iter().enumerate() {
                let salt = 200 + i as u64;
                let mut buf = data(r, len, salt);
                let mine = c.reduce_scatter(&mut buf, ReduceOp::Sum).unwrap();
                let all = c.all_gather(&data(r, len, salt)).unwrap();
                c.barrier().unwrap();
                // A ring of point-to-point messages, both directions at once.
                let n = c.size();
                c.send((r + 1) % n, &data(r, len, salt + 1)).unwrap();
                c.send((r + n - 1) % n, &data(r, len + 1, salt + 2))
                    .unwrap();
                let from_left: Vec<i64> = c.recv((r + n - 1) % n).unwrap();
                let from_right: Vec<i64> = c.recv((r + 1) % n).unwrap();
                out.push((len, salt, mine, all, from_left, from_right));
            }
            out
        });
        for (r, rank_out) in got.into_iter().enumerate() {
            for (len, salt, mine, all, from_left, from_right) in rank_out {
                let want = reference(n, len, salt, ReduceOp::Sum);
                assert_eq!(
                    mine,
                    want[segments(len, n)[r].clone()],
                    "reduce_scatter n={n}"
                );
                let cat: Vec<i64> = (0..n).flat_map(|k| data(k, len, salt)).collect();
                assert_eq!(all, cat, "all_gather n={n}");
                if n > 1 {
                    assert_eq!(from_left, data((r + n - 1) % n, len, salt + 1));
                    assert_eq!(from_right, data((r + 1) % n, len + 1, salt + 2));
                }
            }
        }
    }
}

#[test]
fn large_buffers_stream_through_the_ring() {
    let cfg = Config {
        chunk_bytes: 64 << 10,
        ..Config::default()
    };
    let got = world(3, cfg, |c| {
        let mut v: Vec<f64> = (0..1_000_003)
            .map(|i| (i % 97) as f64 + c.rank() as f64)
            .collect();
        c.all_reduce(&mut v, ReduceOp::Sum).unwrap();
        v
    });
    for v in got {
        assert!(
            v.iter()
                .enumerate()
                .all(|(i, x)| *x == 3.0 * (i % 97) as f64 + 3.0)
        );
    }
}

#[test]
fn a_dead_rank_is_reported_on_every_survivor_within_the_timeout() {
    // Rank 2 leaves abruptly (its sockets close as a killed process's do) in the middle of
    // the job; ranks 0, 1 and 3 are inside an all-reduce that needs it and must fail fast
    // with PeerDead naming rank 2, not wait for the (long) timeout.
    let cfg = Config {
        timeout: Duration::from_secs(120),
        ..cfg()
    };
    let start = Instant::now();
    // Rank 2 leaves once every rank has its first result (its last sends delivered).
    let all_done = std::sync::Arc::new(std::sync::Barrier::new(4));
    let got = world(4, cfg, move |c| {
        let mut v = vec![1.0f32; 1000];
        c.all_reduce(&mut v, ReduceOp::Sum).unwrap();
        all_done.wait();
        if c.rank() == 2 {
            // Close the links without a goodbye, the way a crash does.
            c.abort();
            return None;
        }
        c.all_reduce(&mut v, ReduceOp::Sum).err()
    });
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "survivors waited for the timeout"
    );
    for (r, res) in got.into_iter().enumerate() {
        if r == 2 {
            continue;
        }
        match res {
            Some(CollectiveError::PeerDead { rank: 2, .. }) => {}
            other => panic!("rank {r}: expected PeerDead(2), got {other:?}"),
        }
    }
}

#[test]
fn mismatched_calls_are_reported_not_hung() {
    let got = world(2, cfg(), |c| {
        let mut v = vec![1i64; 10];
        if c.rank() == 0 {
            c.broadcast(0, &mut v).map(|_| ())
        } else {
            c.all_reduce_tree(&mut v, ReduceOp::Sum).map(|_| ())
        }
    });
    match &got[1] {
        Err(CollectiveError::Mismatch { rank: 0, detail }) => {
            assert!(
                detail.contains("broadcast") && detail.contains("all_reduce"),
                "{detail}"
            )
        }
        other => panic!("expected a mismatch on rank 1, got {other:?}"),
    }
    // Different lengths on the two ranks.
    let got = world(2, cfg(), |c| {
        let mut v = vec![1i64; 10 + 5 * c.rank()];
        c.all_reduce_tree(&mut v, ReduceOp::Sum).map(|_| ())
    });
    assert!(
        got.iter()
            .any(|r| matches!(r, Err(CollectiveError::Mismatch { .. }))),
        "{got:?}"
    );
}

#[test]
fn a_rank_of_another_job_or_world_size_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let root = std::thread::spawn(move || {
        Communicator::init_root(listener, 2, "job-a", cfg()).map(|_| ())
    });
    let other = Communicator::init(1, 3, &addr, "job-a", cfg());
    let e = root.join().unwrap().unwrap_err().to_string();
    assert!(e.contains("world of 3"), "{e}");
    assert!(other.is_err());
}

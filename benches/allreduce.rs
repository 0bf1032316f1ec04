//! All-reduce bandwidth of strata-collective: `n` ranks (threads, each with its own
//! communicator over loopback TCP, as separate processes would have), f32 buffers from
//! 4 KiB to 64 MiB. Prints CSV `impl,ranks,bytes,ms_per_op,algbw_gbps,busbw_gbps` (bus
//! bandwidth = algorithm bandwidth × 2(n−1)/n, NCCL's convention). bench/allreduce.sh runs
//! it beside PyTorch's gloo backend on the same sizes and ranks.
//!
//!     cargo bench --bench allreduce -- [RANKS...]   (default: 2 4)

use std::net::TcpListener;
use std::time::Instant;

use strata::collective::{Communicator, Config, ReduceOp};

const SIZES: [usize; 6] = [4 << 10, 64 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20];

fn run(n: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut listener = Some(listener);
    let handles: Vec<_> = (0..n)
        .map(|r| {
            let addr = addr.clone();
            let l = listener.take();
            std::thread::spawn(move || {
                let cfg = Config::default();
                let mut c = match l {
                    Some(l) => Communicator::init_root(l, n, "bench", cfg).unwrap(),
                    None => Communicator::init(r, n, &addr, "bench", cfg).unwrap(),
                };
                for bytes in SIZES {
                    let mut buf = vec![1.0f32; bytes / 4];
                    let iters = ((256 << 20) / bytes).clamp(5, 200);
                    for _ in 0..3 {
                        c.all_reduce(&mut buf, ReduceOp::Sum).unwrap();
                    }
                    c.barrier().unwrap();
                    let t = Instant::now();
                    for _ in 0..iters {
                        c.all_reduce(&mut buf, ReduceOp::Sum).unwrap();
                    }
                    c.barrier().unwrap();
                    let secs = t.elapsed().as_secs_f64() / iters as f64;
                    if r == 0 {
                        let alg = bytes as f64 / secs / 1e9;
                        let bus = alg * 2.0 * (n - 1) as f64 / n as f64;
                        println!("strata,{n},{bytes},{:.4},{alg:.3},{bus:.3}", secs * 1e3);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn main() {
    let ranks: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    println!("impl,ranks,bytes,ms_per_op,algbw_gbps,busbw_gbps");
    for n in if ranks.is_empty() { vec![2, 4] } else { ranks } {
        run(n);
    }
}

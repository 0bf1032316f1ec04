//! DFSIO-style throughput of a running Strata DFS cluster (Hadoop's TestDFSIO shape).
//!
//! ```sh
//! cargo bench --bench dfsio -- --master 127.0.0.1:7070 --files 4 --size 1g --replication 3
//! cargo bench --bench dfsio -- --master 127.0.0.1:7070 --meta 20000 --threads 16
//! ```
//!
//! Throughput mode writes `--files` files of `--size` bytes concurrently (one thread each),
//! then reads them back concurrently, and prints aggregate MB/s for each. Metadata mode
//! (NNThroughputBenchmark style) has `--threads` clients create `--meta` empty files in
//! total, then list them, then delete them, and prints operations per second for each.

use std::sync::Arc;
use std::time::Instant;
use strata::common::ByteSize;
use strata::dfs::DfsClient;

struct Args {
    master: String,
    secret: String,
    files: usize,
    size: u64,
    replication: u32,
    meta: usize,
    threads: usize,
}

fn parse() -> Args {
    let mut a = Args {
        master: std::env::var("STRATA_MASTER").unwrap_or_else(|_| "127.0.0.1:7070".into()),
        secret: std::env::var("STRATA_SECRET").unwrap_or_default(),
        files: 4,
        size: 1 << 30,
        replication: 3,
        meta: 0,
        threads: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().expect("flag value");
        match k.as_str() {
            "--master" => a.master = v(),
            "--secret" => a.secret = v(),
            "--files" => a.files = v().parse().expect("number"),
            "--size" => a.size = v().parse::<ByteSize>().expect("size").bytes(),
            "--replication" => a.replication = v().parse().expect("number"),
            "--meta" => a.meta = v().parse().expect("number"),
            "--threads" => a.threads = v().parse().expect("number"),
            _ => {}
        }
    }
    a
}

/// A reader of `len` pseudo-random bytes (cheap to generate, incompressible).
struct Gen {
    left: u64,
    x: u64,
}

impl std::io::Read for Gen {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            self.x ^= self.x << 13;
            self.x ^= self.x >> 7;
            self.x ^= self.x << 17;
            let b = self.x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn throughput(a: &Args) {
    let dir = format!("/dfsio-{}", std::process::id());
    DfsClient::connect(&a.master, &a.secret)
        .unwrap()
        .mkdir(&dir, true)
        .unwrap();
    let start = Instant::now();
    let handles: Vec<_> = (0..a.files)
        .map(|i| {
            let (master, secret, size, r, dir) = (
                a.master.clone(),
                a.secret.clone(),
                a.size,
                a.replication,
                dir.clone(),
            );
            std::thread::spawn(move || {
                let mut c = DfsClient::connect(&master, &secret).unwrap();
                let mut g = Gen {
                    left: size,
                    x: 0x9e37_79b9 + i as u64,
                };
                c.put(&mut g, &format!("{dir}/f{i}"), r, true, &mut |_| {})
                    .unwrap()
            })
        })
        .collect();
    let written: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let wt = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let handles: Vec<_> = (0..a.files)
        .map(|i| {
            let (master, secret, dir) = (a.master.clone(), a.secret.clone(), dir.clone());
            std::thread::spawn(move || {
                let mut c = DfsClient::connect(&master, &secret).unwrap();
                c.get(&format!("{dir}/f{i}"), &mut std::io::sink(), &mut |_| {})
                    .unwrap()
            })
        })
        .collect();
    let read: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let rt = start.elapsed().as_secs_f64();
    println!(
        "dfsio: {} files x {}, replication {}: write {:.0} MB/s ({:.1}s), read {:.0} MB/s ({:.1}s)",
        a.files,
        ByteSize(a.size),
        a.replication,
        written as f64 / wt / 1e6,
        wt,
        read as f64 / rt / 1e6,
        rt
    );
    DfsClient::connect(&a.master, &a.secret)
        .unwrap()
        .delete(&dir, true)
        .unwrap();
}

fn metadata(a: &Args) {
    let dir = format!("/nnbench-{}", std::process::id());
    DfsClient::connect(&a.master, &a.secret)
        .unwrap()
        .mkdir(&dir, true)
        .unwrap();
    let per = a.meta / a.threads;
    let run = |op: Arc<dyn Fn(&mut DfsClient, usize, usize) + Send + Sync>| {
        let start = Instant::now();
        let handles: Vec<_> = (0..a.threads)
            .map(|t| {
                let (master, secret, op) = (a.master.clone(), a.secret.clone(), op.clone());
                std::thread::spawn(move || {
                    let mut c = DfsClient::connect(&master, &secret).unwrap();
                    for i in 0..per {
                        op(&mut c, t, i);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        (per * a.threads) as f64 / start.elapsed().as_secs_f64()
    };
    let d = dir.clone();
    let creates = run(Arc::new(move |c, t, i| {
        c.touch(&format!("{d}/t{t}-f{i}"), 1, false).unwrap();
    }));
    let d = dir.clone();
    let stats = run(Arc::new(move |c, t, i| {
        c.stat(&format!("{d}/t{t}-f{i}")).unwrap();
    }));
    let d = dir.clone();
    let deletes = run(Arc::new(move |c, t, i| {
        c.delete(&format!("{d}/t{t}-f{i}"), false).unwrap();
    }));
    println!(
        "nnbench: {} files, {} client threads: create {:.0}/s, stat {:.0}/s, delete {:.0}/s",
        per * a.threads,
        a.threads,
        creates,
        stats,
        deletes
    );
    DfsClient::connect(&a.master, &a.secret)
        .unwrap()
        .delete(&dir, true)
        .unwrap();
}

fn main() {
    let a = parse();
    if a.meta > 0 {
        metadata(&a);
    } else {
        throughput(&a);
    }
}

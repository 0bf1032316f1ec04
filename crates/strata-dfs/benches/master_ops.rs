//! The master's metadata path without RPC, as HDFS's NNThroughputBenchmark measures the
//! NameNode in-process: `--clients` concurrent tasks create `--files` empty files in total
//! through the same steps a `Create` RPC takes (apply to the namespace under its lock,
//! append to the op log, wait until the group commit has fsync'd it).
//!
//! ```sh
//! cargo bench -p strata-dfs --bench master_ops -- --files 200000 --clients 64
//! ```

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Instant;
use strata_dfs::master::namespace::{Namespace, Op};
use strata_dfs::master::oplog::{OpLog, encode};

fn main() {
    let mut files = 200_000usize;
    let mut clients = 64usize;
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--files" => files = it.next().expect("n").parse().expect("number"),
            "--clients" => clients = it.next().expect("n").parse().expect("number"),
            _ => {}
        }
    }
    let dir = std::env::temp_dir().join(format!("strata-master-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let log = Arc::new(OpLog::start(&dir, 1).expect("op log"));
    let state = Arc::new(Mutex::new((Namespace::default(), 0u64)));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("rt");
    let per = files / clients;
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (log, state) = (log.clone(), state.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..per {
                    let op = Op::Create {
                        path: format!("/c{c}-f{i}"),
                        replication: 3,
                        overwrite: false,
                        writer: 1,
                    };
                    let done = {
                        let mut g = state.lock();
                        g.0.apply(&op).expect("create");
                        g.1 += 1;
                        log.append(encode(g.1, &op))
                    };
                    done.await.expect("writer").expect("durable");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "master_ops: {} durable creates by {clients} concurrent clients in {secs:.2}s: {:.0} creates/s",
        per * clients,
        (per * clients) as f64 / secs
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! Strata DFS with real processes: a master and chunkservers started from the `strata`
//! binary, killed with SIGKILL where the test says so. Waits poll a condition with a
//! deadline; nothing sleeps and hopes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use strata::dfs::DfsClient;

const SECRET: &str = "test-secret";
const CHUNK: usize = 256 << 10;

struct Proc {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One cluster at a time: four processes per test on a 2-core CI machine is plenty, and a
/// starved heartbeat must not make a node look dead.
static SERIAL: Mutex<()> = Mutex::new(());

struct Cluster {
    root: tempfile::TempDir,
    config: PathBuf,
    master: Option<Proc>,
    master_addr: String,
    workers: Vec<Option<Proc>>,
    // Last, so that the processes are gone before the next test may start.
    _serial: std::sync::MutexGuard<'static, ()>,
}

fn spawn(args: &[&str], config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        // DFS_TEST_LOG=1 shows the processes' logs (with STRATA_LOG=info for detail).
        .stderr(if std::env::var_os("DFS_TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("spawn strata");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(!line.is_empty(), "strata {args:?} exited at start-up");
    std::thread::spawn(move || for _ in out.lines() {});
    (child, line.trim().rsplit(' ').next().unwrap().to_string())
}

impl Cluster {
    fn start(workers: usize) -> Cluster {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let root = tempfile::tempdir().unwrap();
        let config = root.path().join("strata.toml");
        std::fs::write(
            &config,
            format!(
                "[cluster]\nsecret = \"{SECRET}\"\n[dfs]\nchunk_size = \"{}k\"\nheartbeat_interval_ms = 100\nnode_timeout_ms = 3000\nreplication_streams = 4\ncheckpoint_ops = 500\n",
                CHUNK >> 10
            ),
        )
        .unwrap();
        let mut c = Cluster {
            root,
            config,
            master: None,
            master_addr: String::new(),
            workers: Vec::new(),
            _serial: serial,
        };
        c.start_master("127.0.0.1:0");
        for _ in 0..workers {
            c.add_worker();
        }
        c.wait_for("all workers registered", |cl| {
            cl.report().nodes.iter().filter(|n| n.alive).count() == workers
        });
        c
    }

    fn start_master(&mut self, listen: &str) {
        let dir = self.root.path().join("master");
        let (child, addr) = spawn(
            &["master", "--dir", dir.to_str().unwrap(), "--listen", listen],
            &self.config,
        );
        self.master_addr = addr.clone();
        self.master = Some(Proc { child, addr, dir });
    }

    fn add_worker(&mut self) -> usize {
        let i = self.workers.len();
        let dir = self.root.path().join(format!("worker-{i}"));
        let (child, addr) = spawn(
            &[
                "worker",
                "--master",
                &self.master_addr,
                "--dir",
                dir.to_str().unwrap(),
            ],
            &self.config,
        );
        self.workers.push(Some(Proc { child, addr, dir }));
        i
    }

    fn client(&self) -> DfsClient {
        DfsClient::connect(&self.master_addr, SECRET).unwrap()
    }

    fn report(&self) -> strata::dfs::proto::ClusterReport {
        self.client().report().unwrap()
    }

    /// Polls `cond` until it holds (or fails the test after 30 s).
    fn wait_for(&self, what: &str, cond: impl Fn(&Cluster) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill_worker(&mut self, i: usize) -> String {
        let mut p = self.workers[i].take().unwrap();
        p.child.kill().unwrap(); // SIGKILL
        p.child.wait().unwrap();
        p.addr.clone()
    }
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Every acknowledged record is in the file, whole.
fn assert_records_present(c: &Cluster, path: &str, acked: &[String]) {
    let records: std::collections::HashSet<String> = c
        .client()
        .read_records(path)
        .unwrap()
        .into_iter()
        .map(|r| String::from_utf8(r).unwrap())
        .collect();
    for r in acked {
        assert!(
            records.contains(r),
            "acknowledged record missing: {}",
            &r[..20.min(r.len())]
        );
    }
}

fn replicas_ok(c: &Cluster, path: &str, want: usize) -> bool {
    let Ok(list) = c.client().chunks(path) else {
        return false;
    };
    list.chunks.iter().all(|ch| ch.replicas.len() == want)
}

#[test]
fn files_of_many_sizes_round_trip_byte_identical() {
    let c = Cluster::start(3);
    let mut cl = c.client();
    cl.mkdir("/sizes", false).unwrap();
    for (i, len) in [0, 1, 4095, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12345]
        .into_iter()
        .enumerate()
    {
        let bytes = data(len, i as u64);
        let path = format!("/sizes/f{len}");
        let n = cl
            .put(&mut &bytes[..], &path, 0, false, &mut |_| {})
            .unwrap();
        assert_eq!(n as usize, len);
        assert_eq!(cl.stat(&path).unwrap().length as usize, len);
        assert!(
            cl.read_all(&path).unwrap() == bytes,
            "file of {len} bytes differs"
        );
    }
    // Errors are the user's to fix and say so.
    let err = cl
        .put(&mut &b"x"[..], "/sizes/f1", 0, false, &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let err = cl.read_all("/nope").unwrap_err();
    assert!(err.to_string().contains("no such file"), "{err}");
    let err = cl
        .put(&mut &b"x"[..], "/sizes/r5", 5, false, &mut |_| {})
        .unwrap_err();
    assert!(
        err.to_string().contains("not enough live chunkservers"),
        "{err}"
    );
    // Namespace operations.
    cl.rename("/sizes/f1", "/sizes/one").unwrap();
    cl.mkdir("/a/b/c", true).unwrap();
    cl.rename("/sizes", "/a/b").unwrap();
    assert_eq!(cl.read_all("/a/b/sizes/one").unwrap(), data(1, 1));
    let err = cl.delete("/a", false).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    cl.delete("/a", true).unwrap();
    assert!(cl.list("/", true).unwrap().is_empty());
    // Deleted files' chunks are garbage-collected from the chunkservers.
    c.wait_for("chunks deleted", |c| {
        c.report().nodes.iter().all(|n| n.used == 0)
    });
}

#[test]
fn requests_without_the_secret_are_refused_and_a_missing_master_is_named() {
    let c = Cluster::start(1);
    let mut bad = DfsClient::connect(&c.master_addr, "wrong").unwrap();
    let err = bad.list("/", false).unwrap_err().to_string();
    assert!(err.contains("secret"), "{err}");
    let err = DfsClient::connect("127.0.0.1:1", SECRET)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("master unreachable at 127.0.0.1:1"), "{err}");
    // The data protocol refuses too.
    let w = c.workers[0].as_ref().unwrap();
    let mut conn = strata::dfs::data::Conn::open(&w.addr, Duration::from_secs(5)).unwrap();
    let err = conn.read("wrong", 1, 0, 10).unwrap_err().to_string();
    assert!(err.contains("secret"), "{err}");
}

#[test]
fn killing_a_chunkserver_mid_write_loses_nothing_and_replication_is_restored() {
    let mut c = Cluster::start(4);
    let bytes = data(40 * CHUNK + 777, 9);
    // Kill a chunkserver while the write is streaming.
    let progress = Arc::new(Mutex::new(0u64));
    let p = progress.clone();
    let addr = c.master_addr.clone();
    let payload = bytes.clone();
    let writer = std::thread::spawn(move || {
        let mut cl = DfsClient::connect(&addr, SECRET).unwrap();
        cl.put(&mut &payload[..], "/big", 3, false, &mut |n| {
            *p.lock().unwrap() = n
        })
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while *progress.lock().unwrap() < 10 * CHUNK as u64 {
        assert!(Instant::now() < deadline, "write did not progress");
        std::thread::yield_now();
    }
    let dead = c.kill_worker(1);
    match writer.join().unwrap() {
        Ok(n) => assert_eq!(n as usize, bytes.len()),
        Err(e) => panic!("with 3 live chunkservers left the write should complete: {e}"),
    }
    assert!(c.client().read_all("/big").unwrap() == bytes);
    // The dead node is noticed and every chunk gets back to 3 live replicas elsewhere.
    c.wait_for("dead node detected", |c| {
        c.report().nodes.iter().any(|n| !n.alive)
    });
    c.wait_for("replication restored", |c| {
        c.report().under_replicated == 0 && replicas_ok(c, "/big", 3)
    });
    let list = c.client().chunks("/big").unwrap();
    assert!(list.chunks.iter().all(|ch| !ch.replicas.contains(&dead)));
    assert!(c.client().read_all("/big").unwrap() == bytes);
}

#[test]
fn master_killed_during_mutations_keeps_every_acknowledged_one() {
    let mut c = Cluster::start(2);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let a = acked.clone();
    let addr = c.master_addr.clone();
    let stream = std::thread::spawn(move || {
        let mut cl = DfsClient::connect(&addr, SECRET).unwrap();
        for i in 0.. {
            let path = format!("/m/d{i:05}");
            match cl.mkdir(&path, true) {
                Ok(()) => a.lock().unwrap().push(path),
                Err(_) => break, // the master died under us
            }
        }
    });
    // Also a file with data, acknowledged before the crash.
    let mut cl = c.client();
    let bytes = data(2 * CHUNK + 5, 3);
    cl.put(&mut &bytes[..], "/file", 2, false, &mut |_| {})
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 1200 {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    let master = c.master.take().unwrap();
    let listen = master.addr.clone();
    drop(master); // SIGKILL
    stream.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 1200);
    c.start_master(&listen);
    let mut cl = c.client();
    let listed: std::collections::HashSet<String> = cl
        .list("/m", false)
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    for p in &acked {
        assert!(
            listed.contains(p),
            "acknowledged mkdir {p} lost by the restart"
        );
    }
    // Chunk locations come back from the chunkservers' reports; the data reads back.
    c.wait_for("workers re-registered", |c| replicas_ok(c, "/file", 2));
    assert!(cl.read_all("/file").unwrap() == bytes);
    // Checkpoints were taken along the way (checkpoint_ops = 500).
    assert!(c.master.as_ref().unwrap().dir.join("checkpoint").exists());
}

#[test]
fn a_corrupt_chunk_on_disk_is_detected_never_served_and_repaired() {
    let c = Cluster::start(3);
    let mut cl = c.client();
    let bytes = data(2 * CHUNK, 5);
    cl.put(&mut &bytes[..], "/f", 3, false, &mut |_| {})
        .unwrap();
    let chunk = cl.chunks("/f").unwrap().chunks[0].clone();
    // Flip bytes in worker 0's copy of the first chunk.
    let w0 = c.workers[0].as_ref().unwrap();
    let file = w0
        .dir
        .join("chunks")
        .join(format!("{}.chunk", chunk.handle));
    let mut raw = std::fs::read(&file).unwrap();
    raw[1000] ^= 0xff;
    std::fs::write(&file, raw).unwrap();
    // Reading that replica directly is refused...
    let mut conn = strata::dfs::data::Conn::open(&w0.addr, Duration::from_secs(5)).unwrap();
    let err = conn.read(SECRET, chunk.handle, 0, 4096).unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
    // ...while the client still reads the right bytes from another replica.
    assert!(cl.read_all("/f").unwrap() == bytes);
    // The master drops the bad replica and re-replicates from a good one.
    c.wait_for("corrupt replica replaced", |c| {
        let Ok(list) = c.client().chunks("/f") else {
            return false;
        };
        let ch = &list.chunks[0];
        ch.replicas.len() == 3
            && ch.replicas.iter().all(|a| {
                strata::dfs::data::Conn::open(a, Duration::from_secs(5))
                    .and_then(|mut k| k.read(SECRET, ch.handle, 0, CHUNK as u64))
                    .is_ok_and(|d| d[..] == bytes[..CHUNK])
            })
    });
}

#[test]
fn concurrent_record_appends_keep_every_acknowledged_record_whole() {
    let c = Cluster::start(3);
    c.client()
        .put(&mut &b""[..], "/log", 3, false, &mut |_| {})
        .unwrap();
    let writers = 4;
    let per_writer = 150;
    let mut handles = Vec::new();
    for w in 0..writers {
        let addr = c.master_addr.clone();
        handles.push(std::thread::spawn(move || {
            let mut cl = DfsClient::connect(&addr, SECRET).unwrap();
            let mut acked = Vec::new();
            for i in 0..per_writer {
                // Records of varied size; big enough to fill several 256 KiB chunks.
                let rec = format!("writer {w} record {i} {}", "x".repeat((i * 37) % 3000));
                cl.append_record("/log", rec.as_bytes()).unwrap();
                acked.push(rec);
            }
            acked
        }));
    }
    let acked: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_records_present(&c, "/log", &acked);
    assert!(
        c.client().stat("/log").unwrap().chunks > 1,
        "appends spilled into new chunks"
    );
}

#[test]
fn snapshots_are_copy_on_write() {
    let c = Cluster::start(3);
    let mut cl = c.client();
    cl.put(&mut &b""[..], "/dir/log", 3, false, &mut |_| {})
        .err();
    cl.mkdir("/dir", false).unwrap();
    cl.put(&mut &b""[..], "/dir/log", 3, false, &mut |_| {})
        .unwrap();
    cl.append_record("/dir/log", b"before").unwrap();
    cl.snapshot("/dir", "/snap").unwrap();
    cl.append_record("/dir/log", b"after").unwrap();
    let live: Vec<Vec<u8>> = cl.read_records("/dir/log").unwrap();
    let snap: Vec<Vec<u8>> = cl.read_records("/snap/log").unwrap();
    assert_eq!(live, vec![b"before".to_vec(), b"after".to_vec()]);
    assert_eq!(snap, vec![b"before".to_vec()]);
    let a = cl.chunks("/dir/log").unwrap().chunks[0].handle;
    let b = cl.chunks("/snap/log").unwrap().chunks[0].handle;
    assert_ne!(a, b, "the written chunk was copied");
}

#[test]
fn wordcount_reads_and_writes_the_dfs() {
    let c = Cluster::start(3);
    let mut cl = c.client();
    let shakespeare = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/shakespeare");
    let mut names: Vec<_> = std::fs::read_dir(&shakespeare)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names.iter().take(4) {
        let mut f = std::fs::File::open(p).unwrap();
        let dest = format!("/in/{}", p.file_name().unwrap().to_str().unwrap());
        cl.mkdir("/in", true).unwrap();
        cl.put(&mut f, &dest, 2, false, &mut |_| {}).unwrap();
    }
    let local_out = c.root.path().join("local-out");
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(args)
            .args(["--threads", "2", "--quiet", "--config"])
            .arg(&c.config)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let dfs_in = format!("dfs://{}/in", c.master_addr);
    let dfs_out = format!("dfs://{}/out", c.master_addr);
    run(&["run", "wordcount", &dfs_in, "--out", &dfs_out]);
    // Again into the same output: only with --overwrite (which needs the secret from --config).
    run(&[
        "run",
        "wordcount",
        &dfs_in,
        "--out",
        &dfs_out,
        "--overwrite",
    ]);
    let local_inputs: Vec<String> = names
        .iter()
        .take(4)
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["run", "wordcount"];
    args.extend(local_inputs.iter().map(String::as_str));
    args.extend(["--out", local_out.to_str().unwrap()]);
    run(&args);
    let mut from_dfs: Vec<String> = Vec::new();
    for e in cl.list("/out", false).unwrap() {
        if e.path.contains("/part-") {
            let text = String::from_utf8(cl.read_all(&e.path).unwrap()).unwrap();
            from_dfs.extend(text.lines().map(str::to_string));
        }
    }
    assert!(cl.stat("/out/_SUCCESS").is_ok());
    let mut local: Vec<String> = Vec::new();
    for e in std::fs::read_dir(&local_out).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("part-")
        {
            local.extend(
                std::fs::read_to_string(p)
                    .unwrap()
                    .lines()
                    .map(str::to_string),
            );
        }
    }
    from_dfs.sort();
    local.sort();
    assert!(from_dfs.len() > 5000);
    assert!(from_dfs == local, "DFS and local word counts differ");
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn daemons_serve_health_and_prometheus_metrics() {
    let mut c = Cluster::start(0);
    let (mport, wport) = (free_port(), free_port());
    // Restart the master with an admin endpoint, and add a worker with one.
    let master = c.master.take().unwrap();
    let listen = master.addr.clone();
    drop(master);
    let dir = c.root.path().join("master");
    let (child, addr) = spawn(
        &[
            "master",
            "--dir",
            dir.to_str().unwrap(),
            "--listen",
            &listen,
            "--http",
            &format!("127.0.0.1:{mport}"),
        ],
        &c.config,
    );
    c.master = Some(Proc { child, addr, dir });
    let wdir = c.root.path().join("w");
    let (wchild, waddr) = spawn(
        &[
            "worker",
            "--master",
            &listen,
            "--dir",
            wdir.to_str().unwrap(),
            "--http",
            &format!("127.0.0.1:{wport}"),
        ],
        &c.config,
    );
    c.workers.push(Some(Proc {
        child: wchild,
        addr: waddr,
        dir: wdir,
    }));
    let m = format!("127.0.0.1:{mport}");
    let w = format!("127.0.0.1:{wport}");
    c.wait_for("master metrics", |_| {
        http_get(&m, "/metrics").is_some_and(|b| b.contains("strata_dfs_live_chunkservers 1"))
    });
    assert!(http_get(&m, "/health").unwrap().contains("ok"));
    c.wait_for("worker metrics", |_| {
        http_get(&w, "/metrics").is_some_and(|b| b.contains("strata_chunkserver_chunks 0"))
    });
    assert!(http_get(&w, "/health").unwrap().contains("200 OK"));
}

/// A worker whose data directory is a 1 MiB tmpfs (skipped, with the reason printed, where
/// mounting is not permitted).
fn small_disk(dir: &Path) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping the disk-full part: cannot mount a tmpfs here (needs root)");
    }
    ok
}

struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_avoided_and_reported_clearly() {
    let mut c = Cluster::start(0);
    let tiny = c.root.path().join("tiny");
    if !small_disk(&tiny) {
        return;
    }
    let _unmount = Unmount(tiny.clone());
    let (child, addr) = spawn(
        &[
            "worker",
            "--master",
            &c.master_addr,
            "--dir",
            tiny.to_str().unwrap(),
        ],
        &c.config,
    );
    c.workers.push(Some(Proc {
        child,
        addr,
        dir: tiny.clone(),
    }));
    c.wait_for("tiny worker registered", |c| c.report().nodes.len() == 1);
    let mut cl = c.client();
    // Only the full-to-be node: the write fails with a clear error, not a hang or a panic.
    let bytes = data(12 * CHUNK, 11);
    let err = cl
        .put(&mut &bytes[..], "/too-big", 1, false, &mut |_| {})
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("disk full") || msg.contains("not enough live chunkservers"),
        "{msg}"
    );
    // With a second, roomy node the same write succeeds: placement avoids the full disk.
    c.add_worker();
    c.wait_for("second worker registered", |c| c.report().nodes.len() == 2);
    cl.delete("/too-big", false).ok();
    c.wait_for("garbage collected on the tiny disk", |c| {
        c.report().nodes.iter().all(|n| n.used == 0)
    });
    cl.put(&mut &bytes[..], "/fits", 1, false, &mut |_| {})
        .unwrap();
    assert!(cl.read_all("/fits").unwrap() == bytes);
}

#[test]
fn record_appends_survive_a_chunkserver_killed_under_them() {
    let mut c = Cluster::start(4);
    c.client()
        .put(&mut &b""[..], "/events", 3, false, &mut |_| {})
        .unwrap();
    let counter = Arc::new(Mutex::new(0usize));
    let mut handles = Vec::new();
    for w in 0..3 {
        let (addr, counter) = (c.master_addr.clone(), counter.clone());
        handles.push(std::thread::spawn(move || {
            let mut cl = DfsClient::connect(&addr, SECRET).unwrap();
            let mut acked = Vec::new();
            for i in 0..120 {
                let rec = format!("w{w}-r{i}-{}", "y".repeat(i * 13 % 700));
                cl.append_record("/events", rec.as_bytes()).unwrap();
                acked.push(rec);
                *counter.lock().unwrap() += 1;
            }
            acked
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while *counter.lock().unwrap() < 90 {
        assert!(Instant::now() < deadline, "appends did not progress");
        std::thread::yield_now();
    }
    // Kill a replica of the chunk being appended to.
    let chunks = c.client().chunks("/events").unwrap().chunks;
    let victim_addr = chunks.last().unwrap().replicas[0].clone();
    let victim = c
        .workers
        .iter()
        .position(|w| w.as_ref().is_some_and(|w| w.addr == victim_addr))
        .unwrap();
    c.kill_worker(victim);
    let acked: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(acked.len(), 360);
    assert_records_present(&c, "/events", &acked);
}

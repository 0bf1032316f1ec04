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

/// What a data-protocol request carries (derived from the secret, never the secret).
fn token() -> String {
    strata::net::auth::token(SECRET, strata::net::auth::purpose::DATA)
}
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
                "[cluster]\nsecret = \"{SECRET}\"\n[dfs]\nchunk_size = \"{}k\"\nheartbeat_interval_ms = 100\nnode_timeout_ms = 3000\nreplication_streams = 4\ncheckpoint_ops = 500\nwriter_lease_ms = 2000\n",
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
    // More replicas than live nodes: written to all 3 (dfs.min_replication is 1), reported
    // as under-replicated until more nodes join.
    cl.put(&mut &b"x"[..], "/sizes/r5", 5, false, &mut |_| {})
        .unwrap();
    assert_eq!(cl.read_all("/sizes/r5").unwrap(), b"x");
    assert_eq!(cl.chunks("/sizes/r5").unwrap().chunks[0].replicas.len(), 3);
    assert!(c.report().under_replicated_files >= 1);
    cl.delete("/sizes/r5", false).unwrap();
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
    // Mutual: a client whose secret differs refuses the master before sending anything
    // (the master cannot prove it knows the client's secret).
    let err = DfsClient::connect(&c.master_addr, "wrong")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("could not prove it knows the cluster secret"),
        "{err}"
    );
    // The raw secret is not a token: the master refuses it.
    let raw = DfsClient::connect(&c.master_addr, "").unwrap();
    let err = raw.list("/", false).unwrap_err().to_string();
    assert!(err.contains("secret"), "{err}");
    let err = conn_read_with(&c, SECRET);
    assert!(err.contains("secret"), "{err}");
    let err = DfsClient::connect("127.0.0.1:1", SECRET)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("master unreachable at 127.0.0.1:1"), "{err}");
    // The data protocol refuses too.
    let err = conn_read_with(&c, "wrong");
    assert!(err.contains("secret"), "{err}");
}

/// A data-protocol read presenting `token`; the error it gets.
fn conn_read_with(c: &Cluster, token: &str) -> String {
    let w = c.workers[0].as_ref().unwrap();
    let mut conn = strata::dfs::data::Conn::open(&w.addr, Duration::from_secs(5)).unwrap();
    conn.read(token, 1, 0, 10).unwrap_err().to_string()
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
        let cl = DfsClient::connect(&addr, SECRET).unwrap();
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
    let err = conn.read(&token(), chunk.handle, 0, 4096).unwrap_err();
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
                    .and_then(|mut k| k.read(&token(), ch.handle, 0, CHUNK as u64))
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

// ---- Regressions of the data-safety issue (one test per row it names) ----

/// Runs `strata dfs ARGS` against the cluster; (success, stdout, stderr).
fn dfs_cli(c: &Cluster, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("dfs")
        .args(["--master", &c.master_addr, "--quiet", "--config"])
        .arg(&c.config)
        .args(args)
        .output()
        .expect("run strata dfs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Rows 2 and 9: one writer holds the lease on a path; a file is invisible until closed; a
/// writer that dies (with its master) leaves nothing visible, and its lease lapses.
#[test]
fn one_writer_per_path_and_files_appear_only_when_complete() {
    let mut c = Cluster::start(3);
    let mut a = strata::dfs::client::FileWriter::create(c.client(), "/f", 0, true).unwrap();
    a.append(&data(2 * CHUNK + 10, 1)).unwrap();
    let mut other = c.client();
    assert!(other.stat("/f").is_err(), "visible before close");
    assert!(other.list("/", false).unwrap().is_empty());
    let err = other
        .put(&mut &b"intruder"[..], "/f", 0, true, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("being written by another client"), "{err}");
    assert_eq!(a.close().unwrap(), 2 * CHUNK as u64 + 10);
    assert!(other.read_all("/f").unwrap() == data(2 * CHUNK + 10, 1));

    // Six processes overwrite one path at once: each gets exit 0 or a clear refusal, and
    // the file is exactly one successful writer's content.
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = (0..6)
        .map(|i| {
            let p = dir.path().join(format!("cp{i}.bin"));
            std::fs::write(&p, data(3 * CHUNK + 100 * i, 10 + i as u64)).unwrap();
            p
        })
        .collect();
    let procs: Vec<_> = inputs
        .iter()
        .map(|p| {
            Command::new(env!("CARGO_BIN_EXE_strata"))
                .args(["dfs", "--master", &c.master_addr, "--quiet", "--config"])
                .arg(&c.config)
                .args(["put", "-f"])
                .arg(p)
                .arg("/race.bin")
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut winners = Vec::new();
    for (i, p) in procs.into_iter().enumerate() {
        let out = p.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            winners.push(i);
        } else {
            assert!(err.contains("being written by another client"), "{err}");
        }
    }
    assert!(!winners.is_empty());
    let got = other.read_all("/race.bin").unwrap();
    assert!(
        winners
            .iter()
            .any(|&i| got == data(3 * CHUNK + 100 * i, 10 + i as u64)),
        "the file is not one writer's content ({} bytes)",
        got.len()
    );

    // A put cut off by a master crash leaves no file; the path frees up when the dead
    // writer's lease lapses.
    let mut w = strata::dfs::client::FileWriter::create(c.client(), "/cut", 0, false).unwrap();
    w.append(&data(3 * CHUNK, 2)).unwrap();
    let listen = c.master.as_ref().unwrap().addr.clone();
    drop(c.master.take()); // SIGKILL
    assert!(w.close().is_err());
    c.start_master(&listen);
    c.wait_for("workers back", |c| {
        c.report().nodes.iter().filter(|n| n.alive).count() == 3
    });
    let mut cl = c.client();
    assert!(cl.stat("/cut").is_err(), "a partial file became visible");
    c.wait_for("the dead writer's lease lapses", |c| {
        c.client()
            .put(&mut &b"fresh"[..], "/cut", 0, false, &mut |_| {})
            .is_ok()
    });
    assert_eq!(cl.read_all("/cut").unwrap(), b"fresh");
    assert_eq!(c.report().being_written, 0);
}

/// Row 4: when every replica of a chunk is corrupt, the last copy is kept and reported, a
/// plain read says so, `--skip-checksums` salvages it, and a failed `dfs get` leaves no
/// truncated file (row 9).
#[test]
fn the_last_copy_of_a_corrupt_chunk_is_kept_reported_and_salvageable() {
    let c = Cluster::start(3);
    let mut cl = c.client();
    let bytes = data(3 * CHUNK, 8);
    cl.put(&mut &bytes[..], "/f", 3, false, &mut |_| {})
        .unwrap();
    let chunk = cl.chunks("/f").unwrap().chunks[1].clone();
    for w in c.workers.iter().flatten() {
        let file = w.dir.join("chunks").join(format!("{}.chunk", chunk.handle));
        let mut raw = std::fs::read(&file).unwrap();
        raw[77] ^= 0xff;
        std::fs::write(&file, raw).unwrap();
    }
    let err = cl.read_all("/f").unwrap_err().to_string();
    assert!(err.contains("corrupt"), "{err}");
    c.wait_for("the master knows every copy is corrupt", |c| {
        let r = c.report();
        r.unreadable == 1 && r.corrupt >= 1
    });
    c.wait_for("one corrupt copy is kept", |c| {
        c.client().chunks("/f").is_ok_and(|l| {
            l.chunks[1].replicas.is_empty() && l.chunks[1].corrupt_replicas.len() == 1
        })
    });
    let err = c.client().read_all("/f").unwrap_err().to_string();
    assert!(err.contains("--skip-checksums"), "{err}");
    let (ok, out, _) = dfs_cli(&c, &["report"]);
    assert!(ok && out.contains("unreadable chunks 1"), "{out}");
    // A get that fails leaves nothing under the local name.
    let local = c.root.path().join("copy.bin");
    let (ok, _, err) = dfs_cli(&c, &["get", "/f", local.to_str().unwrap()]);
    assert!(!ok && err.contains("checksums"), "{err}");
    assert!(!local.exists(), "a failed get left a partial file");
    assert!(
        std::fs::read_dir(c.root.path())
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().contains("strata-get")),
        "a failed get left its temporary file"
    );
    // Salvage: the bytes as stored, with the flipped byte.
    let (ok, _, err) = dfs_cli(
        &c,
        &["get", "--skip-checksums", "/f", local.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let got = std::fs::read(&local).unwrap();
    let mut want = bytes.clone();
    want[CHUNK + 77] ^= 0xff;
    assert!(got == want, "salvaged bytes differ from what is stored");
}

/// Row 5: a second daemon on the same directory is refused with a clear message.
#[test]
fn a_second_daemon_on_a_directory_is_refused() {
    let c = Cluster::start(1);
    for (role, dir) in [
        ("master", c.master.as_ref().unwrap().dir.clone()),
        ("worker", c.workers[0].as_ref().unwrap().dir.clone()),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args([role, "--dir", dir.to_str().unwrap()])
            .args(
                &["--listen", "127.0.0.1:0", "--master", &c.master_addr]
                    [..if role == "master" { 2 } else { 4 }],
            )
            .arg("--config")
            .arg(&c.config)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a second {role} started");
        assert!(err.contains("is in use by another process"), "{err}");
    }
    // The first ones still serve.
    assert_eq!(c.report().nodes.iter().filter(|n| n.alive).count(), 1);
}

/// Row 7: `strata dfs` reads the master from the config, and a client never talks to a
/// server that cannot prove it knows the secret.
#[test]
fn the_dfs_shell_uses_the_config_and_refuses_an_impostor_master() {
    let c = Cluster::start(1);
    let cfg = c.root.path().join("client.toml");
    std::fs::write(
        &cfg,
        format!(
            "[cluster]\nmaster = \"{}\"\nsecret = \"{SECRET}\"\n",
            c.master_addr
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["dfs", "mkdir", "/from-config"])
        .env("STRATA_CONFIG", &cfg)
        .env_remove("STRATA_MASTER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(c.client().stat("/from-config").unwrap().is_dir);
    // An impostor: a master with another secret. The client refuses it.
    let other = c.root.path().join("impostor.toml");
    std::fs::write(&other, "[cluster]\nsecret = \"not-the-secret\"\n").unwrap();
    let (mut imp, addr) = spawn(
        &[
            "master",
            "--dir",
            c.root.path().join("impostor").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &other,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["dfs", "--master", &addr, "put", "-", "/stolen"])
        .env("STRATA_CONFIG", &cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("could not prove it knows the cluster secret"),
        "{err}"
    );
    let _ = imp.kill();
    let _ = imp.wait();
}

fn threads_of(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

/// Row 8: idle, unauthenticated connections do not each get a thread without bound.
#[test]
fn idle_unauthenticated_connections_are_bounded() {
    let c = Cluster::start(1);
    let w = c.workers[0].as_ref().unwrap();
    let pid = w.child.id();
    let before = threads_of(pid);
    // 150: more than the handshake bound, less than it plus the listen backlog (128), so
    // every connect completes at once.
    let socks: Vec<_> = (0..150)
        .map(|_| std::net::TcpStream::connect(&w.addr).unwrap())
        .collect();
    // Give the acceptor every chance to spawn what it would.
    // (A few threads of the daemon come and go on their own: allow some slack both ways.)
    let bound = before + strata::dfs::chunkserver::server::MAX_HANDSHAKES;
    c.wait_for("the acceptor has taken what it may", |_| {
        threads_of(pid) + 8 >= bound
    });
    let during = threads_of(pid);
    assert!(
        during <= bound + 8,
        "{during} threads for 150 idle sockets (was {before})"
    );
    drop(socks);
    // Once they go, real clients are served again.
    let mut cl = c.client();
    cl.put(&mut &b"still serving"[..], "/ok", 1, false, &mut |_| {})
        .unwrap();
    assert_eq!(cl.read_all("/ok").unwrap(), b"still serving");
}

/// Rows 10 and 13: record files read as records (cat, jobs), `--raw` shows the framing;
/// listings escape control characters; `put` into `dir/` keeps the local name; errors
/// are stated once and name the master as the master.
#[test]
fn record_files_listings_and_messages() {
    let c = Cluster::start(3);
    let mut cl = c.client();
    cl.mkdir("/logs", false).unwrap();
    cl.touch("/logs/events", 0, false).unwrap();
    for r in ["arts and crafts", "hello world", "hello again"] {
        cl.append_record("/logs/events", r.as_bytes()).unwrap();
    }
    let (ok, out, err) = dfs_cli(&c, &["cat", "/logs/events"]);
    assert!(ok, "{err}");
    assert_eq!(out, "arts and crafts\nhello world\nhello again\n");
    let (_, raw, _) = dfs_cli(&c, &["cat", "--raw", "/logs/events"]);
    assert!(raw.len() > out.len() && raw.contains("hello"), "{raw:?}");
    let (_, ls, _) = dfs_cli(&c, &["ls", "/logs"]);
    assert!(ls.starts_with('r'), "record files are marked: {ls}");
    // A word count over the log counts words of the records only.
    let out_dir = format!("dfs://{}/wc-log", c.master_addr);
    let run = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["run", "wordcount", &format!("dfs://{}/logs", c.master_addr)])
        .args(["--out", &out_dir, "--quiet", "--config"])
        .arg(&c.config)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut counts = String::new();
    for e in cl.list("/wc-log", false).unwrap() {
        if strata::dfs::path::name(&e.path).starts_with("part-") {
            counts.push_str(&String::from_utf8(cl.read_all(&e.path).unwrap()).unwrap());
        }
    }
    let mut lines: Vec<&str> = counts.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "again\t1",
            "and\t1",
            "arts\t1",
            "crafts\t1",
            "hello\t2",
            "world\t1"
        ]
    );

    // Names with control characters cannot forge listing lines.
    cl.touch("/logs/evil\n- 999 3  passwd", 0, false).unwrap();
    let (_, ls, _) = dfs_cli(&c, &["ls", "/logs"]);
    assert_eq!(ls.lines().count(), 2, "{ls}");
    assert!(ls.contains("evil\\n- 999"), "{ls}");
    // `put` into a directory path keeps the local file's name.
    let local = c.root.path().join("notes.txt");
    std::fs::write(&local, "n").unwrap();
    let (ok, _, err) = dfs_cli(&c, &["put", local.to_str().unwrap(), "/logs/"]);
    assert!(ok, "{err}");
    assert_eq!(cl.read_all("/logs/notes.txt").unwrap(), b"n");
    // Messages: said once, and the master is called the master.
    let (_, _, err) = dfs_cli(&c, &["rm", "/logs"]);
    assert_eq!(err.matches("directory not empty").count(), 1, "{err}");
    assert_eq!(err.matches("use -r").count(), 1, "{err}");
    let (_, _, err) = dfs_cli(&c, &["mv", "/logs", "/logs/inside"]);
    assert!(!err.contains("chunkserver master"), "{err}");
    // Overwriting a job's DFS input is refused before anything is deleted.
    let run = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["run", "wordcount", &format!("dfs://{}/logs", c.master_addr)])
        .args([
            "--out",
            &format!("dfs://{}/logs", c.master_addr),
            "--overwrite",
        ])
        .args(["--quiet", "--config"])
        .arg(&c.config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && err.contains("is the input"),
        "{err}"
    );
    assert!(cl.stat("/logs/events").is_ok(), "the input was deleted");
}

/// The storage layer's conformance suite against the DFS (ranges across chunk boundaries),
/// and `strata sql` over `dfs://` tables: Parquet and CSV, the same answers as over the
/// same files on local disk; a directory whose files are all hidden is an error that says so.
#[test]
fn sql_reads_dfs_tables_and_the_dfs_store_passes_conformance() {
    let c = Cluster::start(3);
    let opts = strata_storage::StorageOptions {
        dfs_master: c.master_addr.clone(),
        secret: SECRET.into(),
        ..Default::default()
    };
    let (store, path) = strata_storage::resolve("dfs:///conformance", &opts).unwrap();
    assert_eq!(store.scheme(), "dfs");
    strata_storage::conformance::check(store.as_ref(), &path, 2 * CHUNK + 1234).unwrap();

    // TPC-H tables, Parquet and CSV, copied file by file into the DFS.
    let local = c.root.path().join("tpch");
    let fmt = strata_sql::tpch::Format::Parquet;
    strata_sql::tpch::generate_all(0.01, fmt, &local).unwrap();
    let csv = c.root.path().join("tpch-csv");
    strata_sql::tpch::generate_all(0.01, strata_sql::tpch::Format::Csv, &csv).unwrap();
    let cl = c.client();
    let copy = |from: &Path, to: &str| {
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let dest = format!("{to}/{}", p.file_name().unwrap().to_str().unwrap());
            let mut f = std::fs::File::open(&p).unwrap();
            let mut w = DfsClient::connect(&c.master_addr, SECRET).unwrap();
            w.mkdir(to, true).unwrap();
            w.put(&mut f, &dest, 2, false, &mut |_| {}).unwrap();
        }
    };
    copy(&local.join("lineitem"), "/tpch/lineitem");
    copy(&local.join("orders"), "/tpch/orders");
    copy(&csv.join("customer"), "/tpch/customer");
    cl.mkdir("/hidden/_sources", true).unwrap();
    copy(&csv.join("nation"), "/hidden/_sources");

    let sql = |tables: &[(&str, String)], query: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.args(["sql", "--format", "csv", "--config"])
            .arg(&c.config);
        // `dfs:///path` goes to the configured master.
        cmd.env("STRATA_MASTER", &c.master_addr);
        for (name, path) in tables {
            cmd.arg("--table").arg(format!("{name}={path}"));
        }
        let o = cmd.arg(query).output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let q = "SELECT o_orderpriority, c_mktsegment, count(*) AS n, sum(l_quantity) AS q \
             FROM lineitem JOIN orders ON l_orderkey = o_orderkey \
             JOIN customer ON o_custkey = c_custkey \
             WHERE l_shipdate >= DATE '1995-01-01' \
             GROUP BY 1, 2 ORDER BY 1, 2";
    let dfs = |p: &str| format!("dfs:///tpch/{p}");
    let (ok, from_dfs, err) = sql(
        &[
            ("lineitem", dfs("lineitem")),
            ("orders", dfs("orders")),
            ("customer", dfs("customer")),
        ],
        q,
    );
    assert!(ok, "{err}");
    let lp = |d: &Path, t: &str| d.join(t).display().to_string();
    let (ok, from_local, err) = sql(
        &[
            ("lineitem", lp(&local, "lineitem")),
            ("orders", lp(&local, "orders")),
            ("customer", lp(&csv, "customer")),
        ],
        q,
    );
    assert!(ok, "{err}");
    assert!(from_dfs.lines().count() > 20, "{from_dfs}");
    assert_eq!(from_dfs, from_local);
    // SELECT * through ranged reads of every column.
    let (ok, star, err) = sql(
        &[("orders", format!("dfs://{}/tpch/orders", c.master_addr))],
        "SELECT * FROM orders ORDER BY o_orderkey LIMIT 3",
    );
    assert!(ok, "{err}");
    assert_eq!(star.lines().next().unwrap().split(',').count(), 9, "{star}");

    // SQL writes to the DFS: COPY the query's answer there, as Parquet and as CSV, and
    // read each back.
    let tables = [
        ("lineitem", dfs("lineitem")),
        ("orders", dfs("orders")),
        ("customer", dfs("customer")),
    ];
    for (file, format, read) in [
        ("answer.parquet", "parquet", "SELECT * FROM a ORDER BY 1, 2"),
        // CSV keeps no types: the sums come back as doubles.
        (
            "answer.csv",
            "csv",
            "SELECT o_orderpriority, c_mktsegment, n, CAST(q AS DECIMAL(15, 2)) AS q \
             FROM a ORDER BY 1, 2",
        ),
    ] {
        let copy = format!("COPY ({q}) TO 'dfs:///out/{file}' (FORMAT {format})");
        let (ok, said, err) = sql(&tables, &copy);
        assert!(
            ok && said.contains("written to dfs:///out/"),
            "{said} {err}"
        );
        let (ok, back, err) = sql(&[("a", format!("dfs:///out/{file}"))], read);
        assert!(ok, "{err}");
        assert_eq!(
            back, from_local,
            "{format} written to and read from the DFS"
        );
    }

    let (ok, _, err) = sql(&[("t", "dfs:///hidden".into())], "SELECT count(*) FROM t");
    assert!(!ok);
    assert!(
        err.contains("0 files read; 1 skipped under hidden") && err.contains("_sources"),
        "{err}"
    );
}

/// With one of three workers SIGKILLed, a job still writes its output to the DFS at
/// replication 3 (to the two live nodes; `dfs report` counts the files as under-replicated),
/// and when a new worker joins every chunk is copied back up to three replicas.
#[test]
fn a_job_writes_to_the_dfs_with_a_worker_dead_and_replication_recovers() {
    let mut c = Cluster::start(3);
    let cl = c.client();
    let shakespeare = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/shakespeare");
    let mut names: Vec<_> = std::fs::read_dir(&shakespeare)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    cl.mkdir("/in", true).unwrap();
    for p in names.iter().take(3) {
        let mut f = std::fs::File::open(p).unwrap();
        let dest = format!("/in/{}", p.file_name().unwrap().to_str().unwrap());
        let mut w = c.client();
        w.put(&mut f, &dest, 3, false, &mut |_| {}).unwrap();
    }
    c.kill_worker(0);
    c.wait_for("the killed worker declared dead", |c| {
        c.report().nodes.iter().filter(|n| n.alive).count() == 2
    });
    let o = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["run", "wordcount", "dfs:///in", "--out", "dfs:///out"])
        .args(["--threads", "2", "--quiet", "--config"])
        .arg(&c.config)
        .env("STRATA_MASTER", &c.master_addr)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let parts: Vec<String> = cl
        .list("/out", false)
        .unwrap()
        .into_iter()
        .filter(|e| e.path.contains("/part-"))
        .map(|e| e.path)
        .collect();
    assert!(!parts.is_empty());
    assert!(cl.stat("/out/_SUCCESS").is_ok());
    for p in &parts {
        assert!(replicas_ok(&c, p, 2), "{p}: not on the two live nodes");
    }
    let (ok, report, err) = dfs_cli(&c, &["report"]);
    assert!(ok, "{err}");
    assert!(
        c.report().under_replicated_files >= parts.len() as u64,
        "{report}"
    );
    assert!(report.contains("under-replicated"), "{report}");
    c.add_worker();
    c.wait_for("every output and input chunk back at 3 replicas", |c| {
        parts.iter().all(|p| replicas_ok(c, p, 3))
            && c.client()
                .list("/in", false)
                .unwrap()
                .iter()
                .all(|e| replicas_ok(c, &e.path, 3))
    });
    assert_eq!(c.report().under_replicated_files, 0);
}

/// DFS record-append files as a stream source: Nexmark events appended as records to two
/// log files (spanning several chunks, with the padding record append leaves at chunk ends)
/// are read by `strata stream nexmark --records`, and q0 (every bid) equals the same query
/// over the same events as plain JSON-lines files: each record read once, none lost.
#[test]
fn record_append_logs_stream_into_a_nexmark_query() {
    let c = Cluster::start(3);
    let events = strata::stream::nexmark::events(4000, 2, 0);
    let mut cl = c.client();
    cl.mkdir("/events", true).unwrap();
    let local = c.root.path().join("events");
    std::fs::create_dir_all(&local).unwrap();
    for part in 0..2 {
        let path = format!("/events/log-{part}");
        cl.put(&mut &b""[..], &path, 3, false, &mut |_| {}).unwrap();
        let mut lines = String::new();
        for e in events.iter().skip(part * 2000).take(2000) {
            let json = e.to_json();
            cl.append_record(&path, json.as_bytes()).unwrap();
            lines.push_str(&json);
            lines.push('\n');
        }
        std::fs::write(local.join(format!("log-{part}.jsonl")), lines).unwrap();
    }
    assert!(
        cl.stat("/events/log-0").unwrap().chunks > 1,
        "records span chunks"
    );
    let run = |input: &str, records: bool, out: &Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.args([
            "stream", "nexmark", "--query", "q0", "--input", input, "--out",
        ])
        .arg(out)
        .arg("--config")
        .arg(&c.config);
        if records {
            cmd.arg("--records");
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut rows: Vec<String> = std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('_'))
            .flat_map(|p| {
                let t = std::fs::read_to_string(p).unwrap();
                t.lines().skip(1).map(str::to_string).collect::<Vec<_>>()
            })
            .collect();
        rows.sort();
        rows
    };
    let url = format!("dfs://{}/events", c.master_addr);
    let from_dfs = run(&url, true, &c.root.path().join("out-dfs"));
    let from_files = run(
        local.to_str().unwrap(),
        false,
        &c.root.path().join("out-files"),
    );
    assert!(from_files.len() > 3000, "{}", from_files.len());
    assert_eq!(from_dfs, from_files);
}

//! Exactly-once streaming with real processes: a Nexmark job is SIGKILLed at random
//! points (right after a checkpoint completes, and at random moments after that) and
//! restarted with `--restore`, at parallelism 2, 3 and 1 in turn; the committed output
//! must equal an uninterrupted run's, row for row, with no loss and no duplicate.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn strata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strata"))
}

/// The data rows of every visible part file under `dir`, sorted (headers checked).
fn rows(dir: &Path, header: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(header), "{name}");
        out.extend(lines.map(str::to_string));
    }
    out.sort();
    out
}

/// The newest complete checkpoint's id (0 when none).
fn newest_checkpoint(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(|e| {
        let e = e.ok()?;
        let id: u64 = e.file_name().to_str()?.strip_prefix("chk-")?.parse().ok()?;
        e.path().join("metadata.json").exists().then_some(id)
    })
    .max()
    .unwrap_or(0)
}

/// Runs `strata ARGS --restore --checkpoint-dir CHK --checkpoint-interval 50ms
/// --parallelism P` until it finishes, SIGKILLing it up to `max_kills` times: once a new
/// checkpoint is complete plus a random moment (so kills land mid-checkpoint, mid-commit
/// and between checkpoints), or at a random moment from the start (maybe before any
/// checkpoint, maybe during restore). Parallelism cycles through 2, 3, 1. Returns the kills.
fn kill_until_done(args: &[&str], chk: &Path, rng: &mut SmallRng, max_kills: usize) -> usize {
    let mut kills = 0;
    for attempt in 1..=60 {
        let p = ["2", "3", "1"][attempt % 3];
        let before = newest_checkpoint(chk);
        let mut child = strata()
            .args(args)
            .args(["--restore", "--checkpoint-dir", chk.to_str().unwrap()])
            .args(["--checkpoint-interval", "50ms", "--parallelism", p])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let extra = Duration::from_millis(rng.gen_range(0..60));
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut armed: Option<Instant> = (kills < max_kills && rng.gen_bool(0.5))
            .then(|| Instant::now() + Duration::from_millis(rng.gen_range(20..200)));
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
                assert!(status.success(), "{args:?} attempt {attempt}: {err}");
                return kills;
            }
            assert!(
                Instant::now() < deadline,
                "{args:?}: attempt {attempt} hung"
            );
            if armed.is_none() && kills < max_kills && newest_checkpoint(chk) > before {
                armed = Some(Instant::now() + extra);
            }
            if armed.is_some_and(|t| Instant::now() >= t) {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    panic!("{args:?}: the job never finished in 60 attempts");
}

/// `strata gen nexmark --events N --partitions P --out DIR`.
fn gen_events(dir: &str, events: u64, partitions: u32) {
    let (e, p) = (events.to_string(), partitions.to_string());
    run_ok(&[
        "gen",
        "nexmark",
        "--events",
        &e,
        "--partitions",
        &p,
        "--out",
        dir,
    ]);
}

/// `strata stream nexmark --query Q --input IN --out OUT EXTRA...`, which must succeed.
fn nexmark(q: &str, input: &str, out: &str, extra: &[&str]) {
    let mut args = vec![
        "stream", "nexmark", "--query", q, "--input", input, "--out", out,
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
}

fn run_ok(args: &[&str]) {
    let out = strata().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "strata {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn nexmark_output_is_exactly_once_across_random_kills_and_parallelism_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let input_s = input.to_str().unwrap();
    gen_events(input_s, 800000, 4);
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    for (q, header) in [
        ("q5", "auction,num"),
        ("q11", "bidder,bid_count,starttime,endtime"),
        ("q4", "id,final"),
    ] {
        let base = tmp.path().join(format!("base-{q}"));
        nexmark(q, input_s, base.to_str().unwrap(), &[]);
        let want = rows(&base, header);
        assert!(!want.is_empty(), "{q}: the uninterrupted run wrote nothing");

        let out = tmp.path().join(format!("out-{q}"));
        let chk = tmp.path().join(format!("chk-{q}"));
        let kills = kill_until_done(
            &[
                "stream",
                "nexmark",
                "--query",
                q,
                "--input",
                input_s,
                "--out",
                out.to_str().unwrap(),
            ],
            &chk,
            &mut rng,
            8,
        );
        eprintln!("{q}: {kills} kills");
        let got = rows(&out, header);
        assert_eq!(
            got.len(),
            want.len(),
            "{q}: {kills} kills; row counts differ"
        );
        assert_eq!(got, want, "{q}: output after {kills} kills differs");
    }
}

#[test]
fn stream_commands_explain_bad_input() {
    let out = strata()
        .args([
            "stream", "nexmark", "--query", "q99", "--events", "10", "--out", "/tmp/x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown query"));
    let tmp = tempfile::tempdir().unwrap();
    let out = strata()
        .args(["stream", "nexmark", "--query", "q0", "--input"])
        .arg(tmp.path().join("missing"))
        .args(["--out"])
        .arg(tmp.path().join("o"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing"), "{err}");
}

/// The same with NATS JetStream at both ends, as users run Kafka: events are read from a
/// stream with their sequence numbers in checkpoints, and result rows are published to
/// another stream when their checkpoint completes. After random kills and restores the
/// output stream holds every row of an uninterrupted run exactly once.
#[test]
fn jetstream_in_and_out_is_exactly_once_across_kills() {
    use strata::stream::jetstream;
    let tag = format!("{}-{}", std::process::id(), rand::random::<u32>());
    let input = format!("nats://127.0.0.1:4222/strata-test-in-{tag}");
    let output = format!("nats://127.0.0.1:4222/strata-test-out-{tag}");
    // One partition: the stream holds the events in generation order (bounded disorder).
    let events = strata::stream::nexmark::events(200_000, 1, 3);
    jetstream::publish(&input, events.iter().map(|e| e.to_json().into_bytes()))
        .expect("NATS with JetStream must listen on 127.0.0.1:4222 (it runs on every machine)");
    jetstream::publish(&output, std::iter::empty()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (q, header) = ("q11", "bidder,bid_count,starttime,endtime");
    let base = tmp.path().join("base");
    nexmark(q, &input, base.to_str().unwrap(), &[]);
    let want = rows(&base, header);
    assert!(!want.is_empty());

    let chk = tmp.path().join("chk");
    let mut rng = SmallRng::seed_from_u64(0xa75);
    let kills = kill_until_done(
        &[
            "stream", "nexmark", "--query", q, "--input", &input, "--out", &output,
        ],
        &chk,
        &mut rng,
        5,
    );
    let mut got: Vec<String> = jetstream::read_all(&output)
        .unwrap()
        .into_iter()
        .map(|m| String::from_utf8(m).unwrap())
        .collect();
    got.sort();
    let _ = jetstream::delete_stream(&input);
    let _ = jetstream::delete_stream(&output);
    eprintln!("jetstream: {kills} kills, {} rows", got.len());
    assert!(kills >= 2, "only {kills} kills");
    assert_eq!(got.len(), want.len(), "{kills} kills: row counts differ");
    assert_eq!(got, want);
}

/// Streaming SQL (Nexmark q5 in Flink's SQL) under the same random kills and restores.
#[test]
fn streaming_sql_output_is_exactly_once_across_kills() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let input_s = input.to_str().unwrap();
    gen_events(input_s, 300000, 2);
    let q5 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/strata-stream/tests/sql/q5.sql"
    );
    let bid = format!("bid={input_s}#type=bid");
    let base = tmp.path().join("base");
    run_ok(&[
        "stream",
        "sql",
        "--table",
        &bid,
        "-f",
        q5,
        "--out",
        base.to_str().unwrap(),
    ]);
    let want = rows(&base, "auction,num");
    assert!(!want.is_empty());
    let out = tmp.path().join("out");
    let mut rng = SmallRng::seed_from_u64(0x51);
    let kills = kill_until_done(
        &[
            "stream",
            "sql",
            "--table",
            &bid,
            "-f",
            q5,
            "--out",
            out.to_str().unwrap(),
        ],
        &tmp.path().join("chk"),
        &mut rng,
        4,
    );
    assert!(kills >= 2, "only {kills} kills");
    assert_eq!(rows(&out, "auction,num"), want, "after {kills} kills");
}

/// A TCP socket as the input (as `nc -lk` feeds Flink's socketTextStream): the events a
/// server writes to the connection give the same result as the same events read from files.
#[test]
fn nexmark_reads_events_from_a_tcp_socket() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    gen_events(input.to_str().unwrap(), 20000, 1);
    let mut text = Vec::new();
    for e in std::fs::read_dir(&input).unwrap() {
        text.extend(std::fs::read(e.unwrap().path()).unwrap());
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.write_all(&text).unwrap();
    });
    let (q, header) = ("q11", "bidder,bid_count,starttime,endtime");
    let from_files = tmp.path().join("files");
    let from_socket = tmp.path().join("socket");
    nexmark(
        q,
        input.to_str().unwrap(),
        from_files.to_str().unwrap(),
        &[],
    );
    nexmark(
        q,
        &format!("tcp://{addr}"),
        from_socket.to_str().unwrap(),
        &[],
    );
    server.join().unwrap();
    let want = rows(&from_files, header);
    assert!(!want.is_empty());
    assert_eq!(rows(&from_socket, header), want);
}

/// Stop-with-savepoint, as Flink users upgrade or rescale a job: a job that watches its
/// input for ever is asked for a savepoint and to stop; a new run started from the
/// savepoint at another parallelism (and a fresh checkpoint directory) finishes the
/// input. The output of the two runs together equals one uninterrupted run's, row for row.
#[test]
fn a_job_stopped_with_a_savepoint_resumes_from_it_at_another_parallelism() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let input_s = input.to_str().unwrap();
    gen_events(input_s, 200000, 2);
    let (q, header) = ("q11", "bidder,bid_count,starttime,endtime");
    let base = tmp.path().join("base");
    nexmark(q, input_s, base.to_str().unwrap(), &[]);
    let want = rows(&base, header);
    assert!(!want.is_empty());

    let out = tmp.path().join("out");
    let (chk_a, chk_b, sp) = (
        tmp.path().join("chk-a"),
        tmp.path().join("chk-b"),
        tmp.path().join("sp"),
    );
    let mut a = strata()
        .args([
            "stream",
            "nexmark",
            "--query",
            q,
            "--input",
            input_s,
            "--monitor",
        ])
        .args([
            "--out",
            out.to_str().unwrap(),
            "--checkpoint-dir",
            chk_a.to_str().unwrap(),
        ])
        .args(["--checkpoint-interval", "200ms", "--parallelism", "2"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first committed rows, so both runs write part of the output.
    let deadline = Instant::now() + Duration::from_secs(120);
    while newest_checkpoint(&chk_a) == 0 || !out.exists() || rows(&out, header).is_empty() {
        assert!(Instant::now() < deadline, "no output within 120 s");
        assert!(a.try_wait().unwrap().is_none(), "the watching job ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    run_ok(&[
        "stream",
        "savepoint",
        "--checkpoint-dir",
        chk_a.to_str().unwrap(),
        "--to",
        sp.to_str().unwrap(),
        "--stop",
    ]);
    // The job stops by itself once the savepoint is written.
    let status = a.wait().unwrap();
    let err = std::io::read_to_string(a.stderr.take().unwrap()).unwrap();
    assert!(status.success(), "{err}");
    assert!(
        newest_checkpoint(&sp) > 0,
        "no savepoint under {}",
        sp.display()
    );
    let first = rows(&out, header).len();
    nexmark(
        q,
        input_s,
        out.to_str().unwrap(),
        &[
            "--from-savepoint",
            sp.to_str().unwrap(),
            "--checkpoint-dir",
            chk_b.to_str().unwrap(),
            "--parallelism",
            "3",
        ],
    );
    let all = rows(&out, header);
    eprintln!("savepoint: {first} rows before it, {} in all", all.len());
    assert_eq!(all, want);
    // A savepoint target that already holds one is refused, naming it.
    let o = strata()
        .args([
            "stream",
            "savepoint",
            "--checkpoint-dir",
            chk_b.to_str().unwrap(),
        ])
        .args(["--to", sp.to_str().unwrap(), "--timeout", "1s"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already holds savepoint"));
}

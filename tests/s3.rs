//! `s3://` against a real S3-compatible server: moto in server mode (PyPI), started by the
//! test as its own process. The storage conformance suite, then `strata sql` over Parquet
//! and CSV tables in the bucket, equal to the same queries over local files.
//!
//! `scripts/test.sh` installs moto into `.venv-test/`; `STRATA_MOTO_SERVER` names another
//! `moto_server` executable.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATA_MOTO_SERVER") {
        return p.into();
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/moto_server");
    assert!(
        p.exists(),
        "no moto server at {}: run `bash scripts/test.sh` (it installs moto[server] from PyPI \
         into .venv-test/), or set STRATA_MOTO_SERVER",
        p.display()
    );
    p
}

/// An HTTP request with an empty body; the status line's code.
fn http(addr: &str, method: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.split(' ').nth(1).unwrap_or("").to_string())
}

impl Moto {
    fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let addr = format!("127.0.0.1:{port}");
        let mut m = Moto {
            child,
            endpoint: format!("http://{addr}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        // Up when it answers; then make the bucket (moto does not check signatures).
        while http(&addr, "GET", "/").is_err() {
            assert!(m.child.try_wait().unwrap().is_none(), "moto_server exited");
            assert!(
                Instant::now() < deadline,
                "moto_server did not start in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(http(&addr, "PUT", "/strata").unwrap(), "200");
        m.endpoint = format!("http://{addr}");
        m
    }

    fn settings(&self) -> Vec<(String, String)> {
        [
            ("aws_endpoint", self.endpoint.as_str()),
            ("aws_access_key_id", "test"),
            ("aws_secret_access_key", "test"),
            ("aws_region", "us-east-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

#[test]
fn s3_store_passes_conformance_and_sql_reads_s3_tables() {
    let moto = Moto::start();
    let opts = strata_storage::StorageOptions {
        s3: moto.settings(),
        ..Default::default()
    };
    let (store, path) = strata_storage::resolve("s3://strata/conformance", &opts).unwrap();
    assert_eq!(store.scheme(), "s3");
    strata_storage::conformance::check(store.as_ref(), &path, (9 << 20) + 77).unwrap();

    // TPC-H orders (Parquet) and customer (CSV) into the bucket.
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("pq");
    let csv = dir.path().join("csv");
    strata_sql::tpch::generate_all(0.01, strata_sql::tpch::Format::Parquet, &pq).unwrap();
    strata_sql::tpch::generate_all(0.01, strata_sql::tpch::Format::Csv, &csv).unwrap();
    let (bucket, _) = strata_storage::resolve("s3://strata/", &opts).unwrap();
    for (from, to) in [
        (pq.join("orders"), "tpch/orders"),
        (csv.join("customer"), "tpch/customer"),
    ] {
        for e in std::fs::read_dir(&from).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            bucket
                .put(&format!("{to}/{name}"), &std::fs::read(&p).unwrap())
                .unwrap();
        }
    }
    let sql = |orders: &str, customer: &str, q: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["sql", "--format", "csv"])
            .arg("--table")
            .arg(format!("orders={orders}"))
            .arg("--table")
            .arg(format!("customer={customer}"))
            .arg(q)
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let q = "SELECT c_mktsegment, o_orderstatus, count(*), sum(o_totalprice) \
             FROM orders JOIN customer ON o_custkey = c_custkey \
             WHERE o_orderdate < DATE '1996-01-01' GROUP BY 1, 2 ORDER BY 1, 2";
    let from_s3 = sql("s3://strata/tpch/orders", "s3://strata/tpch/customer", q);
    let local = sql(
        pq.join("orders").to_str().unwrap(),
        csv.join("customer").to_str().unwrap(),
        q,
    );
    assert!(from_s3.lines().count() > 10, "{from_s3}");
    assert_eq!(from_s3, local);
    let star = sql(
        "s3://strata/tpch/orders",
        "s3://strata/tpch/customer",
        "SELECT * FROM orders ORDER BY o_orderkey LIMIT 2",
    );
    assert_eq!(star.lines().next().unwrap().split(',').count(), 9, "{star}");
    // SQL writes to S3: the answer COPYed to an object (one PUT) reads back the same.
    let said = sql(
        "s3://strata/tpch/orders",
        "s3://strata/tpch/customer",
        &format!("COPY ({q}) TO 's3://strata/out/answer.parquet'"),
    );
    assert!(
        said.contains("written to s3://strata/out/answer.parquet"),
        "{said}"
    );
    let back = sql(
        "s3://strata/out/answer.parquet",
        "s3://strata/tpch/customer",
        "SELECT * FROM orders ORDER BY 1, 2",
    );
    assert_eq!(back, local);

    // A dataflow job reads an s3:// prefix (split by byte ranges) like a local directory.
    let shakespeare = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/shakespeare");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&shakespeare)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let local_in = dir.path().join("in");
    std::fs::create_dir(&local_in).unwrap();
    for p in names.iter().take(3) {
        let name = p.file_name().unwrap().to_str().unwrap();
        bucket
            .put(&format!("text/{name}"), &std::fs::read(p).unwrap())
            .unwrap();
        std::fs::copy(p, local_in.join(name)).unwrap();
    }
    bucket.put("text/_logs/run.log", b"not input").unwrap();
    let wordcount = |input: &str, out: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["run", "wordcount", input, "--quiet", "--threads", "2"])
            .arg("--out")
            .arg(out)
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (a, b) = (dir.path().join("wc-s3"), dir.path().join("wc-local"));
    let (ok, err) = wordcount("s3://strata/text", &a);
    assert!(ok, "{err}");
    let (ok, err) = wordcount(local_in.to_str().unwrap(), &b);
    assert!(ok, "{err}");
    let lines = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("part-")
            })
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v
    };
    let counted = lines(&a);
    assert!(counted.len() > 1000);
    assert!(
        counted == lines(&b),
        "word counts from s3:// and local differ"
    );
    // Writing a job's output to S3 is refused clearly (no rename there to commit with).
    let (ok, err) = wordcount("s3://strata/text", Path::new("s3://strata/out"));
    assert!(
        !ok && err.contains("cannot write to object stores yet"),
        "{err}"
    );
}

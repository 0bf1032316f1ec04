//! `strata sql-server`: real PostgreSQL clients against a server process. A psycopg 3
//! session (tests/pg/psycopg_session.py: parameters, prepared statements, binary results,
//! error classes, transactions, cancel) and a `psql` session; the database directory is
//! found again by a second server after the first is killed.
//!
//! `scripts/test.sh` installs psycopg into `.venv-test/` and `psql` (postgresql-client);
//! `STRATA_TEST_PYTHON` names another Python with psycopg.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A server process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `strata sql-server` on a free port and waits for the line naming it.
fn start(secret: &str, args: &[&str]) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--threads", "2", "sql-server", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("STRATA_SECRET", secret)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start strata sql-server");
    // Killed and reaped by Drop, whatever happens below.
    let mut server = Server { child, port: 0 };
    let mut err = BufReader::new(server.child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = err.read_line(&mut line).unwrap();
        assert!(n > 0, "sql-server exited before listening");
        if let Some(rest) = line.split("listening on ").nth(1) {
            let addr = rest.split_whitespace().next().unwrap();
            server.port = addr.rsplit(':').next().unwrap().parse().unwrap();
            // Keep draining stderr so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in err.lines() {});
            return server;
        }
    }
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATA_TEST_PYTHON") {
        return p.into();
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/python");
    let ok = Command::new(&p)
        .args(["-c", "import psycopg"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "no psycopg at {}: run `bash scripts/test.sh` (it installs psycopg[binary] from PyPI \
         into .venv-test/), or set STRATA_TEST_PYTHON",
        p.display()
    );
    p
}

#[test]
fn psycopg_session() {
    let dir = tempfile::tempdir().unwrap();
    let people = dir.path().join("people.csv");
    std::fs::write(&people, "id,name\n1,ann\n2,bob\n5,cyd\n").unwrap();
    let table = format!("people={}", people.display());
    let server = start("s3cret", &["--table", &table]);
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pg/psycopg_session.py"))
        .args(["127.0.0.1", &server.port.to_string(), "s3cret"])
        .arg(&people)
        .output()
        .expect("run the psycopg session");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("all checks passed"),
        "psycopg session failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `psql` commands against `port`; stdout, or the error text.
fn psql(port: u16, commands: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("psql");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "analyst"])
        .args(["-d", "strata", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .env("PGPASSWORD", "pw")
        .env("PGCONNECT_TIMEOUT", "10");
    for c in commands {
        cmd.args(["-c", c]);
    }
    let out = cmd
        .output()
        .expect("run psql (postgresql-client; scripts/test.sh installs it)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn psql_session_and_a_database_that_outlives_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let server = start("pw", &["--db", db]);
    let out = psql(
        server.port,
        &[
            "CREATE TABLE city (name VARCHAR NOT NULL, pop BIGINT)",
            "INSERT INTO city VALUES ('Lyon', 522000), ('Porto', 232000), ('Turku', NULL)",
            "SELECT name, pop FROM city ORDER BY pop DESC NULLS LAST",
            "SELECT count(*), sum(pop) FROM city",
        ],
    )
    .unwrap();
    assert_eq!(
        out,
        "CREATE TABLE\nINSERT 0 3\nLyon|522000\nPorto|232000\nTurku|\n3|754000\n"
    );
    // Several statements in one query string run in order and stop at the first error.
    let err = psql(
        server.port,
        &["INSERT INTO city VALUES ('Oslo', 1); SELECT nope FROM city; INSERT INTO city VALUES ('Bergen', 2)"],
    )
    .unwrap_err();
    assert!(err.contains("unknown column nope"), "{err}");
    assert_eq!(
        psql(
            server.port,
            &["SELECT name FROM city WHERE pop < 10 ORDER BY 1"]
        )
        .unwrap(),
        "Oslo\n",
        "the statement before the error ran, the one after did not"
    );
    // A second server on the same directory (the first killed) finds the tables.
    drop(server);
    let server = start("pw", &["--db", db]);
    assert_eq!(
        psql(server.port, &["SELECT count(*) FROM city"]).unwrap(),
        "4\n"
    );
    assert!(
        psql(server.port, &["SELECT 1"]).map(|_| ()).is_ok(),
        "the right password is accepted"
    );
    let mut cmd = Command::new("psql");
    let denied = cmd
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.port.to_string(),
            "-U",
            "x",
            "-w",
        ])
        .args(["-d", "strata", "-c", "SELECT 1"])
        .env("PGPASSWORD", "wrong")
        .output()
        .unwrap();
    assert!(!denied.status.success(), "a wrong password is refused");
}

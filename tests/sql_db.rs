//! `strata sql --db DIR`: tables created by one process are found by the next; processes
//! writing one database at once lose no row; a writer killed mid-statement leaves a
//! database every reader can still read whole.

use std::process::{Command, Output, Stdio};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--threads", "2", "--quiet"])
        .args(args)
        .output()
        .expect("run strata")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "strata failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn query(db: &str, q: &str) -> String {
    ok(strata(&["sql", "--db", db, "--format", "csv", q]))
}

#[test]
fn tables_outlive_the_process_that_made_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    let script = dir.path().join("make.sql");
    std::fs::write(
        &script,
        "CREATE TABLE city (name VARCHAR NOT NULL, country VARCHAR, pop BIGINT);
         INSERT INTO city VALUES ('Lyon', 'FR', 522000), ('Porto', 'PT', 232000);
         INSERT INTO city VALUES ('Turku', 'FI', NULL);
         CREATE VIEW big AS SELECT name FROM city WHERE pop > 300000;
         CREATE TABLE country AS SELECT DISTINCT country AS code FROM city;",
    )
    .unwrap();
    ok(strata(&["sql", "--db", db, "-f", script.to_str().unwrap()]));
    assert_eq!(
        query(db, "SELECT name, pop FROM city ORDER BY name"),
        "name,pop\nLyon,522000\nPorto,232000\nTurku,\n"
    );
    assert_eq!(query(db, "SELECT * FROM big"), "name\nLyon\n");
    assert_eq!(
        query(db, "SHOW TABLES"),
        "name\nbig\ncity\ncountry\n",
        "views and tables are listed"
    );
    // Changes by a later process, seen by the one after it.
    ok(strata(&[
        "sql",
        "--db",
        db,
        "UPDATE city SET pop = 240000 WHERE name = 'Porto'",
    ]));
    ok(strata(&[
        "sql",
        "--db",
        db,
        "DELETE FROM city WHERE pop IS NULL",
    ]));
    assert_eq!(
        query(db, "SELECT name, pop FROM city ORDER BY name"),
        "name,pop\nLyon,522000\nPorto,240000\n"
    );
    // COPY out and back in.
    let csv = dir.path().join("city.csv");
    ok(strata(&[
        "sql",
        "--db",
        db,
        &format!("COPY city TO '{}' (FORMAT csv)", csv.display()),
    ]));
    ok(strata(&[
        "sql",
        "--db",
        db,
        &format!(
            "COPY city FROM '{}' (FORMAT csv, HEADER true)",
            csv.display()
        ),
    ]));
    assert_eq!(query(db, "SELECT count(*) AS n FROM city"), "n\n4\n");
    // A statement that fails writes nothing.
    let bad = strata(&["sql", "--db", db, "INSERT INTO city VALUES (NULL, 'x', 1)"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("NOT NULL"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert_eq!(query(db, "SELECT count(*) AS n FROM city"), "n\n4\n");
    ok(strata(&["sql", "--db", db, "DROP TABLE city"]));
    let gone = strata(&["sql", "--db", db, "SELECT * FROM city"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("unknown table city"));
}

#[test]
fn concurrent_writers_lose_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    ok(strata(&[
        "sql",
        "--db",
        db,
        "CREATE TABLE t (writer INTEGER, i INTEGER)",
    ]));
    const WRITERS: usize = 3;
    const ROWS: usize = 150;
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            let script = dir.path().join(format!("w{w}.sql"));
            let text: String = (0..ROWS)
                .map(|i| format!("INSERT INTO t VALUES ({w}, {i});\n"))
                .collect();
            std::fs::write(&script, text).unwrap();
            Command::new(env!("CARGO_BIN_EXE_strata"))
                .args(["--threads", "1", "--quiet", "sql", "--db", db, "-f"])
                .arg(&script)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let got = query(
        db,
        "SELECT writer, count(*) AS n, count(DISTINCT i) AS d FROM t GROUP BY writer ORDER BY writer",
    );
    let want: String = std::iter::once("writer,n,d\n".to_string())
        .chain((0..WRITERS).map(|w| format!("{w},{ROWS},{ROWS}\n")))
        .collect();
    assert_eq!(got, want);
    // Small inserts were merged into few data files.
    let files = std::fs::read_dir(dir.path().join("db/t"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".parquet")
        })
        .count();
    assert!(
        files < WRITERS * ROWS,
        "{files} data files for {} inserts",
        WRITERS * ROWS
    );
}

#[test]
fn a_writer_killed_mid_stream_leaves_a_readable_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    ok(strata(&["sql", "--db", db, "CREATE TABLE t (i INTEGER)"]));
    let script = dir.path().join("many.sql");
    let text: String = (0..2000)
        .map(|i| format!("INSERT INTO t VALUES ({i});\n"))
        .collect();
    std::fs::write(&script, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--threads", "1", "--quiet", "sql", "--db", db, "-f"])
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until a few inserts have committed, then kill it without warning.
    let catalog = dir.path().join("db/_catalog");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let newest = std::fs::read_dir(&catalog)
            .unwrap()
            .filter_map(|e| {
                let n = e.unwrap().file_name().to_string_lossy().into_owned();
                n.strip_prefix('v')?
                    .strip_suffix(".json")?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        if newest >= 6 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no commits within 120 s"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer ended early"
        );
        std::thread::yield_now();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Every committed insert is there, once; rows are 0..n with no gap.
    let out = query(
        db,
        "SELECT count(*) AS n, count(DISTINCT i) AS d, max(i) AS m FROM t",
    );
    let vals: Vec<i64> = out
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(vals[0] >= 5, "{out}");
    assert_eq!(vals[0], vals[1], "{out}");
    assert_eq!(vals[2], vals[0] - 1, "{out}");
    // And the database takes new writes.
    ok(strata(&["sql", "--db", db, "INSERT INTO t VALUES (-1)"]));
    let out = query(db, "SELECT count(*) AS n FROM t");
    assert_eq!(out, format!("n\n{}\n", vals[0] + 1));
}

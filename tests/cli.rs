//! The `strata` command line, run as a real process: the contract later layers rely on.

use std::path::Path;
use std::process::{Command, Output};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .args(["--threads", "2", "--quiet"])
        .output()
        .expect("run strata")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read_parts(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("part-"))
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|n| {
            std::fs::read_to_string(dir.join(n))
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn wordcount_writes_word_tab_count_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("nested")).unwrap();
    std::fs::write(input.join("a.txt"), "Hello, hello WORLD!\n").unwrap();
    std::fs::write(input.join("nested/b.txt"), b"world \xff caf\xc3\xa9\n").unwrap();
    let out = dir.path().join("out");
    let o = strata(&[
        "run",
        "wordcount",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--partitions",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut lines = read_parts(&out);
    lines.sort();
    // The stray byte \xff is not UTF-8: it reads as Latin-1 (ÿ) and the job says so.
    assert_eq!(lines, vec!["café\t1", "hello\t2", "world\t2", "ÿ\t1"]);
    assert!(
        stderr(&o).contains("1 input lines were not valid UTF-8"),
        "{}",
        stderr(&o)
    );
    assert!(out.join("_SUCCESS").exists());

    // Running again into the same directory is refused, --overwrite replaces it.
    let again = [
        "run",
        "wordcount",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = strata(&again);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let mut with_overwrite = again.to_vec();
    with_overwrite.push("--overwrite");
    assert!(strata(&with_overwrite).status.success());
}

#[test]
fn errors_are_clear_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = strata(&[
        "run",
        "wordcount",
        "/no/such/input",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("/no/such/input") && e.contains("does not exist"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");

    let edges = dir.path().join("edges.txt");
    std::fs::write(&edges, "1 2\n2 3\n3 x\n").unwrap();
    let o = strata(&[
        "run",
        "pagerank",
        edges.to_str().unwrap(),
        "--iterations",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("edges.txt:3"), "{e}");

    std::fs::write(dir.path().join("file"), "x").unwrap();
    let bad_out = dir.path().join("file/out");
    let o = strata(&[
        "run",
        "wordcount",
        edges.to_str().unwrap(),
        "--out",
        bad_out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot write output"), "{}", stderr(&o));

    let o = strata(&["run", "wordcount", "x", "--out", "y", "--memory", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid size"), "{}", stderr(&o));
}

#[test]
fn pagerank_writes_ranks_with_enough_digits() {
    let dir = tempfile::tempdir().unwrap();
    let edges = dir.path().join("edges.txt");
    // 1 -> 2 -> 3 -> 1, and 4 -> 1; 5 only receives (dangling).
    std::fs::write(&edges, "# test graph\n1 2\n2 3\n3 1\n4 1\n4 5\n4 1\n").unwrap();
    let out = dir.path().join("ranks");
    let o = strata(&[
        "run",
        "pagerank",
        edges.to_str().unwrap(),
        "--iterations",
        "30",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = read_parts(&out);
    assert_eq!(lines.len(), 5);
    let mut total = 0.0;
    for l in &lines {
        let (node, rank) = l.split_once('\t').unwrap();
        node.parse::<u64>().unwrap();
        let digits = rank
            .split(['e', 'E'])
            .next()
            .unwrap()
            .chars()
            .filter(|c| c.is_ascii_digit())
            .count();
        assert!(digits >= 12, "{l}");
        total += rank.parse::<f64>().unwrap();
    }
    assert!((total - 1.0).abs() < 1e-9, "ranks sum to {total}");
}

#[test]
fn gen_terasort_then_sort_gives_globally_ordered_parts() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    let o = strata(&[
        "gen",
        "terasort",
        "--records",
        "20000",
        "--files",
        "3",
        "--out",
        input.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("sorted");
    let o = strata(&[
        "run",
        "sort",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--partitions",
        "4",
        "--memory",
        "2m",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut bytes = Vec::new();
    for p in 0..4 {
        bytes.extend(std::fs::read(out.join(format!("part-{p:05}"))).unwrap());
    }
    assert_eq!(bytes.len(), 20000 * 100);
    let keys: Vec<&[u8]> = bytes.chunks(100).map(|r| &r[..10]).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn demo_runs_on_the_bundled_data() {
    let o = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["demo", "--quiet", "--threads", "2"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("the "), "{stdout}");
    assert!(stdout.contains("entity"), "{stdout}");
    assert!(stdout.contains("ranks sum to 1.000000000"), "{stdout}");
}

#[test]
fn help_text_explains_the_commands() {
    let o = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["run", "pagerank", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("--iterations") && text.contains("--damping"),
        "{text}"
    );
}

#[test]
fn sql_reads_csv_with_a_null_string_and_prints_table_csv_json() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("m.csv");
    std::fs::write(&csv, "k,v\na,1.50\nb,NA\na,2.25\n").unwrap();
    let table = format!("m={}", csv.display());
    let q = "SELECT k, sum(v) AS s, count(v) AS n FROM m GROUP BY k ORDER BY k";
    let o = strata(&[
        "sql",
        "--table",
        &table,
        "--csv-null",
        "NA",
        "--format",
        "csv",
        q,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "k,s,n\na,3.75,2\nb,,0\n"
    );
    let o = strata(&[
        "sql",
        "--table",
        &table,
        "--csv-null",
        "NA",
        "--format",
        "json",
        q,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        // Keys in column order, as DuckDB writes them.
        "{\"k\":\"a\",\"s\":3.75,\"n\":2}\n{\"k\":\"b\",\"s\":null,\"n\":0}\n"
    );
    let o = strata(&["sql", "--table", &table, "--csv-null", "NA", q]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("| a | 3.75 | 2 |"));
    // Without --csv-null, "NA" is not a number: the column is text, and SUM says so.
    let o = strata(&["sql", "--table", &table, q]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("type error in sum(v)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn sql_shell_dot_commands_scripts_and_table_flags() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("m.csv");
    std::fs::write(&csv, "k,v\na,\nb,NA\n").unwrap();
    let table = format!("m={}", csv.display());
    // An empty field stays NULL beside the --csv-null string.
    let o = strata(&[
        "sql",
        "--table",
        &table,
        "--csv-null",
        "NA",
        "--format",
        "csv",
        "SELECT count(k), count(v), count(*) FROM m",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "count(k),count(v),count(*)\n2,0,2\n"
    );
    // The same name twice is an error, not a silent choice.
    let o = strata(&["sql", "--table", &table, "--table", &table, "SELECT 1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("given twice"), "{}", stderr(&o));
    // Dot commands take one line each, and do not swallow the statement after them.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["sql", "--table", &table])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b".tables\n.mode csv\nSELECT 40\n + 2 AS x;\n.schema m\nSHOW TABLES;\n.nope\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "m\nx\n42\nCREATE TABLE m (k VARCHAR, v VARCHAR);\nname\nm\n"
    );
    assert!(
        stderr(&o).contains("unknown or incomplete command .nope"),
        "{}",
        stderr(&o)
    );
    // A script stops at its first failing statement, and the exit status says so.
    let script = d.path().join("s.sql");
    std::fs::write(&script, "SELECT 1 AS a;\nSELECT 1/0;\nSELECT 3 AS c;\n").unwrap();
    let o = strata(&["sql", "--format", "csv", "-f", script.to_str().unwrap()]);
    assert!(!o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "a\n1\n");
    assert!(stderr(&o).contains("division by zero"), "{}", stderr(&o));
}

#[test]
fn gen_tpch_then_sql_over_it() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("tpch");
    let o = strata(&[
        "gen",
        "tpch",
        "--sf",
        "0.01",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = format!("nation={}", out.join("nation").display());
    let o = strata(&[
        "sql",
        "--table",
        &t,
        "--format",
        "csv",
        "SELECT count(*) AS n FROM nation",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "n\n25\n");
    let o = strata(&[
        "sql",
        "--table",
        &t,
        "EXPLAIN SELECT n_name FROM nation WHERE n_regionkey = 1",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Scan nation"), "{}", stderr(&o));
    assert!(
        out.contains("Physical plan") && out.contains("Stage 0"),
        "{out}"
    );
}

#[test]
fn sql_reads_statements_piped_on_stdin_and_reports_bad_ones() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("t.csv");
    std::fs::write(&csv, "k,v\n1,10\n2,20\n2,5\n").unwrap();
    let t = format!("t={}", csv.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["sql", "--table", &t, "--format", "csv", "--memory", "64m"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT k, sum(v) AS s\n  FROM t GROUP BY k ORDER BY k;\nSELECT nope FROM t;\nSELECT count(*) AS n FROM t;\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "k,s\n1,10\n2,25\nn\n3\n"
    );
    assert!(stderr(&o).contains("unknown column nope"), "{}", stderr(&o));
    let o = strata(&["sql", "--memory", "lots", "SELECT 1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("lots"), "{}", stderr(&o));
}

/// Data-safety row 1: `--overwrite` never deletes an input, and nothing is deleted before
/// the inputs are checked.
#[test]
fn overwrite_never_deletes_an_input_or_an_output_before_inputs_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("inp");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    std::fs::write(input.join("a.txt"), "keep me\n").unwrap();
    let inp = input.to_str().unwrap();
    let cases = [
        (inp.to_string(), "is the input"),
        (
            dir.path().to_str().unwrap().to_string(),
            "contains the input",
        ),
        (
            input.join("sub").to_str().unwrap().to_string(),
            "lies inside the input",
        ),
        (format!("{inp}/../inp/."), "is the input"),
    ];
    for (out, why) in cases {
        let o = strata(&["run", "wordcount", inp, "--out", &out, "--overwrite"]);
        assert!(!o.status.success(), "--out {out} was accepted");
        assert!(stderr(&o).contains(why), "--out {out}: {}", stderr(&o));
        assert_eq!(
            std::fs::read_to_string(input.join("a.txt")).unwrap(),
            "keep me\n"
        );
    }
    // `--out .` (the working directory) is refused too.
    let o = Command::new(env!("CARGO_BIN_EXE_strata"))
        .current_dir(&input)
        .args([
            "run",
            "wordcount",
            "a.txt",
            "--out",
            ".",
            "--overwrite",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && stderr(&o).contains("contains the input a.txt"),
        "{}",
        stderr(&o)
    );
    assert!(input.join("a.txt").exists());
    // So is any output holding the working directory, for generators too.
    let o = Command::new(env!("CARGO_BIN_EXE_strata"))
        .current_dir(input.join("sub"))
        .args([
            "gen",
            "terasort",
            "--records",
            "10",
            "--out",
            "..",
            "--overwrite",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && stderr(&o).contains("working directory"),
        "{}",
        stderr(&o)
    );
    assert!(input.join("a.txt").exists());
    // A typo in the input keeps the old output.
    let out = dir.path().join("out");
    let o = strata(&["run", "wordcount", inp, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let typo = format!("{inp}-typo");
    let o = strata(&[
        "run",
        "wordcount",
        &typo,
        "--out",
        out.to_str().unwrap(),
        "--overwrite",
    ]);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert!(out.join("_SUCCESS").exists(), "the old output was deleted");
}

/// Data-safety row 12: compressed inputs are read transparently, Latin-1 text is not split,
/// special files are refused with a reason.
#[test]
fn compressed_latin1_and_special_inputs() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let text = "the quick brown fox\njumps over the lazy dog\n".repeat(2000);
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("t.txt"), &text).unwrap();
    let packed = dir.path().join("packed");
    std::fs::create_dir_all(&packed).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(packed.join("t.txt.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
    std::fs::write(
        packed.join("u.txt.zst"),
        ruzstd::encoding::compress_to_vec(
            text.as_bytes(),
            ruzstd::encoding::CompressionLevel::Fastest,
        ),
    )
    .unwrap();
    let count = |input: &Path, name: &str| {
        let out = dir.path().join(name);
        let o = strata(&[
            "run",
            "wordcount",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--partitions",
            "3",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut l = read_parts(&out);
        l.sort();
        l
    };
    let once = count(&plain, "o1");
    let twice: Vec<String> = once
        .iter()
        .map(|l| {
            let (w, n) = l.split_once('\t').unwrap();
            format!("{w}\t{}", n.parse::<u64>().unwrap() * 2)
        })
        .collect();
    assert_eq!(
        count(&packed, "o2"),
        twice,
        "gz + zst inputs read as their text"
    );
    // Latin-1: café stays one word.
    let latin = dir.path().join("latin");
    std::fs::create_dir_all(&latin).unwrap();
    std::fs::write(latin.join("l.txt"), b"caf\xe9 caf\xe9\n").unwrap();
    assert_eq!(count(&latin, "o3"), vec!["café\t2"]);
    // A FIFO is refused with a reason, not read as empty.
    let fifo = dir.path().join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let o = strata(&[
        "run",
        "wordcount",
        fifo.to_str().unwrap(),
        "--out",
        dir.path().join("o4").to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("named pipe"),
        "{}",
        stderr(&o)
    );
}

/// Data-safety row 9: a failed job leaves no `_temporary` and no part files.
#[test]
fn a_failed_job_leaves_no_scratch_output() {
    let dir = tempfile::tempdir().unwrap();
    let edges = dir.path().join("edges.txt");
    std::fs::write(&edges, "1 2\n2 3\nnot an edge\n").unwrap();
    let out = dir.path().join("ranks");
    let o = strata(&[
        "run",
        "pagerank",
        edges.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let left: Vec<String> = std::fs::read_dir(&out)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "a failed job left {left:?}");
}

//! `strata sim` and `strata gen dl-trace` as a user runs them: the stdout contract, the files
//! under --out, and clear errors.

use std::process::{Command, Output};

fn strata(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sim_prints_one_csv_row_per_policy_and_writes_records_and_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("dl.csv");
    let out = dir.path().join("out");
    let generated = strata(&[
        "gen",
        "dl-trace",
        "--jobs",
        "300",
        "--jobs-per-hour",
        "30",
        "--seed",
        "4",
        "--out",
        trace.to_str().unwrap(),
    ]);
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let sim = |policies: &str| {
        strata(&[
            "sim",
            "--trace",
            trace.to_str().unwrap(),
            "--trace-format",
            "csv",
            "--nodes",
            "8",
            "--gpus-per-node",
            "4",
            "--cpus-per-node",
            "32",
            "--policy",
            policies,
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let o = sim("fifo,las,tiresias");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "policy,jobs,avg_jct,p99_jct,makespan,utilization");
    assert_eq!(lines.len(), 4, "{stdout}");
    for (line, policy) in lines[1..].iter().zip(["fifo", "las", "tiresias"]) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!((f[0], f[1]), (policy, "300"), "{line}");
        let n: Vec<f64> = f[2..].iter().map(|x| x.parse().unwrap()).collect();
        assert!(n[0] > 0.0 && n[1] >= n[0] && n[2] > 0.0, "{line}");
        assert!((0.0..=1.0).contains(&n[3]), "{line}");
    }
    for policy in ["fifo", "las", "tiresias"] {
        let jobs = std::fs::read_to_string(out.join(format!("jobs-{policy}.csv"))).unwrap();
        assert_eq!(jobs.lines().count(), 301);
        assert!(jobs.starts_with("job_id,tenant,submit,start,finish,jct,"));
    }
    let svg = std::fs::read_to_string(out.join("jct_cdf.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("tiresias"));
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 4);
    // The same run again gives the same answer.
    assert_eq!(text(&sim("fifo,las,tiresias").stdout), stdout);
}

#[test]
fn sim_reads_a_philly_log() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("cluster_job_log.json");
    std::fs::write(
        &trace,
        r#"[{"jobid": "j1", "vc": "a", "submitted_time": "2017-10-03 02:00:00",
             "attempts": [{"start_time": "2017-10-03 02:00:05", "end_time": "2017-10-03 03:00:05",
                           "detail": [{"ip": "m1", "gpus": ["gpu0", "gpu1"]}]}]},
            {"jobid": "j2", "vc": "b", "submitted_time": "2017-10-03 02:10:00",
             "attempts": [{"start_time": "2017-10-03 02:10:00", "end_time": "2017-10-03 02:20:00",
                           "detail": [{"ip": "m2", "gpus": ["gpu0"]}]}]}]"#,
    )
    .unwrap();
    let o = strata(&[
        "sim",
        "--trace",
        trace.to_str().unwrap(),
        "--nodes",
        "1",
        "--gpus-per-node",
        "2",
        "--policy",
        "fifo,srtf",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // FIFO: j1 holds both GPUs for an hour, j2 waits 50 min then runs 10: JCTs 3600 and
    // 3600. SRTF: j2 (600 s) preempts j1 at 600 s: JCTs 4200 and 600.
    assert_eq!(
        text(&o.stdout),
        "policy,jobs,avg_jct,p99_jct,makespan,utilization\n\
         fifo,2,3600.0,3600.0,4200.0,0.9286\n\
         srtf,2,2400.0,4200.0,4200.0,0.9286\n"
    );
}

#[test]
fn sim_errors_name_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.csv");
    std::fs::write(&trace, "job_id,submit,gpus,duration\nj,0,1,5\n").unwrap();
    let t = trace.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["sim", "--trace", t, "--nodes", "2"],
            "no `submit_time` column",
        ),
        (
            &[
                "sim",
                "--trace",
                t,
                "--nodes",
                "2",
                "--policy",
                "fifo,lottery",
            ],
            "unknown policy `lottery`: choose from fifo, sjf",
        ),
        (
            &["sim", "--trace", "/nonexistent/x.csv", "--nodes", "2"],
            "cannot read trace /nonexistent/x.csv",
        ),
        (
            &[
                "sim",
                "--trace",
                t,
                "--nodes",
                "2",
                "--trace-format",
                "yarn",
            ],
            "unknown trace format `yarn`",
        ),
    ];
    for (args, want) in cases {
        let o = strata(args);
        assert!(!o.status.success());
        let err = text(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

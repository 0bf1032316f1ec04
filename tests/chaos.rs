//! The DFS fault campaign, run as a user would (`strata chaos dfs`), with a fixed seed and
//! a short budget: a real master and four workers, four clients, random SIGKILLs, pauses
//! and corrupted chunk files; every acknowledged operation is checked at the end.
//! `strata chaos dfs --seconds 600 --seed N` runs a longer one.

use std::process::Command;

#[test]
fn dfs_campaign_finds_no_anomaly() {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["chaos", "dfs", "--seconds", "30", "--seed", "7"])
        .output()
        .expect("run strata chaos");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "campaign failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("anomalies: 0"), "{stdout}");
    // The campaign did real work and real damage.
    let faults: u64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("faults injected: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(faults >= 5, "too few faults injected:\n{stdout}");
    assert!(stdout.contains("acknowledged records"), "{stdout}");
}

#[test]
fn jobs_campaign_answers_equal_the_embedded_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["chaos", "jobs", "--seconds", "20", "--seed", "3"])
        .output()
        .expect("run strata chaos jobs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "campaign failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("anomalies: 0"), "{stdout}");
    let checked: u64 = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("checked: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(checked >= 2, "too few jobs completed:\n{stdout}");
}

//! Strata Train through the binary with real processes: a rank SIGKILLed mid-training
//! (a random rank at a random step, twice) costs at most one step and the job ends with
//! the uninterrupted run's losses; a single process trains, writes a model and samples
//! from it; bad flags get a clear error.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn strata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strata"))
}

const MODEL: [&str; 16] = [
    "--data",
    "data/shakespeare/sonnets.txt",
    "--layers",
    "1",
    "--heads",
    "2",
    "--dim",
    "32",
    "--context",
    "32",
    "--batch",
    "8",
    "--seed",
    "3",
    "--lr",
    "0.003",
];

fn parse_steps(stdout: &str) -> Vec<(u64, f64)> {
    stdout
        .lines()
        .map(|l| {
            let (s, x) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("not a step line: {l:?}"));
            (s.parse().unwrap(), x.parse().unwrap())
        })
        .collect()
}

/// The pid of `rank` in the newest attempt listed in OUT/ranks.txt.
fn pid_of(out: &Path, rank: usize) -> Option<u32> {
    let text = std::fs::read_to_string(out.join("ranks.txt")).ok()?;
    let rows: Vec<(usize, usize, u32)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some((f[0].parse().ok()?, f[1].parse().ok()?, f[2].parse().ok()?))
        })
        .collect();
    let attempt = rows.iter().map(|r| r.0).max()?;
    rows.iter()
        .find(|r| r.0 == attempt && r.1 == rank)
        .map(|r| r.2)
}

fn recoveries(out: &Path) -> Vec<(u64, u64)> {
    let Ok(text) = std::fs::read_to_string(out.join("recovery.log")) else {
        return Vec::new();
    };
    text.lines()
        .map(|l| {
            let get = |k: &str| -> u64 {
                l.split(' ')
                    .find_map(|f| f.strip_prefix(k))
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            (get("failed_after_step="), get("resumed_from="))
        })
        .collect()
}

#[test]
fn killed_ranks_cost_at_most_one_step_and_the_run_ends_as_an_uninterrupted_one() {
    kill_twice(&[], "storage", 11);
}

#[test]
fn in_memory_recovery_hands_a_survivors_state_to_a_replacement() {
    kill_twice(&["--in-memory-checkpoints"], "memory", 12);
}

/// Trains 60 steps on 2 ranks with `extra` flags, SIGKILLing a random rank at a random
/// step and then the other one a few steps after the first recovery; every recovery must
/// be of `kind` and lose at most one step, and the run's losses must equal an
/// uninterrupted run's.
fn kill_twice(extra: &[&str], kind: &str, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let steps = 60;
    let whole = dir.path().join("whole");
    let o = strata()
        .args(["train", "gpt"])
        .args(MODEL)
        .args(["--steps", &steps.to_string(), "--workers", "2", "--out"])
        .arg(&whole)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = parse_steps(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(want.len(), steps);

    let mut rng = SmallRng::seed_from_u64(
        std::env::var("STRATA_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(seed),
    );
    let first_victim = rng.gen_range(0..2usize);
    let kill_at = [rng.gen_range(2..10u64), rng.gen_range(1..6u64)];
    let out = dir.path().join("killed");
    let mut child = strata()
        .args(["train", "gpt"])
        .args(MODEL)
        .args(extra)
        .args(["--steps", &steps.to_string(), "--workers", "2", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut got = Vec::new();
    let mut kills = 0;
    let mut threshold = kill_at[0];
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let (s, l) = line.split_once('\t').unwrap();
        let s: u64 = s.parse().unwrap();
        got.push((s, l.parse::<f64>().unwrap()));
        if kills < 2 && s >= threshold {
            // The second kill waits until the replacement ranks resumed, then hits the other
            // rank a few steps later.
            if kills == 1 {
                let r = recoveries(&out);
                if r.is_empty() || s <= r[0].0 {
                    continue;
                }
            }
            let victim = (first_victim + kills) % 2;
            let pid = pid_of(&out, victim).expect("ranks.txt lists the ranks");
            assert!(
                Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status()
                    .unwrap()
                    .success()
            );
            kills += 1;
            threshold = s + kill_at[1];
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the job survives the kills");
    assert_eq!(kills, 2, "the job ended before both kills (make it longer)");
    let rec = recoveries(&out);
    assert_eq!(rec.len(), 2, "{rec:?}");
    for (failed, resumed) in &rec {
        assert!(
            failed - resumed <= 1,
            "lost {} steps: {rec:?}",
            failed - resumed
        );
    }
    let log = std::fs::read_to_string(out.join("recovery.log")).unwrap();
    assert!(
        log.lines().all(|l| l.contains(&format!("kind={kind}"))),
        "{log}"
    );
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        (1..=steps as u64).collect::<Vec<_>>()
    );
    for ((s, a), (_, b)) in want.iter().zip(&got) {
        assert!(
            (a - b).abs() < 1e-5,
            "step {s}: {a} uninterrupted vs {b} with kills"
        );
    }
    let csv = std::fs::read_to_string(out.join("loss.csv")).unwrap();
    assert_eq!(csv.lines().count(), steps + 1);
    assert!(out.join("model.safetensors").exists());
}

#[test]
fn one_process_trains_writes_a_model_and_samples_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let o = strata()
        .args(["train", "gpt"])
        .args(MODEL)
        .args(["--steps", "40", "--eval-every", "20", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let steps = parse_steps(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(steps.len(), 40);
    let first: f64 = steps[..5].iter().map(|s| s.1).sum::<f64>() / 5.0;
    let last: f64 = steps[35..].iter().map(|s| s.1).sum::<f64>() / 5.0;
    assert!(last < first - 0.5, "the loss falls: {first} -> {last}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("validation loss"), "{err}");
    for f in ["model.safetensors", "config.json", "loss.csv", "eval.csv"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let o = strata()
        .args([
            "train",
            "sample",
            "--prompt",
            "Shall I",
            "--tokens",
            "30",
            "--temperature",
            "0",
            "--model",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("Shall I"), "{text:?}");
    assert_eq!(
        text.trim_end_matches('\n').chars().count(),
        "Shall I".len() + 30,
        "{text:?}"
    );
}

#[test]
fn bad_flags_get_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let run = |extra: &[&str]| {
        let o = strata()
            .args(["train", "gpt", "--steps", "2", "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{extra:?} was accepted");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    assert!(
        run(&[
            "--data",
            "data/shakespeare/sonnets.txt",
            "--dim",
            "10",
            "--heads",
            "3"
        ])
        .contains("--heads")
    );
    assert!(run(&["--data", "/no/such/corpus"]).contains("/no/such/corpus"));
    assert!(
        run(&[
            "--data",
            "data/shakespeare/sonnets.txt",
            "--workers",
            "2",
            "--batch",
            "1"
        ])
        .contains("--workers")
    );
    let sonnets = ["--data", "data/shakespeare/sonnets.txt"];
    assert!(run(&[&sonnets[..], &["--parallel", "tensor"]].concat()).contains("tensor"));
    let pipe = ["--parallel", "pipeline", "--stages", "3", "--workers", "2"];
    assert!(run(&[&sonnets[..], &pipe].concat()).contains("--stages"));
    let sched = ["--parallel", "pipeline", "--schedule", "zigzag"];
    assert!(run(&[&sonnets[..], &sched].concat()).contains("zigzag"));
    let o = strata()
        .args(["train", "sample", "--model"])
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("strata train gpt"));
}

#[test]
fn a_pipeline_of_processes_trains_as_gradient_accumulation_does() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], out: &str| {
        let o = strata()
            .args(["train", "gpt"])
            .args(MODEL)
            .args(["--steps", "8", "--out"])
            .arg(dir.path().join(out))
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        (parse_steps(&String::from_utf8(o.stdout).unwrap()), err)
    };
    let (base, _) = run(&["--accumulate", "4"], "base");
    for schedule in ["gpipe", "1f1b"] {
        let args = [
            "--parallel",
            "pipeline",
            "--stages",
            "2",
            "--micro-batches",
            "4",
            "--schedule",
            schedule,
        ];
        let (got, err) = run(&args, schedule);
        assert!(err.contains("bubble"), "{err}");
        assert_eq!(got.len(), base.len());
        for ((s, a), (_, b)) in base.iter().zip(&got) {
            assert!((a - b).abs() < 1e-5, "{schedule} step {s}: {a} vs {b}");
        }
        assert!(dir.path().join(schedule).join("model.safetensors").exists());
    }
}

#[test]
fn an_mlp_learns_the_handwritten_digits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("digits");
    let o = strata()
        .args(["train", "mlp", "--steps", "300", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let steps = parse_steps(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(steps.len(), 300);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let acc = m["test_accuracy"].as_f64().unwrap();
    // 360 held-out images of 10 digits; chance is 0.1, scikit-learn's MLPClassifier ~0.97.
    assert!(acc > 0.9, "test accuracy {acc}");
    assert_eq!(m["test_rows"].as_u64(), Some(360));
    let bad = strata()
        .args(["train", "mlp", "--data", "Cargo.toml", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Cargo.toml:1"));
}

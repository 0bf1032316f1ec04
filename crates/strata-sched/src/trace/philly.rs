//! Microsoft's Philly trace, `cluster_job_log`: a JSON array of jobs
//! (`jobid`, `vc`, `user`, `submitted_time`, `attempts`: [{`start_time`, `end_time`,
//! `detail`: [{`ip`, `gpus`: [..]}]}]), times as `YYYY-MM-DD HH:MM:SS`. A job's GPUs are
//! those of its first attempt, its duration the run time of all its attempts together, and
//! its tenant the virtual cluster (`vc`).

use super::{TraceError, parse_error};
use crate::job::{Job, Trace};
use chrono::NaiveDateTime;
use serde_json::Value;

fn time(v: &Value) -> Option<f64> {
    let s = v.as_str()?;
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok()?;
    Some(t.and_utc().timestamp() as f64)
}

pub(super) fn parse(path: &str, text: &str) -> Result<Trace, TraceError> {
    let all: Value = serde_json::from_str(text).map_err(|e| {
        parse_error(
            path,
            format!("line {}", e.line()),
            format!("not JSON ({e}): a Philly trace is cluster_job_log, a JSON array of jobs"),
        )
    })?;
    let Some(jobs) = all.as_array() else {
        return Err(parse_error(
            path,
            "top level".into(),
            "expected a JSON array of jobs (Philly's cluster_job_log)".into(),
        ));
    };
    let mut trace = Trace::default();
    for (n, job) in jobs.iter().enumerate() {
        let id = job["jobid"].as_str().unwrap_or("").to_string();
        let Some(submit) = time(&job["submitted_time"]) else {
            trace.skip(|| format!("job {n} ({id}): no submitted_time"));
            continue;
        };
        let attempts = job["attempts"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let gpus: usize = attempts
            .first()
            .and_then(|a| a["detail"].as_array())
            .map(|d| {
                d.iter()
                    .map(|m| m["gpus"].as_array().map_or(0, Vec::len))
                    .sum()
            })
            .unwrap_or(0);
        let run: f64 = attempts
            .iter()
            .filter_map(|a| Some((time(&a["end_time"])? - time(&a["start_time"])?).max(0.0)))
            .sum();
        if gpus == 0 || run <= 0.0 {
            trace.skip(|| format!("job {n} ({id}): no attempt that ran on a GPU"));
            continue;
        }
        let vc = job["vc"].as_str().unwrap_or("default").to_string();
        trace
            .jobs
            .push(Job::from_totals(id, vc, submit, run, gpus as f64, 0.0, 0));
    }
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_attempts_and_gpus() {
        let text = r#"[
          {"jobid": "application_1", "vc": "vc1", "user": "u", "status": "Pass",
           "submitted_time": "2017-10-03 02:29:37",
           "attempts": [
             {"start_time": "2017-10-03 02:29:42", "end_time": "2017-10-03 02:39:42",
              "detail": [{"ip": "m1", "gpus": ["gpu0", "gpu1"]}, {"ip": "m2", "gpus": ["gpu0", "gpu1"]}]},
             {"start_time": "2017-10-03 03:00:00", "end_time": "2017-10-03 03:00:30", "detail": []}]},
          {"jobid": "application_2", "vc": "vc2", "submitted_time": "2017-10-03 02:30:00", "attempts": []},
          {"jobid": "application_3", "vc": "vc2", "submitted_time": "None", "attempts": []}
        ]"#;
        let t = parse("philly.json", text).unwrap();
        assert_eq!(t.jobs.len(), 1);
        assert_eq!(t.jobs[0].tasks, 4);
        assert_eq!(t.jobs[0].duration, 630.0);
        assert_eq!(t.jobs[0].tenant, "vc1");
        assert_eq!(t.skipped, 2);
        let e = parse("philly.json", "{\"a\": 1}").unwrap_err();
        assert!(e.to_string().contains("JSON array"), "{e}");
    }
}

//! The generic trace CSV: `job_id,submit_time,gpus,duration` with optional `cpus`, `tenant`
//! and `mem_mib` columns, in any order, named by the header.

use super::{TraceError, parse_error};
use crate::job::{Job, Trace};

pub(super) fn parse(path: &str, text: &str) -> Result<Trace, TraceError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| parse_error(path, "line 1".into(), e.to_string()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let required = |name: &str| {
        column(name).ok_or_else(|| {
            parse_error(
                path,
                "line 1".into(),
                format!(
                    "no `{name}` column: a trace CSV's header must name job_id, submit_time, \
                     gpus and duration (optional: cpus, tenant, mem_mib), found `{}`",
                    headers.iter().collect::<Vec<_>>().join(",")
                ),
            )
        })
    };
    let (id, submit, gpus, duration) = (
        required("job_id")?,
        required("submit_time")?,
        required("gpus")?,
        required("duration")?,
    );
    let (cpus, tenant, mem) = (column("cpus"), column("tenant"), column("mem_mib"));
    let mut trace = Trace::default();
    for (n, record) in reader.records().enumerate() {
        let at = || format!("line {}", n + 2);
        let record = record.map_err(|e| parse_error(path, at(), e.to_string()))?;
        let number = |col: usize, name: &str| -> Result<f64, TraceError> {
            let raw = record.get(col).unwrap_or("");
            raw.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    parse_error(
                        path,
                        at(),
                        format!("`{name}` is `{raw}`: expected a number of seconds/units ≥ 0"),
                    )
                })
        };
        let job_id = record.get(id).unwrap_or("").to_string();
        let (s, g, d) = (
            number(submit, "submit_time")?,
            number(gpus, "gpus")?,
            number(duration, "duration")?,
        );
        let c = cpus.map(|c| number(c, "cpus")).transpose()?.unwrap_or(0.0);
        let m = mem
            .map(|m| number(m, "mem_mib"))
            .transpose()?
            .unwrap_or(0.0);
        let t = tenant
            .and_then(|t| record.get(t))
            .filter(|t| !t.is_empty())
            .unwrap_or("default");
        if d <= 0.0 {
            trace.skip(|| format!("{}: job {job_id} has duration 0", at()));
            continue;
        }
        trace.jobs.push(Job::from_totals(
            job_id,
            t.to_string(),
            s,
            d,
            g,
            c,
            m as u64,
        ));
    }
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_columns_by_name_and_names_bad_values() {
        let t = parse(
            "t.csv",
            "tenant,job_id,submit_time,gpus,duration\na,j1,5,4,100\n,j2,0,0.5,10\nb,j3,1,1,0\n",
        )
        .unwrap();
        assert_eq!(t.jobs.len(), 2);
        assert_eq!(t.jobs[0].tasks, 4);
        assert_eq!(t.jobs[0].tenant, "a");
        assert_eq!(t.jobs[1].per_task.gpu_milli, 500);
        assert_eq!(t.jobs[1].tenant, "default");
        assert_eq!(t.skipped, 1);
        let e = parse("t.csv", "job_id,submit_time,gpus\n").unwrap_err();
        assert!(e.to_string().contains("no `duration` column"), "{e}");
        let e = parse("t.csv", "job_id,submit_time,gpus,duration\nx,1,two,5\n").unwrap_err();
        assert!(e.to_string().contains("line 2") && e.to_string().contains("`gpus`"));
    }
}

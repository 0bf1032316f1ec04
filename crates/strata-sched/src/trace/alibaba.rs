//! Alibaba's GPU cluster traces.
//!
//! - 2023, `openb_pod_list_*.csv` (github.com/alibaba/clusterdata, cluster-trace-gpu-v2023):
//!   `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,
//!   deletion_time,scheduled_time`. A pod is a job of one task; `gpu_milli` is the share of
//!   one GPU a GPU-sharing pod asks for; it runs from `scheduled_time` to `deletion_time`,
//!   and arrives at `creation_time`. The QoS class (LS, BE, Burstable) is the tenant.
//! - 2020, the PAI task table (`pai_task_table.csv`, no header): `job_name,task_name,inst_num,
//!   status,start_time,end_time,plan_cpu,plan_mem,plan_gpu,gpu_type`, CPU and GPU in percent
//!   of one, memory in GB. A task is a gang of `inst_num` instances.

use super::{TraceError, parse_error};
use crate::job::{Job, Trace};
use crate::resources::Resources;

const OPENB: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli";

pub(super) fn recognizes(first_line: &str) -> bool {
    first_line.starts_with(OPENB)
        || first_line.starts_with("job_name,task_name,inst_num")
        || first_line.split(',').count() == 10 && first_line.split(',').nth(2).is_some_and(is_int)
}

fn is_int(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn parse(path: &str, text: &str) -> Result<Trace, TraceError> {
    let first = text.lines().next().unwrap_or("");
    let openb = first.starts_with(OPENB);
    let has_header = openb || first.starts_with("job_name,");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(has_header)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut trace = Trace::default();
    for (n, record) in reader.records().enumerate() {
        let line = n + 1 + usize::from(has_header);
        let record =
            record.map_err(|e| parse_error(path, format!("line {line}"), e.to_string()))?;
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let number = |i: usize| field(i).parse::<f64>().ok().filter(|v| v.is_finite());
        let want = if openb { 11 } else { 10 };
        if record.len() < want {
            return Err(parse_error(
                path,
                format!("line {line}"),
                format!(
                    "{} fields, expected {want} ({})",
                    record.len(),
                    if openb {
                        "an openb_pod_list row"
                    } else {
                        "a PAI task table row"
                    }
                ),
            ));
        }
        if openb {
            let (Some(created), Some(deleted), Some(scheduled)) =
                (number(8), number(9), number(10))
            else {
                trace.skip(|| format!("line {line}: no creation/deletion/scheduled time"));
                continue;
            };
            let duration = deleted - scheduled;
            if duration <= 0.0 {
                trace.skip(|| format!("line {line}: deleted before it was scheduled"));
                continue;
            }
            let num_gpu = number(3).unwrap_or(0.0);
            let gpus = if num_gpu == 1.0 {
                number(4).unwrap_or(1000.0) / 1000.0
            } else {
                num_gpu
            };
            let cpus = number(1).unwrap_or(0.0) / 1000.0;
            let mem = number(2).unwrap_or(0.0).max(0.0) as u64;
            let qos = if field(6).is_empty() {
                "default"
            } else {
                field(6)
            };
            trace.jobs.push(Job::from_totals(
                field(0).to_string(),
                qos.to_string(),
                created,
                duration,
                gpus,
                cpus,
                mem,
            ));
        } else {
            let (Some(start), Some(end)) = (number(4), number(5)) else {
                trace.skip(|| format!("line {line}: no start or end time"));
                continue;
            };
            if end <= start {
                trace.skip(|| format!("line {line}: ends before it starts"));
                continue;
            }
            let instances = number(2).unwrap_or(1.0).max(1.0) as u32;
            let per_task = Resources::new(
                number(8).unwrap_or(0.0) / 100.0,
                number(6).unwrap_or(0.0) / 100.0,
                (number(7).unwrap_or(0.0) * 1024.0).max(0.0) as u64,
            );
            trace.jobs.push(Job {
                id: format!("{}/{}", field(0), field(1)),
                tenant: "pai".to_string(),
                submit: start,
                duration: end - start,
                tasks: instances,
                per_task,
            });
        }
    }
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_openb_pods_and_pai_tasks() {
        let openb = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n\
            openb-pod-0001,6000,12288,1,460,,LS,Running,427061,12902960,427061\n\
            openb-pod-0017,88000,327680,8,1000,,Burstable,Succeeded,9437497,10769854,9437497\n\
            openb-pod-0099,1000,100,0,0,,BE,Pending,5,,\n";
        assert!(recognizes(openb.lines().next().unwrap()));
        let t = parse("p.csv", openb).unwrap();
        assert_eq!(t.jobs.len(), 2);
        assert_eq!(t.jobs[0].per_task.gpu_milli, 460);
        assert_eq!(t.jobs[0].duration, 12902960.0 - 427061.0);
        assert_eq!((t.jobs[1].tasks, t.jobs[1].per_task.cpu_milli), (8, 11000));
        assert_eq!(t.skipped, 1);

        let pai = "a1,worker,2,Terminated,100,400,600,29.3,100,V100\n\
                   a2,ps,1,Failed,,,100,1,,\n";
        assert!(recognizes(pai.lines().next().unwrap()));
        let t = parse("pai.csv", pai).unwrap();
        assert_eq!(t.jobs.len(), 1);
        assert_eq!(t.jobs[0].tasks, 2);
        assert_eq!(t.jobs[0].per_task, Resources::new(1.0, 6.0, 30003));
        assert_eq!(t.jobs[0].duration, 300.0);
    }
}

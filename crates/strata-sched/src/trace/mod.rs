//! Reading job traces: Microsoft Philly's `cluster_job_log` (JSON), Alibaba's GPU cluster
//! traces (the 2023 `openb_pod_list_*.csv` and the 2020 PAI task table), and a generic CSV;
//! plus a generator of synthetic traces shaped like the published ones ([`synth`]).

mod alibaba;
mod generic;
mod philly;
pub mod synth;

use crate::job::Trace;
use std::path::Path;
use std::str::FromStr;

/// What went wrong reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("cannot read trace {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A record could not be understood.
    #[error("trace {path}, {at}: {what}")]
    Parse {
        /// The file.
        path: String,
        /// Where in it ("line 7", "job 3").
        at: String,
        /// What was wrong and what was expected.
        what: String,
    },
}

/// The trace formats `strata sim --trace-format` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Philly's `cluster_job_log`: a JSON array of jobs with attempts and GPU lists.
    Philly,
    /// Alibaba: `openb_pod_list_*.csv` (2023) or the PAI task table (2020), told apart by
    /// their first line.
    Alibaba,
    /// `job_id,submit_time,gpus,duration[,cpus][,tenant][,mem_mib]`, seconds.
    Csv,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "philly" => Ok(Format::Philly),
            "alibaba" => Ok(Format::Alibaba),
            "csv" => Ok(Format::Csv),
            other => Err(format!(
                "unknown trace format `{other}`: use philly, alibaba or csv"
            )),
        }
    }
}

/// Reads a trace; without a format, `.json` files are Philly and anything else is told apart
/// by its first line (Alibaba's headers, else the generic CSV). Submit times are rebased so
/// the first job arrives at time 0.
pub fn read(path: &Path, format: Option<Format>) -> Result<Trace, TraceError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TraceError::Io {
        path: name.clone(),
        source,
    })?;
    let format = format.unwrap_or_else(|| guess(path, &text));
    let mut trace = match format {
        Format::Philly => philly::parse(&name, &text)?,
        Format::Alibaba => alibaba::parse(&name, &text)?,
        Format::Csv => generic::parse(&name, &text)?,
    };
    trace.rebase();
    Ok(trace)
}

fn guess(path: &Path, text: &str) -> Format {
    if path.extension().is_some_and(|e| e == "json") {
        return Format::Philly;
    }
    let first = text.lines().next().unwrap_or("");
    if alibaba::recognizes(first) {
        Format::Alibaba
    } else {
        Format::Csv
    }
}

pub(crate) fn parse_error(path: &str, at: String, what: String) -> TraceError {
    TraceError::Parse {
        path: path.to_string(),
        at,
        what,
    }
}

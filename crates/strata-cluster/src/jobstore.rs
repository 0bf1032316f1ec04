//! The job table across master restarts: unfinished jobs (their specs as submitted, restart
//! and preemption counts), quotas, entitlements and weights, written atomically to
//! `DIR/jobs.json` whenever they change. A restarted master reloads them with every task
//! pending and, for one node timeout, places nothing: workers re-register and report the
//! tasks they still run, which are adopted where they run (`Jobs::reconcile`), so services
//! keep running through a master restart instead of being started twice.

use crate::jobs::{JobEntry, Jobs};
use crate::spec::JobSpec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use strata_sched::Resources;

#[derive(Serialize, Deserialize, Default)]
struct Saved {
    jobs: Vec<SavedJob>,
    quotas: HashMap<String, Resources>,
    weights: HashMap<String, f64>,
}

#[derive(Serialize, Deserialize)]
struct SavedJob {
    toml: String,
    restarts: u32,
    preemptions: u32,
}

impl Jobs {
    /// The table kept at `path`: loaded if it exists (placement held back for `adopt` so
    /// running tasks can be adopted), saved there from now on.
    pub fn open(path: &Path, adopt: Duration) -> Result<Jobs, String> {
        let mut jobs = Jobs::default();
        jobs.store = Some(path.to_path_buf());
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(jobs),
            Err(e) => return Err(format!("cannot read the job table {}: {e}", path.display())),
        };
        let saved: Saved = serde_json::from_str(&text).map_err(|e| {
            format!(
                "the job table {} is damaged ({e}); move it away to start with no jobs",
                path.display()
            )
        })?;
        for (tenant, q) in saved.quotas {
            jobs.restore_quota(tenant, q);
        }
        for (tenant, w) in saved.weights {
            jobs.set_weight(&tenant, w);
        }
        for j in saved.jobs {
            let spec = JobSpec::parse(&j.toml)
                .map_err(|e| format!("the job table {}: {e}", path.display()))?;
            let name = spec.name.clone();
            jobs.insert(spec, &j.toml);
            if let Some(entry) = jobs.jobs.get_mut(&name) {
                entry.restarts = j.restarts;
                entry.preemptions = j.preemptions;
                entry.message = "restored after a master restart".into();
            }
        }
        if !jobs.jobs.is_empty() {
            tracing::info!(
                jobs = jobs.jobs.len(),
                "job table restored; adopting running tasks"
            );
            jobs.adopt_until = Some(Instant::now() + adopt);
        }
        jobs.dirty = false;
        Ok(jobs)
    }

    /// Writes the table if it changed (temporary file, fsync, rename).
    pub fn save(&mut self) {
        let Some(path) = self.store.clone() else {
            return;
        };
        if !self.dirty {
            return;
        }
        let saved = Saved {
            jobs: self
                .jobs
                .values()
                .filter(|j| !ended(j))
                .map(|j| SavedJob {
                    toml: j.source.clone(),
                    restarts: j.restarts,
                    preemptions: j.preemptions,
                })
                .collect(),
            quotas: self.quotas().clone(),
            weights: self.weights().clone(),
        };
        let tmp = path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(serde_json::to_string_pretty(&saved)?.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        match write() {
            Ok(()) => self.dirty = false,
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot save the job table")
            }
        }
    }
}

fn ended(j: &JobEntry) -> bool {
    matches!(
        j.state,
        crate::jobs::JobState::Succeeded
            | crate::jobs::JobState::Failed(_)
            | crate::jobs::JobState::Killed
    )
}

//! The checker: after the cluster has healed, every acknowledged operation must show, every
//! file must read back whole, and nothing may exist that no operation could have made.

use crate::Summary;
use crate::cluster::Cluster;
use crate::model::{Model, digest};
use crate::workload::RACE;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use strata_dfs::DfsClient;

/// Retries `f` on a fresh client until `deadline` (the cluster has healed, but a read may
/// still meet a replica being repaired); past it, tries once.
fn retry<T>(
    c: &Cluster,
    deadline: Instant,
    what: &str,
    mut f: impl FnMut(&mut DfsClient) -> Result<T, strata_dfs::DfsError>,
) -> Result<T, String> {
    loop {
        let r = c
            .client()
            .and_then(|mut cl| f(&mut cl).map_err(|e| e.to_string()));
        match r {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => return Err(format!("{what}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Checks the final state against every client's model.
pub fn check(c: &Cluster, models: &[Model]) -> Summary {
    let mut s = Summary::default();
    // One patience for the whole check, so that many bad files cannot stall it.
    let deadline = Instant::now() + Duration::from_secs(60);
    for m in models {
        s.anomalies.extend(m.anomalies.iter().cloned());
        let listed = match retry(c, deadline, &format!("list {}", m.root), |cl| {
            cl.list(&m.root, true)
        }) {
            Ok(l) => l,
            Err(e) => {
                s.anomalies.push(e);
                continue;
            }
        };
        let files: BTreeSet<String> = listed
            .iter()
            .filter(|e| !e.is_dir)
            .map(|e| e.path.clone())
            .collect();
        for f in &files {
            if *f == m.log {
                continue;
            }
            let possible = m.possible(f);
            if !possible.iter().any(Option::is_some) {
                s.anomalies.push(format!(
                    "{f} exists, but no operation could have left it there"
                ));
                continue;
            }
            s.files_checked += 1;
            match retry(c, deadline, &format!("read {f}"), |cl| cl.read_all(f)) {
                Ok(bytes) if possible.contains(&Some(digest(&bytes))) => {}
                Ok(bytes) => s.anomalies.push(format!(
                    "{f}: {} bytes that no acknowledged or attempted write produced (expected one of {:?})",
                    bytes.len(),
                    possible
                )),
                Err(e) => s.anomalies.push(format!("{f} is unreadable: {e}")),
            }
        }
        for (p, possible) in &m.files {
            if !possible.contains(&None) && !files.contains(p) {
                s.anomalies
                    .push(format!("{p} is missing, but its write was acknowledged"));
            }
        }
        match retry(c, deadline, &format!("read records of {}", m.log), |cl| {
            cl.read_records(&m.log)
        }) {
            Ok(records) => {
                let found: BTreeSet<String> = records
                    .iter()
                    .map(|r| String::from_utf8_lossy(r).into_owned())
                    .collect();
                for r in &m.acked {
                    s.records_checked += 1;
                    if !found.contains(r) {
                        s.anomalies
                            .push(format!("{}: acknowledged record {r} is missing", m.log));
                    }
                }
                for r in found.difference(&m.attempted) {
                    s.anomalies
                        .push(format!("{}: record {r:?} was never appended", m.log));
                }
            }
            Err(e) => s.anomalies.push(e),
        }
    }
    // The race: whatever is there must be exactly one writer's whole content.
    let attempted: BTreeSet<_> = models.iter().flat_map(|m| m.race.iter().copied()).collect();
    if !attempted.is_empty() {
        match retry(c, deadline, "read the race file", |cl| {
            match cl.read_all(RACE) {
                Err(strata_dfs::DfsError::NotFound(_)) => Ok(None),
                other => other.map(Some),
            }
        }) {
            Ok(Some(bytes)) => {
                s.files_checked += 1;
                if !attempted.contains(&digest(&bytes)) {
                    s.anomalies.push(format!(
                        "{RACE}: {} bytes that are not any one writer's content (mixed writes?)",
                        bytes.len()
                    ));
                }
            }
            Ok(None) => {}
            Err(e) => s.anomalies.push(e),
        }
    }
    s
}

//! A client of the campaign: random operations on its own directory, record appends to its
//! own log, and overwrites of the one file every client races for.

use crate::model::{Digest, Model, digest};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};
use strata_dfs::{DfsClient, DfsError};

/// The file every client overwrites at once.
pub const RACE: &str = "/race/x";

/// Whether an error says the operation certainly did not happen (the master refused it).
pub fn refused(e: &DfsError) -> bool {
    matches!(
        e,
        DfsError::NotFound(_)
            | DfsError::AlreadyExists(_)
            | DfsError::Busy(_)
            | DfsError::WrongKind(_)
            | DfsError::NotEmpty(_)
            | DfsError::InvalidPath(..)
            | DfsError::Unauthenticated(_)
    )
}

/// A size for a write: mostly small files, some spanning several (256 KiB) chunks.
fn size(rng: &mut SmallRng) -> usize {
    if rng.gen_range(0..10) < 7 {
        rng.gen_range(0..64 << 10)
    } else {
        rng.gen_range(0..700 << 10)
    }
}

/// Deterministic content for a write: `len` bytes from the client, op and seed.
fn content(seed: u64, client: usize, n: u64, len: usize) -> Vec<u8> {
    let mut r =
        SmallRng::seed_from_u64(seed ^ ((client as u64) << 40) ^ n.wrapping_mul(0x9e37_79b9));
    let mut v = vec![0u8; len];
    r.fill(&mut v[..]);
    v
}

struct Client {
    master: String,
    secret: String,
    conn: Option<DfsClient>,
}

impl Client {
    fn get(&mut self) -> Option<&mut DfsClient> {
        if self.conn.is_none() {
            self.conn = DfsClient::connect(&self.master, &self.secret).ok();
        }
        self.conn.as_mut()
    }
    /// Drops the connection after an error that may have broken it.
    fn reset(&mut self, e: &DfsError) {
        if !refused(e) {
            self.conn = None;
        }
    }
}

fn put(c: &mut DfsClient, path: &str, data: &[u8], overwrite: bool) -> Result<u64, DfsError> {
    c.put(&mut &data[..], path, 0, overwrite, &mut |_| {})
}

/// Runs client `k` until `deadline`; returns what it knows.
pub fn client(k: usize, seed: u64, master: &str, secret: &str, deadline: Instant) -> Model {
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(k as u64 * 7919));
    let root = format!("/c{k}");
    let dir = format!("{root}/d");
    let mut m = Model {
        root: root.clone(),
        log: format!("{root}/log"),
        ..Model::default()
    };
    let mut cl = Client {
        master: master.into(),
        secret: secret.into(),
        conn: None,
    };
    // Set-up, retried until it sticks (faults may already be happening).
    let mut ready = false;
    while !ready && Instant::now() < deadline {
        if let Some(c) = cl.get() {
            let r = c
                .mkdir(&dir, true)
                .and_then(|_| c.mkdir("/race", true))
                .and_then(|_| match c.touch(&m.log, 0, false) {
                    Err(DfsError::AlreadyExists(_)) => Ok(()),
                    other => other.map(|_| ()),
                });
            match r {
                Ok(()) => ready = true,
                Err(e) => cl.reset(&e),
            }
        }
        if !ready {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut n: u64 = 0;
    let mut snapshots = 0;
    while ready && Instant::now() < deadline {
        n += 1;
        let Some(c) = cl.get() else {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        let pick = rng.gen_range(0..100);
        let existing = m.maybe_present();
        let existing: Vec<&String> = existing
            .iter()
            .filter(|p| p.starts_with(&format!("{dir}/")))
            .collect();
        let any = |rng: &mut SmallRng| -> Option<String> {
            (!existing.is_empty()).then(|| existing[rng.gen_range(0..existing.len())].clone())
        };
        let result: Result<(), DfsError> = if pick < 30 || existing.is_empty() {
            // Create a new file.
            let path = format!("{dir}/f{n}");
            let data = content(seed, k, n, size(&mut rng));
            write(c, &mut m, "create", &path, &data, false)
        } else if pick < 45 {
            let path = any(&mut rng).expect("non-empty");
            let data = content(seed, k, n, size(&mut rng));
            write(c, &mut m, "overwrite", &path, &data, true)
        } else if pick < 65 {
            let rec = format!("c{k}-r{n}");
            m.attempted.insert(rec.clone());
            match c.append_record(&m.log.clone(), rec.as_bytes()) {
                Ok(_) => {
                    m.count("append", true);
                    m.acked.push(rec);
                    Ok(())
                }
                Err(e) => {
                    m.count("append", false);
                    Err(e)
                }
            }
        } else if pick < 75 {
            let from = any(&mut rng).expect("non-empty");
            let to = format!("{dir}/f{n}");
            let before = m.possible(&from);
            match c.rename(&from, &to) {
                Ok(()) => {
                    m.count("rename", true);
                    m.files.insert(to, before);
                    m.set(&from, None);
                    Ok(())
                }
                Err(e) => {
                    m.count("rename", false);
                    if let DfsError::NotFound(_) = e
                        && !before.contains(&None)
                    {
                        m.anomalies.push(format!(
                            "rename {from}: the master says it does not exist, but its creation was acknowledged"
                        ));
                    }
                    if !refused(&e) {
                        m.widen_all(&to, &before);
                        m.widen(&from, None);
                    }
                    Err(e)
                }
            }
        } else if pick < 85 {
            let path = any(&mut rng).expect("non-empty");
            let before = m.possible(&path);
            match c.delete(&path, false) {
                Ok(()) => {
                    m.count("delete", true);
                    m.set(&path, None);
                    Ok(())
                }
                Err(e) => {
                    m.count("delete", false);
                    if let DfsError::NotFound(_) = e
                        && !before.contains(&None)
                    {
                        m.anomalies.push(format!(
                            "delete {path}: the master says it does not exist, but it was acknowledged"
                        ));
                    }
                    if !refused(&e) {
                        m.widen(&path, None);
                    }
                    Err(e)
                }
            }
        } else if pick < 90 && snapshots < 3 {
            snapshots += 1;
            let to = format!("{root}/s{n}");
            let copies: Vec<(String, std::collections::BTreeSet<Option<Digest>>)> = m
                .files
                .iter()
                .filter(|(p, _)| p.starts_with(&format!("{dir}/")))
                .map(|(p, s)| (format!("{to}/{}", &p[dir.len() + 1..]), s.clone()))
                .collect();
            match c.snapshot(&dir, &to) {
                Ok(()) => {
                    m.count("snapshot", true);
                    for (p, s) in copies {
                        m.files.insert(p, s);
                    }
                    Ok(())
                }
                Err(e) => {
                    m.count("snapshot", false);
                    if !refused(&e) {
                        for (p, s) in copies {
                            m.widen_all(&p, &s);
                            m.widen(&p, None);
                        }
                    }
                    Err(e)
                }
            }
        } else {
            let data = content(seed, k, n, 1 + size(&mut rng));
            m.race.push(digest(&data));
            match put(c, RACE, &data, true) {
                Ok(_) => {
                    m.count("race", true);
                    Ok(())
                }
                Err(e) => {
                    m.count("race", false);
                    Err(e)
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(client = k, error = %e, "operation failed");
            cl.reset(&e);
        }
    }
    m
}

/// Writes a whole file and records the outcome in the model.
fn write(
    c: &mut DfsClient,
    m: &mut Model,
    kind: &'static str,
    path: &str,
    data: &[u8],
    overwrite: bool,
) -> Result<(), DfsError> {
    let d = digest(data);
    match put(c, path, data, overwrite) {
        Ok(_) => {
            m.count(kind, true);
            m.set(path, Some(d));
            read_your_write(c, path, d, m);
            Ok(())
        }
        Err(e) => {
            m.count(kind, false);
            if !refused(&e) {
                m.widen(path, Some(d));
            }
            Err(e)
        }
    }
}

/// Reads back an acknowledged write; a read that succeeds with other bytes is an anomaly
/// (one that fails under faults is not).
fn read_your_write(c: &mut DfsClient, path: &str, d: Digest, m: &mut Model) {
    if let Ok(bytes) = c.read_all(path)
        && digest(&bytes) != d
    {
        m.anomalies.push(format!(
            "{path}: read back {} bytes right after an acknowledged write of {} bytes with other content",
            bytes.len(),
            d.0
        ));
    }
}

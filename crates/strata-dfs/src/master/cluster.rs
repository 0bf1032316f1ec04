//! What the master knows about chunkservers (not persisted): liveness, which chunks each
//! holds (from their reports), leases, corrupt replicas, and re-replication in flight.

use super::namespace::Namespace;
use crate::proto::{ChunkReport, ReplicateCommand};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// A chunkserver as the master sees it.
#[derive(Debug)]
pub struct Node {
    /// Data-protocol address.
    pub addr: String,
    /// Host part of the address (replicas are spread over hosts).
    pub host: String,
    /// Disk capacity.
    pub capacity: u64,
    /// Bytes stored.
    pub used: u64,
    /// Last report.
    pub last_heartbeat: Instant,
    /// Reporting in time.
    pub alive: bool,
    /// Chunks to tell it to delete.
    pub pending_delete: Vec<u64>,
    /// Copies to tell it to make.
    pub pending_replicate: Vec<ReplicateCommand>,
}

/// A lease: the primary that orders mutations of a chunk until `expires`.
#[derive(Clone, Debug)]
pub struct Lease {
    /// Node id of the primary.
    pub primary: String,
    /// Version the lease was granted at.
    pub version: u64,
    /// End of the lease.
    pub expires: Instant,
}

/// The master's soft state.
#[derive(Default)]
pub struct Cluster {
    /// Chunkservers by id.
    pub nodes: HashMap<String, Node>,
    /// Chunk handle -> ids of nodes holding a current replica.
    pub locations: HashMap<u64, HashSet<String>>,
    /// Leases by chunk.
    pub leases: HashMap<u64, Lease>,
    /// Replicas known to be corrupt: never counted, deleted on the node's next heartbeat.
    pub corrupt: HashSet<(u64, String)>,
    /// Re-replications under way: (chunk, target) -> (source, started).
    pub inflight: HashMap<(u64, String), (String, Instant)>,
    /// Free bytes a node needs to receive a new replica (one chunk).
    pub min_free: u64,
    /// The version each node last reported (or was told) for each replica it holds.
    pub versions: HashMap<(u64, String), u64>,
    /// The highest version this master incarnation has sent to replicas, by chunk.
    pub max_sent: HashMap<u64, u64>,
}

fn host_of(addr: &str) -> String {
    addr.rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_default()
}

impl Cluster {
    /// Adds or refreshes a node.
    pub fn register(&mut self, id: &str, addr: &str, capacity: u64, used: u64) {
        let n = self.nodes.entry(id.to_string()).or_insert_with(|| Node {
            addr: addr.to_string(),
            host: host_of(addr),
            capacity,
            used,
            last_heartbeat: Instant::now(),
            alive: true,
            pending_delete: Vec::new(),
            pending_replicate: Vec::new(),
        });
        n.addr = addr.to_string();
        n.host = host_of(addr);
        n.capacity = capacity;
        n.used = used;
        n.last_heartbeat = Instant::now();
        n.alive = true;
    }

    /// Applies a node's full chunk report: records current replicas, and queues deletion
    /// of chunks the namespace no longer has, stale versions and known-corrupt replicas.
    pub fn apply_report(&mut self, id: &str, chunks: &[ChunkReport], ns: &Namespace) {
        let mut held = HashSet::new();
        let mut delete = Vec::new();
        for c in chunks {
            self.versions.insert((c.handle, id.to_string()), c.version);
        }
        for c in chunks {
            let corrupt = self.corrupt.contains(&(c.handle, id.to_string()));
            let keep = match ns.chunks.get(&c.handle) {
                None => false,
                Some(info) if c.version < info.version => {
                    // Stale: it missed a version bump, and so the writes of that lease. It is
                    // deleted once a live replica at the current version exists; never
                    // before (a logged version is always on some replica, which may be down
                    // now), so a copy is never deleted while nothing better is live.
                    if self.has_current(c.handle, info.version, id) {
                        false
                    } else {
                        continue;
                    }
                }
                Some(_) => !corrupt,
            };
            let no_good_copy = || self.live_replicas(c.handle).iter().all(|n| n == id);
            if corrupt && ns.chunks.contains_key(&c.handle) && no_good_copy() {
                continue; // the last copy: kept, though corrupt, and not counted as good
            }
            if keep {
                held.insert(c.handle);
                self.locations
                    .entry(c.handle)
                    .or_default()
                    .insert(id.to_string());
                self.inflight.remove(&(c.handle, id.to_string()));
            } else {
                delete.push(c.handle);
            }
        }
        // Forget replicas the node no longer reports (deleted, or lost with its disk), except
        // chunks under an active lease, whose first bytes may not have arrived yet.
        let now = Instant::now();
        let reported: HashSet<u64> = chunks.iter().map(|c| c.handle).collect();
        for (h, locs) in self.locations.iter_mut() {
            let leased = self.leases.get(h).is_some_and(|l| l.expires > now);
            if locs.contains(id) && !held.contains(h) && !leased {
                locs.remove(id);
            }
        }
        self.locations.retain(|_, l| !l.is_empty());
        self.corrupt
            .retain(|(h, n)| n != id || reported.contains(h));
        self.versions
            .retain(|(h, n), _| n != id || reported.contains(h));
        if let Some(n) = self.nodes.get_mut(id) {
            n.pending_delete.extend(delete);
        }
    }

    /// Whether a live node other than `except` holds chunk `h` at version `v` or later.
    pub fn has_current(&self, h: u64, v: u64, except: &str) -> bool {
        self.locations.get(&h).is_some_and(|locs| {
            locs.iter().any(|n| {
                n != except
                    && self.nodes.get(n).is_some_and(|n| n.alive)
                    && self
                        .versions
                        .get(&(h, n.clone()))
                        .is_some_and(|&rv| rv >= v)
            })
        })
    }

    /// Marks nodes silent for longer than `timeout` dead and forgets their replicas.
    pub fn check_liveness(&mut self, timeout: Duration) -> Vec<String> {
        let now = Instant::now();
        let mut died = Vec::new();
        for (id, n) in self.nodes.iter_mut() {
            if n.alive && now.duration_since(n.last_heartbeat) > timeout {
                n.alive = false;
                died.push(id.clone());
            }
        }
        for id in &died {
            tracing::warn!(node = %id, "chunkserver missed its heartbeats: declared dead");
            for locs in self.locations.values_mut() {
                locs.remove(id);
            }
            self.leases.retain(|_, l| &l.primary != id);
            // Copies from or to it will not finish.
            self.inflight
                .retain(|(_, target), (src, _)| target != id && src != id);
        }
        died
    }

    /// Live nodes.
    pub fn live(&self) -> usize {
        self.nodes.values().filter(|n| n.alive).count()
    }

    /// Live replicas of a chunk.
    pub fn live_replicas(&self, handle: u64) -> Vec<String> {
        let mut v: Vec<String> = self
            .locations
            .get(&handle)
            .map(|s| {
                s.iter()
                    .filter(|id| self.nodes.get(*id).is_some_and(|n| n.alive))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Chooses `n` live nodes, not in `exclude`, spread over hosts, least used first.
    pub fn place(&self, n: usize, exclude: &[String]) -> Vec<String> {
        // A node without room for a whole chunk more is full: never place there.
        let mut cands: Vec<(&String, &Node)> = self
            .nodes
            .iter()
            .filter(|(id, node)| node.alive && !exclude.contains(id))
            .filter(|(_, node)| node.capacity.saturating_sub(node.used) >= self.min_free)
            .collect();
        cands.sort_by(|a, b| {
            let ua = a.1.used as f64 / a.1.capacity.max(1) as f64;
            let ub = b.1.used as f64 / b.1.capacity.max(1) as f64;
            ua.total_cmp(&ub).then_with(|| a.0.cmp(b.0))
        });
        let excluded_hosts: HashSet<&str> = exclude
            .iter()
            .filter_map(|id| self.nodes.get(id).map(|n| n.host.as_str()))
            .collect();
        let mut chosen: Vec<String> = Vec::new();
        let mut hosts: HashSet<&str> = excluded_hosts.clone();
        // First pass: one per host not yet used; second pass: fill up.
        for (id, node) in &cands {
            if chosen.len() < n && hosts.insert(node.host.as_str()) {
                chosen.push((*id).clone());
            }
        }
        for (id, _) in &cands {
            if chosen.len() < n && !chosen.contains(id) {
                chosen.push((*id).clone());
            }
        }
        chosen
    }

    /// Address of a node.
    pub fn addr(&self, id: &str) -> Option<String> {
        self.nodes.get(id).map(|n| n.addr.clone())
    }

    /// Files with at least one chunk below its replication target.
    pub fn under_replicated_files(&self, ns: &Namespace) -> u64 {
        let under: HashSet<u64> = self.under_replicated(ns).iter().map(|u| u.0).collect();
        if under.is_empty() {
            return 0;
        }
        ns.entries
            .values()
            .filter(|e| match e {
                crate::master::namespace::Entry::File { chunks, .. } => {
                    chunks.iter().any(|h| under.contains(h))
                }
                _ => false,
            })
            .count() as u64
    }

    /// Chunks with fewer live replicas than their target, fewest first.
    pub fn under_replicated(&self, ns: &Namespace) -> Vec<(u64, usize, u32)> {
        let mut v: Vec<(u64, usize, u32)> = ns
            .chunks
            .iter()
            // A chunk being written is copied once its lease ends, never half-way.
            .filter(|(h, _)| {
                self.leases
                    .get(h)
                    .is_none_or(|l| l.expires <= Instant::now())
            })
            .map(|(h, c)| (*h, self.live_replicas(*h).len(), c.replication))
            .filter(|(_, live, target)| *live < *target as usize)
            .collect();
        v.sort_by_key(|&(h, live, _)| (live, h));
        v
    }

    /// Queues copies for under-replicated chunks, at most `streams` per source node in
    /// flight (the throttle), fewest replicas first.
    pub fn plan_replication(&mut self, ns: &Namespace, streams: u32, heartbeat: Duration) {
        let now = Instant::now();
        let patience = (heartbeat * 30).max(Duration::from_secs(3));
        self.inflight
            .retain(|_, (_, started)| now.duration_since(*started) < patience);
        let mut busy: HashMap<String, u32> = HashMap::new();
        for (src, _) in self.inflight.values() {
            *busy.entry(src.clone()).or_default() += 1;
        }
        for (handle, live, target) in self.under_replicated(ns) {
            if live == 0 {
                continue; // nothing to copy from (reported as lost)
            }
            let pending = self.inflight.keys().filter(|(h, _)| *h == handle).count();
            let holders = self.live_replicas(handle);
            let needed = target as usize - live - pending.min(target as usize - live);
            if needed == 0 {
                continue;
            }
            let mut exclude = holders.clone();
            exclude.extend(
                self.inflight
                    .keys()
                    .filter(|(h, _)| *h == handle)
                    .map(|(_, t)| t.clone()),
            );
            // Not onto a node still holding a corrupt copy (it must delete it first).
            exclude.extend(
                self.corrupt
                    .iter()
                    .filter(|(h, _)| *h == handle)
                    .map(|(_, n)| n.clone()),
            );
            let targets = self.place(needed, &exclude);
            let version = ns.chunks.get(&handle).map(|c| c.version).unwrap_or(0);
            for t in targets {
                let Some(src) = holders
                    .iter()
                    .find(|s| busy.get(*s).copied().unwrap_or(0) < streams)
                    .cloned()
                else {
                    break;
                };
                let Some(taddr) = self.addr(&t) else { continue };
                *busy.entry(src.clone()).or_default() += 1;
                self.inflight
                    .insert((handle, t.clone()), (src.clone(), now));
                if let Some(n) = self.nodes.get_mut(&src) {
                    n.pending_replicate.push(ReplicateCommand {
                        handle,
                        version,
                        target: taddr,
                    });
                }
                tracing::info!(chunk = handle, from = %src, to = %t, "re-replicating");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A namespace holding `/f` (replication 2) made of chunks `handles`.
    fn file_of(handles: &[u64]) -> Namespace {
        let mut ns = Namespace::default();
        ns.apply(&Op::Create {
            path: "/f".into(),
            replication: 2,
            overwrite: false,
            writer: 1,
        })
        .unwrap();
        for &h in handles {
            ns.apply(&Op::AddChunk {
                path: "/f".into(),
                writer: 1,
                handle: h,
                abandon: None,
            })
            .unwrap();
        }
        ns.apply(&Op::Close {
            path: "/f".into(),
            writer: 1,
            mtime: 0,
        })
        .unwrap();
        ns
    }
    use crate::master::namespace::{Namespace, Op};

    #[test]
    fn placement_spreads_over_hosts_and_skips_dead_and_excluded_nodes() {
        let mut c = Cluster::default();
        c.register("a1", "10.0.0.1:1", 100, 0);
        c.register("a2", "10.0.0.1:2", 100, 0);
        c.register("b1", "10.0.0.2:1", 100, 50);
        c.register("c1", "10.0.0.3:1", 100, 10);
        let p = c.place(3, &[]);
        let hosts: std::collections::HashSet<String> =
            p.iter().map(|id| c.nodes[id].host.clone()).collect();
        assert_eq!(hosts.len(), 3, "one replica per host first: {p:?}");
        c.nodes.get_mut("c1").unwrap().alive = false;
        let p = c.place(3, &["b1".to_string()]);
        assert_eq!(
            p.len(),
            2,
            "only a1 and a2 are live and not excluded: {p:?}"
        );
        assert!(!p.contains(&"c1".to_string()));
    }

    #[test]
    fn reports_drop_stale_and_unknown_chunks_and_plan_copies_fewest_first() {
        let mut ns = file_of(&[1, 2]);
        ns.apply(&Op::SetVersion {
            handle: 2,
            version: 3,
        })
        .unwrap();
        let mut c = Cluster::default();
        for (id, addr) in [("n1", "h1:1"), ("n2", "h2:1"), ("n3", "h3:1")] {
            c.register(id, addr, 100, 0);
        }
        let rep = |h: u64, v: u64| ChunkReport {
            handle: h,
            version: v,
            length: 10,
        };
        // n1 has chunk 1 and a stale chunk 2 and an unknown chunk 9; n2 has both, current.
        c.apply_report("n2", &[rep(1, 1), rep(2, 3)], &ns);
        c.apply_report("n1", &[rep(1, 1), rep(2, 2), rep(9, 1)], &ns);
        assert_eq!(c.live_replicas(1), vec!["n1", "n2"]);
        assert_eq!(c.live_replicas(2), vec!["n2"]);
        let mut deletes = c.nodes["n1"].pending_delete.clone();
        deletes.sort();
        assert_eq!(deletes, vec![2, 9]);
        // Chunk 2 (one replica) is under-replicated; a copy is planned from n2.
        assert_eq!(c.under_replicated(&ns), vec![(2, 1, 2)]);
        c.plan_replication(&ns, 1, Duration::from_millis(100));
        let cmds = &c.nodes["n2"].pending_replicate;
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].handle, 2);
        assert_ne!(cmds[0].target, "h2:1");
        // Throttle: nothing more is planned while the copy is in flight.
        c.plan_replication(&ns, 1, Duration::from_millis(100));
        assert_eq!(c.nodes["n2"].pending_replicate.len(), 1);
    }

    /// Regression (data-safety issue, row 4): with every replica corrupt the master deleted
    /// them all. A corrupt replica is deleted only while a good one exists; the last copy
    /// stays on its node, out of the readable locations.
    #[test]
    fn the_last_copy_of_a_chunk_is_kept_even_if_corrupt() {
        let ns = file_of(&[1]);
        let mut c = Cluster::default();
        c.register("n1", "h1:1", 100, 0);
        c.register("n2", "h2:1", 100, 0);
        let rep = [ChunkReport {
            handle: 1,
            version: 1,
            length: 10,
        }];
        c.apply_report("n1", &rep, &ns);
        c.apply_report("n2", &rep, &ns);
        c.corrupt.insert((1, "n1".into()));
        c.corrupt.insert((1, "n2".into()));
        c.apply_report("n1", &rep, &ns); // n2 still counts as good: n1's copy goes
        assert_eq!(c.nodes["n1"].pending_delete, vec![1]);
        c.locations.clear();
        c.apply_report("n2", &rep, &ns); // now the only copy: kept
        assert!(c.nodes["n2"].pending_delete.is_empty());
        assert!(c.live_replicas(1).is_empty());
        assert!(c.corrupt.contains(&(1, "n2".to_string())));
    }

    /// Regression (found by the chaos campaign): version bumps that some replicas missed
    /// (down or paused) made them stale, and they were deleted even when no replica at the
    /// current version was live, until hundreds of chunks had no replica left. A stale
    /// replica is now deleted only once a live replica at the current version exists.
    #[test]
    fn stale_replicas_are_kept_until_a_current_one_is_live() {
        let mut ns = file_of(&[1]);
        ns.apply(&Op::Commit {
            handle: 1,
            length: 10,
        })
        .unwrap();
        ns.apply(&Op::SetVersion {
            handle: 1,
            version: 5,
        })
        .unwrap();
        let mut c = Cluster::default();
        for (id, addr) in [("n1", "h1:1"), ("n2", "h2:1"), ("n3", "h3:1")] {
            c.register(id, addr, 100, 0);
        }
        let rep = |v: u64| ChunkReport {
            handle: 1,
            version: v,
            length: 10,
        };
        c.apply_report("n1", &[rep(4)], &ns);
        c.apply_report("n2", &[rep(4)], &ns);
        assert!(c.live_replicas(1).is_empty(), "stale copies are not served");
        assert!(c.nodes["n1"].pending_delete.is_empty(), "nor deleted");
        assert!(c.nodes["n2"].pending_delete.is_empty());
        // The replica that has the current version reports: the old ones go.
        c.apply_report("n3", &[rep(5)], &ns);
        c.apply_report("n1", &[rep(4)], &ns);
        c.apply_report("n2", &[rep(4)], &ns);
        assert_eq!(c.live_replicas(1), vec!["n3"]);
        assert_eq!(c.nodes["n1"].pending_delete, vec![1]);
        assert_eq!(c.nodes["n2"].pending_delete, vec![1]);
    }
}

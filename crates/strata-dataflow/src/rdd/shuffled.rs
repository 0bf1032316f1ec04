//! The reduce side of a shuffle: partition `r` is segment `r` of every map output.

use super::{BoxIter, Dependency, Rdd, RddBase, RddId};
use crate::data::{Data, Key};
use crate::error::Error;
use crate::error::Result;
use crate::metrics::TaskMetrics;
use crate::shuffle::ShuffleDependency;
use crate::shuffle::codec::RecordReader;
use crate::shuffle::{MapStatus, Segment, ShuffleManager};
use crate::task::TaskContext;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;

/// Opens one segment of a map output: from the local file when this process wrote it (or
/// shares its disk: embedded mode), else from the shuffle server of the executor that did.
fn open_segment(
    manager: &ShuffleManager,
    status: &MapStatus,
    seg: Segment,
) -> Result<Box<dyn Read>> {
    let local = match (&status.location, manager.identity.get()) {
        (None, _) => true,
        (Some(loc), Some(me)) => loc.executor == me.executor,
        (Some(_), None) => false,
    };
    if !local {
        let loc = status
            .location
            .as_ref()
            .expect("remote status has a location");
        let secret = manager
            .identity
            .get()
            .map(|i| i.secret.as_str())
            .unwrap_or("");
        return crate::cluster::fetch::open_remote(
            &loc.addr,
            secret,
            &status.path,
            seg.offset,
            seg.len,
        );
    }
    let mut f = File::open(&status.path).map_err(|e| {
        crate::error::Error::Remote(format!("cannot open {}: {e}", status.path.display()))
    })?;
    f.seek(SeekFrom::Start(seg.offset))
        .map_err(|e| crate::error::Error::Remote(e.to_string()))?;
    Ok(Box::new(f))
}

pub(crate) struct Shuffled<K, V> {
    pub id: RddId,
    pub dep: Arc<ShuffleDependency<K, V>>,
    /// Reduce partitions read by each partition (coalesced), or one each when None.
    pub groups: Option<Arc<Vec<std::ops::Range<usize>>>>,
}

impl<K: Key, V: Data> RddBase for Shuffled<K, V> {
    fn id(&self) -> RddId {
        self.id
    }
    fn name(&self) -> String {
        "shuffle read".into()
    }
    fn num_partitions(&self) -> usize {
        match &self.groups {
            Some(g) => g.len(),
            None => self.dep.partitioner.num_partitions(),
        }
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Shuffle(self.dep.clone())]
    }
}

impl<K: Key, V: Data> Rdd<(K, V)> for Shuffled<K, V> {
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, (K, V)> {
        match &self.groups {
            None => self.read(p, tc),
            Some(g) => Box::new(g[p].clone().flat_map(move |r| self.read(r, tc))),
        }
    }

    fn coalesced(
        &self,
        id: RddId,
        groups: Arc<Vec<std::ops::Range<usize>>>,
    ) -> Option<Arc<dyn Rdd<(K, V)>>> {
        Some(Arc::new(Shuffled {
            id,
            dep: self.dep.clone(),
            groups: Some(groups),
        }))
    }

    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

impl<K: Key, V: Data> Shuffled<K, V> {
    /// Reduce partition `p`: its segment of every map output, map after map.
    fn read<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, (K, V)> {
        let dep = &self.dep;
        let maps = dep.parent.num_partitions();
        let mut map = 0;
        let mut current: Option<RecordReader<BufReader<Box<dyn Read>>, (K, V)>> = None;
        Box::new(std::iter::from_fn(move || {
            loop {
                if tc.failed() {
                    return None;
                }
                if let Some(r) = current.as_mut() {
                    match r.next_record() {
                        Some(Ok(rec)) => return Some(rec),
                        Some(Err(e)) => {
                            tc.fail(Error::FetchFailed {
                                shuffle: dep.id,
                                map: map - 1,
                                reason: format!("corrupt or truncated map output: {e}"),
                            });
                            return None;
                        }
                        None => current = None,
                    }
                }
                if map == maps {
                    return None;
                }
                let status = match dep.manager.map_status(dep.id, map) {
                    Ok(s) => s,
                    Err(e) => {
                        tc.fail(e);
                        return None;
                    }
                };
                let seg = status.segments[p];
                map += 1;
                if seg.count == 0 {
                    continue;
                }
                match open_segment(&dep.manager, &status, seg) {
                    Ok(f) => {
                        TaskMetrics::add(&tc.metrics.shuffle_bytes_read, seg.len);
                        current = Some(RecordReader::new(f, seg.count, seg.len));
                    }
                    Err(e) => {
                        tc.fail(Error::FetchFailed {
                            shuffle: dep.id,
                            map: map - 1,
                            reason: e.to_string(),
                        });
                        return None;
                    }
                }
            }
        }))
    }
}

//! The reduce side of a shuffle: partition `r` is segment `r` of every map output.

use super::{BoxIter, Dependency, Rdd, RddBase, RddId};
use crate::data::{Data, Key};
use crate::error::Error;
use crate::metrics::TaskMetrics;
use crate::shuffle::ShuffleDependency;
use crate::shuffle::codec::RecordReader;
use crate::task::TaskContext;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::sync::Arc;

pub(crate) struct Shuffled<K, V> {
    pub id: RddId,
    pub dep: Arc<ShuffleDependency<K, V>>,
}

impl<K: Key, V: Data> RddBase for Shuffled<K, V> {
    fn id(&self) -> RddId {
        self.id
    }
    fn name(&self) -> String {
        "shuffle read".into()
    }
    fn num_partitions(&self) -> usize {
        self.dep.partitioner.num_partitions()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Shuffle(self.dep.clone())]
    }
}

impl<K: Key, V: Data> Rdd<(K, V)> for Shuffled<K, V> {
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, (K, V)> {
        let dep = &self.dep;
        let maps = dep.parent.num_partitions();
        let mut map = 0;
        let mut current: Option<RecordReader<BufReader<File>, (K, V)>> = None;
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
                let opened = File::open(&status.path).and_then(|mut f| {
                    f.seek(SeekFrom::Start(seg.offset))?;
                    Ok(f)
                });
                match opened {
                    Ok(f) => {
                        TaskMetrics::add(&tc.metrics.shuffle_bytes_read, seg.len);
                        current = Some(RecordReader::new(f, seg.count, seg.len));
                    }
                    Err(e) => {
                        tc.fail(Error::FetchFailed {
                            shuffle: dep.id,
                            map: map - 1,
                            reason: format!("cannot open {}: {e}", status.path.display()),
                        });
                        return None;
                    }
                }
            }
        }))
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

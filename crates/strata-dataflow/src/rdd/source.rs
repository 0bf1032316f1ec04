//! An in-memory collection split into partitions (`Context::parallelize`).

use super::{BoxIter, Dependency, Rdd, RddBase, RddId};
use crate::data::Data;
use crate::task::TaskContext;
use std::sync::Arc;

pub(crate) struct ParallelCollection<T> {
    pub id: RddId,
    pub slices: Vec<Arc<Vec<T>>>,
    /// Per slice, the hosts it is best computed on (empty: anywhere).
    pub hosts: Vec<Vec<String>>,
}

impl<T: Data> ParallelCollection<T> {
    pub fn new(id: RddId, data: Vec<T>, partitions: usize) -> Self {
        let n = partitions.max(1);
        let len = data.len();
        let mut slices = Vec::with_capacity(n);
        let mut it = data.into_iter();
        for i in 0..n {
            let take = (i + 1) * len / n - i * len / n;
            slices.push(Arc::new(it.by_ref().take(take).collect()));
        }
        ParallelCollection {
            id,
            slices,
            hosts: Vec::new(),
        }
    }
}

impl<T: Data> RddBase for ParallelCollection<T> {
    fn id(&self) -> RddId {
        self.id
    }
    fn name(&self) -> String {
        "parallelize".into()
    }
    fn num_partitions(&self) -> usize {
        self.slices.len()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn preferred_locations(&self, p: usize) -> Vec<String> {
        self.hosts.get(p).cloned().unwrap_or_default()
    }
}

impl<T: Data> Rdd<T> for ParallelCollection<T> {
    fn compute<'a>(&'a self, p: usize, _tc: &'a TaskContext) -> BoxIter<'a, T> {
        Box::new(self.slices[p].iter().cloned())
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

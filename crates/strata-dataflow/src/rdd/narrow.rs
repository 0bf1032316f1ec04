//! Narrow transformations: a function of one parent partition, or of several aligned ones.

use super::{BoxIter, Dependency, Rdd, RddBase, RddId};
use crate::data::Data;
use crate::task::TaskContext;
use std::sync::Arc;

/// A function from one partition's iterator to another's: the building block of every narrow
/// transformation (map, filter, flat_map, map-side combine, reduce-side aggregation).
pub type PartitionFn<T, U> =
    Arc<dyn for<'a> Fn(usize, &'a TaskContext, BoxIter<'a, T>) -> BoxIter<'a, U> + Send + Sync>;

/// Builds a [`PartitionFn`], letting closures infer the higher-ranked signature.
pub fn partition_fn<T, U, F>(f: F) -> PartitionFn<T, U>
where
    F: for<'a> Fn(usize, &'a TaskContext, BoxIter<'a, T>) -> BoxIter<'a, U> + Send + Sync + 'static,
{
    Arc::new(f)
}

pub(crate) struct MapPartitions<T, U> {
    pub id: RddId,
    pub name: &'static str,
    pub parent: Arc<dyn Rdd<T>>,
    pub f: PartitionFn<T, U>,
}

impl<T: Data, U: Data> RddBase for MapPartitions<T, U> {
    fn id(&self) -> RddId {
        self.id
    }
    fn name(&self) -> String {
        self.name.into()
    }
    fn num_partitions(&self) -> usize {
        self.parent.num_partitions()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Narrow(self.parent.clone().as_base())]
    }
}

impl<T: Data, U: Data> Rdd<U> for MapPartitions<T, U> {
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, U> {
        let input = self.parent.compute(p, tc);
        (self.f)(p, tc, input)
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

/// Partitions of several parents one after the other.
pub(crate) struct Union<T> {
    pub id: RddId,
    pub parents: Vec<Arc<dyn Rdd<T>>>,
}

impl<T: Data> Union<T> {
    fn locate(&self, mut p: usize) -> (usize, usize) {
        for (i, parent) in self.parents.iter().enumerate() {
            let n = parent.num_partitions();
            if p < n {
                return (i, p);
            }
            p -= n;
        }
        unreachable!("partition out of range of union")
    }
}

impl<T: Data> RddBase for Union<T> {
    fn id(&self) -> RddId {
        self.id
    }
    fn name(&self) -> String {
        "union".into()
    }
    fn num_partitions(&self) -> usize {
        self.parents.iter().map(|p| p.num_partitions()).sum()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        self.parents
            .iter()
            .map(|p| Dependency::Narrow(p.clone().as_base()))
            .collect()
    }
}

impl<T: Data> Rdd<T> for Union<T> {
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, T> {
        let (i, q) = self.locate(p);
        self.parents[i].compute(q, tc)
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

/// Partition `i` of two parents with the same number of partitions, combined by a function.
pub(crate) struct ZipPartitions<A, B, U> {
    pub id: RddId,
    pub left: Arc<dyn Rdd<A>>,
    pub right: Arc<dyn Rdd<B>>,
    #[allow(clippy::type_complexity)]
    pub f: Arc<dyn for<'a> Fn(BoxIter<'a, A>, BoxIter<'a, B>) -> BoxIter<'a, U> + Send + Sync>,
}

impl<A: Data, B: Data, U: Data> RddBase for ZipPartitions<A, B, U> {
    fn id(&self) -> RddId {
        self.id
    }
    fn name(&self) -> String {
        "zip_partitions".into()
    }
    fn num_partitions(&self) -> usize {
        self.left.num_partitions()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![
            Dependency::Narrow(self.left.clone().as_base()),
            Dependency::Narrow(self.right.clone().as_base()),
        ]
    }
}

impl<A: Data, B: Data, U: Data> Rdd<U> for ZipPartitions<A, B, U> {
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, U> {
        (self.f)(self.left.compute(p, tc), self.right.compute(p, tc))
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

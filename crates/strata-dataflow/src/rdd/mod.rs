//! The lineage graph: nodes that know how to compute a partition from their parents.
//!
//! Every [`crate::Dataset`] wraps an `Arc<dyn Rdd<T>>`. A node lists its [`Dependency`]s:
//! *narrow* (each partition reads a bounded set of parent partitions, so both run in one task)
//! or *shuffle* (each partition reads every parent partition, so the scheduler cuts a stage).
//! Nodes are immutable and shared; the same graph is built by every process of an SPMD job.

pub(crate) mod cached;
pub(crate) mod narrow;
pub(crate) mod records;
pub(crate) mod shuffled;
pub(crate) mod source;
pub mod text;

use crate::shuffle::ShuffleDependencyBase;
use crate::task::TaskContext;
use std::sync::Arc;

/// A boxed iterator over one partition's elements, borrowing from the task.
pub type BoxIter<'a, T> = Box<dyn Iterator<Item = T> + 'a>;

/// Identifies a lineage node within a context.
pub type RddId = u64;

/// The type-erased part of a lineage node, all the scheduler needs.
pub trait RddBase: Send + Sync + 'static {
    /// Unique within the context.
    fn id(&self) -> RddId;
    /// A short description, shown in progress output and errors ("text_file", "map").
    fn name(&self) -> String;
    /// Number of partitions.
    fn num_partitions(&self) -> usize;
    /// Parents.
    fn dependencies(&self) -> Vec<Dependency>;
    /// Hosts where partition `p` is cheapest to compute (e.g. the chunkservers holding its
    /// DFS chunk), most preferred first; empty if any host will do. The cluster scheduler
    /// uses it for locality (delay scheduling).
    fn preferred_locations(&self, _p: usize) -> Vec<String> {
        Vec::new()
    }
    /// True when every partition is in the cache, so the scheduler need not look upstream.
    fn fully_cached(&self) -> bool {
        false
    }
    /// True for a persisted dataset: in a cluster, its partitions are best computed where
    /// they were cached.
    fn is_cache(&self) -> bool {
        false
    }
}

/// A lineage node producing elements of type `T`.
pub trait Rdd<T>: RddBase {
    /// Computes partition `p`. Errors are reported through [`TaskContext::fail`].
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, T>;
    /// This node, type-erased.
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase>;
    /// For a shuffle read: the same read with partition `i` reading the shuffle's reduce
    /// partitions `groups[i]` one after another (adaptive coalescing); None for others.
    fn coalesced(
        &self,
        _id: RddId,
        _groups: Arc<Vec<std::ops::Range<usize>>>,
    ) -> Option<Arc<dyn Rdd<T>>> {
        None
    }
}

/// An edge of the lineage graph.
#[derive(Clone)]
pub enum Dependency {
    /// The child's partitions read a bounded set of the parent's: same task.
    Narrow(Arc<dyn RddBase>),
    /// The child reads all of the parent's partitions through a shuffle: a stage boundary.
    Shuffle(Arc<dyn ShuffleDependencyBase>),
}

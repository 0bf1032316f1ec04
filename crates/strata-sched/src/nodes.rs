//! A set of nodes with their free resources, indexed so placement stays fast at 10,000 nodes.
//!
//! Every node's free vector is kept in an ordered index keyed by (free GPUs, free CPUs, free
//! memory, node), so best fit ("the node with the least free GPUs that still fits") is a range
//! query and worst fit ("the emptiest node") a walk from the end, instead of a scan of every
//! node per task.

use crate::resources::Resources;
use std::collections::BTreeSet;

/// A node's index within a [`Nodes`].
pub type NodeId = u32;

type Key = (u64, u64, u64, NodeId);

fn key(free: &Resources, node: NodeId) -> Key {
    (free.gpu_milli, free.cpu_milli, free.mem_mib, node)
}

/// Nodes, their capacities and what is free on each.
#[derive(Debug, Clone)]
pub struct Nodes {
    capacity: Vec<Resources>,
    free: Vec<Resources>,
    index: BTreeSet<Key>,
    total: Resources,
    free_total: Resources,
}

impl Nodes {
    /// `n` identical nodes.
    pub fn uniform(n: u32, each: Resources) -> Nodes {
        Nodes::new((0..n).map(|_| each).collect())
    }

    /// Nodes with the given capacities.
    pub fn new(capacity: Vec<Resources>) -> Nodes {
        let total = capacity.iter().fold(Resources::ZERO, |a, c| a.plus(c));
        let index = capacity
            .iter()
            .enumerate()
            .map(|(i, c)| key(c, i as NodeId))
            .collect();
        Nodes {
            free: capacity.clone(),
            capacity,
            index,
            total,
            free_total: total,
        }
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.capacity.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.capacity.is_empty()
    }

    /// The sum of every node's capacity.
    pub fn capacity(&self) -> Resources {
        self.total
    }

    /// One node's capacity.
    pub fn node_capacity(&self, node: NodeId) -> Resources {
        self.capacity[node as usize]
    }

    /// What is free in the whole set.
    pub fn free_total(&self) -> Resources {
        self.free_total
    }

    /// What is free on one node.
    pub fn free(&self, node: NodeId) -> Resources {
        self.free[node as usize]
    }

    /// The largest capacity of any node in each resource (a task bigger than this can never
    /// be placed).
    pub fn largest_node(&self) -> Resources {
        self.capacity
            .iter()
            .fold(Resources::ZERO, |a, c| a.max_each(c))
    }

    /// Takes `r` from `node`; false (and nothing taken) when it does not fit.
    pub fn allocate(&mut self, node: NodeId, r: &Resources) -> bool {
        let free = self.free[node as usize];
        if !r.fits_in(&free) {
            return false;
        }
        self.set_free(node, free.minus(r));
        self.free_total = self.free_total.minus(r);
        true
    }

    /// Takes as much of `r` as is free on `node` (each resource capped at what is free) and
    /// returns what it took: for holdings that may exceed a node, such as oversubscribed
    /// executors, so that giving back exactly what was taken never overflows.
    pub fn allocate_up_to(&mut self, node: NodeId, r: &Resources) -> Resources {
        let taken = r.min_each(&self.free[node as usize]);
        let ok = self.allocate(node, &taken);
        debug_assert!(ok, "what is free always fits");
        taken
    }

    /// Gives `r` back to `node`.
    pub fn release(&mut self, node: NodeId, r: &Resources) {
        let free = self.free[node as usize].plus(r);
        debug_assert!(free.fits_in(&self.capacity[node as usize]));
        self.set_free(node, free);
        self.free_total = self.free_total.plus(r);
    }

    fn set_free(&mut self, node: NodeId, free: Resources) {
        let old = self.free[node as usize];
        self.index.remove(&key(&old, node));
        self.index.insert(key(&free, node));
        self.free[node as usize] = free;
    }

    /// The node with the fewest free GPUs (then CPUs, memory) that still fits `r`.
    pub fn best_fit(&self, r: &Resources) -> Option<NodeId> {
        self.index
            .range((r.gpu_milli, r.cpu_milli, 0, 0)..)
            .find(|&&(_, c, m, n)| c >= r.cpu_milli && m >= r.mem_mib && self.disk_fits(n, r))
            .map(|k| k.3)
    }

    /// The node with the most free GPUs (then CPUs, memory) that fits `r`.
    pub fn worst_fit(&self, r: &Resources) -> Option<NodeId> {
        self.index
            .iter()
            .rev()
            .take_while(|&&(g, ..)| g >= r.gpu_milli)
            .find(|&&(_, c, m, n)| c >= r.cpu_milli && m >= r.mem_mib && self.disk_fits(n, r))
            .map(|k| k.3)
    }

    fn disk_fits(&self, node: NodeId, r: &Resources) -> bool {
        r.disk_mib == 0 || self.free[node as usize].disk_mib >= r.disk_mib
    }

    /// Nodes from the most free to the least free.
    pub fn emptiest_first(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.index.iter().rev().map(|k| k.3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_and_worst_fit_follow_free_space() {
        let mut nodes = Nodes::uniform(3, Resources::new(4.0, 16.0, 1024));
        let two = Resources::new(2.0, 1.0, 0);
        assert!(nodes.allocate(1, &two));
        assert!(nodes.allocate(2, &Resources::new(3.0, 1.0, 0)));
        assert_eq!(nodes.best_fit(&Resources::new(1.0, 1.0, 0)), Some(2));
        assert_eq!(nodes.best_fit(&two), Some(1));
        assert_eq!(nodes.worst_fit(&two), Some(0));
        assert_eq!(nodes.best_fit(&Resources::new(5.0, 0.0, 0)), None);
        assert!(!nodes.allocate(2, &two));
        nodes.release(1, &two);
        assert_eq!(nodes.free_total(), Resources::new(9.0, 47.0, 3072));
        assert_eq!(nodes.emptiest_first().next(), Some(1));
    }

    #[test]
    fn disk_is_a_dimension_too() {
        let mut nodes = Nodes::new(vec![
            Resources::new(4.0, 8.0, 0).with_disk(100),
            Resources::new(4.0, 8.0, 0).with_disk(1000),
        ]);
        let task = Resources::new(1.0, 1.0, 0).with_disk(500);
        assert_eq!(nodes.best_fit(&task), Some(1));
        assert_eq!(nodes.worst_fit(&task), Some(1));
        assert!(nodes.allocate(1, &task));
        assert_eq!(nodes.best_fit(&task), Some(1));
        assert!(nodes.allocate(1, &task));
        assert_eq!(nodes.best_fit(&task), None);
        assert_eq!(nodes.largest_node().disk_mib, 1000);
    }
}

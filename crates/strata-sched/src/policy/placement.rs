//! Placement: which nodes a gang's tasks go to, all of them or none.

use crate::nodes::{NodeId, Nodes};
use crate::resources::Resources;

/// Chooses nodes for every task of a gang; `None` when they do not all fit now. Nothing is
/// allocated: the caller allocates what is returned.
pub trait Placement: Send {
    /// Its name on the command line.
    fn name(&self) -> &'static str;
    /// (node, tasks on it) for all `tasks` tasks, or `None`.
    fn place(
        &mut self,
        nodes: &Nodes,
        tasks: u32,
        per_task: &Resources,
    ) -> Option<Vec<(NodeId, u32)>>;
}

/// Bin-packing (Borg's best fit, topology-aware consolidation for multi-GPU jobs): the whole
/// gang on the fullest node that fits it; failing that, on as few nodes as possible, the
/// emptiest first. Keeps large holes open for large jobs.
pub struct Consolidated;

impl Placement for Consolidated {
    fn name(&self) -> &'static str {
        "consolidated"
    }
    fn place(
        &mut self,
        nodes: &Nodes,
        tasks: u32,
        per_task: &Resources,
    ) -> Option<Vec<(NodeId, u32)>> {
        if let Some(node) = nodes.best_fit(&per_task.times(tasks)) {
            return Some(vec![(node, tasks)]);
        }
        if !per_task.times(tasks).fits_in(&nodes.free_total()) {
            return None;
        }
        let mut left = tasks;
        let mut out = Vec::new();
        for node in nodes.emptiest_first() {
            let n = nodes.free(node).copies_of(per_task).min(left);
            if n == 0 {
                // Emptiest first: once a node fits no task, neither does any after it in
                // GPUs; keep looking only if CPU or memory could differ.
                if nodes.free(node).gpu_milli < per_task.gpu_milli {
                    break;
                }
                continue;
            }
            out.push((node, n));
            left -= n;
            if left == 0 {
                return Some(out);
            }
        }
        None
    }
}

/// Spreading (worst fit): each task on the emptiest node, one task per node per pass. Balances
/// load and limits what one node failure takes down.
pub struct Scattered;

impl Placement for Scattered {
    fn name(&self) -> &'static str {
        "scattered"
    }
    fn place(
        &mut self,
        nodes: &Nodes,
        tasks: u32,
        per_task: &Resources,
    ) -> Option<Vec<(NodeId, u32)>> {
        if tasks == 1 {
            return nodes.worst_fit(per_task).map(|n| vec![(n, 1)]);
        }
        if !per_task.times(tasks).fits_in(&nodes.free_total()) {
            return None;
        }
        let mut placed: Vec<(NodeId, u32)> = Vec::new();
        let mut left = tasks;
        while left > 0 {
            let before = left;
            for node in nodes.emptiest_first() {
                let mine = placed.iter().position(|&(n, _)| n == node);
                let already = mine.map_or(0, |i| placed[i].1);
                if nodes.free(node).copies_of(per_task) > already {
                    match mine {
                        Some(i) => placed[i].1 += 1,
                        None => placed.push((node, 1)),
                    }
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                } else if nodes.free(node).gpu_milli < per_task.gpu_milli && already == 0 {
                    break;
                }
            }
            if left == before {
                return None;
            }
        }
        Some(placed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consolidated_packs_and_scattered_spreads() {
        let mut nodes = Nodes::uniform(4, Resources::new(4.0, 32.0, 0));
        assert!(nodes.allocate(2, &Resources::new(2.0, 0.0, 0)));
        let gpu = Resources::new(1.0, 1.0, 0);
        // Two tasks fit on the half-full node 2.
        assert_eq!(Consolidated.place(&nodes, 2, &gpu), Some(vec![(2, 2)]));
        // Six tasks: one whole node (4) plus two more.
        let six = Consolidated.place(&nodes, 6, &gpu).unwrap();
        assert_eq!(six.len(), 2);
        assert_eq!(six.iter().map(|p| p.1).sum::<u32>(), 6);
        // Scattered: three tasks on three different empty nodes.
        let three = Scattered.place(&nodes, 3, &gpu).unwrap();
        assert_eq!(three.len(), 3);
        assert!(three.iter().all(|&(n, c)| n != 2 && c == 1));
        // More than is free: none.
        assert_eq!(Consolidated.place(&nodes, 15, &gpu), None);
        assert_eq!(Scattered.place(&nodes, 15, &gpu), None);
        assert_eq!(Scattered.place(&nodes, 14, &gpu).map(|p| p.len()), Some(4));
    }
}

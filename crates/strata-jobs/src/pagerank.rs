//! PageRank by power iteration.
//!
//! Input: each non-empty line not starting with `#` is `src dst`, two unsigned 64-bit ids
//! separated by whitespace. Duplicate edges count once; the nodes are all ids seen. Ranks
//! start at `1/N`; each iteration computes
//! `r'(v) = (1-d)/N + d * (sum over u->v of r(u)/outdeg(u) + D/N)`, where `D` is the total
//! rank of nodes without out-edges (their rank is spread evenly, so ranks keep summing to 1).
//!
//! Layout (the GraphX / PowerGraph approach, on the generic dataflow API):
//! - The graph is hash-partitioned by source node into blocks, one CSR [`AdjBlock`] per
//!   partition, cached. Block `q` owns the nodes that hash to `q`, in a fixed order.
//! - Once, a *routing table* turns every edge target into its slot `(q, index in block q)`,
//!   flattened to one `u32` per edge (the driver builds the node → slot map from the blocks'
//!   node lists and broadcasts it).
//! - An iteration is one job. Each block scatters `r(u)/outdeg(u)` along its edges into a
//!   dense vector per destination block (no hashing, no per-edge records) and sends block
//!   `q` its vector through the shuffle (keyed by `q`, [`DirectPartitioner`]). Partition `q`
//!   sums the vectors it receives and computes its new ranks, aligned with its block. Shuffle
//!   volume per iteration is `blocks x nodes x 8` bytes, independent of the number of edges.
//! - The rank vectors come back to the driver after each iteration (N x 8 bytes), which
//!   also truncates the lineage, as Spark's checkpointing would.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use strata_dataflow::{Context, Dataset, DirectPartitioner, Error, Line, Result, StorageLevel};

/// One partition of the graph: nodes and their out-edges in CSR form.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AdjBlock {
    /// Node ids owned by this partition.
    pub nodes: Vec<u64>,
    /// `targets[offsets[i]..offsets[i+1]]` are the out-neighbours of `nodes[i]`.
    pub offsets: Vec<usize>,
    /// Concatenated out-neighbour lists (node ids).
    pub targets: Vec<u64>,
    /// Filled by routing: each target's slot in the concatenation of all blocks' nodes.
    pub slots: Vec<u32>,
    /// Filled by routing: block `q`'s nodes occupy slots `bases[q]..bases[q+1]`.
    pub bases: Vec<u32>,
}

impl AdjBlock {
    /// Out-degree of `nodes[i]`.
    pub fn out_degree(&self, i: usize) -> usize {
        self.offsets[i + 1] - self.offsets[i]
    }
}

/// Parses one edge line; `None` for blank and `#` lines.
pub fn parse_edge(line: &Line) -> Result<Option<(u64, u64)>> {
    let t = line.text.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let mut it = t.split_whitespace();
    let parsed = match (it.next(), it.next(), it.next()) {
        (Some(a), Some(b), None) => a.parse::<u64>().ok().zip(b.parse::<u64>().ok()),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        Error::Input(format!(
            "{}:{}: malformed edge line {:?}: expected `src dst`, two unsigned 64-bit integers",
            line.path,
            line.line_number(),
            truncate(t, 60)
        ))
    })
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The result of [`pagerank`]: the graph blocks and the final rank vector of each block.
pub struct Ranks {
    /// The cached graph.
    pub blocks: Dataset<Arc<AdjBlock>>,
    /// Rank of `blocks[p].nodes[i]` is `ranks[p][i]`.
    pub ranks: Vec<Arc<Vec<f64>>>,
    /// Number of nodes.
    pub nodes: u64,
}

impl Ranks {
    /// `(node, rank)` pairs, in partition order.
    pub fn pairs(&self) -> Result<Vec<(u64, f64)>> {
        let ranks = self
            .blocks
            .context()
            .parallelize_with(self.ranks.clone(), self.ranks.len());
        self.blocks
            .zip_partitions(&ranks, |mut b, mut r| {
                let (Some(b), Some(r)) = (b.next(), r.next()) else {
                    return Box::new(std::iter::empty());
                };
                Box::new((0..b.nodes.len()).map(move |i| (b.nodes[i], r[i])))
            })?
            .collect()
    }
}

/// Builds the graph from edge files and runs `iterations` iterations with damping `d`.
pub fn pagerank<P: AsRef<str>>(
    ctx: &Context,
    inputs: &[P],
    iterations: u32,
    damping: f64,
    partitions: Option<usize>,
) -> Result<Ranks> {
    if !(0.0..=1.0).contains(&damping) {
        return Err(Error::Input(format!(
            "damping must be between 0 and 1, got {damping}"
        )));
    }
    // Shuffle volume per iteration grows with blocks x nodes: one block per thread is best.
    let parts = partitions.unwrap_or(ctx.config().threads).max(1);
    let edges = ctx
        .text_file_lines(inputs)?
        .try_flat_map(|l| parse_edge(&l));
    let blocks = edges
        .flat_map(|(u, v)| [(u, Some(v)), (v, None)])
        .combine_by_key(
            |o: Option<u64>| o.into_iter().collect::<Vec<u64>>(),
            |mut c, o| {
                c.extend(o);
                c
            },
            |mut a, b| {
                a.extend(b);
                a
            },
            parts,
        )
        .map_partitions(|_, it| {
            let mut b = AdjBlock {
                offsets: vec![0],
                ..AdjBlock::default()
            };
            for (node, mut outs) in it {
                outs.sort_unstable();
                outs.dedup();
                b.nodes.push(node);
                b.targets.extend(outs);
                b.offsets.push(b.targets.len());
            }
            Box::new(std::iter::once(Arc::new(b)))
        })
        .persist(StorageLevel::MemoryAndDisk);

    // The routing table: node -> slot in the concatenation of the blocks' node lists.
    let node_lists = blocks.map(|b| b.nodes.clone()).collect()?;
    let n: u64 = node_lists.iter().map(|l| l.len() as u64).sum();
    if n > u32::MAX as u64 {
        return Err(Error::Input(format!(
            "graph has {n} nodes; this PageRank supports up to {}",
            u32::MAX
        )));
    }
    let mut bases = vec![0u32];
    let mut slot_of: FxHashMap<u64, u32> = FxHashMap::default();
    slot_of.reserve(n as usize);
    for list in &node_lists {
        for &v in list {
            slot_of.insert(v, slot_of.len() as u32);
        }
        bases.push(slot_of.len() as u32);
    }
    drop(node_lists);
    let routing = ctx.broadcast((slot_of, bases));
    let graph = blocks
        .map(move |b| {
            let (slot_of, bases) = routing.value();
            let mut routed = (*b).clone();
            routed.slots = b.targets.iter().map(|t| slot_of[t]).collect();
            routed.targets = Vec::new();
            routed.bases = bases.clone();
            Arc::new(routed)
        })
        .persist(StorageLevel::MemoryAndDisk);
    let stats = graph
        .map(|b| {
            let dangling = (0..b.nodes.len()).filter(|&i| b.out_degree(i) == 0).count();
            (b.nodes.len() as u64, dangling as u64)
        })
        .collect()?;
    blocks.unpersist();
    if n == 0 {
        return Ok(Ranks {
            blocks: graph,
            ranks: Vec::new(),
            nodes: 0,
        });
    }
    let nf = n as f64;
    let mut ranks: Vec<Arc<Vec<f64>>> = stats
        .iter()
        .map(|s| Arc::new(vec![1.0 / nf; s.0 as usize]))
        .collect();
    let mut dangling: f64 = stats.iter().map(|s| s.1 as f64 / nf).sum();
    for _ in 0..iterations {
        let rank_ds = ctx.parallelize_with(ranks.clone(), parts);
        // Scatter shares into one dense vector per destination block.
        let messages = graph.zip_partitions(&rank_ds, |mut b, mut r| {
            let (Some(b), Some(r)) = (b.next(), r.next()) else {
                return Box::new(std::iter::empty());
            };
            let mut acc = vec![0.0f64; *b.bases.last().unwrap_or(&0) as usize];
            for (i, rank) in r.iter().enumerate() {
                let (s, e) = (b.offsets[i], b.offsets[i + 1]);
                if e > s {
                    let share = rank / (e - s) as f64;
                    for &slot in &b.slots[s..e] {
                        acc[slot as usize] += share;
                    }
                }
            }
            let bases = b.bases.clone();
            Box::new((0..bases.len() - 1).map(move |q| {
                let part = acc[bases[q] as usize..bases[q + 1] as usize].to_vec();
                (q as u32, part)
            }))
        })?;
        let delivered = messages.partition_by(Arc::new(DirectPartitioner::new(parts)));
        let base = (1.0 - damping) / nf + damping * dangling / nf;
        let next = graph.zip_partitions(&delivered, move |mut b, msgs| {
            let Some(b) = b.next() else {
                return Box::new(std::iter::empty());
            };
            let mut sums = vec![0.0f64; b.nodes.len()];
            for (_, part) in msgs {
                for (s, x) in sums.iter_mut().zip(part) {
                    *s += x;
                }
            }
            let mut dangling = 0.0;
            for (i, s) in sums.iter_mut().enumerate() {
                *s = base + damping * *s;
                if b.out_degree(i) == 0 {
                    dangling += *s;
                }
            }
            Box::new(std::iter::once((Arc::new(sums), dangling)))
        })?;
        let out = next.collect()?;
        dangling = out.iter().map(|x| x.1).sum();
        ranks = out.into_iter().map(|x| x.0).collect();
    }
    Ok(Ranks {
        blocks: graph,
        ranks,
        nodes: n,
    })
}

/// Runs PageRank and writes `node<TAB>rank` lines to `out` (ranks with 16 significant
/// digits).
pub fn run<P: AsRef<str>>(
    ctx: &Context,
    inputs: &[P],
    iterations: u32,
    damping: f64,
    out: &std::path::Path,
    partitions: Option<usize>,
) -> Result<Ranks> {
    let r = pagerank(ctx, inputs, iterations, damping, partitions)?;
    let ranks = ctx.parallelize_with(r.ranks.clone(), r.ranks.len().max(1));
    let blocks = if r.ranks.is_empty() {
        ctx.parallelize_with(vec![], 1)
    } else {
        r.blocks.clone()
    };
    blocks
        .zip_partitions(&ranks, |mut b, mut r| {
            let (Some(b), Some(r)) = (b.next(), r.next()) else {
                return Box::new(std::iter::empty());
            };
            Box::new((0..b.nodes.len()).map(move |i| (b.nodes[i], r[i])))
        })?
        .save_partitions(out, |w, it| {
            for (node, rank) in it {
                writeln!(w, "{node}\t{rank:.15e}")?;
            }
            Ok(())
        })?;
    Ok(r)
}

//! PageRank by power iteration.
//!
//! Input: each non-empty line not starting with `#` is `src dst`, two unsigned 64-bit ids
//! separated by whitespace. Duplicate edges count once; the nodes are all ids seen. Ranks
//! start at `1/N`; each iteration computes
//! `r'(v) = (1-d)/N + d * (sum over u->v of r(u)/outdeg(u) + D/N)`, where `D` is the total
//! rank of nodes without out-edges (their rank is spread evenly, so ranks keep summing to 1).
//!
//! Layout: the graph is hash-partitioned by node into blocks (one `AdjBlock` per partition,
//! CSR-style, cached), and the ranks of a partition travel as one vector aligned with its
//! block, so an iteration is a single job: each block sends `r(u)/outdeg(u)` along its edges
//! (combined per destination inside the map task), the shuffle brings each node's sum to the
//! partition that owns the node, and the new rank vector is computed against the same block.
//! The rank vectors come back to the driver after each iteration, which also truncates the
//! lineage (as Spark's checkpointing would).

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use strata_dataflow::{Context, Dataset, Error, Line, Result, StorageLevel};

/// One partition of the graph: nodes and their out-edges in CSR form.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AdjBlock {
    /// Node ids owned by this partition.
    pub nodes: Vec<u64>,
    /// `targets[offsets[i]..offsets[i+1]]` are the out-neighbours of `nodes[i]`.
    pub offsets: Vec<usize>,
    /// Concatenated out-neighbour lists.
    pub targets: Vec<u64>,
}

impl AdjBlock {
    fn out(&self, i: usize) -> &[u64] {
        &self.targets[self.offsets[i]..self.offsets[i + 1]]
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
    let parts = partitions.unwrap_or(ctx.config().default_partitions).max(1);
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
    let stats = blocks
        .map(|b| {
            let dangling = (0..b.nodes.len()).filter(|&i| b.out(i).is_empty()).count();
            (b.nodes.len() as u64, dangling as u64)
        })
        .collect()?;
    let n: u64 = stats.iter().map(|s| s.0).sum();
    if n == 0 {
        return Ok(Ranks {
            blocks,
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
        let contribs = blocks.zip_partitions(&rank_ds, |mut b, mut r| {
            let (Some(b), Some(r)) = (b.next(), r.next()) else {
                return Box::new(std::iter::empty());
            };
            Box::new((0..b.nodes.len()).flat_map(move |i| {
                let (s, e) = (b.offsets[i], b.offsets[i + 1]);
                let share = if e > s { r[i] / (e - s) as f64 } else { 0.0 };
                let b = b.clone();
                (s..e).map(move |j| (b.targets[j], share))
            }))
        })?;
        let sums = contribs.reduce_by_key_with(parts, |a, b| a + b);
        let base = (1.0 - damping) / nf + damping * dangling / nf;
        let next = blocks.zip_partitions(&sums, move |mut b, s| {
            let Some(b) = b.next() else {
                return Box::new(std::iter::empty());
            };
            let sums: FxHashMap<u64, f64> = s.collect();
            let mut dangling = 0.0;
            let ranks: Vec<f64> = (0..b.nodes.len())
                .map(|i| {
                    let r = base + damping * sums.get(&b.nodes[i]).copied().unwrap_or(0.0);
                    if b.out(i).is_empty() {
                        dangling += r;
                    }
                    r
                })
                .collect();
            Box::new(std::iter::once((Arc::new(ranks), dangling)))
        })?;
        let out = next.collect()?;
        dangling = out.iter().map(|x| x.1).sum();
        ranks = out.into_iter().map(|x| x.0).collect();
    }
    Ok(Ranks {
        blocks,
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

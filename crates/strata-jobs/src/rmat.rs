//! R-MAT graph generator (Chakrabarti et al.), with the Graph500 parameters by default.
//!
//! Each edge picks its source and destination bit by bit: at each of `scale` levels it
//! descends into one quadrant of the adjacency matrix with probabilities `a, b, c, d`
//! (0.57, 0.19, 0.19, 0.05), giving the skewed degrees of real graphs. Node ids are then
//! scrambled by a fixed permutation-like hash so that high-degree nodes are not all small
//! ids. Edge `i` depends only on `(seed, i)`, so the output does not depend on the number of
//! files. Output lines: `src dst`.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use strata_dataflow::{Context, Result};

/// Quadrant probabilities `a, b, c` (d = 1 - a - b - c).
pub const GRAPH500: (f64, f64, f64) = (0.57, 0.19, 0.19);

fn scramble(v: u64, scale: u32) -> u64 {
    // An invertible mix restricted to `scale` bits (odd multiply and xor-shift mod 2^scale).
    let mask = (1u64 << scale) - 1;
    let mut x = v & mask;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15 | 1) & mask;
    x ^= x >> (scale / 2).max(1);
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9 | 1) & mask;
    x
}

/// Edge number `i`.
pub fn edge(i: u64, scale: u32, seed: u64) -> (u64, u64) {
    let mut rng = SmallRng::seed_from_u64(seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let (a, b, c) = GRAPH500;
    let (mut src, mut dst) = (0u64, 0u64);
    for _ in 0..scale {
        let r: f64 = rng.r#gen();
        let (s, d) = if r < a {
            (0, 0)
        } else if r < a + b {
            (0, 1)
        } else if r < a + b + c {
            (1, 0)
        } else {
            (1, 1)
        };
        src = (src << 1) | s;
        dst = (dst << 1) | d;
    }
    (scramble(src, scale), scramble(dst, scale))
}

/// Writes `edges` edges over `2^scale` node ids into `files` files under `out`.
pub fn generate(
    ctx: &Context,
    scale: u32,
    edges: u64,
    files: usize,
    seed: u64,
    out: &Path,
) -> Result<()> {
    if !(1..=40).contains(&scale) {
        return Err(strata_dataflow::Error::Input(format!(
            "scale must be between 1 and 40, got {scale}"
        )));
    }
    let files = files.max(1) as u64;
    let ranges: Vec<(u64, u64)> = (0..files)
        .map(|f| (f * edges / files, (f + 1) * edges / files))
        .collect();
    ctx.parallelize_with(ranges, files as usize)
        .save_partitions(out, move |w, it| {
            for (start, end) in it {
                for i in start..end {
                    let (s, d) = edge(i, scale, seed);
                    writeln!(w, "{s} {d}")?;
                }
            }
            Ok(())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_deterministic_in_range_and_skewed() {
        assert_eq!(edge(5, 10, 1), edge(5, 10, 1));
        let mut deg = vec![0u32; 1 << 10];
        for i in 0..20_000 {
            let (s, d) = edge(i, 10, 1);
            assert!(s < 1024 && d < 1024);
            deg[s as usize] += 1;
        }
        let max = *deg.iter().max().unwrap();
        assert!(max > 200, "R-MAT should have hubs, max out-degree {max}");
    }
}

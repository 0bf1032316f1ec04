//! TeraSort: generating and sorting 100-byte records by their 10-byte key.
//!
//! Records follow `gensort -a` (the Sort Benchmark's generator in ASCII mode), so that GNU
//! sort can be measured on the same bytes: a 10-byte key of printable characters, 2 spaces,
//! the 32-digit hex row number, 2 spaces, 52 filler bytes, `\r\n`. The key of row `i` comes
//! from a hash of `i` and a seed, so the data does not depend on how many files it is
//! written to. Sorting orders records by key (bytewise) and writes `part-NNNNN` files whose
//! concatenation in name order is globally sorted.

use std::path::Path;
use strata_dataflow::{Context, Result};

/// Bytes per record.
pub const RECORD_LEN: usize = 100;
/// Bytes of the key.
pub const KEY_LEN: usize = 10;

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Record number `row` of the data set with `seed`.
pub fn record(row: u64, seed: u64) -> [u8; RECORD_LEN] {
    let mut r = [b' '; RECORD_LEN];
    let mut h = mix(row ^ mix(seed));
    for (i, b) in r[..KEY_LEN].iter_mut().enumerate() {
        if i == 6 {
            h = mix(h);
        }
        *b = b' ' + (h % 95) as u8;
        h /= 95;
    }
    let hex = format!("{row:032X}");
    r[12..44].copy_from_slice(hex.as_bytes());
    let fill = b'A' + (row % 26) as u8;
    for b in &mut r[46..98] {
        *b = fill;
    }
    r[98] = b'\r';
    r[99] = b'\n';
    r
}

/// Writes `records` records in `files` files under `out` (generated in parallel).
pub fn generate(ctx: &Context, records: u64, files: usize, seed: u64, out: &Path) -> Result<()> {
    let files = files.max(1);
    let ranges: Vec<(u64, u64)> = (0..files as u64)
        .map(|i| (i * records / files as u64, (i + 1) * records / files as u64))
        .collect();
    ctx.parallelize_with(ranges, files)
        .save_partitions(out, move |w, it| {
            for (start, end) in it {
                for row in start..end {
                    w.write_all(&record(row, seed))?;
                }
            }
            Ok(())
        })
}

/// Sorts the records of `inputs` into `partitions` range partitions under `out`.
pub fn sort<P: AsRef<str>>(
    ctx: &Context,
    inputs: &[P],
    out: &Path,
    partitions: Option<usize>,
) -> Result<()> {
    let records = ctx.binary_records(inputs, RECORD_LEN)?;
    let partitions = partitions.unwrap_or(records.num_partitions()).max(1);
    let keyed = records.map(|r| {
        let mut k = [0u8; KEY_LEN];
        k.copy_from_slice(&r[..KEY_LEN]);
        (k, r)
    });
    keyed
        .sort_by_key(true, partitions)?
        .save_partitions(out, |w, it| {
            for (_, rec) in it {
                w.write_all(&rec)?;
            }
            Ok(())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_gensort_shaped_and_deterministic() {
        let r = record(7, 1);
        assert_eq!(r, record(7, 1));
        assert_ne!(r[..KEY_LEN], record(8, 1)[..KEY_LEN]);
        assert!(r[..KEY_LEN].iter().all(|b| (b' '..=b'~').contains(b)));
        assert_eq!(&r[12..44], format!("{:032X}", 7).as_bytes());
        assert_eq!(&r[98..], b"\r\n");
    }
}

//! TeraSort: generating and sorting 100-byte records by their 10-byte key.
//!
//! Records follow `gensort -a` (the Sort Benchmark's generator in ASCII mode), so that GNU
//! sort can be measured on the same bytes: a 10-byte key of printable characters, 2 spaces,
//! the 32-digit hex row number, 2 spaces, 52 filler bytes, `\r\n`. The key of row `i` comes
//! from a hash of `i` and a seed, so the data does not depend on how many files it is
//! written to. Sorting orders records by key (bytewise; equal keys by the rest of the record)
//! and writes `part-NNNNN` files whose concatenation in name order is globally sorted.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::Path;
use strata_dataflow::{Context, Result};

/// Bytes per record.
pub const RECORD_LEN: usize = 100;
/// Bytes of the key.
pub const KEY_LEN: usize = 10;

/// One record, ordered bytewise: by key, ties broken by the rest (as GNU sort orders the
/// same lines). Serialized as 100 raw bytes, with no per-record allocation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TeraRecord(pub [u8; RECORD_LEN]);

impl Serialize for TeraRecord {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for TeraRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TeraRecord;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{RECORD_LEN} bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> std::result::Result<TeraRecord, E> {
                let arr: [u8; RECORD_LEN] = v
                    .try_into()
                    .map_err(|_| E::invalid_length(v.len(), &self))?;
                Ok(TeraRecord(arr))
            }
        }
        d.deserialize_bytes(V)
    }
}

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
        let mut rec = [0u8; RECORD_LEN];
        rec.copy_from_slice(&r);
        (TeraRecord(rec), ())
    });
    keyed
        .sort_by_key(true, partitions)?
        .save_partitions(out, |w, it| {
            for (rec, ()) in it {
                w.write_all(&rec.0)?;
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

//! The key index of a hash join's build side, built in parallel.
//!
//! Build rows are numbered in the order of the (concatenated) build batch. Equal keys are
//! chained through `next` (row → next row with the same key, ascending), so that a probe
//! row's matches come out in build order whatever the thread count.
//!
//! The build is *partitioned* (radix style): the rows are cut into chunks, and each chunk
//! (one task each) evaluates its keys, hashes them and sorts its rows into `P` partitions
//! by the hash's high bits; then each partition (one task each) inserts its rows into a
//! hash map of its own. No two tasks touch the same map or the same `next` entry, so the
//! build scales with threads and each map stays small enough for the caches. A probe key
//! picks its partition by the same hash and looks up one map.
//!
//! Keys are a single integer (hashed as itself) or rows in arrow's row format (chained by
//! hash, compared as bytes). A NULL key never matches and is never indexed.

use super::Ctx;
use crate::error::Result;
use crate::expr::Expr;
use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{Row, RowConverter, Rows, SortField};
use rustc_hash::FxHashMap;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// The end of a chain.
const END: u32 = u32::MAX;

/// Rows per build chunk (a power of two: a row's chunk is `row >> CHUNK_BITS`).
const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;

/// The maps of the index: one per partition.
enum Maps {
    /// One integer key: key -> first row with it.
    Int(Vec<FxHashMap<i64, u32>>),
    /// Row-format keys: hash -> first row with that hash; `rows` holds each chunk's keys.
    Rows {
        conv: RowConverter,
        rows: Vec<Rows>,
        heads: Vec<FxHashMap<u64, u32>>,
    },
}

/// An index from join keys to build rows.
pub struct KeyIndex {
    maps: Maps,
    next: Vec<AtomicU32>,
    distinct: usize,
}

/// A probe batch's keys, prepared for lookups.
pub enum ProbeKeys {
    /// The integer key as i64.
    Int(Int64Array),
    /// Row-format keys, with each row's validity (no key column NULL).
    Rows(Rows, Vec<bool>),
}

fn as_i64(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(arrow::compute::cast(a, &DataType::Int64)?)
}

fn row_hash(bytes: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(bytes);
    h.finish()
}

/// The partition (of `parts`) of a key hashed to `h`. The maps hash their keys with Fx;
/// multiplying by another odd constant and taking the high bits keeps a partition's keys
/// spread over its map's slots.
fn part_of(h: u64, parts: usize) -> usize {
    let h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((h as u128 * parts as u128) >> 64) as usize
}

/// Partitions for `n` build rows on `threads` threads: 1 when small or single-threaded.
fn partitions(n: usize, threads: usize) -> usize {
    if threads <= 1 || n < 2 * CHUNK {
        1
    } else {
        (threads * 4).next_power_of_two().min(256)
    }
}

/// Each row's validity: true where no key column is NULL.
fn valid_rows(keys: &[ArrayRef], n: usize) -> Vec<bool> {
    let mut v = vec![true; n];
    for k in keys {
        if let Some(nulls) = k.logical_nulls() {
            for (i, ok) in v.iter_mut().enumerate() {
                *ok &= nulls.is_valid(i);
            }
        }
    }
    v
}

impl KeyIndex {
    /// Indexes `batch` by `keys` (expressions over its columns) on the context's threads.
    pub fn build(ctx: &Ctx, batch: &RecordBatch, keys: &[Expr]) -> Result<KeyIndex> {
        let n = batch.num_rows();
        if n >= END as usize {
            return Err(crate::error::SqlError::Execution(format!(
                "a join's build side of {n} rows passes the 2^32-row limit of one in-memory \
                 table: give the query less memory (--memory) so that the join spills"
            )));
        }
        let parts = partitions(n, ctx.opts.threads);
        let chunks: Vec<usize> = (0..n.div_ceil(CHUNK)).collect();
        let eval = |c: usize| -> Result<Vec<ArrayRef>> {
            let b = batch.slice(c * CHUNK, CHUNK.min(n - c * CHUNK));
            keys.iter()
                .map(|k| k.eval(&b)?.into_array(b.num_rows()))
                .collect()
        };
        let int = match keys {
            [k] => k.data_type(&batch.schema())?.is_integer(),
            _ => false,
        };
        let next: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(END)).collect();
        // Chains are built by walking rows backwards, so each head ends at its first row.
        let link = |head: &mut u32, row: u32| {
            next[row as usize].store(*head, Relaxed);
            *head = row;
        };
        if int {
            // Per chunk: (key, row) pairs by partition.
            let split = ctx.par_map(chunks, |c| {
                let k = as_i64(&eval(c)?[0])?;
                let k = k.as_primitive::<Int64Type>();
                let mut out: Vec<Vec<(i64, u32)>> = vec![Vec::new(); parts];
                let base = (c * CHUNK) as u32;
                for i in 0..k.len() {
                    if k.is_valid(i) {
                        let v = k.value(i);
                        out[part_of(v as u64, parts)].push((v, base + i as u32));
                    }
                }
                Ok(out)
            })?;
            let maps = ctx.par_map((0..parts).collect(), |p| {
                let mut head: FxHashMap<i64, u32> = FxHashMap::default();
                head.reserve(split.iter().map(|s| s[p].len()).sum());
                for (v, row) in split.iter().rev().flat_map(|s| s[p].iter().rev()) {
                    link(head.entry(*v).or_insert(END), *row);
                }
                Ok(head)
            })?;
            let distinct = maps.iter().map(|m| m.len()).sum();
            return Ok(KeyIndex {
                maps: Maps::Int(maps),
                next,
                distinct,
            });
        }
        let types = keys
            .iter()
            .map(|k| k.data_type(&batch.schema()))
            .collect::<Result<Vec<_>>>()?;
        let conv = RowConverter::new(types.into_iter().map(SortField::new).collect())?;
        // Per chunk: its keys as rows, and (hash, row) pairs by partition.
        let split = ctx.par_map(chunks, |c| {
            let cols = eval(c)?;
            let len = cols.first().map_or(0, |k| k.len());
            let rows = conv.convert_columns(&cols)?;
            let valid = valid_rows(&cols, len);
            let mut out: Vec<Vec<(u64, u32)>> = vec![Vec::new(); parts];
            let base = (c * CHUNK) as u32;
            for (i, ok) in valid.iter().enumerate() {
                if *ok {
                    let h = row_hash(rows.row(i).as_ref());
                    out[part_of(h, parts)].push((h, base + i as u32));
                }
            }
            Ok((rows, out))
        })?;
        let heads = ctx.par_map((0..parts).collect(), |p| {
            let mut head: FxHashMap<u64, u32> = FxHashMap::default();
            head.reserve(split.iter().map(|(_, s)| s[p].len()).sum());
            for (h, row) in split.iter().rev().flat_map(|(_, s)| s[p].iter().rev()) {
                link(head.entry(*h).or_insert(END), *row);
            }
            Ok(head)
        })?;
        // Distinct hashes: a lower bound on distinct keys, exact but for collisions.
        let distinct = heads.iter().map(|m| m.len()).sum();
        Ok(KeyIndex {
            maps: Maps::Rows {
                conv,
                rows: split.into_iter().map(|(r, _)| r).collect(),
                heads,
            },
            next,
            distinct,
        })
    }

    /// Distinct keys indexed (for row-format keys, distinct hashes).
    pub fn distinct(&self) -> usize {
        self.distinct
    }

    /// Prepares probe keys (their types equal the build keys', as the planner made them).
    pub fn probe_keys(&self, keys: &[ArrayRef]) -> Result<ProbeKeys> {
        Ok(match &self.maps {
            Maps::Int(_) => ProbeKeys::Int(as_i64(&keys[0])?.as_primitive::<Int64Type>().clone()),
            Maps::Rows { conv, .. } => {
                let n = keys.first().map_or(0, |k| k.len());
                ProbeKeys::Rows(conv.convert_columns(keys)?, valid_rows(keys, n))
            }
        })
    }

    fn build_row(rows: &[Rows], j: u32) -> Row<'_> {
        rows[(j >> CHUNK_BITS) as usize].row(j as usize & (CHUNK - 1))
    }

    /// For each probe row `i` (in order), calls `f(i, j)` with each build row `j` whose key
    /// equals its own, in build order, until `f` returns false for that row.
    pub fn each_match(&self, probe: &ProbeKeys, mut f: impl FnMut(u32, u32) -> bool) {
        match (&self.maps, probe) {
            (Maps::Int(maps), ProbeKeys::Int(k)) => {
                let one = (maps.len() == 1).then(|| &maps[0]);
                for (i, v) in k.values().iter().enumerate() {
                    if k.is_null(i) {
                        continue;
                    }
                    let map = one.unwrap_or_else(|| &maps[part_of(*v as u64, maps.len())]);
                    let mut j = map.get(v).copied().unwrap_or(END);
                    while j != END && f(i as u32, j) {
                        j = self.next[j as usize].load(Relaxed);
                    }
                }
            }
            (Maps::Rows { rows, heads, .. }, ProbeKeys::Rows(prows, valid)) => {
                for (i, ok) in valid.iter().enumerate() {
                    if !ok {
                        continue;
                    }
                    let r = prows.row(i);
                    let h = row_hash(r.as_ref());
                    let map = &heads[part_of(h, heads.len())];
                    let mut j = map.get(&h).copied().unwrap_or(END);
                    while j != END {
                        if Self::build_row(rows, j) == r && !f(i as u32, j) {
                            break;
                        }
                        j = self.next[j as usize].load(Relaxed);
                    }
                }
            }
            _ => unreachable!("probe keys prepared by this index"),
        }
    }

    /// Per probe row, whether some build row has its key.
    pub fn contains(&self, probe: &ProbeKeys, rows: usize) -> Vec<bool> {
        let mut out = vec![false; rows];
        self.each_match(probe, |i, _| {
            out[i as usize] = true;
            false
        });
        out
    }
}

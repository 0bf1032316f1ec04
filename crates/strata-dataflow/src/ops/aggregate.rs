//! Hash aggregation by key, bounded in memory.
//!
//! **Map side** ([`partial_combine`]): records are folded into a hash table; when the table
//! outgrows what the memory pool grants it it is emitted downstream (to the shuffle writer) and
//! started afresh. Partial results are correct because the reduce side merges combiners
//! anyway; this is Spark's map-side combine without the map-side spill.
//!
//! **Reduce side** ([`external_aggregate`]): a grace-hash aggregation. Records fold into a
//! hash table; when the pool refuses it more room, its contents are written to a spill file split
//! into [`FANOUT`] buckets by a second hash of the key, and the table restarts. At the end,
//! each bucket (from every spill, plus what is left in memory) is aggregated on its own,
//! bucket by bucket, so memory holds about 1/FANOUT of the data at a time. A bucket that is
//! still too large is spilled again with the next hash function, up to [`MAX_LEVEL`] levels
//! (beyond that, a single key's values dominate and it is aggregated in memory).

use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::memory::SizeEstimator;
use crate::metrics::TaskMetrics;
use crate::rdd::BoxIter;
use crate::shuffle::codec::{RecordReader, file_writer, write_record};
use crate::shuffle::partitioner::stable_hash;
use crate::shuffle::{ScratchFile, Segment};
use crate::task::TaskContext;
use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;
use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;

/// Buckets per spill.
pub const FANOUT: usize = 32;
/// Deepest re-spill of a bucket.
pub const MAX_LEVEL: u64 = 3;

/// How values of a key fold into a combined value (Spark's `combineByKey` triple).
pub struct Aggregator<V, C> {
    /// Starts a combiner from a key's first value.
    pub create: Arc<dyn Fn(V) -> C + Send + Sync>,
    /// Folds one more value in.
    pub merge_value: Arc<dyn Fn(C, V) -> C + Send + Sync>,
    /// Merges two partial combiners.
    pub merge_combiners: Arc<dyn Fn(C, C) -> C + Send + Sync>,
}

impl<V, C> Clone for Aggregator<V, C> {
    fn clone(&self) -> Self {
        Aggregator {
            create: self.create.clone(),
            merge_value: self.merge_value.clone(),
            merge_combiners: self.merge_combiners.clone(),
        }
    }
}

fn drain<'a, K: Key, C: Data>(map: FxHashMap<K, Option<C>>) -> BoxIter<'a, (K, C)> {
    Box::new(map.into_iter().filter_map(|(k, c)| c.map(|c| (k, c))))
}

/// Map-side combine: folds runs of the input, emitting whenever the table is full.
pub fn partial_combine<'a, K: Key, V: Data, C: Data>(
    tc: &'a TaskContext,
    input: BoxIter<'a, (K, V)>,
    agg: Aggregator<V, C>,
) -> BoxIter<'a, (K, C)> {
    let mut res = tc.reserve("map-side combine");
    let mut input = input;
    let mut done = false;
    let mut out: BoxIter<'a, (K, C)> = Box::new(std::iter::empty());
    Box::new(std::iter::from_fn(move || {
        loop {
            if let Some(x) = out.next() {
                return Some(x);
            }
            if done {
                return None;
            }
            // The last table went downstream: its memory is free again.
            res.free();
            let mut map: FxHashMap<K, Option<C>> = FxHashMap::default();
            let mut est = SizeEstimator::new(std::mem::size_of::<(K, Option<C>)>() + 8);
            let mut n = 0u64;
            loop {
                match input.next() {
                    Some((k, v)) => {
                        match map.entry(k) {
                            Entry::Occupied(mut o) => {
                                let c = o.get_mut().take().expect("combiner present");
                                *o.get_mut() = Some((agg.merge_value)(c, v));
                            }
                            Entry::Vacant(slot) => {
                                let c = (agg.create)(v);
                                est.add(&(slot.key(), &c));
                                slot.insert(Some(c));
                            }
                        }
                        n += 1;
                        if n.is_multiple_of(4096) && res.try_resize(est.bytes()).is_err() {
                            break;
                        }
                    }
                    None => {
                        done = true;
                        break;
                    }
                }
            }
            out = drain(map);
        }
    }))
}

struct Spill {
    file: Arc<ScratchFile>,
    segments: Vec<Segment>,
}

/// Writes a table to a new spill file, bucketed by the level's hash.
fn spill_table<K: Key, C: Data>(
    tc: &TaskContext,
    map: FxHashMap<K, Option<C>>,
    level: u64,
) -> Result<Spill> {
    let mut buckets: Vec<Vec<(K, C)>> = (0..FANOUT).map(|_| Vec::new()).collect();
    for (k, c) in map {
        if let Some(c) = c {
            let b = (stable_hash(&k, level + 1) % FANOUT as u64) as usize;
            buckets[b].push((k, c));
        }
    }
    let file = tc.shuffle.scratch_file("agg-spill");
    let f = std::fs::File::create(&file.path).map_err(|e| Error::io(&file.path, e))?;
    let mut w = file_writer(f);
    let mut segments = Vec::with_capacity(FANOUT);
    for b in buckets {
        let offset = w.pos;
        for rec in &b {
            write_record(&mut w, rec).map_err(|e| Error::io(&file.path, e))?;
        }
        segments.push(Segment {
            offset,
            len: w.pos - offset,
            count: b.len() as u64,
        });
    }
    w.flush().map_err(|e| Error::io(&file.path, e))?;
    TaskMetrics::add(&tc.metrics.spilled_bytes, w.pos);
    TaskMetrics::add(&tc.metrics.spills, 1);
    Ok(Spill {
        file: Arc::new(file),
        segments,
    })
}

/// One bucket still to aggregate: its segments in earlier spills.
struct Work {
    sources: Vec<(Arc<ScratchFile>, Segment)>,
    level: u64,
}

struct External<'a, K, V, C> {
    tc: &'a TaskContext,
    agg: Aggregator<V, C>,
    out: BoxIter<'a, (K, C)>,
    work: Vec<Work>,
}

impl<'a, K: Key, V: Data, C: Data> External<'a, K, V, C> {
    /// Folds records into a table, spilling at `level` when full. Returns the in-memory
    /// table if nothing spilled, else queues the buckets.
    fn run<X>(
        &mut self,
        input: impl Iterator<Item = Result<(K, X)>>,
        create: &dyn Fn(X) -> C,
        merge: &dyn Fn(C, X) -> C,
        level: u64,
    ) -> Result<Option<FxHashMap<K, Option<C>>>> {
        let mut map: FxHashMap<K, Option<C>> = FxHashMap::default();
        let mut est = SizeEstimator::new(std::mem::size_of::<(K, Option<C>)>() + 8);
        let mut spills: Vec<Spill> = Vec::new();
        let mut n = 0u64;
        let mut res = self.tc.reserve("aggregate");
        for rec in input {
            let (k, x) = rec?;
            match map.entry(k) {
                Entry::Occupied(mut o) => {
                    let c = o.get_mut().take().expect("combiner present");
                    *o.get_mut() = Some(merge(c, x));
                }
                Entry::Vacant(v) => {
                    let c = create(x);
                    est.add(&(v.key(), &c));
                    v.insert(Some(c));
                }
            }
            n += 1;
            if n.is_multiple_of(4096) && level <= MAX_LEVEL && res.try_resize(est.bytes()).is_err()
            {
                spills.push(spill_table(self.tc, std::mem::take(&mut map), level)?);
                est.reset();
                res.free();
            }
        }
        if spills.is_empty() {
            return Ok(Some(map));
        }
        spills.push(spill_table(self.tc, map, level)?);
        for b in (0..FANOUT).rev() {
            let sources = spills
                .iter()
                .filter(|s| s.segments[b].count > 0)
                .map(|s| (s.file.clone(), s.segments[b]))
                .collect::<Vec<_>>();
            if !sources.is_empty() {
                self.work.push(Work {
                    sources,
                    level: level + 1,
                });
            }
        }
        Ok(None)
    }

    fn next_bucket(&mut self) -> Result<bool> {
        let Some(work) = self.work.pop() else {
            return Ok(false);
        };
        let records = work.sources.into_iter().flat_map(|(file, seg)| {
            let opened = std::fs::File::open(&file.path).and_then(|mut f| {
                f.seek(SeekFrom::Start(seg.offset))?;
                Ok(f)
            });
            let mut reader = opened.map(|f| RecordReader::<_, (K, C)>::new(f, seg.count, seg.len));
            let path = file.path.clone();
            let mut failed = false;
            std::iter::from_fn(move || {
                if failed {
                    return None;
                }
                let _keep = &file;
                match &mut reader {
                    Ok(r) => r
                        .next_record()
                        .map(|rec| rec.map_err(|e| Error::io(&path, e))),
                    Err(e) => {
                        failed = true;
                        Some(Err(Error::io(
                            &path,
                            std::io::Error::new(e.kind(), e.to_string()),
                        )))
                    }
                }
            })
        });
        let merge = self.agg.merge_combiners.clone();
        let ident = |c: C| c;
        if let Some(map) = self.run(records, &ident, &*merge, work.level)? {
            self.out = drain(map);
        }
        Ok(true)
    }
}

/// Reduce-side aggregation of `(K, V)` records into `(K, C)`, spilling under the budget.
pub fn external_aggregate<'a, K: Key, V: Data, C: Data>(
    tc: &'a TaskContext,
    input: BoxIter<'a, (K, V)>,
    agg: Aggregator<V, C>,
) -> BoxIter<'a, (K, C)> {
    let mut ext = External {
        tc,
        agg: agg.clone(),
        out: Box::new(std::iter::empty()),
        work: Vec::new(),
    };
    match ext.run(input.map(Ok), &*agg.create, &*agg.merge_value, 0) {
        Ok(Some(map)) => return drain(map),
        Ok(None) => {}
        Err(e) => {
            tc.fail(e);
            return Box::new(std::iter::empty());
        }
    }
    Box::new(std::iter::from_fn(move || {
        loop {
            if let Some(x) = ext.out.next() {
                return Some(x);
            }
            match ext.next_bucket() {
                Ok(true) => continue,
                Ok(false) => return None,
                Err(e) => {
                    ext.tc.fail(e);
                    return None;
                }
            }
        }
    }))
}

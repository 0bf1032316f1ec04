//! External merge sort of `(K, V)` records by key, bounded in memory.
//!
//! Records are buffered; when the memory pool refuses the buffer more room it is sorted and
//! written as a run. At the end the runs and the sorted in-memory remainder are merged with
//! a binary heap. The sort is stable within a run and ties across runs keep run order, so
//! equal keys come out in input order.

use crate::data::Data;
use crate::error::Error;
use crate::memory::SizeEstimator;
use crate::metrics::TaskMetrics;
use crate::rdd::BoxIter;
use crate::shuffle::ScratchFile;
use crate::shuffle::codec::{RecordReader, file_writer, write_record};
use crate::task::TaskContext;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::Write;

struct HeapItem<K, V> {
    key: K,
    value: V,
    run: usize,
    descending: bool,
}

impl<K: Ord, V> PartialEq for HeapItem<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<K: Ord, V> Eq for HeapItem<K, V> {}
impl<K: Ord, V> PartialOrd for HeapItem<K, V> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<K: Ord, V> Ord for HeapItem<K, V> {
    // BinaryHeap is a max-heap: reverse so the smallest (or largest, descending) pops first.
    fn cmp(&self, other: &Self) -> Ordering {
        let by_key = if self.descending {
            self.key.cmp(&other.key)
        } else {
            other.key.cmp(&self.key)
        };
        by_key.then_with(|| other.run.cmp(&self.run))
    }
}

fn sort_buffer<K: Ord, V>(buf: &mut [(K, V)], descending: bool) {
    if descending {
        buf.sort_by(|a, b| b.0.cmp(&a.0));
    } else {
        buf.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

/// Sorts a partition by key.
pub fn external_sort<'a, K: Data + Ord, V: Data>(
    tc: &'a TaskContext,
    input: BoxIter<'a, (K, V)>,
    descending: bool,
) -> BoxIter<'a, (K, V)> {
    let mut res = tc.reserve("sort");
    let mut est = SizeEstimator::new(std::mem::size_of::<(K, V)>());
    let mut buf: Vec<(K, V)> = Vec::new();
    let mut runs: Vec<(ScratchFile, u64, u64)> = Vec::new();
    for rec in input {
        est.add(&rec);
        buf.push(rec);
        if buf.len().is_multiple_of(1024) && res.try_resize(est.bytes()).is_err() {
            sort_buffer(&mut buf, descending);
            let file = tc.shuffle.scratch_file("sort-run");
            let written = std::fs::File::create(&file.path).and_then(|f| {
                let mut w = file_writer(f);
                for r in &buf {
                    write_record(&mut w, r)?;
                }
                w.flush()?;
                Ok(w.pos)
            });
            let bytes = match written {
                Ok(bytes) => {
                    TaskMetrics::add(&tc.metrics.spilled_bytes, bytes);
                    TaskMetrics::add(&tc.metrics.spills, 1);
                    bytes
                }
                Err(e) => {
                    tc.fail(Error::io(&file.path, e));
                    return Box::new(std::iter::empty());
                }
            };
            runs.push((file, buf.len() as u64, bytes));
            buf.clear();
            est.reset();
            res.free();
        }
    }
    sort_buffer(&mut buf, descending);
    if runs.is_empty() {
        return Box::new(buf.into_iter());
    }
    let mut readers = Vec::with_capacity(runs.len());
    for (file, count, bytes) in &runs {
        match std::fs::File::open(&file.path) {
            Ok(f) => readers.push(RecordReader::<_, (K, V)>::new(f, *count, *bytes)),
            Err(e) => {
                tc.fail(Error::io(&file.path, e));
                return Box::new(std::iter::empty());
            }
        }
    }
    let mut memory_run = buf.into_iter();
    let mem_idx = readers.len();
    let mut heap = BinaryHeap::with_capacity(mem_idx + 1);
    let mut pull = move |run: usize| -> Option<Result<(K, V), Error>> {
        if run == mem_idx {
            memory_run.next().map(Ok)
        } else {
            readers[run]
                .next_record()
                .map(|r| r.map_err(|e| Error::io(&runs[run].0.path, e)))
        }
    };
    for run in 0..=mem_idx {
        match pull(run) {
            Some(Ok((key, value))) => heap.push(HeapItem {
                key,
                value,
                run,
                descending,
            }),
            Some(Err(e)) => {
                tc.fail(e);
                return Box::new(std::iter::empty());
            }
            None => {}
        }
    }
    Box::new(std::iter::from_fn(move || {
        let top = heap.pop()?;
        match pull(top.run) {
            Some(Ok((key, value))) => heap.push(HeapItem {
                key,
                value,
                run: top.run,
                descending,
            }),
            Some(Err(e)) => {
                tc.fail(e);
                return None;
            }
            None => {}
        }
        Some((top.key, top.value))
    }))
}

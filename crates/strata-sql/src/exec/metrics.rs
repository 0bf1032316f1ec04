//! Per-operator counters for `EXPLAIN ANALYZE`: output rows, time, bytes spilled.
//!
//! Time is summed over the threads that worked for the operator and includes the time
//! its inputs took to produce their batches (a pull pipeline); [`Metrics::self_time`]
//! subtracts the children's share.

use super::Stream;
use crate::plan::Plan;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The counters of one operator.
#[derive(Default, Debug)]
pub struct OpMetrics {
    rows: AtomicU64,
    nanos: AtomicU64,
    spilled: AtomicU64,
    read: AtomicU64,
}

impl OpMetrics {
    /// Adds working time.
    pub fn add_time(&self, d: Duration) {
        self.nanos.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Adds bytes written to spill files.
    pub fn add_spill(&self, bytes: u64) {
        self.spilled.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Adds rows a scan decoded from its files (before its filters).
    pub fn add_read(&self, rows: u64) {
        self.read.fetch_add(rows, Ordering::Relaxed);
    }

    /// Rows a scan decoded (after row-group and page pruning, before filters).
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Rows produced so far.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// Bytes spilled so far.
    pub fn spilled(&self) -> u64 {
        self.spilled.load(Ordering::Relaxed)
    }

    /// Time so far, including the inputs'.
    pub fn time(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }

    /// Wraps `s` to count its rows and the time spent producing them.
    pub fn count<'a>(&'a self, s: Stream<'a>) -> Stream<'a> {
        Box::new(Counted { inner: s, m: self })
    }
}

struct Counted<'a> {
    inner: Stream<'a>,
    m: &'a OpMetrics,
}

impl Iterator for Counted<'_> {
    type Item = crate::Result<arrow::record_batch::RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let t = Instant::now();
        let b = self.inner.next();
        self.m.add_time(t.elapsed());
        if let Some(Ok(b)) = &b {
            self.m
                .rows
                .fetch_add(b.num_rows() as u64, Ordering::Relaxed);
        }
        b
    }
}

/// The counters of every operator of a plan, by pre-order position.
#[derive(Debug)]
pub struct Metrics(Vec<OpMetrics>);

impl Metrics {
    /// Counters for a plan of `n` operators.
    pub fn new(n: usize) -> Metrics {
        Metrics((0..n).map(|_| OpMetrics::default()).collect())
    }

    /// The counters of operator `id`.
    pub fn op(&self, id: usize) -> &OpMetrics {
        &self.0[id]
    }

    /// Bytes spilled by all operators.
    pub fn total_spilled(&self) -> u64 {
        self.0.iter().map(|m| m.spilled()).sum()
    }

    /// Operator `id`'s time less its children's.
    pub fn self_time(&self, plan: &Plan, id: usize) -> Duration {
        let mut children = Duration::ZERO;
        let mut next = id + 1;
        for c in plan.children() {
            children += self.op(next).time();
            next += c.size();
        }
        self.op(id).time().saturating_sub(children)
    }
}

//! Exchanges: the bounded channels between tasks and the operator that routes records
//! into them. A channel holds at most a few batches, so a slow consumer blocks its
//! producers (backpressure by credit: a full channel grants no more sends).

use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::error::{Result, StreamError};
use crate::keys::instance_of;
use crate::operator::{Control, Data, Operator, Record, Snapshot};
use crate::time::Ts;

/// What flows through a channel.
pub(crate) enum Msg<T> {
    Batch(Vec<Record<T>>),
    Watermark(Ts),
    Idle,
    Barrier(u64),
    End,
}

/// How records pick their consumer.
pub(crate) enum Route<T> {
    /// By key group (`Fn` returns the record's key group).
    Hash(Arc<dyn Fn(&T) -> usize + Send + Sync>, usize),
    /// Round robin.
    Rebalance,
}

pub(crate) struct Exchange<T> {
    blocked: prometheus_client::metrics::counter::Counter<f64, std::sync::atomic::AtomicU64>,
    outs: Vec<Sender<Msg<T>>>,
    bufs: Vec<Vec<Record<T>>>,
    route: Route<T>,
    rr: usize,
    batch: usize,
}

impl<T: Data> Exchange<T> {
    pub(crate) fn new(
        stage: usize,
        outs: Vec<Sender<Msg<T>>>,
        route: Route<T>,
        batch: usize,
    ) -> Self {
        let bufs = outs.iter().map(|_| Vec::new()).collect();
        Exchange {
            blocked: crate::metrics::get()
                .backpressure
                .get_or_create(&crate::metrics::stage(stage))
                .clone(),
            outs,
            bufs,
            route,
            rr: 0,
            batch: batch.max(1),
        }
    }

    fn send(&self, i: usize, m: Msg<T>) -> Result<()> {
        match self.outs[i].try_send(m) {
            Ok(()) => Ok(()),
            Err(crossbeam_channel::TrySendError::Full(m)) => {
                // Backpressure: the consumer has no free slot; wait, and count the wait.
                let t = std::time::Instant::now();
                let r = self.outs[i].send(m).map_err(|_| StreamError::Disconnected);
                self.blocked.inc_by(t.elapsed().as_secs_f64());
                r
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(StreamError::Disconnected),
        }
    }

    fn flush(&mut self) -> Result<()> {
        for i in 0..self.outs.len() {
            if !self.bufs[i].is_empty() {
                let b = std::mem::take(&mut self.bufs[i]);
                self.send(i, Msg::Batch(b))?;
            }
        }
        Ok(())
    }

    fn broadcast(&mut self, m: impl Fn() -> Msg<T>) -> Result<()> {
        self.flush()?;
        for i in 0..self.outs.len() {
            self.send(i, m())?;
        }
        Ok(())
    }
}

impl<T: Data> Control for Exchange<T> {
    fn watermark(&mut self, wm: Ts) -> Result<()> {
        self.broadcast(|| Msg::Watermark(wm))
    }
    fn idle(&mut self) -> Result<()> {
        self.broadcast(|| Msg::Idle)
    }
    fn tick(&mut self, _: Ts) -> Result<()> {
        // Bounds latency: partial batches leave at least every tick.
        self.flush()
    }
    fn snapshot(&mut self, cp: u64, _: &mut Snapshot) -> Result<()> {
        self.broadcast(|| Msg::Barrier(cp))
    }
    fn finish(&mut self) -> Result<()> {
        self.broadcast(|| Msg::End)
    }
}

impl<T: Data> Operator<T> for Exchange<T> {
    fn process(&mut self, rec: Record<T>) -> Result<()> {
        let n = self.outs.len();
        let i = match &self.route {
            Route::Hash(f, maxp) => instance_of(f(&rec.value), *maxp, n),
            Route::Rebalance => {
                self.rr = (self.rr + 1) % n;
                self.rr
            }
        };
        self.bufs[i].push(rec);
        if self.bufs[i].len() >= self.batch {
            let b = std::mem::take(&mut self.bufs[i]);
            self.send(i, Msg::Batch(b))?;
        }
        Ok(())
    }
}

//! The memory pool: one budget per process, handed out as [`Reservation`]s.
//!
//! Every operator that holds data (a SQL hash table or sort buffer, a dataflow shuffle
//! buffer or map-side combine, a cached block) takes a reservation from the process's
//! [`MemoryPool`] and grows it as it buffers. Growth is *asked for* ([`Reservation::try_grow`]):
//! when the pool says no, the consumer spills what it holds to scratch disk, frees its
//! reservation and goes on. So the pool's `used` never passes its limit, whichever engines
//! share it.
//!
//! Two kinds of consumers, as in DataFusion's fair spill pool:
//! - *spillable* ones (breakers, shuffle buffers) may each hold at most an equal share of
//!   what the unspillable ones leave: `(limit - unspillable) / spillable consumers`. A new
//!   query therefore gets room even when an earlier one filled the pool: the earlier one's
//!   next growth fails and it spills down to its share.
//! - *unspillable* ones (cached blocks) take from the pool first come, first served, up to
//!   the cap their owner gives them.
//!
//! [`SizeEstimator`] estimates the size of generic Rust elements by sampling, the way
//! Spark's `SizeEstimator` does; Arrow batches report their own size.

use parking_lot::Mutex;
use serde::Serialize;
use std::sync::Arc;

/// A reservation could not grow: the consumer should spill (or fail with this message).
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{consumer} could not reserve {asked} more bytes (holds {held}; the pool of {limit} bytes \
     has {used} in use by {consumers} consumers): raise the memory limit \
     (dataflow.memory / --memory-limit) or lower the parallelism"
)]
pub struct MemoryExhausted {
    /// Who asked.
    pub consumer: String,
    /// Bytes asked for.
    pub asked: u64,
    /// Bytes the consumer already held.
    pub held: u64,
    /// The pool's limit.
    pub limit: u64,
    /// Bytes in use in the pool.
    pub used: u64,
    /// Consumers registered.
    pub consumers: usize,
}

#[derive(Debug, Default)]
struct State {
    used: u64,
    peak: u64,
    unspillable: u64,
    spillable_consumers: usize,
    consumers: usize,
    denied: u64,
}

/// A process's memory budget, shared by every engine in it.
#[derive(Debug)]
pub struct MemoryPool {
    limit: u64,
    state: Mutex<State>,
}

/// What the pool holds now and held at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// The budget.
    pub limit: u64,
    /// Bytes reserved now.
    pub used: u64,
    /// The most bytes ever reserved at once.
    pub peak: u64,
    /// Reservations alive.
    pub consumers: usize,
    /// Growths refused (each made a consumer spill).
    pub denied: u64,
}

impl MemoryPool {
    /// A pool of `limit` bytes.
    pub fn new(limit: u64) -> Arc<MemoryPool> {
        Arc::new(MemoryPool {
            limit: limit.max(1),
            state: Mutex::new(State::default()),
        })
    }

    /// The budget.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Now, peak and counts.
    pub fn stats(&self) -> MemoryStats {
        let s = self.state.lock();
        MemoryStats {
            limit: self.limit,
            used: s.used,
            peak: s.peak,
            consumers: s.consumers,
            denied: s.denied,
        }
    }

    /// A reservation of zero bytes for a consumer that spills when it cannot grow.
    pub fn spillable(self: &Arc<Self>, consumer: impl Into<String>) -> Reservation {
        self.register(consumer.into(), true)
    }

    /// A reservation for a consumer that cannot spill (it must drop or store elsewhere what
    /// does not fit): first come, first served.
    pub fn unspillable(self: &Arc<Self>, consumer: impl Into<String>) -> Reservation {
        self.register(consumer.into(), false)
    }

    fn register(self: &Arc<Self>, consumer: String, spillable: bool) -> Reservation {
        let mut s = self.state.lock();
        s.consumers += 1;
        if spillable {
            s.spillable_consumers += 1;
        }
        Reservation {
            pool: self.clone(),
            consumer,
            spillable,
            size: 0,
        }
    }

    fn try_grow(&self, r: &Reservation, n: u64) -> Result<(), MemoryExhausted> {
        let mut s = self.state.lock();
        let fits_pool = s.used + n <= self.limit;
        let fits_share = !r.spillable || {
            let room = self.limit.saturating_sub(s.unspillable);
            r.size + n <= room / s.spillable_consumers.max(1) as u64
        };
        if !(fits_pool && fits_share) {
            s.denied += 1;
            return Err(MemoryExhausted {
                consumer: r.consumer.clone(),
                asked: n,
                held: r.size,
                limit: self.limit,
                used: s.used,
                consumers: s.consumers,
            });
        }
        s.used += n;
        s.peak = s.peak.max(s.used);
        if !r.spillable {
            s.unspillable += n;
        }
        Ok(())
    }

    fn shrink(&self, spillable: bool, n: u64) {
        let mut s = self.state.lock();
        s.used -= n;
        if !spillable {
            s.unspillable -= n;
        }
    }

    fn unregister(&self, spillable: bool) {
        let mut s = self.state.lock();
        s.consumers -= 1;
        if spillable {
            s.spillable_consumers -= 1;
        }
    }
}

/// Bytes one consumer holds of a [`MemoryPool`]; returned to the pool when dropped.
#[derive(Debug)]
pub struct Reservation {
    pool: Arc<MemoryPool>,
    consumer: String,
    spillable: bool,
    size: u64,
}

impl Reservation {
    /// Bytes held.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The pool it draws from.
    pub fn pool(&self) -> &Arc<MemoryPool> {
        &self.pool
    }

    /// Holds `n` more bytes, or says why not (then spill and [`Reservation::free`]).
    pub fn try_grow(&mut self, n: u64) -> Result<(), MemoryExhausted> {
        if n == 0 {
            return Ok(());
        }
        self.pool.try_grow(self, n)?;
        self.size += n;
        Ok(())
    }

    /// Grows or shrinks to exactly `size` bytes; growth may be refused.
    pub fn try_resize(&mut self, size: u64) -> Result<(), MemoryExhausted> {
        if size >= self.size {
            self.try_grow(size - self.size)
        } else {
            self.shrink(self.size - size);
            Ok(())
        }
    }

    /// Gives `n` bytes back (at most what is held).
    pub fn shrink(&mut self, n: u64) {
        let n = n.min(self.size);
        if n > 0 {
            self.pool.shrink(self.spillable, n);
            self.size -= n;
        }
    }

    /// Gives everything back; returns how much that was.
    pub fn free(&mut self) -> u64 {
        let n = self.size;
        self.shrink(n);
        n
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.free();
        self.pool.unregister(self.spillable);
    }
}

/// Running estimate of the in-memory size of a collection of elements.
#[derive(Debug)]
pub struct SizeEstimator {
    per_item_overhead: u64,
    samples: u64,
    sampled_bytes: u64,
    count: u64,
    next_sample: u64,
}

impl SizeEstimator {
    /// `per_item_overhead`: bytes a slot costs besides its serialized payload (the inline
    /// struct size, hash-table control bytes).
    pub fn new(per_item_overhead: usize) -> Self {
        SizeEstimator {
            per_item_overhead: per_item_overhead as u64,
            samples: 0,
            sampled_bytes: 0,
            count: 0,
            next_sample: 0,
        }
    }

    /// Accounts for one more element, sampling its size now and then.
    #[inline]
    pub fn add<T: Serialize>(&mut self, item: &T) {
        if self.count == self.next_sample {
            self.sampled_bytes += bincode::serialized_size(item).unwrap_or(16);
            self.samples += 1;
            // Sample the first 64 elements, then about every 64th.
            self.next_sample = self.count + if self.samples < 64 { 1 } else { 64 };
        }
        self.count += 1;
    }

    /// Forgets every element (after a spill or drain).
    pub fn reset(&mut self) {
        self.count = 0;
        self.next_sample = 0;
        // Keep the average; it still describes the data.
        if self.samples > 64 {
            self.sampled_bytes = self.sampled_bytes * 64 / self.samples;
            self.samples = 64;
        }
    }

    /// Elements accounted for.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Estimated bytes held.
    pub fn bytes(&self) -> u64 {
        if self.samples == 0 {
            return 0;
        }
        self.count * (self.per_item_overhead + self.sampled_bytes / self.samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_payload() {
        let mut small = SizeEstimator::new(24);
        let mut big = SizeEstimator::new(24);
        for i in 0..10_000u64 {
            small.add(&i);
            big.add(&vec![i; 100]);
        }
        assert!(small.bytes() >= 10_000 * 24);
        assert!(big.bytes() > 10 * small.bytes() / 2);
        small.reset();
        assert_eq!(small.bytes(), 0);
    }

    #[test]
    fn spillable_consumers_get_equal_shares() {
        let pool = MemoryPool::new(1000);
        let mut a = pool.spillable("a");
        a.try_grow(900).unwrap();
        let mut b = pool.spillable("b");
        // b's share is 500 but the pool has only 100 left; a must spill first.
        let e = b.try_grow(200).unwrap_err();
        assert!(e.to_string().contains("b could not reserve 200"), "{e}");
        // a's next growth is refused (it holds more than its share), so it spills.
        assert!(a.try_grow(1).is_err());
        a.free();
        b.try_grow(500).unwrap();
        assert!(b.try_grow(1).is_err());
        assert_eq!(pool.stats().peak, 900);
        drop(b);
        drop(a);
        let s = pool.stats();
        assert_eq!((s.used, s.consumers), (0, 0));
    }

    #[test]
    fn unspillable_consumers_shrink_the_spillable_share() {
        let pool = MemoryPool::new(1000);
        let mut cache = pool.unspillable("cache");
        cache.try_grow(600).unwrap();
        let mut op = pool.spillable("op");
        assert!(op.try_grow(401).is_err());
        op.try_grow(400).unwrap();
        assert!(cache.try_grow(1).is_err());
        op.try_resize(100).unwrap();
        cache.try_grow(300).unwrap();
        assert_eq!(pool.stats().used, 1000);
    }
}

//! Accumulators and broadcast values.
//!
//! An [`Accumulator`] is added to from tasks and read on the driver. Updates made by a task
//! are buffered in a thread-local table while the attempt runs and merged into the total only
//! when the attempt succeeds, so a failed or retried attempt never counts twice (Spark gives
//! this guarantee for updates made in actions; Strata gives it for every task).
//!
//! A [`Broadcast`] value is shared read-only by every task. Embedded, that is an `Arc`; in
//! cluster mode the driver sends it to each executor once.

use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::cell::RefCell;
use std::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

// Ids follow program order, so the same accumulator has the same id in every process of a
// cluster job (an executor's updates travel to the driver by id).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Totals that updates from other processes merge into, by accumulator id.
static REGISTRY: Mutex<Option<FxHashMap<u64, Weak<dyn Merge>>>> = Mutex::new(None);

trait Merge: Send + Sync {
    fn merge(&self, bytes: &[u8]);
}

impl<T: AddAssign + DeserializeOwned + Send> Merge for Mutex<T> {
    fn merge(&self, bytes: &[u8]) {
        match bincode::deserialize::<T>(bytes) {
            Ok(v) => *self.lock() += v,
            Err(e) => tracing::error!(error = %e, "undecodable accumulator update"),
        }
    }
}

/// Adds an executor's committed update to accumulator `id` (driver side).
pub(crate) fn merge_remote(id: u64, bytes: &[u8]) {
    let total = REGISTRY
        .lock()
        .as_ref()
        .and_then(|r| r.get(&id))
        .and_then(Weak::upgrade);
    match total {
        Some(t) => t.merge(bytes),
        None => tracing::warn!(id, "update for an unknown accumulator dropped"),
    }
}

trait Pending: Send {
    fn as_any(&mut self) -> &mut dyn Any;
    fn commit(self: Box<Self>);
    fn encode(&self) -> Vec<u8>;
}

struct PendingUpdate<T> {
    value: T,
    total: Arc<Mutex<T>>,
}

impl<T: AddAssign + Serialize + Send + 'static> Pending for PendingUpdate<T> {
    fn as_any(&mut self) -> &mut dyn Any {
        &mut self.value
    }
    fn commit(self: Box<Self>) {
        *self.total.lock() += self.value;
    }
    fn encode(&self) -> Vec<u8> {
        bincode::serialize(&self.value).unwrap_or_default()
    }
}

thread_local! {
    static TASK_UPDATES: RefCell<Option<Vec<(u64, Box<dyn Pending>)>>> = const { RefCell::new(None) };
}

/// Updates made by one task attempt, to commit on success.
pub(crate) struct TaskUpdates(Vec<(u64, Box<dyn Pending>)>);

impl TaskUpdates {
    pub fn commit(self) {
        for (_, p) in self.0 {
            p.commit();
        }
    }

    /// The updates serialized, for an executor to send to its driver.
    pub fn encode(self) -> Vec<(u64, Vec<u8>)> {
        self.0.into_iter().map(|(id, p)| (id, p.encode())).collect()
    }
}

/// Starts buffering accumulator updates on this thread.
pub(crate) fn begin_task() {
    TASK_UPDATES.with(|t| *t.borrow_mut() = Some(Vec::new()));
}

/// Stops buffering and returns what the attempt added.
pub(crate) fn end_task() -> TaskUpdates {
    TaskUpdates(TASK_UPDATES.with(|t| t.borrow_mut().take().unwrap_or_default()))
}

/// A value that tasks add to and the driver reads.
pub struct Accumulator<T> {
    id: u64,
    total: Arc<Mutex<T>>,
}

impl<T> Clone for Accumulator<T> {
    fn clone(&self) -> Self {
        Accumulator {
            id: self.id,
            total: self.total.clone(),
        }
    }
}

impl<T: AddAssign + Default + Clone + Send + Serialize + DeserializeOwned + 'static>
    Accumulator<T>
{
    pub(crate) fn new(initial: T) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let total = Arc::new(Mutex::new(initial));
        let weak: Weak<dyn Merge> = Arc::downgrade(&total) as Weak<dyn Merge>;
        let mut r = REGISTRY.lock();
        let map = r.get_or_insert_with(FxHashMap::default);
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(id, weak);
        Accumulator { id, total }
    }

    /// Adds `v`: inside a task, to the attempt's pending updates; elsewhere, to the total.
    pub fn add(&self, v: T) {
        let pending = TASK_UPDATES.with(|t| {
            let mut t = t.borrow_mut();
            let Some(list) = t.as_mut() else {
                return Some(v);
            };
            if let Some((_, p)) = list.iter_mut().find(|(id, _)| *id == self.id) {
                if let Some(acc) = p.as_any().downcast_mut::<T>() {
                    *acc += v;
                }
            } else {
                list.push((
                    self.id,
                    Box::new(PendingUpdate {
                        value: v,
                        total: self.total.clone(),
                    }),
                ));
            }
            None
        });
        if let Some(v) = pending {
            *self.total.lock() += v;
        }
    }

    /// The total of committed updates.
    pub fn value(&self) -> T {
        self.total.lock().clone()
    }
}

/// A read-only value shared by all tasks.
pub struct Broadcast<T> {
    value: Arc<T>,
}

impl<T> Clone for Broadcast<T> {
    fn clone(&self) -> Self {
        Broadcast {
            value: self.value.clone(),
        }
    }
}

impl<T> Broadcast<T> {
    pub(crate) fn new(value: T) -> Self {
        Broadcast {
            value: Arc::new(value),
        }
    }
    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::Deref for Broadcast<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

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
use std::any::Any;
use std::cell::RefCell;
use std::ops::AddAssign;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

trait Pending: Send {
    fn as_any(&mut self) -> &mut dyn Any;
    fn commit(self: Box<Self>);
}

struct PendingUpdate<T> {
    value: T,
    total: Arc<Mutex<T>>,
}

impl<T: AddAssign + Send + 'static> Pending for PendingUpdate<T> {
    fn as_any(&mut self) -> &mut dyn Any {
        &mut self.value
    }
    fn commit(self: Box<Self>) {
        *self.total.lock() += self.value;
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

impl<T: AddAssign + Default + Clone + Send + 'static> Accumulator<T> {
    pub(crate) fn new(initial: T) -> Self {
        Accumulator {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            total: Arc::new(Mutex::new(initial)),
        }
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

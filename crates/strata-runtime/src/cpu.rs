//! One CPU pool per process, shared by every engine: work-stealing threads (rayon's).
//!
//! CPU work never runs on an async reactor (DESIGN.md §3.5) and no engine starts threads of
//! its own per operator. Two ways in:
//! - [`CpuPool::spawn`]: a fire-and-forget task (a dataflow task), run in submission order.
//! - [`CpuPool::map`]: morsel-style parallel work over a list (SQL partitions): `threads`
//!   workers pull the next item from a shared counter until none is left, so a slow
//!   partition never holds up the others' threads. A caller already on a pool thread takes
//!   part in the work instead of blocking it (rayon's scopes steal while they wait), so
//!   nested maps cannot exhaust the pool.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The process's worker threads.
pub struct CpuPool {
    pool: rayon::ThreadPool,
    threads: usize,
}

impl std::fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuPool")
            .field("threads", &self.threads)
            .finish()
    }
}

impl CpuPool {
    /// A pool of `threads` threads named `strata-cpu-N`.
    pub fn new(threads: usize) -> CpuPool {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("strata-cpu-{i}"))
            .panic_handler(|p| {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!("a task panicked on the CPU pool: {msg}");
            })
            .build()
            .expect("starting the CPU pool");
        CpuPool { pool, threads }
    }

    /// Threads in the pool.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job` on the pool; jobs start in submission order.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        self.pool.spawn_fifo(job);
    }

    /// Runs `f` on every item with at most `threads` workers of the pool, keeping the
    /// order of the results.
    pub fn map<T: Send, R: Send>(
        &self,
        threads: usize,
        items: Vec<T>,
        f: impl Fn(T) -> R + Sync,
    ) -> Vec<R> {
        let n = items.len();
        let workers = threads.clamp(1, n.max(1)).min(self.threads.max(1));
        if workers == 1 || n <= 1 {
            return items.into_iter().map(f).collect();
        }
        let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
        let out: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let work = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let item = slots[i].lock().unwrap().take().expect("each item once");
                let r = f(item);
                *out[i].lock().unwrap() = Some(r);
            }
        };
        self.pool.in_place_scope(|s| {
            for _ in 1..workers {
                s.spawn(|_| work());
            }
            // The caller is the last worker.
            work();
        });
        out.into_iter()
            .map(|m| m.into_inner().unwrap().expect("every item ran"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn map_keeps_order_and_bounds_workers() {
        let pool = CpuPool::new(4);
        let live = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let out = pool.map(2, (0..64).collect(), |i: u64| {
            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::yield_now();
            live.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, (0..64).map(|i| i * 2).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 2);
    }

    #[test]
    fn nested_maps_do_not_deadlock_a_small_pool() {
        let pool = CpuPool::new(2);
        let out = pool.map(2, (0..8).collect(), |i: u64| {
            pool.map(2, (0..8).collect(), |j: u64| i * j)
                .into_iter()
                .sum::<u64>()
        });
        assert_eq!(out[3], 3 * 28);
    }

    #[test]
    fn spawned_jobs_run() {
        let pool = CpuPool::new(2);
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..10 {
            let tx = tx.clone();
            pool.spawn(move || tx.send(i).unwrap());
        }
        let mut got: Vec<i32> = (0..10).map(|_| rx.recv().unwrap()).collect();
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }
}

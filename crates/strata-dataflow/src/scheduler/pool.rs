//! A fixed pool of worker threads that run task closures.
//!
//! CPU work never runs on an async reactor (DESIGN.md §3.5): tasks are plain closures on
//! these OS threads. Jobs may be submitted from several driver threads at once; tasks of all
//! of them share the pool in submission order. A task must not itself wait on a job of the
//! same context (an action inside a transformation), or it could wait for a thread it holds.

use crossbeam_channel::{Sender, unbounded};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Pool {
    tx: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = unbounded::<Job>();
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("strata-task-{i}"))
                    .spawn(move || {
                        while let Ok(job) = rx.recv() {
                            job();
                        }
                    })
                    .expect("spawn task thread")
            })
            .collect();
        Pool {
            tx: Some(tx),
            threads,
        }
    }

    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Box::new(job));
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.tx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

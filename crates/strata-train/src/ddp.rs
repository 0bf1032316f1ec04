//! Data parallelism (PyTorch's DistributedDataParallel): every rank holds a replica, runs
//! its slice of the global batch, and the gradients are averaged by all-reduce.
//!
//! Gradients are grouped into **buckets** of about `bucket_bytes`, filled in the order
//! backward produces them (the head first, the embeddings last). Backward runs segment by
//! segment ([`crate::model`]); as soon as every gradient of a bucket exists, the bucket is
//! flattened and handed to a communication thread that all-reduces it while backward goes
//! on with earlier segments. [`Ddp::finish`] waits for the buckets and returns the averaged
//! gradients. Each rank weights its gradients by its share of the global batch before the
//! sum, so uneven slices still give the exact global mean.
//!
//! `no_sync`: micro-batches of a gradient-accumulation step before the last add into local
//! buffers with no communication; the last one adds them into its buckets.

use std::thread::JoinHandle;

use candle_core::{Device, Tensor};
use crossbeam_channel::{Receiver, Sender};
use strata_collective::{CollectiveError, Communicator, ReduceOp};

use crate::TrainError;

enum Work {
    Reduce(usize, Vec<f32>),
    Scalar(f64),
    Broadcast(usize, Vec<f32>),
    Small(Vec<f64>, ReduceOp),
}

enum Done {
    Reduced(usize, Vec<f32>),
    Scalar(f64),
    Broadcast(Vec<f32>),
    Small(Vec<f64>),
}

/// One rank's gradient reducer.
#[derive(Debug)]
pub struct Ddp {
    world: usize,
    /// Parameter indices per bucket, in the order backward fills them.
    buckets: Vec<Vec<usize>>,
    bucket_of: Vec<usize>,
    shapes: Vec<candle_core::Shape>,
    pending: Vec<usize>,
    grads: Vec<Option<Tensor>>,
    accumulated: Vec<Option<Tensor>>,
    in_flight: usize,
    tx: Option<Sender<Work>>,
    rx: Option<Receiver<Result<Done, CollectiveError>>>,
    thread: Option<JoinHandle<()>>,
    device: Device,
}

impl Ddp {
    /// A reducer for parameters of `shapes` whose gradients arrive in `ready_order`
    /// (parameter indices), over `comm` (none: a single process).
    pub fn new(
        comm: Option<Communicator>,
        shapes: Vec<candle_core::Shape>,
        ready_order: &[usize],
        bucket_bytes: usize,
        device: &Device,
    ) -> Ddp {
        let mut buckets: Vec<Vec<usize>> = vec![Vec::new()];
        let mut bytes = 0;
        for &i in ready_order {
            let b = shapes[i].elem_count() * 4;
            if bytes > 0 && bytes + b > bucket_bytes {
                buckets.push(Vec::new());
                bytes = 0;
            }
            buckets.last_mut().unwrap().push(i);
            bytes += b;
        }
        let mut bucket_of = vec![0; shapes.len()];
        for (b, ps) in buckets.iter().enumerate() {
            for &i in ps {
                bucket_of[i] = b;
            }
        }
        let world = comm.as_ref().map_or(1, |c| c.size());
        let (tx, rx, thread) = match comm.filter(|c| c.size() > 1) {
            None => (None, None, None),
            Some(c) => {
                let (wtx, wrx) = crossbeam_channel::unbounded();
                let (dtx, drx) = crossbeam_channel::unbounded();
                let t = std::thread::Builder::new()
                    .name("ddp-comm".into())
                    .spawn(move || comm_loop(c, wrx, dtx))
                    .expect("spawn the DDP communication thread");
                (Some(wtx), Some(drx), Some(t))
            }
        };
        let n = shapes.len();
        Ddp {
            world,
            pending: buckets.iter().map(Vec::len).collect(),
            buckets,
            bucket_of,
            shapes,
            grads: vec![None; n],
            accumulated: vec![None; n],
            in_flight: 0,
            tx,
            rx,
            thread,
            device: device.clone(),
        }
    }

    /// The number of ranks.
    pub fn world(&self) -> usize {
        self.world
    }

    /// The number of buckets.
    pub fn num_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// The gradient of parameter `i` (already weighted by this rank's share of the global
    /// batch). With `sync` false it is only accumulated (`no_sync`); with `sync` true the
    /// accumulated sum joins its bucket, and a full bucket starts its all-reduce.
    pub fn grad_ready(&mut self, i: usize, g: Tensor, sync: bool) -> Result<(), TrainError> {
        let total = match self.accumulated[i].take() {
            Some(acc) => (acc + g)?,
            None => g,
        };
        if !sync {
            self.accumulated[i] = Some(total);
            return Ok(());
        }
        self.grads[i] = Some(total);
        let b = self.bucket_of[i];
        self.pending[b] -= 1;
        if self.pending[b] == 0 {
            self.launch(b)?;
        }
        Ok(())
    }

    fn launch(&mut self, b: usize) -> Result<(), TrainError> {
        let Some(tx) = &self.tx else {
            return Ok(()); // one process: the gradients are final
        };
        let mut flat = Vec::new();
        for &i in &self.buckets[b] {
            let g = self.grads[i].take().expect("gradient present");
            flat.extend(g.flatten_all()?.to_vec1::<f32>()?);
        }
        tx.send(Work::Reduce(b, flat))
            .map_err(|_| TrainError::Collective(self.comm_gone()))?;
        self.in_flight += 1;
        Ok(())
    }

    fn comm_gone(&self) -> CollectiveError {
        CollectiveError::Setup("the communication thread stopped".into())
    }

    fn recv(&self) -> Result<Done, TrainError> {
        let rx = self.rx.as_ref().expect("a communicator");
        match rx.recv() {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(e)) => Err(TrainError::Collective(e)),
            Err(_) => Err(TrainError::Collective(self.comm_gone())),
        }
    }

    /// Waits for every bucket; returns the summed (averaged) gradients in parameter order
    /// and the sum over ranks of `loss` (each rank passes its weighted loss).
    pub fn finish(&mut self, loss: f64) -> Result<(Vec<Tensor>, f64), TrainError> {
        if let Some(b) = self.pending.iter().position(|&p| p != 0) {
            return Err(TrainError::Usage(format!(
                "bucket {b} is missing {} gradients at the end of backward",
                self.pending[b]
            )));
        }
        let loss = if let Some(tx) = self.tx.clone() {
            let mut reduced = vec![None; self.buckets.len()];
            while self.in_flight > 0 {
                match self.recv()? {
                    Done::Reduced(b, data) => reduced[b] = Some(data),
                    _ => unreachable!("only buckets are in flight"),
                }
                self.in_flight -= 1;
            }
            for (b, data) in reduced.into_iter().enumerate() {
                let data = data.expect("every bucket reduced");
                let mut at = 0;
                for &i in &self.buckets[b] {
                    let n = self.shapes[i].elem_count();
                    let t = Tensor::from_slice(
                        &data[at..at + n],
                        self.shapes[i].clone(),
                        &self.device,
                    )?;
                    self.grads[i] = Some(t);
                    at += n;
                }
            }
            tx.send(Work::Scalar(loss))
                .map_err(|_| TrainError::Collective(self.comm_gone()))?;
            match self.recv()? {
                Done::Scalar(x) => x,
                _ => unreachable!("a scalar was asked for"),
            }
        } else {
            loss
        };
        for (b, ps) in self.buckets.iter().enumerate() {
            self.pending[b] = ps.len();
        }
        let grads = self
            .grads
            .iter_mut()
            .map(|g| g.take().expect("every gradient"))
            .collect();
        Ok((grads, loss))
    }

    /// Makes every replica's `flat` equal to rank `root`'s.
    pub fn broadcast(&mut self, root: usize, flat: Vec<f32>) -> Result<Vec<f32>, TrainError> {
        let Some(tx) = &self.tx else {
            return Ok(flat);
        };
        tx.send(Work::Broadcast(root, flat))
            .map_err(|_| TrainError::Collective(self.comm_gone()))?;
        match self.recv()? {
            Done::Broadcast(v) => Ok(v),
            _ => unreachable!("a broadcast was asked for"),
        }
    }

    /// All-reduces a few numbers with `op` (bookkeeping, not gradients).
    pub fn all_reduce_small(&mut self, v: Vec<f64>, op: ReduceOp) -> Result<Vec<f64>, TrainError> {
        let Some(tx) = &self.tx else {
            return Ok(v);
        };
        tx.send(Work::Small(v, op))
            .map_err(|_| TrainError::Collective(self.comm_gone()))?;
        match self.recv()? {
            Done::Small(v) => Ok(v),
            _ => unreachable!("a small all-reduce was asked for"),
        }
    }
}

impl Drop for Ddp {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn comm_loop(mut c: Communicator, rx: Receiver<Work>, tx: Sender<Result<Done, CollectiveError>>) {
    for w in rx {
        let res = match w {
            Work::Reduce(b, mut data) => c
                .all_reduce(&mut data, ReduceOp::Sum)
                .map(|_| Done::Reduced(b, data)),
            Work::Scalar(x) => {
                let mut v = [x];
                c.all_reduce(&mut v, ReduceOp::Sum)
                    .map(|_| Done::Scalar(v[0]))
            }
            Work::Broadcast(root, mut v) => c.broadcast(root, &mut v).map(|_| Done::Broadcast(v)),
            Work::Small(mut v, op) => c.all_reduce(&mut v, op).map(|_| Done::Small(v)),
        };
        let failed = res.is_err();
        if tx.send(res).is_err() || failed {
            // A failed communicator stays failed; dropping it closes the links.
            return;
        }
    }
}

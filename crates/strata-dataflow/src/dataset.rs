//! [`Dataset`]: the typed, lazily evaluated, partitioned collection (Spark's RDD).
//!
//! Transformations build lineage and return at once; actions run a job through the
//! scheduler. Closures run on the executor's threads, so they must be `Send + Sync`.

use crate::cache::StorageLevel;
use crate::context::Context;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::io;
use crate::rdd::cached::Cached;
use crate::rdd::narrow::{MapPartitions, PartitionFn, Union, ZipPartitions, partition_fn};
use crate::rdd::{BoxIter, Rdd, RddId};
use crate::scheduler::dag::{ResultFn, run_job};
use crate::task::TaskContext;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// A partitioned collection of `T`, computed lazily from its lineage.
pub struct Dataset<T> {
    pub(crate) ctx: Context,
    pub(crate) rdd: Arc<dyn Rdd<T>>,
}

impl<T> Clone for Dataset<T> {
    fn clone(&self) -> Self {
        Dataset {
            ctx: self.ctx.clone(),
            rdd: self.rdd.clone(),
        }
    }
}

impl<T: Data> Dataset<T> {
    pub(crate) fn from_rdd(ctx: Context, rdd: Arc<dyn Rdd<T>>) -> Self {
        Dataset { ctx, rdd }
    }

    /// The context this dataset belongs to.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The lineage node's id.
    pub fn id(&self) -> RddId {
        self.rdd.id()
    }

    /// Number of partitions.
    pub fn num_partitions(&self) -> usize {
        self.rdd.num_partitions()
    }

    pub(crate) fn with_fn<U: Data>(&self, name: &'static str, f: PartitionFn<T, U>) -> Dataset<U> {
        self.ctx.wrap(Arc::new(MapPartitions {
            id: self.ctx.new_id(),
            name,
            parent: self.rdd.clone(),
            f,
        }))
    }

    /// Applies `f` to every element.
    pub fn map<U: Data, F: Fn(T) -> U + Send + Sync + 'static>(&self, f: F) -> Dataset<U> {
        let f = Arc::new(f);
        self.with_fn(
            "map",
            partition_fn(move |_, _, it: BoxIter<'_, T>| {
                let f = f.clone();
                Box::new(it.map(move |x| f(x)))
            }),
        )
    }

    /// Applies `f` to every element and flattens the results.
    pub fn flat_map<U: Data, I, F>(&self, f: F) -> Dataset<U>
    where
        I: IntoIterator<Item = U> + 'static,
        F: Fn(T) -> I + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.with_fn(
            "flat_map",
            partition_fn(move |_, _, it: BoxIter<'_, T>| {
                let f = f.clone();
                Box::new(it.flat_map(move |x| f(x)))
            }),
        )
    }

    /// Like [`Dataset::flat_map`], but `f` may fail. The first error fails the task; an
    /// [`Error::Input`] fails the job at once with that message (no retries).
    pub fn try_flat_map<U: Data, I, F>(&self, f: F) -> Dataset<U>
    where
        I: IntoIterator<Item = U> + 'static,
        F: Fn(T) -> Result<I> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.with_fn(
            "try_flat_map",
            partition_fn(move |_, tc, it: BoxIter<'_, T>| {
                let f = f.clone();
                Box::new(
                    it.map_while(move |x| match f(x) {
                        Ok(i) => Some(i),
                        Err(e) => {
                            tc.fail(e);
                            None
                        }
                    })
                    .flatten(),
                )
            }),
        )
    }

    /// Keeps the elements for which `f` is true.
    pub fn filter<F: Fn(&T) -> bool + Send + Sync + 'static>(&self, f: F) -> Dataset<T> {
        let f = Arc::new(f);
        self.with_fn(
            "filter",
            partition_fn(move |_, _, it: BoxIter<'_, T>| {
                let f = f.clone();
                Box::new(it.filter(move |x| f(x)))
            }),
        )
    }

    /// Transforms each partition as a whole: `f(partition_index, elements)`.
    pub fn map_partitions<U: Data, F>(&self, f: F) -> Dataset<U>
    where
        F: for<'a> Fn(usize, BoxIter<'a, T>) -> BoxIter<'a, U> + Send + Sync + 'static,
    {
        self.with_fn("map_partitions", partition_fn(move |p, _, it| f(p, it)))
    }

    /// Pairs every element with a key computed from it.
    pub fn key_by<K: Data, F: Fn(&T) -> K + Send + Sync + 'static>(&self, f: F) -> Dataset<(K, T)> {
        self.map(move |x| (f(&x), x))
    }

    /// The elements of both datasets (partitions of `self`, then of `other`).
    pub fn union(&self, other: &Dataset<T>) -> Dataset<T> {
        self.ctx.wrap(Arc::new(Union {
            id: self.ctx.new_id(),
            parents: vec![self.rdd.clone(), other.rdd.clone()],
        }))
    }

    /// Combines partition `i` of `self` and of `other` (which must have as many partitions).
    pub fn zip_partitions<B: Data, U: Data, F>(
        &self,
        other: &Dataset<B>,
        f: F,
    ) -> Result<Dataset<U>>
    where
        F: for<'a> Fn(BoxIter<'a, T>, BoxIter<'a, B>) -> BoxIter<'a, U> + Send + Sync + 'static,
    {
        if self.num_partitions() != other.num_partitions() {
            return Err(Error::Input(format!(
                "zip_partitions needs equal partition counts, got {} and {}",
                self.num_partitions(),
                other.num_partitions()
            )));
        }
        Ok(self.ctx.wrap(Arc::new(ZipPartitions {
            id: self.ctx.new_id(),
            left: self.rdd.clone(),
            right: other.rdd.clone(),
            f: Arc::new(f),
        })))
    }

    /// A random sample: each element kept with probability `fraction` (or, with
    /// replacement, a Poisson(`fraction`) number of times), reproducible for a given `seed`.
    pub fn sample(&self, with_replacement: bool, fraction: f64, seed: u64) -> Dataset<T> {
        self.with_fn(
            "sample",
            partition_fn(move |p, _, it: BoxIter<'_, T>| {
                let mut rng =
                    SmallRng::seed_from_u64(seed ^ (p as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                if with_replacement {
                    let limit = (-fraction).exp();
                    Box::new(it.flat_map(move |x| {
                        // Knuth's Poisson sampler: fine for the small means sampling uses.
                        let mut k = 0usize;
                        let mut prod: f64 = rng.r#gen();
                        while prod > limit {
                            k += 1;
                            prod *= rng.r#gen::<f64>();
                        }
                        std::iter::repeat_n(x, k)
                    }))
                } else {
                    Box::new(it.filter(move |_| rng.r#gen::<f64>() < fraction))
                }
            }),
        )
    }

    /// Pairs each element with its index in the dataset's order (runs a job to count the
    /// partitions first).
    pub fn zip_with_index(&self) -> Result<Dataset<(T, u64)>> {
        let counts = self.run("zip_with_index counts", |_, it| Ok(it.count() as u64))?;
        let mut offsets = Vec::with_capacity(counts.len());
        let mut acc = 0;
        for c in counts {
            offsets.push(acc);
            acc += c;
        }
        let offsets = Arc::new(offsets);
        Ok(self.with_fn(
            "zip_with_index",
            partition_fn(move |p, _, it: BoxIter<'_, T>| {
                let start = offsets[p];
                Box::new(it.enumerate().map(move |(i, x)| (x, start + i as u64)))
            }),
        ))
    }

    /// Keeps computed partitions at `level` for reuse by later jobs. Returns the persisted
    /// dataset; use it (not `self`) downstream. Lost partitions are recomputed from lineage.
    pub fn persist(&self, level: StorageLevel) -> Dataset<T> {
        self.ctx.wrap(Arc::new(Cached {
            id: self.ctx.new_id(),
            parent: self.rdd.clone(),
            level,
            blocks: self.ctx.inner.blocks.clone(),
            scratch: self.ctx.inner.shuffle.clone(),
            metrics: self.ctx.inner.metrics.clone(),
        }))
    }

    /// `persist(StorageLevel::MemoryOnly)`.
    pub fn cache(&self) -> Dataset<T> {
        self.persist(StorageLevel::MemoryOnly)
    }

    /// Drops the cached partitions of a persisted dataset (they are recomputed if needed).
    pub fn unpersist(&self) {
        self.ctx.inner.blocks.remove_rdd(self.id());
    }

    /// Drops one cached partition, as if its executor had lost it; returns whether it was
    /// cached. The next job recomputes it from lineage.
    pub fn evict_cached_partition(&self, partition: usize) -> bool {
        self.ctx.inner.blocks.remove(self.id(), partition)
    }

    /// How many partitions of a persisted dataset are cached.
    pub fn cached_partitions(&self) -> usize {
        self.ctx.inner.blocks.cached_partitions(self.id())
    }

    /// Runs `f` on every partition and returns the results in partition order.
    pub fn run<R: Data, F>(&self, description: &str, f: F) -> Result<Vec<R>>
    where
        F: for<'a> Fn(&'a TaskContext, BoxIter<'a, T>) -> Result<R> + Send + Sync + 'static,
    {
        let parts = (0..self.num_partitions()).collect();
        self.run_on(description, parts, f)
    }

    /// For a dataset read straight from a shuffle (`partition_by`, ...): runs the shuffle's
    /// map side if its outputs are not all there (a job with no result tasks) and returns
    /// the bytes written for each reduce partition. The same numbers in every process of a
    /// cluster application (the driver's). For decisions at a stage boundary (adaptive
    /// execution: broadcast a small side, coalesce small partitions). `None` for a dataset
    /// that does not read a shuffle directly.
    pub fn shuffle_output_bytes(&self, description: &str) -> Result<Option<Vec<u64>>> {
        let deps = self.rdd.clone().as_base().dependencies();
        let Some(dep) = deps.into_iter().find_map(|d| match d {
            crate::rdd::Dependency::Shuffle(s) => Some(s),
            crate::rdd::Dependency::Narrow(_) => None,
        }) else {
            return Ok(None);
        };
        self.run_on::<(), _>(description, Vec::new(), |_, _| Ok(()))?;
        let inner = self.ctx.inner.clone();
        let reduces = self.num_partitions();
        self.ctx
            .on_driver(&format!("{description}: sizes"), move || {
                let mut bytes = vec![0u64; reduces];
                for status in inner.shuffle.map_outputs(dep.shuffle_id()).iter().flatten() {
                    for (b, seg) in bytes.iter_mut().zip(status.segments.iter()) {
                        *b += seg.len;
                    }
                }
                Ok(bytes)
            })
            .map(Some)
    }

    /// For a dataset read straight from a shuffle: the same read with adjacent reduce
    /// partitions merged until each holds about `target` bytes (Spark's adaptive
    /// coalescing), so that many small partitions do not each cost a task. Runs the map
    /// side first ([`Dataset::shuffle_output_bytes`]); the grouping is the driver's in every
    /// process. `self` unchanged when it does not read a shuffle.
    pub fn coalesce_shuffle(&self, description: &str, target: u64) -> Result<Dataset<T>> {
        let Some(bytes) = self.shuffle_output_bytes(description)? else {
            return Ok(self.clone());
        };
        let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
        let mut size = 0u64;
        for (i, b) in bytes.iter().enumerate() {
            match groups.last_mut() {
                Some(g) if size + b <= target.max(1) => {
                    g.end = i + 1;
                    size += b;
                }
                _ => {
                    groups.push(i..i + 1);
                    size = *b;
                }
            }
        }
        if groups.len() == bytes.len() {
            return Ok(self.clone());
        }
        match self.rdd.coalesced(self.ctx.new_id(), Arc::new(groups)) {
            Some(rdd) => Ok(self.ctx.wrap(rdd)),
            None => Ok(self.clone()),
        }
    }

    fn run_on<R: Data, F>(&self, description: &str, parts: Vec<usize>, f: F) -> Result<Vec<R>>
    where
        F: for<'a> Fn(&'a TaskContext, BoxIter<'a, T>) -> Result<R> + Send + Sync + 'static,
    {
        let func: ResultFn<T, R> = Arc::new(f);
        run_job(&self.ctx.inner, self.rdd.clone(), parts, description, func)
    }

    /// All elements, in partition order.
    pub fn collect(&self) -> Result<Vec<T>> {
        let parts = self.run("collect", |_, it| Ok(it.collect::<Vec<T>>()))?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// Number of elements.
    pub fn count(&self) -> Result<u64> {
        Ok(self
            .run("count", |_, it| Ok(it.count() as u64))?
            .into_iter()
            .sum())
    }

    /// Combines all elements with an associative, commutative `f`; `None` if empty.
    pub fn reduce<F: Fn(T, T) -> T + Send + Sync + 'static>(&self, f: F) -> Result<Option<T>> {
        let f = Arc::new(f);
        let g = f.clone();
        let parts = self.run("reduce", move |_, it| Ok(it.reduce(|a, b| g(a, b))))?;
        Ok(parts.into_iter().flatten().reduce(|a, b| f(a, b)))
    }

    /// Folds each partition from `zero`, then the partition results from `zero`.
    pub fn fold<F: Fn(T, T) -> T + Send + Sync + 'static>(&self, zero: T, f: F) -> Result<T> {
        let f = Arc::new(f);
        let g = f.clone();
        let z = zero.clone();
        let parts = self.run("fold", move |_, it| Ok(it.fold(z.clone(), |a, b| g(a, b))))?;
        Ok(parts.into_iter().fold(zero, |a, b| f(a, b)))
    }

    /// The first `n` elements, scanning as few partitions as it can (one, then four times
    /// as many each round).
    pub fn take(&self, n: usize) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let total = self.num_partitions();
        let mut next = 0;
        let mut batch = 1;
        while out.len() < n && next < total {
            let parts: Vec<usize> = (next..(next + batch).min(total)).collect();
            next += parts.len();
            let want = n - out.len();
            let got = self.run_on("take", parts, move |_, it| {
                Ok(it.take(want).collect::<Vec<T>>())
            })?;
            for part in got {
                let room = n - out.len();
                out.extend(part.into_iter().take(room));
            }
            batch *= 4;
        }
        Ok(out)
    }

    /// The first element, if any.
    pub fn first(&self) -> Result<Option<T>> {
        Ok(self.take(1)?.into_iter().next())
    }

    /// Runs `f` on every element, on the executors.
    pub fn for_each<F: Fn(T) + Send + Sync + 'static>(&self, f: F) -> Result<()> {
        self.run("for_each", move |_, it| {
            it.for_each(&f);
            Ok(())
        })?;
        Ok(())
    }

    /// Writes each partition with `write` to `DIR/part-NNNNN` (committed atomically when the
    /// task succeeds) and marks the directory complete with `_SUCCESS`. Fails if `dir` exists
    /// and is not empty.
    pub fn save_partitions<F>(&self, dir: impl AsRef<Path>, write: F) -> Result<()>
    where
        F: for<'a> Fn(&mut dyn Write, BoxIter<'a, T>) -> std::io::Result<()>
            + Send
            + Sync
            + 'static,
    {
        let out = io::OutputDir::new(dir.as_ref(), &self.ctx.inner.cluster);
        // In a cluster only the driver prepares and commits; executors just run the tasks.
        let driver = self.ctx.is_driver();
        if driver {
            out.prepare()?;
        }
        let o = out.clone();
        let files = self.run("save", move |tc, it| {
            let (mut w, name) = o.create_attempt(tc.partition, tc.attempt)?;
            let fail = |e: std::io::Error| io::output_err(std::path::Path::new(&name), e);
            write(&mut w, it).map_err(fail)?;
            w.flush().map_err(fail)?;
            Ok(name)
        });
        if !driver {
            return files.map(|_| ());
        }
        // The driver commits: only the successful attempt of each partition is renamed. A
        // failed job leaves nothing behind (no `_temporary`, no partial part files).
        let done = files.and_then(|files| {
            for (p, name) in files.into_iter().enumerate() {
                out.commit(&name, p)?;
            }
            out.finish()
        });
        if done.is_err() {
            out.abort();
        }
        done
    }
}

impl<T: Data + std::fmt::Display> Dataset<T> {
    /// Writes one line per element (its `Display` form) to `DIR/part-NNNNN` files.
    pub fn save_as_text_file(&self, dir: impl AsRef<Path>) -> Result<()> {
        self.save_partitions(dir, |w, it| {
            for x in it {
                writeln!(w, "{x}")?;
            }
            Ok(())
        })
    }
}

//! The MapReduce programming model (Dean & Ghemawat), expressed on the dataflow engine.
//!
//! Input splits are byte ranges of text files; the mapper sees `(offset, line)` and emits
//! key-value pairs; an optional combiner folds a map task's values per key before the
//! shuffle; the partitioner (hash by default) picks the reduce task; each reduce task sorts
//! its keys (external sort, spilling under the budget) and calls the reducer once per key
//! with all of its values, in key order; reducer output lines go to `OUT/part-NNNNN`.
//!
//! ```
//! use strata_dataflow::{Context, mapreduce::MapReduceJob};
//! # let dir = tempfile::tempdir().unwrap();
//! # std::fs::write(dir.path().join("in.txt"), "a b a\nb a\n").unwrap();
//! let ctx = Context::local().unwrap();
//! let job = MapReduceJob::new(
//!     |_offset, line: &str, emit: &mut Vec<(String, u64)>| {
//!         for w in line.split_whitespace() { emit.push((w.to_string(), 1)); }
//!     },
//!     |word: &String, counts: Vec<u64>, out: &mut Vec<String>| {
//!         out.push(format!("{word}\t{}", counts.iter().sum::<u64>()));
//!     },
//! )
//! .combiner(|a, b| a + b)
//! .reducers(2);
//! let input = dir.path().join("in.txt").display().to_string();
//! job.run(&ctx, &[input], dir.path().join("out")).unwrap();
//! ```

use crate::context::Context;
use crate::data::{Data, Key};
use crate::dataset::Dataset;
use crate::error::Result;
use crate::ops::aggregate::{Aggregator, partial_combine};
use crate::ops::sort::external_sort;
use crate::pair::group_sorted;
use crate::rdd::narrow::partition_fn;
use crate::shuffle::{HashPartitioner, Partitioner};
use std::fmt::Display;
use std::path::Path;
use std::sync::Arc;

type MapFn<K, V> = Arc<dyn Fn(u64, &str, &mut Vec<(K, V)>) + Send + Sync>;
type ReduceFn<K, V, O> = Arc<dyn Fn(&K, Vec<V>, &mut Vec<O>) + Send + Sync>;

/// A MapReduce job: mapper, optional combiner and partitioner, reducer.
pub struct MapReduceJob<K, V, O> {
    mapper: MapFn<K, V>,
    reducer: ReduceFn<K, V, O>,
    combiner: Option<Arc<dyn Fn(V, V) -> V + Send + Sync>>,
    partitioner: Option<Arc<dyn Partitioner<K>>>,
    reducers: Option<usize>,
}

impl<K: Key + Ord, V: Data, O: Data + Display> MapReduceJob<K, V, O> {
    /// A job from a mapper `(offset, line, emit)` and a reducer `(key, values, output)`.
    pub fn new(
        mapper: impl Fn(u64, &str, &mut Vec<(K, V)>) + Send + Sync + 'static,
        reducer: impl Fn(&K, Vec<V>, &mut Vec<O>) + Send + Sync + 'static,
    ) -> Self {
        MapReduceJob {
            mapper: Arc::new(mapper),
            reducer: Arc::new(reducer),
            combiner: None,
            partitioner: None,
            reducers: None,
        }
    }

    /// Folds values of a key inside each map task (must be associative and commutative).
    pub fn combiner(mut self, f: impl Fn(V, V) -> V + Send + Sync + 'static) -> Self {
        self.combiner = Some(Arc::new(f));
        self
    }

    /// Chooses the reduce task of each key (default: hash of the key).
    pub fn partitioner(mut self, p: Arc<dyn Partitioner<K>>) -> Self {
        self.partitioner = Some(p);
        self
    }

    /// Number of reduce tasks (default: the context's `default_partitions`).
    pub fn reducers(mut self, n: usize) -> Self {
        self.reducers = Some(n.max(1));
        self
    }

    /// The reducer output as a dataset, without writing it.
    pub fn plan<P: AsRef<str>>(&self, ctx: &Context, inputs: &[P]) -> Result<Dataset<O>> {
        let mapper = self.mapper.clone();
        let mapped: Dataset<(K, V)> =
            ctx.text_file_with_offsets(inputs)?
                .flat_map(move |(off, line)| {
                    let mut out = Vec::new();
                    mapper(off, &line, &mut out);
                    out
                });
        let mapped = match &self.combiner {
            Some(c) => {
                let (c1, c2) = (c.clone(), c.clone());
                let agg: Aggregator<V, V> = Aggregator {
                    create: Arc::new(|v| v),
                    merge_value: Arc::new(move |a, b| c1(a, b)),
                    merge_combiners: Arc::new(move |a, b| c2(a, b)),
                };
                mapped.with_fn(
                    "combiner",
                    partition_fn(move |_, tc, it| partial_combine(tc, it, agg.clone())),
                )
            }
            None => mapped,
        };
        let partitioner = self.partitioner.clone().unwrap_or_else(|| {
            Arc::new(HashPartitioner::new(
                self.reducers.unwrap_or(ctx.config().default_partitions),
            ))
        });
        let reducer = self.reducer.clone();
        Ok(mapped.partition_by(partitioner).with_fn(
            "reduce",
            partition_fn(move |_, tc, it| {
                let reducer = reducer.clone();
                Box::new(
                    group_sorted(external_sort(tc, it, false)).flat_map(move |(k, vs)| {
                        let mut out = Vec::new();
                        reducer(&k, vs, &mut out);
                        out
                    }),
                )
            }),
        ))
    }

    /// Runs the job, writing reducer output lines to `out/part-NNNNN`.
    pub fn run<P: AsRef<str>>(
        &self,
        ctx: &Context,
        inputs: &[P],
        out: impl AsRef<Path>,
    ) -> Result<()> {
        self.plan(ctx, inputs)?.save_as_text_file(out)
    }
}

//! Key-value transformations on `Dataset<(K, V)>`: the wide (shuffle) operations.
//!
//! Every wide operation is one shuffle plus narrow, memory-bounded operators around it:
//! `reduce_by_key` = map-side partial combine → shuffle → reduce-side external aggregation;
//! `group_by_key` and `cogroup` skip the map-side combine (it would not shrink the data);
//! `sort_by_key` = range partitioning from a sample → shuffle → external sort; `join` is a
//! `cogroup` followed by a per-key cross product.

use crate::data::{Data, Key};
use crate::dataset::Dataset;
use crate::error::Result;
use crate::ops::aggregate::{Aggregator, external_aggregate, partial_combine};
use crate::ops::sort::external_sort;
use crate::rdd::BoxIter;
use crate::rdd::narrow::partition_fn;
use crate::rdd::shuffled::Shuffled;
use crate::shuffle::{HashPartitioner, Partitioner, RangePartitioner, ShuffleDependency};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One side of a co-grouped record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Side<V, W> {
    /// From the left dataset.
    Left(V),
    /// From the right dataset.
    Right(W),
}

impl<K: Key, V: Data> Dataset<(K, V)> {
    /// Moves every record to the partition `partitioner` assigns its key.
    pub fn partition_by(&self, partitioner: Arc<dyn Partitioner<K>>) -> Dataset<(K, V)> {
        let dep = Arc::new(ShuffleDependency::new(
            self.ctx.new_id(),
            self.rdd.clone(),
            partitioner,
            self.ctx.inner.shuffle.clone(),
        ));
        self.ctx.wrap(Arc::new(Shuffled {
            id: self.ctx.new_id(),
            dep,
            groups: None,
        }))
    }

    /// Hash-partitions into `partitions` partitions.
    pub fn repartition_by_key(&self, partitions: usize) -> Dataset<(K, V)> {
        self.partition_by(Arc::new(HashPartitioner::new(partitions)))
    }

    /// The general aggregation: values of each key fold into a combiner `C`.
    pub fn combine_by_key_with<C: Data>(
        &self,
        agg: Aggregator<V, C>,
        partitioner: Arc<dyn Partitioner<K>>,
        map_side_combine: bool,
    ) -> Dataset<(K, C)> {
        if map_side_combine {
            let a = agg.clone();
            let combined: Dataset<(K, C)> = self.with_fn(
                "combine (map side)",
                partition_fn(move |_, tc, it| partial_combine(tc, it, a.clone())),
            );
            let merge: Aggregator<C, C> = Aggregator {
                create: Arc::new(|c| c),
                merge_value: agg.merge_combiners.clone(),
                merge_combiners: agg.merge_combiners,
            };
            combined.partition_by(partitioner).with_fn(
                "combine (reduce side)",
                partition_fn(move |_, tc, it| external_aggregate(tc, it, merge.clone())),
            )
        } else {
            self.partition_by(partitioner).with_fn(
                "aggregate",
                partition_fn(move |_, tc, it| external_aggregate(tc, it, agg.clone())),
            )
        }
    }

    /// Spark's `combineByKey`, hash-partitioned into `partitions`, with map-side combine.
    pub fn combine_by_key<C: Data>(
        &self,
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
        partitions: usize,
    ) -> Dataset<(K, C)> {
        self.combine_by_key_with(
            Aggregator {
                create: Arc::new(create),
                merge_value: Arc::new(merge_value),
                merge_combiners: Arc::new(merge_combiners),
            },
            Arc::new(HashPartitioner::new(partitions)),
            true,
        )
    }

    /// Merges the values of each key with an associative, commutative `f`, combining on the
    /// map side first. Keeps the number of partitions.
    pub fn reduce_by_key(&self, f: impl Fn(V, V) -> V + Send + Sync + 'static) -> Dataset<(K, V)> {
        self.reduce_by_key_with(self.num_partitions(), f)
    }

    /// [`Dataset::reduce_by_key`] into `partitions` partitions.
    pub fn reduce_by_key_with(
        &self,
        partitions: usize,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> Dataset<(K, V)> {
        let f = Arc::new(f);
        let g = f.clone();
        self.combine_by_key_with(
            Aggregator {
                create: Arc::new(|v| v),
                merge_value: Arc::new(move |a, b| f(a, b)),
                merge_combiners: Arc::new(move |a, b| g(a, b)),
            },
            Arc::new(HashPartitioner::new(partitions)),
            true,
        )
    }

    /// Spark's `aggregateByKey`: fold values into `zero` per key with `seq`, merge with `comb`.
    pub fn aggregate_by_key<U: Data>(
        &self,
        zero: U,
        seq: impl Fn(U, V) -> U + Send + Sync + 'static,
        comb: impl Fn(U, U) -> U + Send + Sync + 'static,
    ) -> Dataset<(K, U)> {
        let seq = Arc::new(seq);
        let s2 = seq.clone();
        let partitions = self.num_partitions();
        self.combine_by_key(
            move |v| s2(zero.clone(), v),
            move |u, v| seq(u, v),
            comb,
            partitions,
        )
    }

    /// All values of each key, in one `Vec` (no map-side combine; spills under the budget).
    pub fn group_by_key(&self) -> Dataset<(K, Vec<V>)> {
        self.group_by_key_with(self.num_partitions())
    }

    /// [`Dataset::group_by_key`] into `partitions` partitions.
    pub fn group_by_key_with(&self, partitions: usize) -> Dataset<(K, Vec<V>)> {
        self.combine_by_key_with(
            Aggregator {
                create: Arc::new(|v| vec![v]),
                merge_value: Arc::new(|mut c: Vec<V>, v| {
                    c.push(v);
                    c
                }),
                merge_combiners: Arc::new(|mut a: Vec<V>, b| {
                    a.extend(b);
                    a
                }),
            },
            Arc::new(HashPartitioner::new(partitions)),
            false,
        )
    }

    /// Applies `f` to each value, keeping keys (and partitioning).
    pub fn map_values<U: Data>(
        &self,
        f: impl Fn(V) -> U + Send + Sync + 'static,
    ) -> Dataset<(K, U)> {
        self.map(move |(k, v)| (k, f(v)))
    }

    /// The keys.
    pub fn keys(&self) -> Dataset<K> {
        self.map(|(k, _)| k)
    }

    /// The values.
    pub fn values(&self) -> Dataset<V> {
        self.map(|(_, v)| v)
    }

    /// For each key in either dataset, its values in each.
    pub fn cogroup<W: Data>(&self, other: &Dataset<(K, W)>) -> Dataset<(K, (Vec<V>, Vec<W>))> {
        let partitions = self.num_partitions().max(other.num_partitions());
        let left = self.map(|(k, v)| (k, Side::<V, W>::Left(v)));
        let right = other.map(|(k, w)| (k, Side::<V, W>::Right(w)));
        let add = |(mut l, mut r): (Vec<V>, Vec<W>), s: Side<V, W>| {
            match s {
                Side::Left(v) => l.push(v),
                Side::Right(w) => r.push(w),
            }
            (l, r)
        };
        left.union(&right).combine_by_key_with(
            Aggregator {
                create: Arc::new(move |s| add((Vec::new(), Vec::new()), s)),
                merge_value: Arc::new(add),
                merge_combiners: Arc::new(|(mut l, mut r): (Vec<V>, Vec<W>), (l2, r2)| {
                    l.extend(l2);
                    r.extend(r2);
                    (l, r)
                }),
            },
            Arc::new(HashPartitioner::new(partitions)),
            false,
        )
    }

    /// Inner join: one output per pair of values with equal keys.
    pub fn join<W: Data>(&self, other: &Dataset<(K, W)>) -> Dataset<(K, (V, W))> {
        self.cogroup(other).flat_map(|(k, (vs, ws))| {
            let mut out = Vec::with_capacity(vs.len() * ws.len());
            for v in &vs {
                for w in &ws {
                    out.push((k.clone(), (v.clone(), w.clone())));
                }
            }
            out
        })
    }

    /// Left outer join: every left record, with each matching right value or `None`.
    pub fn left_outer_join<W: Data>(
        &self,
        other: &Dataset<(K, W)>,
    ) -> Dataset<(K, (V, Option<W>))> {
        self.cogroup(other).flat_map(|(k, (vs, ws))| {
            let mut out = Vec::with_capacity(vs.len() * ws.len().max(1));
            for v in &vs {
                if ws.is_empty() {
                    out.push((k.clone(), (v.clone(), None)));
                }
                for w in &ws {
                    out.push((k.clone(), (v.clone(), Some(w.clone()))));
                }
            }
            out
        })
    }
}

impl<K: Key + Ord, V: Data> Dataset<(K, V)> {
    /// Sorts by key into `partitions` range partitions (fewer if there are few distinct
    /// keys): partition `i`'s keys all come before partition `i+1`'s. Runs a job to sample
    /// the keys; persist the input first if it is expensive to compute twice.
    pub fn sort_by_key(&self, ascending: bool, partitions: usize) -> Result<Dataset<(K, V)>> {
        let partitioner = self.range_partitioner(ascending, partitions)?;
        Ok(self.partition_by(Arc::new(partitioner)).with_fn(
            "sort",
            partition_fn(move |_, tc, it| external_sort(tc, it, !ascending)),
        ))
    }

    /// Split points for `partitions` ranges of roughly equal size, from a reservoir sample of
    /// each partition weighted by the partition's size (as Spark does).
    pub fn range_partitioner(
        &self,
        ascending: bool,
        partitions: usize,
    ) -> Result<RangePartitioner<K>> {
        let per_part = (60 * partitions / self.num_partitions().max(1)).clamp(20, 10_000);
        let samples = self.run("sample keys for range partitioning", move |tc, it| {
            let mut rng = SmallRng::seed_from_u64(tc.partition as u64);
            let mut reservoir: Vec<K> = Vec::with_capacity(per_part);
            let mut n = 0u64;
            for (k, _) in it {
                n += 1;
                if reservoir.len() < per_part {
                    reservoir.push(k);
                } else {
                    let j = rng.gen_range(0..n);
                    if (j as usize) < per_part {
                        reservoir[j as usize] = k;
                    }
                }
            }
            let weight = if reservoir.is_empty() {
                0.0
            } else {
                n as f64 / reservoir.len() as f64
            };
            Ok((reservoir, weight))
        })?;
        let mut weighted: Vec<(K, f64)> = samples
            .into_iter()
            .flat_map(|(keys, w)| keys.into_iter().map(move |k| (k, w)))
            .collect();
        weighted.sort_by(|a, b| a.0.cmp(&b.0));
        let total: f64 = weighted.iter().map(|x| x.1).sum();
        let step = total / partitions.max(1) as f64;
        let mut bounds: Vec<K> = Vec::new();
        let mut cum = 0.0;
        let mut target = step;
        for (k, w) in weighted {
            cum += w;
            if cum >= target && bounds.len() + 1 < partitions {
                if bounds.last() != Some(&k) {
                    bounds.push(k);
                }
                target += step;
            }
        }
        Ok(RangePartitioner::from_bounds(bounds, ascending))
    }
}

impl<T: Key> Dataset<T> {
    /// The distinct elements.
    pub fn distinct(&self) -> Dataset<T> {
        self.map(|x| (x, ())).reduce_by_key(|_, _| ()).keys()
    }
}

/// Groups a key-sorted stream into `(key, values)` runs.
pub(crate) fn group_sorted<'a, K: PartialEq + 'a, V: 'a>(
    it: BoxIter<'a, (K, V)>,
) -> BoxIter<'a, (K, Vec<V>)> {
    let mut it = it.peekable();
    Box::new(std::iter::from_fn(move || {
        let (k, v) = it.next()?;
        let mut vs = vec![v];
        while let Some((k2, _)) = it.peek() {
            if *k2 != k {
                break;
            }
            vs.push(it.next().expect("peeked").1);
        }
        Some((k, vs))
    }))
}

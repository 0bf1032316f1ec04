//! Hash aggregation, in two phases when it can: each partition aggregates its rows
//! (in parallel), then the partial results are merged (sums of sums, sums of counts, min of
//! mins; an average travels as a sum and a count). `COUNT(DISTINCT)` runs in one phase.
//! When the partial results are many rows (a grouping by a near-unique key), they are split
//! by key hash into [`MERGE_PARTS`] partitions merged in parallel, each its own output
//! partition: the merge is not one thread's work.
//! Group keys are encoded with arrow's row format, so any mix of key types hashes as bytes.
//!
//! Under memory pressure (a thread's table passes its share of the budget) a thread writes
//! its partial states to key-hash buckets ([`spill::Buckets`]) and starts a fresh table;
//! at the end each bucket's partial states are merged on their own. `COUNT(DISTINCT)`
//! cannot be merged from partial states, so it buffers input rows and, when they pass the
//! budget, buckets the rows themselves by group key.

use super::{Ctx, Stream, spill};
use crate::error::{Result, SqlError};
use crate::expr::Expr;
use crate::plan::{AggCall, AggFunc};
use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, RecordBatch,
};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Sum,
    SumFloat,
    Count,
    CountStar,
    Min,
    Max,
    CountDistinct,
    /// `sum(DISTINCT x)`: distinct values kept per group, summed at the end.
    SumDistinct,
    /// The sum half of `avg(DISTINCT x)`.
    SumFloatDistinct,
    /// Moments (count, mean, M2) of raw values, for the variance family.
    Moments,
    /// Moments merged from partial moments.
    MomentsMerge,
    /// Moments of distinct values.
    MomentsDistinct,
    /// `train_logistic`: rows buffered, a model trained per group (see [`crate::ml`]).
    Logistic(crate::ml::Sgd),
    /// Models averaged, weighted by the rows each saw.
    LogisticMerge,
}

/// Partial moments travel packed: count, mean and M2 as three little-endian f64s.
const MOMENTS: DataType = DataType::FixedSizeBinary(24);

enum Acc {
    SumDec {
        vals: Vec<i128>,
        seen: Vec<bool>,
        scale: i8,
    },
    SumInt {
        vals: Vec<i64>,
        seen: Vec<bool>,
    },
    SumF {
        vals: Vec<f64>,
        seen: Vec<bool>,
    },
    Count(Vec<i64>),
    Extreme {
        max: bool,
        vals: Vec<Option<Vec<u8>>>,
        conv: RowConverter,
        bytes: usize,
    },
    /// Welford's running moments per group; `merge`: inputs are packed partial moments.
    Moments {
        n: Vec<f64>,
        mean: Vec<f64>,
        m2: Vec<f64>,
        merge: bool,
    },
    /// Per group, its packed rows `[label, x1..xd]` (flattened).
    Logistic {
        rows: Vec<Vec<f64>>,
        sgd: crate::ml::Sgd,
        /// Features per row.
        d: usize,
        floats: usize,
    },
    /// Per group, the row-weighted sum of models' `[intercept, w...]` and the rows.
    LogisticMerge {
        sums: Vec<Vec<f64>>,
        n: Vec<f64>,
    },
    Distinct {
        sets: Vec<FxHashSet<Vec<u8>>>,
        conv: RowConverter,
        bytes: usize,
        /// What to compute over each group's distinct values (`None`: count them).
        then: Option<Kind>,
    },
}

impl Acc {
    fn new(kind: Kind, ty: &DataType) -> Result<Acc> {
        Ok(match kind {
            Kind::Sum => match ty {
                DataType::Decimal128(_, s) => Acc::SumDec {
                    vals: vec![],
                    seen: vec![],
                    scale: *s,
                },
                t if t.is_integer() => Acc::SumInt {
                    vals: vec![],
                    seen: vec![],
                },
                t if t.is_floating() || t.is_null() => Acc::SumF {
                    vals: vec![],
                    seen: vec![],
                },
                t => return Err(SqlError::Plan(format!("SUM of a {t} value"))),
            },
            Kind::SumFloat => Acc::SumF {
                vals: vec![],
                seen: vec![],
            },
            Kind::Count | Kind::CountStar => Acc::Count(vec![]),
            Kind::Min | Kind::Max => Acc::Extreme {
                max: kind == Kind::Max,
                vals: vec![],
                conv: RowConverter::new(vec![SortField::new(ty.clone())])?,
                bytes: 0,
            },
            Kind::Moments | Kind::MomentsMerge => Acc::Moments {
                n: vec![],
                mean: vec![],
                m2: vec![],
                merge: kind == Kind::MomentsMerge,
            },
            Kind::Logistic(sgd) => Acc::Logistic {
                rows: vec![],
                sgd,
                d: match ty {
                    DataType::FixedSizeBinary(w) => (*w as usize / 8).saturating_sub(1),
                    t => {
                        return Err(SqlError::Internal(format!(
                            "train_logistic input of type {t}"
                        )));
                    }
                },
                floats: 0,
            },
            Kind::LogisticMerge => Acc::LogisticMerge {
                sums: vec![],
                n: vec![],
            },
            Kind::CountDistinct
            | Kind::SumDistinct
            | Kind::SumFloatDistinct
            | Kind::MomentsDistinct => Acc::Distinct {
                sets: vec![],
                conv: RowConverter::new(vec![SortField::new(ty.clone())])?,
                bytes: 0,
                then: match kind {
                    Kind::SumDistinct => Some(Kind::Sum),
                    Kind::SumFloatDistinct => Some(Kind::SumFloat),
                    Kind::MomentsDistinct => Some(Kind::Moments),
                    _ => None,
                },
            },
        })
    }

    fn resize(&mut self, n: usize) {
        match self {
            Acc::SumDec { vals, seen, .. } => {
                vals.resize(n, 0);
                seen.resize(n, false);
            }
            Acc::SumInt { vals, seen } => {
                vals.resize(n, 0);
                seen.resize(n, false);
            }
            Acc::SumF { vals, seen } => {
                vals.resize(n, 0.0);
                seen.resize(n, false);
            }
            Acc::Count(v) => v.resize(n, 0),
            Acc::Moments { n: c, mean, m2, .. } => {
                c.resize(n, 0.0);
                mean.resize(n, 0.0);
                m2.resize(n, 0.0);
            }
            Acc::Extreme { vals, .. } => vals.resize(n, None),
            Acc::Distinct { sets, .. } => sets.resize_with(n, FxHashSet::default),
            Acc::Logistic { rows, .. } => rows.resize_with(n, Vec::new),
            Acc::LogisticMerge { sums, n: c } => {
                sums.resize_with(n, Vec::new);
                c.resize(n, 0.0);
            }
        }
    }

    /// Approximate bytes held.
    fn memory(&self) -> usize {
        match self {
            Acc::SumDec { vals, .. } => vals.capacity() * 17,
            Acc::SumInt { vals, .. } => vals.capacity() * 9,
            Acc::SumF { vals, .. } => vals.capacity() * 9,
            Acc::Count(v) => v.capacity() * 8,
            Acc::Extreme { vals, bytes, .. } => vals.capacity() * 24 + bytes,
            Acc::Moments { n, .. } => n.capacity() * 24,
            Acc::Distinct { sets, bytes, .. } => sets.capacity() * 32 + bytes,
            Acc::Logistic { rows, floats, .. } => rows.capacity() * 24 + floats * 8,
            Acc::LogisticMerge { sums, .. } => sums.iter().map(|s| s.len() * 8 + 32).sum(),
        }
    }

    fn update(&mut self, groups: &[usize], input: Option<&ArrayRef>) -> Result<()> {
        let Some(a) = input else {
            if let Acc::Count(v) = self {
                for &g in groups {
                    v[g] += 1;
                }
            }
            return Ok(());
        };
        if a.data_type().is_null() {
            // Every value is NULL: no aggregate counts it (a NullArray has no null bitmap,
            // so the checks below would take its rows as valid).
            return Ok(());
        }
        match self {
            Acc::SumDec { vals, seen, .. } => {
                let a = a.as_primitive::<Decimal128Type>();
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        vals[g] = vals[g].checked_add(a.value(i)).ok_or_else(|| {
                            SqlError::Execution(
                                "decimal overflow in SUM: the sum passes 38 digits".into(),
                            )
                        })?;
                        seen[g] = true;
                    }
                }
            }
            Acc::Moments {
                n,
                mean,
                m2,
                merge: false,
            } => {
                // Decimals as their values (the mantissa over 10^scale).
                let c = arrow::compute::cast(a, &DataType::Float64)?;
                let a = c.as_primitive::<Float64Type>();
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        let x = a.value(i);
                        n[g] += 1.0;
                        let d = x - mean[g];
                        mean[g] += d / n[g];
                        m2[g] += d * (x - mean[g]);
                    }
                }
            }
            Acc::Moments {
                n,
                mean,
                m2,
                merge: true,
            } => {
                let a = a.as_fixed_size_binary();
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_null(i) {
                        continue;
                    }
                    let [nb, mb, m2b] = unpack(a.value(i));
                    if nb == 0.0 {
                        continue;
                    }
                    // Chan et al.: the spread between the two means, weighted.
                    let total = n[g] + nb;
                    let d = mb - mean[g];
                    m2[g] += m2b + d * d * n[g] * nb / total;
                    mean[g] += d * nb / total;
                    n[g] = total;
                }
            }
            Acc::SumInt { vals, seen } => {
                let c = arrow::compute::cast(a, &DataType::Int64)?;
                let a = c.as_primitive::<Int64Type>();
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        vals[g] = vals[g]
                            .checked_add(a.value(i))
                            .ok_or_else(|| SqlError::Execution("integer overflow in SUM".into()))?;
                        seen[g] = true;
                    }
                }
            }
            Acc::SumF { vals, seen } => {
                let c = arrow::compute::cast(a, &DataType::Float64)?;
                let a = c.as_primitive::<Float64Type>();
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        vals[g] += a.value(i);
                        seen[g] = true;
                    }
                }
            }
            Acc::Count(v) => {
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        v[g] += 1;
                    }
                }
            }
            Acc::Extreme {
                max,
                vals,
                conv,
                bytes,
            } => {
                let rows = conv.convert_columns(std::slice::from_ref(a))?;
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_null(i) {
                        continue;
                    }
                    let r = rows.row(i);
                    let better = match &vals[g] {
                        None => true,
                        Some(best) => {
                            let b = r.as_ref();
                            if *max {
                                b > best.as_slice()
                            } else {
                                b < best.as_slice()
                            }
                        }
                    };
                    if better {
                        *bytes += r.as_ref().len();
                        vals[g] = Some(r.as_ref().to_vec());
                    }
                }
            }
            Acc::Logistic { rows, floats, .. } => {
                let a = a.as_fixed_size_binary();
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        let v = crate::ml::unpack(a.value(i));
                        *floats += v.len();
                        rows[g].extend(v);
                    }
                }
            }
            Acc::LogisticMerge { sums, n } => {
                let a = a.as_binary::<i32>();
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_null(i) {
                        continue;
                    }
                    // [rows, intercept, w...]
                    let m = crate::ml::unpack(a.value(i));
                    if sums[g].is_empty() {
                        sums[g] = vec![0.0; m.len() - 1];
                    }
                    for (s, w) in sums[g].iter_mut().zip(&m[1..]) {
                        *s += m[0] * w;
                    }
                    n[g] += m[0];
                }
            }
            Acc::Distinct {
                sets, conv, bytes, ..
            } => {
                let rows = conv.convert_columns(std::slice::from_ref(a))?;
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_valid(i) && sets[g].insert(rows.row(i).as_ref().to_vec()) {
                        *bytes += rows.row(i).as_ref().len() + 32;
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self, out: &DataType) -> Result<ArrayRef> {
        Ok(match self {
            Acc::SumDec { vals, seen, scale } => {
                let a: Decimal128Array = vals
                    .into_iter()
                    .zip(seen)
                    .map(|(v, s)| s.then_some(v))
                    .collect();
                Arc::new(a.with_precision_and_scale(38, scale)?)
            }
            Acc::SumInt { vals, seen } => Arc::new(
                vals.into_iter()
                    .zip(seen)
                    .map(|(v, s)| s.then_some(v))
                    .collect::<Int64Array>(),
            ),
            Acc::SumF { vals, seen } => Arc::new(
                vals.into_iter()
                    .zip(seen)
                    .map(|(v, s)| s.then_some(v))
                    .collect::<Float64Array>(),
            ),
            Acc::Count(v) => Arc::new(Int64Array::from(v)),
            Acc::Moments { n, mean, m2, .. } => {
                let packed: Vec<Option<Vec<u8>>> = (0..n.len())
                    .map(|g| {
                        (n[g] > 0.0).then(|| {
                            [n[g], mean[g], m2[g]]
                                .iter()
                                .flat_map(|v| v.to_le_bytes())
                                .collect()
                        })
                    })
                    .collect();
                Arc::new(
                    arrow::array::FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                        packed.into_iter(),
                        24,
                    )?,
                )
            }
            Acc::Extreme { vals, conv, .. } => {
                let parser = conv.parser();
                let null_row = conv.convert_columns(&[arrow::array::new_null_array(out, 1)])?;
                let rows: Vec<_> = vals
                    .iter()
                    .map(|v| match v {
                        Some(b) => parser.parse(b),
                        None => null_row.row(0),
                    })
                    .collect();
                conv.convert_rows(rows)?.remove(0)
            }
            Acc::Logistic { rows, sgd, d, .. } => {
                // Each group's model, packed `[rows, intercept, w...]`.
                let models: arrow::array::BinaryArray = rows
                    .iter()
                    .map(|r| crate::ml::train(r, d, &sgd).map(|m| crate::ml::pack(&m)))
                    .collect();
                Arc::new(models)
            }
            Acc::LogisticMerge { sums, n } => {
                let models: arrow::array::BinaryArray = sums
                    .iter()
                    .zip(&n)
                    .map(|(s, &n)| {
                        (n > 0.0).then(|| {
                            let mut m = vec![n];
                            m.extend(s.iter().map(|x| x / n));
                            crate::ml::pack(&m)
                        })
                    })
                    .collect();
                Arc::new(models)
            }
            Acc::Distinct {
                sets, then: None, ..
            } => Arc::new(Int64Array::from(
                sets.iter().map(|s| s.len() as i64).collect::<Vec<_>>(),
            )),
            Acc::Distinct {
                sets,
                conv,
                then: Some(then),
                ..
            } => {
                // Each group's distinct values, decoded and fed to a plain accumulator.
                let parser = conv.parser();
                let mut ids = Vec::new();
                let mut rows = Vec::new();
                for (g, set) in sets.iter().enumerate() {
                    for r in set {
                        ids.push(g);
                        rows.push(parser.parse(r));
                    }
                }
                let vals = conv.convert_rows(rows)?.remove(0);
                let mut acc = Acc::new(then, vals.data_type())?;
                acc.resize(sets.len());
                acc.update(&ids, Some(&vals))?;
                acc.finish(out)?
            }
        })
    }
}

/// A hash table from group keys to accumulators, fed batch by batch.
struct GroupTable<'a> {
    keys: &'a [Expr],
    specs: &'a [(Kind, Option<Expr>)],
    key_types: Vec<DataType>,
    conv: RowConverter,
    accs: Vec<Acc>,
    index: FxHashMap<Vec<u8>, usize>,
    group_rows: Vec<Vec<u8>>,
    key_bytes: usize,
    // One integer key (order keys, customer keys...): hash the integer itself.
    int_key: bool,
    int_index: FxHashMap<Option<i64>, usize>,
    int_groups: Vec<Option<i64>>,
    ids: Vec<usize>,
}

impl<'a> GroupTable<'a> {
    fn new(
        in_schema: &Schema,
        keys: &'a [Expr],
        specs: &'a [(Kind, Option<Expr>)],
    ) -> Result<GroupTable<'a>> {
        let key_types = keys
            .iter()
            .map(|k| k.data_type(in_schema))
            .collect::<Result<Vec<_>>>()?;
        let conv = RowConverter::new(
            key_types
                .iter()
                .map(|t| SortField::new(t.clone()))
                .collect(),
        )?;
        let mut accs = specs
            .iter()
            .map(|(k, e)| {
                let t = match e {
                    Some(e) => e.data_type(in_schema)?,
                    None => DataType::Int64,
                };
                Acc::new(*k, &t)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut group_rows = Vec::new();
        if keys.is_empty() {
            group_rows.push(Vec::new());
            accs.iter_mut().for_each(|a| a.resize(1));
        }
        let int_key = keys.len() == 1 && key_types[0].is_integer();
        Ok(GroupTable {
            keys,
            specs,
            key_types,
            conv,
            accs,
            index: FxHashMap::default(),
            group_rows,
            key_bytes: 0,
            int_key,
            int_index: FxHashMap::default(),
            int_groups: Vec::new(),
            ids: Vec::new(),
        })
    }

    /// Approximate bytes held.
    fn memory(&self) -> usize {
        self.key_bytes
            + self.group_rows.capacity() * 24
            + self.index.capacity() * 40
            + self.int_index.capacity() * 32
            + self.int_groups.capacity() * 16
            + self.accs.iter().map(Acc::memory).sum::<usize>()
    }

    fn update(&mut self, b: &RecordBatch) -> Result<()> {
        let n = b.num_rows();
        let ids = &mut self.ids;
        ids.clear();
        if self.keys.is_empty() {
            ids.resize(n, 0);
        } else if self.int_key {
            let k = self.keys[0].eval(b)?.into_array(n)?;
            let k = arrow::compute::cast(&k, &DataType::Int64)?;
            let k = k.as_primitive::<Int64Type>();
            for i in 0..n {
                let v = k.is_valid(i).then(|| k.value(i));
                let groups = &mut self.int_groups;
                let id = *self.int_index.entry(v).or_insert_with(|| {
                    groups.push(v);
                    groups.len() - 1
                });
                ids.push(id);
            }
            let g = self.int_groups.len();
            self.accs.iter_mut().for_each(|a| a.resize(g));
        } else {
            let cols = self
                .keys
                .iter()
                .map(|k| k.eval(b)?.into_array(n))
                .collect::<Result<Vec<_>>>()?;
            let rows = self.conv.convert_columns(&cols)?;
            for i in 0..n {
                let r = rows.row(i);
                let id = match self.index.get(r.as_ref()) {
                    Some(&id) => id,
                    None => {
                        let id = self.group_rows.len();
                        self.key_bytes += 2 * r.as_ref().len();
                        self.index.insert(r.as_ref().to_vec(), id);
                        self.group_rows.push(r.as_ref().to_vec());
                        id
                    }
                };
                ids.push(id);
            }
            let g = self.group_rows.len();
            self.accs.iter_mut().for_each(|a| a.resize(g));
        }
        for (acc, (_, e)) in self.accs.iter_mut().zip(self.specs) {
            let input = e.as_ref().map(|e| e.eval(b)?.into_array(n)).transpose()?;
            acc.update(ids, input.as_ref())?;
        }
        Ok(())
    }

    /// Key columns then one column per spec (typed `out_types`).
    fn finish(self, out_types: &[DataType]) -> Result<Vec<ArrayRef>> {
        let mut out = if self.keys.is_empty() {
            Vec::new()
        } else if self.int_key {
            let k: ArrayRef = Arc::new(Int64Array::from(self.int_groups));
            vec![arrow::compute::cast(&k, &self.key_types[0])?]
        } else {
            let parser = self.conv.parser();
            self.conv
                .convert_rows(self.group_rows.iter().map(|r| parser.parse(r)))?
        };
        for (acc, t) in self.accs.into_iter().zip(out_types) {
            out.push(acc.finish(t)?);
        }
        Ok(out)
    }
}

/// Groups `batches` by `keys` and computes `specs`; returns key columns then aggregates.
fn group_by<'b>(
    batches: impl IntoIterator<Item = &'b RecordBatch>,
    in_schema: &Schema,
    keys: &[Expr],
    specs: &[(Kind, Option<Expr>)],
    out_types: &[DataType],
) -> Result<Vec<ArrayRef>> {
    let mut t = GroupTable::new(in_schema, keys, specs)?;
    for b in batches {
        t.update(b)?;
    }
    t.finish(out_types)
}

/// Runs an aggregation over partitions; one output partition (several after a spill).
pub fn aggregate<'a>(
    ctx: &'a Ctx,
    id: usize,
    in_schema: SchemaRef,
    parts: Vec<Stream<'a>>,
    group: Vec<(Expr, String)>,
    aggs: Vec<(AggCall, String)>,
    out_schema: SchemaRef,
) -> Result<Vec<Stream<'a>>> {
    let keys: Vec<Expr> = group.iter().map(|(e, _)| e.clone()).collect();
    let nk = keys.len();
    // No input partitions at all (a NOT IN against a set holding NULL) still makes one
    // partial state, so that `count(*)` without GROUP BY is 0, not NULL.
    let parts = if parts.is_empty() {
        vec![super::once(Vec::new())]
    } else {
        parts
    };
    let out_types: Vec<DataType> = out_schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let kind = |a: &AggCall| match (a.func, a.distinct) {
        (AggFunc::Count, true) => Kind::CountDistinct,
        (AggFunc::Sum, true) => Kind::SumDistinct,
        (AggFunc::Avg, true) => Kind::SumFloatDistinct,
        (AggFunc::Sum, _) => Kind::Sum,
        (AggFunc::Count, false) => Kind::Count,
        (AggFunc::CountStar, _) => Kind::CountStar,
        (AggFunc::Min, _) => Kind::Min,
        (AggFunc::Max, _) => Kind::Max,
        (AggFunc::Avg, _) => Kind::SumFloat,
        (AggFunc::TrainLogistic(sgd), _) => Kind::Logistic(sgd),
        (f, true) if f.is_moments() => Kind::MomentsDistinct,
        (_, _) => Kind::Moments,
    };
    // Specs (an average is a sum and a count) and the types of their states.
    let mut specs = Vec::new();
    let mut types = Vec::new();
    for (i, (a, _)) in aggs.iter().enumerate() {
        specs.push((kind(a), a.arg.clone()));
        types.push(if a.func == AggFunc::Avg {
            DataType::Float64
        } else if a.func.is_moments() {
            MOMENTS
        } else if a.func.is_model() {
            DataType::Binary
        } else {
            out_types[nk + i].clone()
        });
        if a.func == AggFunc::Avg {
            let count = if a.distinct {
                Kind::CountDistinct
            } else {
                Kind::Count
            };
            specs.push((count, a.arg.clone()));
            types.push(DataType::Int64);
        }
    }
    let m = ctx.metrics.op(id);
    if aggs.iter().any(|(a, _)| a.distinct) {
        // One phase over raw rows, bucketed by group key past the budget.
        // (Without group keys every row is one group: bucketing cannot split it.)
        let buckets = spill::Buckets::new(ctx, m, in_schema.clone(), keys.clone());
        if let Some(held) = buckets.hold_or_spill(parts, nk > 0, Ok)? {
            let cols = group_by(&held.batches, &in_schema, &keys, &specs, &types)?;
            return Ok(vec![super::once(finish_avg(cols, nk, &aggs, &out_schema)?)]);
        }
        let files = buckets.finish()?;
        let (keys, specs, types) = (Arc::new(keys), Arc::new(specs), Arc::new(types));
        return Ok(per_bucket(files, move |batches| {
            let cols = group_by(&batches, &in_schema, &keys, &specs, &types)?;
            finish_avg(cols, nk, &aggs, &out_schema)
        }));
    }
    // Phase 1: per partition, partial states (flushed to buckets past the budget share).
    let pschema = partial_schema(&out_schema, nk, &types);
    let merge_keys: Vec<Expr> = (0..nk).map(Expr::Column).collect();
    let buckets = spill::Buckets::new(ctx, m, pschema.clone(), merge_keys.clone());
    let spilled = std::sync::atomic::AtomicBool::new(false);
    let (partials, _held): (Vec<RecordBatch>, Vec<_>) = ctx
        .par_map(parts, |s| {
            let mut t = GroupTable::new(&in_schema, &keys, &specs)?;
            let mut res = ctx.reserve("hash aggregate");
            for b in s {
                t.update(&b?)?;
                // Without group keys the table is one row: nothing to spill.
                if nk > 0 && res.try_resize(t.memory() as u64).is_err() {
                    let full =
                        std::mem::replace(&mut t, GroupTable::new(&in_schema, &keys, &specs)?);
                    buckets.add(&RecordBatch::try_new(
                        pschema.clone(),
                        full.finish(&types)?,
                    )?)?;
                    res.free();
                    spilled.store(true, Relaxed);
                }
            }
            Ok((
                RecordBatch::try_new(pschema.clone(), t.finish(&types)?)?,
                res,
            ))
        })?
        .into_iter()
        .unzip();
    // Phase 2: merge partial states, grouped by the keys (now columns 0..nk).
    let merge_specs: Vec<(Kind, Option<Expr>)> = specs
        .iter()
        .enumerate()
        .map(|(i, (k, _))| {
            let m = match k {
                Kind::Count | Kind::CountStar => Kind::Sum,
                Kind::SumFloat => Kind::SumFloat,
                Kind::Moments => Kind::MomentsMerge,
                Kind::Logistic(_) => Kind::LogisticMerge,
                other => *other,
            };
            (m, Some(Expr::Column(nk + i)))
        })
        .collect();
    if !spilled.load(Relaxed) {
        let rows: usize = partials.iter().map(|b| b.num_rows()).sum();
        if nk > 0 && ctx.opts.threads > 1 && rows >= MERGE_SPLIT_ROWS {
            let parts = split_by_key(ctx, partials, nk)?;
            let outs = ctx.par_map(parts, |batches| {
                let cols = group_by(&batches, &pschema, &merge_keys, &merge_specs, &types)?;
                finish_avg(cols, nk, &aggs, &out_schema)
            })?;
            return Ok(outs.into_iter().map(super::once).collect());
        }
        let cols = group_by(&partials, &pschema, &merge_keys, &merge_specs, &types)?;
        return Ok(vec![super::once(finish_avg(cols, nk, &aggs, &out_schema)?)]);
    }
    for p in &partials {
        buckets.add(p)?;
    }
    let files = buckets.finish()?;
    let (merge_keys, merge_specs, types) =
        (Arc::new(merge_keys), Arc::new(merge_specs), Arc::new(types));
    Ok(per_bucket(files, move |batches| {
        let cols = group_by(&batches, &pschema, &merge_keys, &merge_specs, &types)?;
        finish_avg(cols, nk, &aggs, &out_schema)
    }))
}

/// Partitions the merge of partial states is split into (when it is split at all).
const MERGE_PARTS: usize = 64;

/// Partial-state rows from which the merge is split: below this, one thread merges them
/// faster than the split costs.
const MERGE_SPLIT_ROWS: usize = 1 << 15;

/// The rows of `batches` by a hash of their first `nk` columns into the non-empty ones of
/// [`MERGE_PARTS`] partitions (each key in exactly one), on the context's threads.
fn split_by_key(ctx: &Ctx, batches: Vec<RecordBatch>, nk: usize) -> Result<Vec<Vec<RecordBatch>>> {
    let split = ctx.par_map(batches, |b| {
        let keys: Vec<ArrayRef> = b.columns()[..nk].to_vec();
        let hashes: Vec<u64> = if nk == 1 && keys[0].data_type().is_integer() {
            // One integer key (the common case): hashed as itself, NULL as 0.
            let k = arrow::compute::cast(&keys[0], &DataType::Int64)?;
            let k = k.as_primitive::<Int64Type>();
            (0..k.len())
                .map(|i| {
                    let v = if k.is_null(i) { 0 } else { k.value(i) as u64 };
                    v.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                })
                .collect()
        } else {
            spill::key_hashes(&keys)?
        };
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); MERGE_PARTS];
        for (i, h) in hashes.into_iter().enumerate() {
            // The high bits: spill buckets use the low ones.
            rows[((h as u128 * MERGE_PARTS as u128) >> 64) as usize].push(i as u32);
        }
        rows.into_iter()
            .map(|r| {
                let r = arrow::array::UInt32Array::from(r);
                Ok(arrow::compute::take_record_batch(&b, &r)?)
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); MERGE_PARTS];
    for batches in split {
        for (p, b) in batches.into_iter().enumerate() {
            if b.num_rows() > 0 {
                parts[p].push(b);
            }
        }
    }
    Ok(parts.into_iter().filter(|p| !p.is_empty()).collect())
}

/// The schema of partial states: the group keys, then one column per state.
fn partial_schema(out_schema: &SchemaRef, nk: usize, types: &[DataType]) -> SchemaRef {
    let mut fields: Vec<arrow::datatypes::Field> = out_schema.fields()[..nk]
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (i, t) in types.iter().enumerate() {
        fields.push(arrow::datatypes::Field::new(
            format!("p{i}"),
            t.clone(),
            true,
        ));
    }
    Arc::new(Schema::new(fields))
}

/// One output partition per non-empty bucket, each finished by `f` when first pulled.
fn per_bucket<'a>(
    files: Vec<Option<std::path::PathBuf>>,
    f: impl Fn(Vec<RecordBatch>) -> Result<Vec<RecordBatch>> + Send + Sync + 'a,
) -> Vec<Stream<'a>> {
    let f = Arc::new(f);
    files
        .into_iter()
        .flatten()
        .map(|p| -> Stream<'a> {
            let f = f.clone();
            Box::new(
                std::iter::once(p)
                    .map(move |p| f(spill::load(&Some(p))?))
                    .flat_map(|r| match r {
                        Ok(bs) => bs.into_iter().map(Ok).collect::<Vec<_>>(),
                        Err(e) => vec![Err(e)],
                    }),
            )
        })
        .collect()
}

fn unpack(b: &[u8]) -> [f64; 3] {
    let f = |i: usize| f64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    [f(0), f(1), f(2)]
}

/// Variances or standard deviations from packed moments: NULL without values, and for the
/// sample forms with fewer than two.
fn moments_result(packed: &ArrayRef, f: AggFunc) -> Float64Array {
    let a = packed.as_fixed_size_binary();
    (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                return None;
            }
            let [n, _, m2] = unpack(a.value(i));
            let sample = matches!(f, AggFunc::VarSamp | AggFunc::StddevSamp);
            let denom = if sample { n - 1.0 } else { n };
            if denom <= 0.0 {
                return None;
            }
            // Rounding can leave M2 a hair below zero for equal values.
            let var = (m2 / denom).max(0.0);
            Some(match f {
                AggFunc::StddevSamp | AggFunc::StddevPop => var.sqrt(),
                _ => var,
            })
        })
        .collect()
}

/// Turns (sum, count) pairs of averages into quotients and builds the output batch.
fn finish_avg(
    cols: Vec<ArrayRef>,
    nk: usize,
    aggs: &[(AggCall, String)],
    out_schema: &SchemaRef,
) -> Result<Vec<RecordBatch>> {
    let mut it = cols.into_iter();
    let mut out: Vec<ArrayRef> = (&mut it).take(nk).collect();
    for (a, _) in aggs {
        let v = it
            .next()
            .ok_or_else(|| SqlError::Internal("missing aggregate".into()))?;
        if a.func == AggFunc::Avg {
            let c = it
                .next()
                .ok_or_else(|| SqlError::Internal("missing count".into()))?;
            let c = arrow::compute::cast(&c, &DataType::Int64)?;
            let (s, c) = (
                v.as_primitive::<Float64Type>(),
                c.as_primitive::<Int64Type>(),
            );
            let avg: Float64Array = (0..s.len())
                .map(|i| (s.is_valid(i) && c.value(i) > 0).then(|| s.value(i) / c.value(i) as f64))
                .collect();
            out.push(Arc::new(avg));
        } else if a.func.is_moments() {
            out.push(Arc::new(moments_result(&v, a.func)));
        } else if a.func.is_model() {
            out.push(crate::ml::models_to_json(&v)?);
        } else {
            out.push(v);
        }
    }
    let out = out
        .into_iter()
        .zip(out_schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c)
            } else {
                Ok(arrow::compute::cast(&c, f.data_type())?)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(vec![RecordBatch::try_new(out_schema.clone(), out)?])
}

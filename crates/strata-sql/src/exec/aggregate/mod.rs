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
//! budget, buckets the rows themselves by group key; so do the holistic aggregates (median,
//! percentiles, mode, string_agg, array_agg: [`collect`]).
//!
//! Files: this one drives the phases; `table.rs` maps group keys to group ids; `acc.rs`
//! holds the accumulators; `collect.rs` the holistic ones.

mod acc;
mod collect;
mod table;

use super::{Ctx, Stream, spill};
use crate::error::{Result, SqlError};
use crate::expr::Expr;
use crate::plan::{AggCall, AggFunc};
use acc::{Kind, MOMENTS, unpack};
use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, Schema, SchemaRef};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use table::{GroupTable, group_by};

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
    let kind = |a: &AggCall| -> Result<Kind> {
        if a.func.is_holistic() {
            return Ok(Kind::Collect(Arc::new(collect::CollectSpec::new(a)?)));
        }
        Ok(match (a.func, a.distinct) {
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
        })
    };
    // Specs (an average is a sum and a count) and the types of their states.
    let mut specs = Vec::new();
    let mut types = Vec::new();
    for (i, (a, _)) in aggs.iter().enumerate() {
        specs.push((kind(a)?, a.arg.clone()));
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
    if aggs.iter().any(|(a, _)| a.distinct || a.func.is_holistic()) {
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
                other => other.clone(),
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

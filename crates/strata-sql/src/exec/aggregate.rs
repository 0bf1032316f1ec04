//! Hash aggregation, in two phases when it can: each partition aggregates its rows
//! (in parallel), then the partial results are merged (sums of sums, sums of counts, min of
//! mins; an average travels as a sum and a count). `COUNT(DISTINCT)` runs in one phase.
//! Group keys are encoded with arrow's row format, so any mix of key types hashes as bytes.

use super::{Partitions, par_map};
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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Sum,
    SumFloat,
    Count,
    CountStar,
    Min,
    Max,
    CountDistinct,
}

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
    },
    Distinct {
        sets: Vec<FxHashSet<Vec<u8>>>,
        conv: RowConverter,
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
            },
            Kind::CountDistinct => Acc::Distinct {
                sets: vec![],
                conv: RowConverter::new(vec![SortField::new(ty.clone())])?,
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
            Acc::Extreme { vals, .. } => vals.resize(n, None),
            Acc::Distinct { sets, .. } => sets.resize_with(n, FxHashSet::default),
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
        match self {
            Acc::SumDec { vals, seen, .. } => {
                let a = a.as_primitive::<Decimal128Type>();
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        vals[g] += a.value(i);
                        seen[g] = true;
                    }
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
            Acc::Extreme { max, vals, conv } => {
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
                        vals[g] = Some(r.as_ref().to_vec());
                    }
                }
            }
            Acc::Distinct { sets, conv } => {
                let rows = conv.convert_columns(std::slice::from_ref(a))?;
                for (i, &g) in groups.iter().enumerate() {
                    if a.is_valid(i) {
                        sets[g].insert(rows.row(i).as_ref().to_vec());
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
            Acc::Distinct { sets, .. } => Arc::new(Int64Array::from(
                sets.iter().map(|s| s.len() as i64).collect::<Vec<_>>(),
            )),
        })
    }
}

/// Groups `batches` by `keys` and computes `specs`; returns key columns then aggregates.
fn group_by(
    batches: &[RecordBatch],
    in_schema: &Schema,
    keys: &[Expr],
    specs: &[(Kind, Option<Expr>)],
    out_types: &[DataType],
) -> Result<Vec<ArrayRef>> {
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
    let mut index: FxHashMap<Vec<u8>, usize> = FxHashMap::default();
    let mut group_rows: Vec<Vec<u8>> = Vec::new();
    let mut ids = Vec::new();
    // One integer key (order keys, customer keys...): hash the integer itself.
    let int_key = keys.len() == 1 && key_types[0].is_integer();
    let mut int_index: FxHashMap<Option<i64>, usize> = FxHashMap::default();
    let mut int_groups: Vec<Option<i64>> = Vec::new();
    if keys.is_empty() {
        group_rows.push(Vec::new());
        accs.iter_mut().for_each(|a| a.resize(1));
    }
    for b in batches {
        let n = b.num_rows();
        ids.clear();
        if keys.is_empty() {
            ids.resize(n, 0);
        } else if int_key {
            let k = keys[0].eval(b)?.into_array(n)?;
            let k = arrow::compute::cast(&k, &DataType::Int64)?;
            let k = k.as_primitive::<Int64Type>();
            for i in 0..n {
                let v = k.is_valid(i).then(|| k.value(i));
                let id = *int_index.entry(v).or_insert_with(|| {
                    int_groups.push(v);
                    int_groups.len() - 1
                });
                ids.push(id);
            }
            accs.iter_mut().for_each(|a| a.resize(int_groups.len()));
        } else {
            let cols = keys
                .iter()
                .map(|k| k.eval(b)?.into_array(n))
                .collect::<Result<Vec<_>>>()?;
            let rows = conv.convert_columns(&cols)?;
            for i in 0..n {
                let r = rows.row(i);
                let id = match index.get(r.as_ref()) {
                    Some(&id) => id,
                    None => {
                        let id = group_rows.len();
                        index.insert(r.as_ref().to_vec(), id);
                        group_rows.push(r.as_ref().to_vec());
                        id
                    }
                };
                ids.push(id);
            }
            accs.iter_mut().for_each(|a| a.resize(group_rows.len()));
        }
        for (acc, (_, e)) in accs.iter_mut().zip(specs) {
            let input = e.as_ref().map(|e| e.eval(b)?.into_array(n)).transpose()?;
            acc.update(&ids, input.as_ref())?;
        }
    }
    let mut out = if keys.is_empty() {
        Vec::new()
    } else if int_key {
        let k: ArrayRef = Arc::new(Int64Array::from(int_groups));
        vec![arrow::compute::cast(&k, &key_types[0])?]
    } else {
        let parser = conv.parser();
        conv.convert_rows(group_rows.iter().map(|r| parser.parse(r)))?
    };
    for (acc, t) in accs.into_iter().zip(out_types) {
        out.push(acc.finish(t)?);
    }
    Ok(out)
}

/// Runs an aggregation over partitions; one output partition.
pub fn aggregate(
    in_schema: &SchemaRef,
    parts: Partitions,
    group: &[(Expr, String)],
    aggs: &[(AggCall, String)],
    out_schema: &SchemaRef,
) -> Result<Partitions> {
    let keys: Vec<Expr> = group.iter().map(|(e, _)| e.clone()).collect();
    let nk = keys.len();
    let out_types: Vec<DataType> = out_schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let single = aggs.iter().any(|(a, _)| a.distinct) || parts.len() <= 1;
    let kind = |a: &AggCall| match (a.func, a.distinct) {
        (AggFunc::Count, true) => Kind::CountDistinct,
        (AggFunc::Sum, _) => Kind::Sum,
        (AggFunc::Count, false) => Kind::Count,
        (AggFunc::CountStar, _) => Kind::CountStar,
        (AggFunc::Min, _) => Kind::Min,
        (AggFunc::Max, _) => Kind::Max,
        (AggFunc::Avg, _) => Kind::SumFloat,
    };
    if single {
        if aggs
            .iter()
            .any(|(a, _)| a.distinct && a.func != AggFunc::Count)
        {
            return Err(SqlError::NotSupported(
                "DISTINCT in aggregates other than COUNT".into(),
            ));
        }
        // Average = sum / count, computed here in one pass.
        let mut specs = Vec::new();
        let mut types = Vec::new();
        for (i, (a, _)) in aggs.iter().enumerate() {
            specs.push((kind(a), a.arg.clone()));
            types.push(out_types[nk + i].clone());
            if a.func == AggFunc::Avg {
                specs.push((Kind::Count, a.arg.clone()));
                types.push(DataType::Int64);
            }
        }
        let batches: Vec<RecordBatch> = parts.into_iter().flatten().collect();
        let cols = group_by(&batches, in_schema, &keys, &specs, &types)?;
        return finish_avg(cols, nk, aggs, out_schema);
    }
    // Phase 1: per partition, partial states.
    let mut specs = Vec::new();
    let mut partial_types = Vec::new();
    for (i, (a, _)) in aggs.iter().enumerate() {
        specs.push((kind(a), a.arg.clone()));
        partial_types.push(if a.func == AggFunc::Avg {
            DataType::Float64
        } else {
            out_types[nk + i].clone()
        });
        if a.func == AggFunc::Avg {
            specs.push((Kind::Count, a.arg.clone()));
            partial_types.push(DataType::Int64);
        }
    }
    let partials = par_map(parts, |p| {
        group_by(&p, in_schema, &keys, &specs, &partial_types)
    })?;
    // Phase 2: merge partial states, grouped by the keys (now columns 0..nk).
    let mut fields: Vec<arrow::datatypes::Field> = out_schema.fields()[..nk]
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (i, t) in partial_types.iter().enumerate() {
        fields.push(arrow::datatypes::Field::new(
            format!("p{i}"),
            t.clone(),
            true,
        ));
    }
    let pschema = Arc::new(Schema::new(fields));
    let batches = partials
        .into_iter()
        .map(|cols| Ok(RecordBatch::try_new(pschema.clone(), cols)?))
        .collect::<Result<Vec<_>>>()?;
    let merge_keys: Vec<Expr> = (0..nk).map(Expr::Column).collect();
    let merge_specs: Vec<(Kind, Option<Expr>)> = specs
        .iter()
        .enumerate()
        .map(|(i, (k, _))| {
            let m = match k {
                Kind::Count | Kind::CountStar => Kind::Sum,
                Kind::SumFloat => Kind::SumFloat,
                other => *other,
            };
            (m, Some(Expr::Column(nk + i)))
        })
        .collect();
    let cols = group_by(
        &batches,
        &pschema,
        &merge_keys,
        &merge_specs,
        &partial_types,
    )?;
    finish_avg(cols, nk, aggs, out_schema)
}

/// Turns (sum, count) pairs of averages into quotients and builds the output batch.
fn finish_avg(
    cols: Vec<ArrayRef>,
    nk: usize,
    aggs: &[(AggCall, String)],
    out_schema: &SchemaRef,
) -> Result<Partitions> {
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
    Ok(vec![vec![RecordBatch::try_new(out_schema.clone(), out)?]])
}

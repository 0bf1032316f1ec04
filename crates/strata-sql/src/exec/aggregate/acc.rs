//! The accumulators of hash aggregation: one per aggregate of a group table, holding a
//! value per group (sums, counts, extremes, moments, distinct sets, models, and the
//! holistic collections of [`super::collect`]), updated batch by batch and finished into
//! one column.

use super::collect::Collect;
use crate::error::{Result, SqlError};
use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, RecordBatch,
};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};
use arrow::row::{RowConverter, SortField};
use rustc_hash::FxHashSet;
use std::sync::Arc;

/// What an accumulator computes (the merge phase has kinds of its own).
#[derive(Clone, Debug)]
pub(super) enum Kind {
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
    /// A holistic aggregate: each group's values collected (see [`super::collect`]).
    Collect(Arc<super::collect::CollectSpec>),
}

/// Partial moments travel packed: count, mean and M2 as three little-endian f64s.
pub(super) const MOMENTS: DataType = DataType::FixedSizeBinary(24);

pub(super) enum Acc {
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
    Collect(Collect),
}

impl Acc {
    pub(super) fn new(kind: Kind, ty: &DataType) -> Result<Acc> {
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
                max: matches!(kind, Kind::Max),
                vals: vec![],
                conv: RowConverter::new(vec![SortField::new(ty.clone())])?,
                bytes: 0,
            },
            Kind::Moments | Kind::MomentsMerge => Acc::Moments {
                n: vec![],
                mean: vec![],
                m2: vec![],
                merge: matches!(kind, Kind::MomentsMerge),
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
            Kind::Collect(spec) => Acc::Collect(Collect::new(spec, ty)?),
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

    pub(super) fn resize(&mut self, n: usize) {
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
            Acc::Collect(c) => c.resize(n),
            Acc::LogisticMerge { sums, n: c } => {
                sums.resize_with(n, Vec::new);
                c.resize(n, 0.0);
            }
        }
    }

    /// Approximate bytes held.
    pub(super) fn memory(&self) -> usize {
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
            Acc::Collect(c) => c.memory(),
        }
    }

    pub(super) fn update(
        &mut self,
        groups: &[usize],
        input: Option<&ArrayRef>,
        batch: &RecordBatch,
    ) -> Result<()> {
        if let Acc::Collect(c) = self {
            // Before the all-NULL shortcut below: array_agg keeps NULLs.
            return c.update(groups, input, batch);
        }
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
            // Collected above.
            Acc::Collect(_) => {}
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

    pub(super) fn finish(self, out: &DataType) -> Result<ArrayRef> {
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
            Acc::Collect(c) => c.finish(out)?,
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
                let none = RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()));
                acc.update(&ids, Some(&vals), &none)?;
                acc.finish(out)?
            }
        })
    }
}

pub(super) fn unpack(b: &[u8]) -> [f64; 3] {
    let f = |i: usize| f64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    [f(0), f(1), f(2)]
}

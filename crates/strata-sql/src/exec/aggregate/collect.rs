//! Holistic aggregates: `median`, `percentile_cont`, `percentile_disc`, `mode`,
//! `string_agg`, `array_agg`. No partial state smaller than the values exists for them, so
//! each group keeps its values (arrow row format) with their sort keys, and the answer is
//! computed when the group is finished: entries sorted by key (a stable sort, so without
//! ORDER BY they keep arrival order), DISTINCT ones deduplicated, then the wanted positions
//! picked and decoded in one pass over all groups.
//!
//! These aggregates run in one phase, after rows have met by group key (see
//! [`super::aggregate`]); past the memory budget, rows are bucketed by key on disk.

use crate::error::{Result, SqlError};
use crate::expr::Expr;
use crate::plan::{AggCall, AggFunc, AggParam, SortKey};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray, RecordBatch, StringBuilder,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Field, Float64Type};
use arrow::row::{RowConverter, SortField};
use rustc_hash::FxHashSet;
use std::sync::Arc;

/// What a holistic aggregate computes, fixed at planning.
#[derive(Debug)]
pub struct CollectSpec {
    func: AggFunc,
    param: Option<AggParam>,
    /// Sort keys of the entries (for the ordered-set functions at least the value itself).
    order: Vec<SortKey>,
    filter: Option<Expr>,
    distinct: bool,
}

impl CollectSpec {
    pub fn new(a: &AggCall) -> Result<CollectSpec> {
        let mut order = a.order.clone();
        let ordered_set = matches!(
            a.func,
            AggFunc::Median | AggFunc::PercentileCont | AggFunc::PercentileDisc | AggFunc::Mode
        );
        if ordered_set && order.is_empty() {
            let arg = a
                .arg
                .clone()
                .ok_or_else(|| SqlError::Internal(format!("{:?} without argument", a.func)))?;
            order.push(SortKey {
                expr: arg,
                asc: true,
                nulls_first: false,
            });
        }
        Ok(CollectSpec {
            func: a.func,
            param: a.param.clone(),
            order,
            filter: a.filter.clone(),
            distinct: a.distinct,
        })
    }

    fn fraction(&self) -> f64 {
        match self.param {
            Some(AggParam::Fraction(f)) => f,
            _ => 0.5,
        }
    }
}

/// One group's entry: its sort key and its value, both in row format.
type Entry = (Box<[u8]>, Box<[u8]>);

/// Per group, the entries collected so far.
pub struct Collect {
    spec: Arc<CollectSpec>,
    groups: Vec<Vec<Entry>>,
    /// Encodes values (cast first: DOUBLE for interpolation, text for `string_agg`).
    values: RowConverter,
    value_type: DataType,
    /// Encodes sort keys (built when the first batch shows their types).
    keys: Option<RowConverter>,
    bytes: usize,
}

impl Collect {
    pub fn new(spec: Arc<CollectSpec>, input: &DataType) -> Result<Collect> {
        let value_type = match spec.func {
            AggFunc::Median | AggFunc::PercentileCont => DataType::Float64,
            AggFunc::StringAgg => DataType::Utf8,
            _ => input.clone(),
        };
        Ok(Collect {
            values: RowConverter::new(vec![SortField::new(value_type.clone())])?,
            value_type,
            keys: None,
            spec,
            groups: Vec::new(),
            bytes: 0,
        })
    }

    pub fn resize(&mut self, n: usize) {
        self.groups.resize_with(n, Vec::new);
    }

    pub fn memory(&self) -> usize {
        self.groups.capacity() * 24 + self.bytes
    }

    pub fn update(
        &mut self,
        groups: &[usize],
        input: Option<&ArrayRef>,
        batch: &RecordBatch,
    ) -> Result<()> {
        let n = groups.len();
        let input = input.ok_or_else(|| SqlError::Internal("holistic aggregate input".into()))?;
        let input = arrow::compute::cast(input, &self.value_type)?;
        let keep: Option<BooleanArray> = match &self.spec.filter {
            Some(f) => {
                let c = f.eval(batch)?.into_array(n)?;
                Some(c.as_boolean().clone())
            }
            None => None,
        };
        let key_cols = self
            .spec
            .order
            .iter()
            .map(|k| k.expr.eval(batch)?.into_array(n))
            .collect::<Result<Vec<_>>>()?;
        if self.keys.is_none() && !key_cols.is_empty() {
            self.keys = Some(RowConverter::new(
                key_cols
                    .iter()
                    .zip(&self.spec.order)
                    .map(|(c, k)| {
                        SortField::new_with_options(
                            c.data_type().clone(),
                            SortOptions {
                                descending: !k.asc,
                                nulls_first: k.nulls_first,
                            },
                        )
                    })
                    .collect(),
            )?);
        }
        // Without ORDER BY every key is empty: the stable sort keeps arrival order.
        let keys = if key_cols.is_empty() {
            None
        } else {
            Some(
                self.keys
                    .as_ref()
                    .expect("built above")
                    .convert_columns(&key_cols)?,
            )
        };
        let vals = self.values.convert_columns(std::slice::from_ref(&input))?;
        let keep_nulls = matches!(
            self.spec.func,
            AggFunc::ArrayAgg | AggFunc::ArgMax | AggFunc::ArgMin
        );
        for (i, &g) in groups.iter().enumerate() {
            if keep
                .as_ref()
                .is_some_and(|k| !(k.is_valid(i) && k.value(i)))
                || (!keep_nulls && input.is_null(i))
            {
                continue;
            }
            let k: Box<[u8]> = keys
                .as_ref()
                .map_or(Box::new([]), |k| k.row(i).as_ref().into());
            let v = vals.row(i);
            self.bytes += k.len() + v.as_ref().len() + 40;
            self.groups[g].push((k, v.as_ref().into()));
        }
        Ok(())
    }

    pub fn finish(mut self, out: &DataType) -> Result<ArrayRef> {
        for g in &mut self.groups {
            g.sort_by(|a, b| a.0.cmp(&b.0));
            if self.spec.distinct {
                let mut seen = FxHashSet::default();
                g.retain(|e| seen.insert(e.1.clone()));
            }
        }
        let spec = self.spec.clone();
        match spec.func {
            AggFunc::Median | AggFunc::PercentileCont => self.interpolate(spec.fraction()),
            AggFunc::PercentileDisc => {
                let f = spec.fraction();
                self.pick(out, |g| {
                    // The first value whose cumulative share reaches f.
                    let n = g.len();
                    ((f * n as f64).ceil() as usize).clamp(1, n) - 1
                })
            }
            AggFunc::Mode => self.pick(out, |g| {
                let (mut best, mut best_len, mut start) = (0, 0, 0);
                for i in 1..=g.len() {
                    if i == g.len() || g[i].1 != g[start].1 {
                        if i - start > best_len {
                            (best, best_len) = (start, i - start);
                        }
                        start = i;
                    }
                }
                best
            }),
            AggFunc::StringAgg => {
                let sep = match &spec.param {
                    Some(AggParam::Separator(s)) => s.clone(),
                    _ => ",".into(),
                };
                self.join(&sep)
            }
            AggFunc::ArrayAgg => self.list(out),
            AggFunc::ArgMax | AggFunc::ArgMin => self.pick(out, |_| 0),
            f => Err(SqlError::Internal(format!("{f:?} is not holistic"))),
        }
    }

    /// All values of all groups, decoded in group order.
    fn decode_all(&self) -> Result<ArrayRef> {
        let parser = self.values.parser();
        let rows = self.groups.iter().flatten().map(|e| parser.parse(&e.1));
        Ok(self.values.convert_rows(rows)?.remove(0))
    }

    /// One value per group, at the position `at` chooses; NULL for an empty group.
    fn pick(&self, out: &DataType, at: impl Fn(&[Entry]) -> usize) -> Result<ArrayRef> {
        let parser = self.values.parser();
        let null = self
            .values
            .convert_columns(&[arrow::array::new_null_array(&self.value_type, 1)])?;
        let rows = self.groups.iter().map(|g| {
            if g.is_empty() {
                null.row(0)
            } else {
                parser.parse(&g[at(g)].1)
            }
        });
        let v = self.values.convert_rows(rows)?.remove(0);
        Ok(arrow::compute::cast(&v, out)?)
    }

    /// The value at fraction `f` of each group, interpolated between its neighbours.
    fn interpolate(&self, f: f64) -> Result<ArrayRef> {
        let parser = self.values.parser();
        let mut rows = Vec::new();
        for g in self.groups.iter().filter(|g| !g.is_empty()) {
            let p = f * (g.len() - 1) as f64;
            rows.push(parser.parse(&g[p.floor() as usize].1));
            rows.push(parser.parse(&g[p.ceil() as usize].1));
        }
        let v = self.values.convert_rows(rows)?.remove(0);
        let v = v.as_primitive::<Float64Type>();
        let mut i = 0;
        let out: Float64Array = self
            .groups
            .iter()
            .map(|g| {
                if g.is_empty() {
                    return None;
                }
                let p = f * (g.len() - 1) as f64;
                let (lo, hi) = (v.value(i), v.value(i + 1));
                i += 2;
                Some(lo + (hi - lo) * (p - p.floor()))
            })
            .collect();
        Ok(Arc::new(out))
    }

    fn join(&self, sep: &str) -> Result<ArrayRef> {
        let all = self.decode_all()?;
        let all = all.as_string::<i32>();
        let mut out = StringBuilder::new();
        let mut i = 0;
        let mut s = String::new();
        for g in &self.groups {
            if g.is_empty() {
                out.append_null();
                continue;
            }
            s.clear();
            for k in 0..g.len() {
                if k > 0 {
                    s.push_str(sep);
                }
                s.push_str(all.value(i + k));
            }
            i += g.len();
            out.append_value(&s);
        }
        Ok(Arc::new(out.finish()))
    }

    fn list(&self, out: &DataType) -> Result<ArrayRef> {
        let values = self.decode_all()?;
        let field = match out {
            DataType::List(f) => f.clone(),
            _ => Arc::new(Field::new("item", self.value_type.clone(), true)),
        };
        let values = arrow::compute::cast(&values, field.data_type())?;
        let offsets = OffsetBuffer::from_lengths(self.groups.iter().map(Vec::len));
        let nulls = NullBuffer::from(
            self.groups
                .iter()
                .map(|g| !g.is_empty())
                .collect::<Vec<_>>(),
        );
        Ok(Arc::new(ListArray::try_new(
            field,
            offsets,
            values,
            Some(nulls),
        )?))
    }
}

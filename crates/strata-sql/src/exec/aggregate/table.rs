//! The group table: group keys (arrow row format, or one integer hashed as itself) mapped
//! to dense group ids, and one accumulator per aggregate indexed by them.

use super::acc::{Acc, Kind};
use crate::error::Result;
use crate::expr::Expr;
use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Int64Type, Schema};
use arrow::row::{RowConverter, SortField};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// A hash table from group keys to accumulators, fed batch by batch.
pub(super) struct GroupTable<'a> {
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
    pub(super) fn new(
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
                Acc::new(k.clone(), &t)
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
    pub(super) fn memory(&self) -> usize {
        self.key_bytes
            + self.group_rows.capacity() * 24
            + self.index.capacity() * 40
            + self.int_index.capacity() * 32
            + self.int_groups.capacity() * 16
            + self.accs.iter().map(Acc::memory).sum::<usize>()
    }

    pub(super) fn update(&mut self, b: &RecordBatch) -> Result<()> {
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
            acc.update(ids, input.as_ref(), b)?;
        }
        Ok(())
    }

    /// Key columns then one column per spec (typed `out_types`).
    pub(super) fn finish(self, out_types: &[DataType]) -> Result<Vec<ArrayRef>> {
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
pub(super) fn group_by<'b>(
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

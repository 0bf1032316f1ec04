//! Hash join: the right input is the build side (one table for all partitions), left
//! partitions probe it in parallel. Keys are encoded with arrow's row format; a row with a
//! NULL key never matches. A residual predicate is evaluated on the candidate pairs. Left
//! joins emit unmatched left rows with NULLs; semi/anti joins emit left rows with/without a
//! match.

use super::{Partitions, concat, par_map};
use crate::error::Result;
use crate::expr::Expr;
use crate::plan::JoinKind;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use rustc_hash::FxHashMap;

const END: u32 = u32::MAX;

#[allow(clippy::too_many_arguments)]
pub fn hash_join(
    left: Partitions,
    left_schema: &SchemaRef,
    right: Partitions,
    right_schema: &SchemaRef,
    kind: JoinKind,
    on: &[(Expr, Expr)],
    filter: Option<&Expr>,
    out_schema: &SchemaRef,
) -> Result<Partitions> {
    // A semi/anti join whose preserved (left) side is the smaller one: index the left rows
    // and stream the right side past them, instead of building on the large side.
    let rows = |p: &Partitions| p.iter().flatten().map(|b| b.num_rows()).sum::<usize>();
    if matches!(kind, JoinKind::Semi | JoinKind::Anti)
        && filter.is_none()
        && rows(&left) < rows(&right)
    {
        return reversed_semi(left, left_schema, right, right_schema, kind, on);
    }
    let build = concat(right_schema, &right)?;
    let key_types = on
        .iter()
        .map(|(_, r)| r.data_type(right_schema))
        .collect::<Result<Vec<_>>>()?;
    let conv = RowConverter::new(
        key_types
            .iter()
            .map(|t| SortField::new(t.clone()))
            .collect(),
    )?;
    let bn = build.num_rows();
    let bkeys = on
        .iter()
        .map(|(_, r)| r.eval(&build)?.into_array(bn))
        .collect::<Result<Vec<_>>>()?;
    // One integer key: hash the integer itself (no row encoding).
    let int_key = key_types.len() == 1 && key_types[0].is_integer();
    let as_i64 = |a: &ArrayRef| -> Result<ArrayRef> {
        Ok(arrow::compute::cast(a, &arrow::datatypes::DataType::Int64)?)
    };
    let mut int_head: FxHashMap<i64, u32> = FxHashMap::default();
    let mut next = vec![END; bn];
    if int_key {
        let k = as_i64(&bkeys[0])?;
        let k = k.as_primitive::<arrow::datatypes::Int64Type>();
        int_head.reserve(bn);
        for i in (0..bn).rev() {
            if k.is_valid(i) {
                let e = int_head.entry(k.value(i)).or_insert(END);
                next[i] = *e;
                *e = i as u32;
            }
        }
    }
    let brows = if int_key {
        None
    } else {
        Some(conv.convert_columns(&bkeys)?)
    };
    let mut head: FxHashMap<&[u8], u32> = FxHashMap::default();
    let keys: Vec<arrow::row::Row<'_>> = if int_key {
        Vec::new()
    } else {
        head.reserve(bn);
        let rows = brows.as_ref().expect("row keys");
        (0..bn).map(|i| rows.row(i)).collect()
    };
    for i in (0..keys.len()).rev() {
        if bkeys.iter().any(|k| k.is_null(i)) {
            continue;
        }
        let e = head.entry(keys[i].data()).or_insert(END);
        next[i] = *e;
        *e = i as u32;
    }
    let pairs_schema = pair_schema(left_schema, right_schema);
    let parts = par_map(left, |p| {
        let mut out = Vec::new();
        for b in &p {
            let n = b.num_rows();
            let pkeys = on
                .iter()
                .map(|(l, _)| l.eval(b)?.into_array(n))
                .collect::<Result<Vec<_>>>()?;
            let (mut pi, mut bi) = (Vec::new(), Vec::new());
            if int_key {
                let k = as_i64(&pkeys[0])?;
                let k = k.as_primitive::<arrow::datatypes::Int64Type>();
                for i in 0..n {
                    if k.is_null(i) {
                        continue;
                    }
                    let mut j = int_head.get(&k.value(i)).copied().unwrap_or(END);
                    while j != END {
                        pi.push(i as u32);
                        bi.push(j);
                        j = next[j as usize];
                    }
                }
            }
            // Probe keys take the build side's types (the planner made them equal).
            let prows = if int_key {
                None
            } else {
                Some(conv.convert_columns(&pkeys)?)
            };
            for i in 0..if int_key { 0 } else { n } {
                let prows = prows.as_ref().expect("row keys");
                if pkeys.iter().any(|k| k.is_null(i)) {
                    continue;
                }
                let mut j = head.get(prows.row(i).as_ref()).copied().unwrap_or(END);
                while j != END {
                    pi.push(i as u32);
                    bi.push(j);
                    j = next[j as usize];
                }
            }
            let (pi, bi) = (UInt32Array::from(pi), UInt32Array::from(bi));
            let cols = take_pairs(b, &pi, &build, &bi)?;
            let mut pairs = RecordBatch::try_new(pairs_schema.clone(), cols)?;
            let mut probe_idx = pi;
            if let Some(f) = filter {
                let m = f.eval(&pairs)?.into_array(pairs.num_rows())?;
                let m = m.as_any().downcast_ref::<BooleanArray>().expect("boolean");
                let m = crate::expr::null_as_false(m);
                pairs = arrow::compute::filter_record_batch(&pairs, &m)?;
                probe_idx = arrow::compute::filter(&probe_idx, &m)?
                    .as_any()
                    .downcast_ref::<UInt32Array>()
                    .expect("u32")
                    .clone();
            }
            let matched = || {
                let mut m = vec![false; n];
                for i in probe_idx.values().iter() {
                    m[*i as usize] = true;
                }
                m
            };
            let batch = match kind {
                JoinKind::Inner => {
                    RecordBatch::try_new(out_schema.clone(), pairs.columns().to_vec())?
                }
                JoinKind::Semi | JoinKind::Anti => {
                    let want = kind == JoinKind::Semi;
                    let keep: BooleanArray =
                        matched().into_iter().map(|m| Some(m == want)).collect();
                    arrow::compute::filter_record_batch(b, &keep)?
                }
                JoinKind::Left => {
                    let m = matched();
                    let lonely: Vec<u32> = (0..n as u32).filter(|i| !m[*i as usize]).collect();
                    let lonely = UInt32Array::from(lonely);
                    let nulls = UInt32Array::from(vec![None::<u32>; lonely.len()]);
                    let cols = take_pairs(b, &lonely, &build, &nulls)?;
                    let extra = RecordBatch::try_new(out_schema.clone(), cols)?;
                    let matched =
                        RecordBatch::try_new(out_schema.clone(), pairs.columns().to_vec())?;
                    arrow::compute::concat_batches(out_schema, [&matched, &extra])?
                }
            };
            if batch.num_rows() > 0 {
                out.push(batch);
            }
        }
        Ok(out)
    })?;
    Ok(parts)
}

/// The columns of `left` rows `li` beside those of `right` rows `ri` (a NULL index gives a
/// NULL row).
fn take_pairs(
    left: &RecordBatch,
    li: &UInt32Array,
    right: &RecordBatch,
    ri: &UInt32Array,
) -> Result<Vec<ArrayRef>> {
    let mut cols = Vec::with_capacity(left.num_columns() + right.num_columns());
    for c in left.columns() {
        cols.push(take(c, li, None)?);
    }
    for c in right.columns() {
        cols.push(take(c, ri, None)?);
    }
    Ok(cols)
}

fn pair_schema(l: &SchemaRef, r: &SchemaRef) -> SchemaRef {
    let fields: Vec<arrow::datatypes::Field> = l
        .fields()
        .iter()
        .chain(r.fields().iter())
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    std::sync::Arc::new(arrow::datatypes::Schema::new(fields))
}

/// Semi/anti join by indexing the left side: marks each left row some right row matches.
fn reversed_semi(
    left: Partitions,
    left_schema: &SchemaRef,
    right: Partitions,
    right_schema: &SchemaRef,
    kind: JoinKind,
    on: &[(Expr, Expr)],
) -> Result<Partitions> {
    let probe = concat(left_schema, &left)?;
    let n = probe.num_rows();
    let key_types = on
        .iter()
        .map(|(_, r)| r.data_type(right_schema))
        .collect::<Result<Vec<_>>>()?;
    let conv = RowConverter::new(
        key_types
            .iter()
            .map(|t| SortField::new(t.clone()))
            .collect(),
    )?;
    let lkeys = on
        .iter()
        .map(|(l, _)| l.eval(&probe)?.into_array(n))
        .collect::<Result<Vec<_>>>()?;
    let lrows = conv.convert_columns(&lkeys)?;
    let mut index: FxHashMap<&[u8], Vec<u32>> = FxHashMap::default();
    let keys: Vec<arrow::row::Row<'_>> = (0..n).map(|i| lrows.row(i)).collect();
    for (i, k) in keys.iter().enumerate() {
        if lkeys.iter().any(|c| c.is_null(i)) {
            continue;
        }
        index.entry(k.data()).or_default().push(i as u32);
    }
    let marks = par_map(right, |p| {
        let mut m = vec![false; n];
        for b in &p {
            let rn = b.num_rows();
            let rkeys = on
                .iter()
                .map(|(_, r)| r.eval(b)?.into_array(rn))
                .collect::<Result<Vec<_>>>()?;
            let rrows = conv.convert_columns(&rkeys)?;
            for i in 0..rn {
                if rkeys.iter().any(|c| c.is_null(i)) {
                    continue;
                }
                if let Some(ls) = index.get(rrows.row(i).as_ref()) {
                    for &l in ls {
                        m[l as usize] = true;
                    }
                }
            }
        }
        Ok(m)
    })?;
    let want = kind == JoinKind::Semi;
    let keep: BooleanArray = (0..n)
        .map(|i| Some(marks.iter().any(|m| m[i]) == want))
        .collect();
    let out = arrow::compute::filter_record_batch(&probe, &keep)?;
    Ok(vec![vec![out]])
}

//! Parquet pruning: a scan skips the row groups, and then the data pages (from the page
//! index, when the file has one), whose min/max statistics prove that a filter `column op
//! literal` (=, <, <=, >, >=; conjunctions of them, as BETWEEN becomes) holds for none of
//! their rows. Anything else is read: pruning only ever saves work, the filters still run
//! on every row read.

use crate::expr::{BinOp, Expr};
use arrow::array::{Array, ArrayRef, BooleanArray, Scalar};
use arrow::compute::kernels::cmp;
use arrow::datatypes::Schema;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::file::metadata::ParquetMetaData;

/// The row groups of a file that may hold rows passing `filters` (over `projection`).
pub fn row_groups(
    meta: &ParquetMetaData,
    schema: &Schema,
    projection: &[usize],
    filters: &[Expr],
) -> Vec<usize> {
    let n = meta.num_row_groups();
    let mut keep = vec![true; n];
    for (conv, op, lit) in usable(meta, schema, projection, filters) {
        let (Ok(mins), Ok(maxes)) = (
            conv.row_group_mins(meta.row_groups().iter()),
            conv.row_group_maxes(meta.row_groups().iter()),
        ) else {
            continue;
        };
        if let Some(may) = may_match(&mins, &maxes, op, lit) {
            for (i, k) in keep.iter_mut().enumerate() {
                // NULL (no statistics) keeps the row group.
                if may.is_valid(i) && !may.value(i) {
                    *k = false;
                }
            }
        }
    }
    (0..n).filter(|i| keep[*i]).collect()
}

/// Rows of row groups `groups` to read: data pages whose statistics rule out a filter are
/// skipped. None when nothing can be skipped this way (no page index, no usable filter).
pub fn pages(
    meta: &ParquetMetaData,
    schema: &Schema,
    projection: &[usize],
    filters: &[Expr],
    groups: &[usize],
) -> Option<RowSelection> {
    let index = meta.page_index()?;
    let mut selection: Option<RowSelection> = None;
    for (conv, op, lit) in usable(meta, schema, projection, filters) {
        let (Ok(mins), Ok(maxes), Ok(Some(rows))) = (
            conv.data_page_mins(index.as_ref(), groups.iter()),
            conv.data_page_maxes(index.as_ref(), groups.iter()),
            conv.data_page_row_counts(index.as_ref(), meta.row_groups(), groups.iter()),
        ) else {
            continue;
        };
        let Some(may) = may_match(&mins, &maxes, op, lit) else {
            continue;
        };
        if may.len() != rows.len() {
            continue;
        }
        let selectors: Vec<RowSelector> = (0..rows.len())
            .map(|i| {
                let n = rows.value(i) as usize;
                if may.is_valid(i) && !may.value(i) {
                    RowSelector::skip(n)
                } else {
                    RowSelector::select(n)
                }
            })
            .collect();
        let s = RowSelection::from(selectors);
        selection = Some(match selection {
            None => s,
            Some(prev) => prev.intersection(&s),
        });
    }
    // A selection that skips nothing only slows the reader down.
    selection.filter(|s| s.skipped_row_count() > 0)
}

/// The filters' `column op literal` conjuncts on columns the file has statistics for: a
/// statistics converter for the column, the operator and the literal.
fn usable<'a>(
    meta: &'a ParquetMetaData,
    schema: &'a Schema,
    projection: &[usize],
    filters: &'a [Expr],
) -> Vec<(StatisticsConverter<'a>, BinOp, &'a ArrayRef)> {
    let mut conjuncts = Vec::new();
    for f in filters {
        split_and(f, &mut conjuncts);
    }
    conjuncts
        .into_iter()
        .filter_map(|c| {
            let (col, op, lit) = comparison(c)?;
            let name = schema.field(*projection.get(col)?).name();
            let conv =
                StatisticsConverter::try_new(name, schema, meta.file_metadata().schema_descr())
                    .ok()?;
            Some((conv, op, lit))
        })
        .collect()
}

fn split_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::Binary(l, BinOp::And, r) => {
            split_and(l, out);
            split_and(r, out);
        }
        other => out.push(other),
    }
}

/// `column op literal`, with the literal on the right.
fn comparison(e: &Expr) -> Option<(usize, BinOp, &ArrayRef)> {
    let Expr::Binary(l, op, r) = e else {
        return None;
    };
    let flipped = |op: BinOp| match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::LtEq => BinOp::GtEq,
        BinOp::Gt => BinOp::Lt,
        BinOp::GtEq => BinOp::LtEq,
        other => other,
    };
    if !matches!(
        op,
        BinOp::Eq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq
    ) {
        return None;
    }
    match (l.as_ref(), r.as_ref()) {
        (Expr::Column(c), Expr::Literal(v)) => Some((*c, *op, v)),
        (Expr::Literal(v), Expr::Column(c)) => Some((*c, flipped(*op), v)),
        _ => None,
    }
}

/// Per row group, whether some value in [min, max] can satisfy `x op lit`.
fn may_match(mins: &ArrayRef, maxes: &ArrayRef, op: BinOp, lit: &ArrayRef) -> Option<BooleanArray> {
    if mins.data_type() != lit.data_type() || lit.is_null(0) {
        return None;
    }
    let s = Scalar::new(lit.clone());
    let r = match op {
        BinOp::Eq => {
            let lo = cmp::lt_eq(mins, &s).ok()?;
            let hi = cmp::gt_eq(maxes, &s).ok()?;
            arrow::compute::and(&lo, &hi).ok()?
        }
        BinOp::Lt => cmp::lt(mins, &s).ok()?,
        BinOp::LtEq => cmp::lt_eq(mins, &s).ok()?,
        BinOp::Gt => cmp::gt(maxes, &s).ok()?,
        BinOp::GtEq => cmp::gt_eq(maxes, &s).ok()?,
        _ => return None,
    };
    Some(r)
}

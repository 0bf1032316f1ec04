//! Window functions. The input is gathered (a window needs its whole partition); for each
//! function the rows are ordered by (PARTITION BY, ORDER BY) with a lexicographic sort of
//! row indices, the function walks that order, and its results are scattered back to the
//! rows' input positions, so the output is the input with one column added per function.
//!
//! Frames follow the SQL default: with ORDER BY, an aggregate covers the partition's start
//! through the current row and its peers (rows with equal ORDER BY keys); without, the
//! whole partition. Windows are evaluated in memory (they do not spill).

use super::{Ctx, Stream};
use crate::error::{Result, SqlError};
use crate::plan::{AggFunc, Frame, WindowCall, WindowFunc};
use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, UInt32Array,
};
use arrow::compute::{SortColumn, SortOptions, concat_batches};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use std::sync::Arc;

pub fn window<'a>(
    ctx: &'a Ctx,
    _id: usize,
    in_schema: SchemaRef,
    parts: Vec<Stream<'a>>,
    funcs: &'a [(WindowCall, String)],
    out_schema: SchemaRef,
) -> Result<Vec<Stream<'a>>> {
    let batches: Vec<RecordBatch> = super::collect(ctx, parts)?.into_iter().flatten().collect();
    let input = concat_batches(&in_schema, &batches)?;
    drop(batches);
    let mut cols = input.columns().to_vec();
    for (w, _) in funcs {
        let t = out_schema.field(cols.len()).data_type().clone();
        cols.push(eval(&input, w, &t)?);
    }
    Ok(vec![super::once(vec![RecordBatch::try_new(
        out_schema, cols,
    )?])])
}

/// Row-format keys, to compare rows for equality.
fn rows_of(cols: &[ArrayRef]) -> Result<Option<Rows>> {
    if cols.is_empty() {
        return Ok(None);
    }
    let conv = RowConverter::new(
        cols.iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    Ok(Some(conv.convert_columns(cols)?))
}

fn same(rows: &Option<Rows>, a: usize, b: usize) -> bool {
    rows.as_ref().is_none_or(|r| r.row(a) == r.row(b))
}

fn eval(input: &RecordBatch, w: &WindowCall, out_type: &DataType) -> Result<ArrayRef> {
    let n = input.num_rows();
    let part = w
        .partition_by
        .iter()
        .map(|e| e.eval(input)?.into_array(n))
        .collect::<Result<Vec<_>>>()?;
    let order = w
        .order_by
        .iter()
        .map(|k| k.expr.eval(input)?.into_array(n))
        .collect::<Result<Vec<_>>>()?;
    let mut sort_cols: Vec<SortColumn> = part
        .iter()
        .map(|c| SortColumn {
            values: c.clone(),
            options: None,
        })
        .collect();
    for (c, k) in order.iter().zip(&w.order_by) {
        sort_cols.push(SortColumn {
            values: c.clone(),
            options: Some(SortOptions {
                descending: !k.asc,
                nulls_first: k.nulls_first,
            }),
        });
    }
    let perm: Vec<usize> = if sort_cols.is_empty() || n == 0 {
        (0..n).collect()
    } else {
        arrow::compute::lexsort_to_indices(&sort_cols, None)?
            .values()
            .iter()
            .map(|i| *i as usize)
            .collect()
    };
    let (prows, orows) = (rows_of(&part)?, rows_of(&order)?);
    // Walk the sorted order in runs: partitions, and peer groups within them.
    let mut starts = vec![0usize; n]; // sorted position -> its partition's first position
    let mut peer_end = vec![0usize; n]; // sorted position -> one past its last peer
    let mut p0 = 0;
    for s in 0..n {
        if s > 0 && !same(&prows, perm[s - 1], perm[s]) {
            p0 = s;
        }
        starts[s] = p0;
    }
    let mut pend = vec![n; n]; // sorted position -> one past its partition's last position
    for s in (0..n.saturating_sub(1)).rev() {
        pend[s] = if starts[s + 1] == starts[s] {
            pend[s + 1]
        } else {
            s + 1
        };
    }
    let mut s = n;
    while s > 0 {
        let mut b = s - 1;
        while b > 0
            && starts[b - 1] == starts[s - 1]
            && (w.order_by.is_empty() || same(&orows, perm[b - 1], perm[s - 1]))
        {
            b -= 1;
        }
        peer_end[b..s].fill(s);
        s = b;
    }
    let arg = |i: usize| -> Result<ArrayRef> {
        w.args
            .get(i)
            .ok_or_else(|| SqlError::Plan(format!("{:?} needs an argument", w.func)))?
            .eval(input)?
            .into_array(n)
    };
    // Per sorted position, the `[lo, hi)` sorted positions of the row's frame.
    let frame_bounds = || -> Result<Vec<(usize, usize)>> {
        Ok(match &w.frame {
            Frame::Peers => (0..n).map(|s| (starts[s], peer_end[s])).collect(),
            Frame::Rows => (0..n).map(|s| (starts[s], s + 1)).collect(),
            Frame::Partition => (0..n).map(|s| (starts[s], pend[s])).collect(),
            Frame::Between { start, end } => rows_bounds(&starts, &pend, *start, *end),
            Frame::Groups { start, end } => groups_bounds(&starts, &pend, &peer_end, *start, *end),
            Frame::Range { start, end } => {
                let edge = |e: &Option<Box<crate::expr::Expr>>| {
                    e.as_deref()
                        .map(|e| e.eval(input)?.into_array(n))
                        .transpose()
                };
                let (lo, hi) = (edge(start)?, edge(end)?);
                super::window_range::bounds(
                    (&order[0], &w.order_by[0]),
                    [lo.as_ref(), hi.as_ref()],
                    &perm,
                    &starts,
                    &pend,
                )?
            }
        })
    };
    match w.func {
        WindowFunc::RowNumber | WindowFunc::Rank | WindowFunc::DenseRank => {
            let mut out = vec![0i64; n];
            let (mut dense, mut first) = (0, 0);
            for s in 0..n {
                let first_peer = s == starts[s] || peer_end[s - 1] != peer_end[s];
                if s == starts[s] {
                    dense = 0;
                }
                if first_peer {
                    dense += 1;
                }
                // The first peer's position gives the rank.
                if first_peer {
                    first = s;
                }
                out[perm[s]] = match w.func {
                    WindowFunc::RowNumber => (s - starts[s] + 1) as i64,
                    WindowFunc::Rank => (first - starts[s] + 1) as i64,
                    _ => dense,
                };
            }
            Ok(Arc::new(Int64Array::from(out)))
        }
        WindowFunc::Ntile | WindowFunc::PercentRank | WindowFunc::CumeDist => {
            let buckets = match w.func {
                WindowFunc::Ntile => {
                    let a = arrow::compute::cast(&arg(0)?, &DataType::Int64)?;
                    a.as_primitive::<Int64Type>().value(0).max(1) as usize
                }
                _ => 0,
            };
            let mut ints = vec![0i64; n];
            let mut floats = vec![0f64; n];
            let mut first = 0;
            for s in 0..n {
                let (ps, size) = (starts[s], pend[s] - starts[s]);
                if s == ps || peer_end[s - 1] != peer_end[s] {
                    first = s;
                }
                match w.func {
                    WindowFunc::Ntile => {
                        // The first `size % buckets` buckets hold one row more.
                        let (q, r) = (size / buckets, size % buckets);
                        let i = s - ps;
                        let big = r * (q + 1);
                        ints[perm[s]] = 1 + if i < big {
                            i / (q + 1)
                        } else {
                            r + (i - big) / q.max(1)
                        } as i64;
                    }
                    WindowFunc::PercentRank => {
                        floats[perm[s]] = if size > 1 {
                            (first - ps) as f64 / (size - 1) as f64
                        } else {
                            0.0
                        };
                    }
                    _ => floats[perm[s]] = (peer_end[s] - ps) as f64 / size as f64,
                }
            }
            Ok(if w.func == WindowFunc::Ntile {
                Arc::new(Int64Array::from(ints))
            } else {
                Arc::new(Float64Array::from(floats))
            })
        }
        WindowFunc::FirstValue | WindowFunc::LastValue | WindowFunc::NthValue => {
            let v = arg(0)?;
            let nth = match w.func {
                WindowFunc::NthValue => {
                    let a = arrow::compute::cast(&arg(1)?, &DataType::Int64)?;
                    a.as_primitive::<Int64Type>().value(0).max(1) as usize
                }
                _ => 1,
            };
            let bounds = frame_bounds()?;
            let mut src: Vec<Option<u32>> = vec![None; n];
            for (s, &(lo, hi)) in bounds.iter().enumerate() {
                let at = match w.func {
                    WindowFunc::FirstValue => lo,
                    WindowFunc::LastValue => hi.wrapping_sub(1),
                    _ => lo + nth - 1,
                };
                if lo < hi && at >= lo && at < hi {
                    src[perm[s]] = Some(perm[at] as u32);
                }
            }
            Ok(arrow::compute::take(&v, &UInt32Array::from(src), None)?)
        }
        WindowFunc::Lag | WindowFunc::Lead => {
            let v = arg(0)?;
            let offset = match w.args.get(1) {
                Some(e) => {
                    let a = arrow::compute::cast(&e.eval(input)?.into_array(1)?, &DataType::Int64)?;
                    a.as_primitive::<Int64Type>().value(0)
                }
                None => 1,
            };
            let mut src: Vec<Option<u32>> = vec![None; n];
            for s in 0..n {
                let t = if w.func == WindowFunc::Lag {
                    s as i64 - offset
                } else {
                    s as i64 + offset
                };
                if t >= starts[s] as i64 && t < pend[s] as i64 {
                    src[perm[s]] = Some(perm[t as usize] as u32);
                }
            }
            let taken = arrow::compute::take(&v, &UInt32Array::from(src.clone()), None)?;
            match w.args.get(2) {
                None => Ok(taken),
                Some(d) => {
                    let d = arrow::compute::cast(&d.eval(input)?.into_array(n)?, v.data_type())?;
                    let has: arrow::array::BooleanArray =
                        src.iter().map(|s| Some(s.is_some())).collect();
                    Ok(arrow::compute::kernels::zip::zip(&has, &taken, &d)?)
                }
            }
        }
        WindowFunc::Agg(f) => {
            let v = if f == AggFunc::CountStar {
                None
            } else {
                Some(arg(0)?)
            };
            // The frame's end per sorted position: its peers', its own, or the partition's.
            let ends: Vec<usize> = match &w.frame {
                Frame::Peers => peer_end,
                Frame::Rows => (1..=n).collect(),
                Frame::Partition => pend,
                Frame::Between { start, end } | Frame::Groups { start, end } => {
                    let bounded = start.is_some() && end.is_some();
                    let acc = sliding(f, v.as_ref(), &perm, &frame_bounds()?, bounded)?;
                    return finish(f, v.as_ref(), &perm, acc, out_type);
                }
                Frame::Range { start, end } => {
                    let bounded = start.is_some() && end.is_some();
                    let acc = sliding(f, v.as_ref(), &perm, &frame_bounds()?, bounded)?;
                    return finish(f, v.as_ref(), &perm, acc, out_type);
                }
            };
            running(f, v.as_ref(), &perm, &starts, &ends, out_type)
        }
    }
}

/// An aggregate over each row's frame: rows from its partition's start to its last peer.
fn running(
    f: AggFunc,
    v: Option<&ArrayRef>,
    perm: &[usize],
    starts: &[usize],
    peer_end: &[usize],
    out_type: &DataType,
) -> Result<ArrayRef> {
    let n = perm.len();
    let valid = |i: usize| v.is_none_or(|a| a.is_valid(i));
    // Per sorted position, the frame's value; computed at each peer group's end.
    let mut count = vec![0i64; n];
    let mut acc_f = vec![0f64; n];
    let mut acc_i = vec![0i128; n];
    let mut best: Vec<Option<usize>> = vec![None; n];
    let vrows = match (f, v) {
        (AggFunc::Min | AggFunc::Max, Some(a)) => rows_of(std::slice::from_ref(a))?,
        _ => None,
    };
    let fl = match v {
        Some(a) if a.data_type().is_floating() || a.data_type().is_integer() => {
            Some(arrow::compute::cast(a, &DataType::Float64)?)
        }
        _ => None,
    };
    let (mut c, mut sf, mut si, mut b) = (0i64, 0f64, 0i128, None::<usize>);
    let mut s = 0;
    while s < n {
        if s == starts[s] {
            (c, sf, si, b) = (0, 0.0, 0, None);
        }
        let end = peer_end[s];
        for &i in &perm[s..end] {
            if !valid(i) {
                continue;
            }
            c += 1;
            if let Some(a) = v {
                match a.data_type() {
                    DataType::Decimal128(..) => si += a.as_primitive::<Decimal128Type>().value(i),
                    t if t.is_integer() => {
                        si += fl
                            .as_ref()
                            .expect("cast")
                            .as_primitive::<Float64Type>()
                            .value(i) as i128
                    }
                    t if t.is_floating() => {
                        sf += fl
                            .as_ref()
                            .expect("cast")
                            .as_primitive::<Float64Type>()
                            .value(i)
                    }
                    _ => {}
                }
            }
            if let Some(r) = &vrows {
                let better = match b {
                    None => true,
                    Some(j) => {
                        let (new, old) = (r.row(i), r.row(j));
                        if f == AggFunc::Min {
                            new < old
                        } else {
                            new > old
                        }
                    }
                };
                if better {
                    b = Some(i);
                }
            }
        }
        for x in s..end {
            count[x] = c;
            acc_f[x] = sf;
            acc_i[x] = si;
            best[x] = b;
        }
        s = end;
    }
    finish(
        f,
        v,
        perm,
        Acc {
            count,
            acc_f,
            acc_i,
            best,
        },
        out_type,
    )
}

/// Per sorted position, what a window aggregate's frame holds: non-NULL values counted,
/// their sum (exact for integers and decimals, `f64` otherwise), the min/max row.
struct Acc {
    count: Vec<i64>,
    acc_f: Vec<f64>,
    acc_i: Vec<i128>,
    best: Vec<Option<usize>>,
}

/// `ROWS BETWEEN start AND end`: per sorted position, the frame's `[lo, hi)` positions
/// (offsets from the current row, clipped to its partition).
fn rows_bounds(
    starts: &[usize],
    pend: &[usize],
    start: Option<i64>,
    end: Option<i64>,
) -> Vec<(usize, usize)> {
    (0..starts.len())
        .map(|s| {
            let (ps, pe) = (starts[s] as i64, pend[s] as i64);
            let lo = start.map_or(ps, |o| (s as i64 + o).clamp(ps, pe));
            let hi = end.map_or(pe, |o| (s as i64 + o + 1).clamp(ps, pe));
            (lo as usize, (hi.max(lo)) as usize)
        })
        .collect()
}

/// `GROUPS BETWEEN start AND end`: per sorted position, the frame's `[lo, hi)` positions:
/// from the first row of the peer group `start` groups away to the last row of the group
/// `end` groups away (clipped to the partition).
fn groups_bounds(
    starts: &[usize],
    pend: &[usize],
    peer_end: &[usize],
    start: Option<i64>,
    end: Option<i64>,
) -> Vec<(usize, usize)> {
    let n = starts.len();
    // Per partition, its peer groups' first positions; per position, its group's index.
    let mut group_of = vec![0usize; n];
    let mut firsts: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(n);
    let mut s = 0;
    while s < n {
        let (ps, pe) = (starts[s], pend[s]);
        firsts.clear();
        let mut x = ps;
        while x < pe {
            let g = firsts.len();
            firsts.push(x);
            group_of[x..peer_end[x]].fill(g);
            x = peer_end[x];
        }
        let groups = firsts.len() as i64;
        let first_of = |g: i64| -> usize {
            if g >= groups {
                pe
            } else {
                firsts[g.max(0) as usize]
            }
        };
        for &g in &group_of[ps..pe] {
            let g = g as i64;
            let lo = start.map_or(ps, |o| first_of(g + o));
            let hi = end.map_or(pe, |o| if g + o < 0 { ps } else { first_of(g + o + 1) });
            out.push((lo, hi.max(lo)));
        }
        s = pe;
    }
    out
}

/// An aggregate over each row's frame `bounds[s]` (sorted positions `[lo, hi)`; both ends
/// never move backwards within a partition): counts and sums by prefix differences,
/// min/max by a monotonic queue, so any frame width costs O(n). `bounded`: both ends are
/// finite, so float sums are added in order over the frame (no prefix-difference
/// rounding).
fn sliding(
    f: AggFunc,
    v: Option<&ArrayRef>,
    perm: &[usize],
    bounds: &[(usize, usize)],
    bounded: bool,
) -> Result<Acc> {
    let n = perm.len();
    let valid = |i: usize| v.is_none_or(|a| a.is_valid(i));
    let fl = match v {
        Some(a) if a.data_type().is_floating() || a.data_type().is_integer() => {
            Some(arrow::compute::cast(a, &DataType::Float64)?)
        }
        _ => None,
    };
    let fl = fl.as_ref().map(|a| a.as_primitive::<Float64Type>());
    let dec = v.and_then(|a| match a.data_type() {
        DataType::Decimal128(..) => Some(a.as_primitive::<Decimal128Type>()),
        _ => None,
    });
    let ints = v.is_some_and(|a| a.data_type().is_integer());
    let int_of = |i: usize| -> Option<i128> {
        let a = v?;
        Some(match a.data_type() {
            DataType::Int8 => a.as_primitive::<arrow::datatypes::Int8Type>().value(i) as i128,
            DataType::Int16 => a.as_primitive::<arrow::datatypes::Int16Type>().value(i) as i128,
            DataType::Int32 => a.as_primitive::<arrow::datatypes::Int32Type>().value(i) as i128,
            DataType::Int64 => a.as_primitive::<Int64Type>().value(i) as i128,
            DataType::UInt8 => a.as_primitive::<arrow::datatypes::UInt8Type>().value(i) as i128,
            DataType::UInt16 => a.as_primitive::<arrow::datatypes::UInt16Type>().value(i) as i128,
            DataType::UInt32 => a.as_primitive::<arrow::datatypes::UInt32Type>().value(i) as i128,
            DataType::UInt64 => a.as_primitive::<arrow::datatypes::UInt64Type>().value(i) as i128,
            _ => return None,
        })
    };
    // Prefix sums over sorted positions (frames never leave a partition).
    let mut pc = vec![0i64; n + 1];
    let mut pi = vec![0i128; n + 1];
    let mut pf = vec![0f64; n + 1];
    for s in 0..n {
        let i = perm[s];
        let ok = valid(i);
        pc[s + 1] = pc[s] + i64::from(ok);
        let (mut di, mut df) = (0i128, 0f64);
        if ok {
            if let Some(d) = dec {
                di = d.value(i);
            } else if ints {
                di = int_of(i).unwrap_or(0);
            } else if let Some(x) = fl {
                df = x.value(i);
            }
        }
        pi[s + 1] = pi[s] + di;
        pf[s + 1] = pf[s] + df;
    }
    let bounds = |s: usize| bounds[s];
    let mut acc = Acc {
        count: vec![0; n],
        acc_f: vec![0.0; n],
        acc_i: vec![0; n],
        best: vec![None; n],
    };
    for s in 0..n {
        let (lo, hi) = bounds(s);
        acc.count[s] = pc[hi] - pc[lo];
        acc.acc_i[s] = pi[hi] - pi[lo];
        acc.acc_f[s] = if bounded && fl.is_some() && dec.is_none() && !ints {
            // Floats summed in order, as a direct sum would (no prefix-difference rounding).
            perm[lo..hi]
                .iter()
                .filter(|&&i| valid(i))
                .map(|&i| fl.expect("floats").value(i))
                .sum()
        } else {
            pf[hi] - pf[lo]
        };
    }
    if let (AggFunc::Min | AggFunc::Max, Some(a)) = (f, v) {
        let rows = rows_of(std::slice::from_ref(a))?.expect("min/max rows");
        let better = |x: usize, y: usize| {
            let (rx, ry) = (rows.row(perm[x]), rows.row(perm[y]));
            if f == AggFunc::Min { rx < ry } else { rx > ry }
        };
        let mut queue: std::collections::VecDeque<usize> = Default::default();
        let mut next = 0usize; // next sorted position to enter the queue
        for s in 0..n {
            let (lo, hi) = bounds(s);
            if next < lo {
                queue.clear();
                next = lo;
            }
            while next < hi {
                if valid(perm[next]) {
                    while queue.back().is_some_and(|&b| !better(b, next)) {
                        queue.pop_back();
                    }
                    queue.push_back(next);
                }
                next += 1;
            }
            while queue.front().is_some_and(|&q| q < lo) {
                queue.pop_front();
            }
            acc.best[s] = queue.front().map(|&q| perm[q]);
        }
    }
    Ok(acc)
}

/// The output column of a window aggregate from its per-position [`Acc`], in input order.
fn finish(
    f: AggFunc,
    v: Option<&ArrayRef>,
    perm: &[usize],
    acc: Acc,
    out_type: &DataType,
) -> Result<ArrayRef> {
    let n = perm.len();
    let Acc {
        count,
        acc_f,
        acc_i,
        best,
    } = acc;
    // Scatter from sorted positions back to input rows.
    let mut at = vec![0usize; n];
    for (s, &i) in perm.iter().enumerate() {
        at[i] = s;
    }
    let is_dec = matches!(v.map(|a| a.data_type()), Some(DataType::Decimal128(..)));
    let is_int = v.is_some_and(|a| a.data_type().is_integer());
    let num = |x: usize| -> f64 {
        if is_dec || is_int {
            acc_i[x] as f64
        } else {
            acc_f[x]
        }
    };
    let out: ArrayRef = match f {
        AggFunc::Count | AggFunc::CountStar => Arc::new(Int64Array::from(
            (0..n).map(|i| count[at[i]]).collect::<Vec<_>>(),
        )),
        AggFunc::Sum => match out_type {
            DataType::Decimal128(p, sc) => Arc::new(
                (0..n)
                    .map(|i| (count[at[i]] > 0).then_some(acc_i[at[i]]))
                    .collect::<Decimal128Array>()
                    .with_precision_and_scale(*p, *sc)?,
            ),
            DataType::Int64 => Arc::new(
                (0..n)
                    .map(|i| (count[at[i]] > 0).then_some(acc_i[at[i]] as i64))
                    .collect::<Int64Array>(),
            ),
            _ => Arc::new(
                (0..n)
                    .map(|i| (count[at[i]] > 0).then_some(acc_f[at[i]]))
                    .collect::<Float64Array>(),
            ),
        },
        AggFunc::Avg => {
            let scale = match v.map(|a| a.data_type()) {
                Some(DataType::Decimal128(_, s)) => 10f64.powi(*s as i32),
                _ => 1.0,
            };
            Arc::new(
                (0..n)
                    .map(|i| {
                        let x = at[i];
                        (count[x] > 0).then(|| num(x) / scale / count[x] as f64)
                    })
                    .collect::<Float64Array>(),
            )
        }
        AggFunc::VarSamp
        | AggFunc::VarPop
        | AggFunc::StddevSamp
        | AggFunc::StddevPop
        | AggFunc::TrainLogistic(_)
        | AggFunc::Median
        | AggFunc::PercentileCont
        | AggFunc::PercentileDisc
        | AggFunc::Mode
        | AggFunc::StringAgg
        | AggFunc::ArrayAgg
        | AggFunc::ArgMax
        | AggFunc::ArgMin => {
            return Err(SqlError::NotSupported(format!(
                "{f:?} as a window function (use it in GROUP BY aggregation)"
            )));
        }
        AggFunc::Min | AggFunc::Max => {
            let idx: UInt32Array = (0..n).map(|i| best[at[i]].map(|j| j as u32)).collect();
            arrow::compute::take(v.expect("argument"), &idx, None)?
        }
    };
    if out.data_type() == out_type {
        Ok(out)
    } else {
        Ok(arrow::compute::cast(&out, out_type)?)
    }
}

//! The rows of a `RANGE BETWEEN a AND b` frame with offsets: for each row, the sorted
//! positions whose ORDER BY key lies between its two edge values (`key - n` and `key + m`
//! on an ascending key, computed by the planner's bound expressions).
//!
//! Keys and edges are compared in arrow's row format, encoded with the window's own sort
//! options, so one byte order covers ascending and descending keys, numbers, dates and
//! timestamps alike; each edge is then a binary search in the sorted partition. A row with
//! a NULL key frames its NULL peers (as PostgreSQL does); a row with a key never frames
//! NULL-keyed rows unless a side is UNBOUNDED.

use crate::error::Result;
use crate::expr::common_type;
use crate::plan::SortKey;
use arrow::array::{Array, ArrayRef};
use arrow::compute::{SortOptions, cast};
use arrow::row::{RowConverter, Rows, SortField};

/// Per sorted position, the frame's `[lo, hi)` sorted positions. `key`: the ORDER BY
/// column in input order with its sort key; `edges`: the start and end values per input
/// row (`None`: unbounded); `perm`: sorted position to input row; `starts`/`pend`: each
/// sorted position's partition `[start, end)`.
pub fn bounds(
    key: (&ArrayRef, &SortKey),
    edges: [Option<&ArrayRef>; 2],
    perm: &[usize],
    starts: &[usize],
    pend: &[usize],
) -> Result<Vec<(usize, usize)>> {
    let (k, sk) = key;
    // One type for the key and both edges (`int_key - 1.5` is a float).
    let mut t = k.data_type().clone();
    for e in edges.iter().flatten() {
        if let Some(c) = common_type(&t, e.data_type()) {
            t = c;
        }
    }
    let conv = RowConverter::new(vec![SortField::new_with_options(
        t.clone(),
        SortOptions {
            descending: !sk.asc,
            nulls_first: sk.nulls_first,
        },
    )])?;
    let rows = |a: &ArrayRef| -> Result<Rows> { Ok(conv.convert_columns(&[cast(a, &t)?])?) };
    let keys = rows(k)?;
    let [lo, hi] = edges;
    let (lo, hi) = (lo.map(rows).transpose()?, hi.map(rows).transpose()?);
    let n = perm.len();
    let mut out = Vec::with_capacity(n);
    let mut s = 0;
    while s < n {
        let (ps, pe) = (starts[s], pend[s]);
        // NULL keys sit together at one end of the partition.
        let nulls = if sk.nulls_first {
            let e = (ps..pe).find(|&t| k.is_valid(perm[t])).unwrap_or(pe);
            (ps, e)
        } else {
            let b = (ps..pe)
                .rev()
                .find(|&t| k.is_valid(perm[t]))
                .map_or(ps, |t| t + 1);
            (b, pe)
        };
        let (a, b) = if sk.nulls_first {
            (nulls.1, pe)
        } else {
            (ps, nulls.0)
        };
        // First position in [a, b) whose key is past `edge` (`>=` when `inclusive`).
        let search = |edge: arrow::row::Row<'_>, inclusive: bool| -> usize {
            let (mut l, mut r) = (a, b);
            while l < r {
                let m = (l + r) / 2;
                let km = keys.row(perm[m]);
                let before = if inclusive { km < edge } else { km <= edge };
                if before {
                    l = m + 1;
                } else {
                    r = m;
                }
            }
            l
        };
        for &i in &perm[ps..pe] {
            let (l, h) = if k.is_null(i) {
                (
                    if lo.is_some() { nulls.0 } else { ps },
                    if hi.is_some() { nulls.1 } else { pe },
                )
            } else {
                (
                    lo.as_ref().map_or(ps, |r| search(r.row(i), true)),
                    hi.as_ref().map_or(pe, |r| search(r.row(i), false)),
                )
            };
            out.push((l, h.max(l)));
        }
        s = pe;
    }
    Ok(out)
}

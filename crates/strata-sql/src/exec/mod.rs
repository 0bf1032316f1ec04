//! Vectorized execution: every operator takes and returns *partitions*, each a list of
//! Arrow record batches, and works on whole columns with arrow's compute kernels.
//! Partitions run in parallel on all cores ([`par_map`]): scans read one file per partition,
//! filters and projections stay within a partition, aggregation runs partially per
//! partition and merges, joins build one hash table and probe partitions in parallel.
//!
//! The executor materializes each operator's output (no pipelining across operators yet) and
//! keeps it in memory; see ARCHITECTURE.md for the gaps (spilling, streaming).

mod aggregate;
mod join;
mod scan;

use crate::error::{Result, SqlError};
use crate::plan::{Plan, SortKey};
use arrow::array::{ArrayRef, BooleanArray};
use arrow::compute::{SortColumn, SortOptions, concat_batches, filter_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The output of an operator: partitions of batches.
pub type Partitions = Vec<Vec<RecordBatch>>;

/// Runs `f` on every item on all cores, keeping the order.
pub fn par_map<T: Send, R: Send>(
    items: Vec<T>,
    f: impl Fn(T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let n = items.len();
    let threads = std::thread::available_parallelism()
        .map_or(2, |t| t.get())
        .min(n.max(1));
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let out: Vec<Mutex<Option<Result<R>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let item = slots[i].lock().unwrap().take().expect("each item once");
                    *out[i].lock().unwrap() = Some(f(item));
                }
            });
        }
    });
    out.into_iter()
        .map(|m| m.into_inner().unwrap().expect("every item ran"))
        .collect()
}

/// All batches of all partitions as one batch.
pub fn concat(schema: &SchemaRef, parts: &Partitions) -> Result<RecordBatch> {
    let all: Vec<&RecordBatch> = parts.iter().flatten().collect();
    Ok(concat_batches(schema, all)?)
}

/// Keeps the rows where `mask` is true (NULL counts as false).
pub fn filter_batch(batch: &RecordBatch, mask: &ArrayRef) -> Result<RecordBatch> {
    let m = mask
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| SqlError::Plan("a WHERE/HAVING/ON condition must be boolean".into()))?;
    Ok(filter_record_batch(batch, m)?)
}

/// Runs a plan.
pub fn execute(plan: &Plan) -> Result<Partitions> {
    match plan {
        Plan::Scan {
            table,
            projection,
            filters,
        } => scan::scan(table, projection, filters),
        Plan::Filter { input, predicate } => {
            let parts = execute(input)?;
            par_map(parts, |p| {
                p.iter()
                    .map(|b| {
                        let m = predicate.eval(b)?.into_array(b.num_rows())?;
                        filter_batch(b, &m)
                    })
                    .collect()
            })
        }
        Plan::Project { input, exprs } => {
            let schema = plan.schema();
            let parts = execute(input)?;
            par_map(parts, |p| {
                p.iter()
                    .map(|b| {
                        let cols = exprs
                            .iter()
                            .map(|(e, _)| e.eval(b)?.into_array(b.num_rows()))
                            .collect::<Result<Vec<_>>>()?;
                        Ok(RecordBatch::try_new_with_options(
                            schema.clone(),
                            cols,
                            &arrow::record_batch::RecordBatchOptions::new()
                                .with_row_count(Some(b.num_rows())),
                        )?)
                    })
                    .collect()
            })
        }
        Plan::Aggregate { input, group, aggs } => {
            let parts = execute(input)?;
            aggregate::aggregate(&input.schema(), parts, group, aggs, &plan.schema())
        }
        Plan::Join {
            left,
            right,
            kind,
            on,
            filter,
        } => {
            let (l, r) = (execute(left)?, execute(right)?);
            join::hash_join(
                l,
                &left.schema(),
                r,
                &right.schema(),
                *kind,
                on,
                filter.as_ref(),
                &plan.schema(),
            )
        }
        Plan::Sort { input, keys, fetch } => {
            let parts = execute(input)?;
            Ok(vec![vec![sort(&input.schema(), &parts, keys, *fetch)?]])
        }
        Plan::Limit { input, n } => {
            let parts = execute(input)?;
            let mut left = *n;
            let mut out = Vec::new();
            for b in parts.into_iter().flatten() {
                if left == 0 {
                    break;
                }
                let take = left.min(b.num_rows());
                out.push(b.slice(0, take));
                left -= take;
            }
            Ok(vec![out])
        }
    }
}

fn sort(
    schema: &SchemaRef,
    parts: &Partitions,
    keys: &[SortKey],
    fetch: Option<usize>,
) -> Result<RecordBatch> {
    let all = concat(schema, parts)?;
    if all.num_rows() == 0 {
        return Ok(all);
    }
    let cols = keys
        .iter()
        .map(|k| {
            Ok(SortColumn {
                values: k.expr.eval(&all)?.into_array(all.num_rows())?,
                options: Some(SortOptions {
                    descending: !k.asc,
                    nulls_first: k.nulls_first,
                }),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let idx = arrow::compute::lexsort_to_indices(&cols, fetch)?;
    let columns = all
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c, &idx, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

//! `WITH RECURSIVE` by semi-naive iteration: the anchor's rows seed the work table; each
//! round runs the recursive term over the rows the previous round added (read through the
//! `WorkTable` leaf, see [`Ctx::work`]) and appends what it produces, until a round adds
//! nothing. Under `UNION`, a row already produced (or produced twice in one round) is
//! dropped before it joins the work table, so the iteration reaches a fixpoint even over
//! cyclic graphs. Rows are held in memory against the query's budget: a recursion that
//! never ends fails with an error naming the budget instead of exhausting the machine.

use super::{Ctx, Stream, run};
use crate::error::{Result, SqlError};
use crate::plan::Plan;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::OwnedRow;
use std::collections::HashSet;

/// Rounds after which a recursion is stopped as runaway.
pub const MAX_ROUNDS: usize = 1_000_000;

/// Runs a [`Plan::Recursive`] whose anchor is node `id + 1`.
pub fn recursive<'a>(
    ctx: &'a Ctx,
    id: usize,
    anchor: &'a Plan,
    step: &'a Plan,
    distinct: bool,
    work: usize,
    schema: SchemaRef,
) -> Result<Vec<Stream<'a>>> {
    let mut memory = ctx.opts.runtime.memory().unspillable("sql recursive CTE");
    let conv = super::row_converter(&schema)?;
    let mut seen: HashSet<OwnedRow> = HashSet::new();
    // Rows of a round: aligned to the output schema, new ones only under UNION.
    let mut round = |plan: &'a Plan, node: usize| -> Result<Vec<RecordBatch>> {
        let parts = super::union::aligned(run(plan, ctx, node)?, schema.clone());
        let mut out = Vec::new();
        for b in super::collect(ctx, parts)?.into_iter().flatten() {
            let b = if distinct {
                let rows = conv.convert_columns(b.columns())?;
                let keep: arrow::array::BooleanArray =
                    rows.iter().map(|r| Some(seen.insert(r.owned()))).collect();
                arrow::compute::filter_record_batch(&b, &keep)?
            } else {
                b
            };
            if b.num_rows() > 0 {
                out.push(b);
            }
        }
        let bytes: usize = out.iter().map(|b| b.get_array_memory_size()).sum();
        memory.try_grow(bytes as u64).map_err(|e| {
            SqlError::Execution(format!(
                "a recursive CTE outgrew the memory budget ({e}); check that its recursive \
                 term stops adding rows (a WHERE that ends it, or UNION instead of UNION \
                 ALL over a cyclic graph), or raise --memory"
            ))
        })?;
        Ok(out)
    };
    let mut all = round(anchor, id + 1)?;
    let mut last = all.clone();
    let step_id = id + 1 + anchor.size();
    let mut rounds = 0;
    while !last.is_empty() {
        ctx.opts.cancel.check()?;
        rounds += 1;
        if rounds > MAX_ROUNDS {
            return Err(SqlError::Execution(format!(
                "a recursive CTE ran {MAX_ROUNDS} rounds without reaching a fixpoint; add a \
                 condition that stops its recursive term"
            )));
        }
        ctx.work.lock().unwrap().insert(work, last);
        last = round(step, step_id)?;
        all.extend(last.iter().cloned());
    }
    ctx.work.lock().unwrap().remove(&work);
    Ok(vec![super::once(all)])
}

/// The rows a [`Plan::WorkTable`] leaf reads: the last round's, dealt to the threads.
pub fn work_table<'a>(ctx: &'a Ctx, work: usize) -> Result<Vec<Stream<'a>>> {
    let rows = ctx
        .work
        .lock()
        .unwrap()
        .get(&work)
        .cloned()
        .ok_or_else(|| {
            SqlError::NotSupported(
                "a recursive CTE's name inside a subquery of its own recursive term (refer to \
             it in the term's FROM)"
                    .into(),
            )
        })?;
    Ok(super::deal(ctx, &rows))
}

//! `WITH RECURSIVE t(cols) AS (anchor UNION [ALL] step)`: the anchor is planned first and
//! fixes the columns' types; while the step is planned, the name `t` means the rows the
//! previous round added (a [`Plan::WorkTable`] leaf). The result is a [`Plan::Recursive`]
//! that the executor iterates to a fixpoint (`exec/recursive.rs`).
//!
//! As in PostgreSQL, the step may name `t` once (linear recursion); a CTE of a `WITH
//! RECURSIVE` that never names itself is planned as an ordinary one.

use super::*;
use arrow::datatypes::{Field, Schema, SchemaRef};
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A recursive CTE whose step is being planned.
struct Work {
    name: String,
    id: usize,
    schema: SchemaRef,
    /// Times the step named it.
    uses: usize,
}

thread_local! {
    static WORK: RefCell<Vec<Work>> = const { RefCell::new(Vec::new()) };
}

/// Work-table ids, unique within the process (so within any one plan).
static NEXT_WORK: AtomicUsize = AtomicUsize::new(0);

/// The work-table leaf `name` means while a recursive step is planned, with its schema.
pub(super) fn work_table(name: &str) -> Option<(Plan, SchemaRef)> {
    WORK.with(|w| {
        let mut w = w.borrow_mut();
        let t = w
            .iter_mut()
            .rev()
            .find(|t| t.name.eq_ignore_ascii_case(name))?;
        t.uses += 1;
        Some((
            Plan::WorkTable {
                work: t.id,
                schema: t.schema.clone(),
            },
            t.schema.clone(),
        ))
    })
}

/// Plans the recursive CTE `def` (its query's CTEs before it in scope).
pub(super) fn plan(
    def: &Cte,
    tables: &dyn Tables,
    words: &HashSet<String>,
) -> Result<(Plan, Scope)> {
    let sql::SetExpr::SetOperation {
        op: sql::SetOperator::Union,
        set_quantifier,
        left,
        right,
    } = def.query.body.as_ref()
    else {
        return plan_query_with(&def.query, tables, words);
    };
    let distinct = match set_quantifier {
        sql::SetQuantifier::All => false,
        sql::SetQuantifier::Distinct | sql::SetQuantifier::None => true,
        other => {
            return Err(SqlError::NotSupported(format!(
                "UNION {other} in the recursive CTE {} (use UNION or UNION ALL)",
                def.name
            )));
        }
    };
    let term = |body: &sql::SetExpr| {
        let mut q = def.query.clone();
        q.with = None;
        q.order_by = None;
        q.limit_clause = None;
        *q.body = body.clone();
        q
    };
    let (anchor, anchor_scope) = plan_query_with(&term(left), tables, words)?;
    if def.columns.len() > anchor_scope.names.len() {
        return Err(SqlError::Plan(format!(
            "WITH RECURSIVE {}({}) names {} columns but its first term gives {}",
            def.name,
            def.columns.join(", "),
            def.columns.len(),
            anchor_scope.names.len()
        )));
    }
    let fields: Vec<Field> = anchor_scope
        .names
        .iter()
        .enumerate()
        .map(|(i, (_, n))| {
            let name = def.columns.get(i).map_or(n.as_str(), String::as_str);
            let t = anchor.schema().field(i).data_type().clone();
            // A NULL literal in the anchor would fix the column to no type at all.
            let t = if t.is_null() {
                arrow::datatypes::DataType::Utf8
            } else {
                t
            };
            Field::new(name.to_lowercase(), t, true)
        })
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let id = NEXT_WORK.fetch_add(1, Ordering::Relaxed);
    WORK.with(|w| {
        w.borrow_mut().push(Work {
            name: def.name.clone(),
            id,
            schema: schema.clone(),
            uses: 0,
        })
    });
    let step = plan_query_with(&term(right), tables, words);
    let uses = WORK.with(|w| w.borrow_mut().pop().map_or(0, |t| t.uses));
    let (step, step_scope) = step?;
    if uses == 0 {
        // Never names itself: an ordinary UNION.
        return plan_query_with(&def.query, tables, words);
    }
    if uses > 1 {
        return Err(SqlError::NotSupported(format!(
            "the recursive CTE {} names itself {uses} times in its recursive term (name it \
             once: linear recursion, as PostgreSQL requires)",
            def.name
        )));
    }
    if step_scope.names.len() != schema.fields().len() {
        return Err(SqlError::Plan(format!(
            "the recursive CTE {}: its recursive term gives {} columns, its first term {}",
            def.name,
            step_scope.names.len(),
            schema.fields().len()
        )));
    }
    for (a, b) in schema.fields().iter().zip(step.schema().fields()) {
        let (ta, tb) = (a.data_type(), b.data_type());
        if ta != tb && !tb.is_null() && !arrow::compute::can_cast_types(tb, ta) {
            return Err(SqlError::Plan(format!(
                "the recursive CTE {}: column {} is {ta} in the first term but {tb} in the \
                 recursive term (CAST one of them)",
                def.name,
                a.name()
            )));
        }
    }
    if def.query.order_by.is_some() || def.query.limit_clause.is_some() {
        return Err(SqlError::NotSupported(format!(
            "ORDER BY / LIMIT inside the recursive CTE {} (apply them to the query that \
             reads it)",
            def.name
        )));
    }
    let plan = Plan::Recursive {
        anchor: Box::new(anchor),
        step: Box::new(step),
        distinct,
        work: id,
        schema: schema.clone(),
    };
    Ok((plan, Scope::new(schema, None)))
}

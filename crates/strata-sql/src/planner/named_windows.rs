//! Named windows: `SELECT rank() OVER w, sum(x) OVER (w ROWS 2 PRECEDING) FROM t WINDOW w AS
//! (PARTITION BY g ORDER BY x)`. Each reference is replaced by the definition it names
//! before planning (a window that names another takes the other's PARTITION BY and ORDER BY
//! and adds its own ordering or frame, as in the SQL standard and PostgreSQL), so the rest
//! of the planner sees only inline windows.

use super::*;
use sqlparser::ast::{VisitMut, VisitorMut};
use std::collections::HashMap;
use std::ops::ControlFlow;

/// `q` with the named windows of its SELECT inlined, when it has any.
pub(super) fn inline(q: &sql::Query, s: &sql::Select) -> Result<Option<sql::Query>> {
    if s.named_window.is_empty() {
        return Ok(None);
    }
    let mut defs: HashMap<String, sql::WindowSpec> = HashMap::new();
    for sql::NamedWindowDefinition(name, expr) in &s.named_window {
        let spec = match expr {
            sql::NamedWindowExpr::WindowSpec(spec) => resolve(spec, &defs)?,
            sql::NamedWindowExpr::NamedWindow(other) => lookup(other, &defs)?.clone(),
        };
        defs.insert(name.value.to_lowercase(), spec);
    }
    let mut r = Inliner {
        defs,
        error: None,
        depth: 0,
    };
    let mut s2 = s.clone();
    s2.named_window.clear();
    for item in s2.projection.iter_mut() {
        let _ = item.visit(&mut r);
    }
    if let Some(qu) = s2.qualify.as_mut() {
        let _ = qu.visit(&mut r);
    }
    let mut out = q.clone();
    if let Some(ob) = out.order_by.as_mut() {
        let _ = ob.visit(&mut r);
    }
    if let Some(e) = r.error {
        return Err(e);
    }
    *out.body = sql::SetExpr::Select(Box::new(s2));
    Ok(Some(out))
}

fn lookup<'a>(
    name: &sql::Ident,
    defs: &'a HashMap<String, sql::WindowSpec>,
) -> Result<&'a sql::WindowSpec> {
    defs.get(&name.value.to_lowercase()).ok_or_else(|| {
        SqlError::Plan(format!(
            "window {name} is not defined (define it in the WINDOW clause before its use)"
        ))
    })
}

/// `spec` with the window it names (`(w ORDER BY x)`) merged in.
fn resolve(
    spec: &sql::WindowSpec,
    defs: &HashMap<String, sql::WindowSpec>,
) -> Result<sql::WindowSpec> {
    let Some(base) = &spec.window_name else {
        return Ok(spec.clone());
    };
    let b = lookup(base, defs)?;
    if !spec.partition_by.is_empty() {
        return Err(SqlError::Plan(format!(
            "a window that names window {base} cannot have its own PARTITION BY"
        )));
    }
    if !b.order_by.is_empty() && !spec.order_by.is_empty() {
        return Err(SqlError::Plan(format!(
            "window {base} has an ORDER BY already; a window naming it cannot add another"
        )));
    }
    if b.window_frame.is_some() {
        return Err(SqlError::Plan(format!(
            "window {base} has a frame; a window cannot name a window with a frame"
        )));
    }
    Ok(sql::WindowSpec {
        window_name: None,
        partition_by: b.partition_by.clone(),
        order_by: if spec.order_by.is_empty() {
            b.order_by.clone()
        } else {
            spec.order_by.clone()
        },
        window_frame: spec.window_frame.clone(),
    })
}

struct Inliner {
    defs: HashMap<String, sql::WindowSpec>,
    error: Option<SqlError>,
    /// Subqueries entered.
    depth: usize,
}

impl VisitorMut for Inliner {
    type Break = ();

    // A subquery's windows are its own (its WINDOW clause is inlined when it is planned).
    fn pre_visit_query(&mut self, _q: &mut sql::Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &mut sql::Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut sql::Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        if let sql::Expr::Function(f) = e {
            let resolved = match &f.over {
                Some(sql::WindowType::NamedWindow(name)) => lookup(name, &self.defs).cloned(),
                Some(sql::WindowType::WindowSpec(spec)) if spec.window_name.is_some() => {
                    resolve(spec, &self.defs)
                }
                _ => return ControlFlow::Continue(()),
            };
            match resolved {
                Ok(spec) => f.over = Some(sql::WindowType::WindowSpec(spec)),
                Err(err) => {
                    self.error.get_or_insert(err);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

//! The logical plan: a closed enum of relational operators over bound expressions.
//!
//! Every node knows its output schema. The planner ([`crate::planner`]) builds it from SQL;
//! rewrite rules ([`crate::optimizer`]) push predicates and projections down and order joins;
//! the executor ([`crate::exec`]) runs it on partitions of Arrow record batches.

use crate::catalog::Table;
use crate::expr::Expr;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::fmt::Write;
use std::sync::Arc;

/// Aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    /// `SUM(x)`
    Sum,
    /// `COUNT(x)` (non-null values)
    Count,
    /// `COUNT(*)`
    CountStar,
    /// `AVG(x)`
    Avg,
    /// `MIN(x)`
    Min,
    /// `MAX(x)`
    Max,
}

/// One aggregate in an [`Plan::Aggregate`].
#[derive(Clone, Debug)]
pub struct AggCall {
    /// Which function.
    pub func: AggFunc,
    /// Its argument (none for `COUNT(*)`).
    pub arg: Option<Expr>,
    /// `DISTINCT` values only.
    pub distinct: bool,
}

/// Join types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// Matching pairs.
    Inner,
    /// Every left row, with NULLs where nothing matches.
    Left,
    /// Left rows with a match (EXISTS / IN).
    Semi,
    /// Left rows without a match (NOT EXISTS / NOT IN).
    Anti,
}

/// A sort key.
#[derive(Clone, Debug)]
pub struct SortKey {
    /// What to sort by.
    pub expr: Expr,
    /// Ascending?
    pub asc: bool,
    /// NULLs first?
    pub nulls_first: bool,
}

/// A relational operator.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Read columns `projection` of a table, keeping rows where every filter holds
    /// (filters refer to the projected columns).
    Scan {
        /// The table.
        table: Arc<Table>,
        /// Columns read, by index in the table's schema.
        projection: Vec<usize>,
        /// Predicates over the projected columns.
        filters: Vec<Expr>,
    },
    /// Rows where `predicate` is true.
    Filter {
        /// Input.
        input: Box<Plan>,
        /// A boolean expression.
        predicate: Expr,
    },
    /// Computed columns.
    Project {
        /// Input.
        input: Box<Plan>,
        /// Output expressions with their names.
        exprs: Vec<(Expr, String)>,
    },
    /// Groups and aggregates: output is the group keys, then the aggregates.
    Aggregate {
        /// Input.
        input: Box<Plan>,
        /// Group keys with names.
        group: Vec<(Expr, String)>,
        /// Aggregates with names.
        aggs: Vec<(AggCall, String)>,
    },
    /// A hash join on equal keys, with an optional residual predicate over the concatenated
    /// row. Output: left columns then right columns (left only for semi/anti joins).
    Join {
        /// Probe side (preserved by a left join).
        left: Box<Plan>,
        /// Build side.
        right: Box<Plan>,
        /// Join kind.
        kind: JoinKind,
        /// Equal keys: (left expression, right expression).
        on: Vec<(Expr, Expr)>,
        /// Other conditions, over left ++ right columns.
        filter: Option<Expr>,
    },
    /// Ordered rows, optionally only the first `fetch` (top-k).
    Sort {
        /// Input.
        input: Box<Plan>,
        /// Keys, most significant first.
        keys: Vec<SortKey>,
        /// Keep only this many.
        fetch: Option<usize>,
    },
    /// The first `n` rows.
    Limit {
        /// Input.
        input: Box<Plan>,
        /// How many.
        n: usize,
    },
}

impl Plan {
    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        match self {
            Plan::Scan {
                table, projection, ..
            } => Arc::new(
                table
                    .schema
                    .project(projection)
                    .expect("projection in range"),
            ),
            Plan::Filter { input, .. } | Plan::Sort { input, .. } | Plan::Limit { input, .. } => {
                input.schema()
            }
            Plan::Project { input, exprs } => {
                let s = input.schema();
                Arc::new(Schema::new(
                    exprs
                        .iter()
                        .map(|(e, n)| {
                            Field::new(n, e.data_type(&s).unwrap_or(DataType::Null), true)
                        })
                        .collect::<Vec<_>>(),
                ))
            }
            Plan::Aggregate { input, group, aggs } => {
                let s = input.schema();
                let mut fields: Vec<Field> = group
                    .iter()
                    .map(|(e, n)| Field::new(n, e.data_type(&s).unwrap_or(DataType::Null), true))
                    .collect();
                for (a, n) in aggs {
                    fields.push(Field::new(n, agg_type(a, &s), true));
                }
                Arc::new(Schema::new(fields))
            }
            Plan::Join {
                left, right, kind, ..
            } => {
                let l = left.schema();
                if matches!(kind, JoinKind::Semi | JoinKind::Anti) {
                    return l;
                }
                let r = right.schema();
                let fields: Vec<Field> = l
                    .fields()
                    .iter()
                    .chain(r.fields().iter())
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect();
                Arc::new(Schema::new(fields))
            }
        }
    }

    /// An indented description, one operator per line (`EXPLAIN`).
    pub fn explain(&self) -> String {
        let mut out = String::new();
        self.explain_into(0, &mut out);
        out
    }

    fn explain_into(&self, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        let list = |v: &[(Expr, String)]| {
            v.iter()
                .map(|(e, n)| format!("{e} AS {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Plan::Scan {
                table,
                projection,
                filters,
            } => {
                let cols: Vec<&str> = projection
                    .iter()
                    .map(|i| table.schema.field(*i).name().as_str())
                    .collect();
                let _ = write!(out, "{pad}Scan {} [{}]", table.name, cols.join(", "));
                if !filters.is_empty() {
                    let f: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
                    let _ = write!(out, " filters: {}", f.join(" AND "));
                }
                out.push('\n');
            }
            Plan::Filter { input, predicate } => {
                let _ = writeln!(out, "{pad}Filter {predicate}");
                input.explain_into(depth + 1, out);
            }
            Plan::Project { input, exprs } => {
                let _ = writeln!(out, "{pad}Project {}", list(exprs));
                input.explain_into(depth + 1, out);
            }
            Plan::Aggregate { input, group, aggs } => {
                let a: Vec<String> = aggs
                    .iter()
                    .map(|(a, n)| {
                        let arg = a.arg.as_ref().map(|e| e.to_string()).unwrap_or("*".into());
                        let d = if a.distinct { "DISTINCT " } else { "" };
                        format!("{:?}({d}{arg}) AS {n}", a.func)
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "{pad}Aggregate group=[{}] aggs=[{}]",
                    list(group),
                    a.join(", ")
                );
                input.explain_into(depth + 1, out);
            }
            Plan::Join {
                left,
                right,
                kind,
                on,
                filter,
            } => {
                let keys: Vec<String> = on.iter().map(|(l, r)| format!("{l} = {r}")).collect();
                let _ = write!(out, "{pad}HashJoin {kind:?} on [{}]", keys.join(", "));
                if let Some(f) = filter {
                    let _ = write!(out, " filter {f}");
                }
                out.push('\n');
                left.explain_into(depth + 1, out);
                right.explain_into(depth + 1, out);
            }
            Plan::Sort { input, keys, fetch } => {
                let k: Vec<String> = keys
                    .iter()
                    .map(|k| format!("{} {}", k.expr, if k.asc { "ASC" } else { "DESC" }))
                    .collect();
                let _ = write!(out, "{pad}Sort [{}]", k.join(", "));
                if let Some(n) = fetch {
                    let _ = write!(out, " fetch {n}");
                }
                out.push('\n');
                input.explain_into(depth + 1, out);
            }
            Plan::Limit { input, n } => {
                let _ = writeln!(out, "{pad}Limit {n}");
                input.explain_into(depth + 1, out);
            }
        }
    }
}

/// The result type of an aggregate over `input`.
pub fn agg_type(a: &AggCall, input: &Schema) -> DataType {
    let arg = a
        .arg
        .as_ref()
        .and_then(|e| e.data_type(input).ok())
        .unwrap_or(DataType::Int64);
    match a.func {
        AggFunc::Count | AggFunc::CountStar => DataType::Int64,
        AggFunc::Avg => DataType::Float64,
        AggFunc::Sum => match arg {
            DataType::Decimal128(_, s) => DataType::Decimal128(38, s),
            t if t.is_integer() => DataType::Int64,
            _ => DataType::Float64,
        },
        AggFunc::Min | AggFunc::Max => arg,
    }
}

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// `VAR_SAMP(x)`, `VARIANCE(x)`: the sample variance (NULL below two values).
    VarSamp,
    /// `VAR_POP(x)`: the population variance.
    VarPop,
    /// `STDDEV_SAMP(x)`, `STDDEV(x)`: the sample standard deviation.
    StddevSamp,
    /// `STDDEV_POP(x)`: the population standard deviation.
    StddevPop,
    /// `train_logistic(label, x1, ..., xd [, 'options'])`: a logistic regression model
    /// trained by SGD (Bismarck; see [`crate::ml`]). Its argument is the row packed by
    /// `Func::PackRow`; its value the model as JSON text.
    TrainLogistic(crate::ml::Sgd),
    /// `median(x)`: the middle value, interpolated (`percentile_cont(0.5)`).
    Median,
    /// `percentile_cont(f) WITHIN GROUP (ORDER BY x)`, `quantile_cont(x, f)`: the value at
    /// fraction `f` of the ordered values, interpolated between neighbours.
    PercentileCont,
    /// `percentile_disc(f) WITHIN GROUP (ORDER BY x)`, `quantile_disc(x, f)`: the first value
    /// whose position in the order reaches fraction `f`.
    PercentileDisc,
    /// `mode() WITHIN GROUP (ORDER BY x)`, `mode(x)`: the most frequent value (the first in
    /// the order among equally frequent ones).
    Mode,
    /// `string_agg(x, sep [ORDER BY ...])`: the non-NULL values joined by `sep`.
    StringAgg,
    /// `array_agg(x [ORDER BY ...])`: the values (NULLs too) as a list.
    ArrayAgg,
    /// `arg_max(x, y)` / `max_by(x, y)`: `x` of a row where `y` is largest (rows with a
    /// NULL `y` skipped; ties go to the least `x`).
    ArgMax,
    /// `arg_min(x, y)` / `min_by(x, y)`: `x` of a row where `y` is smallest.
    ArgMin,
}

impl AggFunc {
    /// Trains a model: partial states are models, merged by averaging.
    pub fn is_model(self) -> bool {
        matches!(self, AggFunc::TrainLogistic(_))
    }

    /// Holistic aggregates: they need all of a group's values at once (no partial state
    /// smaller than the values), so they aggregate in one phase after rows meet by key.
    pub fn is_holistic(self) -> bool {
        matches!(
            self,
            AggFunc::Median
                | AggFunc::PercentileCont
                | AggFunc::PercentileDisc
                | AggFunc::Mode
                | AggFunc::StringAgg
                | AggFunc::ArrayAgg
                | AggFunc::ArgMax
                | AggFunc::ArgMin
        )
    }

    /// The variance family: computed from (count, mean, M2) moments (Welford's update,
    /// Chan's merge), so a large mean does not cancel away a small spread.
    pub fn is_moments(self) -> bool {
        matches!(
            self,
            AggFunc::VarSamp | AggFunc::VarPop | AggFunc::StddevSamp | AggFunc::StddevPop
        )
    }
}

/// One aggregate in an [`Plan::Aggregate`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AggCall {
    /// Which function.
    pub func: AggFunc,
    /// Its argument (none for `COUNT(*)`).
    pub arg: Option<Expr>,
    /// `DISTINCT` values only.
    pub distinct: bool,
    /// The order values are taken in (`string_agg(x, ',' ORDER BY y)`, `WITHIN GROUP
    /// (ORDER BY x DESC)`); empty where the function does not care.
    #[serde(default)]
    pub order: Vec<SortKey>,
    /// A constant argument: the fraction of a percentile, the separator of `string_agg`.
    #[serde(default)]
    pub param: Option<AggParam>,
    /// `FILTER (WHERE c)` of a holistic aggregate: rows where `c` is not true are skipped.
    /// (The other aggregates skip NULLs, so theirs is folded into `arg` as a CASE.)
    #[serde(default)]
    pub filter: Option<Expr>,
}

/// The constant argument of an aggregate.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum AggParam {
    /// A percentile's fraction, in [0, 1].
    Fraction(f64),
    /// The separator `string_agg` puts between values.
    Separator(String),
}

impl AggCall {
    /// A plain call: `func(arg)`, no DISTINCT, no order, no constant argument.
    pub fn plain(func: AggFunc, arg: Option<Expr>) -> AggCall {
        AggCall {
            func,
            arg,
            distinct: false,
            order: Vec::new(),
            param: None,
            filter: None,
        }
    }
}

/// Join types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JoinKind {
    /// Matching pairs.
    Inner,
    /// Every left row, with NULLs where nothing matches.
    Left,
    /// Left rows with a match (EXISTS / IN).
    Semi,
    /// Left rows without a match (NOT EXISTS).
    Anti,
    /// `NOT IN (subquery)`: left rows without a match, except that nothing passes when the
    /// right side holds a NULL key, and a NULL left key passes only when the right side is
    /// empty (SQL's three-valued IN).
    NullAwareAnti,
    /// Every right row, with NULLs where nothing matches.
    Right,
    /// Every row of both sides, with NULLs where nothing matches.
    Full,
}

/// Window functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WindowFunc {
    /// `ROW_NUMBER()`: 1, 2, 3... within the partition.
    RowNumber,
    /// `RANK()`: ties share a rank, then ranks skip.
    Rank,
    /// `DENSE_RANK()`: ties share a rank, no gaps.
    DenseRank,
    /// `LAG(x [, offset [, default]])`: the value `offset` rows before.
    Lag,
    /// `LEAD(x [, offset [, default]])`: the value `offset` rows after.
    Lead,
    /// `NTILE(n)`: the bucket 1..=n of the row, buckets as equal as can be (the first
    /// ones one row larger).
    Ntile,
    /// `PERCENT_RANK()`: (rank - 1) / (rows in the partition - 1); 0 for a lone row.
    PercentRank,
    /// `CUME_DIST()`: rows up to and including the current row's peers / rows.
    CumeDist,
    /// `FIRST_VALUE(x)`: `x` at the frame's first row.
    FirstValue,
    /// `LAST_VALUE(x)`: `x` at the frame's last row.
    LastValue,
    /// `NTH_VALUE(x, n)`: `x` at the frame's `n`th row (NULL when the frame is shorter).
    NthValue,
    /// An aggregate over the frame: with ORDER BY, from the partition's start through the
    /// current row and its peers (a running total); without, the whole partition.
    Agg(AggFunc),
}

/// One window function call in a [`Plan::Window`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct WindowCall {
    /// Which function.
    pub func: WindowFunc,
    /// Arguments: the value (LAG/LEAD/aggregates), then LAG/LEAD's offset and default
    /// (literals).
    pub args: Vec<Expr>,
    /// `PARTITION BY` keys.
    pub partition_by: Vec<Expr>,
    /// `ORDER BY` keys.
    pub order_by: Vec<SortKey>,
    /// Which rows an aggregate covers.
    pub frame: Frame,
}

/// The rows a window aggregate covers, relative to the current row.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Frame {
    /// From the partition's start through the current row and its peers (RANGE ... CURRENT
    /// ROW; the default with ORDER BY).
    Peers,
    /// From the partition's start through the current row (ROWS ... CURRENT ROW).
    Rows,
    /// The whole partition (the default without ORDER BY).
    Partition,
    /// `ROWS BETWEEN a AND b`: rows at offsets `start..=end` from the current row within
    /// its partition (negative: preceding; `None`: unbounded on that side).
    Between {
        /// First row's offset (`None`: the partition's start).
        start: Option<i64>,
        /// Last row's offset (`None`: the partition's end).
        end: Option<i64>,
    },
    /// `GROUPS BETWEEN a AND b`: like `Between`, counted in peer groups (rows with equal
    /// ORDER BY keys) instead of rows; the current row's whole group is offset 0.
    Groups {
        /// First group's offset (`None`: the partition's start).
        start: Option<i64>,
        /// Last group's offset (`None`: the partition's end).
        end: Option<i64>,
    },
    /// `RANGE BETWEEN a AND b` over the one ORDER BY key: the rows whose key lies between
    /// the bound expressions' values for the current row (`key - 3` for `3 PRECEDING` on
    /// an ascending key; the key itself for CURRENT ROW). `None`: unbounded on that side.
    /// Rows with a NULL key frame their NULL peers.
    Range {
        /// The key value the frame starts at.
        start: Option<Box<Expr>>,
        /// The key value the frame ends at.
        end: Option<Box<Expr>>,
    },
}

/// A sort key.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SortKey {
    /// What to sort by.
    pub expr: Expr,
    /// Ascending?
    pub asc: bool,
    /// NULLs first?
    pub nulls_first: bool,
}

/// A relational operator.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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
    /// `n` rows after skipping `offset` (`LIMIT n OFFSET offset`).
    Limit {
        /// Input.
        input: Box<Plan>,
        /// How many.
        n: usize,
        /// How many to skip first.
        #[serde(default)]
        offset: usize,
    },
    /// Rows already in memory (tables registered from Arrow batches, `VALUES`).
    Values {
        /// Their schema.
        schema: SchemaRef,
        /// The rows.
        #[serde(with = "crate::serial::batches")]
        batches: Vec<arrow::record_batch::RecordBatch>,
    },
    /// The rows of every input, in turn (`UNION ALL`); without duplicates when `distinct`
    /// (`UNION`). Inputs have the same number of columns, cast to the first's types.
    Union {
        /// Inputs.
        inputs: Vec<Plan>,
        /// Remove duplicate rows.
        distinct: bool,
    },
    /// The output of another stage, fed in by whoever runs the stages
    /// ([`crate::stages`]); a leaf of a stage's fragment.
    Exchange {
        /// The stage whose output this reads.
        stage: usize,
        /// Its schema.
        schema: SchemaRef,
    },
    /// The input's columns, then one column per window function.
    Window {
        /// Input.
        input: Box<Plan>,
        /// Functions with names.
        funcs: Vec<(WindowCall, String)>,
    },
    /// `WITH RECURSIVE`: the anchor's rows, then `step` run again and again over the rows
    /// the previous round added (its [`Plan::WorkTable`] leaf `work`) until a round adds
    /// none. With `distinct` (`UNION`), rows already produced are dropped each round.
    Recursive {
        /// The non-recursive term.
        anchor: Box<Plan>,
        /// The recursive term; reads the last round's rows through `WorkTable { work }`.
        step: Box<Plan>,
        /// `UNION` rather than `UNION ALL`.
        distinct: bool,
        /// The work table's id (unique within the query).
        work: usize,
        /// The output: the anchor's types, the CTE's column names.
        schema: SchemaRef,
    },
    /// The rows the previous round of the enclosing [`Plan::Recursive`] added.
    WorkTable {
        /// Which recursive CTE.
        work: usize,
        /// Its schema.
        schema: SchemaRef,
    },
}

impl Plan {
    /// The number of operators in this plan.
    pub fn size(&self) -> usize {
        1 + self.children().iter().map(|c| c.size()).sum::<usize>()
    }

    /// The inputs, left to right.
    pub fn children(&self) -> Vec<&Plan> {
        match self {
            Plan::Scan { .. }
            | Plan::Values { .. }
            | Plan::Exchange { .. }
            | Plan::WorkTable { .. } => vec![],
            Plan::Recursive { anchor, step, .. } => vec![anchor, step],
            Plan::Filter { input, .. }
            | Plan::Project { input, .. }
            | Plan::Aggregate { input, .. }
            | Plan::Sort { input, .. }
            | Plan::Limit { input, .. }
            | Plan::Window { input, .. } => vec![input],
            Plan::Join { left, right, .. } => vec![left, right],
            Plan::Union { inputs, .. } => inputs.iter().collect(),
        }
    }

    /// This node with `f` applied to each input.
    pub fn map_children(self, f: &mut impl FnMut(Plan) -> Plan) -> Plan {
        let mut b = |p: Box<Plan>| Box::new(f(*p));
        match self {
            Plan::Scan { .. }
            | Plan::Values { .. }
            | Plan::Exchange { .. }
            | Plan::WorkTable { .. } => self,
            Plan::Recursive {
                anchor,
                step,
                distinct,
                work,
                schema,
            } => Plan::Recursive {
                anchor: b(anchor),
                step: b(step),
                distinct,
                work,
                schema,
            },
            Plan::Filter { input, predicate } => Plan::Filter {
                input: b(input),
                predicate,
            },
            Plan::Project { input, exprs } => Plan::Project {
                input: b(input),
                exprs,
            },
            Plan::Aggregate { input, group, aggs } => Plan::Aggregate {
                input: b(input),
                group,
                aggs,
            },
            Plan::Join {
                left,
                right,
                kind,
                on,
                filter,
            } => Plan::Join {
                left: b(left),
                right: b(right),
                kind,
                on,
                filter,
            },
            Plan::Sort { input, keys, fetch } => Plan::Sort {
                input: b(input),
                keys,
                fetch,
            },
            Plan::Limit { input, n, offset } => Plan::Limit {
                input: b(input),
                n,
                offset,
            },
            Plan::Union { inputs, distinct } => Plan::Union {
                inputs: inputs.into_iter().map(&mut *f).collect(),
                distinct,
            },
            Plan::Window { input, funcs } => Plan::Window {
                input: b(input),
                funcs,
            },
        }
    }

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
                if matches!(
                    kind,
                    JoinKind::Semi | JoinKind::Anti | JoinKind::NullAwareAnti
                ) {
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
            Plan::Values { schema, .. }
            | Plan::Exchange { schema, .. }
            | Plan::Recursive { schema, .. }
            | Plan::WorkTable { schema, .. } => schema.clone(),
            Plan::Union { inputs, .. } => {
                let first = inputs[0].schema();
                let fields: Vec<Field> = first
                    .fields()
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let nullable = inputs
                            .iter()
                            .any(|p| p.schema().fields().get(i).is_none_or(|g| g.is_nullable()));
                        f.as_ref().clone().with_nullable(nullable)
                    })
                    .collect();
                Arc::new(Schema::new(fields))
            }
            Plan::Window { input, funcs } => {
                let s = input.schema();
                let mut fields: Vec<Field> =
                    s.fields().iter().map(|f| f.as_ref().clone()).collect();
                for (w, n) in funcs {
                    fields.push(Field::new(n, window_type(w, &s), true));
                }
                Arc::new(Schema::new(fields))
            }
        }
    }

    /// An indented description, one operator per line (`EXPLAIN`).
    pub fn explain(&self) -> String {
        let mut out = String::new();
        self.explain_into(0, &mut out, &mut |_| String::new());
        out
    }

    /// [`Plan::explain`] with each operator's rows, time and spilled bytes from a run
    /// (`EXPLAIN ANALYZE`).
    pub fn explain_analyze(&self, m: &crate::exec::Metrics) -> String {
        let mut out = String::new();
        let mut id = 0;
        self.explain_into(0, &mut out, &mut |p: &Plan| {
            let op = m.op(id);
            let mut s = format!(
                "  [rows={} self={:.1}ms total={:.1}ms",
                op.rows(),
                m.self_time(p, id).as_secs_f64() * 1e3,
                op.time().as_secs_f64() * 1e3
            );
            if let Plan::Scan { .. } = p {
                let _ = write!(s, " read={}", op.read());
            }
            if op.spilled() > 0 {
                let _ = write!(
                    s,
                    " spilled={:.1}MiB",
                    op.spilled() as f64 / (1 << 20) as f64
                );
            }
            s.push(']');
            id += 1;
            s
        });
        out
    }

    /// Writes this subtree, one line per operator; `note` adds text after each (called in
    /// pre-order).
    fn explain_into(&self, depth: usize, out: &mut String, note: &mut dyn FnMut(&Plan) -> String) {
        let pad = "  ".repeat(depth);
        let mut line = String::new();
        self.describe(&mut line);
        let _ = writeln!(out, "{pad}{line}{}", note(self));
        for c in self.children() {
            c.explain_into(depth + 1, out, note);
        }
    }

    /// One line describing this operator (not its inputs).
    fn describe(&self, out: &mut String) {
        let list = |v: &[(Expr, String)]| {
            v.iter()
                .map(|(e, n)| format!("{e} AS {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let keys = |ks: &[SortKey]| {
            ks.iter()
                .map(|k| format!("{} {}", k.expr, if k.asc { "ASC" } else { "DESC" }))
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
                let _ = write!(out, "Scan {} [{}]", table.name, cols.join(", "));
                if !filters.is_empty() {
                    let f: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
                    let _ = write!(out, " filters: {}", f.join(" AND "));
                }
                if let crate::catalog::FileFormat::Postgres(pg) = &table.format {
                    let q = crate::federation::remote_query(pg, &table.schema, projection, filters);
                    let _ = write!(out, " remote: {q}");
                }
            }
            Plan::Values { batches, .. } => {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                let _ = write!(out, "Values ({rows} rows)");
            }
            Plan::Exchange { stage, .. } => {
                let _ = write!(out, "Exchange <- stage {stage}");
            }
            Plan::Filter { predicate, .. } => {
                let _ = write!(out, "Filter {predicate}");
            }
            Plan::Project { exprs, .. } => {
                let _ = write!(out, "Project {}", list(exprs));
            }
            Plan::Aggregate { group, aggs, .. } => {
                let a: Vec<String> = aggs
                    .iter()
                    .map(|(a, n)| {
                        let arg = a.arg.as_ref().map(|e| e.to_string()).unwrap_or("*".into());
                        let d = if a.distinct { "DISTINCT " } else { "" };
                        let p = match &a.param {
                            Some(AggParam::Fraction(f)) => format!(", {f}"),
                            Some(AggParam::Separator(s)) => format!(", {s:?}"),
                            None => String::new(),
                        };
                        let o: Vec<String> = a
                            .order
                            .iter()
                            .map(|k| format!("{}{}", k.expr, if k.asc { "" } else { " DESC" }))
                            .collect();
                        let o = if o.is_empty() {
                            String::new()
                        } else {
                            format!(" ORDER BY {}", o.join(", "))
                        };
                        format!("{:?}({d}{arg}{p}{o}) AS {n}", a.func)
                    })
                    .collect();
                let _ = write!(
                    out,
                    "Aggregate group=[{}] aggs=[{}]",
                    list(group),
                    a.join(", ")
                );
            }
            Plan::Join {
                kind, on, filter, ..
            } => {
                let keys: Vec<String> = on.iter().map(|(l, r)| format!("{l} = {r}")).collect();
                let _ = write!(out, "HashJoin {kind:?} on [{}]", keys.join(", "));
                if let Some(f) = filter {
                    let _ = write!(out, " filter {f}");
                }
            }
            Plan::Sort {
                keys: ks, fetch, ..
            } => {
                let _ = write!(out, "Sort [{}]", keys(ks));
                if let Some(n) = fetch {
                    let _ = write!(out, " fetch {n}");
                }
            }
            Plan::Limit { n, offset, .. } => {
                let _ = write!(out, "Limit {n}");
                if *offset > 0 {
                    let _ = write!(out, " offset {offset}");
                }
            }
            Plan::Union { distinct, .. } => {
                out.push_str(if *distinct { "Union" } else { "UnionAll" });
            }
            Plan::Recursive { distinct, work, .. } => {
                let all = if *distinct { "" } else { " ALL" };
                let _ = write!(out, "RecursiveUnion{all} work={work}");
            }
            Plan::WorkTable { work, .. } => {
                let _ = write!(out, "WorkTable {work}");
            }
            Plan::Window { funcs, .. } => {
                let f: Vec<String> = funcs
                    .iter()
                    .map(|(w, n)| {
                        let args: Vec<String> = w.args.iter().map(|a| a.to_string()).collect();
                        let part: Vec<String> =
                            w.partition_by.iter().map(|a| a.to_string()).collect();
                        format!(
                            "{:?}({}) OVER (PARTITION BY [{}] ORDER BY [{}]) AS {n}",
                            w.func,
                            args.join(", "),
                            part.join(", "),
                            keys(&w.order_by)
                        )
                    })
                    .collect();
                let _ = write!(out, "Window {}", f.join(", "));
            }
        }
    }
}

/// The result type of a window function over `input`.
pub fn window_type(w: &WindowCall, input: &Schema) -> DataType {
    match w.func {
        WindowFunc::RowNumber | WindowFunc::Rank | WindowFunc::DenseRank | WindowFunc::Ntile => {
            DataType::Int64
        }
        WindowFunc::PercentRank | WindowFunc::CumeDist => DataType::Float64,
        WindowFunc::Lag
        | WindowFunc::Lead
        | WindowFunc::FirstValue
        | WindowFunc::LastValue
        | WindowFunc::NthValue => w
            .args
            .first()
            .and_then(|e| e.data_type(input).ok())
            .unwrap_or(DataType::Null),
        WindowFunc::Agg(f) => agg_type(&AggCall::plain(f, w.args.first().cloned()), input),
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
        AggFunc::VarSamp | AggFunc::VarPop | AggFunc::StddevSamp | AggFunc::StddevPop => {
            DataType::Float64
        }
        AggFunc::Sum => match arg {
            DataType::Decimal128(_, s) => DataType::Decimal128(38, s),
            t if t.is_integer() => DataType::Int64,
            _ => DataType::Float64,
        },
        AggFunc::Min
        | AggFunc::Max
        | AggFunc::PercentileDisc
        | AggFunc::Mode
        | AggFunc::ArgMax
        | AggFunc::ArgMin => arg,
        AggFunc::TrainLogistic(_) | AggFunc::StringAgg => DataType::Utf8,
        AggFunc::Median | AggFunc::PercentileCont => DataType::Float64,
        AggFunc::ArrayAgg => DataType::List(Arc::new(Field::new("item", arg, true))),
    }
}

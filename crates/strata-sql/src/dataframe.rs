//! A DataFrame API that builds the same logical plans as SQL.
//!
//! A [`DataFrame`] is a plan plus the names of its columns. Each method binds its
//! expressions at once (so a misspelt column fails where it is written, with the same
//! "did you mean" message as SQL) and returns a new, still unexecuted, DataFrame; nothing
//! runs until [`DataFrame::collect`], which optimizes the plan and executes it exactly as a
//! SQL query would be.
//!
//! Expressions ([`E`]) are SQL expressions: built with [`col`], [`lit`] and methods, or
//! parsed from text with [`expr`].
//!
//! ```no_run
//! use strata_sql::dataframe::{col, expr, lit, sum};
//! let mut engine = strata_sql::Engine::new();
//! engine.register("lineitem", "tpch/lineitem")?;
//! let top = engine
//!     .table("lineitem")?
//!     .filter(col("l_quantity").lt(lit(24)))?
//!     .group_by(&[col("l_returnflag")])?
//!     .agg(&[sum(expr("l_extendedprice * (1 - l_discount)")?).alias("revenue")])?
//!     .sort(&[col("revenue").desc()])?
//!     .limit(5)?
//!     .collect()?;
//! # Ok::<(), strata_sql::SqlError>(())
//! ```

use crate::bind::{Scope, bind};
use crate::error::{Result, SqlError};
use crate::expr::Expr;
use crate::plan::{JoinKind, Plan, SortKey};
use crate::planner::{agg_call, item_name, key_pair};
use crate::{Engine, exec, optimizer};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use sqlparser::ast as sql;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

/// An expression for the DataFrame API: a SQL expression, with an optional output name.
#[derive(Clone, Debug)]
pub struct E {
    ast: sql::Expr,
    alias: Option<String>,
    desc: bool,
}

/// A column by name (`"l_quantity"` or `"l.l_quantity"`).
pub fn col(name: &str) -> E {
    let parts: Vec<sql::Ident> = name.split('.').map(sql::Ident::new).collect();
    let ast = if parts.len() == 1 {
        sql::Expr::Identifier(parts.into_iter().next().expect("one part"))
    } else {
        sql::Expr::CompoundIdentifier(parts)
    };
    E::from(ast)
}

/// A constant: an integer, float, string or bool.
pub fn lit(v: impl Into<Literal>) -> E {
    let ast = match v.into() {
        Literal::Int(i) => sql::Expr::value(sql::Value::Number(i.to_string(), false)),
        Literal::Float(f) => sql::Expr::value(sql::Value::Number(format!("{f:?}"), false)),
        Literal::Str(s) => sql::Expr::value(sql::Value::SingleQuotedString(s)),
        Literal::Bool(b) => sql::Expr::value(sql::Value::Boolean(b)),
    };
    E::from(ast)
}

/// Values [`lit`] accepts.
pub enum Literal {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
}

impl From<i64> for Literal {
    fn from(v: i64) -> Self {
        Literal::Int(v)
    }
}
impl From<i32> for Literal {
    fn from(v: i32) -> Self {
        Literal::Int(v as i64)
    }
}
impl From<f64> for Literal {
    fn from(v: f64) -> Self {
        Literal::Float(v)
    }
}
impl From<&str> for Literal {
    fn from(v: &str) -> Self {
        Literal::Str(v.to_string())
    }
}
impl From<bool> for Literal {
    fn from(v: bool) -> Self {
        Literal::Bool(v)
    }
}

/// An expression parsed from SQL text (`"l_extendedprice * (1 - l_discount)"`).
pub fn expr(text: &str) -> Result<E> {
    let ast = Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::Syntax(format!("in expression {text:?}: {e}")))?;
    Ok(E::from(ast))
}

fn call(name: &str, args: Vec<sql::FunctionArg>, distinct: bool) -> E {
    E::from(sql::Expr::Function(sql::Function {
        name: sql::ObjectName::from(vec![sql::Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: sql::FunctionArguments::None,
        args: sql::FunctionArguments::List(sql::FunctionArgumentList {
            duplicate_treatment: distinct.then_some(sql::DuplicateTreatment::Distinct),
            args,
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }))
}

fn agg(name: &str, e: E, distinct: bool) -> E {
    call(
        name,
        vec![sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(e.ast))],
        distinct,
    )
}

/// `SUM(e)`.
pub fn sum(e: E) -> E {
    agg("sum", e, false)
}
/// `AVG(e)`.
pub fn avg(e: E) -> E {
    agg("avg", e, false)
}
/// `MIN(e)`.
pub fn min(e: E) -> E {
    agg("min", e, false)
}
/// `MAX(e)`.
pub fn max(e: E) -> E {
    agg("max", e, false)
}
/// `COUNT(e)`: non-null values.
pub fn count(e: E) -> E {
    agg("count", e, false)
}
/// `COUNT(DISTINCT e)`.
pub fn count_distinct(e: E) -> E {
    agg("count", e, true)
}
/// `COUNT(*)`.
pub fn count_star() -> E {
    call(
        "count",
        vec![sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard)],
        false,
    )
}

impl std::ops::Add for E {
    type Output = E;
    /// `self + r`
    fn add(self, r: E) -> E {
        self.bin(sql::BinaryOperator::Plus, r)
    }
}

impl std::ops::Sub for E {
    type Output = E;
    /// `self - r`
    fn sub(self, r: E) -> E {
        self.bin(sql::BinaryOperator::Minus, r)
    }
}

impl std::ops::Mul for E {
    type Output = E;
    /// `self * r`
    fn mul(self, r: E) -> E {
        self.bin(sql::BinaryOperator::Multiply, r)
    }
}

impl std::ops::Div for E {
    type Output = E;
    /// `self / r`
    fn div(self, r: E) -> E {
        self.bin(sql::BinaryOperator::Divide, r)
    }
}

impl From<sql::Expr> for E {
    fn from(ast: sql::Expr) -> Self {
        E {
            ast,
            alias: None,
            desc: false,
        }
    }
}

impl E {
    fn bin(self, op: sql::BinaryOperator, r: E) -> E {
        E::from(sql::Expr::BinaryOp {
            left: Box::new(sql::Expr::Nested(Box::new(self.ast))),
            op,
            right: Box::new(sql::Expr::Nested(Box::new(r.ast))),
        })
    }
    /// `self = r`
    pub fn eq(self, r: E) -> E {
        self.bin(sql::BinaryOperator::Eq, r)
    }
    /// `self <> r`
    pub fn not_eq(self, r: E) -> E {
        self.bin(sql::BinaryOperator::NotEq, r)
    }
    /// `self < r`
    pub fn lt(self, r: E) -> E {
        self.bin(sql::BinaryOperator::Lt, r)
    }
    /// `self <= r`
    pub fn lt_eq(self, r: E) -> E {
        self.bin(sql::BinaryOperator::LtEq, r)
    }
    /// `self > r`
    pub fn gt(self, r: E) -> E {
        self.bin(sql::BinaryOperator::Gt, r)
    }
    /// `self >= r`
    pub fn gt_eq(self, r: E) -> E {
        self.bin(sql::BinaryOperator::GtEq, r)
    }
    /// `self AND r`
    pub fn and(self, r: E) -> E {
        self.bin(sql::BinaryOperator::And, r)
    }
    /// `self OR r`
    pub fn or(self, r: E) -> E {
        self.bin(sql::BinaryOperator::Or, r)
    }
    /// Names the output column.
    pub fn alias(mut self, name: &str) -> E {
        self.alias = Some(name.to_lowercase());
        self
    }
    /// Sorts descending (in [`DataFrame::sort`]).
    pub fn desc(mut self) -> E {
        self.desc = true;
        self
    }
    fn name(&self) -> String {
        self.alias.clone().unwrap_or_else(|| item_name(&self.ast))
    }
}

/// A lazily evaluated query: a logical plan and the names in scope over its output.
#[derive(Clone)]
pub struct DataFrame {
    plan: Plan,
    scope: Scope,
    exec: exec::ExecOptions,
}

impl Engine {
    /// A DataFrame over a registered table (or a file path, as in FROM).
    pub fn table(&self, name: &str) -> Result<DataFrame> {
        let table = crate::planner::Tables::table(self, name)?;
        let plan = Plan::Scan {
            projection: (0..table.schema.fields().len()).collect(),
            table: table.clone(),
            filters: vec![],
        };
        let qualifier = name.rsplit('/').next().unwrap_or(name).to_string();
        let scope = Scope::new(plan.schema(), Some(&qualifier));
        Ok(DataFrame {
            plan,
            scope,
            exec: self.exec.clone(),
        })
    }
}

impl DataFrame {
    fn with(&self, plan: Plan, scope: Scope) -> DataFrame {
        DataFrame {
            plan,
            scope,
            exec: self.exec.clone(),
        }
    }

    fn bind(&self, e: &E) -> Result<Expr> {
        bind(&e.ast, &self.scope, None)
    }

    /// Rows where `predicate` is true.
    pub fn filter(&self, predicate: E) -> Result<DataFrame> {
        let p = self.bind(&predicate)?;
        let t = p.data_type(&self.scope.schema)?;
        if !matches!(t, DataType::Boolean | DataType::Null) {
            return Err(SqlError::Plan(format!(
                "filter {}: a condition must be boolean, got {t}",
                predicate.ast
            )));
        }
        let plan = Plan::Filter {
            input: Box::new(self.plan.clone()),
            predicate: p,
        };
        Ok(self.with(plan, self.scope.clone()))
    }

    /// Computed columns, named by their alias or text.
    pub fn select(&self, exprs: &[E]) -> Result<DataFrame> {
        let bound = exprs
            .iter()
            .map(|e| Ok((self.bind(e)?, e.name())))
            .collect::<Result<Vec<_>>>()?;
        let plan = Plan::Project {
            input: Box::new(self.plan.clone()),
            exprs: bound,
        };
        let scope = Scope::new(plan.schema(), None);
        Ok(self.with(plan, scope))
    }

    /// Groups by `keys`; finish with [`Grouped::agg`].
    pub fn group_by(&self, keys: &[E]) -> Result<Grouped> {
        let keys = keys
            .iter()
            .map(|k| Ok((self.bind(k)?, k.name())))
            .collect::<Result<Vec<_>>>()?;
        Ok(Grouped {
            df: self.clone(),
            keys,
        })
    }

    /// Joins with `right` where each `(left column, right column)` pair is equal.
    pub fn join(&self, right: &DataFrame, kind: JoinKind, on: &[(E, E)]) -> Result<DataFrame> {
        if on.is_empty() {
            return Err(SqlError::Plan("a join needs at least one key pair".into()));
        }
        let keys = on
            .iter()
            .map(|(l, r)| {
                key_pair(
                    bind(&l.ast, &self.scope, None)?,
                    &self.scope,
                    bind(&r.ast, &right.scope, None)?,
                    &right.scope,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let plan = Plan::Join {
            left: Box::new(self.plan.clone()),
            right: Box::new(right.plan.clone()),
            kind,
            on: keys,
            filter: None,
        };
        let scope = if matches!(
            kind,
            JoinKind::Semi | JoinKind::Anti | JoinKind::NullAwareAnti
        ) {
            self.scope.clone()
        } else {
            self.scope.join(&right.scope)
        };
        Ok(self.with(plan, scope))
    }

    /// Ordered by `keys` (ascending unless [`E::desc`]; NULLs last ascending, first
    /// descending).
    pub fn sort(&self, keys: &[E]) -> Result<DataFrame> {
        let keys = keys
            .iter()
            .map(|k| {
                Ok(SortKey {
                    expr: self.bind(k)?,
                    asc: !k.desc,
                    nulls_first: k.desc,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let plan = Plan::Sort {
            input: Box::new(self.plan.clone()),
            keys,
            fetch: None,
        };
        Ok(self.with(plan, self.scope.clone()))
    }

    /// The first `n` rows (after a sort: the top `n`).
    pub fn limit(&self, n: usize) -> Result<DataFrame> {
        let plan = match self.plan.clone() {
            Plan::Sort { input, keys, .. } => Plan::Sort {
                input,
                keys,
                fetch: Some(n),
            },
            other => Plan::Limit {
                input: Box::new(other),
                n,
                offset: 0,
            },
        };
        Ok(self.with(plan, self.scope.clone()))
    }

    /// The rows of `self` then those of `other` (`UNION ALL`); same column types needed.
    pub fn union_all(&self, other: &DataFrame) -> Result<DataFrame> {
        let (a, b) = (self.plan.schema(), other.plan.schema());
        let ta: Vec<&DataType> = a.fields().iter().map(|f| f.data_type()).collect();
        let tb: Vec<&DataType> = b.fields().iter().map(|f| f.data_type()).collect();
        if ta != tb {
            return Err(SqlError::Plan(format!(
                "union_all: column types differ: {ta:?} and {tb:?}"
            )));
        }
        let plan = Plan::Union {
            inputs: vec![self.plan.clone(), other.plan.clone()],
            distinct: false,
        };
        let scope = Scope::new(plan.schema(), None);
        Ok(self.with(plan, scope))
    }

    /// The optimized logical plan, as `EXPLAIN` prints it.
    pub fn explain(&self) -> String {
        optimizer::optimize(self.plan.clone()).explain()
    }

    /// The (unoptimized) logical plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Runs the query.
    pub fn collect(&self) -> Result<Vec<RecordBatch>> {
        let p = optimizer::optimize(self.plan.clone());
        Ok(crate::run(&p, &self.exec)?.0)
    }
}

/// A DataFrame grouped by keys, waiting for its aggregates.
pub struct Grouped {
    df: DataFrame,
    keys: Vec<(Expr, String)>,
}

impl Grouped {
    /// One row per group: the keys, then each aggregate (`sum(col("x")).alias("total")`).
    pub fn agg(&self, aggs: &[E]) -> Result<DataFrame> {
        let calls = aggs
            .iter()
            .map(|a| Ok((agg_call(&a.ast, &self.df.scope)?, a.name())))
            .collect::<Result<Vec<_>>>()?;
        let plan = Plan::Aggregate {
            input: Box::new(self.df.plan.clone()),
            group: self.keys.clone(),
            aggs: calls,
        };
        let scope = Scope::new(plan.schema(), None);
        Ok(self.df.with(plan, scope))
    }
}

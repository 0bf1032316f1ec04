//! Random queries: a small typed syntax tree, generated from the tables' columns, rendered
//! as SQL both engines accept, and shrunk when it exposes a difference.

use crate::data::{Table, Ty, Val, value};
use rand::Rng;
use rand::rngs::SmallRng;

/// A scalar expression (a predicate is one of type `Bool`).
#[derive(Clone, Debug)]
pub enum X {
    /// A qualified column.
    Col(String, Ty),
    /// A constant.
    Lit(Val, Ty),
    /// `(l op r)`: arithmetic, `||`, a comparison, AND, OR.
    Op(Box<X>, &'static str, Box<X>, Ty),
    /// `CAST(x AS type)`
    Cast(Box<X>, &'static str, Ty),
    /// `(l IS [NOT] DISTINCT FROM r)`
    Distinct(Box<X>, Box<X>, bool),
    /// `(NOT x)`
    Not(Box<X>),
    /// `(- x)`
    Neg(Box<X>),
    /// `f(args)`
    Func(&'static str, Vec<X>, Ty),
    /// `CASE WHEN c THEN a ELSE b END`
    Case(Box<X>, Box<X>, Box<X>),
    /// `x IS [NOT] NULL`
    IsNull(Box<X>, bool),
    /// `x [NOT] BETWEEN lo AND hi`
    Between(Box<X>, Box<X>, Box<X>, bool),
    /// `x [NOT] IN (list)`
    InList(Box<X>, Vec<X>, bool),
    /// `x [NOT] LIKE 'pattern'`
    Like(Box<X>, String, bool),
    /// `x [NOT] IN (SELECT ...)`
    InSub(Box<X>, Box<Select>, bool),
    /// `[NOT] EXISTS (SELECT ...)`
    Exists(Box<Select>, bool),
    /// `(SELECT one value)`
    Scalar(Box<Select>, Ty),
    /// `f(DISTINCT x)`
    AggDistinct(&'static str, Box<X>, Ty),
    /// An aggregate: `count(*)` when the argument is `None`.
    Agg(&'static str, Option<Box<X>>, Ty),
    /// An ordered-set aggregate over `x` (`percentile_disc(0.5) WITHIN GROUP (ORDER BY x
    /// [DESC])`, `mode()`, ...), or `string_agg(x, ',' ORDER BY x [DESC])`: ordered by the
    /// value itself, so ties cannot change the answer.
    Ordered(&'static str, Box<X>, bool, Ty),
    /// `f(x) OVER (PARTITION BY p [ORDER BY o [frame]])` (frames are RANGE ones: ROWS
    /// frames over tied keys have no one answer)
    Window(
        &'static str,
        Option<Box<X>>,
        Box<X>,
        Option<Box<X>>,
        Option<String>,
        Ty,
    ),
}

/// FROM: one table, or two joined.
#[derive(Clone, Debug)]
pub enum From {
    /// `table AS alias`
    One(String, String),
    /// `l AS a <kind> JOIN r AS b ON cond`, or the comma form (kind `,`) with the condition
    /// in WHERE.
    Join(String, String, &'static str, String, String, Box<X>),
}

/// A SELECT block.
#[derive(Clone, Debug)]
pub struct Select {
    /// DISTINCT
    pub distinct: bool,
    /// Output expressions.
    pub items: Vec<X>,
    /// FROM
    pub from: From,
    /// WHERE
    pub filter: Option<X>,
    /// GROUP BY
    pub group: Vec<X>,
    /// HAVING
    pub having: Option<X>,
    /// `ORDER BY 1, 2, ... LIMIT n` (every output column, so the order is total).
    pub limit: Option<usize>,
}

/// A query: a SELECT, or two combined by a set operator.
#[derive(Clone, Debug)]
pub enum Query {
    /// One block.
    Select(Box<Select>),
    /// `(a) op (b)`
    Set(Box<Select>, &'static str, Box<Select>),
}

impl X {
    /// The expression's type.
    pub fn ty(&self) -> Ty {
        match self {
            X::Col(_, t) | X::Lit(_, t) | X::Op(.., t) | X::Func(_, _, t) | X::Scalar(_, t) => *t,
            X::Cast(_, _, t) | X::AggDistinct(_, _, t) => *t,
            X::Distinct(..) => Ty::Bool,
            X::Agg(_, _, t) | X::Window(.., t) | X::Ordered(.., t) => *t,
            X::Neg(x) => x.ty(),
            X::Case(_, a, _) => a.ty(),
            X::Not(_)
            | X::IsNull(..)
            | X::Between(..)
            | X::InList(..)
            | X::Like(..)
            | X::InSub(..)
            | X::Exists(..) => Ty::Bool,
        }
    }

    /// As SQL.
    pub fn sql(&self) -> String {
        match self {
            X::Col(c, _) => c.clone(),
            X::Lit(v, _) => v.sql(),
            X::Op(l, op, r, _) => format!("({} {op} {})", l.sql(), r.sql()),
            X::Not(x) => format!("(NOT {})", x.sql()),
            X::Cast(x, t, _) => format!("CAST({} AS {t})", x.sql()),
            X::Distinct(l, r, neg) => format!(
                "({} IS {}DISTINCT FROM {})",
                l.sql(),
                if *neg { "NOT " } else { "" },
                r.sql()
            ),
            X::Neg(x) => format!("(- {})", x.sql()),
            X::Func(f, args, _) => {
                let a: Vec<String> = args.iter().map(X::sql).collect();
                format!("{f}({})", a.join(", "))
            }
            X::Case(c, a, b) => format!(
                "(CASE WHEN {} THEN {} ELSE {} END)",
                c.sql(),
                a.sql(),
                b.sql()
            ),
            X::IsNull(x, neg) => {
                format!("({} IS {}NULL)", x.sql(), if *neg { "NOT " } else { "" })
            }
            X::Between(x, lo, hi, neg) => format!(
                "({} {}BETWEEN {} AND {})",
                x.sql(),
                if *neg { "NOT " } else { "" },
                lo.sql(),
                hi.sql()
            ),
            X::InList(x, list, neg) => {
                let l: Vec<String> = list.iter().map(X::sql).collect();
                format!(
                    "({} {}IN ({}))",
                    x.sql(),
                    if *neg { "NOT " } else { "" },
                    l.join(", ")
                )
            }
            X::Like(x, p, neg) => {
                format!("({} {}LIKE '{p}')", x.sql(), if *neg { "NOT " } else { "" })
            }
            X::InSub(x, q, neg) => format!(
                "({} {}IN ({}))",
                x.sql(),
                if *neg { "NOT " } else { "" },
                q.sql()
            ),
            X::Exists(q, neg) => {
                format!("({}EXISTS ({}))", if *neg { "NOT " } else { "" }, q.sql())
            }
            X::Scalar(q, _) => format!("({})", q.sql()),
            X::AggDistinct(f, x, _) => format!("{f}(DISTINCT {})", x.sql()),
            X::Agg(f, None, _) => format!("{f}(*)"),
            X::Agg(f, Some(x), _) => format!("{f}({})", x.sql()),
            X::Ordered(f, x, desc, _) => {
                let d = if *desc { " DESC" } else { "" };
                if *f == "string_agg" {
                    format!("string_agg({0}, ',' ORDER BY {0}{d})", x.sql())
                } else {
                    format!("{f} WITHIN GROUP (ORDER BY {}{d})", x.sql())
                }
            }
            X::Window(f, arg, part, order, frame, _) => format!(
                "{f}({}) OVER (PARTITION BY {}{}{})",
                match arg {
                    Some(a) => a.sql(),
                    None if *f == "count" => "*".into(),
                    None => String::new(),
                },
                part.sql(),
                order
                    .as_ref()
                    .map(|o| format!(" ORDER BY {}", o.sql()))
                    .unwrap_or_default(),
                frame.as_deref().unwrap_or_default()
            ),
        }
    }

    /// Whether the expression reads a column of its FROM (a constant does not).
    pub fn reads_columns(&self) -> bool {
        self.sql().contains("a.") || self.sql().contains("b.")
    }

    /// Smaller expressions of the same type that might still show a difference.
    fn shrinks(&self) -> Vec<X> {
        let same = |x: &X| x.ty() == self.ty();
        let mut out: Vec<X> = Vec::new();
        match self {
            X::Op(l, _, r, _) => {
                out.extend([(**l).clone(), (**r).clone()].into_iter().filter(same))
            }
            X::Not(x) | X::Neg(x) => out.push((**x).clone()),
            X::Case(_, a, b) => out.extend([(**a).clone(), (**b).clone()]),
            X::Func(_, args, _) => out.extend(args.iter().filter(|a| same(a)).cloned()),
            _ => {}
        }
        if self.ty() == Ty::Bool && !matches!(self, X::Lit(..)) {
            out.push(X::Lit(Val::Bool(true), Ty::Bool));
        }
        out
    }
}

impl Select {
    /// As SQL.
    pub fn sql(&self) -> String {
        let items: Vec<String> = self.items.iter().map(X::sql).collect();
        let mut s = format!(
            "SELECT {}{}",
            if self.distinct { "DISTINCT " } else { "" },
            items.join(", ")
        );
        let mut conds: Vec<String> = Vec::new();
        match &self.from {
            From::One(t, a) => s.push_str(&format!(" FROM {t} AS {a}")),
            From::Join(l, a, "CROSS", r, b, _) => {
                s.push_str(&format!(" FROM {l} AS {a} CROSS JOIN {r} AS {b}"))
            }
            From::Join(l, a, ",", r, b, on) => {
                s.push_str(&format!(" FROM {l} AS {a}, {r} AS {b}"));
                conds.push(on.sql());
            }
            From::Join(l, a, kind, r, b, on) => s.push_str(&format!(
                " FROM {l} AS {a} {kind} JOIN {r} AS {b} ON {}",
                on.sql()
            )),
        }
        if let Some(f) = &self.filter {
            conds.push(f.sql());
        }
        if !conds.is_empty() {
            s.push_str(&format!(" WHERE {}", conds.join(" AND ")));
        }
        if !self.group.is_empty() {
            let g: Vec<String> = self.group.iter().map(X::sql).collect();
            s.push_str(&format!(" GROUP BY {}", g.join(", ")));
        }
        if let Some(h) = &self.having {
            s.push_str(&format!(" HAVING {}", h.sql()));
        }
        if let Some(n) = self.limit {
            let by: Vec<String> = (1..=self.items.len()).map(|i| i.to_string()).collect();
            s.push_str(&format!(" ORDER BY {} LIMIT {n}", by.join(", ")));
        }
        s
    }

    /// Simpler variants: fewer items, no filter, sub-expressions of the filter.
    fn shrinks(&self) -> Vec<Select> {
        let mut out = Vec::new();
        if self.distinct {
            out.push(Select {
                distinct: false,
                ..self.clone()
            });
        }
        if let Some(f) = &self.filter {
            out.push(Select {
                filter: None,
                ..self.clone()
            });
            for g in f.shrinks() {
                out.push(Select {
                    filter: Some(g),
                    ..self.clone()
                });
            }
        }
        if let Some(h) = &self.having {
            out.push(Select {
                having: None,
                ..self.clone()
            });
            for g in h.shrinks() {
                out.push(Select {
                    having: Some(g),
                    ..self.clone()
                });
            }
        }
        if self.items.len() > 1 {
            for i in 0..self.items.len() {
                let mut s = self.clone();
                s.items.remove(i);
                // Group keys stay selected: only drop items that are not keys.
                if self.group.is_empty()
                    || !self.group.iter().any(|g| g.sql() == self.items[i].sql())
                {
                    out.push(s);
                }
            }
        }
        for i in 0..self.items.len() {
            for x in self.items[i].shrinks() {
                let mut s = self.clone();
                s.items[i] = x;
                out.push(s);
            }
        }
        out
    }
}

impl Query {
    /// As SQL.
    pub fn sql(&self) -> String {
        match self {
            Query::Select(s) => s.sql(),
            Query::Set(a, op, b) => format!("({}) {op} ({})", a.sql(), b.sql()),
        }
    }

    /// Whether row order is part of the answer.
    pub fn ordered(&self) -> bool {
        matches!(self, Query::Select(s) if s.limit.is_some())
    }

    /// Simpler variants of this query.
    pub fn shrinks(&self) -> Vec<Query> {
        match self {
            Query::Select(s) => s
                .shrinks()
                .into_iter()
                .map(|x| Query::Select(Box::new(x)))
                .collect(),
            Query::Set(a, op, b) => {
                let mut out = vec![Query::Select(a.clone()), Query::Select(b.clone())];
                for x in a.shrinks() {
                    if x.items.len() == a.items.len() {
                        out.push(Query::Set(Box::new(x), op, b.clone()));
                    }
                }
                for x in b.shrinks() {
                    if x.items.len() == b.items.len() {
                        out.push(Query::Set(a.clone(), op, Box::new(x)));
                    }
                }
                out
            }
        }
    }
}

/// Generates queries over a fixed set of tables.
pub struct Gen<'a> {
    /// The random source.
    pub rng: &'a mut SmallRng,
    /// The tables queries read.
    pub tables: &'a [Table],
}

type Scope = Vec<(String, Ty)>;

impl Gen<'_> {
    fn pick<T: Clone>(&mut self, v: &[T]) -> T {
        v[self.rng.gen_range(0..v.len())].clone()
    }

    fn lit(&mut self, ty: Ty) -> X {
        let v = match value(self.rng, ty) {
            Val::Null if self.rng.gen_ratio(2, 3) => value(self.rng, ty),
            v => v,
        };
        X::Lit(v, ty)
    }

    fn col(&mut self, scope: &Scope, ty: Ty) -> Option<X> {
        let cs: Vec<&(String, Ty)> = scope.iter().filter(|(_, t)| *t == ty).collect();
        if cs.is_empty() {
            return None;
        }
        let (c, t) = cs[self.rng.gen_range(0..cs.len())].clone();
        Some(X::Col(c, t))
    }

    /// A scalar expression of type `ty` over `scope`, at most `depth` operators deep.
    pub fn expr(&mut self, scope: &Scope, ty: Ty, depth: u32) -> X {
        if depth == 0 || self.rng.gen_ratio(2, 5) {
            return match self.col(scope, ty) {
                Some(c) if !self.rng.gen_ratio(1, 5) => c,
                _ => self.lit(ty),
            };
        }
        let d = depth - 1;
        match ty {
            Ty::Bool => self.pred(scope, depth),
            Ty::Int => match self.rng.gen_range(0..6) {
                0 => {
                    let op = self.pick(&["+", "-"]);
                    X::Op(
                        Box::new(self.expr(scope, Ty::Int, d)),
                        op,
                        Box::new(self.expr(scope, Ty::Int, d)),
                        Ty::Int,
                    )
                }
                1 => X::Op(
                    Box::new(self.expr(scope, Ty::Int, d)),
                    "*",
                    Box::new(X::Lit(Val::Int(self.rng.gen_range(-3..4)), Ty::Int)),
                    Ty::Int,
                ),
                2 => match self.rng.gen_range(0..4) {
                    0 => {
                        let op = self.pick(&["/", "%"]);
                        let by = self.pick(&[1, 2, 3, -2, 7]);
                        X::Op(
                            Box::new(self.expr(scope, Ty::Int, d)),
                            op,
                            Box::new(X::Lit(Val::Int(by), Ty::Int)),
                            Ty::Int,
                        )
                    }
                    1 => X::Func("length", vec![self.expr(scope, Ty::Text, d)], Ty::Int),
                    2 => X::Cast(Box::new(self.expr(scope, Ty::Float, d)), "BIGINT", Ty::Int),
                    _ => X::Func("abs", vec![self.expr(scope, Ty::Int, d)], Ty::Int),
                },
                3 => X::Func(
                    "coalesce",
                    vec![self.expr(scope, Ty::Int, d), self.lit(Ty::Int)],
                    Ty::Int,
                ),
                4 => X::Case(
                    Box::new(self.pred(scope, d)),
                    Box::new(self.expr(scope, Ty::Int, d)),
                    Box::new(self.expr(scope, Ty::Int, d)),
                ),
                _ => X::Neg(Box::new(self.expr(scope, Ty::Int, d))),
            },
            Ty::Float => match self.rng.gen_range(0..4) {
                3 => X::Cast(
                    Box::new(self.expr(scope, Ty::Int, d)),
                    "DOUBLE PRECISION",
                    Ty::Float,
                ),
                0 => X::Op(
                    Box::new(self.expr(scope, Ty::Float, d)),
                    "+",
                    Box::new(self.expr(scope, Ty::Int, d)),
                    Ty::Float,
                ),
                1 => X::Func("abs", vec![self.expr(scope, Ty::Float, d)], Ty::Float),
                _ => X::Op(
                    Box::new(self.expr(scope, Ty::Float, d)),
                    "*",
                    Box::new(X::Lit(Val::Float(0.5), Ty::Float)),
                    Ty::Float,
                ),
            },
            Ty::Text => match self.rng.gen_range(0..7) {
                4 => X::Func(
                    "substring",
                    vec![
                        self.expr(scope, Ty::Text, d),
                        // PostgreSQL's substring takes INTEGER positions.
                        match self.col(scope, Ty::Int) {
                            Some(c) if self.rng.gen_ratio(1, 4) => {
                                X::Cast(Box::new(c), "INTEGER", Ty::Int)
                            }
                            _ => X::Lit(Val::Int(self.rng.gen_range(0..3)), Ty::Int),
                        },
                        X::Lit(Val::Int(self.rng.gen_range(0..3)), Ty::Int),
                    ],
                    Ty::Text,
                ),
                5 => X::Func(
                    "replace",
                    vec![
                        self.expr(scope, Ty::Text, d),
                        X::Lit(Val::Text("a".into()), Ty::Text),
                        X::Lit(Val::Text("xy".into()), Ty::Text),
                    ],
                    Ty::Text,
                ),
                6 => X::Cast(Box::new(self.expr(scope, Ty::Int, d)), "TEXT", Ty::Text),
                0 => X::Func("upper", vec![self.expr(scope, Ty::Text, d)], Ty::Text),
                1 => X::Func("lower", vec![self.expr(scope, Ty::Text, d)], Ty::Text),
                2 => X::Op(
                    Box::new(self.expr(scope, Ty::Text, d)),
                    "||",
                    Box::new(self.expr(scope, Ty::Text, d)),
                    Ty::Text,
                ),
                _ => X::Func(
                    "coalesce",
                    vec![self.expr(scope, Ty::Text, d), self.lit(Ty::Text)],
                    Ty::Text,
                ),
            },
        }
    }

    /// A predicate over `scope`.
    pub fn pred(&mut self, scope: &Scope, depth: u32) -> X {
        let d = depth.saturating_sub(1);
        let ty = self.pick(&[Ty::Int, Ty::Int, Ty::Float, Ty::Text]);
        let choice = if depth == 0 {
            self.rng.gen_range(0..5)
        } else {
            self.rng.gen_range(0..9)
        };
        match choice {
            0 | 1 => {
                let op = self.pick(&["=", "<>", "<", "<=", ">", ">="]);
                X::Op(
                    Box::new(self.expr(scope, ty, d)),
                    op,
                    Box::new(self.expr(scope, ty, d)),
                    Ty::Bool,
                )
            }
            2 => X::IsNull(Box::new(self.expr(scope, ty, d)), self.rng.gen_bool(0.5)),
            3 => {
                let n = self.rng.gen_range(1..4);
                let list = (0..n).map(|_| self.lit(ty)).collect();
                X::InList(
                    Box::new(self.expr(scope, ty, d)),
                    list,
                    self.rng.gen_bool(0.3),
                )
            }
            4 => match self.col(scope, Ty::Bool) {
                Some(b) if self.rng.gen_bool(0.5) => b,
                _ => {
                    let p = self.pick(&["a%", "%b", "_", "%", "a_b", "%a%"]);
                    X::Like(
                        Box::new(self.expr(scope, Ty::Text, d)),
                        p.to_string(),
                        self.rng.gen_bool(0.3),
                    )
                }
            },
            5 if self.rng.gen_ratio(1, 3) => X::Distinct(
                Box::new(self.expr(scope, ty, d)),
                Box::new(self.expr(scope, ty, d)),
                self.rng.gen_bool(0.5),
            ),
            5 => X::Between(
                Box::new(self.expr(scope, ty, d)),
                Box::new(self.lit(ty)),
                Box::new(self.lit(ty)),
                self.rng.gen_bool(0.3),
            ),
            6 => X::Not(Box::new(self.pred(scope, d))),
            7 => X::Op(
                Box::new(self.pred(scope, d)),
                "AND",
                Box::new(self.pred(scope, d)),
                Ty::Bool,
            ),
            _ => X::Op(
                Box::new(self.pred(scope, d)),
                "OR",
                Box::new(self.pred(scope, d)),
                Ty::Bool,
            ),
        }
    }

    fn scope_of(&self, table: &str, alias: &str) -> Scope {
        let t = self
            .tables
            .iter()
            .find(|t| t.name == table)
            .expect("a generated table");
        t.cols
            .iter()
            .map(|(c, ty)| (format!("{alias}.{c}"), *ty))
            .collect()
    }

    fn from(&mut self) -> (From, Scope) {
        let names: Vec<String> = self.tables.iter().map(|t| t.name.clone()).collect();
        let l = self.pick(&names);
        if self.rng.gen_ratio(1, 2) {
            let scope = self.scope_of(&l, "a");
            return (From::One(l, "a".into()), scope);
        }
        let r = self.pick(&names);
        let mut scope = self.scope_of(&l, "a");
        scope.extend(self.scope_of(&r, "b"));
        let kind = self.pick(&["INNER", "INNER", "LEFT", ",", "RIGHT", "FULL", "CROSS"]);
        let op = if self.rng.gen_ratio(1, 6) {
            self.pick(&["<", "<>", ">="])
        } else {
            "="
        };
        let mut on = X::Op(
            Box::new(X::Col("a.k".into(), Ty::Int)),
            op,
            Box::new(X::Col("b.k".into(), Ty::Int)),
            Ty::Bool,
        );
        if self.rng.gen_ratio(1, 4) {
            let extra = self.pred(&scope, 1);
            on = X::Op(Box::new(on), "AND", Box::new(extra), Ty::Bool);
        }
        (
            From::Join(l, "a".into(), kind, r, "b".into(), Box::new(on)),
            scope,
        )
    }

    /// A predicate with a subquery over another table, correlated or not.
    fn sub_pred(&mut self, scope: &Scope) -> X {
        let names: Vec<String> = self.tables.iter().map(|t| t.name.clone()).collect();
        let t = self.pick(&names);
        let inner = self.scope_of(&t, "s");
        let filter = self.rng.gen_bool(0.5).then(|| self.pred(&inner, 1));
        let sub = |items: Vec<X>, filter: Option<X>| Select {
            distinct: false,
            items,
            from: From::One(t.clone(), "s".into()),
            filter,
            group: vec![],
            having: None,
            limit: None,
        };
        match self.rng.gen_range(0..3) {
            0 => {
                let x = self.expr(scope, Ty::Int, 1);
                let q = sub(vec![X::Col("s.k".into(), Ty::Int)], filter);
                X::InSub(Box::new(x), Box::new(q), self.rng.gen_bool(0.4))
            }
            1 => {
                let outer = self
                    .col(scope, Ty::Int)
                    .unwrap_or(X::Lit(Val::Int(1), Ty::Int));
                let corr = X::Op(
                    Box::new(X::Col("s.k".into(), Ty::Int)),
                    "=",
                    Box::new(outer),
                    Ty::Bool,
                );
                let f = match filter {
                    Some(f) => X::Op(Box::new(corr), "AND", Box::new(f), Ty::Bool),
                    None => corr,
                };
                let q = sub(vec![X::Lit(Val::Int(1), Ty::Int)], Some(f));
                X::Exists(Box::new(q), self.rng.gen_bool(0.4))
            }
            _ => {
                let agg = self.pick(&["min", "max", "count"]);
                let q = sub(
                    vec![X::Agg(
                        agg,
                        Some(Box::new(X::Col("s.v".into(), Ty::Int))),
                        Ty::Int,
                    )],
                    filter,
                );
                let op = self.pick(&["=", "<", ">="]);
                X::Op(
                    Box::new(self.expr(scope, Ty::Int, 1)),
                    op,
                    Box::new(X::Scalar(Box::new(q), Ty::Int)),
                    Ty::Bool,
                )
            }
        }
    }

    /// `(SELECT agg(s.x) FROM t AS s WHERE s.k = outer [AND p])`, correlated.
    fn correlated_scalar(&mut self, scope: &Scope) -> X {
        let names: Vec<String> = self.tables.iter().map(|t| t.name.clone()).collect();
        let t = self.pick(&names);
        let inner = self.scope_of(&t, "s");
        let outer = self.col(scope, Ty::Int).expect("an integer column");
        let mut filter = X::Op(
            Box::new(X::Col("s.k".into(), Ty::Int)),
            "=",
            Box::new(outer),
            Ty::Bool,
        );
        if self.rng.gen_bool(0.4) {
            let p = self.pred(&inner, 1);
            filter = X::Op(Box::new(filter), "AND", Box::new(p), Ty::Bool);
        }
        let (f, ty) = self.pick(&[
            ("count", Ty::Int),
            ("max", Ty::Int),
            ("sum", Ty::Int),
            ("min", Ty::Text),
        ]);
        let arg = if ty == Ty::Text { "s.s" } else { "s.v" };
        let q = Select {
            distinct: false,
            items: vec![X::Agg(f, Some(Box::new(X::Col(arg.into(), ty))), ty)],
            from: From::One(t, "s".into()),
            filter: Some(filter),
            group: vec![],
            having: None,
            limit: None,
        };
        X::Scalar(Box::new(q), ty)
    }

    fn agg(&mut self, scope: &Scope) -> X {
        if self.rng.gen_ratio(1, 8) {
            return self.ordered_agg(scope);
        }
        match self.rng.gen_range(0..6) {
            0 if self.rng.gen_bool(0.3) => {
                let f = self.pick(&["count", "sum", "min"]);
                X::AggDistinct(f, Box::new(self.expr(scope, Ty::Int, 1)), Ty::Int)
            }
            0 => X::Agg("count", None, Ty::Int),
            1 => {
                let ty = self.pick(&[Ty::Int, Ty::Text, Ty::Float]);
                X::Agg("count", Some(Box::new(self.expr(scope, ty, 1))), Ty::Int)
            }
            2 => {
                let ty = self.pick(&[Ty::Int, Ty::Float]);
                X::Agg("sum", Some(Box::new(self.expr(scope, ty, 1))), ty)
            }
            3 => X::Agg(
                "avg",
                Some(Box::new(self.expr(scope, Ty::Int, 1))),
                Ty::Float,
            ),
            _ => {
                let ty = self.pick(&[Ty::Int, Ty::Text, Ty::Float]);
                let f = self.pick(&["min", "max"]);
                X::Agg(f, Some(Box::new(self.expr(scope, ty, 1))), ty)
            }
        }
    }

    /// A holistic aggregate: a percentile, the mode, or string_agg.
    fn ordered_agg(&mut self, scope: &Scope) -> X {
        let desc = self.rng.gen_bool(0.3);
        let f = self.pick(&[
            "percentile_disc(0.5)",
            "percentile_disc(0.25)",
            "percentile_cont(0.5)",
            "percentile_cont(0.9)",
            "mode()",
            "string_agg",
        ]);
        let ty = match f {
            "string_agg" => Ty::Text,
            _ if f.starts_with("percentile_cont") => self.pick(&[Ty::Int, Ty::Float]),
            _ => self.pick(&[Ty::Int, Ty::Text, Ty::Float]),
        };
        let x = Box::new(self.expr(scope, ty, 1));
        let out = if f.starts_with("percentile_cont") {
            Ty::Float
        } else {
            ty
        };
        X::Ordered(f, x, desc, out)
    }

    /// A random SELECT block over the tables.
    pub fn select(&mut self) -> Select {
        let (from, scope) = self.from();
        let mut filter = self.rng.gen_bool(0.7).then(|| self.pred(&scope, 2));
        if self.rng.gen_ratio(1, 5) {
            let s = self.sub_pred(&scope);
            filter = Some(match filter {
                Some(f) => X::Op(Box::new(f), "AND", Box::new(s), Ty::Bool),
                None => s,
            });
        }
        let mut s = Select {
            distinct: false,
            items: vec![],
            from,
            filter,
            group: vec![],
            having: None,
            limit: None,
        };
        match self.rng.gen_range(0..10) {
            // Grouped.
            0..=2 => {
                let n = self.rng.gen_range(1..3);
                for _ in 0..n {
                    let ty = self.pick(&[Ty::Int, Ty::Text, Ty::Bool]);
                    // Not a constant: `GROUP BY 3` is a position, and PostgreSQL refuses
                    // other constants.
                    let g = self.expr(&scope, ty, 1);
                    let g = if g.reads_columns() {
                        g
                    } else {
                        self.col(&scope, ty).expect("every type has a column")
                    };
                    s.group.push(g.clone());
                    s.items.push(g);
                }
                for _ in 0..self.rng.gen_range(1..3) {
                    s.items.push(self.agg(&scope));
                }
                if self.rng.gen_bool(0.4) {
                    let a = self.agg(&scope);
                    let ty = a.ty();
                    let lit = self.lit(if ty == Ty::Text { Ty::Text } else { ty });
                    s.having = Some(X::Op(Box::new(a), ">", Box::new(lit), Ty::Bool));
                }
            }
            // One row of aggregates.
            3 => {
                for _ in 0..self.rng.gen_range(1..4) {
                    s.items.push(self.agg(&scope));
                }
            }
            // A window over a partition.
            4 => {
                let part = Box::new(self.col(&scope, Ty::Int).expect("k"));
                s.items.push((*part).clone());
                s.items.push(self.col(&scope, Ty::Int).expect("v"));
                let w = match self.rng.gen_range(0..6) {
                    5 => X::Window(
                        self.pick(&["cume_dist", "percent_rank"]),
                        None,
                        part,
                        Some(Box::new(self.col(&scope, Ty::Int).expect("v"))),
                        None,
                        Ty::Float,
                    ),
                    3 => X::Window(
                        "sum",
                        Some(Box::new(self.col(&scope, Ty::Int).expect("v"))),
                        part,
                        Some(Box::new(self.col(&scope, Ty::Int).expect("v"))),
                        None,
                        Ty::Int,
                    ),
                    4 => {
                        // A RANGE frame with offsets over an integer key.
                        let f = self.pick(&["sum", "min", "max", "count"]);
                        let bound = |r: &mut SmallRng| match r.gen_range(0..4) {
                            0 => "CURRENT ROW".to_string(),
                            1 => format!("{} PRECEDING", r.gen_range(0..4)),
                            _ => format!("{} FOLLOWING", r.gen_range(0..4)),
                        };
                        let (a, b) = (bound(&mut *self.rng), bound(&mut *self.rng));
                        // Keep the start no later than the end so PostgreSQL accepts it
                        // (`0 FOLLOWING AND 0 PRECEDING` it refuses).
                        let at = |x: &str| -> (i64, u8) {
                            let n: i64 = x
                                .split(' ')
                                .next()
                                .and_then(|n| n.parse().ok())
                                .unwrap_or(0);
                            match x {
                                _ if x.ends_with("PRECEDING") => (-n, 0),
                                _ if x.ends_with("FOLLOWING") => (n, 2),
                                _ => (0, 1),
                            }
                        };
                        let (a, b) = if at(&a) <= at(&b) { (a, b) } else { (b, a) };
                        let desc = if self.rng.gen_bool(0.3) { " DESC" } else { "" };
                        X::Window(
                            f,
                            Some(Box::new(self.col(&scope, Ty::Int).expect("v"))),
                            part,
                            Some(Box::new(self.col(&scope, Ty::Int).expect("v"))),
                            Some(format!("{desc} RANGE BETWEEN {a} AND {b}")),
                            Ty::Int,
                        )
                    }
                    0 => X::Window("count", None, part, None, None, Ty::Int),
                    1 => X::Window(
                        "sum",
                        Some(Box::new(self.col(&scope, Ty::Int).expect("v"))),
                        part,
                        None,
                        None,
                        Ty::Int,
                    ),
                    _ => X::Window(
                        "rank",
                        None,
                        part,
                        Some(Box::new(self.col(&scope, Ty::Int).expect("v"))),
                        None,
                        Ty::Int,
                    ),
                };
                s.items.push(w);
            }
            // Plain rows.
            _ => {
                s.distinct = self.rng.gen_ratio(1, 4);
                for _ in 0..self.rng.gen_range(1..4) {
                    let ty = self.pick(&[Ty::Int, Ty::Float, Ty::Text, Ty::Bool]);
                    s.items.push(self.expr(&scope, ty, 2));
                }
                if self.rng.gen_ratio(1, 5) {
                    let sub = self.correlated_scalar(&scope);
                    s.items.push(sub);
                }
                if self.rng.gen_ratio(1, 4) {
                    s.limit = Some(self.rng.gen_range(0..6));
                }
            }
        }
        s
    }

    /// A random query: mostly SELECT blocks, sometimes two combined.
    pub fn query(&mut self) -> Query {
        if self.rng.gen_ratio(1, 8) {
            let op = self.pick(&[
                "UNION",
                "UNION ALL",
                "INTERSECT",
                "EXCEPT",
                "INTERSECT ALL",
                "EXCEPT ALL",
            ]);
            let ty = self.pick(&[Ty::Int, Ty::Text]);
            let side = |g: &mut Self| {
                let (from, scope) = g.from();
                Select {
                    distinct: false,
                    items: vec![g.expr(&scope, ty, 1)],
                    filter: g.rng.gen_bool(0.6).then(|| g.pred(&scope, 1)),
                    from,
                    group: vec![],
                    having: None,
                    limit: None,
                }
            };
            let (a, b) = (side(self), side(self));
            return Query::Set(Box::new(a), op, Box::new(b));
        }
        Query::Select(Box::new(self.select()))
    }
}

/// A predicate for ternary-logic partitioning: `p`, `NOT p` and `p IS NULL` split any
/// relation into three parts whose sizes add up to the whole.
pub fn tlp_variants(s: &Select, p: &X) -> [Select; 3] {
    let with = |extra: X| {
        let mut v = s.clone();
        v.filter = Some(match &s.filter {
            Some(f) => X::Op(Box::new(f.clone()), "AND", Box::new(extra), Ty::Bool),
            None => extra,
        });
        v
    };
    [
        with(p.clone()),
        with(X::Not(Box::new(p.clone()))),
        with(X::IsNull(Box::new(p.clone()), false)),
    ]
}

/// The columns a FROM clause brings into scope.
pub fn scope_of_from(tables: &[Table], from: &From) -> Vec<(String, Ty)> {
    let of = |table: &str, alias: &str| -> Vec<(String, Ty)> {
        tables
            .iter()
            .find(|t| t.name == table)
            .map(|t| {
                t.cols
                    .iter()
                    .map(|(c, ty)| (format!("{alias}.{c}"), *ty))
                    .collect()
            })
            .unwrap_or_default()
    };
    match from {
        From::One(t, a) => of(t, a),
        From::Join(l, a, _, r, b, _) => {
            let mut s = of(l, a);
            s.extend(of(r, b));
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The generator reaches the holistic aggregates (so the campaign compares them with
    /// PostgreSQL) and writes them as PostgreSQL spells them.
    #[test]
    fn generates_ordered_set_aggregates_and_string_agg() {
        let mut rng = SmallRng::seed_from_u64(7);
        let tables: Vec<_> = (0..3)
            .map(|i| crate::data::table(&mut rng, &format!("t{i}")))
            .collect();
        let mut g = Gen {
            rng: &mut rng,
            tables: &tables,
        };
        let sql: Vec<String> = (0..3000).map(|_| g.query().sql()).collect();
        for needle in ["WITHIN GROUP (ORDER BY", "mode() WITHIN", "string_agg("] {
            assert!(sql.iter().any(|q| q.contains(needle)), "no {needle}");
        }
    }
}

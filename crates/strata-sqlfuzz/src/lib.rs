//! # strata-sqlfuzz: does Strata SQL give the right answer to queries nobody wrote?
//!
//! A campaign makes random tables (NULLs, duplicates, extreme values, empty tables) and
//! random queries over them: filters, joins of every kind, grouping with HAVING, window
//! functions, DISTINCT, `ORDER BY ... LIMIT`, IN/EXISTS/scalar subqueries and set
//! operations. Three oracles judge the answers:
//!
//! - **PostgreSQL** (differential): the same tables are loaded into a schema of their own
//!   and every query runs on both; rows are compared as multisets (in order when the query
//!   orders them), numbers to nine significant digits. PostgreSQL is the reference dialect
//!   (integer division truncates, NULLs sort last ascending, text compares bytewise as in
//!   its C collation).
//! - **TLP** (ternary logic partitioning, no peer needed): for a query `Q` and a random
//!   predicate `p`, the rows of `Q WHERE p`, `Q WHERE NOT p` and `Q WHERE p IS NULL`
//!   together are exactly the rows of `Q`.
//! - **NoREC** (no peer needed): `count(*) ... WHERE p` equals the count of rows where
//!   `CASE WHEN p THEN 1 END` is not NULL, which evaluates `p` without the optimizer.
//!
//! A query where both engines answer differently is a **wrong answer**; it is shrunk
//! (items, filters and sub-expressions dropped while the difference stays) and reported
//! with its tables. A query PostgreSQL answers and Strata refuses is a **gap** (counted,
//! the first few kept); one both refuse agrees. `strata sql-fuzz` runs a campaign.

#![deny(missing_docs)]

pub mod compare;
pub mod data;
pub mod pg;
pub mod query;

use data::Table;
use query::{Gen, Query, Select, X};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::fmt;
use std::time::{Duration, Instant};

/// What a campaign runs.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// Seed of tables and queries: the same seed makes the same campaign.
    pub seed: u64,
    /// Queries to run (each also gets its metamorphic checks).
    pub queries: usize,
    /// Stop early after this long.
    pub time_limit: Duration,
    /// Fresh tables after this many queries.
    pub queries_per_dataset: usize,
    /// Compare with PostgreSQL (else only the metamorphic oracles run).
    pub postgres: Option<pg::Pg>,
}

/// One difference, shrunk.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Which oracle saw it.
    pub oracle: &'static str,
    /// The smallest query that still shows it.
    pub query: String,
    /// What each side said.
    pub detail: String,
    /// The tables it ran over, as SQL.
    pub tables: String,
}

/// What a campaign found.
#[derive(Debug, Default)]
pub struct Report {
    /// Queries generated.
    pub queries: usize,
    /// Both engines gave the same rows.
    pub agreed: usize,
    /// Both engines refused the query.
    pub both_failed: usize,
    /// Strata refused a query PostgreSQL answered.
    pub gaps: usize,
    /// Strata answered a query PostgreSQL refused (usually a dialect difference).
    pub peer_failed: usize,
    /// TLP and NoREC checks run.
    pub metamorphic: usize,
    /// Wrong answers (differential) and broken metamorphic relations.
    pub findings: Vec<Finding>,
    /// The first few gaps: query and Strata's error.
    pub gap_examples: Vec<(String, String)>,
    /// The first few queries only PostgreSQL refused: query and its error.
    pub peer_examples: Vec<(String, String)>,
    /// The first few queries both refused: query, Strata's error and PostgreSQL's.
    pub both_examples: Vec<(String, String, String)>,
    /// How long it ran.
    pub elapsed: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sql-fuzz: {} queries in {:.1} s: {} agreed with PostgreSQL, {} refused by both, \
             {} refused by Strata only (gaps), {} refused by PostgreSQL only; {} metamorphic \
             checks; {} wrong answers",
            self.queries,
            self.elapsed.as_secs_f64(),
            self.agreed,
            self.both_failed,
            self.gaps,
            self.peer_failed,
            self.metamorphic,
            self.findings.len()
        )?;
        for (q, e) in &self.gap_examples {
            writeln!(f, "  gap: {q}\n       strata: {e}")?;
        }
        for (q, mine, theirs) in &self.both_examples {
            writeln!(
                f,
                "  both refused: {q}\n       strata: {mine}\n       postgres: {theirs}"
            )?;
        }
        for (q, e) in &self.peer_examples {
            writeln!(f, "  postgres only refused: {q}\n       postgres: {e}")?;
        }
        for x in &self.findings {
            writeln!(
                f,
                "WRONG ({}): {}\n  {}\n  tables:\n{}",
                x.oracle, x.query, x.detail, x.tables
            )?;
        }
        Ok(())
    }
}

/// The tables of one dataset, registered in a Strata engine and loaded into PostgreSQL.
struct Dataset {
    tables: Vec<Table>,
    engine: strata_sql::Engine,
    _dir: tempfile::TempDir,
}

fn dataset(rng: &mut SmallRng, pg: Option<&pg::Pg>) -> Result<Dataset, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let tables: Vec<Table> = (0..3).map(|i| data::table(rng, &format!("t{i}"))).collect();
    let mut engine = strata_sql::Engine::new();
    engine.exec.threads = 2;
    for t in &tables {
        let path = t
            .write_parquet(dir.path())
            .map_err(|e| format!("writing {}: {e}", t.name))?;
        engine
            .register(&t.name, &path.to_string_lossy())
            .map_err(|e| format!("registering {}: {e}", t.name))?;
    }
    if let Some(pg) = pg {
        let script: String = tables.iter().map(Table::pg_sql).collect();
        pg.load(&script)?;
    }
    Ok(Dataset {
        tables,
        engine,
        _dir: dir,
    })
}

fn tables_sql(tables: &[Table]) -> String {
    tables.iter().map(Table::pg_sql).collect()
}

/// Runs a campaign.
pub fn run(c: &Campaign) -> Result<Report, String> {
    if let Some(pg) = &c.postgres {
        pg.available()
            .map_err(|e| format!("PostgreSQL at {}:{} does not answer: {e}", pg.host, pg.port))?;
    }
    let start = Instant::now();
    let mut rng = SmallRng::seed_from_u64(c.seed);
    let mut report = Report::default();
    let mut data: Option<Dataset> = None;
    for i in 0..c.queries {
        if start.elapsed() > c.time_limit {
            break;
        }
        if i % c.queries_per_dataset.max(1) == 0 {
            data = Some(dataset(&mut rng, c.postgres.as_ref())?);
        }
        let d = data.as_ref().expect("a dataset");
        let q = Gen {
            rng: &mut rng,
            tables: &d.tables,
        }
        .query();
        report.queries += 1;
        if let Some(pg) = &c.postgres {
            differential(pg, d, &q, &mut report);
        }
        if let Query::Select(s) = &q {
            metamorphic(&mut rng, d, s, &mut report);
        }
    }
    if let Some(pg) = &c.postgres {
        pg.drop_schema();
    }
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Strata's answer: rows of normalized cells, or its error.
fn strata(engine: &strata_sql::Engine, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.sql(sql)));
    match out {
        Ok(Ok(b)) => Ok(compare::rows(&b)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("PANIC".into()),
    }
}

/// Compares Strata with PostgreSQL on `q`; a difference is shrunk and recorded.
fn differential(pg: &pg::Pg, d: &Dataset, q: &Query, report: &mut Report) {
    let sql = q.sql();
    let verdict = judge(pg, d, q);
    match verdict {
        Verdict::Agree => report.agreed += 1,
        Verdict::BothFailed(mine, theirs) => {
            report.both_failed += 1;
            if report.both_examples.len() < 5 {
                report.both_examples.push((sql, mine, theirs));
            }
        }
        Verdict::PeerFailed(e) => {
            report.peer_failed += 1;
            if report.peer_examples.len() < 5 {
                report.peer_examples.push((sql, e));
            }
        }
        Verdict::Gap(e) if !is_bug(&e) => {
            report.gaps += 1;
            if report.gap_examples.len() < 5 {
                report.gap_examples.push((sql, e));
            }
        }
        Verdict::Gap(_) | Verdict::Differ(_) => {
            let small = shrink(q, |x| match judge(pg, d, x) {
                Verdict::Differ(_) => true,
                Verdict::Gap(e) => is_bug(&e),
                _ => false,
            });
            let detail = match judge(pg, d, &small) {
                Verdict::Differ(m) => m,
                Verdict::Gap(e) => format!("strata: {e}"),
                _ => "the difference went away when re-run".into(),
            };
            report.findings.push(Finding {
                oracle: "postgres",
                query: small.sql(),
                detail,
                tables: tables_sql(&d.tables),
            });
        }
    }
}

/// Whether Strata's refusal of a query PostgreSQL answers is a bug rather than a missing
/// feature: a panic, or an error from deep inside (an Arrow kernel, a broken invariant)
/// instead of one of the planner's own messages.
fn is_bug(e: &str) -> bool {
    e == "PANIC"
        || e.contains("likely a bug")
        || e.starts_with("Compute error")
        || e.starts_with("Invalid argument error")
}

enum Verdict {
    Agree,
    BothFailed(String, String),
    PeerFailed(String),
    Gap(String),
    Differ(String),
}

fn judge(pg: &pg::Pg, d: &Dataset, q: &Query) -> Verdict {
    let sql = q.sql();
    let mine = strata(&d.engine, &sql);
    let theirs = pg.query(&sql).map(|r| compare::normalize(&r));
    match (mine, theirs) {
        (Err(a), Err(b)) => Verdict::BothFailed(a, b),
        (Ok(_), Err(e)) => Verdict::PeerFailed(e),
        (Err(e), Ok(_)) => Verdict::Gap(e),
        (Ok(a), Ok(b)) => match compare::diff(&a, &b, q.ordered()) {
            None => Verdict::Agree,
            Some(m) => Verdict::Differ(m),
        },
    }
}

/// The smallest variant of `q` for which `bad` still holds (greedy, bounded).
fn shrink(q: &Query, bad: impl Fn(&Query) -> bool) -> Query {
    let mut cur = q.clone();
    let mut steps = 0;
    'outer: while steps < 200 {
        for cand in cur.shrinks() {
            steps += 1;
            if bad(&cand) {
                cur = cand;
                continue 'outer;
            }
        }
        break;
    }
    cur
}

/// Whether TLP applies: plain rows (no grouping, aggregates, windows, DISTINCT or LIMIT),
/// where filtering commutes with the select list.
fn plain(s: &Select) -> bool {
    !s.distinct
        && s.group.is_empty()
        && s.limit.is_none()
        && s.items.iter().all(|x| {
            !matches!(
                x,
                X::Agg(..) | X::AggDistinct(..) | X::Window(..) | X::Ordered(..)
            )
        })
}

/// TLP and NoREC on `s`, in Strata alone.
fn metamorphic(rng: &mut SmallRng, d: &Dataset, s: &Select, report: &mut Report) {
    if !plain(s) {
        return;
    }
    let scope = query::scope_of_from(&d.tables, &s.from);
    let p = Gen {
        rng,
        tables: &d.tables,
    }
    .pred(&scope, 2);
    // TLP: the three parts add up to the whole.
    report.metamorphic += 1;
    let tlp_broken = |s: &Select, p: &X| -> Option<String> {
        let whole = strata(&d.engine, &s.sql()).ok()?;
        let mut parts = Vec::new();
        for v in query::tlp_variants(s, p) {
            match strata(&d.engine, &v.sql()) {
                Ok(r) => parts.extend(r),
                Err(e) if e == "PANIC" => return Some(format!("panic in {}", v.sql())),
                Err(_) => return None,
            }
        }
        compare::diff(&parts, &whole, false)
            .map(|m| format!("p = {}: the three parts {m}", p.sql()))
    };
    if let Some(detail) = tlp_broken(s, &p) {
        let small = shrink(&Query::Select(Box::new(s.clone())), |q| match q {
            Query::Select(x) => plain(x) && tlp_broken(x, &p).is_some(),
            _ => false,
        });
        let detail = match &small {
            Query::Select(x) => tlp_broken(x, &p).unwrap_or(detail),
            _ => detail,
        };
        report.findings.push(Finding {
            oracle: "TLP",
            query: small.sql(),
            detail,
            tables: tables_sql(&d.tables),
        });
    }
    // NoREC: the optimized count equals the count of the predicate evaluated per row.
    report.metamorphic += 1;
    let counted = |filter: Option<X>, item: X| {
        let q = Select {
            distinct: false,
            items: vec![item],
            from: s.from.clone(),
            filter,
            group: vec![],
            having: None,
            limit: None,
        };
        (q.sql(), strata(&d.engine, &q.sql()))
    };
    let (q1, fast) = counted(Some(p.clone()), X::Agg("count", None, data::Ty::Int));
    let per_row = X::Agg(
        "count",
        Some(Box::new(X::Case(
            Box::new(p.clone()),
            Box::new(X::Lit(data::Val::Int(1), data::Ty::Int)),
            Box::new(X::Lit(data::Val::Null, data::Ty::Int)),
        ))),
        data::Ty::Int,
    );
    let (q2, slow) = counted(None, per_row);
    if let (Ok(a), Ok(b)) = (&fast, &slow)
        && a != b
    {
        report.findings.push(Finding {
            oracle: "NoREC",
            query: format!("{q1}  vs  {q2}"),
            detail: format!("{a:?} vs {b:?}"),
            tables: tables_sql(&d.tables),
        });
    }
}

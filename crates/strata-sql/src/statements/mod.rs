//! Statements that change the catalog: `CREATE TABLE [AS]`, `INSERT`, `UPDATE`, `DELETE`,
//! `TRUNCATE`, `DROP`, `CREATE [OR REPLACE] VIEW`, `COPY table FROM`, `CREATE INDEX`.
//!
//! Each reads through the ordinary query path (an `INSERT ... SELECT` is a query; a
//! `DELETE` is the query of the rows it keeps; an `UPDATE` the query of the new rows),
//! conforms the rows to the table's columns (strict casts, `NOT NULL`, defaults), writes
//! any data files, and commits one new catalog version ([`crate::db`]). A statement that
//! rewrote a table another session changed meanwhile fails instead of losing that change.
//!
//! `create.rs`: CREATE TABLE [AS], CREATE VIEW; `write.rs`: statements that write rows
//! (INSERT, UPDATE, DELETE, TRUNCATE, COPY FROM) and the data files behind them.

mod create;
mod write;

use crate::db::{State, TableEntry};
use crate::error::{Result, SqlError};
use crate::{Engine, Output, parse_one};
use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use sqlparser::ast as sql;
/// A name as written, without quotes (the last part of a dotted name).
pub(crate) fn object_name(n: &sql::ObjectName) -> String {
    let s = n.to_string();
    let last =
        n.0.last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.clone())
            .unwrap_or(s);
    last.trim_matches(['"', '\'', '`']).to_string()
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn rows_of(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

fn tag(t: impl Into<String>) -> Output {
    Output::Tag(t.into())
}

impl Engine {
    /// Runs `stmt` if it is one of this module's; `Ok(None)` when it is not.
    pub(crate) fn change(&self, stmt: &sql::Statement) -> Result<Option<Output>> {
        if !matches!(
            stmt,
            sql::Statement::CreateTable(_)
                | sql::Statement::Insert(_)
                | sql::Statement::Update(_)
                | sql::Statement::Delete(_)
                | sql::Statement::Truncate(_)
                | sql::Statement::Drop { .. }
                | sql::Statement::CreateView(_)
                | sql::Statement::CreateIndex(_)
                | sql::Statement::Copy { to: false, .. }
        ) {
            return Ok(None);
        }
        if self
            .distributed
            .as_ref()
            .is_some_and(|d| !d.is_single_process())
        {
            return Err(SqlError::NotSupported(
                "statements that change tables on a cluster (run them embedded with --db on a \
                 shared store, then query the tables on the cluster)"
                    .into(),
            ));
        }
        self.db.refresh()?;
        let out = match stmt {
            sql::Statement::CreateTable(c) => self.create_table(c)?,
            sql::Statement::Insert(i) => self.insert(i)?,
            sql::Statement::Update(u) => self.update(u)?,
            sql::Statement::Delete(d) => self.delete(d)?,
            sql::Statement::Truncate(t) => {
                for target in &t.table_names {
                    let name = self.writable(&object_name(&target.name))?;
                    let schema = self.db_table(&name)?.schema;
                    self.replace(&name, None, schema, Vec::new())?;
                }
                tag("TRUNCATE TABLE")
            }
            sql::Statement::Drop {
                object_type,
                if_exists,
                names,
                ..
            } => self.drop(object_type, *if_exists, names)?,
            sql::Statement::CreateView(v) => self.create_view(v)?,
            sql::Statement::CreateIndex(i) => self.create_index(i)?,
            sql::Statement::Copy {
                source,
                target,
                options,
                ..
            } => self.copy_from(source, target, options)?,
            _ => unreachable!("matched above"),
        };
        Ok(Some(out))
    }

    /// A table of the database, as committed now.
    fn db_table(&self, key: &str) -> Result<TableEntry> {
        self.db
            .table(key)
            .ok_or_else(|| SqlError::Plan(format!("table {key} does not exist")))
    }

    /// The catalog key of `name`, a table of the database statements may change.
    fn writable(&self, name: &str) -> Result<String> {
        let key = name.to_lowercase();
        if self.tables.contains_key(&key) {
            return Err(SqlError::Plan(format!(
                "table {name} is read-only: it was registered from files (--table); copy it \
                 into the database with CREATE TABLE {name}_copy AS SELECT * FROM {name}"
            )));
        }
        let st = self.db.state();
        if st.views.contains_key(&key) {
            return Err(SqlError::Plan(format!(
                "{name} is a view; change the tables it reads"
            )));
        }
        if !st.tables.contains_key(&key) {
            return Err(SqlError::Plan(format!(
                "table {name} does not exist{}",
                match self.tables().len() {
                    0 => "; create it with CREATE TABLE".to_string(),
                    _ => format!(
                        "; tables: {}",
                        self.tables()
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            )));
        }
        Ok(key)
    }

    /// Refuses a new table or view named like an existing one.
    fn check_new_name(&self, name: &str, st: &State) -> Result<()> {
        let key = name.to_lowercase();
        if self.tables.contains_key(&key) {
            return Err(SqlError::Plan(format!(
                "{name} is already registered from files (--table); pick another name"
            )));
        }
        if st.exists(&key) {
            let what = if st.views.contains_key(&key) {
                "view"
            } else {
                "table"
            };
            return Err(SqlError::Plan(format!(
                "a {what} named {name} already exists (DROP it first, or CREATE OR REPLACE / \
                 IF NOT EXISTS)"
            )));
        }
        Ok(())
    }

    /// Rows of a query given as text.
    fn rows_of_query(&self, text: &str) -> Result<Vec<RecordBatch>> {
        match parse_one(text)? {
            sql::Statement::Query(q) => Ok(self.query_rows(&q)?.0),
            _ => unreachable!("a SELECT parses as a query"),
        }
    }

    fn drop(
        &self,
        object_type: &sql::ObjectType,
        if_exists: bool,
        names: &[sql::ObjectName],
    ) -> Result<Output> {
        let what = match object_type {
            sql::ObjectType::Table => "TABLE",
            sql::ObjectType::View => "VIEW",
            sql::ObjectType::Index => "INDEX",
            other => return Err(SqlError::NotSupported(format!("DROP {other}"))),
        };
        for n in names {
            let name = object_name(n);
            let key = name.to_lowercase();
            if what == "TABLE" && self.tables.contains_key(&key) {
                return Err(SqlError::Plan(format!(
                    "table {name} was registered from files (--table), not created; its files \
                     stay where they are"
                )));
            }
            self.db.commit(|st| {
                let found = match what {
                    "TABLE" => st.drop_table(&key).is_some(),
                    "VIEW" => st.views.remove(&key).is_some(),
                    _ => st.indexes.remove(&key).is_some(),
                };
                if !found && !if_exists {
                    let hint = match (
                        what,
                        st.tables.contains_key(&key),
                        st.views.contains_key(&key),
                    ) {
                        ("VIEW", true, _) => " (it is a table: DROP TABLE)",
                        ("TABLE", _, true) => " (it is a view: DROP VIEW)",
                        _ => "",
                    };
                    return Err(SqlError::Plan(format!(
                        "{} {name} does not exist{hint}",
                        what.to_lowercase()
                    )));
                }
                if what == "TABLE" {
                    st.indexes.retain(|_, (t, _)| *t != key);
                }
                Ok(())
            })?;
        }
        Ok(tag(format!("DROP {what}")))
    }

    /// `CREATE INDEX`: recorded in the catalog (so that `DROP INDEX` and name clashes
    /// behave), with no structure behind it: scans prune by Parquet statistics instead.
    /// An index never changes a result.
    fn create_index(&self, i: &sql::CreateIndex) -> Result<Output> {
        let table = object_name(&i.table_name);
        let key = self.writable(&table)?;
        let t = self.db_table(&key)?;
        let mut cols = Vec::new();
        for c in &i.columns {
            let c = c.column.expr.to_string();
            let c = c.trim_matches('"');
            column_index(&t, c)?;
            cols.push(c.to_string());
        }
        let Some(n) = &i.name else {
            return Ok(tag("CREATE INDEX"));
        };
        let name = object_name(n).to_lowercase();
        let if_not_exists = i.if_not_exists;
        self.db.commit(|st| {
            if st.indexes.contains_key(&name) {
                if if_not_exists {
                    return Ok(());
                }
                return Err(SqlError::Plan(format!("index {name} already exists")));
            }
            st.indexes.insert(name.clone(), (key.clone(), cols.clone()));
            Ok(())
        })?;
        Ok(tag("CREATE INDEX"))
    }
}

fn names(files: &[(String, u64)]) -> Vec<String> {
    files.iter().map(|f| f.0.clone()).collect()
}

fn gone(key: &str) -> SqlError {
    SqlError::Execution(format!(
        "table {key} was dropped by another session while this statement ran"
    ))
}

fn changed(key: &str) -> SqlError {
    SqlError::Execution(format!(
        "table {key} was changed by another session while this statement ran; nothing was \
         written: run the statement again"
    ))
}

/// The position of column `c` (any case) in table `t`; the error lists its columns.
fn column_index(t: &TableEntry, c: &str) -> Result<usize> {
    t.schema
        .fields()
        .iter()
        .position(|f| f.name().eq_ignore_ascii_case(c))
        .ok_or_else(|| {
            SqlError::Plan(format!(
                "table {} has no column {c}; its columns: {}",
                t.name,
                column_list(&t.schema)
            ))
        })
}

fn column_list(s: &Schema) -> String {
    s.fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

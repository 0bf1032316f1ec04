//! Statements that change the catalog: `CREATE TABLE [AS]`, `INSERT`, `UPDATE`, `DELETE`,
//! `TRUNCATE`, `DROP`, `CREATE [OR REPLACE] VIEW`, `COPY table FROM`, `CREATE INDEX`.
//!
//! Each reads through the ordinary query path (an `INSERT ... SELECT` is a query; a
//! `DELETE` is the query of the rows it keeps; an `UPDATE` the query of the new rows),
//! conforms the rows to the table's columns (strict casts, `NOT NULL`, defaults), writes
//! any data files, and commits one new catalog version ([`crate::db`]). A statement that
//! rewrote a table another session changed meanwhile fails instead of losing that change.

use crate::db::{State, TableEntry, ViewEntry};
use crate::error::{Result, SqlError};
use crate::{Engine, Output, parse_one};
use arrow::array::{Array, ArrayRef, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use sqlparser::ast as sql;
use std::sync::Arc;

/// Rows a batch of a table in memory grows to before a new one starts.
const BATCH_ROWS: usize = 8192;

/// A data file smaller than this is rewritten together with the next insert's rows, so
/// that many small INSERTs do not leave a file each.
const SMALL_FILE_ROWS: u64 = 65_536;

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
            .state()
            .tables
            .get(key)
            .cloned()
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

    fn create_table(&self, c: &sql::CreateTable) -> Result<Output> {
        let name = object_name(&c.name);
        let key = name.to_lowercase();
        let st = self.db.state();
        if st.exists(&key) && c.if_not_exists {
            return Ok(tag("CREATE TABLE"));
        }
        if st.views.contains_key(&key) || !c.or_replace {
            self.check_new_name(&name, &st)?;
        } else if self.tables.contains_key(&key) {
            self.check_new_name(&name, &State::default())?;
        }
        if c.external
            || c.location.is_some()
            || c.clone.is_some()
            || c.like.is_some()
            || c.file_format.is_some()
            || c.temporary
        {
            return Err(SqlError::NotSupported(
                "CREATE TEMPORARY / EXTERNAL TABLE, LIKE, CLONE, LOCATION and STORED AS (tables \
                 live in the database; register files with --table)"
                    .into(),
            ));
        }
        let (schema, defaults, batches) = match &c.query {
            Some(q) => {
                let (rows, schema) = self.query_rows(q)?;
                let schema = ctas_schema(&schema, &c.columns)?;
                let rows = retype(&schema, rows)?;
                (schema, Vec::new(), rows)
            }
            None => {
                let (schema, defaults) = declared_schema(&name, c)?;
                (schema, defaults, Vec::new())
            }
        };
        let defaults = defaults
            .into_iter()
            .map(|(col, e)| {
                // A default must evaluate on its own, now: a constant expression.
                self.constant(
                    &e,
                    schema.field_with_name(&col).expect("declared").data_type(),
                )
                .map(|_| (col, e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let files = self.write_files(&name, &schema, &batches)?;
        let rows = rows_of(&batches);
        let entry = TableEntry {
            name: name.clone(),
            schema: schema.clone(),
            files: files.iter().map(|f| f.0.clone()).collect(),
            file_rows: files.iter().map(|f| f.1).collect(),
            rows,
            defaults,
            generation: 0,
            batches: if self.db.is_persistent() {
                Vec::new()
            } else {
                batches
            },
        };
        let (or_replace, if_not_exists) = (c.or_replace, c.if_not_exists);
        let created = self.db.commit(|st| {
            if st.views.contains_key(&key) || (st.tables.contains_key(&key) && !or_replace) {
                if if_not_exists && !st.views.contains_key(&key) {
                    return Ok(false);
                }
                return Err(SqlError::Plan(format!(
                    "{name} was created by another session meanwhile"
                )));
            }
            let generation = st.drop_table(&key).map_or(0, |t| t.generation + 1);
            st.tables.insert(
                key.clone(),
                TableEntry {
                    generation,
                    ..entry.clone()
                },
            );
            Ok(true)
        })?;
        if !created {
            self.discard(&entry.files);
            return Ok(tag("CREATE TABLE"));
        }
        Ok(tag(if c.query.is_some() {
            format!("SELECT {rows}")
        } else {
            "CREATE TABLE".to_string()
        }))
    }

    /// Evaluates a constant expression (a column default) as type `t`.
    fn constant(&self, e: &sql::Expr, t: &DataType) -> Result<ArrayRef> {
        let q = match parse_one(&format!("SELECT {e}"))? {
            sql::Statement::Query(q) => q,
            _ => unreachable!("a SELECT parses as a query"),
        };
        let (rows, _) = self.query_rows(&q).map_err(|err| {
            SqlError::Plan(format!("DEFAULT {e}: {err} (a default must be a constant)"))
        })?;
        let b = rows
            .iter()
            .find(|b| b.num_rows() == 1)
            .ok_or_else(|| SqlError::Plan(format!("DEFAULT {e} gave no value")))?;
        cast_column(b.column(0), t, "DEFAULT")
    }

    fn insert(&self, ins: &sql::Insert) -> Result<Output> {
        let sql::TableObject::TableName(tn) = &ins.table else {
            return Err(SqlError::NotSupported(format!(
                "INSERT INTO {} (insert into a table by name)",
                ins.table
            )));
        };
        if ins.or.is_some()
            || ins.ignore
            || ins.on.is_some()
            || ins.returning.is_some()
            || ins.replace_into
            || ins.by_name
            || ins.partitioned.is_some()
            || !ins.assignments.is_empty()
            || ins.output.is_some()
            || ins.insert_alias.is_some()
            || ins.settings.is_some()
        {
            return Err(SqlError::NotSupported(
                "INSERT OR ..., INSERT IGNORE, REPLACE INTO, ON CONFLICT, RETURNING, BY NAME, \
                 PARTITION and SET forms (write INSERT INTO t [(cols)] VALUES | SELECT)"
                    .into(),
            ));
        }
        let key = self.writable(&object_name(tn))?;
        let t = self.db_table(&key)?;
        let Some(source) = &ins.source else {
            return Err(SqlError::NotSupported(
                "INSERT ... DEFAULT VALUES (list the values)".into(),
            ));
        };
        let columns: Vec<String> = ins.columns.iter().map(object_name).collect();
        let (rows, _) = self.query_rows(source)?;
        let batches = self.conform(&t, &columns, rows)?;
        let n = rows_of(&batches);
        if ins.overwrite {
            self.replace(&key, None, t.schema.clone(), batches)?;
        } else {
            self.append(&key, &t, batches)?;
        }
        Ok(tag(format!("INSERT 0 {n}")))
    }

    /// Rows of a query as rows of table `t`: its columns in order (`columns` names where
    /// each query column goes; the rest get their default or NULL), cast strictly, NOT
    /// NULL checked.
    fn conform(
        &self,
        t: &TableEntry,
        columns: &[String],
        rows: Vec<RecordBatch>,
    ) -> Result<Vec<RecordBatch>> {
        let width = t.schema.fields().len();
        let targets: Vec<usize> = if columns.is_empty() {
            (0..width).collect()
        } else {
            let mut seen = vec![false; width];
            columns
                .iter()
                .map(|c| {
                    let i = t
                        .schema
                        .fields()
                        .iter()
                        .position(|f| f.name().eq_ignore_ascii_case(c))
                        .ok_or_else(|| {
                            SqlError::Plan(format!(
                                "table {} has no column {c}; its columns: {}",
                                t.name,
                                column_list(&t.schema)
                            ))
                        })?;
                    if std::mem::replace(&mut seen[i], true) {
                        return Err(SqlError::Plan(format!("column {c} is named twice")));
                    }
                    Ok(i)
                })
                .collect::<Result<_>>()?
        };
        let mut out = Vec::new();
        for b in rows {
            if b.num_columns() != targets.len() {
                return Err(SqlError::Plan(format!(
                    "INSERT has {} values per row but {} columns to fill ({})",
                    b.num_columns(),
                    targets.len(),
                    if columns.is_empty() {
                        format!("table {}: {}", t.name, column_list(&t.schema))
                    } else {
                        columns.join(", ")
                    }
                )));
            }
            if b.num_rows() == 0 {
                continue;
            }
            let mut cols: Vec<Option<ArrayRef>> = vec![None; width];
            for (src, &dst) in targets.iter().enumerate() {
                let f = t.schema.field(dst);
                cols[dst] = Some(cast_column(b.column(src), f.data_type(), f.name())?);
            }
            let n = b.num_rows();
            let mut full = Vec::with_capacity(width);
            for (i, c) in cols.into_iter().enumerate() {
                let f = t.schema.field(i);
                let c = match c {
                    Some(c) => c,
                    None => match t.defaults.iter().find(|(d, _)| d == f.name()) {
                        Some((_, e)) => {
                            let e = sqlparser::parser::Parser::new(
                                &sqlparser::dialect::GenericDialect {},
                            )
                            .try_with_sql(e)
                            .and_then(|mut p| p.parse_expr())
                            .map_err(|err| {
                                SqlError::Internal(format!("stored default {e}: {err}"))
                            })?;
                            let v = self.constant(&e, f.data_type())?;
                            crate::expr::Value::Scalar(v).into_array(n)?
                        }
                        None => new_null_array(f.data_type(), n),
                    },
                };
                if !f.is_nullable() && c.null_count() > 0 {
                    return Err(SqlError::Execution(format!(
                        "NULL in column {} of table {}, which is NOT NULL",
                        f.name(),
                        t.name
                    )));
                }
                full.push(c);
            }
            out.push(RecordBatch::try_new(t.schema.clone(), full)?);
        }
        Ok(out)
    }

    /// Appends rows to table `key` (as read in `t`).
    fn append(&self, key: &str, t: &TableEntry, batches: Vec<RecordBatch>) -> Result<()> {
        if batches.is_empty() {
            return Ok(());
        }
        let n = rows_of(&batches);
        if !self.db.is_persistent() {
            return self.db.commit(|st| {
                let cur = st.tables.get_mut(key).ok_or_else(|| gone(key))?;
                if cur.schema != t.schema {
                    return Err(changed(key));
                }
                for b in &batches {
                    push_batch(&mut cur.batches, &cur.schema, b)?;
                }
                cur.rows += n;
                cur.generation += 1;
                Ok(())
            });
        }
        // The rows alone, and (when the table's last file is small) the rows merged with
        // that file: at commit the merged file replaces the last one if it is still last.
        let alone = self.write_files(&t.name, &t.schema, &batches)?;
        let merged = match (t.files.last(), t.file_rows.last()) {
            (Some(last), Some(&rows)) if rows + n <= SMALL_FILE_ROWS => {
                // Best effort: a file another writer merged away meanwhile (and whose
                // grace has passed) means appending the rows alone.
                match self.read_file(last, &t.schema) {
                    Ok(mut old) => {
                        old.extend(batches.iter().cloned());
                        let written = self.write_files(&t.name, &t.schema, &old)?;
                        Some((last.clone(), written))
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        let used_merge = self.db.commit(|st| {
            let cur = st.tables.get_mut(key).ok_or_else(|| gone(key))?;
            if cur.schema != t.schema {
                return Err(changed(key));
            }
            cur.rows += n;
            cur.generation += 1;
            if let Some((last, written)) = &merged
                && cur.files.last() == Some(last)
            {
                let old = cur.files.pop().expect("checked");
                cur.file_rows.pop();
                for (f, r) in written {
                    cur.files.push(f.clone());
                    cur.file_rows.push(*r);
                }
                st.removed.push(old);
                return Ok(true);
            }
            for (f, r) in &alone {
                cur.files.push(f.clone());
                cur.file_rows.push(*r);
            }
            Ok(false)
        })?;
        match (used_merge, merged) {
            (true, _) => self.discard(&names(&alone)),
            (false, Some((_, written))) => self.discard(&names(&written)),
            (false, None) => {}
        }
        Ok(())
    }

    /// Replaces the rows of table `key` with `batches`; when `generation` is given, only
    /// if the table is still at that generation (nobody changed it since it was read).
    fn replace(
        &self,
        key: &str,
        generation: Option<u64>,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<()> {
        let files = self.write_files(key, &schema, &batches)?;
        let rows = rows_of(&batches);
        let persistent = self.db.is_persistent();
        let r = self.db.commit(|st| {
            let cur = st.tables.get(key).ok_or_else(|| gone(key))?;
            if generation.is_some_and(|g| g != cur.generation) || cur.schema != schema {
                return Err(changed(key));
            }
            let mut next = st.drop_table(key).expect("present");
            next.files = names(&files);
            next.file_rows = files.iter().map(|f| f.1).collect();
            next.rows = rows;
            next.generation += 1;
            next.batches = if persistent {
                Vec::new()
            } else {
                batches.clone()
            };
            st.tables.insert(key.to_string(), next);
            Ok(())
        });
        if r.is_err() {
            self.discard(&names(&files));
        }
        r
    }

    fn delete(&self, d: &sql::Delete) -> Result<Output> {
        let from = match &d.from {
            sql::FromTable::WithFromKeyword(f) | sql::FromTable::WithoutKeyword(f) => f,
        };
        if from.len() != 1
            || !from[0].joins.is_empty()
            || d.using.is_some()
            || d.returning.is_some()
            || d.limit.is_some()
            || !d.tables.is_empty()
        {
            return Err(SqlError::NotSupported(
                "DELETE from more than one table, USING, RETURNING or LIMIT (write DELETE FROM t \
                 WHERE ..., with a subquery for other tables)"
                    .into(),
            ));
        }
        let rel = &from[0].relation;
        let sql::TableFactor::Table { name, .. } = rel else {
            return Err(SqlError::NotSupported(format!("DELETE FROM {rel}")));
        };
        let key = self.writable(&object_name(name))?;
        let t = self.db_table(&key)?;
        let Some(pred) = &d.selection else {
            self.replace(&key, Some(t.generation), t.schema.clone(), Vec::new())?;
            return Ok(tag(format!("DELETE {}", t.rows)));
        };
        let hits = self.rows_of_query(&format!("SELECT * FROM {rel} WHERE {pred}"))?;
        let gone_rows = rows_of(&hits);
        if gone_rows > 0 {
            let all = self.rows_of_query(&format!("SELECT * FROM {rel}"))?;
            let kept = retype(&t.schema, minus(&t.schema, all, hits)?)?;
            self.replace(&key, Some(t.generation), t.schema.clone(), kept)?;
        }
        Ok(tag(format!("DELETE {gone_rows}")))
    }

    fn update(&self, u: &sql::Update) -> Result<Output> {
        if u.from.is_some() || u.returning.is_some() || u.limit.is_some() || u.or.is_some() {
            return Err(SqlError::NotSupported(
                "UPDATE ... FROM, RETURNING, LIMIT or OR ... (write the other tables as \
                 subqueries in SET or WHERE)"
                    .into(),
            ));
        }
        if !u.table.joins.is_empty() {
            return Err(SqlError::NotSupported("UPDATE of a join".into()));
        }
        let rel = &u.table.relation;
        let sql::TableFactor::Table { name, .. } = rel else {
            return Err(SqlError::NotSupported(format!("UPDATE {rel}")));
        };
        let key = self.writable(&object_name(name))?;
        let t = self.db_table(&key)?;
        let mut set: Vec<Option<&sql::Expr>> = vec![None; t.schema.fields().len()];
        for a in &u.assignments {
            let sql::AssignmentTarget::ColumnName(c) = &a.target else {
                return Err(SqlError::NotSupported(format!("SET {}", a.target)));
            };
            let c = object_name(c);
            let i = t
                .schema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(&c))
                .ok_or_else(|| {
                    SqlError::Plan(format!(
                        "table {} has no column {c}; its columns: {}",
                        t.name,
                        column_list(&t.schema)
                    ))
                })?;
            if set[i].replace(&a.value).is_some() {
                return Err(SqlError::Plan(format!("column {c} is set twice")));
            }
        }
        let exprs: Vec<String> = t
            .schema
            .fields()
            .iter()
            .zip(&set)
            .map(|(f, e)| {
                let c = quoted(f.name());
                match e {
                    None => c,
                    Some(e) => format!("{e} AS {c}"),
                }
            })
            .collect();
        let exprs = exprs.join(", ");
        // The rows the predicate picks, as they become; the others stay as they are.
        let (new, kept) = match &u.selection {
            None => (
                self.rows_of_query(&format!("SELECT {exprs} FROM {rel}"))?,
                Vec::new(),
            ),
            Some(p) => {
                let new = self.rows_of_query(&format!("SELECT {exprs} FROM {rel} WHERE {p}"))?;
                if rows_of(&new) == 0 {
                    return Ok(tag("UPDATE 0"));
                }
                let old = self.rows_of_query(&format!("SELECT * FROM {rel} WHERE {p}"))?;
                let all = self.rows_of_query(&format!("SELECT * FROM {rel}"))?;
                (new, retype(&t.schema, minus(&t.schema, all, old)?)?)
            }
        };
        let changed_rows = rows_of(&new);
        if changed_rows > 0 {
            let mut rows = kept;
            rows.extend(self.conform(&t, &[], new)?);
            self.replace(&key, Some(t.generation), t.schema.clone(), rows)?;
        }
        Ok(tag(format!("UPDATE {changed_rows}")))
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

    fn create_view(&self, v: &sql::CreateView) -> Result<Output> {
        if v.materialized {
            return Err(SqlError::NotSupported(
                "MATERIALIZED VIEW (use CREATE TABLE ... AS)".into(),
            ));
        }
        let name = object_name(&v.name);
        let key = name.to_lowercase();
        let st = self.db.state();
        if st.views.contains_key(&key) && v.if_not_exists {
            return Ok(tag("CREATE VIEW"));
        }
        if !(v.or_replace && st.views.contains_key(&key)) {
            self.check_new_name(&name, &st)?;
        }
        // Plans now, so that a view that cannot run is refused when it is created.
        let p = crate::plan_with_subqueries(&v.query, self.snapshot(), &self.exec)?;
        let columns: Vec<String> = v.columns.iter().map(|c| c.name.value.clone()).collect();
        if !columns.is_empty() && columns.len() != p.schema().fields().len() {
            return Err(SqlError::Plan(format!(
                "view {name} names {} columns but its query has {}",
                columns.len(),
                p.schema().fields().len()
            )));
        }
        let entry = ViewEntry {
            name: name.clone(),
            sql: v.query.to_string(),
            columns,
        };
        let or_replace = v.or_replace;
        self.db.commit(|st| {
            if st.tables.contains_key(&key) || (st.views.contains_key(&key) && !or_replace) {
                return Err(SqlError::Plan(format!(
                    "{name} was created by another session meanwhile"
                )));
            }
            st.views.insert(key.clone(), entry.clone());
            Ok(())
        })?;
        Ok(tag("CREATE VIEW"))
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
            if t.schema
                .fields()
                .iter()
                .all(|f| !f.name().eq_ignore_ascii_case(c))
            {
                return Err(SqlError::Plan(format!(
                    "table {table} has no column {c}; its columns: {}",
                    column_list(&t.schema)
                )));
            }
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

    /// `COPY t [(columns)] FROM 'file' [(FORMAT csv|parquet|json, HEADER, DELIMITER 'c')]`.
    fn copy_from(
        &self,
        source: &sql::CopySource,
        target: &sql::CopyTarget,
        options: &[sql::CopyOption],
    ) -> Result<Output> {
        let sql::CopySource::Table {
            table_name,
            columns,
        } = source
        else {
            return Err(SqlError::NotSupported("COPY (query) FROM".into()));
        };
        let sql::CopyTarget::File { filename } = target else {
            return Err(SqlError::NotSupported(format!(
                "COPY ... FROM {target} (name a file)"
            )));
        };
        let key = self.writable(&object_name(table_name))?;
        let t = self.db_table(&key)?;
        let mut csv = self.csv.clone();
        let mut format = None;
        for o in options {
            match o {
                sql::CopyOption::Format(f) => format = Some(f.value.to_lowercase()),
                sql::CopyOption::Header(h) => csv.header = *h,
                sql::CopyOption::Delimiter(d) if d.is_ascii() => csv.delimiter = *d as u8,
                other => {
                    return Err(SqlError::NotSupported(format!(
                        "COPY option {other} (FORMAT parquet|csv|json, HEADER, DELIMITER)"
                    )));
                }
            }
        }
        let columns: Vec<String> = columns.iter().map(|c| c.value.clone()).collect();
        let mut table = crate::catalog::open_as(&key, filename, &csv, format.as_deref())?;
        if let crate::catalog::FileFormat::Csv(_) = table.format {
            // Text read as the columns it fills, not as inferred: '007' into a VARCHAR
            // column stays '007'.
            let filled: Vec<Field> = if columns.is_empty() {
                t.schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect()
            } else {
                columns
                    .iter()
                    .map(|c| {
                        t.schema
                            .fields()
                            .iter()
                            .find(|f| f.name().eq_ignore_ascii_case(c))
                            .map(|f| f.as_ref().clone())
                            .ok_or_else(|| {
                                SqlError::Plan(format!("table {} has no column {c}", t.name))
                            })
                    })
                    .collect::<Result<_>>()?
            };
            if filled.len() != table.schema.fields().len() {
                return Err(SqlError::Plan(format!(
                    "{filename} has {} columns; {} are to be filled",
                    table.schema.fields().len(),
                    filled.len()
                )));
            }
            let fields: Vec<Field> = filled
                .into_iter()
                .zip(table.schema.fields())
                .map(|(f, file)| Field::new(file.name(), f.data_type().clone(), true))
                .collect();
            table.schema = Arc::new(Schema::new(fields));
        }
        let plan = crate::plan::Plan::Scan {
            projection: (0..table.schema.fields().len()).collect(),
            table: Arc::new(table),
            filters: vec![],
        };
        let rows = crate::run(&plan, &self.exec)?.0;
        let batches = self.conform(&t, &columns, rows)?;
        let n = rows_of(&batches);
        self.append(&key, &t, batches)?;
        Ok(tag(format!("COPY {n}")))
    }

    /// Rows of a query given as text.
    fn rows_of_query(&self, text: &str) -> Result<Vec<RecordBatch>> {
        match parse_one(text)? {
            sql::Statement::Query(q) => Ok(self.query_rows(&q)?.0),
            _ => unreachable!("a SELECT parses as a query"),
        }
    }

    /// Writes `batches` as data files of `table` (none for a catalog in memory or no
    /// rows): their names relative to the database and their rows.
    fn write_files(
        &self,
        table: &str,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<Vec<(String, u64)>> {
        let rows = rows_of(batches);
        if !self.db.is_persistent() || rows == 0 {
            return Ok(Vec::new());
        }
        let rel = crate::db::data_file_name(table);
        crate::sink::copy_to(
            &self.db.file_url(&rel),
            crate::sink::Format::Parquet,
            schema.clone(),
            batches,
        )?;
        Ok(vec![(rel, rows)])
    }

    /// The rows of one data file.
    fn read_file(&self, rel: &str, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        let table = crate::catalog::Table {
            name: rel.to_string(),
            schema: schema.clone(),
            files: vec![self.db.file_url(rel).into()],
            format: crate::catalog::FileFormat::Parquet,
            rows: None,
        };
        let plan = crate::plan::Plan::Scan {
            projection: (0..schema.fields().len()).collect(),
            table: Arc::new(table),
            filters: vec![],
        };
        retype(schema, crate::run(&plan, &self.exec)?.0)
    }

    /// Removes data files that no committed version references.
    fn discard(&self, files: &[String]) {
        for f in files {
            let url = self.db.file_url(f);
            if let Ok((store, path)) =
                strata_storage::resolve(&url, crate::source::storage_options())
            {
                let _ = store.delete(&path);
            }
        }
    }
}

/// The rows of `all` less those of `gone`, as multisets: each row of `gone` removes one
/// equal row of `all` (NULLs equal to NULLs). A DELETE's kept rows are the table less the
/// rows its predicate picks (duplicates are picked alike, so the count is what matters).
fn minus(
    schema: &SchemaRef,
    all: Vec<RecordBatch>,
    gone: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    use arrow::row::{RowConverter, SortField};
    let all = retype(schema, all)?;
    let gone = retype(schema, gone)?;
    let conv = RowConverter::new(
        schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect(),
    )?;
    let mut counts: std::collections::HashMap<Vec<u8>, usize> = Default::default();
    for b in &gone {
        let rows = conv.convert_columns(b.columns())?;
        for r in rows.iter() {
            *counts.entry(r.as_ref().to_vec()).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for b in all {
        let rows = conv.convert_columns(b.columns())?;
        let keep: arrow::array::BooleanArray = rows
            .iter()
            .map(|r| match counts.get_mut(r.as_ref()) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    Some(false)
                }
                _ => Some(true),
            })
            .collect();
        out.push(arrow::compute::filter_record_batch(&b, &keep)?);
    }
    Ok(out)
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

fn column_list(s: &Schema) -> String {
    s.fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column cast to `t` for a table: strict (a value that does not fit is an error naming
/// the column); an untyped NULL becomes a NULL of `t`.
fn cast_column(a: &ArrayRef, t: &DataType, column: &str) -> Result<ArrayRef> {
    if a.data_type() == t {
        return Ok(a.clone());
    }
    if a.data_type().is_null() {
        return Ok(new_null_array(t, a.len()));
    }
    crate::expr::strict_cast(a, t).map_err(|e| {
        SqlError::Execution(format!(
            "column {column} ({}): {e}",
            crate::sql_type_name(t)
        ))
    })
}

/// Batches of a query over the table itself, given the table's exact schema (names and
/// nullability as declared).
fn retype(schema: &SchemaRef, rows: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    rows.into_iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| {
            Ok(RecordBatch::try_new(
                schema.clone(),
                conform_types(schema, &b)?,
            )?)
        })
        .collect()
}

fn conform_types(schema: &SchemaRef, b: &RecordBatch) -> Result<Vec<ArrayRef>> {
    schema
        .fields()
        .iter()
        .zip(b.columns())
        .map(|(f, c)| cast_column(c, f.data_type(), f.name()))
        .collect()
}

/// Appends `b` to a table in memory, filling its last batch up to [`BATCH_ROWS`].
fn push_batch(batches: &mut Vec<RecordBatch>, schema: &SchemaRef, b: &RecordBatch) -> Result<()> {
    match batches.last_mut() {
        Some(last) if last.num_rows() + b.num_rows() <= BATCH_ROWS => {
            *last = arrow::compute::concat_batches(schema, [&*last, b])?;
        }
        _ => batches.push(b.clone()),
    }
    Ok(())
}

/// The columns of `CREATE TABLE t AS query`: the query's names (or those listed), every
/// column nullable; an untyped NULL column is INTEGER, as in DuckDB.
fn ctas_schema(q: &Schema, names: &[sql::ColumnDef]) -> Result<SchemaRef> {
    if !names.is_empty() && names.len() != q.fields().len() {
        return Err(SqlError::Plan(format!(
            "CREATE TABLE ... AS names {} columns but the query has {}",
            names.len(),
            q.fields().len()
        )));
    }
    let mut fields = Vec::new();
    for (i, f) in q.fields().iter().enumerate() {
        let name = names
            .get(i)
            .map(|c| c.name.value.clone())
            .unwrap_or_else(|| f.name().clone());
        if fields
            .iter()
            .any(|g: &Field| g.name().eq_ignore_ascii_case(&name))
        {
            return Err(SqlError::Plan(format!(
                "the query gives two columns named {name}; name them apart with AS"
            )));
        }
        let t = match f.data_type() {
            DataType::Null => DataType::Int32,
            t => t.clone(),
        };
        fields.push(Field::new(name, t, true));
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The columns of `CREATE TABLE t (a INTEGER NOT NULL, ...)`, and their defaults.
fn declared_schema(
    name: &str,
    c: &sql::CreateTable,
) -> Result<(SchemaRef, Vec<(String, sql::Expr)>)> {
    if c.columns.is_empty() {
        return Err(SqlError::Plan(format!(
            "CREATE TABLE {name} declares no columns"
        )));
    }
    let mut not_null: Vec<String> = Vec::new();
    for k in &c.constraints {
        match k {
            sql::TableConstraint::PrimaryKey(pk) => not_null.extend(
                pk.columns
                    .iter()
                    .map(|c| c.column.expr.to_string().trim_matches('"').to_lowercase()),
            ),
            sql::TableConstraint::Unique(_) | sql::TableConstraint::ForeignKey(_) => {}
            other => {
                return Err(SqlError::NotSupported(format!(
                    "table constraint {other} (PRIMARY KEY, UNIQUE and FOREIGN KEY are \
                     accepted as documentation; CHECK is not enforced, so it is refused)"
                )));
            }
        }
    }
    let mut fields: Vec<Field> = Vec::new();
    let mut defaults = Vec::new();
    for col in &c.columns {
        let cname = col.name.value.clone();
        if fields.iter().any(|f| f.name().eq_ignore_ascii_case(&cname)) {
            return Err(SqlError::Plan(format!("column {cname} is declared twice")));
        }
        let t = crate::bind::sql_type(&col.data_type)
            .map_err(|e| SqlError::Plan(format!("column {cname}: {e}")))?;
        let mut nullable = !not_null.contains(&cname.to_lowercase());
        for o in &col.options {
            match &o.option {
                sql::ColumnOption::Null => {}
                sql::ColumnOption::NotNull | sql::ColumnOption::PrimaryKey(_) => nullable = false,
                sql::ColumnOption::Unique(_) | sql::ColumnOption::ForeignKey(_) => {}
                sql::ColumnOption::Default(e) => defaults.push((cname.clone(), e.clone())),
                other => {
                    return Err(SqlError::NotSupported(format!(
                        "column option {other} (NULL, NOT NULL, DEFAULT, PRIMARY KEY, UNIQUE, \
                         REFERENCES)"
                    )));
                }
            }
        }
        fields.push(Field::new(cname, t, nullable));
    }
    for n in &not_null {
        if !fields.iter().any(|f| f.name().eq_ignore_ascii_case(n)) {
            return Err(SqlError::Plan(format!(
                "PRIMARY KEY names {n}, which is not a column"
            )));
        }
    }
    Ok((Arc::new(Schema::new(fields)), defaults))
}

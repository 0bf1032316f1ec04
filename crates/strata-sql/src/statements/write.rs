//! Statements that write rows: `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `COPY FROM`.
//! Rows come from the query path and are conformed to the table (strict casts, defaults,
//! NOT NULL); data files are written before the commit that references them.

use super::*;
use arrow::array::{Array, ArrayRef, new_null_array};
use arrow::datatypes::{DataType, Field, SchemaRef};
use std::sync::Arc;

/// Rows a batch of a table in memory grows to before a new one starts.
const BATCH_ROWS: usize = 8192;

/// A data file smaller than this is rewritten together with the next insert's rows, so
/// that many small INSERTs do not leave a file each.
const SMALL_FILE_ROWS: u64 = 65_536;

impl Engine {
    pub(super) fn insert(&self, ins: &sql::Insert) -> Result<Output> {
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
    pub(super) fn conform(
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
                    let i = column_index(t, c)?;
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
    pub(super) fn append(
        &self,
        key: &str,
        t: &TableEntry,
        batches: Vec<RecordBatch>,
    ) -> Result<()> {
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
    pub(super) fn replace(
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

    pub(super) fn delete(&self, d: &sql::Delete) -> Result<Output> {
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

    pub(super) fn update(&self, u: &sql::Update) -> Result<Output> {
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
            let i = column_index(&t, &c)?;
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

    /// `COPY t [(columns)] FROM 'file' [(FORMAT csv|parquet|json, HEADER, DELIMITER 'c')]`.
    pub(super) fn copy_from(
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

    /// Writes `batches` as data files of `table` (none for a catalog in memory or no
    /// rows): their names relative to the database and their rows.
    pub(super) fn write_files(
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
    pub(super) fn read_file(&self, rel: &str, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
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
    pub(super) fn discard(&self, files: &[String]) {
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
pub(super) fn minus(
    schema: &SchemaRef,
    all: Vec<RecordBatch>,
    gone: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    let all = retype(schema, all)?;
    let gone = retype(schema, gone)?;
    let conv = crate::exec::row_converter(schema)?;
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

/// A column cast to `t` for a table: strict (a value that does not fit is an error naming
/// the column); an untyped NULL becomes a NULL of `t`.
pub(super) fn cast_column(a: &ArrayRef, t: &DataType, column: &str) -> Result<ArrayRef> {
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
pub(super) fn retype(schema: &SchemaRef, rows: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
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

pub(super) fn conform_types(schema: &SchemaRef, b: &RecordBatch) -> Result<Vec<ArrayRef>> {
    schema
        .fields()
        .iter()
        .zip(b.columns())
        .map(|(f, c)| cast_column(c, f.data_type(), f.name()))
        .collect()
}

/// Appends `b` to a table in memory, filling its last batch up to [`BATCH_ROWS`].
pub(super) fn push_batch(
    batches: &mut Vec<RecordBatch>,
    schema: &SchemaRef,
    b: &RecordBatch,
) -> Result<()> {
    match batches.last_mut() {
        Some(last) if last.num_rows() + b.num_rows() <= BATCH_ROWS => {
            *last = arrow::compute::concat_batches(schema, [&*last, b])?;
        }
        _ => batches.push(b.clone()),
    }
    Ok(())
}

//! `CREATE TABLE [AS]` and `CREATE [OR REPLACE] VIEW`: the declared or queried schema,
//! defaults checked as constants, the first data files, one commit.

use super::write::{cast_column, retype};
use super::*;
use crate::db::ViewEntry;
use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, SchemaRef};
use std::sync::Arc;

impl Engine {
    pub(super) fn create_table(&self, c: &sql::CreateTable) -> Result<Output> {
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
    pub(super) fn constant(&self, e: &sql::Expr, t: &DataType) -> Result<ArrayRef> {
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

    pub(super) fn create_view(&self, v: &sql::CreateView) -> Result<Output> {
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
}

/// The columns of `CREATE TABLE t AS query`: the query's names (or those listed), every
/// column nullable; an untyped NULL column is INTEGER, as in DuckDB.
pub(super) fn ctas_schema(q: &Schema, names: &[sql::ColumnDef]) -> Result<SchemaRef> {
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
pub(super) fn declared_schema(
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

//! What one catalog version holds: tables (schema, data files, rows) and views (query
//! text), serialized as the JSON manifest of that version.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use std::collections::BTreeMap;

/// The catalog at one version.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct State {
    /// Tables by lower-cased name.
    pub tables: BTreeMap<String, TableEntry>,
    /// Views by lower-cased name.
    pub views: BTreeMap<String, ViewEntry>,
    /// Indexes by lower-cased name: the table and columns named (no structure behind).
    #[serde(default)]
    pub indexes: BTreeMap<String, (String, Vec<String>)>,
    /// Data files (relative to the database directory) this version stopped referencing;
    /// removed once the next version commits.
    #[serde(default)]
    pub removed: Vec<String>,
}

/// A table.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TableEntry {
    /// Its name as created.
    pub name: String,
    /// Columns, types and nullability (`NOT NULL` columns are not nullable).
    pub schema: SchemaRef,
    /// Data files, relative to the database directory, in order.
    pub files: Vec<String>,
    /// Rows of each data file.
    pub file_rows: Vec<u64>,
    /// Rows in all.
    pub rows: u64,
    /// Column defaults: column name and the SQL text of a constant expression.
    #[serde(default)]
    pub defaults: Vec<(String, String)>,
    /// Bumped by every change of the rows; a statement that rewrites the table commits
    /// only if it is unchanged since it was read.
    #[serde(default)]
    pub generation: u64,
    /// The rows, for a catalog in memory (never in a manifest).
    #[serde(skip)]
    pub batches: Vec<RecordBatch>,
}

/// A view: a named query, planned where it is used.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ViewEntry {
    /// Its name as created.
    pub name: String,
    /// The query's text.
    pub sql: String,
    /// Column names given in `CREATE VIEW v (a, b) AS ...`, if any.
    pub columns: Vec<String>,
}

impl State {
    /// Whether `name` (lower-cased) names a table or a view.
    pub fn exists(&self, name: &str) -> bool {
        self.tables.contains_key(name) || self.views.contains_key(name)
    }

    /// Removes table `name` and records its files as removed.
    pub fn drop_table(&mut self, name: &str) -> Option<TableEntry> {
        let t = self.tables.remove(name)?;
        self.removed.extend(t.files.iter().cloned());
        Some(t)
    }
}

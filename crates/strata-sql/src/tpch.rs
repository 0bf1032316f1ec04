//! `strata gen tpch`: the eight TPC-H tables at a scale factor, as Parquet or CSV files.
//!
//! Rows come from the `tpchgen` crates (a Rust port of `dbgen` producing the same data), as
//! Arrow record batches; each table is written in parallel pieces, one file per piece
//! (`DIR/lineitem/part-00000.parquet`, ...), so scans can be split by file. Parquet files
//! use Snappy and row groups of [`ROW_GROUP_ROWS`] rows, so min/max statistics can prune.

use crate::error::{Result, SqlError};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use std::fs::File;
use std::path::{Path, PathBuf};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet (Snappy).
    Parquet,
    /// CSV with a header row.
    Csv,
}

/// The TPC-H tables, in load order.
pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>;

/// Rows of `table` at scale `sf`, piece `part` (1-based) of `parts`.
fn generate(table: &str, sf: f64, part: i32, parts: i32) -> (SchemaRef, Batches) {
    macro_rules! gen_table {
        ($g:ident, $a:ident) => {
            (
                $a::schema_ref(),
                Box::new($a::new($g::new(sf, part, parts)).with_batch_size(8192)) as Batches,
            )
        };
    }
    match table {
        "region" => gen_table!(RegionGenerator, RegionArrow),
        "nation" => gen_table!(NationGenerator, NationArrow),
        "supplier" => gen_table!(SupplierGenerator, SupplierArrow),
        "customer" => gen_table!(CustomerGenerator, CustomerArrow),
        "part" => gen_table!(PartGenerator, PartArrow),
        "partsupp" => gen_table!(PartSuppGenerator, PartSuppArrow),
        "orders" => gen_table!(OrderGenerator, OrderArrow),
        _ => gen_table!(LineItemGenerator, LineItemArrow),
    }
}

/// Pieces for a table: about one per 500 k rows, at least 1 (scans run a file per task).
fn pieces(table: &str, sf: f64) -> i32 {
    let rows_per_sf = match table {
        "lineitem" => 6_000_000.0,
        "orders" => 1_500_000.0,
        "partsupp" => 800_000.0,
        "customer" | "part" => 200_000.0,
        _ => 0.0,
    };
    ((rows_per_sf * sf / 500_000.0).ceil() as i32).clamp(1, 64)
}

fn write_piece(path: &Path, schema: SchemaRef, batches: Batches, format: Format) -> Result<u64> {
    let file = File::create(path).map_err(|e| SqlError::io(path, e))?;
    let mut rows = 0u64;
    match format {
        Format::Parquet => {
            let props = parquet::file::properties::WriterProperties::builder()
                .set_compression(parquet::basic::Compression::SNAPPY)
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                .build();
            let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props))
                .map_err(|e| SqlError::io_other(path, e))?;
            for b in batches {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).map_err(|e| SqlError::io_other(path, e))?;
            }
            w.close().map_err(|e| SqlError::io_other(path, e))?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(std::io::BufWriter::new(file));
            for b in batches {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b)?;
            }
        }
    }
    Ok(rows)
}

/// Writes every table under `out/<table>/`; returns `(table, rows)` pairs.
pub fn generate_all(sf: f64, format: Format, out: &Path) -> Result<Vec<(String, u64)>> {
    if sf.is_nan() || sf <= 0.0 {
        return Err(SqlError::Plan(format!(
            "scale factor must be positive, got {sf}"
        )));
    }
    let ext = match format {
        Format::Parquet => "parquet",
        Format::Csv => "csv",
    };
    let mut jobs: Vec<(String, i32, i32, PathBuf)> = Vec::new();
    for t in TABLES {
        let dir = out.join(t);
        std::fs::create_dir_all(&dir).map_err(|e| SqlError::io(&dir, e))?;
        let n = pieces(t, sf);
        for p in 1..=n {
            jobs.push((
                t.to_string(),
                p,
                n,
                dir.join(format!("part-{:05}.{ext}", p - 1)),
            ));
        }
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((t, p, n, path)) = jobs.get(i) else {
                        break;
                    };
                    let (schema, batches) = generate(t, sf, *p, *n);
                    let r = write_piece(path, schema, batches, format);
                    results.lock().unwrap().push((t.clone(), r));
                }
            });
        }
    });
    let mut totals: Vec<(String, u64)> = TABLES.iter().map(|t| (t.to_string(), 0)).collect();
    for (t, r) in results.into_inner().unwrap() {
        let rows = r?;
        if let Some(e) = totals.iter_mut().find(|e| e.0 == t) {
            e.1 += rows;
        }
    }
    Ok(totals)
}

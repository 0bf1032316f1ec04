//! Spill files: Arrow IPC streams in the query's spill directory.
//!
//! - [`Buckets`]: rows partitioned by a hash of key columns into a fixed number of files,
//!   so that each bucket can be aggregated or joined on its own (grace hashing): equal keys
//!   always land in the same bucket, on both sides of a join.
//! - [`write_run`] / [`read`]: one sorted run of an external sort.
//!
//! Files are deleted with the query's spill directory when the query ends.

use super::{Ctx, OpMetrics, Stream};
use crate::error::{Result, SqlError};
use crate::expr::Expr;
use arrow::array::{ArrayRef, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use std::fs::File;
use std::hash::Hasher;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// How many buckets a spilling aggregation or join uses. A bucket holds about 1/64 of the
/// data, so an input up to ~30x the budget finishes each bucket within it.
pub const BUCKETS: usize = 64;

type Writer = StreamWriter<BufWriter<File>>;

fn create(path: &Path, schema: &SchemaRef) -> Result<Writer> {
    let f = File::create(path).map_err(|e| SqlError::io(path, e))?;
    StreamWriter::try_new(BufWriter::with_capacity(1 << 16, f), schema)
        .map_err(|e| SqlError::io_other(path, e))
}

/// Batches read back from a spill file.
pub fn read<'a>(path: PathBuf) -> Result<Stream<'a>> {
    let f = File::open(&path).map_err(|e| SqlError::io(&path, e))?;
    let r = StreamReader::try_new(BufReader::with_capacity(1 << 16, f), None)
        .map_err(|e| SqlError::io_other(&path, e))?;
    Ok(Box::new(
        r.map(move |b| b.map_err(|e| SqlError::io_other(&path, e))),
    ))
}

/// `batch` with string/binary *view* columns copied out of the buffers they share with
/// other batches: written as is, each slice would carry every shared buffer whole.
pub fn compact(batch: &RecordBatch) -> Result<RecordBatch> {
    use arrow::array::AsArray;
    if !batch
        .columns()
        .iter()
        .any(|c| matches!(c.data_type(), DataType::Utf8View | DataType::BinaryView))
    {
        return Ok(batch.clone());
    }
    let cols: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| -> ArrayRef {
            match c.data_type() {
                DataType::Utf8View => std::sync::Arc::new(c.as_string_view().gc()),
                DataType::BinaryView => std::sync::Arc::new(c.as_binary_view().gc()),
                _ => c.clone(),
            }
        })
        .collect();
    Ok(RecordBatch::try_new(batch.schema(), cols)?)
}

/// Writes `batch` (already sorted) to a new spill file in slices; returns its path.
pub fn write_run(ctx: &Ctx, m: &OpMetrics, batch: &RecordBatch) -> Result<PathBuf> {
    let path = ctx.spill_path()?;
    let mut w = create(&path, &batch.schema())?;
    let mut off = 0;
    while off < batch.num_rows() {
        let n = (batch.num_rows() - off).min(8192);
        w.write(&compact(&batch.slice(off, n))?)
            .map_err(|e| SqlError::io_other(&path, e))?;
        off += n;
    }
    w.finish().map_err(|e| SqlError::io_other(&path, e))?;
    m.add_spill(batch.get_array_memory_size() as u64);
    Ok(path)
}

/// A hash of each row's key columns, the same for equal keys whatever the integer width.
pub fn key_hashes(keys: &[ArrayRef]) -> Result<Vec<u64>> {
    let cols = keys
        .iter()
        .map(|k| {
            if k.data_type().is_integer() {
                Ok(arrow::compute::cast(k, &DataType::Int64)?)
            } else {
                Ok(k.clone())
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let conv = RowConverter::new(
        cols.iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = conv.convert_columns(&cols)?;
    Ok((0..rows.num_rows())
        .map(|i| {
            let mut h = rustc_hash::FxHasher::default();
            h.write(rows.row(i).as_ref());
            // Mixed again so that a bucket's keys still spread over a hash table's slots.
            splitmix(h.finish())
        })
        .collect())
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Batches held in memory, with the reservation that accounts for them (keep it as long as
/// the batches, or what is built from them, live).
pub struct Held {
    /// The batches.
    pub batches: Vec<RecordBatch>,
    /// Their share of the memory pool.
    pub reservation: strata_runtime::Reservation,
}

/// Rows partitioned by key hash into [`BUCKETS`] spill files (written by many threads).
pub struct Buckets<'a> {
    ctx: &'a Ctx,
    m: &'a OpMetrics,
    schema: SchemaRef,
    keys: Vec<Expr>,
    files: Vec<Mutex<Option<(PathBuf, Writer)>>>,
}

impl<'a> Buckets<'a> {
    /// Empty buckets for rows of `schema`, partitioned by `keys`.
    pub fn new(ctx: &'a Ctx, m: &'a OpMetrics, schema: SchemaRef, keys: Vec<Expr>) -> Self {
        Buckets {
            ctx,
            m,
            schema,
            keys,
            files: (0..BUCKETS).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Writes each row of `batch` to its key's bucket.
    pub fn add(&self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let keys = self
            .keys
            .iter()
            .map(|k| k.eval(batch)?.into_array(n))
            .collect::<Result<Vec<_>>>()?;
        let hashes = key_hashes(&keys)?;
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); BUCKETS];
        for (i, h) in hashes.iter().enumerate() {
            rows[(*h % BUCKETS as u64) as usize].push(i as u32);
        }
        for (b, idx) in rows.into_iter().enumerate() {
            if idx.is_empty() {
                continue;
            }
            let part = if idx.len() == n {
                compact(batch)?
            } else {
                let idx = UInt32Array::from(idx);
                let cols = batch
                    .columns()
                    .iter()
                    .map(|c| arrow::compute::take(c, &idx, None))
                    .collect::<Result<Vec<_>, _>>()?;
                compact(&RecordBatch::try_new(self.schema.clone(), cols)?)?
            };
            self.m.add_spill(part.get_array_memory_size() as u64);
            let mut slot = self.files[b].lock().unwrap();
            if slot.is_none() {
                let path = self.ctx.spill_path()?;
                let w = create(&path, &self.schema)?;
                *slot = Some((path, w));
            }
            let (path, w) = slot.as_mut().expect("opened above");
            w.write(&part).map_err(|e| SqlError::io_other(path, e))?;
        }
        Ok(())
    }

    /// Drains `parts` on the context's threads, holding batches in memory while the
    /// runtime's memory pool lets their reservation grow (always, when not `can_spill`);
    /// from then on every batch, held ones included, goes to the buckets. `prepare` sees
    /// each batch first. Returns the held batches with their reservation, or None when the
    /// rows went to the buckets (then [`Buckets::finish`] names the files).
    pub fn hold_or_spill(
        &self,
        parts: Vec<Stream<'_>>,
        can_spill: bool,
        prepare: impl Fn(RecordBatch) -> Result<RecordBatch> + Sync,
    ) -> Result<Option<Held>> {
        let spilling = AtomicBool::new(false);
        let res = Mutex::new(self.ctx.reserve("hash table build"));
        let bufs = self.ctx.par_map(parts, |s| {
            let mut buf = Vec::new();
            for b in s {
                let b = prepare(b?)?;
                if spilling.load(Relaxed) {
                    self.add(&b)?;
                    continue;
                }
                let size = b.get_array_memory_size() as u64;
                buf.push(b);
                if can_spill && res.lock().unwrap().try_grow(size).is_err() {
                    spilling.store(true, Relaxed);
                }
                if spilling.load(Relaxed) {
                    for b in buf.drain(..) {
                        self.add(&b)?;
                    }
                }
            }
            Ok(buf)
        })?;
        let mut res = res.into_inner().unwrap();
        if !spilling.load(Relaxed) {
            return Ok(Some(Held {
                batches: bufs.into_iter().flatten().collect(),
                reservation: res,
            }));
        }
        res.free();
        for b in bufs.iter().flatten() {
            self.add(b)?;
        }
        Ok(None)
    }

    /// Closes the files: per bucket, its file (None when no row went there).
    pub fn finish(self) -> Result<Vec<Option<PathBuf>>> {
        self.files
            .into_iter()
            .map(|f| match f.into_inner().unwrap() {
                None => Ok(None),
                Some((path, mut w)) => {
                    w.finish().map_err(|e| SqlError::io_other(&path, e))?;
                    Ok(Some(path))
                }
            })
            .collect()
    }
}

/// All batches of a bucket file (none if the bucket is empty).
pub fn load(path: &Option<PathBuf>) -> Result<Vec<RecordBatch>> {
    match path {
        None => Ok(Vec::new()),
        Some(p) => read(p.clone())?.collect(),
    }
}

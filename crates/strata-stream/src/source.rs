//! Sources: a set of named splits (partitions), each read from an offset that checkpoints
//! record, so a restored job replays exactly what came after its last checkpoint.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use strata_storage::StorageOptions;

use crate::error::{Result, StreamError};

/// What a poll of a split found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Records were appended to the output (possibly fewer than asked for).
    Ready,
    /// Nothing now; maybe later (an unbounded split).
    Idle,
    /// The split has ended.
    End,
}

/// A reader of one split.
pub trait SplitReader<T>: Send {
    /// Appends up to `max` records to `out`.
    fn poll(&mut self, max: usize, out: &mut Vec<T>) -> Result<Poll>;
    /// The position after the last record returned (what a checkpoint records).
    fn offset(&self) -> u64;
}

/// Parses one text line into `out` (`parse` may skip it); whether a record was added. A
/// parse error names the split and the line's byte offset.
pub(crate) fn push_parsed<T>(
    parse: &(dyn Fn(&str) -> Result<Option<T>> + Send + Sync),
    line: &str,
    out: &mut Vec<T>,
    split: &str,
    at: u64,
) -> Result<bool> {
    match parse(line) {
        Ok(Some(v)) => {
            out.push(v);
            Ok(true)
        }
        Ok(None) => Ok(false),
        Err(e) => Err(StreamError::Invalid(format!("{split} at byte {at}: {e}"))),
    }
}

/// A partitioned, replayable source.
pub trait Source<T>: Send + Sync + 'static {
    /// The split names (stable across runs).
    fn splits(&self) -> Result<Vec<String>>;
    /// Opens `split` at `offset` (0 = its start).
    fn open(&self, split: &str, offset: u64) -> Result<Box<dyn SplitReader<T>>>;
    /// Whether new splits may appear (re-listed periodically).
    fn discovers_splits(&self) -> bool {
        false
    }
}

/// In-memory partitions (tests and examples). A partition may be unbounded and silent, to
/// exercise idleness.
pub struct VecSource<T> {
    parts: Vec<Arc<Vec<T>>>,
    silent: usize,
    gate: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl<T: Clone + Send + Sync + 'static> VecSource<T> {
    /// One split per vector.
    pub fn new(parts: Vec<Vec<T>>) -> Self {
        VecSource {
            parts: parts.into_iter().map(Arc::new).collect(),
            silent: 0,
            gate: None,
        }
    }
    /// Adds `n` splits that yield nothing, and end once `gate` is set.
    pub fn with_silent_partitions(
        mut self,
        n: usize,
        gate: Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        self.silent = n;
        self.gate = Some(gate);
        self
    }
}

struct VecReader<T> {
    data: Option<Arc<Vec<T>>>,
    pos: usize,
    gate: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl<T: Clone + Send + Sync + 'static> SplitReader<T> for VecReader<T> {
    fn poll(&mut self, max: usize, out: &mut Vec<T>) -> Result<Poll> {
        let Some(d) = &self.data else {
            let open = self
                .gate
                .as_ref()
                .is_some_and(|g| g.load(std::sync::atomic::Ordering::SeqCst));
            return Ok(if open { Poll::End } else { Poll::Idle });
        };
        if self.pos >= d.len() {
            return Ok(Poll::End);
        }
        let end = (self.pos + max).min(d.len());
        out.extend_from_slice(&d[self.pos..end]);
        self.pos = end;
        Ok(Poll::Ready)
    }
    fn offset(&self) -> u64 {
        self.pos as u64
    }
}

impl<T: Clone + Send + Sync + 'static> Source<T> for VecSource<T> {
    fn splits(&self) -> Result<Vec<String>> {
        Ok((0..self.parts.len() + self.silent)
            .map(|i| format!("{i:04}"))
            .collect())
    }
    fn open(&self, split: &str, offset: u64) -> Result<Box<dyn SplitReader<T>>> {
        let i: usize = split
            .parse()
            .map_err(|_| StreamError::Invalid(format!("no split {split}")))?;
        Ok(Box::new(VecReader {
            data: self.parts.get(i).cloned(),
            pos: offset as usize,
            gate: self.gate.clone(),
        }))
    }
}

/// Lines of the files under a path or URL (local, `dfs://`, `s3://`), one split per
/// file, parsed by a function; the offset is a byte position. With `monitor`, the
/// directory is listed again periodically and new files are read as they appear.
pub struct LinesSource<T> {
    url: String,
    storage: StorageOptions,
    parse: Arc<dyn Fn(&str) -> Result<Option<T>> + Send + Sync>,
    monitor: bool,
}

impl<T> LinesSource<T> {
    /// Reads every file under `url`; `parse` returns `None` to skip a line.
    pub fn new(
        url: impl Into<String>,
        storage: StorageOptions,
        parse: impl Fn(&str) -> Result<Option<T>> + Send + Sync + 'static,
    ) -> Self {
        LinesSource {
            url: url.into(),
            storage,
            parse: Arc::new(parse),
            monitor: false,
        }
    }
    /// Keeps watching for new files (the source never ends).
    pub fn monitor(mut self) -> Self {
        self.monitor = true;
        self
    }
}

struct LinesReader<T> {
    reader: BufReader<Box<dyn Read + Send>>,
    pos: u64,
    parse: Arc<dyn Fn(&str) -> Result<Option<T>> + Send + Sync>,
    line: String,
    monitor: bool,
    name: String,
}

impl<T: Send + 'static> SplitReader<T> for LinesReader<T> {
    fn poll(&mut self, max: usize, out: &mut Vec<T>) -> Result<Poll> {
        let mut got = 0;
        while got < max {
            self.line.clear();
            let n = self
                .reader
                .read_line(&mut self.line)
                .map_err(|e| StreamError::Invalid(format!("{}: {e}", self.name)))?;
            if n == 0 {
                break;
            }
            self.pos += n as u64;
            let l = self.line.trim_end_matches(['\n', '\r']);
            if l.is_empty() {
                continue;
            }
            if push_parsed(&*self.parse, l, out, &self.name, self.pos - n as u64)? {
                got += 1;
            }
        }
        Ok(match (got, self.monitor) {
            (0, false) => Poll::End,
            (0, true) => Poll::Idle,
            _ => Poll::Ready,
        })
    }
    fn offset(&self) -> u64 {
        self.pos
    }
}

impl<T: Send + 'static> Source<T> for LinesSource<T> {
    fn splits(&self) -> Result<Vec<String>> {
        let (store, path) = strata_storage::resolve(&self.url, &self.storage)?;
        let listing = store.list(&path)?;
        if listing.files.is_empty() && !self.monitor {
            return Err(StreamError::Invalid(format!(
                "{}: no input files (hidden names starting with _ or . are skipped)",
                self.url
            )));
        }
        Ok(listing.files.into_iter().map(|f| f.url).collect())
    }
    fn open(&self, split: &str, offset: u64) -> Result<Box<dyn SplitReader<T>>> {
        let (store, path) = strata_storage::resolve(split, &self.storage)?;
        let mut r = store.open(&path)?;
        std::io::copy(&mut (&mut r).take(offset), &mut std::io::sink())
            .map_err(|e| StreamError::Invalid(format!("{split}: {e}")))?;
        Ok(Box::new(LinesReader {
            reader: BufReader::with_capacity(1 << 16, r),
            pos: offset,
            parse: self.parse.clone(),
            line: String::new(),
            monitor: self.monitor,
            name: split.to_string(),
        }))
    }
    fn discovers_splits(&self) -> bool {
        self.monitor
    }
}

/// Records appended to DFS files (`strata dfs append`, `DfsClient::append_record`) read as a
/// replayable log: one split per file under the URL, the offset a byte position, new records
/// picked up as they are appended (the source never ends unless `bounded`). DFS record
/// append is at least once, so a record retried by its writer can appear twice.
pub struct DfsLogSource<T> {
    url: String,
    storage: StorageOptions,
    parse: Arc<dyn Fn(&[u8]) -> Result<Option<T>> + Send + Sync>,
    bounded: bool,
}

impl<T> DfsLogSource<T> {
    /// Follows the record files under `url` (a `dfs://` URL; local record files work too).
    pub fn new(
        url: impl Into<String>,
        storage: StorageOptions,
        parse: impl Fn(&[u8]) -> Result<Option<T>> + Send + Sync + 'static,
    ) -> Self {
        DfsLogSource {
            url: url.into(),
            storage,
            parse: Arc::new(parse),
            bounded: false,
        }
    }
    /// Stops at each file's length when the job starts.
    pub fn bounded(mut self) -> Self {
        self.bounded = true;
        self
    }
}

struct LogReader<T> {
    store: Arc<dyn strata_storage::Store>,
    path: String,
    pos: u64,
    end: Option<u64>,
    parse: Arc<dyn Fn(&[u8]) -> Result<Option<T>> + Send + Sync>,
}

impl<T: Send + 'static> SplitReader<T> for LogReader<T> {
    fn poll(&mut self, max: usize, out: &mut Vec<T>) -> Result<Poll> {
        let size = match self.end {
            Some(e) => e,
            None => self.store.size(&self.path)?,
        };
        if self.pos >= size {
            return Ok(if self.end.is_some() {
                Poll::End
            } else {
                Poll::Idle
            });
        }
        // A window of 4 MiB, grown until it holds a whole record (or reaches the end).
        let mut window = 4u64 << 20;
        let (bytes, records, used) = loop {
            let to = size.min(self.pos + window);
            let bytes = self.store.read_range(&self.path, self.pos..to)?;
            let (records, used) = strata_dfs::client::parse_records_prefix(&bytes, to == size);
            if used > 0 || to == size {
                break (bytes, records, used);
            }
            window *= 2;
        };
        drop(bytes);
        let mut consumed = used;
        for (i, (end, r)) in records.into_iter().enumerate() {
            if i == max {
                // The offset moves past exactly the records returned.
                break;
            }
            consumed = if i + 1 == max { end } else { consumed };
            if let Some(v) = (self.parse)(&r)? {
                out.push(v);
            }
        }
        self.pos += consumed as u64;
        Ok(Poll::Ready)
    }
    fn offset(&self) -> u64 {
        self.pos
    }
}

impl<T: Send + 'static> Source<T> for DfsLogSource<T> {
    fn splits(&self) -> Result<Vec<String>> {
        let (store, path) = strata_storage::resolve(&self.url, &self.storage)?;
        Ok(store
            .list(&path)?
            .files
            .into_iter()
            .map(|f| f.url)
            .collect())
    }
    fn open(&self, split: &str, offset: u64) -> Result<Box<dyn SplitReader<T>>> {
        let (store, path) = strata_storage::resolve(split, &self.storage)?;
        let end = if self.bounded {
            Some(store.size(&path)?)
        } else {
            None
        };
        Ok(Box::new(LogReader {
            store,
            path,
            pos: offset,
            end,
            parse: self.parse.clone(),
        }))
    }
    fn discovers_splits(&self) -> bool {
        !self.bounded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_dfs::client::frame_record;

    #[test]
    fn a_record_log_is_read_in_batches_from_any_offset_skipping_padding_and_debris() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut bytes = Vec::new();
        for i in 0..50u32 {
            bytes.extend(frame_record(format!("r{i}").as_bytes()));
            if i % 7 == 0 {
                bytes.extend([0u8; 9]); // padding
                bytes.extend(&frame_record(b"torn")[..10]); // debris of a failed attempt
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let src = DfsLogSource::new(
            dir.path().to_string_lossy(),
            StorageOptions::default(),
            |b: &[u8]| Ok(Some(String::from_utf8_lossy(b).into_owned())),
        )
        .bounded();
        let split = src.splits().unwrap().remove(0);
        let mut r = src.open(&split, 0).unwrap();
        let (mut got, mut offsets) = (Vec::new(), Vec::new());
        while r.poll(6, &mut got).unwrap() != Poll::End {
            offsets.push((got.len(), r.offset()));
        }
        let want: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
        assert_eq!(got, want);
        // Resuming at any recorded offset yields exactly the rest.
        for (n, off) in offsets {
            let mut rest = Vec::new();
            let mut r = src.open(&split, off).unwrap();
            while r.poll(1000, &mut rest).unwrap() != Poll::End {}
            assert_eq!(rest, want[n..], "from offset {off}");
        }
    }
}

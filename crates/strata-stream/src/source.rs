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
            match (self.parse)(l) {
                Ok(Some(v)) => {
                    out.push(v);
                    got += 1;
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(StreamError::Invalid(format!(
                        "{} at byte {}: {e}",
                        self.name,
                        self.pos - n as u64
                    )));
                }
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

//! Lines of text files, one partition per byte range (Hadoop's `TextInputFormat`).
//!
//! A line belongs to the split in which it starts. A split that does not begin at byte 0
//! first skips to just past the first newline at or after `start - 1`; it then reads lines
//! while they start before `end`, so the last line may run past `end`. The `\n` (and a `\r`
//! before it) is removed.
//!
//! Lines are decoded as UTF-8. Bytes that are not valid UTF-8 are decoded as Latin-1 (one
//! character each, so `caf\xe9` reads as `café`: nothing is lost or split), the line is counted
//! ([`invalid_utf8_lines`]) and reported once per file in the log; the CLI prints the count
//! after the job. Compressed inputs (`.gz`, `.zst`) are decompressed on the fly and read
//! whole by one task; DFS record files (written by record append) are unframed, each
//! record's text read as lines, so the framing never reaches a job as data.

use super::{BoxIter, Dependency, Rdd, RddBase, RddId};
use crate::error::Error;
use crate::io::{Chunk, InputFile};
use crate::task::TaskContext;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::sync::Arc;

pub(crate) struct TextFile {
    pub id: RddId,
    pub files: Vec<InputFile>,
    pub splits: Vec<Vec<Chunk>>,
}

static INVALID_UTF8: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Lines read by this process that were not valid UTF-8 (and were decoded as Latin-1).
pub fn invalid_utf8_lines() -> u64 {
    INVALID_UTF8.load(std::sync::atomic::Ordering::Relaxed)
}

/// UTF-8, or Latin-1 for bytes that are not UTF-8.
fn decode(bytes: &[u8], warned: &mut bool, path: &std::path::Path, offset: u64) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            INVALID_UTF8.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if !*warned {
                *warned = true;
                tracing::warn!(file = %path.display(), offset, "line is not valid UTF-8; reading it as Latin-1 (further lines of this split are not reported)");
            }
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                out.extend(chunk.invalid().iter().map(|&b| b as char));
            }
            out
        }
    }
}

/// Opens the stream of text of `file` from `start`, for its encoding. Returns the reader
/// and where its positions start; `end` is adjusted for streams that are read whole.
fn open_text(
    file: &InputFile,
    start: u64,
    end: &mut u64,
) -> std::io::Result<(Box<dyn BufRead + Send>, u64)> {
    use crate::io::Encoding;
    use std::io::Read;
    let mut f = crate::io::open_input(file)?;
    let big = 256 << 10;
    match file.encoding {
        Encoding::Plain if start > 0 => {
            // Start just past the first newline at or after start - 1.
            f.seek(SeekFrom::Start(start - 1))?;
            let mut b = BufReader::with_capacity(big, f);
            let mut skip = Vec::new();
            let pos = start - 1 + b.read_until(b'\n', &mut skip)? as u64;
            Ok((Box::new(b), pos))
        }
        Encoding::Plain => Ok((Box::new(BufReader::with_capacity(big, f)), 0)),
        Encoding::Gzip => {
            *end = u64::MAX;
            let d = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(big, f));
            Ok((Box::new(BufReader::with_capacity(big, d)), 0))
        }
        Encoding::Zstd => {
            *end = u64::MAX;
            let d = ruzstd::decoding::StreamingDecoder::new(BufReader::with_capacity(big, f))
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            Ok((Box::new(BufReader::with_capacity(big, d)), 0))
        }
        Encoding::Records => {
            f.seek(SeekFrom::Start(start))?;
            let mut raw = Vec::new();
            f.take(*end - start).read_to_end(&mut raw)?;
            let mut text = Vec::with_capacity(raw.len());
            for r in strata_dfs::client::parse_records(&raw) {
                text.extend_from_slice(&r);
                if text.last() != Some(&b'\n') {
                    text.push(b'\n');
                }
            }
            *end = u64::MAX;
            Ok((Box::new(std::io::Cursor::new(text)), start))
        }
    }
}

/// A line with the byte offset where it starts in its file.
pub(crate) struct LineReader<'a> {
    tc: &'a TaskContext,
    path: &'a std::path::Path,
    reader: Option<Box<dyn BufRead + Send>>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    warned: bool,
}

impl<'a> LineReader<'a> {
    pub fn open(tc: &'a TaskContext, file: &'a InputFile, start: u64, end: u64) -> Self {
        let mut lr = LineReader {
            tc,
            path: &file.path,
            reader: None,
            pos: start,
            end,
            buf: Vec::new(),
            warned: false,
        };
        let mut end = end;
        match open_text(file, start, &mut end) {
            Ok((r, pos)) => {
                lr.end = end;
                lr.pos = pos;
                lr.reader = Some(r);
            }
            Err(e) => tc.fail(Error::io(&file.path, e)),
        }
        lr
    }

    /// The next line and its starting offset.
    pub fn next_line(&mut self) -> Option<(u64, String)> {
        let r = self.reader.as_mut()?;
        if self.pos >= self.end {
            return None;
        }
        self.buf.clear();
        match r.read_until(b'\n', &mut self.buf) {
            Ok(0) => None,
            Ok(n) => {
                let offset = self.pos;
                self.pos += n as u64;
                let mut bytes = &self.buf[..];
                if bytes.last() == Some(&b'\n') {
                    bytes = &bytes[..bytes.len() - 1];
                    if bytes.last() == Some(&b'\r') {
                        bytes = &bytes[..bytes.len() - 1];
                    }
                }
                let line = decode(bytes, &mut self.warned, self.path, offset);
                Some((offset, line))
            }
            Err(e) => {
                self.tc.fail(Error::io(self.path, e));
                self.reader = None;
                None
            }
        }
    }
}

impl TextFile {
    /// The lines of split `p` with their offsets, chunk after chunk.
    fn lines<'a>(
        &'a self,
        p: usize,
        tc: &'a TaskContext,
    ) -> impl Iterator<Item = (usize, u64, String)> + 'a {
        self.splits[p].iter().flat_map(move |&(f, start, end)| {
            let mut lr = LineReader::open(tc, &self.files[f], start, end);
            std::iter::from_fn(move || lr.next_line().map(|(o, l)| (f, o, l)))
        })
    }
}

impl TextFile {
    /// Chunkservers holding the first chunk of split `p` (DFS inputs only).
    pub fn hosts(&self, p: usize) -> Vec<String> {
        let Some(&(f, start, _)) = self.splits[p].first() else {
            return Vec::new();
        };
        let Some(d) = &self.files[f].dfs else {
            return Vec::new();
        };
        d.chunks
            .iter()
            .find(|c| c.0 == start)
            .map(|c| c.2.clone())
            .unwrap_or_default()
    }
}

/// The lineage-node part shared by the three views of text splits.
macro_rules! text_rdd_base {
    ($t:ty $(, $field:tt)?) => {
        impl RddBase for $t {
            fn id(&self) -> RddId {
                self$(.$field)?.id
            }
            fn name(&self) -> String {
                "text_file".into()
            }
            fn num_partitions(&self) -> usize {
                self$(.$field)?.splits.len()
            }
            fn dependencies(&self) -> Vec<Dependency> {
                Vec::new()
            }
            fn preferred_locations(&self, p: usize) -> Vec<String> {
                self$(.$field)?.hosts(p)
            }
        }
    };
}

text_rdd_base!(TextFile);
text_rdd_base!(TextFileWithOffsets, 0);
text_rdd_base!(TextFileLines, 0);

impl Rdd<String> for TextFile {
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, String> {
        Box::new(self.lines(p, tc).map(|(_, _, l)| l))
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

/// The same splits, yielding `(byte offset, line)` like Hadoop's `TextInputFormat`.
pub(crate) struct TextFileWithOffsets(pub TextFile);

impl Rdd<(u64, String)> for TextFileWithOffsets {
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, (u64, String)> {
        Box::new(self.0.lines(p, tc).map(|(_, o, l)| (o, l)))
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

/// A line of text with where it came from.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Line {
    /// The file.
    pub path: Arc<str>,
    /// Byte offset of the line's first byte in the file.
    pub offset: u64,
    /// The line, without its terminator.
    pub text: String,
}

impl Line {
    /// The 1-based line number (reads the file up to the line; meant for error messages).
    pub fn line_number(&self) -> u64 {
        use std::io::Read;
        let Ok(f) = File::open(&*self.path) else {
            return 0;
        };
        let mut r = BufReader::new(f).take(self.offset);
        let mut buf = vec![0u8; 64 << 10];
        let mut newlines = 0;
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            newlines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        newlines + 1
    }
}

pub(crate) struct TextFileLines(pub TextFile);

impl Rdd<Line> for TextFileLines {
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, Line> {
        let mut current: Option<(usize, Arc<str>)> = None;
        Box::new(self.0.lines(p, tc).map(move |(f, offset, text)| {
            let path = match &current {
                Some((g, path)) if *g == f => path.clone(),
                _ => {
                    let path: Arc<str> = Arc::from(self.0.files[f].path.to_string_lossy().as_ref());
                    current = Some((f, path.clone()));
                    path
                }
            };
            Line { path, offset, text }
        }))
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

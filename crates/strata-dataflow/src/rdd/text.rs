//! Lines of text files, one partition per byte range (Hadoop's `TextInputFormat`).
//!
//! A line belongs to the split in which it starts. A split that does not begin at byte 0
//! first skips to just past the first newline at or after `start - 1`; it then reads lines
//! while they start before `end`, so the last line may run past `end`. Lines are decoded as
//! UTF-8 with invalid bytes replaced by U+FFFD; the `\n` (and a `\r` before it) is removed.

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

/// A line with the byte offset where it starts in its file.
pub(crate) struct LineReader<'a> {
    tc: &'a TaskContext,
    path: &'a std::path::Path,
    reader: Option<BufReader<Box<dyn crate::io::InputStream>>>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
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
        };
        match crate::io::open_input(file) {
            Ok(f) => {
                let mut r = BufReader::with_capacity(256 << 10, f);
                if start > 0 {
                    if let Err(e) = r.seek(SeekFrom::Start(start - 1)) {
                        tc.fail(Error::io(&file.path, e));
                        return lr;
                    }
                    lr.pos = start - 1;
                    let mut skip = Vec::new();
                    match r.read_until(b'\n', &mut skip) {
                        Ok(n) => lr.pos += n as u64,
                        Err(e) => {
                            tc.fail(Error::io(&file.path, e));
                            return lr;
                        }
                    }
                }
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
                let line = match std::str::from_utf8(bytes) {
                    Ok(s) => s.to_owned(),
                    Err(_) => String::from_utf8_lossy(bytes).into_owned(),
                };
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

//! Sinks. The file sink is two-phase: rows since the last checkpoint are staged under the
//! output's hidden `_pending/` directory when a barrier passes (pre-commit) and become
//! visible only when the coordinator completes that checkpoint (commit), so a job that
//! fails and restores never shows a row twice or loses one.

use std::sync::Arc;

use std::sync::Mutex;
use strata_storage::Store;

use crate::context::TaskInfo;
use crate::error::Result;
use crate::operator::{Control, Data, Operator, PendingFile, Record, Snapshot};
use crate::time::Ts;

/// Appends `s` as a CSV field (quoted when it holds a comma, quote or line break).
pub(crate) fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Rows written as text files (CSV with a header, or JSON lines): `row` renders one
/// record without its newline.
pub struct FileSink<T> {
    pub(crate) url: String,
    pub(crate) header: Option<String>,
    pub(crate) row: Arc<dyn Fn(&T, &mut String) + Send + Sync>,
    pub(crate) ext: &'static str,
    /// `nats://host:port/SUBJECT`: committed rows are published there (the files under
    /// `url` are only staging).
    pub(crate) publish: Option<String>,
}

impl<T> Clone for FileSink<T> {
    fn clone(&self) -> Self {
        FileSink {
            url: self.url.clone(),
            header: self.header.clone(),
            row: self.row.clone(),
            ext: self.ext,
            publish: self.publish.clone(),
        }
    }
}

impl<T> FileSink<T> {
    /// CSV part files with `header` as their first line.
    pub fn csv(
        url: impl Into<String>,
        header: &str,
        row: impl Fn(&T, &mut String) + Send + Sync + 'static,
    ) -> Self {
        FileSink {
            url: url.into(),
            header: Some(header.to_string()),
            row: Arc::new(row),
            ext: "csv",
            publish: None,
        }
    }
    /// JSON-lines part files.
    pub fn json_lines(
        url: impl Into<String>,
        row: impl Fn(&T, &mut String) + Send + Sync + 'static,
    ) -> Self {
        FileSink {
            url: url.into(),
            header: None,
            row: Arc::new(row),
            ext: "jsonl",
            publish: None,
        }
    }

    /// Rows published as messages to `nats://host:port/SUBJECT` (a JetStream stream must
    /// capture the subject), exactly once: staged under `staging` (a directory or URL)
    /// until their checkpoint completes, then published with deduplicating message ids.
    pub fn jetstream(
        subject_url: &str,
        staging: impl Into<String>,
        row: impl Fn(&T, &mut String) + Send + Sync + 'static,
    ) -> crate::error::Result<Self> {
        crate::jetstream::parse_url(subject_url)?;
        Ok(FileSink {
            url: staging.into(),
            header: None,
            row: Arc::new(row),
            ext: "jsonl",
            publish: Some(subject_url.to_string()),
        })
    }
}

pub(crate) struct FileSinkOp<T> {
    sink: FileSink<T>,
    store: Arc<dyn Store>,
    root: String,
    index: usize,
    buf: String,
    rows: u64,
}

impl<T: Data> FileSinkOp<T> {
    pub(crate) fn new(info: &TaskInfo, sink: FileSink<T>) -> Result<Self> {
        let (store, root) = strata_storage::resolve(&sink.url, &info.storage)?;
        let root = root.trim_end_matches('/').to_string();
        if info.index == 0 {
            // Staged files of checkpoints that never completed (the latest complete one
            // was committed before the job's tasks were built).
            store.delete(&format!("{root}/_pending"))?;
        }
        Ok(FileSinkOp {
            sink,
            store,
            root,
            index: info.index,
            buf: String::new(),
            rows: 0,
        })
    }
}

impl<T: Data> Control for FileSinkOp<T> {
    fn watermark(&mut self, _: Ts) -> Result<()> {
        Ok(())
    }
    fn idle(&mut self) -> Result<()> {
        Ok(())
    }
    fn tick(&mut self, _: Ts) -> Result<()> {
        Ok(())
    }
    fn snapshot(&mut self, cp: u64, snap: &mut Snapshot) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let name = format!("part-{:04}-{cp:06}.{}", self.index, self.sink.ext);
        let staged = format!("{}/_pending/{name}", self.root);
        let mut data = String::with_capacity(self.buf.len() + 64);
        if let Some(h) = &self.sink.header {
            data.push_str(h);
            data.push('\n');
        }
        data.push_str(&self.buf);
        self.store.put(&staged, data.as_bytes())?;
        let target = match &self.sink.publish {
            Some(subject) => format!("{subject}#{name}"),
            None => self.store.url(&format!("{}/{name}", self.root)),
        };
        snap.pending.push(PendingFile {
            staged: self.store.url(&staged),
            target,
        });
        self.buf.clear();
        self.rows = 0;
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

impl<T: Data> Operator<T> for FileSinkOp<T> {
    fn process(&mut self, rec: Record<T>) -> Result<()> {
        (self.sink.row)(&rec.value, &mut self.buf);
        self.buf.push('\n');
        self.rows += 1;
        Ok(())
    }
}

/// Collects records in memory (tests, examples). At least once: records of a failed
/// attempt stay.
pub type Collected<T> = Arc<Mutex<Vec<Record<T>>>>;

pub(crate) struct CollectOp<T> {
    pub(crate) out: Collected<T>,
    pub(crate) buf: Vec<Record<T>>,
}

impl<T: Data> CollectOp<T> {
    fn flush(&mut self) {
        let mut g = self.out.lock().unwrap_or_else(|e| e.into_inner());
        g.append(&mut self.buf);
    }
}

impl<T: Data> Control for CollectOp<T> {
    fn watermark(&mut self, _: Ts) -> Result<()> {
        self.flush();
        Ok(())
    }
    fn idle(&mut self) -> Result<()> {
        Ok(())
    }
    fn tick(&mut self, _: Ts) -> Result<()> {
        self.flush();
        Ok(())
    }
    fn snapshot(&mut self, _: u64, _: &mut Snapshot) -> Result<()> {
        self.flush();
        Ok(())
    }
    fn finish(&mut self) -> Result<()> {
        self.flush();
        Ok(())
    }
}

impl<T: Data> Operator<T> for CollectOp<T> {
    fn process(&mut self, rec: Record<T>) -> Result<()> {
        self.buf.push(rec);
        Ok(())
    }
}

/// Writes `fmt(record)` lines to stdout.
pub(crate) struct PrintOp<T> {
    pub(crate) fmt: Arc<dyn Fn(&T) -> String + Send + Sync>,
}

impl<T: Data> Control for PrintOp<T> {
    crate::operator::end_of_chain_control!();
}

impl<T: Data> Operator<T> for PrintOp<T> {
    fn process(&mut self, rec: Record<T>) -> Result<()> {
        println!("{}", (self.fmt)(&rec.value));
        Ok(())
    }
}

//! Fixed-length binary records (e.g. 100-byte TeraSort records), split at record boundaries.

use super::{BoxIter, Dependency, Rdd, RddBase, RddId};
use crate::error::Error;
use crate::io::InputFile;
use crate::task::TaskContext;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;

pub(crate) struct FixedRecords {
    pub id: RddId,
    pub record_len: usize,
    pub files: Vec<InputFile>,
    pub splits: Vec<Vec<crate::io::Chunk>>,
}

impl RddBase for FixedRecords {
    fn id(&self) -> RddId {
        self.id
    }
    fn name(&self) -> String {
        "binary_records".into()
    }
    fn num_partitions(&self) -> usize {
        self.splits.len()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
}

impl Rdd<Vec<u8>> for FixedRecords {
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, Vec<u8>> {
        Box::new(
            self.splits[p]
                .iter()
                .flat_map(move |&(fi, start, end)| self.chunk(fi, start, end, tc)),
        )
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

impl FixedRecords {
    fn chunk<'a>(
        &'a self,
        fi: usize,
        start: u64,
        end: u64,
        tc: &'a TaskContext,
    ) -> BoxIter<'a, Vec<u8>> {
        let path = &self.files[fi].path;
        let mut reader = match crate::io::open_input(&self.files[fi]).and_then(|mut f| {
            f.seek(SeekFrom::Start(start))?;
            Ok(BufReader::with_capacity(1 << 20, f))
        }) {
            Ok(r) => r,
            Err(e) => {
                tc.fail(Error::io(path, e));
                return Box::new(std::iter::empty());
            }
        };
        let len = self.record_len;
        let mut remaining = (end - start) / len as u64;
        Box::new(std::iter::from_fn(move || {
            if remaining == 0 {
                return None;
            }
            remaining -= 1;
            let mut rec = vec![0u8; len];
            match reader.read_exact(&mut rec) {
                Ok(()) => Some(rec),
                Err(e) => {
                    tc.fail(Error::io(path, e));
                    remaining = 0;
                    None
                }
            }
        }))
    }
}

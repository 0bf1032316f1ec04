//! A persisted dataset: partitions come from the block manager, or are computed and stored.

use super::{BoxIter, Dependency, Rdd, RddBase, RddId};
use crate::cache::{Block, BlockManager, StorageLevel};
use crate::data::Data;
use crate::error::Error;
use crate::memory::SizeEstimator;
use crate::shuffle::ShuffleManager;
use crate::shuffle::codec::{RecordReader, file_writer, write_record};
use crate::task::TaskContext;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub(crate) struct Cached<T> {
    pub id: RddId,
    pub parent: Arc<dyn Rdd<T>>,
    pub level: StorageLevel,
    pub blocks: Arc<BlockManager>,
    pub scratch: Arc<ShuffleManager>,
    pub metrics: Arc<crate::metrics::EngineMetrics>,
}

impl<T> Drop for Cached<T> {
    fn drop(&mut self) {
        self.blocks.remove_rdd(self.id);
    }
}

impl<T: Data> Cached<T> {
    fn read_block(&self, block: &Block) -> Option<Arc<Vec<T>>> {
        match block {
            Block::Memory { data, .. } => data.clone().downcast::<Vec<T>>().ok(),
            Block::Disk { file, count, bytes } => {
                let f = std::fs::File::open(&file.path).ok()?;
                let mut r: RecordReader<_, T> = RecordReader::new(f, *count, *bytes);
                let mut v = Vec::with_capacity(*count as usize);
                while let Some(rec) = r.next_record() {
                    v.push(rec.ok()?);
                }
                Some(Arc::new(v))
            }
        }
    }

    fn store(&self, p: usize, data: &Arc<Vec<T>>, est: &SizeEstimator) -> Result<(), Error> {
        let bytes = est.bytes();
        if self.level != StorageLevel::DiskOnly && self.blocks.memory().try_reserve_storage(bytes) {
            let any: Arc<dyn std::any::Any + Send + Sync> = data.clone();
            self.blocks
                .put(self.id, p, Block::Memory { data: any, bytes });
            return Ok(());
        }
        if self.level == StorageLevel::MemoryOnly {
            return Ok(());
        }
        let file = self.scratch.scratch_file("cache");
        let f = std::fs::File::create(&file.path).map_err(|e| Error::io(&file.path, e))?;
        let mut w = file_writer(f);
        for rec in data.iter() {
            write_record(&mut w, rec).map_err(|e| Error::io(&file.path, e))?;
        }
        w.flush().map_err(|e| Error::io(&file.path, e))?;
        let count = data.len() as u64;
        let bytes = w.pos;
        self.blocks
            .put(self.id, p, Block::Disk { file, count, bytes });
        Ok(())
    }
}

impl<T: Data> RddBase for Cached<T> {
    fn id(&self) -> RddId {
        self.id
    }
    fn name(&self) -> String {
        format!("persist({:?})", self.level)
    }
    fn num_partitions(&self) -> usize {
        self.parent.num_partitions()
    }
    fn dependencies(&self) -> Vec<Dependency> {
        vec![Dependency::Narrow(self.parent.clone().as_base())]
    }
    fn fully_cached(&self) -> bool {
        self.blocks.cached_partitions(self.id) == self.parent.num_partitions()
    }
    fn is_cache(&self) -> bool {
        true
    }
}

fn iter_shared<'a, T: Data>(data: Arc<Vec<T>>) -> BoxIter<'a, T> {
    let len = data.len();
    Box::new((0..len).map(move |i| data[i].clone()))
}

impl<T: Data> Rdd<T> for Cached<T> {
    fn compute<'a>(&'a self, p: usize, tc: &'a TaskContext) -> BoxIter<'a, T> {
        if let Some(block) = self.blocks.get(self.id, p) {
            if let Some(data) = self.read_block(&block) {
                self.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
                return iter_shared(data);
            }
            // The block is unreadable: forget it and recompute from lineage.
            self.blocks.remove(self.id, p);
        }
        self.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
        let mut est = SizeEstimator::new(std::mem::size_of::<T>());
        let data: Vec<T> = self.parent.compute(p, tc).inspect(|x| est.add(x)).collect();
        let data = Arc::new(data);
        if !tc.failed() {
            match self.store(p, &data, &est) {
                Ok(()) => tc.cached.borrow_mut().push((self.id, p)),
                Err(e) => tc.fail(e),
            }
        }
        iter_shared(data)
    }
    fn as_base(self: Arc<Self>) -> Arc<dyn RddBase> {
        self
    }
}

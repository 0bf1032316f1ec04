//! The map side of a shuffle: bucket, spill under the memory budget, write one data file.

use super::codec::{CountingWriter, file_writer, write_record};
use super::{MapStatus, Partitioner, ScratchFile, Segment};
use crate::data::{Data, Key};
use crate::error::{Error, Result};
use crate::memory::SizeEstimator;
use crate::metrics::TaskMetrics;
use crate::task::TaskContext;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

struct Spill {
    file: ScratchFile,
    segments: Vec<Segment>,
}

fn write_buckets<K: Key, V: Data>(
    out: &mut CountingWriter<BufWriter<File>>,
    buckets: &mut [Vec<(K, V)>],
    path: &std::path::Path,
) -> Result<Vec<Segment>> {
    let mut segments = Vec::with_capacity(buckets.len());
    for b in buckets.iter_mut() {
        let offset = out.pos;
        for rec in b.iter() {
            write_record(out, rec).map_err(|e| Error::io(path, e))?;
        }
        segments.push(Segment {
            offset,
            len: out.pos - offset,
            count: b.len() as u64,
        });
        b.clear();
    }
    Ok(segments)
}

pub(super) fn write_map_output<K: Key, V: Data>(
    tc: &TaskContext,
    input: Box<dyn Iterator<Item = (K, V)> + '_>,
    partitioner: &dyn Partitioner<K>,
    path: PathBuf,
) -> Result<MapStatus> {
    let parts = partitioner.num_partitions();
    let mut res = tc.reserve("shuffle write");
    let mut buckets: Vec<Vec<(K, V)>> = (0..parts).map(|_| Vec::new()).collect();
    let mut est = SizeEstimator::new(std::mem::size_of::<(K, V)>());
    let mut spills: Vec<Spill> = Vec::new();
    for rec in input {
        est.add(&rec);
        let r = partitioner.partition(&rec.0);
        buckets[r].push(rec);
        if est.count().is_multiple_of(1024) && res.try_resize(est.bytes()).is_err() {
            let file = tc.shuffle.scratch_file("spill");
            let f = File::create(&file.path).map_err(|e| Error::io(&file.path, e))?;
            let mut w = file_writer(f);
            let segments = write_buckets(&mut w, &mut buckets, &file.path)?;
            w.flush().map_err(|e| Error::io(&file.path, e))?;
            TaskMetrics::add(&tc.metrics.spilled_bytes, w.pos);
            TaskMetrics::add(&tc.metrics.spills, 1);
            spills.push(Spill { file, segments });
            est.reset();
            res.free();
        }
    }
    if let Some(e) = tc.take_error() {
        return Err(e);
    }
    let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut out = file_writer(f);
    let mut readers = spills
        .iter()
        .map(|s| File::open(&s.file.path).map_err(|e| Error::io(&s.file.path, e)))
        .collect::<Result<Vec<_>>>()?;
    let mut segments = Vec::with_capacity(parts);
    for (r, bucket) in buckets.iter_mut().enumerate() {
        let offset = out.pos;
        let mut count = 0;
        for (spill, reader) in spills.iter().zip(readers.iter_mut()) {
            let seg = spill.segments[r];
            reader
                .seek(SeekFrom::Start(seg.offset))
                .and_then(|_| std::io::copy(&mut Read::by_ref(reader).take(seg.len), &mut out))
                .map_err(|e| Error::io(&spill.file.path, e))?;
            count += seg.count;
        }
        for rec in bucket.iter() {
            write_record(&mut out, rec).map_err(|e| Error::io(&path, e))?;
        }
        count += bucket.len() as u64;
        bucket.clear();
        segments.push(Segment {
            offset,
            len: out.pos - offset,
            count,
        });
    }
    out.flush().map_err(|e| Error::io(&path, e))?;
    TaskMetrics::add(&tc.metrics.shuffle_bytes_written, out.pos);
    Ok(MapStatus {
        path,
        segments: segments.into(),
        location: None,
    })
}

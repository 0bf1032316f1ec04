//! Rows on the wire between stages: batches dealt into hash buckets by key, and encoded as
//! Arrow IPC streams, one record `(bucket, bytes)` per bucket per task, which the dataflow
//! shuffle moves (bucket `i` to reduce partition `i`: a `DirectPartitioner`) and recomputes
//! when an executor holding them dies.

use super::shape::Mode;
use crate::error::{Result, SqlError};
use crate::expr::Expr;
use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;
use serde_bytes::ByteBuf;

/// A shuffle record: a bucket and the IPC stream of that bucket's rows from one task (as
/// `ByteBuf`, which bincode copies whole, not byte by byte as a `Vec<u8>`).
pub type Record = (u32, ByteBuf);

/// A task's output as records: one per bucket for a hash exchange into `buckets` buckets,
/// else one (bucket 0) holding everything. No rows, no records.
pub fn encode(batches: Vec<RecordBatch>, mode: &Mode, buckets: usize) -> Result<Vec<Record>> {
    let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let schema = first.schema();
    let keys = match mode {
        Mode::Collect => return Ok(vec![(0, ByteBuf::from(ipc(&batches, &schema)?))]),
        Mode::Hash(keys) => keys,
    };
    let mut per: Vec<Vec<RecordBatch>> = vec![Vec::new(); buckets];
    for b in &batches {
        for (i, part) in split(b, keys, buckets)?.into_iter().enumerate() {
            if let Some(part) = part {
                per[i].push(part);
            }
        }
    }
    per.into_iter()
        .enumerate()
        .filter(|(_, bs)| !bs.is_empty())
        .map(|(i, bs)| Ok((i as u32, ByteBuf::from(ipc(&bs, &schema)?))))
        .collect()
}

/// The batches in `blobs` (IPC streams), in order.
pub fn decode(blobs: &[ByteBuf]) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for b in blobs {
        out.extend(
            crate::serial::unipc(b).map_err(|e| {
                SqlError::Internal(format!("an exchange block does not decode: {e}"))
            })?,
        );
    }
    Ok(out)
}

fn ipc(batches: &[RecordBatch], schema: &arrow::datatypes::Schema) -> Result<Vec<u8>> {
    // View arrays from a filter, take or join point into the buffers of every batch they
    // came from (a broadcast build side: all of them), and IPC writes every buffer an
    // array points into: TPC-H q10 at SF 1 wrote 13 GB for 57 thousand rows before this.
    let compact = batches
        .iter()
        .map(crate::exec::spill::compact)
        .collect::<Result<Vec<_>>>()?;
    crate::serial::ipc(&compact, schema)
        .map_err(|e| SqlError::Internal(format!("encoding an exchange block: {e}")))
}

/// `batch`'s rows dealt into `n` buckets by a hash of `keys` (evaluated on it): the same
/// key values land in the same bucket in every process (the hash has no random state, and
/// integers of any width hash alike, as in the spilling operators).
fn split(batch: &RecordBatch, keys: &[Expr], n: usize) -> Result<Vec<Option<RecordBatch>>> {
    let rows = batch.num_rows();
    let cols = keys
        .iter()
        .map(|k| k.eval(batch)?.into_array(rows))
        .collect::<Result<Vec<_>>>()?;
    let mut idx: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, h) in crate::exec::spill::key_hashes(&cols)?
        .into_iter()
        .enumerate()
    {
        idx[(h % n as u64) as usize].push(i as u32);
    }
    idx.into_iter()
        .map(|ix| {
            if ix.is_empty() {
                Ok(None)
            } else if ix.len() == rows {
                Ok(Some(batch.clone()))
            } else {
                Ok(Some(take_record_batch(batch, &UInt32Array::from(ix))?))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let k: Vec<Option<i64>> = (0..1000).map(|i| (i % 7 != 0).then_some(i % 50)).collect();
        let s: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(k)),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn hash_buckets_keep_every_row_once_and_each_key_in_one_bucket() {
        let b = batch();
        let key = Expr::Column(0);
        let recs = encode(vec![b.clone(), b], &Mode::Hash(vec![key]), 5).unwrap();
        let mut seen = std::collections::HashMap::new();
        let mut total = 0;
        for (bucket, bytes) in &recs {
            for d in decode(std::slice::from_ref(bytes)).unwrap() {
                total += d.num_rows();
                let k = d.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                for i in 0..d.num_rows() {
                    let key = k.is_valid(i).then(|| k.value(i));
                    assert_eq!(*seen.entry(key).or_insert(*bucket), *bucket, "{key:?}");
                }
            }
        }
        assert_eq!(total, 2000);
        assert!(recs.len() > 1, "keys spread over buckets");
    }

    #[test]
    fn integer_keys_of_any_width_land_in_the_same_bucket() {
        let bucket_of = |a: arrow::array::ArrayRef| {
            let schema = Arc::new(Schema::new(vec![Field::new(
                "k",
                a.data_type().clone(),
                true,
            )]));
            let b = RecordBatch::try_new(schema, vec![a]).unwrap();
            split(&b, &[Expr::Column(0)], 7)
                .unwrap()
                .iter()
                .position(Option::is_some)
                .unwrap()
        };
        for v in [0i32, 1, 42, -5, 1_000_000] {
            let narrow = bucket_of(Arc::new(arrow::array::Int32Array::from(vec![v])));
            let wide = bucket_of(Arc::new(Int64Array::from(vec![v as i64])));
            assert_eq!(narrow, wide, "{v}");
        }
    }

    #[test]
    fn collect_is_one_record_and_empty_output_none() {
        let recs = encode(vec![batch()], &Mode::Collect, 5).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(decode(&[recs[0].1.clone()]).unwrap()[0].num_rows(), 1000);
        assert!(encode(vec![], &Mode::Collect, 5).unwrap().is_empty());
    }

    #[test]
    fn batches_without_columns_keep_their_row_count() {
        let b = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(42)),
        )
        .unwrap();
        let recs = encode(vec![b], &Mode::Collect, 1).unwrap();
        let back = decode(&[recs[0].1.clone()]).unwrap();
        assert_eq!(back.iter().map(|b| b.num_rows()).sum::<usize>(), 42);
    }
}

//! Plans as bytes: a [`Plan`] (and so each stage's fragment) serializes with serde, so
//! that another process can run it. Arrow values inside a plan (literals, in-memory tables)
//! travel as Arrow IPC streams; schemas and types use arrow's own serde support; tables
//! travel by name, schema and file list.

use crate::error::{Result, SqlError};
use crate::plan::Plan;
use arrow::array::ArrayRef;
use arrow::datatypes::{Field, Schema};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;

/// A plan as JSON bytes.
pub fn to_bytes(plan: &Plan) -> Result<Vec<u8>> {
    serde_json::to_vec(plan).map_err(|e| SqlError::Internal(format!("serializing a plan: {e}")))
}

/// A plan back from [`to_bytes`].
pub fn from_bytes(bytes: &[u8]) -> Result<Plan> {
    serde_json::from_slice(bytes)
        .map_err(|e| SqlError::Internal(format!("deserializing a plan: {e}")))
}

pub(crate) fn ipc(
    batches: &[RecordBatch],
    schema: &Schema,
) -> std::result::Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut w = StreamWriter::try_new(&mut buf, schema).map_err(|e| e.to_string())?;
    for b in batches {
        w.write(b).map_err(|e| e.to_string())?;
    }
    w.finish().map_err(|e| e.to_string())?;
    drop(w);
    Ok(buf)
}

pub(crate) fn unipc(bytes: &[u8]) -> std::result::Result<Vec<RecordBatch>, String> {
    StreamReader::try_new(bytes, None)
        .map_err(|e| e.to_string())?
        .map(|b| b.map_err(|e| e.to_string()))
        .collect()
}

/// Serde for a one-row literal array: a one-column IPC stream.
pub mod array {
    use super::*;

    /// Serializes `a`.
    pub fn serialize<S: Serializer>(a: &ArrayRef, s: S) -> std::result::Result<S::Ok, S::Error> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "v",
            a.data_type().clone(),
            true,
        )]));
        let b = RecordBatch::try_new(schema.clone(), vec![a.clone()])
            .map_err(serde::ser::Error::custom)?;
        ipc(&[b], &schema)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }

    /// Deserializes an array.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<ArrayRef, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        let batches = unipc(&bytes).map_err(serde::de::Error::custom)?;
        batches
            .first()
            .map(|b| b.column(0).clone())
            .ok_or_else(|| serde::de::Error::custom("an empty literal"))
    }
}

/// Serde for record batches (in-memory tables, `VALUES`): an IPC stream.
pub mod batches {
    use super::*;

    /// Serializes `bs`.
    pub fn serialize<S: Serializer>(
        bs: &[RecordBatch],
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let schema = bs
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        ipc(bs, &schema)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }

    /// Deserializes batches.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Vec<RecordBatch>, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        unipc(&bytes).map_err(serde::de::Error::custom)
    }
}

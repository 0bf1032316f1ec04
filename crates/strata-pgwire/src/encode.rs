//! Arrow columns as PostgreSQL columns: the type a client sees in the row description,
//! and each value encoded in the text or binary format the client asked for.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow::record_batch::RecordBatch;
use bytes::BytesMut;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;
use postgres_types::{IsNull, ToSql};
use std::sync::Arc;

/// The PostgreSQL type a column of `t` is sent as.
pub fn pg_type(t: &DataType) -> Type {
    match t {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 | DataType::Decimal128(..) | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::BYTEA,
        _ => Type::TEXT,
    }
}

/// The row description of `schema`, each column in the format `format` gives it.
pub fn fields(schema: &arrow::datatypes::Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldInfo::new(
                f.name().clone(),
                None,
                None,
                pg_type(f.data_type()),
                format.format_for(i),
            )
        })
        .collect()
}

/// The rows of `batch` as data rows of `fields`.
pub fn rows(batch: &RecordBatch, fields: &Arc<Vec<FieldInfo>>) -> PgWireResult<Vec<DataRow>> {
    let mut enc = DataRowEncoder::new(fields.clone());
    let mut out = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        for col in batch.columns() {
            cell(&mut enc, col, r)?;
        }
        out.push(enc.take_row());
    }
    Ok(out)
}

/// Encodes row `r` of `col`.
fn cell(enc: &mut DataRowEncoder, col: &ArrayRef, r: usize) -> PgWireResult<()> {
    if col.is_null(r) {
        return enc.encode_field(&None::<i32>);
    }
    match col.data_type() {
        DataType::Boolean => enc.encode_field(&col.as_boolean().value(r)),
        DataType::Int8 => enc.encode_field(&(col.as_primitive::<Int8Type>().value(r) as i16)),
        DataType::Int16 => enc.encode_field(&col.as_primitive::<Int16Type>().value(r)),
        DataType::UInt8 => enc.encode_field(&(col.as_primitive::<UInt8Type>().value(r) as i16)),
        DataType::Int32 => enc.encode_field(&col.as_primitive::<Int32Type>().value(r)),
        DataType::UInt16 => enc.encode_field(&(col.as_primitive::<UInt16Type>().value(r) as i32)),
        DataType::Int64 => enc.encode_field(&col.as_primitive::<Int64Type>().value(r)),
        DataType::UInt32 => enc.encode_field(&(col.as_primitive::<UInt32Type>().value(r) as i64)),
        DataType::UInt64 => enc.encode_field(&rust_decimal::Decimal::from(
            col.as_primitive::<UInt64Type>().value(r),
        )),
        DataType::Float16 => enc.encode_field(
            &col.as_primitive::<arrow::datatypes::Float16Type>()
                .value(r)
                .to_f32(),
        ),
        DataType::Float32 => enc.encode_field(&col.as_primitive::<Float32Type>().value(r)),
        DataType::Float64 => enc.encode_field(&col.as_primitive::<Float64Type>().value(r)),
        DataType::Decimal128(_, scale) => {
            let v = col.as_primitive::<Decimal128Type>().value(r);
            match u32::try_from(*scale)
                .ok()
                .and_then(|s| rust_decimal::Decimal::try_from_i128_with_scale(v, s).ok())
            {
                Some(d) => enc.encode_field(&d),
                // Wider than rust_decimal's 96 bits: text as Arrow writes it.
                None => enc.encode_field(&Shown(display(col, r)?)),
            }
        }
        DataType::Date32 => {
            let d = col.as_primitive::<Date32Type>().value_as_date(r);
            enc.encode_field(&d)
        }
        DataType::Date64 => enc.encode_field(&col.as_primitive::<Date64Type>().value_as_date(r)),
        DataType::Time32(TimeUnit::Second) => {
            enc.encode_field(&col.as_primitive::<Time32SecondType>().value_as_time(r))
        }
        DataType::Time32(_) => {
            enc.encode_field(&col.as_primitive::<Time32MillisecondType>().value_as_time(r))
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            enc.encode_field(&col.as_primitive::<Time64MicrosecondType>().value_as_time(r))
        }
        DataType::Time64(_) => {
            enc.encode_field(&col.as_primitive::<Time64NanosecondType>().value_as_time(r))
        }
        DataType::Timestamp(unit, tz) => {
            let t = match unit {
                TimeUnit::Second => col
                    .as_primitive::<TimestampSecondType>()
                    .value_as_datetime(r),
                TimeUnit::Millisecond => col
                    .as_primitive::<TimestampMillisecondType>()
                    .value_as_datetime(r),
                TimeUnit::Microsecond => col
                    .as_primitive::<TimestampMicrosecondType>()
                    .value_as_datetime(r),
                TimeUnit::Nanosecond => col
                    .as_primitive::<TimestampNanosecondType>()
                    .value_as_datetime(r),
            };
            // Arrow keeps instants in UTC; a zone only changes how they are shown.
            match (t, tz) {
                (Some(t), None) => enc.encode_field(&t),
                (Some(t), Some(_)) => enc.encode_field(&t.and_utc()),
                (None, _) => enc.encode_field(&Shown(display(col, r)?)),
            }
        }
        DataType::Binary => enc.encode_field(&col.as_binary::<i32>().value(r)),
        DataType::LargeBinary => enc.encode_field(&col.as_binary::<i64>().value(r)),
        DataType::Utf8 => enc.encode_field(&col.as_string::<i32>().value(r)),
        DataType::LargeUtf8 => enc.encode_field(&col.as_string::<i64>().value(r)),
        DataType::Utf8View => enc.encode_field(&col.as_string_view().value(r)),
        _ => enc.encode_field(&Shown(display(col, r)?)),
    }
}

/// Row `r` of `col` as Arrow's display writes it (intervals, lists, structs, ...).
fn display(col: &ArrayRef, r: usize) -> PgWireResult<String> {
    let opts = arrow::util::display::FormatOptions::default().with_null("NULL");
    let f = arrow::util::display::ArrayFormatter::try_new(col.as_ref(), &opts)
        .map_err(|e| pgwire::error::PgWireError::ApiError(Box::new(e)))?;
    Ok(f.value(r).to_string())
}

/// A value sent as its text whatever the column's type: in binary format too (only for
/// types without a binary encoder here, where the text is all there is).
#[derive(Debug)]
struct Shown(String);

impl ToSql for Shown {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    postgres_types::to_sql_checked!();
}

impl pgwire::types::ToSqlText for Shown {
    fn to_sql_text(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
        _format_options: &pgwire::types::format::FormatOptions,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    #[test]
    fn text_rows_look_like_postgres() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Decimal128(10, 2), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(-7), None])),
                Arc::new(StringArray::from(vec![Some("it's"), Some("")])),
                Arc::new(
                    Decimal128Array::from(vec![Some(12345), Some(-5)])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap();
        let f = Arc::new(fields(&schema, &Format::UnifiedText));
        assert_eq!(f[2].datatype(), &Type::NUMERIC);
        let rows = rows(&batch, &f).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].field_count, 3);
        let text = String::from_utf8_lossy(&rows[0].data).to_string();
        assert!(
            text.contains("-7") && text.contains("it's") && text.contains("123.45"),
            "{text}"
        );
        let text = String::from_utf8_lossy(&rows[1].data).to_string();
        assert!(text.contains("-0.05"), "{text}");
    }
}

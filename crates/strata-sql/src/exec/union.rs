//! UNION ALL concatenates its inputs' partitions (each batch cast to the first input's
//! column types and names); UNION then removes duplicates with a grouping on every column,
//! which spills like any aggregation.

use super::{Ctx, Stream};
use crate::error::Result;
use crate::expr::Expr;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

/// `parts` with every batch in `schema`'s types and names.
pub fn aligned<'a>(parts: Vec<Stream<'a>>, schema: SchemaRef) -> Vec<Stream<'a>> {
    parts
        .into_iter()
        .map(|s| -> Stream<'a> {
            let schema = schema.clone();
            Box::new(s.map(move |b| {
                let b = b?;
                let cols = b
                    .columns()
                    .iter()
                    .zip(schema.fields())
                    .map(|(c, f)| {
                        if c.data_type() == f.data_type() {
                            Ok(c.clone())
                        } else {
                            Ok(arrow::compute::cast(c, f.data_type())?)
                        }
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(RecordBatch::try_new(schema.clone(), cols)?)
            }))
        })
        .collect()
}

/// The distinct rows of `parts`.
pub fn distinct<'a>(
    ctx: &'a Ctx,
    id: usize,
    schema: SchemaRef,
    parts: Vec<Stream<'a>>,
) -> Result<Vec<Stream<'a>>> {
    let group: Vec<(Expr, String)> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| (Expr::Column(i), f.name().clone()))
        .collect();
    super::aggregate::aggregate(ctx, id, schema.clone(), parts, group, Vec::new(), schema)
}

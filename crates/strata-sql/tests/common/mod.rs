//! Helpers shared by the integration tests.

use arrow::record_batch::RecordBatch;

/// The rows of a result as text, `|`-separated, in result order.
pub fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| arrow::util::display::array_value_to_string(c, r).unwrap())
                .collect();
            out.push(cells.join("|"));
        }
    }
    out
}

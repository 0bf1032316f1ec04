//! A fast path for `LIKE` patterns made of literal parts and `%` only (`'%special%requests%'`):
//! the parts are found in order with `memchr::memmem`, with no regular expression. Patterns
//! with `_` or escapes go to arrow's kernel.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::DataType;
use memchr::memmem::Finder;

/// `a [NOT] LIKE pattern` for a one-row `pattern`, or None if the fast path does not apply.
pub fn like_parts(a: &ArrayRef, pattern: &ArrayRef, negated: bool) -> Option<BooleanArray> {
    if pattern.len() != 1 || pattern.is_null(0) {
        return None;
    }
    let p = match pattern.data_type() {
        DataType::Utf8 => pattern.as_string::<i32>().value(0),
        DataType::Utf8View => pattern.as_string_view().value(0),
        DataType::LargeUtf8 => pattern.as_string::<i64>().value(0),
        _ => return None,
    };
    if p.contains(['_', '\\']) || !p.contains('%') {
        return None;
    }
    let parts: Vec<&[u8]> = p.split('%').map(str::as_bytes).collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    let middle: Vec<Finder<'_>> = parts[1..parts.len() - 1]
        .iter()
        .filter(|m| !m.is_empty())
        .map(Finder::new)
        .collect();
    let matches = |s: &[u8]| -> bool {
        if s.len() < first.len() + last.len() || !s.starts_with(first) || !s.ends_with(last) {
            return false;
        }
        let mut rest = &s[first.len()..s.len() - last.len()];
        for f in &middle {
            match f.find(rest) {
                Some(i) => rest = &rest[i + f.needle().len()..],
                None => return false,
            }
        }
        true
    };
    let out = |it: &mut dyn Iterator<Item = Option<&str>>| -> BooleanArray {
        it.map(|v| v.map(|s| matches(s.as_bytes()) != negated))
            .collect()
    };
    Some(match a.data_type() {
        DataType::Utf8View => out(&mut a.as_string_view().iter()),
        DataType::Utf8 => out(&mut a.as_string::<i32>().iter()),
        DataType::LargeUtf8 => out(&mut a.as_string::<i64>().iter()),
        _ => return None,
    })
}

//! Result comparison: cells normalized so that both engines' spellings of one value meet
//! (`t`/`true`, `2.5000`/`2.5`), rows compared as multisets unless order is asked for.

use arrow::record_batch::RecordBatch;

/// One cell in the common spelling.
pub fn cell(s: &str) -> String {
    match s {
        "t" | "true" => return "true".into(),
        "f" | "false" => return "false".into(),
        "NULL" => return "NULL".into(),
        _ => {}
    }
    let numeric = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
        && s.chars().any(|c| c.is_ascii_digit());
    match s.parse::<f64>() {
        Ok(f) if numeric => {
            if f == f.trunc() && f.abs() < 1e15 {
                format!("{}", f as i64)
            } else {
                format!("{f:.8e}")
            }
        }
        _ => s.to_string(),
    }
}

/// Rows in the common spelling.
pub fn normalize(rows: &[Vec<String>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect()
}

/// Strata's batches as rows of normalized cells.
pub fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        if c.logical_nulls().is_some_and(|n| n.is_null(r)) {
                            "NULL".to_string()
                        } else {
                            let s = arrow::util::display::array_value_to_string(c, r)
                                .unwrap_or_else(|e| format!("<{e}>"));
                            cell(&s)
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

use arrow::array::Array;

/// How `mine` differs from `theirs`, if it does.
pub fn diff(mine: &[Vec<String>], theirs: &[Vec<String>], ordered: bool) -> Option<String> {
    let (mut a, mut b) = (mine.to_vec(), theirs.to_vec());
    if !ordered {
        a.sort();
        b.sort();
    }
    if a == b {
        return None;
    }
    let show = |v: &[Vec<String>]| {
        let lines: Vec<String> = v.iter().take(8).map(|r| r.join("|")).collect();
        format!(
            "{} rows [{}{}]",
            v.len(),
            lines.join("; "),
            if v.len() > 8 { "; ..." } else { "" }
        )
    };
    Some(format!("strata: {}; expected: {}", show(&a), show(&b)))
}

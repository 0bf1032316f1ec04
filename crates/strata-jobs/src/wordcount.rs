//! Word count.
//!
//! A word is a maximal run of characters for which `char::is_alphanumeric` holds, lowercased
//! with `str::to_lowercase`. Input is UTF-8 text (invalid bytes become U+FFFD, which is not
//! alphanumeric). Output: one line `word<TAB>count` per distinct word.

use strata_dataflow::{Context, Dataset, Result};

/// Calls `f` on each word of `line`, lowercased.
#[inline]
pub fn for_each_word(line: &str, mut f: impl FnMut(String)) {
    let mut start: Option<usize> = None;
    for (i, c) in line.char_indices() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(i);
            }
        } else if let Some(s) = start.take() {
            f(lower(&line[s..i]));
        }
    }
    if let Some(s) = start {
        f(lower(&line[s..]));
    }
}

#[inline]
fn lower(w: &str) -> String {
    if w.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        w.to_owned()
    } else {
        w.to_lowercase()
    }
}

/// The words of `line`, lowercased.
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_word(line, |w| out.push(w));
    out
}

/// `(word, count)` for every word in `inputs` (files, directories or globs).
pub fn word_count<P: AsRef<str>>(
    ctx: &Context,
    inputs: &[P],
    partitions: Option<usize>,
) -> Result<Dataset<(String, u64)>> {
    let lines = match partitions {
        Some(p) => ctx.text_file_with(inputs, p)?,
        None => ctx.text_file(inputs)?,
    };
    let reducers = partitions.unwrap_or(ctx.config().default_partitions);
    Ok(lines
        .flat_map(|line| {
            let mut out = Vec::new();
            for_each_word(&line, |w| out.push((w, 1u64)));
            out
        })
        .reduce_by_key_with(reducers, |a, b| a + b))
}

/// Runs word count and writes `word<TAB>count` lines to `out`.
pub fn run<P: AsRef<str>>(
    ctx: &Context,
    inputs: &[P],
    out: &std::path::Path,
    partitions: Option<usize>,
) -> Result<()> {
    word_count(ctx, inputs, partitions)?.save_partitions(out, |w, it| {
        for (word, n) in it {
            writeln!(w, "{word}\t{n}")?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_alphanumeric_runs_lowercased() {
        assert_eq!(
            words("Hello, World! x2 ÉTÉ—naïve"),
            vec!["hello", "world", "x2", "été", "naïve"]
        );
        assert_eq!(words("don't"), vec!["don", "t"]);
        assert_eq!(words("  "), Vec::<String>::new());
        assert_eq!(words("a\u{FFFD}b"), vec!["a", "b"]);
        // Lowercasing can change length (İ lowercases to two chars).
        assert_eq!(words("İx"), vec!["i\u{307}x"]);
    }
}

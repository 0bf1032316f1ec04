//! Word count.
//!
//! A word is a maximal run of characters for which `char::is_alphanumeric` holds, lowercased
//! with `str::to_lowercase`. Input is UTF-8 text (invalid bytes become U+FFFD, which is not
//! alphanumeric). Output: one line `word<TAB>count` per distinct word.

use compact_str::CompactString;
use strata_dataflow::{Context, Dataset, Result};

/// The next word of `line` at or after byte `pos`: `(start, end)`. ASCII is classified byte
/// by byte; other characters are decoded and asked `char::is_alphanumeric`.
#[inline]
fn next_word(line: &str, mut pos: usize) -> Option<(usize, usize)> {
    let bytes = line.as_bytes();
    let alnum_at = |i: usize| -> (bool, usize) {
        let b = bytes[i];
        if b < 0x80 {
            (b.is_ascii_alphanumeric(), 1)
        } else {
            let c = line[i..].chars().next().expect("char boundary");
            (c.is_alphanumeric(), c.len_utf8())
        }
    };
    while pos < bytes.len() {
        let (yes, n) = alnum_at(pos);
        if yes {
            break;
        }
        pos += n;
    }
    if pos >= bytes.len() {
        return None;
    }
    let start = pos;
    while pos < bytes.len() {
        let (yes, n) = alnum_at(pos);
        if !yes {
            break;
        }
        pos += n;
    }
    Some((start, pos))
}

/// A word, lowercased; short words are stored inline (no allocation).
#[inline]
fn lower(w: &str) -> CompactString {
    if w.is_ascii() {
        let mut s = CompactString::from(w);
        s.make_ascii_lowercase();
        s
    } else {
        CompactString::from(w.to_lowercase())
    }
}

/// The words of a line, lowercased, as an iterator that owns the line.
pub struct Words {
    line: String,
    pos: usize,
}

impl Words {
    /// The words of `line`.
    pub fn new(line: String) -> Self {
        Words { line, pos: 0 }
    }
}

impl Iterator for Words {
    type Item = CompactString;
    #[inline]
    fn next(&mut self) -> Option<CompactString> {
        let (s, e) = next_word(&self.line, self.pos)?;
        self.pos = e;
        Some(lower(&self.line[s..e]))
    }
}

/// Calls `f` on each word of `line`, lowercased.
pub fn for_each_word(line: &str, mut f: impl FnMut(String)) {
    let mut pos = 0;
    while let Some((s, e)) = next_word(line, pos) {
        f(lower(&line[s..e]).into_string());
        pos = e;
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
        .flat_map(|line| Words::new(line).map(|w| (w, 1u64)))
        .reduce_by_key_with(reducers, |a, b| a + b)
        .map(|(w, n)| (w.into_string(), n)))
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

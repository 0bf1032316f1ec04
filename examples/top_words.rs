//! A user's program on the Strata engine: the most frequent long words of a corpus.
//!
//! ```sh
//! cargo run --release --example top_words -- data/shakespeare 8
//! ```

use strata::{Context, StorageLevel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "data/shakespeare".into());
    let min_len: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);

    let ctx = Context::from_env()?;
    let counts = ctx
        .text_file(&[&input])?
        .flat_map(|line| strata::jobs::wordcount::words(&line))
        .filter(move |w| w.chars().count() >= min_len)
        .map(|w| (w, 1u64))
        .reduce_by_key(|a, b| a + b)
        .persist(StorageLevel::MemoryAndDisk);

    let distinct = counts.count()?;
    // Sort by count, descending: the key is the count.
    let top = counts
        .map(|(w, n)| (n, w))
        .sort_by_key(false, 4)?
        .take(10)?;
    if ctx.is_driver() {
        println!("{distinct} distinct words of {min_len}+ letters in {input}; the most frequent:");
        for (n, w) in top {
            println!("{n:>8}  {w}");
        }
    }
    Ok(())
}

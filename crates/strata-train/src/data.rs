//! Text as training data: a character vocabulary, a train/validation split, and the
//! sampler that decides which sequences each rank sees at each step.
//!
//! The sampler is a pure function of (seed, step, micro-batch, sequence index): the global
//! batch of a step is the same whatever the number of ranks, and rank `r` of `n` takes the
//! `r`-th contiguous slice of it (PyTorch's `DistributedSampler`, without state to save).

use std::ops::Range;

use candle_core::{Device, Tensor};
use strata_storage::StorageOptions;

/// A tokenised corpus.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The characters, sorted; a token is an index into this.
    pub vocab: Vec<char>,
    /// Training tokens (the first 90%).
    pub train: Vec<u32>,
    /// Validation tokens (the last 10%).
    pub val: Vec<u32>,
}

impl Corpus {
    /// Reads a text file, or every file under a directory in name order, from any store
    /// (local path, `dfs://`, `s3://`).
    pub fn load(path: &str, opts: &StorageOptions) -> Result<Corpus, String> {
        let (store, p) = strata_storage::resolve(path, opts).map_err(|e| e.to_string())?;
        let mut files = store.list(&p).map_err(|e| e.to_string())?.files;
        files.sort_by(|a, b| a.url.cmp(&b.url));
        if files.is_empty() {
            return Err(format!("{path}: no text files there"));
        }
        let mut text = String::new();
        for f in &files {
            let (s, fp) = strata_storage::resolve(&f.url, opts).map_err(|e| e.to_string())?;
            let bytes = s
                .read_range(&fp, 0..f.size)
                .map_err(|e| format!("{}: {e}", f.url))?;
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        Corpus::from_text(&text)
    }

    /// Tokenises `text` (every distinct character is a token).
    pub fn from_text(text: &str) -> Result<Corpus, String> {
        let mut vocab: Vec<char> = text.chars().collect();
        vocab.sort_unstable();
        vocab.dedup();
        let ids: Vec<u32> = {
            let index: std::collections::HashMap<char, u32> = vocab
                .iter()
                .enumerate()
                .map(|(i, c)| (*c, i as u32))
                .collect();
            text.chars().map(|c| index[&c]).collect()
        };
        if ids.len() < 100 {
            return Err(format!(
                "the corpus has {} characters; give at least a few thousand",
                ids.len()
            ));
        }
        let cut = ids.len() * 9 / 10;
        Ok(Corpus {
            vocab,
            train: ids[..cut].to_vec(),
            val: ids[cut..].to_vec(),
        })
    }

    /// Token ids of `s`, or the first character not in the vocabulary.
    pub fn encode(vocab: &[char], s: &str) -> Result<Vec<u32>, String> {
        s.chars()
            .map(|c| {
                vocab
                    .binary_search(&c)
                    .map(|i| i as u32)
                    .map_err(|_| format!("the character {c:?} is not in the model's vocabulary"))
            })
            .collect()
    }

    /// The text of token ids.
    pub fn decode(vocab: &[char], ids: &[u32]) -> String {
        ids.iter().map(|&i| vocab[i as usize]).collect()
    }
}

fn mix(mut z: u64) -> u64 {
    // SplitMix64's finaliser: a fixed, well-spread hash.
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Start offsets of the sequences `range` of the global batch at (`step`, `micro`).
pub fn offsets(
    seed: u64,
    step: u64,
    micro: u64,
    range: Range<usize>,
    n_tokens: usize,
    context: usize,
) -> Vec<usize> {
    let span = (n_tokens - context - 1) as u64;
    range
        .map(|i| {
            let h = mix(seed ^ mix(step.wrapping_mul(1_000_003) ^ mix(micro) ^ mix(i as u64 + 1)));
            (h % span) as usize
        })
        .collect()
}

/// Inputs `[b, context]` and next-token targets for sequences starting at `offsets`.
pub fn batch(
    tokens: &[u32],
    offsets: &[usize],
    context: usize,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let mut x = Vec::with_capacity(offsets.len() * context);
    let mut y = Vec::with_capacity(offsets.len() * context);
    for &o in offsets {
        x.extend_from_slice(&tokens[o..o + context]);
        y.extend_from_slice(&tokens[o + 1..o + context + 1]);
    }
    Ok((
        Tensor::from_vec(x, (offsets.len(), context), device)?,
        Tensor::from_vec(y, (offsets.len(), context), device)?,
    ))
}

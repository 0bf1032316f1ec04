//! Generating text from a trained model.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use strata_storage::StorageOptions;

use crate::TrainError;
use crate::ckpt;
use crate::data::Corpus;
use crate::model::softmax_last;

/// `tokens` characters continuing `prompt` from the model in `model_dir`, sampled at
/// `temperature` (0 = always the likeliest) with `seed`.
pub fn sample(
    model_dir: &str,
    prompt: &str,
    tokens: usize,
    temperature: f64,
    seed: u64,
    opts: &StorageOptions,
) -> Result<String, TrainError> {
    let url = format!("{}/model.safetensors", model_dir.trim_end_matches('/'));
    let (store, path) =
        strata_storage::resolve(&url, opts).map_err(|e| TrainError::Usage(e.to_string()))?;
    let len = store.size(&path).map_err(|e| {
        TrainError::Usage(format!(
            "{url}: {e}; train a model with `strata train gpt --out DIR` first"
        ))
    })?;
    let bytes = store
        .read_range(&path, 0..len)
        .map_err(|e| TrainError::Usage(e.to_string()))?;
    let device = Device::Cpu;
    let snap = ckpt::decode(&bytes, &device)?;
    let mut ids = Corpus::encode(&snap.vocab, prompt).map_err(TrainError::Usage)?;
    if ids.is_empty() {
        ids.push(Corpus::encode(&snap.vocab, "\n").map(|v| v[0]).unwrap_or(0));
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let ctx = snap.cfg.context;
    let mut out = Vec::new();
    for _ in 0..tokens {
        let window = &ids[ids.len().saturating_sub(ctx)..];
        let x = Tensor::from_slice(window, (1, window.len()), &device)?;
        let logits = snap.model.forward(&x, None)?; // [t, vocab]
        let last = logits.get(window.len() - 1)?;
        let next = if temperature <= 0.0 {
            last.argmax(0)?.to_scalar::<u32>()?
        } else {
            let p = softmax_last(&(last / temperature)?)?.to_vec1::<f32>()?;
            let mut u: f32 = rng.r#gen();
            let mut pick = p.len() - 1;
            for (i, pi) in p.iter().enumerate() {
                if u < *pi {
                    pick = i;
                    break;
                }
                u -= pi;
            }
            pick as u32
        };
        ids.push(next);
        out.push(next);
    }
    Ok(Corpus::decode(&snap.vocab, &out))
}

//! Checkpoints in the safetensors format through the storage layer (local, `dfs://`,
//! `s3://`): the parameters, AdamW's moments and step, and metadata (the step, why it was
//! written, the model's shape and vocabulary), one atomic file per checkpoint:
//! `DIR/step-0000000042.safetensors`. The same format, without optimizer state, is the
//! trained model (`OUT/model.safetensors`) that `strata train sample` reads.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{Device, Tensor, Var};
use strata_storage::{StorageOptions, Store};

use crate::TrainError;
use crate::model::{Gpt, GptConfig};
use crate::optim::AdamW;

/// What a checkpoint file holds.
#[derive(Debug)]
pub struct Snapshot {
    /// Optimizer steps completed.
    pub step: u64,
    /// Why it was written: `periodic`, `jit` (a rank died), `final`.
    pub kind: String,
    /// The model's shape.
    pub cfg: GptConfig,
    /// The vocabulary.
    pub vocab: Vec<char>,
    /// The model.
    pub model: Gpt,
    /// The optimizer state, when saved.
    pub opt: Option<AdamW>,
}

/// Serialises a model (and optimizer) at `step`.
pub fn encode(
    model: &Gpt,
    opt: Option<&AdamW>,
    step: u64,
    kind: &str,
    vocab: &[char],
) -> Result<Vec<u8>, TrainError> {
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (name, v) in &model.params {
        tensors.push((name.clone(), v.as_tensor().clone()));
    }
    if let Some(o) = opt {
        for (i, (name, _)) in model.params.iter().enumerate() {
            tensors.push((format!("adam.m.{name}"), o.m[i].clone()));
            tensors.push((format!("adam.v.{name}"), o.v[i].clone()));
        }
    }
    let mut meta = HashMap::new();
    meta.insert("step".to_string(), step.to_string());
    meta.insert("kind".to_string(), kind.to_string());
    meta.insert(
        "config".to_string(),
        serde_json::to_string(&model.cfg).unwrap(),
    );
    meta.insert("vocab".to_string(), vocab.iter().collect::<String>());
    if let Some(o) = opt {
        meta.insert("adam.step".to_string(), o.step.to_string());
        meta.insert("adam.weight_decay".to_string(), o.weight_decay.to_string());
    }
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .map_err(|e| TrainError::Checkpoint(format!("encoding: {e}")))
}

/// Reads a checkpoint or model file back.
pub fn decode(bytes: &[u8], device: &Device) -> Result<Snapshot, TrainError> {
    let bad = |m: String| TrainError::Checkpoint(m);
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let meta = header
        .metadata()
        .clone()
        .ok_or_else(|| bad("no Strata metadata in the file".into()))?;
    let get = |k: &str| {
        meta.get(k)
            .cloned()
            .ok_or_else(|| bad(format!("metadata lacks {k}")))
    };
    let cfg: GptConfig = serde_json::from_str(&get("config")?).map_err(|e| bad(e.to_string()))?;
    let step: u64 = get("step")?.parse().map_err(|_| bad("bad step".into()))?;
    let mut tensors = candle_core::safetensors::load_buffer(bytes, device)?;
    let names = Gpt::param_names(&cfg);
    let mut params = Vec::with_capacity(names.len());
    for n in &names {
        let t = tensors
            .remove(n)
            .ok_or_else(|| bad(format!("the file lacks tensor {n}")))?;
        params.push((n.clone(), Var::from_tensor(&t)?));
    }
    let opt = match meta.get("adam.step") {
        None => None,
        Some(s) => {
            let mut o = AdamW::new(&params, get("adam.weight_decay")?.parse().unwrap_or(0.0))?;
            o.step = s.parse().map_err(|_| bad("bad adam.step".into()))?;
            for (i, n) in names.iter().enumerate() {
                o.m[i] = tensors
                    .remove(&format!("adam.m.{n}"))
                    .ok_or_else(|| bad(format!("no moment for {n}")))?;
                o.v[i] = tensors
                    .remove(&format!("adam.v.{n}"))
                    .ok_or_else(|| bad(format!("no moment for {n}")))?;
            }
            Some(o)
        }
    };
    Ok(Snapshot {
        step,
        kind: get("kind")?,
        vocab: get("vocab")?.chars().collect(),
        model: Gpt::with_params(cfg.clone(), params, device)?,
        cfg,
        opt,
    })
}

/// A directory of checkpoints in any store.
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    store: Arc<dyn Store>,
    path: String,
}

fn name(step: u64) -> String {
    format!("step-{step:010}.safetensors")
}

impl CheckpointDir {
    /// The directory at `url`.
    pub fn open(url: &str, opts: &StorageOptions) -> Result<CheckpointDir, TrainError> {
        let (store, path) = strata_storage::resolve(url, opts)
            .map_err(|e| TrainError::Checkpoint(e.to_string()))?;
        Ok(CheckpointDir { store, path })
    }

    fn file(&self, step: u64) -> String {
        format!("{}/{}", self.path.trim_end_matches('/'), name(step))
    }

    /// Writes the checkpoint of `step` (atomically: a reader sees all of it or none).
    pub fn save(&self, step: u64, bytes: &[u8]) -> Result<(), TrainError> {
        self.store
            .put(&self.file(step), bytes)
            .map_err(|e| TrainError::Checkpoint(e.to_string()))
    }

    /// Steps with a checkpoint, ascending.
    pub fn steps(&self) -> Result<Vec<u64>, TrainError> {
        let listing = match self.store.list(&self.path) {
            Ok(l) => l,
            Err(strata_storage::StorageError::NotFound(_)) => return Ok(Vec::new()),
            Err(e) => return Err(TrainError::Checkpoint(e.to_string())),
        };
        let mut steps: Vec<u64> = listing
            .files
            .iter()
            .filter_map(|f| {
                let base = f.url.rsplit('/').next()?;
                base.strip_prefix("step-")?
                    .strip_suffix(".safetensors")?
                    .parse()
                    .ok()
            })
            .collect();
        steps.sort_unstable();
        Ok(steps)
    }

    /// The checkpoint of `step`.
    pub fn load(&self, step: u64, device: &Device) -> Result<Snapshot, TrainError> {
        let f = self.file(step);
        let len = self
            .store
            .size(&f)
            .map_err(|e| TrainError::Checkpoint(e.to_string()))?;
        let bytes = self
            .store
            .read_range(&f, 0..len)
            .map_err(|e| TrainError::Checkpoint(e.to_string()))?;
        decode(&bytes, device)
    }

    /// Deletes all but the newest `retain` checkpoints.
    pub fn prune(&self, retain: usize) -> Result<(), TrainError> {
        let steps = self.steps()?;
        for &s in steps.iter().take(steps.len().saturating_sub(retain)) {
            self.store
                .delete(&self.file(s))
                .map_err(|e| TrainError::Checkpoint(e.to_string()))?;
        }
        Ok(())
    }
}

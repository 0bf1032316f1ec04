//! # strata-train: distributed training
//!
//! Trains real models on one machine or across processes, from the `strata` binary
//! (`strata train gpt`, `strata train sample`) or this API.
//!
//! - **Tensors and autograd** come from `candle` (Hugging Face's Rust tensor library):
//!   CPU by default, CUDA with the `cuda` feature; see ARCHITECTURE.md for why candle.
//! - [`model`]: a character-level GPT, its forward pass split into segments so backward can
//!   run one segment at a time.
//! - [`optim`]: AdamW (state in tensors, so checkpoints hold it), warm-up plus cosine
//!   learning rate, gradient clipping.
//! - [`ddp`]: data parallelism over `strata-collective`: bucketed gradients all-reduced on
//!   a communication thread while backward continues; `no_sync` accumulation; each rank's
//!   slice of the global batch from a stateless sampler ([`data`]), so 1, 2 or 3 ranks
//!   train the same model.
//! - [`ckpt`]: safetensors checkpoints through the storage layer (local, DFS, S3); a rank
//!   whose peer dies saves a just-in-time checkpoint of the last completed step.
//! - [`launch`]: runs K ranks as local processes and replaces them after a death; the
//!   job resumes from the newest checkpoint, losing at most the step in flight.
//! - [`pipeline`]: pipeline parallelism (GPipe and 1F1B with a flush per step) over the
//!   same segments ([`stage`]), cut into stages by a profiled partitioner.
//! - [`kernels`]: fused CPU kernels (GELU, causal softmax, LayerNorm, cross-entropy).
//! - [`trainer`]: the loop that ties them together; [`sample`]: text generation.
//!
//! Not here yet: asynchronous PipeDream with weight stashing, in-memory (Gemini)
//! checkpoints, launching ranks on cluster workers, the SQL training aggregate.

#![deny(missing_docs)]

pub use candle_core as candle;
pub use safetensors;

pub mod ckpt;
pub mod data;
pub mod ddp;
pub mod kernels;
pub mod launch;
pub mod mlp;
pub mod model;
pub mod optim;
pub mod pipeline;
pub mod sample;
pub mod stage;
pub mod trainer;

/// Why training stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Bad flags or data; the message says what to change.
    #[error("{0}")]
    Usage(String),
    /// A tensor operation failed.
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    /// A collective failed.
    #[error("collective: {0}")]
    Collective(strata_collective::CollectiveError),
    /// A peer died during the step after `step`; the state of `step` was saved if `saved`.
    #[error("a peer failed after step {step} (just-in-time checkpoint saved: {saved}): {source}")]
    PeerFailed {
        /// Steps completed.
        step: u64,
        /// Whether a just-in-time checkpoint was written.
        saved: bool,
        /// The collective's report.
        source: strata_collective::CollectiveError,
    },
    /// Reading or writing a checkpoint or model failed.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

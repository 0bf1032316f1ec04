//! A character-level GPT (pre-LayerNorm transformer decoder, as nanoGPT) on candle tensors.
//!
//! Parameters are named and laid out as PyTorch's (`h.0.attn.c_attn.weight` is
//! `[3·dim, dim]`, applied as `x·Wᵀ + b`), so a checkpoint reads the same in both.
//!
//! The forward pass is split into **segments** (the embeddings, each block, the head and
//! loss). A segment's input is a fresh leaf variable, so the backward pass can run one
//! segment at a time, last to first: the gradients of the last block's parameters exist
//! while the earlier blocks are still being differentiated. That is what lets data
//! parallelism all-reduce a bucket of gradients while backward goes on (`ddp`), and what a
//! pipeline stage will run on its own.

use candle_core::{D, DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use serde::{Deserialize, Serialize};

/// The model's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Vocabulary size (distinct characters).
    pub vocab: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads per block.
    pub heads: usize,
    /// Embedding width.
    pub dim: usize,
    /// Context length (tokens the model sees).
    pub context: usize,
}

impl GptConfig {
    /// Checks the shape, naming what to change.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.layers == 0 || self.heads == 0 || self.dim == 0 || self.context == 0 {
            return Err("--layers, --heads, --dim and --context must be at least 1".into());
        }
        if !self.dim.is_multiple_of(self.heads) {
            return Err(format!(
                "--dim {} is not a multiple of --heads {}: each head gets dim/heads channels",
                self.dim, self.heads
            ));
        }
        Ok(())
    }
}

/// One stretch of the forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Token and position embeddings.
    Embed,
    /// Transformer block `i`.
    Block(usize),
    /// Final LayerNorm, the language-model head and the cross-entropy loss.
    Head,
}

/// The model: its configuration and named parameters.
#[derive(Debug)]
pub struct Gpt {
    /// Its shape.
    pub cfg: GptConfig,
    /// Parameters in a fixed order (embeddings, blocks, head), with their names.
    pub params: Vec<(String, Var)>,
    /// The additive causal mask, `[context, context]`.
    mask: Tensor,
    /// Whether to use the fused CPU kernels ([`crate::kernels`]) rather than composite ops.
    fused: bool,
    device: Device,
}

/// `n` samples of N(0, std²) from `rng` (what every model here initialises weights with).
pub(crate) fn normal(rng: &mut SmallRng, n: usize, std: f32) -> Vec<f32> {
    // Box-Muller: reproducible from the seed on every platform, unlike a device RNG.
    (0..n)
        .map(|_| {
            let u1: f32 = rng.r#gen::<f32>().max(1e-12);
            let u2: f32 = rng.r#gen::<f32>();
            std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
        })
        .collect()
}

impl Gpt {
    /// A freshly initialised model: weights N(0, 0.02), residual projections scaled by
    /// 1/√(2·layers), biases 0, LayerNorm gains 1; the same seed gives the same bits.
    pub fn new(cfg: GptConfig, seed: u64, device: &Device) -> Result<Gpt> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let d = cfg.dim;
        let proj_std = 0.02 / (2.0 * cfg.layers as f32).sqrt();
        let mut params = Vec::new();
        let mut add =
            |name: String, shape: &[usize], init: Init, rng: &mut SmallRng| -> Result<()> {
                let n: usize = shape.iter().product();
                let data = match init {
                    Init::Normal(std) => normal(rng, n, std),
                    Init::Zeros => vec![0.0; n],
                    Init::Ones => vec![1.0; n],
                };
                params.push((
                    name,
                    Var::from_tensor(&Tensor::from_vec(data, shape, device)?)?,
                ));
                Ok(())
            };
        add(
            "wte.weight".into(),
            &[cfg.vocab, d],
            Init::Normal(0.02),
            &mut rng,
        )?;
        add(
            "wpe.weight".into(),
            &[cfg.context, d],
            Init::Normal(0.02),
            &mut rng,
        )?;
        for i in 0..cfg.layers {
            let p = |s: &str| format!("h.{i}.{s}");
            add(p("ln_1.weight"), &[d], Init::Ones, &mut rng)?;
            add(p("ln_1.bias"), &[d], Init::Zeros, &mut rng)?;
            add(
                p("attn.c_attn.weight"),
                &[3 * d, d],
                Init::Normal(0.02),
                &mut rng,
            )?;
            add(p("attn.c_attn.bias"), &[3 * d], Init::Zeros, &mut rng)?;
            add(
                p("attn.c_proj.weight"),
                &[d, d],
                Init::Normal(proj_std),
                &mut rng,
            )?;
            add(p("attn.c_proj.bias"), &[d], Init::Zeros, &mut rng)?;
            add(p("ln_2.weight"), &[d], Init::Ones, &mut rng)?;
            add(p("ln_2.bias"), &[d], Init::Zeros, &mut rng)?;
            add(
                p("mlp.c_fc.weight"),
                &[4 * d, d],
                Init::Normal(0.02),
                &mut rng,
            )?;
            add(p("mlp.c_fc.bias"), &[4 * d], Init::Zeros, &mut rng)?;
            add(
                p("mlp.c_proj.weight"),
                &[d, 4 * d],
                Init::Normal(proj_std),
                &mut rng,
            )?;
            add(p("mlp.c_proj.bias"), &[d], Init::Zeros, &mut rng)?;
        }
        add("ln_f.weight".into(), &[d], Init::Ones, &mut rng)?;
        add("ln_f.bias".into(), &[d], Init::Zeros, &mut rng)?;
        add(
            "lm_head.weight".into(),
            &[cfg.vocab, d],
            Init::Normal(0.02),
            &mut rng,
        )?;
        Gpt::with_params(cfg, params, device)
    }

    /// A model over given parameters (loaded from a checkpoint), in [`Gpt::new`]'s order.
    pub fn with_params(cfg: GptConfig, params: Vec<(String, Var)>, device: &Device) -> Result<Gpt> {
        let t = cfg.context;
        // Additive causal mask: 0 on and below the diagonal, a large negative above.
        let m: Vec<f32> = (0..t * t)
            .map(|k| if k % t > k / t { -1e9 } else { 0.0 })
            .collect();
        Ok(Gpt {
            cfg,
            params,
            mask: Tensor::from_vec(m, (t, t), device)?,
            fused: device.is_cpu(),
            device: device.clone(),
        })
    }

    /// The parameter names in order, for a fresh model of `cfg` (what a checkpoint holds).
    pub fn param_names(cfg: &GptConfig) -> Vec<String> {
        let mut v = vec!["wte.weight".to_string(), "wpe.weight".to_string()];
        for i in 0..cfg.layers {
            for s in [
                "ln_1.weight",
                "ln_1.bias",
                "attn.c_attn.weight",
                "attn.c_attn.bias",
                "attn.c_proj.weight",
                "attn.c_proj.bias",
                "ln_2.weight",
                "ln_2.bias",
                "mlp.c_fc.weight",
                "mlp.c_fc.bias",
                "mlp.c_proj.weight",
                "mlp.c_proj.bias",
            ] {
                v.push(format!("h.{i}.{s}"));
            }
        }
        v.extend(["ln_f.weight", "ln_f.bias", "lm_head.weight"].map(String::from));
        v
    }

    /// Chooses the fused CPU kernels (the default on CPU) or the composite operations.
    pub fn set_fused(&mut self, fused: bool) {
        self.fused = fused && self.device.is_cpu();
    }

    fn ln(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        if self.fused {
            crate::kernels::layer_norm(x, w, b)
        } else {
            layer_norm(x, w, b)
        }
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Segments in forward order.
    pub fn segments(&self) -> Vec<Segment> {
        let mut s = vec![Segment::Embed];
        s.extend((0..self.cfg.layers).map(Segment::Block));
        s.push(Segment::Head);
        s
    }

    /// Indices in `params` of the parameters `seg` uses.
    pub fn segment_params(&self, seg: Segment) -> std::ops::Range<usize> {
        let l = self.cfg.layers;
        match seg {
            Segment::Embed => 0..2,
            Segment::Block(i) => 2 + 12 * i..2 + 12 * (i + 1),
            Segment::Head => 2 + 12 * l..5 + 12 * l,
        }
    }

    fn p(&self, i: usize) -> &Tensor {
        self.params[i].1.as_tensor()
    }

    /// Runs one segment. `Embed` reads `idx` (`[batch, time]` token ids); a block maps
    /// `[batch·time, dim]` activations to the same; `Head` returns the mean cross-entropy
    /// against `targets` (or the logits when `targets` is `None`).
    pub fn forward_segment(
        &self,
        seg: Segment,
        x: &Tensor,
        batch: usize,
        time: usize,
        targets: Option<&Tensor>,
    ) -> Result<Tensor> {
        let r = self.segment_params(seg);
        let d = self.cfg.dim;
        match seg {
            Segment::Embed => {
                let ids = x.flatten_all()?;
                let tok = self.p(0).index_select(&ids, 0)?.reshape((batch, time, d))?;
                let pos = self.p(1).narrow(0, 0, time)?;
                tok.broadcast_add(&pos)?.reshape((batch * time, d))
            }
            Segment::Block(_) => {
                let b = r.start;
                let h = self.ln(x, self.p(b), self.p(b + 1))?;
                let a = self.attention(&h, b + 2, batch, time)?;
                let x = (x + a)?;
                let h = self.ln(&x, self.p(b + 6), self.p(b + 7))?;
                let h = linear(&h, self.p(b + 8), Some(self.p(b + 9)))?;
                let h = if self.fused {
                    crate::kernels::gelu(&h)?
                } else {
                    h.gelu()?
                };
                let h = linear(&h, self.p(b + 10), Some(self.p(b + 11)))?;
                x + h
            }
            Segment::Head => {
                let b = r.start;
                let h = self.ln(x, self.p(b), self.p(b + 1))?;
                let logits = linear(&h, self.p(b + 2), None)?;
                match targets {
                    Some(t) if self.fused => {
                        crate::kernels::cross_entropy(&logits, &t.flatten_all()?)
                    }
                    Some(t) => cross_entropy(&logits, &t.flatten_all()?),
                    None => Ok(logits),
                }
            }
        }
    }

    fn attention(&self, x: &Tensor, w: usize, batch: usize, time: usize) -> Result<Tensor> {
        let (d, nh) = (self.cfg.dim, self.cfg.heads);
        let hd = d / nh;
        let qkv = linear(x, self.p(w), Some(self.p(w + 1)))?; // [B·T, 3D]
        let qkv = qkv.reshape((batch, time, 3, nh, hd))?;
        let head = |k: usize| -> Result<Tensor> {
            qkv.narrow(2, k, 1)?
                .squeeze(2)?
                .transpose(1, 2)? // [B, H, T, hd]
                .contiguous()
        };
        let (q, k, v) = (head(0)?, head(1)?, head(2)?);
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = q.matmul(&k.t()?.contiguous()?)?;
        let att = if self.fused {
            crate::kernels::causal_softmax(&scores, scale as f32)?
        } else {
            let mask = self.mask.narrow(0, 0, time)?.narrow(1, 0, time)?;
            softmax_last(&(scores * scale)?.broadcast_add(&mask)?)?
        };
        let y = att.matmul(&v)?; // [B, H, T, hd]
        let y = y
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch * time, d))?;
        linear(&y, self.p(w + 2), Some(self.p(w + 3)))
    }

    /// The full forward pass with autograd through every segment (no segment boundaries):
    /// the loss, or the logits without targets.
    pub fn forward(&self, idx: &Tensor, targets: Option<&Tensor>) -> Result<Tensor> {
        let (b, t) = idx.dims2()?;
        let mut x = self.forward_segment(Segment::Embed, idx, b, t, None)?;
        for i in 0..self.cfg.layers {
            x = self.forward_segment(Segment::Block(i), &x, b, t, None)?;
        }
        self.forward_segment(Segment::Head, &x, b, t, targets)
    }

    /// The number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// The mask's dtype (always f32 here; the model computes in f32).
    pub fn dtype(&self) -> DType {
        DType::F32
    }
}

enum Init {
    Normal(f32),
    Zeros,
    Ones,
}

/// `x·Wᵀ + b` for `x` of `[n, in]` and `W` of `[out, in]`.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let y = x.matmul(&w.t()?)?;
    match b {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// LayerNorm over the last dimension (eps 1e-5, as PyTorch's default).
pub fn layer_norm(x: &Tensor, gain: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
    xn.broadcast_mul(gain)?.broadcast_add(bias)
}

/// Softmax over the last dimension (the maximum subtracted, as a constant, for range).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&m)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// Mean cross-entropy of `logits` `[n, vocab]` against `targets` `[n]` (u32 ids).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let m = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&m)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let logp = shifted.broadcast_sub(&lse)?;
    let picked = logp.gather(&targets.unsqueeze(1)?, 1)?;
    picked.mean_all()?.neg()
}

//! AdamW with its state in plain tensors (so a checkpoint holds it), the learning-rate
//! schedule, and gradient clipping by global norm.

use candle_core::{Result, Tensor, Var};

/// AdamW (decoupled weight decay), as `torch.optim.AdamW`.
#[derive(Debug)]
pub struct AdamW {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay, applied to matrices (rank ≥ 2) only.
    pub weight_decay: f64,
    /// Optimizer steps taken.
    pub step: u64,
    /// First moments, one per parameter.
    pub m: Vec<Tensor>,
    /// Second moments, one per parameter.
    pub v: Vec<Tensor>,
}

impl AdamW {
    /// Zero state for `params`.
    pub fn new(params: &[(String, Var)], weight_decay: f64) -> Result<AdamW> {
        let zeros = |v: &Var| v.as_tensor().zeros_like();
        Ok(AdamW {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay,
            step: 0,
            m: params
                .iter()
                .map(|(_, v)| zeros(v))
                .collect::<Result<_>>()?,
            v: params
                .iter()
                .map(|(_, v)| zeros(v))
                .collect::<Result<_>>()?,
        })
    }

    /// One update of every parameter with its gradient at learning rate `lr`.
    pub fn step(&mut self, params: &[(String, Var)], grads: &[Tensor], lr: f64) -> Result<()> {
        let all: Vec<usize> = (0..params.len()).collect();
        self.step_some(params, &all, grads, lr)
    }

    /// One update of the parameters `which` (indices into `params`), `grads[k]` being the
    /// gradient of `params[which[k]]` (a pipeline stage updates its own parameters only).
    pub fn step_some(
        &mut self,
        params: &[(String, Var)],
        which: &[usize],
        grads: &[Tensor],
        lr: f64,
    ) -> Result<()> {
        self.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.step as i32);
        let c2 = 1.0 - b2.powi(self.step as i32);
        for (&i, g) in which.iter().zip(grads) {
            let p = &params[i].1;
            let m = (self.m[i].affine(b1, 0.0)? + g.affine(1.0 - b1, 0.0)?)?;
            let v = (self.v[i].affine(b2, 0.0)? + g.sqr()?.affine(1.0 - b2, 0.0)?)?;
            let denom = (v.affine(1.0 / c2, 0.0)?.sqrt()? + self.eps)?;
            let update = m.affine(1.0 / c1, 0.0)?.div(&denom)?;
            let decay = if p.rank() >= 2 {
                self.weight_decay
            } else {
                0.0
            };
            let new = (p.as_tensor().affine(1.0 - lr * decay, 0.0)? - update.affine(lr, 0.0)?)?;
            p.set(&new)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }
}

/// Linear warm-up over `warmup` steps, then cosine decay to a tenth of `base` at `total`.
pub fn lr_at(step: u64, base: f64, warmup: u64, total: u64) -> f64 {
    let min = base / 10.0;
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    if step >= total {
        return min;
    }
    let t = (step - warmup) as f64 / (total - warmup).max(1) as f64;
    min + 0.5 * (base - min) * (1.0 + (std::f64::consts::PI * t).cos())
}

/// Scales `grads` so their global L2 norm is at most `max_norm`; returns the norm before.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let mut sq = 0.0f64;
    for g in grads.iter() {
        sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    }
    let norm = sq.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let s = max_norm / (norm + 1e-6);
        for g in grads.iter_mut() {
            *g = g.affine(s, 0.0)?;
        }
    }
    Ok(norm)
}

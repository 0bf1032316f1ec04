//! Fused CPU kernels with hand-written backward passes for the operations that dominate a
//! small transformer's step on CPU when composed from elementwise tensor ops: GELU,
//! the causal softmax of attention, LayerNorm and cross-entropy. Each is one pass over
//! memory (rows in parallel) instead of five to ten allocating passes.
//!
//! Each has a composite twin in [`crate::model`] built from candle's differentiable
//! primitives; tests check that both give the same values and gradients. Off the CPU (CUDA)
//! the model uses the composite versions.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, bail,
};
use rayon::prelude::*;

fn f32s<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("{op}: only f32 is supported")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("{op}: the input must be contiguous"),
    }
}

fn last_dim(l: &Layout) -> usize {
    *l.shape().dims().last().unwrap_or(&1)
}

const K: f32 = 0.797_884_6; // sqrt(2/pi)
const C: f32 = 0.044_715;

/// tanh through one `exp` (libm's `tanhf` costs several times more and dominated the
/// step); absolute error ~1e-7, which GELU multiplies by x.
#[inline]
fn tanh(u: f32) -> f32 {
    1.0 - 2.0 / ((2.0 * u).exp() + 1.0)
}

/// GELU, tanh approximation (PyTorch's `approximate="tanh"`).
struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "strata-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, self.name())?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(4096)
            .zip(x.par_chunks(4096))
            .for_each(|(y, x)| {
                for (y, &x) in y.iter_mut().zip(x) {
                    let t = tanh(K * (x + C * x * x * x));
                    *y = 0.5 * x * (1.0 + t);
                }
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &GeluBwd)?))
    }
}

struct GeluBwd;

impl CustomOp2 for GeluBwd {
    fn name(&self) -> &'static str {
        "strata-gelu-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let g = f32s(s2, l2, self.name())?;
        let mut d = vec![0f32; x.len()];
        d.par_chunks_mut(4096)
            .zip(x.par_chunks(4096).zip(g.par_chunks(4096)))
            .for_each(|(d, (x, g))| {
                for ((d, &x), &g) in d.iter_mut().zip(x).zip(g) {
                    let t = tanh(K * (x + C * x * x * x));
                    let dt = (1.0 - t * t) * K * (1.0 + 3.0 * C * x * x);
                    *d = g * (0.5 * (1.0 + t) + 0.5 * x * dt);
                }
            });
        Ok((CpuStorage::F32(d), l1.shape().clone()))
    }
}

/// `gelu(x)` by the fused kernel.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu)
}

/// Softmax over the last dimension of `scale · x` with a causal mask: row `i` of each
/// `[T, T]` matrix keeps columns `0..=i` (the rest get probability 0).
struct CausalSoftmax {
    scale: f32,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "strata-causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, self.name())?;
        let t = last_dim(l);
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(t)
            .zip(x.par_chunks(t))
            .enumerate()
            .for_each(|(r, (y, x))| {
                let keep = r % t + 1;
                let m = x[..keep]
                    .iter()
                    .fold(f32::NEG_INFINITY, |m, &v| m.max(v * self.scale));
                let mut sum = 0.0;
                for (y, &x) in y[..keep].iter_mut().zip(&x[..keep]) {
                    *y = (x * self.scale - m).exp();
                    sum += *y;
                }
                let inv = 1.0 / sum;
                y[..keep].iter_mut().for_each(|y| *y *= inv);
            });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(
            &grad.contiguous()?,
            &SoftmaxBwd { scale: self.scale },
        )?))
    }
}

struct SoftmaxBwd {
    scale: f32,
}

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "strata-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let p = f32s(s1, l1, self.name())?;
        let g = f32s(s2, l2, self.name())?;
        let t = last_dim(l1);
        let mut d = vec![0f32; p.len()];
        d.par_chunks_mut(t)
            .zip(p.par_chunks(t).zip(g.par_chunks(t)))
            .for_each(|(d, (p, g))| {
                let dot: f32 = p.iter().zip(g).map(|(p, g)| p * g).sum();
                for ((d, &p), &g) in d.iter_mut().zip(p).zip(g) {
                    *d = self.scale * p * (g - dot);
                }
            });
        Ok((CpuStorage::F32(d), l1.shape().clone()))
    }
}

/// Causal softmax of `scale · x` over the last dimension (`x` is `[.., T, T]`).
pub fn causal_softmax(x: &Tensor, scale: f32) -> Result<Tensor> {
    x.contiguous()?.apply_op1(CausalSoftmax { scale })
}

const EPS: f32 = 1e-5;

/// LayerNorm over the last dimension with gain and bias.
struct LayerNorm;

fn row_stats(x: &[f32]) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + EPS).sqrt())
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "strata-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let (w, b) = (f32s(s2, l2, self.name())?, f32s(s3, l3, self.name())?);
        let d = last_dim(l1);
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(d).zip(x.par_chunks(d)).for_each(|(y, x)| {
            let (mean, rstd) = row_stats(x);
            for i in 0..d {
                y[i] = (x[i] - mean) * rstd * w[i] + b[i];
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = w.dim(0)?;
        let rows = x.elem_count() / d;
        let packed = x.apply_op3_no_bwd(w, &grad.contiguous()?, &LayerNormBwd)?;
        let dx = packed.narrow(0, 0, rows * d)?.reshape(x.shape())?;
        let dw = packed.narrow(0, rows * d, d)?;
        let db = packed.narrow(0, rows * d + d, d)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// LayerNorm's backward: `dx` for every row, then `dw` and `db`, packed in one vector.
struct LayerNormBwd;

impl CustomOp3 for LayerNormBwd {
    fn name(&self) -> &'static str {
        "strata-layer-norm-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let w = f32s(s2, l2, self.name())?;
        let g = f32s(s3, l3, self.name())?;
        let d = w.len();
        let rows = x.len() / d;
        let mut out = vec![0f32; x.len() + 2 * d];
        let (dx, dwb) = out.split_at_mut(x.len());
        dx.par_chunks_mut(d)
            .zip(x.par_chunks(d).zip(g.par_chunks(d)))
            .for_each(|(dx, (x, g))| {
                let (mean, rstd) = row_stats(x);
                // dxhat = g·w; dx = rstd · (dxhat − mean(dxhat) − xhat · mean(dxhat·xhat))
                let (mut a, mut c) = (0f32, 0f32);
                for i in 0..d {
                    let xh = (x[i] - mean) * rstd;
                    let dxh = g[i] * w[i];
                    a += dxh;
                    c += dxh * xh;
                }
                let (a, c) = (a / d as f32, c / d as f32);
                for i in 0..d {
                    let xh = (x[i] - mean) * rstd;
                    dx[i] = rstd * (g[i] * w[i] - a - xh * c);
                }
            });
        // Gain and bias gradients: sums over rows (in row order, so deterministic).
        let (dw, db) = dwb.split_at_mut(d);
        for r in 0..rows {
            let (x, g) = (&x[r * d..(r + 1) * d], &g[r * d..(r + 1) * d]);
            let (mean, rstd) = row_stats(x);
            for i in 0..d {
                dw[i] += g[i] * (x[i] - mean) * rstd;
                db[i] += g[i];
            }
        }
        Ok((CpuStorage::F32(out), Shape::from(x.len() + 2 * d)))
    }
}

/// LayerNorm (eps 1e-5) of `x` over its last dimension.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op3(w, b, LayerNorm)
}

/// Mean cross-entropy of `[n, v]` logits against `[n]` u32 targets.
struct CrossEntropy;

fn u32s<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [u32]> {
    let CpuStorage::U32(v) = s else {
        bail!("cross-entropy: targets must be u32")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("cross-entropy: targets must be contiguous"),
    }
}

fn log_softmax_row(x: &[f32]) -> (f32, f32) {
    let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let lse = x.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
    (m, lse)
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "strata-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let t = u32s(s2, l2)?;
        let v = last_dim(l1);
        let losses: Vec<f32> = x
            .par_chunks(v)
            .zip(t.par_iter())
            .map(|(x, &t)| {
                let (m, lse) = log_softmax_row(x);
                -(x[t as usize] - m - lse)
            })
            .collect();
        let mean = losses.iter().map(|&l| l as f64).sum::<f64>() / losses.len() as f64;
        Ok((CpuStorage::F32(vec![mean as f32]), Shape::from(())))
    }

    fn bwd(
        &self,
        x: &Tensor,
        t: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = x.apply_op2_no_bwd(t, &CrossEntropyBwd)?;
        Ok((Some(d.broadcast_mul(grad)?), None))
    }
}

struct CrossEntropyBwd;

impl CustomOp2 for CrossEntropyBwd {
    fn name(&self) -> &'static str {
        "strata-cross-entropy-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let t = u32s(s2, l2)?;
        let v = last_dim(l1);
        let n = t.len() as f32;
        let mut d = vec![0f32; x.len()];
        d.par_chunks_mut(v)
            .zip(x.par_chunks(v).zip(t.par_iter()))
            .for_each(|(d, (x, &t))| {
                let (m, lse) = log_softmax_row(x);
                for (d, &x) in d.iter_mut().zip(x) {
                    *d = (x - m - lse).exp() / n;
                }
                d[t as usize] -= 1.0 / n;
            });
        Ok((CpuStorage::F32(d), l1.shape().clone()))
    }
}

/// Mean cross-entropy of `logits` `[n, vocab]` against `targets` `[n]`.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    logits
        .contiguous()?
        .apply_op2(&targets.contiguous()?, CrossEntropy)
}

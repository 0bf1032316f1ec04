//! Running a contiguous range of the model's segments forward, keeping what backward
//! needs, and backward again from an upstream gradient: the unit both data parallelism
//! (the whole model, gradients handed out as each segment finishes) and pipeline
//! parallelism (one stage's segments per rank) are built from.

use candle_core::{Tensor, Var};

use crate::TrainError;
use crate::model::{Gpt, Segment};

/// What a forward pass over some segments keeps for its backward pass.
#[derive(Debug)]
pub struct Saved {
    segs: Vec<Segment>,
    /// Each segment's input as a leaf variable (`None` for the embeddings' token ids).
    inputs: Vec<Option<Var>>,
    /// Each segment's output (the last is the loss when the range ends with the head).
    outputs: Vec<Tensor>,
}

impl Saved {
    /// The range's output (activations, or the loss).
    pub fn output(&self) -> &Tensor {
        self.outputs.last().expect("a non-empty range")
    }
}

/// Runs `segs` forward on `input` (token ids when the range starts with the embeddings,
/// else `[batch·time, dim]` activations); `targets` are needed when it ends with the head.
pub fn forward(
    model: &Gpt,
    segs: &[Segment],
    input: &Tensor,
    batch: usize,
    time: usize,
    targets: Option<&Tensor>,
) -> Result<Saved, TrainError> {
    let mut inputs = Vec::with_capacity(segs.len());
    let mut outputs = Vec::with_capacity(segs.len());
    let mut h = input.clone();
    for &s in segs {
        let (var, xin) = match s {
            Segment::Embed => (None, h.clone()),
            _ => {
                let v = Var::from_tensor(&h.detach())?;
                let t = v.as_tensor().clone();
                (Some(v), t)
            }
        };
        let y = if s == Segment::Head { targets } else { None };
        h = model.forward_segment(s, &xin, batch, time, y)?;
        inputs.push(var);
        outputs.push(h.clone());
    }
    Ok(Saved {
        segs: segs.to_vec(),
        inputs,
        outputs,
    })
}

/// Backward through the saved segments, last to first. `upstream` is the gradient of the
/// range's output (`None` when the output is the loss). Each parameter's gradient is handed
/// to `on_grad(index, gradient)` as soon as its segment is done. Returns the gradient of
/// the range's input (`None` when it starts with the embeddings).
pub fn backward(
    model: &Gpt,
    saved: Saved,
    upstream: Option<Tensor>,
    on_grad: &mut dyn FnMut(usize, Tensor) -> Result<(), TrainError>,
) -> Result<Option<Tensor>, TrainError> {
    let mut upstream = upstream;
    for k in (0..saved.segs.len()).rev() {
        let root = match &upstream {
            None => saved.outputs[k].clone(),
            // d(out·g)/dθ = gᵀ·dout/dθ: seeds backward with the upstream gradient.
            Some(g) => (&saved.outputs[k] * g)?.sum_all()?,
        };
        let grads = root.backward()?;
        for i in model.segment_params(saved.segs[k]) {
            let p = model.params[i].1.as_tensor();
            let g = match grads.get(p) {
                Some(g) => g.clone(),
                None => p.zeros_like()?,
            };
            on_grad(i, g)?;
        }
        upstream = match &saved.inputs[k] {
            Some(v) => Some(match grads.get(v.as_tensor()) {
                Some(g) => g.clone(),
                None => v.as_tensor().zeros_like()?,
            }),
            None => None,
        };
    }
    Ok(upstream)
}

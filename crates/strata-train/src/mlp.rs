//! A multi-layer perceptron classifier on tabular or image data (scikit-learn's digits:
//! 8×8 images as 64 pixel counts and a label): the second real workload, trained with the
//! same kernels and AdamW as the GPT.

use std::io::Read;

use candle_core::{Device, Tensor, Var};
use rand::{SeedableRng, rngs::SmallRng, seq::SliceRandom};

use crate::TrainError;
use crate::kernels;
use crate::model::linear;
use crate::optim::{self, AdamW};

/// A labelled data set: rows of features, class labels.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// Feature rows, scaled to [0, 1] by the largest value.
    pub x: Vec<Vec<f32>>,
    /// Class of each row.
    pub y: Vec<u32>,
    /// Number of classes (largest label + 1).
    pub classes: usize,
}

impl Labelled {
    /// Reads CSV rows of numbers, the label last (gzip-compressed when the path ends in
    /// `.gz`).
    pub fn load_csv(path: &str) -> Result<Labelled, TrainError> {
        let bytes = std::fs::read(path).map_err(|e| TrainError::Usage(format!("{path}: {e}")))?;
        let mut text = String::new();
        if path.ends_with(".gz") {
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .map_err(|e| TrainError::Usage(format!("{path}: not gzip text: {e}")))?;
        } else {
            text = String::from_utf8(bytes)
                .map_err(|_| TrainError::Usage(format!("{path}: not UTF-8")))?;
        }
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let vals: Result<Vec<f32>, _> =
                line.split(',').map(|v| v.trim().parse::<f32>()).collect();
            let mut vals = vals.map_err(|_| {
                TrainError::Usage(format!(
                    "{path}:{}: expected numbers separated by commas",
                    n + 1
                ))
            })?;
            let label = vals
                .pop()
                .filter(|l| *l >= 0.0 && l.fract() == 0.0)
                .ok_or_else(|| {
                    TrainError::Usage(format!(
                        "{path}:{}: the last column must be a class number",
                        n + 1
                    ))
                })?;
            if x.first().is_some_and(|r: &Vec<f32>| r.len() != vals.len()) {
                return Err(TrainError::Usage(format!(
                    "{path}:{}: rows differ in length",
                    n + 1
                )));
            }
            x.push(vals);
            y.push(label as u32);
        }
        if x.len() < 10 {
            return Err(TrainError::Usage(format!("{path}: fewer than 10 rows")));
        }
        let max = x
            .iter()
            .flatten()
            .fold(0f32, |m, v| m.max(v.abs()))
            .max(1e-6);
        x.iter_mut().flatten().for_each(|v| *v /= max);
        let classes = *y.iter().max().unwrap() as usize + 1;
        Ok(Labelled { x, y, classes })
    }

    /// Shuffles with `seed` and splits off the last `test` fraction.
    pub fn split(&self, test: f64, seed: u64) -> (Labelled, Labelled) {
        let mut idx: Vec<usize> = (0..self.x.len()).collect();
        idx.shuffle(&mut SmallRng::seed_from_u64(seed));
        let cut = ((1.0 - test) * idx.len() as f64) as usize;
        let take = |ix: &[usize]| Labelled {
            x: ix.iter().map(|&i| self.x[i].clone()).collect(),
            y: ix.iter().map(|&i| self.y[i]).collect(),
            classes: self.classes,
        };
        (take(&idx[..cut]), take(&idx[cut..]))
    }

    fn tensors(&self, rows: &[usize], device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
        let d = self.x[0].len();
        let x: Vec<f32> = rows
            .iter()
            .flat_map(|&i| self.x[i].iter().copied())
            .collect();
        let y: Vec<u32> = rows.iter().map(|&i| self.y[i]).collect();
        Ok((
            Tensor::from_vec(x, (rows.len(), d), device)?,
            Tensor::from_vec(y, rows.len(), device)?,
        ))
    }
}

/// An MLP: `inputs → hidden (GELU) → … → classes`.
#[derive(Debug)]
pub struct Mlp {
    /// `(name, weight [out, in])` and `(name, bias [out])` per layer, in order.
    pub params: Vec<(String, Var)>,
}

impl Mlp {
    /// Layers of widths `inputs, hidden.., classes`, weights N(0, 1/√in) from `seed`.
    pub fn new(
        inputs: usize,
        hidden: &[usize],
        classes: usize,
        seed: u64,
        device: &Device,
    ) -> candle_core::Result<Mlp> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let widths: Vec<usize> = std::iter::once(inputs)
            .chain(hidden.iter().copied())
            .chain([classes])
            .collect();
        let mut params = Vec::new();
        for (l, w) in widths.windows(2).enumerate() {
            let std = 1.0 / (w[0] as f32).sqrt();
            let data = crate::model::normal(&mut rng, w[0] * w[1], std);
            params.push((
                format!("fc{l}.weight"),
                Var::from_tensor(&Tensor::from_vec(data, (w[1], w[0]), device)?)?,
            ));
            params.push((
                format!("fc{l}.bias"),
                Var::from_tensor(&Tensor::zeros(w[1], candle_core::DType::F32, device)?)?,
            ));
        }
        Ok(Mlp { params })
    }

    /// Logits `[n, classes]` for `x` `[n, inputs]`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        let layers = self.params.len() / 2;
        for l in 0..layers {
            h = linear(
                &h,
                self.params[2 * l].1.as_tensor(),
                Some(self.params[2 * l + 1].1.as_tensor()),
            )?;
            if l + 1 < layers {
                h = kernels::gelu(&h)?;
            }
        }
        Ok(h)
    }

    /// The fraction of `data` classified correctly.
    pub fn accuracy(&self, data: &Labelled, device: &Device) -> candle_core::Result<f64> {
        let rows: Vec<usize> = (0..data.x.len()).collect();
        let (x, y) = data.tensors(&rows, device)?;
        let pred = self.forward(&x)?.argmax(1)?.to_vec1::<u32>()?;
        let ok = pred
            .iter()
            .zip(y.to_vec1::<u32>()?)
            .filter(|(p, y)| **p == *y)
            .count();
        Ok(ok as f64 / rows.len() as f64)
    }
}

/// How [`train`] runs.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Optimizer steps (mini-batches).
    pub steps: u64,
    /// Rows per mini-batch (epochs reshuffled from `seed`).
    pub batch: usize,
    /// Peak learning rate (AdamW; warm-up over a tenth of the steps, cosine decay).
    pub lr: f64,
    /// Seed for the batch order.
    pub seed: u64,
}

/// Trains `model` on `train`; `on_step(step, loss)` per step.
pub fn train(
    model: &Mlp,
    train: &Labelled,
    sched: &Schedule,
    device: &Device,
    on_step: &mut dyn FnMut(u64, f64),
) -> Result<(), TrainError> {
    let Schedule {
        steps,
        batch,
        lr,
        seed,
    } = sched.clone();
    let mut opt = AdamW::new(&model.params, 1e-4)?;
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xd161);
    let mut order: Vec<usize> = Vec::new();
    let batch = batch.clamp(1, train.x.len());
    for step in 0..steps {
        if order.len() < batch {
            let mut epoch: Vec<usize> = (0..train.x.len()).collect();
            epoch.shuffle(&mut rng);
            order.extend(epoch);
        }
        let rows: Vec<usize> = order.drain(..batch).collect();
        let (x, y) = train.tensors(&rows, device)?;
        let loss = kernels::cross_entropy(&model.forward(&x)?, &y)?;
        let g = loss.backward()?;
        let mut grads: Vec<Tensor> = model
            .params
            .iter()
            .map(|(_, v)| {
                g.get(v.as_tensor())
                    .cloned()
                    .map_or_else(|| v.as_tensor().zeros_like(), Ok)
            })
            .collect::<candle_core::Result<_>>()?;
        optim::clip_grad_norm(&mut grads, 1.0)?;
        opt.step(
            &model.params,
            &grads,
            optim::lr_at(step, lr, (steps / 10).max(1), steps),
        )?;
        on_step(step + 1, loss.to_scalar::<f32>()? as f64);
    }
    Ok(())
}

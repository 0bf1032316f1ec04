//! In-database training, as Bismarck does it: logistic regression by stochastic gradient
//! descent written as an aggregate, so the engine's own scan, partitioning and
//! parallelism run it.
//!
//! `train_logistic(label, x1, ..., xd [, 'epochs=20 step=0.02 l2=0.0001 seed=42'])`:
//! - *transition*: each group's rows (label 0/1 or boolean, then the features as
//!   numbers; rows with a NULL are skipped, as aggregates skip NULLs) are buffered in the
//!   aggregation's state, which holds a memory reservation like any other;
//! - *terminate* of a partial state: [`train`] runs `epochs` passes of SGD over the buffer
//!   (rows shuffled per pass with `seed`, features standardised internally, step
//!   `step / sqrt(1 + epoch)`, L2 penalty `l2`), giving a model in the raw feature space;
//! - *merge*: models of different partitions (threads, spilled runs, cluster tasks) are
//!   averaged, weighted by the rows each saw — Bismarck's shared-nothing model averaging.
//!
//! The result is the model as JSON text (`{"model":"logistic_regression","features":d,
//! "rows":n,"intercept":b,"coefficients":[...]}`, scikit-learn's names), which
//! `predict_logistic(model, x1, ..., xd)` turns into probabilities.

use crate::error::{Result, SqlError};
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, FixedSizeBinaryBuilder, Float64Array, StringArray,
};
use arrow::datatypes::{DataType, Float64Type};
use std::sync::Arc;

/// SGD settings of one `train_logistic` call (floats kept as bits so plans compare).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Sgd {
    /// Passes over the data.
    pub epochs: u32,
    step: u64,
    l2: u64,
    /// Seed of the per-pass shuffles.
    pub seed: u64,
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd {
            epochs: 20,
            step: 0.02f64.to_bits(),
            l2: 1e-4f64.to_bits(),
            seed: 42,
        }
    }
}

impl Sgd {
    /// The initial step size.
    pub fn step(&self) -> f64 {
        f64::from_bits(self.step)
    }

    /// The L2 penalty per row.
    pub fn l2(&self) -> f64 {
        f64::from_bits(self.l2)
    }

    /// Parses `'epochs=20 step=0.02 l2=0.0001 seed=42'` (any subset, separated by spaces or
    /// commas); unknown names and bad values are errors that list the settings.
    pub fn parse(text: &str) -> Result<Sgd> {
        let mut s = Sgd::default();
        let bad = |what: &str| {
            SqlError::Plan(format!(
                "train_logistic options: {what}; expected e.g. 'epochs=20 step=0.02 \
                 l2=0.0001 seed=42' (epochs 1..=10000, step > 0, l2 >= 0)"
            ))
        };
        for item in text.split([' ', ',']).filter(|i| !i.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| bad(&format!("'{item}' is not name=value")))?;
            let num = || {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| bad(&format!("{k}={v} is not a number")))
            };
            match k.trim().to_lowercase().as_str() {
                "epochs" => {
                    s.epochs = v
                        .parse()
                        .ok()
                        .filter(|e| (1..=10_000).contains(e))
                        .ok_or_else(|| bad(&format!("epochs={v}")))?
                }
                "step" | "lr" => {
                    let x = num()?;
                    if x <= 0.0 {
                        return Err(bad(&format!("step={v}")));
                    }
                    s.step = x.to_bits();
                }
                "l2" => {
                    let x = num()?;
                    if x < 0.0 {
                        return Err(bad(&format!("l2={v}")));
                    }
                    s.l2 = x.to_bits();
                }
                "seed" => s.seed = v.parse().map_err(|_| bad(&format!("seed={v}")))?,
                other => return Err(bad(&format!("unknown setting '{other}'"))),
            }
        }
        Ok(s)
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Trains on `rows` (flattened `[label, x1..xd]`, stride `d + 1`); returns the model
/// packed as `[rows, intercept, w1..wd]` in the raw feature space, `None` without rows.
pub fn train(rows: &[f64], d: usize, sgd: &Sgd) -> Option<Vec<f64>> {
    let stride = d + 1;
    let n = rows.len() / stride;
    if n == 0 {
        return None;
    }
    // Standardise: SGD's step then suits any feature scale.
    let (mut mean, mut sd) = (vec![0.0; d], vec![0.0; d]);
    for r in rows.chunks_exact(stride) {
        for j in 0..d {
            mean[j] += r[j + 1];
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    for r in rows.chunks_exact(stride) {
        for j in 0..d {
            sd[j] += (r[j + 1] - mean[j]).powi(2);
        }
    }
    for s in sd.iter_mut() {
        *s = (*s / n as f64).sqrt();
        if *s < 1e-12 {
            *s = 1.0;
        }
    }
    let (mut w, mut b) = (vec![0.0; d], 0.0);
    let mut x = vec![0.0; d];
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut rng = sgd.seed;
    for epoch in 0..sgd.epochs {
        for i in (1..n).rev() {
            let j = (splitmix(&mut rng) % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let step = sgd.step() / (1.0 + epoch as f64).sqrt();
        for &i in &order {
            let r = &rows[i as usize * stride..(i as usize + 1) * stride];
            let mut z = b;
            for j in 0..d {
                x[j] = (r[j + 1] - mean[j]) / sd[j];
                z += w[j] * x[j];
            }
            let g = sigmoid(z) - r[0];
            b -= step * g;
            for j in 0..d {
                w[j] -= step * (g * x[j] + sgd.l2() * w[j]);
            }
        }
    }
    let mut out = Vec::with_capacity(d + 2);
    out.push(n as f64);
    out.push(b - (0..d).map(|j| w[j] * mean[j] / sd[j]).sum::<f64>());
    out.extend((0..d).map(|j| w[j] / sd[j]));
    Some(out)
}

/// Little-endian bytes of `v`.
pub fn pack(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The floats packed in `b`.
pub fn unpack(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// `[label, x1..xd]` per row as packed floats (NULL where any is NULL): the one argument
/// the aggregate sees. The label must be 0/1 or boolean.
pub fn pack_row_args(args: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
    let cols = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let f = arrow::compute::cast(a, &DataType::Float64).map_err(|_| {
                SqlError::Plan(format!(
                    "train_logistic: argument {} must be a number{}, got {}",
                    i + 1,
                    if i == 0 {
                        " or boolean (the label)"
                    } else {
                        ""
                    },
                    a.data_type()
                ))
            })?;
            Ok(f.as_primitive::<Float64Type>().clone())
        })
        .collect::<Result<Vec<Float64Array>>>()?;
    let mut out = FixedSizeBinaryBuilder::with_capacity(rows, 8 * cols.len() as i32);
    let mut buf = Vec::with_capacity(8 * cols.len());
    for i in 0..rows {
        if cols.iter().any(|c| c.is_null(i)) {
            out.append_null();
            continue;
        }
        let label = cols[0].value(i);
        if label != 0.0 && label != 1.0 {
            return Err(SqlError::Plan(format!(
                "train_logistic: the label (first argument) must be 0 or 1 (or boolean), got \
                 {label}"
            )));
        }
        buf.clear();
        for c in &cols {
            buf.extend_from_slice(&c.value(i).to_le_bytes());
        }
        out.append_value(&buf)?;
    }
    Ok(Arc::new(out.finish()))
}

/// Refuses arguments (from position `from`) that are not numbers or booleans: a cast
/// would turn them into NULLs, and the rows would be skipped without a word.
pub fn check_numbers(
    func: &str,
    args: &[crate::expr::Expr],
    from: usize,
    scope: &crate::bind::Scope,
) -> Result<()> {
    for (i, a) in args.iter().enumerate().skip(from) {
        let t = a.data_type(&scope.schema)?;
        if !(t.is_numeric() || t.is_null() || t == DataType::Boolean) {
            return Err(SqlError::Plan(format!(
                "{func}: argument {} ({a}) must be a number or boolean, got {t}",
                i + 1
            )));
        }
    }
    Ok(())
}

/// Packed models (`[rows, intercept, w...]`, NULL for none) as JSON text.
pub fn models_to_json(packed: &ArrayRef) -> Result<ArrayRef> {
    let b = packed
        .as_any()
        .downcast_ref::<BinaryArray>()
        .ok_or_else(|| SqlError::Internal("train_logistic state is not binary".into()))?;
    let out: StringArray = (0..b.len())
        .map(|i| {
            if b.is_null(i) {
                return None;
            }
            let v = unpack(b.value(i));
            Some(
                serde_json::json!({
                    "model": "logistic_regression",
                    "features": v.len() - 2,
                    "rows": v[0] as u64,
                    "intercept": v[1],
                    "coefficients": &v[2..],
                })
                .to_string(),
            )
        })
        .collect();
    Ok(Arc::new(out))
}

/// A model parsed from its JSON text.
struct Model {
    intercept: f64,
    coefficients: Vec<f64>,
}

fn parse_model(text: &str) -> Result<Model> {
    let bad = || {
        SqlError::Plan(format!(
            "predict_logistic: the first argument must be a model made by train_logistic, \
             got '{}'",
            text.chars().take(60).collect::<String>()
        ))
    };
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    if v["model"] != "logistic_regression" {
        return Err(bad());
    }
    let intercept = v["intercept"].as_f64().ok_or_else(bad)?;
    let coefficients = v["coefficients"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|c| c.as_f64().ok_or_else(bad))
        .collect::<Result<Vec<_>>>()?;
    Ok(Model {
        intercept,
        coefficients,
    })
}

/// `predict_logistic(model, x1..xd)`: the probability of label 1 per row (NULL where the
/// model or a feature is NULL). `model` holds one value per row, or one for all rows
/// (`one_model`: a constant or a scalar subquery, parsed once).
pub fn predict(
    model: &ArrayRef,
    one_model: bool,
    xs: &[ArrayRef],
    rows: usize,
) -> Result<ArrayRef> {
    let model = arrow::compute::cast(model, &DataType::Utf8).map_err(|_| {
        SqlError::Plan(format!(
            "predict_logistic: the first argument must be the model text, got {}",
            model.data_type()
        ))
    })?;
    let model = model.as_string::<i32>();
    let xs = xs
        .iter()
        .map(|a| {
            let f = arrow::compute::cast(a, &DataType::Float64).map_err(|_| {
                SqlError::Plan(format!(
                    "predict_logistic: features must be numbers, got {}",
                    a.data_type()
                ))
            })?;
            Ok(f.as_primitive::<Float64Type>().clone())
        })
        .collect::<Result<Vec<Float64Array>>>()?;
    let mut cache: Option<(String, Model)> = None;
    let mut out = Vec::with_capacity(rows);
    for i in 0..rows {
        let at = if one_model { 0 } else { i };
        if model.is_null(at) || xs.iter().any(|x| x.is_null(i)) {
            out.push(None);
            continue;
        }
        let text = model.value(at);
        if cache.as_ref().is_none_or(|(t, _)| t != text) {
            cache = Some((text.to_string(), parse_model(text)?));
        }
        let m = &cache.as_ref().expect("set above").1;
        if m.coefficients.len() != xs.len() {
            return Err(SqlError::Plan(format!(
                "predict_logistic: the model has {} features, the call passes {}",
                m.coefficients.len(),
                xs.len()
            )));
        }
        let z = m.intercept
            + m.coefficients
                .iter()
                .zip(&xs)
                .map(|(w, x)| w * x.value(i))
                .sum::<f64>();
        out.push(Some(sigmoid(z)));
    }
    Ok(Arc::new(Float64Array::from(out)))
}

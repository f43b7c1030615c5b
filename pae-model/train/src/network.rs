//! The model and its training: a GRU over the [`FEATURES`] inputs of each
//! step, then a dense layer to [`CLASSES`] logits.
//!
//! The GRU is written from candle tensor operations (autograd does the
//! back-propagation through time) directly in ONNX's form, so nothing has
//! to be remapped at export: gates in the order z (update), r (reset), h,
//! and `linear_before_reset = 1`:
//!
//! ```text
//! z = σ(x·Wzᵀ + Wbz + h·Rzᵀ + Rbz)
//! r = σ(x·Wrᵀ + Wbr + h·Rrᵀ + Rbr)
//! n = tanh(x·Whᵀ + Wbh + r ⊙ (h·Rhᵀ + Rbh))
//! h' = (1 − z) ⊙ n + z ⊙ h
//! ```
//!
//! (PyTorch's and candle-nn's GRU are the same cell with the gates stored
//! r, z, n.) Every product is a broadcast multiply and a sum over the last
//! dimension, and the input product is a row lookup (inputs are one-hot per
//! group): candle's matrix multiply picks SIMD kernels at run time and may
//! split work across threads, its sums do neither, so the result does not
//! depend on the CPU's features or the thread count. (`exp`, `ln` and
//! `tanh` come from the system's libm: the one platform dependency left.)

use crate::data::{Prepared, Window, windows};
use crate::rng::Rng;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use pae_model::features::{ACTIVE, CLASSES, FEATURES};
use std::time::Instant;

/// The weights of the model in ONNX layout, as floats.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatModel {
    /// Hidden size H.
    pub hidden: usize,
    /// GRU input weights `W`, [3H, FEATURES], gates z, r, h.
    pub w: Vec<f32>,
    /// GRU recurrent weights `R`, [3H, H].
    pub r: Vec<f32>,
    /// GRU biases `B`, [6H]: Wb (z, r, h), then Rb (z, r, h).
    pub b: Vec<f32>,
    /// Dense weights `D`, [H, CLASSES].
    pub d: Vec<f32>,
    /// Dense bias, [CLASSES].
    pub d_bias: Vec<f32>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl FloatModel {
    /// Weights drawn uniformly from ±1/√H (PyTorch's GRU default), the
    /// dense bias set to the logit of each class's frequency `priors`.
    pub fn initial(hidden: usize, priors: &[f32; CLASSES], rng: &mut Rng) -> FloatModel {
        let bound = 1.0 / (hidden as f32).sqrt();
        let mut draw = |count: usize| (0..count).map(|_| rng.symmetric(bound)).collect::<Vec<f32>>();
        let w = draw(3 * hidden * FEATURES);
        let r = draw(3 * hidden * hidden);
        let b = draw(6 * hidden);
        let d = draw(hidden * CLASSES);
        let d_bias = priors.iter().map(|&p| {
            let p = p.clamp(1e-4, 1.0 - 1e-4);
            (p / (1.0 - p)).ln()
        });
        FloatModel { hidden, w, r, b, d, d_bias: d_bias.collect() }
    }

    /// Runs the GRU over `inputs` ([steps × FEATURES]) from state `h0`
    /// ([H]), exactly as ONNX defines it, in plain `f32`: the hidden state of
    /// every step ([steps × H]) and the logits ([steps × CLASSES]).
    pub fn run(&self, inputs: &[f32], h0: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let hidden = self.hidden;
        let steps = inputs.len() / FEATURES;
        let mut h = h0.to_vec();
        let mut states = Vec::with_capacity(steps * hidden);
        let mut logits = Vec::with_capacity(steps * CLASSES);
        let mut gx = vec![0.0f32; 3 * hidden];
        let mut gh = vec![0.0f32; 3 * hidden];
        for x in inputs.as_chunks::<FEATURES>().0 {
            for row in 0..3 * hidden {
                let w = &self.w[row * FEATURES..(row + 1) * FEATURES];
                gx[row] = x.iter().zip(w).map(|(a, b)| a * b).sum::<f32>() + self.b[row];
                let r = &self.r[row * hidden..(row + 1) * hidden];
                gh[row] = h.iter().zip(r).map(|(a, b)| a * b).sum::<f32>() + self.b[3 * hidden + row];
            }
            for unit in 0..hidden {
                let z = sigmoid(gx[unit] + gh[unit]);
                let r = sigmoid(gx[hidden + unit] + gh[hidden + unit]);
                let n = (gx[2 * hidden + unit] + r * gh[2 * hidden + unit]).tanh();
                h[unit] = (1.0 - z) * n + z * h[unit];
            }
            states.extend_from_slice(&h);
            logits.extend(self.dense(&h));
        }
        (states, logits)
    }

    /// The dense layer on one state.
    pub fn dense(&self, state: &[f32]) -> [f32; CLASSES] {
        let mut out = [0.0; CLASSES];
        for (class, value) in out.iter_mut().enumerate() {
            *value = (0..self.hidden).map(|unit| state[unit] * self.d[unit * CLASSES + class]).sum::<f32>() + self.d_bias[class];
        }
        out
    }

    /// Parameters in all.
    pub fn parameters(&self) -> usize {
        self.w.len() + self.r.len() + self.b.len() + self.d.len() + self.d_bias.len()
    }
}

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Hidden size H.
    pub hidden: usize,
    /// Passes over the training windows.
    pub epochs: usize,
    /// Steps per window (back-propagation through time is truncated there).
    pub window: usize,
    /// Steps each window after a stream's first replays from the previous
    /// window to warm its state up before its loss counts.
    pub burn_in: usize,
    /// Windows per mini-batch.
    pub batch: usize,
    /// AdamW's learning rate at the start; it decays along a half cosine
    /// to a tenth of that by the last epoch.
    pub learning_rate: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Weight of a positive label's loss relative to a negative's.
    pub positive_weight: f32,
    /// Seed of the initial weights and of the shuffles.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        // Chosen on the shared traces: H = 16 predicts as well as 32 on the
        // held-out tails (F1 0.945 either way) at a third of the integer
        // work per step; past ~40 epochs the held-out loss rises.
        Config {
            hidden: 16,
            epochs: 40,
            window: 64,
            burn_in: 16,
            batch: 32,
            learning_rate: 1e-2,
            weight_decay: 1e-4,
            positive_weight: 1.0,
            seed: 1,
        }
    }
}

/// The loss after one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// From 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's scored steps and classes.
    pub train_loss: f64,
    /// Mean loss over the held-out tails (the float model, run on whole streams).
    pub held_out_loss: f64,
    /// Seconds since training started.
    pub seconds: f64,
}

/// The trainable weights: `W` transposed (a lookup table, one row per
/// input), `R`, the biases, and `D` transposed (one row per class).
struct Parameters {
    w_t: Var,
    r: Var,
    w_bias: Var,
    r_bias: Var,
    d_t: Var,
    d_bias: Var,
}

fn transpose(values: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    (0..columns).flat_map(|column| (0..rows).map(move |row| values[row * columns + column])).collect()
}

impl Parameters {
    fn new(model: &FloatModel, device: &Device) -> Result<Parameters> {
        let h = model.hidden;
        Ok(Parameters {
            w_t: Var::from_vec(transpose(&model.w, 3 * h, FEATURES), (FEATURES, 3 * h), device)?,
            r: Var::from_vec(model.r.clone(), (3 * h, h), device)?,
            w_bias: Var::from_vec(model.b[..3 * h].to_vec(), 3 * h, device)?,
            r_bias: Var::from_vec(model.b[3 * h..].to_vec(), 3 * h, device)?,
            d_t: Var::from_vec(transpose(&model.d, h, CLASSES), (CLASSES, h), device)?,
            d_bias: Var::from_vec(model.d_bias.clone(), CLASSES, device)?,
        })
    }

    fn all(&self) -> Vec<Var> {
        vec![self.w_t.clone(), self.r.clone(), self.w_bias.clone(), self.r_bias.clone(), self.d_t.clone(), self.d_bias.clone()]
    }

    fn model(&self, hidden: usize) -> Result<FloatModel> {
        let values = |var: &Var| var.as_tensor().flatten_all().and_then(|t| t.to_vec1::<f32>());
        let mut b = values(&self.w_bias)?;
        b.extend(values(&self.r_bias)?);
        Ok(FloatModel {
            hidden,
            w: transpose(&values(&self.w_t)?, FEATURES, 3 * hidden),
            r: values(&self.r)?,
            b,
            d: transpose(&values(&self.d_t)?, CLASSES, hidden),
            d_bias: values(&self.d_bias)?,
        })
    }
}

/// One mini-batch, time-major: row `t × batch + b` is step `t` of window `b`.
pub struct Batch {
    /// Windows.
    pub size: usize,
    /// Steps (the longest window's).
    pub steps: usize,
    /// Active input indices, [steps × size × ACTIVE] (padding: `FEATURES`,
    /// a row of zeros).
    pub active: Vec<u32>,
    /// Labels, [steps × size × CLASSES].
    pub labels: Vec<f32>,
    /// 1 where the loss counts, [steps × size].
    pub mask: Vec<f32>,
}

impl Batch {
    /// The windows `chosen` of `data`.
    pub fn new(data: &[Prepared], chosen: &[Window]) -> Batch {
        let size = chosen.len();
        let steps = chosen.iter().map(|window| window.steps).max().unwrap_or(0);
        let mut active = vec![FEATURES as u32; steps * size * ACTIVE];
        let mut labels = vec![0.0; steps * size * CLASSES];
        let mut mask = vec![0.0; steps * size];
        for (column, window) in chosen.iter().enumerate() {
            let stream = &data[window.stream];
            for t in 0..window.steps {
                let row = t * size + column;
                let step = window.start + t;
                for (slot, &index) in active[row * ACTIVE..(row + 1) * ACTIVE].iter_mut().zip(&stream.active[step]) {
                    *slot = u32::from(index);
                }
                for (slot, &label) in labels[row * CLASSES..(row + 1) * CLASSES].iter_mut().zip(&stream.train_labels[step]) {
                    *slot = if label { 1.0 } else { 0.0 };
                }
                if t >= window.scored_from {
                    mask[row] = 1.0;
                }
            }
        }
        Batch { size, steps, active, labels, mask }
    }
}

/// The forward pass on a batch: logits, [steps × size, CLASSES].
fn forward(parameters: &Parameters, hidden: usize, batch: &Batch, device: &Device) -> Result<Tensor> {
    let (steps, size) = (batch.steps, batch.size);
    // x·Wᵀ + Wb for every step at once: the sum of the rows of Wᵀ the
    // active inputs pick; padding picks the extra zero row.
    let table = Tensor::cat(&[parameters.w_t.as_tensor(), &Tensor::zeros((1, 3 * hidden), DType::F32, device)?], 0)?;
    let indices = Tensor::from_slice(&batch.active, batch.active.len(), device)?;
    let gx = table.index_select(&indices, 0)?.reshape((steps, size, ACTIVE, 3 * hidden))?.sum(2)?;
    let gx = gx.broadcast_add(parameters.w_bias.as_tensor())?;
    let r = parameters.r.as_tensor().unsqueeze(0)?;
    let mut h = Tensor::zeros((size, hidden), DType::F32, device)?;
    let mut states = Vec::with_capacity(steps);
    for t in 0..steps {
        let gx_t = gx.get(t)?;
        let gh = h.unsqueeze(1)?.broadcast_mul(&r)?.sum(2)?.broadcast_add(parameters.r_bias.as_tensor())?;
        let zr = candle_nn::ops::sigmoid(&(gx_t.narrow(1, 0, 2 * hidden)? + gh.narrow(1, 0, 2 * hidden)?)?)?;
        let z = zr.narrow(1, 0, hidden)?;
        let reset = zr.narrow(1, hidden, hidden)?;
        let n = (gx_t.narrow(1, 2 * hidden, hidden)? + reset.mul(&gh.narrow(1, 2 * hidden, hidden)?)?)?.tanh()?;
        h = (&n + z.mul(&(&h - &n)?)?)?;
        states.push(h.clone());
    }
    let states = Tensor::stack(&states, 0)?.reshape((steps * size, 1, hidden))?;
    let logits = states.broadcast_mul(&parameters.d_t.as_tensor().unsqueeze(0)?)?.sum(2)?;
    Ok(logits.broadcast_add(parameters.d_bias.as_tensor())?)
}

/// Binary cross-entropy with logits, positives weighted by `positive`,
/// summed over the masked-in rows and divided by their count × CLASSES.
fn loss(logits: &Tensor, batch: &Batch, positive: f32, device: &Device) -> Result<Tensor> {
    let rows = batch.steps * batch.size;
    let labels = Tensor::from_slice(&batch.labels, (rows, CLASSES), device)?;
    let mask = Tensor::from_slice(&batch.mask, (rows, 1), device)?;
    // softplus(x) = max(x, 0) + ln(1 + e^−|x|), stable for any x;
    // loss = (1 − y)·softplus(x) + w·y·softplus(−x) = softplus(x)·(1 − y + w·y) − w·y·x.
    let softplus = (logits.relu()? + (logits.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    let scale = ((&labels * f64::from(positive - 1.0))? + 1.0)?;
    let weighted = (&labels * f64::from(positive))?;
    let per_entry = ((softplus * scale)? - (weighted * logits)?)?;
    let scored: f32 = batch.mask.iter().sum();
    let total = per_entry.broadcast_mul(&mask)?.sum_all()?;
    Ok((total / f64::from(scored.max(1.0) * CLASSES as f32))?)
}

/// Mean weighted BCE of `model` over the held-out tails (whole streams run,
/// only tail steps scored): the number to watch for over-fitting.
pub fn held_out_loss(model: &FloatModel, data: &[Prepared], positive: f32) -> f64 {
    let (mut total, mut count) = (0.0f64, 0usize);
    for stream in data {
        if stream.cut == stream.steps() {
            continue;
        }
        let (_, logits) = model.run(&stream.inputs(0..stream.steps()), &vec![0.0; model.hidden]);
        for (step, labels) in stream.test_labels.iter().enumerate() {
            let row = &logits[(stream.cut + step) * CLASSES..(stream.cut + step + 1) * CLASSES];
            for (&x, &label) in row.iter().zip(labels) {
                let x = f64::from(x);
                let softplus = x.max(0.0) + (-x.abs()).exp().ln_1p();
                total += if label { f64::from(positive) * (softplus - x) } else { softplus };
            }
            count += CLASSES;
        }
    }
    if count == 0 { 0.0 } else { total / count as f64 }
}

/// Which inputs are ever 1 in the training heads.
pub fn seen_inputs(data: &[Prepared]) -> [bool; FEATURES] {
    let mut seen = [false; FEATURES];
    for stream in data {
        for active in &stream.active[..stream.cut] {
            for &index in active {
                seen[usize::from(index)] = true;
            }
        }
    }
    seen
}

/// How often each class is positive over the training heads.
pub fn class_priors(data: &[Prepared]) -> [f32; CLASSES] {
    let mut counts = [0usize; CLASSES];
    let mut steps = 0usize;
    for stream in data {
        for labels in &stream.train_labels {
            for (count, &label) in counts.iter_mut().zip(labels) {
                *count += usize::from(label);
            }
            steps += 1;
        }
    }
    counts.map(|count| count as f32 / steps.max(1) as f32)
}

/// Trains a model on the heads of `data`; `progress` hears about every epoch.
pub fn train(data: &[Prepared], config: &Config, progress: &mut dyn FnMut(&EpochReport)) -> Result<FloatModel> {
    let device = Device::Cpu;
    let all = windows(data, config.window, config.burn_in);
    if all.is_empty() {
        return Err(Error::Data("no training steps".into()));
    }
    let mut initial = FloatModel::initial(config.hidden, &class_priors(data), &mut Rng::derived(config.seed, 1));
    // An input the data never shows gets no gradient: start it at zero so
    // it stays neutral (a partition kind or source unseen in training adds
    // nothing to the gates, rather than a random offset).
    let seen = seen_inputs(data);
    for row in initial.w.chunks_mut(FEATURES) {
        for (weight, &seen) in row.iter_mut().zip(&seen) {
            if !seen {
                *weight = 0.0;
            }
        }
    }
    let parameters = Parameters::new(&initial, &device)?;
    let mut optimizer = AdamW::new(
        parameters.all(),
        ParamsAdamW { lr: config.learning_rate, weight_decay: config.weight_decay, ..ParamsAdamW::default() },
    )?;
    let mut shuffle = Rng::derived(config.seed, 2);
    let started = Instant::now();
    for epoch in 0..config.epochs {
        let progress_fraction = epoch as f64 / config.epochs.max(2).saturating_sub(1) as f64;
        let decay = 0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress_fraction).cos());
        optimizer.set_learning_rate(config.learning_rate * decay);
        let mut order = all.clone();
        shuffle.shuffle(&mut order);
        let (mut total, mut weight) = (0.0f64, 0.0f64);
        for chosen in order.chunks(config.batch) {
            let batch = Batch::new(data, chosen);
            let logits = forward(&parameters, config.hidden, &batch, &device)?;
            let loss = loss(&logits, &batch, config.positive_weight, &device)?;
            optimizer.backward_step(&loss)?;
            let scored: f32 = batch.mask.iter().sum();
            total += f64::from(loss.to_scalar::<f32>()?) * f64::from(scored);
            weight += f64::from(scored);
        }
        let model = parameters.model(config.hidden)?;
        progress(&EpochReport {
            epoch: epoch + 1,
            train_loss: total / weight.max(1.0),
            held_out_loss: held_out_loss(&model, data, config.positive_weight),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    parameters.model(config.hidden)
}

/// The candle forward pass of `model` on `data`'s windows `chosen` (for
/// checking the export against it): logits, time-major as [`Batch`] lays
/// them out.
pub fn candle_logits(model: &FloatModel, data: &[Prepared], chosen: &[Window]) -> Result<Vec<f32>> {
    let device = Device::Cpu;
    let parameters = Parameters::new(model, &device)?;
    let batch = Batch::new(data, chosen);
    Ok(forward(&parameters, model.hidden, &batch, &device)?.flatten_all()?.to_vec1::<f32>()?)
}

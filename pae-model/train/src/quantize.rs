//! Int8 quantization of a trained model: symmetric, per output channel,
//! zero points 0 (`W` and `R` per row, the dense matrix per column); the
//! biases stay float. Calibrated on the training data: each channel's
//! scale is the one (of [`CANDIDATES`] clipping levels between half and
//! all of its largest weight) that minimises the expected squared error of
//! the channel's output over the inputs the training data gives it, and
//! the error's expected value is then folded into the channel's bias
//! ("bias correction"). The inputs' statistics ([`Moments`]) are the
//! one-hot features for `W`, and the GRU's states for `R` and the dense
//! matrix (the states of the GRU with `W` and `R` already quantized, so
//! the dense layer is calibrated on what it will see).

use crate::data::Prepared;
use crate::network::FloatModel;
use pae_model::features::{CLASSES, FEATURES};

/// A quantized model: what the exported graph holds.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedModel {
    /// Hidden size H.
    pub hidden: usize,
    /// `W_q`, [3H, FEATURES].
    pub w_q: Vec<i8>,
    /// `W_scale`, [3H] (one per row).
    pub w_scale: Vec<f32>,
    /// `R_q`, [3H, H].
    pub r_q: Vec<i8>,
    /// `R_scale`, [3H].
    pub r_scale: Vec<f32>,
    /// `B`, [6H], float (bias-corrected).
    pub b: Vec<f32>,
    /// `D_q`, [H, CLASSES].
    pub d_q: Vec<i8>,
    /// `D_scale`, [CLASSES] (one per column).
    pub d_scale: Vec<f32>,
    /// `D_bias`, [CLASSES], float (bias-corrected).
    pub d_bias: Vec<f32>,
}

/// First and second moments of a channel's input vectors: `E[v]` and
/// `E[v vᵀ]` over the samples added.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    size: usize,
    samples: u64,
    sum: Vec<f64>,
    /// Row-major [size × size].
    products: Vec<f64>,
}

impl Moments {
    /// No samples yet, vectors of `size` values.
    pub fn new(size: usize) -> Moments {
        Moments { size, samples: 0, sum: vec![0.0; size], products: vec![0.0; size * size] }
    }

    /// Adds one sample (`size` values).
    pub fn add(&mut self, sample: &[f32]) {
        debug_assert_eq!(sample.len(), self.size);
        self.samples += 1;
        for (i, &a) in sample.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            let a = f64::from(a);
            self.sum[i] += a;
            for (j, &b) in sample.iter().enumerate() {
                self.products[i * self.size + j] += a * f64::from(b);
            }
        }
    }

    /// Adds `count` samples laid end to end.
    pub fn add_all(&mut self, samples: &[f32]) {
        for sample in samples.chunks_exact(self.size) {
            self.add(sample);
        }
    }

    /// `E[e·v]` for a weight error vector `e`.
    fn mean_error(&self, error: &[f64]) -> f64 {
        if self.samples == 0 {
            return 0.0;
        }
        error.iter().zip(&self.sum).map(|(e, s)| e * s).sum::<f64>() / self.samples as f64
    }

    /// `E[(e·v)²] = eᵀ E[v vᵀ] e` for a weight error vector `e`.
    fn squared_error(&self, error: &[f64]) -> f64 {
        if self.samples == 0 {
            return 0.0;
        }
        let mut total = 0.0;
        for (i, &a) in error.iter().enumerate() {
            if a != 0.0 {
                let row = &self.products[i * self.size..(i + 1) * self.size];
                total += a * row.iter().zip(error).map(|(p, b)| p * b).sum::<f64>();
            }
        }
        total / self.samples as f64
    }
}

/// Clipping levels tried per channel: the scale covers `k / CANDIDATES`
/// of the channel's largest |weight|, for `k` from `CANDIDATES / 2` to
/// `CANDIDATES` (1 keeps every weight in range: plain max-abs scaling).
pub const CANDIDATES: u32 = 64;

/// How calibration changed one matrix's expected squared output error,
/// summed over its channels.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Calibration {
    /// With max-abs scales.
    pub max_abs: f64,
    /// With the chosen scales.
    pub chosen: f64,
    /// Channels whose chosen scale clips some weight.
    pub clipped: usize,
}

/// `value / scale` rounded half to even and saturated to ±127, as ONNX's
/// `QuantizeLinear` does (−128 is never used: the range stays symmetric).
pub fn quantize_value(value: f32, scale: f32) -> i8 {
    (value / scale).round_ties_even().clamp(-127.0, 127.0) as i8
}

/// One channel quantized with `scale`: its int8 values and its errors
/// `w − q × scale` (as `DequantizeLinear` computes `q × scale` in `f32`).
fn quantize_channel(weights: &[f32], scale: f32) -> (Vec<i8>, Vec<f64>) {
    let quantized: Vec<i8> = weights.iter().map(|&w| quantize_value(w, scale)).collect();
    let errors = weights.iter().zip(&quantized).map(|(&w, &q)| f64::from(w) - f64::from(f32::from(q) * scale)).collect();
    (quantized, errors)
}

/// Quantizes one channel (`weights`, whose inputs have `moments`): the
/// scale with the least expected squared output error (ties go to the
/// wider range), its int8 values, the mean output error to correct the
/// bias by, and the squared errors of max-abs scaling and of the choice.
fn calibrate_channel(weights: &[f32], moments: &Moments) -> (f32, Vec<i8>, f64, [f64; 2]) {
    let largest = weights.iter().fold(0.0f32, |max, w| max.max(w.abs()));
    if largest == 0.0 {
        // All zeros: every scale gives zeros; 1 is as good as any.
        return (1.0, vec![0; weights.len()], 0.0, [0.0; 2]);
    }
    let mut best: Option<(f64, f32, Vec<i8>, Vec<f64>)> = None;
    let mut max_abs = 0.0;
    for k in (CANDIDATES / 2..=CANDIDATES).rev() {
        let scale = largest * k as f32 / CANDIDATES as f32 / 127.0;
        let (quantized, errors) = quantize_channel(weights, scale);
        let squared = moments.squared_error(&errors);
        if k == CANDIDATES {
            max_abs = squared;
        }
        if best.as_ref().is_none_or(|(least, ..)| squared < *least) {
            best = Some((squared, scale, quantized, errors));
        }
    }
    let (squared, scale, quantized, errors) = best.expect("at least one candidate");
    (scale, quantized, moments.mean_error(&errors), [max_abs, squared])
}

/// Quantizes `channels` channels of a matrix (`channel(c)` gives channel
/// `c`'s weights, whose inputs have `moments`): int8 values per channel,
/// scales, bias corrections, and what calibration changed.
fn calibrate_matrix(channels: usize, channel: impl Fn(usize) -> Vec<f32>, moments: &Moments) -> (Vec<Vec<i8>>, Vec<f32>, Vec<f64>, Calibration) {
    let mut values = Vec::with_capacity(channels);
    let mut scales = Vec::with_capacity(channels);
    let mut corrections = Vec::with_capacity(channels);
    let mut calibration = Calibration::default();
    for c in 0..channels {
        let weights = channel(c);
        let (scale, quantized, correction, [max_abs, chosen]) = calibrate_channel(&weights, moments);
        let largest = weights.iter().fold(0.0f32, |max, w| max.max(w.abs()));
        if largest > 0.0 && largest / scale > 127.5 {
            calibration.clipped += 1;
        }
        calibration.max_abs += max_abs;
        calibration.chosen += chosen;
        values.push(quantized);
        scales.push(scale);
        corrections.push(correction);
    }
    (values, scales, corrections, calibration)
}

/// What calibration did, per matrix.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CalibrationReport {
    /// `W` (inputs: the features).
    pub w: Calibration,
    /// `R` (inputs: the states).
    pub r: Calibration,
    /// The dense matrix (inputs: the quantized GRU's states).
    pub d: Calibration,
}

/// The input statistics of `W`: the training heads' features.
pub fn input_moments(data: &[Prepared]) -> Moments {
    let mut moments = Moments::new(FEATURES);
    for stream in data {
        for step in 0..stream.cut {
            moments.add(&stream.dense(step));
        }
    }
    moments
}

/// The states `model`'s GRU goes through on the training heads, each run
/// from a zero state as the engine runs it (the zero start included: it
/// is the recurrent matrix's first input).
pub fn state_moments(model: &FloatModel, data: &[Prepared]) -> Moments {
    let mut moments = Moments::new(model.hidden);
    for stream in data {
        if stream.cut == 0 {
            continue;
        }
        let (states, _) = model.run(&stream.inputs(0..stream.cut), &vec![0.0; model.hidden]);
        moments.add(&vec![0.0; model.hidden]);
        moments.add_all(&states);
    }
    moments
}

impl QuantizedModel {
    /// Quantizes `model` calibrated on the training heads of `data` (see
    /// the module docs).
    pub fn calibrated(model: &FloatModel, data: &[Prepared]) -> (QuantizedModel, CalibrationReport) {
        let inputs = input_moments(data);
        let states = state_moments(model, data);
        QuantizedModel::with_moments(model, &inputs, &states, |gru| state_moments(gru, data))
    }

    /// Quantizes `model` given its features' moments, its float states'
    /// moments, and `states_of`, which gives the states' moments of a GRU
    /// (called with the one whose `W` and `R` are quantized, for the dense
    /// layer).
    pub fn with_moments(
        model: &FloatModel,
        inputs: &Moments,
        states: &Moments,
        states_of: impl Fn(&FloatModel) -> Moments,
    ) -> (QuantizedModel, CalibrationReport) {
        let h = model.hidden;
        let rows = 3 * h;
        let mut b = model.b.clone();
        let (w_rows, w_scale, w_corrections, w) =
            calibrate_matrix(rows, |row| model.w[row * FEATURES..(row + 1) * FEATURES].to_vec(), inputs);
        let (r_rows, r_scale, r_corrections, r) = calibrate_matrix(rows, |row| model.r[row * h..(row + 1) * h].to_vec(), states);
        for row in 0..rows {
            b[row] = (f64::from(b[row]) + w_corrections[row]) as f32;
            b[rows + row] = (f64::from(b[rows + row]) + r_corrections[row]) as f32;
        }
        let mut quantized = QuantizedModel {
            hidden: h,
            w_q: w_rows.concat(),
            w_scale,
            r_q: r_rows.concat(),
            r_scale,
            b,
            d_q: Vec::new(),
            d_scale: Vec::new(),
            d_bias: Vec::new(),
        };
        // The dense layer sees the states of the quantized GRU.
        let gru_states = states_of(&FloatModel { d: model.d.clone(), d_bias: model.d_bias.clone(), ..quantized.dequantized_gru() });
        let (d_columns, d_scale, d_corrections, d) =
            calibrate_matrix(CLASSES, |class| (0..h).map(|unit| model.d[unit * CLASSES + class]).collect(), &gru_states);
        quantized.d_q = (0..h).flat_map(|unit| d_columns.iter().map(move |column| column[unit])).collect();
        quantized.d_scale = d_scale;
        quantized.d_bias = model.d_bias.iter().zip(&d_corrections).map(|(&bias, &correction)| (f64::from(bias) + correction) as f32).collect();
        (quantized, CalibrationReport { w, r, d })
    }

    /// The GRU part as float weights (no dense layer yet).
    fn dequantized_gru(&self) -> FloatModel {
        let h = self.hidden;
        FloatModel {
            hidden: h,
            w: self.w_q.iter().enumerate().map(|(i, &q)| f32::from(q) * self.w_scale[i / FEATURES]).collect(),
            r: self.r_q.iter().enumerate().map(|(i, &q)| f32::from(q) * self.r_scale[i / h]).collect(),
            b: self.b.clone(),
            d: Vec::new(),
            d_bias: Vec::new(),
        }
    }

    /// The weights as the graph's `DequantizeLinear` nodes see them
    /// (`q × scale`, computed in `f32` as ONNX does).
    pub fn dequantized(&self) -> FloatModel {
        FloatModel {
            d: self.d_q.iter().enumerate().map(|(i, &q)| f32::from(q) * self.d_scale[i % CLASSES]).collect(),
            d_bias: self.d_bias.clone(),
            ..self.dequantized_gru()
        }
    }
}

impl QuantizedModel {
    /// Plain max-abs scales, no calibration (every channel's largest weight
    /// maps to ±127; biases as trained): for tests without data.
    pub fn max_abs(model: &FloatModel) -> QuantizedModel {
        let (inputs, states) = (Moments::new(FEATURES), Moments::new(model.hidden));
        QuantizedModel::with_moments(model, &inputs, &states, |gru| Moments::new(gru.hidden)).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Moments of `count` random samples of `size` values, each value
    /// nonzero with probability `density`.
    fn random_moments(rng: &mut Rng, size: usize, count: usize, density: f32) -> (Moments, Vec<Vec<f32>>) {
        let mut moments = Moments::new(size);
        let mut samples = Vec::new();
        for _ in 0..count {
            let sample: Vec<f32> =
                (0..size).map(|_| if rng.symmetric(1.0).abs() < density { rng.symmetric(1.0) } else { 0.0 }).collect();
            moments.add(&sample);
            samples.push(sample);
        }
        (moments, samples)
    }

    #[test]
    fn moments_give_expected_errors() {
        let mut moments = Moments::new(2);
        moments.add(&[1.0, 0.0]);
        moments.add(&[1.0, 2.0]);
        // e = (1, -1): outputs e·v are 1 and -1.
        assert_eq!(moments.mean_error(&[1.0, -1.0]), 0.0);
        assert_eq!(moments.squared_error(&[1.0, -1.0]), 1.0);
        assert_eq!(Moments::new(3).squared_error(&[1.0, 1.0, 1.0]), 0.0, "no samples: no error");
    }

    #[test]
    fn without_data_scales_are_max_abs() {
        let mut rng = Rng::new(9);
        let model = FloatModel::initial(8, &[0.1; CLASSES], &mut rng);
        let quantized = QuantizedModel::max_abs(&model);
        let back = quantized.dequantized();
        for (index, (a, b)) in model.w.iter().zip(&back.w).enumerate() {
            assert!((a - b).abs() <= quantized.w_scale[index / FEATURES] * 0.5 + 1e-7);
        }
        for (index, (a, b)) in model.r.iter().zip(&back.r).enumerate() {
            assert!((a - b).abs() <= quantized.r_scale[index / 8] * 0.5 + 1e-7);
        }
        for (index, (a, b)) in model.d.iter().zip(&back.d).enumerate() {
            assert!((a - b).abs() <= quantized.d_scale[index % CLASSES] * 0.5 + 1e-7);
        }
        for row in 0..24 {
            let peak = quantized.w_q[row * FEATURES..(row + 1) * FEATURES].iter().map(|q| q.unsigned_abs()).max().unwrap();
            assert_eq!(peak, 127, "row {row}'s largest weight maps to ±127");
        }
        assert!(quantized.w_q.iter().chain(&quantized.r_q).chain(&quantized.d_q).all(|&q| q != -128), "symmetric");
        assert_eq!(back.b, model.b);
        assert_eq!(back.d_bias, model.d_bias);
    }

    #[test]
    fn calibration_never_does_worse_and_corrects_the_mean() {
        let mut rng = Rng::new(21);
        for trial in 0..20 {
            let size = 12;
            let (moments, samples) = random_moments(&mut rng, size, 200, 0.6);
            // Heavy-tailed weights: most small, a few large.
            let weights: Vec<f32> = (0..size).map(|i| rng.symmetric(if i % 5 == 0 { 3.0 } else { 0.3 })).collect();
            let (scale, quantized, correction, [max_abs, chosen]) = calibrate_channel(&weights, &moments);
            assert!(chosen <= max_abs, "trial {trial}: the max-abs scale is one of the candidates");
            // The chosen error is what the samples give.
            let outputs: Vec<f64> = samples
                .iter()
                .map(|v| weights.iter().zip(&quantized).zip(v).map(|((&w, &q), &x)| (f64::from(w) - f64::from(f32::from(q) * scale)) * f64::from(x)).sum())
                .collect();
            let mean = outputs.iter().sum::<f64>() / outputs.len() as f64;
            let squared = outputs.iter().map(|e| e * e).sum::<f64>() / outputs.len() as f64;
            assert!((squared - chosen).abs() <= 1e-9 * (1.0 + squared), "trial {trial}: {squared} vs {chosen}");
            assert!((mean - correction).abs() <= 1e-9, "trial {trial}: the correction is the mean error");
        }
    }

    #[test]
    fn a_weight_whose_input_never_comes_is_clipped() {
        // Input 0 never fires; its weight is 10x the others. Max-abs
        // scaling would waste the int8 range on it.
        let mut moments = Moments::new(4);
        let mut rng = Rng::new(3);
        for _ in 0..100 {
            moments.add(&[0.0, rng.symmetric(1.0), rng.symmetric(1.0), rng.symmetric(1.0)]);
        }
        let weights = [5.0, 0.37, -0.21, 0.443];
        let (scale, quantized, _, [max_abs, chosen]) = calibrate_channel(&weights, &moments);
        assert!(scale < 5.0 / 127.0, "clipped: scale {scale}");
        assert_eq!(quantized[0], 127, "the clipped weight saturates");
        assert!(chosen < max_abs / 3.0, "error {chosen} vs max-abs {max_abs}");
        let (scale, quantized, correction, errors) = calibrate_channel(&[0.0; 4], &moments);
        assert_eq!((scale, quantized, correction, errors), (1.0, vec![0; 4], 0.0, [0.0; 2]), "an all-zero channel");
    }

    #[test]
    fn ties_round_half_to_even() {
        assert_eq!(quantize_value(2.5, 1.0), 2);
        assert_eq!(quantize_value(-63.5, 1.0), -64);
        assert_eq!(quantize_value(-1000.0, 1.0), -127);
    }
}

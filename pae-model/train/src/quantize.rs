//! Int8 quantization of a trained model: symmetric, per output channel,
//! zero points 0 (`W` and `R` per row, the dense matrix per column); the
//! biases stay float. The GRU output `Y` is quantized with one scale,
//! calibrated on training data.

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
    /// `B`, [6H], float.
    pub b: Vec<f32>,
    /// `D_q`, [H, CLASSES].
    pub d_q: Vec<i8>,
    /// `D_scale`, [CLASSES] (one per column).
    pub d_scale: Vec<f32>,
    /// `D_bias`, [CLASSES], float.
    pub d_bias: Vec<f32>,
    /// `Y_scale`: the GRU output's quantization step.
    pub y_scale: f32,
}

/// The symmetric scale of channel values with largest magnitude `max`
/// (1 for an all-zero channel, whose values all quantize to 0 anyway).
fn scale_for(max: f32) -> f32 {
    if max > 0.0 { max / 127.0 } else { 1.0 }
}

/// `value / scale` rounded half to even and saturated to ±127, as ONNX's
/// `QuantizeLinear` does (−128 is never used: the range stays symmetric).
pub fn quantize_value(value: f32, scale: f32) -> i8 {
    (value / scale).round_ties_even().clamp(-127.0, 127.0) as i8
}

/// Quantizes a row-major [rows × columns] matrix with one scale per row.
pub fn quantize_rows(values: &[f32], rows: usize, columns: usize) -> (Vec<i8>, Vec<f32>) {
    let scales: Vec<f32> = (0..rows)
        .map(|row| scale_for(values[row * columns..(row + 1) * columns].iter().fold(0.0f32, |max, v| max.max(v.abs()))))
        .collect();
    let quantized = values.iter().enumerate().map(|(index, &value)| quantize_value(value, scales[index / columns])).collect();
    (quantized, scales)
}

/// Quantizes a row-major [rows × columns] matrix with one scale per column.
pub fn quantize_columns(values: &[f32], rows: usize, columns: usize) -> (Vec<i8>, Vec<f32>) {
    let scales: Vec<f32> = (0..columns)
        .map(|column| scale_for((0..rows).fold(0.0f32, |max, row| max.max(values[row * columns + column].abs()))))
        .collect();
    let quantized = values.iter().enumerate().map(|(index, &value)| quantize_value(value, scales[index % columns])).collect();
    (quantized, scales)
}

impl QuantizedModel {
    /// Quantizes `model`'s weights; `y_scale` is the output step
    /// (see [`calibrate_y_scale`]).
    pub fn new(model: &FloatModel, y_scale: f32) -> QuantizedModel {
        let h = model.hidden;
        let (w_q, w_scale) = quantize_rows(&model.w, 3 * h, FEATURES);
        let (r_q, r_scale) = quantize_rows(&model.r, 3 * h, h);
        let (d_q, d_scale) = quantize_columns(&model.d, h, CLASSES);
        QuantizedModel { hidden: h, w_q, w_scale, r_q, r_scale, b: model.b.clone(), d_q, d_scale, d_bias: model.d_bias.clone(), y_scale }
    }

    /// The weights as the graph's `DequantizeLinear` nodes see them
    /// (`q × scale`, computed in `f32` as ONNX does).
    pub fn dequantized(&self) -> FloatModel {
        let h = self.hidden;
        FloatModel {
            hidden: h,
            w: self.w_q.iter().enumerate().map(|(i, &q)| f32::from(q) * self.w_scale[i / FEATURES]).collect(),
            r: self.r_q.iter().enumerate().map(|(i, &q)| f32::from(q) * self.r_scale[i / h]).collect(),
            b: self.b.clone(),
            d: self.d_q.iter().enumerate().map(|(i, &q)| f32::from(q) * self.d_scale[i % CLASSES]).collect(),
            d_bias: self.d_bias.clone(),
        }
    }
}

/// The largest |h| the GRU of `model` reaches over the training heads of
/// `data`, run from a zero state as the engine runs it.
pub fn largest_state(model: &FloatModel, data: &[Prepared]) -> f32 {
    data.iter()
        .map(|stream| {
            let (states, _) = model.run(&stream.inputs(0..stream.cut), &vec![0.0; model.hidden]);
            states.iter().fold(0.0f32, |max, value| max.max(value.abs()))
        })
        .fold(0.0f32, f32::max)
}

/// The finest `Y_scale` allowed (states this small carry no signal).
const FINEST_Y_SCALE: f32 = 1.0 / (1u32 << 20) as f32;

/// `Y_scale` for states up to `largest` in magnitude: the smallest power
/// of two whose ±127 levels cover `largest`, and at most 1/128 (a GRU
/// state is a convex mix of tanh outputs and the zero start, so |h| < 1:
/// 1/128 covers all but the last 0.8 %, which saturates).
///
/// A power of two because tract quantizes by multiplying with
/// `1 / Y_scale` where ONNX (and the engine) divide: with a power of two
/// both are exact and agree on every rounding, otherwise they disagree on
/// states within an ulp of a rounding boundary.
pub fn calibrate_y_scale(largest: f32) -> f32 {
    let mut scale = 1.0 / 128.0;
    while scale > FINEST_Y_SCALE && scale * 0.5 * 127.0 >= largest {
        scale *= 0.5;
    }
    scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn round_trips_stay_within_half_a_step() {
        let mut rng = Rng::new(5);
        let (rows, columns) = (12, 7);
        let values: Vec<f32> = (0..rows * columns).map(|_| rng.symmetric(3.0)).collect();
        let (q, scales) = quantize_rows(&values, rows, columns);
        for (index, (&value, &q)) in values.iter().zip(&q).enumerate() {
            let scale = scales[index / columns];
            assert!((f32::from(q) * scale - value).abs() <= scale * 0.5 + 1e-6, "row {index}");
        }
        for row in 0..rows {
            let peak = q[row * columns..(row + 1) * columns].iter().map(|q| q.unsigned_abs()).max().unwrap();
            assert_eq!(peak, 127, "each row's largest value maps to ±127");
        }
        let (q, scales) = quantize_columns(&values, rows, columns);
        for (index, (&value, &q)) in values.iter().zip(&q).enumerate() {
            let scale = scales[index % columns];
            assert!((f32::from(q) * scale - value).abs() <= scale * 0.5 + 1e-6, "column {index}");
        }
        assert!(q.iter().all(|&q| q != -128), "symmetric: -128 is never used");
    }

    #[test]
    fn zero_channels_and_ties() {
        let (q, scales) = quantize_rows(&[0.0, 0.0, 1.0, -0.5], 2, 2);
        assert_eq!(q, [0, 0, 127, -64], "-63.5 rounds half to even");
        assert_eq!(scales[0], 1.0);
        assert_eq!(quantize_value(2.5, 1.0), 2);
        assert_eq!(quantize_value(-1000.0, 1.0), -127);
    }

    #[test]
    fn a_model_round_trips_within_its_scales() {
        let mut rng = Rng::new(9);
        let model = FloatModel::initial(8, &[0.1; CLASSES], &mut rng);
        let quantized = QuantizedModel::new(&model, 1.0 / 127.0);
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
        assert_eq!(back.b, model.b);
        assert_eq!(back.d_bias, model.d_bias);
        assert_eq!(calibrate_y_scale(0.987), 1.0 / 128.0);
        assert_eq!(calibrate_y_scale(0.9999), 1.0 / 128.0, "the last level saturates");
        assert_eq!(calibrate_y_scale(0.3), 1.0 / 256.0);
        assert_eq!(calibrate_y_scale(0.0), FINEST_Y_SCALE);
    }
}

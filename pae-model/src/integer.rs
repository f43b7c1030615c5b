//! The integer-only inference path: the exported QDQ GRU predictor (see the
//! crate README, "The exported graph") run without floating point, for the
//! kernel's memory manager.
//!
//! [`IntegerModel::compile`] recognises the exported pattern in a loaded
//! [`Model`] and precomputes everything; [`IntegerModel::step`] then runs one
//! step per memory event with integer arithmetic only. No `f32`/`f64`
//! arithmetic happens anywhere in this module, `compile` included (the lint
//! below proves it): each float scale or bias is decoded from its IEEE-754
//! bits into `mantissa × 2^exponent` and handled as an exact integer.
//!
//! # Number formats
//!
//! - **Weights**: the model's int8 `W_q`, `R_q`, `D_q` as they are, each row
//!   (output channel) with its own scale.
//! - **State** `H`: Q0.15 in `i16` (`value × 2^15`), clamped to ±32767; this
//!   is all a [`State`] holds (2 bytes per unit).
//! - **Accumulators**: `i32`. The input product of a one-hot (or 0/1) `x` is
//!   the sum of the active columns of `W_q` (at most 47 × 128); the
//!   recurrent product `Σ R_q·H` is at most 128 × 32767 × H < 2^30 for
//!   H ≤ [`MAX_HIDDEN`], and so is the dense product `Σ D_q·H`.
//!   None can overflow.
//! - **Requantization**: each accumulator's real scale (`W_scale[row]`,
//!   `R_scale[row] × 2^-15`, `D_scale[class] × 2^-15`) is a multiplier
//!   with a 31-bit mantissa `m ∈ [2^30, 2^31)` and a right shift `s`
//!   (`acc × m` in `i64`, then a rounding shift); a scale's 24-bit
//!   mantissa is represented exactly.
//! - **Pre-activations**: Q.24 in `i64` (`value × 2^24`), the sum of the
//!   requantized products and the biases. `B` and `D_bias` are converted to
//!   Q.24 at compile time from their bits (rounded half away from zero;
//!   magnitudes beyond 2^30 clamp there, where every activation is long
//!   saturated whatever the other terms, which are below 2^23).
//! - **Gates and activations**: Q.30 in `i32`. `r ⊙ (R_h·H + Rb_h)` is one
//!   `i128` product shifted back to Q.24.
//! - **Output**: `round(p × 65536)` saturated to 65535, in `u16`.
//!
//! # Activations
//!
//! One table, `σ(k/64)` for `k = 0..=1024` (0 to 16) in Q.30, built at
//! compile time of this crate by a `const fn` in integer arithmetic
//! (`e^(-1/64)` by its Taylor series in Q.62, powers of it by repeated
//! multiplication, then `2^92 / (2^62 + e^(-x))`), 4 KiB of read-only data.
//! `σ(x)` interpolates linearly between neighbouring entries;
//! `σ(-x) = 1 − σ(x)`; beyond ±16 the end entry is used. `tanh(x) = 2σ(2x) − 1`
//! reads the same table. Errors (`|f''| h² / 8` with `h = 1/64`):
//! - σ: at most 0.0962 / 32768 = 2.94e-6 (interpolation), 1.1e-7 beyond ±16,
//!   plus 2^-31 rounding; documented bound **3.0e-6**.
//! - tanh: twice σ's error at `2x`, at most **6.0e-6** (2.3e-7 beyond ±8).
//!
//! # The step
//!
//! For each unit `i` (ONNX GRU, gates z, r, h; `linear_before_reset` = 1):
//! `z = σ(Wz·x + Rz·H + Wbz + Rbz)`, `r = σ(Wr·x + Rr·H + Wbr + Rbr)`,
//! `h̃ = tanh(Wh·x + Wbh + r ⊙ (Rh·H + Rbh))`, `H' = h̃ + z ⊙ (H − h̃)`
//! (= `(1 − z) ⊙ h̃ + z ⊙ H`, computed in Q.30 and rounded once to Q0.15).
//! The new state is built in a stack buffer, then copied into the
//! [`State`]. The dense layer reads the new state as it is (Q0.15):
//! `logit = D_scale[c]·2^-15·Σ D_q·H + D_bias[c]`, `p = σ(logit)`.
//!
//! # Expected error against the float path
//!
//! - Per step, the state differs from the float state by its Q0.15 rounding
//!   (≤ 2^-16), the tanh/σ table error (≤ 6e-6) and the pre-activation
//!   rounding (≤ 4 × 2^-25): about 2.2e-5 per unit, carried forward through
//!   the recurrence, which a gated GRU damps (`z` mixes in the old state;
//!   saturated gates have small derivatives). Expect a state difference of
//!   a few 1e-5, rarely 1e-4; we hold it to **[`MAX_STATE_ERROR`] = 1e-3**.
//! - A logit then differs by `Σ_i D[i, c]·ΔH_i` plus its Q.24 rounding, and
//!   a probability by at most a quarter of that (σ' ≤ 1/4), plus the output
//!   σ's table error (3e-6) and the rounding to 1/65536 (7.6e-6). The worst
//!   case `H·max|D|·max|ΔH| / 4` needs every unit's error at its largest
//!   and aligned with the signs of a column of `D`; the units' errors are
//!   small and of mixed signs, so the sum grows like `√H`: about
//!   `√H·max|D|·1e-4 / 4` (4e-4 for H = 64, |D| ≤ 4).
//!
//! So we hold the integer path to **max |Δp| ≤ [`MAX_PROBABILITY_ERROR`] =
//! 2e-3** and **mean |Δp| ≤ [`MEAN_PROBABILITY_ERROR`] = 5e-5**;
//! `tests/integer.rs` measures both over 1,000 sequences for H = 16 and 32
//! (at most 1.6e-4 and 8e-6 with weights up to 2.5), and `cargo xtask
//! train` against tract on the shipped model.
//!
//! Everything is integer arithmetic with fixed widths (`i16`/`i32`/`i64`/
//! `i128`; `usize` only indexes), so results are bit-identical on every
//! target. [`IntegerModel::self_check`] hashes a fixed run so the kernel
//! can compare its result with the host's.

#![deny(clippy::float_arithmetic)]

use crate::Error;
use crate::features::{ACTIVE, CLASSES, FEATURES};
use crate::model::{MAX_MODEL_BYTES, Model, Node, ValueId};
use crate::onnx::ModelProto;
use crate::ops::{Activation, Binary, Cell, Direction, Op, Unary};
use crate::tensor::{Data, DataType, Tensor};
use alloc::format;
use alloc::vec::Vec;

/// The documented bound on `|p_integer − p_float|` (module docs, "Expected
/// error against the float path").
pub const MAX_PROBABILITY_ERROR: f64 = 2e-3;
/// The documented bound on the mean of `|p_integer − p_float|`.
pub const MEAN_PROBABILITY_ERROR: f64 = 5e-5;
/// The documented bound on a unit's `|H_integer − H_float|`.
pub const MAX_STATE_ERROR: f64 = 1e-3;

/// Nodes in the exported graph (crate README, "The exported graph").
const PATTERN_NODES: usize = 7;

/// Largest hidden size the integer path accepts: it keeps every `i32`
/// accumulator below 2^31 and the step's stack buffers small (192 bytes).
/// The hidden size must also be a multiple of 4 (units go four at a time).
pub const MAX_HIDDEN: usize = 64;

// The dense layer goes four classes at a time.
const _: () = assert!(CLASSES.is_multiple_of(4));
/// Fraction bits of the state (Q0.15).
pub const STATE_BITS: u32 = 15;
/// Fraction bits of pre-activations (Q.24 in `i64`).
pub const PRE_ACTIVATION_BITS: u32 = 24;
/// Fraction bits of gates and activation outputs (Q.30 in `i32`).
pub const GATE_BITS: u32 = 30;

/// 1.0 in Q.30.
const ONE: i64 = 1 << GATE_BITS;
/// Largest state value (Q0.15); 1.0 itself does not fit.
const STATE_LIMIT: i64 = (1 << STATE_BITS) - 1;
/// Table entries per unit of the activation input (steps of 1/64).
const TABLE_STEP_BITS: u32 = 6;
/// The table covers σ on [0, 16].
const TABLE_RANGE: usize = 16;
/// Entries in the table.
const TABLE_LEN: usize = (TABLE_RANGE << TABLE_STEP_BITS) + 1;
/// Fraction bits of a Q.24 input below one table step.
const INTERPOLATION_BITS: u32 = PRE_ACTIVATION_BITS - TABLE_STEP_BITS;
/// |x| clamps here (16.0 in Q.24).
const TABLE_END: u64 = (TABLE_RANGE as u64) << PRE_ACTIVATION_BITS;
/// Biases clamp to ±2^30 (in Q.24): far into saturation.
const BIAS_LIMIT: i64 = 1 << (30 + PRE_ACTIVATION_BITS);
/// Multipliers keep 31 bits of mantissa.
const MULTIPLIER_BITS: u32 = 31;
/// Largest right shift a multiplier uses; beyond it the product is below
/// one unit of the result and the multiplier is taken as 0.
const MAX_SHIFT: i32 = 62;

/// `σ(k / 64)` in Q.30 for `k = 0..=1024`, computed in integer arithmetic
/// when this crate is compiled.
static SIGMOID_TABLE: [i32; TABLE_LEN] = sigmoid_table();

const fn sigmoid_table() -> [i32; TABLE_LEN] {
    const Q: u32 = 62;
    const UNIT: u128 = 1 << Q;
    // e^(-1/64) = Σ (-1/64)^n / n!, each term the previous / (64 n).
    let mut term = UNIT;
    let mut sum = UNIT as i128;
    let mut n = 1;
    while n < 24 {
        term /= 64 * n;
        if n % 2 == 1 {
            sum -= term as i128;
        } else {
            sum += term as i128;
        }
        n += 1;
    }
    let step = sum as u128;
    let mut table = [0i32; TABLE_LEN];
    // e^(-k/64) in Q.62; σ = 1 / (1 + e^-x), in Q.30 = 2^92 / (2^62 + e).
    let mut exponential = UNIT;
    let mut k = 0;
    while k < TABLE_LEN {
        let denominator = UNIT + exponential;
        table[k] = (((1u128 << (Q + GATE_BITS)) + denominator / 2) / denominator) as i32;
        exponential = (exponential * step + (1 << (Q - 1))) >> Q;
        k += 1;
    }
    table
}

/// The logistic function: `x` in Q.24, result in Q.30 (`[0, 2^30]`).
/// Error at most 3.0e-6 (see the module docs).
pub fn sigmoid(x: i64) -> i32 {
    let magnitude = x.unsigned_abs().min(TABLE_END);
    let index = (magnitude >> INTERPOLATION_BITS) as usize;
    let fraction = (magnitude & ((1 << INTERPOLATION_BITS) - 1)) as i64;
    let low = i64::from(SIGMOID_TABLE[index]);
    let value = match SIGMOID_TABLE.get(index + 1) {
        Some(&high) => low + (((i64::from(high) - low) * fraction + (1 << (INTERPOLATION_BITS - 1))) >> INTERPOLATION_BITS),
        None => low,
    };
    (if x < 0 { ONE - value } else { value }) as i32
}

/// The hyperbolic tangent, `2σ(2x) − 1`: `x` in Q.24, result in Q.30
/// (`[-2^30, 2^30]`). Error at most 6.0e-6 (see the module docs).
pub fn tanh(x: i64) -> i32 {
    (2 * i64::from(sigmoid(x.saturating_mul(2))) - ONE) as i32
}

/// A probability in Q.30 as `round(p × 65536)`, saturated to 65535.
fn probability(q30: i32) -> u16 {
    let rounded = (i64::from(q30) + (1 << (GATE_BITS - 17))) >> (GATE_BITS - 16);
    rounded.clamp(0, i64::from(u16::MAX)) as u16
}

/// The dot products of rows `first..first + 4` of the row-major matrix
/// `weights` (rows of `size`) with `x`: four accumulators, each `x[j]`
/// loaded once.
fn dot4<T: Copy + Into<i32>>(weights: &[i8], size: usize, first: usize, x: &[T]) -> [i32; 4] {
    let rows = &weights[first * size..(first + 4) * size];
    let (row0, rest) = rows.split_at(size);
    let (row1, rest) = rest.split_at(size);
    let (row2, row3) = rest.split_at(size);
    let mut sums = [0i32; 4];
    for ((((&a, &b), &c), &d), &value) in row0.iter().zip(row1).zip(row2).zip(row3).zip(x) {
        let value: i32 = value.into();
        sums[0] += i32::from(a) * value;
        sums[1] += i32::from(b) * value;
        sums[2] += i32::from(c) * value;
        sums[3] += i32::from(d) * value;
    }
    sums
}

/// `value / 2^shift`, rounded half up.
fn round_shift(value: i64, shift: u32) -> i64 {
    if shift == 0 { value } else { (value + (1 << (shift - 1))) >> shift }
}

/// A positive real number `mantissa × 2^exponent`, exact.
#[derive(Clone, Copy, Debug)]
struct Real {
    mantissa: u128,
    exponent: i32,
}

/// An `f32` as sign, mantissa and exponent (`±mantissa × 2^exponent`), or
/// `None` if it is infinite or NaN.
fn decode(value: f32) -> Option<(bool, u32, i32)> {
    let bits = value.to_bits();
    let negative = bits >> 31 == 1;
    let biased = ((bits >> 23) & 0xff) as i32;
    let fraction = bits & 0x7f_ffff;
    match biased {
        0xff => None,
        0 => Some((negative, fraction, -149)),
        _ => Some((negative, fraction | 0x80_0000, biased - 150)),
    }
}

impl Real {
    /// A scale: finite and positive.
    fn scale(value: f32, what: &str) -> Result<Real, Error> {
        match decode(value) {
            Some((false, mantissa, exponent)) if mantissa != 0 => Ok(Real { mantissa: u128::from(mantissa), exponent }),
            _ => Err(Error::Invalid(format!("integer path: {what} must be finite and positive, is {value}"))),
        }
    }

    /// The multiplier that maps an integer `n` to `n × self` with
    /// `fraction_bits` fraction bits; `what` names it in errors.
    fn multiplier(self, fraction_bits: u32, what: &str) -> Result<Multiplier, Error> {
        let length = 128 - self.mantissa.leading_zeros() as i32;
        let mut mantissa = if length > MULTIPLIER_BITS as i32 {
            let drop = (length - MULTIPLIER_BITS as i32) as u32;
            (self.mantissa + (1 << (drop - 1))) >> drop
        } else {
            self.mantissa << (MULTIPLIER_BITS as i32 - length) as u32
        };
        // value = mantissa × 2^(exponent + length − 31); shift = −(that + fraction bits).
        let mut shift = -(self.exponent + length - MULTIPLIER_BITS as i32 + fraction_bits as i32);
        if mantissa >> MULTIPLIER_BITS != 0 {
            // Rounding carried into bit 31.
            mantissa >>= 1;
            shift -= 1;
        }
        if shift < 0 {
            return Err(Error::Unsupported(format!("integer path: {what} is too large for a fixed-point multiplier")));
        }
        if shift > MAX_SHIFT {
            return Ok(Multiplier { mantissa: 0, shift: 0 });
        }
        Ok(Multiplier { mantissa: mantissa as i64, shift: shift as u32 })
    }
}

/// Multiplication by a real number: `value × mantissa / 2^shift`, rounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Multiplier {
    /// Below 2^31.
    mantissa: i64,
    /// At most 62.
    shift: u32,
}

impl Multiplier {
    /// `|value × mantissa| ≤ 2^31 × 2^31`: no overflow in `i64`.
    fn apply(self, value: i32) -> i64 {
        round_shift(i64::from(value) * self.mantissa, self.shift)
    }
}

/// A float bias as Q.24, rounded half away from zero, clamped to ±2^30.
fn fixed_bias(value: f32, what: &str) -> Result<i64, Error> {
    let (negative, mantissa, exponent) =
        decode(value).ok_or_else(|| Error::Invalid(format!("integer path: {what} must be finite, is {value}")))?;
    let position = exponent + PRE_ACTIVATION_BITS as i32;
    let magnitude = if position >= 0 {
        // mantissa < 2^24: up to 30 more bits stay below 2^54 = BIAS_LIMIT.
        if position > 30 { BIAS_LIMIT } else { (i64::from(mantissa) << position).min(BIAS_LIMIT) }
    } else if position < -40 {
        0
    } else {
        round_shift(i64::from(mantissa), (-position) as u32)
    };
    Ok(if negative { -magnitude } else { magnitude })
}

/// Parses a decimal probability in `[0, 1]` (`0.35`, `.5`, `1`, `3.5e-1`)
/// into `round(p × 65536)` saturated to 65535, without floating point
/// (digits beyond the 19th significant one are ignored).
pub fn probability_from_decimal(text: &str) -> Result<u16, Error> {
    let bad = || Error::Invalid(format!("`{text}` is not a decimal probability in [0, 1]"));
    let text = text.trim();
    let (number, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let number = number.strip_prefix('+').unwrap_or(number);
    let mut digits: u64 = 0;
    let mut significant = 0u32;
    let mut power: i64 = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    for character in number.chars() {
        match character {
            '.' if !seen_point => seen_point = true,
            '0'..='9' => {
                seen_digit = true;
                let digit = u64::from(character as u8 - b'0');
                if significant < 19 {
                    if digits != 0 || digit != 0 {
                        significant += 1;
                    }
                    digits = digits * 10 + digit;
                    if seen_point {
                        power -= 1;
                    }
                } else if !seen_point {
                    power += 1;
                }
            }
            _ => return Err(bad()),
        }
    }
    if !seen_digit {
        return Err(bad());
    }
    if let Some(exponent) = exponent {
        let (negative, magnitude) = match exponent.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, exponent.strip_prefix('+').unwrap_or(exponent)),
        };
        if magnitude.is_empty() || !magnitude.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(bad());
        }
        let value = magnitude.bytes().fold(0i64, |value, byte| (value * 10 + i64::from(byte - b'0')).min(1_000_000));
        power += if negative { -value } else { value };
    }
    if digits == 0 {
        return Ok(0);
    }
    // value = digits × 10^power, digits < 10^19.
    if power >= 0 {
        let value = 10u128.checked_pow(power as u32).and_then(|scale| scale.checked_mul(u128::from(digits)));
        return if value == Some(1) { Ok(u16::MAX) } else { Err(bad()) };
    }
    let places = power.unsigned_abs();
    if places > 38 {
        // Below 10^-19: rounds to 0.
        return Ok(0);
    }
    let scale = 10u128.pow(places as u32);
    if u128::from(digits) > scale {
        return Err(bad());
    }
    let scaled = (u128::from(digits) * 65536 + scale / 2) / scale;
    Ok(scaled.min(u128::from(u16::MAX)) as u16)
}

/// The GRU hidden state of one sequence (one process), in Q0.15.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    hidden: Vec<i16>,
}

impl State {
    /// The state, one Q0.15 value per unit.
    pub fn as_slice(&self) -> &[i16] {
        &self.hidden
    }

    /// Back to zeros (a new sequence).
    pub fn reset(&mut self) {
        self.hidden.fill(0);
    }
}

/// The exported predictor, compiled for integer-only inference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntegerModel {
    hidden: usize,
    /// `W_q`: 3H rows (z, r, h) of [`FEATURES`].
    input_weights: Vec<i8>,
    /// `W_scale` per row, to Q.24.
    input_scales: Vec<Multiplier>,
    /// `R_q`: 3H rows of H.
    recurrent_weights: Vec<i8>,
    /// `R_scale × 2^-15` per row, to Q.24.
    recurrent_scales: Vec<Multiplier>,
    /// Q.24: `Wbz + Rbz` (H), `Wbr + Rbr` (H), `Wbh` (H), `Rbh` (H).
    biases: Vec<i64>,
    /// `D_q` transposed: [`CLASSES`] rows of H.
    dense_weights: Vec<i8>,
    /// `D_scale × 2^-15` per class, to Q.24.
    dense_scales: Vec<Multiplier>,
    /// `D_bias` in Q.24.
    dense_biases: Vec<i64>,
    threshold: Option<u16>,
}

/// The expected pattern's error: `integer path: <what differs>`.
fn differs(what: impl core::fmt::Display) -> Error {
    Error::Unsupported(format!("integer path: {what}"))
}

/// Reads the graph: which node produces a value, which values are constants.
struct Graph<'a> {
    model: &'a Model,
    /// The nodes matched so far (each may be matched once).
    used: Vec<usize>,
}

impl<'a> Graph<'a> {
    /// The node computing `value`, which must be `op_name`, marked used.
    fn producer(&mut self, value: ValueId, what: &str, op_name: &str) -> Result<&'a Node, Error> {
        let model = self.model;
        let found = model.nodes().iter().position(|node| node.outputs.contains(&Some(value)));
        let Some(index) = found else {
            return Err(differs(format!("{what} (`{}`) must be computed by {op_name}, is not computed", model.value_name(value))));
        };
        if self.used.contains(&index) {
            return Err(differs(format!("node `{}` is used twice in the pattern", model.nodes()[index].name)));
        }
        self.used.push(index);
        Ok(&model.nodes()[index])
    }

    /// The constant `value`, if it is an initializer.
    fn constant(&self, value: ValueId) -> Option<&'a Tensor> {
        self.model.initializer(self.model.value_name(value))
    }

    /// Input `position` of `node`, required.
    fn input(&self, node: &Node, position: usize, what: &str) -> Result<ValueId, Error> {
        node.inputs.get(position).copied().flatten().ok_or_else(|| differs(format!("node `{}` has no {what}", node.name)))
    }

    /// A constant input of `node` with the given type and shape.
    fn constant_input(&self, node: &Node, position: usize, what: &str, data_type: DataType, shape: &[usize]) -> Result<&'a Tensor, Error> {
        let value = self.input(node, position, what)?;
        let tensor = self.constant(value).ok_or_else(|| differs(format!("{what} (`{}`) must be a constant", self.model.value_name(value))))?;
        if tensor.data_type() != data_type {
            return Err(differs(format!("{what} must be {data_type:?}, is {:?}", tensor.data_type())));
        }
        if tensor.shape() != shape {
            return Err(differs(format!("{what} has shape {:?}, expected {shape:?}", tensor.shape())));
        }
        Ok(tensor)
    }

    /// `DequantizeLinear(q int8 [shape], scale f32 [channels], zero int8
    /// [channels] of zeros)` along `axis` producing `value`: the int8
    /// values and the scales.
    fn dequantized_weights(&mut self, value: ValueId, what: &str, shape: &[usize], axis: usize) -> Result<(&'a [i8], &'a [f32]), Error> {
        let node = self.producer(value, what, "DequantizeLinear of int8 weights")?;
        let Op::DequantizeLinear { axis: given } = node.op else {
            return Err(differs(format!("{what} must be computed by DequantizeLinear of int8 weights, is `{}`", node.op.op_type())));
        };
        let rank = shape.len() as i64;
        if (if given < 0 { given + rank } else { given }) != axis as i64 {
            return Err(differs(format!("the DequantizeLinear of {what} has axis {given}, expected {axis}")));
        }
        let quantized = self.input(node, 0, "weights")?;
        let tensor = self.constant(quantized).ok_or_else(|| differs(format!("the weights of {what} must be a constant")))?;
        let Data::I8(weights) = tensor.data() else {
            return Err(differs(format!("the weights of {what} must be int8, are {:?}", tensor.data_type())));
        };
        if tensor.shape() != shape {
            return Err(differs(format!("the weights of {what} have shape {:?}, expected {shape:?}", tensor.shape())));
        }
        let channels = shape[axis];
        let scales = self.constant_input(node, 1, &format!("the scale of {what}"), DataType::F32, &[channels])?;
        let scales = scales.as_f32("scale")?;
        if node.inputs.get(2).copied().flatten().is_some() {
            let zero = self.constant_input(node, 2, &format!("the zero point of {what}"), DataType::I8, &[channels])?;
            if !matches!(zero.data(), Data::I8(values) if values.iter().all(|&value| value == 0)) {
                return Err(differs(format!("the zero point of {what} must be all zeros")));
            }
        }
        Ok((weights, scales))
    }
}


/// Checks a declared graph input's type and known dimensions.
fn check_declared(model: &Model, position: usize, name: &str, shape: &[Option<usize>]) -> Result<ValueId, Error> {
    let Some(info) = model.inputs().get(position).filter(|info| info.name == name) else {
        let names: Vec<&str> = model.inputs().iter().map(|info| info.name.as_str()).collect();
        return Err(differs(format!("graph inputs are {names:?}, expected [\"x\", \"h0\"]")));
    };
    if info.data_type.is_some_and(|data_type| data_type != DataType::F32) {
        return Err(differs(format!("graph input `{name}` must be float")));
    }
    if let Some(declared) = &info.shape {
        let fits = declared.len() == shape.len()
            && declared.iter().zip(shape).all(|(declared, wanted)| declared.is_none() || wanted.is_none() || declared == wanted);
        if !fits {
            return Err(differs(format!("graph input `{name}` is declared {declared:?}, expected {shape:?}")));
        }
    }
    Ok(info.id)
}

impl IntegerModel {
    /// Recognises the exported graph (crate README, "The exported graph")
    /// in `model` and precomputes the integer weights, multipliers and
    /// biases. Any other graph is an [`Error::Unsupported`] saying what
    /// differs; a non-finite or non-positive scale an [`Error::Invalid`].
    /// The metadata gives the threshold (`pae.threshold`); `pae.features`,
    /// `pae.classes` and `pae.hidden` must agree with the graph.
    pub fn compile(model: &Model) -> Result<IntegerModel, Error> {
        if model.inputs().len() != 2 {
            let names: Vec<&str> = model.inputs().iter().map(|info| info.name.as_str()).collect();
            return Err(differs(format!("graph inputs are {names:?}, expected [\"x\", \"h0\"]")));
        }
        let x = check_declared(model, 0, "x", &[None, Some(1), Some(FEATURES)])?;
        let output = |name: &str| model.outputs().iter().find(|info| info.name == name).map(|info| info.id);
        let (Some(probabilities), Some(state_output), 2) = (output("probabilities"), output("Y_h"), model.outputs().len()) else {
            let names: Vec<&str> = model.outputs().iter().map(|info| info.name.as_str()).collect();
            return Err(differs(format!("graph outputs are {names:?}, expected [\"probabilities\", \"Y_h\"]")));
        };
        if model.nodes().len() != PATTERN_NODES {
            return Err(differs(format!("the graph has {} nodes, the pattern {PATTERN_NODES}", model.nodes().len())));
        }
        let mut graph = Graph { model, used: Vec::new() };

        // probabilities = Sigmoid(Add(MatMul(Y, D), D_bias)).
        let sigmoid_node = graph.producer(probabilities, "probabilities", "Sigmoid")?;
        if sigmoid_node.op != Op::Unary(Unary::Sigmoid) {
            return Err(differs(format!("probabilities must be computed by Sigmoid, not {}", sigmoid_node.op.op_type())));
        }
        let biased = graph.input(sigmoid_node, 0, "input")?;
        let add = graph.producer(biased, "the Sigmoid's input", "Add")?;
        if add.op != Op::Binary(Binary::Add) {
            return Err(differs(format!("the Sigmoid's input must be computed by Add, not {}", add.op.op_type())));
        }
        let (first, second) = (graph.input(add, 0, "first input")?, graph.input(add, 1, "second input")?);
        let (logits, bias_position) = if graph.constant(second).is_some() { (first, 1) } else { (second, 0) };
        let dense_bias = graph.constant_input(add, bias_position, "D_bias", DataType::F32, &[CLASSES])?;
        let matmul = graph.producer(logits, "logits", "MatMul")?;
        if matmul.op != Op::MatMul {
            return Err(differs(format!("logits must be computed by MatMul, not {}", matmul.op.op_type())));
        }
        let (state_sequence, dense) = (graph.input(matmul, 0, "first input")?, graph.input(matmul, 1, "second input")?);

        // Y, Y_h = GRU(x, W, R, B, , h0).
        let gru = graph.producer(state_sequence, "Y", "GRU")?;
        let Op::Recurrent(recurrent) = &gru.op else {
            return Err(differs(format!("Y must be computed by GRU, not {}", gru.op.op_type())));
        };
        if recurrent.cell != Cell::Gru {
            return Err(differs(format!("Y must be computed by GRU, not {}", recurrent.cell.name())));
        }
        if gru.outputs.first() != Some(&Some(state_sequence)) || gru.outputs.get(1) != Some(&Some(state_output)) {
            return Err(differs("the GRU's outputs must be Y (the dense layer's input) and Y_h (the graph output)"));
        }
        let hidden = recurrent.hidden_size;
        if hidden > MAX_HIDDEN {
            return Err(differs(format!("hidden_size {hidden} is over {MAX_HIDDEN}")));
        }
        if !hidden.is_multiple_of(4) {
            return Err(differs(format!("hidden_size {hidden} is not a multiple of 4")));
        }
        if recurrent.direction != Direction::Forward {
            return Err(differs(format!("GRU direction {:?} (only forward)", recurrent.direction)));
        }
        if !matches!(recurrent.activations.as_slice(), [Activation::Sigmoid, Activation::Tanh]) {
            return Err(differs("GRU activations other than Sigmoid, Tanh"));
        }
        if recurrent.clip.is_some() {
            return Err(differs("GRU clip"));
        }
        if !recurrent.linear_before_reset {
            return Err(differs("GRU linear_before_reset must be 1"));
        }
        if recurrent.layout != 0 {
            return Err(differs("GRU layout must be 0"));
        }
        let h0 = check_declared(model, 1, "h0", &[Some(1), Some(1), Some(hidden)])?;
        let wired = gru.inputs.len() == 6 && gru.inputs[0] == Some(x) && gru.inputs[4].is_none() && gru.inputs[5] == Some(h0);
        if !wired {
            return Err(differs("the GRU's inputs must be x, W, R, B, (no sequence_lens), h0"));
        }
        let rows = 3 * hidden;
        let (input_weights, input_scales) = graph.dequantized_weights(graph.input(gru, 1, "W")?, "W", &[1, rows, FEATURES], 1)?;
        let (recurrent_weights, recurrent_scales) = graph.dequantized_weights(graph.input(gru, 2, "R")?, "R", &[1, rows, hidden], 1)?;
        let gru_bias = graph.constant_input(gru, 3, "B", DataType::F32, &[1, 2 * rows])?.as_f32("B")?;

        let (dense_weights, dense_scales) = graph.dequantized_weights(dense, "D", &[hidden, CLASSES], 1)?;
        if graph.used.len() != PATTERN_NODES {
            return Err(differs("the graph has nodes outside the pattern"));
        }

        // Multipliers and biases.
        let input_scales = input_scales
            .iter()
            .enumerate()
            .map(|(row, &scale)| Real::scale(scale, &format!("W_scale[{row}]"))?.multiplier(PRE_ACTIVATION_BITS, "W_scale"))
            .collect::<Result<Vec<_>, _>>()?;
        let recurrent_scales = recurrent_scales
            .iter()
            .enumerate()
            .map(|(row, &scale)| {
                let scale = Real::scale(scale, &format!("R_scale[{row}]"))?;
                // The state is Q0.15: the accumulator's unit is R_scale × 2^-15.
                Real { exponent: scale.exponent - STATE_BITS as i32, ..scale }.multiplier(PRE_ACTIVATION_BITS, "R_scale")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bias = |index: usize| fixed_bias(gru_bias[index], &format!("B[{index}]"));
        let mut biases = Vec::with_capacity(4 * hidden);
        for gate in 0..2 {
            for unit in 0..hidden {
                let row = gate * hidden + unit;
                biases.push(bias(row)? + bias(rows + row)?);
            }
        }
        for unit in 0..hidden {
            biases.push(bias(2 * hidden + unit)?);
        }
        for unit in 0..hidden {
            biases.push(bias(rows + 2 * hidden + unit)?);
        }
        let dense_scales = dense_scales
            .iter()
            .enumerate()
            .map(|(class, &scale)| {
                let scale = Real::scale(scale, &format!("D_scale[{class}]"))?;
                // The state is Q0.15: the accumulator's unit is D_scale × 2^-15.
                Real { exponent: scale.exponent - STATE_BITS as i32, ..scale }.multiplier(PRE_ACTIVATION_BITS, "D_scale")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dense_biases = dense_bias
            .as_f32("D_bias")?
            .iter()
            .enumerate()
            .map(|(class, &value)| fixed_bias(value, &format!("D_bias[{class}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let mut transposed = Vec::with_capacity(CLASSES * hidden);
        for class in 0..CLASSES {
            transposed.extend((0..hidden).map(|unit| dense_weights[unit * CLASSES + class]));
        }
        let mut compiled = IntegerModel {
            hidden,
            input_weights: input_weights.to_vec(),
            input_scales,
            recurrent_weights: recurrent_weights.to_vec(),
            recurrent_scales,
            biases,
            dense_weights: transposed,
            dense_scales,
            dense_biases,
            threshold: None,
        };
        compiled.read_metadata(model)?;
        Ok(compiled)
    }

    /// Compiles a decoded model file (see [`IntegerModel::compile`]).
    pub fn compile_proto(proto: &ModelProto) -> Result<IntegerModel, Error> {
        IntegerModel::compile(&Model::from_proto(proto)?)
    }

    /// Reads the model's metadata: the threshold (`pae.threshold`), and
    /// `pae.features`, `pae.classes` and `pae.hidden`, which must agree with
    /// the graph when present.
    fn read_metadata(&mut self, model: &Model) -> Result<(), Error> {
        for (key, expected) in [("pae.features", FEATURES), ("pae.classes", CLASSES), ("pae.hidden", self.hidden)] {
            if let Some(value) = model.metadata(key)
                && value.trim().parse::<usize>() != Ok(expected)
            {
                return Err(Error::Invalid(format!("metadata {key} is `{value}`, the graph has {expected}")));
            }
        }
        if let Some(value) = model.metadata("pae.threshold") {
            let threshold = probability_from_decimal(value)
                .map_err(|_| Error::Invalid(format!("metadata pae.threshold `{value}` is not a probability")))?;
            self.threshold = Some(threshold);
        }
        Ok(())
    }

    /// Decodes, validates and compiles a model file (see
    /// [`IntegerModel::compile_proto`]).
    pub fn load(bytes: &[u8]) -> Result<IntegerModel, Error> {
        if bytes.len() > MAX_MODEL_BYTES {
            return Err(Error::Invalid(format!("{} bytes is over the {MAX_MODEL_BYTES}-byte limit", bytes.len())));
        }
        IntegerModel::compile(&Model::load(bytes)?)
    }

    /// Units in the hidden state.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// A fresh state (zeros).
    pub fn new_state(&self) -> State {
        State { hidden: alloc::vec![0; self.hidden] }
    }

    /// The decision threshold (`pae.threshold`) on the probabilities' scale
    /// (`round(p × 65536)`), if the model file gave one.
    pub fn threshold(&self) -> Option<u16> {
        self.threshold
    }

    /// Sets the decision threshold (on the probabilities' scale).
    pub fn set_threshold(&mut self, threshold: Option<u16>) {
        self.threshold = threshold;
    }

    fn check_state(&self, state: &State) -> Result<(), Error> {
        if state.hidden.len() != self.hidden {
            return Err(Error::Input(format!("the state has {} units, the model {}", state.hidden.len(), self.hidden)));
        }
        Ok(())
    }

    /// One step: `active` are the inputs that are 1 (one per group, as
    /// [`crate::features::Encoder::active`] gives them; a repeated index
    /// counts once), every other input is 0. Updates `state` and returns
    /// one probability per class as `round(p × 65536)`, saturated to 65535.
    /// Allocates nothing.
    pub fn step(&self, state: &mut State, active: &[usize; ACTIVE]) -> Result<[u16; CLASSES], Error> {
        self.check_state(state)?;
        let mut indices = [0u8; ACTIVE];
        let mut count = 0;
        for &index in active {
            if index >= FEATURES {
                return Err(Error::Input(format!("input index {index} is not below {FEATURES}")));
            }
            let index = index as u8;
            if !indices[..count].contains(&index) {
                indices[count] = index;
                count += 1;
            }
        }
        Ok(self.advance(&mut state.hidden, &indices[..count]))
    }

    /// One step on a dense input: each of the [`FEATURES`] values 0 or 1 (any
    /// number of ones). Otherwise as [`IntegerModel::step`].
    pub fn step_dense(&self, state: &mut State, inputs: &[u8; FEATURES]) -> Result<[u16; CLASSES], Error> {
        self.check_state(state)?;
        let mut indices = [0u8; FEATURES];
        let mut count = 0;
        for (index, &value) in inputs.iter().enumerate() {
            match value {
                0 => {}
                1 => {
                    indices[count] = index as u8;
                    count += 1;
                }
                other => return Err(Error::Input(format!("input {index} is {other}, not 0 or 1"))),
            }
        }
        Ok(self.advance(&mut state.hidden, &indices[..count]))
    }

    /// Runs a fixed sequence of 64 steps from a fresh state (inputs from a
    /// fixed pseudo-random generator, one per feature group) and returns the
    /// 64-bit FNV-1a hash of every output (`u16`s, little-endian) followed by
    /// the final state (`i16`s, little-endian). Equal on every target for
    /// the same model: the kernel compares it with the host's.
    pub fn self_check(&self) -> u64 {
        const GROUPS: [(usize, usize); ACTIVE] = [(0, 34), (34, 3), (37, 8), (45, 2)];
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: [u8; 2]| {
            for byte in bytes {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        let mut hidden = alloc::vec![0i16; self.hidden];
        let mut generator: u32 = 0x5eed_1234;
        for _ in 0..64 {
            let mut indices = [0u8; ACTIVE];
            for (slot, &(first, count)) in indices.iter_mut().zip(&GROUPS) {
                generator = generator.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *slot = (first + (generator >> 16) as usize % count) as u8;
            }
            for probability in self.advance(&mut hidden, &indices) {
                feed(probability.to_le_bytes());
            }
        }
        for value in hidden {
            feed(value.to_le_bytes());
        }
        hash
    }

    /// `Σ W_q[row, j]` over the active inputs `j`.
    fn input_sum(&self, row: usize, active: &[u8]) -> i32 {
        let weights = &self.input_weights[row * FEATURES..(row + 1) * FEATURES];
        active.iter().map(|&index| i32::from(weights[usize::from(index)])).sum()
    }

    /// `Σ R_q[row, j] × H[j]` for four rows from `first` (each below 2^30
    /// in magnitude: see the module docs).
    fn recurrent_sums(&self, first: usize, hidden: &[i16]) -> [i32; 4] {
        dot4(&self.recurrent_weights, self.hidden, first, hidden)
    }

    /// One step from validated inputs: `hidden` has the model's length,
    /// `active` holds distinct indices below [`FEATURES`].
    ///
    /// Units go four at a time (`compile` makes H a multiple of 4): the
    /// recurrent products of their z, r and h rows share each loaded state
    /// value, which keeps a step within its instruction budget on a
    /// processor without vector units (the kernel's).
    fn advance(&self, hidden: &mut [i16], active: &[u8]) -> [u16; CLASSES] {
        let size = self.hidden;
        let mut next = [0i16; MAX_HIDDEN];
        for unit in (0..size).step_by(4) {
            let (row_z, row_r, row_h) = (unit, size + unit, 2 * size + unit);
            let (sums_z, sums_r, sums_h) =
                (self.recurrent_sums(row_z, hidden), self.recurrent_sums(row_r, hidden), self.recurrent_sums(row_h, hidden));
            for k in 0..4 {
                let gate = |row: usize, recurrent: i32| {
                    self.input_scales[row]
                        .apply(self.input_sum(row, active))
                        .saturating_add(self.recurrent_scales[row].apply(recurrent))
                        .saturating_add(self.biases[row])
                };
                let update = i64::from(sigmoid(gate(row_z + k, sums_z[k])));
                let reset = i128::from(sigmoid(gate(row_r + k, sums_r[k])));
                // r ⊙ (R_h·H + Rb_h), Q.30 × Q.24 → Q.24.
                let recurrent = self.recurrent_scales[row_h + k].apply(sums_h[k]).saturating_add(self.biases[3 * size + unit + k]);
                let gated = ((reset * i128::from(recurrent) + (1 << (GATE_BITS - 1))) >> GATE_BITS) as i64;
                let candidate_input = self.input_scales[row_h + k]
                    .apply(self.input_sum(row_h + k, active))
                    .saturating_add(self.biases[row_h + k])
                    .saturating_add(gated);
                let candidate = i64::from(tanh(candidate_input));
                // H' = h̃ + z (H − h̃) in Q.30: |z (H − h̃)| ≤ 2^30 × 2^31.
                let previous = i64::from(hidden[unit + k]) << (GATE_BITS - STATE_BITS);
                let mixed = candidate + round_shift(update * (previous - candidate), GATE_BITS);
                next[unit + k] = round_shift(mixed, GATE_BITS - STATE_BITS).clamp(-STATE_LIMIT, STATE_LIMIT) as i16;
            }
        }
        hidden.copy_from_slice(&next[..size]);

        // logit = D_scale·2^-15·Σ D_q·H + D_bias; |Σ D_q·H| ≤ 128 × 2^15 × H < 2^28.
        let mut probabilities = [0u16; CLASSES];
        for first in (0..CLASSES).step_by(4) {
            let sums = dot4(&self.dense_weights, size, first, hidden);
            for (k, &sum) in sums.iter().enumerate() {
                let logit = self.dense_scales[first + k].apply(sum).saturating_add(self.dense_biases[first + k]);
                probabilities[first + k] = probability(sigmoid(logit));
            }
        }
        probabilities
    }
}

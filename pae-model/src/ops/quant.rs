//! Quantization operators: `QuantizeLinear`, `DequantizeLinear`,
//! `DynamicQuantizeLinear`, `MatMulInteger` and `QLinearMatMul`.
//!
//! Rounding is half to even everywhere (`rint`), and results saturate to
//! the range of the output type. The float precision of each step follows
//! ONNX's NumPy reference, which integer outputs must match exactly (the
//! unit tests below pin cases where another precision would differ):
//! - `QuantizeLinear` divides a float input by its scale in `f32`, an
//!   `int32` input in `f64` (NumPy promotes `int32 / float32` to `float64`);
//! - `QLinearMatMul` forms `a_scale * b_scale / y_scale` in `f32`, then
//!   multiplies the `int32` accumulator by it and adds `y_zero_point` in
//!   `f64` (again NumPy's promotion of `int32 * float32`).
//!
//! Scales must be finite and positive: a zero, negative, infinite or NaN
//! scale is an [`Error::Invalid`]. A NaN input to `QuantizeLinear`
//! quantizes to the zero point and infinities saturate.
//!
//! Integer matrix products accumulate in `i32` with wrapping addition, the
//! 32-bit accumulator the ONNX specification describes ("accumulation may
//! overflow if and only if in 32 bits"); each product of two zero-point
//! adjusted 8-bit values fits (at most 255 × 255), only the sum can wrap.

use super::matrix::{MatMulShape, matmul_shape};
use crate::Error;
use crate::tensor::{Data, DataType, Dimension, Tensor, axis_index, may_agree, may_hold_one};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

/// `QuantizeLinear`: `y = saturate(round(x / y_scale) + y_zero_point)`.
///
/// `x` is float or int32. `scale` is one value (per tensor) or a 1-D tensor
/// of length `x.shape[axis]` (per axis; a negative `axis` counts from the
/// end); `zero_point`, `uint8` or `int8`, has the scale's shape and sets
/// the output type (`uint8` with zero point 0 when omitted).
pub fn quantize_linear(x: &Tensor, scale: &Tensor, zero_point: Option<&Tensor>, axis: i64) -> Result<Tensor, Error> {
    let scales = positive_scales(scale, "y_scale")?;
    let layout = Layout::new(x.shape(), scale, axis, "y_scale")?;
    let output_type = match zero_point {
        None => DataType::U8,
        Some(zero_point) => match zero_point.data_type() {
            kind @ (DataType::U8 | DataType::I8) => kind,
            other => return Err(Error::Type(format!("y_zero_point must be uint8 or int8, is {other:?}"))),
        },
    };
    let zero_points = zero_points(zero_point, scale, "y_zero_point", "y_scale")?;
    let range = integer_range(output_type);
    let data = match x.data() {
        Data::F32(values) => quantized(output_type, values.len(), |index| {
            let channel = layout.channel(index);
            let rounded = libm::rintf(values[index] / scales[channel]);
            saturate(f64::from(rounded), zero_points[channel], range)
        }),
        Data::I32(values) => quantized(output_type, values.len(), |index| {
            let channel = layout.channel(index);
            let rounded = libm::rint(f64::from(values[index]) / f64::from(scales[channel]));
            saturate(rounded, zero_points[channel], range)
        }),
        other => return Err(Error::Type(format!("QuantizeLinear's input must be float or int32, is {:?}", other.data_type()))),
    };
    Tensor::new(x.shape().to_vec(), data)
}

/// `DequantizeLinear`: `y = (x - x_zero_point) * x_scale`, as float.
///
/// `x` is `uint8`, `int8` or `int32`; `zero_point`, of `x`'s type and the
/// scale's shape, must be all zeros for `int32`. Per-tensor and per-axis
/// scales as for [`quantize_linear`].
pub fn dequantize_linear(x: &Tensor, scale: &Tensor, zero_point: Option<&Tensor>, axis: i64) -> Result<Tensor, Error> {
    let scales = positive_scales(scale, "x_scale")?;
    let layout = Layout::new(x.shape(), scale, axis, "x_scale")?;
    if let Some(zero_point) = zero_point
        && zero_point.data_type() != x.data_type()
    {
        return Err(Error::Type(format!(
            "x_zero_point must have x's type {:?}, is {:?}",
            x.data_type(),
            zero_point.data_type()
        )));
    }
    let zero_points = zero_points(zero_point, scale, "x_zero_point", "x_scale")?;
    let dequantize = |index: usize, value: i32| -> f32 {
        let channel = layout.channel(index);
        // Exact in i64; the only rounding is to f32 (none for 8-bit inputs).
        let difference = i64::from(value) - i64::from(zero_points[channel]);
        difference as f32 * scales[channel]
    };
    let values: Vec<f32> = match x.data() {
        Data::U8(values) => values.iter().enumerate().map(|(index, &value)| dequantize(index, i32::from(value))).collect(),
        Data::I8(values) => values.iter().enumerate().map(|(index, &value)| dequantize(index, i32::from(value))).collect(),
        Data::I32(values) => {
            if zero_points.iter().any(|&zero_point| zero_point != 0) {
                return Err(Error::Invalid("x_zero_point of an int32 DequantizeLinear must be 0".into()));
            }
            values.iter().enumerate().map(|(index, &value)| dequantize(index, value)).collect()
        }
        other => {
            return Err(Error::Type(format!("DequantizeLinear's input must be uint8, int8 or int32, is {:?}", other.data_type())));
        }
    };
    Tensor::new(x.shape().to_vec(), Data::F32(values))
}

/// `DynamicQuantizeLinear`: quantizes float `x` to `uint8` over the range
/// `[min(0, min(x)), max(0, max(x))]`. Returns `y` (`x`'s shape), the scale
/// (`f32` scalar) and the zero point (`u8` scalar).
///
/// An all-zero or empty `x` has an empty range: the scale is then 1 and the
/// zero point 0 (so `y` is all zeros) rather than a division by zero. A
/// non-finite value in `x`, or a range too wide for `f32`, is an error.
pub fn dynamic_quantize_linear(x: &Tensor) -> Result<(Tensor, Tensor, Tensor), Error> {
    let values = x.as_f32("DynamicQuantizeLinear's input")?;
    if values.iter().any(|value| !value.is_finite()) {
        return Err(Error::Invalid("DynamicQuantizeLinear's input holds a non-finite value".into()));
    }
    let minimum = values.iter().copied().fold(0.0f32, f32::min);
    let maximum = values.iter().copied().fold(0.0f32, f32::max);
    let (scale, zero_point) = if maximum == minimum {
        (1.0f32, 0u8)
    } else {
        let scale = (maximum - minimum) / 255.0;
        if !scale.is_finite() || scale <= 0.0 {
            return Err(Error::Invalid(format!("DynamicQuantizeLinear's input range [{minimum}, {maximum}] has no f32 scale")));
        }
        let zero_point = libm::rintf((0.0 - minimum) / scale).clamp(0.0, 255.0);
        // In 0..=255 after the clamp: the cast is exact.
        (scale, zero_point as u8)
    };
    let range = integer_range(DataType::U8);
    let y = quantized(DataType::U8, values.len(), |index| {
        saturate(f64::from(libm::rintf(values[index] / scale)), i32::from(zero_point), range)
    });
    Ok((Tensor::new(x.shape().to_vec(), y)?, Tensor::scalar(Data::F32(vec![scale]))?, Tensor::scalar(Data::U8(vec![zero_point]))?))
}

/// `MatMulInteger`: `(A - a_zero_point) × (B - b_zero_point)` as int32,
/// with `numpy.matmul`'s shapes (batch broadcasting, 1-D operands).
///
/// `A` and `B` are each `uint8` or `int8`; a zero point has its operand's
/// type and is one value or a 1-D vector: per row of `A` (length `M`) or
/// per column of `B` (length `N`). Sums wrap in 32 bits.
pub fn matmul_integer(a: &Tensor, b: &Tensor, a_zero_point: Option<&Tensor>, b_zero_point: Option<&Tensor>) -> Result<Tensor, Error> {
    let shape = matmul_shape(a.shape(), b.shape())?;
    let a_zero = integer_vector(a_zero_point, a.data_type(), shape.m, "a_zero_point", "rows of A")?;
    let b_zero = integer_vector(b_zero_point, b.data_type(), shape.n, "b_zero_point", "columns of B")?;
    let sums = integer_product(&shape, a, &a_zero, b, &b_zero)?;
    Tensor::new(shape.output, Data::I32(sums))
}

/// `QLinearMatMul`: `y = saturate(round(Σ (a - a_zp)(b - b_zp) × a_scale ×
/// b_scale / y_scale) + y_zp)`, with `numpy.matmul`'s shapes.
///
/// `inputs` are `a, a_scale, a_zero_point, b, b_scale, b_zero_point,
/// y_scale, y_zero_point`. `a` and `b` are `uint8` or `int8`, each zero
/// point of its operand's type. `a`'s scale and zero point are one value
/// or 1-D per row (length `M`), `b`'s one value or 1-D per column (length
/// `N`); `y`'s are one value, and `y_zero_point`'s type is the output's.
pub fn qlinear_matmul(inputs: [&Tensor; 8]) -> Result<Tensor, Error> {
    let [a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point] = inputs;
    let shape = matmul_shape(a.shape(), b.shape())?;
    let a_scales = scale_vector(a_scale, shape.m, "a_scale", "rows of a")?;
    let b_scales = scale_vector(b_scale, shape.n, "b_scale", "columns of b")?;
    let y_scale = match positive_scales(y_scale, "y_scale")? {
        [value] => *value,
        values => return Err(Error::Unsupported(format!("QLinearMatMul with {} output scales (only one, per tensor)", values.len()))),
    };
    let a_zero = integer_vector(Some(a_zero_point), a.data_type(), shape.m, "a_zero_point", "rows of a")?;
    let b_zero = integer_vector(Some(b_zero_point), b.data_type(), shape.n, "b_zero_point", "columns of b")?;
    let output_type = match y_zero_point.data_type() {
        kind @ (DataType::U8 | DataType::I8) => kind,
        other => return Err(Error::Type(format!("y_zero_point must be uint8 or int8, is {other:?}"))),
    };
    let y_zero = match integer_values(y_zero_point, output_type, "y_zero_point")?.as_slice() {
        [value] => *value,
        values => return Err(Error::Unsupported(format!("QLinearMatMul with {} output zero points (only one, per tensor)", values.len()))),
    };
    // The multiplier of row `row`, column `column`, as the reference forms
    // it: in f32, the two input scales first.
    let multiplier = |row: usize, column: usize| a_scales[row] * b_scales[column] / y_scale;
    for (row, &a_value) in a_scales.iter().enumerate() {
        for (column, &b_value) in b_scales.iter().enumerate() {
            if !multiplier(row, column).is_finite() {
                return Err(Error::Invalid(format!("QLinearMatMul's scales {a_value} × {b_value} / {y_scale} overflow f32")));
            }
        }
    }
    let sums = integer_product(&shape, a, &a_zero, b, &b_zero)?;
    let range = integer_range(output_type);
    let matrix = shape.m * shape.n;
    let data = quantized(output_type, sums.len(), |index| {
        // `index` runs over whole m×n matrices, so `within / n` < m; with no
        // sums (m×n = 0) this is never called.
        let within = index % matrix;
        let scaled = f64::from(sums[index]) * f64::from(multiplier(within / shape.n, within % shape.n)) + f64::from(y_zero);
        saturate(libm::rint(scaled), 0, range)
    });
    Tensor::new(shape.output, data)
}

/// Which scale and zero point each element of a quantized tensor uses.
struct Layout {
    /// Number of scales (1 when per tensor).
    channels: usize,
    /// Elements between successive steps along the axis (1 when per tensor).
    inner: usize,
}

impl Layout {
    /// The layout of `scale` over a tensor shaped `shape`: per tensor when
    /// `scale` holds one value (then `axis` is not used), otherwise per axis,
    /// which needs a 1-D scale as long as that axis.
    fn new(shape: &[usize], scale: &Tensor, axis: i64, what: &str) -> Result<Layout, Error> {
        let axis_index = match scale_axis(Some(shape), scale.shape(), axis) {
            Ok(None) => return Ok(Layout { channels: 1, inner: 1 }),
            Ok(Some(axis_index)) => axis_index,
            Err(ScaleMismatch::NotVector) => {
                return Err(Error::Shape(format!(
                    "{what} of shape {:?} is neither one value nor a 1-D per-axis vector",
                    scale.shape()
                )));
            }
            Err(ScaleMismatch::Axis) => return Err(Error::Invalid(format!("axis {axis} is out of range for an input of shape {shape:?}"))),
            Err(ScaleMismatch::Length(axis_index)) => {
                return Err(Error::Shape(format!(
                    "{what} has {} values but axis {axis} of the input (shape {shape:?}) has {}",
                    scale.len(),
                    shape[axis_index]
                )));
            }
        };
        // Both are at least 1 whenever the input has an element, the only
        // time `channel` is called; `max(1)` keeps the divisions defined.
        let inner = shape[axis_index + 1..].iter().product::<usize>().max(1);
        Ok(Layout { channels: scale.len().max(1), inner })
    }

    /// The channel of element `index` (row-major).
    fn channel(&self, index: usize) -> usize {
        (index / self.inner) % self.channels
    }
}

/// Why a `QuantizeLinear` / `DequantizeLinear` scale does not fit its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScaleMismatch {
    /// More than one value, but not a 1-D vector.
    NotVector,
    /// Per axis, and the axis is out of range for the input.
    Axis,
    /// Per axis, and not as long as the input's axis (at this index).
    Length(usize),
}

/// The index of the axis a `QuantizeLinear` / `DequantizeLinear` scale
/// shaped `scale` runs along, for an input shaped `input` (`None`: rank not
/// known). `Ok(None)` when the scale is one value, per tensor, so `axis` is
/// not used (at load time: when it may be one value, or the input's rank
/// is not known). Otherwise the scale must be a 1-D vector as long as the
/// input's dimension `axis` (negative counts from the end).
pub(crate) fn scale_axis<D: Dimension>(input: Option<&[D]>, scale: &[D], axis: i64) -> Result<Option<usize>, ScaleMismatch> {
    if may_hold_one(scale) {
        return Ok(None);
    }
    let [length] = scale else { return Err(ScaleMismatch::NotVector) };
    let Some(input) = input else { return Ok(None) };
    let axis_index = axis_index(axis, input.len()).ok_or(ScaleMismatch::Axis)?;
    if !length.may_equal(input[axis_index]) {
        return Err(ScaleMismatch::Length(axis_index));
    }
    Ok(Some(axis_index))
}

/// Whether a `QuantizeLinear` / `DequantizeLinear` zero point shaped
/// `zero_point` fits a scale shaped `scale`: one value for one value
/// (whatever its rank), otherwise the scale's shape.
pub(crate) fn zero_point_fits<D: Dimension>(zero_point: &[D], scale: &[D]) -> bool {
    (may_hold_one(scale) && may_hold_one(zero_point)) || (!holds_one(scale) && may_agree(zero_point, scale))
}

/// Whether a matrix-product scale or zero point shaped `shape` may be one
/// value or a 1-D vector of `length` (one per row of A or column of B).
pub(crate) fn vector_fits<D: Dimension>(shape: &[D], length: D) -> bool {
    may_hold_one(shape) || matches!(shape, [size] if size.may_equal(length))
}

/// Whether a tensor of `shape` certainly holds one value.
fn holds_one<D: Dimension>(shape: &[D]) -> bool {
    shape.iter().all(|dim| dim.is(1))
}

/// The float values of a scale tensor, each checked finite and positive.
fn positive_scales<'a>(scale: &'a Tensor, what: &str) -> Result<&'a [f32], Error> {
    let values = scale.as_f32(what)?;
    if values.is_empty() {
        return Err(Error::Shape(format!("{what} is empty")));
    }
    if let Some(bad) = values.iter().find(|value| !(value.is_finite() && **value > 0.0)) {
        return Err(Error::Invalid(format!("{what} must be finite and positive, holds {bad}")));
    }
    Ok(values)
}

/// The zero points of `QuantizeLinear` / `DequantizeLinear`, one per scale
/// (all 0 when omitted). A given zero point must have the scale's shape, a
/// single value being per tensor whatever its rank.
fn zero_points(zero_point: Option<&Tensor>, scale: &Tensor, what: &str, scale_name: &str) -> Result<Vec<i32>, Error> {
    let Some(zero_point) = zero_point else { return Ok(vec![0; scale.len()]) };
    if !zero_point_fits(zero_point.shape(), scale.shape()) {
        return Err(Error::Shape(format!(
            "{what} has shape {:?} but {scale_name} has shape {:?}",
            zero_point.shape(),
            scale.shape()
        )));
    }
    integer_values(zero_point, zero_point.data_type(), what)
}

/// The elements of an integer tensor of type `expected` (uint8, int8 or
/// int32), widened to i32.
fn integer_values(tensor: &Tensor, expected: DataType, what: &str) -> Result<Vec<i32>, Error> {
    let values = match tensor.data() {
        Data::U8(values) if expected == DataType::U8 => values.iter().map(|&value| i32::from(value)).collect(),
        Data::I8(values) if expected == DataType::I8 => values.iter().map(|&value| i32::from(value)).collect(),
        Data::I32(values) if expected == DataType::I32 => values.clone(),
        other => return Err(Error::Type(format!("{what} must be {expected:?}, is {:?}", other.data_type()))),
    };
    Ok(values)
}

/// A matrix-product zero point of type `expected` (its operand's) as
/// `length` values: one value repeated (0 when omitted), or a 1-D vector
/// of `length` (one per row of A or column of B).
fn integer_vector(tensor: Option<&Tensor>, expected: DataType, length: usize, what: &str, along: &str) -> Result<Vec<i32>, Error> {
    let Some(tensor) = tensor else { return Ok(vec![0; length]) };
    check_vector(tensor, length, what, along)?;
    let values = integer_values(tensor, expected, what)?;
    Ok(if values.len() == 1 { vec![values[0]; length] } else { values })
}

/// A matrix-product scale as `length` values, like [`integer_vector`].
fn scale_vector(tensor: &Tensor, length: usize, what: &str, along: &str) -> Result<Vec<f32>, Error> {
    check_vector(tensor, length, what, along)?;
    let values = positive_scales(tensor, what)?;
    Ok(if values.len() == 1 { vec![values[0]; length] } else { values.to_vec() })
}

/// Checks `tensor` is one value or a 1-D vector of `length`.
fn check_vector(tensor: &Tensor, length: usize, what: &str, along: &str) -> Result<(), Error> {
    if vector_fits(tensor.shape(), length) {
        return Ok(());
    }
    Err(Error::Shape(format!(
        "{what} of shape {:?} is neither one value nor a 1-D vector over the {length} {along}",
        tensor.shape()
    )))
}

/// The `numpy.matmul` product of two 8-bit tensors less their zero points
/// (`a_zero` per row, `b_zero` per column), as wrapping i32 sums.
fn integer_product(shape: &MatMulShape, a: &Tensor, a_zero: &[i32], b: &Tensor, b_zero: &[i32]) -> Result<Vec<i32>, Error> {
    match (a.data(), b.data()) {
        (Data::U8(a), Data::U8(b)) => Ok(product(shape, a, a_zero, b, b_zero)),
        (Data::U8(a), Data::I8(b)) => Ok(product(shape, a, a_zero, b, b_zero)),
        (Data::I8(a), Data::U8(b)) => Ok(product(shape, a, a_zero, b, b_zero)),
        (Data::I8(a), Data::I8(b)) => Ok(product(shape, a, a_zero, b, b_zero)),
        (a, b) => Err(Error::Type(format!(
            "integer matrix operands must be uint8 or int8, are {:?} and {:?}",
            a.data_type(),
            b.data_type()
        ))),
    }
}

/// The product loop of [`integer_product`]. `shape` was computed from the
/// operands' shapes, so every slice below lies within `a`, `b` and the sums;
/// `a_zero` has `m` values and `b_zero` `n`.
fn product<A: Copy + Into<i32>, B: Copy + Into<i32>>(shape: &MatMulShape, a: &[A], a_zero: &[i32], b: &[B], b_zero: &[i32]) -> Vec<i32> {
    let (m, k, n) = (shape.m, shape.k, shape.n);
    let mut sums = vec![0i32; shape.pairs.len() * m * n];
    for (index, &(a_matrix, b_matrix)) in shape.pairs.iter().enumerate() {
        let a_matrix = &a[a_matrix * m * k..][..m * k];
        let b_matrix = &b[b_matrix * k * n..][..k * n];
        let out = &mut sums[index * m * n..][..m * n];
        // Row `row` of the result accumulates a[row][p] times row p of b, so
        // the inner loop walks b and the result row in order.
        for (row, (out_row, a_row)) in out.chunks_exact_mut(n.max(1)).zip(a_matrix.chunks_exact(k.max(1))).enumerate() {
            for (&a_value, b_row) in a_row.iter().zip(b_matrix.chunks_exact(n.max(1))) {
                // Both differences are of values of one 8-bit type: within
                // ±255, so their product fits; only the sum may wrap.
                let left = a_value.into() - a_zero[row];
                if left == 0 {
                    continue;
                }
                for ((sum, &b_value), &zero) in out_row.iter_mut().zip(b_row).zip(b_zero) {
                    *sum = sum.wrapping_add(left * (b_value.into() - zero));
                }
            }
        }
    }
    sums
}

/// The inclusive range of an 8-bit quantized type.
fn integer_range(kind: DataType) -> (i64, i64) {
    match kind {
        DataType::I8 => (i64::from(i8::MIN), i64::from(i8::MAX)),
        _ => (i64::from(u8::MIN), i64::from(u8::MAX)),
    }
}

/// `rounded + zero_point` saturated to `range`. `rounded` is already an
/// integer (or NaN, which counts as 0, or infinite, which saturates).
fn saturate(rounded: f64, zero_point: i32, (low, high): (i64, i64)) -> i32 {
    // `as` saturates out-of-range floats and maps NaN to 0.
    let value = (rounded as i64).saturating_add(i64::from(zero_point)).clamp(low, high);
    // Within an 8-bit range after the clamp.
    value as i32
}

/// A tensor's worth of 8-bit values of type `kind` (`uint8` or `int8`):
/// element `index` is `value(index)`, already saturated to the type's range.
fn quantized(kind: DataType, count: usize, value: impl Fn(usize) -> i32) -> Data {
    match kind {
        DataType::I8 => Data::I8((0..count).map(|index| value(index) as i8).collect()),
        _ => Data::U8((0..count).map(|index| value(index) as u8).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u8s(shape: &[usize], values: &[u8]) -> Tensor {
        Tensor::new(shape.to_vec(), Data::U8(values.to_vec())).unwrap()
    }

    fn i8s(shape: &[usize], values: &[i8]) -> Tensor {
        Tensor::new(shape.to_vec(), Data::I8(values.to_vec())).unwrap()
    }

    fn i32s(shape: &[usize], values: &[i32]) -> Tensor {
        Tensor::new(shape.to_vec(), Data::I32(values.to_vec())).unwrap()
    }

    fn f32s(shape: &[usize], values: &[f32]) -> Tensor {
        Tensor::f32(shape, values.to_vec()).unwrap()
    }

    fn scalar_f32(value: f32) -> Tensor {
        f32s(&[], &[value])
    }

    fn scalar_u8(value: u8) -> Tensor {
        u8s(&[], &[value])
    }

    fn scalar_i8(value: i8) -> Tensor {
        i8s(&[], &[value])
    }

    // QuantizeLinear

    #[test]
    fn quantize_rounds_half_to_even_and_saturates_uint8() {
        let x = f32s(&[9], &[0.0, 1.0, 2.5, 3.5, -1.5, -0.5, 0.5, 300.0, -300.0]);
        let y = quantize_linear(&x, &scalar_f32(1.0), Some(&scalar_u8(128)), 1).unwrap();
        // 2.5 → 2, 3.5 → 4, -1.5 → -2, ±0.5 → 0; 428 and -172 saturate.
        assert_eq!(y, u8s(&[9], &[128, 129, 130, 132, 126, 128, 128, 255, 0]));
    }

    #[test]
    fn quantize_to_int8_with_a_negative_zero_point() {
        let x = f32s(&[5], &[5.0, 3.0, -3.0, 1000.0, -1000.0]);
        let y = quantize_linear(&x, &scalar_f32(2.0), Some(&scalar_i8(-1)), 1).unwrap();
        // 2.5 → 2, 1.5 → 2, -1.5 → -2, then -1; 499 and -501 saturate.
        assert_eq!(y, i8s(&[5], &[1, 1, -3, 127, -128]));
    }

    #[test]
    fn quantize_without_zero_point_is_uint8_from_zero() {
        let x = f32s(&[2, 2], &[-4.0, 0.75, 1.25, 1000.0]);
        let y = quantize_linear(&x, &scalar_f32(0.5), None, 1).unwrap();
        // -8 → 0, 1.5 → 2, 2.5 → 2, 2000 → 255.
        assert_eq!(y, u8s(&[2, 2], &[0, 2, 2, 255]));
    }

    #[test]
    fn quantize_divides_in_f32_like_the_reference() {
        // 0.05f32 / 0.02f32 is 2.50000009 exactly but 2.5 once rounded to
        // f32 (→ 2, not 3); 0.39f32 / 0.02f32 is 19.4999997, 19.5 in f32
        // (→ 20, not 19).
        let y = quantize_linear(&f32s(&[2], &[0.05, 0.39]), &scalar_f32(0.02), None, 1).unwrap();
        assert_eq!(y, u8s(&[2], &[2, 20]));
    }

    #[test]
    fn quantize_nan_and_infinities() {
        let x = f32s(&[3], &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
        let y = quantize_linear(&x, &scalar_f32(1.0), Some(&scalar_i8(3)), 1).unwrap();
        assert_eq!(y, i8s(&[3], &[3, 127, -128]));
    }

    #[test]
    fn quantize_int32_input() {
        let x = i32s(&[4], &[3, -3, 7, i32::MAX]);
        let y = quantize_linear(&x, &scalar_f32(2.0), Some(&scalar_i8(0)), 1).unwrap();
        assert_eq!(y, i8s(&[4], &[2, -2, 4, 127]));
    }

    #[test]
    fn quantize_per_axis_with_positive_and_negative_axes() {
        let x = f32s(&[2, 3], &[1.0, 2.0, 4.0, 3.0, 6.0, 12.0]);
        let scale = f32s(&[3], &[1.0, 2.0, 4.0]);
        let zero_point = u8s(&[3], &[0, 10, 20]);
        let expected = u8s(&[2, 3], &[1, 11, 21, 3, 13, 23]);
        assert_eq!(quantize_linear(&x, &scale, Some(&zero_point), 1).unwrap(), expected);
        assert_eq!(quantize_linear(&x, &scale, Some(&zero_point), -1).unwrap(), expected);
        // Along axis 0 (= -2): row 1 is divided by 2, 1.5 → 2.
        let scale = f32s(&[2], &[1.0, 2.0]);
        let expected = u8s(&[2, 3], &[1, 2, 4, 2, 3, 6]);
        assert_eq!(quantize_linear(&x, &scale, None, 0).unwrap(), expected);
        assert_eq!(quantize_linear(&x, &scale, None, -2).unwrap(), expected);
    }

    #[test]
    fn quantize_per_axis_along_a_middle_axis() {
        let x = f32s(&[2, 2, 2], &[10.0; 8]);
        let scale = f32s(&[2], &[1.0, 10.0]);
        let y = quantize_linear(&x, &scale, None, 1).unwrap();
        assert_eq!(y, u8s(&[2, 2, 2], &[10, 10, 1, 1, 10, 10, 1, 1]));
    }

    #[test]
    fn one_value_scale_is_per_tensor_whatever_the_axis() {
        let x = f32s(&[], &[3.0]);
        let y = quantize_linear(&x, &f32s(&[1], &[2.0]), Some(&u8s(&[1], &[1])), 5).unwrap();
        assert_eq!(y, u8s(&[], &[3]));
    }

    #[test]
    fn quantize_refuses_bad_scales() {
        let x = f32s(&[2], &[1.0, 2.0]);
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let error = quantize_linear(&x, &scalar_f32(bad), None, 1).unwrap_err();
            assert!(matches!(error, Error::Invalid(ref message) if message.contains("y_scale")), "{bad}: {error:?}");
        }
        let per_axis = f32s(&[2], &[1.0, 0.0]);
        assert!(matches!(quantize_linear(&x, &per_axis, None, 0), Err(Error::Invalid(_))));
        assert!(matches!(quantize_linear(&x, &f32s(&[0], &[]), None, 0), Err(Error::Shape(_))));
        assert!(matches!(quantize_linear(&x, &u8s(&[], &[1]), None, 0), Err(Error::Type(_))));
    }

    #[test]
    fn quantize_refuses_bad_axes_and_shapes() {
        let x = f32s(&[2, 3], &[0.0; 6]);
        let scale = f32s(&[3], &[1.0; 3]);
        assert!(matches!(quantize_linear(&x, &scale, None, 2), Err(Error::Invalid(_))));
        assert!(matches!(quantize_linear(&x, &scale, None, -3), Err(Error::Invalid(_))));
        assert!(matches!(quantize_linear(&x, &scale, None, i64::MIN), Err(Error::Invalid(_))));
        // Length 3 along axis 0 (size 2).
        assert!(matches!(quantize_linear(&x, &scale, None, 0), Err(Error::Shape(_))));
        // A 2-D scale is not per axis.
        assert!(matches!(quantize_linear(&x, &f32s(&[1, 3], &[1.0; 3]), None, 1), Err(Error::Shape(_))));
        // The zero point must match the scale.
        assert!(matches!(quantize_linear(&x, &scale, Some(&u8s(&[2], &[0, 0])), 1), Err(Error::Shape(_))));
        assert!(matches!(quantize_linear(&x, &scalar_f32(1.0), Some(&u8s(&[3], &[0; 3])), 1), Err(Error::Shape(_))));
    }

    #[test]
    fn quantize_refuses_bad_types() {
        let x = f32s(&[1], &[1.0]);
        assert!(matches!(quantize_linear(&x, &scalar_f32(1.0), Some(&i32s(&[], &[0])), 1), Err(Error::Type(_))));
        assert!(matches!(quantize_linear(&u8s(&[1], &[1]), &scalar_f32(1.0), None, 1), Err(Error::Type(_))));
    }

    // DequantizeLinear

    #[test]
    fn dequantize_uint8_and_int8() {
        let y = dequantize_linear(&u8s(&[3], &[0, 128, 255]), &scalar_f32(0.5), Some(&scalar_u8(128)), 1).unwrap();
        assert_eq!(y, f32s(&[3], &[-64.0, 0.0, 63.5]));
        let y = dequantize_linear(&i8s(&[2], &[-128, 127]), &scalar_f32(2.0), Some(&scalar_i8(-1)), 1).unwrap();
        assert_eq!(y, f32s(&[2], &[-254.0, 256.0]));
        let y = dequantize_linear(&u8s(&[2], &[3, 255]), &scalar_f32(0.25), None, 1).unwrap();
        assert_eq!(y, f32s(&[2], &[0.75, 63.75]));
    }

    #[test]
    fn dequantize_per_axis_with_a_negative_axis() {
        let x = u8s(&[2, 2], &[10, 20, 30, 40]);
        let scale = f32s(&[2], &[1.0, 0.5]);
        let zero_point = u8s(&[2], &[10, 0]);
        let expected = f32s(&[2, 2], &[0.0, 10.0, 20.0, 20.0]);
        assert_eq!(dequantize_linear(&x, &scale, Some(&zero_point), -1).unwrap(), expected);
        assert_eq!(dequantize_linear(&x, &scale, Some(&zero_point), 1).unwrap(), expected);
        // Along axis 0: row 0 less 10 times 1, row 1 times 0.5.
        let expected = f32s(&[2, 2], &[0.0, 10.0, 15.0, 20.0]);
        assert_eq!(dequantize_linear(&x, &scale, Some(&zero_point), 0).unwrap(), expected);
    }

    #[test]
    fn dequantize_int32_needs_a_zero_zero_point() {
        let x = i32s(&[2], &[1000, -4]);
        assert_eq!(dequantize_linear(&x, &scalar_f32(0.25), None, 1).unwrap(), f32s(&[2], &[250.0, -1.0]));
        assert_eq!(dequantize_linear(&x, &scalar_f32(0.25), Some(&i32s(&[], &[0])), 1).unwrap(), f32s(&[2], &[250.0, -1.0]));
        assert!(matches!(dequantize_linear(&x, &scalar_f32(0.25), Some(&i32s(&[], &[1])), 1), Err(Error::Invalid(_))));
    }

    #[test]
    fn dequantize_refuses_bad_inputs() {
        let x = u8s(&[2], &[1, 2]);
        assert!(matches!(dequantize_linear(&x, &scalar_f32(1.0), Some(&scalar_i8(0)), 1), Err(Error::Type(_))));
        assert!(matches!(dequantize_linear(&f32s(&[1], &[1.0]), &scalar_f32(1.0), None, 1), Err(Error::Type(_))));
        assert!(matches!(dequantize_linear(&x, &scalar_f32(-2.0), None, 1), Err(Error::Invalid(_))));
        assert!(matches!(dequantize_linear(&x, &f32s(&[3], &[1.0; 3]), None, 0), Err(Error::Shape(_))));
        assert!(matches!(dequantize_linear(&x, &f32s(&[2], &[1.0; 2]), None, 1), Err(Error::Invalid(_))));
    }

    // DynamicQuantizeLinear

    fn dynamic(values: &[f32]) -> (Vec<u8>, f32, u8) {
        let (y, scale, zero_point) = dynamic_quantize_linear(&f32s(&[values.len()], values)).unwrap();
        assert_eq!(y.shape(), &[values.len()]);
        assert_eq!(scale.shape(), &[] as &[usize]);
        assert_eq!(zero_point.shape(), &[] as &[usize]);
        let Data::U8(y) = y.data().clone() else { panic!("y is not uint8") };
        let Data::F32(scale) = scale.data().clone() else { panic!("the scale is not float") };
        let Data::U8(zero_point) = zero_point.data().clone() else { panic!("the zero point is not uint8") };
        (y, scale[0], zero_point[0])
    }

    #[test]
    fn dynamic_quantize_mixed_signs() {
        // Range [-2, 253]: scale 1, zero point 2.
        let (y, scale, zero_point) = dynamic(&[-2.0, 253.0, 0.5, 1.5, 2.5, -1.5, 100.0]);
        assert_eq!((scale, zero_point), (1.0, 2));
        assert_eq!(y, [0, 255, 2, 4, 4, 0, 102]);
    }

    #[test]
    fn dynamic_quantize_rounds_the_zero_point_half_to_even() {
        // Range [-1.25, 126.25]: scale 0.5, zero point round(2.5) = 2, so the
        // maximum lands on 252.5 → 252 + 2, not 255.
        let (y, scale, zero_point) = dynamic(&[-1.25, 126.25, 0.0]);
        assert_eq!((scale, zero_point), (0.5, 2));
        assert_eq!(y, [0, 254, 2]);
    }

    #[test]
    fn dynamic_quantize_one_signed_inputs_include_zero() {
        let (y, scale, zero_point) = dynamic(&[10.0, 255.0, 3.5]);
        assert_eq!((scale, zero_point), (1.0, 0));
        assert_eq!(y, [10, 255, 4]);
        let (y, scale, zero_point) = dynamic(&[-255.0, -1.0]);
        assert_eq!((scale, zero_point), (1.0, 255));
        assert_eq!(y, [0, 254]);
    }

    #[test]
    fn dynamic_quantize_all_zero_and_empty_inputs() {
        assert_eq!(dynamic(&[0.0, -0.0]), (vec![0, 0], 1.0, 0));
        assert_eq!(dynamic(&[]), (vec![], 1.0, 0));
    }

    #[test]
    fn dynamic_quantize_refuses_non_finite_inputs_and_types() {
        for bad in [f32::NAN, f32::INFINITY] {
            assert!(matches!(dynamic_quantize_linear(&f32s(&[2], &[1.0, bad])), Err(Error::Invalid(_))));
        }
        assert!(matches!(dynamic_quantize_linear(&f32s(&[2], &[f32::MAX, -f32::MAX])), Err(Error::Invalid(_))));
        assert!(matches!(dynamic_quantize_linear(&u8s(&[1], &[1])), Err(Error::Type(_))));
    }

    // MatMulInteger

    #[test]
    fn matmul_integer_without_and_with_scalar_zero_points() {
        let a = u8s(&[2, 2], &[1, 2, 3, 4]);
        let b = u8s(&[2, 2], &[5, 6, 7, 8]);
        assert_eq!(matmul_integer(&a, &b, None, None).unwrap(), i32s(&[2, 2], &[19, 22, 43, 50]));
        // [[0, 1], [2, 3]] × [[3, 4], [5, 6]].
        let y = matmul_integer(&a, &b, Some(&scalar_u8(1)), Some(&u8s(&[1], &[2]))).unwrap();
        assert_eq!(y, i32s(&[2, 2], &[5, 6, 21, 26]));
    }

    #[test]
    fn matmul_integer_per_row_and_per_column_zero_points() {
        let a = u8s(&[2, 2], &[1, 2, 3, 4]);
        let b = u8s(&[2, 2], &[5, 6, 7, 8]);
        // [[0, 1], [1, 2]] × [[1, -2], [3, 0]].
        let y = matmul_integer(&a, &b, Some(&u8s(&[2], &[1, 2])), Some(&u8s(&[2], &[4, 8]))).unwrap();
        assert_eq!(y, i32s(&[2, 2], &[3, 0, 7, -2]));
    }

    #[test]
    fn matmul_integer_mixed_signedness() {
        let a = i8s(&[1, 2], &[-1, 3]);
        let b = u8s(&[2, 1], &[200, 100]);
        assert_eq!(matmul_integer(&a, &b, None, None).unwrap(), i32s(&[1, 1], &[100]));
        // [0, 4] × [200, 100].
        assert_eq!(matmul_integer(&a, &b, Some(&scalar_i8(-1)), None).unwrap(), i32s(&[1, 1], &[400]));
        let y = matmul_integer(&b, &a, Some(&scalar_u8(1)), Some(&i8s(&[2], &[0, -1]))).unwrap();
        // [[199], [99]] × [[-1, 4]].
        assert_eq!(y, i32s(&[2, 2], &[-199, 796, -99, 396]));
    }

    #[test]
    fn matmul_integer_one_dimensional_operands() {
        let vector = u8s(&[3], &[1, 2, 3]);
        let matrix = u8s(&[3, 2], &[1, 0, 0, 1, 1, 1]);
        assert_eq!(matmul_integer(&vector, &matrix, None, None).unwrap(), i32s(&[2], &[4, 5]));
        let matrix = u8s(&[2, 3], &[1, 0, 1, 0, 1, 1]);
        assert_eq!(matmul_integer(&matrix, &vector, None, None).unwrap(), i32s(&[2], &[4, 5]));
        let other = u8s(&[3], &[4, 5, 6]);
        assert_eq!(matmul_integer(&vector, &other, None, None).unwrap(), i32s(&[], &[32]));
    }

    #[test]
    fn matmul_integer_batches_broadcast() {
        let a = u8s(&[2, 1, 2], &[1, 2, 3, 4]);
        let b = u8s(&[2, 1], &[1, 1]);
        assert_eq!(matmul_integer(&a, &b, None, None).unwrap(), i32s(&[2, 1, 1], &[3, 7]));
        let a = u8s(&[1, 2], &[5, 7]);
        let b = u8s(&[3, 2, 1], &[1, 0, 0, 1, 2, 2]);
        assert_eq!(matmul_integer(&a, &b, None, None).unwrap(), i32s(&[3, 1, 1], &[5, 7, 24]));
        // Per-row zero points apply to every batch.
        let a = u8s(&[2, 2, 1], &[1, 2, 3, 4]);
        let b = u8s(&[1, 1], &[2]);
        let y = matmul_integer(&a, &b, Some(&u8s(&[2], &[1, 0])), None).unwrap();
        assert_eq!(y, i32s(&[2, 2, 1], &[0, 4, 4, 8]));
    }

    #[test]
    fn matmul_integer_sums_wrap_in_32_bits() {
        // 33028 × 255 × 255 = 2_147_645_700 exceeds i32::MAX by 162_053.
        let depth = 33_028;
        let a = u8s(&[1, depth], &vec![255; depth]);
        let b = u8s(&[depth, 1], &vec![255; depth]);
        let wrapped = (2_147_645_700i64 - (1i64 << 32)) as i32;
        assert_eq!(matmul_integer(&a, &b, None, None).unwrap(), i32s(&[1, 1], &[wrapped]));
    }

    #[test]
    fn matmul_integer_empty_dimensions() {
        let a = u8s(&[2, 0], &[]);
        let b = u8s(&[0, 3], &[]);
        assert_eq!(matmul_integer(&a, &b, None, None).unwrap(), i32s(&[2, 3], &[0; 6]));
        let a = u8s(&[0, 2], &[]);
        let b = u8s(&[2, 3], &[0; 6]);
        assert_eq!(matmul_integer(&a, &b, None, None).unwrap(), i32s(&[0, 3], &[]));
    }

    #[test]
    fn matmul_integer_refuses_bad_inputs() {
        let a = u8s(&[2, 3], &[0; 6]);
        let b = u8s(&[2, 2], &[0; 4]);
        assert!(matches!(matmul_integer(&a, &b, None, None), Err(Error::Shape(_))));
        assert!(matches!(matmul_integer(&scalar_u8(1), &b, None, None), Err(Error::Shape(_))));
        let b = u8s(&[3, 2], &[0; 6]);
        // Zero points: wrong length, wrong rank, wrong type.
        assert!(matches!(matmul_integer(&a, &b, Some(&u8s(&[3], &[0; 3])), None), Err(Error::Shape(_))));
        assert!(matches!(matmul_integer(&a, &b, None, Some(&u8s(&[3], &[0; 3]))), Err(Error::Shape(_))));
        assert!(matches!(matmul_integer(&a, &b, Some(&u8s(&[2, 1], &[0; 2])), None), Err(Error::Shape(_))));
        assert!(matches!(matmul_integer(&a, &b, Some(&scalar_i8(0)), None), Err(Error::Type(_))));
        assert!(matches!(matmul_integer(&a, &b, None, Some(&i32s(&[], &[0]))), Err(Error::Type(_))));
        assert!(matches!(matmul_integer(&a, &f32s(&[3, 2], &[0.0; 6]), None, None), Err(Error::Type(_))));
    }

    // QLinearMatMul

    /// `QLinearMatMul` with per-tensor scales `[a, b, y]` and zero points `[a, b, y]`.
    fn qlinear(a: &Tensor, b: &Tensor, [a_scale, b_scale, y_scale]: [f32; 3], [a_zero, b_zero, y_zero]: [&Tensor; 3]) -> Result<Tensor, Error> {
        qlinear_matmul([a, &scalar_f32(a_scale), a_zero, b, &scalar_f32(b_scale), b_zero, &scalar_f32(y_scale), y_zero])
    }

    #[test]
    fn qlinear_matmul_rounds_half_to_even_and_saturates() {
        let a = u8s(&[2, 2], &[1, 2, 3, 2]);
        let b = u8s(&[2, 2], &[1, 2, 2, 1]);
        // Sums: [[5, 4], [7, 8]]; × 0.5 → 2.5, 2, 3.5, 4 → 2, 2, 4, 4; + 10.
        let y = qlinear(&a, &b, [1.0, 1.0, 2.0], [&scalar_u8(0), &scalar_u8(0), &scalar_u8(10)]).unwrap();
        assert_eq!(y, u8s(&[2, 2], &[12, 12, 14, 14]));
        // × 100 then + 10: 510, 410, 710, 810 saturate at 255.
        let y = qlinear(&a, &b, [10.0, 10.0, 1.0], [&scalar_u8(0), &scalar_u8(0), &scalar_u8(10)]).unwrap();
        assert_eq!(y, u8s(&[2, 2], &[255; 4]));
    }

    #[test]
    fn qlinear_matmul_scales_the_sum_in_f64_like_the_reference() {
        // 25 × 0.06f32 is 1.49999997 (→ 1); an f32 product would round to
        // 1.5 first (→ 2).
        let a = u8s(&[1, 1], &[5]);
        let y = qlinear(&a, &a, [0.06, 1.0, 1.0], [&scalar_u8(0), &scalar_u8(0), &scalar_u8(0)]).unwrap();
        assert_eq!(y, u8s(&[1, 1], &[1]));
    }

    #[test]
    fn qlinear_matmul_int8_with_zero_points() {
        let a = i8s(&[1, 2], &[-3, 5]);
        let b = i8s(&[2, 1], &[4, -6]);
        // (a + 1)(b - 2): [-2, 6] · [2, -8] = -52; × 0.25 = -13; - 100 = -113.
        let y = qlinear(&a, &b, [0.5, 1.0, 2.0], [&scalar_i8(-1), &scalar_i8(2), &scalar_i8(-100)]).unwrap();
        assert_eq!(y, i8s(&[1, 1], &[-113]));
        // Saturates at -128 with y_zero_point -120.
        let y = qlinear(&a, &b, [0.5, 1.0, 2.0], [&scalar_i8(-1), &scalar_i8(2), &scalar_i8(-120)]).unwrap();
        assert_eq!(y, i8s(&[1, 1], &[-128]));
        // The output type is y_zero_point's, not the operands'.
        let y = qlinear(&a, &b, [0.5, 1.0, 2.0], [&scalar_i8(-1), &scalar_i8(2), &scalar_u8(20)]).unwrap();
        assert_eq!(y, u8s(&[1, 1], &[7]));
    }

    #[test]
    fn qlinear_matmul_per_row_and_per_column_parameters() {
        let a = u8s(&[2, 1], &[3, 6]);
        let b = u8s(&[1, 2], &[5, 9]);
        let a_scale = f32s(&[2], &[1.0, 0.5]);
        let a_zero = u8s(&[2], &[1, 2]);
        let b_scale = f32s(&[2], &[1.0, 0.25]);
        let b_zero = u8s(&[2], &[1, 1]);
        // a - a_zero = [2, 4]; b - b_zero = [4, 8]; sums [[8, 16], [16, 32]];
        // multipliers [[1, 0.25], [0.5, 0.125]] → [[8, 4], [8, 4]]; + 1.
        let y = qlinear_matmul([&a, &a_scale, &a_zero, &b, &b_scale, &b_zero, &scalar_f32(1.0), &scalar_u8(1)]).unwrap();
        assert_eq!(y, u8s(&[2, 2], &[9, 5, 9, 5]));
    }

    #[test]
    fn qlinear_matmul_batched_and_one_dimensional() {
        let a = u8s(&[2, 1, 2], &[1, 2, 3, 4]);
        let b = u8s(&[2], &[1, 1]);
        // Sums [3, 7] × 1 + 0.
        let y = qlinear(&a, &b, [1.0, 1.0, 1.0], [&scalar_u8(0), &scalar_u8(0), &scalar_u8(0)]).unwrap();
        assert_eq!(y, u8s(&[2, 1], &[3, 7]));
    }

    #[test]
    fn qlinear_matmul_refuses_bad_inputs() {
        let a = u8s(&[1, 2], &[1, 2]);
        let b = u8s(&[2, 1], &[1, 2]);
        let zero = scalar_u8(0);
        for bad in [0.0, -1.0, f32::NAN] {
            assert!(matches!(qlinear(&a, &b, [1.0, 1.0, bad], [&zero, &zero, &zero]), Err(Error::Invalid(_))));
            assert!(matches!(qlinear(&a, &b, [bad, 1.0, 1.0], [&zero, &zero, &zero]), Err(Error::Invalid(_))));
        }
        // A multiplier that overflows f32.
        assert!(matches!(qlinear(&a, &b, [1e30, 1e30, 1.0], [&zero, &zero, &zero]), Err(Error::Invalid(_))));
        assert!(matches!(qlinear(&a, &b, [1.0, 1.0, 1.0], [&scalar_i8(0), &zero, &zero]), Err(Error::Type(_))));
        assert!(matches!(qlinear(&a, &b, [1.0, 1.0, 1.0], [&zero, &zero, &i32s(&[], &[0])]), Err(Error::Type(_))));
        assert!(matches!(qlinear(&a, &a, [1.0, 1.0, 1.0], [&zero, &zero, &zero]), Err(Error::Shape(_))));
        let two = f32s(&[2], &[1.0, 1.0]);
        let y_zero = u8s(&[2], &[0, 0]);
        assert!(matches!(qlinear_matmul([&a, &two, &zero, &b, &scalar_f32(1.0), &zero, &scalar_f32(1.0), &zero]), Err(Error::Shape(_))));
        assert!(matches!(qlinear_matmul([&a, &scalar_f32(1.0), &zero, &b, &scalar_f32(1.0), &zero, &two, &zero]), Err(Error::Unsupported(_))));
        assert!(matches!(qlinear_matmul([&a, &scalar_f32(1.0), &zero, &b, &scalar_f32(1.0), &zero, &scalar_f32(1.0), &y_zero]), Err(Error::Unsupported(_))));
    }
}

//! Element-wise operators: `Add`/`Sub`/`Mul` with NumPy broadcasting,
//! `Relu`/`Sigmoid`/`Tanh`, `Clip` and `Softmax`.

use super::{Binary, Unary};
use crate::Error;
use crate::tensor::{Data, DataType, Tensor, axis_index, broadcast_indices, broadcast_shapes, element_count};
use alloc::format;
use alloc::vec::Vec;

/// Where each element of a broadcast result reads one operand.
///
/// The common cases (same size as the result, or a single element) need no
/// index table; only true broadcasting pays for one.
enum Reader {
    /// The operand has the result's shape (perhaps with fewer leading 1s).
    Same,
    /// The operand has one element.
    One,
    /// The operand index of each result element.
    Table(Vec<usize>),
}

impl Reader {
    /// `from` must broadcast to `shape`, which holds `count` elements.
    fn new(from: &[usize], shape: &[usize], count: usize) -> Reader {
        // Equal counts with every dimension equal or broadcast from 1 means
        // the layouts are the same.
        match from.iter().product::<usize>() {
            len if len == count => Reader::Same,
            1 => Reader::One,
            _ => Reader::Table(broadcast_indices(from, shape)),
        }
    }

    fn index(&self, position: usize) -> usize {
        match self {
            Reader::Same => position,
            Reader::One => 0,
            Reader::Table(indices) => indices[position],
        }
    }
}

/// `op` applied to `a` and `b` broadcast to `shape` (which both must
/// broadcast to).
fn broadcast_apply<T: Copy>(a: &[T], a_shape: &[usize], b: &[T], b_shape: &[usize], shape: &[usize], op: fn(T, T) -> T) -> Result<Vec<T>, Error> {
    let count = element_count(shape)?;
    let (a_reader, b_reader) = (Reader::new(a_shape, shape, count), Reader::new(b_shape, shape, count));
    Ok((0..count).map(|position| op(a[a_reader.index(position)], b[b_reader.index(position)])).collect())
}

/// `Add`, `Sub` or `Mul` of `a` and `b` with multidirectional broadcasting.
/// Both operands have the same type: float, int32 or int64 (integers wrap).
pub fn binary(kind: Binary, a: &Tensor, b: &Tensor) -> Result<Tensor, Error> {
    if a.data_type() != b.data_type() {
        return Err(Error::Type(format!("{kind:?} operands differ: {:?} and {:?}", a.data_type(), b.data_type())));
    }
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let (a_shape, b_shape) = (a.shape(), b.shape());
    let data = match (a.data(), b.data()) {
        (Data::F32(x), Data::F32(y)) => {
            let op: fn(f32, f32) -> f32 = match kind {
                Binary::Add => |p, q| p + q,
                Binary::Sub => |p, q| p - q,
                Binary::Mul => |p, q| p * q,
            };
            Data::F32(broadcast_apply(x, a_shape, y, b_shape, &shape, op)?)
        }
        (Data::I32(x), Data::I32(y)) => {
            let op: fn(i32, i32) -> i32 = match kind {
                Binary::Add => i32::wrapping_add,
                Binary::Sub => i32::wrapping_sub,
                Binary::Mul => i32::wrapping_mul,
            };
            Data::I32(broadcast_apply(x, a_shape, y, b_shape, &shape, op)?)
        }
        (Data::I64(x), Data::I64(y)) => {
            let op: fn(i64, i64) -> i64 = match kind {
                Binary::Add => i64::wrapping_add,
                Binary::Sub => i64::wrapping_sub,
                Binary::Mul => i64::wrapping_mul,
            };
            Data::I64(broadcast_apply(x, a_shape, y, b_shape, &shape, op)?)
        }
        _ => return Err(Error::Type(format!("{kind:?} cannot compute on {:?}", a.data_type()))),
    };
    Tensor::new(shape, data)
}

/// The logistic function 1 / (1 + e^-x), never overflowing: for negative
/// x it is computed as e^x / (1 + e^x), whose exponential is at most 1.
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let exponential = libm::expf(x);
        exponential / (1.0 + exponential)
    }
}

/// `Relu`, `Sigmoid` or `Tanh` of a float tensor.
pub fn unary(kind: Unary, x: &Tensor) -> Result<Tensor, Error> {
    let values = x.as_f32(match kind {
        Unary::Relu => "the input of Relu",
        Unary::Sigmoid => "the input of Sigmoid",
        Unary::Tanh => "the input of Tanh",
    })?;
    let op: fn(f32) -> f32 = match kind {
        // NaN stays NaN.
        Unary::Relu => |v| if v < 0.0 { 0.0 } else { v },
        Unary::Sigmoid => sigmoid,
        Unary::Tanh => libm::tanhf,
    };
    Tensor::new(x.shape().to_vec(), Data::F32(values.iter().map(|&v| op(v)).collect()))
}

/// Element types `Clip` accepts, with access to their vectors in [`Data`].
trait Element: Copy + PartialOrd {
    fn values(data: &Data) -> Option<&[Self]>;
}

macro_rules! element {
    ($type:ty, $variant:ident) => {
        impl Element for $type {
            fn values(data: &Data) -> Option<&[$type]> {
                match data {
                    Data::$variant(values) => Some(values),
                    _ => None,
                }
            }
        }
    };
}

element!(f32, F32);
element!(i32, I32);
element!(i64, I64);
element!(i8, I8);
element!(u8, U8);

/// The value of `Clip`'s optional bound `name`: a scalar or one-element
/// tensor of the input's type `data_type`.
fn clip_bound<T: Element>(bound: Option<&Tensor>, name: &str, data_type: DataType) -> Result<Option<T>, Error> {
    let Some(bound) = bound else { return Ok(None) };
    let values = T::values(bound.data())
        .ok_or_else(|| Error::Type(format!("Clip's `{name}` is {:?}, its input {data_type:?}", bound.data_type())))?;
    match values {
        [value] => Ok(Some(*value)),
        _ => Err(Error::Shape(format!("Clip's `{name}` must be a single value, has shape {:?}", bound.shape()))),
    }
}

/// `values` clipped: `min(max(v, low), high)`, so every element becomes
/// `high` when `low > high`; NaN stays NaN.
fn clip_values<T: Element>(values: &[T], min: Option<&Tensor>, max: Option<&Tensor>, data_type: DataType) -> Result<Vec<T>, Error> {
    let low = clip_bound::<T>(min, "min", data_type)?;
    let high = clip_bound::<T>(max, "max", data_type)?;
    Ok(values
        .iter()
        .map(|&value| {
            let value = match low {
                Some(low) if value < low => low,
                _ => value,
            };
            match high {
                Some(high) if value > high => high,
                _ => value,
            }
        })
        .collect())
}

/// `Clip(x, min?, max?)` (operator set 11 and later): an omitted bound
/// does not limit.
pub fn clip(x: &Tensor, min: Option<&Tensor>, max: Option<&Tensor>) -> Result<Tensor, Error> {
    let data_type = x.data_type();
    let data = match x.data() {
        Data::F32(values) => Data::F32(clip_values(values, min, max, data_type)?),
        Data::I32(values) => Data::I32(clip_values(values, min, max, data_type)?),
        Data::I64(values) => Data::I64(clip_values(values, min, max, data_type)?),
        Data::I8(values) => Data::I8(clip_values(values, min, max, data_type)?),
        Data::U8(values) => Data::U8(clip_values(values, min, max, data_type)?),
    };
    Tensor::new(x.shape().to_vec(), data)
}

/// `Softmax` along `axis` (operator set 13 and later; negative counts from
/// the end). Each lane's maximum is subtracted before exponentiating, so
/// large inputs do not overflow.
pub fn softmax(x: &Tensor, axis: i64) -> Result<Tensor, Error> {
    let values = x.as_f32("the input of Softmax")?;
    let shape = x.shape();
    let rank = shape.len();
    let axis_index = axis_index(axis, rank).ok_or_else(|| Error::Invalid(format!("Softmax axis {axis} is out of range for rank {rank}")))?;
    let lane = shape[axis_index];
    let inner: usize = shape[axis_index + 1..].iter().product();
    let outer: usize = shape[..axis_index].iter().product();
    let mut output = values.to_vec();
    for block in 0..outer {
        for offset in 0..inner {
            let start = block * lane * inner + offset;
            let positions = (0..lane).map(|step| start + step * inner);
            let maximum = positions.clone().map(|position| values[position]).fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for position in positions.clone() {
                let exponential = libm::expf(values[position] - maximum);
                output[position] = exponential;
                sum += exponential;
            }
            for position in positions {
                output[position] /= sum;
            }
        }
    }
    Tensor::new(shape.to_vec(), Data::F32(output))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn floats(shape: &[usize], values: &[f32]) -> Tensor {
        Tensor::f32(shape, values.to_vec()).unwrap()
    }

    fn ints(shape: &[usize], values: &[i32]) -> Tensor {
        Tensor::new(shape.to_vec(), Data::I32(values.to_vec())).unwrap()
    }

    fn longs(shape: &[usize], values: &[i64]) -> Tensor {
        Tensor::new(shape.to_vec(), Data::I64(values.to_vec())).unwrap()
    }

    fn assert_close(actual: &Tensor, shape: &[usize], expected: &[f32]) {
        assert_eq!(actual.shape(), shape);
        let values = actual.as_f32("result").unwrap();
        assert_eq!(values.len(), expected.len());
        for (index, (&got, &want)) in values.iter().zip(expected).enumerate() {
            assert!((got - want).abs() <= 1e-6 + 1e-5 * want.abs(), "element {index}: {got} != {want}");
        }
    }

    #[test]
    fn same_shape_add_sub_mul() {
        let a = floats(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = floats(&[2, 2], &[10.0, 20.0, 30.0, 40.0]);
        assert_close(&binary(Binary::Add, &a, &b).unwrap(), &[2, 2], &[11.0, 22.0, 33.0, 44.0]);
        assert_close(&binary(Binary::Sub, &a, &b).unwrap(), &[2, 2], &[-9.0, -18.0, -27.0, -36.0]);
        assert_close(&binary(Binary::Mul, &a, &b).unwrap(), &[2, 2], &[10.0, 40.0, 90.0, 160.0]);
    }

    #[test]
    fn broadcast_row_and_column() {
        // [2,1] - [3] -> [2,3]: a[i] - b[j].
        let column = floats(&[2, 1], &[10.0, 20.0]);
        let row = floats(&[3], &[1.0, 2.0, 3.0]);
        assert_close(&binary(Binary::Sub, &column, &row).unwrap(), &[2, 3], &[9.0, 8.0, 7.0, 19.0, 18.0, 17.0]);
        assert_close(&binary(Binary::Sub, &row, &column).unwrap(), &[2, 3], &[-9.0, -8.0, -7.0, -19.0, -18.0, -17.0]);
    }

    #[test]
    fn broadcast_middle_dimension_and_scalar() {
        // [2,1,2] * [3,1] -> [2,3,2]: a[i,0,k] * b[j,0].
        let a = floats(&[2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = floats(&[3, 1], &[1.0, 10.0, 100.0]);
        let expected = [1.0, 2.0, 10.0, 20.0, 100.0, 200.0, 3.0, 4.0, 30.0, 40.0, 300.0, 400.0];
        assert_close(&binary(Binary::Mul, &a, &b).unwrap(), &[2, 3, 2], &expected);
        let scalar = floats(&[], &[0.5]);
        assert_close(&binary(Binary::Add, &scalar, &a).unwrap(), &[2, 1, 2], &[1.5, 2.5, 3.5, 4.5]);
        // Same count, extra leading 1s: the layout is unchanged.
        let flat = floats(&[4], &[1.0, 1.0, 1.0, 1.0]);
        let tall = floats(&[1, 4], &[1.0, 2.0, 3.0, 4.0]);
        assert_close(&binary(Binary::Add, &flat, &tall).unwrap(), &[1, 4], &[2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn broadcast_with_empty_dimension() {
        let empty = floats(&[0, 3], &[]);
        let row = floats(&[1, 3], &[1.0, 2.0, 3.0]);
        let sum = binary(Binary::Add, &empty, &row).unwrap();
        assert_eq!(sum.shape(), &[0, 3]);
        assert!(sum.is_empty());
    }

    #[test]
    fn integers_wrap() {
        let a = ints(&[2], &[i32::MAX, i32::MIN]);
        let one = ints(&[], &[1]);
        assert_eq!(binary(Binary::Add, &a, &one).unwrap().data(), &Data::I32(vec![i32::MIN, i32::MIN + 1]));
        assert_eq!(binary(Binary::Sub, &a, &one).unwrap().data(), &Data::I32(vec![i32::MAX - 1, i32::MAX]));
        let two = ints(&[1], &[2]);
        assert_eq!(binary(Binary::Mul, &a, &two).unwrap().data(), &Data::I32(vec![-2, 0]));
        let big = longs(&[1, 2], &[i64::MAX, 3]);
        let column = longs(&[2, 1], &[1, -1]);
        let sum = binary(Binary::Add, &big, &column).unwrap();
        assert_eq!(sum.shape(), &[2, 2]);
        assert_eq!(sum.data(), &Data::I64(vec![i64::MIN, 4, i64::MAX - 1, 2]));
    }

    #[test]
    fn binary_errors() {
        let a = floats(&[2, 3], &[0.0; 6]);
        let b = floats(&[2], &[0.0; 2]);
        assert!(matches!(binary(Binary::Add, &a, &b), Err(Error::Shape(_))));
        let c = ints(&[2, 3], &[0; 6]);
        assert!(matches!(binary(Binary::Add, &a, &c), Err(Error::Type(_))));
        let bytes = Tensor::new(vec![2], Data::U8(vec![1, 2])).unwrap();
        assert!(matches!(binary(Binary::Mul, &bytes, &bytes), Err(Error::Type(_))));
        // The broadcast result would exceed MAX_ELEMENTS.
        let wide = floats(&[1 << 14, 1], &vec![0.0; 1 << 14]);
        let long = floats(&[1 << 13], &vec![0.0; 1 << 13]);
        assert!(binary(Binary::Add, &wide, &long).is_err());
    }

    #[test]
    fn relu_sigmoid_tanh() {
        let x = floats(&[4], &[-2.0, -0.0, 0.0, 3.0]);
        assert_close(&unary(Unary::Relu, &x).unwrap(), &[4], &[0.0, 0.0, 0.0, 3.0]);
        // 1/(1+e^2) = 0.11920292, 1/(1+e^-3) = 0.95257413.
        assert_close(&unary(Unary::Sigmoid, &x).unwrap(), &[4], &[0.11920292, 0.5, 0.5, 0.95257413]);
        // tanh(2) = 0.9640276, tanh(3) = 0.9950547.
        assert_close(&unary(Unary::Tanh, &x).unwrap(), &[4], &[-0.9640276, 0.0, 0.0, 0.9950547]);
    }

    #[test]
    fn sigmoid_and_tanh_saturate_without_overflow() {
        let x = floats(&[4], &[-1000.0, -100.0, 100.0, 1000.0]);
        let sigmoid = unary(Unary::Sigmoid, &x).unwrap();
        let values = sigmoid.as_f32("sigmoid").unwrap();
        assert!(values.iter().all(|v| v.is_finite()));
        assert_eq!(values[0], 0.0);
        assert!(values[1] > 0.0 && values[1] < 1e-40);
        assert_eq!(&values[2..], &[1.0, 1.0]);
        assert_close(&unary(Unary::Tanh, &x).unwrap(), &[4], &[-1.0, -1.0, 1.0, 1.0]);
    }

    #[test]
    fn unary_keeps_nan_and_rejects_integers() {
        let nan = floats(&[1], &[f32::NAN]);
        for kind in [Unary::Relu, Unary::Sigmoid, Unary::Tanh] {
            assert!(unary(kind, &nan).unwrap().as_f32("y").unwrap()[0].is_nan(), "{kind:?}");
        }
        assert!(matches!(unary(Unary::Relu, &ints(&[1], &[1])), Err(Error::Type(_))));
    }

    #[test]
    fn clip_with_both_bounds() {
        let x = floats(&[2, 3], &[-3.0, -1.0, 0.0, 1.0, 2.0, 5.0]);
        let low = floats(&[], &[-1.5]);
        let high = floats(&[1], &[1.5]);
        let y = clip(&x, Some(&low), Some(&high)).unwrap();
        assert_close(&y, &[2, 3], &[-1.5, -1.0, 0.0, 1.0, 1.5, 1.5]);
    }

    #[test]
    fn clip_with_omitted_bounds() {
        let x = floats(&[3], &[-5.0, 0.0, 5.0]);
        let zero = floats(&[], &[0.0]);
        assert_close(&clip(&x, None, None).unwrap(), &[3], &[-5.0, 0.0, 5.0]);
        assert_close(&clip(&x, Some(&zero), None).unwrap(), &[3], &[0.0, 0.0, 5.0]);
        assert_close(&clip(&x, None, Some(&zero)).unwrap(), &[3], &[-5.0, 0.0, 0.0]);
    }

    #[test]
    fn clip_min_over_max_gives_max() {
        let x = floats(&[3], &[-5.0, 2.0, 5.0]);
        let low = floats(&[], &[3.0]);
        let high = floats(&[], &[1.0]);
        assert_close(&clip(&x, Some(&low), Some(&high)).unwrap(), &[3], &[1.0, 1.0, 1.0]);
    }

    #[test]
    fn clip_integer_types() {
        let x = Tensor::new(vec![4], Data::U8(vec![0, 10, 200, 255])).unwrap();
        let low = Tensor::new(vec![], Data::U8(vec![5])).unwrap();
        let high = Tensor::new(vec![], Data::U8(vec![250])).unwrap();
        assert_eq!(clip(&x, Some(&low), Some(&high)).unwrap().data(), &Data::U8(vec![5, 10, 200, 250]));
        let x = Tensor::new(vec![3], Data::I8(vec![-128, 0, 127])).unwrap();
        let high = Tensor::new(vec![], Data::I8(vec![-1])).unwrap();
        assert_eq!(clip(&x, None, Some(&high)).unwrap().data(), &Data::I8(vec![-128, -1, -1]));
        let x = longs(&[2], &[-7, 7]);
        let low = longs(&[], &[-2]);
        assert_eq!(clip(&x, Some(&low), None).unwrap().data(), &Data::I64(vec![-2, 7]));
        let x = ints(&[2, 1], &[-7, 7]);
        let bound = ints(&[1, 1], &[0]);
        let y = clip(&x, Some(&bound), None).unwrap();
        assert_eq!(y.shape(), &[2, 1]);
        assert_eq!(y.data(), &Data::I32(vec![0, 7]));
    }

    #[test]
    fn clip_errors() {
        let x = floats(&[2], &[1.0, 2.0]);
        let integer = ints(&[], &[0]);
        assert!(matches!(clip(&x, Some(&integer), None), Err(Error::Type(_))));
        let two = floats(&[2], &[0.0, 1.0]);
        assert!(matches!(clip(&x, None, Some(&two)), Err(Error::Shape(_))));
        let empty = floats(&[0], &[]);
        assert!(matches!(clip(&x, Some(&empty), None), Err(Error::Shape(_))));
    }

    #[test]
    fn softmax_last_axis() {
        // e^0, e^1, e^2 over their sum 1 + e + e^2 = 11.107337.
        let x = floats(&[2, 3], &[0.0, 1.0, 2.0, 5.0, 5.0, 5.0]);
        let expected = [0.09003057, 0.24472847, 0.66524096, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0];
        assert_close(&softmax(&x, -1).unwrap(), &[2, 3], &expected);
        assert_close(&softmax(&x, 1).unwrap(), &[2, 3], &expected);
    }

    #[test]
    fn softmax_first_and_middle_axis() {
        // Axis 0 of [2,3]: pairs (0,5), (1,5), (2,5).
        let x = floats(&[2, 3], &[0.0, 1.0, 2.0, 5.0, 5.0, 5.0]);
        // e^-5/(1+e^-5) = 0.0066928509, e^-4/(1+e^-4) = 0.017986210, e^-3/(1+e^-3) = 0.047425873.
        let expected = [0.006692851, 0.01798621, 0.047425873, 0.9933072, 0.98201379, 0.95257413];
        assert_close(&softmax(&x, 0).unwrap(), &[2, 3], &expected);
        assert_close(&softmax(&x, -2).unwrap(), &[2, 3], &expected);
        // Axis 1 of [1,2,2]: lanes (x[0,0,k], x[0,1,k]) for k = 0, 1.
        let x = floats(&[1, 2, 2], &[0.0, 3.0, 0.0, 1.0]);
        // e^2/(1+e^2) = 0.8807971.
        assert_close(&softmax(&x, 1).unwrap(), &[1, 2, 2], &[0.5, 0.8807971, 0.5, 0.11920292]);
    }

    #[test]
    fn softmax_large_inputs_stay_finite() {
        let x = floats(&[4], &[10000.0, 10001.0, 10002.0, -10000.0]);
        assert_close(&softmax(&x, 0).unwrap(), &[4], &[0.09003057, 0.24472847, 0.66524096, 0.0]);
    }

    #[test]
    fn softmax_errors() {
        let x = floats(&[2, 3], &[0.0; 6]);
        assert!(matches!(softmax(&x, 2), Err(Error::Invalid(_))));
        assert!(matches!(softmax(&x, -3), Err(Error::Invalid(_))));
        assert!(matches!(softmax(&x, i64::MIN), Err(Error::Invalid(_))));
        assert!(matches!(softmax(&x, i64::MAX), Err(Error::Invalid(_))));
        assert!(matches!(softmax(&floats(&[], &[1.0]), 0), Err(Error::Invalid(_))));
        assert!(matches!(softmax(&ints(&[1], &[1]), 0), Err(Error::Type(_))));
    }

    #[test]
    fn softmax_empty_lane() {
        let x = floats(&[2, 0], &[]);
        assert_eq!(softmax(&x, 1).unwrap().shape(), &[2, 0]);
    }
}

//! Dense tensors: a shape and a vector of one element type.

use crate::Error;
use crate::onnx::{TensorProto, data_type};
use alloc::format;
use alloc::vec::Vec;

/// Most elements one tensor may hold (64 Mi): bigger claims in a model
/// file are refused before anything is allocated.
pub const MAX_ELEMENTS: usize = 1 << 26;
/// Most dimensions a tensor may have.
pub const MAX_RANK: usize = 8;

/// Element types the engine computes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    /// 32-bit float (the float path).
    F32,
    /// 8-bit unsigned (quantized).
    U8,
    /// 8-bit signed (quantized).
    I8,
    /// 32-bit signed (accumulators).
    I32,
    /// 64-bit signed (shapes, sequence lengths).
    I64,
}

impl DataType {
    /// The type with ONNX code `code`.
    pub fn from_onnx(code: i32) -> Result<DataType, Error> {
        Ok(match code {
            data_type::FLOAT => DataType::F32,
            data_type::UINT8 => DataType::U8,
            data_type::INT8 => DataType::I8,
            data_type::INT32 => DataType::I32,
            data_type::INT64 => DataType::I64,
            other => return Err(Error::Unsupported(format!("tensor element type {other}"))),
        })
    }

    /// Its ONNX code.
    pub fn onnx(self) -> i32 {
        match self {
            DataType::F32 => data_type::FLOAT,
            DataType::U8 => data_type::UINT8,
            DataType::I8 => data_type::INT8,
            DataType::I32 => data_type::INT32,
            DataType::I64 => data_type::INT64,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DataType::U8 | DataType::I8 => 1,
            DataType::F32 | DataType::I32 => 4,
            DataType::I64 => 8,
        }
    }
}

/// The elements of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// Floats.
    F32(Vec<f32>),
    /// Unsigned bytes.
    U8(Vec<u8>),
    /// Signed bytes.
    I8(Vec<i8>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// 64-bit integers.
    I64(Vec<i64>),
}

impl Data {
    /// How many elements.
    pub fn len(&self) -> usize {
        match self {
            Data::F32(v) => v.len(),
            Data::U8(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn data_type(&self) -> DataType {
        match self {
            Data::F32(_) => DataType::F32,
            Data::U8(_) => DataType::U8,
            Data::I8(_) => DataType::I8,
            Data::I32(_) => DataType::I32,
            Data::I64(_) => DataType::I64,
        }
    }
}

/// A dense, row-major tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Data,
}

/// The number of elements of `shape`, if it is within [`MAX_ELEMENTS`].
pub fn element_count(shape: &[usize]) -> Result<usize, Error> {
    if shape.len() > MAX_RANK {
        return Err(Error::Invalid(format!("rank {} is over {MAX_RANK}", shape.len())));
    }
    shape
        .iter()
        .try_fold(1usize, |count, &dim| count.checked_mul(dim))
        .filter(|&count| count <= MAX_ELEMENTS)
        .ok_or_else(|| Error::Invalid(format!("shape {shape:?} holds more than {MAX_ELEMENTS} elements")))
}

impl Tensor {
    /// A tensor of `shape` holding `data` (their sizes must agree).
    pub fn new(shape: Vec<usize>, data: Data) -> Result<Tensor, Error> {
        let count = element_count(&shape)?;
        if count != data.len() {
            return Err(Error::Invalid(format!("shape {shape:?} needs {count} elements, got {}", data.len())));
        }
        Ok(Tensor { shape, data })
    }

    /// A float tensor.
    pub fn f32(shape: &[usize], values: Vec<f32>) -> Result<Tensor, Error> {
        Tensor::new(shape.to_vec(), Data::F32(values))
    }

    /// A scalar (shape `[]`).
    pub fn scalar(data: Data) -> Result<Tensor, Error> {
        Tensor::new(Vec::new(), data)
    }

    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Its elements.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// Its elements, to change in place.
    pub fn data_mut(&mut self) -> &mut Data {
        &mut self.data
    }

    /// Its shape and elements.
    pub fn into_parts(self) -> (Vec<usize>, Data) {
        (self.shape, self.data)
    }

    /// How many elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Its element type.
    pub fn data_type(&self) -> DataType {
        self.data.data_type()
    }

    /// The same elements under another shape of the same size.
    pub fn reshaped(self, shape: Vec<usize>) -> Result<Tensor, Error> {
        Tensor::new(shape, self.data)
    }

    /// The float elements, or an error naming `what`.
    pub fn as_f32(&self, what: &str) -> Result<&[f32], Error> {
        match &self.data {
            Data::F32(values) => Ok(values),
            other => Err(Error::Type(format!("{what} must be float, is {:?}", other.data_type()))),
        }
    }

    /// The 64-bit integer elements, or an error naming `what`.
    pub fn as_i64(&self, what: &str) -> Result<&[i64], Error> {
        match &self.data {
            Data::I64(values) => Ok(values),
            other => Err(Error::Type(format!("{what} must be int64, is {:?}", other.data_type()))),
        }
    }

    /// The 32-bit integer elements, or an error naming `what`.
    pub fn as_i32(&self, what: &str) -> Result<&[i32], Error> {
        match &self.data {
            Data::I32(values) => Ok(values),
            other => Err(Error::Type(format!("{what} must be int32, is {:?}", other.data_type()))),
        }
    }

    /// Reads a `TensorProto` (raw little-endian bytes or the typed fields).
    pub fn from_proto(proto: &TensorProto) -> Result<Tensor, Error> {
        if proto.data_location != 0 || !proto.external_data.is_empty() {
            return Err(Error::Unsupported(format!("tensor `{}` stored outside the file", proto.name)));
        }
        let shape = proto
            .dims
            .iter()
            .map(|&dim| usize::try_from(dim).map_err(|_| Error::Invalid(format!("tensor `{}` has dimension {dim}", proto.name))))
            .collect::<Result<Vec<usize>, Error>>()?;
        let count = element_count(&shape)?;
        let data_type = DataType::from_onnx(proto.data_type)?;
        let data = if !proto.raw_data.is_empty() {
            let raw = &proto.raw_data;
            if raw.len() != count * data_type.size() {
                return Err(Error::Invalid(format!(
                    "tensor `{}` of shape {shape:?} has {} raw bytes, not {}",
                    proto.name,
                    raw.len(),
                    count * data_type.size()
                )));
            }
            match data_type {
                DataType::F32 => Data::F32(raw.as_chunks::<4>().0.iter().map(|&b| f32::from_le_bytes(b)).collect()),
                DataType::U8 => Data::U8(raw.clone()),
                DataType::I8 => Data::I8(raw.iter().map(|&b| b as i8).collect()),
                DataType::I32 => Data::I32(raw.as_chunks::<4>().0.iter().map(|&b| i32::from_le_bytes(b)).collect()),
                DataType::I64 => Data::I64(raw.as_chunks::<8>().0.iter().map(|&b| i64::from_le_bytes(b)).collect()),
            }
        } else {
            let narrow = |what: &str| -> Result<&[i32], Error> {
                if proto.int32_data.len() == count {
                    Ok(&proto.int32_data)
                } else {
                    Err(Error::Invalid(format!("tensor `{}` of shape {shape:?} has {} {what} values", proto.name, proto.int32_data.len())))
                }
            };
            let out_of_range = || Error::Invalid(format!("tensor `{}` has a value out of its type's range", proto.name));
            match data_type {
                DataType::F32 => {
                    if proto.float_data.len() != count {
                        return Err(Error::Invalid(format!(
                            "tensor `{}` of shape {shape:?} has {} float values",
                            proto.name,
                            proto.float_data.len()
                        )));
                    }
                    Data::F32(proto.float_data.clone())
                }
                DataType::U8 => Data::U8(narrow("uint8")?.iter().map(|&v| u8::try_from(v).map_err(|_| out_of_range())).collect::<Result<_, _>>()?),
                DataType::I8 => Data::I8(narrow("int8")?.iter().map(|&v| i8::try_from(v).map_err(|_| out_of_range())).collect::<Result<_, _>>()?),
                DataType::I32 => Data::I32(narrow("int32")?.to_vec()),
                DataType::I64 => {
                    if proto.int64_data.len() != count {
                        return Err(Error::Invalid(format!(
                            "tensor `{}` of shape {shape:?} has {} int64 values",
                            proto.name,
                            proto.int64_data.len()
                        )));
                    }
                    Data::I64(proto.int64_data.clone())
                }
            }
        };
        Tensor::new(shape, data)
    }

    /// Writes it as a `TensorProto` named `name` (raw little-endian bytes).
    pub fn to_proto(&self, name: &str) -> TensorProto {
        let mut raw = Vec::with_capacity(self.len() * self.data_type().size());
        match &self.data {
            Data::F32(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
            Data::U8(v) => raw.extend_from_slice(v),
            Data::I8(v) => raw.extend(v.iter().map(|&x| x as u8)),
            Data::I32(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
            Data::I64(v) => v.iter().for_each(|x| raw.extend_from_slice(&x.to_le_bytes())),
        }
        TensorProto {
            dims: self.shape.iter().map(|&dim| dim as i64).collect(),
            data_type: self.data_type().onnx(),
            name: name.into(),
            raw_data: raw,
            ..TensorProto::default()
        }
    }
}

/// A dimension as far as it is known before running: `None` when the model
/// leaves it open (a symbolic or undeclared dimension of a graph input, or
/// one computed from such).
pub type Dim = Option<usize>;

/// A dimension as the shape rules see it. The rules are written once over
/// this trait and serve both times: at run time a dimension is a `usize`,
/// always known; at load time a [`Dim`], perhaps unknown. Built from these
/// methods, a rule refuses a `Dim` shape only when it would refuse every
/// run-time shape the `Dim` shape stands for, and a `usize` shape exactly
/// when the operator does.
pub trait Dimension: Copy {
    /// Size 1, what a missing leading dimension broadcasts as.
    const ONE: Self;

    /// The size, if known.
    fn size(self) -> Option<usize>;

    /// Whether it is certainly `size`.
    fn is(self, size: usize) -> bool {
        self.size() == Some(size)
    }

    /// Whether it may be `size`.
    fn may_be(self, size: usize) -> bool {
        self.size().is_none_or(|known| known == size)
    }

    /// Whether it may be the same size as `other`.
    fn may_equal(self, other: impl Dimension) -> bool {
        match (self.size(), other.size()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// The size it and `other` broadcast to (equal, or one of them 1), or
    /// `None` if they cannot. An unknown size broadcasts with 1 to itself and
    /// with any other known size to that size (the only way it can succeed).
    fn broadcast(self, other: Self) -> Option<Self> {
        match (self.size(), other.size()) {
            (Some(a), Some(b)) if a == b => Some(self),
            (Some(1), _) => Some(other),
            (_, Some(1)) => Some(self),
            (Some(_), Some(_)) => None,
            (Some(_), None) => Some(self),
            (None, _) => Some(other),
        }
    }
}

impl Dimension for usize {
    const ONE: usize = 1;

    fn size(self) -> Option<usize> {
        Some(self)
    }
}

impl Dimension for Dim {
    const ONE: Dim = Some(1);

    fn size(self) -> Option<usize> {
        self
    }
}

/// The index of dimension `axis` (negative counts from the end) of a
/// shape of `rank` dimensions, if it is in range.
pub fn axis_index(axis: i64, rank: usize) -> Option<usize> {
    let from_end = i64::try_from(rank).ok()?;
    usize::try_from(if axis < 0 { axis.saturating_add(from_end) } else { axis }).ok().filter(|&index| index < rank)
}

/// Whether a tensor of `shape` may hold exactly one element (every
/// dimension may be 1): a per-tensor scale, zero point or bound.
pub fn may_hold_one<D: Dimension>(shape: &[D]) -> bool {
    shape.iter().all(|dim| dim.may_be(1))
}

/// Whether a tensor of `shape` is certainly empty (a dimension is 0).
pub fn is_empty_shape<D: Dimension>(shape: &[D]) -> bool {
    shape.iter().any(|dim| dim.is(0))
}

/// Whether shapes `a` and `b` may be the same: equal ranks, and no
/// dimension known in both that differs.
pub fn may_agree<D: Dimension, E: Dimension>(a: &[D], b: &[E]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| x.may_equal(y))
}

/// The shape `a` and `b` broadcast to under NumPy's multidirectional rule
/// (align from the right; each pair of sizes equal or one of them 1), or
/// `None` if they cannot.
pub fn broadcast_dims<D: Dimension>(a: &[D], b: &[D]) -> Option<Vec<D>> {
    let rank = a.len().max(b.len());
    let aligned = |shape: &[D], index: usize| shape.len().checked_sub(rank - index).map_or(D::ONE, |at| shape[at]);
    (0..rank).map(|index| aligned(a, index).broadcast(aligned(b, index))).collect()
}

/// Whether `from` broadcasts to `to` unidirectionally: `to` is what `from`
/// and `to` broadcast to, so only `from` stretches (`Gemm`'s `C`).
pub fn may_broadcast_to<D: Dimension>(from: &[D], to: &[D]) -> bool {
    from.len() <= to.len() && from.iter().rev().zip(to.iter().rev()).all(|(&x, &y)| x.may_be(1) || x.may_equal(y))
}

/// The shape two operands broadcast to (NumPy's multidirectional rule:
/// align from the right; each pair of sizes must be equal or one of them 1).
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, Error> {
    let shape = broadcast_dims(a, b).ok_or_else(|| Error::Shape(format!("shapes {a:?} and {b:?} do not broadcast")))?;
    element_count(&shape)?;
    Ok(shape)
}

/// For each element of a tensor of `shape` (row-major), the index of the
/// element of a tensor of shape `from` (which broadcasts to `shape`) it reads.
pub fn broadcast_indices(from: &[usize], shape: &[usize]) -> Vec<usize> {
    let count: usize = shape.iter().product();
    let rank = shape.len();
    // Strides of `from`, aligned to `shape`'s dimensions; 0 where broadcast.
    let mut strides = alloc::vec![0usize; rank];
    let mut stride = 1;
    for offset in 0..from.len() {
        let dim = from.len() - 1 - offset;
        let target = rank - 1 - offset;
        strides[target] = if from[dim] == 1 { 0 } else { stride };
        stride *= from[dim];
    }
    let mut indices = Vec::with_capacity(count);
    let mut position = alloc::vec![0usize; rank];
    let mut index = 0usize;
    for _ in 0..count {
        indices.push(index);
        // Advance the row-major position by one, updating `index`.
        for dim in (0..rank).rev() {
            position[dim] += 1;
            index += strides[dim];
            if position[dim] < shape[dim] {
                break;
            }
            index -= strides[dim] * shape[dim];
            position[dim] = 0;
        }
    }
    indices
}

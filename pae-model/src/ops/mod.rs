//! Operators: parsing a node's attributes into an [`Op`], the type rules
//! checked at load time, and execution.
//!
//! Semantics follow the ONNX operator specification for operator sets 10
//! to 28, except that `Softmax` needs set 13 or later (one axis, not the
//! 2-D coercion before it) and `Clip` set 11 or later (bounds as inputs).

mod elementwise;
mod matrix;
mod quant;
mod recurrent;

pub use recurrent::{Activation, Cell, Direction, Recurrent};
// The shape rules load-time inference shares with the operators.
pub(crate) use matrix::{MatMulDims, MatMulMismatch, gemm_matrix, left_matrix, matmul_dims, right_matrix};
pub(crate) use quant::{ScaleMismatch, scale_axis, vector_fits, zero_point_fits};

use crate::Error;
use crate::onnx::{AttributeProto, NodeProto, attribute_type};
use crate::tensor::{DataType, Tensor};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// Element-wise binary operators with multidirectional broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    /// `Add`.
    Add,
    /// `Sub`.
    Sub,
    /// `Mul`.
    Mul,
}

/// Element-wise unary float operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    /// `Relu`.
    Relu,
    /// `Sigmoid`.
    Sigmoid,
    /// `Tanh`.
    Tanh,
}

/// An operator with its attributes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `Add`, `Sub`, `Mul`.
    Binary(Binary),
    /// `Relu`, `Sigmoid`, `Tanh`.
    Unary(Unary),
    /// `Clip(input, min?, max?)`.
    Clip,
    /// `Softmax` along `axis` (negative counts from the end).
    Softmax {
        /// The axis.
        axis: i64,
    },
    /// `MatMul` (NumPy semantics).
    MatMul,
    /// `Gemm`: `alpha * A' * B' + beta * C`.
    Gemm {
        /// Scale of the product.
        alpha: f32,
        /// Scale of `C`.
        beta: f32,
        /// Transpose `A`.
        trans_a: bool,
        /// Transpose `B`.
        trans_b: bool,
    },
    /// `QuantizeLinear(x, y_scale, y_zero_point?)`.
    QuantizeLinear {
        /// The axis of per-axis scales.
        axis: i64,
    },
    /// `DequantizeLinear(x, x_scale, x_zero_point?)`.
    DequantizeLinear {
        /// The axis of per-axis scales.
        axis: i64,
    },
    /// `DynamicQuantizeLinear(x) -> (y, y_scale, y_zero_point)`.
    DynamicQuantizeLinear,
    /// `MatMulInteger(A, B, a_zero_point?, b_zero_point?)`.
    MatMulInteger,
    /// `QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp)`.
    QLinearMatMul,
    /// `GRU`, `LSTM`, `RNN`.
    Recurrent(Recurrent),
    /// `Identity`.
    Identity,
}

/// A node's attributes, read with type checks.
pub struct Attributes<'a> {
    op: &'a str,
    attributes: &'a [AttributeProto],
}

impl<'a> Attributes<'a> {
    /// The attributes of `node`.
    pub fn of(node: &'a NodeProto) -> Attributes<'a> {
        Attributes { op: &node.op_type, attributes: &node.attribute }
    }

    fn find(&self, name: &str, wanted: i32, type_name: &str) -> Result<Option<&'a AttributeProto>, Error> {
        let Some(attribute) = self.attributes.iter().find(|attribute| attribute.name == name) else { return Ok(None) };
        if attribute.r#type != wanted {
            return Err(Error::Invalid(format!("attribute `{name}` of {} must be {type_name} (type {})", self.op, attribute.r#type)));
        }
        Ok(Some(attribute))
    }

    /// An integer attribute.
    pub fn int(&self, name: &str) -> Result<Option<i64>, Error> {
        Ok(self.find(name, attribute_type::INT, "an int")?.map(|attribute| attribute.i))
    }

    /// A float attribute.
    pub fn float(&self, name: &str) -> Result<Option<f32>, Error> {
        Ok(self.find(name, attribute_type::FLOAT, "a float")?.map(|attribute| attribute.f))
    }

    /// A string attribute (UTF-8).
    pub fn string(&self, name: &str) -> Result<Option<String>, Error> {
        self.find(name, attribute_type::STRING, "a string")?
            .map(|attribute| String::from_utf8(attribute.s.clone()).map_err(|_| Error::Invalid(format!("attribute `{name}` is not UTF-8"))))
            .transpose()
    }

    /// A list of floats.
    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, Error> {
        Ok(self.find(name, attribute_type::FLOATS, "floats")?.map(|attribute| attribute.floats.clone()))
    }

    /// A list of integers.
    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, Error> {
        Ok(self.find(name, attribute_type::INTS, "ints")?.map(|attribute| attribute.ints.clone()))
    }

    /// A list of strings (UTF-8).
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, Error> {
        let Some(attribute) = self.find(name, attribute_type::STRINGS, "strings")? else { return Ok(None) };
        attribute
            .strings
            .iter()
            .map(|bytes| String::from_utf8(bytes.clone()).map_err(|_| Error::Invalid(format!("attribute `{name}` is not UTF-8"))))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Refuses attributes not in `known`, so a model never silently means
    /// something the engine does not do.
    pub fn only(&self, known: &[&str]) -> Result<(), Error> {
        match self.attributes.iter().find(|attribute| !known.contains(&attribute.name.as_str())) {
            Some(attribute) => Err(Error::Unsupported(format!("attribute `{}` of {}", attribute.name, self.op))),
            None => Ok(()),
        }
    }
}

/// A boolean attribute stored as 0 or 1.
fn flag(attributes: &Attributes<'_>, name: &str) -> Result<bool, Error> {
    match attributes.int(name)?.unwrap_or(0) {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Error::Invalid(format!("attribute `{name}` must be 0 or 1, is {other}"))),
    }
}

impl Op {
    /// Reads `node` (of an operator set `opset` model).
    pub fn parse(node: &NodeProto, opset: i64) -> Result<Op, Error> {
        let attributes = Attributes::of(node);
        let since = |version: i64| -> Result<(), Error> {
            if opset < version {
                return Err(Error::Unsupported(format!("{} before operator set {version} (this model: {opset})", node.op_type)));
            }
            Ok(())
        };
        let op = match node.op_type.as_str() {
            "Add" | "Sub" | "Mul" => {
                attributes.only(&[])?;
                Op::Binary(match node.op_type.as_str() {
                    "Add" => Binary::Add,
                    "Sub" => Binary::Sub,
                    _ => Binary::Mul,
                })
            }
            "Relu" | "Sigmoid" | "Tanh" => {
                attributes.only(&[])?;
                Op::Unary(match node.op_type.as_str() {
                    "Relu" => Unary::Relu,
                    "Sigmoid" => Unary::Sigmoid,
                    _ => Unary::Tanh,
                })
            }
            "Clip" => {
                since(11)?;
                attributes.only(&[])?;
                Op::Clip
            }
            "Softmax" => {
                since(13)?;
                attributes.only(&["axis"])?;
                Op::Softmax { axis: attributes.int("axis")?.unwrap_or(-1) }
            }
            "MatMul" => {
                attributes.only(&[])?;
                Op::MatMul
            }
            "Gemm" => {
                attributes.only(&["alpha", "beta", "transA", "transB"])?;
                Op::Gemm {
                    alpha: attributes.float("alpha")?.unwrap_or(1.0),
                    beta: attributes.float("beta")?.unwrap_or(1.0),
                    trans_a: flag(&attributes, "transA")?,
                    trans_b: flag(&attributes, "transB")?,
                }
            }
            "QuantizeLinear" | "DequantizeLinear" => {
                attributes.only(&["axis", "saturate", "block_size", "output_dtype", "precision"])?;
                if attributes.int("block_size")?.unwrap_or(0) != 0 {
                    return Err(Error::Unsupported(format!("blocked {}", node.op_type)));
                }
                for unsupported in ["output_dtype", "precision"] {
                    if attributes.int(unsupported)?.unwrap_or(0) != 0 {
                        return Err(Error::Unsupported(format!("attribute `{unsupported}` of {}", node.op_type)));
                    }
                }
                let axis = attributes.int("axis")?.unwrap_or(1);
                if node.op_type == "QuantizeLinear" { Op::QuantizeLinear { axis } } else { Op::DequantizeLinear { axis } }
            }
            "DynamicQuantizeLinear" => {
                attributes.only(&[])?;
                Op::DynamicQuantizeLinear
            }
            "MatMulInteger" => {
                attributes.only(&[])?;
                Op::MatMulInteger
            }
            "QLinearMatMul" => {
                attributes.only(&[])?;
                Op::QLinearMatMul
            }
            "GRU" | "LSTM" | "RNN" => Op::Recurrent(Recurrent::parse(node, &attributes)?),
            "Identity" => {
                attributes.only(&[])?;
                Op::Identity
            }
            other => return Err(Error::Unsupported(format!("operator `{other}`"))),
        };
        Ok(op)
    }

    /// Its ONNX operator name.
    pub fn op_type(&self) -> &'static str {
        match self {
            Op::Binary(Binary::Add) => "Add",
            Op::Binary(Binary::Sub) => "Sub",
            Op::Binary(Binary::Mul) => "Mul",
            Op::Unary(Unary::Relu) => "Relu",
            Op::Unary(Unary::Sigmoid) => "Sigmoid",
            Op::Unary(Unary::Tanh) => "Tanh",
            Op::Clip => "Clip",
            Op::Softmax { .. } => "Softmax",
            Op::MatMul => "MatMul",
            Op::Gemm { .. } => "Gemm",
            Op::QuantizeLinear { .. } => "QuantizeLinear",
            Op::DequantizeLinear { .. } => "DequantizeLinear",
            Op::DynamicQuantizeLinear => "DynamicQuantizeLinear",
            Op::MatMulInteger => "MatMulInteger",
            Op::QLinearMatMul => "QLinearMatMul",
            Op::Recurrent(recurrent) => recurrent.cell.name(),
            Op::Identity => "Identity",
        }
    }

    /// The names the ONNX specification gives its inputs, in order.
    pub fn input_names(&self) -> &'static [&'static str] {
        match self {
            Op::Binary(_) | Op::MatMul => &["A", "B"],
            Op::Unary(_) | Op::Softmax { .. } | Op::Identity => &["input"],
            Op::Clip => &["input", "min", "max"],
            Op::Gemm { .. } => &["A", "B", "C"],
            Op::QuantizeLinear { .. } => &["x", "y_scale", "y_zero_point"],
            Op::DequantizeLinear { .. } => &["x", "x_scale", "x_zero_point"],
            Op::DynamicQuantizeLinear => &["x"],
            Op::MatMulInteger => &["A", "B", "a_zero_point", "b_zero_point"],
            Op::QLinearMatMul => &["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"],
            Op::Recurrent(_) => &["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"],
        }
    }

    /// Inputs it needs at least, inputs it takes at most, outputs it has at most.
    pub fn arity(&self) -> (usize, usize, usize) {
        match self {
            Op::Binary(_) | Op::MatMul => (2, 2, 1),
            Op::Unary(_) | Op::Softmax { .. } | Op::Identity => (1, 1, 1),
            Op::Clip => (1, 3, 1),
            Op::Gemm { .. } => (2, 3, 1),
            Op::QuantizeLinear { .. } | Op::DequantizeLinear { .. } => (2, 3, 1),
            Op::DynamicQuantizeLinear => (1, 1, 3),
            Op::MatMulInteger => (2, 4, 1),
            Op::QLinearMatMul => (8, 8, 1),
            Op::Recurrent(recurrent) => match recurrent.cell {
                Cell::Lstm => (3, 8, 3),
                Cell::Gru | Cell::Rnn => (3, 6, 2),
            },
        }
    }

    /// The element types of its outputs given those of its inputs (`None`:
    /// not known before running). Errors on a combination the operator
    /// does not accept.
    pub fn output_types(&self, inputs: &[Option<DataType>]) -> Result<Vec<Option<DataType>>, Error> {
        let input = |index: usize| inputs.get(index).copied().flatten();
        let expect = |index: usize, allowed: &[DataType], what: &str| -> Result<(), Error> {
            match input(index) {
                Some(found) if !allowed.contains(&found) => Err(Error::Type(format!("{what} cannot be {found:?}"))),
                _ => Ok(()),
            }
        };
        let same = |first: usize, second: usize| -> Result<(), Error> {
            match (input(first), input(second)) {
                (Some(a), Some(b)) if a != b => Err(Error::Type(format!("inputs {first} and {second} differ: {a:?} and {b:?}"))),
                _ => Ok(()),
            }
        };
        use DataType::{F32, I32, I64, I8, U8};
        Ok(match self {
            Op::Binary(_) => {
                expect(0, &[F32, I32, I64], "an arithmetic operand")?;
                same(0, 1)?;
                vec![input(0).or(input(1))]
            }
            Op::Unary(_) | Op::Softmax { .. } => {
                expect(0, &[F32], "the input")?;
                vec![Some(F32)]
            }
            Op::Clip => {
                expect(0, &[F32, I32, I64, I8, U8], "the input")?;
                same(0, 1)?;
                same(0, 2)?;
                vec![input(0)]
            }
            Op::MatMul | Op::Gemm { .. } => {
                expect(0, &[F32], "a float matrix")?;
                same(0, 1)?;
                if matches!(self, Op::Gemm { .. }) {
                    same(0, 2)?;
                }
                vec![Some(F32)]
            }
            Op::QuantizeLinear { .. } => {
                expect(0, &[F32, I32], "the value quantized")?;
                expect(1, &[F32], "the scale")?;
                expect(2, &[I8, U8], "the zero point")?;
                vec![Some(input(2).unwrap_or(U8))]
            }
            Op::DequantizeLinear { .. } => {
                expect(0, &[I8, U8, I32], "the quantized value")?;
                expect(1, &[F32], "the scale")?;
                same(0, 2)?;
                vec![Some(F32)]
            }
            Op::DynamicQuantizeLinear => {
                expect(0, &[F32], "the input")?;
                vec![Some(U8), Some(F32), Some(U8)]
            }
            Op::MatMulInteger => {
                expect(0, &[I8, U8], "A")?;
                expect(1, &[I8, U8], "B")?;
                same(0, 2)?;
                same(1, 3)?;
                vec![Some(I32)]
            }
            Op::QLinearMatMul => {
                expect(0, &[I8, U8], "a")?;
                expect(3, &[I8, U8], "b")?;
                for scale in [1, 4, 6] {
                    expect(scale, &[F32], "a scale")?;
                }
                same(0, 2)?;
                same(3, 5)?;
                expect(7, &[I8, U8], "the output zero point")?;
                vec![input(7)]
            }
            Op::Recurrent(recurrent) => {
                for index in [0, 1, 2, 3, 5, 6, 7] {
                    expect(index, &[F32], "a recurrent operand")?;
                }
                expect(4, &[I32], "sequence_lens")?;
                vec![Some(F32); if recurrent.cell == Cell::Lstm { 3 } else { 2 }]
            }
            Op::Identity => vec![input(0)],
        })
    }

    /// Runs it. `inputs[i]` is `None` for an omitted optional input.
    /// Returns every output in order.
    pub fn run(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, Error> {
        let required = |index: usize| -> Result<&Tensor, Error> {
            inputs.get(index).copied().flatten().ok_or_else(|| Error::Invalid(format!("input {index} is missing")))
        };
        let optional = |index: usize| inputs.get(index).copied().flatten();
        Ok(match self {
            Op::Binary(kind) => vec![elementwise::binary(*kind, required(0)?, required(1)?)?],
            Op::Unary(kind) => vec![elementwise::unary(*kind, required(0)?)?],
            Op::Clip => vec![elementwise::clip(required(0)?, optional(1), optional(2))?],
            Op::Softmax { axis } => vec![elementwise::softmax(required(0)?, *axis)?],
            Op::MatMul => vec![matrix::matmul(required(0)?, required(1)?)?],
            Op::Gemm { alpha, beta, trans_a, trans_b } => {
                vec![matrix::gemm(required(0)?, required(1)?, optional(2), *alpha, *beta, *trans_a, *trans_b)?]
            }
            Op::QuantizeLinear { axis } => vec![quant::quantize_linear(required(0)?, required(1)?, optional(2), *axis)?],
            Op::DequantizeLinear { axis } => vec![quant::dequantize_linear(required(0)?, required(1)?, optional(2), *axis)?],
            Op::DynamicQuantizeLinear => {
                let (y, scale, zero_point) = quant::dynamic_quantize_linear(required(0)?)?;
                vec![y, scale, zero_point]
            }
            Op::MatMulInteger => vec![quant::matmul_integer(required(0)?, required(1)?, optional(2), optional(3))?],
            Op::QLinearMatMul => vec![quant::qlinear_matmul(
                [required(0)?, required(1)?, required(2)?, required(3)?, required(4)?, required(5)?, required(6)?, required(7)?],
            )?],
            Op::Recurrent(recurrent) => recurrent::run(recurrent, inputs)?,
            Op::Identity => vec![required(0)?.clone()],
        })
    }
}

//! Static shape inference: what is known of each value's shape before the
//! model runs, propagated through the graph in node order, so that a shape
//! error certain from the known dimensions is found at load time.
//!
//! A value's [`StaticShape`] is unranked (a graph input declared without a
//! shape) or a rank with each dimension known or not ([`Dim`]): initializers
//! are fully known, graph inputs are as declared (`Model::run` holds the
//! inputs it is given to that), and each operator's rule below checks what
//! its known dimensions allow and gives its outputs' shapes.
//!
//! The rules are the operators' own wherever they can be: broadcasting,
//! `numpy.matmul`'s layout, `Gemm`'s operands and the placement of scales
//! and zero points are written once, generic over [`Dimension`], and run at
//! both times. A rule refuses only what every run would refuse, so an
//! unknown dimension never causes a rejection. The operators still check
//! their operands when they run: that stays the guard for what a model's
//! declarations leave open.

use crate::Error;
use crate::ops::{
    Cell, MatMulDims, MatMulMismatch, Op, Recurrent, ScaleMismatch, gemm_matrix, left_matrix, matmul_dims, right_matrix, scale_axis, vector_fits,
    zero_point_fits,
};
use crate::tensor::{
    Dim, Dimension, MAX_ELEMENTS, MAX_RANK, axis_index, broadcast_dims, element_count, is_empty_shape, may_agree, may_broadcast_to, may_hold_one,
};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// What is known of a value's shape before running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaticShape {
    /// Nothing, not even the rank.
    Unranked,
    /// The rank, and each dimension where known.
    Ranked(Vec<Dim>),
}

impl StaticShape {
    /// A fully known shape (an initializer's).
    pub fn known(shape: &[usize]) -> StaticShape {
        StaticShape::Ranked(shape.iter().map(|&size| Some(size)).collect())
    }

    /// A declared shape, `None` if there is none.
    pub fn declared(shape: Option<&[Dim]>) -> StaticShape {
        shape.map_or(StaticShape::Unranked, |dims| StaticShape::Ranked(dims.to_vec()))
    }

    /// The dimensions, if the rank is known.
    pub fn dims(&self) -> Option<&[Dim]> {
        match self {
            StaticShape::Unranked => None,
            StaticShape::Ranked(dims) => Some(dims),
        }
    }

    /// Whether one tensor may have both this shape and `other`.
    pub fn may_agree(&self, other: &StaticShape) -> bool {
        match (self.dims(), other.dims()) {
            (Some(a), Some(b)) => may_agree(a, b),
            _ => true,
        }
    }

    /// Whether a tensor of this shape may exist: at most [`MAX_RANK`]
    /// dimensions and [`MAX_ELEMENTS`] elements.
    pub fn may_fit(&self) -> bool {
        self.dims().is_none_or(may_fit)
    }
}

impl fmt::Display for StaticShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dims() {
            Some(dims) => write!(f, "{}", Dims(dims)),
            None => f.write_str("(rank unknown)"),
        }
    }
}

/// Whether a tensor of shape `dims` may exist (see [`StaticShape::may_fit`]):
/// an unknown dimension may be 0, so only a fully known shape can be too big.
fn may_fit(dims: &[Dim]) -> bool {
    dims.len() <= MAX_RANK && dims.iter().copied().collect::<Option<Vec<usize>>>().is_none_or(|known| element_count(&known).is_ok())
}

/// Shows a shape as `[1, ?, 16]`, `?` for an unknown dimension.
struct Dims<'a>(&'a [Dim]);

impl fmt::Display for Dims<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (index, &dim) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Size(dim))?;
        }
        f.write_str("]")
    }
}

/// Shows a dimension: its size, or `?`.
struct Size(Dim);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(size) => write!(f, "{size}"),
            None => f.write_str("?"),
        }
    }
}

/// A node's input as the rules see it: the value's name and static shape.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    /// The value's name.
    pub name: &'a str,
    /// Its static shape.
    pub shape: &'a StaticShape,
}

/// A given input with the name the operator gives it, for messages: shown
/// as ``W `gru_w` [1, 12, 2]``.
#[derive(Clone, Copy)]
struct Input<'a> {
    role: &'static str,
    name: &'a str,
    shape: &'a StaticShape,
}

impl<'a> Input<'a> {
    fn dims(self) -> Option<&'a [Dim]> {
        self.shape.dims()
    }
}

impl fmt::Display for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}` {}", self.role, self.name, self.shape)
    }
}

/// A node's inputs, by position.
struct Inputs<'a> {
    roles: &'static [&'static str],
    operands: &'a [Option<Operand<'a>>],
}

impl<'a> Inputs<'a> {
    /// Input `index`, `None` if omitted.
    fn get(&self, index: usize) -> Option<Input<'a>> {
        let operand = self.operands.get(index).copied().flatten()?;
        Some(Input { role: self.roles.get(index).copied().unwrap_or("input"), name: operand.name, shape: operand.shape })
    }

    /// The shape of input `index` (unranked if omitted).
    fn shape(&self, index: usize) -> StaticShape {
        self.get(index).map_or(StaticShape::Unranked, |input| input.shape.clone())
    }
}

/// The static shapes of `op`'s outputs, in order, given its inputs'
/// (`None` for an omitted optional input). Errors on a combination every
/// run would refuse; the message names the inputs and their shapes (the
/// caller adds the node).
pub fn infer(op: &Op, operands: &[Option<Operand<'_>>]) -> Result<Vec<StaticShape>, Error> {
    let inputs = Inputs { roles: op.input_names(), operands };
    let outputs = match op {
        Op::Binary(_) => vec![binary(&inputs)?],
        Op::Unary(_) | Op::Identity => vec![inputs.shape(0)],
        Op::Clip => vec![clip(&inputs)?],
        Op::Softmax { axis } => vec![softmax(&inputs, *axis)?],
        Op::MatMul => vec![matmul(&inputs)?],
        Op::Gemm { trans_a, trans_b, .. } => vec![gemm(&inputs, *trans_a, *trans_b)?],
        Op::QuantizeLinear { axis } | Op::DequantizeLinear { axis } => vec![quantize(&inputs, *axis)?],
        Op::DynamicQuantizeLinear => vec![inputs.shape(0), StaticShape::known(&[]), StaticShape::known(&[])],
        Op::MatMulInteger => vec![matmul_integer(&inputs)?],
        Op::QLinearMatMul => vec![qlinear_matmul(&inputs)?],
        Op::Recurrent(recurrent) => recurrent_outputs(recurrent, &inputs)?,
    };
    if let Some((index, shape)) = outputs.iter().enumerate().find(|(_, shape)| !shape.may_fit()) {
        return Err(Error::Invalid(format!("output {index} would have shape {shape}: more than {MAX_RANK} dimensions or {MAX_ELEMENTS} elements")));
    }
    Ok(outputs)
}

/// `Add`, `Sub`, `Mul`: the operands broadcast both ways.
fn binary(inputs: &Inputs<'_>) -> Result<StaticShape, Error> {
    let (Some(a), Some(b)) = (inputs.get(0), inputs.get(1)) else { return Ok(StaticShape::Unranked) };
    let (Some(a_dims), Some(b_dims)) = (a.dims(), b.dims()) else { return Ok(StaticShape::Unranked) };
    broadcast_dims(a_dims, b_dims).map(StaticShape::Ranked).ok_or_else(|| Error::Shape(format!("{a} and {b} do not broadcast")))
}

/// `Clip`: each bound given is a single value; the input's shape.
fn clip(inputs: &Inputs<'_>) -> Result<StaticShape, Error> {
    for index in [1, 2] {
        if let Some(bound) = inputs.get(index)
            && bound.dims().is_some_and(|dims| !may_hold_one(dims))
        {
            return Err(Error::Shape(format!("{bound} is not a single value")));
        }
    }
    Ok(inputs.shape(0))
}

/// `Softmax`: the axis is within the input's rank; the input's shape.
fn softmax(inputs: &Inputs<'_>, axis: i64) -> Result<StaticShape, Error> {
    if let Some(input) = inputs.get(0)
        && let Some(dims) = input.dims()
        && axis_index(axis, dims.len()).is_none()
    {
        return Err(Error::Invalid(format!("axis {axis} is out of range for {input}")));
    }
    Ok(inputs.shape(0))
}

/// The `numpy.matmul` layout of `a` × `b`, `None` if a rank is unknown.
fn product<'a>(a: Input<'a>, b: Input<'a>) -> Result<Option<MatMulDims<'a, Dim>>, Error> {
    let scalar = |operand: Input<'_>| Error::Shape(format!("{operand} is a scalar: a matrix product needs rank 1 or more"));
    let (Some(a_dims), Some(b_dims)) = (a.dims(), b.dims()) else {
        // A scalar is refused whatever the other operand.
        return match [a, b].into_iter().find(|operand| operand.dims().is_some_and(<[Dim]>::is_empty)) {
            Some(operand) => Err(scalar(operand)),
            None => Ok(None),
        };
    };
    let dims = matmul_dims(a_dims, b_dims).map_err(|mismatch| match mismatch {
        MatMulMismatch::Scalar(second) => scalar(if second { b } else { a }),
        MatMulMismatch::Inner => Error::Shape(format!("inner dimensions differ: {a} × {b}")),
        MatMulMismatch::Batch => Error::Shape(format!("batch dimensions do not broadcast: {a} × {b}")),
    })?;
    if !may_fit(&dims.batch) {
        return Err(Error::Invalid(format!("the batch of {a} × {b} holds more than {MAX_ELEMENTS} matrices")));
    }
    Ok(Some(dims))
}

/// Rows of the left operand's matrices (`M`), if known.
fn rows(a: Input<'_>) -> Dim {
    a.dims().and_then(left_matrix).and_then(|(m, _, _)| m)
}

/// Columns of the right operand's matrices (`N`), if known.
fn columns(b: Input<'_>) -> Dim {
    b.dims().and_then(right_matrix).and_then(|(_, n, _)| n)
}

/// The product's shape, unranked if an operand's rank is unknown.
fn product_shape(a: Input<'_>, b: Input<'_>) -> Result<StaticShape, Error> {
    Ok(product(a, b)?.map_or(StaticShape::Unranked, |dims| StaticShape::Ranked(dims.output)))
}

/// `MatMul`.
fn matmul(inputs: &Inputs<'_>) -> Result<StaticShape, Error> {
    let (Some(a), Some(b)) = (inputs.get(0), inputs.get(1)) else { return Ok(StaticShape::Unranked) };
    product_shape(a, b)
}

/// `Gemm`: 2-D `A` and `B` whose inner dimensions (after `transA`,
/// `transB`) agree; `C` broadcasts to the `[M, N]` result.
fn gemm(inputs: &Inputs<'_>, trans_a: bool, trans_b: bool) -> Result<StaticShape, Error> {
    let matrix = |index: usize, transpose: bool| -> Result<Option<(Dim, Dim)>, Error> {
        let Some(operand) = inputs.get(index) else { return Ok(None) };
        let Some(dims) = operand.dims() else { return Ok(None) };
        gemm_matrix(dims, transpose).map(Some).ok_or_else(|| Error::Shape(format!("{operand} is not 2-D")))
    };
    let (left, right) = (matrix(0, trans_a)?, matrix(1, trans_b)?);
    if let (Some((_, k)), Some((b_k, _)), Some(a), Some(b)) = (left, right, inputs.get(0), inputs.get(1))
        && !k.may_equal(b_k)
    {
        return Err(Error::Shape(format!("inner dimensions differ: {a} (transA {}) × {b} (transB {})", u8::from(trans_a), u8::from(trans_b))));
    }
    let output = vec![left.and_then(|(m, _)| m), right.and_then(|(_, n)| n)];
    if let Some(c) = inputs.get(2)
        && c.dims().is_some_and(|dims| !may_broadcast_to(dims, &output))
    {
        return Err(Error::Shape(format!("{c} does not broadcast to the result {}", Dims(&output))));
    }
    Ok(StaticShape::Ranked(output))
}

/// `QuantizeLinear`, `DequantizeLinear`: the scale is one value, or a 1-D
/// vector as long as the input's `axis`; the zero point has the scale's
/// shape (one value for one value); the input's shape.
fn quantize(inputs: &Inputs<'_>, axis: i64) -> Result<StaticShape, Error> {
    let Some(x) = inputs.get(0) else { return Ok(StaticShape::Unranked) };
    if let Some(scale) = inputs.get(1)
        && let Some(scale_dims) = scale.dims()
    {
        if is_empty_shape(scale_dims) {
            return Err(Error::Shape(format!("{scale} is empty")));
        }
        scale_axis(x.dims(), scale_dims, axis).map_err(|mismatch| match mismatch {
            ScaleMismatch::NotVector => Error::Shape(format!("{scale} is neither one value nor a 1-D per-axis vector")),
            ScaleMismatch::Axis => Error::Invalid(format!("axis {axis} is out of range for {x}")),
            ScaleMismatch::Length(_) => Error::Shape(format!("{scale} does not match axis {axis} of {x}")),
        })?;
        if let Some(zero_point) = inputs.get(2)
            && zero_point.dims().is_some_and(|dims| !zero_point_fits(dims, scale_dims))
        {
            return Err(Error::Shape(format!("{zero_point} does not fit {scale}")));
        }
    }
    Ok(x.shape.clone())
}

/// Checks a matrix product's scale or zero point `parameter`, if given, is
/// one value or a 1-D vector of `length` (what it runs `along`).
fn check_vector(parameter: Option<Input<'_>>, length: Dim, along: &str) -> Result<(), Error> {
    match parameter {
        Some(parameter) if parameter.dims().is_some_and(|dims| !vector_fits(dims, length)) => {
            Err(Error::Shape(format!("{parameter} is neither one value nor a 1-D vector over the {} {along}", Size(length))))
        }
        _ => Ok(()),
    }
}

/// `MatMulInteger`: `numpy.matmul` shapes; a zero point per tensor, per row
/// of `A` or per column of `B`.
fn matmul_integer(inputs: &Inputs<'_>) -> Result<StaticShape, Error> {
    let (Some(a), Some(b)) = (inputs.get(0), inputs.get(1)) else { return Ok(StaticShape::Unranked) };
    let output = product_shape(a, b)?;
    check_vector(inputs.get(2), rows(a), "rows of A")?;
    check_vector(inputs.get(3), columns(b), "columns of B")?;
    Ok(output)
}

/// `QLinearMatMul`: `numpy.matmul` shapes; `a`'s scale and zero point per
/// tensor or per row, `b`'s per tensor or per column, `y`'s one value each
/// (the engine supports no other); no scale empty.
fn qlinear_matmul(inputs: &Inputs<'_>) -> Result<StaticShape, Error> {
    let (Some(a), Some(b)) = (inputs.get(0), inputs.get(3)) else { return Ok(StaticShape::Unranked) };
    let output = product_shape(a, b)?;
    for index in [1, 4, 6] {
        if let Some(scale) = inputs.get(index)
            && scale.dims().is_some_and(is_empty_shape)
        {
            return Err(Error::Shape(format!("{scale} is empty")));
        }
    }
    check_vector(inputs.get(1), rows(a), "rows of a")?;
    check_vector(inputs.get(2), rows(a), "rows of a")?;
    check_vector(inputs.get(4), columns(b), "columns of b")?;
    check_vector(inputs.get(5), columns(b), "columns of b")?;
    for index in [6, 7] {
        if let Some(parameter) = inputs.get(index)
            && parameter.dims().is_some_and(|dims| !may_hold_one(dims))
        {
            return Err(Error::Unsupported(format!("{parameter}: only one output scale and zero point (per tensor)")));
        }
    }
    Ok(output)
}

/// Checks `input`, if given and its rank known, against `expected` where
/// both are known; returns `expected` with its unknown dimensions taken
/// from `input`.
fn unify(input: Option<Input<'_>>, expected: &[Dim]) -> Result<Vec<Dim>, Error> {
    let Some((input, dims)) = input.and_then(|input| Some((input, input.dims()?))) else { return Ok(expected.to_vec()) };
    if !may_agree(dims, expected) {
        return Err(Error::Shape(format!("{} `{}` has shape {}, expected {}", input.role, input.name, input.shape, Dims(expected))));
    }
    Ok(expected.iter().zip(dims).map(|(&wanted, &found)| wanted.or(found)).collect())
}

/// `GRU`, `LSTM`, `RNN`: `X` [seq, batch, input] (layout 1: [batch, seq,
/// input]); `W` [directions, gates × hidden, input], `R` [directions,
/// gates × hidden, hidden], `B` [directions, 2 × gates × hidden],
/// `sequence_lens` [batch], `initial_h` and `initial_c` [directions, batch,
/// hidden] (layout 1: [batch, directions, hidden]), `P` [directions, 3 ×
/// hidden]. The sizes `X` leaves open are learnt from the other operands
/// in that order, so two operands that disagree on one are refused.
/// Outputs `Y` [seq, directions, batch, hidden] (layout 1: [batch, seq,
/// directions, hidden]), `Y_h` and `Y_c` the state's shape.
fn recurrent_outputs(recurrent: &Recurrent, inputs: &Inputs<'_>) -> Result<Vec<StaticShape>, Error> {
    let cell = recurrent.cell;
    let hidden = Some(recurrent.hidden_size);
    let directions = Some(recurrent.direction.count());
    // `hidden_size` is at most MAX_HIDDEN_SIZE once parsed; checked anyway.
    let rows = recurrent.hidden_size.checked_mul(cell.gates());
    let batch_major = recurrent.layout == 1;
    let (mut seq, mut batch, mut input_size) = (None, None, None);
    if let Some(x) = inputs.get(0)
        && let Some(dims) = x.dims()
    {
        let &[outer, inner, size] = dims else { return Err(Error::Shape(format!("{x} is not 3-D"))) };
        (seq, batch) = if batch_major { (inner, outer) } else { (outer, inner) };
        input_size = size;
    }
    unify(inputs.get(1), &[directions, rows, input_size])?;
    unify(inputs.get(2), &[directions, rows, hidden])?;
    unify(inputs.get(3), &[directions, rows.and_then(|rows| rows.checked_mul(2))])?;
    if cell == Cell::Lstm {
        unify(inputs.get(7), &[directions, recurrent.hidden_size.checked_mul(3)])?;
    }
    batch = unify(inputs.get(4), &[batch])?[0];
    let state = |batch: Dim| if batch_major { vec![batch, directions, hidden] } else { vec![directions, batch, hidden] };
    let batch_axis = if batch_major { 0 } else { 1 };
    let states: &[usize] = if cell == Cell::Lstm { &[5, 6] } else { &[5] };
    for &index in states {
        batch = unify(inputs.get(index), &state(batch))?[batch_axis];
    }
    if seq == Some(0) && batch.is_some_and(|batch| batch > 0) {
        return Err(Error::Invalid(format!("X has no time steps for its {} batch entries", Size(batch))));
    }
    let y = if batch_major { vec![batch, seq, directions, hidden] } else { vec![seq, directions, batch, hidden] };
    let mut outputs = vec![StaticShape::Ranked(y), StaticShape::Ranked(state(batch))];
    if cell == Cell::Lstm {
        outputs.push(StaticShape::Ranked(state(batch)));
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Binary, Direction};
    use alloc::string::ToString;

    fn ranked(dims: &[Dim]) -> StaticShape {
        StaticShape::Ranked(dims.to_vec())
    }

    /// Infers `op` over inputs named `in0`, `in1`, ... with `shapes`.
    fn run(op: &Op, shapes: &[Option<StaticShape>]) -> Result<Vec<StaticShape>, Error> {
        let names: Vec<alloc::string::String> = (0..shapes.len()).map(|index| format!("in{index}")).collect();
        let operands: Vec<Option<Operand<'_>>> =
            shapes.iter().zip(&names).map(|(shape, name)| shape.as_ref().map(|shape| Operand { name, shape })).collect();
        infer(op, &operands)
    }

    #[test]
    fn shapes_display_unknown_dimensions() {
        assert_eq!(ranked(&[Some(1), None, Some(16)]).to_string(), "[1, ?, 16]");
        assert_eq!(ranked(&[]).to_string(), "[]");
        assert_eq!(StaticShape::Unranked.to_string(), "(rank unknown)");
    }

    #[test]
    fn fitting_needs_a_fully_known_shape_to_fail() {
        assert!(ranked(&[None, Some(1 << 20), Some(1 << 20)]).may_fit(), "the unknown dimension may be 0");
        assert!(!ranked(&[Some(1 << 20), Some(1 << 20)]).may_fit());
        assert!(ranked(&[Some(0), Some(usize::MAX), Some(usize::MAX)]).may_fit(), "no overflow, and empty");
        assert!(!ranked(&[Some(1); MAX_RANK + 1]).may_fit());
        assert!(StaticShape::Unranked.may_fit());
    }

    #[test]
    fn broadcasting_with_unknown_dimensions() {
        let add = Op::Binary(Binary::Add);
        let out = run(&add, &[Some(ranked(&[None, Some(1), Some(48)])), Some(ranked(&[Some(48)]))]).unwrap();
        assert_eq!(out, [ranked(&[None, Some(1), Some(48)])]);
        // An unknown size against 3 can only be 1 or 3: the result is 3.
        let out = run(&add, &[Some(ranked(&[None])), Some(ranked(&[Some(3)]))]).unwrap();
        assert_eq!(out, [ranked(&[Some(3)])]);
        let out = run(&add, &[Some(ranked(&[None])), Some(ranked(&[Some(1)]))]).unwrap();
        assert_eq!(out, [ranked(&[None])]);
        let out = run(&add, &[Some(StaticShape::Unranked), Some(ranked(&[Some(3)]))]).unwrap();
        assert_eq!(out, [StaticShape::Unranked]);
        let error = run(&add, &[Some(ranked(&[None, Some(2)])), Some(ranked(&[Some(3)]))]).unwrap_err();
        assert_eq!(error, Error::Shape("A `in0` [?, 2] and B `in1` [3] do not broadcast".into()));
    }

    #[test]
    fn matmul_rules() {
        let out = run(&Op::MatMul, &[Some(ranked(&[None, Some(1), Some(16)])), Some(ranked(&[Some(16), Some(48)]))]).unwrap();
        assert_eq!(out, [ranked(&[None, Some(1), Some(48)])]);
        let out = run(&Op::MatMul, &[Some(ranked(&[Some(16)])), Some(ranked(&[None, Some(16), None]))]).unwrap();
        assert_eq!(out, [ranked(&[None, None])]);
        let error = run(&Op::MatMul, &[Some(ranked(&[Some(1), Some(16)])), Some(ranked(&[Some(12), Some(48)]))]).unwrap_err();
        assert_eq!(error, Error::Shape("inner dimensions differ: A `in0` [1, 16] × B `in1` [12, 48]".into()));
        let error = run(&Op::MatMul, &[Some(StaticShape::Unranked), Some(ranked(&[]))]).unwrap_err();
        assert!(matches!(error, Error::Shape(what) if what.contains("scalar")));
    }

    #[test]
    fn recurrent_sizes_are_learnt_from_every_operand() {
        let gru = Op::Recurrent(Recurrent {
            cell: Cell::Gru,
            hidden_size: 4,
            direction: Direction::Forward,
            activations: vec![crate::ops::Activation::Sigmoid, crate::ops::Activation::Tanh],
            clip: None,
            linear_before_reset: false,
            layout: 0,
            input_forget: false,
        });
        let w = Some(StaticShape::known(&[1, 12, 2]));
        let r = Some(StaticShape::known(&[1, 12, 4]));
        let out = run(&gru, &[Some(StaticShape::Unranked), w.clone(), r.clone(), None, None, Some(ranked(&[None, Some(3), None]))]).unwrap();
        assert_eq!(out, [ranked(&[None, Some(1), Some(3), Some(4)]), ranked(&[Some(1), Some(3), Some(4)])]);
        // sequence_lens says 2 entries, initial_h 3.
        let lens = Some(StaticShape::known(&[2]));
        let error = run(&gru, &[Some(ranked(&[None, None, Some(2)])), w, r, None, lens, Some(ranked(&[None, Some(3), None]))]).unwrap_err();
        assert_eq!(error, Error::Shape("initial_h `in5` has shape [?, 3, ?], expected [1, 2, 4]".into()));
    }
}

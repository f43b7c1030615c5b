//! The recurrent operators `GRU`, `LSTM` and `RNN` on the float reference
//! path, as the ONNX specification defines them for operator sets 7 to 22
//! (`layout` from set 14).
//!
//! Each direction runs one batch entry at a time over that entry's valid
//! steps: a time step is a handful of dot products per gate row, with no
//! matrix kernels, because this path is the reference the integer path is
//! checked against, not the fast one.
//!
//! Choices where the specification is silent:
//! - `sequence_lens` values must lie in `1..=seq_length`. A length of 0
//!   leaves `Y_h` undefined (onnxruntime writes zeros, the equations
//!   suggest the initial state), so it is refused rather than guessed.
//! - `clip` bounds the input of every activation, including `h(Ct)` in
//!   LSTM; the cell state `Ct` itself is carried unclipped.
//! - `activation_alpha` and `activation_beta` are consumed in order by the
//!   activations that take that parameter (alpha: Affine, LeakyRelu,
//!   ThresholdedRelu, ScaledTanh, HardSigmoid, Elu; beta: Affine,
//!   ScaledTanh, HardSigmoid); an activation finding its list exhausted
//!   takes its default. Values left over are refused: they mean the model
//!   expected another reading of the lists.
//! - Activation names are matched ignoring ASCII case, as onnxruntime does.
//! - `ThresholdedRelu` passes `x >= alpha`, as the recurrent operators'
//!   table of activations says (the standalone operator passes `x > alpha`).

use super::{Attributes, flag};
use crate::Error;
use crate::onnx::NodeProto;
use crate::tensor::{Tensor, element_count};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

/// Largest `hidden_size` accepted.
pub const MAX_HIDDEN_SIZE: usize = 4096;

/// The kind of recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// `GRU`: gates z, r, h.
    Gru,
    /// `LSTM`: gates i, o, f, c; peepholes i, o, f.
    Lstm,
    /// `RNN`: one gate.
    Rnn,
}

impl Cell {
    /// Gates per direction: `W` and `R` have `gates() × hidden_size` rows.
    pub fn gates(self) -> usize {
        match self {
            Cell::Gru => 3,
            Cell::Lstm => 4,
            Cell::Rnn => 1,
        }
    }

    /// Activation functions per direction: f (RNN); f, g (GRU); f, g, h (LSTM).
    pub fn activation_count(self) -> usize {
        match self {
            Cell::Gru => 2,
            Cell::Lstm => 3,
            Cell::Rnn => 1,
        }
    }

    /// The ONNX operator name.
    pub fn name(self) -> &'static str {
        match self {
            Cell::Gru => "GRU",
            Cell::Lstm => "LSTM",
            Cell::Rnn => "RNN",
        }
    }

    /// The activations of one direction when the model names none.
    fn default_activations(self) -> &'static [Activation] {
        match self {
            Cell::Gru => &[Activation::Sigmoid, Activation::Tanh],
            Cell::Lstm => &[Activation::Sigmoid, Activation::Tanh, Activation::Tanh],
            Cell::Rnn => &[Activation::Tanh],
        }
    }
}

/// Which way the sequence is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// First step to last.
    Forward,
    /// Last valid step to first.
    Reverse,
    /// Both: direction 0 forward, direction 1 reverse.
    Bidirectional,
}

impl Direction {
    /// `num_directions`: 2 if bidirectional, else 1.
    pub fn count(self) -> usize {
        if self == Direction::Bidirectional { 2 } else { 1 }
    }

    /// Whether direction `index` (0 or 1) runs from the last step back.
    pub fn is_reverse(self, index: usize) -> bool {
        match self {
            Direction::Forward => false,
            Direction::Reverse => true,
            Direction::Bidirectional => index == 1,
        }
    }
}

/// An activation function of a recurrent cell, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `alpha·x + beta` (defaults 1, 0).
    Affine(f32, f32),
    /// `x` if `x >= 0`, else `alpha·x` (default 0.01).
    LeakyRelu(f32),
    /// `x` if `x >= alpha`, else 0 (default 1).
    ThresholdedRelu(f32),
    /// `alpha·tanh(beta·x)` (defaults 1, 1).
    ScaledTanh(f32, f32),
    /// `min(max(alpha·x + beta, 0), 1)` (defaults 0.2, 0.5).
    HardSigmoid(f32, f32),
    /// `x` if `x >= 0`, else `alpha·(e^x - 1)` (default 1).
    Elu(f32),
    /// `x / (1 + |x|)`.
    Softsign,
    /// `ln(1 + e^x)`.
    Softplus,
}

impl Activation {
    /// The activation called `name`, taking its parameters from the front
    /// of `alphas` and `betas` (or their defaults once those run out).
    fn parse(name: &str, alphas: &mut impl Iterator<Item = f32>, betas: &mut impl Iterator<Item = f32>) -> Result<Activation, Error> {
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        let mut alpha = |default: f32| alphas.next().unwrap_or(default);
        Ok(if is("Relu") {
            Activation::Relu
        } else if is("Tanh") {
            Activation::Tanh
        } else if is("Sigmoid") {
            Activation::Sigmoid
        } else if is("Affine") {
            Activation::Affine(alpha(1.0), betas.next().unwrap_or(0.0))
        } else if is("LeakyRelu") {
            Activation::LeakyRelu(alpha(0.01))
        } else if is("ThresholdedRelu") {
            Activation::ThresholdedRelu(alpha(1.0))
        } else if is("ScaledTanh") {
            Activation::ScaledTanh(alpha(1.0), betas.next().unwrap_or(1.0))
        } else if is("HardSigmoid") {
            Activation::HardSigmoid(alpha(0.2), betas.next().unwrap_or(0.5))
        } else if is("Elu") {
            Activation::Elu(alpha(1.0))
        } else if is("Softsign") {
            Activation::Softsign
        } else if is("Softplus") {
            Activation::Softplus
        } else {
            return Err(Error::Unsupported(format!("recurrent activation `{name}`")));
        })
    }

    /// Its value at `x`.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Tanh => libm::tanhf(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::Affine(alpha, beta) => alpha * x + beta,
            Activation::LeakyRelu(alpha) => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Activation::ThresholdedRelu(alpha) => {
                if x >= alpha {
                    x
                } else {
                    0.0
                }
            }
            Activation::ScaledTanh(alpha, beta) => alpha * libm::tanhf(beta * x),
            Activation::HardSigmoid(alpha, beta) => (alpha * x + beta).clamp(0.0, 1.0),
            Activation::Elu(alpha) => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * libm::expm1f(x)
                }
            }
            Activation::Softsign => x / (1.0 + x.abs()),
            // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|): no overflow for large x.
            Activation::Softplus => x.max(0.0) + libm::log1pf(libm::expf(-x.abs())),
        }
    }
}

/// The logistic function, without overflow for large `|x|`.
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

/// A `GRU`, `LSTM` or `RNN` node's attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Recurrent {
    /// The cell.
    pub cell: Cell,
    /// Units in the hidden state (1 to [`MAX_HIDDEN_SIZE`]).
    pub hidden_size: usize,
    /// Which way(s) the sequence is read.
    pub direction: Direction,
    /// `cell.activation_count()` functions per direction, in ONNX order
    /// (f, g[, h]), forward direction first.
    pub activations: Vec<Activation>,
    /// Bound on the input of every activation: clipped to `[-clip, clip]`.
    pub clip: Option<f32>,
    /// GRU: apply the reset gate after the recurrent product (`Rh·Ht-1 + Rbh`).
    pub linear_before_reset: bool,
    /// 0: `X`/`Y` are time-major (`[seq, batch, ...]`), states
    /// `[directions, batch, hidden]`; 1: batch-major.
    pub layout: usize,
    /// LSTM: couple the forget gate to the input gate (`f = 1 - i`).
    pub input_forget: bool,
}

impl Recurrent {
    /// Reads a `GRU`, `LSTM` or `RNN` node.
    pub fn parse(node: &NodeProto, attributes: &Attributes<'_>) -> Result<Recurrent, Error> {
        let cell = match node.op_type.as_str() {
            "GRU" => Cell::Gru,
            "LSTM" => Cell::Lstm,
            "RNN" => Cell::Rnn,
            other => return Err(Error::Unsupported(format!("operator `{other}` is not recurrent"))),
        };
        let op = cell.name();
        let mut known = vec!["activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout"];
        match cell {
            Cell::Gru => known.push("linear_before_reset"),
            Cell::Lstm => known.push("input_forget"),
            Cell::Rnn => {}
        }
        attributes.only(&known)?;

        let hidden_size = match attributes.int("hidden_size")? {
            None => return Err(Error::Invalid(format!("{op} needs attribute `hidden_size`"))),
            Some(size) => usize::try_from(size)
                .ok()
                .filter(|size| (1..=MAX_HIDDEN_SIZE).contains(size))
                .ok_or_else(|| Error::Invalid(format!("{op} hidden_size {size} is not in 1..={MAX_HIDDEN_SIZE}")))?,
        };
        let direction = match attributes.string("direction")?.as_deref() {
            None | Some("forward") => Direction::Forward,
            Some("reverse") => Direction::Reverse,
            Some("bidirectional") => Direction::Bidirectional,
            Some(other) => return Err(Error::Invalid(format!("{op} direction `{other}` (forward, reverse or bidirectional)"))),
        };

        let alphas = attributes.floats("activation_alpha")?.unwrap_or_default();
        let betas = attributes.floats("activation_beta")?.unwrap_or_default();
        let (mut alpha_values, mut beta_values) = (alphas.iter().copied(), betas.iter().copied());
        let wanted = cell.activation_count() * direction.count();
        let activations = match attributes.strings("activations")? {
            None => cell.default_activations().repeat(direction.count()),
            Some(names) => {
                if names.len() != wanted {
                    return Err(Error::Invalid(format!(
                        "{op} with {} direction(s) takes {wanted} activations, got {}",
                        direction.count(),
                        names.len()
                    )));
                }
                names
                    .iter()
                    .map(|name| Activation::parse(name, &mut alpha_values, &mut beta_values))
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        for (name, left) in [("activation_alpha", alpha_values.count()), ("activation_beta", beta_values.count())] {
            if left > 0 {
                return Err(Error::Invalid(format!("{op} {name} has {left} value(s) no activation takes")));
            }
        }

        let clip = attributes.float("clip")?;
        let layout = match attributes.int("layout")?.unwrap_or(0) {
            0 => 0,
            1 => 1,
            other => return Err(Error::Invalid(format!("{op} layout {other} (0 or 1)"))),
        };
        let recurrent = Recurrent {
            cell,
            hidden_size,
            direction,
            activations,
            clip,
            linear_before_reset: flag(attributes, "linear_before_reset")?,
            layout,
            input_forget: flag(attributes, "input_forget")?,
        };
        recurrent.check()?;
        Ok(recurrent)
    }

    /// Checks the fields against each other (they are public, so `run`
    /// checks them again rather than trust they came from `parse`).
    fn check(&self) -> Result<(), Error> {
        let op = self.cell.name();
        if !(1..=MAX_HIDDEN_SIZE).contains(&self.hidden_size) {
            return Err(Error::Invalid(format!("{op} hidden_size {} is not in 1..={MAX_HIDDEN_SIZE}", self.hidden_size)));
        }
        let wanted = self.cell.activation_count() * self.direction.count();
        if self.activations.len() != wanted {
            return Err(Error::Invalid(format!("{op} takes {wanted} activations, has {}", self.activations.len())));
        }
        if let Some(clip) = self.clip
            && (clip.is_nan() || clip <= 0.0)
        {
            return Err(Error::Invalid(format!("{op} clip {clip} is not positive")));
        }
        if self.layout > 1 {
            return Err(Error::Invalid(format!("{op} layout {} (0 or 1)", self.layout)));
        }
        if self.linear_before_reset && self.cell != Cell::Gru {
            return Err(Error::Invalid(format!("{op} has no linear_before_reset")));
        }
        if self.input_forget && self.cell != Cell::Lstm {
            return Err(Error::Invalid(format!("{op} has no input_forget")));
        }
        Ok(())
    }
}

/// Fails unless `tensor` has shape `expected`.
fn expect_shape(op: &str, what: &str, tensor: &Tensor, expected: &[usize]) -> Result<(), Error> {
    if tensor.shape() != expected {
        return Err(Error::Shape(format!("{op} {what} has shape {:?}, expected {expected:?}", tensor.shape())));
    }
    Ok(())
}

/// Where things sit in `X`, `Y` and the state tensors.
struct Layout {
    seq_length: usize,
    batch: usize,
    directions: usize,
    hidden: usize,
    input_size: usize,
    batch_major: bool,
}

impl Layout {
    /// Offset of `X[time, entry, :]` (layout 0) or `X[entry, time, :]`.
    fn x(&self, time: usize, entry: usize) -> usize {
        let row = if self.batch_major { entry * self.seq_length + time } else { time * self.batch + entry };
        row * self.input_size
    }

    /// Offset of `Y[time, direction, entry, :]` or `Y[entry, time, direction, :]`.
    fn y(&self, time: usize, direction: usize, entry: usize) -> usize {
        let row = if self.batch_major {
            (entry * self.seq_length + time) * self.directions + direction
        } else {
            (time * self.directions + direction) * self.batch + entry
        };
        row * self.hidden
    }

    /// Offset of `state[direction, entry, :]` or `state[entry, direction, :]`.
    fn state(&self, direction: usize, entry: usize) -> usize {
        let row = if self.batch_major { entry * self.directions + direction } else { direction * self.batch + entry };
        row * self.hidden
    }
}

/// One direction's weights, each row-major with `gates × hidden` rows.
struct Weights<'a> {
    /// `W`: rows of `input_size`.
    input: &'a [f32],
    /// `R`: rows of `hidden`.
    recurrent: &'a [f32],
    /// `Wb`, if `B` is given.
    input_bias: Option<&'a [f32]>,
    /// `Rb`, if `B` is given.
    recurrent_bias: Option<&'a [f32]>,
    /// `P` (i, o, f), if given.
    peepholes: Option<&'a [f32]>,
    /// f, g[, h].
    activations: &'a [Activation],
    input_size: usize,
    hidden: usize,
}

impl Weights<'_> {
    /// `W[row]·x + Wb[row]`.
    fn input_term(&self, row: usize, x: &[f32]) -> f32 {
        dot(&self.input[row * self.input_size..(row + 1) * self.input_size], x) + self.input_bias.map_or(0.0, |bias| bias[row])
    }

    /// `R[row]·h + Rb[row]`.
    fn state_term(&self, row: usize, h: &[f32]) -> f32 {
        dot(&self.recurrent[row * self.hidden..(row + 1) * self.hidden], h) + self.recurrent_bias.map_or(0.0, |bias| bias[row])
    }

    /// Peephole `gate` (0 i, 1 o, 2 f) of unit `unit`, 0 without peepholes.
    fn peephole(&self, gate: usize, unit: usize) -> f32 {
        self.peepholes.map_or(0.0, |peepholes| peepholes[gate * self.hidden + unit])
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// `value` bounded to `[-bound, bound]` (NaN stays NaN).
fn clip(value: f32, bound: Option<f32>) -> f32 {
    match bound {
        Some(bound) if value > bound => bound,
        Some(bound) if value < -bound => -bound,
        _ => value,
    }
}

/// Runs a `GRU`, `LSTM` or `RNN` on `inputs` (ONNX order: X, W, R, B?,
/// sequence_lens?, initial_h?, and for LSTM initial_c?, P?). Returns
/// `[Y, Y_h]`, or `[Y, Y_h, Y_c]` for LSTM.
pub fn run(recurrent: &Recurrent, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, Error> {
    recurrent.check()?;
    let cell = recurrent.cell;
    let op = cell.name();
    let input = |index: usize| inputs.get(index).copied().flatten();
    let required = |index: usize, what: &str| input(index).ok_or_else(|| Error::Invalid(format!("{op} input {what} is missing")));
    let (x, w, r) = (required(0, "X")?, required(1, "W")?, required(2, "R")?);
    let (bias, lengths, initial_h) = (input(3), input(4), input(5));
    let (initial_c, peepholes) = if cell == Cell::Lstm { (input(6), input(7)) } else { (None, None) };

    // Every shape is checked before anything is allocated.
    let hidden = recurrent.hidden_size;
    let directions = recurrent.direction.count();
    let rows = cell.gates() * hidden;
    let batch_major = recurrent.layout == 1;
    let &[outer, inner, input_size] = x.shape() else {
        return Err(Error::Shape(format!("{op} X has shape {:?}, expected rank 3", x.shape())));
    };
    let (seq_length, batch) = if batch_major { (inner, outer) } else { (outer, inner) };
    expect_shape(op, "W", w, &[directions, rows, input_size])?;
    expect_shape(op, "R", r, &[directions, rows, hidden])?;
    if let Some(bias) = bias {
        expect_shape(op, "B", bias, &[directions, 2 * rows])?;
    }
    if let Some(peepholes) = peepholes {
        expect_shape(op, "P", peepholes, &[directions, 3 * hidden])?;
    }
    let state_shape = if batch_major { [batch, directions, hidden] } else { [directions, batch, hidden] };
    for (what, state) in [("initial_h", initial_h), ("initial_c", initial_c)] {
        if let Some(state) = state {
            expect_shape(op, what, state, &state_shape)?;
        }
    }
    let y_shape = if batch_major { [batch, seq_length, directions, hidden] } else { [seq_length, directions, batch, hidden] };
    let y_count = element_count(&y_shape)?;
    let state_count = element_count(&state_shape)?;

    let lengths = match lengths {
        Some(lengths) => {
            expect_shape(op, "sequence_lens", lengths, &[batch])?;
            let values = lengths.as_i32("sequence_lens")?;
            if let Some(bad) = values.iter().find(|&&length| usize::try_from(length).map_or(true, |length| length == 0 || length > seq_length)) {
                return Err(Error::Invalid(format!("{op} sequence length {bad} is not in 1..={seq_length}")));
            }
            Some(values)
        }
        None if batch > 0 && seq_length == 0 => return Err(Error::Invalid(format!("{op} X has no time steps"))),
        None => None,
    };
    let length = |entry: usize| lengths.map_or(seq_length, |lengths| lengths[entry] as usize);

    let x = x.as_f32("X")?;
    let (w, r) = (w.as_f32("W")?, r.as_f32("R")?);
    let bias = bias.map(|bias| bias.as_f32("B")).transpose()?;
    let peepholes = peepholes.map(|peepholes| peepholes.as_f32("P")).transpose()?;
    let initial_h = initial_h.map(|state| state.as_f32("initial_h")).transpose()?;
    let initial_c = initial_c.map(|state| state.as_f32("initial_c")).transpose()?;

    let layout = Layout { seq_length, batch, directions, hidden, input_size, batch_major };
    let per_direction = cell.activation_count();
    let mut y = vec![0.0f32; y_count];
    let mut y_h = vec![0.0f32; state_count];
    let mut y_c = vec![0.0f32; if cell == Cell::Lstm { state_count } else { 0 }];
    let mut h = vec![0.0f32; hidden];
    let mut c = vec![0.0f32; hidden];
    let mut scratch = vec![0.0f32; rows + hidden];

    for direction in 0..directions {
        let weights = Weights {
            input: &w[direction * rows * input_size..(direction + 1) * rows * input_size],
            recurrent: &r[direction * rows * hidden..(direction + 1) * rows * hidden],
            input_bias: bias.map(|bias| &bias[direction * 2 * rows..direction * 2 * rows + rows]),
            recurrent_bias: bias.map(|bias| &bias[direction * 2 * rows + rows..(direction + 1) * 2 * rows]),
            peepholes: peepholes.map(|peepholes| &peepholes[direction * 3 * hidden..(direction + 1) * 3 * hidden]),
            activations: &recurrent.activations[direction * per_direction..(direction + 1) * per_direction],
            input_size,
            hidden,
        };
        let reverse = recurrent.direction.is_reverse(direction);
        for entry in 0..batch {
            let state = layout.state(direction, entry);
            match initial_h {
                Some(initial) => h.copy_from_slice(&initial[state..state + hidden]),
                None => h.fill(0.0),
            }
            match initial_c {
                Some(initial) => c.copy_from_slice(&initial[state..state + hidden]),
                None => c.fill(0.0),
            }
            let steps = length(entry);
            for step in 0..steps {
                let time = if reverse { steps - 1 - step } else { step };
                let offset = layout.x(time, entry);
                let x_t = &x[offset..offset + input_size];
                match cell {
                    Cell::Gru => gru_step(&weights, recurrent.clip, recurrent.linear_before_reset, x_t, &mut h, &mut scratch),
                    Cell::Lstm => lstm_step(&weights, recurrent.clip, recurrent.input_forget, x_t, &mut h, &mut c, &mut scratch),
                    Cell::Rnn => rnn_step(&weights, recurrent.clip, x_t, &mut h, &mut scratch),
                }
                let offset = layout.y(time, direction, entry);
                y[offset..offset + hidden].copy_from_slice(&h);
            }
            y_h[state..state + hidden].copy_from_slice(&h);
            if cell == Cell::Lstm {
                y_c[state..state + hidden].copy_from_slice(&c);
            }
        }
    }

    let mut outputs = vec![Tensor::f32(&y_shape, y)?, Tensor::f32(&state_shape, y_h)?];
    if cell == Cell::Lstm {
        outputs.push(Tensor::f32(&state_shape, y_c)?);
    }
    Ok(outputs)
}

/// One RNN step: `Ht = f(W·x + R·Ht-1 + Wb + Rb)`.
fn rnn_step(weights: &Weights<'_>, bound: Option<f32>, x: &[f32], h: &mut [f32], scratch: &mut [f32]) {
    let f = weights.activations[0];
    let next = &mut scratch[..weights.hidden];
    for (unit, value) in next.iter_mut().enumerate() {
        *value = f.apply(clip(weights.input_term(unit, x) + weights.state_term(unit, h), bound));
    }
    h.copy_from_slice(next);
}

/// One GRU step (gates z, r, h):
/// `z = f(Wz·x + Rz·H + Wbz + Rbz)`, `r = f(Wr·x + Rr·H + Wbr + Rbr)`,
/// `h = g(Wh·x + Rh·(r ⊙ H) + Rbh + Wbh)`, or with `linear_before_reset`
/// `h = g(Wh·x + r ⊙ (Rh·H + Rbh) + Wbh)`; `H' = (1 - z) ⊙ h + z ⊙ H`.
fn gru_step(weights: &Weights<'_>, bound: Option<f32>, linear_before_reset: bool, x: &[f32], h: &mut [f32], scratch: &mut [f32]) {
    let hidden = weights.hidden;
    let (f, g) = (weights.activations[0], weights.activations[1]);
    let (update, rest) = scratch.split_at_mut(hidden);
    let (reset, rest) = rest.split_at_mut(hidden);
    let (candidate, reset_state) = rest.split_at_mut(hidden);
    for unit in 0..hidden {
        update[unit] = f.apply(clip(weights.input_term(unit, x) + weights.state_term(unit, h), bound));
        reset[unit] = f.apply(clip(weights.input_term(hidden + unit, x) + weights.state_term(hidden + unit, h), bound));
    }
    if linear_before_reset {
        for (unit, value) in candidate.iter_mut().enumerate() {
            let row = 2 * hidden + unit;
            *value = g.apply(clip(weights.input_term(row, x) + reset[unit] * weights.state_term(row, h), bound));
        }
    } else {
        for ((gated, &reset), &state) in reset_state.iter_mut().zip(reset.iter()).zip(h.iter()) {
            *gated = reset * state;
        }
        for (unit, value) in candidate.iter_mut().enumerate() {
            let row = 2 * hidden + unit;
            *value = g.apply(clip(weights.input_term(row, x) + weights.state_term(row, reset_state), bound));
        }
    }
    for unit in 0..hidden {
        h[unit] = (1.0 - update[unit]) * candidate[unit] + update[unit] * h[unit];
    }
}

/// One LSTM step (gates i, o, f, c; peepholes i, o, f):
/// `i = f(Wi·x + Ri·H + Pi ⊙ C + Wbi + Rbi)`, `f` likewise (or `1 - i`
/// with `input_forget`), `c = g(Wc·x + Rc·H + Wbc + Rbc)`,
/// `C' = f ⊙ C + i ⊙ c`, `o = f(Wo·x + Ro·H + Po ⊙ C' + Wbo + Rbo)`,
/// `H' = o ⊙ h(C')`.
fn lstm_step(weights: &Weights<'_>, bound: Option<f32>, input_forget: bool, x: &[f32], h: &mut [f32], c: &mut [f32], scratch: &mut [f32]) {
    let hidden = weights.hidden;
    let (f, g, h_activation) = (weights.activations[0], weights.activations[1], weights.activations[2]);
    let gates = &mut scratch[..4 * hidden];
    for (row, value) in gates.iter_mut().enumerate() {
        *value = weights.input_term(row, x) + weights.state_term(row, h);
    }
    // Every gate's pre-activation is in; H and C now change unit by unit.
    for unit in 0..hidden {
        let input_gate = f.apply(clip(gates[unit] + weights.peephole(0, unit) * c[unit], bound));
        let forget_gate = if input_forget {
            1.0 - input_gate
        } else {
            f.apply(clip(gates[2 * hidden + unit] + weights.peephole(2, unit) * c[unit], bound))
        };
        let candidate = g.apply(clip(gates[3 * hidden + unit], bound));
        let cell = forget_gate * c[unit] + input_gate * candidate;
        let output_gate = f.apply(clip(gates[hidden + unit] + weights.peephole(1, unit) * cell, bound));
        c[unit] = cell;
        h[unit] = output_gate * h_activation.apply(clip(cell, bound));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Data;
    use crate::onnx::{AttributeProto, attribute_type};

    fn attribute(name: &str, r#type: i32) -> AttributeProto {
        AttributeProto { name: name.into(), r#type, ..AttributeProto::default() }
    }

    fn int(name: &str, value: i64) -> AttributeProto {
        AttributeProto { i: value, ..attribute(name, attribute_type::INT) }
    }

    fn float(name: &str, value: f32) -> AttributeProto {
        AttributeProto { f: value, ..attribute(name, attribute_type::FLOAT) }
    }

    fn string(name: &str, value: &str) -> AttributeProto {
        AttributeProto { s: value.as_bytes().to_vec(), ..attribute(name, attribute_type::STRING) }
    }

    fn strings(name: &str, values: &[&str]) -> AttributeProto {
        AttributeProto { strings: values.iter().map(|value| value.as_bytes().to_vec()).collect(), ..attribute(name, attribute_type::STRINGS) }
    }

    fn floats(name: &str, values: &[f32]) -> AttributeProto {
        AttributeProto { floats: values.to_vec(), ..attribute(name, attribute_type::FLOATS) }
    }

    fn parse(op: &str, attributes: Vec<AttributeProto>) -> Result<Recurrent, Error> {
        let node = NodeProto { op_type: op.into(), attribute: attributes, ..NodeProto::default() };
        Recurrent::parse(&node, &Attributes::of(&node))
    }

    fn tensor(shape: &[usize], values: &[f32]) -> Tensor {
        Tensor::f32(shape, values.to_vec()).unwrap()
    }

    fn lengths(values: &[i32]) -> Tensor {
        Tensor::new(vec![values.len()], Data::I32(values.to_vec())).unwrap()
    }

    /// Deterministic values in [-1, 1).
    fn pseudo_random(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..count)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn random_tensor(shape: &[usize], seed: u32) -> Tensor {
        tensor(shape, &pseudo_random(shape.iter().product(), seed))
    }

    fn recurrent(cell: Cell, hidden_size: usize, direction: Direction, activations: &[Activation]) -> Recurrent {
        Recurrent {
            cell,
            hidden_size,
            direction,
            activations: activations.to_vec(),
            clip: None,
            linear_before_reset: false,
            layout: 0,
            input_forget: false,
        }
    }

    fn assert_close(actual: &Tensor, shape: &[usize], expected: &[f32]) {
        assert_eq!(actual.shape(), shape);
        let values = actual.as_f32("output").unwrap();
        assert_eq!(values.len(), expected.len());
        for (index, (a, e)) in values.iter().zip(expected).enumerate() {
            assert!((a - e).abs() <= 1e-6, "element {index} is {a}, expected {e} (all: {values:?})");
        }
    }

    /// `tensor` with its axes reordered: axis `i` of the result is axis
    /// `order[i]` of `tensor`.
    fn permute(tensor: &Tensor, order: &[usize]) -> Tensor {
        let shape = tensor.shape();
        let values = tensor.as_f32("permuted").unwrap();
        let mut strides = vec![1usize; shape.len()];
        for axis in (0..shape.len().saturating_sub(1)).rev() {
            strides[axis] = strides[axis + 1] * shape[axis + 1];
        }
        let new_shape: Vec<usize> = order.iter().map(|&axis| shape[axis]).collect();
        let mut index = vec![0usize; shape.len()];
        let mut result = Vec::with_capacity(values.len());
        for _ in 0..values.len() {
            result.push(values[order.iter().zip(&index).map(|(&axis, &i)| i * strides[axis]).sum::<usize>()]);
            for axis in (0..new_shape.len()).rev() {
                index[axis] += 1;
                if index[axis] < new_shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        Tensor::f32(&new_shape, result).unwrap()
    }

    /// Direction `direction` of a tensor whose first axis is the direction.
    fn half(tensor: &Tensor, direction: usize) -> Tensor {
        let values = tensor.as_f32("halved").unwrap();
        let size = values.len() / tensor.shape()[0];
        let mut shape = tensor.shape().to_vec();
        shape[0] = 1;
        Tensor::f32(&shape, values[direction * size..(direction + 1) * size].to_vec()).unwrap()
    }

    #[test]
    fn parse_fills_in_defaults() {
        let gru = parse("GRU", vec![int("hidden_size", 5)]).unwrap();
        assert_eq!(gru, recurrent(Cell::Gru, 5, Direction::Forward, &[Activation::Sigmoid, Activation::Tanh]));
        let lstm = parse("LSTM", vec![int("hidden_size", 2), string("direction", "bidirectional"), int("input_forget", 1), int("layout", 1)]).unwrap();
        assert_eq!(lstm.direction, Direction::Bidirectional);
        assert_eq!(lstm.activations, [Activation::Sigmoid, Activation::Tanh, Activation::Tanh].repeat(2));
        assert!(lstm.input_forget);
        assert_eq!(lstm.layout, 1);
        let rnn = parse("RNN", vec![int("hidden_size", 3), string("direction", "reverse"), float("clip", 2.5)]).unwrap();
        assert_eq!((rnn.direction, rnn.clip, &rnn.activations[..]), (Direction::Reverse, Some(2.5), &[Activation::Tanh][..]));
        let gru = parse("GRU", vec![int("hidden_size", 1), int("linear_before_reset", 1)]).unwrap();
        assert!(gru.linear_before_reset);
    }

    #[test]
    fn activation_parameters_are_consumed_in_order() {
        let gru = parse(
            "GRU",
            vec![
                int("hidden_size", 1),
                string("direction", "bidirectional"),
                strings("activations", &["LeakyRelu", "affine", "HardSigmoid", "Elu"]),
                floats("activation_alpha", &[0.2, 3.0]),
                floats("activation_beta", &[4.0]),
            ],
        )
        .unwrap();
        // LeakyRelu takes alpha 0.2, Affine alpha 3 and beta 4; both lists
        // are then exhausted, so HardSigmoid and Elu take their defaults.
        assert_eq!(gru.activations, [Activation::LeakyRelu(0.2), Activation::Affine(3.0, 4.0), Activation::HardSigmoid(0.2, 0.5), Activation::Elu(1.0)]);
        let lstm = parse(
            "LSTM",
            vec![
                int("hidden_size", 1),
                strings("activations", &["ScaledTanh", "ThresholdedRelu", "Softplus"]),
                floats("activation_alpha", &[2.0, 0.5]),
                floats("activation_beta", &[3.0]),
            ],
        )
        .unwrap();
        assert_eq!(lstm.activations, [Activation::ScaledTanh(2.0, 3.0), Activation::ThresholdedRelu(0.5), Activation::Softplus]);
        let defaults = parse("RNN", vec![int("hidden_size", 1), strings("activations", &["Affine"])]).unwrap();
        assert_eq!(defaults.activations, [Activation::Affine(1.0, 0.0)]);
    }

    #[test]
    fn activation_values() {
        let cases: &[(Activation, f32, f32)] = &[
            (Activation::Relu, -2.0, 0.0),
            (Activation::Relu, 1.5, 1.5),
            (Activation::Tanh, 0.5, 0.462_117_16),
            (Activation::Sigmoid, 0.0, 0.5),
            (Activation::Sigmoid, 2.0, 0.880_797_1),
            (Activation::Sigmoid, -2.0, 0.119_202_92),
            (Activation::Sigmoid, -200.0, 0.0),
            (Activation::Affine(2.0, 1.0), 3.0, 7.0),
            (Activation::LeakyRelu(0.1), -2.0, -0.2),
            (Activation::LeakyRelu(0.1), 2.0, 2.0),
            (Activation::ThresholdedRelu(1.0), 0.5, 0.0),
            (Activation::ThresholdedRelu(1.0), 1.0, 1.0),
            (Activation::ThresholdedRelu(1.0), 2.0, 2.0),
            (Activation::ScaledTanh(2.0, 0.5), 1.0, 0.924_234_3),
            (Activation::HardSigmoid(0.2, 0.5), 1.0, 0.7),
            (Activation::HardSigmoid(0.2, 0.5), 10.0, 1.0),
            (Activation::HardSigmoid(0.2, 0.5), -10.0, 0.0),
            (Activation::Elu(2.0), -1.0, -1.264_241_1),
            (Activation::Elu(2.0), 3.0, 3.0),
            (Activation::Softsign, -3.0, -0.75),
            (Activation::Softplus, 0.0, core::f32::consts::LN_2),
            (Activation::Softplus, 1.0, 1.313_261_7),
            (Activation::Softplus, -1.0, 0.313_261_7),
            (Activation::Softplus, 200.0, 200.0),
        ];
        for &(activation, x, expected) in cases {
            let actual = activation.apply(x);
            assert!((actual - expected).abs() <= 1e-6, "{activation:?}({x}) is {actual}, expected {expected}");
        }
    }

    #[test]
    fn parse_refuses_bad_attributes() {
        let invalid = |op: &str, attributes: Vec<AttributeProto>, mention: &str| match parse(op, attributes) {
            Err(Error::Invalid(message)) => assert!(message.contains(mention), "`{message}` does not mention `{mention}`"),
            other => panic!("expected Invalid mentioning `{mention}`, got {other:?}"),
        };
        let unsupported = |op: &str, attributes: Vec<AttributeProto>, mention: &str| match parse(op, attributes) {
            Err(Error::Unsupported(message)) => assert!(message.contains(mention), "`{message}` does not mention `{mention}`"),
            other => panic!("expected Unsupported mentioning `{mention}`, got {other:?}"),
        };
        invalid("GRU", vec![], "hidden_size");
        invalid("GRU", vec![int("hidden_size", 0)], "hidden_size");
        invalid("LSTM", vec![int("hidden_size", -3)], "hidden_size");
        invalid("RNN", vec![int("hidden_size", 4097)], "hidden_size");
        invalid("RNN", vec![float("hidden_size", 4.0)], "hidden_size");
        invalid("GRU", vec![int("hidden_size", 1), string("direction", "sideways")], "sideways");
        invalid("GRU", vec![int("hidden_size", 1), strings("activations", &["Sigmoid"])], "activations");
        invalid("LSTM", vec![int("hidden_size", 1), string("direction", "bidirectional"), strings("activations", &["Sigmoid", "Tanh", "Tanh"])], "6");
        invalid("RNN", vec![int("hidden_size", 1), int("layout", 2)], "layout");
        invalid("RNN", vec![int("hidden_size", 1), float("clip", 0.0)], "clip");
        invalid("RNN", vec![int("hidden_size", 1), float("clip", -1.0)], "clip");
        invalid("RNN", vec![int("hidden_size", 1), float("clip", f32::NAN)], "clip");
        invalid("RNN", vec![int("hidden_size", 1), strings("activations", &["Tanh"]), floats("activation_alpha", &[0.5])], "activation_alpha");
        invalid("RNN", vec![int("hidden_size", 1), strings("activations", &["LeakyRelu"]), floats("activation_beta", &[0.5])], "activation_beta");
        invalid("GRU", vec![int("hidden_size", 1), int("linear_before_reset", 2)], "linear_before_reset");
        unsupported("GRU", vec![int("hidden_size", 1), strings("activations", &["Sigmoid", "Swish"])], "Swish");
        unsupported("GRU", vec![int("hidden_size", 1), int("output_sequence", 1)], "output_sequence");
        unsupported("LSTM", vec![int("hidden_size", 1), int("linear_before_reset", 1)], "linear_before_reset");
        unsupported("GRU", vec![int("hidden_size", 1), int("input_forget", 1)], "input_forget");
        unsupported("Conv", vec![int("hidden_size", 1)], "Conv");
    }

    #[test]
    fn rnn_one_step_by_hand() {
        let rnn = recurrent(Cell::Rnn, 1, Direction::Forward, &[Activation::Tanh]);
        let (x, w, r) = (tensor(&[1, 1, 1], &[1.0]), tensor(&[1, 1, 1], &[0.5]), tensor(&[1, 1, 1], &[2.0]));
        let (b, h0) = (tensor(&[1, 2], &[0.1, 0.2]), tensor(&[1, 1, 1], &[0.3]));
        let outputs = run(&rnn, &[Some(&x), Some(&w), Some(&r), Some(&b), None, Some(&h0)]).unwrap();
        assert_eq!(outputs.len(), 2);
        // tanh(0.5·1 + 2·0.3 + 0.1 + 0.2) = tanh(1.4).
        assert_close(&outputs[0], &[1, 1, 1, 1], &[0.885_351_65]);
        assert_close(&outputs[1], &[1, 1, 1], &[0.885_351_65]);
    }

    #[test]
    fn gru_one_step_by_hand() {
        // Gates z, r, h: W = [0.5, -0.5, 1], R = [0.2, 0.3, 0.4],
        // Wb = [0.1, 0, 0.2], Rb = [0, 0.1, -0.1]; x = 1, H = 0.5.
        let (x, w, r) = (tensor(&[1, 1, 1], &[1.0]), tensor(&[1, 3, 1], &[0.5, -0.5, 1.0]), tensor(&[1, 3, 1], &[0.2, 0.3, 0.4]));
        let b = tensor(&[1, 6], &[0.1, 0.0, 0.2, 0.0, 0.1, -0.1]);
        let h0 = tensor(&[1, 1, 1], &[0.5]);
        let inputs = [Some(&x), Some(&w), Some(&r), Some(&b), None, Some(&h0)];
        // z = σ(0.5 + 0.1 + 0.2·0.5) = σ(0.7) = 0.668188,
        // r = σ(-0.5 + 0.3·0.5 + 0.1) = σ(-0.25) = 0.437823.
        // h = tanh(1 + 0.2 + 0.4·(r·0.5) - 0.1) = tanh(1.1 + 0.2r);
        // H = (1 - z)·h + z·0.5 = 0.609439.
        let mut gru = recurrent(Cell::Gru, 1, Direction::Forward, &[Activation::Sigmoid, Activation::Tanh]);
        let outputs = run(&gru, &inputs).unwrap();
        assert_close(&outputs[0], &[1, 1, 1, 1], &[0.609_439]);
        assert_close(&outputs[1], &[1, 1, 1], &[0.609_439]);
        // Linear before reset: h = tanh(1 + 0.2 + r·(0.4·0.5 - 0.1)) = tanh(1.2 + 0.1r);
        // H = 0.614983.
        gru.linear_before_reset = true;
        assert_close(&run(&gru, &inputs).unwrap()[1], &[1, 1, 1], &[0.614_983_2]);
    }

    #[test]
    fn lstm_one_step_by_hand() {
        // Gates i, o, f, c: W = [0.5, 0.2, -0.3, 0.8], R = [0.1, 0.2, 0.3, 0.4],
        // peepholes i, o, f = [0.1, 0.2, 0.3]; x = 1, H = 0.5, C = 2.
        let (x, w, r) = (tensor(&[1, 1, 1], &[1.0]), tensor(&[1, 4, 1], &[0.5, 0.2, -0.3, 0.8]), tensor(&[1, 4, 1], &[0.1, 0.2, 0.3, 0.4]));
        let (h0, c0, p) = (tensor(&[1, 1, 1], &[0.5]), tensor(&[1, 1, 1], &[2.0]), tensor(&[1, 3], &[0.1, 0.2, 0.3]));
        let inputs = [Some(&x), Some(&w), Some(&r), None, None, Some(&h0), Some(&c0), Some(&p)];
        // i = σ(0.5 + 0.05 + 0.1·2) = σ(0.75), f = σ(-0.3 + 0.15 + 0.3·2) = σ(0.45),
        // c = tanh(0.8 + 0.2) = tanh(1); C' = 2f + i·c = 1.738537;
        // o = σ(0.2 + 0.1 + 0.2·C'); H' = o·tanh(C') = 0.617141.
        let mut lstm = recurrent(Cell::Lstm, 1, Direction::Forward, &[Activation::Sigmoid, Activation::Tanh, Activation::Tanh]);
        let outputs = run(&lstm, &inputs).unwrap();
        assert_eq!(outputs.len(), 3);
        assert_close(&outputs[0], &[1, 1, 1, 1], &[0.617_141_3]);
        assert_close(&outputs[1], &[1, 1, 1], &[0.617_141_3]);
        assert_close(&outputs[2], &[1, 1, 1], &[1.738_537]);
        // Coupled gates: f = 1 - σ(0.75); C' = 1.158901, H' = 0.516946.
        lstm.input_forget = true;
        let outputs = run(&lstm, &inputs).unwrap();
        assert_close(&outputs[1], &[1, 1, 1], &[0.516_945_8]);
        assert_close(&outputs[2], &[1, 1, 1], &[1.158_901_1]);
        // Clip 0.5: i = σ(0.5), f = σ(0.45), c = tanh(0.5), C' = 1.508928
        // (not clipped itself), o = σ(0.5), H' = o·tanh(0.5) = 0.287649.
        lstm.input_forget = false;
        lstm.clip = Some(0.5);
        let outputs = run(&lstm, &inputs).unwrap();
        assert_close(&outputs[1], &[1, 1, 1], &[0.287_649_14]);
        assert_close(&outputs[2], &[1, 1, 1], &[1.508_927_6]);
    }

    #[test]
    fn sequence_lengths_in_each_direction() {
        // A linear RNN, H' = x + 0.5·H, over batch entries [1, 2, 3]
        // (length 3) and [10, 20, 30] (length 1).
        let x = tensor(&[3, 2, 1], &[1.0, 10.0, 2.0, 20.0, 3.0, 30.0]);
        let lens = lengths(&[3, 1]);
        let linear = Activation::Affine(1.0, 0.0);
        let run_direction = |direction: Direction| {
            let directions = direction.count();
            let w = tensor(&[directions, 1, 1], &vec![1.0; directions]);
            let r = tensor(&[directions, 1, 1], &vec![0.5; directions]);
            let rnn = recurrent(Cell::Rnn, 1, direction, &vec![linear; directions]);
            run(&rnn, &[Some(&x), Some(&w), Some(&r), None, Some(&lens)]).unwrap()
        };
        // Forward: 1, 2.5, 4.25; the second entry stops after 10, and its
        // later steps are zeros.
        let forward = run_direction(Direction::Forward);
        assert_close(&forward[0], &[3, 1, 2, 1], &[1.0, 10.0, 2.5, 0.0, 4.25, 0.0]);
        assert_close(&forward[1], &[1, 2, 1], &[4.25, 10.0]);
        // Reverse starts at each entry's last valid step: 3, 3.5, 2.75.
        let reverse = run_direction(Direction::Reverse);
        assert_close(&reverse[0], &[3, 1, 2, 1], &[2.75, 10.0, 3.5, 0.0, 3.0, 0.0]);
        assert_close(&reverse[1], &[1, 2, 1], &[2.75, 10.0]);
        let both = run_direction(Direction::Bidirectional);
        assert_close(&both[0], &[3, 2, 2, 1], &[1.0, 10.0, 2.75, 10.0, 2.5, 0.0, 3.5, 0.0, 4.25, 0.0, 3.0, 0.0]);
        assert_close(&both[1], &[2, 2, 1], &[4.25, 10.0, 2.75, 10.0]);
    }

    #[test]
    fn lengths_stop_the_state_at_the_last_valid_step() {
        // Whatever X holds past an entry's length is never read.
        let gru = recurrent(Cell::Gru, 2, Direction::Reverse, &[Activation::Sigmoid, Activation::Tanh]);
        let (w, r, b) = (random_tensor(&[1, 6, 3], 1), random_tensor(&[1, 6, 2], 2), random_tensor(&[1, 12], 3));
        let h0 = random_tensor(&[1, 2, 2], 4);
        let lens = lengths(&[2, 4]);
        let x = random_tensor(&[4, 2, 3], 5);
        let mut changed = x.as_f32("X").unwrap().to_vec();
        for time in 2..4 {
            for value in &mut changed[time * 6..time * 6 + 3] {
                *value += 100.0;
            }
        }
        let changed = tensor(&[4, 2, 3], &changed);
        let first = run(&gru, &[Some(&x), Some(&w), Some(&r), Some(&b), Some(&lens), Some(&h0)]).unwrap();
        let second = run(&gru, &[Some(&changed), Some(&w), Some(&r), Some(&b), Some(&lens), Some(&h0)]).unwrap();
        assert_eq!(first, second);
        let y = first[0].as_f32("Y").unwrap();
        assert_eq!(&y[2 * 4..2 * 4 + 2], &[0.0, 0.0]);
        assert_eq!(&y[3 * 4..3 * 4 + 2], &[0.0, 0.0]);
        assert!(y[2 * 4 + 2..2 * 4 + 4].iter().all(|&value| value != 0.0));
        // Reverse: the first entry's final state is its output at time 0.
        assert_eq!(&first[1].as_f32("Y_h").unwrap()[..2], &y[..2]);
    }

    /// Inputs for `cell` with two directions: X [3, 2, 3], hidden 2,
    /// lengths [3, 2], every optional input given.
    fn bidirectional_inputs(cell: Cell) -> Vec<Tensor> {
        let (hidden, input_size, batch) = (2, 3, 2);
        let rows = cell.gates() * hidden;
        let mut inputs = vec![
            random_tensor(&[3, batch, input_size], 10),
            random_tensor(&[2, rows, input_size], 11),
            random_tensor(&[2, rows, hidden], 12),
            random_tensor(&[2, 2 * rows], 13),
            lengths(&[3, 2]),
            random_tensor(&[2, batch, hidden], 14),
        ];
        if cell == Cell::Lstm {
            inputs.push(random_tensor(&[2, batch, hidden], 15));
            inputs.push(random_tensor(&[2, 3 * hidden], 16));
        }
        inputs
    }

    fn two_direction_activations(cell: Cell) -> Vec<Activation> {
        match cell {
            Cell::Gru => vec![Activation::Sigmoid, Activation::Tanh, Activation::HardSigmoid(0.2, 0.5), Activation::Softsign],
            Cell::Lstm => vec![
                Activation::Sigmoid,
                Activation::Tanh,
                Activation::Tanh,
                Activation::HardSigmoid(0.3, 0.4),
                Activation::ScaledTanh(1.5, 0.5),
                Activation::Elu(1.0),
            ],
            Cell::Rnn => vec![Activation::Tanh, Activation::LeakyRelu(0.1)],
        }
    }

    #[test]
    fn bidirectional_halves_equal_single_directions() {
        for cell in [Cell::Gru, Cell::Lstm, Cell::Rnn] {
            let inputs = bidirectional_inputs(cell);
            let activations = two_direction_activations(cell);
            let per_direction = cell.activation_count();
            let mut both = recurrent(cell, 2, Direction::Bidirectional, &activations);
            both.clip = Some(0.8);
            let all: Vec<Option<&Tensor>> = inputs.iter().map(Some).collect();
            let together = run(&both, &all).unwrap();
            for (index, direction) in [Direction::Forward, Direction::Reverse].into_iter().enumerate() {
                let mut single = recurrent(cell, 2, direction, &activations[index * per_direction..(index + 1) * per_direction]);
                single.clip = both.clip;
                // X and sequence_lens are shared; the rest split by direction.
                let halves: Vec<Tensor> =
                    inputs.iter().enumerate().map(|(position, input)| if matches!(position, 0 | 4) { input.clone() } else { half(input, index) }).collect();
                let alone = run(&single, &halves.iter().map(Some).collect::<Vec<_>>()).unwrap();
                // Y [3, 2, 2, 2]: this direction's [2, 2] block of each step.
                let y = together[0].as_f32("Y").unwrap();
                let expected: Vec<f32> = (0..3).flat_map(|time| y[(time * 2 + index) * 4..(time * 2 + index + 1) * 4].to_vec()).collect();
                assert_eq!(alone[0].as_f32("Y").unwrap(), &expected[..], "{cell:?} {direction:?} Y");
                for (output, name) in alone.iter().zip(["Y", "Y_h", "Y_c"]).skip(1) {
                    assert_eq!(output, &half(&together[if name == "Y_h" { 1 } else { 2 }], index), "{cell:?} {direction:?} {name}");
                }
            }
        }
    }

    #[test]
    fn layout_one_is_layout_zero_transposed() {
        for cell in [Cell::Gru, Cell::Lstm, Cell::Rnn] {
            let inputs = bidirectional_inputs(cell);
            let mut time_major = recurrent(cell, 2, Direction::Bidirectional, &two_direction_activations(cell));
            time_major.linear_before_reset = cell == Cell::Gru;
            let mut batch_major = time_major.clone();
            batch_major.layout = 1;
            let expected = run(&time_major, &inputs.iter().map(Some).collect::<Vec<_>>()).unwrap();
            // X [S, N, I] -> [N, S, I]; initial states [D, N, H] -> [N, D, H].
            let transposed: Vec<Tensor> =
                inputs.iter().enumerate().map(|(position, input)| if matches!(position, 0 | 5 | 6) { permute(input, &[1, 0, 2]) } else { input.clone() }).collect();
            let actual = run(&batch_major, &transposed.iter().map(Some).collect::<Vec<_>>()).unwrap();
            assert_eq!(actual[0], permute(&expected[0], &[2, 0, 1, 3]), "{cell:?} Y");
            for index in 1..expected.len() {
                assert_eq!(actual[index], permute(&expected[index], &[1, 0, 2]), "{cell:?} output {index}");
            }
        }
    }

    #[test]
    fn omitted_states_start_at_zero() {
        let lstm = recurrent(Cell::Lstm, 2, Direction::Forward, &[Activation::Sigmoid, Activation::Tanh, Activation::Tanh]);
        let (x, w, r) = (random_tensor(&[2, 1, 3], 20), random_tensor(&[1, 8, 3], 21), random_tensor(&[1, 8, 2], 22));
        let zeros = tensor(&[1, 1, 2], &[0.0, 0.0]);
        let implicit = run(&lstm, &[Some(&x), Some(&w), Some(&r)]).unwrap();
        let explicit = run(&lstm, &[Some(&x), Some(&w), Some(&r), None, None, Some(&zeros), Some(&zeros)]).unwrap();
        assert_eq!(implicit, explicit);
    }

    #[test]
    fn run_refuses_bad_inputs() {
        let rnn = recurrent(Cell::Rnn, 2, Direction::Forward, &[Activation::Tanh]);
        let (x, w, r) = (random_tensor(&[3, 1, 2], 30), random_tensor(&[1, 2, 2], 31), random_tensor(&[1, 2, 2], 32));
        let fails = |recurrent: &Recurrent, inputs: &[Option<&Tensor>], mention: &str| match run(recurrent, inputs) {
            Ok(_) => panic!("expected an error mentioning `{mention}`"),
            Err(error) => {
                let message = format!("{error}");
                assert!(message.contains(mention), "`{message}` does not mention `{mention}`");
            }
        };
        assert!(run(&rnn, &[Some(&x), Some(&w), Some(&r)]).is_ok());
        fails(&rnn, &[None, Some(&w), Some(&r)], "X is missing");
        fails(&rnn, &[Some(&x), Some(&w)], "R is missing");
        fails(&rnn, &[Some(&tensor(&[3, 2], &[0.0; 6])), Some(&w), Some(&r)], "X has shape");
        fails(&rnn, &[Some(&x), Some(&random_tensor(&[1, 3, 2], 33)), Some(&r)], "W has shape");
        fails(&rnn, &[Some(&x), Some(&random_tensor(&[1, 2, 3], 33)), Some(&r)], "W has shape");
        fails(&rnn, &[Some(&x), Some(&random_tensor(&[2, 2, 2], 33)), Some(&r)], "W has shape");
        fails(&rnn, &[Some(&x), Some(&w), Some(&random_tensor(&[1, 2, 3], 33))], "R has shape");
        fails(&rnn, &[Some(&x), Some(&w), Some(&r), Some(&random_tensor(&[1, 2], 33))], "B has shape");
        fails(&rnn, &[Some(&x), Some(&w), Some(&r), None, None, Some(&random_tensor(&[1, 2, 2], 33))], "initial_h has shape");
        for bad in [0, 4, -1] {
            fails(&rnn, &[Some(&x), Some(&w), Some(&r), None, Some(&lengths(&[bad]))], "sequence length");
        }
        fails(&rnn, &[Some(&x), Some(&w), Some(&r), None, Some(&lengths(&[3, 3]))], "sequence_lens has shape");
        let wide_lengths = Tensor::new(vec![1], Data::I64(vec![3])).unwrap();
        assert!(matches!(run(&rnn, &[Some(&x), Some(&w), Some(&r), None, Some(&wide_lengths)]), Err(Error::Type(_))));
        let integer_x = Tensor::new(vec![3, 1, 2], Data::I32(vec![0; 6])).unwrap();
        assert!(matches!(run(&rnn, &[Some(&integer_x), Some(&w), Some(&r)]), Err(Error::Type(_))));
        fails(&rnn, &[Some(&tensor(&[0, 1, 2], &[])), Some(&w), Some(&r)], "no time steps");

        // An empty X claiming 2^30 batch entries: refused before Y is allocated.
        let huge = Tensor::f32(&[4, 1 << 30, 0], Vec::new()).unwrap();
        let w_empty = Tensor::f32(&[1, 2, 0], Vec::new()).unwrap();
        fails(&rnn, &[Some(&huge), Some(&w_empty), Some(&r)], "more than");

        let lstm = recurrent(Cell::Lstm, 2, Direction::Forward, &[Activation::Sigmoid, Activation::Tanh, Activation::Tanh]);
        let (w4, r4) = (random_tensor(&[1, 8, 2], 34), random_tensor(&[1, 8, 2], 35));
        assert!(run(&lstm, &[Some(&x), Some(&w4), Some(&r4)]).is_ok());
        fails(&lstm, &[Some(&x), Some(&w4), Some(&r4), None, None, None, Some(&random_tensor(&[1, 2, 2], 36))], "initial_c has shape");
        fails(&lstm, &[Some(&x), Some(&w4), Some(&r4), None, None, None, None, Some(&random_tensor(&[1, 4], 36))], "P has shape");
        // GRU weights (3 gates) given to an LSTM.
        fails(&lstm, &[Some(&x), Some(&random_tensor(&[1, 6, 2], 37)), Some(&r4)], "W has shape");

        // The public fields are checked again.
        let mut broken = rnn.clone();
        broken.activations.clear();
        fails(&broken, &[Some(&x), Some(&w), Some(&r)], "activations");
        let mut broken = rnn.clone();
        broken.clip = Some(-1.0);
        fails(&broken, &[Some(&x), Some(&w), Some(&r)], "clip");
        let mut broken = rnn.clone();
        broken.hidden_size = 0;
        fails(&broken, &[Some(&x), Some(&w), Some(&r)], "hidden_size");
        let mut broken = rnn;
        broken.layout = 2;
        fails(&broken, &[Some(&x), Some(&w), Some(&r)], "layout");
    }
}

//! Static shape validation at load time: a shape error certain from the
//! known dimensions refuses the model with an `Error` naming the node,
//! and nothing the operators accept when they run is refused, whatever
//! the declarations leave unknown.

use pae_model::onnx::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor,
    ValueInfoProto, attribute_type, data_type,
};
use pae_model::ops::Op;
use pae_model::{Data, DataType, Error, Model, Tensor};
use prost::Message;

/// A declared dimension: a size, or a symbol.
#[derive(Clone, Copy, Debug)]
enum Declared {
    Size(usize),
    Symbol,
}

use Declared::{Size, Symbol};

/// A declared tensor of `elem_type`; `shape` `None` declares no shape.
fn value_info(name: &str, elem_type: i32, shape: Option<&[Declared]>) -> ValueInfoProto {
    let shape = shape.map(|dims| TensorShapeProto {
        dim: dims
            .iter()
            .map(|dim| match dim {
                Size(size) => Dimension { dim_value: Some(*size as i64), ..Dimension::default() },
                Symbol => Dimension { dim_param: Some("N".into()), ..Dimension::default() },
            })
            .collect(),
    });
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { tensor_type: Some(TypeProtoTensor { elem_type, shape }), ..TypeProto::default() }),
        ..ValueInfoProto::default()
    }
}

fn float_input(name: &str, shape: &[Declared]) -> ValueInfoProto {
    value_info(name, data_type::FLOAT, Some(shape))
}

fn output(name: &str) -> ValueInfoProto {
    ValueInfoProto { name: name.into(), ..ValueInfoProto::default() }
}

fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: name.into(),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..NodeProto::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INT, i: value, ..AttributeProto::default() }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::STRING, s: value.as_bytes().to_vec(), ..AttributeProto::default() }
}

fn floats(name: &str, shape: &[usize]) -> TensorProto {
    let count = shape.iter().product::<usize>();
    Tensor::f32(shape, (0..count).map(|index| (index as f32 * 0.37).sin() * 0.5).collect()).unwrap().to_proto(name)
}

fn bytes(name: &str, shape: &[usize], value: u8) -> TensorProto {
    Tensor::new(shape.to_vec(), Data::U8(vec![value; shape.iter().product()])).unwrap().to_proto(name)
}

fn model(nodes: Vec<NodeProto>, initializer: Vec<TensorProto>, input: Vec<ValueInfoProto>, output: Vec<ValueInfoProto>) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto { name: "shapes".into(), node: nodes, initializer, input, output, ..GraphProto::default() }),
        ..ModelProto::default()
    }
}

fn load(proto: &ModelProto) -> Result<Model, Error> {
    Model::load(&proto.encode_to_vec())
}

/// A load-time `Error::Shape` starting with `prefix` (the node and its operator).
fn assert_shape_error(proto: &ModelProto, prefix: &str, rest: &str) {
    match load(proto) {
        Err(Error::Shape(what)) => {
            assert!(what.starts_with(prefix), "`{what}` does not start with `{prefix}`");
            assert!(what.contains(rest), "`{what}` does not mention `{rest}`");
        }
        other => panic!("expected a shape error `{prefix}…{rest}`, got {other:?}"),
    }
}

/// A GRU of hidden size 4 over `x` [T, 1, 2], its state through `dense`
/// (MatMul with [4, 5]) and `bias` (Add of [5]).
fn gru_model(x: &[Declared], w_shape: &[usize], dense_shape: &[usize], bias_shape: &[usize]) -> ModelProto {
    model(
        vec![
            node("gru", "GRU", &["x", "w", "r", "b"], &["y", "h"], vec![int("hidden_size", 4)]),
            node("dense", "MatMul", &["h", "d"], &["logits"], vec![]),
            node("bias", "Add", &["logits", "d_bias"], &["p"], vec![]),
        ],
        vec![floats("w", w_shape), floats("r", &[1, 12, 4]), floats("b", &[1, 24]), floats("d", dense_shape), floats("d_bias", bias_shape)],
        vec![float_input("x", x)],
        vec![output("p"), output("y")],
    )
}

#[test]
fn a_consistent_model_with_symbolic_dimensions_loads_and_runs() {
    let proto = gru_model(&[Symbol, Symbol, Size(2)], &[1, 12, 2], &[4, 5], &[5]);
    let model = load(&proto).expect("symbolic steps and batch");
    for (steps, batch) in [(1, 1), (3, 2), (5, 4)] {
        let x = Tensor::f32(&[steps, batch, 2], vec![0.25; steps * batch * 2]).unwrap();
        let outputs = model.run(&[x]).expect("it runs");
        assert_eq!(outputs[0].shape(), [1, batch, 5]);
        assert_eq!(outputs[1].shape(), [steps, 1, batch, 4]);
    }
    // With no declared shape at all (rank unknown).
    let mut unranked = proto.clone();
    unranked.graph.as_mut().unwrap().input[0] = value_info("x", data_type::FLOAT, None);
    load(&unranked).expect("an input without a shape");
    // With the outputs declared as inferred, symbolically.
    let mut declared = proto;
    declared.graph.as_mut().unwrap().output =
        vec![float_input("p", &[Size(1), Symbol, Size(5)]), float_input("y", &[Symbol, Size(1), Symbol, Size(4)])];
    load(&declared).expect("declared outputs that agree");
}

#[test]
fn gru_weights_for_another_hidden_size_are_refused() {
    // W [1, 9, 2] is 3 gates × hidden 3, the node says hidden 4.
    let proto = gru_model(&[Symbol, Size(1), Size(2)], &[1, 9, 2], &[4, 5], &[5]);
    assert_shape_error(&proto, "node `gru` (GRU): ", "W `w` has shape [1, 9, 2], expected [1, 12, 2]");
    // X's input size is learnt from its declaration.
    let proto = gru_model(&[Symbol, Size(1), Size(3)], &[1, 12, 2], &[4, 5], &[5]);
    assert_shape_error(&proto, "node `gru` (GRU): ", "W `w` has shape [1, 12, 2], expected [1, 12, 3]");
}

#[test]
fn matmul_inner_dimensions_that_differ_are_refused() {
    // Y_h [1, 1, 4] × [6, 5].
    let proto = gru_model(&[Symbol, Symbol, Size(2)], &[1, 12, 2], &[6, 5], &[5]);
    assert_shape_error(&proto, "node `dense` (MatMul): inner dimensions differ: ", "A `h` [1, ?, 4] × B `d` [6, 5]");
    let proto = model(
        vec![node("dense", "MatMul", &["a", "b"], &["c"], vec![])],
        vec![floats("b", &[12, 48])],
        vec![float_input("a", &[Size(1), Size(16)])],
        vec![output("c")],
    );
    assert_shape_error(&proto, "node `dense` (MatMul): ", "inner dimensions differ: A `a` [1, 16] × B `b` [12, 48]");
}

#[test]
fn add_operands_that_cannot_broadcast_are_refused() {
    // [1, ?, 5] + [4].
    let proto = gru_model(&[Symbol, Symbol, Size(2)], &[1, 12, 2], &[4, 5], &[4]);
    assert_shape_error(&proto, "node `bias` (Add): ", "A `logits` [1, ?, 5] and B `d_bias` [4] do not broadcast");
    // An unknown dimension broadcasts with 1 or its match, never refused.
    let proto = model(
        vec![node("sum", "Add", &["a", "b"], &["c"], vec![]), node("difference", "Sub", &["c", "e"], &["f"], vec![])],
        vec![floats("b", &[4, 1]), floats("e", &[3])],
        vec![float_input("a", &[Symbol, Size(3)])],
        vec![float_input("f", &[Size(4), Size(3)])],
    );
    let model = load(&proto).expect("[?, 3] + [4, 1] - [3]");
    for rows in [1, 4] {
        assert_eq!(model.run(&[Tensor::f32(&[rows, 3], vec![1.0; rows * 3]).unwrap()]).unwrap()[0].shape(), [4, 3]);
    }
    assert!(matches!(model.run(&[Tensor::f32(&[2, 3], vec![1.0; 6]).unwrap()]), Err(Error::Shape(_))), "still checked when it runs");
}

#[test]
fn dequantize_scales_not_as_long_as_their_axis_are_refused() {
    let dequantize = |scale: &[usize], zero: &[usize], axis: i64| {
        model(
            vec![node("weights", "DequantizeLinear", &["w_q", "w_scale", "w_zero"], &["w"], vec![int("axis", axis)])],
            vec![bytes("w_q", &[1, 12, 2], 3), floats("w_scale", scale), bytes("w_zero", zero, 0)],
            vec![],
            vec![output("w")],
        )
    };
    load(&dequantize(&[12], &[12], 1)).expect("per axis 1");
    load(&dequantize(&[2], &[2], -1)).expect("per axis -1");
    load(&dequantize(&[1], &[], 1)).expect("per tensor: the axis is not used");
    load(&dequantize(&[1, 1], &[1], 7)).expect("per tensor, any rank");
    assert_shape_error(
        &dequantize(&[11], &[11], 1),
        "node `weights` (DequantizeLinear): ",
        "x_scale `w_scale` [11] does not match axis 1 of x `w_q` [1, 12, 2]",
    );
    assert_shape_error(
        &dequantize(&[12], &[11], 1),
        "node `weights` (DequantizeLinear): ",
        "x_zero_point `w_zero` [11] does not fit x_scale `w_scale` [12]",
    );
    assert_shape_error(&dequantize(&[12], &[1], 1), "node `weights` (DequantizeLinear): ", "x_zero_point `w_zero` [1]");
    assert_shape_error(&dequantize(&[2, 12], &[2, 12], 1), "node `weights` (DequantizeLinear): ", "neither one value nor a 1-D");
    assert_shape_error(&dequantize(&[0], &[0], 1), "node `weights` (DequantizeLinear): ", "is empty");
    match load(&dequantize(&[12], &[12], 3)) {
        Err(Error::Invalid(what)) => assert!(what.starts_with("node `weights` (DequantizeLinear): axis 3 is out of range"), "{what}"),
        other => panic!("expected an axis error, got {other:?}"),
    }
}

#[test]
fn gemm_mismatches_are_refused() {
    let gemm = |a: &[Declared], b: &[usize], c: Option<&[usize]>, trans_b: i64| {
        let mut initializer = vec![floats("b", b)];
        let mut inputs = vec!["a", "b"];
        if let Some(c) = c {
            initializer.push(floats("c", c));
            inputs.push("c");
        }
        model(vec![node("fc", "Gemm", &inputs, &["y"], vec![int("transB", trans_b)])], initializer, vec![float_input("a", a)], vec![output("y")])
    };
    load(&gemm(&[Symbol, Size(3)], &[3, 4], Some(&[4]), 0)).expect("C [4] broadcasts to [?, 4]");
    load(&gemm(&[Symbol, Size(3)], &[4, 3], Some(&[1, 4]), 1)).expect("transB");
    load(&gemm(&[Symbol, Symbol], &[3, 4], Some(&[7, 1]), 0)).expect("C [7, 1]: M may be 7");
    assert_shape_error(
        &gemm(&[Symbol, Size(3)], &[4, 3], None, 0),
        "node `fc` (Gemm): ",
        "inner dimensions differ: A `a` [?, 3] (transA 0) × B `b` [4, 3] (transB 0)",
    );
    assert_shape_error(&gemm(&[Symbol, Size(3)], &[3, 4], Some(&[3]), 0), "node `fc` (Gemm): ", "C `c` [3] does not broadcast to the result [?, 4]");
    assert_shape_error(&gemm(&[Symbol, Size(3)], &[3, 4], Some(&[1, 1, 4]), 0), "node `fc` (Gemm): ", "C `c` [1, 1, 4]");
    assert_shape_error(&gemm(&[Size(2), Size(3), Size(1)], &[3, 4], None, 0), "node `fc` (Gemm): ", "A `a` [2, 3, 1] is not 2-D");
}

#[test]
fn declared_outputs_that_contradict_the_inferred_shapes_are_refused() {
    let mut proto = gru_model(&[Symbol, Symbol, Size(2)], &[1, 12, 2], &[4, 5], &[5]);
    proto.graph.as_mut().unwrap().output[0] = float_input("p", &[Size(1), Symbol, Size(6)]);
    assert_shape_error(&proto, "graph output `p` (node `bias` (Add)) ", "is declared [1, ?, 6], inferred [1, ?, 5]");
    let mut proto = gru_model(&[Symbol, Symbol, Size(2)], &[1, 12, 2], &[4, 5], &[5]);
    proto.graph.as_mut().unwrap().output[1] = float_input("y", &[Symbol, Size(1), Size(4)]);
    assert_shape_error(&proto, "graph output `y` (node `gru` (GRU)) ", "is declared [?, 1, 4], inferred [?, 1, ?, 4]");
}

#[test]
fn an_initializer_must_have_the_shape_of_the_input_it_overrides() {
    let mut proto = gru_model(&[Symbol, Symbol, Size(2)], &[1, 12, 2], &[4, 5], &[5]);
    let graph = proto.graph.as_mut().unwrap();
    graph.input.push(float_input("d_bias", &[Size(5)]));
    load(&proto).expect("declared as it is");
    proto.graph.as_mut().unwrap().input[1] = float_input("d_bias", &[Symbol, Size(5)]);
    match load(&proto) {
        Err(Error::Shape(what)) => assert!(what.contains("initializer `d_bias` has shape [5]") && what.contains("[?, 5]"), "{what}"),
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn other_certain_mismatches_name_their_node() {
    let single = |op: &str, inputs: &[&str], initializer: Vec<TensorProto>, declared: Vec<ValueInfoProto>, attributes: Vec<AttributeProto>| {
        model(vec![node("n", op, inputs, &["y"], attributes)], initializer, declared, vec![output("y")])
    };
    let x = || vec![float_input("x", &[Symbol, Size(4)])];
    // Softmax's axis must be within the rank.
    match load(&single("Softmax", &["x"], vec![], x(), vec![int("axis", 2)])) {
        Err(Error::Invalid(what)) => assert!(what.starts_with("node `n` (Softmax): axis 2 is out of range for input `x` [?, 4]"), "{what}"),
        other => panic!("{other:?}"),
    }
    // Clip's bounds are single values.
    assert_shape_error(
        &single("Clip", &["x", "low"], vec![floats("low", &[2])], x(), vec![]),
        "node `n` (Clip): ",
        "min `low` [2] is not a single value",
    );
    // QuantizeLinear per axis.
    assert_shape_error(
        &single("QuantizeLinear", &["x", "s"], vec![floats("s", &[3])], x(), vec![int("axis", 1)]),
        "node `n` (QuantizeLinear): ",
        "y_scale `s` [3] does not match axis 1 of x `x` [?, 4]",
    );
    // MatMulInteger's zero point per row of A.
    let a = || vec![value_info("a", data_type::UINT8, Some(&[Size(2), Size(3)]))];
    assert_shape_error(
        &single("MatMulInteger", &["a", "b", "a_zero"], vec![bytes("b", &[3, 5], 1), bytes("a_zero", &[5], 0)], a(), vec![]),
        "node `n` (MatMulInteger): ",
        "a_zero_point `a_zero` [5] is neither one value nor a 1-D vector over the 2 rows of A",
    );
    // QLinearMatMul's b scale per column.
    let initializer =
        vec![floats("one", &[]), bytes("zero", &[], 0), bytes("b", &[3, 5], 1), Tensor::f32(&[4], vec![1.0; 4]).unwrap().to_proto("b_scale")];
    assert_shape_error(
        &single("QLinearMatMul", &["a", "one", "zero", "b", "b_scale", "zero", "one", "zero"], initializer, a(), vec![]),
        "node `n` (QLinearMatMul): ",
        "b_scale `b_scale` [4] is neither one value nor a 1-D vector over the 5 columns of b",
    );
    // LSTM: sequence_lens and initial_h disagree on the batch.
    let lstm = model(
        vec![node("memory", "LSTM", &["x", "w", "r", "", "lens", "h0"], &["y"], vec![int("hidden_size", 2), string("direction", "reverse")])],
        vec![floats("w", &[1, 8, 4]), floats("r", &[1, 8, 2]), Tensor::new(vec![3], Data::I32(vec![1; 3])).unwrap().to_proto("lens")],
        vec![float_input("x", &[Symbol, Symbol, Size(4)]), float_input("h0", &[Size(1), Size(2), Size(2)])],
        vec![output("y")],
    );
    assert_shape_error(&lstm, "node `memory` (LSTM): ", "initial_h `h0` has shape [1, 2, 2], expected [1, 3, 2]");
    // An empty sequence with a batch: no run can have a length in 1..=0.
    let rnn = model(
        vec![node("cell", "RNN", &["x", "w", "r"], &["y"], vec![int("hidden_size", 2)])],
        vec![floats("w", &[1, 2, 4]), floats("r", &[1, 2, 2])],
        vec![float_input("x", &[Size(0), Size(1), Size(4)])],
        vec![output("y")],
    );
    assert!(matches!(load(&rnn), Err(Error::Invalid(what)) if what.starts_with("node `cell` (RNN): X has no time steps")));
    // A result over the element limit, certain from known sizes.
    let huge =
        single("MatMul", &["p", "q"], vec![], vec![float_input("p", &[Size(1 << 14), Size(1)]), float_input("q", &[Size(1), Size(1 << 13)])], vec![]);
    assert!(matches!(load(&huge), Err(Error::Invalid(what)) if what.starts_with("node `n` (MatMul): output 0 would have shape [16384, 8192]")));
    // ... but not when an unknown dimension may be 0.
    let maybe_empty = single(
        "MatMul",
        &["p", "q"],
        vec![],
        vec![float_input("p", &[Symbol, Size(1 << 14), Size(1)]), float_input("q", &[Size(1), Size(1 << 13)])],
        vec![],
    );
    load(&maybe_empty).expect("[?, 16384, 1] × [1, 8192] may be empty");
}

#[test]
fn the_default_model_loads() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/models/default.onnx")).expect("the default model");
    let model = Model::load(&bytes).expect("the shipped model's shapes fit");
    assert_eq!(model.inputs()[0].shape.as_ref().map(Vec::len), Some(3));
}

/// Dimensions as large as a file can say: shape inference neither panics
/// nor allocates by them.
#[test]
fn huge_declared_dimensions_are_handled() {
    let huge = usize::try_from(i64::MAX).unwrap();
    let proto = model(
        vec![
            node("sum", "Add", &["a", "a"], &["c"], vec![]),
            node("product", "MatMul", &["c", "b"], &["d"], vec![]),
            node("cell", "GRU", &["x", "w", "r"], &["y"], vec![int("hidden_size", 2)]),
        ],
        vec![floats("w", &[1, 6, 1]), floats("r", &[1, 6, 2])],
        vec![
            float_input("a", &[Size(0), Size(huge), Size(huge)]),
            float_input("b", &[Size(huge), Size(0)]),
            float_input("x", &[Size(huge), Size(0), Size(1)]),
        ],
        vec![output("d"), output("y")],
    );
    // Each declaration holds no element; what they compute holds none either.
    load(&proto).expect("empty tensors of huge dimensions");
    // A huge dimension that certainly disagrees is reported, not overflowed.
    let mut proto = proto;
    proto.graph.as_mut().unwrap().input[1] = float_input("b", &[Size(huge - 1), Size(0)]);
    assert_shape_error(&proto, "node `product` (MatMul): ", "inner dimensions differ");
}

// Agreement with the operators: random single-node graphs, each run by
// the operator itself (no load-time checks) and loaded with its operands'
// shapes declared in full, in part, or not at all.

/// A small deterministic generator.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn shape(&mut self, max_rank: usize, max_dim: usize) -> Vec<usize> {
        let rank = self.below(max_rank + 1);
        (0..rank).map(|_| self.below(max_dim + 1)).collect()
    }

    /// `shape` with, sometimes, one dimension off by one.
    fn perturbed(&mut self, mut shape: Vec<usize>) -> Vec<usize> {
        if !shape.is_empty() && self.chance(15) {
            let at = self.below(shape.len());
            shape[at] = if shape[at] == 0 || self.chance(50) { shape[at] + 1 } else { shape[at] - 1 };
        }
        shape
    }
}

/// One operand: its element type and shape (values are fixed by type:
/// floats 1, integers the valid choice for the operand).
struct Operand {
    data_type: DataType,
    shape: Vec<usize>,
    /// The value of every element.
    fill: i64,
}

fn operand(data_type: DataType, shape: Vec<usize>) -> Option<Operand> {
    Some(Operand { data_type, shape, fill: if data_type == DataType::F32 { 1 } else { 0 } })
}

fn tensor(operand: &Operand) -> Tensor {
    let count = operand.shape.iter().product::<usize>();
    let data = match operand.data_type {
        DataType::F32 => Data::F32(vec![operand.fill as f32; count]),
        DataType::U8 => Data::U8(vec![operand.fill as u8; count]),
        DataType::I8 => Data::I8(vec![operand.fill as i8; count]),
        DataType::I32 => Data::I32(vec![operand.fill as i32; count]),
        DataType::I64 => Data::I64(vec![operand.fill; count]),
    };
    Tensor::new(operand.shape.clone(), data).unwrap()
}

/// A random case: the node (inputs `in0`, `in1`, …; outputs `out0`, …) and its operands.
fn random_case(random: &mut Random) -> (NodeProto, Vec<Option<Operand>>) {
    use DataType::{F32, U8};
    let names = |count: usize, given: &[bool]| -> Vec<String> {
        (0..count).map(|index| if given.get(index).copied().unwrap_or(true) { format!("in{index}") } else { String::new() }).collect()
    };
    let outputs = |count: usize| -> Vec<String> { (0..count).map(|index| format!("out{index}")).collect() };
    let build = |op: &str, inputs: Vec<String>, output_count: usize, attribute: Vec<AttributeProto>| NodeProto {
        name: "case".into(),
        op_type: op.into(),
        input: inputs,
        output: outputs(output_count),
        attribute,
        ..NodeProto::default()
    };
    match random.below(11) {
        0 => {
            let op = ["Add", "Sub", "Mul"][random.below(3)];
            let (a, b) = (random.shape(4, 3), random.shape(4, 3));
            (build(op, names(2, &[]), 1, vec![]), vec![operand(F32, a), operand(F32, b)])
        }
        1 => {
            let a = random.shape(4, 3);
            let b = if random.chance(50) { random.perturbed(a.clone()) } else { random.shape(4, 3) };
            (build("MatMul", names(2, &[]), 1, vec![]), vec![operand(F32, a), operand(F32, b)])
        }
        2 => {
            let (m, k, n) = (random.below(3), random.below(3), random.below(3));
            let (trans_a, trans_b) = (random.chance(50), random.chance(50));
            let a = random.perturbed(if trans_a { vec![k, m] } else { vec![m, k] });
            let b = random.perturbed(if trans_b { vec![n, k] } else { vec![k, n] });
            let c = random.chance(70).then(|| random.shape(3, 3));
            let mut operands = vec![operand(F32, a), operand(F32, b)];
            if let Some(c) = c {
                operands.push(operand(F32, c));
            }
            let attributes = vec![int("transA", i64::from(trans_a)), int("transB", i64::from(trans_b))];
            (build("Gemm", names(operands.len(), &[]), 1, attributes), operands)
        }
        3 => {
            let x = random.shape(4, 3);
            let axis = random.below(9) as i64 - 4;
            (build("Softmax", names(1, &[]), 1, vec![int("axis", axis)]), vec![operand(F32, x)])
        }
        4 => {
            let x = random.shape(3, 3);
            let given = [true, random.chance(60), random.chance(60)];
            let operands = given
                .iter()
                .enumerate()
                .map(|(index, &given)| given.then(|| if index == 0 { x.clone() } else { random.shape(2, 2) }))
                .map(|shape| shape.and_then(|shape| operand(F32, shape)))
                .collect();
            (build("Clip", names(3, &given), 1, vec![]), operands)
        }
        5 | 6 => {
            let quantize = random.below(2) == 0;
            let x = random.shape(3, 3);
            let axis = random.below(7) as i64 - 3;
            let scale = match random.below(3) {
                0 => random.shape(2, 1),
                1 => vec![x.get(axis.rem_euclid(x.len().max(1) as i64) as usize).copied().unwrap_or(1)],
                _ => random.shape(2, 3),
            };
            let scale = random.perturbed(scale);
            let zero = random.chance(70).then(|| if random.chance(70) { scale.clone() } else { random.shape(2, 3) });
            let mut operands = vec![operand(if quantize { F32 } else { U8 }, x), operand(F32, scale)];
            if let Some(zero) = zero {
                operands.push(operand(U8, zero));
            }
            let op = if quantize { "QuantizeLinear" } else { "DequantizeLinear" };
            (build(op, names(operands.len(), &[]), 1, vec![int("axis", axis)]), operands)
        }
        7 => (build("DynamicQuantizeLinear", names(1, &[]), 3, vec![]), vec![operand(F32, random.shape(3, 3))]),
        8 | 9 => {
            let a = random.shape(3, 3);
            let b = if random.chance(50) { random.perturbed(a.iter().rev().copied().collect()) } else { random.shape(3, 3) };
            // Rows of A and columns of B, for per-row and per-column parameters.
            let (m, n) = (if a.len() > 1 { a[a.len() - 2] } else { 1 }, b.last().copied().filter(|_| b.len() > 1).unwrap_or(1));
            let parameter = |random: &mut Random, length: usize| match random.below(10) {
                0..4 => vec![],
                4..7 => random.perturbed(vec![length]),
                _ => random.shape(2, 3),
            };
            if random.below(2) == 0 {
                let given = [true, true, random.chance(60), random.chance(60)];
                let (a_zero, b_zero) = (parameter(random, m), parameter(random, n));
                let mut operands = vec![operand(U8, a), operand(U8, b)];
                operands.push(if given[2] { operand(U8, a_zero) } else { None });
                operands.push(if given[3] { operand(U8, b_zero) } else { None });
                (build("MatMulInteger", names(4, &given), 1, vec![]), operands)
            } else {
                let mut operands = vec![operand(U8, a), operand(F32, parameter(random, m)), operand(U8, parameter(random, m))];
                operands.extend([operand(U8, b), operand(F32, parameter(random, n)), operand(U8, parameter(random, n))]);
                operands.extend([operand(F32, parameter(random, 1)), operand(U8, parameter(random, 1))]);
                (build("QLinearMatMul", names(8, &[]), 1, vec![]), operands)
            }
        }
        _ => random_recurrent(random, build, names),
    }
}

fn random_recurrent(
    random: &mut Random,
    build: impl Fn(&str, Vec<String>, usize, Vec<AttributeProto>) -> NodeProto,
    names: impl Fn(usize, &[bool]) -> Vec<String>,
) -> (NodeProto, Vec<Option<Operand>>) {
    let (op, gates) = [("GRU", 3), ("LSTM", 4), ("RNN", 1)][random.below(3)];
    let direction = ["forward", "reverse", "bidirectional"][random.below(3)];
    let directions = if direction == "bidirectional" { 2 } else { 1 };
    let (hidden, seq, batch, input) = (1 + random.below(2), random.below(3), random.below(3), 1 + random.below(2));
    let layout = random.below(2);
    let x = if layout == 1 { vec![batch, seq, input] } else { vec![seq, batch, input] };
    let state = if layout == 1 { vec![batch, directions, hidden] } else { vec![directions, batch, hidden] };
    let count = if op == "LSTM" { 8 } else { 6 };
    let mut given = vec![true, true, true];
    given.extend((3..count).map(|_| random.chance(50)));
    let shapes = [
        x,
        vec![directions, gates * hidden, input],
        vec![directions, gates * hidden, hidden],
        vec![directions, 2 * gates * hidden],
        vec![batch],
        state.clone(),
        state,
        vec![directions, 3 * hidden],
    ];
    let operands = shapes
        .into_iter()
        .take(count)
        .enumerate()
        .map(|(index, shape)| {
            given[index].then(|| {
                let shape = random.perturbed(shape);
                if index == 4 {
                    // Lengths of 1 are valid whenever X has a step.
                    Operand { data_type: DataType::I32, shape, fill: 1 }
                } else {
                    Operand { data_type: DataType::F32, shape, fill: 1 }
                }
            })
        })
        .collect();
    let attributes = vec![int("hidden_size", hidden as i64), string("direction", direction), int("layout", layout as i64)];
    let outputs = if op == "LSTM" { 3 } else { 2 };
    (build(op, names(count, &given), outputs, attributes), operands)
}

/// How much of each operand's shape a variant declares.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Knowledge {
    Full,
    Partial,
}

fn case_model(node: &NodeProto, operands: &[Option<Operand>], knowledge: Knowledge, random: &mut Random, outputs: &[ValueInfoProto]) -> ModelProto {
    let input = operands
        .iter()
        .enumerate()
        .filter_map(|(index, operand)| {
            let operand = operand.as_ref()?;
            let dims: Vec<Declared> =
                operand.shape.iter().map(|&size| if knowledge == Knowledge::Partial && random.chance(40) { Symbol } else { Size(size) }).collect();
            let shape = (knowledge == Knowledge::Full || !random.chance(20)).then_some(dims);
            Some(value_info(&format!("in{index}"), operand.data_type.onnx(), shape.as_deref()))
        })
        .collect();
    model(vec![node.clone()], vec![], input, outputs.to_vec())
}

#[test]
fn load_time_shapes_agree_with_the_operators() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let (mut ran, mut refused) = (0, 0);
    for case in 0..40_000 {
        let (node, operands) = random_case(&mut random);
        let tensors: Vec<Option<Tensor>> = operands.iter().map(|operand| operand.as_ref().map(tensor)).collect();
        let arguments: Vec<Option<&Tensor>> = tensors.iter().map(Option::as_ref).collect();
        let truth = Op::parse(&node, 17).and_then(|op| op.run(&arguments));
        let undeclared: Vec<ValueInfoProto> = node.output.iter().map(|name| output(name)).collect();
        let full = load(&case_model(&node, &operands, Knowledge::Full, &mut random, &undeclared));
        let describe =
            || format!("case {case}: {} {:?}", node.op_type, operands.iter().map(|o| o.as_ref().map(|o| o.shape.clone())).collect::<Vec<_>>());
        match truth {
            Ok(results) => {
                ran += 1;
                let model = full.unwrap_or_else(|error| panic!("{}: runs, but refused at load: {error}", describe()));
                let given: Vec<Tensor> = tensors.iter().flatten().cloned().collect();
                assert_eq!(model.run(&given).as_ref().ok(), Some(&results), "{}", describe());
                // The inferred shapes agree with the results: declared so, it loads.
                let declared: Vec<ValueInfoProto> = node
                    .output
                    .iter()
                    .zip(&results)
                    .map(|(name, result)| {
                        let dims: Vec<Declared> = result.shape().iter().map(|&size| Size(size)).collect();
                        value_info(name, result.data_type().onnx(), Some(&dims))
                    })
                    .collect();
                for knowledge in [Knowledge::Full, Knowledge::Partial, Knowledge::Partial] {
                    if let Err(error) = load(&case_model(&node, &operands, knowledge, &mut random, &declared)) {
                        panic!("{}: runs, but refused at load with {knowledge:?} declarations and outputs declared: {error}", describe());
                    }
                }
            }
            Err(run_error) => {
                // Every operand known: the operator's refusal is found at load time.
                refused += 1;
                if full.is_ok() {
                    panic!("{}: the operator refuses it ({run_error}) but it loads", describe());
                }
            }
        }
    }
    assert!(ran > 10_000 && refused > 10_000, "ran {ran}, refused {refused}: both kinds of case are exercised");
}

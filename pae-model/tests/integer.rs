//! The integer-only path (`pae_model::integer`) against the float path on
//! models built to the exported-graph contract: agreement within the
//! documented bound, refusal of every other graph, the activation tables
//! against `f64`, input checks, no allocation in a step, and a stable
//! self-check hash.

use pae_model::features::{ACTIVE, AccessKind, CLASSES, Encoder, Event, FEATURES, Source};
use pae_model::integer::{self, IntegerModel};
use pae_model::onnx::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto, attribute_type, data_type,
};
use pae_model::{Data, Error, Model, Tensor};
use prost::Message;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations per thread, to check that a step allocates nothing.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a const-initialised thread local, which does not allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A seeded generator (xorshift64*).
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Random {
        Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[low, high)`.
    fn uniform(&mut self, low: f32, high: f32) -> f32 {
        let unit = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        low + (high - low) * unit
    }

    fn below(&mut self, count: usize) -> usize {
        (self.next() % count as u64) as usize
    }
}

/// How a test model's weights are drawn.
#[derive(Clone, Copy)]
struct Spec {
    hidden: usize,
    seed: u64,
    /// `W` uniform in ±this (one-hot inputs: embedding-like values).
    input: f32,
    /// `R` uniform in ±this / √H (spectral radius near 1.15 at 2.0).
    recurrent: f32,
    /// `B` uniform in ±this.
    bias: f32,
    /// `D` uniform in ±this.
    dense: f32,
}

impl Spec {
    fn new(hidden: usize, seed: u64) -> Spec {
        Spec { hidden, seed, input: 2.0, recurrent: 2.0, bias: 0.5, dense: 1.5 }
    }
}

/// int8 values and per-channel scales (`max |w| / 127`) of a row-major
/// `rows × columns` matrix, channels being rows (`by_row`) or columns.
fn quantize(values: &[f32], rows: usize, columns: usize, by_row: bool) -> (Vec<i8>, Vec<f32>) {
    let channels = if by_row { rows } else { columns };
    let channel = |index: usize| if by_row { index / columns } else { index % columns };
    let mut scales = vec![0.0f32; channels];
    for (index, value) in values.iter().enumerate() {
        scales[channel(index)] = scales[channel(index)].max(value.abs());
    }
    for scale in &mut scales {
        *scale = if *scale > 0.0 { *scale / 127.0 } else { 1.0 };
    }
    let quantized = values.iter().enumerate().map(|(index, value)| (value / scales[channel(index)]).round().clamp(-127.0, 127.0) as i8).collect();
    (quantized, scales)
}

fn i8_tensor(name: &str, shape: &[usize], values: Vec<i8>) -> TensorProto {
    Tensor::new(shape.to_vec(), Data::I8(values)).unwrap().to_proto(name)
}

fn f32_tensor(name: &str, shape: &[usize], values: Vec<f32>) -> TensorProto {
    Tensor::f32(shape, values).unwrap().to_proto(name)
}

fn value_info(name: &str, shape: &[Option<i64>]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|size| match size {
            Some(size) => Dimension { dim_value: Some(*size), ..Dimension::default() },
            None => Dimension { dim_param: Some("T".into()), ..Dimension::default() },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor { elem_type: data_type::FLOAT, shape: Some(TensorShapeProto { dim }) }),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: outputs[0].into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attributes,
        ..NodeProto::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INT, i: value, ..AttributeProto::default() }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::STRING, s: value.as_bytes().to_vec(), ..AttributeProto::default() }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::FLOAT, f: value, ..AttributeProto::default() }
}

/// The exported graph (crate README) with weights drawn from `spec`.
fn contract(spec: Spec) -> ModelProto {
    let hidden = spec.hidden;
    let rows = 3 * hidden;
    let mut random = Random::new(spec.seed);
    let w: Vec<f32> = (0..rows * FEATURES).map(|_| random.uniform(-spec.input, spec.input)).collect();
    let bound = spec.recurrent / (hidden as f32).sqrt();
    let r: Vec<f32> = (0..rows * hidden).map(|_| random.uniform(-bound, bound)).collect();
    let b: Vec<f32> = (0..2 * rows).map(|_| random.uniform(-spec.bias, spec.bias)).collect();
    let d: Vec<f32> = (0..hidden * CLASSES).map(|_| random.uniform(-spec.dense, spec.dense)).collect();
    // Most pages are not touched: biases lean negative.
    let d_bias: Vec<f32> = (0..CLASSES).map(|_| random.uniform(-2.5, 0.5)).collect();
    let (w_q, w_scale) = quantize(&w, rows, FEATURES, true);
    let (r_q, r_scale) = quantize(&r, rows, hidden, true);
    let (d_q, d_scale) = quantize(&d, hidden, CLASSES, false);
    let graph = GraphProto {
        name: "pae".into(),
        node: vec![
            node("DequantizeLinear", &["W_q", "W_scale", "W_zero"], &["W"], vec![int("axis", 1)]),
            node("DequantizeLinear", &["R_q", "R_scale", "R_zero"], &["R"], vec![int("axis", 1)]),
            node(
                "GRU",
                &["x", "W", "R", "B", "", "h0"],
                &["Y", "Y_h"],
                vec![int("hidden_size", hidden as i64), int("linear_before_reset", 1), string("direction", "forward")],
            ),
            node("DequantizeLinear", &["D_q", "D_scale", "D_zero"], &["D"], vec![int("axis", 1)]),
            node("MatMul", &["Y", "D"], &["logits"], vec![]),
            node("Add", &["logits", "D_bias"], &["biased"], vec![]),
            node("Sigmoid", &["biased"], &["probabilities"], vec![]),
        ],
        initializer: vec![
            i8_tensor("W_q", &[1, rows, FEATURES], w_q),
            f32_tensor("W_scale", &[rows], w_scale),
            i8_tensor("W_zero", &[rows], vec![0; rows]),
            i8_tensor("R_q", &[1, rows, hidden], r_q),
            f32_tensor("R_scale", &[rows], r_scale),
            i8_tensor("R_zero", &[rows], vec![0; rows]),
            f32_tensor("B", &[1, 2 * rows], b),
            i8_tensor("D_q", &[hidden, CLASSES], d_q),
            f32_tensor("D_scale", &[CLASSES], d_scale),
            i8_tensor("D_zero", &[CLASSES], vec![0; CLASSES]),
            f32_tensor("D_bias", &[CLASSES], d_bias),
        ],
        input: vec![
            value_info("x", &[None, Some(1), Some(FEATURES as i64)]),
            value_info("h0", &[Some(1), Some(1), Some(hidden as i64)]),
        ],
        output: ["probabilities", "Y_h"].map(|name| ValueInfoProto { name: name.into(), ..ValueInfoProto::default() }).to_vec(),
        ..GraphProto::default()
    };
    let metadata = |key: &str, value: String| StringStringEntryProto { key: key.into(), value };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        producer_name: "pae-model tests".into(),
        graph: Some(graph),
        metadata_props: vec![
            metadata("pae.features", FEATURES.to_string()),
            metadata("pae.classes", CLASSES.to_string()),
            metadata("pae.window", "16".into()),
            metadata("pae.hidden", hidden.to_string()),
            metadata("pae.threshold", "0.35".into()),
        ],
        ..ModelProto::default()
    }
}

/// One step of the float path: probabilities and the next state.
fn float_step(model: &Model, active: &[usize; ACTIVE], state: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut x = vec![0.0f32; FEATURES];
    for &index in active {
        x[index] = 1.0;
    }
    let inputs = [Tensor::f32(&[1, 1, FEATURES], x).unwrap(), Tensor::f32(&[1, 1, state.len()], state.to_vec()).unwrap()];
    let outputs = model.run(&inputs).expect("the float path runs");
    (outputs[0].as_f32("probabilities").unwrap().to_vec(), outputs[1].as_f32("Y_h").unwrap().to_vec())
}

/// Synthetic memory events: a few partitions, each walking with its own
/// stride and sometimes jumping.
struct Workload {
    random: Random,
    encoder: Encoder,
    pages: [u64; 4],
    strides: [i64; 4],
}

impl Workload {
    fn new(seed: u64) -> Workload {
        let mut random = Random::new(seed);
        let pages = [1000, 50_000, 90_000, 400_000];
        let strides = [1, -1, 3, 17].map(|stride: i64| stride * (1 + random.below(2) as i64));
        Workload { random, encoder: Encoder::new(), pages, strides }
    }

    fn next(&mut self) -> [usize; ACTIVE] {
        let random = &mut self.random;
        if random.below(4) == 0 {
            // Random indices, one per group.
            return [random.below(34), 34 + random.below(3), 37 + random.below(8), 45 + random.below(2)];
        }
        let partition = random.below(4);
        let page = &mut self.pages[partition];
        *page = match random.below(10) {
            0 => page.wrapping_add(random.below(4096) as u64).wrapping_sub(2048),
            1 => *page,
            _ => page.wrapping_add_signed(self.strides[partition]),
        };
        let access = [AccessKind::Read, AccessKind::Write, AccessKind::Execute][random.below(3)];
        let source = if random.below(3) == 0 { Source::Accessed } else { Source::Fault };
        self.encoder.active(&Event { partition: partition as u64, page: *page, access, kind: partition as u64 + 1, source })
    }
}

/// A model built to the contract: its file, the float model and the
/// integer model.
fn build(spec: Spec) -> (ModelProto, Model, IntegerModel) {
    let proto = contract(spec);
    let model = Model::load(&proto.encode_to_vec()).expect("the contract model loads");
    let integer = IntegerModel::compile_proto(&proto).expect("the contract model compiles");
    (proto, model, integer)
}

struct Agreement {
    max: f32,
    mean: f64,
    max_state: f32,
    max_dense: f32,
}

fn agreement(spec: Spec, sequences: u64, length: usize) -> Agreement {
    let (proto, model, integer) = build(spec);
    let initializer = |name: &str| {
        let tensor = proto.graph.as_ref().unwrap().initializer.iter().find(|tensor| tensor.name == name).unwrap();
        Tensor::from_proto(tensor).unwrap()
    };
    let d_scale = initializer("D_scale");
    let max_dense = d_scale.as_f32("").unwrap().iter().fold(0.0f32, |max, scale| max.max(scale * 127.0));
    let (mut max, mut total, mut count, mut max_state) = (0.0f32, 0.0f64, 0u64, 0.0f32);
    for sequence in 0..sequences {
        let mut workload = Workload::new(spec.seed.wrapping_mul(7919) ^ sequence);
        let mut float_state = vec![0.0f32; spec.hidden];
        let mut state = integer.new_state();
        for _ in 0..length {
            let active = workload.next();
            let (expected, next) = float_step(&model, &active, &float_state);
            float_state = next;
            let got = integer.step(&mut state, &active).unwrap();
            for (&got, &expected) in got.iter().zip(&expected) {
                let difference = (f32::from(got) / 65536.0 - expected).abs();
                max = max.max(difference);
                total += f64::from(difference);
                count += 1;
            }
            for (&got, &expected) in state.as_slice().iter().zip(&float_state) {
                max_state = max_state.max((f32::from(got) / 32768.0 - expected).abs());
            }
        }
    }
    Agreement { max, mean: total / count as f64, max_state, max_dense }
}

fn check_agreement(spec: Spec) {
    let result = agreement(spec, 1000, 20);
    eprintln!(
        "H = {}: max |Δp| {:.3e}, mean |Δp| {:.3e}, max |ΔH| {:.3e} (max |D| {:.3}: bound 0.25 × H × max|D| × max|ΔH| = {:.3e})",
        spec.hidden,
        result.max,
        result.mean,
        result.max_state,
        result.max_dense,
        0.25 * spec.hidden as f32 * result.max_dense * result.max_state
    );
    // The documented bounds (module docs of `pae_model::integer`).
    let (max, mean, state) = (integer::MAX_PROBABILITY_ERROR, integer::MEAN_PROBABILITY_ERROR, integer::MAX_STATE_ERROR);
    assert!(f64::from(result.max) <= max, "max |Δp| {} over {max}", result.max);
    assert!(result.mean <= mean, "mean |Δp| {} over {mean}", result.mean);
    assert!(f64::from(result.max_state) <= state, "the integer state drifted from the float state by {}", result.max_state);
}

#[test]
fn agrees_with_the_float_path_hidden_16() {
    check_agreement(Spec::new(16, 16));
}

#[test]
fn agrees_with_the_float_path_hidden_32() {
    check_agreement(Spec::new(32, 32));
}

#[test]
fn agrees_with_the_float_path_hidden_32_larger_weights() {
    check_agreement(Spec { input: 4.0, recurrent: 3.0, bias: 1.0, dense: 2.5, ..Spec::new(32, 64) });
}

// Refusals.

fn contract_16() -> ModelProto {
    contract(Spec::new(16, 1))
}

fn graph(proto: &mut ModelProto) -> &mut GraphProto {
    proto.graph.as_mut().unwrap()
}

fn node_named<'a>(proto: &'a mut ModelProto, output: &str) -> &'a mut NodeProto {
    graph(proto).node.iter_mut().find(|node| node.output[0] == output).unwrap()
}

fn initializer_named<'a>(proto: &'a mut ModelProto, name: &str) -> &'a mut TensorProto {
    graph(proto).initializer.iter_mut().find(|tensor| tensor.name == name).unwrap()
}

/// Compiles a model that must load but not compile; returns the error.
fn refused(proto: &ModelProto) -> Error {
    let model = Model::from_proto(proto).expect("the damaged model still loads");
    IntegerModel::compile(&model).expect_err("the integer path must refuse it")
}

/// Loads a model whose shapes certainly do not fit: refused at load time,
/// with an `Error::Shape` naming the node and mentioning `needle`.
fn assert_refused_at_load(proto: &ModelProto, node: &str, needle: &str) {
    match Model::from_proto(proto) {
        Err(Error::Shape(what)) => {
            assert!(what.starts_with(&format!("node `{node}` (")), "{what}");
            assert!(what.contains(needle), "`{what}` does not mention `{needle}`");
        }
        other => panic!("expected a shape error mentioning `{needle}`, got {other:?}"),
    }
}

/// Replaces the contract's recurrent weights (hidden size 16) by zeros
/// for `directions` directions of `gates` gates, and `h0`'s declared
/// shape to match, so another cell or direction still loads.
fn recurrent_weights(proto: &mut ModelProto, directions: usize, gates: usize) {
    let rows = gates * 16;
    for (name, columns) in [("W", FEATURES), ("R", 16)] {
        let weights = i8_tensor(&format!("{name}_q"), &[directions, rows, columns], vec![0; directions * rows * columns]);
        *initializer_named(proto, &format!("{name}_q")) = weights;
        *initializer_named(proto, &format!("{name}_scale")) = f32_tensor(&format!("{name}_scale"), &[rows], vec![0.01; rows]);
        *initializer_named(proto, &format!("{name}_zero")) = i8_tensor(&format!("{name}_zero"), &[rows], vec![0; rows]);
    }
    *initializer_named(proto, "B") = f32_tensor("B", &[directions, 2 * rows], vec![0.0; directions * 2 * rows]);
    graph(proto).input[1] = value_info("h0", &[Some(directions as i64), Some(1), Some(16)]);
}

fn assert_unsupported(proto: &ModelProto, needle: &str) {
    match refused(proto) {
        Error::Unsupported(what) => {
            assert!(what.starts_with("integer path: "), "{what}");
            assert!(what.contains(needle), "`{what}` does not mention `{needle}`");
        }
        other => panic!("expected Unsupported mentioning `{needle}`, got {other:?}"),
    }
}

#[test]
fn the_contract_compiles() {
    let proto = contract_16();
    let model = Model::from_proto(&proto).unwrap();
    let integer = IntegerModel::compile(&model).unwrap();
    assert_eq!(integer.hidden_size(), 16);
    assert!(integer.threshold().is_some(), "the metadata's threshold");
    assert_eq!(integer.new_state().as_slice(), &[0; 16]);
    // Reordered nodes (D before the GRU) and Add's operands swapped still match.
    let mut reordered = contract_16();
    let nodes = &mut graph(&mut reordered).node;
    let dense = nodes.remove(3);
    nodes.insert(0, dense);
    node_named(&mut reordered, "biased").input = vec!["D_bias".into(), "logits".into()];
    assert_eq!(IntegerModel::compile(&Model::from_proto(&reordered).unwrap()).unwrap(), integer);
}

#[test]
fn another_output_operator_is_refused() {
    let mut proto = contract_16();
    node_named(&mut proto, "probabilities").op_type = "Tanh".into();
    assert_unsupported(&proto, "must be computed by Sigmoid, not Tanh");
    let mut proto = contract_16();
    node_named(&mut proto, "biased").op_type = "Sub".into();
    assert_unsupported(&proto, "Add, not Sub");
    // An Add of shapes that broadcast ([16, 48]) where the MatMul was.
    let mut proto = contract_16();
    *node_named(&mut proto, "logits") = node("Add", &["D", "D"], &["logits"], vec![]);
    assert_unsupported(&proto, "MatMul, not Add");
}

#[test]
fn float_weights_without_dequantize_are_refused() {
    // W as a float constant through Identity: no DequantizeLinear.
    let mut proto = contract_16();
    let w = node_named(&mut proto, "W");
    *w = node("Identity", &["W_float"], &["W"], vec![]);
    graph(&mut proto).initializer.push(f32_tensor("W_float", &[1, 48, FEATURES], vec![0.1; 48 * FEATURES]));
    assert_unsupported(&proto, "W must be computed by DequantizeLinear of int8 weights, is `Identity`");
    // W as a float initializer straight into the GRU.
    let mut proto = contract_16();
    graph(&mut proto).node.remove(0);
    graph(&mut proto).initializer.push(f32_tensor("W", &[1, 48, FEATURES], vec![0.1; 48 * FEATURES]));
    assert_unsupported(&proto, "6 nodes");
}

#[test]
fn weights_that_are_not_int8_are_refused() {
    let mut proto = contract_16();
    *initializer_named(&mut proto, "R_q") = Tensor::new(vec![1, 48, 16], Data::U8(vec![3; 48 * 16])).unwrap().to_proto("R_q");
    *initializer_named(&mut proto, "R_zero") = Tensor::new(vec![48], Data::U8(vec![0; 48])).unwrap().to_proto("R_zero");
    assert_unsupported(&proto, "the weights of R must be int8, are U8");
    let mut proto = contract_16();
    *initializer_named(&mut proto, "D_q") = Tensor::new(vec![16, CLASSES], Data::I32(vec![3; 16 * CLASSES])).unwrap().to_proto("D_q");
    *initializer_named(&mut proto, "D_zero") = Tensor::new(vec![CLASSES], Data::I32(vec![0; CLASSES])).unwrap().to_proto("D_zero");
    assert_unsupported(&proto, "the weights of D must be int8, are I32");
}

#[test]
fn other_recurrent_cells_and_directions_are_refused() {
    let mut proto = contract_16();
    node_named(&mut proto, "Y").attribute[2] = string("direction", "bidirectional");
    recurrent_weights(&mut proto, 2, 3);
    assert_unsupported(&proto, "direction Bidirectional");
    let mut proto = contract_16();
    node_named(&mut proto, "Y").attribute[2] = string("direction", "reverse");
    assert_unsupported(&proto, "direction Reverse");
    let mut proto = contract_16();
    let gru = node_named(&mut proto, "Y");
    gru.op_type = "LSTM".into();
    gru.attribute.remove(1);
    recurrent_weights(&mut proto, 1, 4);
    assert_unsupported(&proto, "must be computed by GRU, not LSTM");
    let mut proto = contract_16();
    node_named(&mut proto, "Y").attribute[1] = int("linear_before_reset", 0);
    assert_unsupported(&proto, "linear_before_reset");
    let mut proto = contract_16();
    node_named(&mut proto, "Y").attribute.push(float("clip", 3.0));
    assert_unsupported(&proto, "clip");
    let mut proto = contract_16();
    let activations = AttributeProto {
        name: "activations".into(),
        r#type: attribute_type::STRINGS,
        strings: vec![b"Sigmoid".to_vec(), b"Relu".to_vec()],
        ..AttributeProto::default()
    };
    node_named(&mut proto, "Y").attribute.push(activations);
    assert_unsupported(&proto, "activations");
    let mut proto = contract_16();
    node_named(&mut proto, "Y").input[4] = "lengths".into();
    graph(&mut proto).initializer.push(Tensor::new(vec![1], Data::I32(vec![1])).unwrap().to_proto("lengths"));
    assert_unsupported(&proto, "no sequence_lens");
}

#[test]
fn wrong_shapes_are_refused() {
    // Shapes that certainly do not fit are refused when the model loads
    // (the integer path's own checks of them stay as a second guard).
    let mut proto = contract_16();
    initializer_named(&mut proto, "R_q").dims = vec![1, 16, 48];
    assert_refused_at_load(&proto, "R", "x_scale `R_scale` [48] does not match axis 1 of x `R_q` [1, 16, 48]");
    let mut proto = contract_16();
    initializer_named(&mut proto, "D_q").dims = vec![CLASSES as i64, 16];
    assert_refused_at_load(&proto, "D", "x_scale `D_scale` [48] does not match axis 1 of x `D_q` [48, 16]");
    let mut proto = contract_16();
    *initializer_named(&mut proto, "B") = f32_tensor("B", &[1, 48], vec![0.0; 48]);
    assert_refused_at_load(&proto, "Y", "B `B` has shape [1, 48], expected [1, 96]");
    let mut proto = contract_16();
    graph(&mut proto).input[0] = value_info("x", &[None, Some(1), Some(46)]);
    assert_refused_at_load(&proto, "Y", "W `W` has shape [1, 48, 47], expected [1, 48, 46]");
    let mut proto = contract_16();
    node_named(&mut proto, "W").attribute[0] = int("axis", 2);
    assert_refused_at_load(&proto, "W", "x_scale `W_scale` [48] does not match axis 2 of x `W_q` [1, 48, 47]");

    // Shapes that run but are not the contract's: the integer path refuses them.
    let mut proto = contract_16();
    *initializer_named(&mut proto, "W_scale") = f32_tensor("W_scale", &[1], vec![0.01]);
    *initializer_named(&mut proto, "W_zero") = i8_tensor("W_zero", &[1], vec![0]);
    assert_unsupported(&proto, "the scale of W has shape [1], expected [48]");
    let mut proto = contract_16();
    *initializer_named(&mut proto, "D_bias") = f32_tensor("D_bias", &[1, CLASSES], vec![0.0; CLASSES]);
    assert_unsupported(&proto, "D_bias has shape");
}

#[test]
fn other_quantization_parameters_are_refused() {
    let mut proto = contract_16();
    *initializer_named(&mut proto, "R_zero") = i8_tensor("R_zero", &[48], (0..48).map(|i| (i % 2) as i8).collect());
    assert_unsupported(&proto, "the zero point of R must be all zeros");
    let mut proto = contract_16();
    *initializer_named(&mut proto, "D_zero") = i8_tensor("D_zero", &[48], (0..48).map(|i| i8::from(i == 47)).collect());
    assert_unsupported(&proto, "the zero point of D must be all zeros");
    let mut proto = contract_16();
    *initializer_named(&mut proto, "D_scale") = f32_tensor("D_scale", &[1], vec![0.01]);
    *initializer_named(&mut proto, "D_zero") = i8_tensor("D_zero", &[1], vec![0]);
    assert_unsupported(&proto, "the scale of D has shape [1], expected [48]");
    for bad in [0.0, -0.01, f32::NAN, f32::INFINITY] {
        let mut proto = contract_16();
        let mut scales = vec![0.01f32; 48];
        scales[5] = bad;
        *initializer_named(&mut proto, "R_scale") = f32_tensor("R_scale", &[48], scales);
        assert!(matches!(refused(&proto), Error::Invalid(what) if what.contains("R_scale[5] must be finite and positive")));
    }
    let mut proto = contract_16();
    let mut biases = vec![0.0f32; 96];
    biases[7] = f32::NAN;
    *initializer_named(&mut proto, "B") = f32_tensor("B", &[1, 96], biases);
    assert!(matches!(refused(&proto), Error::Invalid(what) if what.contains("B[7] must be finite")));
    let mut proto = contract_16();
    *initializer_named(&mut proto, "W_scale") = f32_tensor("W_scale", &[48], vec![1000.0; 48]);
    assert_unsupported(&proto, "W_scale is too large");
}

#[test]
fn other_graph_structures_are_refused() {
    let mut proto = contract_16();
    graph(&mut proto).node.push(node("Identity", &["probabilities"], &["copy"], vec![]));
    assert_unsupported(&proto, "8 nodes");
    let mut proto = contract_16();
    graph(&mut proto).output.swap(0, 1);
    graph(&mut proto).output[0].name = "Y".into();
    assert_unsupported(&proto, "graph outputs are [\"Y\", \"probabilities\"]");
    let mut proto = contract_16();
    let graph_proto = graph(&mut proto);
    graph_proto.input[1].name = "state".into();
    node_named(&mut proto, "Y").input[5] = "state".into();
    assert_unsupported(&proto, "graph inputs are [\"x\", \"state\"]");
    let mut proto = contract_16();
    node_named(&mut proto, "Y").input.truncate(4);
    graph(&mut proto).input.pop();
    assert_unsupported(&proto, "graph inputs are [\"x\"]");
    // The dense layer reads the last state only.
    let mut proto = contract_16();
    node_named(&mut proto, "logits").input[0] = "Y_h".into();
    assert_unsupported(&proto, "the GRU's outputs must be Y (the dense layer's input)");
    // The state quantized to int8 on its way to the dense layer.
    let mut proto = contract_16();
    node_named(&mut proto, "logits").input[0] = "Y_dq".into();
    let graph_proto = graph(&mut proto);
    graph_proto.node.insert(3, node("QuantizeLinear", &["Y", "Y_scale"], &["Y_q"], vec![]));
    graph_proto.node.insert(4, node("DequantizeLinear", &["Y_q", "Y_scale"], &["Y_dq"], vec![]));
    graph_proto.initializer.push(f32_tensor("Y_scale", &[], vec![1.0 / 128.0]));
    assert_unsupported(&proto, "9 nodes, the pattern 7");
    // Models built to the contract for those hidden sizes (changing only
    // the attribute no longer loads: the weights are for 16).
    assert_unsupported(&contract(Spec::new(300, 1)), "hidden_size 300 is over 64");
    assert_unsupported(&contract(Spec::new(18, 1)), "hidden_size 18 is not a multiple of 4");
    let mut proto = contract_16();
    node_named(&mut proto, "Y").attribute[0] = int("hidden_size", 18);
    assert_refused_at_load(&proto, "Y", "W `W` has shape [1, 48, 47], expected [1, 54, 47]");
}

// Activation tables.

fn fixed(x: f64) -> i64 {
    (x * f64::from(1u32 << integer::PRE_ACTIVATION_BITS)).round() as i64
}

fn table_errors() -> (f64, f64) {
    let one = f64::from(1u32 << integer::GATE_BITS);
    let (mut sigmoid_error, mut tanh_error) = (0.0f64, 0.0f64);
    let mut check = |q24: i64| {
        let x = q24 as f64 / f64::from(1u32 << integer::PRE_ACTIVATION_BITS);
        let sigmoid = 1.0 / (1.0 + (-x).exp());
        sigmoid_error = sigmoid_error.max((f64::from(integer::sigmoid(q24)) / one - sigmoid).abs());
        tanh_error = tanh_error.max((f64::from(integer::tanh(q24)) / one - x.tanh()).abs());
    };
    // Every table knot, midpoint and quarter on [-20, 20], and odd points between.
    let step = 1i64 << (integer::PRE_ACTIVATION_BITS - 8);
    let mut q24 = fixed(-20.0);
    while q24 <= fixed(20.0) {
        check(q24);
        check(q24 + 12_345);
        q24 += step;
    }
    for extreme in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX] {
        check(extreme);
    }
    (sigmoid_error, tanh_error)
}

#[test]
fn activation_tables_are_within_their_documented_error() {
    let (sigmoid_error, tanh_error) = table_errors();
    eprintln!("table error: sigmoid {sigmoid_error:.3e}, tanh {tanh_error:.3e}");
    assert!(sigmoid_error <= 3.0e-6, "sigmoid error {sigmoid_error}");
    assert!(tanh_error <= 6.0e-6, "tanh error {tanh_error}");
    // The bound is nearly attained: interpolation, not luck.
    assert!(sigmoid_error > 1.0e-6);
    assert_eq!(integer::sigmoid(0), 1 << 29);
    assert_eq!(integer::tanh(0), 0);
    assert_eq!(integer::sigmoid(i64::MAX) + integer::sigmoid(i64::MIN + 1), 1 << 30);
    let mut previous = i32::MIN;
    let mut q24 = fixed(-17.0);
    while q24 <= fixed(17.0) {
        let value = integer::sigmoid(q24);
        assert!(value >= previous, "sigmoid is monotone");
        assert_eq!(integer::sigmoid(-q24), (1 << 30) - value, "σ(-x) = 1 − σ(x)");
        assert_eq!(integer::tanh(-q24), -integer::tanh(q24), "tanh is odd");
        previous = value;
        q24 += 997;
    }
}

#[test]
fn decimal_probabilities_parse_without_floats() {
    let parse = integer::probability_from_decimal;
    assert_eq!(parse("0.35"), Ok(22938), "0.35 × 65536 = 22937.6");
    assert_eq!(parse("0.5"), Ok(32768));
    assert_eq!(parse(".5"), Ok(32768));
    assert_eq!(parse("5e-1"), Ok(32768));
    assert_eq!(parse("0.05E+1"), Ok(32768));
    assert_eq!(parse("0"), Ok(0));
    assert_eq!(parse("1"), Ok(65535), "1.0 saturates");
    assert_eq!(parse("1.000"), Ok(65535));
    assert_eq!(parse(" 0.25 "), Ok(16384));
    assert_eq!(parse("0.35000000000000003"), Ok(22938));
    assert_eq!(parse("1e-300"), Ok(0));
    assert_eq!(parse("0.0000076293945"), Ok(0), "just under half a step");
    assert_eq!(parse("0.0000076293946"), Ok(1), "just over half a step");
    for bad in ["", ".", "-0.5", "1.5", "2e0", "abc", "nan", "0.5.1", "0.5e", "1e400"] {
        assert!(matches!(parse(bad), Err(Error::Invalid(_))), "`{bad}` must be refused");
    }
}

#[test]
fn the_threshold_and_metadata_come_from_the_file() {
    let proto = contract_16();
    let integer = IntegerModel::load(&proto.encode_to_vec()).unwrap();
    assert_eq!(integer.threshold(), Some(22938));
    let mut wrong = contract_16();
    wrong.metadata_props[3].value = "32".into();
    assert!(matches!(IntegerModel::compile_proto(&wrong), Err(Error::Invalid(what)) if what.contains("pae.hidden")));
    let mut wrong = contract_16();
    wrong.metadata_props[4].value = "high".into();
    assert!(matches!(IntegerModel::compile_proto(&wrong), Err(Error::Invalid(what)) if what.contains("pae.threshold")));
    let mut none = contract_16();
    none.metadata_props.clear();
    assert_eq!(IntegerModel::compile_proto(&none).unwrap().threshold(), None);
    assert!(matches!(IntegerModel::load(b"\x08\x96\x01\x0a\xff\xff\xff\xff\x0f"), Err(Error::Decode(_))));
}

// Steps.

#[test]
fn step_and_step_dense_agree_on_one_hot_inputs() {
    let integer = IntegerModel::compile_proto(&contract(Spec::new(32, 5))).unwrap();
    let mut workload = Workload::new(99);
    let (mut sparse, mut dense) = (integer.new_state(), integer.new_state());
    for _ in 0..500 {
        let active = workload.next();
        let mut inputs = [0u8; FEATURES];
        for index in active {
            inputs[index] = 1;
        }
        assert_eq!(integer.step(&mut sparse, &active).unwrap(), integer.step_dense(&mut dense, &inputs).unwrap());
        assert_eq!(sparse, dense);
    }
    assert!(sparse.as_slice().iter().any(|&value| value != 0));
    // A repeated index counts once, as in a dense vector.
    let mut inputs = [0u8; FEATURES];
    inputs[3] = 1;
    inputs[40] = 1;
    assert_eq!(integer.step(&mut sparse, &[3, 40, 3, 40]).unwrap(), integer.step_dense(&mut dense, &inputs).unwrap());
    // Dense inputs with many ones and none.
    for inputs in [[1u8; FEATURES], [0u8; FEATURES]] {
        let outputs = integer.step_dense(&mut dense, &inputs).unwrap();
        assert!(outputs.iter().any(|&p| p > 0));
    }
}

#[test]
fn bad_inputs_are_errors() {
    let integer = IntegerModel::compile_proto(&contract_16()).unwrap();
    let other = IntegerModel::compile_proto(&contract(Spec::new(32, 1))).unwrap();
    let mut wrong = other.new_state();
    assert!(matches!(integer.step(&mut wrong, &[0, 34, 37, 45]), Err(Error::Input(what)) if what.contains("32 units")));
    assert!(matches!(integer.step_dense(&mut wrong, &[0; FEATURES]), Err(Error::Input(_))));
    let mut state = integer.new_state();
    assert!(matches!(integer.step(&mut state, &[0, 34, 37, FEATURES]), Err(Error::Input(what)) if what.contains("47")));
    assert!(matches!(integer.step(&mut state, &[usize::MAX, 34, 37, 45]), Err(Error::Input(_))));
    let mut inputs = [0u8; FEATURES];
    inputs[9] = 2;
    assert!(matches!(integer.step_dense(&mut state, &inputs), Err(Error::Input(what)) if what.contains("input 9 is 2")));
    assert_eq!(state, integer.new_state(), "a refused step leaves the state alone");
}

#[test]
fn a_step_allocates_nothing() {
    let integer = IntegerModel::compile_proto(&contract(Spec::new(32, 3))).unwrap();
    let mut state = integer.new_state();
    let mut workload = Workload::new(5);
    let inputs: Vec<[usize; ACTIVE]> = (0..100).map(|_| workload.next()).collect();
    let mut dense = [0u8; FEATURES];
    dense[1] = 1;
    dense[20] = 1;
    let before = allocations();
    let mut checksum = 0u64;
    for active in &inputs {
        checksum += u64::from(integer.step(&mut state, active).unwrap()[0]);
        checksum += u64::from(integer.step_dense(&mut state, &dense).unwrap()[1]);
    }
    let hash = integer.self_check();
    assert_eq!(allocations() - before, 1, "steps allocate nothing; self_check allocates its state once (checksum {checksum}, {hash})");
}

#[test]
fn self_check_is_stable() {
    let proto = contract_16();
    let first = IntegerModel::compile_proto(&proto).unwrap();
    let second = IntegerModel::load(&proto.encode_to_vec()).unwrap();
    let clone = first.clone();
    let hash = first.self_check();
    assert_eq!(hash, first.self_check());
    assert_eq!(hash, clone.self_check());
    assert_eq!(hash, second.self_check());
    // Pinned: the same model on any target (the kernel runs it bare metal)
    // must give this value. It changes only if the integer arithmetic or
    // this test model changes.
    assert_eq!(hash, 0x116b_d39a_0979_4c05, "self-check hash");
    // Sensitive to the model: one weight changed by one step.
    let mut changed = contract_16();
    let r_q = initializer_named(&mut changed, "R_q");
    r_q.raw_data[7] = r_q.raw_data[7].wrapping_add(1);
    assert_ne!(IntegerModel::compile_proto(&changed).unwrap().self_check(), hash);
    assert_ne!(IntegerModel::compile_proto(&contract(Spec::new(32, 1))).unwrap().self_check(), hash);
}

//! Malformed models: truncated or mutated files, wrong shapes, unsupported
//! operators and absurd size claims give an error, never a panic or an
//! unbounded allocation.

use pae_model::onnx::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    TypeProtoTensor, ValueInfoProto, attribute_type, data_type,
};
use pae_model::{Error, Model, Tensor};
use proptest::prelude::*;
use prost::Message;

fn float_input(name: &str, shape: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: shape.iter().map(|&size| Dimension { dim_value: Some(size), ..Dimension::default() }).collect(),
                }),
            }),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn output(name: &str) -> ValueInfoProto {
    ValueInfoProto { name: name.into(), ..ValueInfoProto::default() }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attributes,
        ..NodeProto::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INT, i: value, ..AttributeProto::default() }
}

fn weights(name: &str, shape: &[usize], seed: f32) -> TensorProto {
    let count = shape.iter().product::<usize>();
    let values = (0..count).map(|i| ((i as f32 * 0.37 + seed).sin()) * 0.5).collect();
    Tensor::f32(shape, values).unwrap().to_proto(name)
}

fn model(graph: GraphProto, opset: i64) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset }],
        graph: Some(graph),
        ..ModelProto::default()
    }
}

/// A small predictor: a GRU (hidden 4) over a [3, 1, 2] sequence, its last
/// state ([1, 1, 4]) through MatMul, Add and Softmax, and a quantize /
/// dequantize round trip of the probabilities.
fn predictor() -> ModelProto {
    model(
        GraphProto {
            name: "predictor".into(),
            node: vec![
                node("GRU", &["x", "w", "r", "b"], &["y", "h"], vec![int("hidden_size", 4)]),
                node("MatMul", &["h", "dense"], &["product"], vec![]),
                node("Add", &["product", "bias"], &["logits"], vec![]),
                node("Softmax", &["logits"], &["p"], vec![int("axis", -1)]),
                node("QuantizeLinear", &["p", "scale", "zero"], &["q"], vec![]),
                node("DequantizeLinear", &["q", "scale", "zero"], &["p2"], vec![]),
            ],
            initializer: vec![
                weights("w", &[1, 12, 2], 0.1),
                weights("r", &[1, 12, 4], 0.2),
                weights("b", &[1, 24], 0.3),
                weights("dense", &[4, 5], 0.4),
                weights("bias", &[5], 0.5),
                Tensor::f32(&[], vec![1.0 / 255.0]).unwrap().to_proto("scale"),
                Tensor::new(vec![], pae_model::Data::U8(vec![0])).unwrap().to_proto("zero"),
            ],
            input: vec![float_input("x", &[3, 1, 2])],
            output: vec![output("p2"), output("y")],
            ..GraphProto::default()
        },
        17,
    )
}

fn predictor_inputs() -> Vec<Tensor> {
    vec![Tensor::f32(&[3, 1, 2], vec![0.5, -0.25, 0.1, 0.9, -0.7, 0.3]).unwrap()]
}

fn load_error(proto: &ModelProto) -> Error {
    Model::load(&proto.encode_to_vec()).expect_err("the model must be refused")
}

#[test]
fn the_predictor_loads_and_runs() {
    let model = Model::load(&predictor().encode_to_vec()).expect("a valid model");
    assert_eq!(model.inputs().len(), 1);
    assert_eq!(model.outputs().len(), 2);
    let outputs = model.run(&predictor_inputs()).expect("it runs");
    assert_eq!(outputs[0].shape(), [1, 1, 5]);
    assert_eq!(outputs[1].shape(), [3, 1, 1, 4], "Y: steps, directions, batch, hidden");
    let probabilities = outputs[0].as_f32("p2").unwrap();
    let total: f32 = probabilities.iter().sum();
    assert!((total - 1.0).abs() < 3.0 / 255.0, "a distribution, to a quantization step each: {probabilities:?}");
}

#[test]
fn unsupported_operators_are_named() {
    let mut proto = predictor();
    proto.graph.as_mut().unwrap().node[2].op_type = "Conv".into();
    assert_eq!(load_error(&proto), Error::Unsupported("node `Conv#2`: operator `Conv`".into()));
}

#[test]
fn a_four_gibibyte_initializer_claim_is_refused_before_allocating() {
    let mut proto = predictor();
    let graph = proto.graph.as_mut().unwrap();
    graph.initializer[0].dims = vec![65536, 65536];
    let error = load_error(&proto);
    assert!(matches!(&error, Error::Invalid(what) if what.contains("more than")), "{error}");
    graph_raw_mismatch();
}

fn graph_raw_mismatch() {
    let mut proto = predictor();
    proto.graph.as_mut().unwrap().initializer[1].dims = vec![1, 12, 5];
    let error = load_error(&proto);
    assert!(matches!(&error, Error::Invalid(what) if what.contains("raw bytes")), "{error}");
}

#[test]
fn structural_errors_are_reported() {
    let mut negative = predictor();
    negative.graph.as_mut().unwrap().initializer[0].dims = vec![1, -12, 2];
    assert!(matches!(load_error(&negative), Error::Invalid(_)));

    let mut undefined = predictor();
    undefined.graph.as_mut().unwrap().node[1].input[0] = "nowhere".into();
    assert!(matches!(load_error(&undefined), Error::Invalid(what) if what.contains("nowhere")));

    let mut out_of_order = predictor();
    out_of_order.graph.as_mut().unwrap().node.swap(1, 2);
    assert!(matches!(load_error(&out_of_order), Error::Invalid(what) if what.contains("product")));

    let mut twice = predictor();
    twice.graph.as_mut().unwrap().node[3].output[0] = "logits".into();
    assert!(matches!(load_error(&twice), Error::Invalid(what) if what.contains("twice")));

    let mut bad_attribute = predictor();
    bad_attribute.graph.as_mut().unwrap().node[3].attribute[0].r#type = attribute_type::FLOAT;
    assert!(matches!(load_error(&bad_attribute), Error::Invalid(what) if what.contains("axis")));

    let mut unknown_attribute = predictor();
    unknown_attribute.graph.as_mut().unwrap().node[3].attribute.push(int("temperature", 2));
    assert!(matches!(load_error(&unknown_attribute), Error::Unsupported(what) if what.contains("temperature")));

    let mut too_few = predictor();
    too_few.graph.as_mut().unwrap().node[0].input.truncate(2);
    assert!(matches!(load_error(&too_few), Error::Invalid(_)));

    let mut no_output = predictor();
    no_output.graph.as_mut().unwrap().output.clear();
    assert!(matches!(load_error(&no_output), Error::Invalid(_)));

    let mut old = predictor();
    old.opset_import[0].version = 9;
    assert!(matches!(load_error(&old), Error::Unsupported(_)));

    let mut wrong_type = predictor();
    wrong_type.graph.as_mut().unwrap().initializer[3].data_type = data_type::INT64;
    assert!(Model::load(&wrong_type.encode_to_vec()).is_err());

    assert!(matches!(Model::load(b"\x08\x96\x01\x0a\xff\xff\xff\xff\x0f"), Err(Error::Decode(_))));
    assert!(matches!(Model::load(&[]), Err(Error::Invalid(_))), "an empty file has no graph");
}

#[test]
fn inputs_of_the_wrong_shape_or_type_are_refused() {
    let model = Model::load(&predictor().encode_to_vec()).unwrap();
    assert!(matches!(model.run(&[Tensor::f32(&[3, 2], vec![0.0; 6]).unwrap()]), Err(Error::Input(_))), "wrong rank");
    assert!(matches!(model.run(&[]), Err(Error::Input(_))), "missing input");
    let integers = Tensor::new(vec![3, 1, 2], pae_model::Data::I32(vec![0; 6])).unwrap();
    assert!(matches!(model.run(&[integers]), Err(Error::Input(_))), "wrong type");
}

/// A declared dimension as a hostile file may write it: small, huge,
/// negative, or symbolic (`None`).
fn declared_dimension() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        4 => (0i64..6).prop_map(Some),
        1 => Just(Some(i64::MAX)),
        1 => Just(Some(1 << 40)),
        1 => Just(Some(-1)),
        2 => Just(None),
    ]
}

fn declared(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let mut info = float_input(name, &[]);
    let shape = info.r#type.as_mut().and_then(|t| t.tensor_type.as_mut()).and_then(|t| t.shape.as_mut()).unwrap();
    shape.dim = dims
        .iter()
        .map(|&size| Dimension { dim_value: size, dim_param: size.is_none().then(|| "N".into()), ..Dimension::default() })
        .collect();
    info
}

/// Ways to damage a file.
#[derive(Clone, Debug)]
enum Damage {
    Truncate(usize),
    Flip(Vec<(usize, u8)>),
    /// A varint claiming 4 GiB written over the file at an offset.
    HugeLength(usize),
    Insert(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8).prop_map(Damage::Flip),
        any::<usize>().prop_map(Damage::HugeLength),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Damage::Insert(at, bytes)),
    ]
}

fn apply(bytes: &[u8], damage: &Damage) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match damage {
        Damage::Truncate(at) => out.truncate(at % bytes.len()),
        Damage::Flip(flips) => {
            for &(at, value) in flips {
                let index = at % out.len();
                out[index] ^= value.max(1);
            }
        }
        Damage::HugeLength(at) => {
            let at = at % out.len();
            let claim = [0xff, 0xff, 0xff, 0xff, 0x0f];
            for (offset, byte) in claim.iter().enumerate() {
                if let Some(slot) = out.get_mut(at + offset) {
                    *slot = *byte;
                }
            }
        }
        Damage::Insert(at, extra) => {
            let at = at % (out.len() + 1);
            out.splice(at..at, extra.iter().copied());
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any declared input and output shapes: load-time shape inference
    /// refuses or accepts them, never panics.
    #[test]
    fn declared_shapes_never_panic(
        x in proptest::collection::vec(declared_dimension(), 0..10),
        p in proptest::collection::vec(declared_dimension(), 0..10),
        y in proptest::collection::vec(declared_dimension(), 0..10),
    ) {
        let mut proto = predictor();
        let graph = proto.graph.as_mut().unwrap();
        graph.input[0] = declared("x", &x);
        graph.output = vec![declared("p2", &p), declared("y", &y)];
        if let Ok(model) = Model::load(&proto.encode_to_vec()) {
            let _ = model.run(&predictor_inputs());
        }
    }

    /// Ten thousand damaged files: each is refused or, if it still makes
    /// sense, runs to a result or an error. A panic fails the test.
    #[test]
    fn damaged_models_never_panic(damage in damage()) {
        let original = predictor().encode_to_vec();
        let damaged = apply(&original, &damage);
        if let Ok(model) = Model::load(&damaged) {
            let _ = model.run(&predictor_inputs());
        }
    }
}

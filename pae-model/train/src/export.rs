//! The ONNX file: exactly the QDQ graph of `pae-model/README.md` ("The
//! exported graph"), built from `tract_onnx::pb` messages and encoded with
//! prost. Fields are written in a fixed order and floats as little-endian
//! raw bytes, so the same model always gives the same bytes.

use crate::network::FloatModel;
use crate::quantize::QuantizedModel;
use pae_model::features::{CLASSES, FEATURES, WINDOW};
use prost::Message;
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto, attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
};

/// Default-domain operator set of the file.
pub const OPSET: i64 = 17;
/// ONNX IR version of the file.
pub const IR_VERSION: i64 = 8;
/// The symbolic sequence length of `x`, `probabilities`.
const STEPS: &str = "T";

/// What the metadata says besides the shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// `pae.threshold`: the decision threshold, a decimal probability.
    pub threshold: String,
    /// `pae.seed`.
    pub seed: u64,
    /// `pae.data`: what the model was trained on.
    pub data: String,
}

/// A dimension: fixed or the symbolic step count.
enum Dim {
    Fixed(usize),
    Steps,
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|dim| tensor_shape_proto::Dimension {
            denotation: String::new(),
            value: Some(match dim {
                Dim::Fixed(size) => tensor_shape_proto::dimension::Value::DimValue(*size as i64),
                Dim::Steps => tensor_shape_proto::dimension::Value::DimParam(STEPS.into()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            denotation: String::new(),
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

fn tensor(name: &str, dims: &[usize], data_type: DataType, raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&size| size as i64).collect(),
        data_type: data_type as i32,
        raw_data,
        ..TensorProto::default()
    }
}

fn floats(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    tensor(name, dims, DataType::Float, values.iter().flat_map(|value| value.to_le_bytes()).collect())
}

fn int8s(name: &str, dims: &[usize], values: &[i8]) -> TensorProto {
    tensor(name, dims, DataType::Int8, values.iter().map(|&value| value as u8).collect())
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i: value, ..AttributeProto::default() }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::String as i32, s: value.as_bytes().to_vec(), ..AttributeProto::default() }
}

fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: name.into(),
        op_type: op.into(),
        input: inputs.iter().map(|input| input.to_string()).collect(),
        output: outputs.iter().map(|output| output.to_string()).collect(),
        attribute,
        ..NodeProto::default()
    }
}

fn gru(hidden: usize) -> NodeProto {
    node(
        "gru",
        "GRU",
        &["x", "W", "R", "B", "", "h0"],
        &["Y", "Y_h"],
        vec![int("hidden_size", hidden as i64), int("linear_before_reset", 1), string("direction", "forward")],
    )
}

fn model(graph: GraphProto, metadata: Vec<(&str, String)>) -> ModelProto {
    ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "pae-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        metadata_props: metadata.into_iter().map(|(key, value)| StringStringEntryProto { key: key.into(), value }).collect(),
        ..ModelProto::default()
    }
}

fn inputs(hidden: usize) -> Vec<ValueInfoProto> {
    vec![value_info("x", &[Dim::Steps, Dim::Fixed(1), Dim::Fixed(FEATURES)]), value_info("h0", &[Dim::Fixed(1), Dim::Fixed(1), Dim::Fixed(hidden)])]
}

fn outputs(hidden: usize) -> Vec<ValueInfoProto> {
    vec![
        value_info("probabilities", &[Dim::Steps, Dim::Fixed(1), Dim::Fixed(1), Dim::Fixed(CLASSES)]),
        value_info("Y_h", &[Dim::Fixed(1), Dim::Fixed(1), Dim::Fixed(hidden)]),
    ]
}

/// The contract's QDQ graph for `model`, with its metadata.
pub fn qdq_graph(model: &QuantizedModel, metadata: &Metadata) -> ModelProto {
    let h = model.hidden;
    let axis = || vec![int("axis", 1)];
    let graph = GraphProto {
        name: "pae".into(),
        node: vec![
            node("W_dequantize", "DequantizeLinear", &["W_q", "W_scale", "W_zero"], &["W"], axis()),
            node("R_dequantize", "DequantizeLinear", &["R_q", "R_scale", "R_zero"], &["R"], axis()),
            gru(h),
            node("D_dequantize", "DequantizeLinear", &["D_q", "D_scale", "D_zero"], &["D"], axis()),
            node("dense", "MatMul", &["Y", "D"], &["logits"], vec![]),
            node("dense_bias", "Add", &["logits", "D_bias"], &["biased"], vec![]),
            node("probability", "Sigmoid", &["biased"], &["probabilities"], vec![]),
        ],
        initializer: vec![
            int8s("W_q", &[1, 3 * h, FEATURES], &model.w_q),
            floats("W_scale", &[3 * h], &model.w_scale),
            int8s("W_zero", &[3 * h], &vec![0; 3 * h]),
            int8s("R_q", &[1, 3 * h, h], &model.r_q),
            floats("R_scale", &[3 * h], &model.r_scale),
            int8s("R_zero", &[3 * h], &vec![0; 3 * h]),
            floats("B", &[1, 6 * h], &model.b),
            int8s("D_q", &[h, CLASSES], &model.d_q),
            floats("D_scale", &[CLASSES], &model.d_scale),
            int8s("D_zero", &[CLASSES], &[0; CLASSES]),
            floats("D_bias", &[CLASSES], &model.d_bias),
        ],
        input: inputs(h),
        output: outputs(h),
        ..GraphProto::default()
    };
    self::model(
        graph,
        vec![
            ("pae.features", FEATURES.to_string()),
            ("pae.classes", CLASSES.to_string()),
            ("pae.window", WINDOW.to_string()),
            ("pae.hidden", h.to_string()),
            ("pae.threshold", metadata.threshold.clone()),
            ("pae.seed", metadata.seed.to_string()),
            ("pae.data", metadata.data.clone()),
        ],
    )
}

/// The same network with float weights and no quantization (same value
/// names where they exist): for checking the trained model's layout and
/// for measuring what quantization costs. Never shipped.
pub fn float_graph(model: &FloatModel) -> ModelProto {
    let h = model.hidden;
    let graph = GraphProto {
        name: "pae-float".into(),
        node: vec![
            gru(h),
            node("dense", "MatMul", &["Y", "D"], &["logits"], vec![]),
            node("dense_bias", "Add", &["logits", "D_bias"], &["biased"], vec![]),
            node("probability", "Sigmoid", &["biased"], &["probabilities"], vec![]),
        ],
        initializer: vec![
            floats("W", &[1, 3 * h, FEATURES], &model.w),
            floats("R", &[1, 3 * h, h], &model.r),
            floats("B", &[1, 6 * h], &model.b),
            floats("D", &[h, CLASSES], &model.d),
            floats("D_bias", &[CLASSES], &model.d_bias),
        ],
        input: inputs(h),
        output: outputs(h),
        ..GraphProto::default()
    };
    self::model(graph, vec![("pae.hidden", h.to_string())])
}

/// The file's bytes.
pub fn encode(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

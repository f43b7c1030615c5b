//! Loading, validating and running a model graph.
//!
//! [`Model::load`] decodes a file and, before anything runs, checks the
//! size limits (file, nodes), the operator set (10 to 28), every node's
//! operator, attributes and arity, that each value is defined before it is
//! read, element types and static shapes (`shape`). [`Model::run`] is the
//! float reference path.

use crate::Error;
use crate::onnx::{ModelProto, TypeProto};
use crate::ops::Op;
use crate::shape::{self, Operand, StaticShape};
use crate::tensor::{DataType, Dim, Tensor, element_count, may_agree};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use prost::Message;

/// Largest model file accepted.
pub const MAX_MODEL_BYTES: usize = 64 << 20;
/// Most nodes a graph may have.
pub const MAX_NODES: usize = 10_000;
/// Lowest default-domain operator set accepted (operators whose meaning
/// changed since are refused in older models: see `Op::parse`).
pub const MIN_OPSET: i64 = 10;
/// Highest default-domain operator set accepted (the newest the engine was
/// checked against).
pub const MAX_OPSET: i64 = 28;

/// Index of a value (graph input, initializer or node output).
pub type ValueId = usize;

/// A declared graph input or output: its element type and shape, where known
/// (`None` for a symbolic or missing dimension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueInfo {
    /// Its name.
    pub name: String,
    /// Its value.
    pub id: ValueId,
    /// Element type, if declared.
    pub data_type: Option<DataType>,
    /// Shape, if declared.
    pub shape: Option<DeclaredShape>,
}

/// One operator application.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Node name (or `op_type#index` if it had none), for errors.
    pub name: String,
    /// The operator and its attributes.
    pub op: Op,
    /// Inputs; `None` for an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    /// Outputs; `None` for an output nobody asked for.
    pub outputs: Vec<Option<ValueId>>,
}

/// A validated model, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Default-domain operator set version.
    pub opset: i64,
    /// Value names, by id.
    names: Vec<String>,
    /// Constant values.
    initializers: Vec<(ValueId, Tensor)>,
    /// Inputs the caller provides, in order.
    inputs: Vec<ValueInfo>,
    /// Outputs returned, in order.
    outputs: Vec<ValueInfo>,
    /// Nodes in execution order.
    nodes: Vec<Node>,
    /// The file's `metadata_props`, in order.
    metadata: Vec<(String, String)>,
}

/// A declared shape: `None` for a dimension that is symbolic or missing.
pub type DeclaredShape = Vec<Dim>;

fn value_info(proto_type: Option<&TypeProto>) -> Result<(Option<DataType>, Option<DeclaredShape>), Error> {
    let Some(tensor) = proto_type.and_then(|t| t.tensor_type.as_ref()) else { return Ok((None, None)) };
    let data_type = if tensor.elem_type == 0 { None } else { Some(DataType::from_onnx(tensor.elem_type)?) };
    let shape = tensor.shape.as_ref().map(|shape| {
        shape.dim.iter().map(|dim| dim.dim_value.and_then(|value| usize::try_from(value).ok())).collect::<Vec<_>>()
    });
    if let Some(shape) = &shape {
        let known: Vec<usize> = shape.iter().map(|dim| dim.unwrap_or(1)).collect();
        element_count(&known)?;
    }
    Ok((data_type, shape))
}

impl Model {
    /// Decodes and validates an ONNX file.
    pub fn load(bytes: &[u8]) -> Result<Model, Error> {
        if bytes.len() > MAX_MODEL_BYTES {
            return Err(Error::Invalid(format!("{} bytes is over the {MAX_MODEL_BYTES}-byte limit", bytes.len())));
        }
        let proto = ModelProto::decode(bytes).map_err(|error| Error::Decode(format!("{error}")))?;
        Model::from_proto(&proto)
    }

    /// Validates a decoded model.
    pub fn from_proto(proto: &ModelProto) -> Result<Model, Error> {
        let opset = proto
            .opset_import
            .iter()
            .find(|set| set.domain.is_empty() || set.domain == "ai.onnx")
            .map(|set| set.version)
            .ok_or_else(|| Error::Invalid("no default-domain operator set".into()))?;
        if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
            return Err(Error::Unsupported(format!("operator set {opset} (supported: {MIN_OPSET} to {MAX_OPSET})")));
        }
        let graph = proto.graph.as_ref().ok_or_else(|| Error::Invalid("no graph".into()))?;
        if graph.node.len() > MAX_NODES {
            return Err(Error::Invalid(format!("{} nodes is over {MAX_NODES}", graph.node.len())));
        }
        let mut names = Names::default();
        let mut initializers = Vec::with_capacity(graph.initializer.len());
        for proto in &graph.initializer {
            let tensor = Tensor::from_proto(proto).map_err(|error| match error {
                Error::Invalid(what) => Error::Invalid(format!("initializer `{}`: {what}", proto.name)),
                other => other,
            })?;
            initializers.push((names.define(&proto.name)?, tensor));
        }
        // Old IR versions list initializers among the inputs too: those are not inputs.
        let mut inputs = Vec::new();
        for input in &graph.input {
            let (data_type, shape) = value_info(input.r#type.as_ref())?;
            if let Some((_, tensor)) = initializers.iter().find(|(id, _)| names.names[*id] == input.name) {
                if data_type.is_some_and(|declared| declared != tensor.data_type()) {
                    return Err(Error::Type(format!("initializer `{}` is not of its declared type", input.name)));
                }
                let declared = StaticShape::declared(shape.as_deref());
                if !declared.may_agree(&StaticShape::known(tensor.shape())) {
                    return Err(Error::Shape(format!(
                        "initializer `{}` has shape {:?}, but the graph input of that name is declared {declared}",
                        input.name,
                        tensor.shape()
                    )));
                }
                continue;
            }
            let id = names.define(&input.name)?;
            inputs.push(ValueInfo { name: input.name.clone(), id, data_type, shape });
        }

        let mut nodes = Vec::with_capacity(graph.node.len());
        for (index, node) in graph.node.iter().enumerate() {
            let name = if node.name.is_empty() { format!("{}#{index}", node.op_type) } else { node.name.clone() };
            if !(node.domain.is_empty() || node.domain == "ai.onnx") {
                return Err(Error::Unsupported(format!("node `{name}`: operator domain `{}`", node.domain)));
            }
            let op = Op::parse(node, opset).map_err(|error| in_node(&name, error))?;
            let (min_inputs, max_inputs, max_outputs) = op.arity();
            let given = node.input.iter().rposition(|input| !input.is_empty()).map_or(0, |last| last + 1);
            if given < min_inputs || node.input.len() > max_inputs {
                return Err(Error::Invalid(format!(
                    "node `{name}` ({}) has {} inputs; it takes {min_inputs} to {max_inputs}",
                    node.op_type,
                    node.input.len()
                )));
            }
            if node.output.is_empty() || node.output.len() > max_outputs {
                return Err(Error::Invalid(format!(
                    "node `{name}` ({}) has {} outputs; it has 1 to {max_outputs}",
                    node.op_type,
                    node.output.len()
                )));
            }
            let mut node_inputs = Vec::with_capacity(node.input.len());
            for (position, input) in node.input.iter().enumerate() {
                if input.is_empty() {
                    if position < min_inputs {
                        return Err(Error::Invalid(format!("node `{name}`: required input {position} is missing")));
                    }
                    node_inputs.push(None);
                    continue;
                }
                let id = names
                    .get(input)
                    .ok_or_else(|| Error::Invalid(format!("node `{name}` reads `{input}`, which nothing before it defines")))?;
                node_inputs.push(Some(id));
            }
            let mut node_outputs = Vec::with_capacity(node.output.len());
            for output in &node.output {
                if output.is_empty() {
                    node_outputs.push(None);
                    continue;
                }
                let id = names.define(output)?;
                node_outputs.push(Some(id));
            }
            nodes.push(Node { name, op, inputs: node_inputs, outputs: node_outputs });
        }

        let mut outputs = Vec::with_capacity(graph.output.len());
        for output in &graph.output {
            let id = names
                .get(&output.name)
                .ok_or_else(|| Error::Invalid(format!("graph output `{}` is never computed", output.name)))?;
            let (data_type, shape) = value_info(output.r#type.as_ref())?;
            outputs.push(ValueInfo { name: output.name.clone(), id, data_type, shape });
        }
        if outputs.is_empty() {
            return Err(Error::Invalid("the graph has no outputs".into()));
        }
        let metadata = proto.metadata_props.iter().map(|entry| (entry.key.clone(), entry.value.clone())).collect();
        let model = Model { opset, names: names.names, initializers, inputs, outputs, nodes, metadata };
        model.check_types()?;
        model.check_shapes()?;
        Ok(model)
    }

    /// Propagates element types from inputs and initializers through every
    /// node, so a type error is found at load time, not on the first run.
    fn check_types(&self) -> Result<(), Error> {
        let mut types: Vec<Option<DataType>> = alloc::vec![None; self.names.len()];
        for (id, tensor) in &self.initializers {
            types[*id] = Some(tensor.data_type());
        }
        for input in &self.inputs {
            types[input.id] = input.data_type;
        }
        for node in &self.nodes {
            let known: Vec<Option<DataType>> = node.inputs.iter().map(|input| input.and_then(|id| types[id])).collect();
            let produced = node.op.output_types(&known).map_err(|error| in_node(&node.name, error))?;
            for (output, data_type) in node.outputs.iter().zip(produced) {
                if let Some(id) = output {
                    types[*id] = data_type;
                }
            }
        }
        for output in &self.outputs {
            if let (Some(declared), Some(computed)) = (output.data_type, types[output.id])
                && declared != computed
            {
                return Err(Error::Type(format!("graph output `{}` is declared {declared:?}, computed {computed:?}", output.name)));
            }
        }
        Ok(())
    }

    /// Propagates static shapes (see [`shape`]) from the declared inputs
    /// and the initializers through every node, so a shape error certain
    /// from the known dimensions is found at load time; then checks the
    /// declared graph outputs against what was inferred.
    fn check_shapes(&self) -> Result<(), Error> {
        let mut shapes: Vec<StaticShape> = alloc::vec![StaticShape::Unranked; self.names.len()];
        for (id, tensor) in &self.initializers {
            shapes[*id] = StaticShape::known(tensor.shape());
        }
        for input in &self.inputs {
            shapes[input.id] = StaticShape::declared(input.shape.as_deref());
        }
        // The node computing each value, for messages about graph outputs.
        let mut producers: Vec<Option<&Node>> = alloc::vec![None; self.names.len()];
        for node in &self.nodes {
            let operands: Vec<Option<Operand<'_>>> =
                node.inputs.iter().map(|input| input.map(|id| Operand { name: &self.names[id], shape: &shapes[id] })).collect();
            let produced = shape::infer(&node.op, &operands).map_err(|error| in_node_op(node, error))?;
            for (output, shape) in node.outputs.iter().zip(produced) {
                if let Some(id) = output {
                    shapes[*id] = shape;
                    producers[*id] = Some(node);
                }
            }
        }
        for output in &self.outputs {
            let declared = StaticShape::declared(output.shape.as_deref());
            let inferred = &shapes[output.id];
            if !declared.may_agree(inferred) {
                let by = producers[output.id].map(|node| format!(" (node `{}` ({}))", node.name, node.op.op_type())).unwrap_or_default();
                return Err(Error::Shape(format!("graph output `{}`{by} is declared {declared}, inferred {inferred}", output.name)));
            }
        }
        Ok(())
    }

    /// The inputs `run` expects, in order.
    pub fn inputs(&self) -> &[ValueInfo] {
        &self.inputs
    }

    /// The outputs `run` returns, in order.
    pub fn outputs(&self) -> &[ValueInfo] {
        &self.outputs
    }

    /// The nodes, in execution order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The value of metadata entry `key` (the first, if repeated).
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str())
    }

    /// The constant value called `name`.
    pub fn initializer(&self, name: &str) -> Option<&Tensor> {
        self.initializers.iter().find(|(id, _)| self.names[*id] == name).map(|(_, tensor)| tensor)
    }

    /// The name of value `id`.
    pub fn value_name(&self, id: ValueId) -> &str {
        &self.names[id]
    }

    /// Runs the graph on the float reference path (integer operators run
    /// exactly as specified).
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::Input(format!("the model takes {} inputs, got {}", self.inputs.len(), inputs.len())));
        }
        let mut values: Vec<Option<Tensor>> = alloc::vec![None; self.names.len()];
        for (id, tensor) in &self.initializers {
            values[*id] = Some(tensor.clone());
        }
        for (info, tensor) in self.inputs.iter().zip(inputs) {
            if info.data_type.is_some_and(|declared| declared != tensor.data_type()) {
                return Err(Error::Input(format!("input `{}` must be {:?}, is {:?}", info.name, info.data_type, tensor.data_type())));
            }
            if let Some(shape) = &info.shape
                && !may_agree(shape, tensor.shape())
            {
                let declared = StaticShape::declared(Some(shape));
                return Err(Error::Input(format!("input `{}` must have shape {declared}, has {:?}", info.name, tensor.shape())));
            }
            values[info.id] = Some(tensor.clone());
        }
        for node in &self.nodes {
            let arguments: Vec<Option<&Tensor>> = node.inputs.iter().map(|input| input.and_then(|id| values[id].as_ref())).collect();
            let results = node.op.run(&arguments).map_err(|error| in_node(&node.name, error))?;
            for (output, result) in node.outputs.iter().zip(results) {
                if let Some(id) = output {
                    values[*id] = Some(result);
                }
            }
        }
        self.outputs
            .iter()
            .map(|output| values[output.id].take().ok_or_else(|| Error::Invalid(format!("output `{}` was not computed", output.name))))
            .collect()
    }
}

/// Value names while a graph is read: each defined once, before use.
#[derive(Default)]
struct Names {
    names: Vec<String>,
    ids: BTreeMap<String, ValueId>,
}

impl Names {
    fn define(&mut self, name: &str) -> Result<ValueId, Error> {
        if name.is_empty() {
            return Err(Error::Invalid("a value with an empty name".into()));
        }
        if self.ids.contains_key(name) {
            return Err(Error::Invalid(format!("value `{name}` is defined twice")));
        }
        let id = self.names.len();
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        Ok(id)
    }

    fn get(&self, name: &str) -> Option<ValueId> {
        self.ids.get(name).copied()
    }
}

/// Prefixes an error with the node it happened in.
fn in_node(name: &str, error: Error) -> Error {
    prefixed(&format!("node `{name}`"), error)
}

/// Prefixes an error with the node it happened in and its operator.
fn in_node_op(node: &Node, error: Error) -> Error {
    prefixed(&format!("node `{}` ({})", node.name, node.op.op_type()), error)
}

/// Prefixes a model error (not a decoding or input error) with `prefix`.
fn prefixed(prefix: &str, error: Error) -> Error {
    match error {
        Error::Invalid(what) => Error::Invalid(format!("{prefix}: {what}")),
        Error::Unsupported(what) => Error::Unsupported(format!("{prefix}: {what}")),
        Error::Type(what) => Error::Type(format!("{prefix}: {what}")),
        Error::Shape(what) => Error::Shape(format!("{prefix}: {what}")),
        other => other,
    }
}

//! Loading a graph (decode, build each op, check every reference, topological sort, constant
//! folding, weight prepacking) and running it.
//!
//! Values live in numbered slots. Initializers and folded results are constants owned by the
//! model; graph inputs are borrowed from the caller; node outputs are owned by the run and
//! dropped after their last reader. A node that is the last reader of a value gets it by value
//! ([`Input::Owned`]), so elementwise ops reuse its buffer.

use super::attr::Attrs;
use super::op::Subgraph;
use super::ops::{self, BuildCtx, Input, Inputs, Op, OpError};
use super::tensor_proto;
use super::value::{DType, Value};
use crate::error::{EngineError, MissingOp};
pub(crate) use crate::node::Node;
use crate::quantize_config::QuantizeConfig;
use prost::Message;
use quantscope_formats::onnx::proto::{DimensionValue, GraphProto, ModelProto, NodeProto, ValueInfoProto};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// Sees every value a run produces, by slot (calibration).
pub(crate) type Observer<'a> = &'a mut dyn FnMut(usize, &Value);

/// A clock (ms) and what to do with each node's time, by node index ([`Model::run_profiled`]).
pub(crate) type Timer<'a> = (&'a mut dyn FnMut() -> f64, &'a mut dyn FnMut(usize, f64));

/// One node's time in a [`Model::run_profiled`] run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeTime {
    pub name: String,
    pub op_type: String,
    pub ms: f64,
}

/// One dimension of a declared input or output shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(usize),
    /// A named dimension (`batch`, `N`): any size, the same wherever the name appears.
    Symbolic(String),
}

/// A graph input or output as the model declares it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IoInfo {
    pub name: String,
    /// `None` when the model does not declare it (or declares a type the engine lacks).
    #[serde(serialize_with = "ser_dtype")]
    pub dtype: Option<DType>,
    /// `None` when the model declares no shape; a dimension without value or name is
    /// reported as `Symbolic("?")`.
    pub shape: Option<Vec<Dim>>,
}

fn ser_dtype<S: serde::Serializer>(d: &Option<DType>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(d.name()),
        None => s.serialize_none(),
    }
}

/// A node of the model as it runs (after folding and quantization).
#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    pub name: String,
    pub op_type: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// True for MatMul, Gemm and Conv nodes with constant weights: what `quantize` rewrites.
    pub quantizable: bool,
}

impl Subgraph for Model {
    fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(|io| io.name.as_str()).collect()
    }

    fn output_count(&self) -> usize {
        self.outputs.len()
    }

    fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    fn quantized(&self, config: &QuantizeConfig) -> Result<(Arc<dyn Subgraph>, usize, usize), EngineError> {
        let (model, quantized, total) = self.quantize_counted(config)?;
        Ok((Arc::new(model), quantized, total))
    }

    fn run_named(&self, inputs: &[(&str, Value)]) -> Result<Vec<Value>, String> {
        // Inside a native `run_profiled`: this subgraph's nodes timed too (by `Instant`).
        #[cfg(not(target_arch = "wasm32"))]
        if NESTED.with(|n| n.borrow().is_some()) {
            let start = std::time::Instant::now();
            let mut clock = || start.elapsed().as_secs_f64() * 1e3;
            let mut inner = Vec::new();
            let mut record = |ni: usize, ms: f64| push_timed(&mut inner, &self.run_nodes[ni], ms);
            let outputs = self.execute(inputs, None, Some((&mut clock, &mut record)));
            NESTED.with(|n| n.borrow_mut().as_mut().map(|n| n.extend(inner)));
            return Ok(outputs.map_err(|e| e.to_string())?.into_iter().map(|(_, v)| v).collect());
        }
        Ok(self.run(inputs).map_err(|e| e.to_string())?.into_iter().map(|(_, v)| v).collect())
    }
}

#[cfg(not(target_arch = "wasm32"))]
std::thread_local! {
    /// While a native [`Model::run_profiled`] runs: the times of the nodes inside the subgraphs
    /// (If, Loop) the node being timed has run so far, which its record takes.
    static NESTED: std::cell::RefCell<Option<Vec<NodeTime>>> = const { std::cell::RefCell::new(None) };
}

/// Records `node`'s time: natively, first the nodes its subgraphs ran (named `node/inner`), then
/// the node itself with their time taken off (so times by op type add up to the run's).
fn push_timed(times: &mut Vec<NodeTime>, node: &Node, ms: f64) {
    #[cfg(not(target_arch = "wasm32"))]
    let ms = {
        let inner = NESTED.with(|n| n.borrow_mut().as_mut().map(std::mem::take)).unwrap_or_default();
        let spent: f64 = inner.iter().map(|t| t.ms).sum();
        times.extend(inner.into_iter().map(|t| NodeTime { name: format!("{}/{}", node.name, t.name), ..t }));
        (ms - spent).max(0.0)
    };
    times.push(NodeTime { name: node.name.clone(), op_type: node.op.op_type().to_string(), ms });
}

/// A loaded model, ready to run. Cheap to clone (ops and constants are shared).
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) opset: i64,
    /// Slot names.
    pub(crate) names: Vec<String>,
    /// Per slot: the constant value, if it is one.
    pub(crate) constants: Vec<Option<Arc<Value>>>,
    pub(crate) inputs: Vec<IoInfo>,
    pub(crate) input_slots: Vec<usize>,
    pub(crate) outputs: Vec<IoInfo>,
    pub(crate) output_slots: Vec<usize>,
    /// Topologically sorted.
    pub(crate) nodes: Vec<Node>,
    /// Per slot: the index of the last node reading it (`usize::MAX` for graph outputs,
    /// which must survive the run).
    pub(crate) last_use: Vec<usize>,
    /// The nodes as [`Model::run`] executes them: `nodes` with Conv epilogues fused
    /// (`crate::fuse`), and each slot's last reader among them. Made by [`Model::plan`].
    pub(crate) run_nodes: Vec<Node>,
    pub(crate) run_last_use: Vec<usize>,
    /// Slots whose values folding computed at load (node outputs, not initializers): a
    /// calibration observes them too, as ONNX Runtime's, which runs those nodes, does.
    pub(crate) folded: Vec<usize>,
    /// The input slots of each of `folded`, in its order (a variant's size counts the constants
    /// the file stores).
    pub(crate) folded_from: Vec<Vec<usize>>,
    /// Op types with counts, most frequent first.
    pub(crate) op_counts: Vec<(String, usize)>,
    pub(crate) parameters: u64,
    pub(crate) stored_bytes: u64,
    /// The slots of the enclosing graphs' constants a subgraph reads (their weights are counted
    /// where they are defined, not again here).
    pub(crate) captured: Vec<usize>,
    pub(crate) description: String,
}

fn display_name(n: &NodeProto, index: usize) -> String {
    match n.name.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("#{index}"),
    }
}

/// An op's error with the node's name and op type.
pub(crate) fn node_error(node: &str, op: &str, input_names: &[String], e: OpError) -> EngineError {
    let (node, op) = (node.to_string(), op.to_string());
    match e {
        OpError::Rank { input, expected, got } => {
            let input = input_names.get(input).cloned().unwrap_or_else(|| format!("#{input}"));
            EngineError::Rank { node, op, input, expected, got }
        }
        OpError::Shape(why) => EngineError::ShapeMismatch { node, op, why },
        OpError::Dtype(why) => EngineError::Dtype { node, op, why },
        OpError::Value(why) => EngineError::InvalidValue { node, op, why },
        OpError::Unsupported(why) => EngineError::Unsupported { node, op, why },
        OpError::Attribute { name, why } => EngineError::BadAttribute { node, op, attribute: name, why },
    }
}

fn io_info(v: &ValueInfoProto) -> IoInfo {
    let name = v.name.clone().unwrap_or_default();
    let Some(t) = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()) else {
        return IoInfo { name, dtype: None, shape: None };
    };
    let dtype = t.elem_type.and_then(DType::from_onnx);
    let shape = t.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(DimensionValue::DimValue(n)) if *n >= 0 => Dim::Fixed(*n as usize),
                Some(DimensionValue::DimParam(p)) if !p.is_empty() => Dim::Symbolic(p.clone()),
                _ => Dim::Symbolic("?".into()),
            })
            .collect()
    });
    IoInfo { name, dtype, shape }
}

/// The weights and ops of the subgraphs a graph's nodes hold, summed as they are built.
#[derive(Default)]
struct Nested {
    parameters: u64,
    stored_bytes: u64,
    ops: Vec<(String, usize)>,
}

impl Nested {
    fn add(&mut self, subgraph: &Model) {
        self.parameters += subgraph.parameters;
        self.stored_bytes += subgraph.stored_bytes;
        self.ops.extend(subgraph.op_counts.iter().cloned());
    }
}

/// Op types by count, most first, then by name.
pub(crate) fn count_ops<'a>(types: impl Iterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for t in types {
        match counts.iter_mut().find(|(o, _)| o == t) {
            Some((_, c)) => *c += 1,
            None => counts.push((t.to_string(), 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// Evaluates a `Constant` node's value attribute.
fn constant_value(node: &NodeProto, name: &str) -> Result<Value, EngineError> {
    let attrs = Attrs::new(&node.attribute);
    let err = |e| node_error(name, "Constant", &[], e);
    attrs
        .only(&["value", "value_float", "value_floats", "value_int", "value_ints", "value_string", "value_strings", "sparse_value"])
        .map_err(err)?;
    if let Some(v) = attrs.tensor("value").map_err(err)? {
        return Ok(v);
    }
    if attrs.has("value_float") {
        return Ok(Value::scalar_f32(attrs.float("value_float", 0.0).map_err(err)?));
    }
    if let Some(v) = attrs.floats("value_floats").map_err(err)? {
        return Ok(Value::f32(vec![v.len()], v));
    }
    if let Some(v) = attrs.int_opt("value_int").map_err(err)? {
        return Ok(Value::i64(vec![], vec![v]));
    }
    if let Some(v) = attrs.ints("value_ints").map_err(err)? {
        return Ok(Value::i64(vec![v.len()], v));
    }
    Err(EngineError::Unsupported {
        node: name.to_string(),
        op: "Constant".into(),
        why: "only tensor, float(s) and int(s) values are supported (strings and sparse tensors are not)".into(),
    })
}

/// A node's op as the registry names it: the op type in the default domain, `domain.op` in
/// another (`ai.onnx.ml.ArrayFeatureExtractor`, `com.microsoft.DynamicQuantizeLSTM`).
fn qualified_op(n: &NodeProto) -> String {
    let op = n.op_type.as_deref().unwrap_or("");
    match n.domain.as_deref().unwrap_or("") {
        "" | "ai.onnx" => op.to_string(),
        domain => format!("{domain}.{op}"),
    }
}

/// Every node whose op the engine does not implement (another domain, or a default-domain op
/// not in the registry), grouped by op type: a model is refused once with the whole list, not
/// one op at a time.
fn missing_ops(nodes: &[NodeProto], sets: &[ops::OpSet]) -> Vec<MissingOp> {
    let mut missing: Vec<MissingOp> = Vec::new();
    for n in nodes {
        let op = qualified_op(n);
        if op == ops::CONSTANT || ops::lookup(sets, &op).is_some() {
            continue;
        }
        match missing.iter_mut().find(|m| m.op == op) {
            Some(m) => m.count += 1,
            None => missing.push(MissingOp { op, count: 1 }),
        }
    }
    missing
}

impl Model {
    /// Loads an ONNX model with every op the engine has ([`ops::ALL`]): every op is built
    /// (unsupported ops and attributes fail here), every input reference resolved, the nodes
    /// sorted, constant subgraphs folded and constant weights prepacked.
    pub fn from_onnx(bytes: &[u8]) -> Result<Model, EngineError> {
        Self::from_onnx_with(bytes, ops::ALL)
    }

    /// [`Model::from_onnx`] with only the ops of `sets`: a wasm module that names fewer sets
    /// links fewer ops (the runner loads with [`ops::BUILT_IN`]).
    pub fn from_onnx_with(bytes: &[u8], sets: &'static [ops::OpSet]) -> Result<Model, EngineError> {
        let proto = ModelProto::decode(bytes).map_err(|e| EngineError::Decode(format!("not a protobuf ModelProto: {e}")))?;
        let graph = proto.graph.as_ref().ok_or_else(|| EngineError::Decode("the ModelProto has no graph".into()))?;
        let opset = proto
            .opset_import
            .iter()
            .filter(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
            .filter_map(|o| o.version)
            .max()
            .ok_or_else(|| EngineError::Decode("the model imports no opset for the default ONNX domain".into()))?;
        Self::from_graph(graph, opset, sets, &[], &|_| None)
    }

    /// A model of one graph: the main graph, or a subgraph of If or Loop whose `outer` names
    /// (values of the enclosing graph it reads) become inputs without a declared type — or
    /// constants, where `outer_constant` knows them as constants of the enclosing graph (so the
    /// subgraph folds what it computes from them at load: silero_vad's LSTM weights, sliced
    /// inside nested If branches, had been sliced on every run, half the model's time).
    pub(crate) fn from_graph(
        graph: &GraphProto,
        opset: i64,
        sets: &'static [ops::OpSet],
        outer: &[String],
        outer_constant: &dyn Fn(&str) -> Option<Arc<Value>>,
    ) -> Result<Model, EngineError> {
        let missing = missing_ops(&graph.node, sets);
        if !missing.is_empty() {
            return Err(EngineError::UnsupportedOps(missing));
        }

        let mut names: Vec<String> = Vec::new();
        let mut constants: Vec<Option<Arc<Value>>> = Vec::new();
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        let mut parameters = 0u64;
        let mut stored_bytes = 0u64;
        // What the subgraphs built below hold (each counts its own subgraphs): a model whose
        // weights live in If branches (silero-vad's) has them counted, as Inspect lists them.
        let nested = RefCell::new(Nested::default());

        for (i, t) in graph.initializer.iter().enumerate() {
            let name = t.name.clone().unwrap_or_else(|| format!("initializer #{i}"));
            let v = tensor_proto::decode(t, &name)?;
            parameters += v.len() as u64;
            stored_bytes += v.stored_bytes();
            if slot_of.insert(name.clone(), names.len()).is_some() {
                return Err(EngineError::DuplicateOutput { node: "(initializers)".into(), op: "initializer".into(), output: name });
            }
            names.push(name);
            constants.push(Some(Arc::new(v)));
        }

        let mut inputs = Vec::new();
        let mut input_slots = Vec::new();
        for v in &graph.input {
            let info = io_info(v);
            if slot_of.contains_key(&info.name) {
                // Before IR 4 initializers were listed as inputs too: they stay constants.
                continue;
            }
            slot_of.insert(info.name.clone(), names.len());
            input_slots.push(names.len());
            names.push(info.name.clone());
            constants.push(None);
            inputs.push(info);
        }
        let mut captured = Vec::new();
        for name in outer {
            if slot_of.contains_key(name) {
                continue;
            }
            slot_of.insert(name.clone(), names.len());
            names.push(name.clone());
            match outer_constant(name) {
                Some(v) => {
                    captured.push(names.len() - 1);
                    constants.push(Some(v));
                }
                None => {
                    input_slots.push(names.len() - 1);
                    constants.push(None);
                    inputs.push(IoInfo { name: name.clone(), dtype: None, shape: None });
                }
            }
        }

        // Pass 1: build each op and give its outputs slots.
        struct Pending<'a> {
            proto: &'a NodeProto,
            name: String,
            op: Option<Arc<dyn Op>>,
            outputs: Vec<Option<usize>>,
        }
        let mut pending: Vec<Pending> = Vec::with_capacity(graph.node.len());
        for (i, n) in graph.node.iter().enumerate() {
            let name = display_name(n, i);
            let op_type = qualified_op(n);
            let op = if op_type == ops::CONSTANT {
                None
            } else {
                // missing_ops has refused every op the registry lacks; this cannot fail.
                let Some(spec) = ops::lookup(sets, &op_type) else { continue };
                let given = n.input.len();
                if given < spec.inputs.0 || n.input.iter().take(spec.required).any(|s| s.is_empty()) {
                    let missing = (0..spec.required).find(|&k| n.input.get(k).map_or(true, |s| s.is_empty())).unwrap_or(0);
                    return Err(EngineError::MissingInput {
                        node: name,
                        op: op_type,
                        input: format!("(required input {missing} is not given)"),
                    });
                }
                if given > spec.inputs.1 {
                    return Err(EngineError::Unsupported {
                        node: name,
                        op: op_type,
                        why: format!("{given} inputs (at most {})", spec.inputs.1),
                    });
                }
                let outs = n.output.len();
                if outs < spec.outputs.0 || outs > spec.outputs.1 {
                    return Err(EngineError::Unsupported {
                        node: name,
                        op: op_type,
                        why: format!("{outs} outputs (the engine produces {}..={})", spec.outputs.0, spec.outputs.1),
                    });
                }
                // This graph's constants so far (initializers, earlier Constant nodes).
                let known = |name: &str| slot_of.get(name).and_then(|&s| constants[s].clone());
                let subgraph = |g: &GraphProto, outer: &[String]| -> Result<Arc<dyn Subgraph>, String> {
                    let model = Model::from_graph(g, opset, sets, outer, &known).map_err(|e| e.to_string())?;
                    nested.borrow_mut().add(&model);
                    Ok(Arc::new(model))
                };
                let ctx = BuildCtx { opset, n_inputs: given, n_outputs: outs, output_names: &n.output, subgraph: &subgraph };
                Some(spec.build(&Attrs::new(&n.attribute), &ctx).map_err(|e| node_error(&name, &op_type, &n.input, e))?)
            };
            let mut outputs = Vec::with_capacity(n.output.len());
            for out in &n.output {
                if out.is_empty() {
                    outputs.push(None);
                    continue;
                }
                if slot_of.contains_key(out) {
                    return Err(EngineError::DuplicateOutput { node: name, op: op_type, output: out.clone() });
                }
                slot_of.insert(out.clone(), names.len());
                outputs.push(Some(names.len()));
                names.push(out.clone());
                constants.push(None);
            }
            if op.is_none() {
                // Constant: evaluated now; the node disappears.
                let v = constant_value(n, &name)?;
                parameters += v.len() as u64;
                stored_bytes += v.stored_bytes();
                let slot = outputs.first().copied().flatten().ok_or_else(|| EngineError::Unsupported {
                    node: name.clone(),
                    op: op_type.clone(),
                    why: "a Constant without an output".into(),
                })?;
                constants[slot] = Some(Arc::new(v));
            }
            pending.push(Pending { proto: n, name, op, outputs });
        }

        // Pass 2: resolve inputs.
        let mut nodes = Vec::new();
        for p in pending {
            let Some(op) = p.op else { continue };
            let mut ins = Vec::with_capacity(p.proto.input.len());
            // An If reads the outer values its branches use as extra inputs after its own.
            for s in p.proto.input.iter().chain(op.captures()) {
                if s.is_empty() {
                    ins.push(None);
                    continue;
                }
                let slot = *slot_of.get(s).ok_or_else(|| EngineError::MissingInput {
                    node: p.name.clone(),
                    op: op.op_type().to_string(),
                    input: s.clone(),
                })?;
                ins.push(Some(slot));
            }
            nodes.push(Node { name: p.name, op, inputs: ins, outputs: p.outputs });
        }

        let mut outputs = Vec::new();
        let mut output_slots = Vec::new();
        for v in &graph.output {
            let info = io_info(v);
            let slot = *slot_of.get(&info.name).ok_or_else(|| EngineError::MissingGraphOutput { output: info.name.clone() })?;
            output_slots.push(slot);
            outputs.push(info);
        }

        let nested = nested.into_inner();
        let op_counts = count_ops(
            graph
                .node
                .iter()
                .map(|n| n.op_type.as_deref().unwrap_or("?"))
                .chain(nested.ops.iter().flat_map(|(op, count)| std::iter::repeat(op.as_str()).take(*count))),
        );
        parameters += nested.parameters;
        stored_bytes += nested.stored_bytes;
        let mut model = Model {
            opset,
            names,
            constants,
            inputs,
            input_slots,
            outputs,
            output_slots,
            nodes,
            last_use: Vec::new(),
            run_nodes: Vec::new(),
            run_last_use: Vec::new(),
            folded: Vec::new(),
            folded_from: Vec::new(),
            op_counts,
            parameters,
            stored_bytes,
            captured,
            description: "FP32 (as loaded)".into(),
        };
        model.nodes = toposort(std::mem::take(&mut model.nodes), model.names.len())?;
        model.fold_constants()?;
        model.plan();
        Ok(model)
    }

    /// Runs folding-eligible nodes whose inputs are all constants, and lets the others
    /// specialise on their constant inputs (prepacked weights).
    fn fold_constants(&mut self) -> Result<(), EngineError> {
        let nodes = std::mem::take(&mut self.nodes);
        let mut kept = Vec::with_capacity(nodes.len());
        for mut node in nodes {
            let consts: Vec<Option<&Value>> = node.inputs.iter().map(|s| s.and_then(|s| self.constants[s].as_deref())).collect();
            let all_const = node.inputs.iter().zip(&consts).all(|(s, c)| s.is_none() || c.is_some());
            let input_names = self.input_names(&node);
            // DequantizeLinear stays a node: folding it would turn int8 weights into f32
            // constants and misstate the model's size.
            if all_const && !node.inputs.is_empty() && node.op.op_type() != "DequantizeLinear" {
                let outs = crate::op::run_op(node.op.as_ref(), Inputs::refs(&consts))
                    .map_err(|e| node_error(&node.name, node.op.op_type(), &input_names, e))?;
                let sources: Vec<usize> = node.inputs.iter().flatten().copied().collect();
                for (slot, v) in node.outputs.iter().zip(outs) {
                    if let Some(s) = slot {
                        self.constants[*s] = Some(Arc::new(v));
                        self.folded.push(*s);
                        self.folded_from.push(sources.clone());
                    }
                }
                continue;
            }
            if let Some(op) = node.op.specialize(&consts).map_err(|e| node_error(&node.name, node.op.op_type(), &input_names, e))? {
                node.op = op;
            }
            kept.push(node);
        }
        self.nodes = kept;
        Ok(())
    }

    /// Recomputes each slot's last reader and the run plan (after any change to the node list).
    pub(crate) fn plan(&mut self) {
        self.last_use = self.last_readers(&self.nodes);
        self.run_nodes = crate::fuse::fuse(&self.nodes, self.names.len(), &self.constants, &self.output_slots);
        self.run_last_use = self.last_readers(&self.run_nodes);
    }

    /// Per slot, the index of the last node of `nodes` reading it (`usize::MAX` for outputs).
    fn last_readers(&self, nodes: &[Node]) -> Vec<usize> {
        let mut last = vec![usize::MAX - 1; self.names.len()];
        for (i, n) in nodes.iter().enumerate() {
            for s in n.inputs.iter().flatten() {
                last[*s] = i;
            }
        }
        for &s in &self.output_slots {
            last[s] = usize::MAX;
        }
        last
    }

    pub(crate) fn input_names(&self, node: &Node) -> Vec<String> {
        node.inputs.iter().map(|s| s.map_or_else(String::new, |s| self.names[s].clone())).collect()
    }

    /// The model's inputs (initializers excluded), with declared dtypes and shapes.
    pub fn inputs(&self) -> &[IoInfo] {
        &self.inputs
    }

    /// The model's outputs, with declared dtypes and shapes.
    pub fn outputs(&self) -> &[IoInfo] {
        &self.outputs
    }

    /// Op types with counts (of the ONNX graph as loaded; a quantized variant counts its
    /// integer ops in place of the nodes they replaced).
    pub fn op_counts(&self) -> &[(String, usize)] {
        &self.op_counts
    }

    /// Elements in the initializers.
    pub fn parameter_count(&self) -> u64 {
        self.parameters
    }

    /// The model's weights in bytes as stored: initializers (and Constants) in their dtypes;
    /// for a quantized variant, its codes and scales (see `quantize`).
    pub fn stored_bytes(&self) -> u64 {
        self.stored_bytes
    }

    /// What this variant is (`FP32 (as loaded)`, `int8 dynamic, per channel: 3 of 3 nodes`).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The opset version of the default domain.
    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// The value the model holds for `name` from load on, if it holds one: an initializer, a
    /// `Constant` node's value or a folded result. What a run never makes, so
    /// [`Model::run_observing`] shows only the folded ones (static QDQ's histogram calibration,
    /// which also takes the `Constant` nodes' values as ONNX Runtime's augmented model gives
    /// them, reads the rest here).
    pub fn constant(&self, name: &str) -> Option<&Value> {
        let slot = self.names.iter().position(|n| n == name)?;
        self.constants[slot].as_deref()
    }

    /// Runs the model on named inputs; returns every graph output by name, in graph order.
    pub fn run(&self, inputs: &[(&str, Value)]) -> Result<Vec<(String, Value)>, EngineError> {
        self.execute(inputs, None, None)
    }

    /// Runs the model as [`Model::run`] does and times every node of its run plan (a fused
    /// Conv counts as one node, `FusedConv`) with `clock` (milliseconds,
    /// e.g. `performance.now()` in a page, an `Instant` natively; the engine has no clock of its
    /// own on wasm32): per node, in run order, its name, op type and time. What the per-op
    /// profile of `examples/profile.rs` sums; the cost is two clock reads per node. Natively the
    /// nodes inside If and Loop subgraphs are listed too (before their node, named
    /// `node/inner`, timed by `std::time::Instant`), and the If or Loop keeps only its own time.
    #[allow(clippy::type_complexity)]
    pub fn run_profiled(
        &self,
        inputs: &[(&str, Value)],
        clock: &mut dyn FnMut() -> f64,
    ) -> Result<(Vec<(String, Value)>, Vec<NodeTime>), EngineError> {
        let mut times = Vec::with_capacity(self.nodes.len());
        let mut record = |ni: usize, ms: f64| push_timed(&mut times, &self.run_nodes[ni], ms);
        #[cfg(not(target_arch = "wasm32"))]
        NESTED.with(|n| *n.borrow_mut() = Some(Vec::new()));
        let outputs = self.execute(inputs, None, Some((clock, &mut record)));
        #[cfg(not(target_arch = "wasm32"))]
        NESTED.with(|n| *n.borrow_mut() = None);
        Ok((outputs?, times))
    }

    /// Runs the model as [`Model::run`] does, showing `observe` every value as it is made (the
    /// inputs first, then each node's outputs), by name: how a quantized variant's values are
    /// compared with the FP32 model's, node by node.
    pub fn run_observing(
        &self,
        inputs: &[(&str, Value)],
        observe: &mut dyn FnMut(&str, &Value),
    ) -> Result<Vec<(String, Value)>, EngineError> {
        let names = &self.names;
        for &slot in &self.folded {
            if let Some(v) = self.constants[slot].as_deref() {
                observe(&names[slot], v);
            }
        }
        let mut by_slot = |slot: usize, v: &Value| observe(&names[slot], v);
        self.execute(inputs, Some(&mut by_slot), None)
    }

    /// Checks the given inputs against the declarations; returns them in model-input order.
    fn bind<'a>(&self, given: &'a [(&str, Value)]) -> Result<Vec<&'a Value>, EngineError> {
        let mut bound: Vec<Option<&Value>> = vec![None; self.inputs.len()];
        for (name, v) in given {
            let i = self.inputs.iter().position(|io| io.name == *name).ok_or_else(|| EngineError::UnknownInput {
                name: name.to_string(),
                expected: self.inputs.iter().map(|io| io.name.clone()).collect(),
            })?;
            if bound[i].replace(v).is_some() {
                return Err(EngineError::InputMismatch { name: name.to_string(), why: "given twice".into() });
            }
        }
        let mut symbols: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::with_capacity(bound.len());
        for (io, v) in self.inputs.iter().zip(bound) {
            let v = v.ok_or_else(|| EngineError::InputNotGiven { name: io.name.clone() })?;
            let mismatch = |why: String| EngineError::InputMismatch { name: io.name.clone(), why };
            if let Some(d) = io.dtype {
                if d != v.dtype() {
                    return Err(mismatch(format!("is {} but the model declares {d}", v.dtype())));
                }
            }
            if let Some(shape) = &io.shape {
                if shape.len() != v.rank() {
                    return Err(mismatch(format!(
                        "has shape {:?} (rank {}) but the model declares rank {}",
                        v.shape(),
                        v.rank(),
                        shape.len()
                    )));
                }
                for (axis, (d, &got)) in shape.iter().zip(v.shape()).enumerate() {
                    match d {
                        Dim::Fixed(n) if *n != got => {
                            return Err(mismatch(format!("has shape {:?} but the model declares dimension {axis} = {n}", v.shape())));
                        }
                        Dim::Symbolic(s) if s != "?" => {
                            if let Some(prev) = symbols.insert(s.as_str(), got) {
                                if prev != got {
                                    return Err(mismatch(format!("has {s} = {got} on axis {axis}, but another input has {s} = {prev}")));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            out.push(v);
        }
        Ok(out)
    }

    /// Runs the graph; `observe` (calibration) sees every value a node produces, by slot.
    pub(crate) fn execute(
        &self,
        given: &[(&str, Value)],
        mut observe: Option<Observer<'_>>,
        mut timer: Option<Timer<'_>>,
    ) -> Result<Vec<(String, Value)>, EngineError> {
        let bound = self.bind(given)?;
        let mut input_of: Vec<Option<&Value>> = vec![None; self.names.len()];
        for (&slot, v) in self.input_slots.iter().zip(&bound) {
            input_of[slot] = Some(v);
            if let Some(f) = observe.as_mut() {
                f(slot, v);
            }
        }
        let mut slots: Vec<Option<Value>> = vec![None; self.names.len()];
        // An observer sees the graph's own values; a plain run takes the fused plan.
        let (nodes, last_use) = if observe.is_some() { (&self.nodes, &self.last_use) } else { (&self.run_nodes, &self.run_last_use) };
        for (ni, node) in nodes.iter().enumerate() {
            // Values this node reads last (and only once) are moved to it.
            let mut owned: Vec<(usize, Value)> = Vec::new();
            for (pos, s) in node.inputs.iter().enumerate() {
                if let Some(s) = *s {
                    if last_use[s] == ni && node.inputs.iter().filter(|x| **x == Some(s)).count() == 1 {
                        if let Some(v) = slots[s].take() {
                            owned.push((pos, v));
                        }
                    }
                }
            }
            let started = timer.as_mut().map(|(clock, _)| clock());
            let outs = {
                let mut list = Vec::with_capacity(node.inputs.len());
                let mut owned_iter = owned.into_iter().peekable();
                for (pos, s) in node.inputs.iter().enumerate() {
                    if owned_iter.peek().is_some_and(|(p, _)| *p == pos) {
                        list.push(Input::Owned(owned_iter.next().expect("peeked").1));
                        continue;
                    }
                    list.push(match *s {
                        None => Input::Absent,
                        Some(s) => {
                            let v = match &self.constants[s] {
                                Some(c) => c.as_ref(),
                                None => match (input_of[s], slots[s].as_ref()) {
                                    (Some(v), _) | (None, Some(v)) => v,
                                    // Only an optional output its producer did not make.
                                    (None, None) => {
                                        return Err(EngineError::MissingInput {
                                            node: node.name.clone(),
                                            op: node.op.op_type().into(),
                                            input: self.names[s].clone(),
                                        })
                                    }
                                },
                            };
                            Input::Ref(v)
                        }
                    });
                }
                crate::op::run_op(node.op.as_ref(), Inputs::new(list))
                    .map_err(|e| node_error(&node.name, node.op.op_type(), &self.input_names(node), e))?
            };
            if let (Some((clock, record)), Some(t0)) = (timer.as_mut(), started) {
                let t1 = clock();
                record(ni, t1 - t0);
            }
            for s in node.inputs.iter().flatten() {
                if last_use[*s] == ni {
                    slots[*s] = None;
                }
            }
            for (slot, v) in node.outputs.iter().zip(outs) {
                if let Some(s) = slot {
                    if let Some(f) = observe.as_mut() {
                        f(*s, &v);
                    }
                    slots[*s] = Some(v);
                }
            }
        }
        let mut result = Vec::with_capacity(self.output_slots.len());
        for (io, &s) in self.outputs.iter().zip(&self.output_slots) {
            let v = match (&self.constants[s], input_of[s]) {
                (Some(c), _) => c.as_ref().clone(),
                (None, Some(v)) => v.clone(),
                (None, None) => match slots[s].take() {
                    Some(v) => v,
                    // The same value listed twice as an output.
                    None => result
                        .iter()
                        .find(|(n, _): &&(String, Value)| *n == io.name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| EngineError::MissingGraphOutput { output: io.name.clone() })?,
                },
            };
            result.push((io.name.clone(), v));
        }
        Ok(result)
    }
}

/// Kahn's algorithm over slot dependencies, keeping the file's order among ready nodes.
fn toposort(nodes: Vec<Node>, slots: usize) -> Result<Vec<Node>, EngineError> {
    let mut producer = vec![usize::MAX; slots];
    for (i, n) in nodes.iter().enumerate() {
        for s in n.outputs.iter().flatten() {
            producer[*s] = i;
        }
    }
    let mut indegree = vec![0usize; nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for s in n.inputs.iter().flatten() {
            let p = producer[*s];
            if p != usize::MAX {
                indegree[i] += 1;
                users[p].push(i);
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..nodes.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            indegree[u] -= 1;
            if indegree[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() != nodes.len() {
        let stuck: Vec<String> =
            (0..nodes.len()).filter(|i| indegree[*i] > 0).map(|i| format!("'{}' ({})", nodes[i].name, nodes[i].op.op_type())).collect();
        return Err(EngineError::Cycle { nodes: stuck });
    }
    let mut slots_of: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().map(|i| slots_of[i].take().expect("each index once")).collect())
}

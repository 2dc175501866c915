//! ONNX Runtime's `quantize_dynamic` (see the crate docs).
//!
//! Per node, in graph order (`ONNXQuantizer.quantize_model`, `onnx_quantizer.py`):
//! * MatMul with an initializer B (`MatMulInteger.quantize`, `operators/matmul.py`): A through a
//!   DynamicQuantizeLinear `<A>_QuantizeLinear` (shared by every node reading A), B as an
//!   initializer (per tensor, or per column with `per_channel`), then MatMulInteger
//!   `<name>_quant`, Cast `<out>_output_quantized_cast`, Mul `<name>_quant_scales_mul` of the two
//!   scales and Mul `<name>_quant_output_scale_mul` writing the MatMul's output.
//! * Conv with an initializer weight (`ConvInteger.quantize`, `operators/conv.py`): the same
//!   with ConvInteger (the Conv's attributes), weights always per tensor (ONNX Runtime asks for
//!   no per-channel here), and a bias added after a Reshape to `[1, C, 1, ...]`.
//! * Gather of a constant table (`GatherQuant.quantize`, `operators/gather.py`): the table as an
//!   activation is (uint8, asymmetric, per tensor), the Gather on its codes writing
//!   `<out>_quantized`, which stays quantized with the table's scale and zero point: a MatMul
//!   after it takes the codes as its A (no DynamicQuantizeLinear), a float reader gets them back
//!   through `<out>_DequantizeLinear`.
//! * LSTM with initializer W and R (`LSTMQuant.quantize`, `operators/lstm.py`): com.microsoft
//!   `DynamicQuantizeLSTM` `<name>_quant` reading int8 W and R transposed, with their scales and
//!   zero points (see [`crate::lstm`]); the model then imports com.microsoft version 1.
//!
//! * With `enable_subgraph`, a node with subgraphs (If, Loop, Scan): each subgraph quantized by
//!   these rules as a graph of its own (`quantize_subgraph`), whose values from outside are
//!   quantized by the graph that has them (`parent.__quantize_inputs(from_subgraph=True)`).
//!
//! Weights are symmetric int8 ([−127, 127], or [−64, 64] with `reduce_range`) or asymmetric
//! uint8, as `QuantType.QInt8` / `QUInt8`; activations uint8 from each run's min/max.

mod transformer;

use crate::gemm::{self, node};
use crate::graph;
use crate::weights::{self, QType, WeightQuant};
use crate::{QuantizeError, Result};
use prost::Message;
use quantscope_formats::onnx::proto::GraphProto;
use quantscope_formats::onnx::proto::{AttributeProto, NodeProto, TensorProto};
use quantscope_formats::onnx::splice::{Kept, ModelEdit};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// `quantize_dynamic`'s options that quantscope offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamicOptions {
    /// `weight_type`: int8 (symmetric) or uint8 (asymmetric).
    pub weight_type: QType,
    /// `per_channel`: one scale per MatMul output column (Conv stays per tensor, as in ONNX Runtime).
    pub per_channel: bool,
    /// `reduce_range`: 7-bit weights, which ONNX Runtime's u8×s8 kernels on AVX2 need to never
    /// saturate their 16-bit pair sums.
    pub reduce_range: bool,
    /// `extra_options={"EnableSubgraph": True}`: the nodes inside If/Loop/Scan subgraphs are
    /// quantized too, each subgraph as a graph of its own whose outside values are quantized
    /// where they are made (`quantize_subgraph`, `onnx_quantizer.py`). Off by default, as in
    /// ONNX Runtime.
    pub enable_subgraph: bool,
}

impl Default for DynamicOptions {
    fn default() -> Self {
        DynamicOptions { weight_type: QType::Int8, per_channel: false, reduce_range: false, enable_subgraph: false }
    }
}

/// What was done to each node: the ones quantized, and the ones kept in float with the reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub quantized: Vec<String>,
    pub kept: Vec<(String, String)>,
}

/// ONNX's `TensorProto.FLOAT`, the type the Cast after each integer op restores.
const FLOAT: i64 = 1;
/// `TensorProto.FLOAT16`.
const FLOAT16: i32 = 10;
fn label(n: &NodeProto) -> String {
    format!("{} '{}'", n.op_type.as_deref().unwrap_or("?"), n.name.as_deref().unwrap_or(""))
}

/// A quantized value: (quantized name, zero point name, scale name).
type Names = (String, String, String);

/// `QuantizedValue`: a value the graph now also holds quantized, and the axis of its scales.
#[derive(Clone)]
struct QuantizedValue {
    names: Names,
    axis: Option<i64>,
}

/// One graph being quantized: the main graph (scope 0) or a subgraph of a node of the scope
/// before it (ONNX Runtime's `ONNXQuantizer` of the subgraph, whose `parent` is that scope's).
struct Scope<'a> {
    initializers: HashMap<String, Cow<'a, TensorProto>>,
    /// `quantized_value_map`: initializers quantized and values a Transpose moved quantized,
    /// by their float name.
    quantized: HashMap<String, QuantizedValue>,
    /// `generated_value_names`: every output of the nodes written so far.
    generated: HashSet<String>,
    /// `contains_tensor`: the values a subgraph takes or makes itself (a value from outside is
    /// quantized by the scope that has it). None for the main graph, which has every value.
    own_values: Option<HashSet<String>>,
    /// The nodes of the graph as it came (a DequantizeLinear is not added twice).
    original_names: HashSet<String>,
    /// The values Constant nodes make (a weight there is not an initializer: named in the report).
    constants: HashSet<String>,
    new_nodes: Vec<NodeProto>,
    new_initializers: Vec<TensorProto>,
}

impl<'a> Scope<'a> {
    fn new(initializers: HashMap<String, Cow<'a, TensorProto>>, nodes: &[NodeProto], own_values: Option<HashSet<String>>) -> Self {
        Scope {
            initializers,
            quantized: HashMap::new(),
            generated: HashSet::new(),
            own_values,
            original_names: nodes.iter().filter_map(|n| n.name.clone()).collect(),
            constants: nodes.iter().filter(|n| n.op_type.as_deref() == Some("Constant")).flat_map(|n| n.output.iter().cloned()).collect(),
            new_nodes: Vec::new(),
            new_initializers: Vec::new(),
        }
    }
}

struct Quantizer<'a> {
    options: DynamicOptions,
    /// The main graph then each subgraph being quantized, innermost last.
    scopes: Vec<Scope<'a>>,
    report: Report,
    /// A DynamicQuantizeLSTM was written, in any graph. ONNX Runtime imports com.microsoft only
    /// for one in the main graph, so its file with one only in a subgraph does not load; this
    /// one imports it for either.
    wrote_ms: bool,
    /// The model's ONNX opset: a float16 table's DequantizeLinear needs 19.
    opset: i64,
}

impl Quantizer<'_> {
    fn is_float_initializer(&self, s: usize, name: &str) -> bool {
        self.scopes[s].initializers.get(name).is_some_and(|t| t.data_type == Some(1))
    }

    /// `find_initializer_in_path`: the innermost scope up to `s` holding the initializer `name`.
    fn initializer_scope(&self, s: usize, name: &str) -> Option<usize> {
        (0..=s).rev().find(|&k| self.scopes[k].initializers.contains_key(name))
    }

    /// A float initializer of scope `s` or of a scope around it.
    fn is_float_weight(&self, s: usize, name: &str) -> bool {
        self.initializer_scope(s, name).is_some_and(|k| self.is_float_initializer(k, name))
    }

    /// `quantize_initializer` / `quantize_weight_per_channel` in scope `s`, remembered by name.
    fn initializer(&mut self, s: usize, name: &str, how: WeightQuant, axis: Option<i64>) -> Result<Names> {
        if let Some(v) = self.scopes[s].quantized.get(name) {
            return Ok(v.names.clone());
        }
        let t = &self.scopes[s].initializers[name];
        let q = if t.data_type == Some(FLOAT16) {
            // A float16 embedding table, quantized as an activation (per tensor, uint8).
            let (shape, values) = weights::half_values(t)?.expect("a FLOAT16 initializer");
            weights::per_tensor_half(name, &shape, &values, how)
        } else {
            let (shape, values) = weights::float_values(t)?.expect("only FLOAT initializers are quantized");
            self.float_weight(name, &shape, &values, how, axis)?
        };
        let names = (weights::quantized_name(name), weights::zero_point_name(name), weights::scale_name(name));
        let scope = &mut self.scopes[s];
        scope.new_initializers.extend([q.scale, q.zero_point, q.quantized]);
        scope.quantized.insert(name.to_string(), QuantizedValue { names: names.clone(), axis });
        Ok(names)
    }

    fn float_weight(
        &self,
        name: &str,
        shape: &[usize],
        values: &[f32],
        how: WeightQuant,
        axis: Option<i64>,
    ) -> Result<weights::QuantizedWeight> {
        Ok(match axis {
            Some(axis) => {
                let rank = shape.len() as i64;
                let axis = if axis < 0 { axis + rank } else { axis };
                if !(0..rank).contains(&axis) {
                    return Err(QuantizeError::Unsupported(format!(
                        "weight '{name}' of shape {shape:?} has no axis {axis} for its per-channel scales"
                    )));
                }
                weights::per_channel(name, shape, values, axis as usize, how)
            }
            None => weights::per_tensor(name, shape, values, how),
        })
    }

    /// `quantize_weight` (`__quantize_inputs` for a weight): in the scope that holds it, the
    /// innermost one first (a subgraph's MatMul may read a weight of the main graph).
    fn weight(&mut self, s: usize, name: &str, how: WeightQuant, axis: Option<i64>) -> Result<Names> {
        if self.scopes[s].quantized.contains_key(name) || self.scopes[s].initializers.contains_key(name) || s == 0 {
            return self.initializer(s, name, how, axis);
        }
        self.weight(s - 1, name, how, axis)
    }

    /// `quantize_activation(node, [0])`: an initializer as uint8 (asymmetric, per tensor), any
    /// other value through its (shared) DynamicQuantizeLinear node, created in `nodes` — or, for
    /// a value from outside a subgraph, in the scope that has the value (`from_subgraph`).
    fn activation(&mut self, s: usize, name: &str, nodes: &mut Vec<NodeProto>, from_subgraph: bool) -> Result<Names> {
        if name.is_empty() {
            // an optional input left out (EmbedLayerNormalization's segment table): empty names
            return Ok(Default::default());
        }
        if self.scopes[s].quantized.contains_key(name) || self.is_float_initializer(s, name) {
            let how = WeightQuant { qtype: QType::Uint8, symmetric: false, reduce_range: false };
            return self.initializer(s, name, how, None);
        }
        let scope = &self.scopes[s];
        let own = scope.own_values.as_ref().map_or(true, |v| v.contains(name)) || scope.generated.contains(name);
        if !own {
            if scope.initializers.contains_key(name) {
                return Err(QuantizeError::Unsupported(format!("value '{name}' is an initializer that is not FLOAT")));
            }
            return self.activation(s - 1, name, &mut Vec::new(), true);
        }
        let names = (format!("{name}_quantized"), format!("{name}_zero_point"), format!("{name}_scale"));
        let node_name = format!("{name}_QuantizeLinear");
        let exists = scope.new_nodes.iter().chain(nodes.iter()).any(|n| n.name.as_deref() == Some(&node_name));
        if !exists {
            let q = node("DynamicQuantizeLinear", vec![name.into()], vec![names.0.clone(), names.2.clone(), names.1.clone()], &node_name);
            if from_subgraph {
                self.push(s, q);
            } else {
                nodes.push(q);
            }
        }
        Ok(names)
    }

    fn weight_how(&self) -> WeightQuant {
        WeightQuant {
            qtype: self.options.weight_type,
            // `is_weight_symmetric`: the signed types are symmetric by default
            symmetric: self.options.weight_type == QType::Int8,
            reduce_range: self.options.reduce_range,
        }
    }

    /// The Cast, the Mul of the scales and the Mul writing `output` after an integer op named
    /// `op_name` whose output is `int_output`.
    fn rescale(&mut self, s: usize, nodes: &mut Vec<NodeProto>, op_name: &str, int_output: &str, scales: [&str; 2], output: &str) {
        let cast_out = format!("{int_output}_cast_output");
        let mut cast = node("Cast", vec![int_output.into()], vec![cast_out.clone()], &format!("{int_output}_cast"));
        cast.attribute.push(AttributeProto { name: Some("to".into()), r#type: Some(2), i: Some(FLOAT), ..Default::default() });
        nodes.push(cast);
        let mul_name = if op_name.is_empty() { format!("{}_{}_mul", scales[0], scales[1]) } else { format!("{op_name}_scales_mul") };
        let existing =
            self.scopes[s].new_nodes.iter().chain(nodes.iter()).find(|n| n.name.as_deref() == Some(&mul_name)).map(|n| n.output[0].clone());
        let mul_out = match existing {
            Some(out) => out,
            None => {
                let out = format!("{mul_name}:0");
                nodes.push(node("Mul", scales.iter().map(|s| s.to_string()).collect(), vec![out.clone()], &mul_name));
                out
            }
        };
        let out_name = if op_name.is_empty() { String::new() } else { format!("{op_name}_output_scale_mul") };
        nodes.push(node("Mul", vec![cast_out, mul_out], vec![output.into()], &out_name));
    }

    /// `_dequantize_value`: a DequantizeLinear giving back `name` for a node that reads it in
    /// float, if this scope holds it quantized and no node makes it.
    fn dequantize(&mut self, s: usize, name: &str) {
        let scope = &self.scopes[s];
        let Some(v) = scope.quantized.get(name).filter(|_| !scope.generated.contains(name)).cloned() else { return };
        let dq_name = format!("{name}_DequantizeLinear");
        if scope.original_names.contains(&dq_name) || scope.new_nodes.iter().any(|n| n.name.as_deref() == Some(&dq_name)) {
            return;
        }
        let (q, zp, scale) = v.names;
        let mut dq = node("DequantizeLinear", vec![q, scale, zp], vec![name.into()], &dq_name);
        if let Some(axis) = v.axis {
            dq.attribute.push(AttributeProto { name: Some("axis".into()), r#type: Some(2), i: Some(axis), ..Default::default() });
        }
        self.push(s, dq);
    }

    fn push(&mut self, s: usize, n: NodeProto) {
        self.scopes[s].generated.extend(n.output.iter().cloned());
        self.scopes[s].new_nodes.push(n);
    }

    fn matmul(&mut self, s: usize, n: &NodeProto) -> Result<()> {
        let mut nodes = Vec::new();
        let (a_q, a_zp, a_scale) = self.activation(s, &n.input[0], &mut nodes, false)?;
        let how = self.weight_how();
        let axis = self.options.per_channel.then_some(-1);
        let (b_q, b_zp, b_scale) = self.weight(s, &n.input[1], how, axis)?;
        let output = &n.output[0];
        let int_output = format!("{output}_output_quantized");
        let name = quant_name(n);
        nodes.push(node("MatMulInteger", vec![a_q, b_q, a_zp, b_zp], vec![int_output.clone()], &name));
        self.rescale(s, &mut nodes, &name, &int_output, [&a_scale, &b_scale], output);
        nodes.into_iter().for_each(|n| self.push(s, n));
        Ok(())
    }

    /// `LSTMQuant.quantize`: the LSTM as DynamicQuantizeLSTM, or why it stays in float.
    fn lstm(&mut self, s: usize, n: &NodeProto) -> Result<std::result::Result<(), &'static str>> {
        let (w, r) = (&n.input[1], &n.input[2]);
        let half = |name: &str| self.scopes[s].initializers.get(name).is_some_and(|t| t.data_type == Some(FLOAT16));
        if half(w) || half(r) {
            // is_valid_quantize_weight takes FLOAT16: ONNX Runtime writes float16 scales and
            // leaves X float16, and then refuses its own file (DynamicQuantizeLSTM's T is float)
            return Ok(Err("its W or R is float16: ONNX Runtime's quantizer writes a DynamicQuantizeLSTM reading float16, \
                 which ONNX Runtime then refuses to load (the op takes float32 only), so it stays in half precision"));
        }
        if !self.is_float_initializer(s, w) || !self.is_float_initializer(s, r) {
            if self.is_float_weight(s, w) && self.is_float_weight(s, r) {
                // LSTMQuant reads W and R from the subgraph's own initializers and fails
                return Ok(Err("its W or R is a constant from outside its subgraph, which ONNX Runtime fails to quantize"));
            }
            return Ok(Err("its W or R is not a float constant (ONNX Runtime quantizes only constant weights)"));
        }
        if self.scopes[s].quantized.contains_key(w) || self.scopes[s].quantized.contains_key(r) {
            return Ok(Err("its W or R is shared with a node quantized before it"));
        }
        if n.attribute.iter().any(|a| a.name.as_deref() == Some("layout") && a.i.unwrap_or(0) != 0) {
            // ONNX Runtime drops the attribute, and its kernel then reads X as [seq, batch, ·]
            return Ok(Err("it has layout 1, which DynamicQuantizeLSTM lacks"));
        }
        let (Some((w_shape, w_values)), Some((r_shape, r_values))) =
            (weights::float_values(&self.scopes[s].initializers[w])?, weights::float_values(&self.scopes[s].initializers[r])?)
        else {
            unreachable!("both are FLOAT initializers")
        };
        if w_shape.len() != 3 || r_shape.len() != 3 {
            return Ok(Err("its W or R is not 3-D"));
        }
        // always int8 and symmetric: the rule asks for TensorProto.INT8 whatever weight_type is
        let how = WeightQuant { qtype: QType::Int8, symmetric: true, reduce_range: self.options.reduce_range };
        let wq = crate::lstm::quantize_weight(w, &w_shape, &w_values, self.options.per_channel, how)?;
        let rq = crate::lstm::quantize_weight(r, &r_shape, &r_values, self.options.per_channel, how)?;
        let names = |name: &str| (weights::quantized_name(name), weights::zero_point_name(name), weights::scale_name(name));
        let ((w_q, w_zp, w_scale), (r_q, r_zp, r_scale)) = (names(w), names(r));
        // quantize_weight_per_channel adds scale and zero point then codes for each; the rule
        // then removes both codes and adds them back transposed, at the end
        let scope = &mut self.scopes[s];
        scope.new_initializers.extend([wq.scale, wq.zero_point, rq.scale, rq.zero_point, wq.quantized, rq.quantized]);
        for (name, q) in [(w, (w_q.clone(), w_zp.clone(), w_scale.clone())), (r, (r_q.clone(), r_zp.clone(), r_scale.clone()))] {
            scope.quantized.insert(name.clone(), QuantizedValue { names: q, axis: Some(0) });
        }
        let optional = |i: usize| n.input.get(i).cloned().unwrap_or_default();
        let mut inputs = vec![n.input[0].clone(), w_q, r_q];
        inputs.extend((3..8).map(optional));
        inputs.extend([w_scale, w_zp, r_scale, r_zp]);
        self.wrote_ms = true;
        let mut q = node("DynamicQuantizeLSTM", inputs, n.output.clone(), &quant_name(n));
        q.domain = Some("com.microsoft".into());
        // make_node(**kwargs) writes the attributes sorted by name; `layout` is left out
        q.attribute = n.attribute.iter().filter(|a| a.name.as_deref() != Some("layout")).cloned().collect();
        q.attribute.sort_by(|a, b| a.name.cmp(&b.name));
        self.push(s, q);
        self.dequantize(s, &n.input[0]);
        Ok(Ok(()))
    }

    fn conv(&mut self, s: usize, n: &NodeProto) -> Result<()> {
        let mut nodes = Vec::new();
        let (x_q, x_zp, x_scale) = self.activation(s, &n.input[0], &mut nodes, false)?;
        let how = self.weight_how();
        let (w_q, w_zp, w_scale) = if self.is_float_weight(s, &n.input[1]) || self.scopes[s].quantized.contains_key(&n.input[1]) {
            self.weight(s, &n.input[1], how, None)?
        } else {
            // a computed weight: quantized at run time as an activation is (uint8)
            self.activation(s, &n.input[1], &mut nodes, false)?
        };
        let output = &n.output[0];
        let int_output = format!("{output}_output_quantized");
        let name = quant_name(n);
        let mut conv = node("ConvInteger", vec![x_q, w_q, x_zp, w_zp], vec![int_output.clone()], &name);
        // make_node(**kwargs) writes attributes sorted by name
        conv.attribute = n.attribute.clone();
        conv.attribute.sort_by(|a, b| a.name.cmp(&b.name));
        nodes.push(conv);
        let has_bias = n.input.len() == 3;
        let scaled = if has_bias { format!("{output}quant_scaled_output") } else { output.clone() };
        self.rescale(s, &mut nodes, &name, &int_output, [&x_scale, &w_scale], &scaled);
        if has_bias {
            // ConvInteger.add_bias: the bias reshaped to [1, -1, 1, ...] (one 1 per weight dim)
            let rank = self.scopes[s].initializers[&n.input[1]].dims.len();
            let shape_name = format!("{output}_bias_reshape_shape");
            let mut shape = vec![1i64; rank];
            shape[1] = -1;
            self.scopes[s].new_initializers.push(TensorProto {
                dims: vec![rank as i64],
                data_type: Some(7),
                int64_data: shape,
                name: Some(shape_name.clone()),
                ..Default::default()
            });
            let reshaped = format!("{output}_bias_reshape_output");
            nodes.push(node("Reshape", vec![n.input[2].clone(), shape_name], vec![reshaped.clone()], ""));
            nodes.push(node("Add", vec![scaled, reshaped], vec![output.clone()], &format!("{output}_bias_add")));
        }
        nodes.into_iter().for_each(|n| self.push(s, n));
        Ok(())
    }
}

/// `<name>_quant`, or no name for a node without one.
fn quant_name(n: &NodeProto) -> String {
    match n.name.as_deref() {
        Some(s) if !s.is_empty() => format!("{s}_quant"),
        _ => String::new(),
    }
}

fn default_domain(n: &NodeProto) -> bool {
    matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"))
}

/// `quantize_dynamic(model, weight_type, per_channel, reduce_range)` of `bytes` (a whole
/// `.onnx` file): the quantized model's bytes and what happened to each node.
pub fn quantize_dynamic(bytes: &[u8], options: &DynamicOptions) -> Result<(Vec<u8>, Report)> {
    let mut edit = ModelEdit::open(bytes)?;
    let opset =
        edit.model.opset_import.iter().find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx"))).and_then(|o| o.version);
    match opset {
        Some(v) if v >= 11 => {}
        Some(v) => {
            return Err(QuantizeError::Unsupported(format!(
                "the model imports ONNX opset {v}; dynamic quantization needs opset 11 or later (DynamicQuantizeLinear). \
                 ONNX Runtime converts older models with onnx's version converter first, which quantscope does not have"
            )))
        }
        None => return Err(QuantizeError::Unsupported("the model imports no ONNX opset".into())),
    }
    let mut names: HashSet<String> = graph::names_in_use(&edit.graph)?;
    gemm::replace_gemm_with_matmul(&mut edit.graph, &mut names)?;
    // ONNXQuantizer's save-and-reload after the Gemm split (subgraphs: graph::clean_subgraph)
    for t in edit.graph.initializers.iter_mut() {
        if graph::moved_by_reload(&t.message) {
            t.append_to_payload(graph::GRAPH_INITIALIZER, &graph::DATA_LOCATION_DEFAULT, |t| t.data_location = Some(0));
        }
    }

    let old_nodes = std::mem::take(&mut edit.graph.nodes);
    let initializers = edit.graph.initializers.iter().filter_map(|t| Some((t.message.name.clone()?, Cow::Borrowed(&t.message)))).collect();
    let messages: Vec<NodeProto> = old_nodes.iter().map(|n| n.message.clone()).collect();
    let mut q = Quantizer {
        options: *options,
        scopes: vec![Scope::new(initializers, &messages, None)],
        report: Report::default(),
        wrote_ms: false,
        opset: opset.unwrap_or(11),
    };
    let nodes = q.quantize_nodes(0, old_nodes)?;
    // _dequantize_outputs
    for output in edit.graph.rest.output.iter().filter_map(|o| o.name.clone()) {
        q.dequantize(0, &output);
    }
    let main = q.scopes.pop().expect("the main graph's scope");
    let nodes = finish_nodes(nodes, main.new_nodes);
    let (new_initializers, report, wrote_ms) = (main.new_initializers, q.report, q.wrote_ms);
    edit.graph.nodes = nodes;
    edit.graph.initializers.extend(new_initializers.into_iter().map(Kept::new));
    graph::clean_initializers(&mut edit.graph)?;
    graph::topological_sort(&mut edit.graph)?;
    edit.producer = Some(("quantscope".into(), env!("CARGO_PKG_VERSION").into()));
    let ms = wrote_ms || edit.graph.nodes.iter().any(|n| n.message.domain.as_deref() == Some("com.microsoft"));
    let bytes = if ms { crate::lstm::import_ms_domain(&edit.encode(), &edit.model.opset_import)? } else { edit.encode() };
    Ok((bytes, report))
}

/// The new nodes of a graph with the nodes kept as they came put back in their places.
fn finish_nodes(kept_at: Vec<(usize, Kept<NodeProto>)>, new_nodes: Vec<NodeProto>) -> Vec<Kept<NodeProto>> {
    let mut nodes: Vec<Kept<NodeProto>> = new_nodes.into_iter().map(Kept::new).collect();
    for (at, kept) in kept_at {
        nodes[at] = kept;
    }
    nodes
}

impl Quantizer<'_> {
    /// `quantize_model`'s loop over the nodes of scope `s`: the nodes kept as they came, each
    /// with its place among the scope's new nodes (they keep their bytes).
    fn quantize_nodes(&mut self, s: usize, old_nodes: Vec<Kept<NodeProto>>) -> Result<Vec<(usize, Kept<NodeProto>)>> {
        let mut kept_at: Vec<(usize, Kept<NodeProto>)> = Vec::new();
        for mut kept in old_nodes {
            if graph::has_subgraphs(&kept.message) {
                let rebuilt = self.subgraphs_of(s, &kept.message)?;
                kept = Kept::new(rebuilt);
            }
            let n = kept.message.clone();
            let op = n.op_type.as_deref().unwrap_or("");
            let ours = default_domain(&n) && !n.input.is_empty() && !n.input[0].is_empty();
            let quantizable = ours
                && n.input.len() >= 2
                && match op {
                    // MatMulConstBOnly: only a constant B (of this graph or one around it)
                    "MatMul" => self.is_float_weight(s, &n.input[1]),
                    // ConvInteger has no such rule: a computed weight (a Constant node's value,
                    // say) goes through a DynamicQuantizeLinear as an activation does
                    "Conv" => self.is_float_weight(s, &n.input[1]) || self.initializer_scope(s, &n.input[1]).is_none(),
                    _ => false,
                };
            // ConvInteger.add_bias reads the weight from the subgraph's own initializers
            // ConvInteger.add_bias reads the weight from the graph's own initializers, and fails
            // on a weight from outside a subgraph or a computed one
            let outer_conv_bias = op == "Conv" && n.input.len() == 3 && !self.scopes[s].initializers.contains_key(&n.input[1]);
            if quantizable && !outer_conv_bias {
                if op == "MatMul" {
                    self.matmul(s, &n)?;
                } else {
                    self.conv(s, &n)?;
                }
                self.report.quantized.push(label(&n));
                continue;
            }
            if ours && op == "LSTM" && n.input.len() >= 3 {
                match self.lstm(s, &n)? {
                    Ok(()) => {
                        self.report.quantized.push(label(&n));
                        continue;
                    }
                    Err(why) => self.report.kept.push((label(&n), why.into())),
                }
            }
            if ours && op == "Gather" && n.input.len() == 2 && !n.output.is_empty() {
                // is_valid_quantize_weight: a FLOAT or FLOAT16 initializer of this graph or, with
                // subgraphs, of one around it
                let table = (0..=s).rev().find_map(|k| self.scopes[k].initializers.get(&n.input[0]).map(|t| t.data_type));
                let half = table == Some(Some(FLOAT16));
                if half && self.opset >= 19 {
                    // quantized in the scope that holds it; `activation` below then finds it there
                    let k = self.initializer_scope(s, &n.input[0]).expect("the table's scope");
                    let how = WeightQuant { qtype: QType::Uint8, symmetric: false, reduce_range: false };
                    self.initializer(k, &n.input[0], how, None)?;
                }
                if table == Some(Some(1)) || half && self.opset >= 19 {
                    let mut nodes = Vec::new();
                    let (q, zp, scale) = self.activation(s, &n.input[0], &mut nodes, false)?;
                    nodes.into_iter().for_each(|q| self.push(s, q));
                    self.on_codes(s, &mut kept, (q, zp, scale));
                    self.place(s, kept, &mut kept_at);
                    continue;
                }
                if half {
                    let why = format!(
                        "its table is float16: ONNX Runtime's quantize_dynamic writes a float16 scale, which DequantizeLinear \
                         reads from opset 19 on, and at this model's opset {} refuses to load its own file",
                        self.opset
                    );
                    self.report.kept.push((label(&n), why));
                }
            }
            if op == "Attention" || op == "EmbedLayerNormalization" {
                // AttentionQuant / EmbedLayerNormalizationQuant (crate::transformer): matched by
                // op type alone, as ONNX Runtime's registry does (the nodes are com.microsoft's)
                let done = if op == "Attention" { self.attention(s, &n)? } else { self.embed_layer_norm(s, &n)? };
                match done {
                    Ok(()) => {
                        self.report.quantized.push(label(&n));
                        continue;
                    }
                    Err(why) => self.report.kept.push((label(&n), why)),
                }
            }
            if ours && op == "Transpose" && !n.output.is_empty() {
                // Direct8BitOp: a Transpose of a quantized value (`find_quantized_value`, this
                // scope's or one around it) moves the codes, which keep its scale and zero point
                // (and lose a per-channel axis, as in ONNX Runtime).
                if let Some(v) = (0..=s).rev().find_map(|k| self.scopes[k].quantized.get(&n.input[0])).cloned() {
                    self.on_codes(s, &mut kept, v.names);
                    self.place(s, kept, &mut kept_at);
                    continue;
                }
            }
            if matches!(op, "MatMul" | "Conv") && default_domain(&n) {
                let from_constant_node = op == "MatMul" && n.input.get(1).is_some_and(|w| self.scopes[s].constants.contains(w));
                let why = match op {
                    _ if from_constant_node => {
                        "its weight comes from a Constant node, not an initializer: ONNX Runtime's quantize_dynamic quantizes \
                         initializers only (its quant_pre_process makes Constant nodes initializers first)"
                    }
                    "MatMul" => "its B is not a float constant (ONNX Runtime quantizes only a constant B)",
                    "Conv" if outer_conv_bias && self.is_float_weight(s, &n.input[1]) => {
                        "its weight is a constant from outside its subgraph and it has a bias, which ONNX Runtime fails to quantize"
                    }
                    "Conv" if outer_conv_bias => {
                        "its weight is computed (not an initializer) and it has a bias: ONNX Runtime's ConvInteger.add_bias fails \
                         on the whole model (\"Expected <weight> to be an initializer\")"
                    }
                    _ => "its weight is not a float constant",
                };
                self.report.kept.push((label(&n), why.into()));
            }
            for input in &n.input {
                self.dequantize(s, input);
            }
            self.place(s, kept, &mut kept_at);
        }
        Ok(kept_at)
    }

    /// A node that moves codes (Gather, Transpose: ONNX Runtime's Direct8BitOp-like rules) made to
    /// read `codes` (the quantized value's names) and write `<out>_quantized`, which then stands
    /// for its output with the same scale and zero point (and no per-channel axis).
    fn on_codes(&mut self, s: usize, kept: &mut Kept<NodeProto>, (q, zp, scale): Names) {
        let n = kept.edit();
        let out_q = format!("{}_quantized", n.output[0]);
        self.scopes[s].quantized.insert(n.output[0].clone(), QuantizedValue { names: (out_q.clone(), zp, scale), axis: None });
        n.input[0] = q;
        n.output[0] = out_q;
        self.report.quantized.push(label(n));
    }

    /// A node of the graph as it came (or edited in place) put back among scope `s`'s new nodes.
    fn place(&mut self, s: usize, kept: Kept<NodeProto>, kept_at: &mut Vec<(usize, Kept<NodeProto>)>) {
        let scope = &mut self.scopes[s];
        scope.generated.extend(kept.message.output.iter().cloned());
        kept_at.push((scope.new_nodes.len(), kept));
        scope.new_nodes.push(NodeProto::default());
    }

    /// A node with subgraphs as ONNX Runtime writes it back (`quantize_node_with_sub_graph`,
    /// then `_clean_initializers_helper`): each subgraph quantized when `enable_subgraph` is
    /// on (`quantize_subgraph`), its unused initializers removed, the node made again.
    fn subgraphs_of(&mut self, s: usize, n: &NodeProto) -> Result<NodeProto> {
        let enabled = self.options.enable_subgraph;
        let mut left_float = 0;
        let rebuilt = graph::remake_node(n, &mut |bytes| {
            if enabled {
                return self.quantize_subgraph(s, n, bytes);
            }
            left_float += graph::quantizable_inside(bytes)?;
            graph::clean_subgraph(bytes, None, Vec::new())
        })?;
        if left_float > 0 {
            let why = format!(
                "{left_float} MatMul/Conv/LSTM/Gemm node(s) inside its subgraphs stay in float: subgraph quantization \
                 (ONNX Runtime's EnableSubgraph) is off"
            );
            self.report.kept.push((label(n), why));
        }
        Ok(rebuilt)
    }

    /// `quantize_subgraph`: the subgraph's nodes quantized in a scope of their own inside `s`.
    fn quantize_subgraph(&mut self, s: usize, owner: &NodeProto, bytes: &[u8]) -> Result<Vec<u8>> {
        let g = GraphProto::decode(bytes).map_err(|e| {
            QuantizeError::Unsupported(format!("a subgraph of node '{}' is not a GraphProto: {e}", owner.name.as_deref().unwrap_or("")))
        })?;
        let mut initializers = HashMap::new();
        for t in &g.initializer {
            // find_by_name: the first of a name
            initializers.entry(t.name.clone().unwrap_or_default()).or_insert_with(|| Cow::Owned(t.clone()));
        }
        let mut own: HashSet<String> = g.input.iter().chain(&g.output).filter_map(|v| v.name.clone()).collect();
        own.extend(g.node.iter().flat_map(|n| n.output.iter().cloned()));
        self.scopes.push(Scope::new(initializers, &g.node, Some(own)));
        let inner = s + 1;
        let kept_at = self.quantize_nodes(inner, g.node.into_iter().map(Kept::new).collect())?;
        for output in g.output.iter().filter_map(|o| o.name.clone()) {
            self.dequantize(inner, &output);
        }
        let scope = self.scopes.pop().expect("the subgraph's scope");
        let nodes: Vec<NodeProto> = finish_nodes(kept_at, scope.new_nodes).into_iter().map(|k| k.message).collect();
        graph::clean_subgraph(bytes, Some(nodes), scope.new_initializers)
    }
}

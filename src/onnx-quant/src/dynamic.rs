//! ONNX Runtime's `quantize_dynamic`, ported for the main graph (see the crate docs).
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
//! * LSTM with initializer W and R (`LSTMQuant.quantize`, `operators/lstm.py`): com.microsoft
//!   `DynamicQuantizeLSTM` `<name>_quant` reading int8 W and R transposed, with their scales and
//!   zero points (see [`crate::lstm`]); the model then imports com.microsoft version 1.
//!
//! Weights are symmetric int8 ([−127, 127], or [−64, 64] with `reduce_range`) or asymmetric
//! uint8, as `QuantType.QInt8` / `QUInt8`; activations uint8 from each run's min/max.

use crate::gemm::{self, node};
use crate::graph;
use crate::weights::{self, QType, WeightQuant};
use crate::{QuantizeError, Result};
use quantscope_formats::onnx::proto::{AttributeProto, NodeProto, TensorProto};
use quantscope_formats::onnx::splice::{Kept, ModelEdit};
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
}

impl Default for DynamicOptions {
    fn default() -> Self {
        DynamicOptions { weight_type: QType::Int8, per_channel: false, reduce_range: false }
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
/// The ops `quantize_dynamic` quantizes by default (`IntegerOpsRegistry`) that are not ported.
const NOT_PORTED: [&str; 3] = ["Gather", "Attention", "EmbedLayerNormalization"];

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

struct Quantizer<'a> {
    options: DynamicOptions,
    initializers: HashMap<String, &'a TensorProto>,
    /// `quantized_value_map`: initializers quantized and values a Transpose moved quantized,
    /// by their float name.
    quantized: HashMap<String, QuantizedValue>,
    /// `generated_value_names`: every output of the nodes written so far.
    generated: HashSet<String>,
    /// The nodes of the model as it came (a DequantizeLinear is not added twice).
    original_names: HashSet<String>,
    new_nodes: Vec<NodeProto>,
    new_initializers: Vec<TensorProto>,
}

impl Quantizer<'_> {
    fn is_float_initializer(&self, name: &str) -> bool {
        self.initializers.get(name).is_some_and(|t| t.data_type == Some(1))
    }

    /// `quantize_initializer` / `quantize_weight_per_channel`, remembered by name.
    fn initializer(&mut self, name: &str, how: WeightQuant, axis: Option<i64>) -> Result<Names> {
        if let Some(v) = self.quantized.get(name) {
            return Ok(v.names.clone());
        }
        let t = self.initializers[name];
        let (shape, values) = weights::float_values(t)?.expect("only FLOAT initializers are quantized");
        let q = match axis {
            Some(axis) => {
                let rank = shape.len() as i64;
                let axis = if axis < 0 { axis + rank } else { axis };
                if !(0..rank).contains(&axis) {
                    return Err(QuantizeError::Unsupported(format!(
                        "weight '{name}' of shape {shape:?} has no axis {axis} for its per-channel scales"
                    )));
                }
                weights::per_channel(name, &shape, &values, axis as usize, how)
            }
            None => weights::per_tensor(name, &shape, &values, how),
        };
        let names = (weights::quantized_name(name), weights::zero_point_name(name), weights::scale_name(name));
        self.new_initializers.extend([q.scale, q.zero_point, q.quantized]);
        self.quantized.insert(name.to_string(), QuantizedValue { names: names.clone(), axis });
        Ok(names)
    }

    /// `quantize_activation(node, [0])`: an initializer as uint8 (asymmetric, per tensor), any
    /// other value through its (shared) DynamicQuantizeLinear node, created in `nodes`.
    fn activation(&mut self, name: &str, nodes: &mut Vec<NodeProto>) -> Result<Names> {
        if self.quantized.contains_key(name) || self.is_float_initializer(name) {
            let how = WeightQuant { qtype: QType::Uint8, symmetric: false, reduce_range: false };
            return self.initializer(name, how, None);
        }
        let names = (format!("{name}_quantized"), format!("{name}_zero_point"), format!("{name}_scale"));
        let node_name = format!("{name}_QuantizeLinear");
        let exists = self.new_nodes.iter().chain(nodes.iter()).any(|n| n.name.as_deref() == Some(&node_name));
        if !exists {
            nodes.push(node(
                "DynamicQuantizeLinear",
                vec![name.into()],
                vec![names.0.clone(), names.2.clone(), names.1.clone()],
                &node_name,
            ));
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
    fn rescale(&mut self, nodes: &mut Vec<NodeProto>, op_name: &str, int_output: &str, scales: [&str; 2], output: &str) {
        let cast_out = format!("{int_output}_cast_output");
        let mut cast = node("Cast", vec![int_output.into()], vec![cast_out.clone()], &format!("{int_output}_cast"));
        cast.attribute.push(AttributeProto { name: Some("to".into()), r#type: Some(2), i: Some(FLOAT), ..Default::default() });
        nodes.push(cast);
        let mul_name = if op_name.is_empty() { format!("{}_{}_mul", scales[0], scales[1]) } else { format!("{op_name}_scales_mul") };
        let existing =
            self.new_nodes.iter().chain(nodes.iter()).find(|n| n.name.as_deref() == Some(&mul_name)).map(|n| n.output[0].clone());
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
    /// float, if it is held quantized and no node makes it.
    fn dequantize(&mut self, name: &str) {
        let Some(v) = self.quantized.get(name).filter(|_| !self.generated.contains(name)).cloned() else { return };
        let dq_name = format!("{name}_DequantizeLinear");
        if self.original_names.contains(&dq_name) || self.new_nodes.iter().any(|n| n.name.as_deref() == Some(&dq_name)) {
            return;
        }
        let (q, zp, scale) = v.names;
        let mut dq = node("DequantizeLinear", vec![q, scale, zp], vec![name.into()], &dq_name);
        if let Some(axis) = v.axis {
            dq.attribute.push(AttributeProto { name: Some("axis".into()), r#type: Some(2), i: Some(axis), ..Default::default() });
        }
        self.push(dq);
    }

    fn push(&mut self, n: NodeProto) {
        self.generated.extend(n.output.iter().cloned());
        self.new_nodes.push(n);
    }

    fn matmul(&mut self, n: &NodeProto) -> Result<()> {
        let mut nodes = Vec::new();
        let (a_q, a_zp, a_scale) = self.activation(&n.input[0], &mut nodes)?;
        let how = self.weight_how();
        let axis = self.options.per_channel.then_some(-1);
        let (b_q, b_zp, b_scale) = self.initializer(&n.input[1], how, axis)?;
        let output = &n.output[0];
        let int_output = format!("{output}_output_quantized");
        let name = quant_name(n);
        nodes.push(node("MatMulInteger", vec![a_q, b_q, a_zp, b_zp], vec![int_output.clone()], &name));
        self.rescale(&mut nodes, &name, &int_output, [&a_scale, &b_scale], output);
        nodes.into_iter().for_each(|n| self.push(n));
        Ok(())
    }

    /// `LSTMQuant.quantize`: the LSTM as DynamicQuantizeLSTM, or why it stays in float.
    fn lstm(&mut self, n: &NodeProto) -> Result<std::result::Result<(), &'static str>> {
        let (w, r) = (&n.input[1], &n.input[2]);
        if !self.is_float_initializer(w) || !self.is_float_initializer(r) {
            return Ok(Err("its W or R is not a float constant (ONNX Runtime quantizes only constant weights)"));
        }
        if self.quantized.contains_key(w) || self.quantized.contains_key(r) {
            return Ok(Err("its W or R is shared with a node quantized before it"));
        }
        if n.attribute.iter().any(|a| a.name.as_deref() == Some("layout") && a.i.unwrap_or(0) != 0) {
            // ONNX Runtime drops the attribute, and its kernel then reads X as [seq, batch, ·]
            return Ok(Err("it has layout 1, which DynamicQuantizeLSTM lacks"));
        }
        let (Some((w_shape, w_values)), Some((r_shape, r_values))) =
            (weights::float_values(self.initializers[w])?, weights::float_values(self.initializers[r])?)
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
        self.new_initializers.extend([wq.scale, wq.zero_point, rq.scale, rq.zero_point, wq.quantized, rq.quantized]);
        for (name, q) in [(w, (w_q.clone(), w_zp.clone(), w_scale.clone())), (r, (r_q.clone(), r_zp.clone(), r_scale.clone()))] {
            self.quantized.insert(name.clone(), QuantizedValue { names: q, axis: Some(0) });
        }
        let optional = |i: usize| n.input.get(i).cloned().unwrap_or_default();
        let mut inputs = vec![n.input[0].clone(), w_q, r_q];
        inputs.extend((3..8).map(optional));
        inputs.extend([w_scale, w_zp, r_scale, r_zp]);
        let mut q = node("DynamicQuantizeLSTM", inputs, n.output.clone(), &quant_name(n));
        q.domain = Some("com.microsoft".into());
        // make_node(**kwargs) writes the attributes sorted by name; `layout` is left out
        q.attribute = n.attribute.iter().filter(|a| a.name.as_deref() != Some("layout")).cloned().collect();
        q.attribute.sort_by(|a, b| a.name.cmp(&b.name));
        self.push(q);
        self.dequantize(&n.input[0]);
        Ok(Ok(()))
    }

    fn conv(&mut self, n: &NodeProto) -> Result<()> {
        let mut nodes = Vec::new();
        let (x_q, x_zp, x_scale) = self.activation(&n.input[0], &mut nodes)?;
        let how = self.weight_how();
        let (w_q, w_zp, w_scale) = self.initializer(&n.input[1], how, None)?;
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
        self.rescale(&mut nodes, &name, &int_output, [&x_scale, &w_scale], &scaled);
        if has_bias {
            // ConvInteger.add_bias: the bias reshaped to [1, -1, 1, ...] (one 1 per weight dim)
            let rank = self.initializers[&n.input[1]].dims.len();
            let shape_name = format!("{output}_bias_reshape_shape");
            let mut shape = vec![1i64; rank];
            shape[1] = -1;
            self.new_initializers.push(TensorProto {
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
        nodes.into_iter().for_each(|n| self.push(n));
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

    let mut report = Report::default();
    let old_nodes = std::mem::take(&mut edit.graph.nodes);
    let initializers = edit.graph.initializers.iter().filter_map(|t| Some((t.message.name.clone()?, &t.message))).collect();
    let original_names = old_nodes.iter().filter_map(|n| n.message.name.clone()).collect();
    let mut q = Quantizer {
        options: *options,
        initializers,
        quantized: HashMap::new(),
        generated: HashSet::new(),
        original_names,
        new_nodes: Vec::new(),
        new_initializers: Vec::new(),
    };
    // Nodes kept as they came keep their bytes: each is remembered by its place among the new nodes.
    let mut kept_at: Vec<(usize, Kept<NodeProto>)> = Vec::new();
    for mut kept in old_nodes {
        let n = kept.message.clone();
        let op = n.op_type.as_deref().unwrap_or("");
        let ours = default_domain(&n) && !n.input.is_empty() && !n.input[0].is_empty();
        let quantizable = ours
            && n.input.len() >= 2
            && match op {
                // MatMulConstBOnly: only a constant B
                "MatMul" | "Conv" => q.is_float_initializer(&n.input[1]),
                _ => false,
            };
        if quantizable {
            if op == "MatMul" {
                q.matmul(&n)?;
            } else {
                q.conv(&n)?;
            }
            report.quantized.push(label(&n));
            continue;
        }
        if ours && op == "LSTM" && n.input.len() >= 3 {
            match q.lstm(&n)? {
                Ok(()) => {
                    report.quantized.push(label(&n));
                    continue;
                }
                Err(why) => report.kept.push((label(&n), why.into())),
            }
        }
        if ours && op == "Transpose" && !n.output.is_empty() {
            // Direct8BitOp: a Transpose of a quantized value moves the codes, which keep its
            // scale and zero point (and lose a per-channel axis, as in ONNX Runtime).
            if let Some(v) = q.quantized.get(&n.input[0]).cloned() {
                let out_q = format!("{}_quantized", n.output[0]);
                q.quantized.insert(n.output[0].clone(), QuantizedValue { names: (out_q.clone(), v.names.1, v.names.2), axis: None });
                let edited = kept.edit();
                edited.input[0] = v.names.0;
                edited.output[0] = out_q;
                report.quantized.push(label(&n));
                q.generated.extend(kept.message.output.iter().cloned());
                kept_at.push((q.new_nodes.len(), kept));
                q.new_nodes.push(NodeProto::default());
                continue;
            }
        }
        if NOT_PORTED.contains(&op) && default_domain(&n) || matches!(op, "MatMul" | "Conv") && default_domain(&n) {
            let why = match op {
                "MatMul" => "its B is not a float constant (ONNX Runtime quantizes only a constant B)",
                "Conv" => "its weight is not a float constant",
                _ => "ONNX Runtime's quantize_dynamic also quantizes this op; quantscope does not yet",
            };
            report.kept.push((label(&n), why.into()));
        }
        for input in &n.input {
            q.dequantize(input);
        }
        q.generated.extend(n.output.iter().cloned());
        kept_at.push((q.new_nodes.len(), kept));
        q.new_nodes.push(NodeProto::default());
    }
    // _dequantize_outputs
    for output in edit.graph.rest.output.iter().filter_map(|o| o.name.clone()) {
        q.dequantize(&output);
    }
    let new_initializers = std::mem::take(&mut q.new_initializers);
    let mut nodes: Vec<Kept<NodeProto>> = q.new_nodes.into_iter().map(Kept::new).collect();
    for (at, kept) in kept_at {
        nodes[at] = kept;
    }
    edit.graph.nodes = nodes;
    edit.graph.initializers.extend(new_initializers.into_iter().map(Kept::new));
    graph::clean_initializers(&mut edit.graph)?;
    graph::topological_sort(&mut edit.graph)?;
    edit.producer = Some(("quantscope".into(), env!("CARGO_PKG_VERSION").into()));
    let ms = edit.graph.nodes.iter().any(|n| n.message.domain.as_deref() == Some("com.microsoft"));
    let bytes = if ms { crate::lstm::import_ms_domain(&edit.encode(), &edit.model.opset_import)? } else { edit.encode() };
    Ok((bytes, report))
}

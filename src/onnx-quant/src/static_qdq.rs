//! ONNX Runtime's `quantize_static(..., quant_format=QuantFormat.QDQ)`, ported for the main
//! graph (onnxruntime 1.32: `quantize.py`, `qdq_quantizer.py`, `base_quantizer.py`,
//! `operators/{conv,gemm,matmul,activation,direct_q8,maxpool,qdq_base_operator}.py`).
//!
//! The calibrated ranges come from the caller ([`Ranges`]: MinMax as `MinMaxCalibrater`
//! computes it, the least and greatest value each tensor took over all calibration runs, see
//! [`RangeCollector`]; or Percentile, Entropy, Distribution from [`crate::calibrate`]). Then, as
//! `QDQQuantizer.quantize_model`:
//! * each node whose op ONNX Runtime quantizes by default (`QLinearOpsRegistry` ∪ `QDQRegistry`)
//!   marks the tensors it wants quantized: Conv/Gemm their input, output and weight (per
//!   channel on axis 0, or 1 for a Gemm without transB) and an int32 bias; MatMul each input
//!   and its output (a constant input as a weight, per channel on axis 1); Relu/Clip fold into
//!   the op before them when they are its only reader; Reshape, Transpose, Flatten, MaxPool, ...
//!   share their input's scale; every other op of the list quantizes all inputs and outputs;
//! * weights become int8 initializers `<w>_quantized` read through `<w>_DequantizeLinear`
//!   (symmetric, [−127, 127]), activations get a QuantizeLinear → DequantizeLinear pair
//!   (asymmetric uint8 or int8 from the calibrated range), biases become int32 with scale
//!   input_scale × weight_scale (the weight's scale raised when the bias would overflow int32);
//! * unused float initializers go, and the nodes are sorted as ONNX Runtime sorts them.
//!
//! Not ported (the nodes stay in float and the [`Report`] names them): the op-specific rules of
//! Resize, Pad, Split, Gather(Elements), Where and the normalizations, a bias shared by two
//! nodes, 16-bit and float8 types, and `extra_options`.

use crate::gemm::node;
use crate::graph;
use crate::weights::QType;
use crate::{QuantizeError, Result};
use quantscope_core::schemes::int::{quantize_value, scale_zero_point};
use quantscope_formats::onnx::proto::{AttributeProto, NodeProto, TensorProto};
use quantscope_formats::onnx::splice::{Kept, ModelEdit};
use quantscope_formats::onnx::tensor::{self, DType, Data};
use std::collections::{HashMap, HashSet};

pub use crate::dynamic::Report;
pub use crate::minmax::{minmax_range, RangeCollector, Ranges};

/// `quantize_static`'s options that quantscope offers (weights are always `QInt8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticOptions {
    /// `activation_type`: `QUInt8` (ONNX Runtime's default) or `QInt8`, both asymmetric.
    pub activation_type: QType,
    /// `per_channel`: one weight scale per output channel for Conv, Gemm and MatMul.
    pub per_channel: bool,
    /// `extra_options={"ForceQuantizeNoInputCheck": True}` (base_quantizer.py): the ops that
    /// otherwise pass on their input's quantization only when it has one (Transpose, Reshape,
    /// MaxPool, ... of operators/direct_q8.py; Where; Gather of an activation) quantize their
    /// input themselves, so their output is quantized whatever feeds them.
    pub force_quantize_no_input_check: bool,
}

impl Default for StaticOptions {
    fn default() -> Self {
        StaticOptions { activation_type: QType::Uint8, per_channel: false, force_quantize_no_input_check: false }
    }
}

/// The ops `quantize_static` quantizes by default (`QLinearOpsRegistry` ∪ `QDQRegistry` keys).
const DEFAULT_OPS: [&str; 34] = [
    "Add",
    "ArgMax",
    "AveragePool",
    "BatchNormalization",
    "Clip",
    "Concat",
    "Conv",
    "ConvTranspose",
    "CumSum",
    "EmbedLayerNormalization",
    "Flatten",
    "Gather",
    "GatherElements",
    "Gemm",
    "GlobalAveragePool",
    "InstanceNormalization",
    "LayerNormalization",
    "LeakyRelu",
    "MatMul",
    "MaxPool",
    "Mul",
    "Pad",
    "Relu",
    "Reshape",
    "Resize",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Split",
    "Squeeze",
    "TopK",
    "Transpose",
    "Unsqueeze",
    "Where",
];
/// `QDQDirect8BitOp`: the output shares the input's scale and zero point.
const DIRECT_8BIT: [&str; 10] =
    ["Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "AveragePool", "Slice", "TopK", "MaxPool", "Resize"];
/// Ops that show a model is quantized already.
const QUANTIZED_OPS: [&str; 9] = [
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "ConvInteger",
    "QLinearMatMul",
    "QLinearConv",
    "MatMulNBits",
    "QGemm",
];

#[derive(Clone)]
struct TensorInfo {
    weight: bool,
    axis: Option<usize>,
    /// `quant_para_provider`: (input, node) whose scale the tensor shares.
    shares: Option<(String, String)>,
}

struct BiasInfo {
    node: String,
    input: String,
    weight: String,
    beta: f32,
}

/// Scale(s), zero point(s) and type of one tensor.
#[derive(Clone)]
struct Params {
    qtype: QType,
    scales: Vec<f32>,
    zero_points: Vec<i32>,
    axis: Option<usize>,
}

fn dtype(q: QType) -> DType {
    match q {
        QType::Int8 => DType::I8,
        QType::Uint8 => DType::U8,
    }
}

/// `get_qmin_qmax_for_qType(q, reduce_range=False, symmetric)`.
fn qrange(q: QType, symmetric: bool) -> (i32, i32) {
    match (q, symmetric) {
        (QType::Uint8, _) => (0, 255),
        (QType::Int8, true) => (-127, 127),
        (QType::Int8, false) => (-128, 127),
    }
}

fn label(n: &NodeProto) -> String {
    format!("{} '{}'", n.op_type.as_deref().unwrap_or("?"), n.name.as_deref().unwrap_or(""))
}

fn attr_i(n: &NodeProto, name: &str) -> Option<i64> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name)).and_then(|a| a.i)
}

struct Quantizer {
    options: StaticOptions,
    opset: i64,
    initializers: HashMap<String, TensorProto>,
    types: HashMap<String, i32>,
    /// `quantization_params`: activation parameters from the (adjusted) ranges.
    activation_params: HashMap<String, Params>,
    /// `tensors_to_quantize`, in insertion order (removed entries are `None`).
    to_quantize: Vec<(String, Option<TensorInfo>)>,
    bias: Vec<(String, BiasInfo)>,
    nodes: Vec<NodeProto>,
    removed: HashSet<usize>,
    graph_outputs: HashSet<String>,
    graph_inputs: HashSet<String>,
}

impl Quantizer {
    fn find(&self, name: &str) -> Option<usize> {
        self.to_quantize.iter().position(|(n, i)| n == name && i.is_some())
    }

    fn is_quantized(&self, name: &str) -> bool {
        self.find(name).is_some() || self.bias.iter().any(|(b, _)| b == name)
    }

    /// `_is_tensor_quantizable`: a FLOAT initializer or a value known to be FLOAT.
    fn quantizable(&self, name: &str) -> bool {
        match self.initializers.get(name) {
            Some(t) => t.data_type == Some(1),
            None => self.types.get(name) == Some(&1),
        }
    }

    fn mark(&mut self, name: &str, info: TensorInfo) {
        if name.is_empty() || !self.quantizable(name) {
            return;
        }
        match self.find(name) {
            Some(i) if info.shares.is_some() => self.to_quantize[i].1 = Some(info),
            Some(_) => {}
            None => self.to_quantize.push((name.to_string(), Some(info))),
        }
    }

    fn activation(&mut self, name: &str) {
        self.mark(name, TensorInfo { weight: false, axis: None, shares: None });
    }

    /// `quantize_weight_tensor` or, with `per_channel`, `quantize_weight_tensor_per_channel`.
    fn weight(&mut self, name: &str, default_axis: usize) {
        let axis =
            self.initializers.get(name).and_then(|t| (self.options.per_channel && default_axis < t.dims.len()).then_some(default_axis));
        if axis.is_some() {
            // per channel replaces whatever was marked before
            if self.quantizable(name) {
                match self.find(name) {
                    Some(i) => self.to_quantize[i].1 = Some(TensorInfo { weight: true, axis, shares: None }),
                    None => self.to_quantize.push((name.to_string(), Some(TensorInfo { weight: true, axis, shares: None }))),
                }
            }
        } else {
            self.mark(name, TensorInfo { weight: true, axis: None, shares: None });
        }
    }

    /// `quantize_output_same_as_input`: `output` takes `input`'s parameters (as read by `node`).
    fn share(&mut self, output: &str, input: &str, node: &NodeProto) {
        let shares = Some((input.to_string(), node.name.clone().unwrap_or_default()));
        self.mark(output, TensorInfo { weight: false, axis: None, shares });
    }

    /// `QDQPad._should_quantize_output_same_as_input` (operators/pad.py).
    fn pad_keeps_input_range(&self, n: &NodeProto) -> bool {
        let mode = n.attribute.iter().find(|a| a.name.as_deref() == Some("mode")).and_then(|a| a.s.clone());
        let mode = mode.as_deref().unwrap_or(b"constant");
        if matches!(mode, b"reflect" | b"edge" | b"wrap") {
            return true;
        }
        if mode != b"constant" {
            return false;
        }
        // The padding value: the `value` attribute before opset 11, then input 2 (0 without it),
        // which must be a constant (an initializer or a Constant node) of the input's float type.
        let input_type = match self.initializers.get(&n.input[0]) {
            Some(t) => t.data_type,
            None => self.types.get(&n.input[0]).copied(),
        };
        if !matches!(input_type, Some(1) | Some(10)) {
            return false;
        }
        if self.opset < 11 {
            return n.attribute.iter().find(|a| a.name.as_deref() == Some("value")).and_then(|a| a.f).unwrap_or(0.0) == 0.0;
        }
        let Some(value) = n.input.get(2).filter(|v| !v.is_empty()) else { return true };
        let constant = self.initializers.get(value).cloned().or_else(|| {
            self.nodes
                .iter()
                .find(|c| c.op_type.as_deref() == Some("Constant") && c.output.first() == Some(value))
                .and_then(|c| c.attribute.iter().find(|a| a.name.as_deref() == Some("value")).and_then(|a| a.t.clone()))
        });
        match constant.map(|t| crate::weights::float_values(&t)) {
            Some(Ok(Some((_, v)))) => v.len() == 1 && v[0] == 0.0,
            _ => false,
        }
    }

    fn consumers(&self, name: &str) -> usize {
        self.nodes.iter().filter(|n| n.input.iter().any(|i| i == name)).count()
    }

    /// `try_replacing_upstream_output`: the node before a Relu/Clip writes the Relu's output.
    fn try_replacing_upstream_output(&mut self, upstream: &str, output: &str) -> bool {
        if self.activation_params.contains_key(output)
            && self.consumers(upstream) == 1
            && !self.graph_outputs.contains(upstream)
            && !self.graph_inputs.contains(upstream)
        {
            for n in &mut self.nodes {
                for o in n.output.iter_mut().filter(|o| *o == upstream) {
                    *o = output.to_string();
                }
            }
            if let Some(i) = self.find(upstream) {
                self.to_quantize[i].1 = None;
            }
            return true;
        }
        false
    }

    fn bias(&mut self, node: &NodeProto, beta: f32) -> Result<()> {
        let name = &node.input[2];
        let Some(t) = self.initializers.get(name) else { return Ok(()) };
        if t.data_type != Some(1) {
            return Ok(());
        }
        if self.bias.iter().any(|(b, _)| b == name) {
            return Err(QuantizeError::Unsupported(format!(
                "bias '{name}' is read by two nodes; ONNX Runtime copies it for each, which quantscope does not yet"
            )));
        }
        let info =
            BiasInfo { node: node.name.clone().unwrap_or_default(), input: node.input[0].clone(), weight: node.input[1].clone(), beta };
        self.bias.push((name.clone(), info));
        Ok(())
    }

    fn quantize_node(&mut self, at: usize, report: &mut Report) -> Result<()> {
        let n = self.nodes[at].clone();
        let op = n.op_type.as_deref().unwrap_or("");
        match op {
            "Conv" | "ConvTranspose" => {
                self.activation(&n.input[0]);
                self.activation(&n.output[0]);
                self.weight(&n.input[1], if op == "Conv" { 0 } else { 1 });
                if n.input.len() == 3 && !n.input[2].is_empty() {
                    self.bias(&n, 1.0)?;
                }
            }
            "Gemm" => {
                self.activation(&n.input[0]);
                self.activation(&n.output[0]);
                let trans_b = attr_i(&n, "transB").unwrap_or(0) != 0;
                self.weight(&n.input[1], if trans_b { 0 } else { 1 });
                if n.input.len() == 3 && self.initializers.contains_key(&n.input[2]) {
                    let beta = n.attribute.iter().find(|a| a.name.as_deref() == Some("beta")).and_then(|a| a.f).unwrap_or(1.0);
                    self.bias(&n, beta)?;
                    // set_default_beta
                    if let Some(a) = self.nodes[at].attribute.iter_mut().find(|a| a.name.as_deref() == Some("beta")) {
                        a.f = Some(1.0);
                    }
                }
            }
            "MatMul" => {
                for name in n.input.iter().chain(&n.output) {
                    if self.initializers.contains_key(name) {
                        self.weight(name, 1);
                    } else {
                        self.activation(name);
                    }
                }
            }
            "Relu" | "Clip" => {
                if !self.is_quantized(&n.input[0]) {
                    return Ok(());
                }
                if self.try_replacing_upstream_output(&n.input[0], &n.output[0]) {
                    self.removed.insert(at);
                } else {
                    self.activation(&n.input[0]);
                }
                self.activation(&n.output[0]);
            }
            // operators/split.py `QDQSplit`: every output shares the input's parameters.
            "Split" => {
                self.activation(&n.input[0]);
                for output in &n.output {
                    self.share(output, &n.input[0], &n);
                }
            }
            // operators/gather.py `QDQGather`: a float initializer's data (an embedding table), or
            // with ForceQuantizeNoInputCheck any data, is quantized as an activation; a quantized
            // input's output shares its parameters.
            "Gather" | "GatherElements" => {
                let data = &n.input[0];
                let float_initializer = self.initializers.get(data).is_some_and(|t| t.data_type == Some(1) || t.data_type == Some(10));
                if float_initializer || self.options.force_quantize_no_input_check {
                    self.activation(data);
                    self.share(&n.output[0], data, &n);
                } else if self.is_quantized(data) {
                    self.share(&n.output[0], data, &n);
                } else {
                    return Ok(());
                }
            }
            // operators/where.py `QDQWhere`: the output, with its own range, only when both value
            // inputs are quantized already — or, with ForceQuantizeNoInputCheck, always, the
            // value inputs quantized first.
            "Where" => {
                if self.options.force_quantize_no_input_check {
                    for input in &n.input[1..3] {
                        if !self.is_quantized(input) {
                            self.activation(input);
                        }
                    }
                }
                let both_quantized = self.is_quantized(&n.input[1]) && self.is_quantized(&n.input[2]);
                if !self.options.force_quantize_no_input_check && !both_quantized {
                    return Ok(());
                }
                for output in &n.output {
                    self.activation(output);
                }
            }
            // operators/pad.py `QDQPad`: every input (the constant value too) as an activation; the
            // output shares the input's parameters when the padding repeats input values
            // (reflect, edge, wrap) or pads with 0, which every range holds; else its own.
            "Pad" => {
                for input in n.input.iter().filter(|i| !i.is_empty()) {
                    self.activation(input);
                }
                if self.pad_keeps_input_range(&n) {
                    self.share(&n.output[0], &n.input[0], &n);
                } else {
                    self.activation(&n.output[0]);
                }
            }
            // operators/norm.py `QDQNormalization`: the input, the scale as a weight (per channel
            // along axis 1 when that axis exists), the bias as a bias of input × scale, the outputs.
            "InstanceNormalization" | "LayerNormalization" | "BatchNormalization" => {
                self.activation(&n.input[0]);
                if self.initializers.contains_key(&n.input[1]) {
                    self.weight(&n.input[1], 1);
                } else {
                    self.activation(&n.input[1]);
                }
                if n.input.len() > 2 && !n.input[2].is_empty() {
                    self.bias(&n, 1.0)?;
                }
                for output in &n.output {
                    self.activation(output);
                }
            }
            _ if DIRECT_8BIT.contains(&op) => {
                if op == "MaxPool" && self.opset < 12 {
                    return Ok(());
                }
                // operators/resize.py `QDQResize`: left alone before opset 11.
                if op == "Resize" && self.opset < 11 {
                    return Ok(());
                }
                // operators/direct_q8.py `QDQDirect8BitOp`: ForceQuantizeNoInputCheck quantizes
                // the input here; either way the output shares the input's parameters.
                if self.options.force_quantize_no_input_check {
                    self.activation(&n.input[0]);
                    self.share(&n.output[0], &n.input[0], &n);
                } else if self.is_quantized(&n.input[0]) {
                    self.share(&n.output[0], &n.input[0], &n);
                } else {
                    // Nothing to pass on: the node stays float and is not reported as quantized.
                    return Ok(());
                }
            }
            _ => {
                // QDQOperatorBase
                for name in n.input.iter().chain(&n.output) {
                    self.activation(name);
                }
            }
        }
        report.quantized.push(label(&n));
        Ok(())
    }
}

/// `compute_data_quant_params` over one group of a weight.
fn group_params(values: &[f32], qtype: QType, symmetric: bool) -> (f32, i32) {
    let (lo, hi) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (qmin, qmax) = qrange(qtype, symmetric);
    scale_zero_point(lo, hi, qmin, qmax, symmetric)
}

/// The indices of channel `c` of `axis` in a C-ordered tensor of `shape`.
fn channel_indices(shape: &[usize], axis: usize, c: usize) -> impl Iterator<Item = usize> {
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    (0..outer).flat_map(move |o| {
        let start = (o * channels + c) * inner;
        start..start + inner
    })
}

fn float_values(t: &TensorProto) -> Result<(Vec<usize>, Vec<f32>)> {
    let name = t.name.clone().unwrap_or_default();
    match crate::weights::float_values(t)? {
        Some(v) => Ok(v),
        None => Err(QuantizeError::Weight { name, why: "it is not FLOAT".into() }),
    }
}

/// `_calc_initializer_quant_params` for one initializer.
fn initializer_params(t: &TensorProto, info: &TensorInfo, activation: QType) -> Result<Params> {
    let (shape, values) = float_values(t)?;
    let qtype = if info.weight { QType::Int8 } else { activation };
    // per channel is always symmetric; QInt8 weights are symmetric by default; activations not
    let symmetric = info.axis.is_some() || (info.weight && qtype == QType::Int8);
    Ok(match info.axis {
        None => {
            let (s, z) = group_params(&values, qtype, symmetric);
            Params { qtype, scales: vec![s], zero_points: vec![z], axis: None }
        }
        Some(axis) => {
            let (mut scales, mut zero_points) = (Vec::new(), Vec::new());
            for c in 0..shape[axis] {
                let group: Vec<f32> = channel_indices(&shape, axis, c).map(|i| values[i]).collect();
                let (s, z) = group_params(&group, qtype, symmetric);
                scales.push(s);
                zero_points.push(z);
            }
            Params { qtype, scales, zero_points, axis: Some(axis) }
        }
    })
}

/// `quantize_onnx_initializer`: the codes of a weight for its parameters, as `<name>_quantized`.
fn quantize_initializer(t: &TensorProto, p: &Params) -> Result<TensorProto> {
    let (shape, values) = float_values(t)?;
    let (lo, hi) = qrange(p.qtype, false);
    let mut codes = vec![0i32; values.len()];
    match p.axis {
        None => {
            for (c, &v) in codes.iter_mut().zip(&values) {
                *c = quantize_value(v, p.scales[0], p.zero_points[0], lo, hi).0;
            }
        }
        Some(axis) => {
            for ch in 0..shape[axis] {
                for i in channel_indices(&shape, axis, ch) {
                    codes[i] = quantize_value(values[i], p.scales[ch], p.zero_points[ch], lo, hi).0;
                }
            }
        }
    }
    let data = match p.qtype {
        QType::Int8 => Data::I8(codes.into_iter().map(|c| c as i8).collect()),
        QType::Uint8 => Data::U8(codes.into_iter().map(|c| c as u8).collect()),
    };
    Ok(tensor::encode(&format!("{}_quantized", t.name.as_deref().unwrap_or("")), dtype(p.qtype), &shape, &data))
}

/// `_make_scale_zp_initializers`: `<name>_zero_point` then `<name>_scale`, by `make_tensor`.
fn scale_zp_initializers(name: &str, p: &Params) -> [TensorProto; 2] {
    let dims: Vec<i64> = if p.axis.is_some() { vec![p.scales.len() as i64] } else { Vec::new() };
    [
        TensorProto {
            dims: dims.clone(),
            data_type: Some(dtype(p.qtype).onnx_id()),
            int32_data: p.zero_points.clone(),
            name: Some(format!("{name}_zero_point")),
            ..Default::default()
        },
        TensorProto { dims, data_type: Some(1), float_data: p.scales.clone(), name: Some(format!("{name}_scale")), ..Default::default() },
    ]
}

/// `_adjust_weight_scale_for_int32_bias`: a weight scale raised so that the bias's scale
/// (input × weight) keeps every bias value inside int32.
fn adjust_weight_scale(input_scale: f32, weight: &mut Params, bias: &[f32]) {
    let qrange = i32::MAX as f64 - (i32::MIN as f64 + 1.0);
    let eps = 1.0001f64;
    let fix = |scale: &mut f32, absmax: f64| {
        let smallest = eps * (2.0 * absmax) / qrange;
        let candidate = input_scale as f64 * *scale as f64;
        if candidate < smallest && candidate > 0.0 {
            *scale = (*scale as f64 * (smallest / candidate)) as f32;
        }
    };
    if weight.axis.is_none() {
        // rmin = min(bias.min(), 0), rmax = max(bias.max(), 0), in float64
        let lo = bias.iter().fold(f32::INFINITY, |a, &v| a.min(v)).min(0.0) as f64;
        let hi = bias.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)).max(0.0) as f64;
        fix(&mut weight.scales[0], lo.abs().max(hi.abs()));
    } else {
        for (i, s) in weight.scales.iter_mut().enumerate() {
            if let Some(&b) = bias.get(i) {
                fix(s, (b as f64).abs());
            }
        }
    }
}

fn qdq_node(op: &str, inputs: [&str; 3], output: &str, name: &str, axis: Option<usize>) -> NodeProto {
    let mut n = node(op, inputs.iter().map(|s| s.to_string()).collect(), vec![output.to_string()], name);
    if let Some(axis) = axis {
        n.attribute.push(AttributeProto { name: Some("axis".into()), r#type: Some(2), i: Some(axis as i64), ..Default::default() });
    }
    n
}

/// `quantize_static(model, reader, quant_format=QDQ, activation_type, weight_type=QInt8,
/// per_channel)` of `bytes` (a whole `.onnx` file) with the calibrated `ranges`.
pub fn quantize_static(bytes: &[u8], ranges: &Ranges, options: &StaticOptions) -> Result<(Vec<u8>, Report)> {
    let mut edit = ModelEdit::open(bytes)?;
    if ranges.is_empty() {
        return Err(QuantizeError::Unsupported(
            "no calibration data: static quantization needs the range of every activation from at least one calibration input".into(),
        ));
    }
    let opset =
        edit.model.opset_import.iter().find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx"))).and_then(|o| o.version);
    // update_opset_version: ONNX Runtime converts a model below opset 10 to 11 first (onnx's
    // version converter, not ported); per-channel scales need DequantizeLinear's axis (opset 13).
    let opset = match opset {
        Some(v) if v >= 13 || v >= 10 && !options.per_channel => v,
        Some(v) if v >= 10 => {
            return Err(QuantizeError::Unsupported(format!(
                "the model's opset is {v}; per-channel scales need DequantizeLinear's axis, from opset 13 (convert the model, or quantize per tensor)"
            )))
        }
        Some(v) => {
            return Err(QuantizeError::Unsupported(format!(
                "the model's opset is {v}; QuantizeLinear/DequantizeLinear need opset 10 or later (convert the model to opset 13 first)"
            )))
        }
        None => return Err(QuantizeError::Unsupported("the model imports no ai.onnx opset".into())),
    };
    if let Some(n) = edit.graph.nodes.iter().map(|n| &n.message).find(|n| QUANTIZED_OPS.contains(&n.op_type.as_deref().unwrap_or(""))) {
        return Err(QuantizeError::Unsupported(format!(
            "the model is quantized already ({}); quantize its float original instead",
            label(n)
        )));
    }
    let types = crate::types::elem_types(&edit.graph)?;
    let initializers: HashMap<String, TensorProto> =
        edit.graph.initializers.iter().filter_map(|t| Some((t.message.name.clone()?, t.message.clone()))).collect();
    let nodes: Vec<NodeProto> = edit.graph.nodes.iter().map(|n| n.message.clone()).collect();
    let in_list = |n: &NodeProto| DEFAULT_OPS.contains(&n.op_type.as_deref().unwrap_or(""));

    // adjust_tensor_ranges: a Relu/Clip's input takes its output's range when it is its only
    // reader; a Softmax's output is [0, 1].
    let mut ranges = ranges.clone();
    for n in &nodes {
        match n.op_type.as_deref() {
            Some("Relu" | "Clip") => {
                let readers = nodes.iter().filter(|m| m.input.contains(&n.input[0])).count();
                if readers == 1 && ranges.contains_key(&n.input[0]) {
                    if let Some(&r) = ranges.get(&n.output[0]) {
                        ranges.insert(n.input[0].clone(), r);
                    }
                }
            }
            Some("Softmax") => {
                ranges.insert(n.output[0].clone(), (0.0, 1.0));
            }
            _ => {}
        }
    }
    let activation_params = ranges
        .iter()
        .map(|(name, &(lo, hi))| {
            let (qmin, qmax) = qrange(options.activation_type, false);
            let (s, z) = scale_zero_point(lo, hi, qmin, qmax, false);
            (name.clone(), Params { qtype: options.activation_type, scales: vec![s], zero_points: vec![z], axis: None })
        })
        .collect();
    let mut q = Quantizer {
        options: *options,
        opset,
        initializers,
        types,
        activation_params,
        to_quantize: Vec::new(),
        bias: Vec::new(),
        nodes,
        removed: HashSet::new(),
        graph_outputs: edit.graph.rest.output.iter().filter_map(|o| o.name.clone()).collect(),
        graph_inputs: edit.graph.inputs.iter().filter_map(|i| i.message.name.clone()).collect(),
    };
    let mut report = Report::default();
    for at in 0..q.nodes.len() {
        let n = &q.nodes[at];
        let default_domain = matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"));
        if default_domain && in_list(n) {
            q.quantize_node(at, &mut report)?;
        }
    }

    // _calc_initializer_quant_params, then _adjust_weight_quant_params_for_bias_tensors
    let mut init_params: HashMap<String, Params> = HashMap::new();
    for (name, info) in &q.to_quantize {
        if let (Some(info), Some(t)) = (info, q.initializers.get(name)) {
            init_params.insert(name.clone(), initializer_params(t, info, options.activation_type)?);
        }
    }
    for (bias, b) in &q.bias {
        let input_is_activation = q.find(&b.input).is_some() && !q.initializers.contains_key(&b.input);
        let (Some(input), true) = (q.activation_params.get(&b.input), input_is_activation) else { continue };
        let input_scale = input.scales[0];
        let Some(w) = init_params.get_mut(&b.weight) else { continue };
        if w.qtype != QType::Int8 || w.zero_points.iter().any(|&z| z != 0) {
            continue;
        }
        let (_, values) = float_values(&q.initializers[bias])?;
        adjust_weight_scale(input_scale, w, &values);
    }

    // _quantize_normal_tensors
    let mut new_inits: Vec<TensorProto> = Vec::new();
    let mut new_nodes: Vec<NodeProto> = Vec::new();
    // quantized_value_map: tensor → (scale name, zero point name)
    let mut quantized: HashMap<String, (String, String)> = HashMap::new();
    let entries: Vec<(String, TensorInfo)> = q.to_quantize.iter().filter_map(|(n, i)| Some((n.clone(), i.clone()?))).collect();
    let replace_inputs = |nodes: &mut Vec<NodeProto>, from: &str, to: &str| {
        for n in nodes.iter_mut() {
            for i in n.input.iter_mut().filter(|i| *i == from) {
                *i = to.to_string();
            }
        }
    };
    let add_pair = |q: &mut Quantizer, new_nodes: &mut Vec<NodeProto>, name: &str, scale: &str, zp: &str| {
        let (mut q_input, mut dq_output) = (name.to_string(), format!("{name}_DequantizeLinear_Output"));
        if q.graph_outputs.contains(name) {
            q_input = format!("{name}_QuantizeLinear_Input");
            dq_output = name.to_string();
            for n in q.nodes.iter_mut().chain(new_nodes.iter_mut()) {
                for o in n.output.iter_mut().filter(|o| *o == name) {
                    *o = q_input.clone();
                }
            }
        } else {
            replace_inputs(&mut q.nodes, name, &dq_output);
            replace_inputs(new_nodes, name, &dq_output);
        }
        let q_out = format!("{name}_QuantizeLinear_Output");
        new_nodes.push(qdq_node("QuantizeLinear", [&q_input, scale, zp], &q_out, &format!("{name}_QuantizeLinear"), None));
        new_nodes.push(qdq_node("DequantizeLinear", [&q_out, scale, zp], &dq_output, &format!("{name}_DequantizeLinear"), None));
    };
    for (name, _) in entries.iter().filter(|(_, i)| i.shares.is_none()) {
        if quantized.contains_key(name) {
            continue;
        }
        if let Some(t) = q.initializers.get(name).cloned() {
            let p = &init_params[name];
            let [zp, scale] = scale_zp_initializers(name, p);
            let names = (scale.name.clone().unwrap_or_default(), zp.name.clone().unwrap_or_default());
            let dq_out = format!("{name}_DequantizeLinear_Output");
            replace_inputs(&mut q.nodes, name, &dq_out);
            replace_inputs(&mut new_nodes, name, &dq_out);
            let quant = quantize_initializer(&t, p)?;
            let quant_name = quant.name.clone().unwrap_or_default();
            new_inits.extend([zp, scale, quant]);
            new_nodes.push(qdq_node(
                "DequantizeLinear",
                [&quant_name, &names.0, &names.1],
                &dq_out,
                &format!("{name}_DequantizeLinear"),
                p.axis,
            ));
            quantized.insert(name.clone(), names);
        } else {
            let Some(p) = q.activation_params.get(name).cloned() else {
                return Err(QuantizeError::Unsupported(format!(
                    "no calibrated range for '{name}': the calibration runs did not produce it, so its scale is unknown"
                )));
            };
            if let Some((lo, hi)) = ranges.get(name).filter(|(lo, hi)| !lo.is_finite() || !hi.is_finite()) {
                return Err(QuantizeError::Unsupported(format!(
                    "'{name}' ranged from {lo} to {hi} over the calibration inputs: a scale needs finite values (check the inputs)"
                )));
            }
            let [zp, scale] = scale_zp_initializers(name, &p);
            let names = (scale.name.clone().unwrap_or_default(), zp.name.clone().unwrap_or_default());
            new_inits.extend([zp, scale]);
            add_pair(&mut q, &mut new_nodes, name, &names.0, &names.1);
            quantized.insert(name.clone(), names);
        }
    }
    // _quantize_sharing_param_tensors: in passes until every provider is quantized
    let mut sharing: Vec<(String, (String, String))> =
        entries.iter().filter_map(|(n, i)| Some((n.clone(), i.shares.clone()?))).filter(|(n, _)| !quantized.contains_key(n)).collect();
    while !sharing.is_empty() {
        let before = sharing.len();
        let mut rest = Vec::new();
        for (name, (provider, node_name)) in sharing {
            match quantized.get(&provider).cloned() {
                Some((scale, zp)) => {
                    add_pair(&mut q, &mut new_nodes, &name, &scale, &zp);
                    quantized.insert(name, (scale, zp));
                }
                None => rest.push((name, (provider, node_name))),
            }
        }
        if rest.len() == before {
            return Err(QuantizeError::Unsupported(format!(
                "'{}' shares the scale of '{}', which is not quantized",
                rest[0].0, rest[0].1 .0
            )));
        }
        sharing = rest;
    }
    // _quantize_bias_tensors
    let mut bias_nodes = Vec::new();
    let mut removed_inits = HashSet::new();
    for (bias, b) in &q.bias {
        let scale_of = |name: &str| -> Option<Vec<f32>> {
            let (scale, _) = quantized.get(name)?;
            new_inits.iter().find(|t| t.name.as_deref() == Some(scale)).map(|t| t.float_data.clone())
        };
        let Some(weight_scale) = scale_of(&b.weight) else {
            return Err(QuantizeError::Unsupported(format!(
                "bias '{bias}' of '{}': its weight '{}' has no quantization scale",
                b.node, b.weight
            )));
        };
        let Some(input_scale) = scale_of(&b.input) else {
            return Err(QuantizeError::Unsupported(format!(
                "bias '{bias}' of '{}': its input '{}' has no quantization scale",
                b.node, b.input
            )));
        };
        let t = &q.initializers[bias];
        let (shape, values) = float_values(t)?;
        let scales: Vec<f32> = weight_scale.iter().map(|&w| input_scale[0] * w * b.beta).collect();
        let codes: Vec<i32> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let s = if scales.len() == 1 { scales[0] } else { scales[i % scales.len()] };
                (v as f64 / s as f64).round_ties_even().clamp(i32::MIN as f64, i32::MAX as f64) as i32
            })
            .collect();
        let qname = format!("{bias}_quantized");
        new_inits.push(tensor::encode(&qname, DType::I32, &shape, &Data::I32(codes)));
        new_inits.push(tensor::encode(&format!("{qname}_scale"), DType::F32, &[scales.len()], &Data::F32(scales.clone())));
        let zp_name = format!("{qname}_zero_point");
        if scales.len() > 1 {
            new_inits.push(tensor::encode(&zp_name, DType::I32, &[scales.len()], &Data::I32(vec![0; scales.len()])));
        } else {
            new_inits.push(TensorProto {
                data_type: Some(DType::I32.onnx_id()),
                int32_data: vec![0],
                name: Some(zp_name.clone()),
                ..Default::default()
            });
        }
        removed_inits.insert(bias.clone());
        let axis = (scales.len() > 1).then_some(0);
        bias_nodes.push(qdq_node(
            "DequantizeLinear",
            [&qname, &format!("{qname}_scale"), &zp_name],
            bias,
            &format!("{bias}_DequantizeLinear"),
            axis,
        ));
    }
    new_nodes.extend(bias_nodes);

    // The graph: the model's nodes edited in place (removed ones gone), then the new ones.
    let mut kept_nodes: Vec<Kept<NodeProto>> = Vec::new();
    for (i, mut k) in std::mem::take(&mut edit.graph.nodes).into_iter().enumerate() {
        if q.removed.contains(&i) {
            continue;
        }
        if k.message != q.nodes[i] {
            *k.edit() = q.nodes[i].clone();
        }
        kept_nodes.push(k);
    }
    kept_nodes.extend(new_nodes.into_iter().map(Kept::new));
    edit.graph.nodes = kept_nodes;
    edit.graph.initializers.retain(|t| !removed_inits.contains(t.message.name.as_deref().unwrap_or("")));
    edit.graph.initializers.extend(new_inits.into_iter().map(Kept::new));
    graph::clean_initializers(&mut edit.graph)?;
    graph::topological_sort(&mut edit.graph)?;
    edit.producer = Some(("quantscope".into(), env!("CARGO_PKG_VERSION").into()));
    Ok((edit.encode(), report))
}

/// `CalibraterBase.select_tensors_to_calibrate` (`calibrate.py`): every float tensor read or
/// written by an op `quantize_static` quantizes, not initializers, in the order first met.
fn calibrated_tensors(edit: &ModelEdit) -> Result<Vec<String>> {
    let types = crate::types::elem_types(&edit.graph)?;
    let initializers: HashSet<String> = edit.graph.initializers.iter().filter_map(|t| t.message.name.clone()).collect();
    let mut tensors: Vec<String> = Vec::new();
    for n in edit.graph.nodes.iter().map(|n| &n.message) {
        let default_domain = matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"));
        if !default_domain || !DEFAULT_OPS.contains(&n.op_type.as_deref().unwrap_or("")) {
            continue;
        }
        for t in n.input.iter().chain(&n.output) {
            if !t.is_empty() && types.get(t) == Some(&1) && !initializers.contains(t) && !tensors.contains(t) {
                tensors.push(t.clone());
            }
        }
    }
    Ok(tensors)
}

/// The model with `outputs` (name, node) appended: nodes added to the graph and float outputs
/// after its other fields (a repeated field's items may be apart on the wire), so the graph's
/// outputs are written as they were read.
pub(crate) fn with_outputs(mut edit: ModelEdit, nodes: Vec<NodeProto>, outputs: &[String]) -> Result<Vec<u8>> {
    use prost::Message;
    use quantscope_formats::onnx::proto::{TypeProto, TypeProtoTensor, ValueInfoProto};
    use quantscope_formats::onnx::splice::{bytes_field, rewrite_fields, FieldEdit};
    // ModelProto.graph and GraphProto.output field numbers (onnx.proto).
    const MODEL_GRAPH: u32 = 7;
    const GRAPH_OUTPUT: u32 = 12;
    edit.graph.nodes.extend(nodes.into_iter().map(Kept::new));
    let mut extra = Vec::new();
    for out in outputs {
        let tensor_type = TypeProtoTensor { elem_type: Some(1), shape: None };
        extra.extend(bytes_field(
            GRAPH_OUTPUT,
            &ValueInfoProto { name: Some(out.clone()), r#type: Some(TypeProto { tensor_type: Some(tensor_type) }) }.encode_to_vec(),
        ));
    }
    let model = edit.encode();
    let mut extra = Some(extra);
    Ok(rewrite_fields(&model, |number, payload| match (number, extra.take()) {
        (MODEL_GRAPH, Some(extra)) => FieldEdit::Replace(bytes_field(MODEL_GRAPH, &[payload, &extra[..]].concat())),
        (_, taken) => {
            extra = taken;
            FieldEdit::Keep
        }
    })?)
}

/// The tensors `quantize_static`'s calibrater collects for `bytes` (a whole `.onnx` file).
pub fn tensors_to_calibrate(bytes: &[u8]) -> Result<Vec<String>> {
    calibrated_tensors(&ModelEdit::open(bytes)?)
}

/// `MinMaxCalibrater.augment_graph` (`calibrate.py`): the model with, for every tensor it
/// calibrates ([`calibrated_tensors`]), a `ReduceMin` and a `ReduceMax` over all of it
/// (keepdims = 0) added as graph outputs `<tensor>_ReduceMin` / `<tensor>_ReduceMax`. Running it
/// on each calibration input and keeping the least minimum and greatest maximum gives [`Ranges`]
/// without seeing the values themselves. Returns the bytes and the tensors, in the order their
/// outputs were added.
///
/// Unlike ONNX Runtime's, which appends them after every other node, each pair sits right after
/// the node that makes its tensor (a graph input's first): the engine runs nodes in file order
/// where it can, so appended pairs kept every activation alive to the end of the run (841 MB of
/// wasm memory for ppocr_rec on 32 text lines of 48 × 320); here each is freed after its last
/// reader, as in the model's own run. The values, and so the ranges, are the same.
pub fn calibration_model(bytes: &[u8]) -> Result<(Vec<u8>, Vec<String>)> {
    let mut edit = ModelEdit::open(bytes)?;
    let tensors = calibrated_tensors(&edit)?;
    // after[0]: before every node; after[i + 1]: after node i.
    let mut after: Vec<Vec<NodeProto>> = (0..=edit.graph.nodes.len()).map(|_| Vec::new()).collect();
    let mut outputs = Vec::new();
    for t in &tensors {
        let at = edit.graph.nodes.iter().position(|n| n.message.output.contains(t)).map_or(0, |i| i + 1);
        for op in ["ReduceMin", "ReduceMax"] {
            let out = format!("{t}_{op}");
            let mut n = node(op, vec![t.clone()], vec![out.clone()], &out);
            n.attribute.push(AttributeProto { name: Some("keepdims".into()), r#type: Some(2), i: Some(0), ..Default::default() });
            after[at].push(n);
            outputs.push(out);
        }
    }
    let mut after = after.into_iter();
    let mut nodes: Vec<Kept<NodeProto>> = after.next().unwrap_or_default().into_iter().map(Kept::new).collect();
    for (n, pairs) in std::mem::take(&mut edit.graph.nodes).into_iter().zip(after) {
        nodes.push(n);
        nodes.extend(pairs.into_iter().map(Kept::new));
    }
    edit.graph.nodes = nodes;
    Ok((with_outputs(edit, Vec::new(), &outputs)?, tensors))
}

/// `HistogramCalibrater.augment_graph` (`calibrate.py`): the model with every tensor it
/// calibrates ([`calibrated_tensors`]) made a graph output (those that are outputs already
/// stay as they are), so that one run gives all their values for a
/// [`crate::calibrate::Calibrator`]. Returns the bytes and the tensors.
pub fn histogram_calibration_model(bytes: &[u8]) -> Result<(Vec<u8>, Vec<String>)> {
    let edit = ModelEdit::open(bytes)?;
    let tensors = calibrated_tensors(&edit)?;
    let outputs = &edit.graph.rest.output;
    let extra: Vec<String> = tensors.iter().filter(|t| !outputs.iter().any(|o| o.name.as_ref() == Some(*t))).cloned().collect();
    Ok((with_outputs(edit, Vec::new(), &extra)?, tensors))
}

//! An MLP (Linear layers, ReLU between them) written as an ONNX model: in FP32, or as the QDQ
//! graph of a model trained with fake quantization (the Train view's "Download as .onnx").
//!
//! The QDQ graph is the training forward node for node (torch.ao's eager QAT of
//! QuantStub → (LinearReLU)* → Linear → DeQuantStub, `src/train/src/mlp.rs`):
//!
//! ```text
//! input → QuantizeLinear(s_in, zp_in) → DequantizeLinear                       the input's fake quant
//! per layer: W_q (int8 initializer [in, out]) → DequantizeLinear(s_w, axis 1)  the weight's fake quant
//!            MatMul → Add(bias) → Relu (not after the last layer)
//!            → QuantizeLinear(s_a, zp_a) → DequantizeLinear [→ Clip]           the output's fake quant
//! ```
//!
//! DequantizeLinear computes `(q − zp) · s` in f32 exactly as torch's fake quant does after its
//! clamp, so the weights equal the fake-quantized ones bit for bit. Activations at fewer than 8
//! bits keep their codes in uint8 and add a `Clip` at the top code's value `(qmax − zp) · s`,
//! which equals clamping the code first (the value is monotone in the code, and both are the same
//! f32 product); their weights' codes are already inside the narrow range. The file is therefore
//! not smaller at INT4/INT2 than at INT8: ONNX's `int4`/`uint4` types need opset 21 and have no
//! 2-bit counterpart that ONNX Runtime runs, and this graph runs in every runtime that has opset 19.
//!
//! What differs from the training forward is the float arithmetic around the integers: MatMul's
//! summation order (each runtime's own) and QuantizeLinear's `x / s` against torch's `x · (1/s)`.
//! Both move a value by an ulp or so; where that crosses a rounding boundary an activation moves
//! by one code step (src/converter/tests/train_qdq.rs measures it: on its runs, nothing moved).

use prost::Message;
use quantscope_formats::onnx::proto::{
    AttributeProto, Dimension, DimensionValue, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, TypeProtoTensor, ValueInfoProto,
};
use quantscope_formats::onnx::tensor::{encode, DType, Data};

use crate::{QuantizeError, Result};

/// ONNX opset the file imports: per-axis DequantizeLinear needs 13; 19 is the oldest ONNX's
/// reference evaluator (onnx.reference) implements Q/DQ at, and ONNX Runtime has run it since 1.16.
pub(crate) const OPSET: i64 = 19;
/// IR version 9 goes with opset 19 (onnx/helper.py's VERSION_TABLE, onnx 1.14).
pub(crate) const IR_VERSION: i64 = 9;
pub(crate) const FLOAT: i32 = 1;

/// One fake-quant node of an activation (unsigned affine, per tensor): `quant_max` is 255 at 8
/// bits, 15 at 4, 3 at 2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivationQuant {
    pub scale: f32,
    pub zero_point: u8,
    pub quant_max: u8,
}

/// A layer's weight: float, or the integer codes of its fake quant (signed symmetric) with one
/// scale per tensor or per output neuron.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerWeight {
    /// `[out, in]` row-major, as `torch.nn.Linear` stores it.
    Float(Vec<f32>),
    /// Codes `[out, in]` row-major, and 1 or `out` scales.
    Int8 { codes: Vec<i8>, scales: Vec<f32> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MlpLayer {
    pub in_features: usize,
    pub out_features: usize,
    pub weight: LayerWeight,
    pub bias: Vec<f32>,
    /// The fake quant of the layer's output (after its ReLU); None in FP32.
    pub output: Option<ActivationQuant>,
}

/// The model: the input's fake quant (None in FP32) and the layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub input: Option<ActivationQuant>,
    pub layers: Vec<MlpLayer>,
    /// Store each weight's codes + 128 as uint8 with zero point 128 (the same dequantized values):
    /// ONNX Runtime's fused integer kernels then multiply u8 × u8, which do not saturate on x86
    /// without VNNI as its u8 × s8 ones can (why its own quantizer offers uint8 weights).
    pub uint8_weights: bool,
}

pub(crate) fn bad(why: String) -> QuantizeError {
    QuantizeError::Unsupported(why)
}

pub(crate) fn check_quant(q: &ActivationQuant, what: &str) -> Result<()> {
    if !(q.scale.is_finite() && q.scale > 0.0) {
        return Err(bad(format!("{what}: the scale {} is not a positive finite number", q.scale)));
    }
    if q.zero_point > q.quant_max || q.quant_max == 0 {
        return Err(bad(format!("{what}: zero point {} outside the codes 0..={}", q.zero_point, q.quant_max)));
    }
    Ok(())
}

impl Mlp {
    /// Refuses shapes that do not chain, lengths that do not fit their shapes, non-finite or
    /// non-positive scales, zero points outside their range, and a quantized layer in a float model.
    pub fn validate(&self) -> Result<()> {
        if self.layers.is_empty() {
            return Err(bad("the model has no layers".into()));
        }
        if let Some(q) = &self.input {
            check_quant(q, "the input")?;
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let (i, o) = (layer.in_features, layer.out_features);
            if i == 0 || o == 0 {
                return Err(bad(format!("layer {l} is {i} → {o}: a width of 0")));
            }
            if l > 0 && self.layers[l - 1].out_features != i {
                return Err(bad(format!("layer {l} takes {i} inputs but layer {} gives {}", l - 1, self.layers[l - 1].out_features)));
            }
            if layer.bias.len() != o {
                return Err(bad(format!("layer {l}: {} biases for {o} outputs", layer.bias.len())));
            }
            let len = match &layer.weight {
                LayerWeight::Float(w) => w.len(),
                LayerWeight::Int8 { codes, scales } => {
                    if scales.len() != 1 && scales.len() != o {
                        return Err(bad(format!("layer {l}: {} weight scales for {o} outputs (1 or {o})", scales.len())));
                    }
                    if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                        return Err(bad(format!("layer {l}: the weight scale {s} is not a positive finite number")));
                    }
                    codes.len()
                }
            };
            if len != i * o {
                return Err(bad(format!("layer {l}: {len} weights for {o} × {i}")));
            }
            if let Some(q) = &layer.output {
                check_quant(q, &format!("layer {l}'s output"))?;
            }
            if self.input.is_none() && (layer.output.is_some() || matches!(layer.weight, LayerWeight::Int8 { .. })) {
                return Err(bad(format!("layer {l} is quantized but the input is not: a QDQ model quantizes all or nothing")));
            }
        }
        Ok(())
    }
}

pub(crate) fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(2), i: Some(i), ..Default::default() }
}

pub(crate) fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: Some(name.into()),
        op_type: Some(op.into()),
        ..Default::default()
    }
}

/// A float tensor `[batch, width]`, the batch named `N`.
fn value_info(name: &str, width: usize) -> ValueInfoProto {
    let dim = |v| Dimension { value: Some(v) };
    let shape = TensorShapeProto { dim: vec![dim(DimensionValue::DimParam("N".into())), dim(DimensionValue::DimValue(width as i64))] };
    let tensor_type = TypeProtoTensor { elem_type: Some(FLOAT), shape: Some(shape) };
    ValueInfoProto { name: Some(name.into()), r#type: Some(TypeProto { tensor_type: Some(tensor_type) }) }
}

/// A graph under construction: nodes and initializers.
#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<NodeProto>,
    pub(crate) initializers: Vec<TensorProto>,
}

impl Graph {
    pub(crate) fn scalar_f32(&mut self, name: &str, v: f32) {
        self.initializers.push(encode(name, DType::F32, &[], &Data::F32(vec![v])));
    }

    /// A weight's codes (laid out as `shape`) → DequantizeLinear with one scale, or one per index
    /// of `axis` (zero points 0; with `uint8` the codes + 128 as uint8, zero point 128: the same
    /// dequantized values). Returns the dequantized weight's name, `name`.
    pub(crate) fn dequantized_weight(
        &mut self,
        name: &str,
        codes: Vec<i8>,
        shape: &[usize],
        scales: &[f32],
        axis: i64,
        uint8: bool,
    ) -> String {
        let (quantized, scale, zp) = (format!("{name}_quantized"), format!("{name}_scale"), format!("{name}_zero_point"));
        let scale_shape: &[usize] = if scales.len() == 1 { &[] } else { &[scales.len()] };
        // uint8: (q + 128) − 128 = q, so DequantizeLinear gives the same f32 products.
        let (codes, zero_points) = if uint8 {
            (Data::U8(codes.iter().map(|&q| (q as i16 + 128) as u8).collect()), Data::U8(vec![128; scales.len()]))
        } else {
            (Data::I8(codes), Data::I8(vec![0; scales.len()]))
        };
        self.initializers.push(encode(&quantized, codes.natural_dtype(), shape, &codes));
        self.initializers.push(encode(&scale, DType::F32, scale_shape, &Data::F32(scales.to_vec())));
        self.initializers.push(encode(&zp, zero_points.natural_dtype(), scale_shape, &zero_points));
        let mut dq = node("DequantizeLinear", &format!("{name}_DequantizeLinear"), &[&quantized, &scale, &zp], &[name]);
        if scales.len() > 1 {
            dq.attribute.push(attr_int("axis", axis));
        }
        self.nodes.push(dq);
        name.to_string()
    }

    /// `x → QuantizeLinear → DequantizeLinear [→ Clip]` named after `at`; returns the output's name.
    pub(crate) fn fake_quant(&mut self, x: &str, at: &str, q: &ActivationQuant) -> String {
        let (scale, zp) = (format!("{at}_scale"), format!("{at}_zero_point"));
        self.scalar_f32(&scale, q.scale);
        self.initializers.push(encode(&zp, DType::U8, &[], &Data::U8(vec![q.zero_point])));
        let (quantized, dequantized) = (format!("{at}_quantized"), format!("{at}_dequantized"));
        self.nodes.push(node("QuantizeLinear", &format!("{at}_QuantizeLinear"), &[x, &scale, &zp], &[&quantized]));
        self.nodes.push(node("DequantizeLinear", &format!("{at}_DequantizeLinear"), &[&quantized, &scale, &zp], &[&dequantized]));
        if q.quant_max == u8::MAX {
            return dequantized;
        }
        // The bottom and top codes' values, as DequantizeLinear computes them: (q − zp) · s in f32
        // (the bottom one is code 0's, which uint8 already saturates at).
        let (bottom, top) = (format!("{at}_min"), format!("{at}_max"));
        self.scalar_f32(&bottom, (0.0 - q.zero_point as f32) * q.scale);
        self.scalar_f32(&top, (q.quant_max as f32 - q.zero_point as f32) * q.scale);
        let clipped = format!("{at}_clipped");
        self.nodes.push(node("Clip", &format!("{at}_Clip"), &[&dequantized, &bottom, &top], &[&clipped]));
        clipped
    }
}

/// The weight `[out, in]` transposed to MatMul's `[in, out]`.
pub(crate) fn transpose<T: Copy>(w: &[T], in_features: usize, out_features: usize) -> Vec<T> {
    (0..in_features * out_features).map(|k| w[(k % out_features) * in_features + k / out_features]).collect()
}

/// The model as an ONNX file (opset 19): input `input` `[N, in]` float, output `logits` `[N, out]`.
pub fn mlp_onnx(model: &Mlp) -> Result<Vec<u8>> {
    model.validate()?;
    let mut g = Graph::default();
    let mut x = "input".to_string();
    if let Some(q) = &model.input {
        x = g.fake_quant(&x, "input", q);
    }
    let last = model.layers.len() - 1;
    for (l, layer) in model.layers.iter().enumerate() {
        let (i, o) = (layer.in_features, layer.out_features);
        let at = format!("layer{l}");
        let weight = format!("{at}_weight");
        let used_weight = match &layer.weight {
            LayerWeight::Float(w) => {
                g.initializers.push(encode(&weight, DType::F32, &[i, o], &Data::F32(transpose(w, i, o))));
                weight
            }
            // Per output neuron: axis 1 of the [in, out] weight.
            LayerWeight::Int8 { codes, scales } => {
                g.dequantized_weight(&weight, transpose(codes, i, o), &[i, o], scales, 1, model.uint8_weights)
            }
        };
        let bias = format!("{at}_bias");
        g.initializers.push(encode(&bias, DType::F32, &[o], &Data::F32(layer.bias.clone())));
        let (product, sum) = (format!("{at}_matmul"), format!("{at}_add"));
        g.nodes.push(node("MatMul", &format!("{at}_MatMul"), &[&x, &used_weight], &[&product]));
        g.nodes.push(node("Add", &format!("{at}_Add"), &[&product, &bias], &[&sum]));
        x = sum;
        if l < last {
            let relu = format!("{at}_relu");
            g.nodes.push(node("Relu", &format!("{at}_Relu"), &[&x], &[&relu]));
            x = relu;
        }
        if let Some(q) = &layer.output {
            x = g.fake_quant(&x, &format!("{at}_output"), q);
        }
    }
    // The graph's output has its own name: an Identity from the last value.
    g.nodes.push(node("Identity", "logits_Identity", &[&x], &["logits"]));
    let graph = GraphProto {
        node: g.nodes,
        name: Some(if model.input.is_some() { "quantscope_mlp_qdq" } else { "quantscope_mlp" }.into()),
        initializer: g.initializers,
        input: vec![value_info("input", model.layers[0].in_features)],
        output: vec![value_info("logits", model.layers[last].out_features)],
        ..Default::default()
    };
    Ok(model_bytes(graph))
}

/// `graph` as a whole model file: IR version and opset of [`IR_VERSION`] / [`OPSET`], produced
/// by quantscope (the MLP's and the conv net's files alike).
pub(crate) fn model_bytes(graph: GraphProto) -> Vec<u8> {
    let proto = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
        producer_name: Some("quantscope".into()),
        graph: Some(graph),
        ..Default::default()
    };
    proto.encode_to_vec()
}

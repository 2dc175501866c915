//! A small conv net (Conv2d, ReLU, MaxPool2d, Flatten, Linear in sequence, NCHW) written as an
//! ONNX model: in FP32, or as the QDQ graph of a net trained with fake quantization (the Train
//! view's "Download as .onnx" of a conv net run, `src/train/src/conv.rs`).
//!
//! The QDQ graph is the training forward op for op (torch.ao's eager QAT after
//! `fuse_modules_qat`: QuantStub → ConvReLU2d → MaxPool2d → ConvReLU2d → MaxPool2d → Flatten →
//! Linear → DeQuantStub), with the fake quants where [`Op::Quantize`] puts them:
//!
//! ```text
//! input [N, C, H, W] → QuantizeLinear(s_in, zp_in) → DequantizeLinear       the input's fake quant
//! Conv2d:  W_q (int8 [O, C, k, k]) → DequantizeLinear(s_w, axis 0) → Conv(bias)
//! Linear:  W_q (int8 [in, out]) → DequantizeLinear(s_w, axis 1) → MatMul → Add(bias)
//! Relu, MaxPool (kernel k, stride k, floor), Flatten (axis 1)
//! Quantize: QuantizeLinear(s, zp) → DequantizeLinear [→ Clip]                 an output's fake quant
//! ```
//!
//! Weights and fake quants are written as `mlp.rs` writes them (the same `Graph` helpers), so
//! what that module says of exactness holds here: the dequantized weights are the fake-quantized
//! ones bit for bit; the convolutions' float sums are each runtime's own order.

use quantscope_formats::onnx::proto::{
    AttributeProto, Dimension, DimensionValue, GraphProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};
use quantscope_formats::onnx::tensor::{encode, DType, Data};

use crate::mlp::{bad, check_quant, model_bytes, node, transpose, ActivationQuant, Graph, LayerWeight, FLOAT};
use crate::Result;

/// One op of the net, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `nn.Conv2d`, stride 1, no padding; the weight `[out, in, k, k]` (float or codes).
    Conv2d {
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        weight: LayerWeight,
        bias: Vec<f32>,
    },
    Relu,
    /// k×k, stride k, the border that does not fill a window dropped (ONNX's `ceil_mode` 0).
    MaxPool2d(usize),
    /// `[N, C, H, W]` → `[N, C·H·W]`.
    Flatten,
    /// `nn.Linear` on a flat input; the weight `[out, in]`.
    Linear {
        in_features: usize,
        out_features: usize,
        weight: LayerWeight,
        bias: Vec<f32>,
    },
    /// The fake quant of the value before it.
    Quantize(ActivationQuant),
}

/// The net: the input's shape `[C, H, W]`, its fake quant (None in FP32), the ops.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvNet {
    pub input_shape: [usize; 3],
    pub input: Option<ActivationQuant>,
    pub ops: Vec<Op>,
    /// As `mlp::Mlp::uint8_weights`: the codes + 128 as uint8, zero point 128.
    pub uint8_weights: bool,
}

/// A weight's length and whether it is quantized; refuses bad scales.
fn check_weight(weight: &LayerWeight, rows: usize, at: usize) -> Result<(usize, bool)> {
    match weight {
        LayerWeight::Float(w) => Ok((w.len(), false)),
        LayerWeight::Int8 { codes, scales } => {
            if scales.len() != 1 && scales.len() != rows {
                return Err(bad(format!("op {at}: {} weight scales for {rows} outputs (1 or {rows})", scales.len())));
            }
            if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                return Err(bad(format!("op {at}: the weight scale {s} is not a positive finite number")));
            }
            Ok((codes.len(), true))
        }
    }
}

impl ConvNet {
    /// The shape after each op (`[C, H, W]`; flat values are `[n, 1, 1]`), or why an op does not
    /// fit the one before it: shapes that do not chain, lengths that do not fit, bad scales or zero
    /// points, a quantized op in a float net, and a net that does not end flat.
    pub fn shapes(&self) -> Result<Vec<[usize; 3]>> {
        if self.ops.is_empty() {
            return Err(bad("the net has no ops".into()));
        }
        if self.input_shape.contains(&0) {
            return Err(bad(format!("the input shape {:?} has no pixels", self.input_shape)));
        }
        if let Some(q) = &self.input {
            check_quant(q, "the input")?;
        }
        let mut shapes = vec![self.input_shape];
        for (at, op) in self.ops.iter().enumerate() {
            let [c, h, w] = *shapes.last().expect("the input's");
            let flat = h == 1 && w == 1;
            let quantized = match op {
                Op::Conv2d { in_channels, out_channels, kernel, weight, bias } => {
                    let k = *kernel;
                    if *in_channels != c || k == 0 || k > h || k > w || *out_channels == 0 {
                        return Err(bad(format!("op {at}: a {in_channels}-channel {k}×{k} convolution does not fit a {c}×{h}×{w} input")));
                    }
                    let (len, quantized) = check_weight(weight, *out_channels, at)?;
                    if len != out_channels * c * k * k || bias.len() != *out_channels {
                        return Err(bad(format!("op {at}: the convolution's weight or bias has the wrong length")));
                    }
                    shapes.push([*out_channels, h - k + 1, w - k + 1]);
                    quantized
                }
                Op::Linear { in_features, out_features, weight, bias } => {
                    if !flat || *in_features != c || *out_features == 0 {
                        return Err(bad(format!("op {at}: a Linear of {in_features} inputs does not fit a {c}×{h}×{w} input")));
                    }
                    let (len, quantized) = check_weight(weight, *out_features, at)?;
                    if len != in_features * out_features || bias.len() != *out_features {
                        return Err(bad(format!("op {at}: the Linear's weight or bias has the wrong length")));
                    }
                    shapes.push([*out_features, 1, 1]);
                    quantized
                }
                Op::MaxPool2d(k) => {
                    if *k == 0 || *k > h || *k > w {
                        return Err(bad(format!("op {at}: a {k}×{k} pool does not fit a {h}×{w} input")));
                    }
                    shapes.push([c, h / k, w / k]);
                    false
                }
                Op::Flatten => {
                    shapes.push([c * h * w, 1, 1]);
                    false
                }
                Op::Relu => {
                    shapes.push([c, h, w]);
                    false
                }
                Op::Quantize(q) => {
                    check_quant(q, &format!("op {at}"))?;
                    shapes.push([c, h, w]);
                    true
                }
            };
            if quantized && self.input.is_none() {
                return Err(bad(format!("op {at} is quantized but the input is not: a QDQ model quantizes all or nothing")));
            }
        }
        let [_, h, w] = *shapes.last().expect("the last op's");
        if (h, w) != (1, 1) {
            return Err(bad("the net must end flat (Flatten, then Linear)".into()));
        }
        Ok(shapes)
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(7), ints: v.to_vec(), ..Default::default() }
}

/// A float tensor `[N, dims…]`, the batch named `N`.
fn value_info(name: &str, dims: &[usize]) -> ValueInfoProto {
    let dim = |v| Dimension { value: Some(v) };
    let dims =
        std::iter::once(dim(DimensionValue::DimParam("N".into()))).chain(dims.iter().map(|&d| dim(DimensionValue::DimValue(d as i64))));
    let tensor_type = TypeProtoTensor { elem_type: Some(FLOAT), shape: Some(TensorShapeProto { dim: dims.collect() }) };
    ValueInfoProto { name: Some(name.into()), r#type: Some(TypeProto { tensor_type: Some(tensor_type) }) }
}

/// The net as an ONNX file (opset 19): input `input` `[N, C, H, W]` float, output `logits` `[N, classes]`.
pub fn convnet_onnx(net: &ConvNet) -> Result<Vec<u8>> {
    let shapes = net.shapes()?;
    let mut g = Graph::default();
    let mut x = "input".to_string();
    if let Some(q) = &net.input {
        x = g.fake_quant(&x, "input", q);
    }
    for (at, op) in net.ops.iter().enumerate() {
        let name = format!("op{at}");
        let out = match op {
            Op::Conv2d { in_channels, out_channels, kernel, weight, bias } => {
                let shape = [*out_channels, *in_channels, *kernel, *kernel];
                let w = format!("{name}_weight");
                let w = match weight {
                    LayerWeight::Float(v) => {
                        g.initializers.push(encode(&w, DType::F32, &shape, &Data::F32(v.clone())));
                        w
                    }
                    // Per output channel: axis 0 of torch's [O, C, k, k], which ONNX's Conv takes as is.
                    LayerWeight::Int8 { codes, scales } => g.dequantized_weight(&w, codes.clone(), &shape, scales, 0, net.uint8_weights),
                };
                let b = format!("{name}_bias");
                g.initializers.push(encode(&b, DType::F32, &[*out_channels], &Data::F32(bias.clone())));
                let out = format!("{name}_conv");
                let mut conv = node("Conv", &format!("{name}_Conv"), &[&x, &w, &b], &[&out]);
                conv.attribute.push(ints("kernel_shape", &[*kernel as i64; 2]));
                g.nodes.push(conv);
                out
            }
            Op::Linear { in_features, out_features, weight, bias } => {
                let (i, o) = (*in_features, *out_features);
                let w = format!("{name}_weight");
                let w = match weight {
                    LayerWeight::Float(v) => {
                        g.initializers.push(encode(&w, DType::F32, &[i, o], &Data::F32(transpose(v, i, o))));
                        w
                    }
                    LayerWeight::Int8 { codes, scales } => {
                        g.dequantized_weight(&w, transpose(codes, i, o), &[i, o], scales, 1, net.uint8_weights)
                    }
                };
                let b = format!("{name}_bias");
                g.initializers.push(encode(&b, DType::F32, &[o], &Data::F32(bias.clone())));
                let (product, sum) = (format!("{name}_matmul"), format!("{name}_add"));
                g.nodes.push(node("MatMul", &format!("{name}_MatMul"), &[&x, &w], &[&product]));
                g.nodes.push(node("Add", &format!("{name}_Add"), &[&product, &b], &[&sum]));
                sum
            }
            Op::Relu => {
                let out = format!("{name}_relu");
                g.nodes.push(node("Relu", &format!("{name}_Relu"), &[&x], &[&out]));
                out
            }
            Op::MaxPool2d(k) => {
                let out = format!("{name}_pool");
                let mut pool = node("MaxPool", &format!("{name}_MaxPool"), &[&x], &[&out]);
                pool.attribute.push(ints("kernel_shape", &[*k as i64; 2]));
                pool.attribute.push(ints("strides", &[*k as i64; 2]));
                g.nodes.push(pool);
                out
            }
            Op::Flatten => {
                let out = format!("{name}_flat");
                g.nodes.push(node("Flatten", &format!("{name}_Flatten"), &[&x], &[&out]));
                out
            }
            Op::Quantize(q) => g.fake_quant(&x, &format!("{name}_output"), q),
        };
        x = out;
    }
    g.nodes.push(node("Identity", "logits_Identity", &[&x], &["logits"]));
    let classes = shapes.last().expect("checked")[0];
    let graph = GraphProto {
        node: g.nodes,
        name: Some(if net.input.is_some() { "quantscope_convnet_qdq" } else { "quantscope_convnet" }.into()),
        initializer: g.initializers,
        input: vec![value_info("input", &net.input_shape)],
        output: vec![value_info("logits", &[classes])],
        ..Default::default()
    };
    Ok(model_bytes(graph))
}

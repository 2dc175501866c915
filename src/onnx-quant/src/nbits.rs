//! Weight-only 4-bit quantization of a model's MatMuls: ONNX Runtime's `MatMulNBitsQuantizer`
//! with its default (RTN) config, `DefaultWeightOnlyQuantizer.quantize_matmul` in
//! `onnxruntime/quantization/matmul_nbits_quantizer.py` (onnxruntime 1.32), ported for the
//! main graph.
//!
//! Every MatMul whose B is a FLOAT initializer of rank 2 becomes, with
//! * [`NBitsFormat::QOperator`]: a com.microsoft `MatMulNBits` `<name>_Q4` reading `<B>_Q4`
//!   (`[N, k_blocks, block_size / 2]` uint8), `<B>_scales` (`[N, k_blocks]`) and, unless
//!   symmetric, `<B>_zero_points` (`[N, ceil(k_blocks / 2)]` uint8), with attributes K, N,
//!   bits, block_size (and accuracy_level when not 0); the model imports com.microsoft 1.
//! * [`NBitsFormat::Qdq`]: a blocked `DequantizeLinear` `<name>_DQ_Q4` (axis 0, block_size) of
//!   `<B>_DQ_Q4` (int4 when symmetric, else uint4 with `<B>_DQ_zero_points`) and
//!   `<B>_DQ_scales` (`[k_blocks, N]`), then MatMul `<name>_matmul_Q4`; the model's ONNX opset
//!   becomes 21 and its IR version 10 if they were lower (int4 needs both).
//!
//! The weights are packed by [`crate::blockwise`] as MLAS packs them, so the initializers are
//! ONNX Runtime's byte for byte; the nodes keep their places and the graph is then sorted and
//! cleaned of the float B as `save_model_to_file` does.
//!
//! Not ported (the node stays a float MatMul and the [`Report`] says why): B of more than two
//! dimensions (ONNX Runtime squeezes unit leading dims and adds a reshape chain), FLOAT16 and
//! BFLOAT16 weights, MatMuls inside subgraphs, Gather (`GatherBlockQuantized`), and 2 or 8
//! bits, HQQ, GPTQ and k-quant.

use crate::blockwise;
use crate::dynamic::Report;
use crate::gemm::node;
use crate::graph;
use crate::weights;
use crate::{QuantizeError, Result};
use prost::Message;
use quantscope_formats::onnx::proto::{AttributeProto, NodeProto, OperatorSetIdProto, TensorProto};
use quantscope_formats::onnx::splice::{self, FieldEdit, Kept, ModelEdit};
use quantscope_formats::onnx::tensor::DType;

/// How the quantized weight is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NBitsFormat {
    /// `QuantFormat.QOperator`: com.microsoft MatMulNBits.
    QOperator,
    /// `QuantFormat.QDQ`: opset-21 blocked DequantizeLinear + MatMul.
    Qdq,
}

/// `DefaultWeightOnlyQuantConfig`'s options that quantscope offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NBitsOptions {
    /// Bits per weight: 4 (ONNX Runtime also has 2 and 8 for MatMulNBits, not ported).
    pub bits: u32,
    /// Weights along K quantized together: a power of two from 16 to 256.
    pub block_size: usize,
    /// No zero points: codes centred on 8 (MatMulNBits) or int4 (QDQ).
    pub symmetric: bool,
    /// MatMulNBits' `accuracy_level` attribute (0 leaves it out, as ONNX Runtime does).
    pub accuracy_level: i64,
    pub format: NBitsFormat,
}

impl Default for NBitsOptions {
    fn default() -> Self {
        // MatMulNBitsQuantizer's defaults: bits 4, block 128, asymmetric, QOperator
        NBitsOptions { bits: 4, block_size: 128, symmetric: false, accuracy_level: 0, format: NBitsFormat::QOperator }
    }
}

impl NBitsOptions {
    /// The options MLAS and the MatMulNBits spec accept, or why not.
    pub fn check(&self) -> Result<()> {
        if self.bits != 4 {
            return Err(QuantizeError::Unsupported(format!(
                "{} bits: quantscope's weight-only quantization writes 4-bit weights only",
                self.bits
            )));
        }
        let b = self.block_size;
        if !(16..=256).contains(&b) || !b.is_power_of_two() {
            return Err(QuantizeError::Unsupported(format!(
                "block size {b}: it must be a power of two from 16 to 256 (16, 32, 64, 128 or 256), as MatMulNBits and ONNX Runtime's MLAS take"
            )));
        }
        if !(0..=4).contains(&self.accuracy_level) {
            return Err(QuantizeError::Unsupported(format!(
                "accuracy level {}: MatMulNBits defines 0 (unset), 1 (fp32), 2 (fp16), 3 (bf16) and 4 (int8)",
                self.accuracy_level
            )));
        }
        if self.format == NBitsFormat::Qdq && self.accuracy_level != 0 {
            return Err(QuantizeError::Unsupported("accuracy level is an attribute of MatMulNBits; the QDQ format has none".into()));
        }
        Ok(())
    }
}

fn label(n: &NodeProto) -> String {
    format!("MatMul '{}'", n.name.as_deref().unwrap_or(""))
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(2), i: Some(i), ..Default::default() }
}

/// A tensor as `numpy_helper.from_array` / `onnx.helper.make_tensor(raw=True)` write it.
fn raw_tensor(name: String, dtype: DType, dims: &[usize], raw: Vec<u8>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(dtype.onnx_id()),
        name: Some(name),
        raw_data: Some(raw),
        ..Default::default()
    }
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `name + suffix`, or no name for a node without one.
fn suffixed(n: &NodeProto, suffix: &str) -> String {
    match n.name.as_deref() {
        Some(s) if !s.is_empty() => format!("{s}{suffix}"),
        _ => String::new(),
    }
}

/// The nodes and initializers that replace one MatMul of B `[k, n]`.
fn rewrite(n: &NodeProto, b_name: &str, b: &[f32], k: usize, cols: usize, o: &NBitsOptions) -> (Vec<NodeProto>, Vec<TensorProto>) {
    let bs = o.block_size;
    let k_blocks = k.div_ceil(bs);
    match o.format {
        NBitsFormat::QOperator => {
            let w = blockwise::matmul_nbits(b, k, cols, bs, o.symmetric);
            let q = raw_tensor(format!("{b_name}_Q4"), DType::U8, &[cols, k_blocks, bs / 2], w.packed);
            let s = raw_tensor(format!("{b_name}_scales"), DType::F32, &[cols, k_blocks], f32_bytes(&w.scales));
            let mut inputs = vec![n.input[0].clone(), q.name.clone().unwrap(), s.name.clone().unwrap()];
            let mut inits = vec![q, s];
            if !o.symmetric {
                let zp = raw_tensor(format!("{b_name}_zero_points"), DType::U8, &[cols, k_blocks.div_ceil(2)], w.zero_points);
                inputs.push(zp.name.clone().unwrap());
                inits.push(zp);
            }
            let mut m = node("MatMulNBits", inputs, vec![n.output[0].clone()], &suffixed(n, "_Q4"));
            m.domain = Some("com.microsoft".into());
            // make_node(**kwargs) writes the attributes sorted by name
            m.attribute.extend([int_attr("K", k as i64), int_attr("N", cols as i64)]);
            if o.accuracy_level != 0 {
                m.attribute.push(int_attr("accuracy_level", o.accuracy_level));
            }
            m.attribute.extend([int_attr("bits", 4), int_attr("block_size", bs as i64)]);
            (vec![m], inits)
        }
        NBitsFormat::Qdq => {
            let w = blockwise::qdq(b, k, cols, bs, o.symmetric);
            let qtype = if o.symmetric { DType::I4 } else { DType::U4 };
            let q = raw_tensor(format!("{b_name}_DQ_Q4"), qtype, &[k, cols], w.packed);
            let s = raw_tensor(format!("{b_name}_DQ_scales"), DType::F32, &[k_blocks, cols], f32_bytes(&w.scales));
            let dq_out = format!("{b_name}_DQ_Q4_output");
            let mut dq_inputs = vec![q.name.clone().unwrap(), s.name.clone().unwrap()];
            let mut inits = vec![q, s];
            if let Some(zp) = w.zero_points {
                let zp = raw_tensor(format!("{b_name}_DQ_zero_points"), qtype, &[k_blocks, cols], zp);
                dq_inputs.push(zp.name.clone().unwrap());
                inits.push(zp);
            }
            let mut dq = node("DequantizeLinear", dq_inputs, vec![dq_out.clone()], &suffixed(n, "_DQ_Q4"));
            dq.attribute.extend([int_attr("axis", 0), int_attr("block_size", bs as i64)]);
            let mm = node("MatMul", vec![n.input[0].clone(), dq_out], vec![n.output[0].clone()], &suffixed(n, "_matmul_Q4"));
            (vec![dq, mm], inits)
        }
    }
}

/// A MatMul's B `(shape, values)`, or why the MatMul is left in float.
type Eligible = std::result::Result<(Vec<usize>, Vec<f32>), String>;

fn eligible(n: &NodeProto, edit: &ModelEdit) -> Result<Eligible> {
    let Some(b_name) = n.input.get(1).filter(|s| !s.is_empty()) else {
        return Ok(Err("it has no B".into()));
    };
    let Some(t) = edit.graph.initializer(b_name) else {
        return Ok(Err("its B is not a constant (ONNX Runtime quantizes only an initializer B)".into()));
    };
    if n.input.first().map_or(true, |a| a.is_empty()) {
        return Ok(Err("it has no A".into()));
    }
    let Some((shape, values)) = weights::float_values(t)? else {
        return Ok(Err(format!(
            "its B '{b_name}' is {}, not FLOAT (ONNX Runtime also packs FLOAT16 weights; quantscope does not yet)",
            DType::from_onnx(t.data_type.unwrap_or(0)).map_or("an unknown type".to_string(), |d| d.name().to_string())
        )));
    };
    match shape.len() {
        2 => Ok(Ok((shape, values))),
        r if r < 2 => Ok(Err(format!("its B has {r} dimension(s); ONNX Runtime quantizes a 2-D B"))),
        _ => Ok(Err(format!(
            "its B has shape {shape:?}; quantscope quantizes a 2-D B (ONNX Runtime squeezes unit leading dimensions, not ported)"
        ))),
    }
}

/// ModelProto's `ir_version` (1) and `opset_import` (8), and OperatorSetIdProto's `domain` (1)
/// and `version` (2).
const MODEL_IR_VERSION: u32 = 1;
const MODEL_OPSET_IMPORT: u32 = 8;

/// A new OperatorSetIdProto field.
fn opset_field(domain: &str, version: i64) -> Vec<u8> {
    let mut payload = splice::bytes_field(1, domain.as_bytes());
    payload.extend(splice::varint_field(2, version as u64));
    splice::bytes_field(MODEL_OPSET_IMPORT, &payload)
}

/// The model-level changes `MatMulNBitsQuantizer.process` makes, at the wire level: QOperator
/// imports com.microsoft version 1 (`set_opset_import`: that entry's version set, or a new
/// entry after the others); QDQ lifts the ONNX opset to 21 and the IR version to 10.
fn set_model_fields(bytes: &[u8], opsets: &[OperatorSetIdProto], format: NBitsFormat) -> Result<Vec<u8>> {
    let add_ms = format == NBitsFormat::QOperator && !opsets.iter().any(|o| o.domain.as_deref() == Some("com.microsoft"));
    let mut seen = 0;
    let mut out = splice::rewrite_fields(bytes, |number, payload| match number {
        MODEL_OPSET_IMPORT => {
            seen += 1;
            let o = OperatorSetIdProto::decode(payload).unwrap_or_default();
            let version = o.version.unwrap_or(0);
            let to = match (format, o.domain.as_deref().unwrap_or("")) {
                (NBitsFormat::QOperator, "com.microsoft") => 1,
                (NBitsFormat::Qdq, "" | "ai.onnx") => version.max(21),
                _ => version,
            };
            // the entry's own fields kept (a domain written or not), its version replaced
            let entry = if to == version {
                payload.to_vec()
            } else {
                let mut e =
                    splice::rewrite_fields(payload, |f, _| if f == 2 { FieldEdit::Drop } else { FieldEdit::Keep }).unwrap_or_default();
                e.extend(splice::varint_field(2, to as u64));
                e
            };
            let mut whole = splice::bytes_field(MODEL_OPSET_IMPORT, &entry);
            if add_ms && seen == opsets.len() {
                whole.extend(opset_field("com.microsoft", 1));
            }
            FieldEdit::Replace(whole)
        }
        MODEL_IR_VERSION if format == NBitsFormat::Qdq && splice::read_varint(payload).unwrap_or(0) < 10 => {
            FieldEdit::Replace(splice::varint_field(MODEL_IR_VERSION, 10))
        }
        _ => FieldEdit::Keep,
    })?;
    if add_ms && opsets.is_empty() {
        out.extend(opset_field("com.microsoft", 1));
    }
    Ok(out)
}

/// `MatMulNBitsQuantizer(model, bits, block_size, is_symmetric, accuracy_level,
/// quant_format).process()` of `bytes` (a whole `.onnx` file): the quantized model's bytes and
/// what happened to each MatMul. A model with no MatMul quantscope can quantize is refused
/// (ONNX Runtime would write it back unchanged).
pub fn quantize_nbits(bytes: &[u8], options: &NBitsOptions) -> Result<(Vec<u8>, Report)> {
    options.check()?;
    let mut edit = ModelEdit::open(bytes)?;
    let mut report = Report::default();
    let old_nodes = std::mem::take(&mut edit.graph.nodes);
    let mut nodes: Vec<Kept<NodeProto>> = Vec::with_capacity(old_nodes.len());
    let mut new_initializers = Vec::new();
    let mut quantized_b = Vec::new();
    let mut other_matmuls = 0;
    for kept in old_nodes {
        let n = &kept.message;
        // `op_types_to_quantize` defaults to {"MatMul"}: the op type alone decides
        if n.op_type.as_deref() != Some("MatMul") {
            if n.op_type.as_deref() == Some("Gemm") {
                other_matmuls += 1;
                report.kept.push((
                    format!("Gemm '{}'", n.name.as_deref().unwrap_or("")),
                    "ONNX Runtime's weight-only quantizer rewrites MatMul only".into(),
                ));
            }
            nodes.push(kept);
            continue;
        }
        match eligible(n, &edit)? {
            Err(why) => {
                report.kept.push((label(n), why));
                nodes.push(kept);
            }
            Ok((shape, values)) => {
                let b_name = n.input[1].clone();
                let (new_nodes, inits) = rewrite(n, &b_name, &values, shape[0], shape[1], options);
                report.quantized.push(label(n));
                quantized_b.push(b_name);
                nodes.extend(new_nodes.into_iter().map(Kept::new));
                new_initializers.extend(inits.into_iter().map(Kept::new));
            }
        }
    }
    if report.quantized.is_empty() {
        let why = if report.kept.is_empty() {
            "the model has no MatMul node".to_string()
        } else {
            report.kept.iter().map(|(n, w)| format!("{n}: {w}")).collect::<Vec<_>>().join("; ")
        };
        let hint = if other_matmuls > 0 { " (a Gemm can be written as MatMul + Add before export)" } else { "" };
        return Err(QuantizeError::Unsupported(format!("no MatMul with a constant 2-D float B to quantize to 4 bits: {why}{hint}")));
    }
    edit.graph.nodes = nodes;
    // The float B leaves the graph inputs (IR < 4 lists initializers there) and, once no node
    // reads it, the initializers.
    edit.graph.inputs.retain(|i| !quantized_b.iter().any(|b| i.message.name.as_deref() == Some(b.as_str())));
    edit.graph.initializers.extend(new_initializers);
    graph::clean_initializers(&mut edit.graph)?;
    graph::topological_sort(&mut edit.graph)?;
    edit.producer = Some(("quantscope".into(), env!("CARGO_PKG_VERSION").into()));
    let bytes = set_model_fields(&edit.encode(), &edit.model.opset_import, options.format)?;
    Ok((bytes, report))
}

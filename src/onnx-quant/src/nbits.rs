//! Weight-only 2/4/8-bit quantization of a model's MatMuls: ONNX Runtime's
//! `MatMulNBitsQuantizer` with its default (RTN) config, `DefaultWeightOnlyQuantizer.quantize_matmul`
//! in `onnxruntime/quantization/matmul_nbits_quantizer.py` (onnxruntime 1.32), ported for the
//! main graph.
//!
//! Every MatMul whose B is a FLOAT or FLOAT16 initializer of rank 2 (or more, with unit leading
//! dimensions, squeezed) becomes, with
//! * [`NBitsFormat::QOperator`]: a com.microsoft `MatMulNBits` `<name>_Q<bits>` reading
//!   `<B>_Q<bits>` (`[N, k_blocks, block_size · bits / 8]` uint8), `<B>_scales` (`[N, k_blocks]`)
//!   and, unless symmetric, `<B>_zero_points` (`[N, ceil(k_blocks · bits / 8)]` uint8), with
//!   attributes K, N, bits, block_size (and accuracy_level when not 0); the model imports
//!   com.microsoft 1. 2, 4 or 8 bits.
//! * [`NBitsFormat::Qdq`]: a blocked `DequantizeLinear` `<name>_DQ_Q4` (axis 0, block_size) of
//!   `<B>_DQ_Q4` (int4 when symmetric, else uint4 with `<B>_DQ_zero_points`) and
//!   `<B>_DQ_scales` (`[k_blocks, N]`), then MatMul `<name>_matmul_Q4`; the model's ONNX opset
//!   becomes 21 and its IR version 10 if they were lower (int4 needs both). 4 bits only, as
//!   ONNX Runtime writes it.
//!
//! With [`NBitsOptions::gather`] (`op_types_to_quantize` with Gather), each Gather of a constant
//! FLOAT table becomes com.microsoft `GatherBlockQuantized` (`quantize_gather`), int4/uint4 in
//! blocks along axis 1.
//!
//! A B whose unit leading dimensions were squeezed is followed, when A's recorded rank is lower
//! than B's or unknown, by ONNX Runtime's Shape/Gather/Max/Sub/ConstantOfShape/Slice/Concat/
//! Reshape chain that gives the float MatMul's output shape back.
//!
//! The weights are packed by [`crate::blockwise`] as MLAS packs them, so the initializers are
//! ONNX Runtime's byte for byte; the nodes keep their places and the graph is then sorted and
//! cleaned of the float B as `save_model_to_file` does.
//!
//! Not ported (the node stays a float MatMul and the [`Report`] says why): a batch of B
//! matrices (leading dimensions other than 1, which ONNX Runtime skips too), BFLOAT16 weights
//! (and FLOAT16 ones with HQQ), MatMuls inside subgraphs, GPTQ and k-quant. A FLOAT16 B gets FLOAT16 scales, and its codes come from the reciprocal of the
//! float16-rounded scale, as MLAS's `ScaleT` makes them.

use crate::dynamic::Report;
use crate::gemm::{self, node};
use crate::graph;
use crate::mlp::attr_int;
pub use crate::nbits_options::{NBitsAlgorithm, NBitsFormat, NBitsOptions};
use crate::weights;
use crate::work::{Encoded, WeightJob, WeightShape};
use crate::{QuantizeError, Result};
use prost::Message;
use quantscope_formats::onnx::proto::{AttributeProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto};
use quantscope_formats::onnx::splice::{self, FieldEdit, Kept, ModelEdit};
use quantscope_formats::onnx::tensor::DType;

fn label(n: &NodeProto) -> String {
    format!("MatMul '{}'", n.name.as_deref().unwrap_or(""))
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

/// `name + suffix`, or no name for a node without one.
fn suffixed(n: &NodeProto, suffix: &str) -> String {
    match n.name.as_deref() {
        Some(s) if !s.is_empty() => format!("{s}{suffix}"),
        _ => String::new(),
    }
}

/// One MatMul's B as the file needs it: `[k, n]`, and its original shape when that had unit
/// leading dimensions that were squeezed away.
#[derive(Debug, Clone)]
struct MatMulWeight {
    /// B is FLOAT16: its scales are written (and rounded) as float16 too.
    half: bool,
    k: usize,
    n: usize,
    original_shape: Option<Vec<usize>>,
}

/// The nodes and initializers that replace one MatMul, from its weight's encoded `parts`
/// ([`WeightJob::encode`]). `a_rank` is A's static rank, if the graph records it: when B lost
/// leading dimensions and A's rank may be below B's, the output is reshaped back to the shape the
/// float MatMul had (`_build_nbits_output_reshape`).
fn rewrite(
    n: &NodeProto,
    b_name: &str,
    w: &MatMulWeight,
    a_rank: Option<usize>,
    o: &NBitsOptions,
    parts: Vec<Vec<u8>>,
) -> Result<(Vec<NodeProto>, Vec<TensorProto>)> {
    let (k, cols, bs, bits) = (w.k, w.n, o.block_size, o.bits);
    let k_blocks = k.div_ceil(bs);
    let per_byte = (8 / bits) as usize;
    let needs_reshape = w.original_shape.as_ref().is_some_and(|s| a_rank.map_or(true, |r| r < s.len()));
    let final_output = n.output[0].clone();
    let out = if needs_reshape { format!("{final_output}_pre_reshape") } else { final_output.clone() };
    let scale_type = if w.half { DType::F16 } else { DType::F32 };
    let mut parts = Parts::new(b_name, parts);
    let (mut nodes, mut inits, prefix) = match o.format {
        NBitsFormat::QOperator if o.algorithm == NBitsAlgorithm::Hqq => {
            // `numpy_helper.from_array` of the flat scales and zero points
            let q = parts.tensor(format!("{b_name}_Q{bits}"), DType::U8, &[cols, k_blocks, bs / per_byte])?;
            let s = parts.tensor(format!("{b_name}_scales"), DType::F32, &[cols * k_blocks])?;
            let zp = parts.tensor(format!("{b_name}_zero_points"), DType::F32, &[cols * k_blocks])?;
            let inputs = vec![n.input[0].clone(), q.name.clone().unwrap(), s.name.clone().unwrap(), zp.name.clone().unwrap()];
            let mut m = node("MatMulNBits", inputs, vec![out.clone()], &suffixed(n, &format!("_Q{bits}")));
            m.domain = Some("com.microsoft".into());
            m.attribute.extend([
                attr_int("K", k as i64),
                attr_int("N", cols as i64),
                attr_int("bits", i64::from(bits)),
                attr_int("block_size", bs as i64),
            ]);
            (vec![m], vec![q, s, zp], prefix_of(n, b_name, &format!("_Q{bits}")))
        }
        NBitsFormat::QOperator => {
            let q = parts.tensor(format!("{b_name}_Q{bits}"), DType::U8, &[cols, k_blocks, bs / per_byte])?;
            let s = parts.tensor(format!("{b_name}_scales"), scale_type, &[cols, k_blocks])?;
            let mut inputs = vec![n.input[0].clone(), q.name.clone().unwrap(), s.name.clone().unwrap()];
            let mut inits = vec![q, s];
            if !o.symmetric {
                let zp = parts.tensor(format!("{b_name}_zero_points"), DType::U8, &[cols, k_blocks.div_ceil(per_byte)])?;
                inputs.push(zp.name.clone().unwrap());
                inits.push(zp);
            }
            let mut m = node("MatMulNBits", inputs, vec![out.clone()], &suffixed(n, &format!("_Q{bits}")));
            m.domain = Some("com.microsoft".into());
            // make_node(**kwargs) writes the attributes sorted by name
            m.attribute.extend([attr_int("K", k as i64), attr_int("N", cols as i64)]);
            if o.accuracy_level != 0 {
                m.attribute.push(attr_int("accuracy_level", o.accuracy_level));
            }
            m.attribute.extend([attr_int("bits", i64::from(bits)), attr_int("block_size", bs as i64)]);
            (vec![m], inits, prefix_of(n, b_name, &format!("_Q{bits}")))
        }
        NBitsFormat::Qdq => {
            let qtype = if o.symmetric { DType::I4 } else { DType::U4 };
            let q = parts.tensor(format!("{b_name}_DQ_Q4"), qtype, &[k, cols])?;
            let s = parts.tensor(format!("{b_name}_DQ_scales"), scale_type, &[k_blocks, cols])?;
            let dq_out = format!("{b_name}_DQ_Q4_output");
            let mut dq_inputs = vec![q.name.clone().unwrap(), s.name.clone().unwrap()];
            let mut inits = vec![q, s];
            if !o.symmetric {
                let zp = parts.tensor(format!("{b_name}_DQ_zero_points"), qtype, &[k_blocks, cols])?;
                dq_inputs.push(zp.name.clone().unwrap());
                inits.push(zp);
            }
            let mut dq = node("DequantizeLinear", dq_inputs, vec![dq_out.clone()], &suffixed(n, "_DQ_Q4"));
            dq.attribute.extend([attr_int("axis", 0), attr_int("block_size", bs as i64)]);
            let mm = node("MatMul", vec![n.input[0].clone(), dq_out], vec![out.clone()], &suffixed(n, "_matmul_Q4"));
            (vec![dq, mm], inits, prefix_of(n, b_name, "_DQ_Q4"))
        }
    };
    parts.done()?;
    if let (true, Some(shape)) = (needs_reshape, &w.original_shape) {
        let (more_nodes, more_inits) = output_reshape(&n.input[0], shape, &format!("{prefix}_{final_output}"), &out, &final_output);
        nodes.extend(more_nodes);
        inits.extend(more_inits);
    }
    Ok((nodes, inits))
}

/// A weight's encoded parts taken in order as the initializers they are, each checked to be
/// the size its type and shape say (a worker's answer is not trusted).
struct Parts<'a> {
    weight: &'a str,
    parts: std::vec::IntoIter<Vec<u8>>,
}

impl<'a> Parts<'a> {
    fn new(weight: &'a str, parts: Vec<Vec<u8>>) -> Parts<'a> {
        Parts { weight, parts: parts.into_iter() }
    }

    fn bad(&self, why: String) -> QuantizeError {
        QuantizeError::Weight { name: self.weight.to_string(), why }
    }

    fn tensor(&mut self, name: String, dtype: DType, dims: &[usize]) -> Result<TensorProto> {
        let raw = self.parts.next().ok_or_else(|| self.bad(format!("its encoding has no part for '{name}'")))?;
        let bits = dims.iter().try_fold(dtype.bits() as usize, |a, &d| a.checked_mul(d));
        let expected = bits.map_or(usize::MAX, |b| b.div_ceil(8));
        if expected != raw.len() {
            return Err(self.bad(format!("'{name}' was encoded to {} bytes, not {expected}", raw.len())));
        }
        Ok(raw_tensor(name, dtype, dims, raw))
    }

    fn done(mut self) -> Result<()> {
        match self.parts.next() {
            Some(_) => Err(self.bad("its encoding has more parts than the file takes".into())),
            None => Ok(()),
        }
    }
}

/// The reshape chain's name prefix: the node's name, or B's when the node has none.
fn prefix_of(n: &NodeProto, b_name: &str, suffix: &str) -> String {
    match n.name.as_deref() {
        Some(s) if !s.is_empty() => format!("{s}{suffix}"),
        _ => format!("{b_name}{suffix}"),
    }
}

/// `_build_nbits_output_reshape`'s nodes in its order: op type, inputs, output and node name;
/// a name starting with `_` is suffixed to the chain's prefix, `A` is MatMul's A, `PRE` the
/// quantized MatMul's output and `FIN` the float MatMul's.
const RESHAPE_CHAIN: [(&str, &[&str], &str, &str); 13] = [
    ("Shape", &["A"], "_a_shape", "_shape_a"),
    ("Shape", &["_a_shape"], "_a_shape_of_shape", "_shape_of_a_shape"),
    ("Gather", &["_a_shape_of_shape", "_zero"], "_a_rank", "_gather_rank"),
    ("Max", &["_a_rank", "_two"], "_a_rank_eff", "_max_rank_eff"),
    ("Sub", &["_rank_b", "_a_rank_eff"], "_extra_raw", "_sub"),
    ("Max", &["_extra_raw", "_zero"], "_extra_count", "_max"),
    ("Reshape", &["_extra_count", "_one_vec"], "_extra_count_vec", "_reshape_extra"),
    ("ConstantOfShape", &["_extra_count_vec"], "_extra_ones", "_const_ones"),
    ("Sub", &["_a_rank", "_one"], "_a_rank_m1", "_sub_one"),
    ("Reshape", &["_a_rank_m1", "_one_vec"], "_a_rank_m1_vec", "_reshape_rank_m1"),
    ("Slice", &["_a_shape", "_zero_vec", "_a_rank_m1_vec", "_zero_vec"], "_a_prefix_shape", "_slice_a_prefix"),
    ("Concat", &["_extra_ones", "_a_prefix_shape", "_n_vec"], "_target_shape", "_concat_target"),
    ("Reshape", &["PRE", "_target_shape"], "FIN", "_reshape_out"),
];

/// `_build_nbits_output_reshape` (matmul_nbits_quantizer.py): MatMulNBits' output has A's
/// rank, the float MatMul's had `max(rank(B), rank(A))` with B's unit leading dimensions in
/// front, so the output is reshaped to
/// `[1] * max(rank(B) - max(rank(A), 2), 0) + A.shape[:-1] + [N]`, computed in the graph (A's
/// rank may be unknown until it runs). `p` prefixes every name.
fn output_reshape(a: &str, b_shape: &[usize], p: &str, pre: &str, fin: &str) -> (Vec<NodeProto>, Vec<TensorProto>) {
    let name = |s: &str| match s {
        "A" => a.to_string(),
        "PRE" => pre.to_string(),
        "FIN" => fin.to_string(),
        _ => format!("{p}{s}"),
    };
    let n_dim = *b_shape.last().expect("B has at least 3 dimensions") as i64;
    let inits = [
        ("_zero", 0, 0),
        ("_one", 0, 1),
        ("_two", 0, 2),
        ("_one_vec", 1, 1),
        ("_rank_b", 0, b_shape.len() as i64),
        ("_n_vec", 1, n_dim),
        ("_zero_vec", 1, 0),
    ]
    .iter()
    .map(|&(suffix, rank, v)| raw_tensor(name(suffix), DType::I64, &[1][..rank], v.to_le_bytes().to_vec()))
    .collect();
    let nodes = RESHAPE_CHAIN
        .iter()
        .map(|&(op, inputs, output, node_name)| {
            let mut n = node(op, inputs.iter().map(|i| name(i)).collect(), vec![name(output)], &name(node_name));
            match op {
                "ConstantOfShape" => {
                    // onnx.helper.make_tensor(vals=[1]): int64_data, not raw
                    let t = TensorProto {
                        dims: vec![1],
                        data_type: Some(DType::I64.onnx_id()),
                        int64_data: vec![1],
                        name: Some(name("_one_value")),
                        ..Default::default()
                    };
                    n.attribute.push(AttributeProto { name: Some("value".into()), r#type: Some(4), t: Some(t), ..Default::default() });
                }
                "Concat" => n.attribute.push(attr_int("axis", 0)),
                _ => {}
            }
            n
        })
        .collect();
    (nodes, inits)
}

/// A MatMul's B and its `[k, n]` values, or why the MatMul is left in float.
type Eligible = std::result::Result<(MatMulWeight, Vec<f32>), String>;

fn eligible(n: &NodeProto, edit: &ModelEdit, algorithm: NBitsAlgorithm) -> Result<Eligible> {
    let Some(b_name) = n.input.get(1).filter(|s| !s.is_empty()) else {
        return Ok(Err("it has no B".into()));
    };
    let Some(t) = edit.graph.initializer(b_name) else {
        return Ok(Err("its B is not a constant (ONNX Runtime quantizes only an initializer B)".into()));
    };
    if n.input.first().map_or(true, |a| a.is_empty()) {
        return Ok(Err("it has no A".into()));
    }
    let half = t.data_type == Some(DType::F16.onnx_id());
    let floats = if half { weights::half_values(t)? } else { weights::float_values(t)? };
    let Some((shape, values)) = floats else {
        return Ok(Err(format!(
            "its B '{b_name}' is {}, not FLOAT or FLOAT16 (ONNX Runtime also packs BFLOAT16 weights; quantscope does not yet)",
            DType::from_onnx(t.data_type.unwrap_or(0)).map_or("an unknown type".to_string(), |d| d.name().to_string())
        )));
    };
    if half && algorithm == NBitsAlgorithm::Hqq {
        return Ok(Err(format!("its B '{b_name}' is FLOAT16: quantscope's HQQ takes FLOAT weights (round to nearest takes both)")));
    }
    let r = shape.len();
    if r < 2 {
        return Ok(Err(format!("its B has {r} dimension(s); ONNX Runtime quantizes a 2-D B")));
    }
    let (k, cols) = (shape[r - 2], shape[r - 1]);
    let leading = &shape[..r - 2];
    if leading.iter().any(|&d| d != 1) {
        return Ok(Err(format!(
            "its B has shape {shape:?}: a batch of matrices (ONNX Runtime quantizes a 2-D B, or one whose leading dimensions are all 1)"
        )));
    }
    Ok(Ok((MatMulWeight { half, k, n: cols, original_shape: (r > 2).then_some(shape) }, values)))
}

/// `_get_static_rank`: the rank of `name` as the graph's inputs, value_info and outputs record
/// it (the first entry of that name decides; one without a shape gives none).
fn static_rank(name: &str, edit: &ModelEdit, value_info: &[ValueInfoProto]) -> Option<usize> {
    let inputs = edit.graph.inputs.iter().map(|i| &i.message);
    let entry = inputs.chain(value_info).chain(&edit.graph.rest.output).find(|v| v.name.as_deref() == Some(name))?;
    entry.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref().map(|s| s.dim.len())
}

/// A Gather's constant FLOAT data `(shape, values, gather axis)`, or why it stays float.
type GatherData = std::result::Result<(Vec<usize>, Vec<f32>, i64), String>;

fn gather_eligible(n: &NodeProto, edit: &ModelEdit) -> Result<GatherData> {
    let Some(data) = n.input.first().filter(|s| !s.is_empty()) else {
        return Ok(Err("it has no data".into()));
    };
    let Some(t) = edit.graph.initializer(data) else {
        return Ok(Err("its data is not a constant (ONNX Runtime quantizes only an initializer)".into()));
    };
    let Some((shape, values)) = weights::float_values(t)? else {
        return Ok(Err(format!("its data '{data}' is not FLOAT (quantscope quantizes FLOAT Gather data)")));
    };
    if shape.len() < 2 {
        return Ok(Err(format!("its data has shape {shape:?}: quantize axis 1 needs two dimensions")));
    }
    let axis = gemm::int_attr(n, "axis", 0);
    Ok(Ok((shape, values, axis)))
}

/// `quantize_gather`: the Gather becomes com.microsoft `GatherBlockQuantized` `<name>_Q4` over
/// `<data>_Q4` (int4 when symmetric, else uint4 with `<data>_zero_points`) and `<data>_scales`,
/// quantized in blocks along axis 1 (the encoded `parts` of its [`WeightJob`]).
fn gather_rewrite(
    n: &NodeProto,
    data: &str,
    shape: &[usize],
    gather_axis: i64,
    o: &NBitsOptions,
    parts: Vec<Vec<u8>>,
) -> Result<(NodeProto, Vec<TensorProto>)> {
    let qtype = if o.symmetric { DType::I4 } else { DType::U4 };
    let mut scales_shape = shape.to_vec();
    scales_shape[1] = shape[1].div_ceil(o.block_size);
    let mut parts = Parts::new(data, parts);
    let q = parts.tensor(format!("{data}_Q4"), qtype, shape)?;
    let s = parts.tensor(format!("{data}_scales"), DType::F32, &scales_shape)?;
    let mut inputs = vec![q.name.clone().unwrap(), n.input[1].clone(), s.name.clone().unwrap()];
    let mut inits = vec![q, s];
    if !o.symmetric {
        let zp = parts.tensor(format!("{data}_zero_points"), qtype, &scales_shape)?;
        inputs.push(zp.name.clone().unwrap());
        inits.push(zp);
    }
    parts.done()?;
    let mut g = node("GatherBlockQuantized", inputs, vec![n.output[0].clone()], &suffixed(n, "_Q4"));
    g.domain = Some("com.microsoft".into());
    g.attribute.extend([attr_int("block_size", o.block_size as i64), attr_int("gather_axis", gather_axis), attr_int("quantize_axis", 1)]);
    Ok((g, inits))
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
fn set_model_fields(bytes: &[u8], opsets: &[OperatorSetIdProto], format: NBitsFormat, gather: bool) -> Result<Vec<u8>> {
    let add_ms = format == NBitsFormat::QOperator && !opsets.iter().any(|o| o.domain.as_deref() == Some("com.microsoft"));
    // int4 tensors (QDQ's weights, GatherBlockQuantized's data) need opset 21 and IR version 10
    let int4 = format == NBitsFormat::Qdq || gather;
    let mut seen = 0;
    let mut out = splice::rewrite_fields(bytes, |number, payload| match number {
        MODEL_OPSET_IMPORT => {
            seen += 1;
            let o = OperatorSetIdProto::decode(payload).unwrap_or_default();
            let version = o.version.unwrap_or(0);
            let to = match (format, o.domain.as_deref().unwrap_or("")) {
                (NBitsFormat::QOperator, "com.microsoft") => 1,
                (_, "" | "ai.onnx") if int4 => version.max(21),
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
        MODEL_IR_VERSION if int4 && splice::read_varint(payload).unwrap_or(0) < 10 => {
            FieldEdit::Replace(splice::varint_field(MODEL_IR_VERSION, 10))
        }
        _ => FieldEdit::Keep,
    })?;
    if add_ms && opsets.is_empty() {
        out.extend(opset_field("com.microsoft", 1));
    }
    Ok(out)
}

/// What one of the model's nodes becomes.
enum Step {
    /// It stays as it is.
    Keep(Kept<NodeProto>),
    /// A MatMul quantized from its B's job.
    MatMul { node: NodeProto, b_name: String, weight: MatMulWeight, a_rank: Option<usize> },
    /// A Gather quantized from its table's job.
    Gather { node: NodeProto, data: String, shape: Vec<usize>, axis: i64 },
}

/// `MatMulNBitsQuantizer.process` in two halves with the weights' quantization between them:
/// [`NBitsWork::plan`] reads the model and gives one [`WeightJob`] per weight it quantizes, in
/// node order; each job is encoded anywhere ([`WeightJob::encode`], a page's pool worker);
/// [`NBitsWork::finish`] takes the encoded weights by job number and writes the file, so the
/// file is the same whichever worker encoded which weight, and when.
pub struct NBitsWork {
    options: NBitsOptions,
    edit: ModelEdit,
    steps: Vec<Step>,
    jobs: Vec<WeightJob>,
    report: Report,
}

impl NBitsWork {
    /// The model in `bytes` read and its weights to quantize found; a model with no MatMul
    /// quantscope can quantize is refused (ONNX Runtime would write it back unchanged).
    pub fn plan(bytes: &[u8], options: &NBitsOptions) -> Result<NBitsWork> {
        options.check()?;
        let mut edit = ModelEdit::open(bytes)?;
        let value_info = edit.graph.value_info()?;
        let mut report = Report::default();
        let old_nodes = std::mem::take(&mut edit.graph.nodes);
        let mut steps = Vec::with_capacity(old_nodes.len());
        let mut jobs = Vec::new();
        let mut other_matmuls = 0;
        for kept in old_nodes {
            let n = &kept.message;
            // `op_types_to_quantize` defaults to {"MatMul"}: the op type alone decides
            if options.gather && n.op_type.as_deref() == Some("Gather") {
                match gather_eligible(n, &edit)? {
                    Err(why) => {
                        report.kept.push((format!("Gather '{}'", n.name.as_deref().unwrap_or("")), why));
                        steps.push(Step::Keep(kept));
                    }
                    Ok((shape, values, axis)) => {
                        let data = n.input[0].clone();
                        report.quantized.push(format!("Gather '{}'", n.name.as_deref().unwrap_or("")));
                        jobs.push(WeightJob { weight: data.clone(), shape: WeightShape::Gather { shape: shape.clone() }, values });
                        steps.push(Step::Gather { node: kept.message, data, shape, axis });
                    }
                }
                continue;
            }
            if n.op_type.as_deref() != Some("MatMul") {
                if n.op_type.as_deref() == Some("Gemm") {
                    other_matmuls += 1;
                    report.kept.push((
                        format!("Gemm '{}'", n.name.as_deref().unwrap_or("")),
                        "ONNX Runtime's weight-only quantizer rewrites MatMul only".into(),
                    ));
                }
                steps.push(Step::Keep(kept));
                continue;
            }
            match eligible(n, &edit, options.algorithm)? {
                Err(why) => {
                    report.kept.push((label(n), why));
                    steps.push(Step::Keep(kept));
                }
                Ok((weight, values)) => {
                    let b_name = n.input[1].clone();
                    let a_rank = static_rank(&n.input[0], &edit, &value_info);
                    report.quantized.push(label(n));
                    let shape = WeightShape::MatMul { k: weight.k, n: weight.n, half: weight.half };
                    jobs.push(WeightJob { weight: b_name.clone(), shape, values });
                    steps.push(Step::MatMul { node: kept.message, b_name, weight, a_rank });
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
            return Err(QuantizeError::Unsupported(format!(
                "no MatMul with a constant 2-D float B to quantize to {} bits: {why}{hint}",
                options.bits
            )));
        }
        Ok(NBitsWork { options: *options, edit, steps, jobs, report })
    }

    /// The weights to quantize, job `i` at `i`.
    pub fn jobs(&self) -> &[WeightJob] {
        &self.jobs
    }

    /// The jobs handed out (their values leave this work; [`NBitsWork::finish`] needs only
    /// their encodings).
    pub fn take_jobs(&mut self) -> Vec<WeightJob> {
        std::mem::take(&mut self.jobs)
    }

    /// The options every job is encoded with.
    pub fn options(&self) -> &NBitsOptions {
        &self.options
    }

    /// The file, from `encoded[i]`, job `i`'s encoding (as [`WeightJob::encode`] gave it, on
    /// any worker): the quantized model's bytes and what happened to each MatMul.
    pub fn finish(self, encoded: Vec<Encoded>) -> Result<(Vec<u8>, Report)> {
        let NBitsWork { options, mut edit, steps, report, .. } = self;
        let weights = steps.iter().filter(|s| !matches!(s, Step::Keep(_))).count();
        if encoded.len() != weights {
            return Err(QuantizeError::Unsupported(format!("{} encoded weights for the {weights} the model quantizes", encoded.len())));
        }
        let mut encoded = encoded.into_iter();
        let mut nodes: Vec<Kept<NodeProto>> = Vec::with_capacity(steps.len());
        let mut new_initializers = Vec::new();
        let mut quantized_b = Vec::new();
        for step in steps {
            match step {
                Step::Keep(kept) => nodes.push(kept),
                Step::MatMul { node, b_name, weight, a_rank } => {
                    let parts = encoded.next().expect("one encoding per weight, counted above").parts;
                    let (new_nodes, inits) = rewrite(&node, &b_name, &weight, a_rank, &options, parts)?;
                    quantized_b.push(b_name);
                    nodes.extend(new_nodes.into_iter().map(Kept::new));
                    new_initializers.extend(inits.into_iter().map(Kept::new));
                }
                Step::Gather { node, data, shape, axis } => {
                    let parts = encoded.next().expect("one encoding per weight, counted above").parts;
                    let (new_node, inits) = gather_rewrite(&node, &data, &shape, axis, &options, parts)?;
                    quantized_b.push(data);
                    nodes.push(Kept::new(new_node));
                    new_initializers.extend(inits.into_iter().map(Kept::new));
                }
            }
        }
        edit.graph.nodes = nodes;
        // The float B leaves the graph inputs (IR < 4 lists initializers there) and, once no node
        // reads it, the initializers.
        edit.graph.inputs.retain(|i| !quantized_b.iter().any(|b| i.message.name.as_deref() == Some(b.as_str())));
        edit.graph.initializers.extend(new_initializers);
        graph::clean_initializers(&mut edit.graph)?;
        graph::topological_sort(&mut edit.graph)?;
        edit.producer = Some(("quantscope".into(), env!("CARGO_PKG_VERSION").into()));
        let bytes = set_model_fields(&edit.encode(), &edit.model.opset_import, options.format, options.gather)?;
        Ok((bytes, report))
    }
}

/// `MatMulNBitsQuantizer(model, bits, block_size, is_symmetric, accuracy_level,
/// quant_format).process()` of `bytes` (a whole `.onnx` file): the quantized model's bytes and
/// what happened to each MatMul, every weight encoded here in turn ([`NBitsWork`] with one
/// worker). A model with no MatMul quantscope can quantize is refused.
pub fn quantize_nbits(bytes: &[u8], options: &NBitsOptions) -> Result<(Vec<u8>, Report)> {
    let mut work = NBitsWork::plan(bytes, options)?;
    let encoded = work.take_jobs().iter().map(|job| job.encode(options)).collect::<Result<Vec<_>>>()?;
    work.finish(encoded)
}

//! A model's float32 weights in half precision (FP16 or BF16), its float32 inputs and outputs
//! kept by Cast nodes: `onnxconverter_common.float16.convert_float_to_float16(model,
//! keep_io_types=True)` (onnxconverter-common 1.16.0, `onnxconverter_common/float16.py`), ported
//! for the main graph, with BFLOAT16 as a second target type.
//!
//! What the reference does, step by step, and here in the same order (so the nodes come out
//! with the same names, wiring and order):
//! 1. each float32 graph input gets a Cast to half per node reading it, named and written
//!    `<input>_cast_to_<node>` (`process_graph_input`);
//! 2. tensors in attributes of nodes not in the block list (`Constant` values and the like) are
//!    converted (`process_tensor_in_node`);
//! 3. every node of an op in [`DEFAULT_OP_BLOCK_LIST`] stays float32: a Cast to float32
//!    `<node>_input_cast<i>` → `<node>_input_cast_<i>` before each half input, a Cast to half
//!    `<node>_output_cast<i>` after each float output (`process_node_in_block_list`);
//! 4. each float32 graph output is written by a Cast to float32 named and read as
//!    `<producer>_cast_to_<output>` (`process_graph_output`);
//! 5. the nodes are sorted as `sort_graph_node` sorts them, and a Cast to half whose only
//!    reader is a Cast to float32 is removed with it (`remove_unnecessary_cast_node`);
//! 6. float32 initializers are converted, except those only blocked nodes read
//!    (`process_initializers`). FP16 values keep their sign and finiteness as
//!    `convert_np_to_float16` keeps them: 0 < |x| < 1e-7 becomes ±1e-7, 1e4 < |x| < ∞ becomes
//!    ±1e4 (its defaults `min_positive_val`, `max_finite_val`), then round to nearest even.
//!    BF16 has float32's range: round to nearest even (as ml_dtypes and torch), nothing clamped.
//!
//! Where the reference writes a file ONNX Runtime refuses, quantscope writes one it loads (each
//! case is a fixture in `scripts/fixtures/make_onnx_float16.py`):
//! * a Cast to float32 inside the graph casts to half instead (the reference leaves `to` =
//!   FLOAT while its value_info says FLOAT16: "Type Error ... does not match expected type");
//! * nodes that also read a graph output read the half value (the reference leaves them the
//!   float32 copy: "bound to different types");
//! * an initializer also listed as a graph input (IR < 4) is converted as an initializer and its
//!   input entry retyped, not given a Cast;
//! * a graph input read by two unnamed nodes gets one Cast, not two writing the same name;
//! * an initializer read by a blocked node and by others is converted, and the blocked node
//!   reads it through a Cast;
//! * a blocked node writing a graph output writes it in float32 directly.
//!
//! Refused with a reason: a model already in half precision (the reference's
//! `check_if_fp16_ready`), a model without float32 weights, subgraphs (`If`/`Loop`/`Scan`: not
//! ported), and for BF16 a model whose ops ONNX does not allow in bfloat16 at its opset (Cast,
//! MatMul, Add, ... from opset 13; Conv, LSTM, MaxPool from 22; `bf16_opsets.rs`).

use crate::bf16_opsets::BF16_SINCE;
use crate::gemm::node;
use crate::types::{self, FLOAT};
use crate::{QuantizeError, Result};
use half::{bf16, f16};
use prost::Message;
use quantscope_formats::onnx::proto::{AttributeProto, NodeProto, TensorProto};
use quantscope_formats::onnx::splice::{bytes_field, rewrite_fields, varint_field, FieldEdit, Kept, ModelEdit};
use std::collections::{HashMap, HashSet};

/// The half-precision type the weights are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// IEEE 754 binary16 (`TensorProto.FLOAT16`).
    F16,
    /// bfloat16 (`TensorProto.BFLOAT16`): float32's exponent, 8 bits of significand.
    BF16,
}

impl Half {
    pub fn onnx_type(self) -> i32 {
        match self {
            Half::F16 => types::FLOAT16,
            Half::BF16 => types::BFLOAT16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Half::F16 => "float16",
            Half::BF16 => "bfloat16",
        }
    }

    /// One float32 value's bits in this type (FP16 clamped as the reference clamps), counted
    /// in `report` when clamped.
    fn bits(self, x: f32, report: &mut HalfReport) -> u16 {
        match self {
            Half::BF16 => bf16::from_f32(x).to_bits(),
            Half::F16 => {
                let clamped = if 0.0 < x.abs() && x.abs() < MIN_POSITIVE {
                    report.clamped_small += 1;
                    MIN_POSITIVE.copysign(x)
                } else if MAX_FINITE < x.abs() && x.is_finite() {
                    report.clamped_large += 1;
                    MAX_FINITE.copysign(x)
                } else {
                    x
                };
                f16::from_f32(clamped).to_bits()
            }
        }
    }
}

/// `convert_float_to_float16`'s defaults: smaller magnitudes become this (FP16 only) ...
pub const MIN_POSITIVE: f32 = 1e-7;
/// ... and larger finite magnitudes this.
pub const MAX_FINITE: f32 = 1e4;

/// `DEFAULT_OP_BLOCK_LIST`: ops the reference keeps in float32 (ai.onnx.ml's, and ops whose
/// ONNX Runtime kernels have no float16 or that need float32 precision).
pub const DEFAULT_OP_BLOCK_LIST: [&str; 28] = [
    "ArrayFeatureExtractor",
    "Binarizer",
    "CastMap",
    "CategoryMapper",
    "DictVectorizer",
    "FeatureVectorizer",
    "Imputer",
    "LabelEncoder",
    "LinearClassifier",
    "LinearRegressor",
    "Normalizer",
    "OneHotEncoder",
    "RandomUniformLike",
    "SVMClassifier",
    "SVMRegressor",
    "Scaler",
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "ZipMap",
    "NonMaxSuppression",
    "TopK",
    "RoiAlign",
    "Resize",
    "Range",
    "CumSum",
    "Min",
    "Max",
    "Upsample",
];

/// What the conversion did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HalfReport {
    /// Tensors converted (initializers and tensors in node attributes) and their elements.
    pub tensors: usize,
    pub values: usize,
    /// FP16 only: values 0 < |x| < 1e-7 raised to ±1e-7, and 1e4 < |x| < ∞ lowered to ±1e4.
    pub clamped_small: usize,
    pub clamped_large: usize,
    /// The nodes kept in float32 (their op is in the block list).
    pub kept_float: Vec<String>,
    /// Cast nodes in the written model that the conversion added.
    pub casts: usize,
}

fn label(n: &NodeProto) -> String {
    format!("{} '{}'", n.op_type.as_deref().unwrap_or("?"), n.name.as_deref().unwrap_or(""))
}

fn op(n: &NodeProto) -> &str {
    n.op_type.as_deref().unwrap_or("")
}

fn name(n: &NodeProto) -> &str {
    n.name.as_deref().unwrap_or("")
}

fn blocked(n: &NodeProto) -> bool {
    DEFAULT_OP_BLOCK_LIST.contains(&op(n))
}

/// The `to` of a Cast node (the reference reads its first attribute).
fn cast_to(n: &NodeProto) -> Option<i64> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some("to")).and_then(|a| a.i)
}

/// `add_cast_node`: `make_node("Cast", [input], [output], to=to, name=name)`.
fn cast(input: &str, output: &str, name: &str, to: i32) -> NodeProto {
    let mut n = node("Cast", vec![input.into()], vec![output.into()], name);
    n.attribute.push(AttributeProto { name: Some("to".into()), r#type: Some(2), i: Some(i64::from(to)), ..Default::default() });
    n
}

/// A float32 `TensorProto`'s bytes converted (`convert_tensor_float_to_float16`): its
/// `data_type` set, `raw_data` rewritten in place, `float_data` replaced by `int32_data` holding
/// the half bits; every other field as it was.
/// `t` is `payload` decoded.
fn convert_tensor(t: &TensorProto, payload: &[u8], half: Half, report: &mut HalfReport) -> Result<Vec<u8>> {
    let tensor_name = t.name.clone().unwrap_or_default();
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(QuantizeError::Weight {
            name: tensor_name,
            why: "its data is in an external file, which the page does not have".into(),
        });
    }
    let mut bits_of = |values: &mut dyn Iterator<Item = f32>| -> Vec<u16> { values.map(|x| half.bits(x, report)).collect() };
    let mut float_data_written = false;
    let mut count = 0;
    let out = rewrite_fields(payload, |number, field| match number {
        2 => FieldEdit::Replace(varint_field(2, half.onnx_type() as u64)),
        4 if float_data_written => FieldEdit::Drop,
        4 if !t.float_data.is_empty() => {
            // onnx.proto's int32_data is packed: the half bits as varints
            float_data_written = true;
            let bits = bits_of(&mut t.float_data.iter().copied());
            count += bits.len();
            let mut packed = Vec::new();
            for b in bits {
                packed.extend(varint_field(0, u64::from(b)).into_iter().skip(1));
            }
            FieldEdit::Replace(bytes_field(5, &packed))
        }
        9 if !field.is_empty() => {
            let values = &mut field.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            let bits = bits_of(values);
            count += bits.len();
            let raw: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
            FieldEdit::Replace(bytes_field(9, &raw))
        }
        _ => FieldEdit::Keep,
    })?;
    if t.raw_data.as_ref().is_some_and(|r| r.len() % 4 != 0) {
        return Err(QuantizeError::Weight { name: tensor_name, why: "its raw_data is not a whole number of float32 values".into() });
    }
    report.tensors += 1;
    report.values += count;
    Ok(out)
}

/// The same for a tensor held in a node's attribute.
fn convert_attribute_tensor(t: &mut TensorProto, half: Half, report: &mut HalfReport) -> Result<()> {
    let bytes = convert_tensor(t, &t.encode_to_vec(), half, report)?;
    *t = TensorProto::decode(&bytes[..]).map_err(|e| QuantizeError::Unsupported(format!("a converted tensor cannot be read: {e}")))?;
    Ok(())
}

/// The reference's `check_if_fp16_ready` (any FLOAT16 input, output, value_info, initializer or
/// Cast to FLOAT16), with BFLOAT16 counted as half too.
fn already_half(edit: &ModelEdit) -> Result<Option<String>> {
    let is_half = |t: i32| t == types::FLOAT16 || t == types::BFLOAT16;
    let g = &edit.graph;
    let recorded = g.value_info()?;
    let values = g.inputs.iter().map(|v| &v.message).chain(&g.rest.output).chain(&recorded);
    for v in values {
        if let Some(t) = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).and_then(|t| t.elem_type).filter(|&t| is_half(t)) {
            return Ok(Some(format!("value '{}' is {}", v.name.as_deref().unwrap_or(""), type_name(t))));
        }
    }
    if let Some(t) = g.initializers.iter().map(|t| &t.message).find(|t| t.data_type.is_some_and(is_half)) {
        return Ok(Some(format!("initializer '{}' is {}", t.name.as_deref().unwrap_or(""), type_name(t.data_type.unwrap_or(0)))));
    }
    if let Some(n) = g.nodes.iter().map(|n| &n.message).find(|n| op(n) == "Cast" && cast_to(n).is_some_and(|t| is_half(t as i32))) {
        return Ok(Some(format!("{} casts to {}", label(n), type_name(cast_to(n).unwrap_or(0) as i32))));
    }
    Ok(None)
}

fn type_name(t: i32) -> &'static str {
    match t {
        types::FLOAT16 => "float16",
        types::BFLOAT16 => "bfloat16",
        _ => "float32",
    }
}

/// `sort_graph_node`: repeatedly the first node (in the current order) reading no output of a
/// node not yet taken; nodes left when every output is taken go first, as in the reference.
/// A value stays pending until the first node writing it is taken, and a node once free stays
/// free, so "the first free node" is the smallest index in a heap of free nodes: the
/// reference's order in O(n log n) rather than its O(n²) scans.
fn sort_nodes(nodes: Vec<Kept<NodeProto>>) -> Result<Vec<Kept<NodeProto>>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut pending: HashSet<&str> = nodes.iter().flat_map(|n| n.message.output.iter().map(String::as_str)).collect();
    // per node, how many of its inputs (each occurrence) are pending; per value, who reads it
    let mut waiting = vec![0usize; nodes.len()];
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut free = BinaryHeap::new();
    for (k, n) in nodes.iter().enumerate() {
        for i in n.message.input.iter().filter(|i| pending.contains(i.as_str())) {
            waiting[k] += 1;
            readers.entry(i.as_str()).or_default().push(k);
        }
        if waiting[k] == 0 {
            free.push(Reverse(k));
        }
    }
    let mut taken = vec![false; nodes.len()];
    let mut sorted = Vec::with_capacity(nodes.len());
    while !pending.is_empty() {
        let Some(Reverse(k)) = free.pop() else {
            return Err(QuantizeError::Unsupported("the graph has a cycle: no node can come next".into()));
        };
        taken[k] = true;
        sorted.push(k);
        for o in &nodes[k].message.output {
            if pending.remove(o.as_str()) {
                for &r in readers.get(o.as_str()).map_or(&[][..], Vec::as_slice) {
                    waiting[r] -= 1;
                    if waiting[r] == 0 {
                        free.push(Reverse(r));
                    }
                }
            }
        }
    }
    let order: Vec<usize> = (0..nodes.len()).filter(|&k| !taken[k]).chain(sorted).collect();
    let mut slots: Vec<Option<Kept<NodeProto>>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().map(|k| slots[k].take().expect("each node is placed once")).collect())
}

/// `remove_unnecessary_cast_node`: a Cast to half whose one reader is a Cast to float32 (and
/// whose input a Constant does not make) goes with that Cast; their readers read the first
/// Cast's input. Where the second Cast writes a graph output (the reference raises), the node
/// before writes it instead, if nothing else reads its value.
fn remove_cast_pairs(nodes: &mut Vec<Kept<NodeProto>>, half: Half) -> usize {
    let is_cast = |n: &NodeProto| op(n) == "Cast";
    let mut input_to_cast: HashMap<String, usize> = HashMap::new();
    let mut output_to_cast: HashMap<String, usize> = HashMap::new();
    for (k, n) in nodes.iter().enumerate().filter(|(_, n)| is_cast(&n.message)) {
        for i in &n.message.input {
            input_to_cast.insert(i.clone(), k);
        }
        for o in &n.message.output {
            output_to_cast.insert(o.clone(), k);
        }
    }
    // cast → its readers (once per input read), in the order they were found; cast → its writer
    let mut readers: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut writer: HashMap<usize, usize> = HashMap::new();
    for (k, n) in nodes.iter().enumerate() {
        for i in &n.message.input {
            if let Some(&c) = output_to_cast.get(i) {
                match readers.iter_mut().find(|(cast, _)| *cast == c) {
                    Some((_, list)) => list.push(k),
                    None => readers.push((c, vec![k])),
                }
            }
        }
        for o in &n.message.output {
            if let Some(&c) = input_to_cast.get(o) {
                writer.insert(c, k);
            }
        }
    }
    let eligible = |c: usize| !writer.get(&c).is_some_and(|&w| op(&nodes[w].message) == "Constant");
    let pairs: Vec<(usize, usize)> = readers
        .iter()
        .filter_map(|(first, list)| match list[..] {
            [second] => Some((*first, second)),
            _ => None,
        })
        .filter(|&(first, second)| {
            is_cast(&nodes[second].message)
                && cast_to(&nodes[first].message) == Some(i64::from(half.onnx_type()))
                && cast_to(&nodes[second].message) == Some(i64::from(FLOAT))
                && eligible(first)
                && eligible(second)
        })
        .collect();
    let mut removed = HashSet::new();
    for (first, second) in pairs {
        let source = nodes[first].message.input[0].clone();
        let targets = nodes[second].message.output.clone();
        let down: Vec<usize> = readers.iter().find(|(c, _)| *c == second).map(|(_, l)| l.clone()).unwrap_or_default();
        if down.is_empty() {
            // The second Cast writes a graph output: its writer's writer writes it, if only the
            // first Cast reads that value.
            let Some(&w) = writer.get(&first) else { continue };
            let read_elsewhere = nodes.iter().enumerate().any(|(k, n)| k != first && n.message.input.contains(&source));
            if read_elsewhere || targets.len() != 1 {
                continue;
            }
            for o in nodes[w].edit().output.iter_mut().filter(|o| **o == source) {
                *o = targets[0].clone();
            }
        } else {
            for d in down {
                for i in nodes[d].edit().input.iter_mut().filter(|i| targets.contains(i)) {
                    *i = source.clone();
                }
            }
        }
        removed.extend([first, second]);
    }
    let mut k = 0;
    nodes.retain(|_| {
        k += 1;
        !removed.contains(&(k - 1))
    });
    removed.len()
}

/// The ai.onnx opset the model imports (0 if none).
fn default_opset(edit: &ModelEdit) -> i64 {
    edit.model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .unwrap_or(0)
}

/// BF16 only: the ops that would compute in bfloat16 whose ONNX schema at the model's opset
/// allows no bfloat16 (`bf16_opsets.rs`, from onnx's schemas) — ONNX Runtime refuses such a file
/// as invalid — as "Conv (from opset 22)", in graph order; Cast (the Casts added) first.
fn bf16_not_allowed(edit: &ModelEdit, types: &HashMap<String, i32>) -> Vec<String> {
    let opset = default_opset(edit);
    let float_tensor = |a: &AttributeProto| a.t.as_ref().is_some_and(|t| t.data_type == Some(FLOAT));
    let computes_in_half = |n: &NodeProto| {
        matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"))
            && !blocked(n)
            && (n.input.iter().any(|i| types.get(i) == Some(&FLOAT))
                || n.attribute.iter().any(float_tensor)
                || (op(n) == "Cast" && cast_to(n) == Some(i64::from(FLOAT))))
    };
    let io_float = edit
        .graph
        .inputs
        .iter()
        .map(|v| &v.message)
        .chain(&edit.graph.rest.output)
        .any(|v| types.get(v.name.as_deref().unwrap_or("")) == Some(&FLOAT));
    let ops =
        io_float.then_some("Cast").into_iter().chain(edit.graph.nodes.iter().map(|n| &n.message).filter(|n| computes_in_half(n)).map(op));
    let mut out: Vec<String> = Vec::new();
    for o in ops {
        let since = BF16_SINCE.iter().find(|(name, _)| *name == o).map(|&(_, v)| i64::from(v));
        let why = match since {
            Some(v) if v <= opset => continue,
            Some(v) => format!("{o} (from opset {v})"),
            None => format!("{o} (in no opset)"),
        };
        if !out.contains(&why) {
            out.push(why);
        }
    }
    out
}

/// `convert_float_to_float16(model, keep_io_types=True)` of `bytes` (a whole `.onnx` file), in
/// `half`: the converted model's bytes and what was done.
pub fn convert_to_half(bytes: &[u8], half: Half) -> Result<(Vec<u8>, HalfReport)> {
    let mut edit = ModelEdit::open(bytes)?;
    if let Some(why) = already_half(&edit)? {
        return Err(QuantizeError::Unsupported(format!(
            "the model is already in half precision ({why}); converting it again would cast its half values as if they were float32"
        )));
    }
    if let Some(n) = edit.graph.nodes.iter().map(|n| &n.message).find(|n| n.attribute.iter().any(|a| a.g.is_some() || !a.graphs.is_empty()))
    {
        return Err(QuantizeError::Unsupported(format!(
            "{} has a subgraph; quantscope converts the main graph only (onnxconverter_common converts subgraphs, \
             and ONNX Runtime refuses its files of the models tried)",
            label(n)
        )));
    }
    let target = half.onnx_type();
    let types = types::elem_types(&edit.graph)?;
    if half == Half::BF16 {
        let ops = bf16_not_allowed(&edit, &types);
        if !ops.is_empty() {
            let opset = default_opset(&edit);
            return Err(QuantizeError::Unsupported(format!(
                "ONNX allows bfloat16 in {} only; this model imports opset {opset}, so its BF16 file would not be valid ONNX \
                 (ONNX Runtime refuses it). FP16 has no such limit",
                ops.join(", ")
            )));
        }
    }
    let is_float = |name: &str| types.get(name) == Some(&FLOAT);
    let mut report = HalfReport::default();

    // Which float32 initializers stay float32: those only blocked nodes read.
    let float_inits: HashSet<String> =
        edit.graph.initializers.iter().map(|t| &t.message).filter(|t| t.data_type == Some(FLOAT)).filter_map(|t| t.name.clone()).collect();
    let mut read_by_blocked = HashSet::new();
    let mut read_by_others = HashSet::new();
    for n in edit.graph.nodes.iter().map(|n| &n.message) {
        let set = if blocked(n) { &mut read_by_blocked } else { &mut read_by_others };
        set.extend(n.input.iter().filter(|i| float_inits.contains(*i)).cloned());
    }
    let kept_inits: HashSet<String> = read_by_blocked.difference(&read_by_others).cloned().collect();
    let constant_tensors = edit
        .graph
        .nodes
        .iter()
        .map(|n| &n.message)
        .filter(|n| !blocked(n))
        .flat_map(|n| n.attribute.iter())
        .filter(|a| a.t.as_ref().is_some_and(|t| t.data_type == Some(FLOAT)) || a.tensors.iter().any(|t| t.data_type == Some(FLOAT)))
        .count();
    if float_inits.len() == kept_inits.len() && constant_tensors == 0 {
        return Err(QuantizeError::Unsupported(format!(
            "the model has no float32 weights to convert to {} (no float32 initializer or Constant outside the ops kept in float32)",
            half.name()
        )));
    }

    let mut nodes = std::mem::take(&mut edit.graph.nodes);
    let mut added: Vec<NodeProto> = Vec::new();
    let graph_inputs: Vec<String> = edit.graph.inputs.iter().filter_map(|v| v.message.name.clone()).collect();
    let graph_outputs: Vec<(String, i32)> = edit
        .graph
        .rest
        .output
        .iter()
        .filter_map(|v| Some((v.name.clone()?, v.r#type.as_ref()?.tensor_type.as_ref()?.elem_type?)))
        .collect();

    // 1. process_graph_input: a Cast to half per (float32 input, node reading it).
    let mut cast_inputs: HashSet<String> = HashSet::new();
    for input in graph_inputs.iter().filter(|i| is_float(i) && !float_inits.contains(*i)) {
        for n in nodes.iter_mut().filter(|n| n.message.input.contains(input)) {
            let out = format!("{input}_cast_to_{}", name(&n.message));
            if cast_inputs.insert(out.clone()) {
                added.push(cast(input, &out, &out, target));
            }
            for i in n.edit().input.iter_mut().filter(|i| *i == input) {
                *i = out.clone();
            }
        }
    }
    // 2. process_tensor_in_node, and Casts to float32 made Casts to half.
    for n in nodes.iter_mut().filter(|n| !blocked(&n.message)) {
        let m = &n.message;
        let has_tensor = m
            .attribute
            .iter()
            .any(|a| a.t.as_ref().is_some_and(|t| t.data_type == Some(FLOAT)) || a.tensors.iter().any(|t| t.data_type == Some(FLOAT)));
        let casts_to_float = op(m) == "Cast" && cast_to(m) == Some(i64::from(FLOAT));
        if !has_tensor && !casts_to_float {
            continue;
        }
        for a in &mut n.edit().attribute {
            if let Some(t) = a.t.as_mut().filter(|t| t.data_type == Some(FLOAT)) {
                convert_attribute_tensor(t, half, &mut report)?;
            }
            for t in a.tensors.iter_mut().filter(|t| t.data_type == Some(FLOAT)) {
                convert_attribute_tensor(t, half, &mut report)?;
            }
            if casts_to_float && a.name.as_deref() == Some("to") {
                a.i = Some(i64::from(target));
            }
        }
    }
    // 3. process_node_in_block_list: blocked nodes read float32 and write half.
    for n in nodes.iter_mut().filter(|n| blocked(&n.message)) {
        report.kept_float.push(label(&n.message));
        let node_name = name(&n.message).to_string();
        let is_half_input =
            |i: &str| cast_inputs.contains(i) || (is_float(i) && !kept_inits.contains(i) && !graph_inputs.iter().any(|g| g == i));
        let half_inputs: Vec<usize> = (0..n.message.input.len()).filter(|&k| is_half_input(&n.message.input[k])).collect();
        let float_outputs: Vec<usize> = (0..n.message.output.len()).filter(|&k| is_float(&n.message.output[k])).collect();
        if half_inputs.is_empty() && float_outputs.is_empty() {
            continue;
        }
        let m = n.edit();
        for k in half_inputs {
            let out = format!("{node_name}_input_cast_{k}");
            added.push(cast(&m.input[k], &out, &format!("{node_name}_input_cast{k}"), FLOAT));
            m.input[k] = out;
        }
        for k in float_outputs {
            let out = format!("{node_name}_output_cast_{k}");
            added.push(cast(&out, &m.output[k], &format!("{node_name}_output_cast{k}"), target));
            m.output[k] = out;
        }
    }
    let mut added_casts = added.len();
    let mut nodes: Vec<Kept<NodeProto>> = nodes.into_iter().chain(added.into_iter().map(Kept::new)).collect();
    // 4. process_graph_output: float32 outputs written by a Cast to float32.
    for (output, _) in graph_outputs.iter().filter(|(_, t)| *t == FLOAT) {
        let Some(p) = nodes.iter().position(|n| n.message.output.contains(output)) else { continue };
        let renamed = format!("{}_cast_to_{output}", name(&nodes[p].message));
        for o in nodes[p].edit().output.iter_mut().filter(|o| *o == output) {
            *o = renamed.clone();
        }
        for n in nodes.iter_mut().filter(|n| n.message.input.contains(output)) {
            for i in n.edit().input.iter_mut().filter(|i| *i == output) {
                *i = renamed.clone();
            }
        }
        nodes.push(Kept::new(cast(&renamed, output, &renamed, FLOAT)));
        added_casts += 1;
    }
    // 5. sort_topology, remove_unnecessary_cast_node.
    let mut nodes = sort_nodes(nodes)?;
    report.casts = added_casts - remove_cast_pairs(&mut nodes, half);
    edit.graph.nodes = nodes;

    // 6. process_initializers; an initializer listed as a graph input (IR < 4) is retyped there.
    for t in edit.graph.initializers.iter_mut() {
        let tensor_name = t.message.name.clone().unwrap_or_default();
        if t.message.data_type == Some(FLOAT) && !kept_inits.contains(&tensor_name) {
            // (the kept bytes as they are: no copy of them, nor a second decode)
            let payload = convert_tensor(&t.message, &t.payload_ref(), half, &mut report)?;
            t.replace_payload(5, &payload)?;
        }
    }
    let keep_float: HashSet<&str> = graph_outputs
        .iter()
        .map(|(o, _)| o.as_str())
        .chain(graph_inputs.iter().filter(|i| !float_inits.contains(*i)).map(String::as_str))
        .chain(kept_inits.iter().map(String::as_str))
        .collect();
    // process_value_info: what the file records as float32 is half now.
    edit.graph.retype_values(|name, t| (t == FLOAT && !keep_float.contains(name)).then_some(target))?;
    edit.producer = Some(("quantscope".into(), env!("CARGO_PKG_VERSION").into()));
    Ok((edit.encode(), report))
}

//! Quantizing an FP32 model: the real integer path, and weight-only round trips.
//!
//! Integer modes replace every MatMul, Gemm and Conv whose weights are constants (and whose
//! bias, if any, is a constant vector) by a [`QuantMatMul`] / [`QuantConv`] node:
//! * weights: symmetric int8 ([−127, 127]) or int4 ([−7, 7], one code per i8), per tensor or
//!   per output channel, with `quantscope_core::schemes::int`'s scale computation (ONNX Runtime's
//!   `compute_scale_zp`, so int8 weights equal `quantize_dynamic`'s);
//! * activations: u8, per tensor, either from each run's min/max (dynamic, as
//!   DynamicQuantizeLinear) or fixed by calibration (static): the FP32 model runs on the
//!   calibration inputs, each quantized node's input values are collected, and the chosen
//!   `quantscope_core::schemes::int::calibration` method gives the range, turned into an asymmetric u8 scale
//!   and zero point by the same `compute_scale_zp`;
//! * i32 accumulation through `quantscope_gemm::matmul_integer`, then `acc · (x_scale · w_scale) +
//!   bias` in f32.
//!
//! Weight-only mode runs any scheme of `quantscope_core::schemes` on the same weights, laid out as
//! `[output channels, inputs]` (so per-channel schemes are per output channel and block
//! schemes run along the reduction axis, as llama.cpp lays them out), and puts the
//! dequantized round trip back: float execution, the scheme's storage cost.
//!
//! Sizes: a variant's `stored_bytes` is every constant its nodes still read, in its dtype,
//! plus each quantized node's codes (bits/8 each) and f32 scales and bias; weight-only
//! weights count their scheme's packed bytes.

use super::graph::{count_ops, Model, Node, NodeInfo};
use super::op::Subgraph;
use super::ops::conv::Conv;
use super::ops::matmul::{transpose2, Gemm, MatMul};
use super::ops::quantized::{ActQuant, QuantConv, QuantMatMul, QuantWeights};
pub use super::quantize_config::{QuantizeConfig, QuantizeKind};
use super::value::Value;
use crate::error::EngineError;
use quantscope_core::schemes::int::calibration::Calibration;
use quantscope_core::schemes::int::{qrange, quantize_value, scale_zero_point};
use quantscope_gemm::PackedI8B;
use std::collections::HashMap;
use std::sync::Arc;

/// The scheme of a weight-only variant: every family of `quantscope_core::schemes` but
/// `ggml_extra` (IQ4, NVFP4, TQ, Q1_0/Q2_0), looked up family by family rather than through
/// `schemes::by_id` so the Run view's module does not link code it never offers (that family
/// is 14 KB gzipped, which would take the runner past its 300 KB budget).
fn weight_only_scheme(id: &str) -> Result<Box<dyn quantscope_core::schemes::Scheme>, EngineError> {
    use quantscope_core::schemes::{bnb, float, ggml, ggml_extra, int, kquants};
    float::by_id(id)
        .or_else(|| int::by_id(id))
        .or_else(|| ggml::by_id(id))
        .or_else(|| kquants::by_id(id))
        .or_else(|| bnb::by_id(id))
        .ok_or_else(|| {
            EngineError::Quantize(if ggml_extra::ExtraType::from_id(id).is_some() {
                format!("weight-only variants take the float, integer, GGML legacy, K-quant and bitsandbytes schemes, not '{id}'")
            } else {
                quantscope_core::error::Error::UnknownScheme(id.to_string()).to_string()
            })
        })
}

/// The percentile ONNX Runtime's static calibration uses by default (`percentile=99.999`).
pub const STATIC_PERCENTILE: Calibration = Calibration::Percentile { micro: 99_999_000 };

/// The weight of a quantizable node, its layout and its bias.
struct Target {
    /// The weight as `[out, in]` (MatMul/Gemm: K×N transposed; Conv: M × C/g·∏k).
    out_major: Vec<f32>,
    out: usize,
    inner: usize,
    bias: Option<Vec<f32>>,
    weight_slot: usize,
}

fn constant(m: &Model, slot: Option<usize>) -> Option<&Value> {
    slot.and_then(|s| m.constants[s].as_deref())
}

/// A bias for `n` outputs: a constant f32 scalar, `[n]` or `[1, n]`.
fn bias_vector(v: Option<&Value>, n: usize) -> Option<Option<Vec<f32>>> {
    match v {
        None => Some(None),
        Some(b) => {
            let x = b.as_f32()?;
            let row = matches!(b.shape(), [k] if *k == n) || matches!(b.shape(), [1, k] if *k == n);
            match x.len() {
                1 => Some(Some(vec![x[0]; n])),
                _ if row => Some(Some(x.to_vec())),
                _ => None,
            }
        }
    }
}

/// The node's weight and bias when it is one `quantize` can rewrite. `with_weights` false
/// leaves `out_major` empty (a cheap check, no copy of the weights).
fn target(m: &Model, node: &Node, with_weights: bool) -> Option<Target> {
    let op = node.op.as_any();
    let w = constant(m, node.inputs.get(1).copied().flatten())?;
    let wx = w.as_f32()?;
    let weight_slot = node.inputs[1]?;
    if op.downcast_ref::<MatMul>().is_some() {
        let [k, n] = *w.shape() else { return None };
        let out_major = if with_weights { transpose2(wx, k, n) } else { Vec::new() };
        return Some(Target { out_major, out: n, inner: k, bias: None, weight_slot });
    }
    if let Some(g) = op.downcast_ref::<Gemm>() {
        let [r, c] = *w.shape() else { return None };
        if g.trans_a {
            return None;
        }
        let (out, inner, out_major) = match (with_weights, g.trans_b) {
            (false, t) => (if t { r } else { c }, if t { c } else { r }, Vec::new()),
            (true, true) => (r, c, wx.to_vec()),
            (true, false) => (c, r, transpose2(wx, r, c)),
        };
        let c_in = node.inputs.get(2).copied().flatten();
        if c_in.is_some() && constant(m, c_in).is_none() {
            return None;
        }
        let mut bias = bias_vector(constant(m, c_in), out)?;
        if let Some(b) = bias.as_mut() {
            b.iter_mut().for_each(|v| *v *= g.beta);
        }
        // alpha scales the product: fold it into the weights.
        let out_major = if g.alpha == 1.0 { out_major } else { out_major.iter().map(|v| v * g.alpha).collect() };
        return Some(Target { out_major, out, inner, bias, weight_slot });
    }
    if op.downcast_ref::<Conv>().is_some() {
        if w.rank() < 3 {
            return None;
        }
        let out = w.shape()[0];
        let b_in = node.inputs.get(2).copied().flatten();
        if b_in.is_some() && constant(m, b_in).is_none() {
            return None;
        }
        let bias = bias_vector(constant(m, b_in), out)?;
        let out_major = if with_weights { wx.to_vec() } else { Vec::new() };
        return Some(Target { out_major, out, inner: wx.len() / out.max(1), bias, weight_slot });
    }
    None
}

// `nodes` is here, not in graph.rs, because which nodes are quantizable is the quantizer's
// knowledge; the graph does not ask it.
impl Model {
    /// The nodes as they run (after constant folding), in execution order.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes
            .iter()
            .map(|n| NodeInfo {
                name: n.name.clone(),
                op_type: n.op.op_type().to_string(),
                inputs: self.input_names(n),
                outputs: n.outputs.iter().map(|s| s.map_or_else(String::new, |s| self.names[s].clone())).collect(),
                quantizable: quantizable(self, n),
            })
            .collect()
    }
}

/// True when `quantize` can rewrite this node.
pub(crate) fn quantizable(m: &Model, node: &Node) -> bool {
    target(m, node, false).is_some()
}

/// Symmetric codes of an `[out, in]` weight, per output channel or per tensor, with the
/// integer scheme's scale rule.
fn quantize_weights(t: &Target, bits: u32, per_channel: bool) -> (Vec<i8>, Vec<f32>) {
    let (qmin, qmax) = qrange(bits, true);
    let groups = if per_channel { t.out } else { 1 };
    let per_group = t.out_major.len() / groups.max(1);
    let mut codes = vec![0i8; t.out_major.len()];
    let mut scales = Vec::with_capacity(groups);
    for (g, chunk) in t.out_major.chunks(per_group.max(1)).enumerate() {
        let (lo, hi) = quantscope_core::stats::summary::min_max(chunk);
        let (scale, zp) = scale_zero_point(lo, hi, qmin, qmax, true);
        scales.push(scale);
        for (c, &x) in codes[g * per_group..].iter_mut().zip(chunk) {
            *c = quantize_value(x, scale, zp, qmin, qmax).0 as i8;
        }
    }
    (codes, scales)
}

impl Model {
    /// A quantized variant of this model (see the module docs). The original is unchanged.
    pub fn quantize(&self, config: &QuantizeConfig) -> Result<Model, EngineError> {
        Ok(self.quantize_counted(config)?.0)
    }

    /// [`Model::quantize`], with how many MatMul/Gemm/Conv nodes were quantized and how many
    /// there are, subgraphs' included.
    pub(crate) fn quantize_counted(&self, config: &QuantizeConfig) -> Result<(Model, usize, usize), EngineError> {
        let selected = self.select(config.only_nodes.as_deref())?;
        let mut out = self.clone();
        // Sizes of replaced weights (weight-only: the scheme's packed bytes).
        let mut sizes = HashMap::new();
        let label = match &config.kind {
            QuantizeKind::Fp32 => {
                out.description = "FP32".into();
                return Ok((out, 0, 0));
            }
            QuantizeKind::Int8Dynamic { per_channel } => {
                out.rewrite_integer(&selected, 8, *per_channel, &HashMap::new())?;
                format!("int8 dynamic ({}): int8 weights, u8 activations quantized per run, i32 accumulation", granularity(*per_channel))
            }
            QuantizeKind::Int4Dynamic { per_channel } => {
                out.rewrite_integer(&selected, 4, *per_channel, &HashMap::new())?;
                format!(
                    "int4 dynamic ({}): int4 weights (codes ±7), u8 activations quantized per run, i32 accumulation",
                    granularity(*per_channel)
                )
            }
            QuantizeKind::Int8Static { per_channel, calibration, inputs } => {
                let act = self.calibrate(&selected, *calibration, inputs)?;
                out.rewrite_integer(&selected, 8, *per_channel, &act)?;
                let method = match calibration {
                    Calibration::MinMax => "min-max".to_string(),
                    c => c.suffix(),
                };
                format!(
                    "int8 static ({}, {method} calibration on {} batch{}): int8 weights, u8 activations with fixed scales, i32 accumulation",
                    granularity(*per_channel),
                    inputs.len(),
                    if inputs.len() == 1 { "" } else { "es" }
                )
            }
            QuantizeKind::WeightOnly { scheme } => {
                sizes = out.rewrite_weight_only(&selected, scheme)?;
                format!("weight-only {scheme}: weights stored as {scheme}, dequantized to f32, float execution")
            }
        };
        let total = self.nodes.iter().filter(|n| quantizable(self, n)).count();
        // The nodes inside If/Loop/Scan subgraphs (silero-vad keeps every weight in its If
        // branches): quantized the same way when the whole model is, not by a static
        // calibration (its values inside the bodies are not observed) nor a node selection
        // (it names the main graph's nodes).
        let into_subgraphs = config.only_nodes.is_none() && !matches!(config.kind, QuantizeKind::Int8Static { .. });
        let (mut inner, mut inner_total, mut held) = (0, 0, false);
        for node in &mut out.nodes {
            let mut map = |g: &Arc<dyn Subgraph>| -> Result<Arc<dyn Subgraph>, EngineError> {
                held = true;
                if !into_subgraphs {
                    return Ok(g.clone());
                }
                let (q, quantized, all) = g.quantized(config)?;
                inner += quantized;
                inner_total += all;
                Ok(q)
            };
            if let Some(op) = node.op.map_subgraphs(&mut map) {
                node.op = op?;
            }
        }
        let nested = match (held, into_subgraphs) {
            (false, _) => String::new(),
            (true, true) => format!(", and {inner} of {inner_total} inside If/Loop/Scan subgraphs"),
            // Said, so that "0 of 0" on a model whose weights all live in branches is not read
            // as "nothing to do".
            (true, false) => " (the nodes inside If/Loop/Scan subgraphs stay FP32)".into(),
        };
        out.description = format!("{label}; {} of {total} MatMul/Gemm/Conv nodes{nested}", selected.len());
        out.plan();
        out.stored_bytes = out.weight_bytes(&sizes);
        Ok((out, selected.len() + inner, total + inner_total))
    }

    /// The quantizable node indices `only` selects (all when `None`).
    fn select(&self, only: Option<&[String]>) -> Result<Vec<usize>, EngineError> {
        let all: Vec<usize> = (0..self.nodes.len()).filter(|&i| quantizable(self, &self.nodes[i])).collect();
        let Some(only) = only else { return Ok(all) };
        let mut picked = Vec::new();
        for name in only {
            let i = self
                .nodes
                .iter()
                .position(|n| &n.name == name)
                .ok_or_else(|| EngineError::Quantize(format!("the model has no node named '{name}'")))?;
            if !all.contains(&i) {
                return Err(EngineError::Quantize(format!(
                    "node '{name}' ({}) is not a MatMul, Gemm or Conv with constant weights",
                    self.nodes[i].op.op_type()
                )));
            }
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
        picked.sort();
        Ok(picked)
    }

    /// Runs the FP32 model on the calibration batches and turns each selected node's input
    /// range into a u8 scale and zero point.
    fn calibrate(
        &self,
        selected: &[usize],
        method: Calibration,
        batches: &[Vec<(String, Value)>],
    ) -> Result<HashMap<usize, ActQuant>, EngineError> {
        if batches.is_empty() {
            return Err(EngineError::Quantize("static quantization needs at least one calibration batch".into()));
        }
        let watched: Vec<usize> = selected.iter().filter_map(|&i| self.nodes[i].inputs[0]).collect();
        let mut seen: HashMap<usize, Vec<f32>> = watched.iter().map(|&s| (s, Vec::new())).collect();
        for batch in batches {
            let named: Vec<(&str, Value)> = batch.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
            let mut observe = |slot: usize, v: &Value| {
                if let (Some(buf), Some(x)) = (seen.get_mut(&slot), v.as_f32()) {
                    buf.extend(x.iter().copied().filter(|x| x.is_finite()));
                }
            };
            self.execute(&named, Some(&mut observe), None)
                .map_err(|e| EngineError::Quantize(format!("a calibration batch failed to run: {e}")))?;
        }
        let mut params = HashMap::new();
        for &i in selected {
            let Some(slot) = self.nodes[i].inputs[0] else { continue };
            let values = &seen[&slot];
            let (lo, hi) = method.range(values, 8, false);
            let (scale, zp) = scale_zero_point(lo, hi, 0, 255, false);
            params.insert(i, ActQuant::Static { scale, zero_point: zp as u8 });
        }
        Ok(params)
    }

    /// Replaces the selected nodes by integer ops.
    fn rewrite_integer(
        &mut self,
        selected: &[usize],
        bits: u32,
        per_channel: bool,
        act: &HashMap<usize, ActQuant>,
    ) -> Result<(), EngineError> {
        for &i in selected {
            let node = &self.nodes[i];
            let t = target(self, node, true).expect("selected nodes are quantizable");
            let (codes, scales) = quantize_weights(&t, bits, per_channel);
            let act = act.get(&i).copied().unwrap_or(ActQuant::Dynamic);
            let any = node.op.as_any();
            let (op, replaces): (Arc<dyn super::ops::Op>, &str) = if let Some(conv) = any.downcast_ref::<Conv>() {
                let wshape = self.constants[t.weight_slot].as_ref().expect("constant weight").shape().to_vec();
                (
                    Arc::new(QuantConv {
                        attrs: conv.attrs.clone(),
                        weight_shape: wshape,
                        weights: Arc::new(QuantWeights { codes, scales, bits }),
                        bias: t.bias,
                        act,
                        fuser: node.op.quant_fuser(),
                        packed: Default::default(),
                    }),
                    "Conv",
                )
            } else {
                // The integer GEMM takes weights K×N.
                let kn = transpose2(&codes, t.out, t.inner);
                let packed = PackedI8B::new(t.inner, t.out, &kn, &[0]);
                let replaces = if any.is::<Gemm>() { "Gemm" } else { "MatMul" };
                let weights = QuantWeights { codes: kn, scales, bits };
                (Arc::new(QuantMatMul { k: t.inner, n: t.out, weights, packed, bias: t.bias, act, replaces }), replaces)
            };
            let new_type = op.op_type();
            let x = node.inputs[0];
            let node = &mut self.nodes[i];
            node.op = op;
            node.inputs = vec![x];
            recount(&mut self.op_counts, replaces, new_type);
        }
        Ok(())
    }

    /// Replaces the selected nodes' weights by a scheme's round trip.
    fn rewrite_weight_only(&mut self, selected: &[usize], scheme_id: &str) -> Result<HashMap<usize, u64>, EngineError> {
        let scheme = weight_only_scheme(scheme_id)?;
        let mut done: HashMap<usize, usize> = HashMap::new();
        let mut packed_bytes: HashMap<usize, u64> = HashMap::new();
        for &i in selected {
            let t = target(self, &self.nodes[i], true).expect("selected nodes are quantizable");
            let w_slot = t.weight_slot;
            let new_slot = match done.get(&w_slot) {
                Some(&s) => s,
                None => {
                    let q = scheme
                        .quantize(&t.out_major, &[t.out, t.inner])
                        .map_err(|e| EngineError::Quantize(format!("node '{}': {scheme_id}: {e}", self.nodes[i].name)))?;
                    let w = self.constants[w_slot].as_ref().expect("constant weight").clone();
                    // Back to the weight's own layout (before Gemm's alpha, which `target` folded in).
                    let node_op = self.nodes[i].op.as_any();
                    let mut deq = q.dequantized;
                    if let Some(g) = node_op.downcast_ref::<Gemm>() {
                        if g.alpha != 1.0 {
                            deq.iter_mut().for_each(|v| *v /= g.alpha);
                        }
                    }
                    let restored = match node_op.downcast_ref::<Gemm>() {
                        Some(g) if g.trans_b => deq,
                        _ if node_op.is::<Conv>() => deq,
                        _ => transpose2(&deq, t.out, t.inner),
                    };
                    let slot = self.names.len();
                    self.names.push(format!("{} ({scheme_id})", self.names[w_slot]));
                    self.constants.push(Some(Arc::new(Value::f32(w.shape().to_vec(), restored))));
                    self.last_use.push(0);
                    done.insert(w_slot, slot);
                    packed_bytes.insert(slot, q.packed.len() as u64);
                    slot
                }
            };
            let node = &mut self.nodes[i];
            node.inputs[1] = Some(new_slot);
            // Gemm/MatMul specialised on the old constant: rebuild from the new one.
            let consts: Vec<Option<&Value>> = node.inputs.iter().map(|s| s.and_then(|s| self.constants[s].as_deref())).collect();
            let base: Arc<dyn super::ops::Op> = match node.op.as_any().downcast_ref::<Gemm>() {
                Some(g) => Arc::new(Gemm { packed_b: None, ..g.clone() }),
                None => node.op.clone(),
            };
            let input_names: Vec<String> = node.inputs.iter().map(|s| s.map_or_else(String::new, |s| self.names[s].clone())).collect();
            node.op = match base.specialize(&consts).map_err(|e| super::graph::node_error(&node.name, base.op_type(), &input_names, e))? {
                Some(op) => op,
                None => base,
            };
        }
        Ok(packed_bytes)
    }

    /// Bytes of every constant the nodes still read (`overrides` gives some slots' sizes,
    /// e.g. a weight-only scheme's packed bytes) plus the nodes' own quantized weights.
    pub(crate) fn weight_bytes(&self, overrides: &HashMap<usize, u64>) -> u64 {
        let mut used = vec![false; self.names.len()];
        for n in &self.nodes {
            for s in n.inputs.iter().flatten() {
                used[*s] = true;
            }
        }
        for &s in &self.output_slots {
            used[s] = true;
        }
        // A folded value stands for the constants it was made from, which are what the file
        // stores (a weight folded from an enclosing graph's is that graph's to count).
        let mut folded_at = vec![usize::MAX; used.len()];
        for (i, &f) in self.folded.iter().enumerate() {
            folded_at[f] = i;
        }
        let sources = |s: usize| self.folded_from.get(folded_at[s]);
        let mut folded: Vec<usize> = (0..used.len()).filter(|&s| used[s] && !overrides.contains_key(&s) && sources(s).is_some()).collect();
        while let Some(s) = folded.pop() {
            used[s] = false;
            for &source in sources(s).into_iter().flatten() {
                if !used[source] && sources(source).is_some() {
                    folded.push(source);
                }
                used[source] = true;
            }
        }
        for &s in &self.captured {
            used[s] = false;
        }
        let consts: u64 = (0..self.names.len())
            .filter(|&s| used[s])
            .filter_map(|s| self.constants[s].as_ref().map(|v| overrides.get(&s).copied().unwrap_or_else(|| v.stored_bytes())))
            .sum();
        consts + self.nodes.iter().map(|n| n.op.own_bytes()).sum::<u64>()
    }
}

fn granularity(per_channel: bool) -> &'static str {
    if per_channel {
        "per channel"
    } else {
        "per tensor"
    }
}

/// One `from` node became a `to` node.
fn recount(counts: &mut Vec<(String, usize)>, from: &str, to: &str) {
    let mut expanded: Vec<String> = counts.iter().flat_map(|(o, c)| std::iter::repeat(o.clone()).take(*c)).collect();
    if let Some(p) = expanded.iter().position(|o| o == from) {
        expanded.remove(p);
    }
    expanded.push(to.to_string());
    *counts = count_ops(expanded.iter().map(String::as_str));
}

#[cfg(test)]
mod tests {
    use crate::builder::{attr_int, GraphBuilder};
    use crate::ops::matmul::{Gemm, MatMul};
    use crate::ops::quantized::QuantMatMul;
    use crate::{DType, Model, QuantizeConfig, QuantizeKind, Value};

    /// A Gemm (transB) then a MatMul, both with constant weights.
    fn two_layers() -> Model {
        let mut g = GraphBuilder::new(17);
        g.input("x", DType::F32, &[Some(1), Some(8)]);
        g.initializer("w0", &Value::f32(vec![4, 8], (0..32).map(|i| i as f32 / 32.0 - 0.5).collect()));
        g.initializer("w1", &Value::f32(vec![4, 2], (0..8).map(|i| 0.25 - i as f32 / 16.0).collect()));
        g.node("Gemm", "fc0", &["x", "w0"], &["h"], vec![attr_int("transB", 1)]);
        g.node("MatMul", "fc1", &["h", "w1"], &["y"], vec![]);
        g.output("y", DType::F32, &[Some(1), Some(2)]);
        Model::from_onnx(&g.build()).unwrap()
    }

    /// Constant weights are packed for the GEMM kernels once, when the model loads or a
    /// variant is made, so no run packs them again (speed itself is the bench's to measure).
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn matrix_products_hold_weights_packed_at_load() {
        let fp32 = two_layers();
        let ops: Vec<_> = fp32.nodes.iter().map(|n| n.op.as_any()).collect();
        assert!(ops[0].downcast_ref::<Gemm>().is_some_and(|g| g.packed_b.is_some()), "Gemm's B is packed at load");
        assert!(ops[1].downcast_ref::<MatMul>().is_some_and(|m| m.packed_b.is_some()), "MatMul's B is packed at load");
        let int8 = fp32.quantize(&QuantizeConfig::new(QuantizeKind::Int8Dynamic { per_channel: true })).unwrap();
        let quantized = int8.nodes.iter().filter(|n| n.op.as_any().downcast_ref::<QuantMatMul>().is_some()).count();
        assert_eq!(quantized, 2, "both products run as QuantMatMul, which packs its codes when it is built");
    }
}

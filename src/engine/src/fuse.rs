//! The run plan: a model's nodes with each float Conv's epilogue fused into it, as ONNX
//! Runtime's graph optimizer does (`onnxruntime/core/optimizer/conv_bn_fusion.cc`,
//! `conv_activation_fusion.cc`): Conv → [BatchNormalization] → [Relu | Clip | x·Sigmoid(x)]
//! becomes one `FusedConv` (`ops/conv.rs`) that applies the rest to each block of its output while it is in
//! cache, instead of passes (and a copy, for Sigmoid) over the whole tensor.
//!
//! Only [`Model::run`] and [`Model::run_profiled`] use the plan. Calibration, the per-node
//! comparison and the quantizer walk `Model::nodes`, the graph as loaded, so they still see the
//! Conv's, BatchNormalization's and activation's own values.
//!
//! Exactness: the activations are the ops' own f32 functions, so a fused Conv without a
//! BatchNormalization gives the unfused bits. Folding BatchNormalization into the weights
//! (`w·k`, `(b − mean)·k + B`, `k = scale / √(var + ε)`) rounds differently from normalizing
//! the Conv's output: within float rounding (the real-model tests hold it to ONNX Runtime at
//! 1e-4 relative, as before).

use crate::graph::{Model, Node};
use crate::ops::conv::{Conv, Epilogue};
use crate::ops::norm::BatchNorm;
use crate::ops::unary::Clip;
use crate::value::{DType, Value};

/// `model.nodes` with every fusable Conv chain replaced by one node (same slots, same order).
pub(crate) fn fuse(model: &Model) -> Vec<Node> {
    let nodes = &model.nodes;
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); model.names.len()];
    for (i, n) in nodes.iter().enumerate() {
        for &s in n.inputs.iter().flatten() {
            readers[s].push(i);
        }
    }
    let mut absorbed = vec![false; nodes.len()];
    let mut plan = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        if absorbed[i] {
            continue;
        }
        match node.op.fuse_chain(model, &readers, i) {
            Some((fused, used)) => {
                used.into_iter().for_each(|u| absorbed[u] = true);
                plan.push(fused);
            }
            None => plan.push(node.clone()),
        }
    }
    plan
}

/// A constant f32 input of a node.
fn constant_f32(model: &Model, slot: Option<usize>) -> Option<&Value> {
    model.constants[slot?].as_deref().filter(|v| v.dtype() == DType::F32)
}

/// What the Conv at `i` becomes (`Conv::fuse_chain` makes the node): its weights and bias,
/// maybe with a BatchNormalization folded in, the epilogue, its inputs, its output slot and the
/// nodes it absorbs; `None` when nothing after it fuses.
#[allow(clippy::type_complexity)]
pub(crate) fn conv_chain(
    model: &Model,
    readers: &[Vec<usize>],
    i: usize,
) -> Option<(Value, Option<Value>, Epilogue, Vec<Option<usize>>, usize, Vec<usize>)> {
    let nodes = &model.nodes;
    let node = &nodes[i];
    // Only a float Conv (a TypeId check: the fused op itself comes from Conv's vtable).
    node.op.as_any().downcast_ref::<Conv>()?;
    let x = (*node.inputs.first()?)?;
    let w = constant_f32(model, node.inputs.get(1).copied().flatten())?;
    let b = match node.inputs.get(2).copied().flatten() {
        Some(s) => Some(constant_f32(model, Some(s))?),
        None => None,
    };
    let m = *w.shape().first()?;
    if b.is_some_and(|b| b.len() != m) {
        return None;
    }
    // The one node reading `slot` (not a graph output).
    let only_reader = |slot: usize| match readers[slot].as_slice() {
        [j] if !model.output_slots.contains(&slot) => Some(*j),
        _ => None,
    };
    let mut last = (*node.outputs.first()?)?;
    let mut used = Vec::new();
    let (mut w, mut b) = (w.clone(), b.cloned());
    // Conv → BatchNormalization: folded into the weights and bias.
    if let Some(j) = only_reader(last) {
        let bn_node = &nodes[j];
        if let Some(bn) = bn_node.op.as_any().downcast_ref::<BatchNorm>() {
            let params: Option<Vec<Vec<f32>>> =
                (1..=4).map(|k| constant_f32(model, bn_node.inputs.get(k).copied().flatten()).map(|v| v.to_f32_vec())).collect();
            if let (Some(p), [Some(out)]) = (params.filter(|p| p.iter().all(|v| v.len() == m)), bn_node.outputs.as_slice()) {
                let (scale, beta, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
                let mut ws = w.to_f32_vec();
                let mut bs = b.as_ref().map_or(vec![0.0; m], |b| b.to_f32_vec());
                let per = ws.len() / m.max(1);
                for ch in 0..m {
                    let k = scale[ch] / (var[ch] + bn.epsilon).sqrt();
                    ws[ch * per..(ch + 1) * per].iter_mut().for_each(|v| *v *= k);
                    bs[ch] = (bs[ch] - mean[ch]) * k + beta[ch];
                }
                w = Value::f32(w.shape().to_vec(), ws);
                b = Some(Value::f32(vec![m], bs));
                used.push(j);
                last = *out;
            }
        }
    }
    // Then an activation.
    let mut epilogue = Epilogue::None;
    if let Some(j) = only_reader(last) {
        let act = &nodes[j];
        let reads_last = act.inputs.first() == Some(&Some(last));
        let bound = |k: usize| match act.inputs.get(k).copied().flatten() {
            None => Some(None),
            Some(s) => constant_f32(model, Some(s)).filter(|v| v.len() == 1).map(|v| Some(v.to_f32_vec()[0])),
        };
        epilogue = match act.op.op_type() {
            _ if !reads_last => Epilogue::None,
            "Relu" => Epilogue::Relu,
            "Clip" => match act.op.as_any().downcast_ref::<Clip>().and_then(|c| c.attr_bounds) {
                Some((lo, hi)) => Epilogue::Clip(Some(lo), Some(hi)),
                None => match (bound(1), bound(2)) {
                    (Some(lo), Some(hi)) => Epilogue::Clip(lo, hi),
                    _ => Epilogue::None,
                },
            },
            _ => Epilogue::None,
        };
        if epilogue != Epilogue::None {
            used.push(j);
            last = act.outputs[0]?;
        }
    } else if let [a, c] = readers[last].as_slice() {
        // x · Sigmoid(x): a Sigmoid of `last` whose only reader is a Mul of `last` by it.
        let silu = [(*a, *c), (*c, *a)].into_iter().find(|&(s, mi)| {
            let (sig, mul) = (&nodes[s], &nodes[mi]);
            sig.op.op_type() == "Sigmoid"
                && sig.outputs.first().copied().flatten().and_then(only_reader) == Some(mi)
                && mul.op.op_type() == "Mul"
                && !model.output_slots.contains(&last)
                && (mul.inputs == [Some(last), sig.outputs[0]] || mul.inputs == [sig.outputs[0], Some(last)])
        });
        if let Some((s, mul)) = silu {
            epilogue = Epilogue::Silu;
            used.extend([s, mul]);
            last = nodes[mul].outputs.first().copied().flatten()?;
        }
    }
    if used.is_empty() {
        return None;
    }
    Some((w, b, epilogue, vec![Some(x)], last, used))
}

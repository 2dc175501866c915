//! The run plan: a model's nodes with each float Conv's epilogue fused into it, as ONNX
//! Runtime's graph optimizer does (`onnxruntime/core/optimizer/conv_bn_fusion.cc`,
//! `conv_activation_fusion.cc`): Conv → [BatchNormalization] → [scalar Add/Sub/Mul/Div steps] →
//! [Relu | Clip | HardSwish | x·Sigmoid(x) | x·HardSigmoid(x) | x·Clip(x + 3, 0, 6)/6] → [scalar
//! steps] becomes one `FusedConv` (`ops/conv.rs`; the matching is `ops/conv_fuse.rs`, reached
//! through `Op::fuse_chain`) that applies the rest to each block of its output while it is in
//! cache, instead of passes (and a copy, for Sigmoid) over the whole tensor.
//!
//! Only [`Model::run`] and [`Model::run_profiled`] use the plan. Calibration, the per-node
//! comparison and the quantizer walk `Model::nodes`, the graph as loaded, so they still see the
//! Conv's, BatchNormalization's and activation's own values.
//!
//! Exactness: the steps and activations are the ops' own f32 functions, so a fused Conv without a
//! BatchNormalization gives the unfused bits. Folding BatchNormalization into the weights
//! (`w·k`, `(b − mean)·k + B`, `k = scale / √(var + ε)`) rounds differently from normalizing
//! the Conv's output: within float rounding (the real-model tests hold it to ONNX Runtime at
//! 1e-4 relative, as before).

use crate::node::Node;
use crate::op::{Op, PlanView};
use crate::value::Value;
use std::sync::Arc;

/// The graph as `Op::fuse_chain` sees it.
struct Graph<'a> {
    nodes: &'a [Node],
    readers: Vec<Vec<usize>>,
    constants: &'a [Option<Arc<Value>>],
    output_slots: &'a [usize],
}

impl PlanView for Graph<'_> {
    fn op(&self, node: usize) -> &dyn Op {
        self.nodes[node].op.as_ref()
    }
    fn inputs(&self, node: usize) -> &[Option<usize>] {
        &self.nodes[node].inputs
    }
    fn outputs(&self, node: usize) -> &[Option<usize>] {
        &self.nodes[node].outputs
    }
    fn readers(&self, slot: usize) -> &[usize] {
        &self.readers[slot]
    }
    fn constant(&self, slot: usize) -> Option<&Value> {
        self.constants[slot].as_deref()
    }
    fn is_output(&self, slot: usize) -> bool {
        self.output_slots.contains(&slot)
    }
}

/// `nodes` (over `slots` value slots) with every fusable chain replaced by one node (same
/// slots, same order).
pub(crate) fn fuse(nodes: &[Node], slots: usize, constants: &[Option<Arc<Value>>], output_slots: &[usize]) -> Vec<Node> {
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); slots];
    for (i, n) in nodes.iter().enumerate() {
        for &s in n.inputs.iter().flatten() {
            readers[s].push(i);
        }
    }
    let graph = Graph { nodes, readers, constants, output_slots };
    let mut absorbed = vec![false; nodes.len()];
    let mut plan = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        if absorbed[i] {
            continue;
        }
        match node.op.fuse_chain(&graph, i) {
            Some(fused) => {
                fused.absorbed.iter().for_each(|&u| absorbed[u] = true);
                plan.push(Node { name: node.name.clone(), op: fused.op, inputs: fused.inputs, outputs: vec![Some(fused.output)] });
            }
            None => plan.push(node.clone()),
        }
    }
    plan
}

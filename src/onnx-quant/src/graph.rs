//! What ONNX Runtime's quantizer does to the graph around the quantized nodes
//! (`onnxruntime/quantization/onnx_model.py`): the names in use, unused initializers removed
//! (`_clean_initializers_helper`) and the nodes topologically sorted (`topological_sort`), in
//! the same order it sorts them.

use crate::{QuantizeError, Result};
use prost::Message;
use quantscope_formats::onnx::proto::{GraphProto, NodeProto};
use quantscope_formats::onnx::splice::GraphEdit;
use std::collections::{HashMap, HashSet};

/// The subgraphs of a node's attributes (`If` branches, `Loop`/`Scan` bodies), decoded.
pub fn subgraphs(node: &NodeProto) -> Result<Vec<GraphProto>> {
    let mut out = Vec::new();
    for a in &node.attribute {
        for bytes in a.g.iter().chain(&a.graphs) {
            let g = GraphProto::decode(&bytes[..]).map_err(|e| {
                QuantizeError::Unsupported(format!("a subgraph of node '{}' is not a GraphProto: {e}", node.name.as_deref().unwrap_or("")))
            })?;
            out.push(g);
        }
    }
    Ok(out)
}

fn names_in_graph(g: &GraphProto, out: &mut HashSet<String>) -> Result<()> {
    out.extend(g.initializer.iter().filter_map(|t| t.name.clone()));
    out.extend(g.input.iter().chain(&g.output).filter_map(|v| v.name.clone()));
    names_in_nodes(&g.node, out)
}

fn names_in_nodes(nodes: &[NodeProto], out: &mut HashSet<String>) -> Result<()> {
    for n in nodes {
        out.extend(n.input.iter().chain(&n.output).cloned());
        for g in subgraphs(n)? {
            names_in_graph(&g, out)?;
        }
    }
    Ok(())
}

/// Every tensor name the model uses, subgraphs included (`replace_gemm_with_matmul`'s
/// `tensor_names`, which new names must not collide with).
pub fn names_in_use(graph: &GraphEdit) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    out.extend(graph.initializers.iter().filter_map(|t| t.message.name.clone()));
    out.extend(graph.inputs.iter().filter_map(|v| v.message.name.clone()));
    out.extend(graph.rest.output.iter().filter_map(|v| v.name.clone()));
    let nodes: Vec<NodeProto> = graph.nodes.iter().map(|n| n.message.clone()).collect();
    names_in_nodes(&nodes, &mut out)?;
    Ok(out)
}

/// The names a subgraph reads from outside itself (what `_clean_initializers_helper` returns).
fn outer_names(g: &GraphProto) -> Result<HashSet<String>> {
    let mut wanted: HashSet<String> = g.node.iter().flat_map(|n| n.input.iter()).filter(|s| !s.is_empty()).cloned().collect();
    wanted.extend(g.output.iter().filter_map(|o| o.name.clone()).filter(|s| !s.is_empty()));
    for n in &g.node {
        for sub in subgraphs(n)? {
            wanted.extend(outer_names(&sub)?);
        }
    }
    for n in &g.node {
        for o in &n.output {
            wanted.remove(o);
        }
    }
    for t in &g.initializer {
        if let Some(name) = &t.name {
            wanted.remove(name);
        }
    }
    for i in &g.input {
        if let Some(name) = &i.name {
            wanted.remove(name);
        }
    }
    Ok(wanted)
}

/// Removes the initializers no node (nor subgraph, nor graph output) reads, and the graph
/// inputs that named them (models of IR version < 4 list initializers as inputs).
pub fn clean_initializers(graph: &mut GraphEdit) -> Result<()> {
    let mut wanted: HashSet<String> = HashSet::new();
    for n in &graph.nodes {
        wanted.extend(n.message.input.iter().filter(|s| !s.is_empty()).cloned());
        for sub in subgraphs(&n.message)? {
            wanted.extend(outer_names(&sub)?);
        }
    }
    wanted.extend(graph.rest.output.iter().filter_map(|o| o.name.clone()).filter(|s| !s.is_empty()));
    for n in &graph.nodes {
        for o in &n.message.output {
            wanted.remove(o);
        }
    }
    // As ONNX Runtime: a name is used once; a second initializer of the same name goes.
    let mut removed = HashSet::new();
    graph.initializers.retain(|t| {
        let name = t.message.name.clone().unwrap_or_default();
        let keep = wanted.remove(&name);
        if !keep {
            removed.insert(name);
        }
        keep
    });
    graph.inputs.retain(|i| !removed.contains(i.message.name.as_deref().unwrap_or_default()));
    Ok(())
}

/// `ONNXModel.topological_sort`: nodes without inputs first, in order; then, for each
/// initializer or graph input name in sorted order, the nodes it completes; then breadth-first
/// from each sorted node's outputs. A node left over means a cycle or an input nothing makes.
pub fn topological_sort(graph: &mut GraphEdit) -> Result<()> {
    let nodes = std::mem::take(&mut graph.nodes);
    let mut deps_count = vec![0usize; nodes.len()];
    let mut deps_to_nodes: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut sorted: Vec<usize> = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        deps_count[i] = n.message.input.iter().filter(|s| !s.is_empty()).count();
        if deps_count[i] == 0 {
            sorted.push(i);
            continue;
        }
        for input in n.message.input.iter().filter(|s| !s.is_empty()) {
            deps_to_nodes.entry(input).or_default().push(i);
        }
    }
    let mut input_names: Vec<&str> = graph
        .initializers
        .iter()
        .filter_map(|t| t.message.name.as_deref())
        .chain(graph.inputs.iter().filter_map(|v| v.message.name.as_deref()))
        .collect();
    input_names.sort_unstable();
    input_names.dedup();
    let release = |name: &str, sorted: &mut Vec<usize>, deps_count: &mut Vec<usize>| {
        if let Some(readers) = deps_to_nodes.get(name) {
            for &k in readers {
                deps_count[k] -= 1;
                if deps_count[k] == 0 {
                    sorted.push(k);
                }
            }
        }
    };
    for name in input_names {
        release(name, &mut sorted, &mut deps_count);
    }
    let mut start = 0;
    while start < sorted.len() {
        for output in &nodes[sorted[start]].message.output {
            release(output, &mut sorted, &mut deps_count);
        }
        start += 1;
    }
    if sorted.len() != nodes.len() {
        let stuck = (0..nodes.len()).find(|i| !sorted.contains(i)).map(|i| nodes[i].message.name.clone().unwrap_or_default());
        graph.nodes = nodes;
        return Err(QuantizeError::Unsupported(format!(
            "the graph is not a DAG of its inputs and initializers (node '{}' waits for a value nothing makes)",
            stuck.unwrap_or_default()
        )));
    }
    let mut slots: Vec<_> = nodes.into_iter().map(Some).collect();
    graph.nodes = sorted.into_iter().map(|i| slots[i].take().expect("each node is sorted once")).collect();
    Ok(())
}

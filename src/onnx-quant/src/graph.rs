//! What ONNX Runtime's quantizer does to the graph around the quantized nodes
//! (`onnxruntime/quantization/onnx_model.py`): the names in use, unused initializers removed
//! (`_clean_initializers_helper`) and the nodes topologically sorted (`topological_sort`), in
//! the same order it sorts them.

use crate::{QuantizeError, Result};
use prost::Message;
use quantscope_formats::onnx::proto::{GraphProto, NodeProto, TensorProto, ValueInfoProto};
use quantscope_formats::onnx::splice::GraphEdit;
use quantscope_formats::onnx::splice::{bytes_field, rewrite_fields, FieldEdit};
use std::collections::{HashMap, HashSet};

/// `GraphProto` field numbers (onnx.proto).
const GRAPH_NODE: u32 = 1;
/// `GraphProto.initializer`.
pub const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_INPUT: u32 = 11;

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

/// The names the nodes (and their subgraphs) and the outputs of a graph read that its nodes do
/// not make (`_clean_initializers_helper`'s `requesting_tensor_names`).
fn requested(nodes: &[NodeProto], outputs: &[ValueInfoProto]) -> Result<HashSet<String>> {
    let mut wanted: HashSet<String> = nodes.iter().flat_map(|n| n.input.iter()).filter(|s| !s.is_empty()).cloned().collect();
    wanted.extend(outputs.iter().filter_map(|o| o.name.clone()).filter(|s| !s.is_empty()));
    for n in nodes {
        for sub in subgraphs(n)? {
            wanted.extend(outer_names(&sub)?);
        }
    }
    for n in nodes {
        for o in &n.output {
            wanted.remove(o);
        }
    }
    Ok(wanted)
}

/// The names a subgraph reads from outside itself (what `_clean_initializers_helper` returns).
fn outer_names(g: &GraphProto) -> Result<HashSet<String>> {
    let mut wanted = requested(&g.node, &g.output)?;
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

/// Whether a node has subgraphs (`If`, `Loop`, `Scan`).
pub fn has_subgraphs(node: &NodeProto) -> bool {
    node.attribute.iter().any(|a| a.g.is_some() || !a.graphs.is_empty())
}

/// A node with subgraphs as `onnx.helper.make_node(op_type, input, output, name=name,
/// **kwargs)` makes it again (ONNX Runtime does so for each such node, in
/// `quantize_node_with_sub_graph` and `_clean_initializers_helper`): the attributes sorted by
/// name and without their doc strings (not decoded here either), the node's doc string and
/// ONNX domain dropped, each
/// subgraph replaced by `graph(bytes)` — called in the attributes' own order. A node of
/// another domain keeps it, so that the file still names its op (ONNX Runtime drops it).
// `&mut dyn`: one copy of this for its four callers.
pub fn remake_node(node: &NodeProto, graph: &mut dyn FnMut(&[u8]) -> Result<Vec<u8>>) -> Result<NodeProto> {
    let mut attribute = Vec::with_capacity(node.attribute.len());
    for a in &node.attribute {
        let mut a = a.clone();
        a.ref_attr_name = None;
        if let Some(g) = &a.g {
            a.g = Some(graph(g)?);
        }
        a.graphs = a.graphs.iter().map(|g| graph(g)).collect::<Result<_>>()?;
        attribute.push(a);
    }
    attribute.sort_by(|a, b| a.name.cmp(&b.name));
    let default = matches!(node.domain.as_deref(), None | Some("") | Some("ai.onnx"));
    Ok(NodeProto {
        input: node.input.clone(),
        output: node.output.clone(),
        name: node.name.clone().filter(|s| !s.is_empty()),
        op_type: node.op_type.clone(),
        domain: if default { None } else { node.domain.clone() },
        attribute,
    })
}

fn decode_graph(bytes: &[u8]) -> Result<GraphProto> {
    GraphProto::decode(bytes).map_err(|e| QuantizeError::Unsupported(format!("a subgraph is not a GraphProto: {e}")))
}

/// How many MatMul, Conv, LSTM and Gemm nodes a subgraph holds, its own subgraphs included.
pub fn quantizable_inside(bytes: &[u8]) -> Result<usize> {
    let g = decode_graph(bytes)?;
    let mut count = 0;
    for n in &g.node {
        count += usize::from(matches!(n.op_type.as_deref(), Some("MatMul" | "Conv" | "LSTM" | "Gemm")));
        for a in &n.attribute {
            for sub in a.g.iter().chain(&a.graphs) {
                count += quantizable_inside(sub)?;
            }
        }
    }
    Ok(count)
}

/// A subgraph written back as ONNX Runtime leaves it (`_clean_initializers_helper`): its
/// nodes (`nodes`, or its own with their subgraphs cleaned the same way), its initializers then
/// `new_initializers`, less those nothing reads (and the graph inputs naming them). The other
/// fields (value_info, doc string, ...) keep their bytes.
pub fn clean_subgraph(bytes: &[u8], nodes: Option<Vec<NodeProto>>, new_initializers: Vec<TensorProto>) -> Result<Vec<u8>> {
    let g = decode_graph(bytes)?;
    let nodes = match nodes {
        Some(nodes) => nodes,
        None => g
            .node
            .iter()
            .map(|n| if has_subgraphs(n) { remake_node(n, &mut |b| clean_subgraph(b, None, Vec::new())) } else { Ok(n.clone()) })
            .collect::<Result<_>>()?,
    };
    let mut wanted = requested(&nodes, &g.output)?;
    let names = g.initializer.iter().chain(&new_initializers).map(|t| t.name.clone().unwrap_or_default());
    let keep: Vec<bool> = names.map(|name| wanted.remove(&name)).collect();
    write_subgraph(bytes, &g, &nodes, &new_initializers, &keep, true)
}

/// A subgraph with `nodes` in place of its own and `new_initializers` after its own, every
/// other field as it was (`__replace_gemm_with_matmul`'s edit of a subgraph).
pub fn with_nodes(bytes: &[u8], nodes: Vec<NodeProto>, new_initializers: Vec<TensorProto>) -> Result<Vec<u8>> {
    let g = decode_graph(bytes)?;
    let keep = vec![true; g.initializer.len() + new_initializers.len()];
    write_subgraph(bytes, &g, &nodes, &new_initializers, &keep, false)
}

/// `bytes` (decoded as `g`) written with `nodes` where its nodes were, and of its initializers
/// then `new_initializers` those `keep` says (a graph input naming one that goes goes too);
/// with `reloaded`, its own initializers as ONNX Runtime's reload leaves them ([`reloaded`]).
#[inline(never)]
fn write_subgraph(
    bytes: &[u8],
    g: &GraphProto,
    nodes: &[NodeProto],
    new_initializers: &[TensorProto],
    keep: &[bool],
    reloaded: bool,
) -> Result<Vec<u8>> {
    let names: Vec<String> = g.initializer.iter().chain(new_initializers).map(|t| t.name.clone().unwrap_or_default()).collect();
    let removed: HashSet<&str> = names.iter().zip(keep).filter(|(_, k)| !**k).map(|(n, _)| n.as_str()).collect();
    let (old_count, mut at) = (g.initializer.len(), 0);
    let mut new_fields = Vec::new();
    for (t, _) in new_initializers.iter().zip(&keep[old_count..]).filter(|(_, k)| **k) {
        new_fields.extend(bytes_field(GRAPH_INITIALIZER, &t.encode_to_vec()));
    }
    let mut node_fields = Vec::new();
    for n in nodes {
        node_fields.extend(bytes_field(GRAPH_NODE, &n.encode_to_vec()));
    }
    let mut nodes_written = false;
    let mut out = rewrite_fields(bytes, |number, payload| match number {
        GRAPH_NODE if nodes_written => FieldEdit::Drop,
        GRAPH_NODE => {
            nodes_written = true;
            FieldEdit::Replace(std::mem::take(&mut node_fields))
        }
        GRAPH_INITIALIZER => {
            at += 1;
            let mut whole = match (keep[at - 1], reloaded.then(|| self::reloaded(payload)).flatten()) {
                (false, _) => Vec::new(),
                (true, Some(marked)) => bytes_field(GRAPH_INITIALIZER, &marked),
                (true, None) => bytes_field(GRAPH_INITIALIZER, payload),
            };
            if at == old_count {
                whole.append(&mut new_fields);
            }
            FieldEdit::Replace(whole)
        }
        GRAPH_INPUT => {
            let name = ValueInfoProto::decode(payload).ok().and_then(|v| v.name).unwrap_or_default();
            if removed.contains(name.as_str()) {
                FieldEdit::Drop
            } else {
                FieldEdit::Keep
            }
        }
        _ => FieldEdit::Keep,
    })?;
    if !nodes_written {
        out.extend(node_fields);
    }
    if old_count == 0 {
        out.extend(new_fields);
    }
    Ok(out)
}

/// An initializer's bytes (`payload`, a TensorProto) as ONNX Runtime's dynamic mode leaves a
/// float constant it does not quantize: its `ONNXQuantizer` saves and reloads the whole model with
/// the weights as external data (`save_and_reload_model_with_shape_infer`, quant_utils.py), and
/// onnx moves out every tensor whose `raw_data` has `sys.getsizeof` ≥ 1024 (33 bytes of CPython's
/// header: 991 bytes of data and up), then writes `data_location: DEFAULT` on it when it reads
/// it back (external_data_helper.py). None when the tensor comes back as it was.
pub fn reloaded(payload: &[u8]) -> Option<Vec<u8>> {
    let t = TensorProto::decode(payload).ok()?;
    moved_by_reload(&t).then(|| [payload, &DATA_LOCATION_DEFAULT].concat())
}

/// Whether [`reloaded`] marks this tensor.
pub fn moved_by_reload(t: &TensorProto) -> bool {
    t.raw_data.as_ref().is_some_and(|r| r.len() >= 991) && t.data_location.is_none()
}

/// Field 14 (data_location), varint 0 (DEFAULT), as [`reloaded`] appends it: protobuf writes the
/// fields in number order, and 14 is the last that onnx's TensorProto defines but
/// metadata_props (16).
pub const DATA_LOCATION_DEFAULT: [u8; 2] = [14 << 3, 0];

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

//! Every weight of an ONNX model, wherever the exporter put it: the graph's initializers, the
//! values of its `Constant` nodes (Paddle and older PyTorch exports keep weights there), and
//! the same inside the subgraphs of `If` (`then_branch`, `else_branch`), `Loop` and `Scan`
//! (`body`) — any graph-valued attribute, at any depth.
//!
//! Each weight is told with the ops that read it: a subgraph may read a weight of an enclosing
//! graph by name (ONNX IR's outer-scope values), so a node input is resolved to the innermost
//! graph, from the node's own outwards, that defines the name (as an initializer, a graph
//! input or a node output). The first reader names the weight for people ("Conv 'conv1'
//! weight"), and the op types of all its readers are its groups.

use super::proto::{AttributeProto, GraphProto, NodeProto, TensorProto};
use super::roles;
use super::OnnxError;
use prost::Message;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Subgraphs nested deeper than this are refused: real models nest two or three levels, and
/// every level is decoded on its own, so a hostile file could otherwise recurse without end.
pub const MAX_SUBGRAPH_DEPTH: usize = 32;

/// The group of a weight no node reads (a graph output, or left over by the exporter).
pub const NO_CONSUMER: &str = "(no consumer)";

/// One node input that reads a weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consumer {
    /// The op type, with its domain when it is not the default one (`com.microsoft.Attention`).
    pub op: String,
    /// The node's name, else its first output's name, else `#<index in its graph>`.
    pub node: String,
    /// The input's position among the node's inputs.
    pub input: usize,
    /// ONNX's name of that input (`W`, `B`), or `input <k>` (see `onnx::roles`).
    pub input_name: String,
    /// What a person calls it (`weight`, `bias`, `B`).
    pub role: String,
    /// Where the node is: [`MAIN_GRAPH`] or a subgraph path.
    pub graph: String,
}

/// Where a weight lives when it is not in a subgraph.
pub const MAIN_GRAPH: &str = "main graph";

/// What the reader knows about one weight besides its values: listed beside each tensor, in
/// the same order, in `LoadedFile::weights`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightInfo {
    /// The ONNX name: the initializer's name or the `Constant` node's output name.
    pub onnx_name: String,
    /// The name a person recognises: the first reader's op, node and role ("Conv 'conv1'
    /// weight"), with how many other readers there are; the ONNX name when nothing reads it.
    pub label: String,
    /// `initializer`, or the `Constant` attribute that held it (`Constant value_floats`).
    pub source: String,
    /// [`MAIN_GRAPH`], or the subgraph's path: `If 'cond' then_branch / Loop 'steps' body`.
    pub graph: String,
    pub consumers: Vec<Consumer>,
    /// The op types of its readers, each once, in reading order ([`NO_CONSUMER`] when none).
    pub groups: Vec<String>,
}

/// One graph of the model: the main graph (borrowed) or a decoded subgraph.
pub struct Scope<'a> {
    pub graph: Cow<'a, GraphProto>,
    /// [`MAIN_GRAPH`] or the subgraph path.
    pub path: String,
    parent: Option<usize>,
}

/// The op type as the reader lists it: with its domain unless it is the default one.
pub fn op_name(n: &NodeProto) -> String {
    let op = n.op_type.as_deref().unwrap_or("?");
    match n.domain.as_deref() {
        Some(d) if !d.is_empty() && d != "ai.onnx" => format!("{d}.{op}"),
        _ => op.to_string(),
    }
}

/// How a node is named in labels and paths: its name, else its first output, else its index.
pub fn node_label(n: &NodeProto, index: usize) -> String {
    match (n.name.as_deref().filter(|s| !s.is_empty()), n.output.first().filter(|s| !s.is_empty())) {
        (Some(name), _) => name.to_string(),
        (None, Some(output)) => output.clone(),
        (None, None) => format!("#{index}"),
    }
}

/// The main graph and every subgraph under it, parents before children (depth first, in node
/// order), each decoded from its attribute's bytes.
pub fn collect_graphs(main: &GraphProto) -> Result<Vec<Scope<'_>>, OnnxError> {
    let mut out = Vec::new();
    visit(Cow::Borrowed(main), MAIN_GRAPH.to_string(), None, 0, &mut out)?;
    Ok(out)
}

fn visit<'a>(
    graph: Cow<'a, GraphProto>,
    path: String,
    parent: Option<usize>,
    depth: usize,
    out: &mut Vec<Scope<'a>>,
) -> Result<(), OnnxError> {
    let mut children = Vec::new();
    for (i, node) in graph.node.iter().enumerate() {
        for attr in &node.attribute {
            let attr_name = attr.name.as_deref().unwrap_or("?");
            let bodies = attr.g.iter().map(|b| (b, attr_name.to_string()));
            let listed = attr.graphs.iter().enumerate().map(|(k, b)| (b, format!("{attr_name}[{k}]")));
            for (bytes, attr_path) in bodies.chain(listed) {
                let at = format!("{} '{}' {attr_path}", op_name(node), node_label(node, i));
                let child_path = if parent.is_none() { at.clone() } else { format!("{path} / {at}") };
                if depth + 1 > MAX_SUBGRAPH_DEPTH {
                    return Err(OnnxError::SubgraphsTooDeep { path: child_path, limit: MAX_SUBGRAPH_DEPTH });
                }
                let sub = GraphProto::decode(bytes.as_slice())
                    .map_err(|e| OnnxError::SubgraphDecode { path: child_path.clone(), why: e.to_string() })?;
                children.push((sub, child_path));
            }
        }
    }
    let index = out.len();
    out.push(Scope { graph, path, parent });
    for (sub, child_path) in children {
        visit(Cow::Owned(sub), child_path, Some(index), depth + 1, out)?;
    }
    Ok(())
}

/// Readers of every value, keyed by (the scope that defines it, its name).
pub fn consumers<'s>(scopes: &'s [Scope<'_>]) -> HashMap<(usize, &'s str), Vec<Consumer>> {
    let defined: Vec<HashSet<&str>> = scopes
        .iter()
        .map(|s| {
            let g = &s.graph;
            let inits = g.initializer.iter().filter_map(|t| t.name.as_deref());
            let inputs = g.input.iter().filter_map(|v| v.name.as_deref());
            let outputs = g.node.iter().flat_map(|n| n.output.iter().map(String::as_str));
            inits.chain(inputs).chain(outputs).collect()
        })
        .collect();
    let mut readers: HashMap<(usize, &str), Vec<Consumer>> = HashMap::new();
    for (si, scope) in scopes.iter().enumerate() {
        for (ni, node) in scope.graph.node.iter().enumerate() {
            for (k, input) in node.input.iter().enumerate().filter(|(_, i)| !i.is_empty()) {
                // The innermost graph, from the node's own outwards, that defines the name.
                let mut at = Some(si);
                while let Some(j) = at {
                    if defined[j].contains(input.as_str()) {
                        let op = op_name(node);
                        let input_name = roles::input_name(node.domain.as_deref().unwrap_or(""), node.op_type.as_deref().unwrap_or("?"), k);
                        let role = roles::role(&op, &input_name);
                        let node = node_label(node, ni);
                        readers.entry((j, input.as_str())).or_default().push(Consumer {
                            op,
                            node,
                            input: k,
                            input_name,
                            role,
                            graph: scope.path.clone(),
                        });
                        break;
                    }
                    at = scopes[j].parent;
                }
            }
        }
    }
    readers
}

/// A weight found in the model, before its values are decoded.
pub struct Found<'a> {
    pub onnx_name: String,
    /// `initializer` or `Constant` (for messages: "ONNX Constant 'x' has dims ...").
    pub what: &'static str,
    pub scope: usize,
    pub source: String,
    pub value: Value<'a>,
}

/// A weight's value as the model holds it.
pub enum Value<'a> {
    /// A tensor to decode (an initializer, a `Constant`'s `value`, or one built from its
    /// `value_float(s)` / `value_int(s)`).
    Tensor(Box<Cow<'a, TensorProto>>),
    /// A value quantscope does not decode, with why (strings, sparse tensors).
    Unsupported(String),
}

impl<'a> Value<'a> {
    fn tensor(t: Cow<'a, TensorProto>) -> Self {
        Value::Tensor(Box::new(t))
    }
}

/// Every weight of every scope, in scope order: a scope's initializers, then its `Constant`
/// values in node order.
pub fn find<'a>(scopes: &'a [Scope<'_>]) -> Result<Vec<Found<'a>>, OnnxError> {
    let mut found = Vec::new();
    for (si, scope) in scopes.iter().enumerate() {
        for (i, t) in scope.graph.initializer.iter().enumerate() {
            let onnx_name = t.name.clone().unwrap_or_else(|| format!("initializer #{i}"));
            found.push(Found {
                onnx_name,
                what: "initializer",
                scope: si,
                source: "initializer".into(),
                value: Value::tensor(Cow::Borrowed(t)),
            });
        }
        for t in &scope.graph.sparse_initializer {
            let onnx_name = t.values.as_ref().and_then(|v| v.name.clone()).unwrap_or_else(|| "sparse initializer".into());
            let why = format!("sparse tensor of dims {:?}: sparse tensors are not supported", t.dims);
            found.push(Found {
                onnx_name,
                what: "initializer",
                scope: si,
                source: "sparse_initializer".into(),
                value: Value::Unsupported(why),
            });
        }
        for (ni, node) in scope.graph.node.iter().enumerate() {
            if node.op_type.as_deref() != Some("Constant") || node.domain.as_deref().is_some_and(|d| !d.is_empty() && d != "ai.onnx") {
                continue;
            }
            let onnx_name = node.output.first().filter(|s| !s.is_empty()).cloned().unwrap_or_else(|| format!("Constant #{ni}"));
            let (attr, value) = constant_value(node)
                .ok_or_else(|| OnnxError::ConstantWithoutValue { name: onnx_name.clone(), graph: scope.path.clone() })?;
            found.push(Found { onnx_name, what: "Constant", scope: si, source: format!("Constant {attr}"), value });
        }
    }
    Ok(found)
}

/// The value of a `Constant` node (operator `Constant`, opset 13+: exactly one of these
/// attributes), with the attribute's name; `None` when it has none of them.
fn constant_value(node: &NodeProto) -> Option<(String, Value<'_>)> {
    let scalar = |dims: Vec<i64>| TensorProto { dims, ..Default::default() };
    node.attribute.iter().find_map(|a: &AttributeProto| {
        let name = a.name.as_deref()?;
        let value = match name {
            "value" => Value::tensor(Cow::Borrowed(a.t.as_ref()?)),
            // The scalar forms are 0-d tensors, the list forms 1-d (Constant's schema).
            "value_float" => Value::tensor(Cow::Owned(TensorProto { data_type: Some(1), float_data: vec![a.f?], ..scalar(vec![]) })),
            "value_floats" => {
                let n = a.floats.len() as i64;
                Value::tensor(Cow::Owned(TensorProto { data_type: Some(1), float_data: a.floats.clone(), ..scalar(vec![n]) }))
            }
            "value_int" => Value::tensor(Cow::Owned(TensorProto { data_type: Some(7), int64_data: vec![a.i?], ..scalar(vec![]) })),
            "value_ints" => {
                let n = a.ints.len() as i64;
                Value::tensor(Cow::Owned(TensorProto { data_type: Some(7), int64_data: a.ints.clone(), ..scalar(vec![n]) }))
            }
            "value_string" | "value_strings" => Value::Unsupported("strings are not weights".into()),
            "sparse_value" => {
                let dims = a.sparse_tensor.as_ref().map(|s| s.dims.clone()).unwrap_or_default();
                Value::Unsupported(format!("sparse tensor of dims {dims:?}: sparse tensors are not supported"))
            }
            _ => return None,
        };
        Some((name.to_string(), value))
    })
}

/// The [`WeightInfo`] of a found weight, from its readers.
pub fn describe(found: &Found<'_>, scopes: &[Scope<'_>], readers: &HashMap<(usize, &str), Vec<Consumer>>) -> WeightInfo {
    let consumers = readers.get(&(found.scope, found.onnx_name.as_str())).cloned().unwrap_or_default();
    let mut groups: Vec<String> = Vec::new();
    for c in &consumers {
        if !groups.contains(&c.op) {
            groups.push(c.op.clone());
        }
    }
    if groups.is_empty() {
        groups.push(NO_CONSUMER.to_string());
    }
    let label = match consumers.as_slice() {
        [] => found.onnx_name.clone(),
        [c] => format!("{} '{}' {}", c.op, c.node, c.role),
        [c, rest @ ..] => format!("{} '{}' {} (+{} more)", c.op, c.node, c.role, rest.len()),
    };
    WeightInfo {
        onnx_name: found.onnx_name.clone(),
        label,
        source: found.source.clone(),
        graph: scopes[found.scope].path.clone(),
        consumers,
        groups,
    }
}

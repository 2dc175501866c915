//! Gemm split into MatMul (+ Add) before dynamic quantization, as ONNX Runtime splits it
//! (`ONNXModel.__replace_gemm_with_matmul`, `onnxruntime/quantization/onnx_model.py`): only
//! when alpha = beta = 1 and transA = 0; a transB = 1 constant B becomes a new transposed
//! initializer `<B>_Transposed` (numbered when the name or a name derived from it is taken),
//! a computed one a Transpose node. Subgraphs too: a transB weight of an enclosing graph is
//! transposed into the subgraph that reads it.

use crate::{graph, QuantizeError, Result};
use prost::Message;
use quantscope_formats::map_data;
use quantscope_formats::onnx::proto::{GraphProto, NodeProto, TensorProto};
use quantscope_formats::onnx::splice::{GraphEdit, Kept};
use quantscope_formats::onnx::tensor;
use std::collections::{HashMap, HashSet};

fn float_attr(n: &NodeProto, name: &str, default: f32) -> f32 {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name)).and_then(|a| a.f).unwrap_or(default)
}

pub(crate) fn int_attr(n: &NodeProto, name: &str, default: i64) -> i64 {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name)).and_then(|a| a.i).unwrap_or(default)
}

/// `onnx.helper.make_node(op, inputs, outputs, name)`: no name when it is empty.
pub fn node(op: &str, inputs: Vec<String>, outputs: Vec<String>, name: &str) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        input: inputs,
        output: outputs,
        name: (!name.is_empty()).then(|| name.to_string()),
        ..Default::default()
    }
}

/// The transpose [cols, rows] of `v` [rows, cols] (tensor::decode holds its length to the
/// shape), column by column: no division per element (`k % rows`, `k / rows` had been most of
/// its time).
fn transpose<T: Copy>(v: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for c in 0..cols {
        out.extend((0..rows).map(|r| v[r * cols + c]));
    }
    out
}

/// [`transpose`] in tiles of 32 × 32, so that reads and writes both stay within a few pages:
/// a column of ddddocr's 512 × 8210 classifier touches 512 pages (2.4× slower in the page).
fn transpose_tiled(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut out = vec![0f32; v.len()];
    for c0 in (0..cols).step_by(TILE) {
        for r0 in (0..rows).step_by(TILE) {
            for c in c0..(c0 + TILE).min(cols) {
                for r in r0..(r0 + TILE).min(rows) {
                    out[c * rows + r] = v[r * cols + c];
                }
            }
        }
    }
    out
}

/// Splits every Gemm that ONNX Runtime splits, in the main graph and in every subgraph (`If`
/// branches, `Loop`/`Scan` bodies, nested); `names` are the names in use and gains the ones
/// reserved.
pub fn replace_gemm_with_matmul(graph: &mut GraphEdit, names: &mut HashSet<String>) -> Result<()> {
    let mut transposed_weights: HashMap<String, String> = HashMap::new();
    let old = std::mem::take(&mut graph.nodes);
    let mut new_nodes = Vec::with_capacity(old.len());
    for kept in old {
        // ONNX Runtime makes a node with subgraphs again (`make_node`) after walking them; a node
        // whose subgraphs hold no Gemm to split keeps its bytes (the quantizer remakes it anyway).
        let main = |name: &str| graph.initializer(name).cloned();
        let rewritten = if graph::has_subgraphs(&kept.message) {
            let mut changed = false;
            let remade = graph::remake_node(&kept.message, &mut |bytes| {
                let out = split_in_subgraph(bytes, &[&main], names)?;
                changed |= out.is_some();
                Ok(out.unwrap_or_else(|| bytes.to_vec()))
            })?;
            changed.then_some(remade)
        } else {
            None
        };
        let kept = rewritten.map(Kept::new).unwrap_or(kept);
        let mut made = Vec::new();
        match split(&kept.message, &main, &mut transposed_weights, names, &mut made)? {
            Some(nodes) => {
                graph.initializers.extend(made.into_iter().map(Kept::new));
                new_nodes.extend(nodes.into_iter().map(Kept::new));
            }
            None => new_nodes.push(kept),
        }
    }
    graph.nodes = new_nodes;
    Ok(())
}

/// An initializer by name, looked up in one graph.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<TensorProto>;

/// One subgraph with its Gemms split (`__replace_gemm_with_matmul` on it): `None` when it holds
/// no Gemm to split, itself or in its own subgraphs. `outer` are the enclosing graphs'
/// initializers, innermost last (`graph_path`): a transB weight from any of them is
/// transposed into this subgraph, one copy per subgraph that reads it.
fn split_in_subgraph(bytes: &[u8], outer: &[Lookup], names: &mut HashSet<String>) -> Result<Option<Vec<u8>>> {
    let g = GraphProto::decode(bytes).map_err(|e| QuantizeError::Unsupported(format!("a subgraph is not a GraphProto: {e}")))?;
    let own = |name: &str| g.initializer.iter().find(|t| t.name.as_deref() == Some(name)).cloned();
    let mut path: Vec<Lookup> = outer.to_vec();
    path.push(&own);
    let in_path = |name: &str| path.iter().rev().find_map(|lookup| lookup(name));
    let (mut transposed_weights, mut made, mut changed) = (HashMap::new(), Vec::new(), false);
    let mut nodes = Vec::with_capacity(g.node.len());
    for n in &g.node {
        let n = if graph::has_subgraphs(n) {
            // Remade whether or not it changed, as ONNX Runtime does inside a graph it rewrites.
            graph::remake_node(n, &mut |inner| {
                let out = split_in_subgraph(inner, &path, names)?;
                changed |= out.is_some();
                Ok(out.unwrap_or_else(|| inner.to_vec()))
            })?
        } else {
            n.clone()
        };
        match split(&n, &in_path, &mut transposed_weights, names, &mut made)? {
            Some(split) => {
                changed = true;
                nodes.extend(split);
            }
            None => nodes.push(n),
        }
    }
    if !changed {
        return Ok(None);
    }
    graph::with_nodes(bytes, nodes, made).map(Some)
}

/// The nodes one Gemm becomes, or `None` when ONNX Runtime leaves it (alpha or beta not 1,
/// transA). A transB weight found by `initializer` is transposed into `made` once per graph
/// (`transposed_weights`), under a name no tensor has and no derived name would take.
// Not inlined into its two callers: its transposition is instantiated for every element type.
#[inline(never)]
fn split(
    n: &NodeProto,
    initializer: &dyn Fn(&str) -> Option<TensorProto>,
    transposed_weights: &mut HashMap<String, String>,
    names: &mut HashSet<String>,
    made: &mut Vec<TensorProto>,
) -> Result<Option<Vec<NodeProto>>> {
    let gemm = n.op_type.as_deref() == Some("Gemm") && n.input.len() >= 2;
    if !gemm || float_attr(n, "alpha", 1.0) != 1.0 || float_attr(n, "beta", 1.0) != 1.0 || int_attr(n, "transA", 0) != 0 {
        return Ok(None);
    }
    let name = n.name.clone().unwrap_or_default();
    let mut new_nodes = Vec::new();
    let mut input_b = n.input[1].clone();
    if int_attr(n, "transB", 0) == 1 {
        if let Some(b) = initializer(&input_b) {
            if !transposed_weights.contains_key(&input_b) {
                let mut t_name = format!("{input_b}_Transposed");
                let mut suffix = 0;
                let suffixes = ["", "_quantized", "_scale", "_zero_point"];
                while suffixes.iter().any(|s| names.contains(&format!("{t_name}{s}"))) {
                    suffix += 1;
                    t_name = format!("{input_b}_Transposed_{suffix}");
                }
                names.extend(suffixes.iter().map(|s| format!("{t_name}{s}")));
                let decoded = tensor::decode(&b).map_err(|e| QuantizeError::Weight { name: input_b.clone(), why: e.to_string() })?;
                let (rows, cols) = match decoded.shape[..] {
                    [r, c] => (r, c),
                    _ => {
                        return Err(QuantizeError::Unsupported(format!(
                            "Gemm '{name}' has a B of shape {:?}; Gemm's B is 2-D",
                            decoded.shape
                        )))
                    }
                };
                // float32 (nearly every Gemm) in tiles; the other types column by column (less code)
                let data = match &decoded.data {
                    tensor::Data::F32(v) => tensor::Data::F32(transpose_tiled(v, rows, cols)),
                    other => map_data!(other, v => transpose(v, rows, cols)),
                };
                made.push(tensor::encode(&t_name, decoded.dtype, &[cols, rows], &data));
                transposed_weights.insert(input_b.clone(), t_name);
            }
            input_b = transposed_weights[&input_b].clone();
        } else {
            let t_out = format!("{input_b}_Transposed");
            let t_name = if name.is_empty() { String::new() } else { format!("{name}_Transpose") };
            new_nodes.push(node("Transpose", vec![n.input[1].clone()], vec![t_out.clone()], &t_name));
            input_b = t_out;
        }
    }
    // ONNX Runtime adds the Add when Gemm has a third input; an empty (absent) C would give
    // an Add of nothing, so it is left out here.
    let has_c = n.input.get(2).is_some_and(|c| !c.is_empty());
    let out = &n.output[0];
    let mm_out = if has_c { format!("{out}_MatMul") } else { out.clone() };
    let mm_name = if name.is_empty() { String::new() } else { format!("{name}_MatMul") };
    new_nodes.push(node("MatMul", vec![n.input[0].clone(), input_b], vec![mm_out.clone()], &mm_name));
    if has_c {
        let add_name = if name.is_empty() { String::new() } else { format!("{name}_Add") };
        new_nodes.push(node("Add", vec![mm_out, n.input[2].clone()], vec![out.clone()], &add_name));
    }
    Ok(Some(new_nodes))
}

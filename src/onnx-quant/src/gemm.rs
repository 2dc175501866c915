//! Gemm split into MatMul (+ Add) before dynamic quantization, as ONNX Runtime splits it
//! (`ONNXModel.__replace_gemm_with_matmul`, `onnxruntime/quantization/onnx_model.py`): only
//! when alpha = beta = 1 and transA = 0; a transB = 1 constant B becomes a new transposed
//! initializer `<B>_Transposed` (numbered when the name or a name derived from it is taken),
//! a computed one a Transpose node.

use crate::{QuantizeError, Result};
use quantscope_formats::map_data;
use quantscope_formats::onnx::proto::NodeProto;
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

fn transposed(rows: usize, cols: usize) -> impl Fn(usize) -> usize {
    // element k of the transpose [cols, rows] is element (k % rows) * cols + k / rows
    move |k| (k % rows) * cols + k / rows
}

/// Splits every Gemm of the main graph that ONNX Runtime splits; `names` are the names in use
/// and gains the ones reserved.
pub fn replace_gemm_with_matmul(graph: &mut GraphEdit, names: &mut HashSet<String>) -> Result<()> {
    let mut transposed_weights: HashMap<String, String> = HashMap::new();
    let old = std::mem::take(&mut graph.nodes);
    let mut new_nodes = Vec::with_capacity(old.len());
    for kept in old {
        let n = &kept.message;
        let gemm = n.op_type.as_deref() == Some("Gemm") && n.input.len() >= 2;
        if !gemm || float_attr(n, "alpha", 1.0) != 1.0 || float_attr(n, "beta", 1.0) != 1.0 || int_attr(n, "transA", 0) != 0 {
            new_nodes.push(kept);
            continue;
        }
        let name = n.name.clone().unwrap_or_default();
        let mut input_b = n.input[1].clone();
        if int_attr(n, "transB", 0) == 1 {
            if let Some(b) = graph.initializer(&input_b).cloned() {
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
                    let at = transposed(rows, cols);
                    let data = map_data!(&decoded.data, v => (0..v.len()).map(|k| v[at(k)]).collect());
                    graph.initializers.push(Kept::new(tensor::encode(&t_name, decoded.dtype, &[cols, rows], &data)));
                    transposed_weights.insert(input_b.clone(), t_name);
                }
                input_b = transposed_weights[&input_b].clone();
            } else {
                let t_out = format!("{input_b}_Transposed");
                let t_name = if name.is_empty() { String::new() } else { format!("{name}_Transpose") };
                new_nodes.push(Kept::new(node("Transpose", vec![n.input[1].clone()], vec![t_out.clone()], &t_name)));
                input_b = t_out;
            }
        }
        // ONNX Runtime adds the Add when Gemm has a third input; an empty (absent) C would give
        // an Add of nothing, so it is left out here.
        let has_c = n.input.get(2).is_some_and(|c| !c.is_empty());
        let out = &n.output[0];
        let mm_out = if has_c { format!("{out}_MatMul") } else { out.clone() };
        let mm_name = if name.is_empty() { String::new() } else { format!("{name}_MatMul") };
        new_nodes.push(Kept::new(node("MatMul", vec![n.input[0].clone(), input_b], vec![mm_out.clone()], &mm_name)));
        if has_c {
            let add_name = if name.is_empty() { String::new() } else { format!("{name}_Add") };
            new_nodes.push(Kept::new(node("Add", vec![mm_out, n.input[2].clone()], vec![out.clone()], &add_name)));
        }
    }
    graph.nodes = new_nodes;
    Ok(())
}

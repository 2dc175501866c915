//! If: runs one of two subgraphs on a boolean condition (`onnx/defs/controlflow/defs.cc`, "If";
//! reference: `onnx/reference/ops/op_if.py`). A branch may read any value of the enclosing
//! graph by name; the builder finds those names (the branches' free variables, nested
//! subgraphs included) and the loader passes them to the node as extra inputs
//! ([`Op::captures`]), so each branch is an ordinary [`Model`] whose inputs they are.

use crate::attr::Attrs;
use crate::graph::Model;
use crate::op::{attr_err, dtype_err, shape_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Value};
use prost::Message;
use quantscope_formats::onnx::proto::GraphProto;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Decodes a GRAPH attribute.
fn graph_attr(a: &Attrs, name: &str) -> Result<GraphProto, OpError> {
    let bytes = a.graph_bytes(name)?.ok_or_else(|| attr_err(name, "is required"))?;
    GraphProto::decode(bytes).map_err(|e| attr_err(name, format!("is not a GraphProto: {e}")))
}

/// The names a graph reads but does not define (its inputs, initializers and node outputs
/// are defined; nested subgraphs' free names count as read).
fn free_names(g: &GraphProto, out: &mut BTreeSet<String>) {
    let mut defined: BTreeSet<&str> = g.input.iter().filter_map(|v| v.name.as_deref()).collect();
    defined.extend(g.initializer.iter().filter_map(|t| t.name.as_deref()));
    for n in &g.node {
        defined.extend(n.output.iter().map(String::as_str));
    }
    let mut read: BTreeSet<String> = BTreeSet::new();
    for n in &g.node {
        read.extend(n.input.iter().filter(|s| !s.is_empty()).cloned());
        for attr in &n.attribute {
            for bytes in attr.g.iter().chain(&attr.graphs) {
                if let Ok(sub) = GraphProto::decode(bytes.as_slice()) {
                    free_names(&sub, &mut read);
                }
            }
        }
    }
    read.extend(g.output.iter().filter_map(|v| v.name.clone()));
    out.extend(read.into_iter().filter(|s| !defined.contains(s.as_str())));
}

#[derive(Debug)]
pub struct If {
    pub then_branch: Model,
    pub else_branch: Model,
    pub captures: Vec<String>,
}

pub fn build_if(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["then_branch", "else_branch"])?;
    let (then_g, else_g) = (graph_attr(a, "then_branch")?, graph_attr(a, "else_branch")?);
    let mut free = BTreeSet::new();
    free_names(&then_g, &mut free);
    free_names(&else_g, &mut free);
    let captures: Vec<String> = free.into_iter().collect();
    let branch = |g: &GraphProto, name: &str| -> Result<Model, OpError> {
        if g.output.len() != ctx.n_outputs {
            return Err(attr_err(name, format!("has {} outputs; the node has {}", g.output.len(), ctx.n_outputs)));
        }
        Model::from_graph(g, ctx.opset, ctx.sets, &captures).map_err(|e| OpError::Unsupported(format!("{name}: {e}")))
    };
    Ok(Arc::new(If { then_branch: branch(&then_g, "then_branch")?, else_branch: branch(&else_g, "else_branch")?, captures }))
}

impl Op for If {
    fn op_type(&self) -> &'static str {
        "If"
    }

    fn captures(&self) -> &[String] {
        &self.captures
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let cond = inputs.req(0)?;
        if cond.dtype() != DType::Bool {
            return Err(dtype_err(format!("cond must be bool, not {}", cond.dtype())));
        }
        if cond.len() != 1 {
            return Err(shape_err(format!("cond must hold one value, not {} (shape {:?})", cond.len(), cond.shape())));
        }
        let branch = if cond.to_f64_vec()[0] != 0.0 { &self.then_branch } else { &self.else_branch };
        // The branch reads only the captures it declares as inputs (both branches share the list).
        let given: Vec<(&str, Value)> = self
            .captures
            .iter()
            .enumerate()
            .filter(|(_, name)| branch.inputs().iter().any(|io| &io.name == *name))
            .map(|(k, name)| inputs.req(1 + k).map(|v| (name.as_str(), v.clone())))
            .collect::<Result<_, _>>()?;
        let outputs = branch.run(&given).map_err(|e| OpError::Value(format!("in the branch: {e}")))?;
        Ok(outputs.into_iter().map(|(_, v)| v).collect())
    }
}

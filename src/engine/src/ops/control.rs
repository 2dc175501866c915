//! If: runs one of two subgraphs on a boolean condition, and Loop: runs its body while a trip
//! count and a condition allow, carrying values from one iteration to the next and stacking
//! its scan outputs (`onnx/defs/controlflow/defs.cc`, "If" and "Loop"; reference:
//! `onnx/reference/ops/op_if.py`, `op_loop.py`). A subgraph may read any value of the enclosing
//! graph by name; the builder finds those names (the branches' free variables, nested
//! subgraphs included) and the loader passes them to the node as extra inputs
//! ([`Op::captures`]), so each branch is an ordinary model (a [`Subgraph`], built by the loader) whose inputs they are.

use crate::attr::Attrs;
use crate::error::EngineError;
use crate::op::{attr_err, dtype_err, shape_err, BuildCtx, Inputs, Op, OpError, Subgraph, SubgraphMap};
use crate::value::{DType, Value};
use prost::Message;
use quantscope_formats::onnx::proto::GraphProto;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Decodes a GRAPH attribute.
pub(crate) fn graph_attr(a: &Attrs, name: &str) -> Result<GraphProto, OpError> {
    let bytes = a.graph_bytes(name)?.ok_or_else(|| attr_err(name, "is required"))?;
    GraphProto::decode(bytes).map_err(|e| attr_err(name, format!("is not a GraphProto: {e}")))
}

/// The names a graph reads but does not define (its inputs, initializers and node outputs
/// are defined; nested subgraphs' free names count as read).
pub(crate) fn free_names(g: &GraphProto, out: &mut BTreeSet<String>) {
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

/// The enclosing graph's values a subgraph declares as inputs, from the node's inputs `first..`
/// (one per name of `captures`, the loader's extra inputs; the subgraph may read only some).
fn captured<'a>(
    captures: &'a [String],
    graph: &dyn Subgraph,
    inputs: &mut Inputs<'_>,
    first: usize,
) -> Result<Vec<(&'a str, Value)>, OpError> {
    let declared = graph.input_names();
    captures
        .iter()
        .enumerate()
        .filter(|(_, name)| declared.contains(&name.as_str()))
        .map(|(k, name)| inputs.req(first + k).map(|v| (name.as_str(), v.clone())))
        .collect()
}

/// A loop's body (Loop's and Scan's): the subgraph, its input names in order, and the names it
/// reads from the enclosing graph ([`Op::captures`]).
#[derive(Debug)]
pub(crate) struct Body {
    pub graph: Arc<dyn Subgraph>,
    pub inputs: Vec<String>,
    pub captures: Vec<String>,
}

impl Body {
    /// The same body with its graph replaced by `map`'s.
    pub fn mapped(&self, map: &mut SubgraphMap<'_>) -> Result<Body, EngineError> {
        Ok(Body { graph: map(&self.graph)?, inputs: self.inputs.clone(), captures: self.captures.clone() })
    }

    /// The `body` attribute built, after `check` has accepted its inputs and outputs.
    pub fn build(a: &Attrs, ctx: &BuildCtx, check: impl FnOnce(&GraphProto) -> Result<(), OpError>) -> Result<Body, OpError> {
        let g = graph_attr(a, "body")?;
        check(&g)?;
        let mut free = BTreeSet::new();
        free_names(&g, &mut free);
        let captures: Vec<String> = free.into_iter().collect();
        let graph = (ctx.subgraph)(&g, &captures).map_err(|e| OpError::Unsupported(format!("body: {e}")))?;
        Ok(Body { graph, inputs: g.input.iter().map(|v| v.name.clone().unwrap_or_default()).collect(), captures })
    }

    /// The captured values, from the node's inputs `first..` (read once, before the iterations).
    pub fn captured(&self, inputs: &mut Inputs<'_>, first: usize) -> Result<Vec<(&str, Value)>, OpError> {
        captured(&self.captures, self.graph.as_ref(), inputs, first)
    }

    /// One iteration: `own` are the values of the body's inputs in their order, `captured` the
    /// enclosing graph's; an input left without a name (unused) or not declared gets nothing.
    pub fn run(&self, own: Vec<Value>, captured: &[(&str, Value)], iteration: u64) -> Result<Vec<Value>, OpError> {
        let mut given: Vec<(&str, Value)> = Vec::with_capacity(own.len() + captured.len());
        given.extend(self.inputs.iter().map(String::as_str).zip(own));
        given.extend(captured.iter().map(|(n, v)| (*n, v.clone())));
        let declared = self.graph.input_names();
        given.retain(|(n, _)| !n.is_empty() && declared.contains(n));
        self.graph.run_named(&given).map_err(|e| OpError::Value(format!("in the body, iteration {iteration}: {e}")))
    }
}

/// One output's per-iteration values (in iteration order; `reverse`: last first) stacked along
/// `axis` of the result, a new axis (Loop's scan outputs: 0; Scan's: its `scan_output_axes`).
pub(crate) fn stacked(slices: Vec<Value>, axis: usize, reverse: bool, name: &str) -> Result<Value, OpError> {
    let Some(first) = slices.first() else {
        return Err(shape_err(format!("scan output '{name}' has no iterations to take its shape from")));
    };
    let (dtype, shape) = (first.dtype(), first.shape().to_vec());
    let n = slices.len();
    let ordered: Vec<&Value> = if reverse { slices.iter().rev().collect() } else { slices.iter().collect() };
    let mut data = crate::value::Data::zeros(dtype, 0);
    for v in &ordered {
        if v.shape() != shape.as_slice() || v.dtype() != dtype {
            return Err(shape_err(format!(
                "scan output '{name}' changes from {dtype} {shape:?} to {} {:?} between iterations",
                v.dtype(),
                v.shape()
            )));
        }
        data = crate::ops::layout::joined(&data, v.data())?;
    }
    let mut out_shape = shape;
    out_shape.insert(axis, n);
    if axis == 0 {
        return Ok(Value::with_dtype(dtype, out_shape, data));
    }
    // `data` is [n, outer, inner]; the result is [outer, n, inner]
    let outer: usize = out_shape[..axis].iter().product();
    let inner: usize = out_shape[axis + 1..].iter().product();
    let out = data.pick(
        outer * n * inner,
        &mut (|start: usize, block: &mut [usize]| {
            for (p, slot) in (start..).zip(block.iter_mut()) {
                let (o, rest) = (p / (n * inner), p % (n * inner));
                *slot = ((rest / inner) * outer + o) * inner + rest % inner;
            }
        }) as &mut dyn FnMut(usize, &mut [usize]),
    );
    Ok(Value::with_dtype(dtype, out_shape, out))
}

#[derive(Debug)]
pub struct If {
    pub then_branch: Arc<dyn Subgraph>,
    pub else_branch: Arc<dyn Subgraph>,
    pub captures: Vec<String>,
}

pub fn build_if(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["then_branch", "else_branch"])?;
    let (then_g, else_g) = (graph_attr(a, "then_branch")?, graph_attr(a, "else_branch")?);
    let mut free = BTreeSet::new();
    free_names(&then_g, &mut free);
    free_names(&else_g, &mut free);
    let captures: Vec<String> = free.into_iter().collect();
    let branch = |g: &GraphProto, name: &str| -> Result<Arc<dyn Subgraph>, OpError> {
        if g.output.len() != ctx.n_outputs {
            return Err(attr_err(name, format!("has {} outputs; the node has {}", g.output.len(), ctx.n_outputs)));
        }
        (ctx.subgraph)(g, &captures).map_err(|e| OpError::Unsupported(format!("{name}: {e}")))
    };
    Ok(Arc::new(If { then_branch: branch(&then_g, "then_branch")?, else_branch: branch(&else_g, "else_branch")?, captures }))
}

impl Op for If {
    fn op_type(&self) -> &'static str {
        "If"
    }

    /// Both branches' weights: the file holds both, whichever runs.
    fn own_bytes(&self) -> u64 {
        self.then_branch.stored_bytes() + self.else_branch.stored_bytes()
    }

    fn map_subgraphs(&self, map: &mut SubgraphMap<'_>) -> Option<Result<Arc<dyn Op>, EngineError>> {
        Some((|| {
            let (then_branch, else_branch) = (map(&self.then_branch)?, map(&self.else_branch)?);
            Ok(Arc::new(If { then_branch, else_branch, captures: self.captures.clone() }) as Arc<dyn Op>)
        })())
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
        let given = captured(&self.captures, branch.as_ref(), inputs, 1)?;
        branch.run_named(&given).map_err(|e| OpError::Value(format!("in the branch: {e}")))
    }
}

/// Loop: inputs `M` (trip count, optional), `cond` (optional) and the loop-carried values; the
/// body takes `(iteration, cond, carried...)` and gives `(cond, carried..., scan outputs...)`;
/// the node's outputs are the final carried values, then each scan output stacked along a new
/// first axis.
#[derive(Debug)]
pub struct Loop {
    pub(crate) body: Body,
    pub carried: usize,
}

/// Iterations a Loop may run before it is stopped as runaway (a loop driven by its condition
/// has `M` = 2^63 − 1).
const MAX_ITERATIONS: usize = 1 << 24;

pub fn build_loop(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["body"])?;
    let carried = ctx.n_inputs - 2;
    let body = Body::build(a, ctx, |g| {
        if g.input.len() != 2 + carried {
            return Err(attr_err(
                "body",
                format!("has {} inputs: it needs 2 + {carried} (iteration, condition, the carried values)", g.input.len()),
            ));
        }
        if g.output.len() < 1 + carried || ctx.n_outputs > g.output.len() - 1 {
            return Err(attr_err(
                "body",
                format!("has {} outputs for {carried} carried values and {} node outputs", g.output.len(), ctx.n_outputs),
            ));
        }
        Ok(())
    })?;
    Ok(Arc::new(Loop { body, carried }))
}

impl Op for Loop {
    fn op_type(&self) -> &'static str {
        "Loop"
    }

    /// The body's weights.
    fn own_bytes(&self) -> u64 {
        self.body.graph.stored_bytes()
    }

    fn map_subgraphs(&self, map: &mut SubgraphMap<'_>) -> Option<Result<Arc<dyn Op>, EngineError>> {
        Some(self.body.mapped(map).map(|body| Arc::new(Loop { body, carried: self.carried }) as Arc<dyn Op>))
    }

    fn captures(&self) -> &[String] {
        &self.body.captures
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let trips = match inputs.get(0) {
            Some(m) => match m.to_i64_vec().as_deref() {
                Some([m]) => (*m).max(0) as u64,
                _ => return Err(dtype_err(format!("M must be one int64, not {} {:?}", m.dtype(), m.shape()))),
            },
            None => u64::MAX,
        };
        let mut cond = match inputs.get(1) {
            Some(c) if c.dtype() == DType::Bool && c.len() == 1 => c.to_f64_vec()[0] != 0.0,
            Some(c) => return Err(dtype_err(format!("cond must be one bool, not {} {:?}", c.dtype(), c.shape()))),
            None => true,
        };
        let mut carried: Vec<Value> = (0..self.carried).map(|k| inputs.req(2 + k).cloned()).collect::<Result<_, _>>()?;
        let captured = self.body.captured(inputs, 2 + self.carried)?;
        let mut scans: Vec<Vec<Value>> = Vec::new();
        let mut i = 0u64;
        while i < trips && cond {
            if i as usize >= MAX_ITERATIONS {
                return Err(OpError::Value(format!("stopped after {MAX_ITERATIONS} iterations (a runaway loop?)")));
            }
            let mut own = vec![Value::i64(vec![], vec![i as i64]), Value::new(vec![], crate::value::Data::Bool(vec![cond]))];
            own.append(&mut carried);
            let mut outs = self.body.run(own, &captured, i)?.into_iter();
            let c = outs.next().ok_or_else(|| OpError::Value("the body gave no condition".into()))?;
            cond = c.to_f64_vec().first().is_some_and(|&v| v != 0.0);
            carried = outs.by_ref().take(self.carried).collect();
            for (k, v) in outs.enumerate() {
                if scans.len() <= k {
                    scans.push(Vec::new());
                }
                scans[k].push(v);
            }
            i += 1;
        }
        let n_scans = self.body.graph.output_count() - 1 - self.carried;
        scans.resize_with(n_scans, Vec::new);
        let mut out = carried;
        for (k, s) in scans.into_iter().enumerate() {
            // No iteration: an empty float tensor.
            out.push(if s.is_empty() { Value::f32(vec![0], vec![]) } else { stacked(s, 0, false, &format!("{k}"))? });
        }
        Ok(out)
    }
}

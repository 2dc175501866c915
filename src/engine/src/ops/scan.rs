//! Scan (opset 9 and later; `onnx/defs/controlflow/defs.cc`, "Scan"; reference:
//! `onnx/reference/ops/op_scan.py`): the body runs once per slice of the scan inputs, carrying
//! its N state variables from one iteration to the next. The inputs are the N initial states
//! then the M scan inputs (`num_scan_inputs`), each sliced along its `scan_input_axes` entry
//! (default 0; negative counts from the end) and read forward or, with `scan_input_directions`
//! 1, from the last slice; the body takes (states..., slices...) and gives (states..., K scan
//! output slices...), and the node gives the final states then each scan output stacked along
//! its `scan_output_axes` entry (default 0, negative counts from the end of the stacked rank)
//! in iteration order, or in reverse with `scan_output_directions` 1. Scan-8's batched form
//! (a `sequence_lens` input and a batch axis) is refused with its opset.

use crate::attr::Attrs;
use crate::error::EngineError;
use crate::op::{attr_err, shape_err, BuildCtx, Inputs, Op, OpError, SubgraphMap};
use crate::ops::control::{stacked, Body};
use crate::value::Value;
use std::sync::Arc;

#[derive(Debug)]
pub struct Scan {
    pub(crate) body: Body,
    pub states: usize,
    pub input_axes: Vec<i64>,
    pub input_reverse: Vec<bool>,
    pub output_axes: Vec<i64>,
    pub output_reverse: Vec<bool>,
}

/// An attribute of one int per scan input or output: `n` values, each in `allowed` when given.
fn per_item(a: &Attrs, name: &str, n: usize, default: i64) -> Result<Vec<i64>, OpError> {
    match a.ints(name)? {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == n => Ok(v),
        Some(v) => Err(attr_err(name, format!("has {} values for {n} scan inputs or outputs", v.len()))),
    }
}

fn directions(a: &Attrs, name: &str, n: usize) -> Result<Vec<bool>, OpError> {
    per_item(a, name, n, 0)?
        .into_iter()
        .map(|d| match d {
            0 => Ok(false),
            1 => Ok(true),
            d => Err(attr_err(name, format!("holds {d}; a direction is 0 (forward) or 1 (reverse)"))),
        })
        .collect()
}

pub fn build_scan(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["body", "num_scan_inputs", "scan_input_axes", "scan_input_directions", "scan_output_axes", "scan_output_directions"])?;
    if ctx.opset < 9 {
        return Err(OpError::Unsupported(format!(
            "Scan of opset {} (Scan-8: a sequence_lens input and a batch axis); Scan-9 and later are supported",
            ctx.opset
        )));
    }
    let m = a.int_opt("num_scan_inputs")?.ok_or_else(|| attr_err("num_scan_inputs", "is required"))?;
    let m = usize::try_from(m)
        .ok()
        .filter(|&m| m >= 1 && m <= ctx.n_inputs)
        .ok_or_else(|| attr_err("num_scan_inputs", format!("is {m}; the node has {} inputs", ctx.n_inputs)))?;
    let states = ctx.n_inputs - m;
    let mut k = 0;
    let body = Body::build(a, ctx, |g| {
        if g.input.len() != ctx.n_inputs {
            return Err(attr_err("body", format!("has {} inputs for {states} states and {m} scan inputs", g.input.len())));
        }
        if g.output.len() < states || ctx.n_outputs > g.output.len() {
            return Err(attr_err("body", format!("has {} outputs for {states} states and {} node outputs", g.output.len(), ctx.n_outputs)));
        }
        k = g.output.len() - states;
        Ok(())
    })?;
    Ok(Arc::new(Scan {
        body,
        states,
        input_axes: per_item(a, "scan_input_axes", m, 0)?,
        input_reverse: directions(a, "scan_input_directions", m)?,
        output_axes: per_item(a, "scan_output_axes", k, 0)?,
        output_reverse: directions(a, "scan_output_directions", k)?,
    }))
}

/// `axis` of a rank-`rank` value, negative counting from the end.
fn axis_of(axis: i64, rank: usize, what: &str) -> Result<usize, OpError> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    usize::try_from(a).ok().filter(|&a| a < rank).ok_or_else(|| shape_err(format!("{what} axis {axis} is outside rank {rank}")))
}

/// Slice `t` of `v` along `axis`, that axis removed.
fn slice(v: &Value, axis: usize, t: usize) -> Value {
    let shape = v.shape();
    let (dim, inner) = (shape[axis], shape[axis + 1..].iter().product::<usize>());
    let outer: usize = shape[..axis].iter().product();
    // `&mut dyn`: one copy of `pick` per element type for both of this file's index maps
    let data = v.data().pick(
        outer * inner,
        &mut (|start: usize, block: &mut [usize]| {
            for (p, slot) in (start..).zip(block.iter_mut()) {
                *slot = ((p / inner) * dim + t) * inner + p % inner;
            }
        }) as &mut dyn FnMut(usize, &mut [usize]),
    );
    let mut out_shape = shape.to_vec();
    out_shape.remove(axis);
    Value::with_dtype(v.dtype(), out_shape, data)
}

impl Op for Scan {
    fn op_type(&self) -> &'static str {
        "Scan"
    }

    /// The body's weights.
    fn own_bytes(&self) -> u64 {
        self.body.graph.stored_bytes()
    }

    fn map_subgraphs(&self, map: &mut SubgraphMap<'_>) -> Option<Result<Arc<dyn Op>, EngineError>> {
        Some(self.body.mapped(map).map(|body| {
            Arc::new(Scan {
                body,
                states: self.states,
                input_axes: self.input_axes.clone(),
                input_reverse: self.input_reverse.clone(),
                output_axes: self.output_axes.clone(),
                output_reverse: self.output_reverse.clone(),
            }) as Arc<dyn Op>
        }))
    }

    fn captures(&self) -> &[String] {
        &self.body.captures
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let m = self.input_axes.len();
        let mut states: Vec<Value> = (0..self.states).map(|k| inputs.req(k).cloned()).collect::<Result<_, _>>()?;
        let scans: Vec<Value> = (0..m).map(|j| inputs.req(self.states + j).cloned()).collect::<Result<_, _>>()?;
        let mut axes = Vec::with_capacity(m);
        let mut length = None;
        for (j, v) in scans.iter().enumerate() {
            let axis = axis_of(self.input_axes[j], v.shape().len(), &format!("scan input {j}"))?;
            let len = v.shape()[axis];
            if *length.get_or_insert(len) != len {
                return Err(shape_err(format!("scan input {j} has {len} slices along axis {axis}; scan input 0 has {}", length.unwrap())));
            }
            axes.push(axis);
        }
        let length = length.unwrap_or(0);
        let captured = self.body.captured(inputs, self.states + m)?;
        let k_outputs = self.output_axes.len();
        let mut outs: Vec<Vec<Value>> = vec![Vec::with_capacity(length); k_outputs];
        for t in 0..length {
            let mut own = std::mem::take(&mut states);
            for (j, v) in scans.iter().enumerate() {
                let at = if self.input_reverse[j] { length - 1 - t } else { t };
                own.push(slice(v, axes[j], at));
            }
            let mut got = self.body.run(own, &captured, t as u64)?.into_iter();
            states = got.by_ref().take(self.states).collect();
            for (k, v) in got.enumerate().take(k_outputs) {
                outs[k].push(v);
            }
        }
        let mut result = states;
        for (k, slices) in outs.into_iter().enumerate() {
            let rank = slices.first().map_or(0, |v| v.shape().len());
            let axis = axis_of(self.output_axes[k], rank + 1, &format!("scan output '{k}'"))?;
            result.push(stacked(slices, axis, self.output_reverse[k], &format!("{k}"))?);
        }
        Ok(result)
    }
}

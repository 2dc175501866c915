//! Normalizations. BatchNormalization in inference mode: `y = (x − mean) / sqrt(var + ε) ·
//! scale + B` per channel (axis 1); training mode (`training_mode=1`, or the extra outputs it
//! produces) is not supported and fails at load time. LayerNormalization, InstanceNormalization
//! and GroupNormalization standardize over their own groups of elements (`onnx/defs/nn/defs.cc`;
//! reference: `onnx/reference/ops/op_layer_normalization.py`, `op_instance_normalization.py`,
//! `op_group_normalization.py`).

use crate::attr::Attrs;
use crate::op::{f32_input, from_f64, norm_axis, numbers, shape_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Data, Value};
use std::sync::Arc;

#[derive(Debug)]
pub struct BatchNorm {
    pub epsilon: f32,
}

pub fn build_batchnorm(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs"])?;
    if a.int("training_mode", 0)? != 0 || ctx.n_outputs > 1 {
        return Err(OpError::Unsupported("training mode (training_mode=1 or the running-statistics outputs)".into()));
    }
    if a.int("spatial", 1)? != 1 {
        return Err(OpError::Unsupported("spatial=0".into()));
    }
    Ok(Arc::new(BatchNorm { epsilon: a.float("epsilon", 1e-5)? }))
}

impl Op for BatchNorm {
    fn widens_half(&self) -> bool {
        true
    }

    fn op_type(&self) -> &'static str {
        "BatchNormalization"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let shape = inputs.req(0)?.shape().to_vec();
        if shape.len() < 2 {
            return Err(OpError::Rank { input: 0, expected: "at least 2".into(), got: shape.len() });
        }
        let c = shape[1];
        let inner: usize = shape[2..].iter().product();
        let mut params = Vec::with_capacity(4);
        for (i, what) in [(1, "scale"), (2, "B"), (3, "input_mean"), (4, "input_var")] {
            let p = inputs.req(i)?;
            let x = f32_input(p, what)?;
            if x.len() != c {
                return Err(shape_err(format!("{what} has {} elements but X has {c} channels", x.len())));
            }
            params.push(x.to_vec());
        }
        // Per channel: y = x·k + (B − mean·k), k = scale / sqrt(var + ε).
        let (scale, bias, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
        let mut x = inputs.take_or_clone(0)?;
        let dtype = x.dtype();
        let Data::F32(xs) = x.data_mut() else {
            return Err(crate::op::dtype_err(format!("X must be float32, not {dtype}")));
        };
        if inner > 0 {
            for (chunk_index, chunk) in xs.chunks_mut(inner).enumerate() {
                let ch = chunk_index % c;
                let k = scale[ch] / (var[ch] + self.epsilon).sqrt();
                let (m, b) = (mean[ch], bias[ch]);
                chunk.iter_mut().for_each(|v| *v = (*v - m) * k + b);
            }
        }
        Ok(vec![x])
    }
}

// ------------------------------------------------------- Layer, Instance and Group normalization

/// Normalizes each of `groups` consecutive runs of `x` (length `len` each) to mean 0 and
/// variance 1: `(x − mean) / sqrt(var + ε)`, computed in f64 (the spec's stash_type=1 computes
/// in float32; f64 is at least as exact). Returns the normalized values and, per group, the
/// mean and 1 / sqrt(var + ε).
fn standardize(x: &[f64], len: usize, epsilon: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut out = Vec::with_capacity(x.len());
    let (mut means, mut inv_stds) = (Vec::new(), Vec::new());
    if len == 0 {
        return (out, means, inv_stds);
    }
    for g in x.chunks(len) {
        let mean = g.iter().sum::<f64>() / len as f64;
        let var = g.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / len as f64;
        let inv = 1.0 / (var + epsilon).sqrt();
        out.extend(g.iter().map(|v| (v - mean) * inv));
        means.push(mean);
        inv_stds.push(inv);
    }
    (out, means, inv_stds)
}

fn epsilon(a: &Attrs) -> Result<f64, OpError> {
    let e = a.float("epsilon", 1e-5)?;
    if e.is_nan() || e < 0.0 {
        return Err(crate::op::attr_err("epsilon", format!("must not be negative, not {e}")));
    }
    Ok(e as f64)
}

/// LayerNormalization (opset 17): normalizes over the axes from `axis` to the last, then
/// `· Scale + B` (both broadcast to the normalized shape). Optional outputs: Mean and
/// InvStdDev, shaped like X with the normalized axes kept as 1.
#[derive(Debug)]
pub struct LayerNorm {
    pub axis: i64,
    pub epsilon: f64,
}

pub fn build_layer_norm(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis", "epsilon", "stash_type"])?;
    match a.int("stash_type", 1)? {
        1 => {}
        v => return Err(crate::op::attr_err("stash_type", format!("only 1 (compute in float32) is supported, not {v}"))),
    }
    Ok(Arc::new(LayerNorm { axis: a.int("axis", -1)?, epsilon: epsilon(a)? }))
}

/// `p` broadcast (numpy rules) to `shape`, as f64.
fn broadcast_param(p: &Value, shape: &[usize], what: &str) -> Result<Vec<f64>, OpError> {
    let target = crate::op::broadcast_shapes(p.shape(), shape)?;
    if target != shape {
        return Err(shape_err(format!("{what} {:?} does not broadcast to {shape:?}", p.shape())));
    }
    let v = numbers(p, what)?;
    let pst = crate::op::strides(p.shape());
    let off = shape.len() - p.rank();
    let n: usize = shape.iter().product();
    let st = crate::op::strides(shape);
    Ok((0..n)
        .map(|i| {
            let mut at = 0;
            for (k, &d) in p.shape().iter().enumerate() {
                let c = (i / st[off + k]) % shape[off + k];
                if d != 1 {
                    at += c * pst[k];
                }
            }
            v[at]
        })
        .collect())
}

impl Op for LayerNorm {
    fn op_type(&self) -> &'static str {
        "LayerNormalization"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let axis = norm_axis(self.axis, x.rank())?;
        let inner_shape = &x.shape()[axis..];
        let len: usize = inner_shape.iter().product();
        let scale = broadcast_param(inputs.req(1)?, inner_shape, "Scale")?;
        let bias = inputs.get(2).map(|b| broadcast_param(b, inner_shape, "B")).transpose()?;
        let (mut y, means, inv) = standardize(&numbers(x, "X")?, len, self.epsilon);
        for (i, v) in y.iter_mut().enumerate() {
            *v = *v * scale[i % len] + bias.as_ref().map_or(0.0, |b| b[i % len]);
        }
        let mut stat_shape = x.shape().to_vec();
        stat_shape[axis..].iter_mut().for_each(|d| *d = 1);
        // Mean and InvStdDev are float32 (stash_type 1).
        Ok(vec![
            from_f64(x.dtype(), x.shape().to_vec(), y)?,
            from_f64(DType::F32, stat_shape.clone(), means)?,
            from_f64(DType::F32, stat_shape, inv)?,
        ])
    }
}

/// InstanceNormalization (each sample and channel over its spatial axes, `· scale[c] + B[c]`)
/// and GroupNormalization (channel groups of C / num_groups; scale and bias per group in
/// opset 18, per channel from opset 21, where the spec changed their shape).
#[derive(Debug)]
pub struct GroupNorm {
    /// `None`: InstanceNormalization (one group per channel).
    pub groups: Option<usize>,
    pub epsilon: f64,
    pub per_group_params: bool,
}

pub fn build_instance_norm(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["epsilon"])?;
    Ok(Arc::new(GroupNorm { groups: None, epsilon: epsilon(a)?, per_group_params: false }))
}

pub fn build_group_norm(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["epsilon", "num_groups", "stash_type"])?;
    match a.int("stash_type", 1)? {
        1 => {}
        v => return Err(crate::op::attr_err("stash_type", format!("only 1 (compute in float32) is supported, not {v}"))),
    }
    let groups = match a.int_opt("num_groups")? {
        Some(g) if g > 0 => g as usize,
        Some(g) => return Err(crate::op::attr_err("num_groups", format!("must be positive, not {g}"))),
        None => return Err(crate::op::attr_err("num_groups", "is required")),
    };
    Ok(Arc::new(GroupNorm { groups: Some(groups), epsilon: epsilon(a)?, per_group_params: ctx.opset < 21 }))
}

impl Op for GroupNorm {
    fn op_type(&self) -> &'static str {
        if self.groups.is_some() {
            "GroupNormalization"
        } else {
            "InstanceNormalization"
        }
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        if x.rank() < 2 {
            return Err(OpError::Rank { input: 0, expected: "at least 2".into(), got: x.rank() });
        }
        let c = x.shape()[1];
        let spatial: usize = x.shape()[2..].iter().product();
        let groups = self.groups.unwrap_or(c);
        if groups == 0 || c % groups != 0 {
            return Err(shape_err(format!("{c} channels do not divide into {groups} groups")));
        }
        let params = if self.per_group_params { groups } else { c };
        let (scale, bias) = (numbers(inputs.req(1)?, "scale")?, numbers(inputs.req(2)?, "B")?);
        if scale.len() != params || bias.len() != params {
            return Err(shape_err(format!(
                "scale and B have {} and {} elements: they need {params} (one per {})",
                scale.len(),
                bias.len(),
                if self.per_group_params { "group" } else { "channel" }
            )));
        }
        let len = (c / groups) * spatial;
        let (mut y, _, _) = standardize(&numbers(x, "X")?, len, self.epsilon);
        for (i, v) in y.iter_mut().enumerate() {
            let ch = (i / spatial.max(1)) % c;
            let p = if self.per_group_params { ch / (c / groups) } else { ch };
            *v = *v * scale[p] + bias[p];
        }
        Ok(vec![from_f64(x.dtype(), x.shape().to_vec(), y)?])
    }
}

//! Data movement by index arithmetic: Slice, Split, Expand, Tile, and the generators
//! ConstantOfShape and Range, as the ONNX spec defines them (`onnx/defs/tensor/defs.cc`,
//! `onnx/reference/ops/op_{slice,split,expand,tile,constant_of_shape,range}.py`). Every dtype
//! moves as its storage (one index loop for all of them, through `Data::pick`).

use crate::attr::Attrs;
use crate::op::{dtype_err, norm_axis, shape_err, strides, value_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{checked_len, DType, Data, Value};
use std::sync::Arc;

/// The int64/int32 elements of an index-like input.
fn ints(v: &Value, what: &str) -> Result<Vec<i64>, OpError> {
    match v.dtype() {
        DType::I64 | DType::I32 => Ok(v.to_i64_vec().expect("integer dtype")),
        d => Err(dtype_err(format!("{what} must be int64, not {d}"))),
    }
}

/// `block` gets the input offsets `base + Σ idx[d]·step[d]` of output elements `start..`, in
/// row-major order over `out_shape`: Slice's and Expand's gather (a step may be negative or 0).
fn affine_indices(out_shape: &[usize], base: isize, step: &[isize], start: usize, block: &mut [usize]) {
    let rank = out_shape.len();
    let mut idx = vec![0usize; rank];
    let (mut rest, mut off) = (start, base);
    for d in (0..rank).rev() {
        idx[d] = rest % out_shape[d].max(1);
        rest /= out_shape[d].max(1);
        off += idx[d] as isize * step[d];
    }
    for slot in block.iter_mut() {
        *slot = off as usize;
        for d in (0..rank).rev() {
            idx[d] += 1;
            off += step[d];
            if idx[d] < out_shape[d] {
                break;
            }
            off -= step[d] * out_shape[d] as isize;
            idx[d] = 0;
        }
    }
}

/// `Data::pick` through one `dyn` order, so the family instantiates its per-dtype copy loop
/// once instead of once per op (that was 40 KB of the runner module).
fn pick(data: &Data, n: usize, order: &dyn Fn(usize, &mut [usize])) -> Data {
    data.pick(n, |start, block| order(start, block))
}

fn gather(v: &Value, out_shape: Vec<usize>, base: isize, step: &[isize]) -> Value {
    let n = out_shape.iter().product();
    let data = pick(v.data(), n, &|start, block| affine_indices(&out_shape, base, step, start, block));
    Value::with_dtype(v.dtype(), out_shape, data)
}

// ----------------------------------------------------------------------------------- Slice

/// Slice's `starts`, `ends` and `axes` attributes (before opset 10).
#[derive(Debug, Clone)]
pub struct SliceAttrs {
    pub starts: Vec<i64>,
    pub ends: Vec<i64>,
    pub axes: Option<Vec<i64>>,
}

/// Slice: `starts`, `ends`, `axes`, `steps` as inputs (opset 10+) or attributes (before 10).
#[derive(Debug)]
pub struct Slice {
    pub attrs: Option<SliceAttrs>,
}

pub fn build_slice(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    if ctx.opset < 10 {
        a.only(&["starts", "ends", "axes"])?;
        let need = |n: &str| a.ints(n)?.ok_or_else(|| crate::op::attr_err(n, "is required before opset 10"));
        return Ok(Arc::new(Slice { attrs: Some(SliceAttrs { starts: need("starts")?, ends: need("ends")?, axes: a.ints("axes")? }) }));
    }
    a.only(&[])?;
    Ok(Arc::new(Slice { attrs: None }))
}

/// One axis of a slice, clamped as the spec says: `(first, count, step)`.
fn slice_axis(dim: usize, start: i64, end: i64, step: i64) -> Result<(usize, usize, i64), OpError> {
    if step == 0 {
        return Err(value_err("Slice's step cannot be 0"));
    }
    let d = dim as i64;
    let wrap = |x: i64| if x < 0 { x.saturating_add(d) } else { x };
    let (s, e) = if step > 0 {
        (wrap(start).clamp(0, d), wrap(end).clamp(0, d))
    } else {
        (wrap(start).clamp(0, (d - 1).max(0)), wrap(end).clamp(-1, d - 1))
    };
    let count = if step > 0 { (e - s + step - 1) / step } else { (s - e + (-step) - 1) / (-step) };
    Ok((s as usize, count.max(0) as usize, step))
}

impl Op for Slice {
    fn op_type(&self) -> &'static str {
        "Slice"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let (starts, ends, axes, steps) = match &self.attrs {
            Some(a) => (a.starts.clone(), a.ends.clone(), a.axes.clone(), None),
            None => (
                ints(inputs.req(1)?, "Slice's starts")?,
                ints(inputs.req(2)?, "Slice's ends")?,
                inputs.get(3).map(|v| ints(v, "Slice's axes")).transpose()?,
                inputs.get(4).map(|v| ints(v, "Slice's steps")).transpose()?,
            ),
        };
        let rank = x.rank();
        let axes: Vec<i64> = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(value_err(format!(
                "Slice's starts, ends, axes and steps must be as long as each other ({}, {}, {}, {})",
                starts.len(),
                ends.len(),
                axes.len(),
                steps.len()
            )));
        }
        let mut first = vec![0usize; rank];
        let mut shape = x.shape().to_vec();
        let mut step = vec![1i64; rank];
        let mut seen = vec![false; rank];
        for i in 0..starts.len() {
            let a = norm_axis(axes[i], rank)?;
            if std::mem::replace(&mut seen[a], true) {
                return Err(value_err(format!("Slice names axis {a} twice")));
            }
            (first[a], shape[a], step[a]) = slice_axis(x.shape()[a], starts[i], ends[i], steps[i])?;
        }
        let st = strides(x.shape());
        let base: isize = (0..rank).map(|d| (first[d] * st[d]) as isize).sum();
        let steps: Vec<isize> = (0..rank).map(|d| step[d] as isize * st[d] as isize).collect();
        Ok(vec![gather(x, shape, base, &steps)])
    }
}

// ----------------------------------------------------------------------------------- Split

/// Split along `axis`: sizes from the `split` input (opset 13+) or attribute (before 13), else
/// equal parts — `num_outputs` of them from opset 18, the last one smaller when they do not
/// divide evenly.
#[derive(Debug)]
pub struct Split {
    pub axis: i64,
    pub split_attr: Option<Vec<i64>>,
    pub outputs: usize,
}

pub fn build_split(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    if ctx.opset < 13 {
        a.only(&["axis", "split"])?;
    } else {
        a.only(&["axis", "num_outputs"])?;
    }
    let split_attr = if ctx.opset < 13 { a.ints("split")? } else { None };
    if let Some(n) = a.int_opt("num_outputs")? {
        if n as usize != ctx.n_outputs {
            return Err(crate::op::attr_err("num_outputs", format!("is {n} but the node has {} outputs", ctx.n_outputs)));
        }
    }
    Ok(Arc::new(Split { axis: a.int("axis", 0)?, split_attr, outputs: ctx.n_outputs }))
}

impl Op for Split {
    fn op_type(&self) -> &'static str {
        "Split"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let axis = norm_axis(self.axis, x.rank())?;
        let dim = x.shape()[axis];
        let sizes: Vec<usize> = match (inputs.get(1), &self.split_attr) {
            // Saturating, not `as`: a size past usize (2^32 on wasm32) must not wrap to a small one.
            (Some(v), _) => ints(v, "Split's split")?.into_iter().map(|s| usize::try_from(s.max(0)).unwrap_or(usize::MAX)).collect(),
            (None, Some(s)) => s.iter().map(|&s| usize::try_from(s.max(0)).unwrap_or(usize::MAX)).collect(),
            (None, None) => {
                let part = dim.div_ceil(self.outputs.max(1));
                (0..self.outputs).map(|k| part.min(dim.saturating_sub(k * part))).collect()
            }
        };
        if sizes.len() != self.outputs || sizes.iter().try_fold(0usize, |a, &b| a.checked_add(b)) != Some(dim) {
            return Err(value_err(format!("Split sizes {sizes:?} do not split axis {axis} of {dim} into {} outputs", self.outputs)));
        }
        let st = strides(x.shape());
        if let Some(xs) = x.as_f32() {
            // float32 (what models split: YOLO's C2f blocks): each part is `outer` runs of
            // `size · inner` contiguous values, copied whole instead of gathered one index at a
            // time (nudenet's nine Splits had cost 2.5 ms of its 90).
            let (inner, outer) = (st[axis], x.shape()[..axis].iter().product::<usize>());
            let mut offset = 0;
            let mut out = Vec::with_capacity(sizes.len());
            for size in sizes {
                let mut shape = x.shape().to_vec();
                shape[axis] = size;
                let mut data = Vec::with_capacity(outer * size * inner);
                for o in 0..outer {
                    let from = (o * dim + offset) * inner;
                    data.extend_from_slice(&xs[from..from + size * inner]);
                }
                out.push(Value::f32(shape, data));
                offset += size;
            }
            return Ok(out);
        }
        let step: Vec<isize> = st.iter().map(|&s| s as isize).collect();
        let mut offset = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for size in sizes {
            let mut shape = x.shape().to_vec();
            shape[axis] = size;
            out.push(gather(x, shape, (offset * st[axis]) as isize, &step));
            offset += size;
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------- Expand

/// Expand(input, shape): numpy broadcast of the input against `shape`.
#[derive(Debug)]
pub struct Expand;

pub fn build_expand(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Expand))
}

/// Offsets steps that broadcast `shape` to `out` (0 on a broadcast axis).
fn broadcast_steps(shape: &[usize], out: &[usize]) -> Vec<isize> {
    let pad = out.len() - shape.len();
    let st = strides(shape);
    (0..out.len()).map(|d| if d < pad || shape[d - pad] == 1 { 0 } else { st[d - pad] as isize }).collect()
}

impl Op for Expand {
    fn op_type(&self) -> &'static str {
        "Expand"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let target = ints(inputs.req(1)?, "Expand's shape")?;
        if target.iter().any(|&d| d < 0) {
            return Err(value_err(format!("Expand's shape {target:?} has a negative dimension")));
        }
        // `try_from`, not `as`: on wasm32 a dimension past 2^32 would wrap to a small one.
        let target: Vec<usize> = match target.iter().map(|&d| usize::try_from(d).ok()).collect() {
            Some(t) => t,
            None => return Err(shape_err(format!("Expand to {target:?} has too many elements"))),
        };
        let out = crate::op::broadcast_shapes(x.shape(), &target)?;
        checked_len(&out, x.dtype()).ok_or_else(|| shape_err(format!("Expand to {out:?} has too many elements")))?;
        let steps = broadcast_steps(x.shape(), &out);
        Ok(vec![gather(x, out, 0, &steps)])
    }
}

// ------------------------------------------------------------------------------------ Tile

/// Tile(input, repeats): the input repeated `repeats[d]` times along each axis.
#[derive(Debug)]
pub struct Tile;

pub fn build_tile(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Tile))
}

impl Op for Tile {
    fn op_type(&self) -> &'static str {
        "Tile"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let repeats = ints(inputs.req(1)?, "Tile's repeats")?;
        if repeats.len() != x.rank() || repeats.iter().any(|&r| r < 0) {
            return Err(value_err(format!("Tile's repeats {repeats:?} must be {} non-negative counts", x.rank())));
        }
        let shape = x.shape().to_vec();
        let out: Option<Vec<usize>> =
            shape.iter().zip(&repeats).map(|(&d, &r)| usize::try_from(r).ok().and_then(|r| d.checked_mul(r))).collect();
        let out = out.ok_or_else(|| shape_err(format!("Tile of {shape:?} by {repeats:?} has too many elements")))?;
        let n = checked_len(&out, x.dtype()).ok_or_else(|| shape_err(format!("Tile to {out:?} has too many elements")))?;
        let (st, ost) = (strides(&shape), strides(&out));
        let data = pick(x.data(), n, &|start, block| {
            for (k, slot) in block.iter_mut().enumerate() {
                let mut rest = start + k;
                let mut off = 0;
                for d in 0..out.len() {
                    let i = rest / ost[d];
                    rest %= ost[d];
                    off += (i % shape[d]) * st[d];
                }
                *slot = off;
            }
        });
        Ok(vec![Value::with_dtype(x.dtype(), out, data)])
    }
}

// ------------------------------------------------------------------------ ConstantOfShape

/// ConstantOfShape(shape): every element the `value` attribute's one element (default float 0).
#[derive(Debug)]
pub struct ConstantOfShape {
    pub value: Value,
}

pub fn build_constant_of_shape(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["value"])?;
    let value = a.tensor("value")?.unwrap_or_else(|| Value::f32(vec![1], vec![0.0]));
    if value.len() != 1 {
        return Err(crate::op::attr_err("value", format!("must hold one element, not {}", value.len())));
    }
    Ok(Arc::new(ConstantOfShape { value }))
}

impl Op for ConstantOfShape {
    fn op_type(&self) -> &'static str {
        "ConstantOfShape"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let shape = ints(inputs.req(0)?, "ConstantOfShape's input")?;
        if shape.iter().any(|&d| d < 0) {
            return Err(value_err(format!("ConstantOfShape's shape {shape:?} has a negative dimension")));
        }
        let shape: Vec<usize> = match shape.iter().map(|&d| usize::try_from(d).ok()).collect() {
            Some(s) => s,
            None => return Err(shape_err(format!("shape {shape:?} has too many elements"))),
        };
        let n = checked_len(&shape, self.value.dtype()).ok_or_else(|| shape_err(format!("shape {shape:?} has too many elements")))?;
        let data = pick(self.value.data(), n, &|_, block| block.fill(0));
        Ok(vec![Value::with_dtype(self.value.dtype(), shape, data)])
    }
}

// ----------------------------------------------------------------------------------- Range

/// Range(start, limit, delta): `start + i·delta` for `i < max(⌈(limit − start)/delta⌉, 0)`, in
/// the inputs' dtype (the spec's loop: each element is the previous plus delta).
#[derive(Debug)]
pub struct Range;

pub fn build_range(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Range))
}

impl Op for Range {
    fn op_type(&self) -> &'static str {
        "Range"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (s, l, d) = (inputs.req(0)?, inputs.req(1)?, inputs.req(2)?);
        let dtype = s.dtype();
        if l.dtype() != dtype || d.dtype() != dtype || s.len() != 1 || l.len() != 1 || d.len() != 1 {
            return Err(value_err("Range needs three scalars of one dtype"));
        }
        const LIMIT: f64 = (1u64 << 28) as f64;
        let count = |start: f64, limit: f64, delta: f64| -> Result<usize, OpError> {
            if delta == 0.0 {
                return Err(value_err("Range's delta cannot be 0"));
            }
            let n = ((limit - start) / delta).ceil().max(0.0);
            if n.is_nan() || n > LIMIT {
                return Err(value_err(format!("Range from {start} to {limit} by {delta} has too many elements")));
            }
            Ok(n as usize)
        };
        let data = match (s.data(), l.data(), d.data()) {
            (Data::F32(a), Data::F32(b), Data::F32(c)) => {
                let n = count(a[0] as f64, b[0] as f64, c[0] as f64)?;
                Data::F32((0..n).map(|i| a[0] + i as f32 * c[0]).collect())
            }
            (Data::F16(a), Data::F16(b), Data::F16(c)) => {
                let (a, b, c) = (a[0].to_f32(), b[0].to_f32(), c[0].to_f32());
                Data::F16((0..count(a as f64, b as f64, c as f64)?).map(|i| half::f16::from_f32(a + i as f32 * c)).collect())
            }
            (Data::BF16(a), Data::BF16(b), Data::BF16(c)) => {
                let (a, b, c) = (a[0].to_f32(), b[0].to_f32(), c[0].to_f32());
                Data::BF16((0..count(a as f64, b as f64, c as f64)?).map(|i| half::bf16::from_f32(a + i as f32 * c)).collect())
            }
            (Data::F64(a), Data::F64(b), Data::F64(c)) => {
                let n = count(a[0], b[0], c[0])?;
                Data::F64((0..n).map(|i| a[0] + i as f64 * c[0]).collect())
            }
            _ => {
                let ints = |v: &Value| v.to_i64_vec().ok_or_else(|| dtype_err(format!("Range does not accept {dtype}")));
                let (a, b, c) = (ints(s)?[0], ints(l)?[0], ints(d)?[0]);
                let n = count(a as f64, b as f64, c as f64)?;
                let v: Vec<i64> = (0..n as i64).map(|i| a.wrapping_add(i.wrapping_mul(c))).collect();
                match dtype {
                    DType::I64 => Data::I64(v),
                    DType::I32 => Data::I32(v.iter().map(|&x| x as i32).collect()),
                    DType::I16 => Data::I16(v.iter().map(|&x| x as i16).collect()),
                    _ => return Err(dtype_err(format!("Range does not accept {dtype}"))),
                }
            }
        };
        let n = data.len();
        Ok(vec![Value::new(vec![n], data)])
    }
}

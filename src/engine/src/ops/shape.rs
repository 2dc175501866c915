//! Data movement: Flatten, Reshape, Transpose, Shape, Gather, Concat, Unsqueeze, Squeeze and
//! Identity. They work on every dtype (the storage is moved, never converted); Reshape,
//! Flatten, Squeeze, Unsqueeze and Identity reuse the input's buffer when the node owns it.

use crate::attr::Attrs;
use crate::op::{dtype_err, norm_axis, shape_err, strides, value_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{checked_count, map_data, Elem, Value};
use std::sync::Arc;

/// The int64/int32 elements of a shape-like input.
fn ints_of(v: &Value, what: &str) -> Result<Vec<i64>, OpError> {
    match v.dtype() {
        crate::value::DType::I64 | crate::value::DType::I32 => Ok(v.to_i64_vec().expect("integer dtype")),
        d => Err(dtype_err(format!("{what} must be int64, not {d}"))),
    }
}

/// A value with the same storage (and narrow dtype) under a new shape.
fn with_shape(v: Value, shape: Vec<usize>) -> Value {
    v.reshaped(shape)
}

// ------------------------------------------------------------------------------- Identity

#[derive(Debug)]
pub struct Identity;

pub fn build_identity(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Identity))
}

impl Op for Identity {
    fn op_type(&self) -> &'static str {
        "Identity"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        Ok(vec![inputs.take_or_clone(0)?])
    }
}

// -------------------------------------------------------------------------------- Flatten

#[derive(Debug)]
pub struct Flatten {
    pub axis: i64,
}

pub fn build_flatten(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis"])?;
    Ok(Arc::new(Flatten { axis: a.int("axis", 1)? }))
}

impl Op for Flatten {
    fn op_type(&self) -> &'static str {
        "Flatten"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let v = inputs.take_or_clone(0)?;
        let r = v.rank() as i64;
        if self.axis < -r || self.axis > r {
            return Err(value_err(format!("axis {} is out of range for rank {r}", self.axis)));
        }
        let axis = if self.axis < 0 { self.axis + r } else { self.axis } as usize;
        let outer = v.shape()[..axis].iter().product();
        let inner = v.shape()[axis..].iter().product();
        Ok(vec![with_shape(v, vec![outer, inner])])
    }
}

// -------------------------------------------------------------------------------- Reshape

#[derive(Debug)]
pub struct Reshape {
    pub allow_zero: bool,
}

pub fn build_reshape(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["allowzero"])?;
    Ok(Arc::new(Reshape { allow_zero: a.int("allowzero", 0)? != 0 }))
}

/// The output shape of Reshape: 0 copies the input's dim (unless `allow_zero`), −1 is inferred.
pub(crate) fn reshape_target(input: &[usize], spec: &[i64], allow_zero: bool) -> Result<Vec<usize>, OpError> {
    let count: usize = input.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        out.push(match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            -1 => return Err(value_err(format!("shape {spec:?} has more than one -1"))),
            0 if !allow_zero => *input.get(i).ok_or_else(|| {
                shape_err(format!("shape {spec:?} copies dimension {i} (0) but the input {input:?} has rank {}", input.len()))
            })?,
            // `try_from`, not `as`: on wasm32 a dimension past 2^32 would wrap to a small one.
            d if d >= 0 => usize::try_from(d).map_err(|_| shape_err(format!("shape {spec:?} has too many elements")))?,
            d => return Err(value_err(format!("shape {spec:?} has the negative dimension {d}"))),
        });
    }
    // Checked, and every axis bounded: `[0, 2^40]` holds no elements but is no shape to hand on.
    let known = checked_count(&out).ok_or_else(|| shape_err(format!("shape {spec:?} has too many elements")))?;
    if let Some(i) = infer {
        if known == 0 || count % known != 0 {
            return Err(shape_err(format!("cannot reshape {input:?} ({count} elements) to {spec:?}")));
        }
        out[i] = count / known;
    } else if known != count {
        return Err(shape_err(format!("cannot reshape {input:?} ({count} elements) to {spec:?} ({known} elements)")));
    }
    Ok(out)
}

impl Op for Reshape {
    fn op_type(&self) -> &'static str {
        "Reshape"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let spec = ints_of(inputs.req(1)?, "the shape input")?;
        let target = reshape_target(inputs.req(0)?.shape(), &spec, self.allow_zero)?;
        Ok(vec![with_shape(inputs.take_or_clone(0)?, target)])
    }
}

// ------------------------------------------------------------------------------ Transpose

#[derive(Debug)]
pub struct Transpose {
    pub perm: Option<Vec<i64>>,
}

pub fn build_transpose(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["perm"])?;
    Ok(Arc::new(Transpose { perm: a.ints("perm")? }))
}

/// For row-major data of `shape` transposed by `perm` (output axis i is input axis perm[i]):
/// fills `block` with the input index of output elements `start..start + block.len()`.
/// Transpose and Gather move any dtype's elements by such indices with
/// [`crate::value::Data::pick`], a block at a time, so their index loops are not
/// instantiated per dtype and the index list never grows with the tensor.
pub(crate) fn transpose_indices(shape: &[usize], perm: &[usize], start: usize, block: &mut [usize]) {
    let rank = shape.len();
    if rank == 0 {
        block.fill(0);
        return;
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let in_strides = strides(shape);
    let step: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    // The output multi-index of `start`, and its input offset.
    let mut idx = vec![0usize; rank];
    let (mut rest, mut off) = (start, 0usize);
    for d in (0..rank).rev() {
        idx[d] = rest % out_shape[d].max(1);
        rest /= out_shape[d].max(1);
        off += idx[d] * step[d];
    }
    for slot in block.iter_mut() {
        *slot = off;
        for d in (0..rank).rev() {
            idx[d] += 1;
            off += step[d];
            if idx[d] < out_shape[d] {
                break;
            }
            off -= step[d] * out_shape[d];
            idx[d] = 0;
        }
    }
}

/// A permutation of `0..rank`, or an error.
pub(crate) fn check_perm(perm: &[i64], rank: usize) -> Result<Vec<usize>, OpError> {
    let mut seen = vec![false; rank];
    let mut out = Vec::with_capacity(rank);
    for &p in perm {
        let a = norm_axis(p, rank).map_err(|_| value_err(format!("perm {perm:?} is not a permutation of 0..{rank}")))?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(value_err(format!("perm {perm:?} is not a permutation of 0..{rank}")));
        }
        out.push(a);
    }
    if out.len() != rank {
        return Err(value_err(format!("perm {perm:?} has {} entries for an input of rank {rank}", perm.len())));
    }
    Ok(out)
}

impl Op for Transpose {
    fn op_type(&self) -> &'static str {
        "Transpose"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let v = inputs.req(0)?;
        let rank = v.rank();
        let perm = match &self.perm {
            Some(p) => check_perm(p, rank)?,
            None => (0..rank).rev().collect(),
        };
        let shape = v.shape();
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let data = v.data().pick(v.len(), |start, block| transpose_indices(shape, &perm, start, block));
        Ok(vec![Value::with_dtype(v.dtype(), out_shape, data)])
    }
}

// ---------------------------------------------------------------------------------- Shape

#[derive(Debug)]
pub struct ShapeOp {
    pub start: i64,
    pub end: Option<i64>,
}

pub fn build_shape(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["start", "end"])?;
    Ok(Arc::new(ShapeOp { start: a.int("start", 0)?, end: a.int_opt("end")? }))
}

impl Op for ShapeOp {
    fn op_type(&self) -> &'static str {
        "Shape"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let shape = inputs.req(0)?.shape();
        let r = shape.len() as i64;
        // Out-of-range start/end are clamped (opset 15).
        let clamp = |x: i64| (if x < 0 { x + r } else { x }).clamp(0, r) as usize;
        let (s, e) = (clamp(self.start), clamp(self.end.unwrap_or(r)));
        let dims: Vec<i64> = if s < e { shape[s..e].iter().map(|&d| d as i64).collect() } else { vec![] };
        Ok(vec![Value::i64(vec![dims.len()], dims)])
    }
}

// --------------------------------------------------------------------------------- Gather

#[derive(Debug)]
pub struct Gather {
    pub axis: i64,
}

pub fn build_gather(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis"])?;
    Ok(Arc::new(Gather { axis: a.int("axis", 0)? }))
}

/// Fills `block` with the input index of output elements `start..` of a Gather of `idx`
/// along an axis of size `dim` (`inner` elements after it).
fn gather_indices(dim: usize, inner: usize, idx: &[usize], start: usize, block: &mut [usize]) {
    for (p, slot) in (start..).zip(block.iter_mut()) {
        let (row, k) = (p / inner, p % inner);
        let (o, j) = (row / idx.len(), row % idx.len());
        *slot = (o * dim + idx[j]) * inner + k;
    }
}

impl Op for Gather {
    fn op_type(&self) -> &'static str {
        "Gather"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (data, indices) = (inputs.req(0)?, inputs.req(1)?);
        let shape = data.shape();
        if shape.is_empty() {
            return Err(OpError::Rank { input: 0, expected: "at least 1".into(), got: 0 });
        }
        let axis = norm_axis(self.axis, shape.len())?;
        let dim = shape[axis];
        let raw = ints_of(indices, "the indices")?;
        let idx: Vec<usize> = raw
            .iter()
            .map(|&i| {
                let j = if i < 0 { i + dim as i64 } else { i };
                usize::try_from(j)
                    .ok()
                    .filter(|&j| j < dim)
                    .ok_or_else(|| value_err(format!("index {i} is out of range for axis {axis} of size {dim}")))
            })
            .collect::<Result<_, _>>()?;
        let outer: usize = shape[..axis].iter().product();
        let inner = shape[axis + 1..].iter().product();
        let mut out_shape = shape[..axis].to_vec();
        out_shape.extend_from_slice(indices.shape());
        out_shape.extend_from_slice(&shape[axis + 1..]);
        let len = outer * idx.len() * inner;
        let out = data.data().pick(len, |start, block| gather_indices(dim, inner, &idx, start, block));
        Ok(vec![Value::with_dtype(data.dtype(), out_shape, out)])
    }
}

// --------------------------------------------------------------------------------- Concat

#[derive(Debug)]
pub struct Concat {
    pub axis: i64,
}

pub fn build_concat(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis"])?;
    let axis = a.int_opt("axis")?.ok_or_else(|| crate::op::attr_err("axis", "is required"))?;
    Ok(Arc::new(Concat { axis }))
}

fn concat<T: Elem>(_first: &[T], parts: &[&Value], outer: usize, inners: &[usize]) -> Vec<T> {
    let slices: Vec<&[T]> = parts.iter().map(|p| T::slice(p.data()).expect("dtypes checked")).collect();
    let mut out = Vec::with_capacity(inners.iter().sum::<usize>() * outer);
    for o in 0..outer {
        for (s, &n) in slices.iter().zip(inners) {
            out.extend_from_slice(&s[o * n..(o + 1) * n]);
        }
    }
    out
}

impl Op for Concat {
    fn op_type(&self) -> &'static str {
        "Concat"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let parts: Vec<&Value> = (0..inputs.len()).filter_map(|i| inputs.get(i)).collect();
        let first = parts[0];
        let rank = first.rank();
        if rank == 0 {
            return Err(OpError::Rank { input: 0, expected: "at least 1".into(), got: 0 });
        }
        let axis = norm_axis(self.axis, rank)?;
        let mut out_shape = first.shape().to_vec();
        out_shape[axis] = 0;
        for (i, p) in parts.iter().enumerate() {
            if p.dtype() != first.dtype() {
                return Err(dtype_err(format!("input {i} is {} but input 0 is {}", p.dtype(), first.dtype())));
            }
            if p.rank() != rank {
                return Err(OpError::Rank { input: i, expected: rank.to_string(), got: p.rank() });
            }
            for d in (0..rank).filter(|&d| d != axis) {
                if p.shape()[d] != first.shape()[d] {
                    return Err(shape_err(format!(
                        "input {i} has shape {:?}, input 0 {:?}: only axis {axis} may differ",
                        p.shape(),
                        first.shape()
                    )));
                }
            }
            out_shape[axis] += p.shape()[axis];
        }
        let outer: usize = first.shape()[..axis].iter().product();
        let inners: Vec<usize> = parts.iter().map(|p| p.shape()[axis..].iter().product()).collect();
        let data = map_data!(first.data(), x => concat(x, &parts, outer, &inners));
        Ok(vec![Value::with_dtype(first.dtype(), out_shape, data)])
    }
}

// ---------------------------------------------------------------------- Unsqueeze/Squeeze

/// Unsqueeze (`squeeze: false`) or Squeeze; axes from the attribute (before opset 13) or
/// the second input.
#[derive(Debug)]
pub struct SqueezeOp {
    pub squeeze: bool,
    pub axes: Option<Vec<i64>>,
}

pub fn build_unsqueeze(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axes"])?;
    let axes = a.ints("axes")?;
    if axes.is_none() && ctx.n_inputs < 2 {
        return Err(crate::op::attr_err("axes", "is required (as an attribute before opset 13, else as input 2)"));
    }
    Ok(Arc::new(SqueezeOp { squeeze: false, axes }))
}

pub fn build_squeeze(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axes"])?;
    Ok(Arc::new(SqueezeOp { squeeze: true, axes: a.ints("axes")? }))
}

impl Op for SqueezeOp {
    fn op_type(&self) -> &'static str {
        if self.squeeze {
            "Squeeze"
        } else {
            "Unsqueeze"
        }
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let axes = match (&self.axes, inputs.get(1)) {
            (Some(a), _) => Some(a.clone()),
            (None, Some(v)) => Some(ints_of(v, "the axes input")?),
            (None, None) => None,
        };
        let shape = inputs.req(0)?.shape().to_vec();
        let out_shape = if self.squeeze {
            match axes {
                None => shape.iter().copied().filter(|&d| d != 1).collect(),
                Some(axes) => {
                    let mut drop = vec![false; shape.len()];
                    for &a in &axes {
                        let a = norm_axis(a, shape.len())?;
                        if shape[a] != 1 {
                            return Err(shape_err(format!("cannot squeeze axis {a} of {shape:?}: its size is not 1")));
                        }
                        drop[a] = true;
                    }
                    shape.iter().zip(drop).filter(|(_, d)| !d).map(|(&s, _)| s).collect()
                }
            }
        } else {
            let axes = axes.expect("checked at build");
            let rank = shape.len() + axes.len();
            let mut insert = vec![false; rank];
            for &a in &axes {
                let a = norm_axis(a, rank)?;
                if std::mem::replace(&mut insert[a], true) {
                    return Err(value_err(format!("axes {axes:?} repeat an axis")));
                }
            }
            let mut rest = shape.iter();
            insert.iter().map(|&ins| if ins { 1 } else { *rest.next().expect("count matches") }).collect()
        };
        Ok(vec![with_shape(inputs.take_or_clone(0)?, out_shape)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_indices_match_index_arithmetic_from_any_start() {
        let x: Vec<i32> = (0..24).collect();
        let mut order = vec![0; 24];
        transpose_indices(&[2, 3, 4], &[2, 0, 1], 0, &mut order);
        let y: Vec<i32> = order.iter().map(|&i| x[i]).collect();
        // y[k][i][j] = x[i][j][k]
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    assert_eq!(y[k * 6 + i * 3 + j], x[i * 12 + j * 4 + k]);
                }
            }
        }
        // A block starting anywhere continues the same order.
        for start in 0..24 {
            let mut part = vec![0; 24 - start];
            transpose_indices(&[2, 3, 4], &[2, 0, 1], start, &mut part);
            assert_eq!(part, order[start..], "from {start}");
        }
        let mut scalar = [7];
        transpose_indices(&[], &[], 0, &mut scalar);
        assert_eq!(scalar, [0], "a scalar is its own transpose");
    }

    #[test]
    fn pick_moves_elements_across_index_blocks() {
        // 130 × 257 = 33,410 elements: three blocks of indices.
        let (r, c) = (130usize, 257usize);
        let x = crate::value::Data::U16((0..r * c).map(|i| i as u16).collect());
        let y = x.pick(r * c, |start, block| transpose_indices(&[r, c], &[1, 0], start, block));
        let crate::value::Data::U16(y) = y else { panic!("the dtype changed") };
        for (o, &v) in y.iter().enumerate() {
            let (j, i) = (o / r, o % r);
            assert_eq!(v as usize, (i * c + j) % 65536, "output {o}");
        }
    }

    #[test]
    fn reshape_rules() {
        assert_eq!(reshape_target(&[2, 3, 4], &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(reshape_target(&[0, 3], &[3, 0], true).unwrap(), vec![3, 0]);
        assert!(matches!(reshape_target(&[2, 3], &[4, -1], false), Err(OpError::Shape(_))));
        assert!(matches!(reshape_target(&[2, 3], &[-1, -1], false), Err(OpError::Value(_))));
    }
}

// ----------------------------------------------------------------------------------- Size

/// Size: the element count of the input, an int64 scalar (`onnx/reference/ops/op_size.py`).
#[derive(Debug)]
pub struct Size;

pub fn build_size(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(Size))
}

impl Op for Size {
    fn op_type(&self) -> &'static str {
        "Size"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let n = inputs.req(0)?.len();
        Ok(vec![Value::i64(vec![], vec![n as i64])])
    }
}

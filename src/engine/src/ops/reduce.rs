//! Reductions along axes: ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp,
//! ArgMax/ArgMin, CumSum and TopK, as the ONNX spec defines them (`onnx/defs/reduction/defs.cc`,
//! `onnx/defs/math/defs.cc`; reference: `onnx/reference/ops/op_reduce_*.py`, `op_argmax.py`,
//! `op_cum_sum.py`, `op_topk.py`). Every numeric dtype computes in f64 and rounds once.

use crate::attr::Attrs;
use crate::op::{attr_err, from_f64, int_list, norm_axis, numbers, strides, value_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Value};
use std::sync::Arc;

/// Sorted, deduplicated axes in `[0, rank)`.
fn axes_of(axes: &[i64], rank: usize) -> Result<Vec<usize>, OpError> {
    let mut out = axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Calls `f(value, output index)` for every input element in flat order (so each output sums
/// its inputs in the same order whichever way they are visited). When the reduced axes form
/// one block (size-1 axes either way), the input is outer × reduced × inner and no map is
/// built: magika's LayerNorm moments, (2, 384, 512) over axis 1, spent most of their time
/// building and reading a 393K-entry map.
fn for_each_target(xs: &[f64], shape: &[usize], reduced: &[bool], mut f: impl FnMut(f64, usize)) {
    let real: Vec<usize> = (0..shape.len()).filter(|&d| reduced[d] && shape[d] != 1).collect();
    let block = match (real.first(), real.last()) {
        (Some(&a), Some(&b)) => (a..=b).all(|d| reduced[d] || shape[d] == 1).then_some((a, b + 1)),
        _ => Some((shape.len(), shape.len())),
    };
    let Some((a, b)) = block else {
        let (_, map) = reduction_map(shape, reduced);
        xs.iter().zip(&map).for_each(|(&v, &o)| f(v, o));
        return;
    };
    let (r, inner): (usize, usize) = (shape[a..b].iter().product(), shape[b..].iter().product());
    if r == 0 || inner == 0 {
        return;
    }
    for (o, group) in xs.chunks_exact(r * inner).enumerate() {
        for row in group.chunks_exact(inner) {
            row.iter().enumerate().for_each(|(i, &v)| f(v, o * inner + i));
        }
    }
}

/// For each input element, the flat index of the output element it reduces into, when the
/// `reduced` axes collapse to size 1: `(output shape with 1s, map)`.
fn reduction_map(shape: &[usize], reduced: &[bool]) -> (Vec<usize>, Vec<usize>) {
    let kept: Vec<usize> = shape.iter().zip(reduced).map(|(&d, &r)| if r { 1 } else { d }).collect();
    let out_strides = strides(&kept);
    // What a step along axis d adds to the output offset (0 along a reduced axis): the offset
    // moves with the multi-index instead of being recomputed per element (that was a fifth of
    // magika's run, its LayerNorm ReduceMeans).
    let step: Vec<usize> = out_strides.iter().zip(reduced).map(|(&s, &r)| if r { 0 } else { s }).collect();
    let n: usize = shape.iter().product();
    let mut map = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    let mut at = 0usize;
    for _ in 0..n {
        map.push(at);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            at += step[d];
            if idx[d] < shape[d] {
                break;
            }
            at -= step[d] * shape[d];
            idx[d] = 0;
        }
    }
    (kept, map)
}

// ------------------------------------------------------------------------------- Reduce*

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reduction {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSum,
    LogSumExp,
}

impl Reduction {
    /// The value a reduction over no elements gives (the spec's empty-set results, opset 18).
    fn identity(self) -> f64 {
        match self {
            Reduction::Max | Reduction::LogSumExp => f64::NEG_INFINITY,
            Reduction::Min => f64::INFINITY,
            Reduction::Prod => 1.0,
            _ => 0.0,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Reduction::Sum => "ReduceSum",
            Reduction::Mean => "ReduceMean",
            Reduction::Max => "ReduceMax",
            Reduction::Min => "ReduceMin",
            Reduction::Prod => "ReduceProd",
            Reduction::L1 => "ReduceL1",
            Reduction::L2 => "ReduceL2",
            Reduction::SumSquare => "ReduceSumSquare",
            Reduction::LogSum => "ReduceLogSum",
            Reduction::LogSumExp => "ReduceLogSumExp",
        }
    }
}

/// A Reduce* op. Axes come from the `axes` attribute (before opset 18; ReduceSum before 13) or
/// from input 1 (after); with no axes, every axis is reduced unless `noop_with_empty_axes`.
#[derive(Debug)]
pub struct Reduce {
    pub kind: Reduction,
    pub axes: Option<Vec<i64>>,
    pub keepdims: bool,
    pub noop_with_empty_axes: bool,
}

fn build_reduce(kind: Reduction, a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axes", "keepdims", "noop_with_empty_axes"])?;
    Ok(Arc::new(Reduce {
        kind,
        axes: a.ints("axes")?,
        keepdims: a.flag("keepdims", true)?,
        noop_with_empty_axes: a.flag("noop_with_empty_axes", false)?,
    }))
}

macro_rules! reduce_builders {
    ($($f:ident => $k:ident),*) => {$(
        pub fn $f(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
            build_reduce(Reduction::$k, a)
        }
    )*};
}
reduce_builders!(build_reduce_sum => Sum, build_reduce_mean => Mean, build_reduce_max => Max, build_reduce_min => Min,
    build_reduce_prod => Prod, build_reduce_l1 => L1, build_reduce_l2 => L2, build_reduce_sum_square => SumSquare,
    build_reduce_log_sum => LogSum, build_reduce_log_sum_exp => LogSumExp);

impl Op for Reduce {
    fn op_type(&self) -> &'static str {
        self.kind.name()
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let axes = match (&self.axes, inputs.get(1)) {
            (Some(a), _) => a.clone(),
            (None, Some(v)) => int_list(v, "axes")?,
            (None, None) => Vec::new(),
        };
        if axes.is_empty() && self.noop_with_empty_axes {
            return Ok(vec![x.clone()]);
        }
        let rank = x.rank();
        let reduced: Vec<bool> = if axes.is_empty() {
            vec![true; rank]
        } else {
            let list = axes_of(&axes, rank)?;
            (0..rank).map(|d| list.contains(&d)).collect()
        };
        let k = self.kind;
        // A float32 tensor's ReduceMax/ReduceMin down to one value: static QDQ's calibration
        // model has one of each for every tensor it calibrates (716 pairs on ppocr_rec), and the
        // general loop below, through an f64 copy of the input, took 72 % of that model's run.
        if matches!(k, Reduction::Max | Reduction::Min) && x.shape().iter().zip(&reduced).all(|(&d, &r)| r || d == 1) {
            if let Some(v) =
                x.as_f32().and_then(|xs| if k == Reduction::Max { whole_extreme::<true>(xs) } else { whole_extreme::<false>(xs) })
            {
                let shape = if self.keepdims {
                    vec![1; rank]
                } else {
                    x.shape().iter().zip(&reduced).filter(|(_, &r)| !r).map(|(&d, _)| d).collect()
                };
                return Ok(vec![Value::f32(shape, vec![v])]);
            }
        }
        // Bool ReduceMax / ReduceMin (opset 20) are "any" and "all".
        let bool_ok = x.dtype() == DType::Bool && matches!(self.kind, Reduction::Max | Reduction::Min);
        let xs = if bool_ok { x.to_f64_vec() } else { numbers(x, "the input")? };
        let kept: Vec<usize> = x.shape().iter().zip(&reduced).map(|(&d, &r)| if r { 1 } else { d }).collect();
        let n_out: usize = kept.iter().product();
        let count = xs.len().checked_div(n_out).unwrap_or(0);
        // LogSumExp subtracts each group's max first, so large inputs do not overflow.
        let shift = if k == Reduction::LogSumExp {
            let mut m = vec![f64::NEG_INFINITY; n_out];
            for_each_target(&xs, x.shape(), &reduced, |v, o| m[o] = m[o].max(v));
            m.iter_mut().for_each(|v| *v = if v.is_finite() { *v } else { 0.0 });
            m
        } else {
            Vec::new()
        };
        let mut acc = vec![k.identity(); n_out];
        for_each_target(&xs, x.shape(), &reduced, |v, o| {
            let a = &mut acc[o];
            *a = match k {
                Reduction::Sum | Reduction::Mean | Reduction::LogSum => *a + v,
                Reduction::Max => a.max(v),
                Reduction::Min => a.min(v),
                Reduction::Prod => *a * v,
                Reduction::L1 => *a + v.abs(),
                Reduction::L2 | Reduction::SumSquare => *a + v * v,
                Reduction::LogSumExp => {
                    let s = if *a == f64::NEG_INFINITY { 0.0 } else { *a };
                    s + (v - shift[o]).exp()
                }
            };
            // max/min propagate NaN as numpy does.
            if v.is_nan() && matches!(k, Reduction::Max | Reduction::Min) {
                *a = f64::NAN;
            }
        });
        for (o, a) in acc.iter_mut().enumerate() {
            *a = match k {
                Reduction::Mean => *a / count as f64,
                Reduction::L2 => a.sqrt(),
                Reduction::LogSum => a.ln(),
                Reduction::LogSumExp if count > 0 => a.ln() + shift[o],
                // An empty "any" is false, an empty "all" true.
                _ if bool_ok && a.is_infinite() => (*a > 0.0) as u8 as f64,
                _ => *a,
            };
        }
        let shape = if self.keepdims { kept } else { x.shape().iter().zip(&reduced).filter(|(_, &r)| !r).map(|(&d, _)| d).collect() };
        Ok(vec![from_f64(x.dtype(), shape, acc)?])
    }
}

/// The greatest (`MAX`) or least value of `xs`, when none is NaN and it is not ±0: then it is
/// one value, the same bits whatever order it is compared in, so sixteen lanes (which the
/// compiler vectorizes: SIMD128's `pmax`/`pmin` in the page) give what `Reduce`'s flat f64 loop
/// gives. `None` leaves NaN (that loop's own rule) and a zero (whose sign `f64::max`/`min`
/// picks by order) to that loop. An empty slice gives the identity, −∞ or +∞, as the loop does.
fn whole_extreme<const MAX: bool>(xs: &[f32]) -> Option<f32> {
    const LANES: usize = 16;
    let better = |v: f32, m: f32| if MAX { v > m } else { v < m };
    let mut m = [if MAX { f32::NEG_INFINITY } else { f32::INFINITY }; LANES];
    let mut nan = [0u32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            let v = c[i];
            nan[i] |= v.is_nan() as u32;
            m[i] = if better(v, m[i]) { v } else { m[i] };
        }
    }
    let mut r = m[0];
    for &v in m[1..].iter().chain(tail) {
        r = if better(v, r) { v } else { r };
    }
    let any_nan = nan.iter().any(|&n| n != 0) || tail.iter().any(|v| v.is_nan());
    (!any_nan && r != 0.0).then_some(r)
}

// -------------------------------------------------------------------------- ArgMax/ArgMin

/// ArgMax / ArgMin: int64 indices along `axis`; ties go to the first index, or the last with
/// `select_last_index` (opset 12).
#[derive(Debug)]
pub struct ArgExtreme {
    pub max: bool,
    pub axis: i64,
    pub keepdims: bool,
    pub last: bool,
}

fn build_arg(max: bool, a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis", "keepdims", "select_last_index"])?;
    Ok(Arc::new(ArgExtreme {
        max,
        axis: a.int("axis", 0)?,
        keepdims: a.flag("keepdims", true)?,
        last: a.flag("select_last_index", false)?,
    }))
}

pub fn build_argmax(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    build_arg(true, a)
}

pub fn build_argmin(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    build_arg(false, a)
}

impl Op for ArgExtreme {
    fn op_type(&self) -> &'static str {
        if self.max {
            "ArgMax"
        } else {
            "ArgMin"
        }
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let axis = norm_axis(self.axis, x.rank())?;
        let xs = numbers(x, "the input")?;
        let shape = x.shape();
        let (outer, dim, inner) = (shape[..axis].iter().product::<usize>(), shape[axis], shape[axis + 1..].iter().product::<usize>());
        if dim == 0 {
            return Err(value_err(format!("{} over an axis of size 0 has no answer", self.op_type())));
        }
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| xs[(o * dim + k) * inner + i];
                let mut best = 0;
                for k in 1..dim {
                    let (v, b) = (at(k), at(best));
                    let better = if self.max { v > b } else { v < b };
                    if better || (self.last && v == b) {
                        best = k;
                    }
                }
                out.push(best as i64);
            }
        }
        let mut out_shape = shape.to_vec();
        if self.keepdims {
            out_shape[axis] = 1;
        } else {
            out_shape.remove(axis);
        }
        Ok(vec![Value::i64(out_shape, out)])
    }
}

// ---------------------------------------------------------------------------------- CumSum

/// CumSum along the axis given as input 1; `exclusive` leaves each element out of its own
/// sum, `reverse` sums from the end.
#[derive(Debug)]
pub struct CumSum {
    pub exclusive: bool,
    pub reverse: bool,
}

pub fn build_cumsum(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["exclusive", "reverse"])?;
    Ok(Arc::new(CumSum { exclusive: a.flag("exclusive", false)?, reverse: a.flag("reverse", false)? }))
}

impl Op for CumSum {
    fn op_type(&self) -> &'static str {
        "CumSum"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let axis = int_list(inputs.req(1)?, "CumSum's axis")?;
        let [axis] = axis[..] else { return Err(value_err(format!("CumSum's axis must hold one value, not {}", axis.len()))) };
        let axis = norm_axis(axis, x.rank())?;
        let xs = numbers(x, "the input")?;
        let shape = x.shape();
        let (outer, dim, inner) = (shape[..axis].iter().product::<usize>(), shape[axis], shape[axis + 1..].iter().product::<usize>());
        let mut out = vec![0.0; xs.len()];
        for o in 0..outer {
            for i in 0..inner {
                let mut sum = 0.0;
                for step in 0..dim {
                    let k = if self.reverse { dim - 1 - step } else { step };
                    let at = (o * dim + k) * inner + i;
                    if self.exclusive {
                        out[at] = sum;
                        sum += xs[at];
                    } else {
                        sum += xs[at];
                        out[at] = sum;
                    }
                }
            }
        }
        Ok(vec![from_f64(x.dtype(), shape.to_vec(), out)?])
    }
}

// ------------------------------------------------------------------------------------ TopK

/// TopK: the `k` largest (or smallest) elements along `axis` and their int64 indices; equal
/// values keep their index order (the spec: "the lower index appears first"). `k` is input 1
/// (opset 10) or the `k` attribute (opset 1).
#[derive(Debug)]
pub struct TopK {
    pub axis: i64,
    pub largest: bool,
    pub k: Option<i64>,
}

pub fn build_topk(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis", "largest", "sorted", "k"])?;
    let largest = a.flag("largest", true)?;
    // sorted=0 lets an implementation return any order; sorted output is one of them.
    match a.int("sorted", 1)? {
        0 | 1 => {}
        v => return Err(attr_err("sorted", format!("must be 0 or 1, not {v}"))),
    }
    let k = a.int_opt("k")?;
    if ctx.opset < 10 && k.is_none() {
        return Err(attr_err("k", "is required before opset 10"));
    }
    if ctx.opset >= 10 && ctx.n_inputs < 2 {
        return Err(value_err("TopK needs its K input from opset 10 on"));
    }
    Ok(Arc::new(TopK { axis: a.int("axis", -1)?, largest, k }))
}

impl Op for TopK {
    fn op_type(&self) -> &'static str {
        "TopK"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let k = match (self.k, inputs.get(1)) {
            (_, Some(v)) => match int_list(v, "K")?[..] {
                [k] => k,
                ref other => return Err(value_err(format!("K must hold one value, not {}", other.len()))),
            },
            (Some(k), None) => k,
            (None, None) => return Err(value_err("TopK has no K")),
        };
        let axis = norm_axis(self.axis, x.rank())?;
        let shape = x.shape();
        let dim = shape[axis];
        if k < 0 || k as usize > dim {
            return Err(value_err(format!("K = {k} is outside [0, {dim}] (the size of axis {axis})")));
        }
        let k = k as usize;
        let xs = numbers(x, "the input")?;
        let (outer, inner) = (shape[..axis].iter().product::<usize>(), shape[axis + 1..].iter().product::<usize>());
        let mut values = vec![0.0; outer * k * inner];
        let mut indices = vec![0i64; outer * k * inner];
        let mut order: Vec<usize> = Vec::with_capacity(dim);
        for o in 0..outer {
            for i in 0..inner {
                let at = |j: usize| xs[(o * dim + j) * inner + i];
                order.clear();
                order.extend(0..dim);
                // A stable sort keeps equal values in index order.
                if self.largest {
                    order.sort_by(|&p, &q| at(q).partial_cmp(&at(p)).unwrap_or(std::cmp::Ordering::Equal));
                } else {
                    order.sort_by(|&p, &q| at(p).partial_cmp(&at(q)).unwrap_or(std::cmp::Ordering::Equal));
                }
                for (r, &j) in order.iter().take(k).enumerate() {
                    values[(o * k + r) * inner + i] = at(j);
                    indices[(o * k + r) * inner + i] = j as i64;
                }
            }
        }
        let mut out_shape = shape.to_vec();
        out_shape[axis] = k;
        Ok(vec![from_f64(x.dtype(), out_shape.clone(), values)?, Value::i64(out_shape, indices)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block walk visits every element with the output index the map gives it, in flat
    /// order (which is what keeps each sum's order, and so its bits, unchanged).
    #[test]
    fn block_walk_matches_the_map() {
        let cases: [(&[usize], &[bool]); 7] = [
            (&[2, 384, 5], &[false, true, false]),
            (&[1, 2, 6, 1], &[true, false, true, true]),
            (&[3, 4], &[true, true]),
            (&[3, 4], &[false, false]),
            (&[2, 3, 4], &[true, false, true]),
            (&[2, 1, 3, 4], &[false, true, true, false]),
            (&[2, 0, 3], &[false, true, false]),
        ];
        for (shape, reduced) in cases {
            let n: usize = shape.iter().product();
            let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let (_, map) = reduction_map(shape, reduced);
            let mut seen = Vec::new();
            for_each_target(&xs, shape, reduced, |v, o| seen.push((v as usize, o)));
            let want: Vec<(usize, usize)> = map.iter().copied().enumerate().collect();
            assert_eq!(seen, want, "{shape:?} {reduced:?}");
        }
    }
}

//! Data movement by computed indices: Pad, DepthToSpace, SpaceToDepth, GatherElements,
//! GatherND, ScatterND and NonZero, as the ONNX spec defines them (`onnx/defs/tensor/defs.cc`;
//! reference: `onnx/reference/ops/op_pad.py`, `op_depth_to_space.py`, `op_space_to_depth.py`,
//! `op_gather_elements.py`, `op_gather_nd.py`, `op_scatternd.py`). Every dtype moves as its
//! storage, through `Data::pick`.

use crate::attr::Attrs;
use crate::op::{
    attr_err, dtype_err, expect_rank, from_f64, int_list, norm_axis, numbers, shape_err, strides, value_err, BuildCtx, Inputs, Op, OpError,
};
use crate::value::{checked_len, Data, Elem, Value};
use std::sync::Arc;

/// `a`'s elements followed by `b`'s (same storage), so one `pick` can take from both: Pad's
/// fill value and ScatterND's updates sit after the data.
pub(crate) fn joined(a: &Data, b: &Data) -> Result<Data, OpError> {
    fn join<T: Elem>(a: &[T], b: &Data) -> Option<Vec<T>> {
        let b = T::slice(b)?;
        Some(a.iter().chain(b).copied().collect())
    }
    let out = match a {
        Data::F32(v) => join(v, b).map(Data::F32),
        Data::F64(v) => join(v, b).map(Data::F64),
        Data::F16(v) => join(v, b).map(Data::F16),
        Data::BF16(v) => join(v, b).map(Data::BF16),
        Data::I8(v) => join(v, b).map(Data::I8),
        Data::U8(v) => join(v, b).map(Data::U8),
        Data::I16(v) => join(v, b).map(Data::I16),
        Data::U16(v) => join(v, b).map(Data::U16),
        Data::I32(v) => join(v, b).map(Data::I32),
        Data::U32(v) => join(v, b).map(Data::U32),
        Data::I64(v) => join(v, b).map(Data::I64),
        Data::U64(v) => join(v, b).map(Data::U64),
        Data::Bool(v) => join(v, b).map(Data::Bool),
    };
    out.ok_or_else(|| dtype_err("the values have different element types"))
}

/// The elements of `data` at `order`, in that order: the one `Data::pick` instantiation of this
/// family (one per closure type would be one copy loop per dtype per op in the wasm module).
fn take(data: &Data, order: &[usize]) -> Data {
    data.pick(order.len(), |start, block| block.copy_from_slice(&order[start..start + block.len()]))
}

/// Visits every multi-index of `shape` in row-major order.
fn for_each_index(shape: &[usize], mut f: impl FnMut(&[usize])) {
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        f(&idx);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

// ------------------------------------------------------------------------------------- Pad

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    /// Opset 19.
    Wrap,
}

/// Pad: `pads` (begins then ends), an optional fill value and (opset 18) the `axes` they apply
/// to, as inputs from opset 11; as the `pads` and `value` attributes before.
#[derive(Debug)]
pub struct Pad {
    pub mode: PadMode,
    /// Before opset 11.
    pub pads: Option<Vec<i64>>,
    pub value: f32,
}

pub fn build_pad(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    let mode = match a.string("mode")?.as_deref().unwrap_or("constant") {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        "wrap" if ctx.opset >= 19 => PadMode::Wrap,
        other => return Err(attr_err("mode", format!("'{other}' is not a pad mode (constant, reflect, edge; wrap from opset 19)"))),
    };
    if ctx.opset < 11 {
        a.only(&["mode", "pads", "paddings", "value"])?;
        let pads = a.ints("pads")?.or(a.ints("paddings")?).ok_or_else(|| attr_err("pads", "is required before opset 11"))?;
        return Ok(Arc::new(Pad { mode, pads: Some(pads), value: a.float("value", 0.0)? }));
    }
    a.only(&["mode"])?;
    if ctx.n_inputs < 2 {
        return Err(value_err("Pad needs its pads input from opset 11 on"));
    }
    Ok(Arc::new(Pad { mode, pads: None, value: 0.0 }))
}

/// The input coordinate output coordinate `i` reads along an axis of size `d` padded by
/// `begin` (`None`: the fill value). numpy.pad's semantics, which the reference follows.
fn pad_source(mode: PadMode, i: i64, begin: i64, d: i64) -> Option<usize> {
    let j = i - begin;
    if (0..d).contains(&j) {
        return Some(j as usize);
    }
    match mode {
        PadMode::Constant => None,
        PadMode::Edge => Some(j.clamp(0, d - 1) as usize),
        PadMode::Wrap => Some(j.rem_euclid(d) as usize),
        PadMode::Reflect if d == 1 => Some(0),
        PadMode::Reflect => {
            // Mirror without repeating the edge, period 2(d − 1), as often as the pad needs.
            let period = 2 * (d - 1);
            let m = j.rem_euclid(period);
            Some(if m < d { m } else { period - m } as usize)
        }
    }
}

impl Op for Pad {
    fn op_type(&self) -> &'static str {
        "Pad"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let rank = x.rank();
        let pads = match &self.pads {
            Some(p) => p.clone(),
            None => int_list(inputs.req(1)?, "pads")?,
        };
        let axes: Vec<usize> = match inputs.get(3) {
            Some(v) => int_list(v, "axes")?.into_iter().map(|a| norm_axis(a, rank)).collect::<Result<_, _>>()?,
            None => (0..rank).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return Err(value_err(format!("pads has {} values: it needs 2 per padded axis ({})", pads.len(), 2 * axes.len())));
        }
        let (mut begin, mut end) = (vec![0i64; rank], vec![0i64; rank]);
        for (k, &a) in axes.iter().enumerate() {
            begin[a] = pads[k];
            end[a] = pads[k + axes.len()];
        }
        let shape = x.shape();
        let mut out_shape = Vec::with_capacity(rank);
        for d in 0..rank {
            let n = shape[d] as i64 + begin[d] + end[d];
            if n < 0 {
                return Err(value_err(format!("pads {} and {} remove more than axis {d}'s {} elements", begin[d], end[d], shape[d])));
            }
            if self.mode != PadMode::Constant && shape[d] == 0 && n > 0 {
                return Err(value_err(format!("cannot {:?}-pad axis {d}, which is empty", self.mode).to_lowercase()));
            }
            // `try_from`, not `as`: on wasm32 a length past 2^32 would wrap to a small one.
            out_shape.push(usize::try_from(n).map_err(|_| shape_err(format!("the padded axis {d} of {n} elements is too large")))?);
        }
        let n = checked_len(&out_shape, x.dtype()).ok_or_else(|| shape_err(format!("the padded shape {out_shape:?} is too large")))?;
        // Per axis, each output coordinate's input coordinate (or None: the fill value).
        let sources: Vec<Vec<Option<usize>>> =
            (0..rank).map(|d| (0..out_shape[d] as i64).map(|i| pad_source(self.mode, i, begin[d], shape[d] as i64)).collect()).collect();
        let in_strides = strides(shape);
        let fill = match (self.pads.is_some(), inputs.get(2)) {
            (false, Some(v)) => {
                if v.dtype() != x.dtype() || v.len() != 1 {
                    return Err(dtype_err(format!("constant_value must be one {} value, not {} {}", x.dtype(), v.len(), v.dtype())));
                }
                v.data().clone()
            }
            _ => from_f64(x.dtype(), vec![1], vec![self.value as f64])?.into_data(),
        };
        let sentinel = x.len();
        let data = joined(x.data(), &fill)?;
        let mut order = Vec::with_capacity(n);
        // A row of the last axis at a time: its sources are one table, offset by the row's start
        // (an element-by-element walk over every axis had cost silero's 832-sample reflect pad
        // 20 µs).
        let last = rank.saturating_sub(1);
        let row: &[Option<usize>] = sources.get(last).map_or(&[None], |v| v.as_slice());
        for_each_index(&out_shape[..last], |idx| {
            let mut start = Some(0);
            for d in 0..last {
                start = start.zip(sources[d][idx[d]]).map(|(at, s)| at + s * in_strides[d]);
            }
            match (start, rank) {
                (_, 0) => order.push(0),
                (Some(at), _) => order.extend(row.iter().map(|s| s.map_or(sentinel, |s| at + s))),
                (None, _) => order.extend(core::iter::repeat(sentinel).take(row.len())),
            }
        });
        let picked = take(&data, &order);
        Ok(vec![Value::with_dtype(x.dtype(), out_shape, picked)])
    }
}

// ------------------------------------------------------------------- DepthToSpace/SpaceToDepth

/// DepthToSpace (`mode` DCR or CRD) and SpaceToDepth on NCHW tensors.
#[derive(Debug)]
pub struct BlockRearrange {
    pub to_space: bool,
    pub block: usize,
    /// DepthToSpace's CRD mode (column, row, depth); DCR otherwise.
    pub crd: bool,
}

fn blocksize(a: &Attrs) -> Result<usize, OpError> {
    match a.int_opt("blocksize")? {
        Some(b) if b > 0 => Ok(b as usize),
        Some(b) => Err(attr_err("blocksize", format!("must be positive, not {b}"))),
        None => Err(attr_err("blocksize", "is required")),
    }
}

pub fn build_depth_to_space(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["blocksize", "mode"])?;
    Ok(Arc::new(BlockRearrange { to_space: true, block: blocksize(a)?, crd: block_mode(a)? }))
}

/// DCR or CRD (SpaceToDepth's `mode` is newer than its opset 13 definition; DCR is its
/// only behaviour before).
fn block_mode(a: &Attrs) -> Result<bool, OpError> {
    match a.string("mode")?.as_deref().unwrap_or("DCR") {
        "DCR" => Ok(false),
        "CRD" => Ok(true),
        other => Err(attr_err("mode", format!("must be DCR or CRD, not '{other}'"))),
    }
}

pub fn build_space_to_depth(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["blocksize", "mode"])?;
    Ok(Arc::new(BlockRearrange { to_space: false, block: blocksize(a)?, crd: block_mode(a)? }))
}

impl Op for BlockRearrange {
    fn op_type(&self) -> &'static str {
        if self.to_space {
            "DepthToSpace"
        } else {
            "SpaceToDepth"
        }
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        expect_rank(x, 0, 4)?;
        let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let b = self.block;
        let idx = |n_: usize, c_: usize, h_: usize, w_: usize| ((n_ * c + c_) * h + h_) * w + w_;
        let mut order = Vec::with_capacity(x.len());
        let out_shape;
        if self.to_space {
            if c % (b * b) != 0 {
                return Err(shape_err(format!("{c} channels do not divide into blocks of {b}×{b}")));
            }
            let oc = c / (b * b);
            out_shape = vec![n, oc, h * b, w * b];
            for_each_index(&out_shape, |i| {
                let (bh, bw) = (i[2] % b, i[3] % b);
                // DCR reads channel (bh·b + bw)·C' + c; CRD reads c·b² + bh·b + bw.
                let ch = if self.crd { i[1] * b * b + bh * b + bw } else { (bh * b + bw) * oc + i[1] };
                order.push(idx(i[0], ch, i[2] / b, i[3] / b));
            });
        } else {
            if h % b != 0 || w % b != 0 {
                return Err(shape_err(format!("height {h} and width {w} must be multiples of the block size {b}")));
            }
            out_shape = vec![n, c * b * b, h / b, w / b];
            for_each_index(&out_shape, |i| {
                // DCR writes channel (bh·b + bw)·C + c; CRD writes c·b² + bh·b + bw.
                let (blk, ch) = if self.crd { (i[1] % (b * b), i[1] / (b * b)) } else { (i[1] / c, i[1] % c) };
                order.push(idx(i[0], ch, i[2] * b + blk / b, i[3] * b + blk % b));
            });
        }
        let data = take(x.data(), &order);
        Ok(vec![Value::with_dtype(x.dtype(), out_shape, data)])
    }
}

// ------------------------------------------------------------------ GatherElements/GatherND

/// An index along an axis of size `dim`, negative counting from the end.
fn index_in(i: i64, dim: usize, what: &str) -> Result<usize, OpError> {
    let d = dim as i64;
    if i < -d || i >= d {
        return Err(value_err(format!("{what} {i} is out of range for a dimension of {dim}")));
    }
    Ok(if i < 0 { (i + d) as usize } else { i as usize })
}

#[derive(Debug)]
pub struct GatherElements {
    pub axis: i64,
}

pub fn build_gather_elements(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis"])?;
    Ok(Arc::new(GatherElements { axis: a.int("axis", 0)? }))
}

impl Op for GatherElements {
    fn op_type(&self) -> &'static str {
        "GatherElements"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (x, indices) = (inputs.req(0)?, inputs.req(1)?);
        let rank = x.rank();
        if indices.rank() != rank {
            return Err(OpError::Rank { input: 1, expected: format!("{rank} (the data's)"), got: indices.rank() });
        }
        let axis = norm_axis(self.axis, rank)?;
        let ids = int_list(indices, "indices")?;
        let st = strides(x.shape());
        let mut order = Vec::with_capacity(ids.len());
        let mut bad = None;
        let mut k = 0;
        for_each_index(indices.shape(), |i| {
            let mut at = 0;
            for d in 0..rank {
                if d == axis {
                    match index_in(ids[k], x.shape()[d], "index") {
                        Ok(j) => at += j * st[d],
                        Err(e) => bad = Some(e),
                    }
                } else if i[d] >= x.shape()[d] {
                    bad = Some(shape_err(format!("indices {:?} exceed the data {:?} on axis {d}", indices.shape(), x.shape())));
                } else {
                    at += i[d] * st[d];
                }
            }
            order.push(at);
            k += 1;
        });
        if let Some(e) = bad {
            return Err(e);
        }
        let data = take(x.data(), &order);
        Ok(vec![Value::with_dtype(x.dtype(), indices.shape().to_vec(), data)])
    }
}

/// The element offsets into `data` that `indices` (last dimension: a partial index) select,
/// each the start of a slice of `slice_len` elements, with `batch_dims` leading dimensions
/// shared (GatherND's and ScatterND's addressing): `(offsets, slice_len, tuple count)`.
fn nd_offsets(data: &[usize], indices: &Value, batch_dims: usize) -> Result<(Vec<usize>, usize), OpError> {
    let ishape = indices.shape();
    let q = ishape.len();
    if q == 0 {
        return Err(OpError::Rank { input: 1, expected: "at least 1".into(), got: 0 });
    }
    let m = ishape[q - 1];
    if batch_dims >= q || batch_dims + m > data.len() {
        return Err(shape_err(format!("indices {ishape:?} cannot index data {data:?} with batch_dims {batch_dims}")));
    }
    if ishape[..batch_dims] != data[..batch_dims] {
        return Err(shape_err(format!("the batch dimensions of indices {ishape:?} and data {data:?} differ")));
    }
    let ids = int_list(indices, "indices")?;
    let st = strides(data);
    let slice_len: usize = data[batch_dims + m..].iter().product();
    let batch: usize = data[..batch_dims].iter().product();
    let tuples: usize = ishape[..q - 1].iter().product();
    let per_batch = tuples.checked_div(batch).unwrap_or(0);
    let batch_stride: usize = if batch_dims == 0 { 0 } else { st[batch_dims - 1] };
    let mut offsets = Vec::with_capacity(tuples);
    for t in 0..tuples {
        let b = t.checked_div(per_batch).unwrap_or(0);
        let mut at = b * batch_stride;
        for k in 0..m {
            let d = batch_dims + k;
            at += index_in(ids[t * m + k], data[d], "index")? * st[d];
        }
        offsets.push(at);
    }
    Ok((offsets, slice_len))
}

#[derive(Debug)]
pub struct GatherNd {
    pub batch_dims: usize,
}

pub fn build_gather_nd(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["batch_dims"])?;
    let b = a.int("batch_dims", 0)?;
    if b < 0 {
        return Err(attr_err("batch_dims", format!("must not be negative, not {b}")));
    }
    Ok(Arc::new(GatherNd { batch_dims: b as usize }))
}

impl Op for GatherNd {
    fn op_type(&self) -> &'static str {
        "GatherND"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (x, indices) = (inputs.req(0)?, inputs.req(1)?);
        let (offsets, slice_len) = nd_offsets(x.shape(), indices, self.batch_dims)?;
        let ishape = indices.shape();
        let m = ishape[ishape.len() - 1];
        let mut out_shape = ishape[..ishape.len() - 1].to_vec();
        out_shape.extend_from_slice(&x.shape()[self.batch_dims + m..]);
        let order: Vec<usize> = offsets.iter().flat_map(|&o| o..o + slice_len).collect();
        let data = take(x.data(), &order);
        Ok(vec![Value::with_dtype(x.dtype(), out_shape, data)])
    }
}

// ------------------------------------------------------------------------------- ScatterND

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScatterReduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

/// ScatterND: a copy of the data with the update slices written at the indexed places, or
/// combined with what is there (`reduction`, opset 16/18). Later updates win for duplicate
/// indices with `none` (the spec leaves that order undefined; the reference writes in order).
#[derive(Debug)]
pub struct ScatterNd {
    pub reduction: ScatterReduction,
}

pub fn build_scatter_nd(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["reduction"])?;
    let reduction = match a.string("reduction")?.as_deref().unwrap_or("none") {
        "none" => ScatterReduction::None,
        "add" => ScatterReduction::Add,
        "mul" => ScatterReduction::Mul,
        "max" => ScatterReduction::Max,
        "min" => ScatterReduction::Min,
        other => return Err(attr_err("reduction", format!("must be none, add, mul, max or min, not '{other}'"))),
    };
    Ok(Arc::new(ScatterNd { reduction }))
}

impl Op for ScatterNd {
    fn op_type(&self) -> &'static str {
        "ScatterND"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (x, indices, updates) = (inputs.req(0)?, inputs.req(1)?, inputs.req(2)?);
        let (offsets, slice_len) = nd_offsets(x.shape(), indices, 0)?;
        if updates.len() != offsets.len() * slice_len {
            return Err(shape_err(format!(
                "updates {:?} do not match indices {:?} into data {:?}",
                updates.shape(),
                indices.shape(),
                x.shape()
            )));
        }
        if updates.dtype() != x.dtype() {
            return Err(dtype_err(format!("updates are {} but the data is {}", updates.dtype(), x.dtype())));
        }
        if self.reduction == ScatterReduction::None {
            let n = x.len();
            let mut order: Vec<usize> = (0..n).collect();
            for (t, &o) in offsets.iter().enumerate() {
                for j in 0..slice_len {
                    order[o + j] = n + t * slice_len + j;
                }
            }
            let data = take(&joined(x.data(), updates.data())?, &order);
            return Ok(vec![Value::with_dtype(x.dtype(), x.shape().to_vec(), data)]);
        }
        let mut out = numbers(x, "the data")?;
        let up = numbers(updates, "updates")?;
        for (t, &o) in offsets.iter().enumerate() {
            for j in 0..slice_len {
                let (a, u) = (&mut out[o + j], up[t * slice_len + j]);
                *a = match self.reduction {
                    ScatterReduction::Add => *a + u,
                    ScatterReduction::Mul => *a * u,
                    ScatterReduction::Max => a.max(u),
                    ScatterReduction::Min => a.min(u),
                    ScatterReduction::None => u,
                };
            }
        }
        Ok(vec![from_f64(x.dtype(), x.shape().to_vec(), out)?])
    }
}

// --------------------------------------------------------------------------------- NonZero

/// NonZero: the indices of the non-zero elements, int64 `[rank, count]`, in row-major order
/// (numpy's `nonzero`; a scalar gives `[0, count]`: no index rows).
#[derive(Debug)]
pub struct NonZero;

pub fn build_non_zero(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(NonZero))
}

impl Op for NonZero {
    fn op_type(&self) -> &'static str {
        "NonZero"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let values = if x.dtype() == crate::value::DType::Bool { x.to_f64_vec() } else { numbers(x, "X")? };
        let shape = x.shape();
        let rank = shape.len();
        let mut rows: Vec<Vec<i64>> = vec![Vec::new(); rank];
        let mut k = 0;
        for_each_index(shape, |idx| {
            if values[k] != 0.0 {
                for (row, &i) in rows.iter_mut().zip(idx) {
                    row.push(i as i64);
                }
            }
            k += 1;
        });
        // A scalar has no index rows; its count is 1 or 0 all the same.
        let count = if rank == 0 { usize::from(values.first().is_some_and(|&v| v != 0.0)) } else { rows[0].len() };
        Ok(vec![Value::i64(vec![rank, count], rows.concat())])
    }
}

/// OneHot: a new axis of `depth` entries, `values[1]` (on) where it equals the index and
/// `values[0]` (off) elsewhere, in `values`' dtype (`onnx/defs/tensor/defs.cc`). As the spec says
/// (and ONNX Runtime does), a negative index counts from the end and an index outside
/// `[-depth, depth - 1]` gives a row of `off` (the reference evaluator wraps it with `mod`
/// instead); a fractional depth or index is truncated toward zero, as ONNX Runtime casts it.
#[derive(Debug)]
pub struct OneHot {
    axis: i64,
}

pub fn build_one_hot(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis"])?;
    Ok(Arc::new(OneHot { axis: a.int("axis", -1)? }))
}

impl Op for OneHot {
    fn op_type(&self) -> &'static str {
        "OneHot"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let indices = inputs.req(0)?;
        let depth = numbers(inputs.req(1)?, "depth")?;
        let values = inputs.req(2)?;
        if depth.len() != 1 {
            return Err(shape_err(format!("depth must hold one value, not {}", depth.len())));
        }
        if values.len() != 2 {
            return Err(shape_err(format!("values must be [off, on], not {} elements", values.len())));
        }
        let depth = depth[0].trunc();
        if !(depth >= 1.0 && depth <= (1u64 << 31) as f64) {
            return Err(value_err(format!("depth must be a positive count, not {depth}")));
        }
        let depth = depth as usize;
        let idx = numbers(indices, "indices")?;
        let shape = indices.shape();
        let axis = norm_axis(self.axis, shape.len() + 1)?;
        let inner: usize = shape[axis..].iter().product();
        let mut out_shape = shape.to_vec();
        out_shape.insert(axis, depth);
        let len =
            checked_len(&out_shape, values.dtype()).ok_or_else(|| shape_err(format!("an output of shape {out_shape:?} is too large")))?;
        // Which of [off, on] each output element takes.
        let hot: Vec<Option<usize>> = idx
            .iter()
            .map(|&i| {
                let i = i.trunc();
                let i = if i < 0.0 { i + depth as f64 } else { i };
                (i >= 0.0 && i < depth as f64).then_some(i as usize)
            })
            .collect();
        // f32 (every float model's case): `off` everywhere, then `on` at each hot position, one
        // write per index instead of a pick per element (magika: 3072 × 257 outputs, 1 hot in 257).
        if let Some(&[off, on]) = values.as_f32() {
            let mut out = vec![off; len];
            let outer: usize = shape[..axis].iter().product();
            for o in 0..outer {
                for k in 0..inner {
                    if let Some(d) = hot[o * inner + k] {
                        out[(o * depth + d) * inner + k] = on;
                    }
                }
            }
            return Ok(vec![Value::f32(out_shape, out)]);
        }
        let data = values.data().pick(len, |start, block| {
            // (o, d, k) of the block's first element, then carried along: three divisions per
            // element had been magika's whole OneHot time (3072 × 257 outputs).
            let (o, rest) = (start / (depth * inner), start % (depth * inner));
            let (mut o, mut d, mut k) = (o, rest / inner, rest % inner);
            for slot in block.iter_mut() {
                *slot = usize::from(hot[o * inner + k] == Some(d));
                k += 1;
                if k == inner {
                    k = 0;
                    d += 1;
                    if d == depth {
                        d = 0;
                        o += 1;
                    }
                }
            }
        });
        Ok(vec![Value::with_dtype(values.dtype(), out_shape, data)])
    }
}

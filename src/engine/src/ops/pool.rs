//! MaxPool (with its optional Indices output), AveragePool and GlobalAveragePool, over any
//! number of spatial axes, with the window geometry of Conv (auto_pad, pads, strides,
//! dilations, ceil_mode).
//!
//! AveragePool divides by the taps inside the input (`count_include_pad=0`) or inside the
//! padded input (`count_include_pad=1`); taps that `ceil_mode` pushes past the end padding
//! never count, as in PyTorch and the ONNX reference.

use super::window::{Geometry, WindowAttrs};
use crate::attr::Attrs;
use crate::op::{attr_err, dtype_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Data, Value};
use half::f16;
use std::sync::Arc;

fn check_input(v: &Value) -> Result<(), OpError> {
    if v.rank() < 3 {
        return Err(OpError::Rank { input: 0, expected: "at least 3 ([N, C, spatial...])".into(), got: v.rank() });
    }
    Ok(())
}

fn window(a: &Attrs, known: &[&str]) -> Result<WindowAttrs, OpError> {
    a.only(known)?;
    let w = WindowAttrs::parse(a)?;
    if w.kernel_shape.is_none() {
        return Err(attr_err("kernel_shape", "is required"));
    }
    Ok(w)
}

/// The windows of one channel, the same for every channel: for output position `o`, the
/// in-input offsets (row-major within the channel) of its taps are
/// `offsets[starts[o]..starts[o + 1]]`, and `padded[o]` counts its taps inside the padded input
/// (for count_include_pad). Built once per run, so the per-channel loops only index (a table
/// per window position and tap, rebuilt for every channel, made ppocr_cls's one MaxPool half of
/// its run time).
struct Windows {
    starts: Vec<usize>,
    offsets: Vec<usize>,
    padded: Vec<usize>,
}

impl Windows {
    fn new(geo: &Geometry) -> Windows {
        let r = geo.input.len();
        let in_strides = crate::op::strides(&geo.input);
        let (kc, oc) = (geo.kernel_count(), geo.out_count());
        let mut oidx = vec![0usize; r];
        let mut kidx = vec![0usize; r];
        let mut w = Windows { starts: Vec::with_capacity(oc + 1), offsets: Vec::with_capacity(oc * kc), padded: Vec::with_capacity(oc) };
        for o in 0..oc {
            let mut rem = o;
            for d in (0..r).rev() {
                oidx[d] = rem % geo.out[d];
                rem /= geo.out[d];
            }
            w.starts.push(w.offsets.len());
            let mut padded_taps = 0;
            for k in 0..kc {
                let mut rem = k;
                for d in (0..r).rev() {
                    kidx[d] = rem % geo.kernel[d];
                    rem /= geo.kernel[d];
                }
                let mut inside = true;
                let mut in_padded = true;
                let mut off = 0;
                for d in 0..r {
                    let pos = (oidx[d] * geo.strides[d] + kidx[d] * geo.dilations[d]) as i64 - geo.pad_begin[d] as i64;
                    if pos < -(geo.pad_begin[d] as i64) || pos >= (geo.input[d] + geo.pad_end[d]) as i64 {
                        in_padded = false;
                    }
                    if pos < 0 || pos >= geo.input[d] as i64 {
                        inside = false;
                    } else {
                        off += pos as usize * in_strides[d];
                    }
                }
                padded_taps += in_padded as usize;
                if inside {
                    w.offsets.push(off);
                }
            }
            w.padded.push(padded_taps);
        }
        w.starts.push(w.offsets.len());
        w
    }

    fn taps(&self, o: usize) -> &[usize] {
        &self.offsets[self.starts[o]..self.starts[o + 1]]
    }
}

// -------------------------------------------------------------------------------- MaxPool

#[derive(Debug)]
pub struct MaxPool {
    pub window: WindowAttrs,
    /// 0: Indices count row-major; 1: column-major over the spatial axes.
    pub storage_order: i64,
}

pub fn build_maxpool(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    let window = window(a, &["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"])?;
    Ok(Arc::new(MaxPool { window, storage_order: a.int("storage_order", 0)? }))
}

/// Max over each window of each channel; also the flat input index of each maximum.
fn maxpool<T: Copy + PartialOrd>(x: &[T], channels: usize, geo: &Geometry, storage_order: i64, lowest: T) -> (Vec<T>, Vec<i64>) {
    let (ic, oc) = (geo.in_count(), geo.out_count());
    let r = geo.input.len();
    // Column-major spatial strides for storage_order=1.
    let mut col_strides = vec![1usize; r];
    for d in 1..r {
        col_strides[d] = col_strides[d - 1] * geo.input[d - 1];
    }
    let row_strides = crate::op::strides(&geo.input);
    let mut out = vec![lowest; channels * oc];
    let mut idx = vec![0i64; channels * oc];
    if r == 2 && storage_order == 0 {
        maxpool_2d(x, channels, geo, &mut out, &mut idx);
        return (out, idx);
    }
    let windows = Windows::new(geo);
    for ch in 0..channels {
        let xc = &x[ch * ic..(ch + 1) * ic];
        for o in 0..oc {
            let mut best: Option<(T, usize)> = None;
            for &off in windows.taps(o) {
                let v = xc[off];
                if best.as_ref().map_or(true, |b| v > b.0) {
                    best = Some((v, off));
                }
            }
            if let Some((v, off)) = best {
                out[ch * oc + o] = v;
                let local = if storage_order == 0 {
                    off
                } else {
                    // The row-major offset's coordinates, counted column-major.
                    (0..r).map(|d| off / row_strides[d] % geo.input[d] * col_strides[d]).sum()
                };
                idx[ch * oc + o] = (ch * ic + local) as i64;
            }
        }
    }
    (out, idx)
}

/// [`maxpool`] in 2-D with row-major indices, straight from the geometry: the same taps in the
/// same order (kernel rows, then columns, those inside the input), the first taken and then
/// each strictly greater one, so the same values and indices — without the window table
/// `Windows::new` builds per run (with a division per tap), which had been most of ppocr_cls's
/// one MaxPool (7 % of its int8 run).
fn maxpool_2d<T: Copy + PartialOrd>(x: &[T], channels: usize, geo: &Geometry, out: &mut [T], idx: &mut [i64]) {
    let (h, w) = (geo.input[0], geo.input[1]);
    let (oh, ow) = (geo.out[0], geo.out[1]);
    let (ic, oc) = (h * w, oh * ow);
    // Per output column, the input columns its window covers (inside the input).
    let cols: Vec<(usize, usize)> = (0..ow).map(|ox| taps_inside(geo, 1, ox)).collect();
    if geo.kernel[0] > 1 && geo.kernel[1] > 1 && geo.kernel[0] * geo.kernel[1] >= 9 {
        return maxpool_2d_separable(x, channels, geo, &cols, out, idx);
    }
    for ch in 0..channels {
        let xc = &x[ch * ic..(ch + 1) * ic];
        for oy in 0..oh {
            let (y0, ny) = taps_inside(geo, 0, oy);
            for (ox, &(x0, nx)) in cols.iter().enumerate() {
                let mut best: Option<(T, usize)> = None;
                for ky in 0..ny {
                    let row = (y0 + ky * geo.dilations[0]) * w;
                    for kx in 0..nx {
                        let off = row + x0 + kx * geo.dilations[1];
                        let v = xc[off];
                        if best.as_ref().map_or(true, |b| v > b.0) {
                            best = Some((v, off));
                        }
                    }
                }
                if let Some((v, off)) = best {
                    out[ch * oc + oy * ow + ox] = v;
                    idx[ch * oc + oy * ow + ox] = (ch * ic + off) as i64;
                }
            }
        }
    }
}

/// [`maxpool_2d`] for a window of 9 taps or more, one axis at a time: per input row, the max of
/// each output column's taps (kx), then per output, the max of those row maxima over its rows
/// (ky) — ny + nx comparisons instead of ny·nx (a YOLO neck's 13 × 13 MaxPool: 169 per output).
/// The same value and index as the scan over the whole window, which takes its first tap and
/// then each strictly greater one: that is the first occurrence (row-major) of the largest
/// non-NaN tap, or NaN when the first tap is NaN. So the rows skip NaN (a row whose first tap
/// is NaN must not hide its other taps), and the window's own first tap decides NaN.
fn maxpool_2d_separable<T: Copy + PartialOrd>(
    x: &[T],
    channels: usize,
    geo: &Geometry,
    cols: &[(usize, usize)],
    out: &mut [T],
    idx: &mut [i64],
) {
    let (h, w) = (geo.input[0], geo.input[1]);
    let (oh, ow) = (geo.out[0], geo.out[1]);
    let (ic, oc) = (h * w, oh * ow);
    if ic == 0 {
        return; // every window empty: the outputs keep their start values
    }
    let is_nan = |v: T| v.partial_cmp(&v).is_none();
    // v replaces best: greater, or best is NaN and v is not.
    let better = |v: T, best: T| v > best || (is_nan(best) && !is_nan(v));
    let rows: Vec<(usize, usize)> = (0..oh).map(|oy| taps_inside(geo, 0, oy)).collect();
    let mut row_best: Vec<(T, usize)> = Vec::with_capacity(h * ow);
    for ch in 0..channels {
        let xc = &x[ch * ic..(ch + 1) * ic];
        row_best.clear();
        for y in 0..h {
            for &(x0, nx) in cols {
                let first = y * w + x0;
                // (A row with no tap inside, nx = 0, is never read.)
                let mut best = (xc[first.min(ic - 1)], first);
                for kx in 1..nx {
                    let off = first + kx * geo.dilations[1];
                    if better(xc[off], best.0) {
                        best = (xc[off], off);
                    }
                }
                row_best.push(best);
            }
        }
        for (oy, &(y0, ny)) in rows.iter().enumerate() {
            for (ox, &(x0, nx)) in cols.iter().enumerate() {
                if ny == 0 || nx == 0 {
                    continue;
                }
                let first = y0 * w + x0;
                let mut best = if is_nan(xc[first]) { (xc[first], first) } else { row_best[y0 * ow + ox] };
                if !is_nan(best.0) {
                    for ky in 1..ny {
                        let cand = row_best[(y0 + ky * geo.dilations[0]) * ow + ox];
                        if cand.0 > best.0 {
                            best = cand;
                        }
                    }
                }
                out[ch * oc + oy * ow + ox] = best.0;
                idx[ch * oc + oy * ow + ox] = (ch * ic + best.1) as i64;
            }
        }
    }
}

/// Along axis `d`, the window of output `o`: its first input coordinate inside the input and
/// how many taps (every `dilation`) lie inside.
fn taps_inside(geo: &Geometry, d: usize, o: usize) -> (usize, usize) {
    let inside: Vec<usize> = (0..geo.kernel[d]).filter_map(|k| geo.coord(d, k, o)).collect();
    (inside.first().copied().unwrap_or(0), inside.len())
}

fn widen<T>(v: &[T], f: impl Fn(&T) -> f32) -> Vec<f32> {
    v.iter().map(f).collect()
}

impl Op for MaxPool {
    fn op_type(&self) -> &'static str {
        "MaxPool"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        check_input(x)?;
        let geo = self.window.geometry(&x.shape()[2..], self.window.kernel_shape.as_ref().expect("checked at build"))?;
        let channels = x.shape()[0] * x.shape()[1];
        let mut shape = x.shape()[..2].to_vec();
        shape.extend_from_slice(&geo.out);
        let so = self.storage_order;
        let (data, idx) = match x.data() {
            Data::F32(v) if x.dtype() == DType::F32 => {
                let (o, i) = maxpool(v, channels, &geo, so, f32::NEG_INFINITY);
                (Data::F32(o), i)
            }
            Data::F64(v) => {
                let (o, i) = maxpool(v, channels, &geo, so, f64::NEG_INFINITY);
                (Data::F64(o), i)
            }
            // float16 and the 8-bit ints run in f32 and go back exactly: every one of their
            // values is an f32, and the max picks an element (NaN never wins), so there is no
            // loop per dtype. The empty-window start, −∞, converts to each type's lowest value.
            Data::F16(v) => {
                let (o, i) = maxpool(&widen(v, |e| e.to_f32()), channels, &geo, so, f32::NEG_INFINITY);
                (Data::F16(o.into_iter().map(f16::from_f32).collect()), i)
            }
            Data::U8(v) if x.dtype() == DType::U8 => {
                let (o, i) = maxpool(&widen(v, |&e| e as f32), channels, &geo, so, f32::NEG_INFINITY);
                (Data::U8(o.into_iter().map(|e| e as u8).collect()), i)
            }
            Data::I8(v) if x.dtype() == DType::I8 => {
                let (o, i) = maxpool(&widen(v, |&e| e as f32), channels, &geo, so, f32::NEG_INFINITY);
                (Data::I8(o.into_iter().map(|e| e as i8).collect()), i)
            }
            _ => return Err(dtype_err(format!("MaxPool does not accept {}", x.dtype()))),
        };
        let idx_shape = shape.clone();
        Ok(vec![Value::new(shape, data), Value::i64(idx_shape, idx)])
    }
}

// ---------------------------------------------------------------------------- AveragePool

#[derive(Debug)]
pub struct AveragePool {
    pub window: WindowAttrs,
    pub count_include_pad: bool,
}

pub fn build_averagepool(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    let window = window(a, &["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"])?;
    Ok(Arc::new(AveragePool { window, count_include_pad: a.int("count_include_pad", 0)? != 0 }))
}

fn widen_f32(x: &Value, op: &str) -> Result<Vec<f32>, OpError> {
    match x.data() {
        Data::F32(v) if x.dtype() == DType::F32 => Ok(v.clone()),
        Data::F16(v) => Ok(v.iter().map(|e| e.to_f32()).collect()),
        Data::F64(v) => Ok(v.iter().map(|&e| e as f32).collect()),
        _ => Err(dtype_err(format!("{op} does not accept {}", x.dtype()))),
    }
}

fn narrow_like(x: &Value, y: Vec<f32>) -> Data {
    match x.dtype() {
        DType::F16 => Data::F16(y.into_iter().map(f16::from_f32).collect()),
        DType::F64 => Data::F64(y.into_iter().map(f64::from).collect()),
        _ => Data::F32(y),
    }
}

impl Op for AveragePool {
    fn op_type(&self) -> &'static str {
        "AveragePool"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        check_input(x)?;
        let xs = widen_f32(x, "AveragePool")?;
        let geo = self.window.geometry(&x.shape()[2..], self.window.kernel_shape.as_ref().expect("checked at build"))?;
        let channels = x.shape()[0] * x.shape()[1];
        let (ic, oc) = (geo.in_count(), geo.out_count());
        let mut y = vec![0.0f32; channels * oc];
        let windows = Windows::new(&geo);
        for ch in 0..channels {
            let xc = &xs[ch * ic..(ch + 1) * ic];
            for o in 0..oc {
                let taps = windows.taps(o);
                let sum = taps.iter().fold(0.0f32, |s, &off| s + xc[off]);
                let div = if self.count_include_pad { windows.padded[o] } else { taps.len() };
                y[ch * oc + o] = if div == 0 { 0.0 } else { sum / div as f32 };
            }
        }
        let mut shape = x.shape()[..2].to_vec();
        shape.extend_from_slice(&geo.out);
        Ok(vec![Value::new(shape, narrow_like(x, y))])
    }
}

// ---------------------------------------------------------------------- GlobalAveragePool

#[derive(Debug)]
pub struct GlobalAveragePool;

pub fn build_global_averagepool(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(GlobalAveragePool))
}

impl Op for GlobalAveragePool {
    fn op_type(&self) -> &'static str {
        "GlobalAveragePool"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        check_input(x)?;
        let xs = widen_f32(x, "GlobalAveragePool")?;
        let inner: usize = x.shape()[2..].iter().product();
        let channels = x.shape()[0] * x.shape()[1];
        let y: Vec<f32> = (0..channels)
            .map(|c| if inner == 0 { 0.0 } else { xs[c * inner..(c + 1) * inner].iter().sum::<f32>() / inner as f32 })
            .collect();
        let mut shape = x.shape()[..2].to_vec();
        shape.extend(std::iter::repeat(1).take(x.rank() - 2));
        Ok(vec![Value::new(shape, narrow_like(x, y))])
    }
}

#[cfg(test)]
mod tests {
    use super::{maxpool_2d, taps_inside};
    use crate::ops::window::{AutoPad, WindowAttrs};

    /// The separable 2-D MaxPool (windows of 9 taps or more) gives the value and index of a scan
    /// over each whole window (first tap, then each strictly greater one): NaN as a window's
    /// first tap and elsewhere, rows that start with NaN, all-NaN rows, ±0 and repeated values
    /// (ties keep the first), strides, dilations, padding wider than the reach, empty windows.
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn separable_maxpool_equals_the_window_scan() {
        for (input, kernel, strides, dilations, pads) in [
            ([13, 13], [13, 13], [1, 1], [1, 1], [6, 6, 6, 6]),
            ([9, 11], [5, 5], [1, 1], [1, 1], [2, 2, 2, 2]),
            ([10, 7], [3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
            ([12, 12], [3, 4], [1, 3], [2, 1], [0, 2, 3, 1]),
            ([5, 6], [3, 3], [1, 1], [1, 1], [4, 4, 4, 4]),
        ] {
            let attrs = WindowAttrs {
                auto_pad: AutoPad::NotSet,
                kernel_shape: None,
                strides: Some(strides.iter().map(|&v| v as i64).collect()),
                dilations: Some(dilations.iter().map(|&v| v as i64).collect()),
                pads: Some(pads.iter().map(|&v| v as i64).collect()),
                ceil_mode: false,
            };
            let geo = attrs.geometry(&input, &kernel).unwrap();
            let (ic, oc, channels) = (input[0] * input[1], geo.out_count(), 3);
            let x: Vec<f32> = (0..channels * ic)
                .map(|i| match (i * 7919) % 23 {
                    0 => f32::NAN,
                    1 => -0.0,
                    2 => 0.0,
                    v => (v % 5) as f32 - 2.0,
                })
                .collect();
            let (mut out, mut idx) = (vec![f32::NEG_INFINITY; channels * oc], vec![0i64; channels * oc]);
            maxpool_2d(&x, channels, &geo, &mut out, &mut idx);
            for ch in 0..channels {
                for o in 0..oc {
                    let (oy, ox) = (o / geo.out[1], o % geo.out[1]);
                    let ((y0, ny), (x0, nx)) = (taps_inside(&geo, 0, oy), taps_inside(&geo, 1, ox));
                    let mut best: Option<(f32, usize)> = None;
                    for ky in 0..ny {
                        for kx in 0..nx {
                            let off = (y0 + ky * dilations[0]) * input[1] + x0 + kx * dilations[1];
                            let v = x[ch * ic + off];
                            if best.map_or(true, |b| v > b.0) {
                                best = Some((v, off));
                            }
                        }
                    }
                    let (want, want_idx) = best.map_or((f32::NEG_INFINITY, 0), |(v, off)| (v, (ch * ic + off) as i64));
                    let at = ch * oc + o;
                    assert!(
                        out[at].to_bits() == want.to_bits() && idx[at] == want_idx,
                        "{input:?} {kernel:?} {strides:?} {dilations:?} {pads:?} ch {ch} out {o}: {} at {} vs {want} at {want_idx}",
                        out[at],
                        idx[at]
                    );
                }
            }
        }
    }
}

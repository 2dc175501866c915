//! Conv, ConvInteger and QLinearConv over any number of spatial axes, as a GEMM: for each image
//! and group the output is `W_g (M/g × C/g·∏k) · patches`, the patches a `C/g·∏k × ∏out`
//! matrix. In 1-D and 2-D the patches are written straight into the GEMM's panels
//! (`quantscope_gemm::gemm_f32_panels_packed`, `matmul_integer_panels_packed`: no im2col matrix;
//! constant weights packed once, [`PackedConvF32`]), or below 8 output positions the product
//! runs transposed (`few_positions`); in 3-D by im2col (`gemm_f32`, `matmul_integer`); a 2-D
//! depthwise convolution runs directly; a float 2-D 3×3 stride-1 one with 8 or more channels
//! per group by Winograd's F(2×2, 3×3) (`winograd.rs`, within rounding of the sum). Padding
//! positions hold 0 for float and the input's zero point for the integer ops, so they
//! contribute nothing.
//!
//! The window geometry (auto_pad, pads, strides, dilations, ceil_mode; `window.rs`) is shared
//! with pooling.

use crate::attr::Attrs;
use crate::op::{attr_err, dtype_err, scales, shape_err, zero_points, BuildCtx, Fused, Inputs, Op, OpError, PlanView};
use crate::ops::conv_fuse::conv_chain;
pub use crate::ops::conv_fuse::Epilogue;
use crate::ops::depthwise_f32::DepthwiseF32;
use crate::ops::depthwise_int::DepthwiseInt;
pub use crate::ops::window::{AutoPad, Geometry, WindowAttrs};
use crate::ops::winograd;
use crate::value::{DType, Data, Value};
use quantscope_gemm::{Int8, PackedF32A, PackedF32B, PackedI8A, PackedI8B};
use std::sync::{Arc, OnceLock};

/// Conv-family attributes: the window plus `group`.
#[derive(Debug, Clone)]
pub struct ConvAttrs {
    pub window: WindowAttrs,
    pub group: usize,
}

impl ConvAttrs {
    fn parse(a: &Attrs) -> Result<Self, OpError> {
        a.only(&["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])?;
        let group = a.int("group", 1)?;
        if group < 1 {
            return Err(attr_err("group", format!("is {group}: it must be at least 1")));
        }
        Ok(ConvAttrs { window: WindowAttrs::parse(a)?, group: group as usize })
    }

    /// Checks X `[N, C, ...]` against W `[M, C/group, k...]`; returns (N, C, M, geometry).
    pub fn plan(&self, x: &[usize], w: &[usize]) -> Result<(usize, usize, usize, Geometry), OpError> {
        if x.len() < 3 {
            return Err(OpError::Rank { input: 0, expected: "at least 3 ([N, C, spatial...])".into(), got: x.len() });
        }
        if w.len() != x.len() {
            return Err(OpError::Rank { input: 1, expected: x.len().to_string(), got: w.len() });
        }
        let (n, c, m) = (x[0], x[1], w[0]);
        let g = self.group;
        if c % g != 0 || m % g != 0 || w[1] * g != c {
            return Err(shape_err(format!(
                "X has {c} channels and W is {w:?}: with group {g}, W's dim 1 must be C/group and M divisible by group"
            )));
        }
        if let Some(k) = &self.window.kernel_shape {
            if k.as_slice() != &w[2..] {
                return Err(shape_err(format!("kernel_shape {k:?} disagrees with W's spatial dims {:?}", &w[2..])));
            }
        }
        let geo = self.window.geometry(&x[2..], &w[2..])?;
        Ok((n, c, m, geo))
    }
}

/// `Conv` (float32).
pub struct Conv {
    pub attrs: ConvAttrs,
    /// Its [`Op::quant_fuser`], given by the op table (ops/mod.rs), which names the int8 Conv's
    /// fusion (ops::quantized) so that this file does not.
    quant_fuser: crate::op::QuantFuser,
}

impl std::fmt::Debug for Conv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conv").field("attrs", &self.attrs).finish_non_exhaustive()
    }
}

/// A float Conv whose int8 form `Model::quantize` makes fuses as `quant_fuser` says.
#[allow(private_interfaces)]
pub fn build_conv(a: &Attrs, quant_fuser: crate::op::QuantFuser) -> Result<Arc<dyn Op>, OpError> {
    let attrs = ConvAttrs::parse(a)?;
    if attrs.window.ceil_mode {
        return Err(OpError::Unsupported("ceil_mode on Conv".into()));
    }
    Ok(Arc::new(Conv { attrs, quant_fuser }))
}

/// The taps of one channel of a 2-D depthwise convolution, a kernel row at a time so that the
/// inner loop runs over contiguous outputs: `f(tap, iy, out, first)` for each kernel tap
/// `ky·kw + kx` and output row, where outputs `out` (a range of `y`) read input row `iy` from
/// column `first` in steps of the stride; taps outside the input (padding) are skipped.
fn depthwise_taps(geo: &Geometry, mut f: impl FnMut(usize, usize, std::ops::Range<usize>, usize)) {
    let (kh, kw) = (geo.kernel[0], geo.kernel[1]);
    let (oh, ow) = (geo.out[0], geo.out[1]);
    let width = geo.input[1];
    let (sx, dx, px) = (geo.strides[1], geo.dilations[1], geo.pad_begin[1]);
    for kx in 0..kw {
        // The output columns whose tap kx lands inside the input: ix = ox·sx + kx·dx − px.
        let shift = kx * dx;
        let lo = px.saturating_sub(shift).div_ceil(sx);
        let hi = (width + px).saturating_sub(shift).div_ceil(sx).min(ow);
        if lo >= hi {
            continue;
        }
        for ky in 0..kh {
            for oy in 0..oh {
                if let Some(iy) = geo.coord(0, ky, oy) {
                    f(ky * kw + kx, iy, oy * ow + lo..oy * ow + hi, lo * sx + shift - px);
                }
            }
        }
    }
}

/// One channel of a 2-D depthwise convolution: `y[oy, ox] += Σ w[ky, kx] · x[iy, ix]`, one tap
/// at a time over the output rows: where [`DepthwiseF32`] does not apply (a weight that is not
/// finite), and the order of the sums it keeps.
fn depthwise_2d(geo: &Geometry, x: &[f32], w: &[f32], y: &mut [f32]) {
    let (width, sx) = (geo.input[1], geo.strides[1]);
    depthwise_taps(geo, |tap, iy, out, first| {
        let (wv, row) = (w[tap], &x[iy * width..(iy + 1) * width]);
        let out = &mut y[out];
        if sx == 1 {
            let len = out.len();
            for (o, &v) in out.iter_mut().zip(&row[first..first + len]) {
                *o += wv * v;
            }
        } else {
            for (j, o) in out.iter_mut().enumerate() {
                *o += wv * row[first + j * sx];
            }
        }
    });
}

/// A 1-D or 2-D window geometry seen as 2-D (a 1-D one is a single row), for
/// [`Plane::fill_panel`].
struct Plane {
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    sy: usize,
    sx: usize,
    dy: usize,
    dx: usize,
    py: usize,
    px: usize,
    ow: usize,
    identity: bool,
}

impl Plane {
    fn of(geo: &Geometry) -> Option<Plane> {
        // (y, x) of a per-axis list: a 1-D geometry is one row (y of size 1, no padding).
        let yx = |v: &[usize], one: usize| match v.len() {
            1 => Some((one, v[0])),
            2 => Some((v[0], v[1])),
            _ => None,
        };
        let ((h, w), (kh, kw)) = (yx(&geo.input, 1)?, yx(&geo.kernel, 1)?);
        let ((sy, sx), (dy, dx), (py, px)) = (yx(&geo.strides, 1)?, yx(&geo.dilations, 1)?, yx(&geo.pad_begin, 0)?);
        let ow = yx(&geo.out, 1)?.1;
        Some(Plane { h, w, kh, kw, sy, sx, dy, dx, py, px, ow, identity: geo.is_identity() })
    }

    /// Writes columns `o0..o0+cols` (output positions, row-major) of the im2col matrix of
    /// `channels` channels of `x` (rows `(c·kh + ky)·kw + kx`, `pad` for a tap in the padding: 0
    /// for float, the input's zero point for the integer ops) as a GEMM panel: `panel[8·row + j]`. Eight positions in one output row read, for stride 1,
    /// eight neighbours of one input row: one copy; the rest go element by element.
    fn fill_panel<T: Copy>(&self, x: &[T], channels: usize, o0: usize, cols: usize, pad: T, panel: &mut [T]) {
        let ic = self.h * self.w;
        if self.identity {
            for c in 0..channels {
                copy_cols(&mut panel[8 * c..8 * c + cols], &x[c * ic + o0..]);
            }
            return;
        }
        let (oy0, ox0) = (o0 / self.ow, o0 % self.ow);
        let one_row = ox0 + cols <= self.ow;
        for c in 0..channels {
            let xc = &x[c * ic..(c + 1) * ic];
            for ky in 0..self.kh {
                for kx in 0..self.kw {
                    let row = &mut panel[8 * ((c * self.kh + ky) * self.kw + kx)..][..cols];
                    if one_row {
                        let iy = (oy0 * self.sy + ky * self.dy).wrapping_sub(self.py);
                        if iy >= self.h {
                            match <&mut [T; 8]>::try_from(&mut *row) {
                                Ok(row) => *row = [pad; 8],
                                Err(_) => row.fill(pad),
                            }
                            continue;
                        }
                        let src = &xc[iy * self.w..(iy + 1) * self.w];
                        let ix0 = (ox0 * self.sx + kx * self.dx).wrapping_sub(self.px);
                        if self.sx == 1 && ix0 < self.w && ix0 + cols <= self.w {
                            copy_cols(row, &src[ix0..]);
                        } else {
                            for (j, v) in row.iter_mut().enumerate() {
                                let ix = ((ox0 + j) * self.sx + kx * self.dx).wrapping_sub(self.px);
                                *v = if ix < self.w { src[ix] } else { pad };
                            }
                        }
                    } else {
                        for (j, v) in row.iter_mut().enumerate() {
                            let (oy, ox) = ((o0 + j) / self.ow, (o0 + j) % self.ow);
                            let iy = (oy * self.sy + ky * self.dy).wrapping_sub(self.py);
                            let ix = (ox * self.sx + kx * self.dx).wrapping_sub(self.px);
                            *v = if iy < self.h && ix < self.w { xc[iy * self.w + ix] } else { pad };
                        }
                    }
                }
            }
        }
    }
}

/// `dst` from the start of `src`: a whole panel row (8 values) as one fixed-size copy, which
/// LLVM turns into loads and stores. A copy of a length known only at run time is a `memcpy`,
/// on wasm a `memory.copy` that V8 runs as a call out of the module: for 8 bytes it had cost
/// more than the int8 GEMM's arithmetic on them (ppocr_cls's 1×1 Convs).
#[inline(always)]
fn copy_cols<T: Copy>(dst: &mut [T], src: &[T]) {
    match (<&mut [T; 8]>::try_from(&mut *dst), src.get(..8).map(<&[T; 8]>::try_from)) {
        (Ok(d), Some(Ok(s))) => *d = *s,
        _ => dst.copy_from_slice(&src[..dst.len()]),
    }
}

/// Output positions below which a 1-D or 2-D convolution runs as `Yᵀ = Pᵀ·Wᵀ` (see
/// [`few_positions`]) rather than `Y = W·P` over panels of eight positions.
const FEW_POSITIONS: usize = 8;

/// A float Conv's constant weights packed for the GEMM once, per group, on the first run that
/// needs each form (the output's length, known only then, decides): W_g as the panel path's A
/// ([`PackedF32A`]: `gemm_f32_panels` had packed it on every call), W_gᵀ as
/// [`few_positions`]' B. Held by the run plan's [`FusedConv`].
#[derive(Debug, Default)]
pub struct PackedConvF32 {
    rows: OnceLock<Vec<PackedF32A>>,
    cols: OnceLock<Vec<PackedF32B>>,
    /// Per group, the 16 Winograd-transformed weight matrices (`winograd.rs`), or none when a
    /// weight is not finite.
    winograd: OnceLock<Vec<Vec<PackedF32A>>>,
}

/// The integer counterpart of [`PackedConvF32`] (zero points included), held by the int8
/// variants' QuantConv.
#[derive(Debug, Default)]
pub struct PackedConvI8 {
    rows: OnceLock<Vec<PackedI8A>>,
    cols: OnceLock<Vec<PackedI8B>>,
}

/// `make()`, or the value `cache` holds (made by `make` the first time).
fn cached<'a, T>(cache: Option<&'a OnceLock<T>>, local: &'a mut Option<T>, make: impl FnOnce() -> T) -> &'a T {
    match cache {
        Some(cache) => cache.get_or_init(make),
        None => local.insert(make()),
    }
}

/// W_g (`mg` rows of `kk`) transposed: `kk` rows of `mg`.
fn transposed<T: Copy + Default>(wg: &[T], mg: usize, kk: usize) -> Vec<T> {
    let mut wt = vec![T::default(); kk * mg];
    for (i, row) in wg.chunks_exact(kk.max(1)).take(mg).enumerate() {
        for (l, &v) in row.iter().enumerate() {
            wt[l * mg + i] = v;
        }
    }
    wt
}

/// The patches of a group's `oc` output positions as the rows of Pᵀ (`oc × kk`, a row per
/// position), through the panel writer ([`Plane::fill_panel`]), eight positions at a time.
fn patch_rows<T: Copy + Default>(plane: &Plane, xg: &[T], cg: usize, oc: usize, kk: usize, pad: T) -> Vec<T> {
    let mut panel = vec![pad; 8 * kk];
    let mut rows = vec![T::default(); oc * kk];
    for p0 in (0..oc).step_by(8) {
        let cols = 8.min(oc - p0);
        plane.fill_panel(xg, cg, p0, cols, pad, &mut panel);
        for (l, lanes) in panel.chunks_exact(8).enumerate() {
            for (j, &v) in lanes[..cols].iter().enumerate() {
                rows[(p0 + j) * kk + l] = v;
            }
        }
    }
    rows
}

/// A convolution with few output positions (`oc` < [`FEW_POSITIONS`]: silero's 1-D Convs over
/// 1 to 5 positions, the squeeze-excitation blocks of MobileNetV3 and PP-LCNet after a global
/// pool), `Y = W·P` computed as `Yᵀ = Pᵀ·Wᵀ`: the GEMM's rows are the positions and its
/// 8-column panels the output channels, where `W·P` would leave 8 − oc of each panel's columns
/// idle, and W_gᵀ (`wt`) is packed once. The same products summed in the same order as `W·P`
/// (bit for bit). The idle columns had cost more than the arithmetic where weights are
/// subnormal, which x64 multiplies by a microcode assist per instruction: ppocr_rec's four
/// squeeze-excitation Convs, a fifth of whose weights are, took 3.0 ms, then 0.8.
#[allow(clippy::too_many_arguments)]
fn few_positions(plane: &Plane, xg: &[f32], cg: usize, oc: usize, wt: &PackedF32B, bg: Option<&[f32]>, epilogue: Epilogue, yg: &mut [f32]) {
    let (kk, mg) = (wt.k(), wt.n());
    let pt = patch_rows(plane, xg, cg, oc, kk, 0.0);
    let mut yt = vec![0.0f32; oc * mg];
    quantscope_gemm::gemm_f32_packed(oc, &pt, wt, &mut yt);
    for (ch, row) in yg.chunks_exact_mut(oc).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = yt[j * mg + ch];
        }
        if let Some(bg) = bg {
            row.iter_mut().for_each(|v| *v += bg[ch]);
        }
        epilogue.apply(row);
    }
}

/// Float convolution: `y[n, m, ...] = Σ w · x + b[m]`.
pub fn conv_f32(attrs: &ConvAttrs, x: &Value, w: &Value, b: Option<&Value>) -> Result<Value, OpError> {
    conv_f32_then(attrs, x, w, b, Epilogue::NONE, None)
}

/// [`conv_f32`], then `epilogue` on the output (on each block of columns while in cache, on the
/// GEMM path). `packed`: W's packed forms, kept from one run to the next (W is constant).
pub fn conv_f32_then(
    attrs: &ConvAttrs,
    x: &Value,
    w: &Value,
    b: Option<&Value>,
    epilogue: Epilogue,
    packed: Option<&PackedConvF32>,
) -> Result<Value, OpError> {
    let xs = crate::op::f32_input(x, "X")?;
    let ws = crate::op::f32_input(w, "W")?;
    let (n, c, m, geo) = attrs.plan(x.shape(), w.shape())?;
    let g = attrs.group;
    let (cg, mg) = (c / g, m / g);
    let (kk, oc, ic) = (cg * geo.kernel_count(), geo.out_count(), geo.in_count());
    let bias = match b {
        Some(b) => {
            let bs = crate::op::f32_input(b, "B")?;
            if bs.len() != m {
                return Err(shape_err(format!("B has {} elements but W has {m} output channels", bs.len())));
            }
            Some(bs)
        }
        None => None,
    };
    let mut y = vec![0.0f32; n * m * oc];
    let identity = geo.is_identity();
    // Depthwise (one input and one output channel per group) in 2-D: a direct loop, where
    // im2col and a one-row GEMM per channel would cost more than the arithmetic.
    let depthwise = cg == 1 && mg == 1 && geo.input.len() == 2 && !identity;
    // 1-D and 2-D: patches written straight into the GEMM's panels (no im2col matrix).
    let plane = if depthwise { None } else { Plane::of(&geo) };
    let mut cols = if identity || depthwise || plane.is_some() { Vec::new() } else { vec![0.0f32; kk * oc] };
    let mut direct = depthwise.then(|| DepthwiseF32::new(&geo));
    // W packed (per group): as A of the panel path, or Wᵀ for few output positions.
    let few = plane.is_some() && oc < FEW_POSITIONS && kk > 0;
    let (mut rows_here, mut cols_here, mut wino_here) = (None, None, None);
    let w_group = |grp: usize| &ws[grp * mg * kk..(grp + 1) * mg * kk];
    // 3×3, stride 1: Winograd F(2×2, 3×3) where every weight is finite (winograd.rs).
    let wino: &[Vec<PackedF32A>] = match plane.is_some() && !few && winograd::fits(&geo, cg, mg) {
        true => cached::<Vec<Vec<PackedF32A>>>(packed.map(|p| &p.winograd), &mut wino_here, || {
            (0..g).map(|grp| winograd::pack_weights(w_group(grp), mg, cg)).collect()
        }),
        false => &[],
    };
    let all_wino = !wino.is_empty() && wino.iter().all(|u| !u.is_empty());
    let wino_plane = (!wino.is_empty()).then(|| winograd::Plane2 {
        h: geo.input[0],
        w: geo.input[1],
        py: geo.pad_begin[0],
        px: geo.pad_begin[1],
        oh: geo.out[0],
        ow: geo.out[1],
    });
    let w_rows: &[PackedF32A] = match plane.is_some() && !few && !all_wino {
        true => cached::<Vec<PackedF32A>>(packed.map(|p| &p.rows), &mut rows_here, || {
            (0..g).map(|grp| PackedF32A::new(mg, kk, w_group(grp))).collect()
        }),
        false => &[],
    };
    let w_cols: &[PackedF32B] = match few {
        true => cached::<Vec<PackedF32B>>(packed.map(|p| &p.cols), &mut cols_here, || {
            (0..g).map(|grp| PackedF32B::new(kk, mg, &transposed(w_group(grp), mg, kk))).collect()
        }),
        false => &[],
    };
    for img in 0..n {
        if let Some(direct) = &mut direct {
            for ch in 0..c {
                let xc = &xs[(img * c + ch) * ic..(img * c + ch + 1) * ic];
                let yc = &mut y[(img * m + ch) * oc..(img * m + ch + 1) * oc];
                let wc = &ws[ch * kk..(ch + 1) * kk];
                if !direct.channel(xc, wc, yc) {
                    depthwise_2d(&geo, xc, wc, yc);
                }
            }
        }
        for grp in (0..g).filter(|_| !depthwise) {
            let xg = &xs[(img * c + grp * cg) * ic..(img * c + (grp + 1) * cg) * ic];
            if let Some(plane) = &plane {
                let yg = &mut y[(img * m + grp * mg) * oc..(img * m + (grp + 1) * mg) * oc];
                let bg = bias.map(|b| &b[grp * mg..(grp + 1) * mg]);
                if few {
                    few_positions(plane, xg, cg, oc, &w_cols[grp], bg, epilogue, yg);
                    continue;
                }
                if let Some(wp) = &wino_plane {
                    if !wino[grp].is_empty() && winograd::conv(wp, xg, cg, &wino[grp], bg, epilogue, yg) {
                        continue;
                    }
                }
                // An input value that is not finite after all: the weights packed for this call.
                let packed_here;
                let w_rows_g = match w_rows.get(grp) {
                    Some(a) => a,
                    None => {
                        packed_here = PackedF32A::new(mg, kk, w_group(grp));
                        &packed_here
                    }
                };
                quantscope_gemm::gemm_f32_panels_packed(
                    w_rows_g,
                    oc,
                    |p, cols, panel| plane.fill_panel(xg, cg, p * quantscope_gemm::NR, cols, 0.0, panel),
                    |yg, j0, cols| {
                        for (ch, row) in yg.chunks_mut(oc).enumerate() {
                            let row = &mut row[j0..j0 + cols];
                            if let Some(bg) = bg {
                                row.iter_mut().for_each(|v| *v += bg[ch]);
                            }
                            epilogue.apply(row);
                        }
                    },
                    yg,
                );
                continue;
            }
            let patches: &[f32] = if identity {
                xg
            } else {
                geo.im2col(xg, cg, 0.0, &mut cols);
                &cols
            };
            let wg = &ws[grp * mg * kk..(grp + 1) * mg * kk];
            let yg = &mut y[(img * m + grp * mg) * oc..(img * m + (grp + 1) * mg) * oc];
            quantscope_gemm::gemm_f32(mg, kk, oc, wg, patches, yg);
        }
        if plane.is_none() {
            for (ch, row) in y[img * m * oc..(img + 1) * m * oc].chunks_mut(oc.max(1)).enumerate() {
                if let Some(bs) = bias {
                    row.iter_mut().for_each(|v| *v += bs[ch]);
                }
                epilogue.apply(row);
            }
        }
    }
    let mut shape = vec![n, m];
    shape.extend_from_slice(&geo.out);
    Ok(Value::f32(shape, y))
}

impl Op for Conv {
    fn widens_half(&self) -> bool {
        true
    }

    fn op_type(&self) -> &'static str {
        "Conv"
    }
    #[allow(private_interfaces)]
    fn fuse_chain(&self, plan: &dyn PlanView, at: usize) -> Option<Fused> {
        let (w, b, epilogue, inputs, output, absorbed) = conv_chain(plan, at)?;
        let op = FusedConv { attrs: self.attrs.clone(), w, b, epilogue, alone: absorbed.is_empty(), packed: PackedConvF32::default() };
        Some(Fused { op: Arc::new(op), inputs, output, absorbed })
    }
    #[allow(private_interfaces)]
    fn quant_fuser(&self) -> Option<crate::op::QuantFuser> {
        Some(self.quant_fuser)
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        Ok(vec![conv_f32(&self.attrs, inputs.req(0)?, inputs.req(1)?, inputs.get(2))?])
    }
}

/// A float Conv with its weights (and bias) held, maybe a BatchNormalization folded into them,
/// and an [`Epilogue`]: what `crate::fuse` puts in the run plan for Conv → [BatchNormalization]
/// → [Relu | Clip | Sigmoid·Mul], and for a Conv with constant weights that nothing after it
/// joins (`alone`: then it keeps its op type, "Conv"). Its one input is X; its weights are
/// packed for the GEMM on its first run and kept.
#[derive(Debug)]
pub struct FusedConv {
    pub attrs: ConvAttrs,
    pub w: Value,
    pub b: Option<Value>,
    pub epilogue: Epilogue,
    pub alone: bool,
    pub packed: PackedConvF32,
}

impl Op for FusedConv {
    fn op_type(&self) -> &'static str {
        if self.alone {
            "Conv"
        } else {
            "FusedConv"
        }
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        Ok(vec![conv_f32_then(&self.attrs, inputs.req(0)?, &self.w, self.b.as_ref(), self.epilogue, Some(&self.packed))?])
    }
}

// --------------------------------------------------------------------- integer convolution

/// The int32 accumulators of a quantized convolution: `Σ (x − x_zp)(w − w_zp[m])`. `packed`:
/// W's packed forms, kept from one run to the next (W and its zero points are constant).
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_integer_acc<X: Int8, W: Int8>(
    attrs: &ConvAttrs,
    x: &[X],
    xshape: &[usize],
    x_zp: X,
    w: &[W],
    wshape: &[usize],
    w_zp: &[i32],
    packed: Option<&PackedConvI8>,
) -> Result<(Vec<i32>, Vec<usize>), OpError> {
    use quantscope_gemm::int8_bytes;
    let kernels = IntKernels::<X, W>(core::marker::PhantomData);
    conv_integer_bytes(attrs, &kernels, int8_bytes(x), xshape, x_zp.to_i32(), int8_bytes(w), wshape, w_zp, packed)
}

/// The kernels of one (X, W) type pair of an integer convolution, over their bytes: behind this
/// vtable [`conv_integer_bytes`] is compiled once, and a module links only the pairs it uses.
trait IntConvKernels {
    /// The inputs' and the weights' signedness.
    fn x_signed(&self) -> bool;
    fn w_signed(&self) -> bool;
    /// W (m×k) minus its zero points packed as the panel path's A.
    fn pack_rows(&self, m: usize, k: usize, w: &[u8], w_zp: &[i32]) -> PackedI8A;
    /// W (k×m here, transposed) minus its zero points (one per column) packed as a B.
    fn pack_cols(&self, k: usize, m: usize, wt: &[u8], w_zp: &[i32]) -> PackedI8B;
    /// `quantscope_gemm::matmul_integer` of W (m×k) and an im2col matrix (k×n).
    #[allow(clippy::too_many_arguments)]
    fn gemm(&self, m: usize, k: usize, n: usize, w: &[u8], w_zp: &[i32], cols: &[u8], x_zp: i32, y: &mut [i32]);
}

struct IntKernels<X, W>(core::marker::PhantomData<(X, W)>);

impl<X: Int8, W: Int8> IntConvKernels for IntKernels<X, W> {
    fn x_signed(&self) -> bool {
        X::SIGNED
    }
    fn w_signed(&self) -> bool {
        W::SIGNED
    }
    fn pack_rows(&self, m: usize, k: usize, w: &[u8], w_zp: &[i32]) -> PackedI8A {
        PackedI8A::new(m, k, quantscope_gemm::int8_from_bytes::<W>(w), w_zp)
    }
    fn pack_cols(&self, k: usize, m: usize, wt: &[u8], w_zp: &[i32]) -> PackedI8B {
        PackedI8B::new(k, m, quantscope_gemm::int8_from_bytes::<W>(wt), w_zp)
    }
    fn gemm(&self, m: usize, k: usize, n: usize, w: &[u8], w_zp: &[i32], cols: &[u8], x_zp: i32, y: &mut [i32]) {
        use quantscope_gemm::int8_from_bytes as typed;
        quantscope_gemm::matmul_integer::<W, X>(m, k, n, typed(w), w_zp, typed(cols), &[x_zp], y)
    }
}

/// [`conv_integer_acc`] over bytes, its type-dependent kernels behind `kernels`.
#[allow(clippy::too_many_arguments)]
fn conv_integer_bytes(
    attrs: &ConvAttrs,
    kernels: &dyn IntConvKernels,
    x: &[u8],
    xshape: &[usize],
    x_zp: i32,
    w: &[u8],
    wshape: &[usize],
    w_zp: &[i32],
    packed: Option<&PackedConvI8>,
) -> Result<(Vec<i32>, Vec<usize>), OpError> {
    let (n, c, m, geo) = attrs.plan(xshape, wshape)?;
    let g = attrs.group;
    let (cg, mg) = (c / g, m / g);
    let (kk, oc, ic) = (cg * geo.kernel_count(), geo.out_count(), geo.in_count());
    let mut y = vec![0i32; n * m * oc];
    // Depthwise in 2-D: direct (`DepthwiseInt`; integer sums: the same result in any order).
    let depthwise = cg == 1 && mg == 1 && geo.input.len() == 2;
    // 1-D and 2-D: patches written straight into the integer GEMM's panels, as conv_f32 does.
    let plane = if depthwise { None } else { Plane::of(&geo) };
    let x_pad = x_zp as u8; // the zero point's byte: a padding tap adds 0
    let mut cols = if depthwise || plane.is_some() { Vec::new() } else { vec![x_pad; kk * oc] };
    // Depthwise: each tap's weight minus its channel's zero point.
    let w_taps: Vec<i32> = if depthwise {
        let signed = kernels.w_signed();
        let value = |b: u8| if signed { b as i8 as i32 } else { b as i32 };
        w.iter().enumerate().map(|(i, &b)| value(b) - w_zp[if w_zp.len() == 1 { 0 } else { i / kk.max(1) }]).collect()
    } else {
        Vec::new()
    };
    let mut direct = depthwise.then(|| DepthwiseInt::new(&geo, &w_taps, c));
    // W packed (per group), as conv_f32 does: the panel path's A, or Wᵀ for few positions —
    // for u8 inputs (the int8 variants' activations; an i8 X takes the panels, which links
    // one integer GEMM driver fewer).
    let few = plane.is_some() && oc < FEW_POSITIONS && kk > 0 && !kernels.x_signed();
    let w_group = |grp: usize| &w[grp * mg * kk..(grp + 1) * mg * kk];
    let wz_group = |grp: usize| if w_zp.len() == 1 { w_zp } else { &w_zp[grp * mg..(grp + 1) * mg] };
    let (mut rows_here, mut cols_here) = (None, None);
    let w_rows: &[PackedI8A] = match plane.is_some() && !few {
        true => cached::<Vec<PackedI8A>>(packed.map(|p| &p.rows), &mut rows_here, || {
            (0..g).map(|grp| kernels.pack_rows(mg, kk, w_group(grp), wz_group(grp))).collect()
        }),
        false => &[],
    };
    let w_cols: &[PackedI8B] = match few {
        true => cached::<Vec<PackedI8B>>(packed.map(|p| &p.cols), &mut cols_here, || {
            (0..g).map(|grp| kernels.pack_cols(kk, mg, &transposed(w_group(grp), mg, kk), wz_group(grp))).collect()
        }),
        false => &[],
    };
    for img in 0..n {
        if let Some(direct) = direct.as_mut() {
            for ch in 0..c {
                let xc = &x[(img * c + ch) * ic..(img * c + ch + 1) * ic];
                let yc = &mut y[(img * m + ch) * oc..(img * m + ch + 1) * oc];
                direct.channel(ch, xc, kernels.x_signed(), x_zp, yc);
            }
        }
        for grp in (0..g).filter(|_| !depthwise) {
            let xg = &x[(img * c + grp * cg) * ic..(img * c + (grp + 1) * cg) * ic];
            let yg = &mut y[(img * m + grp * mg) * oc..(img * m + (grp + 1) * mg) * oc];
            if let Some(plane) = &plane {
                if few {
                    // Yᵀ = Pᵀ·Wᵀ (see few_positions), then Y.
                    let pt = patch_rows(plane, xg, cg, oc, kk, x_pad);
                    let mut yt = vec![0i32; oc * mg];
                    quantscope_gemm::matmul_integer_packed::<u8>(oc, &pt, &[x_zp], &w_cols[grp], &mut yt);
                    for (ch, row) in yg.chunks_exact_mut(oc).enumerate() {
                        row.iter_mut().enumerate().for_each(|(j, v)| *v = yt[j * mg + ch]);
                    }
                    continue;
                }
                let fill = |p, cols, panel: &mut [u8]| plane.fill_panel(xg, cg, p * quantscope_gemm::NR, cols, x_pad, panel);
                let b = (kernels.x_signed(), x_zp);
                quantscope_gemm::matmul_integer_panels_packed(&w_rows[grp], oc, b, fill, |_, _, _| {}, yg);
                continue;
            }
            geo.im2col(xg, cg, x_pad, &mut cols);
            kernels.gemm(mg, kk, oc, w_group(grp), wz_group(grp), &cols, x_zp, yg);
        }
    }
    let mut shape = vec![n, m];
    shape.extend_from_slice(&geo.out);
    Ok((y, shape))
}

/// Dispatches on the (X, W) integer dtypes: u8/i8 each.
fn conv_integer_any(
    attrs: &ConvAttrs,
    x: &Value,
    x_zp: Option<&Value>,
    w: &Value,
    w_zp: Option<&Value>,
) -> Result<(Vec<i32>, Vec<usize>), OpError> {
    let m = w.shape().first().copied().unwrap_or(0);
    let wz = zero_points(w_zp, Some(m), "w_zero_point", w.dtype())?;
    let xz = zero_points(x_zp, None, "x_zero_point", x.dtype())?[0];
    match (x.data(), w.data(), x.dtype(), w.dtype()) {
        (Data::U8(xs), Data::U8(ws), DType::U8, DType::U8) => conv_integer_acc(attrs, xs, x.shape(), xz as u8, ws, w.shape(), &wz, None),
        (Data::U8(xs), Data::I8(ws), DType::U8, DType::I8) => conv_integer_acc(attrs, xs, x.shape(), xz as u8, ws, w.shape(), &wz, None),
        (Data::I8(xs), Data::U8(ws), DType::I8, DType::U8) => conv_integer_acc(attrs, xs, x.shape(), xz as i8, ws, w.shape(), &wz, None),
        (Data::I8(xs), Data::I8(ws), DType::I8, DType::I8) => conv_integer_acc(attrs, xs, x.shape(), xz as i8, ws, w.shape(), &wz, None),
        _ => Err(dtype_err(format!("x and w must be uint8 or int8, not {} and {}", x.dtype(), w.dtype()))),
    }
}

/// `ConvInteger`: int32 output.
#[derive(Debug)]
pub struct ConvInteger {
    pub attrs: ConvAttrs,
}

pub fn build_conv_integer(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    Ok(Arc::new(ConvInteger { attrs: ConvAttrs::parse(a)? }))
}

impl Op for ConvInteger {
    fn op_type(&self) -> &'static str {
        "ConvInteger"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (acc, shape) = conv_integer_any(&self.attrs, inputs.req(0)?, inputs.get(2), inputs.req(1)?, inputs.get(3))?;
        Ok(vec![Value::i32(shape, acc)])
    }
}

/// `QLinearConv`: quantized in, quantized out.
#[derive(Debug)]
pub struct QLinearConv {
    pub attrs: ConvAttrs,
}

pub fn build_qlinear_conv(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    Ok(Arc::new(QLinearConv { attrs: ConvAttrs::parse(a)? }))
}

impl Op for QLinearConv {
    fn op_type(&self) -> &'static str {
        "QLinearConv"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (x, w) = (inputs.req(0)?, inputs.req(3)?);
        let m = w.shape().first().copied().unwrap_or(0);
        let x_scale = scales(inputs.req(1)?, None, "x_scale")?[0];
        let w_scale = scales(inputs.req(4)?, Some(m), "w_scale")?;
        let y_scale = scales(inputs.req(6)?, None, "y_scale")?[0];
        let y_zp_v = inputs.req(7)?;
        let (acc, shape) = conv_integer_any(&self.attrs, x, Some(inputs.req(2)?), w, Some(inputs.req(5)?))?;
        let bias = match inputs.get(8) {
            Some(b) => {
                let bs = b
                    .as_i32()
                    .filter(|_| b.dtype() == DType::I32)
                    .ok_or_else(|| dtype_err(format!("B must be int32, not {}", b.dtype())))?;
                if bs.len() != m {
                    return Err(shape_err(format!("B has {} elements but W has {m} output channels", bs.len())));
                }
                Some(bs)
            }
            None => None,
        };
        // ORT's multiplier: x_scale · w_scale[m] / y_scale, in f32.
        let mult: Vec<f32> = (0..m).map(|ch| x_scale * w_scale[if w_scale.len() == 1 { 0 } else { ch }] / y_scale).collect();
        let oc: usize = shape[2..].iter().product();
        let y_zp = zero_points(Some(y_zp_v), None, "y_zero_point", y_zp_v.dtype())?[0];
        let out_dtype = y_zp_v.dtype();
        let (qmin, qmax) = out_dtype
            .int_range()
            .filter(|_| matches!(out_dtype, DType::U8 | DType::I8))
            .ok_or_else(|| dtype_err(format!("y_zero_point must be uint8 or int8, not {out_dtype}")))?;
        let mut q = vec![0i32; acc.len()];
        for (i, (&a, out)) in acc.iter().zip(q.iter_mut()).enumerate() {
            let ch = (i / oc.max(1)) % m.max(1);
            let a = a.wrapping_add(bias.map_or(0, |b| b[ch]));
            *out = super::quant::requantize(a, mult[ch], y_zp, qmin as i32, qmax as i32);
        }
        let data = if out_dtype == DType::U8 {
            Data::U8(q.iter().map(|&v| v as u8).collect())
        } else {
            Data::I8(q.iter().map(|&v| v as i8).collect())
        };
        Ok(vec![Value::new(shape, data)])
    }
}

// --------------------------------------------------------------------------- ConvTranspose

/// ConvTranspose (the gradient of Conv with respect to its input): every input element
/// scatters `x · W[c, m, k]` to output position `p·stride + k·dilation − pad_begin`. Output
/// sizes follow the spec (`onnx/defs/nn/defs.cc`, "ConvTranspose"; reference:
/// `onnx/reference/ops/op_conv_transpose.py`): `stride·(in − 1) + output_padding +
/// (k − 1)·dilation + 1 − pads`, or from `output_shape`, whose total padding is split as
/// auto_pad says (SAME_UPPER puts the smaller half first, anything else the larger).
#[derive(Debug)]
pub struct ConvTranspose {
    pub auto_pad: AutoPad,
    pub group: usize,
    pub kernel_shape: Option<Vec<usize>>,
    pub strides: Option<Vec<i64>>,
    pub dilations: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
    pub output_padding: Option<Vec<i64>>,
    pub output_shape: Option<Vec<i64>>,
}

pub fn build_conv_transpose(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides"])?;
    let w = WindowAttrs::parse(a)?;
    let group = match a.int("group", 1)? {
        g if g >= 1 => g as usize,
        g => return Err(attr_err("group", format!("must be at least 1, not {g}"))),
    };
    if a.ints("output_padding")?.is_some_and(|p| p.iter().any(|&v| v < 0)) {
        return Err(attr_err("output_padding", "has a negative value"));
    }
    Ok(Arc::new(ConvTranspose {
        auto_pad: w.auto_pad,
        group,
        kernel_shape: w.kernel_shape,
        strides: w.strides,
        dilations: w.dilations,
        pads: w.pads,
        output_padding: a.ints("output_padding")?,
        output_shape: a.ints("output_shape")?,
    }))
}

impl Op for ConvTranspose {
    fn widens_half(&self) -> bool {
        true
    }

    fn op_type(&self) -> &'static str {
        "ConvTranspose"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (x, w) = (inputs.req(0)?, inputs.req(1)?);
        let (xs, ws) = (crate::op::f32_input(x, "X")?, crate::op::f32_input(w, "W")?);
        if x.rank() < 3 || w.rank() != x.rank() {
            return Err(OpError::Rank { input: 1, expected: format!("{} (the input's, at least 3)", x.rank()), got: w.rank() });
        }
        let r = x.rank() - 2;
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let input = &x.shape()[2..];
        let kernel = &w.shape()[2..];
        if self.kernel_shape.as_ref().is_some_and(|k| k != kernel) {
            return Err(shape_err(format!("kernel_shape {:?} disagrees with W {:?}", self.kernel_shape.as_ref().unwrap(), w.shape())));
        }
        let g = self.group;
        if w.shape()[0] != c || c % g != 0 {
            return Err(shape_err(format!("W {:?} does not fit X {:?} with group {g}", w.shape(), x.shape())));
        }
        let (cg, mg) = (c / g, w.shape()[1]);
        let m = mg * g;
        let per_axis = |name: &str, v: &Option<Vec<i64>>, default: i64, min: i64| -> Result<Vec<i64>, OpError> {
            match v {
                None => Ok(vec![default; r]),
                Some(v) if v.len() == r && v.iter().all(|&s| s >= min) => Ok(v.clone()),
                Some(v) => Err(attr_err(name, format!("is {v:?}: it needs {r} values, each at least {min}"))),
            }
        };
        let strides = per_axis("strides", &self.strides, 1, 1)?;
        let dilations = per_axis("dilations", &self.dilations, 1, 1)?;
        let output_padding = per_axis("output_padding", &self.output_padding, 0, 0)?;
        let (mut begin, mut out) = (vec![0i64; r], vec![0usize; r]);
        for i in 0..r {
            let span = (kernel[i] as i64 - 1) * dilations[i] + 1;
            let full = strides[i] * (input[i] as i64 - 1) + output_padding[i] + span;
            let wanted = match (&self.output_shape, self.auto_pad) {
                (Some(s), _) => Some(
                    *s.get(s.len().wrapping_sub(r) + i)
                        .ok_or_else(|| attr_err("output_shape", format!("{s:?} needs {r} spatial sizes")))?,
                ),
                (None, AutoPad::SameUpper | AutoPad::SameLower) => Some(input[i] as i64 * strides[i]),
                _ => None,
            };
            let (b, o) = match wanted {
                Some(o) => {
                    // Floor division, as the reference's `//` (the total is negative when
                    // output_shape asks for more than the kernel covers: the rest is zeros).
                    let total = full - o;
                    let half = total.div_euclid(2);
                    let b = if self.auto_pad == AutoPad::SameUpper { half } else { total - half };
                    (b, o)
                }
                None => {
                    let (b, e) = match (&self.pads, self.auto_pad) {
                        (Some(p), AutoPad::NotSet) if p.len() == 2 * r => (p[i], p[i + r]),
                        (Some(p), AutoPad::NotSet) => return Err(attr_err("pads", format!("is {p:?}: it needs {} values", 2 * r))),
                        _ => (0, 0),
                    };
                    (b, full - b - e)
                }
            };
            if o < 0 {
                return Err(shape_err(format!("spatial axis {i} would have {o} elements")));
            }
            begin[i] = b;
            out[i] = o as usize;
        }
        let bias = match inputs.get(2) {
            Some(b) => {
                let b = crate::op::f32_input(b, "B")?;
                if b.len() != m {
                    return Err(shape_err(format!("B has {} values for {m} output channels", b.len())));
                }
                b.to_vec()
            }
            None => vec![0.0; m],
        };
        let in_sp: usize = input.iter().product();
        let out_sp: usize = out.iter().product();
        let k_sp: usize = kernel.iter().product();
        let mut y = vec![0f32; n * m * out_sp];
        // Output offset of each (kernel position, input position) pair, or NOWHERE when it
        // falls in the padding: one table shared by every image and channel, a kernel
        // position's row contiguous as the scatter below reads it.
        const NOWHERE: u32 = u32::MAX;
        if out.iter().product::<usize>() >= NOWHERE as usize {
            return Err(shape_err(format!("the output's spatial size {out:?} is too large")));
        }
        let k_strides = crate::op::strides(kernel);
        let out_strides = crate::op::strides(&out);
        // The input position's coordinates counted up as p runs (an odometer), not divided out
        // of p for every entry: eight integer divisions per entry had been most of ppocr_det's
        // last ConvTranspose (24 → 1 channel over 80 × 112: 35,840 entries).
        let mut target = vec![NOWHERE; in_sp * k_sp];
        let mut pi = vec![0i64; r];
        for k in 0..k_sp {
            let shift: Vec<i64> = (0..r).map(|d| (k / k_strides[d] % kernel[d]) as i64 * dilations[d] - begin[d]).collect();
            pi.fill(0);
            for slot in &mut target[k * in_sp..(k + 1) * in_sp] {
                let mut at = 0usize;
                let mut inside = true;
                for d in 0..r {
                    let o = pi[d] * strides[d] + shift[d];
                    if o < 0 || o >= out[d] as i64 {
                        inside = false;
                        break;
                    }
                    at += o as usize * out_strides[d];
                }
                if inside {
                    *slot = at as u32;
                }
                for d in (0..r).rev() {
                    pi[d] += 1;
                    if pi[d] < input[d] as i64 {
                        break;
                    }
                    pi[d] = 0;
                }
            }
        }
        // Per image and group, every (output channel, tap) row of `Wᵀ · X` by the GEMM, then
        // each product scattered to its output position: a scalar loop over (input channel,
        // output channel, position, tap) was 15 % of ppocr_det's run.
        let rows = mg * k_sp;
        let mut wt = vec![0f32; rows * cg];
        let mut cols = vec![0f32; rows * in_sp];
        for gi in 0..g {
            for ci in 0..cg {
                let ch = gi * cg + ci;
                for r in 0..rows {
                    wt[r * cg + ci] = ws[ch * rows + r];
                }
            }
            for b in 0..n {
                let xg = &xs[(b * c + gi * cg) * in_sp..(b * c + (gi + 1) * cg) * in_sp];
                // X's rows written straight into the GEMM's panels, as a 1×1 Conv's are (no
                // packed copy of X: ppocr_det's last ConvTranspose multiplies 4 rows of Wᵀ by
                // 24 × 8960 of X, where packing X had cost more than the product).
                let fill = |p: usize, n: usize, panel: &mut [f32]| {
                    for ci in 0..cg {
                        copy_cols(&mut panel[8 * ci..8 * ci + n], &xg[ci * in_sp + p * quantscope_gemm::NR..]);
                    }
                };
                quantscope_gemm::gemm_f32_panels(rows, cg, in_sp, &wt, fill, |_, _, _| {}, &mut cols);
                for mi in 0..mg {
                    let yo = &mut y[(b * m + gi * mg + mi) * out_sp..(b * m + gi * mg + mi + 1) * out_sp];
                    for k in 0..k_sp {
                        let row = &cols[(mi * k_sp + k) * in_sp..(mi * k_sp + k + 1) * in_sp];
                        for (&at, &v) in target[k * in_sp..(k + 1) * in_sp].iter().zip(row) {
                            if at != NOWHERE {
                                yo[at as usize] += v;
                            }
                        }
                    }
                }
            }
        }
        for (ch, row) in y.chunks_mut(out_sp.max(1)).enumerate() {
            let b = bias[ch % m];
            row.iter_mut().for_each(|v| *v += b);
        }
        let mut shape = vec![n, m];
        shape.extend(&out);
        Ok(vec![Value::f32(shape, y)])
    }
}

#[cfg(test)]
mod tests {
    use super::{depthwise_2d, depthwise_taps, AutoPad, Geometry, WindowAttrs};
    use crate::ops::depthwise_f32::DepthwiseF32;
    use crate::ops::depthwise_int::DepthwiseInt;

    /// The depthwise kernels' test geometries, `(geometry, input, kernel, strides, dilations,
    /// pads)`: strides 1 to 3 (2 with dilation 1 reads the integer kernel's padded rows as its
    /// plane), dilations, padding wider than the kernel's reach, odd and even kernel widths, a
    /// 7×7 kernel (more tap pairs than one integer pass holds), outputs that are and are not a
    /// multiple of the 16-output block.
    #[allow(clippy::type_complexity)]
    fn geometries() -> Vec<(Geometry, [usize; 2], [usize; 2], [usize; 2], [usize; 2], [usize; 4])> {
        [
            ([9, 10], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            ([16, 17], [3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
            ([12, 23], [5, 5], [2, 3], [1, 2], [2, 0, 1, 3]),
            ([7, 8], [3, 3], [3, 2], [2, 1], [0, 2, 2, 0]),
            ([6, 5], [2, 2], [2, 2], [1, 1], [0, 0, 0, 0]),
            ([2, 96], [5, 5], [1, 1], [1, 1], [2, 2, 2, 2]),
            ([6, 96], [5, 5], [2, 1], [1, 1], [2, 2, 2, 2]),
            ([24, 96], [3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
            ([11, 37], [7, 7], [1, 1], [1, 1], [3, 3, 3, 3]),
            ([9, 40], [3, 4], [1, 2], [2, 2], [2, 3, 2, 1]),
            ([5, 33], [3, 3], [1, 1], [1, 1], [4, 6, 4, 5]),
            ([8, 50], [1, 3], [1, 4], [1, 3], [0, 1, 0, 2]),
        ]
        .into_iter()
        .map(|(input, kernel, strides, dilations, pads)| {
            let attrs = WindowAttrs {
                auto_pad: AutoPad::NotSet,
                kernel_shape: None,
                strides: Some(strides.iter().map(|&v| v as i64).collect()),
                dilations: Some(dilations.iter().map(|&v| v as i64).collect()),
                pads: Some(pads.iter().map(|&v| v as i64).collect()),
                ceil_mode: false,
            };
            (attrs.geometry(&input, &kernel).unwrap(), input, kernel, strides, dilations, pads)
        })
        .collect()
    }

    /// The float depthwise kernel (`depthwise_f32.rs`: taps over padded planes, sums in
    /// registers) equals the tap-at-a-time loop over output rows bit for bit, over three
    /// channels of one plan: inputs with ±0, ±∞ and NaN, weights with ±0; a channel with an
    /// infinite weight is refused (the loop then runs it).
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn depthwise_f32_equals_the_tap_loop() {
        for (geo, input, kernel, strides, dilations, pads) in geometries() {
            let (ic, kc, channels) = (input[0] * input[1], kernel[0] * kernel[1], 3);
            let special = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
            let x: Vec<f32> = (0..channels * ic)
                .map(|i| if i % 97 == 5 { special[i / 97 % 5] } else { ((i * 7919 % 2003) as f32 - 1001.0) / 317.0 })
                .collect();
            let w: Vec<f32> =
                (0..channels * kc).map(|i| if i % 7 == 3 { -0.0 } else { ((i * 104729 % 211) as f32 - 105.0) / 53.0 }).collect();
            let mut direct = DepthwiseF32::new(&geo);
            for ch in 0..channels {
                let (xc, wc) = (&x[ch * ic..(ch + 1) * ic], &w[ch * kc..(ch + 1) * kc]);
                let mut got = vec![5.0f32; geo.out_count()];
                assert!(direct.channel(xc, wc, &mut got));
                let mut want = vec![0.0f32; geo.out_count()];
                depthwise_2d(&geo, xc, wc, &mut want);
                let bits = |v: &[f32]| v.iter().map(|f| if f.is_nan() { u32::MAX } else { f.to_bits() }).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{input:?} {kernel:?} {strides:?} {dilations:?} {pads:?} channel {ch}");
            }
            let mut inf = w[..kc].to_vec();
            inf[kc / 2] = f32::INFINITY;
            let mut untouched = vec![5.0f32; geo.out_count()];
            assert!(!direct.channel(&x[..ic], &inf, &mut untouched));
            assert!(untouched.iter().all(|&v| v == 5.0));
        }
    }

    /// The integer depthwise kernel (`depthwise_int.rs`: tap pairs over planes) equals a strided
    /// loop that adds each tap's products in place (`row[first + j·stride]`), over three channels
    /// of one plan, for u8 and i8 inputs, over [`geometries`].
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn depthwise_int_equals_the_strided_loop() {
        for (geo, input, kernel, strides, dilations, pads) in geometries() {
            let (ic, kc, channels) = (input[0] * input[1], kernel[0] * kernel[1], 3);
            let x: Vec<u8> = (0..channels * ic).map(|i| if i % 13 == 0 { 255 } else { (i * 7919 % 256) as u8 }).collect();
            let w: Vec<i32> = (0..channels * kc).map(|i| if i % 11 == 0 { -255 } else { (i * 104729 % 511) as i32 - 255 }).collect();
            let plan = || DepthwiseInt::new(&geo, &w, channels);
            let mut direct = plan();
            for (signed, x_zp) in [(false, 131), (true, -17), (false, 0), (true, 127)] {
                for ch in 0..channels {
                    let xc = &x[ch * ic..(ch + 1) * ic];
                    let wc = &w[ch * kc..(ch + 1) * kc];
                    let mut got = vec![5i32; geo.out_count()];
                    direct.channel(ch, xc, signed, x_zp, &mut got);
                    let (width, sx) = (geo.input[1], geo.strides[1]);
                    let value = |b: u8| if signed { b as i8 as i32 } else { b as i32 } - x_zp;
                    let mut want = vec![5i32; geo.out_count()];
                    depthwise_taps(&geo, |tap, iy, out, first| {
                        let row = &xc[iy * width..(iy + 1) * width];
                        for (j, o) in want[out].iter_mut().enumerate() {
                            *o += wc[tap] * value(row[first + j * sx]);
                        }
                    });
                    assert!(want.iter().any(|&v| v != 5), "{input:?} {strides:?}: the case must compute something");
                    assert_eq!(got, want, "{input:?} {kernel:?} {strides:?} {dilations:?} {pads:?} signed {signed} channel {ch}");
                }
            }
        }
    }
}

//! Winograd's F(2×2, 3×3) for a float 2-D Conv with a 3×3 window, stride 1 and dilation 1
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015, §4.1): each 2×2
//! block of outputs ("tile") of each output channel is `Aᵀ [Σ_c U_c ⊙ V_c] A`, with the
//! weights transformed once, `U = G g Gᵀ` (4×4 per output and input channel), and the input's
//! 4×4 patch of each tile `V = Bᵀ d B`. For each of the 16 elements ξ of the 4×4 the sum over
//! input channels is a GEMM, `M_ξ = U_ξ (M×C) · V_ξ (C×tiles)`: 16·C·M multiplies per tile of
//! 4 outputs against 36·C·M by the patches (`conv.rs`), 2.25× fewer, plus the transforms.
//!
//! Not bit for bit the direct sum: the transforms add and subtract before multiplying. G's
//! entries are 0, ±½ and 1 and B's and A's 0 and ±1, so each transform only adds roundings
//! of the same size as the sum's own: on the real models against ONNX Runtime, see the
//! README's real-model speed section. Taken only where every weight and every input value is
//! finite (an infinity would meet its own negative in a transform and give NaN where the
//! direct sum gives ±∞); otherwise the caller runs the direct path.
//!
//! The tiles run in blocks of about [`TILE_BLOCK`] (whole tile rows), so that V and M of a
//! block (16·C and 16·M rows of it) stay in cache between the transforms and the 16 GEMMs.

use crate::ops::conv_fuse::Epilogue;
use quantscope_gemm::{PackedF32A, NR};

/// Tiles per block, about (whole tile rows): 128 against 64 ran nudenet's 64-channel 40×40
/// Convs 2.6 → 2.5 ms and ddddocr_det's 96-channel 26×26 ones 9.2 → 8.5 ms (CPU time in Node,
/// load 11: fewer GEMM calls, each panel of U_ξ met by more tiles).
const TILE_BLOCK: usize = 128;

/// Input and output channels (of a group) from which the transforms' cost, per input and per
/// output channel, is small beside the 16 GEMMs they save 2.25× on: ddddocr_det's 12 → 24
/// channel Conv over 208 × 208 ran 11.2 → 9.8 ms by Winograd, its 24-channel ones and nudenet's
/// 16-channel ones 1.2–1.5× faster (CPU time in Node).
const MIN_CHANNELS: usize = 8;

/// The 2-D window a group's convolution has, if Winograd F(2×2, 3×3) fits it: 3×3 kernel,
/// stride 1, dilation 1, at least [`MIN_CHANNELS`] input and output channels.
pub(crate) fn fits(geo: &crate::ops::window::Geometry, cg: usize, mg: usize) -> bool {
    geo.input.len() == 2
        && geo.kernel == [3, 3]
        && geo.strides == [1, 1]
        && geo.dilations == [1, 1]
        && cg >= MIN_CHANNELS
        && mg >= MIN_CHANNELS
        && geo.out.iter().all(|&o| o >= 2)
}

/// The 16 transformed weight matrices of a group, `U_ξ` (mg × cg) packed as the GEMM's A, or
/// none when a weight is not finite. `wg` is W_g, `[mg, cg, 3, 3]`. `G g Gᵀ` in f64, each
/// element rounded once to f32.
pub(crate) fn pack_weights(wg: &[f32], mg: usize, cg: usize) -> Vec<PackedF32A> {
    if !wg[..mg * cg * 9].iter().all(|v| v.is_finite()) {
        return Vec::new();
    }
    let mut u = vec![0f32; 16 * mg * cg];
    for (mc, g) in wg.chunks_exact(9).take(mg * cg).enumerate() {
        let g: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        // G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], applied to g's columns then to the rows.
        let gt = |a: f64, b: f64, c: f64| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
        let cols: [[f64; 4]; 3] = core::array::from_fn(|j| gt(g[j], g[3 + j], g[6 + j]));
        for r in 0..4 {
            let row = gt(cols[0][r], cols[1][r], cols[2][r]);
            for (s, &v) in row.iter().enumerate() {
                u[(4 * r + s) * mg * cg + mc] = v as f32;
            }
        }
    }
    u.chunks_exact(mg * cg).map(|ui| PackedF32A::new(mg, cg, ui)).collect()
}

/// The output plane and where the input sits in it.
pub(crate) struct Plane2 {
    pub h: usize,
    pub w: usize,
    pub py: usize,
    pub px: usize,
    pub oh: usize,
    pub ow: usize,
}

/// One group's convolution of `xg` (`cg` channels of h×w) into `yg` (`mg` channels of oh×ow),
/// plus `bg` and `epilogue`; `u` from [`pack_weights`]. Returns false, writing nothing, if an
/// input value is not finite (the caller then runs the direct path).
pub(crate) fn conv(p: &Plane2, xg: &[f32], cg: usize, u: &[PackedF32A], bg: Option<&[f32]>, epilogue: Epilogue, yg: &mut [f32]) -> bool {
    let mg = u[0].m();
    if !all_finite(&xg[..cg * p.h * p.w]) {
        return false;
    }
    let (th, tw) = (p.oh.div_ceil(2), p.ow.div_ceil(2));
    // The input with its padding, (2·th + 2) × (2·tw + 2) per channel: every tile's 4×4 patch
    // inside it, so the transform reads without bounds.
    let pad = Padded::of(p, xg, cg, th, tw);
    // Blocks of whole tile rows, about TILE_BLOCK tiles.
    let rows = (TILE_BLOCK / tw).max(1);
    let most = rows.min(th) * tw;
    let panels = most.div_ceil(NR);
    // V of a block: for each ξ, its GEMM panels of cg rows × 8 tiles; M of a block: for each
    // ξ, mg rows of n tiles.
    let mut v = vec![0f32; 16 * panels * cg * NR];
    // (Four spare values: the last group of four tiles of a row reads four from its first.)
    let mut m = vec![0f32; 16 * mg * most + 4];
    for ty0 in (0..th).step_by(rows) {
        let n = rows.min(th - ty0) * tw;
        let stride = panels * cg * NR;
        for ty in ty0..(ty0 + rows).min(th) {
            transform_input(&pad, cg, ty, tw, (ty - ty0) * tw, stride, &mut v);
        }
        for (xi, ui) in u.iter().enumerate() {
            let vx = &v[xi * stride..(xi + 1) * stride];
            quantscope_gemm::gemm_f32_panels_packed(
                ui,
                n,
                |q, _, panel| panel[..cg * NR].copy_from_slice(&vx[q * cg * NR..(q + 1) * cg * NR]),
                |_, _, _| {},
                &mut m[xi * mg * n..(xi + 1) * mg * n],
            );
        }
        for ch in 0..mg {
            let yc = &mut yg[ch * p.oh * p.ow..(ch + 1) * p.oh * p.ow];
            for ty in ty0..(ty0 + rows).min(th) {
                transform_output(p, &m, mg * n, ch * n + (ty - ty0) * tw, ty, tw, yc);
            }
        }
    }
    let oc = p.oh * p.ow;
    for (ch, row) in yg.chunks_exact_mut(oc).take(mg).enumerate() {
        if let Some(bg) = bg {
            row.iter_mut().for_each(|v| *v += bg[ch]);
        }
        epilogue.apply(row);
    }
    true
}

/// Whether every value is finite: `Σ v·0` is ±0 then and NaN otherwise, in four lanes
/// without an early exit, so that the loop vectorizes (`iter().all(is_finite)` does not).
fn all_finite(v: &[f32]) -> bool {
    let mut acc = [0f32; 4];
    let mut quads = v.chunks_exact(4);
    for q in &mut quads {
        for l in 0..4 {
            acc[l] += q[l] * 0.0;
        }
    }
    let rest = quads.remainder().iter().fold(0f32, |s, &e| s + e * 0.0);
    (acc[0] + acc[1] + acc[2] + acc[3] + rest) == 0.0
}

/// The input of a group with zeros around it.
struct Padded {
    data: Vec<f32>,
    /// Rows and columns per channel.
    h: usize,
    w: usize,
}

impl Padded {
    fn of(p: &Plane2, xg: &[f32], cg: usize, th: usize, tw: usize) -> Padded {
        // Eight spare columns: the last group of four tiles of a row reads ten columns from
        // the group's first tile (transform_input).
        let (h, w) = (2 * th + 2, 2 * tw + 2 + 8);
        let mut data = vec![0f32; cg * h * w];
        // Input rows and columns that land inside: those before the padding's end.
        let (rows, cols) = (p.h.min(h - p.py), p.w.min(w - p.px));
        for c in 0..cg {
            for y in 0..rows {
                let src = &xg[(c * p.h + y) * p.w..][..cols];
                data[(c * h + p.py + y) * w + p.px..][..cols].copy_from_slice(src);
            }
        }
        Padded { data, h, w }
    }
}

/// Four f32 lanes (four tiles, one per lane): a `v128` with SIMD128, else an array. The
/// transforms only add, subtract, load, store and move lanes, so both are exact and equal.
#[derive(Clone, Copy)]
struct F4(
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))] v128,
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))] [f32; 4],
);

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use core::arch::wasm32::*;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl F4 {
    #[inline(always)]
    fn load(s: &[f32]) -> F4 {
        let s = &s[..4];
        // SAFETY: s holds four f32; v128_load has no alignment requirement.
        F4(unsafe { v128_load(s.as_ptr() as *const v128) })
    }
    #[inline(always)]
    fn store(self, d: &mut [f32]) {
        let d = &mut d[..4];
        // SAFETY: d holds four f32.
        unsafe { v128_store(d.as_mut_ptr() as *mut v128, self.0) }
    }
    #[inline(always)]
    fn add(self, o: F4) -> F4 {
        F4(f32x4_add(self.0, o.0))
    }
    #[inline(always)]
    fn sub(self, o: F4) -> F4 {
        F4(f32x4_sub(self.0, o.0))
    }
    /// Lanes 0, 2 of `self` then 0, 2 of `o`, and lanes 1, 3 of each.
    #[inline(always)]
    fn unzip(self, o: F4) -> (F4, F4) {
        (F4(i32x4_shuffle::<0, 2, 4, 6>(self.0, o.0)), F4(i32x4_shuffle::<1, 3, 5, 7>(self.0, o.0)))
    }
    /// Lanes interleaved: `(a0 b0 a1 b1, a2 b2 a3 b3)`.
    #[inline(always)]
    fn zip(self, o: F4) -> (F4, F4) {
        (F4(i32x4_shuffle::<0, 4, 1, 5>(self.0, o.0)), F4(i32x4_shuffle::<2, 6, 3, 7>(self.0, o.0)))
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
impl F4 {
    #[inline(always)]
    fn load(s: &[f32]) -> F4 {
        F4([s[0], s[1], s[2], s[3]])
    }
    #[inline(always)]
    fn store(self, d: &mut [f32]) {
        d[..4].copy_from_slice(&self.0);
    }
    #[inline(always)]
    fn add(self, o: F4) -> F4 {
        F4(core::array::from_fn(|l| self.0[l] + o.0[l]))
    }
    #[inline(always)]
    fn sub(self, o: F4) -> F4 {
        F4(core::array::from_fn(|l| self.0[l] - o.0[l]))
    }
    #[inline(always)]
    fn unzip(self, o: F4) -> (F4, F4) {
        let (a, b) = (self.0, o.0);
        (F4([a[0], a[2], b[0], b[2]]), F4([a[1], a[3], b[1], b[3]]))
    }
    #[inline(always)]
    fn zip(self, o: F4) -> (F4, F4) {
        let (a, b) = (self.0, o.0);
        (F4([a[0], b[0], a[1], b[1]]), F4([a[2], b[2], a[3], b[3]]))
    }
}

/// `Bᵀ d B` of four tiles' 4×4 patches, by rows: `d[r][s]` holds row r, column s of each
/// tile's patch (a lane per tile). The 16 values, ξ = 4·row + column, each over the lanes.
/// Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
#[inline(always)]
fn input_tiles(d: [[F4; 4]; 4], v: &mut [F4; 16]) {
    // Bᵀ d: rows combined, per column s; then (Bᵀ d) B: columns combined, per row r.
    let col = |s: usize| {
        let (d0, d1, d2, d3) = (d[0][s], d[1][s], d[2][s], d[3][s]);
        [d0.sub(d2), d1.add(d2), d2.sub(d1), d1.sub(d3)]
    };
    let b = [col(0), col(1), col(2), col(3)];
    for r in 0..4 {
        let (e0, e1, e2, e3) = (b[0][r], b[1][r], b[2][r], b[3][r]);
        v[4 * r] = e0.sub(e2);
        v[4 * r + 1] = e1.add(e2);
        v[4 * r + 2] = e2.sub(e1);
        v[4 * r + 3] = e1.sub(e3);
    }
}

/// `V = Bᵀ d B` of tile row `ty` (`tw` tiles) for every input channel, into `v` as GEMM
/// panels from block column `j0`: tile column tx at `v[ξ·stride + ((j/8)·cg + c)·8 + j%8]`,
/// j = j0 + tx. Four tiles at a time, one per lane (the last group padded with copies of
/// zeros past the row: the padded input has 8 spare columns).
fn transform_input(pad: &Padded, cg: usize, ty: usize, tw: usize, j0: usize, stride: usize, v: &mut [f32]) {
    let pw = pad.w;
    let mut vals = [F4::load(&[0.0; 4]); 16];
    for c in 0..cg {
        let plane = &pad.data[c * pad.h * pw..(c + 1) * pad.h * pw];
        for tx in (0..tw).step_by(4) {
            // Lane l: tile tx + l, whose patch starts at column 2(tx + l): columns 0 and 1 of
            // the patches are the even and odd columns from 2·tx, columns 2 and 3 those from
            // 2·tx + 2.
            let d: [[F4; 4]; 4] = core::array::from_fn(|r| {
                let row = &plane[(2 * ty + r) * pw + 2 * tx..][..10];
                let (s0, s1) = F4::load(row).unzip(F4::load(&row[4..]));
                let (s2, s3) = F4::load(&row[2..]).unzip(F4::load(&row[6..]));
                [s0, s1, s2, s3]
            });
            input_tiles(d, &mut vals);
            let (j, lanes) = (j0 + tx, 4.min(tw - tx));
            let at = ((j / NR) * cg + c) * NR + j % NR;
            if lanes == 4 && j % NR + 4 <= NR {
                // Four tiles within one panel: one vector store per ξ.
                for (xi, val) in vals.iter().enumerate() {
                    val.store(&mut v[xi * stride + at..]);
                }
                continue;
            }
            for (xi, val) in vals.iter().enumerate() {
                let mut lane = [0f32; 4];
                val.store(&mut lane);
                for (l, &e) in lane[..lanes].iter().enumerate() {
                    let jl = j + l;
                    v[xi * stride + ((jl / NR) * cg + c) * NR + jl % NR] = e;
                }
            }
        }
    }
}

/// `Y = Aᵀ M A` of tile row `ty` (`tw` tiles) of one output channel into `yc` (its outputs
/// inside the plane): M_ξ of tile column tx at `m[ξ·xi_stride + at + tx]` (`m` holds at least
/// 4 values past each row's last: see [`conv`]). Aᵀ = [1 1 1 0; 0 1 −1 −1]. Four tiles at a
/// time, one per lane.
fn transform_output(p: &Plane2, m: &[f32], xi_stride: usize, at: usize, ty: usize, tw: usize, yc: &mut [f32]) {
    let (oy, ow) = (2 * ty, p.ow);
    let rows = if oy + 1 < p.oh { 2 } else { 1 };
    for tx in (0..tw).step_by(4) {
        let e = |xi: usize| F4::load(&m[xi * xi_stride + at + tx..]);
        // Aᵀ M: rows combined, per column s; then columns combined.
        let a: [[F4; 2]; 4] = core::array::from_fn(|s| {
            let (m0, m1, m2, m3) = (e(s), e(4 + s), e(8 + s), e(12 + s));
            [m0.add(m1).add(m2), m1.sub(m2).sub(m3)]
        });
        let ox = 2 * tx;
        for r in 0..rows {
            let y0 = a[0][r].add(a[1][r]).add(a[2][r]);
            let y1 = a[1][r].sub(a[2][r]).sub(a[3][r]);
            let (lo, hi) = y0.zip(y1);
            let row = &mut yc[(oy + r) * ow..(oy + r + 1) * ow];
            if ox + 8 <= ow {
                lo.store(&mut row[ox..]);
                hi.store(&mut row[ox + 4..]);
            } else {
                let mut out = [0f32; 8];
                lo.store(&mut out);
                hi.store(&mut out[4..]);
                row[ox..].copy_from_slice(&out[..ow - ox]);
            }
        }
    }
}

//! The float 2-D depthwise convolution (one input and one output channel per group: MobileNet's
//! and PP-LCNet's 3×3 and 5×5 convolutions), computed directly, as `depthwise_int.rs` computes
//! the integer one:
//!
//! * A channel's rows are copied once into rows padded with zeros on both sides (a padding tap
//!   then adds `w·0`, with no bounds test in the loop).
//! * For a tap at offset `kx·dx = q·sx + r` and output column `ox`, the input is the padded
//!   row's column `ox·sx + kx·dx`: a *plane* holds `plane_r[j] = row[j·sx + r]`, so the tap reads
//!   `plane_r[ox + q]`, contiguous in `ox` for any stride. With stride 1 the padded row is the
//!   one plane.
//! * Sixteen outputs of a row keep four f32x4 accumulators in registers over all the kernel's
//!   taps; the row is stored once. The previous loop added one tap at a time into the output row
//!   in memory (a load, a multiply, an add and a store per four products, and a loop's set-up
//!   per tap and row): ppocr_rec's 5×5 convolutions over 240 channels of 12 × 40 took 0.8 ms.
//!
//! Exactness: each output sums its taps in the previous loop's order (kernel column, then row),
//! as a multiply then an add, from +0: bit for bit the same. The padding taps it skipped add
//! `w·0 = ±0` here, which leaves any sum unchanged (a sum from +0 is never −0), as long as `w` is
//! finite: a channel with an infinite or NaN weight (`w·0` = NaN) takes the previous loop.

use super::window::Geometry;

/// The plan of one depthwise convolution (every channel shares it) and its scratch buffers.
pub(crate) struct DepthwiseF32 {
    kh: usize,
    kw: usize,
    sy: usize,
    dy: usize,
    py: usize,
    h: usize,
    w: usize,
    px: usize,
    sx: usize,
    oh: usize,
    ow: usize,
    /// Per kernel column: its phase's index in `phases` and its offset `q`.
    tap_at: Vec<(usize, usize)>,
    /// The phases `r` the taps read (a plane each per input row).
    phases: Vec<usize>,
    /// Values per plane row: the outputs rounded up to a block, plus the largest offset.
    len: usize,
    /// Values per padded row.
    width: usize,
    /// The padded rows and the planes.
    rows: Vec<f32>,
    planes: Vec<f32>,
    /// One output row's taps `(plane start, weight index)`, in summation order.
    taps: Vec<(usize, usize)>,
}

/// Outputs per register block: four vectors of four.
const BLOCK: usize = 16;

impl DepthwiseF32 {
    /// For a 2-D `geo`.
    pub(crate) fn new(geo: &Geometry) -> Self {
        let (kh, kw) = (geo.kernel[0], geo.kernel[1]);
        let (sx, dx) = (geo.strides[1], geo.dilations[1]);
        let mut phases = Vec::new();
        let tap_at = (0..kw)
            .map(|kx| {
                let (q, r) = (kx * dx / sx, kx * dx % sx);
                let at = phases.iter().position(|&p| p == r).unwrap_or_else(|| {
                    phases.push(r);
                    phases.len() - 1
                });
                (at, q)
            })
            .collect::<Vec<_>>();
        let qmax = tap_at.iter().map(|t| t.1).max().unwrap_or(0);
        let ow = geo.out[1];
        let len = ow.div_ceil(BLOCK) * BLOCK + qmax;
        // Plane value j reads padded column j·sx + r (r < sx): below len·sx.
        let width = len * sx;
        DepthwiseF32 {
            kh,
            kw,
            sy: geo.strides[0],
            dy: geo.dilations[0],
            py: geo.pad_begin[0],
            h: geo.input[0],
            w: geo.input[1],
            px: geo.pad_begin[1],
            sx,
            oh: geo.out[0],
            ow,
            tap_at,
            phases,
            len,
            width,
            rows: Vec::new(),
            planes: Vec::new(),
            taps: Vec::new(),
        }
    }

    /// One channel: `y[oy·ow + ox] = Σ w[ky·kw + kx] · x[iy, ix]` over its taps (`y` is
    /// overwritten). `false`, with `y` untouched, when a weight is not finite (see the module).
    #[inline(never)]
    pub(crate) fn channel(&mut self, x: &[f32], w: &[f32], y: &mut [f32]) -> bool {
        if !w.iter().all(|v| v.is_finite()) {
            return false;
        }
        let (h, width, len, sx) = (self.h, self.width, self.len, self.sx);
        self.rows.resize(h * width, 0.0);
        let px = self.px.min(width);
        let take = self.w.min(width - px);
        for (iy, row) in self.rows.chunks_exact_mut(width).enumerate() {
            row[..px].fill(0.0);
            row[px..px + take].copy_from_slice(&x[iy * self.w..iy * self.w + take]);
            row[px + take..].fill(0.0);
        }
        let (planes, plane_len): (&[f32], usize) = if sx == 1 {
            (&self.rows, width)
        } else {
            self.planes.resize(self.phases.len() * h * len, 0.0);
            for (pi, &r) in self.phases.iter().enumerate() {
                for iy in 0..h {
                    let row = &self.rows[iy * width..(iy + 1) * width];
                    let out = &mut self.planes[(pi * h + iy) * len..][..len];
                    for (j, o) in out.iter_mut().enumerate() {
                        *o = row[j * sx + r];
                    }
                }
            }
            (&self.planes, len)
        };
        for oy in 0..self.oh {
            // The taps inside the input's rows, kernel column by column, as the sum runs.
            self.taps.clear();
            for (kx, &(pi, q)) in self.tap_at.iter().enumerate() {
                for ky in 0..self.kh {
                    let iy = (oy * self.sy + ky * self.dy).wrapping_sub(self.py);
                    if iy < h {
                        self.taps.push(((pi * h + iy) * plane_len + q, ky * self.kw + kx));
                    }
                }
            }
            accumulate(&self.taps, planes, w, &mut y[oy * self.ow..(oy + 1) * self.ow]);
        }
        true
    }
}

/// `out[j] = Σ weights[wi] · planes[start + j]` over `taps` `(start, wi)` in order, from +0.
/// `planes` holds at least `out.len()` rounded up to [`BLOCK`] values past each start.
#[inline(never)]
fn accumulate(taps: &[(usize, usize)], planes: &[f32], weights: &[f32], out: &mut [f32]) {
    let blocks = out.len().div_ceil(BLOCK);
    assert!(taps.iter().all(|&(s, wi)| s + blocks * BLOCK <= planes.len() && wi < weights.len()));
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        for b in 0..blocks {
            let j0 = b * BLOCK;
            let mut acc = [f32x4_splat(0.0); 4];
            for &(s, wi) in taps {
                // SAFETY: s + j0 + 16 ≤ planes.len() and wi < weights.len() (asserted above);
                // unaligned loads are allowed.
                unsafe {
                    let wv = v128_load32_splat(weights.as_ptr().add(wi) as *const u32);
                    let p = planes.as_ptr().add(s + j0) as *const v128;
                    for (v, acc) in acc.iter_mut().enumerate() {
                        *acc = f32x4_add(*acc, f32x4_mul(wv, v128_load(p.add(v))));
                    }
                }
            }
            if j0 + BLOCK <= out.len() {
                // SAFETY: 16 writable f32 at j0.
                unsafe {
                    let o = out.as_mut_ptr().add(j0) as *mut v128;
                    acc.iter().enumerate().for_each(|(v, a)| v128_store(o.add(v), *a));
                }
            } else {
                let mut sums = [0f32; BLOCK];
                // SAFETY: 16 writable f32.
                acc.iter().enumerate().for_each(|(v, a)| unsafe { v128_store(sums.as_mut_ptr().add(4 * v) as *mut v128, *a) });
                let rest = out.len() - j0;
                out[j0..].copy_from_slice(&sums[..rest]);
            }
        }
        return;
    }
    #[allow(unreachable_code)]
    {
        out.fill(0.0);
        for &(s, wi) in taps {
            let wv = weights[wi];
            for (o, &p) in out.iter_mut().zip(&planes[s..]) {
                *o += wv * p;
            }
        }
    }
}

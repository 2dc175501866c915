//! The integer 2-D depthwise convolution (one input and one output channel per group:
//! MobileNet's 3×3 and 5×5 convolutions, ConvInteger and the int8 Conv of `Model::quantize`),
//! computed directly, two kernel taps per multiply:
//!
//! * A channel's rows are widened once to i16 `x − x_zp` in a row padded with zeros on both
//!   sides (a padding tap then adds 0, with no bounds test in the loop).
//! * Kernel taps are paired along the row, `(kx, kx + 1)` (an odd width's last one with a zero
//!   weight). For a pair and an output column `ox`, the two inputs are the padded row's columns
//!   `ox·sx + kx·dx` and that plus `dx`: one i16 pair, one 32-bit word. A *plane* holds these
//!   words for consecutive outputs, `plane[j] = (X[j·sx + r], X[j·sx + r + dx])`, so a pair
//!   starting at tap offset `kx·dx = q·sx + r` reads `plane_r[ox + q]`: contiguous in `ox` for
//!   any stride. With stride 2 and dilation 1 the padded row is already that plane (its i16 pairs
//!   read as words); otherwise each needed phase `r` is built from it.
//! * Sixteen outputs of a row keep four i32x4 accumulators in registers over all the kernel's
//!   rows and pairs: per pair and four outputs, one load, one `i32x4.dot_i16x8_s` (two taps'
//!   products, exact: both factors lie in [−255, 255]) and one add; the row is stored once.
//!
//! The previous kernel widened to i32 and added one tap at a time into the output row in memory
//! (a load, a multiply, an add and a store per four products). Integer sums: the same result in
//! any order (wrapping, as ConvInteger's int32 accumulation). The scalar form below runs where
//! there is no SIMD128 (native builds) and is what the tests hold both against.

use super::window::Geometry;

/// The plan of one depthwise convolution (every channel shares it) and its scratch buffers.
pub(crate) struct DepthwiseInt {
    kh: usize,
    sy: usize,
    dy: usize,
    py: usize,
    h: usize,
    w: usize,
    px: usize,
    sx: usize,
    dx: usize,
    oh: usize,
    ow: usize,
    /// Tap pairs per kernel row (⌈kw / 2⌉).
    pairs: usize,
    /// Per pair: its phase's index in `phases` and its word offset `q`.
    pair_at: Vec<(usize, usize)>,
    /// The phases `r` the pairs read (a plane each per input row).
    phases: Vec<usize>,
    /// Words per plane row: the outputs rounded up to a block, plus the largest offset.
    len: usize,
    /// i16 values per padded row.
    width: usize,
    /// Per channel, kernel row and pair: the two weights as an i16 pair word.
    w_pairs: Vec<u32>,
    /// The padded rows (i16, two per word) and the planes (words).
    rows: Vec<u32>,
    planes: Vec<u32>,
}

/// Outputs per register block: four vectors of four.
const BLOCK: usize = 16;

#[inline(always)]
fn pair(lo: i32, hi: i32) -> u32 {
    (lo as u16 as u32) | (hi as u16 as u32) << 16
}

impl DepthwiseInt {
    /// For a 2-D `geo` and the weights less their zero points, `w[ch·kh·kw + ky·kw + kx]`.
    pub(crate) fn new(geo: &Geometry, w: &[i32], channels: usize) -> Self {
        let (kh, kw) = (geo.kernel[0], geo.kernel[1]);
        let (sx, dx) = (geo.strides[1], geo.dilations[1]);
        let pairs = kw.div_ceil(2);
        let mut phases = Vec::new();
        let pair_at = (0..pairs)
            .map(|t| {
                let (q, r) = (2 * t * dx / sx, 2 * t * dx % sx);
                let at = phases.iter().position(|&p| p == r).unwrap_or_else(|| {
                    phases.push(r);
                    phases.len() - 1
                });
                (at, q)
            })
            .collect::<Vec<_>>();
        let qmax = pair_at.iter().map(|p| p.1).max().unwrap_or(0);
        let ow = geo.out[1];
        let len = ow.div_ceil(BLOCK) * BLOCK + qmax;
        // Plane word j reads padded columns j·sx + r and + dx (r < sx): the row's last read is
        // below len·sx + dx. Even, so the row is whole words.
        let width = (len * sx + dx + 1).next_multiple_of(2);
        let kk = kh * kw;
        let w_pairs = (0..channels * kh)
            .flat_map(|row| {
                let taps = &w[row * kw..(row + 1) * kw];
                (0..pairs).map(move |t| pair(taps[2 * t], taps.get(2 * t + 1).copied().unwrap_or(0)))
            })
            .collect();
        debug_assert!(w.len() >= channels * kk);
        DepthwiseInt {
            kh,
            sy: geo.strides[0],
            dy: geo.dilations[0],
            py: geo.pad_begin[0],
            h: geo.input[0],
            w: geo.input[1],
            px: geo.pad_begin[1],
            sx,
            dx,
            oh: geo.out[0],
            ow,
            pairs,
            pair_at,
            phases,
            len,
            width,
            w_pairs,
            rows: Vec::new(),
            planes: Vec::new(),
        }
    }

    /// Whether the padded rows are themselves the one plane (stride 2, dilation 1: pair words
    /// `(X[2j], X[2j + 1])`).
    fn rows_are_plane(&self) -> bool {
        self.sx == 2 && self.dx == 1
    }

    /// Channel `ch`: `y[oy·ow + ox] += Σ w'·(x − x_zp)` over its taps, `x` its input bytes (i8
    /// when `signed`).
    #[inline(never)]
    pub(crate) fn channel(&mut self, ch: usize, x: &[u8], signed: bool, x_zp: i32, y: &mut [i32]) {
        let (h, w, width) = (self.h, self.w, self.width);
        let half = width / 2;
        self.rows.resize(h * half, 0);
        // Padded rows: zeros, then x − x_zp from column px (as many as fit).
        // SAFETY: a u32 buffer seen as twice as many u16 (same memory, any bits valid).
        let rows = unsafe { core::slice::from_raw_parts_mut(self.rows.as_mut_ptr() as *mut u16, h * width) };
        let (flip, base) = if signed { (0x80u8, 128 + x_zp) } else { (0, x_zp) };
        let px = self.px.min(width);
        let take = w.min(width - px);
        for (iy, row) in rows.chunks_exact_mut(width).enumerate() {
            row[..px].fill(0);
            let src = &x[iy * w..iy * w + take];
            // An i8 byte b is (b ^ 0x80) − 128: one loop for both types.
            for (d, &b) in row[px..px + take].iter_mut().zip(src) {
                *d = ((b ^ flip) as i32 - base) as u16;
            }
            row[px + take..].fill(0);
        }
        let (len, sx, dx) = (self.len, self.sx, self.dx);
        let planes: &[u32] = if self.rows_are_plane() {
            &self.rows
        } else {
            self.planes.resize(self.phases.len() * h * len, 0);
            for (pi, &r) in self.phases.iter().enumerate() {
                for iy in 0..h {
                    let row = &rows[iy * width..(iy + 1) * width];
                    let out = &mut self.planes[(pi * h + iy) * len..][..len];
                    if sx == 1 {
                        let (a, b) = (&row[r..r + len], &row[r + dx..r + dx + len]);
                        for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                            *o = a as u32 | (b as u32) << 16;
                        }
                    } else {
                        for (j, o) in out.iter_mut().enumerate() {
                            *o = row[j * sx + r] as u32 | (row[j * sx + r + dx] as u32) << 16;
                        }
                    }
                }
            }
            &self.planes
        };
        // Plane of phase index pi, input row iy, from word j.
        let plane_len = if self.rows_are_plane() { half } else { len };
        let weights = &self.w_pairs[ch * self.kh * self.pairs..(ch + 1) * self.kh * self.pairs];
        for oy in 0..self.oh {
            // The kernel rows inside the input, with their planes' first word.
            let mut taps: [(usize, usize); 16] = [(0, 0); 16];
            let mut count = 0;
            for ky in 0..self.kh {
                let iy = (oy * self.sy + ky * self.dy).wrapping_sub(self.py);
                if iy >= h {
                    continue;
                }
                for (t, &(pi, q)) in self.pair_at.iter().enumerate() {
                    if count == taps.len() {
                        accumulate(&taps[..count], planes, weights, &mut y[oy * self.ow..(oy + 1) * self.ow]);
                        count = 0;
                    }
                    taps[count] = ((pi * h + iy) * plane_len + q, ky * self.pairs + t);
                    count += 1;
                }
            }
            accumulate(&taps[..count], planes, weights, &mut y[oy * self.ow..(oy + 1) * self.ow]);
        }
    }
}

/// `out[j] += Σ dot(planes[start + j], weights[wi])` over `taps` `(start, wi)`, the pair words
/// as two i16 each. `planes` holds at least `out.len()` rounded up to [`BLOCK`] words past
/// each start.
#[inline(never)]
fn accumulate(taps: &[(usize, usize)], planes: &[u32], weights: &[u32], out: &mut [i32]) {
    if taps.is_empty() {
        return;
    }
    let blocks = out.len().div_ceil(BLOCK);
    assert!(taps.iter().all(|&(s, wi)| s + blocks * BLOCK <= planes.len() && wi < weights.len()));
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        for b in 0..blocks {
            let j0 = b * BLOCK;
            let mut acc = [i32x4_splat(0); 4];
            for &(s, wi) in taps {
                // SAFETY: s + j0 + 16 ≤ planes.len() (asserted above); unaligned loads are allowed.
                unsafe {
                    let wv = v128_load32_splat(weights.as_ptr().add(wi));
                    let p = planes.as_ptr().add(s + j0) as *const v128;
                    for (v, acc) in acc.iter_mut().enumerate() {
                        *acc = i32x4_add(*acc, i32x4_dot_i16x8(v128_load(p.add(v)), wv));
                    }
                }
            }
            if j0 + BLOCK <= out.len() {
                // SAFETY: 16 readable and writable i32 at j0.
                unsafe {
                    let o = out.as_mut_ptr().add(j0) as *mut v128;
                    for (v, acc) in acc.iter().enumerate() {
                        v128_store(o.add(v), i32x4_add(v128_load(o.add(v)), *acc));
                    }
                }
            } else {
                let mut sums = [0i32; BLOCK];
                // SAFETY: 16 writable i32.
                acc.iter().enumerate().for_each(|(v, a)| unsafe { v128_store(sums.as_mut_ptr().add(4 * v) as *mut v128, *a) });
                for (o, s) in out[j0..].iter_mut().zip(sums) {
                    *o = o.wrapping_add(s);
                }
            }
        }
        return;
    }
    #[allow(unreachable_code)]
    for &(s, wi) in taps {
        let (w0, w1) = (weights[wi] as i16 as i32, (weights[wi] >> 16) as i16 as i32);
        for (o, &p) in out.iter_mut().zip(&planes[s..]) {
            let (x0, x1) = (p as i16 as i32, (p >> 16) as i16 as i32);
            *o = o.wrapping_add(x0 * w0 + x1 * w1);
        }
    }
}

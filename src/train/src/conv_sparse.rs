//! The backward of a convolution over only the nonzero entries of its output gradient. Behind a
//! `MaxPool2d(2)` three of every four conv outputs get no gradient (the pool passes it to its
//! window's maximum only) and the ReLU zeroes more: the digits' net's conv layers see 11–20 %
//! nonzeros, and dense products spend the rest of their multiply-adds on zeros.
//!
//! The gradient is first listed as its nonzero `(position, value)` entries per output channel
//! ([`Entries`]): read straight from the max pool's argmax, the ReLU's mask and the pooled
//! gradient when the layers are `Conv2d → ReLU → MaxPool2d` ([`Entries::pooled`], no dense
//! gradient written and scanned), else by scanning the dense gradient ([`Entries::scan`]). Then:
//!
//! - bias gradient ([`bias_grad`]): `Σ_q dY[o][q]`, in the eight running sums of a dense row's
//!   sum (torch's sum is another order; the fixtures' tolerance covers it);
//! - weight gradient ([`weight_grad`]): `dW [O, L] += Σ_q dY[o][q] · patches[·][q]`, for each
//!   output channel `o` over its entries in order, each adding the patch at `q` (eight patch
//!   rows per panel, as `conv_gemm::fill_patches_t` fills them, once per sample) to 24 running
//!   sums at a time;
//! - input gradient ([`input_grad`]): `dX = col2im(Wᵀ · dY)` (aten/src/ATen/native/
//!   ConvolutionMM2d.cpp's `slow_conv2d` backward), per position `q` the patch-row gradients
//!   `Σ_o dY[o][q] · W[o][·]` over its entries in channel order, each added at once to the
//!   pixels it belongs to. Eight input channels are the SIMD lanes (the weight as `[O, k·k, C]`,
//!   [`taps`]). col2im adds a pixel's terms in patch-row order `(c, ky, kx)`; walking the
//!   positions from the last down gives each pixel its terms in that same order, so no patch
//!   matrix is stored, transposed or walked again.
//!
//! Exactness: each sum runs over the same index in the same order as the dense product would
//! (from +0.0), leaving out the terms whose gradient is exactly 0. With finite inputs each such
//! term is ±0, and adding ±0 to a sum that started at +0 leaves it unchanged bit for bit, so the
//! results equal the dense definitions' (the tests below hold them to it). A non-finite input
//! times a 0 would be NaN in the dense sum and is left out here: the run has diverged by then
//! and stops.
//!
//! The running sums are arrays the compiler keeps in SIMD128 registers, one `f32x4.mul` and
//! `f32x4.add` per four terms (no fused multiply-add: see the gemm crate's exactness note).
//!
//! Measured (Node's V8, CPU time of interleaved steps, the conv net FP32 at batch 64): see the
//! README's Train section. Batching the forward's 64 per-sample products into one (the weight
//! packed once) measured slower (its 1.2 MB product did not stay in cache) and is not done.

use crate::conv_gemm::{fill_patches_t, output_size, Shape};
use quantscope_gemm::NR;

/// Panels (8 sums each, two SIMD128 vectors) summed per pass over the terms: three keep the six
/// running sums, six operands and the broadcast term in V8's 15 xmm registers; with four, V8
/// spilled two of them to the stack every term (seen in `node --print-wasm-code`).
const GROUP: usize = 3;

/// Input channels per block of the input gradient: two SIMD128 vectors.
const LANES: usize = 8;

/// One sample's gradient of a convolution's output `[O, P]` as its nonzero entries: for each
/// output channel in order, its `(position, value)` pairs with the positions ascending. Every
/// position is below `positions` (the constructors guarantee it; the kernels rely on it).
#[derive(Debug, Default, Clone)]
pub(crate) struct Entries {
    items: Vec<(u32, f32)>,
    /// Channel o's entries end at `ends[o]`.
    ends: Vec<usize>,
    positions: usize,
    /// [`Entries::pooled`]'s scratch: a row of windows' entries by input row, and their counts.
    buckets: Vec<(u32, f32)>,
    counts: Vec<usize>,
}

impl Entries {
    pub(crate) fn channels(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn channel(&self, o: usize) -> &[(u32, f32)] {
        let start = if o == 0 { 0 } else { self.ends[o - 1] };
        &self.items[start..self.ends[o]]
    }

    /// The nonzeros of a dense gradient `g [O, positions]`, branch-free: every entry is written
    /// and the count moves past the nonzeros only (a branch per entry mispredicted often enough
    /// to cost more in the page).
    pub(crate) fn scan(&mut self, g: &[f32], positions: usize) {
        self.items.clear();
        self.ends.clear();
        self.positions = positions;
        for row in g.chunks_exact(positions) {
            let mut n = self.items.len();
            self.items.resize(n + positions, (0, 0.0));
            for (q, &v) in row.iter().enumerate() {
                self.items[n] = (q as u32, v);
                n += (v != 0.0) as usize;
            }
            self.items.truncate(n);
            self.ends.push(n);
        }
    }

    /// The gradient of a `Conv2d` output `s` behind `ReLU → MaxPool2d(k)`, from the pool's output
    /// gradient `gp [O, H/k, W/k]`, its output `pooled` and argmax (indices within the sample's
    /// `[O, H, W]`): what the dense backward gets (the pool adds each window's gradient at its
    /// argmax into zeros, the ReLU zeroes where its output was not positive, as torch's
    /// `threshold_backward`) without writing it. The ReLU's output at the argmax is the pooled
    /// value, so its mask is not read (gathering it missed the cache: it was written a whole
    /// forward ago, where the pooled values were just read by the next layer's backward).
    /// Positions ascend within a channel: a row of windows puts each entry in the bucket of the
    /// input row `dy` its argmax lies in (branch-free, as [`Entries::scan`]), then appends the
    /// buckets in row order (a pass per input row measured slower in the page).
    pub(crate) fn pooled(&mut self, gp: &[f32], pooled: &[f32], argmax: &[u32], s: Shape, k: usize) {
        let (hp, wp, plane, w) = (s.height / k, s.width / k, s.height * s.width, s.width);
        assert!(gp.len() == s.channels * hp * wp && argmax.len() == gp.len() && pooled.len() == gp.len() && k > 0);
        self.positions = plane;
        self.ends.clear();
        // Written past the entries kept so far (at most one per window) before the count decides.
        self.items.clear();
        self.items.resize(gp.len() + 1, (0, 0.0));
        let (items, buckets, counts) = (&mut self.items, &mut self.buckets, &mut self.counts);
        buckets.resize(k.max(2) * wp, (0, 0.0));
        counts.resize(k.max(2), 0);
        let mut n = 0;
        for o in 0..s.channels {
            let base = o * plane;
            for wy in 0..hp {
                let (lo, row) = (base + k * wy * w, (o * hp + wy) * wp..(o * hp + wy + 1) * wp);
                let (gr, pr, ar) = (&gp[row.clone()], &pooled[row.clone()], &argmax[row]);
                // Entries in the first input row go straight to `items`, the others to their
                // row's bucket; with k = 2 one bucket, its count in a register (a count in
                // memory made each window wait for the last one's store).
                let (mut first, mut second) = (0, 0);
                counts.fill(0);
                for ((&v, &p), &at) in gr.iter().zip(pr).zip(ar) {
                    let (at, rel) = (at as usize, (at as usize).wrapping_sub(lo));
                    // In this row of windows (so inside channel o's plane: the position is below `plane`).
                    let keep = (rel < k * w) & (p > 0.0) & (v != 0.0);
                    let (entry, low) = ((at.wrapping_sub(base) as u32, v), rel < w);
                    // Each count is below the windows seen so far, so every write is in bounds.
                    items[n + first] = entry;
                    first += (keep & low) as usize;
                    if k == 2 {
                        buckets[second] = entry;
                        second += (keep & !low) as usize;
                    } else {
                        let dy = (rel / w).clamp(1, k.max(2) - 1);
                        buckets[(dy - 1) * wp + counts[dy - 1]] = entry;
                        counts[dy - 1] += (keep & !low) as usize;
                    }
                }
                n += first;
                if k == 2 {
                    counts[0] = second;
                }
                for (bucket, &count) in buckets.chunks_exact(wp).zip(counts.iter()) {
                    items[n..n + count].copy_from_slice(&bucket[..count]);
                    n += count;
                }
            }
            self.ends.push(n);
        }
        self.items.truncate(n);
    }
}

/// `Σ_q g[o][q]` of one channel's entries in the order a dense row of `positions` is summed
/// (eight running sums over the whole blocks of eight, then the rest: a bias gradient over 576
/// positions in one sum in order is a chain of dependent additions the page cannot vectorise).
pub(crate) fn bias_grad(items: &[(u32, f32)], positions: usize) -> f32 {
    let full = positions / 8 * 8;
    let (mut acc, mut tail) = ([0.0f32; 8], 0.0f32);
    for &(q, v) in items {
        let q = q as usize;
        if q < full {
            acc[q % 8] += v;
        } else {
            tail += v;
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `Σ_(q, v) v · panel p at row q` for panels `first..first + P` (each `positions` rows of 8).
#[inline(always)]
fn sums<const P: usize>(terms: &[(u32, f32)], panels: &[f32], positions: usize, first: usize) -> [[f32; NR]; P] {
    // Every q < positions (Entries' guarantee), so each row read lies inside `panels`.
    assert!((first + P) * positions * NR <= panels.len());
    let base = panels[first * positions * NR..].as_ptr();
    let mut acc = [[0.0f32; NR]; P];
    for &(q, v) in terms {
        for (p, acc) in acc.iter_mut().enumerate() {
            // SAFETY: panel first + p's row q lies inside `panels` (asserted above, q < positions);
            // the bounds checks of a slice per panel and term were a third of this loop's work.
            let row = unsafe { &*(base.add((p * positions + q as usize) * NR) as *const [f32; NR]) };
            for i in 0..NR {
                acc[i] += v * row[i];
            }
        }
    }
    acc
}

/// `dw [O, C·k·k] += g · patches(x)ᵀ` for one sample `x` (`[C, H, W]`) over `e`'s entries.
/// `panels` is the caller's buffer.
pub(crate) fn weight_grad(e: &Entries, x: &[f32], s: Shape, k: usize, panels: &mut Vec<f32>, dw: &mut [f32]) {
    let (ho, wo) = output_size(s, k);
    let (fan_in, positions) = (s.channels * k * k, ho * wo);
    assert!(e.positions == positions && dw.len() == e.channels() * fan_in);
    let count = fan_in.div_ceil(NR);
    panels.resize(count * positions * NR, 0.0);
    for (p, panel) in panels.chunks_exact_mut(positions * NR).enumerate() {
        fill_patches_t(x, s, k, p * NR, NR.min(fan_in - p * NR), panel);
    }
    for (o, dwo) in dw.chunks_exact_mut(fan_in).enumerate() {
        let terms = e.channel(o);
        let mut add = |first: usize, acc: &[[f32; NR]]| {
            for (d, v) in dwo.iter_mut().skip(first * NR).zip(acc.iter().flatten()) {
                *d += v;
            }
        };
        let mut first = 0;
        while first + GROUP <= count {
            add(first, &sums::<GROUP>(terms, panels, positions, first));
            first += GROUP;
        }
        for p in first..count {
            add(p, &sums::<1>(terms, panels, positions, p));
        }
    }
}

/// Input channels padded to whole blocks of [`LANES`].
fn padded_channels(channels: usize) -> usize {
    channels.div_ceil(LANES) * LANES
}

/// `weight [O, C, k, k]` as `[O, k·k, Cp]` (the channels of each tap contiguous, padded with
/// zeros to [`padded_channels`]), for [`input_grad`]; once per backward.
pub(crate) fn taps(weight: &[f32], outputs: usize, channels: usize, k: usize, out: &mut Vec<f32>) {
    let (kk, cp) = (k * k, padded_channels(channels));
    out.clear();
    out.resize(outputs * kk * cp, 0.0);
    for (i, &w) in weight[..outputs * channels * kk].iter().enumerate() {
        let (o, c, t) = (i / (channels * kk), i / kk % channels, i % kk);
        out[(o * kk + t) * cp + c] = w;
    }
}

/// Scratch of [`input_grad`], kept by the caller between samples.
#[derive(Debug, Default)]
pub(crate) struct InputGradScratch {
    /// The entries grouped by position (channels ascending within one), position q's from `starts[q]`.
    by_position: Vec<(u32, f32)>,
    starts: Vec<usize>,
    cursor: Vec<usize>,
    /// The gradient being summed, pixel-major: `[H·W, Cp]`.
    pixels: Vec<f32>,
}

/// `Σ_(o, v) v · taps[o·o_stride + at + t·cp ..][..LANES]` for taps `t < T`, over `terms` in order from +0.0.
#[inline(always)]
fn tap_sums<const T: usize>(terms: &[(u32, f32)], taps: &[f32], o_stride: usize, at: usize, cp: usize) -> [[f32; LANES]; T] {
    // With every o below taps.len() / o_stride (input_grad asserts it), each read lies in `taps`.
    assert!(at + (T - 1) * cp + LANES <= o_stride);
    let mut acc = [[0.0f32; LANES]; T];
    for &(o, v) in terms {
        // SAFETY: o·o_stride + at + t·cp + LANES ≤ (o + 1)·o_stride ≤ taps.len() (asserted above and in input_grad).
        let base = unsafe { taps.as_ptr().add(o as usize * o_stride + at) };
        for (t, acc) in acc.iter_mut().enumerate() {
            let w = unsafe { &*(base.add(t * cp) as *const [f32; LANES]) };
            for i in 0..LANES {
                acc[i] += v * w[i];
            }
        }
    }
    acc
}

/// `pixels[at + t·cp ..][..LANES] += sums[t]`.
#[inline(always)]
fn add_taps<const T: usize>(pixels: &mut [f32], at: usize, cp: usize, sums: &[[f32; LANES]; T]) {
    for (t, s) in sums.iter().enumerate() {
        let d: &mut [f32; LANES] = (&mut pixels[at + t * cp..][..LANES]).try_into().expect("LANES floats");
        for i in 0..LANES {
            d[i] += s[i];
        }
    }
}

/// The input gradient `dx [C, H, W]` (overwritten) of one sample from its output gradient's
/// entries `e` and the weight as [`taps`] laid it out: col2im of `Wᵀ · g`, each pixel's terms
/// added in col2im's order (see the module doc).
pub(crate) fn input_grad(taps: &[f32], e: &Entries, s: Shape, k: usize, scratch: &mut InputGradScratch, dx: &mut [f32]) {
    let (ho, wo) = output_size(s, k);
    let (positions, cp, outputs) = (ho * wo, padded_channels(s.channels), e.channels());
    let o_stride = k * k * cp;
    assert!(taps.len() == outputs * o_stride && e.positions == positions && dx.len() == s.len());
    let InputGradScratch { by_position, starts, cursor, pixels } = scratch;
    // A counting sort by position, stable: each position's channels stay ascending.
    starts.clear();
    starts.resize(positions + 1, 0);
    for &(q, _) in &e.items {
        starts[q as usize + 1] += 1;
    }
    for q in 0..positions {
        starts[q + 1] += starts[q];
    }
    cursor.clear();
    cursor.extend_from_slice(&starts[..positions]);
    by_position.clear();
    by_position.resize(e.items.len(), (0, 0.0));
    for o in 0..outputs {
        for &(q, v) in e.channel(o) {
            by_position[cursor[q as usize]] = (o as u32, v);
            cursor[q as usize] += 1;
        }
    }
    pixels.clear();
    pixels.resize(s.height * s.width * cp, 0.0);
    for q in (0..positions).rev() {
        let terms = &by_position[starts[q]..starts[q + 1]];
        if terms.is_empty() {
            continue;
        }
        let (oy, ox) = (q / wo, q % wo);
        for ky in 0..k {
            let row = ((oy + ky) * s.width + ox) * cp;
            for cb in (0..cp).step_by(LANES) {
                let mut kx = 0;
                while kx + 4 <= k {
                    add_taps(pixels, row + kx * cp + cb, cp, &tap_sums::<4>(terms, taps, o_stride, (ky * k + kx) * cp + cb, cp));
                    kx += 4;
                }
                for kx in kx..k {
                    add_taps(pixels, row + kx * cp + cb, cp, &tap_sums::<1>(terms, taps, o_stride, (ky * k + kx) * cp + cb, cp));
                }
            }
        }
    }
    let plane = s.height * s.width;
    for (p, px) in pixels.chunks_exact(cp).enumerate() {
        for (c, &v) in px[..s.channels].iter().enumerate() {
            dx[c * plane + p] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The three gradients by their definitions over a dense `g [O, P]`, every term in order
    /// from +0.0 (the dense products' sums): the bias in a dense row's eight running sums, the
    /// weight gradient's sum over positions, the input gradient's patch-row sums over channels
    /// added into zeros in col2im's order (patch rows, then positions).
    fn definitions(g: &[f32], x: &[f32], w: &[f32], s: Shape, k: usize, outputs: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (ho, wo) = output_size(s, k);
        let (fan_in, positions) = (s.channels * k * k, ho * wo);
        let patch = |l: usize, q: usize| x[(l / (k * k) * s.height + q / wo + l / k % k) * s.width + q % wo + l % k];
        let bias = g
            .chunks_exact(positions)
            .map(|row| {
                let mut acc = [0.0f32; 8];
                let full = positions / 8 * 8;
                for (q, &v) in row[..full].iter().enumerate() {
                    acc[q % 8] += v;
                }
                let tail = row[full..].iter().fold(0.0f32, |a, &v| a + v);
                ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
            })
            .collect();
        let dw = (0..outputs * fan_in)
            .map(|i| (0..positions).fold(0.0f32, |acc, q| acc + g[i / fan_in * positions + q] * patch(i % fan_in, q)))
            .collect();
        let mut dx = vec![0.0f32; s.len()];
        for l in 0..fan_in {
            let (c, ky, kx) = (l / (k * k), l / k % k, l % k);
            for q in 0..positions {
                let sum = (0..outputs).fold(0.0f32, |acc, o| acc + w[o * fan_in + l] * g[o * positions + q]);
                dx[(c * s.height + q / wo + ky) * s.width + q % wo + kx] += sum;
            }
        }
        (bias, dw, dx)
    }

    fn same_bits(what: &str, ours: &[f32], expected: &[f32]) {
        assert_eq!(ours.len(), expected.len(), "{what}: length");
        for (i, (a, b)) in ours.iter().zip(expected).enumerate() {
            assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{what} [{i}]: {a} against {b}");
        }
    }

    /// Bias, weight and input gradients from a scanned dense gradient equal their definitions bit
    /// for bit, at densities from all zeros to all nonzero, with ±0 gradients, on shapes whose
    /// patch rows are and are not multiples of 8 and 24 (whole groups of panels), channels below,
    /// at and above a block of eight, kernels below and above four taps, positions that are and
    /// are not whole blocks of eight.
    #[test]
    fn the_sparse_gradients_equal_their_definitions_bit_for_bit() {
        let mut rng = SplitMix64::new(7);
        for (channels, height, width, k, outputs) in [
            (1, 28, 28, 5, 8),
            (8, 12, 12, 5, 16),
            (3, 7, 9, 3, 5),
            (2, 5, 6, 2, 9),
            (1, 4, 4, 4, 3),
            (5, 9, 9, 4, 2),
            (2, 6, 6, 4, 2),
            (10, 6, 7, 1, 3),
            (9, 8, 6, 6, 4),
        ] {
            for density in [0.0, 0.1, 0.25, 0.6, 1.0] {
                let s = Shape { channels, height, width };
                let (ho, wo) = output_size(s, k);
                let (fan_in, positions) = (channels * k * k, ho * wo);
                let mut draw = |n: usize| (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect::<Vec<f32>>();
                let (x, w) = (draw(s.len()), draw(outputs * fan_in));
                let signed_zero = |v: f32| if v < 0.0 { -0.0 } else { 0.0 };
                let g: Vec<f32> =
                    draw(outputs * positions).into_iter().map(|v| if (v + 1.0) / 2.0 < density { v } else { signed_zero(v) }).collect();
                let (bias, dw, dx) = definitions(&g, &x, &w, s, k, outputs);
                let what = format!("{channels}×{height}×{width}, k {k}, {outputs} outputs, density {density}");

                let mut e = Entries::default();
                e.scan(&g, positions);
                let ours: Vec<f32> = (0..outputs).map(|o| bias_grad(e.channel(o), positions)).collect();
                same_bits(&format!("bias gradient, {what}"), &ours, &bias);
                let mut ours = vec![0.5f32; outputs * fan_in];
                weight_grad(&e, &x, s, k, &mut Vec::new(), &mut ours);
                let expected: Vec<f32> = dw.iter().map(|v| 0.5 + v).collect();
                same_bits(&format!("weight gradient, {what}"), &ours, &expected);
                let (mut t, mut ours) = (Vec::new(), vec![f32::NAN; s.len()]);
                taps(&w, outputs, channels, k, &mut t);
                input_grad(&t, &e, s, k, &mut InputGradScratch::default(), &mut ours);
                same_bits(&format!("input gradient, {what}"), &ours, &dx);
            }
        }
    }

    /// Non-finite gradients are entries like any other nonzero (NaN and ±Inf reach every sum
    /// they are in), and the results still equal the definitions where the other operand is finite.
    #[test]
    fn non_finite_gradients_are_kept() {
        let s = Shape { channels: 2, height: 4, width: 5 };
        let (k, outputs) = (2, 3);
        let positions = 3 * 4;
        let mut rng = SplitMix64::new(11);
        let x: Vec<f32> = (0..s.len()).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let w: Vec<f32> = (0..outputs * 8).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let mut g = vec![0.0f32; outputs * positions];
        (g[1], g[5], g[14], g[30]) = (f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.25);
        let (bias, dw, dx) = definitions(&g, &x, &w, s, k, outputs);
        let mut e = Entries::default();
        e.scan(&g, positions);
        assert_eq!(e.items.len(), 4);
        let ours: Vec<f32> = (0..outputs).map(|o| bias_grad(e.channel(o), positions)).collect();
        same_bits("bias", &ours, &bias);
        let mut ours = vec![0.0f32; outputs * 8];
        weight_grad(&e, &x, s, k, &mut Vec::new(), &mut ours);
        same_bits("weight", &ours, &dw);
        let (mut t, mut ours) = (Vec::new(), vec![0.0; s.len()]);
        taps(&w, outputs, 2, k, &mut t);
        input_grad(&t, &e, s, k, &mut InputGradScratch::default(), &mut ours);
        same_bits("input", &ours, &dx);
    }

    /// The entries read from a pool's argmax and output are the nonzeros of the dense gradient
    /// the pool and ReLU backward would write (zeros, the window's gradient added at its argmax,
    /// zeroed where the ReLU's mask is off), in the same order: NaNs, ±0 and masked argmaxes,
    /// pools of 1, 2 and 3 with dropped borders.
    #[test]
    fn pooled_entries_are_the_dense_gradients_nonzeros() {
        let mut rng = SplitMix64::new(13);
        for (channels, height, width, k) in [(8, 24, 24, 2), (3, 7, 9, 2), (2, 9, 8, 3), (1, 2, 2, 2), (4, 5, 5, 1)] {
            let s = Shape { channels, height, width };
            let (hp, wp) = (height / k, width / k);
            let values = [0.0, -0.0, 0.5, -1.5, f32::NAN, f32::INFINITY];
            let gp: Vec<f32> = (0..channels * hp * wp).map(|_| values[(rng.next_u64() % 6) as usize]).collect();
            let mask: Vec<bool> = (0..s.len()).map(|_| rng.next_u64() % 3 != 0).collect();
            // Each window's argmax: any of its k×k pixels.
            let argmax: Vec<u32> = (0..gp.len())
                .map(|i| {
                    let (c, wy, wx) = (i / (hp * wp), i / wp % hp, i % wp);
                    let (dy, dx) = ((rng.next_u64() % k as u64) as usize, (rng.next_u64() % k as u64) as usize);
                    ((c * height + k * wy + dy) * width + k * wx + dx) as u32
                })
                .collect();
            let mut dense = vec![0.0f32; s.len()];
            for (&v, &at) in gp.iter().zip(&argmax) {
                dense[at as usize] += v;
            }
            for (v, &m) in dense.iter_mut().zip(&mask) {
                *v = if m { *v } else { 0.0 };
            }
            // The pooled values: the ReLU's output at each argmax, positive where the mask passed.
            let outputs = [0.0, 0.25, 7.0];
            let pooled_values: Vec<f32> =
                argmax.iter().map(|&at| if mask[at as usize] { outputs[1 + (rng.next_u64() % 2) as usize] } else { outputs[0] }).collect();
            let (mut pooled, mut scanned) = (Entries::default(), Entries::default());
            pooled.pooled(&gp, &pooled_values, &argmax, s, k);
            scanned.scan(&dense, height * width);
            assert_eq!(pooled.ends, scanned.ends, "{channels}×{height}×{width}, pool {k}");
            for (a, b) in pooled.items.iter().zip(&scanned.items) {
                assert!(a.0 == b.0 && (a.1.to_bits() == b.1.to_bits() || a.1.is_nan() && b.1.is_nan()), "{a:?} against {b:?}");
            }
        }
    }
}

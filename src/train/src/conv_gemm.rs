//! The conv net's forward convolution, per sample, as a GEMM on quantscope-gemm's panel kernel
//! ([`gemm_f32_panels`]: a 4×8 register tile in SIMD128 in the page), which never stores a patch
//! matrix: each `fill` writes the patches of eight columns straight into the 8-column panel the
//! micro-kernel streams, so they stay in L1. Stride 1, no padding; patch row
//! `l = (c·k + ky)·k + kx` and output position `q = oy·Wo + ox`, torch's `unfold` order
//! (aten/src/ATen/native/ConvolutionMM2d.cpp, whose `slow_conv2d` does the same product on an
//! explicit im2col matrix): `Y [O, P] = W [O, C·k·k] · patches [C·k·k, P] + b` ([`forward`]).
//! The backward's products run over the output gradient's nonzeros (`conv_sparse.rs`), on the
//! transposed patch panels [`fill_patches_t`] writes.
//!
//! Each sum runs over its index in order in one accumulator (see the gemm crate's exactness
//! note), which is another order than torch's, within the fixtures' tolerance
//! (`tests/torch_conv.rs`).

use quantscope_gemm::{gemm_f32_panels, NR};

/// A feature map's shape per sample: channels × height × width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Shape {
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Output height and width of a k×k convolution over `s` (stride 1, no padding).
pub(crate) fn output_size(s: Shape, k: usize) -> (usize, usize) {
    (s.height - k + 1, s.width - k + 1)
}

/// `out [O, P] = weight [O, C·k·k] · patches(x) + bias` for one sample `x` (`[C, H, W]`).
pub(crate) fn forward(weight: &[f32], bias: &[f32], x: &[f32], s: Shape, k: usize, out: &mut [f32]) {
    let (ho, wo) = output_size(s, k);
    let (outputs, positions) = (bias.len(), ho * wo);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if wo % NR == 0 {
        return direct::forward(weight, bias, x, s, k, out);
    }
    gemm_f32_panels(
        outputs,
        s.channels * k * k,
        positions,
        weight,
        |p, cols, panel| fill_patches(x, s, k, p * NR, cols, panel),
        |c, j0, cols| {
            for (row, &b) in c.chunks_exact_mut(positions).zip(bias) {
                row[j0..j0 + cols].iter_mut().for_each(|v| *v += b);
            }
        },
        out,
    );
}

/// [`forward`] when each output row is whole blocks of eight positions (the digits' convs: Wo =
/// 24 and 8): the gemm crate's 4×8 tile with its B operand read straight from the input rows
/// (eight positions of one output row are eight consecutive pixels of each patch row's input
/// row), so no panel is filled (filling them was about 10 % of an FP32 conv net step in the
/// page). The same sums as the GEMM's: each from +0.0 over the patch rows in order, `acc + a·b`
/// rounded twice, then the bias added.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod direct {
    use super::{output_size, Shape, NR};
    use core::arch::wasm32::*;

    pub(super) fn forward(weight: &[f32], bias: &[f32], x: &[f32], s: Shape, k: usize, out: &mut [f32]) {
        let (ho, wo) = output_size(s, k);
        let (outputs, fan_in, positions) = (bias.len(), s.channels * k * k, ho * wo);
        // Patch row (c, ky, kx) at output (oy, ox) reads x[c·H·W + (oy + ky)·W + ox + kx ..][..8],
        // which ends by the sample's end when ox + 8 ≤ Wo (asserted: Wo is whole blocks of 8).
        assert!(wo % NR == 0 && weight.len() >= outputs * fan_in && x.len() >= s.len() && out.len() >= outputs * positions);
        let full = outputs / 4 * 4;
        for oy in 0..ho {
            for ox in (0..wo).step_by(NR) {
                let q = oy * wo + ox;
                // SAFETY: rows o..o + R of the weight lie inside it (o + R ≤ outputs) and every
                // input read is inside x (see above).
                unsafe {
                    let xq = x.as_ptr().add(oy * s.width + ox);
                    for o in (0..full).step_by(4) {
                        store::<4>(&tile::<4>(weight.as_ptr().add(o * fan_in), fan_in, xq, s, k), bias, o, out, positions, q);
                    }
                    for o in full..outputs {
                        store::<1>(&tile::<1>(weight.as_ptr().add(o * fan_in), fan_in, xq, s, k), bias, o, out, positions, q);
                    }
                }
            }
        }
    }

    /// Rows `w..w + R` (row stride `fan_in`) against the eight positions whose patches start at `x`.
    #[inline(always)]
    unsafe fn tile<const R: usize>(w: *const f32, fan_in: usize, x: *const f32, s: Shape, k: usize) -> [[v128; 2]; R] {
        let mut acc = [[f32x4_splat(0.0); 2]; R];
        let mut l = 0;
        for c in 0..s.channels {
            for ky in 0..k {
                let row = x.add((c * s.height + ky) * s.width);
                for kx in 0..k {
                    let b0 = v128_load(row.add(kx) as *const v128);
                    let b1 = v128_load(row.add(kx + 4) as *const v128);
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let a = v128_load32_splat(w.add(r * fan_in + l) as *const u32);
                        acc[0] = f32x4_add(acc[0], f32x4_mul(a, b0));
                        acc[1] = f32x4_add(acc[1], f32x4_mul(a, b1));
                    }
                    l += 1;
                }
            }
        }
        acc
    }

    /// The tile plus each row's bias into `out [O, P]` at rows `o..`, positions `q..q + 8`.
    #[inline(always)]
    fn store<const R: usize>(acc: &[[v128; 2]; R], bias: &[f32], o: usize, out: &mut [f32], positions: usize, q: usize) {
        for (r, acc) in acc.iter().enumerate() {
            let b = f32x4_splat(bias[o + r]);
            let dst = &mut out[(o + r) * positions + q..][..NR];
            // SAFETY: eight writable floats.
            unsafe {
                v128_store(dst.as_mut_ptr() as *mut v128, f32x4_add(acc[0], b));
                v128_store(dst.as_mut_ptr().add(4) as *mut v128, f32x4_add(acc[1], b));
            }
        }
    }
}

/// Panel of positions `q0..q0+cols`: `panel[8·l + j] = patch l at position q0 + j`. Eight
/// positions within one output row are a contiguous run of each input row (the digits' convs:
/// Wo = 24 and 8), copied as one 8-float block.
fn fill_patches(x: &[f32], s: Shape, k: usize, q0: usize, cols: usize, panel: &mut [f32]) {
    let (_, wo) = output_size(s, k);
    let (oy, ox) = (q0 / wo, q0 % wo);
    let plane = s.height * s.width;
    let one_row = ox + cols <= wo;
    let mut rows = panel.chunks_exact_mut(NR);
    for c in 0..s.channels {
        let x = &x[c * plane..(c + 1) * plane];
        for ky in 0..k {
            for kx in 0..k {
                let dst = rows.next().expect("the panel has C·k·k rows");
                if one_row && cols == NR {
                    copy8(dst, &x[(oy + ky) * s.width + ox + kx..]);
                } else if one_row {
                    dst[..cols].copy_from_slice(&x[(oy + ky) * s.width + ox + kx..][..cols]);
                } else {
                    for (j, d) in dst[..cols].iter_mut().enumerate() {
                        let q = q0 + j;
                        *d = x[(q / wo + ky) * s.width + q % wo + kx];
                    }
                }
            }
        }
    }
}

/// Panel of patch rows `l0..l0+cols` of the transposed patches: `panel[8·q + j] = patch l0 + j
/// at position q`, each patch row a strided copy of its input window.
pub(crate) fn fill_patches_t(x: &[f32], s: Shape, k: usize, l0: usize, cols: usize, panel: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if output_size(s, k).1 % 4 == 0 {
        return simd128::fill_patches_t(x, s, k, l0, panel);
    }
    fill_patches_t_scalar(x, s, k, l0, cols, panel)
}

/// [`fill_patches_t`] one float at a time (a lane past `cols` is left as it was: never read into C).
fn fill_patches_t_scalar(x: &[f32], s: Shape, k: usize, l0: usize, cols: usize, panel: &mut [f32]) {
    let (ho, wo) = output_size(s, k);
    for j in 0..cols {
        let window = &x[window_offset(s, k, l0 + j)..];
        let mut at = j;
        for oy in 0..ho {
            for &v in &window[oy * s.width..][..wo] {
                panel[at] = v;
                at += NR;
            }
        }
    }
}

/// The first eight floats of `src` into `dst`, as arrays: a copy of a known 32 bytes is two
/// vector loads and stores, where a slice copy of a runtime length is a `memory.copy` call.
#[inline(always)]
fn copy8(dst: &mut [f32], src: &[f32]) {
    let dst: &mut [f32; NR] = (&mut dst[..NR]).try_into().expect("eight floats");
    *dst = src[..NR].try_into().expect("eight floats");
}

/// Offset in a sample's input of the window of patch row `l`: `(c, ky, kx)` at output (0, 0).
fn window_offset(s: Shape, k: usize, l: usize) -> usize {
    let (c, ky, kx) = (l / (k * k), l / k % k, l % k);
    c * s.height * s.width + ky * s.width + kx
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use super::{output_size, window_offset, Shape, NR};
    use core::arch::wasm32::*;
    use quantscope_gemm::transpose4;

    /// [`super::fill_patches_t`] when Wo is a multiple of 4: four positions of the eight patch
    /// rows at a time, as eight 4-float loads (one per window) and two 4×4 transposes into the
    /// panel's four 8-float rows: 16 vector loads and stores for what the scalar loop does in 64
    /// (that loop was 13 % of an FP32 conv net step in the page). Lanes past the last patch row
    /// repeat it, which keeps their loads inside `x`; they are never read into C.
    pub(super) fn fill_patches_t(x: &[f32], s: Shape, k: usize, l0: usize, panel: &mut [f32]) {
        let (ho, wo) = output_size(s, k);
        let last = s.channels * k * k - 1;
        let offsets: [usize; NR] = core::array::from_fn(|j| window_offset(s, k, (l0 + j).min(last)));
        assert!(offsets.iter().all(|&o| o + (ho - 1) * s.width + wo <= x.len()) && panel.len() >= NR * ho * wo);
        let mut dst = panel.as_mut_ptr() as *mut v128;
        for oy in 0..ho {
            for ox in (0..wo).step_by(4) {
                let at = oy * s.width + ox;
                // SAFETY: each window's row oy spans wo ≤ W floats from offset + oy·W, inside x
                // (asserted); ox + 4 ≤ wo. The panel holds 8·Ho·Wo floats, two vectors per position.
                unsafe {
                    let v: [v128; NR] = core::array::from_fn(|j| v128_load(x.as_ptr().add(offsets[j] + at) as *const v128));
                    let lo = transpose4([v[0], v[1], v[2], v[3]]);
                    let hi = transpose4([v[4], v[5], v[6], v[7]]);
                    for i in 0..4 {
                        v128_store(dst, lo[i]);
                        v128_store(dst.add(1), hi[i]);
                        dst = dst.add(2);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The forward product by its definition, each sum over its index in order from 0 (as the
    /// GEMM sums), so the kernel (the SIMD128 fill and micro-kernel in the page) must equal it bit
    /// for bit: output widths that are and are not multiples of 4 and 8 (in the page, 8 takes the
    /// direct kernel), one and several channels, outputs in and beyond whole blocks of four.
    #[test]
    fn the_forward_equals_its_definition_bit_for_bit() {
        let mut rng = SplitMix64::new(5);
        for (channels, height, width, k, outputs) in
            [(1, 28, 28, 5, 8), (8, 12, 12, 5, 16), (3, 7, 9, 3, 5), (2, 5, 6, 2, 9), (1, 4, 4, 4, 3), (3, 10, 18, 3, 7), (2, 8, 8, 1, 2)]
        {
            let s = Shape { channels, height, width };
            let (ho, wo) = output_size(s, k);
            let (fan_in, positions) = (channels * k * k, ho * wo);
            let mut draw = |n: usize| (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect::<Vec<f32>>();
            let (x, w, b) = (draw(s.len()), draw(outputs * fan_in), draw(outputs));
            let patch = |l: usize, q: usize| x[window_offset(s, k, l) + q / wo * width + q % wo];
            let what = format!("{channels}×{height}×{width}, k {k}, {outputs} outputs");

            let mut out = vec![f32::NAN; outputs * positions];
            forward(&w, &b, &x, s, k, &mut out);
            for (o, row) in out.chunks_exact(positions).enumerate() {
                for (q, &v) in row.iter().enumerate() {
                    let sum = (0..fan_in).fold(0.0f32, |acc, l| acc + w[o * fan_in + l] * patch(l, q));
                    assert_eq!(v.to_bits(), (sum + b[o]).to_bits(), "forward [{o}][{q}], {what}");
                }
            }
        }
    }
}

//! The conv net's three convolution products, per sample, as GEMMs on quantscope-gemm's panel
//! kernel ([`gemm_f32_panels`]: a 4×8 register tile in SIMD128 in the page), which never stores a
//! patch matrix: each `fill` writes the patches (or gradients) of eight columns straight into the
//! 8-column panel the micro-kernel streams, so they stay in L1. Stride 1, no padding; patch row
//! `l = (c·k + ky)·k + kx` and output position `q = oy·Wo + ox`, torch's `unfold` order
//! (aten/src/ATen/native/ConvolutionMM2d.cpp, whose `slow_conv2d` does the same three products on
//! an explicit im2col matrix):
//!
//! - forward: `Y [O, P] = W [O, C·k·k] · patches [C·k·k, P] + b` ([`forward`]);
//! - weight gradient: `dW [O, C·k·k] += dY [O, P] · patchesᵀ [P, C·k·k]` ([`weight_grad`]);
//! - input gradient: `dcols [C·k·k, P] = Wᵀ · dY`, then col2im ([`cols_grad`]).
//!
//! Each sum runs over its index in order in one accumulator (see the gemm crate's exactness
//! note), which is another order than torch's, within the fixtures' tolerance
//! (`tests/torch_conv.rs`).
//!
//! Measured in the page (`node scripts/bench-train.mjs`, batch 64, Adam) against the im2col
//! loops this replaces (row AXPYs four at a time, the weight gradient as dot products): see the
//! README's Train section for the figures.

use crate::conv::Shape;
use quantscope_gemm::{gemm_f32_panels, NR};

/// Output height and width of a k×k convolution over `s` (stride 1, no padding).
fn output_size(s: Shape, k: usize) -> (usize, usize) {
    (s.height - k + 1, s.width - k + 1)
}

/// `out [O, P] = weight [O, C·k·k] · patches(x) + bias` for one sample `x` (`[C, H, W]`).
pub(crate) fn forward(weight: &[f32], bias: &[f32], x: &[f32], s: Shape, k: usize, out: &mut [f32]) {
    let (ho, wo) = output_size(s, k);
    let (outputs, positions) = (bias.len(), ho * wo);
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
                    let src: &[f32; NR] = x[(oy + ky) * s.width + ox + kx..][..NR].try_into().expect("eight floats");
                    dst.copy_from_slice(src);
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

/// `dw [O, C·k·k] += g [O, P] · patches(x)ᵀ` for one sample; `scratch` holds the sample's
/// product (kept by the caller between samples: no allocation per sample).
pub(crate) fn weight_grad(g: &[f32], x: &[f32], s: Shape, k: usize, scratch: &mut Vec<f32>, dw: &mut [f32]) {
    let (ho, wo) = output_size(s, k);
    let (fan_in, positions) = (s.channels * k * k, ho * wo);
    let outputs = dw.len() / fan_in;
    scratch.resize(outputs * fan_in, 0.0);
    gemm_f32_panels(outputs, positions, fan_in, g, |p, cols, panel| fill_patches_t(x, s, k, p * NR, cols, panel), |_, _, _| {}, scratch);
    dw.iter_mut().zip(scratch.iter()).for_each(|(d, v)| *d += v);
}

/// Panel of patch rows `l0..l0+cols` of the transposed patches: `panel[8·q + j] = patch l0 + j
/// at position q`, each patch row a strided copy of its input window.
fn fill_patches_t(x: &[f32], s: Shape, k: usize, l0: usize, cols: usize, panel: &mut [f32]) {
    let (ho, wo) = output_size(s, k);
    for j in 0..cols {
        let l = l0 + j;
        let (c, ky, kx) = (l / (k * k), l / k % k, l % k);
        let window = &x[c * s.height * s.width + ky * s.width + kx..];
        let mut at = j;
        for oy in 0..ho {
            for &v in &window[oy * s.width..][..wo] {
                panel[at] = v;
                at += NR;
            }
        }
    }
}

/// `dcols [C·k·k, P] = weight_t [C·k·k, O] · g [O, P]` for one sample (`weight_t`: the weight
/// transposed once per backward).
pub(crate) fn cols_grad(weight_t: &[f32], outputs: usize, g: &[f32], dcols: &mut Vec<f32>) {
    let fan_in = weight_t.len() / outputs;
    let positions = g.len() / outputs;
    dcols.resize(fan_in * positions, 0.0);
    let fill = |p: usize, cols: usize, panel: &mut [f32]| {
        for (dst, row) in panel.chunks_exact_mut(NR).zip(g.chunks_exact(positions)) {
            dst[..cols].copy_from_slice(&row[p * NR..][..cols]);
        }
    };
    gemm_f32_panels(fan_in, outputs, positions, weight_t, fill, |_, _, _| {}, dcols);
}

/// `[rows, cols]` → `[cols, rows]`.
pub(crate) fn transpose(a: &[f32], rows: usize, cols: usize, out: &mut Vec<f32>) {
    out.resize(rows * cols, 0.0);
    for (r, row) in a.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            out[c * rows + r] = v;
        }
    }
}

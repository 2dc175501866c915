//! The backward's two convolution products over only the nonzero entries of the output
//! gradient. Behind a `MaxPool2d(2)` three of every four conv outputs get no gradient (the pool
//! passes it to its window's maximum only) and the ReLU zeroes more: the digits' net's conv layers
//! see 11–20 % nonzeros, and the dense products ([`crate::conv_gemm`]) spend the rest of their
//! multiply-adds on zeros.
//!
//! - weight gradient ([`weight_grad`]): `dW [O, L] += Σ_q dY[o][q] · patches[·][q]`, for each
//!   output channel `o` over its nonzero `q` in order, each adding the patch at `q` (eight patch
//!   rows per panel, as the dense product's panels hold them: `conv_gemm::fill_patches_t`, filled
//!   once per sample) to 24 running sums at a time;
//! - input gradient ([`cols_grad`]): `dcols [L, P] = Wᵀ · dY`, for each position `q` over its
//!   nonzero `o` in order (the weight's rows, padded), into `[P, L]`, then transposed for col2im.
//!
//! Exactness: each sum runs over the same index in the same order as the dense product (from
//! +0.0), leaving out the terms whose gradient is exactly 0. With finite inputs each such term is
//! ±0, and adding ±0 to a sum that started at +0 leaves it unchanged bit for bit, so the results
//! equal the dense products' (the test below holds them to it). A non-finite input times a 0 would
//! be NaN in the dense sum and is left out here: the run has diverged by then and stops.
//!
//! The running sums are arrays the compiler keeps in SIMD128 registers, one `f32x4.mul` and
//! `f32x4.add` per four terms (no fused multiply-add: see the gemm crate's exactness note).
//!
//! Measured (Node's V8, CPU time of 300 interleaved steps, the conv net FP32 at batch 64): main's
//! dense products 157–160 steps/s; the sparse weight gradient alone 171, with the sparse input
//! gradient 176–177. Batching the forward's 64 per-sample products into one (the weight packed
//! once) measured slower (155 against 162: its 1.2 MB product did not stay in cache) and is not done.

use crate::conv_gemm::{self, fill_patches_t, output_size, Shape};
use quantscope_gemm::NR;

/// Panels (8 sums each, two SIMD128 vectors) summed per pass over the terms: three keep the six
/// running sums, six operands and the broadcast term in V8's 15 xmm registers; with four, V8
/// spilled two of them to the stack every term (seen in `node --print-wasm-code`).
const GROUP: usize = 3;

/// The nonzero `(index, value)` of `row` in order into `terms`, branch-free: every entry is
/// written and the count moves past the nonzeros only (a branch per entry, or one per set bit of
/// an 8-entry mask, mispredicted often enough to cost more in the page).
fn nonzeros(row: &[f32], terms: &mut Vec<(u32, f32)>) {
    terms.resize(row.len(), (0, 0.0));
    let mut n = 0;
    for (q, &v) in row.iter().enumerate() {
        terms[n] = (q as u32, v);
        n += (v != 0.0) as usize;
    }
    terms.truncate(n);
}

/// `Σ_(q, v) v · panel p at row q` for panels `first..first + P` (each `positions` rows of 8).
#[inline(always)]
fn sums<const P: usize>(terms: &[(u32, f32)], panels: &[f32], positions: usize, first: usize) -> [[f32; NR]; P] {
    assert!((first + P) * positions * NR <= panels.len() && terms.iter().all(|&(q, _)| (q as usize) < positions));
    let base = panels[first * positions * NR..].as_ptr();
    let mut acc = [[0.0f32; NR]; P];
    for &(q, v) in terms {
        for (p, acc) in acc.iter_mut().enumerate() {
            // SAFETY: panel first + p's row q lies inside `panels` (asserted above); the
            // bounds checks of a slice per panel and term were a third of this loop's work.
            let row = unsafe { &*(base.add((p * positions + q as usize) * NR) as *const [f32; NR]) };
            for i in 0..NR {
                acc[i] += v * row[i];
            }
        }
    }
    acc
}

/// `dw [O, C·k·k] += g [O, P] · patches(x)ᵀ` for one sample `x` (`[C, H, W]`) over `g`'s nonzeros;
/// equal to [`crate::conv_gemm::weight_grad`]. `panels` and `terms` are the caller's buffers.
pub(crate) fn weight_grad(g: &[f32], x: &[f32], s: Shape, k: usize, panels: &mut Vec<f32>, terms: &mut Vec<(u32, f32)>, dw: &mut [f32]) {
    let (ho, wo) = output_size(s, k);
    let (fan_in, positions) = (s.channels * k * k, ho * wo);
    let count = fan_in.div_ceil(NR);
    panels.resize(count * positions * NR, 0.0);
    for (p, panel) in panels.chunks_exact_mut(positions * NR).enumerate() {
        fill_patches_t(x, s, k, p * NR, NR.min(fan_in - p * NR), panel);
    }
    for (go, dwo) in g.chunks_exact(positions).zip(dw.chunks_exact_mut(fan_in)) {
        nonzeros(go, terms);
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

/// A row length padded to whole 8-float blocks (the input gradient's rows).
pub(crate) fn padded(len: usize) -> usize {
    len.div_ceil(NR) * NR
}

/// `weight [O, L]` as rows padded with zeros to `padded(L)`, for [`cols_grad_t`].
pub(crate) fn pad_rows(weight: &[f32], fan_in: usize, out: &mut Vec<f32>) {
    let lp = padded(fan_in);
    out.clear();
    out.resize(weight.len() / fan_in * lp, 0.0);
    for (dst, src) in out.chunks_exact_mut(lp).zip(weight.chunks_exact(fan_in)) {
        dst[..fan_in].copy_from_slice(src);
    }
}

/// `Σ_(o, v) v · rows[o·lp + at ..][..W]` over `terms` in order, from +0.0.
#[inline(always)]
fn row_sums<const W: usize>(terms: &[(u32, f32)], rows: &[f32], lp: usize, at: usize) -> [f32; W] {
    assert!(at + W <= lp && terms.iter().all(|&(o, _)| (o as usize + 1) * lp <= rows.len()));
    let mut acc = [0.0f32; W];
    for &(o, v) in terms {
        // SAFETY: row o's floats at..at + W lie inside `rows` (asserted above).
        let row = unsafe { &*(rows.as_ptr().add(o as usize * lp + at) as *const [f32; W]) };
        for i in 0..W {
            acc[i] += v * row[i];
        }
    }
    acc
}

/// The input gradient's patch rows `dcols [C·k·k, P] = weightᵀ · g` for one sample over `g`'s
/// nonzeros (`weight_p` from [`pad_rows`], `g` `[O, P]`), equal to
/// [`crate::conv_gemm::cols_grad`]: per position `q`, `Σ_o g[o][q] · W[o][·]` over its nonzero
/// `o` in order into row `q` of `dcols_t` (`[P, lp]`, 32 sums at a time), then `dcols_t`
/// transposed into `dcols` (whose first `C·k·k` rows are the result).
pub(crate) fn cols_grad(
    weight_p: &[f32],
    lp: usize,
    outputs: usize,
    g: &[f32],
    terms: &mut Vec<(u32, f32)>,
    dcols_t: &mut Vec<f32>,
    dcols: &mut Vec<f32>,
) {
    let positions = g.len() / outputs;
    dcols_t.resize(positions * lp, 0.0);
    for (q, row) in dcols_t.chunks_exact_mut(lp).enumerate() {
        terms.resize(outputs, (0, 0.0));
        let mut n = 0;
        for o in 0..outputs {
            let v = g[o * positions + q];
            terms[n] = (o as u32, v);
            n += (v != 0.0) as usize;
        }
        terms.truncate(n);
        let mut at = 0;
        while at + GROUP * NR <= lp {
            row[at..at + GROUP * NR].copy_from_slice(&row_sums::<{ GROUP * NR }>(terms, weight_p, lp, at));
            at += GROUP * NR;
        }
        while at < lp {
            row[at..at + NR].copy_from_slice(&row_sums::<NR>(terms, weight_p, lp, at));
            at += NR;
        }
    }
    conv_gemm::transpose(dcols_t, positions, lp, dcols);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The sparse products equal the dense ones bit for bit (which equals its definition:
    /// `conv_gemm`'s test), at densities from all zeros to all nonzero, with ±0 gradients, on
    /// shapes whose patch rows are and are not multiples of 8 and 32 (whole groups of four panels).
    #[test]
    fn the_sparse_products_equal_the_dense_ones_bit_for_bit() {
        let mut rng = SplitMix64::new(7);
        for (channels, height, width, k, outputs) in
            [(1, 28, 28, 5, 8), (8, 12, 12, 5, 16), (3, 7, 9, 3, 5), (2, 5, 6, 2, 9), (1, 4, 4, 4, 3), (5, 9, 9, 4, 2), (2, 6, 6, 4, 2)]
        {
            for density in [0.0, 0.1, 0.25, 0.6, 1.0] {
                let s = Shape { channels, height, width };
                let (ho, wo) = output_size(s, k);
                let (fan_in, positions) = (channels * k * k, ho * wo);
                let mut draw = |n: usize| (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect::<Vec<f32>>();
                let x = draw(s.len());
                let g: Vec<f32> = draw(outputs * positions)
                    .into_iter()
                    .map(|v| {
                        if (v + 1.0) / 2.0 < density {
                            v
                        } else if v < 0.0 {
                            -0.0
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let (mut dense, mut sparse) = (vec![0.5f32; outputs * fan_in], vec![0.5f32; outputs * fan_in]);
                conv_gemm::weight_grad(&g, &x, s, k, &mut Vec::new(), &mut dense);
                weight_grad(&g, &x, s, k, &mut Vec::new(), &mut Vec::new(), &mut sparse);
                let what = format!("{channels}×{height}×{width}, k {k}, {outputs} outputs, density {density}");
                for (i, (a, b)) in dense.iter().zip(&sparse).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "weight gradient [{i}], {what}");
                }

                let w = draw(outputs * fan_in);
                let (mut wt, mut dense) = (Vec::new(), Vec::new());
                conv_gemm::transpose(&w, outputs, fan_in, &mut wt);
                conv_gemm::cols_grad(&wt, outputs, &g, &mut dense);
                let (mut wp, mut sparse) = (Vec::new(), vec![f32::NAN; 3]);
                pad_rows(&w, fan_in, &mut wp);
                cols_grad(&wp, padded(fan_in), outputs, &g, &mut Vec::new(), &mut Vec::new(), &mut sparse);
                for (i, (a, b)) in dense.iter().zip(&sparse[..fan_in * positions]).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "input gradient [{}][{}], {what}", i / positions, i % positions);
                }
            }
        }
    }
}

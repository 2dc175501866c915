//! The conv weight gradient over only the nonzero entries of the output gradient. Behind a
//! `MaxPool2d(2)` three of every four conv outputs get no gradient (the pool passes it to its
//! window's maximum only) and the ReLU zeroes more: the digits' net's conv layers see about a
//! fifth nonzeros, and the dense product ([`crate::conv_gemm::weight_grad`]) spends the rest of
//! its multiply-adds on zeros.
//!
//! `dW [O, L] += Σ_q dY[o][q] · patches[·][q]`: for each output channel `o`, its nonzero `q` in
//! order, each adding the patch at `q` (eight patch rows per panel, as the dense product's panels
//! hold them: `conv_gemm::fill_patches_t`, filled once per sample) to 32 running sums at a time.
//!
//! Exactness: each sum runs over the same index in the same order as the dense product (from
//! +0.0), leaving out the terms whose gradient is exactly 0. With finite inputs each such term is
//! ±0, and adding ±0 to a sum that started at +0 leaves it unchanged bit for bit, so the results
//! equal the dense product's (the test below holds them to it). A non-finite input times a 0 would
//! be NaN in the dense sum and is left out here: the run has diverged by then and stops.
//!
//! The running sums are arrays the compiler keeps in SIMD128 registers (eight vectors for four
//! panels), one `f32x4.mul` and `f32x4.add` per four terms (no fused multiply-add: see the gemm
//! crate's exactness note).
//!
//! An input gradient over the nonzeros (`Σ_o` per position, then col2im from that transposed
//! layout) was tried and measured slower than the dense `conv_gemm::cols_grad` in the page: its
//! sums are over 8 or 16 channels, too short to pay for the transposes.

use crate::conv_gemm::{fill_patches_t, output_size, Shape};
use quantscope_gemm::NR;

/// Whether the sparse product pays for a gradient: at most half of it nonzero.
pub(crate) fn worth_it(g: &[f32]) -> bool {
    g.iter().map(|&v| (v != 0.0) as usize).sum::<usize>() * 2 <= g.len()
}

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
        while first + 4 <= count {
            add(first, &sums::<4>(terms, panels, positions, first));
            first += 4;
        }
        for p in first..count {
            add(p, &sums::<1>(terms, panels, positions, p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv_gemm;
    use crate::rng::SplitMix64;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The sparse product equals the dense one bit for bit (which equals its definition:
    /// `conv_gemm`'s test), at densities from all zeros to all nonzero, with ±0 gradients, on
    /// shapes whose patch rows are and are not multiples of 8 and 32 (whole groups of four panels).
    #[test]
    fn the_sparse_weight_gradient_equals_the_dense_one_bit_for_bit() {
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
                for (i, (a, b)) in dense.iter().zip(&sparse).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "[{i}], {channels}×{height}×{width}, k {k}, {outputs} outputs, density {density}");
                }
            }
        }
    }
}

//! A mostly-zero A: only its nonzero terms are summed. A one-hot encoding feeding a MatMul is
//! the case (magika's 1536 byte values, one-hot over 257 classes, times a 257×128 weight): the
//! dense kernels spend 257 multiply-adds where one decides each output.
//!
//! Exactness, the dense kernels' bits: they sum `((0 + a₀b₀) + a₁b₁) + …` over l in order. A
//! term with `a_l = ±0` and a finite `b_l` is `±0`, and `s + (±0) = s` for every partial sum `s`
//! the dense kernel can hold (it starts at +0, and `x + y` is −0 only when both are −0, so the
//! sum never is −0). Skipping those terms, and keeping every other in order with the same
//! multiply-add, gives the same result. An infinite or NaN `b_l` makes `0·b_l` a NaN, so a B
//! that holds one never takes this path ([`super::PackedF32B`] records it when packed).

use super::pack::{PackedF32B, NR};

/// At most one element of A in this many nonzero for the sparse path. Each kept term costs a
/// B row gathered from every panel (a cache line each) instead of a register-blocked stream:
/// ~8× a dense term here, so a margin below that.
const DENSITY_DIVISOR: usize = 16;

/// Whether A is sparse enough, stopping as soon as it is not (a dense A pays a few of its
/// first values).
pub(crate) fn worth_it(a: &[f32], b: &PackedF32B) -> bool {
    if !b.finite || b.n() < NR {
        return false;
    }
    let budget = a.len() / DENSITY_DIVISOR;
    let mut nonzero = 0;
    for chunk in a.chunks(4096) {
        nonzero += chunk.iter().filter(|&&x| x != 0.0).count();
        if nonzero > budget {
            return false;
        }
    }
    true
}

/// C (m×n) = A · B summing only A's nonzero terms, each row's in order: `mac(acc, x, panel,
/// l)` adds `x · B[l][8p..8p+8]` to the panel's accumulators as the dense kernel does.
pub(crate) fn gemm_f32_sparse<Acc: Copy>(
    m: usize,
    a: &[f32],
    b: &PackedF32B,
    c: &mut [f32],
    zero: Acc,
    mac: impl Fn(Acc, f32, &PackedF32B, usize, usize) -> Acc,
    store: impl Fn(Acc, &mut [f32]),
) {
    let (k, n) = (b.k(), b.n());
    let mut terms: Vec<(usize, f32)> = Vec::with_capacity(k);
    for i in 0..m {
        terms.clear();
        terms.extend(a[i * k..(i + 1) * k].iter().enumerate().filter(|(_, &x)| x != 0.0).map(|(l, &x)| (l, x)));
        for p in 0..n.div_ceil(NR) {
            let acc = terms.iter().fold(zero, |acc, &(l, x)| mac(acc, x, b, p, l));
            let cols = NR.min(n - p * NR);
            let mut row = [0f32; NR];
            store(acc, &mut row);
            c[i * n + p * NR..][..cols].copy_from_slice(&row[..cols]);
        }
    }
}

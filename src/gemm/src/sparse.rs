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
//!
//! The integer GEMM's sums are exact (wrapping i32, in any order), so there an A equal to its
//! zero point almost everywhere (a one-hot A quantized dynamically: 0 is the zero point) skips
//! those terms with no condition.

use super::pack::{PackedF32B, PackedI8B, NR};
use super::{zero_point, Int8};

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

/// Whether A (m×k, row zero points `a_zp`) equals its zero point at all but one element in
/// [`DENSITY_DIVISOR`], stopping as soon as it does not.
pub(crate) fn worth_it_int8<A: Int8>(m: usize, k: usize, a: &[A], a_zp: &[i32], b: &PackedI8B) -> bool {
    if b.n() < NR || !b.has_i16_panels() {
        return false;
    }
    let budget = m * k / DENSITY_DIVISOR;
    let mut kept = 0;
    for i in 0..m {
        let za = zero_point(a_zp, i);
        kept += a[i * k..(i + 1) * k].iter().filter(|x| x.to_i32() != za).count();
        if kept > budget {
            return false;
        }
    }
    true
}

/// C (m×n, i32) = (A − a_zp) · B' summing only the terms where A differs from its zero point:
/// the same wrapping sum as every other integer kernel (`B'` as [`PackedI8B`] holds it).
pub(crate) fn matmul_integer_sparse<A: Int8>(m: usize, a: &[A], a_zp: &[i32], b: &PackedI8B, c: &mut [i32]) {
    let k = b.k();
    // Only the row's terms depend on A's type: the kernel below is compiled once.
    let row_terms = |i: usize, terms: &mut Vec<(usize, i32)>| {
        let za = zero_point(a_zp, i);
        terms.extend(a[i * k..(i + 1) * k].iter().enumerate().map(|(l, x)| (l, x.to_i32() - za)).filter(|&(_, d)| d != 0));
    };
    sparse_rows_i32(m, b, c, &row_terms);
}

/// Row `i`'s kept terms `(l, A(i, l) − zero point)`, appended to the list given.
type RowTerms<'a> = dyn Fn(usize, &mut Vec<(usize, i32)>) + 'a;

fn sparse_rows_i32(m: usize, b: &PackedI8B, c: &mut [i32], row_terms: &RowTerms<'_>) {
    let (k, n) = (b.k(), b.n());
    let mut terms: Vec<(usize, i32)> = Vec::with_capacity(k);
    for i in 0..m {
        terms.clear();
        row_terms(i, &mut terms);
        for p in 0..n.div_ceil(NR) {
            let panel = b.panel(p);
            let mut acc = [0i32; NR];
            for &(l, d) in &terms {
                // k-pair l/2, row l%2 of it: [B'(2q, c), B'(2q+1, c)] for c in 4-column halves.
                let pair = &panel[l / 2 * 2..l / 2 * 2 + 2];
                for (col, acc) in acc.iter_mut().enumerate() {
                    *acc = acc.wrapping_add(d * pair[col / 4].0[(col % 4) * 2 + l % 2] as i32);
                }
            }
            let cols = NR.min(n - p * NR);
            c[i * n + p * NR..][..cols].copy_from_slice(&acc[..cols]);
        }
    }
}

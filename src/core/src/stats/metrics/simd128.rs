//! The SIMD128 kernel of the reduction behind `error_metrics` (wasm32 + simd128 only).

use super::reference::Sums;
use core::arch::wasm32::*;

/// SIMD128 [`super::reference::sums`], two f64 lanes at a time. `compared` is identical, and so is
/// `max_abs` (each |x−x̂| is computed exactly as in the reference; a NaN error, from a NaN
/// x̂, is skipped by both since f64::max and f64x2_pmax ignore it); the sums differ only by
/// reordering: |Δ| ≤ n·ε₆₄·Σ|terms|.
pub fn sums(original: &[f32], dequantized: &[f32]) -> Sums {
    let n = original.len().min(dequantized.len());
    let n2 = n / 2 * 2;
    let z = f64x2_splat(0.0);
    let inf = f64x2_splat(f64::INFINITY);
    let (mut signal, mut noise, mut abs_sum, mut max_abs, mut dot, mut deq_sq) = (z, z, z, z, z, z);
    let mut compared = 0usize;
    for i in (0..n2).step_by(2) {
        let x = f64x2(original[i] as f64, original[i + 1] as f64);
        let y = f64x2(dequantized[i] as f64, dequantized[i + 1] as f64);
        let fin = f64x2_lt(f64x2_abs(x), inf);
        compared += i64x2_bitmask(fin).count_ones() as usize;
        // Lanes with a non-finite original contribute +0 to every sum.
        let x = v128_and(x, fin);
        let y = v128_and(y, fin);
        let e = f64x2_sub(x, y);
        let ae = f64x2_abs(e);
        signal = f64x2_add(signal, f64x2_mul(x, x));
        noise = f64x2_add(noise, f64x2_mul(e, e));
        abs_sum = f64x2_add(abs_sum, ae);
        // pmax(a, b) = a < b ? b : a, so a NaN |e| leaves the maximum alone, like f64::max.
        max_abs = f64x2_pmax(max_abs, ae);
        dot = f64x2_add(dot, f64x2_mul(x, y));
        deq_sq = f64x2_add(deq_sq, f64x2_mul(y, y));
    }
    let t = super::reference::sums(&original[n2..n], &dequantized[n2..n]);
    let h = |v: v128| f64x2_extract_lane::<0>(v) + f64x2_extract_lane::<1>(v);
    Sums {
        compared: compared + t.compared,
        signal: h(signal) + t.signal,
        noise: h(noise) + t.noise,
        abs_sum: h(abs_sum) + t.abs_sum,
        max_abs: f64x2_extract_lane::<0>(max_abs).max(f64x2_extract_lane::<1>(max_abs)).max(t.max_abs),
        dot: h(dot) + t.dot,
        deq_sq: h(deq_sq) + t.deq_sq,
    }
}

//! The SIMD128 kernel of the reduction behind `error_metrics` (wasm32 + simd128 only).

use super::reference::Sums;
use core::arch::wasm32::*;

/// SIMD128 [`super::reference::sums`], two f64 lanes at a time. `compared` is identical, and so is
/// `max_abs` (each |x−x̂| is computed exactly as in the reference; a NaN error, from a NaN
/// x̂, is skipped by both since f64::max and f64x2_pmax ignore it); the sums differ only by
/// reordering: |Δ| ≤ n·ε₆₄·Σ|terms|.
pub fn sums(original: &[f32], dequantized: &[f32]) -> Sums {
    let mut a = Accumulator::default();
    a.push(original, dequantized);
    a.finish()
}

/// [`sums`] fed a piece at a time: element `i` of the whole goes to lane `i % 2` wherever the
/// pieces split (an odd piece's last pair waits for the next piece's first), and an odd total's
/// last element is added after the lanes, so any split gives one call's sums bit for bit.
#[derive(Clone, Copy)]
pub struct Accumulator {
    /// Σx², Σe², Σ|e|, max|e|, Σx·x̂, Σx̂², lane i holding the elements ≡ i (mod 2).
    lanes: [v128; 6],
    compared: usize,
    pending: Option<(f32, f32)>,
}

impl Default for Accumulator {
    fn default() -> Self {
        Accumulator { lanes: [f64x2_splat(0.0); 6], compared: 0, pending: None }
    }
}

impl Accumulator {
    pub fn push(&mut self, original: &[f32], dequantized: &[f32]) {
        let n = original.len().min(dequantized.len());
        let (mut x, mut y) = (&original[..n], &dequantized[..n]);
        if let (Some((px, py)), [x0, ..], [y0, ..]) = (self.pending, x, y) {
            self.pairs(&[px, *x0], &[py, *y0]);
            self.pending = None;
            (x, y) = (&x[1..], &y[1..]);
        }
        self.pairs(x, y);
        if let (Some(&xl), Some(&yl)) = (x.get(x.len() / 2 * 2), y.get(y.len() / 2 * 2)) {
            self.pending = Some((xl, yl));
        }
    }

    /// The whole pairs of `x` and `y` (equal lengths) into the lanes.
    #[inline(never)]
    fn pairs(&mut self, x: &[f32], y: &[f32]) {
        for (x, y) in x.chunks_exact(2).zip(y.chunks_exact(2)) {
            self.step(f64x2(x[0] as f64, x[1] as f64), f64x2(y[0] as f64, y[1] as f64));
        }
    }

    #[inline(always)]
    fn step(&mut self, x: v128, y: v128) {
        let [signal, noise, abs_sum, max_abs, dot, deq_sq] = &mut self.lanes;
        let fin = f64x2_lt(f64x2_abs(x), f64x2_splat(f64::INFINITY));
        self.compared += i64x2_bitmask(fin).count_ones() as usize;
        // Lanes with a non-finite original contribute +0 to every sum.
        let x = v128_and(x, fin);
        let y = v128_and(y, fin);
        let e = f64x2_sub(x, y);
        let ae = f64x2_abs(e);
        *signal = f64x2_add(*signal, f64x2_mul(x, x));
        *noise = f64x2_add(*noise, f64x2_mul(e, e));
        *abs_sum = f64x2_add(*abs_sum, ae);
        // pmax(a, b) = a < b ? b : a, so a NaN |e| leaves the maximum alone, like f64::max.
        *max_abs = f64x2_pmax(*max_abs, ae);
        *dot = f64x2_add(*dot, f64x2_mul(x, y));
        *deq_sq = f64x2_add(*deq_sq, f64x2_mul(y, y));
    }

    pub fn finish(self) -> Sums {
        let ((x, y), k) = self.pending.map_or(((0.0, 0.0), 0), |p| (p, 1));
        let t = super::reference::sums(&[x][..k], &[y][..k]);
        let [signal, noise, abs_sum, max_abs, dot, deq_sq] = self.lanes;
        let h = |v: v128| f64x2_extract_lane::<0>(v) + f64x2_extract_lane::<1>(v);
        Sums {
            compared: self.compared + t.compared,
            signal: h(signal) + t.signal,
            noise: h(noise) + t.noise,
            abs_sum: h(abs_sum) + t.abs_sum,
            max_abs: f64x2_extract_lane::<0>(max_abs).max(f64x2_extract_lane::<1>(max_abs)).max(t.max_abs),
            dot: h(dot) + t.dot,
            deq_sq: h(deq_sq) + t.deq_sq,
        }
    }
}

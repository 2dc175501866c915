//! The SIMD128 kernels of the single pass of `summarize` and `StreamingSummary::add` (`moments`)
//! and of `min_max` (`finite_min_max`) (wasm32 + simd128 only).

use super::reference::Moments;
use core::arch::wasm32::*;

/// SIMD128 [`super::reference::moments`]: counts, min and max are identical (−0 and +0 compare equal, so
/// either zero may be returned); the sum is accumulated in two f64x2 accumulators (lanes
/// 0,1 and 2,3), so it differs from the sequential sum by at most the usual reordering
/// bound, ≈ n·ε₆₄·Σ|x|.
pub fn moments(values: &[f32]) -> Moments {
    let n4 = values.len() / 4 * 4;
    let (inf, ninf) = (f32x4_splat(f32::INFINITY), f32x4_splat(f32::NEG_INFINITY));
    let (mut vmin, mut vmax) = (inf, ninf);
    let (mut s_lo, mut s_hi) = (f64x2_splat(0.0), f64x2_splat(0.0));
    let (mut finite, mut nan) = (0usize, 0usize);
    for x4 in values[..n4].chunks_exact(4) {
        // SAFETY: a chunk of exactly 4 f32; unaligned loads are allowed.
        let x = unsafe { v128_load(x4.as_ptr() as *const v128) };
        let fin = f32x4_lt(f32x4_abs(x), inf);
        finite += i32x4_bitmask(fin).count_ones() as usize;
        nan += i32x4_bitmask(f32x4_ne(x, x)).count_ones() as usize;
        vmin = f32x4_pmin(vmin, v128_bitselect(x, inf, fin));
        vmax = f32x4_pmax(vmax, v128_bitselect(x, ninf, fin));
        let xz = v128_and(x, fin);
        s_lo = f64x2_add(s_lo, f64x2_promote_low_f32x4(xz));
        s_hi = f64x2_add(s_hi, f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 0, 1>(xz, xz)));
    }
    let tail = super::reference::moments(&values[n4..]);
    let lanes = |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
    let min = lanes(vmin).into_iter().fold(tail.min, f32::min);
    let max = lanes(vmax).into_iter().fold(tail.max, f32::max);
    let s = f64x2_add(s_lo, s_hi);
    Moments {
        min,
        max,
        sum: (f64x2_extract_lane::<0>(s) + f64x2_extract_lane::<1>(s)) + tail.sum,
        finite: finite + tail.finite,
        nan: nan + tail.nan,
        inf: (n4 - finite - nan) + tail.inf,
    }
}

/// SIMD128 [`super::reference::finite_min_max`]: identical (−0 and +0 compare equal, so either
/// zero may be returned). The loop takes min and max of every value but NaN (`pmin(acc, x)` keeps
/// `acc` when the comparison with a NaN `x` is false), in two accumulators each, eight values a
/// step: three operations per four values where excluding ±Inf as well took seven (issue 15: the
/// integer schemes' range pass). An infinity can only show as an infinite min (−Inf) or max
/// (+Inf); then the finite range is taken again with the infinities excluded lane by lane.
/// (`fast-kernels`; the modules held to their sizes take the lane-by-lane loop throughout.)
/// Inlined into its callers (the per-group ranges of 32–128 values, where the call was a
/// quarter of the time; the infinities' pass stays out of line).
#[cfg(feature = "fast-kernels")]
#[inline(always)]
pub fn finite_min_max(values: &[f32]) -> (f32, f32) {
    let n8 = values.len() / 8 * 8;
    let (inf, ninf) = (f32x4_splat(f32::INFINITY), f32x4_splat(f32::NEG_INFINITY));
    let (mut min0, mut min1, mut max0, mut max1) = (inf, inf, ninf, ninf);
    for x8 in values[..n8].chunks_exact(8) {
        // SAFETY: a chunk of exactly 8 f32; unaligned loads are allowed.
        let (x, y) = unsafe { (v128_load(x8.as_ptr() as *const v128), v128_load(x8.as_ptr().add(4) as *const v128)) };
        (min0, min1) = (f32x4_pmin(min0, x), f32x4_pmin(min1, y));
        (max0, max1) = (f32x4_pmax(max0, x), f32x4_pmax(max1, y));
    }
    let (min, max) = lanes_min_max(f32x4_pmin(min0, min1), f32x4_pmax(max0, max1));
    if min == f32::NEG_INFINITY || max == f32::INFINITY {
        return finite_min_max_excluding(values);
    }
    if n8 == values.len() {
        return (min, max);
    }
    let (tmin, tmax) = super::reference::finite_min_max(&values[n8..]);
    (min.min(tmin), max.max(tmax))
}

/// SIMD128 [`super::reference::finite_min_max`] without `fast-kernels`: ±Inf replaced lane by lane.
#[cfg(not(feature = "fast-kernels"))]
pub fn finite_min_max(values: &[f32]) -> (f32, f32) {
    finite_min_max_excluding(values)
}

/// [`finite_min_max`] with ±Inf replaced lane by lane (with `fast-kernels`, where an infinity
/// occurs: out of line, rare).
#[cfg_attr(feature = "fast-kernels", cold, inline(never))]
fn finite_min_max_excluding(values: &[f32]) -> (f32, f32) {
    let n4 = values.len() / 4 * 4;
    let (inf, ninf) = (f32x4_splat(f32::INFINITY), f32x4_splat(f32::NEG_INFINITY));
    let (mut vmin, mut vmax) = (inf, ninf);
    for x4 in values[..n4].chunks_exact(4) {
        // SAFETY: a chunk of exactly 4 f32; unaligned loads are allowed.
        let x = unsafe { v128_load(x4.as_ptr() as *const v128) };
        let fin = f32x4_lt(f32x4_abs(x), inf);
        vmin = f32x4_pmin(vmin, v128_bitselect(x, inf, fin));
        vmax = f32x4_pmax(vmax, v128_bitselect(x, ninf, fin));
    }
    let (min, max) = lanes_min_max(vmin, vmax);
    let (tmin, tmax) = super::reference::finite_min_max(&values[n4..]);
    (min.min(tmin), max.max(tmax))
}

/// The min of `vmin`'s lanes and the max of `vmax`'s.
#[inline(always)]
fn lanes_min_max(vmin: v128, vmax: v128) -> (f32, f32) {
    // Across lanes with shuffles: only the sign of a zero result depends on the order.
    let vmin = f32x4_pmin(vmin, i32x4_shuffle::<2, 3, 0, 1>(vmin, vmin));
    let vmax = f32x4_pmax(vmax, i32x4_shuffle::<2, 3, 0, 1>(vmax, vmax));
    let min = f32x4_extract_lane::<0>(f32x4_pmin(vmin, i32x4_shuffle::<1, 0, 3, 2>(vmin, vmin)));
    let max = f32x4_extract_lane::<0>(f32x4_pmax(vmax, i32x4_shuffle::<1, 0, 3, 2>(vmax, vmax)));
    (min, max)
}

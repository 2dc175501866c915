//! The SIMD128 kernel of the binning loop of `histogram` and `Histogram::add` (wasm32 + simd128
//! only).

use core::arch::wasm32::*;

/// SIMD128 [`super::reference::bin`], bit-identical counts: the same f64 subtract and multiply two lanes
/// at a time, truncated with `i32x4_trunc_sat_f64x2_zero` (indices are < bins ≤ 4096, so
/// saturation never bites), then scalar increments.
pub fn bin(values: &[f32], lo: f64, hi: f64, counts: &mut [u64]) -> (u64, u64) {
    let bins = counts.len();
    let scale = bins as f64 / (hi - lo);
    let (vlo, vhi, vscale, inf) = (f64x2_splat(lo), f64x2_splat(hi), f64x2_splat(scale), f64x2_splat(f64::INFINITY));
    let (mut below, mut above) = (0u64, 0u64);
    let n2 = values.len() / 2 * 2;
    for i in (0..n2).step_by(2) {
        let v = f64x2(values[i] as f64, values[i + 1] as f64);
        let fin = f64x2_lt(f64x2_abs(v), inf);
        let lt = v128_and(f64x2_lt(v, vlo), fin);
        let gt = v128_and(f64x2_gt(v, vhi), fin);
        below += i64x2_bitmask(lt).count_ones() as u64;
        above += i64x2_bitmask(gt).count_ones() as u64;
        let inside = i64x2_bitmask(v128_andnot(fin, v128_or(lt, gt)));
        if inside != 0 {
            let idx = i32x4_trunc_sat_f64x2_zero(f64x2_mul(f64x2_sub(v, vlo), vscale));
            if inside & 1 != 0 {
                counts[(i32x4_extract_lane::<0>(idx) as usize).min(bins - 1)] += 1;
            }
            if inside & 2 != 0 {
                counts[(i32x4_extract_lane::<1>(idx) as usize).min(bins - 1)] += 1;
            }
        }
    }
    let (b, a) = super::reference::bin(&values[n2..], lo, hi, counts);
    (below + b, above + a)
}

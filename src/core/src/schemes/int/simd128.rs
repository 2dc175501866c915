//! The SIMD128 kernel of the integer quantizer's per-element loop (wasm32 + simd128 only).

use core::arch::wasm32::*;

/// SIMD128 version of [`super::reference::quantize_codes`], bit-identical: `f32x4_div`, then `f32x4_nearest`
/// (round half to even, as `round_ties_even`), `+ zp` in f32, compare-and-select clamping,
/// NaN lanes replaced by the zero point, finite clamped lanes counted from a bitmask.
pub fn quantize_codes(values: &[f32], scale: f32, zero_point: i32, qmin: i32, qmax: i32, out: &mut [i32]) -> usize {
    assert_eq!(values.len(), out.len());
    let (vs, vzp, vlo, vhi, vinf) = (
        f32x4_splat(scale),
        f32x4_splat(zero_point as f32),
        f32x4_splat(qmin as f32),
        f32x4_splat(qmax as f32),
        f32x4_splat(f32::INFINITY),
    );
    let mut clipped = 0usize;
    let n4 = values.len() / 4 * 4;
    for (x4, o4) in values[..n4].chunks_exact(4).zip(out[..n4].chunks_exact_mut(4)) {
        // SAFETY: chunks of exactly 4 f32/i32; unaligned loads and stores are allowed.
        let x = unsafe { v128_load(x4.as_ptr() as *const v128) };
        let q = f32x4_add(f32x4_nearest(f32x4_div(x, vs)), vzp);
        let (lt, gt) = (f32x4_lt(q, vlo), f32x4_gt(q, vhi));
        let q = v128_bitselect(vlo, v128_bitselect(vhi, q, gt), lt);
        let nan = f32x4_ne(x, x);
        let q = v128_bitselect(vzp, q, nan);
        let finite = f32x4_lt(f32x4_abs(x), vinf);
        clipped += i32x4_bitmask(v128_and(v128_or(lt, gt), finite)).count_ones() as usize;
        unsafe { v128_store(o4.as_mut_ptr() as *mut v128, i32x4_trunc_sat_f32x4(q)) };
    }
    clipped + super::reference::quantize_codes(&values[n4..], scale, zero_point, qmin, qmax, &mut out[n4..])
}

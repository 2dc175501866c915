//! The SIMD128 kernels of the integer quantizer's per-element loops (wasm32 + simd128 only),
//! sixteen values a step: four f32x4 lanes quantized, narrowed to one vector of code bytes.

use super::reference::GroupMap;
use core::arch::wasm32::*;

/// SIMD128 version of [`super::reference::quantize_group`], bit-identical: `f32x4_div`, then
/// `f32x4_nearest` (round half to even, as `round_ties_even`), `+ zp` in f32, compare-and-select
/// clamping, NaN lanes replaced by the zero point, finite clamped lanes counted from a bitmask.
/// The clamped code is an integer in [qmin, qmax] held exactly in f32, so `(q − zp)·scale` in f32
/// equals the reference's `(q − zp) as f32 · scale`, and the saturating narrows to bytes are exact
/// (signed for qmin < 0, unsigned otherwise).
pub fn quantize_group(values: &[f32], map: GroupMap, codes: &mut [u8], dequantized: &mut [f32]) -> usize {
    let GroupMap { scale, zero_point, qmin, qmax } = map;
    assert!(values.len() == codes.len() && values.len() == dequantized.len());
    let (vs, vzp, vlo, vhi, vinf) = (
        f32x4_splat(scale),
        f32x4_splat(zero_point as f32),
        f32x4_splat(qmin as f32),
        f32x4_splat(qmax as f32),
        f32x4_splat(f32::INFINITY),
    );
    let signed = qmin < 0;
    let mut clipped = 0usize;
    let n16 = values.len() / 16 * 16;
    let lanes = values[..n16].chunks_exact(16).zip(codes[..n16].chunks_exact_mut(16)).zip(dequantized[..n16].chunks_exact_mut(16));
    for ((x16, c16), d16) in lanes {
        let mut q = [i32x4_splat(0); 4];
        for (k, qk) in q.iter_mut().enumerate() {
            // SAFETY: x16 and d16 hold 16 elements; unaligned loads and stores are allowed.
            let x = unsafe { v128_load(x16.as_ptr().add(4 * k) as *const v128) };
            let r = f32x4_add(f32x4_nearest(f32x4_div(x, vs)), vzp);
            let (lt, gt) = (f32x4_lt(r, vlo), f32x4_gt(r, vhi));
            let r = v128_bitselect(vlo, v128_bitselect(vhi, r, gt), lt);
            let r = v128_bitselect(vzp, r, f32x4_ne(x, x));
            let finite = f32x4_lt(f32x4_abs(x), vinf);
            clipped += i32x4_bitmask(v128_and(v128_or(lt, gt), finite)).count_ones() as usize;
            unsafe { v128_store(d16.as_mut_ptr().add(4 * k) as *mut v128, f32x4_mul(f32x4_sub(r, vzp), vs)) };
            *qk = i32x4_trunc_sat_f32x4(r);
        }
        let (lo, hi) = (i16x8_narrow_i32x4(q[0], q[1]), i16x8_narrow_i32x4(q[2], q[3]));
        let bytes = if signed { i8x16_narrow_i16x8(lo, hi) } else { u8x16_narrow_i16x8(lo, hi) };
        // SAFETY: c16 holds 16 bytes.
        unsafe { v128_store(c16.as_mut_ptr() as *mut v128, bytes) };
    }
    clipped + super::reference::quantize_group(&values[n16..], map, &mut codes[n16..], &mut dequantized[n16..])
}

/// SIMD128 version of [`super::reference::dequantize_group`], bit-identical: bytes widened to
/// i32 (sign- or zero-extended), converted exactly to f32, `(q − zp)·scale`.
pub fn dequantize_group(codes: &[u8], signed: bool, scale: f32, zero_point: i32, out: &mut [f32]) {
    assert_eq!(codes.len(), out.len());
    let (vs, vzp) = (f32x4_splat(scale), f32x4_splat(zero_point as f32));
    let n16 = codes.len() / 16 * 16;
    for (c16, o16) in codes[..n16].chunks_exact(16).zip(out[..n16].chunks_exact_mut(16)) {
        // SAFETY: c16 holds 16 bytes and o16 16 f32.
        let b = unsafe { v128_load(c16.as_ptr() as *const v128) };
        let (lo, hi) = if signed {
            (i16x8_extend_low_i8x16(b), i16x8_extend_high_i8x16(b))
        } else {
            (u16x8_extend_low_u8x16(b), u16x8_extend_high_u8x16(b))
        };
        // The i16 lanes are in [-128, 255], so sign-extending them to i32 is right either way.
        let q = [i32x4_extend_low_i16x8(lo), i32x4_extend_high_i16x8(lo), i32x4_extend_low_i16x8(hi), i32x4_extend_high_i16x8(hi)];
        for (k, qk) in q.into_iter().enumerate() {
            let v = f32x4_mul(f32x4_sub(f32x4_convert_i32x4(qk), vzp), vs);
            unsafe { v128_store(o16.as_mut_ptr().add(4 * k) as *mut v128, v) };
        }
    }
    super::reference::dequantize_group(&codes[n16..], signed, scale, zero_point, &mut out[n16..]);
}

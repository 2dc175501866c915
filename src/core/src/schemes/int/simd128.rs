//! The SIMD128 kernels of the integer quantizer's per-element loops (wasm32 + simd128 only),
//! sixteen values a step: four f32x4 lanes quantized, narrowed to one vector of code bytes.

use super::reference::GroupMap;
use crate::simd128_io::{load16, store16};
use core::arch::wasm32::*;

/// SIMD128 version of [`super::reference::quantize_group`], bit-identical: `f32x4_div`, then
/// `f32x4_nearest` (round half to even, as `round_ties_even`), `+ zp` in f32, clamped with
/// `pmax`/`pmin`. Sixteen values a step take a fast path that assumes no lane was clamped and
/// none is NaN: one `ne` between the clamped and unclamped code finds both (NaN ≠ anything), and
/// only a step where some lane differs is redone by the scalar reference, which replaces NaN by
/// the zero point and counts the clamped finite lanes. On real weights with a min-max range no
/// lane clamps, and the fast step has no bitselects and no bitmask count. The clamped code is an integer in [qmin, qmax]
/// held exactly in f32, so `(q − zp)·scale` in f32 equals the reference's `(q − zp) as f32 ·
/// scale`, and the truncation and saturating narrows to bytes are exact (signed for qmin < 0,
/// unsigned otherwise). A clamped step is stored, then overwritten by the reference.
///
/// `fast-kernels`: the division becomes a product by `r = 1/scale` where that is provably the
/// same code (see [`quantize_steps`]), and a step where it might not be is redone as above.
pub fn quantize_group(values: &[f32], map: GroupMap, codes: &mut [u8], dequantized: &mut [f32]) -> usize {
    assert!(values.len() == codes.len() && values.len() == dequantized.len());
    #[cfg(feature = "fast-kernels")]
    {
        let GroupMap { scale, zero_point, qmin, qmax } = map;
        let r = 1.0 / scale;
        if scale.is_finite() && r.is_finite() && r != 0.0 && -256 <= qmin && qmax <= 256 && (qmin..=qmax).contains(&zero_point) {
            return quantize_steps::<true>(values, map, r, codes, dequantized);
        }
    }
    quantize_steps::<false>(values, map, 0.0, codes, dequantized)
}

/// [`quantize_group`]'s loop; `RECIPROCAL`: `x·r` (`r = 1/scale` in f32) instead of `x / scale`.
///
/// Why the product gives the reference's code wherever a step is not redone: let `Q = x/scale`
/// exactly, `d = fl(x/scale)` (the reference's quotient) and `p = fl(x·r)`. Each of `d`, `r`
/// and `p` is one rounding (relative error ≤ u = 2⁻²⁴), so `|d − p| ≤ |Q|·(3u + u²)`. A lane
/// keeps `p`'s code only if `|p − nearest(p)| < ½ − 2⁻¹³` (the subtraction is exact: `p` and
/// the integer are within ½ of each other). An unclamped lane has `|nearest(p) + zp| ≤ 256`
/// with `|zp| ≤ 256` (the caller checks qmin ≥ −256, qmax ≤ 256, zp in [qmin, qmax]), so
/// `|p| < 512.5` and `|d − p| < 512.5·(1 + 2u)·(3u + u²) < 2⁻¹³`: no half-integer lies between
/// `d` and `p` (nor on `d`), so `d` rounds to the same integer. A clamped lane, NaN (`x` NaN)
/// or ±Inf (`x` ±Inf, or `x·r` overflowing: then `|p| ≥ 512` too) is redone by the reference.
/// Subnormal or zero `p` or `d` (tiny `x`) are far below ½: both round to a zero of `x`'s sign.
/// About one step in 400 is redone (2·2⁻¹³ of the lanes are near a half); `tests/kernels.rs`
/// holds the kernel to the reference on ties, near-ties and random bits.
#[inline(always)]
fn quantize_steps<const RECIPROCAL: bool>(values: &[f32], map: GroupMap, r: f32, codes: &mut [u8], dequantized: &mut [f32]) -> usize {
    let GroupMap { scale, zero_point, qmin, qmax } = map;
    let (vs, vzp, vlo, vhi) = (f32x4_splat(scale), f32x4_splat(zero_point as f32), f32x4_splat(qmin as f32), f32x4_splat(qmax as f32));
    let (vr, near) = (f32x4_splat(r), f32x4_splat(0.5 - 1.0 / 8192.0));
    let signed = qmin < 0;
    let mut clipped = 0usize;
    let n16 = values.len() / 16 * 16;
    let lanes = values[..n16].chunks_exact(16).zip(codes[..n16].chunks_exact_mut(16)).zip(dequantized[..n16].chunks_exact_mut(16));
    for ((x16, c16), d16) in lanes {
        let mut q = [vs; 4];
        let mut odd = f32x4_splat(0.0);
        for (k, qk) in q.iter_mut().enumerate() {
            // SAFETY: x16 and d16 hold 16 elements; unaligned loads and stores are allowed.
            let x = unsafe { v128_load(x16.as_ptr().add(4 * k) as *const v128) };
            let p = if RECIPROCAL { f32x4_mul(x, vr) } else { f32x4_div(x, vs) };
            let rounded = f32x4_nearest(p);
            if RECIPROCAL {
                odd = v128_or(odd, f32x4_ge(f32x4_abs(f32x4_sub(p, rounded)), near));
            }
            let r = f32x4_add(rounded, vzp);
            let c = f32x4_pmin(f32x4_pmax(vlo, r), vhi);
            odd = v128_or(odd, f32x4_ne(c, r));
            unsafe { v128_store(d16.as_mut_ptr().add(4 * k) as *mut v128, f32x4_mul(f32x4_sub(c, vzp), vs)) };
            // c is an integer in [qmin, qmax] (pmax picks qmin for NaN): c + 1.5·2^23 is exact
            // and its bits are 0x4b40_0000 + c, so subtracting them gives c as i32 — two
            // operations where `i32x4_trunc_sat_f32x4` is about seven on x64 V8 (`fast-kernels`:
            // two constants more in the modules held to their sizes).
            #[cfg(feature = "fast-kernels")]
            {
                *qk = i32x4_sub(f32x4_add(c, f32x4_splat(12_582_912.0)), u32x4_splat(0x4b40_0000));
            }
            #[cfg(not(feature = "fast-kernels"))]
            {
                *qk = i32x4_trunc_sat_f32x4(c);
            }
        }
        let (lo, hi) = (i16x8_narrow_i32x4(q[0], q[1]), i16x8_narrow_i32x4(q[2], q[3]));
        let bytes = if signed { i8x16_narrow_i16x8(lo, hi) } else { u8x16_narrow_i16x8(lo, hi) };
        // SAFETY: c16 holds 16 bytes.
        unsafe { v128_store(c16.as_mut_ptr() as *mut v128, bytes) };
        if v128_any_true(odd) {
            // Rare on min-max ranges: the reference redoes (overwrites) these sixteen.
            clipped += super::reference::quantize_group(x16, map, c16, d16);
        }
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

/// SIMD128 [`super::reference::pack_nibbles_in_place`], bit-identical: 32 codes a step, read as
/// sixteen u16 lanes `c0 | c1 << 8`, each becoming `(l & 0xF) | (l >> 4 & 0xF0)` (≤ 255, so
/// the saturating narrow to bytes is exact). Step j reads bytes 32j.. and writes 16j..; both
/// loads come before the store, and 16j + 16 ≤ 32j for j ≥ 1, so no unread code is overwritten.
pub fn pack_nibbles_in_place(codes: &mut [u8]) -> usize {
    let n = codes.len();
    let steps = n / 32;
    let (lo, hi) = (u16x8_splat(0x000F), u16x8_splat(0x00F0));
    for j in 0..steps {
        let (a, b) = (load16(&codes[32 * j..]), load16(&codes[32 * j + 16..]));
        let pack = |l: v128| v128_or(v128_and(l, lo), v128_and(u16x8_shr(l, 4), hi));
        store16(&mut codes[16 * j..], u8x16_narrow_i16x8(pack(a), pack(b)));
    }
    // The rest as the reference does it, shifted down by what is packed.
    let done = 32 * steps;
    let tail = n - done;
    for i in 0..tail / 2 {
        codes[16 * steps + i] = (codes[done + 2 * i] & 0x0f) | (codes[done + 2 * i + 1] << 4);
    }
    if tail % 2 == 1 {
        codes[n / 2] = codes[n - 1] & 0x0f;
    }
    n.div_ceil(2)
}

/// SIMD128 [`super::reference::pack_pairs_in_place`], bit-identical: 64 codes a step, read as
/// sixteen u32 lanes `c0 | c1 << 8 | c2 << 16 | c3 << 24`, each becoming
/// `(l & 3) | (l >> 6 & 0xC) | (l >> 12 & 0x30) | (l >> 18 & 0xC0)`, narrowed to bytes (exact:
/// ≤ 255). Step j reads 64j.. and writes 16j..; all four loads come before the store.
pub fn pack_pairs_in_place(codes: &mut [u8]) -> usize {
    let n = codes.len();
    let steps = n / 64;
    let pack = |l: v128| {
        let a = v128_or(v128_and(l, u32x4_splat(0x03)), v128_and(u32x4_shr(l, 6), u32x4_splat(0x0C)));
        let b = v128_or(v128_and(u32x4_shr(l, 12), u32x4_splat(0x30)), v128_and(u32x4_shr(l, 18), u32x4_splat(0xC0)));
        v128_or(a, b)
    };
    for j in 0..steps {
        let l: [v128; 4] = core::array::from_fn(|k| pack(load16(&codes[64 * j + 16 * k..])));
        let bytes = u8x16_narrow_i16x8(i16x8_narrow_i32x4(l[0], l[1]), i16x8_narrow_i32x4(l[2], l[3]));
        store16(&mut codes[16 * j..], bytes);
    }
    let done = 64 * steps;
    for i in done / 4..n / 4 {
        let q = [codes[4 * i], codes[4 * i + 1], codes[4 * i + 2], codes[4 * i + 3]];
        codes[i] = (q[0] & 0b11) | ((q[1] & 0b11) << 2) | ((q[2] & 0b11) << 4) | (q[3] << 6);
    }
    if n % 4 != 0 {
        let last = codes[n / 4 * 4..].iter().rev().fold(0u8, |acc, &c| (acc << 2) | (c & 0b11));
        codes[n / 4] = last;
    }
    n.div_ceil(4)
}

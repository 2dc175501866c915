//! SIMD128 kernels for the FP16/BF16 conversions and the FP8/FP4 encoders. Each names the scalar reference it must
//! equal bit for bit (the `half` crate, via `super::reference`), including NaN payloads,
//! subnormals, overflow and ties; src/core/tests/float_fixtures.rs checks them against the reference on
//! random bit patterns of every class and awkward lengths. Eight elements per step (two
//! f32x4 ↔ one u16x8); the tail goes through the reference.

use core::arch::wasm32::*;

/// f32 → FP16 bits; reference `half::f16::from_f32` (`super::reference::f32_to_f16_bits`).
/// Normal range: RNE by integer add (F. Giesen's float_to_half_fast3_rtne); subnormals: adding
/// 0.5 in f32 lets the FPU round at the FP16 subnormal quantum 2^-24; NaN keeps the top
/// mantissa bits and sets the quiet bit, as `half` does.
pub fn f32_to_f16_bits(src: &[f32], dst: &mut [u16]) {
    let n8 = src.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        // SAFETY: i + 8 <= len for both slices (equal lengths checked by the caller); wasm
        // loads and stores have no alignment requirement.
        unsafe {
            let lo = f32x4_to_f16(v128_load(src.as_ptr().add(i) as *const v128));
            let hi = f32x4_to_f16(v128_load(src.as_ptr().add(i + 4) as *const v128));
            v128_store(dst.as_mut_ptr().add(i) as *mut v128, u16x8_narrow_i32x4(lo, hi));
        }
    }
    super::reference::f32_to_f16_bits(&src[n8..], &mut dst[n8..]);
}

#[inline(always)]
fn f32x4_to_f16(x: v128) -> v128 {
    let sign = v128_and(x, u32x4_splat(0x8000_0000));
    let a = v128_xor(x, sign);
    // Normal: add the exponent rebias, 0xfff and the kept lsb, then shift (RNE).
    let odd = v128_and(u32x4_shr(a, 13), u32x4_splat(1));
    let normal = u32x4_shr(i32x4_add(i32x4_add(a, u32x4_splat(0xc800_0fff)), odd), 13);
    // Subnormal (|x| < 2^-14): f32(|x|) + 0.5 rounds at 2^-24.
    let sub = i32x4_sub(f32x4_add(a, f32x4_splat(0.5)), u32x4_splat(0x3f00_0000));
    let nan = v128_or(u32x4_splat(0x7e00), u32x4_shr(v128_and(a, u32x4_splat(0x7f_ffff)), 13));
    let mut r = v128_bitselect(sub, normal, u32x4_lt(a, u32x4_splat(0x3880_0000)));
    r = v128_bitselect(u32x4_splat(0x7c00), r, u32x4_ge(a, u32x4_splat(0x4780_0000)));
    r = v128_bitselect(nan, r, u32x4_gt(a, u32x4_splat(0x7f80_0000)));
    v128_or(r, u32x4_shr(sign, 16))
}

/// FP16 bits → f32; reference `half::f16::to_f32` (`super::reference::f16_bits_to_f32`).
pub fn f16_bits_to_f32(src: &[u16], dst: &mut [f32]) {
    let n8 = src.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        // SAFETY: as above.
        unsafe {
            let h = v128_load(src.as_ptr().add(i) as *const v128);
            v128_store(dst.as_mut_ptr().add(i) as *mut v128, f16_to_f32x4(u32x4_extend_low_u16x8(h)));
            v128_store(dst.as_mut_ptr().add(i + 4) as *mut v128, f16_to_f32x4(u32x4_extend_high_u16x8(h)));
        }
    }
    super::reference::f16_bits_to_f32(&src[n8..], &mut dst[n8..]);
}

#[inline(always)]
fn f16_to_f32x4(h: v128) -> v128 {
    let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
    let em = v128_and(h, u32x4_splat(0x7fff));
    let shifted = i32x4_shl(em, 13);
    let exp = v128_and(shifted, u32x4_splat(0x0f80_0000));
    let o = i32x4_add(shifted, u32x4_splat(112 << 23));
    // Inf/NaN: rebias to the f32 all-ones exponent; NaN also gets the quiet bit (as `half`).
    let quiet = v128_and(u32x4_gt(em, u32x4_splat(0x7c00)), u32x4_splat(0x0040_0000));
    let infnan = v128_or(i32x4_add(o, u32x4_splat(112 << 23)), quiet);
    // Zero/subnormal: (2^-14 · (1 + m/1024)) − 2^-14 = m · 2^-24, exact.
    let sub = f32x4_sub(i32x4_add(o, u32x4_splat(1 << 23)), u32x4_splat(113 << 23));
    let mut r = v128_bitselect(infnan, o, i32x4_eq(exp, u32x4_splat(0x0f80_0000)));
    r = v128_bitselect(sub, r, i32x4_eq(exp, u32x4_splat(0)));
    v128_or(r, sign)
}

/// f32 → BF16 bits; reference `half::bf16::from_f32` (`super::reference::f32_to_bf16_bits`): RNE on
/// the dropped 16 bits, NaN → top half with the quiet bit set.
pub fn f32_to_bf16_bits(src: &[f32], dst: &mut [u16]) {
    let n8 = src.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        // SAFETY: as above.
        unsafe {
            let lo = f32x4_to_bf16(v128_load(src.as_ptr().add(i) as *const v128));
            let hi = f32x4_to_bf16(v128_load(src.as_ptr().add(i + 4) as *const v128));
            v128_store(dst.as_mut_ptr().add(i) as *mut v128, u16x8_narrow_i32x4(lo, hi));
        }
    }
    super::reference::f32_to_bf16_bits(&src[n8..], &mut dst[n8..]);
}

#[inline(always)]
fn f32x4_to_bf16(x: v128) -> v128 {
    let top = u32x4_shr(x, 16);
    let round_bit = v128_and(x, u32x4_splat(0x8000));
    let sticky_or_odd = v128_and(x, u32x4_splat(0x1_7fff));
    // Both masks all-ones → subtract −1.
    let up = v128_and(v128_not(i32x4_eq(round_bit, u32x4_splat(0))), v128_not(i32x4_eq(sticky_or_odd, u32x4_splat(0))));
    let rounded = i32x4_sub(top, up);
    let is_nan = u32x4_gt(v128_and(x, u32x4_splat(0x7fff_ffff)), u32x4_splat(0x7f80_0000));
    v128_bitselect(v128_or(top, u32x4_splat(0x40)), rounded, is_nan)
}

/// BF16 bits → f32; reference `half::bf16::to_f32` (`super::reference::bf16_bits_to_f32`).
pub fn bf16_bits_to_f32(src: &[u16], dst: &mut [f32]) {
    let n8 = src.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        // SAFETY: as above.
        unsafe {
            let h = v128_load(src.as_ptr().add(i) as *const v128);
            v128_store(dst.as_mut_ptr().add(i) as *mut v128, bf16_to_f32x4(u32x4_extend_low_u16x8(h)));
            v128_store(dst.as_mut_ptr().add(i + 4) as *mut v128, bf16_to_f32x4(u32x4_extend_high_u16x8(h)));
        }
    }
    super::reference::bf16_bits_to_f32(&src[n8..], &mut dst[n8..]);
}

#[inline(always)]
fn bf16_to_f32x4(h: v128) -> v128 {
    let quiet = v128_and(u32x4_gt(v128_and(h, u32x4_splat(0x7fff)), u32x4_splat(0x7f80)), u32x4_splat(0x40));
    i32x4_shl(v128_or(h, quiet), 16)
}

/// f32 → FP8/FP4 codes; reference `Minifloat::encode` (super), lane for lane: NaN to the
/// format's NaN code, RNE, saturation to ±max. The normal path is the reference's integer
/// rebias-and-round with its constant shifts; the subnormal path, whose shift varies per lane
/// (SIMD128 shifts all lanes alike), computes the same `RNE(|x| / 2^(emin − mbits))` in f32:
/// scaling by a power of two is exact there (the result is below 2^mbits) and `nearest` rounds
/// ties to even, so it is the reference's `rne_shift` of the significand.
pub(super) fn f32_to_minifloat(mf: &super::Minifloat, src: &[f32], dst: &mut [u16]) {
    let emin = 1 - mf.bias;
    let drop = 23 - mf.mbits;
    let sign_shift = 31 - (mf.mbits + mf.ebits);
    let nan = u32x4_splat(mf.nan_code);
    let max_code = u32x4_splat(mf.max_code);
    let half = u32x4_splat(1 << (drop - 1));
    let rest_mask = u32x4_splat((1 << drop) - 1);
    let to_subnormal_units = f32x4_splat(f32::from_bits(((mf.mbits as i32 - emin + 127) as u32) << 23));
    // |x| < 2^emin in f32 bits: the target's subnormals (and zero).
    let smallest_normal = u32x4_splat(((emin + 127) as u32) << 23);
    let rebias = u32x4_splat(((mf.bias - 127) as u32) << mf.mbits);
    let nan_code = |sign: v128| if mf.nan_keeps_sign { v128_or(nan, sign) } else { nan };
    let encode = |x: v128| {
        let a = v128_and(x, u32x4_splat(0x7fff_ffff));
        let sign = u32x4_shr(v128_and(x, u32x4_splat(0x8000_0000)), sign_shift);
        // Normal: ((e + bias) << mbits | top mantissa bits), rounded up when the dropped bits
        // are over half, or half with an odd result. (e + bias) << mbits is (a >> 23 << mbits)
        // plus the rebias, in wrapping u32 arithmetic.
        let kept = i32x4_add(u32x4_shr(a, drop), rebias);
        let rest = v128_and(a, rest_mask);
        let up = v128_or(u32x4_gt(rest, half), v128_and(i32x4_eq(rest, half), i32x4_eq(v128_and(kept, u32x4_splat(1)), u32x4_splat(1))));
        let normal = i32x4_sub(kept, up); // `up` lanes are −1 (all ones): subtracting adds 1
        let sub = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(a, to_subnormal_units)));
        let code = v128_bitselect(sub, normal, u32x4_lt(a, smallest_normal));
        let code = v128_or(u32x4_min(code, max_code), sign);
        v128_bitselect(nan_code(sign), code, u32x4_gt(a, u32x4_splat(0x7f80_0000)))
    };
    // Eight a step: the codes (≤ 0xff) narrow to u16 lanes exactly.
    let n8 = src.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        // SAFETY: i + 8 <= n8 <= len of both slices (equal, checked by the caller); wasm loads
        // and stores have no alignment requirement.
        unsafe {
            let lo = encode(v128_load(src.as_ptr().add(i) as *const v128));
            let hi = encode(v128_load(src.as_ptr().add(i + 4) as *const v128));
            v128_store(dst.as_mut_ptr().add(i) as *mut v128, u16x8_narrow_i32x4(lo, hi));
        }
    }
    for (d, &x) in dst[n8..].iter_mut().zip(&src[n8..]) {
        *d = mf.encode(x) as u16;
    }
}

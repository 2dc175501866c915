//! SIMD128 kernels for the FP16/BF16 conversions and the FP8/FP4 encoders. Each names the scalar reference it must
//! equal bit for bit (the `half` crate, via `super::reference`), including NaN payloads,
//! subnormals, overflow and ties; src/core/tests/float_fixtures.rs checks them against the reference on
//! random bit patterns of every class and awkward lengths. Eight elements per step (two
//! f32x4 ↔ one u16x8); the tail goes through the reference.

use core::arch::wasm32::*;
#[cfg(feature = "fast-kernels")]
use core::mem::MaybeUninit;

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
/// format's NaN code, RNE, saturation to ±max (see [`MinifloatLanes::encode`]).
pub(super) fn f32_to_minifloat(mf: &super::Minifloat, src: &[f32], dst: &mut [u16]) {
    let lanes = MinifloatLanes::new(mf);
    // Eight a step: the codes (≤ 0xff) narrow to u16 lanes exactly.
    let n8 = src.len() / 8 * 8;
    for i in (0..n8).step_by(8) {
        // SAFETY: i + 8 <= n8 <= len of both slices (equal, checked by the caller); wasm loads
        // and stores have no alignment requirement.
        unsafe {
            let lo = lanes.encode(v128_load(src.as_ptr().add(i) as *const v128));
            let hi = lanes.encode(v128_load(src.as_ptr().add(i + 4) as *const v128));
            v128_store(dst.as_mut_ptr().add(i) as *mut v128, u16x8_narrow_i32x4(lo, hi));
        }
    }
    for (d, &x) in dst[n8..].iter_mut().zip(&src[n8..]) {
        *d = mf.encode(x) as u16;
    }
}

/// A [`super::Minifloat`]'s constants as lanes, for its four-lane encoder and decoder.
struct MinifloatLanes {
    mf: super::Minifloat,
    drop: u32,
    sign_shift: u32,
    nan: v128,
    max_code: v128,
    half: v128,
    rest_mask: v128,
    to_subnormal_units: v128,
    smallest_normal: v128,
    rebias: v128,
    /// [`MinifloatLanes::encode_plain`]'s: `half − 1`, and `2^(emin − mbits + 23)`.
    #[cfg_attr(not(feature = "fast-kernels"), allow(dead_code))]
    half_minus_one: v128,
    #[cfg_attr(not(feature = "fast-kernels"), allow(dead_code))]
    subnormal_bias: v128,
    /// The decoder's: subnormal code 1's value, and the exponent rebias into f32's field.
    #[cfg_attr(not(feature = "fast-kernels"), allow(dead_code))]
    from_subnormal_units: v128,
    #[cfg_attr(not(feature = "fast-kernels"), allow(dead_code))]
    code_rebias: v128,
    /// [`MinifloatLanes::decode16`]'s: the top half of the f32 value of magnitudes 0..15 (FP4:
    /// of every code), low and high bytes; the masks of a code's magnitude and sign; the
    /// formula of a larger magnitude's top half, `(mag << shift) + add`; and the largest
    /// magnitude that is not Inf or NaN.
    #[cfg_attr(not(feature = "fast-kernels"), allow(dead_code))]
    table: (v128, v128),
    #[cfg_attr(not(feature = "fast-kernels"), allow(dead_code))]
    masks: (v128, v128),
    #[cfg_attr(not(feature = "fast-kernels"), allow(dead_code))]
    formula: (u32, v128),
    #[cfg_attr(not(feature = "fast-kernels"), allow(dead_code))]
    finite_up_to: v128,
}

impl MinifloatLanes {
    fn new(mf: &super::Minifloat) -> Self {
        let emin = 1 - mf.bias;
        let drop = 23 - mf.mbits;
        MinifloatLanes {
            mf: *mf,
            drop,
            sign_shift: 31 - (mf.mbits + mf.ebits),
            nan: u32x4_splat(mf.nan_code),
            max_code: u32x4_splat(mf.max_code),
            half: u32x4_splat(1 << (drop - 1)),
            half_minus_one: u32x4_splat((1 << (drop - 1)) - 1),
            subnormal_bias: f32x4_splat(f32::from_bits(((emin - mf.mbits as i32 + 127 + 23) as u32) << 23)),
            rest_mask: u32x4_splat((1 << drop) - 1),
            to_subnormal_units: f32x4_splat(f32::from_bits(((mf.mbits as i32 - emin + 127) as u32) << 23)),
            // The value of subnormal code 1: 2^(emin − mbits).
            from_subnormal_units: f32x4_splat(f32::from_bits(((emin - mf.mbits as i32 + 127) as u32) << 23)),
            // |x| < 2^emin in f32 bits: the target's subnormals (and zero).
            smallest_normal: u32x4_splat(((emin + 127) as u32) << 23),
            rebias: u32x4_splat(((mf.bias - 127) as u32) << mf.mbits),
            code_rebias: u32x4_splat(((127 - mf.bias) as u32) << 23),
            table: {
                // FP4 (4 bits): every code, its sign included; FP8: magnitudes 0..15.
                let top = |i: u32| (mf.decode(i).to_bits() >> 16) as u16;
                let lo: [u8; 16] = core::array::from_fn(|i| top(i as u32) as u8);
                let hi: [u8; 16] = core::array::from_fn(|i| (top(i as u32) >> 8) as u8);
                // SAFETY: 16 readable bytes each.
                unsafe { (v128_load(lo.as_ptr() as *const v128), v128_load(hi.as_ptr() as *const v128)) }
            },
            masks: if mf.ebits + mf.mbits == 3 { (u8x16_splat(0x0f), u8x16_splat(0)) } else { (u8x16_splat(0x7f), u8x16_splat(0x80)) },
            formula: (7 - mf.mbits, u16x8_splat(((127 - mf.bias) as u16) << 7)),
            finite_up_to: u8x16_splat(match mf.specials {
                super::Specials::None => 0xff,
                super::Specials::E4m3fn => 0x7e,
                super::Specials::Ieee => (((1u32 << mf.ebits) - 1) << mf.mbits) as u8 - 1,
            }),
        }
    }

    /// Four f32 → four codes (u32 lanes); reference `Minifloat::encode`. The normal path is the
    /// reference's integer rebias-and-round with its constant shifts; the subnormal path, whose
    /// shift varies per lane (SIMD128 shifts all lanes alike), computes the same
    /// `RNE(|x| / 2^(emin − mbits))` in f32: scaling by a power of two is exact there (the result
    /// is below 2^mbits) and `nearest` rounds ties to even, so it is the reference's
    /// `rne_shift` of the significand.
    #[inline(always)]
    fn encode(&self, x: v128) -> v128 {
        let a = v128_and(x, u32x4_splat(0x7fff_ffff));
        let sign = u32x4_shr(v128_and(x, u32x4_splat(0x8000_0000)), self.sign_shift);
        // Normal: ((e + bias) << mbits | top mantissa bits), rounded up when the dropped bits
        // are over half, or half with an odd result. (e + bias) << mbits is (a >> 23 << mbits)
        // plus the rebias, in wrapping u32 arithmetic.
        let kept = i32x4_add(u32x4_shr(a, self.drop), self.rebias);
        let rest = v128_and(a, self.rest_mask);
        let up = v128_or(
            u32x4_gt(rest, self.half),
            v128_and(i32x4_eq(rest, self.half), i32x4_eq(v128_and(kept, u32x4_splat(1)), u32x4_splat(1))),
        );
        let normal = i32x4_sub(kept, up); // `up` lanes are −1 (all ones): subtracting adds 1
        let sub = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(a, self.to_subnormal_units)));
        let code = v128_bitselect(sub, normal, u32x4_lt(a, self.smallest_normal));
        let code = v128_or(u32x4_min(code, self.max_code), sign);
        let nan = if self.mf.nan_keeps_sign { v128_or(self.nan, sign) } else { self.nan };
        v128_bitselect(nan, code, u32x4_gt(a, u32x4_splat(0x7f80_0000)))
    }

    /// Four f32 with `|x|` at most the largest finite value (no NaN, nothing to clip) → their
    /// codes (u32 lanes) and those codes' f32 values; equal to [`Self::encode`] and then
    /// [`Self::decode`] on such lanes. Normal: `t = |x| + (half − 1) + lsb` is the value rounded
    /// to even before the shift (F. Giesen's rounding, as FP16's), so the code is
    /// `(t >> drop) + rebias` and its value `t` with the dropped bits cleared (a carry runs into
    /// the exponent, never past the largest finite value here). Subnormal (and zero):
    /// `s = |x| + C` with `C = 2^(emin − mbits + 23)`, whose ulp is the subnormal quantum, rounds
    /// `|x|` to that quantum with ties to even (`s` stays in [C, 2C)), so the code is
    /// `bits(s) − bits(C)` and its value `s − C` (exact; reaching 2^emin gives the smallest
    /// normal's code). About 18 operations where `encode` and `decode16` are about 45.
    #[cfg(feature = "fast-kernels")]
    #[inline(always)]
    fn encode_plain(&self, x: v128) -> (v128, v128) {
        let sign = v128_and(x, u32x4_splat(0x8000_0000));
        let a = v128_xor(x, sign);
        let t = i32x4_add(i32x4_add(a, self.half_minus_one), v128_and(u32x4_shr(a, self.drop), u32x4_splat(1)));
        let normal = i32x4_add(u32x4_shr(t, self.drop), self.rebias);
        let s = f32x4_add(a, self.subnormal_bias);
        let sub = i32x4_sub(s, self.subnormal_bias);
        let is_sub = i32x4_lt(a, self.smallest_normal);
        let code = v128_or(v128_bitselect(sub, normal, is_sub), u32x4_shr(sign, self.sign_shift));
        let value = v128_bitselect(f32x4_sub(s, self.subnormal_bias), v128_andnot(t, self.rest_mask), is_sub);
        (code, v128_or(value, sign))
    }

    /// Four codes (u32 lanes, each a valid code) → their f32 values; reference
    /// `Minifloat::decode`: a normal code's exponent and mantissa moved into f32's fields and
    /// rebiased, a subnormal's `m · 2^(emin − mbits)` (exact), the specials, then the sign.
    #[cfg(feature = "fast-kernels")]
    #[inline(always)]
    fn decode(&self, code: v128) -> v128 {
        let mf = &self.mf;
        let sign_bit = 1u32 << (mf.mbits + mf.ebits);
        let mag = v128_and(code, u32x4_splat(sign_bit - 1));
        let sign = u32x4_shl(v128_and(code, u32x4_splat(sign_bit)), self.sign_shift);
        let normal = i32x4_add(u32x4_shl(mag, self.drop), self.code_rebias);
        let sub = f32x4_mul(f32x4_convert_i32x4(mag), self.from_subnormal_units);
        let mut v = v128_bitselect(sub, normal, u32x4_lt(mag, u32x4_splat(1 << mf.mbits)));
        let nan = u32x4_splat(0x7fc0_0000);
        match mf.specials {
            super::Specials::None => {}
            super::Specials::E4m3fn => v = v128_bitselect(nan, v, i32x4_eq(mag, u32x4_splat(0x7f))),
            super::Specials::Ieee => {
                let all_ones = ((1u32 << mf.ebits) - 1) << mf.mbits;
                let special = u32x4_ge(mag, u32x4_splat(all_ones));
                let inf = v128_bitselect(u32x4_splat(0x7f80_0000), nan, i32x4_eq(mag, u32x4_splat(all_ones)));
                v = v128_bitselect(inf, v, special);
            }
        }
        v128_or(v, sign)
    }

    /// Sixteen codes (bytes) → their f32 values, four vectors; equal to [`Self::decode`] lane
    /// for lane. Every FP8 and FP4 value is a BF16 value (an 8-bit exponent and at most 3
    /// mantissa bits), so a code becomes the top half of its f32 (the bottom half is zero): for
    /// a magnitude below 16 (zero, the subnormals, the first normals; FP4: every code, signed)
    /// looked up in a 16-entry table of its two bytes (`swizzle` gives 0 for a larger index),
    /// for a larger one `(mag << (7 − mbits)) + ((127 − bias) << 7)`, the exponent rebiased as
    /// in `decode`; the sign bit on top. A step holding an Inf or NaN code gives `None`: the
    /// caller writes it with [`decode16_specials`] (out of line, so that the fast step's four
    /// vectors stay in registers: returned through memory from a call on one branch, they cost
    /// FP8/FP4 dequantize a third of its speed).
    /// About 1.7 operations a value, against `decode`'s 3.6 (issue 15: FP8/FP4 dequantize
    /// 2.9–3.9 GB/s in Chromium before, the goal 4).
    #[cfg(feature = "fast-kernels")]
    #[inline(always)]
    fn decode16(&self, codes: v128) -> Option<[v128; 4]> {
        if v128_any_true(u8x16_gt(v128_and(codes, self.masks.0), self.finite_up_to)) {
            return None;
        }
        let mag = v128_and(codes, self.masks.0);
        let lo = i8x16_swizzle(self.table.0, mag);
        let hi = v128_or(i8x16_swizzle(self.table.1, mag), v128_and(codes, self.masks.1));
        // Top halves as u16 lanes: codes 0..7, then 8..15.
        let tops = [
            (i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(lo, hi), u16x8_extend_low_u8x16(mag)),
            (i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(lo, hi), u16x8_extend_high_u8x16(mag)),
        ]
        .map(|(top, mag)| {
            let formula = i16x8_add(i16x8_shl(mag, self.formula.0), self.formula.1);
            v128_or(top, v128_and(formula, i16x8_gt(mag, i16x8_splat(15))))
        });
        let z = i16x8_splat(0);
        Some([
            i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(z, tops[0]),
            i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(z, tops[0]),
            i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(z, tops[1]),
            i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(z, tops[1]),
        ])
    }
}

/// The sixteen values of a step of codes holding an Inf or NaN code (where
/// [`MinifloatLanes::decode16`] gives `None`), by [`MinifloatLanes::decode`], written to `out`:
/// out of line (rare, and linked once for its callers).
///
/// # Safety
/// `out` must be valid for writing 16 f32 (no alignment needed).
#[cfg(feature = "fast-kernels")]
#[cold]
#[inline(never)]
unsafe fn decode16_specials(mf: super::Minifloat, codes: v128, out: *mut f32) {
    let lanes = MinifloatLanes::new(&mf);
    let (lo, hi) = (u16x8_extend_low_u8x16(codes), u16x8_extend_high_u8x16(codes));
    let c = [u32x4_extend_low_u16x8(lo), u32x4_extend_high_u16x8(lo), u32x4_extend_low_u16x8(hi), u32x4_extend_high_u16x8(hi)];
    for (k, c) in c.into_iter().enumerate() {
        // SAFETY: the caller's.
        unsafe { v128_store(out.add(4 * k) as *mut v128, lanes.decode(c)) };
    }
}

// ------------------------------------------------- fast-kernels: one pass over a chunk

/// Four f32 → their FP16 codes (u32 lanes) and those codes' f32 values, in one pass; equal to
/// [`f32x4_to_f16`] and then [`f16_to_f32x4`] (`half`'s `from_f32` and `to_f32`) lane for lane.
/// Normal range: `t = |x| + 0xfff + lsb` is the rounded value before the shift, so the code is
/// `(t − rebias) >> 13` and its value `t` with the 13 dropped bits cleared (a carry that runs
/// out of FP16's range gives code 0x7c00, ±Inf); subnormals: `s = |x| + 0.5` rounds at 2^-24 and
/// `s − 0.5` is exact; NaN: the top ten mantissa bits and the quiet bit, both ways.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn f32x4_to_f16_and_back(x: v128) -> (v128, v128) {
    let sign = v128_and(x, u32x4_splat(0x8000_0000));
    let a = v128_xor(x, sign);
    let t = i32x4_add(i32x4_add(a, u32x4_splat(0x0fff)), v128_and(u32x4_shr(a, 13), u32x4_splat(1)));
    let normal = u32x4_shr(i32x4_sub(t, u32x4_splat(0x3800_0000)), 13);
    let normal_value = v128_and(t, u32x4_splat(0xffff_e000));
    let s = f32x4_add(a, f32x4_splat(0.5));
    let is_sub = u32x4_lt(a, u32x4_splat(0x3880_0000));
    // t ≥ 65536 in f32 bits: beyond max finite once rounded (t wraps only for NaN, below).
    let over = u32x4_ge(t, u32x4_splat(0x4780_0000));
    let is_nan = u32x4_gt(a, u32x4_splat(0x7f80_0000));
    let mut code = v128_bitselect(i32x4_sub(s, u32x4_splat(0x3f00_0000)), normal, is_sub);
    let mut value = v128_bitselect(f32x4_sub(s, f32x4_splat(0.5)), normal_value, is_sub);
    code = v128_bitselect(u32x4_splat(0x7c00), code, over);
    value = v128_bitselect(u32x4_splat(0x7f80_0000), value, over);
    code = v128_bitselect(v128_or(u32x4_splat(0x7e00), u32x4_shr(v128_and(a, u32x4_splat(0x7f_ffff)), 13)), code, is_nan);
    value = v128_bitselect(v128_or(v128_and(a, u32x4_splat(0xffff_e000)), u32x4_splat(0x0040_0000)), value, is_nan);
    (v128_or(code, u32x4_shr(sign, 16)), v128_or(value, sign))
}

/// Lanes of finite `x` with `|x|` above `max_bits` (|max finite| as f32 bits): −1 each.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn clip_mask(x: v128, max_bits: v128) -> v128 {
    let a = v128_and(x, u32x4_splat(0x7fff_ffff));
    v128_and(u32x4_gt(a, max_bits), u32x4_lt(a, u32x4_splat(0x7f80_0000)))
}

/// The level count's state across chunks, for sign-magnitude codes (FP16/BF16: sign bit 15;
/// FP8: bit 7): every magnitude in `start ..= start + lim` has been seen with both signs, so a
/// step whose codes all fall in that run cannot add a level and skips its stores into the
/// table (three operations a step instead of a store per code). On weights the run soon
/// covers the dense middle of the range and nearly every step is inside it. Empty (`start` all
/// ones, above every magnitude) until some magnitude has been seen with both signs.
#[cfg(feature = "fast-kernels")]
pub(super) struct LevelRun {
    start: u16,
    lim: u16,
}

#[cfg(feature = "fast-kernels")]
impl LevelRun {
    pub(super) fn new() -> Self {
        LevelRun { start: u16::MAX, lim: 0 }
    }

    /// Marks `codes` in `seen`, then grows the run over the magnitudes now seen with both signs
    /// (`sign`: the sign bit; magnitudes below it). Out of line: the fast step stays small.
    #[inline(never)]
    fn see(&mut self, codes: &[u16], seen: &mut [bool], sign: u16) {
        for &c in codes {
            seen[c as usize] = true;
        }
        let both = |m: u32| seen[m as usize] && seen[(m | sign as u32) as usize];
        if self.start == u16::MAX {
            match codes.iter().map(|&c| (c & !sign) as u32).find(|&m| both(m)) {
                Some(m) => (self.start, self.lim) = (m as u16, 0),
                None => return,
            }
        }
        let (mut start, mut len) = (self.start as u32, self.lim as u32 + 1);
        while start + len < sign as u32 && both(start + len) {
            len += 1;
        }
        while start > 0 && both(start - 1) {
            (start, len) = (start - 1, len + 1);
        }
        (self.start, self.lim) = (start as u16, (len - 1) as u16);
    }

    /// Eight FP16/BF16 codes (u16 lanes): marked unless every magnitude is in the run.
    #[inline(always)]
    fn see16(&mut self, codes: v128, seen: &mut [bool]) {
        let d = i16x8_sub(v128_and(codes, u16x8_splat(0x7fff)), u16x8_splat(self.start));
        if v128_any_true(u16x8_sub_sat(d, u16x8_splat(self.lim))) {
            let mut c = [0u16; 8];
            // SAFETY: 16 writable bytes.
            unsafe { v128_store(c.as_mut_ptr() as *mut v128, codes) };
            self.see(&c, seen, 0x8000);
        }
    }

    /// Sixteen FP8 codes (bytes): marked unless every magnitude is in the run.
    #[inline(always)]
    fn see8(&mut self, codes: v128, seen: &mut [bool]) {
        let d = i8x16_sub(v128_and(codes, u8x16_splat(0x7f)), u8x16_splat(self.start as u8));
        if v128_any_true(u8x16_sub_sat(d, u8x16_splat(self.lim as u8))) {
            let mut b = [0u8; 16];
            // SAFETY: 16 writable bytes.
            unsafe { v128_store(b.as_mut_ptr() as *mut v128, codes) };
            self.see(&b.map(u16::from), seen, 0x80);
        }
    }
}

/// The `fast-kernels` quantize of one chunk (`super::FloatScheme::quantize_chunked`): each
/// step encodes 16 values, stores their codes packed (little-endian u16, bytes, or FP4's two a
/// byte, low nibble first) into `packed`, their decoding into `deq`, and counts clips — equal
/// to `encode_slice`, the scalar pack, `decode_slice` and the clip filter. FP16/BF16/FP8 also
/// mark their codes in `seen` (through `run`); FP4 leaves that to the caller. Returns
/// (clipped, elements done: whole steps of 16); the caller finishes the rest.
#[cfg(feature = "fast-kernels")]
pub(super) fn quantize_chunk(
    format: super::FloatFormat,
    x: &[f32],
    packed: &mut [u8],
    deq: &mut [MaybeUninit<f32>],
    seen: &mut [bool],
    run: &mut LevelRun,
) -> (usize, usize) {
    use super::FloatFormat;
    let n16 = x.len() / 16 * 16;
    let bits = format.bits() as usize;
    assert!(deq.len() >= n16 && packed.len() >= n16 * bits / 8);
    match format {
        FloatFormat::Fp16 => return half_steps::<true>(&x[..n16], &mut packed[..2 * n16], &mut deq[..n16], seen, run),
        FloatFormat::Bf16 => return half_steps::<false>(&x[..n16], &mut packed[..2 * n16], &mut deq[..n16], seen, run),
        _ => {}
    }
    let max_bits = u32x4_splat(format.max_finite().to_bits());
    let mut clips = i32x4_splat(0);
    let load = |i: usize| -> v128 {
        // SAFETY: i + 4 <= n16 <= x.len(); no alignment requirement.
        unsafe { v128_load(x.as_ptr().add(i) as *const v128) }
    };
    let deq_ptr = deq.as_mut_ptr() as *mut f32;
    let store_value = |i: usize, v: v128| {
        // SAFETY: i + 4 <= n16 <= deq.len() (asserted).
        unsafe { v128_store(deq_ptr.add(i) as *mut v128, v) }
    };
    let out = packed.as_mut_ptr();
    let mf = format.minifloat().expect("FP8/FP4");
    let lanes = MinifloatLanes::new(&mf);
    for i in (0..n16).step_by(16) {
        let v: [v128; 4] = core::array::from_fn(|k| load(i + 4 * k));
        // A step whose |x| are all at most the largest finite value (no NaN, nothing clipped)
        // takes `encode_plain`, codes and values at once; any other the full encoder, the clip
        // count and `decode16`.
        let amax = v.map(|v| v128_and(v, u32x4_splat(0x7fff_ffff)));
        let amax = i32x4_max(i32x4_max(amax[0], amax[1]), i32x4_max(amax[2], amax[3]));
        let mut c = [i32x4_splat(0); 4];
        let bytes = if !v128_any_true(i32x4_gt(amax, max_bits)) {
            for (k, c) in c.iter_mut().enumerate() {
                let (code, value) = lanes.encode_plain(v[k]);
                store_value(i + 4 * k, value);
                *c = code;
            }
            // Codes ≤ 0xff: both narrowings are exact.
            u8x16_narrow_i16x8(i16x8_narrow_i32x4(c[0], c[1]), i16x8_narrow_i32x4(c[2], c[3]))
        } else {
            for (k, c) in c.iter_mut().enumerate() {
                clips = i32x4_add(clips, clip_mask(v[k], max_bits));
                *c = lanes.encode(v[k]);
            }
            let bytes = u8x16_narrow_i16x8(i16x8_narrow_i32x4(c[0], c[1]), i16x8_narrow_i32x4(c[2], c[3]));
            match lanes.decode16(bytes) {
                Some(v) => v.into_iter().enumerate().for_each(|(k, v)| store_value(i + 4 * k, v)),
                // SAFETY: i + 16 <= n16 <= deq.len() (asserted).
                None => unsafe { decode16_specials(mf, bytes, deq_ptr.add(i)) },
            }
            bytes
        };
        if bits == 8 {
            // SAFETY: bytes i .. i + 16 of packed (asserted).
            unsafe { v128_store(out.add(i) as *mut v128, bytes) };
            run.see8(bytes, seen);
        } else {
            // Each u16 lane holds codes 2j (low byte) and 2j + 1: byte j = low | high << 4.
            let pairs = v128_or(v128_and(bytes, u16x8_splat(0x0f)), v128_and(u16x8_shr(bytes, 4), u16x8_splat(0xf0)));
            // SAFETY: bytes i/2 .. i/2 + 8 of packed (asserted: n16 / 2 bytes).
            unsafe { v128_store64_lane::<0>(u8x16_narrow_i16x8(pairs, pairs), out.add(i / 2) as *mut u64) };
        }
    }
    (lane_sum_negated(clips), n16)
}

/// The four i32 lanes of `clips` (each a sum of −1 per clip) as a count.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn lane_sum_negated(clips: v128) -> usize {
    let c = i32x4_add(clips, i32x4_shuffle::<2, 3, 0, 1>(clips, clips));
    let c = i32x4_add(c, i32x4_shuffle::<1, 0, 3, 2>(c, c));
    (i32x4_extract_lane::<0>(c) as u32).wrapping_neg() as usize
}

/// [`quantize_chunk`] for FP16 (`FP16`) or BF16, whole steps of 16 (`x.len()` a multiple of
/// 16). A step whose `|x|` all lie where the conversion is a plain rounding — FP16: normal
/// and not clipped, `2⁻¹⁴ ≤ |x| ≤ 65504`; BF16: not NaN and not clipped, `|x| ≤` its largest
/// finite value — takes the rounding alone: `t = |x| + 0xfff + lsb` (BF16: `x + 0x7fff + lsb`,
/// which cannot carry into the sign there), the code `(t − rebias) >> 13` with the sign (BF16:
/// `t >> 16`) and the value `t` with the dropped bits cleared: what [`f32x4_to_f16_and_back`]
/// and [`f32x4_to_bf16`] give on those lanes, in about half their operations, and nothing to
/// clip. Any other step (a zero, a subnormal, an overflow, Inf or NaN in it) takes those full
/// conversions and the clip count.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn half_steps<const FP16: bool>(
    x: &[f32],
    packed: &mut [u8],
    deq: &mut [MaybeUninit<f32>],
    seen: &mut [bool],
    run: &mut LevelRun,
) -> (usize, usize) {
    let max_bits = u32x4_splat(if FP16 { super::FloatFormat::Fp16 } else { super::FloatFormat::Bf16 }.max_finite().to_bits());
    let (lo_bound, hi_bound) = if FP16 { (0x3880_0000, 0x477f_e000) } else { (0, 0x7f7f_0000) };
    let mut clips = i32x4_splat(0);
    let steps = x.chunks_exact(16).zip(packed.chunks_exact_mut(32)).zip(deq.chunks_exact_mut(16));
    for ((x16, p32), d16) in steps {
        // SAFETY: x16 holds 16 f32; no alignment requirement.
        let v: [v128; 4] = core::array::from_fn(|k| unsafe { v128_load(x16.as_ptr().add(4 * k) as *const v128) });
        let a = v.map(|v| v128_and(v, u32x4_splat(0x7fff_ffff)));
        let amax = i32x4_max(i32x4_max(a[0], a[1]), i32x4_max(a[2], a[3]));
        let mut outside = i32x4_gt(amax, i32x4_splat(hi_bound));
        if FP16 {
            let amin = i32x4_min(i32x4_min(a[0], a[1]), i32x4_min(a[2], a[3]));
            outside = v128_or(outside, i32x4_lt(amin, i32x4_splat(lo_bound)));
        }
        let plain = !v128_any_true(outside);
        for h in 0..2 {
            let (lo, hi) = (v[2 * h], v[2 * h + 1]);
            let ((cl, vl), (ch, vh)) = if plain {
                if FP16 {
                    let f = |x: v128| {
                        let sign = v128_and(x, u32x4_splat(0x8000_0000));
                        let a = v128_xor(x, sign);
                        let t = i32x4_add(i32x4_add(a, u32x4_splat(0x0fff)), v128_and(u32x4_shr(a, 13), u32x4_splat(1)));
                        let code = v128_or(u32x4_shr(i32x4_sub(t, u32x4_splat(0x3800_0000)), 13), u32x4_shr(sign, 16));
                        (code, v128_or(v128_and(t, u32x4_splat(0xffff_e000)), sign))
                    };
                    (f(lo), f(hi))
                } else {
                    let f = |x: v128| {
                        let t = i32x4_add(i32x4_add(x, u32x4_splat(0x7fff)), v128_and(u32x4_shr(x, 16), u32x4_splat(1)));
                        (u32x4_shr(t, 16), v128_and(t, u32x4_splat(0xffff_0000)))
                    };
                    (f(lo), f(hi))
                }
            } else {
                clips = i32x4_add(clips, i32x4_add(clip_mask(lo, max_bits), clip_mask(hi, max_bits)));
                if FP16 {
                    (f32x4_to_f16_and_back(lo), f32x4_to_f16_and_back(hi))
                } else {
                    // A BF16 code's value is the code as the top half (a NaN code keeps its
                    // quiet bit, which the encoder set): `bf16_to_f32x4`.
                    let (cl, ch) = (f32x4_to_bf16(lo), f32x4_to_bf16(hi));
                    ((cl, i32x4_shl(cl, 16)), (ch, i32x4_shl(ch, 16)))
                }
            };
            let codes = u16x8_narrow_i32x4(cl, ch);
            // SAFETY: p32 holds 32 bytes and d16 16 f32; no alignment requirement.
            unsafe {
                v128_store(p32.as_mut_ptr().add(16 * h) as *mut v128, codes);
                v128_store(d16.as_mut_ptr().add(8 * h) as *mut v128, vl);
                v128_store(d16.as_mut_ptr().add(8 * h + 4) as *mut v128, vh);
            }
            run.see16(codes, seen);
        }
    }
    (lane_sum_negated(clips), x.len())
}

/// Eight FP16 codes (u16 lanes) → their f32 values, low four and high four; equal to
/// [`f16_to_f32x4`] (`half`'s `to_f32`) lane for lane. When every lane is ±0 or normal — a step
/// of weights, nearly always — the code goes into f32's fields as it is (`h << 16`: the sign on
/// top; shifted down 3 more with the sign cleared out of the gap: the exponent and mantissa in
/// place) and one multiplication by 2^112 rebiases the exponent, exact (a power of two, the
/// result normal; ±0 stays ±0). A step with a subnormal, Inf or NaN code takes
/// [`f16_to_f32x4`]: a subnormal f32 operand of a multiplication costs a microcode assist on
/// Intel cores (~55 ns a vector against 0.2, `_mm_mul_ps` natively on this machine), and
/// `f16_to_f32x4`'s subtraction never has one. About 2 operations a value against 4.6.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn f16x8_to_f32(h: v128) -> Option<(v128, v128)> {
    let em = v128_and(h, u16x8_splat(0x7fff));
    // em + 0x7c00 as i16: below −0x800 exactly for the normal codes (0x0400..=0x7bff).
    let normal = i16x8_lt(i16x8_add(em, i16x8_splat(0x7c00)), i16x8_splat(-0x800));
    if !i16x8_all_true(v128_or(normal, i16x8_eq(em, i16x8_splat(0)))) {
        return None;
    }
    let z = i16x8_splat(0);
    let field = |x: v128| f32x4_mul(v128_and(i32x4_shr(x, 3), u32x4_splat(0x8fff_ffff)), f32x4_splat(f32::from_bits(239 << 23)));
    Some((field(i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(z, h)), field(i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(z, h))))
}

/// The eight values of a step of FP16 codes with a subnormal, Inf or NaN code (where
/// [`f16x8_to_f32`] gives `None`), by [`f16_to_f32x4`], written to `out`: out of line (rare,
/// and linked once for its callers; see [`MinifloatLanes::decode16`] on why).
///
/// # Safety
/// `out` must be valid for writing 8 f32 (no alignment needed).
#[cfg(feature = "fast-kernels")]
#[cold]
#[inline(never)]
unsafe fn f16x8_to_f32_full(h: v128, out: *mut f32) {
    // SAFETY: the caller's.
    unsafe {
        v128_store(out as *mut v128, f16_to_f32x4(u32x4_extend_low_u16x8(h)));
        v128_store(out.add(4) as *mut v128, f16_to_f32x4(u32x4_extend_high_u16x8(h)));
    }
}

/// Eight BF16 codes (u16 lanes) → their f32 values, equal to [`bf16_to_f32x4`]: a NaN code gets
/// the quiet bit (in eight lanes at once), then each code is the top half of its f32.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn bf16x8_to_f32(h: v128) -> (v128, v128) {
    let quiet = v128_and(i16x8_gt(v128_and(h, u16x8_splat(0x7fff)), i16x8_splat(0x7f80)), u16x8_splat(0x40));
    let (h, z) = (v128_or(h, quiet), i16x8_splat(0));
    (i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(z, h), i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(z, h))
}

/// Packed bytes → f32, straight from the bytes: FP16/BF16 eight a step (little-endian u16,
/// [`f16x8_to_f32`] / [`bf16x8_to_f32`]), FP8 sixteen a step and FP4 sixteen from eight bytes
/// (low nibble first), through [`MinifloatLanes::decode16`] — equal to unpacking the codes and
/// `decode_slice`. Returns the elements done (whole steps, within both `bytes` and `out`); the
/// caller decodes the rest.
#[cfg(feature = "fast-kernels")]
pub(super) fn decode_bytes(format: super::FloatFormat, bytes: &[u8], out: &mut [f32]) -> usize {
    let bits = format.bits() as usize;
    let step = if bits == 16 { 8 } else { 16 };
    let n = out.len().min(bytes.len() * 8 / bits) / step * step;
    let store = |o: &mut [f32], i: usize, v: v128| {
        // SAFETY: i + 4 <= n <= out.len().
        unsafe { v128_store(o.as_mut_ptr().add(i) as *mut v128, v) }
    };
    match format {
        super::FloatFormat::Fp16 | super::FloatFormat::Bf16 => {
            let fp16 = format == super::FloatFormat::Fp16;
            for i in (0..n).step_by(8) {
                // SAFETY: bytes 2i .. 2i + 16 are in bounds (n above); no alignment requirement.
                let h = unsafe { v128_load(bytes.as_ptr().add(2 * i) as *const v128) };
                match if fp16 { f16x8_to_f32(h) } else { Some(bf16x8_to_f32(h)) } {
                    Some((lo, hi)) => {
                        store(out, i, lo);
                        store(out, i + 4, hi);
                    }
                    // SAFETY: i + 8 <= n <= out.len().
                    None => unsafe { f16x8_to_f32_full(h, out.as_mut_ptr().add(i)) },
                }
            }
        }
        _ => {
            let lanes = MinifloatLanes::new(&format.minifloat().expect("FP8/FP4"));
            for i in (0..n).step_by(16) {
                // SAFETY: bytes i .. i + 16 (FP8) or i/2 .. i/2 + 8 (FP4) are in bounds (n above).
                let codes = unsafe {
                    if bits == 8 {
                        v128_load(bytes.as_ptr().add(i) as *const v128)
                    } else {
                        let b = v128_load64_zero(bytes.as_ptr().add(i / 2) as *const u64);
                        let (lo, hi) = (v128_and(b, u8x16_splat(0x0f)), u8x16_shr(b, 4));
                        i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(lo, hi)
                    }
                };
                match lanes.decode16(codes) {
                    Some(v) => v.into_iter().enumerate().for_each(|(k, v)| store(out, i + 4 * k, v)),
                    // SAFETY: i + 16 <= n <= out.len().
                    None => unsafe { decode16_specials(lanes.mf, codes, out.as_mut_ptr().add(i)) },
                }
            }
        }
    }
    n
}

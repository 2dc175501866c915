//! The SIMD128 kernels of the integer quantizer's per-element loops (wasm32 + simd128 only),
//! sixteen values a step: four f32x4 lanes quantized, narrowed to one vector of code bytes.

use super::reference::GroupMap;
use crate::simd128_io::{load16, store16};
use core::arch::wasm32::*;
#[cfg(feature = "fast-kernels")]
use core::mem::MaybeUninit;

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
/// same code (see [`quantize_magic`]), and a step where it might not be is redone as above.
pub fn quantize_group(values: &[f32], map: GroupMap, codes: &mut [u8], dequantized: &mut [f32]) -> usize {
    assert!(values.len() == codes.len() && values.len() == dequantized.len());
    #[cfg(feature = "fast-kernels")]
    if let Some(r) = reciprocal(map) {
        return quantize_magic(values, map, r, codes, crate::schemes::as_uninit(dequantized));
    }
    quantize_steps(values, map, codes, dequantized)
}

/// [`quantize_group`] writing `dequantized` through `MaybeUninit` (`fast-kernels`): every
/// element is written.
#[cfg(feature = "fast-kernels")]
pub fn quantize_group_uninit(values: &[f32], map: GroupMap, codes: &mut [u8], dequantized: &mut [MaybeUninit<f32>]) -> usize {
    assert!(values.len() == codes.len() && values.len() == dequantized.len());
    match reciprocal(map) {
        Some(r) => quantize_magic(values, map, r, codes, dequantized),
        None => quantize_steps(values, map, codes, crate::schemes::zeroed(dequantized)),
    }
}

/// `1/scale` where [`quantize_magic`] may use it.
#[cfg(feature = "fast-kernels")]
fn reciprocal(map: GroupMap) -> Option<f32> {
    let GroupMap { scale, zero_point, qmin, qmax } = map;
    let r = 1.0 / scale;
    (scale.is_finite() && r.is_finite() && r != 0.0 && -256 <= qmin && qmax <= 256 && (qmin..=qmax).contains(&zero_point)).then_some(r)
}

/// [`quantize_group`]'s loop with the division (without `fast-kernels`, and where `1/scale`
/// cannot be used).
#[inline(always)]
fn quantize_steps(values: &[f32], map: GroupMap, codes: &mut [u8], dequantized: &mut [f32]) -> usize {
    let GroupMap { scale, zero_point, qmin, qmax } = map;
    let (vs, vzp, vlo, vhi) = (f32x4_splat(scale), f32x4_splat(zero_point as f32), f32x4_splat(qmin as f32), f32x4_splat(qmax as f32));
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
            let p = f32x4_div(x, vs);
            let rounded = f32x4_nearest(p);
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

/// The `fast-kernels` loop of [`quantize_group`]: `x·r` (`r = 1/scale` in f32) instead of
/// `x / scale`, where that is provably the same code.
///
/// Why the product gives the reference's code wherever a step is not redone: let `Q = x/scale`
/// exactly, `d = fl(x/scale)` (the reference's quotient) and `p = fl(x·r)`. Each of `d`, `r`
/// and `p` is one rounding (relative error ≤ u = 2⁻²⁴), so `|d − p| ≤ |Q|·(3u + u²)`. A lane
/// keeps `p`'s code only if `|p − nearest(p)| < ½ − 2⁻¹³` (the subtraction is exact: `p` and
/// the integer are within ½ of each other). An unclamped lane has `|nearest(p) + zp| ≤ 256`
/// with `|zp| ≤ 256` (the caller checks qmin ≥ −256, qmax ≤ 256, zp in [qmin, qmax]), so
/// `|p| < 512.5` and `|d − p| < 512.5·(1 + 2u)·(3u + u²) < 2⁻¹³`: no half-integer lies between
/// `d` and `p` (nor on `d`), so `d` rounds to the same integer. A clamped lane, NaN (`x` NaN)
/// or ±Inf (`x` ±Inf, or `x·r` overflowing) is redone by the reference. Subnormal or zero `p`
/// or `d` (tiny `x`) are far below ½: both round to a zero. `tests/kernels.rs` holds the
/// kernel to the reference on ties, near-ties and random bits.
///
/// The loop (session 26: ~10 % faster than `f32x4_nearest`, clamps and `ne` in Node's V8, 16M
/// values by CPU time), a step of sixteen:
/// - `t = p + 1.5·2²³` rounds `p = x·r` to the nearest integer, ties to even, as `f32x4_nearest`
///   does, wherever `t` lies in [2²³, 2²⁴) (f32's spacing there is 1), so `n = t − 1.5·2²³` is
///   that integer (+0 for a zero, as the reference's `(q − zp) as f32`) and `t`'s bit pattern
///   minus bits(1.5·2²³) is `n` as an i32: minus that and `zp`, it is the code `q = n + zp`.
/// - A step is kept only if every lane has `qmin ≤ q ≤ qmax` — which puts `t` in that binade
///   (outside it the pattern is at least 2²² away), catches NaN and ±Inf (their patterns are
///   far from it too), and bounds `|p| < 512.5` as the argument above needs — and
///   `fl((p − n)²) ≤ (½ − 2⁻¹²)²`, which gives `|p − n| < ½ − 2⁻¹³` (`p − n` is exact; the
///   square's rounding is one part in 2²⁴; the bound is exact in f32). The squares are compared
///   as i32 patterns, in the order of their values (all ≥ +0 where `q` is in range).
/// - Then nothing is clamped, the reference's code is `q` and its value `(q − zp)·scale` is
///   `n·scale`; the code byte is the low byte of `q` (two's complement when signed), picked by
///   shuffles: `i16x8_narrow_i32x4` compiles to clamps and shuffles in LLVM and V8.
///
/// Any other step is redone (overwritten) by the scalar reference, as in [`quantize_steps`]:
/// on min-max ranges about one step in 130 (16 lanes, each within 2⁻¹² of a half one time in
/// 2048).
#[cfg(feature = "fast-kernels")]
#[inline(never)]
fn quantize_magic(values: &[f32], map: GroupMap, r: f32, codes: &mut [u8], dequantized: &mut [MaybeUninit<f32>]) -> usize {
    assert!(values.len() == codes.len() && values.len() == dequantized.len());
    // Where a square of `p − n` keeps its lane: (½ − 2⁻¹²)² = 2⁻² − 2⁻¹² + 2⁻²⁴, exact in f32.
    const FAR: f32 = 0.25 - 1.0 / 4096.0 + 1.0 / 16_777_216.0;
    const MAGIC: f32 = 12_582_912.0;
    let GroupMap { scale, zero_point, qmin, qmax } = map;
    let (vr, vs, vm) = (f32x4_splat(r), f32x4_splat(scale), f32x4_splat(MAGIC));
    let bias = i32x4_splat(MAGIC.to_bits() as i32 - zero_point);
    let (vqmin, vqmax) = (i32x4_splat(qmin), i32x4_splat(qmax));
    let far = i32x4_splat(FAR.to_bits() as i32);
    let mut clipped = 0usize;
    let n16 = values.len() / 16 * 16;
    let steps = values[..n16].chunks_exact(16).zip(codes[..n16].chunks_exact_mut(16)).zip(dequantized[..n16].chunks_exact_mut(16));
    for ((x16, c16), d16) in steps {
        let dp = d16.as_mut_ptr() as *mut f32;
        let lane = |k: usize| {
            // SAFETY: x16 and d16 hold 16 elements; unaligned loads and stores are allowed.
            let x = unsafe { v128_load(x16.as_ptr().add(4 * k) as *const v128) };
            let p = f32x4_mul(x, vr);
            let t = f32x4_add(p, vm);
            let n = f32x4_sub(t, vm);
            unsafe { v128_store(dp.add(4 * k) as *mut v128, f32x4_mul(n, vs)) };
            let d = f32x4_sub(p, n);
            (i32x4_sub(t, bias), f32x4_mul(d, d))
        };
        let ((q0, d0), (q1, d1)) = (lane(0), lane(1));
        let ((q2, d2), (q3, d3)) = (lane(2), lane(3));
        // The low byte of each lane: the code (two's complement when signed), if in range.
        let b01 = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(q0, q1);
        let b23 = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(q2, q3);
        // SAFETY: c16 holds 16 bytes.
        unsafe { v128_store(c16.as_mut_ptr() as *mut v128, i64x2_shuffle::<0, 2>(b01, b23)) };
        let (lo, hi) = (i32x4_min(i32x4_min(q0, q1), i32x4_min(q2, q3)), i32x4_max(i32x4_max(q0, q1), i32x4_max(q2, q3)));
        // d² as i32 patterns: ordered as the values (all ≥ 0), NaN above every finite one.
        let d = i32x4_max(i32x4_max(d0, d1), i32x4_max(d2, d3));
        if v128_any_true(v128_or(v128_or(i32x4_lt(lo, vqmin), i32x4_gt(hi, vqmax)), i32x4_gt(d, far))) {
            // Rare on min-max ranges: the reference redoes (overwrites) these sixteen.
            clipped += super::reference::quantize_group(x16, map, c16, crate::schemes::zeroed(d16));
        }
    }
    // Groups of a multiple of 16 (every listed size) have no tail: no call for it.
    if n16 < values.len() {
        clipped +=
            super::reference::quantize_group(&values[n16..], map, &mut codes[n16..], crate::schemes::zeroed(&mut dequantized[n16..]));
    }
    clipped
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

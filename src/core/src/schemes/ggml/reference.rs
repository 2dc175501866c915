//! The scalar reference for every GGML legacy block type: one block of 32 values at a time,
//! transcribed from llama.cpp's `quantize_row_*_ref` / `dequantize_row_*`
//! (`ggml/src/ggml-quants.c`) with quantscope's rules for non-finite values (see the parent
//! module's docs). Dequantization follows gguf-py (`gguf-py/gguf/quants.py`), which computes
//! `d * q` (and `+ m`) in f32 with separate roundings, as the C code does without FMA.
//!
//! This is the definition the SIMD kernels in `simd128.rs` must equal bit for bit; it is
//! always compiled, and tests compare the two on every target.

use super::{GgmlType, QK};
use half::f16;

/// E2M1 values doubled, indexed by the 4-bit MXFP4 code (`kvalues_mxfp4` in ggml-common.h).
pub const KVALUES_MXFP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// f32 → f16 bits, round to nearest even (as ggml's `GGML_FP32_TO_FP16` via F16C/`_cvtss_sh`
/// and NumPy's `astype(float16)`); overflow gives ±Inf.
#[inline]
pub fn fp16_bits(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}

/// f16 bits → f32 (exact).
#[inline]
pub fn fp16_value(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

/// [`fp16_bits`] with a short path (a few integer operations, no branch but the range check)
/// where `|x|` lies in [2⁻¹⁴, 65520), whose f16 is normal and finite: round to nearest even by
/// adding `0xFFF` plus the kept mantissa's lowest bit below the thirteen dropped bits (a carry
/// into the exponent is the right result), then rebias. Any other `x` takes [`fp16_bits`]. The
/// SIMD128 kernels take it for every block scale (`half`'s conversion is a chain of branches);
/// `tests/ggml_fixtures.rs` holds it to [`fp16_bits`].
#[inline(always)]
pub fn fp16_bits_fast(x: f32) -> u16 {
    let b = x.to_bits();
    let a = b & 0x7FFF_FFFF;
    // 0x3880_0000 = 2⁻¹⁴; 0x477F_F000 = 65520, the first value that rounds to Inf.
    if a.wrapping_sub(0x3880_0000) < 0x477F_F000 - 0x3880_0000 {
        let h = ((a + 0x0FFF + ((a >> 13) & 1)) >> 13) - ((127 - 15) << 10);
        (h | ((b >> 16) & 0x8000)) as u16
    } else {
        fp16_bits(x)
    }
}

/// [`fp16_value`] with a short path for normal codes (exponent field 1–30): the exponent
/// rebiased and the mantissa shifted into place, exact. Zero, subnormal, Inf and NaN codes take
/// [`fp16_value`].
#[inline(always)]
pub fn fp16_value_fast(h: u16) -> f32 {
    let h = h as u32;
    let e = h & 0x7C00;
    if e != 0 && e != 0x7C00 {
        f32::from_bits((((h & 0x7FFF) << 13) + ((127 - 15) << 23)) | ((h & 0x8000) << 16))
    } else {
        fp16_value(h as u16)
    }
}

/// quantscope's rule for block statistics: NaN and ±Inf count as 0.
#[inline]
fn finite_or_zero(v: f32) -> f32 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// The value the reference rounds or truncates, `f(x)`, with quantscope's rules: NaN input
/// is encoded as 0.0 would be; a NaN product (∞·0 when the scale is 0 or overflowed) becomes
/// the input itself if it is ±Inf (so it saturates towards its sign) and 0 otherwise.
#[inline]
fn product(x: f32, f: impl Fn(f32) -> f32) -> f32 {
    let x0 = if x.is_nan() { 0.0 } else { x };
    let p = f(x0);
    if p.is_nan() {
        if x.is_infinite() {
            x
        } else {
            0.0
        }
    } else {
        p
    }
}

/// `id = d ? 1.0f/d : 0.0f`, as in every legacy `_ref` quantizer.
#[inline]
pub fn inverse(d: f32) -> f32 {
    if d != 0.0 {
        1.0 / d
    } else {
        0.0
    }
}

/// Q8_0's block scale: `amax = MAX(amax, fabsf(v))` from 0, `d = amax / 127`.
#[inline]
pub fn q8_0_scale(x: &[f32]) -> f32 {
    let mut amax = 0.0f32;
    for &v in x {
        let a = finite_or_zero(v).abs();
        amax = if amax > a { amax } else { a };
    }
    amax / 127.0
}

/// Q4_0/Q5_0's signed max: the first value of largest magnitude (`if (amax < fabsf(v))`),
/// starting from +0.0, so an all-zero block keeps +0.0 and gets `d = -0.0`.
#[inline]
pub fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        let v = finite_or_zero(v);
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// Q4_1/Q5_1's range: `min` from FLT_MAX and `max` from -FLT_MAX with strict comparisons, so
/// the first occurrence wins (this decides the sign of a zero `m`).
#[inline]
pub fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        let v = finite_or_zero(v);
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// `(uint8_t)(floorf(log2f(amax)) - 2 + 127)` for `amax > 0`, else 0. The reference converts
/// a negative float to `uint8_t` (undefined) when `amax < 2^-125`; quantscope saturates to 0.
///
/// `log2f` is evaluated as the f64 `log2` rounded once to f32: that is the correctly rounded
/// f32 result (f64 has 29 spare bits), which is what glibc's `log2f` and NumPy return. The
/// rounding matters just below a power of two, where `log2f` rounds up to the integer; the
/// fixtures check this at every exponent.
#[inline]
pub fn mxfp4_exponent(amax: f32) -> u8 {
    // Most blocks skip the f64 `log2` (a libm call in wasm, the larger part of MXFP4's packing
    // there): for a normal `amax = m·2^e` with m < 1.9921875 (mantissa field below 0x7F0000),
    // log2 m < 0.9944, and e + 0.9944 is more than a thousand f32 ulps (2^-17 at |e| = 127)
    // below e + 1, so log2f cannot round up and its floor is e.
    let bits = amax.to_bits();
    if amax > 0.0 && (1..255).contains(&(bits >> 23)) && bits & 0x7F_FFFF < 0x7F_0000 {
        return ((bits >> 23) as i32 - 2).clamp(0, 255) as u8; // (e − 2 + 127), saturated as below
    }
    mxfp4_exponent_by_log2(amax)
}

/// [`mxfp4_exponent`] through the f64 `log2` for every input.
fn mxfp4_exponent_by_log2(amax: f32) -> u8 {
    if amax > 0.0 {
        let l = ((amax as f64).log2() as f32).floor();
        (l - 2.0 + 127.0) as u8 // `as` saturates: negative → 0
    } else {
        0
    }
}

/// `GGML_E8M0_TO_FP32_HALF(e)`: 2^(e−128), with e < 2 as f32 subnormals.
#[inline]
pub fn e8m0_to_fp32_half(e: u8) -> f32 {
    let bits = if e < 2 { 0x0020_0000u32 << e } else { ((e as u32) - 1) << 23 };
    f32::from_bits(bits)
}

/// `best_index_mxfp4`: the first code whose `kvalue*d` is strictly nearest. NaN falls out as
/// code 0 (every error is NaN); ±Inf saturates to ±12 (codes 7 and 15).
#[inline]
pub fn mxfp4_code(x: f32, d: f32) -> u8 {
    if x.is_infinite() {
        return if x > 0.0 { 7 } else { 15 };
    }
    let mut best = 0u8;
    let mut best_err = (KVALUES_MXFP4[0] as f32 * d - x).abs();
    for (i, &k) in KVALUES_MXFP4.iter().enumerate().skip(1) {
        let err = (k as f32 * d - x).abs();
        if err < best_err {
            best = i as u8;
            best_err = err;
        }
    }
    best
}

/// Truncates `v` toward zero into `[0, hi]` (the reference's `(int8_t)` cast then `MIN`);
/// the bool says a finite input saturated.
#[inline]
fn trunc_code(v: f32, hi: f32, finite: bool) -> (u8, bool) {
    let t = v.trunc();
    let clipped = finite && !(0.0..=hi).contains(&t);
    (t.clamp(0.0, hi) as u8, clipped)
}

/// Packs 32 codes of up to 5 bits: low nibbles as ggml does (element j low, j+16 high) and,
/// for 5-bit codes, bit 4 of element j at bit j of the little-endian `qh`.
#[inline]
fn pack_nibbles(codes: &[u8; QK], qs: &mut [u8]) {
    for j in 0..QK / 2 {
        qs[j] = (codes[j] & 0x0F) | ((codes[j + QK / 2] & 0x0F) << 4);
    }
}

#[inline]
fn pack_qh(codes: &[u8; QK]) -> [u8; 4] {
    let mut qh = 0u32;
    for (j, &c) in codes.iter().enumerate() {
        qh |= ((c as u32 & 0x10) >> 4) << j;
    }
    qh.to_le_bytes()
}

/// Quantizes one block of 32 values into `out` (exactly `ty.block_bytes()` long) and returns
/// how many finite values saturated.
pub fn quantize_block(ty: GgmlType, x: &[f32], out: &mut [u8]) -> usize {
    debug_assert_eq!(x.len(), QK);
    debug_assert_eq!(out.len(), ty.block_bytes());
    let mut codes = [0u8; QK];
    let mut clipped = 0;
    match ty {
        GgmlType::Q8_0 => {
            let d = q8_0_scale(x);
            let id = inverse(d);
            out[..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
            for (o, &v) in out[2..].iter_mut().zip(x) {
                let r = product(v, |v| v * id).round(); // roundf: half away from zero
                clipped += (v.is_finite() && !(-128.0..=127.0).contains(&r)) as usize;
                *o = r as i8 as u8; // `as` saturates ±Inf to 127/−128
            }
            return clipped;
        }
        GgmlType::Q4_0 | GgmlType::Q5_0 => {
            let (div, hi, bias) = if ty == GgmlType::Q4_0 { (-8.0f32, 15.0, 8.5f32) } else { (-16.0, 31.0, 16.5) };
            let d = signed_absmax(x) / div;
            let id = inverse(d);
            out[..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
            for (c, &v) in codes.iter_mut().zip(x) {
                let (q, clip) = trunc_code(product(v, |v| v * id) + bias, hi, v.is_finite());
                *c = q;
                clipped += clip as usize;
            }
            if ty == GgmlType::Q4_0 {
                pack_nibbles(&codes, &mut out[2..]);
            } else {
                out[2..6].copy_from_slice(&pack_qh(&codes));
                pack_nibbles(&codes, &mut out[6..]);
            }
        }
        GgmlType::Q4_1 | GgmlType::Q5_1 => {
            let (den, hi) = if ty == GgmlType::Q4_1 { (15.0f32, 15.0) } else { (31.0, 31.0) };
            let (min, max) = min_max(x);
            let d = (max - min) / den;
            let id = inverse(d);
            out[..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
            out[2..4].copy_from_slice(&fp16_bits(min).to_le_bytes());
            for (c, &v) in codes.iter_mut().zip(x) {
                let (q, clip) = trunc_code(product(v, |v| (v - min) * id) + 0.5, hi, v.is_finite());
                *c = q;
                clipped += clip as usize;
            }
            if ty == GgmlType::Q4_1 {
                pack_nibbles(&codes, &mut out[4..]);
            } else {
                out[4..8].copy_from_slice(&pack_qh(&codes));
                pack_nibbles(&codes, &mut out[8..]);
            }
        }
        GgmlType::Mxfp4 => {
            let mut amax = 0.0f32;
            for &v in x {
                let a = finite_or_zero(v).abs();
                if amax < a {
                    amax = a;
                }
            }
            let e = mxfp4_exponent(amax);
            let d = e8m0_to_fp32_half(e);
            out[0] = e;
            for (c, &v) in codes.iter_mut().zip(x) {
                *c = mxfp4_code(v, d);
                clipped += (v.is_finite() && v.abs() > 12.0 * d) as usize;
            }
            pack_nibbles(&codes, &mut out[1..]);
        }
    }
    clipped
}

/// The integer codes of one packed block (the values `x̂ = d·q (+ m)` multiplies; for MXFP4
/// the 4-bit index). Used for level counts and by tests.
pub fn block_codes(ty: GgmlType, b: &[u8]) -> [i32; QK] {
    let mut q = [0i32; QK];
    let nibbles = |qs: &[u8], q: &mut [i32; QK]| {
        for j in 0..QK / 2 {
            q[j] = (qs[j] & 0x0F) as i32;
            q[j + QK / 2] = (qs[j] >> 4) as i32;
        }
    };
    match ty {
        GgmlType::Q8_0 => {
            for (q, &c) in q.iter_mut().zip(&b[2..2 + QK]) {
                *q = c as i8 as i32;
            }
        }
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Mxfp4 => {
            let off = match ty {
                GgmlType::Q4_0 => 2,
                GgmlType::Q4_1 => 4,
                _ => 1,
            };
            nibbles(&b[off..off + QK / 2], &mut q);
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let off = if ty == GgmlType::Q5_0 { 2 } else { 4 };
            let qh = u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]);
            nibbles(&b[off + 4..off + 4 + QK / 2], &mut q);
            for (j, q) in q.iter_mut().enumerate() {
                *q |= (((qh >> j) & 1) << 4) as i32;
            }
        }
    }
    q
}

/// Dequantizes one packed block into 32 values, as gguf-py's `dequantize_blocks`.
pub fn dequantize_block(ty: GgmlType, b: &[u8], out: &mut [f32]) {
    debug_assert_eq!(b.len(), ty.block_bytes());
    debug_assert_eq!(out.len(), QK);
    let q = block_codes(ty, b);
    let h = |i: usize| fp16_value(u16::from_le_bytes([b[i], b[i + 1]]));
    match ty {
        GgmlType::Q8_0 => {
            let d = h(0);
            for (o, &q) in out.iter_mut().zip(&q) {
                *o = q as f32 * d;
            }
        }
        GgmlType::Q4_0 | GgmlType::Q5_0 => {
            let (d, off) = (h(0), if ty == GgmlType::Q4_0 { 8 } else { 16 });
            for (o, &q) in out.iter_mut().zip(&q) {
                *o = d * (q - off) as f32;
            }
        }
        GgmlType::Q4_1 | GgmlType::Q5_1 => {
            let (d, m) = (h(0), h(2));
            for (o, &q) in out.iter_mut().zip(&q) {
                *o = d * q as f32 + m;
            }
        }
        GgmlType::Mxfp4 => {
            let d = e8m0_to_fp32_half(b[0]);
            for (o, &q) in out.iter_mut().zip(&q) {
                *o = d * KVALUES_MXFP4[q as usize] as f32;
            }
        }
    }
}

/// Quantizes whole blocks (`x.len()` a multiple of 32) block by block; returns the clip count.
pub fn quantize_row(ty: GgmlType, x: &[f32], out: &mut [u8]) -> usize {
    x.chunks_exact(QK).zip(out.chunks_exact_mut(ty.block_bytes())).map(|(x, o)| quantize_block(ty, x, o)).sum()
}

/// Dequantizes whole blocks (`out.len()` = 32 × blocks).
pub fn dequantize_row(ty: GgmlType, packed: &[u8], out: &mut [f32]) {
    for (b, o) in packed.chunks_exact(ty.block_bytes()).zip(out.chunks_exact_mut(QK)) {
        dequantize_block(ty, b, o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mxfp4_exponent_skips_log2_only_where_it_cannot_differ() {
        // Every 97th bit pattern of the finite non-negative floats, and 8192 around each binade's
        // fast-path boundary (mantissa 0x7F0000).
        let sweep = (0..0x7F80_0000u32).step_by(97).chain((1..255u32).flat_map(|e| (0x7E_F000..0x7F_1000).map(move |m| e << 23 | m)));
        for bits in sweep {
            let amax = f32::from_bits(bits);
            assert_eq!(mxfp4_exponent(amax), mxfp4_exponent_by_log2(amax), "{amax:e} ({bits:#010x})");
        }
    }
}

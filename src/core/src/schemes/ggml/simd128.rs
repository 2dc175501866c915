//! SIMD128 kernels for the GGML legacy block types (wasm32 with `+simd128` only).
//!
//! Every kernel must equal the scalar reference in `reference.rs` bit for bit; each names the
//! reference function it reproduces. `src/core/tests/ggml_fixtures.rs` holds them to it in headless
//! Chromium on property inputs, awkward lengths and arbitrary packed bytes.
//!
//! Quantization keeps the reference's exact f32 operations: the scale is computed in scalar
//! code exactly as the reference does (`d = amax/127`, `id = d ? 1/d : 0`), then every lane
//! computes `x*id` (never `x/d`), adds the same bias and truncates (or rounds half away from
//! zero for Q8_0). Blocks the fast path does not cover — a NaN or ±Inf anywhere in the block,
//! `1/d` overflowing (tiny blocks) or `max − min` overflowing — go to the scalar reference
//! block function, so quantscope's rules for them live in one place.
//!
//! Kernels: quantize and dequantize all six types. MXFP4's nearest-value search is the
//! reference's brute force over the 16 codes, four lanes at a time, with the same f32 errors.

// `fast-kernels`: the block scales by the short f16 conversions (equal to `half`'s); the
// modules held to their sizes keep `half`'s.
use super::reference::{self, inverse, KVALUES_MXFP4};
#[cfg(not(feature = "fast-kernels"))]
use super::reference::{fp16_bits, fp16_value};
#[cfg(feature = "fast-kernels")]
use super::reference::{fp16_bits_fast as fp16_bits, fp16_value_fast as fp16_value};
use super::{GgmlType, QK};
use crate::simd128_io::{load16, store16};
use core::arch::wasm32::*;
use core::mem::MaybeUninit;

/// The SIMD quantizer for `ty`, if there is one. Returns the clip count.
pub fn quantize_row(ty: GgmlType, x: &[f32], out: &mut [u8]) -> Option<usize> {
    Some(quantize_blocks(ty, x, out, None))
}

/// [`quantize_row`] that also writes each block's decoding into `deq` (32 per block) while the
/// block is in cache: the page's dequantized copy without a second pass over the packed bytes.
/// Each block is decoded by the dequantize kernel below, so `deq` is what `dequantize_row`
/// gives for `out`.
pub fn quantize_decode_row(ty: GgmlType, x: &[f32], out: &mut [u8], deq: &mut [f32]) -> usize {
    quantize_blocks(ty, x, out, Some(deq))
}

/// [`quantize_decode_row`] writing `deq` through `MaybeUninit` (`fast-kernels`: a kept decoding's
/// memory as it is, `schemes::fill_uninit`): every element is written, each block's by its
/// decode kernel, which stores through `MaybeUninit`.
#[cfg(feature = "fast-kernels")]
pub fn quantize_decode_row_uninit(ty: GgmlType, x: &[f32], out: &mut [u8], deq: &mut [MaybeUninit<f32>]) -> usize {
    match ty {
        GgmlType::Q8_0 => q8_0_blocks_decode(x, out, deq),
        GgmlType::Q4_0 => symmetric_blocks_decode::<18>(GgmlType::Q4_0, x, out, deq),
        GgmlType::Q5_0 => symmetric_blocks_decode::<22>(GgmlType::Q5_0, x, out, deq),
        _ => quantize_blocks_apart(ty, x, out, Some(deq)),
    }
}

/// Q8_0 blocks packed and decoded at once ([`q8_0_block_decode`]).
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn q8_0_blocks_decode(x: &[f32], out: &mut [u8], deq: &mut [MaybeUninit<f32>]) -> usize {
    let xs = x.chunks_exact(QK).map(|x| <&[f32; QK]>::try_from(x).unwrap());
    let os = out.chunks_exact_mut(34).map(|o| <&mut [u8; 34]>::try_from(o).unwrap());
    let ds = deq.chunks_exact_mut(QK).map(|d| <&mut [MaybeUninit<f32>; QK]>::try_from(d).unwrap());
    xs.zip(os).zip(ds).map(|((x, o), d)| q8_0_block_decode(x, o, d)).sum()
}

/// One loop per type, so each block function is inlined with its type a constant (an
/// indirect call per block of 32 cost q4_1 about a fifth of its packing time).
fn quantize_blocks(ty: GgmlType, x: &[f32], out: &mut [u8], deq: Option<&mut [f32]>) -> usize {
    match (ty, deq) {
        // Quantized and decoded in one go from the block's registers (`q8_0_block_decode`;
        // `fast-kernels`: the modules held to their sizes decode from the bytes).
        #[cfg(feature = "fast-kernels")]
        (GgmlType::Q8_0, Some(deq)) => q8_0_blocks_decode(x, out, uninit(deq)),
        #[cfg(feature = "fast-kernels")]
        (GgmlType::Q4_0, Some(deq)) => symmetric_blocks_decode::<18>(GgmlType::Q4_0, x, out, uninit(deq)),
        #[cfg(feature = "fast-kernels")]
        (GgmlType::Q5_0, Some(deq)) => symmetric_blocks_decode::<22>(GgmlType::Q5_0, x, out, uninit(deq)),
        (ty, deq) => quantize_blocks_apart(ty, x, out, deq.map(uninit)),
    }
}

/// [`quantize_blocks`] for every type but Q8_0 with a decoding: each block packed, then decoded
/// from its bytes.
#[inline(always)]
fn quantize_blocks_apart(ty: GgmlType, x: &[f32], out: &mut [u8], deq: Option<&mut [MaybeUninit<f32>]>) -> usize {
    match ty {
        GgmlType::Q8_0 => blocks::<34>(x, out, deq, |x, o| q8_0_block(GgmlType::Q8_0, x, o), q8_0_dequantize_block),
        GgmlType::Q4_0 => {
            blocks::<18>(x, out, deq, |x, o| symmetric_block(GgmlType::Q4_0, x, o), |b, o| nibble_dequantize_block(GgmlType::Q4_0, b, o))
        }
        GgmlType::Q5_0 => {
            blocks::<22>(x, out, deq, |x, o| symmetric_block(GgmlType::Q5_0, x, o), |b, o| nibble_dequantize_block(GgmlType::Q5_0, b, o))
        }
        GgmlType::Q4_1 => {
            blocks::<20>(x, out, deq, |x, o| min_block(GgmlType::Q4_1, x, o), |b, o| nibble_dequantize_block(GgmlType::Q4_1, b, o))
        }
        GgmlType::Q5_1 => {
            blocks::<24>(x, out, deq, |x, o| min_block(GgmlType::Q5_1, x, o), |b, o| nibble_dequantize_block(GgmlType::Q5_1, b, o))
        }
        GgmlType::Mxfp4 => {
            blocks::<17>(x, out, deq, |x, o| mxfp4_block(GgmlType::Mxfp4, x, o), |b, o| nibble_dequantize_block(GgmlType::Mxfp4, b, o))
        }
    }
}

/// Runs `quantize` over whole blocks of `BB` bytes (arrays, so no bounds checks inside) and,
/// with `deq`, `decode` on each packed block right after it is written.
#[inline(always)]
fn blocks<const BB: usize>(
    x: &[f32],
    out: &mut [u8],
    deq: Option<&mut [MaybeUninit<f32>]>,
    quantize: impl Fn(&[f32; QK], &mut [u8; BB]) -> usize,
    decode: impl Fn(&[u8], &mut [MaybeUninit<f32>]),
) -> usize {
    // `chunks_exact` slices converted to arrays (the conversion cannot fail; `as_chunks` is
    // newer than the MSRV).
    let xs = x.chunks_exact(QK).map(|x| <&[f32; QK]>::try_from(x).unwrap());
    let os = out.chunks_exact_mut(BB).map(|o| <&mut [u8; BB]>::try_from(o).unwrap());
    let mut clipped = 0;
    match deq {
        Some(deq) => {
            for ((x, o), d) in xs.zip(os).zip(deq.chunks_exact_mut(QK)) {
                clipped += quantize(x, o);
                decode(o, d);
            }
        }
        None => {
            for (x, o) in xs.zip(os) {
                clipped += quantize(x, o);
            }
        }
    }
    clipped
}

/// The SIMD dequantizer for `ty`; returns false if there is none.
pub fn dequantize_row(ty: GgmlType, packed: &[u8], out: &mut [f32]) -> bool {
    let bb = ty.block_bytes();
    for (b, o) in packed.chunks_exact(bb).zip(out.chunks_exact_mut(QK)) {
        match ty {
            GgmlType::Q8_0 => q8_0_dequantize_block(b, uninit(o)),
            _ => nibble_dequantize_block(ty, b, uninit(o)),
        }
    }
    true
}

// ------------------------------------------------------------------------------ helpers

/// The 32 values of a block as eight f32x4.
#[inline(always)]
fn load_block(x: &[f32]) -> [v128; 8] {
    let x = &x[..QK];
    // SAFETY: `x` holds 32 f32 = 8 × 16 bytes; wasm's v128.load has no alignment requirement.
    core::array::from_fn(|k| unsafe { v128_load(x.as_ptr().add(4 * k) as *const v128) })
}

/// The largest `|x|` as bits. For non-negative floats the integer order is the float order, so
/// this is the reference's `amax` exactly; bits ≥ 0x7F80_0000 mean a NaN or ±Inf is present.
#[inline(always)]
fn max_abs_bits(v: &[v128; 8]) -> u32 {
    let m = u32x4_splat(0x7FFF_FFFF);
    let acc = v[1..].iter().fold(v128_and(v[0], m), |acc, &x| u32x4_max(acc, v128_and(x, m)));
    let acc = u32x4_max(acc, i32x4_shuffle::<2, 3, 0, 1>(acc, acc));
    u32x4_extract_lane::<0>(u32x4_max(acc, i32x4_shuffle::<1, 0, 3, 2>(acc, acc)))
}

/// Index of the first value with `|x|` bits equal to `target` (the reference's first strict max).
#[inline(always)]
fn first_abs_index(v: &[v128; 8], target: u32) -> usize {
    let (m, t) = (u32x4_splat(0x7FFF_FFFF), u32x4_splat(target));
    let mut mask = 0u32;
    for (k, &x) in v.iter().enumerate() {
        mask |= (i32x4_bitmask(i32x4_eq(v128_and(x, m), t)) as u32) << (4 * k);
    }
    mask.trailing_zeros() as usize
}

/// `roundf` per lane (half away from zero): `trunc(p)` plus ±1 when `|p − trunc(p)| ≥ 0.5`.
/// `p − trunc(p)` is exact, so this never double-rounds (unlike `floor(p + 0.5)`).
#[inline(always)]
fn roundf(p: v128) -> v128 {
    let t = f32x4_trunc(p);
    let frac = f32x4_abs(f32x4_sub(p, t));
    let signed_one = v128_or(v128_and(p, u32x4_splat(0x8000_0000)), f32x4_splat(1.0));
    f32x4_add(t, v128_and(f32x4_ge(frac, f32x4_splat(0.5)), signed_one))
}

/// Truncates `p + bias` to i32 (the reference's `(int8_t)` cast), counts lanes outside
/// `[0, hi]` as clipped and clamps. Mirrors `reference::trunc_code` for finite `p`.
#[inline(always)]
fn trunc_codes(p: [v128; 8], bias: f32, hi: i32, clipped: &mut u32) -> [v128; 8] {
    let (b, zero, top) = (f32x4_splat(bias), i32x4_splat(0), i32x4_splat(hi));
    core::array::from_fn(|k| {
        let q = i32x4_trunc_sat_f32x4(f32x4_add(p[k], b));
        *clipped += (i32x4_bitmask(v128_or(i32x4_gt(q, top), i32x4_lt(q, zero))) as u32).count_ones();
        i32x4_min(i32x4_max(q, zero), top)
    })
}

/// Packs 32 codes (i32 lanes, elements 0..16 in `q[0..4]`, 16..32 in `q[4..8]`) into ggml's
/// nibbles: byte j = code j | code (j+16) << 4. Mirrors `reference::pack_nibbles`.
#[inline(always)]
fn pack_nibbles(q: &[v128; 8]) -> v128 {
    let b: [v128; 4] =
        core::array::from_fn(|k| v128_or(v128_and(q[k], i32x4_splat(0x0F)), i32x4_shl(v128_and(q[k + 4], i32x4_splat(0x0F)), 4)));
    u8x16_narrow_i16x8(i16x8_narrow_i32x4(b[0], b[1]), i16x8_narrow_i32x4(b[2], b[3]))
}

/// Bit 4 of each code, element j at bit j. Mirrors `reference::pack_qh`.
#[inline(always)]
fn pack_qh(q: &[v128; 8]) -> [u8; 4] {
    let mut qh = 0u32;
    for (k, &x) in q.iter().enumerate() {
        qh |= (i32x4_bitmask(i32x4_shl(x, 27)) as u32) << (4 * k);
    }
    qh.to_le_bytes()
}

// ---------------------------------------------------------------------------- quantize

/// Q8_0, one block. Reference: `reference::quantize_block` for `GgmlType::Q8_0`.
#[inline(always)]
fn q8_0_block(ty: GgmlType, x: &[f32], out: &mut [u8]) -> usize {
    let v = load_block(x);
    let amax_bits = max_abs_bits(&v);
    if amax_bits >= 0x7F80_0000 {
        return reference::quantize_block(ty, x, out);
    }
    let d = f32::from_bits(amax_bits) / 127.0;
    let id = inverse(d);
    if !id.is_finite() {
        return reference::quantize_block(ty, x, out);
    }
    out[..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
    let idv = f32x4_splat(id);
    // |x·id| ≤ 127·(1 + 2⁻²²) here, so roundf never leaves [−127, 127]: nothing clips.
    let q: [v128; 8] = core::array::from_fn(|k| i32x4_trunc_sat_f32x4(roundf(f32x4_mul(v[k], idv))));
    let lo = i8x16_narrow_i16x8(i16x8_narrow_i32x4(q[0], q[1]), i16x8_narrow_i32x4(q[2], q[3]));
    let hi = i8x16_narrow_i16x8(i16x8_narrow_i32x4(q[4], q[5]), i16x8_narrow_i32x4(q[6], q[7]));
    store16(&mut out[2..18], lo);
    store16(&mut out[18..34], hi);
    0
}

/// `roundf` per lane (half away from zero) as `t + trunc(2·(p − t))`, `t = trunc(p)`: `p − t`
/// is exact and below 1 in magnitude, so `trunc(2(p − t))` is ±1 exactly when `|p − t| ≥ ½`,
/// with `p`'s sign — [`roundf`]'s result in five operations instead of eight.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn roundf5(p: v128) -> v128 {
    let t = f32x4_trunc(p);
    let f = f32x4_sub(p, t);
    f32x4_add(t, f32x4_trunc(f32x4_add(f, f)))
}

/// Q8_0, one block, packed and decoded in one pass: [`q8_0_block`] and then
/// [`q8_0_dequantize_block`] on its bytes, without going through the bytes. The rounded
/// products are the codes as exact f32 integers in [−127, 127], biased to `code + 1.5·2²³`
/// (exact), whose bits are `0x4b40_0000 + code`: the byte in one subtraction where
/// `i32x4_trunc_sat_f32x4` is about seven operations on x64 V8, and the decoding `code·d16`
/// with `d16` the stored f16 scale's value (the reference's `q as f32 * d`). A block with NaN/±Inf or a tiny scale
/// goes through the reference and the decode kernel, as in the two-pass path.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn q8_0_block_decode(x: &[f32; QK], out: &mut [u8; 34], deq: &mut [MaybeUninit<f32>; QK]) -> usize {
    let v = load_block(x);
    let amax_bits = max_abs_bits(&v);
    let d = f32::from_bits(amax_bits) / 127.0;
    let id = inverse(d);
    if amax_bits >= 0x7F80_0000 || !id.is_finite() {
        let clipped = reference::quantize_block(GgmlType::Q8_0, x, out);
        q8_0_dequantize_block(out, deq);
        return clipped;
    }
    let dp = deq.as_mut_ptr() as *mut f32;
    let bits = fp16_bits(d);
    out[..2].copy_from_slice(&bits.to_le_bytes());
    let (idv, dv) = (f32x4_splat(id), f32x4_splat(fp16_value(bits)));
    let magic = f32x4_splat(12_582_912.0);
    // |x·id| ≤ 127·(1 + 2⁻²²) here, so roundf never leaves [−127, 127]: nothing clips.
    let q: [v128; 8] = core::array::from_fn(|k| {
        let biased = f32x4_add(roundf5(f32x4_mul(v[k], idv)), magic);
        // `biased − 1.5·2²³` is the code again, exact, and +0 where roundf gave −0 (a small
        // negative product): the reference decodes the integer 0, +0·d.
        // SAFETY: k < 8: four of the block's 32 f32; no alignment requirement.
        unsafe { v128_store(dp.add(4 * k) as *mut v128, f32x4_mul(f32x4_sub(biased, magic), dv)) };
        biased
    });
    // The bits of `biased` are 0x4b40_0000 + code, so each code in [−127, 127] is the low byte
    // of its lane (two's complement), with no subtraction first: picked by shuffles,
    // where LLVM turns `i16x8_narrow_i32x4` into clamps and shuffles (int/simd128.rs,
    // `quantize_magic`).
    let low = |a: v128, b: v128| i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(a, b);
    let lo = i64x2_shuffle::<0, 2>(low(q[0], q[1]), low(q[2], q[3]));
    let hi = i64x2_shuffle::<0, 2>(low(q[4], q[5]), low(q[6], q[7]));
    store16(&mut out[2..18], lo);
    store16(&mut out[18..34], hi);
    0
}

/// Q4_0 and Q5_0, one block. Reference: `reference::quantize_block` (d = max/−8 or max/−16,
/// codes `trunc(x·id + 8.5)` / `trunc(x·id + 16.5)` clamped to 15 / 31).
#[inline(always)]
fn symmetric_block(ty: GgmlType, x: &[f32], out: &mut [u8]) -> usize {
    let v = load_block(x);
    let amax_bits = max_abs_bits(&v);
    if amax_bits >= 0x7F80_0000 {
        return reference::quantize_block(ty, x, out);
    }
    // The reference keeps max = +0.0 for an all-zero block.
    let max = if amax_bits == 0 { 0.0 } else { x[first_abs_index(&v, amax_bits)] };
    let (div, bias, hi) = if ty == GgmlType::Q4_0 { (-8.0f32, 8.5f32, 15) } else { (-16.0, 16.5, 31) };
    let d = max / div;
    let id = inverse(d);
    if !id.is_finite() {
        return reference::quantize_block(ty, x, out);
    }
    out[..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
    let idv = f32x4_splat(id);
    let mut clipped = 0;
    let q = trunc_codes(core::array::from_fn(|k| f32x4_mul(v[k], idv)), bias, hi, &mut clipped);
    if ty == GgmlType::Q4_0 {
        store16(&mut out[2..18], pack_nibbles(&q));
    } else {
        out[2..6].copy_from_slice(&pack_qh(&q));
        store16(&mut out[6..22], pack_nibbles(&q));
    }
    clipped as usize
}

/// Q4_0 or Q5_0 blocks (`BB` 18 or 22 bytes) packed and decoded at once
/// ([`symmetric_block_decode`]), the clip count kept in lanes across the blocks.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn symmetric_blocks_decode<const BB: usize>(ty: GgmlType, x: &[f32], out: &mut [u8], deq: &mut [MaybeUninit<f32>]) -> usize {
    let xs = x.chunks_exact(QK).map(|x| <&[f32; QK]>::try_from(x).unwrap());
    let os = out.chunks_exact_mut(BB).map(|o| <&mut [u8; BB]>::try_from(o).unwrap());
    let ds = deq.chunks_exact_mut(QK).map(|d| <&mut [MaybeUninit<f32>; QK]>::try_from(d).unwrap());
    let (mut lanes, mut clipped) = (i32x4_splat(0), 0);
    for ((x, o), d) in xs.zip(os).zip(ds) {
        clipped += symmetric_block_decode(ty, x, o, d, &mut lanes);
    }
    // Each lane counted its clipped values as −1s.
    let lanes = i32x4_add(lanes, i32x4_shuffle::<2, 3, 0, 1>(lanes, lanes));
    clipped + i32x4_extract_lane::<0>(i32x4_add(lanes, i32x4_shuffle::<1, 0, 3, 2>(lanes, lanes))).unsigned_abs() as usize
}

/// Q4_0 or Q5_0, one block, packed and decoded in one pass: [`symmetric_block`] and then
/// [`nibble_dequantize_block`] on its bytes, without going through the bytes. `t =
/// trunc(x·id + bias)` as f32 (the reference's operations; an exact integer), clipped where it
/// leaves [0, hi] (−0 does not: the reference's range test keeps it), clamped by `pmax`/`pmin`
/// to the code `c`; `c + 1.5·2²³` has `0x4b40_0000 + c` for bits, so the code is the low byte
/// of its lane, and the decoding is `d16·(c − 8)` (`c − 16`), the reference's `d * (q − 8)`
/// with both factors the same exact values. The clipped lanes are counted into `clip` as −1s
/// (returned: the clips of a block that took the reference). A block with NaN/±Inf or a tiny
/// scale goes through the reference and the decode kernel, as in the two-pass path.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn symmetric_block_decode<const BB: usize>(
    ty: GgmlType,
    x: &[f32; QK],
    out: &mut [u8; BB],
    deq: &mut [MaybeUninit<f32>; QK],
    clip: &mut v128,
) -> usize {
    let v = load_block(x);
    let amax_bits = max_abs_bits(&v);
    let q4 = ty == GgmlType::Q4_0;
    let (div, bias, hi) = if q4 { (-8.0f32, 8.5f32, 15.0f32) } else { (-16.0, 16.5, 31.0) };
    // The reference keeps max = +0.0 for an all-zero block.
    let max = if amax_bits == 0 || amax_bits >= 0x7F80_0000 { 0.0 } else { x[first_abs_index(&v, amax_bits)] };
    let d = max / div;
    let id = inverse(d);
    if amax_bits >= 0x7F80_0000 || !id.is_finite() {
        let clipped = reference::quantize_block(ty, x, out);
        nibble_dequantize_block(ty, out, deq);
        return clipped;
    }
    let dp = deq.as_mut_ptr() as *mut f32;
    let bits = fp16_bits(d);
    out[..2].copy_from_slice(&bits.to_le_bytes());
    let (idv, dv) = (f32x4_splat(id), f32x4_splat(fp16_value(bits)));
    let (bv, hv, off, zero, magic) = (f32x4_splat(bias), f32x4_splat(hi), f32x4_splat(-div), f32x4_splat(0.0), f32x4_splat(12_582_912.0));
    let q: [v128; 8] = core::array::from_fn(|k| {
        let t = f32x4_trunc(f32x4_add(f32x4_mul(v[k], idv), bv));
        *clip = i32x4_add(*clip, v128_or(f32x4_gt(t, hv), f32x4_lt(t, zero)));
        let c = f32x4_pmin(f32x4_pmax(zero, t), hv);
        // SAFETY: k < 8: four of the block's 32 f32; no alignment requirement.
        unsafe { v128_store(dp.add(4 * k) as *mut v128, f32x4_mul(dv, f32x4_sub(c, off))) };
        f32x4_add(c, magic)
    });
    // Byte j: code j in the low nibble, code j + 16 in the high one (`pack_nibbles`), from the
    // lanes' low bytes; bit 4 of each code (Q5_0) from the same bits.
    let nib: [v128; 4] = core::array::from_fn(|k| {
        let lo = if q4 { q[k] } else { v128_and(q[k], i32x4_splat(0x0F)) };
        v128_or(lo, i32x4_shl(q[k + 4], 4))
    });
    let low = |a: v128, b: v128| i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(a, b);
    let qs = i64x2_shuffle::<0, 2>(low(nib[0], nib[1]), low(nib[2], nib[3]));
    if q4 {
        store16(&mut out[2..18], qs);
    } else {
        out[2..6].copy_from_slice(&pack_qh(&q));
        store16(&mut out[6..22], qs);
    }
    0
}

/// Q4_1 and Q5_1, one block. Reference: `reference::quantize_block` (min/max with strict
/// comparisons, d = (max−min)/15 or /31, codes `trunc((x−min)·id + 0.5)` clamped).
#[inline(always)]
fn min_block(ty: GgmlType, x: &[f32], out: &mut [u8]) -> usize {
    let v = load_block(x);
    // pmin/pmax are `b < a ? b : a` / `a < b ? b : a`: the reference's `if (v < min) min = v`.
    // A NaN lane is caught by `nan` (pmin/pmax may skip it); ±Inf reaches min or max and makes
    // `d` infinite, which takes the reference below.
    let (mut mn, mut mx, mut nan) = (v[0], v[0], f32x4_ne(v[0], v[0]));
    for &x in &v[1..] {
        mn = f32x4_pmin(mn, x);
        mx = f32x4_pmax(mx, x);
        nan = v128_or(nan, f32x4_ne(x, x));
    }
    if v128_any_true(nan) {
        return reference::quantize_block(ty, x, out);
    }
    // Across lanes in any order: only the sign of a zero depends on the order, fixed below.
    let mn = f32x4_pmin(mn, i32x4_shuffle::<2, 3, 0, 1>(mn, mn));
    let mx = f32x4_pmax(mx, i32x4_shuffle::<2, 3, 0, 1>(mx, mx));
    let mut min = f32x4_extract_lane::<0>(f32x4_pmin(mn, i32x4_shuffle::<1, 0, 3, 2>(mn, mn)));
    let mut max = f32x4_extract_lane::<0>(f32x4_pmax(mx, i32x4_shuffle::<1, 0, 3, 2>(mx, mx)));
    // Which zero the reference keeps is the block's first zero (no value is below a zero min,
    // so the first zero met replaces min and stays).
    if min == 0.0 {
        min = *x.iter().find(|&&v| v == 0.0).unwrap();
    }
    if max == 0.0 {
        max = *x.iter().find(|&&v| v == 0.0).unwrap();
    }
    let d = (max - min) / if ty == GgmlType::Q4_1 { 15.0 } else { 31.0 };
    let id = inverse(d);
    if !d.is_finite() || !id.is_finite() {
        return reference::quantize_block(ty, x, out);
    }
    out[..2].copy_from_slice(&fp16_bits(d).to_le_bytes());
    out[2..4].copy_from_slice(&fp16_bits(min).to_le_bytes());
    let (idv, minv, half) = (f32x4_splat(id), f32x4_splat(min), f32x4_splat(0.5));
    // Nothing clips here, so neither counting nor clamping is needed: min ≤ x ≤ max gives
    // 0 ≤ x − min ≤ max − min (rounding is monotonic), and (max − min)·id is 15 (31) within a
    // few ulps — d = (max − min)/15 and id = 1/d are each one rounding, and a d small enough to
    // be subnormal still has over 20 bits, since a finite id needs d ≥ 2^−128 — so
    // (x − min)·id + 0.5 truncates into [0, 15] ([0, 31]).
    let q: [v128; 8] = core::array::from_fn(|k| i32x4_trunc_sat_f32x4(f32x4_add(f32x4_mul(f32x4_sub(v[k], minv), idv), half)));
    if ty == GgmlType::Q4_1 {
        store16(&mut out[4..20], pack_nibbles(&q));
    } else {
        out[4..8].copy_from_slice(&pack_qh(&q));
        store16(&mut out[8..24], pack_nibbles(&q));
    }
    0
}

/// MXFP4, one block. Reference: `reference::quantize_block` for `GgmlType::Mxfp4` (exponent
/// from `mxfp4_exponent(amax)`, then `best_index_mxfp4`: the first code with the strictly
/// smallest `|kvalue·d − x|`, every error rounded in f32 exactly as the reference does).
///
/// The search runs over the eight magnitudes (codes 0–7) on `|x|` and puts the sign back: the
/// other half never wins. For x ≥ 0 a negative code's error `k·d + x` is never below code 0's
/// `x`, which comes first; for x < 0 the positive codes lose to code 0 the same way, code 8
/// (−0) only ties it, and codes 9–15 give exactly the errors codes 1–7 give for `|x|` (IEEE
/// subtraction is symmetric under negation). So the code is the magnitude's index, plus 8 for
/// x < 0 unless that index is 0.
#[inline(always)]
fn mxfp4_block(ty: GgmlType, x: &[f32], out: &mut [u8]) -> usize {
    let v = load_block(x);
    let amax_bits = max_abs_bits(&v);
    if amax_bits >= 0x7F80_0000 {
        return reference::quantize_block(ty, x, out);
    }
    let e = reference::mxfp4_exponent(f32::from_bits(amax_bits));
    let d = reference::e8m0_to_fp32_half(e);
    out[0] = e;
    let limit = f32x4_splat(12.0 * d);
    let levels: [v128; 8] = core::array::from_fn(|i| f32x4_splat(KVALUES_MXFP4[i] as f32 * d));
    let mut clipped = 0u32;
    let q: [v128; 8] = core::array::from_fn(|k| {
        let x = v[k];
        let ax = f32x4_abs(x);
        clipped += (i32x4_bitmask(f32x4_gt(ax, limit)) as u32).count_ones();
        let mut best = i32x4_splat(0);
        let mut best_err = f32x4_abs(f32x4_sub(levels[0], ax));
        for (i, &level) in levels.iter().enumerate().skip(1) {
            let err = f32x4_abs(f32x4_sub(level, ax));
            let better = f32x4_lt(err, best_err);
            best = v128_bitselect(i32x4_splat(i as i32), best, better);
            best_err = v128_bitselect(err, best_err, better);
        }
        let negative = v128_and(f32x4_lt(x, f32x4_splat(0.0)), v128_not(i32x4_eq(best, i32x4_splat(0))));
        v128_or(best, v128_and(negative, i32x4_splat(8)))
    });
    store16(&mut out[1..17], pack_nibbles(&q));
    clipped as usize
}

// -------------------------------------------------------------------------- dequantize

/// Widens 16 i8 lanes to f32 and stores `f(value)` for each into `o[..16]`.
#[inline(always)]
fn store_i8x16_as_f32(codes: v128, o: &mut [MaybeUninit<f32>], f: impl Fn(v128) -> v128) {
    let o = &mut o[..16];
    let (w0, w1) = (i16x8_extend_low_i8x16(codes), i16x8_extend_high_i8x16(codes));
    let parts = [i32x4_extend_low_i16x8(w0), i32x4_extend_high_i16x8(w0), i32x4_extend_low_i16x8(w1), i32x4_extend_high_i16x8(w1)];
    for (k, p) in parts.into_iter().enumerate() {
        // SAFETY: k < 4: four of `o`'s 16 f32; no alignment requirement.
        unsafe { v128_store(o.as_mut_ptr().add(4 * k) as *mut v128, f(f32x4_convert_i32x4(p))) };
    }
}

/// An initialized buffer as one the decode kernels write through `MaybeUninit` (they store
/// only values): one kernel for a kept decoding's memory as it is and for initialized buffers.
fn uninit(o: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: the same layout; nothing uninitialized is ever written through the result.
    unsafe { &mut *(o as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// Q8_0, one block: `q as f32 * d`. Reference: `reference::dequantize_block` for Q8_0.
#[inline(always)]
fn q8_0_dequantize_block(b: &[u8], o: &mut [MaybeUninit<f32>]) {
    let d = f32x4_splat(fp16_value(u16::from_le_bytes([b[0], b[1]])));
    store_i8x16_as_f32(load16(&b[2..18]), &mut o[..16], |q| f32x4_mul(q, d));
    store_i8x16_as_f32(load16(&b[18..34]), &mut o[16..32], |q| f32x4_mul(q, d));
}

/// Bit 4 for 16 elements from two `qh` bytes (bit j of each byte → element j).
#[inline(always)]
fn qh_bits(qh: u32, first_byte: u8) -> v128 {
    let i = first_byte;
    let j = first_byte + 1;
    let spread = u8x16_swizzle(u32x4_splat(qh), u8x16(i, i, i, i, i, i, i, i, j, j, j, j, j, j, j, j));
    let bit = v128_and(spread, u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128));
    v128_and(i8x16_ne(bit, u8x16_splat(0)), u8x16_splat(0x10))
}

/// Q4_0, Q4_1, Q5_0, Q5_1 and MXFP4, one block. Reference: `reference::dequantize_block`
/// (`d * (q − 8|16)`, `d * q + m`, `d * kvalues[q]`, each a separate f32 rounding).
#[inline(always)]
fn nibble_dequantize_block(ty: GgmlType, b: &[u8], o: &mut [MaybeUninit<f32>]) {
    let h = |i: usize| fp16_value(u16::from_le_bytes([b[i], b[i + 1]]));
    let qs_at = match ty {
        GgmlType::Q4_0 => 2,
        GgmlType::Q4_1 => 4,
        GgmlType::Q5_0 => 6,
        GgmlType::Q5_1 => 8,
        _ => 1,
    };
    let qs = load16(&b[qs_at..qs_at + 16]);
    let mut lo = v128_and(qs, u8x16_splat(0x0F));
    let mut hi = u8x16_shr(qs, 4);
    if matches!(ty, GgmlType::Q5_0 | GgmlType::Q5_1) {
        let qh = u32::from_le_bytes([b[qs_at - 4], b[qs_at - 3], b[qs_at - 2], b[qs_at - 1]]);
        lo = v128_or(lo, qh_bits(qh, 0));
        hi = v128_or(hi, qh_bits(qh, 2));
    }
    let (first, second) = o.split_at_mut(16);
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 => {
            let d = f32x4_splat(h(0));
            let off = u8x16_splat(if ty == GgmlType::Q4_0 { 8 } else { 16 });
            // Codes ≤ 31, so `q − off` fits i8 and widens signed.
            store_i8x16_as_f32(i8x16_sub(lo, off), first, |q| f32x4_mul(d, q));
            store_i8x16_as_f32(i8x16_sub(hi, off), second, |q| f32x4_mul(d, q));
        }
        GgmlType::Q4_1 | GgmlType::Q5_1 => {
            let (d, m) = (f32x4_splat(h(0)), f32x4_splat(h(2)));
            // Codes ≤ 31 are non-negative as i8.
            store_i8x16_as_f32(lo, first, |q| f32x4_add(f32x4_mul(d, q), m));
            store_i8x16_as_f32(hi, second, |q| f32x4_add(f32x4_mul(d, q), m));
        }
        GgmlType::Mxfp4 => {
            let d = f32x4_splat(reference::e8m0_to_fp32_half(b[0]));
            let k = KVALUES_MXFP4;
            let table = i8x16(k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9], k[10], k[11], k[12], k[13], k[14], k[15]);
            store_i8x16_as_f32(u8x16_swizzle(table, lo), first, |q| f32x4_mul(d, q));
            store_i8x16_as_f32(u8x16_swizzle(table, hi), second, |q| f32x4_mul(d, q));
        }
        GgmlType::Q8_0 => unreachable!("Q8_0 has its own kernel"),
    }
}

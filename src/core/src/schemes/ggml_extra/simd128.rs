//! SIMD128 kernels for the ggml types beyond the legacy blocks and the K-quants (wasm32 with
//! `+simd128` only), each bit-identical to the scalar reference it names;
//! src/core/tests/kernels.rs holds them to it in headless Chromium.

use core::arch::wasm32::*;

/// `iq4::scale_search_reference`, four trial scales per pass. The trials are independent (each
/// `id` comes from `itry` and `max` alone), so lane `c` runs trial `k + c` over the 32 values with
/// the reference's operations in its order, and the fits are then compared in trial order.
///
/// `best_index_int8` per lane without branches: with the levels strictly increasing, its binary
/// search ends at `mu` = the number of levels ≤ p, clamped to 1..=15 (p ≤ levels[0] and
/// p ≥ levels[15] land on the same answers, 0 and 15), then picks `mu − 1` when
/// `p − levels[mu−1] < levels[mu] − p` (a tie goes up). The two levels come from a byte swizzle
/// of the 16-level table. p is finite here: |id·x| ≤ 134 as |x| ≤ |max|.
///
/// The caller passes the levels (`kvalues_iq4nl`) and the trial inverse scales, so this kernel
/// depends on nothing of `iq4.rs`.
pub fn iq4_scale_search(xb: &[f32; 32], weight: &[f32; 32], levels: &[i8; 16], trials: &[f32], mut d: f32, mut best: f32) -> f32 {
    let levels_f: [v128; 16] = core::array::from_fn(|k| f32x4_splat(levels[k] as f32));
    // SAFETY: 16 bytes.
    let table = unsafe { v128_load(levels.as_ptr() as *const v128) };
    let (one, fifteen) = (i32x4_splat(1), i32x4_splat(15));
    let level_of = |index: v128| {
        // Byte 0 of each i32 lane indexes the table; the other bytes read as 0 (index ≥ 16).
        let bytes = v128_or(index, i32x4_splat(0x8080_8000u32 as i32));
        let picked = i8x16_swizzle(table, bytes);
        f32x4_convert_i32x4(i32x4_shr(i32x4_shl(picked, 24), 24))
    };
    let lanes = |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
    for group in trials.chunks(4) {
        let id = f32x4(group[0], *group.get(1).unwrap_or(&0.0), *group.get(2).unwrap_or(&0.0), *group.get(3).unwrap_or(&0.0));
        let (mut sumqx, mut sumq2) = (f32x4_splat(0.0), f32x4_splat(0.0));
        for j in 0..32 {
            let x = f32x4_splat(xb[j]);
            let p = f32x4_mul(id, x);
            // −(number of levels ≤ p): each true compare is −1.
            let mut count = i32x4_splat(0);
            for level in &levels_f {
                count = i32x4_add(count, f32x4_le(*level, p));
            }
            let mu = i32x4_min(i32x4_max(i32x4_neg(count), one), fifteen);
            let below = i32x4_sub(mu, one);
            let (lo, hi) = (level_of(below), level_of(mu));
            let down = f32x4_lt(f32x4_sub(p, lo), f32x4_sub(hi, p));
            let q = v128_bitselect(lo, hi, down);
            let wq = f32x4_mul(f32x4_splat(weight[j]), q);
            sumqx = f32x4_add(sumqx, f32x4_mul(wq, x));
            sumq2 = f32x4_add(sumq2, f32x4_mul(wq, q));
        }
        let (sx, s2) = (lanes(sumqx), lanes(sumq2));
        for c in 0..group.len() {
            if s2[c] > 0.0 && sx[c] * sx[c] > best * s2[c] {
                d = sx[c] / s2[c];
                best = d * sx[c];
            }
        }
    }
    d
}

/// Q1_0 blocks → values (`fast-kernels`); must equal `ggml_dequant::blocks::q1_0` bit for bit:
/// each code byte splatted and tested against its eight bits (lowest first), each lane `d` where
/// the bit is set and `−d` (the same f32 negation) where it is clear.
#[cfg(feature = "fast-kernels")]
pub fn dequantize_q1_0(packed: &[u8], y: &mut [f32]) {
    let (low, high, zero) = (u32x4(1, 2, 4, 8), u32x4(16, 32, 64, 128), u32x4_splat(0));
    for (b, y) in packed.chunks_exact(18).zip(y.chunks_exact_mut(128)) {
        let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
        let (pos, neg) = (f32x4_splat(d), f32x4_splat(-d));
        for (&byte, y) in b[2..18].iter().zip(y.chunks_exact_mut(8)) {
            let v = u32x4_splat(byte as u32);
            let lo = v128_bitselect(neg, pos, i32x4_eq(v128_and(v, low), zero));
            let hi = v128_bitselect(neg, pos, i32x4_eq(v128_and(v, high), zero));
            // SAFETY: `y` holds 8 f32; wasm stores have no alignment requirement.
            unsafe {
                v128_store(y.as_mut_ptr() as *mut v128, lo);
                v128_store(y.as_mut_ptr().add(4) as *mut v128, hi);
            }
        }
    }
}

/// `kvalues_iq4nl` (ggml-common.h), as `ggml_dequant`'s table.
#[cfg(feature = "fast-kernels")]
const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
/// `kvalues_mxfp4`, E2M1 doubled (NVFP4's table), as `ggml_dequant`'s.
#[cfg(feature = "fast-kernels")]
const KVALUES_FP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// Sixteen 4-bit indices (one a byte) through a 16-entry i8 table, each value times `d` (one f32
/// product, as the references' `d * kvalues[q] as f32`), stored at `y[..16]`.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn store_table16(table: v128, idx: v128, d: v128, y: &mut [f32]) {
    store_i8x16_times(i8x16_swizzle(table, idx), d, y);
}

/// Sixteen i8 values, each times `d` (one f32 product), stored at `y[..16]`.
#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn store_i8x16_times(v: v128, d: v128, y: &mut [f32]) {
    let y = &mut y[..16];
    let (w0, w1) = (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v));
    let parts = [i32x4_extend_low_i16x8(w0), i32x4_extend_high_i16x8(w0), i32x4_extend_low_i16x8(w1), i32x4_extend_high_i16x8(w1)];
    for (k, p) in parts.into_iter().enumerate() {
        // SAFETY: k < 4: four of `y`'s 16 f32; wasm stores have no alignment requirement.
        unsafe { v128_store(y.as_mut_ptr().add(4 * k) as *mut v128, f32x4_mul(d, f32x4_convert_i32x4(p))) };
    }
}

#[cfg(feature = "fast-kernels")]
#[inline(always)]
fn table(k: &[i8; 16]) -> v128 {
    // SAFETY: 16 bytes.
    unsafe { v128_load(k.as_ptr() as *const v128) }
}

/// IQ4_NL blocks → values (`fast-kernels`); must equal `ggml_dequant::iquants::iq4_nl` bit for
/// bit: the low nibbles are values 0–15, the high ones 16–31, each `d · kvalues_iq4nl[q]`.
#[cfg(feature = "fast-kernels")]
pub fn dequantize_iq4_nl(packed: &[u8], y: &mut [f32]) {
    let t = table(&KVALUES_IQ4NL);
    for (b, y) in packed.chunks_exact(18).zip(y.chunks_exact_mut(32)) {
        let d = f32x4_splat(half::f16::from_le_bytes([b[0], b[1]]).to_f32());
        let q = crate::simd128_io::load16(&b[2..18]);
        let (lo, hi) = y.split_at_mut(16);
        store_table16(t, v128_and(q, u8x16_splat(0x0F)), d, lo);
        store_table16(t, u8x16_shr(q, 4), d, hi);
    }
}

/// IQ4_XS blocks → values (`fast-kernels`); must equal `ggml_dequant::iquants::iq4_xs` bit for
/// bit: eight runs of 32 values, each with its scale `d · (ls − 32)` (the same f32 product),
/// laid out as IQ4_NL's.
#[cfg(feature = "fast-kernels")]
pub fn dequantize_iq4_xs(packed: &[u8], y: &mut [f32]) {
    let t = table(&KVALUES_IQ4NL);
    for (b, y) in packed.chunks_exact(136).zip(y.chunks_exact_mut(256)) {
        let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
        let scales_h = u16::from_le_bytes([b[2], b[3]]) as i32;
        for (ib, y) in y.chunks_exact_mut(32).enumerate() {
            let ls = ((b[4 + ib / 2] as i32 >> (4 * (ib % 2))) & 0xf) | (((scales_h >> (2 * ib)) & 3) << 4);
            let dl = f32x4_splat(d * (ls - 32) as f32);
            let q = crate::simd128_io::load16(&b[8 + 16 * ib..]);
            let (lo, hi) = y.split_at_mut(16);
            store_table16(t, v128_and(q, u8x16_splat(0x0F)), dl, lo);
            store_table16(t, u8x16_shr(q, 4), dl, hi);
        }
    }
}

/// NVFP4 blocks → values (`fast-kernels`); must equal `ggml_dequant::blocks::nvfp4` bit for bit:
/// four runs of 16 values with their UE4M3 scales, each run's eight code bytes giving values
/// 0–7 (low nibbles) and 8–15 (high ones), each `kvalues[q] · d`; two runs a load.
#[cfg(feature = "fast-kernels")]
pub fn dequantize_nvfp4(packed: &[u8], y: &mut [f32]) {
    use crate::ggml_dequant::blocks::ue4m3;
    let t = table(&KVALUES_FP4);
    for (b, y) in packed.chunks_exact(36).zip(y.chunks_exact_mut(64)) {
        for (s, y) in [0, 2].into_iter().zip(y.chunks_exact_mut(32)) {
            let q = crate::simd128_io::load16(&b[4 + 8 * s..]);
            let (lo, hi) = (v128_and(q, u8x16_splat(0x0F)), u8x16_shr(q, 4));
            let (first, second) = y.split_at_mut(16);
            store_table16(t, i64x2_shuffle::<0, 2>(lo, hi), f32x4_splat(ue4m3(b[s])), first);
            store_table16(t, i64x2_shuffle::<1, 3>(lo, hi), f32x4_splat(ue4m3(b[s + 1])), second);
        }
    }
}

/// Q2_0 blocks → values (`fast-kernels`); must equal `ggml_dequant::blocks::q2_0` bit for bit:
/// value j is bits `2(j % 4)` of code byte `j / 4`, `(q − 1)·d`. The four bit pairs of the
/// sixteen bytes are split into four vectors and interleaved back into value order (bytes, then
/// byte pairs).
#[cfg(feature = "fast-kernels")]
pub fn dequantize_q2_0(packed: &[u8], y: &mut [f32]) {
    let (three, one) = (u8x16_splat(3), u8x16_splat(1));
    for (b, y) in packed.chunks_exact(18).zip(y.chunks_exact_mut(64)) {
        let d = f32x4_splat(half::f16::from_le_bytes([b[0], b[1]]).to_f32());
        let q = crate::simd128_io::load16(&b[2..18]);
        let s: [v128; 4] = core::array::from_fn(|l| i8x16_sub(v128_and(u8x16_shr(q, 2 * l as u32), three), one));
        let (a_lo, b_lo) = (
            i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(s[0], s[1]),
            i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(s[2], s[3]),
        );
        let (a_hi, b_hi) = (
            i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(s[0], s[1]),
            i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(s[2], s[3]),
        );
        let v = [
            i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(a_lo, b_lo),
            i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(a_lo, b_lo),
            i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(a_hi, b_hi),
            i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(a_hi, b_hi),
        ];
        for (v, y) in v.into_iter().zip(y.chunks_exact_mut(16)) {
            store_i8x16_times(v, d, y);
        }
    }
}

/// TQ1_0 blocks → values (`fast-kernels`); must equal `ggml_dequant::blocks::tq1_0` bit for
/// bit: base-3 digits sixteen bytes at a time, the digit of `q·3ⁿ` (wrapping in u8) being
/// `((q·3ⁿ mod 256)·3) >> 8` (`blocks::trit`) on u16 lanes (`extmul`, `and`, `mul`, `shr`),
/// narrowed exactly (0..=2) to bytes, minus 1, then `(trit − 1)·d`. Bytes 0–31 give five runs of
/// 32 values (3⁰..3⁴), bytes 32–47 five runs of 16, and the four bytes 48–51 four runs of four,
/// which are one vector: the bytes repeated four times against the powers 1, 3, 9, 27, four
/// lanes each. (Session 28: the scalar blocks ran at 2.0 GB/s in Node, 4M values.)
#[cfg(feature = "fast-kernels")]
pub fn dequantize_tq1_0(packed: &[u8], y: &mut [f32]) {
    let trits = |q: v128, p: v128| -> v128 {
        let digit = |w: v128| u16x8_shr(i16x8_mul(v128_and(w, u16x8_splat(0xff)), u16x8_splat(3)), 8);
        let (lo, hi) = (digit(u16x8_extmul_low_u8x16(q, p)), digit(u16x8_extmul_high_u8x16(q, p)));
        i8x16_sub(u8x16_narrow_i16x8(lo, hi), u8x16_splat(1))
    };
    let last = u8x16(1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27);
    for (b, y) in packed.chunks_exact(54).zip(y.chunks_exact_mut(256)) {
        let d = f32x4_splat(half::f16::from_le_bytes([b[52], b[53]]).to_f32());
        let q = [crate::simd128_io::load16(b), crate::simd128_io::load16(&b[16..]), crate::simd128_io::load16(&b[32..])];
        for (i, p) in [1u8, 3, 9, 27, 81].into_iter().enumerate() {
            let p = u8x16_splat(p);
            store_i8x16_times(trits(q[0], p), d, &mut y[32 * i..]);
            store_i8x16_times(trits(q[1], p), d, &mut y[32 * i + 16..]);
            store_i8x16_times(trits(q[2], p), d, &mut y[160 + 16 * i..]);
        }
        let qh = u32x4_splat(u32::from_le_bytes([b[48], b[49], b[50], b[51]]));
        store_i8x16_times(trits(qh, last), d, &mut y[240..]);
    }
}

/// TQ2_0 blocks → values (`fast-kernels`); must equal `ggml_dequant::blocks::tq2_0` bit for
/// bit: each 32-byte half gives four runs of 32 values, run `l` from bits `2l` of its bytes,
/// `(q − 1)·d` with `d` the f16 after the codes.
#[cfg(feature = "fast-kernels")]
pub fn dequantize_tq2_0(packed: &[u8], y: &mut [f32]) {
    let (three, one) = (u8x16_splat(3), u8x16_splat(1));
    for (b, y) in packed.chunks_exact(66).zip(y.chunks_exact_mut(256)) {
        let d = f32x4_splat(half::f16::from_le_bytes([b[64], b[65]]).to_f32());
        for (half, y) in y.chunks_exact_mut(128).enumerate() {
            let q = [crate::simd128_io::load16(&b[32 * half..]), crate::simd128_io::load16(&b[32 * half + 16..])];
            for (l, y) in y.chunks_exact_mut(32).enumerate() {
                let (first, second) = y.split_at_mut(16);
                let code = |q: v128| i8x16_sub(v128_and(u8x16_shr(q, 2 * l as u32), three), one);
                store_i8x16_times(code(q[0]), d, first);
                store_i8x16_times(code(q[1]), d, second);
            }
        }
    }
}

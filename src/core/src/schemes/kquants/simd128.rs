//! SIMD128 kernels for wasm32 (`+simd128`), each bit-identical to the scalar reference it names.
//!
//! Why identical: the reference computes every output as `(d·sc)·q − dmin·m` (or `(d·sc)·q`)
//! with the per-sub-block factors formed once in scalar f32; the kernels form the same factors
//! the same way, convert the small integer codes to f32 exactly, and do the same one multiply
//! and one subtract per lane (wasm has no implicit FMA). Only NaN payloads may differ, which
//! wasm leaves unspecified anyway. Checked by src/core/tests/kquants_fixtures.rs in headless Chromium.

use core::arch::wasm32::*;

use super::reference::{fp16_to_fp32, get_scale_min_k4};
use super::QK_K;

/// The 16 unsigned bytes of `v` as four f32x4 (lanes 0–3, 4–7, 8–11, 12–15).
#[inline(always)]
fn u8x16_to_f32(v: v128) -> [v128; 4] {
    let lo = u16x8_extend_low_u8x16(v);
    let hi = u16x8_extend_high_u8x16(v);
    [
        f32x4_convert_i32x4(u32x4_extend_low_u16x8(lo)),
        f32x4_convert_i32x4(u32x4_extend_high_u16x8(lo)),
        f32x4_convert_i32x4(u32x4_extend_low_u16x8(hi)),
        f32x4_convert_i32x4(u32x4_extend_high_u16x8(hi)),
    ]
}

/// The 16 signed bytes of `v` as four f32x4.
#[inline(always)]
fn i8x16_to_f32(v: v128) -> [v128; 4] {
    let lo = i16x8_extend_low_i8x16(v);
    let hi = i16x8_extend_high_i8x16(v);
    [
        f32x4_convert_i32x4(i32x4_extend_low_i16x8(lo)),
        f32x4_convert_i32x4(i32x4_extend_high_i16x8(lo)),
        f32x4_convert_i32x4(i32x4_extend_low_i16x8(hi)),
        f32x4_convert_i32x4(i32x4_extend_high_i16x8(hi)),
    ]
}

/// `y[k] = d·q[k] − m` for 16 values (`m` None: `y[k] = d·q[k]`).
#[inline(always)]
fn store16(y: &mut [f32], q: [v128; 4], d: f32, m: Option<f32>) {
    let y = &mut y[..16];
    let dv = f32x4_splat(d);
    for (k, qk) in q.into_iter().enumerate() {
        let mut v = f32x4_mul(dv, qk);
        if let Some(m) = m {
            v = f32x4_sub(v, f32x4_splat(m));
        }
        // SAFETY: `y` has 16 elements, so lanes 4k..4k+4 are in bounds; v128 stores are unaligned.
        unsafe { v128_store(y.as_mut_ptr().add(4 * k) as *mut v128, v) };
    }
}

#[inline(always)]
fn load16(b: &[u8]) -> v128 {
    let b = &b[..16];
    // SAFETY: `b` has 16 bytes; v128 loads are unaligned.
    unsafe { v128_load(b.as_ptr() as *const v128) }
}

/// Q4_K blocks → values; must equal [`super::dequant::dequantize_block_q4_k`] bit for bit.
pub fn dequantize_q4_k(packed: &[u8], y: &mut [f32]) {
    let mask = u8x16_splat(0x0F);
    for (b, y) in packed.chunks_exact(144).zip(y.chunks_exact_mut(QK_K)) {
        let d = fp16_to_fp32(u16::from_le_bytes([b[0], b[1]]));
        let min = fp16_to_fp32(u16::from_le_bytes([b[2], b[3]]));
        let (scales, qs) = (&b[4..16], &b[16..144]);
        for c in 0..4 {
            let (s1, m1) = get_scale_min_k4(2 * c, scales);
            let (s2, m2) = get_scale_min_k4(2 * c + 1, scales);
            let (d1, m1) = (d * s1 as f32, min * m1 as f32);
            let (d2, m2) = (d * s2 as f32, min * m2 as f32);
            let y = &mut y[64 * c..64 * c + 64];
            for h in 0..2 {
                let q = load16(&qs[32 * c + 16 * h..]);
                store16(&mut y[16 * h..], u8x16_to_f32(v128_and(q, mask)), d1, Some(m1));
                store16(&mut y[32 + 16 * h..], u8x16_to_f32(u8x16_shr(q, 4)), d2, Some(m2));
            }
        }
    }
}

/// Q6_K blocks → values; must equal [`super::dequant::dequantize_block_q6_k`] bit for bit.
pub fn dequantize_q6_k(packed: &[u8], y: &mut [f32]) {
    let (m4, m2, bias) = (u8x16_splat(0x0F), u8x16_splat(0x03), i8x16_splat(32));
    for (b, y) in packed.chunks_exact(210).zip(y.chunks_exact_mut(QK_K)) {
        let d = fp16_to_fp32(u16::from_le_bytes([b[208], b[209]]));
        for c in 0..2 {
            let (ql, qh, sc) = (&b[64 * c..64 * c + 64], &b[128 + 32 * c..160 + 32 * c], &b[192 + 8 * c..200 + 8 * c]);
            let y = &mut y[128 * c..128 * c + 128];
            for is in 0..2 {
                let l = 16 * is;
                let (a, bb, h) = (load16(&ql[l..]), load16(&ql[l + 32..]), load16(&qh[l..]));
                let hi = |shift: u32| i8x16_shl(v128_and(u8x16_shr(h, shift), m2), 4);
                let codes = [
                    v128_or(v128_and(a, m4), hi(0)),
                    v128_or(v128_and(bb, m4), hi(2)),
                    v128_or(u8x16_shr(a, 4), hi(4)),
                    v128_or(u8x16_shr(bb, 4), hi(6)),
                ];
                for (g, q) in codes.into_iter().enumerate() {
                    let dsc = d * sc[is + 2 * g] as i8 as f32;
                    store16(&mut y[32 * g + l..], i8x16_to_f32(i8x16_sub(q, bias)), dsc, None);
                }
            }
        }
    }
}

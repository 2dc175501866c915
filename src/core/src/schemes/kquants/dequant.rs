//! Dequantizers, bit-exact with gguf-py's `gguf/quants.py` (`Q{2..6}_K.dequantize_blocks`) and
//! ggml's `dequantize_row_q{2..6}_K`: both compute `(d·sc)·q − dmin·m` (or `(d·sc)·q`) in f32
//! in that order, so one scalar reference serves both.
//!
//! [`dequantize_q4_k`] and [`dequantize_q6_k`] are the hot paths: each picks its kernel in one
//! place, the SIMD128 kernel in [`super::simd128`] on wasm32 with `+simd128`, else the scalar
//! reference here. The kernels must equal the reference bit for bit (src/core/tests/kquants_fixtures.rs).

use super::reference::{fp16_to_fp32, get_scale_min_k4, q3_scale};
use super::QK_K;

#[inline(always)]
fn f16_at(b: &[u8], at: usize) -> f32 {
    fp16_to_fp32(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// One Q2_K block (84 bytes) → 256 values.
pub fn dequantize_block_q2_k(b: &[u8], y: &mut [f32]) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, min) = (f16_at(b, 80), f16_at(b, 82));
    let mut is = 0;
    let mut out = 0;
    for n in 0..2 {
        let q = &qs[32 * n..32 * n + 32];
        for shift in [0, 2, 4, 6] {
            for half in 0..2 {
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * (sc & 0xF) as f32, min * (sc >> 4) as f32);
                for l in 0..16 {
                    y[out] = dl * ((q[l + 16 * half] >> shift) & 3) as f32 - ml;
                    out += 1;
                }
            }
        }
    }
}

/// One Q3_K block (110 bytes) → 256 values.
pub fn dequantize_block_q3_k(b: &[u8], y: &mut [f32]) {
    let (hm, qs, scales) = (&b[0..32], &b[32..96], &b[96..108]);
    let d_all = f16_at(b, 108);
    let mut is = 0;
    let mut out = 0;
    let mut m = 1u8;
    for n in 0..2 {
        let q = &qs[32 * n..32 * n + 32];
        for shift in [0, 2, 4, 6] {
            for half in 0..2 {
                let dl = d_all * q3_scale(scales, is) as f32;
                is += 1;
                for l in 0..16 {
                    let k = l + 16 * half;
                    let v = ((q[k] >> shift) & 3) as i8 - if hm[k] & m != 0 { 0 } else { 4 };
                    y[out] = dl * v as f32;
                    out += 1;
                }
            }
            m = m.wrapping_shl(1);
        }
    }
}

/// One Q4_K block (144 bytes) → 256 values. The scalar reference of the Q4_K kernels.
pub fn dequantize_block_q4_k(b: &[u8], y: &mut [f32]) {
    let (d, min) = (f16_at(b, 0), f16_at(b, 2));
    let (scales, qs) = (&b[4..16], &b[16..144]);
    for c in 0..4 {
        let (s1, m1) = get_scale_min_k4(2 * c, scales);
        let (s2, m2) = get_scale_min_k4(2 * c + 1, scales);
        let (d1, m1) = (d * s1 as f32, min * m1 as f32);
        let (d2, m2) = (d * s2 as f32, min * m2 as f32);
        let q = &qs[32 * c..32 * c + 32];
        let y = &mut y[64 * c..64 * c + 64];
        for l in 0..32 {
            y[l] = d1 * (q[l] & 0xF) as f32 - m1;
            y[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

/// One Q5_K block (176 bytes) → 256 values.
pub fn dequantize_block_q5_k(b: &[u8], y: &mut [f32]) {
    let (d, min) = (f16_at(b, 0), f16_at(b, 2));
    let (scales, qh, ql) = (&b[4..16], &b[16..48], &b[48..176]);
    for c in 0..4 {
        let (s1, m1) = get_scale_min_k4(2 * c, scales);
        let (s2, m2) = get_scale_min_k4(2 * c + 1, scales);
        let (d1, m1) = (d * s1 as f32, min * m1 as f32);
        let (d2, m2) = (d * s2 as f32, min * m2 as f32);
        let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
        let q = &ql[32 * c..32 * c + 32];
        let y = &mut y[64 * c..64 * c + 64];
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[l] = d1 * ((q[l] & 0xF) + h1) as f32 - m1;
            y[l + 32] = d2 * ((q[l] >> 4) + h2) as f32 - m2;
        }
    }
}

/// One Q6_K block (210 bytes) → 256 values. The scalar reference of the Q6_K kernels.
pub fn dequantize_block_q6_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 208);
    for c in 0..2 {
        let ql = &b[64 * c..64 * c + 64];
        let qh = &b[128 + 32 * c..128 + 32 * c + 32];
        let sc = &b[192 + 8 * c..192 + 8 * c + 8];
        let y = &mut y[128 * c..128 * c + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            y[l] = d * sc[is] as i8 as f32 * q1 as f32;
            y[l + 32] = d * sc[is + 2] as i8 as f32 * q2 as f32;
            y[l + 64] = d * sc[is + 4] as i8 as f32 * q3 as f32;
            y[l + 96] = d * sc[is + 6] as i8 as f32 * q4 as f32;
        }
    }
}

/// Scalar dequantization of whole blocks: `packed` holds `y.len() / 256` blocks of `block_bytes`.
pub fn dequantize_blocks_scalar(block: fn(&[u8], &mut [f32]), block_bytes: usize, packed: &[u8], y: &mut [f32]) {
    for (b, out) in packed.chunks_exact(block_bytes).zip(y.chunks_exact_mut(QK_K)) {
        block(b, out);
    }
}

/// Q4_K blocks → values: the one place the Q4_K dequantize kernel is chosen.
pub fn dequantize_q4_k(packed: &[u8], y: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        super::simd128::dequantize_q4_k(packed, y)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        dequantize_blocks_scalar(dequantize_block_q4_k, 144, packed, y)
    }
}

/// Q6_K blocks → values: the one place the Q6_K dequantize kernel is chosen.
pub fn dequantize_q6_k(packed: &[u8], y: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        super::simd128::dequantize_q6_k(packed, y)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        dequantize_blocks_scalar(dequantize_block_q6_k, 210, packed, y)
    }
}

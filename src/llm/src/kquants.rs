//! Q2_K, Q3_K, Q4_K, Q5_K and Q6_K weights × Q8_K activations, as ggml-cpu multiplies them
//! (`ggml_vec_dot_q{2,3,4,5,6}_K_q8_K`; the activations by `quantize_row_q8_K`, which on x86 is the
//! reference `quantize_row_q8_K_ref` of `ggml-quants.c`). Super-blocks of 256 values
//! (`block_q2_K` ... `block_q8_K` in `ggml-common.h`), unpacked at load to a byte per code and
//! their scales (`crate::blocks`: ~1.6–3.4× the file's bytes, for kernels as fast as Q8_0's).
//!
//! The float operations are those of ggml's wasm SIMD128 bodies ([`crate::kernels`]): Q4_K and
//! Q5_K add d·Σ scale·q·x and subtract dmin·Σ min·bsum once per super-block, Q2_K adds their
//! difference; Q3_K keeps four lanes and Q6_K eight, converted to float once per super-block. The integer sums are exact, so this port differs from
//! llama.cpp's x86 build only in the order and fusing of those float operations (and llama.cpp
//! repacks Q4_K matrices of a multiple of 8 rows on AVX2: see [`crate::q4_0`]).

pub use crate::blocks::{q2_k_value, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, QK_K};
use half::f16;

pub const Q4_K_BYTES: usize = 144;
pub const Q6_K_BYTES: usize = 210;
pub const Q2_K_BYTES: usize = 84;
pub const Q3_K_BYTES: usize = 110;
pub const Q5_K_BYTES: usize = 176;

/// `quantize_row_q8_K_ref` ([`crate::kernels::quantize_q8_k`]; `x.len()` a multiple of 256).
pub fn quantize_activations(x: &[f32]) -> Vec<BlockQ8K> {
    let mut out = Vec::with_capacity(x.len() / QK_K);
    crate::kernels::quantize_q8_k(x, &mut out);
    out
}

/// Q4_K's and Q5_K's twelve bytes of 6-bit scales and mins, unpacked (`get_scale_min_k4`).
fn scales_mins_k4(q: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (mut scales, mut mins) = ([0u8; 8], [0u8; 8]);
    for j in 0..8 {
        if j < 4 {
            scales[j] = q[j] & 63;
            mins[j] = q[j + 4] & 63;
        } else {
            scales[j] = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
            mins[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
    (scales, mins)
}

pub fn q4_k_from_bytes(bytes: &[u8]) -> Vec<BlockQ4K> {
    bytes
        .chunks_exact(Q4_K_BYTES)
        .map(|b| {
            let (scales, mins) = scales_mins_k4(&b[4..16]);
            // Value e = 64j + 32h + l: the low (h = 0) or high (h = 1) nibble of qs[32j + l].
            let qs = &b[16..144];
            let q = std::array::from_fn(|e| {
                let (j, h, l) = (e / 64, e % 64 / 32, e % 32);
                (if h == 0 { qs[32 * j + l] & 0x0f } else { qs[32 * j + l] >> 4 }) as i8
            });
            BlockQ4K { q, scales, mins, d: f16_at(b, 0), dmin: f16_at(b, 2) }
        })
        .collect()
}

/// One row's `ggml_vec_dot_q4_K_q8_K`.
pub fn q4_k_vec_dot(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    let mut y = [0f32];
    crate::kernels::q4_k_matvec(w, x, &mut y);
    y[0]
}

/// `dequantize_row_q4_K` and `dequantize_row_q5_K`: d·scale·q − dmin·min per sub-block of 32.
pub fn q4_k_dequantize(blocks: &[BlockQ4K], out: &mut [f32]) {
    for (b, chunk) in blocks.iter().zip(out.chunks_mut(QK_K)) {
        for (e, o) in chunk.iter_mut().enumerate() {
            let sub = e / 32;
            let (d, m) = (b.d * b.scales[sub] as f32, b.dmin * b.mins[sub] as f32);
            *o = d * b.q[e] as f32 - m;
        }
    }
}

/// Super-blocks from a file's bytes: `ql` (128 bytes of low nibbles), `qh` (64 bytes of high bit
/// pairs), 16 scales, f16 d. Value e of a half h = e / 128 (i = e % 128, part p = i / 32,
/// l = i % 32) has low nibble p ∈ {0, 1}: ql[64h + 32p + l] & 15, p ∈ {2, 3}: ql[64h + 32(p−2) + l] >> 4,
/// and high bits (qh[32h + l] >> 2p) & 3 (`dequantize_row_q6_K`).
pub fn q6_k_from_bytes(bytes: &[u8]) -> Vec<BlockQ6K> {
    bytes
        .chunks_exact(Q6_K_BYTES)
        .map(|b| {
            let (ql, qh) = (&b[..128], &b[128..192]);
            let q = std::array::from_fn(|e| {
                let (half, i) = (e / 128, e % 128);
                let (part, l) = (i / 32, i % 32);
                let byte = ql[64 * half + 32 * (part % 2) + l];
                let low = if part < 2 { byte & 0x0f } else { byte >> 4 };
                let high = (qh[32 * half + l] >> (2 * part)) & 3;
                (low | (high << 4)) as i8 - 32
            });
            BlockQ6K { q, scales: std::array::from_fn(|i| b[192 + i] as i8 as i16), d: f16_at(b, 208) }
        })
        .collect()
}

/// One row's `ggml_vec_dot_q6_K_q8_K`.
pub fn q6_k_vec_dot(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    let mut y = [0f32];
    crate::kernels::q6_k_matvec(w, x, &mut y);
    y[0]
}

/// `dequantize_row_q6_K` (d · scale · (q − 32)) and `dequantize_row_q3_K` (d · scale · q).
pub fn q6_k_dequantize(blocks: &[BlockQ6K], out: &mut [f32]) {
    for (b, chunk) in blocks.iter().zip(out.chunks_mut(QK_K)) {
        for (e, o) in chunk.iter_mut().enumerate() {
            *o = b.d * b.scales[e / 16] as f32 * b.q[e] as f32;
        }
    }
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// `block_q2_K`: 16 scale/min bytes, 64 bytes of 2-bit codes, f16 d, f16 dmin.
pub fn q2_k_from_bytes(bytes: &[u8]) -> Vec<BlockQ2K> {
    bytes
        .chunks_exact(Q2_K_BYTES)
        .map(|b| {
            // Value e = 128n + 32j + l is (qs[32n + l] >> 2j) & 3, in sub-block e / 16.
            let qs = &b[16..80];
            let q = std::array::from_fn(|e| {
                let (n, j, l) = (e / 128, e % 128 / 32, e % 32);
                (((qs[32 * n + l] >> (2 * j)) & 3) * (b[e / 16] & 0x0f)) as i8
            });
            BlockQ2K { q, scales: b[..16].try_into().expect("16 bytes"), d: f16_at(b, 80), dmin: f16_at(b, 82) }
        })
        .collect()
}

/// `dequantize_row_q2_K`: d·(scale & 15)·q − dmin·(scale >> 4) per sub-block of 16.
pub fn q2_k_dequantize(blocks: &[BlockQ2K], out: &mut [f32]) {
    for (b, chunk) in blocks.iter().zip(out.chunks_mut(QK_K)) {
        for (e, o) in chunk.iter_mut().enumerate() {
            let sc = b.scales[e / 16];
            let (dl, ml) = (b.d * (sc & 0x0f) as f32, b.dmin * (sc >> 4) as f32);
            *o = dl * q2_k_value(b, e) as f32 - ml;
        }
    }
}

/// `block_q3_K`: 32 bytes of high bits, 64 bytes of 2-bit codes, 12 bytes of 6-bit scales, f16 d.
/// Scale j has low nibble scales[j] & 15 (j < 8) or scales[j − 8] >> 4, and high bits
/// (scales[8 + j % 4] >> 2(j / 4)) & 3 (the `kmask1`/`kmask2` unpacking of `dequantize_row_q3_K`).
pub fn q3_k_from_bytes(bytes: &[u8]) -> Vec<BlockQ3K> {
    bytes
        .chunks_exact(Q3_K_BYTES)
        .map(|b| {
            let (hmask, qs, s) = (&b[..32], &b[32..96], &b[96..108]);
            // Value e = 128n + 32j + l is ((qs[32n + l] >> 2j) & 3) − 4, plus 4 when bit 4n + j of
            // hmask[l] is set.
            let q = std::array::from_fn(|e| {
                let (n, j, l) = (e / 128, e % 128 / 32, e % 32);
                let low = ((qs[32 * n + l] >> (2 * j)) & 3) as i8;
                let high = (hmask[l] >> (4 * n + j)) & 1;
                low - if high == 0 { 4 } else { 0 }
            });
            BlockQ3K {
                q,
                scales: std::array::from_fn(|j| {
                    let low = if j < 8 { s[j] & 0x0f } else { s[j - 8] >> 4 };
                    let high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
                    (low | (high << 4)) as i16 - 32
                }),
                d: f16_at(b, 108),
            }
        })
        .collect()
}

/// `dequantize_row_q3_K`: d·scale·q per sub-block of 16 (Q6_K's, on the same blocks).
pub fn q3_k_dequantize(blocks: &[BlockQ3K], out: &mut [f32]) {
    q6_k_dequantize(blocks, out)
}

/// `block_q5_K`: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins (as Q4_K's), 32 bytes of
/// high bits, 128 bytes of low nibbles.
pub fn q5_k_from_bytes(bytes: &[u8]) -> Vec<BlockQ5K> {
    bytes
        .chunks_exact(Q5_K_BYTES)
        .map(|b| {
            let (scales, mins) = scales_mins_k4(&b[4..16]);
            // Value e = 64j + 32h + l: the low (h = 0) or high (h = 1) nibble of qs[32j + l], plus
            // 16 when bit 2j + h of qh[l] is set.
            let (qh, qs) = (&b[16..48], &b[48..176]);
            let q = std::array::from_fn(|e| {
                let (j, h, l) = (e / 64, e % 64 / 32, e % 32);
                let byte = qs[32 * j + l];
                let low = if h == 0 { byte & 0x0f } else { byte >> 4 };
                (low | (((qh[l] >> (2 * j + h)) & 1) << 4)) as i8
            });
            BlockQ5K { q, scales, mins, d: f16_at(b, 0), dmin: f16_at(b, 2) }
        })
        .collect()
}

/// `dequantize_row_q5_K`: d·scale·q − dmin·min per sub-block of 32 (Q4_K's, on the same blocks).
pub fn q5_k_dequantize(blocks: &[BlockQ5K], out: &mut [f32]) {
    q4_k_dequantize(blocks, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_k_keeps_the_sign_of_the_largest_value_and_sums_codes() {
        let mut x = [0.5f32; QK_K];
        x[3] = -2.0;
        let b = &quantize_activations(&x)[0];
        // iscale = -127 / max = 63.5: the largest value maps to -127, whatever its sign.
        assert_eq!(b.qs[3], -127);
        assert_eq!(b.qs[0], 32); // 31.75
        assert_eq!(b.d, 1.0 / 63.5);
        assert_eq!(b.bsums[0], -127 + 32 * 15);
        let mut ties = [0f32; QK_K];
        ties[0] = 127.0; // iscale -1: 2.5 and 3.5 round to even
        ties[1] = 2.5;
        ties[2] = 3.5;
        let t = &quantize_activations(&ties)[0];
        assert_eq!(&t.qs[..3], &[-127, -2, -4]);
    }

    #[test]
    fn dot_products_equal_the_dequantized_dot_within_float_rounding() {
        // Deterministic pseudo-random blocks; the kernel's integer sums against f64 sums of the
        // dequantized values.
        let mut s = 1u32;
        let mut byte = || {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (s >> 16) as u8
        };
        let q4: Vec<u8> = (0..2 * Q4_K_BYTES).map(|i| if i % Q4_K_BYTES == 1 || i % Q4_K_BYTES == 3 { 0x1c } else { byte() }).collect();
        let q6: Vec<u8> = (0..2 * Q6_K_BYTES).map(|i| if i % Q6_K_BYTES == 209 { 0x1c } else { byte() }).collect();
        let x: Vec<f32> = (0..2 * QK_K).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let xq = quantize_activations(&x);
        let xd: Vec<f64> = xq.iter().flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d as f64)).collect();
        let (w4, w6) = (q4_k_from_bytes(&q4), q6_k_from_bytes(&q6));
        let mut d4 = vec![0f32; 2 * QK_K];
        let mut d6 = vec![0f32; 2 * QK_K];
        q4_k_dequantize(&w4, &mut d4);
        q6_k_dequantize(&w6, &mut d6);
        for (got, deq) in [(q4_k_vec_dot(&w4, &xq), &d4), (q6_k_vec_dot(&w6, &xq), &d6)] {
            let want: f64 = deq.iter().zip(&xd).map(|(&a, &b)| a as f64 * b).sum();
            let scale: f64 = deq.iter().zip(&xd).map(|(&a, &b)| (a as f64 * b).abs()).sum();
            assert!((got as f64 - want).abs() <= 1e-5 * scale, "{got} vs {want}");
        }
    }
}

//! Q4_K and Q6_K weights × Q8_K activations, as ggml-cpu multiplies them on x86 AVX2
//! (`ggml/src/ggml-cpu/arch/x86/quants.c`: `ggml_vec_dot_q4_K_q8_K`, `ggml_vec_dot_q6_K_q8_K`;
//! the activations by `quantize_row_q8_K`, which there is the reference `quantize_row_q8_K_ref`
//! of `ggml-quants.c`). Super-blocks of 256 values (`block_q4_K`, `block_q6_K`, `block_q8_K` in
//! `ggml-common.h`).
//!
//! Both kernels sum integers in eight i32 lanes — lane n holds values 4n..4n+3 of every 32 — and
//! convert each lane to float once per super-block, accumulated with a fused multiply-add by
//! d_w·d_x; Q4_K's mins go through four more lanes. The lane integers are exact, so this port
//! differs from ggml only where ggml's order of float operations does (see also the repack note
//! in [`crate::q4_0`]: llama.cpp repacks Q4_K matrices of a multiple of 8 rows on AVX2).

use crate::q8_0::hsum8;
use half::f16;

pub const QK_K: usize = 256;
pub const Q4_K_BYTES: usize = 144;
pub const Q6_K_BYTES: usize = 210;

#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    /// Sums of each 16 codes.
    pub bsums: [i16; QK_K / 16],
}

/// `quantize_row_q8_K_ref`: the scale from the value of largest magnitude (its sign kept), codes
/// rounded to nearest even (`nearest_int`) and capped at 127, d = 1/iscale.
pub fn quantize_activations(x: &[f32]) -> Vec<BlockQ8K> {
    x.chunks_exact(QK_K)
        .map(|v| {
            let (mut amax, mut max) = (0f32, 0f32);
            for &a in v {
                if a.abs() > amax {
                    amax = a.abs();
                    max = a;
                }
            }
            let mut b = BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; QK_K / 16] };
            if amax == 0.0 {
                return b;
            }
            let iscale = -127.0 / max;
            for (q, &a) in b.qs.iter_mut().zip(v) {
                *q = ((iscale * a).round_ties_even() as i32).min(127) as i8;
            }
            for (s, chunk) in b.bsums.iter_mut().zip(b.qs.chunks(16)) {
                *s = chunk.iter().map(|&q| q as i16).sum();
            }
            b.d = 1.0 / iscale;
            b
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ4K {
    pub d: f32,
    pub dmin: f32,
    /// The eight 6-bit scales and mins, unpacked (`get_scale_min_k4`).
    pub scales: [u8; 8],
    pub mins: [u8; 8],
    pub qs: [u8; QK_K / 2],
}

pub fn q4_k_from_bytes(bytes: &[u8]) -> Vec<BlockQ4K> {
    bytes
        .chunks_exact(Q4_K_BYTES)
        .map(|b| {
            let q = &b[4..16];
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
            BlockQ4K {
                d: f16::from_le_bytes([b[0], b[1]]).to_f32(),
                dmin: f16::from_le_bytes([b[2], b[3]]).to_f32(),
                scales,
                mins,
                qs: b[16..144].try_into().expect("128 bytes"),
            }
        })
        .collect()
}

/// Value e of a Q4_K super-block (0..15) and its sub-block of 32.
fn q4_k_value(b: &BlockQ4K, e: usize) -> (i32, usize) {
    let (j, l) = (e / 64, e % 64);
    if l < 32 {
        ((b.qs[32 * j + l] & 0x0f) as i32, 2 * j)
    } else {
        ((b.qs[32 * j + l - 32] >> 4) as i32, 2 * j + 1)
    }
}

pub fn q4_k_vec_dot(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 8];
    let mut acc_m = [0f32; 4];
    for (bw, bx) in w.iter().zip(x) {
        let d = bx.d * bw.d;
        let dmin = -bx.d * bw.dmin;
        for (m, a) in acc_m.iter_mut().enumerate() {
            let sums = |k: usize| (bx.bsums[2 * k] + bx.bsums[2 * k + 1]) as i32;
            let prod = bw.mins[2 * m] as i32 * sums(2 * m) + bw.mins[2 * m + 1] as i32 * sums(2 * m + 1);
            *a = crate::kernels::fma(dmin, prod as f32, *a);
        }
        let mut lanes = [0i32; 8];
        for e in 0..QK_K {
            let (q, sub) = q4_k_value(bw, e);
            lanes[(e % 32) / 4] += bw.scales[sub] as i32 * q * bx.qs[e] as i32;
        }
        for (a, &s) in acc.iter_mut().zip(&lanes) {
            *a = crate::kernels::fma(d, s as f32, *a);
        }
    }
    hsum8(&acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]))
}

/// `dequantize_row_q4_K`: d·scale·q − dmin·min per sub-block of 32.
pub fn q4_k_dequantize(blocks: &[BlockQ4K], out: &mut [f32]) {
    for (b, chunk) in blocks.iter().zip(out.chunks_mut(QK_K)) {
        for (e, o) in chunk.iter_mut().enumerate() {
            let (q, sub) = q4_k_value(b, e);
            let (d, m) = (b.d * b.scales[sub] as f32, b.dmin * b.mins[sub] as f32);
            *o = d * q as f32 - m;
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: f32,
}

pub fn q6_k_from_bytes(bytes: &[u8]) -> Vec<BlockQ6K> {
    bytes
        .chunks_exact(Q6_K_BYTES)
        .map(|b| BlockQ6K {
            ql: b[..128].try_into().expect("128 bytes"),
            qh: b[128..192].try_into().expect("64 bytes"),
            scales: std::array::from_fn(|i| b[192 + i] as i8),
            d: f16::from_le_bytes([b[208], b[209]]).to_f32(),
        })
        .collect()
}

/// Value e of a Q6_K super-block, unsigned (0..63; the stored value is this minus 32).
fn q6_k_value(b: &BlockQ6K, e: usize) -> i32 {
    let (half, i) = (e / 128, e % 128);
    let (part, l) = (i / 32, i % 32);
    let ql = &b.ql[64 * half..];
    let qh = b.qh[32 * half + l];
    let (low, high) = match part {
        0 => (ql[l] & 0x0f, qh & 3),
        1 => (ql[l + 32] & 0x0f, (qh >> 2) & 3),
        2 => (ql[l] >> 4, (qh >> 4) & 3),
        _ => (ql[l + 32] >> 4, (qh >> 6) & 3),
    };
    (low | (high << 4)) as i32
}

pub fn q6_k_vec_dot(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 8];
    for (bw, bx) in w.iter().zip(x) {
        let d = bx.d * bw.d;
        let mut lanes = [0i32; 8];
        for e in 0..QK_K {
            lanes[(e % 32) / 4] += bw.scales[e / 16] as i32 * q6_k_value(bw, e) * bx.qs[e] as i32;
        }
        // The −32 offset, as ggml folds it in: lane n takes sub-blocks 2n and 2n+1's code sums.
        for (n, lane) in lanes.iter_mut().enumerate() {
            let sub = |k: usize| bx.bsums[k] as i32 * bw.scales[k] as i32;
            *lane -= (sub(2 * n) + sub(2 * n + 1)) << 5;
        }
        for (a, &s) in acc.iter_mut().zip(&lanes) {
            *a = crate::kernels::fma(d, s as f32, *a);
        }
    }
    hsum8(&acc)
}

/// `dequantize_row_q6_K`: d · scale · (q − 32).
pub fn q6_k_dequantize(blocks: &[BlockQ6K], out: &mut [f32]) {
    for (b, chunk) in blocks.iter().zip(out.chunks_mut(QK_K)) {
        for (e, o) in chunk.iter_mut().enumerate() {
            *o = b.d * b.scales[e / 16] as f32 * (q6_k_value(b, e) - 32) as f32;
        }
    }
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

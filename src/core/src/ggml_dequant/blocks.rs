//! The non-grid types: Q1_0, Q2_0, Q8_1, Q8_K, TQ1_0, TQ2_0 and NVFP4, each one block at a time,
//! following `dequantize_row_*` in llama.cpp's `ggml/src/ggml-quants.c` (layouts: the `block_*`
//! structs in `ggml/src/ggml-common.h`).

use super::grids::KVALUES_FP4;
use super::{f16_at, u32_at};

/// `block_q1_0` (18 bytes, 128 values): f16 `d`, then one bit per value, lowest bit first;
/// a set bit is `d`, a clear one `−d`.
pub fn q1_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (j, v) in y[..128].iter_mut().enumerate() {
        *v = if (b[2 + j / 8] >> (j % 8)) & 1 != 0 { d } else { -d };
    }
}

/// `block_q2_0` (18 bytes, 64 values): f16 `d`, then 2-bit codes, lowest bits first; code q
/// is `(q − 1)·d` (−1, 0, 1, 2).
pub fn q2_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (j, v) in y[..64].iter_mut().enumerate() {
        let q = (b[2 + j / 4] >> ((j % 4) * 2)) & 3;
        *v = (q as i32 - 1) as f32 * d;
    }
}

/// `block_q8_1` (36 bytes, 32 values): f16 `d`, f16 `s`, 32 × i8; the value is `d·q`.
pub fn q8_1(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for (v, &q) in y[..32].iter_mut().zip(&b[4..36]) {
        *v = d * (q as i8) as f32;
    }
}

/// `block_q8_K` (292 bytes, 256 values): f32 `d`, 256 × i8, 16 × i16 sums (not needed).
pub fn q8_k(b: &[u8], y: &mut [f32]) {
    let d = f32::from_bits(u32_at(b, 0));
    for (v, &q) in y[..256].iter_mut().zip(&b[4..260]) {
        *v = d * (q as i8) as f32;
    }
}

/// One base-3 digit of a TQ1_0 byte: `q·3ⁿ` wraps in u8, then `(q·3) >> 8` is the digit.
#[inline]
fn trit(byte: u8, pow3: u8) -> f32 {
    let q = byte.wrapping_mul(pow3);
    ((((q as u16) * 3) >> 8) as i16 - 1) as f32
}

/// `block_tq1_0` (54 bytes, 256 values): 48 bytes of five trits each, 4 bytes of four, f16
/// `d` last; values `(trit − 1)·d`, in the C loop's order.
pub fn tq1_0(b: &[u8], y: &mut [f32]) {
    const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];
    let (qs, qh, d) = (&b[..48], &b[48..52], f16_at(b, 52));
    let mut k = 0;
    let mut put = |v: f32| {
        y[k] = v * d;
        k += 1;
    };
    for &p in &POW3[..5] {
        qs[..32].iter().for_each(|&q| put(trit(q, p)));
    }
    for &p in &POW3[..5] {
        qs[32..48].iter().for_each(|&q| put(trit(q, p)));
    }
    for &p in &POW3[..4] {
        qh.iter().for_each(|&q| put(trit(q, p)));
    }
}

/// `block_tq2_0` (66 bytes, 256 values): 2-bit codes, f16 `d` last; `(q − 1)·d`, four passes
/// over each 32-byte half, lowest bits first.
pub fn tq2_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 64);
    let mut k = 0;
    for j in (0..64).step_by(32) {
        for l in 0..4 {
            for &q in &b[j..j + 32] {
                y[k] = (((q >> (l * 2)) & 3) as i8 - 1) as f32 * d;
                k += 1;
            }
        }
    }
}

/// `ggml_ue4m3_to_fp32` (`ggml/src/ggml-impl.h`): an unsigned E4M3 scale (the top bit is
/// ignored), halved to match the doubled E2M1 values of `kvalues_mxfp4`; 0 and 0x7F are 0.
pub fn ue4m3(x: u8) -> f32 {
    if x == 0 || x == 0x7f {
        return 0.0;
    }
    let (exp, man) = (((x >> 3) & 0xf) as i32, (x & 7) as f32);
    let pow2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    let raw = if exp == 0 { man * pow2(-9) } else { (1.0 + man / 8.0) * pow2(exp - 7) };
    raw * 0.5
}

/// `block_nvfp4` (36 bytes, 64 values): four UE4M3 scales, one per 16 values, then E2M1 codes
/// two per byte (low nibble: the first half of the 16, high nibble: the second).
pub fn nvfp4(b: &[u8], y: &mut [f32]) {
    for s in 0..4 {
        let d = ue4m3(b[s]);
        let (qs, yb) = (&b[4 + s * 8..4 + s * 8 + 8], &mut y[s * 16..s * 16 + 16]);
        for (j, &q) in qs.iter().enumerate() {
            yb[j] = KVALUES_FP4[(q & 0xf) as usize] as f32 * d;
            yb[j + 8] = KVALUES_FP4[(q >> 4) as usize] as f32 * d;
        }
    }
}

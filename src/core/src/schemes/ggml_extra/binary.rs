//! Q1_0 and Q2_0: a port of `quantize_row_q1_0_ref` / `quantize_row_q2_0_ref`
//! (`ggml/src/ggml-quants.c`; `quantize_q1_0` / `quantize_q2_0`, which `ggml_quantize_chunk`
//! calls, run the same reference with or without an importance vector).
//!
//! * `block_q1_0` (18 bytes, 128 values): f16 `d = mean |x|`, then one sign bit per value
//!   (`x ≥ 0` → 1), lowest bit first; a set bit is `+d`, a clear one `−d`.
//! * `block_q2_0` (18 bytes, 64 values): f16 `d = absmax`, then 2-bit codes, lowest bits first:
//!   `(int)roundf(x/d) + 1` clamped to 0..3, decoded as `(q − 1)·d`. Since `d = absmax` the code
//!   3 (`2d`) never comes out of the reference.

use crate::schemes::kquants::reference::fp32_to_fp16;

/// Quantizes 128 finite values: returns the f16 bits of `d` and fills one bit per value.
pub fn quantize_q1_0(x: &[f32], codes: &mut [u8]) -> u16 {
    let mut sum_abs = 0.0f32;
    for &v in x {
        sum_abs += v.abs();
    }
    let d = sum_abs / x.len() as f32;
    for (c, &v) in codes.iter_mut().zip(x) {
        *c = (v >= 0.0) as u8;
    }
    fp32_to_fp16(d)
}

/// `(int)roundf(v) + 1` clamped to 0..3. Finite `v` is within ±1 (plus rounding) here. When
/// `1/d` overflows (every |x| < 2⁻¹²⁸), `v` is ±Inf or NaN and C's conversion is undefined:
/// x86-64's `cvttss2si` gives `INT_MIN`, so the code is 0 (as the fixtures confirm); quantscope
/// gives 0 on every target.
#[inline]
fn q2_code(v: f32) -> u8 {
    if v.is_finite() {
        (v.round() as i32 + 1).clamp(0, 3) as u8
    } else {
        0
    }
}

/// Quantizes 64 finite values: returns the f16 bits of `d` and fills one 2-bit code per value.
pub fn quantize_q2_0(x: &[f32], codes: &mut [u8]) -> u16 {
    let mut amax = 0.0f32;
    for &v in x {
        let a = v.abs();
        if a > amax {
            amax = a;
        }
    }
    let d = amax;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    for (c, &v) in codes.iter_mut().zip(x) {
        *c = q2_code(v * id);
    }
    fp32_to_fp16(d)
}

/// Writes `block_q1_0` / `block_q2_0` (`bits` = 1 or 2) from `d` and the codes.
pub fn pack(d: u16, bits: u32, codes: &[u8], out: &mut [u8]) {
    out[..2].copy_from_slice(&d.to_le_bytes());
    let per_byte = (8 / bits) as usize;
    out[2..].fill(0);
    for (j, &c) in codes.iter().enumerate() {
        out[2 + j / per_byte] |= c << ((j % per_byte) as u32 * bits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q2_codes_round_half_away_and_clamp() {
        assert_eq!([q2_code(-1.0), q2_code(-0.5), q2_code(0.49), q2_code(0.5), q2_code(1.5), q2_code(9.0)], [0, 0, 1, 2, 3, 3]);
        assert_eq!([q2_code(f32::NAN), q2_code(f32::INFINITY)], [0, 0]);
    }

    #[test]
    fn q1_0_signs_and_mean() {
        let mut x = [0.5f32; 128];
        x[3] = -0.5;
        x[4] = -0.0; // −0.0 ≥ 0: a set bit, as in C
        let mut codes = [0u8; 128];
        let d = quantize_q1_0(&x, &mut codes);
        assert_eq!(half::f16::from_bits(d).to_f32(), (0.5 * 127.0) / 128.0);
        assert_eq!((codes[3], codes[4], codes[5]), (0, 1, 1));
        let mut out = [0u8; 18];
        pack(d, 1, &codes, &mut out);
        assert_eq!(out[2], 0b1111_0111);
    }
}

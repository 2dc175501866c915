//! NVFP4: a port of `quantize_row_nvfp4_ref` (`ggml/src/ggml-quants.c`) with its scale
//! helpers `ggml_fp32_to_ue4m3` / `ggml_ue4m3_to_fp32` (`ggml/src/ggml-impl.h`).
//!
//! `block_nvfp4` (36 bytes, 64 values): four UE4M3 scales `d[4]`, one per 16 values, then
//! `qs[32]`, E2M1 codes two per byte: in sub-block `s`, value `j < 8` is the low nibble of
//! `qs[8s + j]`, value `j + 8` the high nibble. Each sub-block's scale is `ue4m3(absmax/6)`;
//! each value takes the first nearest of `kvalues_mxfp4·d` (`best_index_mxfp4`, shared with
//! MXFP4). `kvalues_mxfp4` holds doubled E2M1 values (0, 1, 2, 3, 4, 6, 8, 12 and negatives),
//! which is why `ggml_ue4m3_to_fp32` halves.

use crate::schemes::ggml::reference::mxfp4_code;

/// Values per sub-block (`QK_NVFP4_SUB`).
pub const SUB: usize = 16;

/// `ggml_fp32_to_ue4m3`: an unsigned E4M3 code for a positive scale, mantissa rounded by its
/// next bit (ties away), saturating at 0x7E (448); non-positive and NaN give 0.
pub fn fp32_to_ue4m3(x: f32) -> u8 {
    if x.is_nan() || x <= 0.0 {
        return 0; // C's !(x > 0.0f)
    }
    let x = if x > 448.0 { 448.0 } else { x };
    let bits = x.to_bits();
    let fp32_exp = ((bits >> 23) & 0xff) as i32 - 127;
    let fp32_man = ((bits >> 20) & 0x7) as i32;
    let mut exp = fp32_exp + 7;
    if exp <= 0 {
        // Subnormal: value = man·2⁻⁹, man = round(x·2⁹); C's `(int)` truncates a positive float.
        let man = ((x * 512.0 + 0.5) as i32).min(7);
        return if man < 1 { 0 } else { man as u8 };
    }
    if exp >= 15 {
        return 0x7e;
    }
    let mut man = fp32_man + ((bits >> 19) & 1) as i32;
    if man > 7 {
        man = 0;
        exp += 1;
        if exp >= 15 {
            return 0x7e;
        }
    }
    ((exp << 3) | man) as u8
}

/// `ggml_ue4m3_to_fp32`: the scale a UE4M3 code stands for, halved (0 and 0x7F are 0).
pub fn ue4m3_to_fp32(x: u8) -> f32 {
    if x == 0 || x == 0x7f {
        return 0.0;
    }
    let (exp, man) = (((x >> 3) & 0xf) as i32, (x & 7) as f32);
    let pow2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    let raw = if exp == 0 { man * pow2(-9) } else { (1.0 + man / 8.0) * pow2(exp - 7) };
    raw * 0.5
}

/// Quantizes 64 finite values: fills the 4 scale codes and one E2M1 index per value.
pub fn quantize_nvfp4(x: &[f32], scales: &mut [u8; 4], codes: &mut [u8]) {
    for (s, (xb, cb)) in x.chunks_exact(SUB).zip(codes.chunks_exact_mut(SUB)).enumerate() {
        let mut amax = 0.0f32;
        for &v in xb {
            if amax < v.abs() {
                amax = v.abs();
            }
        }
        let ue = fp32_to_ue4m3(amax / 6.0);
        scales[s] = ue;
        let d = ue4m3_to_fp32(ue);
        for (c, &v) in cb.iter_mut().zip(xb) {
            *c = mxfp4_code(v, d);
        }
    }
}

/// Where value `k` of a block lives: (byte, shift).
#[inline]
pub fn nibble_at(k: usize) -> (usize, u32) {
    let (s, j) = (k / SUB, k % SUB);
    (4 + 8 * s + j % 8, if j < 8 { 0 } else { 4 })
}

/// Writes `block_nvfp4`.
pub fn pack(scales: [u8; 4], codes: &[u8], out: &mut [u8]) {
    out[..4].copy_from_slice(&scales);
    out[4..36].fill(0);
    for (k, &c) in codes.iter().enumerate() {
        let (at, shift) = nibble_at(k);
        out[at] |= c << shift;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ue4m3_round_trips_every_code_and_saturates() {
        // Every code below exponent 15 maps back to itself from twice its value; exponent 15
        // saturates to 0x7E (448), the largest scale the encoder writes.
        assert_eq!(fp32_to_ue4m3(2.0 * ue4m3_to_fp32(0x78)), 0x7e);
        for code in (1u8..0x78).chain([0x7e]) {
            assert_eq!(fp32_to_ue4m3(2.0 * ue4m3_to_fp32(code)), code, "{code:#x}");
        }
        assert_eq!(fp32_to_ue4m3(1e9), 0x7e);
        assert_eq!(fp32_to_ue4m3(-1.0), 0);
        assert_eq!(fp32_to_ue4m3(f32::NAN), 0);
        assert_eq!(fp32_to_ue4m3(2.0f32.powi(-11)), 0, "below half the smallest subnormal");
    }
}

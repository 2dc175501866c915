//! TQ1_0 and TQ2_0 (ternary, for BitNet b1.58 and TriLM models): a port of
//! `quantize_row_tq1_0_ref` / `quantize_row_tq2_0_ref` (`ggml/src/ggml-quants.c`, what
//! `ggml_quantize_chunk` calls). Each super-block of 256 values gets `d = absmax` (f16) and one
//! trit per value, `lroundf(x/d) + 1` ∈ {0, 1, 2} for −d, 0, +d.
//!
//! Layouts (`ggml/src/ggml-common.h`):
//! * `block_tq1_0` (54 bytes): `qs[48]`, `qh[4]`, f16 `d`. Five trits per byte, written as the
//!   base-3 number `t0 t1 t2 t3 t4` (first value most significant) scaled to a byte by ceiling
//!   division, `⌈v·256/243⌉`, so `dequantize_row_tq1_0` reads trit n as `((q·3ⁿ mod 256)·3) >> 8`.
//!   Bytes 0..32 hold values `m + 32n`, bytes 32..48 values `160 + m + 16n`, and `qh` four trits
//!   each (values `240 + m + 4n`, a zero fifth trit).
//! * `block_tq2_0` (66 bytes): `qs[64]`, f16 `d`; value `128h + 32n + m` is bits `2n..2n+2` of
//!   byte `32h + m`.

use crate::schemes::kquants::reference::fp32_to_fp16;

/// `lroundf(v) + 1` for `v = x·id`. Finite `v` is within ±1 (plus rounding) here. When `1/d`
/// overflows (every |x| < 2⁻¹²⁸), `v` is ±Inf or NaN (0·Inf) and C's `lroundf` is unspecified:
/// glibc on x86-64 returns `LONG_MIN`, and `(int)(LONG_MIN + 1)` is 1, the zero trit, which the
/// fixtures confirm; quantscope gives 1 on every target.
#[inline]
fn trit(v: f32) -> u8 {
    if v.is_finite() {
        (v.round() as i32 + 1) as u8
    } else {
        1
    }
}

/// `d = absmax` (C's `MAX(amax, fabsf(v))`) and its inverse as the reference computes them.
fn scale(x: &[f32]) -> (f32, f32) {
    let mut amax = 0.0f32;
    for &v in x {
        let a = v.abs();
        amax = if amax > a { amax } else { a };
    }
    (amax, if amax != 0.0 { 1.0 / amax } else { 0.0 })
}

/// Quantizes 256 finite values to one trit each (0, 1, 2) and returns the f16 bits of `d`.
pub fn quantize_trits(x: &[f32], codes: &mut [u8]) -> u16 {
    let (d, id) = scale(x);
    for (c, &v) in codes.iter_mut().zip(x) {
        *c = trit(v * id);
    }
    fp32_to_fp16(d)
}

/// Where value `k` of a TQ1_0 block lives: (byte, trit position 0..5, most significant first).
#[inline]
pub fn tq1_0_location(k: usize) -> (usize, usize) {
    match k {
        0..160 => (k % 32, k / 32),
        160..240 => (32 + (k - 160) % 16, (k - 160) / 16),
        _ => (48 + (k - 240) % 4, (k - 240) / 4),
    }
}

/// The five trits of a TQ1_0 byte, as `dequantize_row_tq1_0` reads them.
#[inline]
pub fn tq1_0_trits(byte: u8) -> [u8; 5] {
    let mut t = [0u8; 5];
    let mut pow3 = 1u8;
    for d in &mut t {
        *d = (((byte.wrapping_mul(pow3) as u16) * 3) >> 8) as u8;
        pow3 = pow3.wrapping_mul(3);
    }
    t
}

/// Five trits (first most significant) as a byte: `⌈v·256/243⌉` (the reference's packing).
#[inline]
pub fn tq1_0_byte(trits: [u8; 5]) -> u8 {
    let v = trits.iter().fold(0u16, |q, &t| q * 3 + t as u16);
    (v * 256).div_ceil(243) as u8 // C: (q*256 + (243 - 1)) / 243
}

/// Writes `block_tq1_0` from 256 trits and `d`.
pub fn pack_tq1_0(d: u16, codes: &[u8], out: &mut [u8]) {
    let mut bytes = [[0u8; 5]; 52];
    for (k, &c) in codes.iter().enumerate() {
        let (at, n) = tq1_0_location(k);
        bytes[at][n] = c;
    }
    for (o, t) in out[..52].iter_mut().zip(bytes) {
        *o = tq1_0_byte(t);
    }
    out[52..54].copy_from_slice(&d.to_le_bytes());
}

/// Where value `k` of a TQ2_0 block lives: (byte, shift).
#[inline]
pub fn tq2_0_location(k: usize) -> (usize, u32) {
    (32 * (k / 128) + k % 32, 2 * ((k % 128) / 32) as u32)
}

/// Writes `block_tq2_0` from 256 trits and `d`.
pub fn pack_tq2_0(d: u16, codes: &[u8], out: &mut [u8]) {
    out[..64].fill(0);
    for (k, &c) in codes.iter().enumerate() {
        let (at, shift) = tq2_0_location(k);
        out[at] |= (c & 3) << shift;
    }
    out[64..66].copy_from_slice(&d.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_five_trit_number_survives_the_byte_packing() {
        for v in 0..243u16 {
            let t = [(v / 81) as u8, (v / 27 % 3) as u8, (v / 9 % 3) as u8, (v / 3 % 3) as u8, (v % 3) as u8];
            assert_eq!(tq1_0_trits(tq1_0_byte(t)), t, "{v}");
        }
    }

    #[test]
    fn trits_round_half_away_from_zero() {
        assert_eq!([trit(-1.0), trit(-0.5), trit(-0.49), trit(0.0), trit(0.5), trit(1.0)], [0, 0, 1, 1, 2, 2]);
        assert_eq!([trit(f32::NAN), trit(f32::INFINITY), trit(f32::NEG_INFINITY)], [1, 1, 1]);
    }

    #[test]
    fn locations_cover_every_slot_once() {
        let mut seen = std::collections::HashSet::new();
        for k in 0..256 {
            assert!(seen.insert(tq1_0_location(k)), "tq1_0 {k}");
        }
        let mut seen = std::collections::HashSet::new();
        for k in 0..256 {
            assert!(seen.insert(tq2_0_location(k)), "tq2_0 {k}");
        }
    }
}

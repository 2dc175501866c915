//! The scalar references of the integer quantizer's per-element loops: the definitions the
//! SIMD128 kernels must equal.

use super::quantize_value;

/// One group's affine map onto the integer grid: `q = clamp(round(x / scale) + zero_point, qmin,
/// qmax)`, back as `(q − zero_point) · scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupMap {
    pub scale: f32,
    pub zero_point: i32,
    pub qmin: i32,
    pub qmax: i32,
}

/// Quantizes one group's `values` with one scale and zero point: `codes` gets each code's low
/// byte (two's complement for signed codes; the packed form of INT8), `dequantized` gets
/// `(q − zp)·scale` in f32. Returns how many finite values were clamped. The definition:
/// [`quantize_value`] per element.
pub fn quantize_group(values: &[f32], map: GroupMap, codes: &mut [u8], dequantized: &mut [f32]) -> usize {
    let GroupMap { scale, zero_point, qmin, qmax } = map;
    assert!(values.len() == codes.len() && values.len() == dequantized.len());
    let mut clipped = 0;
    for ((&x, c), d) in values.iter().zip(codes.iter_mut()).zip(dequantized.iter_mut()) {
        let (q, clamped) = quantize_value(x, scale, zero_point, qmin, qmax);
        *c = q as u8;
        *d = (q - zero_point) as f32 * scale;
        clipped += clamped as usize;
    }
    clipped
}

/// Dequantizes one group's codes (one byte each, read as i8 when `signed`, else u8):
/// `(q − zp)·scale` in f32, as [`quantize_group`] computes it.
pub fn dequantize_group(codes: &[u8], signed: bool, scale: f32, zero_point: i32, out: &mut [f32]) {
    assert_eq!(codes.len(), out.len());
    for (&c, o) in codes.iter().zip(out.iter_mut()) {
        let q = if signed { c as i8 as i32 } else { c as i32 };
        *o = (q - zero_point) as f32 * scale;
    }
}

/// INT4's body from one byte per code, in place: byte i = (code 2i & 0xF) | code 2i+1 << 4, an
/// odd last code alone (`& 0xF`); returns the body's length, `codes.len().div_ceil(2)`. Byte i
/// is written after codes 2i and 2i+1 are read and before any later code is, so in place is safe.
pub fn pack_nibbles_in_place(codes: &mut [u8]) -> usize {
    let n = codes.len();
    for i in 0..n / 2 {
        codes[i] = (codes[2 * i] & 0x0f) | (codes[2 * i + 1] << 4);
    }
    if n % 2 == 1 {
        codes[n / 2] = codes[n - 1] & 0x0f;
    }
    n.div_ceil(2)
}

/// INT2's body from one byte per code, in place: byte i holds codes 4i..4i+4, two bits each,
/// the first lowest (a partial last byte with the codes there are); returns
/// `codes.len().div_ceil(4)`.
pub fn pack_pairs_in_place(codes: &mut [u8]) -> usize {
    let n = codes.len();
    for i in 0..n / 4 {
        let q = &codes[4 * i..4 * i + 4];
        codes[i] = (q[0] & 0b11) | ((q[1] & 0b11) << 2) | ((q[2] & 0b11) << 4) | (q[3] << 6);
    }
    if n % 4 != 0 {
        let last = codes[n / 4 * 4..].iter().rev().fold(0u8, |acc, &c| (acc << 2) | (c & 0b11));
        codes[n / 4] = last;
    }
    n.div_ceil(4)
}

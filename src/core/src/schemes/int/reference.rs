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

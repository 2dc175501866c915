//! The scalar reference of the integer quantizer's per-element loop: the definition the
//! SIMD128 kernel must equal.

use super::quantize_value;

/// Quantizes `values` with one scale and zero point into `out` (same length) and returns how
/// many finite values were clamped. The reference: [`quantize_value`] per element.
pub fn quantize_codes(values: &[f32], scale: f32, zero_point: i32, qmin: i32, qmax: i32, out: &mut [i32]) -> usize {
    assert_eq!(values.len(), out.len());
    let mut clipped = 0;
    for (&x, o) in values.iter().zip(out.iter_mut()) {
        let (q, c) = quantize_value(x, scale, zero_point, qmin, qmax);
        *o = q;
        clipped += c as usize;
    }
    clipped
}

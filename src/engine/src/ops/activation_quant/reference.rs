//! The scalar definitions of the activation loops: what the SIMD128 kernels must equal.

/// `(min(0, min x), max(0, max x))` over the non-NaN values: DynamicQuantizeLinear's range,
/// which always includes 0. NaN never wins a comparison, so it does not move the range.
pub fn range(x: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = (0.0f32, 0.0f32);
    for &v in x {
        if v < lo {
            lo = v;
        }
        if v > hi {
            hi = v;
        }
    }
    (lo, hi)
}

/// `out[i] = clamp(round_half_even(x[i] / scale) + zp, 0, 255)`, the DynamicQuantizeLinear
/// and QuantizeLinear formula in f32; NaN → 0, as MLAS's conversion of a NaN lane gives.
pub fn quantize_u8(x: &[f32], scale: f32, zp: u8, out: &mut [u8]) {
    let z = zp as f32;
    for (o, &v) in out.iter_mut().zip(x) {
        let q = (v / scale).round_ties_even() + z;
        *o = q.clamp(0.0, 255.0) as u8;
    }
}

/// `out = acc as f32 · multiplier[j] (+ bias[j])` for rows of `multiplier.len()` columns:
/// the Cast, Mul and Add of ONNX Runtime's dynamic graph, each rounded separately.
pub fn rescale(acc: &[i32], multiplier: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let n = multiplier.len().max(1);
    for (row, orow) in acc.chunks(n).zip(out.chunks_mut(n)) {
        for (j, (&a, o)) in row.iter().zip(orow.iter_mut()).enumerate() {
            let v = a as f32 * multiplier[j];
            *o = match bias {
                Some(b) => v + b[j],
                None => v,
            };
        }
    }
}

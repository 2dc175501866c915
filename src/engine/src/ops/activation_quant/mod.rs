//! The per-element loops around the integer GEMM of the quantized ops: the activation range of
//! DynamicQuantizeLinear, quantization to u8, and the rescale of the i32 accumulators to f32.
//! Each has a scalar reference (the definition, in [`reference`]), a SIMD128 kernel that must
//! equal it bit for bit, and a dispatching function here that picks between them — the only
//! place that does. `src/engine/tests/engine_kernels.rs` holds the kernels to the references in Chromium.
//!
//! Why they have kernels at all: at batch 256 the MNIST MLP's first layer quantizes 200,704
//! activations per run. Scalar, the range and the quantization took about as long as the int8
//! GEMM itself (batch-256 INT8 ran at 144k inferences/s against 206k for FP32 in the same
//! Chromium run).

pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

/// [`reference::range`], with the SIMD128 kernel where there is one.
pub fn range(x: &[f32]) -> (f32, f32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::range(x);
    #[allow(unreachable_code)]
    reference::range(x)
}

/// [`reference::quantize_u8`] (`out` at least as long as `x`), with the SIMD128 kernel where
/// there is one.
pub fn quantize_u8(x: &[f32], scale: f32, zp: u8, out: &mut [u8]) {
    assert!(out.len() >= x.len(), "quantize_u8: out is shorter than x");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::quantize_u8(x, scale, zp, &mut out[..x.len()]);
    #[allow(unreachable_code)]
    reference::quantize_u8(x, scale, zp, out)
}

/// [`reference::rescale`]: `acc` is whole rows of `multiplier.len()` columns, `bias` (if any)
/// one value per column, `out` as long as `acc`. With the SIMD128 kernel where there is one.
pub fn rescale(acc: &[i32], multiplier: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let n = multiplier.len();
    assert!(n > 0 || acc.is_empty(), "rescale: no multiplier");
    assert!(n == 0 || acc.len() % n == 0, "rescale: {} values are not rows of {n} columns", acc.len());
    assert!(bias.map_or(true, |b| b.len() == n), "rescale: one bias per column");
    assert_eq!(out.len(), acc.len(), "rescale: out and acc differ in length");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::rescale(acc, multiplier, bias, out);
    #[allow(unreachable_code)]
    reference::rescale(acc, multiplier, bias, out)
}

//! The inner loops of the forward pass, each with one scalar definition (`reference.rs`) and a
//! SIMD128 kernel that must equal it bit for bit (`simd128.rs`; src/llm/tests/kernels.rs holds them
//! to each other in the browser): the F32 dot product in ggml's eight lanes,
//! and the integer sums of a Q8_0 × Q8_0 and a Q4_0 × Q8_0 block in ggml's eight groups of four.
//! The float accumulation with FMA stays in the callers (`q8_0.rs`, `q4_0.rs`).

pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

/// Σ a·b in eight interleaved f32 partial sums (lane l takes elements l, l + 8, ...), added as
/// ((0+4) + (1+5)) + ((2+6) + (3+7)), then the tail.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::dot(a, b);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::dot(a, b);
}

/// The eight sums of four consecutive products w[j]·x[j] of two Q8_0 blocks' codes.
#[inline]
pub fn q8_0_sums(w: &[i8; 32], x: &[i8; 32]) -> [i32; 8] {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::q8_0_sums(w, x);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::q8_0_sums(w, x);
}

/// The eight sums of four consecutive products (q[j] − 8)·x[j] of a Q4_0 block's 16 bytes of
/// nibbles (q[j] the low nibbles for j < 16, the high ones after) and a Q8_0 block's codes.
#[inline]
pub fn q4_0_sums(w: &[u8; 16], x: &[i8; 32]) -> [i32; 8] {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::q4_0_sums(w, x);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    return reference::q4_0_sums(w, x);
}

/// a·b + c rounded once, as `f32::mul_add` (ggml's AVX2 FMA), without a call: wasm has no FMA
/// instruction and `mul_add` there is a library function. musl's `fmaf` fast path: the product of
/// two f32 is exact in f64, so the f64 sum is rounded once; rounding that to f32 rounds twice only
/// when the f64 result sits exactly half-way between two f32 (low 29 bits 0x1000_0000) and is
/// inexact — that case, and results in f32's subnormal range (0 itself is exact), take `mul_add`.
#[inline]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
    let xy = a as f64 * b as f64;
    let r = xy + c as f64;
    let halfway = r.to_bits() & 0x1fff_ffff == 0x1000_0000;
    if (!halfway || (r - xy == c as f64 && r - c as f64 == xy)) && (r == 0.0 || r.abs() >= f32::MIN_POSITIVE as f64) {
        return r as f32;
    }
    a.mul_add(b, c)
}

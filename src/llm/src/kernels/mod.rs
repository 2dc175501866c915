//! The inner loops of the forward pass, each with one scalar definition (`reference.rs`) and a
//! SIMD128 kernel that must equal it bit for bit (`simd128.rs`; src/llm/tests/kernels.rs holds them
//! to each other in the browser): the F32 dot product and matrix-vector product in ggml's eight
//! lanes, the activations' quantization to Q8_0 and Q8_K, and the Q8_0, Q2_K, Q3_K, Q4_K, Q5_K
//! and Q6_K matrix-vector products (the K-quants unpacked at load to a byte per code) and IQ4_XS's
//! (its levels looked up at load, [`crate::iq4`]). Q4_0 and IQ4_NL are unpacked to Q8_0 codes at
//! load ([`crate::q4_0::unpack`], [`crate::iq4::iq4_nl_unpack`]); Q4_0's definition
//! `reference::q4_0_dot` is held to the Q8_0 kernel. The kernel is chosen here, once.
//!
//! The quantized products' float operations are those of ggml's wasm SIMD128 kernels
//! (`ggml/src/ggml-cpu/arch/wasm/quants.c`): per block (Q8_0, Q4_0) or super-block (K-quants) the
//! exact integer sums are converted to f32, multiplied by the scales and added — a multiply, then
//! an add, since wasm has no fused multiply-add. llama.cpp's x86 build, where the reference logits
//! come from, fuses them (AVX2 `_mm256_fmadd_ps`) and groups lanes otherwise, so the two differ by
//! float rounding: see src/llm/tests/logits.rs for what that does to the logits. (The FMA can be
//! emulated exactly — the f64 product is exact — but only with a round trip through f64 and a
//! double-rounding check per lane and block: more work than the block's integer sums.)

pub mod reference;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128;

use crate::blocks::{BlockIq4Xs, BlockQ8Min, BlockQ8_0};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd128 as picked;

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use reference as picked;

static FUSED_F32: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// While one of these lives, the relaxed-SIMD build's F32 matrix products ([`f32_matvec`],
/// [`f32_matmul`]) take `f32x4.relaxed_madd`, which V8 fuses where the CPU has FMA3 (as
/// llama.cpp's x86 build fuses them): a prompt of an F32 model ~1.2× faster in Chromium, its
/// logits then differing from the reference's (and the plain build's) by float rounding, held to
/// llama.cpp's as every build's are. Only text generation turns it on (src/lm's playground:
/// prompt and next tokens); everything the page promises bit for bit — perplexity and KL
/// divergence (equal in both builds), GPTQ's, AWQ's and the imatrix's calibration passes (GPTQ's
/// Q4_0 file is the one llama.cpp was given, byte for byte) — runs with it off, the default. The
/// plain build and the native reference ignore it. Dropping it restores the previous setting.
pub struct FusedF32 {
    was: bool,
}

impl FusedF32 {
    pub fn on() -> FusedF32 {
        FusedF32 { was: FUSED_F32.swap(true, core::sync::atomic::Ordering::Relaxed) }
    }

    pub fn is_on() -> bool {
        FUSED_F32.load(core::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for FusedF32 {
    fn drop(&mut self) {
        FUSED_F32.store(self.was, core::sync::atomic::Ordering::Relaxed);
    }
}

/// Σ a·b in eight interleaved f32 partial sums (lane l takes elements l, l + 8, ...), added as
/// ((0+4) + (1+5)) + ((2+6) + (3+7)), then the tail.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    picked::dot(a, b)
}

/// y = W x for a row-major F32 matrix of y.len() rows of x.len(): each row as [`dot`] (fused
/// where [`FusedF32`] says so).
#[inline]
pub fn f32_matvec(w: &[f32], x: &[f32], y: &mut [f32]) {
    picked::f32_matvec(w, x, y)
}

/// Y = W X for a tile of an F32 matrix (`w`: rows of `n`) and tokens (`xs`: tokens of `n`), token
/// t's output of row r into `ys[t * stride + r]`: each output exactly [`f32_matvec`]'s.
#[inline]
pub fn f32_matmul(w: &[f32], xs: &[f32], n: usize, ys: &mut [f32], stride: usize) {
    picked::f32_matmul(w, xs, n, ys, stride)
}

/// One attention head's scores against the cached keys: `scores[j] = dot(key j, q) · scale`,
/// key j = `keys[j * stride..][..q.len()]` (each [`dot`]'s operations; the SIMD128 kernel takes
/// four keys at a time and finishes their eight lanes together).
#[inline]
pub fn attn_scores(keys: &[f32], stride: usize, q: &[f32], scale: f32, scores: &mut [f32]) {
    picked::attn_scores(keys, stride, q, scale, scores)
}

/// One attention head's output: `out = Σ_j p[j] · value j` (value j = `values[j * stride..]
/// [..out.len()]`), each element added in j order from 0.
#[inline]
pub fn attn_values(p: &[f32], values: &[f32], stride: usize, out: &mut [f32]) {
    picked::attn_values(p, values, stride, out)
}

/// RMSNorm times its weight of each row of `x` (rows of `w.len()`) into `out`:
/// [`reference::rms_norm`] row by row (the sum of squares in f64 in order). The SIMD128 kernel
/// runs eight rows at a time, two per f64x2 lane pair, so that the eight sums' additions overlap
/// instead of waiting on one another (each row's sum still added value by value in order).
#[inline]
pub fn rms_norm_rows(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    picked::rms_norm_rows(x, w, eps, out)
}

/// A softmax's exponentials in place, v = exp(v − max), and their sum in f64 in order. The
/// SIMD128 kernel computes `f32::exp` as wasm's libm does (compiler-builtins' `expf`, FreeBSD's
/// `e_expf.c`) four lanes at a time, bit for bit.
#[inline]
pub fn exp_shifted(v: &mut [f32], max: f32) -> f64 {
    picked::exp_shifted(v, max)
}

/// SwiGLU's gate in place: gate / (1 + exp(−gate)) · up, with [`exp_shifted`]'s exp.
#[inline]
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    picked::swiglu(gate, up)
}

/// Activations quantized to Q8_0 as ggml-cpu's x86 `quantize_row_q8_0` does, into `out` (cleared
/// first; `x.len()` a multiple of 32).
#[inline]
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<BlockQ8_0>) {
    picked::quantize_q8_0(x, out)
}

/// Activations quantized to Q8_K as `quantize_row_q8_K_ref` does, into `out` (cleared first;
/// `x.len()` a multiple of 256).
#[inline]
pub fn quantize_q8_k(x: &[f32], out: &mut Vec<BlockQ8K>) {
    picked::quantize_q8_k(x, out)
}

/// y = W x for a Q8_0 matrix (y.len() rows of x.len() blocks) and Q8_0 activations.
#[inline]
pub fn q8_0_matvec(w: &[BlockQ8_0], x: &[BlockQ8_0], y: &mut [f32]) {
    picked::q8_0_matvec(w, x, y)
}

/// y = W x for a Q4_K matrix and Q8_K activations.
#[inline]
pub fn q4_k_matvec(w: &[BlockQ4K], x: &[BlockQ8K], y: &mut [f32]) {
    picked::q4_k_matvec(w, x, y)
}

/// y = W x for a Q6_K matrix and Q8_K activations.
#[inline]
pub fn q6_k_matvec(w: &[BlockQ6K], x: &[BlockQ8K], y: &mut [f32]) {
    picked::q6_k_matvec(w, x, y)
}

/// y = W x for a Q2_K matrix and Q8_K activations.
#[inline]
pub fn q2_k_matvec(w: &[BlockQ2K], x: &[BlockQ8K], y: &mut [f32]) {
    picked::q2_k_matvec(w, x, y)
}

/// y = W x for a Q3_K matrix and Q8_K activations.
#[inline]
pub fn q3_k_matvec(w: &[BlockQ3K], x: &[BlockQ8K], y: &mut [f32]) {
    picked::q3_k_matvec(w, x, y)
}

/// y = W x for a Q5_K matrix and Q8_K activations.
#[inline]
pub fn q5_k_matvec(w: &[BlockQ5K], x: &[BlockQ8K], y: &mut [f32]) {
    picked::q5_k_matvec(w, x, y)
}

/// y = W x for an IQ4_XS matrix and Q8_K activations.
#[inline]
pub fn iq4_xs_matvec(w: &[BlockIq4Xs], x: &[BlockQ8K], y: &mut [f32]) {
    picked::iq4_xs_matvec(w, x, y)
}

/// y = W x for a Q4_1 or Q5_1 matrix (unpacked to [`BlockQ8Min`]) and Q8_1 activations: Q8_0's
/// blocks `x` and each block's s = d·Σq in `s`.
#[inline]
pub fn q8_1_matvec(w: &[BlockQ8Min], x: &[BlockQ8_0], s: &[f32], y: &mut [f32]) {
    picked::q8_1_matvec(w, x, s, y)
}

/// The block-quantized matrices' products over a tile of rows (`w`: whole rows of blocks) and of
/// tokens (`xs`: each token's activations, quantized once): token t's output of row r into
/// `ys[t * stride + r]`, each output exactly the matching `*_matvec`'s (the tile kernels load a
/// weight block once for several tokens; the float operations of an output stay the matvec's,
/// in its order).
pub fn q8_0_matmul(w: &[BlockQ8_0], xs: &[Vec<BlockQ8_0>], ys: &mut [f32], stride: usize) {
    picked::q8_0_matmul(w, xs, ys, stride)
}

/// Q4_K × Q8_K over a tile (see [`q8_0_matmul`]).
pub fn q4_k_matmul(w: &[BlockQ4K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    picked::q4_k_matmul(w, xs, ys, stride)
}

/// Q5_K × Q8_K over a tile (see [`q8_0_matmul`]).
pub fn q5_k_matmul(w: &[BlockQ5K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    picked::q5_k_matmul(w, xs, ys, stride)
}

/// Q6_K × Q8_K over a tile (see [`q8_0_matmul`]).
pub fn q6_k_matmul(w: &[BlockQ6K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    picked::q6_k_matmul(w, xs, ys, stride)
}

/// Q3_K × Q8_K over a tile (see [`q8_0_matmul`]).
pub fn q3_k_matmul(w: &[BlockQ3K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    picked::q3_k_matmul(w, xs, ys, stride)
}

/// Q2_K × Q8_K over a tile (see [`q8_0_matmul`]).
pub fn q2_k_matmul(w: &[BlockQ2K], xs: &[Vec<BlockQ8K>], ys: &mut [f32], stride: usize) {
    picked::q2_k_matmul(w, xs, ys, stride)
}

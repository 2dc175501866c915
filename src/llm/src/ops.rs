//! The F32 operations of the llama graph, each as ggml-cpu computes it (`ggml/src/ggml-cpu/ops.cpp`,
//! `vec.h`): where ggml accumulates in double (`ggml_float`) so does this, so the remaining
//! differences from llama.cpp are the order of f32 sums in the dot products and ggml's SIMD
//! `expf` approximation in the softmax and SiLU.

use crate::config::RopeMode;

/// RMSNorm times its weight ([`crate::kernels::reference::rms_norm`], beside the kernels that
/// hold to it).
pub use crate::kernels::reference::rms_norm;

/// Dot product of two f32 slices in ggml's eight lanes ([`crate::kernels::dot`]).
pub use crate::kernels::dot;

/// RoPE: pair i of a head rotated by pos · base^(-2i/n_rot). Which two dimensions make pair i is
/// the mode ([`RopeMode`]; ggml's `rotate_pairs` in `ggml-cpu/ops.cpp`): (2i, 2i+1) for NORM,
/// (i, i + n_rot/2) for NEOX. The angles are [`rope_cache`]'s.
pub fn rope(head: &mut [f32], pos: usize, n_rot: usize, base_scale: (f32, f32), mode: RopeMode, freq_factors: Option<&[f32]>) {
    let mut cache = vec![(0f32, 0f32); n_rot / 2];
    rope_cache(pos, n_rot, base_scale, freq_factors, &mut cache);
    rope_apply(head, &cache, mode);
}

/// The (sin, cos) of each pair's angle at position `pos`, made as `ggml_rope_cache_init` makes
/// them, once per position for every head (as ggml does): theta starts at pos and is multiplied by
/// `powf(base, -2/n_rot)` pair by pair (not a fresh `powf` per pair). `freq_factors` (Llama 3.1's
/// `rope_freqs.weight`, one per pair) divide each pair's angle, as `ggml_rope_cache_init` passes
/// theta / ff to `rope_yarn`, which multiplies it by `freq_scale` (linear RoPE scaling; 1
/// otherwise, an exact no-op). `cache` holds n_rot / 2 pairs.
pub fn rope_cache(pos: usize, n_rot: usize, (freq_base, freq_scale): (f32, f32), freq_factors: Option<&[f32]>, cache: &mut [(f32, f32)]) {
    let theta_scale = freq_base.powf(-2.0 / n_rot as f32);
    let mut theta = pos as f32;
    for (pair, sc) in cache.iter_mut().enumerate() {
        let angle = freq_scale
            * match freq_factors {
                Some(ff) => theta / ff[pair],
                None => theta,
            };
        *sc = angle.sin_cos();
        theta *= theta_scale;
    }
}

/// One head rotated by a position's [`rope_cache`] (its first 2 · cache.len() dimensions).
pub fn rope_apply(head: &mut [f32], cache: &[(f32, f32)], mode: RopeMode) {
    let half = cache.len();
    for (pair, &(sin, cos)) in cache.iter().enumerate() {
        let (a, b) = match mode {
            RopeMode::Norm => (2 * pair, 2 * pair + 1),
            RopeMode::Neox => (pair, pair + half),
        };
        let (x0, x1) = (head[a], head[b]);
        head[a] = x0 * cos - x1 * sin;
        head[b] = x0 * sin + x1 * cos;
    }
}

/// In-place softmax of `scores` (already scaled): `ggml_compute_forward_soft_max_f32` — the max,
/// then exp(x − max) summed in double, then every value times (float) 1/sum.
pub fn softmax(scores: &mut [f32]) {
    // The largest (NaN skipped, as `f32::max` skips it) by a compare, not a `fmaxf` call per
    // score: only which zero a max of zeros is could differ, and exp(±0 − ±0) is 1 either way.
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    let sum = crate::kernels::exp_shifted(scores, max);
    let inv = (1.0 / sum) as f32;
    scores.iter_mut().for_each(|s| *s *= inv);
}

/// SwiGLU's gate: silu(gate) · up, in place in `gate` (`ggml_swiglu_split`; silu(x) = x / (1 + e^-x)).
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    crate::kernels::swiglu(gate, up)
}

/// GEGLU's gate: gelu(gate) · up, in place in `gate`, as ggml-cpu's `ggml_vec_geglu_f32` (with
/// `GGML_GELU_FP16`): below −10 zero, from 10 on the input itself, else GELU's tanh form looked up
/// in an f16 table (`ggml_table_gelu_f16`: the input rounded to f16, GELU in f32, the result
/// rounded to f16).
pub fn geglu(gate: &mut [f32], up: &[f32]) {
    use half::f16;
    const GELU_COEF_A: f32 = 0.044715;
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for (g, &u) in gate.iter_mut().zip(up) {
        let x = *g;
        *g = if x <= -10.0 {
            0.0
        } else if x >= 10.0 {
            x * u
        } else {
            let x = f16::from_f32(x).to_f32();
            // ggml_gelu_f32, its operations in C's order.
            let gelu = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + GELU_COEF_A * x * x)).tanh());
            f16::from_f32(gelu).to_f32() * u
        };
    }
}

//! Q8_0 × Q8_0 as ggml-cpu multiplies a Q8_0 weight matrix: the activations are first quantized
//! to Q8_0 (the weight type's `vec_dot_type`, `ggml/src/ggml-cpu/ggml-cpu.c` `type_traits_cpu`),
//! then each row's dot product is `ggml_vec_dot_q8_0_q8_0`.
//!
//! - `quantize_row_q8_0` as the x86 AVX2 body rounds (the build the reference logits come from):
//!   d = amax / 127 (stored as f16), the multiplier 127 / amax (not 1/d), products rounded to
//!   nearest, ties to even (`_mm256_round_ps`; the scalar `quantize_row_q8_0_ref` multiplies by
//!   1/d and rounds ties away from zero);
//! - `ggml_vec_dot_q8_0_q8_0` in the float order of ggml's wasm SIMD128 body: four lanes, each
//!   block's exact integer sums times d_w·d_x added to them ([`crate::kernels`]).

pub use crate::blocks::{BlockQ8_0, QK};
use half::f16;

/// Bytes per block in a file: f16 scale, 32 × i8.
pub const BLOCK_BYTES: usize = 34;

/// Blocks from a file's bytes (a whole number of blocks; the GGUF reader checked the size).
pub fn blocks_from_bytes(bytes: &[u8]) -> Vec<BlockQ8_0> {
    bytes
        .chunks_exact(BLOCK_BYTES)
        .map(|b| {
            let mut qs = [0i8; QK];
            for (q, &v) in qs.iter_mut().zip(&b[2..]) {
                *q = v as i8;
            }
            BlockQ8_0 { d: f16::from_le_bytes([b[0], b[1]]).to_f32(), qs }
        })
        .collect()
}

/// Activations quantized as ggml-cpu's AVX2 `quantize_row_q8_0` does (`x.len()` a multiple of 32).
pub fn quantize_activations(x: &[f32]) -> Vec<BlockQ8_0> {
    let mut out = Vec::with_capacity(x.len() / QK);
    crate::kernels::quantize_q8_0(x, &mut out);
    out
}

/// `ggml_vec_dot_q8_0_q8_0`: Σ_blocks d_w d_x Σ q_w q_x, in the lanes of [`crate::kernels`].
pub fn vec_dot(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    let mut y = [0f32];
    crate::kernels::q8_0_matvec(w, x, &mut y);
    y[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_ties_to_even_with_the_127_over_amax_multiplier() {
        // amax 127 makes the multiplier exactly 1, so x · id keeps the .5 ties.
        let mut x = [0f32; QK];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -3.5;
        x[3] = 0.5;
        let q = quantize_activations(&x);
        assert_eq!(q[0].d, 1.0);
        assert_eq!(&q[0].qs[..4], &[127, 2, -4, 0]);
    }

    #[test]
    fn zero_block_has_zero_scale() {
        let q = quantize_activations(&[0.0; QK]);
        assert_eq!(q[0].d, 0.0);
        assert!(q[0].qs.iter().all(|&v| v == 0));
    }

    #[test]
    fn dot_is_the_scaled_integer_dot() {
        let mut a = BlockQ8_0 { d: 0.5, qs: [0; QK] };
        let mut b = BlockQ8_0 { d: 0.25, qs: [0; QK] };
        for i in 0..QK {
            a.qs[i] = i as i8 - 16;
            b.qs[i] = 3 - (i as i8 % 7);
        }
        let exact: i32 = (0..QK).map(|i| a.qs[i] as i32 * b.qs[i] as i32).sum();
        assert_eq!(vec_dot(&[a, a], &[b, b]), 2.0 * 0.125 * exact as f32);
    }
}

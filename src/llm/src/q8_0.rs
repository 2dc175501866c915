//! Q8_0 × Q8_0 as ggml-cpu multiplies a Q8_0 weight matrix: the activations are first quantized
//! to Q8_0 (the weight type's `vec_dot_type`, `ggml/src/ggml-cpu/ggml-cpu.c` `type_traits_cpu`),
//! then each row's dot product is `ggml_vec_dot_q8_0_q8_0`.
//!
//! Both follow the x86 AVX2 bodies in `ggml/src/ggml-cpu/arch/x86/quants.c`, the build the
//! reference logits come from:
//! - `quantize_row_q8_0`: d = amax / 127 (stored as f16), the multiplier 127 / amax (not 1/d),
//!   products rounded to nearest, ties to even (`_mm256_round_ps`; the scalar reference
//!   `quantize_row_q8_0_ref` multiplies by 1/d and rounds ties away from zero);
//! - `ggml_vec_dot_q8_0_q8_0`: per block, the integer products summed in eight lanes of four
//!   (`mul_sum_i8_pairs_float`), each lane accumulated across blocks with one fused multiply-add
//!   by d_x·d_y, the eight lanes added at the end as `hsum_float_8` adds them.
//!
//! The integer work is exact, so what remains is float: the same operations in the same order,
//! barring the compiler's choice of FMA in other places.

use half::f16;

/// Values per block.
pub const QK: usize = 32;
/// Bytes per block in a file: f16 scale, 32 × i8.
pub const BLOCK_BYTES: usize = 34;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8_0 {
    /// The block's f16 scale, widened.
    pub d: f32,
    pub qs: [i8; QK],
}

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
    x.chunks_exact(QK)
        .map(|v| {
            let amax = v.iter().fold(0f32, |m, &a| m.max(a.abs()));
            let d = amax / 127.0;
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            let mut qs = [0i8; QK];
            for (q, &a) in qs.iter_mut().zip(v) {
                *q = (a * id).round_ties_even() as i8;
            }
            BlockQ8_0 { d: f16::from_f32(d).to_f32(), qs }
        })
        .collect()
}

/// `ggml_vec_dot_q8_0_q8_0` (AVX2): Σ_blocks d_x d_y Σ q_x q_y, accumulated in eight lanes.
pub fn vec_dot(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    let mut acc = [0f32; 8];
    for (bw, bx) in w.iter().zip(x) {
        let d = bw.d * bx.d;
        for (a, s) in acc.iter_mut().zip(crate::kernels::q8_0_sums(&bw.qs, &bx.qs)) {
            *a = crate::kernels::fma(d, s as f32, *a);
        }
    }
    hsum8(&acc)
}

/// ggml's `hsum_float_8`: the high half added to the low half, then 0+2 and 1+3, then those two.
pub fn hsum8(acc: &[f32; 8]) -> f32 {
    let r = [acc[4] + acc[0], acc[5] + acc[1], acc[6] + acc[2], acc[7] + acc[3]];
    (r[0] + r[2]) + (r[1] + r[3])
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

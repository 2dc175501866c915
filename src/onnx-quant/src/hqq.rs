//! HQQ — Half-Quadratic Quantization (Badri & Shaji, 2023) — of a MatMul's B `[K, N]` in blocks
//! along K, as ONNX Runtime's `HQQWeightOnlyQuantizer` does it
//! (`onnxruntime/quantization/matmul_nbits_quantizer.py`, `quantize_internal` and
//! `optimize_weights`, onnxruntime 1.32): round-to-nearest's min–max scale is kept, and the zero
//! point of each block is refined by a proximal solver of `‖W − dequantize(quantize(W))‖_p^p`
//! (p = 0.7, β = 10 growing by κ = 1.01 per step, at most 20 steps, stopping when the mean
//! |error| no longer falls). The zero points stay float, in the quantized domain: MatMulNBits
//! dequantizes `(q − zp) · scale`.
//!
//! The scales and the arithmetic are float32 as torch computes them on a CPU, with its
//! round-half-to-even. Two things are not bit-identical to torch: its `pow` (SLEEF, within an
//! ulp) and the order of its float sums (each block's mean, the mean |error|), so a zero point
//! can differ from torch's in its last bits and, rarely, a code that sits on a rounding tie.

/// MatMulNBits' B with HQQ's float zero points: the packed codes `[N, k_blocks, block_size ·
/// bits / 8]`, and the scales and zero points `[N · k_blocks]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HqqWeight {
    pub packed: Vec<u8>,
    pub scales: Vec<f32>,
    pub zero_points: Vec<f32>,
}

/// `optimize_weights`' defaults.
const LP_NORM: f64 = 0.7;
const BETA: f64 = 10.0;
const KAPPA: f64 = 1.01;
const ITERATIONS: usize = 20;

/// `shrink_op`: the proximal step of the lp norm, `sign(x) · relu(|x| − |x|^(p−1) / β)`, with
/// torch's float32 arithmetic (its Python scalars become float32 operands).
fn shrink(x: f32, inv_beta: f32, exponent: f32) -> f32 {
    let a = x.abs();
    let r = (a - inv_beta * (a + 1e-8).powf(exponent)).max(0.0);
    if x > 0.0 {
        r
    } else if x < 0.0 {
        -r
    } else {
        0.0
    }
}

/// `torch.round(w * scale + zero).clamp(0, max)`: float32 multiply, then add, ties to even.
fn code(w: f32, scale: f32, zero: f32, max: f32) -> f32 {
    (w * scale + zero).round_ties_even().clamp(0.0, max)
}

/// `HQQWeightOnlyQuantizer.quantize` on `b` (`[k, n]`, row major), `bits` 2, 4 or 8: each
/// column's K weights, padded with zeros to whole blocks, quantized block by block.
pub fn hqq(b: &[f32], k: usize, n: usize, block_size: usize, bits: u32) -> HqqWeight {
    debug_assert_eq!(b.len(), k * n);
    let k_blocks = k.div_ceil(block_size);
    let padded = k_blocks * block_size;
    let max = ((1u32 << bits) - 1) as f32;
    // B transposed and padded along K: one group of block_size weights per (column, block)
    let mut groups = vec![0f32; n * padded];
    for (j, column) in groups.chunks_mut(padded).enumerate() {
        for (i, w) in column.iter_mut().take(k).enumerate() {
            *w = b[i * n + j];
        }
    }
    // the inverse scale (`weight * scale` quantizes) and the rounded zero point of min–max
    let (mut scales, mut zeros): (Vec<f32>, Vec<f32>) = groups
        .chunks(block_size)
        .map(|g| {
            let (lo, hi) = g.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            // a block of one value gets range max, so its inverse scale is 1
            let range = if hi - lo == 0.0 { max } else { hi - lo };
            // `max_v / (_max - _min)` is torch's `__rtruediv__`: reciprocal, then multiply
            let scale = ((1.0 / range) * max).min(2e4);
            (scale, (-lo * scale).round_ties_even())
        })
        .unzip();
    optimize_zero_points(&groups, block_size, &scales, &mut zeros, max);

    let per_byte = (8 / bits) as usize;
    let mut packed = vec![0u8; n * padded / per_byte];
    for (g, block) in groups.chunks(block_size).enumerate() {
        for (e, &w) in block.iter().enumerate() {
            let at = g * block_size + e;
            packed[at / per_byte] |= (code(w, scales[g], zeros[g], max) as u8) << ((at % per_byte) as u32 * bits);
        }
    }
    for s in &mut scales {
        *s = 1.0 / *s;
    }
    HqqWeight { packed, scales, zero_points: zeros }
}

/// `optimize_weights`: moves each block's zero point towards the mean of `q − (W − E) · scale`,
/// where E is the shrunk error, while the mean |error| over the whole matrix falls. The zero
/// points of the step whose error did not fall are kept, as ONNX Runtime keeps them.
fn optimize_zero_points(groups: &[f32], block_size: usize, scales: &[f32], zeros: &mut [f32], max: f32) {
    let exponent = (LP_NORM - 1.0) as f32;
    let mut beta = BETA;
    let mut best_error = 1e4f64;
    for _ in 0..ITERATIONS {
        let inv_beta = (1.0 / beta) as f32;
        let mut error_sum = 0f64;
        for ((block, &scale), zero) in groups.chunks(block_size).zip(scales).zip(zeros.iter_mut()) {
            let mut sum = 0f64;
            for &w in block {
                let q = code(w, scale, *zero, max);
                let r = (q - *zero) / scale;
                let e = shrink(w - r, inv_beta, exponent);
                sum += f64::from(q - (w - e) * scale);
                error_sum += f64::from((w - r).abs());
            }
            *zero = (sum / block_size as f64) as f32;
        }
        beta *= KAPPA;
        let error = error_sum / groups.len() as f64;
        if error < best_error {
            best_error = error;
        } else {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_block_has_scale_one_and_its_codes_on_the_zero_point() {
        // min = max: the range becomes max (15), the inverse scale 1
        let w = hqq(&[0.25; 16], 16, 1, 16, 4);
        assert_eq!(w.scales, vec![1.0]);
        let q = |i: usize| (w.packed[i / 2] >> ((i % 2) * 4)) & 0xf;
        // every code is round(0.25 + zero), and dequantizes to within half a step of 0.25
        let z = w.zero_points[0];
        assert!((0..16).all(|i| q(i) == q(0)));
        assert!(((f32::from(q(0)) - z) * w.scales[0] - 0.25).abs() <= 0.5);
    }
}

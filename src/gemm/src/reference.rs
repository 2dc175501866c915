//! Scalar reference kernels: the definition the SIMD kernels are tested against.

use super::{zero_point, Int8};

/// C = A · B, summing over l in order for each `C[i][j]`.
pub fn gemm_f32(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm_f32: slices shorter than m×k, k×n, m×n");
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for l in 0..k {
            let x = a[i * k + l];
            for (cj, bj) in row.iter_mut().zip(&b[l * n..(l + 1) * n]) {
                *cj += x * bj;
            }
        }
    }
}

/// See [`super::matmul_integer`].
#[allow(clippy::too_many_arguments)]
pub fn matmul_integer<A: Int8, B: Int8>(m: usize, k: usize, n: usize, a: &[A], a_zp: &[i32], b: &[B], b_zp: &[i32], c: &mut [i32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul_integer: slices shorter than m×k, k×n, m×n");
    assert!(a_zp.len() == 1 || a_zp.len() == m, "a_zp: one zero point or one per row");
    assert!(b_zp.len() == 1 || b_zp.len() == n, "b_zp: one zero point or one per column");
    for i in 0..m {
        let za = zero_point(a_zp, i);
        for j in 0..n {
            let zb = zero_point(b_zp, j);
            let mut acc = 0i32;
            for l in 0..k {
                let x = a[i * k + l].to_i32().wrapping_sub(za);
                let y = b[l * n + j].to_i32().wrapping_sub(zb);
                acc = acc.wrapping_add(x.wrapping_mul(y));
            }
            c[i * n + j] = acc;
        }
    }
}

/// One requantized value, as ONNX Runtime's `MlasRequantizeOutput` computes it: `acc` to f32
/// (round to nearest even past 2^24), times `multiplier` in f32, clamped to
/// `[qmin − zp, qmax − zp]` (NaN gives `qmin − zp`, as SSE's `maxps` does), rounded half to
/// even, plus `zp`.
#[inline]
pub fn requantize_value(acc: i32, multiplier: f32, zp: i32, qmin: i32, qmax: i32) -> i32 {
    let v = acc as f32 * multiplier;
    // f32::max/min return the non-NaN operand, so NaN lands on the lower bound.
    let v = v.max((qmin - zp) as f32).min((qmax - zp) as f32);
    v.round_ties_even() as i32 + zp
}

/// See [`super::requantize_u8`].
pub fn requantize_u8(acc: &[i32], multiplier: &[f32], zero_point: i32, out: &mut [u8]) {
    requantize(acc, multiplier, zero_point, 0, 255, out, |v| v as u8)
}

/// See [`super::requantize_i8`].
pub fn requantize_i8(acc: &[i32], multiplier: &[f32], zero_point: i32, out: &mut [i8]) {
    requantize(acc, multiplier, zero_point, -128, 127, out, |v| v as i8)
}

fn requantize<T>(acc: &[i32], multiplier: &[f32], zp: i32, qmin: i32, qmax: i32, out: &mut [T], cast: impl Fn(i32) -> T) {
    super::check_requantize(acc, multiplier, zp, qmin, qmax, out.len());
    let n = multiplier.len();
    for (idx, (o, &x)) in out.iter_mut().zip(acc).enumerate() {
        *o = cast(requantize_value(x, multiplier[idx % n], zp, qmin, qmax));
    }
}

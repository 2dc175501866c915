//! Scalar reference kernels: the definition the SIMD kernels are tested against.

use super::Int8;

/// C = A · B, summing over l in order for each C[i][j].
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

fn zero_point(zp: &[i32], i: usize) -> i32 {
    if zp.len() == 1 { zp[0] } else { zp[i] }
}

/// See [`super::matmul_integer`].
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

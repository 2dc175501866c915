//! Scalar kernels over the packed layouts, for targets without SIMD128 (native, the scalar wasm
//! build). They do the reference's arithmetic in the reference's order — wrapping i32 for the
//! integer GEMM, `c += a·b` over l in order for f32 — so they equal it bit for bit.

use super::pack::{F32x4, I16x8, PackedF32B, PackedI8B, NR};
use super::{zero_point, Int8};

/// See [`super::matmul_integer_packed`].
pub fn matmul_integer_packed<A: Int8>(m: usize, a: &[A], a_zp: &[i32], b: &PackedI8B, c: &mut [i32]) {
    let (k, n) = (b.k(), b.n());
    let mut row = vec![0i32; k.div_ceil(2) * 2];
    for i in 0..m {
        let za = zero_point(a_zp, i);
        for (r, x) in row.iter_mut().zip(&a[i * k..(i + 1) * k]) {
            *r = x.to_i32() - za;
        }
        for p in 0..n.div_ceil(NR) {
            let mut acc = [0i32; NR];
            for (pair, v) in row.chunks_exact(2).zip(b.panel(p).chunks_exact(2)) {
                for (col, acc) in acc.iter_mut().enumerate() {
                    let y = &v[col / 4].0[(col % 4) * 2..];
                    *acc = acc.wrapping_add(pair[0] * y[0] as i32 + pair[1] * y[1] as i32);
                }
            }
            let cols = NR.min(n - p * NR);
            c[i * n + p * NR..][..cols].copy_from_slice(&acc[..cols]);
        }
    }
}

/// [`super::gemm_f32_packed`] for a mostly-zero A (`sparse.rs`): the same multiply-add.
pub fn gemm_f32_sparse(m: usize, a: &[f32], b: &PackedF32B, c: &mut [f32]) {
    let mac = |mut acc: [f32; NR], x: f32, b: &PackedF32B, p: usize, l: usize| {
        let v = &b.panel(p)[2 * l..2 * l + 2];
        for (col, acc) in acc.iter_mut().enumerate() {
            *acc += x * v[col / 4].0[col % 4];
        }
        acc
    };
    super::sparse::gemm_f32_sparse(m, a, b, c, [0f32; NR], mac, |acc, out| out.copy_from_slice(&acc));
}

/// See [`super::gemm_f32_packed`].
pub fn gemm_f32_packed(m: usize, a: &[f32], b: &PackedF32B, c: &mut [f32]) {
    let (k, n) = (b.k(), b.n());
    for i in 0..m {
        let row = &a[i * k..(i + 1) * k];
        for p in 0..n.div_ceil(NR) {
            let mut acc = [0f32; NR];
            for (&x, v) in row.iter().zip(b.panel(p).chunks_exact(2)) {
                for (col, acc) in acc.iter_mut().enumerate() {
                    *acc += x * v[col / 4].0[col % 4];
                }
            }
            let cols = NR.min(n - p * NR);
            c[i * n + p * NR..][..cols].copy_from_slice(&acc[..cols]);
        }
    }
}

/// Columns of panels `first..first+count` of C (m×n) from A (m×k, as the bits of its f32
/// values: [`super::PackedF32A`]'s portable form) and those panels (`b`: `count` panels of `2·k`
/// vectors, the layout of [`PackedF32B`]); the scalar counterpart of
/// `simd128::gemm_f32_panel_group`, each sum over l in order.
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_f32_panel_group(m: usize, k: usize, a: &[u32], b: &[F32x4], n: usize, first: usize, count: usize, c: &mut [f32]) {
    for i in 0..m {
        let row = &a[i * k..(i + 1) * k];
        for q in 0..count {
            let panel = &b[q * 2 * k..(q + 1) * 2 * k];
            let mut acc = [0f32; NR];
            for (&x, v) in row.iter().zip(panel.chunks_exact(2)) {
                let x = f32::from_bits(x);
                for (col, acc) in acc.iter_mut().enumerate() {
                    *acc += x * v[col / 4].0[col % 4];
                }
            }
            let j0 = (first + q) * NR;
            let cols = NR.min(n - j0);
            c[i * n + j0..][..cols].copy_from_slice(&acc[..cols]);
        }
    }
}

/// Columns of panels `first..first+count` of C (m×n) from the 8-bit A minus its zero points as
/// i16 pairs (`kp` words per row: [`super::PackedI8A`]'s portable form) and those panels (`b`:
/// `count` panels of `2·kp` vectors, the layout of [`PackedI8B`]); the scalar counterpart of
/// `simd128::matmul_integer_panel_group`, wrapping i32 sums.
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_integer_panel_group(m: usize, kp: usize, a: &[u32], b: &[I16x8], n: usize, first: usize, count: usize, c: &mut [i32]) {
    for i in 0..m {
        let row = &a[i * kp..(i + 1) * kp];
        for q in 0..count {
            let panel = &b[q * 2 * kp..(q + 1) * 2 * kp];
            let mut acc = [0i32; NR];
            for (&word, v) in row.iter().zip(panel.chunks_exact(2)) {
                let pair = [word as u16 as i16 as i32, (word >> 16) as u16 as i16 as i32];
                for (col, acc) in acc.iter_mut().enumerate() {
                    let y = &v[col / 4].0[(col % 4) * 2..];
                    *acc = acc.wrapping_add(pair[0] * y[0] as i32 + pair[1] * y[1] as i32);
                }
            }
            let j0 = (first + q) * NR;
            let cols = NR.min(n - j0);
            c[i * n + j0..][..cols].copy_from_slice(&acc[..cols]);
        }
    }
}

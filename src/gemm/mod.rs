//! Matrix multiplication for the model engine: f32 GEMM and 8-bit integer GEMM with zero
//! points (ONNX `MatMulInteger` semantics), each with a scalar reference ([`reference`]) and,
//! on wasm32 with `simd128`, a SIMD128 kernel that tests hold to the reference (bit-exact for
//! the integer GEMM; within a stated tolerance for f32 sums).
//!
//! All matrices are row-major and contiguous: A is m×k, B is k×n, C is m×n.

pub mod reference;

/// An 8-bit integer element: `u8` or `i8`, as MatMulInteger's A and B may be either.
pub trait Int8: Copy + Send + Sync + 'static {
    fn to_i32(self) -> i32;
}

impl Int8 for u8 {
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
}

impl Int8 for i8 {
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
}

/// C = A · B in f32 (C is overwritten).
pub fn gemm_f32(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    reference::gemm_f32(m, k, n, a, b, c)
}

/// C[i][j] = Σ_l (A[i][l] − a_zp[i]) · (B[l][j] − b_zp[j]) with wrapping i32 arithmetic
/// (C is overwritten). `a_zp` holds one zero point for all rows or one per row (length m);
/// `b_zp` one for all columns or one per column (length n), as MatMulInteger allows.
pub fn matmul_integer<A: Int8, B: Int8>(m: usize, k: usize, n: usize, a: &[A], a_zp: &[i32], b: &[B], b_zp: &[i32], c: &mut [i32]) {
    reference::matmul_integer(m, k, n, a, a_zp, b, b_zp, c)
}

//! Prepacked right-hand matrices. Weights are constant, so the engine packs each once, at load
//! time, into the layout the kernels stream: column panels of [`NR`] columns, zero-padded at the
//! right edge (and, for the integer B, at the bottom to an even k).

use super::{zero_point, Int8};

/// Columns per packed panel: two 4-lane vectors, so a kernel row keeps two accumulators.
pub const NR: usize = 8;

/// Eight i16: one 16-byte vector, 16-byte aligned so no vector load straddles a cache line.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
#[repr(C, align(16))]
pub(crate) struct I16x8(pub [i16; 8]);

/// Four f32: one 16-byte vector, 16-byte aligned.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
#[repr(C, align(16))]
pub(crate) struct F32x4(pub [f32; 4]);

/// An 8-bit B (k×n, row-major) with its zero points subtracted, widened to i16 and packed for
/// [`super::matmul_integer_packed`].
///
/// Layout: panel `p` (columns `8p..8p+8`), k-pair `q` (rows `2q`, `2q+1`) is two vectors,
/// `[B'(2q,c), B'(2q+1,c)]` for columns `c = 8p..8p+4`, then for `8p+4..8p+8`, where
/// `B'(l,c) = B[l][c] − b_zp[c]` (0 beyond k or n). One `i32x4.dot_i16x8_s` of such a vector
/// with a broadcast pair `(A'(i,2q), A'(i,2q+1))` adds that k-pair's products to four columns of
/// row `i`. `B'` lies in [−255, 255], so every product and pair sum is exact in i32.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedI8B {
    k: usize,
    n: usize,
    /// Empty in the relaxed-SIMD build, whose kernel reads `relaxed` instead.
    pub(crate) data: Vec<I16x8>,
    /// The relaxed-SIMD kernel's form of B (i8 k-quads, column sums).
    #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd", feature = "relaxed-int8"))]
    pub(crate) relaxed: super::relaxed::RelaxedB,
}

impl PackedI8B {
    /// Packs `b` (k×n, row-major). `b_zp` holds one zero point for all columns or one per
    /// column (length n), each within `B`'s range (u8: 0..=255, i8: −128..=127), as
    /// MatMulInteger's `b_zero_point` tensor of B's type guarantees.
    ///
    /// Panics if `b` is shorter than k×n or `b_zp` has another length or an out-of-range value.
    pub fn new<B: Int8>(k: usize, n: usize, b: &[B], b_zp: &[i32]) -> Self {
        assert!(b.len() >= k * n, "PackedI8B: b is shorter than k×n");
        super::check_zero_points::<B>("b_zp", b_zp, n, "column");
        #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd", feature = "relaxed-int8"))]
        return PackedI8B { k, n, data: Vec::new(), relaxed: super::relaxed::RelaxedB::new(k, n, b, b_zp) };
        #[cfg(not(all(target_arch = "wasm32", target_feature = "relaxed-simd", feature = "relaxed-int8")))]
        PackedI8B { k, n, data: Self::pack_i16(k, n, b, b_zp) }
    }

    /// SIMD128's i16 k-pair layout (see the type's doc).
    #[cfg_attr(all(target_arch = "wasm32", target_feature = "relaxed-simd", feature = "relaxed-int8"), allow(dead_code))]
    fn pack_i16<B: Int8>(k: usize, n: usize, b: &[B], b_zp: &[i32]) -> Vec<I16x8> {
        let kp = k.div_ceil(2);
        let mut data = Vec::with_capacity(n.div_ceil(NR) * kp * 2);
        for j0 in (0..n).step_by(NR) {
            let cols = NR.min(n - j0);
            let zb: [i32; NR] = core::array::from_fn(|c| if c < cols { zero_point(b_zp, j0 + c) } else { 0 });
            for q in 0..kp {
                // Columns c of rows 2q, 2q+1 → i16 slots 2c, 2c+1 (0 past k or n).
                let mut pair = [0i16; 2 * NR];
                for h in 0..2 {
                    if let Some(row) = b.get((2 * q + h) * n + j0..).filter(|_| 2 * q + h < k) {
                        for (c, x) in row[..cols].iter().enumerate() {
                            pair[2 * c + h] = (x.to_i32() - zb[c]) as i16;
                        }
                    }
                }
                data.push(I16x8(pair[..8].try_into().unwrap()));
                data.push(I16x8(pair[8..].try_into().unwrap()));
            }
        }
        data
    }

    /// Rows of B (the shared dimension).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of B (of the output).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Bytes held (for memory reports).
    pub fn size_bytes(&self) -> usize {
        #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd", feature = "relaxed-int8"))]
        return self.relaxed.size_bytes();
        #[allow(unreachable_code)]
        {
            self.data.len() * core::mem::size_of::<I16x8>()
        }
    }

    /// Whether `data` holds the i16 k-pair panels (every build but relaxed-int8's).
    pub(crate) fn has_i16_panels(&self) -> bool {
        cfg!(not(all(target_arch = "wasm32", target_feature = "relaxed-simd", feature = "relaxed-int8")))
    }

    /// The k-pairs of panel `p`: `2·⌈k/2⌉` vectors.
    pub(crate) fn panel(&self, p: usize) -> &[I16x8] {
        let len = self.k.div_ceil(2) * 2;
        &self.data[p * len..(p + 1) * len]
    }
}

/// Bytes of 8-column panel rows (`raw[8·l + j]`, row `l` of the panel, an even number of rows)
/// widened to i16 minus the zero point `zp` in [`PackedI8B`]'s k-pair layout: pair `q` is the
/// vectors `[B'(2q,j), B'(2q+1,j)]` for j < 4, then j ≥ 4. `signed`: the bytes are i8. The
/// scalar form of `simd128::widen_panel`.
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
pub(crate) fn widen_panel(signed: bool, raw: &[u8], zp: i32, out: &mut [I16x8]) {
    let value = |b: u8| if signed { b as i8 as i32 } else { b as i32 } - zp;
    for (rows, pair) in raw.chunks_exact(16).zip(out.chunks_exact_mut(2)) {
        for (j, (lo, hi)) in rows[..8].iter().zip(&rows[8..]).enumerate() {
            pair[j / 4].0[(j % 4) * 2] = value(*lo) as i16;
            pair[j / 4].0[(j % 4) * 2 + 1] = value(*hi) as i16;
        }
    }
}

/// An f32 A (m×k, row-major) packed once for [`super::gemm_f32_panels_packed`]: a
/// convolution's weights, which [`super::gemm_f32_panels`] would pack on every call. With
/// SIMD128 the words are in the micro-kernel's block order (`simd128::pack_a_f32_all`), else A's
/// rows as they are (`new` is in the crate root, which picks the kernels).
#[derive(Clone, Debug, PartialEq)]
pub struct PackedF32A {
    pub(crate) m: usize,
    pub(crate) k: usize,
    pub(crate) data: Vec<u32>,
}

impl PackedF32A {
    /// Rows of A (of the output).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Columns of A (the shared dimension).
    pub fn k(&self) -> usize {
        self.k
    }
}

/// An 8-bit A (m×k, row-major) with its zero points subtracted, packed once for
/// [`super::matmul_integer_panels_packed`] as i16 pairs (`⌈k/2⌉` words per row, an odd k's
/// last paired with 0): with SIMD128 in the micro-kernel's block order
/// (`simd128::pack_a_i8_all`), else row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedI8A {
    pub(crate) m: usize,
    pub(crate) k: usize,
    pub(crate) data: Vec<u32>,
}

impl PackedI8A {
    /// Rows of A (of the output).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Columns of A (the shared dimension).
    pub fn k(&self) -> usize {
        self.k
    }
}

/// An f32 B (k×n, row-major) packed for [`super::gemm_f32_packed`].
///
/// Layout: panel `p` (columns `8p..8p+8`), row `l` is two vectors `B[l][8p..8p+4]`,
/// `B[l][8p+4..8p+8]` (0 beyond n).
#[derive(Clone, Debug, PartialEq)]
pub struct PackedF32B {
    k: usize,
    n: usize,
    pub(crate) data: Vec<F32x4>,
    /// Every element of B is finite: then a zero in A contributes exactly nothing and
    /// `sparse.rs` may skip it.
    pub(crate) finite: bool,
}

impl PackedF32B {
    /// Packs `b` (k×n, row-major). Panics if `b` is shorter than k×n.
    pub fn new(k: usize, n: usize, b: &[f32]) -> Self {
        assert!(b.len() >= k * n, "PackedF32B: b is shorter than k×n");
        let mut data = Vec::with_capacity(n.div_ceil(NR) * k * 2);
        for j0 in (0..n).step_by(NR) {
            let cols = NR.min(n - j0);
            for l in 0..k {
                let mut row = [0f32; NR];
                row[..cols].copy_from_slice(&b[l * n + j0..][..cols]);
                data.push(F32x4(row[..4].try_into().unwrap()));
                data.push(F32x4(row[4..].try_into().unwrap()));
            }
        }
        let finite = b[..k * n].iter().all(|v| v.is_finite());
        PackedF32B { k, n, data, finite }
    }

    /// Rows of B (the shared dimension).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of B (of the output).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Bytes held (for memory reports).
    pub fn size_bytes(&self) -> usize {
        self.data.len() * core::mem::size_of::<F32x4>()
    }

    /// The rows of panel `p`: `2·k` vectors.
    pub(crate) fn panel(&self, p: usize) -> &[F32x4] {
        let len = self.k * 2;
        &self.data[p * len..(p + 1) * len]
    }
}

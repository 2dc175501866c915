//! Relaxed-SIMD integer GEMM (wasm32 built with `+simd128,+relaxed-simd` and the crate's
//! `relaxed-int8` feature only): the same results as `reference::matmul_integer`, bit for bit,
//! from `i32x4.relaxed_dot_i8x16_i7x16_add_s`.
//!
//! Measured in Chromium 156 on a 2-core AVX2 (+AVX-VNNI) machine, fastest of alternating rounds
//! (scripts/bench-relaxed.mjs): 512³ 0.86× SIMD128's i16 kernel, batch-1 MLP layers ≈ 0.5×. Two
//! relaxed dots per 4 bytes of A do 8 useful products per 16-lane instruction, which V8's x86
//! lowering (`pmaddubsw` + `pmaddwd` + add) makes 3 instructions, against `i32x4.dot_i16x8_s` +
//! add's 2 for the same 8. So the page's relaxed build keeps the i16 kernel; this one is for
//! engines that lower the dot to one instruction (ARM `sdot`, VNNI), to measure there.
//!
//! That instruction is deterministic only when its second operand is 7-bit (0..=127): V8 lowers
//! it to `vpdpbusd` on AVX-VNNI and to `pmaddubsw` + `pmaddwd` elsewhere on x86, both of which
//! read that operand as unsigned, and `pmaddubsw` saturates its pair sums (ONNX Runtime's u8s8
//! AVX2 kernel has the same limit: onnxruntime/core/mlas/lib/qgemm_kernel_avx2.cpp, hence its
//! `reduce_range`). So:
//! - every type pair becomes u8 A × i8 B: an i8 A is `a ⊕ 0x80` (= a + 128) with zero point
//!   `za + 128`, a u8 B is `b ⊕ 0x80` (= b − 128) with zero point `zb − 128`;
//! - each A byte is split into two 7-bit operands, `a = lo + 128·hi` (`lo = a & 127`, `hi = a >> 7`),
//!   and B (any i8) is the first operand: two exact dots, `Σ a·b = Σ lo·b + 128·Σ hi·b`;
//! - the zero points come out of the raw sum afterwards: `Σ (a − za)(b − zb) = Σ a·b −
//!   zb·(Σ a − k·za) − za·Σ b`, with the row sums of A taken at packing and B's column sums at
//!   load. Every step is a ring identity modulo 2³², so the wrapping result is the reference's.
//!
//! Layout: B is packed in panels of 8 columns ([`RelaxedB`]); k-quad `q` of a panel is two
//! vectors, 4 bytes `B(4q..4q+4, c)` per column c (lanes of the i32 result). A is packed per
//! call as "rows" `lo_i`, `hi_i` (one word of four bytes per row and k-quad), step-major, so a
//! 4-"row" tile is 2 rows of C × 8 columns in 8 accumulators, as simd128.rs's 4×8 tile is.

// The relaxed intrinsics are stable since Rust 1.82; the workspace's MSRV (1.80) is the plain
// build's, which never compiles this file.
#![allow(clippy::incompatible_msrv)]

use super::{int8_bytes, zero_point, Int8};

/// Columns per panel of [`RelaxedB`]: its own layout (pack.rs holds a `RelaxedB` beside its own
/// panels, so this file takes nothing from it), 8 wide as SIMD128's panels are.
const NR: usize = 8;
use core::arch::wasm32::*;

/// 16 bytes, aligned as a vector.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
#[repr(C, align(16))]
pub(crate) struct Bytes16(pub [u8; 16]);

/// B as i8 (a u8 B shifted by −128) in k-quad panels, its column sums and zero points.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RelaxedB {
    pub(crate) quads: Vec<Bytes16>,
    /// Σ_l B(l, j) per column (0 past n), wrapping.
    col_sums: Vec<i32>,
    /// The zero point of each column in B's i8 form (0 past n).
    zb: Vec<i32>,
}

impl RelaxedB {
    /// Arguments as `PackedI8B::new`, already checked.
    pub(crate) fn new<B: Int8>(k: usize, n: usize, b: &[B], b_zp: &[i32]) -> Self {
        let (kq, panels) = (k.div_ceil(4), n.div_ceil(NR));
        let (flip, shift) = if B::SIGNED { (0, 0) } else { (0x80u8, 128) };
        let bytes = int8_bytes(b);
        let mut col_sums = vec![0i32; panels * NR];
        let zb = (0..panels * NR).map(|j| if j < n { zero_point(b_zp, j) - shift } else { 0 }).collect();
        let mut quads = Vec::with_capacity(panels * kq * 2);
        for j0 in (0..n).step_by(NR) {
            let cols = NR.min(n - j0);
            for q in 0..kq {
                let mut v = [0u8; 2 * 16];
                for c in 0..cols {
                    for h in 0..4.min(k - 4 * q) {
                        let x = bytes[(4 * q + h) * n + j0 + c] ^ flip;
                        v[4 * c + h] = x;
                        col_sums[j0 + c] = col_sums[j0 + c].wrapping_add(x as i8 as i32);
                    }
                }
                quads.push(Bytes16(v[..16].try_into().unwrap()));
                quads.push(Bytes16(v[16..].try_into().unwrap()));
            }
        }
        RelaxedB { quads, col_sums, zb }
    }

    pub(crate) fn size_bytes(&self) -> usize {
        self.quads.len() * 16 + (self.col_sums.len() + self.zb.len()) * 4
    }
}

/// Rows of C per tile: each is two packed rows (lo, hi), so 2 rows keep 8 accumulators.
const ROWS: usize = 2;

/// Rows of A packed at a time (as simd128.rs's MC: the chunk's A stays in L2 while each panel,
/// brought into L1 by its first tile, serves the whole chunk).
const MC: usize = 64;

/// R packed rows (R/2 rows of C) × 8 columns over `steps` k-quads: `a` is `[step][packed row]`
/// words, `b` a panel (two vectors per step).
#[inline(always)]
unsafe fn tile<const R: usize>(steps: usize, mut a: *const u32, mut b: *const v128) -> [[v128; 2]; R] {
    let mut acc = [[u64x2_splat(0); 2]; R];
    for _ in 0..steps {
        let b0 = v128_load(b);
        let b1 = v128_load(b.add(1));
        for (r, acc) in acc.iter_mut().enumerate() {
            // Four 7-bit bytes of A, broadcast: the second (7-bit) operand.
            let s = v128_load32_splat(a.add(r));
            acc[0] = i32x4_relaxed_dot_i8x16_i7x16_add(b0, s, acc[0]);
            acc[1] = i32x4_relaxed_dot_i8x16_i7x16_add(b1, s, acc[1]);
        }
        a = a.add(R);
        b = b.add(2);
    }
    acc
}

/// Writes rows `i0..i0+R/2` of C, columns `j0..j0+cols`, from a tile: `lo + (hi << 7)`, minus
/// the zero-point terms (`u`: each row's `Σ a − k·za`, `za` its zero point).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn store<const R: usize>(
    acc: &[[v128; 2]; R],
    b: &RelaxedB,
    u: &[i32],
    za: &[i32],
    c: &mut [i32],
    n: usize,
    i0: usize,
    j0: usize,
    cols: usize,
) {
    for t in 0..R / 2 {
        let (lo, hi) = (acc[2 * t], acc[2 * t + 1]);
        let mut out = [0i32; NR];
        for h in 0..2 {
            let j = j0 + 4 * h;
            // SAFETY: col_sums and zb hold a whole panel's columns (panels · NR).
            let (cs, zb) =
                unsafe { (v128_load(b.col_sums.as_ptr().add(j) as *const v128), v128_load(b.zb.as_ptr().add(j) as *const v128)) };
            let sum = i32x4_add(lo[h], i32x4_shl(hi[h], 7));
            let v = i32x4_sub(sum, i32x4_add(i32x4_mul(zb, i32x4_splat(u[i0 + t])), i32x4_mul(cs, i32x4_splat(za[i0 + t]))));
            // SAFETY: four writable i32.
            unsafe { v128_store(out.as_mut_ptr().add(4 * h) as *mut v128, v) };
        }
        c[(i0 + t) * n + j0..][..cols].copy_from_slice(&out[..cols]);
    }
}

/// Packs rows `i..i+rows` of A (rows ≤ ROWS) as `out[step·2·rows + 2r]` = lo word,
/// `+ 2r + 1` = hi word, and sets `u[r]` = `Σ a − k·za`, `za[r]` the row's zero point, both in
/// A's u8 form.
#[allow(clippy::too_many_arguments)]
fn pack_a<A: Int8>(a: &[A], k: usize, a_zp: &[i32], i: usize, rows: usize, out: &mut [u32], u: &mut [i32], za: &mut [i32]) {
    let (flip, shift) = if A::SIGNED { (0x80u8, 128) } else { (0, 0) };
    let bytes = int8_bytes(a);
    for r in 0..rows {
        let row = &bytes[(i + r) * k..(i + r + 1) * k];
        let z = zero_point(a_zp, i + r) + shift;
        let mut sum = 0i32;
        for (q, quad) in row.chunks(4).enumerate() {
            let mut w = [0u8; 4]; // past k: 0, which adds nothing to either sum
            for (w, &x) in w.iter_mut().zip(quad) {
                *w = x ^ flip;
                sum = sum.wrapping_add(*w as i32);
            }
            let w = u32::from_le_bytes(w);
            out[q * 2 * rows + 2 * r] = w & 0x7f7f_7f7f;
            out[q * 2 * rows + 2 * r + 1] = (w >> 7) & 0x0101_0101;
        }
        u[r] = sum.wrapping_sub((k as i32).wrapping_mul(z));
        za[r] = z;
    }
}

/// See `super::matmul_integer_packed`; arguments already checked.
pub(crate) fn matmul_integer_packed<A: Int8>(m: usize, a: &[A], a_zp: &[i32], k: usize, n: usize, b: &RelaxedB, c: &mut [i32]) {
    let kq = k.div_ceil(4);
    let panels = n.div_ceil(NR);
    assert!(b.quads.len() == panels * kq * 2 && a.len() >= m * k && c.len() >= m * n);
    let mut ap = vec![0u32; 2 * kq * MC.min(m)];
    let (mut u, mut za) = (vec![0i32; MC.min(m)], vec![0i32; MC.min(m)]);
    for i0 in (0..m).step_by(MC) {
        let rows = MC.min(m - i0);
        for r0 in (0..rows).step_by(ROWS) {
            let t = ROWS.min(rows - r0);
            pack_a(a, k, a_zp, i0 + r0, t, &mut ap[2 * kq * r0..2 * kq * (r0 + t)], &mut u[r0..r0 + t], &mut za[r0..r0 + t]);
        }
        let c = &mut c[i0 * n..];
        for p in 0..panels {
            let (j0, cols) = (p * NR, NR.min(n - p * NR));
            // SAFETY: panel p is 2·kq vectors inside quads; each block r0 holds 2·t·kq words.
            let panel = unsafe { (b.quads.as_ptr() as *const v128).add(p * 2 * kq) };
            for r0 in (0..rows).step_by(ROWS) {
                let block = unsafe { ap.as_ptr().add(2 * kq * r0) };
                if rows - r0 >= ROWS {
                    let acc = unsafe { tile::<{ 2 * ROWS }>(kq, block, panel) };
                    store(&acc, b, &u, &za, c, n, r0, j0, cols);
                } else {
                    let acc = unsafe { tile::<2>(kq, block, panel) };
                    store(&acc, b, &u, &za, c, n, r0, j0, cols);
                }
            }
        }
    }
}

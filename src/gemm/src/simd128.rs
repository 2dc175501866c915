//! SIMD128 kernels (wasm32 with `+simd128` only). Each must equal its scalar reference bit for
//! bit: [`matmul_integer_packed`] ↔ `reference::matmul_integer`, [`gemm_f32_packed`] ↔
//! `reference::gemm_f32`, [`requantize_u8`]/[`requantize_i8`] ↔ `reference::requantize_*`.
//! `src/gemm/tests/gemm.rs` holds them to it in headless Chromium.
//!
//! Design (GotoBLAS-style, sized for V8's 15 allocatable xmm registers):
//! - B is prepacked in panels of 8 columns ([`PackedI8B`], [`PackedF32B`]); A is packed per call
//!   into blocks of up to `MR` = 4 rows, step-major (`[step][row]`), one 32-bit word per row and
//!   step: an i16 pair `(A'(i,2q), A'(i,2q+1))` for the integer kernel (A' = A − zero point), an
//!   f32 for the float one. One pointer then addresses a whole block.
//! - The micro-kernel keeps a 4×8 tile of C in 8 accumulators. Per step it loads the panel's two
//!   vectors, broadcasts each row's word (`v128.load32_splat`) and does one multiply-accumulate
//!   per accumulator ([`Mac`]): 8 acc + 2 B + 4 broadcasts + 1 temporary = 15 registers.
//! - Integer: `i32x4.dot_i16x8_s` of the broadcast pair with the panel vector adds two k's
//!   products to four columns, wrapping as the reference's sum does; A' and B' lie in
//!   [−255, 255], so the i16 operands are exact.
//! - f32: `f32x4.mul` then `f32x4.add` — not a fused multiply-add, which would round once and
//!   break bit-exactness — each C element summed over l in order, as the reference does.
//! - A single row (batch 1, or the last row of a batch) runs against four panels at once
//!   ([`row_tile`]): one broadcast serves eight accumulators instead of two.
//! - A is packed with SIMD too: for a 4-row block, 8 bytes per row widened to i16 minus the
//!   zero point and a 4×4 word transpose (f32: 4 floats per row, same transpose).
//!
//! Measurements behind these choices (Node 20 / V8 11.3, CPU time, fastest of 7; a 3.2 GHz
//! Zen 3 where a register-only `vpmaddwd`+`vpaddd` loop peaks at 81 GOP/s):
//! - 4×8 tile: int8 512³ 64–66 GOP/s, f32 512³ 29–33 GOP/s. A 5×8 tile spills (43 and 18).
//! - Broadcasting A by one `v128.load` + four `i32x4.shuffle`s instead of four
//!   `load32_splat`s: int8 unchanged, f32 10% slower. Kept the loads.
//! - Chunks of 64 rows (each B panel reused from L1 across the chunk) against one 4-row block
//!   over all panels: no measurable difference at k ≤ 784; kept, as they bound the A buffer.
//! - Four-panel single-row kernel: 1×784×100 int8 4.0 → 3.4 µs, f32 10.2 → 7.2 µs.
//! - SIMD A packing instead of a scalar loop: int8 256×784×100 707 → 625 µs, 512³ 66 → 69
//!   GOP/s; the int8 MLP forward at batch 256 868 → 770 µs.
//! - V8 computes each `ptr + C` address with an `lea` (LLVM does not fold constant offsets
//!   into wasm load offsets inside these loops); the loops run ~30 x64 instructions per step
//!   and are front-end bound, at ~80% of the register-only peak.
//!
//! In headless Chromium 156, against onnxruntime-web 1.30 (wasm, one thread) on the same
//! machine and load:
//! MatMulInteger 512³ (B constant) 52–53 GOP/s and MatMul f32 21–23 GOP/s, against 64–71 and
//! 27–37 GOP/s here.

use super::pack::{F32x4, I16x8, PackedF32B, PackedI8B, NR};
use super::{zero_point, Int8};
use core::arch::wasm32::*;

/// Rows per micro-kernel tile.
const MR: usize = 4;

/// Rows of A packed at a time: 64 rows × steps × 4 bytes stays in L2 (128 KB at k = 512 f32)
/// while each 8-column B panel, brought into L1 by the chunk's first block, serves all 16.
const MC: usize = 64;

/// One multiply-accumulate of a broadcast A word with a B vector.
trait Mac {
    fn mac(acc: v128, a: v128, b: v128) -> v128;
}

/// i16 pairs: `acc + dot(a, b)`.
struct DotI16;
impl Mac for DotI16 {
    #[inline(always)]
    fn mac(acc: v128, a: v128, b: v128) -> v128 {
        i32x4_add(acc, i32x4_dot_i16x8(a, b))
    }
}

/// f32: `acc + a·b`, rounded twice. In the relaxed-SIMD build `f32x4.relaxed_madd`, which
/// the engine may fuse (one rounding: V8 emits `vfmadd231ps` where the CPU has FMA3), so
/// results differ from the reference by at most `2·k·ε·Σ_l |a_il·b_lj|` (tested).
struct MulAddF32;
impl Mac for MulAddF32 {
    #[inline(always)]
    fn mac(acc: v128, a: v128, b: v128) -> v128 {
        // Stable since Rust 1.82; the MSRV (1.80) is the plain build's.
        #[cfg(target_feature = "relaxed-simd")]
        #[allow(clippy::incompatible_msrv)]
        return f32x4_relaxed_madd(a, b, acc);
        #[allow(unreachable_code)]
        f32x4_add(acc, f32x4_mul(a, b))
    }
}

/// An R×8 tile over `steps` steps: `a` is a packed A block (`[step][row]` words), `b` a panel
/// (two vectors per step). Both accumulator types start at all-zero bits (0 and +0.0).
#[inline(always)]
unsafe fn tile<M: Mac, const R: usize>(steps: usize, mut a: *const u32, mut b: *const v128) -> [[v128; 2]; R] {
    let mut acc = [[u64x2_splat(0); 2]; R];
    for _ in 0..steps {
        let b0 = v128_load(b);
        let b1 = v128_load(b.add(1));
        for (r, acc) in acc.iter_mut().enumerate() {
            let s = v128_load32_splat(a.add(r));
            acc[0] = M::mac(acc[0], s, b0);
            acc[1] = M::mac(acc[1], s, b1);
        }
        a = a.add(R);
        b = b.add(2);
    }
    acc
}

/// One row of A (`steps` words) against P panels: a 1×8P tile.
#[inline(always)]
unsafe fn row_tile<M: Mac, const P: usize>(steps: usize, mut a: *const u32, mut b: [*const v128; P]) -> [[v128; 2]; P] {
    let mut acc = [[u64x2_splat(0); 2]; P];
    for _ in 0..steps {
        let s = v128_load32_splat(a);
        for (acc, b) in acc.iter_mut().zip(b.iter_mut()) {
            acc[0] = M::mac(acc[0], s, v128_load(*b));
            acc[1] = M::mac(acc[1], s, v128_load(b.add(1)));
            *b = b.add(2);
        }
        a = a.add(1);
    }
    acc
}

/// Writes an R×8 tile to C (4-byte elements, row stride n) at (i0, j0), only the `cols`
/// columns inside C.
#[inline(always)]
fn store_tile<const R: usize>(acc: &[[v128; 2]; R], c: &mut [u32], n: usize, i0: usize, j0: usize, cols: usize) {
    for (r, acc) in acc.iter().enumerate() {
        let row = &mut c[(i0 + r) * n + j0..][..cols];
        let mut tmp = [0u32; NR];
        let dst = if cols == NR { row.as_mut_ptr() } else { tmp.as_mut_ptr() };
        // SAFETY: `dst` is 8 writable u32 (the row when it has 8 columns, else `tmp`).
        unsafe {
            v128_store(dst as *mut v128, acc[0]);
            v128_store(dst.add(4) as *mut v128, acc[1]);
        }
        if cols != NR {
            row.copy_from_slice(&tmp[..cols]);
        }
    }
}

/// B as the kernels see it: panels `first..first+count` of `2·steps` vectors each, from `data`
/// (which holds panel `first` first), of a B with n columns.
#[derive(Clone, Copy)]
struct Panels {
    data: *const v128,
    steps: usize,
    n: usize,
    first: usize,
    count: usize,
}

impl Panels {
    /// All panels of a packed B.
    fn all(data: *const v128, steps: usize, n: usize) -> Panels {
        Panels { data, steps, n, first: 0, count: n.div_ceil(NR) }
    }
    fn end(self) -> usize {
        self.first + self.count
    }
    fn get(self, p: usize) -> *const v128 {
        debug_assert!(p >= self.first && p < self.end());
        // SAFETY: panel p in first..end lies inside the data (count · 2·steps vectors).
        unsafe { self.data.add((p - self.first) * 2 * self.steps) }
    }
}

/// Rows `i0..i0+rows` of C from their packed A blocks (`ap`: blocks of MR rows, then the
/// rest), panel by panel. Not inlined: on its own the function keeps its pointers and counters
/// in registers.
#[inline(never)]
fn chunk<M: Mac>(ap: &[u32], rows: usize, b: Panels, c: &mut [u32], i0: usize) {
    let (steps, n) = (b.steps, b.n);
    assert!(ap.len() == rows * steps && c.len() >= (i0 + rows) * n);
    let full = rows / MR * MR;
    // SAFETY (all kernel calls): block r0 holds R·steps words from ap[r0·steps], and every
    // panel 2·steps vectors, which is all the kernels read.
    let tail = unsafe { ap.as_ptr().add(full * steps) };
    for p in b.first..b.end() {
        let (j0, cols) = (p * NR, NR.min(n - p * NR));
        for r0 in (0..full).step_by(MR) {
            let acc = unsafe { tile::<M, MR>(steps, ap.as_ptr().add(r0 * steps), b.get(p)) };
            store_tile::<MR>(&acc, c, n, i0 + r0, j0, cols);
        }
        match rows - full {
            3 => store_tile::<3>(&unsafe { tile::<M, 3>(steps, tail, b.get(p)) }, c, n, i0 + full, j0, cols),
            2 => store_tile::<2>(&unsafe { tile::<M, 2>(steps, tail, b.get(p)) }, c, n, i0 + full, j0, cols),
            _ => {}
        }
    }
    if rows - full == 1 {
        let mut p = b.first;
        while p + 4 <= b.end() {
            let acc = unsafe { row_tile::<M, 4>(steps, tail, core::array::from_fn(|i| b.get(p + i))) };
            for (i, acc) in acc.iter().enumerate() {
                let j0 = (p + i) * NR;
                store_tile::<1>(&[*acc], c, n, i0 + full, j0, NR.min(n - j0));
            }
            p += 4;
        }
        for p in p..b.end() {
            let acc = unsafe { row_tile::<M, 1>(steps, tail, [b.get(p)]) };
            store_tile::<1>(&acc, c, n, i0 + full, p * NR, NR.min(n - p * NR));
        }
    }
}

/// Packs A in chunks of MC rows and runs [`chunk`] on each. `pack(i, rows, out)` writes the
/// block of rows `i..i+rows` (rows ≤ MR) as `out[step·rows + r]`, `steps` words per row.
fn drive<M: Mac>(m: usize, b: Panels, c: &mut [u32], pack: impl Fn(usize, usize, &mut [u32])) {
    let steps = b.steps;
    let mut ap = vec![0u32; steps * MC.min(m)];
    for i0 in (0..m).step_by(MC) {
        let rows = MC.min(m - i0);
        let full = rows / MR * MR;
        if steps > 0 {
            for r0 in (0..full).step_by(MR) {
                pack(i0 + r0, MR, &mut ap[r0 * steps..(r0 + MR) * steps]);
            }
            if rows > full {
                pack(i0 + full, rows - full, &mut ap[full * steps..rows * steps]);
            }
        }
        chunk::<M>(&ap[..rows * steps], rows, b, c, i0);
    }
}

/// `&mut [T]` of a 4-byte plain type as words.
fn words_mut<T: Copy>(c: &mut [T]) -> &mut [u32] {
    assert!(core::mem::size_of::<T>() == 4);
    // SAFETY: T is i32 or f32 here: same size and alignment as u32, every bit pattern valid.
    unsafe { core::slice::from_raw_parts_mut(c.as_mut_ptr() as *mut u32, c.len()) }
}

/// Four rows of four words each, transposed: out[j] holds word j of rows 0..4.
#[inline(always)]
pub fn transpose4(r: [v128; 4]) -> [v128; 4] {
    let t0 = i32x4_shuffle::<0, 4, 1, 5>(r[0], r[1]);
    let t1 = i32x4_shuffle::<0, 4, 1, 5>(r[2], r[3]);
    let t2 = i32x4_shuffle::<2, 6, 3, 7>(r[0], r[1]);
    let t3 = i32x4_shuffle::<2, 6, 3, 7>(r[2], r[3]);
    [i64x2_shuffle::<0, 2>(t0, t1), i64x2_shuffle::<1, 3>(t0, t1), i64x2_shuffle::<0, 2>(t2, t3), i64x2_shuffle::<1, 3>(t2, t3)]
}

#[inline(always)]
fn store_words(out: &mut [u32], v: v128) {
    let out = &mut out[..4];
    // SAFETY: four writable words.
    unsafe { v128_store(out.as_mut_ptr() as *mut v128, v) }
}

/// Packs rows `i..i+rows` of the 8-bit A into i16-pair words (see [`drive`]). Eight k at a
/// time: 8 bytes per row widened to i16, the row's zero point subtracted, four rows
/// transposed into step-major order; the rest (and blocks of 2–3 rows) one word at a time.
fn pack_a_i8<A: Int8>(a: &[A], k: usize, a_zp: &[i32], i: usize, rows: usize, out: &mut [u32]) {
    // SAFETY: A is u8 or i8 (the trait is sealed): one byte, any bit pattern.
    let bytes = unsafe { core::slice::from_raw_parts(a.as_ptr() as *const u8, a.len()) };
    let widen = |r: usize, l: usize| -> v128 {
        let src = &bytes[(i + r) * k + l..][..8];
        // SAFETY: 8 readable bytes.
        let v = unsafe { v128_load64_zero(src.as_ptr() as *const u64) };
        let w = if A::SIGNED { i16x8_extend_low_i8x16(v) } else { u16x8_extend_low_u8x16(v) };
        // Zero points lie in the type's range, so the difference fits i16.
        i16x8_sub(w, i16x8_splat(zero_point(a_zp, i + r) as i16))
    };
    let groups = if rows == MR || rows == 1 { k / 8 } else { 0 };
    for g in 0..groups {
        if rows == 1 {
            store_words(&mut out[4 * g..], widen(0, 8 * g));
        } else {
            let t = transpose4(core::array::from_fn(|r| widen(r, 8 * g)));
            for (j, v) in t.into_iter().enumerate() {
                store_words(&mut out[(4 * g + j) * MR..], v);
            }
        }
    }
    for r in 0..rows {
        let za = zero_point(a_zp, i + r);
        let row = &a[(i + r) * k..(i + r + 1) * k];
        for q in groups * 4..k.div_ceil(2) {
            let lo = (row[2 * q].to_i32() - za) as u16 as u32;
            let hi = row.get(2 * q + 1).map_or(0, |x| (x.to_i32() - za) as u16 as u32); // odd k: paired with 0
            out[q * rows + r] = lo | hi << 16;
        }
    }
}

/// Packs rows `i..i+rows` of the f32 A (see [`drive`]): four rows four k at a time through a
/// transpose, a single row as a copy, the rest one word at a time.
fn pack_a_f32(a: &[f32], k: usize, i: usize, rows: usize, out: &mut [u32]) {
    let row = |r: usize| &a[(i + r) * k..(i + r + 1) * k];
    let mut done = 0;
    if rows == 1 {
        for (o, x) in out.iter_mut().zip(row(0)) {
            *o = x.to_bits();
        }
        done = k;
    } else if rows == MR {
        for g in 0..k / 4 {
            let t = transpose4(core::array::from_fn(|r| {
                let src = &row(r)[4 * g..][..4];
                // SAFETY: four readable f32.
                unsafe { v128_load(src.as_ptr() as *const v128) }
            }));
            for (j, v) in t.into_iter().enumerate() {
                store_words(&mut out[(4 * g + j) * MR..], v);
            }
        }
        done = k / 4 * 4;
    }
    for r in 0..rows {
        for l in done..k {
            out[l * rows + r] = row(r)[l].to_bits();
        }
    }
}

// ------------------------------------------------------------------------------ entry points

/// See [`super::matmul_integer_packed`]; arguments already checked.
pub fn matmul_integer_packed<A: Int8>(m: usize, a: &[A], a_zp: &[i32], b: &PackedI8B, c: &mut [i32]) {
    let (k, n) = (b.k(), b.n());
    let panels = Panels::all(b.data.as_ptr() as *const v128, k.div_ceil(2), n);
    drive::<DotI16>(m, panels, words_mut(c), |i, rows, out| pack_a_i8(a, k, a_zp, i, rows, out));
}

/// See [`super::gemm_f32_packed`]; arguments already checked.
pub fn gemm_f32_packed(m: usize, a: &[f32], b: &PackedF32B, c: &mut [f32]) {
    let (k, n) = (b.k(), b.n());
    let panels = Panels::all(b.data.as_ptr() as *const v128, k, n);
    if m == 1 {
        // A single row is already in packed order (one word per step): skip the copy.
        // SAFETY: f32 and u32 have the same size and alignment; any bits are a valid u32.
        let row = unsafe { core::slice::from_raw_parts(a.as_ptr() as *const u32, k) };
        return chunk::<MulAddF32>(row, 1, panels, words_mut(c), 0);
    }
    drive::<MulAddF32>(m, panels, words_mut(c), |i, rows, out| pack_a_f32(a, k, i, rows, out));
}

/// [`super::gemm_f32_packed`] for a mostly-zero A (`sparse.rs`), with [`MulAddF32`]'s
/// multiply-add (the relaxed build's too).
pub fn gemm_f32_sparse(m: usize, a: &[f32], b: &PackedF32B, c: &mut [f32]) {
    let mac = |acc: [v128; 2], x: f32, b: &PackedF32B, p: usize, l: usize| {
        let v = &b.panel(p)[2 * l..2 * l + 2];
        let x = f32x4_splat(x);
        // SAFETY: each F32x4 is four f32, 16 readable bytes (v128_load needs no alignment).
        let (lo, hi) = unsafe { (v128_load(v[0].0.as_ptr() as *const v128), v128_load(v[1].0.as_ptr() as *const v128)) };
        [MulAddF32::mac(acc[0], x, lo), MulAddF32::mac(acc[1], x, hi)]
    };
    let store = |acc: [v128; 2], out: &mut [f32]| {
        // SAFETY: `out` is NR = 8 writable f32.
        unsafe {
            v128_store(out.as_mut_ptr() as *mut v128, acc[0]);
            v128_store(out.as_mut_ptr().add(4) as *mut v128, acc[1]);
        }
    };
    super::sparse::gemm_f32_sparse(m, a, b, c, [f32x4_splat(0.0); 2], mac, store);
}

/// All m rows of the f32 A packed as [`chunk`] reads them (blocks of MR rows, then the rest),
/// for [`gemm_f32_panel_group`].
pub(crate) fn pack_a_f32_all(m: usize, k: usize, a: &[f32]) -> Vec<u32> {
    let mut ap = vec![0u32; m * k];
    let full = m / MR * MR;
    if k > 0 {
        for r0 in (0..full).step_by(MR) {
            pack_a_f32(a, k, r0, MR, &mut ap[r0 * k..(r0 + MR) * k]);
        }
        if m > full {
            pack_a_f32(a, k, full, m - full, &mut ap[full * k..m * k]);
        }
    }
    ap
}

/// Columns of panels `first..first+count` of C (m×n) from A packed by [`pack_a_f32_all`] and
/// those panels (`b`: `count` panels of `2·k` vectors, the layout of [`PackedF32B`]), A in
/// chunks of MC rows (a multiple of MR, so each chunk's blocks are the packing's) that each
/// meet all the panels.
pub(crate) fn gemm_f32_panel_group(m: usize, ap: &[u32], b: &[F32x4], n: usize, first: usize, count: usize, c: &mut [f32]) {
    let k = ap.len() / m.max(1);
    assert!(ap.len() == m * k && b.len() >= count * 2 * k && (first + count - 1) * NR < n.max(1));
    let panels = Panels { data: b.as_ptr() as *const v128, steps: k, n, first, count };
    let c = words_mut(c);
    for i0 in (0..m).step_by(MC) {
        let rows = MC.min(m - i0);
        chunk::<MulAddF32>(&ap[i0 * k..(i0 + rows) * k], rows, panels, c, i0);
    }
}

/// All m rows of the 8-bit A packed as [`chunk`] reads them (blocks of MR rows, then the
/// rest), `⌈k/2⌉` words per row, for [`matmul_integer_panel_group`].
pub(crate) fn pack_a_i8_all<A: Int8>(m: usize, k: usize, a: &[A], a_zp: &[i32]) -> Vec<u32> {
    let kp = k.div_ceil(2);
    let mut ap = vec![0u32; m * kp];
    let full = m / MR * MR;
    if kp > 0 {
        for r0 in (0..full).step_by(MR) {
            pack_a_i8(a, k, a_zp, r0, MR, &mut ap[r0 * kp..(r0 + MR) * kp]);
        }
        if m > full {
            pack_a_i8(a, k, a_zp, full, m - full, &mut ap[full * kp..m * kp]);
        }
    }
    ap
}

/// Columns of panels `first..first+count` of C (m×n) from A packed by [`pack_a_i8_all`] (`kp`
/// words per row) and those panels (`b`: `count` panels of `2·kp` vectors, [`PackedI8B`]'s
/// layout), A in chunks of MC rows (a multiple of MR, so each chunk's blocks are the packing's)
/// that each meet all the panels.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_integer_panel_group(
    m: usize,
    kp: usize,
    ap: &[u32],
    b: &[I16x8],
    n: usize,
    first: usize,
    count: usize,
    c: &mut [i32],
) {
    assert!(ap.len() == m * kp && b.len() >= count * 2 * kp && (first + count - 1) * NR < n.max(1));
    let panels = Panels { data: b.as_ptr() as *const v128, steps: kp, n, first, count };
    let c = words_mut(c);
    for i0 in (0..m).step_by(MC) {
        let rows = MC.min(m - i0);
        chunk::<DotI16>(&ap[i0 * kp..(i0 + rows) * kp], rows, panels, c, i0);
    }
}

/// See `pack::widen_panel` (its scalar form, which it equals): per k-pair, 16 bytes (two panel
/// rows) widened to i16, minus the zero point, and interleaved row by row.
pub(crate) fn widen_panel(signed: bool, raw: &[u8], zp: i32, out: &mut [I16x8]) {
    let z = i16x8_splat(zp as i16);
    for (rows, pair) in raw.chunks_exact(16).zip(out.chunks_exact_mut(2)) {
        // SAFETY: 16 readable bytes, two writable 16-byte-aligned vectors.
        unsafe {
            let v = v128_load(rows.as_ptr() as *const v128);
            let (lo, hi) = if signed {
                (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v))
            } else {
                (u16x8_extend_low_u8x16(v), u16x8_extend_high_u8x16(v))
            };
            // Zero points lie in the type's range, so the differences fit i16.
            let (lo, hi) = (i16x8_sub(lo, z), i16x8_sub(hi, z));
            v128_store(pair.as_mut_ptr() as *mut v128, i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(lo, hi));
            v128_store(pair.as_mut_ptr().add(1) as *mut v128, i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(lo, hi));
        }
    }
}

// ------------------------------------------------------------------------------ requantize

/// Four lanes of `reference::requantize_value`, before the zero point is added. `pmax`/`pmin`
/// (`b < a ? b : a` forms) put NaN on the lower bound as `f32::max`/`min` do.
#[inline(always)]
fn requantize4(acc: v128, mult: v128, lo: v128, hi: v128) -> v128 {
    let v = f32x4_mul(f32x4_convert_i32x4(acc), mult);
    let v = f32x4_pmin(hi, f32x4_pmax(lo, v));
    i32x4_trunc_sat_f32x4(f32x4_nearest(v))
}

fn requantize(acc: &[i32], multiplier: &[f32], zp: i32, qmin: i32, qmax: i32, out: &mut [u8], signed: bool) {
    super::check_requantize(acc, multiplier, zp, qmin, qmax, out.len());
    let n = multiplier.len();
    let (lo, hi, z) = (f32x4_splat((qmin - zp) as f32), f32x4_splat((qmax - zp) as f32), i32x4_splat(zp));
    let narrow = |v: [v128; 4]| {
        let w0 = i16x8_narrow_i32x4(v[0], v[1]);
        let w1 = i16x8_narrow_i32x4(v[2], v[3]);
        if signed {
            i8x16_narrow_i16x8(w0, w1)
        } else {
            u8x16_narrow_i16x8(w0, w1)
        }
    };
    // Per tensor: one long row; per column: rows of n.
    let row_len = if n == 1 { acc.len().max(1) } else { n };
    for (row_in, row_out) in acc.chunks(row_len).zip(out.chunks_mut(row_len)) {
        let mut j = 0;
        while j + 16 <= row_in.len() {
            let v: [v128; 4] = core::array::from_fn(|h| {
                let o = j + 4 * h;
                // SAFETY: o + 4 ≤ row length, for the accumulators and (per column) multipliers.
                unsafe {
                    let x = v128_load(row_in.as_ptr().add(o) as *const v128);
                    let m = if n == 1 { f32x4_splat(multiplier[0]) } else { v128_load(multiplier.as_ptr().add(o) as *const v128) };
                    i32x4_add(requantize4(x, m, lo, hi), z)
                }
            });
            // SAFETY: 16 writable bytes at j.
            unsafe { v128_store(row_out.as_mut_ptr().add(j) as *mut v128, narrow(v)) };
            j += 16;
        }
        for (jj, (o, &x)) in row_out[j..row_in.len()].iter_mut().zip(&row_in[j..]).enumerate() {
            let m = multiplier[if n == 1 { 0 } else { j + jj }];
            *o = super::reference::requantize_value(x, m, zp, qmin, qmax) as u8;
        }
    }
}

/// See [`super::requantize_u8`].
pub fn requantize_u8(acc: &[i32], multiplier: &[f32], zero_point: i32, out: &mut [u8]) {
    requantize(acc, multiplier, zero_point, 0, 255, out, false)
}

/// See [`super::requantize_i8`].
pub fn requantize_i8(acc: &[i32], multiplier: &[f32], zero_point: i32, out: &mut [i8]) {
    // SAFETY: i8 and u8 have the same size and alignment; every byte pattern is valid for both.
    let bytes = unsafe { core::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut u8, out.len()) };
    requantize(acc, multiplier, zero_point, -128, 127, bytes, true)
}

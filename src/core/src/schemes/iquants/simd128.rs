//! SIMD128 dequantize of IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S (wasm32 + simd128,
//! `fast-kernels`): the loops of `ggml_dequant::iquants::{iq2_xxs, iq2_xs, iq2_s, iq3_xxs,
//! iq3_s}` (llama.cpp's `dequantize_row_*`), eight values (one IQ2 grid entry, two IQ3 ones) in
//! two f32x4 instead of eight scalar products. Bit for bit the
//! references' values: `db · grid[j] · ±1` in that order (the grid bytes convert exactly; the
//! sign is a product by ±1, as in the C code, not a flipped bit, so a NaN `d` gives the same
//! NaN); `tests/ggml_dequant.rs` holds them to the references on arbitrary bytes.
//!
//! Session 28: the grid types dequantized at 0.6–0.7 GB/s in Node (4M values), far from
//! issue 15's 4 GB/s; IQ1 (a delta added, not a sign) keeps the references.

use crate::ggml_dequant::grids;
use core::arch::wasm32::*;

fn f16_at(b: &[u8], o: usize) -> f32 {
    half::f16::from_le_bytes([b[o], b[o + 1]]).to_f32()
}

/// Eight values `db · grid[j] · (signs bit j ? −1 : 1)` of one grid entry, at `y[..8]`.
#[inline(always)]
fn put8(y: &mut [f32], db: f32, entry: u64, signs: u8) {
    let y = &mut y[..8];
    let g = u16x8_extend_low_u8x16(u64x2_splat(entry));
    let g = [f32x4_convert_i32x4(u32x4_extend_low_u16x8(g)), f32x4_convert_i32x4(u32x4_extend_high_u16x8(g))];
    let s = i32x4_splat(signs as i32);
    let sign = |bits: v128| v128_bitselect(f32x4_splat(-1.0), f32x4_splat(1.0), i32x4_ne(v128_and(s, bits), i32x4_splat(0)));
    let signs = [sign(i32x4(1, 2, 4, 8)), sign(i32x4(16, 32, 64, 128))];
    let d = f32x4_splat(db);
    for k in 0..2 {
        // SAFETY: y holds 8 f32; wasm stores have no alignment requirement.
        unsafe { v128_store(y.as_mut_ptr().add(4 * k) as *mut v128, f32x4_mul(f32x4_mul(d, g[k]), signs[k])) };
    }
}

/// IQ2_XXS blocks (66 bytes, 256 values) → values; `ggml_dequant::iquants::iq2_xxs`'s loop.
pub fn dequantize_iq2_xxs(packed: &[u8], y: &mut [f32]) {
    let (grid, ksigns) = (grids::iq2xxs(), grids::ksigns_iq2xs());
    for (b, y) in packed.chunks_exact(66).zip(y.chunks_exact_mut(256)) {
        let d = f16_at(b, 0);
        for ib32 in 0..8 {
            let o = 2 + 8 * ib32;
            let aux1 = u32::from_le_bytes([b[o + 4], b[o + 5], b[o + 6], b[o + 7]]);
            let db = d * (0.5 + (aux1 >> 28) as f32) * 0.25;
            for l in 0..4 {
                let signs = ksigns[((aux1 >> (7 * l)) & 127) as usize];
                put8(&mut y[32 * ib32 + 8 * l..], db, grid[b[o + l] as usize], signs);
            }
        }
    }
}

/// IQ2_XS blocks (74 bytes) → values; `ggml_dequant::iquants::iq2_xs`'s loop.
pub fn dequantize_iq2_xs(packed: &[u8], y: &mut [f32]) {
    let (grid, ksigns) = (grids::iq2xs(), grids::ksigns_iq2xs());
    for (b, y) in packed.chunks_exact(74).zip(y.chunks_exact_mut(256)) {
        let d = f16_at(b, 0);
        for ib32 in 0..8 {
            let sc = b[66 + ib32];
            let db = [d * (0.5 + (sc & 0xf) as f32) * 0.25, d * (0.5 + (sc >> 4) as f32) * 0.25];
            for l in 0..4 {
                let at = 2 + 2 * (4 * ib32 + l);
                let q = u16::from_le_bytes([b[at], b[at + 1]]);
                put8(&mut y[32 * ib32 + 8 * l..], db[l / 2], grid[(q & 511) as usize], ksigns[(q >> 9) as usize]);
            }
        }
    }
}

/// IQ2_S blocks (82 bytes) → values; `ggml_dequant::iquants::iq2_s`'s loop.
pub fn dequantize_iq2_s(packed: &[u8], y: &mut [f32]) {
    let grid = grids::iq2s();
    for (b, y) in packed.chunks_exact(82).zip(y.chunks_exact_mut(256)) {
        let d = f16_at(b, 0);
        let (qs, signs, qh, scales) = (&b[2..34], &b[34..66], &b[66..74], &b[74..82]);
        for ib32 in 0..8 {
            let db = [d * (0.5 + (scales[ib32] & 0xf) as f32) * 0.25, d * (0.5 + (scales[ib32] >> 4) as f32) * 0.25];
            for l in 0..4 {
                let idx = qs[4 * ib32 + l] as usize | (((qh[ib32] as usize) << (8 - 2 * l)) & 0x300);
                put8(&mut y[32 * ib32 + 8 * l..], db[l / 2], grid[idx], signs[4 * ib32 + l]);
            }
        }
    }
}

/// Two IQ3 grid entries (four values each, in their low four bytes) as one of eight values:
/// `put4(.., signs, 0)` then `put4(.., signs, 4)` of the reference are `put8` of the pair.
#[inline(always)]
fn pair(first: u64, second: u64) -> u64 {
    (first & 0xffff_ffff) | (second << 32)
}

/// IQ3_XXS blocks (98 bytes) → values; `ggml_dequant::iquants::iq3_xxs`'s loop.
pub fn dequantize_iq3_xxs(packed: &[u8], y: &mut [f32]) {
    let (grid, ksigns) = (grids::iq3xxs(), grids::ksigns_iq2xs());
    for (b, y) in packed.chunks_exact(98).zip(y.chunks_exact_mut(256)) {
        let d = f16_at(b, 0);
        let qs = &b[2..66];
        for ib32 in 0..8 {
            let o = 66 + 4 * ib32;
            let aux = u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
            let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
            for l in 0..4 {
                let signs = ksigns[((aux >> (7 * l)) & 127) as usize];
                let q = &qs[8 * ib32 + 2 * l..];
                put8(&mut y[32 * ib32 + 8 * l..], db, pair(grid[q[0] as usize], grid[q[1] as usize]), signs);
            }
        }
    }
}

/// IQ3_S blocks (110 bytes) → values; `ggml_dequant::iquants::iq3_s`'s loop.
pub fn dequantize_iq3_s(packed: &[u8], y: &mut [f32]) {
    let grid = grids::iq3s();
    for (b, y) in packed.chunks_exact(110).zip(y.chunks_exact_mut(256)) {
        let d = f16_at(b, 0);
        let (qs, qh, signs, scales) = (&b[2..66], &b[66..74], &b[74..106], &b[106..110]);
        for ib32 in (0..8).step_by(2) {
            let db = [d * (1 + 2 * (scales[ib32 / 2] & 0xf) as i32) as f32, d * (1 + 2 * (scales[ib32 / 2] >> 4) as i32) as f32];
            for (half, &dl) in db.iter().enumerate() {
                let ib = ib32 + half;
                let (q, h, s) = (&qs[8 * ib..], qh[ib] as usize, &signs[4 * ib..]);
                for l in 0..4 {
                    let i1 = q[2 * l] as usize | ((h << (8 - 2 * l)) & 256);
                    let i2 = q[2 * l + 1] as usize | ((h << (7 - 2 * l)) & 256);
                    put8(&mut y[32 * ib + 8 * l..], dl, pair(grid[i1], grid[i2]), s[l]);
                }
            }
        }
    }
}

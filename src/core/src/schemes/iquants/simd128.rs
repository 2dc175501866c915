//! SIMD128 dequantize of IQ2_XXS, IQ2_XS and IQ2_S (wasm32 + simd128, `fast-kernels`): the
//! loops of `ggml_dequant::iquants::{iq2_xxs, iq2_xs, iq2_s}` (llama.cpp's `dequantize_row_*`),
//! each grid entry's eight values in two f32x4 instead of eight scalar products. Bit for bit the
//! references' values: `db · grid[j] · ±1` in that order (the grid bytes convert exactly; the
//! sign is a product by ±1, as in the C code, not a flipped bit, so a NaN `d` gives the same
//! NaN); `tests/ggml_dequant.rs` holds them to the references on arbitrary bytes.
//!
//! Session 28: the grid types dequantized at 0.6–0.7 GB/s in Node (4M values), far from
//! issue 15's 4 GB/s; IQ3 and IQ1 keep the references.

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

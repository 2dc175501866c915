//! SIMD128 kernels for Q2_0, TQ2_0 and TQ1_0 blocks (wasm32 with `+simd128` and core's
//! `extra-simd` feature only), each bit-identical to the scalar reference it names;
//! src/core/tests/kernels.rs holds them to it in headless Chromium. Behind a feature because
//! they add about 2 KB gzipped to a module, and the workbench has no room (its one-type export
//! and comparisons use the references); the mixer (the GGUF export) and the bench enable it.

use crate::simd128_io::{load16, load4, store16};
use core::arch::wasm32::*;

// TQ2_0, TQ1_0 (`ternary.rs`) and Q2_0 (`binary.rs`) round `x·(1/absmax)` half away from zero.
// Rust's `f32::round` (C's `roundf`) is a libm call in wasm, one per value, which made these
// the slowest of the cheap types (llama.cpp's native `ggml_quantize_chunk` was 4–9× faster in
// one `npm run bench` pack run); here four lanes round with `trunc` and a compare. Blocks whose
// `1/absmax` overflows (every |x| < 2⁻¹²⁸, where the reference's rule for ±Inf/NaN products
// applies) return false and take the reference.

/// `f32::round` (half away from zero) of four finite lanes: `trunc(v)`, plus one step away from
/// zero where the dropped fraction `|v − trunc(v)|` (exact in f32) is at least ½. A lane whose
/// fraction is below ½ adds ±0, which leaves `trunc(v)` as it is (its sign is `v`'s).
#[inline(always)]
fn round_half_away(v: v128) -> v128 {
    let t = f32x4_trunc(v);
    let up = f32x4_ge(f32x4_abs(f32x4_sub(v, t)), f32x4_splat(0.5));
    let step = v128_or(v128_and(up, f32x4_splat(1.0)), v128_and(v, u32x4_splat(0x8000_0000)));
    f32x4_add(t, step)
}

/// The largest |x| (`x.len()` a multiple of 4, finite values): the references' running
/// `amax > a ? amax : a`, in any order, since every |x| is non-negative and their maximum is one
/// value (no ±0 or NaN to tell apart).
#[inline(never)]
fn abs_max(x: &[f32]) -> f32 {
    let m = x.chunks_exact(4).fold(f32x4_splat(0.0), |m, c| f32x4_max(m, f32x4_abs(load4(c))));
    let m = f32x4_max(m, i32x4_shuffle::<2, 3, 0, 1>(m, m));
    let m = f32x4_max(m, i32x4_shuffle::<1, 0, 3, 2>(m, m));
    f32x4_extract_lane::<0>(m)
}

/// `round(x·id) + 1` clamped to `0..=hi` for 16 values (finite products), as bytes. Never
/// inlined: unrolled into every caller's loop, the kernels added about 2.4 KB gzipped to each
/// module that lists the schemes (the workbench has no room); a call per 16 values instead.
#[inline(never)]
fn codes16(x: &[f32], id: v128, hi: i32) -> v128 {
    let q: [v128; 4] = core::array::from_fn(|k| {
        let r = i32x4_trunc_sat_f32x4(round_half_away(f32x4_mul(load4(&x[4 * k..]), id)));
        i32x4_min(i32x4_max(i32x4_add(r, i32x4_splat(1)), i32x4_splat(0)), i32x4_splat(hi))
    });
    u8x16_narrow_i16x8(i16x8_narrow_i32x4(q[0], q[1]), i16x8_narrow_i32x4(q[2], q[3]))
}

/// One trit (0, 1, 2) per value of a 256-value super-block and `d = absmax`:
/// `ternary::quantize_trits`. False when `1/d` overflows.
fn trits(x: &[f32], codes: &mut [u8; 256]) -> Option<f32> {
    let d = abs_max(&x[..256]);
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    if !id.is_finite() {
        return None;
    }
    let idv = f32x4_splat(id);
    for (c, x) in codes.chunks_exact_mut(16).zip(x.chunks_exact(16)) {
        store16(c, codes16(x, idv, 2));
    }
    Some(d)
}

/// TQ2_0, one super-block: `ternary::quantize_trits` then `ternary::pack_tq2_0` (value
/// `128h + 32n + m` at bits `2n..2n+2` of byte `32h + m`). False: take the reference.
pub fn tq2_0_block(x: &[f32], out: &mut [u8]) -> bool {
    let mut codes = [0u8; 256];
    let Some(d) = trits(x, &mut codes) else { return false };
    for h in 0..2 {
        for m in [0, 16] {
            let c = |n: usize| load16(&codes[128 * h + 32 * n + m..]);
            let b = v128_or(v128_or(c(0), i8x16_shl(c(1), 2)), v128_or(i8x16_shl(c(2), 4), i8x16_shl(c(3), 6)));
            store16(&mut out[32 * h + m..], b);
        }
    }
    out[64..66].copy_from_slice(&crate::schemes::kquants::reference::fp32_to_fp16(d).to_le_bytes());
    true
}

/// `⌈v·256/243⌉` for every five-trit number `v` (`ternary::tq1_0_byte`).
const TQ1_0_BYTES: [u8; 243] = {
    let mut t = [0u8; 243];
    let mut v = 0;
    while v < 243 {
        t[v] = (v * 256).div_ceil(243) as u8;
        v += 1;
    }
    t
};

/// TQ1_0, one super-block: `ternary::quantize_trits` then `ternary::pack_tq1_0`. The base-3
/// numbers of bytes 0..48 (trits of values `m + 32n` and `160 + m + 16n`, first most
/// significant) are summed 16 bytes at a time (at most 242: no byte overflows), then scaled to
/// a byte through a table. False: take the reference.
pub fn tq1_0_block(x: &[f32], out: &mut [u8]) -> bool {
    let mut codes = [0u8; 256];
    let Some(d) = trits(x, &mut codes) else { return false };
    let times3 = |v: v128| i8x16_add(i8x16_add(v, v), v);
    let horner = |at: &dyn Fn(usize) -> v128| (1..5).fold(at(0), |v, n| i8x16_add(times3(v), at(n)));
    let mut numbers = [0u8; 52];
    for m in [0, 16] {
        store16(&mut numbers[m..], horner(&|n| load16(&codes[m + 32 * n..])));
    }
    store16(&mut numbers[32..], horner(&|n| load16(&codes[160 + 16 * n..])));
    for m in 0..4 {
        // qh: four trits of values 240 + m + 4n, and a zero fifth.
        numbers[48 + m] = (0..4).fold(0, |v, n| v * 3 + codes[240 + m + 4 * n]) * 3;
    }
    for (o, &v) in out[..52].iter_mut().zip(&numbers) {
        *o = TQ1_0_BYTES[v as usize];
    }
    out[52..54].copy_from_slice(&crate::schemes::kquants::reference::fp32_to_fp16(d).to_le_bytes());
    true
}

/// Q2_0, one block of 64: `binary::quantize_q2_0` then `binary::pack` (four 2-bit codes per
/// byte, lowest bits first). Each u32 lane holds four codes a byte apart; `w | w>>6 | w>>12 |
/// w>>18` brings them to bits 0..8 of the lane, whose low bytes are then gathered. False: take
/// the reference.
pub fn q2_0_block(x: &[f32], out: &mut [u8]) -> bool {
    let d = abs_max(&x[..64]);
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    if !id.is_finite() {
        return false;
    }
    let idv = f32x4_splat(id);
    let packed: [v128; 4] = core::array::from_fn(|k| {
        let w = codes16(&x[16 * k..], idv, 3);
        v128_or(v128_or(w, u32x4_shr(w, 6)), v128_or(u32x4_shr(w, 12), u32x4_shr(w, 18)))
    });
    let lo = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(packed[0], packed[1]);
    let hi = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(packed[2], packed[3]);
    out[..2].copy_from_slice(&crate::schemes::kquants::reference::fp32_to_fp16(d).to_le_bytes());
    store16(&mut out[2..], i8x16_shuffle::<0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23>(lo, hi));
    true
}

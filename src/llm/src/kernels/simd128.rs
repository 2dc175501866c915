//! The SIMD128 kernels: each equals its `reference.rs` definition bit for bit (the f32 lanes add
//! in the same order; integer sums are exact).

use core::arch::wasm32::*;

/// Two f32x4 accumulators are ggml's eight lanes: lanes 0–3 and 4–7.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let chunks = n / 8;
    let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
    for c in 0..chunks {
        // SAFETY: c·8 + 8 ≤ n ≤ both lengths; v128 loads have no alignment requirement.
        let (a0, a1, b0, b1) = unsafe {
            let (pa, pb) = (a.as_ptr().add(c * 8) as *const v128, b.as_ptr().add(c * 8) as *const v128);
            (v128_load(pa), v128_load(pa.add(1)), v128_load(pb), v128_load(pb.add(1)))
        };
        lo = f32x4_add(lo, f32x4_mul(a0, b0));
        hi = f32x4_add(hi, f32x4_mul(a1, b1));
    }
    let mut tail = 0f32;
    for i in chunks * 8..n {
        tail += a[i] * b[i];
    }
    // ((0+4) + (1+5)) + ((2+6) + (3+7)), as the reference adds them.
    let r = f32x4_add(lo, hi);
    ((f32x4_extract_lane::<0>(r) + f32x4_extract_lane::<1>(r)) + (f32x4_extract_lane::<2>(r) + f32x4_extract_lane::<3>(r))) + tail
}

/// Sums of four consecutive products of 16 i8 pairs: [0..4), [4..8), [8..12), [12..16).
#[inline]
fn quads(w: v128, x: v128) -> v128 {
    // i32x4_dot_i16x8 adds adjacent products: pairs (0,1), (2,3), ... of each half.
    let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(w), i16x8_extend_low_i8x16(x));
    let hi = i32x4_dot_i16x8(i16x8_extend_high_i8x16(w), i16x8_extend_high_i8x16(x));
    i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(lo, hi), i32x4_shuffle::<1, 3, 5, 7>(lo, hi))
}

fn lanes(v: v128) -> [i32; 4] {
    [i32x4_extract_lane::<0>(v), i32x4_extract_lane::<1>(v), i32x4_extract_lane::<2>(v), i32x4_extract_lane::<3>(v)]
}

pub fn q8_0_sums(w: &[i8; 32], x: &[i8; 32]) -> [i32; 8] {
    // SAFETY: each block holds 32 i8; two unaligned 16-byte loads read exactly them.
    let (w0, w1, x0, x1) = unsafe {
        let (pw, px) = (w.as_ptr() as *const v128, x.as_ptr() as *const v128);
        (v128_load(pw), v128_load(pw.add(1)), v128_load(px), v128_load(px.add(1)))
    };
    let (a, b) = (lanes(quads(w0, x0)), lanes(quads(w1, x1)));
    [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
}

pub fn q4_0_sums(w: &[u8; 16], x: &[i8; 32]) -> [i32; 8] {
    // SAFETY: 16 bytes of nibbles and 32 i8, read by unaligned 16-byte loads.
    let (qs, x0, x1) = unsafe {
        let px = x.as_ptr() as *const v128;
        (v128_load(w.as_ptr() as *const v128), v128_load(px), v128_load(px.add(1)))
    };
    let eight = i8x16_splat(8);
    let low = i8x16_sub(v128_and(qs, i8x16_splat(0x0f)), eight);
    let high = i8x16_sub(u8x16_shr(qs, 4), eight);
    let (a, b) = (lanes(quads(low, x0)), lanes(quads(high, x1)));
    [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
}

//! The SIMD128 kernel of the k-means schemes' dequantization (wasm32 + simd128, `fast-kernels`):
//! 2- and 4-bit codes looked up in a group's codebook sixteen at a time. Its definition is the
//! module's `centroid(g, read_code(stream, i, bits))`; the codebook holds f32 values already
//! (the stored f16 centroids converted once), so the lookup copies bits and the kernel equals
//! the definition bit for bit (src/core/tests/kmeans_fixtures.rs holds `dequantize` to it at
//! awkward lengths, natively and in Chromium with and without `fast-kernels`).
//!
//! Session 28: `kmeans4` dequantized at 0.96 GB/s and `kmeans4_g128` at 0.87 (Node, 4M values,
//! the word-at-a-time scalar loop); the 3-, 6- and 8-bit codes (fields across bytes, or a
//! codebook of 256) keep that loop.

use core::arch::wasm32::*;

/// The codebook's sixteen f32 entries as four byte planes (plane p: byte p of every entry), for
/// `u8x16_swizzle`; entries past `book.len()` are 0 (a 2-bit code never indexes them).
fn planes(book: &[f32]) -> [v128; 4] {
    let mut t = [0f32; 16];
    t[..book.len().min(16)].copy_from_slice(&book[..book.len().min(16)]);
    // SAFETY: 64 readable bytes; unaligned loads are allowed.
    let t: [v128; 4] = core::array::from_fn(|k| unsafe { v128_load(t.as_ptr().add(4 * k) as *const v128) });
    // Bytes p of entries 0..8 (from t0, t1) and 8..16 (from t2, t3), two planes a shuffle.
    let p01 = |a, b| i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29>(a, b);
    let p23 = |a, b| i8x16_shuffle::<2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31>(a, b);
    let (a01, b01, a23, b23) = (p01(t[0], t[1]), p01(t[2], t[3]), p23(t[0], t[1]), p23(t[2], t[3]));
    [i64x2_shuffle::<0, 2>(a01, b01), i64x2_shuffle::<1, 3>(a01, b01), i64x2_shuffle::<0, 2>(a23, b23), i64x2_shuffle::<1, 3>(a23, b23)]
}

/// Sixteen codes (bytes 0..=15) → their entries, stored at `out`.
///
/// # Safety
/// `out` must be valid for writes of 16 f32.
#[inline(always)]
unsafe fn lookup16(planes: &[v128; 4], idx: v128, out: *mut f32) {
    let p = planes.map(|t| u8x16_swizzle(t, idx));
    // Byte planes → four f32x4 in element order.
    let lo01 = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(p[0], p[1]);
    let hi01 = i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(p[0], p[1]);
    let lo23 = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(p[2], p[3]);
    let hi23 = i8x16_shuffle::<8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31>(p[2], p[3]);
    let o = out as *mut v128;
    // SAFETY: the caller's.
    unsafe {
        v128_store(o, i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(lo01, lo23));
        v128_store(o.add(1), i8x16_shuffle::<8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31>(lo01, lo23));
        v128_store(o.add(2), i8x16_shuffle::<0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23>(hi01, hi23));
        v128_store(o.add(3), i8x16_shuffle::<8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31>(hi01, hi23));
    }
}

/// `book[code]` for the `n` codes of `bits` (2 or 4) bits each at the start of `stream` (least
/// significant bit first), written to `out`.
///
/// # Safety
/// `out` must be valid for writes of `n` f32.
pub unsafe fn decode_group(book: &[f32], bits: u32, stream: &[u8], out: *mut f32, n: usize) {
    assert!(matches!(bits, 2 | 4) && book.len() == 1 << bits && stream.len() * 8 >= n * bits as usize);
    let planes = planes(book);
    let steps = n / 16;
    let p = stream.as_ptr();
    if bits == 4 {
        for j in 0..steps {
            // SAFETY: step j's 16 codes are bytes 8j .. 8j + 8 (asserted in the stream); it
            // writes out[16j .. 16j + 16] (16j + 16 ≤ n).
            unsafe {
                let raw = v128_load64_zero(p.add(8 * j) as *const u64);
                // Code 2i is byte i's low nibble, code 2i + 1 its high one.
                let (lo, hi) = (v128_and(raw, u8x16_splat(0x0f)), u8x16_shr(raw, 4));
                let idx = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(lo, hi);
                lookup16(&planes, idx, out.add(16 * j));
            }
        }
    } else {
        // Lane l takes byte l / 4 shifted right by 2·(l mod 4): the four shifts of every byte,
        // each kept in its lanes.
        let keep = |s: u32| u32x4_splat(0xff << (8 * s));
        for j in 0..steps {
            // SAFETY: step j's codes are bytes 4j .. 4j + 4; it writes out[16j .. 16j + 16].
            unsafe {
                let raw = v128_load32_zero(p.add(4 * j) as *const u32);
                let b = i8x16_shuffle::<0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3>(raw, raw);
                let shifted = v128_or(
                    v128_or(v128_and(b, keep(0)), v128_and(u8x16_shr(b, 2), keep(1))),
                    v128_or(v128_and(u8x16_shr(b, 4), keep(2)), v128_and(u8x16_shr(b, 6), keep(3))),
                );
                lookup16(&planes, v128_and(shifted, u8x16_splat(3)), out.add(16 * j));
            }
        }
    }
    // The tail: codes 16·steps .. n, as the definition reads them.
    for i in 16 * steps..n {
        let code = (0..bits as usize).fold(0, |c, b| {
            let at = i * bits as usize + b;
            c | ((((stream[at / 8] >> (at % 8)) & 1) as usize) << b)
        });
        // SAFETY: i < n.
        unsafe { out.add(i).write(book[code]) };
    }
}

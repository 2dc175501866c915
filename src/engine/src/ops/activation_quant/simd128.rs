//! The SIMD128 kernels of the activation loops (wasm32 + simd128 only), each bit-identical to
//! its reference in reference.rs.

use core::arch::wasm32::*;

/// [`super::reference::range`]: `f32x4_pmin(lo, v)` is `v < lo ? v : lo`, the reference's
/// comparison lane by lane (NaN never replaces), and min/max of non-NaN values do not depend
/// on the order the lanes are combined in.
pub fn range(x: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
    let n4 = x.len() / 4 * 4;
    for c in x[..n4].chunks_exact(4) {
        // SAFETY: a chunk of exactly four f32; unaligned loads are allowed.
        let v = unsafe { v128_load(c.as_ptr() as *const v128) };
        lo = f32x4_pmin(lo, v);
        hi = f32x4_pmax(hi, v);
    }
    let lanes = |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
    let (tail_lo, tail_hi) = super::reference::range(&x[n4..]);
    let lo = lanes(lo).into_iter().fold(tail_lo, |m, v| if v < m { v } else { m });
    let hi = lanes(hi).into_iter().fold(tail_hi, |m, v| if v > m { v } else { m });
    (lo, hi)
}

/// [`super::reference::quantize_u8`], 16 values a step: `f32x4_div`, `f32x4_nearest` (round
/// half to even), `+ zp`, then the clamp as `pmin(255, pmax(0, q))` — in that operand order a
/// NaN lane fails both comparisons and becomes 0, the reference's NaN → 0 — and the integral
/// value in [0, 255] read from the float's bits: `q + 2²³` is exact and holds `q` in its low
/// mantissa byte, and one shuffle takes byte 0 of each lane. (`i32x4_trunc_sat_f32x4` and two
/// narrows had cost more than the division: V8 expands the conversion into about eight x64
/// instructions per vector; the quantization was 15 % of ppocr_cls's int8 run.)
pub fn quantize_u8(x: &[f32], scale: f32, zp: u8, out: &mut [u8]) {
    let n = x.len().min(out.len());
    let (vs, vz, v0, v255, magic) =
        (f32x4_splat(scale), f32x4_splat(zp as f32), f32x4_splat(0.0), f32x4_splat(255.0), f32x4_splat(8_388_608.0));
    let q = |p: *const f32| {
        // SAFETY: callers pass a pointer with four readable f32.
        let v = unsafe { v128_load(p as *const v128) };
        let q = f32x4_add(f32x4_nearest(f32x4_div(v, vs)), vz);
        f32x4_add(f32x4_pmin(v255, f32x4_pmax(v0, q)), magic)
    };
    let n16 = n / 16 * 16;
    for i in (0..n16).step_by(16) {
        let p = x[i..i + 16].as_ptr();
        // SAFETY: i + 16 ≤ n, so all sixteen f32 are in `x` and sixteen bytes in `out`.
        unsafe {
            let lo = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(q(p), q(p.add(4)));
            let hi = i8x16_shuffle::<0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0>(q(p.add(8)), q(p.add(12)));
            v128_store(out[i..i + 16].as_mut_ptr() as *mut v128, i64x2_shuffle::<0, 2>(lo, hi));
        }
    }
    super::reference::quantize_u8(&x[n16..n], scale, zp, &mut out[n16..n]);
}

/// [`super::reference::rescale`]: the same separately rounded `f32x4_mul` and `f32x4_add`,
/// four columns at a time along each row.
pub fn rescale(acc: &[i32], multiplier: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    let n = multiplier.len();
    if n == 0 {
        return;
    }
    let n4 = n / 4 * 4;
    let load = |s: &[f32], j: usize| unsafe { v128_load(s[j..j + 4].as_ptr() as *const v128) };
    for (row, orow) in acc.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        for j in (0..n4).step_by(4) {
            // SAFETY: j + 4 ≤ n4 ≤ n, the length of the row, of `multiplier` and of `bias`.
            let a = f32x4_convert_i32x4(unsafe { v128_load(row[j..j + 4].as_ptr() as *const v128) });
            let mut v = f32x4_mul(a, load(multiplier, j));
            if let Some(b) = bias {
                v = f32x4_add(v, load(b, j));
            }
            unsafe { v128_store(orow[j..j + 4].as_mut_ptr() as *mut v128, v) };
        }
        super::reference::rescale(&row[n4..], &multiplier[n4..], bias.map(|b| &b[n4..]), &mut orow[n4..]);
    }
}

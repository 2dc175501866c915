//! SIMD128 kernels for wasm32 (`+simd128`), each bit-identical to the scalar reference it names.
//!
//! Why identical: the reference computes every output as `(d·sc)·q − dmin·m` (or `(d·sc)·q`)
//! with the per-sub-block factors formed once in scalar f32; the kernels form the same factors
//! the same way, convert the small integer codes to f32 exactly, and do the same one multiply
//! and one subtract per lane (wasm has no implicit FMA). Only NaN payloads may differ, which
//! wasm leaves unspecified anyway. Checked by src/core/tests/kquants_fixtures.rs in headless Chromium.

use crate::simd128_io::load16;
use core::arch::wasm32::*;

use super::reference::{fp16_to_fp32, get_scale_min_k4, nearest_int, Qkx2Params, Qkx2Start, QxStart, QX_CANDIDATES};
use super::QK_K;

/// The 16 unsigned bytes of `v` as four f32x4 (lanes 0–3, 4–7, 8–11, 12–15).
#[inline(always)]
fn u8x16_to_f32(v: v128) -> [v128; 4] {
    let lo = u16x8_extend_low_u8x16(v);
    let hi = u16x8_extend_high_u8x16(v);
    [
        f32x4_convert_i32x4(u32x4_extend_low_u16x8(lo)),
        f32x4_convert_i32x4(u32x4_extend_high_u16x8(lo)),
        f32x4_convert_i32x4(u32x4_extend_low_u16x8(hi)),
        f32x4_convert_i32x4(u32x4_extend_high_u16x8(hi)),
    ]
}

/// The 16 signed bytes of `v` as four f32x4.
#[inline(always)]
fn i8x16_to_f32(v: v128) -> [v128; 4] {
    let lo = i16x8_extend_low_i8x16(v);
    let hi = i16x8_extend_high_i8x16(v);
    [
        f32x4_convert_i32x4(i32x4_extend_low_i16x8(lo)),
        f32x4_convert_i32x4(i32x4_extend_high_i16x8(lo)),
        f32x4_convert_i32x4(i32x4_extend_low_i16x8(hi)),
        f32x4_convert_i32x4(i32x4_extend_high_i16x8(hi)),
    ]
}

/// `y[k] = d·q[k] − m` for 16 values (`m` None: `y[k] = d·q[k]`).
#[inline(always)]
fn store16(y: &mut [f32], q: [v128; 4], d: f32, m: Option<f32>) {
    let y = &mut y[..16];
    let dv = f32x4_splat(d);
    for (k, qk) in q.into_iter().enumerate() {
        let mut v = f32x4_mul(dv, qk);
        if let Some(m) = m {
            v = f32x4_sub(v, f32x4_splat(m));
        }
        // SAFETY: `y` has 16 elements, so lanes 4k..4k+4 are in bounds; v128 stores are unaligned.
        unsafe { v128_store(y.as_mut_ptr().add(4 * k) as *mut v128, v) };
    }
}

/// Q4_K blocks → values; must equal [`super::dequant::dequantize_block_q4_k`] bit for bit.
pub fn dequantize_q4_k(packed: &[u8], y: &mut [f32]) {
    let mask = u8x16_splat(0x0F);
    for (b, y) in packed.chunks_exact(144).zip(y.chunks_exact_mut(QK_K)) {
        let d = fp16_to_fp32(u16::from_le_bytes([b[0], b[1]]));
        let min = fp16_to_fp32(u16::from_le_bytes([b[2], b[3]]));
        let (scales, qs) = (&b[4..16], &b[16..144]);
        for c in 0..4 {
            let (s1, m1) = get_scale_min_k4(2 * c, scales);
            let (s2, m2) = get_scale_min_k4(2 * c + 1, scales);
            let (d1, m1) = (d * s1 as f32, min * m1 as f32);
            let (d2, m2) = (d * s2 as f32, min * m2 as f32);
            let y = &mut y[64 * c..64 * c + 64];
            for h in 0..2 {
                let q = load16(&qs[32 * c + 16 * h..]);
                store16(&mut y[16 * h..], u8x16_to_f32(v128_and(q, mask)), d1, Some(m1));
                store16(&mut y[32 + 16 * h..], u8x16_to_f32(u8x16_shr(q, 4)), d2, Some(m2));
            }
        }
    }
}

/// Q6_K blocks → values; must equal [`super::dequant::dequantize_block_q6_k`] bit for bit.
pub fn dequantize_q6_k(packed: &[u8], y: &mut [f32]) {
    let (m4, m2, bias) = (u8x16_splat(0x0F), u8x16_splat(0x03), i8x16_splat(32));
    for (b, y) in packed.chunks_exact(210).zip(y.chunks_exact_mut(QK_K)) {
        let d = fp16_to_fp32(u16::from_le_bytes([b[208], b[209]]));
        for c in 0..2 {
            let (ql, qh, sc) = (&b[64 * c..64 * c + 64], &b[128 + 32 * c..160 + 32 * c], &b[192 + 8 * c..200 + 8 * c]);
            let y = &mut y[128 * c..128 * c + 128];
            for is in 0..2 {
                let l = 16 * is;
                let (a, bb, h) = (load16(&ql[l..]), load16(&ql[l + 32..]), load16(&qh[l..]));
                let hi = |shift: u32| i8x16_shl(v128_and(u8x16_shr(h, shift), m2), 4);
                let codes = [
                    v128_or(v128_and(a, m4), hi(0)),
                    v128_or(v128_and(bb, m4), hi(2)),
                    v128_or(u8x16_shr(a, 4), hi(4)),
                    v128_or(u8x16_shr(bb, 4), hi(6)),
                ];
                for (g, q) in codes.into_iter().enumerate() {
                    let dsc = d * sc[is + 2 * g] as i8 as f32;
                    store16(&mut y[32 * g + l..], i8x16_to_f32(i8x16_sub(q, bias)), dsc, None);
                }
            }
        }
    }
}

/// Q2_K blocks → values (`fast-kernels`); must equal [`super::dequant::dequantize_block_q2_k`]
/// bit for bit: 16 two-bit codes a step (one shift of a 16-byte load), `dl·q − ml` with the
/// reference's scalar `dl`, `ml`.
#[cfg(feature = "fast-kernels")]
pub fn dequantize_q2_k(packed: &[u8], y: &mut [f32]) {
    let m2 = u8x16_splat(3);
    for (b, y) in packed.chunks_exact(84).zip(y.chunks_exact_mut(QK_K)) {
        let (d, min) = (fp16_to_fp32(u16::from_le_bytes([b[80], b[81]])), fp16_to_fp32(u16::from_le_bytes([b[82], b[83]])));
        for n in 0..2 {
            for half in 0..2 {
                let q = load16(&b[16 + 32 * n + 16 * half..]);
                for j in 0..4 {
                    let sc = b[8 * n + 2 * j + half];
                    let (dl, ml) = (d * (sc & 0xF) as f32, min * (sc >> 4) as f32);
                    let codes = v128_and(u8x16_shr(q, 2 * j as u32), m2);
                    store16(&mut y[128 * n + 32 * j + 16 * half..], u8x16_to_f32(codes), dl, Some(ml));
                }
            }
        }
    }
}

/// Q3_K blocks → values (`fast-kernels`); must equal [`super::dequant::dequantize_block_q3_k`]
/// bit for bit: the two low bits as in Q2_K, minus 4 where the block's hmask bit is clear (an
/// i8 in −4..=3), times the reference's scalar `dl`.
#[cfg(feature = "fast-kernels")]
pub fn dequantize_q3_k(packed: &[u8], y: &mut [f32]) {
    let (m2, four) = (u8x16_splat(3), u8x16_splat(4));
    for (b, y) in packed.chunks_exact(110).zip(y.chunks_exact_mut(QK_K)) {
        let d_all = fp16_to_fp32(u16::from_le_bytes([b[108], b[109]]));
        let scales = &b[96..108];
        for n in 0..2 {
            for half in 0..2 {
                let (q, hm) = (load16(&b[32 + 32 * n + 16 * half..]), load16(&b[16 * half..]));
                for j in 0..4 {
                    let dl = d_all * super::reference::q3_scale(scales, 8 * n + 2 * j + half) as f32;
                    let bit = u8x16_splat(1 << (4 * n + j));
                    let minus = v128_and(i8x16_eq(v128_and(hm, bit), u8x16_splat(0)), four);
                    let codes = i8x16_sub(v128_and(u8x16_shr(q, 2 * j as u32), m2), minus);
                    store16(&mut y[128 * n + 32 * j + 16 * half..], i8x16_to_f32(codes), dl, None);
                }
            }
        }
    }
}

/// Q5_K blocks → values (`fast-kernels`); must equal [`super::dequant::dequantize_block_q5_k`]
/// bit for bit: Q4_K's nibbles plus 16 where the block's qh bit is set.
#[cfg(feature = "fast-kernels")]
pub fn dequantize_q5_k(packed: &[u8], y: &mut [f32]) {
    let (mask, sixteen) = (u8x16_splat(0x0F), u8x16_splat(16));
    let high = |qh: v128, bit: u8| v128_and(v128_not(i8x16_eq(v128_and(qh, u8x16_splat(bit)), u8x16_splat(0))), sixteen);
    for (b, y) in packed.chunks_exact(176).zip(y.chunks_exact_mut(QK_K)) {
        let d = fp16_to_fp32(u16::from_le_bytes([b[0], b[1]]));
        let min = fp16_to_fp32(u16::from_le_bytes([b[2], b[3]]));
        let (scales, qh, ql) = (&b[4..16], &b[16..48], &b[48..176]);
        for c in 0..4 {
            let (s1, m1) = get_scale_min_k4(2 * c, scales);
            let (s2, m2) = get_scale_min_k4(2 * c + 1, scales);
            let (d1, m1) = (d * s1 as f32, min * m1 as f32);
            let (d2, m2) = (d * s2 as f32, min * m2 as f32);
            let y = &mut y[64 * c..64 * c + 64];
            for h in 0..2 {
                let (q, hb) = (load16(&ql[32 * c + 16 * h..]), load16(&qh[16 * h..]));
                let lo = v128_or(v128_and(q, mask), high(hb, 1 << (2 * c)));
                let hi = v128_or(u8x16_shr(q, 4), high(hb, 2 << (2 * c)));
                store16(&mut y[16 * h..], u8x16_to_f32(lo), d1, Some(m1));
                store16(&mut y[32 + 16 * h..], u8x16_to_f32(hi), d2, Some(m2));
            }
        }
    }
}

// ----------------------------------------------------------------------- quantize: the search

/// `reference::qkx2_search` four candidates at a time: lane `c` of a pass runs candidate
/// `next + c` through the reference's loop over the values — the same f32 operations in the same
/// order (`nearest_int`'s magic-number add, `(w·l)·l`, `(w·l)·x`, then `(scale·l + min) − x`),
/// so each lane's sums, fit and error are the reference's bit for bit. The reference moves its
/// `min` to each better fit and the next candidates start from it, so the lanes are speculative:
/// they are compared in candidate order, and at the first that improves, the ones after it are
/// dropped and the next pass starts right after it with the new `min`. Improvements are few
/// (a handful in 16 or 21 candidates), so most lanes count. Up to 32 values, as ggml's callers.
pub fn qkx2_search(start: Qkx2Start, p: Qkx2Params, x: &[f32], weights: &[f32], l_out: &mut [u8]) -> (f32, f32) {
    let Qkx2Params { nmax, rmin, rdelta, nstep, use_mad } = p;
    let Qkx2Start { mut min, max, sum_w, sum_x, mut scale, mut best_error } = start;
    let n = x.len();
    assert!(n <= 32 && weights.len() >= n && l_out.len() >= n);
    let nmaxf = nmax as f32;
    let (magic, mantissa, bias) = (f32x4_splat(12582912.0), i32x4_splat(0x007f_ffff), i32x4_splat(0x0040_0000));
    let (zero, top) = (i32x4_splat(0), i32x4_splat(nmax));
    let mut codes = [i32x4_splat(0); 32];
    let mut first = 0;
    while first <= nstep {
        let iscale: [f32; 4] = core::array::from_fn(|c| (rmin + rdelta * (first + c as i32) as f32 + nmaxf) / (max - min));
        let iscale = f32x4(iscale[0], iscale[1], iscale[2], iscale[3]);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0));
        for i in 0..n {
            // nearest_int(iscale · (x − min)), clamped to [0, nmax].
            let v = f32x4_add(f32x4_mul(iscale, f32x4_splat(x[i] - min)), magic);
            let l = i32x4_min(i32x4_max(i32x4_sub(v128_and(v, mantissa), bias), zero), top);
            codes[i] = l;
            let (w, lf) = (f32x4_splat(weights[i]), f32x4_convert_i32x4(l));
            let wl = f32x4_mul(w, lf);
            sum_l = f32x4_add(sum_l, wl);
            sum_l2 = f32x4_add(sum_l2, f32x4_mul(wl, lf));
            sum_xl = f32x4_add(sum_xl, f32x4_mul(wl, f32x4_splat(x[i])));
        }
        // Each lane's fit, in scalar f32 as the reference forms it.
        let lanes =
            |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
        let (sl, sl2, sxl) = (lanes(sum_l), lanes(sum_l2), lanes(sum_xl));
        let mut fit = [(0.0f32, 0.0f32); 4];
        let mut usable = [false; 4];
        for c in 0..4 {
            let d = sum_w * sl2[c] - sl[c] * sl[c];
            if first + (c as i32) <= nstep && d > 0.0 {
                let mut this_scale = (sum_w * sxl[c] - sum_x * sl[c]) / d;
                let mut this_min = (sl2[c] * sum_x - sl[c] * sxl[c]) / d;
                if this_min > 0.0 {
                    this_min = 0.0;
                    this_scale = sxl[c] / sl2[c];
                }
                fit[c] = (this_scale, this_min);
                usable[c] = true;
            }
        }
        let this_scale = f32x4(fit[0].0, fit[1].0, fit[2].0, fit[3].0);
        let this_min = f32x4(fit[0].1, fit[1].1, fit[2].1, fit[3].1);
        let mut cur_error = f32x4_splat(0.0);
        for i in 0..n {
            let diff = f32x4_sub(f32x4_add(f32x4_mul(this_scale, f32x4_convert_i32x4(codes[i])), this_min), f32x4_splat(x[i]));
            let diff = if use_mad { f32x4_abs(diff) } else { f32x4_mul(diff, diff) };
            cur_error = f32x4_add(cur_error, f32x4_mul(f32x4_splat(weights[i]), diff));
        }
        let errors = lanes(cur_error);
        let mut next = first + 4;
        for c in 0..4 {
            if usable[c] && errors[c] < best_error {
                for (i, l) in l_out[..n].iter_mut().enumerate() {
                    *l = lane_i32(codes[i], c) as u8;
                }
                best_error = errors[c];
                scale = fit[c].0;
                min = fit[c].1;
                // The later lanes started from the old min.
                next = first + c as i32 + 1;
                break;
            }
        }
        first = next;
    }
    (scale, -min)
}

#[inline(always)]
fn lane_i32(v: v128, c: usize) -> i32 {
    match c {
        0 => i32x4_extract_lane::<0>(v),
        1 => i32x4_extract_lane::<1>(v),
        2 => i32x4_extract_lane::<2>(v),
        _ => i32x4_extract_lane::<3>(v),
    }
}

/// `reference::qx_search` four candidates at a time. Its candidates are independent (each
/// scale comes from `is` and `max` alone), so all lanes count: lane `c` runs one candidate's
/// loop over the values with the reference's operations in its order (`((w·v)·l)`,
/// `((w·l)·l)`), and the scores are then compared in candidate order as the reference does,
/// each better one raising the bar for the next. Up to 32 values.
pub fn qx_search(start: QxStart, nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let QxStart { max, mut scale, mut best } = start;
    let n = x.len();
    assert!(n <= 32 && l_out.len() >= n);
    let (magic, mantissa, bias) = (f32x4_splat(12582912.0), i32x4_splat(0x007f_ffff), i32x4_splat(0x0040_0000));
    let (low, high) = (i32x4_splat(-nmax), i32x4_splat(nmax - 1));
    let lanes = |v: v128| [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v), f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
    for group in QX_CANDIDATES.chunks(4) {
        let iscale: [f32; 4] = core::array::from_fn(|c| -(nmax as f32 + 0.1f32 * *group.get(c).unwrap_or(&0) as f32) / max);
        let iv = f32x4(iscale[0], iscale[1], iscale[2], iscale[3]);
        let (mut sumlx, mut suml2) = (f32x4_splat(0.0), f32x4_splat(0.0));
        for &v in &x[..n] {
            // nearest_int(iscale · v), clamped to [−nmax, nmax − 1].
            let rounded = f32x4_add(f32x4_mul(iv, f32x4_splat(v)), magic);
            let l = i32x4_min(i32x4_max(i32x4_sub(v128_and(rounded, mantissa), bias), low), high);
            let lf = f32x4_convert_i32x4(l);
            let w = v * v;
            sumlx = f32x4_add(sumlx, f32x4_mul(f32x4_splat(w * v), lf));
            suml2 = f32x4_add(suml2, f32x4_mul(f32x4_mul(f32x4_splat(w), lf), lf));
        }
        let (sx, s2) = (lanes(sumlx), lanes(suml2));
        for c in 0..group.len() {
            if s2[c] > 0.0 && sx[c] * sx[c] > best * s2[c] {
                for (l, &v) in l_out[..n].iter_mut().zip(x) {
                    *l = (nmax + nearest_int(iscale[c] * v).clamp(-nmax, nmax - 1)) as i8;
                }
                scale = sx[c] / s2[c];
                best = scale * sx[c];
            }
        }
    }
    scale
}

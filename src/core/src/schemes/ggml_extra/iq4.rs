//! IQ4_NL and IQ4_XS: a port of `quantize_row_iq4_nl_impl` and its helper `best_index_int8`
//! (`ggml/src/ggml-quants.c`), as `ggml_quantize_chunk` calls them — through `quantize_iq4_nl` /
//! `quantize_iq4_xs` with `ntry = 7` (15 trial scales per block of 32). Note that
//! `quantize_row_iq4_nl_ref` passes `ntry = -1` and so gives other bytes; `llama-quantize` and the
//! fixtures use the former. Every float expression keeps C's operand order in f32 (C's
//! `w*q*xb[j]` is `(w*q)*xb[j]`), so the packed bytes are ggml's.
//!
//! Layouts (`ggml/src/ggml-common.h`):
//! * `block_iq4_nl` (18 bytes, 32 values): f16 `d`, `qs[16]`: element `j < 16` is the low nibble
//!   of `qs[j]`, element `j + 16` the high nibble; the nibble indexes `kvalues_iq4nl`.
//! * `block_iq4_xs` (136 bytes, 256 values): f16 `d`, u16 `scales_h` (2 high bits of each of 8
//!   block scales), `scales_l[4]` (4 low bits each), `qs[128]` (8 blocks of 32 as in IQ4_NL); a
//!   block decodes as `d·(ls − 32)·kvalues_iq4nl[q]` with the 6-bit `ls`.

use crate::schemes::kquants::reference::{fp32_to_fp16, nearest_int};

/// `kvalues_iq4nl` (`ggml/src/ggml-common.h`): the 16 non-linear levels, in ascending order.
pub const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// ggml's `GROUP_MAX_EPS`: a block whose largest |x| is below this gets scale 0.
const GROUP_MAX_EPS: f32 = 1e-15;
/// `ntry` as `quantize_iq4_nl` / `quantize_iq4_xs` pass it.
const NTRY: i32 = 7;
/// The block each scale covers (`block_size` in the C).
pub const BLOCK: usize = 32;

/// `best_index_int8(16, kvalues_iq4nl, x)`: the index of the nearest level (binary search; a
/// tie goes to the upper level). NaN falls through to 15, as in C.
#[inline]
pub fn best_index_int8(values: &[i8; 16], x: f32) -> u8 {
    if x <= values[0] as f32 {
        return 0;
    }
    if x >= values[15] as f32 {
        return 15;
    }
    let (mut ml, mut mu) = (0usize, 15usize);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < values[mav] as f32 {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - (values[mu - 1] as f32) < values[mu] as f32 - x {
        (mu - 1) as u8
    } else {
        mu as u8
    }
}

/// `quantize_row_iq4_nl_impl(super_block_size = x.len(), block_size = 32, ..., ntry = 7)` for one
/// super-block of finite values: 32 (IQ4_NL) or 256 (IQ4_XS). `importance` is the imatrix slice
/// for these columns (`quant_weights + super_block_size*ibl` in C). Returns the f16 `d`, the
/// packed IQ4_XS scales (`scales_h`, `scales_l`; zero for IQ4_NL) and one level index per value.
pub fn quantize_super_block(x: &[f32], importance: Option<&[f32]>, codes: &mut [u8]) -> (u16, u16, [u8; 4]) {
    let n = x.len();
    debug_assert!((n == 32 || n == 256) && codes.len() == n && importance.map_or(true, |w| w.len() == n));
    let values = &KVALUES_IQ4NL;
    let mut sigma2 = 0.0f32;
    for &v in x {
        sigma2 += v * v;
    }
    sigma2 *= 2.0f32 / n as f32;

    let mut scales = [0.0f32; 8];
    let mut weight = [0.0f32; BLOCK];
    let (mut max_scale, mut amax_scale) = (0.0f32, 0.0f32);
    for ib in 0..n / BLOCK {
        let xb = &x[ib * BLOCK..][..BLOCK];
        let lb = &mut codes[ib * BLOCK..][..BLOCK];
        match importance {
            Some(qw) => {
                let qw = &qw[ib * BLOCK..][..BLOCK];
                for j in 0..BLOCK {
                    weight[j] = qw[j] * (sigma2 + xb[j] * xb[j]).sqrt();
                }
            }
            None => {
                for j in 0..BLOCK {
                    weight[j] = xb[j] * xb[j];
                }
            }
        }
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in xb {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax < GROUP_MAX_EPS {
            scales[ib] = 0.0;
            continue;
        }
        // ntry > 0: d = -max/values[0].
        let mut d = -max / values[0] as f32;
        let id = 1.0f32 / d;
        let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
        for j in 0..BLOCK {
            let l = best_index_int8(values, id * xb[j]);
            lb[j] = l;
            let q = values[l as usize] as f32;
            let w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
        let best = d * sumqx;
        d = scale_search(xb, &weight, max, d, best);
        scales[ib] = d;
        let abs_d = d.abs();
        if abs_d > amax_scale {
            amax_scale = abs_d;
            max_scale = d;
        }
    }

    if n > BLOCK {
        // IQ4_XS: the 8 block scales as 6-bit integers times one f16 d.
        let (mut scales_h, mut scales_l) = (0u16, [0u8; 4]);
        let d = -max_scale / 32.0;
        let dh = fp32_to_fp16(d);
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for ib in 0..n / BLOCK {
            let mut l = nearest_int(id * scales[ib]).clamp(-32, 31);
            let dl = d * l as f32;
            let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
            let xb = &x[ib * BLOCK..][..BLOCK];
            for (c, &v) in codes[ib * BLOCK..][..BLOCK].iter_mut().zip(xb) {
                *c = best_index_int8(values, idl * v);
            }
            l += 32;
            let (l_l, l_h) = ((l & 0xf) as u8, (l >> 4) as u16);
            if ib % 2 == 0 {
                scales_l[ib / 2] = l_l;
            } else {
                scales_l[ib / 2] |= l_l << 4;
            }
            scales_h |= l_h << (2 * (ib % 8));
        }
        (dh, scales_h, scales_l)
    } else {
        // IQ4_NL (ntry > 0): the codes are recomputed from the chosen scale.
        let dh = fp32_to_fp16(scales[0]);
        let id = if scales[0] != 0.0 { 1.0 / scales[0] } else { 0.0 };
        for (c, &v) in codes.iter_mut().zip(x) {
            *c = best_index_int8(values, id * v);
        }
        (dh, 0, [0; 4])
    }
}

/// The trial scales `id = (itry + values[0]) / max`, `itry` = −7..=7, in C's order.
pub fn trial_inverse_scales(max: f32) -> [f32; 2 * NTRY as usize + 1] {
    core::array::from_fn(|k| (k as i32 - NTRY + KVALUES_IQ4NL[0] as i32) as f32 / max)
}

/// The trial-scale search of `quantize_row_iq4_nl_impl` for one block of 32: each trial's sums
/// (`(w·q)·x`, `(w·q)·q`) and, in trial order, the best fit by `sumqx²/sumq2` from `(d, best)`.
/// The one place its kernel is chosen: four trials per pass in SIMD128 (`simd128.rs`).
pub fn scale_search(xb: &[f32], weight: &[f32; BLOCK], max: f32, d: f32, best: f32) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return super::simd128::iq4_scale_search(
        xb.try_into().expect("blocks of 32"),
        weight,
        &KVALUES_IQ4NL,
        &trial_inverse_scales(max),
        d,
        best,
    );
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    scale_search_reference(xb, weight, max, d, best)
}

/// [`scale_search`]'s scalar reference, trial by trial as the C loop.
pub fn scale_search_reference(xb: &[f32], weight: &[f32; BLOCK], max: f32, mut d: f32, mut best: f32) -> f32 {
    let values = &KVALUES_IQ4NL;
    for id in trial_inverse_scales(max) {
        let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
        for j in 0..BLOCK {
            let l = best_index_int8(values, id * xb[j]);
            let q = values[l as usize] as f32;
            let w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    d
}

/// Where element `i` of a block lives in `qs`: (byte, shift).
#[inline]
pub fn nibble_at(i: usize) -> (usize, u32) {
    (16 * (i / 32) + i % 16, if i % 32 < 16 { 0 } else { 4 })
}

/// Writes one block: `block_iq4_nl` for 32 codes, `block_iq4_xs` for 256.
pub fn pack(dh: u16, scales_h: u16, scales_l: [u8; 4], codes: &[u8], out: &mut [u8]) {
    out[..2].copy_from_slice(&dh.to_le_bytes());
    let qs = if codes.len() == 32 {
        &mut out[2..18]
    } else {
        out[2..4].copy_from_slice(&scales_h.to_le_bytes());
        out[4..8].copy_from_slice(&scales_l);
        &mut out[8..136]
    };
    qs.fill(0);
    for (i, &c) in codes.iter().enumerate() {
        let (at, shift) = nibble_at(i);
        qs[at] |= c << shift;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_index_picks_the_nearest_level_and_the_upper_one_on_ties() {
        assert_eq!(best_index_int8(&KVALUES_IQ4NL, -1000.0), 0);
        assert_eq!(best_index_int8(&KVALUES_IQ4NL, 1000.0), 15);
        assert_eq!(best_index_int8(&KVALUES_IQ4NL, 0.0), 8, "0 is nearer 1 than −10");
        assert_eq!(best_index_int8(&KVALUES_IQ4NL, 7.0), 9, "7 ties between 1 and 13: upper");
        assert_eq!(best_index_int8(&KVALUES_IQ4NL, 6.9), 8);
        assert_eq!(best_index_int8(&KVALUES_IQ4NL, f32::NAN), 15);
        for (i, &v) in KVALUES_IQ4NL.iter().enumerate() {
            assert_eq!(best_index_int8(&KVALUES_IQ4NL, v as f32) as usize, i);
        }
    }

    #[test]
    fn nibbles_follow_block_iq4_nl() {
        assert_eq!(nibble_at(0), (0, 0));
        assert_eq!(nibble_at(16), (0, 4));
        assert_eq!(nibble_at(31), (15, 4));
        assert_eq!(nibble_at(32), (16, 0));
        assert_eq!(nibble_at(255), (127, 4));
    }
}

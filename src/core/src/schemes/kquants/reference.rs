//! Scalar reference quantizers: a line-by-line port of llama.cpp's `quantize_row_q{2,3,4,5,6}_K_ref`
//! and their helpers (`nearest_int`, `make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`) from
//! `ggml/src/ggml-quants.c`. Every float expression keeps C's operand order and f32 precision
//! (C evaluates `w*x[i]*l` as `(w*x[i])*(float)l`), so the packed bytes are identical to ggml's.
//! Inputs here are already finite (the caller replaces NaN/±Inf by 0).
//!
//! Each function fills one super-block in ggml's `block_qN_K` layout (`ggml/src/ggml-common.h`).

use super::QK_K;

/// ggml's `GROUP_MAX_EPS`: a group whose largest |x| is below this is "all zero".
pub const GROUP_MAX_EPS: f32 = 1e-15;

/// `nearest_int`: round to nearest (ties to even) through the 1.5·2²³ magic-number trick. ggml
/// asserts |x| ≤ 4194303 in debug builds only; beyond that the trick gives garbage, and so must we.
#[inline(always)]
pub fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12582912.0f32;
    (val.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// ggml's `ggml_compute_fp32_to_fp16` (the FP16 library's branch-free conversion): round to
/// nearest even, NaN → 0x7E00 with the sign kept. Written out so NaN bits match too.
pub fn fp32_to_fp16(f: f32) -> u16 {
    let scale_to_inf = f32::from_bits(0x7780_0000); // 2^112
    let scale_to_zero = f32::from_bits(0x0880_0000); // 2^-110
    let mut base = (f.abs() * scale_to_inf) * scale_to_zero;
    let w = f.to_bits();
    let shl1_w = w.wrapping_add(w);
    let sign = w & 0x8000_0000;
    let mut bias = shl1_w & 0xFF00_0000;
    if bias < 0x7100_0000 {
        bias = 0x7100_0000;
    }
    base += f32::from_bits((bias >> 1) + 0x0780_0000); // IEEE addition commutes: same bits as C
    let bits = base.to_bits();
    let exp_bits = (bits >> 13) & 0x0000_7C00;
    let mantissa_bits = bits & 0x0000_0FFF;
    let nonsign = exp_bits + mantissa_bits;
    ((sign >> 16) | if shl1_w > 0xFF00_0000 { 0x7E00 } else { nonsign }) as u16
}

#[inline(always)]
pub fn fp16_to_fp32(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

/// `make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = NULL)`, the only form the K-quants use
/// (Q6_K). Returns the scale; `l` gets codes in `[0, 2·nmax)`. The quantizer calls it through
/// `super::make_qx_quants_rmse1`, which picks the search's kernel.
pub fn make_qx_quants_rmse1(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    match qx_start(nmax, x, l_out) {
        Err(zero) => zero,
        Ok(start) => qx_search(start, nmax, x, l_out),
    }
}

/// Where `make_qx_quants`' search starts: the signed largest magnitude and the first fit's
/// scale and score (`l_out` holds its codes).
#[derive(Debug, Clone, Copy)]
pub struct QxStart {
    pub max: f32,
    pub scale: f32,
    pub best: f32,
}

/// The part of `make_qx_quants` before its search over `is` = −9..=9. `Err` is the answer for
/// an all-zero group.
pub fn qx_start(nmax: i32, x: &[f32], l_out: &mut [i8]) -> Result<QxStart, f32> {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.iter_mut().for_each(|l| *l = 0);
        return Err(0.0);
    }
    let iscale = (-nmax) as f32 / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for (i, &v) in x.iter().enumerate() {
        let l = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        l_out[i] = (l + nmax) as i8;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    let scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    Ok(QxStart { max, scale, best: scale * sumlx })
}

/// The candidates `make_qx_quants` tries after its first fit, in its order.
pub const QX_CANDIDATES: [i32; 18] = [-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9];

/// `make_qx_quants`' search, candidate by candidate: each scale's sums are independent of the
/// others; a better one (by `sumlx²/suml2`) replaces the codes and the best score.
pub fn qx_search(start: QxStart, nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let QxStart { max, mut scale, mut best } = start;
    for is in QX_CANDIDATES {
        let iscale = -(nmax as f32 + 0.1f32 * is as f32) / max;
        let mut sumlx = 0.0f32;
        let mut suml2 = 0.0f32;
        for &v in x {
            let l = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
            let w = v * v;
            sumlx += w * v * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (i, &v) in x.iter().enumerate() {
                let l = nearest_int(iscale * v);
                l_out[i] = (nmax + l.clamp(-nmax, nmax - 1)) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// `make_q3_quants(n, nmax, x, L, do_rmse = true)` (Q3_K).
fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let iscale = (-nmax) as f32 / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for (i, &v) in x.iter().enumerate() {
        let l = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        l_out[i] = l as i8;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for (i, &v) in x.iter().enumerate() {
            let w = v * v;
            let li = l_out[i] as f32;
            let mut slx = sumlx - w * v * li;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * li * li;
                let new_l = nearest_int(v * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != l_out[i] as i32 {
                    slx += w * v * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l_out[i] = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for l in l_out.iter_mut() {
        *l += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// `make_qkx2_quants`' scalar arguments: codes in `0..=nmax`, candidate inverse scales
/// `(rmin + rdelta·is + nmax) / (max − min)` for `is` in `0..=nstep`, and the error measured as
/// absolute (`use_mad`) or squared differences. Q2_K: (3, −0.5, 0.1, 15, true); Q4_K:
/// (15, −1, 0.1, 20, false); Q5_K: (31, −0.5, 0.1, 15, false).
#[derive(Debug, Clone, Copy)]
pub struct Qkx2Params {
    pub nmax: i32,
    pub rmin: f32,
    pub rdelta: f32,
    pub nstep: i32,
    pub use_mad: bool,
}

/// `make_qkx2_quants` (Q2_K, Q4_K, Q5_K): an affine fit `x ≈ scale·l − min` with a grid search
/// over `nstep + 1` candidate inverse scales. Returns `(scale, the_min)` where `the_min = −min ≥ 0`.
/// The quantizers call it through `super::make_qkx2_quants`, which picks the search's kernel.
pub fn make_qkx2_quants(p: Qkx2Params, x: &[f32], weights: &[f32], l_out: &mut [u8]) -> (f32, f32) {
    match qkx2_start(p, x, weights, l_out) {
        Err(done) => done,
        Ok(start) if p.nstep < 1 => (start.scale, -start.min),
        Ok(start) => qkx2_search(start, p, x, weights, l_out),
    }
}

/// Where `make_qkx2_quants`' grid search starts: the range, the weighted sums and the first fit
/// (`l_out` holds its codes, `best_error` its error).
#[derive(Debug, Clone, Copy)]
pub struct Qkx2Start {
    pub min: f32,
    pub max: f32,
    pub sum_w: f32,
    pub sum_x: f32,
    pub scale: f32,
    pub best_error: f32,
}

/// The part of `make_qkx2_quants` before the grid search. `Err` is its early answer for a
/// constant block.
pub fn qkx2_start(p: Qkx2Params, x: &[f32], weights: &[f32], l_out: &mut [u8]) -> Result<Qkx2Start, (f32, f32)> {
    let Qkx2Params { nmax, use_mad, .. } = p;
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out.iter_mut().for_each(|l| *l = 0);
        return Err((0.0, -min));
    }
    let nmaxf = nmax as f32;
    let iscale = nmaxf / (max - min);
    let scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min));
        l_out[i] = l.clamp(0, nmax) as u8;
        let diff = scale * l_out[i] as f32 + min - x[i];
        let diff = if use_mad { diff.abs() } else { diff * diff };
        best_error += weights[i] * diff;
    }
    Ok(Qkx2Start { min, max, sum_w, sum_x, scale, best_error })
}

/// `make_qkx2_quants`' grid search, candidate by candidate (`is` = 0..=nstep). As in ggml, a
/// better fit moves `min`, and every later candidate's scale and codes start from the new one.
pub fn qkx2_search(start: Qkx2Start, p: Qkx2Params, x: &[f32], weights: &[f32], l_out: &mut [u8]) -> (f32, f32) {
    let Qkx2Params { nmax, rmin, rdelta, nstep, use_mad } = p;
    let Qkx2Start { mut min, max, sum_w, sum_x, mut scale, mut best_error } = start;
    let n = x.len();
    let nmaxf = nmax as f32;
    let mut laux = [0u8; 32];
    for is in 0..=nstep {
        let iscale = (rmin + rdelta * is as f32 + nmaxf) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = l as u8;
            let w = weights[i];
            let lf = l as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * laux[i] as f32 + this_min - x[i];
                let diff = if use_mad { diff.abs() } else { diff * diff };
                cur_error += weights[i] * diff;
            }
            if cur_error < best_error {
                l_out[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` from Q4_K/Q5_K's 12 scale bytes.
#[inline(always)]
pub fn get_scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// The 6-bit signed scale of sub-block `j` of Q3_K (stored biased by 32), as ggml reads it back.
#[inline(always)]
pub fn q3_scale(scales: &[u8], j: usize) -> i8 {
    let low = if j < 8 { scales[j] & 0xF } else { scales[j - 8] >> 4 };
    ((low | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) as i8).wrapping_sub(32)
}

/// `quantize_row_q2_K_ref` for one super-block → 84 bytes: scales[16], qs[64], d, dmin.
pub fn quantize_q2_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
    let mut weights = [0f32; 16];
    let mut mins = [0f32; QK_K / 16];
    let mut scales = [0f32; QK_K / 16];
    let q4scale = 15.0f32;
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..QK_K / 16 {
        let xs = &x[16 * j..16 * j + 16];
        for (w, v) in weights.iter_mut().zip(xs) {
            *w = v.abs();
        }
        let params = Qkx2Params { nmax: 3, rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: true };
        let (s, m) = super::make_qkx2_quants(params, xs, &weights, &mut l[16 * j..16 * j + 16]);
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let (sc_bytes, rest) = out.split_at_mut(16);
    let (qs, dd) = rest.split_at_mut(64);
    let d_bits;
    if max_scale > 0.0 {
        let iscale = q4scale / max_scale;
        for j in 0..QK_K / 16 {
            sc_bytes[j] = nearest_int(iscale * scales[j]) as u8;
        }
        d_bits = fp32_to_fp16(max_scale / q4scale);
    } else {
        sc_bytes.iter_mut().for_each(|b| *b = 0);
        d_bits = fp32_to_fp16(0.0);
    }
    let dmin_bits = if max_min > 0.0 {
        let iscale = q4scale / max_min;
        for j in 0..QK_K / 16 {
            let li = nearest_int(iscale * mins[j]);
            sc_bytes[j] |= (li << 4) as u8;
        }
        fp32_to_fp16(max_min / q4scale)
    } else {
        fp32_to_fp16(0.0)
    };
    for j in 0..QK_K / 16 {
        let d = fp16_to_fp32(d_bits) * (sc_bytes[j] & 0xF) as f32;
        if d == 0.0 {
            continue;
        }
        let dm = fp16_to_fp32(dmin_bits) * (sc_bytes[j] >> 4) as f32;
        for ii in 0..16 {
            let li = nearest_int((x[16 * j + ii] + dm) / d);
            l[16 * j + ii] = li.clamp(0, 3) as u8;
        }
    }
    for j in (0..QK_K).step_by(128) {
        for k in 0..32 {
            qs[j / 4 + k] = l[j + k] | (l[j + k + 32] << 2) | (l[j + k + 64] << 4) | (l[j + k + 96] << 6);
        }
    }
    dd[..2].copy_from_slice(&d_bits.to_le_bytes());
    dd[2..4].copy_from_slice(&dmin_bits.to_le_bytes());
}

/// `quantize_row_q3_K_ref` for one super-block → 110 bytes: hmask[32], qs[64], scales[12], d.
pub fn quantize_q3_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; QK_K / 16];
    let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
    for j in 0..QK_K / 16 {
        scales[j] = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16]);
        let scale = scales[j].abs();
        if scale > amax {
            amax = scale;
            max_scale = scales[j];
        }
    }
    let (hmask, rest) = out.split_at_mut(32);
    let (qs, rest) = rest.split_at_mut(64);
    let (sc, dd) = rest.split_at_mut(12);
    sc.iter_mut().for_each(|b| *b = 0);
    let d_bits;
    if max_scale != 0.0 {
        let iscale = -32.0f32 / max_scale;
        for j in 0..QK_K / 16 {
            let li = nearest_int(iscale * scales[j]) as i8 as i32;
            let li = (li.clamp(-32, 31) + 32) as u8;
            if j < 8 {
                sc[j] = li & 0xF;
            } else {
                sc[j - 8] |= (li & 0xF) << 4;
            }
            sc[j % 4 + 8] |= (li >> 4) << (2 * (j / 4));
        }
        d_bits = fp32_to_fp16(1.0 / iscale);
    } else {
        d_bits = fp32_to_fp16(0.0);
    }
    for j in 0..QK_K / 16 {
        let d = fp16_to_fp32(d_bits) * q3_scale(sc, j) as f32;
        if d == 0.0 {
            continue;
        }
        for ii in 0..16 {
            let li = nearest_int(x[16 * j + ii] / d).clamp(-4, 3);
            l[16 * j + ii] = (li + 4) as i8;
        }
    }
    hmask.iter_mut().for_each(|b| *b = 0);
    for j in 0..QK_K {
        if l[j] > 3 {
            hmask[j % 32] |= 1 << (j / 32);
            l[j] -= 4;
        }
    }
    for j in (0..QK_K).step_by(128) {
        for k in 0..32 {
            qs[j / 4 + k] = (l[j + k] | (l[j + k + 32] << 2) | (l[j + k + 64] << 4) | (l[j + k + 96] << 6)) as u8;
        }
    }
    dd.copy_from_slice(&d_bits.to_le_bytes());
}

/// The shared first half of Q4_K and Q5_K: per-32 affine fits, 6-bit scales/mins packed into
/// 12 bytes, the f16 `d`/`dmin`, then the codes recomputed from the quantized scales.
fn quantize_qkx_scales(x: &[f32; QK_K], nmax: i32, rmin: f32, nstep: i32, head: &mut [u8], l: &mut [u8; QK_K]) {
    let mut weights = [0f32; 32];
    let mut mins = [0f32; QK_K / 32];
    let mut scales = [0f32; QK_K / 32];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..QK_K / 32 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let params = Qkx2Params { nmax, rmin, rdelta: 0.1, nstep, use_mad: false };
        let (s, m) = super::make_qkx2_quants(params, xs, &weights, &mut l[32 * j..32 * j + 32]);
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let sc = &mut head[4..16];
    for j in 0..QK_K / 32 {
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            sc[j] = ls;
            sc[j + 4] = lm;
        } else {
            sc[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            sc[j - 4] |= (ls >> 4) << 6;
            sc[j] |= (lm >> 4) << 6;
        }
    }
    let d_bits = fp32_to_fp16(max_scale / 63.0);
    let dmin_bits = fp32_to_fp16(max_min / 63.0);
    head[0..2].copy_from_slice(&d_bits.to_le_bytes());
    head[2..4].copy_from_slice(&dmin_bits.to_le_bytes());
    let sc = &head[4..16];
    for j in 0..QK_K / 32 {
        let (s, m) = get_scale_min_k4(j, sc);
        let d = fp16_to_fp32(d_bits) * s as f32;
        if d == 0.0 {
            continue;
        }
        let dm = fp16_to_fp32(dmin_bits) * m as f32;
        for ii in 0..32 {
            let li = nearest_int((x[32 * j + ii] + dm) / d);
            l[32 * j + ii] = li.clamp(0, nmax) as u8;
        }
    }
}

/// `quantize_row_q4_K_ref` for one super-block → 144 bytes: d, dmin, scales[12], qs[128].
pub fn quantize_q4_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
    quantize_qkx_scales(x, 15, -1.0, 20, &mut out[..16], &mut l);
    let qs = &mut out[16..144];
    for (c, j) in (0..QK_K).step_by(64).enumerate() {
        for k in 0..32 {
            qs[32 * c + k] = l[j + k] | (l[j + k + 32] << 4);
        }
    }
}

/// `quantize_row_q5_K_ref` for one super-block → 176 bytes: d, dmin, scales[12], qh[32], qs[128].
pub fn quantize_q5_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
    quantize_qkx_scales(x, 31, -0.5, 15, &mut out[..16], &mut l);
    let (qh, ql) = out[16..176].split_at_mut(32);
    qh.iter_mut().for_each(|b| *b = 0);
    let (mut m1, mut m2) = (1u8, 2u8);
    for (c, n) in (0..QK_K).step_by(64).enumerate() {
        for j in 0..32 {
            let mut l1 = l[n + j];
            if l1 > 15 {
                l1 -= 16;
                qh[j] |= m1;
            }
            let mut l2 = l[n + j + 32];
            if l2 > 15 {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[32 * c + j] = l1 | (l2 << 4);
        }
        m1 = m1.wrapping_shl(2);
        m2 = m2.wrapping_shl(2);
    }
}

/// `quantize_row_q6_K_ref` for one super-block → 210 bytes: ql[128], qh[64], scales[16] (i8), d.
pub fn quantize_q6_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; QK_K / 16];
    let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
    for ib in 0..QK_K / 16 {
        let scale = super::make_qx_quants_rmse1(32, &x[16 * ib..16 * ib + 16], &mut l[16 * ib..16 * ib + 16]);
        scales[ib] = scale;
        let abs_scale = scale.abs();
        if abs_scale > max_abs_scale {
            max_abs_scale = abs_scale;
            max_scale = scale;
        }
    }
    pack_q6_k(x, &scales, max_scale, max_abs_scale, &mut l, out);
}

/// The second half of `quantize_row_q6_K_ref` and `quantize_row_q6_K_impl` (identical there):
/// the 8-bit sub-block scales under one f16 `d`, the codes recomputed from them, and the packing.
/// `l` holds the sub-block searches' codes (kept where a sub-block's scale rounds to 0).
pub fn pack_q6_k(x: &[f32; QK_K], scales: &[f32; QK_K / 16], max_scale: f32, max_abs_scale: f32, l: &mut [i8; QK_K], out: &mut [u8]) {
    if max_abs_scale < GROUP_MAX_EPS {
        out[..210].iter_mut().for_each(|b| *b = 0);
        out[208..210].copy_from_slice(&fp32_to_fp16(0.0).to_le_bytes());
        return;
    }
    let iscale = -128.0f32 / max_scale;
    let d_bits = fp32_to_fp16(1.0 / iscale);
    let (ql, rest) = out.split_at_mut(128);
    let (qh, rest) = rest.split_at_mut(64);
    let (sc, dd) = rest.split_at_mut(16);
    for ib in 0..QK_K / 16 {
        sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8 as u8;
    }
    for j in 0..QK_K / 16 {
        let d = fp16_to_fp32(d_bits) * sc[j] as i8 as f32;
        if d == 0.0 {
            continue;
        }
        for ii in 0..16 {
            let li = nearest_int(x[16 * j + ii] / d).clamp(-32, 31);
            l[16 * j + ii] = (li + 32) as i8;
        }
    }
    for (c, j) in (0..QK_K).step_by(128).enumerate() {
        let (ql, qh) = (&mut ql[64 * c..64 * c + 64], &mut qh[32 * c..32 * c + 32]);
        for k in 0..32 {
            let q = |o: usize| l[j + k + o] as u8;
            ql[k] = (q(0) & 0xF) | ((q(64) & 0xF) << 4);
            ql[k + 32] = (q(32) & 0xF) | ((q(96) & 0xF) << 4);
            qh[k] = (q(0) >> 4) | ((q(32) >> 4) << 2) | ((q(64) >> 4) << 4) | ((q(96) >> 4) << 6);
        }
    }
    dd.copy_from_slice(&d_bits.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!([0.5, 1.5, 2.5, -0.5, -1.5, 3.49].map(nearest_int), [0, 2, 2, 0, -2, 3]);
    }

    #[test]
    fn fp16_conversion_matches_half_for_finite_values() {
        for bits in (0u32..=0xFFFF_FFFF).step_by(65_521) {
            let f = f32::from_bits(bits);
            if !f.is_nan() {
                assert_eq!(fp32_to_fp16(f), half::f16::from_f32(f).to_bits(), "{f:e}");
            }
        }
        assert_eq!(fp32_to_fp16(f32::NAN), 0x7E00);
    }
}

//! The quantizers llama.cpp runs when an importance matrix is given: `quantize_row_q{2..6}_K_impl`
//! and the legacy `quantize_row_q{4_0,4_1,5_0,5_1}_impl`, with their helpers `make_qx_quants`
//! (with weights), `make_qkx3_quants` and `make_qp_quants`, all from `ggml/src/ggml-quants.c`
//! of the pinned llama.cpp (llama-cpp-python 0.3.36's vendored copy), ported float operation for
//! float operation: C's operand order, f32 throughout, `(T)` casts to `uint8_t`/`int8_t` as
//! wrapping `as` casts. `ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix)` calls
//! these row by row with the same `imatrix` (one weight per column) for every row;
//! `src/core/tests/imatrix_quants_fixtures.rs` holds them to its bytes.
//!
//! Scalar only: the weighted paths run once per tensor at export, where the plain paths' SIMD128
//! kernels matter for the page's interactive views.
//!
//! Inputs are finite (the callers check or replace non-finite values).

use super::reference::{fp16_to_fp32, fp32_to_fp16, get_scale_min_k4, nearest_int, pack_q6_k, q3_scale, GROUP_MAX_EPS};
use super::QK_K;

/// `make_qx_quants(n, nmax, x, L, rmse_type = 1, qw)` with weights `qw` (Q3_K, Q6_K, Q4_0, Q5_0
/// with an imatrix). Returns the scale; `l_out` gets codes in `[0, 2·nmax)`.
pub fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [i8], qw: &[f32]) -> f32 {
    let n = x.len();
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
        l_out[..n].iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    // `-nmax / max`: int negated, then converted.
    let mut iscale = (-nmax) as f32 / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
        l_out[i] = (l + nmax) as i8;
        let w = qw[i];
        sumlx += w * x[i] * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1f32 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for i in 0..n {
            let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
            let w = qw[i];
            sumlx += w * x[i] * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for i in 0..n {
                let l = nearest_int(iscale * x[i]);
                l_out[i] = (nmax + l.clamp(-nmax, nmax - 1)) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// `make_qkx3_quants(n, nmax, x, weights, L, &the_min, Laux, rmin, rdelta, nstep, use_mad)`
/// with weights (every caller here passes them). Returns `(scale, the_min)`, `the_min = −min ≥ 0`.
#[allow(clippy::too_many_arguments)] // the C signature
pub fn make_qkx3_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l_out: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let n = x.len();
    let mut laux = [0u8; 32];
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
    if max <= min {
        l_out[..n].iter_mut().for_each(|l| *l = 0);
        return (0.0, -min);
    }
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_mad = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min));
        l_out[i] = l.clamp(0, nmax) as u8;
        let diff = scale * l_out[i] as f32 + min - x[i];
        let diff = if use_mad { diff.abs() } else { diff * diff };
        best_mad += weights[i] * diff;
    }
    if nstep < 1 {
        return (scale, -min);
    }
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
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
            let mut mad = 0.0f32;
            for i in 0..n {
                let diff = this_scale * laux[i] as f32 + this_min - x[i];
                let diff = if use_mad { diff.abs() } else { diff * diff };
                mad += weights[i] * diff;
            }
            if mad < best_mad {
                l_out[..n].copy_from_slice(&laux[..n]);
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// `make_qp_quants(n, nmax, x, L, quant_weights)`: non-negative codes for the sub-block scales
/// (or mins) `x` under one scale, weighted by each sub-block's total weight. `L` is `uint8_t` in
/// C: codes wrap as it does.
pub fn make_qp_quants(nmax: i32, x: &[f32], l_out: &mut [u8], quant_weights: &[f32]) -> f32 {
    let n = x.len();
    let mut max = 0.0f32;
    for &v in x {
        max = if max > v { max } else { v }; // MAX(max, x[i])
    }
    if max < GROUP_MAX_EPS {
        l_out[..n].iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let mut iscale = nmax as f32 / max;
    for i in 0..n {
        l_out[i] = nearest_int(iscale * x[i]) as u8;
    }
    let scale = 1.0 / iscale;
    let mut best_mse = 0.0f32;
    for i in 0..n {
        let diff = x[i] - scale * l_out[i] as f32;
        best_mse += quant_weights[i] * diff * diff;
    }
    for is in -4i32..=4 {
        if is == 0 {
            continue;
        }
        let iscale_is = (0.1f32 * is as f32 + nmax as f32) / max;
        let scale_is = 1.0 / iscale_is;
        let mut mse = 0.0f32;
        for i in 0..n {
            let l = nearest_int(iscale_is * x[i]).min(nmax);
            let diff = x[i] - scale_is * l as f32;
            mse += quant_weights[i] * diff * diff;
        }
        if mse < best_mse {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).min(nmax);
        l_out[i] = l as u8;
        let w = quant_weights[i];
        sumlx += w * x[i] * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = quant_weights[i];
            let li = l_out[i] as f32;
            let mut slx = sumlx - w * x[i] * li;
            let mut sl2 = suml2 - w * li * li;
            if slx > 0.0 && sl2 > 0.0 {
                let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                if new_l != l_out[i] as i32 {
                    slx += w * x[i] * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l_out[i] = new_l as u8;
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
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// Σx² over a super-block (or a row), in C's order.
fn sum_sq(x: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for &v in x {
        s += v * v;
    }
    s
}

/// `qw[l] * sqrtf(sigma2 + x[l]*x[l])`: the weights every `_impl` derives from the imatrix.
fn impl_weights(qw: &[f32], x: &[f32], sigma2: f32, out: &mut [f32]) {
    for l in 0..x.len() {
        out[l] = qw[l] * (sigma2 + x[l] * x[l]).sqrt();
    }
}

/// Packs 2-bit codes four per byte as Q2_K and Q3_K do (`qs[j/4 + l]`).
fn pack_2bit(l: &[u8; QK_K], qs: &mut [u8]) {
    for j in (0..QK_K).step_by(128) {
        for k in 0..32 {
            qs[j / 4 + k] = l[j + k] | (l[j + k + 32] << 2) | (l[j + k + 64] << 4) | (l[j + k + 96] << 6);
        }
    }
}

/// `quantize_row_q2_K_impl` for one super-block (`qw`: its 256 columns of the imatrix) → 84
/// bytes: scales[16], qs[64], d, dmin.
pub fn quantize_q2_k(x: &[f32; QK_K], qw: &[f32], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
    let mut mins = [0f32; QK_K / 16];
    let mut scales = [0f32; QK_K / 16];
    let mut sw = [0f32; QK_K / 16];
    let mut weight = [0f32; 16];
    let (mut ls, mut lm) = ([0u8; QK_K / 16], [0u8; QK_K / 16]);
    let sigma2 = sum_sq(x) / QK_K as f32;
    for j in 0..QK_K / 16 {
        let xs = &x[16 * j..16 * j + 16];
        impl_weights(&qw[16 * j..16 * j + 16], xs, sigma2, &mut weight);
        for w in weight {
            sw[j] += w;
        }
        let (s, m) = make_qkx3_quants(3, xs, &weight, &mut l[16 * j..16 * j + 16], -0.9, 0.05, 36, false);
        scales[j] = s;
        mins[j] = m;
    }
    let dm = make_qp_quants(15, &scales, &mut ls, &sw);
    let mm = make_qp_quants(15, &mins, &mut lm, &sw);
    let (d_bits, dmin_bits) = (fp32_to_fp16(dm), fp32_to_fp16(mm));
    let (dm, mm) = (fp16_to_fp32(d_bits), fp16_to_fp32(dmin_bits));
    let (sc, rest) = out.split_at_mut(16);
    let (qs, dd) = rest.split_at_mut(64);
    for j in 0..QK_K / 16 {
        sc[j] = ls[j] | (lm[j] << 4);
    }
    // requantize = true
    for j in 0..QK_K / 16 {
        let d = dm * (sc[j] & 0xF) as f32;
        if d == 0.0 {
            continue;
        }
        let m = mm * (sc[j] >> 4) as f32;
        for ii in 0..16 {
            l[16 * j + ii] = nearest_int((x[16 * j + ii] + m) / d).clamp(0, 3) as u8;
        }
    }
    pack_2bit(&l, qs);
    dd[..2].copy_from_slice(&d_bits.to_le_bytes());
    dd[2..4].copy_from_slice(&dmin_bits.to_le_bytes());
}

/// `quantize_row_q3_K_impl` with an imatrix, one super-block → 110 bytes: hmask[32], qs[64],
/// scales[12], d.
pub fn quantize_q3_k(x: &[f32; QK_K], qw: &[f32], out: &mut [u8]) {
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; QK_K / 16];
    let mut weight = [0f32; 16];
    let mut sw = [0f32; QK_K / 16];
    let mut ls = [0i8; QK_K / 16];
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    for j in 0..QK_K / 16 {
        let xs = &x[16 * j..16 * j + 16];
        impl_weights(&qw[16 * j..16 * j + 16], xs, sigma2, &mut weight);
        let mut sumw = 0.0f32;
        for w in weight {
            sumw += w;
        }
        sw[j] = sumw;
        scales[j] = make_qx_quants(4, xs, &mut l[16 * j..16 * j + 16], &weight);
    }
    let (hmask, rest) = out.split_at_mut(32);
    let (qs, rest) = rest.split_at_mut(64);
    let (sc, dd) = rest.split_at_mut(12);
    sc.fill(0);
    let d_block = make_qx_quants(32, &scales, &mut ls, &sw);
    for j in 0..QK_K / 16 {
        let mut li = ls[j] as i32;
        if j < 8 {
            sc[j] = (li & 0xF) as u8;
        } else {
            sc[j - 8] |= ((li & 0xF) << 4) as u8;
        }
        li >>= 4;
        sc[j % 4 + 8] |= (li << (2 * (j / 4))) as u8;
    }
    let d_bits = fp32_to_fp16(d_block);
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
    hmask.fill(0);
    let mut codes = [0u8; QK_K];
    for j in 0..QK_K {
        let mut q = l[j] as u8;
        if l[j] > 3 {
            hmask[j % 32] |= 1 << (j / 32);
            q -= 4;
        }
        codes[j] = q;
    }
    pack_2bit(&codes, qs);
    dd.copy_from_slice(&d_bits.to_le_bytes());
}

/// The shared body of `quantize_row_q4_K_impl` and `quantize_row_q5_K_impl` with an imatrix:
/// per-32 weighted affine fits, their scales and mins coded by `make_qp_quants`, packed into
/// 12 bytes with f16 `d`/`dmin` (`head`, 16 bytes), then the codes recomputed into `l`.
/// `cap63`: Q5_K caps the 6-bit codes at 63 (`MIN(63, ls)`); Q4_K does not.
fn quantize_qkx3_scales(x: &[f32; QK_K], qw: &[f32], nmax: i32, cap63: bool, head: &mut [u8], l: &mut [u8; QK_K]) {
    let mut weights = [0f32; 32];
    let mut sw = [0f32; QK_K / 32];
    let mut mins = [0f32; QK_K / 32];
    let mut scales = [0f32; QK_K / 32];
    let (mut ls, mut lm) = ([0u8; QK_K / 32], [0u8; QK_K / 32]);
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    for j in 0..QK_K / 32 {
        let xs = &x[32 * j..32 * j + 32];
        impl_weights(&qw[32 * j..32 * j + 32], xs, sigma2, &mut weights);
        let mut sumw = 0.0f32;
        for w in weights {
            sumw += w;
        }
        sw[j] = sumw;
        let (s, m) = make_qkx3_quants(nmax, xs, &weights, &mut l[32 * j..32 * j + 32], -0.9, 0.05, 36, false);
        scales[j] = s;
        mins[j] = m;
    }
    let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
    let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
    let sc = &mut head[4..16];
    for j in 0..QK_K / 32 {
        let (lsj, lmj) = if cap63 { (ls[j].min(63), lm[j].min(63)) } else { (ls[j], lm[j]) };
        if j < 4 {
            sc[j] = lsj;
            sc[j + 4] = lmj;
        } else {
            sc[j + 4] = (lsj & 0xF) | ((lmj & 0xF) << 4);
            sc[j - 4] |= (((lsj >> 4) as u32) << 6) as u8;
            sc[j] |= (((lmj >> 4) as u32) << 6) as u8;
        }
    }
    let d_bits = fp32_to_fp16(d_block);
    let dmin_bits = fp32_to_fp16(m_block);
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
            l[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / d).clamp(0, nmax) as u8;
        }
    }
}

/// `quantize_row_q4_K_impl` with an imatrix, one super-block → 144 bytes: d, dmin, scales[12],
/// qs[128].
pub fn quantize_q4_k(x: &[f32; QK_K], qw: &[f32], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
    quantize_qkx3_scales(x, qw, 15, false, &mut out[..16], &mut l);
    let qs = &mut out[16..144];
    for (c, j) in (0..QK_K).step_by(64).enumerate() {
        for k in 0..32 {
            qs[32 * c + k] = l[j + k] | (l[j + k + 32] << 4);
        }
    }
}

/// `quantize_row_q5_K_impl` with an imatrix, one super-block → 176 bytes: d, dmin, scales[12],
/// qh[32], qs[128].
pub fn quantize_q5_k(x: &[f32; QK_K], qw: &[f32], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
    quantize_qkx3_scales(x, qw, 31, true, &mut out[..16], &mut l);
    let (qh, ql) = out[16..176].split_at_mut(32);
    qh.fill(0);
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

/// `quantize_row_q6_K_impl` with an imatrix, one super-block → 210 bytes. Unlike the others it
/// passes the imatrix columns to `make_qx_quants` as they are (the σ-scaled weights are
/// commented out upstream); the rest is `quantize_row_q6_K_ref`'s ([`pack_q6_k`]).
pub fn quantize_q6_k(x: &[f32; QK_K], qw: &[f32], out: &mut [u8]) {
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; QK_K / 16];
    let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
    for ib in 0..QK_K / 16 {
        let scale = make_qx_quants(32, &x[16 * ib..16 * ib + 16], &mut l[16 * ib..16 * ib + 16], &qw[16 * ib..16 * ib + 16]);
        scales[ib] = scale;
        let abs_scale = scale.abs();
        if abs_scale > max_abs_scale {
            max_abs_scale = abs_scale;
            max_scale = scale;
        }
    }
    pack_q6_k(x, &scales, max_scale, max_abs_scale, &mut l, out);
}

/// The legacy block types llama.cpp quantizes with an imatrix (blocks of 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
}

impl Legacy {
    /// `sizeof(block_*)`.
    pub fn block_bytes(self) -> usize {
        match self {
            Legacy::Q4_0 => 18,
            Legacy::Q4_1 => 20,
            Legacy::Q5_0 => 22,
            Legacy::Q5_1 => 24,
        }
    }
}

/// `quantize_row_{q4_0,q4_1,q5_0,q5_1}_impl` with an imatrix for one row (`x.len()` a multiple
/// of 32, `qw` as long): unlike the K-quants, σ² is the mean of x² over the whole row.
pub fn quantize_legacy_row(ty: Legacy, x: &[f32], qw: &[f32], out: &mut [u8]) {
    const QK: usize = 32;
    let sigma2 = sum_sq(x) / x.len() as f32;
    let mut weight = [0f32; QK];
    for (ib, (xb, ob)) in x.chunks_exact(QK).zip(out.chunks_exact_mut(ty.block_bytes())).enumerate() {
        impl_weights(&qw[QK * ib..QK * ib + QK], xb, sigma2, &mut weight);
        // The 5-bit codes' high bits: bit j of qh is element j's fifth bit (ggml's qh).
        let qh_of = |codes: &[u8; QK]| -> u32 {
            let mut qh = 0u32;
            for j in 0..16 {
                qh |= ((codes[j] as u32 & 0x10) >> 4) << j;
                qh |= ((codes[j + 16] as u32 & 0x10) >> 4) << (j + 16);
            }
            qh
        };
        let nibbles = |codes: &[u8; QK], qs: &mut [u8]| {
            for j in 0..16 {
                qs[j] = (codes[j] & 0x0F) | ((codes[j + 16] & 0x0F) << 4);
            }
        };
        let mut codes = [0u8; QK];
        match ty {
            Legacy::Q4_0 | Legacy::Q5_0 => {
                let mut l = [0i8; QK];
                let nmax = if ty == Legacy::Q4_0 { 8 } else { 16 };
                let d = make_qx_quants(nmax, xb, &mut l, &weight);
                ob[..2].copy_from_slice(&fp32_to_fp16(d).to_le_bytes());
                codes.iter_mut().zip(l).for_each(|(c, l)| *c = l as u8);
                if ty == Legacy::Q4_0 {
                    nibbles(&codes, &mut ob[2..18]);
                } else {
                    ob[2..6].copy_from_slice(&qh_of(&codes).to_le_bytes());
                    nibbles(&codes, &mut ob[6..22]);
                }
            }
            Legacy::Q4_1 | Legacy::Q5_1 => {
                let nmax = if ty == Legacy::Q4_1 { 15 } else { 31 };
                let (d, the_min) = make_qkx3_quants(nmax, xb, &weight, &mut codes, -0.9, 0.05, 36, false);
                ob[..2].copy_from_slice(&fp32_to_fp16(d).to_le_bytes());
                ob[2..4].copy_from_slice(&fp32_to_fp16(-the_min).to_le_bytes());
                if ty == Legacy::Q4_1 {
                    nibbles(&codes, &mut ob[4..20]);
                } else {
                    ob[4..8].copy_from_slice(&qh_of(&codes).to_le_bytes());
                    nibbles(&codes, &mut ob[8..24]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_qp_quants_codes_a_scale_ladder_exactly() {
        // Scales on an exact ladder of 1/15 steps are coded as their steps, whatever the weights.
        let x: Vec<f32> = (0..16).map(|i| i as f32 / 15.0).collect();
        let mut l = [0u8; 16];
        let d = make_qp_quants(15, &x, &mut l, &[1.0; 16]);
        assert_eq!(l.to_vec(), (0..16).map(|i| i as u8).collect::<Vec<_>>());
        assert!((d - 1.0 / 15.0).abs() < 1e-6, "{d}");
        assert_eq!(make_qp_quants(15, &[0.0; 16], &mut l, &[1.0; 16]), 0.0);
        assert_eq!(l, [0; 16]);
    }

    #[test]
    fn all_zero_groups_give_zero_scales_and_codes() {
        let (mut l, mut u) = ([5i8; 16], [5u8; 16]);
        assert_eq!(make_qx_quants(4, &[0.0; 16], &mut l, &[1.0; 16]), 0.0);
        assert_eq!(l, [0; 16]);
        assert_eq!(make_qkx3_quants(15, &[0.0; 16], &[1.0; 16], &mut u, -0.9, 0.05, 36, false), (0.0, -0.0));
        assert_eq!(u, [0; 16]);
    }
}

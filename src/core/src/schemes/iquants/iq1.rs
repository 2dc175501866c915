//! IQ1_S and IQ1_M: one 256-value super-block at a time, ports of `quantize_row_iq1_s_impl`
//! (`IQ1S_BLOCK_SIZE` 32) and `quantize_row_iq1_m_impl` (`IQ1M_BLOCK_SIZE` 16) in
//! `ggml/src/ggml-quants.c`. Values take −1, 0, +1 shifted by ±`IQ1S_DELTA`: the best split of
//! each block's sorted values into three groups is searched exhaustively, then groups of 8 snap
//! to the 2048-point grid (`iq1_find_best_neighbour2`).
//!
//! The sort is C's `qsort` of (value, index) pairs by value (`iq1_sort_helper`); the reference
//! glibc (2.36) sorts arrays this small with a merge sort, which is stable, so equal values keep
//! their index order — as the insertion sort here does (`rows_2x256_ties` in the fixtures).

use super::lattice::{self, Lattice, Lookup};
use super::search::{c_max, check_scale, sum_sq};
use super::Abort;
use crate::schemes::kquants::reference::{fp32_to_fp16, nearest_int};

const QK_K: usize = 256;
/// `IQ1S_DELTA` and `IQ1M_DELTA`.
const DELTA: f32 = 0.125;
const X_P: [f32; 3] = [-1.0 + DELTA, DELTA, 1.0 + DELTA];
const X_M: [f32; 3] = [-1.0 - DELTA, -DELTA, 1.0 - DELTA];
/// `GROUP_MAX_EPS_IQ1_S`, `GROUP_MAX_EPS_IQ1_M`.
const GROUP_MAX_EPS_IQ1_S: f32 = 1e-12;
const GROUP_MAX_EPS_IQ1_M: f32 = 1e-7;

/// `iq1_find_best_neighbour2`: the neighbour of least `Σ w·(scale·xg[level] − x)²`; writes its
/// levels to `l`. Upstream falls back to the whole grid when no distance is below `FLT_MAX`,
/// reading `xval[i]` with the grid index `i` (past the 8 values): undefined, so an error here.
fn find_best_neighbour2(
    lat: &Lattice,
    neighbours: &[u16],
    xval: &[f32],
    weight: &[f32],
    scale: f32,
    xg: &[f32; 3],
    l: &mut [i8],
) -> Result<u16, Abort> {
    let mut best = f32::MAX;
    let mut grid_index = None;
    for &j in neighbours {
        let pg = lat.point(j as usize);
        let mut d2 = 0.0f32;
        for i in 0..8 {
            let q = xg[((pg[i] - 1) / 2) as usize];
            let diff = scale * q - xval[i];
            d2 += weight[i] * diff * diff;
        }
        if d2 < best {
            best = d2;
            grid_index = Some(j);
        }
    }
    let g = grid_index.ok_or(Abort::NoNeighbour)?;
    for (li, &p) in l.iter_mut().zip(lat.point(g as usize)) {
        *li = (p - 1) / 2;
    }
    Ok(g)
}

/// The block's value order for the split search: indices sorted by value, stable (equal values,
/// −0 and +0 among them, keep their index order). An insertion sort: 16 or 32 values, and far
/// less code in the wasm modules than the standard library's sorts.
fn sorted_order(xb: &[f32], idx: &mut [usize]) {
    for (j, v) in idx.iter_mut().enumerate() {
        *v = j;
    }
    for j in 1..idx.len() {
        let (i, v) = (idx[j], xb[idx[j]]);
        let mut k = j;
        while k > 0 && xb[idx[k - 1]] > v {
            idx[k] = idx[k - 1];
            k -= 1;
        }
        idx[k] = i;
    }
}

/// The grid index of each group of 8 levels in `l` (a neighbour's where off the grid, under the
/// group's shifted values `xx(k)`); returns whether all were on the grid.
fn snap_groups(
    lat: &Lattice,
    xb: &[f32],
    weight: &[f32],
    scale: f32,
    xx: impl Fn(usize) -> &'static [f32; 3],
    l: &mut [i8],
    index: &mut [u16],
) -> Result<bool, Abort> {
    let mut all_on_grid = true;
    for (k, ix) in index.iter_mut().enumerate() {
        let at = 8 * k;
        *ix = match lat.lookup(lat.pack(&l[at..at + 8])) {
            Lookup::OnGrid(g) => g as u16,
            Lookup::Off(n) => {
                all_on_grid = false;
                find_best_neighbour2(lat, n, &xb[at..], &weight[at..], scale, xx(k), &mut l[at..at + 8])?
            }
            Lookup::Invalid => return Err(Abort::OffGrid),
        };
    }
    Ok(all_on_grid)
}

/// `Σ w·q·x`, `Σ w·q·q` over the groups' grid points, `q = xx(k)[level]`.
fn refit(lat: &Lattice, xb: &[f32], weight: &[f32], xx: impl Fn(usize) -> &'static [f32; 3], index: &[u16]) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for (k, &g) in index.iter().enumerate() {
        let pg = lat.point(g as usize);
        for j in 0..8 {
            let w = weight[8 * k + j];
            let q = xx(k)[((pg[j] - 1) / 2) as usize];
            sumqx += w * q * xb[8 * k + j];
            sumq2 += w * q * q;
        }
    }
    (sumqx, sumq2)
}

/// `quantize_row_iq1_s_impl` for one super-block (50 bytes: f16 d, 32 low index bytes, 8 × u16
/// of four 3-bit high index parts, a 3-bit scale and the shift's sign). `qw` is required.
pub(super) fn iq1_s(x: &[f32], qw: &[f32], out: &mut [u8]) -> Result<(), Abort> {
    const BS: usize = 32;
    let lat = lattice::iq1s();
    out.fill(0);
    let mut scales = [0.0f32; QK_K / BS];
    let mut shifts = [0i8; QK_K / BS];
    let mut qh = [0u16; QK_K / BS];
    let mut max_scale = 0.0f32;
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    let mut weight = [0.0f32; BS];
    for ib in 0..QK_K / BS {
        let xb = &x[BS * ib..][..BS];
        for i in 0..BS {
            weight[i] = qw[BS * ib + i] * (sigma2 + xb[i] * xb[i]).sqrt();
        }
        let mut max = xb[0].abs();
        for &v in &xb[1..] {
            max = c_max(max, v.abs());
        }
        if max < GROUP_MAX_EPS_IQ1_S {
            scales[ib] = 0.0;
            shifts[ib] = 1;
            continue;
        }
        let mut idx = [0usize; BS];
        sorted_order(xb, &mut idx);
        let (mut sumx, mut sumw) = ([0.0f32; BS + 1], [0.0f32; BS + 1]);
        for j in 0..BS {
            let i = idx[j];
            sumx[j + 1] = sumx[j] + weight[i] * xb[i];
            sumw[j + 1] = sumw[j] + weight[i];
        }
        let (mut best_score, mut scale) = (-f32::MAX, max);
        let (mut besti1, mut besti2, mut best_shift) = (-1i32, -1i32, 0i8);
        for i1 in 0..=BS {
            for i2 in i1..=BS {
                for (shift, xs) in [(1i8, &X_P), (-1, &X_M)] {
                    let sumqx = (sumx[i1] - sumx[0]) * xs[0] + (sumx[i2] - sumx[i1]) * xs[1] + (sumx[BS] - sumx[i2]) * xs[2];
                    let sumq2 = (sumw[i1] - sumw[0]) * xs[0] * xs[0]
                        + (sumw[i2] - sumw[i1]) * xs[1] * xs[1]
                        + (sumw[BS] - sumw[i2]) * xs[2] * xs[2];
                    if sumq2 > 0.0 && sumqx * sumqx > best_score * sumq2 {
                        scale = sumqx / sumq2;
                        best_score = scale * sumqx;
                        (besti1, besti2, best_shift) = (i1 as i32, i2 as i32, shift);
                    }
                }
            }
        }
        if besti1 < 0 || besti2 < 0 || best_shift == 0 {
            scales[ib] = 0.0;
            shifts[ib] = 1;
            continue;
        }
        let mut l = [0i8; BS];
        for (j, &i) in idx.iter().enumerate() {
            l[i] = if (j as i32) < besti1 {
                0
            } else if (j as i32) < besti2 {
                1
            } else {
                2
            };
        }
        if scale < 0.0 {
            l.iter_mut().for_each(|v| *v = 2 - *v);
            scale = -scale;
            best_shift = -best_shift;
        }
        let xx: &'static [f32; 3] = if best_shift == 1 { &X_P } else { &X_M };
        let mut index = [0u16; BS / 8];
        if !snap_groups(lat, xb, &weight, scale, |_| xx, &mut l, &mut index)? {
            let (sumqx, sumq2) = refit(lat, xb, &weight, |_| xx, &index);
            if sumqx > 0.0 && sumq2 > 0.0 {
                scale = sumqx / sumq2;
            }
        }
        let mut h = 0u16;
        for (k, &g) in index.iter().enumerate() {
            out[2 + (BS / 8) * ib + k] = g as u8;
            h |= (g >> 8) << (3 * k);
        }
        qh[ib] = h;
        check_scale(scale)?;
        scales[ib] = scale;
        shifts[ib] = best_shift;
        max_scale = c_max(max_scale, scale);
    }
    if max_scale != 0.0 {
        let d = max_scale / 15.0;
        out[..2].copy_from_slice(&fp32_to_fp16(d * 1.125).to_le_bytes()); // upstream's fudge factor
        let id = 1.0 / d;
        for ib in 0..QK_K / BS {
            let mut l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 7);
            if shifts[ib] == -1 {
                l |= 8;
            }
            qh[ib] |= (l as u16) << 12;
        }
    }
    for (o, h) in out[34..50].chunks_exact_mut(2).zip(qh) {
        o.copy_from_slice(&h.to_le_bytes());
    }
    Ok(())
}

/// `quantize_row_iq1_m_impl` for one super-block (56 bytes: 32 low index bytes, 16 bytes of two
/// 3-bit high index parts and shift bits, 8 bytes of 3-bit scales with the f16 d spread over
/// their top nibbles). `qw` may be absent.
pub(super) fn iq1_m(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) -> Result<(), Abort> {
    const BS: usize = 16;
    const MASKS: [u8; 4] = [0x00, 0x80, 0x08, 0x88];
    let lat = lattice::iq1s();
    out.fill(0);
    let (qs_at, qh_at) = (0usize, 32usize);
    let mut scales = [0.0f32; QK_K / BS];
    let mut shifts = [0usize; QK_K / BS];
    let mut max_scale = 0.0f32;
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    let mut weight = [0.0f32; BS];
    let weights = |ib: usize, xb: &[f32], weight: &mut [f32; BS]| match qw {
        Some(qw) => {
            for i in 0..BS {
                weight[i] = qw[BS * ib + i] * (sigma2 + xb[i] * xb[i]).sqrt();
            }
        }
        None => {
            for i in 0..BS {
                weight[i] = xb[i] * xb[i];
            }
        }
    };
    // Block k of 8 uses x_p or x_m by the block's shift code: bit 1 for the first, bit 0 the second.
    let xx_of = |best_k: usize| {
        move |k: usize| -> &'static [f32; 3] {
            let plus = if k == 0 { best_k < 2 } else { best_k % 2 == 0 };
            if plus {
                &X_P
            } else {
                &X_M
            }
        }
    };
    for ib in 0..QK_K / BS {
        let xb = &x[BS * ib..][..BS];
        weights(ib, xb, &mut weight);
        let mut max = xb[0].abs();
        for &v in &xb[1..] {
            max = c_max(max, v.abs());
        }
        if max < GROUP_MAX_EPS_IQ1_M {
            scales[ib] = 0.0;
            shifts[ib] = 0;
            continue;
        }
        let mut idx = [0usize; BS];
        sorted_order(xb, &mut idx);
        let (mut best_score, mut scale) = (-f32::MAX, max);
        let (mut besti1, mut besti2, mut best_k) = (-1i32, -1i32, -1i32);
        // Prefix sums per half of the block (each half may use x_p or x_m).
        let (mut px, mut pw) = ([[0.0f32; BS + 1]; 2], [[0.0f32; BS + 1]; 2]);
        for j in 0..BS {
            let i = idx[j];
            let h = if i < BS / 2 { 0 } else { 1 };
            px[h][j + 1] = px[h][j] + weight[i] * xb[i];
            px[1 - h][j + 1] = px[1 - h][j];
            pw[h][j + 1] = pw[h][j] + weight[i];
            pw[1 - h][j + 1] = pw[1 - h][j];
        }
        let txs = [px[0][BS], px[1][BS]];
        let tws = [pw[0][BS], pw[1][BS]];
        let (p2, m2) = (X_P[2], X_M[2]);
        let cp1 = X_P[0] * X_P[0] - X_P[1] * X_P[1];
        let cp2 = X_P[1] * X_P[1] - X_P[2] * X_P[2];
        let cm1 = X_M[0] * X_M[0] - X_M[1] * X_M[1];
        let cm2 = X_M[1] * X_M[1] - X_M[2] * X_M[2];
        for i1 in 0..=BS {
            for i2 in i1..=BS {
                let (mut qx_p, mut qx_m, mut q2_p, mut q2_m) = ([0.0f32; 2], [0.0f32; 2], [0.0f32; 2], [0.0f32; 2]);
                for h in 0..2 {
                    let sx = px[h][i1] + px[h][i2];
                    qx_p[h] = txs[h] * p2 - sx;
                    qx_m[h] = txs[h] * m2 - sx;
                    q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
                    q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
                }
                let sumqx = [qx_p[0] + qx_p[1], qx_p[0] + qx_m[1], qx_m[0] + qx_p[1], qx_m[0] + qx_m[1]];
                let sumq2 = [q2_p[0] + q2_p[1], q2_p[0] + q2_m[1], q2_m[0] + q2_p[1], q2_m[0] + q2_m[1]];
                for k in 0..4 {
                    if sumq2[k] > 0.0 && sumqx[k] * sumqx[k] > best_score * sumq2[k] {
                        scale = sumqx[k] / sumq2[k];
                        best_score = scale * sumqx[k];
                        (besti1, besti2, best_k) = (i1 as i32, i2 as i32, k as i32);
                    }
                }
            }
        }
        if besti1 < 0 || besti2 < 0 || best_k < 0 {
            scales[ib] = 0.0;
            shifts[ib] = 0;
            continue;
        }
        let mut l = [0i8; BS];
        for (j, &i) in idx.iter().enumerate() {
            l[i] = if (j as i32) < besti1 {
                0
            } else if (j as i32) < besti2 {
                1
            } else {
                2
            };
        }
        let mut best_k = best_k as usize;
        if scale < 0.0 {
            l.iter_mut().for_each(|v| *v = 2 - *v);
            scale = -scale;
            best_k = 3 - best_k; // 0 ↔ 3, 1 ↔ 2
        }
        let mut index = [0u16; BS / 8];
        if !snap_groups(lat, xb, &weight, scale, xx_of(best_k), &mut l, &mut index)? {
            let (sumqx, sumq2) = refit(lat, xb, &weight, xx_of(best_k), &index);
            if sumqx > 0.0 && sumq2 > 0.0 {
                scale = sumqx / sumq2;
            }
        }
        out[qs_at + 2 * ib] = index[0] as u8;
        out[qs_at + 2 * ib + 1] = index[1] as u8;
        out[qh_at + ib] = ((index[0] >> 8) | ((index[1] >> 8) << 4)) as u8;
        check_scale(scale)?;
        scales[ib] = scale;
        shifts[ib] = best_k;
        max_scale = c_max(max_scale, scale);
    }
    if max_scale == 0.0 {
        return Ok(());
    }
    let mut sc = [0u16; 4];
    let mut d = max_scale / 15.0;
    let id = 1.0 / d;
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for ib in 0..QK_K / BS {
        let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 7);
        sc[ib / 4] |= (l as u16) << (3 * (ib % 4));
        out[qh_at + ib] |= MASKS[shifts[ib]];
        let xb = &x[BS * ib..][..BS];
        weights(ib, xb, &mut weight);
        let xx = xx_of(shifts[ib]);
        for k in 0..2 {
            let g = out[qs_at + 2 * ib + k] as usize + (((out[qh_at + ib] as usize) << (8 - 4 * k)) & 0x700);
            let pg = lat.point(g);
            for j in 0..8 {
                let w = weight[8 * k + j];
                let q = xx(k)[((pg[j] - 1) / 2) as usize] * (2 * l + 1) as f32;
                sumqx += w * q * xb[8 * k + j];
                sumq2 += w * q * q;
            }
        }
    }
    if sumq2 > 0.0 {
        d = sumqx / sumq2;
    }
    let s = fp32_to_fp16(d * 1.1125); // upstream's fudge factor
    sc[0] |= (s & 0x000f) << 12;
    sc[1] |= (s & 0x00f0) << 8;
    sc[2] |= (s & 0x0f00) << 4;
    sc[3] |= s & 0xf000;
    for (o, v) in out[48..56].chunks_exact_mut(2).zip(sc) {
        o.copy_from_slice(&v.to_le_bytes());
    }
    Ok(())
}

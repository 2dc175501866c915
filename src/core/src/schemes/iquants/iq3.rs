//! IQ3_XXS and IQ3_S: one 256-value super-block at a time, ports of `quantize_row_iq3_xxs_impl`
//! (grid of 256) and `quantize_row_iq3_s_impl` (grid of 512, `IQ3S_BLOCK_SIZE` 32) in
//! `ggml/src/ggml-quants.c`. Groups of 4 magnitudes snap to grid points of 8 levels.

use super::lattice;
use super::search::{c_max, check_scale, even_signs, plain_signs, sum_sq, Refine, Search};
use super::Abort;
use crate::schemes::kquants::reference::{fp32_to_fp16, nearest_int};

const QK_K: usize = 256;
const KMAXQ: i32 = 8;
/// `GROUP_MAX_EPS_IQ3_XXS`.
const GROUP_MAX_EPS_IQ3_XXS: f32 = 1e-8;

/// The weights of one block of 32: `qw·√(σ² + x²)` with an importance vector, `x²` without.
fn weights(xb: &[f32], qw: Option<&[f32]>, sigma2: f32, weight: &mut [f32; 32], waux: &mut [f32; 32]) {
    match qw {
        Some(qw) => {
            for i in 0..32 {
                weight[i] = qw[i] * (sigma2 + xb[i] * xb[i]).sqrt();
            }
        }
        None => {
            for i in 0..32 {
                weight[i] = xb[i] * xb[i];
            }
        }
    }
    for i in 0..32 {
        waux[i] = weight[i].sqrt();
    }
}

/// `quantize_row_iq3_xxs_impl(256, …)` for one super-block (98 bytes: f16 d, 64 grid indices,
/// 8 × u32 of four 7-bit sign indices and a 4-bit scale). `qw` may be absent.
pub(super) fn iq3_xxs(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) -> Result<(), Abort> {
    let search = Search { lattice: lattice::iq3xxs(), kmax: KMAXQ, trials: 15, step: 0.2, refine: Refine::OffGrid };
    let mut q3 = [0u8; 64];
    let mut scales_and_signs = [0u32; 8];
    let mut scales = [0.0f32; 8];
    let mut max_scale = 0.0f32;
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    let (mut weight, mut waux, mut xval) = ([0.0f32; 32], [0.0f32; 32], [0.0f32; 32]);
    for ib in 0..8 {
        let xb = &x[32 * ib..][..32];
        weights(xb, qw.map(|w| &w[32 * ib..][..32]), sigma2, &mut weight, &mut waux);
        let mut block_signs = [0u8; 4];
        for k in 0..4 {
            block_signs[k] = even_signs(&xb[8 * k..], &weight[8 * k..], &mut xval[8 * k..8 * k + 8]);
        }
        let mut max = xval[0];
        for &v in &xval[1..] {
            max = c_max(max, v);
        }
        let mut l = [0i8; 32];
        if max < GROUP_MAX_EPS_IQ3_XXS {
            scales[ib] = 0.0;
            continue;
        }
        let mut on_grid = [true; 8];
        let mut scale = search.run(&xval, &weight, &waux, max, max / (2 * KMAXQ - 1) as f32, &mut l, &mut on_grid)?;
        if scale < 0.0 {
            scale = -scale;
            for s in &mut block_signs {
                *s = !*s & 127;
            }
        }
        let mut idx = [0u16; 8];
        search.indices(&l, &mut idx)?;
        for k in 0..8 {
            q3[8 * ib + k] = idx[k] as u8;
        }
        scales_and_signs[ib] =
            block_signs[0] as u32 | (block_signs[1] as u32) << 7 | (block_signs[2] as u32) << 14 | (block_signs[3] as u32) << 21;
        check_scale(scale)?;
        scales[ib] = scale;
        max_scale = c_max(max_scale, scale);
    }
    out.fill(0);
    if max_scale == 0.0 {
        return Ok(());
    }
    let d = max_scale / 31.0;
    out[..2].copy_from_slice(&fp32_to_fp16(d * 1.0125).to_le_bytes()); // upstream's fudge factor
    let id = 1.0 / d;
    for ib in 0..8 {
        let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 15);
        scales_and_signs[ib] |= (l as u32) << 28;
    }
    out[2..66].copy_from_slice(&q3);
    for (o, s) in out[66..98].chunks_exact_mut(4).zip(scales_and_signs) {
        o.copy_from_slice(&s.to_le_bytes());
    }
    Ok(())
}

/// `quantize_row_iq3_s_impl(32, …)` for one super-block (110 bytes: f16 d, 64 low index bytes,
/// 8 bytes of high index bits, 32 sign bytes, 4 bytes of 4-bit scales). `qw` may be absent.
pub(super) fn iq3_s(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) -> Result<(), Abort> {
    let search = Search { lattice: lattice::iq3s(), kmax: KMAXQ, trials: 9, step: 0.2, refine: Refine::AllIfAnyOffGrid };
    out.fill(0);
    let mut scales = [0.0f32; 8];
    let mut max_scale = 0.0f32;
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    let (mut weight, mut waux, mut xval) = ([0.0f32; 32], [0.0f32; 32], [0.0f32; 32]);
    // Upstream advances its qs and signs pointers only past blocks it writes (a block of zeros
    // `continue`s first), so the blocks after one of zeros are written where it would have been.
    let (mut qs_at, mut signs_at) = (2usize, 74usize);
    for ib in 0..8 {
        let xb = &x[32 * ib..][..32];
        weights(xb, qw.map(|w| &w[32 * ib..][..32]), sigma2, &mut weight, &mut waux);
        let mut block_signs = [0u8; 4];
        for k in 0..4 {
            block_signs[k] = plain_signs(&xb[8 * k..], &mut xval[8 * k..8 * k + 8]);
        }
        let mut max = xval[0];
        for &v in &xval[1..] {
            max = c_max(max, v);
        }
        let mut l = [0i8; 32];
        if max == 0.0 {
            scales[ib] = 0.0;
            continue;
        }
        let mut on_grid = [false; 8];
        let mut scale = search.run(&xval, &weight, &waux, max, max / (2 * KMAXQ - 1) as f32, &mut l, &mut on_grid)?;
        if scale < 0.0 {
            scale = -scale;
            for s in &mut block_signs {
                *s = !*s;
            }
        }
        let mut idx = [0u16; 8];
        search.indices(&l, &mut idx)?;
        for k in 0..8 {
            out[qs_at + k] = idx[k] as u8;
            out[66 + ib] |= ((idx[k] >> 8) as u8) << k;
        }
        qs_at += 8;
        out[signs_at..signs_at + 4].copy_from_slice(&block_signs);
        signs_at += 4;
        check_scale(scale)?;
        scales[ib] = scale;
        max_scale = c_max(max_scale, scale);
    }
    if max_scale == 0.0 {
        return Ok(());
    }
    let d = max_scale / 31.0;
    out[..2].copy_from_slice(&fp32_to_fp16(d * 1.033).to_le_bytes()); // upstream's fudge factor
    let id = 1.0 / d;
    for ib in (0..8).step_by(2) {
        let l1 = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 15);
        let l2 = nearest_int(0.5 * (id * scales[ib + 1] - 1.0)).clamp(0, 15);
        out[106 + ib / 2] = (l1 | l2 << 4) as u8;
    }
    Ok(())
}

//! IQ2_XXS, IQ2_XS and IQ2_S: one 256-value super-block at a time, ports of
//! `quantize_row_iq2_xxs_impl`, `quantize_row_iq2_xs_impl` and `quantize_row_iq2_s_impl`
//! (`ggml/src/ggml-quants.c`). Values are split into sign bits and magnitudes; groups of 8
//! magnitudes snap to points of the E8-lattice-like grids (levels 1, 3, 5 of a sub-block scale).

use super::lattice;
use super::search::{c_max, check_scale, even_signs, plain_signs, sum_sq, Refine, Search};
use super::Abort;
use crate::schemes::kquants::reference::{fp32_to_fp16, nearest_int, GROUP_MAX_EPS};
use crate::schemes::kquants::weighted::make_qp_quants;

const QK_K: usize = 256;
/// `GROUP_MAX_EPS_IQ2_S`.
const GROUP_MAX_EPS_IQ2_S: f32 = 1e-8;

/// The 4-bit sub-block scales of a super-block: `nearest_int(0.5·(scale/d − 1))`, d = max/31.
fn scale_codes(scales: &[f32], max_scale: f32) -> (f32, impl Iterator<Item = u8> + '_) {
    let d = max_scale / 31.0;
    let id = 1.0 / d;
    (d, scales.iter().map(move |&s| nearest_int(0.5 * (id * s - 1.0)).clamp(0, 15) as u8))
}

/// `quantize_row_iq2_xxs_impl` for one super-block (66 bytes: f16 d, 16 × u32). `qw` is the
/// block's 256 importance weights (required).
pub(super) fn iq2_xxs(x: &[f32], qw: &[f32], out: &mut [u8]) -> Result<(), Abort> {
    const KMAXQ: i32 = 3;
    let search = Search { lattice: lattice::iq2xxs(), kmax: KMAXQ, trials: 6, step: 0.1, refine: Refine::All };
    let mut q2 = [0u32; 16];
    let mut scales = [0.0f32; 8];
    let mut max_scale = 0.0f32;
    let sigma2 = sum_sq(x) / QK_K as f32;
    let (mut weight, mut waux, mut xval) = ([0.0f32; 32], [0.0f32; 32], [0.0f32; 32]);
    let mut l = [0i8; 32];
    for ib in 0..8 {
        let xb = &x[32 * ib..][..32];
        let qwb = &qw[32 * ib..][..32];
        for i in 0..32 {
            weight[i] = qwb[i] * (sigma2 + xb[i] * xb[i]).sqrt();
        }
        for i in 0..32 {
            waux[i] = weight[i].sqrt();
        }
        let mut block_signs = [0u8; 4];
        for k in 0..4 {
            block_signs[k] = even_signs(&xb[8 * k..], &weight[8 * k..], &mut xval[8 * k..8 * k + 8]);
        }
        let mut max = xval[0];
        for &v in &xval[1..] {
            max = c_max(max, v);
        }
        if max < GROUP_MAX_EPS {
            scales[ib] = 0.0;
            continue;
        }
        let mut lu = [0u8; 32];
        let mut scale = make_qp_quants(KMAXQ + 1, &xval, &mut lu, &weight);
        let eff_max = scale * KMAXQ as f32;
        if eff_max <= 0.0 {
            scales[ib] = 0.0;
            continue;
        }
        for (li, &u) in l.iter_mut().zip(&lu) {
            *li = u as i8;
        }
        let mut on_grid = [true; 4];
        scale = search.run(&xval, &weight, &waux, eff_max, scale, &mut l, &mut on_grid)?;
        if scale < 0.0 {
            // "This should never happen": flip the scale and the signs.
            scale = -scale;
            for s in &mut block_signs {
                *s = !*s & 127;
            }
        }
        let mut idx = [0u16; 4];
        search.indices(&l, &mut idx)?;
        for k in 0..4 {
            q2[2 * ib] |= (idx[k] as u32) << (8 * k);
            q2[2 * ib + 1] |= (block_signs[k] as u32) << (7 * k);
        }
        check_scale(scale)?;
        scales[ib] = scale;
        max_scale = c_max(max_scale, scale);
    }
    out.fill(0);
    if max_scale == 0.0 {
        return Ok(());
    }
    let (d, codes) = scale_codes(&scales, max_scale);
    for (ib, c) in codes.enumerate() {
        q2[2 * ib + 1] |= (c as u32) << 28;
    }
    out[..2].copy_from_slice(&fp32_to_fp16(d).to_le_bytes());
    for (o, q) in out[2..66].chunks_exact_mut(4).zip(q2) {
        o.copy_from_slice(&q.to_le_bytes());
    }
    Ok(())
}

/// Whether the 16-value blocks of IQ2_XS / IQ2_S take the parity trick (IQ2_XS) or all 8 sign
/// bits (IQ2_S), and how they weigh values without an importance vector (IQ2_S only).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Iq2Kind {
    Xs,
    S,
}

/// The shared body of `quantize_row_iq2_xs_impl` and `quantize_row_iq2_s_impl`: each 16-value
/// block's scale, grid indices and sign bytes.
fn iq2_16(
    kind: Iq2Kind,
    x: &[f32],
    qw: Option<&[f32]>,
    idx: &mut [u16; 32],
    signs: &mut [u8; 32],
    scales: &mut [f32; 16],
) -> Result<f32, Abort> {
    const KMAXQ: i32 = 3;
    let lattice = if kind == Iq2Kind::Xs { lattice::iq2xs() } else { lattice::iq2s() };
    let search = Search { lattice, kmax: KMAXQ, trials: 9, step: 0.1, refine: Refine::OffGrid };
    let (eps, sigma2) = match kind {
        Iq2Kind::Xs => (GROUP_MAX_EPS, sum_sq(x) / QK_K as f32),
        Iq2Kind::S => (GROUP_MAX_EPS_IQ2_S, 2.0 * sum_sq(x) / QK_K as f32),
    };
    let mut max_scale = 0.0f32;
    let (mut weight, mut waux, mut xval) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 16]);
    for ib in 0..16 {
        let xb = &x[16 * ib..][..16];
        match qw {
            Some(qw) => {
                for i in 0..16 {
                    weight[i] = qw[16 * ib + i] * (sigma2 + xb[i] * xb[i]).sqrt();
                }
            }
            None => {
                for i in 0..16 {
                    weight[i] = 0.25 * sigma2 + xb[i] * xb[i];
                }
            }
        }
        for i in 0..16 {
            waux[i] = weight[i].sqrt();
        }
        let mut block_signs = [0u8; 2];
        for k in 0..2 {
            block_signs[k] = match kind {
                Iq2Kind::Xs => even_signs(&xb[8 * k..], &weight[8 * k..], &mut xval[8 * k..8 * k + 8]),
                Iq2Kind::S => plain_signs(&xb[8 * k..], &mut xval[8 * k..8 * k + 8]),
            };
        }
        let mut max = xval[0];
        for &v in &xval[1..] {
            max = c_max(max, v);
        }
        let mut l = [0i8; 16];
        if max < eps {
            scales[ib] = 0.0;
            continue;
        }
        let mut on_grid = [true; 2];
        let mut scale = search.run(&xval, &weight, &waux, max, max / (2 * KMAXQ - 1) as f32, &mut l, &mut on_grid)?;
        if scale < 0.0 {
            scale = -scale;
            for s in &mut block_signs {
                *s = match kind {
                    Iq2Kind::Xs => !*s & 127,
                    Iq2Kind::S => !*s,
                };
            }
        }
        search.indices(&l, &mut idx[2 * ib..2 * ib + 2])?;
        signs[2 * ib..2 * ib + 2].copy_from_slice(&block_signs);
        check_scale(scale)?;
        scales[ib] = scale;
        max_scale = c_max(max_scale, scale);
    }
    Ok(max_scale)
}

/// `quantize_row_iq2_xs_impl` for one super-block (74 bytes: f16 d, 32 × u16 of a 9-bit grid
/// index and 7 sign bits, 8 bytes of 4-bit scales). `qw` is required.
pub(super) fn iq2_xs(x: &[f32], qw: &[f32], out: &mut [u8]) -> Result<(), Abort> {
    let (mut idx, mut signs, mut scales) = ([0u16; 32], [0u8; 32], [0.0f32; 16]);
    let max_scale = iq2_16(Iq2Kind::Xs, x, Some(qw), &mut idx, &mut signs, &mut scales)?;
    out.fill(0);
    if max_scale == 0.0 {
        return Ok(());
    }
    let (d, codes) = scale_codes(&scales, max_scale);
    out[..2].copy_from_slice(&fp32_to_fp16(d).to_le_bytes());
    for (ib, c) in codes.enumerate() {
        out[66 + ib / 2] |= c << (4 * (ib % 2));
    }
    for i in 0..32 {
        // A skipped (all ~0) 16-value block left index and signs 0.
        let q = idx[i] | (signs[i] as u16) << 9;
        out[2 + 2 * i..4 + 2 * i].copy_from_slice(&q.to_le_bytes());
    }
    Ok(())
}

/// `quantize_row_iq2_s_impl` for one super-block (82 bytes: f16 d, 32 low index bytes, 32 sign
/// bytes, 8 bytes of high index bits, 8 bytes of 4-bit scales). `qw` may be absent.
pub(super) fn iq2_s(x: &[f32], qw: Option<&[f32]>, out: &mut [u8]) -> Result<(), Abort> {
    let (mut idx, mut signs, mut scales) = ([0u16; 32], [0u8; 32], [0.0f32; 16]);
    let max_scale = iq2_16(Iq2Kind::S, x, qw, &mut idx, &mut signs, &mut scales)?;
    out.fill(0);
    for i8 in 0..32 {
        out[2 + i8] = idx[i8] as u8;
        out[66 + i8 / 4] |= ((idx[i8] >> 8) as u8) << (2 * (i8 % 4));
        out[34 + i8] = signs[i8];
    }
    if max_scale == 0.0 {
        return Ok(());
    }
    let (d, codes) = scale_codes(&scales, max_scale);
    out[..2].copy_from_slice(&fp32_to_fp16(d * 0.9875).to_le_bytes());
    for (ib, c) in codes.enumerate() {
        out[74 + ib / 2] |= c << (4 * (ib % 2));
    }
    Ok(())
}

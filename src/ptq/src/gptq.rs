//! GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
//! Transformers", 2022) as the IST-DASLab reference writes it (`gptq.py`, `GPTQ.fasterquant`):
//! the columns are rounded one at a time and each rounding error is pushed onto the columns not
//! yet rounded, weighted by the inverse Hessian of the layer's output error, so that the layer's
//! output on the calibration rows — not each weight — stays close. Lazy batches of `blocksize`
//! columns, dampening, act-order and static groups follow the reference line for line, including
//! one of its quirks: a group's scales are found on the weights as the previous *blocks* left
//! them, before this block's own updates (scripts/fixtures/make_gptq.py keeps the numpy
//! transcription this is held to).

use crate::grid::{Grid, RowParams};
use crate::hessian::Hessian;
use crate::linalg;
use crate::{PtqError, Result};

/// `fasterquant`'s arguments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GptqConfig {
    /// Columns per lazy batch (128 in the reference).
    pub blocksize: usize,
    /// Dampening: this fraction of the mean diagonal is added to the diagonal (0.01).
    pub percdamp: f64,
    /// Columns per group of scales; `None`: one scale per row (the reference's `-1`).
    pub groupsize: Option<usize>,
    /// Quantize the columns in order of decreasing Hessian diagonal (`--act-order`).
    pub act_order: bool,
    /// Find every group's scales before any update (`--static-groups`): with act-order, the
    /// groups stay contiguous in the stored order, as a packed format needs.
    pub static_groups: bool,
}

impl Default for GptqConfig {
    fn default() -> GptqConfig {
        GptqConfig { blocksize: 128, percdamp: 0.01, groupsize: None, act_order: false, static_groups: false }
    }
}

/// The quantized matrix, in the original column order.
#[derive(Clone, Debug)]
pub struct GptqResult {
    pub rows: usize,
    pub cols: usize,
    pub grid: Grid,
    pub groupsize: Option<usize>,
    /// The integer codes, row-major.
    pub codes: Vec<u8>,
    /// The weights the codes stand for, row-major.
    pub values: Vec<f32>,
    /// Each weight's scale (its group's), row-major.
    pub scales: Vec<f32>,
    /// The reference's `Losses` summed over the rows, per column: (w − q)² / [H⁻¹]ᵢᵢ² / 2, the
    /// error each column's rounding leaves for the columns after it to absorb.
    pub column_losses: Vec<f64>,
}

/// GPTQ of the row-major `rows × cols` matrix `w` with the Hessian of its inputs.
pub fn gptq(w: &[f32], rows: usize, hessian: &Hessian, grid: Grid, config: &GptqConfig) -> Result<GptqResult> {
    let n = hessian.cols();
    if rows == 0 || w.len() != rows * n {
        return Err(PtqError::Shape(format!("a {rows}-row matrix of {} values does not take inputs of {n} columns", w.len())));
    }
    if let Some(bad) = w.iter().find(|v| !v.is_finite()) {
        return Err(PtqError::Calibration(format!("a weight is {bad}")));
    }
    check_config(grid, config, n)?;
    let mut h = hessian.matrix()?;
    let mut w: Vec<f64> = w.iter().map(|&v| v as f64).collect();

    let mut current: Vec<RowParams> = Vec::new();
    if config.groupsize.is_none() {
        current = grid.find_params(&w, n, 0, n);
    }
    // Columns no calibration row ever touched: their weights do not matter to the output.
    for i in 0..n {
        if h[i * n + i] == 0.0 {
            h[i * n + i] = 1.0;
            w.iter_mut().skip(i).step_by(n).for_each(|v| *v = 0.0);
        }
    }
    let static_groups: Vec<Vec<RowParams>> = match (config.static_groups, config.groupsize) {
        (true, Some(g)) => (0..n).step_by(g).map(|c| grid.find_params(&w, n, c, g.min(n - c))).collect(),
        _ => Vec::new(),
    };
    // Act-order: the columns with the largest Hessian diagonal first, equal diagonals in column
    // order (a stable sort). An insertion sort: O(n²) comparisons are nothing beside GPTQ's
    // O(rows · n²), and the page module is spared another copy of the library's sort.
    let perm: Option<Vec<usize>> = config.act_order.then(|| {
        let mut p: Vec<usize> = Vec::with_capacity(n);
        for c in 0..n {
            let at = p.iter().position(|&q| h[q * n + q] < h[c * n + c]).unwrap_or(p.len());
            p.insert(at, c);
        }
        p
    });
    if let Some(p) = &perm {
        w = w.chunks_exact(n).flat_map(|row| p.iter().map(move |&c| row[c])).collect();
        h = p.iter().flat_map(|&i| p.iter().map(|&j| h[i * n + j]).collect::<Vec<_>>()).collect();
    }
    let damp = config.percdamp * (0..n).map(|i| h[i * n + i]).sum::<f64>() / n as f64;
    for i in 0..n {
        h[i * n + i] += damp;
    }
    let l = linalg::cholesky(&h, n)?;
    let hinv = linalg::cholesky_upper(&linalg::cholesky_inverse(&l, n), n)?;

    let mut codes = vec![0u8; rows * n];
    let mut values = vec![0f32; rows * n];
    let mut scales = vec![0f32; rows * n];
    let mut losses = vec![0f64; n];
    let mut lazy = vec![0f64; n];
    for i1 in (0..n).step_by(config.blocksize) {
        let i2 = (i1 + config.blocksize).min(n);
        let count = i2 - i1;
        // W1: this block's columns, updated column by column; `w` keeps them as they came.
        let mut w1: Vec<f64> = w.chunks_exact(n).flat_map(|row| row[i1..i2].iter().copied()).collect();
        let mut err1 = vec![0f64; rows * count];
        for i in 0..count {
            let col = i1 + i;
            let d = hinv[col * n + col];
            if let Some(g) = config.groupsize {
                if config.static_groups {
                    let original = perm.as_ref().map_or(col, |p| p[col]);
                    current = static_groups[original / g].clone();
                } else if col % g == 0 {
                    current = grid.find_params(&w, n, col, g.min(n - col));
                }
            }
            let hrow = &hinv[col * n + i1..col * n + i2];
            for r in 0..rows {
                let row = &mut w1[r * count..(r + 1) * count];
                let x = row[i];
                let p = &current[r];
                let q = grid.code(p, x);
                let v = grid.value(p, q);
                codes[r * n + col] = q;
                values[r * n + col] = v as f32;
                scales[r * n + col] = p.scale as f32;
                losses[col] += (x - v) * (x - v) / (d * d);
                let e = (x - v) / d;
                err1[r * count + i] = e;
                if e == 0.0 {
                    continue;
                }
                for (wj, &hj) in row[i..].iter_mut().zip(&hrow[i..]) {
                    *wj -= e * hj;
                }
            }
        }
        // W[:, i2:] -= Err1 · Hinv[i1:i2, i2:]
        for r in 0..rows {
            let acc = &mut lazy[i2..];
            acc.fill(0.0);
            for k in 0..count {
                let e = err1[r * count + k];
                for (a, &hv) in acc.iter_mut().zip(&hinv[(i1 + k) * n + i2..(i1 + k + 1) * n]) {
                    *a += e * hv;
                }
            }
            for (wv, a) in w[r * n + i2..(r + 1) * n].iter_mut().zip(acc.iter()) {
                *wv -= a;
            }
        }
    }
    losses.iter_mut().for_each(|v| *v /= 2.0);
    if let Some(p) = &perm {
        // Back to the stored order: permuted column k is original column p[k].
        codes = unpermute(&codes, p, n);
        values = unpermute(&values, p, n);
        scales = unpermute(&scales, p, n);
        let mut l = vec![0.0; n];
        for (k, &c) in p.iter().enumerate() {
            l[c] = losses[k];
        }
        losses = l;
    }
    Ok(GptqResult { rows, cols: n, grid, groupsize: config.groupsize, codes, values, scales, column_losses: losses })
}

/// Round-to-nearest on the same grid and groups: what GPTQ gives when no error is pushed onward
/// (each group's scales found on the weights as they are).
pub fn round_to_nearest(w: &[f32], rows: usize, grid: Grid, groupsize: Option<usize>) -> Result<GptqResult> {
    if rows == 0 || w.len() % rows != 0 {
        return Err(PtqError::Shape(format!("{} values are not {rows} rows", w.len())));
    }
    let cols = w.len() / rows;
    check_config(grid, &GptqConfig { groupsize, ..Default::default() }, cols)?;
    let wd: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    let g = groupsize.unwrap_or(cols);
    let mut codes = vec![0u8; w.len()];
    let mut values = vec![0f32; w.len()];
    let mut scales = vec![0f32; w.len()];
    for c0 in (0..cols).step_by(g) {
        let width = g.min(cols - c0);
        for (r, p) in grid.find_params(&wd, cols, c0, width).iter().enumerate() {
            for c in r * cols + c0..r * cols + c0 + width {
                let q = grid.code(p, wd[c]);
                codes[c] = q;
                values[c] = grid.value(p, q) as f32;
                scales[c] = p.scale as f32;
            }
        }
    }
    Ok(GptqResult { rows, cols, grid, groupsize, codes, values, scales, column_losses: vec![0.0; cols] })
}

fn unpermute<T: Copy + Default>(v: &[T], perm: &[usize], n: usize) -> Vec<T> {
    let mut out = vec![T::default(); v.len()];
    for (row_in, row_out) in v.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        for (k, &c) in perm.iter().enumerate() {
            row_out[c] = row_in[k];
        }
    }
    out
}

fn check_config(grid: Grid, c: &GptqConfig, cols: usize) -> Result<()> {
    if c.blocksize == 0 {
        return Err(PtqError::Setting("a block of 0 columns".into()));
    }
    if !(c.percdamp > 0.0 && c.percdamp.is_finite()) {
        return Err(PtqError::Setting(format!("dampening {} (it must be above 0: the Hessian may be singular)", c.percdamp)));
    }
    if let Grid::MinMax { bits, .. } | Grid::ZeroPoint { bits } = grid {
        if !(2..=8).contains(&bits) {
            return Err(PtqError::Setting(format!("{bits}-bit codes (2 to 8 bits are offered)")));
        }
    }
    if c.groupsize == Some(0) {
        return Err(PtqError::Setting("groups of 0 columns".into()));
    }
    if c.static_groups && c.groupsize.is_none() {
        return Err(PtqError::Setting("static groups without a group size".into()));
    }
    if let Some(g) = grid.fixed_group() {
        if c.groupsize != Some(g) || cols % g != 0 {
            return Err(PtqError::Setting(format!(
                "{} needs groups of {g} columns and rows a multiple of {g} long ({cols} here)",
                grid.label()
            )));
        }
    }
    Ok(())
}

impl GptqResult {
    /// The matrix as llama.cpp's Q4_0 blocks (`block_q4_0`: fp16 d, then 16 bytes holding codes
    /// j and j + 16 in the low and high nibble), row after row. Only for the Q4_0 grid, with
    /// each block's 32 columns sharing one scale (act-order needs static groups for that).
    pub fn q4_0_blocks(&self) -> Result<Vec<u8>> {
        if self.grid != Grid::Q4_0 {
            return Err(PtqError::Setting(format!("{} codes are not Q4_0 blocks", self.grid.label())));
        }
        let mut out = Vec::with_capacity(self.codes.len() / 32 * 18);
        for (codes, scales) in self.codes.chunks_exact(32).zip(self.scales.chunks_exact(32)) {
            if scales.iter().any(|&s| s.to_bits() != scales[0].to_bits()) {
                return Err(PtqError::Setting("a block's columns have different scales: with act-order, use static groups".into()));
            }
            out.extend_from_slice(&half::f16::from_f32(scales[0]).to_le_bytes());
            out.extend((0..16).map(|j| codes[j] | codes[j + 16] << 4));
        }
        Ok(out)
    }
}

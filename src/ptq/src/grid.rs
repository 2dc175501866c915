//! The grids a column of weights is rounded onto, one group of columns at a time, each row with
//! its own scale and zero point.

use half::f16;

/// How a group of weights becomes integer codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grid {
    /// The references' quantizer (GPTQ's `quant.py` `Quantizer`, perchannel, mse off): over the
    /// group's values of one row, min and max with 0 always inside; `symmetric`: ±max(|min|, max)
    /// with the zero point (2^bits) / 2; otherwise scale (max − min) / (2^bits − 1) and the zero
    /// point round(−min / scale). Codes clamp(round(w / scale) + zero, 0, 2^bits − 1), rounding
    /// half to even as torch.round.
    MinMax { bits: u32, symmetric: bool },
    /// llm-awq's quantizer (`awq/quantize/quantizer.py`, `pseudo_quantize_tensor` with
    /// zero_point=True), in f32: over the group's values of one row, scale
    /// max(max − min, 1e-5) / (2^bits − 1) — 0 need not be inside the range, unlike
    /// [`Grid::MinMax`] — and the zero point clamp(−round(min / scale), 0, 2^bits − 1); codes
    /// clamp(round(w / scale) + zero, 0, 2^bits − 1), values (q − zero) · scale.
    ZeroPoint { bits: u32 },
    /// llama.cpp's Q4_0 (`ggml-quants.c`, `quantize_row_q4_0_ref`, in f32): d = max / −8 where
    /// max is the value of largest magnitude (the first of equals), codes trunc(w / d + 8.5)
    /// clamped to 0..=15 (GPTQ's feedback can push a value past the group's range, which the C
    /// code never sees), values fp16(d) · (q − 8). Groups of 32.
    Q4_0,
}

/// One row's scale and zero point for the current group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowParams {
    /// The step between two codes (for Q4_0: fp16(d) as f32, the scale stored in the block).
    pub scale: f64,
    pub zero: f64,
    /// Q4_0's 1/d in f32 (the unrounded d's reciprocal, as the C code multiplies by it).
    inverse: f32,
}

impl Grid {
    /// The largest code.
    pub fn max_code(self) -> u32 {
        match self {
            Grid::MinMax { bits, .. } | Grid::ZeroPoint { bits } => (1 << bits) - 1,
            Grid::Q4_0 => 15,
        }
    }

    /// The group size the grid's format fixes, if any (Q4_0's blocks are 32 columns).
    pub fn fixed_group(self) -> Option<usize> {
        match self {
            Grid::MinMax { .. } | Grid::ZeroPoint { .. } => None,
            Grid::Q4_0 => Some(32),
        }
    }

    /// Each row's parameters for columns `c0 .. c0 + width` of the row-major `rows × cols` `w`.
    pub fn find_params(self, w: &[f64], cols: usize, c0: usize, width: usize) -> Vec<RowParams> {
        w.chunks_exact(cols).map(|row| self.params_of(&row[c0..c0 + width])).collect()
    }

    /// The parameters of one row's group of values.
    pub(crate) fn params_of(self, x: &[f64]) -> RowParams {
        match self {
            Grid::MinMax { bits, symmetric } => {
                let maxq = ((1u32 << bits) - 1) as f64;
                let mut xmin = x.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
                let mut xmax = x.iter().copied().fold(f64::NEG_INFINITY, f64::max).max(0.0);
                if symmetric {
                    xmax = xmax.max(xmin.abs());
                    if xmin < 0.0 {
                        xmin = -xmax;
                    }
                }
                if xmin == 0.0 && xmax == 0.0 {
                    (xmin, xmax) = (-1.0, 1.0);
                }
                let scale = (xmax - xmin) / maxq;
                let zero = if symmetric { (maxq + 1.0) / 2.0 } else { (-xmin / scale).round_ties_even() };
                RowParams { scale, zero, inverse: 0.0 }
            }
            Grid::ZeroPoint { bits } => {
                // f32 throughout, as the reference runs on f32 (or f16) tensors.
                let maxq = ((1u32 << bits) - 1) as f32;
                let max = x.iter().map(|&v| v as f32).fold(f32::NEG_INFINITY, f32::max);
                let min = x.iter().map(|&v| v as f32).fold(f32::INFINITY, f32::min);
                let scale = (max - min).max(1e-5) / maxq;
                let zero = (-(min / scale).round_ties_even()).clamp(0.0, maxq);
                RowParams { scale: scale as f64, zero: zero as f64, inverse: 0.0 }
            }
            Grid::Q4_0 => {
                let mut amax = 0f32;
                let mut max = 0f32;
                for &v in x {
                    let v = v as f32;
                    if amax < v.abs() {
                        amax = v.abs();
                        max = v;
                    }
                }
                let d = max / -8.0;
                let inverse = if d != 0.0 { 1.0 / d } else { 0.0 };
                RowParams { scale: f16::from_f32(d).to_f32() as f64, zero: 8.0, inverse }
            }
        }
    }

    /// The code of `x` under `p`.
    pub fn code(self, p: &RowParams, x: f64) -> u8 {
        match self {
            Grid::MinMax { .. } => ((x / p.scale).round_ties_even() + p.zero).clamp(0.0, self.max_code() as f64) as u8,
            Grid::ZeroPoint { .. } => {
                ((x as f32 / p.scale as f32).round_ties_even() + p.zero as f32).clamp(0.0, self.max_code() as f32) as u8
            }
            Grid::Q4_0 => {
                let x0 = x as f32 * p.inverse;
                (x0 + 8.5).trunc().clamp(0.0, 15.0) as u8
            }
        }
    }

    /// The value code `q` stands for.
    pub fn value(self, p: &RowParams, q: u8) -> f64 {
        match self {
            Grid::MinMax { .. } => p.scale * (q as f64 - p.zero),
            Grid::ZeroPoint { .. } => ((q as f32 - p.zero as f32) * p.scale as f32) as f64,
            Grid::Q4_0 => (p.scale as f32 * (q as f32 - 8.0)) as f64,
        }
    }

    /// Bits per weight stored with groups of `group` columns (`None`: one scale per row of
    /// `cols`): the codes, plus an fp16 scale per group, plus the zero point's bits when it is
    /// stored (asymmetric MinMax, as GPTQ's packed checkpoints keep it).
    pub fn bits_per_weight(self, group: Option<usize>, cols: usize) -> f64 {
        let g = group.unwrap_or(cols) as f64;
        match self {
            Grid::MinMax { bits, symmetric } => bits as f64 + (16.0 + if symmetric { 0.0 } else { bits as f64 }) / g,
            // llm-awq's packed checkpoints: fp16 scales and `bits`-bit zero points per group.
            Grid::ZeroPoint { bits } => bits as f64 + (16.0 + bits as f64) / g,
            Grid::Q4_0 => 4.5,
        }
    }

    pub fn label(self) -> String {
        match self {
            Grid::MinMax { bits, symmetric } => format!("int{bits}{}", if symmetric { " sym" } else { "" }),
            Grid::ZeroPoint { bits } => format!("int{bits} zero-point (llm-awq)"),
            Grid::Q4_0 => "Q4_0".into(),
        }
    }
}

//! torch.ao's range observers and `_calculate_qparams`.
//!
//! Followed: `torch/ao/quantization/observer.py` of torch 1.13 (`MinMaxObserver`,
//! `MovingAverageMinMaxObserver`, `PerChannelMinMaxObserver`,
//! `MovingAveragePerChannelMinMaxObserver`, `UniformQuantizationObserverBase._calculate_qparams`).
//! All arithmetic is f32, as torch's float32 buffers compute it; checked bit for bit in
//! `tests/torch_fake_quant.rs`.

use crate::fake_quant::QRange;
use crate::{Error, Result};

/// `torch.finfo(torch.float32).eps`, the observers' default smallest scale.
pub const EPS: f32 = f32::EPSILON;
/// `MovingAverageMinMaxObserver`'s default `averaging_constant`.
pub const AVERAGING_CONSTANT: f32 = 0.01;

/// Symmetric (zero at a fixed code) or affine (zero point from the range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symmetry {
    Symmetric,
    Affine,
}

/// The observer's integer type: torch's `qint8` (signed codes) or `quint8` (unsigned codes).
/// Matters for the symmetric zero point (0 for signed, the range's midpoint for unsigned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signedness {
    Signed,
    Unsigned,
}

/// How the range follows the data: the running min/max, or torch's exponential moving average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Averaging {
    /// `MinMaxObserver`: min over everything seen, max likewise.
    MinMax,
    /// `MovingAverageMinMaxObserver`: `min += c · (batch_min − min)` after the first batch.
    MovingAverage(f32),
}

/// Per tensor, or per channel along axis 0 of a row-major `[channels, inner]` tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    PerTensor,
    PerChannel,
}

/// The quantization a fake-quant node simulates: `bits` (2–8), its signedness, symmetry, granularity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantSpec {
    pub bits: u32,
    pub signedness: Signedness,
    pub symmetry: Symmetry,
    pub granularity: Granularity,
    pub averaging: Averaging,
}

impl QuantSpec {
    /// The integer range of `bits` bits: signed `-2^(b-1)..=2^(b-1)-1`, unsigned `0..=2^b-1`.
    /// Refuses bit widths outside 2–8 and 1-bit schemes (no room for a zero and a sign).
    pub fn range(&self) -> Result<QRange> {
        if !(2..=8).contains(&self.bits) {
            return Err(Error::Config(format!("{} bits: fake quantization takes 2 to 8 bits", self.bits)));
        }
        if let Averaging::MovingAverage(c) = self.averaging {
            if !(c > 0.0 && c <= 1.0) {
                return Err(Error::Config(format!("averaging constant {c} must be in (0, 1]")));
            }
        }
        match self.signedness {
            Signedness::Signed => QRange::new(-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1),
            Signedness::Unsigned => QRange::new(0, (1 << self.bits) - 1),
        }
    }
}

/// The observed range: one (min, max) per channel (one entry per tensor). Starts at (+inf, −inf)
/// as torch's buffers do.
#[derive(Debug, Clone, PartialEq)]
pub struct Observer {
    pub spec: QuantSpec,
    pub range: QRange,
    pub min_val: Vec<f32>,
    pub max_val: Vec<f32>,
    pub eps: f32,
}

impl Observer {
    pub fn new(spec: QuantSpec) -> Result<Self> {
        Ok(Observer { range: spec.range()?, spec, min_val: Vec::new(), max_val: Vec::new(), eps: EPS })
    }

    /// Whether anything has been observed yet.
    pub fn has_range(&self) -> bool {
        !self.min_val.is_empty()
    }

    /// Observes a row-major tensor of `channels` rows (`channels` is ignored per tensor).
    pub fn observe(&mut self, x: &[f32], channels: usize) {
        if x.is_empty() {
            return; // torch returns early on numel() == 0
        }
        let (cur_min, cur_max) = match self.spec.granularity {
            Granularity::PerTensor => {
                let (lo, hi) = aminmax(x);
                (vec![lo], vec![hi])
            }
            Granularity::PerChannel => {
                assert!(channels > 0 && x.len() % channels == 0, "{} values in {channels} channels", x.len());
                let inner = x.len() / channels;
                x.chunks_exact(inner).map(aminmax).unzip()
            }
        };
        if !self.has_range() {
            self.min_val = cur_min;
            self.max_val = cur_max;
            return;
        }
        assert_eq!(self.min_val.len(), cur_min.len(), "channel count changed between observations");
        for c in 0..cur_min.len() {
            match self.spec.averaging {
                // torch.min(cur, min_val) / torch.max: NaN propagates as torch's min/max do.
                Averaging::MinMax => {
                    self.min_val[c] = torch_min(cur_min[c], self.min_val[c]);
                    self.max_val[c] = torch_max(cur_max[c], self.max_val[c]);
                }
                Averaging::MovingAverage(k) => {
                    self.min_val[c] += k * (cur_min[c] - self.min_val[c]);
                    self.max_val[c] += k * (cur_max[c] - self.max_val[c]);
                }
            }
        }
    }

    /// `_calculate_qparams`: (scales, zero points), one per channel. Before any observation,
    /// torch returns scale 1 and zero point 0 (with a warning); so does this.
    pub fn qparams(&self) -> (Vec<f32>, Vec<i32>) {
        if !self.has_range() {
            return (vec![1.0], vec![0]);
        }
        let QRange { quant_min, quant_max } = self.range;
        let mut scales = Vec::with_capacity(self.min_val.len());
        let mut zero_points = Vec::with_capacity(self.min_val.len());
        for (&lo, &hi) in self.min_val.iter().zip(&self.max_val) {
            let min_neg = torch_min(lo, 0.0);
            let max_pos = torch_max(hi, 0.0);
            let (scale, zp) = match self.spec.symmetry {
                Symmetry::Symmetric => {
                    let max_abs = torch_max(-min_neg, max_pos);
                    let scale = torch_max(max_abs / ((quant_max - quant_min) as f32 / 2.0), self.eps);
                    // quint8 with a customised range (always ours): the rounded-down midpoint.
                    let zp = match self.spec.signedness {
                        Signedness::Signed => 0,
                        Signedness::Unsigned => (quant_min + quant_max).div_euclid(2),
                    };
                    (scale, zp)
                }
                Symmetry::Affine => {
                    let scale = torch_max((max_pos - min_neg) / (quant_max - quant_min) as f32, self.eps);
                    // quant_min - round(min_neg / scale).to(int), clamped into the range.
                    let zp = quant_min as i64 - (min_neg / scale).round_ties_even() as i64;
                    (scale, zp.clamp(quant_min as i64, quant_max as i64) as i32)
                }
            };
            scales.push(scale);
            zero_points.push(zp);
        }
        (scales, zero_points)
    }
}

/// `torch.aminmax` of a non-empty slice (NaN wins, as torch's reductions propagate it). Eight
/// lanes of plain comparisons, NaN noted apart: the page vectorises them to `f32x4.pmin/pmax`,
/// where the fold over `f32::min`/`max` it replaces called libm's `fminf`/`fmaxf` per element
/// (with the NaN checks, a quarter of a QAT conv net step). The lanes can pick another zero's
/// sign than that fold; `_calculate_qparams` clamps the range to include 0, so the qparams
/// cannot differ.
fn aminmax(x: &[f32]) -> (f32, f32) {
    const L: usize = 8;
    let (mut lo, mut hi, mut nan) = ([f32::INFINITY; L], [f32::NEG_INFINITY; L], [false; L]);
    let chunks = x.chunks_exact(L);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..L {
            let v = c[k];
            lo[k] = if v < lo[k] { v } else { lo[k] };
            hi[k] = if v > hi[k] { v } else { hi[k] };
            nan[k] |= v.is_nan();
        }
    }
    let mut any_nan = nan.iter().any(|&n| n);
    let (mut lo, mut hi) = lo.iter().zip(&hi).fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), (&a, &b)| (l.min(a), h.max(b)));
    for &v in rest {
        lo = lo.min(v);
        hi = hi.max(v);
        any_nan |= v.is_nan();
    }
    if any_nan {
        (f32::NAN, f32::NAN)
    } else {
        (lo, hi)
    }
}

/// `torch.min(a, b)` elementwise: NaN if either is NaN.
fn torch_min(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.min(b)
    }
}

fn torch_max(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

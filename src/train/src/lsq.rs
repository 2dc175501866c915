//! LSQ, learned step size quantization (Esser et al., ICLR 2020), as torch.ao's
//! `_LearnableFakeQuantize` (torch 1.13, `torch/ao/quantization/_learnable_fake_quantize.py`)
//! computes it: the scale (and, affine, the zero point) are parameters the optimizer learns from
//! their own gradients instead of buffers an observer sets.
//!
//! Followed, besides the module: `aten/src/ATen/native/quantized/FakeQuantPerTensorAffine.cpp`
//! and `FakeQuantPerChannelAffine.cpp` (`_fake_quantize_learnable_per_{tensor,channel}_affine`
//! and their `_backward`), and the CPU kernels `fake_quantize_learnable_{tensor,channel}_grad_kernel_cpu`
//! of `cpu/kernels/QuantizedOpKernels.cpp`:
//!
//! ```text
//! forward:  the plain fake quant with zero point round(zp) clamped into the range
//!           (per tensor C's nearbyint, per channel torch.round: both ties to even)
//! backward, per element (z: per tensor trunc(clamp(zp + 0.5)), per channel the rounded zp):
//!   q      = nearbyint(z + x / s)                       (x · inv_scale in f32)
//!   dx     = dy · [qmin ≤ q ≤ qmax]                     (straight through inside the range)
//!   ds     = dy · (fq(x) − x) / s · g   inside;  dy · (qmin − z) · g below;  dy · (qmax − z) · g above
//!   dz     = 0 inside;  −dy · s · g outside
//! g = grad_factor: 1, or 1/√(numel · quant_max) with `use_grad_scaling` (the LSQ paper's scaling).
//! ```
//! The scale's and zero point's gradients are the sums of `ds` and `dz` over the tensor (per
//! channel: over each channel's row). Checked against torch in `tests/torch_lsq.rs`: outputs and
//! `dx` bit for bit; the sums, which torch reduces with its own vectorised order, to 1e-6 of Σ|terms|.

use crate::fake_quant::{self, QRange};
use crate::observer::{Granularity, Observer, QuantSpec, Symmetry, EPS};
use crate::Result;

/// The zero point the per-tensor forward uses: `_get_zero_point_from_tensor(.., is_forward=true)`.
fn forward_zero_point(zp: f32, range: QRange) -> i32 {
    zp.round_ties_even().max(range.quant_min as f32).min(range.quant_max as f32) as i32
}

/// The zero point the per-tensor backward uses (`is_forward=false`): `zp + 0.5`, clamped, then
/// truncated by the cast to int64; this differs from the forward's for halves such as 2.5.
fn backward_zero_point(zp: f32, range: QRange) -> f32 {
    ((zp + 0.5).max(range.quant_min as f32).min(range.quant_max as f32) as i64) as f32
}

/// The per-channel zero point, forward and backward: `zero_point.round().clamp_(qmin, qmax)`.
fn channel_zero_point(zp: f32, range: QRange) -> f32 {
    zp.round_ties_even().clamp(range.quant_min as f32, range.quant_max as f32)
}

/// `grad_factor` as the module computes it (`1.0 / (X.numel() * quant_max) ** 0.5` in f64,
/// passed to the kernel as float).
pub fn grad_factor(numel: usize, range: QRange, use_grad_scaling: bool) -> f32 {
    if use_grad_scaling {
        (1.0 / (numel as f64 * range.quant_max as f64).sqrt()) as f32
    } else {
        1.0
    }
}

/// The learnable forward of one row of elements that share a scale and an integer zero point
/// (the kernels are the plain fake quant's).
pub fn forward_per_tensor(x: &[f32], scale: f32, zero_point: f32, range: QRange, out: &mut [f32], mask: &mut [bool]) {
    fake_quant::per_tensor(x, scale, forward_zero_point(zero_point, range), range, out, mask);
}

/// `_fake_quantize_learnable_per_channel_affine` along axis 0 of a row-major `[channels, inner]` tensor.
pub fn forward_per_channel(x: &[f32], scales: &[f32], zero_points: &[f32], range: QRange, out: &mut [f32], mask: &mut [bool]) {
    let zps: Vec<i32> = zero_points.iter().map(|&z| channel_zero_point(z, range) as i32).collect();
    fake_quant::per_channel(x, scales, &zps, range, out, mask);
}

/// The backward kernel over elements sharing `scale` and the (already rounded) zero point `z`:
/// writes `dx` and returns Σ ds and Σ dz (summed in f64).
fn grad_row(x: &[f32], dy: &[f32], scale: f32, z: f32, range: QRange, factor: f32, dx: &mut [f32]) -> (f32, f32) {
    let inv_scale = 1.0f32 / scale;
    let (qmin, qmax) = (range.quant_min as f32, range.quant_max as f32);
    let (dscale_small, dscale_big) = (qmin - z, qmax - z);
    let (mut dscale, mut dzero) = (0f64, 0f64);
    for ((&xi, &g), d) in x.iter().zip(dy).zip(dx.iter_mut()) {
        let q = (z + xi * inv_scale).round_ties_even();
        let inside = qmin <= q && q <= qmax;
        *d = g * if inside { 1.0 } else { 0.0 };
        if inside {
            let fq = (q - z) * scale;
            dscale += (g * (fq - xi) * inv_scale * factor) as f64;
        } else {
            dzero += (-g * scale * factor) as f64; // torch: dy · (−1) · scale · g, the same bits
            dscale += ((if q < qmin { g * dscale_small } else { g * dscale_big }) * factor) as f64;
        }
    }
    (dscale as f32, dzero as f32)
}

/// `_fake_quantize_learnable_per_tensor_affine_backward`: `dx`, and the scale's and zero
/// point's gradients.
pub fn backward_per_tensor(x: &[f32], dy: &[f32], scale: f32, zero_point: f32, range: QRange, factor: f32, dx: &mut [f32]) -> (f32, f32) {
    assert_eq!(x.len(), dy.len());
    assert_eq!(x.len(), dx.len());
    grad_row(x, dy, scale, backward_zero_point(zero_point, range), range, factor, dx)
}

/// `_fake_quantize_learnable_per_channel_affine_backward` along axis 0 of `[channels, inner]`:
/// `dx`, and one scale and zero-point gradient per channel into `dscale` / `dzero`.
#[allow(clippy::too_many_arguments)]
pub fn backward_per_channel(
    x: &[f32],
    dy: &[f32],
    scales: &[f32],
    zero_points: &[f32],
    range: QRange,
    factor: f32,
    dx: &mut [f32],
    dscale: &mut [f32],
    dzero: &mut [f32],
) {
    let channels = scales.len();
    assert!(channels > 0 && x.len() % channels == 0 && x.len() == dy.len() && x.len() == dx.len());
    assert!(zero_points.len() == channels && dscale.len() == channels && dzero.len() == channels);
    let inner = x.len() / channels;
    for c in 0..channels {
        let span = c * inner..(c + 1) * inner;
        let z = channel_zero_point(zero_points[c], range);
        (dscale[c], dzero[c]) = grad_row(&x[span.clone()], &dy[span.clone()], scales[c], z, range, factor, &mut dx[span]);
    }
}

/// The `_LearnableFakeQuantize` module: an observer for the static estimate, and the scale and
/// zero point as parameters (one each per tensor, or per output channel).
#[derive(Debug, Clone, PartialEq)]
pub struct LearnableFakeQuantize {
    pub observer: Observer,
    /// The parameters (torch's `scale` / `zero_point` Parameters; the zero point is a float).
    pub scale: Vec<f32>,
    pub zero_point: Vec<f32>,
    /// `static_enabled`: the observer sets the parameters on each forward.
    pub static_enabled: bool,
    /// `learning_enabled`: the parameters receive gradients.
    pub learning_enabled: bool,
    pub fake_quant_enabled: bool,
    pub use_grad_scaling: bool,
}

impl LearnableFakeQuantize {
    /// `channel_len` parameters (1 per tensor; the output neurons per channel), starting as torch's
    /// (scale 1, zero point 0), in torch's `enable_static_estimate` state: the observer sets them,
    /// nothing is learned until [`LearnableFakeQuantize::enable_param_learning`].
    pub fn new(spec: QuantSpec, channel_len: usize, use_grad_scaling: bool) -> Result<Self> {
        let channel_len = if spec.granularity == Granularity::PerTensor { 1 } else { channel_len.max(1) };
        Ok(LearnableFakeQuantize {
            observer: Observer::new(spec)?,
            scale: vec![1.0; channel_len],
            zero_point: vec![0.0; channel_len],
            static_enabled: true,
            learning_enabled: false,
            fake_quant_enabled: true,
            use_grad_scaling,
        })
    }

    pub fn range(&self) -> QRange {
        self.observer.range
    }

    /// torch's `enable_param_learning`: learn the parameters, the observer off, fake quant on.
    pub fn enable_param_learning(&mut self) {
        (self.learning_enabled, self.fake_quant_enabled, self.static_enabled) = (true, true, false);
    }

    /// Forward of a row-major `[channels, inner]` tensor, as the module's `forward`.
    pub fn forward(&mut self, x: &[f32], channels: usize, out: &mut [f32], mask: &mut [bool]) {
        if self.static_enabled {
            self.observer.observe(x, channels);
            let (scales, zero_points) = self.observer.qparams();
            // `self.scale.data.copy_(_scale)`: the shapes agree, or the one value broadcasts.
            for (i, (s, z)) in self.scale.iter_mut().zip(self.zero_point.iter_mut()).enumerate() {
                *s = scales[i.min(scales.len() - 1)];
                *z = zero_points[i.min(zero_points.len() - 1)] as f32;
            }
        } else {
            // `self.scale.data.clamp_(min=eps)` (NaN stays NaN, as torch's clamp).
            self.scale.iter_mut().filter(|s| **s < EPS).for_each(|s| *s = EPS);
        }
        if !self.fake_quant_enabled {
            out.copy_from_slice(x);
            mask.fill(true);
            return;
        }
        if self.observer.spec.symmetry == Symmetry::Symmetric {
            self.zero_point.fill(0.0);
        }
        match self.observer.spec.granularity {
            Granularity::PerTensor => forward_per_tensor(x, self.scale[0], self.zero_point[0], self.range(), out, mask),
            Granularity::PerChannel => forward_per_channel(x, &self.scale, &self.zero_point, self.range(), out, mask),
        }
    }

    /// Backward of the last forward (same `x`, the parameters as that forward left them): writes
    /// `dx`, and the parameters' gradients into `dscale` / `dzero` (zero while fake quant is off).
    pub fn backward(&self, x: &[f32], channels: usize, dy: &[f32], dx: &mut [f32], dscale: &mut [f32], dzero: &mut [f32]) {
        if !self.fake_quant_enabled {
            dx.copy_from_slice(dy);
            dscale.fill(0.0);
            dzero.fill(0.0);
            return;
        }
        let factor = grad_factor(x.len(), self.range(), self.use_grad_scaling);
        match self.observer.spec.granularity {
            Granularity::PerTensor => {
                (dscale[0], dzero[0]) = backward_per_tensor(x, dy, self.scale[0], self.zero_point[0], self.range(), factor, dx);
            }
            Granularity::PerChannel => {
                assert_eq!(channels, self.scale.len(), "one scale per channel");
                backward_per_channel(x, dy, &self.scale, &self.zero_point, self.range(), factor, dx, dscale, dzero);
            }
        }
    }
}

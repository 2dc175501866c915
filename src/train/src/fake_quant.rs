//! `torch.fake_quantize_per_tensor_affine` and `torch.fake_quantize_per_channel_affine` on CPU:
//! quantize to integers and back in one step, and the straight-through estimator for the
//! backward pass.
//!
//! Followed: PyTorch's `aten/src/ATen/native/quantized/cpu/kernels/QuantizedOpKernels.cpp`
//! (`_fake_quantize_tensor_helper`, `fake_quant_per_channel_cachemask_cpu`) and
//! `FakeQuantPerTensorAffine.cpp` (`fake_quantize_per_tensor_affine_cachemask_backward`):
//!
//! ```text
//! inv_scale = 1.0f / scale                          (f32)
//! q         = zero_point + nearbyint(x * inv_scale) (x * inv_scale in f32, ties to even)
//! y         = (clamp(q, quant_min, quant_max) - zero_point) * scale
//! mask      = quant_min <= q <= quant_max           (the gradient passes only there)
//! ```
//! Checked bit for bit against torch 1.13 in `tests/torch_fake_quant.rs`.

use crate::{Error, Result};

/// A quantization grid: integers `quant_min..=quant_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QRange {
    pub quant_min: i32,
    pub quant_max: i32,
}

impl QRange {
    /// torch's `_validate_qmin_qmax`: the range includes 0 and has at least two levels; and
    /// (as `calculate_qmin_qmax` for qint8/quint8) no more than 256.
    pub fn new(quant_min: i32, quant_max: i32) -> Result<Self> {
        if !(quant_min <= 0 && 0 <= quant_max) {
            return Err(Error::Config(format!("quantization range {quant_min}..={quant_max} must include 0")));
        }
        if quant_min >= quant_max {
            return Err(Error::Config(format!("quantization range {quant_min}..={quant_max} needs quant_min < quant_max")));
        }
        if quant_max as i64 - quant_min as i64 + 1 > 256 {
            return Err(Error::Config(format!("quantization range {quant_min}..={quant_max} exceeds 256 levels")));
        }
        Ok(QRange { quant_min, quant_max })
    }
}

/// One element: the fake-quantized value and whether the gradient passes (inside the clamp range).
#[inline]
pub fn fake_quantize_one(x: f32, scale: f32, zero_point: i32, range: QRange) -> (f32, bool) {
    let (clamped, inside) = quantize_one(x, scale, zero_point, range);
    let y = (clamped - zero_point as f32) * scale;
    (y, inside)
}

/// One element's integer code (clamped, as an f32) and whether it was inside the range before
/// the clamp: the first half of [`fake_quantize_one`], which converting to an integer model keeps.
#[inline]
pub fn quantize_one(x: f32, scale: f32, zero_point: i32, range: QRange) -> (f32, bool) {
    let inv_scale = 1.0f32 / scale;
    // C's nearbyint in the default rounding mode: ties to even.
    let q = zero_point as f32 + (x * inv_scale).round_ties_even();
    let (lo, hi) = (range.quant_min as f32, range.quant_max as f32);
    // `q.max(lo).min(hi)` (a NaN to lo) as comparisons: `f32::max`/`min` are libm calls in wasm.
    let above = if q > lo { q } else { lo };
    (if above < hi { above } else { hi }, lo <= q && q <= hi)
}

/// `fake_quantize_per_tensor_affine(x, scale, zero_point, quant_min, quant_max)` into `out`,
/// with the STE mask in `mask`.
pub fn per_tensor(x: &[f32], scale: f32, zero_point: i32, range: QRange, out: &mut [f32], mask: &mut [bool]) {
    assert_eq!(x.len(), out.len());
    assert_eq!(x.len(), mask.len());
    for ((&v, o), m) in x.iter().zip(out.iter_mut()).zip(mask.iter_mut()) {
        (*o, *m) = fake_quantize_one(v, scale, zero_point, range);
    }
}

/// `fake_quantize_per_channel_affine` of a row-major `[channels, inner]` tensor along axis 0
/// (a Linear weight `[out, in]`: one scale per output neuron, torch's `ch_axis=0`).
pub fn per_channel(x: &[f32], scales: &[f32], zero_points: &[i32], range: QRange, out: &mut [f32], mask: &mut [bool]) {
    let channels = scales.len();
    assert_eq!(zero_points.len(), channels);
    assert!(channels > 0 && x.len() % channels == 0);
    assert_eq!(x.len(), out.len());
    assert_eq!(x.len(), mask.len());
    let inner = x.len() / channels;
    for c in 0..channels {
        let span = c * inner..(c + 1) * inner;
        per_tensor(&x[span.clone()], scales[c], zero_points[c], range, &mut out[span.clone()], &mut mask[span]);
    }
}

/// The straight-through backward: `grad_x = grad_y` where the mask is set, 0 elsewhere
/// (`fake_quantize_per_tensor_affine_cachemask_backward`: `dY * mask`, a multiplication, so a
/// negative gradient outside the range becomes −0 as in torch).
pub fn backward(grad_y: &[f32], mask: &[bool], grad_x: &mut [f32]) {
    assert_eq!(grad_y.len(), mask.len());
    assert_eq!(grad_y.len(), grad_x.len());
    for ((g, &m), o) in grad_y.iter().zip(mask).zip(grad_x.iter_mut()) {
        *o = *g * if m { 1.0 } else { 0.0 };
    }
}

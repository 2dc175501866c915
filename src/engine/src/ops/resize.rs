//! Resize (opset 10–19) and Upsample (opset 7–9): nearest (every `nearest_mode`), linear and
//! cubic interpolation with every `coordinate_transformation_mode`, `exclude_outside`,
//! `antialias`, `axes` and `keep_aspect_ratio_policy`, as the ONNX spec defines them
//! (`onnx/defs/tensor/defs.cc`, "Resize"; reference: `onnx/reference/ops/op_resize.py`).
//!
//! Interpolation is separable, so the output is made one axis at a time (the reference does
//! the same): per axis, each output coordinate maps to a source coordinate `x`, and reads `n`
//! neighbours of it (2 for nearest and linear, 4 for cubic, more when antialiasing a downscale)
//! with one weight each; neighbours beyond the edge read the edge (or, with `exclude_outside`,
//! get weight 0 and the others are renormalized). Computes in f64; integer outputs round half
//! to even and saturate, as the reference's `saturate_cast`.

use crate::attr::Attrs;
use crate::op::{attr_err, dtype_err, from_f64, int_list, norm_axis, numbers, shape_err, value_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{checked_len, Value};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Nearest(NearestMode),
    Linear,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// How an output coordinate maps to an input coordinate (the spec's formulas, per axis).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Coordinates {
    HalfPixel,
    /// Opset 19.
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfCropAndResize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AspectPolicy {
    Stretch,
    NotLarger,
    NotSmaller,
}

#[derive(Debug)]
pub struct Resize {
    pub mode: Mode,
    pub coordinates: Coordinates,
    pub cubic_a: f64,
    pub exclude_outside: bool,
    pub extrapolation: f64,
    pub antialias: bool,
    pub axes: Option<Vec<i64>>,
    pub policy: AspectPolicy,
    /// Where the scales input is: 1 for Resize 10 and Upsample 9, 2 from Resize 11 on
    /// (after roi); `None` for Upsample 7's `scales` attribute.
    pub scales_input: Option<usize>,
    pub scales_attr: Option<Vec<f32>>,
    pub op: &'static str,
}

impl Resize {
    /// Resize 10 and Upsample: asymmetric coordinates and none of Resize 11's options; the
    /// scales come from `scales_attr` (Upsample 7) or else from input 1.
    fn asymmetric(mode: Mode, scales_attr: Option<Vec<f32>>, op: &'static str) -> Resize {
        Resize {
            mode,
            coordinates: Coordinates::Asymmetric,
            cubic_a: -0.75,
            exclude_outside: false,
            extrapolation: 0.0,
            antialias: false,
            axes: None,
            policy: AspectPolicy::Stretch,
            scales_input: if scales_attr.is_some() { None } else { Some(1) },
            scales_attr,
            op,
        }
    }
}

fn mode_of(a: &Attrs, nearest: NearestMode) -> Result<Mode, OpError> {
    Ok(match a.string("mode")?.as_deref().unwrap_or("nearest") {
        "nearest" => Mode::Nearest(nearest),
        // "bilinear" is Upsample 7's name for linear.
        "linear" | "bilinear" => Mode::Linear,
        "cubic" => Mode::Cubic,
        other => return Err(attr_err("mode", format!("must be nearest, linear or cubic, not '{other}'"))),
    })
}

pub fn build_resize(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    if ctx.opset < 11 {
        // Resize 10: X and scales; asymmetric coordinates, nearest rounds down (as Upsample).
        a.only(&["mode"])?;
        let mode = mode_of(a, NearestMode::Floor)?;
        if mode == Mode::Cubic {
            return Err(attr_err("mode", "cubic needs opset 11"));
        }
        return Ok(Arc::new(Resize::asymmetric(mode, None, "Resize")));
    }
    a.only(&[
        "mode",
        "coordinate_transformation_mode",
        "cubic_coeff_a",
        "exclude_outside",
        "extrapolation_value",
        "nearest_mode",
        "antialias",
        "axes",
        "keep_aspect_ratio_policy",
    ])?;
    let nearest = match a.string("nearest_mode")?.as_deref().unwrap_or("round_prefer_floor") {
        "round_prefer_floor" => NearestMode::RoundPreferFloor,
        "round_prefer_ceil" => NearestMode::RoundPreferCeil,
        "floor" => NearestMode::Floor,
        "ceil" => NearestMode::Ceil,
        other => {
            return Err(attr_err("nearest_mode", format!("must be round_prefer_floor, round_prefer_ceil, floor or ceil, not '{other}'")))
        }
    };
    let coordinates = match a.string("coordinate_transformation_mode")?.as_deref().unwrap_or("half_pixel") {
        "half_pixel" => Coordinates::HalfPixel,
        "half_pixel_symmetric" => Coordinates::HalfPixelSymmetric,
        "pytorch_half_pixel" => Coordinates::PytorchHalfPixel,
        "align_corners" => Coordinates::AlignCorners,
        "asymmetric" => Coordinates::Asymmetric,
        "tf_crop_and_resize" => Coordinates::TfCropAndResize,
        // tf_half_pixel_for_nn was dropped from the spec in opset 13.
        other => {
            return Err(attr_err(
                "coordinate_transformation_mode",
                format!("'{other}' is not one of half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric, tf_crop_and_resize"),
            ))
        }
    };
    let policy = match a.string("keep_aspect_ratio_policy")?.as_deref().unwrap_or("stretch") {
        "stretch" => AspectPolicy::Stretch,
        "not_larger" => AspectPolicy::NotLarger,
        "not_smaller" => AspectPolicy::NotSmaller,
        other => return Err(attr_err("keep_aspect_ratio_policy", format!("must be stretch, not_larger or not_smaller, not '{other}'"))),
    };
    let mode = mode_of(a, nearest)?;
    let antialias = a.flag("antialias", false)?;
    Ok(Arc::new(Resize {
        mode,
        coordinates,
        cubic_a: a.float("cubic_coeff_a", -0.75)? as f64,
        exclude_outside: a.flag("exclude_outside", false)?,
        extrapolation: a.float("extrapolation_value", 0.0)? as f64,
        // Antialiasing changes nothing for nearest (the reference refuses the pair).
        antialias: antialias && mode != Mode::Nearest(nearest),
        axes: a.ints("axes")?,
        policy,
        scales_input: Some(2),
        scales_attr: None,
        op: "Resize",
    }))
}

pub fn build_upsample(a: &Attrs, ctx: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["mode", "scales"])?;
    let mode = mode_of(a, NearestMode::Floor)?;
    if mode == Mode::Cubic {
        return Err(attr_err("mode", "Upsample has nearest and linear only"));
    }
    let scales_attr =
        if ctx.opset < 9 { Some(a.floats("scales")?.ok_or_else(|| attr_err("scales", "is required before opset 9"))?) } else { None };
    if ctx.opset >= 9 && ctx.n_inputs < 2 {
        return Err(value_err("Upsample needs its scales input from opset 9 on"));
    }
    Ok(Arc::new(Resize::asymmetric(mode, scales_attr, "Upsample")))
}

/// The reference's cubic kernel weight at distance `x` (Keys, with `a` = cubic_coeff_a).
fn cubic_weight(x: f64, a: f64) -> f64 {
    let x = x.abs();
    if x <= 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    } else {
        0.0
    }
}

impl Resize {
    /// The weights of the `n` neighbours `base + 1 − n/2 ..= base + n/2` of a source coordinate
    /// whose fractional part is `ratio` (1 for a whole coordinate, whose `base` is then one
    /// less: the reference's convention, which picks the coordinate itself).
    fn weights(&self, ratio: f64, scale: f64) -> Vec<f64> {
        match self.mode {
            Mode::Nearest(m) => {
                let second = ratio == 1.0
                    || match m {
                        NearestMode::RoundPreferFloor => ratio > 0.5,
                        NearestMode::RoundPreferCeil => ratio >= 0.5,
                        NearestMode::Floor => false,
                        NearestMode::Ceil => true,
                    };
                if second {
                    vec![0.0, 1.0]
                } else {
                    vec![1.0, 0.0]
                }
            }
            Mode::Linear if self.antialias => {
                // A triangle filter stretched by 1/scale when downscaling.
                let s = scale.min(1.0);
                let start = (-1.0 / s).floor() as i64 + 1;
                let w: Vec<f64> = (start..2 - start).map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0)).collect();
                let sum: f64 = w.iter().sum();
                w.into_iter().map(|v| v / sum).collect()
            }
            Mode::Linear => vec![1.0 - ratio, ratio],
            Mode::Cubic if self.antialias => {
                let s = scale.min(1.0);
                let start = (-2.0 / s).floor() as i64 + 1;
                let w: Vec<f64> = (start..2 - start).map(|i| cubic_weight(s * (i as f64 - ratio), self.cubic_a)).collect();
                let sum: f64 = w.iter().sum();
                w.into_iter().map(|v| v / sum).collect()
            }
            Mode::Cubic => [ratio + 1.0, ratio, 1.0 - ratio, 2.0 - ratio].iter().map(|&d| cubic_weight(d, self.cubic_a)).collect(),
        }
    }

    /// The source coordinate of output coordinate `y` on an axis (`None`: outside the crop of
    /// tf_crop_and_resize, which reads the extrapolation value).
    fn source(&self, y: usize, scale: f64, in_len: usize, out_len: usize, roi: (f64, f64)) -> Option<f64> {
        let (y, input) = (y as f64, in_len as f64);
        let output = scale * input;
        Some(match self.coordinates {
            Coordinates::AlignCorners if output == 1.0 => 0.0,
            Coordinates::AlignCorners => y * (input - 1.0) / (output - 1.0),
            Coordinates::Asymmetric => y / scale,
            Coordinates::TfCropAndResize => {
                let x = if output == 1.0 {
                    (roi.1 - roi.0) * (input - 1.0) / 2.0
                } else {
                    y * (roi.1 - roi.0) * (input - 1.0) / (output - 1.0)
                } + roi.0 * (input - 1.0);
                if x < 0.0 || x > input - 1.0 {
                    return None;
                }
                x
            }
            Coordinates::PytorchHalfPixel if output == 1.0 => -0.5,
            Coordinates::PytorchHalfPixel | Coordinates::HalfPixel => (y + 0.5) / scale - 0.5,
            Coordinates::HalfPixelSymmetric => {
                let adjustment = out_len as f64 / output;
                input / 2.0 * (1.0 - adjustment) + (y + 0.5) / scale - 0.5
            }
        })
    }

    /// Per output coordinate of an axis: its (input index, weight) pairs, or None for the
    /// extrapolation value.
    fn taps(&self, in_len: usize, scale: f64, out_len: usize, roi: (f64, f64)) -> Vec<Option<Vec<(usize, f64)>>> {
        (0..out_len)
            .map(|y| {
                let x = self.source(y, scale, in_len, out_len, roi)?;
                let floor = x.floor();
                let (base, ratio) = if x == floor { (floor as i64 - 1, 1.0) } else { (floor as i64, x - floor) };
                let mut w = self.weights(ratio, scale);
                let n = w.len() as i64;
                let first = base + 1 - n / 2;
                let last = in_len as i64 - 1;
                if self.exclude_outside {
                    for (k, v) in w.iter_mut().enumerate() {
                        let i = first + k as i64;
                        if i < 0 || i > last {
                            *v = 0.0;
                        }
                    }
                    let sum: f64 = w.iter().sum();
                    if sum != 0.0 {
                        w.iter_mut().for_each(|v| *v /= sum);
                    }
                }
                Some(w.into_iter().enumerate().map(|(k, v)| ((first + k as i64).clamp(0, last.max(0)) as usize, v)).collect())
            })
            .collect()
    }

    /// Resizes `data` (of `shape`) along `axis` to `out_len`.
    fn along_axis(&self, data: &[f64], shape: &[usize], axis: usize, scale: f64, out_len: usize, roi: (f64, f64)) -> Vec<f64> {
        let in_len = shape[axis];
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let taps = self.taps(in_len, scale, out_len, roi);
        let mut out = vec![0.0; outer * out_len * inner];
        for o in 0..outer {
            for (y, t) in taps.iter().enumerate() {
                let dst = &mut out[(o * out_len + y) * inner..(o * out_len + y + 1) * inner];
                match t {
                    None => dst.iter_mut().for_each(|v| *v = self.extrapolation),
                    Some(t) => {
                        for &(i, w) in t {
                            if w == 0.0 {
                                continue;
                            }
                            let src = &data[(o * in_len + i) * inner..(o * in_len + i + 1) * inner];
                            dst.iter_mut().zip(src).for_each(|(d, &s)| *d += w * s);
                        }
                    }
                }
            }
        }
        out
    }
}

/// `out[o] = x[index₀[o₀], index₁[o₁], …]` over `out_shape`: the last axis as a loop over
/// one output row, the others by an odometer.
fn gather_nearest(x: &[f32], shape: &[usize], out_shape: &[usize], index: &[Vec<usize>]) -> Vec<f32> {
    let rank = shape.len();
    let total: usize = out_shape.iter().product();
    let mut out = Vec::with_capacity(total);
    if total == 0 {
        return out;
    }
    if rank == 0 {
        out.push(x[0]);
        return out;
    }
    let strides = crate::op::strides(shape);
    let last = &index[rank - 1];
    let mut at = vec![0usize; rank - 1];
    loop {
        let base: usize = at.iter().enumerate().map(|(a, &o)| index[a][o] * strides[a]).sum();
        let row = &x[base..];
        out.extend(last.iter().map(|&i| row[i]));
        // Next output row: the odometer over every axis but the last.
        let mut a = rank - 1;
        loop {
            if a == 0 {
                return out;
            }
            a -= 1;
            at[a] += 1;
            if at[a] < out_shape[a] {
                break;
            }
            at[a] = 0;
        }
    }
}

fn floats(v: &Value, what: &str) -> Result<Vec<f64>, OpError> {
    if !v.dtype().is_float() {
        return Err(dtype_err(format!("{what} must be float, not {}", v.dtype())));
    }
    Ok(v.to_f64_vec())
}

impl Op for Resize {
    fn op_type(&self) -> &'static str {
        self.op
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let rank = x.rank();
        let axes: Vec<usize> = match &self.axes {
            Some(a) => a.iter().map(|&v| norm_axis(v, rank)).collect::<Result<_, _>>()?,
            None => (0..rank).collect(),
        };
        let scales = match (&self.scales_attr, self.scales_input.and_then(|i| inputs.get(i))) {
            (Some(s), _) => Some(s.iter().map(|&v| v as f64).collect::<Vec<_>>()),
            (None, Some(v)) if !v.is_empty() => Some(floats(v, "scales")?),
            _ => None,
        };
        let sizes = if self.scales_input == Some(2) {
            inputs.get(3).filter(|v| !v.is_empty()).map(|v| int_list(v, "sizes")).transpose()?
        } else {
            None
        };
        let roi_given = if self.scales_input == Some(2) {
            inputs.get(1).filter(|v| !v.is_empty()).map(|v| floats(v, "roi")).transpose()?
        } else {
            None
        };
        let shape = x.shape().to_vec();
        // Per axis: scale, output length and region of interest.
        let mut scale = vec![1.0; rank];
        let mut out_shape = shape.clone();
        match (scales, sizes) {
            (Some(_), Some(_)) => return Err(value_err("give scales or sizes, not both")),
            (None, None) => return Err(value_err("neither scales nor sizes is given")),
            (Some(s), None) => {
                if s.len() != axes.len() {
                    return Err(value_err(format!("scales has {} values for {} axes", s.len(), axes.len())));
                }
                for (&a, &v) in axes.iter().zip(&s) {
                    if v.is_nan() || v <= 0.0 {
                        return Err(value_err(format!("scale {v} must be positive")));
                    }
                    scale[a] = v;
                    out_shape[a] = (v * shape[a] as f64) as usize;
                }
            }
            (None, Some(s)) => {
                if s.len() != axes.len() || s.iter().any(|&v| v < 0) {
                    return Err(value_err(format!("sizes {s:?} must be {} non-negative lengths", axes.len())));
                }
                for (&a, &v) in axes.iter().zip(&s) {
                    scale[a] = v as f64 / shape[a] as f64;
                    out_shape[a] = v as usize;
                }
                if self.policy != AspectPolicy::Stretch {
                    let pick = axes.iter().map(|&a| scale[a]);
                    let common = if self.policy == AspectPolicy::NotLarger {
                        pick.fold(f64::INFINITY, f64::min)
                    } else {
                        pick.fold(f64::NEG_INFINITY, f64::max)
                    };
                    for &a in &axes {
                        scale[a] = common;
                        // The reference rounds half up here.
                        out_shape[a] = (common * shape[a] as f64 + 0.5) as usize;
                    }
                }
            }
        }
        let mut roi = vec![(0.0, 1.0); rank];
        if self.coordinates == Coordinates::TfCropAndResize {
            let r = roi_given.ok_or_else(|| value_err("tf_crop_and_resize needs the roi input"))?;
            if r.len() != 2 * axes.len() {
                return Err(value_err(format!("roi has {} values: it needs 2 per axis ({})", r.len(), 2 * axes.len())));
            }
            for (k, &a) in axes.iter().enumerate() {
                roi[a] = (r[k], r[k + axes.len()]);
            }
        }
        checked_len(&out_shape, x.dtype()).ok_or_else(|| shape_err(format!("the resized shape {out_shape:?} is too large")))?;
        if shape.iter().zip(&out_shape).any(|(&i, &o)| i == 0 && o > 0) {
            return Err(value_err(format!("cannot resize the empty axis of {shape:?} to {out_shape:?}")));
        }
        // Nearest (without tf_crop_and_resize's extrapolation or exclude_outside's zeroed taps)
        // picks one input element per output element: a gather by one index table per axis,
        // in float32, instead of the separable passes in f64 (a text detector's six 2× nearest
        // upsamplings had been a tenth of its run). The same values, bit for bit, but that a −0
        // stays −0 (ONNX Runtime copies it; `0 + 1·x` in the passes makes it +0).
        if let (Mode::Nearest(_), Some(xs), false, false) =
            (self.mode, x.as_f32(), self.coordinates == Coordinates::TfCropAndResize, self.exclude_outside)
        {
            let index: Vec<Vec<usize>> = (0..rank)
                .map(|a| {
                    if !axes.contains(&a) || ((scale[a] - 1.0).abs() < 1e-9 && out_shape[a] == shape[a]) {
                        return (0..out_shape[a]).collect();
                    }
                    let taps = self.taps(shape[a], scale[a], out_shape[a], roi[a]);
                    taps.iter().map(|t| t.as_ref().and_then(|t| t.iter().find(|(_, w)| *w != 0.0)).map_or(0, |&(i, _)| i)).collect()
                })
                .collect();
            return Ok(vec![Value::f32(out_shape.clone(), gather_nearest(xs, &shape, &out_shape, &index))]);
        }
        let mut data = numbers(x, "X")?;
        let mut cur = shape.clone();
        for &a in &axes {
            let identity = (scale[a] - 1.0).abs() < 1e-9 && out_shape[a] == cur[a] && roi[a] == (0.0, 1.0);
            if identity {
                continue;
            }
            data = self.along_axis(&data, &cur, a, scale[a], out_shape[a], roi[a]);
            cur[a] = out_shape[a];
        }
        if !x.dtype().is_float() {
            data.iter_mut().for_each(|v| *v = v.round_ties_even());
        }
        Ok(vec![from_f64(x.dtype(), out_shape, data)?])
    }
}

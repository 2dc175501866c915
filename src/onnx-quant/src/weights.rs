//! A weight initializer quantized as ONNX Runtime quantizes it: `quantize_initializer_impl` and
//! `quantize_weight_per_channel_impl` (`onnxruntime/quantization/base_quantizer.py`) over
//! `quantize_data`, `compute_scale_zp` and `quantize_nparray` (`quant_utils.py`), writing the
//! same three TensorProtos: `<name>_scale` and `<name>_zero_point` by `onnx.helper.make_tensor`
//! (`float_data`, `int32_data`) and `<name>_quantized` by `numpy_helper.from_array` (`raw_data`).

use crate::{QuantizeError, Result};
use quantscope_core::schemes::int::{quantize_value, scale_zero_point};
use quantscope_formats::onnx::proto::TensorProto;
use quantscope_formats::onnx::tensor::{self, DType, Data};

/// The integer type of quantized weights (`QuantType.QInt8` / `QUInt8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QType {
    Int8,
    Uint8,
}

impl QType {
    fn dtype(self) -> DType {
        match self {
            QType::Int8 => DType::I8,
            QType::Uint8 => DType::U8,
        }
    }

    /// `get_qmin_qmax_for_qType(qType, reduce_range, symmetric)`.
    fn range(self, reduce_range: bool, symmetric: bool) -> (i32, i32) {
        match (self, reduce_range, symmetric) {
            (QType::Uint8, true, _) => (0, 127),
            (QType::Int8, true, _) => (-64, 64),
            (QType::Int8, false, true) => (-127, 127),
            (QType::Int8, false, false) => (-128, 127),
            (QType::Uint8, false, _) => (0, 255),
        }
    }

    /// What `quantize_nparray` clips to: the type's whole range, whatever the scale's range was.
    fn full_range(self) -> (i32, i32) {
        self.range(false, false)
    }
}

/// How a weight is quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightQuant {
    pub qtype: QType,
    pub symmetric: bool,
    pub reduce_range: bool,
}

/// The three initializers that replace a weight.
pub struct QuantizedWeight {
    pub scale: TensorProto,
    pub zero_point: TensorProto,
    pub quantized: TensorProto,
}

pub fn quantized_name(name: &str) -> String {
    format!("{name}_quantized")
}

pub fn scale_name(name: &str) -> String {
    format!("{name}_scale")
}

pub fn zero_point_name(name: &str) -> String {
    format!("{name}_zero_point")
}

/// A FLOAT initializer's shape and values; `None` for another element type (left as it is).
pub fn float_values(t: &TensorProto) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
    let name = t.name.clone().unwrap_or_default();
    let decoded = tensor::decode(t).map_err(|e| QuantizeError::Weight { name: name.clone(), why: e.to_string() })?;
    let Data::F32(values) = decoded.data else { return Ok(None) };
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(QuantizeError::Weight {
            name,
            why: format!("it holds {bad}, and a scale computed from a non-finite minimum or maximum means nothing"),
        });
    }
    Ok(Some((decoded.shape, values)))
}

/// A FLOAT16 tensor's shape and values widened to f32, or None for another type; a non-finite
/// value is refused as in [`float_values`].
pub fn half_values(t: &TensorProto) -> Result<Option<(Vec<usize>, Vec<f32>)>> {
    let name = t.name.clone().unwrap_or_default();
    let decoded = tensor::decode(t).map_err(|e| QuantizeError::Weight { name: name.clone(), why: e.to_string() })?;
    let Data::F16(values) = decoded.data else { return Ok(None) };
    let values: Vec<f32> = values.iter().map(|v| v.to_f32()).collect();
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(QuantizeError::Weight {
            name,
            why: format!("it holds {bad}, and a scale computed from a non-finite minimum or maximum means nothing"),
        });
    }
    Ok(Some((decoded.shape, values)))
}

/// One group's scale, zero point and codes (`quantize_data` on the flattened group).
fn quantize_group(values: &[f32], how: WeightQuant) -> (f32, i32, Vec<i32>) {
    if values.is_empty() {
        return (1.0, 0, Vec::new());
    }
    let (rmin, rmax) = values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (qmin, qmax) = how.qtype.range(how.reduce_range, how.symmetric);
    let (scale, zero_point) = scale_zero_point(rmin, rmax, qmin, qmax, how.symmetric);
    let (lo, hi) = how.qtype.full_range();
    (scale, zero_point, values.iter().map(|&v| quantize_value(v, scale, zero_point, lo, hi).0).collect())
}

fn codes_data(qtype: QType, codes: Vec<i32>) -> Data {
    match qtype {
        QType::Int8 => Data::I8(codes.into_iter().map(|c| c as i8).collect()),
        QType::Uint8 => Data::U8(codes.into_iter().map(|c| c as u8).collect()),
    }
}

/// `onnx.helper.make_tensor(name, FLOAT, dims, values)`.
fn scale_tensor(name: String, dims: Vec<i64>, scales: Vec<f32>) -> TensorProto {
    TensorProto { dims, data_type: Some(DType::F32.onnx_id()), float_data: scales, name: Some(name), ..Default::default() }
}

/// `onnx.helper.make_tensor(name, INT8 | UINT8, dims, values)`: the codes go in `int32_data`.
fn zero_point_tensor(name: String, qtype: QType, dims: Vec<i64>, zero_points: Vec<i32>) -> TensorProto {
    TensorProto { dims, data_type: Some(qtype.dtype().onnx_id()), int32_data: zero_points, name: Some(name), ..Default::default() }
}

/// One scale and zero point for the whole weight.
pub fn per_tensor(name: &str, shape: &[usize], values: &[f32], how: WeightQuant) -> QuantizedWeight {
    let (scale, zero_point, codes) = quantize_group(values, how);
    QuantizedWeight {
        scale: scale_tensor(scale_name(name), Vec::new(), vec![scale]),
        zero_point: zero_point_tensor(zero_point_name(name), how.qtype, Vec::new(), vec![zero_point]),
        quantized: tensor::encode(&quantized_name(name), how.qtype.dtype(), shape, &codes_data(how.qtype, codes)),
    }
}

/// A float16 table (values widened to f32, exactly) as ONNX Runtime quantizes it, one scale
/// and zero point for all of it: `compute_scale_zp` in float64 from the float16 extremes, the
/// scale stored as float16 (and 1 with zero point 0 where that rounds to 0, its
/// `smallest_subnormal` test), the zero point from the float64 scale, the codes from float32
/// values over the float16 scale (`quantize_nparray`). onnxruntime/quantization/quant_utils.py.
pub fn per_tensor_half(name: &str, shape: &[usize], values: &[f32], how: WeightQuant) -> QuantizedWeight {
    let (rmin, rmax) = values.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (qmin, qmax) = how.qtype.range(how.reduce_range, how.symmetric);
    let (rmin, rmax) = if how.symmetric { (-rmin.abs().max(rmax), rmin.abs().max(rmax)) } else { (rmin, rmax) };
    let wide = (rmax as f64 - rmin as f64) / (qmax - qmin) as f64;
    let stored = half::f16::from_f64(wide);
    let (scale, zero_point) = if stored.to_f32() == 0.0 {
        (half::f16::ONE, 0)
    } else if how.symmetric {
        (stored, ((qmin + qmax) as f64 / 2.0).round_ties_even() as i32)
    } else {
        (stored, (qmin as f64 - rmin as f64 / wide).round_ties_even() as i32)
    };
    let (lo, hi) = how.qtype.full_range();
    let codes = values.iter().map(|&v| quantize_value(v, scale.to_f32(), zero_point, lo, hi).0).collect();
    QuantizedWeight {
        // `make_tensor(name, FLOAT16, [], [scale])`: the bits in int32_data
        scale: TensorProto {
            data_type: Some(DType::F16.onnx_id()),
            int32_data: vec![scale.to_bits() as i32],
            name: Some(scale_name(name)),
            ..Default::default()
        },
        zero_point: zero_point_tensor(zero_point_name(name), how.qtype, Vec::new(), vec![zero_point]),
        quantized: tensor::encode(&quantized_name(name), how.qtype.dtype(), shape, &codes_data(how.qtype, codes)),
    }
}

/// One scale and zero point per index of `axis` (already normalised to `0..rank`).
pub fn per_channel(name: &str, shape: &[usize], values: &[f32], axis: usize, how: WeightQuant) -> QuantizedWeight {
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    // quantize_group of each channel's values (`weights.take(c, axis).flatten()`, in C order),
    // read in the weight's own order instead of channel by channel: a MatMul's channels are its
    // columns, and gathering each column read the whole matrix once per column. Each channel's
    // extremes fold its values in the same order, so every scale, zero point and code is the same.
    let (mut rmin, mut rmax) = (vec![f32::INFINITY; channels], vec![f32::NEG_INFINITY; channels]);
    for (k, block) in values.chunks_exact(inner.max(1)).take(outer * channels).enumerate() {
        let c = k % channels;
        for &v in block {
            rmin[c] = rmin[c].min(v);
            rmax[c] = rmax[c].max(v);
        }
    }
    let (qmin, qmax) = how.qtype.range(how.reduce_range, how.symmetric);
    let (scales, zero_points): (Vec<f32>, Vec<i32>) = (0..channels)
        .map(|c| if outer * inner == 0 { (1.0, 0) } else { scale_zero_point(rmin[c], rmax[c], qmin, qmax, how.symmetric) })
        .unzip();
    let (lo, hi) = how.qtype.full_range();
    let mut codes = vec![0i32; values.len()];
    for (k, (block, out)) in values.chunks_exact(inner.max(1)).zip(codes.chunks_exact_mut(inner.max(1))).enumerate() {
        let c = k % channels;
        for (&v, q) in block.iter().zip(out) {
            *q = quantize_value(v, scales[c], zero_points[c], lo, hi).0;
        }
    }
    let dims = vec![channels as i64];
    QuantizedWeight {
        scale: scale_tensor(scale_name(name), dims.clone(), scales),
        zero_point: zero_point_tensor(zero_point_name(name), how.qtype, dims, zero_points),
        quantized: tensor::encode(&quantized_name(name), how.qtype.dtype(), shape, &codes_data(how.qtype, codes)),
    }
}

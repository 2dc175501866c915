//! The quantization ops: QuantizeLinear, DequantizeLinear (per tensor, per axis, blocked),
//! DynamicQuantizeLinear, MatMulInteger and QLinearMatMul.
//!
//! Arithmetic follows ONNX Runtime's CPU kernels (which the ONNX reference agrees with):
//! * quantize: `q = saturate(rint(x / scale) + zero_point)` in f32, rint rounding half to even;
//! * dequantize: `x = (q − zero_point) · scale` in f32 (`(q − zp)` exact as an integer);
//! * DynamicQuantizeLinear: `scale = (max(0, max x) − min(0, min x)) / 255`, `zero_point =
//!   rint(clamp(−min / scale, 0, 255))`; an all-zero input gets scale 1 (ORT's
//!   `GetQuantizationParameter`, so nothing divides by zero);
//! * QLinearMatMul/QLinearConv requantize an i32 accumulator with the f32 multiplier
//!   `a_scale · b_scale / y_scale`: `y = saturate(rint(acc · multiplier) + y_zero_point)`
//!   (MLAS `MlasRequantizeOutput`).

use super::cast;
use super::matmul::MatmulPlan;
use crate::attr::Attrs;
use crate::op::{attr_err, dtype_err, norm_axis, scales, shape_err, value_err, zero_points, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Data, Value};
use half::{bf16, f16};
use quantscope_gemm::{Int8, PackedI8B};
use std::sync::Arc;

/// `saturate(rint(acc · multiplier) + zp)` into `[qmin, qmax]`.
#[inline]
pub fn requantize(acc: i32, multiplier: f32, zp: i32, qmin: i32, qmax: i32) -> i32 {
    let v = (acc as f32 * multiplier).round_ties_even() + zp as f32;
    v.clamp(qmin as f32, qmax as f32) as i32
}

/// `saturate(rint(x / scale) + zp)` into `[qmin, qmax]`; NaN gives the zero point's clamp.
#[inline]
pub fn quantize_f32(x: f32, scale: f32, zp: i32, qmin: i32, qmax: i32) -> i32 {
    let v = (x / scale).round_ties_even() + zp as f32;
    if v.is_nan() {
        return zp.clamp(qmin, qmax);
    }
    v.clamp(qmin as f32, qmax as f32) as i32
}

/// How a scale (and zero point) tensor maps onto the data's elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleMap {
    Tensor,
    /// One per index of the axis: element i uses `(i / inner) % dim`.
    Axis {
        dim: usize,
        inner: usize,
    },
    /// Blocks of `block` along the axis (scale dim `sdim` = ceil(dim / block)).
    Block {
        dim: usize,
        inner: usize,
        block: usize,
        sdim: usize,
    },
}

impl ScaleMap {
    /// Works out the mapping from the data and scale shapes.
    pub fn new(data: &[usize], scale: &[usize], axis: i64, block_size: i64) -> Result<ScaleMap, OpError> {
        let scount: usize = scale.iter().product();
        if block_size > 0 {
            if scale.len() != data.len() {
                return Err(shape_err(format!("blocked quantization needs a scale of the data's rank: scale {scale:?}, data {data:?}")));
            }
            let ax = norm_axis(axis, data.len())?;
            let (dim, block) = (data[ax], block_size as usize);
            let sdim = dim.div_ceil(block);
            for d in 0..data.len() {
                let want = if d == ax { sdim } else { data[d] };
                if scale[d] != want {
                    return Err(shape_err(format!(
                        "scale shape {scale:?} does not fit data {data:?} with block_size {block} on axis {ax}"
                    )));
                }
            }
            return Ok(ScaleMap::Block { dim, inner: data[ax + 1..].iter().product(), block, sdim });
        }
        if block_size < 0 {
            return Err(attr_err("block_size", format!("is {block_size}: it must not be negative")));
        }
        if scale.len() <= 1 && scount == 1 {
            return Ok(ScaleMap::Tensor);
        }
        if scale.len() != 1 || data.is_empty() {
            return Err(shape_err(format!("scale {scale:?} must be a scalar or 1-D (per axis) for data {data:?}")));
        }
        let ax = norm_axis(axis, data.len())?;
        if scount == data[ax] {
            return Ok(ScaleMap::Axis { dim: data[ax], inner: data[ax + 1..].iter().product() });
        }
        Err(shape_err(format!("scale has {scount} elements but axis {ax} of {data:?} has {}", data[ax])))
    }

    #[inline]
    pub fn index(&self, i: usize) -> usize {
        match *self {
            ScaleMap::Tensor => 0,
            ScaleMap::Axis { dim, inner } => (i / inner) % dim,
            ScaleMap::Block { dim, inner, block, sdim } => {
                let j = i % inner;
                let a = (i / inner) % dim;
                let o = i / (inner * dim);
                (o * sdim + a / block) * inner + j
            }
        }
    }
}

/// A scale input as f32 values with its element type (f32, f16 or bf16).
fn scale_values(v: &Value) -> Result<Vec<f32>, OpError> {
    match v.dtype() {
        DType::F32 | DType::F16 | DType::BF16 => Ok(v.to_f32_vec()),
        d => Err(dtype_err(format!("the scale must be float32, float16 or bfloat16, not {d}"))),
    }
}

// ------------------------------------------------------------------------- QuantizeLinear

#[derive(Debug)]
pub struct QuantizeLinear {
    pub axis: i64,
    pub block_size: i64,
    /// `output_dtype` (opset 21); `None` to take the zero point's type, else uint8.
    pub output_dtype: Option<DType>,
    pub saturate: bool,
}

pub fn build_quantize_linear(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis", "block_size", "output_dtype", "saturate", "precision"])?;
    let output_dtype = match a.int("output_dtype", 0)? {
        0 => None,
        id => Some(
            DType::from_onnx(id as i32)
                .ok_or_else(|| OpError::Unsupported(format!("output_dtype {} ({id})", DType::onnx_name(id as i32))))?,
        ),
    };
    if a.int("precision", 0)? != 0 {
        return Err(OpError::Unsupported("the precision attribute".into()));
    }
    Ok(Arc::new(QuantizeLinear {
        axis: a.int("axis", 1)?,
        block_size: a.int("block_size", 0)?,
        output_dtype,
        saturate: a.int("saturate", 1)? != 0,
    }))
}

impl Op for QuantizeLinear {
    fn op_type(&self) -> &'static str {
        "QuantizeLinear"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (x, scale) = (inputs.req(0)?, inputs.req(1)?);
        let zp = inputs.get(2);
        let out_dtype = match (zp.map(|z| z.dtype()), self.output_dtype) {
            (Some(z), Some(o)) if z != o => {
                return Err(dtype_err(format!("y_zero_point is {z} but output_dtype is {o}")));
            }
            (Some(z), _) => z,
            (None, Some(o)) => o,
            (None, None) => DType::U8,
        };
        if !matches!(x.dtype(), DType::F32 | DType::F16 | DType::BF16 | DType::I32) {
            return Err(dtype_err(format!("x must be float32, float16, bfloat16 or int32, not {}", x.dtype())));
        }
        let map = ScaleMap::new(x.shape(), scale.shape(), self.axis, self.block_size)?;
        let s = scale_values(scale)?;
        if let Some(z) = zp {
            if z.shape() != scale.shape() && !(z.len() == 1 && s.len() == 1) {
                return Err(shape_err(format!("y_zero_point shape {:?} differs from y_scale shape {:?}", z.shape(), scale.shape())));
            }
        }
        if let Some(q) = quantize_f32_per_tensor(x, &s, zp, map, out_dtype) {
            return Ok(vec![q]);
        }
        let half_precision = x.dtype() == DType::F16 || x.dtype() == DType::BF16;
        let xs = x.to_f32_vec();
        // x / scale as the reference computes it: in the input's precision.
        let ratio = |i: usize| -> f32 {
            let r = xs[i] / s[map.index(i)];
            match x.dtype() {
                DType::F16 if half_precision => f16::from_f32(r).to_f32(),
                DType::BF16 if half_precision => bf16::from_f32(r).to_f32(),
                _ => r,
            }
        };
        let shape = x.shape().to_vec();
        if let Some(fmt) = out_dtype.minifloat() {
            let zs = zp.map(|z| z.to_f32_vec()).unwrap_or_else(|| vec![0.0]);
            let codes = (0..xs.len())
                .map(|i| {
                    let z = zs[if zs.len() == 1 { 0 } else { map.index(i) }];
                    cast::encode_minifloat(out_dtype, fmt, ratio(i) + z, self.saturate)
                })
                .collect();
            return Ok(vec![Value::with_dtype(out_dtype, shape, Data::U8(codes))]);
        }
        let (qmin, qmax) = out_dtype
            .int_range()
            .filter(|_| out_dtype != DType::U32)
            .ok_or_else(|| dtype_err(format!("cannot quantize to {out_dtype}")))?;
        let zs: Vec<i64> = match zp {
            Some(z) => z.to_i64_vec().expect("integer zero point"),
            None => vec![0],
        };
        let q: Vec<i64> = (0..xs.len())
            .map(|i| {
                let z = zs[if zs.len() == 1 { 0 } else { map.index(i) }];
                let v = ratio(i).round_ties_even() as f64 + z as f64;
                if v.is_nan() {
                    z.clamp(qmin, qmax)
                } else {
                    v.clamp(qmin as f64, qmax as f64) as i64
                }
            })
            .collect();
        let data = match out_dtype {
            DType::U8 | DType::U4 | DType::U2 => Data::U8(q.iter().map(|&v| v as u8).collect()),
            DType::I8 | DType::I4 | DType::I2 => Data::I8(q.iter().map(|&v| v as i8).collect()),
            DType::U16 => Data::U16(q.iter().map(|&v| v as u16).collect()),
            DType::I16 => Data::I16(q.iter().map(|&v| v as i16).collect()),
            DType::I32 => Data::I32(q.iter().map(|&v| v as i32).collect()),
            d => return Err(dtype_err(format!("cannot quantize to {d}"))),
        };
        Ok(vec![Value::with_dtype(out_dtype, shape, data)])
    }
}

/// QuantizeLinear's hot path, every QDQ activation: float32 to u8 or i8 with one scale, the
/// general loop's values without its copies (the input as f32, the codes as i64) and its
/// per-element scale lookup — that loop was 72 % of ppocr_rec's static QDQ run. The u8 codes
/// come from [`activation_quant::quantize_u8`] (its SIMD128 kernel in the page), whose
/// `round(x / s) + zp` in f32 equals the loop's sum in f64 after the clamp (both exact below
/// 2²⁴, and both saturate above); it sends NaN to 0 where QuantizeLinear sends it to the zero
/// point, so NaN inputs are set after, and a scale of 0 or ±∞ (x / s NaN for a number x) is
/// left to the loop. `None`: another case, for the loop.
///
/// [`activation_quant::quantize_u8`]: super::activation_quant::quantize_u8
fn quantize_f32_per_tensor(x: &Value, s: &[f32], zp: Option<&Value>, map: ScaleMap, out_dtype: DType) -> Option<Value> {
    let xs = x.as_f32()?;
    if map != ScaleMap::Tensor || !matches!(out_dtype, DType::U8 | DType::I8) {
        return None;
    }
    let scale = s[0];
    let data = match (out_dtype, zp.map(|z| z.data())) {
        (DType::U8, None) | (DType::U8, Some(Data::U8(_))) => {
            let z = zp.and_then(|z| z.as_u8()).and_then(|z| z.first().copied()).unwrap_or(0);
            if !(scale.is_finite() && scale != 0.0) {
                return None;
            }
            let mut out = vec![0u8; xs.len()];
            super::activation_quant::quantize_u8(xs, scale, z, &mut out);
            if z != 0 {
                out.iter_mut().zip(xs).filter(|(_, v)| v.is_nan()).for_each(|(o, _)| *o = z);
            }
            Data::U8(out)
        }
        (DType::I8, None) | (DType::I8, Some(Data::I8(_))) => {
            let z = zp.and_then(|z| z.as_i8()).and_then(|z| z.first().copied()).unwrap_or(0);
            let zf = z as f32;
            Data::I8(
                xs.iter()
                    .map(|&v| {
                        let q = (v / scale).round_ties_even() + zf;
                        if q.is_nan() {
                            z
                        } else {
                            q.clamp(-128.0, 127.0) as i8
                        }
                    })
                    .collect(),
            )
        }
        _ => return None,
    };
    Some(Value::with_dtype(out_dtype, x.shape().to_vec(), data))
}

// ----------------------------------------------------------------------- DequantizeLinear

#[derive(Debug)]
pub struct DequantizeLinear {
    pub axis: i64,
    pub block_size: i64,
}

pub fn build_dequantize_linear(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["axis", "block_size", "output_dtype"])?;
    if a.int("output_dtype", 0)? != 0 {
        return Err(OpError::Unsupported("the output_dtype attribute (the output takes the scale's type)".into()));
    }
    Ok(Arc::new(DequantizeLinear { axis: a.int("axis", 1)?, block_size: a.int("block_size", 0)? }))
}

/// `(q − zp) · scale` over any map; f32 out.
pub fn dequantize(x: &Value, scale: &[f32], zp: Option<&Value>, map: ScaleMap) -> Result<Vec<f32>, OpError> {
    if x.dtype().minifloat().is_some() {
        let xs = x.to_f32_vec();
        let zs = zp.map(|z| z.to_f32_vec()).unwrap_or_else(|| vec![0.0]);
        return Ok((0..xs.len()).map(|i| (xs[i] - zs[if zs.len() == 1 { 0 } else { map.index(i) }]) * scale[map.index(i)]).collect());
    }
    let zs: Vec<i64> = match zp {
        Some(z) => z.to_i64_vec().ok_or_else(|| dtype_err("the zero point must be an integer"))?,
        None => vec![0],
    };
    // Hot path (QDQ activations): u8/i8 per tensor.
    if map == ScaleMap::Tensor {
        let (s, z) = (scale[0], zs[0] as i32);
        match (x.data(), x.dtype()) {
            (Data::U8(v), DType::U8) => return Ok(v.iter().map(|&q| (q as i32 - z) as f32 * s).collect()),
            (Data::I8(v), DType::I8) => return Ok(v.iter().map(|&q| (q as i32 - z) as f32 * s).collect()),
            _ => {}
        }
    }
    let xs = x.to_i64_vec().ok_or_else(|| dtype_err(format!("x must be an integer or FLOAT8 type, not {}", x.dtype())))?;
    Ok((0..xs.len())
        .map(|i| {
            let k = map.index(i);
            let z = zs[if zs.len() == 1 { 0 } else { k }];
            (xs[i] - z) as f32 * scale[k]
        })
        .collect())
}

impl Op for DequantizeLinear {
    fn op_type(&self) -> &'static str {
        "DequantizeLinear"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (x, scale) = (inputs.req(0)?, inputs.req(1)?);
        let zp = inputs.get(2);
        if x.dtype().is_float() && x.dtype().minifloat().is_none() {
            return Err(dtype_err(format!("x must be a quantized (integer or FLOAT8) type, not {}", x.dtype())));
        }
        if let Some(z) = zp {
            if z.dtype() != x.dtype() {
                return Err(dtype_err(format!("x_zero_point is {} but x is {}", z.dtype(), x.dtype())));
            }
            if z.shape() != scale.shape() && !(z.len() == 1 && scale.len() == 1) {
                return Err(shape_err(format!("x_zero_point shape {:?} differs from x_scale shape {:?}", z.shape(), scale.shape())));
            }
            if x.dtype() == DType::I32 && z.to_i64_vec().is_some_and(|v| v.iter().any(|&e| e != 0)) {
                return Err(value_err("an int32 input must have a zero point of 0"));
            }
        }
        let map = ScaleMap::new(x.shape(), scale.shape(), self.axis, self.block_size)?;
        let s = scale_values(scale)?;
        let y = dequantize(x, &s, zp, map)?;
        let shape = x.shape().to_vec();
        let data = match scale.dtype() {
            DType::F16 => Data::F16(y.into_iter().map(f16::from_f32).collect()),
            DType::BF16 => Data::BF16(y.into_iter().map(bf16::from_f32).collect()),
            _ => Data::F32(y),
        };
        Ok(vec![Value::new(shape, data)])
    }
}

// ------------------------------------------------------------------ DynamicQuantizeLinear

#[derive(Debug)]
pub struct DynamicQuantizeLinear;

pub fn build_dynamic_quantize_linear(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(DynamicQuantizeLinear))
}

/// Scale and zero point of DynamicQuantizeLinear for `x` (u8, see the module docs).
pub fn dynamic_params(x: &[f32]) -> (f32, u8) {
    let (lo, hi) = super::activation_quant::range(x);
    let scale = if hi == lo { 1.0 } else { (hi - lo) / 255.0 };
    let zp = (0.0 - lo / scale).clamp(0.0, 255.0).round_ties_even() as u8;
    (scale, zp)
}

/// Quantizes `x` to u8 with a scale and zero point (the DynamicQuantizeLinear formula; NaN → 0,
/// like MLAS's conversion of a NaN lane).
pub fn quantize_u8_into(x: &[f32], scale: f32, zp: u8, out: &mut [u8]) {
    super::activation_quant::quantize_u8(x, scale, zp, out)
}

impl Op for DynamicQuantizeLinear {
    fn op_type(&self) -> &'static str {
        "DynamicQuantizeLinear"
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let x = inputs.req(0)?;
        let xs = crate::op::f32_input(x, "x")?;
        let (scale, zp) = dynamic_params(xs);
        let mut q = vec![0u8; xs.len()];
        quantize_u8_into(xs, scale, zp, &mut q);
        Ok(vec![Value::u8(x.shape().to_vec(), q), Value::scalar_f32(scale), Value::u8(vec![], vec![zp])])
    }
}

// ---------------------------------------------------------------------------- MatMulInteger

/// Zero points of a MatMul operand: scalar, or one per row (A, `per` = M) / column (B, `per` = N).
fn mm_zero_points(v: Option<&Value>, per: usize, what: &str, dtype: DType) -> Result<Vec<i32>, OpError> {
    zero_points(v, Some(per), what, dtype)
}

/// The int32 product of two 8-bit operands with zero points, batched like MatMul.
pub fn matmul_integer_value(
    a: &Value,
    a_zp: Option<&Value>,
    b: &Value,
    b_zp: Option<&Value>,
) -> Result<(Vec<i32>, Vec<usize>, MatmulPlan), OpError> {
    if a.rank() == 0 || b.rank() == 0 {
        return Err(OpError::Rank { input: if a.rank() == 0 { 0 } else { 1 }, expected: "at least 1".into(), got: 0 });
    }
    let (plan, shape) = MatmulPlan::new(a.shape(), b.shape())?;
    let az = mm_zero_points(a_zp, plan.m, "a_zero_point", a.dtype())?;
    let bz = mm_zero_points(b_zp, plan.n, "b_zero_point", b.dtype())?;
    let mut out = vec![0i32; shape.iter().product()];
    fn go<A: Int8, B: Int8>(plan: &MatmulPlan, a: &[A], az: &[i32], b: &[B], bz: &[i32], out: &mut [i32]) {
        let (m, k, n) = (plan.m, plan.k, plan.n);
        plan.for_each_batch(|ai, bi, oi| {
            quantscope_gemm::matmul_integer(
                m,
                k,
                n,
                &a[ai * m * k..(ai + 1) * m * k],
                az,
                &b[bi * k * n..(bi + 1) * k * n],
                bz,
                &mut out[oi * m * n..(oi + 1) * m * n],
            );
        });
    }
    match (a.data(), b.data(), a.dtype(), b.dtype()) {
        (Data::U8(x), Data::U8(y), DType::U8, DType::U8) => go(&plan, x, &az, y, &bz, &mut out),
        (Data::U8(x), Data::I8(y), DType::U8, DType::I8) => go(&plan, x, &az, y, &bz, &mut out),
        (Data::I8(x), Data::U8(y), DType::I8, DType::U8) => go(&plan, x, &az, y, &bz, &mut out),
        (Data::I8(x), Data::I8(y), DType::I8, DType::I8) => go(&plan, x, &az, y, &bz, &mut out),
        _ => return Err(dtype_err(format!("A and B must be uint8 or int8, not {} and {}", a.dtype(), b.dtype()))),
    }
    Ok((out, shape, plan))
}

/// `MatMulInteger`. A constant 2-D `B` (with a constant or absent `b_zero_point`, as in ONNX
/// Runtime's dynamically quantized models) is packed once at load time.
#[derive(Debug, Default)]
pub struct MatMulInteger {
    pub packed_b: Option<Arc<PackedI8B>>,
}

pub fn build_matmul_integer(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(MatMulInteger::default()))
}

impl Op for MatMulInteger {
    fn op_type(&self) -> &'static str {
        "MatMulInteger"
    }

    fn specialize(&self, constants: &[Option<&Value>]) -> Result<Option<Arc<dyn Op>>, OpError> {
        let Some(Some(b)) = constants.get(1) else { return Ok(None) };
        // b_zero_point must be known too: absent, or a constant.
        let given_zp = constants.get(3).copied().flatten();
        if b.rank() != 2 || (given_zp.is_none() && constants.len() > 3) {
            return Ok(None);
        }
        let (k, n) = (b.shape()[0], b.shape()[1]);
        let bz = mm_zero_points(given_zp, n, "b_zero_point", b.dtype())?;
        let packed = match (b.data(), b.dtype()) {
            (Data::U8(x), DType::U8) => PackedI8B::new(k, n, x, &bz),
            (Data::I8(x), DType::I8) => PackedI8B::new(k, n, x, &bz),
            _ => return Err(dtype_err(format!("B must be uint8 or int8, not {}", b.dtype()))),
        };
        Ok(Some(Arc::new(MatMulInteger { packed_b: Some(Arc::new(packed)) })))
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let a = inputs.req(0)?;
        if let Some(pb) = &self.packed_b {
            let az = mm_zero_points(inputs.get(2), 0, "a_zero_point", a.dtype());
            if let (Ok(az), true) = (az, a.rank() >= 1 && a.shape()[a.rank() - 1] == pb.k()) {
                let m: usize = a.shape()[..a.rank() - 1].iter().product();
                let mut acc = vec![0i32; m * pb.n()];
                match (a.data(), a.dtype()) {
                    (Data::U8(x), DType::U8) => quantscope_gemm::matmul_integer_packed(m, x, &az, pb, &mut acc),
                    (Data::I8(x), DType::I8) => quantscope_gemm::matmul_integer_packed(m, x, &az, pb, &mut acc),
                    _ => return Err(dtype_err(format!("A must be uint8 or int8, not {}", a.dtype()))),
                }
                let mut shape = a.shape()[..a.rank() - 1].to_vec();
                shape.push(pb.n());
                return Ok(vec![Value::i32(shape, acc)]);
            }
            // Per-row a_zero_point or a mismatched A: the general path reports or handles it.
        }
        let (acc, shape, _) = matmul_integer_value(a, inputs.get(2), inputs.req(1)?, inputs.get(3))?;
        Ok(vec![Value::i32(shape, acc)])
    }
}

// ---------------------------------------------------------------------------- QLinearMatMul

#[derive(Debug)]
pub struct QLinearMatMul;

pub fn build_qlinear_matmul(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&[])?;
    Ok(Arc::new(QLinearMatMul))
}

impl Op for QLinearMatMul {
    fn op_type(&self) -> &'static str {
        "QLinearMatMul"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let (a, b) = (inputs.req(0)?, inputs.req(3)?);
        let (acc, shape, plan) = matmul_integer_value(a, Some(inputs.req(2)?), b, Some(inputs.req(5)?))?;
        let a_scale = scales(inputs.req(1)?, Some(plan.m), "a_scale")?;
        let b_scale = scales(inputs.req(4)?, Some(plan.n), "b_scale")?;
        let y_scale = scales(inputs.req(6)?, None, "y_scale")?[0];
        let y_zp_v = inputs.req(7)?;
        let out_dtype = y_zp_v.dtype();
        let (qmin, qmax) = out_dtype
            .int_range()
            .filter(|_| matches!(out_dtype, DType::U8 | DType::I8))
            .ok_or_else(|| dtype_err(format!("y_zero_point must be uint8 or int8, not {out_dtype}")))?;
        let y_zp = zero_points(Some(y_zp_v), None, "y_zero_point", out_dtype)?[0];
        let (m, n) = (plan.m, plan.n);
        let pick = |s: &[f32], i: usize| s[if s.len() == 1 { 0 } else { i }];
        let q: Vec<i32> = acc
            .iter()
            .enumerate()
            .map(|(idx, &v)| {
                let (i, j) = ((idx / n.max(1)) % m.max(1), idx % n.max(1));
                requantize(v, pick(&a_scale, i) * pick(&b_scale, j) / y_scale, y_zp, qmin as i32, qmax as i32)
            })
            .collect();
        let data = if out_dtype == DType::U8 {
            Data::U8(q.iter().map(|&v| v as u8).collect())
        } else {
            Data::I8(q.iter().map(|&v| v as i8).collect())
        };
        Ok(vec![Value::new(shape, data)])
    }
}

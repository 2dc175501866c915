//! com.microsoft `MatMulNBits` (ONNX Runtime's contrib op, docs/ContribOperators.md): `Y = A ·
//! dequantize(B) (+ bias)`, where B `[N, k_blocks, block_size · bits / 8]` holds each column's
//! K weights in blocks of `block_size`, packed `8 / bits` to a byte from the low bits up, with
//! one float scale per block (`scales`, `[N · k_blocks]` in any shape of that size) and one
//! uint8 zero point per block packed the same way (`zero_points`, `[N, ceil(k_blocks · bits /
//! 8)]`), or `2^(bits−1)` without them: `w[k, n] = (q − zp) · scale`.
//!
//! The weights are dequantized once, when the model loads, and the product is the engine's
//! float MatMul. ONNX Runtime's CPU kernel (MLAS SQNBitGemm) sums in another order, and with
//! `accuracy_level` 4 quantizes A to int8 blocks first; the engine computes in float32 at every
//! accuracy level, so its outputs match ONNX Runtime's within float-sum rounding (level 0/1) or
//! within A's int8 rounding (level 4). Float zero points (HQQ's: one per block, unpacked, in the
//! quantized domain) dequantize as ONNX Runtime does, `(q − zp) · scale`; `g_idx` (act-order)
//! is refused.

use crate::attr::Attrs;
use crate::op::{attr_err, dtype_err, f32_input, norm_axis, shape_err, BuildCtx, Inputs, Op, OpError};
use crate::ops::shape::Gather;
use crate::value::{DType, Data, Value};
use half::f16;
use quantscope_gemm::PackedF32B;
use std::borrow::Cow;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct MatMulNBits {
    k: usize,
    n: usize,
    bits: usize,
    block_size: usize,
    /// B dequantized and packed, when B, scales and zero points are constants.
    packed_b: Option<Arc<PackedF32B>>,
    /// Bytes of the packed codes, scales and zero points (the model's size on disk).
    own: u64,
}

/// The blocks of MatMulNBits and GatherBlockQuantized: a power of two, at least 16.
fn check_block_size(block_size: i64) -> Result<usize, OpError> {
    if block_size < 16 || (block_size as u64).count_ones() != 1 {
        return Err(attr_err("block_size", format!("is {block_size}: it must be a power of two, at least 16")));
    }
    Ok(block_size as usize)
}

pub fn build_matmul_nbits(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["K", "N", "bits", "block_size", "accuracy_level"])?;
    let positive = |name: &str| -> Result<usize, OpError> {
        match a.int_opt(name)? {
            Some(v) if v > 0 => Ok(v as usize),
            Some(v) => Err(attr_err(name, format!("is {v}: it must be positive"))),
            None => Err(attr_err(name, "is required")),
        }
    };
    let (k, n, block_size) = (positive("K")?, positive("N")?, positive("block_size")?);
    let bits = a.int("bits", 4)?;
    if !matches!(bits, 2 | 4 | 8) {
        return Err(attr_err("bits", format!("is {bits}: MatMulNBits packs 2, 4 or 8 bits")));
    }
    check_block_size(block_size as i64)?;
    let level = a.int("accuracy_level", 0)?;
    if !(0..=4).contains(&level) {
        return Err(attr_err("accuracy_level", format!("is {level}: it must be 0 to 4")));
    }
    Ok(Arc::new(MatMulNBits { k, n, bits: bits as usize, block_size, packed_b: None, own: 0 }))
}

/// A float32 or float16 input's values as float32 (float32 ones borrowed).
fn half_or_single<'v>(v: &'v Value, what: &str) -> Result<Cow<'v, [f32]>, OpError> {
    match v.data() {
        Data::F16(x) => Ok(Cow::Owned(x.iter().map(|e| e.to_f32()).collect())),
        _ => Ok(Cow::Borrowed(f32_input(v, what)?)),
    }
}

/// A MatMulNBits' zero points: none (the middle code), packed uint8 codes, or HQQ's floats.
#[derive(Clone, Copy)]
enum ZeroPoints<'a> {
    Middle,
    Packed(&'a [u8]),
    Float(&'a [f32]),
}

impl MatMulNBits {
    fn k_blocks(&self) -> usize {
        self.k.div_ceil(self.block_size)
    }

    /// B as a row-major `[K, N]` float matrix, from the packed codes, scales and zero points.
    fn dequantize(&self, b: &Value, scales: &Value, zero_points: Option<&Value>) -> Result<Vec<f32>, OpError> {
        let (k, n, bits, kb) = (self.k, self.n, self.bits, self.k_blocks());
        let per_byte = 8 / bits;
        let blob = self.block_size * bits / 8;
        let codes = b.as_u8().ok_or_else(|| dtype_err(format!("B must be uint8, not {}", b.dtype())))?;
        if codes.len() != n * kb * blob {
            return Err(shape_err(format!(
                "B has shape {:?}; K={k}, N={n}, block_size={} and bits={bits} make it [{n}, {kb}, {blob}]",
                b.shape(),
                self.block_size
            )));
        }
        let s = &half_or_single(scales, "scales")?;
        if s.len() != n * kb {
            return Err(shape_err(format!("scales has {} values; N={n} columns of {kb} blocks need {}", s.len(), n * kb)));
        }
        let zp_cols = (kb * bits).div_ceil(8);
        let float_zp;
        let zp = match zero_points {
            None => ZeroPoints::Middle,
            Some(z) if z.dtype() == DType::U8 => {
                let z = z.as_u8().expect("u8 checked");
                if z.len() != n * zp_cols {
                    return Err(shape_err(format!(
                        "zero_points has {} bytes; N={n} columns of {kb} packed blocks need {}",
                        z.len(),
                        n * zp_cols
                    )));
                }
                ZeroPoints::Packed(z)
            }
            Some(z) if matches!(z.dtype(), DType::F32 | DType::F16) => {
                // HQQ's: one float per block, not packed, in the quantized domain
                float_zp = half_or_single(z, "zero_points")?;
                let z = &float_zp[..];
                if z.len() != n * kb {
                    return Err(shape_err(format!(
                        "float zero_points has {} values; N={n} columns of {kb} blocks need {}",
                        z.len(),
                        n * kb
                    )));
                }
                ZeroPoints::Float(z)
            }
            Some(z) => {
                return Err(dtype_err(format!(
                    "zero_points of type {} are not supported; uint8 (packed), float32 and float16 ones are",
                    z.dtype()
                )))
            }
        };
        let mask = ((1u16 << bits) - 1) as u8;
        let mid = 1i32 << (bits - 1);
        let elem = |bytes: &[u8], i: usize| i32::from((bytes[i / per_byte] >> ((i % per_byte) * bits)) & mask);
        let mut w = vec![0f32; k * n];
        for col in 0..n {
            let column = &codes[col * kb * blob..(col + 1) * kb * blob];
            for blk in 0..kb {
                let scale = s[col * kb + blk];
                let block = &column[blk * blob..(blk + 1) * blob];
                let rows = (blk * self.block_size..k).take(self.block_size);
                let z = match zp {
                    ZeroPoints::Float(z) => {
                        // dequantize_blockwise with a float zero point: (q - zp) * scale
                        let z = z[col * kb + blk];
                        for (e, row) in rows.enumerate() {
                            w[row * n + col] = (elem(block, e) as f32 - z) * scale;
                        }
                        continue;
                    }
                    ZeroPoints::Packed(z) => elem(&z[col * zp_cols..(col + 1) * zp_cols], blk),
                    ZeroPoints::Middle => mid,
                };
                for (e, row) in rows.enumerate() {
                    w[row * n + col] = (elem(block, e) - z) as f32 * scale;
                }
            }
        }
        Ok(w)
    }
}

impl Op for MatMulNBits {
    fn op_type(&self) -> &'static str {
        "MatMulNBits"
    }

    fn specialize(&self, constants: &[Option<&Value>]) -> Result<Option<Arc<dyn Op>>, OpError> {
        let c = |i: usize| constants.get(i).copied().flatten();
        let (Some(b), Some(scales)) = (c(1), c(2)) else { return Ok(None) };
        // zero points absent, or a constant
        let zp_given = constants.len() > 3;
        if zp_given && c(3).is_none() {
            return Ok(None);
        }
        let w = self.dequantize(b, scales, c(3))?;
        let zp_bytes = c(3).map_or(0, |z| if z.dtype() == DType::F32 { z.len() * 4 } else { z.len() });
        let own = (b.len() + scales.len() * 4 + zp_bytes) as u64;
        Ok(Some(Arc::new(MatMulNBits { packed_b: Some(Arc::new(PackedF32B::new(self.k, self.n, &w))), own, ..self.clone() })))
    }

    fn own_bytes(&self) -> u64 {
        self.own
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let a = inputs.req(0)?;
        // a float16 model's A (and scales, bias, output): computed in float32, rounded back
        let x = &half_or_single(a, "A")?;
        if a.rank() == 0 || a.shape()[a.rank() - 1] != self.k {
            return Err(shape_err(format!("A has shape {:?}; its last dimension must be K={}", a.shape(), self.k)));
        }
        if inputs.get(4).is_some() {
            return Err(dtype_err("g_idx (act-order GPTQ weights) is not supported"));
        }
        let owned;
        let pb: &PackedF32B = match &self.packed_b {
            Some(pb) => pb,
            None => {
                owned = PackedF32B::new(self.k, self.n, &self.dequantize(inputs.req(1)?, inputs.req(2)?, inputs.get(3))?);
                &owned
            }
        };
        let m = a.shape()[..a.rank() - 1].iter().product::<usize>();
        let mut y = vec![0.0f32; m * self.n];
        quantscope_gemm::gemm_f32_packed(m, x, pb, &mut y);
        if let Some(bias) = inputs.get(5) {
            let bias = &half_or_single(bias, "bias")?;
            if bias.len() != self.n {
                return Err(shape_err(format!("bias has {} values; N is {}", bias.len(), self.n)));
            }
            for row in y.chunks_mut(self.n) {
                row.iter_mut().zip(bias.iter()).for_each(|(v, b)| *v += b);
            }
        }
        let mut shape = a.shape()[..a.rank() - 1].to_vec();
        shape.push(self.n);
        if a.dtype() == DType::F16 {
            return Ok(vec![Value::new(shape, Data::F16(y.into_iter().map(f16::from_f32).collect()))]);
        }
        Ok(vec![Value::f32(shape, y)])
    }
}

// ------------------------------------------------------------------ GatherBlockQuantized

/// com.microsoft `GatherBlockQuantized` (ONNX Runtime's contrib op, as its weight-only quantizer
/// writes embedding tables): Gather along `gather_axis` of int4/uint4 `data` quantized in blocks
/// of `block_size` along `quantize_axis`, each block with a float scale and (uint4) a zero point:
/// `(q − zp) · scale`, zero point 0 for int4 and the middle code 8 for uint4 without them. The
/// table is dequantized once when data, scales and zero points are constants; the output has the
/// scales' type.
#[derive(Debug, Clone)]
pub struct GatherBlockQuantized {
    gather_axis: i64,
    quantize_axis: i64,
    block_size: usize,
    /// The dequantized table, when its inputs are constants.
    table: Option<Arc<Value>>,
    own: u64,
}

pub fn build_gather_block_quantized(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["bits", "block_size", "gather_axis", "quantize_axis"])?;
    let bits = a.int("bits", 4)?;
    if bits != 4 {
        return Err(attr_err("bits", format!("is {bits}: quantscope runs 4-bit (int4/uint4) GatherBlockQuantized data")));
    }
    let block_size = check_block_size(a.int("block_size", 128)?)?;
    Ok(Arc::new(GatherBlockQuantized {
        gather_axis: a.int("gather_axis", 0)?,
        quantize_axis: a.int("quantize_axis", 1)?,
        block_size,
        table: None,
        own: 0,
    }))
}

impl GatherBlockQuantized {
    /// The float table `(q − zp) · scale` in the scales' type.
    fn dequantize(&self, data: &Value, scales: &Value, zero_points: Option<&Value>) -> Result<Value, OpError> {
        let shape = data.shape();
        let axis = norm_axis(self.quantize_axis, shape.len())?;
        if !matches!(data.dtype(), DType::I4 | DType::U4) {
            return Err(dtype_err(format!("data must be int4 or uint4, not {}", data.dtype())));
        }
        let codes = int4_codes(data);
        let (dim, inner) = (shape[axis], shape[axis + 1..].iter().product::<usize>());
        let blocks = dim.div_ceil(self.block_size);
        let mut meta_shape = shape.to_vec();
        meta_shape[axis] = blocks;
        if scales.shape() != &meta_shape[..] {
            return Err(shape_err(format!(
                "scales has shape {:?}; data {shape:?} in blocks of {} along axis {axis} needs {meta_shape:?}",
                scales.shape(),
                self.block_size
            )));
        }
        let s = half_or_single(scales, "scales")?;
        let zp: Option<Vec<i32>> = match zero_points {
            None => None,
            Some(z) if z.dtype() == data.dtype() && z.shape() == &meta_shape[..] => Some(int4_codes(z)),
            Some(z) => {
                return Err(dtype_err(format!(
                    "zero_points is {} {:?}; it must be data's type ({}) with the scales' shape {meta_shape:?}",
                    z.dtype(),
                    z.shape(),
                    data.dtype()
                )))
            }
        };
        let middle = if data.dtype() == DType::U4 { 8 } else { 0 };
        let values: Vec<f32> = (0..codes.len())
            .map(|i| {
                let (outer, along, k) = (i / (dim * inner), (i / inner) % dim, i % inner);
                let meta = (outer * blocks + along / self.block_size) * inner + k;
                let z = zp.as_ref().map_or(middle, |z| z[meta]);
                (codes[i] - z) as f32 * s[meta]
            })
            .collect();
        Value::from_f32(scales.dtype(), shape.to_vec(), &values).map_err(dtype_err)
    }
}

/// An int4 or uint4 value's codes (held one per i8 or u8).
fn int4_codes(v: &Value) -> Vec<i32> {
    match v.data() {
        Data::I8(x) => x.iter().map(|&q| i32::from(q)).collect(),
        Data::U8(x) => x.iter().map(|&q| i32::from(q)).collect(),
        _ => unreachable!("int4 and uint4 values are held as i8 and u8"),
    }
}

impl Op for GatherBlockQuantized {
    fn op_type(&self) -> &'static str {
        "GatherBlockQuantized"
    }

    fn specialize(&self, constants: &[Option<&Value>]) -> Result<Option<Arc<dyn Op>>, OpError> {
        let c = |i: usize| constants.get(i).copied().flatten();
        let (Some(data), Some(scales)) = (c(0), c(2)) else { return Ok(None) };
        if constants.len() > 3 && c(3).is_none() {
            return Ok(None);
        }
        let table = self.dequantize(data, scales, c(3))?;
        let own = (data.len().div_ceil(2) + scales.len() * 4 + c(3).map_or(0, |z| z.len().div_ceil(2))) as u64;
        Ok(Some(Arc::new(GatherBlockQuantized { table: Some(Arc::new(table)), own, ..self.clone() })))
    }

    fn own_bytes(&self) -> u64 {
        self.own
    }

    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let owned;
        let table: &Value = match &self.table {
            Some(t) => t,
            None => {
                owned = self.dequantize(inputs.req(0)?, inputs.req(2)?, inputs.get(3))?;
                &owned
            }
        };
        let indices = inputs.req(1)?;
        Gather { axis: self.gather_axis }.run(&mut Inputs::refs(&[Some(table), Some(indices)]))
    }
}

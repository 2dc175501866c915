//! Cast between every dtype the engine has, with numpy's rules: float → integer truncates
//! toward zero (Rust's saturating `as`; NaN → 0), integer → narrower integer wraps (INT4/UINT4
//! keep the low 4 bits, as the ONNX reference does), float → narrower float rounds to nearest
//! even. FLOAT8/FLOAT4 targets saturate to ±max by default (`saturate=1`); with `saturate=0`
//! an out-of-range value becomes NaN (E4M3FN) or ±Inf (E5M2), as ONNX specifies.

use crate::attr::Attrs;
use crate::op::{attr_err, BuildCtx, Inputs, Op, OpError};
use crate::value::{DType, Data, Value};
use half::bf16;
use std::sync::Arc;

#[derive(Debug)]
pub struct Cast {
    pub to: DType,
    pub saturate: bool,
}

pub fn build_cast(a: &Attrs, _: &BuildCtx) -> Result<Arc<dyn Op>, OpError> {
    a.only(&["to", "saturate", "round_mode"])?;
    let id = a.int_opt("to")?.ok_or_else(|| attr_err("to", "is required"))?;
    let to = DType::from_onnx(id as i32)
        .ok_or_else(|| OpError::Unsupported(format!("casting to {} ({id}) is not supported", DType::onnx_name(id as i32))))?;
    if a.string("round_mode")?.is_some_and(|m| m != "up") {
        return Err(OpError::Unsupported("round_mode other than 'up' is not supported".into()));
    }
    Ok(Arc::new(Cast { to, saturate: a.int("saturate", 1)? != 0 }))
}

impl Op for Cast {
    fn op_type(&self) -> &'static str {
        "Cast"
    }
    fn run(&self, inputs: &mut Inputs<'_>) -> Result<Vec<Value>, OpError> {
        let v = inputs.req(0)?;
        if v.dtype() == self.to {
            return Ok(vec![inputs.take_or_clone(0)?]);
        }
        Ok(vec![cast(v, self.to, self.saturate)])
    }
}

/// Source elements widened without loss (but for 64-bit integers beyond f64's reach, which
/// stay integers).
enum Wide {
    Float(Vec<f64>),
    Int(Vec<i128>),
}

fn widen(v: &Value) -> Wide {
    if v.dtype().is_float() {
        return Wide::Float(v.to_f64_vec());
    }
    Wide::Int(match v.data() {
        Data::U64(x) => x.iter().map(|&e| e as i128).collect(),
        Data::Bool(x) => x.iter().map(|&e| e as i128).collect(),
        _ => v.to_i64_vec().expect("integer dtype").into_iter().map(|e| e as i128).collect(),
    })
}

/// `v` converted to `to`.
pub fn cast(v: &Value, to: DType, saturate: bool) -> Value {
    let shape = v.shape().to_vec();
    if to == DType::F32 {
        return Value::f32(shape, v.to_f32_vec());
    }
    let wide = widen(v);
    // Integer targets: float → i128 by truncation (saturating, NaN → 0), then wrapping.
    let ints = |w: &Wide| -> Vec<i128> {
        match w {
            Wide::Float(x) => x.iter().map(|&e| e as i128).collect(),
            Wide::Int(x) => x.clone(),
        }
    };
    let floats = |w: &Wide| -> Vec<f64> {
        match w {
            Wide::Float(x) => x.clone(),
            Wide::Int(x) => x.iter().map(|&e| e as f64).collect(),
        }
    };
    let data = match to {
        DType::F32 => unreachable!("handled above"),
        DType::F64 => Data::F64(floats(&wide)),
        // Rounded once, as the spec (numpy's astype) does: see `f64_to_f16` for why not `half`'s.
        DType::F16 => Data::F16(floats(&wide).into_iter().map(quantscope_core::schemes::float::f64_to_f16).collect()),
        DType::BF16 => Data::BF16(floats(&wide).into_iter().map(bf16::from_f64).collect()),
        DType::Bool => Data::Bool(match &wide {
            Wide::Float(x) => x.iter().map(|&e| e != 0.0).collect(),
            Wide::Int(x) => x.iter().map(|&e| e != 0).collect(),
        }),
        DType::I8 => Data::I8(ints(&wide).into_iter().map(|e| e as i8).collect()),
        DType::U8 => Data::U8(ints(&wide).into_iter().map(|e| e as u8).collect()),
        DType::I16 => Data::I16(ints(&wide).into_iter().map(|e| e as i16).collect()),
        DType::U16 => Data::U16(ints(&wide).into_iter().map(|e| e as u16).collect()),
        DType::I32 => Data::I32(ints(&wide).into_iter().map(|e| e as i32).collect()),
        DType::U32 => Data::U32(ints(&wide).into_iter().map(|e| e as u32).collect()),
        DType::I64 => Data::I64(ints(&wide).into_iter().map(|e| e as i64).collect()),
        DType::U64 => Data::U64(ints(&wide).into_iter().map(|e| e as u64).collect()),
        DType::I4 => Data::I8(ints(&wide).into_iter().map(|e| ((e as u8) << 4) as i8 >> 4).collect()),
        DType::U4 => Data::U8(ints(&wide).into_iter().map(|e| e as u8 & 0xf).collect()),
        DType::I2 => Data::I8(ints(&wide).into_iter().map(|e| ((e as u8) << 6) as i8 >> 6).collect()),
        DType::U2 => Data::U8(ints(&wide).into_iter().map(|e| e as u8 & 0x3).collect()),
        DType::F8E4M3FN | DType::F8E5M2 | DType::F4E2M1 => {
            let fmt = to.minifloat().expect("minifloat dtype");
            Data::U8(floats(&wide).into_iter().map(|e| encode_minifloat(to, fmt, e as f32, saturate)).collect())
        }
    };
    Value::with_dtype(to, shape, data)
}

/// One f32 to an FP8/FP4 code; without saturation, values that round beyond the largest
/// finite value become NaN (E4M3FN, which has no Inf) or ±Inf (E5M2).
pub(crate) fn encode_minifloat(to: DType, fmt: quantscope_core::schemes::float::FloatFormat, x: f32, saturate: bool) -> u8 {
    let sign = if x.is_sign_negative() { 0x80 } else { 0 };
    if !saturate && !x.is_nan() {
        let a = x.abs();
        match to {
            // 448 is 1.110·2^8 (even mantissa): the midpoint 464 rounds down to it.
            DType::F8E4M3FN if a > 464.0 => return 0x7f | sign,
            // 57344 is 1.11·2^15 (odd mantissa): the midpoint 61440 rounds up, to Inf.
            DType::F8E5M2 if a >= 61440.0 => return 0x7c | sign,
            _ => {}
        }
    }
    fmt.encode(x) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int4_wraps_like_the_reference() {
        let v = Value::f32(vec![4], vec![-9.0, -8.0, 7.0, 8.0]);
        assert_eq!(cast(&v, DType::I4, true).data(), &Data::I8(vec![7, -8, 7, -8]));
        assert_eq!(cast(&v, DType::U4, true).data(), &Data::U8(vec![7, 8, 7, 8]));
    }

    #[test]
    fn float_to_int_truncates_and_ints_wrap() {
        let v = Value::f32(vec![3], vec![-1.7, 2.9, 300.0]);
        assert_eq!(cast(&v, DType::I32, true).data(), &Data::I32(vec![-1, 2, 300]));
        assert_eq!(cast(&v, DType::U8, true).data(), &Data::U8(vec![255, 2, 44]));
        let big = Value::new(vec![1], Data::U64(vec![u64::MAX]));
        assert_eq!(cast(&big, DType::I64, true).data(), &Data::I64(vec![-1]));
    }

    #[test]
    fn double_to_half_rounds_once() {
        // Just above the midpoint between 1 and 1 + 2⁻¹⁰: the nearest half is 1 + 2⁻¹⁰. Through
        // f32 the 2⁻⁴⁰ is lost first, the tie goes to even, and the answer would be 1.
        let x = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
        let v = Value::new(vec![2], Data::F64(vec![x, -x]));
        let Data::F16(h) = cast(&v, DType::F16, true).into_data() else { unreachable!() };
        assert_eq!(h.iter().map(|h| h.to_bits()).collect::<Vec<_>>(), vec![0x3c01, 0xbc01]);
    }

    #[test]
    fn fp8_saturation() {
        let v = Value::f32(vec![3], vec![1000.0, -1e9, 460.0]);
        assert_eq!(cast(&v, DType::F8E4M3FN, true).data(), &Data::U8(vec![0x7e, 0xfe, 0x7e]));
        assert_eq!(cast(&v, DType::F8E4M3FN, false).data(), &Data::U8(vec![0x7f, 0xff, 0x7e]));
        let Data::U8(e5) = cast(&v, DType::F8E5M2, false).into_data() else { unreachable!() };
        assert_eq!(e5[1], 0xfc);
    }
}

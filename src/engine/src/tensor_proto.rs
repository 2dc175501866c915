//! `TensorProto` ⇄ [`Value`], each element in its own dtype.
//!
//! Decoding follows `onnx/onnx.proto`: `raw_data` holds the elements little-endian (4-bit
//! types two per byte, first element in the low nibble); otherwise the typed field the spec
//! assigns to the type: `float_data` (FLOAT), `double_data` (DOUBLE), `int64_data` (INT64),
//! `uint64_data` (UINT32, UINT64) and `int32_data` for everything else (FLOAT16/BFLOAT16 as
//! bit patterns, FLOAT8 codes one per entry, 4-bit types one packed byte per entry).

use super::value::{checked_count, DType, Data, Value};
use crate::error::EngineError;
use half::{bf16, f16};
use quantscope_core::tensor::MAX_ELEMENTS;
use quantscope_formats::onnx::proto::TensorProto;

fn bad(name: &str, why: impl Into<String>) -> EngineError {
    EngineError::BadTensor { name: name.to_string(), why: why.into() }
}

/// Decodes a tensor. `name` is used in errors (the tensor's own name may be empty).
pub fn decode(t: &TensorProto, name: &str) -> Result<Value, EngineError> {
    let type_id = t.data_type.unwrap_or(0);
    let dtype = DType::from_onnx(type_id)
        .ok_or_else(|| bad(name, format!("data type {} ({type_id}) is not supported by the engine", DType::onnx_name(type_id))))?;
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(bad(name, "external data is not supported (a browser has only the one file)"));
    }
    let shape: Option<Vec<usize>> = t.dims.iter().map(|&d| usize::try_from(d).ok()).collect();
    let shape = shape.ok_or_else(|| bad(name, format!("dims {:?} has a negative dimension", t.dims)))?;
    let n = checked_count(&shape)
        .filter(|&n| n as u64 <= MAX_ELEMENTS)
        .ok_or_else(|| bad(name, format!("dims {:?} has too many elements", t.dims)))?;
    let data = match &t.raw_data {
        Some(raw) => from_raw(raw, dtype, n).map_err(|why| bad(name, why))?,
        None => from_typed(t, dtype, n).map_err(|why| bad(name, why))?,
    };
    Ok(Value::with_dtype(dtype, shape, data))
}

fn from_raw(raw: &[u8], dtype: DType, n: usize) -> Result<Data, String> {
    let expected = (n as u64 * dtype.bits() as u64).div_ceil(8);
    if raw.len() as u64 != expected {
        return Err(format!("raw_data has {} bytes but its dims need {expected}", raw.len()));
    }
    fn each<const N: usize, T>(raw: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        raw.chunks_exact(N).map(|c| f(c.try_into().expect("chunks_exact yields N bytes"))).collect()
    }
    Ok(match dtype {
        DType::F32 => Data::F32(each(raw, f32::from_le_bytes)),
        DType::F64 => Data::F64(each(raw, f64::from_le_bytes)),
        DType::F16 => Data::F16(each(raw, f16::from_le_bytes)),
        DType::BF16 => Data::BF16(each(raw, bf16::from_le_bytes)),
        DType::I8 => Data::I8(raw.iter().map(|&b| b as i8).collect()),
        DType::U8 | DType::F8E4M3FN | DType::F8E5M2 => Data::U8(raw.to_vec()),
        DType::I16 => Data::I16(each(raw, i16::from_le_bytes)),
        DType::U16 => Data::U16(each(raw, u16::from_le_bytes)),
        DType::I32 => Data::I32(each(raw, i32::from_le_bytes)),
        DType::U32 => Data::U32(each(raw, u32::from_le_bytes)),
        DType::I64 => Data::I64(each(raw, i64::from_le_bytes)),
        DType::U64 => Data::U64(each(raw, u64::from_le_bytes)),
        DType::Bool => Data::Bool(raw.iter().map(|&b| b != 0).collect()),
        DType::I4 | DType::U4 | DType::F4E2M1 | DType::I2 | DType::U2 => unpack_bits(raw, dtype, n),
    })
}

/// 8/bits elements per byte (4-bit: two, 2-bit: four), the first in the lowest bits; the
/// signed types are sign-extended.
fn unpack_bits(bytes: &[u8], dtype: DType, n: usize) -> Data {
    let bits = dtype.bits();
    let mask = (1u8 << bits) - 1;
    let codes = bytes.iter().flat_map(|&b| (0..8 / bits).map(move |k| (b >> (k * bits)) & mask)).take(n);
    if matches!(dtype, DType::I4 | DType::I2) {
        let shift = 8 - bits;
        Data::I8(codes.map(|x| ((x << shift) as i8) >> shift).collect())
    } else {
        Data::U8(codes.collect())
    }
}

fn from_typed(t: &TensorProto, dtype: DType, n: usize) -> Result<Data, String> {
    fn check<T>(field: &str, v: &[T], n: usize) -> Result<(), String> {
        if v.len() != n {
            return Err(format!("{field} has {} elements but its dims need {n}", v.len()));
        }
        Ok(())
    }
    let i32s = &t.int32_data;
    Ok(match dtype {
        DType::F32 => {
            check("float_data", &t.float_data, n)?;
            Data::F32(t.float_data.clone())
        }
        DType::F64 => {
            check("double_data", &t.double_data, n)?;
            Data::F64(t.double_data.clone())
        }
        DType::I64 => {
            check("int64_data", &t.int64_data, n)?;
            Data::I64(t.int64_data.clone())
        }
        DType::U32 | DType::U64 => {
            check("uint64_data", &t.uint64_data, n)?;
            if dtype == DType::U32 {
                Data::U32(t.uint64_data.iter().map(|&x| x as u32).collect())
            } else {
                Data::U64(t.uint64_data.clone())
            }
        }
        DType::I4 | DType::U4 | DType::F4E2M1 | DType::I2 | DType::U2 => {
            check("int32_data", i32s, n.div_ceil(8 / dtype.bits() as usize))?;
            let bytes: Vec<u8> = i32s.iter().map(|&x| x as u8).collect();
            unpack_bits(&bytes, dtype, n)
        }
        _ => {
            check("int32_data", i32s, n)?;
            match dtype {
                DType::F16 => Data::F16(i32s.iter().map(|&x| f16::from_bits(x as u16)).collect()),
                DType::BF16 => Data::BF16(i32s.iter().map(|&x| bf16::from_bits(x as u16)).collect()),
                DType::I8 => Data::I8(i32s.iter().map(|&x| x as i8).collect()),
                DType::U8 | DType::F8E4M3FN | DType::F8E5M2 => Data::U8(i32s.iter().map(|&x| x as u8).collect()),
                DType::I16 => Data::I16(i32s.iter().map(|&x| x as i16).collect()),
                DType::U16 => Data::U16(i32s.iter().map(|&x| x as u16).collect()),
                DType::I32 => Data::I32(i32s.clone()),
                DType::Bool => Data::Bool(i32s.iter().map(|&x| x != 0).collect()),
                _ => unreachable!("the other dtypes have their own fields"),
            }
        }
    })
}

/// Encodes a value as a `TensorProto` with `raw_data` (what `numpy_helper.from_array` writes).
pub fn encode(name: &str, v: &Value) -> TensorProto {
    let raw: Vec<u8> = match (v.data(), v.dtype()) {
        (Data::I8(x), DType::I4 | DType::I2) => pack_bits(x.iter().map(|&e| e as u8), v.dtype().bits()),
        (Data::U8(x), DType::U4 | DType::F4E2M1 | DType::U2) => pack_bits(x.iter().copied(), v.dtype().bits()),
        (Data::F32(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::F64(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::F16(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::BF16(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::I8(x), _) => x.iter().map(|&e| e as u8).collect(),
        (Data::U8(x), _) => x.clone(),
        (Data::I16(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::U16(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::I32(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::U32(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::I64(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::U64(x), _) => x.iter().flat_map(|e| e.to_le_bytes()).collect(),
        (Data::Bool(x), _) => x.iter().map(|&e| e as u8).collect(),
    };
    TensorProto {
        name: Some(name.to_string()),
        dims: v.shape().iter().map(|&d| d as i64).collect(),
        data_type: Some(v.dtype().onnx_id()),
        raw_data: Some(raw),
        ..Default::default()
    }
}

fn pack_bits(x: impl Iterator<Item = u8>, bits: u32) -> Vec<u8> {
    let x: Vec<u8> = x.collect();
    let mask = (1u8 << bits) - 1;
    x.chunks(8 / bits as usize).map(|c| c.iter().enumerate().fold(0u8, |b, (k, &e)| b | (e & mask) << (k as u32 * bits))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_dtype() {
        let values = vec![
            Value::f32(vec![2], vec![1.5, -2.0]),
            Value::new(vec![3], Data::F16(vec![f16::ONE, f16::NEG_ONE, f16::MAX])),
            Value::i64(vec![2, 1], vec![-7, 1 << 40]),
            Value::u8(vec![3], vec![0, 128, 255]),
            Value::new(vec![2], Data::Bool(vec![true, false])),
            Value::with_dtype(DType::I4, vec![3], Data::I8(vec![-8, 7, -1])),
            Value::with_dtype(DType::U4, vec![2, 2], Data::U8(vec![0, 15, 3, 9])),
            Value::with_dtype(DType::F8E4M3FN, vec![1], Data::U8(vec![0x38])),
            Value::with_dtype(DType::I2, vec![5], Data::I8(vec![-2, -1, 0, 1, -2])),
            Value::with_dtype(DType::U2, vec![3], Data::U8(vec![3, 0, 2])),
        ];
        for v in values {
            let t = encode("t", &v);
            assert_eq!(decode(&t, "t").unwrap(), v);
        }
    }

    #[test]
    fn typed_fields_decode() {
        let t = TensorProto { dims: vec![3], data_type: Some(22), int32_data: vec![0x8f, 0x01], ..Default::default() };
        assert_eq!(decode(&t, "t").unwrap().data(), &Data::I8(vec![-1, -8, 1]));
        let t = TensorProto { dims: vec![2], data_type: Some(12), uint64_data: vec![1, 4_000_000_000], ..Default::default() };
        assert_eq!(decode(&t, "t").unwrap().data(), &Data::U32(vec![1, 4_000_000_000]));
    }

    #[test]
    fn bad_tensors_are_named_errors() {
        let t = TensorProto { dims: vec![2], data_type: Some(1), raw_data: Some(vec![0; 4]), ..Default::default() };
        assert_eq!(decode(&t, "w").unwrap_err().to_string(), "tensor 'w' cannot be read: raw_data has 4 bytes but its dims need 8");
        let t = TensorProto { dims: vec![1], data_type: Some(8), ..Default::default() };
        assert!(decode(&t, "s").unwrap_err().to_string().contains("STRING (8) is not supported"));
        let t = TensorProto { dims: vec![-1], data_type: Some(1), ..Default::default() };
        assert!(decode(&t, "n").unwrap_err().to_string().contains("negative"));
    }
}

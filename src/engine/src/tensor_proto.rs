//! `TensorProto` ⇄ [`Value`]: the ONNX format's one decoder and encoder
//! (`quantscope_formats::onnx::tensor`), with the engine's errors, which name the tensor.

use super::value::Value;
use crate::error::EngineError;
use quantscope_formats::onnx::proto::TensorProto;
use quantscope_formats::onnx::tensor::{self, TensorError};

/// Decodes a tensor. `name` is used in errors (the tensor's own name may be empty).
pub fn decode(t: &TensorProto, name: &str) -> Result<Value, EngineError> {
    let tensor::Decoded { dtype, shape, data } = tensor::decode(t).map_err(|e| {
        let why = match e {
            TensorError::UnsupportedType(_) => format!("{e} by the engine"),
            e => e.to_string(),
        };
        EngineError::BadTensor { name: name.to_string(), why }
    })?;
    Ok(Value::with_dtype(dtype, shape, data))
}

/// Encodes a value as a `TensorProto` with `raw_data` (what `numpy_helper.from_array` writes).
pub fn encode(name: &str, v: &Value) -> TensorProto {
    tensor::encode(name, v.dtype(), v.shape(), v.data())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{DType, Data};
    use half::f16;

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
    fn bad_tensors_are_named_errors() {
        let t = TensorProto { dims: vec![2], data_type: Some(1), raw_data: Some(vec![0; 4]), ..Default::default() };
        assert_eq!(decode(&t, "w").unwrap_err().to_string(), "tensor 'w' cannot be read: raw_data has 4 bytes but its dims need 8");
        let t = TensorProto { dims: vec![1], data_type: Some(8), ..Default::default() };
        assert!(decode(&t, "s").unwrap_err().to_string().contains("STRING (8) is not supported"));
        let t = TensorProto { dims: vec![-1], data_type: Some(1), ..Default::default() };
        assert!(decode(&t, "n").unwrap_err().to_string().contains("negative"));
    }
}

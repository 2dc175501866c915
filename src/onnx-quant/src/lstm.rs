//! `quantize_dynamic`'s LSTM rule (`LSTMQuant.quantize`,
//! `onnxruntime/python/tools/quantization/operators/lstm.py`, onnxruntime 1.32): W and R as
//! symmetric int8 whatever the weight type asked for (the rule passes `TensorProto.INT8`, and
//! `is_weight_symmetric(INT8)` is true), one scale per direction — or, with `per_channel`, one
//! per gate row of LSTM's `[dirs, 4·hidden, ·]` (the rule reshapes W to `[dirs·4·hidden, ·]`
//! and quantizes along axis 0) — codes transposed to `[dirs, ·, 4·hidden]`, the layout the
//! com.microsoft `DynamicQuantizeLSTM` kernel reads.

use crate::weights::{self, QuantizedWeight, WeightQuant};
use crate::{QuantizeError, Result};
use quantscope_formats::onnx::proto::OperatorSetIdProto;
use quantscope_formats::onnx::splice::{self, FieldEdit};
use quantscope_formats::onnx::tensor::{self, DType, Data};

/// W or R (`[dirs, 4·hidden, cols]`, float values) as `quantize_weight_per_channel` then the
/// rule's transpose write them: `<name>_scale` and `<name>_zero_point` (`[dirs]`, or
/// `[dirs, 4·hidden]` per channel), and `<name>_quantized` `[dirs, cols, 4·hidden]` int8.
pub fn quantize_weight(name: &str, shape: &[usize], values: &[f32], per_channel: bool, how: WeightQuant) -> Result<QuantizedWeight> {
    let &[dirs, rows, cols] = shape else {
        return Err(QuantizeError::Unsupported(format!("LSTM weight '{name}' has shape {shape:?}, not [dirs, 4·hidden, size]")));
    };
    let mut q = if per_channel {
        weights::per_channel(name, &[dirs * rows, cols], values, 0, how)
    } else {
        weights::per_channel(name, shape, values, 0, how)
    };
    let codes = match tensor::decode(&q.quantized).map(|t| t.data) {
        Ok(Data::I8(c)) => c,
        _ => unreachable!("per_channel writes the int8 codes it was asked for"),
    };
    let mut transposed = vec![0i8; codes.len()];
    for d in 0..dirs {
        for r in 0..rows {
            for c in 0..cols {
                transposed[(d * cols + c) * rows + r] = codes[(d * rows + r) * cols + c];
            }
        }
    }
    q.quantized = tensor::encode(&weights::quantized_name(name), DType::I8, &[dirs, cols, rows], &Data::I8(transposed));
    if per_channel {
        // the rule sets the dims of the per-channel scales and zero points in place
        let dims = vec![dirs as i64, rows as i64];
        q.scale.dims = dims.clone();
        q.zero_point.dims = dims;
    }
    Ok(q)
}

/// ModelProto's `opset_import` field number.
const MODEL_OPSET_IMPORT: u32 = 8;

/// The model with a com.microsoft version 1 entry after its opsets, as `quantize_model` adds
/// one when it wrote a com.microsoft node and the model imports no such domain
/// (`opset_import.add()`: domain then version, after the others).
pub fn import_ms_domain(bytes: &[u8], opsets: &[OperatorSetIdProto]) -> Result<Vec<u8>> {
    if opsets.iter().any(|o| o.domain.as_deref() == Some("com.microsoft")) {
        return Ok(bytes.to_vec());
    }
    let mut entry = splice::bytes_field(1, b"com.microsoft");
    entry.extend(splice::varint_field(2, 1));
    let ms = splice::bytes_field(MODEL_OPSET_IMPORT, &entry);
    let mut seen = 0;
    let mut out = splice::rewrite_fields(bytes, |number, payload| {
        if number != MODEL_OPSET_IMPORT {
            return FieldEdit::Keep;
        }
        seen += 1;
        let mut whole = splice::bytes_field(MODEL_OPSET_IMPORT, payload);
        if seen == opsets.len() {
            whole.extend_from_slice(&ms);
        }
        FieldEdit::Replace(whole)
    })?;
    if opsets.is_empty() {
        out.extend(ms);
    }
    Ok(out)
}

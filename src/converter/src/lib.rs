//! The converter: the module the Run view's worker loads (`www/pkg-convert`) when a person asks
//! for their model with FP16 or BF16 weights (`quantscope_onnx_quant::float16`,
//! onnxconverter_common's `convert_float_to_float16(keep_io_types=True)`). A thin
//! `#[wasm_bindgen]` facade; apart from the exporter (dynamic INT8), whose size budget it would
//! not fit, so that each download fetches only its own writer. wasm32 only: on other targets the
//! crate is empty.
#![cfg(target_arch = "wasm32")]

use quantscope_onnx_quant::float16::{convert_to_half, Half};
use quantscope_wasm_common::{js_err, to_js};
use serde::Serialize;
use wasm_bindgen::prelude::*;

pub use quantscope_wasm_common::wasm_memory_bytes;

/// A converted model file and what was done.
#[wasm_bindgen]
pub struct HalfOnnx {
    bytes: Vec<u8>,
    report: JsValue,
}

#[wasm_bindgen]
impl HalfOnnx {
    /// The file's bytes.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// `{tensors, values, clamped_small, clamped_large, kept_float: [node], casts}`.
    #[wasm_bindgen(getter)]
    pub fn report(&self) -> JsValue {
        self.report.clone()
    }
}

/// What a half-precision conversion did.
#[derive(Serialize)]
struct HalfReport {
    tensors: usize,
    values: usize,
    clamped_small: usize,
    clamped_large: usize,
    kept_float: Vec<String>,
    casts: usize,
}

/// `bytes` (a whole `.onnx`) with its float32 weights in half precision, `precision` "fp16" or
/// "bf16", its float32 inputs and outputs kept by Casts (`quantscope_onnx_quant::float16`,
/// onnxconverter_common's `convert_float_to_float16(keep_io_types=True)`): the file and
/// `{tensors, values, clamped_small, clamped_large, kept_float: [node], casts}`.
#[wasm_bindgen]
pub fn convert_onnx_half(bytes: &[u8], precision: &str) -> Result<HalfOnnx, JsError> {
    let half = match precision {
        "fp16" => Half::F16,
        "bf16" => Half::BF16,
        other => return Err(JsError::new(&format!("half precision is fp16 or bf16, not '{other}'"))),
    };
    let (bytes, r) = convert_to_half(bytes, half).map_err(js_err)?;
    let report = to_js(&HalfReport {
        tensors: r.tensors,
        values: r.values,
        clamped_small: r.clamped_small,
        clamped_large: r.clamped_large,
        kept_float: r.kept_float,
        casts: r.casts,
    })?;
    Ok(HalfOnnx { bytes, report })
}

//! The exporter: the module the Run view's worker loads (`www/pkg-export`) when a person asks
//! for their model as a quantized `.onnx`. A thin `#[wasm_bindgen]` facade over
//! `quantscope-onnx-quant`; it lives apart from the models module so that running a model never
//! downloads the file writer. wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

use quantscope_onnx_quant::dynamic::{quantize_dynamic, DynamicOptions};
use quantscope_onnx_quant::weights::QType;
use quantscope_wasm_common::{js_err, to_js};
use serde::Serialize;
use wasm_bindgen::prelude::*;

pub use quantscope_wasm_common::wasm_memory_bytes;

/// What was done to each node.
#[derive(Serialize)]
struct Report {
    quantized: Vec<String>,
    /// `[node, why]` for each node of an op ONNX Runtime would quantize that stays in float.
    kept: Vec<(String, String)>,
}

/// A quantized model file and what was done to its nodes.
#[wasm_bindgen]
pub struct QuantizedOnnx {
    bytes: Vec<u8>,
    report: JsValue,
}

#[wasm_bindgen]
impl QuantizedOnnx {
    /// The file's bytes.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// `{quantized: [node], kept: [[node, why]]}`.
    #[wasm_bindgen(getter)]
    pub fn report(&self) -> JsValue {
        self.report.clone()
    }
}

/// `bytes` (a whole `.onnx`) as ONNX Runtime's `quantize_dynamic` writes it
/// (`quantscope_onnx_quant::dynamic`), `weight_type` "int8" or "uint8": the file and what was
/// done to its nodes, or why it cannot be quantized.
#[wasm_bindgen]
pub fn quantize_onnx_dynamic(bytes: &[u8], weight_type: &str, per_channel: bool, reduce_range: bool) -> Result<QuantizedOnnx, JsError> {
    let weight_type = match weight_type {
        "int8" => QType::Int8,
        "uint8" => QType::Uint8,
        other => return Err(JsError::new(&format!("weights are int8 or uint8, not '{other}'"))),
    };
    let options = DynamicOptions { weight_type, per_channel, reduce_range };
    let (bytes, report) = quantize_dynamic(bytes, &options).map_err(js_err)?;
    let report = to_js(&Report { quantized: report.quantized, kept: report.kept })?;
    Ok(QuantizedOnnx { bytes, report })
}

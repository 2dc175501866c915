//! The static QDQ module: the one the Run view's worker loads (`www/pkg-qdq`) when a person asks
//! for their model as ONNX Runtime's `quantize_static(quant_format=QDQ)` writes it. A thin
//! `#[wasm_bindgen]` facade over `quantscope_onnx_quant::static_qdq`: [`static_calibrated_tensors`]
//! lists the tensors ONNX Runtime calibrates, whose ranges (MinMax) or values (for the histogram
//! calibrations, handed to the calibration module, src/calib, www/pkg-calib) the worker takes as
//! the models module's engine makes them; [`quantize_onnx_static`] writes the file from
//! those ranges. Apart from the exporter (dynamic INT8), whose size budget
//! it would take from 94,544 to 124,912 B gzipped. wasm32 only: on other targets the crate is
//! empty.
#![cfg(target_arch = "wasm32")]

use quantscope_onnx_quant::static_qdq::{quantize_static, tensors_to_calibrate, Ranges, StaticOptions};
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

/// A model file and what was done to its nodes.
#[wasm_bindgen]
pub struct QdqFile {
    bytes: Vec<u8>,
    report: JsValue,
}

#[wasm_bindgen]
impl QdqFile {
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

/// The tensors ONNX Runtime's calibraters calibrate in `bytes` (every float tensor read or
/// written by an op `quantize_static` quantizes: its augmented models' list, the same for every
/// method). The worker takes their ranges, or their values for the histograms, as the models
/// module's engine makes them; no augmented model is built.
#[wasm_bindgen]
pub fn static_calibrated_tensors(bytes: &[u8]) -> Result<Vec<String>, JsError> {
    tensors_to_calibrate(bytes).map_err(js_err)
}

/// `bytes` as ONNX Runtime's `quantize_static(quant_format=QDQ)` writes it for the calibrated
/// ranges (`tensors[i]` from `mins[i]` to `maxs[i]`), activations "uint8" or "int8", with or
/// without its ForceQuantizeNoInputCheck: the file and what was done to its nodes, or why it
/// cannot be quantized.
#[wasm_bindgen]
pub fn quantize_onnx_static(
    bytes: &[u8],
    tensors: Vec<String>,
    mins: Vec<f32>,
    maxs: Vec<f32>,
    activation_type: &str,
    per_channel: bool,
    force_quantize_no_input_check: bool,
) -> Result<QdqFile, JsError> {
    let activation_type = match activation_type {
        "uint8" => QType::Uint8,
        "int8" => QType::Int8,
        other => return Err(JsError::new(&format!("activations are uint8 or int8, not '{other}'"))),
    };
    if tensors.len() != mins.len() || tensors.len() != maxs.len() {
        return Err(JsError::new("calibrated ranges: one min and one max per tensor"));
    }
    let ranges: Ranges = tensors.into_iter().zip(mins.into_iter().zip(maxs)).collect();
    let (bytes, report) =
        quantize_static(bytes, &ranges, &StaticOptions { activation_type, per_channel, force_quantize_no_input_check }).map_err(js_err)?;
    let report = to_js(&Report { quantized: report.quantized, kept: report.kept })?;
    Ok(QdqFile { bytes, report })
}

//! The weight-only INT4 (and INT2/INT8) module (www/pkg-nbits): a person's model as ONNX Runtime's
//! `MatMulNBitsQuantizer` (RTN) writes it (`quantscope_onnx_quant::nbits`), com.microsoft
//! MatMulNBits or blocked int4 DequantizeLinear, loaded by the Run worker when that file is first
//! asked for. A module of its own: in the exporter (www/pkg-export) it would take that from
//! 94,434 to 104,402 B gzipped, past its 100,000 B ceiling. wasm32 only: on other targets the
//! crate is empty.
#![cfg(target_arch = "wasm32")]

use quantscope_onnx_quant::nbits::{quantize_nbits, NBitsAlgorithm, NBitsFormat, NBitsOptions};
use quantscope_onnx_quant::QuantizeError;
use quantscope_wasm_common::to_js;
use serde::Serialize;
use wasm_bindgen::prelude::*;

pub use quantscope_wasm_common::wasm_memory_bytes;

/// The quantizer's own reasons; a file the reader refuses (the engine has read it already, so
/// this is rare) is named without the reader's messages, which would be linked in with them.
fn js_err(e: QuantizeError) -> JsError {
    match e {
        QuantizeError::Unsupported(why) | QuantizeError::Calibration(why) => JsError::new(&why),
        QuantizeError::Weight { name, why } => JsError::new(&format!("weight '{name}': {why}")),
        QuantizeError::Model(_) => JsError::new("the file is not an ONNX model quantscope can rewrite"),
    }
}

/// What was done to each MatMul.
#[derive(Serialize)]
struct Report {
    quantized: Vec<String>,
    /// `[node, why]` for each MatMul (or Gemm) left in float.
    kept: Vec<(String, String)>,
}

/// A quantized model file and what was done to its nodes.
#[wasm_bindgen]
pub struct NBitsOnnx {
    bytes: Vec<u8>,
    report: JsValue,
}

#[wasm_bindgen]
impl NBitsOnnx {
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

/// `bytes` (a whole `.onnx`) with `bits`-bit weights (2, 4 or 8) in blocks of `block_size` along
/// K, with zero points unless `symmetric`, as com.microsoft MatMulNBits (`format` "qoperator")
/// or blocked int4 DequantizeLinear ("qdq", 4 bits): the file and what was done to its MatMuls,
/// or why not. `method` is "rtn" (round to nearest) or "hqq" (HQQ's float zero points);
/// `gather` quantizes constant Gather tables too (GatherBlockQuantized).
#[wasm_bindgen]
pub fn quantize_onnx_nbits(
    bytes: &[u8],
    bits: u32,
    block_size: u32,
    symmetric: bool,
    format: &str,
    method: &str,
    gather: bool,
) -> Result<NBitsOnnx, JsError> {
    let format = match format {
        "qoperator" => NBitsFormat::QOperator,
        "qdq" => NBitsFormat::Qdq,
        other => return Err(JsError::new(&format!("the format is qoperator or qdq, not '{other}'"))),
    };
    let algorithm = match method {
        "rtn" => NBitsAlgorithm::Rtn,
        "hqq" => NBitsAlgorithm::Hqq,
        other => return Err(JsError::new(&format!("the method is rtn or hqq, not '{other}'"))),
    };
    let options = NBitsOptions { bits, block_size: block_size as usize, symmetric, format, algorithm, gather, ..NBitsOptions::default() };
    let (bytes, report) = quantize_nbits(bytes, &options).map_err(js_err)?;
    let report = to_js(&Report { quantized: report.quantized, kept: report.kept })?;
    Ok(NBitsOnnx { bytes, report })
}

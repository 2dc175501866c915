//! The built-in MNIST model for the bench against onnxruntime-web (www/bench-ort-worker.js).

use js_sys::Float32Array;
use quantscope_engine::mnist::{output_probabilities, INPUT, PIXELS};
use quantscope_engine::{Model, QuantizeConfig, QuantizeKind, Value};
use quantscope_wasm_common::js_err;
use wasm_bindgen::prelude::*;

/// The built-in model, FP32 or int8 dynamic, for the bench against onnxruntime-web
/// (www/bench-ort-worker.js): one `run` is one engine run with its input and output copies,
/// as one `InferenceSession.run` is for ORT.
#[wasm_bindgen]
pub struct BenchModel {
    model: Model,
}

#[wasm_bindgen]
impl BenchModel {
    /// Loads `bytes` (an ONNX model taking `input` [N, 784]); `int8_dynamic` quantizes it as
    /// the accuracy table's "INT8 dynamic" row does.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], int8_dynamic: bool) -> Result<BenchModel, JsError> {
        let model = Model::from_onnx(bytes).map_err(js_err)?;
        let model = if int8_dynamic {
            model.quantize(&QuantizeConfig::new(QuantizeKind::Int8Dynamic { per_channel: false })).map_err(js_err)?
        } else {
            model
        };
        Ok(BenchModel { model })
    }

    /// Runs `n` digits (`n`·784 pixels) and returns their probabilities (`n`·10).
    pub fn run(&self, pixels: &[f32], n: usize) -> Result<Float32Array, JsError> {
        if pixels.len() != n * PIXELS {
            return Err(JsError::new(&format!("{} pixels are not {n} digits", pixels.len())));
        }
        let out = self.model.run(&[(INPUT, Value::f32(vec![n, PIXELS], pixels.to_vec()))]).map_err(js_err)?;
        Ok(Float32Array::from(output_probabilities(&out, n).map_err(js_err)?.as_slice()))
    }

    /// The variant's weights as stored, in bytes.
    pub fn stored_bytes(&self) -> f64 {
        self.model.stored_bytes() as f64
    }
}

//! The bench page's entry point for the GEMM figures (www/bench-worker.js).

use wasm_bindgen::prelude::*;

/// Times every GEMM case of [`super::bench::bench_gemm`] with `performance.now()`; returns
/// `[{case, m, k, n, micros, gop_s}]`. `min_ms`: least duration of one timed batch; `reps`:
/// batches, the fastest counts.
#[wasm_bindgen]
pub fn bench_gemm(min_ms: f64, reps: usize) -> Result<JsValue, JsError> {
    crate::js::to_js(&super::bench::bench_gemm(&crate::js::performance_now, min_ms, reps))
}

/// A one-node ONNX model for comparing GEMMs with onnxruntime-web through each engine's whole
/// run (input in, output out): `y = MatMulInteger(a, B)` with a u8 input `a` [m, k] and a
/// constant i8 `B` [k, n] (zero points 0), or `y = MatMul(a, B)` in f32. B is fixed
/// pseudo-random bytes, a constant, so both engines may prepack it at load as they do weights.
#[wasm_bindgen]
pub fn gemm_model_onnx(int8: bool, m: usize, k: usize, n: usize) -> Vec<u8> {
    use crate::engine::builder::GraphBuilder;
    use crate::engine::{DType, Value};
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut byte = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 32) as u8
    };
    let (a_type, y_type, op) = if int8 { (DType::U8, DType::I32, "MatMulInteger") } else { (DType::F32, DType::F32, "MatMul") };
    let b = if int8 {
        Value::i8(vec![k, n], (0..k * n).map(|_| byte() as i8).collect())
    } else {
        Value::f32(vec![k, n], (0..k * n).map(|_| byte() as f32 / 255.0 - 0.5).collect())
    };
    let mut g = GraphBuilder::new(17);
    g.input("a", a_type, &[Some(m), Some(k)]).initializer("B", &b).node(op, "gemm", &["a", "B"], &["y"], vec![]).output("y", y_type, &[Some(m), Some(n)]);
    g.build()
}

/// [`gemm_model_onnx`]'s model in quantscope's engine, for www/bench-ort-worker.js: one `run`
/// is one engine run with its input and output copies, as one `InferenceSession.run` is.
#[wasm_bindgen]
pub struct BenchGemmModel {
    model: crate::engine::Model,
    m: usize,
    k: usize,
}

#[wasm_bindgen]
impl BenchGemmModel {
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], m: usize, k: usize) -> Result<BenchGemmModel, JsError> {
        let model = crate::engine::Model::from_onnx(bytes).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(BenchGemmModel { model, m, k })
    }

    /// Runs the int8 model on `a` (m·k bytes); returns the i32 products.
    pub fn run_u8(&self, a: Vec<u8>) -> Result<Vec<i32>, JsError> {
        let y = self.run(crate::engine::Value::u8(vec![self.m, self.k], a))?;
        y.as_i32().map(<[i32]>::to_vec).ok_or_else(|| JsError::new("the model's output is not int32"))
    }

    /// Runs the f32 model on `a` (m·k values); returns the products.
    pub fn run_f32(&self, a: Vec<f32>) -> Result<Vec<f32>, JsError> {
        let y = self.run(crate::engine::Value::f32(vec![self.m, self.k], a))?;
        y.as_f32().map(<[f32]>::to_vec).ok_or_else(|| JsError::new("the model's output is not float"))
    }

    fn run(&self, a: crate::engine::Value) -> Result<crate::engine::Value, JsError> {
        let mut out = self.model.run(&[("a", a)]).map_err(|e| JsError::new(&e.to_string()))?;
        out.pop().map(|(_, v)| v).ok_or_else(|| JsError::new("the model has no output"))
    }
}

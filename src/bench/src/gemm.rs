//! The GEMM figures of the bench pages: the kernels timed alone (www/bench-worker.js) and the
//! 512³ GEMM and 3×3 Conv models run through the engine against onnxruntime-web.

use wasm_bindgen::prelude::*;

/// Times every GEMM case of [`quantscope_gemm::bench::bench_gemm`] with `performance.now()`; returns
/// `[{case, m, k, n, micros, gop_s}]`. `min_ms`: least duration of one timed batch; `reps`:
/// batches, the fastest counts.
#[wasm_bindgen]
pub fn bench_gemm(min_ms: f64, reps: usize) -> Result<JsValue, JsError> {
    quantscope_wasm_common::to_js(&quantscope_gemm::bench::bench_gemm(&quantscope_wasm_common::performance_now, min_ms, reps))
}

/// Fixed pseudo-random bytes (xorshift64) for the bench models' constant weights.
fn weight_bytes(len: usize) -> impl Iterator<Item = u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..len).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 32) as u8
    })
}

/// Constant weights of `shape`: i8 for the integer models, f32 in [−0.5, 0.5) otherwise.
fn weights(int8: bool, shape: Vec<usize>) -> quantscope_engine::Value {
    let len = shape.iter().product();
    if int8 {
        quantscope_engine::Value::i8(shape, weight_bytes(len).map(|b| b as i8).collect())
    } else {
        quantscope_engine::Value::f32(shape, weight_bytes(len).map(|b| b as f32 / 255.0 - 0.5).collect())
    }
}

/// A one-node ONNX model for comparing GEMMs with onnxruntime-web through each engine's whole
/// run (input in, output out): `y = MatMulInteger(a, B)` with a u8 input `a` [m, k] and a
/// constant i8 `B` [k, n] (zero points 0), or `y = MatMul(a, B)` in f32. B is fixed
/// pseudo-random bytes, a constant, so both engines may prepack it at load as they do weights.
#[wasm_bindgen]
pub fn gemm_model_onnx(int8: bool, m: usize, k: usize, n: usize) -> Vec<u8> {
    use quantscope_engine::builder::GraphBuilder;
    use quantscope_engine::DType;
    let (a_type, y_type, op) = if int8 { (DType::U8, DType::I32, "MatMulInteger") } else { (DType::F32, DType::F32, "MatMul") };
    let mut g = GraphBuilder::new(17);
    g.input("a", a_type, &[Some(m), Some(k)])
        .initializer("B", &weights(int8, vec![k, n]))
        .node(op, "gemm", &["a", "B"], &["y"], vec![])
        .output("y", y_type, &[Some(m), Some(n)]);
    g.build()
}

/// The same for a convolution: `y = ConvInteger(a, W)` (u8 input [1, c, size, size], constant
/// i8 W [m, c, 3, 3], zero points 0) or `Conv(a, W)` in f32; 3×3 kernel, stride 1, padding 1,
/// so y is [1, m, size, size].
#[wasm_bindgen]
pub fn conv_model_onnx(int8: bool, c: usize, size: usize, m: usize) -> Vec<u8> {
    use quantscope_engine::builder::{attr_ints, GraphBuilder};
    use quantscope_engine::DType;
    let (a_type, y_type, op) = if int8 { (DType::U8, DType::I32, "ConvInteger") } else { (DType::F32, DType::F32, "Conv") };
    let attrs = vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("pads", &[1, 1, 1, 1])];
    let mut g = GraphBuilder::new(17);
    g.input("a", a_type, &[Some(1), Some(c), Some(size), Some(size)])
        .initializer("W", &weights(int8, vec![m, c, 3, 3]))
        .node(op, "conv", &["a", "W"], &["y"], attrs)
        .output("y", y_type, &[Some(1), Some(m), Some(size), Some(size)]);
    g.build()
}

/// [`gemm_model_onnx`]'s or [`conv_model_onnx`]'s model in quantscope's engine, for
/// www/bench-ort-worker.js: one `run` is one engine run with its input and output copies, as
/// one `InferenceSession.run` is.
#[wasm_bindgen]
pub struct BenchGemmModel {
    model: quantscope_engine::Model,
    shape: Vec<usize>,
}

#[wasm_bindgen]
impl BenchGemmModel {
    #[wasm_bindgen(constructor)]
    /// `shape`: the input `a`'s.
    pub fn new(bytes: &[u8], shape: Vec<u32>) -> Result<BenchGemmModel, JsError> {
        let model = quantscope_engine::Model::from_onnx(bytes).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(BenchGemmModel { model, shape: shape.into_iter().map(|d| d as usize).collect() })
    }

    /// Runs the int8 model on `a` (bytes); returns the i32 products.
    pub fn run_u8(&self, a: Vec<u8>) -> Result<Vec<i32>, JsError> {
        let y = self.run(quantscope_engine::Value::u8(self.shape.clone(), a))?;
        y.as_i32().map(<[i32]>::to_vec).ok_or_else(|| JsError::new("the model's output is not int32"))
    }

    /// Runs the f32 model on `a`; returns the products.
    pub fn run_f32(&self, a: Vec<f32>) -> Result<Vec<f32>, JsError> {
        let y = self.run(quantscope_engine::Value::f32(self.shape.clone(), a))?;
        y.as_f32().map(<[f32]>::to_vec).ok_or_else(|| JsError::new("the model's output is not float"))
    }

    fn run(&self, a: quantscope_engine::Value) -> Result<quantscope_engine::Value, JsError> {
        let mut out = self.model.run(&[("a", a)]).map_err(|e| JsError::new(&e.to_string()))?;
        out.pop().map(|(_, v)| v).ok_or_else(|| JsError::new("the model has no output"))
    }
}

//! The bench page's entry point for the GEMM figures (www/bench-worker.js).

use wasm_bindgen::prelude::*;

/// Times every GEMM case of [`super::bench::bench_gemm`] with `performance.now()`; returns
/// `[{case, m, k, n, micros, gop_s}]`. `min_ms`: least duration of one timed batch; `reps`:
/// batches, the fastest counts.
#[wasm_bindgen]
pub fn bench_gemm(min_ms: f64, reps: usize) -> Result<JsValue, JsError> {
    crate::wasm::to_js(&super::bench::bench_gemm(&crate::wasm::performance_now, min_ms, reps))
}

//! Scheme throughput for the bench page (www/bench-worker.js), timed with `performance.now()`.

use quantscope_core::{samples, schemes, throughput};
use quantscope_wasm_common::{js_err, performance_now, to_js};
use wasm_bindgen::prelude::*;

/// Times one scheme on a `normal` sample of `elements` values (fastest of `reps`); returns
/// `{scheme, elements, quantize_mb_s, dequantize_mb_s, metrics_mb_s}`.
#[wasm_bindgen]
pub fn bench_scheme(id: &str, elements: usize, reps: usize) -> Result<JsValue, JsError> {
    let cols = 4096.min(elements.max(1));
    let t = samples::generate("normal", elements / cols, cols, 1).map_err(js_err)?;
    let scheme = schemes::by_id(id).map_err(js_err)?;
    let r = throughput::bench_scheme(scheme.as_ref(), &t.data, &t.shape, reps, &performance_now).map_err(js_err)?;
    to_js(&r)
}

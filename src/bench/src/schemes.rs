//! Scheme throughput for the bench page (www/bench-worker.js), timed with `performance.now()`.

use quantscope_core::{pack_bench, report, samples, schemes, throughput};
use quantscope_wasm_common::{js_err, performance_now, to_js, wasm_memory_bytes};
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

/// (element count, values, importance vector).
type PackInput = (usize, Vec<f32>, Vec<f32>);

thread_local! {
    /// The pack bench's input, made once per element count (16M normal values take a while).
    static PACK_INPUT: std::cell::RefCell<Option<PackInput>> = const { std::cell::RefCell::new(None) };
}

fn with_pack_input<T>(elements: usize, f: impl FnOnce(&[f32], &[f32]) -> Result<T, JsError>) -> Result<T, JsError> {
    PACK_INPUT.with(|cell| {
        let mut cell = cell.borrow_mut();
        if !matches!(cell.as_ref(), Some((n, _, _)) if *n == elements) {
            let (values, importance) = pack_bench::pack_input(elements).map_err(js_err)?;
            *cell = Some((elements, values, importance));
        }
        let (_, values, importance) = cell.as_ref().expect("just made");
        f(values, importance)
    })
}

/// The types timed beside llama.cpp's `ggml_quantize_chunk` (core's `pack_bench::PACK_TYPES`).
#[wasm_bindgen]
pub fn pack_type_ids() -> Vec<String> {
    pack_bench::PACK_TYPES.iter().map(|(id, _)| id.to_string()).collect()
}

/// The pack bench's input for `elements` values: `{values_fnv1a64, importance_fnv1a64}`, to set
/// beside the native bench's (the same values on both sides, or the comparison says otherwise).
#[wasm_bindgen]
pub fn pack_input_hashes(elements: usize) -> Result<JsValue, JsError> {
    with_pack_input(elements, |values, importance| {
        #[derive(serde::Serialize)]
        struct Hashes {
            values_fnv1a64: String,
            importance_fnv1a64: String,
        }
        to_js(&Hashes { values_fnv1a64: pack_bench::fnv1a64(values), importance_fnv1a64: pack_bench::fnv1a64(importance) })
    })
}

/// Times packing alone (`pack_bench::bench_pack`) of `id` on the pack bench's input.
#[wasm_bindgen]
pub fn bench_pack(id: &str, elements: usize, reps: usize) -> Result<JsValue, JsError> {
    with_pack_input(elements, |values, importance| {
        to_js(&pack_bench::bench_pack(id, values, importance, reps, &performance_now).map_err(js_err)?)
    })
}

/// The compare's memory high-water mark: wasm memory bytes once a `normal` sample of `elements`
/// values is made (`sample`) and after comparing it under every id in `ids` (`after`) — kept
/// (`fused` false: each scheme's dequantized copy, as the compare was) or fused. Call it in a
/// fresh instance: wasm memory only grows, so its size is the peak. The types that need an
/// importance vector are skipped (the compare refuses them).
#[wasm_bindgen]
pub fn bench_compare_memory(fused: bool, ids: Vec<String>, elements: usize) -> Result<JsValue, JsError> {
    let cols = 4096.min(elements.max(1));
    let t = samples::generate("normal", elements / cols, cols, 1).map_err(js_err)?;
    let sample = wasm_memory_bytes();
    for id in ids.iter().filter(|id| !schemes::requires_importance(id)) {
        if fused {
            report::scheme_metrics(&t, id).map_err(js_err)?;
        } else {
            report::scheme_report(&t, id).map_err(js_err)?;
        }
    }
    #[derive(serde::Serialize)]
    struct Memory {
        sample: f64,
        after: f64,
    }
    to_js(&Memory { sample, after: wasm_memory_bytes() })
}

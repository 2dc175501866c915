//! The models module (`www/pkg-models`): the Run view's worker loads it when a person drops
//! their own model. It is the runner (linked for its exports: `Engine`, `read_npy_input`,
//! `output_error`, ...) plus [`engine_for_any_model`], an `Engine` that knows every op of
//! `quantscope_engine::ops::ALL`. The runner's own `new Engine()` names only the built-in
//! models' op set, so the runner module stays small; this module pays for the rest, and for
//! [`layer_errors`], which compares a quantized variant with its model node by node.
//! wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

// Linked for its exports: one implementation of the engine's JavaScript surface.
pub use quantscope_runner as runner;

use quantscope_engine::ops;
use quantscope_runner::Engine;
use wasm_bindgen::prelude::*;

/// An engine that loads a model made of any op the engine runs.
#[wasm_bindgen]
pub fn engine_for_any_model() -> Engine {
    Engine::with_ops(ops::ALL)
}

#[wasm_bindgen]
extern "C" {
    /// What takes each calibrated tensor's values: the calibration module's
    /// `StaticCalibration` (www/pkg-calib), or any object with `collect(tensor, values)`.
    pub type Collector;
    #[wasm_bindgen(method, catch)]
    fn collect(this: &Collector, tensor: &str, values: &[f32]) -> Result<(), JsValue>;
}

/// Runs the model behind `handle` on `inputs` and hands `collector` the float32 values of each
/// of `tensors` as it is made (`collect(name, values)`: a view of this module's memory, valid
/// for the call): static QDQ's histogram calibrations (custom-ops.js custom_static). The same
/// values as ONNX Runtime's augmented model gives as outputs (`histogram_calibration_model`,
/// every calibrated tensor an output, so no fused chain hides one), without holding them all at
/// once: ppocr_rec on 8 text lines of 48 × 320 has 405 M of them (1.6 GB), on 32 more than a
/// tab's memory. The collector's first error stops the collecting and is returned.
#[wasm_bindgen]
pub fn observe_tensors(engine: &Engine, handle: u32, inputs: JsValue, tensors: Vec<String>, collector: &Collector) -> Result<(), JsValue> {
    observe_each(engine, handle, &inputs, &tensors, &mut |i, xs| collector.collect(&tensors[i], xs))
}

/// MinMax calibration (ONNX Runtime's `MinMaxCalibrater`, as the CLI runs it): the least and
/// greatest value of each of `tensors` in one run of the model behind `handle` on `inputs`,
/// `[lo₀, hi₀, lo₁, hi₁, …]`, NaN skipped (`minmax_range`, as the CLI's `RangeCollector`);
/// NaN, NaN for a tensor with no values. The ranges ONNX Runtime's augmented model gives
/// (onnx-quant's `calibration_model`, a ReduceMin and a ReduceMax after each tensor), without those
/// 2 × 716 nodes in ppocr_rec's graph, which keep its chains from fusing: on 8 text lines the
/// run took 1.7–2.6 s that way, 1.15–1.2 s observed.
#[wasm_bindgen]
pub fn observe_ranges(engine: &Engine, handle: u32, inputs: JsValue, tensors: Vec<String>) -> Result<Vec<f32>, JsValue> {
    use quantscope_onnx_quant::static_qdq::minmax_range;
    let mut ranges = vec![[f32::NAN; 2]; tensors.len()];
    observe_each(engine, handle, &inputs, &tensors, &mut |i, xs| {
        if let Some((lo, hi)) = minmax_range(xs) {
            // NaN.min(x) is x: the first batch sets the range
            ranges[i] = [ranges[i][0].min(lo), ranges[i][1].max(hi)];
        }
        Ok(())
    })?;
    Ok(ranges.concat())
}

/// What [`observe_each`] hands each tensor's values to: `(index in the list, values)`.
type TakeTensor<'a> = dyn FnMut(usize, &[f32]) -> Result<(), JsValue> + 'a;

/// Runs the model behind `handle` on `inputs` and hands `take(i, values)` the float32 values of
/// `tensors[i]`, once each, as the engine makes them; Constant nodes' values (Paddle's exports
/// keep their weights in them: no node makes them) after the run. `take`'s first error stops
/// the taking and is returned.
fn observe_each(engine: &Engine, handle: u32, inputs: &JsValue, tensors: &[String], take: &mut TakeTensor) -> Result<(), JsValue> {
    let (model, values) = engine.model_with_inputs(handle, inputs)?;
    let named: Vec<(&str, quantscope_engine::Value)> = values.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    // Which of `tensors` were handed over (a linear search: a few thousand names, once per value).
    let mut seen = vec![false; tensors.len()];
    let mut failed = None;
    model
        .run_observing(&named, &mut |name, v| {
            let Some(i) = tensors.iter().position(|t| t == name).filter(|&i| !seen[i] && failed.is_none()) else { return };
            if let Some(xs) = v.as_f32() {
                seen[i] = true;
                failed = take(i, xs).err();
            }
        })
        .map_err(|e| JsError::new(&e.to_string()))?;
    for (i, t) in tensors.iter().enumerate().filter(|&(i, _)| !seen[i]) {
        if let Some(xs) = model.constant(t).and_then(|v| v.as_f32()).filter(|_| failed.is_none()) {
            failed = take(i, xs).err();
        }
    }
    failed.map_or(Ok(()), Err)
}

/// Values kept from the FP32 run for one pass of the comparison, at most (64 MB of f32).
const MAX_KEPT_VALUES: usize = 16 << 20;
/// Passes at most: a model whose values outgrow this many windows is refused (each pass runs
/// both models once).
const MAX_PASSES: usize = 4;

/// One node output of the quantized variant against the same value in the FP32 model.
#[derive(serde::Serialize)]
struct LayerError {
    node: String,
    op_type: String,
    output: String,
    /// The variant runs this node quantized (its op differs from the model's).
    quantized: bool,
    /// Whether the model's `quantize` can rewrite this node (`only_nodes` names these).
    quantizable: bool,
    elements: usize,
    sqnr_db: Option<f64>,
    max_abs_error: f64,
    mean_abs_error: f64,
}

/// Which layers hurt: every float value a node of `reference` makes, compared with the same
/// value in `variant` (a quantized copy made by `Engine::variant`) on the same `inputs`, in
/// graph order: `[{node, op_type, output, quantized, quantizable, elements, sqnr_db,
/// max_abs_error, mean_abs_error}]` — what ONNX Runtime's `qdq_loss_debug` reports for its
/// activations. Errors accumulate: a value's SQNR includes every quantized node before it.
#[wasm_bindgen]
pub fn layer_errors(engine: &Engine, reference: u32, variant: u32, inputs: JsValue) -> Result<JsValue, JsError> {
    use quantscope_core::stats::metrics::error_metrics;
    use std::collections::HashMap;
    let (model, values) = engine.model_with_inputs(reference, &inputs)?;
    let (quantized, _) = engine.model_with_inputs(variant, &inputs)?;
    let named: Vec<(&str, quantscope_engine::Value)> = values.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let inputs_of: std::collections::HashSet<&str> = model.inputs().iter().map(|i| i.name.as_str()).collect();
    // The FP32 values are kept a window at a time (by where each starts in the run's order, the
    // same in every pass): a model whose values outgrow one window is compared in several passes.
    let mut metrics: HashMap<String, quantscope_core::stats::metrics::ErrorMetrics> = HashMap::new();
    for pass in 0.. {
        if pass == MAX_PASSES {
            return Err(JsError::new(&format!(
                "the model's intermediate values hold more than {} numbers on these inputs: use smaller inputs to compare it layer by layer",
                MAX_PASSES * MAX_KEPT_VALUES
            )));
        }
        let window = pass * MAX_KEPT_VALUES..(pass + 1) * MAX_KEPT_VALUES;
        let mut kept: HashMap<String, Vec<f32>> = HashMap::new();
        let mut total = 0usize;
        model
            .run_observing(&named, &mut |name, v| {
                if v.dtype() != quantscope_engine::DType::F32 || inputs_of.contains(name) {
                    return;
                }
                if window.contains(&total) {
                    kept.insert(name.to_string(), v.to_f32_vec());
                }
                total += v.len();
            })
            .map_err(|e| JsError::new(&e.to_string()))?;
        quantized
            .run_observing(&named, &mut |name, v| {
                if let Some(r) = kept.get(name) {
                    if v.dtype() == quantscope_engine::DType::F32 && v.len() == r.len() {
                        metrics.insert(name.to_string(), error_metrics(r, &v.to_f32_vec()));
                    }
                }
            })
            .map_err(|e| JsError::new(&e.to_string()))?;
        if total <= window.end {
            break;
        }
    }
    let variant_ops: HashMap<String, String> = quantized.nodes().into_iter().map(|n| (n.name, n.op_type)).collect();
    let mut rows = Vec::new();
    for n in model.nodes() {
        for output in &n.outputs {
            let Some(m) = metrics.get(output) else { continue };
            rows.push(LayerError {
                quantized: variant_ops.get(&n.name).is_some_and(|op| *op != n.op_type),
                node: n.name.clone(),
                op_type: n.op_type.clone(),
                output: output.clone(),
                quantizable: n.quantizable,
                elements: m.compared,
                sqnr_db: Some(m.sqnr_db).filter(|s| s.is_finite()),
                max_abs_error: m.max_abs_error,
                mean_abs_error: m.mean_abs_error,
            });
        }
    }
    quantscope_wasm_common::to_js(&rows)
}

/// One node's time in [`profile_run`].
#[derive(serde::Serialize)]
struct NodeMs {
    name: String,
    op_type: String,
    ms: f64,
}

/// The model behind `handle` run `runs` times on `inputs` with each node timed (the run plan's
/// nodes, fused chains as one): `[{name, op_type, ms}]`, the mean per run, in plan order —
/// where a model's time goes in the page's own module (`scripts/profile-real-model.mjs`).
#[wasm_bindgen]
pub fn profile_run(engine: &Engine, handle: u32, inputs: JsValue, runs: u32) -> Result<JsValue, JsError> {
    let (model, values) = engine.model_with_inputs(handle, &inputs)?;
    let named: Vec<(&str, quantscope_engine::Value)> = values.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let mut clock = quantscope_wasm_common::performance_now;
    let mut rows: Vec<NodeMs> = Vec::new();
    let runs = runs.max(1);
    for _ in 0..runs {
        let (_, times) = model.run_profiled(&named, &mut clock).map_err(|e| JsError::new(&e.to_string()))?;
        if rows.is_empty() {
            rows = times.iter().map(|t| NodeMs { name: t.name.clone(), op_type: t.op_type.clone(), ms: 0.0 }).collect();
        }
        for (row, t) in rows.iter_mut().zip(&times) {
            row.ms += t.ms / runs as f64;
        }
    }
    quantscope_wasm_common::to_js(&rows)
}

use quantscope_wasm_common::{js_err, to_js};
use wasm_bindgen::prelude::*;

/// Learn panel 5: size and memory of `parameters` weights at every precision. `shapes` is
/// an array of shapes to compute bits per weight for (the loaded tensors'), or
/// null/empty for 4096×4096 layers. Returns `{parameters, overhead, gpu_gb, shapes_note,
/// rows: [{scheme, bits_per_weight, size_bytes, memory_bytes, fits: [bool per GPU]}]}`.
#[wasm_bindgen]
pub fn learn_memory_table(parameters: f64, shapes: JsValue) -> Result<JsValue, JsError> {
    let shapes: Vec<Vec<usize>> = if shapes.is_null() || shapes.is_undefined() {
        Vec::new()
    } else {
        serde_wasm_bindgen::from_value(shapes).map_err(|e| JsError::new(&format!("shapes must be arrays of sizes: {e}")))?
    };
    to_js(&quantscope_learn::memory::memory_table(parameters, &shapes).map_err(js_err)?)
}

/// The presets `[[name, parameters]]` and GPU sizes in GB, for the panel's buttons.
#[wasm_bindgen]
pub fn learn_memory_presets() -> Result<JsValue, JsError> {
    to_js(&(quantscope_learn::memory::PRESETS, quantscope_learn::memory::GPU_GB))
}

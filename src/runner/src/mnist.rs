//! The test set and the small helpers the Run view's worker ops (www/run/mnist-ops.js) need.

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use quantscope_core::stats::metrics::error_metrics;
use quantscope_engine::mnist::*;
use quantscope_formats::npy;
use quantscope_wasm_common::{js_err, to_js};
use wasm_bindgen::prelude::*;

fn set(obj: &Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    Reflect::set(obj, &JsValue::from_str(key), value).map_err(|_| JsError::new("could not build the result object"))?;
    Ok(())
}

/// Reads the members of `mnist_test.npz` (`images.npy`, `labels.npy` and, if there is one,
/// `calibration.npy`: www/run/testset.js unzips them): `{count, images: Float32Array
/// (count·784, in [0, 1]), labels: Uint8Array, calibration: Float32Array}`.
#[wasm_bindgen]
pub fn mnist_test_set(images: &[u8], labels: &[u8], calibration: Option<Vec<u8>>) -> Result<JsValue, JsError> {
    let array = |name: &str, bytes: &[u8]| npy::parse(name, bytes).map_err(js_err);
    let calibration = calibration.map(|c| array("calibration", &c)).transpose()?;
    let t = TestSet::from_arrays(array("images", images)?, array("labels", labels)?, calibration).map_err(js_err)?;
    let obj = Object::new();
    set(&obj, "count", &JsValue::from(t.len() as u32))?;
    set(&obj, "images", &Float32Array::from(t.images.as_slice()).into())?;
    set(&obj, "labels", &Uint8Array::from(t.labels.as_slice()).into())?;
    set(&obj, "calibration", &Float32Array::from(t.calibration.as_slice()).into())?;
    Ok(obj.into())
}

/// The accuracy table's variants: `[{label, group, description, config}]`, `config` as the
/// worker's `model_variant` op takes it.
#[wasm_bindgen]
pub fn mnist_variants() -> Result<JsValue, JsError> {
    to_js(&table_variants())
}

/// Reads a `.npy` array as a model input: `{shape, dtype, data: Float32Array}`.
#[wasm_bindgen]
pub fn read_npy_input(bytes: &[u8]) -> Result<JsValue, JsError> {
    let t = npy::parse("input", bytes).map_err(js_err)?;
    let obj = Object::new();
    let shape = Array::new();
    for &d in &t.shape {
        shape.push(&JsValue::from(d as f64));
    }
    set(&obj, "shape", &shape.into())?;
    set(&obj, "dtype", &JsValue::from_str(&t.dtype))?;
    set(&obj, "data", &Float32Array::from(t.data.as_slice()).into())?;
    Ok(obj.into())
}

/// Error metrics of `other` against `reference` (MSE, SQNR, max and mean |error|, cosine):
/// the same figures the Inspect view shows for a scheme.
#[wasm_bindgen]
pub fn output_error(reference: &[f32], other: &[f32]) -> Result<JsValue, JsError> {
    if reference.len() != other.len() {
        return Err(JsError::new(&format!("outputs of different lengths: {} and {}", reference.len(), other.len())));
    }
    to_js(&error_metrics(reference, other))
}

//! The JS facade, exercised in headless Chromium through wasm-bindgen-test
//! (`cargo test --target wasm32-unknown-unknown`, run by scripts/test.sh).
#![cfg(target_arch = "wasm32")]

use quantscope_workbench::{compare_values, scheme_list, Workspace};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

fn npy_f32(values: &[f32]) -> Vec<u8> {
    quantscope_formats::npy::write_f32(&[values.len()], values)
}

#[wasm_bindgen_test]
fn load_file_returns_tensor_reports() {
    let mut ws = Workspace::new();
    let loaded = ws.load_file("w.npy", &npy_f32(&[1.0, -2.0, 3.0])).unwrap();
    assert_eq!(get(&loaded, "format").as_string().unwrap(), "npy");
    let first = js_sys::Array::from(&get(&loaded, "tensors")).get(0);
    assert_eq!(get(&first, "stored_bytes").as_f64().unwrap(), 12.0);
    assert_eq!(get(&first, "name").as_string().unwrap(), "w");
    assert_eq!(get(&get(&first, "stats"), "max").as_f64().unwrap(), 3.0);
    assert_eq!(ws.len(), 1);
}

#[wasm_bindgen_test]
fn malformed_file_is_a_js_error_not_a_panic() {
    let mut ws = Workspace::new();
    let err = ws.load_file("bad.npy", b"\x93NUMPY\x01\x00\xff").unwrap_err();
    let message = JsValue::from(err);
    let text = get(&message, "message").as_string().unwrap();
    assert!(text.starts_with("bad.npy: truncated .npy file"), "{text}");
    assert_eq!(ws.len(), 0);
}

#[wasm_bindgen_test]
fn compare_reports_int8_sym_with_histogram() {
    let mut ws = Workspace::new();
    ws.load_file("w.npy", &npy_f32(&[1.01, -0.03, 2.54, 0.0])).unwrap();
    let ids = serde_wasm_bindgen::to_value(&["int8_sym"]).unwrap();
    let options = js_sys::JSON::parse(r#"{"bins": 8, "histogram_scheme": "int8_sym"}"#).unwrap();
    let r = ws.compare(0, ids, options).unwrap();
    let scheme = js_sys::Array::from(&get(&r, "schemes")).get(0);
    let scale = js_sys::Array::from(&get(&js_sys::Array::from(&get(&scheme, "params")).get(0), "values")).get(0);
    assert_eq!(scale.as_f64().unwrap() as f32, (2.54f32 as f64 / 127.0) as f32);
    assert_eq!(get(&scheme, "bytes").as_f64().unwrap(), 8.0);
    let counts = js_sys::Array::from(&get(&get(&get(&r, "histogram"), "original"), "counts"));
    assert_eq!(counts.length(), 8);
}

#[wasm_bindgen_test]
fn unknown_scheme_and_bad_index_are_errors() {
    let mut ws = Workspace::new();
    ws.add_sample("normal", 4, 4, 1).unwrap();
    let ids = serde_wasm_bindgen::to_value(&["int9_sym"]).unwrap();
    assert!(ws.compare(0, ids, JsValue::UNDEFINED).is_err());
    let ids = serde_wasm_bindgen::to_value(&["int8_sym"]).unwrap();
    assert!(ws.compare(5, ids.clone(), JsValue::UNDEFINED).is_err());
    let bad_range = js_sys::JSON::parse(r#"{"range": [1, -1]}"#).unwrap();
    assert!(ws.compare(0, ids.clone(), bad_range).is_err());
    let bad_bins = js_sys::JSON::parse(r#"{"bins": 0}"#).unwrap();
    assert!(ws.compare(0, ids, bad_bins).is_err());
    assert!(js_sys::Array::from(&scheme_list().unwrap()).length() >= 30);
}

#[wasm_bindgen_test]
fn compare_values_gives_the_reports_compare_gives() {
    // A pool worker's job (www/inspect/pool.js) on a copy of a tensor's values: the same MSE,
    // SQNR and bytes as the workbench's own comparison of that tensor.
    let mut ws = Workspace::new();
    ws.add_sample("laplace", 16, 64, 7).unwrap();
    let values = ws.tensor_values(0).unwrap().to_vec();
    assert_eq!(values.len(), 16 * 64);
    let ids = || serde_wasm_bindgen::to_value(&["q4_k", "int4_sym_g32"]).unwrap();
    let pooled = js_sys::Array::from(&compare_values(values, vec![16, 64], ids()).unwrap());
    let own = js_sys::Array::from(&get(&ws.compare(0, ids(), JsValue::UNDEFINED).unwrap(), "schemes"));
    assert_eq!(pooled.length(), 2);
    for i in 0..2 {
        for key in ["scheme", "mse", "sqnr_db", "bytes", "max_abs_error"] {
            assert_eq!(get(&pooled.get(i), key), get(&own.get(i), key), "{key} of report {i}");
        }
    }
}

#[wasm_bindgen_test]
fn the_pools_fused_reports_equal_the_kept_path_for_every_scheme() {
    // compare_values (a pool worker: every scheme measured without a dequantized copy) against
    // the workbench's compare with each scheme as the histogram's (the kept copy, as before the
    // fused path): every field the same, the floats bit for bit. 3 × 1501 values with a NaN and a
    // subnormal: chunks, blocks and groups out of step.
    let mut values: Vec<f32> = (0..3 * 1501).map(|i| ((i * 7919 % 4099) as f32 / 2049.0 - 1.0).powi(3)).collect();
    values[17] = f32::NAN;
    values[1000] = 1e-41;
    let mut ws = Workspace::new();
    ws.load_file("w.npy", &quantscope_formats::npy::write_f32(&[3, 1501], &values)).unwrap();
    // Not the IQ1-IQ3 grid types, which refuse a NaN as llama.cpp's quantizers do: they are in
    // the list where a build enables core's `iq-grids` (CI's one wasm test build of every crate
    // does, for the mixer's and the formats' suites), never in the workbench's own module.
    let grid = |id: &str| ["iq1_", "iq2_", "iq3_"].iter().any(|p| id.starts_with(p));
    let ids: Vec<String> = quantscope_workbench::base_scheme_ids().into_iter().filter(|id| !grid(id)).collect();
    let pooled = js_sys::Array::from(&compare_values(values, vec![3, 1501], serde_wasm_bindgen::to_value(&ids).unwrap()).unwrap());
    let keys = [
        "scheme",
        "compared",
        "mse",
        "rmse",
        "sqnr_db",
        "max_abs_error",
        "mean_abs_error",
        "cosine_similarity",
        "bits_per_weight",
        "bytes",
    ];
    let keys2 = ["compression_ratio", "clipped_fraction", "levels_used", "levels_total"];
    for (i, id) in ids.iter().enumerate() {
        let options = js_sys::JSON::parse(&format!(r#"{{"histogram_scheme": "{id}"}}"#)).unwrap();
        let r = ws.compare(0, serde_wasm_bindgen::to_value(&[id]).unwrap(), options).unwrap();
        assert!(!get(&r, "histogram").is_null(), "{id}: the kept path drew a histogram");
        let own = js_sys::Array::from(&get(&r, "schemes")).get(0);
        for key in keys.iter().chain(&keys2) {
            let (a, b) = (get(&pooled.get(i as u32), key), get(&own, key));
            match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) => assert_eq!(a.to_bits(), b.to_bits(), "{id}: {key}"),
                _ => assert_eq!(a, b, "{id}: {key}"),
            }
        }
        let params = |v: &JsValue| js_sys::JSON::stringify(&get(v, "params")).unwrap().as_string().unwrap();
        assert_eq!(params(&pooled.get(i as u32)), params(&own), "{id}: params");
    }
}

#[wasm_bindgen_test]
fn compare_values_refuses_a_shape_the_values_do_not_fill_and_unknown_schemes() {
    let ids = serde_wasm_bindgen::to_value(&["int8_sym"]).unwrap();
    let err = JsValue::from(compare_values(vec![0.5; 6], vec![2, 4], ids).unwrap_err());
    assert_eq!(get(&err, "message").as_string().unwrap(), "6 values do not fill the shape [2, 4]");
    let overflow = serde_wasm_bindgen::to_value(&["int8_sym"]).unwrap();
    assert!(compare_values(vec![0.5; 6], vec![u32::MAX, u32::MAX, u32::MAX], overflow).is_err());
    let unknown = serde_wasm_bindgen::to_value(&["int9_sym"]).unwrap();
    let err = JsValue::from(compare_values(vec![0.5; 6], vec![6], unknown).unwrap_err());
    assert!(get(&err, "message").as_string().unwrap().contains("int9_sym"));
}

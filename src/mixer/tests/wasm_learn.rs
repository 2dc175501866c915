//! The mixer's Learn exports (src/mixer/src/learn.rs) in headless Chromium, as the page's worker
//! calls them (scripts/test.sh runs this with the page's features, `--features iq-grids`): a grid
//! block quantized with an importance vector is core's `quantize_with_importance` block, its
//! groups decode to the dequantizer's values, and llama.cpp's refusal comes back as the error.
#![cfg(target_arch = "wasm32")]

use quantscope_mixer::{learn_grid_decode, learn_quantize_block};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn get(v: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(v, &key.into()).unwrap()
}

fn json(v: &JsValue) -> String {
    js_sys::JSON::stringify(v).unwrap().as_string().unwrap()
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    json(&quantscope_wasm_common::to_js(v).unwrap())
}

#[wasm_bindgen_test]
fn a_grid_block_quantized_with_an_imatrix_and_decoded() {
    // Two rows of 256; the page sends the second row's window.
    let x: Vec<f32> = (0..512).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013).collect();
    let w: Vec<f32> = (0..256).map(|c| if c % 9 == 2 { 30.0 } else { 0.5 }).collect();
    let whole = quantscope_core::schemes::quantize_with_importance("iq2_xxs", &x, &[2, 256], &w).unwrap();
    let q = learn_quantize_block("iq2_xxs", &x[256..], 256, 512, 256, 300, Some(w.clone()), Some(w.clone())).unwrap();
    assert_eq!(json(&get(&q, "packed")), to_json(&whole.packed[66..132].to_vec()));
    assert_eq!(json(&get(&q, "decoded")), to_json(&whole.dequantized[256..].to_vec()));
    assert_eq!(json(&get(&q, "block")), "1");
    let g = learn_grid_decode("iq2_xxs", &whole.packed[66..132], 256, 1).unwrap();
    let groups = js_sys::Array::from(&get(&g, "groups"));
    let values: Vec<f32> = groups
        .iter()
        .flat_map(|gr| js_sys::Array::from(&get(&gr, "values")).iter().map(|v| v.as_f64().unwrap() as f32).collect::<Vec<_>>())
        .collect();
    assert_eq!(
        values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        whole.dequantized[256..].iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(json(&get(&g, "block_offset")), "66");
    // Without the imatrix: llama.cpp's refusal, as the error.
    let e = JsValue::from(learn_quantize_block("iq2_xxs", &x[256..], 256, 512, 256, 300, None, None).unwrap_err());
    assert!(get(&e, "message").as_string().unwrap().contains("iq2_xxs needs an importance matrix"));
}

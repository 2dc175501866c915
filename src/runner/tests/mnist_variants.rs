//! The page's accuracy-table variants, built through the runner's `Engine` from
//! `mnist::table_variants()`'s JSON configs as www/run/mnist-ops.js sends them, are the very
//! models the CLI builds from the same rows.
//!
//!   CHROMEDRIVER=/usr/bin/chromedriver cargo test -p quantscope-runner --target wasm32-unknown-unknown --test mnist_variants
#![cfg(target_arch = "wasm32")]

use quantscope_engine::mnist::{self, TestSet};
use quantscope_engine::Model;

const MODEL: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/models/mnist_mlp.onnx"));
const TEST_SET: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/models/mnist_test.npz"));

fn load() -> (Model, TestSet) {
    (Model::from_onnx(MODEL).expect("the built-in model loads"), TestSet::from_npz(TEST_SET).expect("the test set reads"))
}

/// The page builds its variants from `table_variants()`'s JSON configs through the engine's
/// worker API; they must be the very models the CLI builds from the same rows.
#[wasm_bindgen_test::wasm_bindgen_test]
fn the_pages_configs_build_the_same_variants_as_the_cli() {
    use js_sys::Reflect;
    use quantscope_runner::engine::Engine;
    use serde::Serialize;
    use wasm_bindgen::JsValue;

    let (model, set) = load();
    let to_js = |v: &serde_json::Value| v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap();
    let field = |o: &JsValue, k: &str| Reflect::get(o, &JsValue::from_str(k)).unwrap();
    let mut engine = Engine::new();
    let loaded = engine.load("mnist_mlp.onnx", MODEL).map_err(JsValue::from).unwrap();
    let handle = field(&loaded, "handle").as_f64().unwrap() as u32;
    for v in mnist::table_variants() {
        let mut config = v.config.clone();
        if config["kind"] == "int8_static" {
            // As www/run/mnist-ops.js sends them: the 256 calibration digits as one batch.
            config["calibration_inputs"] =
                serde_json::json!({"input": {"shape": [set.calibration_len(), mnist::PIXELS], "data": set.calibration}});
        }
        let built = engine.variant(handle, to_js(&config)).map_err(JsValue::from).unwrap();
        let cli = model.quantize(&v.spec.config(&set).unwrap()).unwrap();
        assert_eq!(field(&built, "bytes").as_f64().unwrap() as u64, cli.stored_bytes(), "{}", v.label);
        assert_eq!(field(&built, "description").as_string().unwrap(), cli.description(), "{}", v.label);
    }
}

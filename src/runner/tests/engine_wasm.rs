//! The engine's JavaScript surface (src/runner/src/engine.rs), in headless Chromium: the `Engine`
//! registry behind the worker ops model_load / model_variant / model_run / model_free. (Its
//! speed is the bench page's; that weights are packed once is tested in src/engine/tests/mnist.rs.)
//!
//!   wasm-pack test --headless --chrome --mode no-install src/runner --test engine_wasm
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Float32Array, Object, Reflect};
use quantscope_runner::engine::Engine;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;

const MLP: &[u8] = fixture_bytes!("onnx_node/ort/mlp_fp32/model.onnx");

fn get(v: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(v.clone(), |o, k| Reflect::get(&o, &k.into()).unwrap())
}

fn tensor(shape: &[usize], data: &[f32]) -> JsValue {
    let o = Object::new();
    let s: Array = shape.iter().map(|&d| JsValue::from(d as f64)).collect();
    Reflect::set(&o, &"shape".into(), &s).unwrap();
    Reflect::set(&o, &"data".into(), &Float32Array::from(data)).unwrap();
    o.into()
}

fn named(name: &str, t: JsValue) -> JsValue {
    let o = Object::new();
    Reflect::set(&o, &name.into(), &t).unwrap();
    o.into()
}

fn config(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

fn message(e: JsError) -> String {
    get(&JsValue::from(e), "message").as_string().unwrap()
}

fn output(result: &JsValue, name: &str) -> Vec<f32> {
    get(result, &format!("outputs.{name}.data")).unchecked_into::<Float32Array>().to_vec()
}

fn input_data(n: usize, seed: u32) -> Vec<f32> {
    (0..n).map(|i| (((i as u32).wrapping_mul(2654435761u32) ^ seed) % 1000) as f32 / 500.0 - 1.0).collect()
}

#[wasm_bindgen_test]
fn load_describes_the_model() {
    let mut e = Engine::new();
    let m = e.load("mlp.onnx", MLP).unwrap();
    assert_eq!(get(&m, "handle").as_f64(), Some(0.0));
    assert_eq!(get(&m, "name").as_string().unwrap(), "mlp.onnx");
    assert_eq!(get(&m, "inputs.0.name").as_string().unwrap(), "x");
    assert_eq!(get(&m, "inputs.0.dtype").as_string().unwrap(), "float32");
    assert_eq!(get(&m, "inputs.0.shape.0").as_string().unwrap(), "N");
    assert_eq!(get(&m, "inputs.0.shape.1").as_f64(), Some(48.0));
    assert_eq!(get(&m, "outputs.0.shape.1").as_f64(), Some(10.0));
    let ops: Vec<(String, f64)> =
        Array::from(&get(&m, "ops")).iter().map(|p| (get(&p, "0").as_string().unwrap(), get(&p, "1").as_f64().unwrap())).collect();
    assert_eq!(ops, [("Add".into(), 3.0), ("MatMul".into(), 3.0), ("Relu".into(), 2.0)]);
    let params = (48 * 32 + 32 * 24 + 24 * 10 + 32 + 24 + 10) as f64;
    assert_eq!(get(&m, "parameters").as_f64(), Some(params));
    assert_eq!(get(&m, "bytes").as_f64(), Some(4.0 * params));
    assert_eq!(get(&m, "nodes.0.name").as_string().unwrap(), "matmul0");
    assert_eq!(get(&m, "nodes.0.quantizable").as_bool(), Some(true));
    assert_eq!(message(e.load("bad.onnx", b"not a model").unwrap_err()).split(':').next(), Some("bad.onnx"));
}

#[wasm_bindgen_test]
fn variants_run_and_report_sizes() {
    let mut e = Engine::new();
    e.load("mlp.onnx", MLP).unwrap();
    let x = input_data(2 * 48, 7);
    let inputs = named("x", tensor(&[2, 48], &x));
    let fp32 = e.run(0, inputs.clone(), None).unwrap();
    let reference = output(&fp32, "y");
    assert_eq!(reference.len(), 20);
    assert_eq!(get(&fp32, "outputs.y.dtype").as_string().unwrap(), "float32");
    assert!(get(&fp32, "micros").as_f64().unwrap() > 0.0);
    assert!(get(&fp32, "runs").as_f64().unwrap() >= 1.0);

    let calib = named("x", tensor(&[8, 48], &input_data(8 * 48, 3)));
    let configs = [
        config(&[("kind", "fp32".into())]),
        config(&[("kind", "int8_dynamic".into()), ("per_channel", true.into())]),
        config(&[("kind", "int4_dynamic".into())]),
        config(&[("kind", "int8_static".into()), ("calibration", "entropy".into()), ("calibration_inputs", calib.clone())]),
        config(&[("kind", "int8_static".into()), ("calibration", "percentile".into()), ("calibration_inputs", calib)]),
        config(&[("kind", "weight_only".into()), ("scheme", "nf4".into())]),
    ];
    let mut sizes = Vec::new();
    for c in configs {
        let v = e.variant(0, c).unwrap();
        let h = get(&v, "handle").as_f64().unwrap() as u32;
        sizes.push(get(&v, "bytes").as_f64().unwrap());
        assert!(!get(&v, "description").as_string().unwrap().is_empty());
        let once = e.run(h, inputs.clone(), Some(0.0)).unwrap();
        assert_eq!(get(&once, "runs").as_f64(), Some(1.0));
        let y = output(&once, "y");
        let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = y.iter().zip(&reference).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
        assert!(err < 0.5, "handle {h}: relative error {err}");
    }
    assert!(sizes[1] < sizes[0] / 3.0 && sizes[2] < sizes[1], "{sizes:?}");

    // only_nodes, and its error.
    let only: Array = ["matmul2"].iter().map(|s| JsValue::from(*s)).collect();
    let v = e.variant(0, config(&[("kind", "int8_dynamic".into()), ("only_nodes", only.into())])).unwrap();
    assert!(get(&v, "description").as_string().unwrap().contains("1 of 3"));
    let bad: Array = ["relu0"].iter().map(|s| JsValue::from(*s)).collect();
    let msg = message(e.variant(0, config(&[("kind", "int8_dynamic".into()), ("only_nodes", bad.into())])).unwrap_err());
    assert!(msg.contains("'relu0' (Relu) is not a MatMul, Gemm or Conv"), "{msg}");
}

#[wasm_bindgen_test]
fn errors_are_thrown_with_clear_messages() {
    let mut e = Engine::new();
    e.load("mlp.onnx", MLP).unwrap();
    let msg = message(e.run(0, named("x", tensor(&[2, 47], &[0.0; 94])), None).unwrap_err());
    assert_eq!(msg, "model input 'x': has shape [2, 47] but the model declares dimension 1 = 48");
    let msg = message(e.run(0, named("z", tensor(&[1], &[0.0])), None).unwrap_err());
    assert!(msg.contains("the model has no input 'z'"), "{msg}");
    let msg = message(e.run(0, named("x", tensor(&[3, 48], &[0.0; 5])), None).unwrap_err());
    assert!(msg.contains("does not hold 5 values"), "{msg}");
    let msg = message(e.variant(0, config(&[("kind", "int3".into())])).unwrap_err());
    assert!(msg.starts_with("unknown variant kind 'int3'"), "{msg}");
    let msg = message(e.variant(0, config(&[("kind", "int8_static".into())])).unwrap_err());
    assert!(msg.contains("needs calibration_inputs"), "{msg}");
    let msg = message(e.variant(0, config(&[("kind", "weight_only".into()), ("scheme", "q7_7".into())])).unwrap_err());
    assert_eq!(msg, "cannot quantize the model: unknown scheme 'q7_7'");
    e.free(0).unwrap();
    assert!(message(e.run(0, named("x", tensor(&[1, 48], &[0.0; 48])), None).unwrap_err()).contains("no model with handle 0"));
    assert!(e.free(0).is_err());
}

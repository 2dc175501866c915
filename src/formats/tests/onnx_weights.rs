//! Every weight of an ONNX model (issue 13, item 1): the model written by
//! scripts/fixtures/make_onnx_weights.py keeps weights as initializers, as Constant values of
//! every kind and inside If/Loop/Scan subgraphs two levels deep. Each must be listed, in order,
//! with exactly `numpy_helper.to_array`'s values, and with where it lives, which ops read it,
//! its label and its groups as expected.json gives them; the malformed files fail with their
//! messages. Runs natively and in headless Chromium.

use crate::common::{bits, f32s};
use quantscope_formats::onnx::weights::{Consumer, WeightInfo};
use quantscope_formats::{self as formats, lazy, Format};

const MODEL: &[u8] = fixture_bytes!("onnx_weights/weights.onnx");

const MALFORMED: &[(&str, &[u8])] = &[
    ("constant_without_value.onnx", fixture_bytes!("onnx_weights/malformed/constant_without_value.onnx")),
    ("constant_without_value_in_subgraph.onnx", fixture_bytes!("onnx_weights/malformed/constant_without_value_in_subgraph.onnx")),
    ("subgraph_not_a_graph.onnx", fixture_bytes!("onnx_weights/malformed/subgraph_not_a_graph.onnx")),
    ("constant_length_mismatch.onnx", fixture_bytes!("onnx_weights/malformed/constant_length_mismatch.onnx")),
];

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn consumer(c: &serde_json::Value) -> Consumer {
    let s = |k: &str| c[k].as_str().unwrap().to_string();
    Consumer {
        op: s("op"),
        node: s("node"),
        input: c["input"].as_u64().unwrap() as usize,
        input_name: s("input_name"),
        role: s("role"),
        graph: s("graph"),
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_weight_is_found_with_its_values_and_readers() {
    let expected = crate::common::json(fixture_str!("onnx_weights/expected.json"));
    let want = &expected["weights.onnx"];
    let file = formats::load_file("weights.onnx", MODEL).unwrap();
    assert_eq!(file.format, Format::Onnx);
    let want_weights = want["weights"].as_array().unwrap();
    let names: Vec<&str> = file.tensors.iter().map(|t| t.name.as_str()).collect();
    let want_names: Vec<&str> = want_weights.iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, want_names, "every weight, each graph's initializers then its Constants, graphs depth first");
    assert_eq!(file.weights.len(), file.tensors.len(), "one description per tensor");
    for ((t, info), w) in file.tensors.iter().zip(&file.weights).zip(want_weights) {
        let shape: Vec<usize> = w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!((&t.shape, t.dtype.as_str()), (&shape, w["dtype"].as_str().unwrap()), "{}", t.name);
        assert_eq!(bits(&t.data), bits(&f32s(&w["values_f32"])), "{}: values differ from numpy_helper.to_array", t.name);
        let want_info = WeightInfo {
            onnx_name: t.name.clone(),
            label: w["label"].as_str().unwrap().to_string(),
            source: w["source"].as_str().unwrap().to_string(),
            graph: w["graph"].as_str().unwrap().to_string(),
            consumers: w["consumers"].as_array().unwrap().iter().map(consumer).collect(),
            groups: strings(&w["groups"]),
        };
        assert_eq!(info, &want_info, "{}", t.name);
    }
    for (key, value) in want["metadata"].as_object().unwrap() {
        let got = file.metadata.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no metadata '{key}'"));
        assert_eq!(got.1, value.as_str().unwrap(), "metadata '{key}'");
    }
}

/// The page opens files through `lazy::open`: an ONNX model, read whole there, keeps its
/// weight descriptions.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_lazy_opener_keeps_the_descriptions() {
    let source: std::rc::Rc<dyn formats::bytesource::ByteSource> = std::rc::Rc::new(MODEL.to_vec());
    let file = lazy::open("weights.onnx", source).unwrap();
    let whole = formats::load_file("weights.onnx", MODEL).unwrap();
    assert_eq!(file.tensors.len(), whole.tensors.len());
    assert_eq!(file.weights, whole.weights);
    // Other formats have none.
    let npy = formats::load_file("x.npy", fixture_bytes!("npy/f32_c.npy")).unwrap();
    assert!(npy.weights.is_empty());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn malformed_files_fail_with_specific_messages() {
    crate::malformed::check_malformed(fixture_str!("onnx_weights/malformed/expected_errors.json"), MALFORMED);
}

/// No prefix or single-byte change of the model panics: subgraphs are decoded from bytes the
/// outer decode did not check.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn truncations_and_flips_never_panic() {
    for len in 0..MODEL.len() {
        let _ = formats::load_file("weights.onnx", &MODEL[..len]);
    }
    let mut copy = MODEL.to_vec();
    for i in 0..copy.len() {
        copy[i] ^= 0xA5;
        let _ = formats::load_file("weights.onnx", &copy);
        copy[i] ^= 0xA5;
    }
}

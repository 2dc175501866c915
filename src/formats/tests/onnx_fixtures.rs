//! An ONNX model written by the onnx helper (scripts/fixtures/make_formats_gguf_onnx.py): every
//! initializer equals `numpy_helper.to_array`, the graph summary is as the page shows it, the
//! external-data initializer is listed rather than loaded; and the malformed files fail with
//! the expected messages. Runs natively and in headless Chromium.

use crate::common::{bits, f32s};
use quantscope_formats::{self as formats, Format};

/// Every malformed file, compiled in (wasm32 has no file system).
const MALFORMED: &[(&str, &[u8])] = &[
    ("not_protobuf.onnx", fixture_bytes!("onnx/malformed/not_protobuf.onnx")),
    ("truncated.onnx", fixture_bytes!("onnx/malformed/truncated.onnx")),
    ("no_graph.onnx", fixture_bytes!("onnx/malformed/no_graph.onnx")),
    ("dims_overflow.onnx", fixture_bytes!("onnx/malformed/dims_overflow.onnx")),
    ("negative_dim.onnx", fixture_bytes!("onnx/malformed/negative_dim.onnx")),
    ("unknown_data_type.onnx", fixture_bytes!("onnx/malformed/unknown_data_type.onnx")),
    ("raw_length_mismatch.onnx", fixture_bytes!("onnx/malformed/raw_length_mismatch.onnx")),
    ("typed_length_mismatch.onnx", fixture_bytes!("onnx/malformed/typed_length_mismatch.onnx")),
];

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn onnx_helper_written_model_reads_back_exactly() {
    let expected = crate::common::json(fixture_str!("onnx/expected.json"));
    let want = &expected["tiny.onnx"];
    let file = formats::load_file("tiny.onnx", fixture_bytes!("onnx/tiny.onnx")).unwrap();
    assert_eq!(file.format, Format::Onnx);
    for (key, value) in want["metadata"].as_object().unwrap() {
        let got = file.metadata.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no metadata '{key}'"));
        assert_eq!(got.1, value.as_str().unwrap(), "metadata '{key}'");
    }
    let names: Vec<&str> = file.tensors.iter().map(|t| t.name.as_str()).collect();
    let order: Vec<&str> = want["tensor_order"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(names, order, "initializers in file order, external one left out");
    for t in &file.tensors {
        let w = &want["tensors"][&t.name];
        let shape: Vec<usize> = w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(t.shape, shape, "{}", t.name);
        assert_eq!(t.dtype, w["dtype"].as_str().unwrap(), "{}", t.name);
        assert_eq!(bits(&t.data), bits(&f32s(&w["values_f32"])), "{}: values differ from numpy_helper", t.name);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn sniffed_without_the_extension() {
    assert_eq!(formats::sniff(fixture_bytes!("onnx/tiny.onnx")), Some(Format::Onnx));
    assert!(formats::load_file("model.bin", fixture_bytes!("onnx/tiny.onnx")).is_ok());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn malformed_files_fail_with_specific_messages() {
    crate::malformed::check_malformed(fixture_str!("onnx/malformed/expected_errors.json"), MALFORMED);
}

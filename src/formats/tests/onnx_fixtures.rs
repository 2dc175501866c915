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

/// An initializer with dims [2^40, 0] (no elements, one enormous axis; found by the stable fuzz
/// driver, seed 20261123) is skipped with the reason, as one with too many elements is — it once
/// passed the size check and reached an `unreachable!`.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn an_empty_initializer_with_an_enormous_axis_is_skipped() {
    // ModelProto { ir_version: 14, graph: { name: "g", initializer: [{ dims: [2^40, 0],
    // data_type: FLOAT, name: "t" }] }, opset_import: [{ domain: "", version: 17 }] }, as the
    // fuzzer left it (the 0 written as an overlong varint).
    let bytes: &[u8] = &[
        0x08, 0x0e, 0x3a, 0x18, 0x12, 0x01, 0x67, 0x2a, 0x13, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80,
        0x00, 0x10, 0x01, 0x42, 0x01, 0x74, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x11,
    ];
    let file = formats::load_file("fuzz.onnx", bytes).unwrap();
    let skipped = file.metadata.iter().find(|(k, _)| k.starts_with("skipped initializer")).expect("the initializer is listed as skipped");
    assert!(skipped.1.contains("[1099511627776, 0]"), "{skipped:?}");
    assert!(file.tensors.is_empty());
}

//! GGUF files written by gguf-py (scripts/fixtures/make_formats_gguf_onnx.py) read back exactly:
//! every tensor bit-equal to gguf-py's dequantization, metadata as the page shows it; and the
//! malformed files fail with the expected messages. Runs natively and in headless Chromium.

use crate::common::{bits, f32s};
use quantscope_formats::{self as formats, Format};

/// Every malformed file, compiled in (wasm32 has no file system).
const MALFORMED: &[(&str, &[u8])] = &[
    ("bad_magic.gguf", fixture_bytes!("gguf/malformed/bad_magic.gguf")),
    ("truncated_counts.gguf", fixture_bytes!("gguf/malformed/truncated_counts.gguf")),
    ("truncated_metadata.gguf", fixture_bytes!("gguf/malformed/truncated_metadata.gguf")),
    ("truncated_tensor_info.gguf", fixture_bytes!("gguf/malformed/truncated_tensor_info.gguf")),
    ("truncated_data.gguf", fixture_bytes!("gguf/malformed/truncated_data.gguf")),
    ("version1.gguf", fixture_bytes!("gguf/malformed/version1.gguf")),
    ("big_endian.gguf", fixture_bytes!("gguf/malformed/big_endian.gguf")),
    ("huge_tensor_count.gguf", fixture_bytes!("gguf/malformed/huge_tensor_count.gguf")),
    ("huge_kv_count.gguf", fixture_bytes!("gguf/malformed/huge_kv_count.gguf")),
    ("huge_string.gguf", fixture_bytes!("gguf/malformed/huge_string.gguf")),
    ("huge_array.gguf", fixture_bytes!("gguf/malformed/huge_array.gguf")),
    ("array_claims_more_than_present.gguf", fixture_bytes!("gguf/malformed/array_claims_more_than_present.gguf")),
    ("deep_nesting.gguf", fixture_bytes!("gguf/malformed/deep_nesting.gguf")),
    ("bad_utf8_key.gguf", fixture_bytes!("gguf/malformed/bad_utf8_key.gguf")),
    ("unknown_value_type.gguf", fixture_bytes!("gguf/malformed/unknown_value_type.gguf")),
    ("duplicate_key.gguf", fixture_bytes!("gguf/malformed/duplicate_key.gguf")),
    ("bad_alignment.gguf", fixture_bytes!("gguf/malformed/bad_alignment.gguf")),
    ("too_many_dims.gguf", fixture_bytes!("gguf/malformed/too_many_dims.gguf")),
    ("dims_overflow.gguf", fixture_bytes!("gguf/malformed/dims_overflow.gguf")),
    ("unknown_ggml_type.gguf", fixture_bytes!("gguf/malformed/unknown_ggml_type.gguf")),
    ("row_not_block_multiple.gguf", fixture_bytes!("gguf/malformed/row_not_block_multiple.gguf")),
    ("duplicate_tensor.gguf", fixture_bytes!("gguf/malformed/duplicate_tensor.gguf")),
    ("misaligned_offset.gguf", fixture_bytes!("gguf/malformed/misaligned_offset.gguf")),
    ("offset_past_end.gguf", fixture_bytes!("gguf/malformed/offset_past_end.gguf")),
    ("overlapping_tensors.gguf", fixture_bytes!("gguf/malformed/overlapping_tensors.gguf")),
];

fn check_file(file_name: &str, bytes: &[u8]) {
    let expected = crate::common::json(fixture_str!("gguf/expected.json"));
    let want = &expected[file_name.replace("v2.gguf", "tiny.gguf").as_str()];
    let file = formats::load_file(file_name, bytes).unwrap_or_else(|e| panic!("{file_name}: {e}"));
    assert_eq!(file.format, Format::Gguf);
    for (key, value) in want["metadata"].as_object().unwrap() {
        let got = file.metadata.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("{file_name}: no metadata '{key}'"));
        assert_eq!(got.1, value.as_str().unwrap(), "{file_name}: metadata '{key}'");
    }
    let tensors = want["tensors"].as_object().unwrap();
    let names: Vec<&str> = file.tensors.iter().map(|t| t.name.as_str()).collect();
    let order: Vec<&str> = want["tensor_order"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(names, order, "{file_name}: tensors in file order");
    for t in &file.tensors {
        let w = &tensors[&t.name];
        let shape: Vec<usize> = w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(t.shape, shape, "{}", t.name);
        assert_eq!(t.dtype, w["dtype"].as_str().unwrap(), "{}", t.name);
        assert_eq!(bits(&t.data), bits(&f32s(&w["values_f32"])), "{}: values differ from gguf-py", t.name);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn gguf_py_written_file_reads_back_exactly() {
    check_file("tiny.gguf", fixture_bytes!("gguf/tiny.gguf"));
}

/// One tensor of every type quantscope reads but does not write (IQ*, TQ*, NVFP4, Q1_0, Q8_K),
/// in a file gguf-py wrote: the values hash to llama.cpp's (scripts/fixtures/make_ggml_dequant.py).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_read_only_ggml_type_reads_as_llama_cpp_dequantizes_it() {
    let expected = crate::common::json(fixture_str!("ggml_dequant/types.json"));
    let file = formats::load_file("types.gguf", fixture_bytes!("ggml_dequant/types.gguf")).unwrap();
    let want = expected.as_object().unwrap();
    assert_eq!(file.tensors.len(), want.len());
    assert_eq!(want.len(), 14);
    for t in &file.tensors {
        let w = &want[&t.name];
        assert_eq!(t.dtype, w["dtype"].as_str().unwrap());
        let shape: Vec<usize> = w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(t.shape, shape, "{}", t.name);
        assert_eq!(
            format!("{:016x}", crate::common::fnv1a64(&t.data)),
            w["fnv1a64"].as_str().unwrap(),
            "{}: values differ from llama.cpp's",
            t.name
        );
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn version_2_reads_like_version_3() {
    check_file("v2.gguf", fixture_bytes!("gguf/v2.gguf"));
    let file = formats::load_file("v2.gguf", fixture_bytes!("gguf/v2.gguf")).unwrap();
    assert_eq!(file.metadata[0], ("gguf.version".to_string(), "2".to_string()));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn an_iq_tensor_reads_as_gguf_py_dequantizes_it() {
    check_file("iq4_nl.gguf", fixture_bytes!("gguf/iq4_nl.gguf"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn sniffed_without_the_extension() {
    assert_eq!(formats::sniff(fixture_bytes!("gguf/tiny.gguf")), Some(Format::Gguf));
    assert!(formats::load_file("model.bin", fixture_bytes!("gguf/tiny.gguf")).is_ok());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn malformed_files_fail_with_specific_messages() {
    crate::malformed::check_malformed(fixture_str!("gguf/malformed/expected_errors.json"), MALFORMED);
}

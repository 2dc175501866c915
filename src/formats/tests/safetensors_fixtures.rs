//! safetensors files written by `safetensors.numpy.save` (scripts/fixtures/make_formats_st_npz.py)
//! read back exactly, in the header's order with `__metadata__` in file order; the sharded set
//! reads in index order; malformed files fail with the expected messages. Fixtures are compiled
//! in, so this runs natively and in headless Chromium.

use crate::common::f32s;
use quantscope_formats::{self as formats, safetensors, Format, LoadedFile};

/// Same values bit for bit, except that any NaN matches any NaN (payloads are not specified).
fn assert_same(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()), "{name}[{i}]: got {g:e}, want {w:e}");
    }
}

fn check(file: &LoadedFile, want: &serde_json::Value) {
    assert_eq!(file.format, Format::Safetensors);
    let meta: Vec<(String, String)> = want["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| (kv[0].as_str().unwrap().to_string(), kv[1].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(file.metadata, meta);
    let tensors = want["tensors"].as_array().unwrap();
    let names: Vec<&str> = file.tensors.iter().map(|t| t.name.as_str()).collect();
    let want_names: Vec<&str> = tensors.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, want_names, "tensor order");
    for (t, w) in file.tensors.iter().zip(tensors) {
        let shape: Vec<usize> = w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(t.shape, shape, "{}", t.name);
        assert_eq!(t.dtype, w["dtype"].as_str().unwrap(), "{}", t.name);
        assert_same(&t.name, &t.data, &f32s(&w["values_f32"]));
    }
}

fn expected() -> serde_json::Value {
    crate::common::json(fixture_str!("safetensors/expected.json"))
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_dtype_reads_back_exactly() {
    let bytes = fixture_bytes!("safetensors/all_dtypes.safetensors");
    assert_eq!(formats::sniff(bytes), Some(Format::Safetensors));
    let file = formats::load_file("all_dtypes.safetensors", bytes).unwrap();
    check(&file, &expected()["all_dtypes.safetensors"]);
    let dtypes: Vec<&str> = file.tensors.iter().map(|t| t.dtype.as_str()).collect();
    for d in ["bfloat16", "float8_e4m3fn", "float8_e5m2", "float16", "float64", "bool", "uint64"] {
        assert!(dtypes.contains(&d), "{d} missing from {dtypes:?}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn metadata_keeps_file_order() {
    // Sniffed, not picked by the extension.
    let file = formats::load_file("renamed.bin", fixture_bytes!("safetensors/metadata_order.safetensors")).unwrap();
    check(&file, &expected()["metadata_order.safetensors"]);
    assert_eq!(file.metadata[0].0, "zeta");
}

const SHARD1: &[u8] = fixture_bytes!("safetensors/model-00001-of-00002.safetensors");
const SHARD2: &[u8] = fixture_bytes!("safetensors/model-00002-of-00002.safetensors");
const INDEX: &[u8] = fixture_bytes!("safetensors/model.safetensors.index.json");

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn sharded_set_reads_in_index_order() {
    // Shards given in any order, with directories in their names.
    let shards = [("ckpt/model-00002-of-00002.safetensors", SHARD2), ("ckpt/model-00001-of-00002.safetensors", SHARD1)];
    let file = safetensors::load_sharded(INDEX, &shards).unwrap();
    check(&file, &expected()["model.safetensors.index.json"]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn sharded_set_names_the_missing_shard() {
    let err = safetensors::load_sharded(INDEX, &[("model-00001-of-00002.safetensors", SHARD1)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "shard 'model-00002-of-00002.safetensors' (holding tensor 'layers.1.weight') is listed in the index but was not given"
    );
    let err = safetensors::load_sharded(b"{\"metadata\": {}}", &[]).unwrap_err().to_string();
    assert!(err.contains("malformed safetensors index: missing field `weight_map`"), "{err}");
    let err = safetensors::load_sharded(
        INDEX,
        &[("model-00001-of-00002.safetensors", SHARD1), ("model-00002-of-00002.safetensors", &SHARD2[..20])],
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("shard 'model-00002-of-00002.safetensors': truncated safetensors file"), "{err}");
}

/// Every file in safetensors/malformed/, compiled in.
const MALFORMED: &[(&str, &[u8])] = &[
    ("truncated.safetensors", fixture_bytes!("safetensors/malformed/truncated.safetensors")),
    ("header_past_end.safetensors", fixture_bytes!("safetensors/malformed/header_past_end.safetensors")),
    ("not_safetensors.safetensors", fixture_bytes!("safetensors/malformed/not_safetensors.safetensors")),
    ("bad_json.safetensors", fixture_bytes!("safetensors/malformed/bad_json.safetensors")),
    ("missing_field.safetensors", fixture_bytes!("safetensors/malformed/missing_field.safetensors")),
    ("offsets_past_end.safetensors", fixture_bytes!("safetensors/malformed/offsets_past_end.safetensors")),
    ("length_mismatch.safetensors", fixture_bytes!("safetensors/malformed/length_mismatch.safetensors")),
    ("overlap.safetensors", fixture_bytes!("safetensors/malformed/overlap.safetensors")),
    ("gap.safetensors", fixture_bytes!("safetensors/malformed/gap.safetensors")),
    ("trailing_bytes.safetensors", fixture_bytes!("safetensors/malformed/trailing_bytes.safetensors")),
    ("huge_shape.safetensors", fixture_bytes!("safetensors/malformed/huge_shape.safetensors")),
    ("over_cap_shape.safetensors", fixture_bytes!("safetensors/malformed/over_cap_shape.safetensors")),
    ("unknown_dtype.safetensors", fixture_bytes!("safetensors/malformed/unknown_dtype.safetensors")),
    ("complex_dtype.safetensors", fixture_bytes!("safetensors/malformed/complex_dtype.safetensors")),
    ("duplicate.safetensors", fixture_bytes!("safetensors/malformed/duplicate.safetensors")),
];

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn malformed_files_fail_with_specific_messages() {
    crate::malformed::check_malformed(fixture_str!("safetensors/malformed/expected_errors.json"), MALFORMED);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_truncation_and_byte_flip_is_handled_without_panicking() {
    crate::malformed::check_truncations_and_flips("all_dtypes.safetensors", fixture_bytes!("safetensors/all_dtypes.safetensors"));
}

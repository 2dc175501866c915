#![cfg(not(target_arch = "wasm32"))]
//! .npy files written by numpy (scripts/fixtures/make_fixtures.py) read back exactly, and the
//! malformed ones fail with the expected messages.

use crate::common::{bits, f32s};
use quantscope_formats as formats;
use std::path::PathBuf;

// Read from disk: the set of files is listed by the expected-values JSON, so this stays native.
fn fixture(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures").join(path)
}

fn read_json(path: &str) -> serde_json::Value {
    crate::common::json(&std::fs::read_to_string(fixture(path)).unwrap())
}

#[test]
fn numpy_written_files_read_back_exactly() {
    let expected = read_json("npy/expected.json");
    for (name, want) in expected.as_object().unwrap() {
        let Some(values) = want.get("values_f32") else { continue };
        let bytes = std::fs::read(fixture(&format!("npy/{name}.npy"))).unwrap();
        let tensors = formats::load(&format!("{name}.npy"), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let t = &tensors[0];
        let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(t.shape, shape, "{name}");
        assert_eq!(t.dtype, want["dtype"].as_str().unwrap(), "{name}");
        assert_eq!(bits(&t.data), bits(&f32s(values)), "{name}: values differ");
    }
}

#[test]
fn malformed_files_fail_with_specific_messages() {
    let expected = read_json("npy/malformed/expected_errors.json");
    for (name, message) in expected.as_object().unwrap() {
        let bytes = std::fs::read(fixture(&format!("npy/malformed/{name}"))).unwrap();
        let err = formats::load(name, &bytes).expect_err(name).to_string();
        assert!(err.contains(message.as_str().unwrap()), "{name}: got '{err}'");
    }
}

#[test]
fn e2e_file_loads_in_wasm_too() {
    let t = &formats::load("e2e_weights.npy", fixture_bytes!("npy/e2e_weights.npy")).unwrap()[0];
    assert_eq!(t.shape, vec![64, 48]);
}

#[test]
fn a_file_of_no_known_format_is_named_as_such() {
    let err = formats::load("notes.txt", b"hello").unwrap_err();
    assert_eq!(err, quantscope_formats::Error::UnknownFormat);
}

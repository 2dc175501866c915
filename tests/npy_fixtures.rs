//! .npy files written by numpy (scripts/fixtures/make_fixtures.py) read back exactly, and the
//! malformed ones fail with the expected messages.

mod common;
use common::{bits, f32s, fixture, read_json};
use quantscope::formats;

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
fn a_file_of_no_known_format_is_named_as_such() {
    let err = formats::load("notes.txt", b"hello").unwrap_err();
    assert_eq!(err, quantscope::Error::UnknownFormat);
}

//! .npz archives written by `numpy.savez` / `numpy.savez_compressed`
//! (scripts/fixtures/make_formats_st_npz.py) read back exactly; non-.npy members are skipped;
//! malformed and zip-bomb archives fail with the expected messages. Fixtures are compiled in, so
//! this runs natively and in headless Chromium.

use crate::common::{bits, f32s};
use quantscope_formats::{self as formats, Format};

fn check(file_name: &str, bytes: &[u8]) {
    let expected = crate::common::json(fixture_str!("npz/expected.json"));
    let want = expected[file_name].as_array().unwrap();
    let file = formats::load_file(file_name, bytes).unwrap_or_else(|e| panic!("{file_name}: {e}"));
    assert_eq!(file.format, Format::Npz);
    assert!(file.metadata.is_empty());
    let names: Vec<&str> = file.tensors.iter().map(|t| t.name.as_str()).collect();
    let want_names: Vec<&str> = want.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, want_names, "{file_name}: tensors and their order");
    for (t, w) in file.tensors.iter().zip(want) {
        let shape: Vec<usize> = w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(t.shape, shape, "{}", t.name);
        assert_eq!(t.dtype, w["dtype"].as_str().unwrap(), "{}", t.name);
        assert_eq!(bits(&t.data), bits(&f32s(&w["values_f32"])), "{}: values differ", t.name);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn stored_archive_reads_back_exactly() {
    let bytes = fixture_bytes!("npz/stored.npz");
    assert_eq!(formats::sniff(bytes), Some(Format::Npz));
    check("stored.npz", bytes);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn deflated_archive_reads_back_exactly() {
    check("deflated.npz", fixture_bytes!("npz/deflated.npz"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn non_npy_members_are_skipped() {
    check("with_readme.npz", fixture_bytes!("npz/with_readme.npz"));
}

/// Every file in npz/malformed/, compiled in.
const MALFORMED: &[(&str, &[u8])] = &[
    ("truncated.npz", fixture_bytes!("npz/malformed/truncated.npz")),
    ("empty.npz", fixture_bytes!("npz/malformed/empty.npz")),
    ("no_npy_members.npz", fixture_bytes!("npz/malformed/no_npy_members.npz")),
    ("huge_member.npz", fixture_bytes!("npz/malformed/huge_member.npz")),
    ("huge_total.npz", fixture_bytes!("npz/malformed/huge_total.npz")),
    ("lying_ratio.npz", fixture_bytes!("npz/malformed/lying_ratio.npz")),
    ("declares_less.npz", fixture_bytes!("npz/malformed/declares_less.npz")),
    ("corrupt_deflate.npz", fixture_bytes!("npz/malformed/corrupt_deflate.npz")),
    ("bad_crc.npz", fixture_bytes!("npz/malformed/bad_crc.npz")),
    ("bad_inner_npy.npz", fixture_bytes!("npz/malformed/bad_inner_npy.npz")),
    ("bzip2_member.npz", fixture_bytes!("npz/malformed/bzip2_member.npz")),
];

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn malformed_archives_fail_with_specific_messages() {
    crate::malformed::check_malformed(fixture_str!("npz/malformed/expected_errors.json"), MALFORMED);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_truncation_and_byte_flip_is_handled_without_panicking() {
    crate::malformed::check_truncations_and_flips("deflated.npz", fixture_bytes!("npz/deflated.npz"));
}

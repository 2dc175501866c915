//! What the format tests share: every malformed fixture fails with its expected message, and no
//! truncation or byte flip of a good file panics.
#![allow(dead_code)]

/// Each malformed fixture fails with the message its `expected_errors.json` gives (a substring),
/// and the JSON lists exactly the files given.
pub fn check_malformed(expected_errors_json: &str, files: &[(&str, &[u8])]) {
    let expected: serde_json::Value = serde_json::from_str(expected_errors_json).expect("fixture is valid JSON");
    let expected = expected.as_object().expect("expected_errors.json is an object");
    let mut listed: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let mut in_json: Vec<&str> = expected.keys().map(String::as_str).collect();
    listed.sort();
    in_json.sort();
    assert_eq!(listed, in_json, "the test must list every file in expected_errors.json");
    for (name, bytes) in files {
        let err = quantscope_formats::load_file(name, bytes).expect_err(name).to_string();
        let want = expected[*name].as_str().unwrap();
        assert!(err.contains(want), "{name}: got '{err}', expected it to contain '{want}'");
    }
}

/// A cheap stand-in for the fuzz targets: every prefix of a good file must fail cleanly, and
/// every single-byte corruption must either fail cleanly or still read (never panic).
pub fn check_truncations_and_flips(file_name: &str, bytes: &[u8]) {
    for len in 0..bytes.len() {
        assert!(quantscope_formats::load_file(file_name, &bytes[..len]).is_err(), "{file_name}: prefix of {len} bytes read");
    }
    let mut copy = bytes.to_vec();
    for i in 0..copy.len() {
        copy[i] ^= 0xA5;
        let _ = quantscope_formats::load_file(file_name, &copy);
        copy[i] ^= 0xA5;
    }
}

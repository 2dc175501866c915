//! Helpers shared by the integration tests. Fixtures are compiled in with `include_*!` so the
//! same tests run natively and in headless Chromium (wasm32 has no file system).
//!
//! A test that runs on both targets is written as:
//! ```ignore
//! #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
//! #[cfg_attr(not(target_arch = "wasm32"), test)]
//! fn name() { ... }
//! ```
//! with `browser_tests!();` once at the top of the file.
#![allow(dead_code, unused_macros)]

/// The text of a fixture file under tests/fixtures/, compiled in.
macro_rules! fixture_str {
    ($path:literal) => {
        include_str!(concat!(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), "/tests/fixtures/", $path))
    };
}

/// The bytes of a fixture file under tests/fixtures/, compiled in.
macro_rules! fixture_bytes {
    ($path:literal) => {
        include_bytes!(concat!(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), "/tests/fixtures/", $path))
    };
}

/// Makes wasm-bindgen-test run this file's tests in the browser.
macro_rules! browser_tests {
    () => {
        #[cfg(target_arch = "wasm32")]
        wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
    };
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("fixture is valid JSON")
}

/// f32 values from the hex bit patterns the fixture scripts write.
pub fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|h| f32::from_bits(u32::from_str_radix(h.as_str().unwrap(), 16).unwrap())).collect()
}

pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Bytes from a hex string.
pub fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A seeded xorshift64 for property inputs: the same values on every target.
pub struct Xorshift(pub u64);
impl Xorshift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// FNV-1a 64 over the little-endian bytes of f32 bit patterns: the hash the fixture scripts
/// write for large outputs (scripts/fixtures/make_ggml_dequant.py).
pub fn fnv1a64(values: &[f32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for v in values {
        for byte in v.to_bits().to_le_bytes() {
            h ^= byte as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Where two token-id sequences first part (for a failing comparison with llama.cpp's ids).
pub fn first_difference(ours: &[u32], theirs: &[u32]) -> String {
    let i = ours.iter().zip(theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
    format!(
        "first difference at {i} of {} / {}: ours {:?}, llama.cpp {:?}",
        ours.len(),
        theirs.len(),
        ours.get(i..i + 5),
        theirs.get(i..i + 5)
    )
}

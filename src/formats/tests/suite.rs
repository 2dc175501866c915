//! Every integration test of quantscope-formats in one test binary: one link natively and one
//! browser session under wasm-pack, instead of one of each per file. Cargo.toml says
//! `autotests = false`, so a new file under tests/ runs only once it is listed here
//! (scripts/check-test-suites.sh fails the test run when one is not).
#[macro_use]
#[path = "../../../tests/common/mod.rs"]
mod common;
mod malformed;

browser_tests!();

mod fuzz_stable;
mod gguf_export;
mod gguf_fit;
mod gguf_fixtures;
mod gguf_mixes;
mod imatrix_files;
mod npy_fixtures;
mod npz_fixtures;
mod onnx_fixtures;
mod onnx_splice;
mod onnx_weights;
mod readers;
mod safetensors_fixtures;

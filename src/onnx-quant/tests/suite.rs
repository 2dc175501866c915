//! Every integration test of quantscope-onnx-quant in one test binary: one link natively and one
//! browser session under wasm-pack, instead of one of each per file. Cargo.toml says
//! `autotests = false`, so a new file under tests/ runs only once it is listed here
//! (scripts/check-test-suites.sh fails the test run when one is not).
#[macro_use]
#[path = "../../../tests/common/mod.rs"]
mod common;

mod compare;
mod float16;
mod nbits_work;
mod ort_calibrate;
mod ort_dynamic;
mod ort_gptq;
mod ort_nbits;
mod ort_static;
mod ort_transformer;

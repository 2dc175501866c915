//! Every integration test of quantscope-engine in one test binary: one link natively and one
//! browser session under wasm-pack, instead of one of each per file. Cargo.toml says
//! `autotests = false`, so a new file under tests/ runs only once it is listed here
//! (scripts/check-test-suites.sh fails the test run when one is not).
#[macro_use]
#[path = "../../../tests/common/mod.rs"]
mod common;

browser_tests!();

mod conv_paths;
mod dynamic_quantize_lstm;
mod engine_conformance;
mod engine_kernels;
mod engine_nbits;
mod engine_ops;
mod engine_quantize;
mod importance;
mod mnist;
mod real_models;
mod transformer;

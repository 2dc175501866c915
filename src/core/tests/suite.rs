//! Every integration test of quantscope-core in one test binary: one link natively and one
//! browser session under wasm-pack, instead of one of each per file. Cargo.toml says
//! `autotests = false`, so a new file under tests/ runs only once it is listed here
//! (scripts/check-test-suites.sh fails the test run when one is not).
#[macro_use]
#[path = "../../../tests/common/mod.rs"]
mod common;

browser_tests!();

mod all_schemes;
mod bnb_fixtures;
mod calibration;
mod float_fixtures;
mod fused_metrics;
mod ggml_dequant;
mod ggml_extra_fixtures;
mod ggml_fixtures;
mod imatrix_quants_fixtures;
mod int_fixtures;
mod kernels;
mod kmeans_fixtures;
mod kquants_fixtures;

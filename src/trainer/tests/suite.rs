//! Every browser test of quantscope-trainer in one test binary, one browser session (Cargo.toml
//! says `autotests = false`, so a new file under tests/ runs only once it is listed here;
//! scripts/check-test-suites.sh fails the test run when one is not). Run by scripts/test.sh.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod synthetic;
mod wasm_conv;
mod wasm_trace;
mod wasm_training_run;

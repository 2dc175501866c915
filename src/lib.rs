//! quantscope: quantize tensors with every scheme that matters and measure what each costs.
//!
//! The core ([`formats`], [`schemes`], [`stats`], [`report`]) is plain Rust with no
//! dependency on the web; [`wasm`] is the whole JavaScript surface, and `src/bin/quantscope.rs`
//! is the native CLI. Both call [`report`], so the page and the CLI show the same numbers.

pub mod bench;
pub mod engine;
pub mod error;
pub mod formats;
pub mod gemm;
pub mod mnist;
pub mod report;
pub mod samples;
pub mod schemes;
pub mod stats;
pub mod teach;
pub mod tensor;

#[cfg(target_arch = "wasm32")]
pub mod plot;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
pub use tensor::Tensor;

// Unit tests marked for wasm-bindgen-test run in headless Chromium, not Node.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

//! quantscope: quantize tensors with every scheme that matters and measure what each costs.
//!
//! The core ([`formats`], [`schemes`], [`stats`], [`report`]) is plain Rust with no
//! dependency on the web. The wasm build makes two modules from this crate (see the `workbench`
//! and `runner` features): `wasm` (and the `teach` panels' exports) is the workbench's
//! JavaScript surface, `engine::wasm` and `mnist`'s exports the runner's. `src/bin/quantscope.rs`
//! is the native CLI; it and the page both call [`report`], so they show the same numbers.

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
mod js;
#[cfg(all(target_arch = "wasm32", feature = "workbench"))]
pub mod plot;
#[cfg(all(target_arch = "wasm32", feature = "workbench"))]
pub mod wasm;

pub use error::{Error, Result};
pub use tensor::Tensor;

// Unit tests marked for wasm-bindgen-test run in headless Chromium, not Node.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

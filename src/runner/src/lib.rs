//! The runner: the module the Run view's worker loads (`www/pkg-run`). A thin `#[wasm_bindgen]`
//! facade over `quantscope-engine`: the [`Engine`] registry of loaded models and the built-in
//! MNIST model's helpers. wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

pub mod engine;
#[cfg(feature = "importance")]
mod importance;
mod mnist;

pub use engine::Engine;
#[cfg(feature = "importance")]
pub use importance::ImportanceCollector;
pub use mnist::*;

// Unit tests marked for wasm-bindgen-test run in headless Chromium, not Node.
#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

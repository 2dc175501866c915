//! The workbench: the module the Inspect view loads (`www/pkg`), and the tensors' home for the
//! Learn view too (whose panels are the tutor module, `www/pkg-learn`). A thin `#[wasm_bindgen]`
//! facade over the library crates — the loaded files ([`store`], plain Rust, tested natively)
//! and the [`Workspace`] the worker owns. It draws nothing: the plots are the main thread's
//! module (`src/plots`, `www/pkg-plot`). Nothing here computes a number the CLI does not also
//! get from the library crates.

pub mod store;

#[cfg(target_arch = "wasm32")]
mod workspace;

#[cfg(target_arch = "wasm32")]
pub use workspace::*;

// Unit tests marked for wasm-bindgen-test run in headless Chromium, not Node.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

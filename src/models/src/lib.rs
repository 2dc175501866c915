//! The models module (`www/pkg-models`): the Run view's worker loads it when a person drops
//! their own model. It is the runner (linked for its exports: `Engine`, `read_npy_input`,
//! `output_error`, ...) plus [`engine_for_any_model`], an `Engine` that knows every op of
//! `quantscope_engine::ops::ALL`. The runner's own `new Engine()` names only the built-in
//! models' op set, so the runner module stays small; this module pays for the rest.
//! wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

// Linked for its exports: one implementation of the engine's JavaScript surface.
pub use quantscope_runner as runner;

use quantscope_engine::ops;
use quantscope_runner::Engine;
use wasm_bindgen::prelude::*;

/// An engine that loads a model made of any op the engine runs.
#[wasm_bindgen]
pub fn engine_for_any_model() -> Engine {
    Engine::with_ops(ops::ALL)
}

//! The tutor: the module the Learn view loads (`www/pkg-learn`), apart from the workbench so that
//! the Inspect view's first load does not carry the Learn panels. A thin `#[wasm_bindgen]` facade
//! over `quantscope_learn`, one file per panel in [`learn`].
//!
//! The tensors stay in the workbench's worker (its store reads files lazily). A panel that needs a
//! tensor works on a [`Lesson`]: the worker copies the selected tensor's values into it once
//! (`Workspace::tensor_values`) and every panel request on that tensor reads the copy.
//! wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

mod learn;

pub use learn::granularity::learn_decode_block;
use quantscope_core::Tensor;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

pub use quantscope_wasm_common::{simd128_enabled, wasm_memory_bytes};

/// The tensor the Learn panels are looking at: a copy of one of the workbench's tensors.
#[wasm_bindgen]
#[derive(Default)]
pub struct Lesson {
    tensor: Option<Rc<Tensor>>,
}

#[wasm_bindgen]
impl Lesson {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Lesson {
        Lesson::default()
    }

    /// Makes `values` (row-major, `shape`) the lesson's tensor, replacing the one before.
    pub fn set_tensor(&mut self, name: String, shape: Vec<usize>, values: Vec<f32>) -> Result<(), JsError> {
        let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements != Some(values.len()) {
            return Err(JsError::new(&format!("tensor '{name}' has shape {shape:?} but {} values", values.len())));
        }
        self.tensor = Some(Rc::new(Tensor { name, shape, dtype: "float32".into(), data: values }));
        Ok(())
    }

    pub(crate) fn tensor(&self) -> Result<Rc<Tensor>, JsError> {
        self.tensor.clone().ok_or_else(|| JsError::new("no tensor is selected for the Learn view"))
    }
}

// Unit tests marked for wasm-bindgen-test run in headless Chromium, not Node.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

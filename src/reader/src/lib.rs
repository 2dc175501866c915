//! The reader module (`www/pkg-read`): the formats the workbench does not read itself, .npz (a
//! zip reader with inflate) and ONNX (a protobuf decoder) — about 80 KB gzipped the workbench
//! (`www/pkg`) would otherwise carry for every visit. The Inspect worker loads it the first time
//! such a file is opened (www/inspect/reader-ops.js), reads the file whole here and hands the
//! tensors to its `Workspace::open_read`. wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

use quantscope_core::tensor::Tensor;
use quantscope_formats::{self as formats, lazy};
use quantscope_wasm_common::blob_source::BlobSource;
use quantscope_wasm_common::to_js;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;

thread_local! {
    /// The last read's tensors, whose values the answer's `Float32Array`s view (not copies: the
    /// workbench copies each once, straight from this module's memory), until [`release`] or
    /// the next read.
    static LAST_READ: RefCell<Vec<Tensor>> = const { RefCell::new(Vec::new()) };
}

/// Reads `blob` (named `file_name`), an .npz or ONNX file, whole: `{format, metadata: [[key,
/// value]], weights, tensors: [{name, dtype, shape, values: Float32Array}]}` (`weights`: an ONNX
/// model's weight descriptions, one per tensor, as `formats::onnx::weights`; absent for .npz).
/// Another format is refused naming it. The `values` are views of this module's memory, valid
/// until [`release`] or the next call into this module: copy them first (the worker hands them
/// to `Workspace::open_read` at once).
#[wasm_bindgen]
pub fn read_file(file_name: &str, blob: web_sys::Blob) -> Result<JsValue, JsError> {
    release();
    let named = |e: formats::Error| JsError::new(&format!("{file_name}: {e}"));
    let source = BlobSource::new(blob)?;
    let format = lazy::detect(file_name, &source).map_err(named)?;
    let mut loaded = lazy::read_whole(file_name, &source, format, formats::NPZ_AND_ONNX).map_err(named)?;
    let tensors = std::mem::take(&mut loaded.tensors);
    let out = to_js(&loaded)?;
    let list = js_sys::Array::new();
    // Nothing below allocates in this module's memory (which would move it and empty the views).
    for t in &tensors {
        let entry = js_sys::Object::new();
        let shape: js_sys::Array = t.shape.iter().map(|&d| JsValue::from(d as f64)).collect();
        for (key, value) in [
            ("name", JsValue::from_str(&t.name)),
            ("dtype", JsValue::from_str(&t.dtype)),
            ("shape", shape.into()),
            // SAFETY: a view of `t.data`, which LAST_READ keeps until `release`; this module's
            // memory does not grow before the caller has copied it (see above).
            ("values", unsafe { js_sys::Float32Array::view(&t.data) }.into()),
        ] {
            js_sys::Reflect::set(&entry, &JsValue::from_str(key), &value)
                .map_err(|_| JsError::new("could not build the read file's tensors"))?;
        }
        list.push(&entry);
    }
    js_sys::Reflect::set(&out, &JsValue::from_str("tensors"), &list)
        .map_err(|_| JsError::new("could not build the read file's tensors"))?;
    LAST_READ.with(|last| *last.borrow_mut() = tensors);
    Ok(out)
}

/// Frees the last read's tensors (their views in its answer are then invalid).
#[wasm_bindgen]
pub fn release() {
    LAST_READ.with(|last| *last.borrow_mut() = Vec::new());
}

//! What both page modules' JavaScript surfaces share (`quantscope-workbench`,
//! `quantscope-tutor`, `quantscope-runner`, ...): result conversion, errors, the clock, a dropped
//! file as a byte source ([`blob_source`]), and two exports every module has.
//! wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

pub mod blob_source;
pub mod gguf_work;

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A result as a plain JS object (JSON-compatible: maps as objects, non-finite as null).
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("could not serialize the result: {e}")))
}

/// A histogram as it arrives from JS (a serialized `stats::histogram::Histogram`), for the charts
/// both the workbench and the tutor draw.
#[derive(Debug, Deserialize)]
pub struct HistogramIn {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<f64>,
}

/// Any of the crates' errors as a thrown JS `Error` with its message.
pub fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// `performance.now()` of the global scope (window or worker), in milliseconds; `Date.now()`
/// where there is no `performance`.
pub fn performance_now() -> f64 {
    let global = js_sys::global();
    let performance = js_sys::Reflect::get(&global, &JsValue::from_str("performance")).ok().filter(|p| p.is_object());
    let now = performance
        .as_ref()
        .and_then(|p| js_sys::Reflect::get(p, &JsValue::from_str("now")).ok())
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    match (performance, now) {
        (Some(p), Some(f)) => f.call0(&p).ok().and_then(|v| v.as_f64()).unwrap_or(0.0),
        _ => js_sys::Date::now(),
    }
}

/// Bytes of wasm linear memory now (it only grows; the bench reads its high-water mark).
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

/// True when this build was compiled with SIMD128 (the bench page labels its columns by it).
#[wasm_bindgen]
pub fn simd128_enabled() -> bool {
    cfg!(target_feature = "simd128")
}

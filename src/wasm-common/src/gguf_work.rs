//! A GGUF export's pieces on their way to the page's pool of workers (www/inspect/pieces.js):
//! a [`Work`] as a plain JS object the worker posts on, and the encoding a pool worker runs on
//! it. The workbench (`gguf_encode`) and the mixer (`mix_encode`, with importance weights) each
//! export one entry point over [`encode_js`].
//!
//! A piece crosses as `{ready: Uint8Array}` (bytes to write as they are) or `{tensor, type,
//! values: Float32Array, importance: Float32Array | null, padding, bytes}` (a chunk to encode;
//! `bytes` is what it encodes to, padding included). The end of the file is `undefined`.

use js_sys::{Float32Array, Object, Reflect, Uint8Array};
use quantscope_formats::gguf_writer::{EncodeJob, OutType, WeightedQuantizer, Work};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

fn set(object: &Object, key: &str, value: &JsValue) -> Result<(), JsError> {
    Reflect::set(object, &JsValue::from_str(key), value).map(|_| ()).map_err(|_| JsError::new(&format!("could not set '{key}'")))
}

fn get(object: &JsValue, key: &str) -> Result<JsValue, JsError> {
    Reflect::get(object, &JsValue::from_str(key)).map_err(|_| JsError::new(&format!("a chunk to encode has no '{key}'")))
}

/// `work` as the page's worker posts it on (see the module docs).
pub fn work_to_js(work: Option<Work>) -> Result<JsValue, JsError> {
    let object = Object::new();
    match work {
        None => return Ok(JsValue::UNDEFINED),
        Some(Work::Ready(bytes)) => set(&object, "ready", &Uint8Array::from(bytes.as_slice()))?,
        Some(Work::Encode(job)) => {
            set(&object, "bytes", &JsValue::from_f64(job.encoded_len().map_err(crate::js_err)? as f64))?;
            set(&object, "tensor", &JsValue::from_str(&job.tensor))?;
            set(&object, "type", &JsValue::from_str(job.ty.id()))?;
            set(&object, "values", &Float32Array::from(job.values.as_slice()))?;
            let importance = job.importance.as_deref().map_or(JsValue::NULL, |w| Float32Array::from(w).into());
            set(&object, "importance", &importance)?;
            set(&object, "padding", &JsValue::from_f64(job.padding as f64))?;
        }
    }
    Ok(object.into())
}

/// The bytes of a chunk made by [`work_to_js`], padding included. `types` names the types the
/// module writes (`OutType::from_id`, or `OutType::in_a_mix` where a mix's grid types are
/// built); `weighted` quantizes chunks that carry importance weights.
pub fn encode_js(job: &JsValue, types: fn(&str) -> Option<OutType>, weighted: Option<WeightedQuantizer>) -> Result<Vec<u8>, JsError> {
    let ty_id = get(job, "type")?.as_string().ok_or_else(|| JsError::new("a chunk's type must be a string"))?;
    let ty = types(&ty_id).ok_or_else(|| JsError::new(&format!("'{ty_id}' is not a ggml type this module writes")))?;
    let values = get(job, "values")?.dyn_into::<Float32Array>().map_err(|_| JsError::new("a chunk's values must be a Float32Array"))?;
    let importance = get(job, "importance")?;
    let importance = if importance.is_null() || importance.is_undefined() {
        None
    } else {
        Some(
            importance
                .dyn_into::<Float32Array>()
                .map_err(|_| JsError::new("a chunk's importance must be a Float32Array or null"))?
                .to_vec(),
        )
    };
    let padding = get(job, "padding")?.as_f64().filter(|p| p.fract() == 0.0 && (0.0..32.0).contains(p));
    let padding = padding.ok_or_else(|| JsError::new("a chunk's padding must be a whole number under 32"))? as usize;
    let tensor = get(job, "tensor")?.as_string().unwrap_or_default();
    let job = EncodeJob { tensor, ty, values: values.to_vec(), importance, padding };
    job.encode(weighted).map_err(crate::js_err)
}

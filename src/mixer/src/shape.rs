//! A llama.cpp mix previewed on a model one does not have: the Learn view's "llama.cpp's mixes"
//! panel shows what `llama-quantize` would choose for a 7B- or 8B-shaped model, tensor by tensor
//! with each rule, and the file's real bits per weight — the rules of `gguf_mix::choose` on
//! `gguf_mix::llama_shaped` tensors, nothing quantized.

use quantscope_core::ggml_types;
use quantscope_formats::gguf_mix::{self, FileType, MixOptions, ModelFacts};
use quantscope_wasm_common::{js_err, to_js};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

/// A model's shape, as its GGUF metadata would give it.
#[derive(Deserialize)]
struct Shape {
    n_layer: u32,
    n_embd: u64,
    n_ff: u64,
    n_head: u32,
    n_head_kv: u32,
    n_vocab: u64,
    #[serde(default)]
    tied: bool,
}

#[derive(Serialize)]
struct ShapeTensor {
    name: String,
    #[serde(rename = "type")]
    ty: &'static str,
    rule: String,
    bytes: u64,
    elements: u64,
}

#[derive(Serialize)]
struct ShapePlan {
    file_type: &'static str,
    bytes: u64,
    elements: u64,
    /// Tensor bytes × 8 / weights (llama.cpp's BPW).
    bits_per_weight: f64,
    tensors: Vec<ShapeTensor>,
}

/// The plan of `file_type` ("Q4_K_M") for a llama-shaped model of `shape` ({n_layer, n_embd,
/// n_ff, n_head, n_head_kv, n_vocab, tied}): `{file_type, bytes, elements, bits_per_weight,
/// tensors: [{name, type, rule, bytes, elements}]}`, or llama-quantize's refusal (the IQ1/IQ2
/// mixes need an importance matrix) as the error.
#[wasm_bindgen]
pub fn shape_plan(file_type: &str, shape: JsValue) -> Result<JsValue, JsError> {
    let s: Shape = serde_wasm_bindgen::from_value(shape).map_err(|e| JsError::new(&format!("the model's shape: {e}")))?;
    if s.n_layer == 0 || s.n_head == 0 || s.n_head_kv == 0 || s.n_head % s.n_head_kv != 0 || s.n_embd % s.n_head as u64 != 0 {
        return Err(JsError::new(
            "the model's shape: layers and heads must be positive, the K/V heads divide the heads and the heads the width",
        ));
    }
    let ftype = FileType::from_name(file_type).map_err(js_err)?;
    let n_kv_embd = s.n_embd / s.n_head as u64 * s.n_head_kv as u64;
    let tensors = gguf_mix::llama_shaped(s.n_layer, s.n_embd, s.n_ff, n_kv_embd, s.n_vocab, s.tied);
    let facts = ModelFacts { arch: "llama".into(), n_layer: s.n_layer, n_head: s.n_head, n_head_kv: s.n_head_kv, n_expert: 0 };
    let choices = gguf_mix::choose(&facts, &tensors, ftype, &MixOptions::default()).map_err(|e| JsError::new(&crate::mix_err_text(e)))?;
    let mut out = Vec::with_capacity(choices.len());
    for c in choices {
        let ty = ggml_types::by_id(c.ggml_type).ok_or_else(|| JsError::new(&format!("ggml type {}", c.ggml_type)))?;
        let elements: u64 = tensors[c.source].shape.iter().product();
        out.push(ShapeTensor { name: c.name, ty: ty.name, rule: c.rule, bytes: elements / ty.block * ty.bytes, elements });
    }
    let (bytes, elements) = out.iter().fold((0, 0), |(b, e), t| (b + t.bytes, e + t.elements));
    to_js(&ShapePlan { file_type: ftype.name(), bytes, elements, bits_per_weight: bytes as f64 * 8.0 / elements as f64, tensors: out })
}

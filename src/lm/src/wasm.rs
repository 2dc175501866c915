//! The JavaScript surface of [`Playground`] for www/run/lm-worker.js. Results are plain objects
//! (`to_js`); errors are thrown with the crate's reason.

use crate::playground::{memory_needed, Playground};
use quantscope_formats::bytesource::ByteSource;
use quantscope_formats::lazy;
use quantscope_llm::Sampling;
use quantscope_wasm_common::blob_source::BlobSource;
use quantscope_wasm_common::{js_err, to_js};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

pub use quantscope_wasm_common::{simd128_enabled, wasm_memory_bytes};

/// The most memory loading the dropped `file` would hold at once ([`memory_needed`]), in bytes,
/// from its header alone: only the header's bytes are read, so a model too big for the tab is
/// refused before it is read whole. Errors are the GGUF reader's (not a GGUF file, a bad header).
#[wasm_bindgen]
pub fn lm_memory_needed(name: &str, file: web_sys::Blob) -> Result<f64, JsError> {
    let source = Rc::new(BlobSource::new(file)?);
    let len = source.len();
    let lazy = lazy::open_gguf_file(name, source).map_err(js_err)?;
    Ok(memory_needed(&lazy, len).map_err(js_err)? as f64)
}

#[wasm_bindgen]
pub struct LmSession {
    inner: Playground,
}

#[wasm_bindgen]
impl LmSession {
    /// Loads a GGUF file (and, for an F32 or F16 model, makes its Q8_0, Q4_0 and Q4_K_M copies).
    #[wasm_bindgen(constructor)]
    pub fn new(name: &str, bytes: Vec<u8>) -> Result<LmSession, JsError> {
        Ok(LmSession { inner: Playground::load(name, bytes, |_, _| {}).map_err(js_err)? })
    }

    /// {name, architecture, n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ctx_train,
    /// parameters, variants: [{name, file_bytes, bits_per_weight, matrix_types}]}
    pub fn summary(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.summary())
    }

    /// The prompt's token ids (BOS first when the model asks for it).
    pub fn encode_prompt(&self, text: &str) -> Vec<u32> {
        self.inner.encode_prompt(text)
    }

    pub fn decode(&self, ids: Vec<u32>) -> Result<String, JsError> {
        self.inner.decode(&ids).map_err(js_err)
    }

    /// Evaluates `prompt` (token ids) in every variant. `seed` undefined: greedy; otherwise
    /// seeded sampling at `temperature` from the `top_k` most likely tokens (0: all).
    pub fn start_generation(
        &mut self,
        prompt: Vec<u32>,
        n_tokens: usize,
        seed: Option<f64>,
        temperature: f32,
        top_k: usize,
    ) -> Result<(), JsError> {
        let sampling = match seed {
            None => Sampling::Greedy,
            Some(s) if s >= 0.0 && s.fract() == 0.0 && s <= u64::MAX as f64 => Sampling::Random { seed: s as u64, temperature, top_k },
            Some(s) => return Err(JsError::new(&format!("the seed must be a whole number ≥ 0, not {s}"))),
        };
        self.inner.start_generation(&prompt, n_tokens, sampling).map_err(js_err)
    }

    /// Up to `n` more tokens of variant `index`: {tokens, text, generated, done}.
    pub fn generate(&mut self, index: usize, n: usize) -> Result<JsValue, JsError> {
        to_js(&self.inner.generate(index, n).map_err(js_err)?)
    }

    /// Readies every variant's perplexity of `text`; returns the number of chunks.
    pub fn start_perplexity(&mut self, text: &str, n_ctx: usize, max_chunks: Option<usize>) -> Result<usize, JsError> {
        self.inner.start_perplexity(text, n_ctx, max_chunks).map_err(js_err)
    }

    /// One more chunk of variant `index`: {chunks_done, n_chunk, ppl, plus_minus, tokens_scored, done}.
    pub fn perplexity_step(&mut self, index: usize) -> Result<JsValue, JsError> {
        to_js(&self.inner.perplexity_step(index).map_err(js_err)?)
    }

    /// Adds the `ty` mix (a llama-quantize file type) of the F32 model, and "TYPE + imatrix"
    /// when an importance matrix was computed; returns the summary.
    pub fn add_type(&mut self, ty: &str) -> Result<JsValue, JsError> {
        self.inner.add_type(ty).map_err(js_err)?;
        to_js(&self.inner.summary())
    }

    /// Readies llama-imatrix's importance matrix of `text` on the first model; returns the
    /// number of chunks.
    pub fn start_imatrix(&mut self, text: &str, dataset: &str, n_ctx: usize, max_chunks: Option<usize>) -> Result<usize, JsError> {
        self.inner.start_imatrix(text, dataset, n_ctx, max_chunks).map_err(js_err)
    }

    /// One more chunk: {chunks_done, n_chunk, done, entries}.
    pub fn imatrix_step(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.inner.imatrix_step().map_err(js_err)?)
    }

    /// The computed importance matrix in llama-imatrix's GGUF layout.
    pub fn imatrix_file(&self) -> Result<Vec<u8>, JsError> {
        self.inner.imatrix_file().map_err(js_err)
    }

    /// Readies the sensitivity probes; returns their number.
    pub fn start_sensitivity(
        &mut self,
        text: &str,
        n_ctx: usize,
        max_chunks: Option<usize>,
        low_type: &str,
        per_layer: bool,
    ) -> Result<usize, JsError> {
        self.inner.start_sensitivity(text, n_ctx, max_chunks, low_type, per_layer).map_err(js_err)
    }

    /// One more chunk: {probe, n_probe, chunks_done, n_chunk, done, results: [{label, layer, kind,
    /// file_bytes, ppl, mean_kld, same_top_percent}]}.
    pub fn sensitivity_step(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.inner.sensitivity_step().map_err(js_err)?)
    }

    /// Readies GPTQ of the F32 model on `text`: `grid` "q4_0" or "intB", `group` columns per
    /// scale (0: a row), act-order; returns the number of steps.
    pub fn start_gptq(
        &mut self,
        text: &str,
        n_ctx: usize,
        max_chunks: Option<usize>,
        grid: &str,
        group: usize,
        act_order: bool,
    ) -> Result<usize, JsError> {
        self.inner.start_gptq(text, n_ctx, max_chunks, grid, group, act_order).map_err(js_err)
    }

    /// One more step: {done, total, finished, label, reports: [{name, gptq_error, rtn_error,
    /// column_losses}] when finished (its variants then added)}.
    pub fn gptq_step(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.inner.gptq_step().map_err(js_err)?)
    }

    /// A GPTQ variant's GGUF file.
    pub fn variant_file(&self, name: &str) -> Result<Vec<u8>, JsError> {
        self.inner.variant_file(name).map_err(js_err)
    }

    /// Readies AWQ of the F32 model on `text`: `grid` "q4_0" or "awq"; returns the number of steps.
    pub fn start_awq(&mut self, text: &str, n_ctx: usize, max_chunks: Option<usize>, grid: &str, clip: bool) -> Result<usize, JsError> {
        self.inner.start_awq(text, n_ctx, max_chunks, grid, clip).map_err(js_err)
    }

    /// One more step: {done, total, finished, label, scales: [{layer, label, best, ratio, losses,
    /// scale_min, scale_max}], clips: [{name, groups, clipped, error_unclipped, error_clipped}]
    /// when finished (its variants then added)}.
    pub fn awq_step(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.inner.awq_step().map_err(js_err)?)
    }
}

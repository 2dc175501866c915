//! candle's quantized llama (`candle_transformers::models::quantized_llama`, the model of candle's
//! own quantized examples) behind the few calls `scripts/bench-candle.mjs` makes, so that candle
//! and quantscope's `LmSession` run the same GGUF file in the same JS engine and are timed the
//! same way. Generation mirrors quantscope's `Generator` (src/llm/src/generate.rs): the prompt
//! is evaluated in one call, the first token is picked from its last logits, and each later token
//! costs one forward pass of the token before it (greedy: the largest logit, the lowest id on a
//! tie), with candle's own KV cache.

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use wasm_bindgen::prelude::*;

fn js(e: candle_core::Error) -> JsError {
    JsError::new(&e.to_string())
}

/// The index of the largest value, the lowest on a tie.
fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

#[wasm_bindgen]
pub struct CandleLm {
    model: ModelWeights,
    /// Positions already in the KV cache.
    pos: usize,
    /// The logits of the last position evaluated.
    last: Vec<f32>,
    /// The token picked last, not yet evaluated.
    pending: Option<u32>,
}

impl CandleLm {
    /// One forward call of `tokens` at the current position: the last position's logits.
    fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, candle_core::Error> {
        let input = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
        let logits = self.model.forward(&input, self.pos)?;
        self.pos += tokens.len();
        logits.squeeze(0)?.to_vec1::<f32>()
    }
}

#[wasm_bindgen]
impl CandleLm {
    /// Loads a llama GGUF file with `ModelWeights::from_gguf` (the matrices stay in their ggml
    /// types; F32 ones become plain tensors multiplied by candle's gemm).
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<CandleLm, JsError> {
        let mut reader = std::io::Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut reader).map_err(js)?;
        let model = ModelWeights::from_gguf(content, &mut reader, &Device::Cpu).map_err(js)?;
        Ok(CandleLm { model, pos: 0, last: Vec::new(), pending: None })
    }

    /// Empties the KV cache.
    pub fn reset(&mut self) {
        self.model.clear_kv_cache();
        self.pos = 0;
        self.last.clear();
        self.pending = None;
    }

    /// Evaluates `tokens` one call each, from an empty cache: the logits of every position,
    /// row after row (for the check against llama.cpp's logits).
    pub fn logits_token_by_token(&mut self, tokens: &[u32]) -> Result<Vec<f32>, JsError> {
        self.reset();
        let mut all = Vec::new();
        for &t in tokens {
            all.extend(self.forward(&[t]).map_err(js)?);
        }
        Ok(all)
    }

    /// Empties the cache and evaluates `prompt` in one call: the last position's logits (the
    /// first token is picked from them by the first `generate`).
    pub fn start(&mut self, prompt: &[u32]) -> Result<Vec<f32>, JsError> {
        if prompt.is_empty() {
            return Err(JsError::new("empty prompt"));
        }
        self.reset();
        self.last = self.forward(prompt).map_err(js)?;
        Ok(self.last.clone())
    }

    /// The next `n` greedy tokens: each picked from the logits of the one before, which are
    /// computed when the token after it is asked for (as quantscope's `Generator::next_token`).
    pub fn generate(&mut self, n: usize) -> Result<Vec<u32>, JsError> {
        if self.last.is_empty() {
            return Err(JsError::new("no prompt evaluated: call start first"));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            if let Some(t) = self.pending.take() {
                self.last = self.forward(&[t]).map_err(js)?;
            }
            let t = argmax(&self.last);
            self.pending = Some(t);
            out.push(t);
        }
        Ok(out)
    }
}

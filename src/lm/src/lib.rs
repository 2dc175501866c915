//! The language-model module the page loads (`www/pkg-lm`) when the Run view's "Language model"
//! section is first used: a thin facade over `quantscope-llm`. [`playground`] is plain Rust (the
//! native tests drive it); [`wasm`] is its JavaScript surface for www/run/lm-worker.js.
//!
//! A model is loaded once; when every matrix is F32 it is also quantized in memory to llama.cpp's
//! Q8_0, Q4_0 and Q4_K_M files (`formats::gguf_writer::write_mix`, byte-identical to
//! llama-quantize), and all of them generate and score text side by side, a few tokens or one
//! perplexity chunk per call, so the worker can stream, time and cancel between calls.

pub mod awq;
pub mod calibrated;
pub mod playground;
pub mod sensitivity;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use playground::{Playground, Summary, VariantSummary};

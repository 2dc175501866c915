//! A llama, qwen2, qwen3 or gemma3 language model read from a GGUF file, as llama.cpp runs it: the
//! config from the metadata ([`config`]), the tokenizer ([`tokenizer`]: SentencePiece, or byte-level
//! BPE with GPT-2's, Llama 3's, Qwen2's and SmolLM's pre-tokenizers), and the forward
//! pass with a KV cache ([`model`]) in F32, and with Q8_0, Q4_0, Q5_0, Q4_1, Q5_1 and Q2_K–Q6_K
//! matrices multiplied as ggml-cpu multiplies them ([`q8_0`], [`q4_0`], [`legacy`], [`kquants`]).
//!
//! Plain Rust (no wasm-bindgen); tests in `tests/` hold the token ids and logits to llama.cpp's
//! (fixtures from `scripts/fixtures/make_tiny_lm.py` and `make_llm_archs.py`).
//!
//! ```no_run
//! let model = quantscope_llm::Model::from_gguf(std::fs::read("tiny-lm-f32.gguf").unwrap()).unwrap();
//! let ids = model.tokenizer.encode("To be, or not to be");
//! let mut session = model.session(128).unwrap();
//! let logits = session.eval(&ids).unwrap(); // n_vocab per token
//! # let _ = logits;
//! ```

pub mod activations;
pub mod architectures;
pub mod awq;
pub mod blocks;
pub mod config;
pub mod dequantized;
pub mod error;
pub mod generate;
pub mod gptq;
pub mod imatrix;
pub mod iq4;
pub mod kernels;
pub mod kl_divergence;
pub mod kquants;
pub mod legacy;
pub mod metadata;
pub mod model;
pub mod ops;
pub mod perplexity;
pub mod q4_0;
pub mod q8_0;
pub mod tokenizer;
pub mod weights;

pub use awq::AwqRun;
pub use config::LlamaConfig;
pub use error::{LlmError, Result};
pub use generate::{Generator, Sampling};
pub use gptq::GptqRun;
pub use imatrix::ImatrixRun;
pub use kl_divergence::{kl_divergence, KlDivergence, KlSummary};
pub use model::{Model, Session};
pub use perplexity::{perplexity, Perplexity, PerplexityRun};
pub use tokenizer::Tokenizer;

//! The architectures this crate runs, in a leaf module: the config checks a model against the
//! list and the error messages name it, and neither should depend on the other.

/// llama.cpp's graphs in `src/models/llama.cpp`, `qwen2.cpp`, `qwen3.cpp`, `gemma.cpp`, `gemma2.cpp`
/// and `gemma3.cpp`. They are one forward pass; what differs is data in
/// [`crate::config::LlamaConfig`] (`traits` in config.rs).
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3"];

//! What can go wrong reading a language model or running it. Each variant names the key, tensor
//! or token at fault, so the page can say why a model is refused.

use std::fmt;

#[derive(Debug)]
pub enum LlmError {
    /// The file could not be read as GGUF (truncated, bad magic, bad tensor table ...).
    Format(quantscope_formats::Error),
    /// The file is another format than GGUF.
    NotGguf(String),
    /// `general.architecture` names an architecture this crate does not run.
    UnsupportedArchitecture(String),
    /// A metadata key llama.cpp requires for this architecture is absent.
    MissingKey(String),
    /// A metadata key holds a value of the wrong GGUF type or an impossible value.
    BadKey { key: String, why: String },
    /// A feature of the model that the forward pass does not implement (MoE, RoPE scaling ...).
    Unsupported(String),
    /// A tensor the architecture needs is absent.
    MissingTensor(String),
    /// A tensor's shape is not what the config implies (row-major, as the GGUF reader gives it).
    TensorShape { name: String, expected: Vec<u64>, found: Vec<u64> },
    /// A tensor stored in a ggml type the forward pass has no kernel for.
    UnsupportedTensorType { name: String, dtype: String },
    /// The tokenizer keys name a tokenizer model or pre-tokenizer this crate does not implement.
    UnsupportedTokenizer(String),
    /// A token id outside the vocabulary.
    TokenOutOfRange { token: u32, n_vocab: usize },
    /// A context of no positions, or one whose KV cache would take more than the limit.
    ContextTooLarge { n_ctx: usize, limit: usize },
    /// More tokens than the KV cache was made for.
    ContextFull { n_ctx: usize, needed: usize },
    /// Activation statistics that overflowed to infinity or NaN (llama-imatrix stops too).
    NonFinite { tensor: String },
    /// GPTQ or AWQ could not quantize this tensor (the reason from `quantscope-ptq`).
    Quantize { tensor: String, why: String },
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LlmError::Format(e) => write!(f, "cannot read the model: {e}"),
            LlmError::NotGguf(format) => write!(f, "a language model is read from a GGUF file, not {format}"),
            LlmError::UnsupportedArchitecture(arch) => {
                write!(f, "unsupported architecture '{arch}': quantscope runs {}", crate::architectures::SUPPORTED_ARCHITECTURES.join(", "))
            }
            LlmError::MissingKey(key) => write!(f, "the GGUF metadata has no '{key}', which llama.cpp requires"),
            LlmError::BadKey { key, why } => write!(f, "GGUF metadata '{key}': {why}"),
            LlmError::Quantize { tensor, why } => write!(f, "could not quantize '{tensor}': {why}"),
            LlmError::Unsupported(what) => write!(f, "not supported yet: {what}"),
            LlmError::MissingTensor(name) => write!(f, "the model has no tensor '{name}'"),
            LlmError::TensorShape { name, expected, found } => {
                write!(f, "tensor '{name}' has shape {found:?}, the model's config needs {expected:?}")
            }
            LlmError::UnsupportedTensorType { name, dtype } => {
                write!(f, "tensor '{name}' is stored as {dtype}; the forward pass runs every ggml weight type (q8_1 and q8_k are activation types)")
            }
            LlmError::UnsupportedTokenizer(what) => write!(f, "unsupported tokenizer: {what}"),
            LlmError::TokenOutOfRange { token, n_vocab } => {
                write!(f, "token id {token} is outside the vocabulary of {n_vocab} tokens")
            }
            LlmError::ContextTooLarge { n_ctx, limit } => {
                write!(f, "a context of {n_ctx} positions: it must be at least 1 and its KV cache at most {} MiB", limit >> 20)
            }
            LlmError::ContextFull { n_ctx, needed } => {
                write!(f, "the context holds {n_ctx} tokens; {needed} were asked for")
            }
            LlmError::NonFinite { tensor } => {
                write!(f, "the squared inputs of '{tensor}' summed to infinity or NaN; no importance matrix can be made")
            }
        }
    }
}

impl std::error::Error for LlmError {}

impl From<quantscope_formats::Error> for LlmError {
    fn from(e: quantscope_formats::Error) -> Self {
        LlmError::Format(e)
    }
}

pub type Result<T> = std::result::Result<T, LlmError>;

//! A llama-family model's hyper-parameters (llama, qwen2, qwen3: the keys are `<arch>.*`), read from the GGUF metadata with the keys and
//! defaults of llama.cpp's loader (`src/llama-model.cpp`, `llama_model::load_hparams`, and the key
//! names of `src/llama-arch.cpp`): context length, embedding length, block count, feed-forward
//! length, head counts and the RMS-norm epsilon are required; `head_count_kv` defaults to
//! `head_count`, `rope.freq_base` to 10000, `rope.dimension_count` and `key_length` to
//! n_embd / n_head.

use crate::error::{LlmError, Result};
use crate::metadata::Metadata;

pub use crate::architectures::SUPPORTED_ARCHITECTURES;

/// How RoPE pairs a head's dimensions (llama.cpp's `llama_model_rope_type`, `src/llama-model.cpp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeMode {
    /// `LLAMA_ROPE_TYPE_NORM`: adjacent pairs (x[2i], x[2i+1]) — llama.
    Norm,
    /// `LLAMA_ROPE_TYPE_NEOX`: the two halves, (x[i], x[i + n_rot/2]) — qwen2, qwen3.
    Neox,
}

/// What an architecture's graph does beyond llama's. Q/K/V biases are not here: llama.cpp loads
/// them as optional tensors for all three (`create_tensor_qkv`), and so does [`crate::Model`].
fn traits(arch: &str) -> (RopeMode, bool) {
    match arch {
        // qwen3.cpp: RMSNorm of each q and k head (attn_q_norm / attn_k_norm) before RoPE.
        "qwen3" => (RopeMode::Neox, true),
        "qwen2" => (RopeMode::Neox, false),
        _ => (RopeMode::Norm, false),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub architecture: String,
    pub n_vocab: usize,
    /// The context length the model was trained with (`llama.context_length`).
    pub n_ctx_train: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Width of one attention head (`llama.attention.key_length`, else n_embd / n_head).
    pub head_dim: usize,
    /// Feed-forward width of each layer.
    pub n_ff: Vec<usize>,
    /// How many of a head's dimensions RoPE rotates (`llama.rope.dimension_count`).
    pub n_rot: usize,
    pub rope_freq_base: f32,
    pub rope_mode: RopeMode,
    /// Per-head RMSNorm of q and k before RoPE (qwen3), with the same epsilon.
    pub qk_norm: bool,
    pub rms_eps: f32,
}

/// The largest width (embedding, heads, head, layers, feed-forward) accepted.
pub const MAX_DIM: usize = 1 << 16;

fn ff_key_name(arch: &str) -> String {
    format!("{arch}.feed_forward_length")
}

fn required(meta: &Metadata, key: &str) -> Result<usize> {
    meta.usize(key)?.ok_or_else(|| LlmError::MissingKey(key.to_string()))
}

fn positive(key: &str, v: usize) -> Result<usize> {
    if v == 0 {
        return Err(LlmError::BadKey { key: key.to_string(), why: "must be positive".into() });
    }
    Ok(v)
}

impl LlamaConfig {
    /// The config, or why the model cannot run. `n_vocab` is the tokenizer's token count.
    pub fn from_metadata(meta: &Metadata, n_vocab: usize) -> Result<LlamaConfig> {
        let architecture = meta.string("general.architecture")?.ok_or_else(|| LlmError::MissingKey("general.architecture".into()))?;
        if !SUPPORTED_ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(LlmError::UnsupportedArchitecture(architecture));
        }
        let a = architecture.as_str();
        let (rope_mode, qk_norm) = traits(a);
        let key = |k: &str| format!("{a}.{k}");
        let n_ctx_train = positive(&key("context_length"), required(meta, &key("context_length"))?)?;
        let n_embd = positive(&key("embedding_length"), required(meta, &key("embedding_length"))?)?;
        let n_layer = positive(&key("block_count"), required(meta, &key("block_count"))?)?;
        let n_head = positive(&key("attention.head_count"), required(meta, &key("attention.head_count"))?)?;
        let n_head_kv = positive(&key("attention.head_count_kv"), meta.usize(&key("attention.head_count_kv"))?.unwrap_or(n_head))?;
        if n_head % n_head_kv != 0 {
            return Err(LlmError::BadKey {
                key: key("attention.head_count_kv"),
                why: format!("{n_head_kv} does not divide the {n_head} query heads"),
            });
        }
        let ff_key = key("feed_forward_length");
        let mut n_ff = meta.usize_or_array(&ff_key)?.ok_or_else(|| LlmError::MissingKey(ff_key.clone()))?;
        if n_ff.len() == 1 {
            n_ff = vec![n_ff[0]; n_layer];
        }
        if n_ff.len() != n_layer || n_ff.contains(&0) {
            return Err(LlmError::BadKey { key: ff_key, why: format!("expected one positive length or {n_layer}, got {n_ff:?}") });
        }
        if n_embd % n_head != 0 && !meta.has(&key("attention.key_length")) {
            return Err(LlmError::BadKey { key: key("embedding_length"), why: format!("{n_embd} is not a multiple of {n_head} heads") });
        }
        let head_dim = positive(&key("attention.key_length"), meta.usize(&key("attention.key_length"))?.unwrap_or(n_embd / n_head))?;
        let v_dim = meta.usize(&key("attention.value_length"))?.unwrap_or(head_dim);
        if v_dim != head_dim {
            return Err(LlmError::Unsupported(format!("value heads of {v_dim} with key heads of {head_dim}")));
        }
        if head_dim % 2 != 0 {
            return Err(LlmError::BadKey {
                key: key("attention.key_length"),
                why: format!("RoPE rotates pairs: a head of {head_dim} is odd"),
            });
        }
        // Far beyond any real model, and small enough that products of two of them fit in usize
        // on wasm32 (the widths are multiplied to size the activations and the KV cache).
        for (k, v) in
            [("embedding_length", n_embd), ("attention.head_count", n_head), ("attention.key_length", head_dim), ("block_count", n_layer)]
        {
            if v > MAX_DIM {
                return Err(LlmError::BadKey { key: key(k), why: format!("{v} is more than quantscope's limit of {MAX_DIM}") });
            }
        }
        if n_ff.iter().any(|&f| f > MAX_DIM) {
            return Err(LlmError::BadKey { key: ff_key_name(a), why: format!("more than quantscope's limit of {MAX_DIM}") });
        }
        let n_rot = meta.usize(&key("rope.dimension_count"))?.unwrap_or(head_dim);
        if n_rot != head_dim {
            return Err(LlmError::Unsupported(format!("RoPE on {n_rot} of each head's {head_dim} dimensions")));
        }
        let rope_freq_base = meta.f32(&key("rope.freq_base"))?.unwrap_or(10000.0);
        if !(rope_freq_base.is_finite() && rope_freq_base > 0.0) {
            return Err(LlmError::BadKey { key: key("rope.freq_base"), why: format!("{rope_freq_base} is not a positive number") });
        }
        let eps_key = key("attention.layer_norm_rms_epsilon");
        let rms_eps = meta.f32(&eps_key)?.ok_or_else(|| LlmError::MissingKey(eps_key.clone()))?;
        if !(rms_eps.is_finite() && rms_eps >= 0.0) {
            return Err(LlmError::BadKey { key: eps_key, why: format!("{rms_eps} is not a non-negative number") });
        }
        if meta.usize(&key("expert_count"))?.unwrap_or(0) > 0 {
            return Err(LlmError::Unsupported("mixture-of-experts layers".into()));
        }
        match meta.string(&key("rope.scaling.type"))?.as_deref() {
            None | Some("none") => {}
            Some("linear") if meta.f32(&key("rope.scaling.factor"))?.unwrap_or(1.0) == 1.0 => {}
            Some(other) => return Err(LlmError::Unsupported(format!("RoPE scaling '{other}'"))),
        }
        if let Some(v) = meta.usize(&key("vocab_size"))? {
            if v != n_vocab {
                return Err(LlmError::BadKey { key: key("vocab_size"), why: format!("{v}, but the tokenizer has {n_vocab} tokens") });
            }
        }
        Ok(LlamaConfig {
            architecture,
            n_vocab,
            n_ctx_train,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            n_rot,
            rope_freq_base,
            rope_mode,
            qk_norm,
            rms_eps,
        })
    }
}

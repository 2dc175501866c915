//! A llama-family model's hyper-parameters (llama, qwen2, qwen3, gemma, gemma2, gemma3: the keys are `<arch>.*`), read from the GGUF metadata with the keys and
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

/// The feed-forward's gated activation (llama.cpp's `build_ffn` with `LLM_FFN_PAR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfnActivation {
    /// silu(gate) · up (`ggml_swiglu_split`): llama, qwen2, qwen3.
    Silu,
    /// gelu(gate) · up with GELU's tanh approximation (`ggml_geglu_split`): gemma, gemma2, gemma3.
    GeluTanh,
}

/// What an architecture's graph does beyond llama's: (RoPE pairing, per-head q/k norm, which
/// Gemma). Q/K/V biases are not here: llama.cpp loads them as optional tensors for every one of
/// them (`create_tensor_qkv`), and so does [`crate::Model`].
fn traits(arch: &str) -> (RopeMode, bool, Option<u8>) {
    match arch {
        // qwen3.cpp: RMSNorm of each q and k head (attn_q_norm / attn_k_norm) before RoPE.
        "qwen3" => (RopeMode::Neox, true, None),
        "qwen2" => (RopeMode::Neox, false, None),
        // gemma.cpp, gemma2.cpp, gemma3.cpp: the Gemma fields of LlamaConfig; gemma3 adds q/k norm.
        "gemma" => (RopeMode::Neox, false, Some(1)),
        "gemma2" => (RopeMode::Neox, false, Some(2)),
        "gemma3" => (RopeMode::Neox, true, Some(3)),
        _ => (RopeMode::Norm, false, None),
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
    /// Per-head RMSNorm of q and k before RoPE (qwen3, gemma3), with the same epsilon.
    pub qk_norm: bool,
    pub rms_eps: f32,
    /// RoPE's frequency scale (`rope.scaling.type` linear: 1 / `rope.scaling.factor`), on every
    /// layer but the sliding-window ones.
    pub rope_freq_scale: f32,
    /// Gemma's graphs (`src/models/gemma.cpp`, `gemma2.cpp`, `gemma3.cpp`): embeddings times
    /// sqrt(n_embd), and q scaled by `attn_scale` before the scores (not the scores after).
    pub gemma: bool,
    /// An RMSNorm of the attention's and of the feed-forward's output before each residual add
    /// (`post_attention_norm`, `post_ffw_norm`: gemma2, gemma3).
    pub post_norms: bool,
    /// The head is always `token_embd` (gemma, gemma2 load no `output.weight`).
    pub tied_head: bool,
    /// `attention.logit_softcapping` (gemma2): each score s becomes cap · tanh(s / cap).
    pub attn_softcap: Option<f32>,
    /// `final_logit_softcapping` (gemma2; gemma3 when the key is set): the same on the logits.
    pub final_softcap: Option<f32>,
    pub ffn_activation: FfnActivation,
    /// The attention scale (1/sqrt(head_dim); gemma3's 27B: 1/sqrt(n_embd / n_head)).
    pub attn_scale: f32,
    /// Sliding-window attention (`<arch>.attention.sliding_window`, gemma3): a query on such a
    /// layer sees the `n_swa` positions ending at its own (llama.cpp's LLAMA_SWA_TYPE_STANDARD:
    /// p1 - p0 >= n_swa is masked); 0: none.
    pub n_swa: usize,
    /// Which layers slide (`attention.sliding_window_pattern`: per layer, or every layer but each
    /// n-th; llama.cpp's default for gemma3 is 6).
    pub swa_layers: Vec<bool>,
    /// The sliding-window layers' RoPE base and scale (`rope.freq_base_swa`; gemma3's defaults
    /// 10000 and 1, gemma2's the global layers').
    pub rope_freq_base_swa: f32,
    pub rope_freq_scale_swa: f32,
}

impl LlamaConfig {
    /// Layer `l`'s RoPE base and frequency scale (`llama_model::get_rope_freq_base` / `_scale`).
    pub fn layer_rope(&self, l: usize) -> (f32, f32) {
        if self.is_swa(l) {
            (self.rope_freq_base_swa, self.rope_freq_scale_swa)
        } else {
            (self.rope_freq_base, self.rope_freq_scale)
        }
    }

    pub fn is_swa(&self, l: usize) -> bool {
        self.n_swa > 0 && self.swa_layers.get(l).copied().unwrap_or(false)
    }

    /// The first position a query at `pos` on layer `l` attends to.
    pub fn window_start(&self, l: usize, pos: usize) -> usize {
        if self.is_swa(l) {
            (pos + 1).saturating_sub(self.n_swa)
        } else {
            0
        }
    }
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
        let (rope_mode, qk_norm, gemma) = traits(a);
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
        // llama_model::load_hparams: the type defaults to linear, whose factor (or the old
        // `rope.scale_linear`) divides the frequencies; "none" never scales.
        let factor = match meta.f32(&key("rope.scaling.factor"))? {
            Some(f) => Some(f),
            None => meta.f32(&key("rope.scale_linear"))?,
        };
        let rope_freq_scale = match meta.string(&key("rope.scaling.type"))?.as_deref() {
            Some("none") => 1.0,
            None | Some("linear") => match factor {
                None => 1.0,
                Some(0.0) => 1.0,
                Some(f) if f.is_finite() && f > 0.0 => 1.0 / f,
                Some(f) => return Err(LlmError::BadKey { key: key("rope.scaling.factor"), why: format!("{f} is not a positive number") }),
            },
            Some(other) => return Err(LlmError::Unsupported(format!("RoPE scaling '{other}'"))),
        };
        if let Some(f) = meta.f32(&key("rope.scaling.attn_factor"))? {
            if f != 1.0 {
                return Err(LlmError::Unsupported(format!("RoPE attention factor {f}")));
            }
        }
        let mut attn_scale = 1.0 / (head_dim as f32).sqrt();
        let (mut n_swa, mut swa_layers) = (0, vec![false; n_layer]);
        let (mut rope_freq_base_swa, mut rope_freq_scale_swa) = (10000.0, 1.0);
        let (mut attn_softcap, mut final_softcap) = (None, None);
        let positive_key = |k: &str, default: f32| -> Result<f32> {
            let v = meta.f32(&key(k))?.unwrap_or(default);
            if !(v.is_finite() && v > 0.0) {
                return Err(LlmError::BadKey { key: key(k), why: format!("{v} is not a positive number") });
            }
            Ok(v)
        };
        if let Some(version) = gemma {
            // load_arch_hparams of gemma2 and gemma3: their 27B (46 / 62 layers) scales by n_embd / n_head.
            if (version == 2 && n_layer == 46) || (version == 3 && n_layer == 62) {
                attn_scale = 1.0 / ((n_embd / n_head) as f32).sqrt();
            }
            // gemma2: a window of 4096 on every other layer unless the keys say otherwise; the
            // window layers' RoPE as the others'; soft-capping of the scores (50) and logits (30).
            // gemma3: a window only with the key, on 5 layers of 6; logits capped only with the key.
            let (default_swa, default_pattern) = if version == 2 { (4096, 2) } else { (0, 6) };
            if version == 2 {
                (rope_freq_base_swa, rope_freq_scale_swa) = (rope_freq_base, rope_freq_scale);
                attn_softcap = Some(positive_key("attn_logit_softcapping", 50.0)?);
                final_softcap = Some(positive_key("final_logit_softcapping", 30.0)?);
            } else if version == 3 && meta.f32(&key("final_logit_softcapping"))?.unwrap_or(0.0) != 0.0 {
                final_softcap = Some(positive_key("final_logit_softcapping", 30.0)?);
            }
            n_swa = if version == 1 { 0 } else { meta.usize(&key("attention.sliding_window"))?.unwrap_or(default_swa) };
            if n_swa > 0 {
                let pattern_key = key("attention.sliding_window_pattern");
                swa_layers = match meta.bools(&pattern_key)? {
                    Some(per_layer) if per_layer.len() >= n_layer => per_layer[..n_layer].to_vec(),
                    Some(per_layer) => {
                        return Err(LlmError::BadKey { key: pattern_key, why: format!("{} values for {n_layer} layers", per_layer.len()) })
                    }
                    // llama_hparams::set_swa_pattern: every layer but each n-th (0: all).
                    None => {
                        let n = meta.usize(&pattern_key)?.unwrap_or(default_pattern);
                        (0..n_layer).map(|il| n == 0 || il % n < n - 1).collect()
                    }
                };
                rope_freq_base_swa = positive_key("rope.freq_base_swa", rope_freq_base_swa)?;
            }
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
            rope_freq_scale,
            gemma: gemma.is_some(),
            post_norms: matches!(gemma, Some(2 | 3)),
            tied_head: matches!(gemma, Some(1 | 2)),
            attn_softcap,
            final_softcap,
            ffn_activation: if gemma.is_some() { FfnActivation::GeluTanh } else { FfnActivation::Silu },
            attn_scale,
            n_swa,
            swa_layers,
            rope_freq_base_swa,
            rope_freq_scale_swa,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quantscope_formats::gguf::RawKv;

    fn kv(key: &str, value_type: u32, value: Vec<u8>) -> RawKv {
        RawKv { key: key.into(), value_type, value }
    }
    fn u32_kv(key: &str, v: u32) -> RawKv {
        kv(key, 4, v.to_le_bytes().to_vec())
    }
    fn f32_kv(key: &str, v: f32) -> RawKv {
        kv(key, 6, v.to_le_bytes().to_vec())
    }
    fn str_kv(key: &str, v: &str) -> RawKv {
        let mut b = (v.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(v.as_bytes());
        kv(key, 8, b)
    }

    /// A 4-layer gemma3 with a window of 8, and `extra` keys.
    fn gemma3(extra: Vec<RawKv>) -> Result<LlamaConfig> {
        let mut kvs = vec![
            str_kv("general.architecture", "gemma3"),
            u32_kv("gemma3.context_length", 64),
            u32_kv("gemma3.embedding_length", 32),
            u32_kv("gemma3.block_count", 4),
            u32_kv("gemma3.feed_forward_length", 64),
            u32_kv("gemma3.attention.head_count", 4),
            f32_kv("gemma3.attention.layer_norm_rms_epsilon", 1e-6),
            u32_kv("gemma3.attention.sliding_window", 8),
        ];
        kvs.extend(extra);
        LlamaConfig::from_metadata(&Metadata::new(&kvs), 10)
    }

    #[test]
    fn gemma3_reads_its_window_pattern_as_llama_cpp_does() {
        // Default pattern 6: every layer of four slides; a count of 2 makes layers 1 and 3 global.
        assert_eq!(gemma3(vec![]).unwrap().swa_layers, [true; 4]);
        assert_eq!(gemma3(vec![u32_kv("gemma3.attention.sliding_window_pattern", 2)]).unwrap().swa_layers, [true, false, true, false]);
        let bools = |v: &[u8]| {
            let mut b = 7u32.to_le_bytes().to_vec();
            b.extend_from_slice(&(v.len() as u64).to_le_bytes());
            b.extend_from_slice(v);
            kv("gemma3.attention.sliding_window_pattern", 9, b)
        };
        let c = gemma3(vec![bools(&[0, 1, 1, 0])]).unwrap();
        assert_eq!(c.swa_layers, [false, true, true, false]);
        assert_eq!((c.window_start(1, 20), c.window_start(0, 20), c.layer_rope(1)), (13, 0, (10000.0, 1.0)));
        let e = gemma3(vec![bools(&[1, 0])]).unwrap_err();
        assert_eq!(e.to_string(), "GGUF metadata 'gemma3.attention.sliding_window_pattern': 2 values for 4 layers");
    }

    #[test]
    fn variants_not_implemented_are_refused_naming_them() {
        let e = gemma3(vec![f32_kv("gemma3.final_logit_softcapping", -30.0)]).unwrap_err();
        assert_eq!(e.to_string(), "GGUF metadata 'gemma3.final_logit_softcapping': -30 is not a positive number");
        let e = gemma3(vec![str_kv("gemma3.rope.scaling.type", "yarn")]).unwrap_err();
        assert_eq!(e.to_string(), "not supported yet: RoPE scaling 'yarn'");
        let e = gemma3(vec![f32_kv("gemma3.rope.scaling.attn_factor", 0.5)]).unwrap_err();
        assert_eq!(e.to_string(), "not supported yet: RoPE attention factor 0.5");
        let e = gemma3(vec![f32_kv("gemma3.rope.scaling.factor", -2.0)]).unwrap_err();
        assert_eq!(e.to_string(), "GGUF metadata 'gemma3.rope.scaling.factor': -2 is not a positive number");
        // A factor without a type is linear (llama.cpp's default type), "none" never scales.
        assert_eq!(gemma3(vec![f32_kv("gemma3.rope.scaling.factor", 8.0)]).unwrap().rope_freq_scale, 0.125);
        let none = gemma3(vec![f32_kv("gemma3.rope.scaling.factor", 8.0), str_kv("gemma3.rope.scaling.type", "none")]);
        assert_eq!(none.unwrap().rope_freq_scale, 1.0);
        // gemma3n is another graph.
        let mut kvs = vec![str_kv("general.architecture", "gemma3n")];
        kvs.push(u32_kv("gemma3n.context_length", 64));
        let e = LlamaConfig::from_metadata(&Metadata::new(&kvs), 10).unwrap_err();
        assert_eq!(e.to_string(), "unsupported architecture 'gemma3n': quantscope runs llama, qwen2, qwen3, gemma, gemma2, gemma3");
    }
}

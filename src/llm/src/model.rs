//! The forward pass of llama, qwen2, qwen3, gemma, gemma2 and gemma3 (llama.cpp's
//! `src/models/llama.cpp`, `qwen2.cpp`, `qwen3.cpp`, `gemma.cpp`, `gemma2.cpp`, `gemma3.cpp`: the
//! same graph but for what [`LlamaConfig`] holds as data), against a KV cache; a prompt's tokens go
//! through each matrix together ([`Session::eval`], [`Matrix::matmul`]), the rest per token:
//!
//! ```text
//! x = token_embd[id]                                  (gemmas: · √n_embd)
//! per layer:  h = rms_norm(x) · attn_norm
//!             q, k, v = Wq h (+ bq), Wk h (+ bk), Wv h (+ bv)     (biases when the file has them: qwen2)
//!             qwen3, gemma3: each q and k head = rms_norm(head) · attn_q_norm / attn_k_norm
//!             RoPE on q and k at the token's position (adjacent pairs for llama, halves for qwen
//!             and gemma3; rope_freqs factors; the layer's base and linear scale)
//!             cache k, v;  per query head, attention over the cached positions of its
//!             K/V head (head / (n_head / n_head_kv), ggml's broadcast) — gemma2/3's sliding-window
//!             layers only the last n_swa — scores · 1/√head_dim (gemmas: q scaled before;
//!             gemma2: each score soft-capped, cap · tanh(s / cap))
//!             x += Wo attn                             (gemma2/3: rms_norm(Wo attn) · post_attention_norm)
//!             h = rms_norm(x) · ffn_norm;  x += W_down (silu(W_gate h) · W_up h)
//!                                                      (gemmas: gelu; gemma2/3: then rms_norm · post_ffw_norm)
//! logits = W_output (rms_norm(x) · output_norm)      (token_embd when output.weight is absent;
//!                                                      gemma2: soft-capped as the scores)
//! ```
//!
//! K and V are cached in F32 (llama.cpp's default cache is F16; the reference logits are made
//! with `-ctk f32 -ctv f32`).

use crate::activations::{ActivationObserver, LayerMatrix};
use crate::config::{FfnActivation, LlamaConfig};
use crate::error::{LlmError, Result};
use crate::metadata::Metadata;
use crate::ops;
use crate::tokenizer::Tokenizer;
use crate::weights::{Activations, Matrix, TensorSource};
use quantscope_formats::bytesource::ByteSource;
use quantscope_formats::{lazy, Format};
use std::rc::Rc;

/// The largest KV cache a session allocates (K and V of every layer, f32): a browser tab's
/// wasm memory is 4 GiB at most.
pub const MAX_KV_CACHE_BYTES: usize = 1 << 30;

/// Tokens [`Session::eval`] runs through the matrices together (each matrix tile read once for
/// them all): more reuse of the weights against more activations to hold (a block's FFN
/// activations are 2 · TOKEN_BLOCK · n_ff floats: 5.6 MB for n_ff 11008). 64 rather than 16
/// since session 24: a weight matrix is then read from memory once per 64 tokens — the tiny
/// model's F32 matrices (4.4 MB) do not fit this machine's 2 MB L2 — F32 prompts of 64 tokens
/// 1.12–1.16× faster, the quantized types' (whose tiny matrices stay in L2) 1.00–1.05×.
const TOKEN_BLOCK: usize = 64;

struct Layer {
    attn_norm: Vec<f32>,
    wq: Matrix,
    wk: Matrix,
    wv: Matrix,
    /// Q, K, V biases (optional tensors in llama.cpp's `create_tensor_qkv`; qwen2 has them).
    bq: Option<Vec<f32>>,
    bk: Option<Vec<f32>>,
    bv: Option<Vec<f32>>,
    /// qwen3's per-head RMSNorm weights of q and k (head_dim each).
    q_norm: Option<Vec<f32>>,
    k_norm: Option<Vec<f32>>,
    wo: Matrix,
    /// gemma2/3's RMSNorm of the attention's and the feed-forward's outputs before each residual add.
    attn_post_norm: Option<Vec<f32>>,
    ffn_post_norm: Option<Vec<f32>>,
    ffn_norm: Vec<f32>,
    gate: Matrix,
    up: Matrix,
    down: Matrix,
}

pub struct Model {
    pub config: LlamaConfig,
    pub tokenizer: Tokenizer,
    token_embd: Matrix,
    layers: Vec<Layer>,
    output_norm: Vec<f32>,
    /// None: the output head is `token_embd` (tied embeddings, as llama.cpp loads them).
    output: Option<Matrix>,
    /// RoPE frequency factors (`rope_freqs.weight`, n_rot / 2: Llama 3.1/3.2's "llama3" RoPE
    /// scaling, which convert_hf_to_gguf.py bakes into this tensor), shared by every layer.
    rope_freqs: Option<Vec<f32>>,
}

impl Model {
    /// Reads a llama, qwen2, qwen3, gemma, gemma2 or gemma3 GGUF file whole from memory.
    pub fn from_gguf(bytes: Vec<u8>) -> Result<Model> {
        Model::from_source("model.gguf", Rc::new(bytes))
    }

    /// Reads a llama, qwen2, qwen3, gemma, gemma2 or gemma3 GGUF file from any byte source (tensors
    /// read one at a time).
    pub fn from_source(name: &str, source: Rc<dyn ByteSource>) -> Result<Model> {
        // Only the GGUF reader: the language-model module links no other format's.
        let format = lazy::detect(name, source.as_ref())?;
        if format != Format::Gguf {
            // ASCII: the variant names are; `str::to_lowercase` would bring Unicode case tables into the page.
            return Err(LlmError::NotGguf(format!("{format:?}").to_ascii_lowercase()));
        }
        let file = lazy::open_gguf_file(name, source)?;
        let meta = Metadata::new(&file.gguf_kvs);
        // The architecture first: a model of another family is refused for that reason, not for
        // its tokenizer.
        let arch = meta.string("general.architecture")?.ok_or_else(|| LlmError::MissingKey("general.architecture".into()))?;
        if !crate::config::SUPPORTED_ARCHITECTURES.contains(&arch.as_str()) {
            return Err(LlmError::UnsupportedArchitecture(arch));
        }
        let tokenizer = Tokenizer::from_metadata(&meta)?;
        let c = LlamaConfig::from_metadata(&meta, tokenizer.n_vocab())?;
        let src = TensorSource { file: &file };
        // Tensors llama.cpp would use that this forward pass has no step for: refused, not ignored.
        for extra in [
            "blk.0.attn_qkv.weight",
            "blk.0.attn_output.bias",
            "blk.0.ffn_gate.bias",
            "blk.0.ffn_up.bias",
            "blk.0.ffn_down.bias",
            "output.bias",
            // Embedding Gemma's dense projections (gemma3.cpp loads them when present).
            "dense_2.weight",
            "dense_3.weight",
        ] {
            if src.has(extra) {
                return Err(LlmError::Unsupported(format!("tensor '{extra}'")));
            }
        }
        // llama.cpp's llama graph passes them to ggml_rope_ext (src/models/llama.cpp); qwen2 and
        // qwen3 load no such tensor, so llama.cpp refuses a file that has one.
        let rope_freqs = if src.has("rope_freqs.weight") {
            if c.architecture != "llama" {
                return Err(LlmError::Unsupported(format!("tensor 'rope_freqs.weight' in a {} model", c.architecture)));
            }
            Some(src.vector("rope_freqs.weight", c.n_rot / 2)?)
        } else {
            None
        };
        let (q_dim, kv_dim) = (c.n_head * c.head_dim, c.n_head_kv * c.head_dim);
        let token_embd = src.matrix("token_embd.weight", c.n_vocab, c.n_embd)?;
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let n = |t: &str| format!("blk.{i}.{t}.weight");
            let bias = |t: &str, len: usize| {
                let name = format!("blk.{i}.{t}.bias");
                if src.has(&name) {
                    src.vector(&name, len).map(Some)
                } else {
                    Ok(None)
                }
            };
            let head_norm = |t: &str| if c.qk_norm { src.vector(&n(t), c.head_dim).map(Some) } else { Ok(None) };
            let post_norm = |t: &str| if c.post_norms { src.vector(&n(t), c.n_embd).map(Some) } else { Ok(None) };
            let ff = c.n_ff[i];
            layers.push(Layer {
                attn_norm: src.vector(&n("attn_norm"), c.n_embd)?,
                wq: src.matrix(&n("attn_q"), q_dim, c.n_embd)?,
                wk: src.matrix(&n("attn_k"), kv_dim, c.n_embd)?,
                wv: src.matrix(&n("attn_v"), kv_dim, c.n_embd)?,
                bq: bias("attn_q", q_dim)?,
                bk: bias("attn_k", kv_dim)?,
                bv: bias("attn_v", kv_dim)?,
                q_norm: head_norm("attn_q_norm")?,
                k_norm: head_norm("attn_k_norm")?,
                wo: src.matrix(&n("attn_output"), c.n_embd, q_dim)?,
                attn_post_norm: post_norm("post_attention_norm")?,
                ffn_post_norm: post_norm("post_ffw_norm")?,
                ffn_norm: src.vector(&n("ffn_norm"), c.n_embd)?,
                gate: src.matrix(&n("ffn_gate"), ff, c.n_embd)?,
                up: src.matrix(&n("ffn_up"), ff, c.n_embd)?,
                down: src.matrix(&n("ffn_down"), c.n_embd, ff)?,
            });
        }
        let output_norm = src.vector("output_norm.weight", c.n_embd)?;
        // gemma.cpp and gemma2.cpp read the head from token_embd only: llama.cpp refuses a file
        // with an output.weight it would not use.
        if c.tied_head && src.has("output.weight") {
            return Err(LlmError::Unsupported(format!("tensor 'output.weight' in a {} model (its head is token_embd)", c.architecture)));
        }
        let output = if src.has("output.weight") { Some(src.matrix("output.weight", c.n_vocab, c.n_embd)?) } else { None };
        Ok(Model { config: c, tokenizer, token_embd, layers, output_norm, output, rope_freqs })
    }

    /// A fresh context of `n_ctx` positions. More than the training context is allowed (llama.cpp
    /// allows it too: RoPE simply continues); a KV cache over [`MAX_KV_CACHE_BYTES`] is refused.
    pub fn session(&self, n_ctx: usize) -> Result<Session<'_>> {
        let c = &self.config;
        let per_layer = n_ctx.checked_mul(c.n_head_kv * c.head_dim);
        let bytes = per_layer.and_then(|n| n.checked_mul(2 * c.n_layer * 4));
        if n_ctx == 0 || !matches!(bytes, Some(b) if b <= MAX_KV_CACHE_BYTES) {
            return Err(LlmError::ContextTooLarge { n_ctx, limit: MAX_KV_CACHE_BYTES });
        }
        let kv = per_layer.expect("checked");
        Ok(Session { model: self, n_ctx, n_past: 0, k: vec![vec![0.0; kv]; c.n_layer], v: vec![vec![0.0; kv]; c.n_layer] })
    }

    /// Layer `l`'s matrix `m`.
    pub fn layer_matrix(&self, l: usize, m: LayerMatrix) -> &Matrix {
        let layer = &self.layers[l];
        match m {
            LayerMatrix::AttnQ => &layer.wq,
            LayerMatrix::AttnK => &layer.wk,
            LayerMatrix::AttnV => &layer.wv,
            LayerMatrix::AttnOutput => &layer.wo,
            LayerMatrix::FfnGate => &layer.gate,
            LayerMatrix::FfnUp => &layer.up,
            LayerMatrix::FfnDown => &layer.down,
        }
    }

    /// Replaces layer `l`'s matrix `m` with F32 weights of the same shape (a quantized layer's
    /// values, while the layers after it are calibrated).
    pub(crate) fn set_layer_weights(&mut self, l: usize, m: LayerMatrix, w: Vec<f32>) {
        let old = self.layer_matrix(l, m);
        let (rows, cols) = (old.rows(), old.cols());
        assert_eq!(w.len(), rows * cols, "replacement of blk.{l}.{}", m.tensor());
        let layer = &mut self.layers[l];
        let slot = match m {
            LayerMatrix::AttnQ => &mut layer.wq,
            LayerMatrix::AttnK => &mut layer.wk,
            LayerMatrix::AttnV => &mut layer.wv,
            LayerMatrix::AttnOutput => &mut layer.wo,
            LayerMatrix::FfnGate => &mut layer.gate,
            LayerMatrix::FfnUp => &mut layer.up,
            LayerMatrix::FfnDown => &mut layer.down,
        };
        *slot = Matrix::F32 { rows, cols, w };
    }

    /// Holds every F16 layer matrix as F32 (the same values, exactly): GPTQ and AWQ start from F32
    /// weights, and an F16 model's are its values widened, as llama-quantize widens them.
    pub fn widen_f16_layer_matrices(&mut self) {
        for l in 0..self.config.n_layer {
            for m in LayerMatrix::ALL {
                if let Matrix::Dequantized { ty: "f16", w, .. } = self.layer_matrix(l, m) {
                    let w = w.clone();
                    self.set_layer_weights(l, m, w);
                }
            }
        }
    }

    /// Layer `l`'s RMSNorm weight before its attention or its feed-forward.
    pub fn layer_norm(&self, l: usize, norm: LayerNorm) -> &[f32] {
        match norm {
            LayerNorm::Attn => &self.layers[l].attn_norm,
            LayerNorm::Ffn => &self.layers[l].ffn_norm,
        }
    }

    /// Replaces layer `l`'s norm weight (AWQ divides it by the scales it folds into the matrices after it).
    pub(crate) fn set_layer_norm(&mut self, l: usize, norm: LayerNorm, w: Vec<f32>) {
        let slot = match norm {
            LayerNorm::Attn => &mut self.layers[l].attn_norm,
            LayerNorm::Ffn => &mut self.layers[l].ffn_norm,
        };
        assert_eq!(slot.len(), w.len(), "replacement of blk.{l}.{}", norm.tensor());
        *slot = w;
    }

    /// Layer `l`'s V bias, when the model has one (qwen2).
    pub fn v_bias(&self, l: usize) -> Option<&[f32]> {
        self.layers[l].bv.as_deref()
    }

    pub(crate) fn set_v_bias(&mut self, l: usize, b: Vec<f32>) {
        let slot = self.layers[l].bv.as_mut().expect("a model with V biases");
        assert_eq!(slot.len(), b.len(), "replacement of blk.{l}.attn_v.bias");
        *slot = b;
    }

    /// The first layer's input for one sequence: each token's embedding row, n_embd each.
    pub fn embed(&self, tokens: &[u32]) -> Result<Vec<f32>> {
        let c = &self.config;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(LlmError::TokenOutOfRange { token: bad, n_vocab: c.n_vocab });
        }
        let mut x = vec![0f32; tokens.len() * c.n_embd];
        for (&t, row) in tokens.iter().zip(x.chunks_exact_mut(c.n_embd)) {
            self.embed_row(t, row);
        }
        Ok(x)
    }

    /// Token `t`'s embedding row; the gemmas multiply it by sqrt(n_embd) (`ggml_scale`, in f32).
    fn embed_row(&self, t: u32, row: &mut [f32]) {
        self.token_embd.row(t as usize, row);
        if self.config.gemma {
            let s = (self.config.n_embd as f32).sqrt();
            row.iter_mut().for_each(|v| *v *= s);
        }
    }

    /// Layer `l` over one sequence of hidden states `x` (rows of n_embd at positions 0, 1, ...,
    /// each attending to those before it): the layer's output and every matrix's input. The same
    /// operations in the same order as [`Session`]'s token by token, so the same values.
    pub fn layer_pass(&self, l: usize, x: &[f32]) -> LayerPass {
        let c = &self.config;
        let layer = &self.layers[l];
        let mut attn_in = vec![0f32; x.len()];
        for (xr, hr) in x.chunks_exact(c.n_embd).zip(attn_in.chunks_exact_mut(c.n_embd)) {
            ops::rms_norm(xr, &layer.attn_norm, c.rms_eps, hr);
        }
        let (attn_out_in, mut proj) = self.attention_block(l, &attn_in, &[]);
        post_norm(c, &layer.attn_post_norm, &mut proj);
        let mut out: Vec<f32> = x.iter().zip(&proj).map(|(a, b)| a + b).collect();
        let mut ffn_in = vec![0f32; x.len()];
        for (xr, hr) in out.chunks_exact(c.n_embd).zip(ffn_in.chunks_exact_mut(c.n_embd)) {
            ops::rms_norm(xr, &layer.ffn_norm, c.rms_eps, hr);
        }
        let (down_in, mut proj) = self.ffn_block(l, &ffn_in, &[]);
        post_norm(c, &layer.ffn_post_norm, &mut proj);
        out.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
        LayerPass { attn_in, attn_out_in, ffn_in, down_in, out }
    }

    /// Layer `l`'s attention from its normalized inputs `h` (one sequence, rows of n_embd) to the
    /// output projection's result, with `replace` standing in for some of its matrices (AWQ's
    /// candidates: llm-awq's `module2inspect=self_attn`). Returns the output projection's input
    /// rows and its output rows.
    pub fn attention_block(&self, l: usize, h: &[f32], replace: &[(LayerMatrix, &[f32])]) -> (Vec<f32>, Vec<f32>) {
        let c = &self.config;
        let layer = &self.layers[l];
        let (hd, n_kv) = (c.head_dim, c.n_head_kv);
        let kv_dim = n_kv * hd;
        let n = h.len() / c.n_embd;
        let (mut k_cache, mut v_cache) = (vec![0f32; n * kv_dim], vec![0f32; n * kv_dim]);
        let mut q = vec![0f32; c.n_head * hd];
        let mut attn_rows = vec![0f32; n * c.n_head * hd];
        let mut out = vec![0f32; n * c.n_embd];
        let mut scores = vec![0f32; n];
        let mut head_in = vec![0f32; hd];
        let project = |m: LayerMatrix, x: &[f32], y: &mut [f32]| project(self.layer_matrix(l, m), replaced(replace, m), x, y);
        for (pos, hr) in h.chunks_exact(c.n_embd).enumerate() {
            let (k_new, v_new) = (&mut k_cache[pos * kv_dim..(pos + 1) * kv_dim], &mut v_cache[pos * kv_dim..(pos + 1) * kv_dim]);
            query_key_value(c, self.rope_freqs.as_deref(), l, layer, pos, hr, project, &mut q, k_new, v_new, &mut head_in);
            let attn = &mut attn_rows[pos * c.n_head * hd..(pos + 1) * c.n_head * hd];
            let from = c.window_start(l, pos);
            attend(c, &q, &k_cache[from * kv_dim..], &v_cache[from * kv_dim..], &mut scores[from..pos + 1], attn);
            project(LayerMatrix::AttnOutput, attn, &mut out[pos * c.n_embd..(pos + 1) * c.n_embd]);
        }
        (attn_rows, out)
    }

    /// Layer `l`'s feed-forward from its normalized inputs `h` (rows of n_embd), with `replace`
    /// standing in for some of its matrices (llm-awq's `module2inspect=mlp`). Returns the down
    /// projection's input rows (silu(gate) · up) and its output rows.
    pub fn ffn_block(&self, l: usize, h: &[f32], replace: &[(LayerMatrix, &[f32])]) -> (Vec<f32>, Vec<f32>) {
        let c = &self.config;
        let ff = self.layers[l].gate.rows();
        let n = h.len() / c.n_embd;
        let (mut act, mut out) = (vec![0f32; n * ff], vec![0f32; n * c.n_embd]);
        let mut up = vec![0f32; ff];
        let project = |m: LayerMatrix, x: &[f32], y: &mut [f32]| project(self.layer_matrix(l, m), replaced(replace, m), x, y);
        for ((hr, gate), o) in h.chunks_exact(c.n_embd).zip(act.chunks_exact_mut(ff)).zip(out.chunks_exact_mut(c.n_embd)) {
            project(LayerMatrix::FfnGate, hr, gate);
            project(LayerMatrix::FfnUp, hr, &mut up);
            activate(c, gate, &up);
            project(LayerMatrix::FfnDown, gate, o);
        }
        (act, out)
    }

    /// The logits of the last layer's output rows `x` (the final norm and the output head).
    pub fn logits_of(&self, x: &[f32]) -> Vec<f32> {
        let c = &self.config;
        let mut h = vec![0f32; c.n_embd];
        let mut logits = vec![0f32; x.len() / c.n_embd * c.n_vocab];
        for (xr, out) in x.chunks_exact(c.n_embd).zip(logits.chunks_exact_mut(c.n_vocab)) {
            ops::rms_norm(xr, &self.output_norm, c.rms_eps, &mut h);
            self.output.as_ref().unwrap_or(&self.token_embd).matvec(&h, out);
            soft_cap(out, c.final_softcap);
        }
        logits
    }

    /// Bytes the weights take in memory (matrices as [`Matrix::memory_bytes`], vectors as f32): what
    /// [`crate::weights::loaded_model_bytes`] predicts from the file's header.
    pub fn memory_bytes(&self) -> u64 {
        let v = |x: &Vec<f32>| 4 * x.len() as u64;
        let o = |x: &Option<Vec<f32>>| x.as_ref().map_or(0, v);
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| {
                [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down].iter().map(|m| m.memory_bytes()).sum::<u64>()
                    + v(&l.attn_norm)
                    + v(&l.ffn_norm)
                    + o(&l.bq)
                    + o(&l.bk)
                    + o(&l.bv)
                    + o(&l.q_norm)
                    + o(&l.k_norm)
                    + o(&l.attn_post_norm)
                    + o(&l.ffn_post_norm)
            })
            .sum();
        self.token_embd.memory_bytes()
            + layers
            + v(&self.output_norm)
            + o(&self.rope_freqs)
            + self.output.as_ref().map_or(0, |m| m.memory_bytes())
    }

    /// Names and ggml types of the matrices, in forward order (for a report).
    pub fn matrix_types(&self) -> Vec<(String, &'static str)> {
        let mut out = vec![("token_embd.weight".to_string(), self.token_embd.type_name())];
        for (i, l) in self.layers.iter().enumerate() {
            for (name, m) in [
                ("attn_q", &l.wq),
                ("attn_k", &l.wk),
                ("attn_v", &l.wv),
                ("attn_output", &l.wo),
                ("ffn_gate", &l.gate),
                ("ffn_up", &l.up),
                ("ffn_down", &l.down),
            ] {
                out.push((format!("blk.{i}.{name}.weight"), m.type_name()));
            }
        }
        if let Some(o) = &self.output {
            out.push(("output.weight".into(), o.type_name()));
        }
        out
    }
}

/// A layer's RMSNorm weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerNorm {
    /// Before the attention (`blk.N.attn_norm`, llama's `input_layernorm`).
    Attn,
    /// Before the feed-forward (`blk.N.ffn_norm`, `post_attention_layernorm`).
    Ffn,
}

impl LayerNorm {
    pub fn tensor(self) -> &'static str {
        match self {
            LayerNorm::Attn => "attn_norm",
            LayerNorm::Ffn => "ffn_norm",
        }
    }
}

/// One layer's pass over a sequence ([`Model::layer_pass`]): each matrix's input rows and the output rows.
pub struct LayerPass {
    /// rms_norm(x) · attn_norm: the input of Q, K and V.
    pub attn_in: Vec<f32>,
    /// The attention heads' output: the input of the output projection.
    pub attn_out_in: Vec<f32>,
    /// rms_norm(x + attention) · ffn_norm: the input of gate and up.
    pub ffn_in: Vec<f32>,
    /// silu(gate) · up: the input of down.
    pub down_in: Vec<f32>,
    /// The layer's output: the next layer's input.
    pub out: Vec<f32>,
}

fn replaced<'a>(replace: &[(LayerMatrix, &'a [f32])], m: LayerMatrix) -> Option<&'a [f32]> {
    replace.iter().find(|(r, _)| *r == m).map(|(_, w)| *w)
}

/// y = W x with the matrix's own weights, or with F32 weights of its shape standing in for them
/// (multiplied as an F32 matrix is).
fn project(m: &Matrix, replacement: Option<&[f32]>, x: &[f32], y: &mut [f32]) {
    match replacement {
        Some(w) => {
            let cols = m.cols();
            for (r, out) in y.iter_mut().enumerate() {
                *out = ops::dot(&w[r * cols..(r + 1) * cols], x);
            }
        }
        None => m.matvec(x, y),
    }
}

/// gemma2's soft-capping of scores or logits: `ggml_scale` by 1/cap, `ggml_tanh`, `ggml_scale` by cap.
fn soft_cap(v: &mut [f32], cap: Option<f32>) {
    if let Some(cap) = cap {
        let inv = 1.0 / cap;
        v.iter_mut().for_each(|x| *x = (*x * inv).tanh() * cap);
    }
}

/// gemma2/3's RMSNorm of a block's output rows before the residual add, when the layer has one.
fn post_norm(c: &LlamaConfig, norm: &Option<Vec<f32>>, rows: &mut [f32]) {
    if let Some(w) = norm {
        let mut h = vec![0f32; c.n_embd];
        for row in rows.chunks_exact_mut(c.n_embd) {
            ops::rms_norm(row, w, c.rms_eps, &mut h);
            row.copy_from_slice(&h);
        }
    }
}

/// The feed-forward's gated activation, in place in `gate`.
fn activate(c: &LlamaConfig, gate: &mut [f32], up: &[f32]) {
    match c.ffn_activation {
        FfnActivation::Silu => ops::swiglu(gate, up),
        FfnActivation::GeluTanh => ops::geglu(gate, up),
    }
}

/// `ggml_add` of a bias after a projection, when the model has one.
fn add_bias(y: &mut [f32], bias: &Option<Vec<f32>>) {
    if let Some(b) = bias {
        y.iter_mut().zip(b).for_each(|(a, b)| *a += b);
    }
}

/// Position `pos`'s query and its new key and value rows from the normalized input `h`
/// (`llm_build_llama`'s Qcur/Kcur/Vcur): the projections by `project` (a layer matrix times a
/// row), their biases, the per-head Q/K norms (qwen3, gemma3), RoPE with layer `l`'s base and
/// scale, and the gemmas' scaling of q (`ggml_scale(Qcur, f_attention_scale)`, after which the
/// scores are not scaled again). `head_in` is scratch of one head.
#[allow(clippy::too_many_arguments)]
fn query_key_value(
    c: &LlamaConfig,
    rope_freqs: Option<&[f32]>,
    l: usize,
    layer: &Layer,
    pos: usize,
    h: &[f32],
    project: impl Fn(LayerMatrix, &[f32], &mut [f32]),
    q: &mut [f32],
    k_new: &mut [f32],
    v_new: &mut [f32],
    head_in: &mut [f32],
) {
    project(LayerMatrix::AttnQ, h, q);
    project(LayerMatrix::AttnV, h, v_new);
    project(LayerMatrix::AttnK, h, k_new);
    let mut rope = vec![(0f32, 0f32); c.n_rot / 2];
    ops::rope_cache(pos, c.n_rot, c.layer_rope(l), rope_freqs, &mut rope);
    finish_query_key_value(c, &rope, layer, q, k_new, v_new, head_in);
}

/// [`query_key_value`] past the projections: biases, the per-head norms, RoPE and the gemmas'
/// scaling of q, on a position's projected q, k and v, `rope` the position's angles
/// ([`ops::rope_cache`] with the layer's base and scale: once for every head, as ggml's rope cache).
fn finish_query_key_value(
    c: &LlamaConfig,
    rope: &[(f32, f32)],
    layer: &Layer,
    q: &mut [f32],
    k_new: &mut [f32],
    v_new: &mut [f32],
    head_in: &mut [f32],
) {
    add_bias(v_new, &layer.bv);
    add_bias(q, &layer.bq);
    add_bias(k_new, &layer.bk);
    for (heads, norm) in [(&mut *q, &layer.q_norm), (k_new, &layer.k_norm)] {
        for head in heads.chunks_mut(c.head_dim) {
            if let Some(w) = norm {
                head_in.copy_from_slice(head);
                ops::rms_norm(head_in, w, c.rms_eps, head);
            }
            ops::rope_apply(head, rope, c.rope_mode);
        }
    }
    if c.gemma {
        q.iter_mut().for_each(|v| *v *= c.attn_scale);
    }
}

/// Grouped-query attention of one position's query `q` over the cached keys and values of the
/// positions it sees (`scores.len()` of them, from the start of `k_cache` and `v_cache`): per head
/// softmax(q·k · attn_scale) times v, into `attn` (n_head × head_dim). The gemmas' q is scaled
/// already (the scores are then multiplied by 1, exactly); gemma2 soft-caps the scores.
fn attend(c: &LlamaConfig, q: &[f32], k_cache: &[f32], v_cache: &[f32], scores: &mut [f32], attn: &mut [f32]) {
    let hd = c.head_dim;
    let kv_dim = c.n_head_kv * hd;
    let group = c.n_head / c.n_head_kv;
    let scale = if c.gemma { 1.0 } else { c.attn_scale };
    for hq in 0..c.n_head {
        let g = hq / group;
        let qh = &q[hq * hd..(hq + 1) * hd];
        crate::kernels::attn_scores(&k_cache[g * hd..], kv_dim, qh, scale, scores);
        soft_cap(scores, c.attn_softcap);
        ops::softmax(scores);
        crate::kernels::attn_values(scores, &v_cache[g * hd..], kv_dim, &mut attn[hq * hd..(hq + 1) * hd]);
    }
}

/// A sequence being evaluated: the KV cache and the number of positions filled.
pub struct Session<'m> {
    model: &'m Model,
    n_ctx: usize,
    n_past: usize,
    /// Per layer: [position][kv head][head_dim].
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Session<'_> {
    pub fn n_past(&self) -> usize {
        self.n_past
    }

    /// Forgets every cached position.
    pub fn reset(&mut self) {
        self.n_past = 0;
    }

    /// Evaluates `tokens` at the next positions; returns their logits, n_vocab per token.
    /// Nothing is cached when a token is out of range or the context would overflow.
    pub fn eval(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.eval_with(tokens, None, None, false)
    }

    /// [`Session::eval`] returning only the last token's logits (n_vocab; the same bits as
    /// `eval`'s last row), the output head multiplied for that token alone: a prompt before
    /// generation, as llama.cpp decodes a prompt batch with only its last output.
    pub fn eval_last(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        self.eval_with(tokens, None, None, true)
    }

    /// [`Session::eval`], showing every layer matrix's input to `observer`.
    pub(crate) fn eval_observed(&mut self, tokens: &[u32], observer: &mut dyn ActivationObserver) -> Result<Vec<f32>> {
        self.eval_with(tokens, Some(observer), None, false)
    }

    /// Runs `tokens` only as far as layer `layer`'s matrix `m` (its input is the last thing
    /// `observer` sees; no logits): a calibration pass for that matrix. The session is spent after it.
    pub(crate) fn observe_until(
        &mut self,
        tokens: &[u32],
        observer: &mut dyn ActivationObserver,
        layer: usize,
        m: LayerMatrix,
    ) -> Result<()> {
        self.eval_with(tokens, Some(observer), Some((layer, m)), false).map(|_| ())
    }

    fn eval_with(
        &mut self,
        tokens: &[u32],
        mut sums: Option<&mut dyn ActivationObserver>,
        stop: Option<(usize, LayerMatrix)>,
        last_only: bool,
    ) -> Result<Vec<f32>> {
        let n_vocab = self.model.config.n_vocab;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(LlmError::TokenOutOfRange { token: bad, n_vocab });
        }
        if self.n_past + tokens.len() > self.n_ctx {
            return Err(LlmError::ContextFull { n_ctx: self.n_ctx, needed: self.n_past + tokens.len() });
        }
        if last_only {
            let mut logits = vec![0f32; n_vocab];
            let blocks = tokens.chunks(TOKEN_BLOCK).count();
            for (i, block) in tokens.chunks(TOKEN_BLOCK).enumerate() {
                let (out, from) = if i + 1 == blocks { (&mut logits[..], block.len() - 1) } else { (&mut [][..], block.len()) };
                self.steps(block, out, from, None, stop);
            }
            return Ok(logits);
        }
        let mut logits = vec![0f32; tokens.len() * n_vocab];
        for (block, out) in tokens.chunks(TOKEN_BLOCK).zip(logits.chunks_mut(TOKEN_BLOCK * n_vocab)) {
            self.steps(block, out, 0, sums.as_mut().map(|s| &mut **s as &mut dyn ActivationObserver), stop);
        }
        Ok(logits)
    }

    /// Tokens at positions n_past.., each with the same operations as alone, bit for bit: every
    /// matrix multiplies the whole block ([`Matrix::matmul`]: a tile of its rows read once for all
    /// the tokens), the rest — norms, RoPE, attention over the cache — per token. A token's keys
    /// and values are cached before it attends, and it attends only to positions up to its own,
    /// so the later tokens of the block change nothing. With `sums`, the matrices' inputs are
    /// recorded too (each matrix's in token order, as token by token); with `stop`, the tokens go
    /// no further than that matrix's input (no logits). `logits` gets the logits of tokens
    /// `from..` only (the output head multiplies only those).
    fn steps(
        &mut self,
        tokens: &[u32],
        logits: &mut [f32],
        from: usize,
        mut sums: Option<&mut dyn ActivationObserver>,
        stop: Option<(usize, LayerMatrix)>,
    ) {
        let mut record = |l: usize, m: LayerMatrix, rows: &[f32], width: usize| {
            if let Some(s) = sums.as_deref_mut() {
                for x in rows.chunks(width) {
                    s.observe(l, m, x);
                }
            }
        };
        let m = self.model;
        let c = &m.config;
        let (n, e, hd, p0) = (tokens.len(), c.n_embd, c.head_dim, self.n_past);
        let (kv_dim, q_dim) = (c.n_head_kv * hd, c.n_head * hd);
        let mut x = vec![0f32; n * e];
        for (&t, row) in tokens.iter().zip(x.chunks_mut(e)) {
            m.embed_row(t, row);
        }
        let norm_rows = |x: &[f32], w: &[f32], h: &mut [f32]| crate::kernels::rms_norm_rows(x, w, c.rms_eps, h);
        let add_rows = |x: &mut [f32], proj: &[f32]| x.iter_mut().zip(proj).for_each(|(a, b)| *a += b);
        let mut h = vec![0f32; n * e];
        let mut q = vec![0f32; n * q_dim];
        let mut attn = vec![0f32; n * q_dim];
        let mut proj = vec![0f32; n * e];
        let mut scores = vec![0f32; p0 + n];
        let mut head_in = vec![0f32; hd];
        // The block's positions' RoPE angles, made again only where a layer's base and scale
        // differ from the layer before's (the same operations: the same bits).
        let half_rot = c.n_rot / 2;
        let mut ropes = vec![(0f32, 0f32); n * half_rot];
        let mut ropes_of = None;
        for (l, layer) in m.layers.iter().enumerate() {
            // Past the matrix a calibration pass stops at (its input is recorded just before).
            let stops_at = |ms: &[LayerMatrix]| stop.is_some_and(|(sl, sm)| sl == l && ms.contains(&sm));
            norm_rows(&x, &layer.attn_norm, &mut h);
            for m in [LayerMatrix::AttnQ, LayerMatrix::AttnK, LayerMatrix::AttnV] {
                record(l, m, &h, e);
            }
            if stops_at(&[LayerMatrix::AttnQ, LayerMatrix::AttnK, LayerMatrix::AttnV]) {
                break;
            }
            let (k_cache, v_cache) = (&mut self.k[l], &mut self.v[l]);
            let hq = Activations::new(&h);
            layer.wq.matmul_shared(&hq, &mut q);
            layer.wv.matmul_shared(&hq, &mut v_cache[p0 * kv_dim..(p0 + n) * kv_dim]);
            layer.wk.matmul_shared(&hq, &mut k_cache[p0 * kv_dim..(p0 + n) * kv_dim]);
            if ropes_of != Some(c.layer_rope(l)) {
                ropes_of = Some(c.layer_rope(l));
                for (t, rope) in ropes.chunks_mut(half_rot.max(1)).enumerate().take(n) {
                    ops::rope_cache(p0 + t, c.n_rot, c.layer_rope(l), m.rope_freqs.as_deref(), &mut rope[..half_rot]);
                }
            }
            for (t, (qt, at)) in q.chunks_mut(q_dim).zip(attn.chunks_mut(q_dim)).enumerate() {
                let pos = p0 + t;
                let k_new = &mut k_cache[pos * kv_dim..(pos + 1) * kv_dim];
                let v_new = &mut v_cache[pos * kv_dim..(pos + 1) * kv_dim];
                finish_query_key_value(c, &ropes[t * half_rot..(t + 1) * half_rot], layer, qt, k_new, v_new, &mut head_in);
                let from = c.window_start(l, pos);
                attend(c, qt, &k_cache[from * kv_dim..], &v_cache[from * kv_dim..], &mut scores[from..pos + 1], at);
            }
            record(l, LayerMatrix::AttnOutput, &attn, q_dim);
            if stops_at(&[LayerMatrix::AttnOutput]) {
                break;
            }
            layer.wo.matmul(&attn, &mut proj);
            post_norm(c, &layer.attn_post_norm, &mut proj);
            add_rows(&mut x, &proj);

            norm_rows(&x, &layer.ffn_norm, &mut h);
            let ff = layer.gate.rows();
            let mut gate = vec![0f32; n * ff];
            let mut up = vec![0f32; n * ff];
            record(l, LayerMatrix::FfnGate, &h, e);
            record(l, LayerMatrix::FfnUp, &h, e);
            if stops_at(&[LayerMatrix::FfnGate, LayerMatrix::FfnUp]) {
                break;
            }
            let hq = Activations::new(&h);
            layer.gate.matmul_shared(&hq, &mut gate);
            layer.up.matmul_shared(&hq, &mut up);
            for (g, u) in gate.chunks_mut(ff).zip(up.chunks(ff)) {
                activate(c, g, u);
            }
            record(l, LayerMatrix::FfnDown, &gate, ff);
            if stops_at(&[LayerMatrix::FfnDown]) {
                break;
            }
            layer.down.matmul(&gate, &mut proj);
            post_norm(c, &layer.ffn_post_norm, &mut proj);
            add_rows(&mut x, &proj);
        }
        if stop.is_none() && from < n {
            let (x, h) = (&x[from * e..], &mut h[from * e..]);
            norm_rows(x, &m.output_norm, h);
            m.output.as_ref().unwrap_or(&m.token_embd).matmul(h, logits);
            soft_cap(logits, c.final_softcap);
        }
        self.n_past += n;
    }
}

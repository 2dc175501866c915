//! Which matrices a model is most sensitive to: one kind of matrix (attn_v, ffn_down ...) in
//! every layer, or in one layer, quantized to a low type while everything else stays Q8_0
//! (`llama-quantize --pure --tensor-type PATTERN=TYPE MODEL OUT Q8_0`: llama-quantize applies
//! --tensor-type only to a quantized file type, and Q8_0 is nearly lossless), each probe scored by
//! perplexity and by KL divergence from the F32 model on the same chunks. It shows why
//! llama.cpp's mixes keep attn_v and ffn_down at more bits.
//!
//! One chunk per call: a probe's file is made at its first chunk, the F32 model's log-probabilities
//! of a chunk are computed once and kept for every probe.

use quantscope_formats::gguf_mix::{FileType, MixImatrix, MixOptions};
use quantscope_formats::{gguf_writer, lazy};
use quantscope_llm::kl_divergence::{base_chunk, BaseLogProbs};
use quantscope_llm::{KlDivergence, Model, PerplexityRun};
use serde::Serialize;
use std::rc::Rc;

/// The matrix kinds of a llama layer, as llama.cpp names its tensors.
pub const KINDS: [&str; 7] = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

/// The base's kept log-probabilities may take at most this much memory (a large vocabulary
/// times many positions): beyond it the run is refused rather than the tab run out of memory.
const MAX_BASE_BYTES: usize = 256 << 20;

/// One probe's result.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// "none" (all Q8_0), a kind ("ffn_down"), or a layer's ("blk.0.ffn_down").
    pub label: String,
    pub layer: Option<usize>,
    pub kind: Option<String>,
    pub file_bytes: usize,
    pub ppl: f64,
    pub mean_kld: f64,
    pub same_top_percent: f64,
}

/// Where a run stands.
#[derive(Serialize, Debug)]
pub struct SensitivityStep {
    pub probe: usize,
    pub n_probe: usize,
    pub chunks_done: usize,
    pub n_chunk: usize,
    pub done: bool,
    /// Every probe finished so far, in order.
    pub results: Vec<ProbeResult>,
}

struct Probe {
    label: String,
    layer: Option<usize>,
    kind: Option<String>,
    pattern: Option<String>,
}

struct Current {
    model: Model,
    file_bytes: usize,
    run: PerplexityRun,
    kl: KlDivergence,
}

pub struct SensitivityRun {
    probes: Vec<Probe>,
    low_type: u32,
    tokens: Vec<u32>,
    n_ctx: usize,
    max_chunks: Option<usize>,
    /// The F32 model's log-probabilities per chunk, filled as the first probe goes.
    bases: Vec<Vec<BaseLogProbs>>,
    base_run: PerplexityRun,
    current: Option<Current>,
    results: Vec<ProbeResult>,
}

impl SensitivityRun {
    /// Probes "none", every kind, and (with `per_layer`) every kind of every layer, each with
    /// that kind in `low_type` (a ggml type name, e.g. "q2_k").
    pub fn new(
        base: &Model,
        text: &str,
        n_ctx: usize,
        max_chunks: Option<usize>,
        low_type: &str,
        per_layer: bool,
    ) -> Result<SensitivityRun, String> {
        let ty = quantscope_core::ggml_types::by_name(&low_type.to_ascii_lowercase())
            .filter(|t| t.block > 1)
            .ok_or_else(|| format!("'{low_type}' is not a quantized ggml type"))?;
        let tokens = base.tokenizer.encode_special(text);
        let base_run = PerplexityRun::new(base, &tokens, n_ctx, max_chunks).map_err(|e| e.to_string())?;
        let positions = base_run.n_chunk() * (n_ctx - n_ctx / 2 - 1);
        if positions.saturating_mul(base.config.n_vocab * 2) > MAX_BASE_BYTES {
            return Err(format!(
                "{positions} positions × {} tokens of log-probabilities is more than {} MiB: use fewer chunks",
                base.config.n_vocab,
                MAX_BASE_BYTES >> 20
            ));
        }
        let mut probes = vec![Probe { label: "none".into(), layer: None, kind: None, pattern: None }];
        for kind in KINDS {
            probes.push(Probe { label: kind.into(), layer: None, kind: Some(kind.into()), pattern: Some(kind.into()) });
        }
        if per_layer {
            for layer in 0..base.config.n_layer {
                for kind in KINDS {
                    probes.push(Probe {
                        label: format!("blk.{layer}.{kind}"),
                        layer: Some(layer),
                        kind: Some(kind.into()),
                        pattern: Some(format!("blk\\.{layer}\\.{kind}")),
                    });
                }
            }
        }
        Ok(SensitivityRun {
            probes,
            low_type: ty.id,
            tokens,
            n_ctx,
            max_chunks,
            bases: Vec::new(),
            base_run,
            current: None,
            results: Vec::new(),
        })
    }

    pub fn n_probe(&self) -> usize {
        self.probes.len()
    }

    /// The next chunk of the current probe (making its file first). `f32_file` is the model the
    /// probes are made from, `base` the same model loaded; `imatrix` quantizes with one.
    pub fn step(&mut self, f32_file: &lazy::LazyFile, base: &Model, imatrix: Option<&MixImatrix>) -> Result<SensitivityStep, String> {
        let index = self.results.len();
        if index == self.probes.len() {
            return Ok(self.progress(0, 0));
        }
        if self.current.is_none() {
            let probe = &self.probes[index];
            let options = MixOptions {
                pure: true,
                tensor_types: probe.pattern.iter().map(|p| (p.clone(), self.low_type)).collect(),
                imatrix: imatrix.cloned(),
                ..Default::default()
            };
            let mut out = Vec::new();
            gguf_writer::write_mix(f32_file, FileType::from_name("Q8_0").map_err(|e| e.to_string())?, &options, &mut out, |_, _| {})
                .map_err(|e| format!("the probe {}: {e}", probe.label))?;
            let file_bytes = out.len();
            let model = Model::from_source(&probe.label, Rc::new(out)).map_err(|e| format!("the probe {}: {e}", probe.label))?;
            let run = PerplexityRun::new(&model, &self.tokens, self.n_ctx, self.max_chunks).map_err(|e| e.to_string())?;
            self.current = Some(Current { model, file_bytes, run, kl: KlDivergence::default() });
        }
        let c = self.current.as_mut().expect("made above");
        let chunk = c.run.chunks_done();
        if self.bases.len() == chunk {
            let (logits, _) = self.base_run.next_chunk_scored(base).map_err(|e| e.to_string())?.ok_or("the base ran out of chunks")?;
            self.bases.push(base_chunk(&logits, base.config.n_vocab));
        }
        let (logits, next) = c.run.next_chunk_scored(&c.model).map_err(|e| e.to_string())?.ok_or("the probe ran out of chunks")?;
        c.kl.add_chunk(&logits, &self.bases[chunk], &next);
        let (chunks_done, n_chunk) = (c.run.chunks_done(), c.run.n_chunk());
        if chunks_done == n_chunk {
            let c = self.current.take().expect("present");
            let kl = c.kl.summary().expect("at least one chunk");
            let probe = &self.probes[index];
            self.results.push(ProbeResult {
                label: probe.label.clone(),
                layer: probe.layer,
                kind: probe.kind.clone(),
                file_bytes: c.file_bytes,
                ppl: c.run.result().ppl,
                mean_kld: kl.mean_kld,
                same_top_percent: kl.same_top_percent,
            });
        }
        Ok(self.progress(chunks_done, n_chunk))
    }

    fn progress(&self, chunks_done: usize, n_chunk: usize) -> SensitivityStep {
        SensitivityStep {
            probe: self.results.len().min(self.probes.len().saturating_sub(1)),
            n_probe: self.probes.len(),
            chunks_done,
            n_chunk,
            done: self.results.len() == self.probes.len(),
            results: self.results.clone(),
        }
    }
}

//! AWQ of a whole model, layer by layer, as llm-awq's `run_awq` (`awq/quantize/pre_quant.py`)
//! runs it on llama: each layer's input on the calibration chunks is run through the layer as it
//! is (full precision), which records every matrix's input and gives the next layer's input (so
//! every layer is calibrated on the unquantized model's hidden states, as the reference's are);
//! then `auto_scale_block`'s four searches (quantscope-ptq's [`ScaleSearch`]), each judged by the
//! model's own forward code:
//!
//! ```text
//! attn_norm → attn_q, attn_k, attn_v   block: the attention, causal over each chunk, to attn_output's result
//! attn_v → attn_output                 block: attn_output alone; only when their shapes match
//!                                      (not with grouped-query attention: the reference skips it too)
//! ffn_norm → ffn_gate, ffn_up          block: the feed-forward to ffn_down's result
//! ffn_up → ffn_down                    block: ffn_down alone
//! ```
//!
//! then `apply_scale` (the op before divided — the norm's weight, or attn_v's / ffn_up's rows and
//! attn_v's bias — and the matrices' columns multiplied; the recorded inputs divided too) and
//! `auto_clip_block` on every matrix but Q and K (quantscope-ptq's [`search_clip`]).
//!
//! The result is an F32 GGUF of the scaled (and clipped) model: before rounding, scaling is exact
//! algebra — the file computes the model's function up to float rounding (clipping aside), and any
//! llama-quantize mix then quantizes it (llama.cpp's own AWQ route: llm-awq's scales applied, then
//! ordinary quantization). The searches round with [`AwqConfig`]'s grid: llm-awq's own (4-bit
//! with a zero point, groups of 128) or Q4_0's.
//!
//! A run advances one chunk, one exponent of a search or one matrix's clip per call, so the page's
//! worker reports progress and honours Cancel between two.

use crate::activations::LayerMatrix;
use crate::error::{LlmError, Result};
use crate::model::{LayerNorm, Model};
use crate::perplexity::{chunk_with_bos, count_chunks};
use crate::weights::Matrix;
use quantscope_formats::gguf_writer::{self, Export, OutType};
use quantscope_formats::lazy::LazyFile;
use quantscope_ptq::awq::{apply_clip, divide_columns, divide_rows, scale_columns, Block};
use quantscope_ptq::{search_clip, AwqConfig, Linear, PtqError, ScaleResult, ScaleSearch};
use serde::Serialize;

/// llama's scaled groups (`auto_scale_block`, the `LlamaDecoderLayer` branch), in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScaleGroup {
    /// attn_norm → Q, K, V, inspected through the attention.
    AttnInput,
    /// V → the output projection (multi-head attention only).
    AttnOutput,
    /// ffn_norm → gate, up, inspected through the feed-forward.
    FfnInput,
    /// up → down.
    FfnDown,
}

impl ScaleGroup {
    /// The matrices whose columns the scales multiply.
    pub fn matrices(self) -> &'static [LayerMatrix] {
        match self {
            ScaleGroup::AttnInput => &[LayerMatrix::AttnQ, LayerMatrix::AttnK, LayerMatrix::AttnV],
            ScaleGroup::AttnOutput => &[LayerMatrix::AttnOutput],
            ScaleGroup::FfnInput => &[LayerMatrix::FfnGate, LayerMatrix::FfnUp],
            ScaleGroup::FfnDown => &[LayerMatrix::FfnDown],
        }
    }

    /// The op before, which takes 1/s: a norm's weight or a matrix's rows.
    pub fn previous(self) -> &'static str {
        match self {
            ScaleGroup::AttnInput => "attn_norm",
            ScaleGroup::AttnOutput => "attn_v",
            ScaleGroup::FfnInput => "ffn_norm",
            ScaleGroup::FfnDown => "ffn_up",
        }
    }

    pub fn label(self) -> String {
        let names: Vec<&str> = self.matrices().iter().map(|m| m.tensor()).collect();
        format!("{} → {}", self.previous(), names.join(", "))
    }
}

/// The matrices clipped (`auto_clip_block` skips q and k: "due to qk bmm, it is hard to clip precisely").
pub const CLIPPED: [LayerMatrix; 5] =
    [LayerMatrix::AttnV, LayerMatrix::AttnOutput, LayerMatrix::FfnGate, LayerMatrix::FfnUp, LayerMatrix::FfnDown];

/// One scale search's figures, for the page's table and its error-versus-exponent curve.
#[derive(Serialize, Clone, Debug)]
pub struct ScaleReport {
    pub layer: usize,
    pub group: ScaleGroup,
    pub label: String,
    /// The chosen exponent α = best / n_grid.
    pub best: usize,
    pub ratio: f64,
    /// The block's mean squared output difference at every exponent.
    pub losses: Vec<f64>,
    /// The chosen scales' smallest and largest.
    pub scale_min: f32,
    pub scale_max: f32,
}

/// One matrix's clip.
#[derive(Serialize, Clone, Debug)]
pub struct ClipReport {
    pub name: String,
    /// Groups of columns (over all rows), and how many of them were clamped below their max |w|.
    pub groups: usize,
    pub clipped: usize,
    /// Σ over groups of the output error on the sampled rows, rounded without and with the clamps.
    pub error_unclipped: f64,
    pub error_clipped: f64,
}

/// Where a run stands.
#[derive(Serialize, Debug)]
pub struct AwqProgress {
    pub done: usize,
    pub total: usize,
    pub finished: bool,
}

/// Each layer matrix's recorded input over all chunks (rows of its column count).
#[derive(Default)]
struct Inputs {
    attn: Vec<f32>,
    attn_out: Vec<f32>,
    ffn: Vec<f32>,
    down: Vec<f32>,
}

impl Inputs {
    fn get(&self, m: LayerMatrix) -> &[f32] {
        match m {
            LayerMatrix::AttnQ | LayerMatrix::AttnK | LayerMatrix::AttnV => &self.attn,
            LayerMatrix::AttnOutput => &self.attn_out,
            LayerMatrix::FfnGate | LayerMatrix::FfnUp => &self.ffn,
            LayerMatrix::FfnDown => &self.down,
        }
    }

    fn of(&mut self, m: LayerMatrix) -> &mut Vec<f32> {
        match m {
            LayerMatrix::AttnQ | LayerMatrix::AttnK | LayerMatrix::AttnV => &mut self.attn,
            LayerMatrix::AttnOutput => &mut self.attn_out,
            LayerMatrix::FfnGate | LayerMatrix::FfnUp => &mut self.ffn,
            LayerMatrix::FfnDown => &mut self.down,
        }
    }
}

/// What the current layer is doing.
enum Phase {
    /// Running chunk i through the layer.
    Collect(usize),
    /// The search of `groups[i]`.
    Search(usize),
    /// The clip of `CLIPPED[i]`.
    Clip(usize),
}

pub struct AwqRun {
    model: Model,
    n_ctx: usize,
    config: AwqConfig,
    clip: bool,
    /// The groups searched in every layer (without AttnOutput under grouped-query attention).
    groups: Vec<ScaleGroup>,
    /// Per chunk: the current layer's input rows (the previous layer's full-precision output).
    hidden: Vec<Vec<f32>>,
    inputs: Inputs,
    layer: usize,
    phase: Phase,
    search: Option<ScaleSearch>,
    /// The current layer's chosen scales, group by group.
    chosen: Vec<(ScaleGroup, ScaleResult)>,
    scale_reports: Vec<ScaleReport>,
    clip_reports: Vec<ClipReport>,
}

impl AwqRun {
    /// A run over `tokens` (chunks of `n_ctx`, first token → BOS, as llama-imatrix cuts them) on
    /// `model`, which must hold F32 layer matrices; the run scales its own copy of them.
    pub fn new(model: Model, tokens: &[u32], n_ctx: usize, max_chunks: Option<usize>, config: AwqConfig, clip: bool) -> Result<AwqRun> {
        let n_chunk = count_chunks(&model, tokens.len(), n_ctx, max_chunks, "AWQ calibration", "AWQ")?;
        let c = &model.config;
        for l in 0..c.n_layer {
            for m in LayerMatrix::ALL {
                let t = model.layer_matrix(l, m);
                let name = format!("blk.{l}.{}.weight", m.tensor());
                if !matches!(t, Matrix::F32 { .. }) {
                    return Err(LlmError::Unsupported(format!("AWQ of {name} stored as {}: it starts from F32 weights", t.type_name())));
                }
                config.check(t.cols()).map_err(|e| LlmError::Quantize { tensor: name, why: e.to_string() })?;
            }
        }
        // `if module.self_attn.v_proj.weight.shape == module.self_attn.o_proj.weight.shape`.
        let (v, o) = (model.layer_matrix(0, LayerMatrix::AttnV), model.layer_matrix(0, LayerMatrix::AttnOutput));
        let mut groups = vec![ScaleGroup::AttnInput];
        if (v.rows(), v.cols()) == (o.rows(), o.cols()) {
            groups.push(ScaleGroup::AttnOutput);
        }
        groups.extend([ScaleGroup::FfnInput, ScaleGroup::FfnDown]);
        let hidden = (0..n_chunk).map(|i| model.embed(&chunk_with_bos(&model, tokens, n_ctx, i))).collect::<Result<Vec<_>>>()?;
        Ok(AwqRun {
            model,
            n_ctx,
            config,
            clip,
            groups,
            hidden,
            inputs: Inputs::default(),
            layer: 0,
            phase: Phase::Collect(0),
            search: None,
            chosen: Vec::new(),
            scale_reports: Vec::new(),
            clip_reports: Vec::new(),
        })
    }

    fn calls_per_layer(&self) -> usize {
        self.hidden.len() + self.groups.len() * self.config.n_grid + if self.clip { CLIPPED.len() } else { 0 }
    }

    /// Calls until finished.
    pub fn total(&self) -> usize {
        self.model.config.n_layer * self.calls_per_layer()
    }

    pub fn progress(&self) -> AwqProgress {
        let within = match self.phase {
            Phase::Collect(i) => i,
            Phase::Search(g) => self.hidden.len() + g * self.config.n_grid + self.search.as_ref().map_or(0, |s| s.done()),
            Phase::Clip(i) => self.hidden.len() + self.groups.len() * self.config.n_grid + i,
        };
        let done = (self.layer * self.calls_per_layer() + within).min(self.total());
        AwqProgress { done, total: self.total(), finished: self.finished() }
    }

    pub fn finished(&self) -> bool {
        self.layer == self.model.config.n_layer
    }

    /// One more step: a chunk through the current layer, an exponent of the current search, or
    /// a matrix's clip.
    pub fn advance(&mut self) -> Result<AwqProgress> {
        if self.finished() {
            return Ok(self.progress());
        }
        match self.phase {
            Phase::Collect(i) => {
                let pass = self.model.layer_pass(self.layer, &self.hidden[i]);
                self.inputs.attn.extend_from_slice(&pass.attn_in);
                self.inputs.attn_out.extend_from_slice(&pass.attn_out_in);
                self.inputs.ffn.extend_from_slice(&pass.ffn_in);
                self.inputs.down.extend_from_slice(&pass.down_in);
                self.hidden[i] = pass.out;
                self.phase = if i + 1 < self.hidden.len() { Phase::Collect(i + 1) } else { Phase::Search(0) };
            }
            Phase::Search(g) => {
                let group = self.groups[g];
                let mut search = match self.search.take() {
                    Some(s) => s,
                    None => self.start_search(group)?,
                };
                let why = |e: PtqError| LlmError::Quantize { tensor: format!("blk.{} {}", self.layer, group.label()), why: e.to_string() };
                {
                    let mut block = self.block(group);
                    search.next(&mut *block).map_err(why)?;
                }
                if search.finished() {
                    let result = search.result().map_err(why)?;
                    self.scale_reports.push(ScaleReport {
                        layer: self.layer,
                        group,
                        label: group.label(),
                        best: result.best,
                        ratio: result.ratio(),
                        losses: result.losses.clone(),
                        scale_min: result.scales.iter().copied().fold(f32::INFINITY, f32::min),
                        scale_max: result.scales.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                    });
                    self.chosen.push((group, result));
                    if g + 1 < self.groups.len() {
                        self.phase = Phase::Search(g + 1);
                    } else {
                        self.apply_scales();
                        self.phase = Phase::Clip(0);
                        if !self.clip {
                            self.next_layer();
                        }
                    }
                } else {
                    self.search = Some(search);
                }
            }
            Phase::Clip(i) => {
                let m = CLIPPED[i];
                let name = format!("blk.{}.{}.weight", self.layer, m.tensor());
                let (mut w, rows) = self.weights(m);
                let clip = search_clip(&w, rows, self.inputs.get(m), &self.config)
                    .map_err(|e| LlmError::Quantize { tensor: name.clone(), why: e.to_string() })?;
                apply_clip(&mut w, &clip);
                self.model.set_layer_weights(self.layer, m, w);
                self.clip_reports.push(ClipReport {
                    name,
                    groups: clip.max.len(),
                    clipped: clip.shrink.iter().filter(|&&s| s > 0).count(),
                    error_unclipped: clip.error_unclipped,
                    error_clipped: clip.error_clipped,
                });
                if i + 1 < CLIPPED.len() {
                    self.phase = Phase::Clip(i + 1);
                } else {
                    self.next_layer();
                }
            }
        }
        Ok(self.progress())
    }

    fn next_layer(&mut self) {
        self.inputs = Inputs::default();
        self.chosen.clear();
        self.layer += 1;
        self.phase = Phase::Collect(0);
    }

    /// Layer matrix `m`'s F32 weights (a copy) and rows.
    fn weights(&self, m: LayerMatrix) -> (Vec<f32>, usize) {
        match self.model.layer_matrix(self.layer, m) {
            Matrix::F32 { w, rows, .. } => (w.clone(), *rows),
            _ => unreachable!("checked F32 when the run started"),
        }
    }

    fn start_search(&mut self, group: ScaleGroup) -> Result<ScaleSearch> {
        let input = group.matrices()[0];
        let linears = group
            .matrices()
            .iter()
            .map(|&m| {
                let (w, rows) = self.weights(m);
                Linear { w, rows }
            })
            .collect();
        let cols = self.model.layer_matrix(self.layer, input).cols();
        let mut block = self.block(group);
        ScaleSearch::new(self.inputs.get(input), cols, linears, self.config, &mut *block)
            .map_err(|e| LlmError::Quantize { tensor: format!("blk.{} {}", self.layer, group.label()), why: e.to_string() })
    }

    /// The block a group's candidates are judged by (`module2inspect`), over every chunk's
    /// recorded input: its output rows for the group's matrices' candidate weights.
    fn block(&self, group: ScaleGroup) -> Box<Block<'_>> {
        let (model, l, inputs) = (&self.model, self.layer, &self.inputs);
        let rows_per_chunk = self.n_ctx * model.config.n_embd;
        // The candidates stand in for the group's matrices; the block's other matrices are the layer's.
        fn replace(group: ScaleGroup, ws: &[Vec<f32>]) -> Vec<(LayerMatrix, &[f32])> {
            group.matrices().iter().copied().zip(ws.iter().map(|w| &w[..])).collect()
        }
        match group {
            ScaleGroup::AttnInput => Box::new(move |ws: &[Vec<f32>]| {
                // Causal over each chunk, as the reference's attention is over each sample.
                inputs.attn.chunks(rows_per_chunk).flat_map(|h| model.attention_block(l, h, &replace(group, ws)).1).collect()
            }),
            ScaleGroup::FfnInput => Box::new(move |ws: &[Vec<f32>]| model.ffn_block(l, &inputs.ffn, &replace(group, ws)).1),
            ScaleGroup::AttnOutput | ScaleGroup::FfnDown => {
                let m = group.matrices()[0];
                let cols = model.layer_matrix(l, m).cols();
                Box::new(move |ws: &[Vec<f32>]| {
                    let x = if m == LayerMatrix::AttnOutput { &inputs.attn_out } else { &inputs.down };
                    linear(x, &ws[0], cols)
                })
            }
        }
    }

    /// `apply_scale`, group by group in the searches' order: the op before divided, the matrices'
    /// columns multiplied, the recorded inputs divided (for the clip).
    fn apply_scales(&mut self) {
        let l = self.layer;
        for (group, result) in std::mem::take(&mut self.chosen) {
            let s = &result.scales;
            match group {
                ScaleGroup::AttnInput | ScaleGroup::FfnInput => {
                    let norm = if group == ScaleGroup::AttnInput { LayerNorm::Attn } else { LayerNorm::Ffn };
                    let mut w = self.model.layer_norm(l, norm).to_vec();
                    w.iter_mut().zip(s).for_each(|(v, &k)| *v /= k);
                    self.model.set_layer_norm(l, norm, w);
                }
                ScaleGroup::AttnOutput | ScaleGroup::FfnDown => {
                    let prev = if group == ScaleGroup::AttnOutput { LayerMatrix::AttnV } else { LayerMatrix::FfnUp };
                    let (mut w, _) = self.weights(prev);
                    let cols = self.model.layer_matrix(l, prev).cols();
                    divide_rows(&mut w, cols, s);
                    self.model.set_layer_weights(l, prev, w);
                    if prev == LayerMatrix::AttnV {
                        if let Some(b) = self.model.v_bias(l) {
                            let b = b.iter().zip(s).map(|(&v, &k)| v / k).collect();
                            self.model.set_v_bias(l, b);
                        }
                    }
                }
            }
            for &m in group.matrices() {
                let (mut w, _) = self.weights(m);
                scale_columns(&mut w, s);
                self.model.set_layer_weights(l, m, w);
            }
            divide_columns(self.inputs.of(group.matrices()[0]), s);
        }
    }

    pub fn config(&self) -> &AwqConfig {
        &self.config
    }

    pub fn scale_reports(&self) -> &[ScaleReport] {
        &self.scale_reports
    }

    pub fn clip_reports(&self) -> &[ClipReport] {
        &self.clip_reports
    }

    /// The scaled model (its layer matrices, norms and V biases as the run left them).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The scaled (and clipped) model as an F32 GGUF file made from `f32_file` (the file the run's
    /// model was read from): every tensor as F32, the layers' matrices, norms and V biases the
    /// run's. A llama-quantize mix of it ([`gguf_writer::write_mix`]) is AWQ plus that type.
    pub fn write_f32_gguf(&self, f32_file: &LazyFile) -> Result<Vec<u8>> {
        let mut changed = self.scaled_vectors();
        for l in 0..self.model.config.n_layer {
            for m in LayerMatrix::ALL {
                if let Matrix::F32 { w, .. } = self.model.layer_matrix(l, m) {
                    changed.push((format!("blk.{l}.{}.weight", m.tensor()), w));
                }
            }
        }
        self.write(f32_file, &changed)
    }

    /// The layer matrices rounded onto the search's grid, in an F32 file (llm-awq's
    /// `pseudo_quantize_model_weight`: what its evaluation runs; `token_embd` and `output` as they
    /// are): the run's scaled and clipped weights (with its norms and V biases), or (`rtn`) the
    /// original model's, round-to-nearest on the same grid and groups — AWQ against RTN on a grid
    /// no ggml type holds.
    pub fn write_rounded_f32_gguf(&self, f32_file: &LazyFile, rtn: bool) -> Result<Vec<u8>> {
        let model = &self.model;
        let mut rounded = Vec::new();
        for l in 0..model.config.n_layer {
            for m in LayerMatrix::ALL {
                let name = format!("blk.{l}.{}.weight", m.tensor());
                let t = model.layer_matrix(l, m);
                let w = match t {
                    _ if rtn => {
                        let k =
                            f32_file.tensors.iter().position(|t| t.name == name).ok_or_else(|| LlmError::MissingTensor(name.clone()))?;
                        f32_file.read_values(k, 0, t.rows() * t.cols())?
                    }
                    Matrix::F32 { w, .. } => w.clone(),
                    _ => unreachable!("checked F32 when the run started"),
                };
                let q = self.config.quantize(&w, t.rows()).map_err(|e| LlmError::Quantize { tensor: name.clone(), why: e.to_string() })?;
                rounded.push((name, q));
            }
        }
        let mut changed: Vec<(String, &[f32])> = if rtn { Vec::new() } else { self.scaled_vectors() };
        changed.extend(rounded.iter().map(|(n, v)| (n.clone(), &v[..])));
        self.write(f32_file, &changed)
    }

    /// The norms and V biases the scales divided.
    fn scaled_vectors(&self) -> Vec<(String, &[f32])> {
        let mut out = Vec::new();
        for l in 0..self.model.config.n_layer {
            for norm in [LayerNorm::Attn, LayerNorm::Ffn] {
                out.push((format!("blk.{l}.{}.weight", norm.tensor()), self.model.layer_norm(l, norm)));
            }
            if let Some(b) = self.model.v_bias(l) {
                out.push((format!("blk.{l}.attn_v.bias"), b));
            }
        }
        out
    }

    /// `f32_file` as an F32 file with the `changed` tensors' values.
    fn write(&self, f32_file: &LazyFile, changed: &[(String, &[f32])]) -> Result<Vec<u8>> {
        if !self.finished() {
            return Err(LlmError::Unsupported("an AWQ file before the run has finished".into()));
        }
        let mut values: Vec<Option<&[f32]>> = vec![None; f32_file.tensors.len()];
        for (name, v) in changed {
            let k = f32_file.tensors.iter().position(|t| &t.name == name).ok_or_else(|| LlmError::MissingTensor(name.clone()))?;
            values[k] = Some(v);
        }
        let plan = gguf_writer::plan_file(f32_file, "model", OutType::F32)?;
        let mut export = Export::new(plan);
        let mut read = |k: usize, start: u64, count: usize| match values[k] {
            Some(v) => Ok(v[start as usize..(start as usize + count).min(v.len())].to_vec()),
            None => f32_file.read_values(k, start, count),
        };
        let mut out = Vec::new();
        while let Some(piece) = export.next_piece(&mut read)? {
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }
}

/// x Wᵀ for rows x of `cols` (as an F32 matrix multiplies): the blocks that are one matrix.
fn linear(x: &[f32], w: &[f32], cols: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len() / cols * (w.len() / cols));
    for xr in x.chunks_exact(cols) {
        out.extend(w.chunks_exact(cols).map(|wr| crate::ops::dot(wr, xr)));
    }
    out
}

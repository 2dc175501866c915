//! GPTQ of a whole model, layer by layer, as the reference's `llama.py` runs it (`llama_sequential`
//! with `--true-sequential`): within each layer the matrices are quantized in four steps — K, V
//! and Q (one input), the attention output, up and gate (one input), down — and each step's
//! Hessian comes from the calibration text run through the model with every matrix quantized so
//! far, so a layer is calibrated on what the quantized layers before it give it. Each text chunk
//! is one sample (the reference's are 2,048-token sequences). `token_embd` and `output` are left
//! as they are (the reference skips the LM head); a file is then written in which they take the
//! types the file type's mix gives them.
//!
//! A run advances a chunk or a step's quantization per call, so the page's worker reports progress
//! and honours Cancel between two.

use crate::activations::{ActivationObserver, LayerMatrix};
use crate::error::{LlmError, Result};
use crate::model::Model;
use crate::perplexity::{chunk_with_bos, count_chunks};
use crate::weights::Matrix;
use quantscope_formats::gguf_mix::{FileType, MixOptions};
use quantscope_formats::gguf_writer::{self, Export, OutType};
use quantscope_formats::lazy::LazyFile;
use quantscope_ptq::{gptq, round_to_nearest, GptqConfig, GptqResult, Grid, Hessian};
use serde::Serialize;

/// The reference's true-sequential order: matrices sharing an input are quantized together.
pub const STEPS: [&[LayerMatrix]; 4] = [
    &[LayerMatrix::AttnK, LayerMatrix::AttnV, LayerMatrix::AttnQ],
    &[LayerMatrix::AttnOutput],
    &[LayerMatrix::FfnUp, LayerMatrix::FfnGate],
    &[LayerMatrix::FfnDown],
];

/// One quantized matrix's figures, for the page's table.
#[derive(Serialize, Clone, Debug)]
pub struct MatrixReport {
    pub name: String,
    /// ‖(W − Q) X‖² / ‖W X‖² on the calibration rows that reached it: GPTQ's, and
    /// round-to-nearest's on the same grid and inputs.
    pub gptq_error: f64,
    pub rtn_error: f64,
    /// The error each column's rounding left for the later columns (the reference's `Losses`,
    /// summed over rows), in the stored column order.
    pub column_losses: Vec<f64>,
}

/// Collects the calibration rows reaching one layer's matrix, a chunk at a time.
struct InputRows {
    layer: usize,
    matrix: LayerMatrix,
    rows: Vec<f32>,
}

impl ActivationObserver for InputRows {
    fn observe(&mut self, layer: usize, m: LayerMatrix, x: &[f32]) {
        if layer == self.layer && m == self.matrix {
            self.rows.extend_from_slice(x);
        }
    }
}

pub struct GptqRun {
    model: Model,
    tokens: Vec<u32>,
    n_ctx: usize,
    n_chunk: usize,
    grid: Grid,
    config: GptqConfig,
    /// The step under way: (layer, index into [`STEPS`]); chunks done for its Hessian.
    layer: usize,
    step: usize,
    chunk: usize,
    hessian: Option<Hessian>,
    /// Each quantized matrix: GPTQ's result and round-to-nearest's on the same grid.
    results: Vec<(String, GptqResult, GptqResult)>,
    reports: Vec<MatrixReport>,
}

/// Where a run stands.
#[derive(Serialize, Debug)]
pub struct GptqProgress {
    pub done: usize,
    pub total: usize,
    pub finished: bool,
}

impl GptqRun {
    /// A run over `tokens` (chunks of `n_ctx`, first token → BOS, as llama-imatrix cuts them) on
    /// `model`, which must hold F32 layer matrices; the run quantizes its own copy of them.
    pub fn new(model: Model, tokens: &[u32], n_ctx: usize, max_chunks: Option<usize>, grid: Grid, config: GptqConfig) -> Result<GptqRun> {
        let n_chunk = count_chunks(&model, tokens.len(), n_ctx, max_chunks, "GPTQ calibration", "GPTQ")?;
        for l in 0..model.config.n_layer {
            for m in LayerMatrix::ALL {
                let t = model.layer_matrix(l, m);
                if !matches!(t, Matrix::F32 { .. }) {
                    return Err(LlmError::Unsupported(format!(
                        "GPTQ of blk.{l}.{}.weight stored as {}: it starts from F32 weights",
                        m.tensor(),
                        t.type_name()
                    )));
                }
                if let Some(g) = grid.fixed_group() {
                    if t.cols() % g != 0 {
                        return Err(LlmError::Quantize {
                            tensor: format!("blk.{l}.{}.weight", m.tensor()),
                            why: format!("{} needs rows a multiple of {g} long; this one has {}", grid.label(), t.cols()),
                        });
                    }
                }
            }
        }
        Ok(GptqRun {
            model,
            tokens: tokens[..n_chunk * n_ctx].to_vec(),
            n_ctx,
            n_chunk,
            grid,
            config,
            layer: 0,
            step: 0,
            chunk: 0,
            hessian: None,
            results: Vec::new(),
            reports: Vec::new(),
        })
    }

    /// Calls until finished: every step's chunks plus its quantization.
    pub fn total(&self) -> usize {
        self.model.config.n_layer * STEPS.len() * (self.n_chunk + 1)
    }

    pub fn progress(&self) -> GptqProgress {
        let done = (self.layer * STEPS.len() + self.step) * (self.n_chunk + 1) + self.chunk;
        GptqProgress { done: done.min(self.total()), total: self.total(), finished: self.finished() }
    }

    pub fn finished(&self) -> bool {
        self.layer == self.model.config.n_layer
    }

    /// One more chunk of the current step's calibration, or, when they are all in, the step's
    /// quantization (its matrices then replaced by their quantized values).
    pub fn advance(&mut self) -> Result<GptqProgress> {
        if self.finished() {
            return Ok(self.progress());
        }
        let matrices = STEPS[self.step];
        if self.chunk < self.n_chunk {
            let mut seen = InputRows { layer: self.layer, matrix: matrices[0], rows: Vec::new() };
            let chunk = chunk_with_bos(&self.model, &self.tokens, self.n_ctx, self.chunk);
            self.model.session(self.n_ctx)?.observe_until(&chunk, &mut seen, self.layer, matrices[0])?;
            let cols = self.model.layer_matrix(self.layer, matrices[0]).cols();
            let name = self.name(matrices[0]);
            let h = self.hessian.get_or_insert_with(|| Hessian::new(cols));
            h.add_sample(&seen.rows).map_err(|e| LlmError::Quantize { tensor: name, why: e.to_string() })?;
            self.chunk += 1;
            return Ok(self.progress());
        }
        let h = self.hessian.take().expect("every chunk was seen");
        for &m in matrices {
            let name = self.name(m);
            let w = match self.model.layer_matrix(self.layer, m) {
                Matrix::F32 { w, rows, .. } => (w.clone(), *rows),
                _ => unreachable!("checked F32 when the run started"),
            };
            let why = |e: quantscope_ptq::PtqError| LlmError::Quantize { tensor: name.clone(), why: e.to_string() };
            let result = gptq(&w.0, w.1, &h, self.grid, &self.config).map_err(why)?;
            let rtn = round_to_nearest(&w.0, w.1, self.grid, self.config.groupsize).map_err(why)?;
            let hm = h.matrix().map_err(why)?;
            let reference = quadratic(&w.0, &vec![0.0; w.0.len()], &hm, h.cols());
            self.reports.push(MatrixReport {
                name: name.clone(),
                gptq_error: quadratic(&w.0, &result.values, &hm, h.cols()) / reference,
                rtn_error: quadratic(&w.0, &rtn.values, &hm, h.cols()) / reference,
                column_losses: result.column_losses.clone(),
            });
            self.model.set_layer_weights(self.layer, m, result.values.clone());
            self.results.push((name, result, rtn));
        }
        self.chunk = 0;
        self.step += 1;
        if self.step == STEPS.len() {
            self.step = 0;
            self.layer += 1;
        }
        Ok(self.progress())
    }

    fn name(&self, m: LayerMatrix) -> String {
        format!("blk.{}.{}.weight", self.layer, m.tensor())
    }

    pub fn reports(&self) -> &[MatrixReport] {
        &self.reports
    }

    pub fn grid(&self) -> Grid {
        self.grid
    }

    pub fn config(&self) -> &GptqConfig {
        &self.config
    }

    /// The quantized model (`rtn`: round-to-nearest's instead of GPTQ's) as a GGUF file made from
    /// `f32_file` (the file the run's model was read from). On the Q4_0 grid: llama-quantize's Q4_0 file with every layer matrix's blocks
    /// GPTQ's — a file llama.cpp runs. On the reference's grid (no ggml type holds it): an F32
    /// file of the dequantized values, which runs as they would.
    pub fn write_gguf(&self, f32_file: &LazyFile, rtn: bool) -> Result<Vec<u8>> {
        if !self.finished() {
            return Err(LlmError::Unsupported("a GPTQ file before the run has finished".into()));
        }
        let index = |name: &str| f32_file.tensors.iter().position(|t| t.name == name);
        let mut out = Vec::new();
        match self.grid {
            Grid::Q4_0 => {
                let mut plan = gguf_writer::plan_mix(f32_file, FileType::from_name("Q4_0")?, &MixOptions::default())?;
                let mut blocks: Vec<Option<Vec<u8>>> = vec![None; f32_file.tensors.len()];
                for (name, g, r) in &self.results {
                    let r = if rtn { r } else { g };
                    let k = index(name).ok_or_else(|| LlmError::MissingTensor(name.clone()))?;
                    let t = plan.tensors.iter_mut().find(|t| t.source == k).ok_or_else(|| LlmError::MissingTensor(name.clone()))?;
                    if t.ty != OutType::Q4_0 {
                        return Err(LlmError::Quantize { tensor: name.clone(), why: format!("the Q4_0 mix stores it as {}", t.ty.id()) });
                    }
                    t.copy = true;
                    blocks[k] = Some(r.q4_0_blocks().map_err(|e| LlmError::Quantize { tensor: name.clone(), why: e.to_string() })?);
                }
                let mut export = Export::new(plan);
                let mut read = |k: usize, start: u64, count: usize| f32_file.read_values(k, start, count);
                let mut stored = |k: usize, start: u64, len: usize| match &blocks[k] {
                    Some(b) => Ok(b[start as usize..(start as usize + len).min(b.len())].to_vec()),
                    None => f32_file.read_stored(k, start, len),
                };
                while let Some(piece) = export.next_piece_copying(&mut read, &mut stored)? {
                    out.extend_from_slice(&piece);
                }
            }
            Grid::MinMax { .. } | Grid::ZeroPoint { .. } => {
                let plan = gguf_writer::plan_file(f32_file, "model", OutType::F32)?;
                let mut values: Vec<Option<&[f32]>> = vec![None; f32_file.tensors.len()];
                for (name, g, r) in &self.results {
                    let r = if rtn { r } else { g };
                    values[index(name).ok_or_else(|| LlmError::MissingTensor(name.clone()))?] = Some(&r.values);
                }
                let mut export = Export::new(plan);
                let mut read = |k: usize, start: u64, count: usize| match values[k] {
                    Some(v) => Ok(v[start as usize..(start as usize + count).min(v.len())].to_vec()),
                    None => f32_file.read_values(k, start, count),
                };
                while let Some(piece) = export.next_piece(&mut read)? {
                    out.extend_from_slice(&piece);
                }
            }
        }
        Ok(out)
    }
}

/// Σ_rows (w − q)ᵀ H (w − q): the output error on the rows H was made of (up to H's scale).
fn quadratic(w: &[f32], q: &[f32], h: &[f64], n: usize) -> f64 {
    let mut total = 0.0;
    let mut d = vec![0f64; n];
    for (wr, qr) in w.chunks_exact(n).zip(q.chunks_exact(n)) {
        d.iter_mut().zip(wr.iter().zip(qr)).for_each(|(d, (&a, &b))| *d = a as f64 - b as f64);
        for i in 0..n {
            if d[i] != 0.0 {
                total += d[i] * h[i * n..(i + 1) * n].iter().zip(&d).map(|(a, b)| a * b).sum::<f64>();
            }
        }
    }
    total
}

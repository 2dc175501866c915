//! GPTQ in the Language model view: the F32 or F16 model quantized layer by layer on calibration
//! text ([`quantscope_llm::GptqRun`]), a step per call, then added beside the other variants —
//! "GPTQ Q4_0" as the Q4_0 file llama.cpp runs, or on the references' grid (int4/int3, groups of
//! 32/64/128) "GPTQ int4 g128" beside "RTN int4 g128", round-to-nearest on the same grid, both
//! held as F32 files of their values (no ggml type stores those codes).

use quantscope_formats::lazy::LazyFile;
use quantscope_llm::gptq::MatrixReport;
use quantscope_llm::{GptqRun, Model};
use quantscope_ptq::{GptqConfig, Grid};
use serde::Serialize;

/// What the page asks for.
#[derive(Clone, Copy, Debug)]
pub struct GptqSettings {
    pub grid: Grid,
    pub groupsize: Option<usize>,
    pub act_order: bool,
}

impl GptqSettings {
    /// `grid`: "q4_0" (groups of 32) or "intB" (B = 2..8) with `group` columns (0: a row), as
    /// `quantscope_ptq::gptq_grid` reads them for the CLI too.
    pub fn parse(grid: &str, group: usize, act_order: bool) -> Result<GptqSettings, String> {
        let (grid, groupsize) = quantscope_ptq::gptq_grid(grid, false, Some(group)).map_err(|e| e.to_string())?;
        Ok(GptqSettings { grid, groupsize, act_order })
    }

    pub fn config(&self) -> GptqConfig {
        // Static groups with act-order: each group's columns stay together (Q4_0 blocks need it).
        GptqConfig {
            groupsize: self.groupsize,
            act_order: self.act_order,
            static_groups: self.act_order && self.groupsize.is_some(),
            ..Default::default()
        }
    }

    /// "Q4_0", "int4 g128", "int3 per row", with " act-order".
    pub fn label(&self) -> String {
        let base = match (self.grid, self.groupsize) {
            (Grid::Q4_0, _) => "Q4_0".to_string(),
            (g, Some(n)) => format!("{} g{n}", g.label()),
            (g, None) => format!("{} per row", g.label()),
        };
        if self.act_order {
            format!("{base} act-order")
        } else {
            base
        }
    }
}

/// Where a run stands; `reports` once it has finished (per matrix: the output error of GPTQ
/// and of round-to-nearest on the calibration rows, and GPTQ's per-column losses).
#[derive(Serialize, Debug)]
pub struct GptqStep {
    pub done: usize,
    pub total: usize,
    pub finished: bool,
    pub label: String,
    pub reports: Option<Vec<MatrixReport>>,
}

/// A variant made by a run: its name, its GGUF file, and its bits per weight as stored in the
/// grid's format (`None` when the file's own types say it).
pub struct MadeFile {
    pub name: String,
    pub bytes: Vec<u8>,
    pub bits_per_weight: Option<f64>,
}

pub struct CalibratedRun {
    pub settings: GptqSettings,
    pub run: GptqRun,
}

impl CalibratedRun {
    pub fn new(model: Model, text: &str, n_ctx: usize, max_chunks: Option<usize>, settings: GptqSettings) -> Result<CalibratedRun, String> {
        let tokens = model.tokenizer.encode_special(text);
        let run = GptqRun::new(model, &tokens, n_ctx, max_chunks, settings.grid, settings.config()).map_err(|e| e.to_string())?;
        Ok(CalibratedRun { settings, run })
    }

    pub fn step(&mut self) -> Result<GptqStep, String> {
        let p = self.run.advance().map_err(|e| e.to_string())?;
        Ok(GptqStep {
            done: p.done,
            total: p.total,
            finished: p.finished,
            label: self.settings.label(),
            reports: p.finished.then(|| self.run.reports().to_vec()),
        })
    }

    /// The finished run's files.
    pub fn files(&self, f32_file: &LazyFile) -> Result<Vec<MadeFile>, String> {
        let label = self.settings.label();
        let gptq = self.run.write_gguf(f32_file, false).map_err(|e| e.to_string())?;
        if self.settings.grid == Grid::Q4_0 {
            // Round-to-nearest on this grid is llama-quantize's Q4_0, shown already as "Q4_0".
            return Ok(vec![MadeFile { name: format!("GPTQ {label}"), bytes: gptq, bits_per_weight: None }]);
        }
        let rtn = self.run.write_gguf(f32_file, true).map_err(|e| e.to_string())?;
        let bits_per_weight = Some(self.nominal_bits_per_weight(f32_file));
        Ok(vec![
            MadeFile { name: format!("GPTQ {label}"), bytes: gptq, bits_per_weight },
            MadeFile { name: format!("RTN {label}"), bytes: rtn, bits_per_weight },
        ])
    }

    fn nominal_bits_per_weight(&self, f32_file: &LazyFile) -> f64 {
        let quantized: Vec<&str> = self.run.reports().iter().map(|r| r.name.as_str()).collect();
        nominal_bits_per_weight(f32_file, |name| quantized.contains(&name), self.settings.grid, self.settings.groupsize)
    }
}

/// Bits per weight of a model whose `quantized` matrices are stored as `grid`'s codes and scales
/// (fp16 scale, and zero point, per group of `groupsize`) and every other tensor as it is stored.
pub fn nominal_bits_per_weight(f32_file: &LazyFile, quantized: impl Fn(&str) -> bool, grid: Grid, groupsize: Option<usize>) -> f64 {
    let (mut bits, mut elements) = (0.0, 0.0);
    for t in &f32_file.tensors {
        let n = t.elements() as f64;
        elements += n;
        bits += if quantized(&t.name) && t.shape.len() == 2 {
            let cols = *t.shape.last().unwrap_or(&1) as usize;
            n * grid.bits_per_weight(groupsize, cols)
        } else {
            t.stored_bytes().unwrap_or(0) as f64 * 8.0
        };
    }
    bits / elements
}

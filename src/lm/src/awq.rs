//! AWQ in the Language model view: the F32 or F16 model's per-channel scales searched (and its
//! weights clipped) layer by layer on calibration text ([`quantscope_llm::AwqRun`]), a step per
//! call, then added beside the other variants — "AWQ Q4_0" as llama-quantize's Q4_0 mix of the
//! scaled F32 model (llama.cpp's own AWQ route, a file llama.cpp runs), or on llm-awq's grid
//! (int4 with a zero point, groups of 128) "AWQ int4 g128" beside "RTN int4 g128", both F32 files
//! of the rounded values (no ggml type stores those codes).

use crate::calibrated::MadeFile;
use quantscope_formats::gguf_mix::{FileType, MixOptions};
use quantscope_formats::{gguf_writer, lazy};
use quantscope_llm::awq::{ClipReport, ScaleReport};
use quantscope_llm::{AwqRun, Model};
use quantscope_ptq::Grid;
use serde::Serialize;
use std::rc::Rc;

/// Where a run stands; the search and clip reports once it has finished.
#[derive(Serialize, Debug)]
pub struct AwqStep {
    pub done: usize,
    pub total: usize,
    pub finished: bool,
    pub label: String,
    pub scales: Option<Vec<ScaleReport>>,
    pub clips: Option<Vec<ClipReport>>,
}

pub struct AwqPageRun {
    run: AwqRun,
    label: String,
}

impl AwqPageRun {
    /// `grid`: "q4_0" (the default: the search rounds as the Q4_0 file will) or "awq" (llm-awq's
    /// int4 with a zero point, groups of 128).
    pub fn new(model: Model, text: &str, n_ctx: usize, max_chunks: Option<usize>, grid: &str, clip: bool) -> Result<AwqPageRun, String> {
        let (config, label) = quantscope_ptq::awq_config(grid, None).map_err(|e| e.to_string())?;
        let label = if clip { label } else { format!("{label} no clip") };
        let tokens = model.tokenizer.encode_special(text);
        let run = AwqRun::new(model, &tokens, n_ctx, max_chunks, config, clip).map_err(|e| e.to_string())?;
        Ok(AwqPageRun { run, label })
    }

    pub fn total(&self) -> usize {
        self.run.total()
    }

    pub fn step(&mut self) -> Result<AwqStep, String> {
        let p = self.run.advance().map_err(|e| e.to_string())?;
        Ok(AwqStep {
            done: p.done,
            total: p.total,
            finished: p.finished,
            label: self.label.clone(),
            scales: p.finished.then(|| self.run.scale_reports().to_vec()),
            clips: p.finished.then(|| self.run.clip_reports().to_vec()),
        })
    }

    /// The finished run's files.
    pub fn files(&self, f32_file: &lazy::LazyFile) -> Result<Vec<MadeFile>, String> {
        let label = &self.label;
        if self.run.config().grid == Grid::Q4_0 {
            let scaled = self.run.write_f32_gguf(f32_file).map_err(|e| e.to_string())?;
            let scaled_file = lazy::open_gguf_file("awq-f32.gguf", Rc::new(scaled)).map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            let ftype = FileType::from_name("Q4_0").map_err(|e| e.to_string())?;
            gguf_writer::write_mix(&scaled_file, ftype, &MixOptions::default(), &mut out, |_, _| {}).map_err(|e| e.to_string())?;
            return Ok(vec![MadeFile { name: format!("AWQ {label}"), bytes: out, bits_per_weight: None }]);
        }
        let c = self.run.config();
        let awq = self.run.write_rounded_f32_gguf(f32_file, false).map_err(|e| e.to_string())?;
        let rtn = self.run.write_rounded_f32_gguf(f32_file, true).map_err(|e| e.to_string())?;
        let bits_per_weight =
            Some(crate::calibrated::nominal_bits_per_weight(f32_file, |name| name.starts_with("blk."), c.grid, c.groupsize));
        Ok(vec![
            MadeFile { name: format!("AWQ {label}"), bytes: awq, bits_per_weight },
            MadeFile { name: format!("RTN {label}"), bytes: rtn, bits_per_weight },
        ])
    }
}

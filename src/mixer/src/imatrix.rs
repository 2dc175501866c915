//! An importance matrix dropped on the page (`llama-imatrix`'s `.gguf`, or the legacy `.dat`),
//! read by `quantscope_formats::imatrix` into the weights `llama-quantize`'s `load_imatrix`
//! loads. The Inspect worker keeps one [`ImatrixFile`] and gives it to each [`crate::GgufMixer`]
//! (`set_imatrix`) before planning or writing a mix, as `llama-quantize --imatrix FILE` does; the
//! page draws an entry's weights per input column from [`ImatrixFile::entry_values`].

use quantscope_formats::gguf_mix::MixImatrix;
use quantscope_formats::imatrix::{self, ImatrixFormat};
use quantscope_wasm_common::to_js;
use serde::Serialize;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// How many of an entry's largest columns [`ImatrixFile::entry`] lists.
const TOP_COLUMNS: usize = 10;

/// One parsed importance matrix file, with the name it was dropped under: `llama-quantize`
/// writes the file name it was given into the mix's metadata (`quantize.imatrix.file`), so the
/// page passes the dropped file's name and the bytes match a run of
/// `llama-quantize --imatrix <that name>` in the file's folder.
#[wasm_bindgen]
pub struct ImatrixFile {
    pub(crate) mix: MixImatrix,
}

#[derive(Serialize)]
struct Summary<'a> {
    file_name: &'a str,
    /// "gguf" or "dat".
    format: &'static str,
    entries: usize,
    datasets: &'a [String],
    chunk_count: i32,
    /// Tokens per chunk; 0 in a legacy file (it does not record it).
    chunk_size: i32,
}

#[derive(Serialize)]
struct TopColumn {
    expert: usize,
    column: usize,
    value: f32,
}

#[derive(Serialize)]
struct Entry<'a> {
    name: &'a str,
    columns: usize,
    experts: usize,
    /// Rows summed per expert (GGUF) or the call count (legacy).
    counts: &'a [i64],
    top: Vec<TopColumn>,
}

#[wasm_bindgen]
impl ImatrixFile {
    /// Reads `bytes` as llama.cpp does (GGUF first, else the legacy layout); a file it refuses
    /// is an error in llama.cpp's words ("missing imatrix metadata", ...).
    #[wasm_bindgen(constructor)]
    pub fn new(file_name: &str, bytes: &[u8]) -> Result<ImatrixFile, JsError> {
        let parsed = imatrix::parse(bytes).map_err(|e| JsError::new(&format!("{file_name}: {}", crate::mix_err_text(e))))?;
        Ok(ImatrixFile { mix: MixImatrix { file_name: file_name.to_string(), imatrix: Rc::new(parsed) } })
    }

    /// `{file_name, format, entries, datasets, chunk_count, chunk_size}`.
    pub fn summary(&self) -> Result<JsValue, JsError> {
        let m = &self.mix.imatrix;
        to_js(&Summary {
            file_name: &self.mix.file_name,
            format: match m.format {
                ImatrixFormat::Gguf => "gguf",
                ImatrixFormat::Legacy => "dat",
            },
            entries: m.entries.len(),
            datasets: &m.datasets,
            chunk_count: m.chunk_count,
            chunk_size: m.chunk_size,
        })
    }

    /// The entry of weight tensor `name`: `{name, columns, experts, counts, top: [{expert,
    /// column, value}]}` (its largest weights, largest first), or `null` if the file has none.
    pub fn entry(&self, name: &str) -> Result<JsValue, JsError> {
        let Some(e) = self.mix.imatrix.get(name) else { return Ok(JsValue::NULL) };
        let columns = e.columns();
        let top = e
            .top_columns(TOP_COLUMNS)
            .into_iter()
            .map(|(i, value)| TopColumn { expert: i / columns.max(1), column: i % columns.max(1), value })
            .collect();
        to_js(&Entry { name: &e.name, columns, experts: e.experts(), counts: &e.counts, top })
    }

    /// The weights `llama-quantize` passes to the quantizers for `name`, one per input column,
    /// experts one after another (a Float32Array), or `undefined` if the file has no entry.
    pub fn entry_values(&self, name: &str) -> Option<Vec<f32>> {
        self.mix.imatrix.get(name).map(|e| e.values.clone())
    }
}

/// The importance-weighted MSE of a tensor quantized some way: Σ w_j (x − x̂)² / Σ w_j over
/// every value, `w_j` its column's weight (`importance`: one per column of the rows), as
/// `quantscope compare --imatrix` reports it (`quantscope_core::schemes::weighted_mse`).
#[wasm_bindgen]
pub fn weighted_mse(original: &[f32], dequantized: &[f32], importance: &[f32]) -> Result<f64, JsError> {
    quantscope_core::schemes::weighted_mse(original, dequantized, importance).map_err(|e| match e {
        quantscope_core::Error::InvalidArgument(why) => JsError::new(&why),
        other => JsError::new(&other.to_string()),
    })
}

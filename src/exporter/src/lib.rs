//! The exporter: the module the Run view's worker loads (`www/pkg-export`) when a person asks
//! for their model as a quantized `.onnx`. A thin `#[wasm_bindgen]` facade over
//! `quantscope-onnx-quant`; it lives apart from the models module so that running a model never
//! downloads the file writer. It also writes the importance matrix the runner gathers
//! ([`imatrix_file`]). wasm32 only: on other targets the crate is empty.
#![cfg(target_arch = "wasm32")]

use quantscope_formats::imatrix::Imatrix;
use quantscope_formats::imatrix_writer;
use quantscope_onnx_quant::dynamic::{quantize_dynamic, DynamicOptions};
use quantscope_onnx_quant::weights::QType;
use quantscope_wasm_common::{js_err, to_js};
use serde::Serialize;
use wasm_bindgen::prelude::*;

pub use quantscope_wasm_common::wasm_memory_bytes;

/// What was done to each node.
#[derive(Serialize)]
struct Report {
    quantized: Vec<String>,
    /// `[node, why]` for each node of an op ONNX Runtime would quantize that stays in float.
    kept: Vec<(String, String)>,
}

/// A quantized model file and what was done to its nodes.
#[wasm_bindgen]
pub struct QuantizedOnnx {
    bytes: Vec<u8>,
    report: JsValue,
}

#[wasm_bindgen]
impl QuantizedOnnx {
    /// The file's bytes.
    #[wasm_bindgen(getter)]
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// `{quantized: [node], kept: [[node, why]]}`.
    #[wasm_bindgen(getter)]
    pub fn report(&self) -> JsValue {
        self.report.clone()
    }
}

/// `bytes` (a whole `.onnx`) as ONNX Runtime's `quantize_dynamic` writes it
/// (`quantscope_onnx_quant::dynamic`), `weight_type` "int8" or "uint8": the file and what was
/// done to its nodes, or why it cannot be quantized. `subgraphs`: the nodes inside If/Loop/Scan
/// too (ONNX Runtime's `EnableSubgraph`).
#[wasm_bindgen]
pub fn quantize_onnx_dynamic(
    bytes: &[u8],
    weight_type: &str,
    per_channel: bool,
    reduce_range: bool,
    subgraphs: bool,
) -> Result<QuantizedOnnx, JsError> {
    let weight_type = match weight_type {
        "int8" => QType::Int8,
        "uint8" => QType::Uint8,
        other => return Err(JsError::new(&format!("weights are int8 or uint8, not '{other}'"))),
    };
    let options = DynamicOptions { weight_type, per_channel, reduce_range, enable_subgraph: subgraphs };
    let (bytes, report) = quantize_dynamic(bytes, &options).map_err(js_err)?;
    let report = to_js(&Report { quantized: report.quantized, kept: report.kept })?;
    Ok(QuantizedOnnx { bytes, report })
}

/// The `imatrix.gguf` llama-imatrix would write for statistics the runner gathered
/// (`ImportanceCollector.statistics()`) over `chunks` batches of at most `chunk_size` rows of
/// `dataset`: entry i is `names[i]`, its Σx² per column the next `columns[i]` values of `sums`,
/// its rows seen `counts[i]`. Written in `quantscope_formats::imatrix_writer`'s layout. (Plain
/// arrays rather than an object: serde's deserializer would link float formatting.)
#[wasm_bindgen]
pub fn imatrix_file(
    dataset: &str,
    chunks: i32,
    chunk_size: i32,
    names: Vec<String>,
    columns: Vec<u32>,
    counts: Vec<f64>,
    sums: Vec<f32>,
) -> Result<Vec<u8>, JsError> {
    let total: usize = columns.iter().map(|&c| c as usize).sum();
    let distinct = names.iter().enumerate().all(|(i, n)| !names[..i].contains(n));
    if chunks <= 0
        || chunk_size < 0
        || names.is_empty()
        || !distinct
        || names.len() != columns.len()
        || names.len() != counts.len()
        || columns.contains(&0)
        || total != sums.len()
    {
        return Err(JsError::new(&format!(
            "importance statistics: {} names (distinct: {distinct}), {} column counts, {} row counts and {} sums (for {total} columns) over {chunks} chunks of {chunk_size} do not fit together",
            names.len(),
            columns.len(),
            counts.len(),
            sums.len()
        )));
    }
    let mut rest = &sums[..];
    let mut entries = Vec::with_capacity(names.len());
    for ((name, &c), &count) in names.into_iter().zip(&columns).zip(&counts) {
        let (these, tail) = rest.split_at(c as usize);
        rest = tail;
        entries.push((name, these.to_vec(), count as i64));
    }
    // Checked above, the statistics lay out; a failure left is a size overflow. (Not formatting
    // the formats crate's error keeps every reader's messages out of this module.)
    imatrix_writer::write_gguf(&Imatrix::gathered(dataset, chunks, chunk_size, entries))
        .map_err(|_| JsError::new("the importance matrix is too large for a GGUF file"))
}

//! An importance matrix for a loaded model, a batch at a time (www/run/mnist-ops.js
//! `mnist_imatrix`): the statistics `llama-imatrix` collects, over the engine's own run
//! (`quantscope_engine::importance`). The exporter module writes them as llama.cpp's file
//! (src/exporter `imatrix_file`), so the runner links no file writer.

use crate::engine::{read_inputs, Engine};
use quantscope_engine::importance::ImportanceRun;
use quantscope_wasm_common::{js_err as err, to_js};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// Statistics being gathered for the model behind one handle.
#[wasm_bindgen]
pub struct ImportanceCollector {
    handle: u32,
    run: ImportanceRun,
}

/// One weight's statistics as the page gets them.
#[derive(Serialize)]
struct EntryView<'a> {
    weight: &'a str,
    shape: &'a [usize],
    /// Σx² per input feature, and the rows seen.
    sums: &'a [f32],
    count: i64,
    /// Stored `[out, in]`: llama.cpp's file can hold it.
    saved: bool,
}

#[wasm_bindgen]
impl Engine {
    /// Starts an importance matrix for model `handle` (an error if it multiplies by no constant
    /// weight).
    pub fn importance_start(&self, handle: u32) -> Result<ImportanceCollector, JsError> {
        let run = ImportanceRun::new(self.model(handle)?).map_err(err)?;
        Ok(ImportanceCollector { handle, run })
    }

    /// Runs the collector's model on one batch (`{name: {shape, data}}`) and adds its statistics.
    pub fn importance_add(&self, collector: &mut ImportanceCollector, inputs: JsValue) -> Result<(), JsError> {
        let model = self.model(collector.handle)?;
        let (names, values): (Vec<String>, Vec<_>) = read_inputs(model, &inputs)?.into_iter().unzip();
        let given: Vec<(&str, _)> = names.iter().map(String::as_str).zip(values).collect();
        collector.run.add_batch(model, &given).map_err(err)
    }
}

#[wasm_bindgen]
impl ImportanceCollector {
    /// `{batches, rows_per_batch, entries: [{weight, shape, sums, count, saved}]}`,
    /// entries in the order the model first multiplies by each weight.
    pub fn statistics(&self) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Statistics<'a> {
            batches: usize,
            rows_per_batch: usize,
            entries: Vec<EntryView<'a>>,
        }
        let entries = self
            .run
            .entries()
            .iter()
            .map(|e| EntryView { weight: &e.weight, shape: &e.shape, sums: &e.sums, count: e.count, saved: e.saved })
            .collect();
        to_js(&Statistics { batches: self.run.batches(), rows_per_batch: self.run.rows_per_batch(), entries })
    }
}

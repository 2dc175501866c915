//! An importance matrix for an ONNX model, computed as `llama-imatrix` computes one for a language
//! model (`tools/imatrix/imatrix.cpp`, `IMatrixCollector::collect_imatrix`): for every MatMul or
//! Gemm whose weight is a constant, the square of each input value is added to its input
//! feature's sum, row after row in f32, and the count is the rows seen. A weight two nodes share
//! gathers both (llama-imatrix keys by the weight's name too). Conv is left out, as llama-imatrix
//! only watches matrix multiplications.
//!
//! llama.cpp's file has one column per input feature of a weight stored `[out, in]` (ggml's
//! `ne0` is the input). Gemm with `transB = 1` stores its weight that way, so its statistics are
//! saved under the weight's name. MatMul and Gemm with `transB = 0` store `[in, out]`: their input
//! features are the weight's rows, which llama.cpp's entries cannot say, so
//! [`ImportanceRun::imatrix`] leaves them out of the file (a square one would be applied along
//! the wrong axis by any reader) and [`ImportanceEntry::saved`] says so.

use super::graph::Model;
use super::ops::matmul::{Gemm, MatMul};
use super::value::Value;
use crate::error::EngineError;
use quantscope_formats::imatrix::Imatrix;

/// One weight's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportanceEntry {
    /// The weight's name (its initializer or constant).
    pub weight: String,
    /// The first node that multiplies by it, and that node's op type.
    pub node: String,
    pub op_type: String,
    /// The weight's shape as stored.
    pub shape: Vec<usize>,
    /// Σx² per input feature.
    pub sums: Vec<f32>,
    /// The input rows seen.
    pub count: i64,
    /// True when the weight is stored `[out, in]`, so the file holds it.
    pub saved: bool,
}

/// What each watched node reads: its input slot, the weight's entry and the number of features.
struct Watch {
    input: usize,
    entry: usize,
    features: usize,
}

/// Statistics gathered a batch at a time (the page's worker reports progress and honours Cancel
/// between two batches).
pub struct ImportanceRun {
    watches: Vec<Watch>,
    entries: Vec<ImportanceEntry>,
    batches: usize,
    rows_per_batch: usize,
}

impl ImportanceRun {
    /// The MatMul and Gemm nodes of `model` with a constant f32 weight. A model with none is an
    /// error: there would be nothing to collect.
    pub fn new(model: &Model) -> Result<ImportanceRun, EngineError> {
        let mut watches = Vec::new();
        let mut entries: Vec<ImportanceEntry> = Vec::new();
        for node in &model.nodes {
            let op = node.op.as_any();
            let (Some(input), Some(w_slot)) = (node.inputs.first().copied().flatten(), node.inputs.get(1).copied().flatten()) else {
                continue;
            };
            let Some(w) = model.constants[w_slot].as_deref().filter(|w| w.as_f32().is_some()) else { continue };
            let &[rows, cols] = w.shape() else { continue };
            // (input features, stored [out, in]?)
            let (features, out_in) = if op.downcast_ref::<MatMul>().is_some() {
                (rows, false)
            } else if let Some(g) = op.downcast_ref::<Gemm>() {
                if g.trans_a {
                    continue;
                }
                if g.trans_b {
                    (cols, true)
                } else {
                    (rows, false)
                }
            } else {
                continue;
            };
            let weight = model.names[w_slot].clone();
            let entry = match entries.iter().position(|e| e.weight == weight) {
                Some(i) => i,
                None => {
                    entries.push(ImportanceEntry {
                        weight,
                        node: node.name.clone(),
                        op_type: node.op.op_type().to_string(),
                        shape: w.shape().to_vec(),
                        sums: vec![0.0; features],
                        count: 0,
                        saved: out_in,
                    });
                    entries.len() - 1
                }
            };
            watches.push(Watch { input, entry, features });
        }
        if entries.is_empty() {
            return Err(EngineError::Quantize(
                "an importance matrix needs a MatMul or Gemm whose weight is a constant, and this model has none".into(),
            ));
        }
        Ok(ImportanceRun { watches, entries, batches: 0, rows_per_batch: 0 })
    }

    /// Runs the model on one batch and adds each watched input's x² per feature.
    pub fn add_batch(&mut self, model: &Model, inputs: &[(&str, Value)]) -> Result<(), EngineError> {
        // A batch that fails part-way adds nothing: the sums go back to what they were.
        let before: Vec<Vec<f32>> = self.entries.iter().map(|e| e.sums.clone()).collect();
        let counts: Vec<i64> = self.entries.iter().map(|e| e.count).collect();
        let mut failure: Option<EngineError> = None;
        let mut rows_seen = 0usize;
        let (watches, entries) = (&self.watches, &mut self.entries);
        let mut observe = |slot: usize, v: &Value| {
            for w in watches.iter().filter(|w| w.input == slot) {
                let e = &mut entries[w.entry];
                let Some(x) = v.as_f32() else {
                    failure.get_or_insert(EngineError::Quantize(format!(
                        "the input of '{}' is {}: an importance matrix is collected from f32 activations",
                        e.node,
                        v.dtype()
                    )));
                    continue;
                };
                if v.shape().last() != Some(&w.features) {
                    failure.get_or_insert(EngineError::Quantize(format!(
                        "the input of '{}' has shape {:?}, not rows of the weight's {} input features",
                        e.node,
                        v.shape(),
                        w.features
                    )));
                    continue;
                }
                // collect_imatrix: for each row, values[j] += x[j]², in order.
                for row in x.chunks_exact(w.features) {
                    for (s, &xj) in e.sums.iter_mut().zip(row) {
                        *s += xj * xj;
                    }
                }
                let rows = x.len() / w.features;
                e.count += rows as i64;
                rows_seen = rows_seen.max(rows);
            }
        };
        let ran = model.execute(inputs, Some(&mut observe), None).err();
        let non_finite = self.entries.iter().find(|e| e.sums.iter().any(|s| !s.is_finite())).map(|e| {
            EngineError::Quantize(format!(
                "the input of '{}' has a value whose square is not finite: no importance can be taken from it",
                e.node
            ))
        });
        if let Some(e) = failure.or(ran).or(non_finite) {
            for ((e, sums), count) in self.entries.iter_mut().zip(before).zip(counts) {
                e.sums = sums;
                e.count = count;
            }
            return Err(e);
        }
        self.batches += 1;
        self.rows_per_batch = self.rows_per_batch.max(rows_seen);
        Ok(())
    }

    pub fn batches(&self) -> usize {
        self.batches
    }

    /// The most rows one batch gave a watched input (a chunk's size, as llama-imatrix records it).
    pub fn rows_per_batch(&self) -> usize {
        self.rows_per_batch
    }

    /// Every weight's statistics, in the order the model first multiplies by them.
    pub fn entries(&self) -> &[ImportanceEntry] {
        &self.entries
    }

    /// The statistics llama-imatrix would save: the weights stored `[out, in]`, `dataset` as `imatrix.datasets`, each batch
    /// a chunk. `None` before the first batch or when no weight is stored `[out, in]`.
    pub fn imatrix(&self, dataset: &str) -> Option<Imatrix> {
        if self.batches == 0 {
            return None;
        }
        let saved: Vec<(String, Vec<f32>, i64)> =
            self.entries.iter().filter(|e| e.saved).map(|e| (e.weight.clone(), e.sums.clone(), e.count)).collect();
        if saved.is_empty() {
            return None;
        }
        Some(Imatrix::gathered(dataset, self.batches as i32, self.rows_per_batch as i32, saved))
    }
}

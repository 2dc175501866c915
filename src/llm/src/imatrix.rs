//! An importance matrix as `llama-imatrix` computes it (`tools/imatrix/imatrix.cpp`,
//! `compute_imatrix` and `IMatrixCollector::collect_imatrix`): the text is cut into chunks of
//! `n_ctx` tokens as for perplexity (first token → BOS), and for every matrix multiplication by a
//! `blk.*` weight the input's x² is added per column, token after token, in f32; the count is the
//! tokens seen. `output.weight` is left out (llama-imatrix's default, without `--process-output`)
//! and so is `token_embd` (a row lookup, not a multiplication). The result is the statistics
//! [`quantscope_formats::imatrix_writer::write_gguf`] saves in llama-imatrix's file layout, and the
//! weights llama-quantize derives from them (Σx² / count).

use crate::activations::{ActivationSums, LayerMatrix};
use crate::error::{LlmError, Result};
use crate::model::Model;
use crate::perplexity::{chunk_with_bos, count_chunks, refuse_add_eos};
use quantscope_formats::imatrix::Imatrix;

/// llama-imatrix ignores multiplications of fewer than 16 rows (`src1->ne[1] < 16`): with a
/// smaller context it would collect nothing.
pub const MIN_CONTEXT: usize = 16;

/// An importance matrix computed a chunk at a time (the page's worker reports progress and honours
/// Cancel between two). Like [`crate::PerplexityRun`], it holds no borrow of the model.
pub struct ImatrixRun {
    tokens: Vec<u32>,
    n_ctx: usize,
    n_chunk: usize,
    done: usize,
    sums: ActivationSums,
    dataset: String,
}

impl ImatrixRun {
    /// `dataset` is the name recorded in the file (`imatrix.datasets`: llama-imatrix records the
    /// text file's path).
    pub fn new(model: &Model, tokens: &[u32], n_ctx: usize, max_chunks: Option<usize>, dataset: &str) -> Result<ImatrixRun> {
        if n_ctx < MIN_CONTEXT {
            return Err(LlmError::Unsupported(format!(
                "an importance matrix with a context of {n_ctx} tokens: llama-imatrix ignores batches of fewer than {MIN_CONTEXT}"
            )));
        }
        refuse_add_eos(model, "llama-imatrix")?;
        let n_chunk = count_chunks(model, tokens.len(), n_ctx, max_chunks, "an importance matrix", "llama-imatrix")?;
        Ok(ImatrixRun {
            tokens: tokens[..n_chunk * n_ctx].to_vec(),
            n_ctx,
            n_chunk,
            done: 0,
            sums: ActivationSums::new(model.config.n_layer),
            dataset: dataset.to_string(),
        })
    }

    pub fn n_chunk(&self) -> usize {
        self.n_chunk
    }

    pub fn chunks_done(&self) -> usize {
        self.done
    }

    /// Evaluates the next chunk; false when every chunk was done already.
    pub fn next_chunk(&mut self, model: &Model) -> Result<bool> {
        if self.done == self.n_chunk {
            return Ok(false);
        }
        let chunk = chunk_with_bos(model, &self.tokens, self.n_ctx, self.done);
        model.session(self.n_ctx)?.eval_observed(&chunk, &mut self.sums)?;
        if let Some(tensor) = self.sums.first_non_finite() {
            return Err(LlmError::NonFinite { tensor });
        }
        self.done += 1;
        Ok(true)
    }

    /// The statistics of the chunks done so far, entries in name order (as llama-imatrix sorts
    /// them); `None` before the first chunk.
    pub fn result(&self) -> Option<Imatrix> {
        if self.done == 0 {
            return None;
        }
        let count = (self.done * self.n_ctx) as i64;
        let mut entries = Vec::new();
        for (l, layer) in self.sums.sums.iter().enumerate() {
            for m in LayerMatrix::ALL {
                entries.push((format!("blk.{l}.{}.weight", m.tensor()), layer[m as usize].clone(), count));
            }
        }
        Some(Imatrix::gathered(&self.dataset, self.done as i32, self.n_ctx as i32, entries))
    }
}

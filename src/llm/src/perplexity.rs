//! Perplexity as `llama-perplexity` computes it (`tools/perplexity/perplexity.cpp`, `perplexity`):
//! the tokens are cut into chunks of `n_ctx`; each chunk is evaluated from an empty cache (with
//! its first token replaced by BOS when the model adds BOS), and only the second half is scored:
//! the logits at positions n_ctx/2 … n_ctx−2 against the token that follows. Per position
//! −log softmax(logits)[next], with the max and the exponentials in f32 and their sum in double
//! (`log_softmax`); the estimate is exp(mean), its ± the standard error of the mean times it.

use crate::error::{LlmError, Result};
use crate::model::Model;

#[derive(Debug, Clone, PartialEq)]
pub struct Perplexity {
    pub ppl: f64,
    /// llama-perplexity's "+/-": the standard error of the mean −log p, times ppl.
    pub plus_minus: f64,
    /// How many tokens were scored.
    pub count: usize,
    /// The running estimate after each chunk (llama-perplexity's `[1]…,[2]…` line).
    pub per_chunk: Vec<f64>,
}

/// How many chunks of `n_ctx` tokens llama-perplexity and llama-imatrix evaluate (`tools/*/*.cpp`:
/// at least two chunks' worth of tokens, then all whole chunks or `max_chunks`); the KV cache
/// size is checked here once, not at the first chunk.
pub(crate) fn count_chunks(
    model: &Model,
    n_tokens: usize,
    n_ctx: usize,
    max_chunks: Option<usize>,
    what: &str,
    tool: &str,
) -> Result<usize> {
    if n_tokens < 2 * n_ctx {
        return Err(LlmError::Unsupported(format!(
            "{what} of {n_tokens} tokens with a context of {n_ctx}: {tool} needs at least {}",
            2 * n_ctx
        )));
    }
    model.session(n_ctx)?;
    Ok((n_tokens / n_ctx).min(max_chunks.unwrap_or(usize::MAX)))
}

/// llama-perplexity and llama-imatrix abort on a model that adds EOS to a tokenized text
/// (`GGML_ASSERT(!llama_vocab_get_add_eos(vocab))` in tools/perplexity/perplexity.cpp and
/// tools/imatrix/imatrix.cpp): their chunks assume a text of ordinary tokens. Refused here too.
pub(crate) fn refuse_add_eos(model: &Model, tool: &str) -> Result<()> {
    if model.tokenizer.add_eos {
        return Err(LlmError::Unsupported(format!(
            "{tool} on a model whose tokenizer adds EOS to every text (tokenizer.ggml.add_eos_token): {tool} refuses it"
        )));
    }
    Ok(())
}

/// Chunk `i` of `n_ctx` tokens, its first token replaced by BOS when the model adds BOS (as both
/// tools do, so every chunk starts as a text does).
pub(crate) fn chunk_with_bos(model: &Model, tokens: &[u32], n_ctx: usize, i: usize) -> Vec<u32> {
    let mut chunk = tokens[i * n_ctx..(i + 1) * n_ctx].to_vec();
    if let (true, Some(bos)) = (model.tokenizer.add_bos, model.tokenizer.bos) {
        chunk[0] = bos;
    }
    chunk
}

/// −log softmax(logits)[tok], as perplexity.cpp's `log_softmax`.
pub fn neg_log_prob(logits: &[f32], tok: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum_exp: f64 = logits.iter().map(|&l| (l - max).exp() as f64).sum();
    -(((logits[tok] - max) as f64) - sum_exp.ln())
}

/// The perplexity of `tokens` in chunks of `n_ctx` (at most `max_chunks`); `on_chunk(done, of)`
/// is called after each chunk and may return false to stop (then the result covers the chunks
/// done so far).
pub fn perplexity(
    model: &Model,
    tokens: &[u32],
    n_ctx: usize,
    max_chunks: Option<usize>,
    mut on_chunk: impl FnMut(usize, usize) -> bool,
) -> Result<Perplexity> {
    let mut run = PerplexityRun::new(model, tokens, n_ctx, max_chunks)?;
    while run.next_chunk(model)? {
        if !on_chunk(run.chunks_done(), run.n_chunk()) {
            break;
        }
    }
    Ok(run.result())
}

/// [`perplexity`] a chunk at a time, for a caller that must return between chunks (the page's
/// worker reports progress and honours Cancel between two). It holds no borrow of the model:
/// pass the same model to every [`PerplexityRun::next_chunk`].
pub struct PerplexityRun {
    tokens: Vec<u32>,
    n_ctx: usize,
    n_chunk: usize,
    done: usize,
    nll: f64,
    nll2: f64,
    count: usize,
    per_chunk: Vec<f64>,
}

impl PerplexityRun {
    pub fn new(model: &Model, tokens: &[u32], n_ctx: usize, max_chunks: Option<usize>) -> Result<PerplexityRun> {
        if n_ctx < 4 {
            return Err(LlmError::Unsupported(format!("a perplexity context of {n_ctx} tokens (at least 4)")));
        }
        refuse_add_eos(model, "llama-perplexity")?;
        let n_chunk = count_chunks(model, tokens.len(), n_ctx, max_chunks, "perplexity", "llama-perplexity")?;
        Ok(PerplexityRun {
            tokens: tokens[..n_chunk * n_ctx].to_vec(),
            n_ctx,
            n_chunk,
            done: 0,
            nll: 0.0,
            nll2: 0.0,
            count: 0,
            per_chunk: Vec::with_capacity(n_chunk),
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
        Ok(self.next_chunk_scored(model)?.is_some())
    }

    /// [`PerplexityRun::next_chunk`], returning what was scored (see
    /// [`PerplexityRun::chunk_scored`]); None when every chunk was done already.
    pub fn next_chunk_scored(&mut self, model: &Model) -> Result<Option<(Vec<f32>, Vec<u32>)>> {
        if self.done == self.n_chunk {
            return Ok(None);
        }
        let (logits, next) = self.chunk_scored(model, self.done)?;
        let n_vocab = model.config.n_vocab;
        for (row, &t) in logits.chunks(n_vocab).zip(&next) {
            let v = neg_log_prob(row, t as usize);
            self.nll += v;
            self.nll2 += v * v;
        }
        self.count += next.len();
        self.per_chunk.push((self.nll / self.count as f64).exp());
        self.done += 1;
        Ok(Some((logits, next)))
    }

    /// Chunk `i` evaluated, without counting it: the logits at positions n_ctx/2 … n_ctx−2
    /// (n_vocab each) and, for each, the token that follows (what [`crate::kl_divergence`]
    /// compares).
    pub fn chunk_scored(&self, model: &Model, i: usize) -> Result<(Vec<f32>, Vec<u32>)> {
        if i >= self.n_chunk {
            return Err(LlmError::Unsupported(format!("chunk {} of a run of {}", i + 1, self.n_chunk)));
        }
        let n_ctx = self.n_ctx;
        let (first, n_vocab) = (n_ctx / 2, model.config.n_vocab);
        let chunk = chunk_with_bos(model, &self.tokens, n_ctx, i);
        let logits = model.session(n_ctx)?.eval(&chunk)?;
        Ok((logits[first * n_vocab..(n_ctx - 1) * n_vocab].to_vec(), chunk[first + 1..].to_vec()))
    }

    /// The estimate over the chunks done so far (NaN before the first).
    pub fn result(&self) -> Perplexity {
        let count = self.count;
        let mean = self.nll / count as f64;
        let ppl = mean.exp();
        let var = self.nll2 / count as f64 - mean * mean;
        let plus_minus = if var > 0.0 && count > 1 { (var / (count - 1) as f64).sqrt() * ppl } else { 0.0 };
        Perplexity { ppl, plus_minus, count, per_chunk: self.per_chunk.clone() }
    }
}

//! How far a quantized model's next-token distribution is from the base model's, as
//! `llama-perplexity --kl-divergence` measures it (`tools/perplexity/perplexity.cpp`: the
//! uint16 `log_softmax` that writes the base file, the `log_softmax` that reads it, and
//! `kl_divergence`'s statistics). Positions are perplexity's: the second half of every chunk.
//!
//! The base log-probabilities are kept as llama.cpp keeps them in its `--kl-divergence-base` file:
//! per position a scale, the smallest log-probability (the largest logit − 16 at most) and one
//! 16-bit code per token, so the divergence is taken against the same rounded distribution
//! (tokens more than 16 nats below the top are left out of the sum, as there).

use crate::error::{LlmError, Result};
use crate::model::Model;
use crate::perplexity::PerplexityRun;

/// `llama-perplexity --kl-divergence-base` then `--kl-divergence`: the statistics of `model`
/// against `base` on `tokens` in chunks of `n_ctx` (at most `max_chunks`), chunk by chunk.
pub fn kl_divergence(base: &Model, model: &Model, tokens: &[u32], n_ctx: usize, max_chunks: Option<usize>) -> Result<KlSummary> {
    if base.config.n_vocab != model.config.n_vocab {
        return Err(LlmError::Unsupported(format!(
            "a KL divergence between vocabularies of {} and {} tokens",
            base.config.n_vocab, model.config.n_vocab
        )));
    }
    let mut base_run = PerplexityRun::new(base, tokens, n_ctx, max_chunks)?;
    let mut run = PerplexityRun::new(model, tokens, n_ctx, max_chunks)?;
    let mut kld = KlDivergence::default();
    while let Some((base_logits, next)) = base_run.next_chunk_scored(base)? {
        let (logits, _) = run.next_chunk_scored(model)?.expect("the same chunks as the base");
        kld.add_chunk(&logits, &base_chunk(&base_logits, base.config.n_vocab), &next);
    }
    Ok(kld.summary().expect("at least one chunk: PerplexityRun::new checks the text's length"))
}

/// A base chunk's scored logits as the positions' [`BaseLogProbs`].
pub fn base_chunk(logits: &[f32], n_vocab: usize) -> Vec<BaseLogProbs> {
    logits.chunks(n_vocab).map(BaseLogProbs::new).collect()
}

/// One position's base log-probabilities, as llama-perplexity stores them.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseLogProbs {
    scale: f32,
    min_log_prob: f32,
    codes: Vec<u16>,
}

/// `nearest_int` of perplexity.cpp: round half to even through the 1.5·2²³ trick.
fn nearest_int(v: f32) -> i32 {
    let bits = (v + 12_582_912.0f32).to_bits() as i32;
    (bits & 0x007f_ffff) - 0x0040_0000
}

impl BaseLogProbs {
    /// The base model's logits at one position, compressed as the uint16 `log_softmax` does.
    pub fn new(logits: &[f32]) -> BaseLogProbs {
        let max_logit = logits.iter().copied().fold(logits[0], f32::max);
        let min_logit = logits.iter().copied().fold(logits[0], f32::min).max(max_logit - 16.0);
        let sum_exp: f64 = logits.iter().map(|&l| (l - max_logit).exp() as f64).sum();
        let log_sum_exp = sum_exp.ln() as f32;
        let min_log_prob = min_logit - max_logit - log_sum_exp;
        let scale = (max_logit - min_logit) / 65535.0;
        let codes = if scale != 0.0 {
            let inv_scale = 1.0 / scale;
            logits.iter().map(|&l| if l > min_logit { nearest_int(inv_scale * (l - min_logit)) as u16 } else { 0 }).collect()
        } else {
            vec![0; logits.len()]
        };
        BaseLogProbs { scale, min_log_prob, codes }
    }

    fn log_prob(&self, token: usize) -> f32 {
        self.scale * self.codes[token] as f32 + self.min_log_prob
    }
}

/// The running sums of `kl_divergence_result` and every position's divergence and Δp.
#[derive(Debug, Clone, Default)]
pub struct KlDivergence {
    sum_nll: f64,
    sum_nll2: f64,
    sum_nll_base: f64,
    sum_nll_base2: f64,
    sum_nll_nll_base: f64,
    sum_kld: f64,
    sum_kld2: f64,
    sum_p_diff2: f64,
    sum_p_diff4: f64,
    n_same_top: usize,
    kld_values: Vec<f32>,
}

/// What the page and the CLI show of it (llama-perplexity's "KL divergence statistics" and the
/// last row of its per-chunk table).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KlSummary {
    pub positions: usize,
    pub mean_kld: f64,
    pub mean_kld_uncertainty: f64,
    pub median_kld: f64,
    pub kld_99: f64,
    pub max_kld: f64,
    /// Positions whose most likely token is the base model's, in percent.
    pub same_top_percent: f64,
    /// The root mean square of p(next token) − p_base(next token), in percent.
    pub rms_dp_percent: f64,
    /// exp(mean −log p) of the quantized model and of the (rounded) base, as llama-perplexity prints them.
    pub ppl_q: f64,
    pub ppl_base: f64,
}

/// `mean_and_uncertainty` of perplexity.cpp.
fn mean_and_uncertainty(sum: f64, sum2: f64, count: usize) -> (f64, f64) {
    if count < 1 {
        return (0.0, 0.0);
    }
    let f = sum / count as f64;
    let df = sum2 / count as f64 - f * f;
    (f, if df > 0.0 && count > 10 { (df / (count - 1) as f64).sqrt() } else { 0.0 })
}

/// `percentile` of perplexity.cpp: linear between the two nearest of the sorted values.
fn percentile(sorted: &[f32], fraction: f32) -> f32 {
    if fraction <= 0.0 {
        return sorted[0];
    }
    if fraction >= 1.0 {
        return sorted[sorted.len() - 1];
    }
    let mut p = fraction * (sorted.len() - 1) as f32;
    let ip = p as usize;
    p -= ip as f32;
    (1.0 - p) * sorted[ip] + p * sorted[(ip + 1).min(sorted.len() - 1)]
}

impl KlDivergence {
    /// One position: the quantized model's `logits`, the base's log-probabilities there and the
    /// token that follows (the reading `log_softmax` of perplexity.cpp, f32 where it is f32).
    pub fn add(&mut self, logits: &[f32], base: &BaseLogProbs, next: usize) {
        let (mut imax, mut max_logit) = (0, logits[0]);
        for (i, &l) in logits.iter().enumerate().skip(1) {
            if l > max_logit {
                max_logit = l;
                imax = i;
            }
        }
        let sum_exp: f64 = logits.iter().map(|&l| (l - max_logit).exp() as f64).sum();
        let log_sum_exp = sum_exp.ln() as f32;
        let nll = max_logit + log_sum_exp - logits[next];
        self.sum_nll += nll as f64;
        self.sum_nll2 += (nll * nll) as f64;
        let nll_base = -base.log_prob(next);
        self.sum_nll_base += nll_base as f64;
        self.sum_nll_base2 += (nll_base * nll_base) as f64;
        self.sum_nll_nll_base += (nll * nll_base) as f64;

        let log_norm = max_logit + log_sum_exp;
        let mut sum = 0f64;
        let (mut imax_base, mut p_log_base_max) = (0, 0f32);
        for (i, &l) in logits.iter().enumerate() {
            let p_log_base = base.log_prob(i);
            if i == 0 || p_log_base > p_log_base_max {
                p_log_base_max = p_log_base;
                imax_base = i;
            }
            if p_log_base > -16.0 {
                sum += (p_log_base.exp() * (p_log_base - l + log_norm)) as f64;
            }
        }
        self.sum_kld += sum;
        self.sum_kld2 += sum * sum;
        self.kld_values.push(sum as f32);
        self.n_same_top += (imax == imax_base) as usize;
        let p_diff = (-nll).exp() - (-nll_base).exp();
        let p_diff2 = (p_diff * p_diff) as f64;
        self.sum_p_diff2 += p_diff2;
        self.sum_p_diff4 += p_diff2 * p_diff2;
    }

    /// A chunk: its scored logits (n_vocab per position), the base's log-probabilities at the
    /// same positions and the tokens that follow them.
    pub fn add_chunk(&mut self, logits: &[f32], base: &[BaseLogProbs], next: &[u32]) {
        for ((l, b), &t) in logits.chunks(base.first().map_or(1, |b| b.codes.len())).zip(base).zip(next) {
            self.add(l, b, t as usize);
        }
    }

    pub fn positions(&self) -> usize {
        self.kld_values.len()
    }

    /// The statistics so far; None before the first position.
    pub fn summary(&self) -> Option<KlSummary> {
        let count = self.kld_values.len();
        if count == 0 {
            return None;
        }
        let mut sorted = self.kld_values.clone();
        sorted.sort_by(f32::total_cmp);
        let median = if count % 2 == 0 { 0.5 * (sorted[count / 2] + sorted[count / 2 - 1]) } else { sorted[count / 2] };
        let (mean_kld, mean_kld_uncertainty) = mean_and_uncertainty(self.sum_kld, self.sum_kld2, count);
        let (p_diff_mse, _) = mean_and_uncertainty(self.sum_p_diff2, self.sum_p_diff4, count);
        let (log_ppl, _) = mean_and_uncertainty(self.sum_nll, self.sum_nll2, count);
        let (log_ppl_base, _) = mean_and_uncertainty(self.sum_nll_base, self.sum_nll_base2, count);
        Some(KlSummary {
            positions: count,
            mean_kld,
            mean_kld_uncertainty,
            median_kld: median as f64,
            kld_99: percentile(&sorted, 0.99) as f64,
            max_kld: sorted[count - 1] as f64,
            same_top_percent: 100.0 * self.n_same_top as f64 / count as f64,
            rms_dp_percent: 100.0 * p_diff_mse.sqrt(),
            ppl_q: log_ppl.exp(),
            ppl_base: log_ppl_base.exp(),
        })
    }
}

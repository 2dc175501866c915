//! Text generation: a prompt evaluated once, then one token at a time, each picked from the last
//! logits and fed back through the KV cache.
//!
//! Greedy picks the first largest logit (llama.cpp's greedy sampler, `llama_sampler_greedy_apply`
//! in `src/llama-sampling.cpp`, keeps the first of equal maxima). Random sampling is quantscope's
//! own, seeded and reproducible across machines: top-k of the logits, softmax at the temperature
//! (in f64), and a SplitMix64 draw; it is not llama.cpp's `dist` sampler (whose std::mt19937 +
//! std::discrete_distribution stream is the C++ library's), so only greedy output is comparable.

use crate::error::{LlmError, Result};
use crate::model::{Model, Session};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    Greedy,
    /// `top_k` 0 keeps every token; `temperature` must be positive.
    Random {
        seed: u64,
        temperature: f32,
        top_k: usize,
    },
}

/// The index of the first largest value.
pub fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// SplitMix64 (Steele, Lea and Flood 2014): one u64 per call, a uniform f64 in [0, 1) from its
/// top 53 bits.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub struct Generator<'m> {
    session: Session<'m>,
    sampling: Sampling,
    rng: SplitMix64,
    /// The logits the next token is picked from.
    last: Vec<f32>,
    /// The token picked last, not yet evaluated (evaluated when another one is asked for).
    pending: Option<u32>,
}

impl<'m> Generator<'m> {
    /// Evaluates `prompt` (at least one token) in a context of `n_ctx` positions.
    pub fn new(model: &'m Model, prompt: &[u32], n_ctx: usize, sampling: Sampling) -> Result<Generator<'m>> {
        if prompt.is_empty() {
            return Err(LlmError::Unsupported("generation from an empty prompt (give at least one token, e.g. BOS)".into()));
        }
        let seed = match sampling {
            Sampling::Greedy => 0,
            Sampling::Random { seed, temperature, .. } => {
                if !(temperature.is_finite() && temperature > 0.0) {
                    return Err(LlmError::Unsupported(format!("sampling at temperature {temperature} (use greedy for 0)")));
                }
                seed
            }
        };
        let mut session = model.session(n_ctx)?;
        let last = session.eval_last(prompt)?;
        Ok(Generator { session, sampling, rng: SplitMix64(seed), last, pending: None })
    }

    /// The next token (its logits are computed when the token after it is asked for).
    pub fn next_token(&mut self) -> Result<u32> {
        if let Some(t) = self.pending.take() {
            match self.session.eval(&[t]) {
                Ok(l) => self.last = l,
                Err(e) => {
                    self.pending = Some(t);
                    return Err(e);
                }
            }
        }
        let t = self.pick() as u32;
        self.pending = Some(t);
        Ok(t)
    }

    /// Positions used so far (prompt and generated tokens evaluated).
    pub fn n_past(&self) -> usize {
        self.session.n_past()
    }

    fn pick(&mut self) -> usize {
        match self.sampling {
            Sampling::Greedy => argmax(&self.last),
            Sampling::Random { temperature, top_k, .. } => {
                let mut order: Vec<usize> = (0..self.last.len()).collect();
                // Largest first; equal logits keep id order, so the draw is the same everywhere.
                order.sort_by(|&a, &b| self.last[b].total_cmp(&self.last[a]).then(a.cmp(&b)));
                if top_k > 0 {
                    order.truncate(top_k);
                }
                let max = self.last[order[0]] as f64;
                let weights: Vec<f64> = order.iter().map(|&i| ((self.last[i] as f64 - max) / temperature as f64).exp()).collect();
                let total: f64 = weights.iter().sum();
                let mut r = self.rng.next_f64() * total;
                for (&i, &w) in order.iter().zip(&weights) {
                    if r < w {
                        return i;
                    }
                    r -= w;
                }
                *order.last().expect("at least one token")
            }
        }
    }
}

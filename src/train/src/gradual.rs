//! Gradual magnitude pruning (Zhu & Gupta 2017, "To prune, or not to prune"): while fine-tuning,
//! the run re-prunes every Δt steps to a sparsity that rises on a cubic from s_i to s_f over n
//! re-prunes, the masks held between re-prunes. The level is torch.ao's `CubicSL`
//! (torch 1.13, torch/ao/sparsity/scheduler/cubic_scheduler.py, `sparsity_compute_fn`); the
//! re-prune itself is the run's chosen one-shot method (`crate::prune::Method`).

use crate::prune::Method;
use crate::{Error, Result};

/// CubicSL's level at step `t`: `s_f + (s_i − s_f)·(1 − (t − t_0)/(n·Δt))³`, clamped to
/// [s_i, s_f] (torch's `_clamp(x, lo, hi) = max(lo, min(hi, x))`: s_i before t_0, s_f after
/// t_0 + n·Δt); with `initially_zero`, 0 before t_0.
pub fn cubic_sparsity(s_i: f64, s_f: f64, t: f64, t_0: f64, delta_t: f64, n: f64, initially_zero: bool) -> f64 {
    if initially_zero && t < t_0 {
        return 0.0;
    }
    let s_t = s_f + (s_i - s_f) * (1.0 - (t - t_0) / (delta_t * n)).powi(3);
    s_i.max(s_f.min(s_t))
}

/// A gradual pruning run's schedule: from `start` (the run's step when fine-tuning began, t_0),
/// re-prune with `method` at steps t_0 + k·Δt, k = 1..=n, to CubicSL's level there (s_i = 0);
/// the n-th re-prune reaches `final_sparsity`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub method: Method,
    pub final_sparsity: f64,
    pub start: u64,
    pub every: u64,
    pub count: u64,
}

impl Schedule {
    /// Refuses a schedule that makes no sense, with the reason: 2:4 (its sparsity is always
    /// 50 %: nothing to schedule), no re-prunes, a sparsity outside [0, 1).
    pub fn new(method: Method, final_sparsity: f64, start: u64, every: u64, count: u64) -> Result<Schedule> {
        if method == Method::TwoFour {
            return Err(Error::Config("2:4 sparsity is always 50 %: it has no schedule to follow, prune it one-shot".into()));
        }
        if !(0.0..1.0).contains(&final_sparsity) {
            return Err(Error::Config(format!("a final sparsity of {} %: choose 0 to less than 100 %", final_sparsity * 100.0)));
        }
        if every == 0 || count == 0 || every.saturating_mul(count) > 10_000_000 {
            return Err(Error::Config(format!("re-pruning {count} times every {every} steps: choose at least 1 of each")));
        }
        Ok(Schedule { method, final_sparsity, start, every, count })
    }

    /// The steps the schedule spans (n·Δt).
    pub fn span(&self) -> u64 {
        self.every * self.count
    }

    /// The level at the run's step `step` (CubicSL with s_i = 0, t_0 = `start`).
    pub fn level(&self, step: u64) -> f64 {
        cubic_sparsity(0.0, self.final_sparsity, step as f64, self.start as f64, self.every as f64, self.count as f64, false)
    }

    /// The level to re-prune to after the run's step `step`, if it is a re-prune step.
    pub fn due(&self, step: u64) -> Option<f64> {
        let t = step.checked_sub(self.start)?;
        (t > 0 && t % self.every == 0 && t <= self.span()).then(|| self.level(step))
    }
}

//! A trace of a few weights through quantization-aware training, for the Learn view's panel on
//! fake quantization and the straight-through estimator (STE). After each step, for each traced
//! weight of one layer: its float ("shadow") value the forward read, the fake-quantized value the
//! forward used, the scale and zero point of that step, its integer code, whether it was inside
//! the clamp range (the forward's STE mask), the gradient the STE passed to the float weight
//! (what the optimizer got) and the gradient before the mask.
//!
//! Everything is copied out of the trainer's own forward and backward (`Tape`, `Grads`, the
//! node's qparams); only the integer code is derived, by [`fake_quant::quantize_one`], the
//! function the forward itself runs. torch.ao's `FakeQuantize` only: an LSQ node's gradient is
//! not a mask, and FP32 has no fake quantization to show.

use crate::fake_quant::{self, QRange};
use crate::mlp::{Grads, Mlp, Node, Qat, Tape};
use crate::{Error, Result};

/// Steps a trace keeps at most (a run of 10 epochs of 125 steps fits; memory stays a few MB).
pub const MAX_STEPS: usize = 5000;
/// Weights a trace follows at most.
pub const MAX_WEIGHTS: usize = 256;
/// Values per weight and step in [`Trace::to_f32`].
pub const FIELDS: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The traced layer (0 is the first Linear).
    pub layer: usize,
    pub in_features: usize,
    pub range: QRange,
    /// How many weights to follow; chosen at the first recorded step (see [`choose`]).
    wanted: usize,
    /// Flat indices into the layer's `[out, in]` weight, ascending; empty until the first step.
    pub indices: Vec<usize>,
    /// The step each record is of (1 after the first).
    pub steps: Vec<u64>,
    /// Record-major: record `r`, weight `j` at `r · indices.len() + j`.
    pub float: Vec<f32>,
    pub fake: Vec<f32>,
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    pub code: Vec<i32>,
    /// The forward's STE mask: inside `[quant_min, quant_max]` before the clamp.
    pub inside: Vec<bool>,
    /// The gradient the optimizer got (after the STE mask).
    pub grad: Vec<f32>,
    /// The gradient before the STE mask.
    pub unmasked: Vec<f32>,
    /// The layer's whole weight gradient before the mask, filled by the backward each step.
    pub(crate) before_mask: Vec<f32>,
}

impl Trace {
    /// A trace of `count` weights of `layer` in a QAT run of `model` with observed nodes `qat`.
    pub fn new(model: &Mlp, qat: Option<&Qat>, layer: usize, count: usize) -> Result<Self> {
        let Some(qat) = qat else {
            return Err(Error::Config("an FP32 run has no fake quantization to trace: train with QAT".into()));
        };
        let Some(lin) = model.layers.get(layer) else {
            return Err(Error::Config(format!("layer {} does not exist: the model has {}", layer + 1, model.layers.len())));
        };
        let Node::Observed(node) = &qat.weights[layer] else {
            return Err(Error::Config("the trace follows torch.ao's FakeQuantize (observed scales), not LSQ".into()));
        };
        if count == 0 || count > MAX_WEIGHTS.min(lin.weight.len()) {
            return Err(Error::Config(format!("trace 1 to {} weights, not {count}", MAX_WEIGHTS.min(lin.weight.len()))));
        }
        Ok(Trace {
            layer,
            in_features: lin.in_features,
            range: node.range(),
            wanted: count,
            indices: Vec::new(),
            steps: Vec::new(),
            float: Vec::new(),
            fake: Vec::new(),
            scale: Vec::new(),
            zero_point: Vec::new(),
            code: Vec::new(),
            inside: Vec::new(),
            grad: Vec::new(),
            unmasked: Vec::new(),
            before_mask: Vec::new(),
        })
    }

    /// Records step `step` (called by the trainer after a step that did not diverge): `model` is
    /// the model the forward read (before the update), `qat` the nodes as the forward left them.
    pub(crate) fn record(&mut self, step: u64, model: &Mlp, qat: &Qat, tape: &Tape, grads: &Grads) {
        if self.steps.len() >= MAX_STEPS {
            return;
        }
        let l = self.layer;
        let weight = &model.layers[l].weight;
        let scales = qat.weights[l].scale();
        let Node::Observed(node) = &qat.weights[l] else { return };
        let zero_points = &node.zero_point;
        // Per tensor, or never observed: one scale for all (as the forward broadcasts it).
        let channel = |i: usize| if scales.len() > 1 { i / self.in_features } else { 0 };
        if self.indices.is_empty() {
            let position = |i: usize| weight[i] / scales[channel(i)];
            self.indices = choose(weight.len(), self.wanted, position, &self.before_mask);
        }
        self.steps.push(step);
        for &i in &self.indices {
            let (s, zp) = (scales[channel(i)], zero_points[channel(i)]);
            self.float.push(weight[i]);
            self.fake.push(tape.used_weights[l][i]);
            self.scale.push(s);
            self.zero_point.push(zp);
            self.code.push(fake_quant::quantize_one(weight[i], s, zp, self.range).0 as i32);
            self.inside.push(tape.weight_masks[l][i]);
            self.grad.push(grads[l].weight[i]);
            self.unmasked.push(self.before_mask[i]);
        }
    }

    /// The trace as one f32 array (every integer here is below 2^24, so exact), the trainer
    /// module's one export of it: `[layer, in_features, weights k, records n, quant_min,
    /// quant_max]`, then the k flat indices, the n steps, then per record and weight the
    /// [`FIELDS`] values `float, fake, scale, zero_point, code, inside (0/1), grad, unmasked`.
    pub fn to_f32(&self) -> Vec<f32> {
        let (k, n) = (self.indices.len(), self.steps.len());
        let mut out = Vec::with_capacity(6 + k + n + k * n * FIELDS);
        out.extend([self.layer as f32, self.in_features as f32, k as f32, n as f32]);
        out.extend([self.range.quant_min as f32, self.range.quant_max as f32]);
        out.extend(self.indices.iter().map(|&i| i as f32));
        out.extend(self.steps.iter().map(|&s| s as f32));
        for r in 0..k * n {
            out.extend([self.float[r], self.fake[r], self.scale[r], self.zero_point[r] as f32, self.code[r] as f32]);
            out.extend([if self.inside[r] { 1.0 } else { 0.0 }, self.grad[r], self.unmasked[r]]);
        }
        out
    }
}

/// The weights to follow, chosen at the first step from each weight's position `x / scale` on the
/// grid and its gradient: only weights with a gradient (a pixel that is always 0 gives its
/// weights none), a quarter of them the highest on the grid (the positive clamp edge, where
/// the largest weights leave the range as the observer's moving average lags behind them), one
/// in eight the lowest, the rest those nearest a rounding edge (halfway between two codes),
/// which cross a boundary soonest. Ascending indices.
fn choose(len: usize, count: usize, position: impl Fn(usize) -> f32, gradient: &[f32]) -> Vec<usize> {
    let mut live: Vec<usize> = (0..len).filter(|&i| gradient.get(i).is_some_and(|&g| g != 0.0) && position(i).is_finite()).collect();
    if live.len() < count {
        live = (0..len).collect(); // a layer with too few live weights: follow any
    }
    live.sort_by(|&a, &b| position(b).total_cmp(&position(a)));
    let high = count.div_ceil(4);
    let low = (count / 8).min(count - high);
    let mut chosen: Vec<usize> = live[..high].to_vec();
    chosen.extend(&live[live.len() - low..]);
    let middle = &live[high..live.len() - low];
    let mut near: Vec<usize> = middle.to_vec();
    let edge = |i: usize| ((position(i).abs().fract() - 0.5).abs(), i);
    near.sort_by(|&a, &b| edge(a).partial_cmp(&edge(b)).unwrap_or(std::cmp::Ordering::Equal));
    chosen.extend(near.into_iter().take(count - high - low));
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

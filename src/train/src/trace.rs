//! A trace of one neuron's weights through quantization-aware training, for the Learn view's
//! panel on fake quantization and the straight-through estimator (STE). After each step, for
//! each weight of row `row` (one output neuron) of one layer: its float ("shadow") value the
//! forward read, the fake-quantized value the forward used, whether it was inside the clamp
//! range (the forward's STE mask), the gradient the STE passed to the float weight (what the
//! optimizer got); and the row's scale and zero point at that step (one row shares them, per
//! tensor or per channel).
//!
//! Everything is copied out of the trainer's own forward and backward (`Tape`, `Grads`, the
//! node's qparams), nothing recomputed. torch.ao's `FakeQuantize` only: an LSQ node's gradient
//! is not a mask, and FP32 has no fake quantization to show. A whole row, not a choice of
//! weights: it holds the row's largest weight (at the clamp edge under per-channel scales)
//! and needs no selection code in the trainer module, whose size is budgeted; the page picks
//! which weights to draw.

use crate::fake_quant::QRange;
use crate::mlp::{Grads, Mlp, Node, Qat, Tape};
use crate::{Error, Result};

/// Values a trace may grow to (32 MB): a run longer than that is refused at the start.
pub const MAX_VALUES: usize = 1 << 23;
/// Values per record before its weights: `step, scale, zero_point`.
pub const RECORD_HEAD: usize = 3;
/// Values per weight and record: `float, fake, inside (0/1), grad`.
pub const FIELDS: usize = 4;
/// Values of [`Trace::to_f32`]'s header.
pub const HEADER: usize = 7;

/// One weight at one record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    pub step: u64,
    pub scale: f32,
    pub zero_point: i32,
    /// The float ("shadow") weight the forward read.
    pub float: f32,
    /// The fake-quantized weight the forward used.
    pub fake: f32,
    /// The forward's STE mask: inside `[quant_min, quant_max]` before the clamp.
    pub inside: bool,
    /// The gradient the optimizer got (after the STE mask).
    pub grad: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The traced layer (0 is the first Linear) and row (output neuron).
    pub layer: usize,
    pub row: usize,
    /// Weights in the row (the layer's `in_features`).
    pub width: usize,
    pub quant_min: i32,
    pub quant_max: i32,
    /// Per record: [`RECORD_HEAD`] values, then [`FIELDS`] per weight (the export's layout).
    values: Vec<f32>,
}

impl Trace {
    /// A trace of row `row` of layer `layer` in a QAT run of `model` with observed nodes `qat`
    /// that has `steps` steps to go (refused if their records would pass [`MAX_VALUES`]).
    pub fn new(model: &Mlp, qat: Option<&Qat>, layer: usize, row: usize, steps: u64) -> Result<Self> {
        // One message for every case keeps the trainer module small; each case has a test.
        let refused = || Error::Config("trace a neuron of a QAT run (not LSQ) of up to 32 MB of records".into());
        let (Some(qat), Some(lin)) = (qat, model.layers.get(layer)) else { return Err(refused()) };
        let fits = steps.saturating_mul((RECORD_HEAD + lin.in_features * FIELDS) as u64) <= MAX_VALUES as u64;
        let (Node::Observed(node), true) = (&qat.weights[layer], row < lin.out_features && fits) else { return Err(refused()) };
        let QRange { quant_min, quant_max } = node.range();
        Ok(Trace { layer, row, width: lin.in_features, quant_min, quant_max, values: Vec::new() })
    }

    fn stride(&self) -> usize {
        RECORD_HEAD + self.width * FIELDS
    }

    /// Records step `step` (called by the trainer after a step that did not diverge): `model` is
    /// the model the forward read (before the update), `qat` the nodes as the forward left them.
    #[inline(never)]
    pub(crate) fn record(&mut self, step: u64, model: &Mlp, qat: &Qat, tape: &Tape, grads: &Grads) {
        let l = self.layer;
        let Node::Observed(node) = &qat.weights[l] else { return };
        // Per tensor (or never observed): one scale for all, as the forward broadcasts it.
        let c = if node.scale.len() > 1 { self.row } else { 0 };
        self.values.extend([step as f32, node.scale[c], node.zero_point[c] as f32]);
        let span = self.row * self.width..(self.row + 1) * self.width;
        let float = &model.layers[l].weight[span.clone()];
        let fake = &tape.used_weights[l][span.clone()];
        let inside = &tape.weight_masks[l][span.clone()];
        let grad = &grads[l].weight[span];
        for (((&w, &f), &m), &g) in float.iter().zip(fake).zip(inside).zip(grad) {
            self.values.extend([w, f, m as u8 as f32, g]);
        }
    }

    /// Records so far.
    pub fn len(&self) -> usize {
        self.values.len() / self.stride()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Weight `j` of the row at record `r`.
    pub fn at(&self, r: usize, j: usize) -> Record {
        let head = &self.values[r * self.stride()..];
        let field = |f: usize| head[RECORD_HEAD + j * FIELDS + f];
        Record {
            step: head[0] as u64,
            scale: head[1],
            zero_point: head[2] as i32,
            float: field(0),
            fake: field(1),
            inside: field(2) != 0.0,
            grad: field(3),
        }
    }

    /// The records from `from` on as one f32 array (every integer in it is below 2^24, so
    /// exact), the trainer module's one export of a trace: `[layer, row, width, records,
    /// quant_min, quant_max, from]`, then per record its step, scale and zero point and the
    /// [`FIELDS`] values of each weight of the row.
    pub fn to_f32(&self, from: usize) -> Vec<f32> {
        let (layer, row, width, n) = (self.layer as f32, self.row as f32, self.width as f32, self.len() as f32);
        let mut out = vec![layer, row, width, n, self.quant_min as f32, self.quant_max as f32, from as f32];
        out.extend_from_slice(self.values.get(from * self.stride()..).unwrap_or_default());
        out
    }
}

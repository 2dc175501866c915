//! The network: Linear layers with ReLU between them (none after the last), weights `[out, in]`
//! row-major as `torch.nn.Linear` stores them, so `y = x · Wᵀ + b`.
//!
//! With [`Qat`] the forward is torch's eager QAT of the same model (`prepare_qat` of
//! QuantStub → (LinearReLU)* → Linear → DeQuantStub): the input is fake-quantized, each
//! layer's weight is fake-quantized before use (`nn.qat.Linear`: `F.linear(x,
//! weight_fake_quant(weight), bias)`), and each layer's output (after its ReLU) passes its
//! activation fake-quant. The backward applies each straight-through mask.

use crate::fake_quantize::FakeQuantize;
use crate::observer::QuantSpec;
use crate::rng::SplitMix64;
use crate::{Error, Result};

/// One fully connected layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub in_features: usize,
    pub out_features: usize,
    /// `[out_features, in_features]`, row-major.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Linear {
    pub fn zeros(in_features: usize, out_features: usize) -> Self {
        Linear { in_features, out_features, weight: vec![0.0; in_features * out_features], bias: vec![0.0; out_features] }
    }

    /// `torch.nn.Linear.reset_parameters`: `kaiming_uniform_(weight, a=√5)`, which is
    /// U(−1/√fan_in, 1/√fan_in), and the bias from the same bound, drawn from our SplitMix64
    /// (weights row by row, then the bias) instead of torch's Mersenne Twister.
    pub fn kaiming_uniform(in_features: usize, out_features: usize, rng: &mut SplitMix64) -> Self {
        // torch: gain = sqrt(2 / (1 + a²)), std = gain / sqrt(fan_in), bound = sqrt(3) · std (f64).
        let a = 5f64.sqrt();
        let gain = (2.0 / (1.0 + a * a)).sqrt();
        let bound = (3f64.sqrt() * gain / (in_features as f64).sqrt()) as f32;
        let bias_bound = (1.0 / (in_features as f64).sqrt()) as f32;
        let weight = (0..in_features * out_features).map(|_| rng.uniform(-bound, bound)).collect();
        let bias = (0..out_features).map(|_| rng.uniform(-bias_bound, bias_bound)).collect();
        Linear { in_features, out_features, weight, bias }
    }
}

/// The MLP: `sizes = [784, 100, 100, 10]` is the built-in model's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    pub layers: Vec<Linear>,
}

/// The gradients of an [`Mlp`]'s parameters: the same shapes, as Linear layers.
pub type Grads = Vec<Linear>;

impl Mlp {
    /// Refuses fewer than two sizes, a width of 0, and sizes whose weights would not fit memory sensibly.
    pub fn check_sizes(sizes: &[usize]) -> Result<()> {
        if sizes.len() < 2 {
            return Err(Error::Config(format!("an MLP needs an input and an output size, got {sizes:?}")));
        }
        if let Some(i) = sizes.iter().position(|&s| s == 0) {
            return Err(Error::Config(format!("layer size {i} of {sizes:?} is 0")));
        }
        let params: usize = sizes.windows(2).map(|w| w[0].saturating_mul(w[1]).saturating_add(w[1])).sum();
        if params > 16 << 20 {
            return Err(Error::Config(format!("{sizes:?} has {params} parameters; at most 16 Mi are trained here")));
        }
        Ok(())
    }

    /// A freshly initialised network (`nn.Linear`'s initialisation, layer by layer, from `seed`).
    pub fn new(sizes: &[usize], seed: u64) -> Result<Self> {
        Self::check_sizes(sizes)?;
        let mut rng = SplitMix64::new(seed);
        Ok(Mlp { layers: sizes.windows(2).map(|w| Linear::kaiming_uniform(w[0], w[1], &mut rng)).collect() })
    }

    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.layers[0].in_features];
        sizes.extend(self.layers.iter().map(|l| l.out_features));
        sizes
    }

    pub fn zero_grads(&self) -> Grads {
        self.layers.iter().map(|l| Linear::zeros(l.in_features, l.out_features)).collect()
    }

    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(|l| l.weight.len() + l.bias.len()).sum()
    }

    /// Whether every parameter is finite (a diverged run's weights are not kept).
    pub fn is_finite(&self) -> bool {
        self.layers.iter().all(|l| l.weight.iter().chain(&l.bias).all(|v| v.is_finite()))
    }
}

/// The fake-quant nodes of a QAT model: one on the input, one per weight, one per layer output.
#[derive(Debug, Clone, PartialEq)]
pub struct Qat {
    pub input: FakeQuantize,
    pub weights: Vec<FakeQuantize>,
    pub activations: Vec<FakeQuantize>,
}

impl Qat {
    /// Weights use `weight` (torch's default: signed, symmetric), activations and the input `activation`.
    pub fn new(layers: usize, weight: QuantSpec, activation: QuantSpec) -> Result<Self> {
        Ok(Qat {
            input: FakeQuantize::new(activation)?,
            weights: (0..layers).map(|_| FakeQuantize::new(weight)).collect::<Result<_>>()?,
            activations: (0..layers).map(|_| FakeQuantize::new(activation)).collect::<Result<_>>()?,
        })
    }

    /// `torch.ao.quantization.disable_observer` / `enable_observer` on every node.
    pub fn set_observers(&mut self, on: bool) {
        self.nodes_mut().for_each(|n| n.observer_enabled = on);
    }

    /// `disable_fake_quant` / `enable_fake_quant` on every node.
    pub fn set_fake_quant(&mut self, on: bool) {
        self.nodes_mut().for_each(|n| n.fake_quant_enabled = on);
    }

    fn nodes_mut(&mut self) -> impl Iterator<Item = &mut FakeQuantize> {
        std::iter::once(&mut self.input).chain(self.weights.iter_mut()).chain(self.activations.iter_mut())
    }
}

/// What the backward pass needs from the forward: each layer's input, the weights it used
/// (fake-quantized under QAT), the ReLU masks and the fake-quant masks.
#[derive(Debug, Default, Clone)]
pub struct Tape {
    pub batch: usize,
    /// Whether the forward ran with fake quantization (its masks and weights are then used).
    pub qat: bool,
    /// `inputs[l]`: layer l's input `[batch, in_l]`; `inputs[layers]` is the output (logits).
    pub inputs: Vec<Vec<f32>>,
    used_weights: Vec<Vec<f32>>,
    relu_masks: Vec<Vec<bool>>,
    weight_masks: Vec<Vec<bool>>,
    activation_masks: Vec<Vec<bool>>,
}

impl Tape {
    pub fn logits(&self) -> &[f32] {
        self.inputs.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

impl Mlp {
    /// Forward of `batch` rows of `x` (`[batch, sizes[0]]`); the logits are `tape.logits()`.
    /// Under QAT the observers of enabled nodes update, as torch's forward does in train mode.
    pub fn forward(&self, x: &[f32], batch: usize, mut qat: Option<&mut Qat>, tape: &mut Tape) {
        assert_eq!(x.len(), batch * self.layers[0].in_features, "input is not [batch, in_features]");
        let layers = self.layers.len();
        tape.batch = batch;
        tape.qat = qat.is_some();
        tape.inputs.resize(layers + 1, Vec::new());
        tape.used_weights.resize(layers, Vec::new());
        tape.relu_masks.resize(layers, Vec::new());
        tape.weight_masks.resize(layers, Vec::new());
        tape.activation_masks.resize(layers, Vec::new());
        let mut input_mask = vec![false; x.len()];
        tape.inputs[0].resize(x.len(), 0.0);
        match qat.as_deref_mut() {
            Some(q) => q.input.forward(x, 1, &mut tape.inputs[0], &mut input_mask),
            None => tape.inputs[0].copy_from_slice(x),
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let weight: &[f32] = match qat.as_deref_mut() {
                Some(q) => {
                    let used = &mut tape.used_weights[l];
                    used.resize(layer.weight.len(), 0.0);
                    tape.weight_masks[l].resize(layer.weight.len(), false);
                    q.weights[l].forward(&layer.weight, layer.out_features, used, &mut tape.weight_masks[l]);
                    used
                }
                None => &layer.weight,
            };
            let (before, after) = tape.inputs.split_at_mut(l + 1);
            let out = &mut after[0];
            out.resize(batch * layer.out_features, 0.0);
            linear_forward(&before[l], weight, &layer.bias, layer.in_features, layer.out_features, out);
            if l + 1 < layers {
                let mask = &mut tape.relu_masks[l];
                mask.resize(out.len(), false);
                for (v, m) in out.iter_mut().zip(mask.iter_mut()) {
                    *m = *v > 0.0;
                    if !*m {
                        *v = 0.0;
                    }
                }
            }
            if let Some(q) = qat.as_deref_mut() {
                let raw = out.clone();
                tape.activation_masks[l].resize(out.len(), false);
                q.activations[l].forward(&raw, 1, out, &mut tape.activation_masks[l]);
            }
        }
    }

    /// Backward from d loss / d logits into `grads` (overwritten). Returns nothing about the
    /// input: the digits are not trained.
    pub fn backward(&self, tape: &Tape, grad_logits: &[f32], grads: &mut Grads) {
        let layers = self.layers.len();
        let batch = tape.batch;
        let qat = tape.qat;
        let mut g = grad_logits.to_vec();
        for l in (0..layers).rev() {
            let layer = &self.layers[l];
            if qat {
                apply_ste_mask(&mut g, &tape.activation_masks[l]);
            }
            if l + 1 < layers {
                apply_mask(&mut g, &tape.relu_masks[l]);
            }
            let input = &tape.inputs[l];
            let grad = &mut grads[l];
            linear_weight_grad(&g, input, batch, layer.in_features, layer.out_features, &mut grad.weight, &mut grad.bias);
            if qat {
                apply_ste_mask(&mut grad.weight, &tape.weight_masks[l]);
            }
            if l > 0 {
                let weight = if qat { &tape.used_weights[l] } else { &layer.weight };
                let mut g_in = vec![0.0; batch * layer.in_features];
                linear_input_grad(&g, weight, batch, layer.in_features, layer.out_features, &mut g_in);
                g = g_in;
            }
        }
    }
}

/// Fake quant's straight-through mask, as torch multiplies it in (`dY * mask`: −0 stays signed).
fn apply_ste_mask(values: &mut [f32], mask: &[bool]) {
    for (v, &m) in values.iter_mut().zip(mask) {
        *v *= if m { 1.0 } else { 0.0 };
    }
}

/// ReLU's backward, as torch's `threshold_backward`: 0 where the output was not positive.
fn apply_mask(values: &mut [f32], mask: &[bool]) {
    for (v, &m) in values.iter_mut().zip(mask) {
        if !m {
            *v = 0.0;
        }
    }
}

/// Dot product with eight independent partial sums, so the compiler can vectorise it (SIMD128
/// in the page) without reassociating a single running sum.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

#[inline]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `out[n, o] = b[o] + Σ_i x[n, i] · w[o, i]`.
fn linear_forward(x: &[f32], w: &[f32], b: &[f32], fan_in: usize, fan_out: usize, out: &mut [f32]) {
    for (xr, orow) in x.chunks_exact(fan_in).zip(out.chunks_exact_mut(fan_out)) {
        for (o, (wr, bo)) in orow.iter_mut().zip(w.chunks_exact(fan_in).zip(b)) {
            *o = dot(xr, wr) + bo;
        }
    }
}

/// `dW[o, i] = Σ_n g[n, o] · x[n, i]`, `db[o] = Σ_n g[n, o]`.
fn linear_weight_grad(g: &[f32], x: &[f32], batch: usize, fan_in: usize, fan_out: usize, dw: &mut [f32], db: &mut [f32]) {
    dw.fill(0.0);
    db.fill(0.0);
    for n in 0..batch {
        let xr = &x[n * fan_in..(n + 1) * fan_in];
        let gr = &g[n * fan_out..(n + 1) * fan_out];
        for (o, &go) in gr.iter().enumerate() {
            if go != 0.0 {
                axpy(go, xr, &mut dw[o * fan_in..(o + 1) * fan_in]);
            }
            db[o] += go;
        }
    }
}

/// `dx[n, i] = Σ_o g[n, o] · w[o, i]`.
fn linear_input_grad(g: &[f32], w: &[f32], batch: usize, fan_in: usize, fan_out: usize, dx: &mut [f32]) {
    for n in 0..batch {
        let dxr = &mut dx[n * fan_in..(n + 1) * fan_in];
        for (o, &go) in g[n * fan_out..(n + 1) * fan_out].iter().enumerate() {
            if go != 0.0 {
                axpy(go, &w[o * fan_in..(o + 1) * fan_in], dxr);
            }
        }
    }
}

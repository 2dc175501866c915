//! The network: Linear layers with ReLU between them (none after the last), weights `[out, in]`
//! row-major as `torch.nn.Linear` stores them, so `y = x · Wᵀ + b`.
//!
//! With [`Qat`] the forward is torch's eager QAT of the same model (`prepare_qat` of
//! QuantStub → (LinearReLU)* → Linear → DeQuantStub): the input is fake-quantized, each
//! layer's weight is fake-quantized before use (`nn.qat.Linear`: `F.linear(x,
//! weight_fake_quant(weight), bias)`), and each layer's output (after its ReLU) passes its
//! activation fake-quant. The backward applies each straight-through mask. With LSQ nodes
//! ([`Node::Learned`], torch's `_LearnableFakeQuantize`) the backward also gives each node's
//! scale and zero point their gradients ([`Mlp::backward_learned`]).

use crate::fake_quantize::FakeQuantize;
use crate::lsq::LearnableFakeQuantize;
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

/// One fake-quant node: torch.ao's `FakeQuantize` (the observer sets the qparams) or LSQ's
/// `_LearnableFakeQuantize` (the qparams are learned).
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Observed(FakeQuantize),
    Learned(LearnableFakeQuantize),
}

impl Node {
    /// Forward of a row-major `[channels, inner]` tensor; `mask` is the straight-through mask.
    pub fn forward(&mut self, x: &[f32], channels: usize, out: &mut [f32], mask: &mut [bool]) {
        match self {
            Node::Observed(n) => n.forward(x, channels, out, mask),
            Node::Learned(n) => n.forward(x, channels, out, mask),
        }
    }

    /// The scales in use.
    pub fn scale(&self) -> &[f32] {
        match self {
            Node::Observed(n) => &n.scale,
            Node::Learned(n) => &n.scale,
        }
    }

    /// `disable_observer` / `enable_observer` (LSQ: its static estimate).
    pub fn set_observer(&mut self, on: bool) {
        match self {
            Node::Observed(n) => n.observer_enabled = on,
            Node::Learned(n) => n.static_enabled = on,
        }
    }

    pub fn set_fake_quant(&mut self, on: bool) {
        match self {
            Node::Observed(n) => n.fake_quant_enabled = on,
            Node::Learned(n) => n.fake_quant_enabled = on,
        }
    }
}

/// The fake-quant nodes of a QAT model: one on the input, one per weight, one per layer output.
#[derive(Debug, Clone, PartialEq)]
pub struct Qat {
    pub input: Node,
    pub weights: Vec<Node>,
    pub activations: Vec<Node>,
}

impl Qat {
    /// Weights use `weight` (torch's default: signed, symmetric), activations and the input `activation`.
    pub fn new(layers: usize, weight: QuantSpec, activation: QuantSpec) -> Result<Self> {
        let node = |spec| FakeQuantize::new(spec).map(Node::Observed);
        Ok(Qat {
            input: node(activation)?,
            weights: (0..layers).map(|_| node(weight)).collect::<Result<_>>()?,
            activations: (0..layers).map(|_| node(activation)).collect::<Result<_>>()?,
        })
    }

    /// LSQ nodes for layers of `out_features` outputs each (a weight's scales per output neuron
    /// when `weight` is per channel), in torch's static-estimate state, with `use_grad_scaling`.
    pub fn learned(out_features: &[usize], weight: QuantSpec, activation: QuantSpec, use_grad_scaling: bool) -> Result<Self> {
        let node = |spec, channels| LearnableFakeQuantize::new(spec, channels, use_grad_scaling).map(Node::Learned);
        Ok(Qat {
            input: node(activation, 1)?,
            weights: out_features.iter().map(|&o| node(weight, o)).collect::<Result<_>>()?,
            activations: out_features.iter().map(|_| node(activation, 1)).collect::<Result<_>>()?,
        })
    }

    /// `torch.ao.quantization.disable_observer` / `enable_observer` on every node.
    pub fn set_observers(&mut self, on: bool) {
        self.nodes_mut().for_each(|n| n.set_observer(on));
    }

    /// `disable_fake_quant` / `enable_fake_quant` on every node.
    pub fn set_fake_quant(&mut self, on: bool) {
        self.nodes_mut().for_each(|n| n.set_fake_quant(on));
    }

    /// LSQ's `enable_param_learning` on every learned node.
    pub fn enable_param_learning(&mut self) {
        for n in self.nodes_mut() {
            if let Node::Learned(n) = n {
                n.enable_param_learning();
            }
        }
    }

    /// Whether any node learns its qparams now.
    pub fn learning(&self) -> bool {
        self.nodes().any(|n| matches!(n, Node::Learned(l) if l.learning_enabled))
    }

    /// Input, weights in layer order, then activations in layer order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        std::iter::once(&self.input).chain(self.weights.iter()).chain(self.activations.iter())
    }

    pub fn nodes_mut(&mut self) -> impl Iterator<Item = &mut Node> {
        std::iter::once(&mut self.input).chain(self.weights.iter_mut()).chain(self.activations.iter_mut())
    }

    /// The learned parameters, scale then zero point of each node in [`Qat::nodes`] order (none for
    /// observed nodes): what the optimizer updates.
    pub fn learned_params_mut(&mut self) -> Vec<&mut Vec<f32>> {
        let mut params = Vec::new();
        for n in self.nodes_mut() {
            if let Node::Learned(l) = n {
                params.push(&mut l.scale);
                params.push(&mut l.zero_point);
            }
        }
        params
    }

    /// Zeroed gradients for [`Qat::learned_params_mut`], in the same order.
    pub fn zero_learned_grads(&self) -> Vec<Vec<f32>> {
        let mut grads = Vec::new();
        for n in self.nodes() {
            if let Node::Learned(l) = n {
                grads.push(vec![0.0; l.scale.len()]);
                grads.push(vec![0.0; l.zero_point.len()]);
            }
        }
        grads
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
    /// Under QAT, the inputs of the activation nodes (each layer's output before its fake quant),
    /// and the digits before the input node: LSQ's backward needs them.
    raw_activations: Vec<Vec<f32>>,
    raw_input: Vec<f32>,
    pub(crate) used_weights: Vec<Vec<f32>>,
    relu_masks: Vec<Vec<bool>>,
    pub(crate) weight_masks: Vec<Vec<bool>>,
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
        tape.raw_activations.resize(layers, Vec::new());
        let mut input_mask = vec![false; x.len()];
        tape.inputs[0].resize(x.len(), 0.0);
        match qat.as_deref_mut() {
            Some(q) => {
                tape.raw_input.clear();
                tape.raw_input.extend_from_slice(x);
                q.input.forward(x, 1, &mut tape.inputs[0], &mut input_mask)
            }
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
                let raw = &mut tape.raw_activations[l];
                raw.clear();
                raw.extend_from_slice(out);
                tape.activation_masks[l].resize(out.len(), false);
                q.activations[l].forward(raw, 1, out, &mut tape.activation_masks[l]);
            }
        }
    }

    /// Backward from d loss / d logits into `grads` (overwritten). Returns nothing about the
    /// input: the digits are not trained. Under QAT with observed nodes, the straight-through masks.
    pub fn backward(&self, tape: &Tape, grad_logits: &[f32], grads: &mut Grads) {
        self.backward_inner(tape, grad_logits, grads, None);
    }

    /// The backward of a forward through `qat` (the nodes as that forward left them): learned
    /// (LSQ) nodes pass gradients by their own backward and write their scale's and zero point's
    /// gradients into `qparam_grads` (the order of [`Qat::learned_params_mut`]).
    pub fn backward_learned(&self, tape: &Tape, grad_logits: &[f32], grads: &mut Grads, qat: &Qat, qparam_grads: &mut [Vec<f32>]) {
        self.backward_inner(tape, grad_logits, grads, Some((qat, qparam_grads)));
    }

    fn backward_inner(&self, tape: &Tape, grad_logits: &[f32], grads: &mut Grads, mut nodes: Option<(&Qat, &mut [Vec<f32>])>) {
        let layers = self.layers.len();
        let batch = tape.batch;
        let qat = tape.qat;
        // Where each learned node's (scale, zero point) gradients go in `qparam_grads`.
        let slots = nodes.as_ref().map(|(q, _)| learned_slots(q));
        let mut g = grad_logits.to_vec();
        for l in (0..layers).rev() {
            let layer = &self.layers[l];
            if qat {
                let raw = tape.raw_activations.get(l).map(Vec::as_slice).unwrap_or(&[]);
                node_backward(
                    &mut nodes,
                    slots.as_ref().map(|s| s.activations[l]),
                    &|q| &q.activations[l],
                    raw,
                    1,
                    &mut g,
                    &tape.activation_masks[l],
                );
            }
            if l + 1 < layers {
                apply_mask(&mut g, &tape.relu_masks[l]);
            }
            let input = &tape.inputs[l];
            let grad = &mut grads[l];
            linear_weight_grad(&g, input, batch, layer.in_features, layer.out_features, &mut grad.weight, &mut grad.bias);
            if qat {
                let slot = slots.as_ref().map(|s| s.weights[l]);
                node_backward(
                    &mut nodes,
                    slot,
                    &|q| &q.weights[l],
                    &layer.weight,
                    layer.out_features,
                    &mut grad.weight,
                    &tape.weight_masks[l],
                );
            }
            // The input of layer 0 needs a gradient only for a learned input node's qparams.
            let input_node_learns = l == 0 && slots.as_ref().is_some_and(|s| s.input.is_some());
            if l > 0 || input_node_learns {
                let weight = if qat { &tape.used_weights[l] } else { &layer.weight };
                let mut g_in = vec![0.0; batch * layer.in_features];
                linear_input_grad(&g, weight, batch, layer.in_features, layer.out_features, &mut g_in);
                g = g_in;
            }
            if input_node_learns {
                node_backward(&mut nodes, slots.as_ref().map(|s| s.input), &|q| &q.input, &tape.raw_input, 1, &mut g, &[]);
            }
        }
    }
}

/// Indices into `qparam_grads` of each learned node's scale gradient (its zero point's follows).
pub(crate) struct LearnedSlots {
    pub(crate) input: Option<usize>,
    pub(crate) weights: Vec<Option<usize>>,
    pub(crate) activations: Vec<Option<usize>>,
}

pub(crate) fn learned_slots(q: &Qat) -> LearnedSlots {
    let mut next = 0;
    let mut slot = |n: &Node| {
        matches!(n, Node::Learned(_)).then(|| {
            next += 2;
            next - 2
        })
    };
    let input = slot(&q.input);
    let weights = q.weights.iter().map(&mut slot).collect();
    let activations = q.activations.iter().map(&mut slot).collect();
    LearnedSlots { input, weights, activations }
}

/// One node's backward in place on `g` (d loss / d its output → d loss / d its input `x`): a
/// learned node runs LSQ's backward and writes its qparams' gradients into slot `slot`; an
/// observed node (or any node when no learned gradients are asked for) applies its STE mask.
pub(crate) fn node_backward(
    nodes: &mut Option<(&Qat, &mut [Vec<f32>])>,
    slot: Option<Option<usize>>,
    pick: &dyn Fn(&Qat) -> &Node,
    x: &[f32],
    channels: usize,
    g: &mut Vec<f32>,
    mask: &[bool],
) {
    if let (Some((qat, out)), Some(Some(at))) = (nodes.as_mut(), slot) {
        if let Node::Learned(n) = pick(qat) {
            let mut dx = vec![0.0; g.len()];
            let (scale, rest) = out[at..].split_at_mut(1);
            n.backward(x, channels, g, &mut dx, &mut scale[0], &mut rest[0]);
            *g = dx;
            return;
        }
    }
    apply_ste_mask(g, mask);
}

/// Fake quant's straight-through mask, as torch multiplies it in (`dY * mask`: −0 stays signed).
pub(crate) fn apply_ste_mask(values: &mut [f32], mask: &[bool]) {
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
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
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
pub(crate) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `out[n, o] = b[o] + Σ_i x[n, i] · w[o, i]`.
pub(crate) fn linear_forward(x: &[f32], w: &[f32], b: &[f32], fan_in: usize, fan_out: usize, out: &mut [f32]) {
    for (xr, orow) in x.chunks_exact(fan_in).zip(out.chunks_exact_mut(fan_out)) {
        for (o, (wr, bo)) in orow.iter_mut().zip(w.chunks_exact(fan_in).zip(b)) {
            *o = dot(xr, wr) + bo;
        }
    }
}

/// `dW[o, i] = Σ_n g[n, o] · x[n, i]`, `db[o] = Σ_n g[n, o]`.
pub(crate) fn linear_weight_grad(g: &[f32], x: &[f32], batch: usize, fan_in: usize, fan_out: usize, dw: &mut [f32], db: &mut [f32]) {
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
pub(crate) fn linear_input_grad(g: &[f32], w: &[f32], batch: usize, fan_in: usize, fan_out: usize, dx: &mut [f32]) {
    for n in 0..batch {
        let dxr = &mut dx[n * fan_in..(n + 1) * fan_in];
        for (o, &go) in g[n * fan_out..(n + 1) * fan_out].iter().enumerate() {
            if go != 0.0 {
                axpy(go, &w[o * fan_in..(o + 1) * fan_in], dxr);
            }
        }
    }
}

//! A small convolutional network as a sequence of layers ([`Layer`]): `Conv2d`, `ReLU`,
//! `MaxPool2d`, `Flatten` and `Linear`, in torch's NCHW layout, so the same weights give the same
//! outputs as an `nn.Sequential` of those modules. [`ConvNet::digits`] is the one the page trains:
//! 1×28×28 → Conv2d(1→8, 5×5) → ReLU → MaxPool2d(2) → Conv2d(8→16, 5×5) → ReLU → MaxPool2d(2) →
//! Flatten → Linear(256→10), 5,994 parameters.
//!
//! A convolution is three matrix products per sample, as torch's `slow_conv2d` computes them
//! (aten/src/ATen/native/ConvolutionMM2d.cpp): the output `W [O, C·k·k] × patches + b`, the
//! weight gradient `dY × patchesᵀ`, the input gradient col2im(`Wᵀ × dY`), where the patches are
//! the columns of the im2col matrix `[C·k·k, Ho·Wo]`, and no patch matrix is stored: the forward
//! runs on the gemm crate's SIMD128 tile reading the patches from the input (`conv_gemm.rs`); the
//! backward walks only the output gradient's nonzeros, read straight from the max pool's argmax
//! behind `ReLU → MaxPool2d` (`conv_sparse.rs`; the same sums as the dense products).
//!
//! With a [`Qat`] the forward is torch's eager QAT of the same model after `fuse_modules_qat`
//! (Conv2d + ReLU → `nni.ConvReLU2d`) and `prepare_qat` (torch/ao/quantization/quantize.py
//! `_add_observer_`): the QuantStub's fake quant on the input; each Conv2d's and Linear's weight
//! fake-quantized (per channel: one scale per output channel, axis 0) before use; one activation
//! fake quant on each such module's output, after the ReLU it is fused with. MaxPool2d and Flatten
//! get none (they are not in torch's default qconfig propagation list: a max of values on the grid
//! stays on it). The backward applies each straight-through mask; with LSQ's learned nodes
//! (`ConvNet::qat_learned`) [`ConvNet::backward_learned`] runs each node's own backward.

use crate::conv_gemm;
use crate::conv_sparse;
use crate::mlp::{learned_slots, linear_forward, linear_input_grad, linear_weight_grad, node_backward, Linear, Qat};
use crate::observer::QuantSpec;
use crate::rng::SplitMix64;
use crate::{Error, Result};

// The feature-map shape lives with the products that walk it (conv_gemm.rs), so that module
// needs nothing from this one.
pub use crate::conv_gemm::Shape;

/// `nn.Conv2d(in_channels, out_channels, kernel)` with stride 1, no padding, a bias.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    /// `[out_channels, in_channels, kernel, kernel]`, row-major, as torch stores it.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Conv2d {
    /// `nn.Conv2d.reset_parameters` (torch/nn/modules/conv.py `_ConvNd`): `kaiming_uniform_(weight,
    /// a=√5)` with fan_in = in_channels·k·k, which is U(−1/√fan_in, 1/√fan_in), and the bias from
    /// the same bound; drawn from our SplitMix64 as [`Linear::kaiming_uniform`] draws.
    pub fn kaiming_uniform(in_channels: usize, out_channels: usize, kernel: usize, rng: &mut SplitMix64) -> Self {
        let fan_in = in_channels * kernel * kernel;
        let linear = Linear::kaiming_uniform(fan_in, out_channels, rng);
        Conv2d { in_channels, out_channels, kernel, weight: linear.weight, bias: linear.bias }
    }

    /// Columns of the patch matrix per input row: `in_channels · k · k`.
    pub fn fan_in(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }
}

/// One layer of a [`ConvNet`].
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    Conv2d(Conv2d),
    Relu,
    /// `nn.MaxPool2d(k)`: a k×k window, stride k, no padding, the border that does not fill a window dropped.
    MaxPool2d(usize),
    /// `nn.Flatten()`: `[C, H, W]` → `[C·H·W]` (NCHW's order, so nothing moves).
    Flatten,
    /// Takes a flattened input.
    Linear(Linear),
}

impl Layer {
    /// The output shape for `input`, or why the layer does not fit it.
    fn output(&self, input: Shape, at: usize) -> Result<Shape> {
        let bad = |why: String| Err(Error::Config(format!("layer {at}: {why}")));
        match self {
            Layer::Conv2d(c) => {
                if c.kernel == 0 || c.in_channels == 0 || c.out_channels == 0 {
                    return bad("a convolution needs channels and a kernel of at least 1".into());
                }
                if c.in_channels != input.channels {
                    return bad(format!("a convolution of {} input channels gets {}", c.in_channels, input.channels));
                }
                if c.kernel > input.height || c.kernel > input.width {
                    return bad(format!("a {k}×{k} kernel does not fit a {}×{} input", input.height, input.width, k = c.kernel));
                }
                if c.weight.len() != c.out_channels * c.fan_in() || c.bias.len() != c.out_channels {
                    return bad("the convolution's weight or bias has the wrong length".into());
                }
                Ok(Shape { channels: c.out_channels, height: input.height - c.kernel + 1, width: input.width - c.kernel + 1 })
            }
            Layer::Relu => Ok(input),
            Layer::MaxPool2d(k) => {
                if *k == 0 || *k > input.height || *k > input.width {
                    return bad(format!("a {k}×{k} pool does not fit a {}×{} input", input.height, input.width));
                }
                Ok(Shape { channels: input.channels, height: input.height / k, width: input.width / k })
            }
            Layer::Flatten => Ok(Shape { channels: input.len(), height: 1, width: 1 }),
            Layer::Linear(l) => {
                if input.height != 1 || input.width != 1 {
                    return bad("a Linear layer needs a flattened input: put Flatten before it".into());
                }
                if l.in_features != input.channels {
                    return bad(format!("a Linear layer of {} inputs gets {}", l.in_features, input.channels));
                }
                if l.out_features == 0 || l.weight.len() != l.in_features * l.out_features || l.bias.len() != l.out_features {
                    return bad("the Linear layer's weight or bias has the wrong length".into());
                }
                Ok(Shape { channels: l.out_features, height: 1, width: 1 })
            }
        }
    }
}

/// A network of [`Layer`]s on `[batch, C, H, W]` inputs, ending in a flat `[batch, classes]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvNet {
    pub input: Shape,
    pub layers: Vec<Layer>,
}

/// The digits' shape as the conv net takes them: one channel of 28×28.
pub const DIGIT: Shape = Shape { channels: 1, height: 28, width: 28 };

impl ConvNet {
    /// Checks that every layer fits the shape before it and that the output is flat.
    pub fn new(input: Shape, layers: Vec<Layer>) -> Result<Self> {
        let net = ConvNet { input, layers };
        let out = net.shapes()?.pop().expect("shapes has the input");
        if out.height != 1 || out.width != 1 {
            return Err(Error::Config(format!(
                "the network ends in a {}×{}×{} map: flatten it into a Linear layer",
                out.channels, out.height, out.width
            )));
        }
        Ok(net)
    }

    /// The conv net the page trains on the 28×28 digits (see the module doc), initialised as torch's
    /// modules are, in construction order, from `seed`.
    pub fn digits(seed: u64) -> Self {
        let rng = std::cell::RefCell::new(SplitMix64::new(seed));
        Self::digits_with(
            |c, o, k| Conv2d::kaiming_uniform(c, o, k, &mut rng.borrow_mut()),
            |i, o| Linear::kaiming_uniform(i, o, &mut rng.borrow_mut()),
        )
    }

    /// The same net with every parameter 0, to be filled (the Train export module's, which so
    /// links no initialisation).
    pub fn digits_zeros() -> Self {
        let conv = |c: usize, o: usize, k: usize| Conv2d {
            in_channels: c,
            out_channels: o,
            kernel: k,
            weight: vec![0.0; o * c * k * k],
            bias: vec![0.0; o],
        };
        Self::digits_with(conv, Linear::zeros)
    }

    /// The digits' net, its layers made in torch's construction order by `conv(in, out, kernel)`
    /// and `linear(in, out)`. Its shapes fit (`tests/conv_trainer.rs` checks them), so it is not
    /// checked again here.
    fn digits_with(mut conv: impl FnMut(usize, usize, usize) -> Conv2d, linear: impl FnOnce(usize, usize) -> Linear) -> Self {
        let conv1 = conv(1, 8, 5);
        let conv2 = conv(8, 16, 5);
        let fc = linear(16 * 4 * 4, 10);
        let layers = vec![
            Layer::Conv2d(conv1),
            Layer::Relu,
            Layer::MaxPool2d(2),
            Layer::Conv2d(conv2),
            Layer::Relu,
            Layer::MaxPool2d(2),
            Layer::Flatten,
            Layer::Linear(fc),
        ];
        ConvNet { input: DIGIT, layers }
    }

    /// The input's shape, then each layer's output shape.
    pub fn shapes(&self) -> Result<Vec<Shape>> {
        if self.input.is_empty() {
            return Err(Error::Config("the input shape has no pixels".into()));
        }
        if self.layers.is_empty() {
            return Err(Error::Config("a network needs at least one layer".into()));
        }
        let mut shapes = vec![self.input];
        for (i, layer) in self.layers.iter().enumerate() {
            let next = layer.output(*shapes.last().unwrap(), i)?;
            shapes.push(next);
        }
        Ok(shapes)
    }

    /// Values per sample of the input, and the classes (the last layer's outputs).
    pub fn input_size(&self) -> usize {
        self.input.len()
    }

    pub fn classes(&self) -> usize {
        self.shapes().ok().and_then(|s| s.last().copied()).map_or(0, |s| s.len())
    }

    /// The parameters in torch's `model.parameters()` order: each Conv2d's or Linear's weight, then its bias.
    pub fn params(&self) -> Vec<&Vec<f32>> {
        let mut params = Vec::new();
        for layer in &self.layers {
            match layer {
                Layer::Conv2d(c) => params.extend([&c.weight, &c.bias]),
                Layer::Linear(l) => params.extend([&l.weight, &l.bias]),
                _ => {}
            }
        }
        params
    }

    pub fn params_mut(&mut self) -> Vec<&mut Vec<f32>> {
        let mut params = Vec::new();
        for layer in &mut self.layers {
            match layer {
                Layer::Conv2d(c) => params.extend([&mut c.weight, &mut c.bias]),
                Layer::Linear(l) => params.extend([&mut l.weight, &mut l.bias]),
                _ => {}
            }
        }
        params
    }

    /// The layer after which each parameter layer's activation fake quant sits (its own index, or
    /// the next one's when a ReLU follows: torch's fused ConvReLU2d / LinearReLU), in order.
    pub fn activation_points(&self) -> Vec<usize> {
        let mut points = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if matches!(layer, Layer::Conv2d(_) | Layer::Linear(_)) {
                points.push(if self.layers.get(i + 1) == Some(&Layer::Relu) { i + 1 } else { i });
            }
        }
        points
    }

    /// torch.ao's fake-quant nodes for this net (`prepare_qat`): the input, one weight node and one
    /// activation node per Conv2d or Linear.
    pub fn qat(&self, weight: QuantSpec, activation: QuantSpec) -> Result<Qat> {
        Qat::new(self.activation_points().len(), weight, activation)
    }

    /// Zeroed gradients, one per [`ConvNet::params`] tensor.
    pub fn zero_grads(&self) -> Vec<Vec<f32>> {
        self.params().iter().map(|p| vec![0.0; p.len()]).collect()
    }

    pub fn parameter_count(&self) -> usize {
        self.params().iter().map(|p| p.len()).sum()
    }

    pub fn is_finite(&self) -> bool {
        self.params().iter().all(|p| p.iter().all(|v| v.is_finite()))
    }
}

/// What the backward needs from the forward: every layer's input (`acts[i]`, `[batch, shape_i]`;
/// `acts[layers]` is the logits; under QAT each after its fake quant), each ReLU's mask, each max
/// pool's chosen input per output, and under QAT the weights used and the STE masks.
#[derive(Debug, Default, Clone)]
pub struct ConvTape {
    pub batch: usize,
    pub qat: bool,
    pub acts: Vec<Vec<f32>>,
    relu_masks: Vec<Vec<bool>>,
    /// Per parameter layer (under QAT): the fake-quantized weight, its mask, the output's mask.
    used_weights: Vec<Vec<f32>>,
    weight_masks: Vec<Vec<bool>>,
    activation_masks: Vec<Vec<bool>>,
    /// Under QAT, the inputs of the input node and of the activation nodes (before their fake
    /// quant): LSQ's backward needs them.
    raw_input: Vec<f32>,
    raw_activations: Vec<Vec<f32>>,
    /// Per max-pool layer, the input index (within its sample) each output took.
    pub argmax: Vec<Vec<u32>>,
}

impl ConvTape {
    pub fn logits(&self) -> &[f32] {
        self.acts.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

impl ConvNet {
    /// Forward of `batch` samples of `x` (`[batch, C, H, W]`); the logits are `tape.logits()`.
    /// Under QAT (`qat` from [`ConvNet::qat`]) the observers of enabled nodes update, as torch's
    /// forward does in train mode.
    pub fn forward(&self, x: &[f32], batch: usize, mut qat: Option<&mut Qat>, tape: &mut ConvTape) {
        let shapes = self.shapes().expect("a ConvNet is checked when made");
        assert_eq!(x.len(), batch * self.input.len(), "input is not [batch, C, H, W]");
        let layers = self.layers.len();
        let points = self.activation_points();
        if let Some(q) = qat.as_deref() {
            assert_eq!(q.weights.len(), points.len(), "the QAT nodes are not this net's");
        }
        tape.batch = batch;
        tape.qat = qat.is_some();
        tape.acts.resize(layers + 1, Vec::new());
        tape.argmax.resize(layers, Vec::new());
        tape.relu_masks.resize(layers, Vec::new());
        tape.used_weights.resize(points.len(), Vec::new());
        tape.weight_masks.resize(points.len(), Vec::new());
        tape.activation_masks.resize(points.len(), Vec::new());
        tape.raw_activations.resize(points.len(), Vec::new());
        tape.acts[0].resize(x.len(), 0.0);
        match qat.as_deref_mut() {
            // The input node's mask is not needed: the digits get no gradient (an LSQ input node's
            // scale does, from the raw input).
            Some(q) => {
                tape.raw_input.clear();
                tape.raw_input.extend_from_slice(x);
                q.input.forward(x, 1, &mut tape.acts[0], &mut vec![false; x.len()])
            }
            None => tape.acts[0].copy_from_slice(x),
        }
        let mut param = 0;
        for (i, layer) in self.layers.iter().enumerate() {
            let (before, after) = tape.acts.split_at_mut(i + 1);
            let (input, out) = (&before[i], &mut after[0]);
            let (si, so) = (shapes[i], shapes[i + 1]);
            out.resize(batch * so.len(), 0.0);
            // The weight as used: fake-quantized per output channel (rows of [out, fan_in]) under QAT.
            let (used, mask) = (tape.used_weights.get_mut(param), tape.weight_masks.get_mut(param));
            let weight_of = |w: &[f32], rows: usize| -> Option<Vec<f32>> {
                let (q, used, mask) = (qat.as_deref_mut()?, used?, mask?);
                used.resize(w.len(), 0.0);
                mask.resize(w.len(), false);
                q.weights[param].forward(w, rows, used, mask);
                Some(used.clone())
            };
            match layer {
                Layer::Conv2d(c) => {
                    let quantized = weight_of(&c.weight, c.out_channels);
                    let weight = quantized.as_deref().unwrap_or(&c.weight);
                    for (xn, on) in input.chunks_exact(si.len()).zip(out.chunks_exact_mut(so.len())) {
                        conv_gemm::forward(weight, &c.bias, xn, si, c.kernel, on);
                    }
                }
                Layer::Relu => {
                    let mask = &mut tape.relu_masks[i];
                    mask.resize(out.len(), false);
                    relu(input, out, mask);
                }
                Layer::MaxPool2d(k) => {
                    let argmax = &mut tape.argmax[i];
                    argmax.resize(out.len(), 0);
                    max_pool(input, si, so, *k, out, argmax);
                }
                Layer::Flatten => out.copy_from_slice(input),
                Layer::Linear(l) => {
                    let quantized = weight_of(&l.weight, l.out_features);
                    let weight = quantized.as_deref().unwrap_or(&l.weight);
                    linear_forward(input, weight, &l.bias, l.in_features, l.out_features, out);
                }
            }
            if param < points.len() && points[param] == i {
                if let Some(q) = qat.as_deref_mut() {
                    let raw = &mut tape.raw_activations[param];
                    raw.clear();
                    raw.extend_from_slice(out);
                    let mask = &mut tape.activation_masks[param];
                    mask.resize(out.len(), false);
                    q.activations[param].forward(raw, 1, out, mask);
                }
                param += 1;
            }
        }
    }

    /// Backward from d loss / d logits into `grads` (one per [`ConvNet::params`] tensor,
    /// overwritten). The input (the digits) gets no gradient. After a QAT forward, the
    /// straight-through masks of its nodes.
    pub fn backward(&self, tape: &ConvTape, grad_logits: &[f32], grads: &mut [Vec<f32>]) {
        self.backward_inner(tape, grad_logits, grads, None);
    }

    /// The backward of a forward through `qat` (the nodes as that forward left them), as
    /// `Mlp::backward_learned`: learned (LSQ) nodes pass gradients by their own backward and write
    /// their scale's and zero point's gradients into `qparam_grads` (`Qat::learned_params_mut`'s order).
    pub fn backward_learned(&self, tape: &ConvTape, grad_logits: &[f32], grads: &mut [Vec<f32>], qat: &Qat, qparam_grads: &mut [Vec<f32>]) {
        self.backward_inner(tape, grad_logits, grads, Some((qat, qparam_grads)));
    }

    fn backward_inner(&self, tape: &ConvTape, grad_logits: &[f32], grads: &mut [Vec<f32>], mut nodes: Option<(&Qat, &mut [Vec<f32>])>) {
        let slots = nodes.as_ref().map(|(q, _)| learned_slots(q));
        // A learned input node needs the gradient of the first layer's input.
        let input_learns = slots.as_ref().is_some_and(|s| s.input.is_some());
        let shapes = self.shapes().expect("a ConvNet is checked when made");
        let points = self.activation_points();
        let batch = tape.batch;
        let mut slot = grads.len();
        let mut param = points.len();
        let mut g = grad_logits.to_vec();
        let (mut panels, mut taps, mut entries, mut scratch) =
            (Vec::new(), Vec::new(), conv_sparse::Entries::default(), Default::default());
        // Set at a max pool that follows `Conv2d → ReLU` (FP32): the pool's index and size, whose output
        // gradient `g` then stays as it is, for the convolution to read its nonzeros from (the
        // pool's and ReLU's backward are not written out: conv_sparse.rs).
        let mut pooled: Option<(usize, usize)> = None;
        for (i, layer) in self.layers.iter().enumerate().rev() {
            let (si, so) = (shapes[i], shapes[i + 1]);
            let input = &tape.acts[i];
            if tape.qat && param > 0 && points[param - 1] == i {
                let (at, raw) = (param - 1, &tape.raw_activations[param - 1]);
                let slot = slots.as_ref().map(|s| s.activations[at]);
                node_backward(&mut nodes, slot, &|q| &q.activations[at], raw, 1, &mut g, &tape.activation_masks[at]);
            }
            // The digits need no gradient; the layers before the first with parameters do not either.
            let needs_input_grad = input_learns || self.layers[..i].iter().any(|l| matches!(l, Layer::Conv2d(_) | Layer::Linear(_)));
            match layer {
                Layer::Conv2d(c) => {
                    param -= 1;
                    slot -= 2;
                    let weight = if tape.qat { &tape.used_weights[param] } else { &c.weight };
                    let (gw, gb) = grads[slot..slot + 2].split_at_mut(1);
                    let (gw, gb) = (&mut gw[0], &mut gb[0]);
                    gw.fill(0.0);
                    gb.fill(0.0);
                    let mut g_in = if needs_input_grad { vec![0.0; batch * si.len()] } else { Vec::new() };
                    if needs_input_grad {
                        conv_sparse::taps(weight, c.out_channels, c.in_channels, c.kernel, &mut taps);
                    }
                    let positions = so.height * so.width;
                    for n in 0..batch {
                        // The output gradient's nonzeros (11–20 % of it behind the digits' pools).
                        match pooled {
                            Some((p, k)) => {
                                let sp = shapes[p + 1].len();
                                let window = n * sp..(n + 1) * sp;
                                entries.pooled(&g[window.clone()], &tape.acts[p + 1][window.clone()], &tape.argmax[p][window], so, k);
                            }
                            None => entries.scan(&g[n * so.len()..(n + 1) * so.len()], positions),
                        }
                        for (o, d) in gb.iter_mut().enumerate() {
                            *d += conv_sparse::bias_grad(entries.channel(o), positions);
                        }
                        let xn = &input[n * si.len()..(n + 1) * si.len()];
                        conv_sparse::weight_grad(&entries, xn, si, c.kernel, &mut panels, gw);
                        if needs_input_grad {
                            conv_sparse::input_grad(
                                &taps,
                                &entries,
                                si,
                                c.kernel,
                                &mut scratch,
                                &mut g_in[n * si.len()..(n + 1) * si.len()],
                            );
                        }
                    }
                    pooled = None;
                    if tape.qat {
                        let (at, slot) = (param, slots.as_ref().map(|s| s.weights[param]));
                        node_backward(&mut nodes, slot, &|q| &q.weights[at], &c.weight, c.out_channels, gw, &tape.weight_masks[at]);
                    }
                    g = g_in;
                }
                // Behind a pool that left the conv its nonzeros: nothing to write.
                Layer::Relu if pooled.is_some() => {}
                Layer::MaxPool2d(k)
                    if !tape.qat && i >= 2 && self.layers[i - 1] == Layer::Relu && matches!(self.layers[i - 2], Layer::Conv2d(_)) =>
                {
                    pooled = Some((i, *k));
                }
                Layer::Relu => {
                    // torch's threshold_backward: no gradient where the ReLU gave 0.
                    for (gv, &m) in g.iter_mut().zip(&tape.relu_masks[i]) {
                        *gv = if m { *gv } else { 0.0 };
                    }
                }
                Layer::MaxPool2d(_) => {
                    let mut g_in = vec![0.0; batch * si.len()];
                    for (n, (gn, an)) in g.chunks_exact(so.len()).zip(tape.argmax[i].chunks_exact(so.len())).enumerate() {
                        let dst = &mut g_in[n * si.len()..(n + 1) * si.len()];
                        for (&gv, &at) in gn.iter().zip(an) {
                            dst[at as usize] += gv;
                        }
                    }
                    g = g_in;
                }
                Layer::Flatten => {}
                Layer::Linear(l) => {
                    param -= 1;
                    slot -= 2;
                    let weight = if tape.qat { &tape.used_weights[param] } else { &l.weight };
                    let (gw, gb) = grads[slot..slot + 2].split_at_mut(1);
                    linear_weight_grad(&g, input, batch, l.in_features, l.out_features, &mut gw[0], &mut gb[0]);
                    if tape.qat {
                        let (at, slot) = (param, slots.as_ref().map(|s| s.weights[param]));
                        node_backward(&mut nodes, slot, &|q| &q.weights[at], &l.weight, l.out_features, &mut gw[0], &tape.weight_masks[at]);
                    }
                    if needs_input_grad {
                        let mut g_in = vec![0.0; batch * l.in_features];
                        linear_input_grad(&g, weight, batch, l.in_features, l.out_features, &mut g_in);
                        g = g_in;
                    }
                }
            }
            if !needs_input_grad {
                break;
            }
        }
        if input_learns {
            node_backward(&mut nodes, slots.as_ref().map(|s| s.input), &|q| &q.input, &tape.raw_input, 1, &mut g, &[]);
        }
    }
}

/// `out = max(x, 0)` and where it passed (`x > 0`: a NaN gives 0, as the mask's comparison).
fn relu(x: &[f32], out: &mut [f32], mask: &mut [bool]) {
    let n = x.len();
    let (out, mask) = (&mut out[..n], &mut mask[..n]);
    for i in 0..n {
        let keep = x[i] > 0.0;
        mask[i] = keep;
        out[i] = if keep { x[i] } else { 0.0 };
    }
}

/// k×k max pooling with stride k over each sample's planes; `argmax` gets the chosen input's index
/// within its sample. The first maximum in row-major order wins (and a NaN), as torch's CPU kernel
/// (aten/src/ATen/native/cpu/MaxPoolKernel.cpp: `val > maxval || isnan(val)`) picks it.
fn max_pool(x: &[f32], si: Shape, so: Shape, k: usize, out: &mut [f32], argmax: &mut [u32]) {
    if k == 2 {
        return max_pool_2(x, si, so, out, argmax);
    }
    max_pool_any(x, si, so, k, out, argmax)
}

/// [`max_pool`] for any k.
fn max_pool_any(x: &[f32], si: Shape, so: Shape, k: usize, out: &mut [f32], argmax: &mut [u32]) {
    let mut at = 0;
    for xn in x.chunks_exact(si.len()) {
        for c in 0..si.channels {
            let base = c * si.height * si.width;
            for oy in 0..so.height {
                for ox in 0..so.width {
                    let mut best = f32::NEG_INFINITY;
                    let mut best_at = base + oy * k * si.width + ox * k;
                    for ky in 0..k {
                        for kx in 0..k {
                            let idx = base + (oy * k + ky) * si.width + ox * k + kx;
                            let v = xn[idx];
                            if v > best || v.is_nan() {
                                best = v;
                                best_at = idx;
                            }
                        }
                    }
                    out[at] = best;
                    argmax[at] = best_at as u32;
                    at += 1;
                }
            }
        }
    }
}

/// [`max_pool`] for the digits' 2×2 windows: the same comparisons in the same order (the window's
/// first value, then `v > best || v is NaN` for the other three), over the two input rows as
/// pairs, without the general loop's index arithmetic and bounds checks (it was 14 % of a conv net
/// step in the page).
fn max_pool_2(x: &[f32], si: Shape, so: Shape, out: &mut [f32], argmax: &mut [u32]) {
    let (w, plane) = (si.width, si.height * si.width);
    let mut outs = out.chunks_exact_mut(so.width).zip(argmax.chunks_exact_mut(so.width));
    for xn in x.chunks_exact(si.len()) {
        for c in 0..si.channels {
            for oy in 0..so.height {
                let top = c * plane + 2 * oy * w;
                let (r0, r1) = (&xn[top..top + 2 * so.width], &xn[top + w..top + w + 2 * so.width]);
                let (orow, arow) = outs.next().expect("out has a row per input row pair");
                for (ox, (((o, a), p0), p1)) in
                    orow.iter_mut().zip(arow.iter_mut()).zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)).enumerate()
                {
                    let first = (top + 2 * ox) as u32;
                    let (mut best, mut at) = (p0[0], first);
                    for (v, i) in [(p0[1], first + 1), (p1[0], first + w as u32), (p1[1], first + w as u32 + 1)] {
                        if v > best || v.is_nan() {
                            (best, at) = (v, i);
                        }
                    }
                    (*o, *a) = (best, at);
                }
            }
        }
    }
}

impl ConvNet {
    /// LSQ nodes for this net, placed as [`ConvNet::qat`] places torch.ao's
    /// (`prepare_qat` after `fuse_modules_qat`): the input, each Conv2d's and Linear's weight (a
    /// scale per output channel when `weight` is per channel) and one activation after each such
    /// layer (after its ReLU), each a `_LearnableFakeQuantize` in its static-estimate state.
    pub fn qat_learned(&self, weight: QuantSpec, activation: QuantSpec, use_grad_scaling: bool) -> Result<Qat> {
        // A layer's outputs are its bias's length.
        let outputs: Vec<usize> = self.params().iter().skip(1).step_by(2).map(|b| b.len()).collect();
        Qat::learned(&outputs, weight, activation, use_grad_scaling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The 2×2 path picks what the general loop picks, on ties, NaNs and infinities, odd sizes.
    #[test]
    fn max_pool_2_equals_the_general_loop() {
        let mut rng = SplitMix64::new(3);
        let values = [0.0, -0.0, 1.0, 1.0, -1.0, 2.5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        for (h, w) in [(28, 28), (5, 7), (2, 2), (9, 4)] {
            let si = Shape { channels: 3, height: h, width: w };
            let so = Shape { channels: 3, height: h / 2, width: w / 2 };
            let x: Vec<f32> = (0..2 * si.len()).map(|_| values[(rng.next_u64() % values.len() as u64) as usize]).collect();
            let (mut o1, mut a1) = (vec![0.0; 2 * so.len()], vec![0; 2 * so.len()]);
            let (mut o2, mut a2) = (o1.clone(), a1.clone());
            max_pool_2(&x, si, so, &mut o1, &mut a1);
            max_pool_any(&x, si, so, 2, &mut o2, &mut a2);
            assert_eq!(a1, a2, "{h}×{w}");
            assert!(o1.iter().zip(&o2).all(|(a, b)| a.to_bits() == b.to_bits()), "{h}×{w}");
        }
    }
}

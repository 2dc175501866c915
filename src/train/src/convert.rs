//! Convert: a model trained with fake quantization as the integer model its forward simulates
//! (torch.ao's `convert` after `prepare_qat`): each weight as its signed integer codes with the
//! node's scales, each fake-quant node of the input and of the layers' outputs as an unsigned
//! (scale, zero point) pair. What the node's forward would use at evaluation is what is taken:
//! an observed node's qparams, or a learned (LSQ) node's scale clamped to eps and zero point
//! rounded half to even into its range (`_LearnableFakeQuantize.forward` with the observer off).
//!
//! The codes come from [`crate::fake_quant::quantize_one`], the same arithmetic as the
//! training forward, so `(code − 0) · scale` is the fake-quantized weight bit for bit.
//! `src/onnx-quant/src/mlp.rs` writes the result as a QDQ `.onnx`.
//!
//! The conv net ([`convert_conv`]) converts the same way, node for node as
//! [`ConvNet::forward`] places them (torch's eager QAT after `fuse_modules_qat`): the input's
//! node, each Conv2d's and the Linear's weight codes (per output channel or per tensor), one
//! activation after each Conv2d + ReLU and after the Linear; pools and Flatten pass codes
//! through (a max of values on the grid stays on it). `src/onnx-quant/src/convnet.rs` writes it.

use crate::conv::{ConvNet, Layer, Shape};
use crate::fake_quant::{quantize_one, QRange};
use crate::mlp::{Mlp, Node, Qat};
use crate::observer::{Granularity, QuantSpec, Signedness, Symmetry, EPS};
use crate::{Error, Result};

/// An activation's quantization: codes `0..=quant_max` (255, 15 or 3), `x ≈ (q − zero_point) · scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivationQparams {
    pub scale: f32,
    pub zero_point: u8,
    pub quant_max: u8,
}

/// One layer of the integer model.
#[derive(Debug, Clone, PartialEq)]
pub struct IntLayer {
    pub in_features: usize,
    pub out_features: usize,
    /// `[out, in]` row-major, inside the weight node's signed range.
    pub codes: Vec<i8>,
    /// One per tensor, or one per output neuron.
    pub scales: Vec<f32>,
    pub bias: Vec<f32>,
    /// The fake quant of the layer's output (after its ReLU).
    pub output: ActivationQparams,
}

/// The integer model: the input's quantization and the layers.
#[derive(Debug, Clone, PartialEq)]
pub struct IntMlp {
    pub input: ActivationQparams,
    pub layers: Vec<IntLayer>,
    /// The bit width of the codes (8, 4, 2 ...).
    pub bits: u32,
}

/// A node's (scales, zero points, range) as its evaluation forward uses them.
fn qparams(node: &Node, what: &str) -> Result<(Vec<f32>, Vec<i32>, QuantSpec, QRange)> {
    let (scales, zero_points, observer, enabled) = match node {
        Node::Observed(n) => (n.scale.clone(), n.zero_point.clone(), &n.observer, n.fake_quant_enabled),
        Node::Learned(n) => {
            let range = n.range();
            let scales = n.scale.iter().map(|&s| if s < EPS { EPS } else { s }).collect();
            let zps = n
                .zero_point
                .iter()
                .map(|&z| if n.observer.spec.symmetry == Symmetry::Symmetric { 0.0 } else { z })
                .map(|z| z.round_ties_even().max(range.quant_min as f32).min(range.quant_max as f32) as i32)
                .collect();
            (scales, zps, &n.observer, n.fake_quant_enabled)
        }
    };
    if !enabled {
        return Err(Error::Config(format!("{what}'s fake quantization is off: there is no integer model to convert to")));
    }
    if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(Error::Config(format!("{what}'s scale is {s}: not a positive finite number")));
    }
    Ok((scales, zero_points, observer.spec, observer.range))
}

fn activation(node: &Node, what: &str) -> Result<ActivationQparams> {
    let (scales, zps, spec, range) = qparams(node, what)?;
    if spec.granularity != Granularity::PerTensor
        || spec.signedness != Signedness::Unsigned
        || range.quant_min != 0
        || range.quant_max > 255
    {
        return Err(Error::Config(format!("{what} is not quantized unsigned per tensor, as the integer model's activations are")));
    }
    Ok(ActivationQparams { scale: scales[0], zero_point: zps[0] as u8, quant_max: range.quant_max as u8 })
}

/// A weight (`rows` output channels or neurons, each a contiguous row) as the signed codes its
/// node's forward rounds it to, the node's scales (one, or one per row) and the bit width.
fn weight_codes(weight: &[f32], rows: usize, node: &Node, what: &str) -> Result<(Vec<i8>, Vec<f32>, u32)> {
    let (scales, zps, spec, range) = qparams(node, what)?;
    if spec.symmetry != Symmetry::Symmetric || spec.signedness != Signedness::Signed || zps.iter().any(|&z| z != 0) {
        return Err(Error::Config(format!("{what} is not signed symmetric, as the integer model's weights are")));
    }
    let per_channel = spec.granularity == Granularity::PerChannel && scales.len() == rows;
    let scales = if per_channel { scales } else { vec![scales[0]] };
    let codes = weight
        .chunks_exact(weight.len() / rows)
        .enumerate()
        .flat_map(|(o, row)| {
            let s = scales[if per_channel { o } else { 0 }];
            row.iter().map(move |&w| quantize_one(w, s, 0, range).0 as i8)
        })
        .collect();
    Ok((codes, scales, (range.quant_max - range.quant_min + 1).ilog2()))
}

/// Converts `model` (its weights as the forward uses them: pruned ones at zero) with the nodes
/// of `qat` as a finished run left them. Refuses nodes that are off, non-finite scales, and
/// quantization the integer model does not have (asymmetric or unsigned weights).
pub fn convert(model: &Mlp, qat: &Qat) -> Result<IntMlp> {
    if qat.weights.len() != model.layers.len() || qat.activations.len() != model.layers.len() {
        return Err(Error::Config("the fake-quant nodes do not fit the model's layers".into()));
    }
    let input = activation(&qat.input, "the input")?;
    let mut layers = Vec::with_capacity(model.layers.len());
    let mut bits = 0;
    for (l, layer) in model.layers.iter().enumerate() {
        let (codes, scales, b) = weight_codes(&layer.weight, layer.out_features, &qat.weights[l], &format!("layer {l}'s weight"))?;
        bits = b;
        let output = activation(&qat.activations[l], &format!("layer {l}'s output"))?;
        layers.push(IntLayer {
            in_features: layer.in_features,
            out_features: layer.out_features,
            codes,
            scales,
            bias: layer.bias.clone(),
            output,
        });
    }
    Ok(IntMlp { input, layers, bits })
}

/// A model's parameters flat: each layer's weight `[out, in]` then its bias, layer by layer. With
/// [`node_state`], what the trainer module hands the converter module (they share no memory).
pub fn params(model: &Mlp) -> Vec<f32> {
    model.layers.iter().flat_map(|l| l.weight.iter().chain(&l.bias).copied()).collect()
}

/// The model of `sizes` from [`params`]' layout.
pub fn mlp_from_params(sizes: &[usize], params: &[f32]) -> Result<Mlp> {
    Mlp::check_sizes(sizes)?;
    let mut model = Mlp { layers: sizes.windows(2).map(|w| crate::mlp::Linear::zeros(w[0], w[1])).collect() };
    let want: usize = model.parameter_count();
    if params.len() != want {
        return Err(Error::Data(format!("{} parameters for {sizes:?}, which has {want}", params.len())));
    }
    let mut rest = params;
    for l in &mut model.layers {
        let (w, tail) = rest.split_at(l.weight.len());
        let (b, tail) = tail.split_at(l.bias.len());
        l.weight.copy_from_slice(w);
        l.bias.copy_from_slice(b);
        rest = tail;
    }
    Ok(model)
}

/// Each fake-quant node's state in [`Qat::nodes`] order: `[fake quant on (1/0), n, n scales, n
/// zero points]`. Enough to rebuild the nodes as an evaluation forward uses them ([`qat_from_state`]).
pub fn node_state(qat: &Qat) -> Vec<f32> {
    let mut out = Vec::new();
    for node in qat.nodes() {
        let (on, scales, zps): (bool, &[f32], Vec<f32>) = match node {
            Node::Observed(n) => (n.fake_quant_enabled, &n.scale, n.zero_point.iter().map(|&z| z as f32).collect()),
            Node::Learned(n) => (n.fake_quant_enabled, &n.scale, n.zero_point.clone()),
        };
        out.extend([on as u8 as f32, scales.len() as f32]);
        out.extend_from_slice(scales);
        out.extend(zps);
    }
    out
}

/// The nodes of a run of `sizes` trained with `config` from [`node_state`], observers (LSQ: the
/// static estimate) off, as [`crate::trainer::evaluate`] runs them.
pub fn qat_from_state(sizes: &[usize], config: &crate::trainer::QatConfig, state: &[f32]) -> Result<Qat> {
    let (w, a) = config.specs();
    let layers = sizes.len().saturating_sub(1);
    let mut qat = match config.method {
        crate::trainer::QatMethod::Observed => Qat::new(layers, w, a)?,
        crate::trainer::QatMethod::Learned { .. } => Qat::learned(&sizes[1..], w, a, true)?,
    };
    qat.set_observers(false);
    load_state(&mut qat, state)?;
    Ok(qat)
}

/// Sets `qat`'s nodes from [`node_state`]; refuses a state that does not fit them.
fn load_state(qat: &mut Qat, state: &[f32]) -> Result<()> {
    let mut rest = state;
    for node in qat.nodes_mut() {
        let n = rest.get(1).map_or(0, |&n| n as usize);
        if rest.len() < 2 + 2 * n || n == 0 {
            return Err(Error::Data("the fake-quant node state is cut short".into()));
        }
        let (on, scales, zps) = (rest[0] != 0.0, &rest[2..2 + n], &rest[2 + n..2 + 2 * n]);
        match node {
            Node::Observed(q) => {
                (q.fake_quant_enabled, q.scale) = (on, scales.to_vec());
                q.zero_point = zps.iter().map(|&z| z as i32).collect();
            }
            Node::Learned(q) => {
                if q.scale.len() != n {
                    return Err(Error::Data(format!("a learned node has {} scales, the state {n}", q.scale.len())));
                }
                (q.fake_quant_enabled, q.scale, q.zero_point) = (on, scales.to_vec(), zps.to_vec());
            }
        }
        rest = &rest[2 + n * 2..];
    }
    if !rest.is_empty() {
        return Err(Error::Data(format!("{} values left after the fake-quant nodes' state", rest.len())));
    }
    Ok(())
}

/// One step of the integer conv net, in the order its forward runs them.
#[derive(Debug, Clone, PartialEq)]
pub enum IntOp {
    /// `nn.Conv2d` (stride 1, no padding): codes `[out, in, k, k]`, 1 or `out_channels` scales.
    Conv2d {
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        codes: Vec<i8>,
        scales: Vec<f32>,
        bias: Vec<f32>,
    },
    Relu,
    /// k×k max pooling, stride k.
    MaxPool2d(usize),
    Flatten,
    /// `nn.Linear`: codes `[out, in]`, 1 or `out_features` scales.
    Linear {
        in_features: usize,
        out_features: usize,
        codes: Vec<i8>,
        scales: Vec<f32>,
        bias: Vec<f32>,
    },
    /// The fake quant of the value before it (after a Conv2d + ReLU, or a Linear).
    Quantize(ActivationQparams),
}

/// The integer conv net: the input's shape and quantization, then the ops.
#[derive(Debug, Clone, PartialEq)]
pub struct IntConvNet {
    pub input_shape: Shape,
    pub input: ActivationQparams,
    pub ops: Vec<IntOp>,
    pub bits: u32,
}

/// [`convert`] for a conv net: `qat` as [`ConvNet::qat`] makes the nodes (trained with QAT, or
/// calibrated by `crate::ptq::static_calibrated_conv`). The same refusals as [`convert`].
pub fn convert_conv(net: &ConvNet, qat: &Qat) -> Result<IntConvNet> {
    let points = net.activation_points();
    if qat.weights.len() != points.len() || qat.activations.len() != points.len() {
        return Err(Error::Config("the fake-quant nodes do not fit the conv net's layers".into()));
    }
    let input = activation(&qat.input, "the input")?;
    let (mut ops, mut bits, mut param) = (Vec::with_capacity(net.layers.len() + points.len()), 0, 0);
    for (i, layer) in net.layers.iter().enumerate() {
        // `param` counts the nodes passed: at a Conv2d or Linear it is that layer's weight node.
        let what = || format!("layer {i}'s weight");
        ops.push(match layer {
            Layer::Conv2d(c) => {
                let (codes, scales, b) = weight_codes(&c.weight, c.out_channels, &qat.weights[param], &what())?;
                bits = b;
                let (in_channels, out_channels, kernel, bias) = (c.in_channels, c.out_channels, c.kernel, c.bias.clone());
                IntOp::Conv2d { in_channels, out_channels, kernel, codes, scales, bias }
            }
            Layer::Linear(l) => {
                let (codes, scales, b) = weight_codes(&l.weight, l.out_features, &qat.weights[param], &what())?;
                bits = b;
                IntOp::Linear { in_features: l.in_features, out_features: l.out_features, codes, scales, bias: l.bias.clone() }
            }
            Layer::Relu => IntOp::Relu,
            Layer::MaxPool2d(k) => IntOp::MaxPool2d(*k),
            Layer::Flatten => IntOp::Flatten,
        });
        if points.get(param) == Some(&i) {
            ops.push(IntOp::Quantize(activation(&qat.activations[param], &format!("layer {i}'s output"))?));
            param += 1;
        }
    }
    Ok(IntConvNet { input_shape: net.input, input, ops, bits })
}

/// The page's conv net (`ConvNet::digits`) with the parameters `params` (its tensors in
/// `ConvNet::params` order, concatenated, as the trainer module hands them over).
pub fn digits_conv_from_params(params: &[f32]) -> Result<ConvNet> {
    let mut net = ConvNet::digits_zeros();
    let want = net.parameter_count();
    if params.len() != want {
        return Err(Error::Data(format!("{} parameters for the conv net, which has {want}", params.len())));
    }
    let mut rest = params;
    for p in net.params_mut() {
        let (head, tail) = rest.split_at(p.len());
        p.copy_from_slice(head);
        rest = tail;
    }
    Ok(net)
}

/// The nodes of a conv net run trained (or PTQ-calibrated) with `config`'s specs from
/// [`node_state`], observers (LSQ: the static estimate) off, as `crate::trainer::evaluate_conv`
/// runs them: observed nodes (QAT, static PTQ) or learned ones (LSQ, `ConvNet::qat_learned`).
pub fn conv_qat_from_state(net: &ConvNet, config: &crate::trainer::QatConfig, state: &[f32]) -> Result<Qat> {
    let (w, a) = config.specs();
    let mut qat = match config.method {
        crate::trainer::QatMethod::Observed => net.qat(w, a)?,
        crate::trainer::QatMethod::Learned { .. } => net.qat_learned(w, a, true)?,
    };
    qat.set_observers(false);
    load_state(&mut qat, state)?;
    Ok(qat)
}

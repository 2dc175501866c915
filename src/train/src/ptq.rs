//! Post-training quantization of a trained MLP, static and dynamic.
//!
//! **Static** ([`static_calibrated`]), as torch's eager `prepare` → calibrate → `convert`
//! (torch/ao/quantization/quantize.py): observers, not fake quants, sit on the input and on each
//! layer's output while the calibration digits run through the *float* model, so every range is
//! taken from FP32 activations; the weights get their own min-max observers. The activation
//! ranges can come from any of the library's calibrations (`quantscope_core`'s
//! `schemes::int::calibration`: min-max — torch's `MinMaxObserver` — or ONNX Runtime's
//! percentile and entropy, or the MSE grid search), each over all the calibration values a node
//! saw, then turned into scale and zero point by the observer's own `_calculate_qparams`.
//!
//! **Dynamic** ([`dynamic_accuracy`]), as torch's `quantize_dynamic` runs a Linear
//! (torch/ao/nn/quantized/dynamic/modules/linear.py): the weights quantized once, each layer's
//! input quantized (unsigned affine) with the min/max of that very input when it arrives, and the
//! outputs left in float. A digit is a call, so each digit's activations get their own ranges.
//! (torch's int8 default also narrows the activations to 7 bits, `reduce_range`, for old x86
//! kernels; here every width uses its full range, as the static PTQ beside it.)

use crate::conv::{ConvNet, ConvTape};
use crate::data::Dataset;
use crate::mlp::{Mlp, Node, Qat, Tape};
use crate::observer::{Granularity, QuantSpec, Symmetry};
use crate::trainer::count_correct;
use crate::{Error, Result};
pub use quantscope_core::schemes::int::calibration::Calibration;

/// Digits per forward while calibrating (bounds the tape's memory).
const CALIBRATION_BATCH: usize = 64;

/// The fake-quant nodes of `model` after static calibration on `images` (`[n, in_features]`,
/// row-major): activation ranges by `calibration` over every value each node saw in the FP32
/// forward, weight ranges by min-max; every observer then frozen, so
/// [`crate::trainer::evaluate`] runs the quantized model torch's `convert` would make.
pub fn static_calibrated(model: &Mlp, weight: QuantSpec, activation: QuantSpec, calibration: Calibration, images: &[f32]) -> Result<Qat> {
    let features = model.layers[0].in_features;
    check_calibration(images, features, activation)?;
    let mut qat = Qat::new(model.layers.len(), weight, activation)?;
    // The values each activation node sees: the input, then each layer's output (after its ReLU).
    let mut seen: Vec<Vec<f32>> = vec![Vec::new(); model.layers.len() + 1];
    let mut tape = Tape::default();
    for chunk in images.chunks(CALIBRATION_BATCH * features) {
        model.forward(chunk, chunk.len() / features, None, &mut tape);
        for (node, values) in seen.iter_mut().zip(&tape.inputs) {
            node.extend_from_slice(values);
        }
    }
    set_activation_ranges(&mut qat, &seen, activation, calibration)?;
    // The weights' min-max observers see their tensors once (one digit's forward suffices).
    model.forward(&images[..features], 1, Some(&mut qat), &mut tape);
    qat.set_observers(false);
    Ok(qat)
}

/// [`static_calibrated`] for a conv net: the nodes are its input and the output of each
/// Conv2d(+ReLU) and of the Linear (`ConvNet::activation_points`), as torch's `prepare` places them.
pub fn static_calibrated_conv(
    net: &ConvNet,
    weight: QuantSpec,
    activation: QuantSpec,
    calibration: Calibration,
    images: &[f32],
) -> Result<Qat> {
    let features = net.input.len();
    check_calibration(images, features, activation)?;
    let mut qat = net.qat(weight, activation)?;
    let points = net.activation_points();
    let mut seen: Vec<Vec<f32>> = vec![Vec::new(); points.len() + 1];
    let mut tape = ConvTape::default();
    for chunk in images.chunks(CALIBRATION_BATCH * features) {
        net.forward(chunk, chunk.len() / features, None, &mut tape);
        seen[0].extend_from_slice(&tape.acts[0]);
        for (node, &layer) in seen[1..].iter_mut().zip(&points) {
            node.extend_from_slice(&tape.acts[layer + 1]);
        }
    }
    set_activation_ranges(&mut qat, &seen, activation, calibration)?;
    net.forward(&images[..features], 1, Some(&mut qat), &mut tape);
    qat.set_observers(false);
    Ok(qat)
}

fn check_calibration(images: &[f32], features: usize, activation: QuantSpec) -> Result<()> {
    if images.is_empty() || images.len() % features != 0 {
        return Err(Error::Data(format!("{} calibration values are not whole digits of {features}", images.len())));
    }
    if activation.granularity != Granularity::PerTensor {
        return Err(Error::Config("static calibration takes per-tensor activation ranges".into()));
    }
    Ok(())
}

/// Each activation node's range (the input's first) from what it saw, by `calibration`, through
/// the observer's own `_calculate_qparams`; the node's observer then off.
fn set_activation_ranges(qat: &mut Qat, seen: &[Vec<f32>], activation: QuantSpec, calibration: Calibration) -> Result<()> {
    let symmetric = activation.symmetry == Symmetry::Symmetric;
    let nodes = std::iter::once(&mut qat.input).chain(qat.activations.iter_mut());
    for (node, values) in nodes.zip(seen) {
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::Data("the float model makes a NaN or infinite activation on the calibration digits".into()));
        }
        let (lo, hi) = calibration.range(values, activation.bits, symmetric);
        // Qat::new makes observed nodes only.
        if let Node::Observed(n) = node {
            n.observer.min_val = vec![lo];
            n.observer.max_val = vec![hi];
            (n.scale, n.zero_point) = n.observer.qparams();
            n.observer_enabled = false;
        }
    }
    Ok(())
}

/// Test accuracy of `model` quantized dynamically: `weight` for the weights, `activation` (a
/// min-max observer, fresh for every digit) for each layer's input; the logits stay float.
pub fn dynamic_accuracy(model: &Mlp, weight: QuantSpec, activation: QuantSpec, data: &Dataset) -> Result<f32> {
    let mut fresh = Qat::new(model.layers.len(), weight, activation)?;
    // The last node quantizes the logits, which a dynamic Linear returns in float.
    if let Some(last) = fresh.activations.last_mut() {
        last.set_fake_quant(false);
    }
    let mut tape = Tape::default();
    let mut correct = 0;
    for i in 0..data.len() {
        let mut nodes = fresh.clone();
        model.forward(&data.images[i * data.features..(i + 1) * data.features], 1, Some(&mut nodes), &mut tape);
        correct += count_correct(tape.logits(), &data.labels[i..i + 1], data.classes);
    }
    Ok(correct as f32 / data.len() as f32)
}

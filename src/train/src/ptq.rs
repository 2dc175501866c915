//! Dynamic post-training quantization, as torch's `quantize_dynamic` runs a Linear
//! (torch/ao/nn/quantized/dynamic/modules/linear.py): the weights quantized once, each layer's
//! input quantized (unsigned affine) with the min/max of that very input when it arrives, and the
//! outputs left in float. A digit is a call, so each digit's activations get their own ranges.
//! (torch's int8 default also narrows the activations to 7 bits, `reduce_range`, for old x86
//! kernels; here every width uses its full range, as the static PTQ beside it.)

use crate::data::Dataset;
use crate::mlp::{Mlp, Qat, Tape};
use crate::observer::QuantSpec;
use crate::trainer::count_correct;
use crate::Result;

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

//! Dynamic post-training quantization (src/train/src/ptq.rs): each digit's activations get their
//! own range, so a digit far dimmer than the calibration digits keeps its information where
//! static PTQ's calibrated range rounds it away; at 8 bits it stays close to FP32.

mod common;

use common::ptq_specs as specs;
use quantscope_train::data::Dataset;
use quantscope_train::mlp::{Mlp, Qat, Tape};
use quantscope_train::optim::OptimizerKind;
use quantscope_train::ptq::dynamic_accuracy;
use quantscope_train::trainer::{evaluate, TrainConfig, Trainer};

/// Four classes of 16 pixels, each lit in its own quarter, at `brightness` (0–255) at most.
fn digits(brightness: u32) -> Dataset {
    let labels: Vec<u8> = (0..96).map(|i| (i % 4) as u8).collect();
    let pixels: Vec<u8> = (0..96 * 16)
        .map(|i| {
            let v = if (i % 16) / 4 == (i / 16) % 4 { 150 + (i * 37 % 100) as u32 } else { (i * 53 % 40) as u32 };
            (v * brightness / 255) as u8
        })
        .collect();
    Dataset::from_u8(&pixels, &labels, 16, 4).unwrap()
}

fn trained(data: &Dataset) -> Mlp {
    let config = TrainConfig {
        sizes: vec![16, 12, 4],
        optimizer: OptimizerKind::adam(1e-2),
        epochs: 4,
        batch_size: 16,
        seed: 3,
        qat: None,
        distill: None,
    };
    let mut t = Trainer::new(config, data).unwrap();
    while !t.finished() {
        t.step(data).unwrap();
    }
    t.model
}

#[test]
fn each_digit_is_quantized_with_its_own_range() {
    let bright = digits(255);
    let model = trained(&bright);
    let fp32 = evaluate(&model, None, &bright);
    assert!(fp32 > 0.9, "{fp32}");
    let (w8, a8) = specs(8);
    let dynamic8 = dynamic_accuracy(&model, w8, a8, &bright).unwrap();
    assert!((dynamic8 - fp32).abs() <= 0.03, "INT8 dynamic {dynamic8} vs FP32 {fp32}");

    // Static PTQ at 2 bits, calibrated on the bright digits, then run on dim ones: the dim
    // digits' inputs fall into the lowest code or two. Dynamic PTQ scales each dim digit anew.
    let (w2, a2) = specs(2);
    let mut calibrated = Qat::new(model.layers.len(), w2, a2).unwrap();
    model.forward(&bright.images, bright.len(), Some(&mut calibrated), &mut Tape::default());
    let dim = digits(40);
    let static2 = evaluate(&model, Some(&calibrated), &dim);
    let dynamic2 = dynamic_accuracy(&model, w2, a2, &dim).unwrap();
    assert!(dynamic2 > static2 + 0.2, "dynamic {dynamic2} vs static {static2} on dim digits");
    // A bad width is refused with the reason (the observers' check).
    assert!(dynamic_accuracy(&model, specs(1).0, specs(1).1, &bright).is_err());
}

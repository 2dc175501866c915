//! A conv net run through the facade in headless Chromium: it learns the synthetic digits (FP32,
//! QAT, LSQ), reports its parameters, predictions and size, shares its weights, distils into MLP
//! and conv students, and settings that do not fit it are refused with the reason.
#![cfg(target_arch = "wasm32")]

use crate::synthetic::{digits, get, message, settings};
use quantscope_trainer::TrainingRun;
use wasm_bindgen_test::*;

const CONV: &str = r#"{"arch": "conv", "hidden": [], "optimizer": "adam", "learning_rate": 0.01, "epochs": 6, "batch_size": 20, "seed": 1, "qat_bits": null}"#;

#[wasm_bindgen_test]
fn a_conv_run_learns_and_reports() {
    let (images, labels) = digits(200);
    let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(CONV)).unwrap();
    let before = run.test_accuracy();
    let last = run.advance(1000).unwrap();
    assert_eq!(get(&last, "step").as_f64(), Some(60.0));
    assert_eq!(get(&last, "finished").as_bool(), Some(true));
    let after = run.test_accuracy();
    assert!(after >= 0.8 && after > before, "test accuracy {before} → {after}");
    assert_eq!(run.parameter_count(), 5994);
    assert_eq!(run.params().len(), 5994);
    assert_eq!(run.size_bytes(32, false), 5994.0 * 4.0);
    let predictions = run.test_predictions();
    let correct = predictions.iter().zip(&labels).filter(|(p, l)| p == l).count();
    assert_eq!(correct as f32 / 200.0, after);
    assert_eq!(run.architecture(), "conv");
    // Static PTQ of its weights: INT8 keeps what FP32 learned with min-max and MSE ranges;
    // entropy's KL clip may cut these synthetic digits' bright pixels, but it answers.
    for calibration in ["minmax", "mse"] {
        assert!(run.ptq_accuracy(8, true, calibration).unwrap() >= after - 0.05, "{calibration}");
    }
    assert!((0.0..=1.0).contains(&run.ptq_accuracy(8, true, "entropy").unwrap()));
}

#[wasm_bindgen_test]
fn a_conv_run_with_fake_quantization_learns() {
    let (images, labels) = digits(200);
    // At 0.01 the 4-bit logits of these sparse digits collapse onto one code for a while; 0.003 learns.
    let json = CONV.replace(r#""qat_bits": null"#, r#""qat_bits": 4, "per_channel": true"#).replace("0.01", "0.003");
    let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(&json)).unwrap();
    run.advance(1000).unwrap();
    assert!(run.test_accuracy() >= 0.8, "QAT INT4 {}", run.test_accuracy());
    // The fake-quant nodes' state: input, 3 weights per channel (8, 16, 10), 3 outputs.
    assert_eq!(run.node_state().len(), 4 + (2 + 2 * 8) + (2 + 2 * 16) + (2 + 2 * 10) + 3 * 4);
    let predictions = run.test_predictions();
    let correct = predictions.iter().zip(&labels).filter(|(p, l)| p == l).count();
    assert_eq!(correct as f32 / 200.0, run.test_accuracy(), "the predictions are the fake-quant forward's");
}

/// LSQ INT4: the scales learned after the static steps; the run learns, its node state holds
/// the per-channel scales, and its predictions are the fake-quant forward's.
#[wasm_bindgen_test]
fn a_conv_run_with_lsq_learns() {
    let (images, labels) = digits(200);
    let json = CONV.replace(r#""qat_bits": null"#, r#""qat_bits": 4, "per_channel": true, "lsq": true"#).replace("0.01", "0.003");
    let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(&json)).unwrap();
    run.advance(1000).unwrap();
    assert!(run.test_accuracy() >= 0.8, "LSQ INT4 {}", run.test_accuracy());
    assert_eq!(run.node_state().len(), 4 + (2 + 2 * 8) + (2 + 2 * 16) + (2 + 2 * 10) + 3 * 4);
    let predictions = run.test_predictions();
    let correct = predictions.iter().zip(&labels).filter(|(p, l)| p == l).count();
    assert_eq!(correct as f32 / 200.0, run.test_accuracy(), "the predictions are the fake-quant forward's");
}

/// An FP32 conv run's weights shared at 4 bits (its size: the packed codes, f16 codebooks and
/// f32 biases), fine-tuned; then distilled into an MLP student and an LSQ INT4 conv student.
#[wasm_bindgen_test]
fn a_conv_run_shares_its_weights_and_distils() {
    let (images, labels) = digits(200);
    let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(CONV)).unwrap();
    run.advance(1000).unwrap();
    let one_epoch = CONV.replace(r#""epochs": 6"#, r#""epochs": 1"#);
    let mut shared = run.share_weights(4, settings(&one_epoch)).unwrap();
    // 5,960 weights at 4 bits (100 + 1,600 + 1,280 B), 3 × 16 f16 centroids, 34 f32 biases.
    assert_eq!(shared.size_bytes(32, false), (2980 + 96 + 136) as f64);
    let one_shot = shared.test_accuracy();
    shared.advance(1000).unwrap();
    assert!(one_shot >= 0.8 && shared.test_accuracy() >= 0.8, "{one_shot} one-shot, {} fine-tuned", shared.test_accuracy());
    let params = shared.params();
    let mut conv1: Vec<u32> = params[..200].iter().map(|v| v.to_bits()).collect();
    conv1.sort_unstable();
    conv1.dedup();
    assert!(conv1.len() <= 16, "{} distinct weights in the first conv", conv1.len());
    let mlp = r#"{"hidden": [16], "optimizer": "adam", "learning_rate": 0.01, "epochs": 6, "batch_size": 20, "seed": 1, "qat_bits": null, "temperature": 4, "alpha": 0.5}"#;
    let mut student = shared.distil(settings(mlp)).unwrap();
    student.advance(1000).unwrap();
    assert_eq!(student.architecture(), "mlp");
    assert!(student.test_accuracy() >= 0.8, "MLP student {}", student.test_accuracy());
    let conv = CONV
        .replace(r#""qat_bits": null"#, r#""qat_bits": 4, "per_channel": true, "lsq": true, "temperature": 4, "alpha": 0.5"#)
        .replace("0.01", "0.003");
    let mut student = run.distil(settings(&conv)).unwrap();
    student.advance(1000).unwrap();
    assert_eq!(student.architecture(), "conv");
    assert!(student.test_accuracy() >= 0.8, "LSQ INT4 conv student {}", student.test_accuracy());
}

#[wasm_bindgen_test]
fn what_does_not_fit_the_conv_net_is_refused_with_the_reason() {
    let (images, labels) = digits(50);
    let refused = |json: &str| message(TrainingRun::new(&images, &labels, &images, &labels, settings(json)).err().unwrap());
    assert!(refused(&CONV.replace(r#""hidden": []"#, r#""hidden": [100]"#)).contains("hidden layer sizes are for the MLP"));
    assert!(refused(&CONV.replace("conv", "resnet")).contains("unknown architecture 'resnet'"));
    let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(CONV)).unwrap();
    run.advance(3).unwrap();
    assert!(message(run.ptq_dynamic_accuracy(8, true).err().unwrap()).contains("quantizes Linear layers only"));
    // Pruning works (below); 2:4 does not fit the first conv's 25 weights per channel.
    assert!(message(run.prune("two_four", 0.5).err().unwrap()).contains("multiple of 4 weights, this layer's have 25"));
    assert!(message(run.sparsity_curve("neurons_l2", vec![0.95]).err().unwrap()).contains("pruning all 8 neurons"));
    // A conv student of the FP32 conv teacher in FP32 is the teacher's own size.
    let student = CONV.replace(r#""qat_bits": null"#, r#""qat_bits": null, "temperature": 4, "alpha": 0.5"#);
    assert!(message(run.distil(settings(&student)).err().unwrap()).contains("at FP32 it is no smaller than the FP32 teacher"));
    let student = CONV.replace(r#""qat_bits": null"#, r#""qat_bits": 4, "temperature": 0, "alpha": 0.5"#);
    assert!(message(run.distil(settings(&student)).err().unwrap()).contains("temperature 0 must be a number > 0"));
    let qat = CONV.replace(r#""qat_bits": null"#, r#""qat_bits": 8"#);
    let qat_run = TrainingRun::new(&images, &labels, &images, &labels, settings(&qat)).unwrap();
    assert!(message(qat_run.share_weights(4, settings(CONV)).err().unwrap()).contains("train an FP32 run first"));
    assert!(message(run.share_weights(9, settings(CONV)).err().unwrap()).contains("choose 1 to 8 bits"));
    assert!(message(run.trace(0, 0, 0).err().unwrap()).contains("QAT run"));
}

/// A conv run prunes (global L1 over its convs and Linear, whole output channels by L2) and its
/// parameters, as handed to the export module, hold the pruned zeros.
#[wasm_bindgen_test]
fn a_conv_run_prunes() {
    let (images, labels) = digits(50);
    let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(CONV)).unwrap();
    run.advance(3).unwrap();
    let zeros = |p: &[f32]| p.iter().filter(|&&v| v == 0.0).count();
    let before = zeros(&run.params());
    let curve = run.sparsity_curve("global_l1", vec![0.0, 0.5]).unwrap();
    assert!(curve.is_object());
    run.prune("global_l1", 0.5).unwrap();
    // 5,960 weights (200 + 3,200 + 2,560), half of them pruned; the biases are kept.
    assert_eq!(zeros(&run.params()) - before, 2980);
    run.prune("neurons_l2", 0.25).unwrap();
    let params = run.params();
    // 2 of conv1's 8 channels (25 weights each) are zero now, whatever L1 left of them.
    let empty = params[..200].chunks(25).filter(|c| c.iter().all(|&v| v == 0.0)).count();
    assert!(empty >= 2, "{empty} empty channels");
}

//! A conv net run through the facade in headless Chromium: it learns the synthetic digits,
//! reports its parameters, predictions and size, and the methods it does not support yet (and
//! settings that do not fit it) are refused with the reason.
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

#[wasm_bindgen_test]
fn what_the_conv_net_does_not_support_is_refused_with_the_reason() {
    let (images, labels) = digits(50);
    let refused = |json: &str| message(TrainingRun::new(&images, &labels, &images, &labels, settings(json)).err().unwrap());
    assert!(refused(&CONV.replace(r#""hidden": []"#, r#""hidden": [100]"#)).contains("hidden layer sizes are for the MLP"));
    let lsq = CONV.replace(r#""qat_bits": null"#, r#""qat_bits": 8, "lsq": true"#);
    assert!(refused(&lsq).contains("LSQ (learned scales) is not supported for the conv net yet"));
    assert!(refused(&CONV.replace("conv", "resnet")).contains("unknown architecture 'resnet'"));
    let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(CONV)).unwrap();
    run.advance(3).unwrap();
    let conv_only = "is not supported for the conv net yet";
    assert!(message(run.ptq_dynamic_accuracy(8, true).err().unwrap()).contains("quantizes Linear layers only"));
    // Pruning works (below); 2:4 does not fit the first conv's 25 weights per channel.
    assert!(message(run.prune("two_four", 0.5).err().unwrap()).contains("multiple of 4 weights, this layer's have 25"));
    assert!(message(run.sparsity_curve("neurons_l2", vec![0.95]).err().unwrap()).contains("pruning all 8 neurons"));
    let student = r#"{"hidden": [8], "optimizer": "adam", "learning_rate": 0.01, "epochs": 1, "batch_size": 10, "seed": 1, "qat_bits": null, "temperature": 4, "alpha": 0.5}"#;
    assert!(message(run.distil(settings(student)).err().unwrap()).contains(conv_only));
    assert!(message(run.share_weights(4, settings(CONV)).err().unwrap()).contains(conv_only));
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

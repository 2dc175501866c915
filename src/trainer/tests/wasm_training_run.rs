//! The trainer's facade in headless Chromium (run by scripts/test.sh): a run on synthetic digits
//! learns, reports its steps, stops at its last epoch, and bad settings or data are refused with
//! their reason.
#![cfg(target_arch = "wasm32")]

use crate::synthetic::{digits, get, message, settings};
use quantscope_trainer::TrainingRun;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

const GOOD: &str =
    r#"{"hidden": [16], "optimizer": "adam", "learning_rate": 0.01, "epochs": 3, "batch_size": 20, "seed": 1, "qat_bits": null}"#;

#[wasm_bindgen_test]
fn a_run_learns_reports_and_stops_at_its_last_epoch() {
    let (images, labels) = digits(200);
    for qat in ["null", "4"] {
        let json = GOOD.replace(r#""qat_bits": null"#, &format!(r#""qat_bits": {qat}, "per_channel": true"#));
        let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(&json)).unwrap();
        let first = run.advance(1).unwrap();
        assert_eq!(get(&first, "step").as_f64(), Some(1.0));
        assert_eq!(get(&first, "total_steps").as_f64(), Some(30.0));
        let last = run.advance(1000).unwrap();
        assert_eq!(get(&last, "step").as_f64(), Some(30.0), "qat {qat}");
        assert_eq!(get(&last, "finished").as_bool(), Some(true));
        assert!(get(&last, "loss").as_f64().unwrap() < get(&first, "loss").as_f64().unwrap(), "qat {qat}: the loss fell");
        // Chance is 10 %; the class is written in the pixels, so a working run is far above it.
        assert!(run.test_accuracy() >= 0.8, "qat {qat}: {}", run.test_accuracy());
        // What Convert hands the converter module: the parameters, the nodes' state (per node:
        // on, n, n scales, n zero points; the input and outputs per tensor, the weights per
        // neuron), and the forward's predictions, whose accuracy is the test accuracy.
        assert_eq!(run.params().len(), run.parameter_count());
        let state = run.node_state();
        assert_eq!(state.len(), if qat == "null" { 0 } else { 4 + (2 + 2 * 16) + (2 + 2 * 10) + 2 * 4 }, "qat {qat}");
        let predictions = run.test_predictions();
        assert_eq!(predictions.len(), 200);
        let correct = predictions.iter().zip(&labels).filter(|(p, l)| p == l).count();
        assert_eq!(correct as f32 / 200.0, run.test_accuracy(), "qat {qat}");
        // Finished: no more steps.
        assert_eq!(get(&run.advance(5).unwrap(), "step").as_f64(), Some(30.0));
    }
    let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(GOOD)).unwrap();
    run.advance(1000).unwrap();
    for calibration in ["minmax", "p99.999", "entropy", "mse"] {
        let accuracy = run.ptq_accuracy(8, true, calibration).map_err(message);
        assert!(accuracy.as_ref().is_ok_and(|&a| a >= 0.85), "{calibration}: {accuracy:?}");
    }
    for bad in ["", "kl", "p0", "p101", "percentile"] {
        let err = message(run.ptq_accuracy(8, true, bad).unwrap_err());
        assert!(err.contains("unknown calibration") && err.contains("entropy"), "{bad:?}: {err}");
    }
    assert_eq!(run.parameter_count(), 784 * 16 + 16 + 16 * 10 + 10);
    assert_eq!(run.size_bytes(32, false), (run.parameter_count() * 4) as f64);
    let (size, want) = (run.size_bytes(4, true), ((784 * 16 + 160) / 2 + 26 * 4 + (16 + 2 + 10 + 2) * 4) as f64);
    assert_eq!(size, want);
}

#[wasm_bindgen_test]
fn settings_and_data_that_make_no_sense_are_refused_with_the_reason() {
    let (images, labels) = digits(50);
    let refused = |json: &str| message(TrainingRun::new(&images, &labels, &images, &labels, settings(json)).err().unwrap());
    assert!(refused(&GOOD.replace(r#""epochs": 3"#, r#""epochs": 0"#)).contains("0 epochs"));
    assert!(refused(&GOOD.replace(r#""learning_rate": 0.01"#, r#""learning_rate": -1"#)).contains("learning rate -1"));
    assert!(refused(&GOOD.replace("adam", "rmsprop")).contains("unknown optimizer 'rmsprop'"));
    assert!(refused(&GOOD.replace(r#""qat_bits": null"#, r#""qat_bits": 1"#)).contains("bit"));
    assert!(refused(&GOOD.replace(r#""batch_size": 20"#, r#""batch_size": 51"#)).contains("batch size 51"));
    assert!(refused(r#"{"hidden": "many"}"#).starts_with("the training settings are malformed"));
    let (other_images, _) = digits(49);
    let text = message(TrainingRun::new(&other_images, &labels, &images, &labels, settings(GOOD)).err().unwrap());
    assert!(text.starts_with("the training digits: invalid training data: 38416 pixels for 50 labels"), "{text}");
    let text = message(TrainingRun::new(&images, &labels, &images, &[10u8; 50], settings(GOOD)).err().unwrap());
    assert!(text.contains("the test digits: invalid training data: label 10 of digit 0 is not below 10"), "{text}");
}

#[wasm_bindgen_test]
fn pruning_reports_sparsity_sizes_and_fine_tunes_with_the_masks() {
    let (images, labels) = digits(200);
    let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(GOOD)).unwrap();
    run.advance(1000).unwrap();
    let trained = run.test_accuracy();
    let curve = js_sys::Array::from(&run.sparsity_curve("global_l1", vec![0.0, 0.5, 0.9]).unwrap());
    assert_eq!(curve.length(), 3);
    assert_eq!(get(&curve.get(0), "accuracy").as_f64().unwrap() as f32, trained, "0 % sparsity is the run itself");
    assert!((get(&curve.get(2), "sparsity").as_f64().unwrap() - 0.9).abs() < 1e-3);

    let neurons = run.prune("neurons_l2", 0.5).unwrap();
    assert_eq!(js_sys::Array::from(&get(&neurons, "neurons")).to_vec(), vec![JsValue::from(8)]);
    let r = run.prune("global_l1", 0.5).unwrap();
    assert!((get(&r, "sparsity").as_f64().unwrap() - 0.5).abs() < 1e-3);
    assert!(get(&r, "sparse_int8_bytes").as_f64() < get(&r, "sparse_bytes").as_f64());
    assert_eq!(get(&r, "dense_bytes").as_f64(), Some(run.size_bytes(32, false)));
    run.fine_tune(1).unwrap();
    let done = run.advance(1000).unwrap();
    assert_eq!(get(&done, "step").as_f64(), Some(40.0), "3 epochs and 1 more of 10 steps");
    assert!(run.test_accuracy() >= 0.8, "{}", run.test_accuracy());
    // 2:4 keeps at most 2 of every 4 (rows of 784 and of 16 inputs are whole 4s), on top of the
    // global mask: the weights pruned before stay pruned.
    let tf = run.prune("two_four", 0.0).unwrap();
    assert!(get(&tf, "sparsity").as_f64().unwrap() > 0.5 + 0.05, "{:?}", get(&tf, "sparsity"));
    assert!(message(run.prune("magnitude", 0.5).unwrap_err()).contains("unknown pruning method 'magnitude'"));
    assert!(message(run.prune("global_l1", 1.0).unwrap_err()).contains("leaves nothing"));
}

#[wasm_bindgen_test]
fn gradual_pruning_refuses_before_training_and_reaches_its_sparsity() {
    let (images, labels) = digits(200);
    let mut run = TrainingRun::new(&images, &labels, &images, &labels, settings(GOOD)).unwrap();
    run.advance(1000).unwrap();
    assert!(message(run.prune_report("global_l1").unwrap_err()).contains("not pruned"));
    // Each refusal leaves the run as it was: finished, unpruned, its epochs as before.
    let refused = |run: &mut TrainingRun, method: &str, epochs: usize, every: f64, count: f64| {
        message(run.prune_gradually(method, 0.8, epochs, every, count).unwrap_err())
    };
    assert!(refused(&mut run, "two_four", 1, 2.0, 3.0).contains("always 50 %"));
    assert!(refused(&mut run, "global_l1", 1, 5.0, 3.0).contains("needs 15 steps of fine-tuning, there are 10"));
    assert!(refused(&mut run, "global_l1", 1, 2.5, 3.0).contains("steps between re-prunes 2.5: choose a whole number"));
    assert!(refused(&mut run, "global_l1", 1, 2.0, -1.0).contains("re-prunes -1"));
    assert!(refused(&mut run, "magnitude", 1, 2.0, 3.0).contains("unknown pruning method"));
    let done = run.advance(1000).unwrap();
    assert_eq!(get(&done, "step").as_f64(), Some(30.0), "3 epochs of 10 steps, nothing added");
    run.prune_gradually("layer_l1", 0.8, 1, 2.0, 5.0).unwrap();
    let done = run.advance(1000).unwrap();
    assert_eq!(get(&done, "step").as_f64(), Some(40.0));
    let r = run.prune_report("layer_l1").unwrap();
    // round(0.8 · 12,544) + round(0.8 · 160) of 12,704 weights.
    assert_eq!(get(&r, "sparsity").as_f64(), Some((10_035.0 + 128.0) / 12_704.0));
    assert!(run.test_accuracy() >= 0.6, "{}", run.test_accuracy());
}

#[wasm_bindgen_test]
fn lsq_runs_learn_and_a_run_distils_into_a_smaller_student() {
    let (images, labels) = digits(200);
    let lsq = GOOD.replace(r#""qat_bits": null"#, r#""qat_bits": 2, "per_channel": true, "lsq": true"#);
    let mut teacher = TrainingRun::new(&images, &labels, &images, &labels, settings(&lsq)).unwrap();
    teacher.advance(1000).unwrap();
    assert!(teacher.test_accuracy() >= 0.8, "LSQ INT2: {}", teacher.test_accuracy());
    let student_settings = |extra: &str| {
        settings(
            &GOOD.replace(r#""hidden": [16]"#, r#""hidden": [8]"#).replace(r#""qat_bits": null"#, &format!(r#""qat_bits": null{extra}"#)),
        )
    };
    let mut student = teacher.distil(student_settings(r#", "temperature": 4, "alpha": 0.7"#)).unwrap();
    assert_eq!(student.parameter_count(), 784 * 8 + 8 + 8 * 10 + 10);
    student.advance(1000).unwrap();
    assert!(student.test_accuracy() >= 0.8, "student: {}", student.test_accuracy());
    let refused = |extra: &str| message(teacher.distil(student_settings(extra)).err().unwrap());
    assert!(refused(r#", "temperature": 0, "alpha": 0.7"#).contains("temperature 0 must be a number > 0"));
    assert!(refused(r#", "temperature": 4, "alpha": 2"#).contains("α 2 must be between 0 and 1"));
    assert!(refused(r#", "temperature": 4"#).contains("both a temperature and α"));
    assert!(refused("").contains("distillation needs a temperature and α"));
    let no_hidden =
        GOOD.replace(r#""hidden": [16]"#, r#""hidden": []"#).replace(r#""qat_bits": null"#, r#""temperature": 4, "alpha": 0.5"#);
    assert!(message(teacher.distil(settings(&no_hidden)).err().unwrap()).contains("at least one hidden layer"));
}

#[wasm_bindgen_test]
fn a_run_s_weights_shared_by_k_means_fine_tune_and_count_their_bytes() {
    let (images, labels) = digits(200);
    let mut fp32 = TrainingRun::new(&images, &labels, &images, &labels, settings(GOOD)).unwrap();
    fp32.advance(1000).unwrap();
    // Dynamic PTQ at 8 bits stays with FP32 here; it is refused at a width that makes no sense.
    assert!(fp32.ptq_dynamic_accuracy(8, true).unwrap() >= fp32.test_accuracy() - 0.05);
    assert!(message(fp32.ptq_dynamic_accuracy(1, false).unwrap_err()).contains("bit"));
    let two_epochs = settings(&GOOD.replace(r#""epochs": 3"#, r#""epochs": 2"#));
    let mut shared = fp32.share_weights(3, two_epochs).unwrap();
    // 784·16 + 16·10 weights at 3 bits, 2 codebooks of 8 f16 centroids, 26 f32 biases.
    assert_eq!(shared.size_bytes(32, false), (((784 * 16 + 160) * 3usize).div_ceil(8) + 2 * 8 * 2 + 26 * 4) as f64);
    let one_shot = shared.test_accuracy();
    let done = shared.advance(1000).unwrap();
    assert_eq!(get(&done, "step").as_f64(), Some(20.0));
    assert!(shared.test_accuracy() >= 0.8, "one-shot {one_shot}, fine-tuned {}", shared.test_accuracy());
    // The weights it keeps: 8 distinct values per layer at most.
    let params = shared.params();
    let mut first: Vec<u32> = params[..784 * 16].iter().map(|v| v.to_bits()).collect();
    first.sort_unstable();
    first.dedup();
    assert!(first.len() <= 8, "{} distinct weights", first.len());
    // Refused with the reason: bits outside 1..8, a quantization-aware run.
    assert!(message(fp32.share_weights(9, settings(GOOD)).err().unwrap()).contains("at 9 bits: choose 1 to 8 bits"));
    assert!(message(fp32.share_weights(0, settings(GOOD)).err().unwrap()).contains("at 0 bits"));
    let qat = GOOD.replace(r#""qat_bits": null"#, r#""qat_bits": 4"#);
    let mut qat_run = TrainingRun::new(&images, &labels, &images, &labels, settings(&qat)).unwrap();
    qat_run.advance(1).unwrap();
    assert!(message(qat_run.share_weights(4, settings(GOOD)).err().unwrap()).contains("the last run is quantization-aware"));
    assert!(message(fp32.share_weights(4, settings(&qat)).err().unwrap()).contains("fine-tunes FP32 weights"));
}

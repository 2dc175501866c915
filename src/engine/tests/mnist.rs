//! The built-in MNIST model against ONNX Runtime's figures for it
//! (tests/fixtures/mnist/expected.json, written by scripts/fixtures/train_mnist.py with ORT 1.32
//! on www/models/mnist_test.npz): the engine's FP32 run must get exactly the same digits right,
//! and its int8 variants must land within a stated margin of ORT's quantized models.
//!
//!   cargo test -p quantscope-engine --test mnist
//!   wasm-pack test --headless --chrome --mode no-install src/engine --test mnist

use quantscope_core::schemes::int::calibration::Calibration;
use quantscope_engine::mnist::{self, Spec, TestSet, BATCH};
use quantscope_engine::Model;

const MODEL: &[u8] = include_bytes!(concat!(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), "/www/models/mnist_mlp.onnx"));
const TEST_SET: &[u8] = include_bytes!(concat!(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), "/www/models/mnist_test.npz"));

/// ORT int8 (dynamic or static) and the engine round activations at different points (ORT's
/// MLAS fuses the requantization differently), so a handful of borderline digits can flip:
/// 10 digits = 0.5 percentage points of the 2,000.
const INT8_MARGIN_DIGITS: i64 = 10;

fn expected() -> serde_json::Value {
    crate::common::json(fixture_str!("mnist/expected.json"))
}

fn load() -> (Model, TestSet) {
    (Model::from_onnx(MODEL).expect("the built-in model loads"), TestSet::from_npz(TEST_SET).expect("the test set reads"))
}

fn correct_of(v: &serde_json::Value) -> i64 {
    v["correct"].as_i64().unwrap()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn test_set_has_the_held_out_digits() {
    let (_, set) = load();
    let e = expected();
    assert_eq!(set.len(), e["test_count"].as_u64().unwrap() as usize);
    assert_eq!(set.images.len(), set.len() * mnist::PIXELS);
    assert_eq!(set.calibration_len(), 256);
    let first: Vec<u8> = e["first_labels"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u8).collect();
    assert_eq!(&set.labels[..first.len()], &first[..]);
    // Pixels are v/255 for whole v in 0..=255, and every digit has ink.
    assert!(set.images.iter().all(|&p| (0.0..=1.0).contains(&p) && ((p * 255.0).round() / 255.0 - p).abs() < 1e-7));
    for i in 0..set.len() {
        assert!(set.image(i).unwrap().iter().any(|&p| p > 0.5), "digit {i} is blank");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn fp32_gets_exactly_the_digits_onnxruntime_gets() {
    let (model, set) = load();
    let e = expected();
    let predicted = mnist::predictions(&model, &set.images, BATCH).unwrap();
    let ort: Vec<u8> = e["fp32"]["predictions"].as_str().unwrap().bytes().map(|b| b - b'0').collect();
    let differ: Vec<usize> = (0..ort.len()).filter(|&i| predicted[i] != ort[i]).collect();
    assert!(differ.is_empty(), "digits where the engine's FP32 prediction differs from ORT's: {differ:?}");
    let eval = mnist::evaluate(&model, &set, BATCH).unwrap();
    assert_eq!(eval.correct as i64, correct_of(&e["fp32"]), "FP32 accuracy {} vs ORT {}", eval.accuracy, e["fp32"]["accuracy"]);

    // The probabilities themselves, for the first digits: f32 sums in another order.
    let first = e["first_probabilities"]["fp32"].as_array().unwrap();
    let n = first.len();
    let out = model
        .run(&[(mnist::INPUT, quantscope_engine::Value::f32(vec![n, mnist::PIXELS], set.images[..n * mnist::PIXELS].to_vec()))])
        .unwrap();
    let probs = mnist::output_probabilities(&out, n).unwrap();
    for (i, row) in first.iter().enumerate() {
        for (d, want) in row.as_array().unwrap().iter().enumerate() {
            let (got, want) = (probs[i * 10 + d], want.as_f64().unwrap() as f32);
            assert!((got - want).abs() <= 1e-5, "digit {i} class {d}: {got} vs ORT {want}");
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn int8_dynamic_is_within_the_margin_of_onnxruntime_quantize_dynamic() {
    let (model, set) = load();
    let e = expected();
    let int8 = model.quantize(&Spec::Int8Dynamic.config(&set).unwrap()).unwrap();
    let predicted = mnist::predictions(&int8, &set.images, BATCH).unwrap();
    let correct = predicted.iter().zip(&set.labels).filter(|(p, l)| p == l).count() as i64;
    let ort = correct_of(&e["int8_dynamic_ort"]);
    assert!((correct - ort).abs() <= INT8_MARGIN_DIGITS, "engine int8 dynamic {correct} right, ORT {ort}");
    // Digit by digit, the two int8 models agree almost everywhere.
    let ort_pred: Vec<u8> = e["int8_dynamic_ort"]["predictions"].as_str().unwrap().bytes().map(|b| b - b'0').collect();
    let disagree = predicted.iter().zip(&ort_pred).filter(|(a, b)| a != b).count();
    assert!(disagree <= INT8_MARGIN_DIGITS as usize, "{disagree} digits predicted differently from ORT's int8 model");
    // quantize_dynamic's int8 model stores 89,610 weights as ≈ 1 byte each.
    assert!(int8.stored_bytes() < model.stored_bytes() / 3, "{} vs {}", int8.stored_bytes(), model.stored_bytes());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn int8_static_minmax_is_within_the_margin_of_onnxruntime_quantize_static() {
    let (model, set) = load();
    let e = expected();
    let int8 = model.quantize(&Spec::Int8Static(Calibration::MinMax).config(&set).unwrap()).unwrap();
    let eval = mnist::evaluate(&int8, &set, BATCH).unwrap();
    let ort = correct_of(&e["int8_static_ort_minmax"]);
    assert!((eval.correct as i64 - ort).abs() <= INT8_MARGIN_DIGITS, "engine int8 static {} right, ORT {ort}", eval.correct);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_variant_of_the_table_builds_and_keeps_the_model_useful() {
    let (model, set) = load();
    let fp32 = correct_of(&expected()["fp32"]) as f64 / set.len() as f64;
    // A clock that moves 5 ms per reading, so the latency rounds stop at one run each.
    let now = std::cell::Cell::new(0.0);
    let tick = || {
        now.set(now.get() + 5.0);
        now.get()
    };
    let mut seen = 0;
    let rows = mnist::accuracy_table(&model, &set, &mnist::table_variants(), &tick, |_| seen += 1).unwrap();
    assert_eq!(seen, rows.len());
    assert_eq!(rows.len(), mnist::table_variants().len());
    assert_eq!(rows[0].evaluation.accuracy, fp32);
    for r in &rows {
        // 8- and 16-bit weights cost this small MLP a fraction of a point, 3- and 4-bit ones a few
        // points at most; ternary weights (int2) break it, but it stays far better than chance.
        let bits = ["2_sym", "q2", "q3", "4"].iter().position(|k| r.label.contains(k));
        match bits {
            Some(0) => assert!(r.evaluation.accuracy > 0.2 && r.evaluation.accuracy < fp32 - 0.1, "{}: {}", r.label, r.evaluation.accuracy),
            Some(_) => assert!(r.evaluation.accuracy >= fp32 - 0.05, "{}: {} vs FP32 {fp32}", r.label, r.evaluation.accuracy),
            None => assert!(r.evaluation.accuracy >= fp32 - 0.01, "{}: {} vs FP32 {fp32}", r.label, r.evaluation.accuracy),
        }
        assert!(r.latency_micros > 0.0);
        if r.label != "FP32" && r.label != "fp16" {
            assert!(r.bytes < rows[0].bytes / 3, "{} stores {} bytes", r.label, r.bytes);
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn layer_sensitivity_quantizes_each_layer_alone() {
    let (model, set) = load();
    let layers = mnist::layer_sensitivity(&model, &set, &Spec::Int4Dynamic).unwrap();
    let names: Vec<&str> = layers.iter().map(|l| l.node.as_str()).collect();
    assert_eq!(names, ["fc1", "fc2", "fc3"]);
    assert!(layers.iter().all(|l| l.op == "Gemm" && l.evaluation.count == set.len()));
    // Each single layer costs no more than quantizing all three.
    let all = mnist::evaluate(&model.quantize(&Spec::Int4Dynamic.config(&set).unwrap()).unwrap(), &set, BATCH).unwrap();
    let best_single = layers.iter().map(|l| l.evaluation.correct).max().unwrap();
    assert!(best_single >= all.correct, "one layer {best_single} vs all layers {}", all.correct);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_malformed_test_set_is_a_clear_error() {
    use std::io::Write;
    // A stored .npz of the given .npy members.
    fn npz(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut buf);
        for (name, bytes) in members {
            zip.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        buf.into_inner()
    }
    fn npy_u8(shape: &[usize], data: &[u8]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
        let header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }
    let images = npy_u8(&[2, 784], &[0; 2 * 784]);
    let cases: [(Vec<u8>, &str); 4] = [
        (npz(&[("labels.npy", npy_u8(&[2], &[1, 2]))]), "no 'images' array"),
        (
            npz(&[("images.npy", npy_u8(&[2, 28, 28], &[0; 2 * 784])), ("labels.npy", npy_u8(&[2], &[1, 2]))]),
            "'images' must be uint8 [N, 784]",
        ),
        (npz(&[("images.npy", images.clone()), ("labels.npy", npy_u8(&[3], &[1, 2, 3]))]), "'labels' must be uint8 [2]"),
        (npz(&[("images.npy", images), ("labels.npy", npy_u8(&[2], &[1, 12]))]), "label 1 is 12, not a digit"),
    ];
    for (bytes, want) in cases {
        let err = TestSet::from_npz(&bytes).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}

//! ONNX Runtime's calibrations (onnxruntime 1.32 `calibrate.py`: Percentile, Entropy,
//! Distribution) against ONNX Runtime itself, from scripts/fixtures/make_onnx_static_calib.py:
//! * the histogram collector on seeded batches (merging, re-binning, constant and zero
//!   tensors, odd bin counts): the same (lowest, highest) bits, and the same refusals;
//! * numpy's float32 log, which the entropy search sums: the same bits;
//! * whole models (the MNIST MLP, the MLP, the conv net) through `quantize_static` with each
//!   calibration variant, fed ONNX Runtime's own values of every calibrated tensor: the same
//!   ranges bit for bit, and the same quantized file (initializers byte for byte, nodes);
//! * quantscope's engine's values instead of ONNX Runtime's: ranges within a bin of ONNX
//!   Runtime's (the kernels' float rounding differs);
//! * bad options and bad values refused with the reason. Native only.
#![cfg(not(target_arch = "wasm32"))]

use crate::compare::{describe, initializer_fields, static_options};
use prost::Message;
use quantscope_engine::{Model, Value};
use quantscope_formats::onnx::proto::{ModelProto, TensorProto};
use quantscope_formats::{npy, npz};
use quantscope_onnx_quant::calibrate::{Calibration, Calibrator, Method};
use quantscope_onnx_quant::static_qdq::{histogram_calibration_model, quantize_static, Ranges};
use quantscope_onnx_quant::QuantizeError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).to_path_buf()
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/onnx_static_calib")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn arrays(path: &Path) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    npz::parse(&std::fs::read(path).unwrap()).unwrap().into_iter().map(|t| (t.name, (t.shape, t.data))).collect()
}

fn calibration(o: &serde_json::Value) -> Calibration {
    // cases.json names ONNX Runtime's enum (`Percentile`), quantscope the lower-case method
    let method = Method::parse(&o["method"].as_str().unwrap().to_ascii_lowercase()).unwrap();
    Calibration {
        method,
        num_bins: o["num_bins"].as_u64().unwrap() as usize,
        num_quantized_bins: o["num_quantized_bins"].as_u64().unwrap() as usize,
        percentile: o["percentile"].as_f64().unwrap(),
        symmetric: o["symmetric"].as_bool().unwrap(),
    }
}

fn bits(r: (f32, f32)) -> [u32; 2] {
    [r.0.to_bits(), r.1.to_bits()]
}

#[test]
fn the_collector_gives_onnx_runtimes_ranges() {
    let listing = json(&fixtures().join("collector.json"));
    let data = arrays(&fixtures().join("collector.npz"));
    let mut compared = 0;
    for case in listing["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let c = calibration(&case["options"]);
        let ranges = Calibrator::new(c).and_then(|mut cal| {
            for k in 0..case["batches"].as_u64().unwrap() {
                cal.collect("t", &data[&format!("{}.{k}", case["data"].as_str().unwrap())].1)?;
            }
            cal.ranges()
        });
        match case.get("error") {
            None => {
                let ours = ranges.unwrap_or_else(|e| panic!("{name}: {e}"))["t"];
                let theirs: Vec<u32> = case["range"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
                assert_eq!(
                    bits(ours).to_vec(),
                    theirs,
                    "{name}: ours {ours:?}, ONNX Runtime's ({}, {})",
                    f32::from_bits(theirs[0]),
                    f32::from_bits(theirs[1])
                );
            }
            Some(err) => {
                let e = ranges.expect_err(name);
                assert!(matches!(e, QuantizeError::Calibration(_)), "{name}: {e:?} (ONNX Runtime: {err})");
            }
        }
        compared += 1;
    }
    assert_eq!(compared, 11 * 9 + 4);
}

#[test]
fn numpys_float32_log_bit_for_bit() {
    // The entropy search's KL terms go through np.log in float32; quantscope's port of numpy's
    // x86-64 kernel gives the values numpy gave on the machine that wrote the fixtures.
    let data = arrays(&fixtures().join("collector.npz"));
    let (x, y) = (&data["log.x"].1, &data["log.y"].1);
    let mut differ = 0;
    for (&x, &y) in x.iter().zip(y) {
        let ours = quantscope_onnx_quant::calibrate::numpy_log_f32(x);
        if ours.to_bits() != y.to_bits() {
            differ += 1;
            eprintln!("log({x:e}) = {ours:e}, numpy {y:e}");
        }
    }
    assert_eq!(differ, 0);
}

/// The values ONNX Runtime's calibrater collected: tensor → (runs, values of each run).
fn activations(case: &str) -> HashMap<String, (usize, Vec<f32>)> {
    arrays(&fixtures().join(format!("{case}.activations.npz"))).into_iter().map(|(k, (shape, data))| (k, (shape[0], data))).collect()
}

fn collect(c: Calibration, values: &HashMap<String, (usize, Vec<f32>)>, strided: bool) -> Ranges {
    let mut cal = Calibrator::new(c).unwrap();
    if strided {
        // CalibStridedMinMax = 1: one collect_data call per run
        let runs = values.values().next().unwrap().0;
        for k in 0..runs {
            for (t, (runs, v)) in values {
                let per_run = v.len() / runs;
                cal.collect(t, &v[k * per_run..(k + 1) * per_run]).unwrap();
            }
        }
    } else {
        for (t, (_, v)) in values {
            cal.collect(t, v).unwrap();
        }
    }
    cal.ranges().unwrap()
}

fn ort_ranges(case: &str, variant: &str) -> HashMap<String, [u32; 2]> {
    let v = json(&fixtures().join(format!("{case}.{variant}.ranges.json")));
    v.as_object().unwrap().iter().map(|(k, r)| (k.clone(), [r[0].as_u64().unwrap() as u32, r[1].as_u64().unwrap() as u32])).collect()
}

#[test]
fn every_calibration_variant_equals_onnx_runtime() {
    let listing = json(&fixtures().join("cases.json"));
    let mut compared = 0;
    for (case, c) in listing["cases"].as_object().unwrap() {
        let source = std::fs::read(root().join(c["source"].as_str().unwrap())).unwrap();
        let values = activations(case);
        for (variant, o) in c["variants"].as_object().unwrap() {
            let what = format!("{case}.{variant}");
            let ours = collect(calibration(o), &values, o["strided"].as_bool().unwrap());
            let theirs = ort_ranges(case, variant);
            let mut names: Vec<&String> = theirs.keys().collect();
            names.sort();
            for t in names {
                if values[t].1.is_empty() {
                    // No values (paddle's empty Resize roi): ONNX Runtime bins nothing and still
                    // gives a range, which no quantized node reads; quantscope gives none.
                    assert!(!ours.contains_key(t), "{what}: a range for {t}, which has no values");
                    continue;
                }
                let r = ours.get(t).copied().unwrap_or_else(|| panic!("{what}: no range for {t}"));
                let [lo, hi] = theirs[t];
                assert_eq!(bits(r), theirs[t], "{what} {t}: ours {r:?}, ONNX Runtime's ({}, {})", f32::from_bits(lo), f32::from_bits(hi));
            }
            let expected = std::fs::read(fixtures().join(format!("{what}.onnx"))).unwrap();
            let (file, report) = quantize_static(&source, &ours, &static_options(o)).unwrap();
            let (a, b) = (initializer_fields(&file), initializer_fields(&expected));
            assert_eq!(a.len(), b.len(), "{what}: initializers");
            for (x, y) in a.iter().zip(&b) {
                assert!(x == y, "{what}: initializer {:?} differs", TensorProto::decode(&y[2..]).ok().and_then(|t| t.name));
            }
            let nodes = |bytes: &[u8]| ModelProto::decode(bytes).unwrap().graph.unwrap().node.iter().map(describe).collect::<Vec<_>>();
            assert_eq!(nodes(&file), nodes(&expected), "{what}: nodes");
            assert!(report.kept.is_empty() && !report.quantized.is_empty(), "{what}: {report:?}");
            compared += 1;
        }
    }
    assert_eq!(compared, 5 + 12 + 12 + 5);
}

#[test]
fn the_engines_values_give_ranges_within_a_bin_of_onnx_runtimes() {
    // The page's and the CLI's way: the histogram calibration model (every calibrated tensor an
    // output) run by quantscope's engine on all calibration rows at once.
    let listing = json(&fixtures().join("cases.json"));
    for (case, c) in listing["cases"].as_object().unwrap() {
        let source = std::fs::read(root().join(c["source"].as_str().unwrap())).unwrap();
        let input = c["input"].as_str().unwrap();
        let t =
            npy::parse("c", &std::fs::read(root().join(format!("tests/fixtures/onnx_static/{case}.calibration.npy"))).unwrap()).unwrap();
        let batch = Value::f32([vec![t.shape[0] * t.shape[1]], t.shape[2..].to_vec()].concat(), t.data.clone());
        let (augmented, tensors) = histogram_calibration_model(&source).unwrap();
        let mut ort_tensors: Vec<String> = activations(case).into_keys().collect();
        let mut sorted = tensors.clone();
        ort_tensors.sort();
        sorted.sort();
        assert_eq!(sorted, ort_tensors, "{case}: the tensors ONNX Runtime calibrates");
        let outputs = Model::from_onnx(&augmented).unwrap().run(&[(input, batch)]).unwrap();
        for (variant, o) in c["variants"].as_object().unwrap() {
            if o["strided"].as_bool().unwrap() {
                continue;
            }
            let mut cal = Calibrator::new(calibration(o)).unwrap();
            for t in &tensors {
                let v = outputs.iter().find(|(n, _)| n == t).unwrap_or_else(|| panic!("{case}: no output {t}"));
                cal.collect(t, &v.1.to_f32_vec()).unwrap();
            }
            let ours = cal.ranges().unwrap();
            for (t, [lo, hi]) in ort_ranges(case, variant) {
                let (lo, hi) = (f32::from_bits(lo), f32::from_bits(hi));
                let Some(&(a, b)) = ours.get(&t) else {
                    let empty = outputs.iter().any(|(n, v)| n == &t && v.to_f32_vec().is_empty());
                    assert!(empty, "{case}.{variant}: no range for {t}");
                    continue;
                };
                // a bin of the histogram, plus the kernels' rounding
                let tol = 2.0 * lo.abs().max(hi.abs()) / calibration(o).num_bins as f32 * 1.01 + 1e-5;
                assert!(
                    (a - lo).abs() <= tol && (b - hi).abs() <= tol,
                    "{case}.{variant} {t}: ours ({a}, {b}), ONNX Runtime's ({lo}, {hi})"
                );
            }
        }
    }
}

fn refused(c: Calibration) -> String {
    match Calibrator::new(c) {
        Err(QuantizeError::Calibration(why)) => why,
        other => panic!("{c:?} accepted: {other:?}"),
    }
}

fn refused_values(c: Calibration, values: &[f32]) -> String {
    let mut cal = Calibrator::new(c).unwrap();
    match cal.collect("x", values).and_then(|_| cal.ranges()) {
        Err(QuantizeError::Calibration(why)) => why,
        other => panic!("{values:?} accepted: {other:?}"),
    }
}

#[test]
fn bad_options_and_values_are_refused_with_the_reason() {
    let percentile = Calibration::new(Method::Percentile);
    let entropy = Calibration::new(Method::Entropy);
    for p in [0.0, -1.0, 100.5, f64::NAN] {
        assert!(refused(Calibration { percentile: p, ..percentile }).contains("percentile must be in (0, 100]"), "{p}");
    }
    assert!(Calibrator::new(Calibration { percentile: 100.0, ..percentile }).is_ok());
    assert!(refused(Calibration { num_bins: 0, ..entropy }).contains("num_bins is 0"));
    assert!(refused(Calibration { num_quantized_bins: 0, ..entropy }).contains("at least 1 quantized bin"));
    assert!(refused(Calibration { num_quantized_bins: 300, ..entropy }).contains("must not exceed num_bins"));
    assert!(refused(Calibration { num_bins: 100, ..Calibration::new(Method::Distribution) }).contains("at least 512 bins"));
    assert!(refused(Calibration { num_bins: 1 << 30, ..percentile }).contains("more than quantscope keeps"));
    // NaN and infinities in the calibration values, named with the tensor.
    assert!(refused_values(entropy, &[1.0, f32::NAN]).contains("'x' took the value NaN"));
    assert!(refused_values(percentile, &[f32::NEG_INFINITY, 1.0]).contains("'x' took the value -inf"));
    // An empty tensor (ppocr_det's zero-length Resize roi) gets no range, as with MinMax: every
    // method calibrates the rest, and quantize_static refuses a node that needs it by name.
    for method in [Method::MinMax, Method::Percentile, Method::Entropy, Method::Distribution] {
        let mut cal = Calibrator::new(Calibration::new(method)).unwrap();
        cal.collect("roi", &[]).unwrap();
        cal.collect("x", &[-1.0, 0.5, 2.0]).unwrap();
        let ranges = cal.ranges().unwrap();
        assert!(!ranges.contains_key("roi") && ranges.contains_key("x"), "{method:?}: {ranges:?}");
    }
    // A constant tensor too large for 2048 float32 bins of |x| ± 0.5 (ONNX Runtime: "Too many
    // bins for data range"); with fewer bins, or as x over ±|x|, it calibrates.
    assert!(refused_values(percentile, &[1e5; 10]).contains("narrower than float32 can tell apart"));
    let mut cal = Calibrator::new(Calibration { num_bins: 16, ..percentile }).unwrap();
    cal.collect("x", &[1e5; 10]).unwrap();
    assert_eq!(cal.ranges().unwrap()["x"], (1e5, 1e5));
    let mut cal = Calibrator::new(entropy).unwrap();
    cal.collect("x", &[-2.5; 10]).unwrap();
    assert_eq!(cal.ranges().unwrap()["x"], (-2.5, -2.5));
    // An all-zero tensor: a range of (0, 0), which quantize_static gives scale 1 (as ONNX Runtime).
    let mut cal = Calibrator::new(entropy).unwrap();
    cal.collect("x", &[0.0; 10]).unwrap();
    assert_eq!(cal.ranges().unwrap()["x"], (0.0, 0.0));
    // An unknown method.
    assert!(matches!(Method::parse("mse"), Err(QuantizeError::Calibration(why)) if why.contains("not 'mse'")));
}

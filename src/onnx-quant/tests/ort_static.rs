//! `quantize_static` (QDQ, MinMax) against ONNX Runtime's own (onnxruntime 1.32, the fixtures of
//! scripts/fixtures/make_onnx_static.py): for the page's MNIST MLP (Gemm, Relu, Softmax), the
//! MLP (MatMul, Add, Relu) and the conv net (Conv, Relu, MaxPool, GlobalAveragePool, Flatten,
//! Gemm), a graph of the ops with QDQ rules of their own (Resize, Pad reflect/0/0.5, Split, Gather
//! and GatherElements of an activation and of an initializer, Where, Instance-, Batch- and
//! LayerNormalization), Transpose/MaxPool/AveragePool/Where/Gather/Reshape fed by float-only ops
//! without and with ForceQuantizeNoInputCheck, and the real scikit-learn MLP (skl2onnx: MatMul, Add, Relu, Softmax, ArgMax and
//! ai.onnx.ml ops left alone), activations uint8 and int8, weights per tensor and per channel, given ONNX Runtime's
//! calibrated ranges the quantized file has ONNX Runtime's initializers byte for byte, its nodes
//! in its order, and the engine gives bit-identical outputs running either file. quantscope's own
//! MinMax calibration (the engine's values) gives ONNX Runtime's ranges, to float rounding of the
//! kernels. Bad input is refused with the reason. Native only.
#![cfg(not(target_arch = "wasm32"))]

use crate::compare::{describe, initializer_fields, static_options};
use prost::Message;
use quantscope_engine::{Model, Value};
use quantscope_formats::npy;
use quantscope_formats::onnx::proto::{ModelProto, TensorProto};
use quantscope_onnx_quant::static_qdq::{calibration_model, quantize_static, tensors_to_calibrate, RangeCollector, Ranges, StaticOptions};
use quantscope_onnx_quant::QuantizeError;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).to_path_buf()
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/onnx_static")
}

fn listing() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("cases.json")).unwrap()).unwrap()
}

/// ONNX Runtime's calibration cache (`save_tensors_data`): name → (lowest, highest).
fn ort_ranges(case: &str) -> Ranges {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(fixtures().join(format!("{case}.ranges.json"))).unwrap()).unwrap();
    v["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, d)| {
            let f = |key: &str| d[key]["data"][0].as_f64().unwrap() as f32;
            (k.clone(), (f("lowest"), f("highest")))
        })
        .collect()
}

/// The calibration runs: `[runs, batch, ...]` split on the first axis.
fn calibration_runs(case: &str) -> Vec<Value> {
    let t = npy::parse("c", &std::fs::read(fixtures().join(format!("{case}.calibration.npy"))).unwrap()).unwrap();
    let per_run: usize = t.shape[1..].iter().product();
    t.data.chunks(per_run).map(|c| Value::f32(t.shape[1..].to_vec(), c.to_vec())).collect()
}

#[test]
fn every_variant_equals_onnx_runtime() {
    let listing = listing();
    let mut compared = 0;
    for (case, c) in listing["cases"].as_object().unwrap() {
        let source = std::fs::read(root().join(c["source"].as_str().unwrap())).unwrap();
        let ranges = ort_ranges(case);
        let input = c["input"].as_str().unwrap();
        let runs = calibration_runs(case);
        for (variant, o) in c["variants"].as_object().unwrap() {
            let what = format!("{case}.{variant}");
            let theirs = std::fs::read(fixtures().join(format!("{what}.onnx"))).unwrap();
            let (ours, report) = quantize_static(&source, &ranges, &static_options(o)).unwrap();
            let (a, b) = (initializer_fields(&ours), initializer_fields(&theirs));
            let names = |f: &[Vec<u8>]| f.iter().map(|f| TensorProto::decode(&f[2..]).ok().and_then(|t| t.name)).collect::<Vec<_>>();
            assert_eq!(names(&a), names(&b), "{what}: initializers");
            for (x, y) in a.iter().zip(&b) {
                assert!(x == y, "{what}: initializer {:?} differs", TensorProto::decode(&y[2..]).ok().and_then(|t| t.name));
            }
            let (m_ours, m_theirs) = (ModelProto::decode(&ours[..]).unwrap(), ModelProto::decode(&theirs[..]).unwrap());
            let (g_ours, g_theirs) = (m_ours.graph.unwrap(), m_theirs.graph.unwrap());
            let nodes = |g: &quantscope_formats::onnx::proto::GraphProto| g.node.iter().map(describe).collect::<Vec<_>>();
            assert_eq!(nodes(&g_ours), nodes(&g_theirs), "{what}: nodes");
            // ONNX Runtime's file went through onnx's shape inference, which names unknown output
            // dims (`unk__0`); the names and types are the model's.
            let io = |v: &[quantscope_formats::onnx::proto::ValueInfoProto]| {
                v.iter()
                    .map(|v| (v.name.clone(), v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).and_then(|t| t.elem_type)))
                    .collect::<Vec<_>>()
            };
            assert_eq!(g_ours.input, g_theirs.input, "{what}: graph inputs");
            assert_eq!(io(&g_ours.output), io(&g_theirs.output), "{what}: graph outputs");
            assert_eq!(m_ours.opset_import, m_theirs.opset_import, "{what}: opsets");
            // Without ForceQuantizeNoInputCheck the `force` graph has nothing quantize_static
            // quantizes (force_quantize_no_input_check_reports below).
            assert!(report.kept.is_empty() && (what == "force.u8" || !report.quantized.is_empty()), "{what}: {report:?}");
            // The same arithmetic: the engine runs both files to the same bits.
            let run = |bytes: &[u8]| Model::from_onnx(bytes).unwrap().run(&[(input, runs[0].clone())]).unwrap();
            for ((n1, y1), (n2, y2)) in run(&ours).iter().zip(run(&theirs).iter()) {
                assert_eq!(n1, n2);
                let (y1, y2) = (y1.to_f32_vec(), y2.to_f32_vec());
                assert!(y1.iter().zip(&y2).all(|(p, q)| p.to_bits() == q.to_bits()), "{what}: output {n1} differs");
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 23);
}

/// MinMax calibration in the engine: every float value of every run, as `MinMaxCalibrater`.
fn calibrate(source: &[u8], input: &str, runs: &[Value]) -> Ranges {
    let model = Model::from_onnx(source).unwrap();
    let mut collector = RangeCollector::default();
    for x in runs {
        model
            .run_observing(&[(input, x.clone())], &mut |name, v| {
                if let Some(values) = v.as_f32() {
                    collector.observe(name, values);
                }
            })
            .unwrap();
    }
    // Constant nodes' values (paddle2onnx keeps weights in them): ONNX Runtime's augmented model
    // outputs them, the engine's run never makes them; the CLI and the page take them so.
    for t in tensors_to_calibrate(source).unwrap() {
        if !collector.ranges.contains_key(&t) {
            if let Some(values) = model.constant(&t).and_then(|v| v.as_f32()) {
                collector.observe(&t, values);
            }
        }
    }
    collector.ranges
}

#[test]
fn quantscope_calibration_gives_onnx_runtime_ranges() {
    let listing = listing();
    for (case, c) in listing["cases"].as_object().unwrap() {
        let source = std::fs::read(root().join(c["source"].as_str().unwrap())).unwrap();
        let input = c["input"].as_str().unwrap();
        let ours = calibrate(&source, input, &calibration_runs(case));
        for (name, (lo, hi)) in ort_ranges(case) {
            let (a, b) = ours.get(&name).copied().unwrap_or_else(|| panic!("{case}: no range for {name}"));
            // The input's range is exact; computed values differ from ONNX Runtime's kernels by
            // the summation order of their dot products.
            let tol = if name == input { 0.0 } else { 1e-5 * lo.abs().max(hi.abs()).max(1.0) };
            assert!((a - lo).abs() <= tol && (b - hi).abs() <= tol, "{case} {name}: ours ({a}, {b}), ONNX Runtime's ({lo}, {hi})");
        }
    }
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let source = std::fs::read(root().join("www/models/mnist_mlp.onnx")).unwrap();
    let ranges = ort_ranges("mnist_mlp");
    // No calibration data.
    let err = quantize_static(&source, &Ranges::new(), &StaticOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no calibration data"), "{err}");
    // Calibration that never produced a tensor the quantizer needs.
    let mut partial = ranges.clone();
    partial.remove("relu1");
    let err = quantize_static(&source, &partial, &StaticOptions::default()).unwrap_err();
    assert!(err.to_string().contains("no calibrated range for 'relu1'"), "{err}");
    // A tensor that overflowed (or was NaN) in the calibration runs.
    let mut overflow = ranges.clone();
    overflow.insert("relu1".into(), (0.0, f32::INFINITY));
    let err = quantize_static(&source, &overflow, &StaticOptions::default()).unwrap_err();
    assert!(err.to_string().contains("'relu1' ranged from 0 to inf"), "{err}");
    // A model quantized already.
    let (once, _) = quantize_static(&source, &ranges, &StaticOptions::default()).unwrap();
    let err = quantize_static(&once, &ranges, &StaticOptions::default()).unwrap_err();
    assert!(err.to_string().contains("quantized already"), "{err}");
    // Not a model.
    assert!(matches!(quantize_static(&source[..source.len() / 2], &ranges, &StaticOptions::default()), Err(QuantizeError::Model(_))));
    // An opset without per-channel DequantizeLinear, and one without QuantizeLinear at all.
    let mut m = ModelProto::decode(&source[..]).unwrap();
    m.opset_import[0].version = Some(11);
    let per_channel = StaticOptions { per_channel: true, ..StaticOptions::default() };
    let err = quantize_static(&m.encode_to_vec(), &ranges, &per_channel).unwrap_err();
    assert!(err.to_string().contains("opset is 11; per-channel scales need"), "{err}");
    assert!(quantize_static(&m.encode_to_vec(), &ranges, &StaticOptions::default()).is_ok());
    m.opset_import[0].version = Some(9);
    let err = quantize_static(&m.encode_to_vec(), &ranges, &StaticOptions::default()).unwrap_err();
    assert!(err.to_string().contains("opset is 9"), "{err}");
}

#[test]
fn a_real_model_with_a_pad_is_quantized_whole() {
    // The Silero VAD encoder (PyTorch): Conv stacks after a Pad, quantized by ONNX Runtime's
    // QDQPad rule (the `ops` case checks that rule byte for byte); nothing is left in float and
    // the file runs.
    let dir = root().join("tests/fixtures/real_models/silero_encoder_v5");
    let source = std::fs::read(dir.join("model.onnx")).unwrap();
    let x = npy::parse("x", &std::fs::read(dir.join("input_0.npy")).unwrap()).unwrap();
    let x = Value::f32(x.shape.clone(), x.data.clone());
    let ranges = calibrate(&source, "input", std::slice::from_ref(&x));
    let (ours, report) = quantize_static(&source, &ranges, &StaticOptions::default()).unwrap();
    assert!(report.kept.is_empty(), "{:?}", report.kept);
    assert!(report.quantized.iter().any(|n| n.starts_with("Pad ")), "{:?}", report.quantized);
    assert!(report.quantized.iter().any(|n| n.starts_with("Conv ")), "{:?}", report.quantized);
    let fp32 = Model::from_onnx(&source).unwrap().run(&[("input", x.clone())]).unwrap();
    let int8 = Model::from_onnx(&ours).unwrap().run(&[("input", x)]).unwrap();
    assert_eq!(fp32.len(), int8.len());
    assert!(int8[0].1.to_f32_vec().iter().all(|v| v.is_finite()));
}

#[test]
fn the_calibration_model_reduces_to_the_same_ranges() {
    // The page's way (ONNX Runtime's augmented model): ReduceMin/ReduceMax outputs per tensor,
    // merged over runs, give exactly what observing every value gives, for the tensors that
    // ONNX Runtime calibrates.
    let listing = listing();
    for (case, c) in listing["cases"].as_object().unwrap() {
        let source = std::fs::read(root().join(c["source"].as_str().unwrap())).unwrap();
        let input = c["input"].as_str().unwrap();
        let runs = calibration_runs(case);
        let observed = calibrate(&source, input, &runs);
        let (augmented, tensors) = calibration_model(&source).unwrap();
        let mut ort: Vec<String> = ort_ranges(case).into_keys().collect();
        // a tensor of no values (paddle's empty roi) is in the model, not in the fixture's ranges
        let mut ours: Vec<String> = tensors.iter().filter(|t| observed.contains_key(*t)).cloned().collect();
        ort.sort();
        ours.sort();
        assert_eq!(ours, ort, "{case}: the tensors ONNX Runtime calibrates");
        let model = Model::from_onnx(&augmented).unwrap();
        let mut reduced = RangeCollector::default();
        for x in &runs {
            let outputs = model.run(&[(input, x.clone())]).unwrap();
            for t in &tensors {
                let get = |op: &str| match outputs.iter().find(|(n, _)| *n == format!("{t}_{op}")) {
                    Some(o) => o.1.to_f32_vec()[0],
                    None => panic!("{case}: no {t}_{op} in {:?}", outputs.iter().map(|o| o.0.clone()).collect::<Vec<_>>()),
                };
                reduced.observe(t, &[get("ReduceMin"), get("ReduceMax")]);
            }
        }
        for t in &ours {
            assert_eq!(reduced.ranges[t], observed[t], "{case} {t}");
        }
    }
}

/// The report names the nodes that got Q/DQ: without ForceQuantizeNoInputCheck none of the
/// `force` graph's pass-through ops (their inputs come from Abs and Neg, which stay float), with
/// it every one of them, in graph order.
#[test]
fn force_quantize_no_input_check_reports() {
    let source = std::fs::read(fixtures().join("force_model.onnx")).unwrap();
    let ranges = ort_ranges("force");
    let (_, plain) = quantize_static(&source, &ranges, &StaticOptions::default()).unwrap();
    assert!(plain.quantized.is_empty(), "{plain:?}");
    let force = StaticOptions { force_quantize_no_input_check: true, ..StaticOptions::default() };
    let (bytes, forced) = quantize_static(&source, &ranges, &force).unwrap();
    assert_eq!(
        forced.quantized,
        ["Transpose 'transpose'", "MaxPool 'maxpool'", "AveragePool 'avgpool'", "Where 'where'", "Gather 'gather'", "Reshape 'reshape'"]
    );
    // The same nodes as ONNX Runtime's file quantizes (every_variant_equals_onnx_runtime holds the bytes).
    let theirs = ModelProto::decode(&std::fs::read(fixtures().join("force.u8_force.onnx")).unwrap()[..]).unwrap();
    let ours = ModelProto::decode(&bytes[..]).unwrap();
    let quantize_nodes =
        |m: &ModelProto| m.graph.as_ref().unwrap().node.iter().filter(|n| n.op_type.as_deref() == Some("QuantizeLinear")).count();
    assert_eq!(quantize_nodes(&ours), quantize_nodes(&theirs));
    assert_eq!(quantize_nodes(&ours), 9);
}

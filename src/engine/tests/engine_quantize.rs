//! `Model::quantize` against ONNX Runtime's quantizer and against the FP32 model.
//!
//! * int8 dynamic: the engine's quantization of the FP32 MLP and conv net must give, bit for
//!   bit, what the engine gives running ONNX Runtime's `quantize_dynamic` of the same model
//!   (same int8 weights and scales, same DynamicQuantizeLinear → MatMulInteger/ConvInteger →
//!   Cast → Mul → Add arithmetic; those ops are themselves checked against ORT in
//!   src/engine/tests/engine_conformance.rs).
//! * Every mode stays close to FP32 on the fixtures, sizes are what the layouts say, and
//!   `only_nodes` quantizes only the nodes named.
#![cfg(not(target_arch = "wasm32"))]

use prost::Message;
use quantscope_core::schemes::int::calibration::Calibration;
use quantscope_engine::EngineError;
use quantscope_engine::{tensor_proto, Model, QuantizeConfig, QuantizeKind, Value};
use quantscope_formats::onnx::proto::TensorProto;
use std::path::{Path, PathBuf};

fn dir(case: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/onnx_node/ort").join(case)
}

fn load(case: &str) -> Model {
    Model::from_onnx(&std::fs::read(dir(case).join("model.onnx")).unwrap()).unwrap()
}

fn pb(path: PathBuf) -> Value {
    let bytes = std::fs::read(&path).unwrap();
    tensor_proto::decode(&TensorProto::decode(bytes.as_slice()).unwrap(), "t").unwrap()
}

fn input(case: &str) -> Value {
    pb(dir(case).join("test_data_set_0/input_0.pb"))
}

fn calibration(case: &str) -> Vec<Vec<(String, Value)>> {
    (0..4).map(|i| vec![("x".to_string(), pb(dir(case).join(format!("calibration/input_{i}.pb"))))]).collect()
}

fn run(m: &Model, x: &Value) -> Vec<f32> {
    m.run(&[("x", x.clone())]).unwrap()[0].1.to_f32_vec()
}

fn quantize(m: &Model, kind: QuantizeKind) -> Model {
    m.quantize(&QuantizeConfig::new(kind)).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Largest |a − b| over the output, relative to the output's largest magnitude.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[test]
fn int8_dynamic_equals_onnx_runtime_quantize_dynamic_bit_for_bit() {
    for (fp32, ort, per_channel) in [
        ("mlp_fp32", "mlp_dynamic", false),
        ("mlp_fp32", "mlp_dynamic_per_channel", true),
        ("convnet_fp32", "convnet_dynamic_int8", false),
        // Not the conv net per channel: ORT's dynamic ConvInteger weights stay per tensor
        // even with per_channel=True (only its MatMul weights go per channel).
    ] {
        let x = input(fp32);
        let ours = quantize(&load(fp32), QuantizeKind::Int8Dynamic { per_channel });
        let theirs = load(ort);
        assert_eq!(bits(&run(&ours, &x)), bits(&run(&theirs, &x)), "{fp32} vs ORT's {ort}");
        assert!(ours.op_counts().iter().any(|(op, _)| op == "QuantMatMul" || op == "QuantConv"), "{:?}", ours.op_counts());
    }
}

#[test]
fn every_mode_stays_close_to_fp32() {
    for case in ["mlp_fp32", "convnet_fp32"] {
        let m = load(case);
        let x = input(case);
        let reference = run(&m, &x);
        let cal = calibration(case);
        let modes: Vec<(QuantizeKind, f32)> = vec![
            (QuantizeKind::Fp32, 0.0),
            (QuantizeKind::Int8Dynamic { per_channel: false }, 0.05),
            (QuantizeKind::Int8Dynamic { per_channel: true }, 0.05),
            (QuantizeKind::Int4Dynamic { per_channel: true }, 0.5),
            (QuantizeKind::Int8Static { per_channel: true, calibration: Calibration::MinMax, inputs: cal.clone() }, 0.1),
            (QuantizeKind::Int8Static { per_channel: true, calibration: quantscope_engine::STATIC_PERCENTILE, inputs: cal.clone() }, 0.1),
            (QuantizeKind::Int8Static { per_channel: false, calibration: Calibration::Entropy, inputs: cal.clone() }, 0.2),
            (QuantizeKind::Int8Static { per_channel: false, calibration: Calibration::Mse, inputs: cal.clone() }, 0.2),
            (QuantizeKind::WeightOnly { scheme: "q4_0".into() }, 0.5),
            (QuantizeKind::WeightOnly { scheme: "fp8_e4m3".into() }, 0.2),
            (QuantizeKind::WeightOnly { scheme: "int8_sym_channel".into() }, 0.05),
        ];
        for (kind, budget) in modes {
            let q = quantize(&m, kind.clone());
            let err = rel_err(&run(&q, &x), &reference);
            assert!(err <= budget, "{case} {kind:?}: relative error {err} over {budget}");
            if budget > 0.0 {
                assert!(err > 0.0, "{case} {kind:?}: output identical to FP32, was anything quantized?");
            }
        }
    }
}

#[test]
fn static_quantization_is_no_worse_than_onnx_runtime_qdq() {
    // ORT's QDQ graph also quantizes each op's output (MatMul, Add, Relu), which the engine's
    // integer ops keep in f32, so the two differ; on the same calibration data the engine's
    // error against FP32 must not exceed ORT's.
    let x = input("mlp_fp32");
    let m = load("mlp_fp32");
    let reference = run(&m, &x);
    let ours =
        quantize(&m, QuantizeKind::Int8Static { per_channel: false, calibration: Calibration::MinMax, inputs: calibration("mlp_fp32") });
    let ours = rel_err(&run(&ours, &x), &reference);
    let theirs = rel_err(&run(&load("mlp_qdq"), &x), &reference);
    assert!(ours <= theirs && theirs < 0.25, "engine {ours}, ORT QDQ {theirs}");
}

#[test]
fn sizes_count_codes_and_scales() {
    let m = load("mlp_fp32"); // 48→32→24→10, MatMul + Add
    let weights = 48 * 32 + 32 * 24 + 24 * 10;
    let biases = 32 + 24 + 10;
    assert_eq!(m.stored_bytes(), 4 * (weights + biases) as u64);
    assert_eq!(m.parameter_count(), (weights + biases) as u64);
    let per_tensor = quantize(&m, QuantizeKind::Int8Dynamic { per_channel: false });
    assert_eq!(per_tensor.stored_bytes(), (weights + 4 * 3 + 4 * biases) as u64);
    let per_channel = quantize(&m, QuantizeKind::Int8Dynamic { per_channel: true });
    assert_eq!(per_channel.stored_bytes(), (weights + 4 * (32 + 24 + 10) + 4 * biases) as u64);
    let int4 = quantize(&m, QuantizeKind::Int4Dynamic { per_channel: true });
    assert_eq!(int4.stored_bytes(), (weights / 2 + 4 * (32 + 24 + 10) + 4 * biases) as u64);
    // q4_0: 18 bytes per block of 32 values, each weight tensor padded to whole blocks.
    let q4 = quantize(&m, QuantizeKind::WeightOnly { scheme: "q4_0".into() });
    let blocks: usize = [48 * 32, 32 * 24, 24 * 10].iter().map(|n: &usize| n.div_ceil(32)).sum();
    assert_eq!(q4.stored_bytes(), (18 * blocks + 4 * biases) as u64);
    assert!(q4.description().starts_with("weight-only q4_0"), "{}", q4.description());
}

#[test]
fn only_nodes_quantizes_just_those() {
    let m = load("mlp_fp32");
    let names: Vec<String> = m.nodes().into_iter().filter(|n| n.quantizable).map(|n| n.name).collect();
    assert_eq!(names, ["matmul0", "matmul1", "matmul2"]);
    let q = m
        .quantize(&QuantizeConfig { kind: QuantizeKind::Int8Dynamic { per_channel: true }, only_nodes: Some(vec!["matmul1".into()]) })
        .unwrap();
    let ops: Vec<(String, String)> = q.nodes().into_iter().map(|n| (n.name, n.op_type)).collect();
    assert!(ops.contains(&("matmul1".into(), "QuantMatMul".into())), "{ops:?}");
    assert!(ops.contains(&("matmul0".into(), "MatMul".into())), "{ops:?}");
    assert!(q.description().contains("1 of 3"), "{}", q.description());
    let x = input("mlp_fp32");
    let e = rel_err(&run(&q, &x), &run(&m, &x));
    assert!(e > 0.0 && e < 0.05, "{e}");

    let bad = |only: &str| {
        m.quantize(&QuantizeConfig { kind: QuantizeKind::Int8Dynamic { per_channel: true }, only_nodes: Some(vec![only.into()]) })
    };
    assert_eq!(bad("nope").unwrap_err(), EngineError::Quantize("the model has no node named 'nope'".into()));
    assert!(bad("relu0").unwrap_err().to_string().contains("is not a MatMul, Gemm or Conv with constant weights"));
}

#[test]
fn quantize_errors_are_specific() {
    let m = load("mlp_fp32");
    let e = m.quantize(&QuantizeConfig::new(QuantizeKind::WeightOnly { scheme: "q9_9".into() })).unwrap_err();
    assert_eq!(e.to_string(), "cannot quantize the model: unknown scheme 'q9_9'");
    // The ggml_extra family is not linked into the engine's weight-only path (runner size).
    let e = m.quantize(&QuantizeConfig::new(QuantizeKind::WeightOnly { scheme: "iq4_nl".into() })).unwrap_err();
    assert!(e.to_string().contains("not 'iq4_nl'"), "{e}");
    let e = m
        .quantize(&QuantizeConfig::new(QuantizeKind::Int8Static { per_channel: true, calibration: Calibration::MinMax, inputs: vec![] }))
        .unwrap_err();
    assert!(e.to_string().contains("at least one calibration batch"), "{e}");
    let wrong = vec![vec![("x".to_string(), Value::f32(vec![2, 3], vec![0.0; 6]))]];
    let e = m
        .quantize(&QuantizeConfig::new(QuantizeKind::Int8Static { per_channel: true, calibration: Calibration::MinMax, inputs: wrong }))
        .unwrap_err();
    assert!(e.to_string().contains("a calibration batch failed to run"), "{e}");
}

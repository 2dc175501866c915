//! Real models from public packages (issue 13): what PyTorch, PaddlePaddle, tf2onnx and skl2onnx
//! emit, run by the engine on the seeded inputs of scripts/fixtures/make_real_models.py and
//! compared with ONNX Runtime's outputs: max |engine − ORT| / max |ORT| ≤ 1e-4 for float outputs
//! (float sums in another order; ORT's own Sigmoid and Tanh are approximations), integer outputs
//! equal. The committed models are the small ones (tests/fixtures/real_models); the script
//! checks the larger ones with the CLI. Native only.
#![cfg(not(target_arch = "wasm32"))]

use quantscope_engine::{DType, Model, Value};
use std::path::Path;

fn npy(path: &Path) -> Value {
    let t = quantscope_formats::npy::parse("x", &std::fs::read(path).unwrap()).unwrap();
    let dtype = match t.dtype.as_str() {
        "float32" => DType::F32,
        "int64" => DType::I64,
        other => panic!("{}: dtype {other}", path.display()),
    };
    Value::from_f32(dtype, t.shape.clone(), &t.data).unwrap()
}

#[test]
fn real_models_match_onnx_runtime() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/real_models");
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let tolerance = manifest["tolerance"].as_f64().unwrap();
    let mut checked = Vec::new();
    for (name, entry) in manifest["models"].as_object().unwrap() {
        if !entry["committed"].as_bool().unwrap() {
            continue;
        }
        let dir = root.join(name);
        let model = Model::from_onnx(&std::fs::read(dir.join("model.onnx")).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs: Vec<(String, Value)> = entry["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(k, n)| (n.as_str().unwrap().to_string(), npy(&dir.join(format!("input_{k}.npy")))))
            .collect();
        let inputs: Vec<(&str, Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let outputs = model.run(&inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (k, want_name) in entry["outputs"].as_array().unwrap().iter().enumerate() {
            let want_name = want_name.as_str().unwrap();
            let (_, got) = outputs.iter().find(|(n, _)| n == want_name).unwrap_or_else(|| panic!("{name}: no output {want_name}"));
            let want = npy(&dir.join(format!("output_{k}.npy")));
            assert_eq!(got.shape(), want.shape(), "{name}: {want_name} shape");
            if want.dtype() == DType::I64 {
                assert_eq!(got.to_i64_vec(), want.to_i64_vec(), "{name}: {want_name}");
                continue;
            }
            let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
            let scale = w.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
            let rel = g.iter().zip(&w).fold(0f64, |m, (a, b)| m.max((a - b).abs())) / scale;
            assert!(rel <= tolerance, "{name}: {want_name} differs from ONNX Runtime by {rel:e} of its largest value");
        }
        checked.push(name.clone());
    }
    // magika (tf2onnx), silero (PyTorch), ppocr_cls (PaddlePaddle), sklearn_mlp (skl2onnx), ...
    assert!(checked.len() >= 6, "checked only {checked:?}");
}

/// silero-vad keeps every weight inside its If branches (one per sample rate): the model's
/// parameters, size and ops count them, as Inspect lists them (formats' ONNX reader), not only
/// the main graph's handful of values; a quantized variant, which leaves the branches in float,
/// still holds them.
#[test]
fn weights_and_ops_inside_subgraphs_are_counted() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/real_models/silero_vad");
    let bytes = std::fs::read(root.join("model.onnx")).unwrap();
    let model = Model::from_onnx(&bytes).unwrap();
    let listed = quantscope_formats::onnx::parse(&bytes).unwrap();
    let (values, stored): (u64, u64) = listed.tensors.iter().fold((0, 0), |(n, b), t| {
        let bits = quantscope_core::tensor::stored_bits(&t.dtype).unwrap() as u64;
        (n + t.len() as u64, b + (t.len() as u64 * bits).div_ceil(8))
    });
    assert!(values > 100_000, "the branches hold silero's weights: {values}");
    assert_eq!(model.parameter_count(), values);
    assert_eq!(model.stored_bytes(), stored);
    let convs = model.op_counts().iter().find(|(op, _)| op == "Conv").map(|(_, n)| *n);
    assert!(convs.unwrap_or(0) >= 2, "{:?}", model.op_counts());
    let fp32 = model.quantize(&quantscope_engine::QuantizeConfig::new(quantscope_engine::QuantizeKind::Fp32)).unwrap();
    assert_eq!(fp32.stored_bytes(), stored);
    // Dynamic INT8 quantizes the branches' Convs too (what the page's comparison runs); the
    // outputs stay close to FP32's on the fixture's inputs.
    let int8 = model
        .quantize(&quantscope_engine::QuantizeConfig::new(quantscope_engine::QuantizeKind::Int8Dynamic { per_channel: false }))
        .unwrap();
    let description = int8.description().to_string();
    let inside: Vec<usize> = description
        .rsplit_once("MatMul/Gemm/Conv nodes, and ")
        .and_then(|(_, tail)| tail.strip_suffix(" inside If/Loop/Scan subgraphs"))
        .map(|counts| counts.split(" of ").map(|n| n.parse().unwrap()).collect())
        .unwrap_or_else(|| panic!("{description}"));
    assert!(inside[0] >= 2 && inside[0] == inside[1], "{description}");
    // Its Convs' weights in a quarter of the bytes (the LSTMs stay float: 0.61 of the size).
    assert!(int8.stored_bytes() < stored * 7 / 10, "{} of {stored}", int8.stored_bytes());
    let inputs: Vec<(String, Value)> =
        ["input", "state", "sr"].iter().enumerate().map(|(k, n)| (n.to_string(), npy(&root.join(format!("input_{k}.npy"))))).collect();
    let inputs: Vec<(&str, Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let (fp32_out, int8_out) = (model.run(&inputs).unwrap(), int8.run(&inputs).unwrap());
    let (a, b) = (fp32_out[1].1.to_f64_vec(), int8_out[1].1.to_f64_vec());
    let signal: f64 = a.iter().map(|x| x * x).sum();
    let noise: f64 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
    let sqnr = 10.0 * (signal / noise).log10();
    // ~10 dB: per-tensor u8 activations over the STFT magnitudes' wide range cost that much
    // (ONNX Runtime's quantize_dynamic cannot be the reference here: with EnableSubgraph it
    // stops at the branches' Constant weights, 'Expected ... to be an initializer'). A wrong
    // weight or scale lands near 0 dB or below.
    assert!(sqnr > 6.0 && noise > 0.0, "stateN SQNR {sqnr} dB");
    // A node selection names the main graph's nodes: the branches stay FP32, and it says so.
    let some = model
        .quantize(&quantscope_engine::QuantizeConfig {
            kind: quantscope_engine::QuantizeKind::Int8Dynamic { per_channel: false },
            only_nodes: Some(vec![]),
        })
        .unwrap();
    assert_eq!(some.stored_bytes(), stored);
    assert!(some.description().ends_with("(the nodes inside If/Loop/Scan subgraphs stay FP32)"), "{}", some.description());
}

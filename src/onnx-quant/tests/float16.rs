//! `convert_to_half` against onnxconverter-common 1.16.0's `convert_float_to_float16(model,
//! keep_io_types=True)` (the fixtures of scripts/fixtures/make_onnx_float16.py): on the MNIST
//! MLP, the committed real models, the dynamic-quantization test models and a model of the ops
//! the reference keeps in float32, every converted initializer and Constant tensor is the
//! reference's byte for byte (FNV-1a of its serialized TensorProto), and where ONNX Runtime
//! loads the reference's file the nodes are the same, in the same order, with the same names
//! and wiring. BF16 is the same rewrite, checked against the reference's graph with BFLOAT16
//! and ml_dtypes' rounding. Every file quantscope writes runs in the engine within FP16's
//! tolerance of the FP32 model (where ONNX Runtime refuses the reference's file too). Bad input
//! is refused with the reason. Native only.
#![cfg(not(target_arch = "wasm32"))]

use prost::Message;
use quantscope_engine::{DType, Model, Value};
use quantscope_formats::onnx::proto::{ModelProto, NodeProto};
use quantscope_formats::onnx::splice::ModelEdit;
use quantscope_onnx_quant::float16::{convert_to_half, Half};
use quantscope_onnx_quant::QuantizeError;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).to_path_buf()
}

fn fixtures() -> PathBuf {
    repo().join("tests/fixtures/onnx_float16")
}

fn cases() -> serde_json::Map<String, Json> {
    let listing: Json = serde_json::from_slice(&std::fs::read(fixtures().join("cases.json")).unwrap()).unwrap();
    listing["cases"].as_object().unwrap().clone()
}

fn fnv1a64(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{h:016x}")
}

/// `[op, name, inputs, outputs, Cast to]`, as the fixture lists a node.
fn describe(n: &NodeProto) -> Json {
    let to = (n.op_type.as_deref() == Some("Cast"))
        .then(|| n.attribute.iter().find(|a| a.name.as_deref() == Some("to")).and_then(|a| a.i))
        .flatten();
    json!([n.op_type.clone().unwrap_or_default(), n.name.clone().unwrap_or_default(), n.input, n.output, to])
}

/// The converted tensors of a file, hashed as the fixture hashes them: initializers by name (the
/// bytes as written), Constant values by `<output>:<attribute>`.
fn tensor_hashes(bytes: &[u8], half_type: i32) -> BTreeMap<String, String> {
    let edit = ModelEdit::open(bytes).unwrap();
    let mut out = BTreeMap::new();
    for t in edit.graph.initializers.iter().filter(|t| t.message.data_type == Some(half_type)) {
        out.insert(t.message.name.clone().unwrap(), fnv1a64(&t.payload()));
    }
    for n in edit.graph.nodes.iter().map(|n| &n.message) {
        for a in &n.attribute {
            if let Some(t) = a.t.as_ref().filter(|t| t.data_type == Some(half_type)) {
                out.insert(format!("{}:{}", n.output[0], a.name.clone().unwrap()), fnv1a64(&t.encode_to_vec()));
            }
        }
    }
    out
}

fn nodes(bytes: &[u8]) -> Vec<Json> {
    ModelProto::decode(bytes).unwrap().graph.unwrap().node.iter().map(describe).collect()
}

#[test]
fn weights_and_graphs_equal_onnxconverter_common() {
    let mut same_graph = Vec::new();
    let mut refused = Vec::new();
    for (case, entry) in cases() {
        let Some(fp16) = entry.get("fp16") else { continue };
        if entry.get("quantscope_refuses").is_some() {
            continue;
        }
        let source = std::fs::read(repo().join(entry["source"].as_str().unwrap())).unwrap();
        for (half, key) in [(Half::F16, "fp16"), (Half::BF16, "bf16")] {
            let want = &entry[key];
            if let Some(ops) = want.get("quantscope_refuses_ops") {
                // ops ONNX allows no bfloat16 in at the model's opset, named as the fixture found them
                let why = match convert_to_half(&source, half) {
                    Err(e @ QuantizeError::Unsupported(_)) => e.to_string(),
                    other => panic!("{case} {key}: expected a refusal, got {:?}", other.map(|(_, r)| r)),
                };
                let listed =
                    why.strip_prefix("ONNX allows bfloat16 in ").and_then(|w| w.split(" only;").next()).unwrap_or_else(|| panic!("{why}"));
                let named: Vec<&str> = listed.split("), ").map(|item| item.split(" (").next().unwrap()).collect();
                let want_ops: Vec<&str> = ops.as_array().unwrap().iter().map(|o| o.as_str().unwrap()).collect();
                assert_eq!(named, want_ops, "{case} {key}: {why}");
                refused.push(format!("{case} {key}"));
                continue;
            }
            let (ours, report) = convert_to_half(&source, half).unwrap_or_else(|e| panic!("{case} {key}: {e}"));
            let want_hashes: BTreeMap<String, String> = serde_json::from_value(want["tensors"].clone()).unwrap();
            assert_eq!(tensor_hashes(&ours, half.onnx_type()), want_hashes, "{case} {key}: converted tensors");
            assert_eq!(report.tensors, want_hashes.len(), "{case} {key}: {report:?}");
            if fp16.get("onnxruntime_refuses").is_none() {
                assert_eq!(nodes(&ours), want["nodes"].as_array().unwrap().clone(), "{case} {key}: nodes");
                same_graph.push(format!("{case} {key}"));
            }
        }
    }
    // FP16: mnist_mlp, ppocr_cls, the silero encoder and decoder, gemms, convs, blocked;
    // BF16: mnist_mlp, gemms, blocked (ppocr_cls is opset 11, the others have Conv before opset 22)
    assert_eq!(same_graph.len(), 10, "{same_graph:?}");
    // magika (OneHot, BatchNormalization), ppocr_cls, both silero parts, convs, old_ir
    assert_eq!(refused.len(), 6, "{refused:?}");
}

fn npy(path: &Path) -> Value {
    let t = quantscope_formats::npy::parse("x", &std::fs::read(path).unwrap()).unwrap();
    let dtype = match t.dtype.as_str() {
        "float32" => DType::F32,
        "int64" => DType::I64,
        other => panic!("{}: dtype {other}", path.display()),
    };
    Value::from_f32(dtype, t.shape.clone(), &t.data).unwrap()
}

/// The committed inputs of a real model, or seeded values in [-2, 2) (symbolic dims as 2).
fn inputs_for(case: &str, bytes: &[u8]) -> Vec<(String, Value)> {
    let g = ModelProto::decode(bytes).unwrap().graph.unwrap();
    let inits: Vec<_> = g.initializer.iter().filter_map(|t| t.name.clone()).collect();
    let dir = repo().join("tests/fixtures/real_models").join(case);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    g.input
        .iter()
        .filter(|i| !inits.contains(i.name.as_ref().unwrap()))
        .enumerate()
        .map(|(k, i)| {
            if dir.is_dir() {
                return (i.name.clone().unwrap(), npy(&dir.join(format!("input_{k}.npy"))));
            }
            let dims = &i.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().shape.as_ref().unwrap().dim;
            let shape: Vec<usize> = dims
                .iter()
                .map(|d| match d.value {
                    Some(quantscope_formats::onnx::proto::DimensionValue::DimValue(v)) => v as usize,
                    _ => 2,
                })
                .collect();
            let data = (0..shape.iter().product::<usize>())
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
                })
                .collect();
            (i.name.clone().unwrap(), Value::f32(shape, data))
        })
        .collect()
}

/// max |half − FP32| / max |FP32| over the float outputs (infinite when the half file gives a
/// NaN or ±inf where FP32 is finite); integer outputs must be equal.
fn worst_relative_error(fp32: &[(String, Value)], half: &[(String, Value)], what: &str) -> f64 {
    let mut worst = 0f64;
    for ((n1, a), (n2, b)) in fp32.iter().zip(half) {
        assert_eq!((n1, a.shape(), a.dtype()), (n2, b.shape(), b.dtype()), "{what}: output {n1} (kept float32)");
        if a.dtype() != DType::F32 {
            assert_eq!(a.to_i64_vec(), b.to_i64_vec(), "{what}: output {n1}");
            continue;
        }
        let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
        let scale = a.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
        for (x, y) in a.iter().zip(&b) {
            let d = if x.is_finite() && !y.is_finite() { f64::INFINITY } else { (x - y).abs() / scale };
            worst = worst.max(d);
        }
    }
    worst
}

/// Every FP16 file runs in the engine (also where ONNX Runtime refuses the reference's file:
/// a Cast to float32 in the graph, a graph output read by another node, IR 3) with its float32
/// inputs and outputs, within 1e-2 of the FP32 model's largest output value (half precision
/// keeps 11 significant bits; errors add up through the layers). magika cannot be run in FP16:
/// its activations reach 2.3e6 (FP16's largest finite value is 65504), so its layer norm sees
/// inf and its outputs are NaN, in ONNX Runtime as in the engine. `blocked` has weights made to
/// be clamped.
#[test]
fn every_fp16_file_runs_within_tolerance_of_fp32() {
    let mut ran = Vec::new();
    for (case, entry) in cases() {
        if entry.get("fp16").is_none() || entry.get("quantscope_refuses").is_some() {
            continue;
        }
        let source = std::fs::read(repo().join(entry["source"].as_str().unwrap())).unwrap();
        let inputs = inputs_for(&case, &source);
        let inputs: Vec<(&str, Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let want = Model::from_onnx(&source).unwrap().run(&inputs).unwrap();
        let (ours, _) = convert_to_half(&source, Half::F16).unwrap();
        let got = Model::from_onnx(&ours).unwrap_or_else(|e| panic!("{case}: {e}")).run(&inputs).unwrap_or_else(|e| panic!("{case}: {e}"));
        let err = worst_relative_error(&want, &got, &case);
        if case == "magika" {
            assert_eq!(err, f64::INFINITY, "magika: FP16 was expected to overflow");
        } else if case == "blocked" {
            // its weight's 2e4, -7e4 and 6e4 are clamped to ±1e4 on purpose: the outputs move
            assert!((0.1..1.0).contains(&err), "blocked: {err:e}");
        } else {
            assert!(err <= 1e-2, "{case}: FP16 differs from FP32 by {err:e} of the largest output");
            assert!(err > 0.0, "{case}: FP16 gave FP32's outputs exactly: was anything converted?");
        }
        ran.push(case);
    }
    assert_eq!(ran.len(), 12, "{ran:?}");
}

/// The types the file records follow: silero's decoder lists 23 float32 values in value_info;
/// each is retyped in place (its shape kept), while the graph's inputs and outputs stay float32.
/// (Its BF16 file is refused: Conv has no bfloat16 before opset 22.)
#[test]
fn recorded_value_types_follow_and_io_stays_float32() {
    let source = std::fs::read(repo().join("tests/fixtures/real_models/silero_decoder_v5/model.onnx")).unwrap();
    let before = ModelEdit::open(&source).unwrap().graph.value_info().unwrap();
    for half in [Half::F16] {
        let (ours, _) = convert_to_half(&source, half).unwrap();
        let edit = ModelEdit::open(&ours).unwrap();
        let after = edit.graph.value_info().unwrap();
        assert_eq!(after.len(), 23);
        for (a, b) in before.iter().zip(&after) {
            let (ta, tb) =
                (a.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap(), b.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap());
            assert_eq!((a.name.as_ref(), ta.elem_type, tb.elem_type), (b.name.as_ref(), Some(1), Some(half.onnx_type())));
            assert_eq!(ta.shape, tb.shape, "{:?}", a.name);
        }
        let io = edit.graph.inputs.iter().map(|v| &v.message).chain(&edit.graph.rest.output);
        for v in io {
            assert_eq!(v.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().elem_type, Some(1), "{:?}", v.name);
        }
    }
}

/// Where onnxconverter_common's file is broken (`deviations.onnx`; ONNX Runtime: "two nodes with
/// same node name (x_cast_to_)", and its TopK's `values` output turns FLOAT16): one Cast for the
/// input both unnamed MatMuls read, and TopK writes its graph outputs itself, in float32.
#[test]
fn where_the_reference_breaks_the_file_quantscope_writes_a_valid_one() {
    let source = std::fs::read(fixtures().join("deviations.onnx")).unwrap();
    let (ours, report) = convert_to_half(&source, Half::F16).unwrap();
    let g = ModelProto::decode(&ours[..]).unwrap().graph.unwrap();
    let described: Vec<Json> = g.node.iter().map(describe).collect();
    assert_eq!(
        described,
        vec![
            json!(["Cast", "x_cast_to_", ["x"], ["x_cast_to_"], 10]),
            json!(["MatMul", "", ["x_cast_to_", "w1"], ["a"], null]),
            json!(["MatMul", "", ["x_cast_to_", "w2"], ["b"], null]),
            json!(["Add", "add", ["a", "b"], ["s"], null]),
            json!(["Cast", "topk_input_cast0", ["s"], ["topk_input_cast_0"], 1]),
            json!(["TopK", "topk", ["topk_input_cast_0", "k"], ["values", "idx"], null]),
        ]
    );
    assert_eq!((report.casts, report.kept_float.clone()), (2, vec!["TopK 'topk'".to_string()]));
    for o in &g.output {
        assert_eq!(
            o.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().elem_type,
            Some(if o.name.as_deref() == Some("idx") { 7 } else { 1 })
        );
    }
}

#[test]
fn out_of_range_values_are_clamped_and_counted() {
    // blocked.onnx's weight has 1e-9 and -3e-8 (raised to ±1e-7), 2e4, -7e4 and 6e4 (lowered to
    // ±1e4); 0, 1e-7 and 1e4 themselves stay. BF16 has float32's range: nothing clamped.
    let source = std::fs::read(fixtures().join("blocked.onnx")).unwrap();
    let (_, report) = convert_to_half(&source, Half::F16).unwrap();
    assert_eq!((report.clamped_small, report.clamped_large), (2, 3), "{report:?}");
    assert_eq!(report.kept_float.len(), 5, "{report:?}");
    let (_, report) = convert_to_half(&source, Half::BF16).unwrap();
    assert_eq!((report.clamped_small, report.clamped_large), (0, 0), "{report:?}");
}

fn refusal(bytes: &[u8], half: Half) -> String {
    match convert_to_half(bytes, half) {
        Err(e @ QuantizeError::Unsupported(_)) => e.to_string(),
        other => panic!("expected a refusal, got {:?}", other.map(|(_, r)| r)),
    }
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let fp16 = std::fs::read(fixtures().join("mnist_mlp.fp16.reference.onnx")).unwrap();
    let why = refusal(&fp16, Half::F16);
    assert!(why.starts_with("the model is already in half precision (value 'fc1' is float16)"), "{why}");
    assert!(refusal(&fp16, Half::BF16).contains("already in half precision"));
    let none = std::fs::read(fixtures().join("no_weights.onnx")).unwrap();
    assert_eq!(
        refusal(&none, Half::F16),
        "the model has no float32 weights to convert to float16 (no float32 initializer or Constant outside the ops kept in float32)"
    );
    let ppocr = std::fs::read(repo().join("tests/fixtures/real_models/ppocr_cls/model.onnx")).unwrap();
    assert!(refusal(&ppocr, Half::BF16)
        .starts_with("ONNX allows bfloat16 in Cast (from opset 13), Constant (from opset 13), Conv (from opset 22), "));
    assert!(refusal(&ppocr, Half::BF16).ends_with(
        "only; this model imports opset 11, so its BF16 file would not be valid ONNX (ONNX Runtime refuses it). FP16 has no such limit"
    ));
    let vad = std::fs::read(repo().join("tests/fixtures/real_models/silero_vad/model.onnx")).unwrap();
    assert!(refusal(&vad, Half::BF16).starts_with("If 'If_0' has a subgraph"));
    assert!(matches!(convert_to_half(b"\x0a\x05", Half::F16), Err(QuantizeError::Model(_))));
}

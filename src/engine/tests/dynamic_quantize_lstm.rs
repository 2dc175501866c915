//! com.microsoft DynamicQuantizeLSTM against ONNX Runtime 1.32 and against a numpy
//! transcription of its kernel (tests/fixtures/dynamic_quantize_lstm, written by
//! scripts/fixtures/make_dynamic_quantize_lstm.py): forward, reverse and bidirectional; int8
//! and uint8 weights, per tensor and per column; sequence_lens (with a 0), initial states,
//! peepholes, clip, input_forget, named activations; Y left out (which changes what the kernel
//! quantizes); weights as graph inputs rather than initializers.
//!
//! Tolerance 1e-5 absolute (every output is a product of values in [−1, 1]): the integer sums
//! are exact in all three, so only float rounding differs — ONNX Runtime's Sigmoid and Tanh are
//! approximations (~1e-7), and the script measured max |ORT − arbiter| ≤ 2.4e-7. A u8 code moved
//! by that rounding would shift a gate by a whole quantization step (over 1e-5 here), so this
//! bound also says no code differs. Bad input is refused with the node's name and the reason.
#![cfg(not(target_arch = "wasm32"))]

use prost::Message;
use quantscope_engine::{tensor_proto, Model, Value};
use quantscope_formats::onnx::proto::{AttributeProto, ModelProto, TensorProto};
use std::path::{Path, PathBuf};

const TOLERANCE: f32 = 1e-5;

fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/dynamic_quantize_lstm")
}

fn pb(path: PathBuf) -> (String, Value) {
    let t = TensorProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    (t.name.clone().unwrap_or_default(), tensor_proto::decode(&t, "t").unwrap())
}

fn files(case: &str, prefix: &str) -> Vec<(String, Value)> {
    (0..).map(|k| root().join(case).join(format!("test_data_set_0/{prefix}_{k}.pb"))).take_while(|p| p.exists()).map(pb).collect()
}

fn max_diff(a: &Value, b: &Value) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.to_f32_vec().iter().zip(b.to_f32_vec()).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn cases() -> Vec<String> {
    let listing: serde_json::Value = serde_json::from_slice(&std::fs::read(root().join("cases.json")).unwrap()).unwrap();
    listing["cases"].as_object().unwrap().keys().cloned().collect()
}

fn model_bytes(case: &str) -> Vec<u8> {
    std::fs::read(root().join(case).join("model.onnx")).unwrap()
}

fn run(bytes: &[u8], inputs: &[(String, Value)]) -> Result<Vec<(String, Value)>, String> {
    let feeds: Vec<(&str, Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    Model::from_onnx(bytes).map_err(|e| e.to_string())?.run(&feeds).map_err(|e| e.to_string())
}

#[test]
fn every_case_matches_onnx_runtime_and_the_arbiter() {
    let names = cases();
    assert!(names.len() >= 7, "{names:?}");
    for case in names {
        let inputs = files(&case, "input");
        let got = run(&model_bytes(&case), &inputs).unwrap_or_else(|e| panic!("{case}: {e}"));
        let (ort, reference) = (files(&case, "output"), files(&case, "reference"));
        assert_eq!(got.len(), ort.len(), "{case}: outputs");
        for ((name, y), ((_, o), (_, r))) in got.iter().zip(ort.iter().zip(&reference)) {
            let (d_ort, d_ref) = (max_diff(y, o), max_diff(y, r));
            eprintln!("{case} {name}: |engine − ORT| {d_ort:.2e}, |engine − arbiter| {d_ref:.2e}");
            assert!(d_ort <= TOLERANCE && d_ref <= TOLERANCE, "{case} {name}: |engine − ORT| {d_ort:e}, |engine − arbiter| {d_ref:e}");
            assert!(o.to_f32_vec().iter().any(|v| v.abs() > 0.05), "{case} {name}: an output of zeros proves nothing");
        }
    }
}

/// The fixture's model with its DynamicQuantizeLSTM node (and initializers) edited.
fn edited(case: &str, edit: impl FnOnce(&mut ModelProto)) -> Vec<u8> {
    let mut m = ModelProto::decode(model_bytes(case).as_slice()).unwrap();
    edit(&mut m);
    m.encode_to_vec()
}

fn set_attr(m: &mut ModelProto, attr: AttributeProto) {
    let node = &mut m.graph.as_mut().unwrap().node[0];
    node.attribute.retain(|a| a.name != attr.name);
    node.attribute.push(attr);
}

fn init<'a>(m: &'a mut ModelProto, name: &str) -> &'a mut TensorProto {
    m.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name.as_deref() == Some(name)).unwrap()
}

#[test]
fn bad_input_is_refused_naming_the_node_and_the_reason() {
    let case = "bidirectional_int8_per_channel_lens";
    let inputs = files(case, "input");
    let expect = |bytes: Vec<u8>, inputs: &[(String, Value)], wants: &[&str]| {
        let err = run(&bytes, inputs).unwrap_err();
        assert!(err.contains(case), "the node's name is missing: {err}");
        for w in wants {
            assert!(err.contains(w), "'{w}' is missing: {err}");
        }
    };
    // W's per-column scales given per tensor for one direction only.
    expect(
        edited(case, |m| {
            let t = init(m, "W_scale");
            t.dims = vec![1];
            t.raw_data = Some(t.raw_data.as_ref().unwrap()[..4].to_vec());
        }),
        &inputs,
        &["W_scale", "[2]"],
    );
    // A missing scale.
    expect(edited(case, |m| m.graph.as_mut().unwrap().node[0].input[10] = String::new()), &inputs, &["R_scale", "missing"]);
    // An int8 per-column zero point that is not 0.
    expect(
        edited(case, |m| {
            let t = init(m, "R_zero_point");
            t.raw_data.as_mut().unwrap()[3] = 5;
        }),
        &inputs,
        &["R_zero_point", "all 0"],
    );
    // W in LSTM's layout instead of the transposed one.
    expect(
        edited(case, |m| {
            let t = init(m, "W");
            t.dims = vec![2, 16, 6];
        }),
        &inputs,
        &["W is [2, 16, 6]"],
    );
    // Attributes ONNX Runtime's kernel refuses.
    let attr = |name: &str, i: Option<i64>, s: Option<&str>| AttributeProto {
        name: Some(name.into()),
        r#type: Some(if s.is_some() { 3 } else { 2 }),
        i,
        s: s.map(|s| s.as_bytes().to_vec()),
        ..Default::default()
    };
    expect(edited(case, |m| set_attr(m, attr("layout", Some(1), None))), &inputs, &["layout"]);
    expect(edited(case, |m| set_attr(m, attr("direction", None, Some("sideways")))), &inputs, &["direction", "sideways"]);
    let mut acts = attr("activations", None, None);
    acts.r#type = Some(8);
    acts.strings = ["Sigmoid", "Tanh", "Cosh", "Sigmoid", "Tanh", "Tanh"].iter().map(|s| s.as_bytes().to_vec()).collect();
    expect(edited(case, |m| set_attr(m, acts)), &inputs, &["cosh"]);
    // X with another input size than W's.
    let mut short = inputs.clone();
    let x = short.iter_mut().find(|(n, _)| n == "X").unwrap();
    x.1 = Value::f32(vec![5, 3, 4], vec![0.5; 60]);
    let undeclared = edited(case, |m| {
        let x = m.graph.as_mut().unwrap().input.iter_mut().find(|i| i.name.as_deref() == Some("X")).unwrap();
        x.r#type.as_mut().unwrap().tensor_type.as_mut().unwrap().shape = None;
    });
    expect(undeclared, &short, &["X is [5, 3, 4]", "input size of 6"]);
    // A sequence longer than X.
    let mut long = inputs.clone();
    let l = long.iter_mut().find(|(n, _)| n == "sequence_lens").unwrap();
    l.1 = Value::i32(vec![3], vec![5, 6, 1]);
    expect(model_bytes(case), &long, &["sequence_lens"]);
}

//! `quantize_dynamic` against ONNX Runtime's own (onnxruntime 1.32, the fixtures of
//! scripts/fixtures/make_onnx_node_tests.py): for the MLP (MatMul + Add) and the conv net
//! (Conv, MaxPool, GlobalAveragePool, Flatten, Gemm with transB) in every variant ONNX Runtime
//! was asked for, the quantized file has ONNX Runtime's initializers byte for byte (names,
//! TensorProto fields, data), its nodes in its order, and the engine gives bit-identical
//! outputs running either file. The same for the graph rules of scripts/fixtures/make_onnx_dynamic.py
//! (Gemm splits, shared weights and inputs, a constant A, a Transpose of a quantized weight and
//! the DequantizeLinear after it, Conv attributes, IR version 3, opsets 13 and 21). Bad input is
//! refused with the reason. Native only.
#![cfg(not(target_arch = "wasm32"))]

use crate::compare::initializer_fields;
use prost::Message;
use quantscope_engine::{tensor_proto, Model, Value};
use quantscope_formats::onnx::proto::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use quantscope_formats::onnx::splice::{rewrite_fields, FieldEdit};
use quantscope_onnx_quant::dynamic::{quantize_dynamic, DynamicOptions};
use quantscope_onnx_quant::weights::QType;
use quantscope_onnx_quant::QuantizeError;
use std::path::{Path, PathBuf};

fn dir(case: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/onnx_node/ort").join(case)
}

fn model_bytes(case: &str) -> Vec<u8> {
    std::fs::read(dir(case).join("model.onnx")).unwrap()
}

fn input(case: &str) -> Value {
    let bytes = std::fs::read(dir(case).join("test_data_set_0/input_0.pb")).unwrap();
    tensor_proto::decode(&TensorProto::decode(bytes.as_slice()).unwrap(), "x").unwrap()
}

/// A node as ONNX defines it: what it computes and what it is called; a subgraph as its
/// nodes, its initializers' bytes (each field as written), its inputs and outputs (not its
/// value_info, which ONNX Runtime's shape inference fills in).
fn describe(n: &NodeProto) -> String {
    let attrs: Vec<String> = n
        .attribute
        .iter()
        .map(|a| {
            let graphs: Vec<String> = a.g.iter().chain(&a.graphs).map(|g| describe_graph(g)).collect();
            let plain = AttributeProto { g: None, graphs: Vec::new(), ..a.clone() };
            format!("{plain:?} {graphs:?}")
        })
        .collect();
    format!("{:?} {:?} {:?} {:?} -> {:?} {attrs:?}", n.domain, n.op_type, n.name, n.input, n.output)
}

fn describe_graph(bytes: &[u8]) -> String {
    let g = GraphProto::decode(bytes).unwrap();
    let mut inits = Vec::new();
    rewrite_fields(bytes, |number, payload| {
        if number == 5 {
            inits.push(payload.to_vec());
        }
        FieldEdit::Keep
    })
    .unwrap();
    let nodes: Vec<String> = g.node.iter().map(describe).collect();
    format!("nodes {nodes:#?}\ninitializers {inits:?}\ninputs {:?}\noutputs {:?}", g.input, g.output)
}

/// Our quantization of `source` equals ONNX Runtime's file `theirs`: initializers byte for
/// byte, nodes in order, graph inputs and outputs, opsets, and the engine's outputs.
pub(crate) fn assert_same(source: &[u8], theirs: &[u8], options: DynamicOptions, inputs: &[(&str, Value)], what: &str) {
    let (ours, report) = quantize_dynamic(source, &options).unwrap();
    let (a, b) = (initializer_fields(&ours), initializer_fields(theirs));
    let names = |fields: &[Vec<u8>]| fields.iter().map(|f| TensorProto::decode(&f[2..]).ok().and_then(|t| t.name)).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b), "{what}: initializers");
    for (x, y) in a.iter().zip(&b) {
        assert!(x == y, "{what}: initializer {:?} differs", TensorProto::decode(&y[2..]).ok().and_then(|t| t.name));
    }
    let (m_ours, m_theirs) = (ModelProto::decode(&ours[..]).unwrap(), ModelProto::decode(theirs).unwrap());
    let (g_ours, g_theirs) = (m_ours.graph.unwrap(), m_theirs.graph.unwrap());
    let nodes = |g: &quantscope_formats::onnx::proto::GraphProto| g.node.iter().map(describe).collect::<Vec<_>>();
    assert_eq!(nodes(&g_ours), nodes(&g_theirs), "{what}: nodes");
    assert_eq!((g_ours.input, g_ours.output), (g_theirs.input, g_theirs.output), "{what}: graph inputs and outputs");
    assert_eq!(m_ours.opset_import, m_theirs.opset_import, "{what}: opsets");
    assert!(!report.quantized.is_empty(), "{what}: {report:?}");
    let run = |bytes: &[u8]| Model::from_onnx(bytes).unwrap().run(inputs).unwrap();
    for ((n1, y1), (n2, y2)) in run(&ours).iter().zip(run(theirs).iter()) {
        assert_eq!(n1, n2);
        let (y1, y2) = (y1.to_f32_vec(), y2.to_f32_vec());
        assert!(y1.iter().zip(&y2).all(|(p, q)| p.to_bits() == q.to_bits()), "{what}: output {n1} differs");
    }
}

/// Seeded inputs for a model's graph inputs that are not initializers (symbolic dims as 3).
fn inputs_for(bytes: &[u8]) -> Vec<(String, Value)> {
    let m = ModelProto::decode(bytes).unwrap();
    let g = m.graph.unwrap();
    let inits: Vec<_> = g.initializer.iter().filter_map(|t| t.name.clone()).collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    g.input
        .iter()
        .filter(|i| !inits.contains(i.name.as_ref().unwrap()))
        .map(|i| {
            let tensor_type = i.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap();
            if tensor_type.elem_type == Some(9) {
                // BOOL: the If's condition, true (the other branch is run from ONNX Runtime's outputs)
                return (i.name.clone().unwrap(), Value::from_f32(quantscope_engine::DType::Bool, vec![], &[1.0]).unwrap());
            }
            let shape: Vec<usize> = i
                .r#type
                .as_ref()
                .unwrap()
                .tensor_type
                .as_ref()
                .unwrap()
                .shape
                .as_ref()
                .unwrap()
                .dim
                .iter()
                .map(|d| match d.value {
                    Some(quantscope_formats::onnx::proto::DimensionValue::DimValue(v)) => v as usize,
                    _ => 3,
                })
                .collect();
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
                })
                .collect();
            let dtype = match tensor_type.elem_type {
                Some(10) => quantscope_engine::DType::F16,
                Some(7) => {
                    // INT64 indices (the gathers case): 0, 1 or 2, inside every table's axis
                    let ids: Vec<f32> = data.iter().map(|v| ((v + 2.0) * 0.75).floor().min(2.0)).collect();
                    return (i.name.clone().unwrap(), Value::from_f32(quantscope_engine::DType::I64, shape, &ids).unwrap());
                }
                _ => quantscope_engine::DType::F32,
            };
            (i.name.clone().unwrap(), Value::from_f32(dtype, shape, &data).unwrap())
        })
        .collect()
}

#[test]
fn the_graph_rules_equal_onnx_runtime() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/onnx_dynamic");
    let listing: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("cases.json")).unwrap()).unwrap();
    let mut compared = 0;
    for (case, variants) in listing["cases"].as_object().unwrap() {
        let source = std::fs::read(root.join(format!("{case}.onnx"))).unwrap();
        let inputs = inputs_for(&source);
        let inputs: Vec<(&str, Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        for (variant, o) in variants.as_object().unwrap() {
            let options = DynamicOptions {
                weight_type: if o["weight_type"] == "QInt8" { QType::Int8 } else { QType::Uint8 },
                per_channel: o["per_channel"].as_bool().unwrap_or(false),
                reduce_range: o["reduce_range"].as_bool().unwrap_or(false),
                enable_subgraph: o["enable_subgraph"].as_bool().unwrap_or(false),
            };
            let what = format!("{case}.{variant}");
            if o.get("onnxruntime_fails").is_some() {
                // ONNX Runtime's quantizer fails here; ours must still give a model that runs.
                let (ours, report) = quantize_dynamic(&source, &options).unwrap();
                Model::from_onnx(&ours).unwrap().run(&inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
                if case == "constant_node_conv_bias" {
                    // the Conv ONNX Runtime fails on stays in float with its reason, the other is quantized
                    assert_eq!(report.quantized, ["Conv 'conv_init_weight'"], "{what}");
                    assert!(report.kept[0].1.contains("ConvInteger.add_bias fails"), "{what}: {report:?}");
                }
                continue;
            }
            if o.get("onnxruntime_output_does_not_load").is_some() {
                // ONNX Runtime writes a file it then refuses (a float16 LSTM as DynamicQuantizeLSTM,
                // float16 tables' Gathers before opset 19): ours keeps those nodes in float, says
                // why, and runs.
                let (ours, report) = quantize_dynamic(&source, &options).unwrap();
                let kept = if case == "half_gathers_opset17" { 2 } else { 1 };
                assert!(report.quantized.is_empty() && report.kept.len() == kept, "{what}: {report:?}");
                for (_, why) in &report.kept {
                    assert!(why.contains("float16") && why.contains("refuses to load"), "{what}: {report:?}");
                }
                let want = Model::from_onnx(&source).unwrap().run(&inputs).unwrap();
                let got = Model::from_onnx(&ours).unwrap().run(&inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(format!("{got:?}"), format!("{want:?}"), "{what}: the float16 nodes run as before");
                continue;
            }
            let theirs = std::fs::read(root.join(format!("{what}.onnx"))).unwrap();
            assert_same(&source, &theirs, options, &inputs, &what);
            compared += 1;
        }
    }
    assert!(compared >= 61, "compared {compared} variants");
}

fn fixture(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/onnx_dynamic").join(name)
}

fn pb(path: PathBuf) -> Value {
    tensor_proto::decode(&TensorProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap(), "t").unwrap()
}

/// The LSTMs become com.microsoft DynamicQuantizeLSTM (the files equal ONNX Runtime's: see
/// the_graph_rules_equal_onnx_runtime), and the engine runs our file as ONNX Runtime runs it:
/// to 1e-5 (exact integer sums, float rounding apart: src/engine/tests/dynamic_quantize_lstm.rs).
#[test]
fn quantized_lstms_run_as_in_onnx_runtime() {
    let source = std::fs::read(fixture("lstms.onnx")).unwrap();
    let x = pb(fixture("lstms.input.pb"));
    for (variant, per_channel, reduce_range, weight_type) in [
        ("int8", false, false, QType::Int8),
        ("int8_per_channel", true, false, QType::Int8),
        ("int8_reduce_range", false, true, QType::Int8),
        ("uint8", false, false, QType::Uint8),
        ("uint8_per_channel_reduce_range", true, true, QType::Uint8),
    ] {
        let (ours, report) =
            quantize_dynamic(&source, &DynamicOptions { weight_type, per_channel, reduce_range, enable_subgraph: false }).unwrap();
        assert_eq!(report.quantized.len(), 2, "{variant}: {report:?}");
        let m = ModelProto::decode(&ours[..]).unwrap();
        let ops: Vec<_> = m.graph.as_ref().unwrap().node.iter().map(|n| (n.domain.clone(), n.op_type.clone())).collect();
        let lstm = (Some("com.microsoft".to_string()), Some("DynamicQuantizeLSTM".to_string()));
        assert_eq!(ops.iter().filter(|o| **o == lstm).count(), 2, "{variant}: {ops:?}");
        let got = Model::from_onnx(&ours).unwrap().run(&[("x", x.clone())]).unwrap();
        for (k, (name, y)) in got.iter().enumerate() {
            let want = pb(fixture(&format!("lstms.{variant}.output_{k}.pb")));
            assert_eq!(y.shape(), want.shape(), "{variant} {name}");
            let diff = y.to_f32_vec().iter().zip(want.to_f32_vec()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(diff <= 1e-5, "{variant} {name}: |engine − ORT| = {diff:e}");
        }
    }
}

#[test]
fn an_lstm_that_cannot_be_quantized_stays_in_float_with_the_reason() {
    let source = std::fs::read(fixture("lstms.onnx")).unwrap();
    let mut m = ModelProto::decode(&source[..]).unwrap();
    let g = m.graph.as_mut().unwrap();
    // layout 1 on the first: DynamicQuantizeLSTM has no batch-first layout
    g.node[0].attribute.push(quantscope_formats::onnx::proto::AttributeProto {
        name: Some("layout".into()),
        r#type: Some(2),
        i: Some(1),
        ..Default::default()
    });
    // the second's R computed (an Identity), not a constant
    g.node.insert(
        0,
        quantscope_formats::onnx::proto::NodeProto {
            op_type: Some("Identity".into()),
            input: vec!["r2".into()],
            output: vec!["r2_copy".into()],
            ..Default::default()
        },
    );
    g.node[3].input[2] = "r2_copy".into();
    let (ours, report) = quantize_dynamic(&m.encode_to_vec(), &DynamicOptions::default()).unwrap();
    assert!(report.quantized.is_empty(), "{report:?}");
    let why: Vec<&str> = report.kept.iter().map(|(_, w)| w.as_str()).collect();
    assert!(why[0].contains("layout 1") && why[1].contains("not a float constant"), "{why:?}");
    // nothing of com.microsoft was written, so no import of it either
    let out = ModelProto::decode(&ours[..]).unwrap();
    assert!(out.opset_import.iter().all(|o| o.domain.as_deref() != Some("com.microsoft")));
    assert!(out.graph.unwrap().node.iter().all(|n| n.op_type.as_deref() != Some("DynamicQuantizeLSTM")));
}

#[test]
fn a_weight_from_a_constant_node_is_named_as_such() {
    // PaddlePaddle's exports keep every weight in a Constant node (ppocr_rec has 420 and no
    // initializer): quantize_dynamic quantizes initializers only, and the report says why
    use quantscope_formats::onnx::proto::{AttributeProto, NodeProto};
    let source = std::fs::read(fixture("shared.onnx")).unwrap();
    let mut m = ModelProto::decode(&source[..]).unwrap();
    let g = m.graph.as_mut().unwrap();
    let at = g.initializer.iter().position(|t| t.name.as_deref() == Some("v")).unwrap();
    let v = g.initializer.remove(at);
    g.node.insert(
        0,
        NodeProto {
            op_type: Some("Constant".into()),
            output: vec!["v".into()],
            name: Some("v_const".into()),
            attribute: vec![AttributeProto { name: Some("value".into()), r#type: Some(4), t: Some(v), ..Default::default() }],
            ..Default::default()
        },
    );
    let (_, report) = quantize_dynamic(&m.encode_to_vec(), &DynamicOptions::default()).unwrap();
    let (node, why) = report.kept.iter().find(|(n, _)| n == "MatMul 'same_input'").expect("the MatMul reading v is kept");
    assert!(why.contains("comes from a Constant node") && why.contains("quant_pre_process"), "{node}: {why}");
    assert!(report.quantized.iter().any(|n| n == "MatMul 'first'"), "{report:?}");
}

#[test]
fn every_variant_equals_onnx_runtime() {
    let cases = [
        ("mlp_fp32", "mlp_dynamic", QType::Int8, false, false),
        ("mlp_fp32", "mlp_dynamic_per_channel", QType::Int8, true, false),
        ("mlp_fp32", "mlp_dynamic_reduce_range", QType::Int8, false, true),
        ("mlp_fp32", "mlp_dynamic_reduce_range_per_channel", QType::Int8, true, true),
        ("convnet_fp32", "convnet_dynamic", QType::Uint8, false, false),
        ("convnet_fp32", "convnet_dynamic_per_channel", QType::Uint8, true, false),
        ("convnet_fp32", "convnet_dynamic_int8", QType::Int8, false, false),
    ];
    for (source, ort, weight_type, per_channel, reduce_range) in cases {
        let options = DynamicOptions { weight_type, per_channel, reduce_range, enable_subgraph: false };
        let (ours, report) = quantize_dynamic(&model_bytes(source), &options).unwrap();
        let theirs = model_bytes(ort);
        // The initializers, byte for byte as fields of the file (key, length, TensorProto).
        let (a, b) = (initializer_fields(&ours), initializer_fields(&theirs));
        assert_eq!(a.len(), b.len(), "{ort}: initializer count");
        for (x, y) in a.iter().zip(&b) {
            let name = TensorProto::decode(&y[2..]).map(|t| t.name).unwrap_or_default();
            assert!(x == y, "{ort}: initializer {name:?} differs");
        }
        let (m_ours, m_theirs) = (ModelProto::decode(&ours[..]).unwrap(), ModelProto::decode(&theirs[..]).unwrap());
        let (g_ours, g_theirs) = (m_ours.graph.unwrap(), m_theirs.graph.unwrap());
        let nodes = |g: &quantscope_formats::onnx::proto::GraphProto| g.node.iter().map(describe).collect::<Vec<_>>();
        assert_eq!(nodes(&g_ours), nodes(&g_theirs), "{ort}: nodes");
        assert_eq!((g_ours.input, g_ours.output), (g_theirs.input, g_theirs.output), "{ort}: graph inputs and outputs");
        assert_eq!(m_ours.opset_import, m_theirs.opset_import, "{ort}: opsets");
        assert!(report.kept.is_empty() && !report.quantized.is_empty(), "{ort}: {report:?}");
        // The same arithmetic: the engine runs both files to the same bits.
        let x = input(source);
        let run = |bytes: &[u8]| Model::from_onnx(bytes).unwrap().run(&[("x", x.clone())]).unwrap()[0].1.to_f32_vec();
        let (y_ours, y_theirs) = (run(&ours), run(&theirs));
        assert!(y_ours.iter().zip(&y_theirs).all(|(p, q)| p.to_bits() == q.to_bits()), "{ort}: outputs differ");
    }
}

#[test]
fn what_is_not_quantized_is_kept_and_named() {
    // The conv net's FP32 model run through twice: the second pass finds no float weights left.
    let (once, _) = quantize_dynamic(&model_bytes("mlp_fp32"), &DynamicOptions::default()).unwrap();
    let (twice, report) = quantize_dynamic(&once, &DynamicOptions::default()).unwrap();
    assert!(report.quantized.is_empty(), "{report:?}");
    let (a, b) = (ModelProto::decode(&once[..]).unwrap(), ModelProto::decode(&twice[..]).unwrap());
    assert_eq!(a.graph.as_ref().unwrap().node.len(), b.graph.as_ref().unwrap().node.len());
    // the same values; the second pass marks the large ones `data_location: DEFAULT`, as ONNX
    // Runtime's reload does (graph::reloaded)
    let unmarked = |g: quantscope_formats::onnx::proto::GraphProto| {
        g.initializer.into_iter().map(|t| TensorProto { data_location: None, ..t }).collect::<Vec<_>>()
    };
    let marked = b.graph.as_ref().unwrap().initializer.iter().filter(|t| t.data_location == Some(0)).count();
    assert_eq!(marked, 1, "w0_quantized (1,536 bytes) passes 991 bytes; w1's 768 and w2's 240 do not");
    assert_eq!(unmarked(a.graph.unwrap()), unmarked(b.graph.unwrap()));
}

#[test]
fn bad_models_are_refused_with_the_reason() {
    let bytes = model_bytes("mlp_fp32");
    assert!(matches!(quantize_dynamic(&bytes[..bytes.len() / 2], &DynamicOptions::default()), Err(QuantizeError::Model(_))));
    // An opset too old for DynamicQuantizeLinear.
    let mut m = ModelProto::decode(&bytes[..]).unwrap();
    m.opset_import[0].version = Some(9);
    let err = quantize_dynamic(&m.encode_to_vec(), &DynamicOptions::default()).unwrap_err();
    assert!(err.to_string().contains("opset 9") && err.to_string().contains("opset 11"), "{err}");
    // A weight holding a NaN.
    let mut m = ModelProto::decode(&bytes[..]).unwrap();
    let w = m.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name.as_deref() == Some("w1")).unwrap();
    w.raw_data.as_mut().unwrap()[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let err = quantize_dynamic(&m.encode_to_vec(), &DynamicOptions::default()).unwrap_err();
    assert!(matches!(&err, QuantizeError::Weight { name, .. } if name == "w1"), "{err}");
}

/// With `enable_subgraph` (ONNX Runtime's `EnableSubgraph`) the MatMuls and Convs inside the
/// If branches, the Loop body and the If nested in it are quantized (the files equal ONNX
/// Runtime's: the_graph_rules_equal_onnx_runtime), and the engine runs our file as ONNX Runtime
/// runs its own, down either branch: to 1e-5 (exact integer sums; Tanh and the rescales' float
/// rounding apart).
#[test]
fn quantized_subgraphs_run_as_in_onnx_runtime() {
    let source = std::fs::read(fixture("subgraphs.onnx")).unwrap();
    let x = pb(fixture("subgraphs.input.pb"));
    for (variant, per_channel, reduce_range, weight_type) in [
        ("int8_subgraphs", false, false, QType::Int8),
        ("int8_per_channel_subgraphs", true, false, QType::Int8),
        ("int8_reduce_range_subgraphs", false, true, QType::Int8),
        ("uint8_subgraphs", false, false, QType::Uint8),
        ("uint8_per_channel_reduce_range_subgraphs", true, true, QType::Uint8),
    ] {
        let options = DynamicOptions { weight_type, per_channel, reduce_range, enable_subgraph: true };
        let (ours, report) = quantize_dynamic(&source, &options).unwrap();
        // main_mm, main_mm2; then_mm; else_mm, else_conv, the unnamed Conv; loop_mm, loop_mm_outer; inner_mm
        assert_eq!(report.quantized.len(), 9, "{variant}: {report:?}");
        assert!(report.kept.is_empty(), "{variant}: {report:?}");
        let model = Model::from_onnx(&ours).unwrap();
        for (branch, cond) in [("then", 1.0), ("else", 0.0)] {
            let cond = Value::from_f32(quantscope_engine::DType::Bool, vec![], &[cond]).unwrap();
            let got = model.run(&[("x", x.clone()), ("cond", cond)]).unwrap();
            for (k, (name, y)) in got.iter().enumerate() {
                let want = pb(fixture(&format!("subgraphs.{variant}.{branch}.output_{k}.pb")));
                assert_eq!(y.shape(), want.shape(), "{variant} {branch} {name}");
                let diff = y.to_f32_vec().iter().zip(want.to_f32_vec()).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(diff <= 1e-5, "{variant} {branch} {name}: |engine − ORT| = {diff:e}");
            }
        }
    }
}

/// Without `enable_subgraph` the subgraphs stay in float, as in ONNX Runtime, and the report
/// says how many nodes that leaves; a subgraph that is not a GraphProto is an error, not a panic.
#[test]
fn subgraphs_left_in_float_are_named_and_broken_ones_refused() {
    let source = std::fs::read(fixture("subgraphs.onnx")).unwrap();
    let (_, report) = quantize_dynamic(&source, &DynamicOptions::default()).unwrap();
    assert_eq!(report.quantized.len(), 2, "{report:?}");
    let kept: Vec<_> = report.kept.iter().map(|(n, w)| format!("{n}: {w}")).collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept[0].starts_with("If 'branch': 4 ") && kept[1].starts_with("Loop 'loop': 3 "), "{kept:?}");
    assert!(kept.iter().all(|k| k.contains("EnableSubgraph")), "{kept:?}");
    let mut m = ModelProto::decode(&source[..]).unwrap();
    let g = m.graph.as_mut().unwrap();
    let branch = g.node.iter_mut().find(|n| n.op_type.as_deref() == Some("If")).unwrap();
    branch.attribute[0].g = Some(vec![0x0a, 0xff, 0x01]);
    for enable_subgraph in [false, true] {
        let err = quantize_dynamic(&m.encode_to_vec(), &DynamicOptions { enable_subgraph, ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("not a GraphProto"), "{err}");
    }
}

/// Gemms inside subgraphs are split as ONNX Runtime splits them (the files are equal:
/// the_graph_rules_equal_onnx_runtime, which runs the then branch); here both files also run
/// down the else branch (an outer weight transposed into it, a computed B, alpha ≠ 1) to the
/// same bits, and every split Gemm is reported quantized.
#[test]
fn gemms_inside_subgraphs_run_down_both_branches_as_onnx_runtimes_file() {
    let source = std::fs::read(fixture("subgraph_gemms.onnx")).unwrap();
    let theirs = std::fs::read(fixture("subgraph_gemms.int8_subgraphs.onnx")).unwrap();
    let options = DynamicOptions { enable_subgraph: true, ..Default::default() };
    let (ours, report) = quantize_dynamic(&source, &options).unwrap();
    // main_mm, main_gemm; then_gemm, then_gemm_outer; else_gemm_outer, the unnamed one, and
    // the two Transposes of its quantized weight; loop_gemm; inner_gemm. else_gemm_computed's
    // MatMul reads a Transpose's output (kept, with the reason, as ONNX Runtime keeps it);
    // else_gemm_alpha stays a Gemm.
    assert_eq!(report.quantized.len(), 10, "{report:?}");
    assert_eq!(report.kept.len(), 1, "{report:?}");
    assert!(report.kept[0].0.contains("else_gemm_computed_MatMul") && report.kept[0].1.contains("not a float constant"), "{report:?}");
    let inputs = inputs_for(&source);
    for cond in [1.0, 0.0] {
        let mut inputs = inputs.clone();
        inputs.iter_mut().find(|(n, _)| n == "cond").unwrap().1 = Value::from_f32(quantscope_engine::DType::Bool, vec![], &[cond]).unwrap();
        let inputs: Vec<(&str, Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let run = |bytes: &[u8]| Model::from_onnx(bytes).unwrap().run(&inputs).unwrap();
        for ((name, a), (_, b)) in run(&ours).iter().zip(run(&theirs).iter()) {
            let (a, b) = (a.to_f32_vec(), b.to_f32_vec());
            assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "cond {cond}: output {name} differs");
        }
    }
}

/// A float16 table's scale, zero point and codes are `quantize_data`'s (ONNX Runtime 1.32, uint8,
/// asymmetric; the values below printed by it), and a range whose scale rounds to float16 zero
/// takes its fallback of scale 1 and zero point 0 — the smallest subnormal's test, not float32's.
#[test]
fn float16_tables_quantize_as_quantize_data() {
    use quantscope_onnx_quant::weights::{per_tensor_half, WeightQuant};
    let how = WeightQuant { qtype: QType::Uint8, symmetric: false, reduce_range: false };
    let halves = |v: &[f32]| v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect::<Vec<_>>();
    let cases: [(&[f32], u16, i32, &[u8]); 3] = [
        (&[0.5, -0.25, 0.1, 0.0002], 6662, 85, &[255, 0, 119, 85]),
        (&[1.2e-7, 0.0, -3e-8], 0x3c00, 0, &[0, 0, 0]),
        (&[0.0, 0.0, 0.0], 0x3c00, 0, &[0, 0, 0]),
    ];
    for (values, scale_bits, zero_point, codes) in cases {
        let q = per_tensor_half("t", &[values.len()], &halves(values), how);
        assert_eq!(q.scale.data_type, Some(10), "{values:?}: a FLOAT16 scale");
        assert_eq!(q.scale.int32_data, [scale_bits as i32], "{values:?}: scale bits");
        assert_eq!(q.zero_point.int32_data, [zero_point], "{values:?}: zero point");
        let got = tensor_proto::decode(&q.quantized, "t").unwrap().to_f32_vec();
        assert_eq!(got, codes.iter().map(|&c| c as f32).collect::<Vec<_>>(), "{values:?}: codes");
    }
}

//! `quantize_dynamic` of a transformer ONNX Runtime's optimizer fused (com.microsoft
//! EmbedLayerNormalization, Attention, SkipLayerNormalization, BiasGelu: the tiny BERT of
//! scripts/fixtures/make_onnx_transformer.py) against ONNX Runtime 1.32's own: int8 per tensor,
//! int8 per channel, uint8 per channel with reduce_range. The file has ONNX Runtime's
//! initializers byte for byte (QAttention's weights per tensor or per column, the
//! QEmbedLayerNormalization tables, gamma and beta as uint8), its nodes in its order, and the
//! engine's outputs on either file are bit-identical (`ort_dynamic::assert_same`). Native only.
#![cfg(not(target_arch = "wasm32"))]

use crate::ort_dynamic::assert_same;
use quantscope_engine::{DType, Value};
use quantscope_onnx_quant::dynamic::{quantize_dynamic, DynamicOptions};
use quantscope_onnx_quant::weights::QType;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/onnx_transformer")
}

fn inputs(case: &serde_json::Value) -> Vec<(String, Value)> {
    case["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let n = n.as_str().unwrap();
            let t = quantscope_formats::npy::parse("x", &std::fs::read(root().join(format!("input.{n}.npy"))).unwrap()).unwrap();
            assert_eq!(t.dtype, "int64");
            (n.to_string(), Value::from_f32(DType::I64, t.shape.clone(), &t.data).unwrap())
        })
        .collect()
}

#[test]
fn fused_berts_quantize_as_onnx_runtime_does() {
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(root().join("cases.json")).unwrap()).unwrap();
    for (model, case) in c["models"].as_object().unwrap() {
        one_model(model, case);
    }
}

/// bert (token types: every QEmbedLayerNormalization input) or distilbert (none: the segment
/// table's names left empty).
fn one_model(model: &str, case: &serde_json::Value) {
    let source = std::fs::read(root().join(format!("{model}.onnx"))).unwrap();
    let feeds = inputs(case);
    let feeds: Vec<(&str, Value)> = feeds.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let variants = case["variants"].as_object().unwrap();
    assert_eq!(variants.len(), 3);
    let layers = if model == "bert" { 2 } else { 1 };
    for (variant, v) in variants {
        let options = DynamicOptions {
            weight_type: if v["weight_type"] == "QInt8" { QType::Int8 } else { QType::Uint8 },
            per_channel: v["per_channel"].as_bool().unwrap(),
            reduce_range: v["reduce_range"].as_bool().unwrap(),
            enable_subgraph: false,
        };
        let theirs = std::fs::read(root().join(format!("{model}.{variant}.onnx"))).unwrap();
        assert_same(&source, &theirs, options, &feeds, &format!("{model}.{variant}"));
        let (_, report) = quantize_dynamic(&source, &options).unwrap();
        let mut fused: Vec<String> = (0..layers).map(|k| format!("Attention 'Attention_{k}'")).collect();
        fused.push("EmbedLayerNormalization 'EmbedLayerNormalization_0'".into());
        for node in fused {
            assert!(report.quantized.contains(&node), "{model}.{variant}: {node} not in {:?}", report.quantized);
        }
        assert!(report.kept.is_empty(), "{model}.{variant}: {:?}", report.kept);
    }
}

#[test]
fn an_attention_with_qkv_hidden_sizes_stays_in_float_as_in_onnx_runtime() {
    use prost::Message;
    use quantscope_formats::onnx::proto::{AttributeProto, ModelProto};
    let mut m = ModelProto::decode(std::fs::read(root().join("bert.onnx")).unwrap().as_slice()).unwrap();
    let g = m.graph.as_mut().unwrap();
    let n = g.node.iter_mut().find(|n| n.op_type.as_deref() == Some("Attention")).unwrap();
    n.attribute.push(AttributeProto {
        name: Some("qkv_hidden_sizes".into()),
        r#type: Some(7),
        ints: vec![32, 32, 32],
        ..Default::default()
    });
    let (_, report) = quantize_dynamic(&m.encode_to_vec(), &DynamicOptions::default()).unwrap();
    let kept = report.kept.iter().find(|(n, _)| n == "Attention 'Attention_0'").expect("kept");
    assert!(kept.1.contains("qkv_hidden_sizes"), "{kept:?}");
}

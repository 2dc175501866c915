//! `quantize_nbits` against ONNX Runtime's `MatMulNBitsQuantizer` (onnxruntime 1.32, the
//! fixtures of scripts/fixtures/make_onnx_nbits.py): for the MNIST MLP written with MatMul and
//! for the "odd" model (K not a multiple of the block, odd K, K shorter than a block, odd N, a
//! zero and a constant column, an unnamed MatMul, a computed B, a B listed as a graph input) and
//! for weights whose codes fall exactly halfway (MatMulNBits and QDQ round those differently),
//! in QOperator (MatMulNBits) and QDQ (blocked int4 DequantizeLinear) formats, block sizes 16 to
//! 256, symmetric and not, and with accuracy_level: the file has ONNX Runtime's initializers
//! byte for byte, its nodes in its order, its graph inputs and outputs, opsets and IR version.
//! Bad options and models without an eligible MatMul are refused with the reason. Native only.
#![cfg(not(target_arch = "wasm32"))]

use crate::compare::{describe, initializer_fields};
use prost::Message;
use quantscope_engine::value::Data;
use quantscope_engine::{Model, Value};
use quantscope_formats::onnx::proto::{GraphProto, ModelProto, TensorProto};
use quantscope_onnx_quant::nbits::{quantize_nbits, NBitsAlgorithm, NBitsFormat, NBitsOptions};
use quantscope_onnx_quant::QuantizeError;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/onnx_nbits")
}

pub fn listing() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root().join("cases.json")).unwrap()).unwrap()
}

/// The options a fixture variant names.
pub fn options(o: &serde_json::Value) -> NBitsOptions {
    NBitsOptions {
        bits: o["bits"].as_u64().unwrap() as u32,
        block_size: o["block_size"].as_u64().unwrap() as usize,
        symmetric: o["is_symmetric"].as_bool().unwrap(),
        accuracy_level: o["accuracy_level"].as_i64().unwrap_or(0),
        format: if o["quant_format"] == "qdq" { NBitsFormat::Qdq } else { NBitsFormat::QOperator },
        algorithm: NBitsAlgorithm::Rtn,
        gather: o["gather"].as_bool().unwrap_or(false),
    }
}

fn name_of(field: &[u8]) -> Option<String> {
    // a field's key is one byte and its length varint at most three for these small tensors
    (2..5).find_map(|skip| TensorProto::decode(&field[skip..]).ok().and_then(|t| t.name))
}

#[test]
fn every_variant_equals_onnx_runtime() {
    let listing = listing();
    let mut compared = 0;
    for (case, entry) in listing["cases"].as_object().unwrap() {
        let source = std::fs::read(root().join(format!("{case}.onnx"))).unwrap();
        for (variant, o) in entry["variants"].as_object().unwrap() {
            let what = format!("{case}.{variant}");
            let theirs = std::fs::read(root().join(format!("{what}.onnx"))).unwrap();
            let (ours, report) = quantize_nbits(&source, &options(o)).unwrap_or_else(|e| panic!("{what}: {e}"));
            let (a, b) = (initializer_fields(&ours), initializer_fields(&theirs));
            let names = |f: &[Vec<u8>]| f.iter().map(|x| name_of(x)).collect::<Vec<_>>();
            assert_eq!(names(&a), names(&b), "{what}: initializers");
            for (x, y) in a.iter().zip(&b) {
                assert!(x == y, "{what}: initializer {:?} differs", name_of(y));
            }
            let (m_ours, m_theirs) = (ModelProto::decode(&ours[..]).unwrap(), ModelProto::decode(&theirs[..]).unwrap());
            let (g_ours, g_theirs) = (m_ours.graph.clone().unwrap(), m_theirs.graph.clone().unwrap());
            let nodes = |g: &GraphProto| g.node.iter().map(describe).collect::<Vec<_>>();
            assert_eq!(nodes(&g_ours), nodes(&g_theirs), "{what}: nodes");
            assert_eq!((g_ours.input, g_ours.output), (g_theirs.input, g_theirs.output), "{what}: graph inputs and outputs");
            assert_eq!(m_ours.opset_import, m_theirs.opset_import, "{what}: opsets");
            assert_eq!(m_ours.ir_version, m_theirs.ir_version, "{what}: IR version");
            // one MatMulNBits, DequantizeLinear or GatherBlockQuantized for each node quantized
            let rewritten = g_theirs
                .node
                .iter()
                .filter(|n| matches!(n.op_type.as_deref(), Some("MatMulNBits" | "DequantizeLinear" | "GatherBlockQuantized")))
                .count();
            assert_eq!(report.quantized.len(), rewritten, "{what}: {report:?}");
            compared += 1;
        }
    }
    assert!(compared >= 78, "compared {compared} variants");
}

#[test]
fn bad_options_are_refused_with_the_reason() {
    let source = std::fs::read(root().join("odd.onnx")).unwrap();
    let hqq = NBitsOptions { algorithm: NBitsAlgorithm::Hqq, ..Default::default() };
    let cases: [(NBitsOptions, &str); 12] = [
        (NBitsOptions { format: NBitsFormat::Qdq, ..hqq }, "HQQ with the QDQ format: ONNX Runtime writes HQQ weights as MatMulNBits only"),
        (NBitsOptions { symmetric: true, ..hqq }, "HQQ with symmetric"),
        (NBitsOptions { accuracy_level: 4, ..hqq }, "HQQ with an accuracy level"),
        (NBitsOptions { bits: 8, ..hqq }, "does not run 8-bit weights with float zero points"),
        (NBitsOptions { block_size: 48, ..Default::default() }, "block size 48: it must be a power of two"),
        (NBitsOptions { block_size: 8, ..Default::default() }, "block size 8: it must be a power of two from 16"),
        (NBitsOptions { block_size: 512, ..Default::default() }, "block size 512"),
        (NBitsOptions { bits: 3, ..Default::default() }, "3 bits: MatMulNBits and ONNX Runtime's quantizer pack 2, 4 or 8 bits"),
        (NBitsOptions { bits: 0, ..Default::default() }, "0 bits"),
        (NBitsOptions { bits: 8, format: NBitsFormat::Qdq, ..Default::default() }, "8 bits in the QDQ format"),
        (NBitsOptions { accuracy_level: 5, ..Default::default() }, "accuracy level 5"),
        (NBitsOptions { accuracy_level: 4, format: NBitsFormat::Qdq, ..Default::default() }, "the QDQ format has none"),
    ];
    for (o, want) in cases {
        let err = quantize_nbits(&source, &o).unwrap_err();
        assert!(matches!(err, QuantizeError::Unsupported(_)) && err.to_string().contains(want), "{o:?}: {err}");
    }
    // HQQ of a FLOAT16 model: each MatMul is named with the reason.
    let half = std::fs::read(root().join("half.onnx")).unwrap();
    let err = quantize_nbits(&half, &hqq).unwrap_err().to_string();
    assert!(err.contains("MatMul 'wide': its B 'w1' is FLOAT16: quantscope's HQQ takes FLOAT weights"), "{err}");
    // Not a model.
    assert!(matches!(quantize_nbits(&source[..source.len() / 3], &NBitsOptions::default()), Err(QuantizeError::Model(_))));
}

#[test]
fn a_model_without_an_eligible_matmul_is_refused_with_each_reason() {
    // The page's MNIST MLP is written with Gemm, which ONNX Runtime's quantizer leaves alone.
    let gemm = std::fs::read(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/models/mnist_mlp.onnx"))).unwrap();
    let err = quantize_nbits(&gemm, &NBitsOptions::default()).unwrap_err().to_string();
    assert!(err.contains("no MatMul with a constant 2-D float B") && err.contains("Gemm 'fc1'") && err.contains("MatMul + Add"), "{err}");
    // A model whose only MatMul has a computed B, and one whose B is a batch of matrices.
    let mut m = ModelProto::decode(&std::fs::read(root().join("odd.onnx")).unwrap()[..]).unwrap();
    let g = m.graph.as_mut().unwrap();
    g.node.retain(|n| matches!(n.name.as_deref(), Some("odd_k" | "tr" | "computed_b")));
    g.node.retain(|n| n.name.as_deref() != Some("odd_k"));
    g.node[0].input[0] = "y".into();
    g.node[1].input = vec!["y".into(), "m3_t".into()];
    let err = quantize_nbits(&m.encode_to_vec(), &NBitsOptions::default()).unwrap_err().to_string();
    assert!(err.contains("MatMul 'computed_b': its B is not a constant"), "{err}");
    let mut m = ModelProto::decode(&std::fs::read(root().join("odd.onnx")).unwrap()[..]).unwrap();
    let g = m.graph.as_mut().unwrap();
    for t in &mut g.initializer {
        // two copies of each matrix: [2, K, N]
        t.dims.insert(0, 2);
        let raw = t.raw_data.as_mut().unwrap();
        raw.extend(raw.clone());
    }
    g.node.retain(|n| n.name.as_deref() == Some("wide"));
    let err = quantize_nbits(&m.encode_to_vec(), &NBitsOptions::default()).unwrap_err().to_string();
    assert!(err.contains("MatMul 'wide': its B has shape [2, 100, 7]: a batch of matrices"), "{err}");
}

/// A case's seeded inputs: float32, float16 for the FLOAT16 model, int64 ids for the tables.
fn fixture_inputs(inputs: &serde_json::Value) -> Vec<(String, Value)> {
    inputs
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, v)| {
            let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            if v["dtype"] == "int64" {
                return (name.clone(), Value::i64(shape, v["data"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()));
            }
            let data: Vec<f32> = v["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            let value = if v["dtype"] == "float16" {
                Value::new(shape, Data::F16(data.into_iter().map(half::f16::from_f32).collect()))
            } else {
                Value::f32(shape, data)
            };
            (name.clone(), value)
        })
        .collect()
}

/// The largest |difference| over the largest |value| of ONNX Runtime's output.
fn relative_max_diff(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    ours.iter().zip(theirs).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

#[test]
fn the_engine_runs_both_forms_as_onnx_runtime_does() {
    let listing = listing();
    let mut worst = (0f32, String::new());
    for (case, entry) in listing["cases"].as_object().unwrap() {
        let inputs = fixture_inputs(&entry["inputs"]);
        let inputs: Vec<(&str, Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let source = std::fs::read(root().join(format!("{case}.onnx"))).unwrap();
        for (variant, o) in entry["variants"].as_object().unwrap() {
            let what = format!("{case}.{variant}");
            let theirs = std::fs::read(root().join(format!("{what}.onnx"))).unwrap();
            let (ours, _) = quantize_nbits(&source, &options(o)).unwrap();
            let run = |bytes: &[u8]| {
                Model::from_onnx(bytes).unwrap_or_else(|e| panic!("{what}: {e}")).run(&inputs).unwrap_or_else(|e| panic!("{what}: {e}"))
            };
            let (y_ours, y_theirs) = (run(&ours), run(&theirs));
            for ((name, a), (_, b)) in y_ours.iter().zip(&y_theirs) {
                // the reshape after a squeezed B gives the float MatMul's shape back
                let shape: Vec<usize> = o["shapes"][name].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
                assert_eq!(a.shape(), &shape[..], "{what}: {name}: ONNX Runtime's output shape");
                let (a, b) = (a.to_f32_vec(), b.to_f32_vec());
                assert!(
                    a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{what}: {name}: our file and ONNX Runtime's run differently"
                );
                let ort: Vec<f32> = o["outputs"][name].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
                let d = relative_max_diff(&a, &ort);
                // accuracy_level 4: ONNX Runtime quantizes A to int8 blocks; the engine does not
                let tolerance = if o["accuracy_level"].as_i64().unwrap_or(0) == 4 { 2e-2 } else { 1e-5 };
                assert!(d <= tolerance, "{what}: {name}: relative max |diff| {d} with ONNX Runtime's outputs");
                if o["accuracy_level"].as_i64().unwrap_or(0) == 4 {
                    eprintln!("{what}: {name}: relative max |diff| {d} at accuracy_level 4");
                }
                if o["accuracy_level"].as_i64().unwrap_or(0) == 0 && d > worst.0 {
                    worst = (d, format!("{what}: {name}"));
                }
            }
        }
    }
    eprintln!("worst relative max |diff| with ONNX Runtime: {} ({})", worst.0, worst.1);
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// HQQ (`HQQWeightOnlyQuantConfig`, scripts/fixtures/make_onnx_hqq.py): ONNX Runtime's nodes,
/// names and graph; the min–max scales byte for byte; the solver's float zero points and the
/// codes within torch's float32 rounding (its SLEEF pow and its sum order are not ours); the
/// engine's outputs on quantscope's file against ONNX Runtime's on its own.
#[test]
fn hqq_matches_onnx_runtime_within_torch_s_rounding() {
    let hqq: serde_json::Value = serde_json::from_slice(&std::fs::read(root().join("hqq.json")).unwrap()).unwrap();
    let nbits = listing();
    let mut compared = 0;
    let (mut codes, mut codes_off, mut worst_zp, mut worst_out) = (0usize, 0usize, 0f32, 0f32);
    for (case, entry) in hqq["cases"].as_object().unwrap() {
        let source = std::fs::read(root().join(format!("{case}.onnx"))).unwrap();
        let inputs = fixture_inputs(&nbits["cases"][case]["inputs"]);
        let inputs: Vec<(&str, Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        for (variant, o) in entry["variants"].as_object().unwrap() {
            let what = format!("{case}.{variant}");
            let bits = o["bits"].as_u64().unwrap() as u32;
            let options = NBitsOptions {
                bits,
                block_size: o["block_size"].as_u64().unwrap() as usize,
                algorithm: NBitsAlgorithm::Hqq,
                ..Default::default()
            };
            let theirs = std::fs::read(root().join(format!("{what}.onnx"))).unwrap();
            let (ours, _) = quantize_nbits(&source, &options).unwrap_or_else(|e| panic!("{what}: {e}"));
            let (m_ours, m_theirs) = (ModelProto::decode(&ours[..]).unwrap(), ModelProto::decode(&theirs[..]).unwrap());
            let (g_ours, g_theirs) = (m_ours.graph.clone().unwrap(), m_theirs.graph.clone().unwrap());
            let nodes = |g: &GraphProto| g.node.iter().map(describe).collect::<Vec<_>>();
            assert_eq!(nodes(&g_ours), nodes(&g_theirs), "{what}: nodes");
            assert_eq!((&g_ours.input, &g_ours.output), (&g_theirs.input, &g_theirs.output), "{what}: graph inputs and outputs");
            assert_eq!(m_ours.opset_import, m_theirs.opset_import, "{what}: opsets");
            let names = |g: &GraphProto| g.initializer.iter().map(|t| t.name.clone().unwrap()).collect::<Vec<_>>();
            assert_eq!(names(&g_ours), names(&g_theirs), "{what}: initializers");
            for (a, b) in g_ours.initializer.iter().zip(&g_theirs.initializer) {
                let name = a.name.as_deref().unwrap();
                assert_eq!((&a.dims, a.data_type), (&b.dims, b.data_type), "{what}: {name}");
                let (x, y) = (a.raw_data.as_deref().unwrap(), b.raw_data.as_deref().unwrap());
                if name.ends_with("_zero_points") {
                    let d = f32s(x).iter().zip(f32s(y)).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                    worst_zp = worst_zp.max(d);
                    assert!(d <= 1e-4, "{what}: {name}: zero points differ by {d}");
                } else if name.ends_with(&format!("_Q{bits}")) {
                    let per_byte = 8 / bits;
                    let mask = (1u16 << bits) as u8 - 1;
                    for (p, q) in x.iter().zip(y) {
                        for l in 0..per_byte {
                            let (cp, cq) = ((p >> (l * bits)) & mask, (q >> (l * bits)) & mask);
                            codes += 1;
                            if cp != cq {
                                codes_off += 1;
                                assert!(cp.abs_diff(cq) == 1, "{what}: {name}: codes {cp} and {cq}");
                            }
                        }
                    }
                } else {
                    assert!(x == y, "{what}: {name} differs");
                }
            }
            let y_ours = Model::from_onnx(&ours).unwrap().run(&inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
            for (name, v) in &y_ours {
                let shape: Vec<usize> = o["shapes"][name].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
                assert_eq!(v.shape(), &shape[..], "{what}: {name}: ONNX Runtime's output shape");
                let ort: Vec<f32> = o["outputs"][name].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
                let d = relative_max_diff(&v.to_f32_vec(), &ort);
                worst_out = worst_out.max(d);
                assert!(d <= 1e-4, "{what}: {name}: relative max |diff| {d} with ONNX Runtime's outputs on its file");
            }
            compared += 1;
        }
    }
    eprintln!("HQQ: {codes_off} of {codes} codes off by one, zero points within {worst_zp}, outputs within {worst_out} of ONNX Runtime's");
    assert!(compared >= 9, "compared {compared} variants");
    assert!(codes_off * 1000 <= codes, "{codes_off} of {codes} codes differ from ONNX Runtime's");
}

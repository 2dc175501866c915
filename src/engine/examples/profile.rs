//! Per-op profile of a model on given inputs (native, release build): where a model's time goes,
//! summed by op type, and its slowest nodes.
//!   cargo run --release -p quantscope-engine --example profile -- MODEL.onnx NAME=INPUT.npy... [--runs N] [--int8]
//! `--int8` profiles the model's int8 dynamic variant (`QuantizeKind::Int8Dynamic`, per tensor).
//! Native kernels are the portable ones, not wasm's SIMD128: compare op types within a run, and
//! confirm in the page's bench (`scripts/bench-real-models.mjs`).

use quantscope_engine::{DType, Model, QuantizeConfig, QuantizeKind, Value};
use std::collections::BTreeMap;
use std::time::Instant;

fn npy(path: &str) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let t = quantscope_formats::npy::parse("x", &bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    let dtype = match t.dtype.as_str() {
        "float32" => DType::F32,
        "int64" => DType::I64,
        other => panic!("{path}: dtype {other}"),
    };
    Value::from_f32(dtype, t.shape.clone(), &t.data).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = args.iter().position(|a| a == "--runs").map_or(5, |i| args[i + 1].parse().expect("--runs N"));
    let model_path = args.first().expect("MODEL.onnx NAME=INPUT.npy...");
    let mut model = Model::from_onnx(&std::fs::read(model_path).expect("model file")).expect("model loads");
    if args.iter().any(|a| a == "--int8") {
        let config = QuantizeConfig { kind: QuantizeKind::Int8Dynamic { per_channel: false }, only_nodes: None };
        model = model.quantize(&config).expect("int8 dynamic variant");
    }
    let inputs: Vec<(String, Value)> = args[1..].iter().filter_map(|a| a.split_once('=')).map(|(n, p)| (n.to_string(), npy(p))).collect();
    let inputs: Vec<(&str, Value)> = inputs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let start = Instant::now();
    let mut clock = || start.elapsed().as_secs_f64() * 1e3;
    let mut by_op: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut by_node: BTreeMap<(String, String), f64> = BTreeMap::new();
    for _ in 0..runs {
        let (_, times) = model.run_profiled(&inputs, &mut clock).expect("model runs");
        for t in times {
            let e = by_op.entry(t.op_type.clone()).or_default();
            e.0 += t.ms / runs as f64;
            e.1 += 1;
            *by_node.entry((t.name, t.op_type)).or_default() += t.ms / runs as f64;
        }
    }
    let total: f64 = by_op.values().map(|v| v.0).sum();
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    println!("{model_path}: {total:.2} ms per run (mean of {runs})");
    for (op, (ms, count)) in ops {
        println!("  {op:24} {ms:9.3} ms {:5.1} %  ({} nodes)", 100.0 * ms / total, count / runs);
    }
    let mut nodes: Vec<_> = by_node.into_iter().collect();
    nodes.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("  slowest nodes:");
    for ((name, op), ms) in nodes.into_iter().take(12) {
        println!("    {name:40} {op:16} {ms:8.3} ms");
    }
}

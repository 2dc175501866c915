//! The engine against reference outputs, case by case (fixtures and the script that wrote
//! them: scripts/fixtures/make_onnx_node_tests.py):
//! * `onnx_node_tests`: ONNX's own backend node tests for every supported op
//!   (tests/fixtures/onnx_node/node). Every case must pass, with onnx's tolerance (rtol/atol
//!   from each case, 1e-3/1e-7 by default) for floats and exactly for the rest, except those
//!   in tests/fixtures/onnx_node/allow-list.txt, which must fail with the error the list gives
//!   (so an unsupported feature is a clear error, and a fixed one is noticed).
//! * `onnx_runtime_cases`: single integer ops and ORT-quantized models
//!   (tests/fixtures/onnx_node/ort) against ONNX Runtime's outputs: exactly for integer ops and
//!   for the quantized graphs as ORT runs them unoptimized (op by op, like the engine).
//!
//! Native only: the fixtures are hundreds of files read from disk.
#![cfg(not(target_arch = "wasm32"))]

use prost::Message;
use quantscope_engine::{tensor_proto, DType, Data, Model, Value};
use quantscope_formats::onnx::proto::TensorProto;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/onnx_node")
}

/// A TensorProto file; a dtype the engine lacks is an `Err` (the case then fails with it).
fn read_pb(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t = TensorProto::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().unwrap().to_string_lossy();
    tensor_proto::decode(&t, &name).map_err(|e| e.to_string())
}

/// `input_0.pb, input_1.pb, ...` (or output_*) of a data set, in index order.
fn numbered(dir: &Path, prefix: &str) -> Result<Vec<Value>, String> {
    (0..).map(|i| dir.join(format!("{prefix}_{i}.pb"))).take_while(|p| p.exists()).map(|p| read_pb(&p)).collect()
}

/// How outputs are compared.
#[derive(Clone, Copy, Debug)]
enum Tol {
    Exact,
    Close { rtol: f64, atol: f64 },
}

/// Compares one output; `Err` says where it differs.
fn compare(got: &Value, want: &Value, tol: Tol) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!("dtype {} (expected {})", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!("shape {:?} (expected {:?})", got.shape(), want.shape()));
    }
    let float = matches!(got.data(), Data::F32(_) | Data::F64(_) | Data::F16(_) | Data::BF16(_)) || got.dtype().is_float();
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        let ok = match tol {
            _ if a.is_nan() || b.is_nan() => a.is_nan() && b.is_nan(),
            Tol::Close { rtol, atol } if float => a == b || (a - b).abs() <= atol + rtol * b.abs(),
            _ => a == b,
        };
        if !ok {
            return Err(format!("element {i}: {a} (expected {b})"));
        }
    }
    Ok(())
}

/// Runs one case directory: every data set, outputs compared with `tol(set_index)`.
fn run_case(dir: &Path, tol: impl Fn(usize) -> Tol) -> Result<(), String> {
    let bytes = std::fs::read(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let model = Model::from_onnx(&bytes).map_err(|e| e.to_string())?;
    let names: Vec<String> = model.inputs().iter().map(|i| i.name.clone()).collect();
    for k in 0.. {
        let set = dir.join(format!("test_data_set_{k}"));
        if !set.exists() {
            break;
        }
        let inputs = numbered(&set, "input")?;
        let expected = numbered(&set, "output")?;
        if inputs.len() != names.len() {
            return Err(format!("data set {k} has {} inputs, the model {}", inputs.len(), names.len()));
        }
        let given: Vec<(&str, Value)> = names.iter().map(String::as_str).zip(inputs).collect();
        let outputs = model.run(&given).map_err(|e| e.to_string())?;
        for (i, want) in expected.iter().enumerate() {
            let (name, got) = outputs.get(i).ok_or_else(|| format!("output {i} missing"))?;
            compare(got, want, tol(k)).map_err(|e| format!("data set {k}, output '{name}': {e}"))?;
        }
    }
    Ok(())
}

/// `name | error substring | reason` lines (blank lines and `#` comments skipped).
fn allow_list() -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(root().join("allow-list.txt")).expect("allow-list.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let parts: Vec<&str> = l.split('|').map(str::trim).collect();
            assert_eq!(parts.len(), 3, "allow-list line needs 'name | error substring | reason': {l}");
            assert!(!parts[2].is_empty(), "allow-list line needs a reason: {l}");
            (parts[0].to_string(), (parts[1].to_string(), parts[2].to_string()))
        })
        .collect()
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json")).expect("manifest is JSON")
}

#[test]
fn onnx_node_tests() {
    let dir = root().join("node");
    let m = manifest(&dir);
    let cases = m["cases"].as_object().expect("cases");
    let allowed = allow_list();
    for name in allowed.keys() {
        assert!(cases.contains_key(name), "allow-list names '{name}', which is not a fixture case");
    }
    let (mut passed, mut failures) = (0, Vec::new());
    for (name, info) in cases {
        let tol = Tol::Close { rtol: info["rtol"].as_f64().unwrap_or(1e-3), atol: info["atol"].as_f64().unwrap_or(1e-7) };
        let result = run_case(&dir.join(name), |_| tol);
        match (result, allowed.get(name)) {
            (Ok(()), None) => passed += 1,
            (Err(e), None) => failures.push(format!("{name}: {e}")),
            (Ok(()), Some(_)) => failures.push(format!("{name}: passes now; remove it from allow-list.txt")),
            (Err(e), Some((want, _))) if e.contains(want.as_str()) => {}
            (Err(e), Some((want, _))) => failures.push(format!("{name}: fails with '{e}', allow-list expects '{want}'")),
        }
    }
    eprintln!("ONNX node tests: {passed} passed, {} allow-listed, {} failed, of {}", allowed.len(), failures.len(), cases.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(passed >= 280, "only {passed} cases passed");
}

#[test]
fn onnx_runtime_cases() {
    let dir = root().join("ort");
    let m = manifest(&dir);
    let mut failures = Vec::new();
    let cases = m["cases"].as_object().expect("cases");
    for (name, info) in cases {
        let compare = &info["compare"];
        let tol = |k: usize| -> Tol {
            match compare.as_str() {
                Some("exact") => Tol::Exact,
                // Set 0 is ORT op by op; set 1 is ORT's fused kernels (other rounding order).
                Some("exact_unoptimized") if k == 0 => Tol::Exact,
                Some("exact_unoptimized") => Tol::Close { rtol: 0.0, atol: 0.05 },
                Some("none") => Tol::Exact,
                _ => Tol::Close { rtol: compare["rtol"].as_f64().unwrap(), atol: compare["atol"].as_f64().unwrap() },
            }
        };
        if let Err(e) = run_case(&dir.join(name), tol) {
            failures.push(format!("{name} ({}): {e}", info["about"].as_str().unwrap_or("")));
        }
    }
    eprintln!("ONNX Runtime cases: {} of {} match", cases.len() - failures.len(), cases.len());
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// The Run view's e2e model (tests/fixtures/run_ops, scripts/fixtures/make_run_ops_model.py:
/// Pad, the normalizations, DepthToSpace/SpaceToDepth, a 1×1 Conv, reductions, TopK, ArgMax,
/// CumSum, GatherElements) against onnx's reference evaluator, natively, in float32 and as a
/// float16 export; indices exactly.
fn run_ops_case(model: &str, expected: &str, dtype: DType, rtol: f64, atol: f64) {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/run_ops");
    let model = Model::from_onnx(&std::fs::read(dir.join(model)).unwrap()).expect("the model loads");
    let x = quantscope_formats::npy::parse("input", &std::fs::read(dir.join("input.npy")).unwrap()).unwrap();
    let outputs = model.run(&[("x", Value::from_f32(dtype, x.shape.clone(), &x.data).unwrap())]).expect("the model runs");
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(expected)).unwrap()).unwrap();
    let expected = expected["outputs"].as_object().unwrap();
    assert_eq!(outputs.len(), expected.len());
    for (name, got) in &outputs {
        let want = &expected[name.as_str()];
        let shape: Vec<usize> = want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        let data: Vec<f32> = want["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let (want, tol) = if want["dtype"] == "int64" {
            (Value::i64(shape, data.iter().map(|&v| v as i64).collect()), Tol::Exact)
        } else {
            (Value::from_f32(dtype, shape, &data).unwrap(), Tol::Close { rtol, atol })
        };
        compare(got, &want, tol).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn run_ops_model_matches_the_reference_evaluator() {
    run_ops_case("model.onnx", "expected.json", DType::F32, 1e-4, 1e-5);
}

/// Half precision: the reference rounds to float16 after every numpy operation, the engine once
/// per op (Conv through float32), so they agree to a few float16 steps (2^-10 relative).
#[test]
fn run_ops_model_in_float16_matches_the_reference_evaluator() {
    run_ops_case("model_fp16.onnx", "expected_fp16.json", DType::F16, 1e-2, 1e-2);
}

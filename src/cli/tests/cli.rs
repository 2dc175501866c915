//! The native CLI, run as a user would, checked against numbers computed by numpy and ONNX
//! Runtime (tests/fixtures/npy/expected.json, written by scripts/fixtures/make_fixtures.py).
#![cfg(not(target_arch = "wasm32"))]

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures").join(path)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantscope")).args(args).output().expect("the CLI runs")
}

/// `quantscope export SRC --out OUT EXTRA...`.
fn export_to(src: &std::path::Path, out: &std::path::Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args(["export", src.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-30)
}

#[test]
fn compare_json_matches_numpy_and_onnx_runtime() {
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fixture("npy/expected.json")).unwrap()).unwrap();
    let want = &expected["e2e_weights"];
    let file = fixture("npy/e2e_weights.npy");
    let got = json_of(&run(&["compare", file.to_str().unwrap(), "--scheme", "int8_sym", "--json"]));
    let stats = &got["tensor"]["stats"];
    assert_eq!(stats["nan_count"], want["nan_count"]);
    assert_eq!(stats["min"].as_f64(), want["min"].as_f64());
    assert_eq!(stats["max"].as_f64(), want["max"].as_f64());
    assert!(close(stats["mean"].as_f64().unwrap(), want["mean"].as_f64().unwrap(), 1e-12));
    assert!(close(stats["std"].as_f64().unwrap(), want["std"].as_f64().unwrap(), 1e-12));
    let int8 = &got["schemes"][0];
    assert_eq!(int8["scheme"], "int8_sym");
    // The scale is an f32: exact. Sums are f64 in both: equal to rounding.
    assert_eq!(int8["params"][0]["values"][0].as_f64(), want["int8_sym"]["scale"].as_f64());
    for key in ["mse", "sqnr_db", "max_abs_error"] {
        let (g, w) = (int8[key].as_f64().unwrap(), want["int8_sym"][key].as_f64().unwrap());
        assert!(close(g, w, 1e-9), "{key}: {g} vs numpy {w}");
    }
    // 64×48 int8 codes + one f32 scale.
    assert_eq!(int8["bytes"], 64 * 48 + 4);
}

#[test]
fn compare_defaults_to_every_scheme() {
    let file = fixture("npy/f32_c.npy");
    let got = json_of(&run(&["compare", file.to_str().unwrap(), "--json"]));
    // All but IQ2_XXS, IQ2_XS and IQ1_S, which need an importance matrix.
    let quantizable = quantscope_core::schemes::all_ids().into_iter().filter(|id| !quantscope_core::schemes::requires_importance(id));
    assert_eq!(got["schemes"].as_array().unwrap().len(), quantizable.count());
}

#[test]
fn quantize_writes_packed_bytes_and_dequantized_npy() {
    let dir = std::env::temp_dir().join(format!("quantscope-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out, deq) = (dir.join("w.bin"), dir.join("w_deq.npy"));
    let file = fixture("npy/f32_c.npy");
    let status = run(&[
        "quantize",
        file.to_str().unwrap(),
        "--scheme",
        "int4_asym_channel",
        "--out",
        out.to_str().unwrap(),
        "--dequantized",
        deq.to_str().unwrap(),
    ]);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    // 3 channels × (f32 scale + u8 zero point), then 15 codes at two per byte.
    assert_eq!(std::fs::read(&out).unwrap().len(), 3 * 5 + 8);
    let t = &quantscope_formats::load("w_deq.npy", &std::fs::read(&deq).unwrap()).unwrap()[0];
    assert_eq!(t.shape, vec![3, 5]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_gives_a_message_and_exit_code_1() {
    let file = fixture("npy/malformed/truncated_data.npy");
    let out = run(&["inspect", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated_data.npy: truncated .npy file: the data needs 188 bytes"), "{err}");
    let out = run(&["compare", fixture("npy/f32_c.npy").to_str().unwrap(), "--scheme", "int3_sym"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scheme 'int3_sym'"));
    let out = run(&["compare", fixture("npy/f32_c.npy").to_str().unwrap(), "--tensor", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tensor named 'nope'"));
}

#[test]
fn bad_usage_gives_exit_code_2() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&["quantize", "x.npy"]).status.code(), Some(2));
}

#[test]
fn inspect_reads_every_format_and_sharded_checkpoints() {
    let files = ["gguf/tiny.gguf", "onnx/tiny.onnx", "safetensors/all_dtypes.safetensors", "safetensors/model.safetensors.index.json"];
    let paths: Vec<String> = files.iter().map(|f| fixture(f).to_str().unwrap().to_string()).collect();
    let mut args = vec!["inspect", "--json"];
    args.extend(paths.iter().map(String::as_str));
    let got = json_of(&run(&args));
    assert_eq!(got.as_array().unwrap().len(), 4);
    for f in got.as_array().unwrap() {
        assert!(!f["tensors"].as_array().unwrap().is_empty(), "{}: no tensors", f["file"]);
    }
    let sharded = &got[3]["tensors"];
    assert_eq!(sharded.as_array().unwrap().len(), 3);
}

/// An ONNX model's weights come with the names a person recognises, the graph they live in
/// and the counts by reading op (tests/fixtures/onnx_weights, see src/formats/tests/onnx_weights.rs).
#[test]
fn inspect_names_onnx_weights_by_their_readers() {
    let path = fixture("onnx_weights/weights.onnx");
    let out = run(&["inspect", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("weights by the op that reads them: Conv ×2, Mul ×2, Add ×3, Scan ×1, Reshape ×1, MatMul ×3,"), "{text}");
    assert!(text.contains("  Conv 'backbone.conv1' weight  (initializer)\n  backbone.conv1.weight  float32 [2, 2, 3, 3]"), "{text}");
    assert!(text.contains("  Add 'loop.add' B  (Constant value_floats, in If 'branch' then_branch / Loop 'then.loop' body)"), "{text}");
    let got = json_of(&run(&["inspect", "--json", path.to_str().unwrap()]));
    let weights = got[0]["weights"].as_array().unwrap();
    assert_eq!(weights.len(), got[0]["tensors"].as_array().unwrap().len());
    assert_eq!(weights[2]["groups"], serde_json::json!(["Mul", "Add"]));
    assert!(
        got[0].get("weights").is_some()
            && json_of(&run(&["inspect", "--json", fixture("npy/f32_c.npy").to_str().unwrap()]))[0].get("weights").is_none()
    );
}

#[test]
fn run_executes_an_onnx_model_on_npy_inputs() {
    use prost::Message;
    use quantscope_engine::tensor_proto;
    use quantscope_formats::onnx::proto::TensorProto;
    let case = fixture("onnx_node/ort/mlp_fp32");
    let pb = |p: PathBuf| tensor_proto::decode(&TensorProto::decode(std::fs::read(p).unwrap().as_slice()).unwrap(), "t").unwrap();
    let x = pb(case.join("test_data_set_0/input_0.pb"));
    let want = pb(case.join("test_data_set_0/output_0.pb")).to_f32_vec();
    let dir = std::env::temp_dir().join(format!("quantscope-cli-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("x.npy");
    std::fs::write(&input, quantscope_formats::npy::write_f32(x.shape(), &x.to_f32_vec())).unwrap();
    let model = case.join("model.onnx");
    let (model, input) = (model.to_str().unwrap(), input.to_str().unwrap());

    // FP32 to .npy: ONNX Runtime's output within float tolerance.
    let out = dir.join("y.npy");
    let r = run(&["run", model, "--input", &format!("x={input}"), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let y = quantscope_formats::npy::parse("y.npy", &std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(y.shape, [4, 10]);
    assert!(y.data.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-5 + 1e-5 * b.abs()));

    // int8 dynamic to .npz (a bare file names the only input); close to FP32.
    let out = dir.join("y.npz");
    let r = run(&["run", model, "--input", input, "--scheme", "int8_dynamic_channel", "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stderr).contains("int8 dynamic (per channel)"));
    let y = quantscope_formats::npz::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!((y[0].name.as_str(), y[0].shape.clone()), ("y", vec![4, 10]));
    assert!(y[0].data.iter().zip(&want).all(|(a, b)| (a - b).abs() < 0.1));

    // Without --out: shapes and first values on stdout; weight-only with a scheme id.
    let r = run(&["run", model, "--input", input, "--scheme", "q4_0"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("y  float32 [4, 10]  ["));

    // Errors: a bad scheme is a usage error; a wrong input shape names the input.
    assert_eq!(run(&["run", model, "--input", input, "--scheme", "int9"]).status.code(), Some(2));
    std::fs::write(dir.join("bad.npy"), quantscope_formats::npy::write_f32(&[4, 7], &[0.0; 28])).unwrap();
    let r = run(&["run", model, "--input", dir.join("bad.npy").to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("model input 'x': has shape [4, 7]"), "{}", String::from_utf8_lossy(&r.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

/// `export` writes what the library writes (the gguf-py-checked file), reports the
/// fallbacks, and refuses a scheme that is no ggml type.
#[test]
fn the_cli_exports_a_model() {
    let dir = std::env::temp_dir().join(format!("quantscope-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("source.gguf");
    std::fs::copy(fixture("gguf_export/source.gguf"), &src).unwrap();
    let out = dir.join("out.gguf");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args(["export", src.to_str().unwrap(), "--scheme", "q4_k", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("blk.0.attn_q.weight") && stderr.contains("q5_0"), "fallbacks are reported: {stderr}");
    let want = std::fs::read(fixture("gguf_export/expected/q4_k.gguf")).unwrap();
    assert!(std::fs::read(&out).unwrap() == want, "the CLI writes what the library writes");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args(["export", src.to_str().unwrap(), "--scheme", "int8_sym", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("q4_0"), "the error lists the ggml types");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `export --type` writes llama.cpp's mix as the library writes it (which
/// src/formats/tests/gguf_mixes.rs holds byte for byte to the pinned llama-quantize; the file
/// lengths here are llama-quantize's, from tests/fixtures/gguf_mixes/cases.json), previews it
/// with --dry-run, and refuses a mix that needs an importance matrix without writing anything.
#[test]
fn the_cli_exports_a_llama_cpp_mix() {
    use quantscope_formats::gguf_mix::{ty, MixOptions};
    let dir = std::env::temp_dir().join(format!("quantscope-mix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = fixture("gguf_mixes/source.gguf");
    let cases: Value = serde_json::from_slice(&std::fs::read(fixture("gguf_mixes/cases.json")).unwrap()).unwrap();
    let case = |name: &str| cases["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let model = quantscope_formats::lazy::open("source.gguf", std::rc::Rc::new(std::fs::read(&src).unwrap())).unwrap();
    let library = |ftype: &str, options: MixOptions| {
        let mut bytes = Vec::new();
        let ftype = quantscope_formats::gguf_mix::FileType::from_name(ftype).unwrap();
        quantscope_formats::gguf_writer::write_mix(&model, ftype, &options, &mut bytes, |_, _| {}).unwrap();
        bytes
    };
    let out = dir.join("out.gguf");
    let check = |name: &str, ftype: &str, options: MixOptions| {
        let ours = std::fs::read(&out).unwrap();
        assert_eq!(ours.len() as u64, case(name)["len"].as_u64().unwrap(), "{name}: llama-quantize's length");
        assert!(ours == library(ftype, options), "{name}: the CLI writes what the library writes");
    };
    let export = |extra: &[&str]| export_to(&src, &out, extra);
    let r = export(&["--type", "q4_k_m"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("blk.0.attn_v.weight") && stderr.contains("use_more_bits"), "each tensor's rule is listed: {stderr}");
    check("Q4_K_M", "Q4_K_M", MixOptions::default());
    let r = export(&["--type", "Q4_K_M", "--output-tensor-type", "q8_0", "--token-embedding-type", "Q4_0"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    check(
        "Q4_K_M-types",
        "Q4_K_M",
        MixOptions { output_tensor_type: Some(ty::Q8_0), token_embedding_type: Some(ty::Q4_0), ..Default::default() },
    );
    let r = export(&["--type", "Q2_K", "--pure"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    check("Q2_K-pure", "Q2_K", MixOptions { pure: true, ..Default::default() });

    // --dry-run: the preview only.
    std::fs::remove_file(&out).unwrap();
    let r = export(&["--type", "Q3_K_M", "--dry-run"]);
    assert!(r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("as Q3_K_M: 75 tensors, 419424 bytes"), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(!out.exists(), "--dry-run writes nothing");

    // Refusals: an IQ2 mix without an importance matrix (nothing written), an unknown file type.
    let r = export(&["--type", "IQ2_XXS"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("requires an imatrix! (offending tensor: blk.0.attn_k.weight"));
    assert!(!out.exists(), "a refused mix writes nothing");
    let r = export(&["--type", "Q4_K_X"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("unknown file type 'Q4_K_X'"));
    assert_eq!(export(&["--type", "Q4_K_M", "--scheme", "q4_k"]).status.code(), Some(2));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `export --fit-bpw` / `--fit-size` (src/formats/src/gguf_fit.rs): the fitted file is no larger
/// than the target, reads back with the types printed, is set beside the named mixes; bad
/// targets are refused with the reason and write nothing.
#[test]
fn the_cli_fits_a_size_and_refuses_bad_targets() {
    let dir = std::env::temp_dir().join(format!("quantscope-fit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = fixture("gguf_mixes/source.gguf");
    let out = dir.join("fit.gguf");
    let export = |extra: &[&str]| export_to(&src, &out, extra);
    let r = export(&["--fit-bpw", "4.5"]);
    let stderr = String::from_utf8_lossy(&r.stderr).to_string();
    assert!(r.status.success(), "{stderr}");
    let bytes = std::fs::read(&out).unwrap();
    let model = quantscope_formats::lazy::open("fit.gguf", std::rc::Rc::new(bytes.clone())).unwrap();
    let elements: u64 = model.tensors.iter().map(|t| t.elements()).sum();
    assert!(bytes.len() as f64 * 8.0 <= 4.5 * elements as f64, "{} bytes for {elements} weights", bytes.len());
    // Every tensor's line names the type the file holds.
    for t in &model.tensors {
        let line =
            stderr.lines().find(|l| l.split_whitespace().next() == Some(t.name.as_str())).unwrap_or_else(|| panic!("{} listed", t.name));
        assert_eq!(line.split_whitespace().nth(1), Some(t.dtype.as_str()), "{line}");
    }
    assert!(stderr.contains("named mixes of this model") && stderr.contains("Q4_K_M"), "{stderr}");
    assert!(
        stderr.contains(&format!("fitted to {} bytes (4.500 bpw): {} bytes", (4.5 * elements as f64 / 8.0) as u64, bytes.len())),
        "{stderr}"
    );

    // --fit-size and --dry-run: the preview, nothing written.
    std::fs::remove_file(&out).unwrap();
    let r = export(&["--fit-size", "400KB", "--dry-run"]);
    assert!(r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("fitted to 400000 bytes"));
    assert!(!out.exists(), "--dry-run writes nothing");

    // Bad targets: each says why, and nothing is written.
    for (args, code, why) in [
        (&["--fit-bpw", "abc"][..], 2, "'abc' is not a number of bits per weight"),
        (&["--fit-size", "12 parsecs"][..], 2, "'12 parsecs' is not a file size"),
        (&["--fit-size", "10KB"][..], 1, "below the smallest file these tensors can be written in: 193824 bytes"),
        (&["--fit-bpw", "40"][..], 1, "above the model in F32 (3022240 bytes"),
        (&["--fit-bpw", "4", "--fit-size", "1MB"][..], 2, "give one target"),
        (&["--fit-bpw", "4", "--type", "Q4_K_M"][..], 2, "not with --scheme, --type"),
    ] {
        let r = export(args);
        assert_eq!(r.status.code(), Some(code), "{args:?}");
        assert!(String::from_utf8_lossy(&r.stderr).contains(why), "{args:?}: {}", String::from_utf8_lossy(&r.stderr));
        assert!(!out.exists(), "{args:?} writes nothing");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

fn mnist_expected() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("mnist/expected.json")).unwrap()).unwrap()
}

/// `quantscope eval` prints the same table (run from the repo root, its default paths).
#[test]
fn cli_eval_prints_the_table_with_onnxruntimes_fp32_count() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope")).args(["eval", "--json"]).current_dir(root).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), quantscope_engine::mnist::table_variants().len());
    assert_eq!(rows[0]["label"], "FP32");
    assert_eq!(rows[0]["correct"], mnist_expected()["fp32"]["correct"]);
    assert_eq!(rows[0]["bytes"], 358_440);

    let text = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope")).arg("eval").current_dir(root).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("INT8 static (entropy)") && text.contains("1920/2000"), "{text}");

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args(["eval", "--data", "no/such.npz"])
        .current_dir(root)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such.npz"));
}

/// `quantize-onnx` writes ONNX Runtime's `quantize_dynamic` file: its initializers are the ones
/// in ONNX Runtime's own output (tests/fixtures/onnx_dynamic, scripts/fixtures/make_onnx_dynamic.py).
#[test]
fn quantize_onnx_writes_onnx_runtime_s_initializers() {
    use prost::Message;
    use quantscope_formats::onnx::proto::ModelProto;
    let dir = std::env::temp_dir().join(format!("quantscope-cli-qonnx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("convs.uint8.onnx");
    let src = fixture("onnx_dynamic/convs.onnx");
    let o = run(&["quantize-onnx", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--weight-type", "uint8"]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("quantized: Conv 'conv_bias', Conv 'conv_group', Conv ''"), "{stdout}");
    let ours = ModelProto::decode(&std::fs::read(&out).unwrap()[..]).unwrap();
    let theirs = ModelProto::decode(&std::fs::read(fixture("onnx_dynamic/convs.uint8.onnx")).unwrap()[..]).unwrap();
    assert_eq!(ours.graph.unwrap().initializer, theirs.graph.unwrap().initializer);

    let bad = run(&["quantize-onnx", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--weight-type", "int4"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--weight-type is int8 or uint8, not 'int4'"));
    // --subgraphs (EnableSubgraph): the If branches and the Loop body quantized too
    let sub = fixture("onnx_dynamic/subgraphs.onnx");
    let o = run(&["quantize-onnx", sub.to_str().unwrap(), "--out", out.to_str().unwrap(), "--subgraphs"]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("MatMul 'then_mm'") && stdout.contains("MatMul 'inner_mm'") && !stdout.contains("kept in float"), "{stdout}");
    let o = run(&["quantize-onnx", sub.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("kept in float: Loop 'loop': 3 MatMul/Conv/LSTM/Gemm node(s) inside its subgraphs stay in float"), "{stdout}");
    let bad = run(&["quantize-onnx", sub.to_str().unwrap(), "--out", out.to_str().unwrap(), "--subgraphs", "--fp16"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--subgraphs is an option of dynamic INT8"));
    let npy = fixture("npy/e2e_weights.npy");
    let not_onnx = run(&["quantize-onnx", npy.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(not_onnx.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_onnx.stderr).contains("e2e_weights.npy"), "{}", String::from_utf8_lossy(&not_onnx.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

/// `quantize-onnx --nbits 2|4|8` writes ONNX Runtime's `MatMulNBitsQuantizer` file (tests/fixtures/onnx_nbits,
/// scripts/fixtures/make_onnx_nbits.py) in both formats; bad options and a model without a MatMul are refused.
#[test]
fn quantize_onnx_nbits_writes_onnx_runtime_s_file() {
    use prost::Message;
    use quantscope_formats::onnx::proto::ModelProto;
    let dir = std::env::temp_dir().join(format!("quantscope-cli-nbits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("odd.q4.onnx");
    let src = fixture("onnx_nbits/odd.onnx");
    let (src_s, out_s) = (src.to_str().unwrap(), out.to_str().unwrap());
    let variants: [(&[&str], &str); 4] = [
        (&["--nbits", "4", "--block-size", "32"], "onnx_nbits/odd.qoperator_b32_asym.onnx"),
        (&["--nbits", "4", "--block-size", "64", "--symmetric", "--format", "qdq"], "onnx_nbits/odd.qdq_b64_sym.onnx"),
        (&["--nbits", "8", "--block-size", "16"], "onnx_nbits/odd.qoperator_8bit_b16_asym.onnx"),
        (&["--nbits", "2", "--block-size", "128", "--symmetric"], "onnx_nbits/odd.qoperator_2bit_b128_sym.onnx"),
    ];
    for (extra, theirs) in variants {
        let o = run(&[&["quantize-onnx", src_s, "--out", out_s][..], extra].concat());
        assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("quantized: MatMul 'wide', MatMul '', MatMul 'odd_k'"), "{stdout}");
        assert!(stdout.contains("kept in float: MatMul 'computed_b': its B is not a constant"), "{stdout}");
        let ours = ModelProto::decode(&std::fs::read(&out).unwrap()[..]).unwrap();
        let theirs = ModelProto::decode(&std::fs::read(fixture(theirs)).unwrap()[..]).unwrap();
        assert_eq!(ours.graph.unwrap().initializer, theirs.graph.unwrap().initializer, "{extra:?}");
    }
    // HQQ: ONNX Runtime's nodes and scales (its float zero points come from torch's solver: the
    // library test compares them within float rounding)
    let o = run(&["quantize-onnx", src_s, "--out", out_s, "--nbits", "4", "--block-size", "16", "--quant-method", "hqq"]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("4-bit weights, MatMulNBits, blocks of 16, HQQ's float zero points"));
    let ours = ModelProto::decode(&std::fs::read(&out).unwrap()[..]).unwrap().graph.unwrap();
    let theirs = ModelProto::decode(&std::fs::read(fixture("onnx_nbits/odd.hqq_4bit_b16.onnx")).unwrap()[..]).unwrap().graph.unwrap();
    assert_eq!(ours.node, theirs.node);
    let scales = |g: &quantscope_formats::onnx::proto::GraphProto| {
        g.initializer.iter().filter(|t| t.name.as_deref().unwrap().ends_with("_scales")).cloned().collect::<Vec<_>>()
    };
    assert_eq!(scales(&ours), scales(&theirs));
    // Gather tables too: ONNX Runtime's file (op_types_to_quantize MatMul and Gather)
    let embed = fixture("onnx_nbits/embed.onnx");
    let o = run(&["quantize-onnx", embed.to_str().unwrap(), "--out", out_s, "--nbits", "4", "--block-size", "32", "--quantize-gather"]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("quantized: Gather 'embed', MatMul 'proj', Gather 'pick'"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let ours = ModelProto::decode(&std::fs::read(&out).unwrap()[..]).unwrap().graph.unwrap();
    let theirs = ModelProto::decode(&std::fs::read(fixture("onnx_nbits/embed.gather_b32_asym.onnx")).unwrap()[..]).unwrap().graph.unwrap();
    assert_eq!((ours.node, ours.initializer), (theirs.node, theirs.initializer));
    let refused: [(&[&str], i32, &str); 9] = [
        (&["--nbits", "8", "--quantize-gather"], 2, "quantized Gathers with other than 4 bits"),
        (&["--nbits", "4", "--quant-method", "gptq"], 2, "GPTQ needs calibration data"),
        (&["--nbits", "4", "--quant-method", "hqq", "--format", "qdq"], 2, "HQQ with the QDQ format"),
        (&["--nbits", "4", "--block-size", "100"], 2, "block size 100: it must be a power of two from 16 to 256"),
        (&["--nbits", "3"], 2, "3 bits: MatMulNBits and ONNX Runtime's quantizer pack 2, 4 or 8 bits"),
        (&["--nbits", "8", "--format", "qdq"], 2, "8 bits in the QDQ format"),
        (&["--nbits", "4", "--format", "qlinear"], 2, "--format is qoperator or qdq, not 'qlinear'"),
        (&["--block-size", "32"], 2, "are options of --nbits"),
        (&["--nbits", "4", "--per-channel"], 2, "--nbits writes weight-only blocked weights"),
    ];
    for (extra, code, want) in refused {
        let o = run(&[&["quantize-onnx", src_s, "--out", out_s][..], extra].concat());
        assert_eq!(o.status.code(), Some(code), "{extra:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(want), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = run(&["quantize-onnx", src_s, "--out", out_s, "--nbits", "4", "--quant-method", "awq"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--quant-method is rtn, hqq or gptq, not 'awq'"));
    // The page's MNIST MLP is written with Gemm: nothing for MatMulNBits.
    let gemm = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/models/mnist_mlp.onnx"));
    let o = run(&["quantize-onnx", gemm.to_str().unwrap(), "--out", out_s, "--nbits", "4"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no MatMul with a constant 2-D float B"), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

/// `quantize-onnx --static --force-quantize-no-input-check` is ONNX Runtime's
/// ForceQuantizeNoInputCheck: the `force` graph of tests/fixtures/onnx_static (pass-through ops fed
/// by Abs and Neg, which stay float) gets nothing quantized without it and its six pass-through ops
/// with it; the flag without --static is refused.
#[test]
fn quantize_onnx_static_force_quantize_no_input_check() {
    let dir = std::env::temp_dir().join(format!("quantscope-cli-force-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let calib = quantscope_formats::npy::parse("c", &std::fs::read(fixture("onnx_static/force.calibration.npy")).unwrap()).unwrap();
    let run0 = dir.join("run0.npy");
    std::fs::write(&run0, quantscope_formats::npy::write_f32(&[1, 2, 4, 4], &calib.data[..32])).unwrap();
    let src = fixture("onnx_static/force_model.onnx");
    let out = dir.join("force.onnx");
    let (src_s, out_s, run0_s) = (src.to_str().unwrap(), out.to_str().unwrap(), run0.to_str().unwrap());
    let base = ["quantize-onnx", src_s, "--out", out_s, "--static", "--calibration", run0_s];
    let plain = run(&base);
    assert!(plain.status.success(), "stderr: {}", String::from_utf8_lossy(&plain.stderr));
    assert!(String::from_utf8_lossy(&plain.stdout).contains("quantized: nothing"), "{}", String::from_utf8_lossy(&plain.stdout));
    let forced = run(&[&base[..], &["--force-quantize-no-input-check"]].concat());
    assert!(forced.status.success(), "stderr: {}", String::from_utf8_lossy(&forced.stderr));
    let stdout = String::from_utf8_lossy(&forced.stdout);
    assert!(
        stdout.contains(
            "quantized: Transpose 'transpose', MaxPool 'maxpool', AveragePool 'avgpool', Where 'where', Gather 'gather', Reshape 'reshape'"
        ),
        "{stdout}"
    );
    let refused = run(&["quantize-onnx", src_s, "--out", out_s, "--force-quantize-no-input-check"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force-quantize-no-input-check and --calibration are options of --static"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `quantize-onnx --static` calibrates on the given inputs and writes ONNX Runtime's
/// `quantize_static` QDQ file (tests/fixtures/onnx_static, scripts/fixtures/make_onnx_static.py:
/// the MNIST MLP on 32 of its calibration digits); bad calibration data is refused with the reason.
#[test]
fn quantize_onnx_static_writes_onnx_runtime_s_file() {
    use prost::Message;
    use quantscope_formats::onnx::proto::ModelProto;
    let dir = std::env::temp_dir().join(format!("quantscope-cli-qdq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let calib = quantscope_formats::npy::parse("c", &std::fs::read(fixture("onnx_static/mnist_mlp.calibration.npy")).unwrap()).unwrap();
    let digits = dir.join("digits.npy");
    std::fs::write(&digits, quantscope_formats::npy::write_f32(&[32, 784], &calib.data)).unwrap();
    let src = fixture("../../www/models/mnist_mlp.onnx");
    let out = dir.join("mnist_mlp.s8_per_channel.onnx");
    let (src_s, out_s, digits_s) = (src.to_str().unwrap(), out.to_str().unwrap(), digits.to_str().unwrap());
    let o =
        run(&["quantize-onnx", src_s, "--out", out_s, "--static", "--calibration", digits_s, "--per-channel", "--activation-type", "int8"]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("quantized: Gemm 'fc1', Relu 'relu1', Gemm 'fc2'"), "{stdout}");
    let ours = ModelProto::decode(&std::fs::read(&out).unwrap()[..]).unwrap().graph.unwrap();
    let theirs =
        ModelProto::decode(&std::fs::read(fixture("onnx_static/mnist_mlp.s8_per_channel.onnx")).unwrap()[..]).unwrap().graph.unwrap();
    // The engine calibrated: its activations differ from ONNX Runtime's kernels' in the last bits
    // (dot-product order), so activation scales may too; the weights, their scales and the
    // input's scale are ONNX Runtime's exactly.
    let names = |g: &quantscope_formats::onnx::proto::GraphProto| g.initializer.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&theirs));
    let mut close = 0;
    for (a, b) in ours.initializer.iter().zip(&theirs.initializer) {
        let name = a.name.clone().unwrap();
        let activation_scale = name.ends_with("_scale") && !name.contains("weight") && name != "input_scale";
        if a == b {
            continue;
        }
        assert!(activation_scale || name.starts_with("fc") && name.contains("bias_quantized"), "{name} differs");
        let (x, y) = (quantscope_formats::onnx::tensor::decode(a).unwrap(), quantscope_formats::onnx::tensor::decode(b).unwrap());
        let (x, y) = (x.data.to_f32(x.dtype), y.data.to_f32(y.dtype));
        let tol = if activation_scale { 1e-5 } else { 1e-3 };
        assert!(x.iter().zip(&y).all(|(p, q)| (p - q).abs() <= tol * q.abs().max(1.0)), "{name}: {x:?} vs {y:?}");
        close += 1;
    }
    assert!(close <= 12, "{close} initializers differ");
    assert_eq!(ours.node, theirs.node);

    let no_data = run(&["quantize-onnx", src_s, "--out", out_s, "--static"]);
    assert_eq!(no_data.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_data.stderr).contains("--static needs calibration data"));
    let wrong = dir.join("wrong.npy");
    std::fs::write(&wrong, quantscope_formats::npy::write_f32(&[2, 5], &[0.0; 10])).unwrap();
    let bad_shape = run(&["quantize-onnx", src_s, "--out", out_s, "--static", "--calibration", wrong.to_str().unwrap()]);
    assert_eq!(bad_shape.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad_shape.stderr);
    assert!(err.contains("the calibration inputs do not run") && err.contains("784"), "{err}");
    let twice = run(&["quantize-onnx", out_s, "--out", dir.join("again.onnx").to_str().unwrap(), "--static", "--calibration", digits_s]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("quantized already"), "{}", String::from_utf8_lossy(&twice.stderr));
    let method = run(&["quantize-onnx", src_s, "--out", out_s, "--static", "--calibration", digits_s, "--calibrate-method", "mse"]);
    assert_eq!(method.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&method.stderr).contains("not 'mse'"));
    std::fs::remove_dir_all(&dir).ok();
}

/// `quantize-onnx --static --calibrate-method percentile|entropy` calibrates as ONNX Runtime's
/// Percentile and Entropy calibraters (tests/fixtures/onnx_static_calib,
/// scripts/fixtures/make_onnx_static_calib.py): the weights are ONNX Runtime's byte for byte, the
/// activation scales within a histogram bin of its own (the engine's values are not its kernels'
/// to the last bit); bad options are refused with the reason.
#[test]
fn quantize_onnx_static_calibrates_as_onnx_runtime_s_histograms() {
    use prost::Message;
    use quantscope_formats::onnx::proto::ModelProto;
    let dir = std::env::temp_dir().join(format!("quantscope-cli-calib-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let calib = quantscope_formats::npy::parse("c", &std::fs::read(fixture("onnx_static/mnist_mlp.calibration.npy")).unwrap()).unwrap();
    let digits = dir.join("digits.npy");
    std::fs::write(&digits, quantscope_formats::npy::write_f32(&[32, 784], &calib.data)).unwrap();
    let src = fixture("../../www/models/mnist_mlp.onnx");
    let out = dir.join("out.onnx");
    let (src_s, out_s, digits_s) = (src.to_str().unwrap(), out.to_str().unwrap(), digits.to_str().unwrap());
    let base = ["quantize-onnx", src_s, "--out", out_s, "--static", "--calibration", digits_s, "--calibrate-method"];
    for (options, variant, bins) in
        [(&["percentile"][..], "percentile", 2048.0), (&["entropy", "--bins", "512"][..], "entropy_bins_512", 512.0)]
    {
        let o = run(&[&base[..], options].concat());
        assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains(&format!("{} calibration", options[0])), "{stdout}");
        let ours = ModelProto::decode(&std::fs::read(&out).unwrap()[..]).unwrap().graph.unwrap();
        let theirs = ModelProto::decode(&std::fs::read(fixture(&format!("onnx_static_calib/mnist_mlp.{variant}.onnx"))).unwrap()[..])
            .unwrap()
            .graph
            .unwrap();
        assert_eq!(ours.node, theirs.node, "{variant}");
        let mut scales = 0;
        for (a, b) in ours.initializer.iter().zip(&theirs.initializer) {
            let name = a.name.clone().unwrap();
            if name.contains("weight") {
                assert_eq!(a, b, "{variant}: {name}");
            } else if name.ends_with("_scale") && !name.contains("bias") {
                let (x, y) = (a.float_data[0], b.float_data[0]);
                // within a bin of the histogram: a scale of (hi - lo) / 255 moves by ≤ 2 bins / 255
                assert!((x - y).abs() <= 2.0 * 255.0 * y / bins / 255.0 + 1e-6, "{variant}: {name} {x} vs {y}");
                scales += 1;
            }
        }
        assert!(scales >= 5, "{variant}: {scales} activation scales compared");
    }
    for (options, why) in [
        (&["percentile", "--percentile", "0"][..], "percentile must be in (0, 100]"),
        (&["entropy", "--bins", "0"][..], "num_bins is 0"),
        (&["entropy", "--percentile", "99"][..], "--percentile is an option of --calibrate-method percentile"),
        (&["minmax", "--bins", "64"][..], "--bins is an option of the histogram calibrations"),
    ] {
        let o = run(&[&base[..], options].concat());
        assert_eq!(o.status.code(), Some(2), "{options:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(why), "{options:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `quantize-onnx --fp16` writes onnxconverter_common's `convert_float_to_float16(keep_io_types=
/// True)` file (tests/fixtures/onnx_float16, scripts/fixtures/make_onnx_float16.py): the same
/// initializers and nodes as its own file of the model; `--bf16` the same graph in BFLOAT16; an
/// FP16 model and an INT8 option with --fp16 are refused.
#[test]
fn quantize_onnx_fp16_writes_onnxconverter_common_s_file() {
    use prost::Message;
    use quantscope_formats::onnx::proto::ModelProto;
    let dir = std::env::temp_dir().join(format!("quantscope-cli-fp16-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("blocked.fp16.onnx");
    let src = fixture("onnx_float16/blocked.onnx");
    let o = run(&["quantize-onnx", src.to_str().unwrap(), "--out", out.to_str().unwrap(), "--fp16"]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("clamped: 2 values 0 < |x| < 1e-7 raised to ±1e-7, 3 values |x| > 1e4 lowered to ±1e4"), "{stdout}");
    assert!(stdout.contains("kept in float32: Max 'max', CumSum 'cumsum', TopK 'topk', Resize 'resize', Range 'range'"), "{stdout}");
    let ours = ModelProto::decode(&std::fs::read(&out).unwrap()[..]).unwrap().graph.unwrap();
    let theirs =
        ModelProto::decode(&std::fs::read(fixture("onnx_float16/blocked.fp16.reference.onnx")).unwrap()[..]).unwrap().graph.unwrap();
    // The engine calibrated: its activations differ from ONNX Runtime's kernels' in the last bits
    // (dot-product order), so activation scales may too; the weights, their scales and the
    // input's scale are ONNX Runtime's exactly.
    let names = |g: &quantscope_formats::onnx::proto::GraphProto| g.initializer.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&theirs));
    let mut close = 0;
    for (a, b) in ours.initializer.iter().zip(&theirs.initializer) {
        let name = a.name.clone().unwrap();
        let activation_scale = name.ends_with("_scale") && !name.contains("weight") && name != "input_scale";
        if a == b {
            continue;
        }
        assert!(activation_scale || name.starts_with("fc") && name.contains("bias_quantized"), "{name} differs");
        let (x, y) = (quantscope_formats::onnx::tensor::decode(a).unwrap(), quantscope_formats::onnx::tensor::decode(b).unwrap());
        let (x, y) = (x.data.to_f32(x.dtype), y.data.to_f32(y.dtype));
        let tol = if activation_scale { 1e-5 } else { 1e-3 };
        assert!(x.iter().zip(&y).all(|(p, q)| (p - q).abs() <= tol * q.abs().max(1.0)), "{name}: {x:?} vs {y:?}");
        close += 1;
    }
    assert!(close <= 12, "{close} initializers differ");
    assert_eq!(ours.node, theirs.node);

    let bf16 = dir.join("blocked.bf16.onnx");
    let o = run(&["quantize-onnx", src.to_str().unwrap(), "--out", bf16.to_str().unwrap(), "--bf16"]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let g = ModelProto::decode(&std::fs::read(&bf16).unwrap()[..]).unwrap().graph.unwrap();
    assert!(g.initializer.iter().filter(|t| t.name.as_deref() == Some("w")).all(|t| t.data_type == Some(16)));

    let again = run(&["quantize-onnx", out.to_str().unwrap(), "--out", bf16.to_str().unwrap(), "--fp16"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already in half precision"), "{}", String::from_utf8_lossy(&again.stderr));
    let mixed = run(&["quantize-onnx", src.to_str().unwrap(), "--out", bf16.to_str().unwrap(), "--fp16", "--per-channel"]);
    assert_eq!(mixed.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

/// `export --type … --imatrix FILE` writes what `llama-quantize --imatrix FILE` writes (the
/// library's bytes, which src/formats/tests/gguf_mixes.rs holds to llama-quantize's; the length is
/// llama-quantize's): run from the fixture folder so the file name written into the metadata is
/// "imatrix.gguf", as the fixture script ran llama-quantize. Also `imatrix` lists an importance
/// matrix's entries, `compare --imatrix` adds the weighted MSE and the weighted quantizers, and
/// bad uses are refused.
#[test]
fn the_cli_uses_importance_matrices() {
    use quantscope_formats::gguf_mix::{FileType, MixImatrix, MixOptions};
    let dir = std::env::temp_dir().join(format!("quantscope-imatrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mixes = fixture("gguf_mixes");
    let cases: Value = serde_json::from_slice(&std::fs::read(mixes.join("cases.json")).unwrap()).unwrap();
    let case = |name: &str| cases["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let model = quantscope_formats::lazy::open("source.gguf", std::rc::Rc::new(std::fs::read(mixes.join("source.gguf")).unwrap())).unwrap();
    let out = dir.join("out.gguf");
    let cli = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_quantscope")).args(args).current_dir(&mixes).output().unwrap();
    for (ftype, file, name) in [
        ("Q4_K_M", "imatrix.gguf", "Q4_K_M-imatrix"),
        ("Q4_K_M", "imatrix.dat", "Q4_K_M-imatrix-dat"),
        ("Q2_K_S", "imatrix_full.gguf", "Q2_K_S-imatrix-full"),
        ("IQ2_XXS", "imatrix_full.gguf", "IQ2_XXS-imatrix-full"),
        ("IQ3_M", "imatrix_full.gguf", "IQ3_M-imatrix-full"),
    ] {
        let r = cli(&["export", "source.gguf", "--type", ftype, "--imatrix", file, "--out", out.to_str().unwrap()]);
        assert!(r.status.success(), "{name}: {}", String::from_utf8_lossy(&r.stderr));
        assert!(String::from_utf8_lossy(&r.stderr).contains("importance-weighted"), "the plan says which tensors used it");
        let ours = std::fs::read(&out).unwrap();
        assert_eq!(ours.len() as u64, case(name)["len"].as_u64().unwrap(), "{name}: llama-quantize's length");
        let imatrix = std::rc::Rc::new(quantscope_formats::imatrix::parse(&std::fs::read(mixes.join(file)).unwrap()).unwrap());
        let options = MixOptions { imatrix: Some(MixImatrix { file_name: file.into(), imatrix }), ..Default::default() };
        let mut library = Vec::new();
        quantscope_formats::gguf_writer::write_mix(&model, FileType::from_name(ftype).unwrap(), &options, &mut library, |_, _| {}).unwrap();
        assert!(ours == library, "{name}: the CLI writes what the library writes");
    }
    std::fs::remove_file(&out).unwrap();
    // Refused as llama-quantize refuses: an entry of the wrong size; nothing written.
    let r = cli(&["export", "source.gguf", "--type", "Q4_K_M", "--imatrix", "imatrix_bad_size.gguf", "--out", out.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("imatrix size 100 is different from tensor size 256 for blk.0.attn_q.weight"));
    assert!(!out.exists());
    // Not an imatrix; --imatrix with one type for every tensor.
    let r = cli(&["export", "source.gguf", "--type", "Q4_K_M", "--imatrix", "source.gguf", "--out", out.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("imatrix: missing imatrix metadata"), "{}", String::from_utf8_lossy(&r.stderr));
    let r = cli(&["export", "source.gguf", "--scheme", "q4_k", "--imatrix", "imatrix.gguf", "--out", out.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(!out.exists());

    // `imatrix`: the entries, as text and JSON.
    let text = cli(&["imatrix", "imatrix.gguf", "--top", "2"]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("imatrix.gguf (gguf): 58 entries, 4 chunks of 128 tokens, datasets: calibration.txt"), "{text}");
    let j = json_of(&cli(&["imatrix", "imatrix.gguf", "--tensor", "blk.6.attn_q.weight", "--json"]));
    let e = &j["entries"][0];
    assert_eq!((e["columns"].as_u64(), e["experts"].as_u64(), e["count"].as_i64()), (Some(256), Some(1), Some(0)));
    assert_eq!(e["mean_weight"].as_f64(), Some(1.0), "a count of 0: every weight 1, as llama-quantize loads it");
    assert_eq!(e["top_columns"].as_array().unwrap().len(), 5);
    let j = json_of(&cli(&["imatrix", "imatrix.dat", "--json"]));
    assert_eq!(j["format"], "legacy .dat");
    assert_eq!(cli(&["imatrix", "imatrix.gguf", "--tensor", "nope"]).status.code(), Some(1));

    // `compare --imatrix`: each scheme's weighted MSE, and q4_k also quantized with the weights,
    // which lowers the weighted error.
    let j = json_of(&cli(&[
        "compare",
        "source.gguf",
        "--tensor",
        "blk.0.ffn_up.weight",
        "--imatrix",
        "imatrix.gguf",
        "--scheme",
        "q4_k",
        "--scheme",
        "q8_0",
        "--json",
    ]));
    let rows = j["schemes"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["scheme"].as_str().unwrap()).collect();
    assert_eq!(names, ["q4_k", "q4_k+imatrix", "q8_0"]);
    let wmse = |i: usize| rows[i]["weighted_mse"].as_f64().unwrap();
    assert!(wmse(1) < wmse(0), "the imatrix lowers the weighted error: {} vs {}", wmse(1), wmse(0));
    // A type that needs the imatrix: only its weighted row; without an imatrix, an error saying so.
    let j = json_of(&cli(&[
        "compare",
        "source.gguf",
        "--tensor",
        "blk.0.ffn_up.weight",
        "--imatrix",
        "imatrix.gguf",
        "--scheme",
        "iq2_xxs",
        "--scheme",
        "iq3_s",
        "--json",
    ]));
    let names: Vec<&str> = j["schemes"].as_array().unwrap().iter().map(|r| r["scheme"].as_str().unwrap()).collect();
    assert_eq!(names, ["iq2_xxs+imatrix", "iq3_s", "iq3_s+imatrix"]);
    let r = cli(&["compare", "source.gguf", "--tensor", "blk.0.ffn_up.weight", "--scheme", "iq2_xxs"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("iq2_xxs needs an importance matrix"), "{}", String::from_utf8_lossy(&r.stderr));
    let r = cli(&["compare", "source.gguf", "--tensor", "token_embd.weight", "--imatrix", "imatrix.gguf", "--scheme", "q4_k"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("has 100 weights"), "{}", String::from_utf8_lossy(&r.stderr));
    let r = cli(&["compare", "source.gguf", "--tensor", "blk.3.attn_k.weight", "--imatrix", "imatrix.gguf"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("no entry for tensor 'blk.3.attn_k.weight'"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn perplexity_equals_llama_perplexity_and_generate_continues_the_prompt() {
    // reference.json's passage_perplexity: llama-perplexity -c 128 --chunks 8 on heldout.txt.
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(fixture("tiny_lm/reference.json")).unwrap()).unwrap();
    let want = reference["passage_perplexity"]["F32"]["ppl"].as_f64().unwrap();
    let model = fixture("tiny_lm/tiny-lm-f32.gguf");
    let text = fixture("tiny_lm/heldout.txt");
    let out = run(&["perplexity", model.to_str().unwrap(), "--text", text.to_str().unwrap(), "--ctx", "128", "--chunks", "8", "--json"]);
    let got = json_of(&out);
    assert!((got["ppl"].as_f64().unwrap() - want).abs() <= 1e-4, "{got} vs {want}");
    assert_eq!(got["tokens_scored"], 8 * 63);

    let out = run(&["generate", model.to_str().unwrap(), "--prompt", "MACBETH.\n", "--tokens", "20"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("MACBETH.\n") && text.len() > "MACBETH.\n".len() + 20, "{text:?}");
    let seeded = |seed: &str| run(&["generate", model.to_str().unwrap(), "--prompt", "To be", "--seed", seed, "--tokens", "30"]).stdout;
    assert_eq!(seeded("7"), seeded("7"));

    let out = run(&["generate", "no-such-model.gguf", "--prompt", "x"]);
    assert_eq!(out.status.code(), Some(1));
    let npy = fixture("tiny_lm/heldout.ids.npy");
    let out = run(&["generate", npy.to_str().unwrap(), "--prompt", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a language model is read from a GGUF file, not npy"));
    assert_eq!(run(&["generate", model.to_str().unwrap()]).status.code(), Some(2));
}

/// `generate` runs the other families and SentencePiece too (their logits are held to llama.cpp's
/// in src/llm/tests/archs.rs): the tiny random-weight gemma, gemma2, gemma3 and SentencePiece llama.
#[test]
fn generate_runs_gemma_and_sentencepiece_models() {
    for name in ["gemma", "gemma2", "gemma3", "llama-spm", "llama-rope-freqs"] {
        let model = fixture(&format!("llm_archs/{name}.gguf"));
        let out = run(&["generate", model.to_str().unwrap(), "--prompt", "Enter the ghost", "--tokens", "8"]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("Enter the ghost") && text.trim_end().len() > "Enter the ghost".len(), "{name}: {text:?}");
    }
}

/// `make-imatrix` writes llama-imatrix's file: run where the fixture was made, with the same text
/// and settings, the header (keys, dataset name, tensors) is llama-imatrix's byte for byte and
/// the file has its length; the statistics are checked in src/llm/tests/imatrix.rs. It then
/// feeds `export --imatrix`.
#[test]
fn make_imatrix_writes_llama_imatrix_s_layout() {
    let dir = fixture("tiny_lm");
    let out = std::env::temp_dir().join(format!("quantscope-make-imatrix-{}.gguf", std::process::id()));
    let r = Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args(["make-imatrix", "tiny-lm-f32.gguf", "--text", "calibration.txt", "--ctx", "128", "--chunks", "8", "--out"])
        .arg(&out)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("14 tensors, 8 chunks of 128 tokens"));
    let ours = std::fs::read(&out).unwrap();
    let theirs = std::fs::read(dir.join("imatrix-f32.gguf")).unwrap();
    assert_eq!(ours.len(), theirs.len());
    // Everything before the data: 14 sums (256 columns; 512 for the two ffn_down) and 14 counts,
    // each padded to 32 bytes.
    let data = theirs.len() - (12 * 1024 + 2 * 2048 + 14 * 32);
    assert_eq!(&ours[..data], &theirs[..data]);

    let model = dir.join("tiny-lm-f32.gguf");
    let q = std::env::temp_dir().join(format!("quantscope-make-imatrix-{}-q2k.gguf", std::process::id()));
    let r = run(&["export", model.to_str().unwrap(), "--type", "Q2_K", "--imatrix", out.to_str().unwrap(), "--out", q.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    std::fs::remove_file(&q).unwrap();
    std::fs::remove_file(&out).unwrap();

    // Usage: a text and an output are needed; a context llama-imatrix would collect nothing with.
    assert_eq!(run(&["make-imatrix", model.to_str().unwrap(), "--out", "x.gguf"]).status.code(), Some(2));
    let text = dir.join("calibration.txt");
    assert_eq!(run(&["make-imatrix", model.to_str().unwrap(), "--text", text.to_str().unwrap()]).status.code(), Some(2));
    let r = run(&["make-imatrix", model.to_str().unwrap(), "--text", text.to_str().unwrap(), "--ctx", "8", "--out", "x.gguf"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("ignores batches of fewer than 16"));
}

/// `kl-divergence` prints llama-perplexity --kl-divergence's statistics (kld.json's Q8_0 row,
/// from the committed llama-quantize file).
#[test]
fn kl_divergence_equals_llama_perplexity_s() {
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(fixture("tiny_lm/kld.json")).unwrap()).unwrap();
    let want = &reference["types"]["Q8_0"];
    let (base, q8, text) = (fixture("tiny_lm/tiny-lm-f32.gguf"), fixture("tiny_lm/tiny-lm-q8_0.gguf"), fixture("tiny_lm/heldout.txt"));
    let out = run(&[
        "kl-divergence",
        base.to_str().unwrap(),
        q8.to_str().unwrap(),
        "--text",
        text.to_str().unwrap(),
        "--ctx",
        "128",
        "--chunks",
        "8",
        "--json",
    ]);
    let got = json_of(&out);
    assert_eq!(got["positions"], 504);
    let (mean, w) = (got["mean_kld"].as_f64().unwrap(), want["mean_kld"].as_f64().unwrap());
    assert!((mean - w).abs() <= 0.03 * w + 2e-5, "{mean} vs {w}");
    assert!((got["same_top_percent"].as_f64().unwrap() - want["same_top_percent"].as_f64().unwrap()).abs() <= 1.0);
    assert_eq!(run(&["kl-divergence", base.to_str().unwrap(), "--text", text.to_str().unwrap()]).status.code(), Some(2));
    assert_eq!(run(&["kl-divergence", base.to_str().unwrap(), q8.to_str().unwrap()]).status.code(), Some(2));
}

/// `make-imatrix MODEL.onnx`: the built-in MNIST model over its 256 calibration digits (v/255, as
/// the page feeds them) gives the statistics of tests/fixtures/mnist/imatrix.json (ONNX Runtime's
/// activations, scripts/fixtures/make_mnist_imatrix.py) within the engine test's tolerance, in
/// llama-imatrix's layout; an ONNX model needs --calibration.
#[test]
fn make_imatrix_of_an_onnx_model() {
    let repo = fixture("..").join("..");
    let model = repo.join("www/models/mnist_mlp.onnx");
    let set = quantscope_formats::npz::parse(&std::fs::read(repo.join("www/models/mnist_test.npz")).unwrap()).unwrap();
    let digits = set.iter().find(|t| t.name == "calibration").unwrap();
    let scaled: Vec<f32> = digits.data.iter().map(|v| v / 255.0).collect();
    let dir = std::env::temp_dir().join(format!("quantscope-onnx-imatrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (calibration, out) = (dir.join("digits.npy"), dir.join("imatrix.gguf"));
    std::fs::write(&calibration, quantscope_formats::npy::write_f32(&digits.shape, &scaled)).unwrap();
    let r = run(&["make-imatrix", model.to_str().unwrap(), "--calibration", calibration.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.contains("fc1.weight") && stdout.contains("784 input columns, 256 rows, 225 always 0"), "{stdout}");
    assert!(stdout.contains("3 tensors, 1 chunk of 256 rows"), "{stdout}");
    let m = quantscope_formats::imatrix::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(m.datasets, vec![calibration.to_str().unwrap().to_string()]);
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(fixture("mnist/imatrix.json")).unwrap()).unwrap();
    for want in expected["entries"].as_array().unwrap() {
        let got = m.get(want["weight"].as_str().unwrap()).unwrap();
        let sums: Vec<f64> = want["sums"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let largest = sums.iter().cloned().fold(0.0, f64::max);
        for (a, b) in got.sums.iter().zip(&sums) {
            assert!((*a as f64 - b).abs() <= 1e-5 * largest, "{}: {a} against {b}", got.name);
        }
        assert_eq!(got.counts, vec![256]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // Usage: an ONNX model needs calibration inputs.
    let r = run(&["make-imatrix", model.to_str().unwrap(), "--out", "x.gguf"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("needs --calibration"));
}

/// `awq`: without the clip, the scaled F32 file scores the held-out text as the model does (scaling
/// is exact algebra before rounding); with it and `--type Q4_0`, a Q4_0 file of other blocks than
/// `export --type Q4_0`'s that runs; bad settings are refused with the reason.
#[test]
fn awq_of_the_tiny_model() {
    let model = fixture("tiny_lm/tiny-lm-f32.gguf");
    let text = fixture("tiny_lm/calibration.txt");
    let heldout = fixture("tiny_lm/heldout.txt");
    let dir = std::env::temp_dir().join(format!("quantscope-awq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (scaled, clipped, q4) = (dir.join("scaled.gguf"), dir.join("clipped.gguf"), dir.join("awq-q4_0.gguf"));
    let args = ["--text", text.to_str().unwrap(), "--ctx", "64", "--chunks", "2"];
    let awq = |extra: &[&str]| run(&[&["awq", model.to_str().unwrap()], &args[..], extra].concat());
    let r = awq(&["--out", scaled.to_str().unwrap(), "--no-clip"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.contains("blk.1 ffn_up → ffn_down") && !stdout.contains("clip (output error)"), "{stdout}");
    let ppl = |m: &std::path::Path| {
        let r = run(&["perplexity", m.to_str().unwrap(), "--text", heldout.to_str().unwrap(), "--ctx", "128", "--chunks", "2", "--json"]);
        json_of(&r)["ppl"].as_f64().unwrap()
    };
    let (before, after) = (ppl(&model), ppl(&scaled));
    assert!((before - after).abs() <= 1e-4 * before, "perplexity {before} before scaling, {after} after");

    let (rounded, rtn) = (dir.join("rounded.gguf"), dir.join("rtn.gguf"));
    let r = awq(&[
        "--out",
        clipped.to_str().unwrap(),
        "--type",
        "Q4_0",
        "--quantized-out",
        q4.to_str().unwrap(),
        "--rounded-out",
        rounded.to_str().unwrap(),
        "--rtn-out",
        rtn.to_str().unwrap(),
        "--json",
    ]);
    let report = json_of(&r);
    // The rounded files are F32 files of Q4_0-rounded layer matrices: AWQ's differ from RTN's.
    assert!(std::fs::read(&rounded).unwrap() != std::fs::read(&rtn).unwrap());
    assert!(ppl(&rounded).is_finite() && ppl(&rtn).is_finite());
    assert_eq!(report["grid"], "Q4_0");
    assert_eq!(report["scales"].as_array().unwrap().len(), 6);
    assert_eq!(report["clips"].as_array().unwrap().len(), 10);
    let plain = dir.join("q4_0.gguf");
    assert!(export_to(&model, &plain, &["--type", "Q4_0"]).status.success());
    assert!(std::fs::read(&q4).unwrap() != std::fs::read(&plain).unwrap());
    assert!(ppl(&q4).is_finite());

    let fails = |extra: &[&str], why: &str| {
        let r = awq(extra);
        assert!(!r.status.success(), "{extra:?} was accepted");
        assert!(String::from_utf8_lossy(&r.stderr).contains(why), "{extra:?}: {}", String::from_utf8_lossy(&r.stderr));
    };
    let out = dir.join("x.gguf");
    let out = out.to_str().unwrap();
    fails(&["--out", out, "--type", "Q4_0"], "--type FTYPE and --quantized-out OUT.gguf go together");
    fails(&["--out", out, "--grid", "int4"], "--grid/--group: grid 'int4': q4_0 or awq");
    fails(&["--out", out, "--grid", "awq", "--group", "96"], "groups of 96 columns do not divide rows of 256");
    fails(&["--out", out, "--type", "Q9_Z", "--quantized-out", out], "Q9_Z");
    let q8 = fixture("tiny_lm/tiny-lm-q8_0.gguf");
    let r = run(&[&["awq", q8.to_str().unwrap(), "--out", out], &args[..]].concat());
    assert!(String::from_utf8_lossy(&r.stderr).contains("starts from F32 weights"), "{}", String::from_utf8_lossy(&r.stderr));
    std::fs::remove_dir_all(&dir).ok();
}

/// `gptq`: GPTQ's Q4_0 file and round-to-nearest's, which is `export --type Q4_0`'s (llama-quantize's)
/// byte for byte; GPTQ's own differs and is refused for an already quantized model.
#[test]
fn gptq_of_the_tiny_model() {
    let model = fixture("tiny_lm/tiny-lm-f32.gguf");
    let text = fixture("tiny_lm/calibration.txt");
    let dir = std::env::temp_dir().join(format!("quantscope-gptq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (gptq, rtn, q4_0) = (dir.join("gptq.gguf"), dir.join("rtn.gguf"), dir.join("q4_0.gguf"));
    let args = ["--text", text.to_str().unwrap(), "--ctx", "128", "--chunks", "2"];
    let r =
        run(&[&["gptq", model.to_str().unwrap(), "--out", gptq.to_str().unwrap(), "--rtn-out", rtn.to_str().unwrap()], &args[..]].concat());
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(stdout.contains("blk.1.ffn_down.weight") && stdout.contains("Q4_0 grid, groups of 32"), "{stdout}");
    assert!(export_to(&model, &q4_0, &["--type", "Q4_0"]).status.success());
    assert!(std::fs::read(&rtn).unwrap() == std::fs::read(&q4_0).unwrap(), "round-to-nearest is not llama-quantize's Q4_0");
    assert!(std::fs::read(&gptq).unwrap() != std::fs::read(&q4_0).unwrap());
    let p = run(&[
        "perplexity",
        gptq.to_str().unwrap(),
        "--text",
        fixture("tiny_lm/heldout.txt").to_str().unwrap(),
        "--ctx",
        "128",
        "--chunks",
        "2",
    ]);
    assert!(String::from_utf8_lossy(&p.stdout).starts_with("PPL = "), "{}", String::from_utf8_lossy(&p.stderr));

    let q8 = fixture("tiny_lm/tiny-lm-q8_0.gguf");
    let r = run(&[&["gptq", q8.to_str().unwrap(), "--out", dir.join("x.gguf").to_str().unwrap()], &args[..]].concat());
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("starts from F32 weights"), "{}", String::from_utf8_lossy(&r.stderr));
    let r = run(&[&["gptq", model.to_str().unwrap(), "--out", dir.join("x.gguf").to_str().unwrap(), "--grid", "int9"], &args[..]].concat());
    assert!(String::from_utf8_lossy(&r.stderr).contains("9-bit codes"), "{}", String::from_utf8_lossy(&r.stderr));
    let r = run(&[&["gptq", model.to_str().unwrap(), "--out", dir.join("x.gguf").to_str().unwrap(), "--group", "64"], &args[..]].concat());
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("Q4_0 rounds groups of 32 columns, not 64"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `quantize-onnx --nbits 4 --quant-method gptq --calibration C.npy` writes ONNX Runtime's GPTQ
/// file (tests/fixtures/onnx_gptq, scripts/fixtures/make_onnx_gptq.py: the calibration rows as one
/// reader item) byte for byte in its initializers; bad calibration and options are refused.
#[test]
fn quantize_onnx_gptq_writes_onnx_runtime_s_file() {
    use prost::Message;
    use quantscope_formats::onnx::proto::{ModelProto, TensorProto};
    let dir = std::env::temp_dir().join(format!("quantscope-cli-gptq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("mlp.gptq.onnx");
    let src = fixture("onnx_gptq/mlp.onnx");
    let calib = fixture("onnx_gptq/calibration_all.npy");
    let (src_s, out_s, calib_s) = (src.to_str().unwrap(), out.to_str().unwrap(), calib.to_str().unwrap());
    let o = run(&[
        "quantize-onnx",
        src_s,
        "--out",
        out_s,
        "--nbits",
        "4",
        "--quant-method",
        "gptq",
        "--block-size",
        "32",
        "--calibration",
        calib_s,
    ]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("quantized: MatMul 'fc1', MatMul 'fc2', MatMul 'fc3a', MatMul 'fc3b'"), "{stdout}");
    assert!(stdout.contains("output error on the calibration data") && stdout.contains("round to nearest"), "{stdout}");
    let sorted = |bytes: &[u8]| {
        let g = ModelProto::decode(bytes).unwrap().graph.unwrap();
        let mut inits: Vec<TensorProto> = g.initializer;
        inits.sort_by(|a, b| a.name.cmp(&b.name));
        (g.node, inits)
    };
    let ours = sorted(&std::fs::read(&out).unwrap());
    let theirs = sorted(&std::fs::read(fixture("onnx_gptq/mlp.b32_asym_onebatch.onnx")).unwrap());
    assert_eq!(ours, theirs);
    // the rows as reader items of 4, 4 and 2 (without act-order only H's zeros reach the weights,
    // so the file is the same)
    let o = run(&[
        "quantize-onnx",
        src_s,
        "--out",
        out_s,
        "--nbits",
        "4",
        "--quant-method",
        "gptq",
        "--block-size",
        "32",
        "--calibration",
        calib_s,
        "--calibration-batch",
        "4",
    ]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sorted(&std::fs::read(&out).unwrap()), theirs);
    // --error-feedback: the paper's update (tests/ort_gptq.rs holds the weights to ONNX Runtime's
    // quantizer with it); each MatMul's output error on the rows falls below round to nearest's
    let o = run(&[
        "quantize-onnx",
        src_s,
        "--out",
        out_s,
        "--nbits",
        "4",
        "--quant-method",
        "gptq",
        "--block-size",
        "32",
        "--calibration",
        calib_s,
        "--error-feedback",
    ]);
    assert!(o.status.success(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("(GPTQ with error feedback, 4-bit weights"), "{stdout}");
    let errors: Vec<(f64, f64)> = stdout
        .lines()
        .filter_map(|l| l.split_once(": GPTQ "))
        .map(|(_, rest)| {
            let (g, r) = rest.split_once(", round to nearest ").unwrap();
            (g.parse().unwrap(), r.parse().unwrap())
        })
        .collect();
    assert_eq!(errors.len(), 4, "{stdout}");
    assert!(errors.iter().all(|(g, r)| g < r), "{stdout}");
    assert_ne!(sorted(&std::fs::read(&out).unwrap()), theirs);
    let bad = dir.join("bad.npy");
    std::fs::write(&bad, quantscope_formats::npy::write_f32(&[2, 4, 100], &[0.25; 800])).unwrap();
    let refused: [(&[&str], i32, &str); 7] = [
        (&["--nbits", "4", "--quant-method", "gptq"], 2, "GPTQ needs calibration data: --calibration"),
        (&["--nbits", "4", "--quant-method", "gptq", "--calibration-batch", "0", "--calibration", calib_s], 2, "--calibration-batch 0"),
        (&["--nbits", "2", "--quant-method", "gptq", "--calibration", calib_s], 2, "ONNX Runtime's GPTQ writes 4-bit MatMulNBits"),
        (
            &["--nbits", "4", "--quant-method", "gptq", "--format", "qdq", "--calibration", calib_s],
            2,
            "GPTQ only supports QOperator format",
        ),
        (&["--nbits", "4", "--act-order"], 2, "are options of --quant-method gptq"),
        (&["--nbits", "4", "--quant-method", "gptq", "--percdamp", "-1", "--calibration", calib_s], 2, "dampening"),
        (
            &["--nbits", "4", "--quant-method", "gptq", "--calibration", bad.to_str().unwrap()],
            1,
            "the calibration inputs do not run: model input 'x': has shape [2, 4, 100]",
        ),
    ];
    for (extra, code, want) in refused {
        let o = run(&[&["quantize-onnx", src_s, "--out", out_s][..], extra].concat());
        assert_eq!(o.status.code(), Some(code), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains(want), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    std::fs::remove_dir_all(&dir).ok();
}

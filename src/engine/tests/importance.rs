//! An ONNX model's importance matrix (src/engine/src/importance.rs): the built-in MNIST model's
//! against ONNX Runtime's activations (tests/fixtures/mnist/imatrix.json, written by
//! scripts/fixtures/make_mnist_imatrix.py), the weights the file holds or leaves out, and the
//! models it refuses.
//!
//!   cargo test -p quantscope-engine --test importance
//!   wasm-pack test --headless --chrome --mode no-install src/engine --test importance

use quantscope_engine::builder::{attr_int, GraphBuilder};
use quantscope_engine::importance::ImportanceRun;
use quantscope_engine::mnist::{TestSet, PIXELS};
use quantscope_engine::{DType, Model, Value};
use quantscope_formats::imatrix::{parse, ImatrixFormat};
use quantscope_formats::imatrix_writer::write_gguf;

const MODEL: &[u8] = include_bytes!(concat!(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), "/www/models/mnist_mlp.onnx"));
const TEST_SET: &[u8] = include_bytes!(concat!(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."), "/www/models/mnist_test.npz"));

/// The engine's GEMM and ONNX Runtime's (MLAS) sum in different orders, so hidden activations
/// differ in their last bits; 256 rows of them summed give sums within this of the largest.
const RELATIVE: f32 = 1e-5;

/// The MNIST model's statistics over the calibration digits, `batch` digits per run.
fn mnist_run(batch: usize) -> (Model, ImportanceRun) {
    let model = Model::from_onnx(MODEL).unwrap();
    let set = TestSet::from_npz(TEST_SET).unwrap();
    let mut run = ImportanceRun::new(&model).unwrap();
    for digits in set.calibration.chunks(batch * PIXELS) {
        let x = Value::f32(vec![digits.len() / PIXELS, PIXELS], digits.to_vec());
        run.add_batch(&model, &[("input", x)]).unwrap();
    }
    (model, run)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn mnist_sums_match_onnxruntime_activations() {
    let expected = crate::common::json(fixture_str!("mnist/imatrix.json"));
    let (_, run) = mnist_run(64);
    assert_eq!(run.batches(), 4);
    let entries = expected["entries"].as_array().unwrap();
    assert_eq!(run.entries().len(), entries.len());
    for (got, want) in run.entries().iter().zip(entries) {
        assert_eq!(got.weight, want["weight"].as_str().unwrap());
        assert_eq!(got.op_type, "Gemm");
        assert!(got.saved, "{} is stored [out, in]", got.weight);
        assert_eq!(got.count, want["count"].as_i64().unwrap());
        let sums: Vec<f32> = want["sums"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert_eq!(got.sums.len(), sums.len());
        let largest = sums.iter().fold(0f32, |m, v| m.max(*v));
        for (j, (a, b)) in got.sums.iter().zip(&sums).enumerate() {
            assert!((a - b).abs() <= RELATIVE * largest, "{} column {j}: {a} against ORT's {b}", got.weight);
        }
        // A pixel no calibration digit inks has no importance, exactly.
        for (a, b) in got.sums.iter().zip(&sums) {
            assert_eq!(*a == 0.0, *b == 0.0, "{}: zero sums in the same columns", got.weight);
        }
    }
    // The first layer's inputs are the pixels: the fixture's sums are exact there (x is v/255).
    let fc1: Vec<f32> = entries[0]["sums"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    assert_eq!(run.entries()[0].sums, fc1);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn batches_change_the_chunks_not_the_sums() {
    let (_, whole) = mnist_run(256);
    let (_, quarters) = mnist_run(64);
    assert_eq!(whole.batches(), 1);
    for (a, b) in whole.entries().iter().zip(quarters.entries()) {
        assert_eq!(a.count, b.count);
        assert_eq!(a.sums, b.sums, "{}: row order is the same whatever the batches", a.weight);
    }
    let m = quarters.imatrix("calibration digits").unwrap();
    assert_eq!((m.chunk_count, m.chunk_size), (4, 64));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_file_is_llama_imatrix_layout_and_reads_back() {
    let (_, run) = mnist_run(64);
    assert!(run.imatrix("x").is_some());
    let file = write_gguf(&run.imatrix("mnist_test.npz calibration").unwrap()).unwrap();
    let back = parse(&file).unwrap();
    assert_eq!(back.format, ImatrixFormat::Gguf);
    assert_eq!(back.datasets, vec!["mnist_test.npz calibration".to_string()]);
    let names: Vec<&str> = back.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["fc1.weight", "fc2.weight", "fc3.weight"]);
    for (e, mine) in back.entries.iter().zip(run.entries()) {
        assert_eq!(e.sums, mine.sums);
        assert_eq!(e.counts, vec![256]);
        // llama-quantize's weights: Σx² / rows, in f32.
        assert_eq!(e.values, mine.sums.iter().map(|s| s / mine.count as f32).collect::<Vec<_>>());
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn none_before_a_batch() {
    let model = Model::from_onnx(MODEL).unwrap();
    let run = ImportanceRun::new(&model).unwrap();
    assert!(run.imatrix("x").is_none());
    assert!(run.entries().iter().all(|e| e.count == 0));
}

/// x [N, 3] → MatMul by w [3, 3] → Gemm (transB 0) by g [3, 2] → MatMul by w again.
fn stored_in_out_model() -> Model {
    let w = Value::f32(vec![3, 3], vec![1.0, 0.5, 0.0, -1.0, 2.0, 1.0, 0.0, 1.0, 3.0]);
    let g = Value::f32(vec![3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let bytes = GraphBuilder::new(17)
        .input_unshaped("x", DType::F32)
        .output("z", DType::F32, &[None, Some(3)])
        .output("y2", DType::F32, &[None, Some(2)])
        .initializer("w", &w)
        .initializer("g", &g)
        .node("MatMul", "first", &["x", "w"], &["y"], vec![])
        .node("Gemm", "gemm", &["y", "g"], &["y2"], vec![attr_int("transB", 0)])
        .node("MatMul", "again", &["y", "w"], &["z"], vec![])
        .build();
    Model::from_onnx(&bytes).unwrap()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn shared_weights_add_up_and_in_out_weights_stay_out_of_the_file() {
    let model = stored_in_out_model();
    let mut run = ImportanceRun::new(&model).unwrap();
    let x = Value::f32(vec![2, 3], vec![1.0, -2.0, 0.5, 0.0, 1.0, 2.0]);
    run.add_batch(&model, &[("x", x)]).unwrap();
    let e = run.entries();
    assert_eq!(e.len(), 2, "w is one entry though two nodes read it");
    assert_eq!((e[0].weight.as_str(), e[0].node.as_str(), e[0].saved), ("w", "first", false));
    // y = x·w: rows [3.0, -3.0, -0.5] and [-1.0, 4.0, 7.0]; w sees x's rows and y's rows.
    let y = [[3.0f32, -3.0, -0.5], [-1.0, 4.0, 7.0]];
    let x2 = [1.0f32 + 0.0, 4.0 + 1.0, 0.25 + 4.0];
    for j in 0..3 {
        assert_eq!(e[0].sums[j], x2[j] + y[0][j] * y[0][j] + y[1][j] * y[1][j]);
        assert_eq!(e[1].sums[j], y[0][j] * y[0][j] + y[1][j] * y[1][j]);
    }
    assert_eq!((e[0].count, e[1].count), (4, 2));
    assert!(run.imatrix("x").is_none(), "no weight is stored [out, in]: the file would be empty");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn models_without_weights_and_non_finite_inputs_are_refused() {
    let bytes = GraphBuilder::new(17)
        .input("a", DType::F32, &[Some(2), Some(2)])
        .input("b", DType::F32, &[Some(2), Some(2)])
        .output("c", DType::F32, &[Some(2), Some(2)])
        .node("MatMul", "product", &["a", "b"], &["c"], vec![])
        .build();
    let model = Model::from_onnx(&bytes).unwrap();
    let e = ImportanceRun::new(&model).err().expect("no constant weight");
    assert!(e.to_string().contains("needs a MatMul or Gemm whose weight is a constant"), "{e}");

    let model = stored_in_out_model();
    let mut run = ImportanceRun::new(&model).unwrap();
    let x = Value::f32(vec![1, 3], vec![f32::INFINITY, 0.0, 0.0]);
    let e = run.add_batch(&model, &[("x", x)]).expect_err("an infinite input");
    assert!(e.to_string().contains("'first'") && e.to_string().contains("not finite"), "{e}");
    assert_eq!(run.batches(), 0);
    assert!(run.entries().iter().all(|e| e.count == 0 && e.sums.iter().all(|&s| s == 0.0)), "the failed batch added nothing");

    // A batch the model refuses part-way (MatMul takes rank 3 and w's sums grow, then Gemm
    // refuses it) leaves the statistics as they were.
    let good = Value::f32(vec![1, 3], vec![1.0, 2.0, 3.0]);
    run.add_batch(&model, &[("x", good)]).unwrap();
    let kept: Vec<(Vec<f32>, i64)> = run.entries().iter().map(|e| (e.sums.clone(), e.count)).collect();
    let bad = Value::f32(vec![1, 1, 3], vec![1.0, 2.0, 3.0]);
    assert!(run.add_batch(&model, &[("x", bad)]).is_err());
    assert_eq!(run.entries().iter().map(|e| (e.sums.clone(), e.count)).collect::<Vec<_>>(), kept);
    assert_eq!(run.batches(), 1);
}

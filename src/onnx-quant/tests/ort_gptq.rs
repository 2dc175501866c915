//! `gptq::GptqWork` against ONNX Runtime 1.32's GPTQ (`MatMulNBitsQuantizer` with
//! `GPTQWeightOnlyQuantConfig`; the fixtures of scripts/fixtures/make_onnx_gptq.py): a
//! four-MatMul model (a dead input channel, a padded last block, two MatMuls reading one tensor)
//! over three calibration items (batches 3, 5 and 2) or the same rows as one item, blocks of 32
//! and 128, symmetric and not, act-order, GPTQ's lazy block 16 with dampening 0.1, the mse
//! search, one grid per tensor.
//!
//! * On ONNX Runtime's own activations (`activations.npz`, what its augmented model gives its
//!   GPTQ): every initializer is ONNX Runtime's byte for byte (codes, scales, zero points), the
//!   nodes are its nodes in its order, the graph's inputs and outputs and the opsets its own.
//! * On quantscope's engine's activations (as the page and the CLI run it): the same bytes.
//! * The files run in the engine with ONNX Runtime's outputs.
//! * GPTQ without calibration values, values that do not fit, and odd block counts with zero
//!   points are refused with the reason.
//!
//! Native only (the fixtures are read from disk).
#![cfg(not(target_arch = "wasm32"))]

use crate::compare::describe;
use quantscope_engine::{Model, Value};
use quantscope_formats::onnx::proto::TensorProto;
use quantscope_formats::onnx::splice::ModelEdit;
use quantscope_onnx_quant::gptq::{GptqOptions, GptqWork};
use quantscope_onnx_quant::QuantizeError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("tests/fixtures/onnx_gptq")
}

fn listing() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root().join("gptq.json")).unwrap()).unwrap()
}

fn options(o: &serde_json::Value) -> GptqOptions {
    GptqOptions {
        block_size: o["block_size"].as_u64().unwrap() as usize,
        symmetric: o["symmetric"].as_bool().unwrap(),
        accuracy_level: 0,
        percdamp: o["percdamp"].as_f64().unwrap(),
        gptq_block: o["gptq_block_size"].as_u64().unwrap() as usize,
        actorder: o["actorder"].as_bool().unwrap(),
        mse: o["mse"].as_bool().unwrap(),
        perchannel: o["perchannel"].as_bool().unwrap(),
        error_feedback: o["error_feedback"].as_bool().unwrap(),
    }
}

/// An .npz file's arrays by name: (shape, values).
fn npz(name: &str) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(root().join(name)).unwrap();
    quantscope_formats::npz::parse(&bytes).unwrap().into_iter().map(|t| (t.name, (t.shape, t.data))).collect()
}

/// The calibration items a variant's reader gives: three batches, or the ten rows as one.
fn items(reader: &str) -> Vec<(Vec<usize>, Vec<f32>)> {
    let c = npz("calibration.npz");
    let names: &[&str] = if reader == "all" { &["all"] } else { &["x0", "x1", "x2"] };
    names.iter().map(|n| c[*n].clone()).collect()
}

/// A plan of the fixture model (`source`, or a variant of it) with the ten calibration rows as
/// one item observed: x, and ONNX Runtime's values of a1 and a2.
fn planned_with_all_rows(source: &[u8], o: &GptqOptions) -> GptqWork {
    let mut work = GptqWork::plan(source, o).unwrap();
    for (shape, values) in items("all") {
        work.observe("x", &shape, &values).unwrap();
    }
    let acts = npz("activations.npz");
    for t in ["a1", "a2"] {
        let (shape, values) = &acts[&format!("{t}/all/0")];
        work.observe(t, shape, values).unwrap();
    }
    work
}

/// The model quantized on ONNX Runtime's activations.
fn with_ort_activations(source: &[u8], o: &GptqOptions, reader: &str) -> (Vec<u8>, Vec<quantscope_onnx_quant::gptq::LayerError>) {
    let acts = npz("activations.npz");
    let mut work = GptqWork::plan(source, o).unwrap();
    let count = items(reader).len();
    for item in 0..count {
        for tensor in work.activations() {
            let (shape, values) = &acts[&format!("{tensor}/{reader}/{item}")];
            work.observe(&tensor, shape, values).unwrap();
        }
    }
    let (bytes, _, errors) = work.finish().unwrap();
    (bytes, errors)
}

/// The model quantized on the engine's activations of the float model, as the CLI does it.
fn with_engine_activations(source: &[u8], o: &GptqOptions, reader: &str) -> Vec<u8> {
    let model = Model::from_onnx(source).unwrap();
    let mut work = GptqWork::plan(source, o).unwrap();
    let wanted = work.activations();
    for (shape, values) in items(reader) {
        let mut failed = None;
        model
            .run_observing(&[("x", Value::f32(shape, values))], &mut |tensor, v| {
                if wanted.iter().any(|w| w == tensor) && failed.is_none() {
                    failed = work.observe(tensor, v.shape(), v.as_f32().unwrap()).err();
                }
            })
            .unwrap();
        assert!(failed.is_none(), "{failed:?}");
    }
    work.finish().unwrap().0
}

fn initializers(bytes: &[u8]) -> BTreeMap<String, TensorProto> {
    ModelEdit::open(bytes).unwrap().graph.initializers.into_iter().map(|t| (t.message.name.clone().unwrap(), t.message)).collect()
}

/// The files agree: initializers byte for byte (by name: ONNX Runtime appends them in a Python
/// set's order), nodes in order, graph inputs, outputs and opsets.
fn assert_same_file(what: &str, ours: &[u8], theirs: &[u8]) {
    let (a, b) = (initializers(ours), initializers(theirs));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{what}: initializer names");
    for (name, t) in &a {
        let u = &b[name];
        assert_eq!((&t.dims, t.data_type), (&u.dims, u.data_type), "{what}: {name}: dims and type");
        if t.raw_data != u.raw_data {
            let (x, y) = (t.raw_data.as_deref().unwrap(), u.raw_data.as_deref().unwrap());
            let differ = x.iter().zip(y).filter(|(p, q)| p != q).count();
            panic!("{what}: {name}: {differ} of {} bytes differ from ONNX Runtime's", x.len());
        }
    }
    let (ea, eb) = (ModelEdit::open(ours).unwrap(), ModelEdit::open(theirs).unwrap());
    let nodes = |e: &ModelEdit| e.graph.nodes.iter().map(|n| describe(&n.message)).collect::<Vec<_>>();
    assert_eq!(nodes(&ea), nodes(&eb), "{what}: nodes");
    let inputs = |e: &ModelEdit| e.graph.inputs.iter().map(|i| i.message.clone()).collect::<Vec<_>>();
    assert_eq!(inputs(&ea), inputs(&eb), "{what}: graph inputs");
    assert_eq!(ea.graph.rest.output, eb.graph.rest.output, "{what}: graph outputs");
    assert_eq!(ea.model.opset_import, eb.model.opset_import, "{what}: opsets");
    assert_eq!(ea.model.ir_version, eb.model.ir_version, "{what}: IR version");
}

#[test]
fn every_variant_equals_onnx_runtime_on_its_activations() {
    let source = std::fs::read(root().join("mlp.onnx")).unwrap();
    let listing = listing();
    let mut compared = 0;
    for (variant, o) in listing["variants"].as_object().unwrap() {
        let theirs = std::fs::read(root().join(format!("mlp.{variant}.onnx"))).unwrap();
        let (ours, errors) = with_ort_activations(&source, &options(o), o["reader"].as_str().unwrap());
        assert_same_model(variant, o, &ours, &theirs);
        assert_eq!(errors.len(), 4, "{variant}: one output error per MatMul");
        compared += 1;
    }
    assert_eq!(compared, 13);
}

/// ONNX Runtime's file byte for byte; with error feedback (ONNX Runtime's own quantizer with the
/// reference's update, make_onnx_gptq.py's `with_error_feedback`) the same weights instead.
fn assert_same_model(what: &str, o: &serde_json::Value, ours: &[u8], theirs: &[u8]) {
    if o["error_feedback"].as_bool().unwrap() {
        assert_same_weights(what, ours, theirs, o["block_size"].as_u64().unwrap() as usize);
    } else {
        assert_same_file(what, ours, theirs);
    }
}

/// Each MatMulNBits weight, dequantized `(code − zero point) · scale`, as ONNX Runtime's: at
/// least 99.5 % of them within 1e-4 of their block's scale, the rest at most one step apart. Not
/// bytes: with error feedback every weight after the first rows comes from sums (H⁻¹'s factor,
/// the lazy block's product; and on the engine's activations, H itself) in another order than
/// numpy's, so a value within float noise of a rounding boundary can round the other way, and
/// that one step's error then flows on to the rows after it as the algorithm means it to. The
/// re-encode `round(−min / scale)` meets exact halves too (a block whose codes span 14 of the 16
/// steps gives 15/14 · 7 = 7.5), where one ulp moves the zero point and codes a step together;
/// and the `mse` search can pick the neighbouring shrink. Measured: 0–12 of 135,168 weights apart
/// on ONNX Runtime's activations, 12–92 on the engine's.
fn assert_same_weights(what: &str, ours: &[u8], theirs: &[u8], block: usize) {
    let (a, b) = (initializers(ours), initializers(theirs));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{what}: initializer names");
    let suffix = format!("_Q4G{block}");
    let (mut weights, mut values, mut apart) = (0, 0, 0);
    for (name, t) in a.iter().filter(|(n, _)| n.ends_with(&suffix)) {
        let base = name.strip_suffix(&suffix).unwrap();
        assert_eq!(t.dims, b[name].dims, "{what}: {name}");
        let (x, y) = (blocks_of(&a, base, block), blocks_of(&b, base, block));
        for (i, ((sx, vx), (sy, vy))) in x.iter().zip(&y).enumerate() {
            // one step, and the scales' difference over the codes' reach (mse: another shrink)
            let step = sx.abs().max(sy.abs());
            let most = step * 1.0001 + 8.0 * (sx - sy).abs();
            for (j, (p, q)) in vx.iter().zip(vy).enumerate() {
                assert!((p - q).abs() <= most, "{what}: {base}: block {i} weight {j} is {p} here, {q} in ONNX Runtime's file");
                apart += usize::from((p - q).abs() > 1e-4 * step);
            }
            values += vx.len();
        }
        weights += 1;
    }
    assert_eq!(weights, 4, "{what}");
    assert!(apart * 200 <= values, "{what}: {apart} of {values} weights differ from ONNX Runtime's by more than 1e-4 of their scale");
    let nodes = |bytes: &[u8]| ModelEdit::open(bytes).unwrap().graph.nodes.iter().map(|n| describe(&n.message)).collect::<Vec<_>>();
    assert_eq!(nodes(ours), nodes(theirs), "{what}: nodes");
}

/// `<base>_Q4G<block>` `[N, k_blocks, block/2]` with `<base>_scale` and `<base>_zp` (packed over
/// the whole `[N · k_blocks]` run; 8 when absent): each block's scale and weights.
fn blocks_of(inits: &BTreeMap<String, TensorProto>, base: &str, block: usize) -> Vec<(f32, Vec<f32>)> {
    let packed = inits[&format!("{base}_Q4G{block}")].raw_data.clone().unwrap();
    let scales: Vec<f32> = inits[&format!("{base}_scale")]
        .raw_data
        .as_deref()
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let zp = inits.get(&format!("{base}_zp")).map(|t| t.raw_data.clone().unwrap());
    let nibble = |bytes: &[u8], i: usize| (bytes[i / 2] >> (4 * (i % 2))) & 15;
    (0..scales.len())
        .map(|b| {
            let z = zp.as_deref().map_or(8, |z| nibble(z, b));
            let values = (b * block..(b + 1) * block).map(|i| (f32::from(nibble(&packed, i)) - f32::from(z)) * scales[b]).collect();
            (scales[b], values)
        })
        .collect()
}

#[test]
fn error_feedback_lowers_every_matmuls_output_error_on_the_calibration_data() {
    // the paper's GPTQ against ONNX Runtime 1.32's (which moves no error), same grids and blocks
    let source = std::fs::read(root().join("mlp.onnx")).unwrap();
    for (block, symmetric, actorder) in [(32, false, false), (128, true, true)] {
        let o = GptqOptions { block_size: block, symmetric, actorder, ..GptqOptions::default() };
        let (_, plain) = with_ort_activations(&source, &o, "items");
        let (_, fed) = with_ort_activations(&source, &GptqOptions { error_feedback: true, ..o }, "items");
        for (p, f) in plain.iter().zip(&fed) {
            let (g, r, e) = (p.gptq.unwrap(), p.rtn.unwrap(), f.gptq.unwrap());
            assert!(e < 0.8 * g && e < r, "{}: error feedback {e}, without {g}, round to nearest {r}", p.matmul);
        }
    }
}

#[test]
fn every_variant_equals_onnx_runtime_on_the_engines_activations() {
    let source = std::fs::read(root().join("mlp.onnx")).unwrap();
    let listing = listing();
    for (variant, o) in listing["variants"].as_object().unwrap() {
        if o["error_feedback"].as_bool().unwrap() && o["mse"].as_bool().unwrap() {
            // the engine's activations differ from ONNX Runtime's in the last bits (float sums in
            // another order); with error feedback they reach every weight, and the mse search's
            // argmin over 80 shrinks turns that into another grid for a few blocks: checked on
            // ONNX Runtime's activations above only
            continue;
        }
        let theirs = std::fs::read(root().join(format!("mlp.{variant}.onnx"))).unwrap();
        let ours = with_engine_activations(&source, &options(o), o["reader"].as_str().unwrap());
        assert_same_model(&format!("{variant} (engine)"), o, &ours, &theirs);
    }
}

#[test]
fn the_files_run_as_in_onnx_runtime() {
    let source = std::fs::read(root().join("mlp.onnx")).unwrap();
    let t = quantscope_formats::npy::parse("x", &std::fs::read(root().join("input.npy")).unwrap()).unwrap();
    let (shape, x) = (t.shape, t.data);
    let listing = listing();
    for (variant, o) in listing["variants"].as_object().unwrap() {
        let (ours, _) = with_ort_activations(&source, &options(o), o["reader"].as_str().unwrap());
        let y = Model::from_onnx(&ours)
            .unwrap_or_else(|e| panic!("{variant}: {e}"))
            .run(&[("x", Value::f32(shape.clone(), x.clone()))])
            .unwrap_or_else(|e| panic!("{variant}: {e}"));
        let ort: Vec<f32> = o["output"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let got = y[0].1.to_f32_vec();
        assert_eq!(got.len(), ort.len(), "{variant}");
        let scale = ort.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = got.iter().zip(&ort).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
        // error feedback: the tie blocks' one-step weights (assert_same_weights) reach the outputs
        let tolerance = if o["error_feedback"].as_bool().unwrap() { 2e-2 } else { 1e-5 };
        assert!(d <= tolerance, "{variant}: relative max |diff| {d} with ONNX Runtime's outputs");
    }
}

#[test]
fn the_calibration_model_gives_every_matmul_input() {
    // the page's path: the float model with the A tensors as outputs, one run per item
    let source = std::fs::read(root().join("mlp.onnx")).unwrap();
    let o = GptqOptions { block_size: 32, ..GptqOptions::default() };
    let mut work = GptqWork::plan(&source, &o).unwrap();
    let calibration = Model::from_onnx(&work.calibration_model(&source).unwrap()).unwrap();
    let (shape, x) = items("all").remove(0);
    let outputs = calibration.run(&[("x", Value::f32(shape.clone(), x.clone()))]).unwrap();
    let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["y", "a1", "a2"]);
    work.observe("x", &shape, &x).unwrap();
    for (name, v) in &outputs[1..] {
        work.observe(name, v.shape(), v.as_f32().unwrap()).unwrap();
    }
    let theirs = std::fs::read(root().join("mlp.b32_asym_onebatch.onnx")).unwrap();
    assert_same_file("calibration model", &work.finish().unwrap().0, &theirs);
}

#[test]
fn gptq_without_calibration_data_is_refused() {
    let source = std::fs::read(root().join("mlp.onnx")).unwrap();
    let work = GptqWork::plan(&source, &GptqOptions { block_size: 32, ..GptqOptions::default() }).unwrap();
    let e = work.finish().unwrap_err();
    assert!(matches!(e, QuantizeError::Calibration(_)), "{e:?}");
    assert!(e.to_string().contains("GPTQ needs calibration data"), "{e}");
}

#[test]
fn calibration_values_that_do_not_fit_are_refused() {
    let source = std::fs::read(root().join("mlp.onnx")).unwrap();
    let mut work = GptqWork::plan(&source, &GptqOptions { block_size: 32, ..GptqOptions::default() }).unwrap();
    // x has 192 features; these rows have 100
    let e = work.observe("x", &[2, 100], &[0.5; 200]).unwrap_err();
    assert!(e.to_string().contains("calibration inputs do not fit") && e.to_string().contains("K = 192"), "{e}");
    // and a calibration input the engine cannot run (the CLI's and page's path)
    let model = Model::from_onnx(&source).unwrap();
    assert!(model.run(&[("x", Value::f32(vec![2, 4, 100], vec![0.5; 800]))]).is_err());
}

#[test]
fn an_odd_block_count_with_zero_points_is_kept_in_float_as_onnx_runtime_fails() {
    let source = std::fs::read(root().join("mlp.onnx")).unwrap();
    // blocks of 64: K = 192 makes 3 (fc1), 256 makes 4 (the others)
    let work = GptqWork::plan(&source, &GptqOptions { block_size: 64, ..GptqOptions::default() }).unwrap();
    assert_eq!(work.weights(), 3);
    assert_eq!(work.weight_label(0), "MatMul 'fc2'");
    assert_eq!(work.activations(), ["a1", "a2"]);
    let (node, why) = &work.report().kept[0];
    assert_eq!(node, "MatMul 'fc1'");
    assert!(why.contains("3 blocks of 64, an odd number"), "{why}");
    // symmetric writes no zero points: all four
    let work = GptqWork::plan(&source, &GptqOptions { block_size: 64, symmetric: true, ..GptqOptions::default() }).unwrap();
    assert_eq!(work.weights(), 4);
}

#[test]
fn bad_options_are_refused() {
    let source = std::fs::read(root().join("mlp.onnx")).unwrap();
    for (o, says) in [
        (GptqOptions { block_size: 48, ..GptqOptions::default() }, "power of two"),
        (GptqOptions { percdamp: -0.1, ..GptqOptions::default() }, "dampening"),
        (GptqOptions { gptq_block: 0, ..GptqOptions::default() }, "lazy block"),
        (GptqOptions { accuracy_level: 7, ..GptqOptions::default() }, "accuracy level"),
    ] {
        let e = GptqWork::plan(&source, &o).err().unwrap();
        assert!(e.to_string().contains(says), "{e}");
    }
}

#[test]
fn a_graph_with_unnamed_nodes_keeps_every_node() {
    // neural-compressor's sort keys nodes by name and would lose one of two unnamed nodes: each
    // MatMulNBits takes its MatMul's place instead
    use prost::Message;
    use quantscope_formats::onnx::proto::ModelProto;
    let mut m = ModelProto::decode(&std::fs::read(root().join("mlp.onnx")).unwrap()[..]).unwrap();
    let g = m.graph.as_mut().unwrap();
    g.node[0].name = None; // fc1
    g.node[2].name = None; // relu1
    let source = m.encode_to_vec();
    let work = planned_with_all_rows(&source, &GptqOptions { block_size: 32, ..GptqOptions::default() });
    let (bytes, _, _) = work.finish().unwrap();
    let edit = ModelEdit::open(&bytes).unwrap();
    let ops: Vec<(&str, &str)> =
        edit.graph.nodes.iter().map(|n| (n.message.op_type.as_deref().unwrap(), n.message.name.as_deref().unwrap_or(""))).collect();
    assert_eq!(
        ops,
        [
            ("MatMulNBits", "_Q4"),
            ("Add", "fc1_add"),
            ("Relu", ""),
            ("MatMulNBits", "fc2_Q4"),
            ("Relu", "relu2"),
            ("MatMulNBits", "fc3a_Q4"),
            ("MatMulNBits", "fc3b_Q4"),
            ("Add", "out_add"),
        ]
    );
    // and the codes are the named model's
    let theirs = initializers(&std::fs::read(root().join("mlp.b32_asym_onebatch.onnx")).unwrap());
    assert_eq!(initializers(&bytes), theirs);
}

#[test]
fn weights_quantized_elsewhere_make_the_same_file() {
    // the page's pool: each weight's job (B, its A's Hessian) run by quantize_weight in another
    // worker, its bytes taken back in any order, gives the file the plan writes itself
    use quantscope_onnx_quant::gptq::{job_from_bytes, job_to_bytes, quantize_weight};
    let source = std::fs::read(root().join("mlp.onnx")).unwrap();
    for error_feedback in [false, true] {
        let o = GptqOptions { block_size: 32, actorder: true, error_feedback, ..GptqOptions::default() };
        let (here, _, here_errors) = planned_with_all_rows(&source, &o).finish().unwrap();
        let mut work = planned_with_all_rows(&source, &o);
        for i in (0..work.weights()).rev() {
            let (b, k, n, values, h) = work.job(i);
            let (encoded, error) = quantize_weight(&format!("job {i}"), b, values, k, n, h, &o).unwrap();
            let (encoded, gptq, rtn) = job_from_bytes(&job_to_bytes(&encoded, &error)).unwrap();
            work.accept(i, encoded, gptq, rtn).unwrap();
        }
        let (pooled, _, pooled_errors) = work.finish().unwrap();
        assert!(pooled == here, "error feedback {error_feedback}: the pooled file differs");
        assert_eq!(format!("{pooled_errors:?}"), format!("{here_errors:?}"));
    }
    // a damaged answer, or one for another weight, is refused
    let mut work = GptqWork::plan(&source, &GptqOptions { block_size: 32, ..GptqOptions::default() }).unwrap();
    assert!(job_from_bytes(&[3, 0, 0, 0]).is_err());
    let (b, k, n, values, _) = work.job(0);
    let (encoded, error) = quantize_weight(
        "fc1",
        b,
        values,
        k,
        n,
        &vec![0.0; k * k],
        &GptqOptions { block_size: 32, percdamp: 1.0, ..GptqOptions::default() },
    )
    .map_err(|e| e.to_string())
    .unwrap_or_else(|e| panic!("{e}"));
    let (encoded, gptq, rtn) = job_from_bytes(&job_to_bytes(&encoded, &error)).unwrap();
    let e = work.accept(1, encoded, gptq, rtn).unwrap_err();
    assert!(e.to_string().contains("does not fit the weight"), "{e}");
}

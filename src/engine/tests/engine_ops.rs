//! The engine's errors and op edge cases, on models built in code (natively and in Chromium):
//! each malformed model gives its own error naming the node and op; ops handle empty
//! tensors, broadcasting corners, padding and batching; integer ops agree with a naive
//! reference bit for bit.

use quantscope_engine::builder::{attr_float, attr_graph, attr_int, attr_ints, attr_string, attr_tensor, GraphBuilder};
use quantscope_engine::{ops, DType, Data, Dim, EngineError, MissingOp, Model, Value};

fn model(g: &GraphBuilder) -> Model {
    Model::from_onnx(&g.build()).expect("model loads")
}

fn load_err(g: &GraphBuilder) -> EngineError {
    Model::from_onnx(&g.build()).expect_err("the model must not load")
}

/// A one-node model `y = op(inputs...)`; an empty shape declares none (any rank).
fn one(op: &str, inputs: &[(&str, DType, &[Option<usize>])], attrs: Vec<quantscope_formats::onnx::proto::AttributeProto>) -> GraphBuilder {
    let mut g = GraphBuilder::new(21);
    for (n, d, s) in inputs {
        if s.is_empty() {
            g.input_unshaped(n, *d);
        } else {
            g.input(n, *d, s);
        }
    }
    let names: Vec<&str> = inputs.iter().map(|i| i.0).collect();
    g.node(op, "n", &names, &["y"], attrs);
    g.output("y", DType::F32, &[]);
    g
}

fn run1(m: &Model, inputs: Vec<(&str, Value)>) -> Result<Value, EngineError> {
    m.run(&inputs).map(|mut o| o.remove(0).1)
}

// ---------------------------------------------------------------------------- load errors

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn unknown_op_is_named() {
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(2)]).node("Frobnicate", "mystery", &["x"], &["y"], vec![]).output("y", DType::F32, &[Some(2)]);
    let e = load_err(&g);
    assert_eq!(e, EngineError::UnsupportedOps(vec![MissingOp { op: "Frobnicate".into(), count: 1 }]));
    assert_eq!(e.to_string(), "ops the engine does not run: Frobnicate ×1");
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(2)]).node_in_domain("com.microsoft", "QLinearAdd", "qa", &["x"], &["y"]).output("y", DType::F32, &[]);
    assert_eq!(load_err(&g).to_string(), "ops the engine does not run: com.microsoft.QLinearAdd ×1");
}

/// A detector lacking several ops is refused once, with every missing op and its count, in the
/// order the graph first uses them (not for the first one alone).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_unsupported_op_is_listed_with_counts() {
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(2)]);
    g.node("STFT", "t1", &["x"], &["a"], vec![]);
    g.node("Relu", "r", &["a"], &["b"], vec![]);
    g.node("Col2Im", "up1", &["b"], &["c"], vec![]);
    g.node("STFT", "t2", &["c"], &["d"], vec![]);
    for (i, (from, to)) in [("d", "f1"), ("f1", "f2"), ("f2", "f3"), ("f3", "f4")].into_iter().enumerate() {
        g.node("Unique", &format!("unique{i}"), &[from], &[to], vec![]);
    }
    g.node_in_domain("com.microsoft", "FusedConv", "fc", &["f4"], &["y"]);
    g.output("y", DType::F32, &[]);
    let e = load_err(&g);
    let EngineError::UnsupportedOps(missing) = &e else { panic!("{e:?}") };
    let summary: Vec<(&str, usize)> = missing.iter().map(|m| (m.op.as_str(), m.count)).collect();
    assert_eq!(summary, [("STFT", 2), ("Col2Im", 1), ("Unique", 4), ("com.microsoft.FusedConv", 1)]);
    assert_eq!(e.to_string(), "ops the engine does not run: STFT ×2, Col2Im ×1, Unique ×4, com.microsoft.FusedConv ×1");
}

/// The runner loads with the built-in models' op set only: a model using the other ops is
/// refused there by name (the page sends a person's own model to the models module instead).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_built_in_op_set_refuses_the_other_ops() {
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(2), Some(3)]);
    g.node("ReduceMean", "mean", &["x"], &["m"], vec![attr_ints("axes", &[1])]);
    g.node("Relu", "r", &["m"], &["y"], vec![]);
    g.output("y", DType::F32, &[]);
    let e = Model::from_onnx_with(&g.build(), ops::BUILT_IN).expect_err("ReduceMean is not a built-in model's op");
    assert_eq!(e.to_string(), "ops the engine does not run: ReduceMean ×1");
    assert!(Model::from_onnx_with(&g.build(), ops::ALL).is_ok());
    let built_in = ops::supported_ops(ops::BUILT_IN);
    for op in ["Gemm", "Relu", "Softmax", "MatMulInteger", "DynamicQuantizeLinear", "Cast", "Add", "Mul"] {
        assert!(built_in.contains(&op), "{op} runs the built-in models");
    }
    let all = ops::supported_ops(ops::ALL);
    assert!(built_in.iter().all(|op| all.contains(op)));
    assert!(all.len() > built_in.len());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn missing_input_duplicate_output_and_missing_graph_output() {
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(2)]).node("Add", "add", &["x", "ghost"], &["y"], vec![]).output("y", DType::F32, &[]);
    assert_eq!(load_err(&g), EngineError::MissingInput { node: "add".into(), op: "Add".into(), input: "ghost".into() });

    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(2)]).node("Relu", "a", &["x"], &["y"], vec![]).node("Relu", "b", &["x"], &["y"], vec![]).output(
        "y",
        DType::F32,
        &[],
    );
    assert_eq!(load_err(&g), EngineError::DuplicateOutput { node: "b".into(), op: "Relu".into(), output: "y".into() });

    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(2)]).node("Relu", "a", &["x"], &["y"], vec![]).output("z", DType::F32, &[]);
    assert_eq!(load_err(&g).to_string(), "graph output 'z' is not produced by any node");

    // A required input given as "" (omitted).
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(2)]).node("Add", "add", &["x", ""], &["y"], vec![]).output("y", DType::F32, &[]);
    assert!(matches!(load_err(&g), EngineError::MissingInput { .. }));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn cycle_is_detected() {
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(2)])
        .node("Add", "a", &["x", "c"], &["b"], vec![])
        .node("Relu", "r", &["b"], &["c"], vec![])
        .node("Relu", "out", &["c"], &["y"], vec![])
        .output("y", DType::F32, &[]);
    match load_err(&g) {
        EngineError::Cycle { nodes } => assert_eq!(nodes, ["'a' (Add)", "'r' (Relu)", "'out' (Relu)"]),
        e => panic!("expected a cycle, got {e}"),
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bad_and_unsupported_attributes_fail_at_load() {
    let g = one("Conv", &[("x", DType::F32, &[]), ("w", DType::F32, &[])], vec![attr_string("auto_pad", "SIDEWAYS")]);
    let e = load_err(&g);
    assert!(matches!(&e, EngineError::BadAttribute { attribute, .. } if attribute == "auto_pad"), "{e}");
    let g = one("Relu", &[("x", DType::F32, &[])], vec![attr_float("alpha", 0.1)]);
    assert_eq!(load_err(&g).to_string(), "node 'n' (Relu): not supported: attribute 'alpha' is not supported");
    let g = one("Cast", &[("x", DType::F32, &[])], vec![attr_int("to", 8)]);
    assert!(load_err(&g).to_string().contains("casting to STRING (8) is not supported"));
    let g = one("Gemm", &[("a", DType::F32, &[]), ("b", DType::F32, &[])], vec![attr_ints("alpha", &[1])]);
    assert!(load_err(&g).to_string().contains("attribute 'alpha' must be a float"));
    let mut g = one(
        "BatchNormalization",
        &[("x", DType::F32, &[]), ("s", DType::F32, &[]), ("b", DType::F32, &[]), ("m", DType::F32, &[]), ("v", DType::F32, &[])],
        vec![attr_int("training_mode", 1)],
    );
    g.output("y2", DType::F32, &[]);
    assert!(matches!(load_err(&g), EngineError::Unsupported { .. }));
}

/// The newer ops' attributes are checked when the model loads, each with its own message.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bad_attributes_of_the_newer_ops_fail_at_load() {
    let x = ("x", DType::F32, &[][..]);
    let pads = ("pads", DType::I64, &[][..]);
    let cases: Vec<(GraphBuilder, &str)> = vec![
        (
            one("Pad", &[x, pads], vec![attr_string("mode", "mirror")]),
            "attribute 'mode' 'mirror' is not a pad mode (constant, reflect, edge; wrap from opset 19)",
        ),
        (one("Pad", &[x], vec![]), "Pad needs its pads input from opset 11 on"),
        (one("ReduceMean", &[x], vec![attr_int("keepdims", 2)]), "attribute 'keepdims' must be 0 or 1, not 2"),
        (one("ReduceSum", &[x], vec![attr_int("noop_with_empty_axes", -1)]), "attribute 'noop_with_empty_axes' must be 0 or 1, not -1"),
        (one("ArgMax", &[x], vec![attr_int("select_last_index", 3)]), "attribute 'select_last_index' must be 0 or 1, not 3"),
        (one("DepthToSpace", &[x], vec![attr_int("blocksize", 0)]), "attribute 'blocksize' must be positive, not 0"),
        (
            one("DepthToSpace", &[x], vec![attr_int("blocksize", 2), attr_string("mode", "RCD")]),
            "attribute 'mode' must be DCR or CRD, not 'RCD'",
        ),
        (one("SpaceToDepth", &[x], vec![]), "attribute 'blocksize' is required"),
        (one("GroupNormalization", &[x, x, x], vec![]), "attribute 'num_groups' is required"),
        (
            one("LayerNormalization", &[x, x], vec![attr_int("stash_type", 0)]),
            "attribute 'stash_type' only 1 (compute in float32) is supported, not 0",
        ),
        (
            one("ScatterND", &[x, x, x], vec![attr_string("reduction", "avg")]),
            "attribute 'reduction' must be none, add, mul, max or min, not 'avg'",
        ),
        (one("CumSum", &[x, x], vec![attr_int("reverse", 9)]), "attribute 'reverse' must be 0 or 1, not 9"),
        (one("InstanceNormalization", &[x, x, x], vec![attr_float("epsilon", -1.0)]), "attribute 'epsilon' must not be negative, not -1"),
        (one("Resize", &[x], vec![attr_string("mode", "area")]), "attribute 'mode' must be nearest, linear or cubic, not 'area'"),
        (
            one("Resize", &[x], vec![attr_string("coordinate_transformation_mode", "tf_half_pixel_for_nn")]),
            "attribute 'coordinate_transformation_mode' 'tf_half_pixel_for_nn' is not one of half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric, tf_crop_and_resize",
        ),
        (one("Resize", &[x], vec![attr_string("nearest_mode", "nearest")]), "attribute 'nearest_mode' must be round_prefer_floor, round_prefer_ceil, floor or ceil, not 'nearest'"),
        (one("Resize", &[x], vec![attr_int("antialias", 2)]), "attribute 'antialias' must be 0 or 1, not 2"),
        (one("ConvTranspose", &[x, x], vec![attr_int("group", 0)]), "attribute 'group' must be at least 1, not 0"),
        (one("ConvTranspose", &[x, x], vec![attr_ints("output_padding", &[-1, 0])]), "attribute 'output_padding' has a negative value"),
        (one("Einsum", &[x, x], vec![attr_string("equation", "ij,jk->il")]), "attribute 'equation' 'ij,jk->il': output label 'l' is in no input"),
        (one("Einsum", &[x], vec![attr_string("equation", "ij,jk->ik")]), "attribute 'equation' 'ij,jk->ik' has 2 input terms for 1 inputs"),
        (one("Einsum", &[x], vec![attr_string("equation", "i1->i")]), "attribute 'equation' term 'i1' has '1': labels are letters (and one '...')"),
        (one("Einsum", &[x], vec![]), "attribute 'equation' is required"),
        (one("LSTM", &[x, x, x], vec![]), "attribute 'hidden_size' is required"),
        (one("If", &[("c", DType::Bool, &[][..])], vec![]), "attribute 'then_branch' is required"),
        (one("Loop", &[x, x], vec![]), "attribute 'body' is required"),
        (one("Scan", &[x, x], vec![]), "attribute 'num_scan_inputs' is required"),
        (one("Scan", &[x, x], vec![attr_int("num_scan_inputs", 3)]), "attribute 'num_scan_inputs' is 3; the node has 2 inputs"),
        (one("Scan", &[x, x], vec![attr_int("num_scan_inputs", 1)]), "attribute 'body' is required"),
        (one("If", &[("c", DType::Bool, &[][..])], vec![attr_string("then_branch", "x")]), "attribute 'then_branch' must be a graph"),
        (one("GRU", &[x, x, x], vec![attr_int("hidden_size", 4), attr_string("direction", "both")]), "attribute 'direction' must be forward, reverse or bidirectional, not 'both'"),
        (one("RNN", &[x, x, x], vec![attr_int("hidden_size", 4), attr_int("layout", 2)]), "attribute 'layout' must be 0 or 1, not 2"),
        (one("LSTM", &[x, x, x], vec![attr_int("hidden_size", 4), attr_float("clip", -1.0)]), "attribute 'clip' must be positive, not -1"),
        (one("GRU", &[x, x, x], vec![attr_int("hidden_size", 4), attr_int("linear_before_reset", 3)]), "attribute 'linear_before_reset' must be 0 or 1, not 3"),
    ];
    for (g, want) in cases {
        let e = load_err(&g).to_string();
        assert!(e.ends_with(want), "{e}\n  should end with: {want}");
    }
    let mut g = GraphBuilder::new(21);
    g.input_unshaped("x", DType::F32).input_unshaped("k", DType::I64);
    g.node("TopK", "top", &["x", "k"], &["v", "i"], vec![attr_int("largest", 5)]);
    g.output("v", DType::F32, &[]);
    assert_eq!(load_err(&g).to_string(), "node 'top' (TopK): attribute 'largest' must be 0 or 1, not 5");
}

/// Pad's modes against numpy.pad (the spec's reference), including pads wider than the axis.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn pad_modes_match_numpy() {
    let run = |mode: &str, pads: &[i64]| -> Vec<f32> {
        let mut g = GraphBuilder::new(19);
        g.input("x", DType::F32, &[Some(4)]);
        g.initializer("pads", &Value::i64(vec![2], pads.to_vec()));
        g.node("Pad", "pad", &["x", "pads"], &["y"], vec![attr_string("mode", mode)]);
        g.output("y", DType::F32, &[]);
        run1(&model(&g), vec![("x", Value::f32(vec![4], vec![1.0, 2.0, 3.0, 4.0]))]).unwrap().to_f32_vec()
    };
    // np.pad([1, 2, 3, 4], (7, 3), mode=...)
    assert_eq!(run("reflect", &[7, 3]), [2., 1., 2., 3., 4., 3., 2., 1., 2., 3., 4., 3., 2., 1.]);
    assert_eq!(run("edge", &[2, 1]), [1., 1., 1., 2., 3., 4., 4.]);
    assert_eq!(run("wrap", &[5, 2]), [4., 1., 2., 3., 4., 1., 2., 3., 4., 1., 2.]);
    assert_eq!(run("constant", &[1, -2]), [0., 1., 2.]);
}

/// Shapes that hold no elements but have an enormous axis (found by the `onnx_model` fuzz
/// target): refused with an error, not an allocation of one entry per coordinate of that axis.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn empty_shapes_with_an_enormous_axis_are_refused() {
    let mut g = GraphBuilder::new(19);
    g.input("x", DType::F32, &[Some(0), Some(1)]);
    g.initializer("pads", &Value::i64(vec![4], vec![0, 1 << 40, 0, 0]));
    g.node("Pad", "pad", &["x", "pads"], &["y"], vec![]);
    g.output("y", DType::F32, &[]);
    let err = run1(&model(&g), vec![("x", Value::f32(vec![0, 1], vec![]))]).unwrap_err().to_string();
    assert!(err.contains("'pad'") && err.contains("too large"), "{err}");

    let mut g = GraphBuilder::new(19);
    g.input("shape", DType::I64, &[Some(2)]);
    g.node("ConstantOfShape", "fill", &["shape"], &["y"], vec![]);
    g.output("y", DType::F32, &[]);
    let err = run1(&model(&g), vec![("shape", Value::i64(vec![2], vec![0, 1 << 40]))]).unwrap_err().to_string();
    assert!(err.contains("'fill'") && err.contains("too many elements"), "{err}");

    // 2^28 int64 elements: within the element count, but 2 GiB, more than one value may take.
    let mut g = GraphBuilder::new(19);
    g.input("shape", DType::I64, &[Some(2)]);
    g.node("ConstantOfShape", "fill", &["shape"], &["y"], vec![attr_tensor("value", &Value::i64(vec![1], vec![7]))]);
    g.output("y", DType::I64, &[]);
    let err = run1(&model(&g), vec![("shape", Value::i64(vec![2], vec![1 << 27, 2]))]).unwrap_err().to_string();
    assert!(err.contains("'fill'") && err.contains("too many elements"), "{err}");

    // Reshape of an empty tensor to dims whose product overflows (found by the onnx_model target).
    let mut g = GraphBuilder::new(19);
    g.input("x", DType::F32, &[Some(1), Some(1), Some(0)]);
    g.input("shape", DType::I64, &[Some(3)]);
    g.node("Reshape", "reshape", &["x", "shape"], &["y"], vec![]);
    g.output("y", DType::F32, &[]);
    let shape = Value::i64(vec![3], vec![1 << 40, 1 << 40, 0]);
    let err = run1(&model(&g), vec![("x", Value::f32(vec![1, 1, 0], vec![])), ("shape", shape)]).unwrap_err().to_string();
    assert!(err.contains("'reshape'") && err.contains("too many elements"), "{err}");

    // Tile's repeats whose product with the axis overflows.
    let mut g = GraphBuilder::new(19);
    g.input("x", DType::F32, &[Some(2)]);
    g.input("repeats", DType::I64, &[Some(1)]);
    g.node("Tile", "tile", &["x", "repeats"], &["y"], vec![]);
    g.output("y", DType::F32, &[]);
    let err = run1(&model(&g), vec![("x", Value::f32(vec![2], vec![1.0, 2.0])), ("repeats", Value::i64(vec![1], vec![i64::MAX]))]);
    let err = err.unwrap_err().to_string();
    assert!(err.contains("'tile'") && err.contains("too many elements"), "{err}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn not_an_onnx_model() {
    assert!(matches!(Model::from_onnx(b"GGUF\x03\x00"), Err(EngineError::Decode(_))));
    let bytes = {
        let mut g = GraphBuilder::new(17);
        g.input("x", DType::F32, &[Some(2)]).node("Relu", "r", &["x"], &["y"], vec![]).output("y", DType::F32, &[]);
        g.build()
    };
    for cut in 0..bytes.len() {
        let _ = Model::from_onnx(&bytes[..cut]); // never panics
    }
}

// ----------------------------------------------------------------------------- run errors

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn inputs_are_checked_against_the_declaration() {
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[None, Some(3)]).input("z", DType::F32, &[None, Some(3)]);
    g.node("Add", "add", &["x", "z"], &["y"], vec![]).output("y", DType::F32, &[None, Some(3)]);
    let m = model(&g);
    assert_eq!(m.inputs()[0].shape, Some(vec![Dim::Symbolic("N".into()), Dim::Fixed(3)]));
    let v = |n: usize| Value::f32(vec![n, 3], vec![1.0; n * 3]);
    assert!(m.run(&[("x", v(2)), ("z", v(2))]).is_ok());
    let e = m.run(&[("x", v(2)), ("z", v(5))]).unwrap_err();
    assert_eq!(e.to_string(), "model input 'z': has N = 5 on axis 0, but another input has N = 2");
    let e = m.run(&[("x", Value::f32(vec![2, 4], vec![0.0; 8])), ("z", v(2))]).unwrap_err();
    assert!(e.to_string().contains("declares dimension 1 = 3"), "{e}");
    let e = m.run(&[("x", Value::f32(vec![6], vec![0.0; 6])), ("z", v(2))]).unwrap_err();
    assert!(e.to_string().contains("rank 1) but the model declares rank 2"), "{e}");
    let e = m.run(&[("x", Value::i64(vec![2, 3], vec![0; 6])), ("z", v(2))]).unwrap_err();
    assert_eq!(e.to_string(), "model input 'x': is int64 but the model declares float32");
    assert_eq!(m.run(&[("x", v(2))]).unwrap_err(), EngineError::InputNotGiven { name: "z".into() });
    assert!(matches!(m.run(&[("x", v(2)), ("z", v(2)), ("w", v(2))]).unwrap_err(), EngineError::UnknownInput { .. }));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn wrong_rank_and_shape_mismatch_name_the_node() {
    let g = one("Gemm", &[("a", DType::F32, &[Some(2), Some(3)]), ("b", DType::F32, &[Some(3)])], vec![]);
    let m = model(&g);
    let e = run1(&m, vec![("a", Value::f32(vec![2, 3], vec![0.0; 6])), ("b", Value::f32(vec![3], vec![0.0; 3]))]).unwrap_err();
    assert_eq!(e, EngineError::Rank { node: "n".into(), op: "Gemm".into(), input: "b".into(), expected: "2".into(), got: 1 });
    assert_eq!(e.to_string(), "node 'n' (Gemm): input 'b' has rank 1, expected 2");

    let g = one("MatMul", &[("a", DType::F32, &[Some(2), Some(3)]), ("b", DType::F32, &[Some(4), Some(2)])], vec![]);
    let e = run1(&model(&g), vec![("a", Value::f32(vec![2, 3], vec![0.0; 6])), ("b", Value::f32(vec![4, 2], vec![0.0; 8]))]).unwrap_err();
    assert_eq!(e.to_string(), "node 'n' (MatMul): shape mismatch: cannot multiply [2, 3] by [4, 2]: inner dimensions 3 and 4 differ");

    let g = one("Add", &[("a", DType::F32, &[Some(2), Some(3)]), ("b", DType::F32, &[Some(2)])], vec![]);
    let e = run1(&model(&g), vec![("a", Value::f32(vec![2, 3], vec![0.0; 6])), ("b", Value::f32(vec![2], vec![0.0; 2]))]).unwrap_err();
    assert!(matches!(e, EngineError::ShapeMismatch { .. }), "{e}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn constant_folding_reports_errors_at_load() {
    // A Reshape of a constant to an impossible shape fails when the model loads.
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(1)]);
    g.initializer("w", &Value::f32(vec![2, 3], vec![0.0; 6]));
    g.initializer("s", &Value::i64(vec![1], vec![4]));
    g.node("Reshape", "r", &["w", "s"], &["w2"], vec![]).node("Add", "a", &["x", "w2"], &["y"], vec![]).output("y", DType::F32, &[]);
    assert!(matches!(load_err(&g), EngineError::ShapeMismatch { node, .. } if node == "r"));
}

// ------------------------------------------------------------------------ op edge cases

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn broadcasting_corners_and_in_place_reuse() {
    let g = one("Sub", &[("a", DType::F32, &[]), ("b", DType::F32, &[])], vec![]);
    let m = model(&g);
    let a = Value::f32(vec![2, 1, 3], vec![1., 2., 3., 4., 5., 6.]);
    let b = Value::f32(vec![2, 1], vec![10., 20.]);
    let y = run1(&m, vec![("a", a), ("b", b)]).unwrap();
    assert_eq!(y.shape(), [2, 2, 3]);
    assert_eq!(y.to_f32_vec(), [-9., -8., -7., -19., -18., -17., -6., -5., -4., -16., -15., -14.]);
    // Empty tensors broadcast to empty outputs.
    let y = run1(&m, vec![("a", Value::f32(vec![0, 3], vec![])), ("b", Value::f32(vec![1], vec![1.]))]).unwrap();
    assert_eq!(y.shape(), [0, 3]);
    // Integer division truncates; by zero is an error.
    let g = one("Div", &[("a", DType::I32, &[]), ("b", DType::I32, &[])], vec![]);
    let m = model(&g);
    let y = run1(&m, vec![("a", Value::i32(vec![3], vec![7, -7, 9])), ("b", Value::i32(vec![3], vec![2, 2, -4]))]).unwrap();
    assert_eq!(y.data(), &Data::I32(vec![3, -3, -2]));
    let e = run1(&m, vec![("a", Value::i32(vec![1], vec![1])), ("b", Value::i32(vec![1], vec![0]))]).unwrap_err();
    assert_eq!(e.to_string(), "node 'n' (Div): integer division by zero");
    // Narrow integers wrap as their own arithmetic does (they run widened to i64 and truncated).
    let bin = |op: &str, dt: DType, a: Value, b: Value| {
        run1(&model(&one(op, &[("a", dt, &[]), ("b", dt, &[])], vec![])), vec![("a", a), ("b", b)]).unwrap()
    };
    let v8 = |x: Vec<i8>| Value::new(vec![x.len()], Data::I8(x));
    assert_eq!(bin("Add", DType::I8, v8(vec![100, -128, 127]), v8(vec![100, -1, 1])).data(), &Data::I8(vec![-56, 127, -128]));
    assert_eq!(bin("Div", DType::I8, v8(vec![-128, -7]), v8(vec![-1, 2])).data(), &Data::I8(vec![-128, -3]));
    let u8v = |x: Vec<u8>| Value::new(vec![x.len()], Data::U8(x));
    assert_eq!(bin("Mul", DType::U8, u8v(vec![200, 16]), u8v(vec![2, 16])).data(), &Data::U8(vec![144, 0]));
    assert_eq!(bin("Sub", DType::U8, u8v(vec![1]), u8v(vec![2])).data(), &Data::U8(vec![255]));
    let u32v = |x: Vec<u32>| Value::new(vec![x.len()], Data::U32(x));
    assert_eq!(bin("Div", DType::U32, u32v(vec![u32::MAX, 7]), u32v(vec![2, 7])).data(), &Data::U32(vec![u32::MAX / 2, 1]));
    assert_eq!(bin("Mul", DType::U32, u32v(vec![u32::MAX]), u32v(vec![u32::MAX])).data(), &Data::U32(vec![1]));
    let i32v = |x: Vec<i32>| Value::new(vec![x.len()], Data::I32(x));
    assert_eq!(bin("Div", DType::I32, i32v(vec![i32::MIN]), i32v(vec![-1])).data(), &Data::I32(vec![i32::MIN]));
    assert_eq!(bin("Mul", DType::I32, i32v(vec![i32::MAX]), i32v(vec![2])).data(), &Data::I32(vec![-2]));
    // FLOAT16 rounds once per element, as the type's own `+` does.
    let h = |x: &[f32]| Value::new(vec![x.len()], Data::F16(x.iter().map(|&v| half::f16::from_f32(v)).collect()));
    let (xa, xb) = ([1.0f32, 2048.0, 0.1, 65504.0], [0.000_488_28, 1.0, 0.2, 65504.0]);
    let want: Vec<half::f16> = xa.iter().zip(&xb).map(|(&p, &q)| half::f16::from_f32(p) + half::f16::from_f32(q)).collect();
    assert_eq!(bin("Add", DType::F16, h(&xa), h(&xb)).data(), &Data::F16(want));
    // Mixed dtypes are refused.
    let g = one("Mul", &[("a", DType::F32, &[]), ("b", DType::I64, &[])], vec![]);
    let e = run1(&model(&g), vec![("a", Value::f32(vec![1], vec![1.])), ("b", Value::i64(vec![1], vec![1]))]).unwrap_err();
    assert!(matches!(e, EngineError::Dtype { .. }));
    // A chain of elementwise ops over an intermediate works in place and gives the same values.
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(4)]).initializer("c", &Value::f32(vec![1], vec![2.0]));
    g.node("Mul", "m", &["x", "c"], &["t"], vec![]).node("Relu", "r", &["t"], &["u"], vec![]).node("Add", "a", &["u", "x"], &["y"], vec![]);
    g.output("y", DType::F32, &[]);
    let y = run1(&model(&g), vec![("x", Value::f32(vec![4], vec![-1., 0.5, 2., -3.]))]).unwrap();
    assert_eq!(y.to_f32_vec(), [-1., 1.5, 6., -3.]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn gemm_with_constant_transposed_weights_and_bias() {
    // y = 0.5 · x · Wᵀ + 2 · b, W constant (prepacked at load).
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[None, Some(3)]);
    g.initializer("w", &Value::f32(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]));
    g.initializer("b", &Value::f32(vec![2], vec![1., -1.]));
    g.node("Gemm", "fc", &["x", "w", "b"], &["y"], vec![attr_int("transB", 1), attr_float("alpha", 0.5), attr_float("beta", 2.0)]);
    g.output("y", DType::F32, &[None, Some(2)]);
    let m = model(&g);
    let y = run1(&m, vec![("x", Value::f32(vec![2, 3], vec![1., 0., 0., 1., 1., 1.]))]).unwrap();
    // alpha·x·Wᵀ + beta·b: [0.5·1 + 2·1, 0.5·4 − 2·1, 0.5·6 + 2·1, 0.5·15 − 2·1].
    assert_eq!(y.to_f32_vec(), [2.5, 0., 5., 5.5]);
    assert_eq!(m.parameter_count(), 8);
    assert_eq!(m.stored_bytes(), 32);
}

/// The awkward convolution both conv tests use: grouped, strided, dilated, asymmetrically
/// padded, on two images.
mod conv_case {
    use super::*;
    pub const N: usize = 2;
    pub const C: usize = 4;
    pub const H: usize = 7;
    pub const W: usize = 6;
    pub const M: usize = 6;
    pub const G: usize = 2;
    pub const CG: usize = C / G;
    const K: [usize; 2] = [3, 2];
    const STRIDES: [usize; 2] = [2, 1];
    const DILATIONS: [usize; 2] = [1, 2];
    const PADS: [usize; 4] = [1, 0, 2, 1];

    pub const W_SHAPE: [usize; 4] = [M, CG, K[0], K[1]];
    pub const W_LEN: usize = M * CG * K[0] * K[1];
    pub const X_LEN: usize = N * C * H * W;

    pub fn attrs() -> Vec<quantscope_formats::onnx::proto::AttributeProto> {
        let ints = |v: &[usize]| v.iter().map(|&d| d as i64).collect::<Vec<_>>();
        vec![
            attr_int("group", G as i64),
            attr_ints("strides", &ints(&STRIDES)),
            attr_ints("dilations", &ints(&DILATIONS)),
            attr_ints("pads", &ints(&PADS)),
        ]
    }

    /// The output's spatial size.
    pub fn out() -> [usize; 2] {
        [0, 1].map(|d| (if d == 0 { H } else { W } + PADS[d] + PADS[d + 2] - DILATIONS[d] * (K[d] - 1) - 1) / STRIDES[d] + 1)
    }

    /// The definition, one output at a time: `start(m)` plus `mac(x index, w index)` over the
    /// taps that fall inside the input (padding adds nothing), in `[N, M, oh, ow]` order.
    pub fn direct<T: Copy + std::ops::Add<Output = T>>(start: impl Fn(usize) -> T, mac: impl Fn(usize, usize) -> T) -> Vec<T> {
        let [oh, ow] = out();
        let mut y = Vec::with_capacity(N * M * oh * ow);
        for img in 0..N {
            for oc in 0..M {
                let grp = oc / (M / G);
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = start(oc);
                        for ic in 0..CG {
                            for ky in 0..K[0] {
                                for kx in 0..K[1] {
                                    let iy = (oy * STRIDES[0] + ky * DILATIONS[0]).checked_sub(PADS[0]).filter(|&v| v < H);
                                    let ix = (ox * STRIDES[1] + kx * DILATIONS[1]).checked_sub(PADS[1]).filter(|&v| v < W);
                                    if let (Some(iy), Some(ix)) = (iy, ix) {
                                        acc = acc
                                            + mac(((img * C + grp * CG + ic) * H + iy) * W + ix, ((oc * CG + ic) * K[0] + ky) * K[1] + kx);
                                    }
                                }
                            }
                        }
                        y.push(acc);
                    }
                }
            }
        }
        y
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn conv_matches_a_direct_loop() {
    use conv_case::*;
    let x: Vec<f32> = (0..X_LEN).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
    let wt: Vec<f32> = (0..W_LEN).map(|i| ((i * 53 % 89) as f32 - 44.0) / 40.0).collect();
    let b: Vec<f32> = (0..M).map(|i| i as f32 * 0.25).collect();
    let mut gb = GraphBuilder::new(17);
    gb.input("x", DType::F32, &[Some(N), Some(C), Some(H), Some(W)]);
    gb.initializer("w", &Value::f32(W_SHAPE.to_vec(), wt.clone())).initializer("b", &Value::f32(vec![M], b.clone()));
    gb.node("Conv", "conv", &["x", "w", "b"], &["y"], attrs());
    gb.output("y", DType::F32, &[]);
    let y = run1(&model(&gb), vec![("x", Value::f32(vec![N, C, H, W], x.clone()))]).unwrap();
    let [oh, ow] = out();
    assert_eq!(y.shape(), [N, M, oh, ow]);
    let want = direct(|oc| b[oc] as f64, |xi, wi| x[xi] as f64 * wt[wi] as f64);
    for (i, (&v, &w)) in y.to_f32_vec().iter().zip(&want).enumerate() {
        assert!((v as f64 - w).abs() < 1e-4, "element {i}: {v} vs {w}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn integer_ops_match_a_naive_reference() {
    // MatMulInteger with per-row a_zero_point and per-column b_zero_point, awkward sizes.
    for (mm, k, n) in [(1, 1, 1), (3, 17, 5), (4, 33, 15), (2, 0, 3)] {
        let a: Vec<u8> = (0..mm * k).map(|i| (i * 89 % 256) as u8).collect();
        let b: Vec<i8> = (0..k * n).map(|i| ((i * 61 % 256) as i32 - 128) as i8).collect();
        let az: Vec<u8> = (0..mm).map(|i| (100 + i * 7) as u8).collect();
        let bz: Vec<i8> = (0..n).map(|j| (j as i8) - 3).collect();
        let mut g = GraphBuilder::new(10);
        g.input("a", DType::U8, &[Some(mm), Some(k)]).input("b", DType::I8, &[Some(k), Some(n)]);
        g.input("az", DType::U8, &[Some(mm)]).input("bz", DType::I8, &[Some(n)]);
        g.node("MatMulInteger", "mmi", &["a", "b", "az", "bz"], &["y"], vec![]).output("y", DType::I32, &[]);
        let y = run1(
            &model(&g),
            vec![
                ("a", Value::u8(vec![mm, k], a.clone())),
                ("b", Value::i8(vec![k, n], b.clone())),
                ("az", Value::u8(vec![mm], az.clone())),
                ("bz", Value::i8(vec![n], bz.clone())),
            ],
        )
        .unwrap();
        let want: Vec<i32> = (0..mm * n)
            .map(|idx| {
                let (i, j) = (idx / n, idx % n);
                (0..k).map(|l| (a[i * k + l] as i32 - az[i] as i32) * (b[l * n + j] as i32 - bz[j] as i32)).sum()
            })
            .collect();
        assert_eq!(y.data(), &Data::I32(want), "{mm}×{k}×{n}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn integer_conv_matches_a_naive_reference() {
    // ConvInteger with an x zero point and per-channel w zero points: W as a constant and as a
    // graph input must both give the definition's sums exactly; so must QLinearConv's
    // requantized output.
    use conv_case::*;
    let x: Vec<u8> = (0..X_LEN).map(|i| (i * 37 % 256) as u8).collect();
    let wt: Vec<i8> = (0..W_LEN).map(|i| ((i * 53 % 256) as i32 - 128) as i8).collect();
    let (xz, wz): (u8, Vec<i8>) = (131, (0..M).map(|j| j as i8 * 5 - 12).collect());
    let want = direct(|_| 0i32, |xi, wi| (x[xi] as i32 - xz as i32) * (wt[wi] as i32 - wz[wi / (W_LEN / M)] as i32));
    let [oh, ow] = out();
    let (xv, wv) = (Value::u8(vec![N, C, H, W], x.clone()), Value::i8(W_SHAPE.to_vec(), wt.clone()));
    let (xzv, wzv) = (Value::u8(vec![], vec![xz]), Value::i8(vec![M], wz.clone()));
    // W as an initializer or as a graph input; returns the run's inputs.
    let add_w = |gb: &mut GraphBuilder, constant_w: bool| {
        let mut inputs = vec![("x", xv.clone())];
        if constant_w {
            gb.initializer("w", &wv);
        } else {
            gb.input_unshaped("w", DType::I8);
            inputs.push(("w", wv.clone()));
        }
        inputs
    };
    for constant_w in [true, false] {
        let mut gb = GraphBuilder::new(10);
        gb.input_unshaped("x", DType::U8).initializer("xz", &xzv).initializer("wz", &wzv);
        let inputs = add_w(&mut gb, constant_w);
        gb.node("ConvInteger", "conv", &["x", "w", "xz", "wz"], &["y"], attrs()).output("y", DType::I32, &[]);
        let y = run1(&model(&gb), inputs).unwrap();
        assert_eq!(y.shape(), [N, M, oh, ow]);
        assert_eq!(y.data(), &Data::I32(want.clone()), "W constant: {constant_w}");
    }
    // QLinearConv: the same sums, requantized by ORT's rule (round half to even, clamp).
    let (x_scale, w_scale, y_scale, yz) = (0.02f32, 0.01f32, 0.5f32, 7u8);
    let requantized: Vec<u8> =
        want.iter().map(|&a| ((a as f32 * (x_scale * w_scale / y_scale)).round_ties_even() + yz as f32).clamp(0.0, 255.0) as u8).collect();
    for constant_w in [true, false] {
        let mut gb = GraphBuilder::new(10);
        gb.input_unshaped("x", DType::U8).initializer("xs", &Value::scalar_f32(x_scale)).initializer("xz", &xzv);
        gb.initializer("ws", &Value::scalar_f32(w_scale)).initializer("wz", &wzv);
        gb.initializer("ys", &Value::scalar_f32(y_scale)).initializer("yz", &Value::u8(vec![], vec![yz]));
        let inputs = add_w(&mut gb, constant_w);
        gb.node("QLinearConv", "qconv", &["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], &["y"], attrs()).output("y", DType::U8, &[]);
        let y = run1(&model(&gb), inputs).unwrap();
        assert_eq!(y.data(), &Data::U8(requantized.clone()), "QLinearConv, W constant: {constant_w}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn quantize_dequantize_edge_cases() {
    // Saturation, ties to even, NaN → zero point; DequantizeLinear of int32 needs zp 0.
    let mut g = GraphBuilder::new(21);
    g.input("x", DType::F32, &[Some(6)]);
    g.initializer("s", &Value::scalar_f32(0.5)).initializer("z", &Value::i8(vec![], vec![-1]));
    g.node("QuantizeLinear", "q", &["x", "s", "z"], &["y"], vec![]).output("y", DType::I8, &[]);
    let y = run1(&model(&g), vec![("x", Value::f32(vec![6], vec![0.25, 0.75, 1000., -1000., f32::NAN, -0.25]))]).unwrap();
    assert_eq!(y.data(), &Data::I8(vec![-1, 1, 127, -128, -1, -1]));

    let mut g = GraphBuilder::new(21);
    g.input("q", DType::I32, &[Some(2)]);
    g.initializer("s", &Value::scalar_f32(0.5)).initializer("z", &Value::i32(vec![], vec![3]));
    g.node("DequantizeLinear", "dq", &["q", "s", "z"], &["y"], vec![]).output("y", DType::F32, &[]);
    let e = run1(&model(&g), vec![("q", Value::i32(vec![2], vec![1, 2]))]).unwrap_err();
    assert!(matches!(e, EngineError::InvalidValue { .. }), "{e}");

    // A per-axis scale whose length does not match the axis.
    let mut g = GraphBuilder::new(21);
    g.input("x", DType::F32, &[Some(2), Some(3)]);
    g.initializer("s", &Value::f32(vec![4], vec![1.0; 4]));
    g.node("QuantizeLinear", "q", &["x", "s"], &["y"], vec![attr_int("axis", 1)]).output("y", DType::U8, &[]);
    let e = run1(&model(&g), vec![("x", Value::f32(vec![2, 3], vec![0.0; 6]))]).unwrap_err();
    assert!(matches!(e, EngineError::ShapeMismatch { .. }), "{e}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn shape_ops_and_constants() {
    // Constant → Shape → Gather → Unsqueeze → Concat → Reshape: folded at load.
    let mut g = GraphBuilder::new(13);
    g.input("x", DType::F32, &[Some(2), Some(3), Some(4)]);
    g.node("Constant", "k", &[], &["idx"], vec![attr_tensor("value", &Value::i64(vec![], vec![-1]))]);
    g.node("Shape", "s", &["x"], &["shape"], vec![]);
    g.node("Gather", "gth", &["shape", "idx"], &["last"], vec![attr_int("axis", 0)]);
    g.node("Constant", "ax", &[], &["axes"], vec![attr_tensor("value", &Value::i64(vec![1], vec![0]))]);
    g.node("Unsqueeze", "u", &["last", "axes"], &["last1"], vec![]);
    g.node("Constant", "m1", &[], &["minus1"], vec![attr_tensor("value", &Value::i64(vec![1], vec![-1]))]);
    g.node("Concat", "c", &["minus1", "last1"], &["target"], vec![attr_int("axis", 0)]);
    g.node("Reshape", "r", &["x", "target"], &["y"], vec![]);
    g.output("y", DType::F32, &[]);
    let m = model(&g);
    let x = Value::f32(vec![2, 3, 4], (0..24).map(|i| i as f32).collect());
    let y = run1(&m, vec![("x", x)]).unwrap();
    assert_eq!(y.shape(), [6, 4]);
    // Transpose, Squeeze, Flatten on a 4-D value.
    let mut g = GraphBuilder::new(11);
    g.input("x", DType::F32, &[Some(1), Some(2), Some(1), Some(3)]);
    g.node("Squeeze", "sq", &["x"], &["a"], vec![attr_ints("axes", &[0, 2])]);
    g.node("Transpose", "t", &["a"], &["b"], vec![]);
    g.node("Flatten", "f", &["b"], &["y"], vec![attr_int("axis", 0)]);
    g.output("y", DType::F32, &[]);
    let y = run1(&model(&g), vec![("x", Value::f32(vec![1, 2, 1, 3], vec![1., 2., 3., 4., 5., 6.]))]).unwrap();
    assert_eq!((y.shape().to_vec(), y.to_f32_vec()), (vec![1, 6], vec![1., 4., 2., 5., 3., 6.]));
    let e = run1(&model(&g), vec![("x", Value::f32(vec![1, 2, 1, 3], vec![0.0; 6]))]);
    assert!(e.is_ok());
    // Gather out of range.
    let mut g = GraphBuilder::new(13);
    g.input("x", DType::F32, &[Some(3)]).input("i", DType::I64, &[Some(1)]);
    g.node("Gather", "gth", &["x", "i"], &["y"], vec![]).output("y", DType::F32, &[]);
    let e = run1(&model(&g), vec![("x", Value::f32(vec![3], vec![0.0; 3])), ("i", Value::i64(vec![1], vec![3]))]).unwrap_err();
    assert_eq!(e.to_string(), "node 'gth' (Gather): index 3 is out of range for axis 0 of size 3");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn pooling_and_softmax() {
    let mut g = GraphBuilder::new(13);
    g.input("x", DType::F32, &[Some(1), Some(1), Some(3), Some(3)]);
    g.node(
        "MaxPool",
        "mp",
        &["x"],
        &["y", "i"],
        vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("pads", &[1, 1, 1, 1]), attr_ints("strides", &[2, 2])],
    );
    g.output("y", DType::F32, &[]).output("i", DType::I64, &[]);
    let x = Value::f32(vec![1, 1, 3, 3], vec![1., 9., 2., 3., 4., 8., 7., 5., 6.]);
    let out = model(&g).run(&[("x", x)]).unwrap();
    assert_eq!(out[0].1.to_f32_vec(), [1., 9., 7., 8.]);
    assert_eq!(out[1].1.data(), &Data::I64(vec![0, 1, 6, 5]));

    let g = one("Softmax", &[("x", DType::F32, &[])], vec![attr_int("axis", 0)]);
    let y = run1(&model(&g), vec![("x", Value::f32(vec![2, 2], vec![0., 1000., 0., 1000.]))]).unwrap();
    assert_eq!(y.to_f32_vec(), [0.5, 0.5, 0.5, 0.5]);
    let g = one("Softmax", &[("x", DType::F32, &[])], vec![]);
    let y = run1(&model(&g), vec![("x", Value::f32(vec![1, 3], vec![1000., 1000., f32::NEG_INFINITY]))]).unwrap();
    assert_eq!(y.to_f32_vec(), [0.5, 0.5, 0.0]);
    // Long rows (`exp_f32` and a sum in 8 lanes on the last axis, libm-free along another) against
    // f64: each probability p = e^d / Σ within (8 + |d|)·ε of itself (d = x − max rounds to f32
    // first, as in ONNX Runtime: |d|·ε/2 of e^d); a −∞ gives exactly 0.
    for axis in [-1, 0] {
        let (rows, n) = (3, 1003);
        let mut x: Vec<f32> = (0..rows * n).map(|i| ((i * 7919 % 4001) as f32 - 2000.0) / 97.0).collect();
        x[5] = f32::NEG_INFINITY;
        let shape = if axis == -1 { vec![rows, n] } else { vec![n, rows] };
        let g = one("Softmax", &[("x", DType::F32, &[])], vec![attr_int("axis", axis)]);
        let y = run1(&model(&g), vec![("x", Value::f32(shape, x.clone()))]).unwrap().to_f32_vec();
        let at = |r: usize, k: usize| if axis == -1 { r * n + k } else { k * rows + r };
        for r in 0..rows {
            let max = (0..n).map(|k| x[at(r, k)] as f64).fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = (0..n).map(|k| (x[at(r, k)] as f64 - max).exp()).sum();
            for k in (0..n).filter(|&k| at(r, k) != 5) {
                let d = x[at(r, k)] as f64 - max;
                let (got, want) = (y[at(r, k)] as f64, d.exp() / sum);
                let tolerance = want * f64::from(f32::EPSILON) * (8.0 + d.abs());
                assert!((got - want).abs() <= tolerance, "axis {axis} row {r}[{k}]: {got} against {want}");
            }
        }
        assert_eq!(y[5], 0.0);
    }
}

/// The depthwise path (one channel per group, 2-D) against a direct f64 loop, over strides,
/// dilations and asymmetric padding that put taps outside the input on every side.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn depthwise_conv_matches_a_direct_loop() {
    let (n, c, h, w) = (2, 5, 9, 11);
    for (k, stride, dil, pads) in [
        ([3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
        ([3, 5], [2, 1], [1, 2], [0, 3, 2, 1]),
        ([5, 3], [1, 3], [2, 1], [4, 0, 0, 2]),
        ([1, 1], [2, 2], [1, 1], [0, 0, 0, 0]),
    ] {
        let x: Vec<f32> = (0..n * c * h * w).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let wt: Vec<f32> = (0..c * k[0] * k[1]).map(|i| ((i * 53 % 89) as f32 - 44.0) / 40.0).collect();
        let mut gb = GraphBuilder::new(17);
        gb.input("x", DType::F32, &[Some(n), Some(c), Some(h), Some(w)]);
        gb.initializer("w", &Value::f32(vec![c, 1, k[0], k[1]], wt.clone()));
        let attrs = vec![
            attr_int("group", c as i64),
            attr_ints("strides", &stride.map(|v| v as i64)),
            attr_ints("dilations", &dil.map(|v| v as i64)),
            attr_ints("pads", &pads.map(|v| v as i64)),
        ];
        gb.node("Conv", "dw", &["x", "w"], &["y"], attrs);
        gb.output("y", DType::F32, &[]);
        let y = run1(&model(&gb), vec![("x", Value::f32(vec![n, c, h, w], x.clone()))]).unwrap();
        let out = |d: usize, size: usize| (size + pads[d] + pads[d + 2] - dil[d] * (k[d] - 1) - 1) / stride[d] + 1;
        let (oh, ow) = (out(0, h), out(1, w));
        assert_eq!(y.shape(), [n, c, oh, ow]);
        let got = y.to_f32_vec();
        for (i, &v) in got.iter().enumerate() {
            let (img, ch, oy, ox) = (i / (c * oh * ow), i / (oh * ow) % c, i / ow % oh, i % ow);
            let mut want = 0f64;
            for ky in 0..k[0] {
                for kx in 0..k[1] {
                    let iy = (oy * stride[0] + ky * dil[0]) as isize - pads[0] as isize;
                    let ix = (ox * stride[1] + kx * dil[1]) as isize - pads[1] as isize;
                    if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                        want += x[((img * c + ch) * h + iy as usize) * w + ix as usize] as f64 * wt[(ch * k[0] + ky) * k[1] + kx] as f64;
                    }
                }
            }
            assert!((v as f64 - want).abs() < 1e-5, "k {k:?} stride {stride:?} element {i}: {v} vs {want}");
        }
    }
}

/// The integer depthwise path (ConvInteger, one channel per group) equals a naive integer loop
/// exactly: padding taps add nothing, zero points per channel.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn depthwise_conv_integer_matches_a_naive_loop() {
    let (n, c, h, w) = (1, 4, 7, 8);
    let (k, stride, dil, pads) = ([3, 3], [2, 1], [1, 2], [1, 2, 0, 1]);
    let x: Vec<u8> = (0..n * c * h * w).map(|i| (i * 37 % 251) as u8).collect();
    let wt: Vec<u8> = (0..c * k[0] * k[1]).map(|i| (i * 53 % 241) as u8).collect();
    let (x_zp, w_zp) = (17u8, [3u8, 200, 128, 0]);
    let mut gb = GraphBuilder::new(17);
    gb.input("x", DType::U8, &[Some(n), Some(c), Some(h), Some(w)]);
    gb.initializer("w", &Value::u8(vec![c, 1, k[0], k[1]], wt.clone()))
        .initializer("xz", &Value::u8(vec![], vec![x_zp]))
        .initializer("wz", &Value::u8(vec![c], w_zp.to_vec()));
    let attrs = vec![
        attr_int("group", c as i64),
        attr_ints("strides", &stride.map(|v| v as i64)),
        attr_ints("dilations", &dil.map(|v| v as i64)),
        attr_ints("pads", &pads.map(|v| v as i64)),
    ];
    gb.node("ConvInteger", "dwi", &["x", "w", "xz", "wz"], &["y"], attrs);
    gb.output("y", DType::I32, &[]);
    let y = run1(&model(&gb), vec![("x", Value::u8(vec![n, c, h, w], x.clone()))]).unwrap();
    let out = |d: usize, size: usize| (size + pads[d] + pads[d + 2] - dil[d] * (k[d] - 1) - 1) / stride[d] + 1;
    let (oh, ow) = (out(0, h), out(1, w));
    assert_eq!(y.shape(), [n, c, oh, ow]);
    let got = y.to_i64_vec().unwrap();
    for (i, &v) in got.iter().enumerate() {
        let (ch, oy, ox) = (i / (oh * ow) % c, i / ow % oh, i % ow);
        let mut want = 0i64;
        for ky in 0..k[0] {
            for kx in 0..k[1] {
                let iy = (oy * stride[0] + ky * dil[0]) as isize - pads[0] as isize;
                let ix = (ox * stride[1] + kx * dil[1]) as isize - pads[1] as isize;
                let xv = if (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix) {
                    x[(ch * h + iy as usize) * w + ix as usize]
                } else {
                    x_zp
                };
                want += (xv as i64 - x_zp as i64) * (wt[(ch * k[0] + ky) * k[1] + kx] as i64 - w_zp[ch] as i64);
            }
        }
        assert_eq!(v, want, "element {i}");
    }
}

// ------------------------------------------------ reductions, OneHot and Erf on their fast paths

/// Deterministic values with mixed signs and magnitudes (so sums round differently by order).
fn wobbly(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7919 % 1009) as f32 - 504.0) * 0.37 + 1e-3 * (i % 13) as f32).collect()
}

/// ReduceMean/ReduceSum over a block of axes walk the input without a map: bit for bit the
/// plain loop (f64 sums in flat order, as the map path adds them), over a middle axis
/// (magika's LayerNorm moments), a block of two, and a block with size-1 axes about it.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn reductions_over_a_block_of_axes_match_the_plain_loop() {
    let cases: [(&str, &[usize], &[i64]); 4] = [
        ("ReduceMean", &[2, 37, 9], &[1]),
        ("ReduceSum", &[3, 4, 5, 6], &[1, 2]),
        ("ReduceMean", &[1, 2, 11, 1], &[0, 2, 3]),
        ("ReduceSum", &[4, 6], &[0]),
    ];
    for (op, shape, axes) in cases {
        let g = one(op, &[("x", DType::F32, &[]), ("axes", DType::I64, &[])], vec![attr_int("keepdims", 1)]);
        let xs = wobbly(shape.iter().product());
        let y =
            run1(&model(&g), vec![("x", Value::f32(shape.to_vec(), xs.clone())), ("axes", Value::i64(vec![axes.len()], axes.to_vec()))])
                .unwrap();
        let kept: Vec<usize> = shape.iter().enumerate().map(|(d, &n)| if axes.contains(&(d as i64)) { 1 } else { n }).collect();
        assert_eq!(y.shape(), kept.as_slice(), "{op} {shape:?} {axes:?}");
        let n_out: usize = kept.iter().product();
        let mut acc = vec![0f64; n_out];
        for (flat, &v) in xs.iter().enumerate() {
            // The output index: the input's multi-index with the reduced axes at 0.
            let (mut rest, mut o, mut stride) = (flat, 0, 1);
            for d in (0..shape.len()).rev() {
                let i = rest % shape[d];
                rest /= shape[d];
                o += if kept[d] == 1 { 0 } else { i * stride };
                stride *= kept[d];
            }
            acc[o] += v as f64;
        }
        let count = (xs.len() / n_out) as f64;
        let want: Vec<u32> = acc.iter().map(|&a| (if op == "ReduceMean" { a / count } else { a }) as f32).map(f32::to_bits).collect();
        let got: Vec<u32> = y.as_f32().unwrap().iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, want, "{op} {shape:?} {axes:?}");
    }
}

/// Awkward tensors for the whole-tensor reductions and QuantizeLinear's per-tensor path: every
/// length around the 16 lanes, ordinary values, and NaN, ±∞, ±0 and ties put at each place.
fn awkward_f32() -> Vec<Vec<f32>> {
    let mut rng = crate::common::Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut cases = Vec::new();
    for n in [0usize, 1, 2, 15, 16, 17, 31, 32, 33, 47, 100, 257] {
        let plain: Vec<f32> = (0..n).map(|_| ((rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 8.0 - 4.0) as f32).collect();
        cases.push(plain.clone());
        cases.push(plain.iter().map(|v| v.abs() + 1.0).collect()); // all positive
        cases.push(plain.iter().map(|v| -v.abs() - 1.0).collect()); // all negative
        cases.push(plain.iter().map(|v| v.round() * 0.5).collect()); // ties of a scale of 1
        cases.push((0..n).map(|i| if i % 3 == 0 { -0.0 } else { 0.0 }).collect());
        cases.push((0..n).map(|i| if i % 2 == 0 { -0.0 } else { -1.5 }).collect());
        cases.push((0..n).map(|i| if i % 2 == 0 { 0.0 } else { 2.5 }).collect());
        cases.push(vec![f32::NEG_INFINITY; n]);
        for special in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, f32::MAX, -f32::MAX] {
            for at in [0, n / 2, n.saturating_sub(1)] {
                if at < n {
                    let mut v = plain.clone();
                    v[at] = special;
                    cases.push(v);
                }
            }
        }
    }
    cases
}

/// ReduceMax/ReduceMin of a whole float32 tensor (static QDQ's calibration model) take a
/// sixteen-lane path; its values are the general loop's, bit for bit: the same tensor as float64
/// runs that loop, whose result rounds exactly back to the float32 one. With NaN and zeros too,
/// which the path leaves to the loop.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn whole_tensor_reduce_max_and_min_equal_the_general_loop() {
    for op in ["ReduceMax", "ReduceMin"] {
        for keepdims in [0, 1] {
            let m = model(&one(op, &[("x", DType::F32, &[])], vec![attr_int("keepdims", keepdims)]));
            let m64 = model(&one(op, &[("x", DType::F64, &[])], vec![attr_int("keepdims", keepdims)]));
            for xs in awkward_f32() {
                let n = xs.len();
                // [n] and [1, n, 1]: the size-1 axes are reduced too.
                for shape in [vec![n], vec![1, n, 1]] {
                    let got = run1(&m, vec![("x", Value::f32(shape.clone(), xs.clone()))]).unwrap();
                    let x64 = Value::new(shape.clone(), Data::F64(xs.iter().map(|&v| v as f64).collect()));
                    let want = run1(&m64, vec![("x", x64)]).unwrap();
                    let want_bits: Vec<u32> = want.to_f64_vec().iter().map(|&v| (v as f32).to_bits()).collect();
                    let got_bits: Vec<u32> = got.as_f32().unwrap().iter().map(|v| v.to_bits()).collect();
                    assert_eq!(got_bits, want_bits, "{op} keepdims {keepdims} of {xs:?}");
                    assert_eq!(got.shape(), want.shape(), "{op} keepdims {keepdims}");
                }
            }
        }
    }
}

/// QuantizeLinear of float32 with one scale (every QDQ activation) takes its own path: the
/// ONNX formula element by element, `saturate(round_half_even(x / s) + zp)` with NaN to the
/// zero point, bit for bit, for u8 and i8, with and without a zero point, and scales of 0, ±∞,
/// NaN and a denormal (which the path hands back to the general loop).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn per_tensor_quantize_linear_of_f32_is_the_formula() {
    let formula = |x: f32, s: f32, z: i64, lo: i64, hi: i64| -> i64 {
        let v = (x / s).round_ties_even() as f64 + z as f64;
        if v.is_nan() {
            z
        } else {
            v.clamp(lo as f64, hi as f64) as i64
        }
    };
    for scale in [1.0f32, 0.5, 0.013_725_49, 3.0e-41, 0.0, -0.25, f32::INFINITY, f32::NAN] {
        for (dtype, zp) in [
            (DType::U8, None),
            (DType::U8, Some(0i64)),
            (DType::U8, Some(128)),
            (DType::U8, Some(255)),
            (DType::I8, None),
            (DType::I8, Some(-3)),
            (DType::I8, Some(127)),
        ] {
            let mut g = GraphBuilder::new(21);
            g.input_unshaped("x", DType::F32).initializer("s", &Value::scalar_f32(scale));
            let mut names = vec!["x", "s"];
            if let Some(z) = zp {
                let zv = if dtype == DType::U8 { Value::u8(vec![], vec![z as u8]) } else { Value::i8(vec![], vec![z as i8]) };
                g.initializer("z", &zv);
                names.push("z");
            }
            // Without a zero point the type is output_dtype's (opset 21), else uint8.
            let attrs = if zp.is_none() && dtype == DType::I8 { vec![attr_int("output_dtype", 3)] } else { vec![] };
            g.node("QuantizeLinear", "q", &names, &["y"], attrs).output("y", dtype, &[]);
            let m = model(&g);
            let (lo, hi) = if dtype == DType::U8 { (0, 255) } else { (-128, 127) };
            for xs in awkward_f32() {
                let y = run1(&m, vec![("x", Value::f32(vec![xs.len()], xs.clone()))]).unwrap();
                let got: Vec<i64> = y.to_i64_vec().unwrap();
                let want: Vec<i64> = xs.iter().map(|&x| formula(x, scale, zp.unwrap_or(0), lo, hi)).collect();
                assert_eq!(y.dtype(), dtype);
                assert_eq!(got, want, "{dtype} zp {zp:?} scale {scale} of {xs:?}");
            }
        }
    }
}

/// OneHot on an inner axis, with negative and out-of-range indices, equals the plain loop.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn one_hot_on_an_inner_axis_matches_the_plain_loop() {
    let (rows, cols, depth) = (3usize, 7usize, 5usize);
    let idx: Vec<i64> = (0..rows * cols).map(|i| (i as i64 * 5) % 13 - 6).collect();
    let g = one("OneHot", &[("i", DType::I64, &[]), ("depth", DType::I64, &[]), ("values", DType::F32, &[])], vec![attr_int("axis", 1)]);
    let y = run1(
        &model(&g),
        vec![
            ("i", Value::i64(vec![rows, cols], idx.clone())),
            ("depth", Value::i64(vec![], vec![depth as i64])),
            ("values", Value::f32(vec![2], vec![-1.5, 2.5])),
        ],
    )
    .unwrap();
    assert_eq!(y.shape(), &[rows, depth, cols]);
    let mut want = vec![-1.5f32; rows * depth * cols];
    for r in 0..rows {
        for c in 0..cols {
            let i = idx[r * cols + c];
            let i = if i < 0 { i + depth as i64 } else { i };
            if (0..depth as i64).contains(&i) {
                want[(r * depth + i as usize) * cols + c] = 2.5;
            }
        }
    }
    assert_eq!(y.as_f32().unwrap(), want.as_slice());
}

/// Erf in f32 (ONNX Runtime's polynomial, vectorizable) is within 4 ulp of erf in f64 over
/// [−6, 6] and keeps NaN, ±0 and ±∞ as erf does.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn erf_is_within_four_ulp_of_the_f64_erf() {
    let mut xs: Vec<f32> = (0..24_001).map(|i| -6.0 + i as f32 * 5e-4).collect();
    xs.extend([0.921_875, -0.921_875, 0.921_874_94, 3.925, 1e-30, -1e-30, 1e-42]);
    let specials = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
    let g = one("Erf", &[("x", DType::F32, &[])], vec![]);
    let all: Vec<f32> = xs.iter().chain(&specials).copied().collect();
    let y = run1(&model(&g), vec![("x", Value::f32(vec![all.len()], all.clone()))]).unwrap();
    let y = y.as_f32().unwrap();
    for (&x, &got) in xs.iter().zip(y) {
        let want = libm::erf(x as f64) as f32;
        let ulp = (got.to_bits() as i64 - want.to_bits() as i64).unsigned_abs();
        assert!(ulp <= 4, "erf({x:e}) = {got:e}, want {want:e} ({ulp} ulp)");
    }
    let tail = &y[xs.len()..];
    assert_eq!(tail[0].to_bits(), 0f32.to_bits());
    assert_eq!(tail[1].to_bits(), (-0f32).to_bits());
    assert_eq!((tail[2], tail[3]), (1.0, -1.0));
    assert!(tail[4].is_nan());
}

/// A subgraph takes the enclosing graph's constants as constants: an If branch slicing a
/// Constant of the main graph folds the Slice at load (silero_vad's LSTM weights), and gives the
/// same values as before. Natively `run_profiled` lists the branch's nodes after their If,
/// named `if/node`.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn if_branches_fold_the_enclosing_constants() {
    let int64s = |v: &[i64]| Value::new(vec![v.len()], Data::I64(v.to_vec()));
    let mut then_g = GraphBuilder::new(17);
    then_g.node("Constant", "starts", &[], &["st"], vec![attr_tensor("value", &int64s(&[1]))]);
    then_g.node("Constant", "ends", &[], &["en"], vec![attr_tensor("value", &int64s(&[5]))]);
    then_g.node("Slice", "slice", &["k", "st", "en"], &["s"], vec![]);
    then_g.node("Add", "add", &["s", "x"], &["out_then"], vec![]);
    then_g.output("out_then", DType::F32, &[Some(4)]);
    let mut else_g = GraphBuilder::new(17);
    else_g.node("Identity", "id", &["x"], &["out_else"], vec![]);
    else_g.output("out_else", DType::F32, &[Some(4)]);
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(4)]).input("c", DType::Bool, &[]);
    g.node("Constant", "k", &[], &["k"], vec![attr_tensor("value", &Value::f32(vec![6], vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0]))]);
    g.node("If", "if", &["c"], &["y"], vec![attr_graph("then_branch", &then_g), attr_graph("else_branch", &else_g)]);
    g.output("y", DType::F32, &[Some(4)]);
    let model = Model::from_onnx(&g.build()).expect("loads");
    let x = Value::f32(vec![4], vec![1.0, 2.0, 3.0, 4.0]);
    let run = |c: bool| {
        let inputs = [("x", x.clone()), ("c", Value::new(vec![], Data::Bool(vec![c])))];
        model.run(&inputs).expect("runs").remove(0).1.to_f32_vec()
    };
    assert_eq!(run(true), [21.0, 32.0, 43.0, 54.0]);
    assert_eq!(run(false), [1.0, 2.0, 3.0, 4.0]);
    let mut clock = || 0.0;
    let inputs = [("x", x.clone()), ("c", Value::new(vec![], Data::Bool(vec![true])))];
    let (_, times) = model.run_profiled(&inputs, &mut clock).expect("runs");
    let names: Vec<&str> = times.iter().map(|t| t.name.as_str()).collect();
    #[cfg(not(target_arch = "wasm32"))]
    assert_eq!(names, ["if/add", "if"], "the Slice of the constant is folded; the Add runs in the branch");
    #[cfg(target_arch = "wasm32")]
    assert_eq!(names, ["if"]);
}

/// LSTM, GRU and RNN compute the same with W and R as initializers (packed for the GEMM at load:
/// X · Wᵀ for every step at once, one packed product per step for R) as with W and R as graph
/// inputs (W packed per run from 4 rows of X; below that, and for R, the eight-lane products),
/// to float rounding: bidirectional, peepholes, clip, sequence_lens, batch 2, sequences of 1
/// and 6 steps, hidden sizes that are and are not a multiple of the GEMM's 8 columns.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn recurrent_layers_agree_with_packed_and_unpacked_weights() {
    for (op, gates, extra) in [
        ("LSTM", 4, vec![attr_float("clip", 2.5)]),
        ("GRU", 3, vec![attr_int("linear_before_reset", 0)]),
        ("GRU", 3, vec![attr_int("linear_before_reset", 1)]),
        ("RNN", 1, vec![]),
    ] {
        for (seq, hid) in [(1, 3), (6, 3), (6, 8)] {
            let (batch, input, dirs) = (2, 5, 2);
            let wave = |len: usize, salt: usize| -> Vec<f32> { (0..len).map(|i| (((i * 37 + salt) % 101) as f32 - 50.0) / 60.0).collect() };
            let x = Value::f32(vec![seq, batch, input], wave(seq * batch * input, 1));
            let w = Value::f32(vec![dirs, gates * hid, input], wave(dirs * gates * hid * input, 2));
            let r = Value::f32(vec![dirs, gates * hid, hid], wave(dirs * gates * hid * hid, 3));
            let b = Value::f32(vec![dirs, 2 * gates * hid], wave(dirs * 2 * gates * hid, 4));
            let lens = Value::i32(vec![batch], vec![seq as i32, (seq as i32 - 2).max(1)]);
            let p = Value::f32(vec![dirs, 3 * hid], wave(dirs * 3 * hid, 5));
            let run = |constant: bool| -> Vec<Vec<f32>> {
                let mut gb = GraphBuilder::new(14);
                gb.input("x", DType::F32, &[Some(seq), Some(batch), Some(input)]).input("lens", DType::I32, &[Some(batch)]);
                if constant {
                    gb.initializer("w", &w).initializer("r", &r).initializer("b", &b).initializer("p", &p);
                } else {
                    for name in ["w", "r", "b", "p"].into_iter().filter(|&n| n != "p" || op == "LSTM") {
                        gb.input_unshaped(name, DType::F32);
                    }
                }
                let mut attrs = vec![attr_int("hidden_size", hid as i64), attr_string("direction", "bidirectional")];
                attrs.extend(extra.iter().cloned());
                let ins: &[&str] = if op == "LSTM" { &["x", "w", "r", "b", "lens", "", "", "p"] } else { &["x", "w", "r", "b", "lens"] };
                gb.node(op, "rec", ins, &["y", "yh"], attrs);
                gb.output("y", DType::F32, &[]).output("yh", DType::F32, &[]);
                let mut feed = vec![("x", x.clone()), ("lens", lens.clone())];
                if !constant {
                    feed.extend([("w", w.clone()), ("r", r.clone()), ("b", b.clone()), ("p", p.clone())]);
                }
                if op != "LSTM" {
                    feed.retain(|(n, _)| *n != "p");
                }
                model(&gb).run(&feed).unwrap().into_iter().map(|(_, v)| v.to_f32_vec()).collect()
            };
            let (packed, plain) = (run(true), run(false));
            for (a, b) in packed.iter().zip(&plain) {
                assert_eq!(a.len(), b.len());
                for (i, (&u, &v)) in a.iter().zip(b).enumerate() {
                    assert!((u - v).abs() <= 1e-6 * (1.0 + v.abs()), "{op} {extra:?} seq {seq} hidden {hid} element {i}: {u} vs {v}");
                }
            }
            assert!(plain[0].iter().any(|&v| v != 0.0), "{op}: the case must compute something");
        }
    }
}

/// Resize nearest (the one-element gather) equals the separable f64 path it bypasses, which
/// linear mode at whole-number source coordinates also is: every nearest_mode and coordinate
/// transformation, up- and downscales, sizes and scales, an axis left alone, a −0 kept.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn resize_nearest_gathers_what_the_reference_picks() {
    let (n, c, h, w) = (1, 2, 3, 5);
    let mut xs: Vec<f32> = (0..n * c * h * w).map(|i| i as f32 * 0.5 - 3.0).collect();
    xs[1] = -0.0;
    let x = Value::f32(vec![n, c, h, w], xs.clone());
    for coord in ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"] {
        for mode in ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"] {
            for scales in [[1.0f32, 1.0, 2.0, 2.0], [1.0, 1.0, 0.6, 1.7], [1.0, 1.0, 1.0, 0.4]] {
                let mut gb = GraphBuilder::new(13);
                gb.input("x", DType::F32, &[Some(n), Some(c), Some(h), Some(w)]);
                gb.initializer("roi", &Value::f32(vec![0], vec![])).initializer("s", &Value::f32(vec![4], scales.to_vec()));
                let attrs = vec![
                    attr_string("mode", "nearest"),
                    attr_string("coordinate_transformation_mode", coord),
                    attr_string("nearest_mode", mode),
                ];
                gb.node("Resize", "r", &["x", "roi", "s"], &["y"], attrs);
                gb.output("y", DType::F32, &[]);
                let y = run1(&model(&gb), vec![("x", x.clone())]).unwrap();
                let (oh, ow) = ((h as f32 * scales[2]) as usize, (w as f32 * scales[3]) as usize);
                assert_eq!(y.shape(), [n, c, oh, ow]);
                // The reference's nearest pick per axis (onnx/reference/ops/op_resize.py, whose
                // resized length in the coordinate formulas is scale · length, unrounded).
                let pick = |o: usize, len: usize, s: f32| -> usize {
                    let (o, len_f, s) = (o as f64, len as f64, s as f64);
                    let out = s * len_f;
                    let x = match coord {
                        "half_pixel" => (o + 0.5) / s - 0.5,
                        "pytorch_half_pixel" if out != 1.0 => (o + 0.5) / s - 0.5,
                        "pytorch_half_pixel" => -0.5,
                        "align_corners" if out != 1.0 => o * (len_f - 1.0) / (out - 1.0),
                        "align_corners" => 0.0,
                        _ => o / s,
                    };
                    let r = match mode {
                        "round_prefer_floor" => {
                            if x.fract().abs() == 0.5 {
                                x.floor()
                            } else {
                                x.round()
                            }
                        }
                        "round_prefer_ceil" => x.round(),
                        "floor" => x.floor(),
                        _ => x.ceil(),
                    };
                    r.clamp(0.0, len_f - 1.0) as usize
                };
                let got = y.to_f32_vec();
                for (i, &v) in got.iter().enumerate() {
                    let (ch, oy, ox) = (i / (oh * ow), i / ow % oh, i % ow);
                    let want = xs[(ch * h + pick(oy, h, scales[2])) * w + pick(ox, w, scales[3])];
                    assert_eq!(v.to_bits(), want.to_bits(), "{coord} {mode} {scales:?} element {i}: {v} vs {want}");
                }
            }
        }
    }
}

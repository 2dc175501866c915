//! The float Conv's kernels (`src/engine/src/ops/conv.rs`: patches written straight into the
//! GEMM's panels for 1-D and 2-D, the direct depthwise loop, im2col for 3-D) against a naive f32
//! loop that sums in the GEMM reference's order (input channel, then kernel taps row-major, a
//! padding tap adding w·0), then adds the bias: equal bit for bit, natively and with SIMD128 in
//! Chromium. The cases cover output widths that are not a multiple of the 8-column panel (a
//! panel spanning two output rows), 1 to 9 output channels (the 4-row tiles' remainders),
//! strides, dilations, asymmetric padding, groups, 1-D, 3-D, 1×1, and one to seven output
//! positions (the transposed product, `few_positions`), each model run twice (the weights are
//! packed on the first run and kept) (depthwise to 1e-5: it sums a channel's taps in another
//! order). And Sigmoid, computed with
//! its own `exp`, against f64 to a few ulp. And the fused Conv chains of the run plan.

use quantscope_engine::builder::{attr_int, attr_ints, GraphBuilder};
use quantscope_engine::{DType, Model, Value};

struct Case {
    c: usize,
    m: usize,
    group: usize,
    input: Vec<usize>,
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    /// begin..., end...
    pads: Vec<usize>,
}

/// `(C, M, group)`, then the spatial sizes and the window.
fn case(
    (c, m, group): (usize, usize, usize),
    input: &[usize],
    kernel: &[usize],
    strides: &[usize],
    dilations: &[usize],
    pads: &[usize],
) -> Case {
    Case {
        c,
        m,
        group,
        input: input.to_vec(),
        kernel: kernel.to_vec(),
        strides: strides.to_vec(),
        dilations: dilations.to_vec(),
        pads: pads.to_vec(),
    }
}

fn cases() -> Vec<Case> {
    vec![
        case((3, 5, 1), &[9, 11], &[3, 3], &[1, 1], &[1, 1], &[1, 1, 1, 1]),
        case((4, 8, 1), &[16, 16], &[3, 3], &[2, 2], &[1, 1], &[1, 1, 1, 1]),
        case((6, 9, 1), &[7, 13], &[1, 1], &[1, 1], &[1, 1], &[0, 0, 0, 0]),
        case((2, 1, 1), &[5, 23], &[1, 1], &[1, 1], &[1, 1], &[0, 0, 0, 0]),
        case((4, 6, 2), &[10, 9], &[3, 2], &[2, 1], &[1, 2], &[1, 0, 2, 1]),
        case((3, 7, 1), &[12, 20], &[5, 5], &[1, 1], &[2, 2], &[4, 4, 4, 4]),
        case((2, 3, 1), &[6, 6], &[2, 2], &[3, 3], &[1, 1], &[0, 1, 2, 0]),
        case((5, 2, 1), &[17], &[3], &[1], &[1], &[1, 1]),
        case((4, 4, 2), &[40], &[5], &[2], &[1], &[2, 1]),
        case((4, 4, 4), &[9, 10], &[3, 3], &[1, 1], &[1, 1], &[1, 1, 1, 1]),
        case((6, 6, 6), &[11, 13], &[3, 3], &[2, 2], &[1, 1], &[1, 1, 1, 1]),
        case((3, 3, 3), &[10, 17], &[5, 5], &[3, 2], &[2, 1], &[2, 1, 0, 3]),
        case((2, 3, 1), &[4, 5, 6], &[2, 3, 2], &[1, 2, 1], &[1, 1, 1], &[1, 0, 1, 0, 1, 1]),
        // One output position (`few_positions`: W·p as the row pᵀ·Wᵀ): a squeeze-excitation
        // 1×1 over 1×1 with more than four panels of outputs, a 3×3 window over 3×3, grouped, 1-D.
        case((20, 37, 1), &[1, 1], &[1, 1], &[1, 1], &[1, 1], &[0, 0, 0, 0]),
        case((3, 13, 1), &[3, 3], &[3, 3], &[1, 1], &[1, 1], &[0, 0, 0, 0]),
        case((4, 6, 2), &[2, 3], &[2, 3], &[1, 1], &[1, 1], &[0, 0, 0, 0]),
        case((5, 9, 1), &[4], &[4], &[1], &[1], &[0, 0]),
        // Two to seven output positions (`few_positions`: Yᵀ = Pᵀ·Wᵀ, Wᵀ packed once), as
        // silero's 1-D Convs: output channels past four panels and not a multiple of eight,
        // strides, grouped, 2-D, and a 1×1 (identity) window.
        case((7, 37, 1), &[5], &[3], &[1], &[1], &[1, 1]),
        case((4, 70, 1), &[12], &[3], &[2], &[1], &[1, 1]),
        case((6, 10, 2), &[4], &[3], &[2], &[1], &[1, 1]),
        case((3, 9, 1), &[2, 3], &[2, 2], &[1, 1], &[1, 1], &[0, 0, 0, 0]),
        case((5, 16, 1), &[7], &[1], &[1], &[1], &[0, 0]),
    ]
}

fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| (((i * 7919 + seed * 104729) % 2003) as f32 - 1001.0) / 317.0).collect()
}

/// The naive convolution, in the GEMM reference's summation order.
fn naive(k: &Case, n: usize, x: &[f32], w: &[f32], b: &[f32]) -> (Vec<usize>, Vec<f32>) {
    let r = k.input.len();
    let out: Vec<usize> =
        (0..r).map(|d| (k.input[d] + k.pads[d] + k.pads[d + r] - k.dilations[d] * (k.kernel[d] - 1) - 1) / k.strides[d] + 1).collect();
    let (oc, ic, kc) = (out.iter().product::<usize>(), k.input.iter().product::<usize>(), k.kernel.iter().product::<usize>());
    let (cg, mg) = (k.c / k.group, k.m / k.group);
    let mut y = Vec::with_capacity(n * k.m * oc);
    let unravel = |mut i: usize, dims: &[usize]| {
        let mut idx = vec![0; dims.len()];
        for d in (0..dims.len()).rev() {
            idx[d] = i % dims[d];
            i /= dims[d];
        }
        idx
    };
    for img in 0..n {
        for mo in 0..k.m {
            let grp = mo / mg;
            for o in 0..oc {
                let oi = unravel(o, &out);
                let mut acc = 0f32;
                for ci in 0..cg {
                    let ch = grp * cg + ci;
                    for t in 0..kc {
                        let ti = unravel(t, &k.kernel);
                        let mut off = Some(0usize);
                        for d in 0..r {
                            let pos = (oi[d] * k.strides[d] + ti[d] * k.dilations[d]) as isize - k.pads[d] as isize;
                            off = match off {
                                Some(o) if pos >= 0 && (pos as usize) < k.input[d] => Some(o * k.input[d] + pos as usize),
                                _ => None,
                            };
                        }
                        let xv = off.map_or(0.0, |o| x[(img * k.c + ch) * ic + o]);
                        acc += w[(mo * cg + ci) * kc + t] * xv;
                    }
                }
                y.push(acc + b[mo]);
            }
        }
    }
    let mut shape = vec![n, k.m];
    shape.extend(out);
    (shape, y)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn conv_equals_a_naive_loop_bit_for_bit() {
    for (ci, k) in cases().iter().enumerate() {
        let n = 2;
        let mut xshape = vec![n, k.c];
        xshape.extend(&k.input);
        let mut wshape = vec![k.m, k.c / k.group];
        wshape.extend(&k.kernel);
        let x = values(xshape.iter().product(), ci);
        let w = values(wshape.iter().product(), ci + 50);
        let b = values(k.m, ci + 99);
        let ints = |v: &[usize]| v.iter().map(|&d| d as i64).collect::<Vec<_>>();
        let mut g = GraphBuilder::new(17);
        g.input("x", DType::F32, &xshape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
        g.initializer("w", &Value::f32(wshape.clone(), w.clone())).initializer("b", &Value::f32(vec![k.m], b.clone()));
        let attrs = vec![
            attr_int("group", k.group as i64),
            attr_ints("strides", &ints(&k.strides)),
            attr_ints("dilations", &ints(&k.dilations)),
            attr_ints("pads", &ints(&k.pads)),
        ];
        g.node("Conv", "conv", &["x", "w", "b"], &["y"], attrs);
        g.output("y", DType::F32, &[]);
        let model = Model::from_onnx(&g.build()).expect("loads");
        let run = || model.run(&[("x", Value::f32(xshape.clone(), x.clone()))]).expect("runs").remove(0).1;
        // The first run packs the weights, the second reuses them.
        let (got, again) = (run(), run());
        assert_eq!(got.to_f32_vec(), again.to_f32_vec(), "case {ci}: the second run");
        let (shape, want) = naive(k, n, &x, &w, &b);
        assert_eq!(got.shape(), shape.as_slice(), "case {ci}");
        // The depthwise loop sums a channel's taps column by column: another order.
        let depthwise = k.group == k.c && k.c == k.m;
        for (i, (g, w)) in got.to_f32_vec().iter().zip(&want).enumerate() {
            if depthwise {
                assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "case {ci}, element {i}: {g} vs {w}");
            } else {
                assert_eq!(g.to_bits(), w.to_bits(), "case {ci}, element {i}: {g} vs {w}");
            }
        }
    }
}

/// ConvInteger over the same cases (patches written straight into the integer GEMM's panels
/// for 1-D and 2-D, the direct depthwise loop, im2col for 3-D): `Σ (x − x_zp)(w − w_zp[m])`
/// exactly as a naive loop computes it (a padding tap adds 0), u8 × i8 with per-channel weight
/// zero points and i8 × u8 with one, extreme values included.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn conv_integer_equals_a_naive_loop() {
    for (ci, k) in cases().iter().enumerate() {
        for signed_x in [false, true] {
            let n = 2;
            let mut xshape = vec![n, k.c];
            xshape.extend(&k.input);
            let mut wshape = vec![k.m, k.c / k.group];
            wshape.extend(&k.kernel);
            let (xl, wl): (usize, usize) = (xshape.iter().product(), wshape.iter().product());
            // Codes as i32 in the type's range: x, w, and their zero points.
            let (xmin, wmin) = if signed_x { (-128, 0) } else { (0, -128) };
            let code = |i: usize, seed: usize, min: i32| -> i32 { min + ((i * 7919 + seed * 104729) % 256) as i32 };
            let xq: Vec<i32> = (0..xl).map(|i| if i % 29 == 0 { xmin + 255 } else { code(i, ci, xmin) }).collect();
            let wq: Vec<i32> = (0..wl).map(|i| if i % 31 == 0 { wmin } else { code(i, ci + 50, wmin) }).collect();
            let xz = xmin + 97;
            let wz: Vec<i32> = if signed_x { vec![wmin + 200] } else { (0..k.m).map(|j| wmin + (3 + 41 * j as i32) % 256).collect() };
            // The naive sums, through the float `naive` loop on exact small integers (each term
            // and partial sum below 2^24 here, so f32 holds them exactly).
            let xf: Vec<f32> = xq.iter().map(|&v| (v - xz) as f32).collect();
            let per = wl / k.m;
            let wf: Vec<f32> = wq.iter().enumerate().map(|(i, &v)| (v - wz[if wz.len() == 1 { 0 } else { i / per }]) as f32).collect();
            let (shape, want) = naive(k, n, &xf, &wf, &vec![0.0; k.m]);
            let bound = want.iter().fold(0f32, |s, v| s.max(v.abs()));
            assert!(bound < (1 << 24) as f32, "case {ci}: the float naive loop must be exact");
            let (xv, wv, xzv, wzv) = if signed_x {
                let i8s = |v: &[i32]| v.iter().map(|&e| e as i8).collect::<Vec<_>>();
                let u8s = |v: &[i32]| v.iter().map(|&e| e as u8).collect::<Vec<_>>();
                (
                    Value::i8(xshape.clone(), i8s(&xq)),
                    Value::u8(wshape.clone(), u8s(&wq)),
                    Value::i8(vec![], vec![xz as i8]),
                    Value::u8(vec![], u8s(&wz)),
                )
            } else {
                let i8s = |v: &[i32]| v.iter().map(|&e| e as i8).collect::<Vec<_>>();
                let u8s = |v: &[i32]| v.iter().map(|&e| e as u8).collect::<Vec<_>>();
                (
                    Value::u8(xshape.clone(), u8s(&xq)),
                    Value::i8(wshape.clone(), i8s(&wq)),
                    Value::u8(vec![], vec![xz as u8]),
                    Value::i8(vec![k.m], i8s(&wz)),
                )
            };
            let ints = |v: &[usize]| v.iter().map(|&d| d as i64).collect::<Vec<_>>();
            let mut g = GraphBuilder::new(17);
            g.input("x", if signed_x { DType::I8 } else { DType::U8 }, &xshape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
            g.initializer("w", &wv).initializer("xz", &xzv).initializer("wz", &wzv);
            let attrs = vec![
                attr_int("group", k.group as i64),
                attr_ints("strides", &ints(&k.strides)),
                attr_ints("dilations", &ints(&k.dilations)),
                attr_ints("pads", &ints(&k.pads)),
            ];
            g.node("ConvInteger", "conv", &["x", "w", "xz", "wz"], &["y"], attrs);
            g.output("y", DType::I32, &[]);
            let model = Model::from_onnx(&g.build()).expect("loads");
            let got = model.run(&[("x", xv)]).expect("runs").remove(0).1;
            assert_eq!(got.shape(), shape.as_slice(), "case {ci}");
            let got = got.as_i32().expect("int32 output").to_vec();
            let want: Vec<i32> = want.iter().map(|&v| v as i32).collect();
            if let Some(i) = got.iter().zip(&want).position(|(g, w)| g != w) {
                panic!("case {ci} (signed x {signed_x}), element {i}: {} vs {}", got[i], want[i]);
            }
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn sigmoid_is_within_a_few_ulp_of_f64() {
    let mut xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.05).collect();
    xs.extend([0.0, -0.0, 1e-30, -1e-30, 87.0, -87.0, 88.5, -88.5, 89.0, -89.0, 200.0, -200.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(xs.len())]);
    g.node("Sigmoid", "s", &["x"], &["y"], vec![]);
    g.output("y", DType::F32, &[]);
    let model = Model::from_onnx(&g.build()).expect("loads");
    let y = model.run(&[("x", Value::f32(vec![xs.len()], xs.clone()))]).expect("runs").remove(0).1.to_f32_vec();
    for (&x, &v) in xs.iter().zip(&y) {
        if x.is_nan() {
            assert!(v.is_nan(), "sigmoid(NaN) = {v}");
            continue;
        }
        let want = 1.0 / (1.0 + (-(x as f64)).exp());
        // 4 ulp of the result, or 1e-37 absolute where the exact value is (almost) subnormal.
        let tol = (want * 4.0 * f32::EPSILON as f64).max(1e-37);
        assert!((v as f64 - want).abs() <= tol, "sigmoid({x}) = {v}, exact {want}");
    }
}

/// Conv chains the run plan fuses (`src/engine/src/fuse.rs`): Conv → BatchNormalization → Relu,
/// Conv → Clip, Conv → x·Sigmoid(x), and a Conv whose output is also a graph output (not fused).
/// `run` (the fused plan) against `run_observing` (the graph as loaded, node by node): the
/// activations bit for bit, the folded BatchNormalization to float rounding; and the profile
/// shows which nodes ran fused.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn fused_conv_chains_equal_the_graph() {
    use quantscope_engine::builder::attr_float;
    let (c, m, h, w) = (3, 5, 9, 10);
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(1), Some(c), Some(h), Some(w)]);
    for (k, name) in ["a", "b", "c", "d"].iter().enumerate() {
        g.initializer(
            &format!("w_{name}"),
            &Value::f32(
                vec![m, if k == 0 { c } else { m }, 3, 3],
                values(m * c.max(m) * 9, k)[..m * if k == 0 { c } else { m } * 9].to_vec(),
            ),
        );
        g.initializer(&format!("b_{name}"), &Value::f32(vec![m], values(m, k + 10)));
    }
    let pads = || attr_ints("pads", &[1, 1, 1, 1]);
    for (i, p) in ["scale", "bias", "mean", "var"].iter().enumerate() {
        let v: Vec<f32> = values(m, i + 20).iter().map(|v| if *p == "var" { v.abs() + 0.1 } else { *v }).collect();
        g.initializer(p, &Value::f32(vec![m], v));
    }
    g.initializer("lo", &Value::f32(vec![], vec![0.0])).initializer("hi", &Value::f32(vec![], vec![6.0]));
    g.node("Conv", "conv_a", &["x", "w_a", "b_a"], &["ya"], vec![pads()]);
    g.node("BatchNormalization", "bn", &["ya", "scale", "bias", "mean", "var"], &["na"], vec![attr_float("epsilon", 1e-3)]);
    g.node("Relu", "relu", &["na"], &["ra"], vec![]);
    g.node("Conv", "conv_b", &["ra", "w_b", "b_b"], &["yb"], vec![pads()]);
    g.node("Clip", "clip", &["yb", "lo", "hi"], &["rb"], vec![]);
    g.node("Conv", "conv_c", &["rb", "w_c", "b_c"], &["yc"], vec![pads()]);
    g.node("Sigmoid", "sig", &["yc"], &["sc"], vec![]);
    g.node("Mul", "silu", &["yc", "sc"], &["rc"], vec![]);
    g.node("Conv", "conv_d", &["rc", "w_d", "b_d"], &["yd"], vec![pads()]);
    g.node("Relu", "relu_d", &["yd"], &["rd"], vec![]);
    g.output("rd", DType::F32, &[]).output("yd", DType::F32, &[]).output("rc", DType::F32, &[]);
    let model = Model::from_onnx(&g.build()).expect("loads");
    let x = Value::f32(vec![1, c, h, w], values(c * h * w, 7));
    let fused = model.run(&[("x", x.clone())]).expect("runs");
    let graph = model.run_observing(&[("x", x.clone())], &mut |_, _| {}).expect("runs");
    for ((name, a), (_, b)) in fused.iter().zip(&graph) {
        let (a, b) = (a.to_f32_vec(), b.to_f32_vec());
        let scale = b.iter().fold(0f32, |s, v| s.max(v.abs()));
        for (i, (p, q)) in a.iter().zip(&b).enumerate() {
            assert!((p - q).abs() <= 1e-5 * scale, "{name}[{i}]: fused {p}, graph {q}");
        }
    }
    // Downstream of the folded BatchNormalization the values differ by rounding; the
    // activations themselves are exact: a model of conv_c's chain alone is bit for bit.
    let mut clock = || 0.0;
    let (_, times) = model.run_profiled(&[("x", x)], &mut clock).expect("runs");
    let ops: Vec<(&str, &str)> = times.iter().map(|t| (t.name.as_str(), t.op_type.as_str())).collect();
    assert_eq!(ops, [("conv_a", "FusedConv"), ("conv_b", "FusedConv"), ("conv_c", "FusedConv"), ("conv_d", "Conv"), ("relu_d", "Relu")]);

    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(1), Some(c), Some(h), Some(w)]);
    g.initializer("w", &Value::f32(vec![m, c, 3, 3], values(m * c * 9, 3))).initializer("b", &Value::f32(vec![m], values(m, 4)));
    g.node("Conv", "conv", &["x", "w", "b"], &["y"], vec![pads()]);
    g.node("Sigmoid", "sig", &["y"], &["s"], vec![]);
    g.node("Mul", "silu", &["s", "y"], &["z"], vec![]);
    g.output("z", DType::F32, &[]);
    let model = Model::from_onnx(&g.build()).expect("loads");
    let x = Value::f32(vec![1, c, h, w], values(c * h * w, 8));
    let fused = model.run(&[("x", x.clone())]).expect("runs").remove(0).1.to_f32_vec();
    let graph = model.run_observing(&[("x", x)], &mut |_, _| {}).expect("runs").remove(0).1.to_f32_vec();
    assert!(fused.iter().zip(&graph).all(|(a, b)| a.to_bits() == b.to_bits()), "SiLU fused differs from Sigmoid·Mul");
}

/// The HardSwish forms a Conv's epilogue takes (`src/engine/src/ops/conv_fuse.rs`): the
/// HardSwish op, x·HardSigmoid(x), and x·Clip(x + 3, 0, 6)/6 as paddle2onnx writes HardSwish
/// (its Add and Mul operands in either order): each fused run bit for bit equal to the graph's
/// nodes in sequence, and the profile showing one FusedConv. An Add constant of a higher rank
/// than the Conv's output (which broadcasts to a new shape) is left unfused.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn fused_conv_hard_swish_forms_equal_the_graph() {
    use quantscope_engine::builder::attr_float;
    let (c, m, h, w) = (3, 6, 7, 11);
    // (chain name, add constant's shape, whether it fuses)
    for (chain, add_shape, fuses) in [
        ("hardswish", vec![], true),
        ("hardsigmoid", vec![], true),
        ("parts", vec![], true),
        ("parts_swapped", vec![1], true),
        ("parts", vec![1, 1, 1, 1, 1], false),
    ] {
        let mut g = GraphBuilder::new(17);
        g.input("x", DType::F32, &[Some(1), Some(c), Some(h), Some(w)]);
        // Weights large enough that the outputs cross the clip bounds at −3 and 3.
        let wv: Vec<f32> = values(m * c * 9, 5).iter().map(|v| v * 4.0).collect();
        g.initializer("w", &Value::f32(vec![m, c, 3, 3], wv)).initializer("b", &Value::f32(vec![m], values(m, 6)));
        g.initializer("three", &Value::f32(add_shape.clone(), vec![3.0])).initializer("six", &Value::f32(vec![], vec![6.0]));
        g.initializer("zero", &Value::f32(vec![], vec![0.0]));
        g.node("Conv", "conv", &["x", "w", "b"], &["y"], vec![attr_ints("pads", &[1, 1, 1, 1])]);
        match chain {
            "hardswish" => {
                g.node("HardSwish", "act", &["y"], &["z"], vec![]);
            }
            "hardsigmoid" => {
                g.node("HardSigmoid", "hs", &["y"], &["s"], vec![attr_float("alpha", 0.25), attr_float("beta", 0.375)]);
                g.node("Mul", "act", &["y", "s"], &["z"], vec![]);
            }
            "parts" => {
                g.node("Add", "add", &["y", "three"], &["a"], vec![]);
                g.node("Clip", "clip", &["a", "zero", "six"], &["k"], vec![]);
                g.node("Mul", "mul", &["y", "k"], &["p"], vec![]);
                g.node("Div", "act", &["p", "six"], &["z"], vec![]);
            }
            _ => {
                g.node("Add", "add", &["three", "y"], &["a"], vec![]);
                g.node("Clip", "clip", &["a", "zero", "six"], &["k"], vec![]);
                g.node("Mul", "mul", &["k", "y"], &["p"], vec![]);
                g.node("Div", "act", &["p", "six"], &["z"], vec![]);
            }
        }
        g.output("z", DType::F32, &[]);
        let model = Model::from_onnx(&g.build()).expect("loads");
        let x = Value::f32(vec![1, c, h, w], values(c * h * w, 9));
        let fused = model.run(&[("x", x.clone())]).expect("runs").remove(0).1;
        let graph = model.run_observing(&[("x", x.clone())], &mut |_, _| {}).expect("runs").remove(0).1;
        assert_eq!(fused.shape(), graph.shape(), "{chain}");
        let (a, b) = (fused.to_f32_vec(), graph.to_f32_vec());
        assert!(b.contains(&0.0) && b.iter().any(|&v| v > 3.0), "{chain}: the case must reach both clip bounds");
        for (i, (p, q)) in a.iter().zip(&b).enumerate() {
            assert_eq!(p.to_bits(), q.to_bits(), "{chain}[{i}]: fused {p}, graph {q}");
        }
        let mut clock = || 0.0;
        let (_, times) = model.run_profiled(&[("x", x)], &mut clock).expect("runs");
        let ops: Vec<&str> = times.iter().map(|t| t.op_type.as_str()).collect();
        assert_eq!(ops == ["FusedConv"], fuses, "{chain} {add_shape:?}: ran {ops:?}");
    }
}

/// The int8 variants' Conv chains (`QuantConv::fuse_chain`, `src/engine/src/ops/quantized.rs`):
/// QuantConv → [BatchNormalization] → [Relu | Clip | HardSwish | x·Sigmoid(x) | x·Clip(x + 3, 0,
/// 6)/6] runs as one FusedQuantConv that normalizes and activates each channel's row as it is
/// rescaled. Unlike the float Conv's, the BatchNormalization is not folded into the (integer)
/// weights, so every fused output equals the graph's nodes run one by one bit for bit: dynamic
/// and static activations, per-tensor and per-channel weights, a grouped (depthwise) Conv, a
/// BatchNormalization alone, and a Conv whose output is also a graph output (left unfused).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn fused_quant_conv_chains_equal_the_graph_bit_for_bit() {
    use quantscope_core::schemes::int::calibration::Calibration;
    use quantscope_engine::builder::attr_float;
    use quantscope_engine::{QuantizeConfig, QuantizeKind};
    let (c, m, h, w) = (4, 6, 9, 11);
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(1), Some(c), Some(h), Some(w)]);
    // conv name, input, weight channels, group, then what follows it
    let convs = [("a", "x", c, 1), ("b", "ra", m, m), ("c", "rb", m, 1), ("d", "rc", m, 2), ("e", "rd", m, 1), ("f", "re", m, 1)];
    for (k, (name, _, cin, group)) in convs.iter().enumerate() {
        let per = cin / group * 9;
        let wv: Vec<f32> = values(m * per, k + 30).iter().map(|v| v * 3.0).collect();
        g.initializer(&format!("w_{name}"), &Value::f32(vec![m, per / 9, 3, 3], wv));
        g.initializer(&format!("b_{name}"), &Value::f32(vec![m], values(m, k + 40)));
    }
    for (i, p) in ["scale", "bias", "mean", "var"].iter().enumerate() {
        let v: Vec<f32> = values(m, i + 50).iter().map(|v| if *p == "var" { v.abs() + 0.1 } else { *v * 2.0 }).collect();
        g.initializer(p, &Value::f32(vec![m], v));
    }
    g.initializer("zero", &Value::f32(vec![], vec![0.0])).initializer("six", &Value::f32(vec![], vec![6.0]));
    g.initializer("three", &Value::f32(vec![], vec![3.0]));
    for (name, x, _, group) in convs {
        let attrs = vec![attr_ints("pads", &[1, 1, 1, 1]), attr_int("group", group as i64)];
        g.node("Conv", &format!("conv_{name}"), &[x, &format!("w_{name}"), &format!("b_{name}")], &[&format!("y{name}")], attrs);
    }
    let bn = |g: &mut GraphBuilder, x: &str, y: &str| {
        g.node("BatchNormalization", &format!("bn_{x}"), &[x, "scale", "bias", "mean", "var"], &[y], vec![attr_float("epsilon", 1e-3)]);
    };
    bn(&mut g, "ya", "na");
    g.node("Relu", "relu_a", &["na"], &["ra"], vec![]);
    bn(&mut g, "yb", "nb");
    g.node("HardSwish", "hs_b", &["nb"], &["rb"], vec![]);
    bn(&mut g, "yc", "rc");
    g.node("Clip", "clip_d", &["yd", "zero", "six"], &["rd"], vec![]);
    g.node("Sigmoid", "sig_e", &["ye"], &["se"], vec![]);
    g.node("Mul", "silu_e", &["se", "ye"], &["re"], vec![]);
    g.node("Add", "add_f", &["yf", "three"], &["af"], vec![]);
    g.node("Clip", "clip_f", &["af", "zero", "six"], &["kf"], vec![]);
    g.node("Mul", "mul_f", &["yf", "kf"], &["pf"], vec![]);
    g.node("Div", "div_f", &["pf", "six"], &["rf"], vec![]);
    g.node("Relu", "relu_g", &["re"], &["rg"], vec![]);
    g.output("rf", DType::F32, &[]).output("rg", DType::F32, &[]).output("ye", DType::F32, &[]);
    let model = Model::from_onnx(&g.build()).expect("loads");
    let x = Value::f32(vec![1, c, h, w], values(c * h * w, 60).iter().map(|v| v * 2.0).collect());
    let batches = vec![vec![("x".to_string(), x.clone())]];
    let kinds = [
        QuantizeKind::Int8Dynamic { per_channel: false },
        QuantizeKind::Int8Dynamic { per_channel: true },
        QuantizeKind::Int8Static { per_channel: true, calibration: Calibration::MinMax, inputs: batches },
    ];
    for kind in kinds {
        let q = model.quantize(&QuantizeConfig::new(kind.clone())).expect("quantizes");
        let fused = q.run(&[("x", x.clone())]).expect("runs");
        let graph = q.run_observing(&[("x", x.clone())], &mut |_, _| {}).expect("runs");
        for ((name, a), (_, b)) in fused.iter().zip(&graph) {
            let (a, b) = (a.to_f32_vec(), b.to_f32_vec());
            let clipped = b.contains(&0.0) && b.iter().any(|&v| v > 3.0);
            assert!(clipped || name == "ye", "{kind:?} {name}: the case must reach the clip bounds");
            for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                assert_eq!(p.to_bits(), q.to_bits(), "{kind:?} {name}[{i}]: fused {p}, graph {q}");
            }
        }
        let mut clock = || 0.0;
        let (_, times) = q.run_profiled(&[("x", x.clone())], &mut clock).expect("runs");
        let ops: Vec<(&str, &str)> = times.iter().map(|t| (t.name.as_str(), t.op_type.as_str())).collect();
        let want = [
            ("conv_a", "FusedQuantConv"),
            ("conv_b", "FusedQuantConv"),
            ("conv_c", "FusedQuantConv"),
            ("conv_d", "FusedQuantConv"),
            ("conv_e", "QuantConv"),
            ("sig_e", "Sigmoid"),
            ("silu_e", "Mul"),
            ("conv_f", "FusedQuantConv"),
            ("relu_g", "Relu"),
        ];
        assert_eq!(ops, want, "{kind:?}");
    }
}

/// Scalar steps around a Conv's activation (`src/engine/src/ops/conv_fuse.rs`: an Add, Sub, Mul
/// or Div by a one-element constant, as paddle2onnx writes PP-LCNetV3's learnable affine blocks,
/// `y·s + b` before and after each HardSwish), fused into the float Conv and the int8 variants'
/// QuantConv: each run bit for bit equal to the graph's nodes in sequence. A Conv whose steps
/// run past four (`Steps::MAX`) fuses the first four; a constant of a higher rank than the Conv's
/// output (a broadcast to a new shape) ends the chain.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn fused_conv_scalar_steps_equal_the_graph() {
    use quantscope_engine::{QuantizeConfig, QuantizeKind};
    let (c, m, h, w) = (3, 6, 7, 11);
    let mut g = GraphBuilder::new(17);
    g.input("x", DType::F32, &[Some(1), Some(c), Some(h), Some(w)]);
    for (k, (name, cin)) in [("a", c), ("b", m), ("c", m)].into_iter().enumerate() {
        let wv: Vec<f32> = values(m * cin * 9, k + 70).iter().map(|v| v * 4.0).collect();
        g.initializer(&format!("w_{name}"), &Value::f32(vec![m, cin, 3, 3], wv));
        g.initializer(&format!("b_{name}"), &Value::f32(vec![m], values(m, k + 80)));
    }
    for (name, v) in [("s", 1.25f32), ("t", -0.375), ("u", 0.8125), ("three", 3.0), ("zero", 0.0), ("six", 6.0)] {
        g.initializer(name, &Value::f32(vec![1], vec![v]));
    }
    g.initializer("wide", &Value::f32(vec![1, 1, 1, 1, 1], vec![0.5]));
    let pads = || vec![attr_ints("pads", &[1, 1, 1, 1])];
    // a: Mul (constant first), Add, HardSwish as paddle2onnx writes it, Mul, Add.
    g.node("Conv", "conv_a", &["x", "w_a", "b_a"], &["ya"], pads());
    g.node("Mul", "mul_a", &["s", "ya"], &["ma"], vec![]);
    g.node("Add", "add_a", &["ma", "t"], &["aa"], vec![]);
    g.node("Add", "hs_add", &["aa", "three"], &["ha"], vec![]);
    g.node("Clip", "hs_clip", &["ha", "zero", "six"], &["ka"], vec![]);
    g.node("Mul", "hs_mul", &["aa", "ka"], &["pa"], vec![]);
    g.node("Div", "hs_div", &["pa", "six"], &["qa"], vec![]);
    g.node("Mul", "mul_a2", &["qa", "u"], &["ra"], vec![]);
    g.node("Add", "add_a2", &["t", "ra"], &["za"], vec![]);
    // b: five steps and no activation: the fifth is left a node.
    g.node("Conv", "conv_b", &["za", "w_b", "b_b"], &["yb"], pads());
    g.node("Sub", "sub_b", &["yb", "t"], &["sb"], vec![]);
    g.node("Div", "div_b", &["sb", "u"], &["db"], vec![]);
    g.node("Mul", "mul_b", &["db", "s"], &["mb"], vec![]);
    g.node("Add", "add_b", &["mb", "three"], &["ab"], vec![]);
    g.node("Mul", "mul_b2", &["ab", "u"], &["zb"], vec![]);
    // c: Relu, then a step whose constant broadcasts to rank 5 (not fused).
    g.node("Conv", "conv_c", &["zb", "w_c", "b_c"], &["yc"], pads());
    g.node("Relu", "relu_c", &["yc"], &["rc"], vec![]);
    g.node("Mul", "mul_c", &["rc", "wide"], &["zc"], vec![]);
    g.output("zc", DType::F32, &[]);
    let model = Model::from_onnx(&g.build()).expect("loads");
    let x = Value::f32(vec![1, c, h, w], values(c * h * w, 90));
    for kind in [None, Some(QuantizeKind::Int8Dynamic { per_channel: false })] {
        let model = match &kind {
            None => model.clone(),
            Some(k) => model.quantize(&QuantizeConfig::new(k.clone())).expect("quantizes"),
        };
        let fused = model.run(&[("x", x.clone())]).expect("runs").remove(0).1;
        let graph = model.run_observing(&[("x", x.clone())], &mut |_, _| {}).expect("runs").remove(0).1;
        assert_eq!(fused.shape(), graph.shape());
        let (a, b) = (fused.to_f32_vec(), graph.to_f32_vec());
        for (i, (p, q)) in a.iter().zip(&b).enumerate() {
            assert_eq!(p.to_bits(), q.to_bits(), "{kind:?} [{i}]: fused {p}, graph {q}");
        }
        let mut clock = || 0.0;
        let (_, times) = model.run_profiled(&[("x", x.clone())], &mut clock).expect("runs");
        let ops: Vec<&str> = times.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(ops, ["conv_a", "conv_b", "mul_b2", "conv_c", "mul_c"], "{kind:?}");
    }
}

/// The int8 variant's Conv (its weights packed on the first run and kept: W as the panel path's
/// A, or Wᵀ for few output positions) equals ONNX Runtime's dynamic graph run op by op —
/// DynamicQuantizeLinear → ConvInteger → Cast → Mul → Add — bit for bit, on two runs. (That
/// ConvInteger packs W on every run; its kernels are held to a naive loop above.) The weights
/// are integers up to ±127, so their int8 codes are themselves (scale 1).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn quant_conv_over_few_positions_equals_the_dynamic_graph() {
    use quantscope_engine::{QuantizeConfig, QuantizeKind};
    for (ci, k) in cases().iter().enumerate().filter(|(_, k)| k.input.len() < 3 && k.group < k.c) {
        let mut xshape = vec![1, k.c];
        xshape.extend(&k.input);
        let mut wshape = vec![k.m, k.c / k.group];
        wshape.extend(&k.kernel);
        let wl: usize = wshape.iter().product();
        let w: Vec<f32> = (0..wl).map(|i| if i == 0 { 127.0 } else { ((i * 7919 + ci) % 255) as f32 - 127.0 }).collect();
        let b = values(k.m, ci + 99);
        let x = values(xshape.iter().product(), ci + 7);
        let ints = |v: &[usize]| v.iter().map(|&d| d as i64).collect::<Vec<_>>();
        let attrs = || {
            vec![
                attr_int("group", k.group as i64),
                attr_ints("strides", &ints(&k.strides)),
                attr_ints("dilations", &ints(&k.dilations)),
                attr_ints("pads", &ints(&k.pads)),
            ]
        };
        let input = |g: &mut GraphBuilder| {
            g.input("x", DType::F32, &xshape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
        };
        let mut g = GraphBuilder::new(17);
        input(&mut g);
        g.initializer("w", &Value::f32(wshape.clone(), w.clone())).initializer("b", &Value::f32(vec![k.m], b.clone()));
        g.node("Conv", "conv", &["x", "w", "b"], &["y"], attrs());
        g.output("y", DType::F32, &[]);
        let q =
            Model::from_onnx(&g.build()).expect("loads").quantize(&QuantizeConfig::new(QuantizeKind::Int8Dynamic { per_channel: false }));
        let q = q.expect("quantizes");
        let mut g = GraphBuilder::new(17);
        input(&mut g);
        g.initializer("wq", &Value::i8(wshape.clone(), w.iter().map(|&v| v as i8).collect()));
        g.initializer("b", &Value::f32(vec![1, k.m].into_iter().chain(k.input.iter().map(|_| 1)).collect(), b.clone()));
        g.node("DynamicQuantizeLinear", "dq", &["x"], &["xq", "xs", "xz"], vec![]);
        g.node("ConvInteger", "conv", &["xq", "wq", "xz"], &["acc"], attrs());
        g.node("Cast", "cast", &["acc"], &["accf"], vec![attr_int("to", 1)]);
        g.node("Mul", "mul", &["accf", "xs"], &["scaled"], vec![]);
        g.node("Add", "add", &["scaled", "b"], &["y"], vec![]);
        g.output("y", DType::F32, &[]);
        let graph = Model::from_onnx(&g.build()).expect("loads");
        let feed = [("x", Value::f32(xshape.clone(), x.clone()))];
        let want = graph.run(&feed).expect("runs").remove(0).1.to_f32_vec();
        for run in 0..2 {
            let got = q.run(&feed).expect("runs").remove(0).1.to_f32_vec();
            let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same && got.len() == want.len(), "case {ci}, run {run}: {got:?} vs {want:?}");
        }
    }
}

/// The 3×3 stride-1 Convs with 8 or more input and output channels per group, which run by
/// Winograd's F(2×2, 3×3) (`src/engine/src/ops/winograd.rs`): within a few roundings of the
/// naive loop, `|Δ| ≤ 2·kk·ε·Σ|w·x|` per element (kk = 9·C/group terms; the worst seen is
/// printed), over odd output sizes (a tile cut at the edge), asymmetric and no padding, more
/// tiles than one block of 128 (in blocks of whole tile rows), groups, output channels not a multiple of four, batch 2, and
/// the second run (weights transformed once). An input or weight that is not finite takes the
/// direct path: then bit for bit.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn winograd_conv_is_within_rounding_of_a_naive_loop() {
    let cases = [
        case((16, 16, 1), &[9, 11], &[3, 3], &[1, 1], &[1, 1], &[1, 1, 1, 1]),
        case((17, 21, 1), &[19, 14], &[3, 3], &[1, 1], &[1, 1], &[0, 1, 2, 0]),
        case((16, 18, 1), &[6, 5], &[3, 3], &[1, 1], &[1, 1], &[0, 0, 0, 0]),
        case((32, 34, 2), &[7, 8], &[3, 3], &[1, 1], &[1, 1], &[1, 1, 1, 1]),
        case((8, 12, 1), &[30, 20], &[3, 3], &[1, 1], &[1, 1], &[1, 1, 1, 1]),
    ];
    let ints = |v: &[usize]| v.iter().map(|&d| d as i64).collect::<Vec<_>>();
    let mut worst = 0f64;
    for (ci, k) in cases.iter().enumerate() {
        for poison in [None, Some("x"), Some("w")] {
            let n = 2;
            let xshape = vec![n, k.c, k.input[0], k.input[1]];
            let wshape = vec![k.m, k.c / k.group, 3, 3];
            let mut x = values(xshape.iter().product(), ci + 7);
            let mut w = values(wshape.iter().product(), ci + 57);
            let b = values(k.m, ci + 99);
            // An infinity in the first and last channel of each image (each image's groups
            // choose their path).
            let image = x.len() / 2;
            match poison {
                Some("x") => {
                    for at in [5, image - 6, image + 5, 2 * image - 6] {
                        x[at] = if at % 2 == 0 { f32::INFINITY } else { f32::NEG_INFINITY };
                    }
                }
                Some(_) => {
                    let last = w.len() - 5;
                    w[5] = f32::NAN;
                    w[last] = f32::NAN;
                }
                None => {}
            }
            let mut g = GraphBuilder::new(17);
            g.input("x", DType::F32, &xshape.iter().map(|&d| Some(d)).collect::<Vec<_>>());
            g.initializer("w", &Value::f32(wshape.clone(), w.clone())).initializer("b", &Value::f32(vec![k.m], b.clone()));
            let attrs = vec![attr_int("group", k.group as i64), attr_ints("pads", &ints(&k.pads))];
            g.node("Conv", "conv", &["x", "w", "b"], &["y"], attrs);
            g.output("y", DType::F32, &[]);
            let model = Model::from_onnx(&g.build()).expect("loads");
            let run = || model.run(&[("x", Value::f32(xshape.clone(), x.clone()))]).expect("runs").remove(0).1;
            let (got, again) = (run(), run());
            let (shape, want) = naive(k, n, &x, &w, &b);
            assert_eq!(got.shape(), shape.as_slice(), "case {ci}");
            let (got, again) = (got.to_f32_vec(), again.to_f32_vec());
            assert!(got.iter().zip(&again).all(|(a, b)| a.to_bits() == b.to_bits()), "case {ci}: the second run");
            if poison.is_some() {
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g.to_bits(), w.to_bits(), "case {ci} ({poison:?} not finite), element {i}: {g} vs {w}");
                }
                continue;
            }
            let abs = |v: &[f32]| v.iter().map(|e| e.abs()).collect::<Vec<_>>();
            let (_, bound) = naive(k, n, &abs(&x), &abs(&w), &vec![0.0; k.m]);
            let kk = (k.c / k.group * 9) as f64;
            for (i, ((g, w), s)) in got.iter().zip(&want).zip(&bound).enumerate() {
                let ratio = (g - w).abs() as f64 / (kk * f32::EPSILON as f64 * *s as f64);
                worst = worst.max(ratio);
                assert!(ratio <= 2.0, "case {ci}, element {i}: {g} vs {w} ({ratio} of kk·ε·Σ|w·x|)");
            }
        }
    }
    eprintln!("winograd: worst |Δ| = {worst:.4} kk·ε·Σ|w·x|");
}

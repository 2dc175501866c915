//! The conv net (src/train/src/conv.rs) against torch 1.13 (fixture: scripts/fixtures/make_train_conv.py
//! → tests/fixtures/train/conv.npz, conv_lsq.npz): one forward/backward, three SGD and Adam steps,
//! a QAT pass, LSQ steps, the gradients against finite differences, and the shapes it refuses.
//!
//! Tolerance: as torch_step.rs, every value within 1e-5·(1 + |torch's|): the convolutions are sums
//! of up to 200 products that torch (im2col + a blocked GEMM) adds in another order than our rows.

mod common;

use quantscope_train::conv::{Conv2d, ConvNet, ConvTape, Layer, Shape, DIGIT};
use quantscope_train::loss::softmax_cross_entropy;
use quantscope_train::mlp::{Linear, Node};
use quantscope_train::optim::{Optimizer, OptimizerKind};
use quantscope_train::rng::SplitMix64;
use quantscope_train::Error;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// The batch is 8 digits ([8, 1, 28, 28]) and their labels.
fn fixture() -> common::Npz {
    common::Npz::parse(include_bytes!("../../../tests/fixtures/train/conv.npz"))
}

fn close(what: &str, ours: &[f32], torch: &[f32]) -> f32 {
    assert_eq!(ours.len(), torch.len(), "{what}: lengths");
    let mut worst = 0f32;
    for (i, (&a, &b)) in ours.iter().zip(torch).enumerate() {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{what}[{i}]: {a} here, {b} in torch");
        worst = worst.max((a - b).abs());
    }
    worst
}

/// The page's conv net with the fixture's parameters (`prefix` "sgd." etc. for those after steps).
fn torch_net(f: &common::Npz, prefix: &str) -> ConvNet {
    let mut net = ConvNet::digits(0);
    for (i, p) in net.params_mut().into_iter().enumerate() {
        let v = f.get(&format!("{prefix}p{i}"));
        assert_eq!(p.len(), v.len(), "parameter {i}");
        p.copy_from_slice(v);
    }
    net
}

fn labels(f: &common::Npz) -> Vec<u8> {
    f.get("y").iter().map(|&v| v as u8).collect()
}

fn forward_backward(net: &ConvNet, x: &[f32], y: &[u8], tape: &mut ConvTape) -> (f32, Vec<Vec<f32>>) {
    forward_backward_qat(net, None, x, y, tape)
}

fn forward_backward_qat(
    net: &ConvNet,
    qat: Option<&mut quantscope_train::mlp::Qat>,
    x: &[f32],
    y: &[u8],
    tape: &mut ConvTape,
) -> (f32, Vec<Vec<f32>>) {
    net.forward(x, y.len(), qat, tape);
    let mut grad_logits = vec![0.0; tape.logits().len()];
    let loss = softmax_cross_entropy(tape.logits(), y, 10, &mut grad_logits);
    let mut grads = net.zero_grads();
    net.backward(tape, &grad_logits, &mut grads);
    (loss, grads)
}

#[test]
fn the_digits_net_has_torchs_shapes_and_parameter_order() {
    let f = fixture();
    let net = ConvNet::digits(1);
    let shapes: Vec<Vec<usize>> = (0..6).map(|i| f.shape(&format!("p{i}")).to_vec()).collect();
    assert_eq!(shapes, [vec![8, 1, 5, 5], vec![8], vec![16, 8, 5, 5], vec![16], vec![10, 256], vec![10]]);
    let lens: Vec<usize> = net.params().iter().map(|p| p.len()).collect();
    assert_eq!(lens, shapes.iter().map(|s| s.iter().product()).collect::<Vec<usize>>());
    assert_eq!(net.parameter_count(), 5994);
    assert_eq!((net.input_size(), net.classes()), (784, 10));
}

#[test]
fn initialisation_is_conv2ds_kaiming_uniform_bound() {
    // nn.Conv2d: U(−1/√fan_in, 1/√fan_in) for weight and bias, fan_in = in·k·k (25, then 200).
    let net = ConvNet::digits(7);
    let params = net.params();
    for (i, fan_in) in [(0, 25.0f32), (1, 25.0), (2, 200.0), (3, 200.0), (4, 256.0), (5, 256.0)] {
        let bound = 1.0 / fan_in.sqrt();
        let max = params[i].iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max <= bound && max > 0.8 * bound, "parameter {i}: max |v| {max}, bound {bound}");
    }
    assert_eq!(ConvNet::digits(7), net, "same seed, same weights");
    assert_ne!(ConvNet::digits(8), net);
}

#[test]
fn one_forward_and_backward_equal_torch() {
    let f = fixture();
    let net = torch_net(&f, "");
    let mut tape = ConvTape::default();
    let (loss, grads) = forward_backward(&net, f.get("x"), &labels(&f), &mut tape);
    let mut worst = close("logits", tape.logits(), f.get("logits"));
    worst = worst.max(close("loss", &[loss], f.get("loss")));
    for (i, g) in grads.iter().enumerate() {
        worst = worst.max(close(&format!("grad {i}"), g, f.get(&format!("grad{i}"))));
    }
    eprintln!("conv net forward/backward: max |diff| from torch {worst:e}");
}

#[test]
fn three_sgd_and_adam_steps_equal_torch() {
    let f = fixture();
    let optimizers = [
        ("sgd", OptimizerKind::Sgd { lr: 0.05, momentum: 0.9, dampening: 0.0, weight_decay: 1e-3, nesterov: false }),
        ("adam", OptimizerKind::Adam { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-3 }),
    ];
    for (name, kind) in optimizers {
        let mut net = torch_net(&f, "");
        let mut optimizer = Optimizer::new(kind).unwrap();
        let mut tape = ConvTape::default();
        for _ in 0..3 {
            let (_, grads) = forward_backward(&net, f.get("x"), &labels(&f), &mut tape);
            optimizer.step_tensors(net.params_mut(), grads.iter().collect());
        }
        let mut worst = 0f32;
        for (i, p) in net.params().iter().enumerate() {
            worst = worst.max(close(&format!("{name}: parameter {i}"), p, f.get(&format!("{name}.p{i}"))));
        }
        eprintln!("conv net, 3 {name} steps: max |diff| from torch {worst:e}");
    }
}

/// torch.ao's eager QAT of the net at 4 bits (prepare_qat after fuse_modules_qat; see the
/// fixture script): the nodes' scales and zero points after two passes, and the second pass's
/// logits, loss and gradients through the straight-through masks.
#[test]
fn a_qat_pass_equals_torchs_prepare_qat() {
    let f = fixture();
    let net = torch_net(&f, "");
    let (weight, activation) = common::qat_specs(4);
    let mut qat = net.qat(weight, activation).unwrap();
    assert_eq!(net.activation_points(), [1, 4, 7], "after each fused ReLU, and after the Linear");
    let mut tape = ConvTape::default();
    let (mut loss, mut grads) = (0.0, Vec::new());
    for _ in 0..2 {
        (loss, grads) = forward_backward_qat(&net, Some(&mut qat), f.get("x"), &labels(&f), &mut tape);
    }
    let nodes = std::iter::once(("input".to_string(), &qat.input))
        .chain(qat.weights.iter().enumerate().map(|(i, n)| (format!("w{i}"), n)))
        .chain(qat.activations.iter().enumerate().map(|(i, n)| (format!("a{i}"), n)));
    for (name, node) in nodes {
        let Node::Observed(node) = node else { panic!("{name} is not a FakeQuantize") };
        close(&format!("{name} scale"), &node.scale, f.get(&format!("qat.{name}.scale")));
        assert_eq!(node.zero_point, f.ints(&format!("qat.{name}.zero_point")), "{name} zero point");
    }
    let mut worst = close("QAT logits", tape.logits(), f.get("qat.logits"));
    worst = worst.max(close("QAT loss", &[loss], f.get("qat.loss")));
    for (i, g) in grads.iter().enumerate() {
        worst = worst.max(close(&format!("QAT grad {i}"), g, f.get(&format!("qat.grad{i}"))));
    }
    // The masks matter: the fake-quant gradients differ from the float ones.
    let (_, float_grads) = forward_backward(&net, f.get("x"), &labels(&f), &mut ConvTape::default());
    assert!(grads.iter().zip(&float_grads).any(|(q, g)| q.iter().zip(g).any(|(a, b)| (a - b).abs() > 1e-3)));
    eprintln!("conv net QAT pass: max |diff| from torch {worst:e}");
}

/// LSQ of the net at 4 bits as torch's `_LearnableFakeQuantize` at prepare_qat's places (see the
/// fixture script): a static-estimate step, then two learning steps (one Adam over weights and
/// qparams); the first learning step's logits, loss, weight and bias gradients, the nodes' scales
/// and zero points and their gradients, and every parameter after the last step. The scale
/// gradients are sums over up to 37,000 terms that torch reduces in its own order: within
/// 1e-5·(1 + |torch's|), as the rest.
#[test]
fn lsq_steps_equal_torchs_learnable_fake_quantize() {
    let (f, l) = (fixture(), common::conv_lsq());
    let mut net = torch_net(&f, "");
    let (weight, activation) = common::qat_specs(4);
    let mut qat = net.qat_learned(weight, activation, true).unwrap();
    let (mut weights_opt, mut qparams_opt) =
        (Optimizer::new(OptimizerKind::adam(1e-2)).unwrap(), Optimizer::new(OptimizerKind::adam(1e-2)).unwrap());
    let (x, y) = (f.get("x"), labels(&f));
    let names = ["input", "w0", "w1", "w2", "a0", "a1", "a2"];
    let mut tape = ConvTape::default();
    let mut worst = 0f32;
    for s in 0..3 {
        if s == 1 {
            qat.enable_param_learning();
        }
        net.forward(x, y.len(), Some(&mut qat), &mut tape);
        let mut grad_logits = vec![0.0; tape.logits().len()];
        let loss = softmax_cross_entropy(tape.logits(), &y, 10, &mut grad_logits);
        let (mut grads, mut qgrads) = (net.zero_grads(), qat.zero_learned_grads());
        net.backward_learned(&tape, &grad_logits, &mut grads, &qat, &mut qgrads);
        if s == 1 {
            worst = worst.max(close("LSQ logits", tape.logits(), l.get("logits")));
            worst = worst.max(close("LSQ loss", &[loss], l.get("loss")));
            for (i, g) in grads.iter().enumerate() {
                worst = worst.max(close(&format!("LSQ grad {i}"), g, l.get(&format!("grad{i}"))));
            }
            for (k, (name, node)) in names.iter().zip(qat.nodes()).enumerate() {
                let Node::Learned(n) = node else { panic!("{name} is not learned") };
                worst = worst.max(close(&format!("{name} scale"), &n.scale, l.get(&format!("{name}.scale"))));
                assert_eq!(n.zero_point, l.get(&format!("{name}.zero_point")), "{name} zero point");
                worst = worst.max(close(&format!("{name} d scale"), &qgrads[2 * k], l.get(&format!("{name}.dscale"))));
                worst = worst.max(close(&format!("{name} d zero point"), &qgrads[2 * k + 1], l.get(&format!("{name}.dzero"))));
            }
            assert!(qgrads.iter().step_by(2).all(|g| g.iter().any(|&v| v != 0.0)), "every node's scale learns");
        }
        weights_opt.step_tensors(net.params_mut(), grads.iter().collect());
        if qat.learning() {
            qparams_opt.step_tensors(qat.learned_params_mut(), qgrads.iter().collect());
        }
    }
    for (i, p) in net.params().iter().enumerate() {
        worst = worst.max(close(&format!("parameter {i} after"), p, l.get(&format!("after.p{i}"))));
    }
    for (name, node) in names.iter().zip(qat.nodes()) {
        let Node::Learned(n) = node else { unreachable!() };
        worst = worst.max(close(&format!("{name} scale after"), &n.scale, l.get(&format!("after.{name}.scale"))));
        worst = worst.max(close(&format!("{name} zero point after"), &n.zero_point, l.get(&format!("after.{name}.zero_point"))));
    }
    eprintln!("conv net LSQ steps: max |diff| from torch {worst:e}");
}

/// Central differences in f64 of the f32 loss, as torch_step.rs, for sampled parameters of every
/// tensor. The loss is piecewise smooth: where ±h moves a ReLU input across 0 or changes a pool's
/// maximum, the difference quotient measures the kink, not the gradient, so those samples (found by
/// comparing the two forwards' ReLU patterns and pool choices) are skipped; most must remain.
#[test]
fn gradients_equal_finite_differences() {
    let f = fixture();
    // Two digits: fewer units, so fewer of them sit within h of a kink.
    let (x, y) = (&f.get("x")[..2 * 784], &labels(&f)[..2]);
    let net = torch_net(&f, "");
    let mut tape = ConvTape::default();
    let (_, grads) = forward_backward(&net, x, y, &mut tape);
    let h = 1e-3f32;
    let relu_inputs: Vec<usize> = (0..net.layers.len()).filter(|&i| net.layers[i] == Layer::Relu).collect();
    let pattern = |t: &ConvTape| {
        let relu: Vec<bool> = relu_inputs.iter().flat_map(|&i| &t.acts[i]).map(|&v| v > 0.0).collect();
        (relu, t.argmax.clone())
    };
    let (mut checked, mut kinks) = (0, 0);
    for (t, g) in grads.iter().enumerate() {
        for k in (0..g.len()).step_by(g.len() / 16 + 1) {
            let at = |delta: f32| {
                let mut m = net.clone();
                m.params_mut()[t][k] += delta;
                let mut tape = ConvTape::default();
                let loss = forward_backward(&m, x, y, &mut tape).0 as f64;
                (loss, pattern(&tape))
            };
            let ((plus, p1), (minus, p2)) = (at(h), at(-h));
            if p1 != p2 {
                kinks += 1;
                continue;
            }
            let numeric = (plus - minus) / (2.0 * h as f64);
            let analytic = g[k] as f64;
            // f32 losses near 2.4 carry ~3e-7 of rounding, /2h → 1.5e-4.
            assert!((numeric - analytic).abs() <= 3e-4 + 1e-2 * analytic.abs(), "tensor {t}[{k}]: {analytic} vs {numeric}");
            checked += 1;
        }
    }
    eprintln!("finite differences: {checked} checked, {kinks} across a kink skipped");
    assert!(checked >= 40 && checked > kinks, "{checked} checked, {kinks} skipped");
}

/// Max pooling passes the gradient to the first maximum of each window, as torch's CPU kernel.
#[test]
fn max_pool_routes_gradients_to_the_first_maximum() {
    // One 1×4×4 plane, pool 2: windows with a tie (first wins) and with the max last.
    let x = [1.0, 3.0, 0.5, 0.5, 3.0, 2.0, 0.5, 0.7, 0.0, 0.0, 9.0, 1.0, 0.0, 4.0, 1.0, 9.5];
    let mut rng = SplitMix64::new(3);
    let fc = Linear::kaiming_uniform(4, 2, &mut rng);
    let net =
        ConvNet::new(Shape { channels: 1, height: 4, width: 4 }, vec![Layer::MaxPool2d(2), Layer::Flatten, Layer::Linear(fc.clone())])
            .unwrap();
    let mut tape = ConvTape::default();
    net.forward(&x, 1, None, &mut tape);
    assert_eq!(tape.acts[1], [3.0, 0.7, 4.0, 9.5]);
    // The pooled values' gradient is Wᵀ·g; it lands on x[1], x[7], x[13], x[15].
    let g = [1.0f32, -2.0];
    let mut grads = net.zero_grads();
    net.backward(&tape, &g, &mut grads);
    assert_eq!(grads[1], g, "the bias gradient is the logits' gradient");
    assert_eq!(grads[0][..4], [3.0, 0.7, 4.0, 9.5], "the weight gradient of row 0 is the pooled input");
}

#[test]
fn shapes_that_do_not_fit_are_refused() {
    let mut rng = SplitMix64::new(1);
    let conv = |i, o, k, rng: &mut SplitMix64| Layer::Conv2d(Conv2d::kaiming_uniform(i, o, k, rng));
    let fc = |i, o, rng: &mut SplitMix64| Layer::Linear(Linear::kaiming_uniform(i, o, rng));
    let cases: Vec<(Vec<Layer>, &str)> = vec![
        (vec![conv(3, 4, 5, &mut rng), Layer::Flatten, fc(4 * 24 * 24, 10, &mut rng)], "of 3 input channels gets 1"),
        (vec![conv(1, 4, 29, &mut rng), Layer::Flatten], "29×29 kernel does not fit a 28×28"),
        (vec![Layer::MaxPool2d(0)], "0×0 pool"),
        (vec![fc(784, 10, &mut rng)], "put Flatten before it"),
        (vec![Layer::Flatten, fc(100, 10, &mut rng)], "of 100 inputs gets 784"),
        (vec![conv(1, 4, 5, &mut rng), Layer::Relu], "flatten it into a Linear"),
        (vec![], "at least one layer"),
    ];
    for (layers, why) in cases {
        match ConvNet::new(DIGIT, layers) {
            Err(Error::Config(msg)) => assert!(msg.contains(why), "{msg:?} should say {why:?}"),
            other => panic!("expected a refusal saying {why:?}, got {other:?}"),
        }
    }
}

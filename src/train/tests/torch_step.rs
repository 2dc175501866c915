//! One training step against torch 1.13 (fixtures: scripts/fixtures/make_train.py →
//! tests/fixtures/train/step.npz), and the gradients against finite differences.
//!
//! Tolerance: the logits, the loss and the gradients are sums of products, which torch's
//! matmul (MKL/oneDNN, blocked and fused multiply-adds) adds in another order than our loops,
//! so they agree to a few f32 ulps of the sums' magnitudes, not bit for bit: we hold every
//! value within 1e-5·(1 + |torch's|). The optimizers' arithmetic on top is elementwise and
//! follows torch's order (see optim.rs), so the weights after 3 steps are held to the same bound.

mod common;

use quantscope_train::loss::softmax_cross_entropy;
use quantscope_train::mlp::{Linear, Mlp, Node, Qat, Tape};
use quantscope_train::optim::{Optimizer, OptimizerKind};

const SIZES: [usize; 4] = [96, 32, 24, 10];
const BATCH: usize = 16;

fn close(what: &str, ours: &[f32], torch: &[f32]) {
    assert_eq!(ours.len(), torch.len(), "{what}: lengths");
    for (i, (&a, &b)) in ours.iter().zip(torch).enumerate() {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{what}[{i}]: {a} here, {b} in torch");
    }
}

fn torch_model(f: &common::Npz, prefix: &str) -> Mlp {
    common::fixture_mlp(f, prefix, &SIZES)
}

fn labels(f: &common::Npz) -> Vec<u8> {
    f.get("y").iter().map(|&v| v as u8).collect()
}

/// Forward, loss and backward; returns the loss, and the logits and gradients in `tape`/`grads`.
fn forward_backward(model: &Mlp, qat: Option<&mut Qat>, x: &[f32], y: &[u8], tape: &mut Tape) -> (f32, Vec<Linear>) {
    model.forward(x, BATCH, qat, tape);
    let mut grad_logits = vec![0.0; tape.logits().len()];
    let loss = softmax_cross_entropy(tape.logits(), y, 10, &mut grad_logits);
    let mut grads = model.zero_grads();
    model.backward(tape, &grad_logits, &mut grads);
    (loss, grads)
}

#[test]
fn one_forward_and_backward_equal_torch() {
    let f = common::step();
    let model = torch_model(&f, "");
    let mut tape = Tape::default();
    let (loss, grads) = forward_backward(&model, None, f.get("x"), &labels(&f), &mut tape);
    close("logits", tape.logits(), f.get("logits"));
    close("loss", &[loss], f.get("loss"));
    for (i, g) in grads.iter().enumerate() {
        close(&format!("grad of weight {i}"), &g.weight, f.get(&format!("grad{}", 2 * i)));
        close(&format!("grad of bias {i}"), &g.bias, f.get(&format!("grad{}", 2 * i + 1)));
    }
}

#[test]
fn three_optimizer_steps_equal_torch() {
    let f = common::step();
    let optimizers = [
        ("sgd", OptimizerKind::Sgd { lr: 0.1, momentum: 0.9, dampening: 0.1, weight_decay: 1e-3, nesterov: false }),
        ("nesterov", OptimizerKind::Sgd { lr: 0.1, momentum: 0.9, dampening: 0.0, weight_decay: 1e-3, nesterov: true }),
        ("adam", OptimizerKind::Adam { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-3 }),
    ];
    for (name, kind) in optimizers {
        let mut model = torch_model(&f, "");
        let mut optimizer = Optimizer::new(kind).unwrap();
        let mut tape = Tape::default();
        for _ in 0..3 {
            let (_, grads) = forward_backward(&model, None, f.get("x"), &labels(&f), &mut tape);
            optimizer.step(&mut model, &grads);
        }
        for (i, l) in model.layers.iter().enumerate() {
            close(&format!("{name}: weight {i}"), &l.weight, f.get(&format!("{name}.p{}", 2 * i)));
            close(&format!("{name}: bias {i}"), &l.bias, f.get(&format!("{name}.p{}", 2 * i + 1)));
        }
    }
}

#[test]
fn a_qat_step_equals_torch() {
    let f = common::step();
    let model = torch_model(&f, "");
    let (weight, activation) = common::qat_specs(4);
    let mut qat = Qat::new(3, weight, activation).unwrap();
    let mut tape = Tape::default();
    let (mut loss, mut grads) = (0.0, Vec::new());
    for _ in 0..2 {
        (loss, grads) = forward_backward(&model, Some(&mut qat), f.get("x"), &labels(&f), &mut tape);
    }
    let nodes = std::iter::once(("input".to_string(), &qat.input))
        .chain(qat.weights.iter().enumerate().map(|(i, n)| (format!("w{i}"), n)))
        .chain(qat.activations.iter().enumerate().map(|(i, n)| (format!("a{i}"), n)));
    for (name, node) in nodes {
        let Node::Observed(node) = node else { panic!("{name} is not a FakeQuantize") };
        close(&format!("{name} scale"), &node.scale, f.get(&format!("qat.{name}.scale")));
        assert_eq!(node.zero_point, f.ints(&format!("qat.{name}.zero_point")), "{name} zero point");
    }
    close("QAT logits", tape.logits(), f.get("qat.logits"));
    close("QAT loss", &[loss], f.get("qat.loss"));
    for (i, g) in grads.iter().enumerate() {
        close(&format!("QAT grad of weight {i}"), &g.weight, f.get(&format!("qat.grad{}", 2 * i)));
        close(&format!("QAT grad of bias {i}"), &g.bias, f.get(&format!("qat.grad{}", 2 * i + 1)));
    }
}

/// Central differences in f64 of the f32 loss: each sampled parameter moved by ±h, the loss
/// recomputed, (L+ − L−) / 2h compared with the backward pass's gradient.
#[test]
fn gradients_equal_finite_differences() {
    let f = common::step();
    let (x, y) = (f.get("x"), labels(&f));
    let model = torch_model(&f, "");
    let mut tape = Tape::default();
    let (_, grads) = forward_backward(&model, None, x, &y, &mut tape);
    let h = 2e-3f32;
    let mut checked = 0;
    for (layer, g) in grads.iter().enumerate() {
        for (which, len) in [("weight", g.weight.len()), ("bias", g.bias.len())] {
            for k in (0..len).step_by(len / 7 + 1) {
                let loss_at = |delta: f32| {
                    let mut m = model.clone();
                    let p = if which == "weight" { &mut m.layers[layer].weight } else { &mut m.layers[layer].bias };
                    p[k] += delta;
                    let mut t = Tape::default();
                    forward_backward(&m, None, x, &y, &mut t).0 as f64
                };
                let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h as f64);
                let analytic = if which == "weight" { g.weight[k] } else { g.bias[k] } as f64;
                // f32 losses near 2.3 carry ~2e-7 of rounding, /2h → 6e-5; h is small enough that ±h
                // rarely moves a hidden unit across its ReLU kink.
                assert!((numeric - analytic).abs() <= 2e-4 + 1e-2 * analytic.abs(), "layer {layer} {which}[{k}]: {analytic} vs {numeric}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "{checked}");
}

//! LSQ against torch 1.13 (fixtures: scripts/fixtures/make_train_lsq_distill.py →
//! tests/fixtures/train/lsq.npz): `_fake_quantize_learnable_per_{tensor,channel}_affine`'s output
//! and input gradient bit for bit; the scale's and zero point's gradients, which torch sums with
//! its vectorised reduction (another order than ours), within 1e-6 of the sum of the terms'
//! magnitudes (a few f32 ulps of the largest partial sum).

mod common;

use quantscope_train::fake_quant::QRange;
use quantscope_train::lsq;

const SHAPE: (usize, usize) = (7, 24);

fn within_sum_bound(what: &str, ours: f32, torch: f32, terms_abs: f32) {
    assert!((ours - torch).abs() <= 1e-6 * terms_abs + 1e-30, "{what}: {ours} here, {torch} in torch (Σ|terms| {terms_abs})");
}

/// Σ|dy|·max(|scale|, |qmax − qmin|) bounds Σ|terms| of both parameter gradients.
fn bound(dy: &[f32], scale: f32, range: QRange, factor: f32) -> f32 {
    dy.iter().map(|g| g.abs()).sum::<f32>() * scale.max(1.0).max((range.quant_max - range.quant_min) as f32 + 1.0) * factor
}

#[test]
fn per_tensor_forward_and_backward_equal_torch() {
    let f = common::lsq();
    let g = f.get("op.g");
    let mut cases = 0;
    let names: Vec<String> = f.0.keys().filter(|k| k.starts_with("op.t.") && k.ends_with(".out")).cloned().collect();
    for name in names {
        let case = name.trim_end_matches(".out");
        let x = f.get(if case.contains(".ties.") { "op.x_ties" } else { "op.x_rand" });
        let p = f.get(&format!("{case}.params"));
        let (scale, zp, factor) = (p[0], p[1], p[2]);
        let range = QRange::new(p[3] as i32, p[4] as i32).unwrap();
        let mut out = vec![0.0; x.len()];
        let mut mask = vec![false; x.len()];
        lsq::forward_per_tensor(x, scale, zp, range, &mut out, &mut mask);
        common::assert_bits_eq(&format!("{case} out"), &out, f.get(&format!("{case}.out")));
        let mut dx = vec![0.0; x.len()];
        let (dscale, dzero) = lsq::backward_per_tensor(x, g, scale, zp, range, factor, &mut dx);
        common::assert_bits_eq(&format!("{case} dx"), &dx, f.get(&format!("{case}.dx")));
        let b = bound(g, scale, range, factor);
        within_sum_bound(&format!("{case} dscale"), dscale, f.get(&format!("{case}.dscale"))[0], b);
        within_sum_bound(&format!("{case} dzero"), dzero, f.get(&format!("{case}.dzero"))[0], b);
        cases += 1;
    }
    assert_eq!(cases, 48);
}

#[test]
fn per_channel_forward_and_backward_equal_torch() {
    let f = common::lsq();
    let g = f.get("op.g");
    let mut cases = 0;
    let names: Vec<String> = f.0.keys().filter(|k| k.starts_with("op.c.") && k.ends_with(".out")).cloned().collect();
    for name in names {
        let case = name.trim_end_matches(".out");
        let x = f.get(if case.contains(".ties.") { "op.x_ties" } else { "op.x_rand" });
        let p = f.get(&format!("{case}.params"));
        let (factor, range) = (p[0], QRange::new(p[1] as i32, p[2] as i32).unwrap());
        let (scales, zps) = (f.get(&format!("{case}.scale")), f.get(&format!("{case}.zero_point")));
        let mut out = vec![0.0; x.len()];
        let mut mask = vec![false; x.len()];
        lsq::forward_per_channel(x, scales, zps, range, &mut out, &mut mask);
        common::assert_bits_eq(&format!("{case} out"), &out, f.get(&format!("{case}.out")));
        let mut dx = vec![0.0; x.len()];
        let (mut dscale, mut dzero) = (vec![0.0; SHAPE.0], vec![0.0; SHAPE.0]);
        lsq::backward_per_channel(x, g, scales, zps, range, factor, &mut dx, &mut dscale, &mut dzero);
        common::assert_bits_eq(&format!("{case} dx"), &dx, f.get(&format!("{case}.dx")));
        for c in 0..SHAPE.0 {
            let b = bound(&g[c * SHAPE.1..(c + 1) * SHAPE.1], scales[c], range, factor);
            within_sum_bound(&format!("{case} dscale[{c}]"), dscale[c], f.get(&format!("{case}.dscale"))[c], b);
            within_sum_bound(&format!("{case} dzero[{c}]"), dzero[c], f.get(&format!("{case}.dzero"))[c], b);
        }
        cases += 1;
    }
    assert_eq!(cases, 16);
}

/// The per-tensor backward rounds a zero point of 2.5 up (trunc(2.5 + 0.5) = 3) where the forward
/// rounds it to even (2), as torch's `_get_zero_point_from_tensor` does; the fixtures hold such
/// halves, and this pins the difference itself.
#[test]
fn the_per_tensor_backward_rounds_half_zero_points_up() {
    let range = QRange::new(0, 15).unwrap();
    let x = [0.0f32];
    let (mut out, mut mask) = ([0.0f32], [false]);
    lsq::forward_per_tensor(&x, 1.0, 2.5, range, &mut out, &mut mask);
    assert_eq!(out[0], 0.0, "forward: zero point 2, x = 0 → code 2 → 0");
    let mut dx = [0.0f32];
    let x = [-3.0f32];
    let (dscale, dzero) = lsq::backward_per_tensor(&x, &[1.0], 1.0, 2.5, range, 1.0, &mut dx);
    // z = 3: q = 3 − 3 = 0, inside; fq − x = (0 − 3)·1 − (−3) = 0.
    assert_eq!((dx[0], dscale, dzero), (1.0, 0.0, 0.0));
    let x = [-3.5f32];
    let (dscale, dzero) = lsq::backward_per_tensor(&x, &[1.0], 1.0, 2.5, range, 1.0, &mut dx);
    // z = 3: q = nearbyint(−0.5) = −0 → inside (0 ≤ −0); with z = 2 it would be −2, outside.
    assert_eq!(dx[0], 1.0);
    assert_eq!(dzero, 0.0);
    assert_eq!(dscale, 0.5, "(fq − x)/s = (−3 + 3.5)");
}

#[test]
fn grad_factor_is_the_lsq_papers() {
    let range = QRange::new(0, 3).unwrap();
    assert_eq!(lsq::grad_factor(12, range, true), (1.0 / 6f64) as f32);
    assert_eq!(lsq::grad_factor(12, range, false), 1.0);
}

/// Two steps of LSQ QAT at 2 bits on the MLP of step.npz, as the fixture script runs them in
/// torch: step 1 with the observers' static estimate (the qparams not learned), then
/// `enable_param_learning` and step 2, Adam (lr 1e-2) over the weights and the qparams. Held
/// within 1e-5·(1 + |torch's|) as tests/torch_step.rs holds the FP32 and QAT steps (torch's
/// matmul adds in another order), the qparams' gradients within 1e-6·(1 + |torch's|) (they are
/// ~1e-3: sums over the batch of terms that each carry that matmul difference).
#[test]
fn an_lsq_qat_step_equals_torch() {
    use quantscope_train::loss::softmax_cross_entropy;
    use quantscope_train::mlp::{Linear, Mlp, Node, Qat, Tape};
    use quantscope_train::optim::{Optimizer, OptimizerKind};

    let close = |what: &str, ours: &[f32], torch: &[f32], tol: f32| {
        assert_eq!(ours.len(), torch.len(), "{what}: lengths");
        for (i, (&a, &b)) in ours.iter().zip(torch).enumerate() {
            assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}[{i}]: {a} here, {b} in torch");
        }
    };
    let (step, f) = (common::step(), common::lsq());
    let sizes = [96usize, 32, 24, 10];
    let mut model = Mlp {
        layers: sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear {
                in_features: w[0],
                out_features: w[1],
                weight: step.get(&format!("p{}", 2 * i)).to_vec(),
                bias: step.get(&format!("p{}", 2 * i + 1)).to_vec(),
            })
            .collect(),
    };
    let (x, y): (&[f32], Vec<u8>) = (step.get("x"), step.get("y").iter().map(|&v| v as u8).collect());
    let (weight, activation) = common::qat_specs(2);
    let mut qat = Qat::learned(&sizes[1..], weight, activation, true).unwrap();
    let mut weights_opt = Optimizer::new(OptimizerKind::adam(1e-2)).unwrap();
    let mut qparams_opt = Optimizer::new(OptimizerKind::adam(1e-2)).unwrap();
    let mut tape = Tape::default();
    for s in 0..2 {
        if s == 1 {
            qat.enable_param_learning();
        }
        model.forward(x, 16, Some(&mut qat), &mut tape);
        let mut grad_logits = vec![0.0; tape.logits().len()];
        let loss = softmax_cross_entropy(tape.logits(), &y, 10, &mut grad_logits);
        let mut grads = model.zero_grads();
        let mut qgrads = qat.zero_learned_grads();
        model.backward_learned(&tape, &grad_logits, &mut grads, &qat, &mut qgrads);
        if s == 1 {
            close("LSQ logits", tape.logits(), f.get("lsq.logits"), 1e-5);
            close("LSQ loss", &[loss], f.get("lsq.loss"), 1e-5);
            for (i, g) in grads.iter().enumerate() {
                close(&format!("LSQ grad of weight {i}"), &g.weight, f.get(&format!("lsq.grad{}", 2 * i)), 1e-5);
                close(&format!("LSQ grad of bias {i}"), &g.bias, f.get(&format!("lsq.grad{}", 2 * i + 1)), 1e-5);
            }
            let names = ["input", "w0", "w1", "w2", "a0", "a1", "a2"];
            for (k, (name, node)) in names.iter().zip(qat.nodes()).enumerate() {
                let Node::Learned(n) = node else { panic!("{name} is not learned") };
                close(&format!("{name} scale"), &n.scale, f.get(&format!("lsq.{name}.scale")), 1e-6);
                close(&format!("{name} zero point"), &n.zero_point, f.get(&format!("lsq.{name}.zero_point")), 0.0);
                close(&format!("{name} d scale"), &qgrads[2 * k], f.get(&format!("lsq.{name}.dscale")), 1e-6);
                close(&format!("{name} d zero point"), &qgrads[2 * k + 1], f.get(&format!("lsq.{name}.dzero")), 1e-6);
            }
        }
        weights_opt.step(&mut model, &grads);
        if qat.learning() {
            qparams_opt.step_tensors(qat.learned_params_mut(), qgrads.iter().collect());
        }
    }
    for (i, l) in model.layers.iter().enumerate() {
        close(&format!("weight {i} after"), &l.weight, f.get(&format!("lsq.after.p{}", 2 * i)), 1e-5);
        close(&format!("bias {i} after"), &l.bias, f.get(&format!("lsq.after.p{}", 2 * i + 1)), 1e-5);
    }
    let names = ["input", "w0", "w1", "w2", "a0", "a1", "a2"];
    for (name, node) in names.iter().zip(qat.nodes()) {
        let Node::Learned(n) = node else { unreachable!() };
        close(&format!("{name} scale after"), &n.scale, f.get(&format!("lsq.after.{name}.scale")), 1e-5);
        close(&format!("{name} zero point after"), &n.zero_point, f.get(&format!("lsq.after.{name}.zero_point")), 1e-5);
    }
}

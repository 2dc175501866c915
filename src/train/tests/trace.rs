//! The trace the Learn view's STE panel draws (`quantscope_train::trace`), on a real QAT run of
//! the built-in shape (784-100-100-10) on the shipped digits: every recorded fake-quantized value
//! is `fake_quantize` of the recorded float value with the recorded scale and zero point (the
//! torch formula written out here, as `fake_quant.rs` follows it), every recorded gradient is
//! zero exactly when the weight lies outside the clamp range and the unmasked gradient
//! otherwise, and the unmasked gradient of the first step equals an independent backward through
//! the same forward with that layer's mask removed. Tracing does not change the run.

use quantscope_train::data::{epoch_order, Dataset};
use quantscope_train::loss::softmax_cross_entropy;
use quantscope_train::mlp::{Mlp, Node, Tape};
use quantscope_train::observer::{Averaging, Granularity, AVERAGING_CONSTANT};
use quantscope_train::optim::OptimizerKind;
use quantscope_train::rng::SplitMix64;
use quantscope_train::trace::{Trace, FIELDS};
use quantscope_train::trainer::{QatConfig, QatMethod, TrainConfig, Trainer, SHUFFLE_STREAM};
use quantscope_train::Error;

fn digits() -> Dataset {
    let bytes = std::fs::read(format!("{}/../../www/models/mnist_train.npz", env!("CARGO_MANIFEST_DIR"))).expect("shipped digits");
    let tensors = quantscope_formats::npz::parse(&bytes).expect("digits npz");
    let get = |name: &str| tensors.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no {name}"));
    let pixels: Vec<u8> = get("images").data.iter().map(|&v| v as u8).collect();
    let labels: Vec<u8> = get("labels").data.iter().map(|&v| v as u8).collect();
    Dataset::from_u8(&pixels, &labels, 784, 10).expect("digits")
}

fn config(bits: Option<u32>, granularity: Granularity, method: QatMethod) -> TrainConfig {
    TrainConfig {
        sizes: vec![784, 100, 100, 10],
        optimizer: OptimizerKind::adam(0.001),
        epochs: 1,
        batch_size: 64,
        seed: 1,
        qat: bits.map(|bits| QatConfig {
            method,
            bits,
            weight_granularity: granularity,
            averaging: Averaging::MovingAverage(AVERAGING_CONSTANT),
            freeze_observers_after: None,
        }),
        distill: None,
    }
}

/// torch's `fake_quantize_per_tensor_affine` of one value, written out
/// (`aten/src/ATen/native/quantized/cpu/kernels/QuantizedOpKernels.cpp`): the output and whether
/// the code was inside `[qmin, qmax]` before the clamp.
fn torch_fake_quantize(x: f32, scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> (f32, i32, bool) {
    let inv_scale = 1.0f32 / scale;
    let q = zero_point as f32 + (x * inv_scale).round_ties_even();
    let clamped = q.clamp(qmin as f32, qmax as f32);
    ((clamped - zero_point as f32) * scale, clamped as i32, qmin as f32 <= q && q <= qmax as f32)
}

/// Runs `steps` steps of a QAT run at `bits` tracing `count` weights of `layer`.
fn traced_run(data: &Dataset, bits: u32, granularity: Granularity, layer: usize, count: usize, steps: usize) -> Trainer {
    let mut trainer = Trainer::new(config(Some(bits), granularity, QatMethod::Observed), data).unwrap();
    trainer.trace = Some(Trace::new(&trainer.model, trainer.qat.as_ref(), layer, count).unwrap());
    for _ in 0..steps {
        trainer.step(data).unwrap();
    }
    trainer
}

/// The properties every record must have; returns (records outside the range, code changes).
fn check_records(t: &Trace) -> (usize, usize) {
    let k = t.indices.len();
    assert_eq!(t.float.len(), k * t.steps.len());
    let (mut outside, mut crossings) = (0, 0);
    for r in 0..t.steps.len() {
        for j in 0..k {
            let at = r * k + j;
            let (fake, code, inside) =
                torch_fake_quantize(t.float[at], t.scale[at], t.zero_point[at], t.range.quant_min, t.range.quant_max);
            let what = format!("step {}, weight {}", t.steps[r], t.indices[j]);
            assert_eq!(t.fake[at].to_bits(), fake.to_bits(), "{what}: fake {} ≠ fake_quantize {}", t.fake[at], fake);
            assert_eq!(t.code[at], code, "{what}");
            assert_eq!(t.inside[at], inside, "{what}: the forward's mask");
            if inside {
                assert_eq!(t.grad[at].to_bits(), t.unmasked[at].to_bits(), "{what}: inside, the STE passes the gradient");
            } else {
                assert_eq!(t.grad[at], 0.0, "{what}: outside, the STE passes nothing");
                assert_eq!(t.grad[at].to_bits(), (t.unmasked[at] * 0.0).to_bits(), "{what}: torch's dY · mask (−0 stays)");
                outside += 1;
            }
            // Zero exactly when outside (the chosen weights have a gradient of their own).
            assert_eq!(t.grad[at] == 0.0, !inside || t.unmasked[at] == 0.0, "{what}");
            if r > 0 && t.code[at] != t.code[at - k] {
                crossings += 1;
            }
        }
    }
    (outside, crossings)
}

#[test]
fn recorded_values_are_fake_quantize_and_the_ste_of_the_run() {
    let data = digits();
    for (bits, granularity, layer) in [(4, Granularity::PerTensor, 0), (2, Granularity::PerTensor, 2), (8, Granularity::PerChannel, 1)] {
        let steps = 40;
        let trainer = traced_run(&data, bits, granularity, layer, 32, steps);
        let t = trainer.trace.as_ref().unwrap();
        assert_eq!(t.steps, (1..=steps as u64).collect::<Vec<_>>());
        assert_eq!(t.indices.len(), 32);
        let (outside, crossings) = check_records(t);
        assert!(crossings > 0, "INT{bits} layer {layer}: some traced weight crosses a rounding boundary");
        if bits <= 4 {
            assert!(outside > 0, "INT{bits} layer {layer}: some traced weight leaves the clamp range");
        }
        // The first record's floats are the initial weights; the last record's scales are the node's now.
        let init = Mlp::new(&[784, 100, 100, 10], 1).unwrap();
        let k = t.indices.len();
        for (j, &i) in t.indices.iter().enumerate() {
            assert_eq!(t.float[j].to_bits(), init.layers[layer].weight[i].to_bits());
            let node_scale = trainer.qat.as_ref().unwrap().weights[layer].scale();
            let c = if node_scale.len() > 1 { i / t.in_features } else { 0 };
            assert_eq!(t.scale[(steps - 1) * k + j].to_bits(), node_scale[c].to_bits());
        }
    }
}

#[test]
fn the_unmasked_gradient_is_the_backward_without_that_layers_mask() {
    // Step 1 again, independently: the same forward (the nodes as step 1's forward left them,
    // observers off; layer `l`'s weight replaced by the fake-quantized weight it used and its
    // node's fake quant off), then the plain backward: layer l's gradient with no mask at all.
    let data = digits();
    let layer = 0;
    let trainer = traced_run(&data, 4, Granularity::PerTensor, layer, 32, 1);
    let t = trainer.trace.as_ref().unwrap();
    let mut model = Mlp::new(&[784, 100, 100, 10], 1).unwrap();
    let mut qat = trainer.qat.clone().unwrap();
    qat.set_observers(false);
    let mut tape = Tape::default();
    let order = epoch_order(data.len(), &mut SplitMix64::new(1 ^ SHUFFLE_STREAM));
    let (mut x, mut y) = (Vec::new(), Vec::new());
    data.gather(&order[..64], &mut x, &mut y);
    let mut used = vec![0.0; model.layers[layer].weight.len()];
    let mut mask = vec![false; used.len()];
    let mut probe = qat.weights[layer].clone();
    probe.forward(&model.layers[layer].weight, 100, &mut used, &mut mask);
    model.layers[layer].weight = used;
    let Node::Observed(n) = &mut qat.weights[layer] else { unreachable!() };
    n.fake_quant_enabled = false;
    model.forward(&x, 64, Some(&mut qat), &mut tape);
    let mut grad_logits = vec![0.0; tape.logits().len()];
    softmax_cross_entropy(tape.logits(), &y, 10, &mut grad_logits);
    let mut grads = model.zero_grads();
    model.backward(&tape, &grad_logits, &mut grads);
    for (j, &i) in t.indices.iter().enumerate() {
        assert_eq!(t.unmasked[j].to_bits(), grads[layer].weight[i].to_bits(), "weight {i}");
        assert_eq!(mask[i], t.inside[j]);
    }
    assert!(t.unmasked.iter().all(|&g| g != 0.0), "the chosen weights have a gradient");
}

#[test]
fn tracing_does_not_change_the_run() {
    let data = digits();
    let traced = traced_run(&data, 2, Granularity::PerChannel, 1, 64, 25);
    let mut plain = Trainer::new(config(Some(2), Granularity::PerChannel, QatMethod::Observed), &data).unwrap();
    for _ in 0..25 {
        plain.step(&data).unwrap();
    }
    assert_eq!(traced.model, plain.model);
    assert_eq!(traced.qat, plain.qat);
}

#[test]
fn the_flat_export_has_the_documented_layout() {
    let data = digits();
    let trainer = traced_run(&data, 4, Granularity::PerTensor, 2, 8, 3);
    let t = trainer.trace.as_ref().unwrap();
    let flat = t.to_f32();
    assert_eq!(&flat[..6], &[2.0, 100.0, 8.0, 3.0, -8.0, 7.0]);
    assert_eq!(flat.len(), 6 + 8 + 3 + 8 * 3 * FIELDS);
    assert!(flat[6..14].iter().zip(&t.indices).all(|(&f, &i)| f as usize == i));
    assert_eq!(&flat[14..17], &[1.0, 2.0, 3.0]);
    let at = 17 + (2 * 8 + 5) * FIELDS; // record 2, weight 5
    let r = 2 * 8 + 5;
    let want =
        [t.float[r], t.fake[r], t.scale[r], t.zero_point[r] as f32, t.code[r] as f32, t.inside[r] as u8 as f32, t.grad[r], t.unmasked[r]];
    assert_eq!(flat[at..at + FIELDS].iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.map(f32::to_bits).to_vec());
}

#[test]
fn what_cannot_be_traced_is_refused() {
    let data = digits();
    let config_error = |r: Result<Trace, Error>, want: &str| match r {
        Err(Error::Config(why)) => assert!(why.contains(want), "{why}"),
        other => panic!("expected a refusal ({want}), got {other:?}"),
    };
    let fp32 = Trainer::new(config(None, Granularity::PerTensor, QatMethod::Observed), &data).unwrap();
    config_error(Trace::new(&fp32.model, fp32.qat.as_ref(), 0, 8), "FP32");
    let lsq = Trainer::new(config(Some(4), Granularity::PerTensor, QatMethod::Learned { static_steps: 10 }), &data).unwrap();
    config_error(Trace::new(&lsq.model, lsq.qat.as_ref(), 0, 8), "not LSQ");
    let qat = Trainer::new(config(Some(4), Granularity::PerTensor, QatMethod::Observed), &data).unwrap();
    config_error(Trace::new(&qat.model, qat.qat.as_ref(), 3, 8), "layer 4 does not exist");
    config_error(Trace::new(&qat.model, qat.qat.as_ref(), 0, 0), "trace 1 to 256 weights, not 0");
    config_error(Trace::new(&qat.model, qat.qat.as_ref(), 0, 257), "not 257");
}

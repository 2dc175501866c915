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
use quantscope_train::trace::{Trace, FIELDS, HEADER, RECORD_HEAD};
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
/// (`aten/src/ATen/native/quantized/cpu/kernels/QuantizedOpKernels.cpp`): the output, the code
/// and whether the code was inside `[qmin, qmax]` before the clamp.
fn torch_fake_quantize(x: f32, scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> (f32, i32, bool) {
    let inv_scale = 1.0f32 / scale;
    let q = zero_point as f32 + (x * inv_scale).round_ties_even();
    let clamped = q.clamp(qmin as f32, qmax as f32);
    ((clamped - zero_point as f32) * scale, clamped as i32, qmin as f32 <= q && q <= qmax as f32)
}

fn traced(data: &Dataset, bits: u32, granularity: Granularity, layer: usize, row: usize) -> Trainer {
    let mut trainer = Trainer::new(config(Some(bits), granularity, QatMethod::Observed), data).unwrap();
    trainer.trace = Some(Trace::new(&trainer.model, trainer.qat.as_ref(), layer, row, 125).unwrap());
    trainer
}

/// Runs `steps` steps of a QAT run at `bits` tracing neuron `row` of `layer`.
fn traced_run(data: &Dataset, bits: u32, granularity: Granularity, layer: usize, row: usize, steps: usize) -> Trainer {
    let mut trainer = traced(data, bits, granularity, layer, row);
    for _ in 0..steps {
        trainer.step(data).unwrap();
    }
    trainer
}

/// Layer `layer`'s weight gradient of the trainer's next step (within the first epoch) with no
/// STE mask on it, computed apart from the trainer: the same batch (the run's seeded order),
/// the same forward (a copy of the nodes observes as the trainer's will), then the forward again
/// with the observers off, layer `layer`'s weight replaced by the fake-quantized weight its node
/// gave and that node's fake quant off (so its mask is all ones), and the plain backward.
fn unmasked_next(trainer: &Trainer, data: &Dataset, layer: usize) -> Vec<f32> {
    let order = epoch_order(data.len(), &mut SplitMix64::new(trainer.config.seed ^ SHUFFLE_STREAM));
    let start = trainer.step as usize * 64;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    data.gather(&order[start..start + 64], &mut x, &mut y);
    let mut model = trainer.model.clone();
    let mut qat = trainer.qat.clone().unwrap();
    let mut tape = Tape::default();
    model.forward(&x, 64, Some(&mut qat), &mut tape);
    qat.set_observers(false);
    let lin = &mut model.layers[layer];
    let mut used = vec![0.0; lin.weight.len()];
    let mut mask = vec![false; used.len()];
    qat.weights[layer].clone().forward(&lin.weight, lin.out_features, &mut used, &mut mask);
    lin.weight = used;
    let Node::Observed(n) = &mut qat.weights[layer] else { unreachable!() };
    n.fake_quant_enabled = false;
    model.forward(&x, 64, Some(&mut qat), &mut tape);
    let mut grad_logits = vec![0.0; tape.logits().len()];
    softmax_cross_entropy(tape.logits(), &y, 10, &mut grad_logits);
    let mut grads = model.zero_grads();
    model.backward(&tape, &grad_logits, &mut grads);
    grads.swap_remove(layer).weight
}

#[test]
fn recorded_values_are_fake_quantize_and_the_ste_of_the_run() {
    let data = digits();
    let init = Mlp::new(&[784, 100, 100, 10], 1).unwrap();
    for (bits, granularity, layer, row) in [
        (4, Granularity::PerChannel, 0, 7),
        (2, Granularity::PerChannel, 2, 3),
        (8, Granularity::PerTensor, 1, 0),
        (4, Granularity::PerTensor, 2, 9),
    ] {
        let case = format!("INT{bits} {granularity:?} layer {layer} neuron {row}");
        let steps = 40;
        let mut trainer = traced(&data, bits, granularity, layer, row);
        let (mut outside, mut crossings, mut live) = (0, 0, 0);
        let mut codes_before: Vec<i32> = Vec::new();
        for s in 0..steps {
            let unmasked = unmasked_next(&trainer, &data, layer);
            trainer.step(&data).unwrap();
            let t = trainer.trace.as_ref().unwrap();
            assert_eq!(t.len(), s + 1);
            let mut codes = Vec::new();
            for j in 0..t.width {
                let v = t.at(s, j);
                assert_eq!(v.step, s as u64 + 1);
                let (fake, code, inside) = torch_fake_quantize(v.float, v.scale, v.zero_point, t.quant_min, t.quant_max);
                let what = format!("{case}, step {}, weight {j}", v.step);
                assert_eq!(v.fake.to_bits(), fake.to_bits(), "{what}: fake {} ≠ fake_quantize {}", v.fake, fake);
                assert_eq!(v.inside, inside, "{what}: the forward's mask");
                let g = unmasked[row * t.width + j];
                if inside {
                    assert_eq!(v.grad.to_bits(), g.to_bits(), "{what}: inside, the STE passes the gradient");
                } else {
                    assert_eq!(v.grad.to_bits(), (g * 0.0).to_bits(), "{what}: outside, the STE passes nothing (dY · mask)");
                    outside += 1;
                }
                // Zero exactly when outside, for every weight with a gradient of its own.
                assert_eq!(v.grad == 0.0, !inside || g == 0.0, "{what}");
                live += (g != 0.0) as usize;
                codes.push(code);
            }
            if !codes_before.is_empty() {
                crossings += codes.iter().zip(&codes_before).filter(|(a, b)| a != b).count();
            }
            codes_before = codes;
        }
        let t = trainer.trace.as_ref().unwrap();
        assert!(crossings > 0, "{case}: some weight crosses a rounding boundary");
        assert!(live > steps * 5, "{case}: the neuron's weights have gradients ({live})");
        if granularity == Granularity::PerChannel {
            assert!(outside > 0, "{case}: the neuron's largest weights leave the clamp range");
        }
        // The first record's floats are the initial weights; the last record's scale is the node's now.
        let node_scale = trainer.qat.as_ref().unwrap().weights[layer].scale();
        let c = if node_scale.len() > 1 { row } else { 0 };
        for j in 0..t.width {
            assert_eq!(t.at(0, j).float.to_bits(), init.layers[layer].weight[row * t.width + j].to_bits());
            assert_eq!(t.at(steps - 1, j).scale.to_bits(), node_scale[c].to_bits());
        }
        eprintln!("{case}: {outside} records outside the clamp range, {crossings} code changes in {steps} steps");
    }
}

#[test]
fn tracing_does_not_change_the_run() {
    let data = digits();
    let traced = traced_run(&data, 2, Granularity::PerChannel, 1, 5, 25);
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
    let trainer = traced_run(&data, 4, Granularity::PerTensor, 2, 3, 3);
    let t = trainer.trace.as_ref().unwrap();
    let stride = RECORD_HEAD + 100 * FIELDS;
    let flat = t.to_f32(0);
    assert_eq!(&flat[..HEADER], &[2.0, 3.0, 100.0, 3.0, -8.0, 7.0, 0.0]);
    assert_eq!(flat.len(), HEADER + 3 * stride);
    let v = t.at(2, 5);
    let at = HEADER + 2 * stride;
    assert_eq!(&flat[at..at + RECORD_HEAD], &[3.0, v.scale, v.zero_point as f32]);
    let got = (0..FIELDS).map(|f| flat[at + RECORD_HEAD + 5 * FIELDS + f].to_bits()).collect::<Vec<_>>();
    assert_eq!(got, [v.float, v.fake, v.inside as u8 as f32, v.grad].map(f32::to_bits).to_vec());
    // From record 2 on: the same header but the count of records before, then record 2 alone.
    let tail = t.to_f32(2);
    assert_eq!(&tail[..HEADER], &[2.0, 3.0, 100.0, 3.0, -8.0, 7.0, 2.0]);
    assert_eq!(&tail[HEADER..], &flat[HEADER + 2 * stride..]);
    assert_eq!(t.to_f32(9).len(), HEADER, "nothing past the end");
}

#[test]
fn what_cannot_be_traced_is_refused() {
    let data = digits();
    let config_error = |r: Result<Trace, Error>, want: &str| match r {
        Err(Error::Config(why)) => assert!(why.contains(want), "{why}"),
        other => panic!("expected a refusal ({want}), got {other:?}"),
    };
    let fp32 = Trainer::new(config(None, Granularity::PerTensor, QatMethod::Observed), &data).unwrap();
    config_error(Trace::new(&fp32.model, fp32.qat.as_ref(), 0, 0, 125), "of a QAT run");
    let lsq = Trainer::new(config(Some(4), Granularity::PerTensor, QatMethod::Learned { static_steps: 10 }), &data).unwrap();
    config_error(Trace::new(&lsq.model, lsq.qat.as_ref(), 0, 0, 125), "not LSQ");
    let qat = Trainer::new(config(Some(4), Granularity::PerTensor, QatMethod::Observed), &data).unwrap();
    config_error(Trace::new(&qat.model, qat.qat.as_ref(), 3, 0, 125), "trace a neuron");
    config_error(Trace::new(&qat.model, qat.qat.as_ref(), 2, 10, 125), "trace a neuron");
    assert!(Trace::new(&qat.model, qat.qat.as_ref(), 2, 9, 125).is_ok());
    // 10 epochs of 125 steps of a first-layer neuron fit; 2,700 steps do not.
    assert!(Trace::new(&qat.model, qat.qat.as_ref(), 0, 0, 1250).is_ok());
    config_error(Trace::new(&qat.model, qat.qat.as_ref(), 0, 0, 2700), "32 MB");
}

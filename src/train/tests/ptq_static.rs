//! Static post-training quantization (src/train/src/ptq.rs `static_calibrated`): the ranges,
//! scales and zero points against torch 1.13's eager `prepare` → calibrate
//! (scripts/fixtures/make_train_ptq_static.py → tests/fixtures/train/ptq_static.npz), and the
//! other calibrations against what each promises.
//!
//! Tolerance: an activation's min/max comes out of our forward's sums, which add in another
//! order than torch's matmul, so they agree to a few ulps (held within 1e-5 relative); the input's
//! range and the zero points (rounded) are exact.

mod common;

use common::ptq_specs as specs;

use quantscope_train::fake_quant::per_tensor;
use quantscope_train::mlp::{Mlp, Node, Qat, Tape};
use quantscope_train::observer::{Granularity, QuantSpec};
use quantscope_train::ptq::{static_calibrated, Calibration};
use quantscope_train::Error;

const SIZES: [usize; 4] = [96, 32, 24, 10];

fn fixture_model(f: &common::Npz) -> Mlp {
    common::fixture_mlp(f, "", &SIZES)
}

fn observed(node: &Node) -> &quantscope_train::fake_quantize::FakeQuantize {
    match node {
        Node::Observed(n) => n,
        Node::Learned(_) => panic!("static PTQ makes observed nodes"),
    }
}

fn activation_nodes(q: &Qat) -> Vec<&Node> {
    std::iter::once(&q.input).chain(&q.activations).collect()
}

fn close(what: &str, ours: f32, torch: f32) {
    assert!((ours - torch).abs() <= 1e-5 * torch.abs().max(1e-6), "{what}: {ours} here, {torch} in torch");
}

#[test]
fn min_max_static_ptq_equals_torch_prepare_and_calibrate() {
    let f = common::ptq_static();
    let model = fixture_model(&f);
    for bits in [8, 4, 2] {
        let (w, a) = specs(bits);
        let qat = static_calibrated(&model, w, a, Calibration::MinMax, f.get("x")).unwrap();
        for (k, node) in activation_nodes(&qat).into_iter().enumerate() {
            let n = observed(node);
            let key = |what: &str| format!("b{bits}_a{k}_{what}");
            close(&key("min"), n.observer.min_val[0], f.get(&key("min"))[0]);
            close(&key("max"), n.observer.max_val[0], f.get(&key("max"))[0]);
            close(&key("scale"), n.scale[0], f.get(&key("scale"))[0]);
            assert_eq!(n.zero_point[0], f.ints(&key("zero_point"))[0], "{}", key("zero_point"));
            assert!(!n.observer_enabled, "frozen after calibration");
        }
        for (l, node) in qat.weights.iter().enumerate() {
            let torch = f.get(&format!("b{bits}_w{l}_scale"));
            let ours = &observed(node).scale;
            assert_eq!(ours.len(), torch.len(), "bits {bits}, layer {l}: one scale per output neuron");
            for (c, (&o, &t)) in ours.iter().zip(torch).enumerate() {
                assert_eq!(o, t, "bits {bits}, weight {l}, channel {c}");
            }
        }
    }
}

/// Every value node k saw in the float forward of `x` (the input, then each layer's output).
fn float_activations(model: &Mlp, x: &[f32]) -> Vec<Vec<f32>> {
    let mut tape = Tape::default();
    model.forward(x, x.len() / SIZES[0], None, &mut tape);
    tape.inputs.clone()
}

#[test]
fn each_calibration_sets_the_range_it_promises() {
    let f = common::ptq_static();
    let model = fixture_model(&f);
    let x = f.get("x");
    let values = float_activations(&model, x);
    for bits in [8, 4, 2] {
        let (w, a) = specs(bits);
        let min_max = static_calibrated(&model, w, a, Calibration::MinMax, x).unwrap();
        for calibration in [Calibration::Percentile { micro: 99_000_000 }, Calibration::Entropy, Calibration::Mse] {
            let qat = static_calibrated(&model, w, a, calibration, x).unwrap();
            for (k, (node, mm)) in activation_nodes(&qat).into_iter().zip(activation_nodes(&min_max)).enumerate() {
                let (n, mm) = (observed(node), observed(mm));
                let what = format!("{calibration:?} at {bits} bits, node {k}");
                // Over the values of the whole calibration set at once, whatever the batches.
                assert_eq!((n.observer.min_val[0], n.observer.max_val[0]), calibration.range(&values[k], bits, false), "{what}");
                assert!(
                    n.observer.max_val[0] <= mm.observer.max_val[0] && n.observer.min_val[0] >= mm.observer.min_val[0],
                    "{what}: a clip inside min-max"
                );
                if calibration == Calibration::Mse {
                    let sse = |q: &quantscope_train::fake_quantize::FakeQuantize| {
                        let mut out = vec![0.0; values[k].len()];
                        let mut mask = vec![false; values[k].len()];
                        per_tensor(&values[k], q.scale[0], q.zero_point[0], q.range(), &mut out, &mut mask);
                        values[k].iter().zip(&out).map(|(v, o)| ((v - o) as f64).powi(2)).sum::<f64>()
                    };
                    assert!(sse(n) <= sse(mm) * (1.0 + 1e-9), "{what}: MSE's clip quantizes no worse than min-max");
                }
            }
        }
        // At 2 bits the percentile clips the largest activations: a range strictly inside min-max.
        if bits == 2 {
            let p = static_calibrated(&model, w, a, Calibration::Percentile { micro: 99_000_000 }, x).unwrap();
            let clipped = activation_nodes(&p)
                .iter()
                .zip(activation_nodes(&min_max))
                .skip(1)
                .any(|(n, mm)| observed(n).observer.max_val[0] < observed(mm).observer.max_val[0]);
            assert!(clipped, "the 99th percentile clips some layer's largest outputs");
        }
    }
}

#[test]
fn refuses_calibration_data_and_settings_that_do_not_fit() {
    let f = common::ptq_static();
    let model = fixture_model(&f);
    let (w, a) = specs(8);
    let x = f.get("x");
    assert!(matches!(static_calibrated(&model, w, a, Calibration::MinMax, &[]), Err(Error::Data(_))));
    assert!(matches!(static_calibrated(&model, w, a, Calibration::MinMax, &x[..SIZES[0] + 1]), Err(Error::Data(_))));
    let per_channel = QuantSpec { granularity: Granularity::PerChannel, ..a };
    assert!(matches!(static_calibrated(&model, w, per_channel, Calibration::MinMax, x), Err(Error::Config(_))));
    let (w1, a1) = specs(1);
    assert!(static_calibrated(&model, w1, a1, Calibration::MinMax, x).is_err(), "1-bit affine");
    let mut bad = x.to_vec();
    bad[5] = f32::NAN;
    let err = static_calibrated(&model, w, a, Calibration::Entropy, &bad).unwrap_err();
    assert!(err.to_string().contains("NaN"), "{err}");
}

#[test]
fn a_conv_net_calibrates_its_input_and_each_conv_and_linear_output_on_float_activations() {
    use quantscope_train::conv::{ConvNet, ConvTape};
    use quantscope_train::ptq::static_calibrated_conv;
    let net = ConvNet::digits(3);
    // 150 digit-sized rows of pixel-like values: three calibration batches of 64, 64 and 22.
    let x: Vec<f32> = (0..150 * 784).map(|i| ((i * 7919 % 256) as f32) / 255.0).collect();
    let mut tape = ConvTape::default();
    net.forward(&x, 150, None, &mut tape);
    let points = net.activation_points();
    let seen: Vec<&[f32]> = std::iter::once(&tape.acts[0]).chain(points.iter().map(|&l| &tape.acts[l + 1])).map(Vec::as_slice).collect();
    for bits in [8, 2] {
        let (w, a) = specs(bits);
        for calibration in [Calibration::MinMax, Calibration::Entropy, Calibration::Mse] {
            let qat = static_calibrated_conv(&net, w, a, calibration, &x).unwrap();
            assert_eq!(qat.activations.len(), points.len());
            for (k, node) in activation_nodes(&qat).into_iter().enumerate() {
                let n = observed(node);
                assert_eq!(
                    (n.observer.min_val[0], n.observer.max_val[0]),
                    calibration.range(seen[k], bits, false),
                    "{calibration:?} {bits} bits, node {k}"
                );
                assert!(!n.observer_enabled);
            }
            for (l, node) in qat.weights.iter().enumerate() {
                assert!(observed(node).observer.has_range(), "weight {l} observed");
            }
        }
    }
    assert!(matches!(static_calibrated_conv(&net, specs(8).0, specs(8).1, Calibration::MinMax, &x[..100]), Err(Error::Data(_))));
}

//! FakeQuantize, its kernels and its observers against torch 1.13, bit for bit
//! (fixtures: scripts/fixtures/make_train.py → tests/fixtures/train/fake_quant.npz).

mod common;

use quantscope_train::fake_quant::{self, QRange};
use quantscope_train::fake_quantize::FakeQuantize;
use quantscope_train::observer::{Averaging, Granularity, QuantSpec, Signedness, Symmetry, AVERAGING_CONSTANT};

#[test]
fn bare_kernels_equal_torch_on_ties() {
    let f = common::fake_quant();
    let x = f.get("kernel.x");
    for (bits, zp) in [(2, 1), (4, 3), (8, -5)] {
        let range = QRange::new(-(1 << (bits - 1)), (1 << (bits - 1)) - 1).unwrap();
        let (mut out, mut mask) = (vec![0.0; x.len()], vec![false; x.len()]);
        fake_quant::per_tensor(x, 0.25, zp, range, &mut out, &mut mask);
        common::assert_bits_eq(&format!("per tensor {bits} bits"), &out, f.get(&format!("kernel.t{bits}.out")));
        let mut grad = vec![0.0; x.len()];
        fake_quant::backward(&vec![1.0; x.len()], &mask, &mut grad);
        common::assert_bits_eq(&format!("per tensor {bits} bits grad"), &grad, f.get(&format!("kernel.t{bits}.grad")));
        // At 2 and 4 bits part of −10..10 is clipped, so the mask is really tested.
        assert!(mask.iter().any(|&m| m));
        assert_eq!(mask.iter().any(|&m| !m), bits < 8);
    }
    let scales = f.get("kernel.ch.scale");
    let zps = f.ints("kernel.ch.zero_point");
    let range = QRange::new(-8, 7).unwrap();
    let (mut out, mut mask) = (vec![0.0; x.len()], vec![false; x.len()]);
    fake_quant::per_channel(x, scales, &zps, range, &mut out, &mut mask);
    common::assert_bits_eq("per channel", &out, f.get("kernel.ch.out"));
    let mut grad = vec![0.0; x.len()];
    fake_quant::backward(&vec![1.0; x.len()], &mask, &mut grad);
    common::assert_bits_eq("per channel grad", &grad, f.get("kernel.ch.grad"));
}

#[test]
fn fake_quantize_modules_equal_torch_over_three_batches() {
    let f = common::fake_quant();
    let x = f.get("x");
    let g = f.get("g");
    let per_batch = 8 * 24;
    let mut cases = 0;
    for bits in [2u32, 4, 8] {
        for (signed, symmetric, per_channel) in
            [(true, true, true), (true, true, false), (false, false, false), (false, true, false), (true, false, true)]
        {
            for moving in [false, true] {
                let name = format!(
                    "b{bits}_{}_{}_{}_{}",
                    if signed { "s" } else { "u" },
                    if symmetric { "sym" } else { "aff" },
                    if per_channel { "ch" } else { "t" },
                    if moving { "ma" } else { "mm" }
                );
                let spec = QuantSpec {
                    bits,
                    signedness: if signed { Signedness::Signed } else { Signedness::Unsigned },
                    symmetry: if symmetric { Symmetry::Symmetric } else { Symmetry::Affine },
                    granularity: if per_channel { Granularity::PerChannel } else { Granularity::PerTensor },
                    averaging: if moving { Averaging::MovingAverage(AVERAGING_CONSTANT) } else { Averaging::MinMax },
                };
                let mut fq = FakeQuantize::new(spec).unwrap();
                let channels = if per_channel { 8 } else { 1 };
                for b in 0..3 {
                    let xb = &x[b * per_batch..(b + 1) * per_batch];
                    let (mut out, mut mask) = (vec![0.0; per_batch], vec![false; per_batch]);
                    fq.forward(xb, 8, &mut out, &mut mask);
                    let mut grad = vec![0.0; per_batch];
                    fake_quant::backward(&g[b * per_batch..(b + 1) * per_batch], &mask, &mut grad);
                    let at = |key: &str| {
                        let all = f.get(&format!("{name}.{key}"));
                        let n = all.len() / 3;
                        all[b * n..(b + 1) * n].to_vec()
                    };
                    let what = |key: &str| format!("{name} batch {b} {key}");
                    common::assert_bits_eq(&what("min"), &fq.observer.min_val, &at("min"));
                    common::assert_bits_eq(&what("max"), &fq.observer.max_val, &at("max"));
                    assert_eq!(fq.scale.len(), channels);
                    common::assert_bits_eq(&what("scale"), &fq.scale, &at("scale"));
                    let zps: Vec<i32> = at("zero_point").iter().map(|&v| v as i32).collect();
                    assert_eq!(fq.zero_point, zps, "{}", what("zero point"));
                    common::assert_bits_eq(&what("out"), &out, &at("out"));
                    common::assert_bits_eq(&what("grad"), &grad, &at("grad"));
                }
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 30);
}

#[test]
fn disabled_nodes_pass_values_and_gradients_through() {
    let spec = QuantSpec {
        bits: 2,
        signedness: Signedness::Signed,
        symmetry: Symmetry::Symmetric,
        granularity: Granularity::PerTensor,
        averaging: Averaging::MinMax,
    };
    let mut fq = FakeQuantize::new(spec).unwrap();
    let x = [0.3f32, -2.0, 1.7, 0.05];
    let (mut out, mut mask) = ([0.0; 4], [false; 4]);
    fq.forward(&x, 1, &mut out, &mut mask);
    assert_ne!(out, x, "2-bit fake quant changes these values");
    let (scale, min) = (fq.scale.clone(), fq.observer.min_val.clone());
    fq.observer_enabled = false;
    fq.forward(&[10.0, -10.0, 0.0, 0.0], 1, &mut out, &mut mask);
    assert_eq!((fq.scale.clone(), fq.observer.min_val.clone()), (scale, min), "a disabled observer keeps its range");
    fq.fake_quant_enabled = false;
    fq.forward(&x, 1, &mut out, &mut mask);
    assert_eq!(out, x);
    assert!(mask.iter().all(|&m| m));
}

#[test]
fn nonsensical_ranges_are_refused_with_the_reason() {
    let mut spec = QuantSpec {
        bits: 1,
        signedness: Signedness::Unsigned,
        symmetry: Symmetry::Affine,
        granularity: Granularity::PerTensor,
        averaging: Averaging::MinMax,
    };
    let err = FakeQuantize::new(spec).unwrap_err().to_string();
    assert!(err.contains("1 bits"), "{err}");
    spec.bits = 9;
    assert!(FakeQuantize::new(spec).unwrap_err().to_string().contains("9 bits"));
    spec.bits = 4;
    spec.averaging = Averaging::MovingAverage(0.0);
    assert!(FakeQuantize::new(spec).unwrap_err().to_string().contains("averaging constant"));
    assert!(QRange::new(1, 5).unwrap_err().to_string().contains("include 0"));
    assert!(QRange::new(-200, 100).unwrap_err().to_string().contains("256"));
}

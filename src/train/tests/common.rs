//! Shared by the tests: the torch fixtures (tests/fixtures/train, scripts/fixtures/make_train.py)
//! and the shipped digits, read with the project's npz reader.

#![allow(dead_code)]

use std::collections::HashMap;

pub struct Npz(pub HashMap<String, (Vec<usize>, Vec<f32>)>);

impl Npz {
    pub fn parse(bytes: &[u8]) -> Npz {
        let tensors = quantscope_formats::npz::parse(bytes).expect("fixture npz");
        Npz(tensors.into_iter().map(|t| (t.name.clone(), (t.shape, t.data))).collect())
    }

    pub fn get(&self, name: &str) -> &[f32] {
        &self.0.get(name).unwrap_or_else(|| panic!("fixture has no array {name}")).1
    }

    pub fn shape(&self, name: &str) -> &[usize] {
        &self.0[name].0
    }

    pub fn ints(&self, name: &str) -> Vec<i32> {
        self.get(name).iter().map(|&v| v as i32).collect()
    }
}

pub fn fake_quant() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/fake_quant.npz"))
}

pub fn prune() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/prune.npz"))
}

pub fn lsq() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/lsq.npz"))
}

pub fn distill() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/distill.npz"))
}

pub fn kmeans_fixture() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/kmeans.npz"))
}

pub fn conv_lsq() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/conv_lsq.npz"))
}

pub fn conv_distill() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/conv_distill.npz"))
}

pub fn conv_kmeans() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/conv_kmeans.npz"))
}

pub fn step() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/step.npz"))
}

/// Largest |a − b|, and its index.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> (f32, usize) {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).enumerate().fold((0.0, 0), |(m, at), (i, (x, y))| {
        let d = (x - y).abs();
        if d > m || d.is_nan() {
            (d, i)
        } else {
            (m, at)
        }
    })
}

/// Bit equality (so −0 ≠ +0 and NaN = NaN with the same payload), reporting the first difference.
pub fn assert_bits_eq(what: &str, ours: &[f32], torch: &[f32]) {
    assert_eq!(ours.len(), torch.len(), "{what}: lengths differ");
    if let Some(i) = (0..ours.len()).find(|&i| ours[i].to_bits() != torch[i].to_bits()) {
        panic!("{what}: element {i} is {} here, {} in torch", ours[i], torch[i]);
    }
}

pub fn ptq_static() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/ptq_static.npz"))
}

/// torch's default QAT/PTQ specs at `bits`: weights signed symmetric per output channel,
/// activations unsigned affine per tensor, min-max observers.
pub fn ptq_specs(bits: u32) -> (quantscope_train::observer::QuantSpec, quantscope_train::observer::QuantSpec) {
    use quantscope_train::observer::{Averaging, Granularity, QuantSpec, Signedness, Symmetry};
    let weight = QuantSpec {
        bits,
        signedness: Signedness::Signed,
        symmetry: Symmetry::Symmetric,
        granularity: Granularity::PerChannel,
        averaging: Averaging::MinMax,
    };
    (weight, QuantSpec { signedness: Signedness::Unsigned, symmetry: Symmetry::Affine, granularity: Granularity::PerTensor, ..weight })
}

/// The MLP of `sizes` whose Linear layers are a fixture's `{prefix}p0`, `{prefix}p1`, ... (weight,
/// bias per layer, as torch's `parameters()` lists them).
pub fn fixture_mlp(f: &Npz, prefix: &str, sizes: &[usize]) -> quantscope_train::mlp::Mlp {
    use quantscope_train::mlp::{Linear, Mlp};
    let layers = sizes
        .windows(2)
        .enumerate()
        .map(|(i, w)| Linear {
            in_features: w[0],
            out_features: w[1],
            weight: f.get(&format!("{prefix}p{}", 2 * i)).to_vec(),
            bias: f.get(&format!("{prefix}p{}", 2 * i + 1)).to_vec(),
        })
        .collect();
    Mlp { layers }
}

pub fn cubic() -> Npz {
    Npz::parse(include_bytes!("../../../tests/fixtures/train/cubic.npz"))
}

/// The fixtures' torch.ao QAT settings at `bits`: weights signed, symmetric, a scale per output
/// channel; activations unsigned, affine, one scale; both with MovingAverageMinMax observers
/// (`torch.ao.quantization.default_*_fake_quant` with the width changed).
pub fn qat_specs(bits: u32) -> (quantscope_train::observer::QuantSpec, quantscope_train::observer::QuantSpec) {
    use quantscope_train::observer::{Averaging, Granularity, QuantSpec, Signedness, Symmetry, AVERAGING_CONSTANT};
    let averaging = Averaging::MovingAverage(AVERAGING_CONSTANT);
    let weight =
        QuantSpec { bits, signedness: Signedness::Signed, symmetry: Symmetry::Symmetric, granularity: Granularity::PerChannel, averaging };
    let activation =
        QuantSpec { bits, signedness: Signedness::Unsigned, symmetry: Symmetry::Affine, granularity: Granularity::PerTensor, averaging };
    (weight, activation)
}

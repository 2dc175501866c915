//! Pruning masks against torch.nn.utils.prune (torch 1.13; fixtures:
//! scripts/fixtures/make_train.py prune → tests/fixtures/train/prune.npz): exactly the same
//! weights pruned, per layer, globally and by whole neurons.

mod common;

use quantscope_train::mlp::{Linear, Mlp};
use quantscope_train::prune;

const SIZES: [usize; 4] = [96, 32, 24, 10];

fn model(f: &common::Npz) -> Mlp {
    let layers = SIZES
        .windows(2)
        .enumerate()
        .map(|(i, w)| Linear { in_features: w[0], out_features: w[1], weight: f.get(&format!("w{i}")).to_vec(), bias: vec![0.0; w[1]] })
        .collect();
    Mlp { layers }
}

#[test]
fn masks_equal_torch() {
    let f = common::prune();
    let m = model(&f);
    for (i, layer) in m.layers.iter().enumerate() {
        common::assert_bits_eq(
            &format!("l1_unstructured layer {i}"),
            &prune::l1_unstructured(layer, 0.3).unwrap(),
            f.get(&format!("l1.mask{i}")),
        );
        for n in [1, 2] {
            let mask = prune::ln_structured(layer, 0.25, n).unwrap();
            common::assert_bits_eq(&format!("ln_structured n={n} layer {i}"), &mask, f.get(&format!("ln{n}.mask{i}")));
        }
    }
    let global = prune::global_unstructured(&m, 0.6).unwrap();
    for (i, mask) in global.iter().enumerate() {
        common::assert_bits_eq(&format!("global_unstructured layer {i}"), mask, f.get(&format!("global.mask{i}")));
    }
    // The global mask prunes layers unevenly (torch: 68 %, 38 %, 31 % here), 60 % in all.
    assert!((prune::sparsity(&global) - 0.6).abs() < 1e-3);
    let pruned = prune::apply(&m, &global);
    assert_eq!(pruned.layers[0].weight.iter().filter(|&&w| w == 0.0).count(), global[0].iter().filter(|&&v| v == 0.0).count());
}

#[test]
fn fine_tuning_keeps_pruned_weights_at_zero_and_trains_the_rest() {
    use quantscope_train::data::Dataset;
    use quantscope_train::optim::OptimizerKind;
    use quantscope_train::trainer::{TrainConfig, Trainer};
    let labels: Vec<u8> = (0..64).map(|i| (i % 4) as u8).collect();
    let pixels: Vec<u8> = (0..64 * 16).map(|i| ((i * 37 + i / 16 * 11) % 256) as u8).collect();
    let data = Dataset::from_u8(&pixels, &labels, 16, 4).unwrap();
    let config = TrainConfig {
        sizes: vec![16, 8, 4],
        optimizer: OptimizerKind::adam(1e-2),
        epochs: 1,
        batch_size: 16,
        seed: 3,
        qat: None,
        distill: None,
    };
    let mut t = Trainer::new(config, &data).unwrap();
    while !t.finished() {
        t.step(&data).unwrap();
    }
    let masks = prune::global_unstructured(&t.model, 0.5).unwrap();
    t.set_masks(masks.clone()).unwrap();
    let before = t.effective_model();
    t.extend(2).unwrap();
    while !t.finished() {
        t.step(&data).unwrap();
    }
    let after = t.effective_model();
    for (l, mask) in masks.iter().enumerate() {
        for (k, &m) in mask.iter().enumerate() {
            if m == 0.0 {
                assert_eq!(after.layers[l].weight[k], 0.0, "layer {l} weight {k} was pruned");
            }
        }
    }
    let moved = before.layers.iter().zip(&after.layers).flat_map(|(a, b)| a.weight.iter().zip(&b.weight)).filter(|(a, b)| a != b).count();
    assert!(moved > 0, "fine-tuning changed no unpruned weight");
    assert!(t.set_masks(vec![vec![1.0; 3]]).is_err());
    assert!(t.extend(0).is_err());
}

/// The conv net's masks (`prune::conv_layers`: each conv weight as its rows [O, C·k·k]) equal
/// torch's on the 4-D weights of Conv2d(2, 6, 3), Conv2d(6, 8, 3), Linear(32, 10): per layer,
/// globally and by whole output channels.
#[test]
fn conv_masks_equal_torch() {
    use quantscope_train::conv::{Conv2d, ConvNet, Layer, Shape};
    let f = common::prune();
    let conv = |i: usize, c: usize, o: usize| {
        assert_eq!(f.shape(&format!("conv.w{i}")), &[o, c, 3, 3]);
        Layer::Conv2d(Conv2d {
            in_channels: c,
            out_channels: o,
            kernel: 3,
            weight: f.get(&format!("conv.w{i}")).to_vec(),
            bias: vec![0.0; o],
        })
    };
    let fc = Linear { in_features: 32, out_features: 10, weight: f.get("conv.w2").to_vec(), bias: vec![0.0; 10] };
    let layers = vec![conv(0, 2, 6), Layer::Relu, conv(1, 6, 8), Layer::Relu, Layer::Flatten, Layer::Linear(fc)];
    let net = ConvNet::new(Shape { channels: 2, height: 6, width: 6 }, layers).unwrap();
    let m = prune::conv_layers(&net);
    assert_eq!(m.layers.iter().map(|l| (l.out_features, l.in_features)).collect::<Vec<_>>(), vec![(6, 18), (8, 54), (10, 32)]);
    for (i, layer) in m.layers.iter().enumerate() {
        let l1 = prune::l1_unstructured(layer, 0.3).unwrap();
        common::assert_bits_eq(&format!("conv l1_unstructured layer {i}"), &l1, f.get(&format!("conv.l1.mask{i}")));
        for n in [1, 2] {
            let mask = prune::ln_structured(layer, 0.25, n).unwrap();
            common::assert_bits_eq(&format!("conv ln_structured n={n} layer {i}"), &mask, f.get(&format!("conv.ln{n}.mask{i}")));
        }
    }
    let global = prune::global_unstructured(&m, 0.6).unwrap();
    for (i, mask) in global.iter().enumerate() {
        common::assert_bits_eq(&format!("conv global_unstructured layer {i}"), mask, f.get(&format!("conv.global.mask{i}")));
    }
    // apply_conv zeroes exactly the masked weights of each Conv2d and the Linear.
    let pruned = prune::apply_conv(&net, &global);
    for (w, mask) in pruned.params().iter().step_by(2).zip(&global) {
        assert_eq!(w.iter().filter(|&&v| v == 0.0).count(), mask.iter().filter(|&&v| v == 0.0).count());
    }
}

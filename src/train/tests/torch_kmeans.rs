//! k-means weight sharing fine-tuned in training (src/train/src/share.rs): the codebook is the
//! library's `kmeans{b}` byte for byte; three fine-tuning steps (SGD with momentum, Adam) equal
//! torch's autograd on `weight = centroids[codes]` (fixture: scripts/fixtures/make_train_kmeans.py
//! → tests/fixtures/train/kmeans.npz) within 1e-5·(1 + |torch's|), as tests/torch_step.rs holds a
//! step (torch's matmul adds in another order); a fine-tuned run's weights take at most 2^b values
//! per layer, their codes unchanged; bad settings are refused with the reason.

mod common;

use half::f16;
use quantscope_core::schemes::kmeans::KmeansScheme;
use quantscope_core::schemes::Scheme;
use quantscope_train::data::Dataset;
use quantscope_train::loss::softmax_cross_entropy;
use quantscope_train::mlp::{Linear, Mlp, Tape};
use quantscope_train::observer::{Averaging, Granularity};
use quantscope_train::optim::{Optimizer, OptimizerKind};
use quantscope_train::share::WeightSharing;
use quantscope_train::trainer::{QatConfig, QatMethod, TrainConfig, Trainer};
use quantscope_train::Error;

const SIZES: [usize; 4] = [96, 32, 24, 10];

fn close(what: &str, ours: &[f32], torch: &[f32]) {
    assert_eq!(ours.len(), torch.len(), "{what}: lengths");
    for (i, (&a, &b)) in ours.iter().zip(torch).enumerate() {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{what}[{i}]: {a} here, {b} in torch");
    }
}

/// step.npz's MLP 96-32-24-10 (make_train.py), its weights before any sharing.
fn model() -> Mlp {
    let f = common::step();
    Mlp {
        layers: SIZES
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear {
                in_features: w[0],
                out_features: w[1],
                weight: f.get(&format!("p{}", 2 * i)).to_vec(),
                bias: f.get(&format!("p{}", 2 * i + 1)).to_vec(),
            })
            .collect(),
    }
}

/// The library's packed layout of one tensor: the f16 codebook, then the codes as a
/// little-endian bit stream (src/core/src/schemes/kmeans/mod.rs).
fn pack(centroids: &[f32], codes: &[usize], bits: u32) -> Vec<u8> {
    let mut bytes: Vec<u8> = centroids.iter().flat_map(|&c| f16::from_f32(c).to_le_bytes()).collect();
    let start = bytes.len();
    bytes.resize(start + (codes.len() * bits as usize).div_ceil(8), 0);
    for (i, &c) in codes.iter().enumerate() {
        for b in 0..bits as usize {
            let at = i * bits as usize + b;
            bytes[start + at / 8] |= (((c >> b) & 1) as u8) << (at % 8);
        }
    }
    bytes
}

#[test]
fn the_codebook_is_the_library_s_kmeans_byte_for_byte() {
    let original = model();
    for bits in [2, 3, 4, 6, 8] {
        let mut m = original.clone();
        let sharing = WeightSharing::cluster(&mut m, bits).unwrap();
        let stored = sharing.stored(&m);
        let scheme = KmeansScheme::from_id(&format!("kmeans{bits}")).unwrap();
        let mut packed_total = 0;
        for (l, layer) in original.layers.iter().enumerate() {
            let q = scheme.quantize(&layer.weight, &[layer.out_features, layer.in_features]).unwrap();
            let shared = &sharing.layers[l];
            assert_eq!(pack(&shared.centroids, &shared.codes, bits), q.packed, "kmeans{bits} layer {l}: the packed bytes");
            common::assert_bits_eq(&format!("kmeans{bits} layer {l}: the weights"), &stored.layers[l].weight, &q.dequantized);
            // Before fine-tuning, the trained (f32) centroids are the stored f16 ones.
            assert_eq!(m.layers[l].weight, stored.layers[l].weight);
            packed_total += q.packed.len();
        }
        let biases: usize = original.layers.iter().map(|l| l.bias.len() * 4).sum();
        assert_eq!(sharing.stored_bytes(&m), packed_total + biases, "kmeans{bits}: bytes as the library's packed length");
    }
}

#[test]
fn fine_tuning_the_centroids_equals_torch() {
    let (step, f) = (common::step(), common::kmeans_fixture());
    let x = step.get("x");
    let y: Vec<u8> = step.get("y").iter().map(|&v| v as u8).collect();
    for bits in [2, 4] {
        let mut start = model();
        let sharing = WeightSharing::cluster(&mut start, bits).unwrap();
        for (l, shared) in sharing.layers.iter().enumerate() {
            let codes: Vec<f32> = shared.codes.iter().map(|&c| c as f32).collect();
            common::assert_bits_eq(&format!("b{bits} codes of layer {l}"), &codes, f.get(&format!("b{bits}.codes{l}")));
            common::assert_bits_eq(&format!("b{bits} codebook of layer {l}"), &shared.centroids, f.get(&format!("b{bits}.init{l}")));
        }
        for (name, kind) in [
            ("sgd", OptimizerKind::Sgd { lr: 0.05, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: false }),
            ("adam", OptimizerKind::adam(1e-2)),
        ] {
            let (mut m, mut s) = (start.clone(), sharing.clone());
            let mut optimizer = Optimizer::new(kind).unwrap();
            let (mut tape, mut grads) = (Tape::default(), m.zero_grads());
            let mut losses = Vec::new();
            for k in 0..3 {
                m.forward(x, y.len(), None, &mut tape);
                let mut grad_logits = vec![0.0; tape.logits().len()];
                losses.push(softmax_cross_entropy(tape.logits(), &y, 10, &mut grad_logits));
                m.backward(&tape, &grad_logits, &mut grads);
                if k == 0 {
                    for (l, g) in s.centroid_grads(&grads).iter().enumerate() {
                        close(&format!("b{bits} d loss / d centroids of layer {l}"), g, f.get(&format!("b{bits}.grad{l}")));
                    }
                }
                s.step(&mut m, &grads, &mut optimizer);
            }
            close(&format!("b{bits} {name}: losses"), &losses, f.get(&format!("b{bits}.{name}.loss")));
            for (l, (shared, layer)) in s.layers.iter().zip(&m.layers).enumerate() {
                close(&format!("b{bits} {name}: centroids of layer {l}"), &shared.centroids, f.get(&format!("b{bits}.{name}.c{l}")));
                close(&format!("b{bits} {name}: bias of layer {l}"), &layer.bias, f.get(&format!("b{bits}.{name}.b{l}")));
                for (&w, &c) in layer.weight.iter().zip(&shared.codes) {
                    assert_eq!(w, shared.centroids[c], "every weight is its centroid");
                }
            }
            assert_ne!(s.layers[0].centroids, sharing.layers[0].centroids, "the centroids moved");
        }
    }
}

/// The conv net of conv.npz (make_train_conv.py) shared per weight tensor: its codebooks and codes
/// are the library's `kmeans{b}` of each 4-D / 2-D weight byte for byte (the stored bytes count
/// them), and three SGD and Adam steps of its centroids and biases equal torch's autograd on
/// `F.conv2d(x, centroids[codes].view(shape))` (make_train_kmeans.py → conv_kmeans.npz).
#[test]
fn the_conv_net_s_codebooks_and_fine_tuning_equal_torch() {
    use quantscope_train::conv::{ConvNet, ConvTape};
    let (c, f) = (common::Npz::parse(include_bytes!("../../../tests/fixtures/train/conv.npz")), common::conv_kmeans());
    let mut original = ConvNet::digits(0);
    for (i, p) in original.params_mut().into_iter().enumerate() {
        p.copy_from_slice(c.get(&format!("p{i}")));
    }
    let (x, y): (&[f32], Vec<u8>) = (c.get("x"), c.get("y").iter().map(|&v| v as u8).collect());
    for bits in [2, 4] {
        let mut start = original.clone();
        let sharing = WeightSharing::cluster_conv(&mut start, bits).unwrap();
        let scheme = KmeansScheme::from_id(&format!("kmeans{bits}")).unwrap();
        let mut packed_total = 0;
        for (l, shared) in sharing.layers.iter().enumerate() {
            let weight = original.params()[2 * l];
            let q = scheme.quantize(weight, &[weight.len()]).unwrap();
            assert_eq!(pack(&shared.centroids, &shared.codes, bits), q.packed, "kmeans{bits} tensor {l}: the packed bytes");
            packed_total += q.packed.len();
            let codes: Vec<f32> = shared.codes.iter().map(|&c| c as f32).collect();
            common::assert_bits_eq(&format!("b{bits} codes of tensor {l}"), &codes, f.get(&format!("b{bits}.codes{l}")));
            common::assert_bits_eq(&format!("b{bits} codebook of tensor {l}"), &shared.centroids, f.get(&format!("b{bits}.init{l}")));
        }
        assert_eq!(sharing.stored_bytes_with(8 + 16 + 10), packed_total + 34 * 4);
        for (name, kind) in [
            ("sgd", OptimizerKind::Sgd { lr: 0.05, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: false }),
            ("adam", OptimizerKind::adam(1e-2)),
        ] {
            let (mut net, mut s) = (start.clone(), sharing.clone());
            let mut optimizer = Optimizer::new(kind).unwrap();
            let (mut tape, mut grads) = (ConvTape::default(), net.zero_grads());
            let mut losses = Vec::new();
            for k in 0..3 {
                net.forward(x, y.len(), None, &mut tape);
                let mut grad_logits = vec![0.0; tape.logits().len()];
                losses.push(softmax_cross_entropy(tape.logits(), &y, 10, &mut grad_logits));
                net.backward(&tape, &grad_logits, &mut grads);
                if k == 0 {
                    for (l, g) in s.centroid_grads_conv(&grads).iter().enumerate() {
                        close(&format!("conv b{bits} d loss / d centroids of tensor {l}"), g, f.get(&format!("b{bits}.grad{l}")));
                    }
                }
                s.step_conv(&mut net, &grads, &mut optimizer);
            }
            close(&format!("conv b{bits} {name}: losses"), &losses, f.get(&format!("b{bits}.{name}.loss")));
            let params = net.params();
            for (l, shared) in s.layers.iter().enumerate() {
                close(&format!("conv b{bits} {name}: centroids of tensor {l}"), &shared.centroids, f.get(&format!("b{bits}.{name}.c{l}")));
                close(&format!("conv b{bits} {name}: bias of tensor {l}"), params[2 * l + 1], f.get(&format!("b{bits}.{name}.b{l}")));
                for (&w, &c) in params[2 * l].iter().zip(&shared.codes) {
                    assert_eq!(w, shared.centroids[c], "every weight is its centroid");
                }
            }
            assert_ne!(s.layers[1].centroids, sharing.layers[1].centroids, "the centroids moved");
        }
    }
}

/// Four classes of 16 pixels, each lit in its own quarter (as tests/torch_distill.rs).
fn digits() -> Dataset {
    let labels: Vec<u8> = (0..96).map(|i| (i % 4) as u8).collect();
    let pixels: Vec<u8> =
        (0..96 * 16).map(|i| if (i % 16) / 4 == (i / 16) % 4 { 150 + (i * 37 % 100) as u8 } else { (i * 53 % 120) as u8 }).collect();
    Dataset::from_u8(&pixels, &labels, 16, 4).unwrap()
}

fn config(qat: Option<QatConfig>) -> TrainConfig {
    TrainConfig { sizes: vec![16, 12, 4], optimizer: OptimizerKind::adam(1e-2), epochs: 3, batch_size: 16, seed: 7, qat, distill: None }
}

fn distinct(values: &[f32]) -> usize {
    let mut bits: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
    bits.sort_unstable();
    bits.dedup();
    bits.len()
}

#[test]
fn a_fine_tuned_run_keeps_2_to_the_b_values_per_layer() {
    let data = digits();
    let mut fp32 = Trainer::new(config(None), &data).unwrap();
    while !fp32.finished() {
        fp32.step(&data).unwrap();
    }
    for bits in [1, 2, 3] {
        let mut run = Trainer::with_shared_weights(config(None), &data, fp32.effective_model(), bits).unwrap();
        let one_shot = run.effective_model();
        let codes: Vec<Vec<usize>> = run.shared.as_ref().unwrap().layers.iter().map(|l| l.codes.clone()).collect();
        while !run.finished() {
            run.step(&data).unwrap();
        }
        let tuned = run.effective_model();
        let sharing = run.shared.as_ref().unwrap();
        for (l, layer) in tuned.layers.iter().enumerate() {
            let n = distinct(&layer.weight);
            assert!(n <= 1 << bits && n >= 2, "{bits} bits, layer {l}: {n} distinct weights");
            assert_eq!(sharing.layers[l].codes, codes[l], "the codes stay fixed");
            for (&w, &c) in layer.weight.iter().zip(&sharing.layers[l].codes) {
                assert_eq!(w, f16::from_f32(sharing.layers[l].centroids[c]).to_f32(), "stored: the f16 centroid");
            }
            assert_ne!(layer.weight, one_shot.layers[l].weight, "fine-tuning moved the centroids");
            assert_ne!(layer.bias, one_shot.layers[l].bias, "and the biases");
        }
        // 16·12 + 12·4 weights at `bits` each, 2^b f16 centroids per layer, 16 f32 biases.
        let expected = (192 * bits as usize).div_ceil(8) + (48 * bits as usize).div_ceil(8) + 2 * 2 * (1 << bits) + 16 * 4;
        assert_eq!(sharing.stored_bytes(&run.model), expected);
        assert!(run.evaluate(&data) > 0.5, "{bits} bits: {} (chance 0.25)", run.evaluate(&data));
    }
}

#[test]
fn bad_weight_sharing_settings_are_refused_with_the_reason() {
    let data = digits();
    let model = Mlp::new(&[16, 12, 4], 1).unwrap();
    let why = |c: TrainConfig, m: Mlp, bits: u32| match Trainer::with_shared_weights(c, &data, m, bits) {
        Err(Error::Config(why)) => why,
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("accepted {bits} bits"),
    };
    assert_eq!(why(config(None), model.clone(), 0), "k-means weight sharing at 0 bits: choose 1 to 8 bits (2 to 256 centroids per layer)");
    assert!(why(config(None), model.clone(), 9).contains("at 9 bits: choose 1 to 8 bits"));
    let qat = QatConfig {
        method: QatMethod::Observed,
        bits: 4,
        weight_granularity: Granularity::PerChannel,
        averaging: Averaging::MinMax,
        freeze_observers_after: None,
    };
    assert!(why(config(Some(qat)), model.clone(), 4).contains("fine-tunes FP32 weights"));
    let no_epochs = TrainConfig { epochs: 0, ..config(None) };
    assert!(why(no_epochs, model.clone(), 4).contains("0 epochs"));
    let mut m = model.clone();
    assert!(WeightSharing::cluster(&mut m, 0).is_err());
    assert_eq!(m, model, "a refused clustering leaves the weights alone");
}

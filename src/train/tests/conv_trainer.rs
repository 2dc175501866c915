//! A conv net run through the one trainer (`Trainer::with_conv`): it learns the shipped digits, is
//! reproducible from its seed, stops on divergence keeping the weights before it, trains with LSQ,
//! k-means weight sharing and distillation (as a teacher and as a student), and refuses settings
//! that make no sense with the reason.

use quantscope_train::conv::{ConvNet, Layer, DIGIT};
use quantscope_train::data::Dataset;
use quantscope_train::distill::DistillConfig;
use quantscope_train::observer::{Averaging, Granularity};
use quantscope_train::optim::OptimizerKind;
use quantscope_train::trainer::{Divergence, QatConfig, QatMethod, TrainConfig, Trainer};
use quantscope_train::Error;

fn digits(n: usize) -> Dataset {
    let bytes = std::fs::read(format!("{}/../../www/models/mnist_train.npz", env!("CARGO_MANIFEST_DIR"))).expect("shipped digits");
    let tensors = quantscope_formats::npz::parse(&bytes).expect("digits npz");
    let get = |name: &str| tensors.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no {name}"));
    let pixels: Vec<u8> = get("images").data.iter().take(n * 784).map(|&v| v as u8).collect();
    let labels: Vec<u8> = get("labels").data.iter().take(n).map(|&v| v as u8).collect();
    Dataset::from_u8(&pixels, &labels, 784, 10).expect("digits")
}

fn config(optimizer: OptimizerKind, epochs: usize) -> TrainConfig {
    // `sizes` is set from the net by with_conv.
    TrainConfig { sizes: vec![], optimizer, epochs, batch_size: 32, seed: 5, qat: None, distill: None }
}

fn run(t: &mut Trainer, data: &Dataset) {
    while !t.finished() {
        t.step(data).unwrap();
    }
}

#[test]
fn the_conv_net_learns_the_digits() {
    let all = digits(1500);
    let train = Dataset { images: all.images[..1000 * 784].to_vec(), labels: all.labels[..1000].to_vec(), ..all.clone() };
    let test = Dataset { images: all.images[1000 * 784..].to_vec(), labels: all.labels[1000..].to_vec(), ..all };
    let mut t = Trainer::with_conv(config(OptimizerKind::adam(3e-3), 2), &train, ConvNet::digits(1)).unwrap();
    let before = t.evaluate(&test);
    assert_eq!(t.total_steps(&train), 2 * 32);
    run(&mut t, &train);
    let after = t.evaluate(&test);
    // 64 steps of 32 digits: well above chance (10 %) and above the untrained net.
    assert!(after > 0.7 && after > before + 0.4, "test accuracy {before} → {after}");
    assert_eq!(t.step, 64);
    // The same seed and net give the same weights.
    let mut again = Trainer::with_conv(config(OptimizerKind::adam(3e-3), 2), &train, ConvNet::digits(1)).unwrap();
    run(&mut again, &train);
    assert_eq!(again.conv, t.conv);
}

/// Quantization-aware training at 4 bits: the run learns through its fake quantization, and its
/// evaluation is the fake-quant forward (observers frozen), not the float one.
#[test]
fn the_conv_net_learns_with_fake_quantization() {
    let all = digits(1500);
    let train = Dataset { images: all.images[..1000 * 784].to_vec(), labels: all.labels[..1000].to_vec(), ..all.clone() };
    let test = Dataset { images: all.images[1000 * 784..].to_vec(), labels: all.labels[1000..].to_vec(), ..all };
    let qat = QatConfig {
        method: QatMethod::Observed,
        bits: 4,
        weight_granularity: Granularity::PerChannel,
        averaging: Averaging::MovingAverage(quantscope_train::observer::AVERAGING_CONSTANT),
        freeze_observers_after: Some(48),
    };
    let mut t =
        Trainer::with_conv(TrainConfig { qat: Some(qat), ..config(OptimizerKind::adam(3e-3), 2) }, &train, ConvNet::digits(1)).unwrap();
    assert_eq!(t.qat.as_ref().unwrap().weights.len(), 3);
    run(&mut t, &train);
    let fake_quant = t.evaluate(&test);
    assert!(fake_quant > 0.6, "QAT INT4 test accuracy {fake_quant}");
    // The fake-quant forward's logits are on a 4-bit grid: at most 16 distinct values per batch.
    let net = t.conv.as_ref().unwrap();
    let mut qat = t.qat.clone();
    qat.as_mut().unwrap().set_observers(false);
    let mut tape = quantscope_train::conv::ConvTape::default();
    net.forward(&test.images[..100 * 784], 100, qat.as_mut(), &mut tape);
    let mut levels: Vec<u32> = tape.logits().iter().map(|v| v.to_bits()).collect();
    levels.sort_unstable();
    levels.dedup();
    assert!(levels.len() <= 16, "{} distinct logits", levels.len());
    let by_hand = tape.logits().chunks_exact(10).zip(&test.labels).filter(|(r, &l)| {
        let best = r.iter().enumerate().fold(0, |b, (i, &v)| if v > r[b] { i } else { b });
        best == l as usize
    });
    assert!(by_hand.count() > 60);
}

#[test]
fn a_diverging_conv_run_stops_and_keeps_the_weights_before() {
    let data = digits(256);
    let mut t = Trainer::with_conv(config(OptimizerKind::sgd(1e30), 1), &data, ConvNet::digits(2)).unwrap();
    let mut last_good = t.conv.clone();
    let stop = loop {
        match t.step(&data) {
            Ok(_) => last_good = t.conv.clone(),
            Err(d) => break d,
        }
    };
    assert!(matches!(stop, Divergence::Weights { .. } | Divergence::Loss { .. }), "{stop:?}");
    assert_eq!(t.conv, last_good);
    assert!(t.conv.as_ref().unwrap().is_finite());
}

#[test]
fn misfits_are_refused() {
    let data = digits(64);
    let refusal = |c: TrainConfig, net: ConvNet| match Trainer::with_conv(c, &data, net) {
        Err(Error::Config(msg)) => msg,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted"),
    };
    let adam = OptimizerKind::adam(1e-3);
    let distill = Some(DistillConfig { temperature: 4.0, alpha: 0.5 });
    assert!(refusal(TrainConfig { distill, ..config(adam, 1) }, ConvNet::digits(1)).contains("distillation needs a teacher"));
    assert!(refusal(config(OptimizerKind::adam(-1.0), 1), ConvNet::digits(1)).contains("learning rate"));
    assert!(refusal(config(adam, 0), ConvNet::digits(1)).contains("epochs"));
    // A net of 5 classes on the 10 digits.
    let mut five = ConvNet::digits(1);
    if let Some(Layer::Linear(l)) = five.layers.last_mut() {
        *l = quantscope_train::mlp::Linear::zeros(256, 5);
    }
    let five = ConvNet::new(DIGIT, five.layers).unwrap();
    assert!(refusal(config(adam, 1), five).contains("gives 5 classes"));
    let mut t = Trainer::with_conv(config(adam, 1), &data, ConvNet::digits(1)).unwrap();
    assert!(matches!(t.set_masks(vec![]), Err(Error::Config(m)) if m.contains("the pruning masks do not fit")));
}

fn lsq(bits: u32, static_steps: u64) -> QatConfig {
    QatConfig {
        method: QatMethod::Learned { static_steps },
        bits,
        weight_granularity: Granularity::PerChannel,
        averaging: Averaging::MovingAverage(quantscope_train::observer::AVERAGING_CONSTANT),
        freeze_observers_after: None,
    }
}

/// LSQ on the conv net: the observers set the scales for the static steps, then the optimizer
/// learns them with the weights, and the run learns the digits through its 4-bit fake quant.
#[test]
fn an_lsq_conv_run_learns_its_scales_and_the_digits() {
    let all = digits(1500);
    let train = Dataset { images: all.images[..1000 * 784].to_vec(), labels: all.labels[..1000].to_vec(), ..all.clone() };
    let test = Dataset { images: all.images[1000 * 784..].to_vec(), labels: all.labels[1000..].to_vec(), ..all };
    let c = TrainConfig { qat: Some(lsq(4, 3)), ..config(OptimizerKind::adam(3e-3), 2) };
    let mut t = Trainer::with_conv(c, &train, ConvNet::digits(1)).unwrap();
    let scales = |t: &Trainer| t.qat.as_ref().unwrap().nodes().flat_map(|n| n.scale().to_vec()).collect::<Vec<f32>>();
    assert_eq!(scales(&t).len(), 1 + 8 + 16 + 10 + 3, "per-channel weight scales, per-tensor activations");
    for _ in 0..3 {
        t.step(&train).unwrap();
    }
    let observed = scales(&t);
    assert!(!t.qat.as_ref().unwrap().learning());
    t.step(&train).unwrap();
    assert!(t.qat.as_ref().unwrap().learning());
    let same: Vec<usize> = scales(&t).iter().zip(&observed).enumerate().filter(|(_, (a, b))| a == b).map(|(i, _)| i).collect();
    // A scale whose node passes no gradient on this batch (a dead channel, a clamped logit) stays.
    assert!(same.len() <= 4, "the scales learn: {same:?} did not move");
    run(&mut t, &train);
    let accuracy = t.evaluate(&test);
    assert!(accuracy > 0.6, "LSQ INT4 test accuracy {accuracy}");
}

fn distinct(values: &[f32]) -> usize {
    let mut bits: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
    bits.sort_unstable();
    bits.dedup();
    bits.len()
}

/// k-means weight sharing of a conv run: every weight tensor holds at most 2^b values through
/// fine-tuning, its codes fixed, the biases train; the size is the codebooks, packed codes and biases.
#[test]
fn a_weight_shared_conv_run_keeps_2_to_the_b_values_per_tensor() {
    let data = digits(256);
    let mut fp32 = Trainer::with_conv(config(OptimizerKind::adam(3e-3), 1), &data, ConvNet::digits(3)).unwrap();
    run(&mut fp32, &data);
    let mut t = Trainer::with_shared_conv(config(OptimizerKind::adam(1e-3), 1), &data, fp32.effective_conv().unwrap(), 3).unwrap();
    let codes: Vec<Vec<usize>> = t.shared.as_ref().unwrap().layers.iter().map(|l| l.codes.clone()).collect();
    let one_shot = t.evaluate(&data);
    let before = t.effective_conv().unwrap();
    run(&mut t, &data);
    let after = t.effective_conv().unwrap();
    for (p, (a, b)) in after.params().iter().zip(before.params()).enumerate() {
        if p % 2 == 0 {
            assert!(distinct(a) <= 8, "tensor {p}: {} values", distinct(a));
        }
        assert_ne!(*a, b, "tensor {p} trains");
    }
    let shared = t.shared.as_ref().unwrap();
    assert_eq!(shared.layers.iter().map(|l| l.codes.clone()).collect::<Vec<_>>(), codes);
    // 5,960 weights at 3 bits, 8 f16 centroids per tensor, 34 f32 biases.
    assert_eq!(shared.stored_bytes_with(34), 75 + 1200 + 960 + 3 * 8 * 2 + 34 * 4);
    assert!(t.evaluate(&data) > 0.3 && one_shot > 0.3, "{one_shot} one-shot, {} fine-tuned (chance 0.1)", t.evaluate(&data));
    let lsq_config = TrainConfig { qat: Some(lsq(4, 1)), ..config(OptimizerKind::adam(1e-3), 1) };
    assert!(Trainer::with_shared_conv(lsq_config, &data, fp32.effective_conv().unwrap(), 3).err().unwrap().to_string().contains("FP32"));
    assert!(Trainer::with_shared_conv(config(OptimizerKind::adam(1e-3), 1), &data, ConvNet::digits(1), 9).is_err());
}

/// The conv net as a teacher: an MLP student and a conv student at fewer bits train from it; at
/// α = 0 the conv student is the labels-alone run bit for bit; a conv student no smaller than
/// its conv teacher is refused with the reason.
#[test]
fn a_conv_teacher_distils_into_mlp_and_smaller_conv_students() {
    use quantscope_train::distill::Teacher;
    let data = digits(256);
    let mut teacher = Trainer::with_conv(config(OptimizerKind::adam(3e-3), 2), &data, ConvNet::digits(5)).unwrap();
    run(&mut teacher, &data);
    let conv_teacher = || Teacher::conv(teacher.effective_conv().unwrap(), teacher.qat.clone());
    let distill = |alpha| Some(DistillConfig { temperature: 3.0, alpha });
    let mlp = TrainConfig { sizes: vec![784, 32, 10], distill: distill(0.7), ..config(OptimizerKind::adam(3e-3), 1) };
    let mut student = Trainer::distilled(mlp, &data, conv_teacher()).unwrap();
    run(&mut student, &data);
    assert!(student.evaluate(&data) > 0.3, "MLP student of the conv teacher: {}", student.evaluate(&data));
    let at = |alpha| TrainConfig { qat: Some(lsq(4, 2)), distill: distill(alpha), ..config(OptimizerKind::adam(3e-3), 1) };
    let mut zero = Trainer::with_conv_distilled(at(0.0), &data, ConvNet::digits(6), conv_teacher()).unwrap();
    run(&mut zero, &data);
    let mut alone = Trainer::with_conv(TrainConfig { distill: None, ..at(0.0) }, &data, ConvNet::digits(6)).unwrap();
    run(&mut alone, &data);
    assert_eq!(zero.conv, alone.conv, "α = 0: the labels alone");
    let mut soft = Trainer::with_conv_distilled(at(0.9), &data, ConvNet::digits(6), conv_teacher()).unwrap();
    run(&mut soft, &data);
    assert_ne!(soft.conv, alone.conv);
    eprintln!("LSQ INT4 conv student, 8 steps: {}", soft.evaluate(&data));
    let fp32_student = TrainConfig { qat: None, ..at(0.5) };
    let why = Trainer::with_conv_distilled(fp32_student, &data, ConvNet::digits(6), conv_teacher()).err().unwrap().to_string();
    assert!(why.contains("at FP32 it is no smaller than the FP32 teacher"), "{why}");
    let int4_teacher = Teacher::conv(soft.effective_conv().unwrap(), soft.qat.clone());
    let why = Trainer::with_conv_distilled(at(0.5), &data, ConvNet::digits(6), int4_teacher).err().unwrap().to_string();
    assert!(why.contains("at INT4 it is no smaller than the INT4 teacher"), "{why}");
    // A conv student of an MLP teacher is fine at any width.
    let mut mlp_teacher = Trainer::new(TrainConfig { sizes: vec![784, 16, 10], ..config(OptimizerKind::adam(3e-3), 1) }, &data).unwrap();
    run(&mut mlp_teacher, &data);
    let fp32_student = TrainConfig { qat: None, ..at(0.5) };
    assert!(Trainer::with_conv_distilled(fp32_student, &data, ConvNet::digits(6), Teacher::mlp(mlp_teacher.model.clone(), None)).is_ok());
}

/// The digits' net, initialised or zeroed, fits 28×28 and ends in the 10 classes; the zeroed one
/// is the same layers with every parameter 0 (what the Train export module fills).
#[test]
fn the_digits_net_fits_initialised_or_zeroed() {
    let (net, zeros) = (ConvNet::digits(1), ConvNet::digits_zeros());
    for n in [&net, &zeros] {
        let shapes = n.shapes().unwrap();
        assert_eq!(shapes[0], DIGIT);
        assert_eq!(n.classes(), 10);
        assert_eq!(n.parameter_count(), 5994);
    }
    assert!(zeros.params().iter().all(|p| p.iter().all(|&v| v == 0.0)));
    let sizes = |n: &ConvNet| n.params().iter().map(|p| p.len()).collect::<Vec<_>>();
    assert_eq!(sizes(&net), sizes(&zeros));
    assert!(net.params()[0].iter().any(|&v| v != 0.0));
}

/// A pruned conv net run fine-tunes with its pruned weights held at zero (torch's
/// `weight_orig · mask`), the others trained; masks that do not fit are refused.
#[test]
fn a_pruned_conv_run_keeps_its_pruned_weights_at_zero() {
    use quantscope_train::prune;
    let data = digits(256);
    let mut t = Trainer::with_conv(config(OptimizerKind::adam(3e-3), 1), &data, ConvNet::digits(4)).unwrap();
    run(&mut t, &data);
    let layers = prune::conv_layers(t.conv.as_ref().unwrap());
    let masks = prune::global_unstructured(&layers, 0.5).unwrap();
    assert!(t.set_masks(masks[..2].to_vec()).unwrap_err().to_string().contains("do not fit"));
    t.set_masks(masks.clone()).unwrap();
    let before = t.effective_conv().unwrap();
    t.extend(1).unwrap();
    run(&mut t, &data);
    let after = t.effective_conv().unwrap();
    let (b, a) = (before.params(), after.params());
    for (p, mask) in masks.iter().enumerate() {
        for (k, &m) in mask.iter().enumerate() {
            if m == 0.0 {
                assert_eq!(a[2 * p][k], 0.0, "weight {p}[{k}] was pruned");
            }
        }
        let moved = mask.iter().enumerate().filter(|&(k, &m)| m != 0.0 && a[2 * p][k] != b[2 * p][k]).count();
        assert!(moved > 0, "the unpruned weights of tensor {p} train");
    }
    assert_eq!(t.evaluate(&data), quantscope_train::trainer::evaluate_conv(&after, None, &data));
}

/// Gradual pruning of a conv net through the same prune functions (`prune::conv_layers`): each
/// re-prune is one-shot global L1 of the weights there, the masks held between, and the run ends
/// at the final sparsity with the pruned weights at zero.
#[test]
fn a_gradual_conv_run_reprunes_on_schedule() {
    use quantscope_train::gradual::cubic_sparsity;
    use quantscope_train::prune::{self, Method};
    let data = digits(128);
    let mut t = Trainer::with_conv(config(OptimizerKind::adam(3e-3), 1), &data, ConvNet::digits(4)).unwrap();
    run(&mut t, &data);
    t.extend(1).unwrap(); // 4 steps of 32
    let start = t.step;
    t.set_gradual(Method::GlobalL1, 0.6, 2, 2, &data).unwrap();
    while !t.finished() {
        let before = t.masks().map(<[_]>::to_vec);
        t.step(&data).unwrap();
        let weights = prune::conv_layers(&match &before {
            Some(m) => prune::apply_conv(t.conv.as_ref().unwrap(), m),
            None => t.conv.clone().unwrap(),
        });
        let since = t.step - start;
        if since % 2 == 0 {
            let level = cubic_sparsity(0.0, 0.6, since as f64, 0.0, 2.0, 2.0, false);
            assert_eq!(t.masks().unwrap(), prune::global_unstructured(&weights, level).unwrap().as_slice(), "step {since}");
        } else {
            assert_eq!(t.masks().map(<[_]>::to_vec), before, "step {since}");
        }
    }
    let masks = t.masks().unwrap().to_vec();
    assert!((prune::sparsity(&masks) - 0.6).abs() < 1e-4);
    let kept = prune::conv_layers(&t.effective_conv().unwrap());
    for (l, mask) in masks.iter().enumerate() {
        assert!(mask.iter().zip(&kept.layers[l].weight).all(|(&m, &w)| m != 0.0 || w == 0.0));
    }
}

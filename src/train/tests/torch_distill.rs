//! Distillation against torch 1.13 (fixtures: scripts/fixtures/make_train_lsq_distill.py →
//! tests/fixtures/train/distill.npz): the loss, its two terms, the gradients and one SGD and one
//! Adam step of a 96-16-10 student of the 96-32-24-10 teacher, within 1e-5·(1 + |torch's|) as
//! tests/torch_step.rs holds a step (torch's matmul adds in another order); the gradient against
//! finite differences; bad settings refused; and training runs that distil (and LSQ) end to end.

mod common;

use quantscope_train::data::Dataset;
use quantscope_train::distill::{check_student, distillation_loss, DistillConfig};
use quantscope_train::mlp::{Linear, Mlp, Tape};
use quantscope_train::observer::{Averaging, Granularity};
use quantscope_train::optim::{Optimizer, OptimizerKind};
use quantscope_train::trainer::{QatConfig, QatMethod, TrainConfig, Trainer};
use quantscope_train::Error;

fn close(what: &str, ours: &[f32], torch: &[f32]) {
    assert_eq!(ours.len(), torch.len(), "{what}: lengths");
    for (i, (&a, &b)) in ours.iter().zip(torch).enumerate() {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{what}[{i}]: {a} here, {b} in torch");
    }
}

fn model(f: &common::Npz, sizes: &[usize], prefix: &str) -> Mlp {
    Mlp {
        layers: sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear {
                in_features: w[0],
                out_features: w[1],
                weight: f.get(&format!("{prefix}p{}", 2 * i)).to_vec(),
                bias: f.get(&format!("{prefix}p{}", 2 * i + 1)).to_vec(),
            })
            .collect(),
    }
}

/// The fixture's teacher: step.npz's MLP with its last layer ×10.
fn teacher() -> Mlp {
    let mut t = model(&common::step(), &[96, 32, 24, 10], "");
    let last = t.layers.last_mut().unwrap();
    last.weight.iter_mut().chain(last.bias.iter_mut()).for_each(|v| *v *= 10.0);
    t
}

fn loss_and_grads(
    student: &Mlp,
    x: &[f32],
    teacher_logits: &[f32],
    y: &[u8],
    config: DistillConfig,
) -> ((f32, f32, f32), Vec<Linear>, Vec<f32>) {
    let mut tape = Tape::default();
    student.forward(x, y.len(), None, &mut tape);
    let mut grad_logits = vec![0.0; tape.logits().len()];
    let losses = distillation_loss(tape.logits(), teacher_logits, y, 10, config, &mut grad_logits);
    let mut grads = student.zero_grads();
    student.backward(&tape, &grad_logits, &mut grads);
    (losses, grads, tape.logits().to_vec())
}

#[test]
fn a_distillation_step_equals_torch() {
    let (step, f) = (common::step(), common::distill());
    let x = step.get("x");
    let y: Vec<u8> = step.get("y").iter().map(|&v| v as u8).collect();
    let mut tape = Tape::default();
    teacher().forward(x, 16, None, &mut tape);
    close("teacher logits", tape.logits(), f.get("teacher_logits"));
    let teacher_logits = tape.logits().to_vec();
    let config = DistillConfig { temperature: f.get("T")[0], alpha: f.get("alpha")[0] };
    assert_eq!((config.temperature, config.alpha), (4.0, 0.7));
    let student = model(&f, &[96, 16, 10], "");
    let ((loss, soft, hard), grads, logits) = loss_and_grads(&student, x, &teacher_logits, &y, config);
    close("student logits", &logits, f.get("logits"));
    close("soft (KL) term", &[soft], f.get("soft"));
    close("hard (CE) term", &[hard], f.get("hard"));
    close("loss", &[loss], f.get("loss"));
    for (i, g) in grads.iter().enumerate() {
        close(&format!("grad of weight {i}"), &g.weight, f.get(&format!("grad{}", 2 * i)));
        close(&format!("grad of bias {i}"), &g.bias, f.get(&format!("grad{}", 2 * i + 1)));
    }
    for (name, kind) in [("sgd", OptimizerKind::sgd(0.1)), ("adam", OptimizerKind::adam(1e-2))] {
        let mut s = student.clone();
        Optimizer::new(kind).unwrap().step(&mut s, &grads);
        for (i, l) in s.layers.iter().enumerate() {
            close(&format!("{name}: weight {i}"), &l.weight, f.get(&format!("{name}.p{}", 2 * i)));
            close(&format!("{name}: bias {i}"), &l.bias, f.get(&format!("{name}.p{}", 2 * i + 1)));
        }
    }
}

/// Central differences in f64 of the f32 loss, as tests/torch_step.rs checks cross-entropy's; at
/// α = 1 (the soft term alone, T = 3) and α = 0.4.
#[test]
fn the_distillation_gradient_equals_finite_differences() {
    let (step, f) = (common::step(), common::distill());
    let x = step.get("x");
    let y: Vec<u8> = step.get("y").iter().map(|&v| v as u8).collect();
    let teacher_logits = f.get("teacher_logits");
    let student = model(&f, &[96, 16, 10], "");
    let mut checked = 0;
    for config in [DistillConfig { temperature: 3.0, alpha: 1.0 }, DistillConfig { temperature: 2.0, alpha: 0.4 }] {
        let (_, grads, _) = loss_and_grads(&student, x, teacher_logits, &y, config);
        let h = 2e-3f32;
        for (layer, g) in grads.iter().enumerate() {
            for k in (0..g.weight.len()).step_by(g.weight.len() / 9 + 1).chain([g.weight.len() - 1]) {
                let loss_at = |delta: f32| {
                    let mut m = student.clone();
                    m.layers[layer].weight[k] += delta;
                    loss_and_grads(&m, x, teacher_logits, &y, config).0 .0 as f64
                };
                let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h as f64);
                let analytic = g.weight[k] as f64;
                assert!(
                    (numeric - analytic).abs() <= 2e-4 + 1e-2 * analytic.abs(),
                    "{config:?} layer {layer} w[{k}]: {analytic} vs {numeric}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 40, "{checked}");
}

/// The conv net as the teacher (make_train_conv.py → conv_distill.npz: conv.npz's net with its
/// Linear ×10): its logits through `Teacher::conv`; an MLP student 784-16-10's loss, terms,
/// gradients, SGD and Adam steps; and a conv net student's loss and gradients through the conv
/// backward, all within 1e-5·(1 + |torch's|).
#[test]
fn a_conv_teacher_distils_into_mlp_and_conv_students_as_torch() {
    use quantscope_train::conv::{ConvNet, ConvTape};
    use quantscope_train::distill::Teacher;
    let (c, f) = (common::Npz::parse(include_bytes!("../../../tests/fixtures/train/conv.npz")), common::conv_distill());
    let (x, y): (&[f32], Vec<u8>) = (c.get("x"), c.get("y").iter().map(|&v| v as u8).collect());
    // The page's conv net with the parameters `name(i)` of `npz`.
    let net_from = |npz: &common::Npz, name: &dyn Fn(usize) -> String| {
        let mut net = ConvNet::digits(0);
        for (i, p) in net.params_mut().into_iter().enumerate() {
            p.copy_from_slice(npz.get(&name(i)));
        }
        net
    };
    let mut teacher_net = net_from(&c, &|i| format!("p{i}"));
    for p in teacher_net.params_mut().into_iter().skip(4) {
        p.iter_mut().for_each(|v| *v *= 10.0);
    }
    let mut teacher = Teacher::conv(teacher_net, None);
    assert_eq!((teacher.sizes(), teacher.bits(), teacher.is_conv()), (vec![784, 10], None, true));
    let teacher_logits = teacher.logits(x, y.len()).to_vec();
    close("conv teacher logits", &teacher_logits, f.get("teacher_logits"));
    let config = DistillConfig { temperature: f.get("T")[0], alpha: f.get("alpha")[0] };
    let student = model(&f, &[784, 16, 10], "");
    let ((loss, soft, hard), grads, logits) = loss_and_grads(&student, x, &teacher_logits, &y, config);
    close("MLP student logits", &logits, f.get("logits"));
    close("soft (KL) term", &[soft], f.get("soft"));
    close("hard (CE) term", &[hard], f.get("hard"));
    close("loss", &[loss], f.get("loss"));
    for (i, g) in grads.iter().enumerate() {
        close(&format!("grad of weight {i}"), &g.weight, f.get(&format!("grad{}", 2 * i)));
        close(&format!("grad of bias {i}"), &g.bias, f.get(&format!("grad{}", 2 * i + 1)));
    }
    for (name, kind) in [("sgd", OptimizerKind::sgd(0.1)), ("adam", OptimizerKind::adam(1e-2))] {
        let mut s = student.clone();
        Optimizer::new(kind).unwrap().step(&mut s, &grads);
        for (i, l) in s.layers.iter().enumerate() {
            close(&format!("{name}: weight {i}"), &l.weight, f.get(&format!("{name}.p{}", 2 * i)));
            close(&format!("{name}: bias {i}"), &l.bias, f.get(&format!("{name}.p{}", 2 * i + 1)));
        }
    }
    let conv_student = net_from(&f, &|i| format!("conv.p{i}"));
    let mut tape = ConvTape::default();
    conv_student.forward(x, y.len(), None, &mut tape);
    close("conv student logits", tape.logits(), f.get("conv.logits"));
    let mut grad_logits = vec![0.0; tape.logits().len()];
    let (loss, _, _) = distillation_loss(tape.logits(), &teacher_logits, &y, 10, config, &mut grad_logits);
    close("conv student loss", &[loss], f.get("conv.loss"));
    let mut grads = conv_student.zero_grads();
    conv_student.backward(&tape, &grad_logits, &mut grads);
    for (i, g) in grads.iter().enumerate() {
        close(&format!("conv student grad {i}"), g, f.get(&format!("conv.grad{i}")));
    }
}

#[test]
fn bad_distillation_settings_are_refused_with_the_reason() {
    let bad = |c: DistillConfig| match c.validate() {
        Err(Error::Config(why)) => why,
        other => panic!("{c:?} accepted: {other:?}"),
    };
    assert!(bad(DistillConfig { temperature: 0.0, alpha: 0.5 }).contains("temperature 0 must be a number > 0"));
    assert!(bad(DistillConfig { temperature: -2.0, alpha: 0.5 }).contains("must be a number > 0"));
    assert!(bad(DistillConfig { temperature: f32::NAN, alpha: 0.5 }).contains("must be a number > 0"));
    assert!(bad(DistillConfig { temperature: 4.0, alpha: 1.5 }).contains("α 1.5 must be between 0 and 1"));
    assert!(bad(DistillConfig { temperature: 4.0, alpha: -0.1 }).contains("between 0 and 1"));
    assert!(bad(DistillConfig { temperature: 4.0, alpha: f32::NAN }).contains("between 0 and 1"));
    assert!(DistillConfig { temperature: 4.0, alpha: 0.0 }.validate().is_ok());
    let teacher = [784, 100, 100, 10];
    let why = |s: &[usize]| check_student(s, &teacher).unwrap_err().to_string();
    assert!(why(&[784, 10]).contains("at least one hidden layer"));
    assert!(why(&[784, 0, 10]).contains("is 0"));
    assert!(why(&[784, 1000, 10]).contains("a student layer of 1000 is larger than the teacher's input of 784"));
    assert!(why(&[100, 32, 10]).contains("must take the teacher's input (784)"));
    assert!(check_student(&[784, 32, 10], &teacher).is_ok());
}

fn digits() -> Dataset {
    let labels: Vec<u8> = (0..96).map(|i| (i % 4) as u8).collect();
    let pixels: Vec<u8> =
        (0..96 * 16).map(|i| if (i % 16) / 4 == (i / 16) % 4 { 150 + (i * 37 % 100) as u8 } else { (i * 53 % 120) as u8 }).collect();
    Dataset::from_u8(&pixels, &labels, 16, 4).unwrap()
}

fn config(sizes: &[usize], qat: Option<QatConfig>, distill: Option<DistillConfig>) -> TrainConfig {
    TrainConfig { sizes: sizes.to_vec(), optimizer: OptimizerKind::adam(1e-2), epochs: 2, batch_size: 16, seed: 5, qat, distill }
}

fn run(mut t: Trainer, data: &Dataset) -> Trainer {
    while !t.finished() {
        t.step(data).unwrap();
    }
    t
}

/// At α = 0 the soft term weighs nothing: the student trains exactly as on the labels alone
/// (same seed, same order, bit for bit); at α = 0.9 it follows the teacher and ends elsewhere.
#[test]
fn a_student_at_alpha_0_is_the_labels_alone_run_and_alpha_moves_it() {
    let data = digits();
    let teacher = run(Trainer::new(config(&[16, 12, 4], None, None), &data).unwrap(), &data);
    let student = |alpha| {
        let c = config(&[16, 6, 4], None, Some(DistillConfig { temperature: 3.0, alpha }));
        run(Trainer::with_teacher(c, &data, teacher.model.clone(), None).unwrap(), &data).model
    };
    let alone = run(Trainer::new(config(&[16, 6, 4], None, None), &data).unwrap(), &data).model;
    assert_eq!(student(0.0), alone);
    assert_ne!(student(0.9), alone);
    // Refused: a teacher without settings, settings without a teacher, a student with no hidden layer.
    assert!(Trainer::new(config(&[16, 6, 4], None, Some(DistillConfig { temperature: 3.0, alpha: 0.5 })), &data).is_err());
    let no_hidden = config(&[16, 4], None, Some(DistillConfig { temperature: 3.0, alpha: 0.5 }));
    assert!(Trainer::with_teacher(no_hidden, &data, teacher.model.clone(), None).is_err());
    let bad_t = config(&[16, 6, 4], None, Some(DistillConfig { temperature: 0.0, alpha: 0.5 }));
    assert!(Trainer::with_teacher(bad_t, &data, teacher.model.clone(), None).is_err());
}

/// An LSQ run: the observers set the scales for the first `static_steps` steps, then the optimizer
/// moves them (and a QAT-trained teacher distils through its frozen nodes).
#[test]
fn an_lsq_run_learns_its_scales_after_the_static_steps() {
    let data = digits();
    let qat = QatConfig {
        method: QatMethod::Learned { static_steps: 2 },
        bits: 2,
        weight_granularity: Granularity::PerChannel,
        averaging: Averaging::MovingAverage(0.01),
        freeze_observers_after: None,
    };
    let mut t = Trainer::new(config(&[16, 12, 4], Some(qat), None), &data).unwrap();
    let scales = |t: &Trainer| t.qat.as_ref().unwrap().nodes().flat_map(|n| n.scale().to_vec()).collect::<Vec<f32>>();
    let initial = scales(&t);
    assert!(initial.iter().all(|&s| s == 1.0), "torch's initial scale 1");
    t.step(&data).unwrap();
    t.step(&data).unwrap();
    let observed = scales(&t);
    assert_ne!(observed, initial, "the static estimate set the scales");
    assert!(!t.qat.as_ref().unwrap().learning());
    t.step(&data).unwrap();
    assert!(t.qat.as_ref().unwrap().learning());
    let learned = scales(&t);
    assert_ne!(learned, observed, "the optimizer moved the scales");
    let t = run(t, &data);
    assert!(t.evaluate(&data) > 0.5, "2-bit LSQ learns the 4 classes (chance: 0.25)");
    let c = config(&[16, 6, 4], None, Some(DistillConfig { temperature: 2.0, alpha: 0.5 }));
    let student = run(Trainer::with_teacher(c, &data, t.model.clone(), t.qat.clone()).unwrap(), &data);
    assert!(student.model.is_finite());
}

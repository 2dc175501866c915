//! Gradual pruning: the schedule's levels against torch.ao.sparsity.CubicSL (torch 1.13; fixture:
//! scripts/fixtures/make_train_cubic.py → tests/fixtures/train/cubic.npz), and a gradual run's
//! masks at each re-prune step against one-shot pruning of its weights there.

mod common;

use quantscope_train::data::Dataset;
use quantscope_train::gradual::{cubic_sparsity, Schedule};
use quantscope_train::optim::OptimizerKind;
use quantscope_train::prune::{self, Method};
use quantscope_train::trainer::{TrainConfig, Trainer};

#[test]
fn levels_equal_torch_cubic_sl() {
    let f = common::cubic();
    let (cases, steps) = (f.shape("levels")[0], f.shape("levels")[1]);
    assert!(cases >= 5 && steps >= 50);
    for (c, s) in f.get("settings").chunks(6).enumerate() {
        let (s_i, s_f, t_0, dt, n, zero) = (s[0] as f64, s[1] as f64, s[2] as f64, s[3] as f64, s[4] as f64, s[5] != 0.0);
        for t in 0..steps {
            let ours = cubic_sparsity(s_i, s_f, t as f64, t_0, dt, n, zero);
            let torch = f.get("levels")[c * steps + t] as f64;
            assert!((ours - torch).abs() < 1e-6, "case {c} step {t}: ours {ours}, CubicSL {torch}");
        }
    }
    // The schedule re-prunes only at t_0 + k·Δt, k = 1..=n, the last at the final level.
    let s = Schedule::new(Method::GlobalL1, 0.8, 10, 5, 10).unwrap();
    let due: Vec<u64> = (0..100).filter(|&t| s.due(t).is_some()).collect();
    assert_eq!(due, (1..=10).map(|k| 10 + 5 * k).collect::<Vec<_>>());
    assert_eq!(s.due(60), Some(0.8));
    assert!((s.due(15).unwrap() - cubic_sparsity(0.0, 0.8, 15.0, 10.0, 5.0, 10.0, false)).abs() < 1e-15);
}

#[test]
fn refuses_schedules_that_make_no_sense() {
    let err = |r: quantscope_train::Result<Schedule>| r.unwrap_err().to_string();
    assert!(err(Schedule::new(Method::TwoFour, 0.5, 0, 5, 4)).contains("always 50 %"));
    assert!(err(Schedule::new(Method::GlobalL1, 1.0, 0, 5, 4)).contains("100 %"));
    assert!(err(Schedule::new(Method::GlobalL1, 0.5, 0, 0, 4)).contains("at least 1"));
    assert!(err(Schedule::new(Method::GlobalL1, 0.5, 0, 5, 0)).contains("at least 1"));
}

fn data() -> Dataset {
    let labels: Vec<u8> = (0..64).map(|i| (i % 4) as u8).collect();
    let pixels: Vec<u8> = (0..64 * 16).map(|i| ((i * 37 + i / 16 * 11) % 256) as u8).collect();
    Dataset::from_u8(&pixels, &labels, 16, 4).unwrap()
}

/// A trained MLP 16-12-8-4 (4 steps an epoch), fine-tuning 3 more epochs.
fn trained(data: &Dataset) -> Trainer {
    let config = TrainConfig {
        sizes: vec![16, 12, 8, 4],
        optimizer: OptimizerKind::adam(1e-2),
        epochs: 1,
        batch_size: 16,
        seed: 5,
        qat: None,
        distill: None,
    };
    let mut t = Trainer::new(config, data).unwrap();
    while !t.finished() {
        t.step(data).unwrap();
    }
    t.extend(3).unwrap();
    t
}

#[test]
fn a_gradual_run_reprunes_one_shot_on_schedule_and_holds_the_masks_between() {
    let data = data();
    for method in [Method::GlobalL1, Method::LayerL1, Method::NeuronsL2] {
        let mut t = trained(&data);
        let start = t.step;
        t.set_gradual(method, 0.75, 3, 4, &data).unwrap();
        let mut reprunes = 0;
        while !t.finished() {
            let before = t.masks().map(<[_]>::to_vec);
            t.step(&data).unwrap();
            let after = t.masks().map(<[_]>::to_vec);
            // The weights at this step as the forward used them (the masks before it).
            let weights = match &before {
                Some(m) => prune::apply(&t.model, m),
                None => t.model.clone(),
            };
            let t_since = t.step - start;
            if t_since % 3 == 0 {
                reprunes += 1;
                let level = cubic_sparsity(0.0, 0.75, t_since as f64, 0.0, 3.0, 4.0, false);
                let one_shot = method.masks(&weights, level).unwrap();
                let after = after.expect("re-pruned");
                // The zeros held are the smallest: one-shot pruning of the weights alone gives the
                // same masks (whole neurons: on top of the earlier ones).
                if method == Method::NeuronsL2 {
                    assert_eq!(after, prune::combine(one_shot, before.as_deref()), "{method:?} step {t_since}");
                } else {
                    assert_eq!(after, one_shot, "{method:?} step {t_since}");
                }
            } else {
                assert_eq!(after, before, "{method:?}: masks moved between re-prunes at step {t_since}");
            }
            // Pruned weights are zero in the weights the run keeps, and a pruned weight stays pruned.
            if let Some(after) = t.masks() {
                let kept = t.effective_model();
                for (l, mask) in after.iter().enumerate() {
                    for (k, &m) in mask.iter().enumerate() {
                        if m == 0.0 {
                            assert_eq!(kept.layers[l].weight[k], 0.0);
                        }
                        if let Some(b) = &before {
                            assert!(b[l][k] == 0.0 && m == 0.0 || b[l][k] == 1.0, "{method:?}: a pruned weight came back");
                        }
                    }
                }
            }
        }
        assert_eq!(reprunes, 4, "{method:?}");
        assert!(t.gradual().is_some());
        let masks = t.masks().unwrap();
        match method {
            Method::GlobalL1 => assert_eq!(prune::sparsity(masks), 384.0 / 512.0),
            Method::LayerL1 => {
                for (m, n) in masks.iter().zip([192usize, 96, 32]) {
                    assert_eq!(m.iter().filter(|&&v| v == 0.0).count(), prune::count_to_prune(0.75, n).unwrap());
                }
            }
            _ => {
                // 75 % of 12 and of 8 hidden neurons: 9 and 6 gone; the output layer untouched.
                let rows_left = |m: &[f32], width: usize| m.chunks(width).filter(|r| r.iter().any(|&v| v != 0.0)).count();
                assert_eq!((rows_left(&masks[0], 16), rows_left(&masks[1], 12)), (3, 2));
                assert!(masks[2].chunks(8).all(|r| r.iter().any(|&v| v != 0.0)));
            }
        }
    }
}

#[test]
fn a_schedule_longer_than_the_fine_tuning_or_past_every_neuron_is_refused() {
    let data = data();
    let mut t = trained(&data);
    let e = t.set_gradual(Method::GlobalL1, 0.8, 4, 4, &data).unwrap_err().to_string();
    assert!(e.contains("needs 16 steps of fine-tuning, there are 12"), "{e}");
    let e = t.set_gradual(Method::NeuronsL2, 0.99, 3, 4, &data).unwrap_err().to_string();
    assert!(e.contains("all 12 neurons"), "{e}");
    assert!(t.set_gradual(Method::TwoFour, 0.5, 3, 4, &data).is_err());
    assert!(t.gradual().is_none() && t.masks().is_none());
}

/// A one-shot prune ends a gradual schedule cancelled part-way: later fine-tuning holds its masks.
#[test]
fn a_one_shot_prune_ends_a_gradual_schedule() {
    let data = data();
    let mut t = trained(&data);
    t.set_gradual(Method::GlobalL1, 0.75, 3, 4, &data).unwrap();
    for _ in 0..4 {
        t.step(&data).unwrap(); // re-pruned once, at step 3 of 12: then "cancelled"
    }
    let masks = prune::global_unstructured(&t.effective_model(), 0.5).unwrap();
    t.set_masks(masks.clone()).unwrap();
    assert!(t.gradual().is_none());
    while !t.finished() {
        t.step(&data).unwrap();
    }
    assert_eq!(t.masks().unwrap(), masks.as_slice());
}

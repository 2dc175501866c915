//! The Learn view's STE trace through the trainer's facade in headless Chromium:
//! `TrainingRun::trace` follows one neuron from the next step on and returns its records in
//! `quantscope_train::trace::Trace::to_f32`'s layout; FP32 and LSQ runs and a neuron the model
//! lacks are refused with the reason.
#![cfg(target_arch = "wasm32")]

use crate::synthetic::{digits, message};
use quantscope_trainer::TrainingRun;
use wasm_bindgen_test::*;

fn run(qat: &str) -> TrainingRun {
    let (images, labels) = digits(200);
    let json =
        format!(r#"{{"hidden": [16], "optimizer": "adam", "learning_rate": 0.01, "epochs": 1, "batch_size": 20, "seed": 1, {qat}}}"#);
    TrainingRun::new(&images, &labels, &images, &labels, js_sys::JSON::parse(&json).unwrap()).unwrap()
}

#[wasm_bindgen_test]
fn a_qat_run_traces_one_neuron_from_the_next_step_on() {
    let mut r = run(r#""qat_bits": 4, "per_channel": true"#);
    // Layer 1 (16 → 10), neuron 3: its 16 weights.
    assert_eq!(r.trace(1, 3, 0).unwrap(), [1.0, 3.0, 16.0, 0.0, -8.0, 7.0, 0.0]);
    r.advance(4).unwrap();
    let stride = 3 + 16 * 4;
    let flat = r.trace(1, 3, 0).unwrap();
    assert_eq!(&flat[..7], &[1.0, 3.0, 16.0, 4.0, -8.0, 7.0, 0.0]);
    assert_eq!(flat.len(), 7 + 4 * stride);
    let steps: Vec<f32> = (0..4).map(|k| flat[7 + k * stride]).collect();
    assert_eq!(steps, [1.0, 2.0, 3.0, 4.0]);
    for k in 0..4 {
        let rec = &flat[7 + k * stride..7 + (k + 1) * stride];
        assert!(rec[1] > 0.0 && rec[2] == 0.0, "a positive scale, zero point 0 (signed symmetric)");
        for w in rec[3..].chunks_exact(4) {
            assert!(w[2] == 1.0 || w[3] == 0.0, "clamped weights get no gradient");
        }
    }
    // From record 3 on: the last record alone, after the same header (but `from`).
    let tail = r.trace(1, 3, 3).unwrap();
    assert_eq!(&tail[..7], &[1.0, 3.0, 16.0, 4.0, -8.0, 7.0, 3.0]);
    assert_eq!(&tail[7..], &flat[7 + 3 * stride..]);
    // Another neuron starts a new trace.
    assert_eq!(r.trace(0, 15, 0).unwrap()[..4], [0.0, 15.0, 784.0, 0.0]);
}

#[wasm_bindgen_test]
fn what_cannot_be_traced_is_refused_with_the_reason() {
    let mut qat = run(r#""qat_bits": 4"#);
    assert!(message(qat.trace(1, 10, 0).unwrap_err()).contains("trace a neuron"), "layer 1 has neurons 0–9");
    assert!(message(qat.trace(2, 0, 0).unwrap_err()).contains("trace a neuron"), "there is no third layer");
    let mut fp32 = run(r#""qat_bits": null"#);
    assert!(message(fp32.trace(0, 0, 0).unwrap_err()).contains("QAT run"));
    let mut lsq = run(r#""qat_bits": 4, "lsq": true"#);
    assert!(message(lsq.trace(0, 0, 0).unwrap_err()).contains("not LSQ"));
}

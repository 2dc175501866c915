//! AWQ in the Language model view (src/lm/src/awq.rs): a run a step per call adds "AWQ Q4_0" —
//! llama-quantize's Q4_0 mix of the scaled model, so the same types and size as Q4_0 — or on
//! llm-awq's grid "AWQ int4 g128" beside "RTN int4 g128"; each search reports its loss at every
//! exponent; bad settings and a quantized model are refused with the reason.

use quantscope_lm::Playground;

fn builtin() -> Playground {
    Playground::load("tiny-lm-f32.gguf", fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec(), |_, _| {}).unwrap()
}

#[cfg(not(target_arch = "wasm32"))] // a whole AWQ run: seconds natively, past the browser runner's limit
#[test]
fn awq_variants_join_the_comparison() {
    let mut p = builtin();
    let text = fixture_str!("tiny_lm/calibration-gptq.txt");
    let total = p.start_awq(text, 128, Some(1), "q4_0", true).unwrap();
    let mut calls = 0;
    let step = loop {
        let step = p.awq_step().unwrap();
        calls += 1;
        if step.finished {
            break step;
        }
        assert!(step.scales.is_none());
    };
    assert_eq!(calls, total);
    let scales = serde_json::to_value(step.scales.unwrap()).unwrap();
    // Two layers × (q/k/v, gate/up, down): attn_output is skipped under grouped-query attention.
    assert_eq!(scales.as_array().unwrap().len(), 6);
    for s in scales.as_array().unwrap() {
        let losses = s["losses"].as_array().unwrap();
        assert_eq!(losses.len(), 20);
        let best = s["best"].as_u64().unwrap() as usize;
        let min = losses.iter().map(|l| l.as_f64().unwrap()).fold(f64::INFINITY, f64::min);
        assert_eq!(losses[best].as_f64().unwrap(), min, "the chosen exponent has the least loss");
    }
    assert!(!step.clips.unwrap().is_empty());
    let s = p.summary();
    let v = s.variants.last().unwrap();
    let q4_0 = s.variants.iter().find(|v| v.name == "Q4_0").unwrap();
    assert_eq!((v.name.as_str(), &v.matrix_types), ("AWQ Q4_0", &q4_0.matrix_types));
    assert!((v.bits_per_weight - q4_0.bits_per_weight).abs() < 1e-9);
    assert_eq!(p.variant_file("AWQ Q4_0").unwrap().len(), v.file_bytes);

    p.start_awq(text, 128, Some(1), "awq", false).unwrap();
    while !p.awq_step().unwrap().finished {}
    let names: Vec<String> = p.summary().variants.iter().map(|v| v.name.clone()).collect();
    assert_eq!(names[names.len() - 2..], ["AWQ int4 g128 no clip".to_string(), "RTN int4 g128 no clip".to_string()]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bad_awq_settings_and_quantized_models_are_refused() {
    let mut p = builtin();
    let text = fixture_str!("tiny_lm/calibration-gptq.txt");
    assert!(p.start_awq(text, 128, Some(1), "int4", true).unwrap_err().contains("q4_0 or awq"));
    assert!(p.awq_step().unwrap_err().contains("no AWQ run"));
    let mut q = Playground::load("tiny-lm-q8_0.gguf", fixture_bytes!("tiny_lm/tiny-lm-q8_0.gguf").to_vec(), |_, _| {}).unwrap();
    assert!(q.start_awq(text, 128, Some(1), "q4_0", true).unwrap_err().contains("already quantized"));
}

//! GPTQ in the Language model view (src/lm/src/calibrated.rs): a run a step per call adds its
//! variants — "GPTQ Q4_0" a Q4_0 file (its download is the file), on the references' grid
//! "GPTQ int4 g128" beside "RTN int4 g128" at their stored bits per weight — which then run and
//! score like any other; bad settings and a quantized model are refused with the reason.

use quantscope_lm::Playground;

fn builtin() -> Playground {
    Playground::load("tiny-lm-f32.gguf", fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec(), |_, _| {}).unwrap()
}

fn run(p: &mut Playground, grid: &str, group: usize, act_order: bool) -> Vec<serde_json::Value> {
    let total = p.start_gptq(fixture_str!("tiny_lm/calibration-gptq.txt"), 128, Some(2), grid, group, act_order).unwrap();
    let mut calls = 0;
    loop {
        let step = p.gptq_step().unwrap();
        calls += 1;
        assert_eq!(step.total, total);
        if step.finished {
            assert_eq!(calls, total);
            return serde_json::to_value(step.reports.unwrap()).unwrap().as_array().unwrap().clone();
        }
        assert!(step.reports.is_none());
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn gptq_variants_join_the_comparison() {
    let mut p = builtin();
    let reports = run(&mut p, "q4_0", 32, false);
    assert_eq!(reports.len(), 14);
    assert!(reports.iter().all(|r| r["gptq_error"].as_f64() < r["rtn_error"].as_f64()));
    let s = p.summary();
    let v = s.variants.last().unwrap();
    assert_eq!((v.name.as_str(), &v.matrix_types[..]), ("GPTQ Q4_0", &["q4_0".to_string(), "q6_k".to_string()][..]));
    let q4_0 = s.variants.iter().find(|v| v.name == "Q4_0").unwrap();
    assert_eq!((v.file_bytes, v.bits_per_weight), (q4_0.file_bytes, q4_0.bits_per_weight));
    assert_eq!(p.variant_file("GPTQ Q4_0").unwrap().len(), v.file_bytes);

    run(&mut p, "int3", 128, true);
    let s = p.summary();
    let names: Vec<&str> = s.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names[names.len() - 2..], ["GPTQ int3 g128 act-order", "RTN int3 g128 act-order"]);
    let g = &s.variants[names.len() - 2];
    // 3 bits + (16-bit scale + 3-bit zero) / 128 for the layer matrices; the embeddings stay F32.
    assert!(g.bits_per_weight > 3.0 && g.bits_per_weight < 32.0, "{}", g.bits_per_weight);
    assert_eq!(g.matrix_types, ["f32 values of int3 g128 act-order"]);
    // They run: a perplexity chunk of each.
    let n = p.start_perplexity(fixture_str!("tiny_lm/heldout.txt"), 128, Some(1)).unwrap();
    assert_eq!(n, 1);
    for i in 0..p.variant_count() {
        assert!(p.perplexity_step(i).unwrap().ppl.is_finite());
    }
    // A second run of the same settings replaces its variants rather than adding more.
    let count = p.variant_count();
    run(&mut p, "int3", 128, true);
    assert_eq!(p.variant_count(), count);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bad_settings_and_quantized_models_are_refused() {
    let mut p = builtin();
    let text = fixture_str!("tiny_lm/calibration-gptq.txt");
    assert!(p.start_gptq(text, 128, Some(2), "int9", 128, false).unwrap_err().contains("9-bit codes (2 to 8 bits are offered)"));
    assert!(p.start_gptq(text, 128, Some(2), "fp4", 128, false).unwrap_err().contains("grid 'fp4'"));
    assert!(p.start_gptq("too short", 128, Some(2), "q4_0", 32, false).unwrap_err().contains("tokens"));
    assert!(p.gptq_step().unwrap_err().contains("no GPTQ run"));
    assert!(p.variant_file("GPTQ Q4_0").unwrap_err().contains("no file"));
    let mut q = Playground::load("tiny-lm-q8_0.gguf", fixture_bytes!("tiny_lm/tiny-lm-q8_0.gguf").to_vec(), |_, _| {}).unwrap();
    assert!(q.start_gptq(text, 128, Some(2), "q4_0", 32, false).unwrap_err().contains("already quantized"));
}

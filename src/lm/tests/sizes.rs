//! The two built-in sizes (scripts/fixtures/make_tiny_lm.py --size small | large): the large
//! model's F16 file runs as llama.cpp runs it, every type of the size comparison is made from
//! either file byte for byte as llama-quantize makes it, and the perplexities the page sets side
//! by side equal llama-perplexity's (`perplexity_by_type` in each reference.json).
//!
//! Native only: the large model (10 MB) is read from disk rather than compiled into the wasm
//! test binary; the page runs it in tests/e2e/lm-sizes.test.mjs.
#![cfg(not(target_arch = "wasm32"))]

use quantscope_formats::gguf_mix::{FileType, MixOptions};
use quantscope_formats::{gguf_writer, lazy};
use quantscope_llm::Model;
use quantscope_lm::Playground;
use std::rc::Rc;

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/../../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn reference(dir: &str) -> serde_json::Value {
    crate::common::json(&String::from_utf8(fixture(&format!("{dir}/reference.json"))).unwrap())
}

const LARGE: &str = "tiny_lm_large/tiny-lm-large-f16.gguf";

fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Every type of the comparison, made from each size's file by quantscope's mix, is
/// llama-quantize's file of it (same length, same FNV-1a 64).
#[test]
fn every_compared_type_is_llama_quantize_s_file() {
    for (dir, file) in [("tiny_lm", "tiny_lm/tiny-lm-f32.gguf"), ("tiny_lm_large", LARGE)] {
        let r = reference(dir);
        let source: Rc<dyn quantscope_formats::bytesource::ByteSource> = Rc::new(fixture(file));
        let lazy = lazy::open_gguf_file(file, source).unwrap();
        let types = r["perplexity_by_type"]["types"].as_object().unwrap();
        assert_eq!(types.len(), 9, "{dir}: the unquantized file and eight types");
        for (ty, want) in types.iter().skip(1) {
            let mut out = Vec::new();
            gguf_writer::write_mix(&lazy, FileType::from_name(ty).unwrap(), &MixOptions::default(), &mut out, |_, _| {}).unwrap();
            assert_eq!(out.len() as u64, want["bytes"].as_u64().unwrap(), "{dir} {ty}: length");
            assert_eq!(format!("{:016x}", fnv1a64(&out)), want["fnv1a64"].as_str().unwrap(), "{dir} {ty}: bytes");
        }
    }
}

/// The F16 model's logits against llama.cpp's from the same file (logits-f16.npy: the first 64
/// held-out ids in one batch). ggml multiplies an F16 matrix by the activations rounded to F16
/// (`vec_dot_type` F16), as quantscope does (src/llm/src/dequantized.rs), and sums in f32 in
/// another order: the logits differ by f32 rounding, and an activation whose value moves by an
/// ulp across an f16 rounding boundary becomes one f16 ulp (2⁻¹¹ relative) apart. Held to 1e-3
/// of each row's largest |logit| (measured 2.2e-4) and the same top token at every position.
#[test]
fn large_f16_logits_equal_llama_cpp_s() {
    let model = Model::from_gguf(fixture(LARGE)).unwrap();
    assert!(model.matrix_types().iter().all(|(_, t)| *t == "f16"));
    let expected = quantscope_formats::npy::parse("logits-f16.npy", &fixture("tiny_lm_large/logits-f16.npy")).unwrap();
    let ids: Vec<u32> =
        quantscope_formats::npy::parse("ids.npy", &fixture("tiny_lm/heldout.ids.npy")).unwrap().data.iter().map(|&v| v as u32).collect();
    let (n, n_vocab) = (expected.shape[0], expected.shape[1]);
    assert_eq!(n_vocab, model.config.n_vocab);
    let ours = model.session(n).unwrap().eval(&ids[..n]).unwrap();
    let argmax = |row: &[f32]| row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
    let mut worst = 0f32;
    for (a, b) in ours.chunks(n_vocab).zip(expected.data.chunks(n_vocab)) {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        worst = worst.max(a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale);
        assert_eq!(argmax(a), argmax(b));
    }
    println!("F16 logits: worst difference {worst:.3e} of the row's largest |logit|");
    assert!(worst <= 1e-3, "F16 logits: {worst:.3e} of the scale");
}

/// What the page's size comparison runs: each size loaded in the Playground (the large one from
/// F16: its copies made from it), the types added, perplexity on the held-out passage's first
/// chunks chunk by chunk. Against llama-perplexity's `passage_ppl`: the unquantized files within
/// 1e-4 relative (printed to 4 decimals; F16's activation rounding flips as above), the quantized
/// types within 2e-3 relative (their activations rounded to 8-bit codes, a code one apart where
/// ggml's float order puts a value on the other side of a boundary, as src/llm/tests/perplexity.rs
/// and tests/playground.rs hold Q8_0 and Q2_K). The large model runs the types the page starts
/// with and Q2_K (the others are checked byte for byte above); the small one all of them.
#[test]
fn both_sizes_score_every_type_as_llama_perplexity() {
    let heldout = String::from_utf8(fixture("tiny_lm/heldout.txt")).unwrap();
    for (dir, name, file, extra) in [
        ("tiny_lm", "tiny-lm-f32.gguf", "tiny_lm/tiny-lm-f32.gguf", &["Q6_K", "Q5_K_M", "IQ4_XS", "Q3_K_M", "Q2_K"][..]),
        ("tiny_lm_large", "tiny-lm-large-f16.gguf", LARGE, &["Q2_K"][..]),
    ] {
        let r = reference(dir);
        let table = &r["perplexity_by_type"]["types"];
        let mut p = Playground::load(name, fixture(file), |_, _| {}).unwrap();
        for ty in extra {
            p.add_type(ty).unwrap();
        }
        let s = p.summary();
        assert_eq!(s.parameters, r["model"]["params"].as_u64().unwrap());
        let names: Vec<String> = s.variants.iter().map(|v| v.name.clone()).collect();
        assert_eq!(names[0], if dir == "tiny_lm" { "F32" } else { "F16" });
        let chunks = 8;
        assert_eq!(p.start_perplexity(&heldout, 128, Some(chunks)).unwrap(), chunks);
        for (i, v) in s.variants.iter().enumerate() {
            assert_eq!(v.file_bytes as u64, table[&v.name]["bytes"].as_u64().unwrap(), "{dir} {}", v.name);
            let mut step = p.perplexity_step(i).unwrap();
            while !step.done {
                step = p.perplexity_step(i).unwrap();
            }
            let want = table[&v.name]["passage_ppl"].as_f64().unwrap();
            let relative = if i == 0 { 1e-4 } else { 2e-3 };
            println!("{dir} {}: {} (llama-perplexity {want})", v.name, step.ppl);
            assert!((step.ppl - want).abs() <= relative * want, "{dir} {}: {} vs llama-perplexity {want}", v.name, step.ppl);
        }
    }
}

/// The rest of the view runs from the F16 model as from the F32 one: the sensitivity probes (made
/// from the F16 file), and GPTQ and AWQ (its matrices widened to F32, exactly), whose files load
/// as variants. One chunk each: that they run and give finite figures; their results are held to
/// the references on the small model in tests/sensitivity.rs, gptq.rs and awq.rs. Ignored in the
/// default run (25 s of CPU; CI's budget is tight): `cargo test -p quantscope-lm --test suite --
/// --ignored sizes::`.
#[test]
#[ignore = "25 s of CPU: run with --ignored"]
fn large_f16_model_runs_sensitivity_gptq_and_awq() {
    let heldout = String::from_utf8(fixture("tiny_lm/heldout.txt")).unwrap();
    let calibration = String::from_utf8(fixture("tiny_lm/calibration-gptq.txt")).unwrap();
    let mut p = Playground::load("tiny-lm-large-f16.gguf", fixture(LARGE), |_, _| {}).unwrap();
    let n_probe = p.start_sensitivity(&heldout, 128, Some(1), "Q2_K", false).unwrap();
    assert_eq!(n_probe, 8, "all Q8_0, then each of the 7 kinds in Q2_K");
    let results = loop {
        let step = p.sensitivity_step().unwrap();
        if step.done {
            break step.results;
        }
    };
    assert_eq!(results.len(), 8);
    assert!(results.iter().all(|r| r.ppl.is_finite() && r.mean_kld >= 0.0), "{results:?}");
    assert!(results[1..].iter().all(|r| r.mean_kld > results[0].mean_kld), "Q2_K anywhere diverges more than all-Q8_0");

    let n = p.variant_count();
    p.start_gptq(&calibration, 128, Some(1), "q4_0", 32, false).unwrap();
    while !p.gptq_step().unwrap().finished {}
    p.start_awq(&calibration, 128, Some(1), "q4_0", false).unwrap();
    while !p.awq_step().unwrap().finished {}
    let names: Vec<String> = p.summary().variants[n..].iter().map(|v| v.name.clone()).collect();
    assert_eq!(names, ["GPTQ Q4_0", "AWQ Q4_0 no clip"]);
    p.start_perplexity(&heldout, 128, Some(1)).unwrap();
    for i in n..n + 2 {
        let step = p.perplexity_step(i).unwrap();
        assert!(step.done && step.ppl.is_finite() && step.ppl > 1.0, "{}: {}", names[i - n], step.ppl);
    }
}

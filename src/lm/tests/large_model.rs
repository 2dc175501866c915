//! The large built-in model's llama.cpp references, as the small model's are held in
//! src/llm/tests/{imatrix,kl_divergence,more_types,gptq}.rs and tests/sensitivity.rs: its
//! importance matrix against `llama-imatrix`'s (imatrix-f16.gguf), its quantized copies with and
//! without it against llama-quantize's files and llama-perplexity's figures (imatrix.json), KL
//! divergence from its F16 file and the sensitivity probes against `llama-perplexity
//! --kl-divergence` (kld.json), and its GPTQ Q4_0 file against the one llama.cpp ran (gptq.json);
//! all from tests/fixtures/tiny_lm_large/ by scripts/fixtures/make_tiny_lm_{imatrix,kld,gptq}.py
//! --size large. Native only, as tests/sizes.rs: the model (10 MB) is read from disk.
#![cfg(not(target_arch = "wasm32"))]

use quantscope_formats::gguf_mix::{FileType, MixImatrix, MixOptions};
use quantscope_formats::{gguf_writer, imatrix, lazy};
use quantscope_llm::{kl_divergence, perplexity, GptqRun, Model};
use quantscope_lm::sensitivity::KINDS;
use quantscope_lm::Playground;
use quantscope_ptq::{GptqConfig, Grid};
use std::rc::Rc;

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/../../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn text(path: &str) -> String {
    String::from_utf8(fixture(path)).unwrap()
}

fn json(path: &str) -> serde_json::Value {
    crate::common::json(&text(path))
}

const LARGE: &str = "tiny_lm_large/tiny-lm-large-f16.gguf";

fn fnv1a64(data: &[u8]) -> String {
    format!("{:016x}", data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3)))
}

fn f16_file() -> lazy::LazyFile {
    lazy::open_gguf_file("tiny-lm-large-f16.gguf", Rc::new(fixture(LARGE))).unwrap()
}

/// The page's importance matrix of the large model (8 chunks of 128 of calibration.txt, a chunk
/// per call) is llama-imatrix's file: the header byte for byte, the same counts, and every sum
/// of x² within 2e-5 of its tensor's largest, as the small model's (measured 4.3e-6: the sums
/// are of activations that agree to float rounding, F16's products rounding them alike).
#[test]
fn large_importance_matrix_equals_llama_imatrix() {
    let mut p = Playground::load("tiny-lm-large-f16.gguf", fixture(LARGE), |_, _| {}).unwrap();
    let n = p.start_imatrix(&text("tiny_lm/calibration.txt"), "calibration.txt", 128, Some(8)).unwrap();
    for _ in 0..n {
        p.imatrix_step().unwrap();
    }
    let ours = p.imatrix_file().unwrap();
    let theirs = fixture("tiny_lm_large/imatrix-f16.gguf");
    let (a, b) = (imatrix::parse(&ours).unwrap(), imatrix::parse(&theirs).unwrap());
    assert_eq!((a.chunk_count, a.chunk_size, &a.datasets), (b.chunk_count, b.chunk_size, &b.datasets));
    assert_eq!(a.entries.len(), 2 * 7);
    let mut worst = 0f32;
    for (x, y) in a.entries.iter().zip(&b.entries) {
        assert_eq!((&x.name, &x.counts, x.sums.len()), (&y.name, &y.counts, y.sums.len()));
        let scale = y.sums.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = x.sums.iter().zip(&y.sums).map(|(u, v)| (u - v).abs()).fold(0f32, f32::max) / scale;
        worst = worst.max(diff);
        assert!(diff <= 2e-5, "{}: sums differ by {diff:.2e} of the largest", x.name);
    }
    println!("large imatrix: worst sum {worst:.2e} of its tensor's largest");
    assert_eq!(ours.len(), theirs.len());
    let padded = |n: usize| n.div_ceil(32) * 32;
    let data: usize = b.entries.iter().map(|e| padded(e.sums.len() * 4) + padded(e.counts.len() * 4)).sum();
    let header = theirs.len() - data;
    assert_eq!(&ours[..header], &theirs[..header]);
}

/// `types` of imatrix.json made from the F16 file by quantscope's mix, with llama-imatrix's matrix
/// and without, are llama-quantize's files (length and FNV-1a 64); those in `scored` score as
/// llama-perplexity scores them (8 chunks of the passage; 2e-3 relative, as the small model's).
fn check_mixes(types: &[&str], scored: &[(&str, bool)]) {
    let reference = json("tiny_lm_large/imatrix.json");
    let file = f16_file();
    let matrix = Rc::new(imatrix::parse(&fixture("tiny_lm_large/imatrix-f16.gguf")).unwrap());
    let heldout = text("tiny_lm/heldout.txt");
    for ty in types {
        let row = &reference["types"][ty];
        assert!(row.is_object(), "{ty} in imatrix.json");
        for (key, with) in [("plain", false), ("imatrix", true)] {
            let Some(want) = row.get(key) else { continue };
            let imatrix = with.then(|| MixImatrix { file_name: "imatrix-f16.gguf".into(), imatrix: matrix.clone() });
            let options = MixOptions { imatrix, ..Default::default() };
            let mut out = Vec::new();
            gguf_writer::write_mix(&file, FileType::from_name(ty).unwrap(), &options, &mut out, |_, _| {}).unwrap();
            assert_eq!(out.len() as u64, want["bytes"].as_u64().unwrap(), "{ty} {key}: length");
            assert_eq!(fnv1a64(&out), want["fnv1a64"].as_str().unwrap(), "{ty} {key}: bytes");
            if scored.contains(&(ty, with)) {
                let model = Model::from_gguf(out).unwrap();
                let tokens = model.tokenizer.encode(&heldout);
                let ppl = perplexity(&model, &tokens, 128, Some(8), |_, _| true).unwrap().ppl;
                let want = want["ppl"].as_f64().unwrap();
                println!("large {ty} {key}: perplexity {ppl:.4}, llama-perplexity {want}");
                assert!((ppl - want).abs() <= 5e-5 + 2e-3 * want, "large {ty} {key}: {ppl} vs {want}");
            }
        }
    }
}

#[test]
fn large_k_quant_mixes_with_and_without_the_imatrix_are_llama_quantize_s() {
    check_mixes(&["Q4_K_M", "Q2_K"], &[("Q2_K", true)]);
}

/// Every type of imatrix.json (the IQ2/IQ3 grid quantizers take a while). Ignored in the default
/// run: `cargo test -p quantscope-lm --test suite -- --ignored large_model::`.
#[test]
#[ignore = "minutes of CPU: run with --ignored"]
fn large_every_mix_with_and_without_the_imatrix_is_llama_quantize_s() {
    let reference = json("tiny_lm_large/imatrix.json");
    let types: Vec<&str> = reference["types"].as_object().unwrap().keys().skip(1).map(String::as_str).collect();
    assert_eq!(types.len(), 10);
    check_mixes(&types, &[("Q4_K_M", true), ("Q2_K", false), ("IQ4_XS", true), ("IQ2_XS", true)]);
}

/// KL divergence from the F16 model as llama-perplexity --kl-divergence measures it (kld.json),
/// with src/llm/tests/kl_divergence.rs's tolerances.
fn check_kl_divergence(ty: &str) {
    let reference = json("tiny_lm_large/kld.json");
    let base = Model::from_gguf(fixture(LARGE)).unwrap();
    let tokens = base.tokenizer.encode(&text("tiny_lm/heldout.txt"));
    let want = &reference["types"][ty];
    let w = |k: &str| want[k].as_f64().unwrap();
    let mut out = Vec::new();
    gguf_writer::write_mix(&f16_file(), FileType::from_name(ty).unwrap(), &MixOptions::default(), &mut out, |_, _| {}).unwrap();
    let s = kl_divergence(&base, &Model::from_gguf(out).unwrap(), &tokens, 128, Some(8)).unwrap();
    println!("large {ty}: mean KLD {} (llama.cpp {}), 99% {} ({})", s.mean_kld, w("mean_kld"), s.kld_99, w("kld_99"));
    assert_eq!(s.positions, 8 * 63);
    assert!((s.mean_kld - w("mean_kld")).abs() <= 0.03 * w("mean_kld") + 2e-5, "{ty}: mean KLD {}", s.mean_kld);
    assert!((s.kld_99 - w("kld_99")).abs() <= 0.1 * w("kld_99") + 3e-4, "{ty}: 99% KLD {}", s.kld_99);
    assert!((s.same_top_percent - w("same_top_percent")).abs() <= 1.0, "{ty}: same top {}", s.same_top_percent);
    assert!((s.rms_dp_percent - w("rms_dp_percent")).abs() <= 0.05 * w("rms_dp_percent") + 0.01, "{ty}: RMS Δp");
    assert!((s.ppl_q - w("ppl_q")).abs() <= 2e-3 * w("ppl_q"), "{ty}: PPL(Q) {}", s.ppl_q);
    assert!((s.ppl_base - w("ppl_base")).abs() <= 1e-3 * w("ppl_base"), "{ty}: PPL(base) {}", s.ppl_base);
}

#[test]
fn large_q4_k_m_kl_divergence_equals_llama_perplexity_s() {
    check_kl_divergence("Q4_K_M");
}

/// Ignored in the default run: `cargo test -p quantscope-lm --test suite -- --ignored large_model::`.
#[test]
#[ignore = "a minute of CPU: run with --ignored"]
fn large_q8_0_and_q2_k_kl_divergence_equal_llama_perplexity_s() {
    check_kl_divergence("Q8_0");
    check_kl_divergence("Q2_K");
}

/// The page's sensitivity probes of the large model, every kind in every layer: each file has
/// the length of llama-quantize's probe, and its perplexity and KL divergence from F16 are
/// llama-perplexity's (kld.json "sensitivity"), as tests/sensitivity.rs holds the small model's.
/// Ignored in the default run (22 probes of 8 chunks on the 5 M model): `cargo test -p
/// quantscope-lm --test suite -- --ignored large_model::`.
#[test]
#[ignore = "about a minute of CPU: run with --ignored"]
fn large_sensitivity_probes_equal_llama_perplexity_s() {
    let reference = json("tiny_lm_large/kld.json");
    let want = &reference["sensitivity"]["probes"];
    let mut p = Playground::load("tiny-lm-large-f16.gguf", fixture(LARGE), |_, _| {}).unwrap();
    let n = p.start_sensitivity(&text("tiny_lm/heldout.txt"), 128, Some(8), "q2_k", true).unwrap();
    assert_eq!(n, 1 + KINDS.len() * 3);
    let results = loop {
        let step = p.sensitivity_step().unwrap();
        if step.done {
            break step.results;
        }
    };
    assert_eq!(results.len(), want.as_object().unwrap().len());
    for r in &results {
        let w = &want[&r.label];
        let f = |k: &str| w[k].as_f64().unwrap();
        assert_eq!(r.file_bytes as u64, w["bytes"].as_u64().unwrap(), "{}", r.label);
        assert!((r.ppl - f("ppl_q")).abs() <= 2e-3 * f("ppl_q"), "{}: {} vs {}", r.label, r.ppl, f("ppl_q"));
        assert!((r.mean_kld - f("mean_kld")).abs() <= 0.03 * f("mean_kld") + 2e-5, "{}: {} vs {}", r.label, r.mean_kld, f("mean_kld"));
    }
}

/// GPTQ of the large model at the page's settings (16 chunks of calibration-gptq.txt, the Q4_0
/// grid, groups of 32), from its F16 matrices widened to F32: the file is the one
/// make_tiny_lm_gptq.py --size large gave llama.cpp (length and FNV-1a 64), and its perplexity
/// is llama-perplexity's (5e-4 relative, as the small model's). Ignored in the default run:
/// `cargo test -p quantscope-lm --test suite -- --ignored large_model::`.
#[test]
#[ignore = "a minute or more of CPU: run with --ignored"]
fn large_gptq_file_is_the_one_llama_cpp_ran() {
    let reference = json("tiny_lm_large/gptq.json");
    let row = &reference["types"]["GPTQ Q4_0"];
    let mut model = Model::from_gguf(fixture(LARGE)).unwrap();
    model.widen_f16_layer_matrices();
    let tokens = model.tokenizer.encode_special(&text("tiny_lm/calibration-gptq.txt"));
    let chunks = reference["calibration"]["chunks"].as_u64().unwrap() as usize;
    let mut run =
        GptqRun::new(model, &tokens, 128, Some(chunks), Grid::Q4_0, GptqConfig { groupsize: Some(32), ..Default::default() }).unwrap();
    while !run.advance().unwrap().finished {}
    let bytes = run.write_gguf(&f16_file(), false).unwrap();
    assert_eq!((bytes.len() as u64, fnv1a64(&bytes)), (row["bytes"].as_u64().unwrap(), row["fnv1a64"].as_str().unwrap().to_string()));
    let model = Model::from_gguf(bytes).unwrap();
    let heldout = model.tokenizer.encode_special(&text("tiny_lm/heldout.txt"));
    let ppl = perplexity(&model, &heldout, 128, Some(8), |_, _| true).unwrap().ppl;
    let theirs = row["ppl"].as_f64().unwrap();
    println!("large GPTQ Q4_0: perplexity {ppl:.4}, llama-perplexity {theirs}");
    assert!((ppl - theirs).abs() <= 5e-4 * theirs, "{ppl} here, {theirs} in llama.cpp");
}

//! The facade gives what `quantscope-llm` gives: its quantized copies are llama-quantize's files
//! (lengths from reference.json), a generation streamed a few tokens per call equals llama.cpp's
//! greedy continuation, a perplexity run a chunk per call equals llama-perplexity's, and a file
//! that is not a llama GGUF is refused with the crate's reason.

use quantscope_llm::Sampling;
use quantscope_lm::Playground;

fn ids(npy: &[u8]) -> Vec<u32> {
    quantscope_formats::npy::parse("ids.npy", npy).unwrap().data.iter().map(|&v| v as u32).collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn variants_stream_llama_cpp_greedy_and_perplexity() {
    let reference = crate::common::json(fixture_str!("tiny_lm/reference.json"));
    let mut made = Vec::new();
    let mut p =
        Playground::load("tiny-lm-f32.gguf", fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec(), |d, n| made.push((d, n))).unwrap();
    assert_eq!(made.last(), Some(&(3, 3)));
    let s = p.summary();
    let names: Vec<&str> = s.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["F32", "Q8_0", "Q4_0", "Q4_K_M"]);
    assert_eq!(s.parameters, reference["model"]["params"].as_u64().unwrap());
    for v in &s.variants[1..] {
        assert_eq!(v.file_bytes as u64, reference["quantized_files"][&v.name]["bytes"].as_u64().unwrap(), "{}", v.name);
    }
    assert!((s.variants[0].bits_per_weight - 32.0).abs() < 1e-9);
    // Q8_0 is 8.5 bits a weight; the norm vectors stay F32.
    assert!(s.variants[1].bits_per_weight > 8.5 && s.variants[1].bits_per_weight < 8.6, "{}", s.variants[1].bits_per_weight);
    assert_eq!(s.variants[3].matrix_types, ["q4_k", "q6_k"]);

    // make_tiny_lm.py's GREEDY prompt: held-out ids 1000..1032, 48 tokens, here 5 per call.
    let heldout = ids(fixture_bytes!("tiny_lm/heldout.ids.npy"));
    p.start_generation(&heldout[1000..1032], 48, Sampling::Greedy).unwrap();
    let expected = [
        ids(fixture_bytes!("tiny_lm/greedy-f32.npy")),
        ids(fixture_bytes!("tiny_lm/greedy-q8_0.npy")),
        ids(fixture_bytes!("tiny_lm/greedy-q4_0.npy")),
        ids(fixture_bytes!("tiny_lm/greedy-q4_k_m.npy")),
    ];
    for (i, want) in expected.iter().enumerate() {
        let mut got = Vec::new();
        loop {
            let step = p.generate(i, 5).unwrap();
            assert!(step.tokens.len() <= 5);
            got.extend(step.tokens);
            assert_eq!(step.generated, got.len());
            if step.done {
                assert_eq!(step.text, p.decode(&got).unwrap());
                break;
            }
        }
        assert_eq!(&got, want, "variant {i}");
        assert!(p.generate(i, 5).unwrap().tokens.is_empty());
    }

    let chunks = reference["passage_perplexity"]["chunks"].as_u64().unwrap() as usize;
    assert_eq!(p.start_perplexity(fixture_str!("tiny_lm/heldout.txt"), 128, Some(chunks)).unwrap(), chunks);
    for (i, name) in ["F32", "Q8_0", "Q4_0", "Q4_K_M"].iter().enumerate() {
        let mut last = None;
        for k in 1..=chunks {
            let step = p.perplexity_step(i).unwrap();
            assert_eq!((step.chunks_done, step.done), (k, k == chunks));
            last = Some(step);
        }
        let ppl = last.unwrap().ppl;
        let want = reference["passage_perplexity"][name]["ppl"].as_f64().unwrap();
        assert!((ppl - want).abs() <= 1e-3 * want, "{name}: {ppl} vs {want}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_quantized_file_is_one_variant_and_bad_files_are_refused() {
    let p = Playground::load("q8.gguf", fixture_bytes!("tiny_lm/tiny-lm-q8_0.gguf").to_vec(), |_, _| {}).unwrap();
    let s = p.summary();
    assert_eq!(s.variants.len(), 1);
    assert_eq!(s.variants[0].name, "this file (q8_0)", "{:?}", s.variants[0]);

    let e = Playground::load("x.gguf", b"not a model at all".to_vec(), |_, _| {}).err().unwrap();
    assert!(e.contains("cannot read the model") || e.contains("GGUF"), "{e}");
    let mut bytes = fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec();
    bytes.truncate(bytes.len() / 2);
    let e = Playground::load("half.gguf", bytes, |_, _| {}).err().unwrap();
    assert!(e.starts_with("cannot read the model"), "{e}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_refused_start_leaves_no_variant_generating() {
    let mut p = Playground::load("q8.gguf", fixture_bytes!("tiny_lm/tiny-lm-q8_0.gguf").to_vec(), |_, _| {}).unwrap();
    let e = p.start_generation(&[], 4, Sampling::Greedy).unwrap_err();
    assert!(e.contains("empty prompt"), "{e}");
    assert_eq!(p.generate(0, 1).unwrap_err(), "no generation started: press Generate first");
    let e = p.start_generation(&[600], 4, Sampling::Greedy).unwrap_err();
    assert_eq!(e, "token id 600 is outside the vocabulary of 512 tokens");
    assert!(p.generate(0, 1).is_err());
    assert!(p.start_perplexity("too short", 128, None).unwrap_err().contains("llama-perplexity needs at least 256"));
    assert!(p.perplexity_step(0).is_err());
    assert!(p.generate(5, 1).unwrap_err().contains("no model variant 5"));
}

/// An importance matrix computed a chunk per call is llama-imatrix's file (header byte for byte:
/// the statistics are held to llama-imatrix's in src/llm/tests/imatrix.rs); more types are added
/// as llama-quantize's mixes, with and without it, and score as llama-perplexity scores
/// llama-quantize's files made with llama-imatrix's matrix (imatrix.json).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn importance_matrix_and_added_types() {
    let mut p = Playground::load("tiny-lm-f32.gguf", fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec(), |_, _| {}).unwrap();
    assert_eq!(p.imatrix_file().unwrap_err(), "no importance matrix computed yet");
    assert!(p.imatrix_step().unwrap_err().contains("no importance matrix run started"));
    // Before an importance matrix: the plain mix only; IQ2_XXS is refused as llama-quantize refuses it.
    assert_eq!(p.add_type("q2_k").unwrap(), 5);
    assert!(p.add_type("IQ2_XXS").unwrap_err().contains("requires an imatrix"));
    assert!(p.add_type("Q9_K").unwrap_err().contains("Q9_K"));

    let n = p.start_imatrix(fixture_str!("tiny_lm/calibration.txt"), "calibration.txt", 128, Some(8)).unwrap();
    assert_eq!(n, 8);
    let mut last = None;
    for k in 1..=n {
        let step = p.imatrix_step().unwrap();
        assert_eq!((step.chunks_done, step.done), (k, k == n));
        last = Some(step);
    }
    assert_eq!(last.unwrap().entries, 14);
    let ours = p.imatrix_file().unwrap();
    let theirs = fixture_bytes!("tiny_lm/imatrix-f32.gguf");
    assert_eq!(ours.len(), theirs.len());
    let header = theirs.len() - (12 * 1024 + 2 * 2048 + 14 * 32);
    assert_eq!(&ours[..header], &theirs[..header]);

    assert_eq!(p.add_type("Q2_K").unwrap(), 6, "Q2_K made again in place, Q2_K + imatrix added");
    let names: Vec<String> = p.summary().variants.iter().map(|v| v.name.clone()).collect();
    assert_eq!(names[4..], ["Q2_K", "Q2_K + imatrix"]);

    let reference = crate::common::json(fixture_str!("tiny_lm/imatrix.json"));
    p.start_perplexity(fixture_str!("tiny_lm/heldout.txt"), 128, Some(8)).unwrap();
    let mut ppl = Vec::new();
    for (i, key) in [(4, "plain"), (5, "imatrix")] {
        let mut step = p.perplexity_step(i).unwrap();
        while !step.done {
            step = p.perplexity_step(i).unwrap();
        }
        let want = reference["types"]["Q2_K"][key]["ppl"].as_f64().unwrap();
        assert!((step.ppl - want).abs() <= 2e-3 * want, "Q2_K {key}: {} vs llama-perplexity {want}", step.ppl);
        ppl.push(step.ppl);
    }
    assert!(ppl[1] < ppl[0], "the importance matrix helps Q2_K on this model: {ppl:?}");
}

/// Each variant's KL divergence from the first comes with its perplexity, chunk by chunk, as
/// llama-perplexity --kl-divergence gives it (kld.json; the statistics are held to it in
/// src/llm/tests/kl_divergence.rs); the first variant's chunk must come first.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn kl_divergence_comes_with_perplexity() {
    let reference = crate::common::json(fixture_str!("tiny_lm/kld.json"));
    let mut p = Playground::load("tiny-lm-f32.gguf", fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec(), |_, _| {}).unwrap();
    p.start_perplexity(fixture_str!("tiny_lm/heldout.txt"), 128, Some(8)).unwrap();
    // Any order: Q8_0's first chunk before F32's (F32's log-probabilities are then computed for it).
    let mut last = vec![p.perplexity_step(1).unwrap()];
    for chunk in 0..8 {
        last = (0..4).filter(|&i| !(chunk == 7 && i == 1)).map(|i| p.perplexity_step(i).unwrap()).collect();
        if chunk == 7 {
            last.insert(1, p.perplexity_step(1).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    assert!(last[0].kl.is_none(), "the first variant is the base");
    for (i, name) in [(1, "Q8_0"), (2, "Q4_0"), (3, "Q4_K_M")] {
        let kl = last[i].kl.as_ref().unwrap();
        let want = reference["types"][name]["mean_kld"].as_f64().unwrap();
        assert_eq!(kl.positions, 8 * 63);
        assert!((kl.mean_kld - want).abs() <= 0.03 * want + 2e-5, "{name}: {} vs llama-perplexity {want}", kl.mean_kld);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn qwen_gemma_and_sentencepiece_llama_models_load_with_their_quantized_copies_and_generate() {
    // The tiny random-weight fixtures of scripts/fixtures/make_llm_archs.py: F32, so the page
    // makes the three copies too; the F32 column's first greedy token is llama.cpp's top logit.
    // (architecture, model, held-out ids, llama.cpp's logits)
    type Case = (&'static str, &'static [u8], &'static [u8], &'static [u8]);
    let cases: [Case; 7] = [
        (
            "gemma",
            fixture_bytes!("llm_archs/gemma.gguf"),
            fixture_bytes!("llm_archs/gemma.heldout.ids.npy"),
            fixture_bytes!("llm_archs/gemma.logits.npy"),
        ),
        (
            "gemma2",
            fixture_bytes!("llm_archs/gemma2.gguf"),
            fixture_bytes!("llm_archs/gemma2.heldout.ids.npy"),
            fixture_bytes!("llm_archs/gemma2.logits.npy"),
        ),
        (
            "gemma3",
            fixture_bytes!("llm_archs/gemma3.gguf"),
            fixture_bytes!("llm_archs/gemma3.heldout.ids.npy"),
            fixture_bytes!("llm_archs/gemma3.logits.npy"),
        ),
        (
            "llama",
            fixture_bytes!("llm_archs/llama-spm.gguf"),
            fixture_bytes!("llm_archs/llama-spm.heldout.ids.npy"),
            fixture_bytes!("llm_archs/llama-spm.logits.npy"),
        ),
        (
            "llama",
            fixture_bytes!("llm_archs/llama-rope-freqs.gguf"),
            fixture_bytes!("llm_archs/llama-rope-freqs.heldout.ids.npy"),
            fixture_bytes!("llm_archs/llama-rope-freqs.logits.npy"),
        ),
        (
            "qwen2",
            fixture_bytes!("llm_archs/qwen2.gguf"),
            fixture_bytes!("llm_archs/qwen2.heldout.ids.npy"),
            fixture_bytes!("llm_archs/qwen2.logits.npy"),
        ),
        (
            "qwen3",
            fixture_bytes!("llm_archs/qwen3.gguf"),
            fixture_bytes!("llm_archs/qwen3.heldout.ids.npy"),
            fixture_bytes!("llm_archs/qwen3.logits.npy"),
        ),
    ];
    for (arch, gguf, held, logits) in cases {
        let mut p = Playground::load(&format!("{arch}.gguf"), gguf.to_vec(), |_, _| {}).unwrap();
        let s = p.summary();
        assert_eq!(s.architecture, arch);
        let names: Vec<&str> = s.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["F32", "Q8_0", "Q4_0", "Q4_K_M"]);
        let logits = quantscope_formats::npy::parse("logits.npy", logits).unwrap();
        let (n, n_vocab) = (logits.shape[0], logits.shape[1]);
        let last = &logits.data[(n - 1) * n_vocab..];
        let top = (0..n_vocab).fold(0, |b, i| if last[i] > last[b] { i } else { b }) as u32;
        p.start_generation(&ids(held)[..n], 4, Sampling::Greedy).unwrap();
        for v in 0..s.variants.len() {
            let step = p.generate(v, 4).unwrap();
            assert!(step.done && step.tokens.len() == 4, "{arch} {}", s.variants[v].name);
            if v == 0 {
                assert_eq!(step.tokens[0], top, "{arch}: the first greedy token is llama.cpp's top logit");
            }
        }
    }
}

/// Q4_1 and Q5_1 (Q8_1 activations: src/llm/src/dequantized.rs) are added as llama-quantize's
/// files and score as llama-perplexity scores those files (imatrix.json, 8 chunks; held to 2e-3
/// as src/llm/tests/more_types.rs holds them).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn q4_1_and_q5_1_are_added_and_score_as_llama_cpp() {
    let mut p = Playground::load("tiny-lm-f32.gguf", fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec(), |_, _| {}).unwrap();
    let reference = crate::common::json(fixture_str!("tiny_lm/imatrix.json"));
    for ty in ["Q4_1", "Q5_1"] {
        let i = p.add_type(ty).unwrap() - 1;
        assert_eq!(p.summary().variants[i].name, ty);
        p.start_perplexity(fixture_str!("tiny_lm/heldout.txt"), 128, Some(8)).unwrap();
        let mut step = p.perplexity_step(i).unwrap();
        while !step.done {
            step = p.perplexity_step(i).unwrap();
        }
        let want = reference["types"][ty]["plain"]["ppl"].as_f64().unwrap();
        assert!((step.ppl - want).abs() <= 5e-5 + 2e-3 * want, "{ty}: perplexity {} against llama-perplexity's {want}", step.ppl);
    }
}

/// IQ2_XS (the page's *Add this type*): refused without an importance matrix in llama-quantize's
/// words; with the computed one, "IQ2_XS + imatrix" is llama-quantize's mix (the file's length as
/// llama-quantize's with llama-imatrix's matrix) and scores as llama-perplexity scores that file
/// (imatrix.json, 8 chunks; held to 2e-3 as the other added types).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn iq2_xs_is_added_with_an_importance_matrix_and_scores_as_llama_cpp() {
    let mut p = Playground::load("tiny-lm-f32.gguf", fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec(), |_, _| {}).unwrap();
    let e = p.add_type("IQ2_XS").unwrap_err();
    assert!(e.contains("requires an imatrix"), "{e}");
    let n = p.start_imatrix(fixture_str!("tiny_lm/calibration.txt"), "calibration.txt", 128, Some(8)).unwrap();
    for _ in 0..n {
        p.imatrix_step().unwrap();
    }
    assert_eq!(p.add_type("IQ2_XS").unwrap(), 5, "only the mix with the matrix");
    let v = &p.summary().variants[4];
    assert_eq!(v.name, "IQ2_XS + imatrix");
    assert!(v.matrix_types.iter().any(|t| t == "iq2_xs"), "{:?}", v.matrix_types);
    let reference = crate::common::json(fixture_str!("tiny_lm/imatrix.json"));
    let theirs = &reference["types"]["IQ2_XS"]["imatrix"];
    assert_eq!(v.file_bytes as u64, theirs["bytes"].as_u64().unwrap());
    p.start_perplexity(fixture_str!("tiny_lm/heldout.txt"), 128, Some(8)).unwrap();
    let mut step = p.perplexity_step(4).unwrap();
    while !step.done {
        step = p.perplexity_step(4).unwrap();
    }
    let want = theirs["ppl"].as_f64().unwrap();
    assert!((step.ppl - want).abs() <= 2e-3 * want, "IQ2_XS + imatrix: perplexity {} against llama-perplexity's {want}", step.ppl);
    println!("IQ2_XS + imatrix: {} against {want}", step.ppl);
}

/// The "too big for the tab" figure, from the header alone, is what the loaded playground holds
/// (the kept F32 file, every variant's weights as the loader keeps them) plus the largest copy's
/// file, held while that copy loads; for a quantized file, the file plus its loaded weights
/// (Q4_0 at twice its file's block bytes, unpacked to Q8_0 codes).
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn memory_needed_counts_what_a_load_holds() {
    use quantscope_formats::lazy;
    use quantscope_lm::playground::memory_needed;
    use std::rc::Rc;
    let bytes = fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec();
    let len = bytes.len() as u64;
    let file = lazy::open("tiny-lm-f32.gguf", Rc::new(bytes.clone())).unwrap();
    let needed = memory_needed(&file, len).unwrap();
    let p = Playground::load("tiny-lm-f32.gguf", bytes, |_, _| {}).unwrap();
    let largest_copy = p.summary().variants[1..].iter().map(|v| v.file_bytes as u64).max().unwrap();
    assert_eq!(needed, p.memory_bytes() + largest_copy);
    // F32 weights take the file's bytes again, so the total is over twice the file.
    assert!(needed > 2 * len, "{needed} for a {len}-byte file");

    let mut q4_0 = Vec::new();
    let f32_file = lazy::open("tiny-lm-f32.gguf", Rc::new(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec())).unwrap();
    let ftype = quantscope_formats::gguf_mix::FileType::from_name("Q4_0").unwrap();
    quantscope_formats::gguf_writer::write_mix(&f32_file, ftype, &Default::default(), &mut q4_0, |_, _| {}).unwrap();
    let q4_len = q4_0.len() as u64;
    let file = lazy::open("q4_0.gguf", Rc::new(q4_0.clone())).unwrap();
    let needed = memory_needed(&file, q4_len).unwrap();
    let p = Playground::load("q4_0.gguf", q4_0, |_, _| {}).unwrap();
    assert_eq!(needed, q4_len + p.memory_bytes());
    let q4_0_elements: u64 = file.tensors.iter().filter(|t| t.dtype == "q4_0").map(|t| t.elements()).sum();
    let q4_0_stored = q4_0_elements / 32 * 18;
    assert!(needed - q4_len >= 2 * q4_0_stored, "Q4_0 weights held as Q8_0 codes: {} for {q4_0_stored} stored", needed - q4_len);
}

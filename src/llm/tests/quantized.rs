//! The Q4_0 and Q4_K_M files (llama-quantize's mixes: Q4_0 or Q4_K matrices, Q6_K for the output
//! and, in Q4_K_M, for half of attn_v and ffn_down): made here from the F32 fixture by
//! quantscope's GGUF export, checked byte-identical to llama-quantize's (length and FNV-1a in
//! reference.json), then run and compared with llama.cpp on the same file — logits of 64
//! held-out tokens, perplexity on 8 chunks of the passage, greedy continuation.
//!
//! Tolerances. The integers of every dot product are exact; the float order is ggml's wasm
//! SIMD128 kernels' (src/llm/src/kernels: no FMA, other lanes than AVX2's), and llama.cpp repacks
//! Q4_0 and Q4_K matrices on AVX2 (`ggml-cpu/repack.cpp`) and multiplies them with gemm kernels
//! of yet another float order, so activations one ulp apart can round to another 4/8-bit code.
//! Measured: Q4_K_M logits within 3.8e-7 of the row's largest |logit| (no flip in these 64
//! positions), Q4_0 within 2.5e-3 (a flip); perplexity within 9e-5 relative; greedy
//! continuations identical. Held to: logits 1e-2, the top token the same at every position,
//! perplexity 1e-3 relative, greedy identical.

use quantscope_formats::gguf_mix::{FileType, MixOptions};
use quantscope_formats::{gguf_writer, lazy};
use quantscope_llm::{perplexity, Generator, Model, Sampling};
use std::rc::Rc;

fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

fn npy(bytes: &[u8]) -> (Vec<usize>, Vec<f32>) {
    let t = quantscope_formats::npy::parse("x.npy", bytes).unwrap();
    (t.shape, t.data)
}

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

/// quantscope's export of the F32 fixture as llama-quantize's `ftype`, checked against it.
fn exported(ftype: &str) -> Model {
    let reference = crate::common::json(fixture_str!("tiny_lm/reference.json"));
    let f32_file = lazy::open("tiny-lm-f32.gguf", Rc::new(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec())).unwrap();
    let mut out = Vec::new();
    gguf_writer::write_mix(&f32_file, FileType::from_name(ftype).unwrap(), &MixOptions::default(), &mut out, |_, _| {}).unwrap();
    let want = &reference["quantized_files"][ftype];
    assert_eq!(out.len() as u64, want["bytes"].as_u64().unwrap(), "{ftype}: length");
    assert_eq!(format!("{:016x}", fnv1a64(&out)), want["fnv1a64"].as_str().unwrap(), "{ftype}: checksum");
    Model::from_gguf(out).unwrap()
}

fn check(ftype: &str, logits: &[u8], greedy: &[u8]) {
    let model = exported(ftype);
    let reference = crate::common::json(fixture_str!("tiny_lm/reference.json"));
    let n_vocab = model.config.n_vocab;
    let ids: Vec<u32> = npy(fixture_bytes!("tiny_lm/heldout.ids.npy")).1.iter().map(|&v| v as u32).collect();

    let (shape, expected) = npy(logits);
    let ours = model.session(shape[0]).unwrap().eval(&ids[..shape[0]]).unwrap();
    let mut worst = 0f32;
    for (p, (a, b)) in ours.chunks(n_vocab).zip(expected.chunks(n_vocab)).enumerate() {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        worst = worst.max(a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale);
        assert_eq!(argmax(a), argmax(b), "{ftype}: top-1 token differs at position {p}");
    }
    println!("{ftype}: worst |diff| / max |logit| = {worst:e}");
    assert!(worst <= 1e-2, "{ftype}: {worst:e}");

    let r = &reference["passage_perplexity"];
    let chunks = r["chunks"].as_u64().unwrap() as usize;
    let tokens = model.tokenizer.encode(fixture_str!("tiny_lm/heldout.txt"));
    let p = perplexity(&model, &tokens, 128, Some(chunks), |_, _| true).unwrap();
    let want = r[ftype]["ppl"].as_f64().unwrap();
    println!("{ftype}: perplexity {} (llama-perplexity {want})", p.ppl);
    assert!((p.ppl - want).abs() <= 1e-3 * want, "{ftype}: perplexity {} vs {want}", p.ppl);

    let (start, n_prompt, n_gen) = (1000, 32, 48);
    let mut g = Generator::new(&model, &ids[start..start + n_prompt], n_prompt + n_gen, Sampling::Greedy).unwrap();
    let ours: Vec<u32> = (0..n_gen).map(|_| g.next_token().unwrap()).collect();
    let theirs: Vec<u32> = npy(greedy).1.iter().map(|&v| v as u32).collect();
    let same = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
    println!("{ftype}: greedy agrees for {same} of {n_gen} tokens");
    assert_eq!(ours, theirs, "{ftype}: greedy continuation");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q4_0_file_runs_as_llama_cpp_runs_it() {
    check("Q4_0", fixture_bytes!("tiny_lm/logits-q4_0.npy"), fixture_bytes!("tiny_lm/greedy-q4_0.npy"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q4_k_m_file_runs_as_llama_cpp_runs_it() {
    let model = exported("Q4_K_M");
    let types: std::collections::BTreeSet<&str> = model.matrix_types().into_iter().map(|(_, t)| t).collect();
    assert_eq!(types.into_iter().collect::<Vec<_>>(), ["q4_k", "q6_k"]);
    check("Q4_K_M", fixture_bytes!("tiny_lm/logits-q4_k_m.npy"), fixture_bytes!("tiny_lm/greedy-q4_k_m.npy"));
}

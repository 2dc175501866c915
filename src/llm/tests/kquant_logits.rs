//! The K-quant mixes whose matrices run on src/llm's Q2_K, Q3_K and Q5_K kernels (Q5_K_M, Q3_K_M,
//! Q2_K; Q4_K and Q6_K where the mix puts them), and IQ4_XS and IQ4_NL (src/llm/src/iq4.rs; their
//! mixes put attn_v in Q5_K and the output in Q6_K): made here from the F32 fixture by quantscope's
//! GGUF export, checked byte-identical to llama-quantize's (length and FNV-1a in
//! kquant_logits.json), then their logits for 64 held-out tokens against llama.cpp's on the same
//! file (scripts/fixtures/make_tiny_lm_kquant_logits.py).
//!
//! Tolerance. The integer sums are exact; the float order is ggml's wasm SIMD128 kernels' where
//! llama.cpp's x86 build fuses multiply-adds in other lanes, so the logits differ by float
//! rounding (measured: Q2_K 4.0e-7, Q3_K_M 5.1e-7 of the row's largest |logit| at every position),
//! until an activation an ulp apart rounds to another Q8_K code. In Q5_K_M that happens at
//! position 25 (measured: 5.0e-3 there, up to 1.1e-2 at later positions that attend to its keys
//! and values, while positions that barely attend to it stay at ~2e-7). Held to: the first
//! EXACT_POSITIONS positions within 1e-5 (a wrong code, scale or lane moves every position), every
//! position within 2e-2 and with llama.cpp's top-1 token.

use quantscope_formats::gguf_mix::{FileType, MixOptions};
use quantscope_formats::{gguf_writer, lazy};
use quantscope_llm::Model;
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

/// Positions before any code flip measured in the K-quant files (the first is at 25).
const EXACT_POSITIONS: usize = 16;

fn check(ftype: &str, kernel_type: &str, logits: &[u8]) {
    check_exact(ftype, kernel_type, logits, EXACT_POSITIONS)
}

/// [`check`], the first `exact` positions within 1e-5.
fn check_exact(ftype: &str, kernel_type: &str, logits: &[u8], exact: usize) {
    let reference = crate::common::json(fixture_str!("tiny_lm/kquant_logits.json"));
    let want = &reference["quantized_files"][ftype];
    let f32_file = lazy::open("tiny-lm-f32.gguf", Rc::new(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec())).unwrap();
    let mut out = Vec::new();
    gguf_writer::write_mix(&f32_file, FileType::from_name(ftype).unwrap(), &MixOptions::default(), &mut out, |_, _| {}).unwrap();
    assert_eq!(out.len() as u64, want["bytes"].as_u64().unwrap(), "{ftype}: length");
    assert_eq!(format!("{:016x}", fnv1a64(&out)), want["fnv1a64"].as_str().unwrap(), "{ftype}: checksum");
    let model = Model::from_gguf(out).unwrap();
    let types: Vec<&str> = model.matrix_types().into_iter().map(|(_, t)| t).collect();
    assert!(types.contains(&kernel_type), "{ftype}: no {kernel_type} matrix in {types:?}");

    let n_vocab = model.config.n_vocab;
    let ids: Vec<u32> = npy(fixture_bytes!("tiny_lm/heldout.ids.npy")).1.iter().map(|&v| v as u32).collect();
    let (shape, expected) = npy(logits);
    let ours = model.session(shape[0]).unwrap().eval(&ids[..shape[0]]).unwrap();
    let (mut worst, mut worst_abs) = (0f32, 0f32);
    for (p, (a, b)) in ours.chunks(n_vocab).zip(expected.chunks(n_vocab)).enumerate() {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        worst = worst.max(diff / scale);
        if p < exact {
            assert!(diff / scale <= 1e-5, "{ftype}: position {p}: {:e} of the scale, more than float rounding", diff / scale);
        }
        worst_abs = worst_abs.max(diff);
        assert_eq!(argmax(a), argmax(b), "{ftype}: top-1 token differs at position {p}");
    }
    println!("{ftype}: worst |diff| / max |logit| = {worst:e} (max |diff| {worst_abs:e})");
    assert!(worst <= 2e-2, "{ftype}: {worst:e}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q5_k_m_logits_equal_llama_cpp() {
    check("Q5_K_M", "q5_k", fixture_bytes!("tiny_lm/logits-q5_k_m.npy"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q3_k_m_logits_equal_llama_cpp() {
    check("Q3_K_M", "q3_k", fixture_bytes!("tiny_lm/logits-q3_k_m.npy"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q2_k_logits_equal_llama_cpp() {
    check("Q2_K", "q2_k", fixture_bytes!("tiny_lm/logits-q2_k.npy"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn iq4_xs_logits_equal_llama_cpp() {
    check("IQ4_XS", "iq4_xs", fixture_bytes!("tiny_lm/logits-iq4_xs.npy"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn iq4_nl_logits_equal_llama_cpp() {
    // One activation of position 11 rounds to another Q8_0 code in llama.cpp (measured: 6.5e-4 of
    // the scale there, every other position under 4e-7; IQ4_XS likewise at position 19).
    check_exact("IQ4_NL", "iq4_nl", fixture_bytes!("tiny_lm/logits-iq4_nl.npy"), 11);
}

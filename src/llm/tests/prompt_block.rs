//! A prompt evaluated in one call (its tokens through each matrix together: `Matrix::matmul`,
//! `Session::steps`) against the same tokens one call each (`Matrix::matvec`): the logits must be
//! the same bits, for F32, Q8_0 and the K-quant mixes' files (every matrix kernel the tiny model's
//! exports reach, among them Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and the legacy types).

use quantscope_formats::gguf_mix::{FileType, MixOptions};
use quantscope_formats::{gguf_writer, lazy};
use quantscope_llm::Model;
use std::rc::Rc;

fn heldout_ids() -> Vec<u32> {
    let t = quantscope_formats::npy::parse("x.npy", fixture_bytes!("tiny_lm/heldout.ids.npy")).unwrap();
    t.data.iter().map(|&v| v as u32).collect()
}

/// The tiny model exported as `ftype` by quantscope's GGUF writer.
fn exported(ftype: &str) -> Model {
    let f32_file = lazy::open("tiny-lm-f32.gguf", Rc::new(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec())).unwrap();
    let mut out = Vec::new();
    gguf_writer::write_mix(&f32_file, FileType::from_name(ftype).unwrap(), &MixOptions::default(), &mut out, |_, _| {}).unwrap();
    Model::from_gguf(out).unwrap()
}

/// 3 tokens one by one, then 53 in one call (three blocks and a part one, after cached
/// positions), against all 56 one by one; then a second prompt call after them.
fn check(name: &str, model: &Model) {
    let ids = heldout_ids();
    let mut one_by_one = Vec::new();
    let mut s = model.session(64).unwrap();
    for &t in &ids[..60] {
        one_by_one.extend(s.eval(&[t]).unwrap());
    }
    let mut s = model.session(64).unwrap();
    let mut blocked = Vec::new();
    for &t in &ids[..3] {
        blocked.extend(s.eval(&[t]).unwrap());
    }
    blocked.extend(s.eval(&ids[3..56]).unwrap());
    blocked.extend(s.eval(&ids[56..60]).unwrap());
    assert_eq!(blocked.len(), one_by_one.len());
    let n_vocab = model.config.n_vocab;
    for (p, (a, b)) in blocked.chunks(n_vocab).zip(one_by_one.chunks(n_vocab)).enumerate() {
        let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{name}: position {p}: the prompt's logits differ from token by token");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn f32_prompt_equals_token_by_token() {
    check("F32", &Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-f32.gguf").to_vec()).unwrap());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn q8_0_prompt_equals_token_by_token() {
    check("Q8_0", &Model::from_gguf(fixture_bytes!("tiny_lm/tiny-lm-q8_0.gguf").to_vec()).unwrap());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn k_quant_prompts_equal_token_by_token() {
    for ftype in ["Q4_K_M", "Q2_K", "Q3_K_M", "Q5_K_M", "Q6_K"] {
        check(ftype, &exported(ftype));
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn legacy_and_iq4_prompts_equal_token_by_token() {
    for ftype in ["Q4_0", "Q5_0", "Q4_1", "Q5_1", "IQ4_NL", "IQ4_XS"] {
        check(ftype, &exported(ftype));
    }
}
